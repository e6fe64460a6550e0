//! Checkpoints on a schedule (docs/FORMAT.md, "Recorded checkpoints"): where the writer records
//! them, that they change no decision, that a restart neither repeats nor skips one, that their
//! notes are the checkpoints `checkpoint_at` makes, and that verify and replay check each one.

#![expect(clippy::unwrap_used, reason = "a failing step should stop the test where it fails")]

mod support;

use std::path::Path;
use std::sync::Arc;

use ledger_core::{
    AccountClass, AccountId, Amount, Command, CommandBody, CommandId, CustomerId, Event, EventBody, Policy, Timestamp,
};
use ledger_store::codec::{self, Record};
use ledger_store::{Checkpoint, Error, FakeClock, Ledger, LedgerOptions, Reader, SigningKey};
use uuid::Uuid;

fn at(text: &str) -> Timestamp {
    format!("{}+08:00", text.replace(' ', "T")).parse().unwrap()
}

fn options(clock: &Arc<FakeClock>, every: u64, key: Option<SigningKey>) -> LedgerOptions {
    LedgerOptions {
        clock: clock.clone(),
        max_ahead_of_clock: None,
        checkpoint_every: every,
        checkpoint_key: key,
        ..LedgerOptions::default()
    }
}

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn policy() -> Command {
    let body = CommandBody::ChangePolicy {
        effective_from: Timestamp::UNIX_EPOCH,
        policy: Box::new(Policy::preset("default").unwrap()),
    };
    Command { id: CommandId(Uuid::from_u128(1)), at: Timestamp::UNIX_EPOCH, body, stamped: false }
}

fn cmd(id: u128, time: &str, body: CommandBody) -> Command {
    Command { id: CommandId(Uuid::from_u128(id)), at: at(time), body, stamped: false }
}

fn tick(id: u128, time: &str) -> Command {
    cmd(id, time, CommandBody::Tick)
}

/// A day of business across a midnight: accounts, deposits, transfers, one refused for funds,
/// one for the Class II day limit, a delayed transfer that comes due after midnight.
fn business() -> Vec<Command> {
    let cny = |text: &str| -> Amount { text.parse().unwrap() };
    let open = |account, class, bound: Option<u64>| CommandBody::OpenAccount {
        account: AccountId(account),
        customer: CustomerId(7),
        class,
        binding: bound.map(|b| ledger_core::Binding::Account(AccountId(b))),
        verified_in_person: true,
        with_card: false,
    };
    let transfer = |from, to, amount: &str| CommandBody::InternalTransfer {
        from: AccountId(from),
        to: AccountId(to),
        amount: cny(amount),
    };
    let delayed = CommandBody::DelayedTransfer {
        from: AccountId(10),
        counterparty: "CCB-1".into(),
        amount: cny("50"),
        arrival: ledger_core::Arrival::NextDay,
    };
    vec![
        policy(),
        cmd(2, "2026-03-02 09:00:00", open(10, AccountClass::I, None)),
        cmd(3, "2026-03-02 09:00:00", CommandBody::CashDeposit { account: AccountId(10), amount: cny("100000") }),
        cmd(4, "2026-03-02 09:01:00", open(11, AccountClass::II, Some(10))),
        cmd(5, "2026-03-02 09:02:00", transfer(10, 11, "9000")),
        cmd(6, "2026-03-02 09:03:00", transfer(10, 11, "2000")),
        cmd(7, "2026-03-02 09:04:00", CommandBody::CashWithdrawal { account: AccountId(11), amount: cny("99999") }),
        cmd(8, "2026-03-02 22:00:00", delayed),
        cmd(9, "2026-03-02 23:59:59", transfer(11, 10, "100")),
        cmd(10, "2026-03-03 00:00:00", transfer(10, 11, "9000")),
        tick(11, "2026-03-03 10:00:00"),
        cmd(12, "2026-03-03 10:00:00", transfer(10, 11, "2000")),
        cmd(13, "2026-03-04 08:00:00", transfer(10, 11, "1")),
    ]
}

/// Every record's event, from seq 1.
fn events(reader: &Reader) -> Vec<Event> {
    (1..=reader.head().unwrap().seq).map(|seq| reader.event(seq).unwrap()).collect()
}

/// `(seq, size)` of every recorded checkpoint.
fn checkpoints(reader: &Reader) -> Vec<(u64, u64)> {
    let recorded = events(reader).into_iter().zip(1..);
    recorded.filter_map(|(event, seq)| checkpoint_size(&event).map(|size| (seq, size))).collect()
}

