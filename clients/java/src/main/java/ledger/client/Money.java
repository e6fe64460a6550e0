package ledger.client;

import java.math.BigDecimal;

/**
 * Amounts as the ledger reads them (docs/COMMANDS.md): CNY, at most two decimal places, never
 * negative, always sent as a JSON string ("88.50"), never as a JSON number.
 */
public final class Money {
    private Money() {}

    /** The exact text the ledger expects: two decimals ("100.10"); refuses what it would refuse. */
    public static String text(BigDecimal amount) {
        if (amount == null) {
            throw new IllegalArgumentException("an amount is required");
        }
        if (amount.signum() < 0) {
            throw new IllegalArgumentException("a negative amount: " + amount.toPlainString());
        }
        if (amount.stripTrailingZeros().scale() > 2) {
            throw new IllegalArgumentException("more than two decimal places (fen): " + amount.toPlainString());
        }
        return amount.setScale(2).toPlainString();
    }

    /**
     * An amount as the ledger writes it ("11000.00"); null stays null. Refuses what {@link #text}
     * refuses (more than two decimals, negative) and what is not a number: IllegalArgumentException.
     */
    public static BigDecimal parse(String text) {
        if (text == null) return null;
        BigDecimal amount;
        try {
            amount = new BigDecimal(text);
        } catch (NumberFormatException err) {
            throw new IllegalArgumentException("not an amount: " + text);
        }
        text(amount);
        return amount;
    }
}
