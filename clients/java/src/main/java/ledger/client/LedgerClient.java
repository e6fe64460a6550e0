package ledger.client;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.time.Duration;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicLong;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;

/**
 * A client of ledger-server (docs/SERVER.md): HTTP/1.1 with keep-alive ({@code java.net.http}),
 * one bearer token, optional TLS with a trust store of its own, and a {@link RetryPolicy} that
 * resends the same bytes (the same command ids) when a request got no answer. Thread-safe: share
 * one client between threads.
 *
 * <pre>{@code
 * LedgerClient client = LedgerClient.builder("http://127.0.0.1:8650", token).build();
 * Answer answer = client.submit(new Command.CashDeposit(UUID.randomUUID(), null, 70, new BigDecimal("100.00")));
 * }</pre>
 */
public final class LedgerClient {
    private final String url;
    private final String token;
    private final Duration timeout;
    private final RetryPolicy retry;
    private final String answers;
    private final HttpClient http;
    private final AtomicLong retries = new AtomicLong();

    private LedgerClient(Builder builder) {
        this.url = builder.url.replaceAll("/+$", "");
        this.token = builder.token;
        this.timeout = builder.timeout;
        this.retry = builder.retry;
        this.answers = builder.brief ? "?brief=true" : "";
        HttpClient.Builder http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(builder.timeout);
        if (builder.ssl != null) {
            http.sslContext(builder.ssl);
        }
        this.http = http.build();
    }

    public static Builder builder(String url, String token) {
        return new Builder(url, token);
    }

    /** How many times this client sent a request again (timeouts, connection errors, 408, 429, 502, 503, 504). */
    public long retries() { return retries.get(); }

    // --- commands --------------------------------------------------------------------------

    /**
     * One command: its answer (a conflict, 409 {@code ID_CONFLICT}, is an answer too), with the
     * command's id. A {@code duplicate} tells nothing of the first outcome: {@link #original}.
     */
    public Answer submit(Command command) {
        Objects.requireNonNull(command, "command");
        return Answer.from(send("POST", "/v1/commands" + answers, Json.bytes(command.toJson())).body, command.id());
    }

    /**
     * Up to 8,189 commands: one answer each, in order, committed with one fsync (brief answers).
     * Each answer must name the id of the command at its position, and there must be one per
     * command: else {@link LedgerException.Unexpected} ({@code batch_mismatch}).
     */
    public List<Answer> batch(List<? extends Command> commands) {
        Objects.requireNonNull(commands, "commands");
        ArrayNode array = Json.MAPPER.createArrayNode();
        for (int i = 0; i < commands.size(); i++) {
            array.add(Objects.requireNonNull(commands.get(i), "commands[" + i + "]").toJson());
        }
        JsonNode results = send("POST", "/v1/batches?brief=true", Json.bytes(array)).body.path("results");
        if (!results.isArray() || results.size() != commands.size()) {
            throw new LedgerException.Unexpected(200, "batch_mismatch",
                    results.size() + " answers for " + commands.size() + " commands");
        }
        List<Answer> answers = new ArrayList<>(commands.size());
        for (int i = 0; i < commands.size(); i++) {
            UUID sent = commands.get(i).id();
            String named = Json.text(results.get(i), "id");
            if (!sent.toString().equals(named)) {
                throw new LedgerException.Unexpected(200, "batch_mismatch",
                        "answer [" + i + "] names id " + named + ", the command sent there has id " + sent);
            }
            answers.add(Answer.from(results.get(i), sent));
        }
        return answers;
    }

    /** Dry run: what submitting {@code command} now would answer ({@code dryRun} true); nothing is recorded. */
    public Answer check(Command command) {
        Objects.requireNonNull(command, "command");
        return Answer.from(send("POST", "/v1/check" + answers, Json.bytes(command.toJson())).body, command.id());
    }

    /** {@code POST /v1/tick} (operator): what is due by the server's clock comes due now. */
    public Answer tick() {
        return Answer.ofServer(send("POST", "/v1/tick", null).body);
    }

