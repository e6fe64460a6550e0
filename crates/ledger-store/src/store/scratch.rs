//! The replay's scratch store (`replay.rs`): the replayed accounts that do not fit in its cache.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use ledger_core::EventBody;
use rocksdb::{
    BlockBasedOptions, Cache as BlockCache, DB, IteratorMode, Options, ReadOptions, WriteBatch, WriteOptions,
};
use rustc_hash::FxHashMap;

use super::replay::Replayed;
use super::*;

/// The scratch store's memtable and block cache (each): what spilling costs beyond the cache.
const SCRATCH_BUFFER_BYTES: usize = 16 << 20;

/// Accounts written to the scratch store per write.
const SCRATCH_BATCH_LEN: usize = 65_536;

/// The replay's scratch store: a temporary RocksDB (no write-ahead log) in `TMPDIR`, removed
/// when dropped. Keys: `a` + account key → digest (entries, mix sum; 16 bytes) + account
/// encoding; `c` + customer index key → empty.
pub(super) struct Scratch {
    db: DB,
    // Dropped after `db`: the directory goes once the database is closed.
    _dir: tempfile::TempDir,
}

/// A key and its value, as RocksDB's iterator gives them.
type KeyValue = (Box<[u8]>, Box<[u8]>);

/// The scratch directories' names start so (`tempfile` adds a random suffix).
const SCRATCH_PREFIX: &str = "ledger-replay-";

const SCRATCH_ACCOUNT: u8 = b'a';
const SCRATCH_CUSTOMER: u8 = b'c';

impl Scratch {
    /// A new scratch store in `TMPDIR`, after removing what replays killed there left.
    pub(super) fn create() -> Result<Scratch> {
        Scratch::create_in(&std::env::temp_dir())
    }

    fn create_in(parent: &Path) -> Result<Scratch> {
        remove_stale(parent);
        let dir = tempfile::Builder::new()
            .prefix(SCRATCH_PREFIX)
            .tempdir_in(parent)
            .map_err(|err| failed("making the replay's scratch directory", parent, err))?;
        let mut options = Options::default();
        options.create_if_missing(true);
        options.set_write_buffer_size(SCRATCH_BUFFER_BYTES);
        let mut table = BlockBasedOptions::default();
        table.set_block_cache(&BlockCache::new_lru_cache(SCRATCH_BUFFER_BYTES));
        // Most lookups of an account about to be opened find nothing.
        table.set_bloom_filter(10.0, false);
        options.set_block_based_table_factory(&table);
        let db = DB::open_cf(&options, dir.path(), [rocksdb::DEFAULT_COLUMN_FAMILY_NAME])
            .map_err(|err| failed("opening the replay's scratch store", dir.path(), err))?;
        Ok(Scratch { db, _dir: dir })
    }

    /// The error of a failed `doing` on the store, naming its directory and `$TMPDIR`.
    fn failed(&self, doing: &str, err: impl std::fmt::Display) -> Error {
        failed(doing, self._dir.path(), err)
    }

    fn account_key(id: AccountId) -> [u8; 9] {
        let mut key = [SCRATCH_ACCOUNT; 9];
        key[1..].copy_from_slice(&codec::account_key(id));
        key
    }

    fn write(&self, batch: WriteBatch) -> Result<()> {
        let mut options = WriteOptions::default();
        options.disable_wal(true);
        self.db
            .write_opt(batch, &options)
            .map_err(|err| self.failed("writing replayed accounts to the scratch store", err))
    }