fn checkpoint_size(event: &Event) -> Option<u64> {
    match event.body {
        EventBody::Checkpointed { size, .. } => Some(size),
        _ => None,
    }
}

#[test]
fn a_checkpoint_is_recorded_at_every_multiple_of_n_and_before_the_first_record_of_each_day() {
    let morning = "2026-03-02 09:00:00";
    // (name, every, commands after the policy as (time, count), (seq, size) of every checkpoint)
    type Row<'a> = (&'a str, u64, Vec<(&'a str, usize)>, Vec<(u64, u64)>);
    let table: Vec<Row<'_>> = vec![
        ("off", 0, vec![(morning, 9)], vec![]),
        // seq 1 is the policy at 1970-01-01: the first command of 2026 starts a new day.
        ("every 4", 4, vec![(morning, 6)], vec![(2, 1), (5, 4), (9, 8)]),
        (
            "one per midnight",
            100,
            vec![("2026-03-02 23:59:59", 1), ("2026-03-03 00:00:00", 2), ("2026-03-05 05:00:00", 1)],
            vec![(2, 1), (4, 3), (7, 6)],
        ),
        // The day's checkpoint lands on a multiple of N: the size-2 one follows it at once.
        ("a day's on a multiple", 2, vec![(morning, 1), ("2026-03-02 10:00:00", 1)], vec![(2, 1), (3, 2), (5, 4)]),
        ("a day without records", 100, vec![(morning, 1), ("2026-03-09 09:00:00", 1)], vec![(2, 1), (4, 3)]),
    ];
    for (name, every, ticks, expected) in table {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(FakeClock::new(at(morning)));
        let ledger = Ledger::create(dir.path(), options(&clock, every, None)).unwrap();
        ledger.submit(policy()).unwrap();
        let mut id = 100;
        for (time, count) in ticks {
            for _ in 0..count {
                id += 1;
                ledger.submit(tick(id, time)).unwrap();
            }
        }
        assert_eq!(checkpoints(&ledger), expected, "{name}");
        // What the server and `ledger-cli checkpoints` read: all, by size, the latest, the nearest.
        let listed = ledger.recorded_checkpoints(1, u64::MAX).unwrap();
        assert_eq!(listed.iter().map(|found| (found.seq, found.size)).collect::<Vec<_>>(), expected, "{name}");
        assert_eq!(ledger.latest_recorded_checkpoint().unwrap(), listed.last().cloned(), "{name}");
        for size in 0..=ledger.head().unwrap().seq + 1 {
            let by_size = ledger.recorded_checkpoint(size).unwrap();
            assert_eq!(by_size.as_ref(), listed.iter().find(|found| found.size == size), "{name}: size {size}");
            let below = listed.iter().rev().find(|found| found.size < size).map(|found| found.size);
            let above = listed.iter().find(|found| found.size > size).map(|found| found.size);
            assert_eq!(ledger.nearest_recorded_sizes(size).unwrap(), (below, above), "{name}: near {size}");
        }
        // Each records the tree it names, and changes no business time.
        for (seq, size) in expected {
            let event = ledger.event(seq).unwrap();
            let EventBody::Checkpointed { root, note, .. } = &event.body else { unreachable!() };
            assert_eq!(*root, hex::encode(ledger.merkle_root(size).unwrap()), "{name}: root at {seq}");
            assert_eq!(*note, None, "{name}: no key, no note");
            assert_eq!(event.at, ledger.event(size).unwrap().at, "{name}: the head's time at {seq}");
        }
        assert_eq!(ledger.verify(1, None).unwrap().head.seq, ledger.head().unwrap().seq, "{name}");
        assert!(ledger.replay().unwrap().mismatches.is_empty(), "{name}");
    }
}

