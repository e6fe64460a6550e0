//! Reservations (holds awaiting verification, delayed transfers): confirming a hold,
//! cancelling a transfer, and the event each records when it comes due, settled or released.
//! Pure, like `decide`, which calls it (it calls nothing of `decide`'s).

use crate::event::{Event, EventBody};
use crate::ids::CommandId;
use crate::money::Amount;
use crate::posting::{Leg, Posting, PostingKind};
use crate::principal::Principal;
use crate::reject::RejectReason;
use crate::reserve::{Release, Reservation, Settlement, Stage};
use crate::state::State;
use crate::time::Timestamp;

pub(crate) fn confirm_hold(state: &State, at: Timestamp, hold: CommandId) -> Result<EventBody, RejectReason> {
    let reservation = awaiting_verification(state, hold)?;
    if let Some(arrival) = reservation.arrival {
        let due_at = arrival.due_at(at, state.protection_settings_at(at));
        return Ok(EventBody::HoldConfirmed { id: hold, due_at });
    }
    if let Some(reason) = stop_reason(state, reservation) {
        return Err(reason);
    }
    settle(state, reservation, Settlement::Confirmed)
}

pub(crate) fn cancel_transfer(state: &State, transfer: CommandId) -> Result<EventBody, RejectReason> {
    let reservation = state.reservation(transfer).ok_or(RejectReason::UnknownPending { id: transfer })?;
    if reservation.arrival.is_none() {
        let detail = "a real-time outflow held for verification is declined, not cancelled".to_owned();
        return Err(RejectReason::PendingActionNotAllowed { id: transfer, detail });
    }
    Ok(release(state, reservation, Release::Cancelled))
}

/// The event for a reservation that is due: an expired hold is released; a delayed transfer
/// is executed unless a protection placed since stops it.
pub(crate) fn due_event(state: &State, reservation: &Reservation) -> Event {
    let due_at = reservation.stage.due_at();
    let at = state.head_at().map_or(due_at, |head| head.max(due_at));
    let body = match reservation.stage {
        Stage::AwaitingVerification { .. } => release(state, reservation, Release::Expired),
        Stage::Scheduled { .. } => match stop_reason(state, reservation) {
            Some(reason) => release(state, reservation, Release::Stopped { reason }),
            None => settle(state, reservation, Settlement::Due)
                .unwrap_or_else(|reason| release(state, reservation, Release::Stopped { reason })),
        },
    };
    Event { command_id: reservation.id, at, body, principal: Some(Principal::ledger()), withheld: Vec::new() }
}

pub(crate) fn awaiting_verification(state: &State, id: CommandId) -> Result<&Reservation, RejectReason> {
    let reservation = state.reservation(id).ok_or(RejectReason::UnknownPending { id })?;
    match reservation.stage {
        Stage::AwaitingVerification { .. } => Ok(reservation),
        Stage::Scheduled { .. } => {
            let detail = "it is a scheduled transfer, not a hold awaiting verification".to_owned();
            Err(RejectReason::PendingActionNotAllowed { id, detail })
        }
    }
}

/// What stops a reservation at confirmation or execution: a risk listing or a security lock
/// placed after it was accepted.
fn stop_reason(state: &State, reservation: &Reservation) -> Option<RejectReason> {
    if reservation.kind == PostingKind::OutboundTransfer
        && let Some(counterparty) = &reservation.counterparty
        && let Some(listed_seq) = state.risk_listed(counterparty)
    {
        return Some(RejectReason::RiskListedCounterparty { counterparty: counterparty.clone(), listed_seq });
    }
    let lock = state.protections(reservation.account).and_then(|p| p.lock_for(reservation.flow));
    lock.map(|lock| RejectReason::AccountLocked { account: reservation.account, flow: reservation.flow, by: lock.by })
}

/// Posts a reservation: the balance moves now; its limit use was counted at acceptance.
fn settle(state: &State, reservation: &Reservation, settlement: Settlement) -> Result<EventBody, RejectReason> {
    let id = reservation.account;
    let account = state.account(id).ok_or(RejectReason::UnknownAccount { account: id })?;
    let balance_after = account.balance.checked_sub(reservation.amount).ok_or(RejectReason::InsufficientFunds {
        account: id,
        balance: account.balance,
        requested: reservation.amount,
    })?;
    let usage_after = reservation.buckets.iter().filter_map(|name| account.bucket_usage(name).cloned()).collect();
    let debit = Leg { account: id, flow: reservation.flow, balance_after, usage_after };
    Ok(EventBody::ReservationSettled {
        id: reservation.id,
        settlement,
        posting: Posting {
            kind: reservation.kind,
            amount: reservation.amount,
            counterparty: reservation.counterparty.clone(),
            debit: Some(debit),
            credit: None,
        },
    })
}

/// Releases a reservation: its use is taken back from the day and year it was counted in (when
/// the stored use is still of that day or year).
pub(crate) fn release(state: &State, reservation: &Reservation, release: Release) -> EventBody {
    let day = reservation.requested_at.beijing_day();
    let year = reservation.requested_at.beijing_year();
    let amount = reservation.amount;
    let usage_after = state
        .account(reservation.account)
        .map(|account| {
            reservation
                .buckets
                .iter()
                .filter_map(|name| account.bucket_usage(name))
                .map(|usage| {
                    let mut after = usage.clone();
                    if after.year == year {
                        after.year_used = after.year_used.checked_sub(amount).unwrap_or(Amount::ZERO);
                        if after.day == day {
                            after.day_used = after.day_used.checked_sub(amount).unwrap_or(Amount::ZERO);
                        }
                    }
                    after
                })
                .collect()
        })
        .unwrap_or_default();
    EventBody::ReservationReleased { id: reservation.id, account: reservation.account, release, usage_after }
}
