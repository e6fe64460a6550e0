//! Checkpoints and proofs over HTTP: who may fetch them, refused sizes, and that what the
//! server answers is what `ledger-cli check-proof` and tools/verify_proof.py accept (and a
//! tampered proof or the wrong key is refused by both).
#![expect(clippy::unwrap_used, clippy::panic, reason = "tests")]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{AUDITOR, BACK_OFFICE, Client, Server, Workspace, at, id, ledger_cli};
use serde_json::json;

/// A fixed signing key's file, as `ledger-cli keygen` writes it.
const KEY_HEX: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Given a ledger of the genesis policy, an opened account and four deposits (head 6).
fn fill(client: &Client) -> u64 {
    let open = json!({ "type": "open_account", "id": id(1), "at": at(1), "account": 10, "customer": 7,
                       "class": "I", "verified_in_person": true });
    assert_eq!(client.post("/v1/commands", &open.to_string()).unwrap().status, 200);
    for n in 2..6 {
        let deposit = json!({ "type": "cash_deposit", "id": id(n), "at": at(n), "account": 10, "amount": "5" });
        assert_eq!(client.post("/v1/commands", &deposit.to_string()).unwrap().status, 200);
    }
    client.head_seq()
}

#[test]
fn checkpoints_and_proofs_answer_with_the_documented_status() {
    let work = Workspace::new("");
    let key = work.dir.path().join("checkpoint.key");
    std::fs::write(&key, format!("{KEY_HEX}\n")).unwrap();
    // Without a key: 409 no_checkpoint_key (the proofs need none).
    let mut server = work.start();
    let head = fill(&Client::new(&server.url, Some(BACK_OFFICE)));
    assert_eq!(head, 6);
    let reply = Client::new(&server.url, Some(AUDITOR)).get("/v1/checkpoints").unwrap();
    assert_eq!((reply.status, reply.body["error"].as_str()), (409, Some("no_checkpoint_key")), "{reply:?}");
    server.stop();
    let mut server = Server::start(&work.db, &work.config, &["--checkpoint-key", key.to_str().unwrap()]);
    // (token, path, status, error code)
    let table: Vec<(Option<&str>, &str, u16, &str)> = vec![
        (None, "/v1/checkpoints", 401, "unauthorized"),
        (Some(AUDITOR), "/v1/checkpoints", 200, ""),
        (Some(BACK_OFFICE), "/v1/checkpoints", 200, ""),
        (Some(AUDITOR), "/v1/checkpoints?size=1", 200, ""),
        (Some(AUDITOR), "/v1/checkpoints?size=6", 200, ""),
        (Some(AUDITOR), "/v1/checkpoints?size=7", 400, "malformed"),
        (Some(AUDITOR), "/v1/checkpoints?size=-1", 400, "malformed"),
        (Some(AUDITOR), "/v1/checkpoints?head=1", 400, "malformed"),
        (None, "/v1/proofs/inclusion/1", 401, "unauthorized"),
        (Some(AUDITOR), "/v1/proofs/inclusion/1", 200, ""),
        (Some(AUDITOR), "/v1/proofs/inclusion/6", 200, ""),
        (Some(AUDITOR), "/v1/proofs/inclusion/3?size=3", 200, ""),
        (Some(AUDITOR), "/v1/proofs/inclusion/0", 400, "malformed"),
        (Some(AUDITOR), "/v1/proofs/inclusion/7", 400, "malformed"),
        (Some(AUDITOR), "/v1/proofs/inclusion/4?size=3", 400, "malformed"),
        (Some(AUDITOR), "/v1/proofs/inclusion/1?size=7", 400, "malformed"),
        (Some(AUDITOR), "/v1/proofs/inclusion/x", 400, "malformed"),
        (None, "/v1/proofs/consistency?from=1&to=6", 401, "unauthorized"),
        (Some(AUDITOR), "/v1/proofs/consistency?from=1&to=6", 200, ""),
        (Some(AUDITOR), "/v1/proofs/consistency?from=6&to=6", 200, ""),
        (Some(AUDITOR), "/v1/proofs/consistency?from=0&to=6", 400, "malformed"),
        (Some(AUDITOR), "/v1/proofs/consistency?from=4&to=3", 400, "malformed"),
        (Some(AUDITOR), "/v1/proofs/consistency?from=1&to=7", 400, "malformed"),
        (Some(AUDITOR), "/v1/proofs/consistency?from=1", 400, "malformed"),
    ];
    for (token, path, status, error) in table {
        let reply = Client::new(&server.url, token).get(path).unwrap();
        assert_eq!(reply.status, status, "{token:?} {path}: {reply:?}");
        if !error.is_empty() {
            assert_eq!(reply.body["error"], error, "{token:?} {path}: {reply:?}");
        }
    }
    // A checkpoint of size 3 says so, and its head is record 3.
    let (status, text) = Client::new(&server.url, Some(AUDITOR)).get_text("/v1/checkpoints?size=3");
    assert_eq!(status, 200);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("tiered-ledger/"), "{text}");
    assert_eq!(lines[1], "3", "{text}");
    server.stop();
}

