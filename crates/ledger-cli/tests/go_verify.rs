//! Checkpoints, proofs and witness cosignatures checked by an implementation we did not write:
//! tools/goverify, built here from Debian's golang-go and golang-golang-x-mod-dev (offline,
//! GOPATH mode), opens checkpoint notes with `golang.org/x/mod/sumdb/note` and checks proofs
//! with `golang.org/x/mod/sumdb/tlog` (RFC 6962 hashing). A real ledger's files verify; tampered
//! ones are refused; a witness refuses a forked ledger signed with the same key.
#![expect(clippy::unwrap_used, clippy::panic, reason = "a failing step should stop the test where it fails")]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{cli, json};

/// Builds tools/goverify into `dir` (scripts/setup installs the two Debian packages).
fn build_goverify(dir: &Path) -> PathBuf {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tools/goverify/main.go");
    let binary = dir.join("goverify");
    let output = Command::new("go")
        .args(["build", "-o"])
        .arg(&binary)
        .arg(&source)
        .env("GO111MODULE", "off")
        .env("GOPATH", "/usr/share/gocode")
        .env("GOPROXY", "off")
        .env("GOTOOLCHAIN", "local")
        .env("GOFLAGS", "")
        .env("GOCACHE", dir.join("go-cache"))
        .output()
        .unwrap_or_else(|err| panic!("`go` ({err}): scripts/setup installs golang-go and golang-golang-x-mod-dev"));
    assert!(output.status.success(), "go build: {}", String::from_utf8_lossy(&output.stderr));
    binary
}

fn go(binary: &Path, args: &[&str]) -> (i32, String) {
    let output = Command::new(binary).args(args).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.code().unwrap_or(-1), text)
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A ledger with `deposits` deposits into one account (the first of `first_amount`).
fn ledger(dir: &Path, name: &str, deposits: u64, first_amount: &str) -> PathBuf {
    let db = dir.join(name);
    assert_eq!(cli(&db, &["init", "--policy", "pboc-2018"]).0, 0);
    let open = r#"{"type":"open_account","id":"0d0d0d0d-0000-4000-8000-000000000000","account":70,"customer":7,"class":"I","verified_in_person":true}"#;
    assert_eq!(cli(&db, &["submit", open]).0, 0);
    deposit(&db, 1..=deposits, first_amount);
    db
}

fn deposit(db: &Path, numbers: std::ops::RangeInclusive<u64>, first_amount: &str) {
    for n in numbers {
        let amount = if n == 1 { first_amount } else { "1.00" };
        let line = format!(
            r#"{{"type":"cash_deposit","id":"0d0d0d0d-0000-4000-8000-{n:012}","account":70,"amount":"{amount}"}}"#
        );
        assert_eq!(cli(db, &["submit", &line]).0, 0);
    }
}

/// Writes a checkpoint note; returns the ledger's verifier key that `checkpoint` prints.
fn checkpoint(db: &Path, key: &Path, out: &Path) -> String {
    let (code, text, err) = cli(db, &["checkpoint", "--key", path(key), "--out", path(out)]);
    assert_eq!(code, 0, "{err}");
    text.split("verifier key ").nth(1).unwrap().trim().to_owned()
}

fn keygen(db: &Path, file: &Path) -> String {
    let (code, out, _) = cli(db, &["--json", "keygen", "--out", path(file)]);
    assert_eq!(code, 0);
    json(&out)["public_key"].as_str().unwrap().to_owned()
}

/// A copy of checkpoint note `file` whose text (above the blank line) is changed by `change`,
/// signed again by the key in `key` (hex seed) with openssl, under the same name and key id.
fn resigned_note(file: &Path, name: &str, key: &Path, change: impl FnOnce(String) -> String) -> PathBuf {
    let note = std::fs::read_to_string(file).unwrap();
    let split = note.rfind("\n\n").unwrap();
    let text = change(note[..=split].to_owned());
    let signature = note[split + 2..].lines().next().unwrap();
    let (start, blob) = signature.rsplit_once(' ').unwrap();
    let out = file.with_file_name(name);
    let script = r#"
import base64, subprocess, sys, tempfile
text, seed, start, blob, out = sys.argv[1], bytes.fromhex(open(sys.argv[2]).read().strip()), sys.argv[3], sys.argv[4], sys.argv[5]
d = tempfile.mkdtemp()
open(d + "/msg", "wb").write(text.encode())
der = bytes.fromhex("302e020100300506032b657004220420") + seed
open(d + "/key.pem", "w").write("-----BEGIN PRIVATE KEY-----\n" + base64.b64encode(der).decode() + "\n-----END PRIVATE KEY-----\n")
subprocess.run(["openssl", "pkeyutl", "-sign", "-inkey", d + "/key.pem", "-rawin", "-in", d + "/msg", "-out", d + "/sig"], check=True)
key_id = base64.b64decode(blob)[:4]
line = start + " " + base64.b64encode(key_id + open(d + "/sig", "rb").read()).decode()
open(out, "w").write(text + "\n" + line + "\n")
"#;
    let made =
        Command::new("python3").args(["-c", script, &text]).arg(key).args([start, blob]).arg(&out).output().unwrap();
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    out
}

