//! Operator safety on real RocksDB files: nothing acknowledged is lost silently, nothing is
//! created by accident, derived keys are checked and rebuildable, readers work next to a writer.

#![expect(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests fail loudly")]

mod support;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use ledger_core::{AccountId, Amount, Command, CommandBody, CommandId, CustomerId, Policy, Timestamp};
use ledger_store::{Error, FakeClock, Ledger, LedgerOptions, Reader};
use uuid::Uuid;

fn at(text: &str) -> Timestamp {
    format!("{}+08:00", text.replace(' ', "T")).parse().unwrap()
}

fn options(clock: &Arc<FakeClock>) -> LedgerOptions {
    LedgerOptions { clock: clock.clone(), ..LedgerOptions::default() }
}

fn cmd(id: u128, time: &str, body: CommandBody) -> Command {
    Command { id: CommandId(Uuid::from_u128(id)), at: at(time), body, stamped: false }
}

fn deposit(account: u64, fen: u64) -> CommandBody {
    CommandBody::CashDeposit { account: AccountId(account), amount: Amount::from_fen(fen).unwrap() }
}

/// A ledger with a policy and accounts 1..=10, then `batches` batches of 100 deposits.
fn populate(ledger: &Ledger, batches: u128) {
    let policy = Box::new(Policy::preset("default").unwrap());
    let genesis =
        cmd(1, "2026-03-02 09:00:00", CommandBody::ChangePolicy { effective_from: Timestamp::UNIX_EPOCH, policy });
    assert!(ledger.submit(genesis).unwrap().is_accepted());
    let opens = (1..=10).map(|a| {
        cmd(10 + u128::from(a), "2026-03-02 09:00:00", CommandBody::open_class_i(AccountId(a), CustomerId(a)))
    });
    assert!(ledger.submit_batch(opens.collect()).unwrap().iter().all(|r| r.is_accepted()));
    for b in 0..batches {
        let batch =
            (0..100).map(|i| cmd(1_000 + b * 100 + i, "2026-03-02 09:00:00", deposit(1 + (i as u64 % 10), 100)));
        assert!(ledger.submit_batch(batch.collect()).unwrap().iter().all(|r| r.is_accepted()));
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        support::copy_tree(&entry.path(), &to.join(entry.file_name()));
    }
}

fn files_with(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    found.sort();
    found
}

/// A crash image of a running ledger: its files copied while it is open, so the acknowledged
/// batches are only in the write-ahead log. Returns the image and the acknowledged head.
fn crash_image(root: &Path) -> (PathBuf, u64) {
    let clock = Arc::new(FakeClock::new(at("2026-03-02 09:00:00")));
    let live = root.join("live");
    let ledger = Ledger::create(&live, options(&clock)).unwrap();
    populate(&ledger, 40);
    let head = ledger.head().unwrap().seq;
    let image = root.join("image");
    copy_dir(&live, &image);
    drop(ledger);
    assert!(!files_with(&image, "log").is_empty(), "the image keeps its write-ahead log");
    (image, head)
}

fn expect_lost(result: Result<impl std::fmt::Debug, Error>, what: &str) -> u64 {
    match result {
        Err(Error::Corruption { seq, detail }) => {
            assert!(detail.contains("acknowledged") && detail.contains("restore the last backup"), "{what}: {detail}");
            seq
        }
        other => panic!("{what}: a damaged write-ahead log must refuse to open, got {other:?}"),
    }
}

#[test]
fn a_damaged_truncated_or_deleted_write_ahead_log_refuses_to_open_and_names_the_lost_records() {
    let root = tempfile::tempdir().unwrap();
    let (image, head) = crash_image(root.path());
    let clock = Arc::new(FakeClock::new(at("2026-03-02 09:00:00")));
    // (what is done to the newest write-ahead log)
    type Damage = fn(&Path);
    let damages: [(&str, Damage); 3] = [
        ("one byte flipped at 10% of its length", |wal| {
            let mut bytes = std::fs::read(wal).unwrap();
            let at = bytes.len() / 10;
            bytes[at] ^= 0x40;
            std::fs::write(wal, bytes).unwrap();
        }),
        ("truncated to 10% of its length", |wal| {
            let len = std::fs::metadata(wal).unwrap().len();
            std::fs::OpenOptions::new().write(true).open(wal).unwrap().set_len(len / 10).unwrap();
        }),
        ("deleted", |wal| std::fs::remove_file(wal).unwrap()),
    ];
    for (what, damage) in damages {
        let copy = root.path().join(what.replace(' ', "-"));
        copy_dir(&image, &copy);
        damage(files_with(&copy, "log").last().unwrap());
        let seq = expect_lost(Reader::open(&copy, clock.clone()), what);
        assert!(seq <= head, "{what}: the first lost record ({seq}) is an acknowledged one (head {head})");
        expect_lost(Ledger::open(&copy, options(&clock)), what);
        // Refused again, and nothing was appended over the hole.
        expect_lost(Ledger::open(&copy, options(&clock)), what);
    }
    // The undamaged image opens with every acknowledged record.
    let ledger = Ledger::open(&image, options(&clock)).unwrap();
    assert_eq!(ledger.head().unwrap().seq, head);
    assert_eq!(ledger.verify(1, None).unwrap().events_checked, head);
}

