//! Reservations: accepted outflows not yet posted (held for verification or scheduled), and how
//! they end.

use serde::{Deserialize, Serialize};

use crate::ids::{AccountId, CommandId};
use crate::money::Amount;
use crate::policy::Flow;
use crate::posting::PostingKind;
use crate::protect::Arrival;
use crate::reject::RejectReason;
use crate::time::Timestamp;

/// Where a pending (held or scheduled) outflow stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Held for large-transaction verification until confirmed, declined or expired.
    AwaitingVerification { expires_at: Timestamp },
    /// A delayed transfer, executed at `due_at` unless cancelled.
    Scheduled { due_at: Timestamp },
}

impl Stage {
    /// When the ledger acts on its own: expiry or execution.
    pub fn due_at(self) -> Timestamp {
        match self {
            Stage::AwaitingVerification { expires_at } => expires_at,
            Stage::Scheduled { due_at } => due_at,
        }
    }
}

/// An accepted outflow not yet posted. Its funds and limit use were reserved at acceptance.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Reservation {
    /// The command that asked for it; later events about it carry this id too.
    pub id: CommandId,
    pub kind: PostingKind,
    pub account: AccountId,
    pub flow: Flow,
    /// The external account or merchant, if any.
    pub counterparty: Option<String>,
    pub amount: Amount,
    /// `None` for a real-time outflow held for verification.
    pub arrival: Option<Arrival>,
    /// When the limit use was counted.
    pub requested_at: Timestamp,
    pub stage: Stage,
    /// The policy buckets whose use it counted (released with it).
    pub buckets: Vec<String>,
    /// Counted in the personal per-day limit.
    pub personal: bool,
}

/// Why a reservation ended without a posting.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Release {
    /// The customer declined the held outflow.
    Declined,
    /// The hold was not confirmed in time.
    Expired,
    /// The customer cancelled the delayed transfer.
    Cancelled,
    /// Due, but stopped by a protection at execution (risk list, bank lock).
    Stopped { reason: RejectReason },
}

/// How a reservation came to be posted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Settlement {
    /// The customer confirmed the held real-time outflow.
    Confirmed,
    /// The delayed transfer came due.
    Due,
}
