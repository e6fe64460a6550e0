//! The embedded engine: RocksDB under the store's seam (`mod.rs`). Creating, opening (the
//! write-ahead log recovered with absolute consistency, point-in-time only when the head
//! witness allows), reading, scanning, walking the log and writing; the options every open
//! shares, the column families with their tuning, what a directory must hold before it is
//! opened, and how RocksDB's errors become the store's.

use std::path::Path;

use rocksdb::{
    ColumnFamily, ColumnFamilyDescriptor, DB, DBRecoveryMode, Options, ReadOptions, WriteBatch, WriteOptions,
};

use super::{CF_ACCOUNTS, CF_ANSWERED, CF_CUSTOMERS, CF_HISTORY, CF_LOG, CF_META, COLUMN_FAMILIES, Head, Table, Visit};
use crate::codec::{self, Hash, RecordRef};
use crate::error::{Error, Result};
use crate::layout::{self, Found};

pub(super) mod pair;

/// Options shared by every open: nothing is created, the write-ahead log is recovered with
/// `mode`, and kept to about `wal_bytes_max` ([`Tuning::wal_bytes_max`]).
pub(super) fn db_options(mode: DBRecoveryMode, wal_bytes_max: u64) -> Options {
    let mut options = Options::default();
    options.create_if_missing(false);
    options.create_missing_column_families(false);
    options.set_wal_recovery_mode(mode);
    options.set_paranoid_checks(true);
    // The projector's unsynced writes and the writer's synced ones take turns in RocksDB's write
    // queue: pipelined, one's memtable inserts overlap the next one's log write and fsync
    // (docs/PERFORMANCE.md, "Round 2").
    options.set_enable_pipelined_write(true);
    // RocksDB starts an info log per open and keeps 1,000 by default: a cron `tick` a minute
    // would add ~165 MB a day of LOG.old files. The newest few are enough to diagnose.
    options.set_keep_log_file_num(INFO_LOGS_KEPT);
    // RocksDB's default is one compaction thread beside one flush thread: at 30M accounts a
    // merge of the whole history index held it for minutes while `answered`'s level-0 files
    // waited behind it (docs/PERFORMANCE.md, "Issue 25: 30M accounts").
    options.set_max_background_jobs(BACKGROUND_JOBS);
    // A write-ahead log file is deleted once every column family with writes in it has flushed
    // them, and a column family written seldom (`meta`'s head, the projected mark) keeps its
    // memtable for long: RocksDB's default bound (four times all memtables, ~2 GiB here) let
    // the logs reach 811 MB after 3.3M transfers, and a writer's open after a crash replayed
    // them all (7.6 s). Past the bound, RocksDB flushes what holds the oldest log
    // (docs/PERFORMANCE.md, "Issue 25: the write-ahead logs bounded").
    options.set_max_total_wal_size(wal_bytes_max);
    options
}

/// The log's database: write-ahead logs kept before the column families holding the oldest are
/// flushed (the `log` table's own memtable fills at 64 MiB; flushing it sooner costs little, as
/// its keys arrive in order).
pub(super) const MAIN_WAL_BYTES_MAX: u64 = 16 << 20;

/// RocksDB's flush and compaction threads (one for flushes, the rest compactions).
const BACKGROUND_JOBS: i32 = 4;

/// RocksDB info logs (`LOG`, `LOG.old.*`) kept in a ledger's directory.
const INFO_LOGS_KEPT: usize = 5;

pub(super) fn descriptors(tuning: Tuning) -> impl Iterator<Item = ColumnFamilyDescriptor> {
    COLUMN_FAMILIES.iter().map(move |name| ColumnFamilyDescriptor::new(*name, tuning.cf_options(name)))
}

/// The descriptors of those of our column families the ledger at `path` has: a ledger before
/// layout 3 has no `answered` (a writer's open creates it; a read-only open cannot).
pub(super) fn descriptors_present(path: &Path, tuning: Tuning) -> Result<Vec<ColumnFamilyDescriptor>> {
    let present = DB::list_cf(&Options::default(), path)?;
    Ok(descriptors(tuning).filter(|descriptor| present.iter().any(|name| name == descriptor.name())).collect())
}

