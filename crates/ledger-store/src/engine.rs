//! The single-writer engine and the embedding API.
//!
//! Any number of threads hold a [`Ledger`] and submit commands. One writer thread owns the
//! state: it takes every request waiting in the channel (up to `batch_len_max` commands),
//! decides, encodes and hash-chains them, writes the events, indexes and read models in one
//! RocksDB `WriteBatch` with one fsync, and only then answers each caller (group commit).
//! If that write fails, no caller is told "accepted" and the writer reloads its state from disk,
//! so memory never runs ahead of what is durable.

use std::collections::HashSet;
use std::fmt;
use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender};
use ledger_core::{
    Account, AccountClass, AccountId, Admission, Amount, Command, CommandBody, CommandId, CustomerId, Decision, Event,
    EventBody, PolicyVersion, ProtectionSettings, Protections, RejectReason, Reservation, State, Timestamp, decide_in,
};
use rocksdb::WriteBatch;

use crate::codec::{self, Record};
use crate::error::{Error, Result};
use crate::store::{
    CF_ACCOUNTS, CF_CUSTOMERS, CF_HISTORY, CF_LOG, CF_META, Head, HistoryPage, META_HEAD, META_POLICIES,
    META_PROTECTION_SETTINGS, ReplayReport, Store, Tuning, VerifyReport,
};

/// Where business time comes from when the embedder does not give it.
pub trait Clock: Send + Sync + fmt::Debug {
    fn now(&self) -> Timestamp;
}

/// The machine's clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX));
        Timestamp::from_millis(ms).unwrap_or(Timestamp::UNIX_EPOCH)
    }
}

/// A clock tests set by hand.
#[derive(Debug)]
pub struct FakeClock {
    ms: AtomicI64,
}

impl FakeClock {
    pub fn new(start: Timestamp) -> FakeClock {
        FakeClock { ms: AtomicI64::new(start.as_millis()) }
    }

    pub fn set(&self, at: Timestamp) {
        self.ms.store(at.as_millis(), Ordering::SeqCst);
    }

    pub fn advance_millis(&self, ms: i64) {
        self.ms.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for FakeClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_millis(self.ms.load(Ordering::SeqCst)).unwrap_or(Timestamp::UNIX_EPOCH)
    }
}

/// The default of [`LedgerOptions::max_ahead_of_clock`]: five minutes, well above the skew of
/// clocks kept by NTP and well below a mistyped day or year.
pub const DEFAULT_MAX_AHEAD_OF_CLOCK: std::time::Duration = std::time::Duration::from_secs(300);

/// How a ledger runs.
#[derive(Clone, Debug)]
pub struct LedgerOptions {
    pub clock: Arc<dyn Clock>,
    /// Most commands committed in one write batch (one fsync).
    pub batch_len_max: usize,
    /// A snapshot is written after this many events (and on a clean close).
    pub snapshot_every_events: u64,
    /// fsync every batch before acknowledging it. Only tests of speed without durability turn
    /// this off.
    pub sync: bool,
    /// Commands dated further ahead of the clock than this are rejected (`TIME_AHEAD_OF_CLOCK`);
    /// `None` accepts any future time. Past times (historical imports) are never affected.
    pub max_ahead_of_clock: Option<std::time::Duration>,
    /// RocksDB memtable size per column family; `None` keeps RocksDB's default (64 MiB). Smaller
    /// means more frequent flushes and write-ahead log rotation.
    pub write_buffer_bytes: Option<usize>,
}

impl Default for LedgerOptions {
    fn default() -> LedgerOptions {
        LedgerOptions {
            clock: Arc::new(SystemClock),
            batch_len_max: 8_192,
            snapshot_every_events: 1_000_000,
            sync: true,
            max_ahead_of_clock: Some(DEFAULT_MAX_AHEAD_OF_CLOCK),
            write_buffer_bytes: None,
        }
    }
}

