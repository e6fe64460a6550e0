//! The storage seam: [`Store`] over its engine (RocksDB in `rocks.rs`, PostgreSQL in `pg.rs`),
//! opening (after the directory checks of `layout`), staging and committing writes, reading and
//! checking the log, loading a layout 1–3 state from a snapshot plus the log tail. Reading read
//! models is in `models`, whole-log work (verify, rebuild, export, backup) in `audit`, replay in
//! `replay`. Only this folder names rocksdb (tests/structure.rs checks it).

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use ledger_core::{
    Account, AccountId, CustomerId, Event, PolicyVersion, ProtectionSettings, Protections, Reservation, State,
    Timestamp,
};

use crate::codec::{self, GENESIS_PREV, Hash, Record, RecordRef, prefix_end};
use crate::error::{Error, Result};
use crate::layout::{self, Found, Witness};
use crate::project::HistoryDigest;

mod answered;
mod audit;
mod models;
mod outcomes;
mod paged;
mod pg;
mod projection;
mod replay;
mod rocks;
mod scratch;
mod tree;

pub(crate) use replay::replay_accounts_max;
pub(crate) use rocks::Tuning;
use rocks::pair::{self, Rocks};
use rocks::{check_directory, lost_records, vanished_file};

pub use outcomes::*;

/// Whether `path` names a PostgreSQL ledger (`postgres://…` or `postgresql://…`).
pub fn is_database_url(path: &Path) -> bool {
    pg::url_of(path).is_some()
}

/// How to show a ledger's location (a directory, or a PostgreSQL URL without its password).
pub fn location_text(path: &Path) -> String {
    match pg::url_of(path) {
        Some(url) => pg::redacted(url),
        None => path.display().to_string(),
    }
}

pub(crate) const CF_LOG: &str = "log";
pub(crate) const CF_ACCOUNTS: &str = "accounts";
pub(crate) const CF_CUSTOMERS: &str = "customers";
pub(crate) const CF_HISTORY: &str = "history";
pub(crate) const CF_META: &str = "meta";
/// The answered command ids (layout 3): a column family of their own, tuned for point lookups of
/// mostly absent keys (`rocks.rs`).
pub(crate) const CF_ANSWERED: &str = "answered";
const COLUMN_FAMILIES: [&str; 6] = [CF_LOG, CF_ACCOUNTS, CF_CUSTOMERS, CF_HISTORY, CF_META, CF_ANSWERED];

pub(crate) const META_FORMAT: &[u8] = b"format";
pub(crate) const META_HEAD: &[u8] = b"head";
pub(crate) const META_POLICIES: &[u8] = b"policies";
pub(crate) const META_SNAPSHOT: &[u8] = b"snapshot";
pub(crate) const META_PROTECTION_SETTINGS: &[u8] = b"protection-settings";
/// The last sequence number whose history and customer index entries and account read models
/// are stored (by the projector thread); absent in a layout-1 ledger, where they are always at the head.
pub(crate) const META_PROJECTED: &[u8] = b"projected";

#[derive(Debug)]
pub(crate) struct Store {
    engine: Engine,
    /// The head witness, for a store opened for writing on RocksDB.
    witness: Option<Witness>,
    /// How far the projector has come (only a writer's store has one running).
    pub(crate) projection: std::sync::Arc<crate::project::Watermark>,
}

/// The storage engine under the store: everything above it (the chain, read models, checks) is
/// one implementation over [`Store::get`], [`Store::scan`] and [`Staged`] + [`Store::commit`].
#[derive(Debug)]
enum Engine {
    /// Embedded, the default: a directory, each [`Table`] a column family; from layout 5 the
    /// projected keys in a second database inside it (`rocks/pair.rs`).
    Rocks(Rocks),
    /// Replicated: a `postgres://` URL, each [`Table`] a table, the head row fenced (`pg.rs`).
    Postgres(Box<pg::Pg>),
}

/// The tables of the log and its derived keys, as the writer names them (RocksDB: column families).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Table {
    Log = 0,
    Accounts = 1,
    Customers = 2,
    History = 3,
    Meta = 4,
    Answered = 5,
}

