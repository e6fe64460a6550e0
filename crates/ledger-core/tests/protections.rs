//! Given/when/then tables for the bank's protections (docs/RULES.md, "Protections"): security
//! lock, personal limits, night lock, risk-list screening, large-transaction holds and delayed
//! arrival.
//!
//! Every row starts from the `default` policy and protection settings that hold outflows above
//! 5,000.00 for verification (30 minutes), plus the accounts of [`setup`]. `given` steps must all
//! be accepted; `when` is checked against every line of `then`. What came due before `when` is
//! listed by `Due`; a rejected `when` must leave accounts, protections and pending outflows
//! exactly as they were after those due events.

#![expect(clippy::unwrap_used, reason = "a table test fails loudly on the row that breaks")]

use ledger_core::{
    AccountClass, Actor, Amount, Arrival, Binding, ClockTime, Command, CommandBody, CustomerId, Decision, Flow,
    NightWindow, PersonalLimit, PersonalLimits, Policy, ProtectionSettings, RejectReason, State, Timestamp,
};

mod common;

use common::table::{AUTO, Case, Then, cid, run};
use common::{acc, at, cny, deposit, inbound, outbound, pay, transfer, withdraw};

/// A protections row: on the default preset, after `setup()`.
fn row(
    name: &'static str,
    given: Vec<(&'static str, u128, CommandBody)>,
    when: (&'static str, u128, CommandBody),
    then: Vec<Then>,
) -> Case {
    let given = setup().into_iter().chain(given).map(Into::into).collect();
    Case { name, preset: "default", given, when: when.into(), then }
}

/// Command ids the rows refer to (a hold to confirm, a transfer to cancel).
const T1: u128 = 9001;
const T2: u128 = 9002;

const T0: &str = "2026-03-02 09:00:00";

fn open(id: u64, customer: u64, class: AccountClass, bound: Option<u64>) -> CommandBody {
    CommandBody::OpenAccount {
        account: acc(id),
        customer: CustomerId(customer),
        class,
        binding: bound.map(|b| Binding::Account(acc(b))),
        verified_in_person: true,
        with_card: false,
    }
}
fn delayed(from: u64, counterparty: &str, amount: &str, arrival: Arrival) -> CommandBody {
    CommandBody::DelayedTransfer { from: acc(from), counterparty: counterparty.into(), amount: cny(amount), arrival }
}
fn lock(id: u64, by: Actor, flows: &[Flow]) -> CommandBody {
    CommandBody::LockAccount { account: acc(id), by, flows: flows.to_vec(), reason: "phone lost".into() }
}
fn unlock(id: u64, by: Actor) -> CommandBody {
    CommandBody::UnlockAccount { account: acc(id), by }
}
fn limits(id: u64, per_transaction: Option<&str>, per_day: Option<&str>) -> CommandBody {
    CommandBody::SetPersonalLimits {
        account: acc(id),
        limits: PersonalLimits { per_transaction: per_transaction.map(cny), per_day: per_day.map(cny) },
    }
}
fn window(start: &str, end: &str) -> NightWindow {
    NightWindow { start: start.parse::<ClockTime>().unwrap(), end: end.parse::<ClockTime>().unwrap() }
}
fn night(id: u64, start: &str, end: &str) -> CommandBody {
    CommandBody::SetNightLock { account: acc(id), window: Some(window(start, end)) }
}
fn list(counterparty: &str) -> CommandBody {
    CommandBody::ListRisk {
        counterparty: counterparty.into(),
        reason: "telecom fraud".into(),
        source: "融安e信".into(),
    }
}
fn unlist(counterparty: &str) -> CommandBody {
    CommandBody::UnlistRisk { counterparty: counterparty.into(), reason: "cleared".into(), source: "融安e信".into() }
}
fn confirm(label: u128) -> CommandBody {
    CommandBody::ConfirmHold { hold: cid(label) }
}
fn decline(label: u128) -> CommandBody {
    CommandBody::DeclineHold { hold: cid(label) }
}
fn cancel(label: u128) -> CommandBody {
    CommandBody::CancelTransfer { transfer: cid(label) }
}
fn tick() -> CommandBody {
    CommandBody::Tick
}
fn settings(threshold: Option<&str>, effective: &str) -> CommandBody {
    CommandBody::ChangeProtections {
        effective_from: at(effective),
        settings: ProtectionSettings {
            large_transaction_threshold: threshold.map(cny),
            ..ProtectionSettings::default()
        },
    }
}

/// Customer 1: Class I 11 (949,000.00), Class II 12 (50,000.00) bound to 11. Customer 2: Class
/// I 21 (100,000.00). The protection settings hold outflows above 5,000.00 for 30 minutes. Ten
/// events in all (the policy first), so the next event is sequence number 11.
fn setup() -> Vec<(&'static str, u128, CommandBody)> {
    vec![
        (T0, AUTO, settings(Some("5000"), "1970-01-01 08:00:00")),
        (T0, AUTO, open(11, 1, AccountClass::I, None)),
        (T0, AUTO, deposit(11, "999000")),
        (T0, AUTO, open(12, 1, AccountClass::II, Some(11))),
        (T0, AUTO, open(21, 2, AccountClass::I, None)),
        (T0, AUTO, deposit(21, "100000")),
        (T0, AUTO, transfer(11, 12, "50000")),
        (T0, AUTO, open(13, 1, AccountClass::III, Some(11))),
        (T0, AUTO, transfer(11, 13, "0.01")),
    ]
}

/// Accounts, protections and pending outflows: everything a rejection must leave untouched.

#[test]
fn security_lock_table() {
    use Actor::{Bank, Customer};
    use Then::*;
    let t = "2026-03-02 10:00:00";
    let rows = vec![
        row(
            "customer locks every outflow: a payment is rejected with the lock's owner",
            vec![(t, AUTO, lock(12, Customer, &[]))],
            (t, AUTO, pay(12, "10")),
            vec![Reason(RejectReason::AccountLocked { account: acc(12), flow: Flow::Payment, by: Customer })],
        ),
        row(
            "a lock on chosen channels lets other outflows through",
            vec![(t, AUTO, lock(12, Customer, &[Flow::Payment]))],
            (t, AUTO, withdraw(12, "100")),
            vec![Accepted, Balance(12, "49900")],
        ),
        row(
            "a lock on chosen channels stops those",
            vec![(t, AUTO, lock(12, Customer, &[Flow::Payment, Flow::TransferOutOther]))],
            (t, AUTO, outbound(12, "CCB-1", "100")),
            vec![Code("ACCOUNT_LOCKED")],
        ),
        row(
            "inflows still arrive on a locked account",
            vec![(t, AUTO, lock(12, Bank, &[]))],
            (t, AUTO, inbound(12, "ICBC-6222-1", "100")),
            vec![Accepted, Balance(12, "50100")],
        ),
        row(
            "both locks: the bank's is reported",
            vec![(t, AUTO, lock(12, Customer, &[])), (t, AUTO, lock(12, Bank, &[]))],
            (t, AUTO, withdraw(12, "1")),
            vec![Reason(RejectReason::AccountLocked { account: acc(12), flow: Flow::CashWithdrawal, by: Bank })],
        ),
        row(
            "unlock lifts the lock",
            vec![(t, AUTO, lock(12, Customer, &[])), (t, AUTO, unlock(12, Customer))],
            (t, AUTO, pay(12, "10")),
            vec![Accepted],
        ),
        row(
            "the customer cannot lift the bank's lock",
            vec![(t, AUTO, lock(12, Bank, &[]))],
            (t, AUTO, unlock(12, Customer)),
            vec![Reason(RejectReason::NotLocked { account: acc(12), by: Customer })],
        ),
        row(
            "a lock names outflows only",
            vec![],
            (t, AUTO, lock(12, Customer, &[Flow::CashDeposit])),
            vec![Reason(RejectReason::InvalidProtection { detail: "cash_deposit is not an outflow".into() })],
        ),
        row("a lock on an unknown account", vec![], (t, AUTO, lock(99, Bank, &[])), vec![Code("UNKNOWN_ACCOUNT")]),
        row(
            "a bank lock placed after a delayed transfer was accepted stops it when due; all is released",
            vec![
                (t, AUTO, delayed(12, "CCB-1", "3000", Arrival::Normal)),
                ("2026-03-02 10:30:00", AUTO, lock(12, Bank, &[])),
            ],
            ("2026-03-02 12:00:00", AUTO, tick()),
            vec![Accepted, Due(&["stopped"]), Balance(12, "50000"), Reserved(12, "0"), DayUsed(12, "out", "0")],
        ),
    ];
    rows.into_iter().for_each(run);
}

#[test]
fn personal_limits_table() {
    use Then::*;
    let t = "2026-03-02 10:00:00";
    let rows = vec![
        row(
            "per-transaction cap: 0.01 over is rejected",
            vec![(t, AUTO, limits(12, Some("500"), None))],
            (t, AUTO, pay(12, "500.01")),
            vec![Reason(RejectReason::PersonalLimitExceeded {
                account: acc(12),
                limit: PersonalLimit::PerTransaction,
                cap: cny("500"),
                used: Amount::ZERO,
                requested: cny("500.01"),
            })],
        ),
        row(
            "per-transaction cap: exactly at the cap",
            vec![(t, AUTO, limits(12, Some("500"), None))],
            (t, AUTO, pay(12, "500")),
            vec![Accepted],
        ),
        row(
            "per-day cap counts the day's outflows to others",
            vec![(t, AUTO, limits(12, None, Some("3000"))), (t, AUTO, pay(12, "2000"))],
            (t, AUTO, withdraw(12, "1000.01")),
            vec![Reason(RejectReason::PersonalLimitExceeded {
                account: acc(12),
                limit: PersonalLimit::PerDay,
                cap: cny("3000"),
                used: cny("2000"),
                requested: cny("1000.01"),
            })],
        ),
        row(
            "per-day cap: exactly reached",
            vec![(t, AUTO, limits(12, None, Some("3000"))), (t, AUTO, pay(12, "2000"))],
            (t, AUTO, outbound(12, "CCB-1", "1000")),
            vec![Accepted],
        ),
        row(
            "per-day cap resets at Beijing midnight",
            vec![(t, AUTO, limits(12, None, Some("3000"))), ("2026-03-02 23:59:59", AUTO, pay(12, "3000"))],
            ("2026-03-03 00:00:00", AUTO, pay(12, "3000")),
            vec![Accepted],
        ),
        row(
            "transfers to the own bound account are not personal-limited",
            vec![(t, AUTO, limits(12, Some("100"), Some("100")))],
            (t, AUTO, transfer(12, 11, "5000")),
            vec![Accepted],
        ),
        row(
            "a personal limit above the policy's daily cap is refused (Class II: 10,000.00)",
            vec![],
            (t, AUTO, limits(12, None, Some("10000.01"))),
            vec![Reason(RejectReason::PersonalLimitAbovePolicy {
                account: acc(12),
                limit: PersonalLimit::PerDay,
                requested: cny("10000.01"),
                policy_cap: cny("10000"),
            })],
        ),
        row(
            "a personal limit at the policy's cap is fine",
            vec![],
            (t, AUTO, limits(12, Some("10000"), Some("10000"))),
            vec![Accepted],
        ),
        row("Class I has no policy ceiling", vec![], (t, AUTO, limits(11, None, Some("500000"))), vec![Accepted]),
        row(
            "per-transaction above per-day is refused",
            vec![],
            (t, AUTO, limits(11, Some("2000"), Some("1000"))),
            vec![Code("INVALID_PROTECTION")],
        ),
        row(
            "a zero limit is refused",
            vec![],
            (t, AUTO, limits(11, Some("0"), None)),
            vec![Code("INVALID_PROTECTION")],
        ),
        row(
            "clearing the limits lifts them",
            vec![(t, AUTO, limits(12, Some("100"), None)), (t, AUTO, limits(12, None, None))],
            (t, AUTO, pay(12, "3000")),
            vec![Accepted],
        ),
        row(
            "a held outflow counts in the personal day; declining gives it back",
            vec![(t, AUTO, limits(11, None, Some("9000"))), (t, T1, pay(11, "6000")), (t, AUTO, decline(T1))],
            (t, AUTO, pay(11, "4000")),
            vec![Accepted],
        ),
    ];
    rows.into_iter().for_each(run);
}

#[test]
fn night_lock_table() {
    use Then::*;
    let locked = |time: &'static str| {
        row(
            "night 23:00-06:00 (crossing midnight): inside",
            vec![("2026-03-02 10:00:00", AUTO, night(12, "23:00", "06:00"))],
            (time, AUTO, pay(12, "10")),
            vec![Reason(RejectReason::NightLocked {
                account: acc(12),
                flow: Flow::Payment,
                window: window("23:00", "06:00"),
            })],
        )
    };
    let open = |time: &'static str| {
        row(
            "night 23:00-06:00: outside",
            vec![("2026-03-02 10:00:00", AUTO, night(12, "23:00", "06:00"))],
            (time, AUTO, pay(12, "10")),
            vec![Accepted],
        )
    };
    let rows = vec![
        locked("2026-03-02 23:00:00"),
        locked("2026-03-03 00:00:00"),
        locked("2026-03-03 03:00:00"),
        locked("2026-03-03 05:59:59"),
        open("2026-03-02 22:59:59"),
        open("2026-03-03 06:00:00"),
        open("2026-03-02 12:00:00"),
        row(
            "a daytime window (12:00-13:00) does not wrap",
            vec![("2026-03-02 10:00:00", AUTO, night(12, "12:00", "13:00"))],
            ("2026-03-02 12:30:00", AUTO, withdraw(12, "10")),
            vec![Code("NIGHT_LOCKED")],
        ),
        row(
            "inflows pass at night",
            vec![("2026-03-02 10:00:00", AUTO, night(12, "23:00", "06:00"))],
            ("2026-03-02 23:30:00", AUTO, inbound(12, "ICBC-6222-1", "10")),
            vec![Accepted],
        ),
        row(
            "clearing the night lock",
            vec![
                ("2026-03-02 10:00:00", AUTO, night(12, "23:00", "06:00")),
                ("2026-03-02 10:00:00", AUTO, CommandBody::SetNightLock { account: acc(12), window: None }),
            ],
            ("2026-03-02 23:30:00", AUTO, pay(12, "10")),
            vec![Accepted],
        ),
        row(
            "a window that starts when it ends is refused",
            vec![],
            ("2026-03-02 10:00:00", AUTO, night(12, "01:00", "01:00")),
            vec![Code("INVALID_PROTECTION")],
        ),
    ];
    rows.into_iter().for_each(run);
}

