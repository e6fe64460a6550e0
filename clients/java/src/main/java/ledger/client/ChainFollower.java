package ledger.client;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.function.Consumer;

/**
 * A change-data-capture follower of {@code GET /v1/events} (docs/SERVER.md): it keeps the last
 * seq it verified and that record's hash, and checks every record before handing it on: seq is
 * the last + 1, {@code prev_hash} is the last hash, and {@code hash} is recomputed from seq,
 * prev_hash and the event bytes (docs/FORMAT.md, "Hash chain"). Any failure throws
 * {@link ChainBreakException} and the position stays at the last record handed on.
 *
 * <p>The position ({@link #after()}, {@link #prevHash()}) is always the last record handed to
 * the consumer successfully: {@link #follow} verifies a record, hands it to the consumer, and
 * only when the consumer returned advances past it. A consumer that throws leaves the position
 * before that record; a break leaves it after the last good record handed on. Store the
 * position after processing and resume from it: at-least-once, never a skip (make processing
 * idempotent by seq).
 */
public final class ChainFollower {
    static final byte[] DOMAIN = "tiered-ledger/event/v1\0\0".getBytes(StandardCharsets.US_ASCII);
    private static final HexFormat HEX = HexFormat.of();

    private final LedgerClient client;
    private long after;
    private byte[] prev;
    private long verified;

    /** From genesis ({@code after} 0, prevHash null) or resuming after a record with its hash (hex). */
    ChainFollower(LedgerClient client, long after, String prevHash) {
        if (after < 0) throw new IllegalArgumentException("after must be 0 or a seq");
        if (prevHash == null && after != 0) {
            throw new IllegalArgumentException("resuming after a record needs that record's hash");
        }
        this.client = client;
        this.after = after;
        this.prev = prevHash == null ? new byte[32] : hash(prevHash, after, "the resume hash");
    }

    /** The last seq handed on (verified, and the consumer returned). */
    public long after() { return after; }

    /** The hash (hex) of the last record handed on. */
    public String prevHash() { return HEX.formatHex(prev); }

    /** How many records this follower verified and handed on. */
    public long verified() { return verified; }

    /**
     * One page: at most {@code limit} records, long-polling up to {@code waitSeconds}, all
     * verified before any is returned; the position moves past them as they are returned. A
     * break anywhere in the page returns nothing and leaves the position where it was.
     */
    public List<Views.Record> poll(int limit, int waitSeconds) {
        Views.EventsPage page = client.events(after, limit, waitSeconds);
        long seq = after;
        byte[] hash = prev;
        for (Views.Record record : page.records()) {
            hash = check(record, seq + 1, hash);
            seq = record.seq();
        }
        if (page.nextAfter() != seq) {
            throw new ChainBreakException(seq + 1, "next_after " + page.nextAfter() + " is not the last seq served " + seq);
        }
        after = seq;
        prev = hash;
        verified += page.records().size();
        return page.records();
    }

    /**
     * Polls until {@code untilSeq} is handed on, handing each record to {@code sink} in order,
     * never one past {@code untilSeq} (each request asks for at most {@code untilSeq - after()}).
     * Each record is verified, handed on, and only then is the position moved past it.
     */
    public void follow(long untilSeq, int limit, int waitSeconds, Consumer<Views.Record> sink) {
        if (limit < 1) throw new IllegalArgumentException("limit must be at least 1");
        while (after < untilSeq) {
            int ask = (int) Math.min(limit, untilSeq - after);
            Views.EventsPage page = client.events(after, ask, waitSeconds);
            int handed = 0;
            for (Views.Record record : page.records()) {
                if (after >= untilSeq) break;
                byte[] hash = check(record, after + 1, prev);
                sink.accept(record);
                after = record.seq();
                prev = hash;
                verified++;
                handed++;
            }
            if (handed == page.records().size() && page.nextAfter() != after) {
                throw new ChainBreakException(after + 1, "next_after " + page.nextAfter() + " is not the last seq served " + after);
            }
        }
    }

    /**
     * Checks one record against the position before it; returns its hash. The same check a
     * follower must make (docs/SERVER.md, the protocol's step 2).
     */
    public static byte[] check(Views.Record record, long expectedSeq, byte[] prev) {
        long seq = record.seq();
        if (seq != expectedSeq) {
            throw new ChainBreakException(expectedSeq, "got seq " + seq + " (a gap or a repeat)");
        }
        byte[] linked = hash(record.prevHash(), seq, "prev_hash");
        if (!MessageDigest.isEqual(linked, prev)) {
            throw new ChainBreakException(seq, "prev_hash " + record.prevHash() + " is not the hash of the record before");
        }
        byte[] event;
        try {
            event = HEX.parseHex(record.eventHex() == null ? "" : record.eventHex());
        } catch (IllegalArgumentException err) {
            throw new ChainBreakException(seq, "event_hex is not hex");
        }
        if (event.length == 0) {
            throw new ChainBreakException(seq, "no event bytes");
        }
        byte[] computed = recordHash(seq, prev, event);
        if (!MessageDigest.isEqual(computed, hash(record.hash(), seq, "hash"))) {
            throw new ChainBreakException(seq, "hash " + record.hash() + " is not SHA-256 of its bytes (" + HEX.formatHex(computed) + ")");
        }
        return computed;
    }

    /** SHA-256("tiered-ledger/event/v1" ‖ 0x00 0x00 ‖ seq u64 BE ‖ prev ‖ event bytes). */
    public static byte[] recordHash(long seq, byte[] prev, byte[] event) {
        MessageDigest sha;
        try {
            sha = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException err) {
            throw new IllegalStateException("every Java platform has SHA-256", err);
        }
        sha.update(DOMAIN);
        sha.update(ByteBuffer.allocate(8).putLong(seq).array());
        sha.update(prev);
        sha.update(event);
        return sha.digest();
    }

    private static byte[] hash(String hex, long seq, String what) {
        if (hex == null || hex.length() != 64) {
            throw new ChainBreakException(seq, what + " is not 64 hex digits: " + hex);
        }
        try {
            return HEX.parseHex(hex);
        } catch (IllegalArgumentException err) {
            throw new ChainBreakException(seq, what + " is not hex: " + hex);
        }
    }
}
