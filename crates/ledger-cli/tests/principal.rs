//! Who submitted a command: every event the CLI records names `--as NAME` (or `LEDGER_AS`) in
//! the role `cli`, by default `cli:` and the operating-system user; history, statements and
//! exports show it.

mod common;

use common::{cli, json};
use serde_json::json;

const OPEN: &str = r#"{"type":"open_account","id":"00000000-0000-4000-8000-000000000001","account":70,"customer":7,"class":"I","verified_in_person":true}"#;
const DEPOSIT: &str =
    r#"{"type":"cash_deposit","id":"00000000-0000-4000-8000-000000000002","account":70,"amount":"100"}"#;

#[test]
fn every_event_names_who_submitted_it_and_history_statements_and_exports_show_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    // given: (the --as flag, the name recorded)
    assert_eq!(cli(&db, &["--as", "setup-job", "init"]).0, 0);
    assert_eq!(cli(&db, &["--as", "branch-42", "submit", OPEN]).0, 0);
    let (code, _, stderr) = cli(&db, &["submit", DEPOSIT]);
    assert_eq!(code, 0, "{stderr}");
    let user = "tester"; // common::cli's USER
    let expected = [("setup-job".to_owned(), 1), ("branch-42".to_owned(), 2), (format!("cli:{user}"), 3)];

    let (_, out, _) = cli(&db, &["export", "-"]);
    let lines: Vec<_> = out.lines().map(json).collect();
    for (name, seq) in &expected {
        assert_eq!(lines[seq - 1]["event"]["principal"], json!({ "name": name, "role": "cli" }), "seq {seq}");
    }
    let (_, out, _) = cli(&db, &["--json", "history", "70"]);
    let history = json(&out);
    assert_eq!(history["entries"][1]["event"]["principal"]["name"], json!(format!("cli:{user}")));
    let (_, out, _) = cli(&db, &["history", "70"]);
    assert!(out.contains("by branch-42 (cli)"), "{out}");
    let (_, out, _) = cli(&db, &["statement", "70", "--from", "2026-03-01", "--to", "2026-03-31", "--format", "csv"]);
    assert!(out.lines().next().unwrap().ends_with(",submitted_by"), "{out}");
    assert!(out.contains(&format!("cli:{user} (cli)")), "{out}");

    // A name that is no principal's (empty, a control character, too long) is a usage error.
    let long = "n".repeat(65);
    for bad in ["", "two\nlines", long.as_str(), "a\u{1b}]0;pwned\u{7}b"] {
        let (code, _, stderr) = cli(&db, &["--as", bad, "submit", DEPOSIT]);
        assert_eq!(code, 2, "--as {bad:?}: {stderr}");
        // The refused name is shown escaped: no raw line break or escape sequence reaches the
        // terminal (an outsider's finding: the argument parser echoed it raw).
        assert!(!stderr.contains('\u{1b}') && !stderr.contains("two\nlines"), "--as {bad:?}: {stderr:?}");
    }
}
