//! How a ledger runs: [`LedgerOptions`].

use std::sync::Arc;

use ledger_core::Principal;

use crate::checkpoint::SigningKey;
use crate::clock::{Clock, SystemClock};
use crate::error::{Error, Result};
use crate::receipt::CommitObserver;
use crate::store::Tuning;

/// The default of [`LedgerOptions::max_ahead_of_clock`]: five minutes, well above the skew of
/// clocks kept by NTP and well below a mistyped day or year.
pub const DEFAULT_MAX_AHEAD_OF_CLOCK: std::time::Duration = std::time::Duration::from_secs(300);

/// The default of [`LedgerOptions::cache_mib`]: 1 GiB.
pub const DEFAULT_CACHE_MIB: usize = 1024;

/// Memory one answered id takes in the writer's cache: its hash map entry (16-byte id, 8-byte
/// sequence number, the table's control byte and its spare capacity, ~64 bytes) and its slot in
/// the CLOCK ring (16 bytes plus spare capacity; `ledger-core/src/cache.rs`), for
/// [`LedgerOptions::answers_cached_max`].
const ANSWER_CACHED_BYTES: usize = 96;

/// Memory one cached account takes in the writer's map: the `Account` (about 100 bytes), its
/// bucket use (two or three buckets of about 60 bytes each with their names), the table's entry
/// and spare capacity, and its pin (~384 bytes); its slot in the CLOCK ring (8 bytes plus spare
/// capacity) and its reference bit (an entry of ~16 bytes in a set while it is set;
/// `ledger-core/src/cache.rs`); for [`LedgerOptions::accounts_cached_max`].
const ACCOUNT_CACHED_BYTES: usize = 416;

/// Eighths of [`LedgerOptions::cache_mib`] the answered ids take; the accounts take the rest.
/// A batch's new ids are looked up in the store whatever the cache holds (its Bloom filters
/// answer "absent"): the ids held spare a read only for a retry, while every account held spares
/// one for each transfer that names it. At half each, a 2M-account ledger read a third of its
/// accounts from the store at the default cache (docs/PERFORMANCE.md, "Issue 25 / 29: the
/// cache given to the accounts").
const ANSWERS_SHARE_EIGHTHS: usize = 1;

/// How a ledger runs.
#[derive(Clone, Debug)]
pub struct LedgerOptions {
    pub clock: Arc<dyn Clock>,
    /// Most commands committed in one write batch (one fsync).
    pub batch_len_max: usize,
    /// fsync every batch before acknowledging it. Only tests of speed without durability turn
    /// this off.
    pub sync: bool,
    /// Commands dated further ahead of the clock than this are rejected (`TIME_AHEAD_OF_CLOCK`);
    /// `None` accepts any future time. Past times (historical imports) are never affected.
    pub max_ahead_of_clock: Option<std::time::Duration>,
    /// RocksDB memtable size per column family; `None` keeps RocksDB's default (64 MiB). Smaller
    /// means more frequent flushes and write-ahead log rotation.
    pub write_buffer_bytes: Option<usize>,
    /// Memory the writer's caches may take, in MiB (default [`DEFAULT_CACHE_MIB`]): one eighth
    /// for the answered command ids ([`LedgerOptions::answers_cached_max`]), the rest for the
    /// accounts ([`LedgerOptions::accounts_cached_max`]); the store keeps them all. Protections, pending
    /// reservations, the risk list and the policies stay in memory whole (docs/PERFORMANCE.md).
    pub cache_mib: usize,
    /// Told of every batch after its commit (metrics).
    pub observer: Option<Arc<dyn CommitObserver>>,
    /// Who the handle's commands are recorded as submitted by (every event names it), until
    /// [`crate::Ledger::acting_as`] names another.
    pub principal: Principal,
    /// Checkpoints on a schedule (docs/FORMAT.md, "Recorded checkpoints"): the writer records
    /// one of every tree size that is a multiple of this, and one before the first record of
    /// each Beijing day. 0 (the default): none; 1 is refused (a checkpoint after every record,
    /// checkpoints included, would never end).
    pub checkpoint_every: u64,
    /// The key recorded checkpoints are signed with (a C2SP signed note in the event); `None`:
    /// they record size and root only.
    pub checkpoint_key: Option<SigningKey>,
    /// Told of long work a writer's open does once (a ledger's conversion to this build's
    /// layout) as it goes; `None`: nobody is told.
    pub open_observer: Option<Arc<dyn OpenObserver>>,
}

