//! Followers: a Rust follower of `GET /v1/events` across a server restart (no gap, no
//! duplicate, every link and hash recomputed), and the Python client's end-to-end day (its
//! follower checks the chain with tools/verify_export.py's logic), over plain HTTP and TLS.
#![expect(clippy::unwrap_used, clippy::panic, reason = "tests")]

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{AUDITOR, BACK_OFFICE, Client, OPERATOR, Server, Workspace};
use ledger_store::codec::event_hash;
use serde_json::{Value, json};

/// A follower's position: the last seq it holds and that record's hash.
struct Follower {
    after: u64,
    prev: [u8; 32],
    seqs: Vec<u64>,
}

impl Follower {
    /// Takes one page; false when the server could not be reached.
    fn poll(&mut self, client: &Client) -> bool {
        let Ok(reply) = client.get(&format!("/v1/events?after={}&limit=50&wait=1", self.after)) else { return false };
        if reply.status != 200 {
            return false;
        }
        for record in reply.body["records"].as_array().unwrap() {
            let seq = record["seq"].as_u64().unwrap();
            assert_eq!(seq, self.after + 1, "no gap, no repeat");
            let prev: [u8; 32] = hex::decode(record["prev_hash"].as_str().unwrap()).unwrap().try_into().unwrap();
            assert_eq!(prev, self.prev, "seq {seq} links to the record before");
            let bytes = hex::decode(record["event_hex"].as_str().unwrap()).unwrap();
            let hash = event_hash(seq, &prev, &bytes);
            assert_eq!(hex::encode(hash), record["hash"].as_str().unwrap(), "seq {seq} hash recomputed");
            self.after = seq;
            self.prev = hash;
            self.seqs.push(seq);
        }
        assert_eq!(reply.body["next_after"].as_u64(), Some(self.after));
        true
    }
}

fn deposits(from: u64, len: u64) -> String {
    let commands: Vec<Value> = (from..from + len)
        .map(|n| json!({ "type": "cash_deposit", "id": common::id(n), "account": 1, "amount": "1.00" }))
        .collect();
    Value::Array(commands).to_string()
}

#[test]
fn a_follower_misses_nothing_and_gets_nothing_twice_across_a_restart() {
    let work = Workspace::new("");
    let server = Arc::new(Mutex::new(work.start()));
    let url = Arc::new(Mutex::new(server.lock().unwrap().url.clone()));
    let office = Client::new(&url.lock().unwrap(), Some(BACK_OFFICE));
    let open = json!({ "type": "open_account", "id": common::id(0), "account": 1, "customer": 1, "class": "I", "verified_in_person": true });
    assert_eq!(office.post("/v1/commands", &open.to_string()).unwrap().status, 200);

    // The head the follower must reach (0 until the writing is over).
    let target = Arc::new(AtomicU64::new(0));
    let follower = {
        let (url, target) = (Arc::clone(&url), Arc::clone(&target));
        std::thread::spawn(move || {
            let mut follower = Follower { after: 0, prev: [0; 32], seqs: Vec::new() };
            let mut reconnects = 0;
            let deadline = std::time::Instant::now() + Duration::from_secs(120);
            loop {
                assert!(std::time::Instant::now() < deadline, "the follower did not reach the head in time");
                let client = Client::new(&url.lock().unwrap(), Some(AUDITOR));
                if !follower.poll(&client) {
                    reconnects += 1;
                    std::thread::sleep(Duration::from_millis(50));
                }
                let until = target.load(Ordering::SeqCst);
                if until != 0 && follower.after >= until {
                    return (follower, reconnects);
                }
            }
        })
    };
    for n in 0..10 {
        let reply = office.post("/v1/batches", &deposits(1 + n * 30, 30)).unwrap();
        assert_eq!(reply.status, 200);
    }
    // A clean restart while the follower is waiting: it reconnects with its last seq.
    let (code, stderr) = server.lock().unwrap().stop();
    assert_eq!(code, Some(0), "{stderr}");
    std::thread::sleep(Duration::from_millis(300));
    let restarted = work.start();
    *url.lock().unwrap() = restarted.url.clone();
    let office = Client::new(&restarted.url, Some(BACK_OFFICE));
    for n in 10..20 {
        assert_eq!(office.post("/v1/batches", &deposits(1 + n * 30, 30)).unwrap().status, 200);
    }
    let head = office.get("/v1/head").unwrap().body;
    let head_seq = head["seq"].as_u64().unwrap();
    target.store(head_seq, Ordering::SeqCst);
    let (follower, reconnects) = follower.join().unwrap();
    assert!(
        follower.seqs.iter().copied().eq(1..=head_seq),
        "every record once, in order: {} records",
        follower.seqs.len()
    );
    assert_eq!(hex::encode(follower.prev), head["hash"].as_str().unwrap());
    assert!(reconnects >= 1, "the follower saw the restart");
}

fn tokens_file(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("tokens.json");
    let tokens = json!({ "back-office": BACK_OFFICE, "operator": OPERATOR, "auditor": AUDITOR });
    std::fs::write(&path, tokens.to_string()).unwrap();
    path
}

fn run_python(args: &[&str]) -> Value {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let script = root.join("clients/python/e2e_day.py");
    let output = Command::new("python3")
        .arg(&script)
        .args(args)
        .output()
        .unwrap_or_else(|err| panic!("python3 is needed for this test: {err}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_str(stdout.trim()).unwrap()
}

#[test]
fn the_python_client_runs_a_day_and_verifies_the_chain_it_followed() {
    let work = Workspace::new("");
    let mut server = work.start();
    let tokens = tokens_file(work.dir.path());
    let summary = run_python(&[&server.url, tokens.to_str().unwrap(), "--customers", "40"]);
    assert_eq!(summary["ok"], true, "{summary}");
    assert_eq!(summary["rejected"], 40);
    // Again on the same ledger, which now holds the first day: new ids, new accounts, later times.
    let again = run_python(&[&server.url, tokens.to_str().unwrap(), "--customers", "5"]);
    assert_eq!(again["ok"], true, "{again}");
    assert_eq!(again["rejected"], 5);
    assert_eq!(again["first_seq"].as_u64(), summary["records"].as_u64().map(|seq| seq + 1), "{again}");
    assert_eq!(server.stop().0, Some(0));
    let reader = ledger_store::Reader::open(&work.db, Arc::new(ledger_store::SystemClock)).unwrap();
    assert_eq!(Some(reader.head().unwrap().to_text().as_str()), again["head"].as_str());
}

#[test]
fn over_tls_the_python_client_checks_the_certificate() {
    let work = Workspace::new("");
    let dir = work.dir.path();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let made = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"])
        .args(["-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap_or_else(|err| panic!("openssl is needed for this test: {err}"));
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let mut server = Server::start(
        &work.db,
        &work.config,
        &["--tls-cert", cert.to_str().unwrap(), "--tls-key", key.to_str().unwrap()],
    );
    assert!(server.url.starts_with("https://127.0.0.1:"), "{}", server.url);
    let tokens = tokens_file(dir);
    let summary =
        run_python(&[&server.url, tokens.to_str().unwrap(), "--customers", "3", "--cafile", cert.to_str().unwrap()]);
    assert_eq!(summary["ok"], true, "{summary}");
    // Without the certificate as a trust anchor the client refuses the server.
    let refused = Command::new("python3")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../clients/python/e2e_day.py"))
        .args([&server.url, tokens.to_str().unwrap(), "--customers", "1"])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("CERTIFICATE_VERIFY_FAILED"));
    assert_eq!(server.stop().0, Some(0));
}
