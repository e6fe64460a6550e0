//! A paged view of the state: the accounts (and customers' account lists) a caller loaded into
//! it, over an authoritative copy kept elsewhere (the store). `decide` and `apply` run over a
//! view exactly as over the whole state, provided the view holds what [`State::wanted`] names;
//! a lookup of anything else is recorded ([`State::not_in_view`]) and `decide_after_due` fails
//! loudly on it, so a missing account is never taken for an unknown one.

use std::collections::HashSet;
use std::sync::OnceLock;

use crate::command::{Binding, Command, CommandBody};
use crate::error::{Error, NotInView, Result};
use crate::event::{Event, EventBody};
use crate::ids::{AccountId, CustomerId};
use crate::state::{Account, State, View};
use crate::time::Timestamp;

/// What a batch of commands reads that a paged state does not hold yet; load it, then ask again
/// (an account's customer list is named once the account is loaded).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Wanted {
    /// Sorted, each once.
    pub accounts: Vec<AccountId>,
    /// Sorted, each once.
    pub customers: Vec<CustomerId>,
}

impl Wanted {
    pub fn is_empty(&self) -> bool {
        self.accounts.is_empty() && self.customers.is_empty()
    }
}

impl State {
    /// Whether this state is a paged view (else it holds every account).
    pub fn is_paged(&self) -> bool {
        self.view.is_some()
    }

    /// Makes this state a paged view holding the accounts and customer lists it holds now (each
    /// held account enters the CLOCK ring, so [`State::evict`] can cut it).
    pub fn page(&mut self) {
        if self.view.is_none() {
            let mut view = View::default();
            for id in self.accounts.keys() {
                view.clock.admit(*id);
            }
            self.view = Some(view);
        }
    }

    /// A paged view with everything of this state but its accounts and customer lists.
    pub fn empty_view(&self) -> State {
        self.without_accounts()
    }

    /// Loads account `id` into the view: its state, or `None` when no such account exists.
    pub fn load_account(&mut self, id: AccountId, account: Option<Account>) {
        let Some(view) = &mut self.view else { return };
        match account {
            Some(account) => {
                view.absent.remove(&id);
                if self.accounts.insert(id, account).is_none() {
                    view.clock.admit(id);
                }
            }
            None => {
                view.absent.insert(id);
            }
        }
        view.missed = OnceLock::new();
    }

    /// Loads the complete list of `customer`'s accounts (in id order) into the view.
    pub fn load_customer(&mut self, customer: CustomerId, accounts: Vec<AccountId>) {
        if let Some(view) = &mut self.view {
            self.customers.insert(customer, accounts);
            view.missed = OnceLock::new();
        }
    }

    /// The first lookup since the last load of something this view does not hold.
    pub fn not_in_view(&self) -> Option<NotInView> {
        self.view.as_ref().and_then(|view| view.missed.get().copied())
    }

    /// Account `id` if this state holds it (a lookup that records no miss).
    pub fn account_held(&self, id: AccountId) -> Option<&Account> {
        self.accounts.get(&id)
    }

    /// How many accounts this state holds in memory.
    pub fn accounts_held(&self) -> usize {
        self.accounts.len()
    }

    /// Cuts the accounts this view holds to at most `target`, in CLOCK order (`cache.rs`): the
    /// accounts not used since the hand last passed go first ([`State::touch`]), never one
    /// `pinned` names (it stays even if `target` cannot be met). Then drops the customer lists
    /// none of whose accounts is held, and what it knew absent. A whole state is unchanged.
    pub fn evict(&mut self, target: usize, pinned: impl Fn(AccountId) -> bool) {
        let Some(view) = &mut self.view else { return };
        let excess = self.accounts.len().saturating_sub(target);
        if excess > 0 {
            for id in view.clock.sweep(excess, pinned) {
                self.accounts.remove(&id);
            }
            let accounts = &self.accounts;
            self.customers.retain(|_, list| list.iter().any(|id| accounts.contains_key(id)));
            if crate::cache::oversized(self.accounts.capacity(), self.accounts.len()) {
                self.accounts.shrink_to_fit();
            }
        }
        view.absent = HashSet::new();
    }