#[test]
fn a_write_cut_short_by_a_crash_before_its_acknowledgement_is_dropped_and_the_ledger_opens() {
    let root = tempfile::tempdir().unwrap();
    let (image, head) = crash_image(root.path());
    // The last batch (100 records) was being written when the process died: the witness still
    // names the head before it, and the log ends inside it.
    let before_last = head - 100;
    let witness_hash: [u8; 32] = {
        let reader = Reader::open(&image, Arc::new(FakeClock::new(at("2026-03-02 09:00:00")))).unwrap();
        let mut line = Vec::new();
        reader.export(before_last, Some(before_last), &mut line).unwrap();
        let value: serde_json::Value = serde_json::from_slice(&line).unwrap();
        hex::decode(value["hash"].as_str().unwrap()).unwrap().try_into().unwrap()
    };
    let witness = ledger_store::codec::encode_witness(before_last, &witness_hash);
    std::fs::write(image.join("HEAD-WITNESS"), witness).unwrap();
    // The write-ahead log ends with the last batch's records, then (maybe) the projector's
    // unsynced write of its indexes and read models. Cut ever more of it: while the cut stays
    // inside what was never acknowledged, the ledger opens without it, read models included.
    let clock = Arc::new(FakeClock::new(at("2026-03-02 09:00:00")));
    let mut records_dropped = false;
    let mut cut = 300;
    loop {
        let copy = root.path().join(format!("cut-{cut}"));
        copy_dir(&image, &copy);
        let wal = files_with(&copy, "log").pop().unwrap();
        let len = std::fs::metadata(&wal).unwrap().len();
        assert!(cut < len, "no cut reached an acknowledged record");
        std::fs::OpenOptions::new().write(true).open(&wal).unwrap().set_len(len - cut).unwrap();
        let ledger = match Ledger::open(&copy, options(&clock)) {
            Ok(ledger) => ledger,
            // The cut reached the acknowledged batch before the last: refused, naming it.
            Err(err) => {
                let seq = expect_lost(Err::<(), _>(err), "a cut into acknowledged records");
                assert!(seq <= before_last);
                break;
            }
        };
        let reopened = ledger.head().unwrap().seq;
        assert!((before_last..=head).contains(&reopened), "cut {cut}: {before_last} <= {reopened} <= {head}");
        records_dropped |= reopened < head;
        assert!(ledger.replay().unwrap().mismatches.is_empty(), "cut {cut}");
        // The client retries the unanswered batch and gets one answer per command.
        assert!(ledger.submit(cmd(99_999, "2026-03-02 09:00:00", deposit(1, 1))).unwrap().is_accepted());
        assert_eq!(ledger.verify(1, None).unwrap().events_checked, reopened + 1);
        drop(ledger);
        cut *= 2;
    }
    assert!(records_dropped, "some cut dropped the unacknowledged batch's records");
}

