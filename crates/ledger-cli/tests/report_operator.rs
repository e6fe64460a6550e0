#![expect(clippy::unwrap_used, reason = "a failing step should stop the test where it fails")]

//! `report` as an operator meets it (issue 25, an outside tester's findings with the docs and
//! the binary only): `all` in a format it does not offer is refused, not printed as JSON; a
//! range past the log's head is a usage error (exit 2), as the exit-code table says; every day
//! of the range has its daily-summary rows, the quiet days before the log's first record too;
//! a thresholds file that claims the preset's name with other thresholds is refused; a failed
//! write names what was full, the output or the temporary file an array of `all` waits in.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};

use common::{NOW, json};
use ledger_core::BeijingDay;

/// Where the report's output goes, and what limits the process.
#[derive(Clone, Copy, Debug)]
enum Run {
    /// Standard output a pipe (read by the test).
    Pipe,
    /// Standard output `/dev/full`: every write of it fails with "no space left".
    FullOutput,
    /// Files the process writes may hold 512 bytes (`ulimit -f 1`, SIGXFSZ ignored): the
    /// temporary files `report all` stages arrays in fail, the piped output does not.
    FullTmp,
}

/// Runs `ledger-cli --db DB --now NOW ARGS` as `run` says: (exit code, stdout, stderr).
fn report(db: &Path, run: Run, args: &[&str]) -> (i32, String, String) {
    let bin = env!("CARGO_BIN_EXE_ledger-cli");
    let mut command = match run {
        Run::Pipe | Run::FullOutput => Command::new(bin),
        Run::FullTmp => {
            let mut sh = Command::new("sh");
            sh.args(["-c", "trap '' XFSZ; ulimit -f 1; exec \"$0\" \"$@\"", bin]);
            sh
        }
    };
    command.arg("--db").arg(db).args(["--now", NOW]).args(args).env_remove("LEDGER_AS").stdin(Stdio::null());
    if let Run::FullOutput = run {
        command.stdout(std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap());
    }
    let output = command.output().unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// given (what, how run, arguments) → then (exit code, stdout has, stderr has, stderr lacks)
type Row<'a> = (&'a str, Run, Vec<&'a str>, i32, &'a str, &'a str, &'a str);

/// The preset's limit-hit codes line.
const LIMIT_CODES: &str = "codes = [\"LIMIT_EXCEEDED\", \"PERSONAL_LIMIT_EXCEEDED\", \"RISK_LISTED_COUNTERPARTY\"]";

/// The preset's text under a name of its own.
fn own_name_text(preset: &str) -> String {
    assert!(preset.contains(LIMIT_CODES));
    preset.replace("name = \"pboc-2016-3\"", "name = \"bank-2026\"")
}

fn day(text: &str) -> BeijingDay {
    format!("{text}T12:00:00+08:00").parse::<ledger_core::Timestamp>().unwrap().beijing_day()
}

fn plus(text: &str, days: i32) -> String {
    BeijingDay(day(text).0 + days).to_string()
}

/// The days of the daily-summary CSV's rows, in order, without repeats.
fn summary_days(csv: &str) -> Vec<String> {
    let mut days: Vec<String> = Vec::new();
    for row in csv.lines().skip(1) {
        let day = row.split(',').next().unwrap().to_owned();
        if days.last() != Some(&day) {
            days.push(day);
        }
    }
    days
}

