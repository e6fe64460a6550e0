package ledger.client;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.math.BigDecimal;
import java.time.OffsetDateTime;
import java.time.format.DateTimeFormatter;
import java.time.temporal.ChronoUnit;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.UUID;

/**
 * One command of docs/COMMANDS.md. Every command has an id chosen by the client (the same id
 * always gets the same answer: keep it for retries) and an optional business time ({@code at},
 * null: the server's clock stamps it). Amounts are {@link BigDecimal}s sent as strings.
 */
public sealed interface Command {
    UUID id();

    /** Business time, or null for the server's clock. */
    OffsetDateTime at();

    /** The command's {@code type}. */
    String type();

    /** Writes the command's own fields (all but type, id and at). */
    void fields(ObjectNode json);

    /** The command as the ledger reads it: one JSON object. */
    default ObjectNode toJson() {
        ObjectNode json = Json.MAPPER.createObjectNode();
        json.put("type", type());
        json.put("id", id().toString());
        if (at() != null) {
            json.put("at", time(at()));
        }
        fields(json);
        return json;
    }

    /**
     * RFC 3339 with its offset, to the millisecond (the ledger keeps milliseconds). An offset
     * with seconds has no RFC 3339 form: refused rather than rounded.
     */
    static String time(OffsetDateTime at) {
        if (at.getOffset().getTotalSeconds() % 60 != 0) {
            throw new IllegalArgumentException("an offset with seconds has no RFC 3339 form: " + at);
        }
        return at.truncatedTo(ChronoUnit.MILLIS).format(TIME);
    }

    DateTimeFormatter TIME = DateTimeFormatter.ofPattern("uuuu-MM-dd'T'HH:mm:ss.SSSXXX", Locale.ROOT);

    enum AccountClass { I, II, III }

    /** When an outbound transfer arrives. */
    enum Arrival { REAL_TIME, NORMAL, NEXT_DAY }

    /** Who locks or unlocks an account. */
    enum Actor { CUSTOMER, BANK }

    /** A movement of money as seen from one account (docs/RULES.md). */
    enum Flow {
        CASH_DEPOSIT, CASH_WITHDRAWAL, TRANSFER_IN_BOUND, TRANSFER_IN_OTHER, TRANSFER_OUT_BOUND,
        TRANSFER_OUT_OTHER, PAYMENT, WEALTH_PURCHASE, WEALTH_REDEMPTION
    }

    enum ExternalKind { CLASS_I, CREDIT_CARD }

    /** Policy presets for {@link ChangePolicy}. */
    enum Preset {
        DEFAULT("default"), PBOC_2018("pboc-2018"), PBOC_2016("pboc-2016");
        final String text;
        Preset(String text) { this.text = text; }
    }

    /** The account a Class II/III account is bound to. */
    sealed interface Binding {
        JsonNode toJson();
    }

    /** Bound to a Class I account of this ledger. */
    record BoundAccount(long account) implements Binding {
        public JsonNode toJson() { return Json.MAPPER.createObjectNode().put("account", account); }
    }

    /** Bound to an account at another bank. */
    record BoundExternal(ExternalKind kind, String reference) implements Binding {
        public BoundExternal {
            Objects.requireNonNull(kind, "BoundExternal.kind");
            Objects.requireNonNull(reference, "BoundExternal.reference");
        }
        public JsonNode toJson() {
            ObjectNode external = Json.MAPPER.createObjectNode().put("kind", name(kind)).put("reference", reference);
            ObjectNode json = Json.MAPPER.createObjectNode();
            json.set("external", external);
            return json;
        }
    }