    /// Writes `accounts` (with their digests), replacing what it held of them.
    pub(super) fn put<'a>(&self, accounts: impl Iterator<Item = (&'a Account, HistoryDigest)>) -> Result<()> {
        let mut batch = WriteBatch::default();
        for (account, digest) in accounts {
            let mut value = Vec::with_capacity(128);
            value.extend_from_slice(&digest.entries.to_be_bytes());
            value.extend_from_slice(&digest.mix_sum.to_be_bytes());
            value.extend_from_slice(&codec::encode_account(account)?);
            batch.put(Self::account_key(account.id), value);
            if batch.len() >= SCRATCH_BATCH_LEN {
                self.write(std::mem::take(&mut batch))?;
            }
        }
        self.write(batch)
    }

    fn decode(value: &[u8]) -> Result<Replayed> {
        let number = |at: usize| value.get(at..at + 8).and_then(|b| b.try_into().ok()).map(u64::from_be_bytes);
        let (Some(entries), Some(mix_sum)) = (number(0), number(8)) else {
            return Err(Error::Io("a replay scratch value too short".into()));
        };
        let account = codec::decode_account(&value[16..])?;
        Ok(Replayed { account, digest: HistoryDigest { entries, mix_sum } })
    }

    /// The accounts `ids` (sorted) and their digests, `None` for those it does not hold.
    pub(super) fn get(&self, ids: &[AccountId]) -> Result<Vec<Option<(Account, HistoryDigest)>>> {
        let keys: Vec<[u8; 9]> = ids.iter().map(|id| Self::account_key(*id)).collect();
        let cf = self.db.cf_handle(rocksdb::DEFAULT_COLUMN_FAMILY_NAME);
        let cf = cf.ok_or_else(|| Error::Io("the replay scratch store has no default column family".into()))?;
        // Lookups are spread over the whole store, far larger than its block cache: a block
        // read is rarely read again before it would be evicted, so none is cached.
        let mut options = ReadOptions::default();
        options.fill_cache(false);
        self.db
            .batched_multi_get_cf_opt(cf, &keys, keys.is_sorted(), &options)
            .into_iter()
            .map(|found| {
                let found =
                    found.map_err(|err| self.failed("reading replayed accounts from the scratch store", err))?;
                let Some(value) = found else { return Ok(None) };
                Self::decode(&value).map(|replayed| Some((replayed.account, replayed.digest)))
            })
            .collect()
    }

    /// Every account held, in id order.
    pub(super) fn accounts(&self) -> impl Iterator<Item = Result<Replayed>> + '_ {
        self.prefixed(SCRATCH_ACCOUNT).map(|item| item.and_then(|(_, value)| Self::decode(&value)))
    }

    /// Writes the customer index entry of every account of `accounts`.
    pub(super) fn put_customers(&self, accounts: &mut dyn Iterator<Item = Result<Replayed>>) -> Result<()> {
        let mut batch = WriteBatch::default();
        for replayed in accounts {
            let account = replayed?.account;
            let mut key = vec![SCRATCH_CUSTOMER];
            key.extend_from_slice(&codec::customer_key(account.customer, account.id));
            batch.put(key, []);
            if batch.len() >= SCRATCH_BATCH_LEN {
                self.write(std::mem::take(&mut batch))?;
            }
        }
        self.write(batch)
    }

    /// Every customer index entry written, in key order, as (customer, account).
    pub(super) fn customers(&self) -> impl Iterator<Item = Result<(u64, u64)>> + '_ {
        self.prefixed(SCRATCH_CUSTOMER).map(|item| {
            let (key, _) = item?;
            codec::split_index_key(&key[1..])
                .ok_or_else(|| Error::Io("a replay scratch key of the wrong length".into()))
        })
    }

    fn prefixed(&self, prefix: u8) -> impl Iterator<Item = Result<KeyValue>> + '_ {
        let start = [prefix];
        self.db
            .iterator(IteratorMode::From(&start, rocksdb::Direction::Forward))
            .take_while(move |item| item.as_ref().map_or(true, |(key, _)| key.first() == Some(&prefix)))
            .map(|item| item.map_err(|err| self.failed("reading the scratch store", err)))
    }
}

/// The replay's scratch store once made (at its first spill), shared by the applier and the
/// threads that read ahead: with the count of writes that changed what it holds of accounts the
/// applier may not hold (spills), so a read made before one is known stale.
#[derive(Default)]
pub(super) struct SharedScratch {
    scratch: OnceLock<Scratch>,
    spills: AtomicU64,
}

impl SharedScratch {
    pub(super) fn get(&self) -> Option<&Scratch> {
        self.scratch.get()
    }

    /// The scratch store, made now if not yet.
    pub(super) fn get_or_create(&self) -> Result<&Scratch> {
        if self.scratch.get().is_none() {
            // Only the applier makes it: no other thread sets it meanwhile.
            let _ = self.scratch.set(Scratch::create()?);
        }
        self.scratch.get().ok_or_else(|| Error::Io("the replay's scratch store was not made".into()))
    }

    /// Called by the applier after each write of accounts to the store: every read begun
    /// before it is stale.
    pub(super) fn spilled(&self) {
        self.spills.fetch_add(1, Ordering::AcqRel);
    }

    fn spills(&self) -> u64 {
        self.spills.load(Ordering::Acquire)
    }

