//! Rejections cite the rule: a rejection the policy decides names the version in force at its
//! time and that version's source, in the receipt, its answer and the answer's detail; a retry
//! answered later cites the same version even after a new one came into force; a rejection the
//! policy did not decide cites nothing. A policy's source survives the log, a reopen and replay.

#![expect(clippy::unwrap_used, reason = "a failing step should stop the test where it fails")]

mod support;

use std::sync::Arc;
use support::on_both_backends;

use ledger_core::{
    AccountClass, AccountId, Amount, Binding, Command, CommandBody, CommandId, CustomerId, Policy, Timestamp,
};
use ledger_store::{FakeClock, Ledger, LedgerOptions, Receipt};

fn at(text: &str) -> Timestamp {
    format!("{text}+08:00").parse().unwrap()
}

fn command(id: u128, time: &str, body: CommandBody) -> Command {
    Command { id: CommandId(uuid::Uuid::from_u128(id)), at: at(time), body, stamped: false }
}

fn policy(preset: &str, source: &str) -> Box<Policy> {
    let mut policy = Policy::preset(preset).unwrap();
    policy.source = source.into();
    Box::new(policy)
}

fn pay(id: u128, time: &str, yuan: u64) -> Command {
    let amount = Amount::from_yuan(yuan).unwrap();
    command(id, time, CommandBody::Payment { from: AccountId(2), merchant: "Metro".into(), amount })
}

fn detail(receipt: &Receipt) -> String {
    receipt.answer().detail.unwrap()
}

on_both_backends! {
fn rejections_the_policy_decides_cite_the_version_in_force_and_its_source(db) {
    let clock = Arc::new(FakeClock::new(at("2026-04-01T00:00:00")));
    let options = LedgerOptions { clock, max_ahead_of_clock: None, ..LedgerOptions::default() };
    let ledger = Ledger::create(db, options.clone()).unwrap();
    let genesis = CommandBody::ChangePolicy {
        effective_from: Timestamp::UNIX_EPOCH,
        policy: policy("pboc-2018", "银发〔2018〕16号"),
    };
    let setup = vec![
        command(1, "2026-03-02T09:00:00", genesis),
        command(2, "2026-03-02T09:00:00", CommandBody::open_class_i(AccountId(1), CustomerId(7))),
        command(
            3,
            "2026-03-02T09:00:00",
            CommandBody::OpenAccount {
                account: AccountId(2),
                customer: CustomerId(7),
                class: AccountClass::II,
                binding: Some(Binding::Account(AccountId(1))),
                verified_in_person: true,
                with_card: false,
            },
        ),
        command(
            4,
            "2026-03-02T09:01:00",
            CommandBody::CashDeposit { account: AccountId(1), amount: Amount::from_yuan(90_000).unwrap() },
        ),
        command(
            5,
            "2026-03-02T09:02:00",
            CommandBody::InternalTransfer {
                from: AccountId(1),
                to: AccountId(2),
                amount: Amount::from_yuan(30_000).unwrap(),
            },
        ),
    ];
    for receipt in ledger.submit_batch(setup).unwrap() {
        assert!(receipt.is_accepted(), "{:?}", receipt.rejection());
    }
    // When: a payment over the Class II day cap, one under it, and one the balance cannot cover.
    let over = ledger.submit(pay(6, "2026-03-02T10:00:00", 10_001)).unwrap();
    let under = ledger.submit(pay(7, "2026-03-02T10:01:00", 100)).unwrap();
    let broke = ledger.submit(pay(8, "2026-03-02T10:02:00", 1_000_000)).unwrap();
    // Then: the limit rejection cites pboc-2018 and its source; the others cite nothing.
    let rule = "pboc-2018 (银发〔2018〕16号)";
    assert_eq!(over.rejection().unwrap().code(), "LIMIT_EXCEEDED");
    assert_eq!(over.rule.as_deref(), Some(rule));
    assert_eq!(over.answer().rule.as_deref(), Some(rule));
    assert!(detail(&over).starts_with("LIMIT_EXCEEDED: account 2 bucket out: Day cap 10000.00"), "{}", detail(&over));
    assert!(detail(&over).ends_with("; rule: pboc-2018 (银发〔2018〕16号)"), "{}", detail(&over));
    assert!(under.is_accepted() && under.rule.is_none());
    assert_eq!(broke.rejection().unwrap().code(), "INSUFFICIENT_FUNDS");
    assert_eq!((broke.rule.as_deref(), broke.answer().rule), (None, None));
    assert!(!detail(&broke).contains("rule:"));

    // Given a new version from 2026-03-03 with another source.
    let next = CommandBody::ChangePolicy {
        effective_from: at("2026-03-03T00:00:00"),
        policy: policy("default", "the bank's 2026 card"),
    };
    assert!(ledger.submit(command(9, "2026-03-02T11:00:00", next)).unwrap().is_accepted());
    // When: the over-cap payment is retried, and a new one is made under the new version.
    let retry = ledger.submit(pay(6, "2026-03-02T10:00:00", 10_001)).unwrap();
    let later = ledger.submit(pay(10, "2026-03-03T10:00:00", 10_001)).unwrap();
    // Then: the retry still cites the version it was decided under; the new one the new version.
    assert!(retry.duplicate);
    assert_eq!(retry.rule.as_deref(), Some(rule));
    assert_eq!(later.rule.as_deref(), Some("default (the bank's 2026 card)"));
    // A dry run cites as the submission would.
    let dry = ledger.check(pay(11, "2026-03-03T10:05:00", 10_001)).unwrap();
    assert_eq!(dry.rule.as_deref(), Some("default (the bank's 2026 card)"));
    ledger.close().unwrap();

    // The sources come back from the log: after a reopen, and in a replay from genesis.
    let ledger = Ledger::open(db, options).unwrap();
    let sources: Vec<_> =
        ledger.live_state().unwrap().policy_versions().iter().map(|v| v.policy.source.clone()).collect();
    assert_eq!(sources, ["银发〔2018〕16号", "the bank's 2026 card"]);
    let replayed: Vec<_> =
        ledger.replayed_state().unwrap().policy_versions().iter().map(|v| v.policy.citation()).collect();
    assert_eq!(replayed, [rule, "default (the bank's 2026 card)"]);
    assert!(ledger.replay().unwrap().mismatches.is_empty());
    assert_eq!(ledger.submit(pay(6, "2026-03-02T10:00:00", 10_001)).unwrap().rule.as_deref(), Some(rule));
}
}

#[test]
fn a_policy_with_a_control_character_is_refused() {
    let mut bad = Policy::preset("default").unwrap();
    bad.source = "a\0b".into();
    assert!(bad.validate().is_err());
    let mut bad = Policy::preset("default").unwrap();
    bad.description = "line\nbreak".into();
    assert!(bad.validate().is_err());
}
