//! Auditors' proofs: `keygen`, `checkpoint`, `checkpoints` (the recorded ones), `prove`, `prove-consistency`, `check-proof`
//! (docs/FORMAT.md, "Checkpoints and proofs"; tools/verify_proof.py checks the same files).

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use ledger_store::{
    Checkpoint, ConsistencyProof, InclusionProof, SigningKey, VerifyingKey, note, signing_key_from_hex,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::args::Cli;
use crate::open::open_reader;
use crate::out::{self, check_failed, print_json, say};

/// Reads a checkpoint file (a signed note, or a version-1 JSON file). A malformed one is a
/// failed check (exit 1), like an edited field, not an unreadable file.
pub fn read_checkpoint(path: &Path) -> anyhow::Result<Checkpoint> {
    let text = crate::out::read_small(path).with_context(|| format!("reading the checkpoint {}", path.display()))?;
    Checkpoint::parse(&text)
        .map_err(|err| ledger_store::Error::ProofFailed(format!("the checkpoint {}: {err}", path.display())).into())
}

pub fn read_json<T: DeserializeOwned>(path: &Path, what: &str) -> anyhow::Result<T> {
    let text = crate::out::read_small(path).with_context(|| format!("reading the {what} {}", path.display()))?;
    // A key named twice could show a reader one value and the check another: refused.
    // A failed check (exit 1), like an edited field, not an unreadable file.
    ledger_core::refuse_duplicate_keys(&text)
        .map_err(|err| ledger_store::Error::ProofFailed(format!("the {what} {}: {err}", path.display())))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not a {what}", path.display()))
}

/// Writes `value` as pretty JSON to `out` (created privately, no clobber unless `force`) or
/// standard output.
fn write_json(value: &impl Serialize, out: Option<&Path>, force: bool) -> anyhow::Result<()> {
    let mut text = serde_json::to_string_pretty(value)?;
    text.push('\n');
    write_text(&text, out, force)
}

/// `--out FILE`, with `-` for standard output (as `export`): `None`.
pub fn out_file(out: Option<&Path>) -> Option<&Path> {
    out.filter(|path| *path != Path::new("-"))
}

/// Writes `text` to `out` (created privately, no clobber unless `force`) or standard output.
pub fn write_text(text: &str, out: Option<&Path>, force: bool) -> anyhow::Result<()> {
    match out {
        Some(path) => out::create_private(path, force)?.write_all(text.as_bytes()).context("writing the file")?,
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()).context("writing to standard output")?
        }
    }
    Ok(())
}

/// An Ed25519 public key from 64 hex digits.
pub fn public_key(text: &str) -> anyhow::Result<VerifyingKey> {
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(text.trim(), &mut bytes).context("a public key is 64 hex digits")?;
    VerifyingKey::from_bytes(&bytes).context("not an Ed25519 public key")
}

/// A signing key from its key file.
pub fn read_key(path: &Path) -> anyhow::Result<SigningKey> {
    let text = crate::out::read_small(path).with_context(|| format!("reading the key {}", path.display()))?;
    Ok(signing_key_from_hex(&text)?)
}

pub fn keygen(cli: &Cli, out_path: &Path, force: bool) -> anyhow::Result<ExitCode> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|err| anyhow::anyhow!("no randomness from the system: {err}"))?;
    let key = SigningKey::from_bytes(&seed);
    let mut file = out::create_private(out_path, force)?;
    writeln!(file, "{}", hex::encode(seed)).context("writing the key")?;
    file.sync_all().context("writing the key")?;
    let public = hex::encode(key.verifying_key().as_bytes());
    if cli.json {
        print_json(&json!({ "key_file": out_path, "public_key": public }));
    } else {
        say!("signing key written to {} (mode 0600; keep it secret)", out_path.display());
        say!("public key (give it to auditors): {public}");
    }
    Ok(ExitCode::SUCCESS)
}

pub fn checkpoint(
    cli: &Cli,
    key_path: &Path,
    json: bool,
    out_path: Option<&Path>,
    force: bool,
) -> anyhow::Result<ExitCode> {
    let out_path = out_file(out_path);
    let key = read_key(key_path)?;
    let reader = open_reader(cli)?;
    let checkpoint = reader.checkpoint(&key, reader.now(), json)?;
    write_text(&checkpoint.to_text()?, out_path, force)?;
    let verifier = checkpoint
        .origin()
        .map(|origin| format!("; verifier key {}", note::verifier_key(origin, note::SIG_ED25519, &key.verifying_key())))
        .unwrap_or_default();
    match out_path {
        Some(path) => say!("checkpoint of {} records written to {}{verifier}", checkpoint.tree_size(), path.display()),
        // Standard output holds the checkpoint: the rest goes to standard error.
        None => crate::out::noteln!("checkpoint of {} records{verifier}", checkpoint.tree_size()),
    }
    Ok(ExitCode::SUCCESS)
}

