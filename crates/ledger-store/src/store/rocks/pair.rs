//! The embedded engine's two databases (layout 5): the log's, whose synced write acknowledges a
//! batch, and the projected keys' own in `projected/` beside it, with its own write-ahead log and
//! write queue, so the projector's inserts and the history index's flushes and merges never
//! queue ahead of a commit (docs/PERFORMANCE.md, "Issue 29: the projected keys in a database of
//! their own"). Which key lives where, staging a write over both, and the conversion of a
//! layout-4 ledger (one database) are here.
//!
//! Invariants:
//! - The projected keys are the `accounts`, `customers` and `history` tables and `meta/projected`;
//!   the mark is written in the same atomic write as the keys it covers (one database).
//! - A write is applied to the log's database first, then the projected keys' (a staged write
//!   holding both is a conversion or a rebuild): the projector gets a batch's job only after its
//!   synced commit, so the projected keys' database never holds a batch the log lost.
//! - A reader opens the projected keys' database before the log's: what it sees projected is in
//!   the log it sees (`projected <= head`).
//! - A ledger before layout 5 has one database (`projected` is `None`): every key is in it.

use std::path::{Path, PathBuf};

use rocksdb::{ColumnFamily, ColumnFamilyDescriptor, DB, DBRecoveryMode, SstFileWriter, WriteBatch};

use super::{Tuning, cf, db_options, tables, write};
use crate::codec;
use crate::error::{Error, Result};
use crate::layout::PROJECTED_DIR;
use crate::options::{OPEN_WORK_EVERY, OpenWork};
use crate::store::{CF_ACCOUNTS, CF_CUSTOMERS, CF_HISTORY, CF_META, META_FORMAT, META_HEAD, META_PROJECTED, Table};

/// The column families of the projected keys' database, in [`projected_index`] order.
const PROJECTED_FAMILIES: [&str; 4] = [CF_ACCOUNTS, CF_CUSTOMERS, CF_HISTORY, CF_META];

/// The tables whose every key is a projected key.
const PROJECTED_TABLES: [Table; 3] = [Table::History, Table::Customers, Table::Accounts];

/// Where `table` sits among [`PROJECTED_FAMILIES`] (`meta` holds the mark alone).
fn projected_index(table: Table) -> Option<usize> {
    match table {
        Table::Accounts => Some(0),
        Table::Customers => Some(1),
        Table::History => Some(2),
        Table::Meta => Some(3),
        Table::Log | Table::Answered => None,
    }
}

/// Whether `key` of `table` is a projected key.
fn is_projected(table: Table, key: &[u8]) -> bool {
    PROJECTED_TABLES.contains(&table) || (table == Table::Meta && key == META_PROJECTED)
}

/// The projected keys' database of the ledger at `path`.
fn projected_path(path: &Path) -> PathBuf {
    path.join(PROJECTED_DIR)
}

/// The embedded engine: the log's database and (layout 5) the projected keys'.
#[derive(Debug)]
pub(in crate::store) struct Rocks {
    /// `log`, `meta`, `answered`; before layout 5 also the projected keys.
    pub(in crate::store) main: DB,
    /// The projected keys, from layout 5.
    pub(in crate::store) projected: Option<DB>,
}