#[test]
fn risk_list_table() {
    use Then::*;
    let t = "2026-03-02 10:00:00";
    let rows = vec![
        row(
            "a risk-list hit is rejected and leaves balances and usage untouched",
            vec![(t, AUTO, list("CCB-6217-666"))],
            (t, AUTO, outbound(12, "CCB-6217-666", "100")),
            vec![
                Reason(RejectReason::RiskListedCounterparty { counterparty: "CCB-6217-666".into(), listed_seq: 11 }),
                Balance(12, "50000"),
                DayUsed(12, "out", "0"),
                YearUsed(12, "out", "0"),
            ],
        ),
        row(
            "other counterparties pass",
            vec![(t, AUTO, list("CCB-6217-666"))],
            (t, AUTO, outbound(12, "CCB-6217-667", "100")),
            vec![Accepted, DayUsed(12, "out", "100")],
        ),
        row(
            "unlisting lets transfers through again",
            vec![(t, AUTO, list("CCB-6217-666")), (t, AUTO, unlist("CCB-6217-666"))],
            (t, AUTO, outbound(12, "CCB-6217-666", "100")),
            vec![Accepted],
        ),
        row(
            "delayed transfers are screened at acceptance",
            vec![(t, AUTO, list("CCB-6217-666"))],
            (t, AUTO, delayed(12, "CCB-6217-666", "100", Arrival::NextDay)),
            vec![Code("RISK_LISTED_COUNTERPARTY"), Pending(0)],
        ),
        row(
            "a counterparty listed after acceptance stops the delayed transfer when due",
            vec![(t, AUTO, delayed(12, "CCB-6217-666", "100", Arrival::Normal)), (t, AUTO, list("CCB-6217-666"))],
            ("2026-03-02 12:00:00", AUTO, tick()),
            vec![Accepted, Due(&["stopped"]), Balance(12, "50000"), Reserved(12, "0"), DayUsed(12, "out", "0")],
        ),
        row(
            "listing a listed counterparty",
            vec![(t, AUTO, list("CCB-6217-666"))],
            (t, AUTO, list("CCB-6217-666")),
            vec![Reason(RejectReason::RiskListUnchanged { counterparty: "CCB-6217-666".into(), listed: true })],
        ),
        row(
            "unlisting a counterparty that is not listed",
            vec![],
            (t, AUTO, unlist("CCB-6217-666")),
            vec![Reason(RejectReason::RiskListUnchanged { counterparty: "CCB-6217-666".into(), listed: false })],
        ),
        row(
            "a listing needs a source",
            vec![],
            (t, AUTO, CommandBody::ListRisk { counterparty: "X".into(), reason: "fraud".into(), source: " ".into() }),
            vec![Code("INVALID_TEXT")],
        ),
    ];
    rows.into_iter().for_each(run);
}