/// The memtable size of `accounts` (the projector's rows; at most 96 MiB with the next).
const ACCOUNTS_WRITE_BUFFER_BYTES: usize = 32 << 20;
/// Memtables of `accounts` held before writes wait for a flush.
const ACCOUNTS_WRITE_BUFFERS_MAX: i32 = 3;

/// The memtable size of `history` (written in random key order: by account).
const HISTORY_WRITE_BUFFER_BYTES: usize = 2 << 20;
/// Memtables of `history` held before writes wait for a flush.
const HISTORY_WRITE_BUFFERS_MAX: i32 = 8;
/// Sorted runs of `history` (each a flush of ~42,000 keys, ~0.7 MB: ~21,000 transfers) before
/// writes are slowed, and stopped: ~40 s and ~80 s of flushes at 100k transfers/s, against a
/// merge of the whole index of minutes at 100M events.
const HISTORY_RUNS_SLOWDOWN: i32 = 200;
const HISTORY_RUNS_STOP: i32 = 400;
/// Sorted runs of `history` merged at once, and waiting before a merge starts.
const HISTORY_MERGE_WIDTH: i32 = 8;

/// The memtable size of `answered`: ~8 batches of 8,189 ids (an entry is ~60 bytes), small
/// enough that an insert in random id order stays in the CPU's cache.
const ANSWERED_WRITE_BUFFER_BYTES: usize = 4 << 20;
/// Memtables of `answered` held before writes wait for a flush.
const ANSWERED_WRITE_BUFFERS_MAX: i32 = 4;
/// Share of `answered`'s memtable given to its whole-key Bloom filter.
const ANSWERED_MEMTABLE_BLOOM_RATIO: f64 = 0.1;
/// Bits per id of `answered`'s SST Bloom filters (~1% false positives).
const ANSWERED_BLOOM_BITS: f64 = 10.0;
/// The block cache of `answered`'s files: their filters and indexes (pinned for level 0) and
/// data blocks. Bounded: ~1.3 bytes of filter and index per id, so the filters of ~25M ids fit;
/// past that, an evicted file's filter is read again when a lookup needs it. Not partitioned:
/// at 1M ids the partition search per key cost more than the lookup (docs/PERFORMANCE.md).
const ANSWERED_BLOCK_CACHE_BYTES: usize = 32 << 20;

/// Share of `accounts`' memtables given to their whole-key Bloom filter.
const ACCOUNTS_MEMTABLE_BLOOM_RATIO: f64 = 0.1;
/// Bits per account of `accounts`' SST Bloom filters (~1% false positives; 12 MB at 10M accounts).
const ACCOUNTS_BLOOM_BITS: f64 = 10.0;

/// RocksDB settings a ledger may choose (everything else is RocksDB's default).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Tuning {
    /// Memtable size per column family; `None`: RocksDB's default (64 MiB).
    pub(crate) write_buffer_bytes: Option<usize>,
}

/// The write-ahead log bound of a ledger whose memtables are set small (tests): four of them.
const WAL_MEMTABLES_WITH_SMALL_BUFFERS: u64 = 4;

