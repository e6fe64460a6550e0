//! Point-in-time balances and statements against the log itself: `balance_at` equals applying
//! the log's events up to that time to a fresh state (proptest over random ledgers, accounts and
//! times), and every statement reconciles (opening + credits − debits = closing = the balance
//! at its end).

#![expect(clippy::unwrap_used, reason = "a failing step should stop the test where it fails")]

use std::sync::Arc;

use ledger_core::{AccountId, Amount, Command, CommandBody, CommandId, CustomerId, Policy, State, Timestamp};
use ledger_store::{FakeClock, Ledger, LedgerOptions, Reader};
use proptest::prelude::*;

const ACCOUNTS: u64 = 3;
const MINUTE_MS: i64 = 60_000;

fn start() -> Timestamp {
    "2026-03-01T20:00:00+08:00".parse().unwrap()
}

/// (kind 0 deposit / 1 withdrawal / 2 transfer, account, other, yuan, minutes after the last).
fn op() -> impl Strategy<Value = (u8, u64, u64, u64, i64)> {
    (0u8..3, 1..=ACCOUNTS, 1..=ACCOUNTS, 1u64..3_000, 0i64..400)
}

/// The balance of `account` after applying every event dated at or before `at`, from genesis.
fn replayed_balance(reader: &Reader, account: AccountId, at: Timestamp) -> Option<Amount> {
    let mut state = State::new();
    for seq in 1..=reader.head().unwrap().seq {
        let event = reader.event(seq).unwrap();
        if event.at > at {
            break;
        }
        state.apply(&event).unwrap();
    }
    state.account(account).map(|a| a.balance)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn balance_at_equals_the_log_replayed_to_that_time_and_statements_reconcile(
        ops in prop::collection::vec(op(), 1..40),
        probes in prop::collection::vec((1..=ACCOUNTS, -30i64..3_000), 1..12),
        days in prop::collection::vec((0i32..4, 0i32..3), 1..5),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(FakeClock::new(start()));
        let options = LedgerOptions { clock, max_ahead_of_clock: None, ..LedgerOptions::default() };
        let ledger = Ledger::create(dir.path(), options).unwrap();
        let mut id = 0u128;
        let mut command = |at: Timestamp, body| {
            id += 1;
            Command { id: CommandId(uuid::Uuid::from_u128(id)), at, body, stamped: false }
        };
        let policy = Box::new(Policy::preset("default").unwrap());
        let mut setup = vec![command(Timestamp::UNIX_EPOCH, CommandBody::ChangePolicy { effective_from: Timestamp::UNIX_EPOCH, policy })];
        for a in 1..=ACCOUNTS {
            setup.push(command(start(), CommandBody::open_class_i(AccountId(a), CustomerId(a))));
        }
        ledger.submit_batch(setup).unwrap();
        let mut at = start();
        for (kind, account, other, yuan, minutes) in ops {
            at = at.plus_millis(minutes * MINUTE_MS).unwrap();
            let amount = Amount::from_yuan(yuan).unwrap();
            let (account, other) = (AccountId(account), AccountId(other));
            let body = match kind {
                0 => CommandBody::CashDeposit { account, amount },
                1 => CommandBody::CashWithdrawal { account, amount },
                _ if account == other => CommandBody::CashDeposit { account, amount },
                _ => CommandBody::InternalTransfer { from: account, to: other, amount },
            };
            ledger.submit(command(at, body)).unwrap();
        }
        for (account, minutes) in probes {
            let account = AccountId(account);
            let when = start().plus_millis(minutes * MINUTE_MS).unwrap();
            prop_assert_eq!(ledger.balance_at(account, when).unwrap(), replayed_balance(&ledger, account, when));
        }
        for (first, span) in days {
            let from = start().next_beijing_midnight().unwrap().plus_millis(i64::from(first - 1) * 86_400_000).unwrap();
            let until = from.plus_millis(i64::from(span + 1) * 86_400_000).unwrap();
            for a in 1..=ACCOUNTS {
                let account = AccountId(a);
                let Some(statement) = ledger.statement(account, from, until).unwrap() else { continue };
                let credits = statement.lines.iter().fold(Amount::ZERO, |sum, l| sum.checked_add(l.credit).unwrap());
                let debits = statement.lines.iter().fold(Amount::ZERO, |sum, l| sum.checked_add(l.debit).unwrap());
                prop_assert_eq!(statement.opening.checked_add(credits).unwrap().checked_sub(debits), Some(statement.closing));
                let end = until.plus_millis(-1).unwrap();
                prop_assert_eq!(Some(statement.closing), replayed_balance(&ledger, account, end).or(Some(Amount::ZERO)));
                let before = from.plus_millis(-1).unwrap();
                prop_assert_eq!(Some(statement.opening), replayed_balance(&ledger, account, before).or(Some(Amount::ZERO)));
                for line in &statement.lines {
                    prop_assert!(line.at >= from && line.at < until);
                }
            }
        }
        ledger.close().unwrap();
    }
}

