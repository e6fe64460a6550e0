//! End to end: the built `ledger-cli` binary on temporary directories.

#![expect(clippy::unwrap_used, reason = "a failing step should stop the test where it fails")]

use std::path::{Path, PathBuf};
use std::process::Command;

use expect_test::expect;
use serde_json::Value;

mod common;

use common::{cli, cli_at, json, submitted_at};

fn id(n: u32) -> String {
    format!("00000000-0000-4000-8000-{n:012}")
}

/// Customer 7: Class I 70, Class II 71 (pboc-2018), with limit breaches and bad lines.
fn import_file(dir: &Path) -> PathBuf {
    let lines = [
        format!(
            r#"{{"type":"open_account","id":"{}","at":"2026-03-02T09:00:00+08:00","account":70,"customer":7,"class":"I","verified_in_person":true}}"#,
            id(1)
        ),
        format!(
            r#"{{"type":"cash_deposit","id":"{}","at":"2026-03-02T09:00:00+08:00","account":70,"amount":"100000"}}"#,
            id(2)
        ),
        format!(
            r#"{{"type":"open_account","id":"{}","at":"2026-03-02T09:00:00+08:00","account":71,"customer":7,"class":"II","binding":{{"account":70}},"verified_in_person":true}}"#,
            id(3)
        ),
        format!(
            r#"{{"type":"internal_transfer","id":"{}","at":"2026-03-02T09:30:00+08:00","from":70,"to":71,"amount":"20000"}}"#,
            id(4)
        ),
        format!(
            r#"{{"type":"payment","id":"{}","at":"2026-03-02T10:00:00+08:00","from":71,"merchant":"Metro","amount":"6000"}}"#,
            id(5)
        ),
        format!(
            r#"{{"type":"payment","id":"{}","at":"2026-03-02T10:05:00+08:00","from":71,"merchant":"Metro","amount":"4000.01"}}"#,
            id(6)
        ),
        format!(r#"{{"type":"teleport","id":"{}"}}"#, id(7)),
        "not json at all".to_owned(),
        format!(r#"{{"type":"payment","id":"{}","from":71,"merchant":"Metro","amount":"1.234"}}"#, id(9)),
        String::new(),
        format!(
            r#"{{"type":"outbound_transfer","id":"{}","at":"2026-03-02T10:10:00+08:00","from":71,"counterparty":"EXT-1","amount":"4000"}}"#,
            id(11)
        ),
        format!(
            r#"{{"type":"open_account","id":"{}","at":"2026-03-02T10:20:00+08:00","account":73,"customer":7,"class":"III","binding":{{"account":70}}}}"#,
            id(12)
        ),
        format!(
            r#"{{"type":"cash_deposit","id":"{}","at":"2026-03-02T10:20:00+08:00","account":73,"amount":"100"}}"#,
            id(13)
        ),
        format!(
            r#"{{"type":"payment","id":"{}","at":"2026-03-02T10:00:00+08:00","from":71,"merchant":"Metro","amount":"6000"}}"#,
            id(5)
        ),
    ];
    let path = dir.join("commands.jsonl");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

#[test]
fn operators_and_auditors_workflow() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("ledger");
    let (code, out, err) = cli(&db, &["init", "--policy", "pboc-2018"]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, _, err) = cli(&db, &["init"]);
    assert_eq!(code, 2, "a second init is refused");
    assert!(err.contains("already holds a ledger"), "{err}");

    // Import: malformed lines are reported with their line numbers and do not stop the rest.
    let file = import_file(dir.path());
    let results = dir.path().join("results.jsonl");
    let (code, out, err) =
        cli(&db, &["--json", "import", file.to_str().unwrap(), "--results", results.to_str().unwrap()]);
    assert_eq!(code, 1, "malformed lines make the import exit 1: {out}{err}");
    let summary = json(&out);
    assert_eq!((summary["accepted"].as_u64(), summary["rejected"].as_u64()), (Some(7), Some(2)), "{summary}");
    assert_eq!((summary["malformed"].as_u64(), summary["duplicates"].as_u64()), (Some(3), Some(1)), "{summary}");
    assert_eq!(summary["rejected_by_reason"]["LIMIT_EXCEEDED"], 1);
    assert_eq!(summary["rejected_by_reason"]["FLOW_NOT_ALLOWED"], 1);
    let lines: Vec<Value> = std::fs::read_to_string(&results).unwrap().lines().map(json).collect();
    assert_eq!(lines.len(), 13, "one result per input line that is not blank");
    let numbers: Vec<u64> = lines.iter().map(|line| line["line"].as_u64().unwrap()).collect();
    assert_eq!(numbers, [1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 14], "the blank line 10 is skipped");
    assert_eq!(lines[5]["reason"], "LIMIT_EXCEEDED");
    assert_eq!(lines[6]["status"], "malformed");
    assert!(lines[6]["error"].as_str().unwrap().contains("teleport"), "{}", lines[6]);
    assert!(lines[8]["error"].as_str().unwrap().contains("decimal"), "{}", lines[8]);
    assert_eq!((lines[12]["status"].as_str(), &lines[12]["seq"]), (Some("duplicate"), &lines[4]["seq"]));
    let (_, head_text, _) = cli(&db, &["head"]);

    // Re-running the same import changes nothing: every answered line is a duplicate.
    let (code, out, _) = cli(&db, &["--json", "import", file.to_str().unwrap()]);
    assert_eq!(code, 1);
    let again = json(&out);
    assert_eq!((again["accepted"].as_u64(), again["duplicates"].as_u64()), (Some(0), Some(10)), "{again}");
    assert_eq!(cli(&db, &["head"]).1, head_text);

    // Dry runs: what a submission would be told; nothing is recorded.
    let pay = r#"{"type":"payment","id":"0c0c0c0c-0000-4000-8000-000000000001","from":71,"merchant":"Metro","amount":"0.01"}"#;
    let (code, out, _) = cli(&db, &["check", pay]);
    assert_eq!(code, 1, "{out}");
    assert!(out.starts_with("would be rejected: seq ") && out.contains("LIMIT_EXCEEDED"), "{out}");
    assert!(out.contains("dry run: nothing was recorded"), "{out}");
    let deposit = r#"{"type":"cash_deposit","id":"0c0c0c0c-0000-4000-8000-000000000002","account":71,"amount":"5"}"#;
    let (code, out, _) = cli(&db, &["--json", "check", deposit]);
    assert_eq!(code, 0, "{out}");
    let dry = json(&out);
    assert_eq!((dry["status"].as_str(), dry["dry_run"].as_bool()), (Some("accepted"), Some(true)), "{dry}");
    assert_eq!(cli(&db, &["head"]).1, head_text, "a dry run appends nothing");

    // Queries, human output.
    let (code, out, _) = cli(&db, &["balance", "71"]);
    assert_eq!(code, 0);
    expect![[r#"
        account 71: 10000.00 CNY (Class II, open)
    "#]]
    .assert_eq(&out);
    let (_, out, _) = cli(&db, &["usage", "71"]);
    expect![[r#"
        account 71 (Class II) at 2026-03-02T12:00:00+08:00, policy pboc-2018
        bucket       day used      day cap     day left    year used     year cap    year left
        in               0.00     10000.00     10000.00         0.00    200000.00    200000.00
        out          10000.00     10000.00         0.00     10000.00    200000.00    190000.00
    "#]]
    .assert_eq(&out);
    let (_, out, _) = cli(&db, &["history", "71", "--limit", "3"]);
    expect![[r#"
        4         2026-03-02T09:00:00+08:00  opened                   Class II    by cli:tester (cli)
        5         2026-03-02T09:30:00+08:00  internal_transfer       +20000.00  balance 20000.00  by cli:tester (cli)
        6         2026-03-02T10:00:00+08:00  payment                  -6000.00  balance 14000.00  Metro  by cli:tester (cli)
        (more: --after 6)
    "#]]
    .assert_eq(&out);
    let (_, out, _) = cli(&db, &["accounts", "7"]);
    expect![[r#"
        70            Class I    open            80000.00
        71            Class II   open            10000.00  bound to 70
        73            Class III  open                0.00  bound to 70
    "#]]
    .assert_eq(&out);
    let (code, out, _) = cli(&db, &["balance", "99"]);
    assert_eq!((code, out.trim()), (1, "account 99 does not exist"));

    // Queries, JSON.
    let usage = json(&cli(&db, &["--json", "usage", "71"]).1);
    assert_eq!(usage["buckets"][1]["bucket"], "out");
    assert_eq!(
        (usage["buckets"][1]["day_used"].as_str(), usage["buckets"][1]["day_remaining"].as_str()),
        (Some("10000.00"), Some("0.00"))
    );
    let tomorrow = json(&cli(&db, &["--json", "usage", "71", "--at", "2026-03-03T00:00:00+08:00"]).1);
    assert_eq!(tomorrow["buckets"][1]["day_remaining"], "10000.00");
    let history = json(
        &cli(
            &db,
            &["--json", "history", "71", "--from", "2026-03-02T09:45:00+08:00", "--to", "2026-03-02T10:05:00+08:00"],
        )
        .1,
    );
    assert_eq!(history["entries"].as_array().unwrap().len(), 1);

    // Submit: a rejection exits 1 with its reason; a malformed command exits 1 too.
    let over = format!(r#"{{"type":"payment","id":"{}","from":71,"merchant":"Metro","amount":"0.01"}}"#, id(20));
    let (code, out, _) = cli(&db, &["submit", &over]);
    assert_eq!(code, 1);
    assert!(out.starts_with("rejected: seq 11 LIMIT_EXCEEDED"), "{out}");
    let reused = format!(r#"{{"type":"payment","id":"{}","from":71,"merchant":"Metro","amount":"1"}}"#, id(5));
    let (code, out, _) = cli(&db, &["submit", &reused]);
    assert_eq!(code, 1);
    assert!(out.starts_with("conflict: ID_CONFLICT: the id was used at seq 6"), "{out}");
    let (code, out, _) = cli(&db, &["submit", "{\"type\":\"payment\"}"]);
    assert_eq!(code, 1);
    assert!(out.starts_with("malformed:"), "{out}");

    // Verify, with the head an auditor recorded.
    let (code, out, _) = cli(&db, &["verify"]);
    assert_eq!(code, 0, "{out}");
    let (_, head, _) = cli(&db, &["head"]);
    let (code, out, _) = cli(&db, &["verify", "--expect-head", head.trim()]);
    assert_eq!(code, 0, "{out}");
    let (code, out, _) = cli(&db, &["verify", "--expect-head", &format!("99:{}", "ab".repeat(32))]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("truncated"), "{out}");

    // Replay: no mismatch on an untouched ledger, holding every account in memory or, with
    // `--cache-mib 0`, one (the rest spilled; the opened state compared as a paged view).
    let paged = "opened state matches the replay (compared paged: past --cache-mib, the accounts it loads): yes";
    for (cache, compared) in [("1024", "opened state matches the replay: yes"), ("0", paged)] {
        let (code, out, _) = cli(&db, &["--cache-mib", cache, "replay"]);
        assert_eq!(code, 0, "{out}");
        assert!(out.contains("read models: no mismatch"), "{out}");
        assert!(out.contains(compared), "{out}");
        let (code, out, _) = cli(&db, &["--json", "--cache-mib", cache, "replay"]);
        assert_eq!(code, 0, "{out}");
        let json: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(json["state_compared_paged"], cache == "0", "{out}");
    }
    // A replay that spills where it cannot (an outside tester's case): exit 2, the message
    // names the directory, $TMPDIR and what to do.
    let missing = dir.path().join("no-such-tmpdir");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_ledger-cli"))
        .args(["--db", db.to_str().unwrap(), "--cache-mib", "0", "replay"])
        .env("TMPDIR", &missing)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{err}");
    let named = format!("in {} ($TMPDIR)", missing.display());
    assert!(err.contains(&named) && err.contains("--cache-mib"), "{err}");

    // Export, checked by the independent Python verifier.
    let export = dir.path().join("export.jsonl");
    let (code, out, _) = cli(&db, &["export", export.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    let verifier = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tools/verify_export.py");
    let python =
        Command::new("python3").arg(&verifier).arg(&export).args(["--expect-head", head.trim()]).output().unwrap();
    assert!(python.status.success(), "{}", String::from_utf8_lossy(&python.stdout));

    // Backup: opens and verifies.
    let backup = dir.path().join("backup");
    let (code, out, err) = cli(&db, &["backup", backup.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(cli(&backup, &["verify"]).0, 0);

    // One byte flipped inside a database file: verify names the record.
    let record5: Value = std::fs::read_to_string(&export).unwrap().lines().nth(4).map(json).unwrap();
    let hash5 = hex_bytes(record5["hash"].as_str().unwrap());
    // The first byte of record 5's event.
    assert!(flip_after(&db, &hash5), "record 5 was not found in the database files");
    let (code, out, _) = cli(&db, &["verify"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("corruption at sequence 5"), "{out}");
    let (code, out, _) = cli(&db, &["--json", "verify"]);
    assert_eq!((code, json(&out)["first_bad_seq"].as_u64()), (1, Some(5)), "{out}");
    // And replay fails the same check the same way (it said "error: …", exit 2).
    let (code, out, err) = cli(&db, &["replay"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("FAILED: corruption at sequence 5"), "{out}{err}");
    let (code, out, _) = cli(&db, &["--json", "replay"]);
    assert_eq!((code, json(&out)["first_bad_seq"].as_u64()), (1, Some(5)), "{out}");
    // The head's own record damaged too: found while opening, still a failed check (exit 1).
    // (Found as its record stores them: the previous record's hash, then its own.)
    let lines: Vec<Value> = std::fs::read_to_string(&export).unwrap().lines().map(json).collect();
    let mut linked = hex_bytes(lines[lines.len() - 2]["hash"].as_str().unwrap());
    linked.extend(hex_bytes(lines[lines.len() - 1]["hash"].as_str().unwrap()));
    assert!(flip_after(&db, &linked), "the head record was not found in the database files");
    for command in ["verify", "replay"] {
        let (code, out, err) = cli(&db, &[command]);
        assert_eq!(code, 1, "{command}: {out}{err}");
        assert!(out.contains("FAILED: corruption at sequence"), "{command}: {out}{err}");
    }
}

/// Flips the byte right after the first occurrence of `needle` in the ledger's files; false
/// when no file holds it.
fn flip_after(db: &Path, needle: &[u8]) -> bool {
    for entry in std::fs::read_dir(db).unwrap() {
        let path = entry.unwrap().path();
        // The log's records are in the log's database; `projected/` holds derived keys.
        if path.is_dir() {
            continue;
        }
        let mut bytes = std::fs::read(&path).unwrap();
        if let Some(at) = bytes.windows(needle.len()).position(|w| w == needle) {
            bytes[at + needle.len()] ^= 0x01;
            std::fs::write(&path, bytes).unwrap();
            return true;
        }
    }
    false
}

fn hex_bytes(text: &str) -> Vec<u8> {
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap()).collect()
}

#[test]
fn usage_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) = cli(&dir.path().join("missing"), &["verify"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no ledger at"), "{err}");
    let (code, _, _) = cli(dir.path(), &["balance", "not-a-number"]);
    assert_eq!(code, 2);
    let (code, _, err) = cli(&dir.path().join("x"), &["init", "--policy", "nope"]);
    assert_eq!(code, 2);
    assert!(err.contains("neither a preset"), "{err}");
    // --expect-head names a record, and there is no record 0 (an outside tester: `0:HASH` was
    // reported "rewritten", exit 1, and `0:` with 64 zeros passed as the genesis link).
    let db = dir.path().join("ledger");
    assert_eq!(cli(&db, &["init"]).0, 0);
    let (zeros, other) = ("0".repeat(64), format!("ab{}", "0".repeat(62)));
    // (--expect-head, exit code, stdout or stderr has)
    let rows = [
        (format!("0:{other}"), 2, "SEQ must be 1 or more (there is no record 0"),
        (format!("0:{zeros}"), 2, "SEQ must be 1 or more (there is no record 0"),
        (format!("1:{other}"), 1, "rewritten"),
        ("1:zz".to_owned(), 2, "expected SEQ:HASH"),
    ];
    for (head, want, says) in rows {
        let (code, out, err) = cli(&db, &["verify", "--expect-head", &head]);
        assert_eq!(code, want, "{head}: {out}{err}");
        assert!(out.contains(says) || err.contains(says), "{head}: {out}{err}");
    }
    // SEQ only in the canonical decimal form `head` prints (an outside tester: `+1`, `01` and
    // ` 1` with the right hash passed), and no `--from 0` (it was read as 1).
    let (_, head, _) = cli(&db, &["head"]);
    let hash = head.trim().split_once(':').unwrap().1.to_owned();
    // (arguments after `verify`, exit code, stdout or stderr has)
    let rows: [(Vec<String>, i32, &str); 9] = [
        (vec!["--expect-head".into(), format!("1:{hash}")], 0, "OK:"),
        (vec!["--expect-head".into(), format!("1: {hash}")], 2, "expected SEQ:HASH"),
        (vec!["--expect-head".into(), format!("1:{hash} ")], 2, "expected SEQ:HASH"),
        (vec!["--expect-head".into(), format!("1:{hash}\n")], 2, "expected SEQ:HASH"),
        (vec!["--expect-head".into(), format!("+1:{hash}")], 2, "expected SEQ:HASH"),
        (vec!["--expect-head".into(), format!("01:{hash}")], 2, "expected SEQ:HASH"),
        (vec!["--expect-head".into(), format!(" 1:{hash}")], 2, "expected SEQ:HASH"),
        (vec!["--from".into(), "0".into()], 2, "--from"),
        (vec!["--from".into(), "1".into()], 0, "OK:"),
    ];
    for (args, want, says) in rows {
        let mut all = vec!["verify"];
        all.extend(args.iter().map(String::as_str));
        let (code, out, err) = cli(&db, &all);
        assert_eq!(code, want, "{args:?}: {out}{err}");
        assert!(out.contains(says) || err.contains(says), "{args:?}: {out}{err}");
    }
    // `export` reads --from as `verify` does (an outside tester: `export - --from 0` exported from 1).
    let (code, _, err) = cli(&db, &["export", "-", "--from", "0"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--from"), "{err}");
}

#[test]
fn demo_runs_and_reports() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out, err) = cli(&dir.path().join("unused"), &["--json", "demo", "--customers", "50", "--days", "3"]);
    assert_eq!(code, 0, "{out}{err}");
    let report = json(&out);
    assert_eq!(report["money_conserved"], true);
    assert_eq!(report["replay_mismatches"], 0);
    assert!(report["head"].as_str().unwrap().contains(':'));
}

#[test]
fn every_example_in_commands_md_is_accepted() {
    let doc = include_str!("../../../docs/COMMANDS.md");
    let block = doc.split("```jsonl").nth(1).unwrap().split("```").next().unwrap();
    let protections = doc.split("```jsonl").nth(2).unwrap().split("```").next().unwrap();
    let lines: Vec<&str> = block.lines().filter(|line| !line.trim().is_empty()).collect();
    assert_eq!(lines.len(), 13);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("ledger");
    assert_eq!(cli(&db, &["init", "--policy", "pboc-2018"]).0, 0);
    let mut kinds = std::collections::BTreeSet::new();
    for line in lines {
        kinds.insert(json(line)["type"].as_str().unwrap().to_owned());
        let (code, out, err) = cli_at(&db, submitted_at(line), &["submit", line]);
        assert_eq!(code, 0, "{line}\n{out}{err}");
        assert!(out.starts_with("accepted"), "{out}");
    }
    assert_eq!(kinds.len(), 11, "one example per command type: {kinds:?}");

    // The protection examples continue the same ledger; every line is accepted.
    let lines: Vec<&str> = protections.lines().filter(|line| !line.trim().is_empty()).collect();
    let mut outputs = Vec::new();
    for line in &lines {
        kinds.insert(json(line)["type"].as_str().unwrap().to_owned());
        let (code, out, err) = cli_at(&db, submitted_at(line), &["submit", line]);
        assert_eq!(code, 0, "{line}\n{out}{err}");
        assert!(out.starts_with("accepted"), "{out}");
        outputs.push(out);
    }
    assert_eq!(kinds.len(), 22, "one example per command type: {kinds:?}");
    assert!(outputs[6].contains("held for verification until 2026-03-02T18:00:00+08:00"), "{}", outputs[6]);
    assert!(outputs[8].contains("scheduled for 2026-03-03T00:00:00+08:00"), "{}", outputs[8]);
    assert!(outputs[9].contains("scheduled for 2026-03-02T20:00:00+08:00"), "{}", outputs[9]);

    // The held 8,000 was confirmed, the 6,000 declined, the 600 cancelled; the tick at midnight
    // executed the 1,500 next-day transfer: 42,000 - 8,000 - 1,500.
    let (code, out, _) = cli(&db, &["balance", "70"]);
    assert_eq!((code, out.trim()), (0, "account 70: 32500.00 CNY (Class I, open)"));
    let (code, out, _) = cli(&db, &["pending"]);
    assert_eq!((code, out.trim()), (0, "no pending outflows"));
    let (_, history, _) = cli(&db, &["history", "70", "--json"]);
    let kinds_of: Vec<String> = json(&history)["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["event"]["body"].as_object().unwrap().keys().next().unwrap().clone())
        .collect();
    for kind in ["reserved", "reservation_settled", "reservation_released"] {
        assert!(kinds_of.iter().any(|k| k == kind), "{kind} not in {kinds_of:?}");
    }
    let (_, text, _) = cli(&db, &["history", "70"]);
    for word in ["held", "confirmed", "scheduled", "executed", "released", "cancelled", "declined"] {
        assert!(text.contains(word), "history lacks {word}:\n{text}");
    }
    let (code, out, _) = cli(&db, &["protections", "71"]);
    assert_eq!(code, 0);
    assert!(out.contains("personal limits per transaction 2000.00, per day 5000.00"), "{out}");
    assert!(out.contains("night lock      23:00-06:00 Beijing time"), "{out}");

    // Rejections by the protections exit 1 with their reason code.
    let night = r#"{"type":"payment","id":"5d7e0c1a-0000-4000-8000-000000000101","at":"2026-03-03T05:59:00+08:00","from":71,"merchant":"24h store","amount":"5"}"#;
    let (code, out, _) = cli_at(&db, submitted_at(night), &["submit", night]);
    assert_eq!(code, 1);
    assert!(out.contains("NIGHT_LOCKED"), "{out}");
    let over = r#"{"type":"payment","id":"5d7e0c1a-0000-4000-8000-000000000102","at":"2026-03-03T09:00:00+08:00","from":71,"merchant":"shop","amount":"2000.01"}"#;
    let (code, out, _) = cli_at(&db, submitted_at(over), &["submit", over]);
    assert_eq!(code, 1);
    assert!(out.contains("PERSONAL_LIMIT_EXCEEDED"), "{out}");
    let list = r#"{"type":"list_risk","id":"5d7e0c1a-0000-4000-8000-000000000103","at":"2026-03-03T09:00:00+08:00","counterparty":"CCB-6217-0000-7777","reason":"fraud","source":"police"}"#;
    assert_eq!(cli_at(&db, submitted_at(list), &["submit", list]).0, 0);
    let (code, out, _) = cli(&db, &["risk-check", "CCB-6217-0000-7777"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("is on the risk list"), "{out}");
    assert_eq!(cli(&db, &["risk-check", "CCB-6217-0000-6666"]).0, 0, "unlisted above");
    let hit = r#"{"type":"outbound_transfer","id":"5d7e0c1a-0000-4000-8000-000000000104","at":"2026-03-03T09:00:00+08:00","from":70,"counterparty":"CCB-6217-0000-7777","amount":"100"}"#;
    let (code, out, _) = cli_at(&db, submitted_at(hit), &["submit", hit]);
    assert_eq!(code, 1);
    assert!(out.contains("RISK_LISTED_COUNTERPARTY"), "{out}");
    assert_eq!(cli(&db, &["balance", "70"]).1.trim(), "account 70: 32500.00 CNY (Class I, open)");

    // A delayed transfer executed by `ledger-cli tick` once its time has come.
    let later = r#"{"type":"outbound_transfer","id":"5d7e0c1a-0000-4000-8000-000000000105","at":"2026-03-03T09:00:00+08:00","from":70,"counterparty":"ICBC-1","amount":"100","arrival":"normal"}"#;
    assert_eq!(cli_at(&db, submitted_at(later), &["submit", later]).0, 0);
    let (code, out, _) = cli(&db, &["balance", "70"]);
    assert_eq!(
        (code, out.trim()),
        (0, "account 70: 32500.00 CNY (Class I, open); 100.00 reserved by pending outflows, 32400.00 available")
    );
    let (code, out, _) = cli_at(&db, "2026-03-03T10:59:59+08:00", &["tick"]);
    assert_eq!(code, 0);
    assert!(out.contains("0 hold(s) or delayed transfer(s) handled"), "{out}");
    let (code, out, _) = cli_at(&db, "2026-03-03T11:00:00+08:00", &["tick"]);
    assert_eq!(code, 0);
    assert!(out.contains("1 hold(s) or delayed transfer(s) handled"), "{out}");
    assert_eq!(cli(&db, &["balance", "70"]).1.trim(), "account 70: 32400.00 CNY (Class I, open)");
    // The next day's first record gets a recorded checkpoint before it: not a hold handled.
    let (code, out, _) = cli_at(&db, "2026-03-04T09:00:00+08:00", &["--checkpoint-every", "1000", "tick"]);
    assert_eq!(code, 0);
    assert!(out.contains("0 hold(s) or delayed transfer(s) handled"), "{out}");
    let (_, listed, _) = cli(&db, &["checkpoints"]);
    assert!(listed.contains("1 recorded checkpoint"), "{listed}");
    let (code, out, _) = cli(&db, &["verify"]);
    assert_eq!(code, 0, "{out}");
    let (code, out, _) = cli(&db, &["replay"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("read models: no mismatch"), "{out}");
}

/// A `change_policy` whose policy names a flow twice in one class (a map inside a nested object).
fn change_policy_with_flows(n: u32, flows: &str) -> String {
    let mut policy: Value =
        serde_json::from_str(&serde_json::to_string(&ledger_core::Policy::preset("pboc-2018").unwrap()).unwrap())
            .unwrap();
    policy["class"]["II"]["flows"] = serde_json::json!({ "FLOWS": 0 });
    let policy = serde_json::to_string(&policy).unwrap().replace(r#""FLOWS":0"#, flows);
    format!(
        r#"{{"type":"change_policy","id":"{}","effective_from":"2026-06-01T00:00:00+08:00","policy":{policy}}}"#,
        id(n)
    )
}

/// Given a command naming a key twice deep inside (a policy's flow) or at the top (an amount),
/// when it is given to `submit`, `check` or `import`, then it is malformed and nothing is
/// recorded; the same policy without the repeated key is accepted.
#[test]
fn a_key_named_twice_is_refused_by_submit_check_and_import() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("ledger");
    assert_eq!(cli(&db, &["init", "--policy", "pboc-2018"]).0, 0);
    let nested = change_policy_with_flows(1, r#""payment":"forbidden","payment":"allowed""#);
    let top = format!(r#"{{"type":"cash_deposit","id":"{}","account":1,"amount":"1.00","amount":"9000.00"}}"#, id(2));
    for line in [&nested, &top] {
        for subcommand in ["submit", "check"] {
            let (code, out, err) = cli(&db, &[subcommand, line]);
            assert_eq!(code, 1, "{subcommand}: {out}{err}");
            assert!(out.starts_with("malformed: ") && out.contains("duplicate field"), "{subcommand}: {out}");
        }
    }
    let file = dir.path().join("twice.jsonl");
    std::fs::write(&file, format!("{nested}\n{top}\n")).unwrap();
    let results = dir.path().join("twice.results.jsonl");
    let (code, out, err) = cli(&db, &["import", file.to_str().unwrap(), "--results", results.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}{err}");
    for line in std::fs::read_to_string(&results).unwrap().lines() {
        let result = json(line);
        assert_eq!(result["status"], "malformed", "{line}");
        assert!(result["error"].as_str().unwrap().contains("duplicate field"), "{line}");
    }
    let (_, head, _) = cli(&db, &["--json", "head"]);
    assert_eq!(json(&head)["seq"], 1, "nothing recorded after the genesis: {head}");
    let once = change_policy_with_flows(3, r#""payment":"allowed""#);
    let (code, out, err) = cli(&db, &["submit", &once]);
    assert_eq!(code, 0, "{out}{err}");
}