/// The answer to one command: the event recorded for it (an acceptance or a rejection) and its
/// sequence number. A retried command id gets its first receipt again, with `duplicate` set; if
/// the retry's request differs from the first (business time aside), `conflict` is also set and
/// nothing is done: the id belongs to the first request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receipt {
    pub seq: u64,
    pub event: Event,
    pub duplicate: bool,
    pub conflict: bool,
}

impl Receipt {
    /// The rejection, if the command was rejected.
    pub fn rejection(&self) -> Option<&RejectReason> {
        match &self.event.body {
            EventBody::Rejected { reason, .. } => Some(reason),
            _ => None,
        }
    }

    /// True if the command (not a conflicting reuse of its id) was accepted.
    pub fn is_accepted(&self) -> bool {
        !self.conflict && self.rejection().is_none()
    }

    /// The reservation, if the command was accepted but not posted: an outflow held for
    /// large-transaction verification or a delayed transfer (its funds and limit use are
    /// reserved until it is confirmed, executed, declined, cancelled or expires).
    pub fn pending(&self) -> Option<&Reservation> {
        match &self.event.body {
            EventBody::Reserved { reservation, .. } => Some(reservation),
            _ => None,
        }
    }
}

/// Use of one limit bucket, now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BucketReport {
    pub bucket: String,
    pub day_used: Amount,
    pub day_cap: Option<Amount>,
    pub day_remaining: Option<Amount>,
    pub year_used: Amount,
    pub year_cap: Option<Amount>,
    pub year_remaining: Option<Amount>,
}

/// Limit use of one account at a time, under the policy in force then.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsageReport {
    pub account: AccountId,
    pub class: AccountClass,
    pub at: Timestamp,
    pub policy: Option<String>,
    pub buckets: Vec<BucketReport>,
}

/// Where the writer's time went since the ledger was opened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriterStats {
    pub batches: u64,
    pub commands: u64,
    /// Deciding, applying, encoding and hash-chaining.
    pub decide_nanos: u64,
    /// Staging the history index, read models and head into the write batch.
    pub stage_nanos: u64,
    /// RocksDB's write of the batch, WAL fsync included.
    pub write_nanos: u64,
}

enum Request {
    Stats { reply: Sender<WriterStats> },
    Submit { commands: Vec<Command>, reply: Sender<Result<Vec<Receipt>>> },
    Snapshot { reply: Sender<Result<()>> },
    State { reply: Sender<State> },
    Close { reply: Sender<Result<()>> },
}

/// A handle to an open ledger. Cheap to clone and to share between threads; the ledger closes
/// (writing a snapshot) when the last handle is dropped or [`Ledger::close`] is called.
#[derive(Clone, Debug)]
pub struct Ledger {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    reader: Reader,
    tx: Sender<Request>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        let (reply, answer) = crossbeam_channel::bounded(1);
        if self.tx.send(Request::Close { reply }).is_ok() {
            let _ = answer.recv();
        }
        if let Ok(mut writer) = self.writer.lock()
            && let Some(handle) = writer.take()
        {
            let _ = handle.join();
        }
    }
}

impl Ledger {
    /// Creates a new, empty ledger at `path`, which must be absent or an empty directory (it is
    /// created with mode 0700), and opens it.
    pub fn create(path: impl AsRef<Path>, options: LedgerOptions) -> Result<Ledger> {
        check_options(&options)?;
        Ledger::start(Store::create(path.as_ref(), tuning(&options))?, options)
    }

    /// Opens the existing ledger at `path`: loads the latest snapshot, replays and checks the log
    /// after it, and starts the writer thread. Creates nothing: a path that holds no ledger is
    /// [`Error::NotALedger`], and a log that lost acknowledged records is [`Error::Corruption`].
    pub fn open(path: impl AsRef<Path>, options: LedgerOptions) -> Result<Ledger> {
        check_options(&options)?;
        Ledger::start(Store::open(path.as_ref(), tuning(&options))?, options)
    }

