//! Helpers shared by the end-to-end tests: run the built binary, read its JSON.

#![allow(dead_code, reason = "each test file uses its own subset")]
#![expect(clippy::unwrap_used, clippy::panic, reason = "a failing step should stop the test where it fails")]

use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;

pub const NOW: &str = "2026-03-02T12:00:00+08:00";

/// Runs `ledger-cli --db DB --now NOW ARGS`; returns (exit code, stdout, stderr).
pub fn cli(db: &Path, args: &[&str]) -> (i32, String, String) {
    cli_at(db, NOW, args)
}

/// When a back office submits a dated command: at its business time (the ledger refuses times
/// ahead of its clock), or at `NOW` when it has none.
pub fn submitted_at(line: &str) -> &str {
    let start = line.find(r#""at":""#).map(|i| i + 6);
    start.and_then(|i| line[i..].find('"').map(|end| &line[i..i + end])).unwrap_or(NOW)
}

/// Runs `ledger-cli --db DB --now TIME ARGS`.
pub fn cli_at(db: &Path, now: &str, args: &[&str]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_ledger-cli"))
        .arg("--db")
        .arg(db)
        .args(["--now", now])
        .args(args)
        // The default principal is `cli:` and the user: the same in every run.
        .env("USER", "tester")
        .env_remove("LEDGER_AS")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

pub fn json(text: &str) -> Value {
    serde_json::from_str(text.trim()).unwrap_or_else(|err| panic!("not JSON ({err}): {text}"))
}

/// A small demo ledger (60 customers, 3 days) kept under `dir` and its export: (ledger, export).
pub fn demo_and_export(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let keep = dir.join("demo");
    let (code, out, err) =
        cli(&dir.join("unused"), &["demo", "--customers", "60", "--days", "3", "--keep", keep.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    let export = dir.join("demo.jsonl");
    assert_eq!(cli(&keep, &["export", export.to_str().unwrap()]).0, 0);
    (keep, export)
}

/// Copies a file, or a directory with everything in it (a ledger's `projected/` too).
pub fn copy_tree(from: &Path, to: &Path) {
    if from.is_dir() {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            copy_tree(&entry.path(), &to.join(entry.file_name()));
        }
    } else {
        std::fs::copy(from, to).unwrap();
    }
}
