//! The RocksDB side: opening (after the directory checks of `layout`), column families, staging
//! and committing writes, reading and checking the log, loading state from a snapshot plus the
//! log tail, read models, verification, export, backup and rebuild. The only module that names
//! rocksdb (tests/structure.rs checks it).

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::Path;

use ledger_core::{
    Account, AccountId, CustomerId, Event, PolicyVersion, ProtectionSettings, Protections, Reservation, State,
    Timestamp,
};
use rocksdb::{
    ColumnFamily, ColumnFamilyDescriptor, DB, DBRecoveryMode, Direction, IteratorMode, Options, ReadOptions,
    WriteBatch, WriteOptions,
};

use crate::codec::{self, GENESIS_PREV, Hash, Record, RecordRef};
use crate::error::{Error, Result};
use crate::layout::{self, Found, Witness};
use crate::project::{Dirty, HistoryDigest};

pub(crate) const CF_LOG: &str = "log";
pub(crate) const CF_ACCOUNTS: &str = "accounts";
pub(crate) const CF_CUSTOMERS: &str = "customers";
pub(crate) const CF_HISTORY: &str = "history";
pub(crate) const CF_META: &str = "meta";
const COLUMN_FAMILIES: [&str; 5] = [CF_LOG, CF_ACCOUNTS, CF_CUSTOMERS, CF_HISTORY, CF_META];

/// History index entries per write while rebuilding.
const REBUILD_BATCH_LEN: usize = 100_000;
/// Below this many records a walk runs on one core.
const PARALLEL_WALK_MIN: u64 = 1_000;
/// Events per message from the replay reader to the applier.
const REPLAY_CHUNK: usize = 1_024;

pub(crate) const META_FORMAT: &[u8] = b"format";
pub(crate) const META_HEAD: &[u8] = b"head";
pub(crate) const META_POLICIES: &[u8] = b"policies";
pub(crate) const META_SNAPSHOT: &[u8] = b"snapshot";
pub(crate) const META_PROTECTION_SETTINGS: &[u8] = b"protection-settings";

/// The chain's head: the last sequence number and its hash (seq 0 and zeros when empty).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Head {
    pub seq: u64,
    pub hash: Hash,
}

impl Head {
    /// The head of an empty ledger.
    pub const EMPTY: Head = Head { seq: 0, hash: GENESIS_PREV };

    /// `SEQ:HEX`, the form auditors record and `--expect-head` takes.
    pub fn to_text(&self) -> String {
        format!("{}:{}", self.seq, hex::encode(self.hash))
    }

    /// Parses `SEQ:HEX`.
    pub fn parse(text: &str) -> Result<Head> {
        let bad = || Error::InvalidArgument(format!("expected SEQ:HASH (64 hex digits), got {text:?}"));
        let (seq, hash) = text.split_once(':').ok_or_else(bad)?;
        let seq = seq.trim().parse().map_err(|_| bad())?;
        let bytes = hex::decode(hash.trim()).map_err(|_| bad())?;
        let hash: Hash = bytes.try_into().map_err(|_| bad())?;
        Ok(Head { seq, hash })
    }
}

/// What `verify` walked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyReport {
    pub from_seq: u64,
    pub events_checked: u64,
    pub head: Head,
}

/// One difference between the stored read models and a replay of the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mismatch {
    /// The account the difference is in; `None` for a ledger-wide read model or index.
    pub account: Option<AccountId>,
    pub field: String,
    pub expected: String,
    pub found: String,
}

/// What a replay from genesis found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplayReport {
    pub events: u64,
    pub head: Head,
    pub mismatches: Vec<Mismatch>,
}

/// A page of an account's history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryPage {
    pub entries: Vec<(u64, Event)>,
    /// Pass as `after_seq` to get the next page; `None` when this is the last.
    pub next_after_seq: Option<u64>,
}

#[derive(Debug)]
pub(crate) struct Store {
    db: DB,
    /// The head witness, for a store opened for writing.
    witness: Option<Witness>,
}

/// The tables of the log and its derived keys, as the writer names them (RocksDB: column families).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Table {
    Log = 0,
    Accounts = 1,
    Customers = 2,
    History = 3,
    Meta = 4,
}

/// Writes staged for one atomic commit: the writer's side of the storage seam. The writer stages
/// puts and deletes by [`Table`] and hands the result to [`Store::commit`]; it never names the
/// storage engine, so a second backend supplies its own `Staged` and `commit`. RocksDB: one
/// `WriteBatch`, column family handles resolved once.
pub(crate) struct Staged<'a> {
    batch: WriteBatch,
    tables: [&'a ColumnFamily; 5],
}

impl Staged<'_> {
    pub(crate) fn put(&mut self, table: Table, key: &[u8], value: &[u8]) {
        self.batch.put_cf(self.tables[table as usize], key, value);
    }

    pub(crate) fn delete(&mut self, table: Table, key: &[u8]) {
        self.batch.delete_cf(self.tables[table as usize], key);
    }
}

/// Attempts at a read-only open that meets a file the writer removed meanwhile.
const READ_ONLY_OPEN_ATTEMPTS: u32 = 50;

/// Options shared by every open: nothing is created, and the write-ahead log is recovered with
/// `mode`.
fn db_options(mode: DBRecoveryMode) -> Options {
    let mut options = Options::default();
    options.create_if_missing(false);
    options.create_missing_column_families(false);
    options.set_wal_recovery_mode(mode);
    options.set_paranoid_checks(true);
    options
}

