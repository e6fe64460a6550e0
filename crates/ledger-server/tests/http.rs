//! ledger-server over real HTTP on loopback: every endpoint, the role matrix, and refused input
//! (each with the documented status and error code, and nothing appended).
#![expect(clippy::unwrap_used, clippy::panic, reason = "tests")]

mod common;

use common::{AUDITOR, BACK_OFFICE, Client, OPERATOR, Workspace, at, id};
use serde_json::{Value, json};

fn open(n: u64, account: u64, customer: u64, class: &str, binding: Option<u64>) -> String {
    let binding = binding.map_or(Value::Null, |b| json!({ "account": b }));
    json!({ "type": "open_account", "id": id(n), "at": at(n), "account": account, "customer": customer,
            "class": class, "binding": binding, "verified_in_person": class == "I" })
    .to_string()
}

fn payment(n: u64, from: u64, amount: &str) -> String {
    json!({ "type": "payment", "id": id(n), "at": at(n), "from": from, "merchant": "Metro", "amount": amount })
        .to_string()
}

#[test]
fn every_endpoint_answers_and_a_dry_run_never_appends() {
    let work = Workspace::new("");
    let mut server = work.start();
    let office = Client::new(&server.url, Some(BACK_OFFICE));
    let operator = Client::new(&server.url, Some(OPERATOR));
    let auditor = Client::new(&server.url, Some(AUDITOR));

    // Commands: one at a time and as a JSON Lines batch.
    for (n, body) in [(1, open(1, 10, 7, "I", None)), (2, open(2, 11, 7, "II", Some(10)))] {
        let reply = office.post("/v1/commands", &body).unwrap();
        assert_eq!((reply.status, reply.body["status"].as_str()), (200, Some("accepted")), "{n}: {reply:?}");
    }
    let jsonl = format!(
        "{}\n\n{}\n",
        json!({ "type": "cash_deposit", "id": id(3), "at": at(3), "account": 10, "amount": "50000" }),
        json!({ "type": "internal_transfer", "id": id(4), "at": at(4), "from": 10, "to": 11, "amount": "20000.00" })
    );
    let batch = office.post_bytes("/v1/batches", jsonl.as_bytes()).unwrap();
    assert_eq!(batch.status, 200, "{batch:?}");
    let results = batch.body["results"].as_array().unwrap();
    assert_eq!(results.iter().map(|r| r["seq"].as_u64().unwrap()).collect::<Vec<_>>(), [4, 5]);
    // Each answer names its command: its id, and in JSON Lines its line (blank lines counted).
    let named: Vec<(Value, Value)> = results.iter().map(|r| (r["id"].clone(), r["line"].clone())).collect();
    assert_eq!(named, [(json!(id(3)), json!(1)), (json!(id(4)), json!(3))], "{batch:?}");
    assert!(results.iter().all(|r| r["event"].is_object()), "the full form keeps the event");
    let array = format!("[{}, {}]", payment(5, 11, "4000"), payment(6, 11, "4000"));
    let batch = office.post("/v1/batches?brief=true", &array).unwrap();
    assert_eq!(batch.body["results"][1]["status"], "accepted", "{batch:?}");
    let named: Vec<(Value, Value)> =
        batch.body["results"].as_array().unwrap().iter().map(|r| (r["id"].clone(), r["line"].clone())).collect();
    assert_eq!(named, [(json!(id(5)), Value::Null), (json!(id(6)), Value::Null)], "brief, an array: {batch:?}");
    assert!(batch.body["results"][0].get("event").is_none(), "brief");

    // A dry run answers what a submission would, and appends nothing; the submission agrees.
    let over = payment(7, 11, "2000.01");
    let head = auditor.head_seq();
    let dry = office.post("/v1/check", &over).unwrap();
    assert_eq!(dry.status, 200);
    assert_eq!((dry.body["dry_run"].as_bool(), dry.body["status"].as_str()), (Some(true), Some("rejected")));
    assert_eq!(dry.body["reason"], "LIMIT_EXCEEDED");
    assert_eq!(auditor.head_seq(), head, "a dry run appends nothing");
    let real = office.post("/v1/commands", &over).unwrap();
    assert_eq!(real.status, 200, "a rejection is an answer");
    for key in ["status", "seq", "reason", "detail", "rule", "event"] {
        assert_eq!(real.body[key], dry.body[key], "{key}: the dry run and the submission agree");
    }
    let detail = real.body["detail"].as_str().unwrap();
    assert!(detail.contains("cap 10000.00") && detail.contains("used 8000.00"), "figures: {detail}");
    assert!(detail.ends_with("; rule: pboc-2018 (银发〔2018〕16号)"), "the rule cited: {detail}");
    assert_eq!(real.body["rule"], "pboc-2018 (银发〔2018〕16号)");
    let fits = payment(8, 11, "2000.00");
    assert_eq!(office.post("/v1/check", &fits).unwrap().body["status"], "accepted");
    assert_eq!(auditor.head_seq(), head + 1);

    // A retry gets the first answer; a reused id for another request is 409 ID_CONFLICT.
    let retry = office.post("/v1/commands", &over).unwrap();
    assert_eq!(
        (retry.status, retry.body["status"].as_str(), retry.body["seq"].as_u64()),
        (200, Some("duplicate"), real.body["seq"].as_u64())
    );
    let conflict = office.post("/v1/commands", &payment(7, 11, "1.00")).unwrap();
    assert_eq!((conflict.status, conflict.body["reason"].as_str()), (409, Some("ID_CONFLICT")));
    assert_eq!(auditor.head_seq(), head + 1, "a retry and a conflict append nothing");

    // Operator commands.
    let listed = json!({ "type": "list_risk", "id": id(9), "at": at(9), "counterparty": "6217-FRAUD", "reason": "fraud", "source": "test" });
    assert_eq!(operator.post("/v1/commands", &listed.to_string()).unwrap().body["status"], "accepted");
    let tick = json!({ "type": "tick", "id": id(10), "at": at(10) });
    assert_eq!(operator.post("/v1/commands", &tick.to_string()).unwrap().body["status"], "accepted");

    // Queries.
    let balance = office.get("/v1/accounts/11/balance").unwrap();
    assert_eq!((balance.body["balance"].as_str(), balance.body["class"].as_str()), (Some("12000.00"), Some("II")));
    let usage = auditor.get(&format!("/v1/accounts/11/usage?at={}", at(11).replace('+', "%2B"))).unwrap();
    // Before the account opened: a 404 that says so (not "does not exist" of an account that does).
    let before = auditor.get("/v1/accounts/11/usage?at=2000-01-01T00:00:00%2B08:00").unwrap();
    assert_eq!(before.status, 404);
    assert!(before.body["detail"].as_str().unwrap().contains("opened later"), "{}", before.body);
    let out = usage.body["buckets"].as_array().unwrap().iter().find(|b| b["bucket"] == "out").unwrap().clone();
    assert_eq!(
        (out["day_used"].as_str(), out["day_remaining"].as_str()),
        (Some("8000.00"), Some("2000.00")),
        "{usage:?}"
    );
    let page = office.get("/v1/accounts/11/history?limit=2").unwrap();
    assert_eq!(page.body["entries"].as_array().unwrap().len(), 2);
    let after = page.body["next_after"].as_u64().unwrap();
    let rest = office.get(&format!("/v1/accounts/11/history?after={after}&limit=100")).unwrap();
    assert!(rest.body["next_after"].is_null());
    assert!(rest.body["entries"][0]["seq"].as_u64().unwrap() > after);
    let accounts = office.get("/v1/customers/7/accounts").unwrap();
    assert_eq!(accounts.body["accounts"].as_array().unwrap().len(), 2);
    // Per class, the open accounts against the count caps of the policy in force (pboc-2018).
    assert_eq!(accounts.body["policy"], "pboc-2018", "{accounts:?}");
    assert_eq!(
        accounts.body["caps"],
        json!([{ "class": "I", "open": 1, "max_open": 1 }, { "class": "II", "open": 1, "max_open": 5 },
               { "class": "III", "open": 0, "max_open": 5 }]),
        "{accounts:?}"
    );
    let protections = office.get("/v1/accounts/10/protections").unwrap();
    assert_eq!(protections.body["balance"], "30000.00", "{protections:?}");
    assert_eq!(office.get("/v1/pending").unwrap().body["pending"], json!([]));
    let risk = office.get("/v1/risk-list/6217-FRAUD").unwrap();
    assert_eq!((risk.body["listed"].as_bool(), risk.body["listed_seq"].as_u64()), (Some(true), Some(head + 2)));
    assert_eq!(office.get("/v1/risk-list/clean").unwrap().body["listed"], false);
    let missing = office.get("/v1/accounts/999/balance").unwrap();
    assert_eq!((missing.status, missing.body["error"].as_str()), (404, Some("not_found")));
    let head = auditor.get("/v1/head").unwrap().body;
    assert_eq!(head["head"], format!("{}:{}", head["seq"], head["hash"].as_str().unwrap()));

    // Change data capture: pages in order, linked, ending at the head.
    let events = auditor.get("/v1/events?after=0&limit=3").unwrap();
    assert_eq!(events.body["records"].as_array().unwrap().len(), 3);
    assert_eq!(events.body["next_after"], 3);
    let tail = auditor.get("/v1/events?after=3&limit=1000").unwrap();
    let records = tail.body["records"].as_array().unwrap();
    assert_eq!(records[0]["prev_hash"], events.body["records"][2]["hash"]);
    assert_eq!(records.last().unwrap()["hash"], head["hash"]);
    let waited = std::time::Instant::now();
    let idle = auditor.get(&format!("/v1/events?after={}&wait=1", head["seq"])).unwrap();
    assert_eq!((idle.status, idle.body["records"].as_array().unwrap().len()), (200, 0));
    assert!(waited.elapsed() >= std::time::Duration::from_millis(900), "long poll waited");
    let ahead = auditor.get(&format!("/v1/events?after={}", head["seq"].as_u64().unwrap() + 5)).unwrap();
    assert_eq!((ahead.status, ahead.body["error"].as_str()), (409, Some("ahead_of_head")));
    // Past the head with a wait: the 409 comes at once, not after the wait (an outsider's case:
    // it took the full wait). The bound is a fifth of the wait, far above any answer's time.
    let asked = std::time::Instant::now();
    let ahead =
        auditor.get(&format!("/v1/events?after={}&wait=20", head["seq"].as_u64().unwrap() + 1_000_000)).unwrap();
    assert_eq!((ahead.status, ahead.body["error"].as_str()), (409, Some("ahead_of_head")));
    assert!(asked.elapsed() < std::time::Duration::from_secs(4), "a 409 waited {:?}", asked.elapsed());

    // Operations.
    assert_eq!(office.get("/healthz").unwrap().status, 200);
    assert_eq!(office.get("/readyz").unwrap().body["status"], "ready");
    let (status, metrics) = office.get_text("/metrics");
    assert_eq!(status, 200);
    for needle in [
        "ledger_commands_total{kind=\"payment\",outcome=\"rejected\"} 1",
        "ledger_commands_total{kind=\"payment\",outcome=\"conflict\"} 1",
        "ledger_write_seconds_count",
        "ledger_commit_seconds_bucket",
        "ledger_batch_commands_count",
        "ledger_queue_commands 0",
        &format!("ledger_head_seq {}", head["seq"]),
    ] {
        assert!(metrics.contains(needle), "metrics lack {needle:?}:\n{metrics}");
    }
    let (status, served) = office.get_text("/v1/openapi.json");
    assert_eq!((status, served), (200, ledger_server::openapi::json()));

    let (code, stderr) = server.stop();
    assert_eq!(code, Some(0), "a clean stop on SIGTERM: {stderr}");
    let reader = ledger_store::Reader::open(&work.db, std::sync::Arc::new(ledger_store::SystemClock)).unwrap();
    assert_eq!(reader.head().unwrap().to_text(), head["head"].as_str().unwrap());
    assert!(reader.replay().unwrap().mismatches.is_empty());
}

