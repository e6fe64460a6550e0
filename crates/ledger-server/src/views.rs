//! The JSON bodies the server answers with (the same keys as `ledger-cli --json`), and their
//! OpenAPI schemas. Money is a decimal string in yuan ("10000.00"), never a float.

use ledger_core::{Account, Amount, Binding, Event, Protections, Reservation};
use ledger_store::{Answer, BucketReport, Head, UsageReport};
use serde::Serialize;
use utoipa::ToSchema;

/// An error: a stable code a program can act on, and the reason in words.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ErrorView {
    /// `unauthorized`, `forbidden`, `malformed`, `too_large`, `batch_too_long`, `busy`,
    /// `not_found`, `ahead_of_head`, `timeout`, `unavailable`, `storage`, `fenced`,
    /// `not_writer`.
    pub error: String,
    pub detail: String,
    /// A refused batch element: its place among the batch's commands, from 0 (blank lines of
    /// JSON Lines not counted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
    /// A refused batch element in JSON Lines: its line, from 1 (blank lines counted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// `not_writer` (a standby refusing a write): the writer lease's holder, when one holds it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub writer: Option<Box<WriterView>>,
}

/// The server holding the writer lease, as it names itself in the lease.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct WriterView {
    /// Its `[lease] name` (default: its process id and listen address).
    pub name: String,
    /// Where it answers (its `[lease] advertise_url`), when it says.
    pub url: Option<String>,
}

/// The log's head: the last record's sequence number and hash.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct HeadView {
    pub seq: u64,
    /// Hex SHA-256 of the last record (64 zeros for an empty log).
    pub hash: String,
    /// `SEQ:HASH`, as `ledger-cli verify --expect-head` takes it.
    pub head: String,
}

impl From<Head> for HeadView {
    fn from(head: Head) -> HeadView {
        HeadView { seq: head.seq, hash: hex::encode(head.hash), head: head.to_text() }
    }
}

/// The answers to a batch, one per command, in order.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct BatchView {
    pub results: Vec<BatchAnswer>,
}

/// One command's answer in a batch, with the command's `id` (and its `line` in JSON Lines), as
/// `ledger-cli import --results` writes them.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct BatchAnswer {
    /// The command's id.
    #[schema(value_type = String, example = "5d7e0c1a-0000-4000-8000-000000000007")]
    pub id: uuid::Uuid,
    /// The command's line in a JSON Lines body (from 1, blank lines counted); absent for an array.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    #[serde(flatten)]
    pub answer: Answer,
}

/// A dry run's answer: what a submission now would be told. Nothing was recorded.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct CheckView {
    #[serde(flatten)]
    pub answer: Answer,
    /// Always true.
    pub dry_run: bool,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct BalanceView {
    pub account: u64,
    #[schema(value_type = String, example = "1200.00")]
    pub balance: Amount,
    /// Held by pending outflows (holds for verification, delayed transfers).
    #[schema(value_type = String)]
    pub reserved: Amount,
    #[schema(value_type = String)]
    pub available: Amount,
    /// "I", "II" or "III".
    #[schema(value_type = String)]
    pub class: ledger_core::AccountClass,
    /// "open" or "closed".
    #[schema(value_type = String)]
    pub status: ledger_core::AccountStatus,
}