/// `checkpoints`: every checkpoint the writer recorded; with `size`, the signed note of that one.
pub fn checkpoints(cli: &Cli, size: Option<u64>, out_path: Option<&Path>, force: bool) -> anyhow::Result<ExitCode> {
    let reader = open_reader(cli)?;
    let Some(size) = size else {
        let found = reader.recorded_checkpoints(1, u64::MAX)?;
        let signed = |note: &Option<String>| if note.is_some() { "signed" } else { "unsigned" };
        if cli.json {
            let list: Vec<_> = found
                .iter()
                .map(|c| json!({ "seq": c.seq, "size": c.size, "root": c.root, "time": c.at, "signed": c.note.is_some() }))
                .collect();
            print_json(&json!({ "checkpoints": list }));
        } else {
            for c in &found {
                say!("seq {}  size {}  root {}  {}  {}", c.seq, c.size, c.root, c.at, signed(&c.note));
            }
            say!("{} recorded checkpoint(s)", found.len());
        }
        return Ok(ExitCode::SUCCESS);
    };
    let Some(found) = reader.recorded_checkpoint(size)? else {
        let (below, above) = reader.nearest_recorded_sizes(size)?;
        let name = |size: Option<u64>| {
            size.map_or(format!("none within {} records", ledger_store::RECORDED_CHECKPOINT_SEARCH_MAX), |size| {
                size.to_string()
            })
        };
        bail!("no checkpoint of size {size} is recorded (nearest: {} below, {} above)", name(below), name(above));
    };
    let Some(text) = found.note else {
        bail!("the checkpoint of size {size} (seq {}) is unsigned: root {}", found.seq, found.root);
    };
    write_text(&text, out_file(out_path), force)?;
    Ok(ExitCode::SUCCESS)
}

pub fn prove(
    cli: &Cli,
    seq: u64,
    checkpoint_path: &Path,
    out_path: Option<&Path>,
    force: bool,
) -> anyhow::Result<ExitCode> {
    let out_path = out_file(out_path);
    let checkpoint = read_checkpoint(checkpoint_path)?;
    verify_unless_note(&checkpoint)?;
    let reader = open_reader(cli)?;
    reader.check_checkpoint(&checkpoint).context("the checkpoint is not of this ledger")?;
    let size = checkpoint.tree_size();
    if seq == 0 || seq > size {
        bail!("record {seq} is not in the checkpoint's tree (records 1 to {size})");
    }
    let proof = reader.inclusion_proof_document(seq, size)?;
    proof.verify(&checkpoint).context("the proof made does not check out")?;
    write_json(&proof, out_path, force)?;
    Ok(ExitCode::SUCCESS)
}

pub fn prove_consistency(
    cli: &Cli,
    old_path: &Path,
    new_path: &Path,
    out_path: Option<&Path>,
    force: bool,
) -> anyhow::Result<ExitCode> {
    let out_path = out_file(out_path);
    let old = read_checkpoint(old_path)?;
    let new = read_checkpoint(new_path)?;
    verify_unless_note(&old)?;
    verify_unless_note(&new)?;
    let (old_size, new_size) = (old.tree_size(), new.tree_size());
    if old_size > new_size {
        bail!("the old checkpoint ({old_size} records) is larger than the new one ({new_size})");
    }
    let reader = open_reader(cli)?;
    reader.check_checkpoint(&new).context("the new checkpoint is not of this ledger")?;
    // Both must be this ledger's: another ledger's old checkpoint may share a prefix (one
    // genesis), and a proof between two logs proves nothing.
    reader.check_origin(&old).context("the old checkpoint is not of this ledger")?;
    let proof = reader.consistency_proof_document(old_size, new_size)?;
    if let Err(err) = proof.verify(&old, &new) {
        // The old checkpoint's root is not this log's at that size: its log was rewritten since.
        say!("FAILED: {err}: the log at the old checkpoint differs from this ledger's");
        return Ok(check_failed());
    }
    write_json(&proof, out_path, force)?;
    Ok(ExitCode::SUCCESS)
}

