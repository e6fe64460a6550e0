//! Auditors' proofs end to end: keygen, checkpoints, inclusion proofs for every record and
//! consistency proofs for every pair of checkpoints, each checked by `ledger-cli check-proof`
//! and by tools/verify_proof.py; changed records, wrong indexes, truncated paths, other
//! checkpoints, flipped bits, other keys and a rewritten log all fail.
#![expect(clippy::unwrap_used, reason = "a failing step should stop the test where it fails")]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{cli, json, submitted_at};
use serde_json::Value;

fn python(args: &[&str]) -> (i32, String) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tools/verify_proof.py");
    let output = Command::new("python3").arg(script).args(args).output().unwrap();
    (output.status.code().unwrap_or(-1), String::from_utf8_lossy(&output.stdout).into_owned())
}

/// A ledger with `deposits` deposits into one account after `init`.
fn ledger(dir: &Path, name: &str, deposits: u64, first_amount: &str) -> PathBuf {
    let db = dir.join(name);
    assert_eq!(cli(&db, &["init", "--policy", "pboc-2018"]).0, 0);
    let open = r#"{"type":"open_account","id":"0d0d0d0d-0000-4000-8000-000000000000","account":70,"customer":7,"class":"I","verified_in_person":true}"#;
    assert_eq!(cli(&db, &["submit", open]).0, 0);
    for n in 1..=deposits {
        let amount = if n == 1 { first_amount } else { "1.00" };
        let line = format!(
            r#"{{"type":"cash_deposit","id":"0d0d0d0d-0000-4000-8000-{n:012}","account":70,"amount":"{amount}"}}"#
        );
        assert_eq!(cli(&db, &["submit", &line]).0, 0);
    }
    db
}

/// A signing key in `file`; its public key.
fn keygen(db: &Path, file: &Path) -> String {
    let (code, out, _) = cli(db, &["--json", "keygen", "--out", file.to_str().unwrap()]);
    assert_eq!(code, 0);
    json(&out)["public_key"].as_str().unwrap().to_owned()
}