#[test]
fn report_refuses_what_it_cannot_print_right_and_names_what_failed() {
    let dir = tempfile::tempdir().unwrap();
    let (db, export) = common::demo_and_export(dir.path());
    let days: BTreeSet<String> = std::fs::read_to_string(&export)
        .unwrap()
        .lines()
        .map(|line| json(line)["event"]["at"].as_str().unwrap()[..10].to_owned())
        .collect();
    let (first, head) = (days.first().unwrap().clone(), days.last().unwrap().clone());
    let preset = include_str!("../../ledger-core/reports/pboc-2016-3.toml");
    let lower = preset.replace("threshold = \"50000.00\"\nflows = [\"cash", "threshold = \"1.00\"\nflows = [\"cash");
    assert_ne!(lower, preset);
    let file = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_owned()
    };
    let claims_preset = file("claims-preset.toml", &lower);
    let own_name = file("own-name.toml", &lower.replace("name = \"pboc-2016-3\"", "name = \"bank-2026\""));
    let copy = file("copy.toml", preset);
    // The preset's content under its name with a Cyrillic р: a report labelled as the preset's
    // that is not it (an outside tester's file).
    let look_alike = file("look-alike.toml", &preset.replace("name = \"pboc-2016-3\"", "name = \"\u{440}boc-2016-3\""));
    let no_codes = file("no-codes.toml", &own_name_text(preset).replace(LIMIT_CODES, "codes = []"));
    let low_review = file(
        "low-review.toml",
        &own_name_text(preset).replace("threshold = \"50000.00\"\nwindow", "threshold = \"1.00\"\nwindow"),
    );
    let (before, after) = (plus(&first, -2), plus(&head, 1));
    let fifo = dir.path().join("rules.fifo");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let fifo = fifo.to_str().unwrap().to_owned();

    let rows: [Row<'_>; 22] = [
        ("all as CSV", Run::Pipe, vec!["all", "--format", "csv"], 2, "", "--format csv is not offered", "\0"),
        ("all as text", Run::Pipe, vec!["all", "--format", "text"], 2, "", "--format text is not offered", "\0"),
        ("all, format unsaid", Run::Pipe, vec!["all"], 0, "{\"class_iii_review\":[", "", "error"),
        ("all as JSON", Run::Pipe, vec!["all", "--format", "json"], 0, "\"daily_summary\":[", "", "error"),
        (
            "--to the head's day",
            Run::Pipe,
            vec!["daily-summary", "--to", &head],
            0,
            "daily summary report",
            "",
            "error",
        ),
        ("--to past the head", Run::Pipe, vec!["daily-summary", "--to", &after], 2, "", "past the head", "\0"),
        (
            "--to past the head, CSV",
            Run::Pipe,
            vec!["limit-hits", "--to", &after, "--format", "csv"],
            2,
            "",
            "ledger-cli tick",
            "\0",
        ),
        (
            "a preset's name, lower cash threshold",
            Run::Pipe,
            vec!["large-value", "--rules", &claims_preset],
            2,
            "",
            "a name of its own",
            "\0",
        ),
        (
            "a name of its own, lower cash threshold",
            Run::Pipe,
            vec!["large-value", "--rules", &own_name],
            0,
            "thresholds bank-2026",
            "",
            "error",
        ),
        (
            "the preset's content, a Cyrillic р in its name",
            Run::Pipe,
            vec!["large-value", "--rules", &look_alike],
            2,
            "",
            "reads as the name of the shipped preset \"pboc-2016-3\"",
            "\0",
        ),
        ("no limit-hit codes", Run::Pipe, vec!["limit-hits", "--rules", &no_codes], 2, "", "limit_hits.codes", "\0"),
        // Text lines cite the rule's source, as CSV and JSON do (text lacked it).
        (
            "large-value text",
            Run::Pipe,
            vec!["large-value", "--rules", &own_name],
            0,
            "(≥ 1.00, 中国人民银行令〔2016〕第3号 第五条第一款第（一）项、第五条第二款): seq ",
            "",
            "error",
        ),
        (
            "class-iii-review text",
            Run::Pipe,
            vec!["class-iii-review", "--rules", &low_review],
            0,
            "(≥ 1.00, 银发〔2018〕16号",
            "",
            "error",
        ),
        // --json and another --format: which one was meant is not guessed (it printed JSON).
        (
            "--json and --format csv",
            Run::Pipe,
            vec!["large-value", "--json", "--format", "csv"],
            2,
            "",
            "give one of them",
            "\0",
        ),
        (
            "--json and --format json",
            Run::Pipe,
            vec!["large-value", "--json", "--format", "json"],
            0,
            "\"large_value\"",
            "",
            "error",
        ),
        // A device or a FIFO as the thresholds file: refused before a byte is read (/dev/zero
        // was read until memory ran out; a FIFO with no writer waited for ever).
        (
            "a device as --rules",
            Run::Pipe,
            vec!["large-value", "--rules", "/dev/zero"],
            2,
            "",
            "not a regular file",
            "\0",
        ),
        ("a FIFO as --rules", Run::Pipe, vec!["large-value", "--rules", &fifo], 2, "", "not a regular file", "\0"),
        (
            "the preset copied to a file",
            Run::Pipe,
            vec!["large-value", "--rules", &copy],
            0,
            "thresholds pboc-2016-3",
            "",
            "error",
        ),
        (
            "the output full",
            Run::FullOutput,
            vec!["daily-summary"],
            2,
            "",
            "writing the report to standard output: No space left",
            "temporary",
        ),
        (
            "the output full, all",
            Run::FullOutput,
            vec!["all"],
            2,
            "",
            "writing the report to standard output: No space left",
            "temporary",
        ),
        (
            "the temporary files full, all",
            Run::FullTmp,
            vec!["all"],
            2,
            "",
            "lines in a temporary file in",
            "standard output",
        ),
        (
            "the temporary files limited, one report",
            Run::FullTmp,
            vec!["daily-summary"],
            0,
            "daily summary report",
            "",
            "error",
        ),
    ];
    for (what, run, args, code, out_has, err_has, err_lacks) in rows {
        let mut all = vec!["report"];
        all.extend(&args);
        if !args.contains(&"--to") {
            all.extend(["--to", &head]);
        }
        all.extend(["--from", &first]);
        let (got, out, err) = report(&db, run, &all);
        assert_eq!(got, code, "{what}: {err}");
        assert!(
            out.contains(out_has) && err.contains(err_has) && !err.contains(err_lacks),
            "{what}: {out:.300}\n{err}"
        );
        if code != 0 {
            // (With --json the refusal itself is the one line: {"error": …}.)
            let refusal_only = out.is_empty() || (args.contains(&"--json") && out.starts_with("{\"error\""));
            assert!(refusal_only || matches!(run, Run::FullTmp), "{what}: refused before any line: {out:.300}");
        }
    }
    // The custom file's lower threshold changed the lines: it is labelled apart for a reason.
    let lines = |rules: &str| {
        report(&db, Run::Pipe, &["report", "large-value", "--from", &first, "--to", &head, "--rules", rules]).1
    };
    assert_ne!(lines(&own_name).lines().count(), lines("pboc-2016-3").lines().count());
    // A line without a counterparty (cash) ends without a trailing space.
    let text = lines(&own_name);
    assert!(text.contains(" cash "), "{text:.300}");
    assert!(!text.lines().any(|line| line.ends_with(' ')), "a trailing space: {text:.1000}");

    // Every day of the range has its rows: quiet days before the log's first record as well,
    // whether or not the range also covers days with records.
    let summary = |from: &str, to: &str| {
        let (code, out, err) =
            report(&db, Run::Pipe, &["report", "daily-summary", "--from", from, "--to", to, "--format", "csv"]);
        assert_eq!(code, 0, "{err}");
        summary_days(&out)
    };
    let (day_before, next) = (plus(&first, -1), plus(&first, 1));
    // (from, to) → the days with rows
    let ranges: [(&str, &str, Vec<&str>); 4] = [
        (&before, &day_before, vec![&before, &day_before]),
        (&before, &first, vec![&before, &day_before, &first]),
        (&before, &next, vec![&before, &day_before, &first, &next]),
        (&first, &next, vec![&first, &next]),
    ];
    for (from, to, want) in ranges {
        assert_eq!(summary(from, to), want, "{from} to {to}");
    }
}

