package ledger.client;

import java.time.Duration;

/**
 * When a request that got no answer is sent again. Retried: a timeout, a connection error
 * (refused, reset, closed), 408 and 503 ({@code busy}, {@code storage}, {@code unavailable},
 * {@code fenced}), after {@code Retry-After} seconds when the server sends it, else after a
 * doubling backoff from {@code firstDelay} up to {@code maxDelay}. Never retried: an answer
 * (200, and 409 {@code ID_CONFLICT}) or any other 4xx/5xx.
 *
 * <p>A retry sends the very same bytes: the same command ids. The ledger answers an id once and
 * gives every retry that first answer ({@code duplicate}), so nothing happens twice.
 *
 * @param maxAttempts how many times one request is sent at most (1: never retried)
 */
public record RetryPolicy(int maxAttempts, Duration firstDelay, Duration maxDelay) {
    public RetryPolicy {
        if (maxAttempts < 1) throw new IllegalArgumentException("maxAttempts must be at least 1");
        if (firstDelay.isNegative() || maxDelay.compareTo(firstDelay) < 0) {
            throw new IllegalArgumentException("0 <= firstDelay <= maxDelay");
        }
    }

    /** 10 attempts, 100 ms doubling to 2 s: about 10 s of retrying. */
    public static RetryPolicy standard() {
        return new RetryPolicy(10, Duration.ofMillis(100), Duration.ofSeconds(2));
    }

    /** Send once, never again. */
    public static RetryPolicy never() {
        return new RetryPolicy(1, Duration.ZERO, Duration.ZERO);
    }

    /** The delay before attempt {@code attempt + 1} (attempt from 1), Retry-After (seconds) first. */
    Duration delay(int attempt, String retryAfter) {
        if (retryAfter != null) {
            try {
                long seconds = Long.parseLong(retryAfter.trim());
                if (seconds >= 0 && seconds <= 3600) {
                    return Duration.ofSeconds(seconds);
                }
            } catch (NumberFormatException ignored) {
                // an HTTP date or garbage: fall back to the backoff
            }
        }
        Duration delay = firstDelay.multipliedBy(1L << Math.min(attempt - 1, 20));
        return delay.compareTo(maxDelay) > 0 ? maxDelay : delay;
    }

    /** Whether an HTTP status means "no answer: send it again". */
    static boolean retriable(int status) {
        return status == 408 || status == 503;
    }
}
