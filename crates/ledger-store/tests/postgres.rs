//! The ledger on PostgreSQL (docs/CLUSTER.md), against a real server each test starts on
//! loopback (initdb in a temporary directory, stopped when the test ends): the same commands give
//! the same chain, byte for byte, as on RocksDB; the ledger reopens, verifies, replays, rebuilds
//! its read models and answers queries and reports; a second writer fences the first off, whose
//! next batch is rolled back and which then steps down; `create` refuses a database that holds a
//! ledger; an embedded ledger migrates into PostgreSQL (and back) with the same head.

#![expect(clippy::unwrap_used, reason = "a failing step should stop the test where it fails")]

mod support;

use std::path::Path;
use std::sync::Arc;

use ledger_core::{AccountId, Amount, Command, CommandBody, CommandId, CustomerId, Policy, ReportRules, Timestamp};
use ledger_store::{Error, FakeClock, Ledger, LedgerOptions, Reader};
use support::PgServer;

fn at(text: &str) -> Timestamp {
    format!("{text}+08:00").parse().unwrap()
}

fn options() -> LedgerOptions {
    let clock = Arc::new(FakeClock::new(at("2026-03-03T00:00:00")));
    LedgerOptions { clock, max_ahead_of_clock: None, ..LedgerOptions::default() }
}

/// A policy, 20 accounts with deposits, then `transfers` transfers (some rejected), in batches.
fn commands(transfers: u64) -> Vec<Vec<Command>> {
    let mut id = 0u128;
    let mut command = |time: &str, body| {
        id += 1;
        Command { id: CommandId(uuid::Uuid::from_u128(id)), at: at(time), body, stamped: false }
    };
    let policy = Box::new(Policy::preset("pboc-2018").unwrap());
    let mut setup = vec![command(
        "2026-03-02T08:00:00",
        CommandBody::ChangePolicy { effective_from: Timestamp::UNIX_EPOCH, policy },
    )];
    for a in 1..=20 {
        setup.push(command("2026-03-02T08:00:00", CommandBody::open_class_i(AccountId(a), CustomerId(a))));
    }
    for a in 1..=20 {
        let amount = Amount::from_yuan(1_000 * a).unwrap();
        setup.push(command("2026-03-02T08:01:00", CommandBody::CashDeposit { account: AccountId(a), amount }));
    }
    let mut batches = vec![setup];
    let mut batch = Vec::new();
    for n in 0..transfers {
        let (from, to) = (AccountId(n % 20 + 1), AccountId((n * 7 + 3) % 20 + 1));
        let amount = Amount::from_yuan(n % 900 + 1).unwrap();
        let body = if from == to {
            CommandBody::CashDeposit { account: from, amount }
        } else {
            CommandBody::InternalTransfer { from, to, amount }
        };
        batch.push(command("2026-03-02T09:00:00", body));
        if batch.len() == 97 {
            batches.push(std::mem::take(&mut batch));
        }
    }
    batches.push(batch);
    batches
}

fn run(db: &Path, batches: &[Vec<Command>]) -> String {
    let ledger = Ledger::create(db, options()).unwrap();
    for batch in batches {
        ledger.submit_batch(batch.clone()).unwrap();
    }
    let head = ledger.head().unwrap().to_text();
    ledger.close().unwrap();
    head
}

