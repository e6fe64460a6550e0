package ledger.client;

/**
 * The server refused a request with an error (docs/SERVER.md, "Errors"): never a command answer
 * (accepted, rejected, duplicate and conflict are {@link Answer}s). Each 4xx has its own type.
 */
public class LedgerException extends RuntimeException {
    private final int status;
    private final String error;
    private final String detail;
    private final String retryAfter;
    private final Long index;
    private final Long line;

    public LedgerException(int status, String error, String detail, String retryAfter) {
        this(status, error, detail, retryAfter, null, null);
    }

    /** With the refused batch element's {@code index} (from 0) and {@code line} (from 1) of a batch 400. */
    public LedgerException(int status, String error, String detail, String retryAfter, Long index, Long line) {
        super("HTTP " + status + " " + error + ": " + detail);
        this.status = status;
        this.error = error;
        this.detail = detail;
        this.retryAfter = retryAfter;
        this.index = index;
        this.line = line;
    }

    public int status() { return status; }
    public String error() { return error; }
    public String detail() { return detail; }
    /** The Retry-After header of a 408, 429 or 5xx, or null. */
    public String retryAfter() { return retryAfter; }
    /** A refused batch's element (from 0) the server named (400 and 403 of a batch), else null. */
    public Long index() { return index; }
    /** A refused batch's line (from 1) the server named, else null. */
    public Long line() { return line; }

    /** 400 {@code malformed} or {@code batch_too_long}: fix the request ({@link #index()}/{@link #line()}: which element). */
    public static final class Malformed extends LedgerException {
        public Malformed(int s, String e, String d, String r) { super(s, e, d, r); }
        public Malformed(int s, String e, String d, String r, Long index, Long line) { super(s, e, d, r, index, line); }
    }

    /** 401: no token or an unknown one. */
    public static final class Unauthorized extends LedgerException {
        public Unauthorized(int s, String e, String d, String r) { super(s, e, d, r); }
    }

    /** 403: the token's role may not do this. */
    public static final class Forbidden extends LedgerException {
        public Forbidden(int s, String e, String d, String r) { super(s, e, d, r); }
        public Forbidden(int s, String e, String d, String r, Long index, Long line) { super(s, e, d, r, index, line); }
    }

    /** 404: an unknown account or route. */
    public static final class NotFound extends LedgerException {
        public NotFound(int s, String e, String d, String r) { super(s, e, d, r); }
    }

    /** 409 that is not a command answer: {@code ahead_of_head}, {@code exists}, {@code no_backup_root}. */
    public static final class Conflict extends LedgerException {
        public Conflict(int s, String e, String d, String r) { super(s, e, d, r); }
    }

    /** 413: the body is over the server's limit. */
    public static final class TooLarge extends LedgerException {
        public TooLarge(int s, String e, String d, String r) { super(s, e, d, r); }
    }

    /**
     * 408, 429 or 5xx once the retry policy gave up (500 is never retried); status 0: no answer at
     * all (error {@code no_answer} after the retries, {@code deadline} when the policy's deadline
     * ran out, {@code interrupted}).
     */
    public static final class Unavailable extends LedgerException {
        public Unavailable(int s, String e, String d, String r) { super(s, e, d, r); }
    }

    /**
     * Status 0: the client cannot talk to this address as configured, never retried: error
     * {@code tls} (the handshake failed: an untrusted certificate, or {@code https://} to a plain
     * HTTP port) or {@code protocol} (what came back is not HTTP: {@code http://} to a TLS port).
     */
    public static final class Setup extends LedgerException {
        public Setup(int s, String e, String d, String r) { super(s, e, d, r); }
    }

    /**
     * What came back is not what the API promises: an HTTP status it never sends, an answer with
     * an unknown {@code status} ({@code unknown_status}) or that is not an answer
     * ({@code not_an_answer}), an answer naming another id than the command's ({@code id_mismatch}),
     * a batch whose answers do not match its commands in number or id for id ({@code batch_mismatch}), an original event that is not the answer's ({@code not_the_original}).
     * Stop and report: the address may not be a ledger-server of this API's version.
     */
    public static final class Unexpected extends LedgerException {
        public Unexpected(int s, String e, String d) { super(s, e, d, null); }
    }

    /** The typed exception for an error answer. */
    static LedgerException of(int status, String error, String detail, String retryAfter, Long index, Long line) {
        switch (status) {
            case 400: return new Malformed(status, error, detail, retryAfter, index, line);
            case 401: return new Unauthorized(status, error, detail, retryAfter);
            case 403: return new Forbidden(status, error, detail, retryAfter, index, line);
            case 404: return new NotFound(status, error, detail, retryAfter);
            case 409: return new Conflict(status, error, detail, retryAfter);
            case 413: return new TooLarge(status, error, detail, retryAfter);
            default:
                if (status == 408 || status == 429 || status >= 500) {
                    return new Unavailable(status, error, detail, retryAfter);
                }
                return new Unexpected(status, error, detail);
        }
    }
}