    /** The protections' settings (docs/RULES.md); a null field is left out (its default). */
    record ProtectionSettings(BigDecimal largeTransactionThreshold, Integer holdExpiryMinutes,
            Integer normalArrivalDelayMinutes, List<Flow> personalLimitFlows, List<Flow> verificationFlows,
            List<Flow> nightLockFlows) {
        ObjectNode toJson() {
            ObjectNode json = Json.MAPPER.createObjectNode();
            if (largeTransactionThreshold != null) json.put("large_transaction_threshold", Money.text(largeTransactionThreshold));
            if (holdExpiryMinutes != null) json.put("hold_expiry_minutes", holdExpiryMinutes);
            if (normalArrivalDelayMinutes != null) json.put("normal_arrival_delay_minutes", normalArrivalDelayMinutes);
            if (personalLimitFlows != null) json.set("personal_limit_flows", flowArray(personalLimitFlows));
            if (verificationFlows != null) json.set("verification_flows", flowArray(verificationFlows));
            if (nightLockFlows != null) json.set("night_lock_flows", flowArray(nightLockFlows));
            return json;
        }
    }

    record OpenAccount(UUID id, OffsetDateTime at, long account, long customer, AccountClass accountClass,
            Binding binding, boolean verifiedInPerson, boolean withCard) implements Command {
        public OpenAccount {
            Objects.requireNonNull(id, "OpenAccount.id");
            Objects.requireNonNull(accountClass, "OpenAccount.accountClass");
        }
        public String type() { return "open_account"; }
        public void fields(ObjectNode json) {
            json.put("account", account).put("customer", customer).put("class", accountClass.name());
            if (binding != null) json.set("binding", binding.toJson());
            json.put("verified_in_person", verifiedInPerson).put("with_card", withCard);
        }
    }

    record CloseAccount(UUID id, OffsetDateTime at, long account) implements Command {
        public CloseAccount {
            Objects.requireNonNull(id, "CloseAccount.id");
        }
        public String type() { return "close_account"; }
        public void fields(ObjectNode json) { json.put("account", account); }
    }

    record CashDeposit(UUID id, OffsetDateTime at, long account, BigDecimal amount) implements Command {
        public CashDeposit {
            Objects.requireNonNull(id, "CashDeposit.id");
            Objects.requireNonNull(amount, "CashDeposit.amount");
        }
        public String type() { return "cash_deposit"; }
        public void fields(ObjectNode json) { json.put("account", account).put("amount", Money.text(amount)); }
    }

    record CashWithdrawal(UUID id, OffsetDateTime at, long account, BigDecimal amount) implements Command {
        public CashWithdrawal {
            Objects.requireNonNull(id, "CashWithdrawal.id");
            Objects.requireNonNull(amount, "CashWithdrawal.amount");
        }
        public String type() { return "cash_withdrawal"; }
        public void fields(ObjectNode json) { json.put("account", account).put("amount", Money.text(amount)); }
    }

    record InternalTransfer(UUID id, OffsetDateTime at, long from, long to, BigDecimal amount) implements Command {
        public InternalTransfer {
            Objects.requireNonNull(id, "InternalTransfer.id");
            Objects.requireNonNull(amount, "InternalTransfer.amount");
        }
        public String type() { return "internal_transfer"; }
        public void fields(ObjectNode json) { json.put("from", from).put("to", to).put("amount", Money.text(amount)); }
    }

    record InboundTransfer(UUID id, OffsetDateTime at, long to, String counterparty, BigDecimal amount) implements Command {
        public InboundTransfer {
            Objects.requireNonNull(id, "InboundTransfer.id");
            Objects.requireNonNull(counterparty, "InboundTransfer.counterparty");
            Objects.requireNonNull(amount, "InboundTransfer.amount");
        }
        public String type() { return "inbound_transfer"; }
        public void fields(ObjectNode json) {
            json.put("to", to).put("counterparty", counterparty).put("amount", Money.text(amount));
        }
    }

    /** {@code arrival} null: real time. */
    record OutboundTransfer(UUID id, OffsetDateTime at, long from, String counterparty, BigDecimal amount,
            Arrival arrival) implements Command {
        public OutboundTransfer {
            Objects.requireNonNull(id, "OutboundTransfer.id");
            Objects.requireNonNull(counterparty, "OutboundTransfer.counterparty");
            Objects.requireNonNull(amount, "OutboundTransfer.amount");
        }
        public String type() { return "outbound_transfer"; }
        public void fields(ObjectNode json) {
            json.put("from", from).put("counterparty", counterparty).put("amount", Money.text(amount));
            if (arrival != null) json.put("arrival", name(arrival));
        }
    }

