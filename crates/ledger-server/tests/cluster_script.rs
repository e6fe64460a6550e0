//! docs/CLUSTER.md's "A cluster on this machine" walked as a new user would: each ```sh block,
//! in order, run by bash from the repository's root. `scripts/cluster up` prints the servers' URLs and a token; a batch sent to whichever server
//! answers is accepted; `kill-primary` SIGKILLs the PostgreSQL primary's machine and reports the
//! failover; the same batch sent again is answered (every command a duplicate, at the seq it
//! had); `status` names the roles; `down` leaves no process and no state directory.
//! The script runs the programs `cargo test` built (it must not run cargo inside cargo): the
//! `cluster` example (built by `cargo test --workspace`, or `cargo build -p ledger-server
//! --example cluster`) and `ledger-cli`.

#![expect(clippy::unwrap_used, clippy::panic, reason = "a failing step should stop the test where it fails")]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::Client;
use serde_json::{Value, json};

/// How long a batch may go unanswered across the primary's kill.
const ANSWER_MAX: Duration = Duration::from_secs(90);

struct Script {
    state: PathBuf,
    target: PathBuf,
}

impl Script {
    fn run(&self, block: &str) -> Output {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let out = Command::new("bash")
            .args(["-euo", "pipefail", "-c", block])
            .current_dir(&root)
            .env("LEDGER_CLUSTER_DIR", &self.state)
            .env("LEDGER_CLUSTER_NO_BUILD", "1")
            .env("CARGO_TARGET_DIR", &self.target)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{block}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }
}

/// `down` even when a step failed: nothing of the cluster outlives the test.
impl Drop for Script {
    fn drop(&mut self) {
        if self.state.exists() {
            let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
            let _ =
                Command::new(root.join("scripts/cluster")).arg("down").env("LEDGER_CLUSTER_DIR", &self.state).status();
        }
    }
}

/// The processes whose command line names `dir`.
fn processes_naming(dir: &Path) -> Vec<String> {
    let needle = dir.to_string_lossy().into_owned();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|entry| entry.ok())
        .filter_map(|entry| {
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            text.contains(&needle).then_some(text)
        })
        .collect()
}

/// Sends `batch` to whichever server answers 200 (the other is a standby: 503 `not_writer`);
/// its results.
fn submit(urls: &[String], token: &str, batch: &Value) -> Vec<Value> {
    let started = Instant::now();
    loop {
        for url in urls {
            let client = Client::with_timeout(url, Some(token), Duration::from_secs(10));
            if let Ok(reply) = client.post("/v1/batches", &batch.to_string())
                && reply.status == 200
            {
                return reply.body["results"].as_array().unwrap().clone();
            }
        }
        assert!(started.elapsed() < ANSWER_MAX, "no server accepted the batch within {ANSWER_MAX:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The shell blocks of docs/CLUSTER.md's "A cluster on this machine", in order.
fn doc_blocks() -> Vec<String> {
    let markdown =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/CLUSTER.md")).unwrap();
    let start = markdown.find("\n## A cluster on this machine\n").unwrap();
    let section = &markdown[start + 1..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |end| end + 3)];
    section.split("```sh\n").skip(1).map(|rest| rest[..rest.find("```").unwrap()].trim().to_owned()).collect()
}

#[test]
fn scripts_cluster_starts_a_cluster_that_survives_a_primary_kill_and_tears_down_cleanly() {
    let debug = Path::new(env!("CARGO_BIN_EXE_ledger-server")).parent().unwrap().to_path_buf();
    for program in ["examples/cluster", "ledger-cli"] {
        assert!(
            debug.join(program).exists(),
            "{} is not built: cargo build -p ledger-server -p ledger-cli --bins --example cluster",
            debug.join(program).display()
        );
    }
    let temporary = tempfile::tempdir().unwrap();
    let script = Script { state: temporary.path().join("cluster"), target: debug.parent().unwrap().to_path_buf() };

    let blocks = doc_blocks();
    let commands: Vec<&str> = blocks.iter().map(String::as_str).collect();
    assert_eq!(
        commands,
        ["scripts/cluster up", "scripts/cluster status", "scripts/cluster kill-primary", "scripts/cluster down"],
        "the walk below checks each block's answer"
    );
    let batch = json!([
        { "type": "open_account", "id": "00000000-0000-4000-8000-000000000001", "account": 1, "customer": 1, "class": "I", "verified_in_person": true },
        { "type": "cash_deposit", "id": "00000000-0000-4000-8000-000000000002", "account": 1, "amount": "100.00" },
    ]);

    // up: the URLs and the token; a batch is accepted by the server holding the writer lease.
    let up = String::from_utf8(script.run(&blocks[0]).stdout).unwrap();
    let urls: Vec<String> = up
        .lines()
        .filter(|line| line.starts_with("ledger-server "))
        .map(|line| line.split_whitespace().nth(2).unwrap().to_owned())
        .collect();
    assert_eq!(urls.len(), 2, "{up}");
    let token = up.lines().find_map(|line| line.strip_prefix("token (back-office): ")).unwrap().to_owned();
    for shown in ["PostgreSQL: postgres://", "Patroni pg1: http://127.0.0.1:", "etcd: https://127.0.0.1:"] {
        assert!(up.contains(shown), "{shown} in {up}");
    }
    let first = submit(&urls, &token, &batch);
    assert!(first.iter().all(|result| result["status"] == "accepted"), "{first:?}");

    // status: the roles: one server the writer, the other a standby serving reads.
    let status = String::from_utf8(script.run(&blocks[1]).stdout).unwrap();
    assert!(status.contains(": leader") && status.contains(": writer (holds the writer lease"), "{status}");
    assert!(status.contains(": standby (serves reads"), "{status}");

    // kill-primary: a failover, reported; the same batch is then answered from the log.
    let killed = String::from_utf8(script.run(&blocks[2]).stdout).unwrap();
    assert!(killed.starts_with("killed pg") && killed.contains("primary after"), "{killed}");
    let again = submit(&urls, &token, &batch);
    for (before, after) in first.iter().zip(&again) {
        assert_eq!((after["status"].as_str(), &after["seq"]), (Some("duplicate"), &before["seq"]), "{again:?}");
    }

    // down: nothing left.
    script.run(&blocks[3]);
    assert!(!script.state.exists(), "{} is left", script.state.display());
    let left = processes_naming(&script.state);
    assert!(left.is_empty(), "processes left: {left:?}");
    println!("scripts/cluster: up, a batch accepted, {}, the batch answered again as duplicates, down", killed.trim());
}