#[test]
fn large_transaction_table() {
    use Then::*;
    let t = "2026-03-02 10:00:00";
    let rows = vec![
        row(
            "an outflow above the threshold is held: funds and limit use are reserved",
            vec![],
            (t, T1, pay(12, "6000")),
            vec![Accepted, Pending(1), Balance(12, "50000"), Reserved(12, "6000"), DayUsed(12, "out", "6000")],
        ),
        row(
            "exactly at the threshold posts at once",
            vec![],
            (t, AUTO, pay(12, "5000")),
            vec![Accepted, Pending(0), Balance(12, "45000")],
        ),
        row(
            "held funds are not available",
            vec![(t, T1, outbound(11, "CCB-1", "900000"))],
            (t, AUTO, withdraw(11, "49000")),
            vec![Reason(RejectReason::FundsReserved {
                account: acc(11),
                balance: cny("948999.99"),
                reserved: cny("900000"),
                requested: cny("49000"),
            })],
        ),
        row(
            "a held outflow counts in the day's policy limit",
            vec![(t, T1, pay(12, "6000"))],
            (t, AUTO, pay(12, "4000.01")),
            vec![Code("LIMIT_EXCEEDED")],
        ),
        row(
            "confirming posts it",
            vec![(t, T1, pay(12, "6000"))],
            ("2026-03-02 10:10:00", AUTO, confirm(T1)),
            vec![Accepted, Pending(0), Balance(12, "44000"), Reserved(12, "0"), DayUsed(12, "out", "6000")],
        ),
        row(
            "declining releases funds and limit use",
            vec![(t, T1, pay(12, "6000"))],
            ("2026-03-02 10:10:00", AUTO, decline(T1)),
            vec![Accepted, Pending(0), Balance(12, "50000"), Reserved(12, "0"), DayUsed(12, "out", "0")],
        ),
        row(
            "a pending large transfer that expires releases both",
            vec![(t, T1, outbound(12, "CCB-1", "6000"))],
            ("2026-03-02 10:30:00", AUTO, tick()),
            vec![
                Accepted,
                Due(&["expired"]),
                Pending(0),
                Balance(12, "50000"),
                Reserved(12, "0"),
                DayUsed(12, "out", "0"),
                YearUsed(12, "out", "0"),
            ],
        ),
        row(
            "not yet expired a millisecond before",
            vec![(t, T1, outbound(12, "CCB-1", "6000"))],
            ("2026-03-02 10:29:59.999", AUTO, confirm(T1)),
            vec![Accepted, Balance(12, "44000")],
        ),
        row(
            "confirming after expiry: the hold is gone",
            vec![(t, T1, outbound(12, "CCB-1", "6000"))],
            ("2026-03-02 10:31:00", AUTO, confirm(T1)),
            vec![Due(&["expired"]), Reason(RejectReason::UnknownPending { id: cid(T1) })],
        ),
        row(
            "expiry is handled before the command that passes it (funds free again)",
            vec![(t, T1, outbound(11, "CCB-1", "900000"))],
            ("2026-03-02 11:00:00", AUTO, withdraw(11, "49000")),
            vec![Due(&["expired"]), Accepted, Pending(1), Reserved(11, "49000")],
        ),
        row(
            "a confirmed hold stopped by a risk listing placed meanwhile",
            vec![(t, T1, outbound(12, "CCB-1", "6000")), (t, AUTO, list("CCB-1"))],
            (t, AUTO, confirm(T1)),
            vec![Code("RISK_LISTED_COUNTERPARTY"), Pending(1)],
        ),
        row(
            "a real-time hold is declined, not cancelled",
            vec![(t, T1, pay(12, "6000"))],
            (t, AUTO, cancel(T1)),
            vec![Code("PENDING_ACTION_NOT_ALLOWED")],
        ),
        row("confirming an unknown hold", vec![], (t, AUTO, confirm(T1)), vec![Code("UNKNOWN_PENDING")]),
        row(
            "transfers to the own bound account are never held",
            vec![],
            (t, AUTO, transfer(12, 11, "9000")),
            vec![Accepted, Pending(0)],
        ),
        row(
            "verification off (no threshold): large outflows post at once",
            vec![(t, AUTO, settings(None, t))],
            (t, AUTO, outbound(11, "CCB-1", "900000")),
            vec![Accepted, Pending(0), Balance(11, "48999.99")],
        ),
        row(
            "settings effective in the past are refused",
            vec![],
            (t, AUTO, settings(None, "2026-03-02 08:59:59")),
            vec![Code("POLICY_EFFECTIVE_IN_PAST")],
        ),
        row(
            "invalid settings are refused",
            vec![],
            (t, AUTO, settings(Some("0"), t)),
            vec![Reason(RejectReason::InvalidProtection { detail: "large_transaction_threshold is zero".into() })],
        ),
        row(
            "a held delayed transfer, once confirmed, is scheduled from the confirmation",
            vec![(t, T1, delayed(12, "CCB-1", "6000", Arrival::Normal)), ("2026-03-02 10:10:00", AUTO, confirm(T1))],
            ("2026-03-02 12:09:59", AUTO, tick()),
            vec![Accepted, Pending(1), Reserved(12, "6000")],
        ),
        row(
            "...and executes two hours after it",
            vec![(t, T1, delayed(12, "CCB-1", "6000", Arrival::Normal)), ("2026-03-02 10:10:00", AUTO, confirm(T1))],
            ("2026-03-02 12:10:00", AUTO, tick()),
            vec![Accepted, Due(&["settled"]), Pending(0), Balance(12, "44000"), Reserved(12, "0")],
        ),
        row(
            "a scheduled transfer is not a hold to confirm",
            vec![(t, T1, delayed(12, "CCB-1", "100", Arrival::Normal))],
            (t, AUTO, confirm(T1)),
            vec![Code("PENDING_ACTION_NOT_ALLOWED")],
        ),
    ];
    rows.into_iter().for_each(run);
}

