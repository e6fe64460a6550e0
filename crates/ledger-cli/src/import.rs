//! `ledger-cli import FILE.jsonl`: stream commands through the engine in batches. Every input
//! line that is not blank gets one result line (in input order) in `--results`; a malformed line
//! (bad JSON, not UTF-8, an unknown field...) is reported with its line number and reason and
//! does not stop the rest. Blank lines are skipped. Re-running an import is idempotent:
//! command ids already answered get their first answer again (`duplicate`). The next batch is
//! submitted before the previous one's answer is taken (the writer decides it while the previous
//! is written); answers are taken, and results written, in input order.

use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, bail};
use ledger_core::{COMMAND_LINE_BYTES_MAX, Command, parse_command};
use serde_json::{Value, json};

use crate::args::Cli;
use crate::open::open_ledger;
use crate::out::{self, ReasonCounts, check_failed, receipt_json, say};
use crate::progress;

#[derive(Default)]
struct Summary {
    lines: u64,
    accepted: u64,
    rejected: u64,
    duplicates: u64,
    conflicts: u64,
    malformed: u64,
    rejected_by_reason: ReasonCounts,
    first_malformed: Option<String>,
}

/// A line waiting for its batch: either a command to submit or its parse error.
enum Pending {
    Command(u64, Command),
    Malformed(u64, String),
}

pub fn run(
    cli: &Cli,
    file: &Path,
    results: Option<&Path>,
    batch_len_max: usize,
    force: bool,
) -> anyhow::Result<ExitCode> {
    if batch_len_max == 0 {
        bail!("--batch must be at least 1");
    }
    let input = std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
    let size = input.metadata().map(|m| m.len()).unwrap_or(0);
    let mut reader = BufReader::new(input);
    if let Some(path) = results.filter(|path| out::same_file(file, path)) {
        bail!("--results {} is the input file itself; it would be overwritten", path.display());
    }
    // The ledger first: a missing ledger must not leave a results file behind.
    let ledger = open_ledger(cli)?;
    let mut results = match results {
        Some(path) => Some(BufWriter::new(out::create_private(path, force)?)),
        None => None,
    };
    let bar = progress::bar(size, "bytes");
    let started = Instant::now();
    let mut summary = Summary::default();
    let mut pending: Vec<Pending> = Vec::new();
    let mut in_flight: Option<InFlight> = None;
    let mut commands = 0;
    let mut line = Vec::new();
    let mut line_no = 0u64;
    let mut read_bytes = 0u64;
    loop {
        line.clear();
        let (read, cut) = read_line_bounded(&mut reader, &mut line)
            .with_context(|| format!("reading {} at line {}", file.display(), line_no + 1))?;
        if read == 0 {
            break;
        }
        line_no += 1;
        read_bytes += read as u64;
        if cut {
            let why = format!("line is {read} bytes; the limit is {COMMAND_LINE_BYTES_MAX}");
            pending.push(Pending::Malformed(line_no, why));
            continue;
        }
        match std::str::from_utf8(&line).map(str::trim) {
            Ok("") => {}
            Ok(text) => match parse_command(text, ledger.now()) {
                Ok(command) => {
                    pending.push(Pending::Command(line_no, command));
                    commands += 1;
                }
                Err(err) => pending.push(Pending::Malformed(line_no, err.to_string())),
            },
            Err(err) => pending.push(Pending::Malformed(line_no, format!("not valid UTF-8: {err}"))),
        }
        if commands >= batch_len_max {
            let next = submit(&ledger, std::mem::take(&mut pending));
            if let Some(previous) = in_flight.replace(next) {
                take(previous, &mut results, &mut summary)?;
            }
            commands = 0;
            bar.set_position(read_bytes);
            bar.set_message(format!(
                "{:.0} commands/s",
                summary.lines as f64 / started.elapsed().as_secs_f64().max(1e-9)
            ));
        }
    }
    let last = submit(&ledger, pending);
    if let Some(previous) = in_flight {
        take(previous, &mut results, &mut summary)?;
    }
    take(last, &mut results, &mut summary)?;
    bar.finish_and_clear();
    if let Some(out) = results.as_mut() {
        out.flush().context("writing the results")?;
    }
    let head = ledger.head()?;
    ledger.close()?;
    print_summary(cli, file, &summary, started.elapsed().as_secs_f64(), head);
    Ok(if summary.malformed == 0 && summary.conflicts == 0 { ExitCode::SUCCESS } else { check_failed() })
}

/// The import's closing report, human or JSON.
fn print_summary(cli: &Cli, file: &Path, summary: &Summary, seconds: f64, head: ledger_store::Head) {
    let answered = summary.accepted + summary.rejected + summary.duplicates + summary.conflicts;
    let per_second = answered as f64 / seconds.max(1e-9);
    if cli.json {
        crate::out::outln!(
            "{}",
            json!({
                "file": file, "lines": summary.lines, "accepted": summary.accepted, "rejected": summary.rejected,
                "rejected_by_reason": summary.rejected_by_reason, "duplicates": summary.duplicates,
                "conflicts": summary.conflicts,
                "malformed": summary.malformed, "seconds": seconds, "commands_per_second": per_second,
                "head": head.to_text(),
            })
        );
    } else {
        say!("imported {}: {} lines in {seconds:.2} s ({per_second:.0} commands/s)", file.display(), summary.lines);
        say!("  accepted    {}", summary.accepted);
        say!("  rejected    {}", summary.rejected);
        for (reason, count) in &summary.rejected_by_reason {
            say!("    {reason:<34} {count}");
        }
        say!("  duplicates  {} (answered before: same answer)", summary.duplicates);
        say!("  conflicts   {} (id already used for a different request: nothing done)", summary.conflicts);
        say!("  malformed   {}", summary.malformed);
        if let Some(first) = &summary.first_malformed {
            say!("    first: {first}");
        }
        say!("  head {}", head.to_text());
    }
}

