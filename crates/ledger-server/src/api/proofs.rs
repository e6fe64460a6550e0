//! The auditors' checkpoints and proofs (docs/FORMAT.md, "Checkpoints and proofs"): the same
//! signed note and proof documents `ledger-cli checkpoint`, `prove` and `prove-consistency`
//! write, made by the same ledger-store functions, so `ledger-cli check-proof` and
//! tools/verify_proof.py accept what these answer.

use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Extension, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use ledger_store::{ConsistencyProof, InclusionProof};
use serde::Deserialize;
use utoipa::IntoParams;

use super::{ApiError, ApiResult, AppState, permit};
use crate::auth::{Access, Caller};
use crate::views::ErrorView;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SizeParams {
    /// The tree of the records 1 to `size` (at most the head; default: the head).
    pub size: Option<u64>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CheckpointParams {
    /// The tree of the records 1 to `size` (at most the head; default: the latest recorded
    /// checkpoint, or with `fresh` the head).
    pub size: Option<u64>,
    /// Sign one now (with `checkpoint_key`) rather than serve one the writer recorded; always
    /// so on a server that records none (`checkpoint_every` = 0).
    pub fresh: Option<bool>,
}

/// A checkpoint (C2SP signed note). On a server that records checkpoints (`checkpoint_every`),
/// one the writer recorded in the log: the latest, or the one of the tree of the first `size`
/// records. Otherwise, or with `fresh=true`, one signed now with `checkpoint_key`, of the ledger
/// at its head or of the first `size` records (its head is record `size`).
#[utoipa::path(get, path = "/v1/checkpoints", tag = "proofs", params(CheckpointParams),
    responses((status = 200, description = "the signed note", content_type = "text/plain", body = String),
        (status = 400, description = "malformed: a query parameter, or `size` beyond the head", body = ErrorView),
        (status = 404, description = "no_recorded_checkpoint: none of that size (the detail names the nearest recorded sizes), or none recorded in the last 100,000 records", body = ErrorView),
        (status = 409, description = "no_checkpoint_key: the server has none configured, or the recorded checkpoint is unsigned", body = ErrorView)),
    security(("bearer" = [])))]
pub async fn get_checkpoint(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    params: Result<Query<CheckpointParams>, QueryRejection>,
) -> ApiResult<impl IntoResponse> {
    permit(&caller, Access::Query)?;
    let CheckpointParams { size, fresh } = params?.0;
    if state.0.records_checkpoints && !fresh.unwrap_or(false) {
        return recorded_checkpoint(&state, size).await;
    }
    let key = state.0.checkpoint_key.clone().ok_or_else(|| {
        ApiError::new(
            StatusCode::CONFLICT,
            "no_checkpoint_key",
            "this server has no checkpoint_key configured (docs/SERVER.md)",
        )
    })?;
    let text = state
        .blocking(move |ledger| {
            let size = match size {
                Some(size) => size,
                None => ledger.head()?.seq,
            };
            ledger.checkpoint_at(&key, size, ledger.now(), false)?.to_text()
        })
        .await?;
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text))
}

/// The checkpoint the writer recorded of `size` records (default: the latest), as its note.
async fn recorded_checkpoint(
    state: &AppState,
    size: Option<u64>,
) -> ApiResult<([(header::HeaderName, &'static str); 1], String)> {
    let found = state
        .blocking(move |ledger| {
            let head = ledger.head()?.seq;
            if let Some(size) = size.filter(|size| *size > head) {
                return Ok(Err(ApiError::malformed(format!("size {size} is beyond the head ({head})"))));
            }
            let found = match size {
                Some(size) => ledger.recorded_checkpoint(size)?,
                None => ledger.latest_recorded_checkpoint()?,
            };
            let Some(found) = found else {
                let detail = match size {
                    Some(size) => {
                        let (below, above) = ledger.nearest_recorded_sizes(size)?;
                        let name = |size: Option<u64>| size.map_or("none".to_owned(), |size| size.to_string());
                        format!("no checkpoint of size {size} is recorded (nearest: {} below, {} above)", name(below), name(above))
                    }
                    None => format!(
                        "no checkpoint is recorded in the last {} records",
                        ledger_store::RECORDED_CHECKPOINT_SEARCH_MAX
                    ),
                };
                return Ok(Err(ApiError::new(StatusCode::NOT_FOUND, "no_recorded_checkpoint", detail)));
            };
            Ok(found.note.ok_or_else(|| {
                let detail = format!(
                    "the recorded checkpoint of size {} (seq {}) is unsigned: no checkpoint_key when it was recorded; its root is {}",
                    found.size, found.seq, found.root
                );
                ApiError::new(StatusCode::CONFLICT, "no_checkpoint_key", detail)
            }))
        })
        .await??;
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], found))
}

/// The inclusion proof of record `seq` in the tree of the first `size` records: the document
/// `ledger-cli prove` writes.
#[utoipa::path(get, path = "/v1/proofs/inclusion/{seq}", tag = "proofs",
    params(("seq" = u64, Path), SizeParams),
    responses((status = 200, body = InclusionProof),
        (status = 400, description = "malformed: the path or a query parameter, `size` beyond the head, or `seq` not in 1 to `size`", body = ErrorView)),
    security(("bearer" = [])))]
pub async fn get_inclusion_proof(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    seq: Result<Path<u64>, PathRejection>,
    params: Result<Query<SizeParams>, QueryRejection>,
) -> ApiResult<Json<InclusionProof>> {
    permit(&caller, Access::Query)?;
    let seq = seq?.0;
    let size = params?.0.size;
    let proof = state
        .blocking(move |ledger| {
            let size = match size {
                Some(size) => size,
                None => ledger.head()?.seq,
            };
            ledger.inclusion_proof_document(seq, size)
        })
        .await?;
    Ok(Json(proof))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyParams {
    /// The old tree's size (at least 1).
    pub from: u64,
    /// The new tree's size (at least `from`, at most the head).
    pub to: u64,
}

/// The proof that the tree of the first `to` records extends the one of `from`: the document
/// `ledger-cli prove-consistency` writes.
#[utoipa::path(get, path = "/v1/proofs/consistency", tag = "proofs", params(ConsistencyParams),
    responses((status = 200, body = ConsistencyProof),
        (status = 400, description = "malformed: a query parameter missing or odd, or not 1 ≤ `from` ≤ `to` ≤ the head", body = ErrorView)),
    security(("bearer" = [])))]
pub async fn get_consistency_proof(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    params: Result<Query<ConsistencyParams>, QueryRejection>,
) -> ApiResult<Json<ConsistencyProof>> {
    permit(&caller, Access::Query)?;
    let ConsistencyParams { from, to } = params?.0;
    Ok(Json(state.blocking(move |ledger| ledger.consistency_proof_document(from, to)).await?))
}
