//! Replay's check of the answered-id table (docs/FORMAT.md, "Answered ids"): a multiset digest of
//! the (id, first seq) entries the log implies against one of the table, with no lookup per
//! event. Each row damages a copy of one small ledger (a delayed transfer that comes due under
//! its own id among its events) and says what replay must report; the undamaged ledger replays
//! clean, its due event included. Also: an event that does not decode, behind the chain's walk.

#![expect(clippy::unwrap_used, reason = "a failing step should stop the test where it fails")]

mod support;

use std::path::Path;
use std::sync::Arc;

use ledger_core::{
    AccountClass, AccountId, Amount, Arrival, Command, CommandBody, CommandId, CustomerId, Event, Policy, Timestamp,
};
use ledger_store::codec::{self, Record};
use ledger_store::{Error, FakeClock, Ledger, LedgerOptions, Mismatch, Reader};
use uuid::Uuid;

fn at(text: &str) -> Timestamp {
    format!("{}+08:00", text.replace(' ', "T")).parse().unwrap()
}

fn id(n: u128) -> CommandId {
    CommandId(Uuid::from_u128(n))
}

fn cmd(n: u128, time: &str, body: CommandBody) -> Command {
    Command { id: id(n), at: at(time), body, stamped: false }
}

const CFS: [&str; 6] = ["log", "accounts", "customers", "history", "meta", "answered"];

/// The ledger: policy (seq 1), opening (2), deposit (3), delayed transfer (4), its due event
/// under id 5 (5), tick (6), deposit (7); ids 1–7, one command per batch.
fn ledger(path: &Path, clock: &Arc<FakeClock>) {
    let t = "2026-03-02 10:00:00";
    let options = LedgerOptions { clock: clock.clone(), max_ahead_of_clock: None, ..LedgerOptions::default() };
    let ledger = Ledger::create(path, options).unwrap();
    let policy = CommandBody::ChangePolicy {
        effective_from: Timestamp::UNIX_EPOCH,
        policy: Box::new(Policy::preset("default").unwrap()),
    };
    let open = CommandBody::OpenAccount {
        account: AccountId(10),
        customer: CustomerId(1),
        class: AccountClass::I,
        binding: None,
        verified_in_person: true,
        with_card: false,
    };
    let amount = |text: &str| text.parse::<Amount>().unwrap();
    let transfer = CommandBody::DelayedTransfer {
        from: AccountId(10),
        counterparty: "CCB-1".into(),
        amount: amount("5"),
        arrival: Arrival::NextDay,
    };
    let later = "2026-03-03 10:00:00";
    let commands = [
        Command { id: id(1), at: Timestamp::UNIX_EPOCH, body: policy, stamped: false },
        cmd(2, t, open),
        cmd(3, t, CommandBody::CashDeposit { account: AccountId(10), amount: amount("100") }),
        cmd(5, t, transfer),
        cmd(6, later, CommandBody::Tick),
        cmd(7, later, CommandBody::CashDeposit { account: AccountId(10), amount: amount("1") }),
    ];
    for command in commands {
        ledger.submit(command).unwrap();
    }
    assert_eq!(ledger.head().unwrap().seq, 7);
    assert_eq!(ledger.event(5).unwrap().command_id, id(5), "the transfer came due under its own id");
    ledger.close().unwrap();
}

/// Rewrites the event at `seq` with `edit` and every hash after it, the head and its witness
/// moved along (as a forger, or a writer's bug, would leave it).
fn forge(db: &rocksdb::DB, path: &Path, seq: u64, edit: impl FnOnce(&mut Event)) {
    forge_bytes(db, path, seq, |at, bytes| {
        let mut event = codec::decode_event(at, &bytes).unwrap();
        edit(&mut event);
        codec::encode_event(&event).unwrap()
    });
}

/// [`forge`] on the event's bytes.
fn forge_bytes(db: &rocksdb::DB, path: &Path, seq: u64, edit: impl FnOnce(u64, Vec<u8>) -> Vec<u8>) {
    let (log, meta) = (db.cf_handle("log").unwrap(), db.cf_handle("meta").unwrap());
    let (head, _) = codec::decode_head(&db.get_cf(meta, b"head").unwrap().unwrap()).unwrap();
    let record = |at: u64| Record::decode(at, &db.get_cf(log, at.to_be_bytes()).unwrap().unwrap()).unwrap();
    let mut prev = record(seq - 1).hash;
    let mut edit = Some(edit);
    for at in seq..=head {
        let mut bytes = record(at).event_bytes.clone();
        if let Some(edit) = edit.take() {
            bytes = edit(at, bytes);
        }
        let forged = Record::new(at, prev, bytes);
        db.put_cf(log, at.to_be_bytes(), forged.encode()).unwrap();
        prev = forged.hash;
    }
    db.put_cf(meta, b"head", codec::encode_head(head, &prev)).unwrap();
    std::fs::write(path.join("HEAD-WITNESS"), codec::encode_witness(head, &prev)).unwrap();
}

fn set_answered(db: &rocksdb::DB, n: u128, seq: Option<u64>) {
    let answered = db.cf_handle("answered").unwrap();
    let key = codec::answered_key(id(n));
    match seq {
        Some(seq) => db.put_cf(answered, key, seq.to_be_bytes()).unwrap(),
        None => db.delete_cf(answered, key).unwrap(),
    }
}

