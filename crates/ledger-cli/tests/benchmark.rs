//! `benchmark` end to end on small workloads, plain and `--mix`: every transfer answered, the
//! log holds the setup and the transfers, replay agrees, the reports run, and the peak memory of
//! each phase is reported (issue 25: the workload is made batch by
//! batch; its commands are compared with the old all-at-once ones in `bench_workload.rs`).

mod common;

use common::{cli, json};

#[test]
fn the_benchmark_runs_its_workload_batch_by_batch_plain_and_mixed() {
    let dir = tempfile::tempdir().unwrap();
    // (extra arguments, accounts, transfers, events the log must hold: the policy, the setup
    // and every transfer answered, accepted or refused)
    let rows: [(&[&str], u64, u64, u64); 2] = [
        (&[], 50, 700, 1 + 2 * 50 + 700),
        // 17 accounts: 6 customers with Class I, II and III each, six setup commands each.
        (&["--mix", "--distribution", "zipf"], 17, 700, 1 + 6 * 6 + 700),
    ];
    for (extra, accounts, transfers, events) in rows {
        let (accounts_arg, transfers_arg) = (accounts.to_string(), transfers.to_string());
        let mut args = vec!["--json", "benchmark", "--accounts", &accounts_arg, "--transfers", &transfers_arg];
        args.extend(["--batch", "64"]);
        args.extend_from_slice(extra);
        let (code, out, err) = cli(&dir.path().join("unused"), &args);
        assert_eq!(code, 0, "{extra:?}: {err}");
        let report = json(&out);
        let rejected: u64 =
            report["rejected_by_reason"].as_object().unwrap().values().map(|n| n.as_u64().unwrap()).sum();
        assert_eq!(report["accepted"].as_u64().unwrap() + rejected, transfers, "{extra:?}");
        assert_eq!(report["events"].as_u64().unwrap(), events, "{extra:?}");
        // The setup's 10,000,000-yuan deposits are large-value lines: one per Class I account.
        assert!(report["report_lines"].as_u64().unwrap() > accounts / 3, "{extra:?}");
        let phases = report["peak_rss_mib_after_phase"].as_array().unwrap();
        let names: Vec<&str> = phases.iter().map(|p| p[0].as_str().unwrap()).collect();
        assert_eq!(names, ["writer", "verify and replay", "proofs", "reports"], "{extra:?}");
        // The peak so far never falls, and the whole run's is at least the last.
        let peaks: Vec<f64> = phases.iter().map(|p| p[1].as_f64().unwrap()).collect();
        assert!(peaks.is_sorted() && peaks[0] > 0.0, "{peaks:?}");
        assert!(peaks[3] <= report["peak_rss_mib"].as_f64().unwrap(), "{extra:?}");
        // The slowest batches, the slowest first, the first being p100, each with its time.
        let slowest = report["slowest_batches"].as_array().unwrap();
        assert_eq!(slowest.len(), 3, "{extra:?}: {slowest:?}");
        let latencies: Vec<f64> = slowest.iter().map(|b| b["latency_ms"].as_f64().unwrap()).collect();
        assert!(latencies.is_sorted_by(|a, b| a >= b), "{latencies:?}");
        assert_eq!(latencies[0], report["batch_latency_ms_p100"].as_f64().unwrap(), "{extra:?}");
        for batch in slowest {
            let text = batch["submitted_at"].as_str().unwrap();
            // Fixed width, milliseconds always shown, UTC: `2026-12-06T23:57:17.470Z`.
            assert_eq!((text.len(), &text[19..20], &text[23..]), (24, ".", "Z"), "{text}");
            let at: jiff::Timestamp = text.parse().unwrap();
            assert!(at <= jiff::Timestamp::now() && at > jiff::Timestamp::now() - jiff::SignedDuration::from_hours(1));
        }
        // Where the cores went during the transfers: the writer thread decided every batch.
        let cpu = report["transfer_cpu_seconds_by_thread"].as_array().unwrap();
        let writer = cpu.iter().find(|t| t[0] == "ledger-writer").map(|t| t[1].as_f64().unwrap());
        assert!(writer.is_some_and(|seconds| seconds > 0.0), "{extra:?}: {cpu:?}");
        let seconds: Vec<f64> = cpu.iter().map(|t| t[1].as_f64().unwrap()).collect();
        assert!(seconds.is_sorted_by(|a, b| a >= b), "the busiest first: {cpu:?}");
        // A long run says on standard error as each step ends (the results come at the end).
        let steps = [
            "accounts opened",
            "transfers done: ",
            "writer done",
            "verify done",
            "replay done: ",
            "verify and replay done",
            "proofs done",
            "reports done",
        ];
        let noted: Vec<&str> = err.lines().filter(|line| line.starts_with("benchmark: ")).collect();
        assert_eq!(noted.len(), steps.len(), "{extra:?}: {err}");
        for (line, step) in noted.iter().zip(steps) {
            assert!(line.contains(step), "{extra:?}: {line:?} is not {step:?}");
        }
    }
}
