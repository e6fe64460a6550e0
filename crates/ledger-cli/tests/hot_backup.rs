//! Hot backups (issue 23, item 12): `ledger-cli backup` from a second process while an import
//! writes. Every backup must open, verify and replay, and hold a prefix of the source's log.
//! (Through the server: `crates/ledger-server/tests/operator.rs`; in one process:
//! `crates/ledger-store/tests/operator_safety.rs`.)

#![expect(clippy::unwrap_used, reason = "a failing step should stop the test where it fails")]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;

use common::{NOW, cli, json};

/// An import file: one account, then `deposits` deposits into it.
fn import_file(path: &Path, deposits: u128) {
    let mut text = String::from(
        r#"{"type":"open_account","id":"00000000-0000-4000-8000-000000000001","at":"2026-03-02T09:00:00+08:00","account":70,"customer":7,"class":"I","verified_in_person":true}"#,
    );
    text.push('\n');
    for i in 0..deposits {
        let id = uuid::Uuid::from_u128(0x1000_0000 + i);
        text.push_str(&format!(
            r#"{{"type":"cash_deposit","id":"{id}","at":"2026-03-02T09:00:00+08:00","account":70,"amount":"1"}}"#
        ));
        text.push('\n');
    }
    std::fs::write(path, text).unwrap();
}

#[test]
fn backups_taken_from_another_process_while_an_import_writes_open_verify_and_replay() {
    // Given a ledger and an import of 60,000 commands running in its own process (batches of 100)
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("ledger");
    assert_eq!(cli(&db, &["init"]).0, 0);
    let file = dir.path().join("day.jsonl");
    import_file(&file, 60_000);
    let mut import = Command::new(env!("CARGO_BIN_EXE_ledger-cli"))
        .arg("--db")
        .arg(&db)
        .args(["--now", NOW, "import"])
        .arg(&file)
        .args(["--batch", "100"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // When backups are taken one after another until it ends (at most 30, or 120 s)
    let started = Instant::now();
    let mut backups = Vec::new();
    let mut during_import = 0;
    while backups.len() < 30 && started.elapsed() < Duration::from_secs(120) {
        let running = import.try_wait().unwrap().is_none();
        let copy = dir.path().join(format!("backup-{}", backups.len()));
        let (code, out, err) = cli(&db, &["--json", "backup", copy.to_str().unwrap()]);
        // Then each one was written, opened, verified and replayed (the old copies failed to
        // open: "records 3002..=49011 were acknowledged … but the log ends at 3001")
        assert_eq!(code, 0, "backup {} (import running: {running}): {out}{err}", backups.len());
        let head = json(&out)["head"].as_str().unwrap().to_owned();
        if running && import.try_wait().unwrap().is_none() {
            during_import += 1;
        }
        backups.push((copy, head));
        if !running {
            break;
        }
    }
    assert!(import.wait().unwrap().success());
    assert!(during_import >= 1, "no backup was taken while the import ran");
    // And each copy is a prefix of the source's log, and opens for writing too
    for (copy, head) in &backups {
        let (code, out, err) = cli(&db, &["verify", "--expect-head", head]);
        assert_eq!(code, 0, "{}: source does not hold its head {head}: {out}{err}", copy.display());
        for args in [&["verify"][..], &["replay"], &["tick"]] {
            let (code, out, err) = cli(copy, args);
            assert_eq!(code, 0, "{} {args:?}: {out}{err}", copy.display());
        }
    }
}
