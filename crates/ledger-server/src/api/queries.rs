//! Queries over the read models: head, balance, usage, history, protections, accounts,
//! pending outflows, the risk list, the last hour's commits (`/v1/stats/recent`).

use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use ledger_core::{AccountId, Amount, CustomerId, EventBody, Timestamp};
use serde::Deserialize;
use utoipa::IntoParams;

use super::{ApiError, ApiResult, AppState, permit};
use crate::auth::{Access, Caller};
use crate::views::{
    AccountsView, BalanceView, ErrorView, HeadView, HistoryEntry, HistoryView, MinuteView, PendingView,
    ProtectionsView, RecentView, RejectionsView, RiskView, UsageView, WhoamiView,
};

/// The head.
#[utoipa::path(get, path = "/v1/head", tag = "queries",
    responses((status = 200, body = HeadView)), security(("bearer" = [])))]
pub async fn get_head(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Json<HeadView>> {
    permit(&caller, Access::Query)?;
    Ok(Json(state.blocking(|ledger| ledger.head()).await?.into()))
}

/// Who the token's holder is: its name and role.
#[utoipa::path(get, path = "/v1/whoami", tag = "queries",
    responses((status = 200, body = WhoamiView)), security(("bearer" = [])))]
pub async fn get_whoami(Extension(caller): Extension<Caller>) -> ApiResult<Json<WhoamiView>> {
    permit(&caller, Access::Query)?;
    Ok(Json(WhoamiView { name: caller.name.clone(), role: caller.role.name().to_owned() }))
}

fn unknown_account(account: AccountId) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("account {account} does not exist"))
}

/// An account's balance, reserved and available amounts.
#[utoipa::path(get, path = "/v1/accounts/{account}/balance", tag = "queries",
    params(("account" = u64, Path)),
    responses((status = 200, body = BalanceView), (status = 400, description = "malformed: the path or a query parameter", body = ErrorView),
        (status = 404, description = "not_found: no such account", body = ErrorView)),
    security(("bearer" = [])))]
pub async fn get_balance(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    account: Result<Path<u64>, PathRejection>,
) -> ApiResult<Json<BalanceView>> {
    permit(&caller, Access::Query)?;
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
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AtParams {
    /// RFC 3339 time (default: now).
    #[param(value_type = Option<String>)]
    pub at: Option<Timestamp>,
}

/// Limit use today and this year, per bucket, and what remains.
#[utoipa::path(get, path = "/v1/accounts/{account}/usage", tag = "queries",
    params(("account" = u64, Path), AtParams),
    responses((status = 200, body = UsageView), (status = 400, description = "malformed: the path or a query parameter", body = ErrorView),
        (status = 404, description = "not_found: no such account", body = ErrorView)),
    security(("bearer" = [])))]
pub async fn get_usage(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    account: Result<Path<u64>, PathRejection>,
    params: Result<Query<AtParams>, QueryRejection>,
) -> ApiResult<Json<UsageView>> {
    permit(&caller, Access::Query)?;
    let account = AccountId(account?.0);
    let at = params?.0.at;
    let report = state.blocking(move |ledger| ledger.usage_at(account, at.unwrap_or_else(|| ledger.now()))).await?;
    report.map(|report| Json(report.into())).ok_or_else(|| match at {
        Some(at) => ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("account {account} did not exist at {at} (unknown, or opened later)"),
        ),
        None => unknown_account(account),
    })
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
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
    responses((status = 200, body = HistoryView), (status = 400, description = "malformed: the path or a query parameter", body = ErrorView),
        (status = 404, description = "not_found: no such account", body = ErrorView)),
    security(("bearer" = [])))]
pub async fn get_history(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    account: Result<Path<u64>, PathRejection>,
    params: Result<Query<HistoryParams>, QueryRejection>,
) -> ApiResult<Json<HistoryView>> {
    permit(&caller, Access::Query)?;
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

/// How many of the latest records `GET /v1/accounts/{account}/rejections` reads at most.
pub const REJECTIONS_SCAN_MAX: u64 = 10_000;

/// The account's rejected commands among the latest records, newest first. Rejections touch no
/// account, so the history's index does not hold them: this reads back from the head, at most
/// [`REJECTIONS_SCAN_MAX`] records, and keeps the rejections whose command names the account
/// (as `account`, `from` or `to`).
#[utoipa::path(get, path = "/v1/accounts/{account}/rejections", tag = "queries",
    params(("account" = u64, Path)),
    responses((status = 200, body = RejectionsView), (status = 400, description = "malformed: the path or a query parameter", body = ErrorView),
        (status = 404, description = "not_found: no such account", body = ErrorView)),
    security(("bearer" = [])))]
pub async fn get_rejections(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    account: Result<Path<u64>, PathRejection>,
) -> ApiResult<Json<RejectionsView>> {
    permit(&caller, Access::Query)?;
    let account = AccountId(account?.0);
    let view = state
        .blocking(move |ledger| {
            if ledger.account(account)?.is_none() {
                return Ok(None);
            }
            let head = ledger.head()?.seq;
            let from = head.saturating_sub(REJECTIONS_SCAN_MAX - 1).max(1);
            let mut rejections = Vec::new();
            for seq in (from..=head).rev() {
                let event = ledger.event(seq)?;
                if let EventBody::Rejected { command, .. } = &event.body
                    && names_account(command, account)
                {
                    rejections.push(HistoryEntry { seq, event });
                }
            }
            Ok(Some(RejectionsView { account: account.0, rejections, scanned_from: from }))
        })
        .await?;
    view.map(Json).ok_or_else(|| unknown_account(account))
}

