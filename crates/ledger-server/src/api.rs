//! The routes and their handlers. Each handler is a flat list of guards in a fixed order:
//! token (401), body size (413), parse (400), role (403), queue room (503), then the ledger.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ledger_core::{AccountId, Amount, Command, CommandJson, CustomerId, Timestamp, parse_command};
use ledger_store::{Answer, AnswerStatus, Error as StoreError, Ledger, Receipt};
use serde::Deserialize;
use tokio::sync::{Semaphore, watch};
use utoipa::IntoParams;

use crate::auth::{Access, Caller, Tokens, access_of};
use crate::config::Limits;
use crate::metrics::Metrics;
use crate::views::{
    AccountsView, BalanceView, BatchView, CheckView, ErrorView, EventsView, HeadView, HistoryEntry, HistoryView,
    PendingView, ProtectionsView, RiskView, StatusView, UsageView,
};

/// What every handler shares.
#[derive(Clone, Debug)]
pub struct AppState(pub Arc<Shared>);

#[derive(Debug)]
pub struct Shared {
    pub ledger: Ledger,
    pub tokens: Tokens,
    pub limits: Limits,
    pub metrics: Arc<Metrics>,
    /// The durable head's seq, moved by the writer after every batch.
    pub head: watch::Receiver<u64>,
    /// Room in the writer's queue, in commands.
    pub queue: Arc<Semaphore>,
    /// False once shutdown began: `/readyz` answers 503.
    pub ready: AtomicBool,
}

/// An error answer: a status and an [`ErrorView`].
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    view: ErrorView,
    retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, error: &str, detail: impl Into<String>) -> ApiError {
        ApiError { status, view: ErrorView { error: error.into(), detail: detail.into() }, retry_after: None }
    }

    fn malformed(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "malformed", detail)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.view)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> ApiError {
        match err {
            StoreError::InvalidArgument(detail) => ApiError::malformed(detail),
            StoreError::Core(err) => ApiError::malformed(err.to_string()),
            StoreError::Stopped(detail) => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", detail),
            StoreError::Fenced(detail) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "fenced",
                format!("{detail}; retry with the same ids against the writer now in charge"),
            ),
            StoreError::Io(detail) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "storage",
                format!("{detail}; nothing of this request was recorded: retry it with the same ids"),
            ),
            other => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", other.to_string()),
        }
    }
}

impl From<BytesRejection> for ApiError {
    fn from(rejection: BytesRejection) -> ApiError {
        match rejection.status() {
            StatusCode::PAYLOAD_TOO_LARGE => {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", rejection.body_text())
            }
            _ => ApiError::malformed(rejection.body_text()),
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> ApiError {
        ApiError::malformed(rejection.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> ApiError {
        ApiError::malformed(rejection.body_text())
    }
}

type ApiResult<T> = Result<T, ApiError>;

impl AppState {
    /// Guard 1: a known bearer token (401), then guard 4 for requests whose access is known
    /// before parsing: the role (403).
    fn caller(&self, headers: &HeaderMap) -> ApiResult<Caller> {
        let token = headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .ok_or_else(|| {
                ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "send Authorization: Bearer TOKEN")
            })?;
        self.0
            .tokens
            .caller(token.trim())
            .cloned()
            .ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "the token is not accepted"))
    }

    fn allowed(&self, headers: &HeaderMap, access: Access) -> ApiResult<Caller> {
        let caller = self.caller(headers)?;
        permit(&caller, access)?;
        Ok(caller)
    }

    /// Runs blocking ledger work off the async threads.
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Ledger) -> ledger_store::Result<T> + Send + 'static,
    ) -> ApiResult<T> {
        let ledger = self.0.ledger.clone();
        tokio::task::spawn_blocking(move || work(&ledger))
            .await
            .map_err(|err| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", err.to_string()))?
            .map_err(ApiError::from)
    }

    /// Guards 5 and on: room in the queue (503), then the writer; counts the answers.
    async fn submit(&self, commands: Vec<Command>, dry_run: bool) -> ApiResult<Vec<Receipt>> {
        let count = u32::try_from(commands.len()).unwrap_or(u32::MAX);
        let permit = Arc::clone(&self.0.queue).try_acquire_many_owned(count).map_err(|_| {
            for command in &commands {
                self.0.metrics.count(command.body.kind(), "refused");
            }
            ApiError {
                retry_after: Some(1),
                ..ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "busy",
                    "the writer's queue is full; retry after a second with the same ids",
                )
            }
        })?;
        let kinds: Vec<&'static str> = commands.iter().map(|command| command.body.kind()).collect();
        let started = Instant::now();
        let receipts = if dry_run {
            self.blocking(move |ledger| commands.into_iter().map(|command| ledger.check(command)).collect()).await
        } else {
            // Straight to the writer's queue: no thread waits; the writer hands the receipts
            // back once the batch is durable.
            let (tx, rx) = tokio::sync::oneshot::channel();
            self.0.ledger.submit_batch_then(commands, move |receipts| {
                let _ = tx.send(receipts);
            });
            match rx.await {
                Ok(receipts) => receipts.map_err(ApiError::from),
                Err(_) => Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "the writer stopped")),
            }
        };
        drop(permit);
        let receipts = receipts?;
        if !dry_run {
            self.0.metrics.commit_seconds.observe(started.elapsed().as_secs_f64());
            for (kind, receipt) in kinds.iter().zip(&receipts) {
                self.0.metrics.count(kind, outcome(receipt));
            }
        }
        Ok(receipts)
    }
}