    /// Rebuilds every read model and index of the ledger at `path` from its log (which is
    /// checked from genesis as it is read), for a ledger whose derived keys are damaged. Needs
    /// the ledger closed; `progress` gets the events applied so far.
    pub fn rebuild_read_models(path: impl AsRef<Path>, progress: &mut dyn FnMut(u64)) -> Result<ReplayReport> {
        Store::open(path.as_ref(), Tuning::default())?.rebuild_read_models(progress)
    }

    fn start(store: Store, options: LedgerOptions) -> Result<Ledger> {
        let store = Arc::new(store);
        let (state, head) = store.load_state()?;
        let (tx, rx) = crossbeam_channel::unbounded();
        let writer = Writer {
            store: Arc::clone(&store),
            state,
            head,
            events_since_snapshot: 0,
            failed: None,
            options: options.clone(),
            stats: WriterStats::default(),
        };
        let handle = std::thread::Builder::new()
            .name("ledger-writer".into())
            .spawn(move || writer.run(rx))
            .map_err(|err| Error::Io(format!("starting the writer thread: {err}")))?;
        let reader = Reader { store, clock: options.clock };
        Ok(Ledger { shared: Arc::new(Shared { reader, tx, writer: Mutex::new(Some(handle)) }) })
    }

    fn request<T>(&self, make: impl FnOnce(Sender<T>) -> Request) -> Result<T> {
        let (reply, answer) = crossbeam_channel::bounded(1);
        self.shared.tx.send(make(reply)).map_err(|_| Error::Stopped("the writer has exited".into()))?;
        answer.recv().map_err(|_| Error::Stopped("the writer has exited".into()))
    }

    /// Decides and durably records one command. Blocks until its batch is on disk.
    pub fn submit(&self, command: Command) -> Result<Receipt> {
        let mut receipts = self.submit_batch(vec![command])?;
        receipts.pop().ok_or_else(|| Error::Stopped("no receipt returned".into()))
    }

    /// Decides and durably records `commands` in order; one receipt per command, in order.
    /// Either all are recorded or (on an I/O error) none.
    pub fn submit_batch(&self, commands: Vec<Command>) -> Result<Vec<Receipt>> {
        if commands.is_empty() {
            return Ok(Vec::new());
        }
        self.request(|reply| Request::Submit { commands, reply })?
    }

    /// A command with a fresh random id, at the clock's time.
    pub fn command(&self, body: CommandBody) -> Command {
        Command { id: CommandId(uuid::Uuid::new_v4()), at: self.now(), body }
    }

    /// A copy of the writer's live state (after the last commit).
    pub fn live_state(&self) -> Result<State> {
        self.request(|reply| Request::State { reply })
    }

    /// Where the writer's time went since opening.
    pub fn stats(&self) -> Result<WriterStats> {
        self.request(|reply| Request::Stats { reply })
    }

    /// Writes a snapshot now.
    pub fn snapshot(&self) -> Result<()> {
        self.request(|reply| Request::Snapshot { reply })?
    }

    /// Writes a snapshot and stops the writer. Other handles then get [`Error::Stopped`].
    pub fn close(self) -> Result<()> {
        let result = self.request(|reply| Request::Close { reply })?;
        if let Ok(mut writer) = self.shared.writer.lock()
            && let Some(handle) = writer.take()
        {
            handle.join().map_err(|_| Error::Stopped("the writer thread panicked".into()))?;
        }
        result
    }
}

fn tuning(options: &LedgerOptions) -> Tuning {
    Tuning { write_buffer_bytes: options.write_buffer_bytes }
}

fn check_options(options: &LedgerOptions) -> Result<()> {
    if options.batch_len_max == 0 {
        return Err(Error::InvalidArgument("batch_len_max must be at least 1".into()));
    }
    Ok(())
}

