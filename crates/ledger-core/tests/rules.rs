//! Given/when/then tables: one row per rule and per rejection reason, for both presets.
//!
//! Every row starts from a ledger whose policy is in force from the Unix epoch. `given` steps
//! must all be accepted; `when` is checked against `then`. A rejected `when` must leave every
//! account and policy exactly as it was.

#![expect(clippy::panic, reason = "a table test fails loudly on the row that breaks")]

use ledger_core::{
    AccountClass, Admission, Amount, Binding, BindingProblem, Command, CommandBody, CommandId, CustomerId, Decision,
    EventBody, ExternalKind, Flow, Period, Policy, RejectReason, State, Timestamp, decide_in, execute,
};
use uuid::Uuid;

mod common;

use common::table::{self, Case, Then, business_view};
use common::{acc, at, cny, deposit, inbound, outbound, pay, transfer, withdraw};

const T0: &str = "2026-03-02 10:00:00";

fn open(id: u64, customer: u64, class: AccountClass, binding: Option<Binding>) -> CommandBody {
    CommandBody::OpenAccount {
        account: acc(id),
        customer: CustomerId(customer),
        class,
        binding,
        verified_in_person: true,
        with_card: false,
    }
}
fn open_i(id: u64, customer: u64) -> CommandBody {
    open(id, customer, AccountClass::I, None)
}
fn open_ii(id: u64, customer: u64, bound: u64) -> CommandBody {
    open(id, customer, AccountClass::II, Some(Binding::Account(acc(bound))))
}
fn open_iii(id: u64, customer: u64, bound: u64) -> CommandBody {
    open(id, customer, AccountClass::III, Some(Binding::Account(acc(bound))))
}
fn buy(id: u64, amount: &str) -> CommandBody {
    CommandBody::WealthPurchase { account: acc(id), product: "WM-90D".into(), amount: cny(amount) }
}
fn redeem(id: u64, amount: &str) -> CommandBody {
    CommandBody::WealthRedemption { account: acc(id), product: "WM-90D".into(), amount: cny(amount) }
}
fn close(id: u64) -> CommandBody {
    CommandBody::CloseAccount { account: acc(id) }
}

/// Customer 1 holds Class I 11 (1,000,000), Class II 12 (50,000) and Class III 13 (1,000),
/// both bound to 11; customer 2 holds Class I 21 (100,000).
fn setup() -> Vec<(&'static str, CommandBody)> {
    vec![
        (T0, open_i(11, 1)),
        (T0, deposit(11, "1000000")),
        (T0, open_ii(12, 1, 11)),
        (T0, open_iii(13, 1, 11)),
        (T0, open_i(21, 2)),
        (T0, deposit(21, "100000")),
        (T0, transfer(11, 12, "50000")),
        (T0, transfer(11, 13, "1000")),
    ]
}

