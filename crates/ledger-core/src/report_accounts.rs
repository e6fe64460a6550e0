//! What a [`Reporter`](crate::Reporter) knows of accounts: each one's owner and class, which
//! never change once it is opened (no event changes them), and the record that opened it. It
//! does not hold every account: the store answers for those it needs (its account read models),
//! a chunk of records at a time, and a bounded cache keeps the ones asked for lately. Accounts
//! opened after the store's read models (`meta/projected` behind the head, in another
//! process) are learned from their `AccountOpened` records and kept for the rest of the walk:
//! as many as that tail opens.

use std::collections::{HashMap, HashSet};

use crate::command::CommandBody;
use crate::event::{Event, EventBody};
use crate::ids::{AccountClass, AccountId, CustomerId};

/// An account's owner and class, and the sequence number of the record that opened it when
/// known (the store reads it only where a report needs it: see [`InfoWanted::opening`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AccountInfo {
    pub customer: CustomerId,
    pub class: AccountClass,
    pub opened: Option<u64>,
}

/// An account whose [`AccountInfo`] a reporter asks the store for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InfoWanted {
    pub account: AccountId,
    /// The record that opened it is wanted too: a refusal names it, and a refusal is counted
    /// under its class only if it was open by then (it may be opened later, under that id).
    pub opening: bool,
}

/// Answers, in the order asked, for the accounts a reporter wants (`None`: no such account in
/// the store's read models).
pub type InfoLookup<'a, E> = dyn FnMut(&[InfoWanted]) -> Result<Vec<Option<AccountInfo>>, E> + 'a;

/// Accounts a cache generation holds before it becomes the older one (the older is dropped
/// then): at most twice this many are cached, besides those a log tail opened.
pub const REPORT_ACCOUNTS_HELD: usize = 1 << 19;

/// The reporter's accounts: two generations of a bounded cache (what a chunk asks for is
/// served from either, and moved to the newer), and the accounts the tail opened.
#[derive(Debug)]
pub(crate) struct AccountBook {
    newer: HashMap<AccountId, AccountInfo>,
    older: HashMap<AccountId, AccountInfo>,
    /// Opened after `stored_to`: not in the store's read models, kept for the walk.
    tail: HashMap<AccountId, AccountInfo>,
    stored_to: u64,
    held: usize,
}

impl AccountBook {
    pub(crate) fn new() -> AccountBook {
        AccountBook {
            newer: HashMap::new(),
            older: HashMap::new(),
            tail: HashMap::new(),
            stored_to: u64::MAX,
            held: REPORT_ACCOUNTS_HELD,
        }
    }

    /// The store's read models hold every account opened at or before `seq`.
    pub(crate) fn stored_to(&mut self, seq: u64) {
        self.stored_to = seq;
    }

    /// At most `held` accounts per cache generation (at least 1).
    pub(crate) fn hold(&mut self, held: usize) {
        self.held = held.max(1);
    }

    /// Accounts cached and kept, for tests of the bound.
    pub(crate) fn len(&self) -> usize {
        self.newer.len() + self.older.len() + self.tail.len()
    }

    fn get(&self, account: AccountId) -> Option<AccountInfo> {
        self.tail.get(&account).or_else(|| self.newer.get(&account)).or_else(|| self.older.get(&account)).copied()
    }

    /// `account`'s info if it was opened before record `seq`.
    pub(crate) fn at(&self, account: AccountId, seq: u64) -> Option<AccountInfo> {
        self.get(account).filter(|info| info.opened.is_none_or(|opened| opened < seq))
    }

    /// `account`'s info; every account a posting or a closing names was opened before it.
    pub(crate) fn of(&self, account: AccountId) -> Option<AccountInfo> {
        self.get(account)
    }

    /// Record `seq` opened `account`.
    pub(crate) fn opened(&mut self, seq: u64, account: AccountId, customer: CustomerId, class: AccountClass) {
        let info = AccountInfo { customer, class, opened: Some(seq) };
        if seq > self.stored_to {
            self.tail.insert(account, info);
        } else {
            self.newer.insert(account, info);
        }
    }

