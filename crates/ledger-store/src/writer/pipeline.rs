//! The writer's side of the pipeline: handing staged batches to the committer
//! (`crate::committer`), taking its reports, draining it before controls and recovery.

use crossbeam_channel::Receiver;
use ledger_core::Event;

use super::{Pipeline, Writer};
use crate::committer::{Batch, Message, Outcome};
use crate::error::{Error, Result};
use crate::receipt::Request;

impl Writer {
    /// The next request (`None` once every handle is gone); the committer's reports that come
    /// in meanwhile are taken.
    pub(super) fn next_request(&mut self, rx: &Receiver<Request>) -> Option<Request> {
        loop {
            // A failed commit, with nothing in flight: reload now, not when the next batch comes.
            if self.in_flight == 0 && self.broken.is_some() {
                self.settle();
            }
            let outcomes = match &self.pipeline {
                Some(pipeline) if self.in_flight > 0 => pipeline.outcomes.clone(),
                _ => return rx.recv().ok(),
            };
            crossbeam_channel::select! {
                recv(rx) -> request => return request.ok(),
                recv(outcomes) -> outcome => self.take(outcome.ok()),
            }
        }
    }

    /// Takes one report of the committer (`None`: it has exited).
    pub(super) fn take(&mut self, outcome: Option<Outcome>) {
        let Some(Outcome { to, result, write_nanos }) = outcome else {
            self.in_flight = 0;
            self.failed.get_or_insert_with(|| "the committer has exited".into());
            return;
        };
        // Invariant: a report comes back only for a batch handed over.
        debug_assert!(self.in_flight > 0, "a report for no batch in flight");
        self.in_flight -= 1;
        self.stats.write_nanos += write_nanos;
        match result {
            Ok(()) => self.durable = to,
            // Another writer took over: this one steps down and writes nothing more.
            Err(Error::Fenced(why)) => {
                self.failed.get_or_insert_with(|| format!("this writer was fenced off: {why}"));
            }
            Err(err) => {
                self.broken.get_or_insert(err);
            }
        }
    }

    /// Waits until every batch handed to the committer has come back.
    pub(super) fn drain(&mut self) {
        while self.in_flight > 0 {
            let outcome = self.pipeline.as_ref().and_then(|pipeline| pipeline.outcomes.recv().ok());
            self.take(outcome);
        }
    }

    /// Drains the pipeline; after a failed commit, reloads the state from the store.
    pub(super) fn settle(&mut self) {
        self.drain();
        if self.broken.take().is_some() && self.failed.is_none() {
            self.recover(self.durable);
        }
    }

    /// Ends the committer's queue (and with it the projector's) and waits for both threads.
    pub(super) fn stop_pipeline(&mut self) {
        if let Some(Pipeline { messages, outcomes, committer, projector }) = self.pipeline.take() {
            drop((messages, outcomes));
            let _ = committer.join();
            let _ = projector.join();
        }
    }

    /// Hands a staged batch to the committer (waits while its queue is full).
    pub(super) fn hand_over(&mut self, batch: Batch) {
        let sent = match &self.pipeline {
            Some(pipeline) => pipeline.messages.send(Message::Batch(Box::new(batch))).map_err(|err| err.into_inner()),
            None => Err(Message::Batch(Box::new(batch))),
        };
        match sent {
            Ok(()) => self.in_flight += 1,
            Err(message) => {
                let why = "the committer has exited".to_owned();
                if let Message::Batch(batch) = message {
                    for (done, _) in batch.answers {
                        done(Err(Error::Stopped(why.clone())));
                    }
                }
                self.failed.get_or_insert(why);
            }
        }
    }

    /// The committed event at `seq` (a retry's first answer): a batch still in flight is
    /// waited for; if a commit failed meanwhile, its error.
    pub(super) fn committed_event(&mut self, seq: u64) -> Result<Event> {
        if seq > self.durable.seq {
            self.drain();
            if let Some(err) = &self.broken {
                return Err(err.clone());
            }
        }
        self.store.event(seq)
    }
}
