//! The ledger's state and `apply`: folding events into state. No business logic lives here:
//! events carry the figures to record.

use std::collections::{BTreeMap, BTreeSet};

use rustc_hash::FxHashMap as HashMap;

use serde::{Deserialize, Serialize};

use crate::command::Binding;
use crate::error::{Error, Result};
use crate::event::{Event, EventBody};
use crate::ids::{AccountClass, AccountId, AccountStatus, CommandId, CustomerId};
use crate::money::Amount;
use crate::policy::{Flow, Policy};
use crate::posting::{BucketUsage, Leg};
use crate::protect::{DEFAULT_SETTINGS, ProtectionSettings, Protections};
use crate::reserve::{Reservation, Stage};
use crate::time::{BeijingDay, Timestamp, in_force_at};

/// One account as the ledger knows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub id: AccountId,
    pub customer: CustomerId,
    pub class: AccountClass,
    pub status: AccountStatus,
    pub binding: Option<Binding>,
    pub verified_in_person: bool,
    pub with_card: bool,
    pub balance: Amount,
    /// Has received money from its bound account at least once.
    pub funded_from_bound: bool,
    /// Use per limit bucket, by bucket name.
    pub usage: Vec<BucketUsage>,
}

impl Account {
    /// A newly opened account, as `AccountOpened` records it.
    pub(crate) fn opened(event: &EventBody) -> Option<Account> {
        let EventBody::AccountOpened { account, customer, class, binding, verified_in_person, with_card } = event
        else {
            return None;
        };
        Some(Account {
            id: *account,
            customer: *customer,
            class: *class,
            status: AccountStatus::Open,
            binding: binding.clone(),
            verified_in_person: *verified_in_person,
            with_card: *with_card,
            balance: Amount::ZERO,
            funded_from_bound: false,
            usage: Vec::new(),
        })
    }

    /// Records a posting's leg on this account: its balance, bound funding, bucket use.
    pub(crate) fn record_leg(&mut self, leg: &Leg) {
        self.balance = leg.balance_after;
        if leg.flow == Flow::TransferInBound {
            self.funded_from_bound = true;
        }
        self.record_usage(&leg.usage_after);
    }

    /// Records the use of each bucket named in `usage_after`.
    pub(crate) fn record_usage(&mut self, usage_after: &[BucketUsage]) {
        for after in usage_after {
            match self.usage.iter_mut().find(|usage| usage.bucket == after.bucket) {
                Some(usage) => *usage = after.clone(),
                None => self.usage.push(after.clone()),
            }
        }
    }

    /// The stored use of bucket `name`, if the account ever used it.
    pub fn bucket_usage(&self, name: &str) -> Option<&BucketUsage> {
        self.usage.iter().find(|usage| usage.bucket == name)
    }
}

/// What a paged state knows beyond the accounts it holds.
#[derive(Clone, Debug, Default)]
pub(crate) struct View {
    /// Accounts known not to exist (loaded as absent).
    pub(crate) absent: std::collections::HashSet<AccountId>,
    /// The first lookup of something the view does not hold, since the last load.
    pub(crate) missed: std::sync::OnceLock<crate::error::NotInView>,
    /// The accounts held, in CLOCK order (`State::evict`).
    pub(crate) clock: crate::cache::Clock<AccountId>,
}

impl View {
    pub(crate) fn miss(&self, what: crate::error::NotInView) {
        // Only the first miss is kept: it is the one the decision went wrong at.
        let _ = self.missed.set(what);
    }
}

/// A policy and the time it is in force from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyVersion {
    pub effective_from: Timestamp,
    pub policy: Policy,
}

impl PolicyVersion {
    /// Of `versions` (sorted by effective time), the policy in force at `at`: the latest version
    /// whose effective time is not after `at`.
    pub fn in_force(versions: &[PolicyVersion], at: Timestamp) -> Option<&Policy> {
        in_force_at(versions, at, |version| version.effective_from).map(|version| &version.policy)
    }
}

