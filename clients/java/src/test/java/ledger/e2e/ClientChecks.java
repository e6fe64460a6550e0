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

    /** The hex text with its first digit changed. */
    static String flip(String hex) {
        return (hex.charAt(0) == '0' ? '1' : '0') + hex.substring(1);
    }
}
