//! A paged view of the state: the accounts (and customers' account lists) a caller loaded into
//! it, over an authoritative copy kept elsewhere (the store). `decide` and `apply` run over a
//! view exactly as over the whole state, provided the view holds what [`State::wanted`] names;
//! a lookup of anything else is recorded ([`State::not_in_view`]) and `decide_after_due` fails
//! loudly on it, so a missing account is never taken for an unknown one.

use std::collections::HashSet;
use std::sync::OnceLock;

use crate::command::{Binding, Command, CommandBody};
use crate::error::{Error, Result};
use crate::ids::{AccountId, CustomerId};
use crate::state::{Account, State};
use crate::time::Timestamp;

/// What a paged state knows beyond the accounts it holds.
#[derive(Clone, Debug, Default)]
pub(crate) struct View {
    /// Accounts known not to exist (loaded as absent).
    absent: HashSet<AccountId>,
    /// The first lookup of something the view does not hold, since the last load.
    missed: OnceLock<NotInView>,
}

/// Something a decision looked up that a paged state does not hold: the caller did not load it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NotInView {
    #[error("account {0} is not in the state's view")]
    Account(AccountId),
    #[error("the account list of customer {0} is not in the state's view")]
    Customer(CustomerId),
}

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

impl View {
    fn miss(&self, what: NotInView) {
        // Only the first miss is kept: it is the one the decision went wrong at.
        let _ = self.missed.set(what);
    }
}

impl State {
    /// Whether this state is a paged view (else it holds every account).
    pub fn is_paged(&self) -> bool {
        self.view.is_some()
    }

    /// Makes this state a paged view holding the accounts and customer lists it holds now.
    pub fn page(&mut self) {
        self.view.get_or_insert_with(View::default);
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
                self.accounts.insert(id, account);
            }
            None => {
                view.absent.insert(id);
            }
        }
        view.missed = OnceLock::new();
    }

    /// Loads the complete list of `customer`'s accounts (in opening order) into the view.
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

    /// How many accounts this state holds in memory.
    pub fn accounts_held(&self) -> usize {
        self.accounts.len()
    }

    /// Drops from the view every account `keep` refuses, the customer lists none of whose
    /// accounts is kept, and what it knew absent. A whole state is unchanged.
    pub fn evict(&mut self, keep: impl Fn(AccountId) -> bool) {
        let Some(view) = &mut self.view else { return };
        self.accounts.retain(|id, _| keep(*id));
        self.customers.retain(|_, accounts| accounts.iter().any(|id| keep(*id)));
        view.absent = HashSet::new();
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
    pub fn wanted(&self, commands: &[Command]) -> Wanted {
        if self.view.is_none() {
            return Wanted::default();
        }
        let mut accounts = Vec::new();
        let mut customers = Vec::new();
        let mut customer_of =
            |state: &State, customer: CustomerId, accounts: &mut Vec<AccountId>| match state.customers.get(&customer) {
                Some(list) => accounts.extend(list.iter().copied()),
                None => customers.push(customer),
            };
        let latest = commands.iter().map(|command| command.at).max().unwrap_or(Timestamp::UNIX_EPOCH);
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
        accounts.retain(|id| !self.knows_account(*id));
        accounts.sort_unstable();
        accounts.dedup();
        customers.sort_unstable();
        customers.dedup();
        Wanted { accounts, customers }
    }
}