/// A copy of `file` with `change` applied to its text.
fn tampered(file: &Path, name: &str, change: impl FnOnce(String) -> String) -> PathBuf {
    let text = std::fs::read_to_string(file).unwrap();
    let changed = change(text.clone());
    assert_ne!(changed, text, "{name}: the change changes something");
    let out = file.with_file_name(name);
    std::fs::write(&out, changed).unwrap();
    out
}

/// `ledger-cli check-proof` and tools/verify_proof.py give `expected` (0 verified, 1 refused)
/// for `files` (CHECKPOINT, or PROOF CHECKPOINT, or PROOF OLD NEW) signed by `public` (hex).
fn ours_agree(files: &[&Path], public: &str, expected: i32, what: &str) {
    let names: Vec<&str> = files.iter().map(|file| path(file)).collect();
    let (code, out, err) =
        cli(Path::new("unused"), &[&["check-proof", "--public-key", public], names.as_slice()].concat());
    assert_eq!(code, expected, "ledger-cli, {what}: {out}{err}");
    let kind = ["checkpoint", "inclusion", "consistency"][files.len() - 1];
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tools/verify_proof.py");
    let output =
        Command::new("python3").arg(script).arg(kind).args(&names).args(["--public-key", public]).output().unwrap();
    assert_eq!(
        output.status.code(),
        Some(expected),
        "verify_proof.py, {what}: {}",
        String::from_utf8_lossy(&output.stdout)
    );
}

/// One base64 character of the last signature line changed (inside the signature bytes).
fn flip_signature(text: String) -> String {
    let start = text.trim_end().rfind('\n').unwrap() + 1;
    let at = text.len() - 10;
    assert!(at > start);
    let old = &text[at..=at];
    let new = if old == "A" { "B" } else { "A" };
    format!("{}{new}{}", &text[..at], &text[at + 1..])
}

fn line(text: &str, index: usize) -> String {
    text.lines().nth(index).unwrap().to_owned()
}