impl Rocks {
    /// The database that holds `key` of `table`.
    pub(in crate::store) fn db_of(&self, table: Table, key: &[u8]) -> &DB {
        match &self.projected {
            Some(projected) if is_projected(table, key) => projected,
            _ => &self.main,
        }
    }
    /// The database a walk over `table` reads (`meta`'s walks never cover the mark alone).
    pub(in crate::store) fn db_of_table(&self, table: Table) -> &DB {
        match &self.projected {
            Some(projected) if PROJECTED_TABLES.contains(&table) => projected,
            _ => &self.main,
        }
    }
    /// An empty write over both databases.
    pub(in crate::store) fn batch(&self) -> Result<Batch<'_>> {
        let projected = match &self.projected {
            None => None,
            Some(db) => {
                let mut families = Vec::with_capacity(PROJECTED_FAMILIES.len());
                for name in PROJECTED_FAMILIES {
                    families.push(cf(db, name)?);
                }
                Some((WriteBatch::default(), families))
            }
        };
        Ok(Batch { main: WriteBatch::default(), tables: tables(&self.main)?, projected })
    }
    /// Writes `sealed`: the log's database first, then the projected keys'.
    pub(in crate::store) fn write(&self, sealed: SealedBatch, sync: bool) -> Result<()> {
        let SealedBatch { main, projected } = sealed;
        let projected = projected.filter(|batch| !batch.is_empty());
        if !main.is_empty() || projected.is_none() {
            write(&self.main, main, sync)?;
        }
        if let (Some(batch), Some(db)) = (projected, &self.projected) {
            write(db, batch, sync)?;
        }
        Ok(())
    }
    /// Flushes both databases' memtables.
    pub(in crate::store) fn flush(&self) -> Result<()> {
        super::flush(&self.main)?;
        if let Some(db) = &self.projected {
            for name in PROJECTED_FAMILIES {
                db.flush_cf(cf(db, name)?)?;
            }
        }
        Ok(())
    }
    /// Syncs the projected keys' write-ahead log (what the projector wrote so far survives a
    /// power loss).
    pub(in crate::store) fn sync_projected(&self) -> Result<()> {
        match &self.projected {
            Some(db) => Ok(db.flush_wal(true)?),
            None => Ok(()),
        }
    }
    /// Empties the projected tables (their files discarded, damaged blocks included).
    pub(in crate::store) fn recreate_projected(&mut self) -> Result<()> {
        let names = [CF_HISTORY, CF_CUSTOMERS, CF_ACCOUNTS];
        match &mut self.projected {
            Some(db) => super::recreate(db, &names),
            None => super::recreate(&mut self.main, &names),
        }
    }
}

/// A write staged over both databases.
pub(in crate::store) struct Batch<'a> {
    main: WriteBatch,
    tables: [&'a ColumnFamily; 6],
    projected: Option<(WriteBatch, Vec<&'a ColumnFamily>)>,
}

impl Batch<'_> {
    /// The batch and column family that take `key` of `table`.
    fn target(&mut self, table: Table, key: &[u8]) -> (&mut WriteBatch, &ColumnFamily) {
        match (&mut self.projected, projected_index(table)) {
            (Some((batch, families)), Some(index)) if is_projected(table, key) => (batch, families[index]),
            _ => (&mut self.main, self.tables[table as usize]),
        }
    }
    pub(in crate::store) fn put(&mut self, table: Table, key: &[u8], value: &[u8]) {
        let (batch, family) = self.target(table, key);
        batch.put_cf(family, key, value);
    }
    pub(in crate::store) fn delete(&mut self, table: Table, key: &[u8]) {
        let (batch, family) = self.target(table, key);
        batch.delete_cf(family, key);
    }
    /// Deletes the keys of `table` in `[from, to)` (a range of `meta` never covers the mark).
    pub(in crate::store) fn delete_range(&mut self, table: Table, from: &[u8], to: &[u8]) {
        let (batch, family) =
            if PROJECTED_TABLES.contains(&table) { self.target(table, from) } else { self.target(table, &[]) };
        batch.delete_range_cf(family, from, to);
    }
    pub(in crate::store) fn len(&self) -> usize {
        self.main.len() + self.projected.as_ref().map_or(0, |(batch, _)| batch.len())
    }
    pub(in crate::store) fn seal(self) -> SealedBatch {
        SealedBatch { main: self.main, projected: self.projected.map(|(batch, _)| batch) }
    }
}

/// A [`Batch`] closed for further writes: owned and `Send`, for the committer thread.
pub(in crate::store) struct SealedBatch {
    main: WriteBatch,
    projected: Option<WriteBatch>,
}

