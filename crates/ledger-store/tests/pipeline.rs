//! The pipelined writer (`committer.rs`): batch N is written while batch N+1 is decided.
//! - The same submissions in the same order give the same log, byte for byte, and the same
//!   receipts whether each batch waits for the one before (nothing in flight) or all are
//!   submitted at once (the pipeline full), retries of the batch before included (answered
//!   while that batch is still being written). On RocksDB and on PostgreSQL.
//! - Submits decided together in one batch each get their own receipts, in their order.
//! - A commit that fails while the next batch is decided: both batches are refused, nothing of
//!   either is recorded, and a retry of both with the same ids records each command once.

#![expect(clippy::unwrap_used, reason = "a failing step should stop the test where it fails")]

mod support;

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use ledger_core::{AccountId, Amount, Command, CommandBody, CommandId, CustomerId, Policy, Timestamp};
use ledger_store::{BatchReport, Clock, CommitObserver, Error, FakeClock, Ledger, LedgerOptions, Receipt};
use support::PgServer;

fn at() -> Timestamp {
    "2026-03-02T09:00:00+08:00".parse().unwrap()
}

fn command(id: u128, body: CommandBody) -> Command {
    Command { id: CommandId(uuid::Uuid::from_u128(id)), at: at(), body, stamped: false }
}

fn transfer(n: u128) -> CommandBody {
    let (from, to) = (n % 20 + 1, (n * 7 + 3) % 20 + 1);
    let amount = Amount::from_yuan((n % 900 + 1) as u64).unwrap();
    if from == to {
        CommandBody::CashDeposit { account: AccountId(from as u64), amount }
    } else {
        CommandBody::InternalTransfer { from: AccountId(from as u64), to: AccountId(to as u64), amount }
    }
}

/// A policy and 20 funded accounts; then `batches` batches of 50 transfers, each after the first
/// with 5 retries of the batch before's ids (same request), one of its ids with another request
/// (a conflict) and one retry of an id earlier in the same batch.
fn submissions(batches: u128) -> Vec<Vec<Command>> {
    let policy = Box::new(Policy::preset("default").unwrap());
    let mut setup = vec![command(1, CommandBody::ChangePolicy { effective_from: Timestamp::UNIX_EPOCH, policy })];
    for a in 1..=20u64 {
        setup.push(command(100 + u128::from(a), CommandBody::open_class_i(AccountId(a), CustomerId(a))));
        let amount = Amount::from_yuan(10_000).unwrap();
        setup.push(command(200 + u128::from(a), CommandBody::CashDeposit { account: AccountId(a), amount }));
    }
    let mut all = vec![setup];
    for b in 0..batches {
        let id = |i: u128| 1_000_000 * (b + 1) + i;
        let mut batch: Vec<Command> = (0..50).map(|i| command(id(i), transfer(b * 50 + i))).collect();
        if b > 0 {
            let before = &all[all.len() - 1];
            batch.extend(before.iter().step_by(10).take(5).cloned());
            batch.push(command(
                before[1].id.0.as_u128(),
                CommandBody::CashDeposit { account: AccountId(1), amount: Amount::from_fen(1).unwrap() },
            ));
        }
        batch.push(batch[3].clone());
        all.push(batch);
    }
    all
}

fn options() -> LedgerOptions {
    LedgerOptions {
        clock: Arc::new(FakeClock::new(at())),
        max_ahead_of_clock: None,
        batch_len_max: 50,
        ..LedgerOptions::default()
    }
}

/// [`options`] with the writer's caches (accounts and answered ids) at `cache_mib`: at 0 both are
/// cut after every batch, so a retry is answered from the store unless the writer keeps the ids
/// of a batch still in flight.
fn options_with_cache(cache_mib: usize) -> LedgerOptions {
    LedgerOptions { cache_mib, ..options() }
}

/// Each batch's receipts as [`answer`] gives them.
type Answers = Vec<Vec<(u64, bool, bool, bool)>>;

/// What a receipt says (seq, duplicate, conflict, accepted), for comparing runs.
fn answer(receipt: &Receipt) -> (u64, bool, bool, bool) {
    (receipt.seq, receipt.duplicate, receipt.conflict, receipt.is_accepted())
}

