//! The engine on real RocksDB files: round trips through close and reopen, replay, snapshots,
//! idempotency across restarts, read models, corruption detection and backups.

#![expect(clippy::unwrap_used, reason = "a failing step should stop the test where it fails")]

mod support;

use std::sync::Arc;
use support::on_both_backends;

use ledger_core::{
    AccountClass, AccountId, Amount, Binding, Command, CommandBody, CommandId, CustomerId, Policy, Timestamp,
};
use ledger_store::{Error, FakeClock, Head, Ledger, LedgerOptions, Reader};
use uuid::Uuid;

fn at(text: &str) -> Timestamp {
    format!("{}+08:00", text.replace(' ', "T")).parse().unwrap()
}

fn cny(text: &str) -> Amount {
    text.parse().unwrap()
}

/// These tests date their commands by hand across the day, ahead of the fake clock: the
/// admission bound on future times is tested in tests/operator_safety.rs.
fn options(clock: &Arc<FakeClock>) -> LedgerOptions {
    LedgerOptions { clock: clock.clone(), max_ahead_of_clock: None, ..LedgerOptions::default() }
}

fn cmd(id: u128, time: &str, body: CommandBody) -> Command {
    Command { id: CommandId(Uuid::from_u128(id)), at: at(time), body, stamped: false }
}

fn policy(id: u128, name: &str) -> Command {
    let body = CommandBody::ChangePolicy {
        effective_from: Timestamp::UNIX_EPOCH,
        policy: Box::new(Policy::preset(name).unwrap()),
    };
    Command { id: CommandId(Uuid::from_u128(id)), at: Timestamp::UNIX_EPOCH, body, stamped: false }
}

fn open(account: u64, customer: u64, class: AccountClass, bound: Option<u64>) -> CommandBody {
    CommandBody::OpenAccount {
        account: AccountId(account),
        customer: CustomerId(customer),
        class,
        binding: bound.map(|b| Binding::Account(AccountId(b))),
        verified_in_person: true,
        with_card: false,
    }
}

/// Customer `c` gets Class I `c*10` with 100,000 and Class II `c*10+1` with 20,000.
fn customer_setup(c: u64, base_id: u128, time: &str) -> Vec<Command> {
    vec![
        cmd(base_id, time, open(c * 10, c, AccountClass::I, None)),
        cmd(base_id + 1, time, CommandBody::CashDeposit { account: AccountId(c * 10), amount: cny("100000") }),
        cmd(base_id + 2, time, open(c * 10 + 1, c, AccountClass::II, Some(c * 10))),
        cmd(
            base_id + 3,
            time,
            CommandBody::InternalTransfer { from: AccountId(c * 10), to: AccountId(c * 10 + 1), amount: cny("20000") },
        ),
    ]
}

/// A new ledger in a temporary directory with the default policy and `customers` customers set
/// up (four commands each, in one batch per customer, at 09:00 on 2026-03-02).
fn ledger_with_customers(customers: u64) -> (tempfile::TempDir, Arc<FakeClock>, Ledger) {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(FakeClock::new(at("2026-03-02 09:00:00")));
    let ledger = Ledger::create(dir.path(), options(&clock)).unwrap();
    ledger.submit(policy(1, "default")).unwrap();
    for c in 1..=customers {
        ledger.submit_batch(customer_setup(c, u128::from(c) * 100, "2026-03-02 09:00:00")).unwrap();
    }
    (dir, clock, ledger)
}