fn descriptors(tuning: Tuning) -> impl Iterator<Item = ColumnFamilyDescriptor> {
    PROJECTED_FAMILIES.iter().map(move |name| ColumnFamilyDescriptor::new(*name, tuning.cf_options(name)))
}

/// Options of the projected keys' database: its write-ahead log is recovered to the last whole
/// write (what a crash cut short is projected again from the log at the next writer's open).
fn options(tuning: Tuning) -> rocksdb::Options {
    db_options(DBRecoveryMode::PointInTime, tuning.wal_bytes_max(PROJECTED_WAL_BYTES_MAX))
}

/// The projected keys' database: write-ahead logs kept before the column families holding the
/// oldest are flushed. Larger than the log's: a tighter bound flushed the account rows early
/// (16 MiB: 7% slower at 2M accounts), and each of their flushes rewrites more of the level below.
const PROJECTED_WAL_BYTES_MAX: u64 = 32 << 20;

/// Creates the projected keys' database of the ledger whose log's database is `main` at `path`
/// (which must not have one), paired with it ([`PAIR_KEY`]).
pub(in crate::store) fn create(main: &DB, path: &Path, tuning: Tuning) -> Result<DB> {
    let mut options = options(tuning);
    options.create_if_missing(true);
    options.set_error_if_exists(true);
    options.create_missing_column_families(true);
    // Private like the ledger's directory (RocksDB would make it under the process's umask).
    let dir = projected_path(path);
    std::os::unix::fs::DirBuilderExt::mode(&mut std::fs::DirBuilder::new(), crate::layout::DIR_MODE)
        .create(&dir)
        .map_err(|err| Error::Io(format!("creating {}: {err}", dir.display())))?;
    let projected = DB::open_cf_descriptors(&options, dir, descriptors(tuning))?;
    let pair = *uuid::Uuid::new_v4().as_bytes();
    let mut batch = WriteBatch::default();
    batch.put_cf(cf(&projected, CF_META)?, PAIR_KEY, pair);
    write(&projected, batch, true)?;
    let mut batch = WriteBatch::default();
    batch.put_cf(cf(main, CF_META)?, MAIN_PAIR_KEY, pair);
    write(main, batch, true)?;
    Ok(projected)
}

/// Opens the projected keys' database of the ledger at `path` for writing.
pub(in crate::store) fn open(path: &Path, tuning: Tuning) -> Result<DB> {
    let dir = projected_path(path);
    if !dir.is_dir() {
        return Err(missing(&dir));
    }
    DB::open_cf_descriptors(&options(tuning), &dir, descriptors(tuning)).map_err(|err| unreadable(&dir, &err))
}

/// A read-only view of the projected keys' database, if the ledger at `path` has one.
pub(in crate::store) fn open_view(path: &Path) -> Result<Option<DB>> {
    let dir = projected_path(path);
    if !dir.is_dir() {
        return Ok(None);
    }
    DB::open_cf_descriptors_read_only(&options(Tuning::default()), &dir, descriptors(Tuning::default()), false)
        .map(Some)
        .map_err(|err| {
            // A file a running writer removed meanwhile: the reader's open tries again (never
            // `CURRENT`, which a writer replaces in place).
            let vanished = super::vanished_file(&err.clone().into_string()) && dir.join("CURRENT").is_file();
            if vanished { Error::from(err) } else { unreadable(&dir, &err) }
        })
}

/// `meta` key of the projected keys' database: 16 random bytes made with it, also under
/// [`MAIN_PAIR_KEY`] in the log's database: a `projected/` of another ledger (or another copy)
/// is told apart.
const PAIR_KEY: &[u8] = b"pair";
/// `meta` key of the log's database naming its projected keys' database ([`PAIR_KEY`]).
const MAIN_PAIR_KEY: &[u8] = b"projected-pair";

/// What the projected keys' database `dir` is missing or damaged to: derived keys only, so the
/// remedy is a rebuild from the log, never a restore.
const REMEDY: &str = "it holds only keys derived from the log: `ledger-cli rebuild-indexes` builds it again from \
                      the log (docs/RELIABILITY.md)";