    record Payment(UUID id, OffsetDateTime at, long from, String merchant, BigDecimal amount) implements Command {
        public Payment {
            Objects.requireNonNull(id, "Payment.id");
            Objects.requireNonNull(merchant, "Payment.merchant");
            Objects.requireNonNull(amount, "Payment.amount");
        }
        public String type() { return "payment"; }
        public void fields(ObjectNode json) {
            json.put("from", from).put("merchant", merchant).put("amount", Money.text(amount));
        }
    }

    record WealthPurchase(UUID id, OffsetDateTime at, long account, String product, BigDecimal amount) implements Command {
        public WealthPurchase {
            Objects.requireNonNull(id, "WealthPurchase.id");
            Objects.requireNonNull(product, "WealthPurchase.product");
            Objects.requireNonNull(amount, "WealthPurchase.amount");
        }
        public String type() { return "wealth_purchase"; }
        public void fields(ObjectNode json) {
            json.put("account", account).put("product", product).put("amount", Money.text(amount));
        }
    }

    record WealthRedemption(UUID id, OffsetDateTime at, long account, String product, BigDecimal amount) implements Command {
        public WealthRedemption {
            Objects.requireNonNull(id, "WealthRedemption.id");
            Objects.requireNonNull(product, "WealthRedemption.product");
            Objects.requireNonNull(amount, "WealthRedemption.amount");
        }
        public String type() { return "wealth_redemption"; }
        public void fields(ObjectNode json) {
            json.put("account", account).put("product", product).put("amount", Money.text(amount));
        }
    }

    /** Either {@code preset} or {@code policy} (a whole policy object, docs/RULES.md), not both. */
    record ChangePolicy(UUID id, OffsetDateTime at, OffsetDateTime effectiveFrom, Preset preset, JsonNode policy)
            implements Command {
        public ChangePolicy {
            Objects.requireNonNull(id, "ChangePolicy.id");
            Objects.requireNonNull(effectiveFrom, "ChangePolicy.effectiveFrom");
            if ((preset == null) == (policy == null)) {
                throw new IllegalArgumentException("change_policy takes a preset or a policy, exactly one");
            }
        }
        public String type() { return "change_policy"; }
        public void fields(ObjectNode json) {
            json.put("effective_from", time(effectiveFrom));
            if (preset != null) json.put("preset", preset.text);
            if (policy != null) json.set("policy", policy);
        }
    }

    record ChangeProtections(UUID id, OffsetDateTime at, OffsetDateTime effectiveFrom, ProtectionSettings settings)
            implements Command {
        public ChangeProtections {
            Objects.requireNonNull(id, "ChangeProtections.id");
            Objects.requireNonNull(effectiveFrom, "ChangeProtections.effectiveFrom");
            Objects.requireNonNull(settings, "ChangeProtections.settings");
        }
        public String type() { return "change_protections"; }
        public void fields(ObjectNode json) {
            json.put("effective_from", time(effectiveFrom));
            json.set("settings", settings.toJson());
        }
    }

    /** {@code flows} null or empty: every outflow. */
    record LockAccount(UUID id, OffsetDateTime at, long account, Actor by, List<Flow> flows, String reason)
            implements Command {
        public LockAccount {
            Objects.requireNonNull(id, "LockAccount.id");
            Objects.requireNonNull(by, "LockAccount.by");
            Objects.requireNonNull(reason, "LockAccount.reason");
        }
        public String type() { return "lock_account"; }
        public void fields(ObjectNode json) {
            json.put("account", account).put("by", name(by));
            if (flows != null) json.set("flows", flowArray(flows));
            json.put("reason", reason);
        }
    }

    record UnlockAccount(UUID id, OffsetDateTime at, long account, Actor by) implements Command {
        public UnlockAccount {
            Objects.requireNonNull(id, "UnlockAccount.id");
            Objects.requireNonNull(by, "UnlockAccount.by");
        }
        public String type() { return "unlock_account"; }
        public void fields(ObjectNode json) { json.put("account", account).put("by", name(by)); }
    }