on_both_backends! {
fn many_threads_round_trip_through_close_and_reopen(db) {
    let clock = Arc::new(FakeClock::new(at("2026-03-02 09:00:00")));
    let ledger = Ledger::create(db, options(&clock)).unwrap();
    assert!(ledger.submit(policy(1, "default")).unwrap().is_accepted());
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let ledger = ledger.clone();
            std::thread::spawn(move || {
                let mut accepted = 0;
                let mut rejected = 0;
                for c in (t * 25 + 1)..=(t * 25 + 25) {
                    let base = u128::from(c) * 1_000;
                    // One business time for all threads: interleaving must not backdate anything.
                    for receipt in ledger.submit_batch(customer_setup(c, base, "2026-03-02 10:00:00")).unwrap() {
                        assert!(receipt.is_accepted(), "{receipt:?}");
                    }
                    // Payments one by one until the daily cap rejects one.
                    for n in 0..5 {
                        let pay = CommandBody::Payment {
                            from: AccountId(c * 10 + 1),
                            merchant: "Shop".into(),
                            amount: cny("3000"),
                        };
                        let receipt = ledger.submit(cmd(base + 10 + n, "2026-03-02 10:00:00", pay)).unwrap();
                        if receipt.is_accepted() { accepted += 1 } else { rejected += 1 }
                    }
                }
                (accepted, rejected)
            })
        })
        .collect();
    let (mut accepted, mut rejected) = (0, 0);
    for thread in threads {
        let (a, r) = thread.join().unwrap();
        accepted += a;
        rejected += r;
    }
    // 3 x 3,000 fit in 10,000 a day; the 4th and 5th are rejected, for each of 100 customers.
    assert_eq!((accepted, rejected), (300, 200));
    let head = ledger.head().unwrap();
    assert_eq!(head.seq, 1 + 100 * 4 + 100 * 5);
    let live = ledger.live_state().unwrap();
    assert_eq!(ledger.replayed_state().unwrap(), live, "replay from genesis equals the live state");
    assert!(ledger.replay().unwrap().mismatches.is_empty(), "read models equal a replay");
    ledger.close().unwrap();

    let reopened = Ledger::open(db, options(&clock)).unwrap();
    assert_eq!(reopened.head().unwrap(), head);
    assert_eq!(reopened.live_state().unwrap(), live, "snapshot-based state equals the state before close");
    assert_eq!(reopened.balance(AccountId(11)).unwrap(), Some(cny("11000")));
    let report = reopened.verify(1, Some(head)).unwrap();
    assert_eq!((report.events_checked, report.head), (head.seq, head));
}
}

on_both_backends! {
fn retried_ids_get_the_same_receipt_across_a_restart(db) {
    let clock = Arc::new(FakeClock::new(at("2026-03-02 09:00:00")));
    let ledger = Ledger::create(db, options(&clock)).unwrap();
    ledger.submit(policy(1, "default")).unwrap();
    ledger.submit_batch(customer_setup(1, 100, "2026-03-02 09:00:00")).unwrap();
    let pay = |amount: &str| CommandBody::Payment { from: AccountId(11), merchant: "Shop".into(), amount: cny(amount) };
    let accepted = ledger.submit(cmd(200, "2026-03-02 23:00:00", pay("100"))).unwrap();
    let rejected = ledger.submit(cmd(201, "2026-03-02 23:00:00", pay("10000.01"))).unwrap();
    assert!(accepted.is_accepted());
    assert_eq!(rejected.rejection().map(|r| r.code()), Some("LIMIT_EXCEEDED"));
    // Within one batch too: the second copy is answered from the batch itself.
    let twice = ledger
        .submit_batch(vec![cmd(202, "2026-03-02 23:01:00", pay("1")), cmd(202, "2026-03-02 23:01:00", pay("1"))])
        .unwrap();
    assert!(!twice[0].duplicate && twice[1].duplicate && twice[0].seq == twice[1].seq);
    drop(ledger);

    let ledger = Ledger::open(db, options(&clock)).unwrap();
    let head = ledger.head().unwrap();
    // The next Beijing day: the rejected payment would now fit, but the answer stays.
    let again_ok = ledger.submit(cmd(200, "2026-03-03 09:00:00", pay("100"))).unwrap();
    let again_rejected = ledger.submit(cmd(201, "2026-03-03 09:00:00", pay("10000.01"))).unwrap();
    assert_eq!((again_ok.seq, &again_ok.event, again_ok.duplicate), (accepted.seq, &accepted.event, true));
    assert_eq!(
        (again_rejected.seq, &again_rejected.event, again_rejected.duplicate),
        (rejected.seq, &rejected.event, true)
    );
    assert_eq!(ledger.head().unwrap(), head, "retries append nothing");
    assert!(!again_ok.conflict && !again_rejected.conflict);

    // The same id with a different request is a conflict: nothing happens, the first answer shows.
    let reused = ledger.submit(cmd(200, "2026-03-03 09:00:00", pay("999"))).unwrap();
    assert!(reused.conflict && reused.duplicate && !reused.is_accepted());
    assert_eq!((reused.seq, &reused.event), (accepted.seq, &accepted.event));
    assert_eq!(ledger.head().unwrap(), head);
    assert_eq!(ledger.balance(AccountId(11)).unwrap(), Some(cny("19899")));
}
}

