//! The error type of ledger-store's boundary. Business rejections are not errors: they are
//! receipts carrying a [`ledger_core::RejectReason`].

/// Errors from the store and the engine.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The database could not be read or written (disk full, permissions, ...). A batch that
    /// fails this way is not committed: none of its commands happened.
    #[error("storage I/O error: {0}")]
    Io(String),
    /// A log record or snapshot does not check out: the ledger was damaged or tampered with.
    #[error("corruption at sequence {seq}: {detail}")]
    Corruption { seq: u64, detail: String },
    /// A stored read model does not decode.
    #[error("read model damaged: {0}")]
    ReadModel(String),
    /// A value could not be encoded.
    #[error("encoding failed: {0}")]
    Codec(String),
    /// The database was written by a format this build does not read.
    #[error("unsupported on-disk format version {found} (this build reads {supported})")]
    UnsupportedFormat { found: u8, supported: u8 },
    /// An expected head (recorded by an auditor) is not in the log.
    #[error("head mismatch: {0}")]
    HeadMismatch(String),
    /// The engine has stopped (closed, or failed and could not recover).
    #[error("the ledger engine is not running: {0}")]
    Stopped(String),
    /// A domain error from ledger-core.
    #[error(transparent)]
    Core(#[from] ledger_core::Error),
    /// There is no ledger at the path, or something that is not one (another program's files,
    /// a non-empty directory given to `create`). Nothing was created or changed.
    #[error("{0}")]
    NotALedger(String),
    /// The ledger directory is damaged outside the log (a missing RocksDB `CURRENT`, a missing
    /// or unreadable head witness). Nothing was opened for writing.
    #[error("the ledger is damaged: {0}")]
    Damaged(String),
    /// A checkpoint's signature or a proof does not check out.
    #[error("proof failed: {0}")]
    ProofFailed(String),
    /// Another writer took over the ledger (PostgreSQL: the head's epoch moved on). The batch
    /// was rolled back, nothing of it was recorded, and this writer has stepped down: retry with
    /// the same command ids against the writer now in charge.
    #[error("fenced: {0}")]
    Fenced(String),
    /// The ledger's read models are being rebuilt, or a rebuild was cut short (its layout is
    /// marked "rebuilding"): nothing but `rebuild-indexes` opens it until a rebuild ends.
    #[error(
        "its read models are being rebuilt, or a rebuild was cut short: nothing reads or writes it until \
         `ledger-cli rebuild-indexes` ends (run it again if none is running)"
    )]
    Rebuilding,
    /// A bad argument to an API call.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

impl From<ledger_core::NotInView> for Error {
    fn from(missing: ledger_core::NotInView) -> Error {
        Error::Core(missing.into())
    }
}

/// `Result` with ledger-store's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
