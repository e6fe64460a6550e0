//! Layout 5: on RocksDB the projected keys (`accounts`, `customers`, `history`,
//! `meta/projected`) live in a database of their own, `projected/` inside the ledger's
//! directory. A layout-4 ledger (one database) is read as it is, and a writer's open moves its
//! projected keys once; a move cut short is done again; a ledger that lost `projected/` says
//! so and `rebuild-indexes` builds it again.

#![expect(clippy::unwrap_used, reason = "a failing step should stop the test where it fails")]

mod support;

use std::path::Path;
use std::sync::Arc;

use ledger_core::{Timestamp, parse_command};
use ledger_store::{Clock, FakeClock, Ledger, LedgerOptions, OpenObserver, OpenWork, Reader};

/// `tests/fixtures/ledger-v2-layout4` was written by the build of main at 27b9bce (layout 4:
/// one database) with `ledger-cli init` and `ledger-cli import` of
/// `ledger-v2-layout2.commands.jsonl` (the same commands and head as the layout-2 fixture).
const FIXTURE: &str = "tests/fixtures/ledger-v2-layout4";
const HEAD: &str = "18:f0e92350d8a7917d5d36177234cd191d50295ded568700f05b249b96452b1ee9";

fn at(text: &str) -> Timestamp {
    format!("{}+08:00", text.replace(' ', "T")).parse().unwrap()
}

fn options(clock: &Arc<FakeClock>) -> LedgerOptions {
    LedgerOptions { clock: clock.clone(), max_ahead_of_clock: None, ..LedgerOptions::default() }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

/// A copy of the layout-4 fixture.
fn fixture(dir: &Path) -> std::path::PathBuf {
    let db = dir.join("db");
    copy_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join(FIXTURE), &db);
    db
}

/// `meta/format` and how many keys `accounts`, `customers` and `history` hold, in the log's
/// database at `path` (`projected: false`) or the projected keys' (`true`).
fn raw_counts(path: &Path, projected: bool) -> (Option<Vec<u8>>, [usize; 3]) {
    let (dir, families): (_, &[&str]) = if projected {
        (path.join("projected"), &["accounts", "customers", "history", "meta"])
    } else {
        (path.to_path_buf(), &["log", "accounts", "customers", "history", "meta", "answered"])
    };
    let db = rocksdb::DB::open_cf_for_read_only(&rocksdb::Options::default(), dir, families, false).unwrap();
    let count = |name: &str| db.iterator_cf(db.cf_handle(name).unwrap(), rocksdb::IteratorMode::Start).count();
    let format = db.get_cf(db.cf_handle("meta").unwrap(), b"format").unwrap();
    (format, [count("accounts"), count("customers"), count("history")])
}

/// The fixture's commands, each a retry now: answered with its first sequence number.
fn retries_answered(ledger: &Ledger, clock: &FakeClock) {
    let expected: Vec<u64> = (2..=16).chain([18]).collect();
    let commands = include_str!("fixtures/ledger-v2-layout2.commands.jsonl");
    for (line, seq) in commands.lines().zip(expected) {
        let command = parse_command(line, clock.now()).unwrap();
        let retry = ledger.submit(command).unwrap();
        assert!(retry.duplicate && !retry.conflict && retry.seq == seq, "{line}: {retry:?}");
    }
}

#[test]
fn a_layout_4_ledger_is_read_as_it_is_and_a_writer_moves_its_projected_keys_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = fixture(dir.path());
    let clock = Arc::new(FakeClock::new(at("2026-03-05 10:00:00")));
    let (format, before) = raw_counts(&db, false);
    assert_eq!(format.as_deref(), Some(&[4][..]));
    assert!(before.iter().all(|count| *count > 0), "{before:?}");

    // Given a layout-4 ledger, when a reader opens it: read as it is, nothing moved.
    let reader = Reader::open(&db, clock.clone()).unwrap();
    assert_eq!(reader.head().unwrap().to_text(), HEAD);
    assert!(reader.replay().unwrap().mismatches.is_empty(), "layout 4 replays as it is");
    drop(reader);
    assert!(!db.join("projected").exists(), "a reader moves nothing");

    // When a writer opens it: the projected keys are in their own database, none left behind.
    let ledger = Ledger::open(&db, options(&clock)).unwrap();
    assert_eq!(ledger.head().unwrap().to_text(), HEAD);
    assert!(ledger.replay().unwrap().mismatches.is_empty(), "the moved keys check out");
    retries_answered(&ledger, &clock);
    assert_eq!(ledger.head().unwrap().to_text(), HEAD, "no retry appended anything");
    ledger.close().unwrap();
    let (format, left) = raw_counts(&db, false);
    assert_eq!(format.as_deref(), Some(&[5][..]));
    assert_eq!(left, [0, 0, 0], "the log's database keeps no projected key");
    let (_, moved) = raw_counts(&db, true);
    assert_eq!(moved, before, "every projected key moved");

    // And it opens again as layout 5: readers and writers agree.
    let reader = Reader::open(&db, clock.clone()).unwrap();
    assert!(reader.replay().unwrap().mismatches.is_empty());
    drop(reader);
    let ledger = Ledger::open(&db, options(&clock)).unwrap();
    retries_answered(&ledger, &clock);
    assert!(ledger.replay().unwrap().mismatches.is_empty());
    ledger.close().unwrap();
}

