//! SIGKILL the server under HTTP load, again and again: every command that got a 200 answer is
//! in the log after the restart, at the seq it was told; retries of unanswered commands (same
//! ids) are answered once, never applied twice; verify and replay are clean at the end.
#![expect(clippy::unwrap_used, clippy::panic, reason = "tests")]

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{BACK_OFFICE, Client, Workspace};
use serde_json::{Value, json};

const KILLS: u64 = 20;
const ACCOUNTS: u64 = 100;
const LOAD_THREADS: u64 = 3;

#[derive(Default)]
struct Book {
    /// Command id → the seq its answer gave (first answers and duplicates alike).
    answered: HashMap<String, u64>,
    /// Requests that got no answer (their commands' ids are retried later).
    unanswered: Vec<Vec<Value>>,
    /// The highest seq any 200 answer named.
    acknowledged_max: u64,
    /// Retried requests, and their commands answered `duplicate` (recorded before the kill).
    retried: u64,
    retried_duplicates: u64,
}

impl Book {
    /// Records the answers to `commands`; a second answer for an id must name the same seq.
    fn record(&mut self, commands: &[Value], results: &[Value]) {
        assert_eq!(commands.len(), results.len());
        for (command, result) in commands.iter().zip(results) {
            let status = result["status"].as_str().unwrap();
            assert!(matches!(status, "accepted" | "rejected" | "duplicate"), "{result}");
            let seq = result["seq"].as_u64().unwrap();
            let id = command["id"].as_str().unwrap().to_owned();
            if let Some(first) = self.answered.insert(id.clone(), seq) {
                assert_eq!(first, seq, "{id}: answered at seq {first}, then at {seq}");
            }
            self.acknowledged_max = self.acknowledged_max.max(seq);
        }
    }
}

fn transfer(round: u64, thread: u64, n: u64) -> Value {
    let mix = round * 7_919 + thread * 104_729 + n * 31;
    let from = mix % ACCOUNTS + 1;
    let to = (mix / ACCOUNTS + 1 + from) % ACCOUNTS + 1;
    let to = if to == from { to % ACCOUNTS + 1 } else { to };
    let id = uuid::Uuid::from_u64_pair(0x6b69_6c6c_0000_0000 | round, (thread << 32) | n);
    json!({ "type": "internal_transfer", "id": id.to_string(), "from": from, "to": to, "amount": format!("{}.{:02}", mix % 90 + 1, mix % 100) })
}

/// Posts `commands` as a batch: Some(results) on a 200, None when no answer came (the server
/// died); any other status fails the test.
fn post(client: &Client, commands: &[Value]) -> Option<Vec<Value>> {
    let body = Value::Array(commands.to_vec()).to_string();
    let reply = client.post("/v1/batches", &body).ok()?;
    assert_eq!(reply.status, 200, "{reply:?}");
    Some(reply.body["results"].as_array().unwrap().clone())
}

