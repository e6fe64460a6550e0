package ledger.client;

import java.time.Duration;

/**
 * When a request that got no answer from the ledger is sent again. Retried: a timeout, a
 * connection error (refused, reset, closed), 408, 429 ({@code too many requests}), 503
 * ({@code busy}, {@code storage}, {@code unavailable}, {@code fenced}), and 502/504 (a proxy in
 * front of the ledger got no answer from it). It waits {@code Retry-After} seconds when the
 * answer carries one, but never more than {@code maxRetryAfter}; else a doubling backoff from
 * {@code firstDelay} up to {@code maxDelay}; and never beyond {@code deadline} from the first
 * attempt (then {@link LedgerException.Unavailable} with error {@code deadline}). Never retried:
 * an answer (200, and 409 {@code ID_CONFLICT}) or any other 4xx/5xx (500: a bug to report).
 *
 * <p>A retry sends the very same bytes: the same command ids. The ledger answers an id once and
 * gives every retry that first answer ({@code duplicate}), so nothing happens twice.
 *
 * @param maxAttempts   how many times one request is sent at most (1: never retried)
 * @param maxRetryAfter the longest a {@code Retry-After} is honoured (a longer one waits this long)
 * @param deadline      how long one call may spend retrying, from its first attempt
 */
public record RetryPolicy(int maxAttempts, Duration firstDelay, Duration maxDelay, Duration maxRetryAfter,
        Duration deadline) {
    /** What the three-argument policies honour of a {@code Retry-After}: 30 s. */
    public static final Duration MAX_RETRY_AFTER = Duration.ofSeconds(30);
    /** How long a three-argument policy's call may spend retrying: 5 min. */
    public static final Duration DEADLINE = Duration.ofMinutes(5);

    public RetryPolicy {
        if (maxAttempts < 1) throw new IllegalArgumentException("maxAttempts must be at least 1");
        java.util.Objects.requireNonNull(firstDelay, "firstDelay");
        java.util.Objects.requireNonNull(maxDelay, "maxDelay");
        java.util.Objects.requireNonNull(maxRetryAfter, "maxRetryAfter");
        java.util.Objects.requireNonNull(deadline, "deadline");
        if (firstDelay.isNegative() || maxDelay.compareTo(firstDelay) < 0) {
            throw new IllegalArgumentException("0 <= firstDelay <= maxDelay");
        }
        if (maxRetryAfter.isNegative() || deadline.isNegative()) {
            throw new IllegalArgumentException("maxRetryAfter and deadline are not negative");
        }
    }

    /** {@code maxRetryAfter} {@link #MAX_RETRY_AFTER}, {@code deadline} {@link #DEADLINE}. */
    public RetryPolicy(int maxAttempts, Duration firstDelay, Duration maxDelay) {
        this(maxAttempts, firstDelay, maxDelay, MAX_RETRY_AFTER, DEADLINE);
    }

    /** 10 attempts, 100 ms doubling to 2 s: about 10 s of retrying (Retry-After up to 30 s each). */
    public static RetryPolicy standard() {
        return new RetryPolicy(10, Duration.ofMillis(100), Duration.ofSeconds(2));
    }

    /** Send once, never again. */
    public static RetryPolicy never() {
        return new RetryPolicy(1, Duration.ZERO, Duration.ZERO);
    }

    /** The delay before attempt {@code attempt + 1} (attempt from 1), Retry-After (seconds, capped) first. */
    Duration delay(int attempt, String retryAfter) {
        if (retryAfter != null) {
            try {
                long seconds = Long.parseLong(retryAfter.trim());
                if (seconds >= 0) {
                    return seconds > maxRetryAfter.toSeconds() ? maxRetryAfter : Duration.ofSeconds(seconds);
                }
            } catch (NumberFormatException ignored) {
                // an HTTP date or garbage: fall back to the backoff
            }
        }
        Duration delay = firstDelay.multipliedBy(1L << Math.min(attempt - 1, 20));
        return delay.compareTo(maxDelay) > 0 ? maxDelay : delay;
    }

    /** Whether an HTTP status means "no answer from the ledger: send it again". */
    static boolean retriable(int status) {
        return status == 408 || status == 429 || status == 502 || status == 503 || status == 504;
    }
}
