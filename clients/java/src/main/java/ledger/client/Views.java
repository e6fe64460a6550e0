package ledger.client;

import com.fasterxml.jackson.databind.JsonNode;
import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.List;

/** The answers of the queries (docs/SERVER.md, "Queries"), amounts as BigDecimal. */
public final class Views {
    private Views() {}

    /** The last committed record: {@code head} is "SEQ:HASH". */
    public record Head(long seq, String hash, String head) {
        static Head from(JsonNode json) {
            return new Head(json.get("seq").asLong(), Json.text(json, "hash"), Json.text(json, "head"));
        }
    }

    public record Balance(long account, BigDecimal balance, BigDecimal reserved, BigDecimal available,
            String accountClass, String status) {
        static Balance from(JsonNode json) {
            return new Balance(json.get("account").asLong(), Json.amount(json, "balance"), Json.amount(json, "reserved"),
                    Json.amount(json, "available"), Json.text(json, "class"), Json.text(json, "status"));
        }
    }

    /** One limit bucket's use; a null cap: no cap. */
    public record BucketUsage(String bucket, BigDecimal dayUsed, BigDecimal dayCap, BigDecimal dayRemaining,
            BigDecimal yearUsed, BigDecimal yearCap, BigDecimal yearRemaining) {
        static BucketUsage from(JsonNode json) {
            return new BucketUsage(Json.text(json, "bucket"), Json.amount(json, "day_used"), Json.amount(json, "day_cap"),
                    Json.amount(json, "day_remaining"), Json.amount(json, "year_used"), Json.amount(json, "year_cap"),
                    Json.amount(json, "year_remaining"));
        }
    }

    public record Usage(long account, String accountClass, String at, String policy, List<BucketUsage> buckets) {
        static Usage from(JsonNode json) {
            List<BucketUsage> buckets = new ArrayList<>();
            json.path("buckets").forEach(bucket -> buckets.add(BucketUsage.from(bucket)));
            return new Usage(json.get("account").asLong(), Json.text(json, "class"), Json.text(json, "at"),
                    Json.text(json, "policy"), List.copyOf(buckets));
        }

        /** The bucket named {@code name} ("out", "in", …), or null. */
        public BucketUsage bucket(String name) {
            return buckets.stream().filter(b -> b.bucket().equals(name)).findFirst().orElse(null);
        }
    }

    /** One event that touched the account, as in an export line's {@code event}. */
    public record HistoryEntry(long seq, JsonNode event) {}

    /** One page; {@code nextAfter} null on the last. */
    public record History(long account, List<HistoryEntry> entries, Long nextAfter) {
        static History from(JsonNode json) {
            List<HistoryEntry> entries = new ArrayList<>();
            json.path("entries").forEach(e -> entries.add(new HistoryEntry(e.get("seq").asLong(), e.get("event"))));
            return new History(json.get("account").asLong(), List.copyOf(entries), Json.optLong(json, "next_after"));
        }
    }

    /** A customer's account; {@code binding} as in the command ({"account": N} or {"external": …}). */
    public record Account(long account, String accountClass, String status, BigDecimal balance, JsonNode binding) {}

    public record Accounts(long customer, List<Account> accounts) {
        static Accounts from(JsonNode json) {
            List<Account> accounts = new ArrayList<>();
            json.path("accounts").forEach(a -> accounts.add(new Account(a.get("account").asLong(), Json.text(a, "class"),
                    Json.text(a, "status"), Json.amount(a, "balance"), a.get("binding"))));
            return new Accounts(json.get("customer").asLong(), List.copyOf(accounts));
        }
    }

    /** Locks, personal limits, night lock and pending outflows (their JSON as the server gives it). */
    public record Protections(long account, BigDecimal balance, BigDecimal available, JsonNode protections,
            List<JsonNode> pending) {
        static Protections from(JsonNode json) {
            return new Protections(json.get("account").asLong(), Json.amount(json, "balance"),
                    Json.amount(json, "available"), json.get("protections"), list(json.path("pending")));
        }
    }

    /** Held or scheduled outflows: each as the server gives it (id, account, amount, stage, …). */
    public record Pending(List<JsonNode> pending) {
        static Pending from(JsonNode json) {
            return new Pending(list(json.path("pending")));
        }
    }

    /** {@code listedSeq}: the seq of the listing event while listed, else null. */
    public record Risk(String counterparty, boolean listed, Long listedSeq) {
        static Risk from(JsonNode json) {
            return new Risk(Json.text(json, "counterparty"), json.path("listed").asBoolean(),
                    Json.optLong(json, "listed_seq"));
        }
    }

    /**
     * One change-data-capture record, an export line (docs/FORMAT.md): checked by
     * {@link ChainFollower} before a caller sees it.
     */
    public record Record(long seq, String prevHash, String hash, String eventHex, JsonNode event) {
        static Record from(JsonNode json) {
            return new Record(json.path("seq").asLong(-1), Json.text(json, "prev_hash"), Json.text(json, "hash"),
                    Json.text(json, "event_hex"), json.get("event"));
        }
    }

    /** A page of {@code GET /v1/events}. */
    public record EventsPage(List<Record> records, long nextAfter, Head head) {
        static EventsPage from(JsonNode json) {
            List<Record> records = new ArrayList<>();
            json.path("records").forEach(r -> records.add(Record.from(r)));
            return new EventsPage(List.copyOf(records), json.get("next_after").asLong(), Head.from(json.get("head")));
        }
    }

    private static List<JsonNode> list(JsonNode array) {
        List<JsonNode> items = new ArrayList<>();
        array.forEach(items::add);
        return List.copyOf(items);
    }
}