/// Read access to a ledger: queries, verification, replay, export and backup. Every [`Ledger`]
/// derefs to one; [`Reader::open`] opens a ledger read-only (for auditors, and for queries while
/// another process runs it).
#[derive(Clone, Debug)]
pub struct Reader {
    store: Arc<Store>,
    clock: Arc<dyn Clock>,
}

impl Reader {
    /// Opens the ledger at `path` read-only: nothing is written and no lock is taken.
    pub fn open(path: impl AsRef<Path>, clock: Arc<dyn Clock>) -> Result<Reader> {
        Ok(Reader { store: Arc::new(Store::open_read_only(path.as_ref())?), clock })
    }

    /// The clock's time.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// The committed head: last sequence number and hash.
    pub fn head(&self) -> Result<Head> {
        self.store.head()
    }

    /// An account as of the last commit.
    pub fn account(&self, account: AccountId) -> Result<Option<Account>> {
        self.store.account(account)
    }

    /// An account's balance as of the last commit.
    pub fn balance(&self, account: AccountId) -> Result<Option<Amount>> {
        Ok(self.account(account)?.map(|account| account.balance))
    }

    /// An account's protections (locks, personal limits, night lock, reserved funds) as of the
    /// last commit; `None` if it never used one.
    pub fn protections(&self, account: AccountId) -> Result<Option<Protections>> {
        self.store.protections(account)
    }

    /// Funds of `account` free to move: the balance less what holds and delayed transfers reserve.
    pub fn available(&self, account: AccountId) -> Result<Option<Amount>> {
        let Some(found) = self.account(account)? else { return Ok(None) };
        let reserved = self.protections(account)?.map_or(Amount::ZERO, |p| p.reserved);
        Ok(Some(found.balance.checked_sub(reserved).unwrap_or(Amount::ZERO)))
    }

    /// Pending outflows (held for verification or scheduled), of one account or of all, by
    /// command id.
    pub fn pending(&self, account: Option<AccountId>) -> Result<Vec<Reservation>> {
        let all = self.store.pending()?;
        Ok(all.into_iter().filter(|r| account.is_none_or(|account| r.account == account)).collect())
    }

    /// The sequence number of the event that risk-listed `counterparty`, if it is listed now.
    pub fn risk_listed(&self, counterparty: &str) -> Result<Option<u64>> {
        self.store.risk_listed(counterparty)
    }

    /// The protection settings in force at `at` (defaults before any version).
    pub fn protection_settings_at(&self, at: Timestamp) -> Result<ProtectionSettings> {
        let mut versions = self.store.protection_settings()?;
        let index = versions.partition_point(|(from, _)| *from <= at);
        Ok(index.checked_sub(1).map(|i| versions.swap_remove(i).1).unwrap_or_default())
    }

    /// The accounts of a customer, open and closed, by account number.
    pub fn customer_accounts(&self, customer: CustomerId) -> Result<Vec<Account>> {
        self.store.customer_accounts(customer)
    }

    /// Limit use and what remains, now (by the clock).
    pub fn usage(&self, account: AccountId) -> Result<Option<UsageReport>> {
        self.usage_at(account, self.now())
    }

