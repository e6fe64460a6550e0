//! Which derived keys (read models and indexes) an event dirties: the single place that knows.
//! The writer stages what it reports; `replay` checks the stored indexes against it and
//! `rebuild_read_models` rewrites them from it.

use std::sync::{Condvar, Mutex};

use ledger_core::{Account, AccountId, CommandId, CustomerId, Event, EventBody, State};

use crate::error::{Error, Result};

/// Receives what one event changes. `state` in [`dirty`] is the state *after* applying it.
pub(crate) trait Dirty {
    /// The event touched `account`: a history index entry, and its account read model.
    fn account(&mut self, account: AccountId);
    /// A new customer index entry.
    fn customer(&mut self, customer: CustomerId, account: AccountId);
    /// The account's protections read model changed.
    fn protections(&mut self, account: AccountId);
    /// The reservation's pending-outflow entry changed (put, or delete when it ended).
    fn pending(&mut self, id: CommandId);
    /// The counterparty's risk-list entry changed.
    fn risk(&mut self, counterparty: &str);
    /// The policy versions changed.
    fn policies(&mut self);
    /// The protection settings versions changed.
    fn protection_settings(&mut self);
}

/// Reports to `out` every derived key that `event` (just applied to `state`) dirties.
pub(crate) fn dirty(state: &State, event: &Event, out: &mut impl Dirty) {
    match &event.body {
        EventBody::AccountOpened { account, customer, .. } => {
            out.account(*account);
            out.customer(*customer, *account);
        }
        EventBody::AccountClosed { account } => out.account(*account),
        EventBody::Posted(posting) => {
            for leg in [&posting.debit, &posting.credit].into_iter().flatten() {
                out.account(leg.account);
            }
            // A posting can move the personal day use of an account with protections.
            if let Some(leg) = &posting.debit
                && state.protections(leg.account).is_some()
            {
                out.protections(leg.account);
            }
        }
        EventBody::PolicyScheduled { .. } => out.policies(),
        EventBody::Rejected { .. } | EventBody::TimeAdvanced | EventBody::Checkpointed { .. } => {}
        EventBody::AccountLocked { account, .. }
        | EventBody::AccountUnlocked { account, .. }
        | EventBody::PersonalLimitsSet { account, .. }
        | EventBody::NightLockSet { account, .. } => {
            out.account(*account);
            out.protections(*account);
        }
        EventBody::RiskListed { counterparty, .. } | EventBody::RiskUnlisted { counterparty, .. } => {
            out.risk(counterparty);
        }
        EventBody::ProtectionsScheduled { .. } => out.protection_settings(),
        EventBody::Reserved { reservation, .. } => {
            out.account(reservation.account);
            out.protections(reservation.account);
            out.pending(reservation.id);
        }
        EventBody::HoldConfirmed { id, .. } => {
            if let Some(reservation) = state.reservation(*id) {
                out.account(reservation.account);
            }
            out.pending(*id);
        }
        EventBody::ReservationSettled { id, posting, .. } => {
            for leg in [&posting.debit, &posting.credit].into_iter().flatten() {
                out.account(leg.account);
                out.protections(leg.account);
            }
            out.pending(*id);
        }
        EventBody::ReservationReleased { id, account, .. } => {
            out.account(*account);
            out.protections(*account);
            out.pending(*id);
        }
    }
}

/// What one event changes in the projected keys (written by the projector thread): the accounts it touches
/// (history entries and account read models), each once, and new customer index entries.
#[derive(Default)]
pub(crate) struct Keys {
    pub(crate) accounts: Vec<AccountId>,
    pub(crate) customers: Vec<(CustomerId, AccountId)>,
}

impl Dirty for Keys {
    fn account(&mut self, account: AccountId) {
        if !self.accounts.contains(&account) {
            self.accounts.push(account);
        }
    }
    fn customer(&mut self, customer: CustomerId, account: AccountId) {
        self.customers.push((customer, account));
    }
    fn protections(&mut self, _: AccountId) {}
    fn pending(&mut self, _: CommandId) {}
    fn risk(&mut self, _: &str) {}
    fn policies(&mut self) {}
    fn protection_settings(&mut self) {}
}

/// Per-account digest of history index entries: how many, and a sum of mixed sequence numbers
/// (wrapping), so a missing, extra or altered entry changes it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct HistoryDigest {
    pub(crate) entries: u64,
    pub(crate) mix_sum: u64,
}

impl HistoryDigest {
    pub(crate) fn add(&mut self, seq: u64) {
        self.entries += 1;
        self.mix_sum = self.mix_sum.wrapping_add(mix(seq));
    }
}