#[test]
fn checkpoints_change_no_decision_whether_a_batch_is_split_by_one_or_not() {
    // Given the same commands, when submitted to a ledger without checkpoints and to one with a
    // checkpoint every 3 records (in one batch and one by one), then the events other than
    // the checkpoints are the same, in the same order, and so is every answer but its seq.
    let clock = Arc::new(FakeClock::new(at("2026-03-04 09:00:00")));
    let run = |every: u64, one_batch: bool| {
        let dir = tempfile::tempdir().unwrap();
        // Unsigned: a note names the ledger's own (random) id, so two ledgers' logs would differ.
        let ledger = Ledger::create(dir.path(), options(&clock, every, None)).unwrap();
        let receipts: Vec<_> = if one_batch {
            ledger.submit_batch(business()).unwrap()
        } else {
            business().into_iter().map(|command| ledger.submit(command).unwrap()).collect()
        };
        let answers: Vec<_> = receipts.into_iter().map(|receipt| (receipt.event, receipt.rule)).collect();
        let all = events(&ledger);
        let kept: Vec<Event> = all.iter().filter(|event| checkpoint_size(event).is_none()).cloned().collect();
        (answers, all.len() - kept.len(), kept, ledger.head().unwrap())
    };
    let (answers, none, events_plain, _) = run(0, true);
    assert_eq!(none, 0);
    assert!(answers.iter().any(|(event, _)| matches!(event.body, EventBody::Rejected { .. })), "rejections included");
    assert!(
        events_plain.iter().any(|event| matches!(event.body, EventBody::ReservationSettled { .. })),
        "something came due"
    );
    let (batch_answers, batch_checkpoints, batch_events, batch_head) = run(3, true);
    let (single_answers, _, single_events, single_head) = run(3, false);
    assert!(batch_checkpoints >= 6, "{batch_checkpoints} checkpoints");
    assert_eq!(batch_answers, answers);
    assert_eq!(batch_events, events_plain);
    assert_eq!((single_answers, single_events), (answers, events_plain));
    // One batch or one command at a time: the same log, byte for byte.
    assert_eq!(single_head, batch_head);
}

#[test]
fn a_restart_neither_repeats_nor_skips_a_checkpoint() {
    // Given the same commands, when the ledger is closed and reopened after each of the
    // commands named, then the log is the same record for record as without a restart
    // (unsigned: a note names the ledger's own random id, so two ledgers' logs would differ).
    let clock = Arc::new(FakeClock::new(at("2026-03-04 09:00:00")));
    let commands = business();
    let unbroken = {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::create(dir.path(), options(&clock, 4, None)).unwrap();
        ledger.submit_batch(commands.clone()).unwrap();
        (checkpoints(&ledger), ledger.head().unwrap())
    };
    let restarts: [&[usize]; 3] = [&[1], &[2, 3, 4, 8, 9], &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]];
    for after in restarts {
        let dir = tempfile::tempdir().unwrap();
        let mut ledger = Ledger::create(dir.path(), options(&clock, 4, None)).unwrap();
        for (index, command) in commands.iter().enumerate() {
            ledger.submit(command.clone()).unwrap();
            if after.contains(&(index + 1)) {
                ledger.close().unwrap();
                ledger = Ledger::open(dir.path(), options(&clock, 4, None)).unwrap();
            }
        }
        assert_eq!((checkpoints(&ledger), ledger.head().unwrap()), unbroken, "restarts after {after:?}");
    }
}

#[test]
fn a_recorded_note_is_the_checkpoint_of_its_size_and_verifies_with_the_ledger_key_only() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(FakeClock::new(at("2026-03-04 09:00:00")));
    let ledger = Ledger::create(dir.path(), options(&clock, 5, Some(key(1)))).unwrap();
    ledger.submit_batch(business()).unwrap();
    let recorded = checkpoints(&ledger);
    assert!(recorded.len() >= 4, "{recorded:?}");
    for (seq, size) in &recorded {
        let event = ledger.event(*seq).unwrap();
        let EventBody::Checkpointed { note: Some(note), .. } = &event.body else { panic!("seq {seq} is unsigned") };
        // The same bytes `ledger-cli checkpoint` / `GET /v1/checkpoints?size=` make of that size.
        let made = ledger.checkpoint_at(&key(1), *size, event.at, false).unwrap();
        assert_eq!(*note, made.to_text().unwrap(), "seq {seq}");
        let parsed = Checkpoint::parse(note).unwrap();
        parsed.verify(Some(&key(1).verifying_key())).unwrap();
        assert!(parsed.verify(Some(&key(2).verifying_key())).is_err());
        assert_eq!(parsed.origin(), Some(ledger.origin().unwrap().as_str()));
    }
    // The auditors' verifier decodes them from FORMAT.md's tables (and checks the chain and
    // each one's root against the tree it recomputes).
    let (code, printed) = python_verify_export(&ledger);
    assert_eq!(code, Some(0), "verify_export.py: {printed}");
    assert!(printed.contains(&format!("decoded {} checkpointed", recorded.len())), "{printed}");
    let mut progress = |_| {};
    let head = ledger.head().unwrap();
    // (key given to verify, the seq it names or None)
    let table = [(None, None), (Some(key(1)), None), (Some(key(2)), Some(recorded[0].0))];
    for (given, names) in table {
        let public = given.map(|key| key.verifying_key());
        match (ledger.verify_signed(1, None, public.as_ref(), &mut progress), names) {
            (Ok(report), None) => assert_eq!(report.head, head),
            (Err(Error::Corruption { seq, detail }), Some(named)) => {
                assert_eq!(seq, named, "{detail}");
                assert!(detail.contains("recorded checkpoint"), "{detail}");
            }
            (other, _) => panic!("key {public:?}: {other:?}"),
        }
    }
}

