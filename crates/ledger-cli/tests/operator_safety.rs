//! Operator safety end to end (issue 11): the built `ledger-cli` against typos, damage, hostile
//! text and careless file arguments. Each case names the probe it answers in docs/RELIABILITY.md.

#![expect(clippy::unwrap_used, reason = "a failing step should stop the test where it fails")]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

mod common;

use common::{cli, cli_at, json};

const DEPOSIT: &str = r#"{"type":"cash_deposit","id":"00000000-0000-4000-8000-000000000002","at":"2026-03-02T09:00:00+08:00","account":70,"amount":"100"}"#;
const OPEN: &str = r#"{"type":"open_account","id":"00000000-0000-4000-8000-000000000001","at":"2026-03-02T09:00:00+08:00","account":70,"customer":7,"class":"I","verified_in_person":true}"#;

fn ledger(dir: &Path) -> PathBuf {
    let db = dir.join("ledger");
    assert_eq!(cli(&db, &["init"]).0, 0);
    assert_eq!(cli(&db, &["submit", OPEN]).0, 0);
    assert_eq!(cli(&db, &["submit", DEPOSIT]).0, 0);
    db
}

fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = match std::fs::read_dir(dir) {
        Ok(entries) => entries.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect(),
        Err(_) => Vec::new(),
    };
    names.sort();
    names
}

#[test]
fn writers_never_create_a_ledger_where_db_points() {
    // Probe 3: `--db /tmp/typo.db tick` created a ledger; submit/import recorded NO_POLICY_IN_FORCE.
    let dir = tempfile::tempdir().unwrap();
    let typo = dir.path().join("typo.db");
    let file = dir.path().join("day.jsonl");
    std::fs::write(&file, format!("{DEPOSIT}\n")).unwrap();
    let backup = dir.path().join("copy");
    let runs: [&[&str]; 9] = [
        &["tick"],
        &["submit", DEPOSIT],
        &["import", file.to_str().unwrap()],
        &["backup", backup.to_str().unwrap()],
        &["verify"],
        &["replay"],
        &["rebuild-indexes"],
        &["balance", "70"],
        &["export", "-"],
    ];
    for args in runs {
        let (code, out, err) = cli(&typo, args);
        assert_eq!(code, 2, "{args:?}: {out}{err}");
        assert!(err.contains("no ledger at"), "{args:?}: {err}");
        assert!(!typo.exists(), "{args:?} created {}", typo.display());
        assert!(!backup.exists(), "{args:?} created a backup");
    }
    // An empty directory is not a ledger either, and stays empty.
    std::fs::create_dir(&typo).unwrap();
    assert_eq!(cli(&typo, &["tick"]).0, 2);
    assert!(listing(&typo).is_empty(), "{:?}", listing(&typo));
}