/// Told, on the opening thread, of long work a writer's open does once, as it goes.
pub trait OpenObserver: std::fmt::Debug + Send + Sync {
    fn open_work(&self, work: &OpenWork);
}

/// Long work a writer's open does once, for an [`OpenObserver`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum OpenWork {
    /// A layout-4 ledger becoming layout 5 (docs/FORMAT.md, "Layout versions"): the keys of the
    /// projected table `table` copied out of the log's database so far, of about `estimated`
    /// (RocksDB's estimate; 0 when it has none). Reported as the table starts (`done` 0), every
    /// [`OPEN_WORK_EVERY`] keys, and once the table is in the new database (`finished`; `done`
    /// then is the table's count).
    CopyingProjected { table: &'static str, done: u64, estimated: u64, finished: bool },
}

/// Keys copied between two [`OpenWork::CopyingProjected`] reports of one table.
pub const OPEN_WORK_EVERY: u64 = 1 << 18;

impl Default for LedgerOptions {
    fn default() -> LedgerOptions {
        LedgerOptions {
            clock: Arc::new(SystemClock),
            batch_len_max: 8_192,
            sync: true,
            max_ahead_of_clock: Some(DEFAULT_MAX_AHEAD_OF_CLOCK),
            write_buffer_bytes: None,
            cache_mib: DEFAULT_CACHE_MIB,
            observer: None,
            principal: default_principal(),
            checkpoint_every: 0,
            checkpoint_key: None,
            open_observer: None,
        }
    }
}

impl LedgerOptions {
    /// Most answered ids the writer holds in memory: past this, after a batch, it cuts them to
    /// 90% in CLOCK order (the oldest not retried since the hand last passed go first) and loads
    /// an id again from the store when a batch names it.
    pub fn answers_cached_max(&self) -> usize {
        self.cache_bytes() / 8 * ANSWERS_SHARE_EIGHTHS / ANSWER_CACHED_BYTES
    }

    /// How many accounts the writer's cache holds before it cuts them to 90% in CLOCK order (the
    /// other seven eighths of `cache_mib`; accounts used lately stay, and accounts changed since the
    /// projector's watermark are never dropped).
    pub fn accounts_cached_max(&self) -> usize {
        self.cache_bytes() / 8 * (8 - ANSWERS_SHARE_EIGHTHS) / ACCOUNT_CACHED_BYTES
    }

    fn cache_bytes(&self) -> usize {
        self.cache_mib.saturating_mul(1 << 20)
    }
}

/// Where a cache over its bound (`answers_cached_max`, `accounts_cached_max`) is cut to: 90% of
/// it, so a cut frees room for several batches and the hand does not run after every one.
pub(crate) fn cache_low_water(max: usize) -> usize {
    max - max / 10
}

/// An embedder that names no principal: `library` in the role `library`.
fn default_principal() -> Principal {
    Principal::new("library", "library").unwrap_or_else(|_| Principal::ledger())
}

pub(crate) fn tuning(options: &LedgerOptions) -> Tuning {
    Tuning { write_buffer_bytes: options.write_buffer_bytes }
}

pub(crate) fn check_options(options: &LedgerOptions) -> Result<()> {
    if options.batch_len_max == 0 {
        return Err(Error::InvalidArgument("batch_len_max must be at least 1".into()));
    }
    if options.checkpoint_every == 1 {
        return Err(Error::InvalidArgument("checkpoint_every must be 0 (off) or at least 2".into()));
    }
    Ok(())
}
