//! Health, readiness and metrics.

use std::sync::atomic::Ordering;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::{ApiError, ApiResult, AppState, Serving, not_writer};
use crate::views::{ErrorView, StatusView, WriterView};

/// The status body: `status`, the head last seen, the role, and (a standby) the writer.
fn status(state: &AppState, status: &str) -> StatusView {
    let (role, writer) = state.with_serving(|serving| match serving {
        Serving::Standby { writer, .. } => (serving.role(), writer.as_ref().map(WriterView::from)),
        Serving::Writer(_) => (serving.role(), None),
    });
    StatusView { status: status.into(), head_seq: *state.0.head.borrow(), role: role.into(), writer }
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, body = StatusView)))]
pub async fn get_healthz(State(state): State<AppState>) -> Json<StatusView> {
    Json(status(&state, "ok"))
}

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ReadyParams {
    /// `writer`: ready only as the writer (a standby answers 503 `not_writer`): the check of a
    /// load balancer for writes. Without it a standby is ready too (for reads).
    #[param(value_type = Option<String>)]
    pub role: Option<ReadyRole>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReadyRole {
    Writer,
}

/// Readiness: the ledger answers (the writer's thread, or a standby's database node), and the
/// server is not shutting down; `?role=writer` also needs the writer.
#[utoipa::path(get, path = "/readyz", tag = "operations", params(ReadyParams),
    responses((status = 200, body = StatusView),
        (status = 400, description = "malformed: an unknown query parameter or role", body = ErrorView),
        (status = 500, description = "internal: the ledger failed unexpectedly", body = ErrorView),
        (status = 503, description = "unavailable: shutting down, or the ledger stopped; storage: a standby's \
            database node does not answer; not_writer: `role=writer` asked of a standby (names the writer; Retry-After)", body = ErrorView)))]
pub async fn get_readyz(
    State(state): State<AppState>,
    params: Result<Query<ReadyParams>, QueryRejection>,
) -> ApiResult<Json<StatusView>> {
    let Query(params) = params?;
    if !state.0.ready.load(Ordering::Relaxed) {
        return Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "shutting down"));
    }
    match state.ledger() {
        Some(ledger) => {
            tokio::task::spawn_blocking(move || ledger.stats())
                .await
                .map_err(|err| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", err.to_string()))??;
        }
        None => {
            if params.role == Some(ReadyRole::Writer) {
                return Err(state.writer().err().unwrap_or_else(|| not_writer(None)));
            }
            state.blocking(|reader| reader.head()).await?;
        }
    }
    Ok(Json(status(&state, "ready")))
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
