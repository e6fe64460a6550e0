//! The witness's state: overlapping runs on one state file (the honest log and a fork of it,
//! same key, same origin) cosign at most one root per size; a state this witness did not write
//! (a fork's checkpoint copied there, its own cosignature changed) is refused; a missing state
//! is first use, said on standard error.
#![expect(clippy::unwrap_used, reason = "a failing step should stop the test where it fails")]

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{NOW, cli, json};

const NAME: &str = "auditor.example/w1";

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn deposit(db: &Path, numbers: std::ops::RangeInclusive<u64>, amount: &str) {
    for n in numbers {
        let line = format!(
            r#"{{"type":"cash_deposit","id":"0d0d0d0d-0000-4000-8000-{n:012}","account":70,"amount":"{amount}"}}"#
        );
        assert_eq!(cli(db, &["submit", &line]).0, 0);
    }
}

fn checkpoint(db: &Path, key: &Path, out: &Path) {
    let (code, _, err) = cli(db, &["checkpoint", "--key", path(key), "--out", path(out)]);
    assert_eq!(code, 0, "{err}");
}

fn prove_consistency(db: &Path, old: &Path, new: &Path, out: &Path) {
    let (code, out, err) = cli(db, &["prove-consistency", path(old), path(new), "--out", path(out)]);
    assert_eq!(code, 0, "{out}{err}");
}

/// The arguments of one witness run.
fn witness_args<'a>(files: &'a Files, checkpoint: &'a Path, proof: Option<&'a Path>, out: &'a Path) -> Vec<&'a str> {
    let mut args = vec!["--db", "unused", "--now", NOW, "witness", "--state", path(&files.state)];
    args.extend(["--key", path(&files.witness_key), "--name", NAME, "--public-key", &files.log_public]);
    args.extend(["--checkpoint", path(checkpoint), "--out", path(out)]);
    if let Some(proof) = proof {
        args.extend(["--proof", path(proof)]);
    }
    args
}

struct Files {
    state: PathBuf,
    witness_key: PathBuf,
    log_public: String,
}

/// A ledger at 3 records (cp3) whose backup then grows two ways to 4 records: the honest log
/// (honest4, proof honest.json from cp3) and a fork (fork4, proof fork.json from cp3).
struct Setup {
    dir: tempfile::TempDir,
    files: Files,
    cp3: PathBuf,
    honest: (PathBuf, PathBuf),
    fork: (PathBuf, PathBuf),
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("ledger");
    assert_eq!(cli(&db, &["init", "--policy", "pboc-2018"]).0, 0);
    let open = r#"{"type":"open_account","id":"0d0d0d0d-0000-4000-8000-000000000000","account":70,"customer":7,"class":"I","verified_in_person":true}"#;
    assert_eq!(cli(&db, &["submit", open]).0, 0);
    deposit(&db, 1..=1, "1.00");
    let (log_key, witness_key) = (dir.path().join("log.key"), dir.path().join("witness.key"));
    let (code, out, _) = cli(&db, &["--json", "keygen", "--out", path(&log_key)]);
    assert_eq!(code, 0);
    let log_public = json(&out)["public_key"].as_str().unwrap().to_owned();
    assert_eq!(cli(&db, &["keygen", "--out", path(&witness_key)]).0, 0);
    let cp3 = dir.path().join("cp3");
    checkpoint(&db, &log_key, &cp3);
    let forked = dir.path().join("forked");
    assert_eq!(cli(&db, &["backup", path(&forked)]).0, 0);
    let mut grown = Vec::new();
    for (ledger, name, amount) in [(&db, "honest", "2.00"), (&forked, "fork", "3.00")] {
        deposit(ledger, 2..=2, amount);
        let (cp, proof) = (dir.path().join(format!("{name}4")), dir.path().join(format!("{name}.json")));
        checkpoint(ledger, &log_key, &cp);
        prove_consistency(ledger, &cp3, &cp, &proof);
        grown.push((cp, proof));
    }
    let fork = grown.pop().unwrap();
    let honest = grown.pop().unwrap();
    let files = Files { state: dir.path().join("witness.state"), witness_key, log_public };
    Setup { dir, files, cp3, honest, fork }
}

