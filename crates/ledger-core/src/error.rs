//! The error type of ledger-core's boundary: malformed input that never became a command.
//! Business rejections are not errors: they are [`crate::RejectReason`] values.

use crate::ids::{AccountId, CustomerId};

/// Why a text or number is not a valid amount.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AmountError {
    #[error("amount is negative")]
    Negative,
    #[error("amount has more than two decimal places (the smallest unit is 0.01 CNY)")]
    TooManyDecimals,
    #[error("amount is larger than the ledger's maximum of 10^16 CNY")]
    TooLarge,
    #[error("amount is not a decimal number such as 12.34")]
    Malformed,
    #[error("amount is a floating-point number; write it as a string such as \"12.34\"")]
    Float,
}

/// Errors at the ledger-core boundary.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("invalid amount: {0}")]
    Amount(#[from] AmountError),
    #[error("invalid time: {0}")]
    Time(String),
    #[error("invalid policy: {0}")]
    Policy(String),
    #[error("malformed command: {0}")]
    Command(String),
    #[error("event does not fit the state: {0}")]
    Replay(String),
    /// A decision looked up an account (or a customer's account list) that the paged state it
    /// ran over does not hold: the caller broke the invariant of loading what
    /// [`crate::State::wanted`] names first. Never a domain answer.
    #[error("invariant broken: {0}; it must be loaded before deciding")]
    NotInView(#[from] NotInView),
    #[error("unknown policy preset {0:?} (known: default, pboc-2018, pboc-2016)")]
    UnknownPreset(String),
    /// One element of a batch body (a JSON array or JSON Lines) is refused: `index` counts the
    /// commands from 0 (blank lines not counted), `line` is the element's line in JSON Lines
    /// (from 1, blank lines counted).
    #[error("command [{index}]{}: {error}", line.map(|line| format!(" (line {line})")).unwrap_or_default())]
    Element { index: usize, line: Option<usize>, error: Box<Error> },
    /// A batch body holds more commands than its reader takes.
    #[error("{len} commands; a batch holds at most {max}")]
    BatchTooLong { len: usize, max: usize },
}

/// Something a decision looked up that a paged state does not hold: the caller did not load it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NotInView {
    #[error("account {0} is not in the state's view")]
    Account(AccountId),
    #[error("the account list of customer {0} is not in the state's view")]
    Customer(CustomerId),
}

/// `Result` with ledger-core's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
