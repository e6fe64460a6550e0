//! `ledger-cli benchmark`: the TigerBeetle benchmark's workload on this ledger. Accounts, then
//! transfers between random accounts in batches from one client, durable (fsync per batch), with
//! every class rule and the hash chain on. Then close, open, verify and replay are timed. The
//! workload is made batch by batch (`bench_workload`): the benchmark holds one batch of it.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::bail;
use ledger_core::{LineCounts, ReportRules, Timestamp};
use ledger_store::{Ledger, LedgerOptions, Reader, SystemClock};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use crate::args::{BenchSpec, Cli, Distribution};
use crate::bench_workload::{WORKLOAD_AT_MS, Workload};
use crate::out::ReasonCounts;
use crate::progress;
use crate::scratch::{ScratchDb, percentile};
use crate::thread_cpu;

#[derive(Debug, Serialize)]
pub struct BenchReport {
    pub accounts: u64,
    pub transfers: u64,
    pub batch: usize,
    /// Batches the client kept submitted and unanswered.
    pub in_flight: u64,
    pub distribution: Distribution,
    pub mix: bool,
    pub accepted: u64,
    pub rejected_by_reason: ReasonCounts,
    pub seconds: f64,
    pub transfers_per_second: f64,
    pub batch_latency_ms_p50: f64,
    pub batch_latency_ms_p99: f64,
    pub batch_latency_ms_p100: f64,
    /// The slowest batches, the slowest first (at most [`SLOWEST_SHOWN`]): a spike's time, to
    /// set beside RocksDB's `LOG` of the kept ledger (`--keep`) or the kernel's.
    pub slowest_batches: Vec<SlowBatch>,
    pub peak_rss_mib: f64,
    /// The process's peak so far at the end of each phase in turn (writer, verify and replay,
    /// proofs, reports): the phase that raised it is the one whose figure grew.
    pub peak_rss_mib_after_phase: Vec<(&'static str, f64)>,
    /// CPU seconds each thread (by name) spent during the transfers, the busiest first
    /// (Linux only; empty elsewhere).
    pub transfer_cpu_seconds_by_thread: Vec<(String, f64)>,
    /// Share of the writer's busy time: deciding/applying/encoding/hashing, staging, RocksDB write.
    pub writer_decide_share: f64,
    pub writer_stage_share: f64,
    pub writer_write_share: f64,
    pub events: u64,
    /// The storage engine: "RocksDB" or "PostgreSQL" (whose size is not measured: 0).
    pub store: &'static str,
    pub db_mib: f64,
    pub close_seconds: f64,
    pub open_seconds: f64,
    pub verify_seconds: f64,
    pub verify_events_per_second: f64,
    pub replay_seconds: f64,
    pub replay_events_per_second: f64,
    /// Signing a checkpoint of the whole log (the tree's root at the head).
    pub checkpoint_seconds: f64,
    /// Inclusion proofs of random records against that checkpoint, made and then checked.
    pub proofs_per_second: f64,
    pub proof_checks_per_second: f64,
    pub proof_hashes: usize,
    /// Every regulatory report (preset `pboc-2016-3`) over the workload's day: the whole log.
    pub report_seconds: f64,
    pub report_events_per_second: f64,
    pub report_lines: u64,
}

/// Peak resident memory of this process (VmHWM), MiB; 0 where /proc is unavailable.
fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

/// Ends a phase: the peak so far (VmHWM) goes into `phases`. (The peak is not reset between
/// phases: that would also reset what `/usr/bin/time` reports of the whole run.)
fn end_phase(phases: &mut Vec<(&'static str, f64)>, name: &'static str, run: Instant) {
    let peak = peak_rss_mib();
    phases.push((name, peak));
    note(run, &format!("{name} done (peak memory so far {peak:.0} MiB)"));
}

/// CPU seconds in all and by thread, the busiest first: `12.34 s (ledger-writer 5.67, …)`.
fn cpu_by_thread(threads: &[(String, f64)]) -> String {
    // (folded from 0.0: an empty `sum` of f64 is -0.0, printed "-0.00")
    let total = threads.iter().fold(0.0, |total, (_, seconds)| total + seconds);
    let named: Vec<String> = threads
        .iter()
        .filter(|(_, seconds)| *seconds >= 0.005)
        .map(|(name, seconds)| format!("{name} {seconds:.2}"))
        .collect();
    if named.is_empty() {
        // A tiny run: no thread reached the threshold (it printed "0.02 s ()").
        return format!("{total:.2} s");
    }
    format!("{total:.2} s ({})", named.join(", "))
}

/// A line on standard error as each step of a long run ends, with the time since it started
/// (the results come at the end: a run at 10M accounts takes most of an hour). Best effort: a
/// closed standard error does not stop the run.
fn note(run: Instant, text: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "benchmark: {:.1} s: {text}", run.elapsed().as_secs_f64());
}

/// The bytes of the files in `path` and the directories inside it (the projected keys' database).
fn dir_bytes(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else { return 0 };
    entries
        .filter_map(|entry| entry.ok())
        .map(|entry| match entry.metadata() {
            Ok(meta) if meta.is_dir() => dir_bytes(&entry.path()),
            Ok(meta) => meta.len(),
            Err(_) => 0,
        })
        .sum()
}

/// Submits the transfers in batches of `spec.batch`, each made just before it is submitted,
/// keeping `spec.in_flight` batches submitted and unanswered.
fn submit_timed(ledger: &Ledger, workload: &mut Workload, spec: &BenchSpec) -> anyhow::Result<Timed> {
    type Answer = std::sync::mpsc::Receiver<ledger_store::Result<Vec<ledger_store::Receipt>>>;
    let bar = progress::bar(spec.transfers, "transfers");
    let mut latencies = Vec::with_capacity((spec.transfers / spec.batch as u64 + 1) as usize);
    let mut accepted = 0;
    let mut rejected_by_reason = ReasonCounts::new();
    let mut slowest: Vec<(f64, jiff::Timestamp)> = Vec::with_capacity(SLOWEST_SHOWN + 1);
    let mut in_flight: std::collections::VecDeque<(Instant, jiff::Timestamp, Answer)> =
        std::collections::VecDeque::new();
    let mut making = std::time::Duration::ZERO;
    let started = Instant::now();
    loop {
        while (in_flight.len() as u64) < spec.in_flight {
            let made = Instant::now();
            let chunk = workload.next_transfers(spec.batch)?;
            making += made.elapsed();
            if chunk.is_empty() {
                break;
            }
            let (reply, answer) = std::sync::mpsc::sync_channel(1);
            ledger.submit_batch_then(chunk, move |receipts| {
                let _ = reply.send(receipts);
            });
            in_flight.push_back((Instant::now(), jiff::Timestamp::now(), answer));
        }
        // Answers come in submission order (one writer, batches committed in order).
        let Some((batch_started, submitted_at, answer)) = in_flight.pop_front() else { break };
        let receipts = answer.recv().map_err(|_| anyhow::anyhow!("the writer dropped a batch unanswered"))??;
        let latency = batch_started.elapsed().as_secs_f64() * 1e3;
        latencies.push(latency);
        if slowest.len() < SLOWEST_SHOWN || slowest.last().is_some_and(|(least, _)| latency > *least) {
            slowest.push((latency, submitted_at));
            slowest.sort_by(|a, b| b.0.total_cmp(&a.0));
            slowest.truncate(SLOWEST_SHOWN);
        }
        for receipt in &receipts {
            match receipt.rejection() {
                None => accepted += 1,
                Some(reason) => *rejected_by_reason.entry(reason.code().to_owned()).or_default() += 1,
            }
        }
        bar.inc(receipts.len() as u64);
    }
    let seconds = started.elapsed().saturating_sub(making).as_secs_f64();
    bar.finish_and_clear();
    let slowest = slowest
        .into_iter()
        .map(|(latency_ms, at)| SlowBatch {
            latency_ms,
            // Fixed width (milliseconds always shown), as RocksDB's `LOG` writes its times.
            submitted_at: at.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        })
        .collect();
    Ok(Timed { seconds, latencies, slowest, accepted, rejected_by_reason })
}

/// The slowest batches a run reports.
pub const SLOWEST_SHOWN: usize = 3;

/// A batch among a run's slowest: its latency, and when it was submitted (UTC, RFC 3339).
#[derive(Clone, Debug, Serialize)]
pub struct SlowBatch {
    pub latency_ms: f64,
    pub submitted_at: String,
}

/// What [`submit_timed`] measured.
struct Timed {
    /// Seconds taken, the time making the batches left out.
    seconds: f64,
    /// Each batch's latency in ms (submitted to answered), in the order answered.
    latencies: Vec<f64>,
    slowest: Vec<SlowBatch>,
    accepted: u64,
    rejected_by_reason: ReasonCounts,
}

/// Proofs made per benchmark run.
const PROOFS: u64 = 10_000;

/// Times a checkpoint of the whole log, then [`PROOFS`] inclusion proofs of random records
/// (made from the stored tree, then checked as an auditor would). Returns (checkpoint seconds,
/// proofs/s, checks/s, hashes in a proof).
fn time_proofs(reader: &Reader, seed: u64) -> anyhow::Result<(f64, f64, f64, usize)> {
    let key = ledger_store::SigningKey::from_bytes(&[7; 32]);
    let started = Instant::now();
    let checkpoint = reader.checkpoint(&key, reader.now(), false)?;
    let checkpoint_seconds = started.elapsed().as_secs_f64();
    let size = checkpoint.tree_size();
    let mut rng = StdRng::seed_from_u64(seed);
    let seqs: Vec<u64> = (0..PROOFS).map(|_| rng.random_range(1..=size)).collect();
    let started = Instant::now();
    let mut proofs = Vec::with_capacity(seqs.len());
    for &seq in &seqs {
        let mut line = Vec::new();
        reader.export(seq, Some(seq), &mut line)?;
        proofs.push(ledger_store::InclusionProof {
            format: ledger_store::INCLUSION_FORMAT.into(),
            seq,
            tree_size: size,
            record: serde_json::from_slice(&line)?,
            path: reader.inclusion_proof(seq, size)?.iter().map(hex::encode).collect(),
        });
    }
    let made = PROOFS as f64 / started.elapsed().as_secs_f64().max(1e-9);
    let started = Instant::now();
    for proof in &proofs {
        proof.verify(&checkpoint)?;
    }
    let checked = PROOFS as f64 / started.elapsed().as_secs_f64().max(1e-9);
    Ok((checkpoint_seconds, made, checked, proofs.first().map_or(0, |p| p.path.len())))
}

pub fn execute(spec: &BenchSpec) -> anyhow::Result<BenchReport> {
    if spec.batch == 0 || spec.accounts < 2 {
        bail!("--batch must be at least 1 and --accounts at least 2");
    }
    let run = Instant::now();
    let scratch = ScratchDb::new(spec.keep.as_deref(), "bench-ledger")?;
    let db = scratch.path.clone();
    let at = Timestamp::from_millis(WORKLOAD_AT_MS)?;
    let mut workload = Workload::new(spec, at)?;
    let options =
        LedgerOptions { batch_len_max: spec.batch.max(8_192), cache_mib: spec.cache_mib, ..LedgerOptions::default() };
    let ledger = Ledger::create(&db, options)?;
    loop {
        let chunk = workload.next_setup(8_192);
        if chunk.is_empty() {
            break;
        }
        ledger.submit_batch(chunk)?;
    }
    note(run, &format!("{} accounts opened; {} transfers next", spec.accounts, spec.transfers));
    let cpu_before = thread_cpu::sample();
    let Timed { seconds, mut latencies, slowest, accepted, rejected_by_reason } =
        submit_timed(&ledger, &mut workload, spec)?;
    let transfer_cpu_seconds_by_thread = thread_cpu::since(&cpu_before, &thread_cpu::sample());
    latencies.sort_by(f64::total_cmp);
    note(
        run,
        &format!(
            "transfers done: {:.0}/s, batch p99 {:.1} ms, p100 {:.1} ms; CPU {}",
            spec.transfers as f64 / seconds.max(1e-9),
            percentile(&latencies, 0.99),
            percentile(&latencies, 1.0),
            cpu_by_thread(&transfer_cpu_seconds_by_thread)
        ),
    );
    let stats = ledger.stats()?;
    let busy = (stats.decide_nanos + stats.stage_nanos + stats.write_nanos).max(1) as f64;
    let events = ledger.head()?.seq;
    let started = Instant::now();
    ledger.close()?;
    let close_seconds = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let reopened = Ledger::open(&db, LedgerOptions { cache_mib: spec.cache_mib, ..LedgerOptions::default() })?;
    let open_seconds = started.elapsed().as_secs_f64();
    reopened.close()?;
    let mut phases = Vec::new();
    end_phase(&mut phases, "writer", run);
    let reader = Reader::open(&db, Arc::new(SystemClock))?.with_cache_mib(spec.cache_mib);
    let started = Instant::now();
    reader.verify(1, None)?;
    let verify_seconds = started.elapsed().as_secs_f64();
    note(run, &format!("verify done: {:.0} events/s", events as f64 / verify_seconds.max(1e-9)));
    let started = Instant::now();
    let replay = reader.replay()?;
    let replay_seconds = started.elapsed().as_secs_f64();
    note(run, &format!("replay done: {:.0} events/s", events as f64 / replay_seconds.max(1e-9)));
    if !replay.mismatches.is_empty() {
        bail!("replay found {} read-model mismatches", replay.mismatches.len());
    }
    drop(replay);
    end_phase(&mut phases, "verify and replay", run);
    let (checkpoint_seconds, proofs_per_second, proof_checks_per_second, proof_hashes) =
        time_proofs(&reader, spec.seed)?;
    end_phase(&mut phases, "proofs", run);
    let day = at.beijing_day();
    let started = Instant::now();
    // The lines are counted as they are made, not kept (as `report` writes them out).
    let mut counts = LineCounts::default();
    reader.reports_into(ReportRules::preset("pboc-2016-3")?, day, day, None, &mut counts, &mut |_| {})?;
    let report_seconds = started.elapsed().as_secs_f64();
    let report_lines = counts.total();
    end_phase(&mut phases, "reports", run);
    let report = BenchReport {
        accounts: spec.accounts,
        transfers: spec.transfers,
        batch: spec.batch,
        in_flight: spec.in_flight,
        distribution: spec.distribution,
        mix: spec.mix,
        accepted,
        rejected_by_reason,
        seconds,
        transfers_per_second: spec.transfers as f64 / seconds.max(1e-9),
        batch_latency_ms_p50: percentile(&latencies, 0.50),
        batch_latency_ms_p99: percentile(&latencies, 0.99),
        batch_latency_ms_p100: percentile(&latencies, 1.0),
        slowest_batches: slowest,
        peak_rss_mib: peak_rss_mib(),
        peak_rss_mib_after_phase: phases,
        transfer_cpu_seconds_by_thread,
        writer_decide_share: stats.decide_nanos as f64 / busy,
        writer_stage_share: stats.stage_nanos as f64 / busy,
        writer_write_share: stats.write_nanos as f64 / busy,
        events,
        store: if ledger_store::is_database_url(&db) { "PostgreSQL" } else { "RocksDB" },
        db_mib: dir_bytes(&db) as f64 / (1024.0 * 1024.0),
        close_seconds,
        open_seconds,
        verify_seconds,
        verify_events_per_second: events as f64 / verify_seconds.max(1e-9),
        replay_seconds,
        replay_events_per_second: events as f64 / replay_seconds.max(1e-9),
        checkpoint_seconds,
        proofs_per_second,
        proof_checks_per_second,
        proof_hashes,
        report_seconds,
        report_events_per_second: events as f64 / report_seconds.max(1e-9),
        report_lines,
    };
    drop(reader);
    drop(scratch);
    Ok(report)
}

pub fn run(cli: &Cli, spec: &BenchSpec) -> anyhow::Result<ExitCode> {
    let report = execute(&BenchSpec { cache_mib: cli.cache_mib, ..spec.clone() })?;
    if cli.json {
        crate::out::outln!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    crate::out::outln!(
        "benchmark: {} accounts{}, {} transfers ({:?}), batches of {}, one client with {} in flight, fsync per \
         batch",
        report.accounts,
        if report.mix { " (Class I/II/III mix)" } else { "" },
        report.transfers,
        report.distribution,
        report.batch,
        report.in_flight
    );
    crate::out::outln!(
        "  {:.0} transfers/s ({:.2} s); accepted {}",
        report.transfers_per_second,
        report.seconds,
        report.accepted
    );
    for (reason, count) in &report.rejected_by_reason {
        crate::out::outln!("    rejected {reason:<30} {count}");
    }
    crate::out::outln!(
        "  batch latency p50 {:.1} ms, p99 {:.1} ms, p100 {:.1} ms",
        report.batch_latency_ms_p50,
        report.batch_latency_ms_p99,
        report.batch_latency_ms_p100
    );
    let slowest: Vec<String> = report
        .slowest_batches
        .iter()
        .map(|batch| format!("{:.1} ms submitted at {}", batch.latency_ms, batch.submitted_at))
        .collect();
    crate::out::outln!(
        "  slowest batches: {}",
        if slowest.is_empty() { "none (no batch)".to_owned() } else { slowest.join(", ") }
    );
    crate::out::outln!(
        "  writer time: decide+apply+encode+hash {:.0}%, staging {:.0}%, {} {:.0}%",
        report.writer_decide_share * 100.0,
        report.writer_stage_share * 100.0,
        if report.store == "RocksDB" { "RocksDB write+fsync" } else { "PostgreSQL transaction+commit" },
        report.writer_write_share * 100.0
    );
    if !report.transfer_cpu_seconds_by_thread.is_empty() {
        crate::out::outln!("  CPU during the transfers: {}", cpu_by_thread(&report.transfer_cpu_seconds_by_thread));
    }
    if report.store == "RocksDB" {
        crate::out::outln!(
            "  peak memory {:.0} MiB; {} events, database {:.0} MiB",
            report.peak_rss_mib,
            report.events,
            report.db_mib
        );
    } else {
        crate::out::outln!("  peak memory {:.0} MiB (this process); {} events", report.peak_rss_mib, report.events);
    }
    let phases: Vec<String> =
        report.peak_rss_mib_after_phase.iter().map(|(phase, mib)| format!("{phase} {mib:.0} MiB")).collect();
    crate::out::outln!("  peak memory so far after each phase: {}", phases.join(", "));
    crate::out::outln!("  close {:.2} s, open {:.2} s", report.close_seconds, report.open_seconds);
    crate::out::outln!("  verify {:.2} s ({:.0} events/s)", report.verify_seconds, report.verify_events_per_second);
    crate::out::outln!("  replay {:.2} s ({:.0} events/s)", report.replay_seconds, report.replay_events_per_second);
    crate::out::outln!(
        "  checkpoint {:.4} s; inclusion proofs: {:.0} made/s, {:.0} checked/s, {} hashes each",
        report.checkpoint_seconds,
        report.proofs_per_second,
        report.proof_checks_per_second,
        report.proof_hashes
    );
    crate::out::outln!(
        "  regulatory reports over the whole log: {:.2} s ({:.0} events/s), {} lines",
        report.report_seconds,
        report.report_events_per_second,
        report.report_lines
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::cpu_by_thread;

    /// given the threads' CPU seconds → then the CPU text: no empty "()" when no thread
    /// reaches the threshold (a tiny run printed "CPU 0.02 s ()").
    #[test]
    fn cpu_by_thread_names_the_busy_threads_and_no_empty_list() {
        let rows: [(&[(&str, f64)], &str); 3] = [
            (&[("ledger-writer", 1.5), ("main", 0.25)], "1.75 s (ledger-writer 1.50, main 0.25)"),
            (&[("ledger-writer", 0.004), ("main", 0.004)], "0.01 s"),
            (&[], "0.00 s"),
        ];
        for (threads, want) in rows {
            let threads: Vec<(String, f64)> = threads.iter().map(|(name, s)| ((*name).to_owned(), *s)).collect();
            assert_eq!(cpu_by_thread(&threads), want, "{threads:?}");
        }
    }
}
