//! The ledger directory apart from RocksDB's own files: the marker that makes a directory a
//! ledger, the head witness, and permissions. Only `std::fs`; byte layouts are in `codec`.
//!
//! Invariants:
//! - Only [`finish_new`] makes a directory a ledger, after [`begin_new`] started it in an absent
//!   or empty directory and everything in it is durable: the marker comes last, so an
//!   interrupted creation leaves [`INCOMPLETE_FILE`] and no marker, which no open accepts and
//!   the next creation clears.
//! - Every open checks the marker (or, for a ledger from before the marker, RocksDB's `CURRENT`
//!   and our column families) before RocksDB touches anything.
//! - The head witness names a head that was acknowledged: it is written after a batch's fsync
//!   and before its callers are answered, so a log that ends before it has lost acknowledged
//!   records (a damaged, truncated or deleted write-ahead log).

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{DirBuilderExt, FileExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use crate::codec::{self, Hash};
use crate::error::{Error, Result};

/// The marker file: `codec::MARKER_TEXT`, written once by `create_new`.
pub(crate) const MARKER_FILE: &str = "LEDGER";
/// The marker while it is written, before its rename to [`MARKER_FILE`].
const MARKER_STAGED_FILE: &str = "LEDGER.new";
/// Present from the start of a creation (`init`, `backup`) until the marker is in place: a
/// directory holding it and no marker is an interrupted creation, never a ledger.
pub(crate) const INCOMPLETE_FILE: &str = "CREATING";
const INCOMPLETE_TEXT: &[u8] = b"tiered-ledger: being created; not a ledger until the LEDGER file exists\n";
/// The head witness file: `codec::encode_witness`, overwritten in place after every commit.
pub(crate) const WITNESS_FILE: &str = "HEAD-WITNESS";
/// The ledger directory's mode: only its owner may enter it, whatever the umask.
pub(crate) const DIR_MODE: u32 = 0o700;
/// The mode of the files the ledger writes itself.
pub(crate) const FILE_MODE: u32 = 0o600;
/// Reads of a witness that is being rewritten at that moment, before it counts as damaged.
const WITNESS_READ_ATTEMPTS: u32 = 20;

/// What an open found at the path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Found {
    /// A ledger with its marker (and so its head witness).
    Marked,
    /// A RocksDB directory without the marker: a ledger written before the marker existed, if
    /// its column families are ours (the caller checks).
    Unmarked,
}

fn io(what: &str, path: &Path, err: &std::io::Error) -> Error {
    Error::Io(format!("{what} {}: {err}", path.display()))
}

/// Starts a new ledger directory at `path`, which must be absent or empty (or hold only what an
/// interrupted creation left, which is cleared): creates it with mode 0700 (or tightens an empty
/// one to 0700) and writes [`INCOMPLETE_FILE`] first, so that until [`finish_new`] marks it,
/// the directory is an interrupted creation and never a ledger. Returns whether it created the
/// directory (for [`abandon_new`]).
pub(crate) fn begin_new(path: &Path) -> Result<bool> {
    let created = match fs::read_dir(path) {
        Ok(entries) => {
            let names = entries
                .map(|entry| entry.map(|entry| entry.file_name()))
                .collect::<std::io::Result<Vec<_>>>()
                .map_err(|err| io("reading", path, &err))?;
            if !names.is_empty() {
                clear_interrupted(path, &names)?;
            }
            false
        }
        Err(err) if err.kind() == ErrorKind::NotFound => {
            DirBuilder::new().recursive(true).mode(DIR_MODE).create(path).map_err(|err| io("creating", path, &err))?;
            true
        }
        Err(err) if err.kind() == ErrorKind::NotADirectory => {
            return Err(Error::NotALedger(format!("{} is not a directory", path.display())));
        }
        Err(err) => return Err(io("reading", path, &err)),
    };
    // The mode given to mkdir is masked by the umask, and an existing empty directory keeps its own.
    let started = restrict_dir(path)
        .and_then(|()| write_new_file(&path.join(INCOMPLETE_FILE), INCOMPLETE_TEXT))
        .and_then(|()| sync_dir(path));
    if let Err(err) = started {
        abandon_new(path, created);
        return Err(err);
    }
    Ok(created)
}