/// Every report an open made, in order.
#[derive(Debug, Default)]
struct Recorded(std::sync::Mutex<Vec<OpenWork>>);

impl OpenObserver for Recorded {
    fn open_work(&self, work: &OpenWork) {
        self.0.lock().unwrap().push(work.clone());
    }
}

#[test]
fn a_writer_converting_a_layout_4_ledger_tells_its_observer_how_the_copy_goes_and_later_opens_tell_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = fixture(dir.path());
    let clock = Arc::new(FakeClock::new(at("2026-03-05 10:00:00")));
    let (_, [accounts, customers, history]) = raw_counts(&db, false);
    let recorded = Arc::new(Recorded::default());
    let observed = LedgerOptions { open_observer: Some(recorded.clone()), ..options(&clock) };

    // When a writer converts it: each table announced, then finished with every key counted.
    Ledger::open(&db, observed.clone()).unwrap().close().unwrap();
    let reports: Vec<(&str, u64, bool)> = recorded
        .0
        .lock()
        .unwrap()
        .iter()
        .map(|work| match work {
            OpenWork::CopyingProjected { table, done, finished, .. } => (*table, *done, *finished),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    let expected = [
        ("history", 0, false),
        ("history", history as u64, true),
        ("customers", 0, false),
        ("customers", customers as u64, true),
        ("accounts", 0, false),
        ("accounts", accounts as u64, true),
    ];
    assert_eq!(reports, expected);

    // Then an open of the converted ledger has nothing to tell.
    recorded.0.lock().unwrap().clear();
    Ledger::open(&db, observed).unwrap().close().unwrap();
    assert!(recorded.0.lock().unwrap().is_empty());
}

#[test]
fn a_move_cut_short_is_done_again_and_a_reader_ignores_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = fixture(dir.path());
    let clock = Arc::new(FakeClock::new(at("2026-03-05 10:00:00")));
    // Given what a killed conversion leaves: `projected/` half built, the layout still 4.
    std::fs::create_dir(db.join("projected")).unwrap();
    std::fs::write(db.join("projected").join("000005.sst"), b"half a file").unwrap();

    // A reader reads the log's database (layout 4): the half-built one is not consulted.
    let reader = Reader::open(&db, clock.clone()).unwrap();
    assert!(reader.replay().unwrap().mismatches.is_empty());
    drop(reader);

    // A writer's open removes it and moves the keys again.
    let ledger = Ledger::open(&db, options(&clock)).unwrap();
    assert!(ledger.replay().unwrap().mismatches.is_empty());
    retries_answered(&ledger, &clock);
    ledger.close().unwrap();
    assert_eq!(raw_counts(&db, false).0.as_deref(), Some(&[5][..]));
}

#[test]
fn a_ledger_that_lost_its_projected_keys_database_says_so_and_a_rebuild_makes_it_again() {
    let dir = tempfile::tempdir().unwrap();
    let db = fixture(dir.path());
    let clock = Arc::new(FakeClock::new(at("2026-03-05 10:00:00")));
    Ledger::open(&db, options(&clock)).unwrap().close().unwrap();
    std::fs::remove_dir_all(db.join("projected")).unwrap();

    // Given layout 5 without `projected/`: every open refuses, naming it and the remedy.
    for err in [
        Ledger::open(&db, options(&clock)).err().unwrap().to_string(),
        Reader::open(&db, clock.clone()).err().unwrap().to_string(),
    ] {
        assert!(err.contains("projected") && err.contains("rebuild-indexes"), "{err}");
    }
    // `rebuild-indexes` builds it from the log; then the ledger is whole.
    let report = Ledger::rebuild_read_models(&db, &mut |_| {}).unwrap();
    assert!(report.mismatches.is_empty(), "{:?}", report.mismatches);
    let ledger = Ledger::open(&db, options(&clock)).unwrap();
    assert!(ledger.replay().unwrap().mismatches.is_empty());
    retries_answered(&ledger, &clock);
    ledger.close().unwrap();
}

