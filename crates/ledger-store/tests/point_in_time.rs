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
            Command { id: CommandId(uuid::Uuid::from_u128(id)), at, body }
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
