package ledger.e2e;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.UUID;
import ledger.client.Answer;
import ledger.client.ChainFollower;
import ledger.client.Command;
import ledger.client.LedgerClient;
import ledger.client.LedgerException;
import ledger.client.RetryPolicy;
import ledger.client.Views;

/**
 * End-to-end: the Python client's Beijing day (clients/python/e2e_day.py) through the Java client
 * against a real ledger-server, plus holds and, with --kill, batches the test kills the server
 * under (it prints {"kill":"ready"} and the test SIGKILLs and restarts the server on the same
 * address: the client resends the same ids until it gets answers). Then the whole log is followed
 * over /v1/events with every hash and link recomputed in Java. Used by
 * crates/ledger-server/tests/java.rs.
 *
 * Usage: E2eDay URL TOKENS.json [--customers N] [--cafile PEM] [--kill]
 * Prints one JSON summary line; exit 0 when every check held, 1 otherwise (with the reason).
 */
public final class E2eDay {
    static final ObjectMapper JSON = new ObjectMapper();
    static final ZoneOffset BEIJING = ZoneOffset.ofHours(8);
    static final OffsetDateTime DAY = OffsetDateTime.of(2026, 3, 2, 9, 0, 0, 0, BEIJING);
    static final Duration STEP = Duration.ofMillis(10);

    /** The run's commands: ids from the run id, business times 10 ms apart. */
    static final class Day {
        final OffsetDateTime start;
        final UUID run = UUID.randomUUID();
        final List<UUID> ids = new ArrayList<>();
        int tick;

        Day(OffsetDateTime start) { this.start = start; }

        OffsetDateTime at(int ticks) { return start.plus(STEP.multipliedBy(ticks)); }

        /** The next command's id and time. */
        UUID id() {
            tick++;
            UUID id = UUID.nameUUIDFromBytes(("e2e-day/" + run + "/" + tick).getBytes(StandardCharsets.UTF_8));
            ids.add(id);
            return id;
        }

        OffsetDateTime now() { return at(tick); }
    }

    static void expect(boolean condition, String what) {
        if (!condition) throw new AssertionError(what);
    }

    public static void main(String[] args) throws Exception {
        List<String> a = List.of(args);
        int customers = a.contains("--customers") ? Integer.parseInt(a.get(a.indexOf("--customers") + 1)) : 40;
        String cafile = a.contains("--cafile") ? a.get(a.indexOf("--cafile") + 1) : null;
        JsonNode tokens = JSON.readTree(Path.of(args[1]).toFile());
        ObjectNode summary = JSON.createObjectNode();
        try {
            run(args[0], tokens, customers, cafile, a.contains("--kill"), summary);
            summary.put("ok", true);
        } catch (AssertionError err) {
            summary.put("ok", false).put("error", "check failed: " + err.getMessage());
        } catch (LedgerException err) {
            summary.put("ok", false).put("error", "the server refused a request (" + err.getClass().getSimpleName() + "): " + err.getMessage());
        }
        System.out.println(summary);
        System.exit(summary.get("ok").asBoolean() ? 0 : 1);
    }

    static LedgerClient client(String url, String token, String cafile, RetryPolicy retry) throws Exception {
        LedgerClient.Builder builder = LedgerClient.builder(url, token).retry(retry);
        if (cafile != null) builder.trustPem(Path.of(cafile));
        return builder.build();
    }

