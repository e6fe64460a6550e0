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
    let ledger = Ledger::create(dir.join("db"), LedgerOptions { clock, ..LedgerOptions::default() }).unwrap();
    let at: Timestamp = "2026-03-02T09:00:00+08:00".parse().unwrap();
    let cmd = |n: u128, body| Command { id: CommandId(Uuid::from_u128(n)), at, body, stamped: false };
    let policy = Box::new(Policy::preset("pboc-2018").unwrap());
    let mut commands = vec![Command {
        id: CommandId(Uuid::from_u128(1)),
        at: Timestamp::UNIX_EPOCH,
        body: CommandBody::ChangePolicy { effective_from: Timestamp::UNIX_EPOCH, policy },
        stamped: false,
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

fn edit_event(export: &Path, to: &Path, index: usize, edit: impl Fn(&mut serde_json::Value)) {
    rewrite(export, to, |i, line| {
        if i != index {
            return Some(line);
        }
        let mut record: serde_json::Value = serde_json::from_str(&line).unwrap();
        edit(&mut record["event"]);
        Some(record.to_string())
    });
}

#[test]
fn the_python_verifier_refuses_a_missing_prefix_a_lying_readable_form_and_bad_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let (export, head) = build_export(dir.path());
    let head_text = head.to_text();
    // (what was done, extra arguments, exit code, what the verifier must say)
    let dropped_first = dir.path().join("dropped-first.jsonl");
    rewrite(&export, &dropped_first, |i, line| (i != 0).then_some(line));
    let dropped_prefix = dir.path().join("dropped-prefix.jsonl");
    rewrite(&export, &dropped_prefix, |i, line| (i >= 5).then_some(line));
    let amount = dir.path().join("amount.jsonl");
    // Record 3 is the withdrawal of 900 refused for insufficient funds (500 held).
    edit_event(&export, &amount, 2, |event| {
        event["body"]["rejected"]["command"]["cash_withdrawal"]["amount"] = "90.00".into();
    });
    let swapped = dir.path().join("swapped.jsonl");
    let events: Vec<serde_json::Value> = std::fs::read_to_string(&export)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap()["event"].clone())
        .collect();
    rewrite(&export, &swapped, |i, line| {
        let mut record: serde_json::Value = serde_json::from_str(&line).unwrap();
        record["event"] = match i {
            3 => events[4].clone(),
            4 => events[3].clone(),
            _ => return Some(line),
        };
        Some(record.to_string())
    });
    let seq_true = dir.path().join("seq-true.jsonl");
    rewrite(&export, &seq_true, |i, line| {
        Some(if i == 0 { line.replacen("\"seq\":1}", "\"seq\":true}", 1) } else { line })
    });
    let no_event = dir.path().join("no-event.jsonl");
    edit_event(&export, &no_event, 1, |event| *event = serde_json::Value::Null);
    let second_prev = {
        let text = std::fs::read_to_string(&export).unwrap();
        let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        first["hash"].as_str().unwrap().to_owned()
    };
    let cases: Vec<(&str, &Path, Vec<&str>, i32, &str)> = vec![
        ("first line dropped", &dropped_first, vec![], 1, "not at genesis"),
        ("first line dropped, head given", &dropped_first, vec!["--expect-head", &head_text], 1, "not at genesis"),
        ("first five lines dropped", &dropped_prefix, vec![], 1, "not at genesis"),
        (
            "a partial export with the trusted previous hash",
            &dropped_first,
            vec!["--expect-prev", &second_prev],
            0,
            "OK: 9 records",
        ),
        ("amount changed in the readable form", &amount, vec![], 1, "seq 3: the readable event disagrees"),
        ("two readable events swapped", &swapped, vec![], 1, "seq 4: the readable event disagrees"),
        ("seq true", &seq_true, vec![], 1, "not a sequence number"),
        ("readable event missing", &no_event, vec![], 1, "seq 2: the readable event disagrees"),
        ("malformed --expect-head", &export, vec!["--expect-head", "12:nothex"], 2, ""),
        ("--expect-head without a colon", &export, vec!["--expect-head", "12"], 2, ""),
        ("untouched", &export, vec!["--expect-head", &head_text], 0, "OK: 10 records"),
    ];
    for (what, path, extra, code, says) in cases {
        let (got, out) = run_verifier(path, &extra);
        assert_eq!(got, code, "{what}: {out}");
        assert!(out.contains(says), "{what}: {out}");
        assert!(!out.contains("Traceback"), "{what}: {out}");
    }
}

#[test]
fn the_python_verifier_agrees_with_the_format_md_vectors() {
    let doc = include_str!("../../../docs/FORMAT.md");
    let section = doc.split("## Test vectors").nth(1).unwrap();
    let mut lines = Vec::new();
    for row in section.lines().filter(|l| l.starts_with("| ") && !l.starts_with("| seq")) {
        let cells: Vec<&str> = row.split('|').map(|c| c.trim().trim_matches('`')).collect();
        // ["", seq, event, prev, hash, ""]
        let seq = cells[1].parse::<u64>().unwrap();
        // The readable form as `export` writes it: the Python side decodes the bytes and compares.
        let event = ledger_store::codec::decode_event(seq, &hex::decode(cells[2]).unwrap()).unwrap();
        lines.push(serde_json::json!({"seq": seq, "event_hex": cells[2], "prev_hash": cells[3], "hash": cells[4], "event": event}).to_string());
    }
    assert_eq!(lines.len(), 4);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vectors.jsonl");
    std::fs::write(&path, lines.join("\n")).unwrap();
    let (code, out) = run_verifier(&path, &[]);
    assert_eq!(code, 0, "{out}");
}
