//! The auditors' independent verifier (tools/verify_export.py, Python standard library only)
//! accepts a real export and rejects tampered ones, naming the sequence number.

#![expect(clippy::unwrap_used, clippy::panic, reason = "a failing step should stop the test where it fails")]

use std::path::{Path, PathBuf};
use std::process::Command as Process;
use std::sync::Arc;

use ledger_core::{AccountClass, AccountId, Amount, Command, CommandBody, CommandId, CustomerId, Policy, Timestamp};
use ledger_store::{FakeClock, Ledger, LedgerOptions};
use uuid::Uuid;

fn verifier() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tools/verify_export.py")
}

/// Runs the verifier; returns (exit code, stdout).
fn run_verifier(export: &Path, extra: &[&str]) -> (i32, String) {
    let output = Process::new("python3")
        .arg(verifier())
        .arg(export)
        .args(extra)
        .output()
        .unwrap_or_else(|err| panic!("python3 is needed to run tools/verify_export.py: {err}"));
    (output.status.code().unwrap_or(-1), String::from_utf8_lossy(&output.stdout).into_owned())
}

fn build_export(dir: &Path) -> (PathBuf, ledger_store::Head) {
    let clock = Arc::new(FakeClock::new("2026-03-02T09:00:00+08:00".parse().unwrap()));
    let ledger = Ledger::open(dir.join("db"), LedgerOptions { clock, ..LedgerOptions::default() }).unwrap();
    let at: Timestamp = "2026-03-02T09:00:00+08:00".parse().unwrap();
    let cmd = |n: u128, body| Command { id: CommandId(Uuid::from_u128(n)), at, body };
    let policy = Box::new(Policy::preset("pboc-2018").unwrap());
    let mut commands = vec![Command {
        id: CommandId(Uuid::from_u128(1)),
        at: Timestamp::UNIX_EPOCH,
        body: CommandBody::ChangePolicy { effective_from: Timestamp::UNIX_EPOCH, policy },
    }];
    for c in 1..=3u64 {
        let base = u128::from(c) * 10;
        commands.push(cmd(
            base,
            CommandBody::OpenAccount {
                account: AccountId(c),
                customer: CustomerId(c),
                class: AccountClass::I,
                binding: None,
                verified_in_person: true,
                with_card: true,
            },
        ));
        commands.push(cmd(
            base + 1,
            CommandBody::CashDeposit { account: AccountId(c), amount: Amount::from_yuan(500).unwrap() },
        ));
        commands.push(cmd(
            base + 2,
            CommandBody::CashWithdrawal { account: AccountId(c), amount: Amount::from_yuan(900).unwrap() },
        ));
    }
    ledger.submit_batch(commands).unwrap();
    let export = dir.join("export.jsonl");
    let mut file = std::fs::File::create(&export).unwrap();
    assert_eq!(ledger.export(1, None, &mut file).unwrap(), 10);
    (export, ledger.head().unwrap())
}

fn rewrite(export: &Path, to: &Path, edit: impl Fn(usize, String) -> Option<String>) {
    let text = std::fs::read_to_string(export).unwrap();
    let lines: Vec<String> = text.lines().enumerate().filter_map(|(i, line)| edit(i, line.to_owned())).collect();
    std::fs::write(to, lines.join("\n") + "\n").unwrap();
}

#[test]
fn the_python_verifier_accepts_a_real_export_and_names_tampering() {
    let dir = tempfile::tempdir().unwrap();
    let (export, head) = build_export(dir.path());
    let (code, out) = run_verifier(&export, &["--expect-head", &head.to_text()]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("10 records verified"), "{out}");

    // One hex digit of record 3's event changed (a withdrawal amount rewritten).
    let tampered = dir.path().join("tampered.jsonl");
    rewrite(&export, &tampered, |i, line| {
        if i != 2 {
            return Some(line);
        }
        let mut record: serde_json::Value = serde_json::from_str(&line).unwrap();
        let hex = record["event_hex"].as_str().unwrap().to_owned();
        let last = hex.len() - 1;
        let flipped = if &hex[last..] == "0" { "1" } else { "0" };
        record["event_hex"] = serde_json::Value::String(format!("{}{flipped}", &hex[..last]));
        Some(record.to_string())
    });
    let (code, out) = run_verifier(&tampered, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("seq 3: hash mismatch"), "{out}");

    // A record removed from the middle.
    let gap = dir.path().join("gap.jsonl");
    rewrite(&export, &gap, |i, line| (i != 4).then_some(line));
    let (code, out) = run_verifier(&gap, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("seq 5: missing"), "{out}");

    // The tail cut off after an auditor recorded the head.
    let truncated = dir.path().join("truncated.jsonl");
    rewrite(&export, &truncated, |i, line| (i < 8).then_some(line));
    let (code, out) = run_verifier(&truncated, &["--expect-head", &head.to_text()]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("truncated"), "{out}");

    // A whole record recomputed by a forger: the next record's link breaks.
    let relinked = dir.path().join("relinked.jsonl");
    rewrite(&export, &relinked, |i, line| {
        if i != 6 {
            return Some(line);
        }
        let mut record: serde_json::Value = serde_json::from_str(&line).unwrap();
        record["prev_hash"] = serde_json::Value::String("00".repeat(32));
        Some(record.to_string())
    });
    let (code, out) = run_verifier(&relinked, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("seq 7: broken link"), "{out}");
}

#[test]
fn the_python_verifier_agrees_with_the_format_md_vectors() {
    let doc = include_str!("../../../docs/FORMAT.md");
    let section = doc.split("## Test vectors").nth(1).unwrap();
    let mut lines = Vec::new();
    for row in section.lines().filter(|l| l.starts_with("| ") && !l.starts_with("| seq")) {
        let cells: Vec<&str> = row.split('|').map(|c| c.trim().trim_matches('`')).collect();
        // ["", seq, event, prev, hash, ""]
        lines.push(serde_json::json!({"seq": cells[1].parse::<u64>().unwrap(), "event_hex": cells[2], "prev_hash": cells[3], "hash": cells[4]}).to_string());
    }
    assert_eq!(lines.len(), 4);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vectors.jsonl");
    std::fs::write(&path, lines.join("\n")).unwrap();
    let (code, out) = run_verifier(&path, &[]);
    assert_eq!(code, 0, "{out}");
}
