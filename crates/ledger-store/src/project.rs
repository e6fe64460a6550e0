//! Which derived keys (read models and indexes) an event dirties: the single place that knows.
//! The writer stages what it reports; `replay` checks the stored indexes against it and
//! `rebuild_read_models` rewrites them from it.

use ledger_core::{AccountId, CommandId, CustomerId, Event, EventBody, State};

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
        EventBody::Rejected { .. } | EventBody::TimeAdvanced => {}
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
