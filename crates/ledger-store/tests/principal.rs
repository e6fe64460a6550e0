//! Record format 2: every event names who submitted its command (the principal), and a rejected
//! command keeps no text over its limit (its length and digest instead). A ledger of today's
//! layout holding format-1 records opens, verifies, replays and answers retries unchanged, and its
//! new records are format 2 (docs/FORMAT.md, "Record versions").

#![expect(clippy::unwrap_used, reason = "a failing step should stop the test where it fails")]

use std::path::Path;
use std::sync::Arc;

use ledger_core::{AccountId, Amount, Arrival, Command, CommandBody, CommandId, Principal, Timestamp, parse_command};
use ledger_store::{Clock, FakeClock, Ledger, LedgerOptions, Reader};
use serde_json::Value;
use uuid::Uuid;

fn at(text: &str) -> Timestamp {
    format!("{text}+08:00").parse().unwrap()
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

fn options(clock: &Arc<FakeClock>, principal: Principal) -> LedgerOptions {
    LedgerOptions { clock: clock.clone(), max_ahead_of_clock: None, principal, ..LedgerOptions::default() }
}

/// The export's lines, parsed.
fn export(reader: &Reader) -> Vec<Value> {
    let mut out = Vec::new();
    reader.export(1, None, &mut out).unwrap();
    String::from_utf8(out).unwrap().lines().map(|line| serde_json::from_str(line).unwrap()).collect()
}

fn python_verifies(lines: &[Value], dir: &Path) {
    let file = dir.join("export.jsonl");
    let text: String = lines.iter().map(|line| format!("{line}\n")).collect();
    std::fs::write(&file, text).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tools/verify_export.py");
    let output = std::process::Command::new("python3").arg(script).arg(&file).output().unwrap();
    assert!(output.status.success(), "verify_export.py: {}", String::from_utf8_lossy(&output.stdout));
}

fn cmd(id: u128, time: &str, body: CommandBody) -> Command {
    Command { id: CommandId(Uuid::from_u128(id)), at: at(time), body, stamped: false }
}

/// `tests/fixtures/ledger-v1` (format-1 records written by commit 536ced4) brought to today's
/// layout by a writer's open that adds no record: layout 2, snapshot layout 3, the Merkle tree.
/// Its 15 records are exactly what a ledger of today's build holds before format 2.
#[test]
fn a_format_1_ledger_opens_verifies_replays_answers_retries_and_appends_format_2() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    std::fs::create_dir(&db).unwrap();
    copy_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ledger-v1"), &db);
    let clock = Arc::new(FakeClock::new(at("2026-03-03T09:00:00")));
    let back_office = Principal::new("core-banking", "back-office").unwrap();
    Ledger::open(&db, options(&clock, back_office.clone())).unwrap().close().unwrap();
    let old = export(&Reader::open(&db, clock.clone()).unwrap());
    assert_eq!(old.len(), 15);
    // It got an id for its checkpoints' origin at that open, kept by the next ones.
    let origin = Reader::open(&db, clock.clone()).unwrap().origin().unwrap();
    assert!(origin.starts_with("tiered-ledger/") && origin.len() == 14 + 32, "{origin}");
    Ledger::open(&db, options(&clock, back_office.clone())).unwrap().close().unwrap();
    assert_eq!(Reader::open(&db, clock.clone()).unwrap().origin().unwrap(), origin);
    assert!(old.iter().all(|line| line["event_hex"].as_str().unwrap().starts_with("10")), "format-1 bytes");
    assert!(old.iter().all(|line| line["event"]["principal"].is_null()), "format 1 names no principal");

    // Opens, verifies and replays; every command of the fixture retried is its first answer.
    let ledger = Ledger::open(&db, options(&clock, back_office.clone())).unwrap();
    assert_eq!(ledger.verify(1, None).unwrap().head.seq, 15);
    assert!(ledger.replay().unwrap().mismatches.is_empty());
    let commands = include_str!("fixtures/ledger-v1.commands.jsonl");
    for (line, expected) in commands.lines().zip(old.iter().skip(1)) {
        let receipt = ledger.submit(parse_command(line, clock.now()).unwrap()).unwrap();
        // The `default` preset a change_policy line names has gained a source since the fixture
        // was written: that retry is another request now (a conflict), as it was before format 2.
        let changed_preset = line.contains("\"preset\":\"default\"");
        assert!(receipt.duplicate && receipt.conflict == changed_preset, "{line}: {receipt:?}");
        assert_eq!(receipt.seq, expected["seq"].as_u64().unwrap());
        assert_eq!(receipt.event.principal, None);
    }

    // New records are format 2 and name their principal: the handle's, another handle's, and
    // the ledger's for what comes due.
    let deposit = CommandBody::CashDeposit { account: AccountId(70), amount: Amount::from_yuan(10).unwrap() };
    let receipt = ledger.submit(cmd(500, "2026-03-03T09:00:00", deposit.clone())).unwrap();
    assert_eq!(receipt.event.principal.as_ref(), Some(&back_office));
    let teller = Principal::new("teller-7", "back-office").unwrap();
    let receipt = ledger.acting_as(teller.clone()).submit(cmd(501, "2026-03-03T09:00:00", deposit)).unwrap();
    assert_eq!(receipt.event.principal.as_ref(), Some(&teller));
    let transfer = CommandBody::DelayedTransfer {
        from: AccountId(70),
        counterparty: "CCB-1".into(),
        amount: Amount::from_yuan(5).unwrap(),
        arrival: Arrival::NextDay,
    };
    assert!(ledger.submit(cmd(502, "2026-03-03T09:00:00", transfer)).unwrap().pending().is_some());
    let tick = ledger.submit(cmd(503, "2026-03-04T09:00:00", CommandBody::Tick)).unwrap();
    let due = ledger.event(tick.seq - 1).unwrap();
    assert_eq!(due.command_id, CommandId(Uuid::from_u128(502)), "the transfer came due before the tick");
    assert_eq!(due.principal, Some(Principal::ledger()));
    let head = ledger.head().unwrap();
    ledger.close().unwrap();

    // Reopened: the old records are byte for byte what they were, the new ones format 2; the
    // whole chain verifies, replays, and passes the auditors' verifier.
    let ledger = Ledger::open(&db, options(&clock, back_office)).unwrap();
    assert_eq!(ledger.verify(1, None).unwrap().head, head);
    assert!(ledger.replay().unwrap().mismatches.is_empty());
    let all = export(&ledger);
    assert_eq!(&all[..15], &old[..], "format-1 records are never rewritten");
    for line in &all[15..] {
        assert!(line["event_hex"].as_str().unwrap().starts_with("02"), "format 2: {line}");
        assert!(line["event"]["principal"]["name"].is_string(), "{line}");
    }
    python_verifies(&all, dir.path());
    ledger.close().unwrap();
}