/// A submitted batch's lines and where its receipts come.
struct InFlight {
    pending: Vec<Pending>,
    answer: std::sync::mpsc::Receiver<ledger_store::Result<Vec<ledger_store::Receipt>>>,
}

/// Submits the commands of `pending` without waiting for their answer.
fn submit(ledger: &ledger_store::Ledger, pending: Vec<Pending>) -> InFlight {
    let commands: Vec<Command> = pending
        .iter()
        .filter_map(|p| match p {
            Pending::Command(_, command) => Some(command.clone()),
            Pending::Malformed(..) => None,
        })
        .collect();
    let (reply, answer) = std::sync::mpsc::sync_channel(1);
    ledger.submit_batch_then(commands, move |receipts| {
        let _ = reply.send(receipts);
    });
    InFlight { pending, answer }
}

/// Waits for a submitted batch's answer; counts it and writes its result lines.
fn take(
    in_flight: InFlight,
    results: &mut Option<BufWriter<std::fs::File>>,
    summary: &mut Summary,
) -> anyhow::Result<()> {
    let InFlight { pending, answer } = in_flight;
    let receipts = answer.recv().context("the writer dropped a batch unanswered")?;
    let mut receipts = receipts.context("submitting a batch")?.into_iter();
    for entry in pending {
        summary.lines += 1;
        let result: Value = match entry {
            Pending::Malformed(line, error) => {
                summary.malformed += 1;
                summary.first_malformed.get_or_insert_with(|| format!("line {line}: {error}"));
                json!({ "line": line, "status": "malformed", "error": error })
            }
            Pending::Command(line, command) => {
                let receipt = receipts.next().context("the engine returned fewer receipts than commands")?;
                match (receipt.duplicate, receipt.rejection()) {
                    _ if receipt.conflict => summary.conflicts += 1,
                    (true, _) => summary.duplicates += 1,
                    (false, None) => summary.accepted += 1,
                    (false, Some(reason)) => {
                        summary.rejected += 1;
                        *summary.rejected_by_reason.entry(reason.code().to_owned()).or_default() += 1;
                    }
                }
                let mut value = receipt_json(&receipt);
                if let Some(object) = value.as_object_mut() {
                    object.remove("event");
                    object.insert("line".into(), json!(line));
                    object.insert("id".into(), json!(command.id.0));
                }
                value
            }
        };
        if let Some(out) = results.as_mut() {
            writeln!(out, "{result}").context("writing the results")?;
        }
    }
    Ok(())
}

/// The bytes of a line `import` holds: the command limit and room for the whitespace around it.
/// A longer line is refused without being held whole.
const LINE_KEPT_MAX: usize = COMMAND_LINE_BYTES_MAX + 4_096;

/// Reads one line (through its `\n`) into `line`, holding at most [`LINE_KEPT_MAX`] bytes of it:
/// the rest of a longer line is read to its end and dropped. Returns the line's whole length (0
/// at the end of the input) and whether it was cut.
fn read_line_bounded(reader: &mut impl BufRead, line: &mut Vec<u8>) -> std::io::Result<(usize, bool)> {
    let mut total = 0;
    loop {
        let buf = match reader.fill_buf() {
            Ok(buf) => buf,
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        };
        if buf.is_empty() {
            return Ok((total, total > line.len()));
        }
        let (used, ended) = match buf.iter().position(|byte| *byte == b'\n') {
            Some(at) => (at + 1, true),
            None => (buf.len(), false),
        };
        let room = LINE_KEPT_MAX - line.len().min(LINE_KEPT_MAX);
        line.extend_from_slice(&buf[..used.min(room)]);
        reader.consume(used);
        total += used;
        if ended {
            return Ok((total, total > line.len()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_held_up_to_its_bound_and_read_to_its_end() {
        let long = LINE_KEPT_MAX + 10;
        let mut input = vec![b'x'; long];
        input.extend_from_slice(b"\nshort\n\nlast");
        let mut reader = std::io::BufReader::with_capacity(1_000, input.as_slice());
        let mut line = Vec::new();
        // (whole length, cut, bytes held) of each line in turn.
        let expected = [(long + 1, true, LINE_KEPT_MAX), (6, false, 6), (1, false, 1), (4, false, 4), (0, false, 0)];
        for (length, cut, held) in expected {
            line.clear();
            assert_eq!(read_line_bounded(&mut reader, &mut line).unwrap(), (length, cut));
            assert_eq!(line.len(), held);
        }
    }
}