#[test]
fn go_verifies_checkpoints_proofs_and_cosignatures_and_refuses_tampered_ones() {
    let dir = tempfile::tempdir().unwrap();
    let goverify = build_goverify(dir.path());
    let db = ledger(dir.path(), "ledger", 6, "1.00");
    let (log_key, witness_key) = (dir.path().join("log.key"), dir.path().join("witness.key"));
    let log_public = keygen(&db, &log_key);
    let witness_public = keygen(&db, &witness_key);
    let (cp1, cp2) = (dir.path().join("cp1"), dir.path().join("cp2"));
    let vkey = checkpoint(&db, &log_key, &cp1);
    // The fork to come: a copy of the ledger now (same id, same key) whose history goes another way.
    let forked = dir.path().join("forked");
    assert_eq!(cli(&db, &["backup", path(&forked)]).0, 0);
    deposit(&db, 7..=9, "1.00");
    assert_eq!(checkpoint(&db, &log_key, &cp2), vkey, "one ledger, one verifier key");
    let size = line(&std::fs::read_to_string(&cp2).unwrap(), 1).parse::<u64>().unwrap();
    assert_eq!(size, 11, "genesis, the opening and 9 deposits");

    // Given the ledger's files, when Go checks them, then every one verifies.
    for file in [&cp1, &cp2] {
        let (code, out) = go(&goverify, &["checkpoint", "-key", &vkey, path(file)]);
        assert_eq!(code, 0, "{out}");
    }
    let mut proofs = Vec::new();
    for seq in 1..=size {
        let proof = dir.path().join(format!("p{seq}.json"));
        let (code, _, err) = cli(&db, &["prove", &seq.to_string(), "--checkpoint", path(&cp2), "--out", path(&proof)]);
        assert_eq!(code, 0, "{err}");
        let (code, out) = go(&goverify, &["inclusion", "-key", &vkey, path(&proof), path(&cp2)]);
        assert_eq!((code, out.contains(&format!("record {seq} is in the tree of 11"))), (0, true), "{out}");
        ours_agree(&[&proof, &cp2], &log_public, 0, "a real proof");
        proofs.push(proof);
    }
    let consistency = dir.path().join("c12.json");
    let (code, _, err) = cli(&db, &["prove-consistency", path(&cp1), path(&cp2), "--out", path(&consistency)]);
    assert_eq!(code, 0, "{err}");
    let (code, out) = go(&goverify, &["consistency", "-key", &vkey, path(&consistency), path(&cp1), path(&cp2)]);
    assert_eq!(code, 0, "{out}");
    ours_agree(&[&consistency, &cp1, &cp2], &log_public, 0, "a real consistency proof");

    // Given a tampered file, when Go checks it, then it is refused (exit 1).
    let other_key = dir.path().join("other.key");
    let other_public = keygen(&db, &other_key);
    let other_cp = dir.path().join("other-cp");
    let other_vkey = checkpoint(&db, &other_key, &other_cp);
    let root_b64 = line(&std::fs::read_to_string(&cp1).unwrap(), 2);
    let cp2_text = std::fs::read_to_string(&cp2).unwrap();
    let cp2_root = line(&cp2_text, 2);
    let flip = |text: String, from: &str, to: &str| text.replacen(from, to, 1);
    let (vk, public) = (vkey.as_str(), log_public.as_str());
    let checkpoints: Vec<(&str, PathBuf, &str, &str)> = vec![
        ("size changed", tampered(&cp2, "t-size", |t| flip(t, "\n11\n", "\n12\n")), vk, public),
        ("root replaced", tampered(&cp2, "t-root", |t| t.replace(&cp2_root, &root_b64)), vk, public),
        ("origin changed", tampered(&cp2, "t-origin", |t| flip(t, "tiered-ledger/", "tiered-ledger/0")), vk, public),
        ("head changed", tampered(&cp2, "t-head", |t| flip(t, "head 11:", "head 11:0")), vk, public),
        ("signature changed", tampered(&cp2, "t-sig", flip_signature), vk, public),
        ("another ledger key", cp2.clone(), other_vkey.as_str(), other_public.as_str()),
        ("signed by another key", other_cp.clone(), vk, public),
    ];
    for (what, file, key, public) in &checkpoints {
        let (code, out) = go(&goverify, &["checkpoint", "-key", key, path(file)]);
        assert_eq!(code, 1, "{what}: {out}");
        ours_agree(&[file], public, 1, what);
    }
    // Extension lines other than FORMAT.md's, validly signed again by the ledger's key: every
    // verifier refuses them. (what, the text's change; refused)
    let time_line = cp2_text.lines().find(|l| l.starts_with("time ")).unwrap().to_owned();
    let head_line = cp2_text.lines().find(|l| l.starts_with("head ")).unwrap().to_owned();
    let extensions: [(&str, String, bool); 6] = [
        ("re-signed unchanged (the rows' control)", String::new(), false),
        ("an unknown extension line", "foo bar\n".to_owned(), true),
        ("no time line", format!("-{time_line}"), true),
        ("two time lines", time_line.clone() + "\n", true),
        ("the head at another seq", format!("-{head_line}\n{}\n", head_line.replace("head 11:", "head 10:")), true),
        ("a time not RFC 3339", format!("-{time_line}\ntime yesterday\n"), true),
    ];
    for (n, (what, change, refused)) in extensions.into_iter().enumerate() {
        let file = resigned_note(&cp2, &format!("t-ext{n}"), &log_key, |text| match change.strip_prefix('-') {
            Some(rest) => {
                let (gone, added) = rest.split_once('\n').unwrap_or((rest, ""));
                text.replace(&format!("{gone}\n"), "") + added
            }
            None => text + &change,
        });
        let (code, out) = go(&goverify, &["checkpoint", "-key", &vkey, path(&file)]);
        assert_eq!(code, i32::from(refused), "goverify, {what}: {out}");
        ours_agree(&[&file], &log_public, i32::from(refused), what);
    }
    let proof = &proofs[4];
    let proof_text = std::fs::read_to_string(proof).unwrap();
    let first_path = json(&proof_text)["path"][0].as_str().unwrap().to_owned();
    let event_hex = json(&proof_text)["record"]["event_hex"].as_str().unwrap().to_owned();
    let mut changed_event = event_hex.clone();
    let last = if changed_event.ends_with('0') { "1" } else { "0" };
    changed_event.replace_range(changed_event.len() - 1.., last);
    let inclusions = [
        ("event bytes changed", tampered(proof, "t-event.json", |t| t.replace(&event_hex, &changed_event))),
        ("path hash changed", tampered(proof, "t-path.json", |t| t.replace(&first_path, &"00".repeat(32)))),
        ("another record's seq", tampered(proof, "t-seq.json", |t| t.replace("\"seq\": 5", "\"seq\": 6"))),
        ("against another checkpoint", proofs[3].clone()),
    ];
    for (what, file) in &inclusions {
        let against = if *what == "against another checkpoint" { &cp1 } else { &cp2 };
        let (code, out) = go(&goverify, &["inclusion", "-key", &vkey, path(file), path(against)]);
        assert_eq!(code, 1, "{what}: {out}");
        ours_agree(&[file, against], &log_public, 1, what);
    }
    let consistency_text = std::fs::read_to_string(&consistency).unwrap();
    let first = json(&consistency_text)["path"][0].as_str().unwrap().to_owned();
    let changed = tampered(&consistency, "t-c.json", |t| t.replace(&first, &"11".repeat(32)));
    let (code, out) = go(&goverify, &["consistency", "-key", &vkey, path(&changed), path(&cp1), path(&cp2)]);
    assert_eq!(code, 1, "a changed consistency path: {out}");
    ours_agree(&[&changed, &cp1, &cp2], &log_public, 1, "a changed consistency path");
    let (code, out) = go(&goverify, &["consistency", "-key", &vkey, path(&consistency), path(&cp2), path(&cp1)]);
    assert_eq!(code, 1, "old and new swapped: {out}");

    // The witness: first use, then a grown log; Go checks its cosignature.
    let state = dir.path().join("witness.state");
    let witness = |checkpoint: &Path, proof: Option<&Path>, out: &Path| {
        let mut args = vec!["--json", "witness", "--state", path(&state), "--key", path(&witness_key)];
        args.extend(["--name", "auditor.example/w1", "--public-key", &log_public, "--checkpoint", path(checkpoint)]);
        args.extend(["--out", path(out)]);
        if let Some(proof) = proof {
            args.extend(["--proof", path(proof)]);
        }
        cli(&db, &args)
    };
    let (cw1, cw2) = (dir.path().join("cw1"), dir.path().join("cw2"));
    let (code, out, err) = witness(&cp1, None, &cw1);
    assert_eq!(code, 0, "{out}{err}");
    let witness_vkey = json(&out)["verifier_key"].as_str().unwrap().to_owned();
    let (code, out, err) = witness(&cp2, Some(&consistency), &cw2);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(std::fs::read_to_string(&state).unwrap(), std::fs::read_to_string(&cw2).unwrap());
    let (code, out) = go(&goverify, &["checkpoint", "-key", &vkey, "-witness", &witness_vkey, path(&cw2)]);
    assert_eq!(code, 0, "{out}");
    let (code, out) =
        go(&goverify, &["inclusion", "-key", &vkey, "-witness", &witness_vkey, path(&proofs[0]), path(&cw2)]);
    assert_eq!(code, 0, "{out}");
    let (code, out) = go(&goverify, &["checkpoint", "-key", &vkey, "-witness", &witness_vkey, path(&cp2)]);
    assert_eq!(code, 1, "no cosignature: {out}");
    let changed_cosignature = tampered(&cw2, "t-cosig", flip_signature);
    let (code, out) =
        go(&goverify, &["checkpoint", "-key", &vkey, "-witness", &witness_vkey, path(&changed_cosignature)]);
    assert_eq!(code, 1, "a changed cosignature: {out}");
    // ledger-cli checks cosignatures too: the witness's key, not another one.
    let check = |file: &Path, witness_public: &str| {
        let witness = format!("auditor.example/w1={witness_public}");
        cli(&db, &["check-proof", path(file), "--public-key", &log_public, "--witness", &witness]).0
    };
    assert_eq!(check(&cw2, &witness_public), 0);
    assert_eq!(check(&changed_cosignature, &witness_public), 1);
    assert_eq!(check(&cw2, &log_public), 1, "another witness key");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tools/verify_proof.py");
    for (file, witness_public, expected) in
        [(&cw2, &witness_public, 0), (&changed_cosignature, &witness_public, 1), (&cw2, &log_public, 1)]
    {
        let witness = format!("auditor.example/w1={witness_public}");
        let output = Command::new("python3")
            .arg(&script)
            .args(["checkpoint", path(file), "--public-key", &log_public, "--witness", &witness])
            .output()
            .unwrap();
        assert_eq!(
            output.status.code(),
            Some(expected),
            "verify_proof.py: {}",
            String::from_utf8_lossy(&output.stdout)
        );
    }

    // The forked ledger (the copy taken at cp1, then other deposits than the honest ledger's):
    // same key, same origin. The same size with another root, and a larger one with the honest
    // ledger's proof, are both refused; a shrunk log too.
    deposit(&forked, 107..=109, "1.00");
    let (fork_same, fork_larger) = (dir.path().join("fork11"), dir.path().join("fork14"));
    assert_eq!(checkpoint(&forked, &log_key, &fork_same), vkey, "same key, same origin");
    assert_ne!(std::fs::read_to_string(&fork_same).unwrap().lines().nth(2), Some(cp2_root.as_str()), "another root");
    deposit(&forked, 110..=112, "1.00");
    checkpoint(&forked, &log_key, &fork_larger);
    deposit(&db, 10..=12, "1.00");
    let cp3 = dir.path().join("cp3");
    checkpoint(&db, &log_key, &cp3);
    let honest = dir.path().join("c23.json");
    assert_eq!(cli(&db, &["prove-consistency", path(&cp2), path(&cp3), "--out", path(&honest)]).0, 0);
    let (code, _, _) = cli(&forked, &["prove-consistency", path(&cp2), path(&fork_larger)]);
    assert_eq!(code, 1, "the forked ledger cannot prove it extends the witnessed checkpoint");
    let before = std::fs::read_to_string(&state).unwrap();
    for (what, checkpoint, proof) in [
        ("a fork of the same size", &fork_same, None),
        ("a larger fork with the honest proof", &fork_larger, Some(honest.as_path())),
        ("a shrunk log", &cp1, None),
    ] {
        let out_file = dir.path().join("refused");
        let (code, out, err) = witness(checkpoint, proof, &out_file);
        assert_eq!(code, 1, "{what}: {out}{err}");
        assert!(out.contains("fork") || out.contains("shrank"), "{what}: {out}");
        assert!(!out_file.exists(), "{what}: nothing cosigned");
        assert_eq!(std::fs::read_to_string(&state).unwrap(), before, "{what}: the state is unchanged");
    }
    // The honest log's growth is still cosigned after the refusals.
    let cw3 = dir.path().join("cw3");
    let (code, out, err) = witness(&cp3, Some(&honest), &cw3);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out) = go(&goverify, &["checkpoint", "-key", &vkey, "-witness", &witness_vkey, path(&cw3)]);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn the_checkpoints_the_writer_recorded_verify_with_go_and_ours_and_verify_checks_their_key() {
    let dir = tempfile::tempdir().unwrap();
    let goverify = build_goverify(dir.path());
    let db = dir.path().join("ledger");
    let (key, other) = (dir.path().join("log.key"), dir.path().join("other.key"));
    let public = keygen(&db, &key);
    let other_public = keygen(&db, &other);
    // Given a ledger that records a checkpoint every 4 records, signed with `key`, when the CLI
    // writes to it (init, then one submit per deposit: every run of the writer).
    let with = |args: &[&str]| cli(&db, &[&["--checkpoint-every", "4", "--checkpoint-key", path(&key)], args].concat());
    assert_eq!(with(&["init", "--policy", "pboc-2018"]).0, 0);
    let open = r#"{"type":"open_account","id":"0d0d0d0d-0000-4000-8000-000000000000","account":70,"customer":7,"class":"I","verified_in_person":true}"#;
    assert_eq!(with(&["submit", open]).0, 0);
    for n in 1..=9 {
        let line =
            format!(r#"{{"type":"cash_deposit","id":"0d0d0d0d-0000-4000-8000-{n:012}","account":70,"amount":"1.00"}}"#);
        assert_eq!(with(&["submit", &line]).0, 0);
    }
    // Then: genesis; the day's checkpoint (size 1); the opening; deposits, with one at every
    // multiple of 4 (seqs 5, 9, 13).
    let (code, out, err) = cli(&db, &["--json", "checkpoints"]);
    assert_eq!(code, 0, "{err}");
    let listed = json(&out)["checkpoints"].as_array().unwrap().clone();
    let sizes: Vec<(u64, u64)> =
        listed.iter().map(|c| (c["seq"].as_u64().unwrap(), c["size"].as_u64().unwrap())).collect();
    assert_eq!(sizes, vec![(2, 1), (5, 4), (9, 8), (13, 12)]);
    assert!(listed.iter().all(|c| c["signed"] == true));
    let vkey = checkpoint(&db, &key, &dir.path().join("now"));
    let mut files = Vec::new();
    for (_, size) in &sizes {
        let file = dir.path().join(format!("recorded-{size}"));
        let (code, _, err) = cli(&db, &["checkpoints", "--size", &size.to_string(), "--out", path(&file)]);
        assert_eq!(code, 0, "{err}");
        let (code, out) = go(&goverify, &["checkpoint", "-key", &vkey, path(&file)]);
        assert_eq!(code, 0, "goverify, size {size}: {out}");
        ours_agree(&[&file], &public, 0, "a recorded checkpoint");
        files.push(file);
    }
    // Proofs against recorded checkpoints: record 3 in the tree of 8; the tree of 4 in that of 12.
    let proof = dir.path().join("p3.json");
    assert_eq!(cli(&db, &["prove", "3", "--checkpoint", path(&files[2]), "--out", path(&proof)]).0, 0);
    let (code, out) = go(&goverify, &["inclusion", "-key", &vkey, path(&proof), path(&files[2])]);
    assert_eq!(code, 0, "{out}");
    let consistency = dir.path().join("c.json");
    assert_eq!(cli(&db, &["prove-consistency", path(&files[1]), path(&files[3]), "--out", path(&consistency)]).0, 0);
    let (code, out) =
        go(&goverify, &["consistency", "-key", &vkey, path(&consistency), path(&files[1]), path(&files[3])]);
    assert_eq!(code, 0, "{out}");
    ours_agree(&[&consistency, &files[1], &files[3]], &public, 0, "between recorded checkpoints");
    // A witness cosigns recorded checkpoints as it does made ones: the first, then one that grew.
    let (state, witness_key) = (dir.path().join("witness.state"), dir.path().join("witness.key"));
    keygen(&db, &witness_key);
    let first = dir.path().join("w1");
    let witness = ["witness", "--state", path(&state), "--key", path(&witness_key), "--name", "auditor.example/w1"];
    let seen =
        [&witness[..], &["--public-key", &public, "--checkpoint", path(&files[1]), "--out", path(&first)]].concat();
    let (code, out, err) = cli(&db, &seen);
    assert_eq!(code, 0, "{out}{err}");
    let grew =
        [&witness[..], &["--public-key", &public, "--checkpoint", path(&files[3]), "--proof", path(&consistency)]];
    let cosigned = dir.path().join("w2");
    let (code, out, err) = cli(&db, &[&grew.concat()[..], &["--out", path(&cosigned)]].concat());
    assert_eq!(code, 0, "{out}{err}");
    assert!(std::fs::read_to_string(&cosigned).unwrap().contains("\u{2014} auditor.example/w1 "), "cosigned");
    // A size with no recorded checkpoint names the nearest ones.
    let (code, _, err) = cli(&db, &["checkpoints", "--size", "6"]);
    assert_eq!((code, err.contains("nearest: 4 below, 8 above")), (2, true), "{err}");
    // verify: (public key given, exit code, what it prints)
    let table = [
        (None, 0, "OK:"),
        (Some(public.as_str()), 0, "OK:"),
        (Some(other_public.as_str()), 1, "sequence 2: recorded checkpoint"),
    ];
    for (given, expected, says) in table {
        let mut args = vec!["verify"];
        args.extend(given.iter().flat_map(|key| ["--public-key", key]));
        let (code, out, err) = cli(&db, &args);
        assert_eq!(code, expected, "{given:?}: {out}{err}");
        assert!(out.contains(says), "{given:?}: {out}");
    }
}
