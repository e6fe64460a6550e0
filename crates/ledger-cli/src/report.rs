//! `report`: the regulatory reports over Beijing days, as text, JSON or CSV.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use ledger_core::{ReportRules, Reports};

use crate::args::{Cli, ReportKind, StatementFormat};
use crate::open::open_reader;
use crate::out::{csv_text, print_json, say};
use crate::progress;
use crate::statement::beijing_midnight;

/// A shipped preset by name, else a TOML file.
fn load_rules(rules: &str) -> anyhow::Result<ReportRules> {
    if ReportRules::preset_names().any(|name| name == rules) {
        return Ok(ReportRules::preset(rules)?);
    }
    let path = Path::new(rules);
    if !path.exists() {
        let known: Vec<_> = ReportRules::preset_names().collect();
        bail!("--rules {rules:?} is neither a preset ({}) nor a file", known.join(", "));
    }
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    ReportRules::from_toml_str(&text).map_err(|err| match err {
        ledger_core::Error::Policy(why) => anyhow::anyhow!("the thresholds file {}: {why}", path.display()),
        err => err.into(),
    })
}

/// What `report` was asked for.
#[derive(Debug)]
pub struct ReportRequest<'a> {
    pub kind: ReportKind,
    pub from: &'a str,
    pub to: &'a str,
    pub rules: &'a str,
    pub format: StatementFormat,
    /// The cache and its key's file.
    pub cache: Option<(&'a Path, &'a Path)>,
}

pub fn run(cli: &Cli, request: &ReportRequest<'_>) -> anyhow::Result<ExitCode> {
    let ReportRequest { kind, from, to, rules, format, cache } = *request;
    let rules = load_rules(rules)?;
    let first = beijing_midnight(from)?.beijing_day();
    let last = beijing_midnight(to)?.beijing_day();
    if last < first {
        bail!("--to {to} is before --from {from}");
    }
    let key = cache.map(|(_, key)| cache_key(key)).transpose()?;
    let start = match (cache, &key) {
        (Some((path, _)), Some(key)) if path.exists() => {
            let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            ledger_store::decode_report_cache(key, &rules, &bytes)
                .with_context(|| format!("--cache {}", path.display()))?
        }
        _ => None,
    };
    if let Some((path, _)) = cache {
        // Said on every run: whether the report rests on the cache, and from where.
        let path = crate::out::safe(&path.display().to_string());
        match &start {
            Some(state) if state.next_day <= first => {
                let seq = state.last.map_or(0, |(seq, _)| seq);
                eprintln!("report state from cache {path} at record {seq}");
            }
            Some(_) => eprintln!("report cache {path} not used: it starts after --from; walking from genesis"),
            None => eprintln!("report cache {path} not used (absent, other rules or layout); walking from genesis"),
        }
    }
    let reader = open_reader(cli)?;
    let bar = progress::bar(reader.head()?.seq, "events");
    let (reports, next) = reader
        .reports_resuming(rules.clone(), first, last, start, &mut |seq| bar.set_position(seq))
        .with_context(|| cache.map(|(path, _)| format!("--cache {}", path.display())).unwrap_or_default())?;
    bar.finish_and_clear();
    if let (Some((path, _)), Some(key), Some(state)) = (cache, &key, next) {
        write_cache(path, &ledger_store::encode_report_cache(key, &rules, &state)?)?;
    }
    let format = if cli.json || kind == ReportKind::All { StatementFormat::Json } else { format };
    match format {
        StatementFormat::Json => print_json(&json_of(&reports, kind)?),
        StatementFormat::Csv => write_csv(&reports, kind)?,
        StatementFormat::Text => write_text(&reports, kind),
    }
    Ok(ExitCode::SUCCESS)
}

/// The cache key: read from `path` (refused when group or others may read or write it), or
/// made (32 random bytes, hex, mode 0600) when it is absent.
fn cache_key(path: &Path) -> anyhow::Result<[u8; ledger_store::REPORT_CACHE_KEY_LEN]> {
    use std::io::Write;
    use std::os::unix::fs::MetadataExt;
    let mut key = [0u8; ledger_store::REPORT_CACHE_KEY_LEN];
    if !path.exists() {
        getrandom::fill(&mut key).map_err(|err| anyhow::anyhow!("no randomness from the system: {err}"))?;
        let mut file = crate::out::create_private(path, false)?;
        writeln!(file, "{}", hex::encode(key)).and_then(|()| file.sync_all()).context("writing the cache key")?;
        eprintln!("report cache key made: {} (mode 0600)", crate::out::safe(&path.display().to_string()));
        return Ok(key);
    }
    let meta = std::fs::metadata(path).with_context(|| format!("reading the cache key {}", path.display()))?;
    if meta.mode() & 0o077 != 0 {
        bail!("the cache key {} may be read or written by group or others: chmod 600 it", path.display());
    }
    let text = std::fs::read_to_string(path).with_context(|| format!("reading the cache key {}", path.display()))?;
    hex::decode_to_slice(text.trim(), &mut key)
        .with_context(|| format!("the cache key {} is not 64 hex digits", path.display()))?;
    Ok(key)
}