impl Tuning {
    /// The bound on a database's write-ahead logs: `default`, or with memtables set smaller,
    /// four of them if that is less.
    pub(crate) fn wal_bytes_max(self, default: u64) -> u64 {
        match self.write_buffer_bytes {
            Some(bytes) => {
                default.min(u64::try_from(bytes).unwrap_or(u64::MAX).saturating_mul(WAL_MEMTABLES_WITH_SMALL_BUFFERS))
            }
            None => default,
        }
    }
    pub(crate) fn cf_options(self, name: &str) -> Options {
        let mut options = Options::default();
        if let Some(bytes) = self.write_buffer_bytes {
            options.set_write_buffer_size(bytes);
        }
        if name == CF_HISTORY {
            // Its keys arrive in random order (by account): an insert into a 64 MiB skip list
            // misses the cache at every level, and was half the writer's time. Small memtables,
            // more of them before a flush must finish (docs/PERFORMANCE.md, "Round 2").
            options.set_write_buffer_size(self.write_buffer_bytes.unwrap_or(HISTORY_WRITE_BUFFER_BYTES));
            options.set_max_write_buffer_number(HISTORY_WRITE_BUFFERS_MAX);
        }
        if name == CF_ACCOUNTS {
            // The projector writes the account rows, off the writer's path. Each level-0 file
            // spans every key (accounts are touched at random), so each compaction of four
            // rewrites the level below whole: with 2 MiB memtables that was every 8 MiB of rows,
            // and compaction took as much CPU as the writer at 2M and 10M accounts. Larger
            // memtables merge more rows per rewrite (docs/PERFORMANCE.md, "Issue 25: compaction
            // of the account rows").
            options.set_write_buffer_size(self.write_buffer_bytes.unwrap_or(ACCOUNTS_WRITE_BUFFER_BYTES));
            options.set_max_write_buffer_number(ACCOUNTS_WRITE_BUFFERS_MAX);
        }
        if name == CF_HISTORY {
            // Every flush of `history` spans the whole key range (keys lead with the account):
            // leveled compaction merged each four flushes into the one last-level file and
            // rewrote all of it, a cost that grew with the index (at 10k accounts and 1M
            // transfers, 132 MB written for a 25 MB index, 28% of the process's CPU). Universal
            // compaction merges runs of like size instead (docs/PERFORMANCE.md, "Issue 29:
            // compaction of the history index").
            options.set_compaction_style(rocksdb::DBCompactionStyle::Universal);
            // A projected read model, rebuilt from the log if need be, and one write queue with
            // the log: while a merge of the whole index runs (minutes at 100M events), its flushes
            // pile up as sorted runs, and RocksDB's default limits (slow down at 20, stop at 36)
            // stopped every write, the log's too, for 101 s at 30M accounts. Many more runs are
            // allowed: a history page reads more files until the merge ends.
            options.set_level_zero_slowdown_writes_trigger(HISTORY_RUNS_SLOWDOWN);
            options.set_level_zero_stop_writes_trigger(HISTORY_RUNS_STOP);
            // RocksDB's default merges as soon as four runs wait, two or more of like size at a
            // time: each key was rewritten ~13 times on its way to the last run (4.2 GiB written
            // for 23M keys, 123 s of CPU over 10M transfers at 3M accounts). Merging eight at a
            // time rewrites each key ~4 times (1.3 GiB, 41 s; 45k → 54k transfers/s) for at most
            // ~24 runs a history page reads (docs/PERFORMANCE.md, "Issue 29: the history index
            // merged eight runs at a time").
            options.set_level_zero_file_num_compaction_trigger(HISTORY_MERGE_WIDTH);
            let mut universal = rocksdb::UniversalCompactOptions::default();
            universal.set_min_merge_width(HISTORY_MERGE_WIDTH);
            options.set_universal_compaction_options(&universal);
        }
        if name == CF_ACCOUNTS {
            // The writer reads every account a batch names that its cache lacks (most of them
            // once a ledger outgrows the cache). An account's key is in one memtable or file of
            // the several a lookup would otherwise search: whole-key Bloom filters skip the
            // others without reading a block (at 2M accounts, 13% cached: 31–37k → 50–60k
            // transfers/s; docs/PERFORMANCE.md, "Issue 25, part 4").
            options.set_memtable_whole_key_filtering(true);
            options.set_memtable_prefix_bloom_ratio(ACCOUNTS_MEMTABLE_BLOOM_RATIO);
            let mut table = rocksdb::BlockBasedOptions::default();
            table.set_bloom_filter(ACCOUNTS_BLOOM_BITS, false);
            table.set_whole_key_filtering(true);
            options.set_block_based_table_factory(&table);
        }
        if name == CF_META {
            // `meta` mixes the snapshot (hundreds of MB at 10M events) with many small keys (the
            // Merkle nodes, risk list, pending outflows). Stored inline, the snapshot is one
            // giant block, and a lookup of a key a file lacks lands on it and reads it whole:
            // values from 64 KiB go to blob files instead, and a Bloom filter skips the files
            // that lack a key (docs/PERFORMANCE.md, "Auditors' proofs").
            options.set_enable_blob_files(true);
            options.set_min_blob_size(64 << 10);
            let mut table = rocksdb::BlockBasedOptions::default();
            table.set_bloom_filter(10.0, false);
            options.set_block_based_table_factory(&table);
        }
        if name == CF_ANSWERED {
            // The writer looks up every id a batch names, almost all of them never answered:
            // Bloom filters over the memtables' and files' whole keys answer "absent" without a
            // read; small memtables keep inserts (in id order, random for clients' ids) cheap
            // (docs/PERFORMANCE.md, "Issue 25, part 1"). Not `optimize_filters_for_hits`: it
            // drops the last level's filters, which answer exactly these misses.
            options.set_write_buffer_size(self.write_buffer_bytes.unwrap_or(ANSWERED_WRITE_BUFFER_BYTES));
            options.set_max_write_buffer_number(ANSWERED_WRITE_BUFFERS_MAX);
            options.set_memtable_whole_key_filtering(true);
            options.set_memtable_prefix_bloom_ratio(ANSWERED_MEMTABLE_BLOOM_RATIO);
            let mut table = rocksdb::BlockBasedOptions::default();
            table.set_bloom_filter(ANSWERED_BLOOM_BITS, false);
            table.set_whole_key_filtering(true);
            table.set_cache_index_and_filter_blocks(true);
            table.set_pin_l0_filter_and_index_blocks_in_cache(true);
            table.set_block_cache(&rocksdb::Cache::new_lru_cache(ANSWERED_BLOCK_CACHE_BYTES));
            options.set_block_based_table_factory(&table);
        }
        options
    }
}