/// Everything `decide` needs. Rebuilt exactly by applying the log's events from empty.
///
/// Two states are equal when they hold the same ledger: the answered ids held in memory are not
/// compared (a writer's state holds a bounded cache of them, a replay's none or all).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct State {
    /// Every account, or in a paged view those loaded into it (see `view.rs`).
    pub(crate) accounts: HashMap<AccountId, Account>,
    /// Accounts per customer, in id order (in a paged view: the lists loaded into it).
    pub(crate) customers: HashMap<CustomerId, Vec<AccountId>>,
    /// Sorted by `effective_from`, strictly increasing.
    pub(crate) policies: Vec<PolicyVersion>,
    /// The sequence number (1-based ordinal in the log) of each command's first event, of the
    /// commands this state knows (see `answer_seq`). Not part of the serde form: the store keeps
    /// every answered id in a table of its own.
    #[serde(skip)]
    pub(crate) answers: crate::cache::Answers,
    /// Business time of the last event.
    pub(crate) head_at: Option<Timestamp>,
    /// Number of events applied; the next event gets `event_count + 1`.
    pub(crate) event_count: u64,
    /// Protections of the accounts that use any (locks, limits, night lock, reservations).
    pub(crate) protections: HashMap<AccountId, Protections>,
    /// Held and scheduled outflows, by the command that asked for them.
    pub(crate) reservations: BTreeMap<CommandId, Reservation>,
    /// `(due time, id)` of every reservation: the order the ledger acts on them.
    pub(crate) due: BTreeSet<(Timestamp, CommandId)>,
    /// Risk-listed counterparties and the sequence number of the event that listed each.
    pub(crate) risk_list: HashMap<String, u64>,
    /// Protection settings by effective time, strictly increasing; defaults before the first.
    pub(crate) protection_settings: Vec<(Timestamp, ProtectionSettings)>,
    /// `None`: this state holds every account. `Some`: a paged view (see `view.rs`); not part
    /// of the serde form.
    #[serde(skip)]
    pub(crate) view: Option<View>,
}

impl PartialEq for State {
    fn eq(&self, other: &State) -> bool {
        self.accounts == other.accounts
            && self.customers == other.customers
            && self.policies == other.policies
            && self.head_at == other.head_at
            && self.event_count == other.event_count
            && self.protections == other.protections
            && self.reservations == other.reservations
            && self.due == other.due
            && self.risk_list == other.risk_list
            && self.protection_settings == other.protection_settings
    }
}

impl Eq for State {}

impl State {
    /// An empty ledger: no accounts, no policy.
    pub fn new() -> State {
        State::default()
    }

    /// The account `id`, open or closed.
    /// In a paged view, looking up an account it does not hold records a miss
    /// ([`State::not_in_view`]).
    pub fn account(&self, id: AccountId) -> Option<&Account> {
        let found = self.accounts.get(&id);
        if found.is_none() {
            self.missed_account(id);
        }
        found
    }

    /// All accounts, in no particular order.
    pub fn accounts(&self) -> impl Iterator<Item = &Account> {
        self.accounts.values()
    }

    /// The accounts of `customer`, in id order.
    /// In a paged view, a list or an account it does not hold records a miss.
    pub fn customer_accounts(&self, customer: CustomerId) -> impl Iterator<Item = &Account> {
        let list = self.customers.get(&customer);
        if list.is_none() {
            self.missed_customer(customer);
        }
        list.into_iter().flatten().filter_map(|id| self.account(*id))
    }

    /// The policy in force at `at`: the latest version whose effective time is not after `at`.
    pub fn policy_at(&self, at: Timestamp) -> Option<&Policy> {
        PolicyVersion::in_force(&self.policies, at)
    }

    /// Every scheduled policy version, by effective time.
    pub fn policy_versions(&self) -> &[PolicyVersion] {
        &self.policies
    }

    /// The sequence number of the first event answering `command`, if this state knows it. A
    /// state applied from genesis knows every answered id; the writer's state knows only those it
    /// loaded or answered since it last forgot them (the store holds them all: the writer loads
    /// the ids a batch names before deciding it, `docs/FORMAT.md`, "Answered ids").
    pub fn answer_seq(&self, command: CommandId) -> Option<u64> {
        self.answers.get(command)
    }

    /// Records that `command` was first answered by the event at `seq` (an answer loaded from
    /// the store); an answer already known is kept.
    pub fn remember_answer(&mut self, command: CommandId, seq: u64) {
        self.answers.remember(command, seq);
    }

    /// A use of `command`'s answer held in memory (a retry): it outlives unused ones when the
    /// cache is cut ([`State::evict_answers`]).
    pub fn touch_answer(&mut self, command: CommandId) {
        self.answers.touch(command);
    }

    /// Cuts the answered ids held in memory to at most `target`, in CLOCK order (the oldest
    /// not retried since the hand last passed go first; `cache.rs`). The store keeps them all.
    pub fn evict_answers(&mut self, target: usize) {
        self.answers.evict_to(target);
    }

    /// Forgets every answered id held in memory (the store keeps them): after this, `decide`
    /// answers a retry only of an id remembered again first.
    pub fn forget_answers(&mut self) {
        self.answers.clear();
    }