/// Marks the directory [`begin_new`] started, once everything in it is durable: the head
/// witness of `head`, then the marker (written under another name and renamed, so it is whole
/// or absent), then [`INCOMPLETE_FILE`] removed. From the rename on, it is a ledger.
pub(crate) fn finish_new(path: &Path, head: (u64, Hash)) -> Result<()> {
    write_new_file(&path.join(WITNESS_FILE), &codec::encode_witness(head.0, &head.1))?;
    let staged = path.join(MARKER_STAGED_FILE);
    write_new_file(&staged, codec::MARKER_TEXT)?;
    let marker = path.join(MARKER_FILE);
    fs::rename(&staged, &marker).map_err(|err| io("marking", path, &err))?;
    sync_dir(path)?;
    let incomplete = path.join(INCOMPLETE_FILE);
    fs::remove_file(&incomplete).map_err(|err| io("removing", &incomplete, &err))?;
    sync_dir(path)
}

/// Undoes [`begin_new`] after a failed creation (a full disk): removes the directory if it made
/// it, or empties it. Best effort: what cannot be removed is still an interrupted creation,
/// which the next [`begin_new`] clears and no open takes for a ledger.
pub(crate) fn abandon_new(path: &Path, created: bool) {
    if created {
        let _ = fs::remove_dir_all(path);
    } else if let Ok(entries) = fs::read_dir(path) {
        for entry in entries.flatten() {
            let _ =
                if entry.path().is_dir() { fs::remove_dir_all(entry.path()) } else { fs::remove_file(entry.path()) };
        }
    }
}

/// A non-empty directory handed to [`begin_new`]: cleared when it holds an interrupted
/// creation (the [`INCOMPLETE_FILE`], no marker, and only names a creation makes), else refused.
fn clear_interrupted(path: &Path, names: &[std::ffi::OsString]) -> Result<()> {
    let has = |name: &str| names.iter().any(|found| found == name);
    if has(MARKER_FILE) {
        return Err(Error::NotALedger(format!("{} already holds a ledger", path.display())));
    }
    let ours = names.iter().all(|name| name.to_str().is_some_and(made_by_creation));
    if !has(INCOMPLETE_FILE) || !ours {
        return Err(Error::NotALedger(format!(
            "{} is not empty: a new ledger needs an empty or absent directory",
            path.display()
        )));
    }
    for name in names {
        let file = path.join(name);
        let removed = if name == PROJECTED_DIR { fs::remove_dir_all(&file) } else { fs::remove_file(&file) };
        removed.map_err(|err| io("clearing the interrupted creation at", &file, &err))?;
    }
    sync_dir(path)
}

/// The projected keys' database, a directory inside a ledger's (layout 5, `store/rocks/pair.rs`).
pub(crate) const PROJECTED_DIR: &str = "projected";

/// The names a creation writes: ours, the projected keys' database, and RocksDB's (`CURRENT`, `IDENTITY`, `LOCK`, `LOG*`,
/// `MANIFEST-*`, `OPTIONS-*`, numbered `.log`, `.sst`, `.blob`, `.dbtmp` files).
fn made_by_creation(name: &str) -> bool {
    let numbered = |suffix: &str| {
        name.strip_suffix(suffix).is_some_and(|stem| !stem.is_empty() && stem.bytes().all(|b| b.is_ascii_digit()))
    };
    [INCOMPLETE_FILE, WITNESS_FILE, MARKER_STAGED_FILE, PROJECTED_DIR, "CURRENT", "IDENTITY", "LOCK", "LOG"]
        .contains(&name)
        || ["LOG.old.", "MANIFEST-", "OPTIONS-"].iter().any(|prefix| name.starts_with(prefix))
        || name.ends_with(".dbtmp")
        || [".log", ".sst", ".blob"].iter().any(|suffix| numbered(suffix))
}

/// Marks a ledger written before the marker existed (its column families were checked), with a
/// witness of its current head.
pub(crate) fn mark_existing(path: &Path, head: (u64, Hash)) -> Result<()> {
    // A witness left by a marking that stopped before the marker is replaced, not an error: the
    // directory is still unmarked, so nothing relied on it.
    let witness = path.join(WITNESS_FILE);
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(FILE_MODE)
        .open(&witness)
        .map_err(|err| io("creating", &witness, &err))?;
    file.write_all(&codec::encode_witness(head.0, &head.1)).map_err(|err| io("writing", &witness, &err))?;
    file.sync_all().map_err(|err| io("syncing", &witness, &err))?;
    write_new_file(&path.join(MARKER_FILE), codec::MARKER_TEXT)?;
    sync_dir(path)
}

/// Restricts a directory another component created (a backup) to mode 0700.
pub(crate) fn restrict_dir(path: &Path) -> Result<()> {
    fs::set_permissions(path, fs::Permissions::from_mode(DIR_MODE)).map_err(|err| io("restricting", path, &err))
}

fn write_new_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .open(path)
        .map_err(|err| io("creating", path, &err))?;
    file.write_all(bytes).map_err(|err| io("writing", path, &err))?;
    file.sync_all().map_err(|err| io("syncing", path, &err))
}

