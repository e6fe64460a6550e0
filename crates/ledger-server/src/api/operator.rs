//! The operator's endpoints, what `ledger-cli`'s writer commands do next to a running server
//! (which holds the ledger's lock): tick, the whole risk list, a backup; and the ticker that
//! runs what comes due without anyone calling tick. Operator role only.

use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::{Extension, Json};
use ledger_core::Principal;
use ledger_store::Answer;

use super::{ApiError, ApiResult, AppState, permit};
use crate::auth::{Access, Caller};
use crate::views::{BackupRequest, BackupView, ErrorView, RiskEntry, RiskListView};

/// Longest backup name (one path component under `backup_root`).
const BACKUP_NAME_LEN_MAX: usize = 128;

/// Advance the ledger's time to now: expire holds, execute delayed transfers due by then.
///
/// What `ledger-cli tick` does, for a ledger this server holds (the server's ticker also does it
/// every `tick_seconds`). The answer is the tick's, as from `POST /v1/commands`.
#[utoipa::path(post, path = "/v1/tick", tag = "operator",
    responses(
        (status = 200, description = "The tick's answer (accepted, or rejected with its reason)", body = Answer),
        (status = 401, body = ErrorView), (status = 403, body = ErrorView),
        (status = 503, description = "Queue full (Retry-After), storage error, the ledger stopped, or not_writer: this server is a standby (names the writer; Retry-After)", body = ErrorView),
    ),
    security(("bearer" = [])))]
pub async fn post_tick(State(state): State<AppState>, Extension(caller): Extension<Caller>) -> ApiResult<Json<Answer>> {
    permit(&caller, Access::Operate)?;
    let principal =
        caller.principal().map_err(|why| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", why))?;
    tick(&state, principal).await.map(Json)
}

/// Every counterparty on the risk list, with the seq of the event that listed it.
#[utoipa::path(get, path = "/v1/risk-list", tag = "operator",
    responses((status = 200, body = RiskListView), (status = 401, body = ErrorView), (status = 403, body = ErrorView)),
    security(("bearer" = [])))]
pub async fn get_risk_list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Json<RiskListView>> {
    permit(&caller, Access::Operate)?;
    let listed = state.blocking(|ledger| ledger.risk_list()).await?;
    let listed = listed.into_iter().map(|(counterparty, listed_seq)| RiskEntry { counterparty, listed_seq }).collect();
    Ok(Json(RiskListView { listed }))
}

/// Back the ledger up into a new directory `backup_root/NAME` on the server's machine.
///
/// The copy holds the log up to the head when the backup starts (the server keeps writing),
/// with its read models rebuilt, and is verified and replayed before the answer. `NAME` is one
/// plain name (letters, digits, `.`, `_`, `-`; not starting with `.`) that must not exist.
#[utoipa::path(post, path = "/v1/backups", tag = "operator",
    request_body(content = BackupRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Written, verified and replayed", body = BackupView),
        (status = 400, description = "Malformed body or name", body = ErrorView),
        (status = 401, body = ErrorView), (status = 403, body = ErrorView),
        (status = 409, description = "`exists`: the name is taken; `no_backup_root`: the server has none configured", body = ErrorView),
        (status = 413, body = ErrorView),
        (status = 503, description = "Storage error while writing the copy (nothing is left at the name)", body = ErrorView),
    ),
    security(("bearer" = [])))]