#[test]
fn sigkill_under_load_loses_no_answered_command_and_retries_are_idempotent() {
    let started = Instant::now();
    let work = Workspace::new("");
    let book = Arc::new(Mutex::new(Book::default()));
    {
        let server = work.start();
        let client = Client::new(&server.url, Some(BACK_OFFICE));
        let mut setup = Vec::new();
        for account in 1..=ACCOUNTS {
            let n = account * 2;
            setup.push(json!({ "type": "open_account", "id": common::id(n), "account": account, "customer": account, "class": "I", "verified_in_person": true }));
            setup.push(
                json!({ "type": "cash_deposit", "id": common::id(n + 1), "account": account, "amount": "1000000" }),
            );
        }
        let results = post(&client, &setup).unwrap();
        assert!(results.iter().all(|r| r["status"] == "accepted"));
        book.lock().unwrap().record(&setup, &results);
    }
    let mut batches_under_load = 0;
    for round in 0..=KILLS {
        let mut server = work.start();
        let client = Client::new(&server.url, Some(BACK_OFFICE));
        // Nothing acknowledged was lost.
        let head = client.head_seq();
        let acknowledged = book.lock().unwrap().acknowledged_max;
        assert!(head >= acknowledged, "round {round}: head {head} below the acknowledged seq {acknowledged}");
        // Retry every unanswered request with the same ids, and re-ask a sample of answered ones.
        let retries = std::mem::take(&mut book.lock().unwrap().unanswered);
        for commands in retries {
            let results = post(&client, &commands).unwrap();
            let mut book = book.lock().unwrap();
            book.retried += 1;
            book.retried_duplicates += results.iter().filter(|r| r["status"] == "duplicate").count() as u64;
            book.record(&commands, &results);
        }
        if round == KILLS {
            let (code, stderr) = server.stop();
            assert_eq!(code, Some(0), "{stderr}");
            break;
        }
        let mut threads = Vec::new();
        for thread in 0..LOAD_THREADS {
            let client = client.clone();
            let book = Arc::clone(&book);
            threads.push(std::thread::spawn(move || {
                let mut sent = 0;
                for k in 0.. {
                    let len = 1 + (k * 13 + thread * 7) % 40;
                    let commands: Vec<Value> = (0..len).map(|i| transfer(round, thread, k * 64 + i)).collect();
                    match post(&client, &commands) {
                        Some(results) => book.lock().unwrap().record(&commands, &results),
                        None => {
                            book.lock().unwrap().unanswered.push(commands);
                            return sent;
                        }
                    }
                    sent += 1;
                }
                sent
            }));
        }
        std::thread::sleep(Duration::from_millis(150 + (round * 37) % 250));
        server.kill();
        for thread in threads {
            batches_under_load += thread.join().unwrap();
        }
    }

    // The log holds every answered command exactly once, at the seq its answer named.
    let reader = ledger_store::Reader::open(&work.db, Arc::new(ledger_store::SystemClock)).unwrap();
    let report = reader.verify(1, None).unwrap();
    assert!(reader.replay().unwrap().mismatches.is_empty());
    let in_log = common::command_seqs(&reader);
    let book = book.lock().unwrap();
    assert!(book.unanswered.is_empty());
    for (id, seq) in &book.answered {
        assert_eq!(in_log.get(id), Some(&vec![*seq]), "{id}");
    }
    let replayed = in_log.values().filter(|seqs| seqs.len() > 1).count();
    assert_eq!(replayed, 0, "a command id recorded twice");
    assert!(book.retried >= KILLS, "every kill left a request unanswered");
    println!(
        "{KILLS} SIGKILLs under HTTP load: {} answered commands all present once; {batches_under_load} batches; \
         {} unanswered requests retried ({} of their commands had been recorded: answered duplicate); {} events verified; {:.1} s",
        book.answered.len(),
        book.retried,
        book.retried_duplicates,
        report.events_checked,
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn sigterm_under_load_answers_what_it_took_and_closes_the_ledger_cleanly() {
    let work = Workspace::new("");
    let mut server = work.start();
    let client = Client::new(&server.url, Some(BACK_OFFICE));
    let open = json!({ "type": "open_account", "id": common::id(0), "account": 1, "customer": 1, "class": "I", "verified_in_person": true });
    assert_eq!(client.post("/v1/commands", &open.to_string()).unwrap().status, 200);
    let book = Arc::new(Mutex::new(Book::default()));
    let mut threads = Vec::new();
    for thread in 0..LOAD_THREADS {
        let (client, book) = (client.clone(), Arc::clone(&book));
        threads.push(std::thread::spawn(move || {
            for k in 0.. {
                let commands: Vec<Value> = (0..50)
                    .map(|i| {
                        let id = uuid::Uuid::from_u64_pair(0x7465_726d_0000_0000 | thread, k * 64 + i);
                        json!({ "type": "cash_deposit", "id": id.to_string(), "account": 1, "amount": "1.00" })
                    })
                    .collect();
                // During the drain the server may also answer 503 (shutting down); after it, nothing.
                let Ok(reply) = client.post("/v1/batches", &Value::Array(commands.clone()).to_string()) else { return };
                match reply.status {
                    200 => book.lock().unwrap().record(&commands, reply.body["results"].as_array().unwrap()),
                    503 => {}
                    other => panic!("unexpected {other}: {reply:?}"),
                }
            }
        }));
    }
    std::thread::sleep(Duration::from_millis(400));
    let (code, stderr) = server.stop();
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(code, Some(0), "{stderr}");
    // Every answered command is in the log once, and the close wrote a snapshot at the head.
    let reader = ledger_store::Reader::open(&work.db, Arc::new(ledger_store::SystemClock)).unwrap();
    let head = reader.head().unwrap();
    let book = book.lock().unwrap();
    assert!(book.answered.len() > 100, "the load ran: {} answered", book.answered.len());
    assert_eq!(head.seq, 2 + book.answered.len() as u64, "nothing recorded that was not answered");
    assert_eq!(reader.snapshot_state().unwrap(), reader.replayed_state().unwrap());
    assert!(reader.replay().unwrap().mismatches.is_empty());
}
