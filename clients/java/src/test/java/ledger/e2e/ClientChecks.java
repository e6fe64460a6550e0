package ledger.e2e;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.math.BigDecimal;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.UUID;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import ledger.client.Answer;
import ledger.client.ChainBreakException;
import ledger.client.ChainFollower;
import ledger.client.Command;
import ledger.client.LedgerClient;
import ledger.client.LedgerException;
import ledger.client.Money;
import ledger.client.RetryPolicy;
import ledger.client.Views;

/**
 * The client's guards, each on its real code path against a stub server on loopback (no JUnit:
 * run by crates/ledger-server/tests/java.rs). Usage: ClientChecks docs/FORMAT.md
 * Prints "ok NAME" per check; exit 1 at the first that fails.
 */
public final class ClientChecks {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final HexFormat HEX = HexFormat.of();
    private static final String ACCEPTED = "{\"status\":\"accepted\",\"seq\":7}";

    /** A FORMAT.md test vector: seq, event bytes, prev hash, hash. */
    record Vector(long seq, String event, String prev, String hash) {}

    public static void main(String[] args) throws Exception {
        List<Vector> vectors = vectors(Path.of(args[0]));
        try {
            hashVectors(vectors);
            amountsAreStrings();
            retryResendsTheSameBytes();
            noRetryOnAnAnswer();
            briefAnswersAreAskedFor();
            followerRefusesADoctoredFeed(vectors);
            followerPositionIsTheLastRecordHandedOn();
            followStopsAtUntilSeq();
            duplicateAnswersAndTheirOriginal();
            batchAnswersMatchTheirCommands();
            retryAfterIsCapped();
            everyFailureIsTyped();
            nullsFailEarly();
            wrongSchemeIsASetupError();
        } catch (AssertionError err) {
            System.out.println("FAILED: " + err.getMessage());
            System.exit(1);
        }
    }

    static void expect(boolean condition, String what) {
        if (!condition) throw new AssertionError(what);
    }

    static List<Vector> vectors(Path format) throws Exception {
        Pattern row = Pattern.compile("^\\| (\\d+) \\| `([0-9a-f]+)` \\| `([0-9a-f]{64})` \\| `([0-9a-f]{64})` \\|$");
        List<Vector> vectors = new ArrayList<>();
        for (String line : Files.readAllLines(format)) {
            Matcher m = row.matcher(line);
            if (m.matches()) vectors.add(new Vector(Long.parseLong(m.group(1)), m.group(2), m.group(3), m.group(4)));
        }
        return vectors;
    }

    /** Every record hash of docs/FORMAT.md's test vectors, recomputed in Java. */
    static void hashVectors(List<Vector> vectors) {
        expect(vectors.size() >= 5, "FORMAT.md's test vectors: found " + vectors.size());
        for (Vector v : vectors) {
            byte[] hash = ChainFollower.recordHash(v.seq(), HEX.parseHex(v.prev()), HEX.parseHex(v.event()));
            expect(HEX.formatHex(hash).equals(v.hash()), "vector seq " + v.seq() + ": " + HEX.formatHex(hash));
        }
        System.out.println("ok hash_vectors " + vectors.size());
    }