#[test]
fn only_create_creates_and_a_damaged_directory_is_never_recreated() {
    let root = tempfile::tempdir().unwrap();
    let clock = Arc::new(FakeClock::new(at("2026-03-02 09:00:00")));
    // A typo'd path: nothing is created.
    let typo = root.path().join("typo.db");
    assert!(matches!(Ledger::open(&typo, options(&clock)), Err(Error::NotALedger(_))));
    assert!(matches!(Reader::open(&typo, clock.clone()), Err(Error::NotALedger(_))));
    assert!(!typo.exists(), "opening created {}", typo.display());
    // An empty directory stays empty.
    let empty = root.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    assert!(matches!(Ledger::open(&empty, options(&clock)), Err(Error::NotALedger(_))));
    assert_eq!(std::fs::read_dir(&empty).unwrap().count(), 0);

    // A real ledger, closed (its data in SST files).
    let db = root.path().join("db");
    let ledger = Ledger::create(&db, options(&clock)).unwrap();
    populate(&ledger, 5);
    ledger.close().unwrap();
    let listing = |dir: &Path| {
        let mut names: Vec<String> =
            std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        names
    };
    // CURRENT and the write-ahead logs lost: refused, nothing recreated, no table deleted.
    let lost = root.path().join("lost-current-and-wal");
    copy_dir(&db, &lost);
    std::fs::remove_file(lost.join("CURRENT")).unwrap();
    for wal in files_with(&lost, "log") {
        std::fs::remove_file(wal).unwrap();
    }
    let before = listing(&lost);
    for _ in 0..2 {
        assert!(matches!(Ledger::open(&lost, options(&clock)), Err(Error::Damaged(_))));
        assert!(matches!(Reader::open(&lost, clock.clone()), Err(Error::Damaged(_))));
        assert!(matches!(Ledger::create(&lost, options(&clock)), Err(Error::NotALedger(_))));
    }
    assert_eq!(listing(&lost), before, "a refused open changed the directory");
    // The head witness lost: refused too.
    let no_witness = root.path().join("no-witness");
    copy_dir(&db, &no_witness);
    std::fs::remove_file(no_witness.join("HEAD-WITNESS")).unwrap();
    assert!(matches!(Ledger::open(&no_witness, options(&clock)), Err(Error::Damaged(_))));
}

#[test]
fn create_needs_an_empty_directory_and_nothing_opens_another_programs_database() {
    let root = tempfile::tempdir().unwrap();
    let clock = Arc::new(FakeClock::new(at("2026-03-02 09:00:00")));
    // A directory with the user's own files (a RocksDB-like LOG among them).
    let mine = root.path().join("mine");
    std::fs::create_dir(&mine).unwrap();
    std::fs::write(mine.join("LOG"), "my notes").unwrap();
    match Ledger::create(&mine, options(&clock)) {
        Err(Error::NotALedger(text)) => assert!(text.contains("not empty"), "{text}"),
        other => panic!("create in a non-empty directory: {other:?}"),
    }
    assert_eq!(std::fs::read_to_string(mine.join("LOG")).unwrap(), "my notes");
    assert_eq!(std::fs::read_dir(&mine).unwrap().count(), 1);

    // Another program's RocksDB database: refused by every open, its column families untouched.
    let other = root.path().join("other");
    {
        let mut opts = rocksdb::Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        let db = rocksdb::DB::open_cf(&opts, &other, ["sessions"]).unwrap();
        db.put(b"key", b"value").unwrap();
    }
    let families = rocksdb::DB::list_cf(&rocksdb::Options::default(), &other).unwrap();
    assert!(matches!(Ledger::open(&other, options(&clock)), Err(Error::NotALedger(_))));
    assert!(matches!(Reader::open(&other, clock.clone()), Err(Error::NotALedger(_))));
    assert!(matches!(Ledger::create(&other, options(&clock)), Err(Error::NotALedger(_))));
    assert_eq!(rocksdb::DB::list_cf(&rocksdb::Options::default(), &other).unwrap(), families);
    let db = rocksdb::DB::open_cf(&rocksdb::Options::default(), &other, ["sessions"]).unwrap();
    assert_eq!(db.get(b"key").unwrap().as_deref(), Some(&b"value"[..]));
}

#[test]
fn a_new_ledger_directory_is_private_whatever_the_umask() {
    use std::os::unix::fs::PermissionsExt;
    let root = tempfile::tempdir().unwrap();
    let clock = Arc::new(FakeClock::new(at("2026-03-02 09:00:00")));
    let db = root.path().join("db");
    Ledger::create(&db, options(&clock)).unwrap().close().unwrap();
    assert_eq!(std::fs::metadata(&db).unwrap().permissions().mode() & 0o777, 0o700);
    for name in ["LEDGER", "HEAD-WITNESS"] {
        assert_eq!(std::fs::metadata(db.join(name)).unwrap().permissions().mode() & 0o777, 0o600, "{name}");
    }
    assert_eq!(std::fs::metadata(db.join("projected")).unwrap().permissions().mode() & 0o777, 0o700, "projected/");
    let backup = root.path().join("backup");
    Reader::open(&db, clock.clone()).unwrap().backup(&backup).unwrap();
    assert_eq!(std::fs::metadata(&backup).unwrap().permissions().mode() & 0o777, 0o700);
    Ledger::open(&backup, options(&clock)).unwrap().close().unwrap();
}