/// A copy of the closed ledger at `path`, to forge.
fn copy_of(path: &Path) -> tempfile::TempDir {
    let copy = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(path).unwrap() {
        let entry = entry.unwrap();
        support::copy_tree(&entry.path(), &copy.path().join(entry.file_name()));
    }
    copy
}

/// `tools/verify_export.py --kinds` on the reader's export.
fn python_verify_export(reader: &Reader) -> (Option<i32>, String) {
    python_verify_export_with(reader, &["--kinds"])
}

/// `tools/verify_export.py ARGS` on the reader's export: its exit code and what it printed.
fn python_verify_export_with(reader: &Reader, args: &[&str]) -> (Option<i32>, String) {
    let mut export = Vec::new();
    reader.export(1, None, &mut export).unwrap();
    let out = tempfile::tempdir().unwrap();
    let file = out.path().join("export.jsonl");
    std::fs::write(&file, export).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tools/verify_export.py");
    let output = std::process::Command::new("python3").arg(script).arg(&file).args(args).output().unwrap();
    let printed = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.code(), printed)
}

/// Rewrites records `from..=head` of the closed ledger at `path` as a forger would: the event
/// at `from` replaced by `edit`'s, every hash after it recomputed, the head and its witness
/// moved along, the snapshot dropped; only a check of the checkpoint itself can tell.
fn forge(path: &Path, from: u64, mut edit: impl FnMut(&mut Event)) {
    let db = rocksdb::DB::open_cf(
        &rocksdb::Options::default(),
        path,
        ["log", "accounts", "customers", "history", "meta", "answered"],
    )
    .unwrap();
    let (log, meta) = (db.cf_handle("log").unwrap(), db.cf_handle("meta").unwrap());
    let (head, _) = codec::decode_head(&db.get_cf(meta, b"head").unwrap().unwrap()).unwrap();
    let mut prev = Record::decode(from - 1, &db.get_cf(log, (from - 1).to_be_bytes()).unwrap().unwrap()).unwrap().hash;
    for seq in from..=head {
        let record = Record::decode(seq, &db.get_cf(log, seq.to_be_bytes()).unwrap().unwrap()).unwrap();
        let mut event_bytes = record.event_bytes.clone();
        if seq == from {
            let mut event = codec::decode_event(seq, &event_bytes).unwrap();
            edit(&mut event);
            event_bytes = codec::encode_event(&event).unwrap();
        }
        let forged = Record::new(seq, prev, event_bytes);
        db.put_cf(log, seq.to_be_bytes(), forged.encode()).unwrap();
        prev = forged.hash;
    }
    db.put_cf(meta, b"head", codec::encode_head(head, &prev)).unwrap();
    db.delete_cf(meta, b"snapshot").unwrap();
    drop(db);
    std::fs::write(path.join("HEAD-WITNESS"), codec::encode_witness(head, &prev)).unwrap();
}

