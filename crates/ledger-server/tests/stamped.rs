//! Commands sent without `at` are stamped by the ledger, and a stamped time is never before the
//! head: 64 clients sending 10,000 commands without `at` (singly and in batches) through a real
//! server get no `TIME_BEFORE_HEAD` (the head moves on while a parsed command waits in the
//! writer's queue; the writer decides it at the head's time).
#![expect(clippy::unwrap_used, clippy::panic, reason = "tests")]

mod common;

use std::collections::HashMap;

use common::{BACK_OFFICE, Client, Workspace};
use serde_json::{Value, json};

const CLIENTS: u64 = 64;
const PER_CLIENT: u64 = 157; // 64 × 157 = 10,048 commands
const ACCOUNTS: u64 = 16;

fn deposit(client: u64, n: u64) -> Value {
    let id = uuid::Uuid::from_u64_pair(0x7374_616d_0000_0000 | client, n);
    json!({ "type": "cash_deposit", "id": id.to_string(), "account": (client + n) % ACCOUNTS + 1, "amount": "1.00" })
}

#[test]
fn ten_thousand_commands_without_a_time_from_64_clients_are_never_rejected_time_before_head() {
    let work = Workspace::new("");
    let server = work.start();
    let client = Client::new(&server.url, Some(BACK_OFFICE));
    let opens: Vec<Value> = (1..=ACCOUNTS)
        .map(|a| json!({ "type": "open_account", "id": common::id(a), "account": a, "customer": a, "class": "I", "verified_in_person": true }))
        .collect();
    let reply = client.post("/v1/batches", &Value::Array(opens).to_string()).unwrap();
    assert_eq!(reply.status, 200, "{reply:?}");

    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let client = client.clone();
            std::thread::spawn(move || {
                let mut outcomes: HashMap<String, u64> = HashMap::new();
                let mut n = 0;
                while n < PER_CLIENT {
                    // Odd clients send batches of up to 5, even ones single commands.
                    let len = if c % 2 == 1 { (n % 5 + 1).min(PER_CLIENT - n) } else { 1 };
                    let commands: Vec<Value> = (n..n + len).map(|k| deposit(c, k)).collect();
                    let results = if len == 1 && c % 2 == 0 {
                        let reply = client.post("/v1/commands", &commands[0].to_string()).unwrap();
                        assert_eq!(reply.status, 200, "{reply:?}");
                        vec![reply.body]
                    } else {
                        let reply = client.post("/v1/batches", &Value::Array(commands).to_string()).unwrap();
                        assert_eq!(reply.status, 200, "{reply:?}");
                        reply.body["results"].as_array().unwrap().clone()
                    };
                    for result in results {
                        let outcome = result["reason"].as_str().unwrap_or(result["status"].as_str().unwrap());
                        *outcomes.entry(outcome.to_owned()).or_default() += 1;
                    }
                    n += len;
                }
                outcomes
            })
        })
        .collect();
    let mut outcomes: HashMap<String, u64> = HashMap::new();
    for thread in clients {
        for (outcome, count) in thread.join().unwrap() {
            *outcomes.entry(outcome).or_default() += count;
        }
    }
    // then every one of the 10,048 commands was accepted: none TIME_BEFORE_HEAD
    assert_eq!(outcomes, HashMap::from([("accepted".to_owned(), CLIENTS * PER_CLIENT)]));
}
