//! `ledger-cli demo`: the main job. A generated workload runs through the engine on a fresh
//! embedded database (a temporary directory unless `--keep DIR`), then the ledger is closed,
//! reopened read-only, verified from genesis and replayed; money must be conserved.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, bail};
use ledger_core::{Command, EventBody, Policy, PostingKind, Release, Settlement, Stage};
use ledger_store::{Ledger, LedgerOptions, Reader, Receipt, SystemClock};
use serde::Serialize;

use crate::args::{Cli, DemoSpec};
use crate::out::{ReasonCounts, check_failed};
use crate::progress;
use crate::scratch::{ScratchDb, percentile};
use crate::workload::{WorkloadSpec, generate};

/// What `demo` reports.
#[derive(Debug, Default, Serialize)]
pub struct DemoReport {
    pub db: PathBuf,
    pub policy: String,
    pub customers: u64,
    pub days: u32,
    pub commands: u64,
    pub accepted: u64,
    pub rejected: u64,
    pub duplicates: u64,
    pub rejected_by_reason: ReasonCounts,
    pub accepted_by_kind: ReasonCounts,
    /// Holds that expired and delayed transfers executed or stopped when their time came (events
    /// that answer no command of their own).
    pub due_events: u64,
    /// Held or scheduled outflows left at the end (the closing tick leaves none).
    pub pending_at_end: usize,
    pub submit_seconds: f64,
    pub commands_per_second: f64,
    pub batch_latency_p50_ms: f64,
    pub batch_latency_p99_ms: f64,
    pub verify_seconds: f64,
    pub events_verified: u64,
    pub replay_seconds: f64,
    pub replay_mismatches: usize,
    pub snapshot_matches_replay: bool,
    pub total_balance: String,
    pub money_conserved: bool,
    pub head: String,
}

pub fn execute(spec: &DemoSpec) -> anyhow::Result<DemoReport> {
    if spec.batch == 0 {
        bail!("--batch must be at least 1");
    }
    let scratch = ScratchDb::new(spec.keep.as_deref(), "demo-ledger")?;
    let db = scratch.path.clone();
    let policy = Policy::preset(&spec.policy).with_context(|| format!("loading policy {}", spec.policy))?;
    let start_ms = "2025-12-29T00:00:00+08:00".parse::<ledger_core::Timestamp>()?.as_millis();
    let workload = WorkloadSpec {
        customers: spec.customers,
        days: spec.days,
        commands_per_customer_day: spec.commands_per_customer_day,
        seed: spec.seed,
        start_ms,
    };
    let commands = generate(workload, policy)?;
    let mut report = DemoReport {
        db: db.clone(),
        policy: spec.policy.clone(),
        customers: spec.customers,
        days: spec.days,
        commands: commands.len() as u64,
        ..DemoReport::default()
    };
    let ledger = Ledger::create(&db, LedgerOptions::default()).context("opening the demo ledger")?;
    submit_all(&ledger, &commands, spec.batch, &mut report)?;
    ledger.close()?;
    check_closed_ledger(&db, &mut report)?;
    drop(scratch);
    Ok(report)
}