#[test]
fn the_role_matrix() {
    let work = Workspace::new("");
    let server = work.start();
    let setup = Client::new(&server.url, Some(OPERATOR));
    assert_eq!(setup.post("/v1/commands", &open(1, 10, 7, "I", None)).unwrap().status, 200);
    let mut n = 100;
    let mut fresh = |kind: &str| {
        n += 1;
        match kind {
            "submit" => {
                json!({ "type": "cash_deposit", "id": id(n), "at": at(n), "account": 10, "amount": "1" }).to_string()
            }
            _ => json!({ "type": "tick", "id": id(n), "at": at(n) }).to_string(),
        }
    };
    // (token, [submit, operate, batch, check, query, events]) → the status each class gets.
    let table: [(Option<&str>, [u16; 6]); 5] = [
        (Some(BACK_OFFICE), [200, 403, 200, 200, 200, 403]),
        (Some(OPERATOR), [200, 200, 200, 200, 200, 403]),
        (Some(AUDITOR), [403, 403, 403, 403, 200, 200]),
        (None, [401; 6]),
        (Some("not-a-token"), [401; 6]),
    ];
    let watcher = Client::new(&server.url, Some(AUDITOR));
    for (token, expected) in table {
        let client = Client::new(&server.url, token);
        let before = watcher.head_seq();
        let got = [
            client.post("/v1/commands", &fresh("submit")).unwrap(),
            client.post("/v1/commands", &fresh("operate")).unwrap(),
            client.post("/v1/batches", &format!("[{}]", fresh("submit"))).unwrap(),
            client.post("/v1/check", &fresh("submit")).unwrap(),
            client.get("/v1/accounts/10/balance").unwrap(),
            client.get("/v1/events?after=0&limit=1").unwrap(),
        ];
        let statuses: Vec<u16> = got.iter().map(|reply| reply.status).collect();
        assert_eq!(statuses, expected, "token {token:?}");
        for reply in got.iter().filter(|reply| reply.status >= 400) {
            let code = if reply.status == 401 { "unauthorized" } else { "forbidden" };
            assert_eq!(reply.body["error"], code, "{reply:?}");
        }
        let appended = expected[..3].iter().filter(|status| **status == 200).count() as u64;
        assert_eq!(watcher.head_seq(), before + appended, "token {token:?}: only allowed commands appended");
    }
    // A batch holding one command the role may not send is refused whole.
    let office = Client::new(&server.url, Some(BACK_OFFICE));
    let before = watcher.head_seq();
    let mixed = office.post("/v1/batches", &format!("[{}, {}]", fresh("submit"), fresh("operate"))).unwrap();
    assert_eq!(mixed.status, 403);
    assert_eq!(watcher.head_seq(), before);
}

