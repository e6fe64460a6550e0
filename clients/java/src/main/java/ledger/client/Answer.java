package ledger.client;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.UUID;

/**
 * A command's answer (docs/SERVER.md): accepted, rejected (with its reason code, figures and
 * rule), duplicate (the id was answered before: the first answer's seq) or conflict
 * ({@code ID_CONFLICT}: the id was used for a different request, nothing was done).
 *
 * @param id      the command's id (batch answers; null for a single command)
 * @param seq     the event's sequence number (a dry run: the one it would get now)
 * @param dryRun  true for a {@code check}
 * @param event   the recorded event as in an export line, or null in a brief answer
 */
public record Answer(UUID id, Status status, long seq, String reason, String detail, String rule, boolean dryRun,
        JsonNode event) {

    public enum Status { ACCEPTED, REJECTED, DUPLICATE, CONFLICT }

    public boolean accepted() { return status == Status.ACCEPTED; }

    static Answer from(JsonNode json) {
        String id = Json.text(json, "id");
        String status = Json.text(json, "status");
        if (status == null || !json.path("seq").canConvertToLong()) {
            throw new LedgerException(200, "unexpected", "not a command answer: " + json, null);
        }
        return new Answer(id == null ? null : UUID.fromString(id), Status.valueOf(status.toUpperCase(java.util.Locale.ROOT)),
                json.get("seq").asLong(), Json.text(json, "reason"), Json.text(json, "detail"), Json.text(json, "rule"),
                json.path("dry_run").asBoolean(false), json.get("event"));
    }
}