    /**
     * The first outcome of a command answered {@code duplicate} (or of any answer): the event at
     * {@code answer.seq()}, read with {@code GET /v1/events?after=seq-1&limit=1} (a token that may
     * read the feed: auditor). Throws {@link LedgerException.Unexpected} ({@code not_the_original})
     * when that event does not answer {@code answer.id()}. The event is the readable JSON, which
     * no hash covers (docs/CLIENTS.md).
     */
    public Views.Original original(Answer answer) {
        Objects.requireNonNull(answer, "answer");
        if (answer.seq() < 1 || answer.dryRun() || answer.status() == Answer.Status.CONFLICT) {
            throw new IllegalArgumentException("no recorded event answers this: " + answer);
        }
        List<Views.Record> records = events(answer.seq() - 1, 1, 0).records();
        if (records.size() != 1 || records.get(0).seq() != answer.seq() || records.get(0).event() == null) {
            throw new LedgerException.Unexpected(200, "not_the_original", "no event at seq " + answer.seq());
        }
        Views.Original original = Views.Original.from(records.get(0));
        if (answer.id() != null && !answer.id().toString().equals(original.commandId())) {
            throw new LedgerException.Unexpected(200, "not_the_original",
                    "the event at seq " + answer.seq() + " answers " + original.commandId() + ", not " + answer.id());
        }
        return original;
    }

    /** {@code GET /v1/risk-list} (operator): every listed counterparty with its listing's seq. */
    public List<Views.Risk> riskList() {
        List<Views.Risk> listed = new ArrayList<>();
        get("/v1/risk-list", Map.of()).path("listed").forEach(entry ->
                listed.add(new Views.Risk(Json.text(entry, "counterparty"), true, Json.optLong(entry, "listed_seq"))));
        return List.copyOf(listed);
    }

    // --- queries ---------------------------------------------------------------------------

    public Views.Head head() { return Views.Head.from(get("/v1/head", Map.of())); }

    public Views.Balance balance(long account) {
        return Views.Balance.from(get("/v1/accounts/" + account + "/balance", Map.of()));
    }

    /** Limit use per bucket as recorded up to {@code at} (null: now). */
    public Views.Usage usage(long account, OffsetDateTime at) {
        return Views.Usage.from(get("/v1/accounts/" + account + "/usage", params("at", at == null ? null : Command.time(at))));
    }

    /** One page of an account's events ({@link Views.HistoryQuery#ALL}: the first page, the server's limit). */
    public Views.History history(long account, Views.HistoryQuery query) {
        Objects.requireNonNull(query, "query");
        Map<String, String> params = params("after", query.after() == null ? null : query.after().toString());
        params.putAll(params("limit", query.limit() == null ? null : query.limit().toString()));
        params.putAll(params("from", query.from() == null ? null : Command.time(query.from())));
        params.putAll(params("to", query.to() == null ? null : Command.time(query.to())));
        return Views.History.from(get("/v1/accounts/" + account + "/history", params));
    }

    public Views.Protections protections(long account) {
        return Views.Protections.from(get("/v1/accounts/" + account + "/protections", Map.of()));
    }

    public Views.Accounts accounts(long customer) {
        return Views.Accounts.from(get("/v1/customers/" + customer + "/accounts", Map.of()));
    }

    /** Held or scheduled outflows of {@code account} (null: all). */
    public Views.Pending pending(Long account) {
        return Views.Pending.from(get("/v1/pending", params("account", account == null ? null : account.toString())));
    }

    public Views.Risk risk(String counterparty) {
        Objects.requireNonNull(counterparty, "counterparty");
        String name = URLEncoder.encode(counterparty, StandardCharsets.UTF_8).replace("+", "%20");
        return Views.Risk.from(get("/v1/risk-list/" + name, Map.of()));
    }

    // --- change data capture ---------------------------------------------------------------

    /** One unverified page of records after {@code after}: prefer {@link #follower}. */
    public Views.EventsPage events(long after, int limit, int waitSeconds) {
        Map<String, String> params = params("after", Long.toString(after));
        params.put("limit", Integer.toString(limit));
        params.put("wait", Integer.toString(waitSeconds));
        return Views.EventsPage.from(send("GET", "/v1/events" + query(params), null, timeout.plusSeconds(waitSeconds)).body);
    }