    /// Forgets every answered id held in memory and, while `skip`, `apply` records none: a
    /// replay checks the log's answers against the store's table instead of holding them.
    pub fn skip_answers(&mut self, skip: bool) {
        self.answers.skip(skip);
    }

    /// How many answered ids this state holds in memory.
    pub fn answers_held(&self) -> usize {
        self.answers.len()
    }

    /// The protections of `account`, if it ever used one.
    pub fn protections(&self, account: AccountId) -> Option<&Protections> {
        self.protections.get(&account)
    }

    /// Every account's protections, in no particular order.
    pub fn all_protections(&self) -> impl Iterator<Item = (AccountId, &Protections)> {
        self.protections.iter().map(|(id, protections)| (*id, protections))
    }

    /// Funds of `account` reserved by holds and delayed transfers.
    pub fn reserved(&self, account: AccountId) -> Amount {
        self.protections.get(&account).map_or(Amount::ZERO, |p| p.reserved)
    }

    /// The pending (held or scheduled) outflow asked for by command `id`.
    pub fn reservation(&self, id: CommandId) -> Option<&Reservation> {
        self.reservations.get(&id)
    }

    /// Every pending outflow, by command id.
    pub fn reservations(&self) -> impl Iterator<Item = &Reservation> {
        self.reservations.values()
    }

    /// The first reservation the ledger must act on at or before `at`, if any.
    pub fn first_due(&self, at: Timestamp) -> Option<&Reservation> {
        let (due_at, id) = self.due.first()?;
        if *due_at > at {
            return None;
        }
        self.reservations.get(id)
    }

    /// A copy of everything but the accounts and customer lists, as a paged view holding none.
    pub(crate) fn without_accounts(&self) -> State {
        State {
            accounts: HashMap::default(),
            customers: HashMap::default(),
            policies: self.policies.clone(),
            answers: self.answers.clone(),
            head_at: self.head_at,
            event_count: self.event_count,
            protections: self.protections.clone(),
            reservations: self.reservations.clone(),
            due: self.due.clone(),
            risk_list: self.risk_list.clone(),
            protection_settings: self.protection_settings.clone(),
            view: Some(View::default()),
        }
    }

    /// Every reservation due at or before `at`, in due order.
    pub(crate) fn due_by(&self, at: Timestamp) -> impl Iterator<Item = &Reservation> {
        self.due.iter().take_while(move |(due_at, _)| *due_at <= at).filter_map(|(_, id)| self.reservations.get(id))
    }

    /// The sequence number of the event that risk-listed `counterparty`, if it is listed.
    pub fn risk_listed(&self, counterparty: &str) -> Option<u64> {
        self.risk_list.get(counterparty).copied()
    }

    /// Every risk-listed counterparty with the sequence number that listed it, in no order.
    pub fn risk_list(&self) -> impl ExactSizeIterator<Item = (&str, u64)> {
        self.risk_list.iter().map(|(counterparty, seq)| (counterparty.as_str(), *seq))
    }

    /// The protection settings in force at `at` (the defaults before any version).
    pub fn protection_settings_at(&self, at: Timestamp) -> &ProtectionSettings {
        let version = in_force_at(&self.protection_settings, at, |(from, _)| *from);
        version.map_or(&*DEFAULT_SETTINGS, |(_, settings)| settings)
    }

    /// Every scheduled protection-settings version, by effective time.
    pub fn protection_versions(&self) -> &[(Timestamp, ProtectionSettings)] {
        &self.protection_settings
    }

    /// Business time of the last event.
    pub fn head_at(&self) -> Option<Timestamp> {
        self.head_at
    }

    /// Number of events applied.
    pub fn event_count(&self) -> u64 {
        self.event_count
    }

