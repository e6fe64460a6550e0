//! Change data capture: `/v1/events`, with long polls.

use std::time::Duration;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use utoipa::IntoParams;

use super::{ApiError, ApiResult, AppState};
use crate::auth::Access;
use crate::views::{ErrorView, EventsView};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EventsParams {
    /// The last seq the follower has (0 for the start of the log).
    pub after: u64,
    /// Most records to return (default 1,000; at most `events_limit_max`).
    pub limit: Option<u64>,
    /// Seconds to wait for a record after `after` when there is none yet (default 0).
    pub wait: Option<u64>,
}

/// Change data capture: the records after `after`.
///
/// Each record is a line of `ledger-cli export` (with hashes), so a follower checks every link
/// as it goes. With `wait`, the answer is held until a record arrives or the wait ends (then
/// `records` is empty). Reconnect with the last `next_after`: nothing is missed or repeated.
#[utoipa::path(get, path = "/v1/events", tag = "events", params(EventsParams),
    responses(
        (status = 200, body = EventsView),
        (status = 400, description = "malformed: a query parameter, or `limit` out of range", body = ErrorView),
        (status = 409, description = "`after` is past the head: this is not the log the follower followed", body = ErrorView),
    ),
    security(("bearer" = [])))]
pub async fn get_events(
    State(state): State<AppState>,
    headers: HeaderMap,
    params: Result<Query<EventsParams>, QueryRejection>,
) -> ApiResult<Json<EventsView>> {
    state.allowed(&headers, Access::Events)?;
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
    if *head.borrow() <= after && !wait.is_zero() {
        // Times out with nothing new, or the writer stopped: either way answer what there is.
        let _ = tokio::time::timeout(wait, head.wait_for(|seq| *seq > after)).await;
    }
    let (records, head) = state
        .blocking(move |ledger| {
            let head = ledger.head()?;
            if after > head.seq {
                return Ok(Err(head));
            }
            let mut buffer = Vec::new();
            if after < head.seq {
                let to = head.seq.min(after.saturating_add(limit));
                ledger.export(after + 1, Some(to), &mut buffer)?;
            }
            Ok(Ok((buffer, head)))
        })
        .await?
        .map_err(|head| {
            ApiError::new(
                StatusCode::CONFLICT,
                "ahead_of_head",
                format!("after {after} is past the head {}: this is not the log you followed", head.to_text()),
            )
        })?;
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
