//! Change data capture: `/v1/events`, with long polls.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Extension, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::IntoParams;

use super::{ApiError, ApiResult, AppState, permit};
use crate::auth::{Access, Caller};
use crate::views::{ErrorView, EventsView};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EventsParams {
    /// The last seq the follower has (0 for the start of the log).
    pub after: u64,
    /// Most records to return (default 1,000; at most `events_limit_max`). A page also stops
    /// before `events_bytes_max` bytes of records, but always holds at least one.
    pub limit: Option<u64>,
    /// Seconds to wait for a record after `after` when there is none yet (default 0).
    pub wait: Option<u64>,
}

/// Change data capture: the records after `after`.
///
/// Each record is a line of `ledger-cli export` (with hashes), so a follower checks every link
/// as it goes. With `wait`, the answer is held until a record arrives or the wait ends (then
/// `records` is empty; when the server begins to stop, at once). A page holds at most `limit`
/// records and `events_bytes_max` bytes of them (but always one): `next_after` says where it
/// stopped. Reconnect with the last `next_after`: nothing is missed or repeated.
#[utoipa::path(get, path = "/v1/events", tag = "events", params(EventsParams),
    responses(
        (status = 200, body = EventsView),
        (status = 400, description = "malformed: a query parameter, or `limit` out of range", body = ErrorView),
        (status = 409, description = "`after` is past the head: this is not the log the follower followed", body = ErrorView),
        (status = 503, description = "`busy`: `long_polls_max` long polls are waiting already, or `inflight_bytes_max` is taken (Retry-After)", body = ErrorView),
    ),
    security(("bearer" = [])))]
pub async fn get_events(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    params: Result<Query<EventsParams>, QueryRejection>,
) -> ApiResult<Json<EventsView>> {
    permit(&caller, Access::Events)?;
    let Query(params) = params?;
    let limits = state.0.limits;
    let limit = params.limit.unwrap_or(1_000);
    if !(1..=limits.events_limit_max).contains(&limit) {
        return Err(ApiError::malformed(format!("limit must be between 1 and {}", limits.events_limit_max)));
    }
    let wait_max = limits.wait_seconds_max.min(limits.request_timeout_seconds.saturating_sub(1));
    let wait = Duration::from_secs(params.wait.unwrap_or(0).min(wait_max));
    let after = params.after;
    let mut head = state.0.head.clone();
    // Past the head: refused at once, never after the wait.
    if *head.borrow() < after {
        let now = state.blocking(|ledger| ledger.head()).await?;
        if after > now.seq {
            return Err(ahead_of_head(after, &now));
        }
    }
    if *head.borrow() <= after && !wait.is_zero() {
        let _slot = Arc::clone(&state.0.long_polls).try_acquire_owned().map_err(|_| {
            ApiError::busy(format!("{} long polls are waiting already; retry after a second", limits.long_polls_max))
        })?;
        let mut stopping = state.0.stopping.subscribe();
        // A record, the wait's end, the writer stopping or shutdown: answer what there is
        // (shutdown: an empty page at once, the same `after`).
        let stopped = tokio::select! {
            _ = tokio::time::timeout(wait, head.wait_for(|seq| *seq > after)) => false,
            _ = stopping.wait_for(|stopping| *stopping) => true,
        };
        if stopped {
            let head = state.blocking(|ledger| ledger.head()).await?;
            return Ok(Json(EventsView { records: Vec::new(), next_after: after, head: head.into() }));
        }
    }
    let bytes_max = limits.events_bytes_max;
    // The page's room in the in-flight budget: its export lines, then their JSON answer.
    let _room = state.room(bytes_max.saturating_mul(2))?;
    let (records, head) = state
        .blocking(move |ledger| {
            let head = ledger.head()?;
            if after > head.seq {
                return Ok(Err(head));
            }
            let mut page = Page { lines: Vec::new(), bytes_max };
            if after < head.seq {
                let to = head.seq.min(after.saturating_add(limit));
                let exported = ledger.export(after + 1, Some(to), &mut page);
                if !page.full() {
                    exported?;
                }
            }
            Ok(Ok((page.into_lines(), head)))
        })
        .await?
        .map_err(|head| ahead_of_head(after, &head))?;
    let mut parsed = Vec::new();
    for line in records.split(|byte| *byte == b'\n').filter(|line| !line.is_empty()) {
        parsed.push(
            serde_json::from_slice::<serde_json::Value>(line)
                .map_err(|err| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", err.to_string()))?,
        );
    }
    let next_after = after + parsed.len() as u64;
    Ok(Json(EventsView { records: parsed, next_after, head: head.into() }))
}

/// `after` is past the head: the follower followed another log (or this one lost its tail).
fn ahead_of_head(after: u64, head: &ledger_store::Head) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "ahead_of_head",
        format!("after {after} is past the head {}: this is not the log you followed", head.to_text()),
    )
}

/// An events page being exported: JSON Lines, refused once `bytes_max` is reached at a line's
/// start (so it holds at most one line more than fits).
struct Page {
    lines: Vec<u8>,
    bytes_max: usize,
}

impl Page {
    /// Whether the export stopped because the page is full.
    fn full(&self) -> bool {
        self.lines.len() >= self.bytes_max && self.lines.ends_with(b"\n")
    }

    /// The whole lines that fit in `bytes_max`, and at least one.
    fn into_lines(mut self) -> Vec<u8> {
        let mut end = 0;
        for (at, byte) in self.lines.iter().enumerate() {
            if *byte == b'\n' {
                if end > 0 && at + 1 > self.bytes_max {
                    break;
                }
                end = at + 1;
            }
        }
        self.lines.truncate(end);
        self.lines
    }
}

impl std::io::Write for Page {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if self.full() {
            return Err(std::io::Error::other("the events page is full"));
        }
        self.lines.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
