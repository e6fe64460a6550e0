//! `report`'s output, written line by line as the reporter hands the lines over
//! ([`ReportSink`]): nothing is held but the line being written, so a report of millions of
//! lines prints in bounded memory. The bytes are those of the whole report printed at once:
//! text and CSV in report order; JSON as `serde_json` prints the whole `Reports` value (keys in
//! sorted order, compact). `report all` puts four arrays in one document while the reporter
//! interleaves their lines: the first array in key order streams to the output, the others
//! go to anonymous temporary files (`$TMPDIR`, removed when closed) and are copied after it.
//! A failed write names which it was: the output, or an array's temporary file (a full
//! `$TMPDIR` is not a full output).

use std::fs::File;
use std::io::{BufWriter, Read, Seek, Write};

use anyhow::Context;
use ledger_core::{ClassIiiReviewLine, LargeValueLine, LimitHitLine, ReportSink, SummaryLine};
use serde::Serialize;

use crate::args::{ReportKind, StatementFormat};
use crate::out::{csv_cell, safe};

/// The range and thresholds a report names in its header.
#[derive(Debug)]
pub struct Header<'a> {
    pub rules: &'a str,
    pub from: &'a str,
    pub to: &'a str,
}

/// Where one JSON array's elements go until the document is assembled.
enum Dest {
    /// Straight to the output (the first array in key order).
    Direct,
    Spill(BufWriter<File>),
}