#[test]
fn delayed_arrival_table() {
    use Then::*;
    let t = "2026-03-02 10:00:00";
    let rows = vec![
        row(
            "normal arrival: reserved at acceptance, limit use counted then",
            vec![],
            (t, T1, delayed(12, "CCB-1", "3000", Arrival::Normal)),
            vec![Accepted, Pending(1), Balance(12, "50000"), Reserved(12, "3000"), DayUsed(12, "out", "3000")],
        ),
        row(
            "normal arrival: not yet at 11:59:59",
            vec![(t, T1, delayed(12, "CCB-1", "3000", Arrival::Normal))],
            ("2026-03-02 11:59:59", AUTO, tick()),
            vec![Accepted, Pending(1), Balance(12, "50000")],
        ),
        row(
            "normal arrival: executes at 12:00:00, two hours after acceptance",
            vec![(t, T1, delayed(12, "CCB-1", "3000", Arrival::Normal))],
            ("2026-03-02 12:00:00", AUTO, tick()),
            vec![
                Accepted,
                Due(&["settled"]),
                Pending(0),
                Balance(12, "47000"),
                Reserved(12, "0"),
                DayUsed(12, "out", "3000"),
            ],
        ),
        row(
            "next-day arrival: not at 23:59:59",
            vec![(t, T1, delayed(12, "CCB-1", "3000", Arrival::NextDay))],
            ("2026-03-02 23:59:59", AUTO, tick()),
            vec![Accepted, Pending(1)],
        ),
        row(
            "next-day arrival: executes at 00:00 Beijing time the next day",
            vec![(t, T1, delayed(12, "CCB-1", "3000", Arrival::NextDay))],
            ("2026-03-03 00:00:00", AUTO, tick()),
            vec![Accepted, Due(&["settled"]), Balance(12, "47000")],
        ),
        row(
            "a delayed transfer whose due time is in a new Beijing day counts on the day it was asked",
            vec![("2026-03-02 23:00:00", T1, delayed(12, "CCB-1", "4000", Arrival::Normal))],
            ("2026-03-03 01:00:00", AUTO, pay(12, "5000")),
            vec![
                Due(&["settled"]),
                Accepted,
                Balance(12, "41000"),
                DayUsed(12, "out", "5000"),
                YearUsed(12, "out", "9000"),
            ],
        ),
        row(
            "without cancelling, today's room is used up",
            vec![(t, AUTO, pay(12, "5000")), (t, T1, delayed(12, "CCB-1", "5000", Arrival::NextDay))],
            ("2026-03-02 12:00:00", AUTO, pay(12, "0.01")),
            vec![Code("LIMIT_EXCEEDED")],
        ),
        row(
            "a cancelled next-day transfer restores today's limit room",
            vec![
                (t, AUTO, pay(12, "5000")),
                (t, T1, delayed(12, "CCB-1", "5000", Arrival::NextDay)),
                ("2026-03-02 11:00:00", AUTO, cancel(T1)),
            ],
            ("2026-03-02 12:00:00", AUTO, pay(12, "5000")),
            vec![Accepted, Pending(0), Balance(12, "40000"), Reserved(12, "0"), DayUsed(12, "out", "10000")],
        ),
        row(
            "cancelling on a later day gives back the year's use (the day it counted in is over)",
            vec![
                ("2026-03-02 23:00:00", T1, delayed(12, "CCB-1", "3000", Arrival::Normal)),
                ("2026-03-03 00:10:00", AUTO, pay(12, "100")),
            ],
            ("2026-03-03 00:30:00", AUTO, cancel(T1)),
            vec![
                Accepted,
                Balance(12, "49900"),
                Reserved(12, "0"),
                DayUsed(12, "out", "100"),
                YearUsed(12, "out", "100"),
            ],
        ),
        row(
            "cancelling after execution: nothing pending",
            vec![(t, T1, delayed(12, "CCB-1", "3000", Arrival::Normal))],
            ("2026-03-02 12:00:01", AUTO, cancel(T1)),
            vec![Due(&["settled"]), Reason(RejectReason::UnknownPending { id: cid(T1) })],
        ),
        row(
            "a real-time transfer cannot be cancelled",
            vec![(t, T1, outbound(12, "CCB-1", "100"))],
            (t, AUTO, cancel(T1)),
            vec![Code("UNKNOWN_PENDING")],
        ),
        row(
            "delayed transfers reserve funds",
            vec![
                (t, T1, delayed(11, "CCB-1", "4000", Arrival::NextDay)),
                (t, T2, delayed(11, "CCB-1", "940000", Arrival::NextDay)),
            ],
            (t, AUTO, withdraw(11, "5000")),
            vec![Code("FUNDS_RESERVED"), Reserved(11, "944000")],
        ),
        row(
            "two due together execute in due order before the command",
            vec![
                (t, T1, delayed(11, "CCB-1", "4000", Arrival::NextDay)),
                (t, T2, delayed(11, "CCB-2", "3000", Arrival::Normal)),
            ],
            ("2026-03-03 08:00:00", AUTO, pay(11, "1")),
            vec![Due(&["settled", "settled"]), Accepted, Balance(11, "941998.99"), Reserved(11, "0")],
        ),
        row(
            "the Class II limit applies to delayed transfers at acceptance",
            vec![],
            (t, AUTO, delayed(12, "CCB-1", "10000.01", Arrival::Normal)),
            vec![Code("LIMIT_EXCEEDED"), Pending(0)],
        ),
        row(
            "night lock applies at acceptance",
            vec![(t, AUTO, night(12, "23:00", "06:00"))],
            ("2026-03-02 23:30:00", AUTO, delayed(12, "CCB-1", "100", Arrival::NextDay)),
            vec![Code("NIGHT_LOCKED")],
        ),
        row("a tick with nothing due", vec![], (t, AUTO, tick()), vec![Accepted]),
        row(
            "a zero delayed transfer",
            vec![],
            (t, AUTO, delayed(12, "CCB-1", "0", Arrival::Normal)),
            vec![Code("ZERO_AMOUNT")],
        ),
    ];
    rows.into_iter().for_each(run);
}