    static void run(String url, JsonNode tokens, int customers, String cafile, boolean kill, ObjectNode summary) throws Exception {
        // The back office rides out a restart: up to 120 attempts, 100 ms doubling to 1 s.
        LedgerClient office = client(url, tokens.get("back-office").asText(), cafile,
                new RetryPolicy(120, Duration.ofMillis(100), Duration.ofSeconds(1)));
        LedgerClient operator = client(url, tokens.get("operator").asText(), cafile, RetryPolicy.standard());
        LedgerClient auditor = client(url, tokens.get("auditor").asText(), cafile, RetryPolicy.standard());
        Views.Head start = auditor.head();
        Day day = new Day(plan(auditor, start));
        long base = freeAccounts(auditor, customers);
        long cust0 = base / 10;

        String fraud = "6217-FRAUD-" + day.run.toString().substring(0, 8);
        Answer listed = operator.submit(new Command.ListRisk(day.id(), day.now(), fraud, "telecom fraud", "e2e"));
        expect(listed.accepted(), "the operator lists a counterparty: " + listed);
        try {
            office.submit(new Command.ListRisk(UUID.randomUUID(), day.now(), "x", "r", "s"));
            throw new AssertionError("back-office may not change the risk list");
        } catch (LedgerException.Forbidden expected) {
            // a typed 403; nothing was recorded
        }

        List<Command> opening = new ArrayList<>();
        for (int c = 1; c <= customers; c++) {
            long one = base + c * 10L;
            opening.add(new Command.OpenAccount(day.id(), day.now(), one, cust0 + c, Command.AccountClass.I, null, true, false));
            opening.add(new Command.OpenAccount(day.id(), day.now(), one + 1, cust0 + c, Command.AccountClass.II,
                    new Command.BoundAccount(one), false, false));
        }
        expect(office.batch(opening).stream().allMatch(Answer::accepted), "every account opens");
        List<Command> funding = new ArrayList<>();
        for (int c = 1; c <= customers; c++) {
            funding.add(new Command.CashDeposit(day.id(), day.now(), base + c * 10L, new BigDecimal("100000.00")));
        }
        for (int c = 1; c <= customers; c++) {
            funding.add(new Command.InternalTransfer(day.id(), day.now(), base + c * 10L, base + c * 10L + 1, new BigDecimal("20000")));
        }
        expect(office.batch(funding).stream().allMatch(Answer::accepted), "deposits and funding transfers accepted");

        int rejected = 0;
        Command.Payment payment = null;
        Answer answer = null;
        for (int c = 1; c <= customers; c++) {
            for (int n = 0; n < 4; n++) {
                payment = new Command.Payment(day.id(), day.now(), base + c * 10L + 1, "Shop " + n, new BigDecimal("3000.00"));
                Answer dry = n == 3 ? office.check(payment) : null;
                if (dry != null) {
                    expect(dry.dryRun() && dry.status() == Answer.Status.REJECTED && "LIMIT_EXCEEDED".equals(dry.reason()), "dry run: " + dry);
                }
                answer = office.submit(payment);
                if (n == 3) {
                    expect(answer.status() == Answer.Status.REJECTED && answer.seq() == dry.seq(), "the dry run agreed: " + answer + " " + dry);
                    expect(answer.detail().contains("cap 10000.00") && answer.detail().contains("used 9000.00"),
                            "the rejection carries its figures: " + answer.detail());
                    expect(answer.rule() != null && answer.detail().endsWith("rule: " + answer.rule()), "and its rule: " + answer);
                    rejected++;
                } else {
                    expect(answer.accepted(), "payment " + n + " of customer " + c + ": " + answer);
                }
            }
        }
        Answer retry = office.submit(payment);
        expect(retry.duplicate() && !retry.accepted() && retry.seq() == answer.seq() && payment.id().equals(retry.id()),
                "a retry gets the first answer: " + retry);
        Views.Original original = auditor.original(retry);
        expect(!original.accepted() && "LIMIT_EXCEEDED".equals(original.reason()) && original.seq() == retry.seq() && payment.id().toString().equals(original.commandId()),
                "the duplicate's original outcome is the rejection at its seq: " + original);
        Answer conflict = office.submit(new Command.Payment(payment.id(), payment.at(), payment.from(), payment.merchant(), new BigDecimal("1.00")));
        expect(conflict.status() == Answer.Status.CONFLICT && "ID_CONFLICT".equals(conflict.reason()), "a reused id: " + conflict);
        Answer toFraud = office.submit(new Command.OutboundTransfer(day.id(), day.now(), base + 10, fraud, BigDecimal.TEN, null));
        expect("RISK_LISTED_COUNTERPARTY".equals(toFraud.reason()), "risk list: " + toFraud);

        int holds = holds(office, operator, day, base + 10);

        for (int c : new int[] {1, customers}) {
            Views.Balance balance = auditor.balance(base + c * 10L + 1);
            expect(balance.balance().compareTo(new BigDecimal("11000")) == 0, "Class II balance of customer " + c + ": " + balance);
            Views.BucketUsage out = auditor.usage(base + c * 10L + 1, day.at(day.tick + 1)).bucket("out");
            expect(out.dayUsed().compareTo(new BigDecimal("9000")) == 0 && out.dayRemaining().compareTo(new BigDecimal("1000")) == 0, "usage: " + out);
        }
        Views.Balance holder = auditor.balance(base + 10);
        expect(holder.balance().compareTo(new BigDecimal("68000")) == 0 && holder.reserved().signum() == 0, "after the holds: " + holder);

        queries(auditor, base, cust0, fraud);
        riskList(operator, fraud);
        int kinds = everyKindParses(operator, day, base, fraud);

        ObjectNode killed = kill ? killPhase(office, auditor, day, base + 1, cust0) : null;

        Views.Head head = auditor.head();
        expect(head.seq() == start.seq() + day.ids.size(), "one event per answered command: " + head + " " + day.ids.size());
        Map<UUID, Integer> seen = new HashMap<>();
        Set<UUID> mine = Set.copyOf(day.ids);
        ChainFollower follower = auditor.follower(0, null);
        long middle = head.seq() / 2;
        String[] middleHash = {null};
        follower.follow(head.seq(), 97, 1, record -> {
            JsonNode id = record.event().get("command_id");
            if (id != null && !id.isNull() && mine.contains(UUID.fromString(id.asText()))) {
                seen.merge(UUID.fromString(id.asText()), 1, Integer::sum);
            }
            if (record.seq() == middle) middleHash[0] = record.hash();
        });
        expect(follower.after() == head.seq() && follower.prevHash().equals(head.hash()), "the followed chain ends at the head");
        List<UUID> missing = day.ids.stream().filter(id -> seen.getOrDefault(id, 0) != 1).toList();
        expect(missing.isEmpty(), "every command appears exactly once in the log: " + missing.stream().limit(3).toList());
        // A follower that stored its position halfway resumes from there.
        ChainFollower resumed = auditor.follower(middle, middleHash[0]);
        resumed.follow(head.seq(), 1000, 1, record -> {});
        expect(resumed.prevHash().equals(head.hash()) && resumed.verified() == head.seq() - middle, "the resumed follower reaches the head");

        summary.put("commands", day.ids.size()).put("rejected", rejected).put("holds", holds).put("kinds_checked", kinds)
                .put("retries", office.retries() + operator.retries() + auditor.retries())
                .put("records_verified", follower.verified() + resumed.verified()).put("records", head.seq())
                .put("first_seq", start.seq() + 1).put("head", head.head());
        if (killed != null) summary.set("kill", killed);
        ObjectNode balances = summary.putObject("balances");
        List<Long> accounts = new ArrayList<>(List.of(base + 10, base + 11, base + customers * 10L, base + customers * 10L + 1));
        if (kill) accounts.add(base + 1);
        for (long account : accounts) {
            balances.put(Long.toString(account), auditor.balance(account).balance().toPlainString());
        }
    }

