package ledger.client;

import com.fasterxml.jackson.databind.JsonNode;
import java.math.BigDecimal;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;

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

    /**
     * Which page of {@link LedgerClient#history}: each field null: not given ({@code after}: the
     * seq to start after, {@code limit}: the page size, {@code from}/{@code to}: business times).
     */
    public record HistoryQuery(Long after, Integer limit, OffsetDateTime from, OffsetDateTime to) {
        /** No parameter: the first page of the server's default size. */
        public static final HistoryQuery ALL = new HistoryQuery(null, null, null, null);

        /** The first page of {@code limit} entries. */
        public static HistoryQuery first(int limit) { return ALL.withLimit(limit); }

        public HistoryQuery withAfter(long after) { return new HistoryQuery(after, limit, from, to); }
        public HistoryQuery withLimit(int limit) { return new HistoryQuery(after, limit, from, to); }
        public HistoryQuery between(OffsetDateTime from, OffsetDateTime to) { return new HistoryQuery(after, limit, from, to); }
    }

    /**
     * One event that touched the account, as in an export line's {@code event}: JSON, because an
     * event has one shape per kind of event (docs/FORMAT.md); read what you need by name.
     */
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

    /**
     * Locks, personal limits, night lock and pending outflows. {@code protections} stays JSON as
     * the server gives it (docs/SERVER.md): its locks and limits are nested, optional and grow
     * with the rules; {@code pending} is typed.
     */
    public record Protections(long account, BigDecimal balance, BigDecimal available, JsonNode protections,
            List<PendingOutflow> pending) {
        static Protections from(JsonNode json) {
            return new Protections(json.get("account").asLong(), Json.amount(json, "balance"),
                    Json.amount(json, "available"), json.get("protections"), PendingOutflow.list(json.path("pending")));
        }
    }

    /**
     * One outflow held for verification or scheduled. {@code stage}: {@code awaiting_verification}
     * (until {@code dueAt}, when it expires) or {@code scheduled} (executed at {@code dueAt});
     * {@code arrival} null: a real-time outflow; {@code counterparty} null: none.
     */
    public record PendingOutflow(UUID id, String kind, long account, String flow, String counterparty, BigDecimal amount,
            String arrival, String requestedAt, String stage, String dueAt, List<String> buckets, boolean personal) {
        static PendingOutflow from(JsonNode json) {
            JsonNode stage = json.path("stage");
            String name = stage.isObject() && stage.size() == 1 ? stage.fieldNames().next() : stage.asText(null);
            JsonNode inner = name == null ? null : stage.get(name);
            String dueAt = inner == null || !inner.isObject() || inner.size() != 1 ? null : inner.elements().next().asText();
            List<String> buckets = new ArrayList<>();
            json.path("buckets").forEach(bucket -> buckets.add(bucket.asText()));
            return new PendingOutflow(UUID.fromString(json.get("id").asText()), Json.text(json, "kind"),
                    json.get("account").asLong(), Json.text(json, "flow"), Json.text(json, "counterparty"),
                    Json.amount(json, "amount"), Json.text(json, "arrival"), Json.text(json, "requested_at"), name, dueAt,
                    List.copyOf(buckets), json.path("personal").asBoolean());
        }

        static List<PendingOutflow> list(JsonNode array) {
            List<PendingOutflow> items = new ArrayList<>();
            array.forEach(item -> items.add(from(item)));
            return List.copyOf(items);
        }
    }

    /** Held or scheduled outflows. */
    public record Pending(List<PendingOutflow> pending) {
        static Pending from(JsonNode json) {
            return new Pending(PendingOutflow.list(json.path("pending")));
        }
    }

    /**
     * The first outcome of a command ({@link LedgerClient#original}): the event at {@code seq},
     * {@code accepted} false when it records a rejection; {@code reason} then its code as in an
     * answer ({@code LIMIT_EXCEEDED}: the event's snake_case reason upper-cased), else null.
     * Read from the event's readable JSON, which no hash covers (docs/CLIENTS.md).
     */
    public record Original(long seq, String commandId, boolean accepted, String reason, JsonNode event) {
        static Original from(Record record) {
            JsonNode event = record.event();
            JsonNode body = event.path("body");
            JsonNode rejected = body.isObject() ? body.get("rejected") : null;
            String reason = null;
            if (rejected != null) {
                JsonNode why = rejected.path("reason");
                String variant = why.isObject() && why.size() > 0 ? why.fieldNames().next() : why.asText(null);
                reason = variant == null ? null : variant.toUpperCase(java.util.Locale.ROOT);
            }
            return new Original(record.seq(), Json.text(event, "command_id"), rejected == null, reason, event);
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
}