    /** The bytes the server receives hold every amount as a JSON string with two decimals. */
    static void amountsAreStrings() throws Exception {
        try (Stub stub = new Stub((n, request) -> Stub.Reply.json(200, ACCEPTED))) {
            LedgerClient client = LedgerClient.builder(stub.url(), "t").build();
            UUID id = UUID.randomUUID();
            client.submit(new Command.CashDeposit(id, null, 70, new BigDecimal("100.1")));
            client.submit(new Command.SetPersonalLimits(UUID.randomUUID(), null, 71, BigDecimal.valueOf(2000), new BigDecimal("0.05")));
            client.submit(new Command.ChangeProtections(UUID.randomUUID(), OffsetDateTime.parse("2026-03-02T09:00:00.1234+08:00"),
                    OffsetDateTime.parse("2026-03-02T09:00:00+08:00"),
                    new Command.ProtectionSettings(new BigDecimal("5000"), null, null, null, null, null)));
            String deposit = stub.seen.get(0).text();
            expect(deposit.contains("\"amount\":\"100.10\""), "the deposit's bytes: " + deposit);
            JsonNode limits = JSON.readTree(stub.seen.get(1).body());
            expect(limits.get("per_transaction").isTextual() && limits.get("per_transaction").asText().equals("2000.00"), "per_transaction: " + limits);
            expect(limits.get("per_day").isTextual() && limits.get("per_day").asText().equals("0.05"), "per_day: " + limits);
            JsonNode protections = JSON.readTree(stub.seen.get(2).body());
            expect(protections.at("/settings/large_transaction_threshold").isTextual(), "threshold: " + protections);
            expect(protections.get("at").asText().equals("2026-03-02T09:00:00.123+08:00"), "at, to the millisecond: " + protections);
            for (Stub.Seen seen : stub.seen) {
                expect(!Pattern.compile("\"(amount|per_transaction|per_day|large_transaction_threshold)\":[0-9]").matcher(seen.text()).find(),
                        "no amount is a JSON number: " + seen.text());
            }
        }
        for (String bad : List.of("1.005", "-1", "0.001")) {
            try {
                Money.text(new BigDecimal(bad));
                throw new AssertionError("Money.text accepted " + bad);
            } catch (IllegalArgumentException expected) {
                // refused before anything is sent
            }
        }
        try {
            new Command.Tick(UUID.randomUUID(), OffsetDateTime.parse("2026-03-02T09:00:00+08:00:30")).toJson();
            throw new AssertionError("an offset with seconds was sent");
        } catch (IllegalArgumentException expected) {
            // refused, never rounded to +08:00
        }
        System.out.println("ok amounts_are_strings");
    }

    /**
     * 503 busy with Retry-After: 1, then a request that times out, then an answer: three
     * requests with the same bytes (the same command id), the answer returned, two retries.
     */
    static void retryResendsTheSameBytes() throws Exception {
        Stub.Script script = (n, request) -> switch (n) {
            case 1 -> new Stub.Reply(503, "{\"error\":\"busy\",\"detail\":\"the queue is full\"}", "1", 0);
            case 2 -> new Stub.Reply(200, ACCEPTED, null, 2000);
            default -> Stub.Reply.json(200, ACCEPTED);
        };
        try (Stub stub = new Stub(script)) {
            LedgerClient client = LedgerClient.builder(stub.url(), "t").timeout(Duration.ofMillis(700))
                    .retry(new RetryPolicy(5, Duration.ofMillis(50), Duration.ofMillis(200))).build();
            UUID id = UUID.randomUUID();
            long started = System.nanoTime();
            Answer answer = client.submit(new Command.Payment(id, null, 71, "Metro", new BigDecimal("6.00")));
            long waitedMillis = (System.nanoTime() - started) / 1_000_000;
            expect(answer.accepted() && answer.seq() == 7, "the answer after the retries: " + answer);
            expect(stub.seen.size() == 3, "three requests: " + stub.seen.size());
            for (Stub.Seen seen : stub.seen) {
                expect(Arrays.equals(seen.body(), stub.seen.get(0).body()), "every retry sends the same bytes");
                expect(JSON.readTree(seen.body()).get("id").asText().equals(id.toString()), "every retry carries id " + id);
            }
            expect(client.retries() == 2, "two retries counted: " + client.retries());
            expect(waitedMillis >= 1000, "Retry-After: 1 was honoured (waited " + waitedMillis + " ms)");
            // A batch retried after a timeout carries the same ids too.
            stub.seen.clear();
        }
        try (Stub stub = new Stub((n, request) -> n == 1 ? new Stub.Reply(503, "{\"error\":\"storage\",\"detail\":\"disk\"}", null, 0)
                : Stub.Reply.json(200, "{\"results\":[{\"id\":\"" + JSON.readTree(request.body()).get(0).get("id").asText()
                        + "\",\"status\":\"duplicate\",\"seq\":3}]}"))) {
            LedgerClient client = LedgerClient.builder(stub.url(), "t").retry(new RetryPolicy(3, Duration.ofMillis(10), Duration.ofMillis(10))).build();
            UUID id = UUID.randomUUID();
            List<Answer> answers = client.batch(List.of(new Command.CashDeposit(id, null, 70, BigDecimal.ONE)));
            expect(answers.get(0).id().equals(id) && answers.get(0).status() == Answer.Status.DUPLICATE, "batch answer: " + answers);
            expect(stub.seen.size() == 2 && Arrays.equals(stub.seen.get(0).body(), stub.seen.get(1).body()), "the batch was resent as it was");
        }
        System.out.println("ok retry_resends_the_same_bytes");
    }