/// Submits `commands` in batches of `batch`, counting answers and batch latencies.
fn submit_all(ledger: &Ledger, commands: &[Command], batch: usize, report: &mut DemoReport) -> anyhow::Result<()> {
    let mut latencies_ms = Vec::new();
    let bar = progress::bar(report.commands, "commands");
    let started = Instant::now();
    for chunk in commands.chunks(batch) {
        let batch_started = Instant::now();
        let receipts = ledger.submit_batch(chunk.to_vec())?;
        latencies_ms.push(batch_started.elapsed().as_secs_f64() * 1e3);
        for receipt in receipts {
            count_answer(&receipt, report);
        }
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    report.submit_seconds = started.elapsed().as_secs_f64();
    report.commands_per_second = report.commands as f64 / report.submit_seconds.max(1e-9);
    latencies_ms.sort_by(f64::total_cmp);
    report.batch_latency_p50_ms = percentile(&latencies_ms, 0.50);
    report.batch_latency_p99_ms = percentile(&latencies_ms, 0.99);
    Ok(())
}

fn count_answer(receipt: &Receipt, report: &mut DemoReport) {
    if receipt.duplicate {
        report.duplicates += 1;
        return;
    }
    let kind = match &receipt.event.body {
        EventBody::Rejected { reason, .. } => {
            report.rejected += 1;
            *report.rejected_by_reason.entry(reason.code().to_owned()).or_default() += 1;
            return;
        }
        EventBody::Posted(posting) => format!("{:?}", posting.kind),
        EventBody::Reserved { reservation, .. } => match reservation.stage {
            Stage::AwaitingVerification { .. } => "Held".into(),
            Stage::Scheduled { .. } => "Scheduled".into(),
        },
        other => variant_name(other),
    };
    report.accepted += 1;
    *report.accepted_by_kind.entry(kind).or_default() += 1;
}

/// Reopens the closed ledger read-only: verify, replay, snapshot = replay, money conserved.
fn check_closed_ledger(db: &std::path::Path, report: &mut DemoReport) -> anyhow::Result<()> {
    let reader = Reader::open(db, std::sync::Arc::new(SystemClock)).context("reopening the demo ledger")?;
    let started = Instant::now();
    let verified = reader.verify(1, None).context("verifying the demo ledger")?;
    report.verify_seconds = started.elapsed().as_secs_f64();
    report.events_verified = verified.events_checked;
    report.head = verified.head.to_text();
    let started = Instant::now();
    let (replayed, replay) = reader.replay_with_progress(&mut |_| {})?;
    // The sums below need every account: a demo-sized ledger fits the replay's default cache.
    anyhow::ensure!(!replayed.is_paged(), "the demo ledger's accounts did not fit in the replay's cache");
    report.replay_seconds = started.elapsed().as_secs_f64();
    report.replay_mismatches = replay.mismatches.len();
    report.snapshot_matches_replay = reader.snapshot_state()? == replayed;
    let (inflow, outflow) = money_flows(&reader, verified.head.seq, report)?;
    report.pending_at_end = replayed.reservations().count();
    let balances: u128 = replayed.accounts().map(|account| u128::from(account.balance.fen())).sum();
    report.total_balance = format!("{}.{:02}", balances / 100, balances % 100);
    report.money_conserved = balances + outflow == inflow;
    Ok(())
}

/// Money into and out of the ledger, in fen, from the log itself (due executions included);
/// counts the events that came due on the way.
fn money_flows(reader: &Reader, head: u64, report: &mut DemoReport) -> anyhow::Result<(u128, u128)> {
    let (mut inflow, mut outflow) = (0u128, 0u128);
    for seq in 1..=head {
        let event = reader.event(seq)?;
        let posting = match &event.body {
            EventBody::Posted(posting) => posting,
            EventBody::ReservationSettled { posting, settlement, .. } => {
                if *settlement == Settlement::Due {
                    report.due_events += 1;
                }
                posting
            }
            EventBody::ReservationReleased { release: Release::Expired | Release::Stopped { .. }, .. } => {
                report.due_events += 1;
                continue;
            }
            _ => continue,
        };
        let fen = u128::from(posting.amount.fen());
        match posting.kind {
            PostingKind::CashDeposit | PostingKind::InboundTransfer | PostingKind::WealthRedemption => inflow += fen,
            PostingKind::CashWithdrawal
            | PostingKind::OutboundTransfer
            | PostingKind::Payment
            | PostingKind::WealthPurchase => outflow += fen,
            PostingKind::InternalTransfer => {}
        }
    }
    Ok((inflow, outflow))
}

/// The name of an event's variant, e.g. `ReservationSettled`.
fn variant_name(body: &EventBody) -> String {
    let text = format!("{body:?}");
    text.split([' ', '(', '{']).next().unwrap_or_default().to_owned()
}

pub fn run(cli: &Cli, spec: &DemoSpec) -> anyhow::Result<ExitCode> {
    let report = execute(spec)?;
    let ok = report.replay_mismatches == 0 && report.snapshot_matches_replay && report.money_conserved;
    if cli.json {
        crate::out::outln!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_human(&report, spec.keep.is_some());
    }
    Ok(if ok { ExitCode::SUCCESS } else { check_failed() })
}

fn print_human(report: &DemoReport, kept: bool) {
    crate::out::outln!(
        "tiered-ledger demo: policy {}, {} customers (Class I + II + III each), {} Beijing days across New Year",
        report.policy,
        report.customers,
        report.days
    );
    crate::out::outln!(
        "  commands  {} submitted in batches, {} retried ids answered from the log",
        report.commands,
        report.duplicates
    );
    crate::out::outln!("  accepted  {}", report.accepted);
    for (kind, count) in &report.accepted_by_kind {
        crate::out::outln!("    {kind:<22} {count}");
    }
    crate::out::outln!("  rejected  {}", report.rejected);
    for (reason, count) in &report.rejected_by_reason {
        crate::out::outln!("    {reason:<34} {count}");
    }
    crate::out::outln!(
        "  came due  {} (holds expired, delayed transfers executed or stopped); pending at the end {}",
        report.due_events,
        report.pending_at_end
    );
    crate::out::outln!(
        "  durable throughput {:.0} commands/s ({:.2} s; batch latency p50 {:.1} ms, p99 {:.1} ms; fsync per batch)",
        report.commands_per_second,
        report.submit_seconds,
        report.batch_latency_p50_ms,
        report.batch_latency_p99_ms
    );
    crate::out::outln!(
        "  verify: {} events, hash chain intact, {:.2} s",
        report.events_verified,
        report.verify_seconds
    );
    crate::out::outln!(
        "  replay: {:.2} s, read-model mismatches {}, the state a writer opens matches replay: {}",
        report.replay_seconds,
        report.replay_mismatches,
        report.snapshot_matches_replay
    );
    crate::out::outln!("  total balance {} CNY; money conserved: {}", report.total_balance, report.money_conserved);
    crate::out::outln!("  head {}", report.head);
    if kept {
        crate::out::outln!("  ledger kept at {}", report.db.display());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_demo_checks_out_and_hits_limits() {
        for policy in ["default", "pboc-2018"] {
            let spec = DemoSpec {
                customers: 150,
                days: 4,
                commands_per_customer_day: 8,
                seed: 7,
                policy: policy.into(),
                batch: 500,
                keep: None,
            };
            let report = execute(&spec).unwrap();
            assert!(
                report.money_conserved && report.snapshot_matches_replay && report.replay_mismatches == 0,
                "{report:?}"
            );
            assert!(report.duplicates > 0, "{report:?}");
            assert!(report.rejected_by_reason.contains_key("LIMIT_EXCEEDED"), "{report:?}");
            for code in ["RISK_LISTED_COUNTERPARTY", "NIGHT_LOCKED", "PERSONAL_LIMIT_EXCEEDED"] {
                assert!(report.rejected_by_reason.contains_key(code), "no {code}: {report:?}");
            }
            for kind in ["Held", "Scheduled", "ReservationSettled", "ReservationReleased", "TimeAdvanced"] {
                assert!(report.accepted_by_kind.contains_key(kind), "no {kind}: {report:?}");
            }
            assert!(report.due_events > 0, "{report:?}");
            assert_eq!(report.pending_at_end, 0, "the closing tick handles every hold and delayed transfer");
            assert_eq!(report.accepted + report.rejected + report.due_events, report.events_verified);
            assert_eq!(report.events_verified - report.due_events + report.duplicates, report.commands);
        }
    }
}