on_both_backends! {
fn read_models_answer_balance_usage_accounts_and_history(db) {
    let clock = Arc::new(FakeClock::new(at("2026-03-02 12:00:00")));
    let ledger = Ledger::create(db, options(&clock)).unwrap();
    ledger.submit(policy(1, "pboc-2018")).unwrap();
    ledger.submit_batch(customer_setup(7, 100, "2026-03-02 09:00:00")).unwrap();
    let pay = |id: u128, time: &str, amount: &str| {
        cmd(id, time, CommandBody::Payment { from: AccountId(71), merchant: "Shop".into(), amount: cny(amount) })
    };
    ledger
        .submit_batch(vec![pay(200, "2026-03-02 10:00:00", "2500.50"), pay(201, "2026-03-02 11:00:00", "1000")])
        .unwrap();

    assert_eq!(ledger.balance(AccountId(71)).unwrap(), Some(cny("16499.50")));
    assert_eq!(ledger.balance(AccountId(99)).unwrap(), None);
    let usage = ledger.usage(AccountId(71)).unwrap().unwrap();
    let out = usage.buckets.iter().find(|b| b.bucket == "out").unwrap();
    assert_eq!(
        (out.day_used, out.day_remaining, out.year_used),
        (cny("3500.50"), Some(cny("6499.50")), cny("3500.50"))
    );
    clock.set(at("2026-03-03 00:00:00"));
    let next_day = ledger.usage(AccountId(71)).unwrap().unwrap();
    let out = next_day.buckets.iter().find(|b| b.bucket == "out").unwrap();
    assert_eq!((out.day_used, out.day_remaining, out.year_used), (Amount::ZERO, Some(cny("10000")), cny("3500.50")));

    let accounts: Vec<u64> = ledger.customer_accounts(CustomerId(7)).unwrap().iter().map(|a| a.id.0).collect();
    assert_eq!(accounts, vec![70, 71]);
    assert!(ledger.customer_accounts(CustomerId(8)).unwrap().is_empty());

    // Account 71: opened, funded, two payments = 4 events; pages of 3.
    let page = ledger.history(AccountId(71), None, None, None, 3).unwrap();
    assert_eq!(page.entries.len(), 3);
    let rest = ledger.history(AccountId(71), None, None, page.next_after_seq, 3).unwrap();
    assert_eq!((rest.entries.len(), rest.next_after_seq), (1, None));
    let morning = ledger
        .history(AccountId(71), Some(at("2026-03-02 09:30:00")), Some(at("2026-03-02 10:30:00")), None, 10)
        .unwrap();
    assert_eq!(morning.entries.len(), 1);
    assert!(matches!(ledger.history(AccountId(71), None, None, None, 0), Err(Error::InvalidArgument(_))));
}
}

#[test]
fn the_opened_state_and_replay_agree_and_no_snapshot_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(FakeClock::new(at("2026-03-02 09:00:00")));
    let ledger = Ledger::create(dir.path(), options(&clock)).unwrap();
    ledger.submit(policy(1, "default")).unwrap();
    for c in 1..=10u64 {
        for command in customer_setup(c, u128::from(c) * 100, "2026-03-02 09:00:00") {
            ledger.submit(command).unwrap();
        }
    }
    let live = ledger.live_state().unwrap();
    drop(ledger);
    let ledger = Ledger::open(dir.path(), options(&clock)).unwrap();
    assert_eq!(ledger.live_state().unwrap(), live);
    assert_eq!(ledger.replayed_state().unwrap(), live);
    assert_eq!(ledger.snapshot_state().unwrap(), live);
    drop(ledger);
    let db = raw_db(dir.path());
    assert!(db.get_cf(db.cf_handle("meta").unwrap(), b"snapshot").unwrap().is_none(), "layout 4 keeps no snapshot");
}

#[test]
fn every_answered_id_is_a_key_of_its_own_and_replay_catches_a_missing_or_wrong_one() {
    // Given 41 events, one command per batch...
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(FakeClock::new(at("2026-03-02 09:00:00")));
    let frequent = options(&clock);
    let ledger = Ledger::create(dir.path(), frequent.clone()).unwrap();
    let first = ledger.submit(policy(1, "default")).unwrap();
    for c in 1..=10u64 {
        for command in customer_setup(c, u128::from(c) * 100, "2026-03-02 09:00:00") {
            ledger.submit(command).unwrap();
        }
    }
    ledger.close().unwrap();
    // ...each command's id is a key of its own in `answered` holding its first event's seq; no
    // answer chunks, and no ids in `meta`.
    let db = raw_db(dir.path());
    let answered: Vec<u64> = raw_entries(&db, "answered")
        .iter()
        .map(|(key, value)| {
            assert_eq!(key.len(), 16, "a key is the command id");
            u64::from_be_bytes((**value).try_into().unwrap())
        })
        .collect();
    let mut seqs = answered.clone();
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=41).collect::<Vec<u64>>());
    let meta = raw_entries(&db, "meta");
    assert!(!meta.iter().any(|(key, _)| key.starts_with(b"answer")), "no answer chunks or ids in meta");
    drop(db);
    // A retry of the first command is answered from the table after a reopen.
    let ledger = Ledger::open(dir.path(), frequent.clone()).unwrap();
    let again = ledger.submit(policy(1, "default")).unwrap();
    assert!(again.duplicate && again.seq == first.seq);
    assert_eq!(ledger.head().unwrap().seq, 41);
    assert!(ledger.replay().unwrap().mismatches.is_empty());
    ledger.close().unwrap();
    // When a key is gone, or names a later event than the first, replay says so.
    let first_key = CommandId(Uuid::from_u128(1)).0.as_bytes().to_vec();
    let damage: [(&str, Option<u64>); 2] = [("missing", None), ("a later event", Some(9))];
    for (what, value) in damage {
        {
            let db = raw_db(dir.path());
            let answered = db.cf_handle("answered").unwrap();
            match value {
                None => db.delete_cf(answered, &first_key).unwrap(),
                Some(seq) => db.put_cf(answered, &first_key, seq.to_be_bytes()).unwrap(),
            }
        }
        let reader = Reader::open(dir.path(), clock.clone()).unwrap();
        let mismatches = reader.replay().unwrap().mismatches;
        assert!(mismatches.iter().any(|m| m.field.starts_with("answered")), "{what}: {mismatches:?}");
    }
}