fn run(files: &Files, checkpoint: &Path, proof: Option<&Path>, out: &Path) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_ledger-cli"))
        .args(witness_args(files, checkpoint, proof, out))
        .output()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The root line of a cosigned checkpoint.
fn root(file: &Path) -> String {
    std::fs::read_to_string(file).unwrap().lines().nth(2).unwrap().to_owned()
}

#[test]
fn overlapping_runs_on_one_state_cosign_one_root_per_size() {
    let Setup { dir, files, cp3, honest, fork } = setup();
    let first = dir.path().join("first-use");
    let (code, out, err) = run(&files, &cp3, None, &first);
    assert_eq!(code, 0, "{out}{err}");
    // Rounds of 12 runs started together from the state at 3 records, half honest, half fork.
    for round in 0..8 {
        std::fs::copy(&first, &files.state).unwrap();
        let runs: Vec<(PathBuf, std::process::Child)> = (0..12)
            .map(|n| {
                let (cp, proof) = if n % 2 == 0 { &honest } else { &fork };
                let out = dir.path().join(format!("cosigned-{round}-{n}"));
                let child = Command::new(env!("CARGO_BIN_EXE_ledger-cli"))
                    .args(witness_args(&files, cp, Some(proof), &out))
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap();
                (out, child)
            })
            .collect();
        let mut roots = BTreeSet::new();
        for (out, mut child) in runs {
            if child.wait().unwrap().success() {
                roots.insert(root(&out));
            }
        }
        assert_eq!(roots.len(), 1, "round {round}: one root cosigned at 4 records, the first run's: {roots:?}");
        assert_eq!(roots.first(), Some(&root(&files.state)), "round {round}: the state holds the root cosigned");
    }
}

#[test]
fn a_state_this_witness_did_not_write_is_refused() {
    let Setup { dir, files, cp3, honest, fork } = setup();
    // A missing state: first use, said on standard error.
    let first = dir.path().join("first-use");
    let (code, out, err) = run(&files, &cp3, None, &first);
    assert_eq!(code, 0, "{out}{err}");
    assert!(err.contains("warning: no witness state at") && err.contains("first use"), "{err}");
    let cosigned = std::fs::read_to_string(&first).unwrap();
    let signature = cosigned.lines().last().unwrap().to_owned();
    let (start, blob) = signature.rsplit_once(' ').unwrap();
    let flipped_blob = format!("{}{}", &blob[..20], if &blob[20..21] == "A" { "B" } else { "A" }) + &blob[21..];
    // (what is in the state, what the witness is given: checkpoint and proof, accepted)
    let ledger_signed_only = std::fs::read_to_string(&cp3).unwrap();
    let fork_only = std::fs::read_to_string(&fork.0).unwrap();
    let rows: [(&str, String, &(PathBuf, PathBuf), bool); 4] = [
        ("its own cosigned state", cosigned.clone(), &honest, true),
        ("the ledger's checkpoint, never cosigned", ledger_signed_only, &honest, false),
        (
            "its own cosignature changed",
            cosigned.replace(&signature, &format!("{start} {flipped_blob}")),
            &honest,
            false,
        ),
        // A fork's checkpoint copied into the state: the witness would cosign the fork.
        ("a fork's checkpoint, never cosigned", fork_only, &fork, false),
    ];
    for (what, state, (cp, proof), accepted) in rows {
        std::fs::write(&files.state, &state).unwrap();
        let out = dir.path().join("out");
        let _ = std::fs::remove_file(&out);
        let given_proof = if state.lines().nth(1) == Some("4") { None } else { Some(proof.as_path()) };
        let (code, stdout, err) = run(&files, cp, given_proof, &out);
        assert_eq!(code == 0, accepted, "{what}: {stdout}{err}");
        if !accepted {
            assert!(
                stdout.contains("REFUSED:") && stdout.contains("the state was not written by this witness"),
                "{what}: {stdout}{err}"
            );
            assert!(!out.exists(), "{what}: nothing cosigned");
            assert_eq!(std::fs::read_to_string(&files.state).unwrap(), state, "{what}: the state is kept");
        }
    }
}