#[test]
fn a_range_past_the_head_is_a_usage_error_not_corruption() {
    let root = tempfile::tempdir().unwrap();
    let clock = Arc::new(FakeClock::new(at("2026-03-02 09:00:00")));
    let ledger = Ledger::create(root.path().join("db"), options(&clock)).unwrap();
    populate(&ledger, 1);
    let head = ledger.head().unwrap().seq;
    for from in [head + 1, head + 1_000] {
        assert!(matches!(ledger.verify(from, None), Err(Error::InvalidArgument(_))), "verify --from {from}");
        assert!(matches!(ledger.export(from, None, &mut Vec::new()), Err(Error::InvalidArgument(_))), "export {from}");
    }
    assert!(matches!(ledger.export(5, Some(4), &mut Vec::new()), Err(Error::InvalidArgument(_))));
    assert_eq!(ledger.verify(head, None).unwrap().events_checked, 1);
}

#[test]
fn a_command_dated_far_ahead_of_the_clock_is_refused_and_the_ledger_keeps_working() {
    let root = tempfile::tempdir().unwrap();
    let clock = Arc::new(FakeClock::new(at("2026-03-02 09:00:00")));
    let ledger = Ledger::create(root.path().join("db"), options(&clock)).unwrap();
    populate(&ledger, 1);
    let typo = ledger.submit(cmd(50_000, "2100-01-01 00:00:00", deposit(1, 100))).unwrap();
    assert_eq!(typo.rejection().map(|r| r.code()), Some("TIME_AHEAD_OF_CLOCK"), "{typo:?}");
    assert_eq!(typo.event.at, at("2026-03-02 09:00:00"), "recorded at the head's time");
    let next_year = ledger.submit(cmd(50_001, "2027-03-02 09:00:00", deposit(1, 100))).unwrap();
    assert_eq!(next_year.rejection().map(|r| r.code()), Some("TIME_AHEAD_OF_CLOCK"));
    // Within the skew, and without a time (the clock's), commands still pass.
    assert!(ledger.submit(ledger.command(deposit(1, 100))).unwrap().is_accepted());
    assert!(ledger.submit(cmd(50_002, "2026-03-02 09:04:59", deposit(1, 100))).unwrap().is_accepted());
    // A historical import is unaffected: past times are decided as before.
    let old = ledger.submit(cmd(50_003, "2020-01-01 00:00:00", deposit(1, 100))).unwrap();
    assert_eq!(old.rejection().map(|r| r.code()), Some("TIME_BEFORE_HEAD"));
}

#[test]
fn a_skew_beyond_the_last_representable_time_bounds_nothing() {
    let root = tempfile::tempdir().unwrap();
    let clock = Arc::new(FakeClock::new(at("2026-03-02 09:00:00")));
    // (allowed skew, is a command dated 2100 accepted?)
    let rows = [(std::time::Duration::from_secs(u64::MAX), true), (std::time::Duration::from_secs(300), false)];
    for (index, (ahead, accepted)) in rows.into_iter().enumerate() {
        let options = LedgerOptions { max_ahead_of_clock: Some(ahead), ..options(&clock) };
        let ledger = Ledger::create(root.path().join(format!("db{index}")), options).unwrap();
        populate(&ledger, 0);
        let far = ledger.submit(cmd(60_000, "2100-01-01 00:00:00", deposit(1, 100))).unwrap();
        assert_eq!(far.is_accepted(), accepted, "skew {ahead:?}: {far:?}");
    }
}

#[test]
fn marking_a_ledger_from_before_the_marker_survives_an_interrupted_first_try() {
    // A ledger written before the marker existed; its first writer open stopped after writing the
    // witness and before the marker (a crash between the two files).
    let root = tempfile::tempdir().unwrap();
    let legacy = root.path().join("legacy");
    copy_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ledger-v1"), &legacy);
    assert!(!legacy.join("LEDGER").exists(), "the fixture predates the marker");
    std::fs::write(legacy.join("HEAD-WITNESS"), [0u8; 7]).unwrap();
    let clock = Arc::new(FakeClock::new(at("2026-03-03 09:00:00")));
    let ledger = Ledger::open(&legacy, LedgerOptions { max_ahead_of_clock: None, ..options(&clock) }).unwrap();
    let head = ledger.head().unwrap();
    ledger.close().unwrap();
    assert!(legacy.join("LEDGER").exists());
    let reader = Reader::open(&legacy, clock).unwrap();
    assert_eq!(reader.verify(1, Some(head)).unwrap().events_checked, head.seq);
}

