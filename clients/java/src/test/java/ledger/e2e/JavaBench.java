package ledger.e2e;

import java.math.BigDecimal;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadLocalRandom;
import ledger.client.Answer;
import ledger.client.Command;
import ledger.client.LedgerClient;
import ledger.client.RetryPolicy;

/**
 * Throughput of the Java client: N single commands (POST /v1/commands, one cash deposit each,
 * the server's clock stamping them) from T threads sharing one client, against a running server
 * (with --brief: brief answers, without their events).
 * A benchmark, never an assertion of speed: it checks only that every command was accepted and
 * the balances add up. Usage: JavaBench URL TOKEN [--threads 64] [--commands 20000] [--brief]
 * Prints one JSON line: commands, threads, seconds, commands_per_second, retries.
 */
public final class JavaBench {
    public static void main(String[] args) throws Exception {
        List<String> a = List.of(args);
        int threads = a.contains("--threads") ? Integer.parseInt(a.get(a.indexOf("--threads") + 1)) : 64;
        int commands = a.contains("--commands") ? Integer.parseInt(a.get(a.indexOf("--commands") + 1)) : 20000;
        int each = commands / threads;
        boolean brief = a.contains("--brief");
        LedgerClient client = LedgerClient.builder(args[0], args[1]).timeout(Duration.ofSeconds(60)).brief(brief)
                .retry(new RetryPolicy(20, Duration.ofMillis(50), Duration.ofSeconds(1))).build();
        long base = ThreadLocalRandom.current().nextLong(1, 1_000_000_000L) * 1000L;
        List<Command> opening = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
            opening.add(new Command.OpenAccount(UUID.randomUUID(), null, base + t, base / 1000 + t, Command.AccountClass.I, null, true, false));
        }
        if (!client.batch(opening).stream().allMatch(Answer::accepted)) throw new AssertionError("the accounts did not open");
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        long started = System.nanoTime();
        List<Future<Integer>> done = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
            long account = base + t;
            done.add(pool.submit(() -> {
                int accepted = 0;
                for (int i = 0; i < each; i++) {
                    if (client.submit(new Command.CashDeposit(UUID.randomUUID(), null, account, BigDecimal.ONE)).accepted()) accepted++;
                }
                return accepted;
            }));
        }
        int accepted = 0;
        for (Future<Integer> f : done) accepted += f.get();
        double seconds = (System.nanoTime() - started) / 1e9;
        pool.shutdown();
        if (accepted != each * threads) throw new AssertionError(accepted + " of " + each * threads + " accepted");
        for (int t = 0; t < threads; t++) {
            BigDecimal balance = client.balance(base + t).balance();
            if (balance.compareTo(BigDecimal.valueOf(each)) != 0) throw new AssertionError("account " + (base + t) + ": " + balance);
        }
        System.out.printf("{\"commands\":%d,\"threads\":%d,\"brief\":%b,\"seconds\":%.2f,\"commands_per_second\":%.0f,\"retries\":%d}%n",
                each * threads, threads, brief, seconds, each * threads / seconds, client.retries());
    }
}
