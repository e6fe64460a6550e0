//! Events: what happened. Every command that is not a retry produces events, a rejection
//! included, so the log is the full audit trail. Events carry their effects as figures
//! (balances and usage after the posting), so applying one needs no business logic.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::command::{Binding, CommandBody};
use crate::ids::{AccountClass, AccountId, CommandId, CustomerId};
use crate::money::Amount;
use crate::policy::{Flow, Policy};
use crate::protect::{
    Actor, NightWindow, PersonalLimit, PersonalLimits, ProtectionSettings, Release, Reservation, SecurityLock,
    Settlement,
};
use crate::time::{BeijingDay, BeijingYear, Timestamp};

/// One entry of the log.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Event {
    /// The command this event answers.
    pub command_id: CommandId,
    /// Business time. Non-decreasing along the log: a command dated before the head is
    /// recorded as rejected at the head's time.
    pub at: Timestamp,
    pub body: EventBody,
}

/// The kinds of event.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventBody {
    AccountOpened {
        account: AccountId,
        customer: CustomerId,
        class: AccountClass,
        binding: Option<Binding>,
        verified_in_person: bool,
        with_card: bool,
    },
    AccountClosed {
        account: AccountId,
    },
    Posted(Posting),
    PolicyScheduled {
        effective_from: Timestamp,
        policy: Box<Policy>,
    },
    /// The command was refused; nothing else changed.
    Rejected {
        command: CommandBody,
        reason: RejectReason,
    },
    // Protections. New variants go last: the log encodes the index.
    AccountLocked {
        account: AccountId,
        lock: SecurityLock,
    },
    AccountUnlocked {
        account: AccountId,
        by: Actor,
    },
    PersonalLimitsSet {
        account: AccountId,
        limits: PersonalLimits,
    },
    NightLockSet {
        account: AccountId,
        window: Option<NightWindow>,
    },
    RiskListed {
        counterparty: String,
        reason: String,
        source: String,
    },
    RiskUnlisted {
        counterparty: String,
        reason: String,
        source: String,
    },
    ProtectionsScheduled {
        effective_from: Timestamp,
        settings: ProtectionSettings,
    },
    /// An outflow accepted but not posted: held for verification or scheduled. Its funds are
    /// reserved and its limit use counted (`usage_after`, for the buckets it counts in).
    Reserved {
        reservation: Reservation,
        usage_after: Vec<BucketUsage>,
    },
    /// A held delayed transfer was confirmed; it is now scheduled for `due_at`.
    HoldConfirmed {
        id: CommandId,
        due_at: Timestamp,
    },
    /// A reservation was posted (`posting` has the debit figures; its use was already counted).
    /// When it came due, the event carries the reservation's command id.
    ReservationSettled {
        id: CommandId,
        settlement: Settlement,
        posting: Posting,
    },
    /// A reservation ended without a posting; funds and limit use are released (`usage_after`).
    /// When it expired or was stopped, the event carries the reservation's command id.
    ReservationReleased {
        id: CommandId,
        account: AccountId,
        release: Release,
        usage_after: Vec<BucketUsage>,
    },
    /// The answer to a `Tick`: every hold and delayed transfer due by now was handled before it.
    TimeAdvanced,
}