    /// Reads, ahead of the applier, the accounts `chunk`'s postings move from the scratch
    /// store (on one of the replay's read-ahead threads). `None` before anything spilled.
    pub(super) fn read_ahead(&self, chunk: &[(u64, Event)]) -> Result<Option<Ahead>> {
        let mut ids = Vec::with_capacity(chunk.len() * 2);
        for (_, event) in chunk {
            let posting = match &event.body {
                EventBody::Posted(posting) | EventBody::ReservationSettled { posting, .. } => posting,
                _ => continue,
            };
            ids.extend([&posting.debit, &posting.credit].into_iter().flatten().map(|leg| leg.account));
        }
        ids.sort_unstable();
        ids.dedup();
        self.read(ids)
    }

    /// Reads the accounts `ids` (sorted) from the scratch store, if made.
    fn read(&self, ids: Vec<AccountId>) -> Result<Option<Ahead>> {
        let Some(scratch) = self.get() else { return Ok(None) };
        // Read before the lookups: a spill after this point makes them stale.
        let spills = self.spills();
        let found = scratch.get(&ids)?;
        Ok(Some(Ahead { spills, found: ids.into_iter().zip(found).collect() }))
    }
}

/// What the read-ahead thread found of a chunk's accounts in the scratch store (`None`: not
/// there), as of `spills`.
pub(super) struct Ahead {
    spills: u64,
    found: FxHashMap<AccountId, Option<(Account, HistoryDigest)>>,
}

impl Ahead {
    /// What was read of `id`, unless it is stale (a spill since) or was not read.
    pub(super) fn take(&mut self, shared: &SharedScratch, id: AccountId) -> Option<Option<(Account, HistoryDigest)>> {
        if self.spills != shared.spills() {
            return None;
        }
        self.found.remove(&id)
    }
}

/// Loads into `state` account `id` as the scratch store held it (`None`: it did not), and its
/// history digest into `digests`.
pub(super) fn load(
    state: &mut State,
    digests: &mut FxHashMap<AccountId, HistoryDigest>,
    id: AccountId,
    found: Option<(Account, HistoryDigest)>,
) {
    let (account, digest) = found.map_or((None, None), |(account, digest)| (Some(account), Some(digest)));
    state.load_account(id, account);
    digests.extend(digest.map(|digest| (id, digest)));
}

/// The error of a failed `doing` in `dir` (the scratch store's, or `$TMPDIR` before it is
/// made), with what to do about it.
fn failed(doing: &str, dir: &Path, err: impl std::fmt::Display) -> Error {
    Error::Io(format!(
        "{doing} in {} ($TMPDIR): {err}. A replay keeps the accounts past --cache-mib there: point TMPDIR at a \
         writable directory with room for about the ledger's accounts table, or give a larger --cache-mib",
        dir.display()
    ))
}

/// Removes the scratch directories in `parent` that replays killed before their end left (a
/// SIGKILL, or a SIGINT the process did not outlive): named `ledger-replay-…`, holding nothing
/// but RocksDB's files, and locked by no process (RocksDB's `DestroyDB` takes the database's
/// lock before it deletes anything: a running replay's directory, in this process or another,
/// is left alone). Best effort: what cannot be removed stays.
fn remove_stale(parent: &Path) {
    let Ok(entries) = std::fs::read_dir(parent) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        let named = entry.file_name().to_str().is_some_and(|name| name.starts_with(SCRATCH_PREFIX));
        if !named || !entry.file_type().is_ok_and(|kind| kind.is_dir()) || !only_rocksdb_files(&path) {
            continue;
        }
        if DB::destroy(&Options::default(), &path).is_ok() {
            let _ = std::fs::remove_dir_all(&path);
        }
    }
}

