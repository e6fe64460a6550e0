//! The report cache (docs/FORMAT.md, "Report cache"): a reporter's state at the start of a
//! Beijing day, written by `ledger-cli report --cache FILE` after a run and read by the next, so
//! a report over the last day walks that day, not the log from genesis. A cache names the
//! rules it was made with (a cache of other rules is not used) and the record it ends at, by
//! sequence number and hash (a log without that record is refused, not reported on).
//!
//! The cache is authenticated (layout 2): HMAC-SHA256 under a key its writer keeps apart
//! (`report --cache-key FILE`), so one who can rewrite the cache but not read the key cannot
//! change a report through it. A cache of layouts 2 and 3 (which held every account's owner and
//! class: layout 4 reads them from the ledger's account read models) is not used, and replaced
//! once its code holds under the key; a file whose code does not hold, whatever its first byte
//! (a layout-1 cache, whose checksum was unkeyed, included), is never replaced
//! ([`report_cache_authentic`]).

use hmac::{KeyInit, Mac};
use ledger_core::{ReportRules, ReporterState};
use sha2::{Digest, Sha256};

use crate::codec;
use crate::error::{Error, Result};

/// The cache layout version (its first byte).
pub const REPORT_CACHE_VERSION: u8 = 4;
/// Domain tag of a cache's authentication code.
const REPORT_CACHE_DOMAIN: &[u8; 28] = b"tiered-ledger/report-cache/2";
/// The cache key's length (bytes).
pub const REPORT_CACHE_KEY_LEN: usize = 32;
const HEADER_LEN: usize = 1 + 32 + 32;

/// SHA-256 of the rules as JSON: a cache is used only with the rules it was made with.
fn rules_digest(rules: &ReportRules) -> Result<[u8; 32]> {
    let json = serde_json::to_vec(rules).map_err(|err| Error::Codec(err.to_string()))?;
    Ok(Sha256::digest(json).into())
}

/// `HMAC-SHA256(key, domain ‖ version ‖ rules digest ‖ body)`.
fn mac(key: &[u8; REPORT_CACHE_KEY_LEN], head: &[u8], body: &[u8]) -> Result<hmac::Hmac<sha2_11::Sha256>> {
    // HMAC takes a key of any length: this never fails.
    let mut mac = hmac::Hmac::<sha2_11::Sha256>::new_from_slice(key)
        .map_err(|err| Error::InvalidArgument(format!("the report cache key: {err}")))?;
    mac.update(REPORT_CACHE_DOMAIN);
    mac.update(head);
    mac.update(body);
    Ok(mac)
}

/// `version ‖ rules digest ‖ HMAC ‖ the state` (encoded by `codec`).
pub fn encode_report_cache(
    key: &[u8; REPORT_CACHE_KEY_LEN],
    rules: &ReportRules,
    state: &ReporterState,
) -> Result<Vec<u8>> {
    let body = codec::encode(state)?;
    let mut bytes = Vec::with_capacity(HEADER_LEN + body.len());
    bytes.push(REPORT_CACHE_VERSION);
    bytes.extend_from_slice(&rules_digest(rules)?);
    let code = mac(key, &bytes, &body)?.finalize().into_bytes();
    bytes.extend_from_slice(&code);
    bytes.extend_from_slice(&body);
    Ok(bytes)
}

/// How many leading bytes of a cache file [`report_cache_wanted`] looks at.
pub const REPORT_CACHE_HEADER_LEN: usize = HEADER_LEN;

/// From a cache file's first [`REPORT_CACHE_HEADER_LEN`] bytes (fewer if it is shorter), before
/// the rest is read: an error when it is no report cache (or empty), `false` when it is one of
/// another layout or other rules (not used: replaced, once [`report_cache_authentic`] holds),
/// `true` when the whole file must be read and decoded ([`decode_report_cache`] checks it all
/// again).
pub fn report_cache_wanted(rules: &ReportRules, head: &[u8]) -> Result<bool> {
    if head.len() < HEADER_LEN {
        return decode_report_cache(&[0; REPORT_CACHE_KEY_LEN], rules, head).map(|_| true);
    }
    match decode_report_cache(&[0; REPORT_CACHE_KEY_LEN], rules, &head[..HEADER_LEN]) {
        Ok(None) => Ok(false),
        Err(Error::InvalidArgument(why)) if why.starts_with("not a report cache") => Err(Error::InvalidArgument(why)),
        // Its layout and rules are this build's: the body decides.
        _ => Ok(true),
    }
}