/// The log's database of a closed ledger.
fn raw_db(path: &std::path::Path) -> rocksdb::DB {
    let cfs = ["log", "accounts", "customers", "history", "meta", "answered"];
    rocksdb::DB::open_cf(&rocksdb::Options::default(), path, cfs).unwrap()
}

/// The projected keys' database of a closed ledger (layout 5): `accounts`, `customers`,
/// `history` and `meta/projected`.
fn raw_projected(path: &std::path::Path) -> rocksdb::DB {
    let cfs = ["accounts", "customers", "history", "meta"];
    rocksdb::DB::open_cf(&rocksdb::Options::default(), path.join("projected"), cfs).unwrap()
}

/// Puts a closed ledger's projected keys back into its log's database and removes
/// `projected/`: one database, as every layout before 5 kept them.
fn to_one_database(path: &std::path::Path) {
    {
        let (db, projected) = (raw_db(path), raw_projected(path));
        for cf in ["accounts", "customers", "history", "meta"] {
            for (key, value) in raw_entries(&projected, cf) {
                db.put_cf(db.cf_handle(cf).unwrap(), key, value).unwrap();
            }
        }
    }
    std::fs::remove_dir_all(path.join("projected")).unwrap();
}

#[test]
fn a_flipped_byte_in_a_record_is_reported_at_its_sequence() {
    let (dir, clock, ledger) = ledger_with_customers(2);
    let head = ledger.head().unwrap();
    assert_eq!(head.seq, 9);
    drop(ledger);
    // Positions across the record: version, prev hash, own hash, event body (first and last).
    for (seq, position) in [(3u64, 0usize), (4, 5), (5, 40), (6, 70), (7, usize::MAX)] {
        let copy = tempfile::tempdir().unwrap();
        copy_dir(dir.path(), copy.path());
        {
            let db = raw_db(copy.path());
            let log = db.cf_handle("log").unwrap();
            let mut record = db.get_cf(log, seq.to_be_bytes()).unwrap().unwrap();
            let index = position.min(record.len() - 1);
            record[index] ^= 0x80;
            db.put_cf(log, seq.to_be_bytes(), record).unwrap();
        }
        // A writer's open refuses it: the Merkle tree's right edge is rebuilt from the last
        // records (here 1 to 8), and the damaged one is named.
        match Ledger::open(copy.path(), options(&clock)) {
            Err(Error::Corruption { seq: found, .. }) => assert_eq!(found, seq, "open, byte {position}"),
            other => panic!("a writer opened over a damaged record {seq}: {other:?}"),
        }
        // A reader opens (it trusts the snapshot taken at close, seq 9); verify walks it all.
        let ledger = Reader::open(copy.path(), clock.clone()).unwrap();
        match ledger.verify(1, None) {
            Err(Error::Corruption { seq: found, .. }) => assert_eq!(found, seq, "byte {position}"),
            other => panic!("flip at seq {seq} byte {position} not caught: {other:?}"),
        }
        match ledger.event(seq) {
            Err(Error::Corruption { seq: found, .. }) => assert_eq!(found, seq),
            other => panic!("reading seq {seq} must fail: {other:?}"),
        }
    }
    // A flipped byte in a record's key: the record is gone from its place in the sequence.
    let copy = tempfile::tempdir().unwrap();
    copy_dir(dir.path(), copy.path());
    {
        let db = raw_db(copy.path());
        let log = db.cf_handle("log").unwrap();
        let record = db.get_cf(log, 4u64.to_be_bytes()).unwrap().unwrap();
        db.delete_cf(log, 4u64.to_be_bytes()).unwrap();
        db.put_cf(log, (4u64 | 1 << 56).to_be_bytes(), record).unwrap();
    }
    // Opening for writing refuses it (a record lies past the committed head)...
    assert!(matches!(Ledger::open(copy.path(), options(&clock)), Err(Error::Corruption { .. })));
    // ...and an auditor's read-only verify names the gap.
    let reader = ledger_store::Reader::open(copy.path(), clock.clone()).unwrap();
    match reader.verify(1, None) {
        Err(Error::Corruption { seq: 4, detail }) => assert!(detail.contains("missing"), "{detail}"),
        other => panic!("a moved key must be caught at seq 4: {other:?}"),
    }
    drop(reader);
    // A deleted tail record: the log no longer reaches the committed head.
    let copy = tempfile::tempdir().unwrap();
    copy_dir(dir.path(), copy.path());
    {
        let db = raw_db(copy.path());
        db.delete_cf(db.cf_handle("log").unwrap(), 9u64.to_be_bytes()).unwrap();
    }
    match Ledger::open(copy.path(), options(&clock)) {
        Err(Error::Corruption { seq: 9, .. }) => {}
        other => panic!("a missing record must be caught at open: {other:?}"),
    }
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        support::copy_tree(&entry.path(), &to.join(entry.file_name()));
    }
}

