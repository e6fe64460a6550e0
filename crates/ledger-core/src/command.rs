//! Commands: what a client asks the ledger to do. Each carries a client-chosen id (the same id
//! always gets the same answer) and the business time it applies at.

use serde::{Deserialize, Serialize};

use crate::ids::{AccountClass, AccountId, CommandId, CustomerId};
use crate::money::Amount;
use crate::policy::{Flow, Policy};
use crate::protect::{Actor, Arrival, NightWindow, PersonalLimits, ProtectionSettings};
use crate::time::Timestamp;

/// A request to the ledger.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Command {
    pub id: CommandId,
    /// Business time; must not be earlier than the ledger's head.
    pub at: Timestamp,
    pub body: CommandBody,
    /// `at` was stamped by the ledger (the client gave none): it is decided at the head's time
    /// when the head has moved past it while the command waited, never rejected
    /// `TIME_BEFORE_HEAD`. A client-given time keeps that rule.
    #[serde(default)]
    pub stamped: bool,
}

/// What a Class II or III account is bound to.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Binding {
    /// The same customer's Class I account in this ledger.
    Account(AccountId),
    /// An account at another bank, by reference (e.g. card number).
    External { kind: ExternalKind, reference: String },
}

/// The kind of an external bound account.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExternalKind {
    /// A same-name Class I account at another bank.
    ClassI,
    /// A same-name credit card.
    CreditCard,
}

/// The kinds of command.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommandBody {
    OpenAccount {
        account: AccountId,
        customer: CustomerId,
        class: AccountClass,
        /// Required for Class II/III, refused for Class I.
        binding: Option<Binding>,
        /// The customer's identity was verified in person at opening.
        verified_in_person: bool,
        /// A physical card is issued with the account.
        with_card: bool,
    },
    CloseAccount {
        account: AccountId,
    },
    CashDeposit {
        account: AccountId,
        amount: Amount,
    },
    CashWithdrawal {
        account: AccountId,
        amount: Amount,
    },
    /// Between two accounts of this ledger.
    InternalTransfer {
        from: AccountId,
        to: AccountId,
        amount: Amount,
    },
    /// From an account outside the ledger.
    InboundTransfer {
        to: AccountId,
        counterparty: String,
        amount: Amount,
    },
    /// To an account outside the ledger.
    OutboundTransfer {
        from: AccountId,
        counterparty: String,
        amount: Amount,
    },
    /// Consumption or bill payment to a merchant.
    Payment {
        from: AccountId,
        merchant: String,
        amount: Amount,
    },
    WealthPurchase {
        account: AccountId,
        product: String,
        amount: Amount,
    },
    WealthRedemption {
        account: AccountId,
        product: String,
        amount: Amount,
    },
    /// Schedules a policy version, in force from `effective_from` until the next version.
    ChangePolicy {
        effective_from: Timestamp,
        /// Boxed: a policy is large and rare, commands are small and many.
        policy: Box<Policy>,
    },
    // Protections (docs/RULES.md, "Protections"). New variants go last: the log encodes the index.
    /// Places (or replaces) `by`'s security lock on the account's outflows.
    LockAccount {
        account: AccountId,
        by: Actor,
        /// Outflows to lock; empty locks every outflow.
        flows: Vec<Flow>,
        reason: String,
    },
    /// Lifts `by`'s security lock.
    UnlockAccount {
        account: AccountId,
        by: Actor,
    },
    /// The customer's own caps; `None` clears a cap.
    SetPersonalLimits {
        account: AccountId,
        limits: PersonalLimits,
    },
    /// Sets or (with `None`) clears the night lock.
    SetNightLock {
        account: AccountId,
        window: Option<NightWindow>,
    },
    /// Flags a counterparty account for fraud: outbound transfers to it are rejected.
    ListRisk {
        counterparty: String,
        reason: String,
        source: String,
    },
    UnlistRisk {
        counterparty: String,
        reason: String,
        source: String,
    },
    /// Schedules protection settings, in force from `effective_from` until the next version.
    ChangeProtections {
        effective_from: Timestamp,
        settings: ProtectionSettings,
    },
    /// An outbound transfer with normal or next-day arrival: funds and limit use are reserved
    /// now, the money leaves when it comes due.
    DelayedTransfer {
        from: AccountId,
        counterparty: String,
        amount: Amount,
        arrival: Arrival,
    },
    /// The customer confirms an outflow held for large-transaction verification.
    ConfirmHold {
        hold: CommandId,
    },
    /// The customer declines a held outflow: funds and limit use are released.
    DeclineHold {
        hold: CommandId,
    },
    /// The customer cancels a delayed transfer before it executes.
    CancelTransfer {
        transfer: CommandId,
    },
    /// Advances the ledger's time: holds expire and delayed transfers execute up to `at`.
    Tick,
}