    /** An answer (200, 409 ID_CONFLICT) and a 4xx error are never sent again. */
    static void noRetryOnAnAnswer() throws Exception {
        String conflict = "{\"status\":\"conflict\",\"seq\":4,\"reason\":\"ID_CONFLICT\",\"detail\":\"the id was used at seq 4\"}";
        String[][] cases = {
            {"409", conflict, "CONFLICT"},
            {"200", "{\"status\":\"rejected\",\"seq\":5,\"reason\":\"LIMIT_EXCEEDED\",\"detail\":\"cap\",\"rule\":\"pboc-2018\"}", "REJECTED"},
            {"403", "{\"error\":\"forbidden\",\"detail\":\"role auditor\"}", "Forbidden"},
            {"400", "{\"error\":\"malformed\",\"detail\":\"bad\"}", "Malformed"},
            {"401", "{\"error\":\"unauthorized\",\"detail\":\"no\"}", "Unauthorized"},
            {"500", "{\"error\":\"internal\",\"detail\":\"bug\"}", "Unavailable"},
        };
        for (String[] c : cases) {
            try (Stub stub = new Stub((n, request) -> Stub.Reply.json(Integer.parseInt(c[0]), c[1]))) {
                LedgerClient client = LedgerClient.builder(stub.url(), "t").retry(new RetryPolicy(5, Duration.ZERO, Duration.ZERO)).build();
                String got;
                try {
                    got = client.submit(new Command.CashDeposit(UUID.randomUUID(), null, 70, BigDecimal.TEN)).status().name();
                } catch (LedgerException err) {
                    got = err.getClass().getSimpleName();
                }
                expect(got.equals(c[2]), "HTTP " + c[0] + ": got " + got);
                expect(stub.seen.size() == 1 && client.retries() == 0, "HTTP " + c[0] + " was sent " + stub.seen.size() + " times");
            }
        }
        System.out.println("ok no_retry_on_an_answer");
    }

    /** {@code brief(true)} asks submit and check for brief answers; the default asks for the event. */
    static void briefAnswersAreAskedFor() throws Exception {
        try (Stub stub = new Stub((n, request) -> Stub.Reply.json(200, ACCEPTED))) {
            Command deposit = new Command.CashDeposit(UUID.randomUUID(), null, 70, BigDecimal.TEN);
            LedgerClient.builder(stub.url(), "t").build().submit(deposit);
            LedgerClient brief = LedgerClient.builder(stub.url(), "t").brief(true).build();
            brief.submit(deposit);
            brief.check(deposit);
            List<String> uris = stub.seen.stream().map(Stub.Seen::uri).toList();
            expect(uris.equals(List.of("/v1/commands", "/v1/commands?brief=true", "/v1/check?brief=true")), "asked: " + uris);
        }
        System.out.println("ok brief_answers_are_asked_for");
    }

    /** The follower verifies an honest feed and stops at the first doctored record. */
    static void followerRefusesADoctoredFeed(List<Vector> vectors) throws Exception {
        expect(follow(vectors, -1, "none") == vectors.size(), "the honest feed is verified");
        String[] tampers = {"hash", "event_hex", "prev_hash", "link_only", "gap"};
        for (String tamper : tampers) {
            try {
                follow(vectors, 2, tamper);
                throw new AssertionError("a feed with a changed " + tamper + " was accepted");
            } catch (ChainBreakException err) {
                expect(err.seq() == vectors.get(2).seq(), tamper + ": the break is at seq " + err.seq());
            }
        }
        System.out.println("ok follower_refuses_a_doctored_feed");
    }

