//! The OpenAPI description: docs/openapi.json is the one the code generates, a real validator
//! (openapi-spec-validator, installed by scripts/setup) finds it valid OpenAPI 3.1, every
//! operation answers each class of refusal with a status it declares (the harness's client
//! checks every answer any test sees), and a client generated from it (openapi-python-client)
//! drives a business day.
#![expect(clippy::unwrap_used, clippy::panic, reason = "tests")]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use common::{AUDITOR, BACK_OFFICE, Client, OPERATOR, Workspace, declared};
use serde_json::{Value, json};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn docs_openapi_json_matches_the_code() {
    let checked_in = std::fs::read_to_string(root().join("docs/openapi.json")).unwrap_or_default();
    let generated = ledger_server::openapi::json();
    assert!(
        checked_in == generated,
        "docs/openapi.json differs from the code; regenerate it with\n  \
         cargo run -p ledger-server -- openapi > docs/openapi.json"
    );
    let doc: Value = serde_json::from_str(&generated).unwrap();
    assert_eq!(doc["openapi"].as_str().map(|v| &v[..4]), Some("3.1."));
    for path in ["/v1/commands", "/v1/batches", "/v1/check", "/v1/events", "/v1/head", "/metrics", "/readyz"] {
        assert!(doc["paths"][path].is_object(), "{path} is described");
    }
}

/// openapi-spec-validator on `file` as OpenAPI 3.1: (passed, what it printed).
fn validate(file: &Path) -> (bool, String) {
    let output = Command::new("python3")
        .args(["-m", "openapi_spec_validator", "--schema", "3.1", "--validation-errors", "all"])
        .arg(file)
        .output()
        .unwrap_or_else(|err| panic!("python3 is needed for this test (scripts/setup): {err}"));
    let printed = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(!printed.contains("No module named"), "scripts/setup installs openapi-spec-validator: {printed}");
    (output.status.success(), printed)
}

#[test]
fn the_document_is_valid_openapi_3_1() {
    let (valid, printed) = validate(&root().join("docs/openapi.json"));
    assert!(valid && printed.trim_end().ends_with(": OK"), "openapi-spec-validator:\n{printed}");

    // The validator is no rubber stamp: a query parameter declared in the path, as the
    // generator once did, is refused.
    let mut broken: Value = serde_json::from_str(&ledger_server::openapi::json()).unwrap();
    let parameter = &mut broken["paths"]["/v1/events"]["get"]["parameters"][0];
    assert_eq!(parameter["name"], "after");
    parameter["in"] = json!("path");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("broken.json");
    std::fs::write(&file, broken.to_string()).unwrap();
    let (valid, printed) = validate(&file);
    assert!(!valid && printed.contains("Path parameter 'after'"), "openapi-spec-validator:\n{printed}");
}

#[test]
fn the_status_check_refuses_what_the_document_does_not_declare() {
    // (method, path, status, content type) → refused?
    let table: [(&str, &str, u16, Option<&str>, bool); 12] = [
        ("GET", "/v1/accounts/10/balance", 200, Some("application/json"), false),
        ("GET", "/v1/accounts/ten/balance?x=1", 400, Some("application/json"), false),
        ("GET", "/v1/accounts/10/balance", 409, Some("application/json"), true),
        ("GET", "/v1/accounts/10/balance", 200, Some("text/html"), true),
        ("GET", "/metrics", 200, Some("application/openmetrics-text; version=1.0.0; charset=utf-8"), false),
        ("GET", "/metrics", 200, Some("text/plain; version=0.0.4; charset=utf-8"), false),
        ("GET", "/metrics", 200, Some("application/json"), true),
        ("GET", "/console", 200, Some("text/html; charset=utf-8"), false),
        ("GET", "/console", 200, Some("application/json"), true),
        ("GET", "/v2/commands", 404, Some("application/json"), false),
        ("DELETE", "/v1/commands", 405, None, false),
        ("DELETE", "/v1/commands", 200, None, true),
    ];
    for (method, path, status, content_type, refused) in table {
        let problem = declared::undeclared(method, path, status, content_type);
        assert_eq!(problem.is_some(), refused, "{method} {path} {status} {content_type:?}: {problem:?}");
    }
}