/// A layout-5 ledger without its projected keys' database.
fn missing(dir: &Path) -> Error {
    let what = if dir.symlink_metadata().is_ok() { "is not a directory" } else { "is missing" };
    Error::ReadModel(format!("the projected keys' database {} {what}: {REMEDY}", dir.display()))
}

/// The projected keys' database at `dir` did not open.
fn unreadable(dir: &Path, err: &rocksdb::Error) -> Error {
    Error::ReadModel(format!(
        "the projected keys' database {} does not open ({}): {REMEDY}",
        dir.display(),
        err.clone().into_string()
    ))
}

/// Why `projected` cannot be read beside `main` (a reader's view), if it cannot: made for
/// another log's database, or projected past its head.
fn mismatch(main: &DB, projected: &DB, dir: &Path) -> Result<Option<Error>> {
    let paired = main.get_cf(cf(main, CF_META)?, MAIN_PAIR_KEY)?;
    if paired.is_none() || paired != projected.get_cf(cf(projected, CF_META)?, PAIR_KEY)? {
        return Ok(Some(Error::ReadModel(format!(
            "the projected keys' database {} belongs to another ledger or another copy of this one: {REMEDY}",
            dir.display()
        ))));
    }
    let (head, mark) = (head_of(main)?, mark_of(projected)?);
    if mark > head {
        return Ok(Some(Error::ReadModel(format!(
            "the projected keys' database {} is projected to seq {mark}, past the log's head {head} (a copy \
             from a later point, or writes the log lost): {REMEDY}",
            dir.display()
        ))));
    }
    Ok(None)
}

/// The log's head sequence number in `main`.
fn head_of(main: &DB) -> Result<u64> {
    Ok(match super::get(main, Table::Meta, META_HEAD)? {
        Some(bytes) => codec::decode_head(&bytes)?.0,
        None => 0,
    })
}

/// `meta/projected` in the projected keys' database (0 when absent).
fn mark_of(projected: &DB) -> Result<u64> {
    Ok(match projected.get_cf(cf(projected, CF_META)?, META_PROJECTED)? {
        Some(bytes) => codec::decode_projected(&bytes)?,
        None => 0,
    })
}

/// Copies every key of the projected tables and the mark from the log's database `main` into a
/// new projected keys' database at `path` (one a conversion cut short left is removed first),
/// durable before it returns. The first step of converting a ledger to layout 5. Each table is
/// read in key order into table files of at most [`COPY_FILE_BYTES`], which the new database
/// takes in whole (RocksDB's ingestion: no write-ahead log, memtable or merge; at 10M accounts
/// and 21M events 26 s against 57 s through writes, docs/PERFORMANCE.md). A file a conversion cut short left
/// goes with the directory when it is redone. `work` is told of each table's keys as they are
/// copied ([`OpenWork::CopyingProjected`]).
fn copy_out(main: &DB, path: &Path, tuning: Tuning, work: &dyn Fn(&OpenWork)) -> Result<DB> {
    let projected = fresh(main, path, tuning)?;
    let dir = projected_path(path);
    let mut ingest = rocksdb::IngestExternalFileOptions::default();
    ingest.set_move_files(true);
    for table in PROJECTED_TABLES {
        let name = table.cf_name();
        let options = tuning.cf_options(name);
        let mut files = Vec::new();
        let mut writer: Option<SstFileWriter<'_>> = None;
        let estimated = main.property_int_value_cf(cf(main, name)?, "rocksdb.estimate-num-keys")?.unwrap_or(0);
        let mut done = 0u64;
        let report = |done: u64, finished: bool| {
            work(&OpenWork::CopyingProjected { table: name, done, estimated, finished });
        };
        report(0, false);
        super::scan(main, table, &[], true, &mut |key, value| {
            let full = writer.as_ref().is_none_or(|open| open.file_size() >= COPY_FILE_BYTES);
            if full {
                if let Some(mut done) = writer.take() {
                    done.finish()?;
                }
                let file = dir.join(format!("conversion-{name}-{}.sst", files.len()));
                let next = SstFileWriter::create(&options);
                next.open(&file)?;
                files.push(file);
                writer = Some(next);
            }
            if let Some(open) = writer.as_mut() {
                open.put(key, value)?;
            }
            done += 1;
            if done.is_multiple_of(OPEN_WORK_EVERY) {
                report(done, false);
            }
            Ok(true)
        })?;
        if let Some(mut last) = writer.take() {
            last.finish()?;
        }
        if !files.is_empty() {
            projected.ingest_external_file_cf_opts(cf(&projected, name)?, &ingest, files)?;
        }
        report(done, true);
    }
    if let Some(mark) = main.get_cf(cf(main, CF_META)?, META_PROJECTED)? {
        projected.put_cf(cf(&projected, CF_META)?, META_PROJECTED, mark)?;
    }
    for name in PROJECTED_FAMILIES {
        projected.flush_cf(cf(&projected, name)?)?;
    }
    Ok(projected)
}

