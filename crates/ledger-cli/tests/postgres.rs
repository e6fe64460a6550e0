//! `ledger-cli` on a PostgreSQL ledger (a server the test starts on loopback): `migrate` copies
//! an embedded ledger into an empty database and proves the heads equal; the usual subcommands
//! then work on the URL; a database that holds a ledger is refused; a password in a URL never
//! shows in a message.

mod common;
#[path = "../../ledger-store/tests/support/mod.rs"]
mod support;

use std::path::Path;

use common::{cli, json};

#[test]
fn migrate_copies_an_embedded_ledger_into_postgresql_and_the_heads_are_equal() {
    let server = support::PgServer::start();
    let url = server.create_database("ledger");
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("ledger");
    assert_eq!(cli(&db, &["init", "--policy", "pboc-2018"]).0, 0);
    for (n, command) in [
        r#"{"type":"open_account","id":"00000000-0000-4000-8000-000000000001","account":1,"customer":1,"class":"I","verified_in_person":true}"#,
        r#"{"type":"open_account","id":"00000000-0000-4000-8000-000000000002","account":2,"customer":2,"class":"II"}"#,
        r#"{"type":"cash_deposit","id":"00000000-0000-4000-8000-000000000003","account":1,"amount":"50000.00"}"#,
        r#"{"type":"bind_account","id":"00000000-0000-4000-8000-000000000004","account":2,"bound":1}"#,
        r#"{"type":"internal_transfer","id":"00000000-0000-4000-8000-000000000005","from":1,"to":2,"amount":"12000.00"}"#,
    ]
    .iter()
    .enumerate()
    {
        let (code, out, err) = cli(&db, &["submit", command]);
        assert!(code == 0 || code == 1, "command {n}: {out}{err}");
    }
    let (_, head, _) = cli(&db, &["head"]);
    let head = head.trim().to_owned();

    let (code, out, err) = cli(&db, &["--json", "migrate", "--to", &url]);
    assert_eq!(code, 0, "{out}{err}");
    let report = json(&out);
    assert_eq!(report["ok"], true);
    assert_eq!(report["head"].as_str().unwrap(), head);

    let pg = Path::new(&url);
    assert_eq!(cli(pg, &["head"]).1.trim(), head);
    let (code, out, err) = cli(pg, &["verify", "--expect-head", &head]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(cli(pg, &["replay"]).0, 0);
    assert_eq!(cli(pg, &["--json", "balance", "2"]).1, cli(&db, &["--json", "balance", "2"]).1);

    // Again into the same database: refused, nothing changed.
    let (code, _, err) = cli(&db, &["migrate", "--to", &url]);
    assert_eq!(code, 2);
    assert!(err.contains("already holds a ledger"), "{err}");
    assert_eq!(cli(pg, &["head"]).1.trim(), head);

    // A password in a URL is never printed.
    let secret = format!("postgres://ledger:s3cret-pw@127.0.0.1:{}/nothing?connect_timeout=2", server.free_port());
    let (code, out, err) = cli(Path::new(&secret), &["head"]);
    assert_eq!(code, 2);
    assert!(!out.contains("s3cret-pw") && !err.contains("s3cret-pw"), "{out}{err}");
    assert!(err.contains("ledger:***@"), "{err}");
}