/// One damage: what is done to the copy, and the answered-id mismatches replay must report
/// (their `field`, `expected`, `found`; the summary line's last).
struct Damage {
    what: &'static str,
    damage: fn(&rocksdb::DB, &Path),
    expected: &'static [(&'static str, &'static str, &'static str)],
}

const SUMMARY: &str = "answered ids";

fn damages() -> Vec<Damage> {
    vec![
        Damage {
            what: "none (the due event at 5 carries id 5, first answered at 4)",
            damage: |_, _| {},
            expected: &[],
        },
        Damage {
            // The same id decided twice (a retry decided as new), the table holding its first
            // answer, and no key for the id the event had: the table's size still matches the
            // number of events the table names (what the lookups of the old check counted).
            what: "the deposit at 7 carries id 3 (decided at 3), the key of 7 gone",
            damage: |db, path| {
                forge(db, path, 7, |event| event.command_id = id(3));
                set_answered(db, 7, None);
            },
            expected: &[
                ("answered/00000000-0000-0000-0000-000000000003", "7", "3"),
                (SUMMARY, "6 keys, one per answered command, holding its first event's seq", "5 keys, differing"),
            ],
        },
        Damage {
            what: "the same, the key of 3 naming its second answer",
            damage: |db, path| {
                forge(db, path, 7, |event| event.command_id = id(3));
                set_answered(db, 7, None);
                set_answered(db, 3, Some(7));
            },
            expected: &[
                ("answered/00000000-0000-0000-0000-000000000003", "3", "7"),
                (SUMMARY, "6 keys, one per answered command, holding its first event's seq", "5 keys, differing"),
            ],
        },
        Damage {
            what: "a key no event answers",
            damage: |db, _| set_answered(db, 99, Some(2)),
            expected: &[(
                SUMMARY,
                "6 keys, one per answered command, holding its first event's seq",
                "7 keys, differing",
            )],
        },
        Damage {
            what: "a key naming a later event than the first",
            damage: |db, _| set_answered(db, 2, Some(3)),
            expected: &[
                ("answered/00000000-0000-0000-0000-000000000002", "2", "3"),
                (SUMMARY, "6 keys, one per answered command, holding its first event's seq", "6 keys, differing"),
            ],
        },
        Damage {
            // The transfer's reservation keeps id 5, which its due event carries: the table is
            // consistent with the log's first answers, but id 5 was never a command's.
            what: "the transfer at 4 answers id 50 (its key moved along), its reservation and due event keep 5",
            damage: |db, path| {
                forge(db, path, 4, |event| event.command_id = id(50));
                set_answered(db, 5, None);
                set_answered(db, 50, Some(4));
            },
            expected: &[(
                "answered/00000000-0000-0000-0000-000000000005",
                "made by the command of its id (seq 4)",
                "made by command 00000000-0000-0000-0000-000000000032",
            )],
        },
    ]
}

#[test]
fn replay_reports_every_answered_id_the_table_does_not_hold_exactly_once() {
    let built = tempfile::tempdir().unwrap();
    let clock = Arc::new(FakeClock::new(at("2026-03-02 09:00:00")));
    ledger(built.path(), &clock);
    for Damage { what, damage, expected } in damages() {
        // Given a copy of the ledger, damaged so...
        let copy = tempfile::tempdir().unwrap();
        for entry in std::fs::read_dir(built.path()).unwrap() {
            let entry = entry.unwrap();
            support::copy_tree(&entry.path(), &copy.path().join(entry.file_name()));
        }
        {
            let db = rocksdb::DB::open_cf(&rocksdb::Options::default(), copy.path(), CFS).unwrap();
            damage(&db, copy.path());
        }
        // When it is replayed, then replay reports exactly these mismatches.
        let report = Reader::open(copy.path(), clock.clone()).unwrap().replay().unwrap();
        let found: Vec<(&str, &str, &str)> = report
            .mismatches
            .iter()
            .map(|Mismatch { field, expected, found, .. }| (&**field, &**expected, &**found))
            .collect();
        assert_eq!(found, expected, "{what}");
        assert_eq!(report.events, 7, "{what}: every event replayed");
    }
}

/// Replay decodes the events on a thread of its own, behind the one walking the chain: an event
/// that does not decode (its record's hashes intact) is still reported as corruption at its seq.
#[test]
fn an_event_that_does_not_decode_is_reported_at_its_seq() {
    let built = tempfile::tempdir().unwrap();
    let clock = Arc::new(FakeClock::new(at("2026-03-02 09:00:00")));
    ledger(built.path(), &clock);
    {
        let db = rocksdb::DB::open_cf(&rocksdb::Options::default(), built.path(), CFS).unwrap();
        forge_bytes(&db, built.path(), 3, |_, mut bytes| {
            bytes.truncate(bytes.len() / 2);
            bytes
        });
    }
    let replayed = Reader::open(built.path(), clock).unwrap().replay();
    match replayed {
        Err(Error::Corruption { seq, detail }) => {
            assert_eq!(seq, 3, "{detail}");
            assert!(detail.contains("does not decode"), "{detail}");
        }
        other => panic!("{other:?}"),
    }
}