/// The flows each protection covers are settings (rules.md: reports differ on what the night
/// lock blocks); the defaults are in the other tables.
#[test]
fn protection_flow_settings_table() {
    use Then::*;
    let t = "2026-03-02 10:00:00";
    let narrow = |night: &[Flow], personal: &[Flow], verification: &[Flow]| CommandBody::ChangeProtections {
        effective_from: at(t),
        settings: ProtectionSettings {
            large_transaction_threshold: Some(cny("5000")),
            night_lock_flows: night.to_vec(),
            personal_limit_flows: personal.to_vec(),
            verification_flows: verification.to_vec(),
            ..ProtectionSettings::default()
        },
    };
    let cards_only = [Flow::CashWithdrawal, Flow::Payment];
    let rows = vec![
        row(
            "a night lock on cash and card payments only lets a transfer through at night",
            vec![(t, AUTO, narrow(&cards_only, &[], &[])), (t, AUTO, night(12, "23:00", "06:00"))],
            ("2026-03-02 23:30:00", AUTO, outbound(12, "CCB-1", "100")),
            vec![Accepted],
        ),
        row(
            "...and still stops a payment",
            vec![(t, AUTO, narrow(&cards_only, &[], &[])), (t, AUTO, night(12, "23:00", "06:00"))],
            ("2026-03-02 23:30:00", AUTO, pay(12, "100")),
            vec![Code("NIGHT_LOCKED")],
        ),
        row(
            "personal limits on payments only leave withdrawals alone",
            vec![(t, AUTO, narrow(&[], &[Flow::Payment], &[])), (t, AUTO, limits(12, Some("100"), None))],
            (t, AUTO, withdraw(12, "500")),
            vec![Accepted],
        ),
        row(
            "verification of transfers only: a large payment posts at once",
            vec![(t, AUTO, narrow(&[], &[], &[Flow::TransferOutOther]))],
            (t, AUTO, pay(12, "6000")),
            vec![Accepted, Pending(0), Balance(12, "44000")],
        ),
        row(
            "verification of transfers only: a large transfer is held",
            vec![(t, AUTO, narrow(&[], &[], &[Flow::TransferOutOther]))],
            (t, AUTO, outbound(12, "CCB-1", "6000")),
            vec![Accepted, Pending(1)],
        ),
        row(
            "a flow list naming an inflow is refused",
            vec![],
            (t, AUTO, narrow(&[Flow::CashDeposit], &[], &[])),
            vec![Reason(RejectReason::InvalidProtection {
                detail: "night_lock_flows: cash_deposit is not an outflow".into(),
            })],
        ),
    ];
    rows.into_iter().for_each(run);
}