fn descriptors(tuning: Tuning) -> impl Iterator<Item = ColumnFamilyDescriptor> {
    COLUMN_FAMILIES.iter().map(move |name| ColumnFamilyDescriptor::new(*name, tuning.cf_options()))
}

/// RocksDB settings a ledger may choose (everything else is RocksDB's default).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Tuning {
    /// Memtable size per column family; `None`: RocksDB's default (64 MiB).
    pub(crate) write_buffer_bytes: Option<usize>,
}

impl Tuning {
    fn cf_options(self) -> Options {
        let mut options = Options::default();
        if let Some(bytes) = self.write_buffer_bytes {
            options.set_write_buffer_size(bytes);
        }
        options
    }
}

impl Store {
    /// Creates a new ledger at `path` (absent or an empty directory).
    pub(crate) fn create(path: &Path, tuning: Tuning) -> Result<Store> {
        layout::create_new(path)?;
        let mut options = db_options(DBRecoveryMode::AbsoluteConsistency);
        options.create_if_missing(true);
        options.create_missing_column_families(true);
        let db = DB::open_cf_descriptors(&options, path, descriptors(tuning))?;
        let mut store = Store { db, witness: None };
        let mut batch = WriteBatch::default();
        batch.put_cf(store.cf(CF_META)?, META_FORMAT, [codec::FORMAT_VERSION]);
        store.write(batch, true)?;
        store.witness = Some(Witness::open(path)?);
        Ok(store)
    }

    /// Opens the existing ledger at `path` for writing. Refuses, before RocksDB touches anything,
    /// a path that is not a ledger; refuses a ledger whose log lost acknowledged records.
    ///
    /// The write-ahead log is recovered with absolute consistency. When that fails, a read-only
    /// point-in-time view decides: if its log still reaches the head witness, the damage is an
    /// unacknowledged write cut short by a crash, and the ledger opens without it; otherwise
    /// acknowledged records are gone and opening fails, naming them.
    pub(crate) fn open(path: &Path, tuning: Tuning) -> Result<Store> {
        let found = layout::check_existing(path)?;
        if found == Found::Unmarked {
            check_column_families(path)?;
        }
        let witness = layout::read_witness(path, found)?;
        let absolute = db_options(DBRecoveryMode::AbsoluteConsistency);
        let db = match DB::open_cf_descriptors(&absolute, path, descriptors(tuning)) {
            Ok(db) => db,
            Err(err) if err.kind() == rocksdb::ErrorKind::Corruption => {
                let view = Store::open_view(path)?;
                let head = view.head()?;
                drop(view);
                if let Some(witness) = witness.filter(|witness| witness.0 > head.seq) {
                    return Err(lost_records(head, witness, &err.into_string()));
                }
                DB::open_cf_descriptors(&db_options(DBRecoveryMode::PointInTime), path, descriptors(tuning))?
            }
            Err(err) => return Err(err.into()),
        };
        let mut store = Store { db, witness: None };
        store.check_witness(witness)?;
        if found == Found::Unmarked {
            let head = store.head()?;
            layout::mark_existing(path, (head.seq, head.hash))?;
        }
        store.witness = Some(Witness::open(path)?);
        Ok(store)
    }

    /// Opens read-only (no lock taken, nothing written): for auditors and queries, also on a
    /// ledger another process is running. Checks the marker, the format and the head witness.
    pub(crate) fn open_read_only(path: &Path) -> Result<Store> {
        let found = layout::check_existing(path)?;
        if found == Found::Unmarked {
            check_column_families(path)?;
        }
        let mut attempt = 0;
        loop {
            // The witness first: whatever it names was durable before the view below opens.
            let witness = layout::read_witness(path, found)?;
            match Store::open_view(path) {
                Ok(store) => {
                    store.check_witness(witness)?;
                    return Ok(store);
                }
                // A running writer removed a write-ahead log file between RocksDB's listing and
                // its read (a memtable flush): open again.
                Err(Error::Io(text)) if attempt < READ_ONLY_OPEN_ATTEMPTS && vanished_file(&text) => {
                    attempt += 1;
                    std::thread::sleep(std::time::Duration::from_millis(u64::from(attempt) * 5));
                }
                Err(err) => return Err(err),
            }
        }
    }

    /// A read-only, point-in-time view with no checks of ours.
    fn open_view(path: &Path) -> Result<Store> {
        let options = db_options(DBRecoveryMode::PointInTime);
        let db = DB::open_cf_for_read_only(&options, path, COLUMN_FAMILIES, false)?;
        Ok(Store { db, witness: None })
    }

    fn check_format(&self) -> Result<()> {
        match self.db.get_cf(self.cf(CF_META)?, META_FORMAT)? {
            Some(found) if found.as_slice() == [codec::FORMAT_VERSION] => Ok(()),
            found => Err(Error::UnsupportedFormat {
                found: found.and_then(|f| f.first().copied()).unwrap_or(0),
                supported: codec::FORMAT_VERSION,
            }),
        }
    }

    /// The log must still hold the acknowledged head the witness names (checked first: a log
    /// that lost everything lost its format key too), in a format this build reads.
    fn check_witness(&self, witness: Option<(u64, Hash)>) -> Result<()> {
        let head = self.head()?;
        if let Some(witness) = witness.filter(|witness| witness.0 > head.seq) {
            return Err(lost_records(head, witness, "the log ends early"));
        }
        self.check_format()?;
        let Some((seq, hash)) = witness else { return Ok(()) };
        if seq > 0 && self.record(seq)?.hash != hash {
            return Err(Error::Corruption {
                seq,
                detail: format!(
                    "record {seq} differs from the acknowledged head witness ({}): the log was rewritten",
                    hex::encode(hash)
                ),
            });
        }
        Ok(())
    }