    /**
     * Large-transaction verification: above a threshold of 10,000 an outflow that leaves the
     * ledger is held; one hold confirmed (posted), one declined (released). Returns the holds.
     */
    static int holds(LedgerClient office, LedgerClient operator, Day day, long account) {
        Answer threshold = operator.submit(new Command.ChangeProtections(day.id(), day.now(), day.now(),
                new Command.ProtectionSettings(new BigDecimal("10000"), null, null, null, null, null)));
        expect(threshold.accepted(), "the operator sets a threshold: " + threshold);
        Command.OutboundTransfer confirmed = new Command.OutboundTransfer(day.id(), day.now(), account, "ICBC-6222-0200-3333",
                new BigDecimal("12000"), Command.Arrival.REAL_TIME);
        expect(office.submit(confirmed).accepted(), "a large transfer is accepted, held");
        List<Views.PendingOutflow> pending = office.pending(account).pending();
        expect(pending.size() == 1 && pending.get(0).id().equals(confirmed.id()) && pending.get(0).account() == account
                && pending.get(0).amount().compareTo(new BigDecimal("12000")) == 0
                && "awaiting_verification".equals(pending.get(0).stage()) && pending.get(0).dueAt() != null
                && "ICBC-6222-0200-3333".equals(pending.get(0).counterparty()), "it waits for verification, typed: " + pending);
        expect(office.balance(account).reserved().compareTo(new BigDecimal("12000")) == 0, "its funds are reserved");
        expect(office.submit(new Command.ConfirmHold(day.id(), day.now(), confirmed.id())).accepted(), "the customer confirms it");
        Command.OutboundTransfer declined = new Command.OutboundTransfer(day.id(), day.now(), account, "ICBC-6222-0200-3333",
                new BigDecimal("11000"), null);
        expect(office.submit(declined).accepted(), "a second large transfer is held");
        expect(office.submit(new Command.DeclineHold(day.id(), day.now(), declined.id())).accepted(), "the customer declines it");
        expect(office.pending(account).pending().isEmpty(), "nothing is pending any more");
        return 2;
    }