pub async fn post_backup(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<BackupView>> {
    permit(&caller, Access::Operate)?;
    let body = body?;
    let request: BackupRequest =
        serde_json::from_slice(&body).map_err(|err| ApiError::malformed(format!("the backup request: {err}")))?;
    let root = state.0.backup_root.clone().ok_or_else(|| {
        ApiError::new(
            StatusCode::CONFLICT,
            "no_backup_root",
            "this server has no backup_root configured (docs/SERVER.md)",
        )
    })?;
    let dir = backup_dir(&root, &request.name)?;
    if dir.symlink_metadata().is_ok() {
        return Err(ApiError::new(StatusCode::CONFLICT, "exists", format!("a backup named {:?} exists", request.name)));
    }
    let copy = dir.clone();
    let (head, events_verified) = state
        .blocking(move |ledger| {
            let head = ledger.backup(&copy)?;
            let reader = ledger_store::Reader::open(&copy, std::sync::Arc::new(ledger_store::SystemClock))?;
            let verified = reader.verify(1, Some(head))?;
            let replay = reader.replay()?;
            if let Some(first) = replay.mismatches.first() {
                return Err(ledger_store::Error::ReadModel(format!("the backup does not replay: {first:?}")));
            }
            Ok((head, verified.events_checked))
        })
        .await?;
    Ok(Json(BackupView { dir: dir.display().to_string(), head: head.into(), events_verified }))
}

/// `root/name` for a plain `name`; anything that could leave `root` or hide is refused.
fn backup_dir(root: &Path, name: &str) -> ApiResult<PathBuf> {
    let plain = !name.is_empty()
        && name.len() <= BACKUP_NAME_LEN_MAX
        && !name.starts_with('.')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    let mut components = Path::new(name).components();
    let one = matches!((components.next(), components.next()), (Some(Component::Normal(_)), None));
    if !plain || !one {
        return Err(ApiError::malformed(format!(
            "the backup name {:?} is not one plain name (letters, digits, '.', '_', '-'; at most \
             {BACKUP_NAME_LEN_MAX}; not starting with '.')",
            name.escape_debug().to_string()
        )));
    }
    Ok(root.join(name))
}

/// Submits a tick through the writer's queue like any command, as `principal`.
async fn tick(state: &AppState, principal: Principal) -> ApiResult<Answer> {
    let command = state.writer()?.tick_command().map_err(ApiError::from)?;
    let receipt = state.submit_as(principal, vec![command], false).await?.pop().ok_or_else(|| {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "the writer returned no receipt")
    })?;
    Ok(receipt.answer())
}

/// The ticker: every `every` while the server runs, a tick when a hold or delayed transfer is
/// due, so they expire and execute even when no command comes, or (`checkpoint_every`) when a
/// Beijing day began since the head, so a quiet ledger records that day's checkpoint (a failed
/// tick is logged and the next one tried).
pub async fn run_ticker(state: AppState, every: Duration) {
    let mut interval = tokio::time::interval(every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    interval.tick().await;
    loop {
        interval.tick().await;
        // A standby's ticks are the writer's to make.
        if state.writer().is_err() {
            continue;
        }
        // Only when something is due: an idle ledger's log does not grow by a tick a minute. A
        // ledger that records checkpoints is also due one once a Beijing day began since its head.
        let checkpoints = state.0.records_checkpoints;
        let due = state
            .blocking(move |ledger| {
                let now = ledger.now();
                let head = ledger.head()?.seq;
                let new_day = checkpoints && head > 0 && ledger.event(head)?.at.beijing_day() < now.beijing_day();
                Ok(new_day || ledger.pending(None)?.iter().any(|reservation| reservation.stage.due_at() <= now))
            })
            .await;
        if !matches!(due, Ok(true)) {
            continue;
        }
        // The ticker is the ledger's own: its ticks name the ledger, as what comes due does.
        if let Err(err) = tick(&state, Principal::ledger()).await {
            tracing::warn!(?err, "the ticker's tick failed; the next one comes in {} s", every.as_secs());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_one_plain_name_makes_a_backup_directory() {
        let root = Path::new("/srv/backups");
        for good in ["ledger-2026-03-02", "a", "x.y_z-1"] {
            assert_eq!(backup_dir(root, good).ok(), Some(root.join(good)), "{good}");
        }
        let long = "a".repeat(BACKUP_NAME_LEN_MAX + 1);
        for bad in ["", ".", "..", "../etc", "/etc", "a/b", ".hidden", "a b", "a\nb", "\u{202e}x", long.as_str()] {
            assert!(backup_dir(root, bad).is_err(), "{bad:?}");
        }
    }
}
