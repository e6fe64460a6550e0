//! Auditors' proofs: `keygen`, `checkpoint`, `prove`, `prove-consistency`, `check-proof`
//! (docs/FORMAT.md, "Checkpoints and proofs"; tools/verify_proof.py checks the same files).

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use ledger_store::{
    CONSISTENCY_FORMAT, Checkpoint, ConsistencyProof, INCLUSION_FORMAT, InclusionProof, SigningKey, VerifyingKey,
    signing_key_from_hex,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::args::Cli;
use crate::open::open_reader;
use crate::out::{self, check_failed, print_json, say};

fn read_json<T: DeserializeOwned>(path: &Path, what: &str) -> anyhow::Result<T> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading the {what} {}", path.display()))?;
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
    match out {
        Some(path) => out::create_private(path, force)?.write_all(text.as_bytes()).context("writing the file")?,
        None => print!("{text}"),
    }
    Ok(())
}

fn trusted_key(hex_key: Option<&str>) -> anyhow::Result<Option<VerifyingKey>> {
    hex_key
        .map(|text| {
            let mut bytes = [0u8; 32];
            hex::decode_to_slice(text.trim(), &mut bytes).context("--public-key takes 64 hex digits")?;
            VerifyingKey::from_bytes(&bytes).context("--public-key is not an Ed25519 key")
        })
        .transpose()
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

pub fn checkpoint(cli: &Cli, key_path: &Path, out_path: Option<&Path>, force: bool) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(key_path).with_context(|| format!("reading the key {}", key_path.display()))?;
    let key = signing_key_from_hex(&text)?;
    let reader = open_reader(cli)?;
    let checkpoint = reader.checkpoint(&key, reader.now())?;
    write_json(&checkpoint, out_path, force)?;
    if let Some(path) = out_path {
        say!("checkpoint of {} records (head {}) written to {}", checkpoint.tree_size, checkpoint.head, path.display());
    }
    Ok(ExitCode::SUCCESS)
}

pub fn prove(
    cli: &Cli,
    seq: u64,
    checkpoint_path: &Path,
    out_path: Option<&Path>,
    force: bool,
) -> anyhow::Result<ExitCode> {
    let checkpoint: Checkpoint = read_json(checkpoint_path, "checkpoint")?;
    checkpoint.verify(None)?;
    let reader = open_reader(cli)?;
    reader.check_checkpoint(&checkpoint).context("the checkpoint is not of this ledger")?;
    if seq == 0 || seq > checkpoint.tree_size {
        bail!("record {seq} is not in the checkpoint's tree (records 1 to {})", checkpoint.tree_size);
    }
    let mut line = Vec::new();
    reader.export(seq, Some(seq), &mut line)?;
    let proof = InclusionProof {
        format: INCLUSION_FORMAT.into(),
        seq,
        tree_size: checkpoint.tree_size,
        record: serde_json::from_slice(&line)?,
        path: reader.inclusion_proof(seq, checkpoint.tree_size)?.iter().map(hex::encode).collect(),
    };
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
    let old: Checkpoint = read_json(old_path, "checkpoint")?;
    let new: Checkpoint = read_json(new_path, "checkpoint")?;
    old.verify(None)?;
    new.verify(None)?;
    if old.tree_size > new.tree_size {
        bail!("the old checkpoint ({} records) is larger than the new one ({})", old.tree_size, new.tree_size);
    }
    let reader = open_reader(cli)?;
    reader.check_checkpoint(&new).context("the new checkpoint is not of this ledger")?;
    let proof = ConsistencyProof {
        format: CONSISTENCY_FORMAT.into(),
        old_size: old.tree_size,
        new_size: new.tree_size,
        path: reader.consistency_proof(old.tree_size, new.tree_size)?.iter().map(hex::encode).collect(),
    };
    if let Err(err) = proof.verify(&old, &new) {
        // The old checkpoint's root is not this log's at that size: its log was rewritten since.
        say!("FAILED: {err}: the log at the old checkpoint differs from this ledger's");
        return Ok(check_failed());
    }
    write_json(&proof, out_path, force)?;
    Ok(ExitCode::SUCCESS)
}

/// Checks files without the ledger: a checkpoint's signature, and a proof against checkpoints.
pub fn check_proof(cli: &Cli, files: &[std::path::PathBuf], public_key: Option<&str>) -> anyhow::Result<ExitCode> {
    let trusted = trusted_key(public_key)?;
    let result = (|| -> anyhow::Result<String> {
        match files {
            [checkpoint] => {
                let checkpoint: Checkpoint = read_json(checkpoint, "checkpoint")?;
                checkpoint.verify(trusted.as_ref())?;
                Ok(format!("checkpoint of {} records, head {}: signature valid", checkpoint.tree_size, checkpoint.head))
            }
            [proof, checkpoint] => {
                let proof: InclusionProof = read_json(proof, "inclusion proof")?;
                let checkpoint: Checkpoint = read_json(checkpoint, "checkpoint")?;
                checkpoint.verify(trusted.as_ref())?;
                proof.verify(&checkpoint)?;
                Ok(format!("record {} is in the checkpoint's tree of {} records", proof.seq, proof.tree_size))
            }
            [proof, old, new] => {
                let proof: ConsistencyProof = read_json(proof, "consistency proof")?;
                let (old, new): (Checkpoint, Checkpoint) =
                    (read_json(old, "checkpoint")?, read_json(new, "checkpoint")?);
                old.verify(trusted.as_ref())?;
                new.verify(trusted.as_ref())?;
                proof.verify(&old, &new)?;
                Ok(format!("the log of {} records extends the log of {}", proof.new_size, proof.old_size))
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