    /** Serves the vectors as /v1/events pages of 2 (record {@code bad} tampered) and follows them. */
    static long follow(List<Vector> vectors, int bad, String tamper) throws Exception {
        ArrayNode records = JSON.createArrayNode();
        for (int i = 0; i < vectors.size(); i++) {
            Vector v = vectors.get(i);
            if (i == bad && tamper.equals("gap")) continue;
            ObjectNode r = records.addObject();
            r.put("seq", v.seq()).put("prev_hash", v.prev()).put("hash", v.hash()).put("event_hex", v.event());
            if (i == bad) {
                switch (tamper) {
                    case "hash" -> r.put("hash", flip(v.hash()));
                    case "event_hex" -> r.put("event_hex", flip(v.event()));
                    case "prev_hash" -> {
                        // A record that links elsewhere, its own hash recomputed to match.
                        byte[] other = HEX.parseHex(flip(v.prev()));
                        r.put("prev_hash", HEX.formatHex(other));
                        r.put("hash", HEX.formatHex(ChainFollower.recordHash(v.seq(), other, HEX.parseHex(v.event()))));
                    }
                    // Only the link changed: the hash is right for the true chain, the claim is not.
                    case "link_only" -> r.put("prev_hash", flip(v.prev()));
                    default -> throw new AssertionError(tamper);
                }
            }
        }
        Vector last = vectors.get(vectors.size() - 1);
        try (Stub stub = new Stub((n, request) -> {
            long after = Long.parseLong(request.uri().replaceAll(".*after=(\\d+).*", "$1"));
            ArrayNode page = JSON.createArrayNode();
            for (JsonNode r : records) {
                if (r.get("seq").asLong() > after && page.size() < 2) page.add(r);
            }
            ObjectNode body = JSON.createObjectNode();
            body.set("records", page);
            body.put("next_after", page.isEmpty() ? after : page.get(page.size() - 1).get("seq").asLong());
            body.putObject("head").put("seq", last.seq()).put("hash", last.hash()).put("head", last.seq() + ":" + last.hash());
            return Stub.Reply.json(200, body.toString());
        })) {
            LedgerClient client = LedgerClient.builder(stub.url(), "t").build();
            Vector first = vectors.get(0);
            ChainFollower follower = first.seq() == 1 ? client.follower(0, null) : client.follower(first.seq() - 1, first.prev());
            follower.follow(last.seq(), 2, 0, record -> {});
            expect(follower.prevHash().equals(last.hash()), "the follower ends at the last hash");
            return follower.verified();
        }
    }

    /**
     * The position is the last record handed to the consumer: a consumer throwing at seq 5 of a
     * page 1-8 leaves it at 4 and a resume hands 5 again; a doctored hash at 4 hands 1-3 and
     * leaves it at 3; a page with a break returned by poll moves nothing.
     */
    static void followerPositionIsTheLastRecordHandedOn() throws Exception {
        Feed feed = new Feed(8);
        List<Long> handed = new ArrayList<>();
        try (Stub stub = feed.serve(true)) {
            LedgerClient client = LedgerClient.builder(stub.url(), "t").build();
            ChainFollower follower = client.follower(0, null);
            try {
                follower.follow(8, 8, 0, record -> {
                    handed.add(record.seq());
                    if (record.seq() == 5) throw new IllegalStateException("the consumer failed at 5");
                });
                throw new AssertionError("the consumer's failure was swallowed");
            } catch (IllegalStateException expected) {
                // the consumer's own exception, as it threw it
            }
            expect(follower.after() == 4 && follower.prevHash().equals(feed.hash(4)),
                    "a consumer failing at seq 5 leaves the position at 4: after " + follower.after());
            ChainFollower resumed = client.follower(follower.after(), follower.prevHash());
            resumed.follow(8, 8, 0, record -> handed.add(record.seq()));
            expect(handed.equals(List.of(1L, 2L, 3L, 4L, 5L, 5L, 6L, 7L, 8L)), "resumed at-least-once, no skip: " + handed);
            expect(resumed.after() == 8 && resumed.prevHash().equals(feed.hash(8)), "resumed to the end");
        }
        feed.doctor(4);
        handed.clear();
        try (Stub stub = feed.serve(true)) {
            LedgerClient client = LedgerClient.builder(stub.url(), "t").build();
            ChainFollower follower = client.follower(0, null);
            try {
                follower.follow(8, 8, 0, record -> handed.add(record.seq()));
                throw new AssertionError("a doctored hash at seq 4 was followed");
            } catch (ChainBreakException err) {
                expect(err.seq() == 4, "the break is at seq 4: " + err.seq());
            }
            expect(handed.equals(List.of(1L, 2L, 3L)) && follower.after() == 3 && follower.prevHash().equals(feed.hash(3)),
                    "1-3 handed on, the position at 3: " + handed + " after " + follower.after());
            ChainFollower polling = client.follower(0, null);
            try {
                polling.poll(8, 0);
                throw new AssertionError("poll returned a page with a doctored hash");
            } catch (ChainBreakException err) {
                expect(polling.after() == 0 && polling.verified() == 0, "poll returned nothing and did not move: " + polling.after());
            }
        }
        System.out.println("ok follower_position_is_the_last_record_handed_on");
    }

