//! `ledger-cli witness`: an auditor's witness (docs/FORMAT.md, "Witness cosignatures"). It
//! keeps the last checkpoint it cosigned, and cosigns a new one (C2SP tlog-cosignature,
//! `cosignature/v1`) only when a consistency proof shows the log only grew since. A ledger that
//! rewrote its history (a fork, even signed with the same key) gets no cosignature.
//!
//! One run holds an exclusive lock (`STATE.lock`, beside the state) from reading the state to
//! replacing it, so overlapping runs on one state cosign one root per size at most; the state
//! is trusted only when it carries this witness's own cosignature.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use ledger_store::{Checkpoint, ConsistencyProof, Error, VerifyingKey, note};
use serde_json::json;

use crate::args::Cli;
use crate::out::{check_failed, print_json, say};
use crate::proofs::{public_key, read_checkpoint, read_json, read_key, write_text};

/// What `witness` reads.
pub struct Inputs<'a> {
    pub state: &'a Path,
    pub key: &'a Path,
    pub name: &'a str,
    pub public_key: &'a str,
    pub checkpoint: &'a Path,
    pub proof: Option<&'a Path>,
}

fn refused(why: String) -> anyhow::Error {
    Error::ProofFailed(why).into()
}

/// The state's checkpoint, when there is one: signed by the ledger's key and cosigned by this
/// witness (a file this witness did not write, such as a fork's checkpoint copied there, would
/// make it follow that fork).
fn read_state(
    inputs: &Inputs<'_>,
    ledger_key: &VerifyingKey,
    own: &VerifyingKey,
) -> anyhow::Result<Option<Checkpoint>> {
    if !inputs.state.exists() {
        crate::out::noteln!(
            "warning: no witness state at {}: first use, the checkpoint is cosigned without a consistency check",
            crate::out::safe(&inputs.state.display().to_string())
        );
        return Ok(None);
    }
    let old = read_checkpoint(inputs.state).context("the witness state")?;
    old.verify(Some(ledger_key)).context("the witness state")?;
    let Checkpoint::Note { note, .. } = &old else {
        return Err(refused("the state was not written by this witness (not a checkpoint note)".into()));
    };
    note.verify_cosignature(inputs.name, own)
        .map_err(|err| refused(format!("the state was not written by this witness: {err}")))?;
    Ok(Some(old))
}

/// The checks, in order: the new checkpoint is a note signed by the ledger's key; the last one
/// seen (if any) carries this witness's cosignature and is of the same origin; the new one is
/// not smaller; same size means same root; otherwise the consistency proof from the last one
/// to the new one holds.
fn check(inputs: &Inputs<'_>, own: &VerifyingKey, new: &Checkpoint) -> anyhow::Result<Option<Checkpoint>> {
    let ledger_key = public_key(inputs.public_key).context("--public-key")?;
    let Some(new_origin) = new.origin() else {
        return Err(refused("a witness cosigns checkpoint notes only (not version-1 JSON)".into()));
    };
    new.verify(Some(&ledger_key))?;
    let Some(old) = read_state(inputs, &ledger_key, own)? else {
        return Ok(None);
    };
    let old_origin = old.origin().unwrap_or_default();
    if old_origin != new_origin {
        return Err(refused(format!("the checkpoint is of {new_origin:?}, the witness follows {old_origin:?}")));
    }
    let ((old_size, old_root, _), (new_size, new_root, _)) = (old.parts()?, new.parts()?);
    if new_size < old_size {
        return Err(refused(format!("the log shrank: {new_size} records, the witness saw {old_size}")));
    }
    if new_size == old_size {
        if new_root != old_root {
            return Err(refused(format!("fork: another root for the same {new_size} records")));
        }
        return Ok(Some(old));
    }
    let path = inputs.proof.ok_or_else(|| anyhow::anyhow!("the log grew: give --proof (old→new consistency)"))?;
    let proof: ConsistencyProof = read_json(path, "consistency proof")?;
    proof.verify(&old, new).map_err(|err| refused(format!("fork: {err}")))?;
    Ok(Some(old))
}

pub fn run(cli: &Cli, inputs: &Inputs<'_>, out: Option<&Path>, force: bool) -> anyhow::Result<ExitCode> {
    let out = crate::proofs::out_file(out);
    note::check_name(inputs.name)?;
    let key = read_key(inputs.key)?;
    let new = read_checkpoint(inputs.checkpoint)?;
    // Held until this run returns: the state read below is the one replaced.
    let _lock = lock_state(inputs.state)?;
    let old = match check(inputs, &key.verifying_key(), &new) {
        Ok(old) => old,
        Err(err) if err.downcast_ref::<Error>().is_some() => {
            if cli.json {
                print_json(&json!({ "ok": false, "error": format!("{err:#}") }));
            } else {
                say!("REFUSED: {err:#}");
            }
            return Ok(check_failed());
        }
        Err(err) => return Err(err),
    };
    let Checkpoint::Note { tree, mut note } = new else {
        return Err(refused("a witness cosigns checkpoint notes only".into()));
    };
    let time = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .context("the system clock is before 1970")?
        .as_secs();
    note.cosign(inputs.name, &key, time);
    let text = note.to_text();
    // The state first: a crash after it leaves a witness that saw the checkpoint, never one
    // that cosigned what it does not remember.
    replace_state(inputs.state, &text)?;
    write_text(&text, out, force)?;
    let verifier = note::verifier_key(inputs.name, note::SIG_COSIGNATURE_V1, &key.verifying_key());
    let from = old.map_or("first use".to_owned(), |old| format!("{} records", old.tree_size()));
    let what =
        format!("cosigned {} at {} records (from {from}); witness verifier key: {verifier}", tree.origin, tree.size);
    match out {
        Some(_) if cli.json => {
            print_json(&json!({ "ok": true, "origin": tree.origin, "tree_size": tree.size, "verifier_key": verifier }))
        }
        Some(_) => say!("{what}"),
        // Standard output holds the cosigned checkpoint: the rest goes to standard error.
        None => crate::out::noteln!("{}", crate::out::safe(&what)),
    }
    Ok(ExitCode::SUCCESS)
}

/// `STATE.lock`, beside the state (the state itself is replaced, so it cannot carry the lock).
fn lock_path(state: &Path) -> PathBuf {
    let mut name = state.file_name().map(std::ffi::OsStr::to_os_string).unwrap_or_default();
    name.push(".lock");
    state.with_file_name(name)
}

/// An exclusive lock on `STATE.lock`, waited for; released when the file is dropped.
fn lock_state(state: &Path) -> anyhow::Result<std::fs::File> {
    let path = lock_path(state);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening the witness lock {}", path.display()))?;
    // flock(2) through rustix: std's File::lock needs Rust 1.89, above the workspace's MSRV.
    rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive)
        .with_context(|| format!("locking {}", path.display()))?;
    Ok(file)
}

/// Writes `text` to a temporary file of its own beside the state, syncs it and renames it over
/// the state.
fn replace_state(state: &Path, text: &str) -> anyhow::Result<()> {
    let dir = match state.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let mut temporary = tempfile::NamedTempFile::new_in(dir).context("creating the new witness state")?;
    temporary.write_all(text.as_bytes()).context("writing the new witness state")?;
    temporary.as_file().sync_all().context("syncing the witness state")?;
    temporary.persist(state).map_err(|err| err.error).context("replacing the witness state")?;
    Ok(())
}