fn with_setup(steps: Vec<(&'static str, CommandBody)>) -> Vec<(&'static str, CommandBody)> {
    let mut all = setup();
    all.extend(steps);
    all
}

struct Rule {
    name: &'static str,
    preset: &'static str,
    given: Vec<(&'static str, CommandBody)>,
    when: (&'static str, CommandBody),
    then: Then,
}

fn policy_command(policy: Policy, n: &mut u128) -> Command {
    *n += 1;
    Command {
        id: CommandId(Uuid::from_u128(*n)),
        at: Timestamp::UNIX_EPOCH,
        body: CommandBody::ChangePolicy { effective_from: Timestamp::UNIX_EPOCH, policy: Box::new(policy) },
        stamped: false,
    }
}

fn command(time: &str, body: CommandBody, n: &mut u128) -> Command {
    *n += 1;
    Command { id: CommandId(Uuid::from_u128(*n)), at: at(time), body, stamped: false }
}

fn appended(decision: Decision) -> EventBody {
    match decision {
        Decision::Append(mut events) => {
            assert_eq!(events.len(), 1);
            events.remove(0).body
        }
        Decision::Retry { seq } => panic!("unexpected retry of seq {seq}"),
        Decision::Due(event) => panic!("execute applies due events itself: {event:?}"),
    }
}

/// A rule row runs in the shared harness (tests/common/table.rs).
fn run(rule: Rule) {
    let given = rule.given.into_iter().map(Into::into).collect();
    table::run(Case { name: rule.name, preset: rule.preset, given, when: rule.when.into(), then: vec![rule.then] });
}

fn limit(account: u64, bucket: &str, period: Period, cap: &str, used: &str, requested: &str) -> Then {
    Then::Reason(RejectReason::LimitExceeded {
        account: acc(account),
        bucket: bucket.into(),
        period,
        cap: cny(cap),
        used: cny(used),
        requested: cny(requested),
    })
}

fn twenty_days_of_10k_payments() -> Vec<(&'static str, CommandBody)> {
    const DAYS: [&str; 20] = [
        "2026-01-01 09:00:00",
        "2026-01-02 09:00:00",
        "2026-01-03 09:00:00",
        "2026-01-04 09:00:00",
        "2026-01-05 09:00:00",
        "2026-01-06 09:00:00",
        "2026-01-07 09:00:00",
        "2026-01-08 09:00:00",
        "2026-01-09 09:00:00",
        "2026-01-10 09:00:00",
        "2026-01-11 09:00:00",
        "2026-01-12 09:00:00",
        "2026-01-13 09:00:00",
        "2026-01-14 09:00:00",
        "2026-01-15 09:00:00",
        "2026-01-16 09:00:00",
        "2026-01-17 09:00:00",
        "2026-01-18 09:00:00",
        "2026-01-19 09:00:00",
        "2026-01-20 09:00:00",
    ];
    let mut steps = vec![
        ("2026-01-01 08:00:00", open_i(11, 1)),
        ("2026-01-01 08:00:00", deposit(11, "1000000")),
        ("2026-01-01 08:00:00", open_ii(12, 1, 11)),
        ("2026-01-01 08:00:00", transfer(11, 12, "300000")),
    ];
    steps.extend(DAYS.iter().map(|day| (*day, pay(12, "10000"))));
    steps
}

fn both_presets(
    name: &'static str,
    given: Vec<(&'static str, CommandBody)>,
    when: CommandBody,
    then: fn() -> Then,
) -> [Rule; 2] {
    [
        Rule { name, preset: "default", given: given.clone(), when: (T0, when.clone()), then: then() },
        Rule { name, preset: "pboc-2018", given, when: (T0, when), then: then() },
    ]
}

#[test]
fn class_rules_table() {
    let mut cases = vec![
        // Class I: full function, no limits, no overdraft.
        Rule {
            name: "I: no limits",
            preset: "default",
            given: setup(),
            when: (T0, withdraw(11, "500000")),
            then: Then::Accepted,
        },
        Rule {
            name: "I: large outbound",
            preset: "pboc-2018",
            given: setup(),
            when: (T0, outbound(11, "EXT-9", "900000")),
            then: Then::Accepted,
        },
        Rule {
            name: "I: no overdraft",
            preset: "pboc-2018",
            given: setup(),
            when: (T0, withdraw(21, "100000.01")),
            then: Then::Reason(RejectReason::InsufficientFunds {
                account: acc(21),
                balance: cny("100000"),
                requested: cny("100000.01"),
            }),
        },
        // Class II OUT bucket: exact at the boundary.
        Rule {
            name: "II: exactly 10,000.00 out in a day",
            preset: "default",
            given: with_setup(vec![(T0, pay(12, "6000"))]),
            when: (T0, outbound(12, "EXT-9", "4000")),
            then: Then::Accepted,
        },
        Rule {
            name: "II: 0.01 over the daily out cap",
            preset: "default",
            given: with_setup(vec![(T0, pay(12, "6000")), (T0, outbound(12, "EXT-9", "4000"))]),
            when: (T0, pay(12, "0.01")),
            then: limit(12, "out", Period::Day, "10000", "10000", "0.01"),
        },
        Rule {
            name: "II: 10,000.01 at once",
            preset: "pboc-2018",
            given: setup(),
            when: (T0, pay(12, "10000.01")),
            then: limit(12, "out", Period::Day, "10000", "0", "10000.01"),
        },
        Rule {
            name: "II: cash withdrawal counts in out",
            preset: "pboc-2018",
            given: with_setup(vec![(T0, pay(12, "9999"))]),
            when: (T0, withdraw(12, "1.01")),
            then: limit(12, "out", Period::Day, "10000", "9999", "1.01"),
        },
        Rule {
            name: "II: internal transfer to a non-bound account counts in out",
            preset: "default",
            given: with_setup(vec![(T0, pay(12, "9000"))]),
            when: (T0, transfer(12, 21, "1000.01")),
            then: limit(12, "out", Period::Day, "10000", "9000", "1000.01"),
        },
        // Beijing natural day, whatever the UTC date.
        Rule {
            name: "II: a new Beijing day at 00:00:00+08:00",
            preset: "default",
            given: with_setup(vec![("2026-03-02 23:59:59", pay(12, "10000"))]),
            when: ("2026-03-03 00:00:00", pay(12, "10000")),
            then: Then::Accepted,
        },
        Rule {
            name: "II: 10:00 and 23:59:59 (15:59:59Z) are one Beijing day",
            preset: "default",
            given: with_setup(vec![(T0, pay(12, "10000"))]),
            when: ("2026-03-02 23:59:59", pay(12, "0.01")),
            then: limit(12, "out", Period::Day, "10000", "10000", "0.01"),
        },
        // Year cap in the Beijing calendar year.
        Rule {
            name: "II: 200,000 in a year, then 0.01 more",
            preset: "default",
            given: twenty_days_of_10k_payments(),
            when: ("2026-01-21 09:00:00", pay(12, "0.01")),
            then: limit(12, "out", Period::Year, "200000", "200000", "0.01"),
        },
        Rule {
            name: "II: a new Beijing year resets the year cap",
            preset: "default",
            given: twenty_days_of_10k_payments(),
            when: ("2027-01-01 00:00:00", pay(12, "10000")),
            then: Then::Accepted,
        },
        // IN bucket.
        Rule {
            name: "II: inbound from others counts in in",
            preset: "pboc-2018",
            given: with_setup(vec![(T0, inbound(12, "EXT-1", "10000"))]),
            when: (T0, deposit(12, "0.01")),
            then: limit(12, "in", Period::Day, "10000", "10000", "0.01"),
        },
        Rule {
            name: "II: inbound from a non-bound ledger account counts in in",
            preset: "default",
            given: with_setup(vec![(T0, transfer(21, 12, "10000"))]),
            when: (T0, transfer(21, 12, "0.01")),
            then: limit(12, "in", Period::Day, "10000", "10000", "0.01"),
        },
        // Exemptions.
        Rule {
            name: "II: transfers with the bound account are exempt",
            preset: "pboc-2018",
            given: with_setup(vec![(T0, pay(12, "10000"))]),
            when: (T0, transfer(12, 11, "40000")),
            then: Then::Accepted,
        },
        Rule {
            name: "II: transfers from the bound account are exempt",
            preset: "default",
            given: with_setup(vec![(T0, inbound(12, "EXT-1", "10000"))]),
            when: (T0, transfer(11, 12, "100000")),
            then: Then::Accepted,
        },
        Rule {
            name: "II: wealth purchase is exempt",
            preset: "pboc-2018",
            given: with_setup(vec![(T0, pay(12, "10000"))]),
            when: (T0, buy(12, "40000")),
            then: Then::Accepted,
        },
        Rule {
            name: "II: wealth redemption is exempt",
            preset: "default",
            given: with_setup(vec![(T0, buy(12, "40000")), (T0, inbound(12, "EXT-1", "10000"))]),
            when: (T0, redeem(12, "40000")),
            then: Then::Accepted,
        },
        Rule {
            name: "II: external bound account is exempt",
            preset: "pboc-2018",
            given: vec![
                (
                    T0,
                    open(
                        12,
                        1,
                        AccountClass::II,
                        Some(Binding::External { kind: ExternalKind::ClassI, reference: "OTHERBANK-1".into() }),
                    ),
                ),
                (T0, inbound(12, "OTHERBANK-1", "50000")),
            ],
            when: (T0, outbound(12, "OTHERBANK-1", "50000")),
            then: Then::Accepted,
        },
        // Cash and card need in-person verification under pboc-2018.
        Rule {
            name: "II (pboc-2018): cash without in-person verification",
            preset: "pboc-2018",
            given: vec![
                (T0, open_i(11, 1)),
                (
                    T0,
                    CommandBody::OpenAccount {
                        account: acc(12),
                        customer: CustomerId(1),
                        class: AccountClass::II,
                        binding: Some(Binding::Account(acc(11))),
                        verified_in_person: false,
                        with_card: false,
                    },
                ),
            ],
            when: (T0, deposit(12, "100")),
            then: Then::Reason(RejectReason::InPersonVerificationRequired {
                class: AccountClass::II,
                flow: Some(Flow::CashDeposit),
            }),
        },
        Rule {
            name: "II (default): cash without in-person verification is allowed",
            preset: "default",
            given: vec![
                (T0, open_i(11, 1)),
                (
                    T0,
                    CommandBody::OpenAccount {
                        account: acc(12),
                        customer: CustomerId(1),
                        class: AccountClass::II,
                        binding: Some(Binding::Account(acc(11))),
                        verified_in_person: false,
                        with_card: false,
                    },
                ),
            ],
            when: (T0, deposit(12, "100")),
            then: Then::Accepted,
        },
        Rule {
            name: "II (pboc-2018): cash with in-person verification",
            preset: "pboc-2018",
            given: setup(),
            when: (T0, deposit(12, "100")),
            then: Then::Accepted,
        },
        Rule {
            name: "II (pboc-2018): card without in-person verification",
            preset: "pboc-2018",
            given: vec![(T0, open_i(11, 1))],
            when: (
                T0,
                CommandBody::OpenAccount {
                    account: acc(12),
                    customer: CustomerId(1),
                    class: AccountClass::II,
                    binding: Some(Binding::Account(acc(11))),
                    verified_in_person: false,
                    with_card: true,
                },
            ),
            then: Then::Reason(RejectReason::InPersonVerificationRequired { class: AccountClass::II, flow: None }),
        },
        // Class III.
        Rule {
            name: "III: no card",
            preset: "default",
            given: vec![(T0, open_i(11, 1))],
            when: (
                T0,
                CommandBody::OpenAccount {
                    account: acc(13),
                    customer: CustomerId(1),
                    class: AccountClass::III,
                    binding: Some(Binding::Account(acc(11))),
                    verified_in_person: true,
                    with_card: true,
                },
            ),
            then: Then::Reason(RejectReason::CardNotAllowed { class: AccountClass::III }),
        },
        Rule {
            name: "III: no cash",
            preset: "default",
            given: setup(),
            when: (T0, deposit(13, "100")),
            then: Then::Reason(RejectReason::FlowNotAllowed {
                account: acc(13),
                class: AccountClass::III,
                flow: Flow::CashDeposit,
            }),
        },
        Rule {
            name: "III: no cash withdrawal",
            preset: "pboc-2018",
            given: setup(),
            when: (T0, withdraw(13, "100")),
            then: Then::Reason(RejectReason::FlowNotAllowed {
                account: acc(13),
                class: AccountClass::III,
                flow: Flow::CashWithdrawal,
            }),
        },
        Rule {
            name: "III: no wealth products",
            preset: "pboc-2018",
            given: setup(),
            when: (T0, buy(13, "100")),
            then: Then::Reason(RejectReason::FlowNotAllowed {
                account: acc(13),
                class: AccountClass::III,
                flow: Flow::WealthPurchase,
            }),
        },
        Rule {
            name: "III (default): 10,000/day out",
            preset: "default",
            given: with_setup(vec![(T0, transfer(11, 13, "20000")), (T0, pay(13, "10000"))]),
            when: (T0, pay(13, "0.01")),
            then: limit(13, "out", Period::Day, "10000", "10000", "0.01"),
        },
        Rule {
            name: "III (pboc-2018): 2,000/day out",
            preset: "pboc-2018",
            given: with_setup(vec![
                (T0, transfer(11, 13, "1000")),
                (T0, pay(13, "1500")),
                (T0, outbound(13, "EXT-9", "500")),
                (T0, transfer(11, 13, "100")),
            ]),
            when: (T0, pay(13, "0.01")),
            then: limit(13, "out", Period::Day, "2000", "2000", "0.01"),
        },
        Rule {
            name: "III (pboc-2018): 50,000/year out",
            preset: "pboc-2018",
            given: {
                let mut steps = with_setup(vec![(T0, transfer(13, 11, "1000"))]);
                for day in 0..25 {
                    let time: &'static str = Box::leak(format!("2026-04-{:02} 09:00:00", day + 1).into_boxed_str());
                    steps.push((time, transfer(11, 13, "2000")));
                    steps.push((time, pay(13, "2000")));
                }
                steps.push(("2026-05-01 09:00:00", transfer(11, 13, "1")));
                steps
            },
            when: ("2026-05-01 09:00:00", pay(13, "0.01")),
            then: limit(13, "out", Period::Year, "50000", "50000", "0.01"),
        },
        Rule {
            name: "III (pboc-2018): balance cap 2,000 holds for bound inflows too",
            preset: "pboc-2018",
            given: with_setup(vec![(T0, transfer(11, 13, "1000"))]),
            when: (T0, transfer(11, 13, "0.01")),
            then: Then::Reason(RejectReason::BalanceCapExceeded {
                account: acc(13),
                cap: cny("2000"),
                balance: cny("2000"),
                requested: cny("0.01"),
            }),
        },
        Rule {
            name: "III (pboc-2018): balance exactly at the cap",
            preset: "pboc-2018",
            given: setup(),
            when: (T0, transfer(11, 13, "1000")),
            then: Then::Accepted,
        },
        Rule {
            name: "III (pboc-2018): 5,000/day in from non-bound accounts",
            preset: "pboc-2018",
            given: with_setup(vec![
                (T0, transfer(13, 11, "1000")),
                (T0, inbound(13, "EXT-1", "2000")),
                (T0, transfer(13, 11, "2000")),
                (T0, inbound(13, "EXT-1", "2000")),
                (T0, transfer(13, 11, "2000")),
                (T0, inbound(13, "EXT-1", "1000")),
            ]),
            when: (T0, inbound(13, "EXT-1", "0.01")),
            then: limit(13, "in", Period::Day, "5000", "5000", "0.01"),
        },
        Rule {
            name: "III: first funding must come from the bound account",
            preset: "default",
            given: vec![(T0, open_i(11, 1)), (T0, open_iii(13, 1, 11))],
            when: (T0, inbound(13, "EXT-1", "10")),
            then: Then::Reason(RejectReason::FirstFundingFromBoundRequired { account: acc(13) }),
        },
        Rule {
            name: "III: after a bound funding, others may pay in",
            preset: "pboc-2018",
            given: vec![
                (T0, open_i(11, 1)),
                (T0, deposit(11, "10")),
                (T0, open_iii(13, 1, 11)),
                (T0, transfer(11, 13, "10")),
            ],
            when: (T0, inbound(13, "EXT-1", "10")),
            then: Then::Accepted,
        },
        // Account counts per customer.
        Rule {
            name: "one Class I per customer",
            preset: "pboc-2018",
            given: setup(),
            when: (T0, open_i(14, 1)),
            then: Then::Reason(RejectReason::AccountCountExceeded {
                customer: CustomerId(1),
                class: AccountClass::I,
                max_open: 1,
            }),
        },
        Rule {
            name: "default: one Class III per customer",
            preset: "default",
            given: setup(),
            when: (T0, open_iii(14, 1, 11)),
            then: Then::Reason(RejectReason::AccountCountExceeded {
                customer: CustomerId(1),
                class: AccountClass::III,
                max_open: 1,
            }),
        },
        Rule {
            name: "pboc-2018: a second Class III",
            preset: "pboc-2018",
            given: setup(),
            when: (T0, open_iii(14, 1, 11)),
            then: Then::Accepted,
        },
        Rule {
            name: "pboc-2018: at most 5 Class III",
            preset: "pboc-2018",
            given: with_setup(vec![
                (T0, open_iii(14, 1, 11)),
                (T0, open_iii(15, 1, 11)),
                (T0, open_iii(16, 1, 11)),
                (T0, open_iii(17, 1, 11)),
            ]),
            when: (T0, open_iii(18, 1, 11)),
            then: Then::Reason(RejectReason::AccountCountExceeded {
                customer: CustomerId(1),
                class: AccountClass::III,
                max_open: 5,
            }),
        },
        Rule {
            name: "at most 5 Class II",
            preset: "default",
            given: with_setup(vec![
                (T0, open_ii(14, 1, 11)),
                (T0, open_ii(15, 1, 11)),
                (T0, open_ii(16, 1, 11)),
                (T0, open_ii(17, 1, 11)),
            ]),
            when: (T0, open_ii(18, 1, 11)),
            then: Then::Reason(RejectReason::AccountCountExceeded {
                customer: CustomerId(1),
                class: AccountClass::II,
                max_open: 5,
            }),
        },
        Rule {
            name: "a closed account does not count",
            preset: "default",
            given: with_setup(vec![(T0, transfer(13, 11, "1000")), (T0, close(13))]),
            when: (T0, open_iii(14, 1, 11)),
            then: Then::Accepted,
        },
        // Binding.
        Rule {
            name: "II needs a binding",
            preset: "default",
            given: vec![(T0, open_i(11, 1))],
            when: (T0, open(12, 1, AccountClass::II, None)),
            then: Then::Reason(RejectReason::BindingRequired { class: AccountClass::II }),
        },
        Rule {
            name: "I takes no binding",
            preset: "default",
            given: vec![(T0, open_i(21, 2))],
            when: (T0, open(11, 1, AccountClass::I, Some(Binding::Account(acc(21))))),
            then: Then::Reason(RejectReason::BindingNotAllowed { class: AccountClass::I }),
        },
        Rule {
            name: "binding to another customer's Class I",
            preset: "pboc-2018",
            given: setup(),
            when: (T0, open_ii(14, 2, 11)),
            then: Then::Reason(RejectReason::InvalidBinding { problem: BindingProblem::OtherCustomer }),
        },
        Rule {
            name: "binding to a Class II",
            preset: "default",
            given: setup(),
            when: (T0, open_ii(14, 1, 12)),
            then: Then::Reason(RejectReason::InvalidBinding { problem: BindingProblem::NotClassI }),
        },
        Rule {
            name: "binding to an unknown account",
            preset: "default",
            given: setup(),
            when: (T0, open_ii(14, 1, 99)),
            then: Then::Reason(RejectReason::InvalidBinding { problem: BindingProblem::UnknownAccount }),
        },
        Rule {
            name: "binding to a closed account",
            preset: "default",
            given: vec![(T0, open_i(11, 1)), (T0, close(11))],
            when: (T0, open_ii(12, 1, 11)),
            then: Then::Reason(RejectReason::InvalidBinding { problem: BindingProblem::AccountClosed }),
        },
        Rule {
            name: "external binding needs a reference",
            preset: "default",
            given: vec![],
            when: (
                T0,
                open(
                    12,
                    1,
                    AccountClass::II,
                    Some(Binding::External { kind: ExternalKind::ClassI, reference: " ".into() }),
                ),
            ),
            then: Then::Reason(RejectReason::InvalidBinding { problem: BindingProblem::BadReference }),
        },
        Rule {
            name: "credit card binding",
            preset: "pboc-2018",
            given: vec![],
            when: (
                T0,
                open(
                    12,
                    1,
                    AccountClass::II,
                    Some(Binding::External { kind: ExternalKind::CreditCard, reference: "CC-1".into() }),
                ),
            ),
            then: Then::Accepted,
        },
        Rule {
            name: "credit card binding before 2016-12 (pboc-2016 forbids nothing: policy decides)",
            preset: "pboc-2016",
            given: vec![],
            when: (
                T0,
                open(
                    12,
                    1,
                    AccountClass::III,
                    Some(Binding::External { kind: ExternalKind::CreditCard, reference: "CC-1".into() }),
                ),
            ),
            then: Then::Accepted,
        },
        // Closing.
        Rule {
            name: "close needs a zero balance",
            preset: "default",
            given: setup(),
            when: (T0, close(12)),
            then: Then::Reason(RejectReason::NonZeroBalance { account: acc(12), balance: cny("50000") }),
        },
        Rule {
            name: "close a bound Class I with open II/III",
            preset: "default",
            given: with_setup(vec![(T0, transfer(11, 21, "949000"))]),
            when: (T0, close(11)),
            then: Then::Reason(RejectReason::BoundAccountsOpen { account: acc(11), open: 2 }),
        },
        Rule {
            name: "close at zero",
            preset: "pboc-2018",
            given: with_setup(vec![(T0, transfer(12, 11, "50000"))]),
            when: (T0, close(12)),
            then: Then::Accepted,
        },
        Rule {
            name: "no posting to a closed account",
            preset: "default",
            given: with_setup(vec![(T0, transfer(12, 11, "50000")), (T0, close(12))]),
            when: (T0, transfer(11, 12, "1")),
            then: Then::Reason(RejectReason::AccountClosed { account: acc(12) }),
        },
        Rule {
            name: "close twice",
            preset: "default",
            given: with_setup(vec![(T0, transfer(12, 11, "50000")), (T0, close(12))]),
            when: (T0, close(12)),
            then: Then::Reason(RejectReason::AccountClosed { account: acc(12) }),
        },
        // Input and time.
        Rule {
            name: "time before the head",
            preset: "default",
            given: with_setup(vec![("2026-03-03 00:00:00", pay(12, "1"))]),
            when: ("2026-03-02 23:59:59", pay(12, "1")),
            then: Then::Reason(RejectReason::TimeBeforeHead {
                requested_at: at("2026-03-02 23:59:59"),
                head_at: at("2026-03-03 00:00:00"),
            }),
        },
        Rule {
            name: "the same time as the head is fine",
            preset: "default",
            given: with_setup(vec![("2026-03-03 00:00:00", pay(12, "1"))]),
            when: ("2026-03-03 00:00:00", pay(12, "1")),
            then: Then::Accepted,
        },
        Rule {
            name: "unknown account",
            preset: "default",
            given: setup(),
            when: (T0, pay(99, "1")),
            then: Then::Reason(RejectReason::UnknownAccount { account: acc(99) }),
        },
        Rule {
            name: "account exists",
            preset: "default",
            given: setup(),
            when: (T0, open_i(21, 3)),
            then: Then::Reason(RejectReason::AccountExists { account: acc(21) }),
        },
        Rule {
            name: "same account",
            preset: "default",
            given: setup(),
            when: (T0, transfer(11, 11, "1")),
            then: Then::Reason(RejectReason::SameAccount { account: acc(11) }),
        },
        Rule {
            name: "balance overflow",
            preset: "default",
            given: with_setup(vec![(T0, deposit(21, "9999999999900000"))]),
            when: (T0, deposit(21, "0.01")),
            then: Then::Reason(RejectReason::BalanceOverflow { account: acc(21) }),
        },
        Rule {
            name: "policy with a zero cap",
            preset: "default",
            given: vec![],
            when: (
                T0,
                CommandBody::ChangePolicy {
                    effective_from: at(T0),
                    policy: {
                        let mut p = Policy::preset("default").unwrap();
                        p.class.class_ii.buckets[0].day_cap = Some(Amount::ZERO);
                        Box::new(p)
                    },
                },
            ),
            then: Then::Code("INVALID_POLICY"),
        },
        Rule {
            name: "policy effective in the past",
            preset: "default",
            given: setup(),
            when: (
                T0,
                CommandBody::ChangePolicy {
                    effective_from: at("2026-03-01 00:00:00"),
                    policy: Box::new(Policy::preset("pboc-2018").unwrap()),
                },
            ),
            then: Then::Reason(RejectReason::PolicyEffectiveInPast {
                effective_from: at("2026-03-01 00:00:00"),
                head_at: at(T0),
            }),
        },
        Rule {
            name: "policy from now on",
            preset: "default",
            given: setup(),
            when: (
                T0,
                CommandBody::ChangePolicy {
                    effective_from: at(T0),
                    policy: Box::new(Policy::preset("pboc-2018").unwrap()),
                },
            ),
            then: Then::Accepted,
        },
    ];
    cases.extend(both_presets("zero amount", setup(), pay(12, "0"), || Then::Reason(RejectReason::ZeroAmount)));
    cases.extend(both_presets(
        "empty merchant",
        setup(),
        CommandBody::Payment { from: acc(12), merchant: "".into(), amount: cny("1") },
        || Then::Code("INVALID_TEXT"),
    ));
    cases.extend(both_presets("129-character counterparty", setup(), outbound(12, &"x".repeat(129), "1"), || {
        Then::Code("INVALID_TEXT")
    }));
    cases.extend(both_presets("128-character counterparty", setup(), outbound(12, &"x".repeat(128), "1"), || {
        Then::Accepted
    }));
    cases.extend(both_presets("III overdraft", setup(), pay(13, "1000.01"), || Then::Code("INSUFFICIENT_FUNDS")));
    for case in cases {
        run(case);
    }
}

#[test]
fn no_policy_in_force_before_the_first_version() {
    let mut state = State::new();
    let mut n = 0;
    let mut schedule = policy_command(Policy::preset("default").unwrap(), &mut n);
    schedule.body = CommandBody::ChangePolicy {
        effective_from: at("2026-06-01 00:00:00"),
        policy: Box::new(Policy::preset("default").unwrap()),
    };
    appended(execute(&mut state, &schedule).unwrap());
    let early = appended(execute(&mut state, &command("2026-05-31 23:59:59", open_i(11, 1), &mut n)).unwrap());
    assert!(matches!(early, EventBody::Rejected { reason: RejectReason::NoPolicyInForce, .. }), "{early:?}");
    let on_time = appended(execute(&mut state, &command("2026-06-01 00:00:00", open_i(11, 1), &mut n)).unwrap());
    assert!(matches!(on_time, EventBody::AccountOpened { .. }), "{on_time:?}");
}

#[test]
fn each_command_gets_the_policy_version_in_force_at_its_time() {
    // default (no balance cap for III) until 2026-06-01, then pboc-2018 (cap 2,000).
    let mut state = State::new();
    let mut n = 0;
    appended(execute(&mut state, &policy_command(Policy::preset("default").unwrap(), &mut n)).unwrap());
    for (time, body) in setup() {
        appended(execute(&mut state, &command(time, body, &mut n)).unwrap());
    }
    let change = CommandBody::ChangePolicy {
        effective_from: at("2026-06-01 00:00:00"),
        policy: Box::new(Policy::preset("pboc-2018").unwrap()),
    };
    appended(execute(&mut state, &command(T0, change, &mut n)).unwrap());
    let before =
        appended(execute(&mut state, &command("2026-05-31 23:59:59", transfer(11, 13, "2000"), &mut n)).unwrap());
    assert!(matches!(before, EventBody::Posted(_)), "default has no III balance cap: {before:?}");
    assert_eq!(state.account(acc(13)).unwrap().balance, cny("3000"));
    let after =
        appended(execute(&mut state, &command("2026-06-01 00:00:00", transfer(11, 13, "0.01"), &mut n)).unwrap());
    assert!(matches!(after, EventBody::Rejected { reason: RejectReason::BalanceCapExceeded { .. }, .. }), "{after:?}");
}

#[test]
fn retried_ids_get_the_same_answer_even_after_the_day_rolls_over() {
    let mut state = State::new();
    let mut n = 0;
    appended(execute(&mut state, &policy_command(Policy::preset("default").unwrap(), &mut n)).unwrap());
    for (time, body) in setup() {
        appended(execute(&mut state, &command(time, body, &mut n)).unwrap());
    }
    let over = command("2026-03-02 23:00:00", pay(12, "10000.01"), &mut n);
    let ok = command("2026-03-02 23:30:00", pay(12, "100"), &mut n);
    let first_over = execute(&mut state, &over).unwrap();
    let first_ok = execute(&mut state, &ok).unwrap();
    let (Decision::Append(_), Decision::Append(_)) = (&first_over, &first_ok) else {
        panic!("first answers must append")
    };
    let seq_over = state.answer_seq(over.id).unwrap();
    let seq_ok = state.answer_seq(ok.id).unwrap();
    // A new Beijing day: the payment would now fit, but the retry keeps its rejection.
    let mut next_day = over.clone();
    next_day.at = at("2026-03-03 09:00:00");
    let events = state.event_count();
    assert_eq!(execute(&mut state, &next_day).unwrap(), Decision::Retry { seq: seq_over });
    assert_eq!(execute(&mut state, &ok).unwrap(), Decision::Retry { seq: seq_ok });
    assert_eq!(state.event_count(), events, "a retry appends nothing");
}

#[test]
fn business_times_ahead_of_the_clock_are_refused_without_moving_the_ledger_time() {
    // Given a ledger whose head is at T0 and a clock that accepts up to 10:05:00 (T0 + 5 min):
    // (when: a deposit at, then: accepted, or refused with the latest accepted time).
    let latest = at("2026-03-02 10:05:00");
    let rows: [(&str, Option<Timestamp>); 6] = [
        ("2026-03-02 10:00:00", None),
        ("2026-03-02 10:05:00", None),
        ("2026-03-02 10:05:01", Some(latest)),
        ("2027-03-02 10:00:00", Some(latest)),
        ("2100-01-01 00:00:00", Some(latest)),
        ("2025-03-02 10:00:00", None), // the past is TIME_BEFORE_HEAD's business, not this guard's
    ];
    for (time, refused) in rows {
        let mut n = 0;
        let mut state = State::new();
        appended(execute(&mut state, &policy_command(Policy::preset("default").unwrap(), &mut n)).unwrap());
        for (t, body) in setup() {
            appended(execute(&mut state, &command(t, body, &mut n)).unwrap());
        }
        appended(execute(&mut state, &command(T0, deposit(11, "1"), &mut n)).unwrap());
        let before = (business_view(&state), state.head_at());
        let when = command(time, deposit(11, "100"), &mut n);
        let decision = decide_in(&state, &when, Admission { latest_at: Some(latest) });
        let Decision::Append(events) = decision else { panic!("{time}: {decision:?}") };
        match (refused, &events[0].body) {
            (Some(latest_accepted), EventBody::Rejected { reason, .. }) => {
                let expected = RejectReason::TimeAheadOfClock { requested_at: at(time), latest_accepted };
                assert_eq!(reason, &expected, "{time}");
                assert_eq!(events[0].at, at(T0), "{time}: recorded at the head's time, not the refused one");
                state.apply(&events[0]).unwrap();
                assert_eq!((business_view(&state), state.head_at()), before, "{time}: a refusal moved the ledger");
                // The ledger keeps working at the clock's time.
                let next = command("2026-03-02 10:01:00", deposit(11, "1"), &mut n);
                assert!(matches!(appended(execute(&mut state, &next).unwrap()), EventBody::Posted(_)), "{time}");
            }
            (None, EventBody::Rejected { reason, .. }) => {
                assert_ne!(reason.code(), "TIME_AHEAD_OF_CLOCK", "{time}: refused: {reason}");
            }
            (None, _) => {}
            (Some(_), accepted) => panic!("{time}: accepted, expected TIME_AHEAD_OF_CLOCK: {accepted:?}"),
        }
    }
}

#[test]
fn every_reason_code_is_covered_by_a_row() {
    // Guard: a new RejectReason without a row here (or in the protections table) fails this test.
    let source = [include_str!("rules.rs"), include_str!("protections.rs")].concat();
    for code in RejectReason::CODES {
        let variant: String = code.split('_').map(|w| format!("{}{}", &w[..1], w[1..].to_lowercase())).collect();
        assert!(
            source.contains(&format!("RejectReason::{variant}")) || source.contains(&format!("Code(\"{code}\")")),
            "no table row for {code}"
        );
    }
}