    /** The other queries, typed: a customer's accounts, a history page, protections, the risk list. */
    static void queries(LedgerClient auditor, long base, long cust0, String fraud) {
        Views.Accounts accounts = auditor.accounts(cust0 + 1);
        expect(accounts.accounts().size() == 2 && accounts.accounts().get(1).binding().path("account").asLong() == base + 10,
                "customer 1's two accounts: " + accounts);
        Views.History history = auditor.history(base + 11, Views.HistoryQuery.first(3));
        expect(history.entries().size() == 3 && history.nextAfter() != null, "a first page of 3: " + history);
        Views.History rest = auditor.history(base + 11, Views.HistoryQuery.first(100).withAfter(history.nextAfter()));
        expect(rest.entries().size() == 2 && rest.nextAfter() == null, "opened, funded, 3 payments posted: " + rest);
        Views.Protections protections = auditor.protections(base + 10);
        expect(protections.pending().isEmpty() && protections.balance().compareTo(new BigDecimal("68000")) == 0, "protections: " + protections);
        Views.Risk risk = auditor.risk(fraud);
        expect(risk.listed() && risk.listedSeq() != null, "the counterparty is listed: " + risk);
        expect(!auditor.risk("ICBC 6222/0200 3333").listed(), "a name with a space and a slash is not");
    }

    static void riskList(LedgerClient operator, String fraud) {
        expect(operator.riskList().stream().anyMatch(r -> r.counterparty().equals(fraud) && r.listedSeq() != null),
                "the operator's risk list names " + fraud);
    }

    /** A dry run of every command kind: each typed command is one the server's parser reads. */
    static int everyKindParses(LedgerClient operator, Day day, long base, String fraud) {
        OffsetDateTime at = day.at(day.tick + 1);
        UUID any = UUID.randomUUID();
        BigDecimal one = BigDecimal.ONE;
        List<Command.Flow> flows = List.of(Command.Flow.PAYMENT, Command.Flow.TRANSFER_OUT_OTHER);
        List<Command> kinds = List.of(
                new Command.OpenAccount(any, at, base + 2, base / 10, Command.AccountClass.III,
                        new Command.BoundExternal(Command.ExternalKind.CLASS_I, "6222-0200-1111"), false, true),
                new Command.CloseAccount(any, at, base + 11),
                new Command.CashDeposit(any, at, base + 10, one),
                new Command.CashWithdrawal(any, at, base + 10, one),
                new Command.InternalTransfer(any, at, base + 10, base + 11, one),
                new Command.InboundTransfer(any, at, base + 10, "ICBC-6222-0200-1111", one),
                new Command.OutboundTransfer(any, at, base + 10, "ICBC-6222-0200-1111", one, Command.Arrival.NEXT_DAY),
                new Command.Payment(any, at, base + 10, "Metro", one),
                new Command.WealthPurchase(any, at, base + 10, "WM-90D", one),
                new Command.WealthRedemption(any, at, base + 10, "WM-90D", one),
                new Command.ChangePolicy(any, at, at.plusDays(30), Command.Preset.PBOC_2018, null),
                new Command.ChangeProtections(any, at, at, new Command.ProtectionSettings(new BigDecimal("5000"), 30, 120, flows, flows, flows)),
                new Command.LockAccount(any, at, base + 10, Command.Actor.CUSTOMER, flows, "card lost"),
                new Command.UnlockAccount(any, at, base + 10, Command.Actor.BANK),
                new Command.SetPersonalLimits(any, at, base + 11, new BigDecimal("2000"), new BigDecimal("5000")),
                new Command.SetNightLock(any, at, base + 11, "23:00", "06:00"),
                new Command.ListRisk(any, at, "CCB-6217-0000-6666", "telecom fraud", "e2e"),
                new Command.UnlistRisk(any, at, fraud, "cleared", "e2e"),
                new Command.ConfirmHold(any, at, UUID.randomUUID()),
                new Command.DeclineHold(any, at, UUID.randomUUID()),
                new Command.CancelTransfer(any, at, UUID.randomUUID()),
                new Command.Tick(any, at));
        expect(kinds.stream().map(Command::type).distinct().count() == Command.class.getPermittedSubclasses().length,
                "every command kind is tried");
        for (Command command : kinds) {
            Answer dry = operator.check(command); // a 400 (malformed) would throw
            expect(dry.dryRun(), command.type() + ": " + dry);
        }
        return kinds.size();
    }