    /// Records `event`. Fails only if the event contradicts the state (a log that was not
    /// produced by `decide` on this state); the state is then unchanged.
    pub fn apply(&mut self, event: &Event) -> Result<()> {
        if self.head_at.is_some_and(|head| event.at < head) {
            return Err(Error::Replay(format!("event time {} is before the head", event.at)));
        }
        match &event.body {
            EventBody::AccountOpened { account, customer, .. } => {
                if self.exists(*account)? {
                    return Err(Error::Replay(format!("account {account} opened twice")));
                }
                let list = match (self.customers.get_mut(customer), &self.view) {
                    (Some(list), _) => list,
                    (None, None) => self.customers.entry(*customer).or_default(),
                    (None, Some(_)) => {
                        return Err(Error::Replay(crate::error::NotInView::Customer(*customer).to_string()));
                    }
                };
                // In id order: the store's customer index keeps them so.
                let at = list.partition_point(|held| held < account);
                list.insert(at, *account);
                let opened = Account::opened(&event.body);
                self.accounts.extend(opened.map(|opened| (*account, opened)));
                if let Some(view) = &mut self.view {
                    view.clock.admit(*account);
                }
            }
            EventBody::AccountClosed { account } => {
                self.exists(*account)?;
                let found = self.accounts.get_mut(account);
                let found = found.ok_or_else(|| Error::Replay(format!("closing unknown account {account}")))?;
                found.status = AccountStatus::Closed;
            }
            EventBody::Posted(posting) => self.apply_posting(posting, event.at)?,
            EventBody::PolicyScheduled { effective_from, policy } => {
                // A new version supersedes every version from the same time on.
                self.policies.retain(|version| version.effective_from < *effective_from);
                self.policies.push(PolicyVersion { effective_from: *effective_from, policy: (**policy).clone() });
            }
            EventBody::Rejected { .. } | EventBody::TimeAdvanced => {}
            // A recorded checkpoint answers no command: its (nil) id is not an answer.
            EventBody::Checkpointed { .. } => {
                if event.at != self.head_at.unwrap_or(event.at) {
                    return Err(Error::Replay(format!("a checkpoint at {} is not at the head's time", event.at)));
                }
                self.event_count += 1;
                self.head_at = Some(event.at);
                return Ok(());
            }
            EventBody::AccountLocked { account, lock } => {
                let protections = self.protections_mut(*account)?;
                protections.locks.retain(|held| held.by != lock.by);
                protections.locks.push(lock.clone());
            }
            EventBody::AccountUnlocked { account, by } => {
                self.protections_mut(*account)?.locks.retain(|held| held.by != *by);
            }
            EventBody::PersonalLimitsSet { account, limits } => self.protections_mut(*account)?.limits = *limits,
            EventBody::NightLockSet { account, window } => self.protections_mut(*account)?.night = *window,
            EventBody::RiskListed { counterparty, .. } => {
                self.risk_list.insert(counterparty.clone(), self.event_count + 1);
            }
            EventBody::RiskUnlisted { counterparty, .. } => {
                self.risk_list.remove(counterparty);
            }
            EventBody::ProtectionsScheduled { effective_from, settings } => {
                self.protection_settings.retain(|(from, _)| from < effective_from);
                self.protection_settings.push((*effective_from, settings.clone()));
            }
            EventBody::Reserved { reservation, usage_after } => self.apply_reserved(reservation, usage_after)?,
            EventBody::HoldConfirmed { id, due_at } => {
                let reservation = self.reservations.get_mut(id);
                let reservation = reservation.ok_or_else(|| Error::Replay(format!("confirming unknown hold {id}")))?;
                self.due.remove(&(reservation.stage.due_at(), *id));
                reservation.stage = Stage::Scheduled { due_at: *due_at };
                self.due.insert((*due_at, *id));
            }
            EventBody::ReservationSettled { id, posting, .. } => {
                let leg =
                    posting.debit.as_ref().ok_or_else(|| Error::Replay(format!("settling {id} without a debit")))?;
                if !self.exists(leg.account)? {
                    return Err(Error::Replay(format!("settling {id} from unknown account {}", leg.account)));
                }
                self.end_reservation(*id)?;
                self.record_leg(leg);
                self.check_reserved_within_balance(leg.account)?;
            }
            EventBody::ReservationReleased { id, usage_after, .. } => self.apply_released(*id, usage_after)?,
        }
        self.event_count += 1;
        self.answers.remember(event.command_id, self.event_count);
        self.head_at = Some(event.at);
        Ok(())
    }

    fn apply_posting(&mut self, posting: &crate::posting::Posting, at: Timestamp) -> Result<()> {
        for leg in [&posting.debit, &posting.credit].into_iter().flatten() {
            if !self.exists(leg.account)? {
                return Err(Error::Replay(format!("posting to unknown account {}", leg.account)));
            }
        }
        // Personal day use moves only for a debit on a flow personal limits cover, of an account
        // with a per-day limit.
        let personal = posting.debit.as_ref().filter(|leg| {
            self.protections.get(&leg.account).is_some_and(|p| p.limits.per_day.is_some())
                && self.protection_settings_at(at).personal_limit_flows.contains(&leg.flow)
        });
        let personal = match personal {
            Some(leg) => Some((leg.account, self.personal_use_after(leg.account, at.beijing_day(), posting.amount)?)),
            None => None,
        };
        for leg in [&posting.debit, &posting.credit].into_iter().flatten() {
            self.record_leg(leg);
        }
        if let Some((account, (day, used))) = personal
            && let Some(protections) = self.protections.get_mut(&account)
        {
            (protections.personal_day, protections.personal_day_used) = (day, used);
        }
        if let Some(leg) = &posting.debit {
            self.check_reserved_within_balance(leg.account)?;
        }
        Ok(())
    }