/// Replaces the cache whole: written beside it in a file of its own (a random name, mode 0600,
/// created exclusively: two runs sharing a cache never write the same file), then renamed over
/// it; the last run to finish leaves its cache.
fn write_cache(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let mut prefix = std::ffi::OsString::from(".");
    prefix.push(path.file_name().unwrap_or_default());
    prefix.push(".");
    let mut new = tempfile::Builder::new()
        .prefix(&prefix)
        .suffix(".new")
        .tempfile_in(dir)
        .with_context(|| format!("writing the cache beside {}", path.display()))?;
    new.write_all(bytes)
        .and_then(|()| new.as_file().sync_all())
        .with_context(|| format!("writing {}", new.path().display()))?;
    new.persist(path).map(|_| ()).with_context(|| format!("replacing {}", path.display()))
}

fn json_of(reports: &Reports, kind: ReportKind) -> anyhow::Result<serde_json::Value> {
    let mut value = serde_json::to_value(reports)?;
    let keep = match kind {
        ReportKind::LargeValue => "large_value",
        ReportKind::ClassIiiReview => "class_iii_review",
        ReportKind::LimitHits => "limit_hits",
        ReportKind::DailySummary => "daily_summary",
        ReportKind::All => return Ok(value),
    };
    if let Some(object) = value.as_object_mut() {
        object.retain(|key, _| matches!(key.as_str(), "rules" | "from" | "to") || key == keep);
    }
    Ok(value)
}

fn opt<T: ToString>(value: Option<T>) -> String {
    value.map(|value| value.to_string()).unwrap_or_default()
}

/// `CODE=n;CODE=n`, in code order.
fn rejections_text(rejections: &std::collections::BTreeMap<&'static str, u64>) -> String {
    rejections.iter().map(|(code, count)| format!("{code}={count}")).collect::<Vec<_>>().join(";")
}

fn write_csv(reports: &Reports, kind: ReportKind) -> anyhow::Result<()> {
    let mut out = csv::Writer::from_writer(std::io::stdout().lock());
    match kind {
        ReportKind::LargeValue => {
            out.write_record([
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
            ])?;
            for line in &reports.large_value {
                out.write_record([
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
                    csv_text(&opt(line.counterparty.as_deref())).into_owned(),
                    line.source.clone(),
                ])?;
            }
        }
        ReportKind::ClassIiiReview => {
            out.write_record([
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
            ])?;
            for line in &reports.class_iii_review {
                out.write_record([
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
                    line.source.clone(),
                ])?;
            }
        }
        ReportKind::LimitHits => {
            out.write_record([
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
            ])?;
            for line in &reports.limit_hits {
                out.write_record([
                    line.day.clone(),
                    line.cite.seq.to_string(),
                    line.cite.hash.clone(),
                    line.cite.at.to_string(),
                    line.command_id.to_string(),
                    line.code.to_owned(),
                    opt(line.account),
                    opt(line.customer),
                    opt(line.class),
                    line.bucket.clone(),
                    opt(line.cap),
                    opt(line.used),
                    opt(line.requested),
                    line.detail.clone(),
                ])?;
            }
        }
        ReportKind::DailySummary => {
            out.write_record([
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
            ])?;
            for line in &reports.daily_summary {
                out.write_record([
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
                ])?;
            }
        }
        ReportKind::All => bail!("`report all` prints JSON only"),
    }
    out.flush()?;
    Ok(())
}

fn write_text(reports: &Reports, kind: ReportKind) {
    say!("{} report, Beijing days {} to {}, thresholds {}", kind_name(kind), reports.from, reports.to, reports.rules);
    match kind {
        ReportKind::LargeValue => {
            for line in &reports.large_value {
                say!(
                    "{} customer {} {} {} day total {} (≥ {}): seq {} {} {} account {} {} {} {}",
                    line.day,
                    line.customer,
                    line.kind.name(),
                    line.direction.name(),
                    line.day_total,
                    line.threshold,
                    line.cite.seq,
                    &line.cite.hash[..16],
                    line.cite.at,
                    line.account,
                    line.flow,
                    line.amount,
                    line.counterparty.as_deref().unwrap_or("")
                );
            }
            say!("{} lines", reports.large_value.len());
        }
        ReportKind::ClassIiiReview => {
            for line in &reports.class_iii_review {
                say!(
                    "{} customer {}: Class III inflows {} from {} (≥ {}), crossed at seq {} {} account {} {} {}",
                    line.day,
                    line.customer,
                    line.window_total,
                    line.window_from,
                    line.threshold,
                    line.cite.seq,
                    &line.cite.hash[..16],
                    line.account,
                    line.flow,
                    line.amount
                );
            }
            say!("{} lines", reports.class_iii_review.len());
        }
        ReportKind::LimitHits => {
            for line in &reports.limit_hits {
                say!("{} seq {} {} {}", line.day, line.cite.seq, &line.cite.hash[..16], line.detail);
            }
            say!("{} lines", reports.limit_hits.len());
        }
        ReportKind::DailySummary => {
            for line in &reports.daily_summary {
                say!(
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
                );
            }
        }
        ReportKind::All => {}
    }
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
