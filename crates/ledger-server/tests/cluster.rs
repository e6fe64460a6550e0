//! Writers as processes on the loopback cluster (docs/CLUSTER.md): 3 etcd members, 3 PostgreSQL
//! nodes under Patroni (strict synchronous replication), two `ledger-server`s with a writer
//! lease in etcd (TTL 3 s). Under a steady load of batches, sent to whichever server answers:
//! - the standby serves reads at once (queries, proofs, the events feed, each answer with the
//!   seq it is as of), says `standby` and names the writer on `/readyz`, and refuses a batch
//!   503 `not_writer` naming the writer and its URL;
//! - the writer is SIGKILLed with a batch in flight: the standby, read every ~100 ms all
//!   along (not one read may fail), takes the lease once it expires, opens the ledger (bumping
//!   the epoch) and becomes the writer in place; the batch retried with the same ids is
//!   answered from the log where it had been recorded;
//! - the new writer is SIGSTOPped until the other has taken over, then SIGCONTed with a batch
//!   waiting on its socket: that batch is refused (its append fenced by the epoch, or the server
//!   steps down first on finding its lease expired), nothing of it enters the log, and the
//!   server exits saying it lost the lease.
//!
//! etcd runs with TLS and client-certificate authentication: a lease client without a
//! certificate is refused; the servers present theirs (`[lease] ca_file`, `cert_file`, `key_file`).
//!
//! In the end every acknowledged command is in the log exactly once, the chain verifies from
//! genesis, replay equals the read models, and every node holds the same chain.

#![expect(clippy::unwrap_used, clippy::panic, reason = "a failing step should stop the test where it fails")]

mod common;
#[path = "../../ledger-store/tests/support/mod.rs"]
mod support;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{AUDITOR, BACK_OFFICE, Client, Server};
use ledger_server::lease::{Lease, LeaseConfig, LeaseError};
use rustix::process::Signal;
use serde_json::{Value, json};
use support::cluster::Cluster;

/// The longest a batch may go unanswered across a takeover before the test fails.
const OUTAGE_MAX: Duration = Duration::from_secs(60);
const LEASE_TTL_SECONDS: u64 = 3;
const ACCOUNTS: u64 = 50;
const BATCH_LEN: u64 = 200;
/// A client gives up on one answer after this (a SIGSTOPped server never answers).
const ANSWER_MAX: Duration = Duration::from_secs(5);

fn id(n: u64) -> String {
    uuid::Uuid::from_u64_pair(0x6c65_6173_6500_0000, n).to_string()
}

/// The accounts the load moves money between, each with a deposit.
fn setup() -> Vec<Value> {
    (1..=ACCOUNTS)
        .flat_map(|account| {
            [
                json!({ "type": "open_account", "id": id(account * 2), "account": account, "customer": account, "class": "I", "verified_in_person": true }),
                json!({ "type": "cash_deposit", "id": id(account * 2 + 1), "account": account, "amount": "1000000" }),
            ]
        })
        .collect()
}

/// A ledger at `url` (as `ledger-cli init` makes it) and a server config with the tokens and
/// `extra`.
fn prepare(url: &str, extra: &str) -> (tempfile::TempDir, PathBuf) {
    common::create_ledger(Path::new(url));
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("server.toml");
    common::write_config(&config, extra);
    (dir, config)
}

/// The config's writer lease in the cluster's etcd (TLS: its CA, and a client certificate); a
/// standby reads from a PostgreSQL standby (`target_session_attrs=read-only`).
fn lease_in(cluster: &Cluster) -> String {
    let certs = &cluster.etcd_certs;
    format!(
        "[lease]\nread_db = {:?}\netcd = {:?}\nca_file = {:?}\ncert_file = {:?}\nkey_file = {:?}\n",
        cluster.url("ledger").replace("target_session_attrs=read-write", "target_session_attrs=read-only"),
        cluster.etcd_urls,
        certs.ca.display().to_string(),
        certs.cert.display().to_string(),
        certs.key.display().to_string()
    )
}