#[test]
fn every_operation_answers_each_refusal_with_a_status_it_declares() {
    let work = Workspace::new("[limits]\nbody_bytes_max = 4096\n");
    let server = work.start();
    let office = Client::new(&server.url, Some(BACK_OFFICE));
    let open = json!({ "type": "open_account", "id": common::id(1), "at": common::at(1), "account": 10,
        "customer": 7, "class": "I", "binding": null, "verified_in_person": true });
    assert_eq!(office.post("/v1/commands", &open.to_string()).unwrap().status, 200);
    let deposit = json!({ "type": "cash_deposit", "id": common::id(2), "at": common::at(2), "account": 10,
        "amount": "1" })
    .to_string();
    let big = format!("{{\"type\":\"tick\",\"id\":\"{}\",\"pad\":\"{}\"}}", common::id(3), "x".repeat(5000));
    let gets = [
        "/v1/head",
        "/v1/accounts/10/balance",
        "/v1/accounts/10/usage",
        "/v1/accounts/10/history",
        "/v1/accounts/10/protections",
        "/v1/customers/7/accounts",
        "/v1/pending",
        "/v1/risk-list/6217-FRAUD",
        "/v1/events?after=0",
        "/v1/proofs/inclusion/1",
        "/v1/proofs/consistency?from=1&to=2",
        "/v1/stats/recent",
    ];
    let posts = ["/v1/commands", "/v1/batches", "/v1/check"];
    // (who, method, path, body, status): each answer is also checked as declared by the client.
    let mut table: Vec<(Option<&str>, &str, &str, String, u16)> = Vec::new();
    for path in gets {
        table.push((None, "GET", path, String::new(), 401));
        table.push((Some("not-a-token"), "GET", path, String::new(), 401));
        let who = if path.starts_with("/v1/events") { AUDITOR } else { BACK_OFFICE };
        table.push((Some(who), "GET", path, String::new(), 200));
    }
    for path in posts {
        let body = if path == "/v1/batches" { format!("[{deposit}]") } else { deposit.clone() };
        table.push((None, "POST", path, body.clone(), 401));
        table.push((Some(AUDITOR), "POST", path, body, 403));
        table.push((Some(BACK_OFFICE), "POST", path, big.clone(), 413));
        table.push((Some(BACK_OFFICE), "POST", path, "{\"type\":".into(), 400));
    }
    for (path, status) in [
        ("/v1/events?after=0", 403),
        ("/v1/accounts/ten/balance", 400),
        ("/v1/accounts/10/usage?at=yesterday", 400),
        ("/v1/accounts/10/history?limit=0", 400),
        ("/v1/accounts/ten/protections", 400),
        ("/v1/customers/seven/accounts", 400),
        ("/v1/pending?acount=10", 400),
        ("/v1/stats/recent?minutes=61", 400),
        ("/v1/accounts/99/balance", 404),
        ("/v1/accounts/99/usage", 404),
        ("/v1/accounts/99/history", 404),
        ("/v1/accounts/99/protections", 404),
        ("/v2/commands", 404),
        ("/v1/checkpoints", 409),
        ("/v1/checkpoints?size=99", 409),
        ("/v1/proofs/inclusion/9", 400),
        ("/v1/proofs/consistency?from=2&to=1", 400),
    ] {
        table.push((Some(BACK_OFFICE), "GET", path, String::new(), status));
    }
    for (path, status) in
        [("/v1/events?after=zero", 400), ("/v1/events?after=0&limit=0", 400), ("/v1/events?after=99", 409)]
    {
        table.push((Some(AUDITOR), "GET", path, String::new(), status));
    }
    table.push((Some(OPERATOR), "POST", "/v1/commands?brief=maybe", deposit.clone(), 400));
    table.push((Some(OPERATOR), "POST", "/v1/batches?brief=maybe", format!("[{deposit}]"), 400));
    for (who, method, path, body, status) in table {
        let client = Client::new(&server.url, who);
        let reply = match method {
            "GET" => client.get(path).unwrap(),
            _ => client.post(path, &body).unwrap(),
        };
        assert_eq!(reply.status, status, "{who:?} {method} {path}: {reply:?}");
    }
}

fn generate_client(dir: &Path) -> PathBuf {
    let output = Command::new("python3")
        .args(["-m", "openapi_python_client", "generate", "--meta", "none", "--path"])
        .arg(root().join("docs/openapi.json"))
        .arg("--output-path")
        .arg(dir.join("ledger_api"))
        .output()
        .unwrap_or_else(|err| panic!("python3 is needed for this test (scripts/setup): {err}"));
    let printed = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "openapi-python-client (installed by scripts/setup):\n{printed}");
    // The one warning allowed: the generator parses no OpenMetrics text, so `get_metrics`
    // hands back the raw body. Anything else it could not generate fails the test.
    let problems: Vec<&str> = printed
        .lines()
        .filter(|line| line.starts_with("WARNING") || line.starts_with("ERROR") || line.starts_with("Cannot parse"))
        .filter(|line| {
            *line != "WARNING parsing GET /metrics within operations."
                && !line.contains("(Unsupported content_type application/openmetrics-text)")
        })
        .collect();
    assert!(problems.is_empty(), "openapi-python-client could not generate {problems:?}:\n{printed}");
    dir.join("ledger_api")
}

#[test]
fn a_generated_python_client_drives_a_business_day() {
    let work = Workspace::new("");
    let mut server = work.start();
    let package = generate_client(work.dir.path());
    assert!(package.join("api/commands/post_command.py").is_file());
    let tokens = work.dir.path().join("tokens.json");
    let known = json!({ "back-office": BACK_OFFICE, "operator": OPERATOR, "auditor": AUDITOR });
    std::fs::write(&tokens, known.to_string()).unwrap();
    let output = Command::new("python3")
        .arg(root().join("clients/python/generated_day.py"))
        .arg(work.dir.path())
        .arg(&server.url)
        .arg(&tokens)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    let summary: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(summary["ok"], true, "{summary}");
    assert_eq!(summary["reason"], "LIMIT_EXCEEDED", "{summary}");
    assert_eq!(server.stop().0, Some(0));
    let reader = ledger_store::Reader::open(&work.db, Arc::new(ledger_store::SystemClock)).unwrap();
    let head = reader.head().unwrap();
    assert_eq!(Some(head.to_text().as_str()), summary["head"].as_str(), "{summary}");
    assert_eq!(summary["followed"], head.seq, "the day's client followed every record: {summary}");
}