/// Submits each batch after the one before was answered; returns the answers and the log.
fn one_at_a_time(db: &Path, submissions: &[Vec<Command>], cache_mib: usize) -> (Answers, Vec<u8>) {
    let ledger = Ledger::create(db, options_with_cache(cache_mib)).unwrap();
    let answers = submissions
        .iter()
        .map(|batch| ledger.submit_batch(batch.clone()).unwrap().iter().map(answer).collect())
        .collect();
    (answers, log_of(ledger))
}

/// Submits every batch at once, then collects the answers in order.
fn all_at_once(db: &Path, submissions: &[Vec<Command>], cache_mib: usize) -> (Answers, Vec<u8>) {
    let ledger = Ledger::create(db, options_with_cache(cache_mib)).unwrap();
    let waiting: Vec<_> = submissions
        .iter()
        .map(|batch| {
            let (reply, answer) = std::sync::mpsc::sync_channel(1);
            ledger.submit_batch_then(batch.clone(), move |receipts| {
                let _ = reply.send(receipts);
            });
            answer
        })
        .collect();
    let answers =
        waiting.into_iter().map(|waiting| waiting.recv().unwrap().unwrap().iter().map(answer).collect()).collect();
    (answers, log_of(ledger))
}

/// The whole log as `export` writes it (every record with its hash and link).
fn log_of(ledger: Ledger) -> Vec<u8> {
    let mut log = Vec::new();
    ledger.export(1, None, &mut log).unwrap();
    ledger.close().unwrap();
    log
}

fn same_log_and_answers(sequential: &Path, pipelined: &Path, cache_mib: usize) {
    let submissions = submissions(40);
    let (answers, log) = one_at_a_time(sequential, &submissions, cache_mib);
    let (piped_answers, piped_log) = all_at_once(pipelined, &submissions, cache_mib);
    let duplicates = answers.iter().flatten().filter(|a| a.1 && !a.2).count();
    let conflicts = answers.iter().flatten().filter(|a| a.2).count();
    assert_eq!(duplicates, 39 * 6 + 1, "every retry of the batch before and in the batch is answered as one");
    assert_eq!(conflicts, 39, "every reuse of an id with another request is a conflict");
    assert_eq!(piped_answers, answers, "the same receipts");
    assert!(piped_log == log, "the same log, byte for byte");
    let records = log.iter().filter(|b| **b == b'\n').count();
    println!(
        "{records} records, {duplicates} retries and {conflicts} conflicts answered alike, one at a time and all at once"
    );
}

#[test]
fn rocksdb_one_at_a_time_and_all_at_once_give_the_same_log() {
    let dir = tempfile::tempdir().unwrap();
    same_log_and_answers(&dir.path().join("sequential"), &dir.path().join("pipelined"), 1024);
}

#[test]
fn rocksdb_one_at_a_time_and_all_at_once_give_the_same_log_with_caches_cut_after_every_batch() {
    let dir = tempfile::tempdir().unwrap();
    same_log_and_answers(&dir.path().join("sequential"), &dir.path().join("pipelined"), 0);
}

#[test]
fn postgres_one_at_a_time_and_all_at_once_give_the_same_log() {
    let server = PgServer::start();
    let sequential = server.create_database("sequential");
    let pipelined = server.create_database("pipelined");
    same_log_and_answers(Path::new(&sequential), Path::new(&pipelined), 1024);
}

/// A clock that counts its readings: the writer reads it once as it starts deciding a batch
/// (with a bound on how far ahead of it business time may be).
#[derive(Debug)]
struct CountingClock {
    inner: FakeClock,
    readings: AtomicU64,
}

impl Clock for CountingClock {
    fn now(&self) -> Timestamp {
        self.readings.fetch_add(1, Ordering::SeqCst);
        self.inner.now()
    }
}

/// Holds the committer after a batch while armed (the observer runs on its thread, after the
/// batch's callers were answered), until released.
#[derive(Debug, Default)]
struct Gate {
    /// Reports seen.
    reports: AtomicU64,
    /// The most commands one batch held.
    commands_max: AtomicU64,
    armed: AtomicBool,
    held: Mutex<bool>,
    changed: Condvar,
}

