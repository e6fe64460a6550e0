package ledger.e2e;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import ledger.client.ChainFollower;

/**
 * A synthetic hash chain of {@code n} records (event bytes "event N", hashes recomputed as the
 * ledger does) served as {@code GET /v1/events} pages by a {@link Stub}: the follower checks
 * the chain, not the bytes' meaning. {@code obeyLimit} false: every page holds all records
 * after {@code after}, whatever the request's limit.
 */
final class Feed {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final HexFormat HEX = HexFormat.of();
    private static final Pattern AFTER = Pattern.compile("after=(\\d+)");
    private static final Pattern LIMIT = Pattern.compile("limit=(\\d+)");

    final List<ObjectNode> records = new ArrayList<>();
    /** The limit each request asked for. */
    final List<Long> limits = new java.util.concurrent.CopyOnWriteArrayList<>();

    Feed(int n) {
        byte[] prev = new byte[32];
        for (long seq = 1; seq <= n; seq++) {
            byte[] event = ("event " + seq).getBytes(StandardCharsets.US_ASCII);
            byte[] hash = ChainFollower.recordHash(seq, prev, event);
            ObjectNode r = JSON.createObjectNode();
            r.put("seq", seq).put("prev_hash", HEX.formatHex(prev)).put("hash", HEX.formatHex(hash))
                    .put("event_hex", HEX.formatHex(event));
            r.putObject("event").put("command_id", "c-" + seq);
            records.add(r);
            prev = hash;
        }
    }

    /** The hash (hex) of record {@code seq}. */
    String hash(long seq) {
        return records.get((int) seq - 1).get("hash").asText();
    }

    /** Record {@code seq}'s hash with its first digit changed. */
    Feed doctor(long seq) {
        ObjectNode r = records.get((int) seq - 1);
        r.put("hash", ClientChecks.flip(r.get("hash").asText()));
        return this;
    }

    Stub serve(boolean obeyLimit) throws Exception {
        return new Stub((n, request) -> Stub.Reply.json(200, page(request.uri(), obeyLimit)));
    }

    private String page(String uri, boolean obeyLimit) {
        long after = number(AFTER, uri);
        long limit = number(LIMIT, uri);
        limits.add(limit);
        ArrayNode page = JSON.createArrayNode();
        for (JsonNode r : records) {
            if (r.get("seq").asLong() > after && (!obeyLimit || page.size() < limit)) page.add(r);
        }
        ObjectNode body = JSON.createObjectNode();
        body.set("records", page);
        body.put("next_after", page.isEmpty() ? after : page.get(page.size() - 1).get("seq").asLong());
        JsonNode last = records.get(records.size() - 1);
        body.putObject("head").put("seq", last.get("seq").asLong()).put("hash", last.get("hash").asText())
                .put("head", last.get("seq").asLong() + ":" + last.get("hash").asText());
        return body.toString();
    }

    private static long number(Pattern pattern, String uri) {
        Matcher m = pattern.matcher(uri);
        if (!m.find()) throw new AssertionError("no " + pattern + " in " + uri);
        return Long.parseLong(m.group(1));
    }
}
