//! The committer: writes batch N (RocksDB write and fsync, or the PostgreSQL transaction),
//! records the head witness and answers N's callers, while the writer thread decides batch N+1
//! over the state as N leaves it (docs/PERFORMANCE.md, "Round 3").
//!
//! Invariants:
//! - A caller is answered only after its batch is durable and the head witness recorded.
//! - Batches are committed in the order they were decided, one at a time. A batch is written
//!   only if it starts at the head the last commit left: once a commit fails, every batch
//!   decided after it (over a state that held the failed batch) is refused with the same error,
//!   nothing of it written, until the writer has reloaded its state and said where it
//!   continues from ([`Message::Rebase`]).
//! - The projector gets each committed batch's job in commit order; the watermark's `sent` moves
//!   before the callers are answered (a read after an answer waits for the answered batch).

use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};

use crate::error::{Error, Result};
use crate::options::LedgerOptions;
use crate::project::Job;
use crate::receipt::{BatchReport, Done, Receipt};
use crate::store::{Head, Sealed, Store};

/// Batches handed over and not yet taken by the committer: the writer decides at most this
/// many ahead of the one being written before it waits.
pub(crate) const QUEUE_LEN_MAX: usize = 1;

/// How stale the durable head witness may be after a power loss (a process kill loses nothing:
/// the kernel has the write).
const WITNESS_SYNC_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// One decided and staged batch.
pub(crate) struct Batch {
    pub(crate) write: Sealed,
    /// The head the batch was decided from.
    pub(crate) from: Head,
    /// The head it leaves.
    pub(crate) to: Head,
    /// Each caller and its receipts, in order.
    pub(crate) answers: Vec<(Done, Vec<Receipt>)>,
    pub(crate) job: Job,
    /// For the observer: the writer's part (`write` is measured here).
    pub(crate) report: BatchReport,
}

pub(crate) enum Message {
    Batch(Box<Batch>),
    /// The writer reloaded its state after a failed commit: its next batch starts at this head.
    Rebase(Head),
}

/// What became of a batch, for the writer.
pub(crate) struct Outcome {
    pub(crate) to: Head,
    pub(crate) result: Result<()>,
    pub(crate) write_nanos: u64,
}

struct Committer {
    store: Arc<Store>,
    options: LedgerOptions,
    /// The projector's queue (dropped as the committer ends, which ends the projector).
    jobs: Sender<Job>,
    outcomes: Sender<Outcome>,
    /// The head the last commit left (or the writer rebased to).
    committed: Head,
    /// The error of the failed commit every later batch is refused with, until a rebase.
    refusal: Option<Error>,
    witness_synced: std::time::Instant,
}

/// Starts the committer thread at `head`; it ends when the writer drops the message queue.
pub(crate) fn start(
    store: Arc<Store>,
    options: LedgerOptions,
    head: Head,
    jobs: Sender<Job>,
) -> Result<(Sender<Message>, Receiver<Outcome>, std::thread::JoinHandle<()>)> {
    let (messages, inbox) = crossbeam_channel::bounded(QUEUE_LEN_MAX);
    let (outcomes, reports) = crossbeam_channel::unbounded();
    let committer = Committer {
        store,
        options,
        jobs,
        outcomes,
        committed: head,
        refusal: None,
        witness_synced: std::time::Instant::now(),
    };
    let handle = std::thread::Builder::new()
        .name("ledger-committer".into())
        .spawn(move || committer.run(inbox))
        .map_err(|err| Error::Io(format!("starting the committer thread: {err}")))?;
    Ok((messages, reports, handle))
}

impl Committer {
    fn run(mut self, inbox: Receiver<Message>) {
        while let Ok(message) = inbox.recv() {
            match message {
                Message::Batch(batch) => self.commit(*batch),
                Message::Rebase(head) => {
                    self.committed = head;
                    self.refusal = None;
                }
            }
        }
        self.store.end_commit_session();
    }

    fn commit(&mut self, batch: Batch) {
        let Batch { write, from, to, answers, job, mut report } = batch;
        let started = std::time::Instant::now();
        let result = match &self.refusal {
            Some(err) => Err(err.clone()),
            None if from != self.committed => Err(Error::Io(format!(
                "the batch was decided from head {} but the log is at {}; nothing was recorded: retry with the \
                 same ids",
                from.to_text(),
                self.committed.to_text()
            ))),
            None => self.write(write, to),
        };
        let write_nanos = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        match &result {
            Ok(()) => {
                self.committed = to;
                // Before anyone is told: a read after the answer waits for this batch's keys.
                if let Err(err) = self.store.projection.sent(to.seq) {
                    self.store.projection.fail(err.to_string());
                }
                for (done, receipts) in answers {
                    done(Ok(receipts));
                }
                if self.jobs.send(job).is_err() {
                    self.store.projection.fail("the projector has exited".into());
                }
            }
            Err(err) => {
                if self.refusal.is_none() {
                    self.refusal = Some(err.clone());
                }
                // The writer hears of the failure before any client does: a client told its
                // batch was fenced off and submitting again must find the writer stepped down
                // (`Stopped`), not deciding another batch for the committer to refuse (a race
                // the PostgreSQL fencing test lost under load).
                let _ = self.outcomes.send(Outcome { to, result: Err(err.clone()), write_nanos });
                for (done, _) in answers {
                    done(Err(err.clone()));
                }
            }
        }
        if let Some(observer) = &self.options.observer {
            report.write = started.elapsed();
            report.committed = result.is_ok();
            report.head_seq = if result.is_ok() { to.seq } else { from.seq };
            observer.batch_done(&report);
        }
        if result.is_ok() {
            let _ = self.outcomes.send(Outcome { to, result, write_nanos });
        }
    }

    /// Writes the batch, then records the head as acknowledged (synced at most every
    /// `WITNESS_SYNC_INTERVAL`).
    fn write(&mut self, write: Sealed, to: Head) -> Result<()> {
        self.store.commit_sealed(write, self.options.sync)?;
        self.store.record_witness(to)?;
        if !self.options.sync || self.witness_synced.elapsed() < WITNESS_SYNC_INTERVAL {
            return Ok(());
        }
        self.witness_synced = std::time::Instant::now();
        self.store.sync_witness()
    }
}