#[test]
fn verify_with_an_expected_head_catches_truncation_and_rewrites() {
    let (_dir, _clock, ledger) = ledger_with_customers(1);
    let recorded = ledger.head().unwrap();
    assert!(ledger.verify(1, Some(recorded)).is_ok());
    let parsed = Head::parse(&recorded.to_text()).unwrap();
    assert_eq!(parsed, recorded);
    let beyond = Head { seq: recorded.seq + 1, hash: recorded.hash };
    assert!(matches!(ledger.verify(1, Some(beyond)), Err(Error::HeadMismatch(m)) if m.contains("truncated")));
    let rewritten = Head { seq: recorded.seq, hash: [7; 32] };
    assert!(matches!(ledger.verify(1, Some(rewritten)), Err(Error::HeadMismatch(m)) if m.contains("rewritten")));
    assert!(Head::parse("5:zz").is_err());
}

#[test]
fn a_backup_opens_and_verifies() {
    let (_dir, clock, ledger) = ledger_with_customers(1);
    let backup_root = tempfile::tempdir().unwrap();
    let backup_dir = backup_root.path().join("copy");
    ledger.backup(&backup_dir).unwrap();
    // The original keeps going; the copy stays at the moment of the backup.
    let head = ledger.head().unwrap();
    ledger.submit_batch(customer_setup(2, 200, "2026-03-02 09:00:00")).unwrap();
    let copy = Ledger::open(&backup_dir, options(&clock)).unwrap();
    assert_eq!(copy.head().unwrap(), head);
    assert_eq!(copy.verify(1, Some(head)).unwrap().events_checked, head.seq);
    assert!(copy.replay().unwrap().mismatches.is_empty());
    assert!(ledger.backup(&backup_dir).is_err(), "an existing directory is refused");
}

#[test]
fn an_unknown_format_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(FakeClock::new(at("2026-03-02 09:00:00")));
    drop(Ledger::create(dir.path(), options(&clock)).unwrap());
    {
        let db = raw_db(dir.path());
        db.put_cf(db.cf_handle("meta").unwrap(), b"format", [99u8]).unwrap();
    }
    assert_eq!(
        Ledger::open(dir.path(), options(&clock)).err(),
        Some(Error::UnsupportedFormat { found: 99, supported: 5 })
    );
}

/// A raw key and its value.
type RawEntry = (Box<[u8]>, Box<[u8]>);

/// Every key of a column family.
fn raw_entries(db: &rocksdb::DB, cf: &str) -> Vec<RawEntry> {
    db.iterator_cf(db.cf_handle(cf).unwrap(), rocksdb::IteratorMode::Start).map(Result::unwrap).collect()
}

/// The head of a closed ledger, read raw: `meta/projected` and `meta/format`
/// (in the projected keys' database when there is one, layout 5).
fn raw_layout(path: &std::path::Path) -> (Option<u64>, Vec<u8>) {
    let db = raw_db(path);
    let format = db.get_cf(db.cf_handle("meta").unwrap(), b"format").unwrap().unwrap();
    let holder = if path.join("projected").is_dir() { raw_projected(path) } else { db };
    let meta = holder.cf_handle("meta").unwrap();
    let projected =
        holder.get_cf(meta, b"projected").unwrap().map(|b| u64::from_be_bytes(b.as_slice().try_into().unwrap()));
    (projected, format)
}