fn permit(caller: &Caller, access: Access) -> ApiResult<()> {
    if caller.role.may(access) {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::FORBIDDEN,
        "forbidden",
        format!("the {} role may not do this ({access:?})", caller.role.name()),
    ))
}

fn outcome(receipt: &Receipt) -> &'static str {
    match receipt.status() {
        AnswerStatus::Accepted => "accepted",
        AnswerStatus::Rejected => "rejected",
        AnswerStatus::Duplicate => "duplicate",
        AnswerStatus::Conflict => "conflict",
    }
}

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
    let receipt = state.submit(vec![command], false).await?.pop().ok_or_else(|| {
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
    let receipts = state.submit(commands, false).await?;
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
    let receipt = state.submit(vec![command], true).await?.pop().ok_or_else(|| {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "the writer returned no receipt")
    })?;
    Ok(Json(CheckView { answer: receipt.answer(), dry_run: true }))
}

/// The head.
#[utoipa::path(get, path = "/v1/head", tag = "queries",
    responses((status = 200, body = HeadView), (status = 401, body = ErrorView)), security(("bearer" = [])))]
pub async fn get_head(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Json<HeadView>> {
    state.allowed(&headers, Access::Query)?;
    Ok(Json(state.blocking(|ledger| ledger.head()).await?.into()))
}

fn unknown_account(account: AccountId) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("account {account} does not exist"))
}

/// An account's balance, reserved and available amounts.
#[utoipa::path(get, path = "/v1/accounts/{account}/balance", tag = "queries",
    params(("account" = u64, Path)),
    responses((status = 200, body = BalanceView), (status = 404, body = ErrorView)), security(("bearer" = [])))]
pub async fn get_balance(
    State(state): State<AppState>,
    headers: HeaderMap,
    account: Result<Path<u64>, PathRejection>,
) -> ApiResult<Json<BalanceView>> {
    state.allowed(&headers, Access::Query)?;
    let account = AccountId(account?.0);
    let found = state
        .blocking(move |ledger| {
            let Some(found) = ledger.account(account)? else { return Ok(None) };
            let reserved = ledger.protections(account)?.map_or(Amount::ZERO, |p| p.reserved);
            Ok(Some(BalanceView::new(&found, reserved)))
        })
        .await?;
    found.map(Json).ok_or_else(|| unknown_account(account))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AtParams {
    /// RFC 3339 time (default: now).
    #[param(value_type = Option<String>)]
    pub at: Option<Timestamp>,
}

/// Limit use today and this year, per bucket, and what remains.
#[utoipa::path(get, path = "/v1/accounts/{account}/usage", tag = "queries",
    params(("account" = u64, Path), AtParams),
    responses((status = 200, body = UsageView), (status = 404, body = ErrorView)), security(("bearer" = [])))]
pub async fn get_usage(
    State(state): State<AppState>,
    headers: HeaderMap,
    account: Result<Path<u64>, PathRejection>,
    params: Result<Query<AtParams>, QueryRejection>,
) -> ApiResult<Json<UsageView>> {
    state.allowed(&headers, Access::Query)?;
    let account = AccountId(account?.0);
    let at = params?.0.at;
    let report = state.blocking(move |ledger| ledger.usage_at(account, at.unwrap_or_else(|| ledger.now()))).await?;
    report.map(|report| Json(report.into())).ok_or_else(|| unknown_account(account))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct HistoryParams {
    #[param(value_type = Option<String>)]
    pub from: Option<Timestamp>,
    #[param(value_type = Option<String>)]
    pub to: Option<Timestamp>,
    /// The previous page's `next_after`.
    pub after: Option<u64>,
    /// Entries per page (default 50, at most 1,000).
    pub limit: Option<usize>,
}

/// The events that touched an account, oldest first, paged.
#[utoipa::path(get, path = "/v1/accounts/{account}/history", tag = "queries",
    params(("account" = u64, Path), HistoryParams),
    responses((status = 200, body = HistoryView), (status = 404, body = ErrorView)), security(("bearer" = [])))]
pub async fn get_history(
    State(state): State<AppState>,
    headers: HeaderMap,
    account: Result<Path<u64>, PathRejection>,
    params: Result<Query<HistoryParams>, QueryRejection>,
) -> ApiResult<Json<HistoryView>> {
    state.allowed(&headers, Access::Query)?;
    let account = AccountId(account?.0);
    let Query(params) = params?;
    let limit = params.limit.unwrap_or(50);
    if !(1..=1_000).contains(&limit) {
        return Err(ApiError::malformed("limit must be between 1 and 1000"));
    }
    let page = state
        .blocking(move |ledger| {
            if ledger.account(account)?.is_none() {
                return Ok(None);
            }
            ledger.history(account, params.from, params.to, params.after, limit).map(Some)
        })
        .await?
        .ok_or_else(|| unknown_account(account))?;
    let entries = page.entries.into_iter().map(|(seq, event)| HistoryEntry { seq, event }).collect();
    Ok(Json(HistoryView { account: account.0, entries, next_after: page.next_after_seq }))
}