#[test]
fn verify_and_replay_name_a_recorded_checkpoint_whose_root_was_edited() {
    // Under 16 records: no stored Merkle node depends on the rewritten hashes.
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(FakeClock::new(at("2026-03-04 09:00:00")));
    let ledger = Ledger::create(dir.path(), options(&clock, 4, None)).unwrap();
    ledger.submit_batch(business()[..9].to_vec()).unwrap();
    let (seq, _) = *checkpoints(&ledger).iter().find(|(_, size)| *size == 4).unwrap();
    assert!(ledger.head().unwrap().seq < 16);
    ledger.close().unwrap();
    // (what is edited, the detail verify gives)
    type Edit = fn(&mut String);
    let table: [(&str, Edit); 2] = [
        ("one byte of the root", |root| root.replace_range(10..12, if &root[10..12] == "00" { "01" } else { "00" })),
        ("the root of the tree before", |root| {
            *root = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855".into()
        }),
    ];
    for (name, change) in table {
        let copy = copy_of(dir.path());
        forge(copy.path(), seq, |event| {
            if let EventBody::Checkpointed { root, .. } = &mut event.body {
                change(root);
            }
        });
        let reader = Reader::open(copy.path(), clock.clone()).unwrap();
        // The auditors' verifier recomputes the tree from the export and names the record too.
        let (code, printed) = python_verify_export(&reader);
        assert_eq!(code, Some(1), "{name}: {printed}");
        assert!(printed.contains(&format!("seq {seq}: recorded checkpoint: root")), "{name}: {printed}");
        for (what, result) in [("verify", reader.verify(1, None).map(|_| ())), ("replay", reader.replay().map(|_| ()))]
        {
            match result {
                Err(Error::Corruption { seq: named, detail }) => {
                    assert_eq!(named, seq, "{name}, {what}: {detail}");
                    assert!(detail.contains("is not the Merkle root"), "{name}, {what}: {detail}");
                }
                other => panic!("{name}, {what}: {other:?}"),
            }
        }
    }
}

#[test]
fn a_format_1_ledger_takes_recorded_checkpoints_after_its_old_records() {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ledger-v1")).unwrap() {
        let entry = entry.unwrap();
        support::copy_tree(&entry.path(), &dir.path().join(entry.file_name()));
    }
    let clock = Arc::new(FakeClock::new(at("2026-03-09 09:00:00")));
    let ledger = Ledger::open(dir.path(), options(&clock, 4, Some(key(3)))).unwrap();
    assert_eq!(ledger.head().unwrap().seq, 15);
    ledger.submit(tick(900, "2026-03-09 09:00:00")).unwrap();
    // 15 old records, then the day's checkpoint (also the multiple of 4 it reaches), the tick.
    assert_eq!(checkpoints(&ledger), vec![(16, 15), (17, 16)]);
    let public = key(3).verifying_key();
    assert_eq!(ledger.verify_signed(1, None, Some(&public), &mut |_| {}).unwrap().head.seq, 18);
    assert!(ledger.replay().unwrap().mismatches.is_empty());
}

#[test]
fn a_dry_run_numbers_its_answer_as_the_commit_will_after_the_checkpoints_due_first() {
    // Given a checkpoint every 3 records, when each command is first checked then submitted,
    // then the dry run's seq is the seq the commit gives it (checkpoints and due events first).
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(FakeClock::new(at("2026-03-04 09:00:00")));
    let ledger = Ledger::create(dir.path(), options(&clock, 3, None)).unwrap();
    let mut compared = 0;
    for command in business() {
        let checked = ledger.check(command.clone()).unwrap();
        let submitted = ledger.submit(command).unwrap();
        assert_eq!(checked.seq, submitted.seq, "{:?}", submitted.event.body);
        compared += 1;
    }
    assert_eq!(compared, business().len());
    assert!(checkpoints(&ledger).len() >= 5, "{:?}", checkpoints(&ledger));
}

#[test]
fn a_checkpoint_after_every_record_is_refused_at_open() {
    // (every, opens): 1 would record a checkpoint after every record, checkpoints included.
    let clock = Arc::new(FakeClock::new(at("2026-03-04 09:00:00")));
    for (every, opens) in [(0, true), (1, false), (2, true)] {
        let dir = tempfile::tempdir().unwrap();
        match Ledger::create(dir.path(), options(&clock, every, None)) {
            Ok(ledger) => assert!(opens, "{every}: {:?}", ledger.head()),
            Err(Error::InvalidArgument(why)) => assert!(!opens && why.contains("checkpoint_every"), "{every}: {why}"),
            Err(err) => panic!("{every}: {err}"),
        }
    }
}