/// Thresholds files an outside tester passed: a source of invisible characters only cites
/// nothing; a name holding the preset's could be read as the preset in a report's header; and
/// a name or path with an escape is shown escaped once (`\u{1b}`, not `\\u{1b}`). All refused
/// before the ledger is opened.
#[test]
fn thresholds_files_that_cite_nothing_or_could_pass_for_the_preset_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("no-ledger");
    let preset = include_str!("../../ledger-core/reports/pboc-2016-3.toml");
    let lower = preset.replace("threshold = \"50000.00\"\nflows = [\"cash", "threshold = \"1.00\"\nflows = [\"cash");
    let own = |name: &str| lower.replace("name = \"pboc-2016-3\"", &format!("name = \"{name}\""));
    let source_line = preset.lines().find(|line| line.starts_with("source")).unwrap();
    let invisible = own("bank-2026").replacen(source_line, "source = \"\\u200B\\u202E\\u2066 \\uFEFF\"", 1);
    let bad_code = own("bank-2026").replace("\"LIMIT_EXCEEDED\"", "\"X\\u001b[2J\"");
    let missing = dir.path().join("no\u{1b}[2J.toml");
    // (what, the file's text (None: --rules names a missing file), stderr has, stderr lacks)
    let rows: [(&str, Option<String>, &str, &str); 7] = [
        ("a source of invisible characters", Some(invisible), "no source cited", "\0"),
        ("the preset's name and a word", Some(own("pboc-2016-3 preset")), "holds the name of the shipped preset", "\0"),
        ("the preset's name and a suffix", Some(own("pboc-2016-3-copy")), "a name of its own", "\0"),
        ("a name with an escape", Some(own("bank\\u001b[2J")), "report rules \"bank\\u{1b}[2J\"", "\\\\u{1b}"),
        ("a reason code with an escape", Some(bad_code), "unknown reason code \"X\\u{1b}[2J\"", "\\\\u{1b}"),
        ("a missing file with an escape", None, "--rules \"", "\\\\u{1b}"),
        ("a name of its own", Some(own("bank-2016-3")), "no ledger at", "thresholds"),
    ];
    for (what, text, err_has, err_lacks) in rows {
        let path = match &text {
            Some(text) => {
                let path = dir.path().join("rules.toml");
                std::fs::write(&path, text).unwrap();
                path
            }
            None => missing.clone(),
        };
        let args = ["report", "large-value", "--from", "2026-03-02", "--to", "2026-03-02", "--rules"];
        let (code, out, err) = report(&db, Run::Pipe, &[&args[..], &[path.to_str().unwrap()]].concat());
        assert_eq!(code, 2, "{what}: {out}{err}");
        assert!(err.contains(err_has) && !err.contains(err_lacks), "{what}: {err}");
        assert!(!err.contains('\u{1b}'), "{what}: escaped: {err:?}");
    }
}