    /** follow(5, limit 8) asks for 5 and hands 1-5; a server that sends more is not followed past 5. */
    static void followStopsAtUntilSeq() throws Exception {
        for (boolean obeyLimit : new boolean[] {true, false}) {
            Feed feed = new Feed(8);
            List<Long> handed = new ArrayList<>();
            try (Stub stub = feed.serve(obeyLimit)) {
                ChainFollower follower = LedgerClient.builder(stub.url(), "t").build().follower(0, null);
                follower.follow(5, 8, 0, record -> handed.add(record.seq()));
                expect(handed.equals(List.of(1L, 2L, 3L, 4L, 5L)) && follower.after() == 5 && follower.prevHash().equals(feed.hash(5)),
                        "only 1-5 handed on (server obeys limit: " + obeyLimit + "): " + handed);
                expect(feed.limits.equals(List.of(5L)), "asked for limit 5: " + feed.limits);
                follower.follow(7, 8, 0, record -> handed.add(record.seq()));
                expect(handed.size() == 7 && follower.after() == 7 && feed.limits.equals(List.of(5L, 2L)), "then 6-7: " + feed.limits);
            }
        }
        System.out.println("ok follow_stops_at_until_seq");
    }

    /**
     * A duplicate is neither accepted nor silent: duplicate() true, its id the command's; the
     * original outcome read at its seq; answers without an id (submit, check, conflict) carry
     * the command's id.
     */
    static void duplicateAnswersAndTheirOriginal() throws Exception {
        UUID id = UUID.randomUUID();
        Command deposit = new Command.CashDeposit(id, null, 70, BigDecimal.TEN);
        String conflict = "{\"status\":\"conflict\",\"seq\":4,\"reason\":\"ID_CONFLICT\",\"detail\":\"the id was used at seq 4\"}";
        String[] commandIds = {id.toString()};
        Stub.Script script = (n, request) -> {
            if (request.uri().startsWith("/v1/events")) {
                expect(request.uri().contains("after=2") && request.uri().contains("limit=1"), "the original asked as: " + request.uri());
                return Stub.Reply.json(200, "{\"records\":[{\"seq\":3,\"prev_hash\":\"" + "0".repeat(64) + "\",\"hash\":\"" + "1".repeat(64)
                        + "\",\"event_hex\":\"00\",\"event\":{\"command_id\":\"" + commandIds[0]
                        + "\",\"body\":{\"rejected\":{\"command\":{},\"reason\":{\"insufficient_funds\":{\"available\":\"1.00\"}}}}}}],\"next_after\":3,"
                        + "\"head\":{\"seq\":9,\"hash\":\"" + "1".repeat(64) + "\",\"head\":\"9:x\"}}");
            }
            return switch (n) {
                case 1 -> Stub.Reply.json(200, "{\"status\":\"duplicate\",\"seq\":3}");
                case 2 -> Stub.Reply.json(200, ACCEPTED);
                default -> Stub.Reply.json(409, conflict);
            };
        };
        try (Stub stub = new Stub(script)) {
            LedgerClient client = LedgerClient.builder(stub.url(), "t").build();
            Answer duplicate = client.submit(deposit);
            expect(duplicate.duplicate() && !duplicate.accepted() && duplicate.seq() == 3 && id.equals(duplicate.id()), "duplicate: " + duplicate);
            Answer dry = client.check(deposit);
            expect(id.equals(dry.id()), "check's answer carries the command's id: " + dry);
            Answer conflicted = client.submit(deposit);
            expect(conflicted.status() == Answer.Status.CONFLICT && id.equals(conflicted.id()), "conflict's answer: " + conflicted);
            Views.Original original = client.original(duplicate);
            expect(original.seq() == 3 && !original.accepted() && "INSUFFICIENT_FUNDS".equals(original.reason()), "original: " + original);
            commandIds[0] = UUID.randomUUID().toString();
            try {
                client.original(duplicate);
                throw new AssertionError("another command's event was taken for the original");
            } catch (LedgerException.Unexpected err) {
                expect(err.error().equals("not_the_original"), "error: " + err.error());
            }
        }
        System.out.println("ok duplicate_answers_and_their_original");
    }

