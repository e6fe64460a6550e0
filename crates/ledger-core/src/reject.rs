//! Rejections: why a command was refused, with the figures that caused it and a stable code.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ids::{AccountClass, AccountId, CommandId, CustomerId};
use crate::money::Amount;
use crate::policy::Flow;
use crate::protect::{Actor, NightWindow, PersonalLimit};
use crate::time::Timestamp;

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

/// The one list of reason codes, in declaration order: generates [`RejectReason::code`] and
/// [`RejectReason::CODES`], so the two cannot drift apart.
macro_rules! reason_codes {
    ($($variant:ident => $code:literal,)*) => {
        impl RejectReason {
            /// Every reason code, for documentation and tests.
            pub const CODES: &'static [&'static str] = &[$($code),*];

            /// The stable reason code, e.g. `LIMIT_EXCEEDED`.
            pub fn code(&self) -> &'static str {
                match self {
                    $(RejectReason::$variant { .. } => $code,)*
                }
            }
        }
    };
}

reason_codes! {
    TimeBeforeHead => "TIME_BEFORE_HEAD",
    NoPolicyInForce => "NO_POLICY_IN_FORCE",
    ZeroAmount => "ZERO_AMOUNT",
    InvalidText => "INVALID_TEXT",
    UnknownAccount => "UNKNOWN_ACCOUNT",
    AccountClosed => "ACCOUNT_CLOSED",
    AccountExists => "ACCOUNT_EXISTS",
    SameAccount => "SAME_ACCOUNT",
    FlowNotAllowed => "FLOW_NOT_ALLOWED",
    InPersonVerificationRequired => "IN_PERSON_VERIFICATION_REQUIRED",
    CardNotAllowed => "CARD_NOT_ALLOWED",
    BindingRequired => "BINDING_REQUIRED",
    BindingNotAllowed => "BINDING_NOT_ALLOWED",
    InvalidBinding => "INVALID_BINDING",
    AccountCountExceeded => "ACCOUNT_COUNT_EXCEEDED",
    InsufficientFunds => "INSUFFICIENT_FUNDS",
    LimitExceeded => "LIMIT_EXCEEDED",
    BalanceCapExceeded => "BALANCE_CAP_EXCEEDED",
    BalanceOverflow => "BALANCE_OVERFLOW",
    FirstFundingFromBoundRequired => "FIRST_FUNDING_FROM_BOUND_REQUIRED",
    NonZeroBalance => "NON_ZERO_BALANCE",
    BoundAccountsOpen => "BOUND_ACCOUNTS_OPEN",
    InvalidPolicy => "INVALID_POLICY",
    PolicyEffectiveInPast => "POLICY_EFFECTIVE_IN_PAST",
    AccountLocked => "ACCOUNT_LOCKED",
    NotLocked => "NOT_LOCKED",
    PersonalLimitExceeded => "PERSONAL_LIMIT_EXCEEDED",
    PersonalLimitAbovePolicy => "PERSONAL_LIMIT_ABOVE_POLICY",
    NightLocked => "NIGHT_LOCKED",
    RiskListedCounterparty => "RISK_LISTED_COUNTERPARTY",
    RiskListUnchanged => "RISK_LIST_UNCHANGED",
    FundsReserved => "FUNDS_RESERVED",
    UnknownPending => "UNKNOWN_PENDING",
    PendingActionNotAllowed => "PENDING_ACTION_NOT_ALLOWED",
    InvalidProtection => "INVALID_PROTECTION",
    TimeAheadOfClock => "TIME_AHEAD_OF_CLOCK",
}