impl From<rocksdb::Error> for Error {
    fn from(err: rocksdb::Error) -> Error {
        Error::Io(err.into_string())
    }
}

/// Acknowledged records after `head` up to the witness are gone.
pub(super) fn lost_records(head: Head, witness: (u64, Hash), cause: &str) -> Error {
    Error::Corruption {
        seq: head.seq + 1,
        detail: format!(
            "records {}..={} were acknowledged (head witness {}:{}) but the log ends at {}: the write-ahead \
             log was damaged, truncated or deleted ({cause}). Do not write to this ledger: restore the last \
             backup and re-import the commands since (docs/RELIABILITY.md)",
            head.seq + 1,
            witness.0,
            witness.0,
            hex::encode(witness.1),
            head.seq
        ),
    }
}

/// A RocksDB error about a file that vanished under a read-only open.
pub(super) fn vanished_file(text: &str) -> bool {
    text.contains("No such file or directory")
}

/// What is at `path`, checked before RocksDB opens anything: a marked ledger, or an unmarked one
/// (from before the marker) whose column families are ours.
pub(super) fn check_directory(path: &Path) -> Result<Found> {
    let found = layout::check_existing(path)?;
    if found == Found::Unmarked {
        check_column_families(path)?;
    }
    Ok(found)
}

/// A directory without our marker is opened only if RocksDB lists exactly our column families
/// (a ledger written before the marker); another program's database is left untouched.
fn check_column_families(path: &Path) -> Result<()> {
    let mut found = DB::list_cf(&Options::default(), path)
        .map_err(|err| Error::NotALedger(format!("no ledger at {}: {}", path.display(), err.into_string())))?;
    found.retain(|name| name != "default");
    found.sort_unstable();
    let mut ours: Vec<&str> = COLUMN_FAMILIES.to_vec();
    ours.sort_unstable();
    // A ledger before layout 3 has no `answered` column family yet.
    let mut before_answered = ours.clone();
    before_answered.retain(|name| *name != CF_ANSWERED);
    if found != ours && found != before_answered {
        return Err(Error::NotALedger(format!(
            "{} is a RocksDB database but not a tiered-ledger (column families {found:?}); nothing was changed",
            path.display()
        )));
    }
    Ok(())
}

/// RocksDB's own checksums failing while reading record `seq` is corruption at that sequence.
pub(super) fn storage_error(seq: u64, err: rocksdb::Error) -> Error {
    if err.kind() == rocksdb::ErrorKind::Corruption {
        Error::Corruption { seq, detail: format!("storage checksum: {}", err.into_string()) }
    } else {
        Error::from(err)
    }
}

/// Creates the database of a new ledger at `path` with every column family.
pub(super) fn create(path: &Path, tuning: Tuning) -> Result<DB> {
    let mut options = db_options(DBRecoveryMode::AbsoluteConsistency, tuning.wal_bytes_max(MAIN_WAL_BYTES_MAX));
    options.create_if_missing(true);
    options.create_missing_column_families(true);
    Ok(DB::open_cf_descriptors(&options, path, descriptors(tuning))?)
}