#[test]
fn a_crash_before_the_projector_caught_up_is_projected_at_the_next_open() {
    // Given a ledger closed at seq 9 (projected there), copied aside...
    let (dir, clock, ledger) = ledger_with_customers(2);
    ledger.close().unwrap();
    let at_9 = tempfile::tempdir().unwrap();
    copy_dir(dir.path(), at_9.path());
    assert_eq!(raw_layout(at_9.path()), (Some(9), vec![5]));
    // ...then two more customers (seq 10 to 17) and a payment that reads their read models.
    let ledger = Ledger::open(dir.path(), options(&clock)).unwrap();
    ledger.submit_batch(customer_setup(3, 300, "2026-03-02 10:00:00")).unwrap();
    ledger.submit_batch(customer_setup(4, 400, "2026-03-02 10:00:00")).unwrap();
    let expected_balance = ledger.balance(AccountId(41)).unwrap();
    let expected_history = ledger.history(AccountId(40), None, None, None, 100).unwrap().entries.len();
    let expected_customer = ledger.customer_accounts(CustomerId(4)).unwrap().len();
    ledger.close().unwrap();
    assert_eq!((expected_balance, expected_history, expected_customer), (Some(cny("20000")), 3, 2));
    // When the projected keys go back to seq 9 while the log and the rest of the state keep 17
    // (a crash with the projector's last jobs in flight)...
    {
        let (db, old) = (raw_projected(dir.path()), raw_projected(at_9.path()));
        for cf in ["accounts", "customers", "history"] {
            let handle = db.cf_handle(cf).unwrap();
            for (key, _) in raw_entries(&db, cf) {
                db.delete_cf(handle, key).unwrap();
            }
            for (key, value) in raw_entries(&old, cf) {
                db.put_cf(handle, key, value).unwrap();
            }
        }
        let (meta, old_meta) = (db.cf_handle("meta").unwrap(), old.cf_handle("meta").unwrap());
        db.put_cf(meta, b"projected", old.get_cf(old_meta, b"projected").unwrap().unwrap()).unwrap();
    }
    // ...then a reader sees the read models as of seq 9, and replay finds them consistent there,
    let reader = Reader::open(dir.path(), clock.clone()).unwrap();
    assert_eq!(reader.head().unwrap().seq, 17);
    assert_eq!(reader.balance(AccountId(41)).unwrap(), None);
    let replay = reader.replay().unwrap();
    assert!(replay.mismatches.is_empty(), "{:?}", replay.mismatches);
    drop(reader);
    // ...and opening for writing projects seq 10 to 17 from the log before anything else, onto
    // the accounts they touch, and decides the next batch from them.
    let ledger = Ledger::open(dir.path(), options(&clock)).unwrap();
    assert_eq!(ledger.live_state().unwrap(), ledger.replayed_state().unwrap());
    assert_eq!(ledger.balance(AccountId(41)).unwrap(), expected_balance);
    assert_eq!(ledger.history(AccountId(40), None, None, None, 100).unwrap().entries.len(), expected_history);
    assert_eq!(ledger.customer_accounts(CustomerId(4)).unwrap().len(), expected_customer);
    let replay = ledger.replay().unwrap();
    assert!(replay.mismatches.is_empty(), "{:?}", replay.mismatches);
    ledger.close().unwrap();
    assert_eq!(raw_layout(dir.path()), (Some(17), vec![5]));
}

#[test]
fn a_layout_1_ledger_reads_as_it_is_and_a_writer_brings_it_to_layout_4() {
    // Given a ledger as a layout-1 build left it: no `meta/projected`, `meta/format` = 1, and
    // a snapshot of layout 2 (superseded: its state is rebuilt from the log). Layout 4 keeps no
    // snapshot: the test puts back one whose first byte names layout 2.
    let (dir, clock, ledger) = ledger_with_customers(1);
    ledger.close().unwrap();
    to_one_database(dir.path());
    {
        let db = raw_db(dir.path());
        let meta = db.cf_handle("meta").unwrap();
        db.delete_cf(meta, b"projected").unwrap();
        db.put_cf(meta, b"format", [1u8]).unwrap();
        assert!(db.get_cf(meta, b"snapshot").unwrap().is_none(), "layout 4 keeps no snapshot");
        db.put_cf(meta, b"snapshot", [2u8; 80]).unwrap();
    }
    assert_eq!(raw_layout(dir.path()), (None, vec![1]));
    // A reader takes its read models as at the head, and replay agrees.
    let reader = Reader::open(dir.path(), clock.clone()).unwrap();
    assert_eq!(reader.balance(AccountId(11)).unwrap(), Some(cny("20000")));
    assert!(reader.replay().unwrap().mismatches.is_empty());
    drop(reader);
    // A writer's open marks it layout 4, projected to the head, its answered ids built.
    let ledger = Ledger::open(dir.path(), options(&clock)).unwrap();
    assert_eq!(ledger.balance(AccountId(11)).unwrap(), Some(cny("20000")));
    assert!(ledger.submit(policy(1, "default")).unwrap().duplicate, "answered ids rebuilt from the log");
    ledger.close().unwrap();
    assert_eq!(raw_layout(dir.path()), (Some(5), vec![5]));
    let db = raw_db(dir.path());
    assert!(db.get_cf(db.cf_handle("meta").unwrap(), b"snapshot").unwrap().is_none(), "the snapshot is gone");
}