impl CommitObserver for Gate {
    fn batch_done(&self, report: &BatchReport) {
        self.reports.fetch_add(1, Ordering::SeqCst);
        self.commands_max.fetch_max(report.commands, Ordering::SeqCst);
        if !self.armed.load(Ordering::SeqCst) {
            return;
        }
        let mut held = self.held.lock().unwrap();
        *held = true;
        self.changed.notify_all();
        while *held && self.armed.load(Ordering::SeqCst) {
            held = self.changed.wait(held).unwrap();
        }
    }
}

impl Gate {
    fn wait_held(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut held = self.held.lock().unwrap();
        while !*held {
            assert!(Instant::now() < deadline, "the committer never reached the gate");
            held = self.changed.wait_timeout(held, Duration::from_millis(100)).unwrap().0;
        }
    }

    fn release(&self) {
        self.armed.store(false, Ordering::SeqCst);
        *self.held.lock().unwrap() = false;
        self.changed.notify_all();
    }
}

/// Releases the gate when dropped.
struct Release(Arc<Gate>);

impl Drop for Release {
    fn drop(&mut self) {
        self.0.release();
    }
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "gave up waiting: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Submits `batch` without waiting; the answer comes on the returned channel.
fn submit_then(ledger: &Ledger, batch: &[Command]) -> std::sync::mpsc::Receiver<ledger_store::Result<Vec<Receipt>>> {
    let (reply, answer) = std::sync::mpsc::sync_channel(1);
    ledger.submit_batch_then(batch.to_vec(), move |receipts| {
        let _ = reply.send(receipts);
    });
    answer
}

#[test]
fn submits_decided_in_one_batch_each_get_their_own_receipts_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let gate = Arc::new(Gate::default());
    let options = LedgerOptions { observer: Some(gate.clone()), batch_len_max: 8_192, ..options() };
    let ledger = Ledger::create(dir.path().join("l"), options).unwrap();
    let _release = Release(gate.clone());
    ledger.submit_batch(submissions(0).remove(0)).unwrap();
    wait_until("the setup batch reported", || gate.reports.load(Ordering::SeqCst) == 1);
    // Given: the committer held after a batch, so the submits below queue up behind it.
    gate.armed.store(true, Ordering::SeqCst);
    let held = submit_then(&ledger, &[command(9_000_000, transfer(0))]);
    gate.wait_held();
    // When: 60 submits of 1 to 3 commands (deposits and transfers, one a retry of an id
    // earlier in its own submit) come in together.
    let submits: Vec<Vec<Command>> = (0..60u128)
        .map(|s| {
            let mut commands: Vec<Command> =
                (0..=s % 3).map(|i| command(10_000_000 + 10 * s + i, transfer(s + i))).collect();
            if s % 7 == 0 {
                commands.push(commands[0].clone());
            }
            commands
        })
        .collect();
    let answers: Vec<_> = submits.iter().map(|commands| submit_then(&ledger, commands)).collect();
    gate.release();
    held.recv().unwrap().unwrap();
    // Then: each submit's receipts are its own commands', in its order, one each.
    for (commands, answer) in submits.iter().zip(answers) {
        let receipts = answer.recv().unwrap().unwrap();
        let ids: Vec<CommandId> = receipts.iter().map(|r| r.event.command_id).collect();
        assert_eq!(ids, commands.iter().map(|c| c.id).collect::<Vec<_>>(), "a submit's receipts are its own");
        let retried = commands.len() > 1 && commands[0].id == commands[commands.len() - 1].id;
        assert_eq!(receipts.last().unwrap().duplicate, retried, "the retry is answered as one");
    }
    // (And the test saw what it is about: submits decided together, more than one's worth.)
    let most = gate.commands_max.load(Ordering::SeqCst);
    assert!(most > 4, "no batch held more than one submit ({most} commands at most)");
    ledger.close().unwrap();
}