/// Opens an existing ledger's database for writing. The write-ahead log is recovered with
/// absolute consistency; when that reports corruption, `damaged` (given RocksDB's words) decides
/// whether the ledger may open point-in-time (an unacknowledged write cut short) or not.
pub(super) fn open_recovering(path: &Path, tuning: Tuning, damaged: impl FnOnce(&str) -> Result<()>) -> Result<DB> {
    let mut absolute = db_options(DBRecoveryMode::AbsoluteConsistency, tuning.wal_bytes_max(MAIN_WAL_BYTES_MAX));
    // A ledger before layout 3 gets its (empty) `answered` column family; the conversion
    // (`load_state_projected`) fills it before it moves the layout version.
    absolute.create_missing_column_families(true);
    match DB::open_cf_descriptors(&absolute, path, descriptors(tuning)) {
        Ok(db) => Ok(db),
        Err(err) if err.kind() == rocksdb::ErrorKind::Corruption => {
            damaged(&err.into_string())?;
            let mut point_in_time = db_options(DBRecoveryMode::PointInTime, tuning.wal_bytes_max(MAIN_WAL_BYTES_MAX));
            point_in_time.create_missing_column_families(true);
            Ok(DB::open_cf_descriptors(&point_in_time, path, descriptors(tuning))?)
        }
        Err(err) => Err(err.into()),
    }
}

/// A read-only, point-in-time view of the database at `path` (no lock taken).
pub(super) fn open_view(path: &Path) -> Result<DB> {
    // Read-only: it writes no log.
    let options = db_options(DBRecoveryMode::PointInTime, MAIN_WAL_BYTES_MAX);
    let present = descriptors_present(path, Tuning::default())?;
    Ok(DB::open_cf_descriptors_read_only(&options, path, present, false)?)
}

/// The column family `name`.
pub(super) fn cf<'a>(db: &'a DB, name: &str) -> Result<&'a ColumnFamily> {
    db.cf_handle(name).ok_or_else(|| Error::Io(format!("column family {name} is missing")))
}

/// Every table's column family, in [`Table`] order.
pub(super) fn tables(db: &DB) -> Result<[&ColumnFamily; 6]> {
    Ok([
        cf(db, CF_LOG)?,
        cf(db, CF_ACCOUNTS)?,
        cf(db, CF_CUSTOMERS)?,
        cf(db, CF_HISTORY)?,
        cf(db, CF_META)?,
        cf(db, CF_ANSWERED)?,
    ])
}

/// Writes `batch` atomically; with `sync`, only once it is on disk.
pub(super) fn write(db: &DB, batch: WriteBatch, sync: bool) -> Result<()> {
    let mut options = WriteOptions::default();
    options.set_sync(sync);
    db.write_opt(batch, &options)?;
    Ok(())
}

