//! `ledger-cli witness`: an auditor's witness (docs/FORMAT.md, "Witness cosignatures"). It
//! keeps the last checkpoint it cosigned, and cosigns a new one (C2SP tlog-cosignature,
//! `cosignature/v1`) only when a consistency proof shows the log only grew since. A ledger that
//! rewrote its history (a fork, even signed with the same key) gets no cosignature.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use ledger_store::{Checkpoint, ConsistencyProof, Error, note};
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

/// The checks, in order: the new checkpoint is a note signed by the ledger's key; the last one
/// seen (if any) is of the same origin; the new one is not smaller; same size means same root;
/// otherwise the consistency proof from the last one to the new one holds.
fn check(inputs: &Inputs<'_>, new: &Checkpoint) -> anyhow::Result<Option<Checkpoint>> {
    let ledger_key = public_key(inputs.public_key).context("--public-key")?;
    if !matches!(new, Checkpoint::Note { .. }) {
        return Err(refused("a witness cosigns checkpoint notes only (not version-1 JSON)".into()));
    }
    new.verify(Some(&ledger_key))?;
    if !inputs.state.exists() {
        return Ok(None);
    }
    let old = read_checkpoint(inputs.state).context("the witness state")?;
    old.verify(Some(&ledger_key)).context("the witness state")?;
    if old.origin() != new.origin() {
        return Err(refused(format!(
            "the checkpoint is of {:?}, the witness follows {:?}",
            new.origin(),
            old.origin()
        )));
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
    note::check_name(inputs.name)?;
    let key = read_key(inputs.key)?;
    let new = read_checkpoint(inputs.checkpoint)?;
    let old = match check(inputs, &new) {
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
    let temporary = inputs.state.with_extension("new");
    std::fs::write(&temporary, &text).with_context(|| format!("writing {}", temporary.display()))?;
    std::fs::File::open(&temporary).and_then(|file| file.sync_all()).context("syncing the witness state")?;
    std::fs::rename(&temporary, inputs.state).context("replacing the witness state")?;
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
        None => eprintln!("{}", crate::out::safe(&what)),
    }
    Ok(ExitCode::SUCCESS)
}
