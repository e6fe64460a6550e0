//! Many submitting threads plus readers during commits: every caller's receipts are in order,
//! readers never see the head go back, and the result equals a replay.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use support::on_both_backends;

use ledger_core::{AccountId, Amount, Command, CommandBody, CommandId, CustomerId, Policy, Timestamp};
use ledger_store::{FakeClock, Ledger, LedgerOptions};
use uuid::Uuid;

on_both_backends! {
fn submitters_and_readers_see_a_consistent_ordered_ledger(db) {
    let at: Timestamp = "2026-03-02T09:00:00+08:00".parse().unwrap();
    let options = LedgerOptions { clock: Arc::new(FakeClock::new(at)), batch_len_max: 64, ..LedgerOptions::default() };
    let ledger = Ledger::create(db, options).unwrap();
    let cmd = move |id: u128, body| Command { id: CommandId(Uuid::from_u128(id)), at, body, stamped: false };
    let policy = Box::new(Policy::preset("default").unwrap());
    ledger.submit(cmd(1, CommandBody::ChangePolicy { effective_from: Timestamp::UNIX_EPOCH, policy })).unwrap();
    let opens = (1..=8u64)
        .flat_map(|a| {
            let open = CommandBody::open_class_i(AccountId(a), CustomerId(a));
            let fund = CommandBody::CashDeposit { account: AccountId(a), amount: Amount::from_yuan(1_000).unwrap() };
            [cmd(10 + u128::from(a) * 2, open), cmd(11 + u128::from(a) * 2, fund)]
        })
        .collect();
    ledger.submit_batch(opens).unwrap();
    let total = Amount::from_yuan(8_000).unwrap();

    let done = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (ledger, done) = (ledger.clone(), done.clone());
            std::thread::spawn(move || {
                let mut last = 0;
                let mut reads = 0u64;
                while !done.load(Ordering::SeqCst) {
                    let head = ledger.head().unwrap().seq;
                    assert!(head >= last, "the head went back from {last} to {head}");
                    last = head;
                    for a in 1..=8 {
                        assert!(ledger.balance(AccountId(a)).unwrap().is_some());
                    }
                    reads += 1;
                }
                reads
            })
        })
        .collect();
    let writers: Vec<_> = (0..4u128)
        .map(|t| {
            let ledger = ledger.clone();
            std::thread::spawn(move || {
                let mut last_seq = 0;
                for n in 0..200u128 {
                    let (from, to) = (AccountId((t * 2 + n) as u64 % 8 + 1), AccountId((t * 3 + n) as u64 % 8 + 1));
                    let body = CommandBody::InternalTransfer {
                        from,
                        to,
                        amount: Amount::from_fen((n % 50 + 1) as u64).unwrap(),
                    };
                    let batch: Vec<Command> =
                        (0..(n % 3 + 1)).map(|k| cmd(1_000_000 * (t + 1) + n * 10 + k, body.clone())).collect();
                    for receipt in ledger.submit_batch(batch).unwrap() {
                        assert!(receipt.seq > last_seq, "receipts out of order");
                        last_seq = receipt.seq;
                    }
                }
            })
        })
        .collect();
    for writer in writers {
        writer.join().unwrap();
    }
    done.store(true, Ordering::SeqCst);
    let reads: u64 = readers.into_iter().map(|r| r.join().unwrap()).sum();
    assert!(reads > 0);
    let state = ledger.live_state().unwrap();
    let sum = state.accounts().map(|a| a.balance.fen()).sum::<u64>();
    assert_eq!(sum, total.fen(), "internal transfers conserve money");
    assert_eq!(ledger.replayed_state().unwrap(), state);
    assert!(ledger.replay().unwrap().mismatches.is_empty());
}
}
