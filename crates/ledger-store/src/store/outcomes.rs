//! What the store hands out, engine-free: the chain's head, the reports of verify, replay and
//! migrate, a page of history.

use ledger_core::{AccountId, Event};

use crate::codec::{GENESIS_PREV, Hash};
use crate::error::{Error, Result};

/// The chain's head: the last sequence number and its hash (seq 0 and zeros when empty).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Head {
    pub seq: u64,
    pub hash: Hash,
}

impl Head {
    /// The head of an empty ledger.
    pub const EMPTY: Head = Head { seq: 0, hash: GENESIS_PREV };

    /// `SEQ:HEX`, the form auditors record and `--expect-head` takes.
    pub fn to_text(&self) -> String {
        format!("{}:{}", self.seq, hex::encode(self.hash))
    }

    /// Parses `SEQ:HEX`, SEQ in the canonical decimal form [`Head::to_text`] writes: digits only,
    /// no sign, padding or leading zero (`+5`, `005`, ` 5` are refused: a head is compared as
    /// written, and one recorded by hand must not pass for another).
    pub fn parse(text: &str) -> Result<Head> {
        let bad = || {
            Error::InvalidArgument(format!(
                "expected SEQ:HASH (SEQ in decimal digits without sign, spaces or leading zeros; 64 hex digits), got \
                 {text:?}"
            ))
        };
        let (seq, hash) = text.split_once(':').ok_or_else(bad)?;
        let canonical =
            !seq.is_empty() && seq.bytes().all(|b| b.is_ascii_digit()) && (seq == "0" || !seq.starts_with('0'));
        if !canonical {
            return Err(bad());
        }
        let seq = seq.parse().map_err(|_| bad())?;
        // Exactly the 64 hex digits (no spaces around them: a head is one token).
        let bytes = hex::decode(hash).map_err(|_| bad())?;
        let hash: Hash = bytes.try_into().map_err(|_| bad())?;
        Ok(Head { seq, hash })
    }
}

/// What `verify` walked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyReport {
    pub from_seq: u64,
    pub events_checked: u64,
    /// Recorded checkpoints among them, each checked (with the key, when one was given, each
    /// signed by it).
    pub checkpoints_checked: u64,
    pub head: Head,
}

/// One difference between the stored read models and a replay of the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mismatch {
    /// The account the difference is in; `None` for a ledger-wide read model or index.
    pub account: Option<AccountId>,
    pub field: String,
    pub expected: String,
    pub found: String,
}

/// What a replay from genesis found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplayReport {
    pub events: u64,
    pub head: Head,
    pub mismatches: Vec<Mismatch>,
}

/// What `Ledger::migrate` is doing when it reports progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MigrateStage {
    /// Copying records (progress: the last sequence number copied).
    Copy,
    /// Rebuilding the read models from the copy (progress: events applied).
    Rebuild,
}

/// What `Ledger::migrate` copied and proved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MigrateReport {
    /// The source's head, which the copy verified against from genesis.
    pub head: Head,
    pub records: u64,
    pub events_verified: u64,
    /// The replay after the read models were rebuilt from the copy.
    pub replay: ReplayReport,
}

/// A page of an account's history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryPage {
    pub entries: Vec<(u64, Event)>,
    /// Pass as `after_seq` to get the next page; `None` when this is the last.
    pub next_after_seq: Option<u64>,
}
