//! The operator's endpoints (issue 23 item 11) and hot backups through the server (item 12):
//! who may call them, refused backup names, backups under load that open, verify and replay.
#![expect(clippy::unwrap_used, clippy::panic, reason = "tests")]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::{AUDITOR, BACK_OFFICE, Client, OPERATOR, Workspace, at, id};
use ledger_store::{Head, Reader, SystemClock};
use serde_json::json;

fn workspace() -> (Workspace, std::path::PathBuf) {
    let root = tempfile::tempdir().unwrap().keep();
    let work = Workspace::new(&format!("backup_root = {:?}\ntick_seconds = 1\n", root.display().to_string()));
    (work, root)
}

#[test]
fn operator_endpoints_answer_the_operator_role_only_and_refuse_odd_backup_names() {
    let (work, root) = workspace();
    let mut server = work.start();
    let url = server.url.clone();
    let backup = |n: &str| json!({ "name": n }).to_string();
    // (who, method and path, body, status, error code)
    let table: Vec<(Option<&str>, &str, String, u16, &str)> = vec![
        (None, "POST /v1/tick", String::new(), 401, "unauthorized"),
        (Some(BACK_OFFICE), "POST /v1/tick", String::new(), 403, "forbidden"),
        (Some(AUDITOR), "POST /v1/tick", String::new(), 403, "forbidden"),
        (Some(OPERATOR), "POST /v1/tick", String::new(), 200, ""),
        (None, "GET /v1/risk-list", String::new(), 401, "unauthorized"),
        (Some(BACK_OFFICE), "GET /v1/risk-list", String::new(), 403, "forbidden"),
        (Some(AUDITOR), "GET /v1/risk-list", String::new(), 403, "forbidden"),
        (Some(OPERATOR), "GET /v1/risk-list", String::new(), 200, ""),
        (None, "POST /v1/backups", backup("b1"), 401, "unauthorized"),
        (Some(BACK_OFFICE), "POST /v1/backups", backup("b1"), 403, "forbidden"),
        (Some(AUDITOR), "POST /v1/backups", backup("b1"), 403, "forbidden"),
        (Some(OPERATOR), "POST /v1/backups", backup("b1"), 200, ""),
        (Some(OPERATOR), "POST /v1/backups", backup("b1"), 409, "exists"),
        (Some(OPERATOR), "POST /v1/backups", backup("../escape"), 400, "malformed"),
        (Some(OPERATOR), "POST /v1/backups", backup("/tmp/abs"), 400, "malformed"),
        (Some(OPERATOR), "POST /v1/backups", backup(".."), 400, "malformed"),
        (Some(OPERATOR), "POST /v1/backups", backup(".hidden"), 400, "malformed"),
        (Some(OPERATOR), "POST /v1/backups", backup(""), 400, "malformed"),
        (Some(OPERATOR), "POST /v1/backups", backup("a\nb"), 400, "malformed"),
        (Some(OPERATOR), "POST /v1/backups", r#"{"dir":"/tmp/x"}"#.into(), 400, "malformed"),
        (Some(OPERATOR), "POST /v1/backups", "not json".into(), 400, "malformed"),
    ];
    for (who, route, body, status, error) in table {
        let client = Client::new(&url, who);
        let reply = match route.split_once(' ').unwrap() {
            ("GET", path) => client.get(path).unwrap(),
            (_, path) => client.post(path, &body).unwrap(),
        };
        assert_eq!(reply.status, status, "{who:?} {route} {body}: {reply:?}");
        if !error.is_empty() {
            assert_eq!(reply.body["error"], error, "{who:?} {route} {body}: {reply:?}");
        }
    }
    // Nothing was written outside the root, and only the one backup inside it.
    let names: Vec<String> =
        std::fs::read_dir(&root).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(names, ["b1"]);
    assert!(!root.parent().unwrap().join("escape").exists());
    server.stop();
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn a_backup_through_the_server_under_load_opens_verifies_and_replays() {
    let (work, root) = workspace();
    let mut server = work.start();
    let office = Client::new(&server.url, Some(BACK_OFFICE));
    let operator = Client::new(&server.url, Some(OPERATOR));
    let open = json!({ "type": "open_account", "id": id(1), "at": at(1), "account": 10, "customer": 7,
                       "class": "I", "verified_in_person": true });
    assert_eq!(office.post("/v1/commands", &open.to_string()).unwrap().status, 200);
    // Given clients submitting batches of 200 deposits all along
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let (office, stop) = (office.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut n = 100;
            while !stop.load(Ordering::Relaxed) {
                let lines: Vec<String> = (0..200)
                    .map(|_| {
                        n += 1;
                        json!({ "type": "cash_deposit", "id": id(n), "at": at(2), "account": 10, "amount": "1" })
                            .to_string()
                    })
                    .collect();
                let reply = office.post_bytes("/v1/batches?brief=true", lines.join("\n").as_bytes()).unwrap();
                assert_eq!(reply.status, 200, "{reply:?}");
            }
        })
    };
    // When the operator takes backups through the server meanwhile
    let mut heads = Vec::new();
    for i in 0..4 {
        let reply = operator.post("/v1/backups", &json!({ "name": format!("copy-{i}") }).to_string()).unwrap();
        // Then each is written, verified and replayed before the answer
        assert_eq!(reply.status, 200, "backup {i}: {reply:?}");
        let seq = reply.body["head"]["seq"].as_u64().unwrap();
        assert_eq!(reply.body["events_verified"].as_u64(), Some(seq), "{reply:?}");
        heads.push((root.join(format!("copy-{i}")), reply.body["head"]["head"].as_str().unwrap().to_owned()));
    }
    stop.store(true, Ordering::Relaxed);
    load.join().unwrap();
    server.stop();
    // And each opens on its own, verifies from genesis, replays, and is a prefix of the source
    let source = Reader::open(&work.db, Arc::new(SystemClock)).unwrap();
    assert!(heads.windows(2).all(|w| w[0].1 != w[1].1), "the load did not move the head between backups");
    for (dir, head) in &heads {
        let head = Head::parse(head).unwrap();
        let copy = Reader::open(dir, Arc::new(SystemClock)).unwrap();
        assert_eq!(copy.verify(1, Some(head)).unwrap().head, head, "{}", dir.display());
        assert!(copy.replay().unwrap().mismatches.is_empty(), "{}", dir.display());
        source.verify(head.seq, Some(head)).unwrap();
    }
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn the_ticker_expires_a_due_hold_without_anyone_ticking_and_adds_nothing_when_nothing_is_due() {
    // Given a server with tick_seconds = 1 and a hold made at a business time whose expiry has
    // passed on the server's clock (30 minutes after 2026-03-02 09:00)
    let (work, root) = workspace();
    let mut server = work.start();
    let office = Client::new(&server.url, Some(BACK_OFFICE));
    let operator = Client::new(&server.url, Some(OPERATOR));
    let settings = json!({ "type": "change_protections", "id": id(1), "at": at(1), "effective_from": at(1),
                           "settings": { "large_transaction_threshold": "5000" } });
    assert_eq!(operator.post("/v1/commands", &settings.to_string()).unwrap().body["status"], "accepted");
    let commands = [
        json!({ "type": "open_account", "id": id(2), "at": at(2), "account": 10, "customer": 7, "class": "I",
                "verified_in_person": true }),
        json!({ "type": "cash_deposit", "id": id(3), "at": at(3), "account": 10, "amount": "10000" }),
        json!({ "type": "outbound_transfer", "id": id(4), "at": at(4), "from": 10,
                "counterparty": "ICBC-6222-0200-3333", "amount": "8000" }),
    ];
    for command in commands {
        let reply = office.post("/v1/commands", &command.to_string()).unwrap();
        assert_eq!(reply.body["status"], "accepted", "{reply:?}");
    }
    // When no one sends anything (up to 60 s)
    let started = std::time::Instant::now();
    let mut pending = usize::MAX;
    while started.elapsed() < std::time::Duration::from_secs(60) {
        pending = office.get("/v1/pending").unwrap().body["pending"].as_array().unwrap().len();
        if pending == 0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    // Then the ticker expired the hold: its funds are released
    assert_eq!(pending, 0, "the hold was never expired by the ticker");
    let balance = office.get("/v1/accounts/10/balance").unwrap();
    assert_eq!((balance.body["balance"].as_str(), balance.body["reserved"].as_str()), (Some("10000.00"), Some("0.00")));
    // And with nothing due the ticker appends nothing (3 of its periods)
    let head = office.head_seq();
    std::thread::sleep(std::time::Duration::from_secs(3));
    assert_eq!(office.head_seq(), head, "the ticker appended with nothing due");
    server.stop();
    std::fs::remove_dir_all(&root).unwrap();
}
