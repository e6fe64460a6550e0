//! Submitting: one command, a batch, a dry run; and the parsing of their bodies.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Extension, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ledger_core::{BatchElement, Command, Timestamp, parse_command};
use ledger_store::{Answer, Receipt};
use serde::Deserialize;
use utoipa::IntoParams;

use super::{ApiError, ApiResult, AppState, permit};
use crate::auth::{Access, Caller, access_of};
use crate::views::{BatchAnswer, BatchView, CheckView, ErrorView};

/// `?brief=true`: answers without their events (status, seq, reason and figures only).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AnswerParams {
    /// Leave each answer's event out (default false).
    pub brief: Option<bool>,
}

impl AnswerParams {
    fn answer(&self, receipt: &Receipt) -> Answer {
        if self.brief.unwrap_or(false) { receipt.brief_answer() } else { receipt.answer() }
    }
}

/// One command from a request body (a JSONL line is the same text): ledger-core's parser.
fn parse_one(body: &[u8], now: Timestamp) -> ApiResult<Command> {
    let text = std::str::from_utf8(body).map_err(|err| ApiError::malformed(format!("the body is not UTF-8: {err}")))?;
    parse_command(text.trim(), now).map_err(ApiError::refused_body)
}

/// A batch body (a JSON array of commands, or JSON Lines): ledger-core's parser. Every command
/// must parse, or none is submitted; a refused element is named by `index` (and `line`).
fn parse_batch(body: &[u8], now: Timestamp, batch_len_max: usize) -> ApiResult<Vec<BatchElement>> {
    let text = std::str::from_utf8(body).map_err(|err| ApiError::malformed(format!("the body is not UTF-8: {err}")))?;
    ledger_core::parse_batch(text, now, batch_len_max).map_err(ApiError::refused_body)
}

/// Submit one command.
///
/// The body is one command as in docs/COMMANDS.md (a JSONL line). Every answer is 200
/// (a rejection is an answer, with its reason code and figures), except `ID_CONFLICT`: 409.
#[utoipa::path(post, path = "/v1/commands", tag = "commands", params(AnswerParams),
    request_body(content = Object, description = "One command (docs/COMMANDS.md)", content_type = "application/json"),
    responses(
        (status = 200, description = "Accepted, rejected (with reason) or duplicate (the first answer)", body = Answer),
        (status = 409, description = "ID_CONFLICT: the id was used for a different request", body = Answer),
        (status = 400, description = "Malformed: the field and why", body = ErrorView),
        (status = 413, description = "too_large: the body is over `body_bytes_max`", body = ErrorView),
        (status = 503, description = "busy: the writer's queue is full (Retry-After); unavailable, fenced or \
            storage: the ledger stopped, another writer is in charge, or a write failed; not_writer: this server is a \
            standby (cluster mode), `writer` names the lease's holder. Retry with the same ids",
            body = ErrorView, headers(("Retry-After" = u64, description = "Seconds to wait (busy and not_writer)"))),
    ),
    security(("bearer" = [])))]
pub async fn post_command(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    params: Result<Query<AnswerParams>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let Query(params) = params?;
    let body = body?;
    let command = parse_one(&body, state.now()).inspect_err(|_| state.0.metrics.count("unknown", "malformed"))?;
    permit(&caller, access_of(&command.body))?;
    let receipt = state.submit(&caller, vec![command], false).await?.pop().ok_or_else(|| {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "the writer returned no receipt")
    })?;
    let status = if receipt.conflict { StatusCode::CONFLICT } else { StatusCode::OK };
    Ok((status, Json(params.answer(&receipt))).into_response())
}

/// Submit a batch.
///
/// Up to `batch_len_max` commands (default 8,189) as a JSON array or JSON Lines, decided in
/// order and committed with one fsync. All commands must parse and be allowed for the role,
/// or nothing is submitted: a 400 names the refused element by `index` (from 0) and, in JSON
/// Lines, `line` (from 1, blank lines counted). Each answer carries its command's `id` (and
/// `line`).
#[utoipa::path(post, path = "/v1/batches", tag = "commands", params(AnswerParams),
    request_body(content = Vec<Object>, description = "A JSON array of commands, or JSON Lines (application/x-ndjson)"),
    responses(
        (status = 200, description = "One answer per command, in order, each with its id (and line)", body = BatchView),
        (status = 400, description = "Malformed (the refused element's index and line, and why), or batch_too_long", body = ErrorView),
        (status = 413, description = "too_large: the body is over `body_bytes_max`", body = ErrorView),
        (status = 503, description = "busy: the writer's queue is full (Retry-After); unavailable, fenced or \
            storage: the ledger stopped, another writer is in charge, or a write failed; not_writer: this server is a \
            standby (cluster mode), `writer` names the lease's holder. Retry with the same ids",
            body = ErrorView, headers(("Retry-After" = u64, description = "Seconds to wait (busy and not_writer)"))),
    ),
    security(("bearer" = [])))]
pub async fn post_batch(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    params: Result<Query<AnswerParams>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<BatchView>> {
    let Query(params) = params?;
    let body = body?;
    let elements = parse_batch(&body, state.now(), state.0.limits.batch_len_max)
        .inspect_err(|_| state.0.metrics.count("unknown", "malformed"))?;
    for element in &elements {
        permit(&caller, access_of(&element.command.body))?;
    }
    let (places, commands): (Vec<_>, Vec<_>) =
        elements.into_iter().map(|element| ((element.command.id.0, element.line), element.command)).unzip();
    let receipts = state.submit(&caller, commands, false).await?;
    let results = places
        .into_iter()
        .zip(&receipts)
        .map(|((id, line), receipt)| BatchAnswer { id, line, answer: params.answer(receipt) })
        .collect();
    Ok(Json(BatchView { results }))
}

/// Dry run.
///
/// Decides one command against the current state as a submission now would, and records
/// nothing ("can this customer pay 8,000 now?").
#[utoipa::path(post, path = "/v1/check", tag = "commands", params(AnswerParams),
    request_body(content = Object, description = "One command (docs/COMMANDS.md)", content_type = "application/json"),
    responses(
        (status = 200, description = "What a submission now would be answered", body = CheckView),
        (status = 400, description = "Malformed: the field and why", body = ErrorView),
        (status = 413, description = "too_large: the body is over `body_bytes_max`", body = ErrorView),
        (status = 503, description = "busy: the writer's queue is full (Retry-After); unavailable, fenced or \
            storage: the ledger stopped, another writer is in charge, or a write failed; not_writer: this server is a \
            standby (cluster mode), `writer` names the lease's holder. Retry with the same ids",
            body = ErrorView, headers(("Retry-After" = u64, description = "Seconds to wait (busy and not_writer)"))),
    ),
    security(("bearer" = [])))]
pub async fn post_check(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    params: Result<Query<AnswerParams>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<CheckView>> {
    permit(&caller, Access::Check)?;
    let Query(params) = params?;
    let body = body?;
    let command = parse_one(&body, state.now())?;
    permit(&caller, access_of(&command.body))?;
    let receipt = state.submit(&caller, vec![command], true).await?.pop().ok_or_else(|| {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "the writer returned no receipt")
    })?;
    Ok(Json(CheckView { answer: params.answer(&receipt), dry_run: true }))
}