    /** Batches of 200 deposits of 1.00 while the test kills and restarts the server. */
    static ObjectNode killPhase(LedgerClient office, LedgerClient auditor, Day day, long account, long customer) {
        expect(office.submit(new Command.OpenAccount(day.id(), day.now(), account, customer, Command.AccountClass.I, null, true, false))
                .accepted(), "the kill phase's account opens");
        long before = office.retries();
        System.out.println("{\"kill\":\"ready\"}");
        System.out.flush();
        int batches = 0, accepted = 0, duplicates = 0, afterRetry = 0;
        long deadline = System.nanoTime() + Duration.ofSeconds(180).toNanos();
        while (afterRetry < 3) {
            expect(System.nanoTime() < deadline && batches < 500, "no retry seen in " + batches + " batches: was the server killed?");
            List<Command> batch = new ArrayList<>();
            for (int i = 0; i < 200; i++) batch.add(new Command.CashDeposit(day.id(), day.now(), account, new BigDecimal("1.00")));
            for (Answer answer : office.batch(batch)) {
                expect(answer.status() == Answer.Status.ACCEPTED || answer.status() == Answer.Status.DUPLICATE, "kill phase: " + answer);
                if (answer.accepted()) accepted++; else duplicates++;
            }
            batches++;
            if (office.retries() > before) afterRetry++;
        }
        BigDecimal balance = auditor.balance(account).balance();
        expect(balance.compareTo(BigDecimal.valueOf(batches * 200L)) == 0, "each deposit counted once: " + balance + " after " + batches + " batches");
        ObjectNode summary = JSON.createObjectNode();
        return summary.put("batches", batches).put("deposits", batches * 200).put("accepted", accepted)
                .put("duplicates", duplicates).put("retries", office.retries() - before);
    }

    /** DAY on a fresh ledger, else now (after the head's time). */
    static OffsetDateTime plan(LedgerClient auditor, Views.Head head) {
        if (head.seq() <= 1) return DAY;
        Views.Record last = auditor.events(head.seq() - 1, 1, 0).records().get(0);
        OffsetDateTime lastAt = OffsetDateTime.parse(last.event().get("at").asText());
        if (lastAt.isBefore(DAY)) return DAY;
        OffsetDateTime now = OffsetDateTime.now(BEIJING);
        return (now.isAfter(lastAt) ? now : lastAt.plus(Duration.ofMillis(1))).truncatedTo(java.time.temporal.ChronoUnit.MILLIS);
    }

    /** A base account number whose range (base + 1 .. base + 10 * customers + 1) is unused. */
    static long freeAccounts(LedgerClient auditor, int customers) {
        expect(customers >= 1 && customers <= 99, "1 to 99 customers");
        Random random = new Random();
        for (int i = 0; i < 20; i++) {
            long base = (1 + random.nextInt(999_999_999)) * 1000L;
            if (!exists(auditor, base + 1) && !exists(auditor, base + 10) && !exists(auditor, base + customers * 10L + 1)) return base;
        }
        throw new AssertionError("found no unused account numbers in 20 tries");
    }

    static boolean exists(LedgerClient auditor, long account) {
        try {
            auditor.balance(account);
            return true;
        } catch (LedgerException.NotFound absent) {
            return false;
        }
    }
}