    /** A follower from genesis ({@code after} 0, {@code prevHash} null) or resuming after a verified record. */
    public ChainFollower follower(long after, String prevHash) {
        return new ChainFollower(this, after, prevHash);
    }

    // --- transport -------------------------------------------------------------------------

    private record Reply(int status, JsonNode body) {}

    private JsonNode get(String path, Map<String, String> params) {
        return send("GET", path + query(params), null).body;
    }

    private static Map<String, String> params(String key, String value) {
        Map<String, String> params = new LinkedHashMap<>();
        if (value != null) params.put(key, value);
        return params;
    }

    private static String query(Map<String, String> params) {
        StringBuilder query = new StringBuilder();
        params.forEach((key, value) -> query.append(query.length() == 0 ? '?' : '&').append(key).append('=')
                .append(URLEncoder.encode(value, StandardCharsets.UTF_8)));
        return query.toString();
    }

    private Reply send(String method, String path, byte[] body) {
        return send(method, path, body, timeout);
    }

    /**
     * Sends one request under the retry policy: the same bytes every time. Returns a 200 or a
     * 409 command answer; throws the typed {@link LedgerException} for any other error.
     */
    private Reply send(String method, String path, byte[] body, Duration requestTimeout) {
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(url + path)).timeout(requestTimeout)
                .header("Authorization", "Bearer " + token);
        if (body != null) {
            request.header("Content-Type", "application/json").method(method, HttpRequest.BodyPublishers.ofByteArray(body));
        } else {
            request.method(method, HttpRequest.BodyPublishers.noBody());
        }
        HttpRequest built = request.build();
        long deadline = System.nanoTime() + retry.deadline().toNanos();
        for (int attempt = 1; ; attempt++) {
            HttpResponse<byte[]> response;
            try {
                response = http.send(built, HttpResponse.BodyHandlers.ofByteArray());
            } catch (IOException err) {
                if (err instanceof javax.net.ssl.SSLException && !lostConnection(err)) {
                    // An untrusted certificate, or https:// to a plain HTTP port: retrying cannot help.
                    throw new LedgerException.Setup(0, "tls", "TLS failed (an untrusted certificate, or https:// to a port "
                            + "that speaks plain HTTP?): " + err.getMessage(), null);
                }
                if (notHttp(err)) {
                    // Bytes came back that are no HTTP status line (http:// to a port that speaks TLS): retrying cannot help.
                    throw new LedgerException.Setup(0, "protocol", "the answer is not HTTP (http:// to a port that speaks "
                            + "TLS?): " + err.getMessage(), null);
                }
                // A timeout or a connection error: no answer. Send the same bytes again.
                if (attempt >= retry.maxAttempts()) {
                    throw new LedgerException.Unavailable(0, "no_answer", attempt + " attempts, the last: " + err, null);
                }
                pause(retry.delay(attempt, null), deadline, "the last: " + err, 0, null);
                continue;
            } catch (InterruptedException err) {
                Thread.currentThread().interrupt();
                throw new LedgerException.Unavailable(0, "interrupted", "interrupted while waiting for an answer", null);
            }
            int status = response.statusCode();
            String retryAfter = response.headers().firstValue("Retry-After").orElse(null);
            JsonNode json = parse(response.body());
            if (status == 200 || (status == 409 && json != null && json.has("status"))) {
                if (json == null) {
                    throw new LedgerException.Unexpected(status, "not_an_answer", "an answer that is not JSON");
                }
                return new Reply(status, json);
            }
            String error = json == null ? "http" : json.path("error").asText("http");
            String detail = json == null ? new String(response.body(), StandardCharsets.UTF_8) : json.path("detail").asText("");
            if (RetryPolicy.retriable(status) && attempt < retry.maxAttempts()) {
                pause(retry.delay(attempt, retryAfter), deadline, "the last: HTTP " + status + " " + error, status, retryAfter);
                continue;
            }
            Long index = json == null ? null : Json.optLong(json, "index");
            Long line = json == null ? null : Json.optLong(json, "line");
            throw LedgerException.of(status, error, detail, retryAfter, index, line);
        }
    }

    /**
     * Whether the answer's first bytes were not an HTTP status line: {@code java.net.http} says so
     * with a {@link java.net.ProtocolException} ("Invalid status line") or an IOException
     * "parsing HTTP/1.1 status line, receiving [...]" (bytes came, then the connection closed).
     * A connection closed before any byte ("received no bytes") is not this: it is retried.
     */
    static boolean notHttp(IOException err) {
        for (Throwable cause = err; cause != null; cause = cause.getCause()) {
            if (cause instanceof java.net.ProtocolException) return true;
            String message = cause.getMessage();
            if (message != null && message.startsWith("parsing HTTP/1.1 status line, receiving [")) return true;
        }
        return false;
    }

    /** Whether a TLS failure is a lost connection (reset, closed: retried), not a TLS refusal. */
    static boolean lostConnection(IOException err) {
        for (Throwable cause = err.getCause(); cause != null; cause = cause.getCause()) {
            if (cause instanceof java.net.SocketException || cause instanceof java.io.EOFException) return true;
        }
        return false;
    }

    /** Waits {@code delay} before a retry, unless that would pass the policy's deadline. */
    private void pause(Duration delay, long deadline, String last, int status, String retryAfter) {
        if (System.nanoTime() + delay.toNanos() - deadline > 0) {
            throw new LedgerException.Unavailable(status, "deadline",
                    "the retry policy's deadline (" + retry.deadline() + ") would pass; " + last, retryAfter);
        }
        pause(delay);
    }

    private void pause(Duration delay) {
        retries.incrementAndGet();
        try {
            Thread.sleep(delay.toMillis());
        } catch (InterruptedException err) {
            Thread.currentThread().interrupt();
            throw new LedgerException.Unavailable(0, "interrupted", "interrupted before a retry", null);
        }
    }

    private static JsonNode parse(byte[] body) {
        try {
            return body.length == 0 ? null : Json.parse(body);
        } catch (IOException err) {
            return null;
        }
    }

    /** How a client is made: the URL, the token, and optionally timeout, retry policy and TLS trust. */
    public static final class Builder {
        private final String url;
        private final String token;
        private Duration timeout = Duration.ofSeconds(30);
        private RetryPolicy retry = RetryPolicy.standard();
        private SSLContext ssl;
        private boolean brief;

        private Builder(String url, String token) {
            this.url = url;
            this.token = token;
        }

        /** How long one attempt waits for its answer (a long poll adds its wait). */
        public Builder timeout(Duration timeout) {
            this.timeout = timeout;
            return this;
        }

        /** Brief answers from submit and check ({@code ?brief=true}): no {@code event}, less to send and parse. */
        public Builder brief(boolean brief) {
            this.brief = brief;
            return this;
        }

        public Builder retry(RetryPolicy retry) {
            this.retry = retry;
            return this;
        }

        /** Trust exactly the certificates in {@code store} (e.g. the bank's CA), not the JDK's defaults. */
        public Builder trustStore(KeyStore store) throws GeneralSecurityException {
            TrustManagerFactory trust = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            trust.init(store);
            SSLContext context = SSLContext.getInstance("TLS");
            context.init(null, trust.getTrustManagers(), null);
            this.ssl = context;
            return this;
        }

        /** Trust exactly the PEM certificates in {@code pem} (the server's or its CA's). */
        public Builder trustPem(Path pem) throws IOException, GeneralSecurityException {
            KeyStore store = KeyStore.getInstance(KeyStore.getDefaultType());
            store.load(null, null);
            try (InputStream in = Files.newInputStream(pem)) {
                int n = 0;
                for (Certificate certificate : CertificateFactory.getInstance("X.509").generateCertificates(in)) {
                    store.setCertificateEntry("ledger-" + n++, certificate);
                }
                if (n == 0) throw new GeneralSecurityException("no certificate in " + pem);
            }
            return trustStore(store);
        }

        public LedgerClient build() {
            return new LedgerClient(this);
        }
    }
}
