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