impl BalanceView {
    pub fn new(account: &Account, reserved: Amount) -> BalanceView {
        BalanceView {
            account: account.id.0,
            balance: account.balance,
            reserved,
            available: account.balance.checked_sub(reserved).unwrap_or(Amount::ZERO),
            class: account.class,
            status: account.status,
        }
    }
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct UsageView {
    pub account: u64,
    #[schema(value_type = String)]
    pub class: ledger_core::AccountClass,
    /// The time the usage is for (RFC 3339).
    #[schema(value_type = String)]
    pub at: ledger_core::Timestamp,
    /// The policy in force then.
    pub policy: Option<String>,
    pub buckets: Vec<BucketReport>,
}

impl From<UsageReport> for UsageView {
    fn from(report: UsageReport) -> UsageView {
        UsageView {
            account: report.account.0,
            class: report.class,
            at: report.at,
            policy: report.policy,
            buckets: report.buckets,
        }
    }
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct HistoryEntry {
    pub seq: u64,
    #[schema(value_type = Object)]
    pub event: Event,
}

/// One page of an account's history, oldest first.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct HistoryView {
    pub account: u64,
    pub entries: Vec<HistoryEntry>,
    /// Pass as `after` for the next page; null on the last page.
    pub next_after: Option<u64>,
}

/// `GET /v1/accounts/{account}/rejections`: the account's rejected commands among the latest
/// records, newest first.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct RejectionsView {
    pub account: u64,
    /// Each with its event: the command and the reason with its figures.
    pub rejections: Vec<HistoryEntry>,
    /// The oldest seq read (at most 10,000 records back from the head).
    pub scanned_from: u64,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct AccountView {
    pub account: u64,
    #[schema(value_type = String)]
    pub class: ledger_core::AccountClass,
    #[schema(value_type = String)]
    pub status: ledger_core::AccountStatus,
    #[schema(value_type = String)]
    pub balance: Amount,
    #[schema(value_type = Option<Object>)]
    pub binding: Option<Binding>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct AccountsView {
    pub customer: u64,
    pub accounts: Vec<AccountView>,
    /// The policy in force now (its name).
    pub policy: Option<String>,
    /// Per class, the customer's open accounts against that policy's cap.
    pub caps: Vec<ClassCapView>,
}

/// A customer's open accounts of one class and the cap of the policy in force.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ClassCapView {
    #[schema(value_type = String)]
    pub class: ledger_core::AccountClass,
    pub open: u32,
    /// `max_open_accounts` of the policy in force; none: no cap.
    pub max_open: Option<u32>,
}

impl AccountsView {
    pub fn new(customer: u64, accounts: &[Account], policy: Option<&ledger_core::Policy>) -> AccountsView {
        let caps = ledger_core::AccountClass::ALL
            .iter()
            .map(|&class| ClassCapView {
                class,
                open: u32::try_from(
                    accounts
                        .iter()
                        .filter(|a| a.class == class && a.status == ledger_core::AccountStatus::Open)
                        .count(),
                )
                .unwrap_or(u32::MAX),
                max_open: policy.and_then(|policy| policy.rules(class).max_open_accounts),
            })
            .collect();
        let view = |a: &Account| AccountView {
            account: a.id.0,
            class: a.class,
            status: a.status,
            balance: a.balance,
            binding: a.binding.clone(),
        };
        AccountsView {
            customer,
            accounts: accounts.iter().map(view).collect(),
            policy: policy.map(|policy| policy.name.clone()),
            caps,
        }
    }
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ProtectionsView {
    pub account: u64,
    #[schema(value_type = String)]
    pub balance: Amount,
    #[schema(value_type = String)]
    pub available: Amount,
    /// Security locks, personal limits, night lock, reserved amount.
    #[schema(value_type = Object)]
    pub protections: Protections,
    #[schema(value_type = Vec<Object>)]
    pub pending: Vec<Reservation>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct PendingView {
    /// Outflows held for verification or scheduled (delayed arrival).
    #[schema(value_type = Vec<Object>)]
    pub pending: Vec<Reservation>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct RiskView {
    pub counterparty: String,
    pub listed: bool,
    /// The sequence number of the listing event.
    pub listed_seq: Option<u64>,
}

/// `GET /v1/risk-list`: every listed counterparty, by name.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct RiskListView {
    pub listed: Vec<RiskEntry>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct RiskEntry {
    pub counterparty: String,
    /// The sequence number of the listing event.
    pub listed_seq: u64,
}

/// `POST /v1/backups`: the backup's name under the server's `backup_root`.
#[derive(Clone, Debug, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BackupRequest {
    /// One plain name (letters, digits, `.`, `_`, `-`; at most 128; not starting with `.`).
    pub name: String,
}

/// A backup written, verified from genesis and replayed.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct BackupView {
    /// Where it is, on the server's machine.
    pub dir: String,
    /// The head it holds (the server's head when the backup started).
    pub head: HeadView,
    pub events_verified: u64,
}

/// A page of the log for a follower (change data capture).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct EventsView {
    /// Records after `after`, in order, each as one line of `ledger-cli export`: seq,
    /// prev_hash, hash, event_hex (the exact bytes hashed) and event.
    #[schema(value_type = Vec<Object>)]
    pub records: Vec<serde_json::Value>,
    /// Pass as `after` next time: the last record's seq (or `after` when there were none).
    pub next_after: u64,
    /// The head when the page was read (it may be past the page).
    pub head: HeadView,
}

/// `GET /readyz`, `GET /healthz`.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct StatusView {
    pub status: String,
    /// The head this server last saw: the writer's durable head, or the one a standby last
    /// read from its database node.
    pub head_seq: u64,
    /// `writer`, or `standby` (cluster mode: serves reads, refuses writes with `not_writer`).
    pub role: String,
    /// A standby: the writer lease's holder, when one holds it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub writer: Option<WriterView>,
}

/// `GET /v1/whoami`: the token's holder, as the server knows it (the console decides from the
/// role what it shows and what can be pressed; the server checks every request anyway).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct WhoamiView {
    /// The token's name in the server's configuration.
    pub name: String,
    /// `back-office`, `operator` or `auditor`.
    pub role: String,
}

/// `GET /v1/stats/recent`: the last minutes, oldest first.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct RecentView {
    pub minutes: Vec<MinuteView>,
}

/// One minute of `GET /v1/stats/recent` (all zeros when nothing was committed in it).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct MinuteView {
    /// The minute's first instant, RFC 3339.
    pub start: String,
    /// Commands in the batches committed in this minute.
    pub commands: u64,
    /// Batches committed in this minute.
    pub batches: u64,
    /// The upper bound of the `ledger_commit_seconds` bucket holding the median commit
    /// latency; null without commits.
    pub p50_seconds: Option<f64>,
    /// The same for the 99th percentile.
    pub p99_seconds: Option<f64>,
    /// Rejections by reason code; only reasons that occurred.
    pub rejections: std::collections::BTreeMap<String, u64>,
}

impl From<crate::history::MinuteStats> for MinuteView {
    fn from(minute: crate::history::MinuteStats) -> MinuteView {
        let start = i64::try_from(minute.minute)
            .ok()
            .and_then(|m| m.checked_mul(60_000))
            .and_then(|ms| ledger_core::Timestamp::from_millis(ms).ok())
            .unwrap_or(ledger_core::Timestamp::UNIX_EPOCH);
        MinuteView {
            start: start.to_string(),
            commands: minute.commands,
            batches: minute.batches,
            p50_seconds: minute.p50_seconds,
            p99_seconds: minute.p99_seconds,
            rejections: minute.rejections.into_iter().map(|(code, n)| (code.to_owned(), n)).collect(),
        }
    }
}