fn load_batch(b: u64) -> Vec<Value> {
    (0..BATCH_LEN)
        .map(|i| {
            let n = b * BATCH_LEN + i;
            let from = n % ACCOUNTS + 1;
            let to = (n * 7 + 3) % ACCOUNTS + 1;
            let to = if to == from { to % ACCOUNTS + 1 } else { to };
            json!({ "type": "internal_transfer", "id": id(1_000_000 + n), "from": from, "to": to, "amount": format!("{}.{:02}", n % 90 + 1, n % 100) })
        })
        .collect()
}

/// Starts a server with the writer lease of its config; it listens at once, as a standby until
/// it holds the lease.
fn spawn(url: &str, config: &Path, name: &str) -> Server {
    let ttl = LEASE_TTL_SECONDS.to_string();
    Server::spawn(Path::new(url), config, &["--lease-ttl", &ttl, "--lease-name", name, "--log-json"])
}

/// Waits (bounded) until `server` listens; panics with its log otherwise.
fn listening(server: &mut Server, name: &str) {
    if !server.wait_listening(OUTAGE_MAX) {
        server.kill();
        panic!("{name} did not start: {}", server.stderr.recv_timeout(Duration::from_secs(5)).unwrap_or_default());
    }
}

/// `/readyz` of a server: its role and the writer it names (any other answer fails the test,
/// with the server's log).
fn role(server: &mut Server) -> (String, Option<String>) {
    match Client::new(&server.url, None).get("/readyz") {
        Ok(reply) if reply.status == 200 => {
            (reply.body["role"].as_str().unwrap().to_owned(), reply.body["writer"]["name"].as_str().map(str::to_owned))
        }
        answer => {
            let exited = server.exited();
            server.kill();
            let log = server.stderr.recv_timeout(Duration::from_secs(5)).unwrap_or_default();
            panic!("/readyz of {}: {answer:?} (exited: {exited:?}); its log:\n{log}", server.url);
        }
    }
}

/// What a reader keeps asking a standby: a balance, an inclusion proof, the head, a page of the
/// events feed.
const READS: [&str; 4] =
    ["/v1/accounts/1/balance", "/v1/proofs/inclusion/1", "/v1/head", "/v1/events?after=0&limit=10"];