impl Event {
    /// The request this event answered, rebuilt from what the event records (business time
    /// aside). A retry whose body differs from it reuses the id for another request: a conflict.
    pub fn request(&self) -> Option<CommandBody> {
        Some(match &self.body {
            EventBody::AccountOpened { account, customer, class, binding, verified_in_person, with_card } => {
                CommandBody::OpenAccount {
                    account: *account,
                    customer: *customer,
                    class: *class,
                    binding: binding.clone(),
                    verified_in_person: *verified_in_person,
                    with_card: *with_card,
                }
            }
            EventBody::AccountClosed { account } => CommandBody::CloseAccount { account: *account },
            EventBody::PolicyScheduled { effective_from, policy } => {
                CommandBody::ChangePolicy { effective_from: *effective_from, policy: policy.clone() }
            }
            EventBody::Rejected { command, .. } => command.clone(),
            EventBody::AccountLocked { account, lock } => CommandBody::LockAccount {
                account: *account,
                by: lock.by,
                flows: lock.flows.clone(),
                reason: lock.reason.clone(),
            },
            EventBody::AccountUnlocked { account, by } => CommandBody::UnlockAccount { account: *account, by: *by },
            EventBody::PersonalLimitsSet { account, limits } => {
                CommandBody::SetPersonalLimits { account: *account, limits: *limits }
            }
            EventBody::NightLockSet { account, window } => {
                CommandBody::SetNightLock { account: *account, window: *window }
            }
            EventBody::RiskListed { counterparty, reason, source } => CommandBody::ListRisk {
                counterparty: counterparty.clone(),
                reason: reason.clone(),
                source: source.clone(),
            },
            EventBody::RiskUnlisted { counterparty, reason, source } => CommandBody::UnlistRisk {
                counterparty: counterparty.clone(),
                reason: reason.clone(),
                source: source.clone(),
            },
            EventBody::ProtectionsScheduled { effective_from, settings } => {
                CommandBody::ChangeProtections { effective_from: *effective_from, settings: settings.clone() }
            }
            EventBody::Reserved { reservation: r, .. } => {
                let (from, amount, text) = (r.account, r.amount, r.counterparty.clone());
                match (r.arrival, r.kind) {
                    (Some(arrival), _) => CommandBody::DelayedTransfer { from, counterparty: text?, amount, arrival },
                    (None, PostingKind::OutboundTransfer) => {
                        CommandBody::OutboundTransfer { from, counterparty: text?, amount }
                    }
                    (None, PostingKind::Payment) => CommandBody::Payment { from, merchant: text?, amount },
                    (None, PostingKind::CashWithdrawal) => CommandBody::CashWithdrawal { account: from, amount },
                    (None, _) => return None,
                }
            }
            EventBody::HoldConfirmed { id, .. } => CommandBody::ConfirmHold { hold: *id },
            EventBody::ReservationSettled { id, settlement, .. } => match settlement {
                Settlement::Confirmed => CommandBody::ConfirmHold { hold: *id },
                Settlement::Due => return None,
            },
            EventBody::ReservationReleased { id, release, .. } => match release {
                Release::Declined => CommandBody::DeclineHold { hold: *id },
                Release::Cancelled => CommandBody::CancelTransfer { transfer: *id },
                Release::Expired | Release::Stopped { .. } => return None,
            },
            EventBody::TimeAdvanced => CommandBody::Tick,
            EventBody::Posted(posting) => {
                let debit = posting.debit.as_ref().map(|leg| leg.account);
                let credit = posting.credit.as_ref().map(|leg| leg.account);
                let text = posting.counterparty.clone();
                let amount = posting.amount;
                match posting.kind {
                    PostingKind::CashDeposit => CommandBody::CashDeposit { account: credit?, amount },
                    PostingKind::CashWithdrawal => CommandBody::CashWithdrawal { account: debit?, amount },
                    PostingKind::InternalTransfer => {
                        CommandBody::InternalTransfer { from: debit?, to: credit?, amount }
                    }
                    PostingKind::InboundTransfer => {
                        CommandBody::InboundTransfer { to: credit?, counterparty: text?, amount }
                    }
                    PostingKind::OutboundTransfer => {
                        CommandBody::OutboundTransfer { from: debit?, counterparty: text?, amount }
                    }
                    PostingKind::Payment => CommandBody::Payment { from: debit?, merchant: text?, amount },
                    PostingKind::WealthPurchase => {
                        CommandBody::WealthPurchase { account: debit?, product: text?, amount }
                    }
                    PostingKind::WealthRedemption => {
                        CommandBody::WealthRedemption { account: credit?, product: text?, amount }
                    }
                }
            }
        })
    }
}