#[test]
fn the_same_commands_give_the_same_chain_and_the_ledger_reopens_verifies_and_replays() {
    let server = PgServer::start();
    let url = server.create_database("same_chain");
    let batches = commands(1_500);
    let dir = tempfile::tempdir().unwrap();
    let rocks_head = run(&dir.path().join("rocks"), &batches);
    let pg_head = run(Path::new(&url), &batches);
    assert_eq!(pg_head, rocks_head, "byte-identical chains");

    let ledger = Ledger::open(Path::new(&url), options()).unwrap();
    assert_eq!(ledger.head().unwrap().to_text(), pg_head);
    let verified = ledger.verify(1, None).unwrap();
    assert_eq!(verified.head.to_text(), pg_head);
    assert!(ledger.replay().unwrap().mismatches.is_empty());
    // A retry is answered from the log; a new command continues the chain.
    let retry = ledger.submit(batches[1][0].clone()).unwrap();
    assert!(retry.duplicate);
    let rocks = Reader::open(dir.path().join("rocks"), options().clock).unwrap();
    for account in [1, 7, 20] {
        let account = AccountId(account);
        assert_eq!(ledger.balance(account).unwrap(), rocks.balance(account).unwrap());
        let page = ledger.history(account, None, None, None, 50).unwrap();
        assert_eq!(page, rocks.history(account, None, None, None, 50).unwrap());
    }
    assert_eq!(ledger.customer_accounts(CustomerId(3)).unwrap(), rocks.customer_accounts(CustomerId(3)).unwrap());
    let day = at("2026-03-02T12:00:00").beijing_day();
    let rules = ReportRules::preset("pboc-2016-3").unwrap();
    let pg_reports = ledger.reports(rules.clone(), day, day, &mut |_| {}).unwrap();
    assert_eq!(pg_reports, rocks.reports(rules, day, day, &mut |_| {}).unwrap());
    let size = ledger.head().unwrap().seq;
    assert_eq!(ledger.merkle_root(size).unwrap(), rocks.merkle_root(size).unwrap());
    ledger.close().unwrap();

    // Read models rebuilt from the log are the same.
    let report = Ledger::rebuild_read_models(Path::new(&url), &mut |_| {}).unwrap();
    assert!(report.mismatches.is_empty(), "{:?}", report.mismatches);
    let reader = Reader::open(Path::new(&url), options().clock).unwrap();
    assert_eq!(reader.balance(AccountId(7)).unwrap(), rocks.balance(AccountId(7)).unwrap());
    assert!(matches!(reader.backup(dir.path().join("copy")), Err(Error::InvalidArgument(_))));
}

#[test]
fn a_second_writer_fences_the_first_which_records_nothing_more_and_steps_down() {
    let server = PgServer::start();
    let url = server.create_database("fencing");
    let batches = commands(200);
    let first = Ledger::create(Path::new(&url), options()).unwrap();
    for batch in &batches[..2] {
        first.submit_batch(batch.clone()).unwrap();
    }
    let taken_over_at = first.head().unwrap();

    // A second writer takes the ledger (as after a lease expired while the first was paused),
    // ending the first's session: the first's next batch fails on the lost connection, and once
    // reconnected it is refused by the epoch.
    let second = Ledger::open(Path::new(&url), options()).unwrap();
    let mut fenced = first.submit_batch(batches[2].clone());
    if matches!(fenced, Err(Error::Io(_))) {
        fenced = first.submit_batch(batches[2].clone());
    }
    assert!(matches!(fenced, Err(Error::Fenced(_))), "{fenced:?}");
    let after = first.submit_batch(batches[3].clone());
    assert!(matches!(after, Err(Error::Stopped(_))), "the fenced writer stepped down: {after:?}");
    assert_eq!(second.head().unwrap(), taken_over_at, "nothing of the fenced batch was recorded");

    // The second writer goes on from where the chain is; the first's commands are retried there.
    for batch in &batches[2..] {
        second.submit_batch(batch.clone()).unwrap();
    }
    assert!(second.replay().unwrap().mismatches.is_empty());
    second.verify(1, None).unwrap();
    second.close().unwrap();
    drop(first);
    let dir = tempfile::tempdir().unwrap();
    let rocks_head = run(&dir.path().join("rocks"), &batches);
    let reader = Reader::open(Path::new(&url), options().clock).unwrap();
    assert_eq!(reader.head().unwrap().to_text(), rocks_head, "the chain is the one a single writer makes");
}

/// `meta/projected` as stored (table 4, key `projected`: docs/FORMAT.md), if any.
fn stored_projected(client: &mut postgres::Client) -> Option<u64> {
    let row = client.query_opt("SELECT value FROM ledger_kv WHERE tbl = 4 AND key = 'projected'::bytea", &[]).unwrap();
    row.map(|row| u64::from_be_bytes(row.get::<_, Vec<u8>>(0).try_into().unwrap()))
}