/// Whether the cache read from `file` (from its first byte) was written under `key`: its
/// authentication code is computed a chunk at a time (memory bounded, whatever the file's
/// size) and compared. A file is replaced only when this holds: one that is not provably a
/// cache of this key (another program's file whose first byte happens to be a layout, a
/// layout-1 cache, whose checksum was unkeyed, a cache of another key) is left as it is.
/// Layouts 2 to 4 share the code's definition; a file shorter than the header is not one.
pub fn report_cache_authentic(key: &[u8; REPORT_CACHE_KEY_LEN], file: &mut impl std::io::Read) -> Result<bool> {
    let io = |err: std::io::Error| Error::Io(format!("reading the report cache: {err}"));
    let mut head = [0u8; HEADER_LEN];
    let mut got = 0;
    while got < HEADER_LEN {
        match file.read(&mut head[got..]).map_err(io)? {
            0 => return Ok(false),
            read => got += read,
        }
    }
    if !(2..=REPORT_CACHE_VERSION).contains(&head[0]) {
        return Ok(false);
    }
    let mut code = mac(key, &head[..33], &[])?;
    let mut chunk = vec![0u8; 1 << 16];
    loop {
        match file.read(&mut chunk).map_err(io)? {
            0 => break,
            read => code.update(&chunk[..read]),
        }
    }
    Ok(code.verify_slice(&head[33..HEADER_LEN]).is_ok())
}

/// The state in a cache made with `rules` under `key`; `None` for a cache of other rules or
/// another layout version (not used; the report walks from genesis and the cache is replaced,
/// once [`report_cache_authentic`] holds).
/// A damaged cache, or one written under another key or changed since, is an error.
pub fn decode_report_cache(
    key: &[u8; REPORT_CACHE_KEY_LEN],
    rules: &ReportRules,
    bytes: &[u8],
) -> Result<Option<ReporterState>> {
    let damaged = |detail: &str| {
        Error::InvalidArgument(format!("the report cache is damaged: {detail}; delete it, it is derived data"))
    };
    // Not a report cache of any layout (an empty file such as a database's fresh write-ahead
    // log, a saved report, another program's file): never replaced, and never called derived
    // data to delete. A cache is written whole and renamed into place: never empty nor short.
    let not_a_cache = |why: String| {
        Error::InvalidArgument(format!(
            "not a report cache ({why}): left as it is; choose another path for --cache (a file of its own, or \
             one that does not exist yet)"
        ))
    };
    if bytes.is_empty() {
        return Err(not_a_cache("it is empty".into()));
    }
    if !(1..=REPORT_CACHE_VERSION).contains(&bytes[0]) {
        return Err(not_a_cache(format!(
            "it starts with byte {:#04x}; report caches start with their layout, 1 to {REPORT_CACHE_VERSION}",
            bytes[0]
        )));
    }
    if bytes.len() < HEADER_LEN {
        return Err(not_a_cache(format!(
            "{} bytes, shorter than a report cache's {HEADER_LEN}-byte header",
            bytes.len()
        )));
    }
    if bytes[0] != REPORT_CACHE_VERSION || bytes[1..33] != rules_digest(rules)? {
        return Ok(None);
    }
    let body = &bytes[HEADER_LEN..];
    mac(key, &bytes[..33], body)?.verify_slice(&bytes[33..HEADER_LEN]).map_err(|_| {
        Error::InvalidArgument(
            "the report cache's authentication code does not hold under this --cache-key: written under \
             another key, or damaged: left as it is; give the key it was written under, or, if it is damaged, \
             delete it (derived data)"
                .into(),
        )
    })?;
    codec::decode(body).map(Some).map_err(|err| damaged(&err))
}