/// SplitMix64's finaliser: a bijective scramble of the sequence number.
fn mix(seq: u64) -> u64 {
    let mut z = seq.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// What one committed batch changed in the projected keys.
#[derive(Debug, Default)]
pub(crate) struct Job {
    /// The batch's last sequence number: `meta/projected` once the job is written.
    pub(crate) to_seq: u64,
    /// History index keys, sorted.
    pub(crate) history: Vec<[u8; 16]>,
    /// Customer index keys of the accounts opened.
    pub(crate) customers: Vec<[u8; 16]>,
    /// Account read models as of `to_seq`, sorted by id.
    pub(crate) accounts: Vec<Account>,
}

impl Job {
    /// Takes in the job queued after this one: both written as one (an account touched by
    /// both once, as of the later).
    pub(crate) fn absorb(&mut self, next: Job) {
        debug_assert!(next.to_seq >= self.to_seq, "jobs are absorbed in order");
        self.to_seq = next.to_seq;
        self.history.extend(next.history);
        self.history.sort_unstable();
        self.customers.extend(next.customers);
        let mut accounts: std::collections::BTreeMap<AccountId, Account> =
            std::mem::take(&mut self.accounts).into_iter().map(|account| (account.id, account)).collect();
        accounts.extend(next.accounts.into_iter().map(|account| (account.id, account)));
        self.accounts = accounts.into_values().collect();
    }
}

/// How far the projector has come, shared by the writer, the projector and in-process readers.
#[derive(Debug, Default)]
pub(crate) struct Watermark {
    mark: Mutex<Mark>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct Mark {
    /// The last sequence number handed to the projector (every batch acknowledged so far).
    sent: u64,
    /// The last sequence number projected.
    done: u64,
    /// Set when the projector stopped: why.
    failed: Option<String>,
}

impl Watermark {
    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Mark>> {
        self.mark.lock().map_err(|_| Error::Stopped("the projector's watermark lock is poisoned".into()))
    }

    /// The projector has projected everything up to `seq` (the writer's start, or a catch-up).
    pub(crate) fn reset(&self, seq: u64) -> Result<()> {
        let mut mark = self.lock()?;
        mark.sent = seq;
        mark.done = seq;
        Ok(())
    }

    /// The writer queued a job up to `seq`; called before the batch's callers are answered.
    pub(crate) fn sent(&self, seq: u64) -> Result<()> {
        self.lock()?.sent = seq;
        Ok(())
    }

    /// The last sequence number projected.
    pub(crate) fn projected(&self) -> Result<u64> {
        Ok(self.lock()?.done)
    }

    pub(crate) fn done(&self, seq: u64) -> Result<()> {
        self.lock()?.done = seq;
        self.changed.notify_all();
        Ok(())
    }

    pub(crate) fn fail(&self, why: String) {
        if let Ok(mut mark) = self.mark.lock() {
            mark.failed = Some(why);
        }
        self.changed.notify_all();
    }

    /// Why the projector stopped, if it did.
    pub(crate) fn failure(&self) -> Option<String> {
        self.mark.lock().ok().and_then(|mark| mark.failed.clone())
    }

    /// Waits until everything sent before this call is projected.
    pub(crate) fn wait(&self) -> Result<()> {
        let mut mark = self.lock()?;
        let wanted = mark.sent;
        while mark.done < wanted {
            if let Some(why) = &mark.failed {
                return Err(Error::Stopped(format!("the read models are not up to date: {why}")));
            }
            mark = self
                .changed
                .wait(mark)
                .map_err(|_| Error::Stopped("the projector's watermark lock is poisoned".into()))?;
        }
        Ok(())
    }
}

/// The touched accounts' read models, sorted by id, for a job.
pub(crate) fn accounts_of(state: &ledger_core::State, mut touched: Vec<AccountId>) -> Vec<Account> {
    touched.sort_unstable();
    touched.dedup();
    touched.into_iter().filter_map(|id| state.account(id).cloned()).collect()
}

#[cfg(test)]
mod tests {
    use ledger_core::{Account, AccountClass, AccountId, AccountStatus, Amount, CustomerId};

    use super::Job;

    fn account(id: u64, yuan: u64) -> Account {
        Account {
            id: AccountId(id),
            customer: CustomerId(id),
            class: AccountClass::I,
            status: AccountStatus::Open,
            binding: None,
            verified_in_person: true,
            with_card: false,
            balance: Amount::from_yuan(yuan).unwrap(),
            funded_from_bound: false,
            usage: Vec::new(),
        }
    }

    #[test]
    fn a_job_absorbed_ends_where_the_later_ends_with_each_account_once_as_of_the_later() {
        let key = |account: u64, seq: u64| crate::codec::history_key(AccountId(account), seq);
        let mut first = Job {
            to_seq: 2,
            history: vec![key(1, 1), key(3, 2)],
            customers: vec![[1; 16]],
            accounts: vec![account(1, 10), account(3, 30)],
        };
        let later = Job {
            to_seq: 4,
            history: vec![key(2, 3), key(3, 4)],
            customers: vec![[2; 16]],
            accounts: vec![account(2, 20), account(3, 31)],
        };
        first.absorb(later);
        assert_eq!(first.to_seq, 4);
        assert_eq!(first.history, vec![key(1, 1), key(2, 3), key(3, 2), key(3, 4)], "every entry, sorted");
        assert_eq!(first.customers, vec![[1; 16], [2; 16]]);
        assert_eq!(first.accounts, vec![account(1, 10), account(2, 20), account(3, 31)], "by id, the later's state");
    }
}
