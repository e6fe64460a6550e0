//! What a [`Reporter`](crate::Reporter) knows at the start of a Beijing day, apart from any
//! range: the open counts, the Class III windows and the policy versions, after every record
//! before that day (not the accounts' owners and classes: the store holds those). Saved (ledger-store's report cache), a report
//! over later days resumes from it instead of walking the log from genesis, with the same lines.

use serde::{Deserialize, Serialize};

use crate::ids::{AccountClass, CustomerId};
use crate::time::{BeijingDay, Timestamp};

/// A reporter's range-independent state at the start of `next_day` (docs/FORMAT.md, "Report
/// cache"). Lists are sorted, so equal states have equal bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReporterState {
    /// The first day whose records are not included: a report from this day on may resume here.
    pub next_day: BeijingDay,
    /// The last record included (sequence number, hash); `None` when there was none.
    pub last: Option<(u64, [u8; 32])>,
    /// The Beijing day of that record.
    pub day: Option<BeijingDay>,
    /// Open accounts per class.
    pub open: Vec<(AccountClass, u64)>,
    /// Each customer's Class III inflow window.
    pub windows: Vec<WindowState>,
    /// Policy versions seen so far, by effective time, with their citation.
    pub policies: Vec<(Timestamp, String)>,
}

/// A customer's Class III inflow window.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowState {
    pub customer: CustomerId,
    /// The days in the window with their inflow (fen), oldest first.
    pub days: Vec<(BeijingDay, u128)>,
    /// The window's total (fen).
    pub total: u128,
    /// Reported, and still at or above the threshold.
    pub flagged: bool,
}
