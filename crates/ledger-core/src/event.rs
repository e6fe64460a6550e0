//! Events: what happened. Every command that is not a retry produces events, a rejection
//! included, so the log is the full audit trail. Events carry their effects as figures
//! (balances and usage after the posting), so applying one needs no business logic.

use serde::{Deserialize, Serialize};

use crate::command::{Binding, CommandBody};
use crate::ids::{AccountClass, AccountId, CommandId, CustomerId};
use crate::money::Amount;
use crate::policy::Policy;
use crate::posting::{BucketUsage, Posting, PostingKind};
use crate::principal::Principal;
use crate::protect::{Actor, NightWindow, PersonalLimits, ProtectionSettings, SecurityLock};
use crate::reject::RejectReason;
use crate::reserve::{Release, Reservation, Settlement};
use crate::time::Timestamp;
use crate::withhold::{WithheldText, withhold};

/// One entry of the log.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Event {
    /// The command this event answers.
    pub command_id: CommandId,
    /// Business time. Non-decreasing along the log: a command dated before the head is
    /// recorded as rejected at the head's time.
    pub at: Timestamp,
    pub body: EventBody,
    /// Who submitted the command ([`Principal::ledger`] for what came due). `None` in records of
    /// format 1, written before principals were recorded.
    pub principal: Option<Principal>,
    /// The texts a rejection left out of its command (over their limit): their field, length and
    /// digest. Empty for every other event.
    pub withheld: Vec<WithheldText>,
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
    /// A checkpoint the writer recorded on its schedule (every N records, and before the first
    /// record of each Beijing day): the Merkle tree of the first `size` records (`size` = this
    /// record's seq − 1) has root `root` (64 lower-case hex digits), and `note` is its C2SP
    /// signed note when the ledger has a checkpoint key. Answers no command and changes no state
    /// (its time is the head's); its command id is the nil UUID.
    Checkpointed {
        size: u64,
        root: String,
        note: Option<String>,
    },
}

impl Event {
    /// False for the records that answer no command (a recorded checkpoint, whose id is the nil
    /// UUID): they are never entered in the answered-id table.
    pub fn answers_a_command(&self) -> bool {
        !matches!(self.body, EventBody::Checkpointed { .. })
    }

    /// The posting this event made, if it moved money (a posting, or a reservation settled).
    pub fn posting(&self) -> Option<&Posting> {
        match &self.body {
            EventBody::Posted(posting) | EventBody::ReservationSettled { posting, .. } => Some(posting),
            _ => None,
        }
    }

    /// The balance `account` has after this event when the event sets it: zero when it opens
    /// the account, the leg's `balance_after` when it posts to it; `None` otherwise.
    pub fn balance_after(&self, account: AccountId) -> Option<Amount> {
        if let EventBody::AccountOpened { account: opened, .. } = &self.body {
            return (*opened == account).then_some(Amount::ZERO);
        }
        let posting = self.posting()?;
        [&posting.debit, &posting.credit]
            .into_iter()
            .flatten()
            .find(|leg| leg.account == account)
            .map(|leg| leg.balance_after)
    }

    /// The limit use `account` has after this event when the event sets it (a posting's leg,
    /// a reservation made or released); `None` otherwise.
    pub fn usage_after(&self, account: AccountId) -> Option<&[BucketUsage]> {
        match &self.body {
            EventBody::Reserved { reservation, usage_after } if reservation.account == account => Some(usage_after),
            EventBody::ReservationReleased { account: released, usage_after, .. } if *released == account => {
                Some(usage_after)
            }
            _ => {
                let posting = self.posting()?;
                [&posting.debit, &posting.credit]
                    .into_iter()
                    .flatten()
                    .find(|leg| leg.account == account)
                    .map(|leg| leg.usage_after.as_slice())
            }
        }
    }

    /// Whether `body` is the request this event answered (business time aside): a retry whose
    /// body is not reuses the id for another request. A withheld text is compared by its length
    /// and digest.
    pub fn answers(&self, body: &CommandBody) -> bool {
        let Some(request) = self.request() else { return false };
        request == *body || (!self.withheld.is_empty() && (request, self.withheld.clone()) == withhold(body))
    }

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
            EventBody::Checkpointed { .. } => return None,
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
