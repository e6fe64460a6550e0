//! A writer's open that converts a ledger says so on standard error, table by table, and later
//! opens say nothing: the operator of a large ledger's first open after an upgrade is not left
//! looking at a silent command (26 s at 10M accounts, docs/PERFORMANCE.md).

mod common;

use std::path::Path;

use common::{cli_at, copy_tree};

/// After the fixture's last record.
const LATER: &str = "2026-03-05T10:00:00+08:00";

#[test]
fn a_writer_converting_a_layout_4_ledger_reports_each_table_and_then_is_quiet() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    copy_tree(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../ledger-store/tests/fixtures/ledger-v2-layout4"), &db);

    // A reader converts nothing and says nothing.
    let (code, out, err) = cli_at(&db, LATER, &["verify"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(!err.contains("converting"), "{err}");

    // The first writer's open: one announcement, then each table with its count (standard
    // error is a pipe here: no bar, the lines still come).
    let (code, out, err) = cli_at(&db, LATER, &["tick"]);
    assert_eq!(code, 0, "{out}{err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 4, "{err}");
    assert!(lines[0].starts_with("converting the ledger to layout 5 (once"), "{err}");
    for (line, expected) in lines[1..].iter().zip(["history: 15 keys", "customers: 3 keys", "accounts: 3 keys"]) {
        assert!(line.trim_start().starts_with(expected) && line.contains(" copied in "), "{line}");
    }
    assert!(out.starts_with("time advanced"), "{out}");

    // Converted: the next writer's open says nothing.
    let (code, out, err) = cli_at(&db, LATER, &["tick"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(err, "", "nothing to convert, nothing said");
}

#[test]
fn a_conversion_goes_on_when_standard_error_cannot_be_written() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    copy_tree(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../ledger-store/tests/fixtures/ledger-v2-layout4"), &db);

    // Given a standard error that refuses every write (a full device), when a writer converts:
    // the lines are dropped, the command still does its work.
    let full = std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_ledger-cli"))
        .arg("--db")
        .arg(&db)
        .args(["--now", LATER, "tick"])
        .stdin(std::process::Stdio::null())
        .stderr(full)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{out}");
    assert!(out.starts_with("time advanced"), "{out}");

    // Then the ledger is converted: the next writer's open has nothing to say.
    let (code, out, err) = cli_at(&db, LATER, &["tick"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(err, "");
}