/// An accepted movement of money.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Posting {
    pub kind: PostingKind,
    pub amount: Amount,
    /// The external account, merchant or product on the other side, if any.
    pub counterparty: Option<String>,
    /// The ledger account money left, if any.
    pub debit: Option<Leg>,
    /// The ledger account money entered, if any.
    pub credit: Option<Leg>,
}

/// The kinds of posting, one per money-moving command.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PostingKind {
    CashDeposit,
    CashWithdrawal,
    InternalTransfer,
    InboundTransfer,
    OutboundTransfer,
    Payment,
    WealthPurchase,
    WealthRedemption,
}

/// One ledger account's side of a posting, with its figures after the posting.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Leg {
    pub account: AccountId,
    pub flow: Flow,
    pub balance_after: Amount,
    /// Every limit bucket this flow counts in, after the posting.
    pub usage_after: Vec<BucketUsage>,
}

/// Use of one limit bucket of one account in one Beijing day and year.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct BucketUsage {
    pub bucket: String,
    pub day: BeijingDay,
    pub day_used: Amount,
    pub year: BeijingYear,
    pub year_used: Amount,
}

impl BucketUsage {
    /// What was used on `day` and in `year` (zero once the day or year has rolled over).
    pub fn used_at(&self, day: BeijingDay, year: BeijingYear) -> (Amount, Amount) {
        let day_used = if self.day == day && self.year == year { self.day_used } else { Amount::ZERO };
        let year_used = if self.year == year { self.year_used } else { Amount::ZERO };
        (day_used, year_used)
    }
}

/// A limit period.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    /// The Beijing natural day.
    Day,
    /// The Beijing calendar year.
    Year,
}

/// What is wrong with a binding given at account opening.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BindingProblem {
    UnknownAccount,
    AccountClosed,
    NotClassI,
    OtherCustomer,
    CreditCardNotAllowed,
    BadReference,
}

/// Why a command was rejected, with the figures that caused it. Each has a stable
/// [`code`](RejectReason::code) an operator can act on.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RejectReason {
    TimeBeforeHead {
        requested_at: Timestamp,
        head_at: Timestamp,
    },
    NoPolicyInForce,
    ZeroAmount,
    InvalidText {
        field: String,
        max_chars: u32,
    },
    UnknownAccount {
        account: AccountId,
    },
    AccountClosed {
        account: AccountId,
    },
    AccountExists {
        account: AccountId,
    },
    SameAccount {
        account: AccountId,
    },
    FlowNotAllowed {
        account: AccountId,
        class: AccountClass,
        flow: Flow,
    },
    /// `flow` is `None` for a card.
    InPersonVerificationRequired {
        class: AccountClass,
        flow: Option<Flow>,
    },
    CardNotAllowed {
        class: AccountClass,
    },
    BindingRequired {
        class: AccountClass,
    },
    BindingNotAllowed {
        class: AccountClass,
    },
    InvalidBinding {
        problem: BindingProblem,
    },
    AccountCountExceeded {
        customer: CustomerId,
        class: AccountClass,
        max_open: u32,
    },
    InsufficientFunds {
        account: AccountId,
        balance: Amount,
        requested: Amount,
    },
    LimitExceeded {
        account: AccountId,
        bucket: String,
        period: Period,
        cap: Amount,
        used: Amount,
        requested: Amount,
    },
    BalanceCapExceeded {
        account: AccountId,
        cap: Amount,
        balance: Amount,
        requested: Amount,
    },
    BalanceOverflow {
        account: AccountId,
    },
    FirstFundingFromBoundRequired {
        account: AccountId,
    },
    NonZeroBalance {
        account: AccountId,
        balance: Amount,
    },
    BoundAccountsOpen {
        account: AccountId,
        open: u32,
    },
    InvalidPolicy {
        detail: String,
    },
    PolicyEffectiveInPast {
        effective_from: Timestamp,
        head_at: Timestamp,
    },
    // Protections. New variants go last: the log encodes the index.
    AccountLocked {
        account: AccountId,
        flow: Flow,
        by: Actor,
    },
    NotLocked {
        account: AccountId,
        by: Actor,
    },
    PersonalLimitExceeded {
        account: AccountId,
        limit: PersonalLimit,
        cap: Amount,
        used: Amount,
        requested: Amount,
    },
    PersonalLimitAbovePolicy {
        account: AccountId,
        limit: PersonalLimit,
        requested: Amount,
        policy_cap: Amount,
    },
    NightLocked {
        account: AccountId,
        flow: Flow,
        window: NightWindow,
    },
    /// `listed_seq` is the event that listed it (reason and source are there).
    RiskListedCounterparty {
        counterparty: String,
        listed_seq: u64,
    },
    /// Listing a listed counterparty, or unlisting one that is not listed.
    RiskListUnchanged {
        counterparty: String,
        listed: bool,
    },
    /// The balance covers the request but part of it is reserved by holds or delayed transfers.
    FundsReserved {
        account: AccountId,
        balance: Amount,
        reserved: Amount,
        requested: Amount,
    },
    UnknownPending {
        id: CommandId,
    },
    PendingActionNotAllowed {
        id: CommandId,
        detail: String,
    },
    InvalidProtection {
        detail: String,
    },
    /// The business time is further ahead of the ledger's clock than the ledger accepts (a typo
    /// such as a wrong year would otherwise move the ledger's time past every later command).
    TimeAheadOfClock {
        requested_at: Timestamp,
        latest_accepted: Timestamp,
    },
}