/// A file of the history index (in the projected keys' database, `projected/`).
fn history_sst(db: &Path) -> PathBuf {
    let projected = db.join("projected");
    let raw = rocksdb::DB::open_cf_for_read_only(
        &rocksdb::Options::default(),
        &projected,
        ["accounts", "customers", "history", "meta"],
        false,
    )
    .unwrap();
    let file =
        raw.live_files().unwrap().into_iter().find(|f| f.column_family_name == "history").expect("a history table");
    projected.join(file.name.trim_start_matches('/'))
}

#[test]
fn replay_checks_every_index_and_rebuild_indexes_repairs_them() {
    let root = tempfile::tempdir().unwrap();
    let clock = Arc::new(FakeClock::new(at("2026-03-02 09:00:00")));
    let db = root.path().join("db");
    let ledger = Ledger::create(&db, options(&clock)).unwrap();
    populate(&ledger, 20);
    ledger.close().unwrap();
    assert!(Reader::open(&db, clock.clone()).unwrap().replay().unwrap().mismatches.is_empty());

    // A flipped byte inside the history index's table.
    let sst = history_sst(&db);
    let mut bytes = std::fs::read(&sst).unwrap();
    let middle = bytes.len() / 3;
    bytes[middle] ^= 0x01;
    std::fs::write(&sst, bytes).unwrap();
    let report = Reader::open(&db, clock.clone()).unwrap().replay().unwrap();
    assert!(
        report.mismatches.iter().any(|m| m.field == "history index"),
        "replay must notice a damaged history index: {:?}",
        report.mismatches
    );
    let repaired = Ledger::rebuild_read_models(&db, &mut |_| {}).unwrap();
    assert!(repaired.mismatches.is_empty(), "{:?}", repaired.mismatches);
    let reader = Reader::open(&db, clock.clone()).unwrap();
    assert_eq!(reader.history(AccountId(1), None, None, None, 1_000).unwrap().entries.len(), 1 + 200);
    drop(reader);

    // A deleted and a foreign index entry (the tables themselves intact).
    raw_projected_change(&db, |raw| {
        let history = raw.cf_handle("history").unwrap();
        let key = raw.iterator_cf(history, rocksdb::IteratorMode::Start).next().unwrap().unwrap().0;
        raw.delete_cf(history, key).unwrap();
        let customers = raw.cf_handle("customers").unwrap();
        let mut foreign = 99u64.to_be_bytes().to_vec();
        foreign.extend_from_slice(&7u64.to_be_bytes());
        raw.put_cf(customers, foreign, []).unwrap();
    });
    let report = Reader::open(&db, clock.clone()).unwrap().replay().unwrap();
    let fields: Vec<&str> = report.mismatches.iter().map(|m| m.field.as_str()).collect();
    assert!(fields.contains(&"history index") && fields.contains(&"customer index"), "{fields:?}");
    assert!(Ledger::rebuild_read_models(&db, &mut |_| {}).unwrap().mismatches.is_empty());
    let ledger = Ledger::open(&db, options(&clock)).unwrap();
    assert!(ledger.replay().unwrap().mismatches.is_empty());
    assert_eq!(ledger.customer_accounts(CustomerId(99)).unwrap().len(), 0);
}

/// Opens the ledger's RocksDB directly (as damage would come), runs `change` on it.
fn raw_change(db: &Path, change: impl FnOnce(&rocksdb::DB)) {
    let raw = rocksdb::DB::open_cf(
        &rocksdb::Options::default(),
        db,
        ["log", "accounts", "customers", "history", "meta", "answered"],
    )
    .unwrap();
    change(&raw);
}

/// [`raw_change`] on the ledger's projected keys' database (`projected/`).
fn raw_projected_change(db: &Path, change: impl FnOnce(&rocksdb::DB)) {
    let raw = rocksdb::DB::open_cf(
        &rocksdb::Options::default(),
        db.join("projected"),
        ["accounts", "customers", "history", "meta"],
    )
    .unwrap();
    change(&raw);
}