/// The value of `key` in `table`.
pub(super) fn get(db: &DB, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>> {
    Ok(db.get_cf(cf(db, table.cf_name())?, key)?)
}

/// [`Store::scan`](super::Store::scan) on RocksDB.
pub(super) fn scan(db: &DB, table: Table, from: &[u8], checksums: bool, visit: &mut Visit<'_>) -> Result<()> {
    let mut options = ReadOptions::default();
    options.set_verify_checksums(checksums);
    let mut items = db.raw_iterator_cf_opt(cf(db, table.cf_name())?, options);
    items.seek(from);
    while let (Some(key), Some(value)) = (items.key(), items.value()) {
        if !visit(key, value)? {
            return Ok(());
        }
        items.next();
    }
    Ok(items.status()?)
}

/// [`Store::key_ranges`](super::Store::key_ranges) on RocksDB: one ordered walk per range,
/// checksums verified.
pub(super) fn key_ranges<K: AsRef<[u8]>>(db: &DB, table: Table, ranges: &[(K, K)]) -> Result<Vec<Vec<Vec<u8>>>> {
    let mut found = Vec::with_capacity(ranges.len());
    for (lo, hi) in ranges {
        let mut keys = Vec::new();
        scan(db, table, lo.as_ref(), true, &mut |key, _| {
            if key > hi.as_ref() {
                return Ok(false);
            }
            keys.push(key.to_vec());
            Ok(true)
        })?;
        found.push(keys);
    }
    Ok(found)
}

/// The stored bytes of record `seq` (RocksDB's checksum failing is corruption at `seq`).
pub(super) fn record_bytes(db: &DB, seq: u64) -> Result<Option<Vec<u8>>> {
    db.get_cf(cf(db, CF_LOG)?, codec::seq_key(seq)).map_err(|err| storage_error(seq, err))
}

/// Walks over at least this many records (asked for) do not fill the block cache.
const WALK_AROUND_CACHE_MIN: u64 = 4_096;

/// [`Store::walk_while`](super::Store::walk_while) on RocksDB, from `from_seq` after `head`.
pub(super) fn walk_log(
    db: &DB,
    from_seq: u64,
    to_seq: u64,
    mut head: Head,
    visit: &mut impl FnMut(u64, &RecordRef<'_>) -> Result<bool>,
) -> Result<Head> {
    // Our own per-record hash is the integrity check here: it names the exact damaged record,
    // where RocksDB's block checksum could only name the block's first one.
    let mut options = ReadOptions::default();
    options.set_verify_checksums(false);
    // A long walk (verify, replay, export, a rebuild: whole logs or halves of them) reads each
    // block once, in order: it goes around the block cache, which keeps what point reads use
    // (and would hold the walk's blocks in the process's memory).
    options.fill_cache(to_seq.saturating_sub(from_seq) < WALK_AROUND_CACHE_MIN);
    // A raw iterator lends key and value in place: no allocation per record.
    let mut records = db.raw_iterator_cf_opt(cf(db, CF_LOG)?, options);
    records.seek(codec::seq_key(from_seq));
    let mut expected_seq = from_seq;
    while let (Some(key), Some(value)) = (records.key(), records.value()) {
        let seq = codec::decode_seq_key(key)?;
        if seq > to_seq {
            break;
        }
        if seq != expected_seq {
            return Err(Error::Corruption { seq: expected_seq, detail: format!("record missing (next is {seq})") });
        }
        let record = RecordRef::decode(seq, value)?;
        record.check_link(seq, &head.hash)?;
        let go_on = visit(seq, &record)?;
        head = Head { seq, hash: record.hash };
        if !go_on {
            break;
        }
        expected_seq += 1;
        records.next();
    }
    records.status().map_err(|err| storage_error(expected_seq, err))?;
    Ok(head)
}

/// Flushes every column family's memtable to SST files.
pub(super) fn flush(db: &DB) -> Result<()> {
    for name in COLUMN_FAMILIES {
        db.flush_cf(cf(db, name)?)?;
    }
    Ok(())
}

/// The values of `keys` in `table`, in their order: one batched multi-get (keys already in
/// ascending byte order are not sorted again).
pub(super) fn get_many<K: AsRef<[u8]>>(db: &DB, table: Table, keys: &[K]) -> Result<Vec<Option<Vec<u8>>>> {
    let sorted = keys.is_sorted_by(|a, b| a.as_ref() <= b.as_ref());
    // The accounts a batch names that the writer's cache lacks are spread over the whole
    // table: a block read for one is seldom read again before the block cache drops it, and
    // putting it there and evicting another cost 14% of the writer's time at 2M accounts
    // (docs/PERFORMANCE.md, "Issue 25: compaction of the account rows"); `accounts` keeps its
    // filters and indexes outside the block cache. Not `answered`: its filters and indexes
    // live in the block cache, and a read that does not fill it reads them from the file again
    // (the writer +12% at 10k accounts, measured).
    let mut options = ReadOptions::default();
    options.fill_cache(table != Table::Accounts);
    db.batched_multi_get_cf_opt(cf(db, table.cf_name())?, keys, sorted, &options)
        .into_iter()
        .map(|found| Ok(found?.map(|value| value.to_vec())))
        .collect()
}

/// Drops the column families `names` and creates them again, empty (their files discarded,
/// damaged blocks included).
pub(super) fn recreate(db: &mut DB, names: &[&str]) -> Result<()> {
    for name in names {
        db.drop_cf(name)?;
        db.create_cf(name, &Tuning::default().cf_options(name))?;
    }
    Ok(())
}