/// Whether `dir` holds a RocksDB database (its `CURRENT`) and no file RocksDB did not write.
fn only_rocksdb_files(dir: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else { return false };
    let mut current = false;
    for entry in entries.flatten() {
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else { return false };
        current |= name == "CURRENT";
        let rocksdb_file = matches!(name.as_str(), "CURRENT" | "IDENTITY" | "LOCK")
            || ["LOG", "MANIFEST-", "OPTIONS-"].iter().any(|prefix| name.starts_with(prefix))
            || [".sst", ".log", ".dbtmp"].iter().any(|suffix| name.ends_with(suffix));
        if !rocksdb_file || !entry.file_type().is_ok_and(|kind| kind.is_file()) {
            return false;
        }
    }
    current
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A RocksDB database at `dir` with one key, closed.
    fn closed_database(dir: &Path) {
        let mut options = Options::default();
        options.create_if_missing(true);
        let db = DB::open(&options, dir).unwrap();
        db.put(b"k", b"v").unwrap();
    }

    fn account(id: u64, yuan: u64) -> Account {
        Account {
            id: AccountId(id),
            customer: ledger_core::CustomerId(id),
            class: ledger_core::AccountClass::I,
            status: ledger_core::AccountStatus::Open,
            binding: None,
            verified_in_person: true,
            with_card: false,
            balance: ledger_core::Amount::from_yuan(yuan).unwrap(),
            funded_from_bound: false,
            usage: Vec::new(),
        }
    }

    #[test]
    fn what_was_read_ahead_is_used_until_the_next_spill_and_only_once() {
        let digest = HistoryDigest { entries: 1, mix_sum: 7 };
        // Given no scratch store yet: nothing is read ahead.
        let shared = SharedScratch::default();
        assert!(shared.read(vec![AccountId(1)]).unwrap().is_none());
        // Given account 1 spilled at 10 yuan.
        shared.get_or_create().unwrap().put([(&account(1, 10), digest)].into_iter()).unwrap();
        shared.spilled();
        // When read ahead: then taken as spilled, once; an account not spilled is known absent;
        // one not read ahead is not known.
        let mut ahead = shared.read(vec![AccountId(1), AccountId(2)]).unwrap().unwrap();
        assert_eq!(ahead.take(&shared, AccountId(1)), Some(Some((account(1, 10), digest))));
        assert_eq!(ahead.take(&shared, AccountId(1)), None, "taken once");
        assert_eq!(ahead.take(&shared, AccountId(2)), Some(None), "not in the store");
        assert_eq!(ahead.take(&shared, AccountId(3)), None, "not read ahead");
        // When a spill (account 1 at 20 yuan) falls between the read and its use: then nothing
        // read before it is used.
        let mut stale = shared.read(vec![AccountId(1), AccountId(2)]).unwrap().unwrap();
        shared.get_or_create().unwrap().put([(&account(1, 20), digest)].into_iter()).unwrap();
        shared.spilled();
        assert_eq!(stale.take(&shared, AccountId(1)), None, "stale: account 1 changed");
        assert_eq!(stale.take(&shared, AccountId(2)), None, "stale: every account read before the spill");
        let mut fresh = shared.read(vec![AccountId(1)]).unwrap().unwrap();
        assert_eq!(fresh.take(&shared, AccountId(1)), Some(Some((account(1, 20), digest))));
    }

    #[test]
    fn a_scratch_store_that_cannot_be_made_names_its_directory_and_tmpdir() {
        let parent = tempfile::tempdir().unwrap();
        let missing = parent.path().join("missing");
        let Err(err) = Scratch::create_in(&missing) else { panic!("made in a missing directory") };
        let err = err.to_string();
        let named = format!("making the replay's scratch directory in {} ($TMPDIR): ", missing.display());
        assert!(err.contains(&named) && err.contains("--cache-mib"), "{err}");
    }

    #[test]
    fn a_new_scratch_store_removes_only_what_killed_replays_left() {
        let parent = tempfile::tempdir().unwrap();
        let at = |name: &str| parent.path().join(name);
        // Given: a scratch directory left by a killed replay, one a running replay holds, a
        // directory of that name with a file of someone else's, and another database.
        closed_database(&at("ledger-replay-killed"));
        let running = Scratch::create_in(parent.path()).unwrap();
        std::fs::create_dir(at("ledger-replay-notes")).unwrap();
        std::fs::write(at("ledger-replay-notes/CURRENT"), "mine").unwrap();
        std::fs::write(at("ledger-replay-notes/notes.txt"), "mine").unwrap();
        closed_database(&at("another-database"));
        // When: another replay makes its scratch store there.
        let next = Scratch::create_in(parent.path()).unwrap();
        // Then: only the killed replay's directory is gone.
        let held = |scratch: &Scratch| scratch._dir.path().is_dir();
        assert!(!at("ledger-replay-killed").exists(), "the killed replay's directory is removed");
        assert!(held(&running), "a running replay's directory stays");
        assert!(at("ledger-replay-notes/notes.txt").exists(), "a directory with other files stays");
        assert!(at("another-database/CURRENT").exists(), "a directory of another name stays");
        assert!(held(&next));
        let running_dir = running._dir.path().to_owned();
        drop(running);
        drop(next);
        assert!(!running_dir.exists(), "a replay's own directory goes when it ends");
    }
}