/// The replay of a protection-heavy log rebuilds the live state exactly.
#[test]
fn protections_replay_to_the_same_state() {
    let mut state = State::new();
    let mut log = Vec::new();
    let policy = CommandBody::ChangePolicy {
        effective_from: Timestamp::UNIX_EPOCH,
        policy: Box::new(Policy::preset("default").unwrap()),
    };
    let t = "2026-03-02 10:00:00";
    let mut steps = vec![(T0, AUTO, policy)];
    steps.extend(setup());
    steps.extend([
        (t, AUTO, lock(12, Actor::Customer, &[Flow::Payment])),
        (t, AUTO, limits(12, Some("5000"), Some("9000"))),
        (t, AUTO, night(11, "23:00", "06:00")),
        (t, AUTO, list("CCB-666")),
        (t, T1, delayed(12, "CCB-1", "3000", Arrival::NextDay)),
        (t, T2, outbound(11, "CCB-2", "9000")),
        ("2026-03-02 10:40:00", AUTO, withdraw(12, "100")),
        ("2026-03-03 08:00:00", AUTO, tick()),
    ]);
    for (n, (time, label, body)) in (1u128..).zip(steps) {
        let id = if label == AUTO { n } else { label };
        let command = Command { id: cid(id), at: at(time), body, stamped: false };
        let mut due = Vec::new();
        let decision = ledger_core::execute_with_due(&mut state, &command, &mut due).unwrap();
        log.extend(due);
        let Decision::Append(answer) = decision else { panic!("no answer for {command:?}") };
        log.extend(answer);
        assert_eq!(state.answer_seq(command.id), Some(state.event_count()), "the answer is the last event");
    }
    let mut replayed = State::new();
    for event in &log {
        replayed.apply(event).unwrap();
    }
    assert_eq!(replayed, state);
    assert_eq!(state.reservations().count(), 0, "the expired hold and the executed transfer are gone");
}