    /// An empty set of staged writes.
    pub(crate) fn staged(&self) -> Result<Staged<'_>> {
        let tables =
            [self.cf(CF_LOG)?, self.cf(CF_ACCOUNTS)?, self.cf(CF_CUSTOMERS)?, self.cf(CF_HISTORY)?, self.cf(CF_META)?];
        Ok(Staged { batch: WriteBatch::default(), tables })
    }

    /// Commits `staged` atomically; with `sync`, only after it is on disk.
    pub(crate) fn commit(&self, staged: Staged<'_>, sync: bool) -> Result<()> {
        self.write(staged.batch, sync)
    }

    /// Records `head` in the witness (a writable store only).
    pub(crate) fn record_witness(&self, head: Head) -> Result<()> {
        match &self.witness {
            Some(witness) => witness.record(head.seq, &head.hash),
            None => Ok(()),
        }
    }

    pub(crate) fn sync_witness(&self) -> Result<()> {
        match &self.witness {
            Some(witness) => witness.sync(),
            None => Ok(()),
        }
    }

    pub(crate) fn cf(&self, name: &str) -> Result<&ColumnFamily> {
        self.db.cf_handle(name).ok_or_else(|| Error::Io(format!("column family {name} is missing")))
    }

    /// Commits `batch` atomically; with `sync`, only after it is on disk.
    pub(crate) fn write(&self, batch: WriteBatch, sync: bool) -> Result<()> {
        let mut options = WriteOptions::default();
        options.set_sync(sync);
        self.db.write_opt(batch, &options)?;
        Ok(())
    }

    /// The committed head.
    pub(crate) fn head(&self) -> Result<Head> {
        match self.db.get_cf(self.cf(CF_META)?, META_HEAD)? {
            None => Ok(Head::EMPTY),
            Some(bytes) => codec::decode_head(&bytes).map(|(seq, hash)| Head { seq, hash }),
        }
    }

    /// The record at `seq`, its own hash checked.
    pub(crate) fn record(&self, seq: u64) -> Result<Record> {
        let bytes = self
            .db
            .get_cf(self.cf(CF_LOG)?, codec::seq_key(seq))
            .map_err(|err| storage_error(seq, err))?
            .ok_or_else(|| Error::Corruption { seq, detail: "record missing".into() })?;
        Record::decode(seq, &bytes)
    }

    /// The event at `seq`, its hash and its link to the record before checked.
    pub(crate) fn event(&self, seq: u64) -> Result<Event> {
        let record = self.record(seq)?;
        let prev = if seq <= 1 { GENESIS_PREV } else { self.record(seq - 1)?.hash };
        record.check_link(seq, &prev)?;
        codec::decode_event(seq, &record.event_bytes)
    }

    /// Walks the log from `from_seq` (whose predecessor hashes to `prev`) to its end or to
    /// `to_seq`, checking that sequence numbers are gap-free and every hash and link holds, and
    /// calls `visit` on each record. Returns the last record's head (or the start when the log
    /// ends before it).
    pub(crate) fn walk(
        &self,
        from_seq: u64,
        to_seq: u64,
        prev: Hash,
        mut visit: impl FnMut(u64, &RecordRef<'_>) -> Result<()>,
    ) -> Result<Head> {
        let mut head = Head { seq: from_seq.saturating_sub(1), hash: prev };
        let start = codec::seq_key(from_seq);
        // Our own per-record hash is the integrity check here: it names the exact damaged record,
        // where RocksDB's block checksum could only name the block's first one.
        let mut options = ReadOptions::default();
        options.set_verify_checksums(false);
        // A raw iterator lends key and value in place: no allocation per record.
        let mut records = self.db.raw_iterator_cf_opt(self.cf(CF_LOG)?, options);
        records.seek(start);
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
            visit(seq, &record)?;
            head = Head { seq, hash: record.hash };
            expected_seq += 1;
            records.next();
        }
        records.status().map_err(|err| storage_error(expected_seq, err))?;
        Ok(head)
    }

    /// The state as of the head: the latest snapshot (if it checks out against the chain) plus
    /// the log after it. Checks the whole tail and that it ends exactly at the committed head.
    pub(crate) fn load_state(&self) -> Result<(State, Head)> {
        let (mut state, start) = match self.db.get_cf(self.cf(CF_META)?, META_SNAPSHOT)? {
            None => (State::new(), Head::EMPTY),
            Some(bytes) => match codec::decode_snapshot(&bytes)? {
                // An older snapshot layout: rebuild from the log (the next snapshot replaces it).
                None => (State::new(), Head::EMPTY),
                Some((seq, hash, state)) => {
                    if self.record(seq)?.hash != hash {
                        return Err(Error::Corruption { seq, detail: "snapshot does not match the log's hash".into() });
                    }
                    (state, Head { seq, hash })
                }
            },
        };
        let head = self.walk(start.seq + 1, u64::MAX, start.hash, |seq, record| {
            let event = codec::decode_event(seq, record.event_bytes)?;
            state.apply(&event).map_err(|err| Error::Corruption { seq, detail: err.to_string() })
        })?;
        self.check_reaches_head(head)?;
        Ok((state, head))
    }

    /// Flushes every column family's memtable to SST files (on a clean close: the next open
    /// reads tables instead of replaying the write-ahead log).
    pub(crate) fn flush(&self) -> Result<()> {
        for name in COLUMN_FAMILIES {
            self.db.flush_cf(self.cf(name)?)?;
        }
        Ok(())
    }

    /// The log, walked to its end, must end exactly at the committed head.
    fn check_reaches_head(&self, head: Head) -> Result<()> {
        let committed = self.head()?;
        if committed != head {
            return Err(Error::Corruption {
                seq: committed.seq.max(head.seq),
                detail: format!("log ends at {} but the committed head is {}", head.to_text(), committed.to_text()),
            });
        }
        Ok(())
    }

    pub(crate) fn write_snapshot(&self, state: &State, head: Head) -> Result<()> {
        let bytes = codec::encode_snapshot(head.seq, &head.hash, state)?;
        let mut batch = WriteBatch::default();
        batch.put_cf(self.cf(CF_META)?, META_SNAPSHOT, bytes);
        self.write(batch, true)
    }

    /// Walks the chain from `from_seq` (default 1) to the end; with `expect_head`, also proves
    /// the log still holds that head (catches truncation and rewrites after it was recorded).
    pub(crate) fn verify(
        &self,
        from_seq: u64,
        expect_head: Option<Head>,
        progress: &mut dyn FnMut(u64),
    ) -> Result<VerifyReport> {
        let from_seq = from_seq.max(1);
        self.check_from(from_seq, None)?;
        let prev = if from_seq == 1 { GENESIS_PREV } else { self.record(from_seq - 1)?.hash };
        let span = self.head()?.seq.saturating_sub(from_seq);
        let (head, events_checked) = if span < PARALLEL_WALK_MIN {
            self.verify_range(from_seq, u64::MAX, prev, progress)?
        } else {
            // Two halves on two cores. The second starts from record `mid`'s stored hash, which
            // the first half checks (own hash and link): the chain is still checked end to end.
            let mid = from_seq + span / 2;
            let (first, second) = std::thread::scope(|scope| {
                let second = scope.spawn(|| -> Result<(Head, u64)> {
                    let prev = self.record(mid)?.hash;
                    self.verify_range(mid + 1, u64::MAX, prev, &mut |_| {})
                });
                let first =
                    self.verify_range(from_seq, mid, prev, &mut |seq| progress(from_seq + (seq - from_seq) * 2));
                let second = second.join().unwrap_or_else(|_| Err(Error::Stopped("a verify thread panicked".into())));
                (first, second)
            });
            let (first_head, first_count) = first?;
            if first_head.seq != mid {
                return Err(Error::Corruption { seq: first_head.seq + 1, detail: "record missing".into() });
            }
            let (head, second_count) = second?;
            (head, first_count + second_count)
        };
        self.check_reaches_head(head)?;
        if let Some(expected) = expect_head {
            if expected.seq > head.seq {
                return Err(Error::HeadMismatch(format!(
                    "the log ends at sequence {} but the recorded head is {}: truncated",
                    head.seq,
                    expected.to_text()
                )));
            }
            let found = if expected.seq == 0 { GENESIS_PREV } else { self.record(expected.seq)?.hash };
            if found != expected.hash {
                return Err(Error::HeadMismatch(format!(
                    "sequence {} hashes to {}, not the recorded {}: rewritten",
                    expected.seq,
                    hex::encode(found),
                    hex::encode(expected.hash)
                )));
            }
        }
        Ok(VerifyReport { from_seq, events_checked, head })
    }

    /// A range that starts past the head (or ends before it starts) is a usage error, not damage.
    fn check_from(&self, from_seq: u64, to_seq: Option<u64>) -> Result<()> {
        let head = self.head()?;
        if from_seq > 1 && from_seq > head.seq {
            return Err(Error::InvalidArgument(format!(
                "--from {from_seq} is past the head (seq {}): nothing to read there",
                head.seq
            )));
        }
        if let Some(to_seq) = to_seq.filter(|to| *to < from_seq) {
            return Err(Error::InvalidArgument(format!("--to {to_seq} is before --from {from_seq}")));
        }
        Ok(())
    }

    /// Checks records `from_seq..=to_seq` (hash, link, decodability); returns the head reached
    /// and the number of records checked.
    fn verify_range(
        &self,
        from_seq: u64,
        to_seq: u64,
        prev: Hash,
        progress: &mut dyn FnMut(u64),
    ) -> Result<(Head, u64)> {
        let mut count = 0;
        let head = self.walk(from_seq, to_seq, prev, |seq, record| {
            codec::decode_event(seq, record.event_bytes)?;
            count += 1;
            if count % 4096 == 0 {
                progress(seq);
            }
            Ok(())
        })?;
        Ok((head, count))
    }

    /// Rebuilds the state from genesis (no snapshot) and compares it with the stored read models
    /// and indexes.
    pub(crate) fn replay(&self, progress: &mut dyn FnMut(u64)) -> Result<(State, ReplayReport)> {
        let mut history = HistoryCollector::default();
        let (state, head, events) = self.replay_log(progress, &mut |state, seq, event| {
            history.collect(state, seq, event);
            Ok(())
        })?;
        let mut report = self.compare_read_models(&state, head, events)?;
        self.compare_indexes(&state, &history.digests, &mut report.mismatches);
        Ok((state, report))
    }

    /// Applies the log from genesis to a new state, checking every record; calls `on_event`
    /// after each event is applied. Two stages on two cores: one thread reads, checks and
    /// decodes records, this one applies.
    fn replay_log(
        &self,
        progress: &mut dyn FnMut(u64),
        on_event: &mut dyn FnMut(&State, u64, &Event) -> Result<()>,
    ) -> Result<(State, Head, u64)> {
        let mut state = State::new();
        state.reserve_answers(usize::try_from(self.head()?.seq).unwrap_or(0));
        let mut events = 0;
        let (chunks_tx, chunks_rx) = crossbeam_channel::bounded::<Vec<(u64, Event)>>(16);
        let (walked, applied) = std::thread::scope(|scope| {
            let reader = scope.spawn(move || -> Result<Head> {
                let mut chunk = Vec::with_capacity(REPLAY_CHUNK);
                let head = self.walk(1, u64::MAX, GENESIS_PREV, |seq, record| {
                    chunk.push((seq, codec::decode_event(seq, record.event_bytes)?));
                    if chunk.len() == REPLAY_CHUNK {
                        let full = std::mem::replace(&mut chunk, Vec::with_capacity(REPLAY_CHUNK));
                        chunks_tx.send(full).map_err(|_| Error::Stopped("replay stopped".into()))?;
                    }
                    Ok(())
                })?;
                if !chunk.is_empty() {
                    chunks_tx.send(chunk).map_err(|_| Error::Stopped("replay stopped".into()))?;
                }
                Ok(head)
            });
            let mut applied = Ok(());
            'chunks: while let Ok(chunk) = chunks_rx.recv() {
                for (seq, event) in chunk {
                    if let Err(err) = state.apply(&event) {
                        applied = Err(Error::Corruption { seq, detail: err.to_string() });
                        break 'chunks;
                    }
                    if let Err(err) = on_event(&state, seq, &event) {
                        applied = Err(err);
                        break 'chunks;
                    }
                    events += 1;
                }
                progress(events);
            }
            drop(chunks_rx);
            let walked = reader.join().unwrap_or_else(|_| Err(Error::Stopped("the replay reader panicked".into())));
            (walked, applied)
        });
        applied?;
        let head = walked?;
        self.check_reaches_head(head)?;
        Ok((state, head, events))
    }

    /// The stored read models against `state`.
    fn compare_read_models(&self, state: &State, head: Head, events: u64) -> Result<ReplayReport> {
        let mut mismatches = Vec::new();
        let mut stored: BTreeMap<u64, Account> = BTreeMap::new();
        for item in self.db.iterator_cf(self.cf(CF_ACCOUNTS)?, IteratorMode::Start) {
            let (_, value) = item?;
            let account = codec::decode_account(&value)?;
            stored.insert(account.id.0, account);
        }
        let mut replayed: Vec<&Account> = state.accounts().collect();
        replayed.sort_by_key(|account| account.id);
        for expected in replayed {
            match stored.remove(&expected.id.0) {
                None => mismatches.push(Mismatch {
                    account: Some(expected.id),
                    field: "account".into(),
                    expected: "present".into(),
                    found: "missing".into(),
                }),
                Some(found) => compare_accounts(expected, &found, &mut mismatches),
            }
        }
        for (id, _) in stored {
            mismatches.push(Mismatch {
                account: Some(AccountId(id)),
                field: "account".into(),
                expected: "absent".into(),
                found: "present".into(),
            });
        }
        let stored_policies = self.policies()?;
        if stored_policies != state.policy_versions() {
            mismatches.push(Mismatch {
                account: None,
                field: "policies".into(),
                expected: format!("{} version(s)", state.policy_versions().len()),
                found: format!("{} version(s)", stored_policies.len()),
            });
        }
        self.compare_protections(state, &mut mismatches)?;
        Ok(ReplayReport { events, head, mismatches })
    }

    /// The history and customer indexes against the replay: per account, the number of history
    /// entries and a digest of their sequence numbers; the customer index as a set. Every index
    /// block is read with RocksDB's checksums on, so damage shows here, not in a later query.
    fn compare_indexes(&self, state: &State, expected: &HashMap<u64, HistoryDigest>, mismatches: &mut Vec<Mismatch>) {
        let unreadable = |field: &str, err: String| Mismatch {
            account: None,
            field: field.into(),
            expected: "readable".into(),
            found: format!("unreadable ({err}); run `ledger-cli rebuild-indexes`"),
        };
        let mut stored: HashMap<u64, HistoryDigest> = HashMap::new();
        let history = self.scan_index(CF_HISTORY, &mut |account, seq| stored.entry(account).or_default().add(seq));
        match history {
            Err(err) => mismatches.push(unreadable("history index", err)),
            Ok(()) => {
                let mut accounts: Vec<u64> = expected.keys().chain(stored.keys()).copied().collect();
                accounts.sort_unstable();
                accounts.dedup();
                for account in accounts {
                    let (want, got) = (expected.get(&account).copied(), stored.get(&account).copied());
                    if want != got {
                        let entries = |d: Option<HistoryDigest>| d.map_or(0, |d| d.entries);
                        mismatches.push(Mismatch {
                            account: Some(AccountId(account)),
                            field: "history index".into(),
                            expected: format!("{} entries", entries(want)),
                            found: format!("{} entries, differing", entries(got)),
                        });
                    }
                }
            }
        }
        let mut expected_customers: Vec<(u64, u64)> = state.accounts().map(|a| (a.customer.0, a.id.0)).collect();
        expected_customers.sort_unstable();
        let mut stored_customers = Vec::new();
        match self.scan_index(CF_CUSTOMERS, &mut |customer, account| stored_customers.push((customer, account))) {
            Err(err) => mismatches.push(unreadable("customer index", err)),
            Ok(()) => {
                if stored_customers != expected_customers {
                    let first = expected_customers
                        .iter()
                        .zip(&stored_customers)
                        .find(|(a, b)| a != b)
                        .map(|(a, _)| AccountId(a.1));
                    mismatches.push(Mismatch {
                        account: first,
                        field: "customer index".into(),
                        expected: format!("{} entries", expected_customers.len()),
                        found: format!("{} entries, differing", stored_customers.len()),
                    });
                }
            }
        }
    }

    /// Every key of a two-part index, checksums verified.
    fn scan_index(&self, cf: &str, each: &mut dyn FnMut(u64, u64)) -> std::result::Result<(), String> {
        let mut options = ReadOptions::default();
        options.set_verify_checksums(true);
        let mut keys = self.db.raw_iterator_cf_opt(self.cf(cf).map_err(|err| err.to_string())?, options);
        keys.seek_to_first();
        while let Some(key) = keys.key() {
            let (high, low) = codec::split_index_key(key).ok_or_else(|| "a key of the wrong length".to_owned())?;
            each(high, low);
            keys.next();
        }
        keys.status().map_err(rocksdb::Error::into_string)
    }

    /// Drops and rebuilds every read model and index from the log (see
    /// `Ledger::rebuild_read_models`), then replays again to prove them equal.
    pub(crate) fn rebuild_read_models(mut self, progress: &mut dyn FnMut(u64)) -> Result<ReplayReport> {
        // Dropping a column family discards its files, damaged blocks included.
        for name in [CF_HISTORY, CF_CUSTOMERS, CF_ACCOUNTS] {
            self.db.drop_cf(name)?;
            self.db.create_cf(name, &Tuning::default().cf_options())?;
        }
        let meta = self.cf(CF_META)?;
        let mut batch = WriteBatch::default();
        for key in [META_POLICIES, META_PROTECTION_SETTINGS, META_SNAPSHOT] {
            batch.delete_cf(meta, key);
        }
        for prefix in [codec::PROTECTIONS_PREFIX, codec::PENDING_PREFIX, codec::RISK_PREFIX] {
            batch.delete_range_cf(meta, prefix, prefix_end(prefix).as_slice());
        }
        self.write(batch, true)?;
        let mut history = HistoryCollector::default();
        let mut staged = WriteBatch::default();
        let (state, head, _) = self.replay_log(progress, &mut |state, seq, event| {
            history.this_event.clear();
            crate::project::dirty(state, event, &mut history);
            history.this_event.sort_unstable();
            history.this_event.dedup();
            for account in &history.this_event {
                staged.put_cf(self.cf(CF_HISTORY)?, codec::history_key(*account, seq), []);
            }
            if staged.len() >= REBUILD_BATCH_LEN {
                self.write(std::mem::take(&mut staged), false)?;
            }
            Ok(())
        })?;
        self.write(staged, false)?;
        let mut batch = WriteBatch::default();
        for account in state.accounts() {
            batch.put_cf(self.cf(CF_ACCOUNTS)?, codec::account_key(account.id), codec::encode_account(account)?);
            batch.put_cf(self.cf(CF_CUSTOMERS)?, codec::customer_key(account.customer, account.id), []);
        }
        batch.put_cf(meta, META_POLICIES, codec::encode_policies(state.policy_versions())?);
        batch.put_cf(meta, META_PROTECTION_SETTINGS, codec::encode_protection_settings(state.protection_versions())?);
        for (id, protections) in state.all_protections() {
            batch.put_cf(meta, codec::protections_key(id), codec::encode_protections(protections)?);
        }
        for reservation in state.reservations() {
            batch.put_cf(meta, codec::pending_key(reservation.id), codec::encode_reservation(reservation)?);
        }
        for (counterparty, seq) in state.risk_list() {
            batch.put_cf(meta, codec::risk_key(counterparty), seq.to_be_bytes());
        }
        self.write(batch, true)?;
        if head.seq > 0 {
            self.write_snapshot(&state, head)?;
        }
        self.flush()?;
        self.replay(&mut |_| {}).map(|(_, report)| report)
    }

    /// The protection read models against the replayed state (each compared as a whole).
    fn compare_protections(&self, state: &State, mismatches: &mut Vec<Mismatch>) -> Result<()> {
        let mut expected: Vec<(AccountId, Protections)> =
            state.all_protections().map(|(id, p)| (id, p.clone())).collect();
        expected.sort_by_key(|(id, _)| *id);
        let found = self.all_protections()?;
        if found != expected {
            let first = expected.iter().zip(&found).find(|(a, b)| a != b).map(|(a, _)| a.0);
            mismatches.push(Mismatch {
                account: first,
                field: "protections".into(),
                expected: format!("{} account(s)", expected.len()),
                found: format!("{} account(s), differing", found.len()),
            });
        }
        let expected: Vec<&Reservation> = state.reservations().collect();
        let found = self.pending()?;
        if found.iter().ne(expected.iter().copied()) {
            mismatches.push(Mismatch {
                account: None,
                field: "pending".into(),
                expected: format!("{} pending outflow(s)", expected.len()),
                found: format!("{} pending outflow(s), differing", found.len()),
            });
        }
        let mut expected: Vec<(String, u64)> = state.risk_list().map(|(c, seq)| (c.to_owned(), seq)).collect();
        expected.sort_unstable();
        let found = self.risk_list()?;
        if found != expected {
            mismatches.push(Mismatch {
                account: None,
                field: "risk_list".into(),
                expected: format!("{} listed", expected.len()),
                found: format!("{} listed, differing", found.len()),
            });
        }
        if self.protection_settings()? != state.protection_versions() {
            mismatches.push(Mismatch {
                account: None,
                field: "protection_settings".into(),
                expected: format!("{} version(s)", state.protection_versions().len()),
                found: "different".into(),
            });
        }
        Ok(())
    }

    pub(crate) fn account(&self, account: AccountId) -> Result<Option<Account>> {
        self.db
            .get_cf(self.cf(CF_ACCOUNTS)?, codec::account_key(account))?
            .map(|b| codec::decode_account(&b))
            .transpose()
    }

    pub(crate) fn protections(&self, account: AccountId) -> Result<Option<Protections>> {
        self.db
            .get_cf(self.cf(CF_META)?, codec::protections_key(account))?
            .map(|b| codec::decode_protections(&b))
            .transpose()
    }

    /// Every meta entry under `prefix`, in key order.
    fn meta_prefix(&self, prefix: &[u8], mut each: impl FnMut(&[u8], &[u8]) -> Result<()>) -> Result<()> {
        let mode = IteratorMode::From(prefix, Direction::Forward);
        for item in self.db.iterator_cf(self.cf(CF_META)?, mode) {
            let (key, value) = item?;
            let Some(rest) = key.strip_prefix(prefix) else { break };
            each(rest, &value)?;
        }
        Ok(())
    }

    pub(crate) fn pending(&self) -> Result<Vec<Reservation>> {
        let mut all = Vec::new();
        self.meta_prefix(codec::PENDING_PREFIX, |_, value| {
            all.push(codec::decode_reservation(value)?);
            Ok(())
        })?;
        Ok(all)
    }

    pub(crate) fn all_protections(&self) -> Result<Vec<(AccountId, Protections)>> {
        let mut all = Vec::new();
        self.meta_prefix(codec::PROTECTIONS_PREFIX, |key, value| {
            let id: [u8; 8] =
                key.try_into().map_err(|_| Error::ReadModel("protections key of the wrong length".into()))?;
            all.push((AccountId(u64::from_be_bytes(id)), codec::decode_protections(value)?));
            Ok(())
        })?;
        Ok(all)
    }

    pub(crate) fn risk_list(&self) -> Result<Vec<(String, u64)>> {
        let mut all = Vec::new();
        self.meta_prefix(codec::RISK_PREFIX, |key, value| {
            let counterparty =
                String::from_utf8(key.to_vec()).map_err(|_| Error::ReadModel("risk-list key is not UTF-8".into()))?;
            all.push((counterparty, codec::decode_risk_seq(value)?));
            Ok(())
        })?;
        Ok(all)
    }

    pub(crate) fn risk_listed(&self, counterparty: &str) -> Result<Option<u64>> {
        self.db
            .get_cf(self.cf(CF_META)?, codec::risk_key(counterparty))?
            .map(|b| codec::decode_risk_seq(&b))
            .transpose()
    }

    pub(crate) fn protection_settings(&self) -> Result<Vec<(Timestamp, ProtectionSettings)>> {
        match self.db.get_cf(self.cf(CF_META)?, META_PROTECTION_SETTINGS)? {
            None => Ok(Vec::new()),
            Some(bytes) => codec::decode_protection_settings(&bytes),
        }
    }

    pub(crate) fn policies(&self) -> Result<Vec<PolicyVersion>> {
        match self.db.get_cf(self.cf(CF_META)?, META_POLICIES)? {
            None => Ok(Vec::new()),
            Some(bytes) => codec::decode_policies(&bytes),
        }
    }

    pub(crate) fn customer_accounts(&self, customer: CustomerId) -> Result<Vec<Account>> {
        let start = codec::customer_key(customer, AccountId(0));
        let mut accounts = Vec::new();
        for item in self.db.iterator_cf(self.cf(CF_CUSTOMERS)?, IteratorMode::From(&start, Direction::Forward)) {
            let (key, _) = item?;
            let Some((owner, account)) = codec::split_index_key(&key) else {
                return Err(Error::ReadModel("customer index key of the wrong length".into()));
            };
            if owner != customer.0 {
                break;
            }
            let found = self.account(AccountId(account))?;
            accounts.push(found.ok_or_else(|| Error::ReadModel(format!("indexed account {account} is missing")))?);
        }
        Ok(accounts)
    }

    pub(crate) fn history(
        &self,
        account: AccountId,
        from: Option<Timestamp>,
        to: Option<Timestamp>,
        after_seq: Option<u64>,
        limit: usize,
    ) -> Result<HistoryPage> {
        let start = codec::history_key(account, after_seq.map_or(0, |seq| seq.saturating_add(1)));
        let mut entries = Vec::new();
        let mut next_after_seq = None;
        for item in self.db.iterator_cf(self.cf(CF_HISTORY)?, IteratorMode::From(&start, Direction::Forward)) {
            let (key, _) = item?;
            let Some((owner, seq)) = codec::split_index_key(&key) else {
                return Err(Error::ReadModel("history index key of the wrong length".into()));
            };
            if owner != account.0 {
                break;
            }
            let event = self.event(seq)?;
            if from.is_some_and(|from| event.at < from) {
                continue;
            }
            // Times never decrease along the log: past `to`, nothing later can match.
            if to.is_some_and(|to| event.at > to) {
                break;
            }
            if entries.len() == limit {
                next_after_seq = entries.last().map(|(seq, _): &(u64, Event)| *seq);
                break;
            }
            entries.push((seq, event));
        }
        Ok(HistoryPage { entries, next_after_seq })
    }

    /// Writes records `from_seq..=to_seq` as JSON Lines (see docs/FORMAT.md), checking the chain
    /// as it goes. Returns the number of records written.
    pub(crate) fn export(&self, from_seq: u64, to_seq: Option<u64>, out: &mut dyn Write) -> Result<u64> {
        let from_seq = from_seq.max(1);
        self.check_from(from_seq, to_seq)?;
        let prev = if from_seq == 1 { GENESIS_PREV } else { self.record(from_seq - 1)?.hash };
        let mut written = 0;
        let io = |err: std::io::Error| Error::Io(format!("writing the export: {err}"));
        self.walk(from_seq, to_seq.unwrap_or(u64::MAX), prev, |seq, record| {
            let event = codec::decode_event(seq, record.event_bytes)?;
            let line = serde_json::json!({
                "seq": seq,
                "prev_hash": hex::encode(record.prev),
                "hash": hex::encode(record.hash),
                "event_hex": hex::encode(record.event_bytes),
                "event": event,
            });
            serde_json::to_writer(&mut *out, &line).map_err(|err| Error::Io(format!("writing the export: {err}")))?;
            out.write_all(b"\n").map_err(io)?;
            written += 1;
            Ok(())
        })?;
        out.flush().map_err(io)?;
        Ok(written)
    }

    /// A consistent copy of the whole database in `dir` (which must not exist).
    /// The copy is a complete ledger: marker, and a head witness at a head it certainly holds.
    pub(crate) fn backup(&self, dir: &Path) -> Result<()> {
        if dir.exists() {
            return Err(Error::InvalidArgument(format!(
                "{} already exists; a backup goes into a new directory",
                dir.display()
            )));
        }
        // Read before the checkpoint: the copy holds at least this head.
        let head = self.head()?;
        let checkpoint = rocksdb::checkpoint::Checkpoint::new(&self.db)?;
        checkpoint.create_checkpoint(dir)?;
        layout::restrict_dir(dir)?;
        layout::mark_existing(dir, (head.seq, head.hash))
    }
}