    /// Limit use and what remains at `at`, under the policy in force at `at`.
    pub fn usage_at(&self, account: AccountId, at: Timestamp) -> Result<Option<UsageReport>> {
        let Some(found) = self.account(account)? else { return Ok(None) };
        let versions = self.store.policies()?;
        let policy = PolicyVersion::in_force(&versions, at);
        let (day, year) = (at.beijing_day(), at.beijing_year());
        let buckets = policy
            .map(|policy| {
                policy
                    .rules(found.class)
                    .buckets
                    .iter()
                    .map(|bucket| {
                        let (day_used, year_used) = found
                            .bucket_usage(&bucket.name)
                            .map_or((Amount::ZERO, Amount::ZERO), |usage| usage.used_at(day, year));
                        BucketReport {
                            bucket: bucket.name.clone(),
                            day_used,
                            day_cap: bucket.day_cap,
                            day_remaining: bucket.day_cap.map(|cap| cap.saturating_sub(day_used)),
                            year_used,
                            year_cap: bucket.year_cap,
                            year_remaining: bucket.year_cap.map(|cap| cap.saturating_sub(year_used)),
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(Some(UsageReport {
            account,
            class: found.class,
            at,
            policy: policy.map(|policy| policy.name.clone()),
            buckets,
        }))
    }

    /// One page of the events that touched `account`, oldest first, optionally within a time
    /// range; pass the page's `next_after_seq` back as `after_seq` for the next page.
    pub fn history(
        &self,
        account: AccountId,
        from: Option<Timestamp>,
        to: Option<Timestamp>,
        after_seq: Option<u64>,
        limit: usize,
    ) -> Result<HistoryPage> {
        if limit == 0 {
            return Err(Error::InvalidArgument("history limit must be at least 1".into()));
        }
        self.store.history(account, from, to, after_seq, limit)
    }

    /// The event at `seq`, its hash and link checked.
    pub fn event(&self, seq: u64) -> Result<Event> {
        self.store.event(seq)
    }

    /// Walks the hash chain from `from_seq` (1 = genesis) to the head; see [`VerifyReport`].
    pub fn verify(&self, from_seq: u64, expect_head: Option<Head>) -> Result<VerifyReport> {
        self.store.verify(from_seq, expect_head, &mut |_| {})
    }

    /// [`Reader::verify`], calling `progress` with each sequence number checked.
    pub fn verify_with_progress(
        &self,
        from_seq: u64,
        expect_head: Option<Head>,
        progress: &mut dyn FnMut(u64),
    ) -> Result<VerifyReport> {
        self.store.verify(from_seq, expect_head, progress)
    }

    /// Rebuilds the state from genesis and compares it with the stored read models.
    pub fn replay(&self) -> Result<ReplayReport> {
        self.store.replay(&mut |_| {}).map(|(_, report)| report)
    }

    /// [`Reader::replay`], also returning the replayed state and calling `progress` with each
    /// sequence number applied.
    pub fn replay_with_progress(&self, progress: &mut dyn FnMut(u64)) -> Result<(State, ReplayReport)> {
        self.store.replay(progress)
    }

    /// The state rebuilt from genesis, ignoring snapshots.
    pub fn replayed_state(&self) -> Result<State> {
        self.store.replay(&mut |_| {}).map(|(state, _)| state)
    }

    /// The state a fresh open would load: the latest snapshot plus the log after it.
    pub fn snapshot_state(&self) -> Result<State> {
        self.store.load_state().map(|(state, _)| state)
    }

    /// Writes the events `from_seq..=to_seq` as JSON Lines (docs/FORMAT.md).
    pub fn export(&self, from_seq: u64, to_seq: Option<u64>, out: &mut dyn std::io::Write) -> Result<u64> {
        self.store.export(from_seq, to_seq, out)
    }

    /// A consistent online copy of the ledger in `dir` (which must not exist yet).
    pub fn backup(&self, dir: impl AsRef<Path>) -> Result<()> {
        self.store.backup(dir.as_ref())
    }
}

impl std::ops::Deref for Ledger {
    type Target = Reader;

    fn deref(&self) -> &Reader {
        &self.shared.reader
    }
}

/// One caller's commands and where to send their receipts.
type Submit = (Vec<Command>, Sender<Result<Vec<Receipt>>>);

struct Writer {
    store: Arc<Store>,
    state: State,
    head: Head,
    events_since_snapshot: u64,
    /// Set when the state could not be reloaded after a failed write: every request fails.
    failed: Option<String>,
    options: LedgerOptions,
    stats: WriterStats,
}

/// A batch being assembled: the write batch and what the callers will be told.
struct Pending {
    batch: WriteBatch,
    /// The sequence number of the event being staged.
    seq: u64,
    /// Customer index keys of accounts opened in this batch.
    customers: Vec<[u8; 16]>,
    first_seq: u64,
    /// Every caller's receipts, in order.
    receipts: Vec<Receipt>,
    /// For each new sequence number from `first_seq`, its receipt's position in `receipts`
    /// (an in-batch retry is answered from there).
    new_at: Vec<usize>,
    touched: HashSet<AccountId>,
    /// History index keys, staged in key order at the end: RocksDB's memtable inserts ascending
    /// keys far faster than random ones (the profile in docs/PERFORMANCE.md).
    history: Vec<[u8; 16]>,
    policies_changed: bool,
    protections_touched: HashSet<AccountId>,
    pending_changed: HashSet<CommandId>,
    risk_changed: HashSet<String>,
    protection_settings_changed: bool,
}

impl crate::project::Dirty for Pending {
    fn account(&mut self, account: AccountId) {
        self.touched.insert(account);
        self.history.push(codec::history_key(account, self.seq));
    }

    fn customer(&mut self, customer: CustomerId, account: AccountId) {
        self.customers.push(codec::customer_key(customer, account));
    }

    fn protections(&mut self, account: AccountId) {
        self.protections_touched.insert(account);
    }

    fn pending(&mut self, id: CommandId) {
        self.pending_changed.insert(id);
    }

    fn risk(&mut self, counterparty: &str) {
        self.risk_changed.insert(counterparty.to_owned());
    }

    fn policies(&mut self) {
        self.policies_changed = true;
    }

    fn protection_settings(&mut self) {
        self.protection_settings_changed = true;
    }
}

impl Writer {
    fn run(mut self, rx: Receiver<Request>) {
        while let Ok(first) = rx.recv() {
            let mut submits = Vec::new();
            let mut controls = Vec::new();
            let mut commands = 0;
            let mut next = Some(first);
            while let Some(request) = next.take() {
                match request {
                    Request::Submit { commands: batch, reply } => {
                        commands += batch.len();
                        submits.push((batch, reply));
                    }
                    control => controls.push(control),
                }
                if commands < self.options.batch_len_max {
                    next = rx.try_recv().ok();
                }
            }
            if !submits.is_empty() {
                self.commit(submits);
            }
            for control in controls {
                match control {
                    Request::Snapshot { reply } => {
                        let _ = reply.send(self.snapshot());
                    }
                    Request::State { reply } => {
                        let _ = reply.send(self.state.clone());
                    }
                    Request::Stats { reply } => {
                        let _ = reply.send(self.stats);
                    }
                    Request::Close { reply } => {
                        let closed =
                            self.snapshot().and_then(|()| self.store.flush()).and_then(|()| self.store.sync_witness());
                        let _ = reply.send(closed);
                        return;
                    }
                    Request::Submit { .. } => {}
                }
            }
        }
        let _ = self.snapshot();
    }

    /// The latest business time accepted now: the clock plus the allowed skew.
    fn admission(&self) -> Admission {
        let latest_at = self.options.max_ahead_of_clock.map(|ahead| {
            let ahead_ms = i64::try_from(ahead.as_millis()).unwrap_or(i64::MAX);
            let now = self.options.clock.now();
            Timestamp::from_millis(now.as_millis().saturating_add(ahead_ms)).unwrap_or(now)
        });
        Admission { latest_at }
    }

    fn snapshot(&mut self) -> Result<()> {
        if let Some(reason) = &self.failed {
            return Err(Error::Stopped(reason.clone()));
        }
        if self.head.seq == 0 {
            return Ok(());
        }
        self.store.write_snapshot(&self.state, self.head)?;
        self.events_since_snapshot = 0;
        Ok(())
    }

    fn commit(&mut self, submits: Vec<Submit>) {
        if let Some(reason) = &self.failed {
            for (_, reply) in submits {
                let _ = reply.send(Err(Error::Stopped(reason.clone())));
            }
            return;
        }
        let start_head = self.head;
        let admission = self.admission();
        let mut pending = Pending {
            batch: WriteBatch::default(),
            seq: self.head.seq,
            customers: Vec::new(),
            first_seq: self.head.seq + 1,
            receipts: Vec::new(),
            new_at: Vec::new(),
            touched: HashSet::new(),
            history: Vec::new(),
            policies_changed: false,
            protections_touched: HashSet::new(),
            pending_changed: HashSet::new(),
            risk_changed: HashSet::new(),
            protection_settings_changed: false,
        };
        let mut counts = Vec::with_capacity(submits.len());
        let mut outcome = Ok(());
        let started = std::time::Instant::now();
        for (commands, _) in &submits {
            let before = pending.receipts.len();
            if let Err(err) = self.decide_all(commands, admission, &mut pending) {
                outcome = Err(err);
                break;
            }
            counts.push(pending.receipts.len() - before);
        }
        let appended = pending.new_at.len() as u64;
        let decided = std::time::Instant::now();
        let staged = outcome.and_then(|()| self.finish(&mut pending));
        let written = std::time::Instant::now();
        let outcome = staged.and_then(|batch| self.store.write(batch, self.options.sync));
        // Durable now: record the head as acknowledged before anyone is told.
        let outcome = outcome.and_then(|()| self.store.record_witness(self.head));
        let nanos = |from: std::time::Instant, to: std::time::Instant| {
            u64::try_from(to.duration_since(from).as_nanos()).unwrap_or(u64::MAX)
        };
        self.stats.batches += 1;
        self.stats.commands += submits.iter().map(|(commands, _)| commands.len() as u64).sum::<u64>();
        self.stats.decide_nanos += nanos(started, decided);
        self.stats.stage_nanos += nanos(decided, written);
        self.stats.write_nanos += nanos(written, std::time::Instant::now());
        match outcome {
            Ok(()) => {
                let mut receipts = pending.receipts.into_iter();
                for ((_, reply), count) in submits.into_iter().zip(counts) {
                    let _ = reply.send(Ok(receipts.by_ref().take(count).collect()));
                }
                self.events_since_snapshot += appended;
                if self.events_since_snapshot >= self.options.snapshot_every_events {
                    // A failed snapshot costs only a longer replay at the next open.
                    let _ = self.snapshot();
                }
            }
            Err(err) => {
                for (_, reply) in submits {
                    let _ = reply.send(Err(err.clone()));
                }
                self.recover(start_head);
            }
        }
    }

    /// Decides `commands`, appending their receipts to `pending.receipts`. Events that came due
    /// before a command (expired holds, executed or stopped delayed transfers) are appended
    /// ahead of its answer; they get no receipt of their own.
    fn decide_all(&mut self, commands: &[Command], admission: Admission, pending: &mut Pending) -> Result<()> {
        for command in commands {
            let mut decision = decide_in(&self.state, command, admission);
            while let Decision::Due(event) = decision {
                self.append(&event, pending)?;
                pending.new_at.push(usize::MAX);
                decision = decide_in(&self.state, command, admission);
            }
            match decision {
                Decision::Retry { seq } => {
                    let event = match seq.checked_sub(pending.first_seq) {
                        Some(index) => pending
                            .new_at
                            .get(index as usize)
                            .and_then(|at| pending.receipts.get(*at))
                            .map(|receipt| receipt.event.clone())
                            .ok_or_else(|| Error::Corruption { seq, detail: "retry points past the batch".into() })?,
                        None => self.store.event(seq)?,
                    };
                    let conflict = event.request().as_ref() != Some(&command.body);
                    pending.receipts.push(Receipt { seq, event, duplicate: true, conflict });
                }
                Decision::Append(events) => {
                    for event in events {
                        let seq = self.append(&event, pending)?;
                        pending.new_at.push(pending.receipts.len());
                        pending.receipts.push(Receipt { seq, event, duplicate: false, conflict: false });
                    }
                }
                Decision::Due(_) => {}
            }
        }
        Ok(())
    }

    /// Encodes, chains and stages `event`, applies it, and stages its index entries.
    fn append(&mut self, event: &Event, pending: &mut Pending) -> Result<u64> {
        let seq = self.head.seq + 1;
        let record = Record::new(seq, self.head.hash, codec::encode_event(event)?);
        self.state.apply(event).map_err(|err| Error::Corruption { seq, detail: err.to_string() })?;
        pending.batch.put_cf(self.store.cf(CF_LOG)?, codec::seq_key(seq), record.encode());
        pending.seq = seq;
        crate::project::dirty(&self.state, event, pending);
        self.head = Head { seq, hash: record.hash };
        Ok(seq)
    }

    /// Adds the history index, the read models (each touched account once) and the head to the
    /// batch, each in key order.
    fn finish(&self, pending: &mut Pending) -> Result<WriteBatch> {
        let customers = self.store.cf(CF_CUSTOMERS)?;
        for key in &pending.customers {
            pending.batch.put_cf(customers, key, []);
        }
        let history = self.store.cf(CF_HISTORY)?;
        pending.history.sort_unstable();
        for key in &pending.history {
            pending.batch.put_cf(history, key, []);
        }
        let accounts = self.store.cf(CF_ACCOUNTS)?;
        let mut touched: Vec<AccountId> = pending.touched.drain().collect();
        touched.sort_unstable();
        for id in touched {
            if let Some(account) = self.state.account(id) {
                pending.batch.put_cf(accounts, codec::account_key(id), codec::encode_account(account)?);
            }
        }
        let meta = self.store.cf(CF_META)?;
        if pending.policies_changed {
            pending.batch.put_cf(meta, META_POLICIES, codec::encode_policies(self.state.policy_versions())?);
        }
        if pending.protection_settings_changed {
            let versions = codec::encode_protection_settings(self.state.protection_versions())?;
            pending.batch.put_cf(meta, META_PROTECTION_SETTINGS, versions);
        }
        let mut protected: Vec<AccountId> = pending.protections_touched.drain().collect();
        protected.sort_unstable();
        for id in protected {
            if let Some(protections) = self.state.protections(id) {
                pending.batch.put_cf(meta, codec::protections_key(id), codec::encode_protections(protections)?);
            }
        }
        let mut reservations: Vec<CommandId> = pending.pending_changed.drain().collect();
        reservations.sort_unstable();
        for id in reservations {
            match self.state.reservation(id) {
                Some(reservation) => {
                    pending.batch.put_cf(meta, codec::pending_key(id), codec::encode_reservation(reservation)?)
                }
                None => pending.batch.delete_cf(meta, codec::pending_key(id)),
            }
        }
        let mut risk: Vec<String> = pending.risk_changed.drain().collect();
        risk.sort_unstable();
        for counterparty in risk {
            match self.state.risk_listed(&counterparty) {
                Some(seq) => pending.batch.put_cf(meta, codec::risk_key(&counterparty), seq.to_be_bytes()),
                None => pending.batch.delete_cf(meta, codec::risk_key(&counterparty)),
            }
        }
        pending.batch.put_cf(meta, META_HEAD, codec::encode_head(self.head.seq, &self.head.hash));
        Ok(std::mem::take(&mut pending.batch))
    }

    /// After a failed batch: reload the state from disk (the batch never reached it).
    fn recover(&mut self, expected: Head) {
        match self.store.load_state() {
            Ok((state, head)) => {
                if head != expected {
                    self.failed = Some(format!(
                        "after a failed write the log's head is {} instead of {}",
                        head.to_text(),
                        expected.to_text()
                    ));
                }
                self.state = state;
                self.head = head;
            }
            Err(err) => self.failed = Some(format!("could not reload after a failed write: {err}")),
        }
    }
}