#[test]
fn verify_on_two_cores_names_the_exact_record_on_either_side_of_the_split() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(FakeClock::new(at("2026-03-02 09:00:00")));
    let ledger = Ledger::create(dir.path(), options(&clock)).unwrap();
    ledger.submit(policy(1, "default")).unwrap();
    for c in 1..=750u64 {
        ledger.submit_batch(customer_setup(c, u128::from(c) * 10, "2026-03-02 09:00:00")).unwrap();
    }
    let head = ledger.head().unwrap();
    assert_eq!(head.seq, 3_001);
    assert_eq!(ledger.verify(1, Some(head)).unwrap().events_checked, 3_001);
    let replayed = ledger.replay().unwrap();
    assert_eq!((replayed.events, replayed.mismatches.len()), (3_001, 0), "{:?}", replayed.mismatches);
    drop(ledger);
    // The split point is 1 + 3_000 / 2 = 1_501: flip records around it and at both ends.
    for seq in [1u64, 1_500, 1_501, 1_502, 3_001] {
        let copy = tempfile::tempdir().unwrap();
        copy_dir(dir.path(), copy.path());
        {
            let db = raw_db(copy.path());
            let log = db.cf_handle("log").unwrap();
            let mut record = db.get_cf(log, seq.to_be_bytes()).unwrap().unwrap();
            let last = record.len() - 1;
            record[last] ^= 0x04;
            db.put_cf(log, seq.to_be_bytes(), record).unwrap();
        }
        // The head record is also checked against the head witness when the ledger opens.
        match ledger_store::Reader::open(copy.path(), clock.clone()).and_then(|reader| reader.verify(1, None)) {
            Err(Error::Corruption { seq: found, .. }) => assert_eq!(found, seq),
            other => panic!("flip at {seq} not caught: {other:?}"),
        }
        match ledger_store::Reader::open(copy.path(), clock.clone()).and_then(|reader| reader.replay()) {
            Err(Error::Corruption { seq: found, .. }) => assert_eq!(found, seq),
            other => panic!("replay must stop at {seq}: {other:?}"),
        }
    }
}

on_both_backends! {
fn a_writer_without_an_account_cache_reads_every_account_from_the_store_and_decides_the_same(db) {
    // Given a writer whose cache holds no account past a batch (`cache_mib` 0: every account not
    // pinned until the projector writes it is dropped after each batch)...
    let clock = Arc::new(FakeClock::new(at("2026-03-02 09:00:00")));
    let uncached = LedgerOptions { cache_mib: 0, ..options(&clock) };
    let ledger = Ledger::create(db, uncached.clone()).unwrap();
    ledger.submit(policy(1, "default")).unwrap();
    for c in 1..=6u64 {
        ledger.submit_batch(customer_setup(c, u128::from(c) * 100, "2026-03-02 09:00:00")).unwrap();
    }
    // ...when batches move money between accounts it loaded, dropped and loads again, open and
    // close accounts (the customer's list read from the index) and name an account that does
    // not exist...
    let transfer = |id: u128, from: u64, to: u64, amount: &str| {
        let body = CommandBody::InternalTransfer { from: AccountId(from), to: AccountId(to), amount: cny(amount) };
        cmd(id, "2026-03-02 10:00:00", body)
    };
    let closing = |id: u128, account: u64| cmd(id, "2026-03-02 10:00:00", CommandBody::CloseAccount { account: AccountId(account) });
    let batches = vec![
        vec![transfer(1_001, 10, 20, "10.00"), transfer(1_002, 20, 30, "5.00")],
        vec![transfer(1_003, 30, 10, "1.00"), transfer(1_004, 99, 10, "1.00")],
        vec![cmd(1_005, "2026-03-02 10:00:00", open(62, 6, AccountClass::III, Some(60))), closing(1_006, 62)],
        vec![closing(1_007, 51), transfer(1_008, 40, 10, "2.00")],
    ];
    let mut codes = Vec::new();
    for batch in batches {
        for receipt in ledger.submit_batch(batch).unwrap() {
            codes.push(receipt.rejection().map(|reason| reason.code().to_owned()));
        }
    }
    // ...then each is decided as over the whole state (the unknown account and the Class II
    // account with funds are refused), the cache stays within the accounts just changed, and
    // the state matches a replay, before and after a reopen.
    let refusals: Vec<Option<&str>> = codes.iter().map(Option::as_deref).collect();
    assert_eq!(refusals, [None, None, None, Some("UNKNOWN_ACCOUNT"), None, None, Some("NON_ZERO_BALANCE"), None]);
    let stats = ledger.stats().unwrap();
    // Pinned: the accounts of the batches the projector may not have written yet (its queue of
    // two, the one it writes, the one being committed: on a loaded machine all four), so at
    // most the six these batches touched (10, 20, 30, 40, 51, 62; 99 does not exist), none
    // of the others.
    assert!(stats.accounts_cached <= 6, "the cache holds {} accounts", stats.accounts_cached);
    assert!(stats.accounts_loaded >= 10, "accounts read from the store: {}", stats.accounts_loaded);
    assert_eq!(ledger.live_state().unwrap(), ledger.replayed_state().unwrap());
    assert_eq!(ledger.balance(AccountId(10)).unwrap(), Some(cny("79993.00")));
    drop(ledger);
    let ledger = Ledger::open(db, uncached).unwrap();
    assert_eq!(ledger.live_state().unwrap(), ledger.replayed_state().unwrap());
    assert!(ledger.replay().unwrap().mismatches.is_empty());
}
}

