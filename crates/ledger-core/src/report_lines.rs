//! The regulatory reports' lines, and where a [`Reporter`](crate::Reporter) hands them as it
//! makes them ([`ReportSink`]): collected whole ([`Reports`]), counted ([`LineCounts`]), or
//! written out by the caller one at a time, so a report of millions of lines is never held.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Serialize, Serializer};

use crate::ids::{AccountClass, AccountId, CommandId, CustomerId};
use crate::money::Amount;
use crate::policy::Flow;
use crate::time::Timestamp;

/// Money in or out of an account, counted apart (单边累计).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    In,
    Out,
}

impl Direction {
    pub(crate) fn of(flow: Flow) -> Direction {
        if flow.is_outflow() { Direction::Out } else { Direction::In }
    }

    pub fn name(self) -> &'static str {
        match self {
            Direction::In => "in",
            Direction::Out => "out",
        }
    }
}

/// The two large-value reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LargeValueKind {
    Cash,
    Transfer,
}

impl LargeValueKind {
    pub fn name(self) -> &'static str {
        match self {
            LargeValueKind::Cash => "cash",
            LargeValueKind::Transfer => "transfer",
        }
    }
}

/// A sum of amounts in fen, wide enough that no day's or window's total can overflow it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Total(pub u128);

impl Total {
    pub(crate) fn add(&mut self, amount: Amount) {
        self.0 += u128::from(amount.fen());
    }

    pub(crate) fn reaches(self, threshold: Amount) -> bool {
        self.0 >= u128::from(threshold.fen())
    }
}

impl fmt::Display for Total {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:02}", self.0 / 100, self.0 % 100)
    }
}

impl Serialize for Total {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// The record a report line comes from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Cite {
    pub seq: u64,
    /// The record's hash (hex): the line can be proved against a checkpoint.
    pub hash: String,
    pub at: Timestamp,
}

/// One transaction of a customer-day whose total reached a large-value threshold.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LargeValueLine {
    pub day: String,
    pub customer: CustomerId,
    pub kind: LargeValueKind,
    pub direction: Direction,
    /// The customer's total in this kind and direction on this day.
    pub day_total: Total,
    pub threshold: Amount,
    #[serde(flatten)]
    pub cite: Cite,
    pub account: AccountId,
    pub flow: Flow,
    pub amount: Amount,
    pub counterparty: Option<String>,
    pub source: String,
}

/// A customer's Class III inflows reaching the review threshold: the transaction that crossed it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ClassIiiReviewLine {
    pub day: String,
    pub customer: CustomerId,
    /// The first day of the window the total covers.
    pub window_from: String,
    pub window_total: Total,
    pub threshold: Amount,
    #[serde(flatten)]
    pub cite: Cite,
    pub account: AccountId,
    pub flow: Flow,
    pub amount: Amount,
    pub source: String,
}

/// One rejection the limit-hit report lists.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LimitHitLine {
    pub day: String,
    #[serde(flatten)]
    pub cite: Cite,
    pub command_id: CommandId,
    pub code: &'static str,
    pub account: Option<AccountId>,
    pub customer: Option<CustomerId>,
    pub class: Option<AccountClass>,
    /// `in/day`, `personal/per_day`, or the listed counterparty.
    pub bucket: String,
    pub cap: Option<Amount>,
    pub used: Option<Amount>,
    pub requested: Option<Amount>,
    pub detail: String,
}

/// One class on one day: accounts, money in and out, rejections by reason. A row with no class
/// counts rejections of commands that name no account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SummaryLine {
    pub day: String,
    pub class: Option<AccountClass>,
    /// Open at the end of the day.
    pub accounts_open: u64,
    pub opened: u64,
    pub closed: u64,
    pub inflow_count: u64,
    pub inflow: Total,
    pub outflow_count: u64,
    pub outflow: Total,
    pub rejections: BTreeMap<&'static str, u64>,
    /// The last record at or before the day's end: its hash commits to every line of the day.
    pub through_seq: u64,
    pub through_hash: String,
}

/// Every report over a range of Beijing days.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Reports {
    pub rules: String,
    pub from: String,
    pub to: String,
    pub large_value: Vec<LargeValueLine>,
    pub class_iii_review: Vec<ClassIiiReviewLine>,
    pub limit_hits: Vec<LimitHitLine>,
    pub daily_summary: Vec<SummaryLine>,
}

/// Where a [`Reporter`](crate::Reporter) hands each line as it makes it. Per kind, the lines
/// come in report order (the order [`Reports`] lists them in); lines of different kinds
/// interleave as the log is walked (a day's summary rows and large-value lines when the day ends,
/// review and limit-hit lines at their record).
pub trait ReportSink {
    fn large_value(&mut self, line: LargeValueLine);
    fn class_iii_review(&mut self, line: ClassIiiReviewLine);
    fn limit_hit(&mut self, line: LimitHitLine);
    fn daily_summary(&mut self, line: SummaryLine);
}

impl Reports {
    /// No lines yet, over the range `from..=to` under the thresholds named `rules`.
    pub fn empty(rules: &str, from: impl fmt::Display, to: impl fmt::Display) -> Reports {
        Reports { rules: rules.to_owned(), from: from.to_string(), to: to.to_string(), ..Reports::default() }
    }
}

/// Collects every line (for callers that want them whole: tests, small ranges).
impl ReportSink for Reports {
    fn large_value(&mut self, line: LargeValueLine) {
        self.large_value.push(line);
    }

    fn class_iii_review(&mut self, line: ClassIiiReviewLine) {
        self.class_iii_review.push(line);
    }

    fn limit_hit(&mut self, line: LimitHitLine) {
        self.limit_hits.push(line);
    }

    fn daily_summary(&mut self, line: SummaryLine) {
        self.daily_summary.push(line);
    }
}

/// Counts the lines of each kind and keeps none of them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LineCounts {
    pub large_value: u64,
    pub class_iii_review: u64,
    pub limit_hits: u64,
    pub daily_summary: u64,
}

impl LineCounts {
    pub fn total(&self) -> u64 {
        self.large_value + self.class_iii_review + self.limit_hits + self.daily_summary
    }
}

impl ReportSink for LineCounts {
    fn large_value(&mut self, _: LargeValueLine) {
        self.large_value += 1;
    }

    fn class_iii_review(&mut self, _: ClassIiiReviewLine) {
        self.class_iii_review += 1;
    }

    fn limit_hit(&mut self, _: LimitHitLine) {
        self.limit_hits += 1;
    }

    fn daily_summary(&mut self, _: SummaryLine) {
        self.daily_summary += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_print_as_yuan_and_fen() {
        assert_eq!(Total(5_000_000).to_string(), "50000.00");
        assert_eq!(Total(1).to_string(), "0.01");
        assert_eq!(Total(u128::from(u64::MAX) * 4).to_string(), "737869762948382064.60");
    }
}