    /// Marks every account `commands` name that this view holds as used: the next eviction
    /// spares it. Nothing for a whole state.
    pub fn touch<'c>(&mut self, commands: impl Iterator<Item = &'c Command> + Clone) {
        if self.view.is_none() {
            return;
        }
        let (named, _) = self.named(commands);
        if let Some(view) = &mut self.view {
            for id in named {
                if self.accounts.contains_key(&id) {
                    view.clock.touch(id);
                }
            }
        }
    }

    /// Whether a lookup of account `id` is answered: held, known absent, or a whole state.
    pub(crate) fn knows_account(&self, id: AccountId) -> bool {
        self.view.as_ref().is_none_or(|view| self.accounts.contains_key(&id) || view.absent.contains(&id))
    }

    /// Records a lookup of account `id` that this view does not answer.
    pub(crate) fn missed_account(&self, id: AccountId) {
        if let Some(view) = &self.view
            && !view.absent.contains(&id)
        {
            view.miss(NotInView::Account(id));
        }
    }

    /// Records a lookup of `customer`'s list that this view does not hold.
    pub(crate) fn missed_customer(&self, customer: CustomerId) {
        if let Some(view) = &self.view {
            view.miss(NotInView::Customer(customer));
        }
    }

    /// For `apply`: whether account `id` exists, or an error when this view does not know.
    pub(crate) fn exists(&self, id: AccountId) -> Result<bool> {
        if self.accounts.contains_key(&id) {
            return Ok(true);
        }
        if self.knows_account(id) {
            return Ok(false);
        }
        Err(Error::Replay(NotInView::Account(id).to_string()))
    }

    /// What deciding `commands` (in this order, from this state) reads that this view does not
    /// hold yet: every account a command names (debit, credit, the bound account, a pending
    /// action's account), the account lists of the customers whose accounts a rule counts
    /// (opening, closing) and their accounts, and the account of every reservation that may
    /// come due by the latest command's time. Empty for a whole state.
    pub fn wanted<'c>(&self, commands: impl Iterator<Item = &'c Command> + Clone) -> Wanted {
        if self.view.is_none() {
            return Wanted::default();
        }
        let (mut accounts, mut customers) = self.named(commands);
        accounts.retain(|id| !self.knows_account(*id));
        accounts.sort_unstable();
        accounts.dedup();
        customers.sort_unstable();
        customers.dedup();
        Wanted { accounts, customers }
    }

    /// The accounts and the customers' lists `commands` read (see [`State::wanted`]), with
    /// repeats, whether held or not: the accounts of lists held are named, lists not held are.
    fn named<'c>(&self, commands: impl Iterator<Item = &'c Command> + Clone) -> (Vec<AccountId>, Vec<CustomerId>) {
        let mut accounts = Vec::new();
        let mut customers = Vec::new();
        let mut customer_of =
            |state: &State, customer: CustomerId, accounts: &mut Vec<AccountId>| match state.customers.get(&customer) {
                Some(list) => accounts.extend(list.iter().copied()),
                None => customers.push(customer),
            };
        // A command stamped before the head is decided at the head's time.
        let latest = commands.clone().map(|command| command.at).chain(self.head_at).max();
        let latest = latest.unwrap_or(Timestamp::UNIX_EPOCH);
        accounts.extend(self.due_by(latest).map(|reservation| reservation.account));
        for command in commands {
            match &command.body {
                CommandBody::OpenAccount { account, customer, binding, .. } => {
                    accounts.push(*account);
                    if let Some(Binding::Account(bound)) = binding {
                        accounts.push(*bound);
                    }
                    customer_of(self, *customer, &mut accounts);
                }
                CommandBody::CloseAccount { account } => {
                    accounts.push(*account);
                    if let Some(held) = self.accounts.get(account) {
                        customer_of(self, held.customer, &mut accounts);
                    }
                }
                CommandBody::ConfirmHold { hold: id }
                | CommandBody::DeclineHold { hold: id }
                | CommandBody::CancelTransfer { transfer: id } => {
                    accounts.extend(self.reservation(*id).map(|reservation| reservation.account));
                }
                CommandBody::InternalTransfer { from, to, .. } => accounts.extend([*from, *to]),
                CommandBody::CashDeposit { account, .. }
                | CommandBody::CashWithdrawal { account, .. }
                | CommandBody::WealthPurchase { account, .. }
                | CommandBody::WealthRedemption { account, .. }
                | CommandBody::LockAccount { account, .. }
                | CommandBody::UnlockAccount { account, .. }
                | CommandBody::SetPersonalLimits { account, .. }
                | CommandBody::SetNightLock { account, .. }
                | CommandBody::InboundTransfer { to: account, .. }
                | CommandBody::OutboundTransfer { from: account, .. }
                | CommandBody::DelayedTransfer { from: account, .. }
                | CommandBody::Payment { from: account, .. } => accounts.push(*account),
                CommandBody::ChangePolicy { .. }
                | CommandBody::ChangeProtections { .. }
                | CommandBody::Tick
                | CommandBody::ListRisk { .. }
                | CommandBody::UnlistRisk { .. } => {}
            }
        }
        (accounts, customers)
    }
}

