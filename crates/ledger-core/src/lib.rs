//! # ledger-core
//!
//! The pure domain of tiered-ledger: China's Class I/II/III personal account rules as data
//! ([`Policy`]), the [`Command`]s a bank submits, the [`Event`]s that record what happened
//! (rejections included), [`decide`] (all business logic) and [`State::apply`] (none).
//!
//! Invariants: no I/O, no clock, no threads. Replaying the events from [`State::new`] rebuilds
//! the same state exactly.

mod cache;
mod command;
mod decide;
mod due;
mod error;
mod event;
mod execute;
mod ids;
mod json;
mod json_batch;
mod money;
mod policy;
mod posting;
mod principal;
mod protect;
mod reject;
mod report;
mod report_accounts;
mod report_groups;
mod report_lines;
mod report_rules;
mod report_runs;
mod report_state;
mod reserve;
mod state;
mod time;
mod unique_keys;
mod view;
mod withhold;

pub use command::{Binding, Command, CommandBody, ExternalKind};
pub use decide::{Admission, Decision, decide, decide_in};
pub use error::{AmountError, Error, NotInView, Result};
pub use event::{Event, EventBody};
pub use execute::{DueSink, apply_due_then_decide, decide_after_due, execute, execute_with_due};
pub use ids::{AccountClass, AccountId, AccountStatus, CommandId, CustomerId};
pub use json::{ArrivalJson, COMMAND_LINE_BYTES_MAX, CommandJson, parse_command};
pub use json_batch::{BatchElement, parse_batch};
pub use money::Amount;
pub use policy::{BindingRule, Bucket, ClassRules, ClassTable, Flow, Permission, Policy};
pub use posting::{BucketUsage, Leg, Posting, PostingKind};
pub use principal::{PRINCIPAL_NAME_CHARS_MAX, PRINCIPAL_ROLE_CHARS_MAX, Principal};
pub use protect::{
    Actor, Arrival, ClockTime, NightWindow, OUTFLOWS, PERSONAL_LIMIT_FLOWS, PersonalLimit, PersonalLimits,
    ProtectionSettings, Protections, SecurityLock,
};
pub use reject::{BindingProblem, Period, RejectReason};
pub use report::{RecordLookup, Reporter};
pub use report_accounts::{AccountInfo, InfoLookup, InfoWanted, REPORT_ACCOUNTS_HELD};
pub use report_groups::REPORT_GROUPS_HELD;
pub use report_lines::{
    Cite, ClassIiiReviewLine, Direction, LargeValueKind, LargeValueLine, LimitHitLine, LineCounts, ReportSink, Reports,
    SummaryLine, Total,
};
pub use report_rules::{DayThreshold, LimitHitRule, OwnAccountTransfers, Readings, ReportRules, WindowThreshold};
pub use report_runs::GroupSpill;
pub use report_state::{ReporterState, WindowState};
pub use reserve::{Release, Reservation, Settlement, Stage};
pub use state::{Account, PolicyVersion, State};
pub use time::{BeijingDay, BeijingYear, Timestamp, in_force_at};
pub use unique_keys::refuse_duplicate_keys;
pub use view::{StateParts, Wanted, apply_to_accounts};
pub use withhold::{TEXT_CHARS_MAX, WithheldText, withhold};