impl RejectReason {
    /// The account the refusal is about, when it names one (the receiving account for a limit,
    /// balance cap or first-funding refusal of an inflow): reports count the rejection under its
    /// class.
    pub fn account(&self) -> Option<AccountId> {
        match self {
            RejectReason::UnknownAccount { account }
            | RejectReason::AccountClosed { account }
            | RejectReason::AccountExists { account }
            | RejectReason::SameAccount { account }
            | RejectReason::FlowNotAllowed { account, .. }
            | RejectReason::InsufficientFunds { account, .. }
            | RejectReason::LimitExceeded { account, .. }
            | RejectReason::BalanceCapExceeded { account, .. }
            | RejectReason::BalanceOverflow { account }
            | RejectReason::FirstFundingFromBoundRequired { account }
            | RejectReason::NonZeroBalance { account, .. }
            | RejectReason::BoundAccountsOpen { account, .. }
            | RejectReason::AccountLocked { account, .. }
            | RejectReason::NotLocked { account, .. }
            | RejectReason::PersonalLimitExceeded { account, .. }
            | RejectReason::PersonalLimitAbovePolicy { account, .. }
            | RejectReason::NightLocked { account, .. }
            | RejectReason::FundsReserved { account, .. } => Some(*account),
            // Listed one by one: a new reason must say whether it names an account.
            RejectReason::TimeBeforeHead { .. }
            | RejectReason::NoPolicyInForce
            | RejectReason::ZeroAmount
            | RejectReason::InvalidText { .. }
            | RejectReason::InPersonVerificationRequired { .. }
            | RejectReason::CardNotAllowed { .. }
            | RejectReason::BindingRequired { .. }
            | RejectReason::BindingNotAllowed { .. }
            | RejectReason::InvalidBinding { .. }
            | RejectReason::AccountCountExceeded { .. }
            | RejectReason::InvalidPolicy { .. }
            | RejectReason::PolicyEffectiveInPast { .. }
            | RejectReason::RiskListedCounterparty { .. }
            | RejectReason::RiskListUnchanged { .. }
            | RejectReason::UnknownPending { .. }
            | RejectReason::PendingActionNotAllowed { .. }
            | RejectReason::InvalidProtection { .. }
            | RejectReason::TimeAheadOfClock { .. } => None,
        }
    }

    /// True for the rejections the policy in force decides (its flows, bindings, cards, account
    /// counts, buckets, balance cap, first funding): their answers cite the policy version and
    /// its source. Malformed requests, balances and the bank's own protections cite none.
    pub fn cites_policy(&self) -> bool {
        match self {
            RejectReason::FlowNotAllowed { .. }
            | RejectReason::InPersonVerificationRequired { .. }
            | RejectReason::CardNotAllowed { .. }
            | RejectReason::BindingRequired { .. }
            | RejectReason::BindingNotAllowed { .. }
            | RejectReason::InvalidBinding { .. }
            | RejectReason::AccountCountExceeded { .. }
            | RejectReason::LimitExceeded { .. }
            | RejectReason::BalanceCapExceeded { .. }
            | RejectReason::FirstFundingFromBoundRequired { .. }
            | RejectReason::PersonalLimitAbovePolicy { .. } => true,
            // Listed one by one: a new reason must say whether the policy decides it.
            RejectReason::TimeBeforeHead { .. }
            | RejectReason::NoPolicyInForce
            | RejectReason::ZeroAmount
            | RejectReason::InvalidText { .. }
            | RejectReason::UnknownAccount { .. }
            | RejectReason::AccountClosed { .. }
            | RejectReason::AccountExists { .. }
            | RejectReason::SameAccount { .. }
            | RejectReason::InsufficientFunds { .. }
            | RejectReason::BalanceOverflow { .. }
            | RejectReason::NonZeroBalance { .. }
            | RejectReason::BoundAccountsOpen { .. }
            | RejectReason::InvalidPolicy { .. }
            | RejectReason::PolicyEffectiveInPast { .. }
            | RejectReason::AccountLocked { .. }
            | RejectReason::NotLocked { .. }
            | RejectReason::PersonalLimitExceeded { .. }
            | RejectReason::NightLocked { .. }
            | RejectReason::RiskListedCounterparty { .. }
            | RejectReason::RiskListUnchanged { .. }
            | RejectReason::FundsReserved { .. }
            | RejectReason::UnknownPending { .. }
            | RejectReason::PendingActionNotAllowed { .. }
            | RejectReason::InvalidProtection { .. }
            | RejectReason::TimeAheadOfClock { .. } => false,
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
                // The client's text as it is (not Rust's escapes): whoever shows it escapes it
                // once (text output), or carries it exactly (JSON).
                write!(f, "{code}: counterparty \"{counterparty}\" is on the risk list (listed at seq {listed_seq})")
            }
            RejectReason::RiskListUnchanged { counterparty, listed } => {
                let state = if *listed { "already" } else { "not" };
                write!(f, "{code}: counterparty \"{counterparty}\" is {state} on the risk list")
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