#[test]
fn a_full_account_cache_is_cut_to_its_low_water_mark_and_keeps_the_accounts_used_lately() {
    // Given a writer with a 1 MiB cache (half of it for accounts: `accounts_cached_max`) and
    // more Class I accounts than that opened, each with a deposit...
    let clock = Arc::new(FakeClock::new(at("2026-03-02 09:00:00")));
    let small = LedgerOptions { cache_mib: 1, ..options(&clock) };
    let max = small.accounts_cached_max() as u64;
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::create(dir.path(), small.clone()).unwrap();
    ledger.submit(policy(1, "default")).unwrap();
    let mut next_id = 1_000u128;
    let mut command = |body: CommandBody| {
        next_id += 1;
        cmd(next_id, "2026-03-02 10:00:00", body)
    };
    let opened = |command: &mut dyn FnMut(CommandBody) -> Command, ids: std::ops::RangeInclusive<u64>| {
        ids.flat_map(|n| {
            let deposit = CommandBody::CashDeposit { account: AccountId(n), amount: cny("100.00") };
            [command(open(n, n, AccountClass::I, None)), command(deposit)]
        })
        .collect::<Vec<_>>()
    };
    let first = max + max / 10;
    for start in (1..=first).step_by(500) {
        ledger.submit_batch(opened(&mut command, start..=(start + 499).min(first))).unwrap();
    }
    let transfers = |command: &mut dyn FnMut(CommandBody) -> Command| {
        (1..=100u64)
            .map(|n| {
                command(CommandBody::InternalTransfer { from: AccountId(n), to: AccountId(n + 1), amount: cny("1.00") })
            })
            .collect::<Vec<_>>()
    };
    // ...when the projector has written them and a batch moves money between 101 of them,
    ledger.snapshot().unwrap();
    ledger.submit_batch(transfers(&mut command)).unwrap();
    // then the cache is cut to 90% of its bound, not emptied;
    let cached = ledger.stats().unwrap().accounts_cached;
    assert!((max * 9 / 10..=max).contains(&cached), "{cached} accounts cached of at most {max}");
    // and when more accounts are opened past the bound again and the same 101 accounts are
    // used again, none of them is read from the store (CLOCK kept what was used lately)...
    ledger.submit_batch(opened(&mut command, (first + 1)..=(first + 300))).unwrap();
    ledger.snapshot().unwrap();
    let loaded_before = ledger.stats().unwrap().accounts_loaded;
    ledger.submit_batch(transfers(&mut command)).unwrap();
    let stats = ledger.stats().unwrap();
    assert_eq!(stats.accounts_loaded, loaded_before, "accounts read again after the cut");
    assert!(stats.accounts_cached <= max, "{} accounts cached of at most {max}", stats.accounts_cached);
    // ...and every decision matched the whole state's, before and after a reopen.
    assert_eq!(ledger.balance(AccountId(1)).unwrap(), Some(cny("98.00")));
    assert_eq!(ledger.balance(AccountId(101)).unwrap(), Some(cny("102.00")));
    assert_eq!(ledger.live_state().unwrap(), ledger.replayed_state().unwrap());
    drop(ledger);
    let ledger = Ledger::open(dir.path(), small).unwrap();
    assert!(ledger.replay().unwrap().mismatches.is_empty());
}