/// A new, empty projected keys' database at `path` paired with `main`, replacing whatever is
/// there (one a conversion or rebuild cut short left, one damaged past opening, a file: a
/// rebuild writes every key again; a symbolic link is removed, not what it names).
fn fresh(main: &DB, path: &Path, tuning: Tuning) -> Result<DB> {
    let dir = projected_path(path);
    let removed = match dir.symlink_metadata() {
        Ok(found) if found.is_dir() => std::fs::remove_dir_all(&dir),
        Ok(_) => std::fs::remove_file(&dir),
        Err(_) => Ok(()),
    };
    removed.map_err(|err| Error::Io(format!("removing {}: {err}", dir.display())))?;
    create(main, path, tuning)
}

/// The engine of a read-only view: `projected` (the view of `projected/` opened first, or why
/// it did not open) is used only by a layout-5 ledger, which must have it; before layout 5 every
/// key is in `main` (and a `projected/` found there, whole or not, is a conversion under way).
pub(in crate::store) fn view(main: DB, projected: Result<Option<DB>>, path: &Path) -> Result<Rocks> {
    if layout_of(&main)? != codec::LAYOUT_VERSION {
        return Ok(Rocks { main, projected: None });
    }
    match projected? {
        None => Err(missing(&projected_path(path))),
        projected => Ok(Rocks { main, projected }),
    }
}

impl Rocks {
    /// For a reader's view, once the log checked out (a log that lost acknowledged records is
    /// named as such first): the projected keys belong beside it ([`mismatch`]).
    pub(in crate::store) fn check_projected(&self, path: &Path) -> Result<()> {
        match &self.projected {
            Some(projected) => match mismatch(&self.main, projected, &projected_path(path))? {
                Some(err) => Err(err),
                None => Ok(()),
            },
            None => Ok(()),
        }
    }
    /// Whether a reader's view lacks records between the first of `witness` (the head witness
    /// read before the view opened) and its projected keys' mark, and its head (what an open
    /// checks and a reader applies): a read-only open of the log's database that raced a
    /// writer's flush (a write-ahead log removed, the table its records went to not yet in the
    /// version the open read). Opened again. A key walk, no values.
    pub(in crate::store) fn torn(&self, witness: u64) -> Result<bool> {
        let head = head_of(&self.main)?;
        let mark = match &self.projected {
            Some(projected) => mark_of(projected)?,
            None => 0,
        };
        let Some(from) = [witness, mark].into_iter().filter(|seq| (1..=head).contains(seq)).min() else {
            return Ok(false);
        };
        let mut keys = self.main.raw_iterator_cf(cf(&self.main, super::super::CF_LOG)?);
        keys.seek(codec::seq_key(from));
        let mut expected = from;
        while expected <= head {
            match keys.key() {
                Some(key) if codec::decode_seq_key(key)? == expected => {}
                _ => return Ok(true),
            }
            expected += 1;
            keys.next();
        }
        keys.status()?;
        Ok(false)
    }
}

