package ledger.e2e;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executors;

/** A tiny HTTP server on loopback that answers as a test scripts it and records what it got. */
final class Stub implements AutoCloseable {
    /** One request as the stub saw it. */
    record Seen(String method, String uri, byte[] body) {
        String text() { return new String(body, StandardCharsets.UTF_8); }
    }

    /** What the stub answers the n-th request (from 1). */
    interface Script {
        Reply answer(int n, Seen request) throws Exception;
    }

    /** An answer: status, JSON body, optional Retry-After; {@code stallMillis} before answering. */
    record Reply(int status, String body, String retryAfter, long stallMillis) {
        static Reply json(int status, String body) { return new Reply(status, body, null, 0); }
    }

    final List<Seen> seen = new CopyOnWriteArrayList<>();
    private final HttpServer server;
    private final java.util.concurrent.ExecutorService pool = Executors.newCachedThreadPool();

    Stub(Script script) throws IOException {
        server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 16);
        server.setExecutor(pool);
        server.createContext("/", exchange -> handle(exchange, script));
        server.start();
    }

    String url() {
        return "http://127.0.0.1:" + server.getAddress().getPort();
    }

    private void handle(HttpExchange exchange, Script script) throws IOException {
        try (exchange) {
            Seen request = new Seen(exchange.getRequestMethod(), exchange.getRequestURI().toString(),
                    exchange.getRequestBody().readAllBytes());
            seen.add(request);
            Reply reply = script.answer(seen.size(), request);
            if (reply.stallMillis() > 0) Thread.sleep(reply.stallMillis());
            byte[] body = reply.body().getBytes(StandardCharsets.UTF_8);
            exchange.getResponseHeaders().set("Content-Type", "application/json");
            if (reply.retryAfter() != null) exchange.getResponseHeaders().set("Retry-After", reply.retryAfter());
            exchange.sendResponseHeaders(reply.status(), body.length);
            try (OutputStream out = exchange.getResponseBody()) {
                out.write(body);
            }
        } catch (Exception err) {
            // The client gave up (a timeout the test provoked): nothing to answer.
        }
    }

    @Override
    public void close() {
        server.stop(0);
        pool.shutdownNow();
    }
}