#[test]
fn init_needs_an_empty_directory_and_leaves_other_files_alone() {
    // Probe 4: init in a non-empty directory renamed the user's LOG and added RocksDB files.
    let dir = tempfile::tempdir().unwrap();
    let mine = dir.path().join("mine");
    std::fs::create_dir(&mine).unwrap();
    std::fs::write(mine.join("LOG"), "mine").unwrap();
    let (code, _, err) = cli(&mine, &["init"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("not empty"), "{err}");
    assert_eq!(listing(&mine), ["LOG"]);
    assert_eq!(std::fs::read_to_string(mine.join("LOG")).unwrap(), "mine");
    // A second init of a ledger is refused too (probe from the first release).
    let db = ledger(dir.path());
    let (code, _, err) = cli(&db, &["init"]);
    assert_eq!(code, 2);
    assert!(err.contains("already holds a ledger"), "{err}");
}

#[test]
fn a_damaged_write_ahead_log_is_refused_with_what_to_do() {
    // Probes 1 and 2: a damaged WAL, or CURRENT and the WAL lost; the operator is told what to do.
    let dir = tempfile::tempdir().unwrap();
    let db = ledger(dir.path());
    // The last writes live in the write-ahead log until a flush; a closed ledger flushed them,
    // so delete the tables' source instead: the CURRENT file.
    let lost = dir.path().join("lost");
    std::fs::create_dir(&lost).unwrap();
    for entry in std::fs::read_dir(&db).unwrap() {
        let entry = entry.unwrap();
        common::copy_tree(&entry.path(), &lost.join(entry.file_name()));
    }
    std::fs::remove_file(lost.join("CURRENT")).unwrap();
    let before = listing(&lost);
    for args in [&["submit", DEPOSIT][..], &["verify"], &["tick"]] {
        let (code, out, err) = cli(&lost, args);
        assert_eq!(code, 2, "{args:?}: {out}{err}");
        assert!(err.contains("damaged") && err.contains("backup"), "{args:?}: {err}");
    }
    assert_eq!(listing(&lost), before, "a refused open changed the directory");
}

#[test]
fn a_far_future_business_time_is_refused_and_the_ledger_keeps_working() {
    // Probe 7: one command dated 2100 froze the ledger (every later command TIME_BEFORE_HEAD).
    let dir = tempfile::tempdir().unwrap();
    let db = ledger(dir.path());
    let typo = DEPOSIT.replace("000000000002", "000000000003").replace("2026-03-02T09:00:00", "2100-01-01T00:00:00");
    let (code, out, _) = cli(&db, &["submit", &typo]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("TIME_AHEAD_OF_CLOCK"), "{out}");
    let next = DEPOSIT.replace("000000000002", "000000000004").replace("09:00:00", "11:59:00");
    let (code, out, _) = cli(&db, &["submit", &next]);
    assert_eq!(code, 0, "the ledger still takes commands at the clock's time: {out}");
    // The bound is a setting.
    let later = DEPOSIT.replace("000000000002", "000000000005").replace("09:00:00", "18:00:00");
    assert_eq!(cli(&db, &["--max-ahead-seconds", "86400", "submit", &later]).0, 0);
}

#[test]
fn import_refuses_its_own_input_as_results_and_reads_bad_bytes_as_a_malformed_line() {
    // Probes 8 and 9.
    let dir = tempfile::tempdir().unwrap();
    let db = ledger(dir.path());
    let file = dir.path().join("day.jsonl");
    let second = DEPOSIT.replace("000000000002", "000000000010");
    let third = DEPOSIT.replace("000000000002", "000000000011");
    let mut bytes = format!("{second}\n").into_bytes();
    bytes.extend_from_slice(b"{\"type\":\"cash_deposit\",\"id\":\"\xff\xfe\"}\n");
    bytes.extend_from_slice(format!("{third}\n\n   \n").as_bytes());
    std::fs::write(&file, &bytes).unwrap();
    let link = dir.path().join("link.jsonl");
    std::os::unix::fs::symlink(&file, &link).unwrap();
    let hard = dir.path().join("hard.jsonl");
    std::fs::hard_link(&file, &hard).unwrap();
    for results in [&file, &link, &hard] {
        let (code, _, err) =
            cli(&db, &["import", file.to_str().unwrap(), "--results", results.to_str().unwrap(), "--force"]);
        assert_eq!(code, 2, "{}: {err}", results.display());
        assert_eq!(std::fs::read(&file).unwrap(), bytes, "the input was changed");
    }
    let results = dir.path().join("results.jsonl");
    let (code, out, err) =
        cli(&db, &["--json", "import", file.to_str().unwrap(), "--results", results.to_str().unwrap()]);
    assert_eq!(code, 1, "one malformed line: {out}{err}");
    let summary = json(&out);
    assert_eq!((summary["accepted"].as_u64(), summary["malformed"].as_u64()), (Some(2), Some(1)), "{summary}");
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&results).unwrap().lines().map(json).collect();
    assert_eq!(lines.len(), 3, "blank lines get no result");
    assert_eq!((lines[1]["line"].as_u64(), lines[1]["status"].as_str()), (Some(2), Some("malformed")));
    assert!(lines[1]["error"].as_str().unwrap().contains("UTF-8"), "{}", lines[1]);
    assert_eq!((lines[2]["line"].as_u64(), lines[2]["status"].as_str()), (Some(3), Some("accepted")));
    // The results file exists now: refused without --force, replaced with it.
    assert_eq!(cli(&db, &["import", file.to_str().unwrap(), "--results", results.to_str().unwrap()]).0, 2);
    assert_eq!(cli(&db, &["import", file.to_str().unwrap(), "--results", results.to_str().unwrap(), "--force"]).0, 1);
}