impl Table {
    /// Its column family.
    fn cf_name(self) -> &'static str {
        COLUMN_FAMILIES[self as usize]
    }
}

/// Writes staged for one atomic commit: the writer's side of the storage seam. The writer stages
/// puts and deletes by [`Table`] and hands the result to [`Store::commit`]; it never names the
/// storage engine. RocksDB: one `WriteBatch`, column family handles resolved once; PostgreSQL:
/// the operations, applied in one transaction.
pub(crate) struct Staged<'a> {
    inner: StagedIn<'a>,
}

enum StagedIn<'a> {
    Rocks(rocks::pair::Batch<'a>),
    Ops(Vec<Op>),
}

/// Called on each key and value of a scan; `false` ends it.
pub(crate) type Visit<'a> = dyn FnMut(&[u8], &[u8]) -> Result<bool> + 'a;

/// One staged write, for an engine without a native batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    Put(Table, Vec<u8>, Vec<u8>),
    Delete(Table, Vec<u8>),
    /// Every key that starts with the bytes (all keys of the table for none).
    DeletePrefix(Table, Vec<u8>),
}

impl Staged<'_> {
    pub(crate) fn put(&mut self, table: Table, key: &[u8], value: &[u8]) {
        match &mut self.inner {
            StagedIn::Rocks(batch) => batch.put(table, key, value),
            StagedIn::Ops(ops) => ops.push(Op::Put(table, key.to_vec(), value.to_vec())),
        }
    }

    pub(crate) fn delete(&mut self, table: Table, key: &[u8]) {
        match &mut self.inner {
            StagedIn::Rocks(batch) => batch.delete(table, key),
            StagedIn::Ops(ops) => ops.push(Op::Delete(table, key.to_vec())),
        }
    }

    /// Deletes every key of `table` that starts with `prefix`.
    pub(crate) fn delete_prefix(&mut self, table: Table, prefix: &[u8]) {
        match &mut self.inner {
            StagedIn::Rocks(batch) => match prefix_end(prefix) {
                Some(end) => batch.delete_range(table, prefix, end.as_slice()),
                None => batch.delete_range(table, prefix, [0xff_u8; 64].as_slice()),
            },
            StagedIn::Ops(ops) => ops.push(Op::DeletePrefix(table, prefix.to_vec())),
        }
    }

    /// Staged operations.
    pub(crate) fn len(&self) -> usize {
        match &self.inner {
            StagedIn::Rocks(batch) => batch.len(),
            StagedIn::Ops(ops) => ops.len(),
        }
    }

    /// The staged writes, no longer borrowing the store: owned and `Send`, for the committer
    /// thread (`committer.rs`), which writes them while the writer decides the next batch.
    pub(crate) fn seal(self) -> Sealed {
        Sealed(match self.inner {
            StagedIn::Rocks(batch) => SealedIn::Rocks(batch.seal()),
            StagedIn::Ops(ops) => SealedIn::Ops(ops),
        })
    }
}

/// A [`Staged`] write closed for further puts: what [`Store::commit_sealed`] writes.
pub(crate) struct Sealed(SealedIn);

enum SealedIn {
    Rocks(rocks::pair::SealedBatch),
    Ops(Vec<Op>),
}

/// Attempts at a read-only open that meets a file the writer removed meanwhile.
const READ_ONLY_OPEN_ATTEMPTS: u32 = 50;

