//! Health, readiness and metrics.

use std::sync::atomic::Ordering;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::{ApiError, ApiResult, AppState};
use crate::views::{ErrorView, StatusView};

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, body = StatusView)))]
pub async fn get_healthz(State(state): State<AppState>) -> Json<StatusView> {
    Json(StatusView { status: "ok".into(), head_seq: *state.0.head.borrow() })
}

/// Readiness: the ledger is open, its writer answers, and the server is not shutting down.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, body = StatusView),
        (status = 500, description = "internal: the ledger failed unexpectedly", body = ErrorView),
        (status = 503, description = "unavailable: shutting down, or the ledger stopped", body = ErrorView)))]
pub async fn get_readyz(State(state): State<AppState>) -> ApiResult<Json<StatusView>> {
    if !state.0.ready.load(Ordering::Relaxed) {
        return Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "shutting down"));
    }
    state.blocking(|ledger| ledger.stats()).await?;
    Ok(Json(StatusView { status: "ready".into(), head_seq: *state.0.head.borrow() }))
}

/// Prometheus metrics: OpenMetrics text when the client accepts it (Prometheus does), else the
/// Prometheus text format 0.0.4 (what `promtool check metrics` and a plain `curl` read).
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "OpenMetrics text exposition (`Accept: application/openmetrics-text`), else Prometheus text format 0.0.4",
        content((String = "application/openmetrics-text"), (String = "text/plain")))))]
pub async fn get_metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let shared = &state.0;
    let waiting = shared.limits.queue_commands_max.saturating_sub(shared.queue.available_permits());
    shared.metrics.queue_commands.set(i64::try_from(waiting).unwrap_or(i64::MAX));
    let openmetrics = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .any(|value| value.contains("application/openmetrics-text"));
    if openmetrics {
        return (
            [(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")],
            shared.metrics.encode(),
        )
            .into_response();
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        crate::metrics::to_text_format(&shared.metrics.encode()),
    )
        .into_response()
}