impl RejectReason {
    /// Every reason code, for documentation and tests.
    pub const CODES: [&'static str; 36] = [
        "TIME_BEFORE_HEAD",
        "NO_POLICY_IN_FORCE",
        "ZERO_AMOUNT",
        "INVALID_TEXT",
        "UNKNOWN_ACCOUNT",
        "ACCOUNT_CLOSED",
        "ACCOUNT_EXISTS",
        "SAME_ACCOUNT",
        "FLOW_NOT_ALLOWED",
        "IN_PERSON_VERIFICATION_REQUIRED",
        "CARD_NOT_ALLOWED",
        "BINDING_REQUIRED",
        "BINDING_NOT_ALLOWED",
        "INVALID_BINDING",
        "ACCOUNT_COUNT_EXCEEDED",
        "INSUFFICIENT_FUNDS",
        "LIMIT_EXCEEDED",
        "BALANCE_CAP_EXCEEDED",
        "BALANCE_OVERFLOW",
        "FIRST_FUNDING_FROM_BOUND_REQUIRED",
        "NON_ZERO_BALANCE",
        "BOUND_ACCOUNTS_OPEN",
        "INVALID_POLICY",
        "POLICY_EFFECTIVE_IN_PAST",
        "ACCOUNT_LOCKED",
        "NOT_LOCKED",
        "PERSONAL_LIMIT_EXCEEDED",
        "PERSONAL_LIMIT_ABOVE_POLICY",
        "NIGHT_LOCKED",
        "RISK_LISTED_COUNTERPARTY",
        "RISK_LIST_UNCHANGED",
        "FUNDS_RESERVED",
        "UNKNOWN_PENDING",
        "PENDING_ACTION_NOT_ALLOWED",
        "INVALID_PROTECTION",
        "TIME_AHEAD_OF_CLOCK",
    ];