fn sync_dir(path: &Path) -> Result<()> {
    File::open(path).and_then(|dir| dir.sync_all()).map_err(|err| io("syncing", path, &err))
}

/// What is at `path`, before anything opens it: a ledger, or an error that says what it is not.
/// Nothing is created or changed.
pub(crate) fn check_existing(path: &Path) -> Result<Found> {
    let hint = "create one with `ledger-cli init` (Ledger::create)";
    let metadata = match fs::metadata(path) {
        Ok(metadata) => metadata,
        Err(err) if err.kind() == ErrorKind::NotFound => {
            return Err(Error::NotALedger(format!("no ledger at {}: it does not exist; {hint}", path.display())));
        }
        Err(err) => return Err(io("reading", path, &err)),
    };
    if !metadata.is_dir() {
        return Err(Error::NotALedger(format!("no ledger at {}: it is not a directory", path.display())));
    }
    let has_current = path.join("CURRENT").exists();
    match fs::read(path.join(MARKER_FILE)) {
        Ok(bytes) if bytes == codec::MARKER_TEXT => {
            if !has_current {
                return Err(Error::Damaged(format!(
                    "{} is a ledger but RocksDB's CURRENT file is missing; nothing was opened or changed. \
                     Restore the last backup (see docs/RELIABILITY.md)",
                    path.display()
                )));
            }
            Ok(Found::Marked)
        }
        Ok(_) => Err(Error::NotALedger(format!(
            "{} has a {MARKER_FILE} file that is not a tiered-ledger marker (or of an unknown format)",
            path.display()
        ))),
        Err(err) if err.kind() == ErrorKind::NotFound => {
            if path.join(INCOMPLETE_FILE).exists() {
                return Err(Error::NotALedger(format!(
                    "no ledger at {}: its creation (`init` or `backup`) was interrupted before it was complete, \
                     so nothing in it was ever recorded: for an `init`, run `ledger-cli init` on it again (it \
                     clears what is there); for a `backup`, remove it and take the backup again",
                    path.display()
                )));
            }
            if has_current {
                return Ok(Found::Unmarked);
            }
            let empty = fs::read_dir(path).map_err(|err| io("reading", path, &err))?.next().is_none();
            let what = if empty { "the directory is empty" } else { "the directory holds no ledger marker" };
            Err(Error::NotALedger(format!("no ledger at {}: {what}; {hint}", path.display())))
        }
        Err(err) => Err(io("reading", &path.join(MARKER_FILE), &err)),
    }
}

/// The head witness of a marked ledger (`None` for an unmarked one). A missing or undecodable
/// witness is damage: the directory was tampered with or only partly restored.
pub(crate) fn read_witness(path: &Path, found: Found) -> Result<Option<(u64, Hash)>> {
    if found == Found::Unmarked {
        return Ok(None);
    }
    let file = path.join(WITNESS_FILE);
    for attempt in 0..WITNESS_READ_ATTEMPTS {
        match fs::read(&file) {
            Ok(bytes) => {
                if let Some(head) = codec::decode_witness(&bytes) {
                    return Ok(Some(head));
                }
                // A reader may meet the writer's in-place rewrite: read again before judging.
                std::thread::sleep(std::time::Duration::from_millis(u64::from(attempt) + 1));
            }
            Err(err) if err.kind() == ErrorKind::NotFound => {
                return Err(Error::Damaged(format!(
                    "{} is missing: the ledger directory was tampered with or only partly restored. \
                     Restore the last backup (see docs/RELIABILITY.md)",
                    file.display()
                )));
            }
            Err(err) => return Err(io("reading", &file, &err)),
        }
    }
    Err(Error::Damaged(format!("{} does not check out (length or checksum)", file.display())))
}

/// The writer's handle on the head witness.
#[derive(Debug)]
pub(crate) struct Witness {
    file: File,
}

impl Witness {
    pub(crate) fn open(path: &Path) -> Result<Witness> {
        let file_path = path.join(WITNESS_FILE);
        let file = OpenOptions::new().write(true).open(&file_path).map_err(|err| io("opening", &file_path, &err))?;
        Ok(Witness { file })
    }

    /// Records `head` as acknowledged (one positioned write; no fsync: a process crash keeps it,
    /// and [`Witness::sync`] makes it durable on close).
    pub(crate) fn record(&self, seq: u64, hash: &Hash) -> Result<()> {
        self.file
            .write_all_at(&codec::encode_witness(seq, hash), 0)
            .map_err(|err| Error::Io(format!("recording the head witness: {err}")))
    }

    pub(crate) fn sync(&self) -> Result<()> {
        self.file.sync_data().map_err(|err| Error::Io(format!("syncing the head witness: {err}")))
    }
}