    fn apply_reserved(&mut self, reservation: &Reservation, usage_after: &[BucketUsage]) -> Result<()> {
        if self.reservations.contains_key(&reservation.id) {
            return Err(Error::Replay(format!("reservation {} made twice", reservation.id)));
        }
        let personal = match reservation.personal {
            true => {
                let day = reservation.requested_at.beijing_day();
                Some(self.personal_use_after(reservation.account, day, reservation.amount)?)
            }
            false => None,
        };
        let protections = self.protections_mut(reservation.account)?;
        let reserved = protections.reserved.checked_add(reservation.amount);
        protections.reserved = reserved.ok_or_else(|| Error::Replay("reserved funds overflow".into()))?;
        if let Some((day, used)) = personal {
            (protections.personal_day, protections.personal_day_used) = (day, used);
        }
        self.record_usage(reservation.account, usage_after);
        self.due.insert((reservation.stage.due_at(), reservation.id));
        self.reservations.insert(reservation.id, reservation.clone());
        self.check_reserved_within_balance(reservation.account)
    }

    fn apply_released(&mut self, id: CommandId, usage_after: &[BucketUsage]) -> Result<()> {
        if let Some(reservation) = self.reservations.get(&id) {
            self.exists(reservation.account)?;
        }
        let reservation = self.end_reservation(id)?;
        if reservation.personal
            && let Some(protections) = self.protections.get_mut(&reservation.account)
            && protections.personal_day == reservation.requested_at.beijing_day()
        {
            let used = protections.personal_day_used.checked_sub(reservation.amount);
            protections.personal_day_used = used
                .ok_or_else(|| Error::Replay(format!("releasing {id} gives back more personal use than was used")))?;
        }
        self.record_usage(reservation.account, usage_after);
        Ok(())
    }

    /// The account's personal day use after adding `amount` on `day` (a new day starts at zero).
    fn personal_use_after(&self, account: AccountId, day: BeijingDay, amount: Amount) -> Result<(BeijingDay, Amount)> {
        let used = self.protections.get(&account).map_or(Amount::ZERO, |p| p.personal_used_on(day));
        let after = used.checked_add(amount).ok_or_else(|| Error::Replay("personal day use overflows".into()))?;
        Ok((day, after))
    }

    /// Invariant: what holds and delayed transfers reserve never exceeds the balance.
    fn check_reserved_within_balance(&self, account: AccountId) -> Result<()> {
        let balance = self.accounts.get(&account).map_or(Amount::ZERO, |a| a.balance);
        let reserved = self.reserved(account);
        if reserved > balance {
            return Err(Error::Replay(format!("account {account} reserves {reserved} of a balance of {balance}")));
        }
        Ok(())
    }

    fn protections_mut(&mut self, account: AccountId) -> Result<&mut Protections> {
        if !self.exists(account)? {
            return Err(Error::Replay(format!("protection on unknown account {account}")));
        }
        Ok(self.protections.entry(account).or_default())
    }

    /// Removes reservation `id` and its funds from the account's reserved total.
    fn end_reservation(&mut self, id: CommandId) -> Result<Reservation> {
        let reservation =
            self.reservations.get(&id).ok_or_else(|| Error::Replay(format!("unknown reservation {id}")))?;
        let reserved = self.reserved(reservation.account).checked_sub(reservation.amount);
        let reserved = reserved.ok_or_else(|| Error::Replay(format!("ending {id} frees more than was reserved")))?;
        let account = reservation.account;
        if let Some(protections) = self.protections.get_mut(&account) {
            protections.reserved = reserved;
        }
        let reservation =
            self.reservations.remove(&id).ok_or_else(|| Error::Replay(format!("unknown reservation {id}")))?;
        self.due.remove(&(reservation.stage.due_at(), id));
        Ok(reservation)
    }

    fn record_leg(&mut self, leg: &Leg) {
        if let Some(account) = self.accounts.get_mut(&leg.account) {
            account.record_leg(leg);
        }
    }

    fn record_usage(&mut self, account: AccountId, usage_after: &[BucketUsage]) {
        if let Some(account) = self.accounts.get_mut(&account) {
            account.record_usage(usage_after);
        }
    }
}