/// Security locks, personal limits, night lock and pending outflows of an account.
#[utoipa::path(get, path = "/v1/accounts/{account}/protections", tag = "queries",
    params(("account" = u64, Path)),
    responses((status = 200, body = ProtectionsView), (status = 404, body = ErrorView)), security(("bearer" = [])))]
pub async fn get_protections(
    State(state): State<AppState>,
    headers: HeaderMap,
    account: Result<Path<u64>, PathRejection>,
) -> ApiResult<Json<ProtectionsView>> {
    state.allowed(&headers, Access::Query)?;
    let account = AccountId(account?.0);
    let view = state
        .blocking(move |ledger| {
            let Some(found) = ledger.account(account)? else { return Ok(None) };
            let protections = ledger.protections(account)?.unwrap_or_default();
            let pending = ledger.pending(Some(account))?;
            let available = found.balance.checked_sub(protections.reserved).unwrap_or(Amount::ZERO);
            Ok(Some(ProtectionsView { account: account.0, balance: found.balance, available, protections, pending }))
        })
        .await?;
    view.map(Json).ok_or_else(|| unknown_account(account))
}

/// A customer's accounts.
#[utoipa::path(get, path = "/v1/customers/{customer}/accounts", tag = "queries",
    params(("customer" = u64, Path)),
    responses((status = 200, body = AccountsView)), security(("bearer" = [])))]
pub async fn get_accounts(
    State(state): State<AppState>,
    headers: HeaderMap,
    customer: Result<Path<u64>, PathRejection>,
) -> ApiResult<Json<AccountsView>> {
    state.allowed(&headers, Access::Query)?;
    let customer = customer?.0;
    let list = state.blocking(move |ledger| ledger.customer_accounts(CustomerId(customer))).await?;
    Ok(Json(AccountsView::new(customer, &list)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PendingParams {
    /// Only this account's.
    pub account: Option<u64>,
}

/// Outflows held for verification or scheduled, of one account or all.
#[utoipa::path(get, path = "/v1/pending", tag = "queries", params(PendingParams),
    responses((status = 200, body = PendingView)), security(("bearer" = [])))]
pub async fn get_pending(
    State(state): State<AppState>,
    headers: HeaderMap,
    params: Result<Query<PendingParams>, QueryRejection>,
) -> ApiResult<Json<PendingView>> {
    state.allowed(&headers, Access::Query)?;
    let account = params?.0.account.map(AccountId);
    let pending = state.blocking(move |ledger| ledger.pending(account)).await?;
    Ok(Json(PendingView { pending }))
}

/// Is a counterparty on the risk list?
#[utoipa::path(get, path = "/v1/risk-list/{counterparty}", tag = "queries",
    params(("counterparty" = String, Path)),
    responses((status = 200, body = RiskView)), security(("bearer" = [])))]
pub async fn get_risk(
    State(state): State<AppState>,
    headers: HeaderMap,
    counterparty: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<RiskView>> {
    state.allowed(&headers, Access::Query)?;
    let counterparty = counterparty?.0;
    let name = counterparty.clone();
    let listed = state.blocking(move |ledger| ledger.risk_listed(&name)).await?;
    Ok(Json(RiskView { counterparty, listed: listed.is_some(), listed_seq: listed }))
}

#[derive(Debug, Deserialize, IntoParams)]
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

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, body = StatusView)))]
pub async fn get_healthz(State(state): State<AppState>) -> Json<StatusView> {
    Json(StatusView { status: "ok".into(), head_seq: *state.0.head.borrow() })
}

/// Readiness: the ledger is open, its writer answers, and the server is not shutting down.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, body = StatusView), (status = 503, body = ErrorView)))]
pub async fn get_readyz(State(state): State<AppState>) -> ApiResult<Json<StatusView>> {
    if !state.0.ready.load(Ordering::Relaxed) {
        return Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "shutting down"));
    }
    state.blocking(|ledger| ledger.stats()).await?;
    Ok(Json(StatusView { status: "ready".into(), head_seq: *state.0.head.borrow() }))
}

/// Prometheus metrics (text format).
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text exposition", content_type = "text/plain", body = String)))]
pub async fn get_metrics(State(state): State<AppState>) -> Response {
    let shared = &state.0;
    let waiting = shared.limits.queue_commands_max.saturating_sub(shared.queue.available_permits());
    shared.metrics.queue_commands.set(i64::try_from(waiting).unwrap_or(i64::MAX));
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], shared.metrics.encode())
        .into_response()
}

/// Not a route: 404 in the error shape.
pub async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route (see /v1/openapi.json)")
}
