//! Who submitted a command: every event names the token's name and role (CDC, history, answers),
//! the request log names them on every line, and a 403 says which token was refused.
#![expect(clippy::unwrap_used, clippy::panic, reason = "tests")]

mod common;

use common::{AUDITOR, BACK_OFFICE, Client, Server, Workspace};
use serde_json::{Value, json};

#[test]
fn events_logs_and_refusals_name_the_token_and_its_role() {
    let work = Workspace::new("");
    let mut server = Server::start_logging(&work.db, &work.config, "info");
    let core = Client::new(&server.url, Some(BACK_OFFICE));
    let audit = Client::new(&server.url, Some(AUDITOR));
    let open = json!({ "type": "open_account", "id": common::id(1), "account": 70, "customer": 7, "class": "I", "verified_in_person": true });
    let deposit = json!({ "type": "cash_deposit", "id": common::id(2), "account": 70, "amount": "10.00" });
    assert_eq!(core.post("/v1/batches", &Value::Array(vec![open]).to_string()).unwrap().status, 200);
    let answer = core.post("/v1/commands", &deposit.to_string()).unwrap();
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.body["event"]["principal"], json!({ "name": "core", "role": "back-office" }));

    // when the auditor tries to submit, then the 403 names its token and role
    let refused = audit.post("/v1/commands", &deposit.to_string()).unwrap();
    assert_eq!(refused.status, 403);
    let message = refused.body.to_string();
    assert!(message.contains(r#"token \"audit\" (role auditor)"#), "{message}");

    // then CDC and history name who submitted each record: genesis by the library that created
    // the ledger, the rest by the token `core`
    let events = audit.get("/v1/events?after=0&limit=10").unwrap();
    let principals: Vec<Value> =
        events.body["records"].as_array().unwrap().iter().map(|r| r["event"]["principal"].clone()).collect();
    let core_principal = json!({ "name": "core", "role": "back-office" });
    assert_eq!(
        principals,
        [json!({ "name": "library", "role": "library" }), core_principal.clone(), core_principal.clone()]
    );
    let history = core.get("/v1/accounts/70/history").unwrap();
    assert_eq!(history.body["entries"][1]["event"]["principal"], core_principal);

    // and every request's log line names its token and role (`-` without one)
    assert_eq!(Client::new(&server.url, None).get("/v1/head").unwrap().status, 401);
    let (_, log) = server.stop();
    let lines: Vec<&str> = log.lines().filter(|line| line.contains(" request ")).collect();
    let logged = |route: &str, status: u16, token: &str, role: &str| {
        lines.iter().any(|line| {
            line.contains(route)
                && line.contains(&format!("status={status}"))
                && line.contains(&format!("token=\"{token}\""))
                && line.contains(&format!("role=\"{role}\""))
        })
    };
    let table = [
        ("/v1/batches", 200, "core", "back-office"),
        ("/v1/commands", 200, "core", "back-office"),
        ("/v1/commands", 403, "audit", "auditor"),
        ("/v1/events", 200, "audit", "auditor"),
        ("/v1/head", 401, "-", "-"),
    ];
    for (route, status, token, role) in table {
        assert!(
            logged(route, status, token, role),
            "no log line {route} {status} {token} {role} in:\n{}",
            lines.join("\n")
        );
    }
}