    /// What the store answered for `account` (`None`: it holds no such account).
    pub(crate) fn load(&mut self, account: AccountId, info: Option<AccountInfo>) {
        if let Some(info) = info {
            self.newer.insert(account, info);
        }
    }

    /// Makes room before a chunk: a full newer generation becomes the older one. Then the
    /// accounts the chunk names and the cache holds move to the newer, and the chunk asks for
    /// the rest ([`AccountBook::wanted`]).
    pub(crate) fn make_room(&mut self, records: &[(u64, [u8; 32], Event)]) {
        if self.newer.len() >= self.held {
            self.older = std::mem::take(&mut self.newer);
        }
        for (_, _, event) in records {
            named(event, &mut |account, _| {
                if let Some(info) = self.older.remove(&account) {
                    self.newer.insert(account, info);
                }
            });
        }
    }

    /// The accounts `records` name that the book cannot answer for, each once: not held, or
    /// held without the opening a refusal needs. Accounts opened earlier in the chunk are not
    /// asked for (their record says it all).
    pub(crate) fn wanted(&self, records: &[(u64, [u8; 32], Event)]) -> Vec<InfoWanted> {
        let mut opened_here = HashSet::new();
        let mut asked: HashMap<AccountId, bool> = HashMap::new();
        for (_, _, event) in records {
            if let EventBody::AccountOpened { account, .. } = &event.body {
                opened_here.insert(*account);
                continue;
            }
            named(event, &mut |account, opening| {
                if opened_here.contains(&account) {
                    return;
                }
                let answered = self.get(account).is_some_and(|info| !opening || info.opened.is_some());
                if !answered {
                    *asked.entry(account).or_default() |= opening;
                }
            });
        }
        let mut wanted: Vec<InfoWanted> =
            asked.into_iter().map(|(account, opening)| InfoWanted { account, opening }).collect();
        wanted.sort_unstable_by_key(|wanted| wanted.account);
        wanted
    }
}

/// Calls `each` with every account whose info a report reads for `event`, and whether it needs
/// the record that opened it: a refusal's accounts (the one refused and the command's first),
/// a closed account, a posting's accounts. This is what `Reporter::push` reads.
pub(crate) fn named(event: &Event, each: &mut dyn FnMut(AccountId, bool)) {
    match &event.body {
        EventBody::AccountClosed { account } => each(*account, false),
        EventBody::Rejected { command, reason } => {
            for account in reason.account().into_iter().chain(command_account(command)) {
                each(account, true);
            }
        }
        _ => {}
    }
    if let Some(posting) = event.posting() {
        for leg in [&posting.debit, &posting.credit].into_iter().flatten() {
            each(leg.account, false);
        }
    }
}

/// The account a command acts on first: the one money leaves, or the one it concerns.
pub(crate) fn command_account(command: &CommandBody) -> Option<AccountId> {
    match command {
        CommandBody::OpenAccount { account, .. }
        | CommandBody::CloseAccount { account }
        | CommandBody::CashDeposit { account, .. }
        | CommandBody::CashWithdrawal { account, .. }
        | CommandBody::WealthPurchase { account, .. }
        | CommandBody::WealthRedemption { account, .. }
        | CommandBody::LockAccount { account, .. }
        | CommandBody::UnlockAccount { account, .. }
        | CommandBody::SetPersonalLimits { account, .. }
        | CommandBody::SetNightLock { account, .. } => Some(*account),
        CommandBody::InternalTransfer { from, .. }
        | CommandBody::OutboundTransfer { from, .. }
        | CommandBody::Payment { from, .. }
        | CommandBody::DelayedTransfer { from, .. } => Some(*from),
        CommandBody::InboundTransfer { to, .. } => Some(*to),
        // Listed one by one: a new command must say which account it acts on first.
        CommandBody::ChangePolicy { .. }
        | CommandBody::ListRisk { .. }
        | CommandBody::UnlistRisk { .. }
        | CommandBody::ChangeProtections { .. }
        | CommandBody::ConfirmHold { .. }
        | CommandBody::DeclineHold { .. }
        | CommandBody::CancelTransfer { .. }
        | CommandBody::Tick => None,
    }
}
