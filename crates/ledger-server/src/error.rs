//! The error type of ledger-server's boundary.

/// Why the server could not start or run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration file or flags are wrong.
    #[error("configuration: {0}")]
    Config(String),
    /// The ledger could not be opened or closed.
    #[error(transparent)]
    Ledger(#[from] ledger_store::Error),
    /// The writer lease was lost: the server stepped down (a supervisor restarts it as a
    /// standby that waits for the lease).
    #[error("{0}; stepped down")]
    LeaseLost(String),
    /// Listening, TLS or the runtime failed.
    #[error("{0}")]
    Io(String),
}

/// `Result` with ledger-server's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
