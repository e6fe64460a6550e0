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

    public LedgerException(int status, String error, String detail, String retryAfter) {
        super("HTTP " + status + " " + error + ": " + detail);
        this.status = status;
        this.error = error;
        this.detail = detail;
        this.retryAfter = retryAfter;
    }

    public int status() { return status; }
    public String error() { return error; }
    public String detail() { return detail; }
    /** The Retry-After header of a 503, or null. */
    public String retryAfter() { return retryAfter; }

    /** 400 {@code malformed} or {@code batch_too_long}: fix the request. */
    public static final class Malformed extends LedgerException {
        public Malformed(int s, String e, String d, String r) { super(s, e, d, r); }
    }

    /** 401: no token or an unknown one. */
    public static final class Unauthorized extends LedgerException {
        public Unauthorized(int s, String e, String d, String r) { super(s, e, d, r); }
    }

    /** 403: the token's role may not do this. */
    public static final class Forbidden extends LedgerException {
        public Forbidden(int s, String e, String d, String r) { super(s, e, d, r); }
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

    /** 408 or 5xx once the retry policy gave up (500 is never retried); status 0: no answer at all (error {@code no_answer} after the retries, {@code tls} when the handshake failed: not retried). */
    public static final class Unavailable extends LedgerException {
        public Unavailable(int s, String e, String d, String r) { super(s, e, d, r); }
    }

    /** The typed exception for an error answer. */
    static LedgerException of(int status, String error, String detail, String retryAfter) {
        switch (status) {
            case 400: return new Malformed(status, error, detail, retryAfter);
            case 401: return new Unauthorized(status, error, detail, retryAfter);
            case 403: return new Forbidden(status, error, detail, retryAfter);
            case 404: return new NotFound(status, error, detail, retryAfter);
            case 409: return new Conflict(status, error, detail, retryAfter);
            case 413: return new TooLarge(status, error, detail, retryAfter);
            default:
                if (status == 408 || status >= 500) {
                    return new Unavailable(status, error, detail, retryAfter);
                }
                return new LedgerException(status, error, detail, retryAfter);
        }
    }
}