#[test]
fn a_rejected_command_keeps_no_oversized_text_and_its_retries_compare_by_digest() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(FakeClock::new(at("2026-03-02T09:00:00")));
    let ledger =
        Ledger::create(dir.path().join("db"), options(&clock, Principal::new("core", "back-office").unwrap())).unwrap();
    let policy = Box::new(ledger_core::Policy::preset("default").unwrap());
    let genesis = CommandBody::ChangePolicy { effective_from: Timestamp::UNIX_EPOCH, policy };
    assert!(ledger.submit(cmd(1, "2026-03-02T09:00:00", genesis)).unwrap().is_accepted());
    let open = CommandBody::open_class_i(AccountId(1), ledger_core::CustomerId(1));
    assert!(ledger.submit(cmd(2, "2026-03-02T09:00:00", open)).unwrap().is_accepted());
    let pay =
        |merchant: String| CommandBody::Payment { from: AccountId(1), merchant, amount: Amount::from_fen(1).unwrap() };
    let huge = "x".repeat(1_000_000);

    // given a payment whose merchant is 1,000,000 characters, when it is submitted, then it is
    // rejected INVALID_TEXT and recorded with the merchant's length and digest, not the text
    let receipt = ledger.submit(cmd(3, "2026-03-02T09:00:00", pay(huge.clone()))).unwrap();
    assert_eq!(receipt.rejection().map(|r| r.code()), Some("INVALID_TEXT"));
    assert_eq!(receipt.event.withheld.len(), 1);
    assert_eq!((receipt.event.withheld[0].field.as_str(), receipt.event.withheld[0].chars), ("merchant", 1_000_000));
    let line = export(&ledger).pop().unwrap();
    assert!(line.to_string().len() < 2_000, "the record holds no oversized text: {} bytes", line.to_string().len());

    // retries: (the merchant, duplicate, conflict)
    let table = [(huge, true, false), ("y".repeat(1_000_000), true, true), ("shop".to_owned(), true, true)];
    for (merchant, duplicate, conflict) in table {
        let chars = merchant.len();
        let receipt = ledger.submit(cmd(3, "2026-03-02T09:00:00", pay(merchant))).unwrap();
        assert_eq!((receipt.duplicate, receipt.conflict), (duplicate, conflict), "merchant of {chars} characters");
        assert_eq!(receipt.seq, 3);
    }
    // A text within its limit is kept as it is, even in a rejection.
    let control = "bell\u{7}".to_owned();
    let receipt = ledger.submit(cmd(4, "2026-03-02T09:00:00", pay(control.clone()))).unwrap();
    assert!(receipt.event.withheld.is_empty());
    assert_eq!(receipt.event.request(), Some(pay(control)));
    python_verifies(&export(&ledger), dir.path());
    ledger.close().unwrap();
}
