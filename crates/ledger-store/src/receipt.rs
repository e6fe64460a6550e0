//! What a caller gets back: a [`Receipt`] per command and [`WriterStats`], and the requests the
//! handle sends the writer.

use crossbeam_channel::Sender;
use ledger_core::{Command, Event, EventBody, RejectReason, Reservation, State};

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

pub(crate) enum Request {
    Stats { reply: Sender<WriterStats> },
    Submit { commands: Vec<Command>, reply: Sender<Result<Vec<Receipt>>> },
    Snapshot { reply: Sender<Result<()>> },
    State { reply: Sender<State> },
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
}
