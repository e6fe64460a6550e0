package ledger.client;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.Locale;
import java.util.UUID;

/**
 * A command's answer (docs/SERVER.md): accepted, rejected (with its reason code, figures and
 * rule), duplicate (the id was answered before: {@code seq} is the first answer's event, whose
 * outcome {@link LedgerClient#original} reads) or conflict ({@code ID_CONFLICT}: the id was used
 * for a different request, nothing was done).
 *
 * @param id      the id of the command this answers (the one sent, for every kind of answer;
 *                {@link LedgerClient#tick()}: the id the server chose, if its answer names one)
 * @param seq     the event's sequence number (a dry run: the one it would get now; a duplicate:
 *                the first answer's event)
 * @param dryRun  true for a {@code check}
 * @param event   the recorded event as in an export line, or null in a brief answer
 */
public record Answer(UUID id, Status status, long seq, String reason, String detail, String rule, boolean dryRun,
        JsonNode event) {

    public enum Status { ACCEPTED, REJECTED, DUPLICATE, CONFLICT }

    public Answer {
        java.util.Objects.requireNonNull(status, "status");
    }

    /** Accepted now. A duplicate is not: its outcome is the original event's ({@link LedgerClient#original}). */
    public boolean accepted() { return status == Status.ACCEPTED; }

    /** The id was answered before: nothing new was done; the first outcome is the event at {@link #seq()}. */
    public boolean duplicate() { return status == Status.DUPLICATE; }

    /**
     * The answer to the command with id {@code sent}: an answer that names another id, has an
     * unknown status or is not an answer at all throws {@link LedgerException.Unexpected}.
     */
    static Answer from(JsonNode json, UUID sent) {
        java.util.Objects.requireNonNull(sent, "sent");
        return parse(json, sent);
    }

    /** An answer to a command the server made ({@code POST /v1/tick}): its id as the answer names it. */
    static Answer ofServer(JsonNode json) {
        return parse(json, null);
    }

    private static Answer parse(JsonNode json, UUID sent) {
        String status = Json.text(json, "status");
        if (status == null || !json.path("seq").canConvertToLong()) {
            throw new LedgerException.Unexpected(200, "not_an_answer", "not a command answer: " + json);
        }
        Status known;
        try {
            known = Status.valueOf(status.toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException err) {
            throw new LedgerException.Unexpected(200, "unknown_status", "an answer with status \"" + status + "\": " + json);
        }
        String id = Json.text(json, "id");
        if (sent == null) {
            try {
                sent = id == null ? null : UUID.fromString(id);
            } catch (IllegalArgumentException err) {
                throw new LedgerException.Unexpected(200, "not_an_answer", "an answer whose id is not a UUID: " + json);
            }
        } else if (id != null && !id.equals(sent.toString())) {
            throw new LedgerException.Unexpected(200, "id_mismatch", "the answer names id " + id + ", the command sent " + sent);
        }
        return new Answer(sent, known, json.get("seq").asLong(), Json.text(json, "reason"), Json.text(json, "detail"),
                Json.text(json, "rule"), json.path("dry_run").asBoolean(false), json.get("event"));
    }
}