#[test]
fn refused_input_gets_the_documented_status_and_appends_nothing() {
    let work = Workspace::new("[limits]\nbody_bytes_max = 4096\nbatch_len_max = 3\nqueue_commands_max = 100\n");
    let server = work.start();
    let office = Client::new(&server.url, Some(BACK_OFFICE));
    let head = office.head_seq();
    let deposit = |n: u64| json!({ "type": "cash_deposit", "id": id(n), "at": at(n), "account": 10, "amount": "1" });
    let big = format!(
        "{{\"type\":\"payment\",\"id\":\"{}\",\"from\":1,\"merchant\":\"{}\",\"amount\":\"1\"}}",
        id(1),
        "x".repeat(5000)
    );
    let four = format!("[{}]", (1..=4).map(|n| deposit(n).to_string()).collect::<Vec<_>>().join(","));
    // (what, path, body, status, error code, words the detail must hold)
    type Row<'a> = (&'a str, &'a str, Vec<u8>, u16, &'a str, &'a str);
    let table: Vec<Row> = vec![
        ("not JSON", "/v1/commands", b"{\"type\": ".to_vec(), 400, "malformed", "EOF"),
        (
            "unknown field",
            "/v1/commands",
            br#"{"type":"tick","id":"00000000-0000-4000-8000-000000000001","colour":1}"#.to_vec(),
            400,
            "malformed",
            "unknown field `colour`",
        ),
        (
            "wrong type",
            "/v1/commands",
            format!(r#"{{"type":"cash_deposit","id":"{}","account":"ten","amount":"1"}}"#, id(2)).into_bytes(),
            400,
            "malformed",
            "invalid type",
        ),
        (
            "float amount",
            "/v1/commands",
            format!(r#"{{"type":"cash_deposit","id":"{}","account":10,"amount":1.5}}"#, id(3)).into_bytes(),
            400,
            "malformed",
            "amount",
        ),
        (
            "unknown type",
            "/v1/commands",
            br#"{"type":"mint","id":"00000000-0000-4000-8000-000000000001"}"#.to_vec(),
            400,
            "malformed",
            "unknown variant `mint`",
        ),
        ("not UTF-8", "/v1/commands", vec![0xff, 0xfe, b'{'], 400, "malformed", "UTF-8"),
        ("oversized body", "/v1/commands", big.into_bytes(), 413, "too_large", ""),
        ("batch too long", "/v1/batches", four.into_bytes(), 400, "batch_too_long", "at most 3"),
        ("empty batch", "/v1/batches", b"[]".to_vec(), 400, "malformed", "no command"),
        (
            "one bad line",
            "/v1/batches",
            format!("{}\n{{\"type\":\"tick\"}}\n", deposit(5)).into_bytes(),
            400,
            "malformed",
            "line 2",
        ),
        (
            "one bad element",
            "/v1/batches",
            format!("[{}, 7]", deposit(6)).into_bytes(),
            400,
            "malformed",
            "command [1]",
        ),
    ];
    for (what, path, body, status, code, words) in table {
        let reply = office.post_bytes(path, &body).unwrap();
        assert_eq!((reply.status, reply.body["error"].as_str()), (status, Some(code)), "{what}: {reply:?}");
        assert!(reply.body["detail"].as_str().unwrap().contains(words), "{what}: {reply:?}");
        assert_eq!(office.head_seq(), head, "{what}: nothing appended");
    }
    for (what, path, status) in [
        ("bad account", "/v1/accounts/ten/balance", 400),
        ("bad time", "/v1/accounts/10/usage?at=yesterday", 400),
        ("unknown parameter", "/v1/pending?acount=10", 400),
        ("history limit", "/v1/accounts/10/history?limit=0", 400),
        ("no such route", "/v2/commands", 404),
    ] {
        let reply = office.get(path).unwrap();
        assert_eq!(reply.status, status, "{what}: {reply:?}");
        assert!(reply.body["error"].is_string(), "{what}: JSON error body: {reply:?}");
    }
    let auditor = Client::new(&server.url, Some(AUDITOR));
    assert_eq!(auditor.get("/v1/events?after=0&limit=0").unwrap().status, 400);
    assert_eq!(auditor.get("/v1/events?after=0&limit=10001").unwrap().status, 400);
}

/// Given a command naming a key twice (at the top or nested), when it comes through any door
/// (one command, a dry run, a batch array, JSON Lines), then it is a 400 and nothing is
/// appended: the second value is never posted. A refused batch element is named by `index`
/// (from 0) and, in JSON Lines, `line`, with the one-command wording.
#[test]
fn a_key_named_twice_is_refused_by_every_door_and_the_refused_element_is_named() {
    let work = Workspace::new("");
    let server = work.start();
    let office = Client::new(&server.url, Some(BACK_OFFICE));
    let head = office.head_seq();
    let twice = format!(
        r#"{{"type":"payment","id":"{}","at":"{}","from":1,"merchant":"M","amount":"1.00","amount":"9000.00"}}"#,
        id(1),
        at(1)
    );
    let nested = format!(
        r#"{{"type":"set_night_lock","id":"{}","account":1,"window":{{"start":"23:00","end":"06:00","end":"07:00"}}}}"#,
        id(2)
    );
    let deposit = json!({ "type": "cash_deposit", "id": id(3), "at": at(3), "account": 10, "amount": "1" });
    let negative = json!({ "type": "cash_deposit", "id": id(4), "at": at(4), "account": 10, "amount": "-1" });
    let single = office.post("/v1/commands", &negative.to_string()).unwrap();
    let single = single.body["detail"].as_str().unwrap().to_owned();
    assert!(single.starts_with("malformed command: "), "{single}");
    // (what, path, body, index, line, the detail starts with)
    type Row<'a> = (&'a str, &'a str, String, Option<u64>, Option<u64>, String);
    let table: Vec<Row> = vec![
        ("one command", "/v1/commands", twice.clone(), None, None, "malformed command: duplicate field".into()),
        ("dry run", "/v1/check", twice.clone(), None, None, "malformed command: duplicate field".into()),
        (
            "array",
            "/v1/batches",
            format!("[{deposit}, {twice}]"),
            Some(1),
            None,
            "command [1]: malformed command: duplicate field".into(),
        ),
        (
            "JSON Lines",
            "/v1/batches",
            format!("{deposit}\n\n{twice}\n"),
            Some(1),
            Some(3),
            "command [1] (line 3): malformed command: duplicate field".into(),
        ),
        (
            "nested, array",
            "/v1/batches",
            format!("[{nested}]"),
            Some(0),
            None,
            "command [0]: malformed command: duplicate field".into(),
        ),
        (
            "array, one wording",
            "/v1/batches",
            format!("[{deposit}, {negative}]"),
            Some(1),
            None,
            format!("command [1]: {single}"),
        ),
        (
            "JSON Lines, one wording",
            "/v1/batches",
            format!("\n{deposit}\n{negative}"),
            Some(1),
            Some(3),
            format!("command [1] (line 3): {single}"),
        ),
    ];
    for (what, path, body, index, line, words) in table {
        let reply = office.post(path, &body).unwrap();
        assert_eq!((reply.status, reply.body["error"].as_str()), (400, Some("malformed")), "{what}: {reply:?}");
        assert!(reply.body["detail"].as_str().unwrap().starts_with(&words), "{what}: {reply:?}");
        assert_eq!((reply.body["index"].as_u64(), reply.body["line"].as_u64()), (index, line), "{what}: {reply:?}");
        assert_eq!(office.head_seq(), head, "{what}: nothing appended");
    }
}

/// Every authenticated answer (accepted, refused for its token, not found) carries
/// `Cache-Control: no-store`, so balances and holds stay out of browser and proxy caches.
#[test]
fn authenticated_answers_are_not_stored_by_caches() {
    let workspace = Workspace::new("");
    let mut server = workspace.start();
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    // (method, path, token, body, status)
    let table: [(&str, &str, Option<&str>, &str, u16); 6] = [
        ("GET", "/v1/whoami", Some(OPERATOR), "", 200),
        ("GET", "/v1/whoami", None, "", 401),
        ("GET", "/v1/pending", Some(AUDITOR), "", 200),
        ("GET", "/v1/accounts/999/balance", Some(AUDITOR), "", 404),
        ("GET", "/v1/events", Some(OPERATOR), "", 403),
        (
            "POST",
            "/v1/check",
            Some(BACK_OFFICE),
            r#"{"type":"cash_deposit","id":"5d7e0c1a-0000-4000-8000-000000000001","account":9,"amount":"1.00"}"#,
            200,
        ),
    ];
    for (method, path, token, body, status) in table {
        let url = format!("{}{path}", server.url);
        let auth = token.map(|token| format!("Bearer {token}")).unwrap_or_default();
        let response = if method == "GET" {
            agent.get(&url).header("Authorization", &auth).call()
        } else {
            agent.post(&url).header("Authorization", &auth).header("Content-Type", "application/json").send(body)
        }
        .unwrap();
        assert_eq!(response.status().as_u16(), status, "{method} {path}");
        let cache = response.headers().get("cache-control").and_then(|v| v.to_str().ok()).unwrap_or("");
        assert_eq!(cache, "no-store", "{method} {path} ({status})");
    }
    server.stop();
}

/// A fresh server's `/metrics` already lists every rejection reason and every command kind and
/// outcome at 0, so a restart does not make a dashboard's or an alert's series vanish.
#[test]
fn a_fresh_server_exports_every_reason_and_kind_counter_at_zero() {
    let workspace = Workspace::new("");
    let mut server = workspace.start();
    let (status, metrics) = Client::new(&server.url, None).get_text("/metrics");
    assert_eq!(status, 200);
    let mut wanted: Vec<String> = ledger_core::RejectReason::CODES
        .iter()
        .map(|reason| format!("ledger_rejections_total{{reason=\"{reason}\"}} 0"))
        .collect();
    for kind in ledger_core::CommandBody::KINDS {
        for outcome in ledger_server::metrics::OUTCOMES {
            wanted.push(format!("ledger_commands_total{{kind=\"{kind}\",outcome=\"{outcome}\"}} 0"));
        }
    }
    wanted.push("ledger_commands_total{kind=\"unknown\",outcome=\"malformed\"} 0".to_owned());
    let absent: Vec<&String> = wanted.iter().filter(|line| !metrics.lines().any(|l| l == line.as_str())).collect();
    assert!(absent.is_empty(), "absent from a fresh server's /metrics: {absent:?}");
    println!("a fresh server exports {} reason and kind/outcome series at 0", wanted.len());
    server.stop();
}

/// `GET /v1/stats/recent`: after commands and a rejection, the last hour counts them by
/// minute (oldest first, one entry a minute); `minutes` is 1 to 60.
#[test]
fn the_last_hour_by_minute_counts_commits_and_rejections() {
    let workspace = Workspace::new("");
    let mut server = workspace.start();
    let office = Client::new(&server.url, Some(BACK_OFFICE));
    let auditor = Client::new(&server.url, Some(AUDITOR));
    // given: two accounts, and a payment from the empty one (rejected).
    for body in [open(1, 10, 7, "I", None), open(2, 11, 7, "II", Some(10))] {
        assert_eq!(office.post("/v1/commands", &body).unwrap().body["status"], "accepted");
    }
    let refused = office.post("/v1/commands", &payment(3, 11, "1.00")).unwrap();
    assert_eq!(refused.body["status"], "rejected", "{refused:?}");
    let reason = refused.body["reason"].as_str().unwrap().to_owned();
    // when (a batch is counted once its report comes, just after its answer: on a loaded
    // machine the last one may come a moment after the answer was read; asked again until
    // counted, within a bound)
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let recent = loop {
        let recent = auditor.get("/v1/stats/recent").unwrap();
        let counted: u64 = recent.body["minutes"]
            .as_array()
            .map_or(0, |minutes| minutes.iter().filter_map(|m| m["commands"].as_u64()).sum());
        if counted >= 3 || recent.status != 200 || std::time::Instant::now() > deadline {
            break recent;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    // then: 60 minutes, oldest first; the commands and the rejection counted (in one minute, or
    // two when a minute turned meanwhile).
    assert_eq!(recent.status, 200, "{recent:?}");
    let minutes = recent.body["minutes"].as_array().unwrap();
    assert_eq!(minutes.len(), 60);
    let starts: Vec<&str> = minutes.iter().map(|m| m["start"].as_str().unwrap()).collect();
    assert!(starts.windows(2).all(|pair| pair[0] < pair[1]), "oldest first: {starts:?}");
    let total = |key: &str| minutes.iter().map(|m| m[key].as_u64().unwrap()).sum::<u64>();
    assert_eq!(total("commands"), 3, "{recent:?}");
    assert!(minutes.iter().any(|m| m["commands"].as_u64().unwrap() > 0 && m["p99_seconds"].as_f64().unwrap() > 0.0));
    let rejected: u64 = minutes.iter().filter_map(|m| m["rejections"][&reason].as_u64()).sum();
    assert_eq!(rejected, 1, "{reason}: {recent:?}");
    println!("last minute: {}", minutes[59]);
    // and: `minutes` asks for fewer; outside 1..=60 or unknown parameters are 400.
    let table = [
        ("/v1/stats/recent?minutes=5", 200, Some(5)),
        ("/v1/stats/recent?minutes=60", 200, Some(60)),
        ("/v1/stats/recent?minutes=61", 400, None),
        ("/v1/stats/recent?minutes=0", 400, None),
        ("/v1/stats/recent?minutes=x", 400, None),
        ("/v1/stats/recent?hours=1", 400, None),
    ];
    for (path, status, count) in table {
        let reply = auditor.get(path).unwrap();
        assert_eq!(reply.status, status, "{path}: {reply:?}");
        assert_eq!(reply.body["minutes"].as_array().map(Vec::len), count, "{path}");
        if status == 400 {
            assert_eq!(reply.body["error"], "malformed", "{path}");
        }
    }
    server.stop();
}
