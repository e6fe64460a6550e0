//! Submitting: one command, a batch, a dry run; and the parsing of their bodies.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use ledger_core::{Command, CommandJson, Timestamp, parse_command};
use ledger_store::{Answer, Receipt};
use serde::Deserialize;
use utoipa::IntoParams;

use super::{ApiError, ApiResult, AppState, permit};
use crate::auth::{Access, access_of};
use crate::views::{BatchView, CheckView, ErrorView};

/// `?brief=true`: answers without their events (status, seq, reason and figures only).
#[derive(Debug, Default, Deserialize, IntoParams)]
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

/// One command from a request body (a JSONL line is the same text).
fn parse_one(body: &[u8], now: Timestamp) -> ApiResult<Command> {
    let text = std::str::from_utf8(body).map_err(|err| ApiError::malformed(format!("the body is not UTF-8: {err}")))?;
    parse_command(text.trim(), now).map_err(|err| ApiError::malformed(err.to_string()))
}

/// A batch body: a JSON array of commands, or JSON Lines (blank lines skipped). Every command
/// must parse, or none is submitted.
fn parse_batch(body: &[u8], now: Timestamp, batch_len_max: usize) -> ApiResult<Vec<Command>> {
    let text = std::str::from_utf8(body).map_err(|err| ApiError::malformed(format!("the body is not UTF-8: {err}")))?;
    let too_long = |len: usize| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "batch_too_long",
            format!("{len} commands; a batch holds at most {batch_len_max}"),
        )
    };
    let commands = if text.trim_start().starts_with('[') {
        // The common case in one pass; on any error, again element by element to say which.
        if let Ok(parsed) = serde_json::from_str::<Vec<CommandJson>>(text)
            && parsed.len() <= batch_len_max
            && let Ok(commands) = parsed.into_iter().map(|json| json.into_command(now)).collect::<Result<Vec<_>, _>>()
        {
            return non_empty(commands);
        }
        let values: Vec<serde_json::Value> =
            serde_json::from_str(text).map_err(|err| ApiError::malformed(format!("the batch array: {err}")))?;
        if values.len() > batch_len_max {
            return Err(too_long(values.len()));
        }
        let mut commands = Vec::with_capacity(values.len());
        for (index, value) in values.into_iter().enumerate() {
            let command = serde_json::from_value::<CommandJson>(value)
                .map_err(|err| err.to_string())
                .and_then(|json| json.into_command(now).map_err(|err| err.to_string()))
                .map_err(|err| ApiError::malformed(format!("command [{index}]: {err}")))?;
            commands.push(command);
        }
        commands
    } else {
        let lines: Vec<(usize, &str)> = text.lines().enumerate().filter(|(_, line)| !line.trim().is_empty()).collect();
        if lines.len() > batch_len_max {
            return Err(too_long(lines.len()));
        }
        let mut commands = Vec::with_capacity(lines.len());
        for (index, line) in lines {
            let command = parse_command(line.trim(), now)
                .map_err(|err| ApiError::malformed(format!("line {}: {err}", index + 1)))?;
            commands.push(command);
        }
        commands
    };
    non_empty(commands)
}

fn non_empty(commands: Vec<Command>) -> ApiResult<Vec<Command>> {
    if commands.is_empty() {
        return Err(ApiError::malformed("the batch holds no command"));
    }
    Ok(commands)
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
        (status = 401, body = ErrorView), (status = 403, body = ErrorView), (status = 413, body = ErrorView),
        (status = 503, description = "Queue full (Retry-After) or the ledger stopped", body = ErrorView),
    ),
    security(("bearer" = [])))]
pub async fn post_command(
    State(state): State<AppState>,
    headers: HeaderMap,
    params: Result<Query<AnswerParams>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let caller = state.caller(&headers)?;
    let Query(params) = params?;
    let body = body?;
    let command =
        parse_one(&body, state.0.ledger.now()).inspect_err(|_| state.0.metrics.count("unknown", "malformed"))?;
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
/// or nothing is submitted.
#[utoipa::path(post, path = "/v1/batches", tag = "commands", params(AnswerParams),
    request_body(content = Vec<Object>, description = "A JSON array of commands, or JSON Lines (application/x-ndjson)"),
    responses(
        (status = 200, description = "One answer per command, in order", body = BatchView),
        (status = 400, description = "Malformed (which command and why), or batch_too_long", body = ErrorView),
        (status = 401, body = ErrorView), (status = 403, body = ErrorView), (status = 413, body = ErrorView),
        (status = 503, body = ErrorView),
    ),
    security(("bearer" = [])))]
pub async fn post_batch(
    State(state): State<AppState>,
    headers: HeaderMap,
    params: Result<Query<AnswerParams>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<BatchView>> {
    let caller = state.caller(&headers)?;
    let Query(params) = params?;
    let body = body?;
    let commands = parse_batch(&body, state.0.ledger.now(), state.0.limits.batch_len_max)
        .inspect_err(|_| state.0.metrics.count("unknown", "malformed"))?;
    for command in &commands {
        permit(&caller, access_of(&command.body))?;
    }
    let receipts = state.submit(&caller, commands, false).await?;
    Ok(Json(BatchView { results: receipts.iter().map(|receipt| params.answer(receipt)).collect() }))
}

/// Dry run.
///
/// Decides one command against the current state as a submission now would, and records
/// nothing ("can this customer pay 8,000 now?").
#[utoipa::path(post, path = "/v1/check", tag = "commands",
    request_body(content = Object, description = "One command (docs/COMMANDS.md)", content_type = "application/json"),
    responses(
        (status = 200, description = "What a submission now would be answered", body = CheckView),
        (status = 400, body = ErrorView), (status = 401, body = ErrorView), (status = 403, body = ErrorView),
    ),
    security(("bearer" = [])))]
pub async fn post_check(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<CheckView>> {
    let caller = state.allowed(&headers, Access::Check)?;
    let body = body?;
    let command = parse_one(&body, state.0.ledger.now())?;
    permit(&caller, access_of(&command.body))?;
    let receipt = state.submit(&caller, vec![command], true).await?.pop().ok_or_else(|| {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "the writer returned no receipt")
    })?;
    Ok(Json(CheckView { answer: receipt.answer(), dry_run: true }))
}