/// The largest day and year use over the buckets of `account`'s usage at `at` (`None`: not open).
fn usage_peaks(reader: &Reader, account: AccountId, at: &str) -> Option<(String, String)> {
    let report = reader.usage_at(account, at.parse().unwrap()).unwrap()?;
    let peak = |pick: fn(&ledger_store::BucketReport) -> Amount| {
        report.buckets.iter().map(pick).max().unwrap_or(Amount::ZERO).to_string()
    };
    Some((peak(|b| b.day_used), peak(|b| b.year_used)))
}

#[test]
fn usage_at_a_time_is_the_use_recorded_up_to_that_time_and_none_before_the_account_opened() {
    // given a Class II account opened on 1 December, paying 9,000 that day and 1,000 on the 5th
    let dir = tempfile::tempdir().unwrap();
    let options = LedgerOptions { max_ahead_of_clock: None, ..LedgerOptions::default() };
    let ledger = Ledger::create(dir.path(), options).unwrap();
    let mut id = 0u128;
    let mut command = |at: &str, body| {
        id += 1;
        Command { id: CommandId(uuid::Uuid::from_u128(id)), at: at.parse().unwrap(), body, stamped: false }
    };
    let policy = Box::new(Policy::preset("default").unwrap());
    let (class_i, class_ii) = (AccountId(10), AccountId(11));
    let pay = |yuan| CommandBody::Payment {
        from: class_ii,
        merchant: "shop".into(),
        amount: Amount::from_yuan(yuan).unwrap(),
    };
    let commands = vec![
        command("1970-01-01T00:00:00Z", CommandBody::ChangePolicy { effective_from: Timestamp::UNIX_EPOCH, policy }),
        command("2026-12-01T09:00:00+08:00", CommandBody::open_class_i(class_i, CustomerId(1))),
        command(
            "2026-12-01T09:00:00+08:00",
            CommandBody::CashDeposit { account: class_i, amount: Amount::from_yuan(20_000).unwrap() },
        ),
        command(
            "2026-12-01T09:00:00+08:00",
            CommandBody::OpenAccount {
                account: class_ii,
                customer: CustomerId(1),
                class: ledger_core::AccountClass::II,
                binding: Some(ledger_core::Binding::Account(class_i)),
                verified_in_person: true,
                with_card: false,
            },
        ),
        command(
            "2026-12-01T09:00:00+08:00",
            CommandBody::InternalTransfer { from: class_i, to: class_ii, amount: Amount::from_yuan(15_000).unwrap() },
        ),
        command("2026-12-01T10:00:00+08:00", pay(9_000)),
        command("2026-12-05T10:00:00+08:00", pay(1_000)),
    ];
    for receipt in ledger.submit_batch(commands).unwrap() {
        assert!(receipt.is_accepted(), "{receipt:?}");
    }
    // when usage is asked at a time, then: (time, the largest day use and year use, or not open)
    let table = [
        ("2026-03-02T12:00:00+08:00", None),
        ("2026-12-01T09:30:00+08:00", Some(("0.00", "0.00"))),
        ("2026-12-01T10:30:00+08:00", Some(("9000.00", "9000.00"))),
        ("2026-12-02T12:00:00+08:00", Some(("0.00", "9000.00"))),
        ("2026-12-05T12:00:00+08:00", Some(("1000.00", "10000.00"))),
        ("2027-01-01T12:00:00+08:00", Some(("0.00", "0.00"))),
    ];
    for (at, expected) in table {
        let expected = expected.map(|(day, year)| (day.to_owned(), year.to_owned()));
        assert_eq!(usage_peaks(&ledger, class_ii, at), expected, "usage at {at}");
    }
    ledger.close().unwrap();
}