/// A version-1 file names its key: its signature is checked (it was not changed). A note
/// names none; the ledger itself vouches for it ([`ledger_store::Reader::check_checkpoint`]).
fn verify_unless_note(checkpoint: &Checkpoint) -> anyhow::Result<()> {
    if let Checkpoint::Json(json) = checkpoint {
        json.verify(None)?;
    }
    Ok(())
}

/// Checks a checkpoint's signature by `trusted` and the cosignatures of `witnesses`
/// (`NAME=HEX`).
fn verify_checkpoint(
    checkpoint: &Checkpoint,
    trusted: Option<&VerifyingKey>,
    witnesses: &[(String, VerifyingKey)],
) -> anyhow::Result<()> {
    checkpoint.verify(trusted)?;
    for (name, key) in witnesses {
        match checkpoint {
            Checkpoint::Note { note, .. } => {
                note.verify_cosignature(name, key)?;
            }
            Checkpoint::Json(_) => {
                Err(ledger_store::Error::ProofFailed("a version-1 checkpoint carries no cosignatures".into()))?
            }
        }
    }
    Ok(())
}

/// Checks files without the ledger: a checkpoint's signature, and a proof against checkpoints.
pub fn check_proof(
    cli: &Cli,
    files: &[std::path::PathBuf],
    public_key_hex: Option<&str>,
    witness_keys: &[String],
) -> anyhow::Result<ExitCode> {
    let trusted = public_key_hex.map(public_key).transpose().context("--public-key")?;
    let witnesses = witness_keys
        .iter()
        .map(|text| {
            let (name, key) = text.split_once('=').context("--witness takes NAME=HEX")?;
            Ok((name.to_owned(), public_key(key).context("--witness")?))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let trusted = trusted.as_ref();
    // Which log, and whether cosignatures were checked: said with every OK.
    let of = |checkpoint: &Checkpoint| {
        let origin = checkpoint.origin().map_or("a version-1 checkpoint (no origin)".to_owned(), |o| format!("{o:?}"));
        let names: Vec<&str> = witnesses.iter().map(|(name, _)| name.as_str()).collect();
        let cosigned = if names.is_empty() {
            "no cosignature checked".to_owned()
        } else {
            format!("cosigned by {}", names.join(", "))
        };
        format!(" (of {origin}; {cosigned})")
    };
    let result = (|| -> anyhow::Result<String> {
        match files {
            [checkpoint] => {
                let checkpoint = read_checkpoint(checkpoint)?;
                verify_checkpoint(&checkpoint, trusted, &witnesses)?;
                let (size, _, head) = checkpoint.parts()?;
                Ok(format!("checkpoint of {size} records, head {}: signature valid{}", head.to_text(), of(&checkpoint)))
            }
            [proof, checkpoint] => {
                let proof: InclusionProof = read_json(proof, "inclusion proof")?;
                let checkpoint = read_checkpoint(checkpoint)?;
                verify_checkpoint(&checkpoint, trusted, &witnesses)?;
                proof.verify(&checkpoint)?;
                Ok(format!(
                    "record {} is in the checkpoint's tree of {} records{}",
                    proof.seq,
                    proof.tree_size,
                    of(&checkpoint)
                ))
            }
            [proof, old, new] => {
                let proof: ConsistencyProof = read_json(proof, "consistency proof")?;
                let (old, new) = (read_checkpoint(old)?, read_checkpoint(new)?);
                verify_checkpoint(&old, trusted, &witnesses)?;
                verify_checkpoint(&new, trusted, &witnesses)?;
                proof.verify(&old, &new)?;
                Ok(format!("the log of {} records extends the log of {}{}", proof.new_size, proof.old_size, of(&new)))
            }
            _ => bail!("give CHECKPOINT, or PROOF CHECKPOINT, or PROOF OLD NEW"),
        }
    })();
    match result {
        Ok(what) => {
            if cli.json {
                print_json(&json!({ "ok": true, "checked": what }));
            } else {
                say!("OK: {what}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(err) if err.downcast_ref::<ledger_store::Error>().is_some() => {
            if cli.json {
                print_json(&json!({ "ok": false, "error": format!("{err:#}") }));
            } else {
                say!("FAILED: {err:#}");
            }
            Ok(check_failed())
        }
        Err(err) => Err(err),
    }
}