impl Store {
    /// Creates a new ledger at `path` (absent or an empty directory).
    pub(crate) fn create(path: &Path, tuning: Tuning) -> Result<Store> {
        if let Some(url) = pg::url_of(path) {
            let store = Store {
                engine: Engine::Postgres(Box::new(pg::Pg::create(url)?)),
                witness: None,
                projection: Default::default(),
            };
            store.commit(store.new_layout()?, true)?;
            return Ok(store);
        }
        let mut store = Store::create_unmarked(path, tuning, |_| Ok(Head::EMPTY))?;
        store.witness = Some(Witness::open(path)?);
        Ok(store)
    }
    /// Creates a RocksDB ledger at `path` (absent or an empty directory, or one an interrupted
    /// creation left), lets `fill` write into it, and marks it a ledger at the head `fill`
    /// returns only once all of it is durable (`layout::begin_new`, `finish_new`): a creation
    /// killed at any point leaves no ledger, and one that fails (a full disk) leaves nothing.
    pub(crate) fn create_unmarked(
        path: &Path,
        tuning: Tuning,
        fill: impl FnOnce(&Store) -> Result<Head>,
    ) -> Result<Store> {
        let created = layout::begin_new(path)?;
        let built = (|| {
            let main = rocks::create(path, tuning)?;
            let projected = Some(pair::create(&main, path, tuning)?);
            let store = Store {
                engine: Engine::Rocks(Rocks { main, projected }),
                witness: None,
                projection: Default::default(),
            };
            store.commit(store.new_layout()?, true)?;
            let head = fill(&store)?;
            store.flush()?;
            layout::finish_new(path, (head.seq, head.hash))?;
            Ok(store)
        })();
        if built.is_err() {
            layout::abandon_new(path, created);
        }
        built
    }
    /// Opens the existing ledger at `path` for writing. Refuses, before RocksDB touches anything,
    /// a path that is not a ledger; refuses a ledger whose log lost acknowledged records.
    ///
    /// The write-ahead log is recovered with absolute consistency. When that fails, a read-only
    /// point-in-time view decides: if its log still reaches the head witness, the damage is an
    /// unacknowledged write cut short by a crash, and the ledger opens without it; otherwise
    /// acknowledged records are gone and opening fails, naming them.
    /// `work` is told of a conversion's progress ([`crate::OpenWork`]).
    pub(crate) fn open(path: &Path, tuning: Tuning, work: &dyn Fn(&crate::OpenWork)) -> Result<Store> {
        Store::open_with(path, tuning, false, work)
    }
    /// [`Store::open`] for `rebuild-indexes`: also a ledger whose last rebuild was cut short
    /// (`codec::LAYOUT_REBUILDING`), which every other open refuses.
    pub(crate) fn open_to_rebuild(path: &Path, tuning: Tuning, work: &dyn Fn(&crate::OpenWork)) -> Result<Store> {
        Store::open_with(path, tuning, true, work)
    }
    fn open_with(path: &Path, tuning: Tuning, rebuilding: bool, work: &dyn Fn(&crate::OpenWork)) -> Result<Store> {
        if let Some(url) = pg::url_of(path) {
            let store = Store {
                engine: Engine::Postgres(Box::new(pg::Pg::open_writer(url)?)),
                witness: None,
                projection: Default::default(),
            };
            store.check_format_or_rebuilding(rebuilding)?;
            return Ok(store);
        }
        let found = check_directory(path)?;
        let witness = layout::read_witness(path, found)?;
        let db = rocks::open_recovering(path, tuning, |damage| {
            // The write-ahead log failed absolute consistency: a point-in-time view decides.
            let view = Store::open_view(path)?;
            let head = view.head()?;
            drop(view);
            match witness.filter(|witness| witness.0 > head.seq) {
                Some(witness) => Err(lost_records(head, witness, damage)),
                None => Ok(()),
            }
        })?;
        let rocks = Rocks { main: db, projected: None };
        let mut store = Store { engine: Engine::Rocks(rocks), witness: None, projection: Default::default() };
        store.check_witness(witness, rebuilding)?;
        if let Engine::Rocks(rocks) = &mut store.engine {
            rocks.attach_projected(path, tuning, rebuilding, work)?;
        }
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
        if let Some(url) = pg::url_of(path) {
            let store = Store {
                engine: Engine::Postgres(Box::new(pg::Pg::open_reader(url)?)),
                witness: None,
                projection: Default::default(),
            };
            store.check_format()?;
            return Ok(store);
        }
        let found = check_directory(path)?;
        let mut attempt = 0;
        loop {
            // The witness first: whatever it names was durable before the view below opens.
            let witness = layout::read_witness(path, found)?;
            match Store::open_view(path) {
                Ok(store) => {
                    if let Engine::Rocks(rocks) = &store.engine {
                        let from = witness.map_or(0, |(seq, _)| seq);
                        if attempt < READ_ONLY_OPEN_ATTEMPTS && rocks.torn(from)? {
                            attempt += 1;
                            std::thread::sleep(std::time::Duration::from_millis(u64::from(attempt) * 5));
                            continue;
                        }
                    }
                    store.check_witness(witness, false)?;
                    if let Engine::Rocks(rocks) = &store.engine {
                        rocks.check_projected(path)?;
                    }
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
        // The projected keys' first: what they hold is in the log the view opened after them.
        let projected = pair::open_view(path);
        let main = rocks::open_view(path)?;
        let rocks = pair::view(main, projected, path)?;
        Ok(Store { engine: Engine::Rocks(rocks), witness: None, projection: Default::default() })
    }
    /// A new ledger's layout keys: this build's layout, nothing projected yet.
    fn new_layout(&self) -> Result<Staged<'_>> {
        let mut staged = self.staged()?;
        staged.put(Table::Meta, META_FORMAT, &[codec::LAYOUT_VERSION]);
        staged.put(Table::Meta, META_PROJECTED, &0u64.to_be_bytes());
        Ok(staged)
    }
    /// The ledger's layout version (`meta/format`): this build reads 1, 2 and 3.
    pub(crate) fn layout_version(&self) -> Result<u8> {
        let known = [
            codec::LAYOUT_VERSION,
            codec::LAYOUT_VERSION_ONE_DATABASE,
            codec::LAYOUT_VERSION_ANSWERS_ON_DISK,
            codec::LAYOUT_VERSION_CHUNKED_ANSWERS,
            codec::LAYOUT_VERSION_UNPROJECTED,
        ];
        match self.get(Table::Meta, META_FORMAT)? {
            Some(found) if found.len() == 1 && known.contains(&found[0]) => Ok(found[0]),
            Some(found) if found == [codec::LAYOUT_REBUILDING] => Err(Error::Rebuilding),
            found => Err(Error::UnsupportedFormat {
                found: found.and_then(|f| f.first().copied()).unwrap_or(0),
                supported: codec::LAYOUT_VERSION,
            }),
        }
    }
    fn check_format(&self) -> Result<()> {
        self.layout_version().map(|_| ())
    }
    /// [`Store::check_format`], but a rebuild cut short passes when `rebuilding` (the open is
    /// `rebuild-indexes`'s own).
    fn check_format_or_rebuilding(&self, rebuilding: bool) -> Result<()> {
        if rebuilding && self.get(Table::Meta, META_FORMAT)?.as_deref() == Some(&[codec::LAYOUT_REBUILDING][..]) {
            return Ok(());
        }
        self.check_format()
    }
    /// The last sequence number whose history entries and account read models are stored.
    pub(crate) fn projected(&self) -> Result<u64> {
        match self.get(Table::Meta, META_PROJECTED)? {
            None => Ok(self.head()?.seq),
            Some(bytes) => codec::decode_projected(&bytes),
        }
    }
    /// The log must still hold the acknowledged head the witness names (checked first: a log
    /// that lost everything lost its format key too), in a format this build reads.
    fn check_witness(&self, witness: Option<(u64, Hash)>, rebuilding: bool) -> Result<()> {
        let head = self.head()?;
        if let Some(witness) = witness.filter(|witness| witness.0 > head.seq) {
            return Err(lost_records(head, witness, "the log ends early"));
        }
        self.check_format_or_rebuilding(rebuilding)?;
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
        let inner = match &self.engine {
            Engine::Rocks(rocks) => StagedIn::Rocks(rocks.batch()?),
            Engine::Postgres(_) => StagedIn::Ops(Vec::new()),
        };
        Ok(Staged { inner })
    }
    /// Commits `staged` atomically; with `sync`, only after it is durable (RocksDB: on disk;
    /// PostgreSQL: committed, which with a synchronous standby means on two machines).
    pub(crate) fn commit(&self, staged: Staged<'_>, sync: bool) -> Result<()> {
        self.commit_sealed(staged.seal(), sync)
    }
    /// [`Store::commit`] of a sealed write (on PostgreSQL in the committing session, beside
    /// the session the writer reads through).
    pub(crate) fn commit_sealed(&self, sealed: Sealed, sync: bool) -> Result<()> {
        match (&self.engine, sealed.0) {
            (Engine::Rocks(rocks), SealedIn::Rocks(batch)) => rocks.write(batch, sync),
            (Engine::Postgres(pg), SealedIn::Ops(ops)) => pg.commit(ops),
            _ => Err(Error::Io("staged writes from another storage engine".into())),
        }
    }
    /// Closes the committing PostgreSQL session, on the calling thread (the committer's, as it
    /// ends: see [`Store::end_projection_session`]).
    pub(crate) fn end_commit_session(&self) {
        if let Engine::Postgres(pg) = &self.engine {
            pg.end_commit_session();
        }
    }
    /// The value of `key` in `table`.
    pub(crate) fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>> {
        match &self.engine {
            Engine::Rocks(rocks) => rocks::get(rocks.db_of(table, key), table, key),
            Engine::Postgres(pg) => pg.get(table, key),
        }
    }
    /// Calls `visit` on the keys of `table` from `from` on, in key order, while it answers
    /// `true`. With `checksums`, RocksDB verifies each block it reads.
    pub(crate) fn scan(&self, table: Table, from: &[u8], checksums: bool, visit: &mut Visit<'_>) -> Result<()> {
        match &self.engine {
            Engine::Rocks(rocks) => rocks::scan(rocks.db_of_table(table), table, from, checksums, visit),
            Engine::Postgres(pg) => pg.scan(table, from, visit),
        }
    }
    /// The keys of `table` in each inclusive range `(lo, hi)` of `ranges`, each in key order, in
    /// the order of `ranges`: one query on PostgreSQL, one ordered walk per range on RocksDB.
    pub(crate) fn key_ranges<K: AsRef<[u8]>>(&self, table: Table, ranges: &[(K, K)]) -> Result<Vec<Vec<Vec<u8>>>> {
        match &self.engine {
            Engine::Rocks(rocks) => rocks::key_ranges(rocks.db_of_table(table), table, ranges),
            Engine::Postgres(pg) => pg.key_ranges(table, ranges),
        }
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
    /// Whether another machine may have committed a batch whose commit failed here (a
    /// replicated engine: the connection can die after the server committed).
    pub(crate) fn commit_outcome_unknown_on_error(&self) -> bool {
        matches!(self.engine, Engine::Postgres(_))
    }
    /// The head the writer continues from after reloading its state.
    pub(crate) fn rebase(&self, head: Head) {
        if let Engine::Postgres(pg) = &self.engine {
            pg.rebase(head.seq);
        }
    }
    /// The RocksDB database, for what only it does (backup, dropping column families).
    fn rocks(&self, what: &str) -> Result<&Rocks> {
        match &self.engine {
            Engine::Rocks(rocks) => Ok(rocks),
            Engine::Postgres(_) => Err(Error::InvalidArgument(format!(
                "{what} works on an embedded ledger; on PostgreSQL use the cluster's own tools (docs/CLUSTER.md)"
            ))),
        }
    }
    /// The committed head.
    pub(crate) fn head(&self) -> Result<Head> {
        match self.get(Table::Meta, META_HEAD)? {
            None => Ok(Head::EMPTY),
            Some(bytes) => codec::decode_head(&bytes).map(|(seq, hash)| Head { seq, hash }),
        }
    }
    /// The record at `seq`, its own hash checked.
    pub(crate) fn record(&self, seq: u64) -> Result<Record> {
        let bytes = match &self.engine {
            Engine::Rocks(rocks) => rocks::record_bytes(&rocks.main, seq)?,
            Engine::Postgres(pg) => pg.get(Table::Log, &codec::seq_key(seq))?,
        }
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
        self.walk_while(from_seq, to_seq, prev, |seq, record| visit(seq, record).map(|()| true))
    }
    /// [`Store::walk`] that stops after the first record `visit` answers `false` for.
    pub(crate) fn walk_while(
        &self,
        from_seq: u64,
        to_seq: u64,
        prev: Hash,
        mut visit: impl FnMut(u64, &RecordRef<'_>) -> Result<bool>,
    ) -> Result<Head> {
        let mut head = Head { seq: from_seq.saturating_sub(1), hash: prev };
        let start = codec::seq_key(from_seq);
        let db = match &self.engine {
            Engine::Rocks(rocks) => &rocks.main,
            Engine::Postgres(_) => {
                let mut expected_seq = from_seq;
                self.scan(Table::Log, &start, false, &mut |key, value| {
                    let seq = codec::decode_seq_key(key)?;
                    if seq > to_seq {
                        return Ok(false);
                    }
                    if seq != expected_seq {
                        return Err(Error::Corruption {
                            seq: expected_seq,
                            detail: format!("record missing (next is {seq})"),
                        });
                    }
                    let record = RecordRef::decode(seq, value)?;
                    record.check_link(seq, &head.hash)?;
                    let go_on = visit(seq, &record)?;
                    head = Head { seq, hash: record.hash };
                    expected_seq += 1;
                    Ok(go_on)
                })?;
                return Ok(head);
            }
        };
        rocks::walk_log(db, from_seq, to_seq, head, &mut visit)
    }
    /// The state as of the head: the latest snapshot (if it checks out against the chain) plus
    /// the log after it. Checks the whole tail and that it ends exactly at the committed head.
    pub(crate) fn load_state(&self) -> Result<(State, Head)> {
        self.load_state_then(u64::MAX, &mut |_, _, _| {})
    }
    /// Loads the state from the snapshot and the log after it, calling `each` after each event
    /// applied. The snapshot is used only if it is at or before `start_by` (else the log is
    /// replayed from genesis).
    fn load_state_then(
        &self,
        start_by: u64,
        each: &mut dyn FnMut(&State, u64, &ledger_core::Event),
    ) -> Result<(State, Head)> {
        let snapshot = match self.get(Table::Meta, META_SNAPSHOT)? {
            // A snapshot past the projected keys breaks the projector's invariant: replay it all.
            Some(bytes) if codec::snapshot_seq(&bytes)?.is_some_and(|seq| seq <= start_by) => Some(bytes),
            _ => None,
        };
        let (mut state, start) = match snapshot {
            None => (State::new(), Head::EMPTY),
            Some(bytes) => match codec::decode_snapshot(&bytes)? {
                // An older snapshot layout: rebuild from the log (the next snapshot replaces it).
                None => (State::new(), Head::EMPTY),
                Some(snapshot) => {
                    let (seq, hash) = (snapshot.seq, snapshot.hash);
                    if self.record(seq)?.hash != hash {
                        return Err(Error::Corruption { seq, detail: "snapshot does not match the log's hash".into() });
                    }
                    (snapshot.state, Head { seq, hash })
                }
            },
        };
        let head = self.walk(start.seq + 1, u64::MAX, start.hash, |seq, record| {
            let event = codec::decode_event(seq, record.event_bytes)?;
            state.apply(&event).map_err(|err| Error::Corruption { seq, detail: err.to_string() })?;
            each(&state, seq, &event);
            Ok(())
        })?;
        self.check_reaches_head(head)?;
        // The ids the tail answered are in the store; held here, a due event's (which carries an
        // id answered before the snapshot) would stand for its first answer.
        state.forget_answers();
        Ok((state, head))
    }
    /// Flushes every column family's memtable to SST files (on a clean close: the next open
    /// reads tables instead of replaying the write-ahead log).
    pub(crate) fn flush(&self) -> Result<()> {
        match &self.engine {
            Engine::Rocks(rocks) => rocks.flush(),
            Engine::Postgres(_) => Ok(()),
        }
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
}