    /** Batch answers are matched to their commands by id, position for position, and counted. */
    static void batchAnswersMatchTheirCommands() throws Exception {
        UUID a = UUID.randomUUID(), b = UUID.randomUUID();
        List<Command> commands = List.of(new Command.CashDeposit(a, null, 70, BigDecimal.ONE), new Command.CashDeposit(b, null, 70, BigDecimal.ONE));
        String[] bodies = {
            "{\"results\":[" + answer(b, 3) + "," + answer(a, 4) + "]}",          // swapped
            "{\"results\":[" + answer(a, 3) + "]}",                                // one short
            "{\"results\":[" + answer(a, 3) + ",{\"status\":\"accepted\",\"seq\":4}]}", // no id
        };
        for (String body : bodies) {
            try (Stub stub = new Stub((n, request) -> Stub.Reply.json(200, body))) {
                LedgerClient client = LedgerClient.builder(stub.url(), "t").build();
                try {
                    client.batch(commands);
                    throw new AssertionError("a mismatched batch answer was trusted: " + body);
                } catch (LedgerException.Unexpected err) {
                    expect(err.error().equals("batch_mismatch"), "error: " + err.error());
                }
            }
        }
        try (Stub stub = new Stub((n, request) -> Stub.Reply.json(200, "{\"results\":[" + answer(a, 3) + "," + answer(b, 4) + "]}"))) {
            List<Answer> answers = LedgerClient.builder(stub.url(), "t").build().batch(commands);
            expect(answers.get(0).id().equals(a) && answers.get(1).id().equals(b) && answers.get(1).seq() == 4, "matched: " + answers);
        }
        System.out.println("ok batch_answers_match_their_commands");
    }

    static String answer(UUID id, long seq) {
        return "{\"id\":\"" + id + "\",\"status\":\"accepted\",\"seq\":" + seq + "}";
    }