/// Reads from `url` every ~100 ms until `until` is set: (answers, failures with what they were,
/// the seqs the answers were as of, first and last).
fn read_all_along(url: String, until: Arc<AtomicBool>) -> std::thread::JoinHandle<(u64, Vec<String>, (u64, u64))> {
    std::thread::spawn(move || {
        let client = Client::with_timeout(&url, Some(AUDITOR), ANSWER_MAX);
        let (mut answered, mut failures, mut seqs) = (0, Vec::new(), (u64::MAX, 0));
        let mut n = 0;
        while !until.load(Ordering::Acquire) {
            let path = READS[n % READS.len()];
            n += 1;
            match client.get(path) {
                Ok(reply) if reply.status == 200 => {
                    answered += 1;
                    let seq = reply.ledger_seq.unwrap_or_else(|| panic!("{path}: no ledger-seq header"));
                    if seq < seqs.1 {
                        failures.push(format!("{path}: as of seq {seq} after an answer as of {}", seqs.1));
                    }
                    seqs = (seqs.0.min(seq), seqs.1.max(seq));
                }
                Ok(reply) => failures.push(format!("{path}: {} {}", reply.status, reply.body)),
                Err(err) => failures.push(format!("{path}: {err}")),
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        (answered, failures, seqs)
    })
}

/// Every answer a command got: id → seq (a second answer must name the same seq).
#[derive(Default)]
struct Book {
    answered: HashMap<String, u64>,
    duplicates: u64,
}

impl Book {
    fn record(&mut self, commands: &[Value], results: &[Value]) {
        assert_eq!(commands.len(), results.len());
        for (command, result) in commands.iter().zip(results) {
            let status = result["status"].as_str().unwrap();
            assert!(matches!(status, "accepted" | "duplicate"), "{result}");
            self.duplicates += u64::from(status == "duplicate");
            let seq = result["seq"].as_u64().unwrap();
            let id = command["id"].as_str().unwrap().to_owned();
            if let Some(first) = self.answered.insert(id.clone(), seq) {
                assert_eq!(first, seq, "{id}: answered at seq {first}, then at {seq}");
            }
        }
    }
}

/// Posts `commands` to whichever server answers 200, retrying (same ids) until one does;
/// returns the time it took and the name of the server that answered.
fn submit(servers: &mut [(&str, &mut Server)], book: &mut Book, commands: &[Value]) -> (Duration, String) {
    let started = Instant::now();
    let body = Value::Array(commands.to_vec()).to_string();
    loop {
        for (name, server) in servers.iter_mut() {
            if !server.wait_listening(Duration::ZERO) || server.exited().is_some() {
                continue;
            }
            let client = Client::with_timeout(&server.url, Some(BACK_OFFICE), ANSWER_MAX);
            if let Ok(reply) = client.post("/v1/batches", &body) {
                if reply.status == 200 {
                    book.record(commands, reply.body["results"].as_array().unwrap());
                    return (started.elapsed(), (*name).to_owned());
                }
                assert_eq!(reply.status, 503, "{reply:?}");
            }
        }
        assert!(started.elapsed() < OUTAGE_MAX, "no server answered within {OUTAGE_MAX:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_killed_or_paused_writer_is_replaced_through_the_lease_and_a_paused_one_records_nothing() {
    let cluster = Cluster::start();
    cluster.create_database("ledger");
    let url = cluster.url("ledger");
    let (_dir, config) = prepare(&url, &lease_in(&cluster));
    // The standbys read from a replica: it has the ledger before they start.
    let created = ledger_store::Reader::open(&url, Arc::new(ledger_store::SystemClock)).unwrap().head().unwrap();
    cluster.wait_same_head("ledger", created, OUTAGE_MAX);
    let mut book = Book::default();

    // etcd takes TLS clients with a certificate of its CA only: without one the lease is
    // refused (an etcd error, not a lease held by someone else).
    let with_certs = LeaseConfig {
        ca_file: Some(cluster.etcd_certs.ca.clone()),
        cert_file: Some(cluster.etcd_certs.cert.clone()),
        key_file: Some(cluster.etcd_certs.key.clone()),
        key: "/tiered-ledger/tls-check".into(),
        ..LeaseConfig::at(cluster.etcd_urls.clone())
    };
    let without_cert = LeaseConfig { cert_file: None, key_file: None, ..with_certs.clone() };
    let refused = Lease::try_acquire(&without_cert, without_cert.tls().unwrap().as_ref(), "no certificate");
    assert!(matches!(refused, Err(LeaseError::Etcd(_))), "{refused:?}");
    let taken = Lease::try_acquire(&with_certs, with_certs.tls().unwrap().as_ref(), "certified").unwrap().unwrap();
    taken.release().unwrap();

    // A takes the lease; B listens too, as a standby.
    let mut a = spawn(&url, &config, "writer-a");
    listening(&mut a, "A");
    let started = Instant::now();
    while role(&mut a).0 != "writer" {
        assert!(started.elapsed() < OUTAGE_MAX, "A did not become the writer");
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut b = spawn(&url, &config, "writer-b");
    listening(&mut b, "B");
    assert_eq!(submit(&mut [("A", &mut a)], &mut book, &setup()).1, "A");
    let mut next = 0;
    for _ in 0..5 {
        submit(&mut [("A", &mut a), ("B", &mut b)], &mut book, &load_batch(next));
        next += 1;
    }

    // B is a standby: it names A on /readyz (and is not ready to write), answers reads as of
    // the seq it says, and refuses a batch before reading it, naming A and where A answers.
    let started = Instant::now();
    while role(&mut b) != ("standby".to_owned(), Some("writer-a".to_owned())) {
        assert!(started.elapsed() < OUTAGE_MAX, "B did not name A as the writer: {:?}", role(&mut b));
        std::thread::sleep(Duration::from_millis(100));
    }
    let b_client = Client::new(&b.url, Some(AUDITOR));
    let not_ready = Client::new(&b.url, None).get("/readyz?role=writer").unwrap();
    assert_eq!((not_ready.status, not_ready.body["error"].as_str()), (503, Some("not_writer")), "{not_ready:?}");
    let refused = Client::new(&b.url, Some(BACK_OFFICE))
        .post("/v1/batches", &Value::Array(load_batch(next)).to_string())
        .unwrap();
    assert_eq!((refused.status, refused.body["error"].as_str()), (503, Some("not_writer")), "{refused:?}");
    assert_eq!(refused.body["writer"], json!({ "name": "writer-a", "url": a.url }), "{refused:?}");
    assert_eq!(refused.retry_after.as_deref(), Some("1"));
    let a_head = Client::new(&a.url, Some(BACK_OFFICE)).head_seq();
    let started = Instant::now();
    loop {
        // A replica answers as of its replay position: B reaches A's head within the bound.
        let head = b_client.get("/v1/head").unwrap();
        assert_eq!(head.status, 200, "{head:?}");
        assert!(head.ledger_seq.unwrap() <= head.body["seq"].as_u64().unwrap(), "{head:?}");
        if head.ledger_seq == Some(a_head) {
            break;
        }
        if started.elapsed() > OUTAGE_MAX {
            b.kill();
            let log = b.stderr.recv_timeout(Duration::from_secs(5)).unwrap_or_default();
            panic!("B's head stayed behind A's {a_head}: {head:?}\nB's log:\n{log}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    for path in READS {
        let reply = b_client.get(path).unwrap();
        assert_eq!(reply.status, 200, "{path}: {reply:?}");
        assert!(reply.ledger_seq.is_some(), "{path}: {reply:?}");
    }
    let proof = b_client.get(&format!("/v1/proofs/inclusion/{a_head}")).unwrap();
    assert_eq!((proof.status, proof.body["tree_size"].as_u64()), (200, Some(a_head)), "{proof:?}");

    // SIGKILL A with a batch in flight (4,000 commands: a few hundred ms of work); B takes over
    // after the lease's TTL.
    let in_flight: Vec<Value> = (next..next + 20).flat_map(load_batch).collect();
    next += 20;
    let (posting, a_url) = (Value::Array(in_flight.clone()).to_string(), a.url.clone());
    let sender = std::thread::spawn(move || {
        Client::with_timeout(&a_url, Some(BACK_OFFICE), ANSWER_MAX).post("/v1/batches", &posting).map(|r| r.status)
    });
    let done_reading = Arc::new(AtomicBool::new(false));
    let reading = read_all_along(b.url.clone(), Arc::clone(&done_reading));
    std::thread::sleep(Duration::from_millis(100));
    a.kill();
    let a_answered = sender.join().unwrap();
    let duplicates_before = book.duplicates;
    let (takeover, by) = submit(&mut [("B", &mut b)], &mut book, &in_flight);
    assert_eq!(by, "B");
    let retried_duplicates = book.duplicates - duplicates_before;
    for _ in 0..5 {
        submit(&mut [("B", &mut b)], &mut book, &load_batch(next));
        next += 1;
    }
    done_reading.store(true, Ordering::Release);
    let (reads, read_failures, read_seqs) = reading.join().unwrap();
    if !read_failures.is_empty() {
        b.kill();
        let log = b.stderr.recv_timeout(Duration::from_secs(5)).unwrap_or_default();
        panic!("reads on the standby failed through the writer's kill: {read_failures:?}\nB's log:\n{log}");
    }
    assert_eq!(role(&mut b).0, "writer");

    // A comes back as a standby naming B. SIGSTOP B until A has taken over, then SIGCONT it
    // with a batch waiting on its socket.
    let mut a = spawn(&url, &config, "writer-a2");
    listening(&mut a, "A2");
    let started = Instant::now();
    while role(&mut a) != ("standby".to_owned(), Some("writer-b".to_owned())) {
        assert!(started.elapsed() < OUTAGE_MAX, "A2 did not name B as the writer: {:?}", role(&mut a));
        std::thread::sleep(Duration::from_millis(100));
    }
    b.signal(Signal::STOP);
    let stopped = Instant::now();
    let (pause_takeover, by) = submit(&mut [("A", &mut a)], &mut book, &load_batch(next));
    next += 1;
    assert_eq!(by, "A");
    let head_before = Client::new(&a.url, Some(BACK_OFFICE)).head_seq();
    let refused_batch: Vec<Value> = (0..BATCH_LEN)
        .map(|i| json!({ "type": "cash_deposit", "id": id(9_000_000 + i), "account": 1, "amount": "1.00" }))
        .collect();
    let (posting, b_url) = (Value::Array(refused_batch.clone()).to_string(), b.url.clone());
    let sender = std::thread::spawn(move || {
        Client::with_timeout(&b_url, Some(BACK_OFFICE), Duration::from_secs(20)).post("/v1/batches", &posting)
    });
    std::thread::sleep(Duration::from_millis(300));
    b.signal(Signal::CONT);
    let paused_for = stopped.elapsed();
    let refusal = match sender.join().unwrap() {
        Ok(reply) => {
            assert_eq!(reply.status, 503, "the paused writer's batch was answered: {reply:?}");
            reply.body["error"].as_str().unwrap().to_owned()
        }
        Err(err) => format!("no answer ({err})"),
    };
    let exit_started = Instant::now();
    let b_code = loop {
        if let Some(code) = b.exited() {
            break code;
        }
        if exit_started.elapsed() > OUTAGE_MAX {
            b.kill();
            panic!(
                "B did not step down; its log:\n{}",
                b.stderr.recv_timeout(Duration::from_secs(5)).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let b_stderr = b.stderr.recv_timeout(Duration::from_secs(5)).unwrap_or_default();
    assert_eq!(b_code, Some(2), "{b_stderr}");
    assert!(b_stderr.contains("writer lease is lost"), "{b_stderr}");
    for _ in 0..3 {
        submit(&mut [("A", &mut a)], &mut book, &load_batch(next));
        next += 1;
    }
    let head = Client::new(&a.url, Some(BACK_OFFICE)).head_seq();
    assert_eq!(head, head_before + 3 * BATCH_LEN, "only A's batches were appended after the takeover");
    let (code, stderr) = a.stop();
    assert_eq!(code, Some(0), "{stderr}");

    // Every acknowledged command once, at the seq it was told; nothing of the refused batch.
    let reader = ledger_store::Reader::open(&url, Arc::new(ledger_store::SystemClock)).unwrap();
    let report = reader.verify(1, None).unwrap();
    assert!(reader.replay().unwrap().mismatches.is_empty());
    let in_log = common::command_seqs(&reader);
    for (id, seq) in &book.answered {
        assert_eq!(in_log.get(id), Some(&vec![*seq]), "{id}");
    }
    assert!(in_log.values().all(|seqs| seqs.len() == 1), "a command recorded twice");
    for command in &refused_batch {
        assert!(!in_log.contains_key(command["id"].as_str().unwrap()), "the paused writer's batch entered the log");
    }
    // The same chain on every node.
    cluster.wait_same_head("ledger", reader.head().unwrap(), OUTAGE_MAX);
    println!(
        "writer lease (TTL {LEASE_TTL_SECONDS} s): A SIGKILLed with a batch in flight (A answered {a_answered:?}); \
         B answered it after {:.1} s ({retried_duplicates} of its {} commands answered duplicate: recorded \
         before the kill)",
        takeover.as_secs_f64(),
        in_flight.len()
    );
    println!(
        "standby reads: {reads} answered on B through A's kill and B's takeover (every ~100 ms, as of seqs {}..={}), \
         {} failed",
        read_seqs.0,
        read_seqs.1,
        read_failures.len()
    );
    println!(
        "writer lease: B SIGSTOPped; A took over and answered after {:.1} s; B SIGCONTed after {:.1} s, its waiting \
         batch refused: {refusal}; B exited {b_code:?}",
        pause_takeover.as_secs_f64(),
        paused_for.as_secs_f64()
    );
    println!(
        "writer lease: {} acknowledged commands all present once; {} events verified; head {head}",
        book.answered.len(),
        report.events_checked
    );
}

/// Without a lease to keep them apart (say an operator starts a second writer by mistake), the
/// epoch alone decides: writer A is SIGSTOPped, B opens the same ledger (bumping the epoch and
/// ending A's session) and appends, A is SIGCONTed and its next appends are refused, `fenced`,
/// and leave nothing in the log.
#[test]
fn a_paused_writer_resumed_after_another_opened_the_ledger_is_fenced_by_the_epoch() {
    let server = support::PgServer::start();
    let url = server.create_database("ledger");
    let (_dir, config) = prepare(&url, "");
    let mut book = Book::default();
    let mut a = Server::start(Path::new(&url), &config, &[]);
    submit(&mut [("A", &mut a)], &mut book, &setup());
    submit(&mut [("A", &mut a)], &mut book, &load_batch(0));

    a.signal(Signal::STOP);
    let mut b = Server::start(Path::new(&url), &config, &[]);
    submit(&mut [("B", &mut b)], &mut book, &load_batch(1));
    let head = Client::new(&b.url, Some(BACK_OFFICE)).head_seq();
    a.signal(Signal::CONT);
    // A's session was ended by B's open: the first attempt may fail as a lost connection
    // ("storage"); the writer reconnects and its append is then refused by the epoch.
    let client = Client::with_timeout(&a.url, Some(BACK_OFFICE), ANSWER_MAX);
    let mut refusals = Vec::new();
    for attempt in 0..5 {
        let batch: Vec<Value> = (0..10)
            .map(|i| json!({ "type": "cash_deposit", "id": id(9_000_000 + attempt * 100 + i), "account": 1, "amount": "1.00" }))
            .collect();
        let reply = client.post("/v1/batches", &Value::Array(batch).to_string()).unwrap();
        assert_eq!(reply.status, 503, "the fenced writer answered: {reply:?}");
        let error = reply.body["error"].as_str().unwrap().to_owned();
        refusals.push(error.clone());
        if error == "fenced" {
            break;
        }
    }
    assert_eq!(refusals.last().map(String::as_str), Some("fenced"), "{refusals:?}");
    // Later appends are refused too: the fenced writer stepped down.
    let late = json!([{ "type": "cash_deposit", "id": id(9_999_999), "account": 1, "amount": "1.00" }]);
    assert_eq!(client.post("/v1/batches", &late.to_string()).unwrap().status, 503);
    assert_eq!(Client::new(&b.url, Some(BACK_OFFICE)).head_seq(), head, "the fenced writer appended");
    submit(&mut [("B", &mut b)], &mut book, &load_batch(2));
    let (code, stderr) = b.stop();
    assert_eq!(code, Some(0), "{stderr}");
    a.kill();

    let reader = ledger_store::Reader::open(&url, Arc::new(ledger_store::SystemClock)).unwrap();
    reader.verify(1, None).unwrap();
    assert!(reader.replay().unwrap().mismatches.is_empty());
    assert_eq!(reader.head().unwrap().seq, head + BATCH_LEN);
    println!("epoch fencing across processes: A SIGSTOPped, B opened and appended, A SIGCONTed: refused {refusals:?}");
}
