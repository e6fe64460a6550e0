//! A time the ledger stamps itself (a command sent without `at`) is never before the head: the
//! head may move on while the command waits in the writer's queue, and such a command is decided
//! at the head's time. A client-given time keeps the `TIME_BEFORE_HEAD` rule.

#![expect(clippy::unwrap_used, reason = "a failing step should stop the test where it fails")]

use std::sync::{Arc, Barrier};

use ledger_core::{AccountId, Amount, Command, CommandBody, CustomerId, Policy, Timestamp};
use ledger_store::{FakeClock, Ledger, LedgerOptions};

const ACCOUNTS: u64 = 8;

fn at(text: &str) -> Timestamp {
    format!("{text}+08:00").parse().unwrap()
}

fn deposit(account: u64) -> CommandBody {
    CommandBody::CashDeposit { account: AccountId(account), amount: Amount::from_fen(100).unwrap() }
}

/// A ledger with the default policy and `ACCOUNTS` Class I accounts, at 09:00 by a fake clock.
fn ledger() -> (tempfile::TempDir, Arc<FakeClock>, Ledger) {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(FakeClock::new(at("2026-03-02T09:00:00")));
    let options = LedgerOptions { clock: clock.clone(), ..LedgerOptions::default() };
    let ledger = Ledger::create(dir.path(), options).unwrap();
    let policy = Box::new(Policy::preset("default").unwrap());
    let genesis = CommandBody::ChangePolicy { effective_from: Timestamp::UNIX_EPOCH, policy };
    assert!(ledger.submit(ledger.command(genesis)).unwrap().is_accepted());
    let opens =
        (1..=ACCOUNTS).map(|a| ledger.command(CommandBody::open_class_i(AccountId(a), CustomerId(a)))).collect();
    assert!(ledger.submit_batch(opens).unwrap().iter().all(|receipt| receipt.is_accepted()));
    (dir, clock, ledger)
}

#[test]
fn a_stamped_time_left_behind_by_the_head_is_decided_at_the_head_and_a_given_one_is_not() {
    // given a command stamped at 09:00:00.000 (or dated so by its client) that waits while
    // another, stamped 10 ms later, is committed
    // when it is submitted
    // then: (stamped, reason code or accepted, the event's time)
    let cases = [(true, None, "2026-03-02T09:00:00.010"), (false, Some("TIME_BEFORE_HEAD"), "2026-03-02T09:00:00.010")];
    for (stamped, reason, event_at) in cases {
        let (_dir, clock, ledger) = ledger();
        let waiting = Command { stamped, ..ledger.command(deposit(1)) };
        clock.advance_millis(10);
        assert!(ledger.submit(ledger.command(deposit(2))).unwrap().is_accepted());
        let receipt = ledger.submit(waiting).unwrap();
        assert_eq!(receipt.rejection().map(|r| r.code()), reason, "stamped {stamped}: {receipt:?}");
        assert_eq!(receipt.event.at, at(event_at), "stamped {stamped}");
    }
}

#[test]
fn many_threads_sending_commands_without_a_time_are_never_rejected_time_before_head() {
    const THREADS: u64 = 16;
    const PER_THREAD: u64 = 200;
    let (_dir, clock, ledger) = ledger();
    // Every thread stamps all its commands first (the clock moves 1 ms per command), then all
    // submit at once, singly and in batches: most wait behind later-stamped ones.
    let start = Arc::new(Barrier::new(THREADS as usize));
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let (ledger, clock, start) = (ledger.clone(), clock.clone(), start.clone());
            std::thread::spawn(move || {
                let commands: Vec<Command> = (0..PER_THREAD)
                    .map(|n| {
                        clock.advance_millis(1);
                        ledger.command(deposit((t + n) % ACCOUNTS + 1))
                    })
                    .collect();
                start.wait();
                let mut receipts = Vec::new();
                for (n, chunk) in commands.chunks(7).enumerate() {
                    if n % 2 == 0 {
                        receipts.extend(ledger.submit_batch(chunk.to_vec()).unwrap());
                    } else {
                        receipts.extend(chunk.iter().map(|command| ledger.submit(command.clone()).unwrap()));
                    }
                }
                receipts.into_iter().filter(|receipt| !receipt.is_accepted()).collect::<Vec<_>>()
            })
        })
        .collect();
    let refused: Vec<_> = threads.into_iter().flat_map(|thread| thread.join().unwrap()).collect();
    assert!(refused.is_empty(), "{} refused, the first: {:?}", refused.len(), refused.first());
    let head = ledger.head().unwrap().seq;
    assert_eq!(head, 1 + ACCOUNTS + THREADS * PER_THREAD);
    let times: Vec<Timestamp> = (1..=head).map(|seq| ledger.event(seq).unwrap().at).collect();
    assert!(times.windows(2).all(|pair| pair[0] <= pair[1]), "business times along the log never decrease");
    assert!(ledger.replay().unwrap().mismatches.is_empty());
}
