//! The report cache (docs/FORMAT.md, "Report cache"): a reporter's state at the start of a
//! Beijing day, written by `ledger-cli report --cache FILE` after a run and read by the next, so
//! a report over the last day walks that day, not the log from genesis. A cache names the
//! rules it was made with (a cache of other rules is not used) and the record it ends at, by
//! sequence number and hash (a log without that record is refused, not reported on).

use ledger_core::{ReportRules, ReporterState};
use sha2::{Digest, Sha256};

use crate::codec;
use crate::error::{Error, Result};

/// The cache layout version (its first byte).
pub const REPORT_CACHE_VERSION: u8 = 1;
/// Domain tag of a cache checksum.
const REPORT_CACHE_DOMAIN: &[u8; 28] = b"tiered-ledger/report-cache/1";
const HEADER_LEN: usize = 1 + 32 + 32;

/// SHA-256 of the rules as JSON: a cache is used only with the rules it was made with.
fn rules_digest(rules: &ReportRules) -> Result<[u8; 32]> {
    let json = serde_json::to_vec(rules).map_err(|err| Error::Codec(err.to_string()))?;
    Ok(Sha256::digest(json).into())
}

fn checksum(body: &[u8]) -> [u8; 32] {
    Sha256::new().chain_update(REPORT_CACHE_DOMAIN).chain_update(body).finalize().into()
}

/// `version ‖ rules digest ‖ checksum ‖ the state` (encoded by `codec`).
pub fn encode_report_cache(rules: &ReportRules, state: &ReporterState) -> Result<Vec<u8>> {
    let body = codec::encode(state)?;
    let mut bytes = Vec::with_capacity(HEADER_LEN + body.len());
    bytes.push(REPORT_CACHE_VERSION);
    bytes.extend_from_slice(&rules_digest(rules)?);
    bytes.extend_from_slice(&checksum(&body));
    bytes.extend_from_slice(&body);
    Ok(bytes)
}

/// The state in a cache made with `rules`; `None` for a cache of other rules or another layout
/// version (not used; the report walks from genesis and the cache is replaced). A damaged cache
/// is an error.
pub fn decode_report_cache(rules: &ReportRules, bytes: &[u8]) -> Result<Option<ReporterState>> {
    let damaged = |detail: &str| Error::InvalidArgument(format!("the report cache is damaged: {detail}"));
    if bytes.len() < HEADER_LEN {
        return Err(damaged("shorter than its header"));
    }
    if bytes[0] != REPORT_CACHE_VERSION || bytes[1..33] != rules_digest(rules)? {
        return Ok(None);
    }
    let body = &bytes[HEADER_LEN..];
    if bytes[33..HEADER_LEN] != checksum(body) {
        return Err(damaged("its checksum does not hold"));
    }
    codec::decode(body).map(Some).map_err(|err| damaged(&err))
}
