//! # ledger-store
//!
//! The durable side of tiered-ledger: an append-only, hash-chained event log in RocksDB, read
//! models projected from it, and the single-writer engine behind the embedding API
//! ([`Ledger`]). The on-disk format is described in docs/FORMAT.md.
//!
//! ```no_run
//! use ledger_core::{AccountClass, AccountId, CommandBody, CustomerId, Policy, Timestamp};
//! use ledger_store::{Ledger, LedgerOptions};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let ledger = Ledger::create("/var/lib/bank/ledger", LedgerOptions::default())?;
//! let policy = Box::new(Policy::preset("pboc-2018")?);
//! ledger.submit(ledger.command(CommandBody::ChangePolicy { effective_from: Timestamp::UNIX_EPOCH, policy }))?;
//! let open = CommandBody::OpenAccount {
//!     account: AccountId(6222_0001), customer: CustomerId(42), class: AccountClass::I,
//!     binding: None, verified_in_person: true, with_card: true,
//! };
//! let receipt = ledger.submit(ledger.command(open))?;
//! assert!(receipt.is_accepted());
//! println!("balance: {:?}", ledger.balance(AccountId(6222_0001))?);
//! # Ok(()) }
//! ```

mod checkpoint;
mod clock;
pub mod codec;
mod committer;
mod error;
mod layout;
mod ledger;
pub mod merkle;
pub mod note;
mod options;
mod project;
mod projector;
mod reader;
mod receipt;
mod report_cache;
mod schedule;
mod store;
mod writer;

pub use checkpoint::{
    CHECKPOINT_FORMAT, CONSISTENCY_FORMAT, Checkpoint, CheckpointSource, ConsistencyProof, INCLUSION_FORMAT,
    InclusionProof, JsonCheckpoint, SigningKey, VerifyingKey, signing_key_from_hex,
};
pub use clock::{Clock, FakeClock, SystemClock};
pub use error::{Error, Result};
pub use ledger::Ledger;
pub use options::{
    DEFAULT_CACHE_MIB, DEFAULT_MAX_AHEAD_OF_CLOCK, LedgerOptions, OPEN_WORK_EVERY, OpenObserver, OpenWork,
};
pub use reader::{
    BucketReport, RECORDED_CHECKPOINT_SEARCH_MAX, Reader, ReportSpill, Statement, StatementLine, UsageReport,
};
pub use receipt::{Answer, AnswerStatus, BatchReport, CommitObserver, Receipt, WriterStats};
pub use report_cache::{
    REPORT_CACHE_HEADER_LEN, REPORT_CACHE_KEY_LEN, REPORT_CACHE_VERSION, decode_report_cache, encode_report_cache,
    report_cache_authentic, report_cache_wanted,
};
pub use schedule::RecordedCheckpoint;
pub use store::{
    Head, HistoryPage, MigrateReport, MigrateStage, Mismatch, ReplayReport, VerifyReport, is_database_url,
    location_text,
};