    /** A null limit clears it. */
    record SetPersonalLimits(UUID id, OffsetDateTime at, long account, BigDecimal perTransaction, BigDecimal perDay)
            implements Command {
        public SetPersonalLimits {
            Objects.requireNonNull(id, "SetPersonalLimits.id");
        }
        public String type() { return "set_personal_limits"; }
        public void fields(ObjectNode json) {
            json.put("account", account);
            if (perTransaction != null) json.put("per_transaction", Money.text(perTransaction));
            if (perDay != null) json.put("per_day", Money.text(perDay));
        }
    }

    /** Beijing wall-clock times "HH:MM"; both null clears the night lock. */
    record SetNightLock(UUID id, OffsetDateTime at, long account, String start, String end) implements Command {
        public SetNightLock {
            Objects.requireNonNull(id, "SetNightLock.id");
        }
        public String type() { return "set_night_lock"; }
        public void fields(ObjectNode json) {
            json.put("account", account);
            if (start != null || end != null) {
                json.set("window", Json.MAPPER.createObjectNode().put("start", start).put("end", end));
            }
        }
    }

    record ListRisk(UUID id, OffsetDateTime at, String counterparty, String reason, String source) implements Command {
        public ListRisk {
            Objects.requireNonNull(id, "ListRisk.id");
            Objects.requireNonNull(counterparty, "ListRisk.counterparty");
            Objects.requireNonNull(reason, "ListRisk.reason");
            Objects.requireNonNull(source, "ListRisk.source");
        }
        public String type() { return "list_risk"; }
        public void fields(ObjectNode json) {
            json.put("counterparty", counterparty).put("reason", reason).put("source", source);
        }
    }

    record UnlistRisk(UUID id, OffsetDateTime at, String counterparty, String reason, String source) implements Command {
        public UnlistRisk {
            Objects.requireNonNull(id, "UnlistRisk.id");
            Objects.requireNonNull(counterparty, "UnlistRisk.counterparty");
            Objects.requireNonNull(reason, "UnlistRisk.reason");
            Objects.requireNonNull(source, "UnlistRisk.source");
        }
        public String type() { return "unlist_risk"; }
        public void fields(ObjectNode json) {
            json.put("counterparty", counterparty).put("reason", reason).put("source", source);
        }
    }

    record ConfirmHold(UUID id, OffsetDateTime at, UUID hold) implements Command {
        public ConfirmHold {
            Objects.requireNonNull(id, "ConfirmHold.id");
            Objects.requireNonNull(hold, "ConfirmHold.hold");
        }
        public String type() { return "confirm_hold"; }
        public void fields(ObjectNode json) { json.put("hold", hold.toString()); }
    }

    record DeclineHold(UUID id, OffsetDateTime at, UUID hold) implements Command {
        public DeclineHold {
            Objects.requireNonNull(id, "DeclineHold.id");
            Objects.requireNonNull(hold, "DeclineHold.hold");
        }
        public String type() { return "decline_hold"; }
        public void fields(ObjectNode json) { json.put("hold", hold.toString()); }
    }

    record CancelTransfer(UUID id, OffsetDateTime at, UUID transfer) implements Command {
        public CancelTransfer {
            Objects.requireNonNull(id, "CancelTransfer.id");
            Objects.requireNonNull(transfer, "CancelTransfer.transfer");
        }
        public String type() { return "cancel_transfer"; }
        public void fields(ObjectNode json) { json.put("transfer", transfer.toString()); }
    }

    /** Advances the ledger's time to {@code at}: what came due is executed or released. */
    record Tick(UUID id, OffsetDateTime at) implements Command {
        public Tick {
            Objects.requireNonNull(id, "Tick.id");
        }
        public String type() { return "tick"; }
        public void fields(ObjectNode json) {}
    }

    private static String name(Enum<?> value) {
        return value.name().toLowerCase(Locale.ROOT);
    }

    private static ArrayNode flowArray(List<Flow> flows) {
        ArrayNode array = Json.MAPPER.createArrayNode();
        flows.forEach(flow -> array.add(name(flow)));
        return array;
    }
}