/// Polls `done` every 10 ms for up to a minute (a loaded machine is slow, never this slow).
fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let started = std::time::Instant::now();
    while !done() {
        assert!(started.elapsed() < std::time::Duration::from_secs(60), "waited a minute for {what}");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

#[test]
fn a_writer_taking_over_while_the_earlier_projector_commits_opens_the_state_at_the_head() {
    // The earlier writer's projector is not fenced by the epoch: ended by the takeover, it
    // reconnects and commits the projection it was writing. Here it commits in the middle of
    // the new writer's open, deterministically: held first by a lock on `meta/projected`, then
    // let go while the open waits on a lock on the log (taken after it read the mark). The open
    // must read the mark and the rows at one moment, or it applies the log's tail to rows that
    // already hold it (the tail's transfers counted twice, or "account … opened twice").
    let server = PgServer::start();
    let url = server.create_database("takeover_race");
    let batches = commands(200);
    let first = Ledger::create(Path::new(&url), options()).unwrap();
    first.submit_batch(batches[0].clone()).unwrap();
    let mut watch = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let setup_head = first.head().unwrap().seq;
    wait_until("the setup's projection", || stored_projected(&mut watch) == Some(setup_head));

    // The first writer's projector is held (the mark locked), so the next batches are the tail.
    let mut mark = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let mut mark_lock = mark.transaction().unwrap();
    mark_lock.query("SELECT value FROM ledger_kv WHERE tbl = 4 AND key = 'projected'::bytea FOR UPDATE", &[]).unwrap();
    let opened = vec![Command {
        id: CommandId(uuid::Uuid::from_u128(u128::MAX)),
        at: at("2026-03-02T08:30:00"),
        body: CommandBody::open_class_i(AccountId(21), CustomerId(21)),
        stamped: false,
    }];
    let tail = [opened, batches[1].clone(), batches[2].clone()];
    for batch in &tail {
        first.submit_batch(batch.clone()).unwrap();
    }
    let head = first.head().unwrap();
    let mut log = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let mut log_lock = log.transaction().unwrap();
    log_lock.batch_execute("LOCK TABLE ledger_log IN ACCESS EXCLUSIVE MODE").unwrap();

    // The second writer takes over (ending the first's sessions) and waits on the log.
    let opening = {
        let url = url.clone();
        std::thread::spawn(move || Ledger::open(Path::new(&url), options()))
    };
    let waiting_on_log = "SELECT count(*) FROM pg_locks WHERE relation = 'ledger_log'::regclass AND NOT granted";
    wait_until("the open to wait on the log", || watch.query_one(waiting_on_log, &[]).unwrap().get::<_, i64>(0) > 0);
    // The first's projector, ended, reconnects and commits once the mark is free.
    mark_lock.commit().unwrap();
    wait_until("the first projector's commit", || stored_projected(&mut watch) == Some(head.seq));
    log_lock.commit().unwrap();
    let second = opening.join().unwrap().unwrap();

    assert_eq!(second.head().unwrap(), head);
    let dir = tempfile::tempdir().unwrap();
    let rocks = dir.path().join("rocks");
    run(&rocks, &[&batches[..1], &tail[..]].concat());
    let rocks = Reader::open(&rocks, options().clock).unwrap();
    for account in (1..=21).map(AccountId) {
        assert_eq!(second.balance(account).unwrap(), rocks.balance(account).unwrap(), "{account:?}");
    }
    for batch in &batches[3..] {
        second.submit_batch(batch.clone()).unwrap();
    }
    assert!(second.replay().unwrap().mismatches.is_empty());
    second.close().unwrap();
    drop(first);
}

#[test]
fn create_refuses_a_database_that_holds_a_ledger_and_open_refuses_one_without() {
    let server = PgServer::start();
    let url = server.create_database("refusals");
    let empty = server.create_database("empty");
    assert!(matches!(Ledger::open(Path::new(&empty), options()), Err(Error::NotALedger(_))));
    assert!(matches!(Reader::open(Path::new(&empty), options().clock), Err(Error::NotALedger(_))));
    let ledger = Ledger::create(Path::new(&url), options()).unwrap();
    ledger.close().unwrap();
    let again = Ledger::create(Path::new(&url), options());
    assert!(matches!(again, Err(Error::NotALedger(ref text)) if text.contains("already holds a ledger")), "{again:?}");
    let unreachable = format!("postgres://ledger@127.0.0.1:{}/nothing", server.free_port());
    assert!(matches!(Ledger::open(Path::new(&unreachable), options()), Err(Error::NotALedger(_))));
}

#[test]
fn an_embedded_ledger_migrates_into_postgresql_with_the_same_head_and_read_models() {
    let server = PgServer::start();
    let url = server.create_database("migrated");
    let dir = tempfile::tempdir().unwrap();
    let rocks = dir.path().join("rocks");
    // 20,000 transfers: more than one copy batch (8,192 records).
    let head = run(&rocks, &commands(20_000));
    let report = Ledger::migrate(&rocks, Path::new(&url), &mut |_, _| {}).unwrap();
    assert_eq!(report.head.to_text(), head);
    assert_eq!(report.records, report.head.seq);
    assert_eq!(report.events_verified, report.head.seq);
    assert!(report.replay.mismatches.is_empty());

    // The copy is a ledger in its own right: the same head, balances, history, Merkle root;
    // it opens for writing and goes on.
    let (source, copy) = (Reader::open(&rocks, options().clock).unwrap(), Reader::open(&url, options().clock).unwrap());
    assert_eq!(copy.head().unwrap().to_text(), head);
    for a in 1..=20 {
        assert_eq!(copy.balance(AccountId(a)).unwrap(), source.balance(AccountId(a)).unwrap());
        assert_eq!(
            copy.history(AccountId(a), None, None, None, 1_000).unwrap(),
            source.history(AccountId(a), None, None, None, 1_000).unwrap()
        );
    }
    let size = report.head.seq;
    assert_eq!(copy.merkle_root(size).unwrap(), source.merkle_root(size).unwrap());
    assert_eq!(copy.origin().unwrap(), source.origin().unwrap(), "the same ledger: its checkpoints' origin");
    let ledger = Ledger::open(Path::new(&url), options()).unwrap();
    let next = Command {
        id: CommandId(uuid::Uuid::from_u128(u128::MAX)),
        at: at("2026-03-02T10:00:00"),
        body: CommandBody::CashDeposit { account: AccountId(1), amount: Amount::from_yuan(1).unwrap() },
        stamped: false,
    };
    assert!(ledger.submit(next).unwrap().is_accepted());
    ledger.close().unwrap();

    // Neither a database that holds a ledger nor an existing directory is overwritten.
    assert!(matches!(Ledger::migrate(&rocks, Path::new(&url), &mut |_, _| {}), Err(Error::NotALedger(_))));
    assert!(matches!(Ledger::migrate(Path::new(&url), &rocks, &mut |_, _| {}), Err(Error::NotALedger(_))));
    // Back the other way: PostgreSQL to a new directory, the same head.
    let back = dir.path().join("back");
    let returned = Ledger::migrate(Path::new(&url), &back, &mut |_, _| {}).unwrap();
    assert_eq!(returned.head.seq, report.head.seq + 1);
    assert!(returned.replay.mismatches.is_empty());
}

const PROJECTOR_CHILD_ENV: &str = "LEDGER_PG_PROJECTOR_CHILD";
const PROJECTOR_TEST: &str = "a_kill_between_the_commit_and_the_projection_loses_nothing_and_readers_see_the_watermark";

/// The child: opens the ledger, says so, waits for the word, then submits batches 1..=3,
/// printing each acknowledged head, and waits to be killed.
fn projector_child(url: &str) -> ! {
    let batches = commands(300);
    let ledger = Ledger::open(Path::new(url), options()).unwrap();
    println!("OPEN");
    let mut go = String::new();
    std::io::stdin().read_line(&mut go).unwrap();
    for batch in &batches[1..=3] {
        ledger.submit_batch(batch.clone()).unwrap();
        println!("ACK {}", ledger.head().unwrap().seq);
    }
    std::thread::sleep(std::time::Duration::from_secs(600));
    std::process::exit(0)
}

#[test]
fn a_kill_between_the_commit_and_the_projection_loses_nothing_and_readers_see_the_watermark() {
    use std::io::{BufRead, Write};
    if let Ok(url) = std::env::var(PROJECTOR_CHILD_ENV) {
        projector_child(&url);
    }
    let server = PgServer::start();
    let url = server.create_database("projector");
    let batches = commands(300);
    let ledger = Ledger::create(Path::new(&url), options()).unwrap();
    ledger.submit_batch(batches[0].clone()).unwrap();
    let watermark = ledger.head().unwrap().seq;
    ledger.close().unwrap();

    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([PROJECTOR_TEST, "--exact", "--nocapture", "--test-threads=1"])
        .env(PROJECTOR_CHILD_ENV, &url)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (lines_tx, lines) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let _ = lines_tx.send(line);
        }
    });
    // (The harness may print the test's name on the same line first.)
    let wait_for = |word: &str| loop {
        let line = lines.recv_timeout(std::time::Duration::from_secs(120)).unwrap();
        if let Some(at) = line.find(word) {
            break line[at + word.len()..].trim().to_owned();
        }
    };
    wait_for("OPEN");
    // Given the projector held up (its first statement locks meta/projected: another session
    // holds that lock), the writer still commits and acknowledges every batch.
    let mut blocker = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let mut hold = blocker.transaction().unwrap();
    hold.query("SELECT value FROM ledger_kv WHERE tbl = 4 AND key = 'projected'::bytea FOR UPDATE", &[]).unwrap();
    writeln!(child.stdin.as_mut().unwrap(), "go").unwrap();
    let acked: Vec<u64> = (0..3).map(|_| wait_for("ACK ").parse().unwrap()).collect();
    let head = *acked.last().unwrap();
    assert!(head > watermark);

    // A reader in another process sees the log to the head and the read models at the
    // watermark, and replay compares them there.
    let reader = Reader::open(Path::new(&url), options().clock).unwrap();
    assert_eq!(reader.head().unwrap().seq, head);
    let dir = tempfile::tempdir().unwrap();
    let at_watermark = dir.path().join("at-watermark");
    run(&at_watermark, &batches[..1]);
    let at_watermark = Reader::open(&at_watermark, options().clock).unwrap();
    for account in [1, 7, 20] {
        let account = AccountId(account);
        assert_eq!(reader.balance(account).unwrap(), at_watermark.balance(account).unwrap(), "{account:?}");
    }
    let replay = reader.replay().unwrap();
    assert!(replay.mismatches.is_empty(), "{:?}", replay.mismatches);

    // When the writer is killed before anything was projected, the next writer's open projects
    // what was acknowledged: nothing is lost.
    child.kill().unwrap();
    child.wait().unwrap();
    hold.rollback().unwrap();
    let ledger = Ledger::open(Path::new(&url), options()).unwrap();
    assert_eq!(ledger.head().unwrap().seq, head);
    assert!(ledger.replay().unwrap().mismatches.is_empty());
    let all = dir.path().join("all");
    run(&all, &batches[..=3]);
    let all = Reader::open(&all, options().clock).unwrap();
    for account in [1, 7, 20] {
        let account = AccountId(account);
        assert_eq!(ledger.balance(account).unwrap(), all.balance(account).unwrap(), "{account:?}");
        let page = ledger.history(account, None, None, None, 500).unwrap();
        assert_eq!(page, all.history(account, None, None, None, 500).unwrap());
    }
    ledger.close().unwrap();
}