    /// The stable reason code, e.g. `LIMIT_EXCEEDED`.
    pub fn code(&self) -> &'static str {
        match self {
            RejectReason::TimeBeforeHead { .. } => "TIME_BEFORE_HEAD",
            RejectReason::NoPolicyInForce => "NO_POLICY_IN_FORCE",
            RejectReason::ZeroAmount => "ZERO_AMOUNT",
            RejectReason::InvalidText { .. } => "INVALID_TEXT",
            RejectReason::UnknownAccount { .. } => "UNKNOWN_ACCOUNT",
            RejectReason::AccountClosed { .. } => "ACCOUNT_CLOSED",
            RejectReason::AccountExists { .. } => "ACCOUNT_EXISTS",
            RejectReason::SameAccount { .. } => "SAME_ACCOUNT",
            RejectReason::FlowNotAllowed { .. } => "FLOW_NOT_ALLOWED",
            RejectReason::InPersonVerificationRequired { .. } => "IN_PERSON_VERIFICATION_REQUIRED",
            RejectReason::CardNotAllowed { .. } => "CARD_NOT_ALLOWED",
            RejectReason::BindingRequired { .. } => "BINDING_REQUIRED",
            RejectReason::BindingNotAllowed { .. } => "BINDING_NOT_ALLOWED",
            RejectReason::InvalidBinding { .. } => "INVALID_BINDING",
            RejectReason::AccountCountExceeded { .. } => "ACCOUNT_COUNT_EXCEEDED",
            RejectReason::InsufficientFunds { .. } => "INSUFFICIENT_FUNDS",
            RejectReason::LimitExceeded { .. } => "LIMIT_EXCEEDED",
            RejectReason::BalanceCapExceeded { .. } => "BALANCE_CAP_EXCEEDED",
            RejectReason::BalanceOverflow { .. } => "BALANCE_OVERFLOW",
            RejectReason::FirstFundingFromBoundRequired { .. } => "FIRST_FUNDING_FROM_BOUND_REQUIRED",
            RejectReason::NonZeroBalance { .. } => "NON_ZERO_BALANCE",
            RejectReason::BoundAccountsOpen { .. } => "BOUND_ACCOUNTS_OPEN",
            RejectReason::InvalidPolicy { .. } => "INVALID_POLICY",
            RejectReason::PolicyEffectiveInPast { .. } => "POLICY_EFFECTIVE_IN_PAST",
            RejectReason::AccountLocked { .. } => "ACCOUNT_LOCKED",
            RejectReason::NotLocked { .. } => "NOT_LOCKED",
            RejectReason::PersonalLimitExceeded { .. } => "PERSONAL_LIMIT_EXCEEDED",
            RejectReason::PersonalLimitAbovePolicy { .. } => "PERSONAL_LIMIT_ABOVE_POLICY",
            RejectReason::NightLocked { .. } => "NIGHT_LOCKED",
            RejectReason::RiskListedCounterparty { .. } => "RISK_LISTED_COUNTERPARTY",
            RejectReason::RiskListUnchanged { .. } => "RISK_LIST_UNCHANGED",
            RejectReason::FundsReserved { .. } => "FUNDS_RESERVED",
            RejectReason::UnknownPending { .. } => "UNKNOWN_PENDING",
            RejectReason::PendingActionNotAllowed { .. } => "PENDING_ACTION_NOT_ALLOWED",
            RejectReason::InvalidProtection { .. } => "INVALID_PROTECTION",
            RejectReason::TimeAheadOfClock { .. } => "TIME_AHEAD_OF_CLOCK",
        }
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let code = self.code();
        match self {
            RejectReason::TimeBeforeHead { requested_at, head_at } => {
                write!(f, "{code}: command time {requested_at} is before the ledger head {head_at}")
            }
            RejectReason::NoPolicyInForce => write!(f, "{code}: no policy version is in force at this time"),
            RejectReason::ZeroAmount => write!(f, "{code}: the amount must be above zero"),
            RejectReason::InvalidText { field, max_chars } => {
                write!(f, "{code}: {field} must be 1 to {max_chars} characters")
            }
            RejectReason::UnknownAccount { account } => write!(f, "{code}: account {account} does not exist"),
            RejectReason::AccountClosed { account } => write!(f, "{code}: account {account} is closed"),
            RejectReason::AccountExists { account } => write!(f, "{code}: account {account} already exists"),
            RejectReason::SameAccount { account } => write!(f, "{code}: transfer from account {account} to itself"),
            RejectReason::FlowNotAllowed { account, class, flow } => {
                write!(f, "{code}: {flow} is not allowed for Class {class} account {account}")
            }
            RejectReason::InPersonVerificationRequired { class, flow } => match flow {
                Some(flow) => write!(f, "{code}: {flow} on a Class {class} account needs in-person verification"),
                None => write!(f, "{code}: a card for a Class {class} account needs in-person verification"),
            },
            RejectReason::CardNotAllowed { class } => write!(f, "{code}: Class {class} accounts have no card"),
            RejectReason::BindingRequired { class } => {
                write!(f, "{code}: a Class {class} account must be bound to a Class I account")
            }
            RejectReason::BindingNotAllowed { class } => {
                write!(f, "{code}: a Class {class} account takes no binding")
            }
            RejectReason::InvalidBinding { problem } => write!(f, "{code}: bound account is invalid ({problem:?})"),
            RejectReason::AccountCountExceeded { customer, class, max_open } => {
                write!(f, "{code}: customer {customer} already has {max_open} open Class {class} account(s)")
            }
            RejectReason::InsufficientFunds { account, balance, requested } => {
                write!(f, "{code}: account {account} holds {balance}, {requested} requested")
            }
            RejectReason::LimitExceeded { account, bucket, period, cap, used, requested } => write!(
                f,
                "{code}: account {account} bucket {bucket}: {period:?} cap {cap}, used {used}, requested {requested}"
            ),
            RejectReason::BalanceCapExceeded { account, cap, balance, requested } => {
                write!(f, "{code}: account {account} balance cap {cap}, balance {balance}, requested {requested}")
            }
            RejectReason::BalanceOverflow { account } => write!(f, "{code}: account {account} balance would overflow"),
            RejectReason::FirstFundingFromBoundRequired { account } => {
                write!(f, "{code}: account {account} must first be funded from its bound account")
            }
            RejectReason::NonZeroBalance { account, balance } => {
                write!(f, "{code}: account {account} still holds {balance}")
            }
            RejectReason::BoundAccountsOpen { account, open } => {
                write!(f, "{code}: {open} open account(s) are bound to account {account}")
            }
            RejectReason::InvalidPolicy { detail } => write!(f, "{code}: {detail}"),
            RejectReason::PolicyEffectiveInPast { effective_from, head_at } => {
                write!(f, "{code}: effective time {effective_from} is before the ledger head {head_at}")
            }
            RejectReason::AccountLocked { account, flow, by } => {
                write!(f, "{code}: account {account} is locked by the {by} for {flow}")
            }
            RejectReason::NotLocked { account, by } => write!(f, "{code}: account {account} has no {by} lock"),
            RejectReason::PersonalLimitExceeded { account, limit, cap, used, requested } => write!(
                f,
                "{code}: account {account} personal {limit:?} limit {cap}, used {used}, requested {requested}"
            ),
            RejectReason::PersonalLimitAbovePolicy { account, limit, requested, policy_cap } => write!(
                f,
                "{code}: account {account} personal {limit:?} limit {requested} is above the policy's {policy_cap}"
            ),
            RejectReason::NightLocked { account, flow, window } => {
                write!(f, "{code}: account {account} is night-locked {window} (Beijing time) for {flow}")
            }
            RejectReason::RiskListedCounterparty { counterparty, listed_seq } => {
                write!(f, "{code}: counterparty {counterparty:?} is on the risk list (listed at seq {listed_seq})")
            }
            RejectReason::RiskListUnchanged { counterparty, listed } => {
                let state = if *listed { "already" } else { "not" };
                write!(f, "{code}: counterparty {counterparty:?} is {state} on the risk list")
            }
            RejectReason::FundsReserved { account, balance, reserved, requested } => write!(
                f,
                "{code}: account {account} holds {balance} of which {reserved} is reserved, {requested} requested"
            ),
            RejectReason::UnknownPending { id } => write!(f, "{code}: no pending hold or transfer {id}"),
            RejectReason::PendingActionNotAllowed { id, detail } => write!(f, "{code}: pending {id}: {detail}"),
            RejectReason::InvalidProtection { detail } => write!(f, "{code}: {detail}"),
            RejectReason::TimeAheadOfClock { requested_at, latest_accepted } => write!(
                f,
                "{code}: business time {requested_at} is ahead of the ledger's clock; the latest accepted now is {latest_accepted}"
            ),
        }
    }
}