/// A JSON document's member, in key order: a string (already JSON) or a report's array.
enum Member {
    Text(&'static str, String),
    Array { key: &'static str, kind: ReportKind, dest: Dest, count: u64 },
}

enum Out<W: Write> {
    Text(W),
    Csv(Box<csv::Writer<W>>),
    Json(W, Vec<Member>),
}

/// Writes the report `kind` in `format` (`all`: JSON) to its output as its lines come.
pub struct ReportPrinter<W: Write> {
    kind: ReportKind,
    /// Where the output goes, as a failed write names it ("standard output").
    output: String,
    text_header: String,
    /// The rules' name as a CSV cell: CSV rows carry it in a last column, `rules`, as the text
    /// header and JSON's `rules` name it.
    rules_cell: String,
    out: Out<W>,
    started: bool,
    /// Lines of `kind` written (text's last line counts them).
    lines: u64,
    /// The first write that failed: later lines are dropped, [`ReportPrinter::finish`] says why.
    failed: Option<anyhow::Error>,
}

/// The JSON arrays, by key.
const ARRAYS: [(&str, ReportKind); 4] = [
    ("class_iii_review", ReportKind::ClassIiiReview),
    ("daily_summary", ReportKind::DailySummary),
    ("large_value", ReportKind::LargeValue),
    ("limit_hits", ReportKind::LimitHits),
];

impl<W: Write> ReportPrinter<W> {
    /// `output` names where `out` goes, for the message of a failed write.
    pub fn new(
        out: W,
        output: &str,
        kind: ReportKind,
        format: StatementFormat,
        header: &Header<'_>,
    ) -> anyhow::Result<Self> {
        let format = if kind == ReportKind::All { StatementFormat::Json } else { format };
        let text_header = format!(
            "{} report, Beijing days {} to {}, thresholds {}",
            kind_name(kind),
            header.from,
            header.to,
            header.rules
        );
        let out = match format {
            StatementFormat::Text => Out::Text(out),
            StatementFormat::Csv => Out::Csv(Box::new(csv::Writer::from_writer(out))),
            StatementFormat::Json => {
                let mut members = vec![
                    Member::Text("from", serde_json::to_string(header.from)?),
                    Member::Text("rules", serde_json::to_string(header.rules)?),
                    Member::Text("to", serde_json::to_string(header.to)?),
                ];
                for (key, each) in ARRAYS {
                    if kind == ReportKind::All || kind == each {
                        members.push(Member::Array { key, kind: each, dest: Dest::Direct, count: 0 });
                    }
                }
                members.sort_by_key(|member| match member {
                    Member::Text(key, _) | Member::Array { key, .. } => *key,
                });
                // The first array streams; the others wait in temporary files.
                let mut first = true;
                for member in &mut members {
                    if let Member::Array { dest, .. } = member
                        && !std::mem::replace(&mut first, false)
                    {
                        let file = tempfile::tempfile()
                            .with_context(|| format!("making a temporary file for `report all` in {}", tmp_dir()))?;
                        *dest = Dest::Spill(BufWriter::new(file));
                    }
                }
                Out::Json(out, members)
            }
        };
        Ok(ReportPrinter {
            kind,
            output: output.to_owned(),
            text_header,
            rules_cell: csv_cell(header.rules),
            out,
            started: false,
            lines: 0,
            failed: None,
        })
    }

    /// Writes what comes before the first line (once).
    fn start(&mut self) -> anyhow::Result<()> {
        if std::mem::replace(&mut self.started, true) {
            return Ok(());
        }
        let result = self.start_output();
        result.with_context(|| writing_to(&self.output))
    }

    fn start_output(&mut self) -> anyhow::Result<()> {
        match &mut self.out {
            Out::Text(out) => writeln!(out, "{}", safe(&self.text_header))?,
            Out::Csv(out) => out.write_record(csv_header(self.kind).iter().chain(&["rules"]))?,
            Out::Json(out, members) => {
                out.write_all(b"{")?;
                for member in members.iter() {
                    match member {
                        Member::Text(key, value) => write!(out, "\"{key}\":{value},")?,
                        Member::Array { key, .. } => {
                            write!(out, "\"{key}\":[")?;
                            break;
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Writes one line of report `kind`, made by `text`, `csv` or `json` as the format wants.
    fn line(
        &mut self,
        kind: ReportKind,
        text: impl FnOnce() -> String,
        csv: impl FnOnce() -> Vec<String>,
        json: impl FnOnce() -> serde_json::Result<serde_json::Value>,
    ) {
        if self.failed.is_some() || !(self.kind == kind || self.kind == ReportKind::All) {
            return;
        }
        if let Err(err) = self.write_line(kind, text, csv, json) {
            self.failed = Some(err);
        }
    }

    fn write_line(
        &mut self,
        kind: ReportKind,
        text: impl FnOnce() -> String,
        csv: impl FnOnce() -> Vec<String>,
        json: impl FnOnce() -> serde_json::Result<serde_json::Value>,
    ) -> anyhow::Result<()> {
        self.start()?;
        self.lines += 1;
        let (output, rules) = (&self.output, &self.rules_cell);
        match &mut self.out {
            Out::Text(out) => writeln!(out, "{}", safe(&text())).with_context(|| writing_to(output))?,
            Out::Csv(out) => {
                let mut record = csv();
                record.push(rules.clone());
                out.write_record(record).with_context(|| writing_to(output))?;
            }
            Out::Json(out, members) => {
                let value = json()?;
                for member in members.iter_mut() {
                    if let Member::Array { key, kind: each, dest, count } = member
                        && *each == kind
                    {
                        let (sink, name): (&mut dyn Write, _) = match dest {
                            Dest::Direct => (out, writing_to(output)),
                            Dest::Spill(file) => (file, staging(key)),
                        };
                        let comma: &[u8] = if *count > 0 { b"," } else { b"" };
                        sink.write_all(comma).and_then(|()| write!(sink, "{value}")).context(name)?;
                        *count += 1;
                    }
                }
            }
        }
        Ok(())
    }

    /// Ends the output (text: the line count; JSON: the streamed array closed, then the other
    /// members, spilled arrays copied back) and flushes it; the first failed write, if any, is
    /// the error.
    pub fn finish(mut self) -> anyhow::Result<W> {
        if let Some(err) = self.failed.take() {
            return Err(err);
        }
        self.start()?;
        let output = self.output;
        let mut out = match self.out {
            Out::Text(mut out) => {
                if self.kind != ReportKind::DailySummary {
                    writeln!(out, "{}", safe(&format!("{} lines", self.lines))).with_context(|| writing_to(&output))?;
                }
                out
            }
            Out::Csv(out) => {
                out.into_inner().map_err(|err| anyhow::anyhow!("{}: {}", writing_to(&output), err.error()))?
            }
            Out::Json(mut out, members) => {
                let mut streamed = false;
                for member in members {
                    match member {
                        Member::Array { dest: Dest::Direct, .. } => {
                            out.write_all(b"]").with_context(|| writing_to(&output))?;
                            streamed = true;
                        }
                        _ if !streamed => {}
                        Member::Text(key, value) => {
                            write!(out, ",\"{key}\":{value}").with_context(|| writing_to(&output))?;
                        }
                        Member::Array { key, dest: Dest::Spill(file), .. } => {
                            write!(out, ",\"{key}\":[").with_context(|| writing_to(&output))?;
                            let file = file
                                .into_inner()
                                .map_err(|err| anyhow::anyhow!("{}: {}", staging(key), err.error()))?;
                            copy_back(key, file, &mut out, &output)?;
                            out.write_all(b"]").with_context(|| writing_to(&output))?;
                        }
                    }
                }
                writeln!(out, "}}").with_context(|| writing_to(&output))?;
                out
            }
        };
        out.flush().with_context(|| writing_to(&output))?;
        Ok(out)
    }
}

impl<W: Write> ReportSink for ReportPrinter<W> {
    fn large_value(&mut self, line: LargeValueLine) {
        self.line(ReportKind::LargeValue, || large_value_text(&line), || large_value_csv(&line), || json(&line));
    }

    fn class_iii_review(&mut self, line: ClassIiiReviewLine) {
        self.line(ReportKind::ClassIiiReview, || review_text(&line), || review_csv(&line), || json(&line));
    }

    fn limit_hit(&mut self, line: LimitHitLine) {
        self.line(ReportKind::LimitHits, || limit_hit_text(&line), || limit_hit_csv(&line), || json(&line));
    }

    fn daily_summary(&mut self, line: SummaryLine) {
        self.line(ReportKind::DailySummary, || summary_text(&line), || summary_csv(&line), || json(&line));
    }
}

/// Copies the staged array `key` from its temporary file to `out` (named `output`): a failed
/// read names the temporary file, a failed write the output.
fn copy_back(key: &str, mut file: File, out: &mut impl Write, output: &str) -> anyhow::Result<()> {
    let reading = || format!("reading the `{key}` lines back from their temporary file in {}", tmp_dir());
    file.rewind().with_context(reading)?;
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let read = file.read(&mut buffer).with_context(reading)?;
        if read == 0 {
            return Ok(());
        }
        out.write_all(&buffer[..read]).with_context(|| writing_to(output))?;
    }
}

/// The temporary directory the staged arrays are in (`$TMPDIR`, else `/tmp`), as it is: it is
/// named in errors only, which `main` escapes once (as it carries them exactly in `--json`).
fn tmp_dir() -> String {
    std::env::temp_dir().display().to_string()
}

fn writing_to(output: &str) -> String {
    format!("writing the report to {output}")
}

/// A failed write of array `key`'s lines to the temporary file they wait in.
fn staging(key: &str) -> String {
    format!("staging the `{key}` lines in a temporary file in {} ($TMPDIR)", tmp_dir())
}

/// A line as the whole `Reports` value would print it (through `Value`: keys sorted).
fn json(line: &impl Serialize) -> serde_json::Result<serde_json::Value> {
    serde_json::to_value(line)
}

fn kind_name(kind: ReportKind) -> &'static str {
    match kind {
        ReportKind::LargeValue => "large-value",
        ReportKind::ClassIiiReview => "Class III review",
        ReportKind::LimitHits => "limit-hit",
        ReportKind::DailySummary => "daily summary",
        ReportKind::All => "all",
    }
}

fn opt<T: ToString>(value: Option<T>) -> String {
    value.map(|value| value.to_string()).unwrap_or_default()
}

/// `CODE=n;CODE=n`, in code order.
fn rejections_text(rejections: &std::collections::BTreeMap<&'static str, u64>) -> String {
    rejections.iter().map(|(code, count)| format!("{code}={count}")).collect::<Vec<_>>().join(";")
}

fn csv_header(kind: ReportKind) -> &'static [&'static str] {
    match kind {
        ReportKind::LargeValue => &[
            "day",
            "customer",
            "kind",
            "direction",
            "day_total",
            "threshold",
            "seq",
            "hash",
            "at",
            "account",
            "flow",
            "amount",
            "counterparty",
            "source",
        ],
        ReportKind::ClassIiiReview => &[
            "day",
            "customer",
            "window_from",
            "window_total",
            "threshold",
            "seq",
            "hash",
            "at",
            "account",
            "flow",
            "amount",
            "source",
        ],
        ReportKind::LimitHits => &[
            "day",
            "seq",
            "hash",
            "at",
            "command_id",
            "code",
            "account",
            "customer",
            "class",
            "bucket",
            "cap",
            "used",
            "requested",
            "detail",
        ],
        ReportKind::DailySummary => &[
            "day",
            "class",
            "accounts_open",
            "opened",
            "closed",
            "inflow_count",
            "inflow",
            "outflow_count",
            "outflow",
            "rejections",
            "through_seq",
            "through_hash",
        ],
        ReportKind::All => &[],
    }
}

fn large_value_csv(line: &LargeValueLine) -> Vec<String> {
    vec![
        line.day.clone(),
        line.customer.to_string(),
        line.kind.name().to_owned(),
        line.direction.name().to_owned(),
        line.day_total.to_string(),
        line.threshold.to_string(),
        line.cite.seq.to_string(),
        line.cite.hash.clone(),
        line.cite.at.to_string(),
        line.account.to_string(),
        line.flow.to_string(),
        line.amount.to_string(),
        csv_cell(&opt(line.counterparty.as_deref())),
        csv_cell(&line.source),
    ]
}

fn review_csv(line: &ClassIiiReviewLine) -> Vec<String> {
    vec![
        line.day.clone(),
        line.customer.to_string(),
        line.window_from.clone(),
        line.window_total.to_string(),
        line.threshold.to_string(),
        line.cite.seq.to_string(),
        line.cite.hash.clone(),
        line.cite.at.to_string(),
        line.account.to_string(),
        line.flow.to_string(),
        line.amount.to_string(),
        csv_cell(&line.source),
    ]
}

fn limit_hit_csv(line: &LimitHitLine) -> Vec<String> {
    vec![
        line.day.clone(),
        line.cite.seq.to_string(),
        line.cite.hash.clone(),
        line.cite.at.to_string(),
        line.command_id.to_string(),
        line.code.to_owned(),
        opt(line.account),
        opt(line.customer),
        opt(line.class),
        csv_cell(&line.bucket),
        opt(line.cap),
        opt(line.used),
        opt(line.requested),
        csv_cell(&line.detail),
    ]
}

fn summary_csv(line: &SummaryLine) -> Vec<String> {
    vec![
        line.day.clone(),
        opt(line.class),
        line.accounts_open.to_string(),
        line.opened.to_string(),
        line.closed.to_string(),
        line.inflow_count.to_string(),
        line.inflow.to_string(),
        line.outflow_count.to_string(),
        line.outflow.to_string(),
        rejections_text(&line.rejections),
        line.through_seq.to_string(),
        line.through_hash.clone(),
    ]
}

/// A large-value line in text: the threshold with the rule's source, as CSV and JSON carry it;
/// the counterparty (client text) last.
fn large_value_text(line: &LargeValueLine) -> String {
    format!(
        "{} customer {} {} {} day total {} (≥ {}, {}): seq {} {} {} account {} {} {}{}",
        line.day,
        line.customer,
        line.kind.name(),
        line.direction.name(),
        line.day_total,
        line.threshold,
        line.source,
        line.cite.seq,
        &line.cite.hash[..16],
        line.cite.at,
        line.account,
        line.flow,
        line.amount,
        // (no trailing space when there is no counterparty: cash)
        line.counterparty.as_deref().map(|counterparty| format!(" {counterparty}")).unwrap_or_default()
    )
}

fn review_text(line: &ClassIiiReviewLine) -> String {
    format!(
        "{} customer {}: Class III inflows {} from {} (≥ {}, {}), crossed at seq {} {} account {} {} {}",
        line.day,
        line.customer,
        line.window_total,
        line.window_from,
        line.threshold,
        line.source,
        line.cite.seq,
        &line.cite.hash[..16],
        line.account,
        line.flow,
        line.amount
    )
}

fn limit_hit_text(line: &LimitHitLine) -> String {
    format!("{} seq {} {} {}", line.day, line.cite.seq, &line.cite.hash[..16], line.detail)
}

fn summary_text(line: &SummaryLine) -> String {
    format!(
        "{} class {:<4} open {:>8} (+{} -{})  in {:>6} {:>16}  out {:>6} {:>16}  rejected {}",
        line.day,
        line.class.map_or("-".to_owned(), |class| class.to_string()),
        line.accounts_open,
        line.opened,
        line.closed,
        line.inflow_count,
        line.inflow.to_string(),
        line.outflow_count,
        line.outflow.to_string(),
        rejections_text(&line.rejections)
    )
}