#[test]
fn a_commit_failing_while_the_next_batch_is_decided_refuses_both_and_a_retry_records_each_once() {
    let server = PgServer::start();
    let url = server.create_database("fault");
    let clock = Arc::new(CountingClock { inner: FakeClock::new(at()), readings: AtomicU64::new(0) });
    let gate = Arc::new(Gate::default());
    let gated = LedgerOptions {
        clock: clock.clone(),
        max_ahead_of_clock: Some(Duration::from_secs(86_400)),
        observer: Some(gate.clone()),
        ..options()
    };
    let ledger = Ledger::create(&url, gated).unwrap();
    // Dropped before the ledger: a failing step never leaves the committer held.
    let _release = Release(gate.clone());
    let all = submissions(4);
    // Given: the setup recorded, batch K answered and the committer held after it.
    ledger.submit_batch(all[0].clone()).unwrap();
    // (The report of a batch comes after its answer.)
    wait_until("the setup batch reported", || gate.reports.load(Ordering::SeqCst) == 1);
    gate.armed.store(true, Ordering::SeqCst);
    ledger.submit_batch(all[1].clone()).unwrap();
    gate.wait_held();
    let head = ledger.head().unwrap();
    // When: batches N and N+1 are submitted and both begin to be decided while K's commit
    // has not come back; then every session of the writer is ended, so N's commit fails. N
    // retries nothing (a retry of K would wait for K); N+1 retries 5 of N's ids.
    let readings = clock.readings.load(Ordering::SeqCst);
    let (n, next) = (all[3].clone(), all[4].clone());
    let (n_answer, next_answer) = (submit_then(&ledger, &n), submit_then(&ledger, &next));
    wait_until("N and N+1 decided", || clock.readings.load(Ordering::SeqCst) >= readings + 2);
    let mut admin = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let ended = admin
        .query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'tiered-ledger-writer' \
             AND datname = current_database()",
            &[],
        )
        .unwrap()
        .len();
    assert!(ended >= 2, "the writer's reading and committing sessions were ended ({ended})");
    gate.release();
    // Then: both are refused, saying nothing was recorded; the head did not move (read once
    // the reading session is back).
    let refusals: Vec<String> = [n_answer, next_answer]
        .into_iter()
        .map(|answer| match answer.recv().unwrap() {
            Err(Error::Io(message)) => message,
            other => panic!("a batch decided over a failed one must be refused with an I/O error: {other:?}"),
        })
        .collect();
    wait_until("the ledger reads again", || ledger.head().is_ok());
    assert_eq!(ledger.head().unwrap(), head, "nothing of N or N+1 was recorded");
    for command in n.iter().chain(&next) {
        assert_eq!(ledger.answered(command.id).unwrap(), None, "{} was recorded", command.id);
    }
    // And a retry of both, with the same ids, records each command once.
    let retry = |batch: &[Command]| {
        for _attempt in 0..10 {
            match ledger.submit_batch(batch.to_vec()) {
                Ok(receipts) => return receipts,
                // The database seen unreachable once more while the writer reloads.
                Err(Error::Io(message)) if message.contains("retry with the same ids") => {}
                Err(other) => panic!("the retry failed: {other:?}"),
            }
        }
        panic!("the retry was refused 10 times");
    };
    let (first, second) = (retry(&n), retry(&next));
    // N: 50 transfers and 6 commands with the ids of a batch never submitted, all new, and 1
    // retry of its own; N+1: 50 new transfers, 5 retries and 1 conflicting reuse of N's ids and
    // 1 retry of its own.
    let fresh = |receipts: &[Receipt]| receipts.iter().filter(|r| !r.duplicate).count();
    assert_eq!((fresh(&first), first.len() - fresh(&first)), (56, 1), "N: every new command recorded once");
    assert_eq!((fresh(&second), second.len() - fresh(&second)), (50, 7), "N+1: every retry answered from N");
    let new_events = ledger.head().unwrap().seq - head.seq;
    assert_eq!(new_events, 106, "each new command of N and N+1 recorded once, nothing else");
    // Once more: every answer is the first one.
    let again: Vec<u64> = ledger.submit_batch(n.clone()).unwrap().iter().map(|r| r.seq).collect();
    assert_eq!(again, first.iter().map(|r| r.seq).collect::<Vec<_>>(), "a second retry is answered from the first");
    ledger.close().unwrap();
    let reopened = Ledger::open(&url, options()).unwrap();
    let head = reopened.head().unwrap();
    assert_eq!(reopened.verify(1, Some(head)).unwrap().events_checked, head.seq);
    assert!(reopened.replay().unwrap().mismatches.is_empty());
    println!("N refused: {}\nN+1 refused: {}\nretried: {new_events} events recorded once", refusals[0], refusals[1]);
}