/// `projected`, or, when it cannot be read beside `main` ([`mismatch`]: another ledger's, or
/// projected past the log's head, as when the log lost writes the projector had made durable: a
/// ledger run without fsync, then a power loss), a new one marked at 0, which the open projects
/// the whole log into (`Store::load_state_projected`): keys the log does not justify are never
/// read.
fn behind_the_log(projected: DB, main: &DB, path: &Path, tuning: Tuning) -> Result<DB> {
    if mismatch(main, &projected, &projected_path(path))?.is_none() {
        return Ok(projected);
    }
    drop(projected);
    let fresh = fresh(main, path, tuning)?;
    let mut batch = WriteBatch::default();
    batch.put_cf(cf(&fresh, CF_META)?, META_PROJECTED, 0u64.to_be_bytes());
    write(&fresh, batch, true)?;
    Ok(fresh)
}

/// The layout byte in `main` (0 when absent or not one byte: the format check reports it).
fn layout_of(main: &DB) -> Result<u8> {
    Ok(match super::get(main, Table::Meta, META_FORMAT)?.as_deref() {
        Some(&[byte]) => byte,
        _ => 0,
    })
}

impl Rocks {
    /// For a writer's open (the format already checked): opens the projected keys' database of
    /// a layout-5 ledger, or builds it: empty for a rebuild (which writes every key), copied
    /// from the log's database for a ledger before layout 5. A layout-4 ledger becomes layout 5
    /// here, once the copy is on disk; layouts 1–3 when their conversion ends
    /// (`convert_to_paged`). What the log's database still holds of the projected keys after
    /// a conversion is dropped (at the next writer's open, for layouts 1–3).
    /// `work` is told how a copy goes.
    pub(in crate::store) fn attach_projected(
        &mut self,
        path: &Path,
        tuning: Tuning,
        rebuilding: bool,
        work: &dyn Fn(&OpenWork),
    ) -> Result<()> {
        let layout = layout_of(&self.main)?;
        let projected = if layout == codec::LAYOUT_VERSION {
            match open(path, tuning) {
                Ok(db) => behind_the_log(db, &self.main, path, tuning)?,
                Err(_) if rebuilding => fresh(&self.main, path, tuning)?,
                Err(err) => return Err(err),
            }
        } else if layout == codec::LAYOUT_REBUILDING {
            fresh(&self.main, path, tuning)?
        } else {
            copy_out(&self.main, path, tuning, work)?
        };
        self.projected = Some(projected);
        if layout == codec::LAYOUT_VERSION_ONE_DATABASE {
            let mut batch = WriteBatch::default();
            batch.put_cf(cf(&self.main, CF_META)?, META_FORMAT, [codec::LAYOUT_VERSION]);
            write(&self.main, batch, true)?;
        }
        if layout == codec::LAYOUT_VERSION || layout == codec::LAYOUT_VERSION_ONE_DATABASE {
            self.clear_main_projected()?;
        }
        Ok(())
    }
    /// Drops the projected keys a converted ledger's log database still holds.
    fn clear_main_projected(&mut self) -> Result<()> {
        let mut stale = super::get(&self.main, Table::Meta, META_PROJECTED)?.is_some();
        for table in PROJECTED_TABLES {
            if !stale {
                super::scan(&self.main, table, &[], false, &mut |_, _| {
                    stale = true;
                    Ok(false)
                })?;
            }
        }
        if stale {
            super::recreate(&mut self.main, &[CF_HISTORY, CF_CUSTOMERS, CF_ACCOUNTS])?;
            let mut batch = WriteBatch::default();
            batch.delete_cf(cf(&self.main, CF_META)?, META_PROJECTED);
            write(&self.main, batch, true)?;
        }
        Ok(())
    }
}

/// The size of a table file a conversion writes (RocksDB's default target file size: the
/// account rows' later merges rewrite a file at a time).
const COPY_FILE_BYTES: u64 = 64 << 20;