#[test]
fn range_arguments_past_the_head_are_usage_errors() {
    // Probe 11.
    let dir = tempfile::tempdir().unwrap();
    let db = ledger(dir.path());
    for args in [&["verify", "--from", "4"][..], &["verify", "--from", "999"], &["export", "-", "--from", "99"]] {
        let (code, out, err) = cli(&db, args);
        assert_eq!(code, 2, "{args:?}: {out}{err}");
        assert!(err.contains("past the head") && !out.contains("corruption"), "{args:?}: {out}{err}");
    }
    assert_eq!(cli(&db, &["verify", "--from", "3"]).0, 0);
}

#[test]
fn files_are_private_and_outputs_never_follow_links_or_clobber() {
    // Probe 12: under umask 022 the ledger was 0755/0644; export followed symlinks and replaced files.
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("ledger");
    let run = |args: &[&str]| {
        let output = Command::new("sh")
            .arg("-c")
            .arg("umask 022; exec \"$0\" \"$@\"")
            .arg(env!("CARGO_BIN_EXE_ledger-cli"))
            .arg("--db")
            .arg(&db)
            .args(["--now", common::NOW])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        (output.status.code().unwrap_or(-1), String::from_utf8_lossy(&output.stderr).into_owned())
    };
    assert_eq!(run(&["init"]).0, 0);
    assert_eq!(run(&["submit", OPEN]).0, 0);
    let export = dir.path().join("export.jsonl");
    assert_eq!(run(&["export", export.to_str().unwrap()]).0, 0);
    let backup = dir.path().join("backup");
    assert_eq!(run(&["backup", backup.to_str().unwrap()]).0, 0);
    let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    for root in [&db, &backup] {
        assert_eq!(mode(root), 0o700, "{}", root.display());
        for entry in std::fs::read_dir(root).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                // `projected/` (layout 5): private too, and every file in it.
                assert_eq!(mode(&path), 0o700, "{}", path.display());
                for inner in std::fs::read_dir(&path).unwrap() {
                    let inner = inner.unwrap().path();
                    assert_eq!(mode(&inner), 0o600, "{}", inner.display());
                }
                continue;
            }
            assert_eq!(mode(&path), 0o600, "{}", path.display());
        }
    }
    assert_eq!(mode(&export), 0o600);
    // An existing file: refused, then replaced with --force.
    let (code, err) = run(&["export", export.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(run(&["export", export.to_str().unwrap(), "--force"]).0, 0);
    // A symbolic link (say to a file the attacker wants overwritten): never followed.
    let victim = dir.path().join("victim");
    std::fs::write(&victim, "precious").unwrap();
    let trap = dir.path().join("trap.jsonl");
    std::os::unix::fs::symlink(&victim, &trap).unwrap();
    for force in [false, true] {
        let mut args = vec!["export", trap.to_str().unwrap()];
        if force {
            args.push("--force");
        }
        let (code, err) = run(&args);
        assert_eq!(code, 2, "{err}");
        assert!(err.contains("symbolic link"), "{err}");
    }
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
}

#[test]
fn client_text_cannot_drive_the_terminal() {
    // Probe 13: a merchant "Metro\nFORGED seq 99 ..." forged a whole history line.
    let dir = tempfile::tempdir().unwrap();
    let db = ledger(dir.path());
    let nasty = "Metro\nFORGED seq 99 cash_deposit 70 +1000000.00\u{1b}[2J\u{7}\u{202e}txe";
    let payment = serde_json::json!({
        "type": "payment", "id": "00000000-0000-4000-8000-000000000020", "at": "2026-03-02T10:00:00+08:00",
        "from": 70, "merchant": nasty, "amount": "1",
    })
    .to_string();
    assert_eq!(cli(&db, &["submit", &payment]).0, 0);
    let (code, out, _) = cli(&db, &["history", "70"]);
    assert_eq!(code, 0);
    assert_eq!(out.lines().count(), 3, "one line per event:\n{out}");
    assert!(!out.lines().any(|line| line.starts_with("FORGED")), "{out}");
    assert!(out.contains("Metro\\nFORGED") && out.contains("\\u{1b}[2J") && out.contains("\\u{202e}"), "{out}");
    assert!(!out.chars().any(|c| c.is_control() && c != '\n' || c == '\u{202e}'), "{out:?}");
    // JSON output keeps the exact text (escaped by JSON itself).
    let (_, out, _) = cli(&db, &["--json", "history", "70"]);
    assert!(out.contains(&serde_json::to_string(nasty).unwrap()[1..20]), "{out}");
    // A risk-list entry and a refused listing are shown escaped too.
    let (_, out, _) = cli(&db, &["risk-check", "A\u{1b}]0;pwned\u{7}"]);
    assert!(!out.contains('\u{1b}'), "{out:?}");
    // And a report's CSV: a large inbound transfer from that counterparty (a large-value line).
    let inbound = serde_json::json!({
        "type": "inbound_transfer", "id": "00000000-0000-4000-8000-000000000021", "at": "2026-03-02T11:00:00+08:00",
        "to": 70, "counterparty": nasty, "amount": "5000000",
    })
    .to_string();
    assert_eq!(cli(&db, &["submit", &inbound]).0, 0);
    let (code, out, err) =
        cli(&db, &["report", "large-value", "--from", "2026-03-02", "--to", "2026-03-02", "--format", "csv"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("\\u{1b}[2J") || out.contains("\u{1b}[2J"), "the counterparty is in the CSV, escaped: {out}");
    assert!(!out.chars().any(|c| c.is_control() && c != '\n' || c == '\u{202e}'), "{out:?}");
    // And a statement's CSV (an outside tester: it printed ESC, BEL, U+202E and the newline raw).
    let (code, out, err) =
        cli(&db, &["statement", "70", "--from", "2026-03-02", "--to", "2026-03-02", "--format", "csv"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Metro\\nFORGED") && out.contains("\\u{1b}[2J\\u{7}\\u{202e}txe"), "escaped: {out}");
    assert!(!out.lines().any(|line| line.starts_with("FORGED")), "{out}");
    assert!(!out.chars().any(|c| c.is_control() && c != '\n' || c == '\u{202e}'), "{out:?}");
}

#[test]
fn amounts_and_times_are_as_strict_as_the_docs_say() {
    // Probe 14: "1.230", " 5", "5.", ".5", +25:00 and 23:59:60 were accepted.
    let dir = tempfile::tempdir().unwrap();
    let db = ledger(dir.path());
    let refused = [
        (r#""amount":"1.230""#, r#""at":"2026-03-02T09:00:00+08:00""#),
        (r#""amount":" 5""#, r#""at":"2026-03-02T09:00:00+08:00""#),
        (r#""amount":"5.""#, r#""at":"2026-03-02T09:00:00+08:00""#),
        (r#""amount":".5""#, r#""at":"2026-03-02T09:00:00+08:00""#),
        (r#""amount":"5""#, r#""at":"2026-03-02T09:00:00+25:00""#),
        (r#""amount":"5""#, r#""at":"2026-03-02T23:59:60+08:00""#),
    ];
    for (n, (amount, at)) in refused.iter().enumerate() {
        let line = format!(
            r#"{{"type":"cash_deposit","id":"00000000-0000-4000-8000-0000000003{n:02}",{at},"account":70,{amount}}}"#
        );
        let (code, out, _) = cli_at(&db, "2026-03-03T12:00:00+08:00", &["submit", &line]);
        assert_eq!(code, 1, "{line}: {out}");
        assert!(out.starts_with("malformed"), "{line}: {out}");
    }
    let (code, out, _) = cli(&db, &["balance", "70"]);
    assert_eq!(code, 0);
    assert!(out.contains("100.00"), "nothing was posted: {out}");
}

#[test]
fn rebuild_indexes_repairs_what_replay_reports() {
    // Probe 6 (the table-level damage is tested in ledger-store's tests/operator_safety.rs).
    let dir = tempfile::tempdir().unwrap();
    let db = ledger(dir.path());
    let (code, out, _) = cli(&db, &["rebuild-indexes"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("replay: no mismatch"), "{out}");
    assert_eq!(cli(&db, &["replay"]).0, 0);
    assert_eq!(cli(&db, &["history", "70"]).1.lines().count(), 2);
}

#[test]
fn the_demo_ledger_exports_and_the_auditors_verifier_decodes_every_event() {
    // Every record of a demo ledger, rejections included, decodes in Python from the tables
    // docs/FORMAT.md prints and agrees with its readable form field by field; the verifier's
    // count of each kind (rejections by reason) is the export's own.
    let dir = tempfile::tempdir().unwrap();
    let (keep, export) = common::demo_and_export(dir.path());
    let head = cli(&keep, &["head"]).1;
    let verifier = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tools/verify_export.py");
    let output = Command::new("python3")
        .arg(&verifier)
        .arg(&export)
        .args(["--expect-head", head.trim(), "--kinds"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{said}");
    let text = std::fs::read_to_string(&export).unwrap();
    let mut kinds = std::collections::BTreeMap::<String, u64>::new();
    let name = |value: &serde_json::Value| {
        value.as_object().map_or_else(|| value.as_str().unwrap().to_owned(), |o| o.keys().next().unwrap().clone())
    };
    for line in text.lines() {
        let body = &json(line)["event"]["body"];
        let kind = match body.get("rejected") {
            Some(rejected) => format!("rejected/{}", name(&rejected["reason"])),
            None => name(body),
        };
        *kinds.entry(kind).or_default() += 1;
    }
    let decoded: std::collections::BTreeMap<String, u64> = said
        .lines()
        .filter_map(|line| line.strip_prefix("decoded "))
        .map(|line| {
            let (count, kind) = line.split_once(' ').unwrap();
            (kind.to_owned(), count.parse().unwrap())
        })
        .collect();
    assert_eq!(decoded, kinds, "{said}");
    assert!(kinds.len() >= 8, "the demo should cover many event kinds: {kinds:?}");
    let rejections = kinds.keys().filter(|kind| kind.starts_with("rejected/")).count();
    assert!(rejections >= 2, "the demo should refuse for several reasons: {kinds:?}");
    assert_eq!(decoded.values().sum::<u64>(), text.lines().count() as u64);
}

/// What an `init` killed at some point left at `db`: nothing (absent or empty), an interrupted
/// creation that no command takes for a ledger, or a ledger that verifies.
fn leftover_of_a_killed_init(db: &Path) -> &'static str {
    let names = listing(db);
    if names.is_empty() {
        return "nothing";
    }
    let (code, out, err) = cli(db, &["verify"]);
    if code == 0 {
        return "a ledger";
    }
    assert_eq!(code, 2, "left {names:?}; verify: {out}{err}");
    if err.contains("holds no record: its `init` was interrupted before the policy was recorded") {
        return "a ledger without its policy";
    }
    assert!(
        err.contains("creation (`init` or `backup`) was interrupted") && !names.iter().any(|n| n == "LEDGER"),
        "left {names:?}, which is neither nothing nor a ledger: {err}"
    );
    "an interrupted creation"
}

#[test]
fn init_killed_at_any_moment_leaves_nothing_or_a_ledger_and_init_again_completes_it() {
    // Issue 23 item 13: a SIGKILL inside init left the LEDGER marker and part of a RocksDB
    // ("already holds a ledger"; verify: "Column family not found: log"), which nothing repaired.
    let dir = tempfile::tempdir().unwrap();
    let mut seen = std::collections::BTreeMap::new();
    for kill in 0..30u64 {
        // Given `ledger-cli init` SIGKILLed after 0..=290 ms (a whole init takes ~150 ms here)
        let db = dir.path().join(format!("ledger-{kill}"));
        let mut init = Command::new(env!("CARGO_BIN_EXE_ledger-cli"))
            .arg("--db")
            .arg(&db)
            .arg("init")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(kill * 10));
        let _ = init.kill();
        init.wait().unwrap();
        // Then what is left is nothing, an interrupted creation or a ledger that verifies
        *seen.entry(leftover_of_a_killed_init(&db)).or_insert(0) += 1;
        // And init again completes it (or, if the first one finished, says it is a ledger)
        let (code, out, err) = cli(&db, &["init"]);
        assert!(
            code == 0 || (code == 2 && err.contains("already holds a ledger")),
            "kill {kill}: init again: {out}{err}"
        );
        let (code, out, err) = cli(&db, &["--json", "head"]);
        assert_eq!(code, 0, "kill {kill}: {out}{err}");
        assert_eq!(json(&out)["seq"], 1, "kill {kill}: the policy is the one record");
        assert_eq!(cli(&db, &["submit", OPEN]).0, 0, "kill {kill}: the ledger works");
    }
    eprintln!("leftovers of 30 killed inits: {seen:?}");
}

#[test]
fn writer_commands_next_to_a_running_writer_say_what_to_do() {
    // Issue 23 item 11: the cron `ledger-cli tick` next to a server exited 2 with only
    // "While lock file: …/LOCK: Resource temporarily unavailable".
    let dir = tempfile::tempdir().unwrap();
    let db = ledger(dir.path());
    let server = ledger_store::Ledger::open(&db, ledger_store::LedgerOptions::default()).unwrap();
    for args in [&["tick"][..], &["submit", DEPOSIT], &["check", DEPOSIT]] {
        let (code, out, err) = cli(&db, args);
        assert_eq!(code, 2, "{args:?}: {out}{err}");
        assert!(err.contains("another process holds the ledger") && err.contains("POST /v1/tick"), "{args:?}: {err}");
    }
    // Read-only subcommands still work next to it.
    assert_eq!(cli(&db, &["verify"]).0, 0);
    server.close().unwrap();
    assert_eq!(cli(&db, &["tick"]).0, 0);
}

#[test]
fn a_ledger_without_its_policy_is_refused_by_every_subcommand_but_init() {
    // An outsider's finding: an init killed after the ledger was marked but before the policy
    // was recorded left a ledger with no record; `verify` said OK, `tick` and `import` recorded
    // events before any policy, and `init` then refused it for good.
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("ledger");
    // Given a ledger with no record (created, its policy never recorded)
    ledger_store::Ledger::create(&db, ledger_store::LedgerOptions::default()).unwrap().close().unwrap();
    // When any subcommand but init runs on it, then it is refused and says what to do
    for args in [&["verify"][..], &["head"], &["replay"], &["tick"], &["submit", DEPOSIT], &["check", DEPOSIT]] {
        let (code, out, err) = cli(&db, args);
        assert_eq!(code, 2, "{args:?}: {out}{err}");
        assert!(err.contains("holds no record") && err.contains("init --policy"), "{args:?}: {err}");
    }
    // And init records the policy: the ledger works
    let (code, out, err) = cli(&db, &["init"]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, _) = cli(&db, &["--json", "head"]);
    assert_eq!((code, json(&out)["seq"].as_u64()), (0, Some(1)));
    assert_eq!(cli(&db, &["submit", OPEN]).0, 0);
}

#[test]
fn writer_runs_keep_a_bounded_number_of_rocksdb_info_logs() {
    // An outsider's finding: every writer run left another ~115 KB LOG.old file (RocksDB keeps
    // 1,000 by default): a cron tick a minute grew the directory by ~165 MB a day.
    let dir = tempfile::tempdir().unwrap();
    let db = ledger(dir.path());
    for _ in 0..12 {
        assert_eq!(cli(&db, &["tick"]).0, 0);
    }
    let logs = listing(&db).iter().filter(|name| name.starts_with("LOG")).count();
    assert!(logs <= 6, "{logs} RocksDB info logs after 12 writer runs: {:?}", listing(&db));
}

/// Given a ledger whose `rebuild-indexes` was killed after it marked the layout "rebuilding"
/// (the mark set here directly), when any command opens it, then it is refused with what to do
/// (exit 2; no advice to restore a backup: nothing is damaged); and `rebuild-indexes` run again
/// finishes it (it was refused too: its progress bar opened a reader first).
#[test]
fn a_rebuild_cut_short_is_finished_by_running_it_again() {
    let dir = tempfile::tempdir().unwrap();
    let db = ledger(dir.path());
    let (_, before, _) = cli(&db, &["balance", "70"]);
    {
        let raw = rocksdb::DB::open_cf(
            &rocksdb::Options::default(),
            &db,
            ["log", "accounts", "customers", "history", "meta", "answered"],
        )
        .unwrap();
        raw.put_cf(raw.cf_handle("meta").unwrap(), b"format", [0xFEu8]).unwrap();
    }
    for args in [&["balance", "70"][..], &["replay"], &["verify"], &["submit", DEPOSIT], &["history", "70"]] {
        let (code, out, err) = cli(&db, args);
        assert_eq!(code, 2, "{args:?}: {out}{err}");
        assert!(err.contains("rebuild was cut short") && !err.contains("restore the last backup"), "{args:?}: {err}");
    }
    let (code, out, err) = cli(&db, &["rebuild-indexes"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(cli(&db, &["balance", "70"]).1, before, "the ledger answers as before");
}

/// Given a ledger that recorded no checkpoint, when an auditor verifies it with the ledger's
/// public key, then the check fails: nothing in it was signed (it said "OK … each signed with
/// the key given").
#[test]
fn a_public_key_proves_nothing_over_a_log_without_checkpoints_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let db = ledger(dir.path());
    let key_file = dir.path().join("checkpoint.key");
    let (code, made, _) = cli(&db, &["keygen", "--out", key_file.to_str().unwrap()]);
    assert_eq!(code, 0, "{made}");
    let key = made.rsplit(": ").next().unwrap().trim().to_owned();
    let (code, out, err) = cli(&db, &["verify", "--public-key", &key]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("FAILED: no recorded checkpoint") && !out.contains("OK"), "{out}{err}");
    let (code, out, _) = cli(&db, &["--json", "verify", "--public-key", &key]);
    assert_eq!((code, json(&out)["ok"].as_bool()), (1, Some(false)), "{out}");
    assert_eq!(cli(&db, &["verify"]).0, 0, "without a key the chain alone is checked");
}

/// Given an output that cannot be written (a full disk: `/dev/full`; a reader that went away:
/// a closed pipe), when a command prints its answer, then it ends with exit 2 and says it was
/// standard output that failed ("error: writing to standard output: …", whichever layer wrote):
/// never a panic (exit 101 and a backtrace).
#[test]
fn an_output_that_cannot_be_written_is_exit_2_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let db = ledger(dir.path());
    let db_arg = db.to_str().unwrap();
    let commands: &[&[&str]] = &[
        &["verify"],
        &["replay"],
        &["head"],
        &["balance", "70"],
        &["accounts", "7"],
        &["--json", "verify"],
        &["--json", "replay"],
        &["history", "70"],
        // Streamed to standard output: said "storage I/O error: writing the export: …" and, for
        // a CSV statement, a bare "No space left on device" (outside testers).
        &["export", "-"],
        &["statement", "70", "--from", "2026-03-02", "--to", "2026-03-02", "--format", "csv"],
        &["statement", "70", "--from", "2026-03-02", "--to", "2026-03-02"],
        &["--json", "statement", "70", "--from", "2026-03-02", "--to", "2026-03-02"],
    ];
    for args in commands {
        for (stdout, what) in [("full", "/dev/full"), ("closed pipe", "pipe")] {
            let mut command = Command::new(env!("CARGO_BIN_EXE_ledger-cli"));
            command.args(["--db", db_arg]).args(*args).stdin(Stdio::null()).stderr(Stdio::piped());
            let output = if what == "pipe" {
                // The reader is gone before the command writes: its write fails with EPIPE
                // (Rust ignores SIGPIPE).
                let mut child = command.stdout(Stdio::piped()).spawn().unwrap();
                drop(child.stdout.take());
                child.wait_with_output().unwrap()
            } else {
                command.stdout(std::fs::File::options().write(true).open(what).unwrap()).output().unwrap()
            };
            let err = String::from_utf8_lossy(&output.stderr);
            assert_eq!(output.status.code(), Some(2), "{args:?} to a {stdout}: {err}");
            assert!(
                err.starts_with("error: writing to standard output: ") && !err.contains("storage"),
                "{args:?} to a {stdout}: {err}"
            );
        }
    }
    // An export file on a full disk (files this process writes may hold 512 bytes: `ulimit -f
    // 1`, SIGXFSZ ignored) names the file, not "storage I/O error: writing the export".
    let file = dir.path().join("export.jsonl");
    let output = Command::new("sh")
        .args(["-c", "trap '' XFSZ; ulimit -f 1; exec \"$0\" \"$@\"", env!("CARGO_BIN_EXE_ledger-cli")])
        .args(["--db", db_arg, "export", file.to_str().unwrap()])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{err}");
    assert!(err.starts_with(&format!("error: writing to {}: File too large", file.display())), "{err}");
}

/// Given text an operator or client chose with a backslash in it (a path), when a command shows
/// it, then it is escaped exactly once (`a\\b`), as `out::safe` promises: `migrate` escaped its
/// paths and then `say!` escaped the line again; `report all`'s `$TMPDIR` was escaped in its
/// error and again when the error was printed (and `--json` carried the escaped form).
#[test]
fn client_text_is_escaped_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = ledger(dir.path());
    let once = "a\\\\b";
    let twice = "a\\\\\\\\b";
    let target = dir.path().join("a\\b");
    let (code, out, err) = cli(&db, &["migrate", "--to", target.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(once) && !out.contains(twice), "{out}");
    let tmp = dir.path().join("no\\such").join("a\\b");
    let report = |json: bool| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_ledger-cli"));
        command.arg("--db").arg(&db).args(["--now", common::NOW]);
        if json {
            command.arg("--json");
        }
        let output = command
            .args(["report", "all", "--from", "2026-03-02", "--to", "2026-03-02"])
            .env("TMPDIR", &tmp)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
        (output.status.code(), text(&output.stdout), text(&output.stderr))
    };
    let (code, _, err) = report(false);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("temporary file") && err.contains(once) && !err.contains(twice), "{err}");
    // JSON carries the text exactly (JSON escapes it itself).
    let (code, out, _) = report(true);
    assert_eq!(code, Some(2), "{out}");
    let error = json(&out)["error"].as_str().unwrap().to_owned();
    assert!(error.contains(tmp.to_str().unwrap()), "{error}");
    // A risk-listed counterparty with an ESC and a backslash (an outside tester: a refusal and
    // `risk-check` showed `LIT\\u{1b}`, Rust's escape escaped again; JSON carried the escapes).
    let name = "LIT\u{1b}\\x";
    let (once, twice) = ("\"LIT\\u{1b}\\\\x\"", "\\\\u{1b}");
    let list = serde_json::json!({
        "type": "list_risk", "id": "00000000-0000-4000-8000-000000000501", "at": "2026-03-02T10:00:00+08:00",
        "counterparty": name, "reason": "fraud", "source": "police",
    })
    .to_string();
    assert_eq!(cli(&db, &["submit", &list]).0, 0);
    // `--as` (an outside tester: `\\u{1b}` where one escape is right).
    let (code, _, err) = cli(&db, &["--as", name, "tick"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--as") && err.contains(once) && !err.contains(twice), "--as: {err}");
    let (code, out, _) = cli(&db, &["risk-check", name]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(once) && !out.contains(twice), "risk-check: {out}");
    let hit = serde_json::json!({
        "type": "outbound_transfer", "id": "00000000-0000-4000-8000-000000000502",
        "at": "2026-03-02T10:01:00+08:00", "from": 70, "counterparty": name, "amount": "1",
    })
    .to_string();
    let (code, out, _) = cli(&db, &["submit", &hit]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("RISK_LISTED_COUNTERPARTY") && out.contains(once) && !out.contains(twice), "refusal: {out}");
    let (_, out, _) = cli(&db, &["--json", "report", "limit-hits", "--from", "2026-03-02", "--to", "2026-03-02"]);
    let report = json(&out);
    let details: Vec<&str> =
        report["limit_hits"].as_array().unwrap().iter().filter_map(|l| l["detail"].as_str()).collect();
    assert!(details.iter().any(|d| d.contains(&format!("\"{name}\""))), "JSON carries the text exactly: {out}");
}