fn run(program: &Path, args: &[&Path], key: &str) -> (i32, String) {
    let output = Command::new(program).args(args).args(["--public-key", key]).output().unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.code().unwrap_or(-1), said)
}

#[test]
fn proofs_fetched_over_http_pass_check_proof_and_verify_proof_py_and_tampered_ones_fail() {
    let work = Workspace::new("");
    let key = work.dir.path().join("checkpoint.key");
    std::fs::write(&key, format!("{KEY_HEX}\n")).unwrap();
    let mut server = Server::start(&work.db, &work.config, &["--checkpoint-key", key.to_str().unwrap()]);
    let head = fill(&Client::new(&server.url, Some(BACK_OFFICE)));
    let auditor = Client::new(&server.url, Some(AUDITOR));
    let files = work.dir.path();
    let fetch_text = |path: &str, name: &str| {
        let (status, text) = auditor.get_text(path);
        assert_eq!(status, 200, "{path}: {text}");
        std::fs::write(files.join(name), text).unwrap();
        files.join(name)
    };
    let new = fetch_text("/v1/checkpoints", "new.checkpoint");
    let old = fetch_text("/v1/checkpoints?size=3", "old.checkpoint");
    let inclusion = fetch_text(&format!("/v1/proofs/inclusion/2?size={head}"), "inclusion.json");
    let consistency = fetch_text(&format!("/v1/proofs/consistency?from=3&to={head}"), "consistency.json");
    server.stop();
    // A tampered inclusion proof: one hash of its path changed.
    let mut proof: serde_json::Value = serde_json::from_slice(&std::fs::read(&inclusion).unwrap()).unwrap();
    let first = proof["path"][0].as_str().unwrap().to_owned();
    let (digit, rest) = first.split_at(1);
    let flipped = format!("{}{rest}", if digit == "0" { "1" } else { "0" });
    proof["path"][0] = json!(flipped);
    let tampered = files.join("tampered.json");
    std::fs::write(&tampered, proof.to_string()).unwrap();
    let public = hex::encode(ledger_store::signing_key_from_hex(KEY_HEX).unwrap().verifying_key().as_bytes());
    let other = hex::encode(ledger_store::signing_key_from_hex(&"11".repeat(32)).unwrap().verifying_key().as_bytes());
    let (cli, python) = (ledger_cli(), PathBuf::from("python3"));
    let script = root().join("tools/verify_proof.py");
    // (what, verify_proof.py's kind, the files (as both take them), public key, exit status of both)
    let table: Vec<Row> = vec![
        ("the checkpoint", "checkpoint", vec![&new], &public, 0),
        ("the inclusion proof", "inclusion", vec![&inclusion, &new], &public, 0),
        ("the consistency proof", "consistency", vec![&consistency, &old, &new], &public, 0),
        ("a tampered inclusion proof", "inclusion", vec![&tampered, &new], &public, 1),
        ("the wrong key", "inclusion", vec![&inclusion, &new], &other, 1),
        ("checkpoints swapped", "consistency", vec![&consistency, &new, &old], &public, 1),
    ];
    for (what, kind, files, key, status) in table {
        let mut cli_args: Vec<&Path> = vec![Path::new("check-proof")];
        cli_args.extend(&files);
        let (got, said) = run(&cli, &cli_args, key);
        assert_eq!(got, status, "ledger-cli check-proof, {what}: {said}");
        let mut py_args: Vec<&Path> = vec![&script, Path::new(kind)];
        py_args.extend(&files);
        let (got, said) = run(&python, &py_args, key);
        assert_eq!(got, status, "verify_proof.py, {what}: {said}");
    }
}