/// True when the command's JSON names `account` as `account`, `from` or `to`.
fn names_account(command: &ledger_core::CommandBody, account: AccountId) -> bool {
    let Ok(serde_json::Value::Object(body)) = serde_json::to_value(command) else { return false };
    let fields = body.values().filter_map(serde_json::Value::as_object);
    fields.chain(std::iter::once(&body)).any(|fields| {
        ["account", "from", "to"]
            .iter()
            .any(|key| fields.get(*key).and_then(serde_json::Value::as_u64) == Some(account.0))
    })
}

/// Security locks, personal limits, night lock and pending outflows of an account.
#[utoipa::path(get, path = "/v1/accounts/{account}/protections", tag = "queries",
    params(("account" = u64, Path)),
    responses((status = 200, body = ProtectionsView), (status = 400, description = "malformed: the path or a query parameter", body = ErrorView),
        (status = 404, description = "not_found: no such account", body = ErrorView)),
    security(("bearer" = [])))]
pub async fn get_protections(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    account: Result<Path<u64>, PathRejection>,
) -> ApiResult<Json<ProtectionsView>> {
    permit(&caller, Access::Query)?;
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

/// A customer's accounts, and per class their open ones against the caps of the policy in
/// force now.
#[utoipa::path(get, path = "/v1/customers/{customer}/accounts", tag = "queries",
    params(("customer" = u64, Path)),
    responses((status = 200, body = AccountsView), (status = 400, description = "malformed: the path or a query parameter", body = ErrorView)),
    security(("bearer" = [])))]
pub async fn get_accounts(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    customer: Result<Path<u64>, PathRejection>,
) -> ApiResult<Json<AccountsView>> {
    permit(&caller, Access::Query)?;
    let customer = customer?.0;
    let view = state
        .blocking(move |ledger| {
            let list = ledger.customer_accounts(CustomerId(customer))?;
            let policy = ledger.policy_at(ledger.now())?;
            Ok(AccountsView::new(customer, &list, policy.as_ref()))
        })
        .await?;
    Ok(Json(view))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PendingParams {
    /// Only this account's.
    pub account: Option<u64>,
}

/// Outflows held for verification or scheduled, of one account or all.
#[utoipa::path(get, path = "/v1/pending", tag = "queries", params(PendingParams),
    responses((status = 200, body = PendingView), (status = 400, description = "malformed: the path or a query parameter", body = ErrorView),
        (status = 404, description = "not_found: `account` names no account", body = ErrorView)),
    security(("bearer" = [])))]
pub async fn get_pending(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    params: Result<Query<PendingParams>, QueryRejection>,
) -> ApiResult<Json<PendingView>> {
    permit(&caller, Access::Query)?;
    let account = params?.0.account.map(AccountId);
    // An unknown account is 404, as on every other account query.
    let pending = state
        .blocking(move |ledger| match account {
            Some(account) if ledger.account(account)?.is_none() => Ok(Err(account)),
            _ => ledger.pending(account).map(Ok),
        })
        .await?
        .map_err(unknown_account)?;
    Ok(Json(PendingView { pending }))
}

/// Is a counterparty on the risk list?
#[utoipa::path(get, path = "/v1/risk-list/{counterparty}", tag = "queries",
    params(("counterparty" = String, Path)),
    responses((status = 200, body = RiskView), (status = 400, description = "malformed: the path or a query parameter", body = ErrorView)),
    security(("bearer" = [])))]
pub async fn get_risk(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    counterparty: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<RiskView>> {
    permit(&caller, Access::Query)?;
    let counterparty = counterparty?.0;
    let name = counterparty.clone();
    let listed = state.blocking(move |ledger| ledger.risk_listed(&name)).await?;
    Ok(Json(RiskView { counterparty, listed: listed.is_some(), listed_seq: listed }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RecentParams {
    /// How many minutes up to now, 1 to 60 (default 60).
    pub minutes: Option<u16>,
}

/// The last hour by minute (kept in memory since the server started): commands and batches
/// committed, commit latency p50/p99, rejections by reason. Oldest first.
#[utoipa::path(get, path = "/v1/stats/recent", tag = "queries", params(RecentParams),
    responses((status = 200, body = RecentView), (status = 400, description = "malformed: a query parameter, or `minutes` outside 1..=60", body = ErrorView)),
    security(("bearer" = [])))]
pub async fn get_recent(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    params: Result<Query<RecentParams>, QueryRejection>,
) -> ApiResult<Json<RecentView>> {
    permit(&caller, Access::Query)?;
    let minutes = usize::from(params?.0.minutes.unwrap_or(60));
    if !(1..=crate::history::MINUTES).contains(&minutes) {
        return Err(ApiError::malformed(format!("minutes must be 1 to {}", crate::history::MINUTES)));
    }
    let recent = state.0.metrics.history.recent(crate::history::this_minute(), minutes);
    Ok(Json(RecentView { minutes: recent.into_iter().map(MinuteView::from).collect() }))
}
