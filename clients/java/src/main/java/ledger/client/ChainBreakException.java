package ledger.client;

/**
 * The change-data-capture feed broke the hash chain (docs/FORMAT.md, "Hash chain"): a gap or a
 * repeat in seq, a record that does not link to the one before, or a hash that does not match
 * its bytes. Stop and alarm: never continue past it.
 */
public final class ChainBreakException extends RuntimeException {
    private final long seq;

    public ChainBreakException(long seq, String why) {
        super("the feed's hash chain breaks at seq " + seq + ": " + why);
        this.seq = seq;
    }

    /** The sequence number of the first record that failed. */
    public long seq() { return seq; }
}