/// A row of the check table: what, verify_proof.py's kind, files, public key, exit status.
type Row<'a> = (&'a str, &'a str, Vec<&'a Path>, &'a str, i32);

#[test]
fn a_missing_or_malformed_checkpoint_key_fails_the_start() {
    let work = Workspace::new("");
    let bad = work.dir.path().join("bad.key");
    std::fs::write(&bad, "not a key\n").unwrap();
    let missing = work.dir.path().join("missing.key");
    let config_missing = work.dir.path().join("missing.toml");
    common::write_config(&config_missing, &format!("checkpoint_key = {:?}\n", missing.display().to_string()));
    // (config, flags, what stderr names)
    let table: Vec<(&Path, Vec<&str>, &str)> = vec![
        (&work.config, vec!["--checkpoint-key", bad.to_str().unwrap()], "a key file holds 64 hex digits"),
        (&config_missing, vec![], "missing.key"),
    ];
    for (config, flags, said) in table {
        let mut server = Server::spawn(&work.db, config, &flags);
        let (code, stderr) = server.wait_exit(std::time::Duration::from_secs(60)).expect("the server must not start");
        assert_ne!(code, Some(0), "{stderr}");
        assert!(stderr.contains("checkpoint_key") && stderr.contains(said), "{flags:?}: {stderr}");
    }
}

#[test]
fn a_server_that_records_checkpoints_serves_them_and_its_ticker_records_a_quiet_days() {
    let work = Workspace::new("checkpoint_every = 4\ntick_seconds = 0\n");
    let key = work.dir.path().join("checkpoint.key");
    std::fs::write(&key, format!("{KEY_HEX}\n")).unwrap();
    let mut server = Server::start(&work.db, &work.config, &["--checkpoint-key", key.to_str().unwrap()]);
    // Given genesis (1970), then the day's checkpoint (size 1), the opening, a deposit, the
    // checkpoint of size 4, three deposits: head 8.
    assert_eq!(fill(&Client::new(&server.url, Some(BACK_OFFICE))), 8);
    let auditor = Client::new(&server.url, Some(AUDITOR));
    let (status, latest) = auditor.get_text("/v1/checkpoints");
    assert_eq!(status, 200, "{latest}");
    // The latest recorded one, byte for byte what `ledger-cli checkpoints --size 4` reads.
    let db = work.db.to_str().unwrap();
    let cli = Command::new(ledger_cli()).args(["--db", db, "checkpoints", "--size", "4"]).output().unwrap();
    assert_eq!(latest, String::from_utf8(cli.stdout).unwrap());
    // (query, status, error code or the note's size line)
    let table = [
        ("", 200, "4"),
        ("?size=1", 200, "1"),
        ("?size=4&fresh=false", 200, "4"),
        ("?size=2", 404, "no_recorded_checkpoint"),
        ("?size=9", 400, "malformed"),
        ("?fresh=true", 200, "8"),
        ("?fresh=true&size=3", 200, "3"),
        ("?fresh=yes", 400, "malformed"),
    ];
    for (query, status, said) in table {
        let reply = auditor.get_text(&format!("/v1/checkpoints{query}"));
        assert_eq!(reply.0, status, "{query}: {}", reply.1);
        if status == 200 {
            assert_eq!(reply.1.lines().nth(1), Some(said), "{query}: {}", reply.1);
        } else {
            let body: serde_json::Value = serde_json::from_str(&reply.1).unwrap();
            assert_eq!(body["error"], said, "{query}: {}", reply.1);
        }
    }
    let (_, missing) = auditor.get_text("/v1/checkpoints?size=2");
    assert!(missing.contains("nearest: 1 below, 4 above"), "{missing}");
    server.stop();

    // When the ticker looks (every second) on a later day than the head's (2026-03-02), then it
    // ticks, and that records the day's checkpoint of the 8 records before it.
    let ticking = work.dir.path().join("ticking.toml");
    common::write_config(&ticking, "checkpoint_every = 4\ntick_seconds = 1\n");
    let mut server = Server::start(&work.db, &ticking, &["--checkpoint-key", key.to_str().unwrap()]);
    let auditor = Client::new(&server.url, Some(AUDITOR));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while auditor.head_seq() < 10 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert_eq!(auditor.head_seq(), 10, "the checkpoint of 8 records and the tick");
    let (status, latest) = auditor.get_text("/v1/checkpoints");
    assert_eq!((status, latest.lines().nth(1)), (200, Some("8")), "{latest}");
    server.stop();
}