impl From<rocksdb::Error> for Error {
    fn from(err: rocksdb::Error) -> Error {
        Error::Io(err.into_string())
    }
}

/// The history index entries a replay expects, as per-account digests.
#[derive(Default)]
struct HistoryCollector {
    this_event: Vec<AccountId>,
    digests: HashMap<u64, HistoryDigest>,
}

impl HistoryCollector {
    fn collect(&mut self, state: &State, seq: u64, event: &Event) {
        self.this_event.clear();
        crate::project::dirty(state, event, self);
        // An event touching an account twice has one index entry for it.
        self.this_event.sort_unstable();
        self.this_event.dedup();
        for account in &self.this_event {
            self.digests.entry(account.0).or_default().add(seq);
        }
    }
}

impl Dirty for HistoryCollector {
    fn account(&mut self, account: AccountId) {
        self.this_event.push(account);
    }
    fn customer(&mut self, _: CustomerId, _: AccountId) {}
    fn protections(&mut self, _: AccountId) {}
    fn pending(&mut self, _: ledger_core::CommandId) {}
    fn risk(&mut self, _: &str) {}
    fn policies(&mut self) {}
    fn protection_settings(&mut self) {}
}

/// The first key after every key that starts with `prefix` (whose last byte is below 0xff).
fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    if let Some(last) = end.last_mut() {
        *last += 1;
    }
    end
}

