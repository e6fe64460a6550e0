//! What a caller gets back: a [`Receipt`] per command and [`WriterStats`], and the requests the
//! handle sends the writer.

use crossbeam_channel::Sender;
use ledger_core::{Command, Event, EventBody, Principal, RejectReason, Reservation, State};
use serde::Serialize;

use crate::error::Result;

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
    /// For a rejection the policy decided ([`RejectReason::cites_policy`]): the version in force
    /// at the event's time and its source, e.g. `pboc-2018 (银发〔2018〕16号)`.
    pub rule: Option<String>,
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

/// What a caller was told about one command, in the JSON shape shared by `ledger-cli import`
/// results, `ledger-cli submit --json` and ledger-server (docs/COMMANDS.md, docs/SERVER.md).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Answer {
    pub status: AnswerStatus,
    /// The event's sequence number (for a dry run: the one it would get if submitted now).
    pub seq: u64,
    /// The reason code of a rejection or `ID_CONFLICT`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The rejection's figures in words, ending `; rule: VERSION (SOURCE)` when the policy
    /// decided it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The policy version a rejection was decided under, with its source.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// The event recorded (or, for a conflict, the one recorded for the first use of the id),
    /// as in `ledger-cli export` (docs/FORMAT.md). Left out of brief answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub event: Option<Event>,
}

/// The four outcomes of a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AnswerStatus {
    Accepted,
    Rejected,
    /// A retry of an id already answered: the first answer again.
    Duplicate,
    /// `ID_CONFLICT`: the id was used before for a different request; nothing was done.
    Conflict,
}

impl Receipt {
    /// Which of the four outcomes this is.
    pub fn status(&self) -> AnswerStatus {
        match (self.conflict, self.duplicate, self.rejection()) {
            (true, _, _) => AnswerStatus::Conflict,
            (false, true, _) => AnswerStatus::Duplicate,
            (false, false, None) => AnswerStatus::Accepted,
            (false, false, Some(_)) => AnswerStatus::Rejected,
        }
    }

    /// The receipt as an [`Answer`], with its event.
    pub fn answer(&self) -> Answer {
        Answer { event: Some(self.event.clone()), ..self.brief_answer() }
    }

    /// The receipt as an [`Answer`] without the event: status, seq, reason and figures.
    pub fn brief_answer(&self) -> Answer {
        let status = self.status();
        let (reason, detail) = match (status, self.rejection()) {
            (AnswerStatus::Conflict, _) => (
                Some("ID_CONFLICT".to_owned()),
                Some(format!("the id was used at seq {} for a different request; nothing was done", self.seq)),
            ),
            (_, Some(reason)) => {
                let detail = match &self.rule {
                    Some(rule) => format!("{reason}; rule: {rule}"),
                    None => reason.to_string(),
                };
                (Some(reason.code().to_owned()), Some(detail))
            }
            (_, None) => (None, None),
        };
        let rule = if status == AnswerStatus::Conflict { None } else { self.rule.clone() };
        Answer { status, seq: self.seq, reason, detail, rule, event: None }
    }
}

/// Told after every batch the writer tried to commit (for metrics); called on the committer
/// thread (the writer thread for a batch that failed before it was handed over), after the
/// batch's callers were answered, so it must be quick.
pub trait CommitObserver: std::fmt::Debug + Send + Sync {
    fn batch_done(&self, batch: &BatchReport);
}

/// One batch, for a [`CommitObserver`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchReport {
    /// Commands in the batch (answered or not).
    pub commands: u64,
    /// Events appended (due events included).
    pub events: u64,
    pub decide: std::time::Duration,
    pub stage: std::time::Duration,
    /// The write of the batch, WAL fsync included.
    pub write: std::time::Duration,
    /// The head after the batch (unchanged when it failed).
    pub head_seq: u64,
    /// False when the batch failed and nobody was told "accepted".
    pub committed: bool,
}

/// Called on the committer thread (or the writer thread, for a batch refused before it was
/// handed over) with a submission's receipts once its batch is durable, or with the error that
/// kept it from being recorded.
pub type Done = Box<dyn FnOnce(Result<Vec<Receipt>>) + Send>;

pub(crate) enum Request {
    Stats { reply: Sender<WriterStats> },
    Submit { commands: Vec<Command>, principal: Principal, done: Done },
    Check { command: Box<Command>, principal: Principal, reply: Sender<Result<Receipt>> },
    Snapshot { reply: Sender<Result<()>> },
    State { reply: Sender<crate::error::Result<State>> },
    Close { reply: Sender<Result<()>> },
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
    /// Accounts in the writer's cache after the last batch (`LedgerOptions::accounts_cached_max`
    /// bounds them, apart from those pinned until the projector writes them).
    pub accounts_cached: u64,
    /// Accounts (and customer account lists) read from the store before deciding, since opening.
    pub accounts_loaded: u64,
}