/// Everything of a state but its accounts and customer lists, as the store keeps it (its read
/// models at the head): what a paged state is built from at open.
#[derive(Clone, Debug, Default)]
pub struct StateParts {
    /// Sorted by effective time.
    pub policies: Vec<crate::state::PolicyVersion>,
    /// Sorted by effective time.
    pub protection_settings: Vec<(Timestamp, crate::protect::ProtectionSettings)>,
    pub protections: Vec<(AccountId, crate::protect::Protections)>,
    pub reservations: Vec<crate::reserve::Reservation>,
    pub risk_list: Vec<(String, u64)>,
    /// The head's business time and sequence number (events applied).
    pub head_at: Option<Timestamp>,
    pub event_count: u64,
}

impl State {
    /// A paged state holding `parts` and no account.
    pub fn from_parts(parts: StateParts) -> State {
        let StateParts { policies, protection_settings, protections, reservations, risk_list, head_at, event_count } =
            parts;
        State {
            accounts: Default::default(),
            customers: Default::default(),
            policies,
            answers: Default::default(),
            head_at,
            event_count,
            protections: protections.into_iter().collect(),
            due: reservations.iter().map(|reservation| (reservation.stage.due_at(), reservation.id)).collect(),
            reservations: reservations.into_iter().map(|reservation| (reservation.id, reservation)).collect(),
            risk_list: risk_list.into_iter().collect(),
            protection_settings,
            view: Some(View::default()),
        }
    }

    /// Makes this paged state whole again: the caller loaded every account and every customer's
    /// list into it.
    pub fn unpage(&mut self) {
        self.view = None;
    }
}

/// Applies what `event` records on accounts alone (openings, closings, postings' legs, bucket
/// use of reservations) to `accounts`, which must hold every account it names: the account
/// read models' catch-up over a log tail, without the rest of the state. `State::apply` makes
/// the same changes to its accounts.
pub fn apply_to_accounts<S: std::hash::BuildHasher>(
    accounts: &mut std::collections::HashMap<AccountId, Account, S>,
    event: &Event,
) -> Result<()> {
    fn held<S: std::hash::BuildHasher>(
        accounts: &mut std::collections::HashMap<AccountId, Account, S>,
        id: AccountId,
    ) -> Result<&mut Account> {
        accounts.get_mut(&id).ok_or_else(|| Error::Replay(format!("the account catch-up lacks account {id}")))
    }
    match &event.body {
        EventBody::AccountOpened { account, .. } => {
            if accounts.contains_key(account) {
                return Err(Error::Replay(format!("account {account} opened twice")));
            }
            accounts.extend(Account::opened(&event.body).map(|opened| (*account, opened)));
        }
        EventBody::AccountClosed { account } => held(accounts, *account)?.status = crate::ids::AccountStatus::Closed,
        EventBody::Posted(posting) => {
            for leg in [&posting.debit, &posting.credit].into_iter().flatten() {
                held(accounts, leg.account)?.record_leg(leg);
            }
        }
        EventBody::Reserved { reservation, usage_after } => {
            held(accounts, reservation.account)?.record_usage(usage_after)
        }
        EventBody::ReservationSettled { posting, .. } => {
            for leg in [&posting.debit, &posting.credit].into_iter().flatten() {
                held(accounts, leg.account)?.record_leg(leg);
            }
        }
        EventBody::ReservationReleased { account, usage_after, .. } => {
            held(accounts, *account)?.record_usage(usage_after)
        }
        EventBody::PolicyScheduled { .. }
        | EventBody::Rejected { .. }
        | EventBody::TimeAdvanced
        | EventBody::AccountLocked { .. }
        | EventBody::AccountUnlocked { .. }
        | EventBody::PersonalLimitsSet { .. }
        | EventBody::NightLockSet { .. }
        | EventBody::RiskListed { .. }
        | EventBody::RiskUnlisted { .. }
        | EventBody::ProtectionsScheduled { .. }
        | EventBody::HoldConfirmed { .. }
        | EventBody::Checkpointed { .. } => {}
    }
    Ok(())
}