    /** Retry-After: 3600 waits maxRetryAfter, not an hour; the policy's deadline ends the retries. */
    static void retryAfterIsCapped() throws Exception {
        try (Stub stub = new Stub((n, request) -> n == 1 ? new Stub.Reply(503, "{\"error\":\"busy\",\"detail\":\"full\"}", "3600", 0)
                : Stub.Reply.json(200, ACCEPTED))) {
            LedgerClient client = LedgerClient.builder(stub.url(), "t")
                    .retry(new RetryPolicy(3, Duration.ofMillis(10), Duration.ofMillis(10), Duration.ofMillis(200), Duration.ofMinutes(1))).build();
            long started = System.nanoTime();
            Answer answer = client.submit(new Command.CashDeposit(UUID.randomUUID(), null, 70, BigDecimal.TEN));
            long waited = (System.nanoTime() - started) / 1_000_000_000L;
            expect(answer.accepted() && stub.seen.size() == 2, "answered after one retry: " + answer);
            expect(waited < 120, "Retry-After: 3600 was capped (waited " + waited + " s)");
        }
        try (Stub stub = new Stub((n, request) -> new Stub.Reply(503, "{\"error\":\"busy\",\"detail\":\"full\"}", "1", 0))) {
            LedgerClient client = LedgerClient.builder(stub.url(), "t")
                    .retry(new RetryPolicy(100, Duration.ofMillis(10), Duration.ofMillis(10), Duration.ofSeconds(1), Duration.ofMillis(1500))).build();
            try {
                client.submit(new Command.CashDeposit(UUID.randomUUID(), null, 70, BigDecimal.TEN));
                throw new AssertionError("a busy server was retried past the deadline");
            } catch (LedgerException.Unavailable err) {
                expect(err.error().equals("deadline") && err.status() == 503, "the deadline ended it: " + err.getMessage());
                expect(stub.seen.size() >= 1 && stub.seen.size() <= 2, "requests before the deadline: " + stub.seen.size());
            }
        }
        System.out.println("ok retry_after_is_capped");
    }

    /**
     * An unknown answer status or HTTP status is a typed Unexpected; 429 is resent after its
     * Retry-After; 502 and 504 are resent with the same bytes; a batch 400 names index and line.
     */
    static void everyFailureIsTyped() throws Exception {
        Command deposit = new Command.CashDeposit(UUID.randomUUID(), null, 70, BigDecimal.TEN);
        RetryPolicy quick = new RetryPolicy(5, Duration.ZERO, Duration.ZERO);
        try (Stub stub = new Stub((n, request) -> Stub.Reply.json(200, "{\"status\":\"postponed\",\"seq\":3}"))) {
            try {
                LedgerClient.builder(stub.url(), "t").retry(quick).build().submit(deposit);
                throw new AssertionError("an unknown answer status was taken");
            } catch (LedgerException.Unexpected err) {
                expect(err.error().equals("unknown_status"), "error: " + err.error());
            }
        }
        try (Stub stub = new Stub((n, request) -> Stub.Reply.json(418, "{\"error\":\"teapot\",\"detail\":\"?\"}"))) {
            try {
                LedgerClient.builder(stub.url(), "t").retry(quick).build().submit(deposit);
                throw new AssertionError("HTTP 418 was taken");
            } catch (LedgerException.Unexpected err) {
                expect(err.status() == 418 && stub.seen.size() == 1, "418 typed, sent once: " + stub.seen.size());
            }
        }
        Stub.Script proxy = (n, request) -> switch (n) {
            case 1 -> new Stub.Reply(429, "{\"error\":\"too_many\",\"detail\":\"slow down\"}", "1", 0);
            case 2 -> Stub.Reply.json(502, "<html>bad gateway</html>");
            case 3 -> Stub.Reply.json(504, "<html>gateway timeout</html>");
            default -> Stub.Reply.json(200, ACCEPTED);
        };
        try (Stub stub = new Stub(proxy)) {
            LedgerClient client = LedgerClient.builder(stub.url(), "t").retry(quick).build();
            long started = System.nanoTime();
            Answer answer = client.submit(deposit);
            long waitedMillis = (System.nanoTime() - started) / 1_000_000;
            expect(answer.accepted() && stub.seen.size() == 4 && client.retries() == 3, "429, 502, 504 resent: " + stub.seen.size());
            for (Stub.Seen seen : stub.seen) {
                expect(Arrays.equals(seen.body(), stub.seen.get(0).body()), "the same bytes each time");
            }
            expect(waitedMillis >= 1000, "429's Retry-After: 1 was honoured (waited " + waitedMillis + " ms)");
        }
        try (Stub stub = new Stub((n, request) -> Stub.Reply.json(400,
                "{\"error\":\"malformed\",\"detail\":\"command [1] (line 2): bad\",\"index\":1,\"line\":2}"))) {
            try {
                LedgerClient.builder(stub.url(), "t").build().batch(List.of(deposit, deposit));
                throw new AssertionError("a refused batch was taken");
            } catch (LedgerException.Malformed err) {
                expect(Long.valueOf(1).equals(err.index()) && Long.valueOf(2).equals(err.line()), "index " + err.index() + " line " + err.line());
            }
        }
        System.out.println("ok every_failure_is_typed");
    }

