//! A paged view of the state (`State::empty_view`, `wanted`, `load_account`): a decision that
//! looks up an account or a customer's list the view does not hold fails loudly with
//! `NotInView`, never with "unknown account"; an account loaded as absent is unknown.
//! (Every row of tests/rules.rs and tests/protections.rs and every step of tests/model.rs also
//! decides over a view loaded from `wanted` and must answer the same.)

#![expect(clippy::unwrap_used, clippy::panic, reason = "a table test fails loudly on the row that breaks")]

use ledger_core::{
    AccountClass, AccountId, Binding, Command, CommandBody, CustomerId, Decision, Error, EventBody, NotInView, Policy,
    RejectReason, State, Timestamp, apply_due_then_decide, execute,
};
use uuid::Uuid;

mod common;

use common::{acc, at, deposit, inbound, outbound, pay, transfer, withdraw};

/// Opens account `id` for `customer`: Class I, or Class II bound to `bound`.
fn open(id: u64, customer: u64, bound: Option<u64>) -> CommandBody {
    CommandBody::OpenAccount {
        account: acc(id),
        customer: CustomerId(customer),
        class: if bound.is_some() { AccountClass::II } else { AccountClass::I },
        binding: bound.map(|bound| Binding::Account(acc(bound))),
        verified_in_person: true,
        with_card: false,
    }
}

fn command(n: u128, body: CommandBody) -> Command {
    Command { id: ledger_core::CommandId(Uuid::from_u128(n)), at: at("2026-03-02 10:00:00"), body, stamped: false }
}

/// Customer 1 holds Class I account 11 (100.00) and Class II account 12 bound to it.
fn ledger() -> State {
    let mut state = State::new();
    let policy = CommandBody::ChangePolicy {
        effective_from: Timestamp::UNIX_EPOCH,
        policy: Box::new(Policy::preset("default").unwrap()),
    };
    let steps = [policy, open(11, 1, None), open(12, 1, Some(11)), deposit(11, "100.00")];
    for (n, body) in steps.into_iter().enumerate() {
        let decision = execute(&mut state, &command(n as u128 + 1, body)).unwrap();
        let Decision::Append(events) = decision else { panic!("{decision:?}") };
        assert!(!matches!(events[0].body, EventBody::Rejected { .. }), "{events:?}");
    }
    state
}

/// What a view holds: accounts loaded (present in the ledger or not) and customer lists.
struct Holds {
    accounts: &'static [u64],
    customers: &'static [u64],
}

enum Then {
    Missing(NotInView),
    Rejected(&'static str),
    Accepted,
}

#[test]
fn a_decision_outside_the_view_fails_loudly() {
    let missing_account = |id| Then::Missing(NotInView::Account(AccountId(id)));
    let rows: Vec<(&str, Holds, CommandBody, Then)> = vec![
        (
            "withdrawal, account not loaded",
            Holds { accounts: &[], customers: &[] },
            withdraw(11, "1.00"),
            missing_account(11),
        ),
        (
            "transfer, credit side not loaded",
            Holds { accounts: &[11], customers: &[] },
            transfer(11, 12, "1.00"),
            missing_account(12),
        ),
        (
            "transfer, both loaded",
            Holds { accounts: &[11, 12], customers: &[] },
            transfer(11, 12, "1.00"),
            Then::Accepted,
        ),
        (
            "deposit to an account loaded as absent",
            Holds { accounts: &[99], customers: &[] },
            deposit(99, "1.00"),
            Then::Rejected("UNKNOWN_ACCOUNT"),
        ),
        (
            "opening, customer list not loaded",
            Holds { accounts: &[11, 13], customers: &[] },
            open(13, 1, Some(11)),
            Then::Missing(NotInView::Customer(CustomerId(1))),
        ),
        (
            "opening, list loaded but its accounts not",
            Holds { accounts: &[13], customers: &[1] },
            open(13, 1, Some(11)),
            missing_account(11),
        ),
        (
            "opening, all loaded",
            Holds { accounts: &[11, 12, 13], customers: &[1] },
            open(13, 1, Some(11)),
            Then::Accepted,
        ),
        (
            "closing, customer list not loaded",
            Holds { accounts: &[12], customers: &[] },
            CommandBody::CloseAccount { account: acc(12) },
            Then::Missing(NotInView::Customer(CustomerId(1))),
        ),
        (
            "closing, all loaded",
            Holds { accounts: &[11, 12], customers: &[1] },
            CommandBody::CloseAccount { account: acc(12) },
            Then::Accepted,
        ),
    ];
    let whole = ledger();
    for (name, holds, body, then) in rows {
        let mut view = whole.empty_view();
        for id in holds.accounts {
            view.load_account(acc(*id), whole.account(acc(*id)).cloned());
        }
        for customer in holds.customers {
            let list = whole.customer_accounts(CustomerId(*customer)).map(|account| account.id).collect();
            view.load_customer(CustomerId(*customer), list);
        }
        let decided = apply_due_then_decide(&mut view, &command(100, body), &mut Vec::new());
        match (then, decided) {
            (Then::Missing(expected), Err(Error::NotInView(missing))) => assert_eq!(missing, expected, "{name}"),
            (Then::Rejected(code), Ok(Decision::Append(events))) => match &events[0].body {
                EventBody::Rejected { reason, .. } => assert_eq!(reason.code(), code, "{name}"),
                other => panic!("{name}: accepted {other:?}"),
            },
            (Then::Accepted, Ok(Decision::Append(events))) => {
                assert!(!matches!(events[0].body, EventBody::Rejected { .. }), "{name}: {events:?}")
            }
            (_, other) => panic!("{name}: {other:?}"),
        }
    }
}

#[test]
fn wanted_names_what_each_command_reads() {
    let whole = ledger();
    let view = whole.empty_view();
    let rows: Vec<(CommandBody, &[u64], &[u64])> = vec![
        (withdraw(11, "1.00"), &[11], &[]),
        (pay(11, "1.00"), &[11], &[]),
        (inbound(12, "Bank of Ningbo", "1.00"), &[12], &[]),
        (outbound(11, "Bank of Ningbo", "1.00"), &[11], &[]),
        (transfer(12, 11, "1.00"), &[11, 12], &[]),
        (open(13, 1, Some(11)), &[11, 13], &[1]),
        (CommandBody::Tick, &[], &[]),
    ];
    for (body, accounts, customers) in rows {
        let wanted = view.wanted([command(100, body.clone())].iter());
        let accounts: Vec<AccountId> = accounts.iter().map(|id| acc(*id)).collect();
        let customers: Vec<CustomerId> = customers.iter().map(|id| CustomerId(*id)).collect();
        assert_eq!((wanted.accounts, wanted.customers), (accounts, customers), "{body:?}");
    }
    // A whole state wants nothing; an account loaded as absent is not wanted again.
    assert!(whole.wanted([command(100, withdraw(11, "1.00"))].iter()).is_empty());
    let mut view = whole.empty_view();
    view.load_account(acc(99), None);
    assert!(view.wanted([command(100, deposit(99, "1.00"))].iter()).is_empty());
    // A rejection for a missing account is never what a view that lacks it answers.
    let rejected = RejectReason::UnknownAccount { account: acc(11) };
    let decided = apply_due_then_decide(&mut whole.empty_view(), &command(100, withdraw(11, "1.00")), &mut Vec::new());
    assert!(
        !matches!(&decided, Ok(Decision::Append(events)) if matches!(&events[0].body, EventBody::Rejected { reason, .. } if *reason == rejected))
    );
}
