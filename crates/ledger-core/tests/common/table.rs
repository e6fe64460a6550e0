//! The one given/when/then harness of the rule tables (tests/rules.rs) and the protection
//! tables (tests/protections.rs): a case is a policy preset, steps that must all be accepted, one
//! command, and what must then hold. A rejected command must leave the business state as it was,
//! and held + available = balance must hold after every case.

#![expect(clippy::unwrap_used, clippy::panic, reason = "a table test fails loudly on the row that breaks")]
#![allow(dead_code, reason = "the rule tables use only some of the expectations")]

use ledger_core::{
    Amount, Command, CommandBody, CommandId, Decision, EventBody, Policy, RejectReason, Release, State, Timestamp,
    apply_due_then_decide,
};
use uuid::Uuid;

use super::{acc, at, cny};

/// A step's command id: `AUTO` numbers it, any other label is used as the id itself (so a later
/// step can confirm, decline or cancel it).
pub const AUTO: u128 = 0;

/// One command of a case: business time (`"2026-03-02 10:00:00"`, Beijing), id label, body.
pub struct Step {
    pub at: &'static str,
    pub label: u128,
    pub body: CommandBody,
}

impl From<(&'static str, CommandBody)> for Step {
    fn from((at, body): (&'static str, CommandBody)) -> Step {
        Step { at, label: AUTO, body }
    }
}

impl From<(&'static str, u128, CommandBody)> for Step {
    fn from((at, label, body): (&'static str, u128, CommandBody)) -> Step {
        Step { at, label, body }
    }
}

/// What must hold after the `when` command.
pub enum Then {
    Accepted,
    Code(&'static str),
    Reason(RejectReason),
    /// What came due before the command: "settled", "expired", "stopped", in order.
    Due(&'static [&'static str]),
    Balance(u64, &'static str),
    Reserved(u64, &'static str),
    DayUsed(u64, &'static str, &'static str),
    YearUsed(u64, &'static str, &'static str),
    Pending(usize),
}

pub struct Case {
    pub name: &'static str,
    pub preset: &'static str,
    pub given: Vec<Step>,
    pub when: Step,
    pub then: Vec<Then>,
}

/// The id of a labelled step.
pub fn cid(label: u128) -> CommandId {
    CommandId(Uuid::from_u128(label))
}

/// Accounts, policy versions, protections and pending outflows: everything a rejection must
/// leave untouched.
pub fn business_view(state: &State) -> String {
    let mut accounts: Vec<_> = state.accounts().cloned().collect();
    accounts.sort_by_key(|account| account.id);
    let mut protections: Vec<_> = state.all_protections().map(|(id, p)| (id, p.clone())).collect();
    protections.sort_by_key(|(id, _)| *id);
    let pending: Vec<_> = state.reservations().cloned().collect();
    format!("{accounts:?}\n{:?}\n{protections:?}\n{pending:?}", state.policy_versions())
}

/// A paged view of `state` holding exactly what [`State::wanted`] names for `command`, loaded
/// round by round as a writer loads it from its store.
pub fn view_for(state: &State, command: &Command) -> State {
    let mut view = state.empty_view();
    for _round in 0..4 {
        let wanted = view.wanted(std::iter::once(command));
        for id in wanted.accounts {
            view.load_account(id, state.account(id).cloned());
        }
        for customer in wanted.customers {
            view.load_customer(customer, state.customer_accounts(customer).map(|account| account.id).collect());
        }
    }
    assert!(view.wanted(std::iter::once(command)).is_empty(), "wanted still names more after 4 rounds");
    view
}

/// Applies what is due by `command`, then decides and applies it. Returns the due outcomes, the
/// business view before the answer, and the answer. The same command over a paged view holding
/// what `wanted` names must decide the same.
pub fn step(state: &mut State, command: &Command) -> (Vec<&'static str>, String, EventBody) {
    let mut view = view_for(state, command);
    let mut view_due = Vec::new();
    let view_decision = apply_due_then_decide(&mut view, command, &mut view_due);
    let mut due_events = Vec::new();
    let decision = apply_due_then_decide(state, command, &mut due_events).unwrap();
    assert_eq!(view_decision, Ok(decision.clone()), "a paged view decided {command:?} differently");
    assert_eq!(view_due, due_events, "a paged view's due events differ before {command:?}");
    let due = due_events
        .iter()
        .map(|event| match &event.body {
            EventBody::ReservationSettled { .. } => "settled",
            EventBody::ReservationReleased { release: Release::Expired, .. } => "expired",
            EventBody::ReservationReleased { release: Release::Stopped { .. }, .. } => "stopped",
            other => panic!("unexpected due event {other:?}"),
        })
        .collect();
    match decision {
        Decision::Append(events) => {
            let before = business_view(state);
            assert_eq!(events.len(), 1);
            state.apply(&events[0]).unwrap();
            (due, before, events[0].body.clone())
        }
        other => panic!("unexpected {other:?}"),
    }
}

pub fn run(case: Case) {
    let name = case.name;
    let mut state = State::new();
    let mut n = 0u128;
    let mut command = |time: &str, label: u128, body: CommandBody| {
        n += 1;
        let id = if label == AUTO { n } else { label };
        Command { id: cid(id), at: at(time), body, stamped: false }
    };
    let genesis = CommandBody::ChangePolicy {
        effective_from: Timestamp::UNIX_EPOCH,
        policy: Box::new(Policy::preset(case.preset).unwrap()),
    };
    let first = Command { at: Timestamp::UNIX_EPOCH, ..command("2026-03-02 09:00:00", AUTO, genesis) };
    let (_, _, answer) = step(&mut state, &first);
    assert!(matches!(answer, EventBody::PolicyScheduled { .. }), "{name}: {answer:?}");
    for (index, Step { at: time, label, body }) in case.given.into_iter().enumerate() {
        let (_, _, answer) = step(&mut state, &command(time, label, body));
        assert!(!matches!(answer, EventBody::Rejected { .. }), "{name}: given step {index} rejected: {answer:?}");
    }
    let Step { at: time, label, body } = case.when;
    let when = command(time, label, body);
    let (due, before, answer) = step(&mut state, &when);
    let rejection = match &answer {
        EventBody::Rejected { reason, .. } => Some(reason.clone()),
        _ => None,
    };
    if rejection.is_some() {
        assert_eq!(business_view(&state), before, "{name}: a rejection changed the state");
    }
    let (day, year) = (when.at.beijing_day(), when.at.beijing_year());
    let mut saw_due = false;
    for then in case.then {
        match then {
            Then::Accepted => assert!(rejection.is_none(), "{name}: rejected: {rejection:?}"),
            Then::Code(code) => {
                assert_eq!(rejection.as_ref().map(RejectReason::code), Some(code), "{name}: {rejection:?}")
            }
            Then::Reason(expected) => assert_eq!(rejection.as_ref(), Some(&expected), "{name}"),
            Then::Due(expected) => {
                saw_due = true;
                assert_eq!(due, expected, "{name}: what came due");
            }
            Then::Balance(id, amount) => {
                assert_eq!(state.account(acc(id)).unwrap().balance, cny(amount), "{name}: balance of {id}")
            }
            Then::Reserved(id, amount) => assert_eq!(state.reserved(acc(id)), cny(amount), "{name}: reserved of {id}"),
            Then::DayUsed(id, bucket, amount) => {
                let usage = state.account(acc(id)).unwrap().bucket_usage(bucket);
                let used = usage.map_or(Amount::ZERO, |u| u.used_at(day, year).0);
                assert_eq!(used, cny(amount), "{name}: day use of {id}/{bucket}");
            }
            Then::YearUsed(id, bucket, amount) => {
                let usage = state.account(acc(id)).unwrap().bucket_usage(bucket);
                let used = usage.map_or(Amount::ZERO, |u| u.used_at(day, year).1);
                assert_eq!(used, cny(amount), "{name}: year use of {id}/{bucket}");
            }
            Then::Pending(count) => assert_eq!(state.reservations().count(), count, "{name}: pending outflows"),
        }
    }
    // Held + available = balance, always.
    for account in state.accounts() {
        assert!(state.reserved(account.id) <= account.balance, "{name}: reserved above balance");
    }
    if !saw_due {
        assert!(due.is_empty(), "{name}: unexpected due events {due:?}");
    }
}