/// Given recorded checkpoints (whose command id is the nil UUID), when a client's command uses
/// the nil UUID as its id, across a restart, then it is decided as a new command (not answered as
/// a duplicate of a checkpoint), a retry of it is its duplicate, and the answered-id table holds
/// no checkpoint (replay checks the table against the log).
#[test]
fn a_command_with_the_nil_id_is_never_taken_for_a_recorded_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(FakeClock::new(at("2026-03-09 09:00:00")));
    let ledger = Ledger::create(dir.path(), options(&clock, 2, Some(key(5)))).unwrap();
    ledger.submit(policy()).unwrap();
    for id in 2..6 {
        ledger.submit(tick(id, "2026-03-09 09:00:00")).unwrap();
    }
    assert!(!checkpoints(&ledger).is_empty(), "checkpoints were recorded");
    ledger.close().unwrap();
    let ledger = Ledger::open(dir.path(), options(&clock, 2, Some(key(5)))).unwrap();
    let nil = Command { id: CommandId(Uuid::nil()), ..tick(0, "2026-03-09 09:00:01") };
    // (what, then its status)
    for (what, status) in
        [("first", ledger_store::AnswerStatus::Accepted), ("retry", ledger_store::AnswerStatus::Duplicate)]
    {
        assert_eq!(ledger.submit(nil.clone()).unwrap().status(), status, "{what}");
    }
    assert!(ledger.replay().unwrap().mismatches.is_empty());
}

/// Given a signed recorded checkpoint, when its note is rewritten to state another tree or time
/// than its record (the chain rewritten after it, as a forger would), then `verify` and the
/// export verifier (tools/verify_export.py, no key needed) name that record; with the ledger's
/// key, a checkpoint recorded without a note fails `verify` and the export verifier too.
#[test]
fn a_recorded_note_that_contradicts_its_record_or_is_missing_is_named_by_both_verifiers() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(FakeClock::new(at("2026-03-04 09:00:00")));
    let ledger = Ledger::create(dir.path(), options(&clock, 4, Some(key(3)))).unwrap();
    ledger.submit_batch(business()[..9].to_vec()).unwrap();
    let (seq, _) = *checkpoints(&ledger).iter().find(|(_, size)| *size == 4).unwrap();
    let recorded = checkpoints(&ledger).len() as u64;
    assert!(ledger.head().unwrap().seq < 16, "no stored Merkle node depends on the rewritten hashes");
    ledger.close().unwrap();
    let line = |note: &mut String, index: usize, text: &str| {
        let mut lines: Vec<String> = note.split('\n').map(str::to_owned).collect();
        lines[index] = text.to_owned();
        *note = lines.join("\n");
    };
    // (what is edited in the note, the line the export verifier names; None: the note dropped)
    type Edit = Box<dyn Fn(&mut Option<String>)>;
    let table: Vec<(&str, Option<&str>, Edit)> = vec![
        ("the size line", Some("size"), Box::new(move |note| line(note.as_mut().unwrap(), 1, "5"))),
        (
            "the head line",
            Some("head"),
            Box::new(move |note| line(note.as_mut().unwrap(), 3, &format!("head 4:{}", "0".repeat(64)))),
        ),
        (
            "the time line",
            Some("time"),
            Box::new(move |note| line(note.as_mut().unwrap(), 4, "time 2027-03-04T09:00:00+08:00")),
        ),
        ("the note dropped", None, Box::new(|note| *note = None)),
    ];
    let public = key(3).verifying_key();
    let public_hex = hex::encode(public.as_bytes());
    for (name, named_line, change) in table {
        let copy = copy_of(dir.path());
        forge(copy.path(), seq, |event| {
            if let EventBody::Checkpointed { note, .. } = &mut event.body {
                change(note);
            }
        });
        let reader = Reader::open(copy.path(), clock.clone()).unwrap();
        let (code, printed) = match named_line {
            Some(_) => python_verify_export_with(&reader, &[]),
            None => python_verify_export_with(&reader, &["--public-key", &public_hex]),
        };
        assert_eq!(code, Some(1), "{name}: {printed}");
        let expected = match named_line {
            Some(what) => format!("seq {seq}: recorded checkpoint: the note's {what}"),
            None => format!("seq {seq}: recorded checkpoint: unsigned"),
        };
        assert!(printed.contains(&expected), "{name}: {printed}");
        let checked = reader.verify_signed(1, None, Some(&public), &mut |_| {});
        let Err(Error::Corruption { seq: named, detail }) = checked else { panic!("{name}: verify: {checked:?}") };
        assert_eq!(named, seq, "{name}: {detail}");
    }
    // Unedited, both pass with the key.
    let reader = Reader::open(dir.path(), clock.clone()).unwrap();
    assert_eq!(reader.verify_signed(1, None, Some(&public), &mut |_| {}).unwrap().checkpoints_checked, recorded);
}