impl CommandBody {
    /// Opens a Class I account for `customer`, identity verified in person, no card: the usual
    /// opening in setups, tests and benchmarks.
    pub fn open_class_i(account: AccountId, customer: CustomerId) -> CommandBody {
        CommandBody::OpenAccount {
            account,
            customer,
            class: AccountClass::I,
            binding: None,
            verified_in_person: true,
            with_card: false,
        }
    }

    /// The amount moved, for money-moving commands.
    pub fn amount(&self) -> Option<Amount> {
        match self {
            CommandBody::CashDeposit { amount, .. }
            | CommandBody::CashWithdrawal { amount, .. }
            | CommandBody::InternalTransfer { amount, .. }
            | CommandBody::InboundTransfer { amount, .. }
            | CommandBody::OutboundTransfer { amount, .. }
            | CommandBody::Payment { amount, .. }
            | CommandBody::WealthPurchase { amount, .. }
            | CommandBody::WealthRedemption { amount, .. }
            | CommandBody::DelayedTransfer { amount, .. } => Some(*amount),
            // Listed one by one: a new command that moves money must say so here.
            CommandBody::OpenAccount { .. }
            | CommandBody::CloseAccount { .. }
            | CommandBody::ChangePolicy { .. }
            | CommandBody::LockAccount { .. }
            | CommandBody::UnlockAccount { .. }
            | CommandBody::SetPersonalLimits { .. }
            | CommandBody::SetNightLock { .. }
            | CommandBody::ListRisk { .. }
            | CommandBody::UnlistRisk { .. }
            | CommandBody::ChangeProtections { .. }
            | CommandBody::ConfirmHold { .. }
            | CommandBody::DeclineHold { .. }
            | CommandBody::CancelTransfer { .. }
            | CommandBody::Tick => None,
        }
    }
}

/// The one list of command kinds, in declaration order: generates [`CommandBody::kind`] and
/// [`CommandBody::KINDS`], so the two cannot drift apart.
macro_rules! command_kinds {
    ($($variant:ident => $kind:literal,)*) => {
        impl CommandBody {
            /// Every command kind, for metrics initialised at 0, documentation and tests.
            pub const KINDS: &'static [&'static str] = &[$($kind),*];

            /// The snake_case name of the command kind.
            pub fn kind(&self) -> &'static str {
                match self {
                    $(CommandBody::$variant { .. } => $kind,)*
                }
            }
        }
    };
}

command_kinds! {
    OpenAccount => "open_account",
    CloseAccount => "close_account",
    CashDeposit => "cash_deposit",
    CashWithdrawal => "cash_withdrawal",
    InternalTransfer => "internal_transfer",
    InboundTransfer => "inbound_transfer",
    OutboundTransfer => "outbound_transfer",
    Payment => "payment",
    WealthPurchase => "wealth_purchase",
    WealthRedemption => "wealth_redemption",
    ChangePolicy => "change_policy",
    LockAccount => "lock_account",
    UnlockAccount => "unlock_account",
    SetPersonalLimits => "set_personal_limits",
    SetNightLock => "set_night_lock",
    ListRisk => "list_risk",
    UnlistRisk => "unlist_risk",
    ChangeProtections => "change_protections",
    DelayedTransfer => "delayed_transfer",
    ConfirmHold => "confirm_hold",
    DeclineHold => "decline_hold",
    CancelTransfer => "cancel_transfer",
    Tick => "tick",
}