fn checkpoint(db: &Path, key: &Path, out: &Path) {
    // Format v1 (JSON), still written on request and read: these tests edit its fields.
    let (code, _, err) =
        cli(db, &["checkpoint", "--format", "json", "--key", key.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
}

fn edit(path: &Path, change: impl FnOnce(&mut Value)) -> PathBuf {
    let mut value = json(&std::fs::read_to_string(path).unwrap());
    change(&mut value);
    let changed = path.with_extension(format!("changed{}.json", rand_suffix()));
    std::fs::write(&changed, value.to_string()).unwrap();
    changed
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// Both verifiers agree that `files` check out (or not) under the signer's key `public`.
fn both(public: &str, files: &[&Path], ok: bool, what: &str) {
    let mut names: Vec<&str> = files.iter().map(|f| f.to_str().unwrap()).collect();
    names.extend(["--public-key", public]);
    let (code, out, _) = cli(Path::new("unused"), &[&["check-proof"], names.as_slice()].concat());
    assert_eq!(code, if ok { 0 } else { 1 }, "ledger-cli, {what}: {out}");
    let kind = match files.len() {
        1 => "checkpoint",
        2 => "inclusion",
        _ => "consistency",
    };
    let (code, out) = python(&[&[kind], names.as_slice()].concat());
    assert_eq!(code, if ok { 0 } else { 1 }, "verify_proof.py, {what}: {out}");
}

#[test]
fn inclusion_proofs_for_every_record_and_what_must_fail() {
    let dir = tempfile::tempdir().unwrap();
    let db = ledger(dir.path(), "ledger", 12, "1.00");
    let key = dir.path().join("signing.key");
    let public = keygen(&db, &key);
    assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
    let cp = dir.path().join("cp.json");
    checkpoint(&db, &key, &cp);
    let size = json(&std::fs::read_to_string(&cp).unwrap())["tree_size"].as_u64().unwrap();
    assert_eq!(size, 14, "genesis, the opening and 12 deposits");

    let mut proofs = Vec::new();
    for seq in 1..=size {
        let proof = dir.path().join(format!("p{seq}.json"));
        let (code, _, err) = cli(
            &db,
            &["prove", &seq.to_string(), "--checkpoint", cp.to_str().unwrap(), "--out", proof.to_str().unwrap()],
        );
        assert_eq!(code, 0, "{err}");
        both(&public, &[&proof, &cp], true, &format!("record {seq}"));
        proofs.push(proof);
    }
    let proof = &proofs[6];
    let changed_record = edit(proof, |p| {
        let hex = p["record"]["event_hex"].as_str().unwrap().to_owned();
        let last = if hex.ends_with('0') { '1' } else { '0' };
        p["record"]["event_hex"] = Value::String(format!("{}{last}", &hex[..hex.len() - 1]));
    });
    both(&public, &[&changed_record, &cp], false, "a changed record");
    let wrong_index = edit(proof, |p| {
        p["seq"] = Value::from(8);
        p["record"]["seq"] = Value::from(8);
    });
    both(&public, &[&wrong_index, &cp], false, "a wrong index");
    let truncated = edit(proof, |p| {
        p["path"].as_array_mut().unwrap().pop();
    });
    both(&public, &[&truncated, &cp], false, "a truncated path");
    // Against another checkpoint (one more record).
    let more = r#"{"type":"cash_deposit","id":"0d0d0d0d-0000-4000-8000-100000000000","account":70,"amount":"5"}"#;
    assert_eq!(cli(&db, &["submit", more]).0, 0);
    let later = dir.path().join("later.json");
    checkpoint(&db, &key, &later);
    both(&public, &[proof, &later], false, "a proof against another checkpoint");

    // Signatures: one bit of the checkpoint changed; another trusted key.
    both(&public, &[&cp], true, "the checkpoint");
    let flipped = edit(&cp, |c| {
        let time = c["time"].as_str().unwrap().replace("2026", "2027");
        c["time"] = Value::String(time);
    });
    both(&public, &[&flipped], false, "a changed checkpoint");
    let (code, _, _) = cli(&db, &["check-proof", cp.to_str().unwrap(), "--public-key", &public]);
    assert_eq!(code, 0);
    let other = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
    let (code, out, _) = cli(&db, &["check-proof", cp.to_str().unwrap(), "--public-key", other]);
    assert_eq!(code, 1, "{out}");
    assert_eq!(python(&["checkpoint", cp.to_str().unwrap(), "--public-key", other]).0, 1);
    assert_eq!(python(&["checkpoint", cp.to_str().unwrap(), "--public-key", &public]).0, 0);

    // Checkpoints both verifiers refuse, though validly signed by the trusted key (re-signed
    // here with openssl) or unchanged: (what, the file, whether --public-key is given).
    let note = dir.path().join("cp.note");
    let (code, _, err) = cli(&db, &["checkpoint", "--key", key.to_str().unwrap(), "--out", note.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let crlf = dir.path().join("crlf.note");
    std::fs::write(&crlf, std::fs::read_to_string(&note).unwrap().replace('\n', "\r\n")).unwrap();
    let head = json(&std::fs::read_to_string(&cp).unwrap())["head"].as_str().unwrap().to_owned();
    let rows: [(&str, PathBuf, bool); 6] = [
        ("version 1 without --public-key", cp.clone(), false),
        ("a note without --public-key", note.clone(), false),
        ("an unknown field", edit(&cp, |c| c["note"] = Value::from("x")), true),
        ("a note with CR LF line endings", crlf, true),
        ("a time not RFC 3339", resign(&cp, &key, |c| c["time"] = Value::from("not a time")), true),
        (
            "a head not at the tree size",
            resign(&cp, &key, |c| c["head"] = Value::from(head.replacen("14:", "13:", 1))),
            true,
        ),
    ];
    for (what, file, keyed) in rows {
        let mut args = vec!["check-proof", file.to_str().unwrap()];
        let mut py = vec!["checkpoint", file.to_str().unwrap()];
        if keyed {
            args.extend(["--public-key", &public]);
            py.extend(["--public-key", &public]);
        }
        let (code, out, _) = cli(Path::new("unused"), &args);
        assert_eq!(code, 1, "check-proof, {what}: {out}");
        let (code, out) = python(&py);
        assert_eq!(code, 1, "verify_proof.py, {what}: {out}");
    }
    assert_eq!(python(&["checkpoint", note.to_str().unwrap(), "--public-key", &public]).0, 0, "the note itself");
    both(&public, &[&resign(&cp, &key, |_| {})], true, "re-signed unchanged (the rows' control)");
    // `--out -` is standard output (as for export), not a file named `-`.
    let (code, out, err) = cli(&db, &["prove", "3", "--checkpoint", cp.to_str().unwrap(), "--out", "-"]);
    assert_eq!((code, json(&out)["seq"].as_u64()), (0, Some(3)), "{err}");
    let (code, out, err) =
        cli(&db, &["prove-consistency", cp.to_str().unwrap(), later.to_str().unwrap(), "--out", "-"]);
    assert_eq!((code, json(&out)["old_size"].as_u64()), (0, Some(14)), "{err}");
    assert!(!Path::new("-").exists(), "no file named -");
}

/// A copy of version-1 checkpoint `path` with `change` applied, signed again with the key in
/// `key` (its 32-byte seed in hex) by openssl (PKCS #8 of an Ed25519 seed).
fn resign(path: &Path, key: &Path, change: impl FnOnce(&mut Value)) -> PathBuf {
    let changed = edit(path, change);
    let script = r#"
import base64, json, subprocess, sys, tempfile, os
c = json.load(open(sys.argv[1]))
seed = bytes.fromhex(open(sys.argv[2]).read().strip())
d = tempfile.mkdtemp()
text = "tiered-ledger checkpoint v1\ntree_size %d\nroot %s\nhead %s\ntime %s\n" % (c["tree_size"], c["root"], c["head"], c["time"])
open(d + "/msg", "wb").write(text.encode())
der = bytes.fromhex("302e020100300506032b657004220420") + seed
open(d + "/key.pem", "w").write("-----BEGIN PRIVATE KEY-----\n" + base64.b64encode(der).decode() + "\n-----END PRIVATE KEY-----\n")
subprocess.run(["openssl", "pkeyutl", "-sign", "-inkey", d + "/key.pem", "-rawin", "-in", d + "/msg", "-out", d + "/sig"], check=True)
c["signature"] = open(d + "/sig", "rb").read().hex()
json.dump(c, open(sys.argv[1], "w"))
"#;
    let made = Command::new("python3").args(["-c", script]).arg(&changed).arg(key).output().unwrap();
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    changed
}

use std::os::unix::fs::PermissionsExt;

#[test]
fn consistency_proofs_for_every_pair_and_a_rewritten_log_fails() {
    let dir = tempfile::tempdir().unwrap();
    let db = ledger(dir.path(), "ledger", 0, "1.00");
    let key = dir.path().join("signing.key");
    let public = keygen(&db, &key);
    let mut checkpoints = Vec::new();
    for n in 1..=9u64 {
        let line = format!(
            r#"{{"type":"cash_deposit","id":"0d0d0d0d-0000-4000-8000-{n:012}","account":70,"amount":"{}"}}"#,
            if n == 1 { "1.00" } else { "2.00" }
        );
        assert_eq!(cli(&db, &["submit", &line]).0, 0);
        let cp = dir.path().join(format!("cp{n}.json"));
        checkpoint(&db, &key, &cp);
        checkpoints.push(cp);
    }
    for (i, old) in checkpoints.iter().enumerate() {
        for new in &checkpoints[i..] {
            let proof = dir.path().join("consistency.json");
            let _ = std::fs::remove_file(&proof);
            let (code, out, err) = cli(
                &db,
                &["prove-consistency", old.to_str().unwrap(), new.to_str().unwrap(), "--out", proof.to_str().unwrap()],
            );
            assert_eq!(code, 0, "{out}{err}");
            both(&public, &[&proof, old, new], true, "consistency");
        }
    }
    // Another ledger whose first deposit differs (a rewritten prefix), checkpointed at 5 records.
    let forged_db = ledger(dir.path(), "forged", 3, "100.00");
    let forged = dir.path().join("forged.json");
    checkpoint(&forged_db, &key, &forged);
    let last = checkpoints.last().unwrap();
    let (code, out, _) = cli(&db, &["prove-consistency", forged.to_str().unwrap(), last.to_str().unwrap()]);
    assert_eq!(code, 1, "the real log does not extend the forged one: {out}");
    // The real proof from the real checkpoint of the same size does not rescue the forged one.
    let proof = dir.path().join("real.json");
    assert_eq!(
        cli(
            &db,
            &[
                "prove-consistency",
                checkpoints[2].to_str().unwrap(),
                last.to_str().unwrap(),
                "--out",
                proof.to_str().unwrap()
            ]
        )
        .0,
        0
    );
    assert_eq!(json(&std::fs::read_to_string(&forged).unwrap())["tree_size"], 5);
    both(&public, &[&proof, &forged, last], false, "a rewritten prefix");
}

/// docs/FORMAT.md's openssl recipe checks a checkpoint's signature too (and refuses a changed one).
#[test]
fn openssl_checks_a_checkpoint_signature_as_documented() {
    let dir = tempfile::tempdir().unwrap();
    let db = ledger(dir.path(), "ledger", 2, "1.00");
    let key = dir.path().join("signing.key");
    assert_eq!(cli(&db, &["keygen", "--out", key.to_str().unwrap()]).0, 0);
    let cp = dir.path().join("cp.json");
    checkpoint(&db, &key, &cp);
    // msg, sig and key.pem as FORMAT.md says, written by Python's standard library.
    let make = r#"
import base64, json, sys
c = json.load(open(sys.argv[1]))
d = sys.argv[2]
text = "tiered-ledger checkpoint v1\ntree_size %d\nroot %s\nhead %s\ntime %s\n" % (c["tree_size"], c["root"], c["head"], c["time"])
open(d + "/msg", "wb").write(text.encode())
open(d + "/changed", "wb").write(text.replace("tree_size", "tree_size 1").encode())
open(d + "/sig", "wb").write(bytes.fromhex(c["signature"]))
pem = "MCowBQYDK2VwAyEA" + base64.b64encode(bytes.fromhex(c["public_key"])).decode()
open(d + "/key.pem", "w").write("-----BEGIN PUBLIC KEY-----\n" + pem + "\n-----END PUBLIC KEY-----\n")
"#;
    let made = Command::new("python3").args(["-c", make]).arg(&cp).arg(dir.path()).output().unwrap();
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let openssl = |message: &str| {
        Command::new("openssl")
            .args(["pkeyutl", "-verify", "-pubin", "-inkey", "key.pem", "-rawin", "-in", message, "-sigfile", "sig"])
            .current_dir(dir.path())
            .output()
            .unwrap()
    };
    let verified = openssl("msg");
    assert!(
        verified.status.success(),
        "{}{}",
        String::from_utf8_lossy(&verified.stdout),
        String::from_utf8_lossy(&verified.stderr)
    );
    assert!(!openssl("changed").status.success(), "a changed checkpoint fails under openssl too");
}

/// The same for a checkpoint note (format 2): the text above the blank line is the message, the
/// signature line's bytes after the 4-byte key id the signature.
#[test]
fn openssl_checks_a_checkpoint_note_signature_as_documented() {
    let dir = tempfile::tempdir().unwrap();
    let db = ledger(dir.path(), "ledger", 2, "1.00");
    let key = dir.path().join("signing.key");
    let public = keygen(&db, &key);
    let cp = dir.path().join("cp");
    let (code, _, err) = cli(&db, &["checkpoint", "--key", key.to_str().unwrap(), "--out", cp.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let make = r#"
import base64, sys
note = open(sys.argv[1], encoding="utf-8").read()
d = sys.argv[2]
split = note.rindex("\n\n")
text, line = note[: split + 1], note[split + 2 :].splitlines()[0]
open(d + "/msg", "wb").write(text.encode())
open(d + "/changed", "wb").write(text.replace("time 2026", "time 2027").encode())
open(d + "/sig", "wb").write(base64.b64decode(line.split(" ")[2])[4:])
pem = "MCowBQYDK2VwAyEA" + base64.b64encode(bytes.fromhex(sys.argv[3])).decode()
open(d + "/key.pem", "w").write("-----BEGIN PUBLIC KEY-----\n" + pem + "\n-----END PUBLIC KEY-----\n")
"#;
    let made = Command::new("python3").args(["-c", make]).arg(&cp).arg(dir.path()).arg(&public).output().unwrap();
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let openssl = |message: &str| {
        Command::new("openssl")
            .args(["pkeyutl", "-verify", "-pubin", "-inkey", "key.pem", "-rawin", "-in", message, "-sigfile", "sig"])
            .current_dir(dir.path())
            .output()
            .unwrap()
            .status
            .success()
    };
    assert!(openssl("msg"), "the note's signature verifies under openssl");
    assert!(!openssl("changed"), "a changed checkpoint note fails under openssl too");
}

/// Text a client chose reaches a CSV cell as data: a counterparty a spreadsheet would run as a
/// formula gets a leading `'` (statement and large-value report alike).
#[test]
fn a_counterparty_that_looks_like_a_formula_is_data_in_csv() {
    let dir = tempfile::tempdir().unwrap();
    let db = ledger(dir.path(), "ledger", 1, "1.00");
    let formula = r#"=HYPERLINK(\"http://x.invalid\",\"y\")"#;
    let inbound = format!(
        r#"{{"type":"inbound_transfer","id":"0d0d0d0d-0000-4000-8000-0000000000aa","to":70,"counterparty":"{formula}","amount":"500000.00"}}"#
    );
    let (code, out, err) = cli(&db, &["submit", &inbound]);
    assert_eq!(code, 0, "{out}{err}");
    let day = &submitted_at(&inbound)[..10];
    let (code, out, _) = cli(&db, &["statement", "70", "--from", day, "--to", day, "--format", "csv"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(r#""'=HYPERLINK(""http://x.invalid"",""y"")""#), "{out}");
    assert!(!out.contains(",=HYPERLINK") && !out.contains(",\"=HYPERLINK"), "{out}");
    let (code, out, _) = cli(&db, &["report", "large-value", "--from", day, "--to", day, "--format", "csv"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(r#""'=HYPERLINK(""http://x.invalid"",""y"")""#), "{out}");
}

#[test]
fn statements_and_balances_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let db = ledger(dir.path(), "ledger", 3, "100.50");
    let (code, out, _) = cli(&db, &["balance", "70", "--at", "2026-03-02T11:59:59+08:00"]);
    assert_eq!((code, out.trim()), (1, "account 70 was not open at 2026-03-02T11:59:59+08:00"));
    let (code, out, _) = cli(&db, &["--json", "balance", "70", "--at", "2026-03-02T12:00:00+08:00"]);
    assert_eq!((code, json(&out)["balance"].as_str()), (0, Some("102.50")));
    let (code, out, _) = cli(&db, &["--json", "statement", "70", "--from", "2026-03-02", "--to", "2026-03-02"]);
    assert_eq!(code, 0, "{out}");
    let statement = json(&out);
    assert_eq!((statement["opening"].as_str(), statement["closing"].as_str()), (Some("0.00"), Some("102.50")));
    assert_eq!(statement["lines"].as_array().unwrap().len(), 3);
    assert_eq!(statement["lines"][0]["hash"].as_str().unwrap().len(), 64);
    let (code, out, _) =
        cli(&db, &["statement", "70", "--from", "2026-03-02", "--to", "2026-03-02", "--format", "csv"]);
    assert_eq!(code, 0);
    let rows: Vec<&str> = out.lines().collect();
    assert_eq!(rows.len(), 1 + 1 + 3 + 1, "header, opening, three postings, closing: {out}");
    assert!(rows[1].contains(",opening,,,0.00,") && rows[5].contains(",closing,,,102.50,"), "{out}");
    let (code, out, _) = cli(&db, &["statement", "70", "--from", "2026-03-03", "--to", "2026-03-03"]);
    assert_eq!(code, 0);
    assert!(out.contains("opening balance") && out.contains("102.50") && out.contains("(0 postings)"), "{out}");
    let (code, _, err) = cli(&db, &["statement", "70", "--from", "2026-3-3", "--to", "2026-03-03"]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn regulatory_reports_and_rejections_that_cite_the_rule() {
    let dir = tempfile::tempdir().unwrap();
    // 50,000.00 in cash on 2026-03-02 (exactly the large-value threshold), through `ledger`.
    let db = ledger(dir.path(), "ledger", 1, "50000.00");
    let open_ii = r#"{"type":"open_account","id":"0d0d0d0d-0000-4000-8000-100000000001","account":71,"customer":7,"class":"II","binding":{"account":70},"verified_in_person":true}"#;
    let fund = r#"{"type":"internal_transfer","id":"0d0d0d0d-0000-4000-8000-100000000002","from":70,"to":71,"amount":"20000"}"#;
    let pay = r#"{"type":"payment","id":"0d0d0d0d-0000-4000-8000-100000000003","from":71,"merchant":"Metro","amount":"10000.01"}"#;
    assert_eq!(cli(&db, &["submit", open_ii]).0, 0);
    assert_eq!(cli(&db, &["submit", fund]).0, 0);
    let (code, out, _) = cli(&db, &["submit", pay]);
    assert_eq!(code, 1);
    assert!(
        out.contains("LIMIT_EXCEEDED") && out.trim_end().ends_with("; rule: pboc-2018 (银发〔2018〕16号)"),
        "{out}"
    );
    let (_, out, _) = cli(&db, &["--json", "submit", pay]);
    assert_eq!(json(&out)["rule"].as_str(), Some("pboc-2018 (银发〔2018〕16号)"), "{out}");

    let report = |kind: &str, format: &str| {
        let (code, out, err) =
            cli(&db, &["report", kind, "--from", "2026-03-02", "--to", "2026-03-02", "--format", format]);
        assert_eq!(code, 0, "{err}");
        out
    };
    let csv = report("large-value", "csv");
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows.len(), 2, "header and the one deposit: {csv}");
    assert!(rows[0].starts_with("day,customer,kind,direction,day_total,threshold,seq,hash,"), "{csv}");
    assert!(rows[1].starts_with("2026-03-02,7,cash,in,50000.00,50000.00,3,"), "{csv}");
    let hits = report("limit-hits", "csv");
    assert!(hits.contains("LIMIT_EXCEEDED,71,7,II,out/day,10000.00,0.00,10000.01"), "{hits}");
    assert!(hits.contains("rule: pboc-2018"), "{hits}");
    let all = json(&report("all", "json"));
    assert_eq!(all["large_value"].as_array().unwrap().len(), 1);
    assert_eq!(all["daily_summary"].as_array().unwrap().len(), 3);
    assert_eq!(all["large_value"][0]["hash"].as_str().unwrap().len(), 64);
    // The cited record proves against a checkpoint.
    let key = dir.path().join("key");
    assert_eq!(cli(&db, &["keygen", "--out", key.to_str().unwrap()]).0, 0);
    let cp = dir.path().join("cp.json");
    checkpoint(&db, &key, &cp);
    let proof = dir.path().join("p.json");
    let seq = all["large_value"][0]["seq"].to_string();
    let (code, _, err) =
        cli(&db, &["prove", &seq, "--checkpoint", cp.to_str().unwrap(), "--out", proof.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let proof_json = json(&std::fs::read_to_string(&proof).unwrap());
    assert_eq!(proof_json["record"]["hash"], all["large_value"][0]["hash"], "{proof_json}");
    // Bad input: a range backwards, an unknown preset.
    let (code, _, err) = cli(&db, &["report", "large-value", "--from", "2026-03-03", "--to", "2026-03-02"]);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) =
        cli(&db, &["report", "large-value", "--from", "2026-03-02", "--to", "2026-03-02", "--rules", "nope"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("neither a preset"), "{err}");
}

/// The readable event of a proof's record must say what its hashed bytes say: an amount, a
/// time, an account or a rejection reason edited in `record.event` (the hash untouched) is
/// refused by both verifiers, and `check-proof` names the field.
#[test]
fn an_edited_readable_event_is_refused_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let db = ledger(dir.path(), "ledger", 2, "4975.84");
    let refused =
        r#"{"type":"cash_withdrawal","id":"0d0d0d0d-0000-4000-8000-200000000000","account":70,"amount":"99999"}"#;
    assert_eq!(cli(&db, &["submit", refused]).0, 1, "insufficient funds: a rejection is recorded");
    let key = dir.path().join("signing.key");
    let public = keygen(&db, &key);
    let cp = dir.path().join("cp.json");
    checkpoint(&db, &key, &cp);
    let prove = |seq: u64| {
        let proof = dir.path().join(format!("p{seq}.json"));
        let (code, _, err) = cli(
            &db,
            &["prove", &seq.to_string(), "--checkpoint", cp.to_str().unwrap(), "--out", proof.to_str().unwrap()],
        );
        assert_eq!(code, 0, "{err}");
        both(&public, &[&proof, &cp], true, &format!("record {seq}"));
        proof
    };
    let (deposit, rejection) = (prove(3), prove(5));
    // (proof, what is edited, the JSON pointer into the proof, the new value, the field named)
    let edits: [(&PathBuf, &str, &str, Value, &str); 5] = [
        (&deposit, "the amount", "/record/event/body/posted/amount", Value::from("4976.84"), "amount"),
        (&deposit, "the time", "/record/event/at", Value::from("2030-01-01T00:00:00+08:00"), "record.event.at"),
        (&deposit, "the account", "/record/event/body/posted/credit/account", Value::from(71), "account"),
        (&rejection, "the reason", "/record/event/body/rejected/reason", Value::from("LIMIT_EXCEEDED"), "reason"),
        (&deposit, "an added field", "/record/event/note", Value::from("x"), "record.event.note"),
    ];
    for (proof, what, pointer, value, field) in edits {
        let original = json(&std::fs::read_to_string(proof).unwrap());
        let changed = edit(proof, |p| match p.pointer_mut(pointer) {
            Some(slot) => *slot = value.clone(),
            None => {
                let (parent, key) = pointer.rsplit_once('/').unwrap();
                assert!(p.pointer(parent).is_some(), "{pointer} not in {original}");
                p.pointer_mut(parent).unwrap().as_object_mut().unwrap().insert(key.to_owned(), value.clone());
            }
        });
        both(&public, &[&changed, &cp], false, what);
        let args = ["check-proof", changed.to_str().unwrap(), cp.to_str().unwrap(), "--public-key", &public];
        let (_, out, err) = cli(Path::new("unused"), &args);
        assert!(format!("{out}{err}").contains(field), "{what}: the message names {field}: {out}{err}");
    }
    // A forged amount named before the true one: a reader keeping the first key sees 90,000.00,
    // a parser keeping the last checks 4,975.84. A key named twice is refused by both verifiers.
    let text = std::fs::read_to_string(&deposit).unwrap();
    let forged = text.replacen(r#""amount":"4975.84""#, r#""amount":"90000.00","amount":"4975.84""#, 1).replacen(
        r#""amount": "4975.84""#,
        r#""amount": "90000.00", "amount": "4975.84""#,
        1,
    );
    assert_ne!(forged, text, "the proof names the amount");
    let twice = dir.path().join("twice.json");
    std::fs::write(&twice, forged).unwrap();
    both(&public, &[&twice, &cp], false, "a key named twice");
}

/// The origin line names the ledger: one key signing two ledgers gives two origins and two
/// verifier keys, and a checkpoint of one is refused by the other (`prove`), even where its
/// tree size and head sequence exist there.
#[test]
fn a_checkpoint_names_its_ledger() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("signing.key");
    let first = ledger(dir.path(), "first", 2, "1.00");
    assert_eq!(cli(&first, &["keygen", "--out", key.to_str().unwrap()]).0, 0);
    let second = dir.path().join("second");
    assert_eq!(common::cli_at(&second, "2026-03-02T11:00:00+08:00", &["init", "--policy", "pboc-2018"]).0, 0);
    let deposit = r#"{"type":"open_account","id":"0e0d0d0d-0000-4000-8000-000000000000","account":70,"customer":7,"class":"I","verified_in_person":true}"#;
    assert_eq!(cli(&second, &["submit", deposit]).0, 0);
    for n in 1..=2 {
        let line =
            format!(r#"{{"type":"cash_deposit","id":"0e0d0d0d-0000-4000-8000-{n:012}","account":70,"amount":"1.00"}}"#);
        assert_eq!(cli(&second, &["submit", &line]).0, 0);
    }
    let mut origins = Vec::new();
    for (db, name) in [(&first, "cp-first"), (&second, "cp-second")] {
        let out = dir.path().join(name);
        let (code, text, err) =
            cli(db, &["checkpoint", "--key", key.to_str().unwrap(), "--out", out.to_str().unwrap()]);
        assert_eq!(code, 0, "{err}");
        let note = std::fs::read_to_string(&out).unwrap();
        assert_eq!(note.lines().nth(1), Some("4"), "the same size in both");
        let origin = note.lines().next().unwrap().to_owned();
        assert!(text.contains(&format!("verifier key {origin}+")), "{text}");
        origins.push(origin);
    }
    assert_ne!(origins[0], origins[1], "two ledgers, one key, two origins");
    let (code, _, err) = cli(&second, &["prove", "2", "--checkpoint", dir.path().join("cp-first").to_str().unwrap()]);
    assert_ne!(code, 0);
    assert!(err.contains("of another ledger (origin"), "{err}");
}

/// Two ledgers from one genesis (one time, one policy) share their first record, so their trees
/// of 1 record have one root. A consistency proof from one ledger's checkpoint to the other's
/// proves nothing: `prove-consistency` refuses a checkpoint of another ledger, `check-proof` and
/// verify_proof.py refuse checkpoints of two origins (notes) or two keys (version 1).
#[test]
fn a_consistency_proof_across_two_ledgers_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (first, second) = (dir.path().join("first"), dir.path().join("second"));
    let keys = [dir.path().join("k1"), dir.path().join("k2")];
    let mut public = Vec::new();
    for key in &keys {
        let (code, out, _) = cli(&first, &["--json", "keygen", "--out", key.to_str().unwrap()]);
        assert_eq!(code, 0);
        public.push(json(&out)["public_key"].as_str().unwrap().to_owned());
    }
    let checkpoint_of = |db: &Path, name: &str, format: &str, key: &Path| {
        let out = dir.path().join(name);
        let args = ["checkpoint", "--format", format, "--key", key.to_str().unwrap(), "--out", out.to_str().unwrap()];
        let (code, _, err) = cli(db, &args);
        assert_eq!(code, 0, "{err}");
        out
    };
    for db in [&first, &second] {
        assert_eq!(cli(db, &["init", "--policy", "pboc-2018"]).0, 0);
    }
    let (first_note, second_note) = (
        checkpoint_of(&first, "first-1.note", "note", &keys[0]),
        checkpoint_of(&second, "second-1.note", "note", &keys[0]),
    );
    let first_json = checkpoint_of(&first, "first-1.json", "json", &keys[1]);
    let second_json = checkpoint_of(&second, "second-1.json", "json", &keys[0]);
    let root = |path: &Path| std::fs::read_to_string(path).unwrap().lines().nth(2).unwrap().to_owned();
    assert_eq!(root(&first_note), root(&second_note), "one genesis, one root of 1 record");
    let open = r#"{"type":"open_account","id":"0f0d0d0d-0000-4000-8000-000000000000","account":70,"customer":7,"class":"I","verified_in_person":true}"#;
    assert_eq!(cli(&second, &["submit", open]).0, 0);
    let (later_note, later_json) = (
        checkpoint_of(&second, "second-2.note", "note", &keys[0]),
        checkpoint_of(&second, "second-2.json", "json", &keys[0]),
    );
    // (old checkpoint, new checkpoint, the public key trusted, accepted, what)
    let rows: [(&PathBuf, &PathBuf, &str, bool, &str); 4] = [
        (&second_note, &later_note, &public[0], true, "the second ledger grew (notes)"),
        (&first_note, &later_note, &public[0], false, "the first ledger's note, the second's note"),
        (&second_json, &later_json, &public[0], true, "the second ledger grew (version 1)"),
        (&first_json, &later_json, &public[0], false, "version 1 signed by two keys"),
    ];
    for (old, new, public, accepted, what) in rows {
        let proof = dir.path().join("proof.json");
        let _ = std::fs::remove_file(&proof);
        let (old, new, proof_path) = (old.to_str().unwrap(), new.to_str().unwrap(), proof.to_str().unwrap());
        let (code, out, err) = cli(&second, &["prove-consistency", old, new, "--out", proof_path]);
        assert_eq!(code == 0, accepted, "prove-consistency, {what}: {out}{err}");
        if !accepted {
            assert!(format!("{out}{err}").contains("another ledger") || out.contains("two"), "{what}: {out}{err}");
            // The proof the second ledger gives from its own checkpoint of 1 record (same root).
            let own = if old.ends_with(".note") { &second_note } else { &second_json };
            let args = ["prove-consistency", own.to_str().unwrap(), new, "--out", proof_path];
            assert_eq!(cli(&second, &args).0, 0, "{what}");
        }
        let key_args: &[&str] = &["--public-key", public];
        let args = [&["check-proof", proof_path, old, new], key_args].concat();
        let (code, out, _) = cli(Path::new("unused"), &args);
        assert_eq!(code, if accepted { 0 } else { 1 }, "check-proof, {what}: {out}");
        // Version 1 signed by another key: refused already as not by the trusted key.
        let said = if old.ends_with(".json") { "another key" } else { "two logs" };
        assert!(accepted || out.contains(said), "check-proof, {what}: {out}");
        let (code, out) = python(&[&["consistency", proof_path, old, new], key_args].concat());
        assert_eq!(code, if accepted { 0 } else { 1 }, "verify_proof.py, {what}: {out}");
        assert!(accepted || out.contains(said), "verify_proof.py, {what}: {out}");
    }
}