/// What a writer's open does with a `projected/` that does not belong beside the log.
enum Writer {
    /// Projects the whole log into a new one and opens.
    Repairs,
    /// Refuses, with the text, until `rebuild-indexes`.
    Refuses(&'static str),
}

/// An outside tester's cases: given a ledger whose `projected/` was replaced or damaged (as
/// each row does to `db`, with `other` a copy that went on), when a reader and then a writer
/// open it, then the reader refuses naming the remedy, the writer repairs or refuses as the
/// row says, and after `rebuild-indexes` (or the repair) the ledger answers as the log says.
#[test]
fn a_projected_keys_database_that_does_not_belong_is_refused_by_readers_and_never_believed() {
    type Damage = fn(&Path, &Path);
    let swap: Damage = |db, other| {
        std::fs::remove_dir_all(db.join("projected")).unwrap();
        support::copy_tree(&other.join("projected"), &db.join("projected"));
    };
    let cases: [(&str, Damage, bool, &str, Writer); 5] = [
        ("a later copy's (projected past the head)", swap, true, "past the log's head", Writer::Repairs),
        ("another ledger's", swap, false, "another ledger", Writer::Repairs),
        (
            "without its CURRENT",
            |db, _| std::fs::remove_file(db.join("projected/CURRENT")).unwrap(),
            true,
            "does not open",
            Writer::Refuses("does not open"),
        ),
        (
            "a file",
            |db, _| {
                std::fs::remove_dir_all(db.join("projected")).unwrap();
                std::fs::write(db.join("projected"), b"junk").unwrap();
            },
            true,
            "is not a directory",
            Writer::Refuses("is not a directory"),
        ),
        (
            "missing",
            |db, _| std::fs::remove_dir_all(db.join("projected")).unwrap(),
            true,
            "is missing",
            Writer::Refuses("is missing"),
        ),
    ];
    let clock = Arc::new(FakeClock::new(at("2026-03-05 10:00:00")));
    for (what, damage, same_ledger, reader_says, writer) in cases {
        let dir = tempfile::tempdir().unwrap();
        let db = fixture(dir.path());
        Ledger::open(&db, options(&clock)).unwrap().close().unwrap();
        // `other`: a copy of this ledger that went on (or another ledger made from the fixture).
        let other = dir.path().join("other");
        if same_ledger {
            support::copy_tree(&db, &other);
        } else {
            copy_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join(FIXTURE), &other);
        }
        let went_on = Ledger::open(&other, options(&clock)).unwrap();
        let deposit =
            r#"{"type":"cash_deposit","id":"5d7e0c1a-0000-4000-8000-0000000000aa","account":70,"amount":"50.00"}"#;
        assert!(went_on.submit(parse_command(deposit, clock.now()).unwrap()).unwrap().is_accepted(), "{what}");
        went_on.close().unwrap();
        let reader = Reader::open(&db, clock.clone()).unwrap();
        let balance = reader.balance(ledger_core::AccountId(70)).unwrap();
        drop(reader);
        damage(&db, &other);

        let refused = Reader::open(&db, clock.clone()).err().map(|err| err.to_string()).unwrap_or_default();
        assert!(refused.contains(reader_says) && refused.contains("rebuild-indexes"), "{what}: reader: {refused}");
        match writer {
            Writer::Repairs => {}
            Writer::Refuses(says) => {
                let refused = Ledger::open(&db, options(&clock)).err().map(|err| err.to_string()).unwrap_or_default();
                assert!(refused.contains(says) && refused.contains("rebuild-indexes"), "{what}: writer: {refused}");
                let report = Ledger::rebuild_read_models(&db, &mut |_| {}).unwrap();
                assert!(report.mismatches.is_empty(), "{what}: {:?}", report.mismatches);
            }
        }
        let ledger = Ledger::open(&db, options(&clock)).unwrap();
        assert_eq!(ledger.head().unwrap().to_text(), HEAD, "{what}");
        assert_eq!(ledger.balance(ledger_core::AccountId(70)).unwrap(), balance, "{what}: the log's balance");
        assert!(ledger.replay().unwrap().mismatches.is_empty(), "{what}");
        retries_answered(&ledger, &clock);
        ledger.close().unwrap();
        assert!(Reader::open(&db, clock.clone()).unwrap().replay().unwrap().mismatches.is_empty(), "{what}");
    }
}