/// Rows: given a ledger, when the rebuild of its read models is cut short (the layout left at
/// "rebuilding") or its log is damaged, then every open refuses it / the rebuild writes
/// nothing, and a whole rebuild (of an undamaged log) makes it usable again.
#[test]
fn a_rebuild_cut_short_is_refused_by_every_open_and_a_damaged_log_is_never_rebuilt_over() {
    let root = tempfile::tempdir().unwrap();
    let clock = Arc::new(FakeClock::new(at("2026-03-02 09:00:00")));
    let db = root.path().join("db");
    let ledger = Ledger::create(&db, options(&clock)).unwrap();
    populate(&ledger, 5);
    ledger.close().unwrap();

    // A rebuild cut short (killed after it marked the layout and dropped the read models).
    raw_change(&db, |raw| raw.put_cf(raw.cf_handle("meta").unwrap(), b"format", [0xFE]).unwrap());
    raw_projected_change(&db, |raw| {
        let accounts = raw.cf_handle("accounts").unwrap();
        let key = raw.iterator_cf(accounts, rocksdb::IteratorMode::Start).next().unwrap().unwrap().0;
        raw.delete_cf(accounts, key).unwrap();
    });
    let refusals =
        [("writer", Ledger::open(&db, options(&clock)).err()), ("reader", Reader::open(&db, clock.clone()).err())];
    for (who, refusal) in refusals {
        match refusal {
            Some(Error::Rebuilding) => {}
            other => panic!("the {who} must refuse a ledger whose rebuild was cut short: {other:?}"),
        }
    }
    // Run again, the rebuild ends, and the ledger opens with every read model.
    assert!(Ledger::rebuild_read_models(&db, &mut |_| {}).unwrap().mismatches.is_empty());
    let ledger = Ledger::open(&db, options(&clock)).unwrap();
    let balance = ledger.balance(AccountId(1)).unwrap();
    assert!(balance.is_some_and(|fen| fen > Amount::ZERO), "{balance:?}");
    ledger.close().unwrap();

    // A damaged log record: the rebuild refuses before it drops anything.
    let accounts_before = |db: &Path| {
        let mut count = 0;
        raw_projected_change(db, |raw| {
            count = raw.iterator_cf(raw.cf_handle("accounts").unwrap(), rocksdb::IteratorMode::Start).count();
        });
        count
    };
    let held = accounts_before(&db);
    raw_change(&db, |raw| {
        let log = raw.cf_handle("log").unwrap();
        let key = 5u64.to_be_bytes();
        let mut record = raw.get_cf(log, key).unwrap().unwrap();
        let last = record.len() - 1;
        record[last] ^= 0x01;
        raw.put_cf(log, key, record).unwrap();
    });
    match Ledger::rebuild_read_models(&db, &mut |_| {}) {
        Err(Error::Corruption { seq: 5, .. }) => {}
        other => panic!("a rebuild over a damaged log must be refused at its seq: {other:?}"),
    }
    assert_eq!(accounts_before(&db), held, "the read models were left as they were");
    raw_change(&db, |raw| {
        let format = raw.get_cf(raw.cf_handle("meta").unwrap(), b"format").unwrap();
        assert_eq!(format.as_deref(), Some(&[5u8][..]), "the layout was left as it was");
    });
}

/// A new ledger at `db` in a temporary directory with small memtables (256 KiB): flushes, new
/// write-ahead log files and deleted old ones all along.
fn small_memtables_ledger() -> (tempfile::TempDir, Arc<FakeClock>, PathBuf, Ledger) {
    let root = tempfile::tempdir().unwrap();
    let clock = Arc::new(FakeClock::new(at("2026-03-02 09:00:00")));
    let db = root.path().join("db");
    let small = LedgerOptions { write_buffer_bytes: Some(256 << 10), ..options(&clock) };
    let ledger = Ledger::create(&db, small).unwrap();
    (root, clock, db, ledger)
}