    /** A null where a value is needed fails at once, naming the field; Money.parse refuses what Money.text refuses. */
    static void nullsFailEarly() throws Exception {
        List<Runnable> cases = List.of(
                () -> new Command.CashDeposit(null, null, 70, BigDecimal.TEN),
                () -> new Command.CashDeposit(UUID.randomUUID(), null, 70, null),
                () -> new Command.Payment(UUID.randomUUID(), null, 70, null, BigDecimal.TEN),
                () -> new Command.ListRisk(UUID.randomUUID(), null, "x", null, "s"));
        List<String> names = List.of("CashDeposit.id", "CashDeposit.amount", "Payment.merchant", "ListRisk.reason");
        for (int i = 0; i < cases.size(); i++) {
            try {
                cases.get(i).run();
                throw new AssertionError("a null " + names.get(i) + " was taken");
            } catch (NullPointerException err) {
                expect(names.get(i).equals(err.getMessage()), "the message names the field: " + err.getMessage());
            }
        }
        try (Stub stub = new Stub((n, request) -> Stub.Reply.json(200, ACCEPTED))) {
            LedgerClient client = LedgerClient.builder(stub.url(), "t").build();
            Command deposit = new Command.CashDeposit(UUID.randomUUID(), null, 70, BigDecimal.TEN);
            List<Runnable> calls = List.of(() -> client.submit(null), () -> client.check(null),
                    () -> client.batch(Arrays.asList(deposit, null)), () -> client.original(null));
            List<String> messages = List.of("command", "command", "commands[1]", "answer");
            for (int i = 0; i < calls.size(); i++) {
                try {
                    calls.get(i).run();
                    throw new AssertionError("a null argument was taken: " + messages.get(i));
                } catch (NullPointerException err) {
                    expect(messages.get(i).equals(err.getMessage()), "the message names it: " + err.getMessage());
                }
            }
            expect(stub.seen.isEmpty(), "nothing was sent");
        }
        for (String bad : List.of("1.005", "-1", "12x")) {
            try {
                Money.parse(bad);
                throw new AssertionError("Money.parse accepted " + bad);
            } catch (IllegalArgumentException expected) {
                // as Money.text refuses it
            }
        }
        expect(Money.parse("11000.00").compareTo(new BigDecimal("11000")) == 0, "a good amount parses");
        System.out.println("ok nulls_fail_early");
    }

    /** https:// to a plain port and http:// to a TLS port fail at once (one connection), typed Setup. */
    static void wrongSchemeIsASetupError() throws Exception {
        RetryPolicy five = new RetryPolicy(5, Duration.ofMillis(10), Duration.ofMillis(10));
        byte[] plain = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
        byte[] tlsAlert = {0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x46};
        Object[][] cases = {{"https", plain, "tls"}, {"http", tlsAlert, "protocol"}};
        for (Object[] c : cases) {
            try (RawStub stub = new RawStub((byte[]) c[1])) {
                LedgerClient client = LedgerClient.builder(c[0] + "://127.0.0.1:" + stub.port(), "t").retry(five).build();
                try {
                    client.head();
                    throw new AssertionError(c[0] + " to the wrong port answered");
                } catch (LedgerException.Setup err) {
                    expect(err.error().equals(c[2]) && err.status() == 0, c[0] + ": " + err.getMessage());
                    expect(stub.connections.get() == 1 && client.retries() == 0, c[0] + ": not retried: " + stub.connections.get());
                }
            }
        }
        System.out.println("ok wrong_scheme_is_a_setup_error");
    }

    /** The hex text with its first digit changed. */
    static String flip(String hex) {
        return (hex.charAt(0) == '0' ? '1' : '0') + hex.substring(1);
    }
}