/// Acknowledged records after `head` up to the witness are gone.
fn lost_records(head: Head, witness: (u64, Hash), cause: &str) -> Error {
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
fn vanished_file(text: &str) -> bool {
    text.contains("No such file or directory")
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
    if found != ours {
        return Err(Error::NotALedger(format!(
            "{} is a RocksDB database but not a tiered-ledger (column families {found:?}); nothing was changed",
            path.display()
        )));
    }
    Ok(())
}

/// RocksDB's own checksums failing while reading record `seq` is corruption at that sequence.
fn storage_error(seq: u64, err: rocksdb::Error) -> Error {
    if err.kind() == rocksdb::ErrorKind::Corruption {
        Error::Corruption { seq, detail: format!("storage checksum: {}", err.into_string()) }
    } else {
        Error::from(err)
    }
}

fn compare_accounts(expected: &Account, found: &Account, mismatches: &mut Vec<Mismatch>) {
    if expected == found {
        return;
    }
    let mut check = |field: &str, expected_text: String, found_text: String| {
        if expected_text != found_text {
            mismatches.push(Mismatch {
                account: Some(expected.id),
                field: field.into(),
                expected: expected_text,
                found: found_text,
            });
        }
    };
    check("balance", expected.balance.to_string(), found.balance.to_string());
    check("status", format!("{:?}", expected.status), format!("{:?}", found.status));
    check("customer", expected.customer.to_string(), found.customer.to_string());
    check("class", expected.class.to_string(), found.class.to_string());
    check("binding", format!("{:?}", expected.binding), format!("{:?}", found.binding));
    check("funded_from_bound", expected.funded_from_bound.to_string(), found.funded_from_bound.to_string());
    check("usage", format!("{:?}", expected.usage), format!("{:?}", found.usage));
    check("verified_in_person", expected.verified_in_person.to_string(), found.verified_in_person.to_string());
    check("with_card", expected.with_card.to_string(), found.with_card.to_string());
}