#[test]
fn readers_open_next_to_a_busy_writer_whose_write_ahead_log_rotates() {
    // Small memtables: the write-ahead log rotates (and old ones are deleted) many times a second.
    let (_root, clock, db, ledger) = small_memtables_ledger();
    populate(&ledger, 1);
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (ledger, stop) = (ledger.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut id = 10_000_000u128;
            while !stop.load(Ordering::Relaxed) {
                let batch = (0..200).map(|i| {
                    id += 1;
                    cmd(id, "2026-03-02 09:00:00", deposit(1 + (i % 10), 1))
                });
                ledger.submit_batch(batch.collect()).unwrap();
            }
        })
    };
    let mut opened = 0;
    let started = std::time::Instant::now();
    while opened < 100 && started.elapsed() < std::time::Duration::from_secs(30) {
        let reader = Reader::open(&db, clock.clone()).unwrap_or_else(|err| panic!("reader open {opened}: {err}"));
        let head = reader.head().unwrap();
        reader.verify(head.seq.saturating_sub(50).max(1), Some(head)).unwrap();
        reader.history(AccountId(3), None, None, None, 10).unwrap();
        reader.pending(None).unwrap();
        opened += 1;
    }
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    // Every open above succeeded (an error panics); under a loaded test run fewer fit in the time.
    assert!(opened >= 20, "only {opened} readers opened in 30 s");
    ledger.close().unwrap();
    let reader = Reader::open(&db, clock).unwrap();
    assert!(reader.replay().unwrap().mismatches.is_empty());
}

#[test]
fn backups_under_write_load_open_verify_and_replay_from_the_writer_and_from_a_reader() {
    // Given a ledger a thread keeps writing to (small memtables: flushes and new log files all along)
    let (root, clock, db, ledger) = small_memtables_ledger();
    populate(&ledger, 1);
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (ledger, stop) = (ledger.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut id = 20_000_000u128;
            while !stop.load(Ordering::Relaxed) {
                let batch = (0..200).map(|i| {
                    id += 1;
                    cmd(id, "2026-03-02 09:00:00", deposit(1 + (i % 10), 1))
                });
                ledger.submit_batch(batch.collect()).unwrap();
            }
        })
    };
    // When backups are taken alternately through the writer's handle and a read-only Reader
    let mut heads = Vec::new();
    for i in 0..6 {
        let copy = root.path().join(format!("copy-{i}"));
        let head = if i % 2 == 0 {
            ledger.backup(&copy).unwrap()
        } else {
            Reader::open(&db, clock.clone()).unwrap().backup(&copy).unwrap()
        };
        // Then each opens for writing at the head it reports, verifies from genesis and replays
        let opened = Ledger::open(&copy, options(&clock)).unwrap_or_else(|err| panic!("copy {i}: {err}"));
        assert_eq!(opened.head().unwrap(), head, "copy {i}");
        assert_eq!(opened.verify(1, Some(head)).unwrap().head, head, "copy {i}");
        assert!(opened.replay().unwrap().mismatches.is_empty(), "copy {i}");
        opened.close().unwrap();
        heads.push(head);
    }
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    // And the source holds every copy's head: each copy is a prefix of its log
    for head in heads {
        ledger.verify(head.seq.max(1), Some(head)).unwrap();
    }
    ledger.close().unwrap();
}

#[test]
fn the_write_ahead_logs_stay_near_their_bound_however_much_is_written() {
    // Given a ledger with small memtables (256 KiB: each database's write-ahead logs are bounded
    // to four of them, 1 MiB)
    let (_root, clock, db, ledger) = small_memtables_ledger();
    // When 180,000 deposits are written (without the bound, the log's database kept 3.7 MB of
    // write-ahead logs here, and more the more is written)
    populate(&ledger, 1800);
    // Then neither database keeps much more than its bound in write-ahead logs (RocksDB's own
    // default lets them grow to four times all memtables, here ~21 MiB; a writer's open after a
    // crash replays them all)
    let wal_bytes = |dir: &Path| files_with(dir, "log").iter().map(|file| file.metadata().unwrap().len()).sum::<u64>();
    // (a flush and the deletion of the logs it frees run in the background: given 10 s to end)
    for dir in [db.clone(), db.join("projected")] {
        let started = std::time::Instant::now();
        let mut bytes = wal_bytes(&dir);
        while bytes > 2 << 20 && started.elapsed() < std::time::Duration::from_secs(10) {
            std::thread::sleep(std::time::Duration::from_millis(50));
            bytes = wal_bytes(&dir);
        }
        assert!(bytes <= 2 << 20, "{} keeps {bytes} bytes of write-ahead logs", dir.display());
    }
    ledger.close().unwrap();
    let reader = Reader::open(&db, clock).unwrap();
    assert!(reader.replay().unwrap().mismatches.is_empty());
}
