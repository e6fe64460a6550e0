//! The single writer: group commit, the decide loop, staging, recovery.
//!
//! It takes every request waiting in the channel (up to `batch_len_max` commands), decides,
//! encodes and hash-chains them, and stages the events, the Merkle nodes and the rarer read
//! models as one write. The committer thread (`crate::committer`) writes it with one fsync,
//! records the head witness and only then answers each caller (group commit), while this thread
//! decides the next batch over the state the staged one leaves. The history and customer indexes
//! and the account read models go to the projector behind it (`crate::projector`). If a write
//! fails, no caller of it or of any batch decided after it is told "accepted", and the writer
//! reloads its state from disk once the committer is idle, so the durable log never holds
//! anything decided over a state it does not hold.

mod caches;
mod pipeline;

use std::collections::HashSet;

/// The batch's sets of touched keys: keyed hashing, faster than the standard SipHash (clients
/// name the accounts and ids).
type KeyedSet<T> = HashSet<T, foldhash::fast::RandomState>;
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};
use ledger_core::{
    AccountId, Admission, Command, CommandId, CustomerId, Decision, DueSink, Event, EventBody, Policy, Principal,
    State, Timestamp, decide_after_due,
};

use crate::codec::{self, META_MERKLE_SIZE, Record};
use crate::committer::{Batch, Message, Outcome};
use crate::error::{Error, Result};
use crate::merkle::{self, Frontier};
use crate::options::{LedgerOptions, cache_low_water};
use crate::project::{self, Job};
use crate::receipt::{BatchReport, Done, Receipt, Request, WriterStats};
use crate::store::{Head, META_HEAD, META_POLICIES, META_PROTECTION_SETTINGS, Staged, Store, Table};

/// One caller's commands, who sent them, and what to do with their receipts.
pub(crate) type Submit = (Vec<Command>, Principal, Done);

pub(crate) struct Writer {
    store: Arc<Store>,
    state: State,
    head: Head,
    /// The Merkle tree's right edge at `head` (its completed nodes are staged with the records).
    tree: Frontier,
    /// The sequence number of the last change of each account changed since the projector's
    /// watermark: pinned in the state's cache until the projector has written it.
    pinned: std::collections::HashMap<AccountId, u64>,
    /// Set when the state could not be reloaded after a failed write: every request fails.
    failed: Option<String>,
    /// Set when the state could not be reloaded because the database was unreachable
    /// (PostgreSQL), to the head the failed batch started from: reloaded before the next batch
    /// is decided (the state in memory holds the failed batch's effects until then).
    needs_reload: Option<Head>,
    options: LedgerOptions,
    stats: WriterStats,
    /// The committer's and the projector's queues and threads (joined when the writer exits).
    pipeline: Option<Pipeline>,
    /// Batches handed to the committer whose outcome has not come back.
    in_flight: usize,
    /// The head the last commit left (the log's durable head once nothing is in flight).
    durable: Head,
    /// Set when a commit failed (its error): the state is reloaded once nothing is in flight.
    broken: Option<Error>,
}

pub(crate) struct Pipeline {
    messages: Sender<Message>,
    outcomes: Receiver<Outcome>,
    committer: std::thread::JoinHandle<()>,
    projector: std::thread::JoinHandle<()>,
}

/// The batch being staged: the write batch and what the callers will be told.
pub(crate) struct StagedBatch<'a> {
    batch: Staged<'a>,
    /// The sequence number of the event being staged.
    seq: u64,
    /// Customer index keys of accounts opened in this batch.
    customers: Vec<[u8; 16]>,
    first_seq: u64,
    /// Every caller's receipts, in order.
    receipts: Vec<Receipt>,
    /// For each new sequence number from `first_seq`, its receipt's position in `receipts`
    /// (an in-batch retry is answered from there); `None` for a due event, which has no receipt.
    new_at: Vec<Option<usize>>,
    touched: KeyedSet<AccountId>,
    /// History index keys, staged in key order at the end: RocksDB's memtable inserts ascending
    /// keys far faster than random ones (the profile in docs/PERFORMANCE.md).
    history: Vec<[u8; 16]>,
    policies_changed: bool,
    protections_touched: KeyedSet<AccountId>,
    pending_changed: KeyedSet<CommandId>,
    risk_changed: KeyedSet<String>,
    protection_settings_changed: bool,
}

impl crate::project::Dirty for StagedBatch<'_> {
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

/// Due events go into the batch being staged, ahead of the command they came due before.
struct DueInBatch<'w, 'b> {
    writer: &'w mut Writer,
    pending: &'w mut StagedBatch<'b>,
}

impl DueSink for DueInBatch<'_, '_> {
    type Error = Error;

    fn state(&self) -> &State {
        &self.writer.state
    }

    fn append_due(&mut self, event: Event) -> Result<()> {
        // A due event carries an id answered long ago: known first, its answer is not taken for
        // this event's.
        self.writer.load_answers(&[event.command_id])?;
        self.writer.append(&event, self.pending)?;
        self.pending.new_at.push(None);
        Ok(())
    }
}

/// The state a dry run decides against: the live state until something comes due before the
/// command, then a copy with the due events applied (the live state is never touched).
struct Scratch<'a> {
    live: &'a State,
    copy: Option<State>,
    due: u64,
    /// The times of the due events, in order (checkpoints may come due before each).
    due_at: Vec<Timestamp>,
}

impl DueSink for Scratch<'_> {
    type Error = Error;

    fn state(&self) -> &State {
        self.copy.as_ref().unwrap_or(self.live)
    }

    fn append_due(&mut self, event: Event) -> Result<()> {
        self.due_at.push(event.at);
        let seq = self.live.event_count() + self.due + 1;
        let copy = self.copy.get_or_insert_with(|| self.live.clone());
        copy.apply(&event).map_err(|err| Error::Corruption { seq, detail: err.to_string() })?;
        self.due += 1;
        Ok(())
    }
}

impl Writer {
    pub(crate) fn new(
        store: Arc<Store>,
        state: State,
        head: Head,
        tree: Frontier,
        options: LedgerOptions,
        projector: (Sender<Job>, std::thread::JoinHandle<()>),
    ) -> Result<Writer> {
        let (jobs, projector) = projector;
        let (messages, outcomes, committer) = crate::committer::start(Arc::clone(&store), options.clone(), head, jobs)?;
        Ok(Writer {
            store,
            state,
            head,
            tree,
            pinned: Default::default(),
            failed: None,
            needs_reload: None,
            options,
            stats: WriterStats::default(),
            pipeline: Some(Pipeline { messages, outcomes, committer, projector }),
            in_flight: 0,
            durable: head,
            broken: None,
        })
    }

    pub(crate) fn run(mut self, rx: Receiver<Request>) {
        while let Some(first) = self.next_request(&rx) {
            let mut submits = Vec::new();
            let mut controls = Vec::new();
            let mut commands = 0;
            let mut next = Some(first);
            while let Some(request) = next.take() {
                match request {
                    Request::Submit { commands: batch, principal, done } => {
                        commands += batch.len();
                        submits.push((batch, principal, done));
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
            if !controls.is_empty() {
                // Every control sees a drained pipeline: each batch before it committed (or
                // refused and recovered from).
                self.settle();
            }
            for control in controls {
                match control {
                    Request::Snapshot { reply } => {
                        let _ = reply.send(self.snapshot());
                    }
                    Request::State { reply } => {
                        // The cache made whole from the read models, once the projector has
                        // written every batch: for checks, proportional to the ledger.
                        let whole =
                            self.store.projection.wait().and_then(|()| self.store.whole_state(self.state.clone(), &[]));
                        let _ = reply.send(whole);
                    }
                    Request::Stats { reply } => {
                        let _ = reply.send(self.stats);
                    }
                    Request::Check { command, principal, reply } => {
                        let checked = self
                            .load_answers(&[command.id])
                            .and_then(|()| self.store.load_wanted(&mut self.state, std::iter::once(&*command)))
                            .map(|_| ())
                            .and_then(|()| self.check(&command, &principal));
                        let _ = reply.send(checked);
                    }
                    Request::Close { reply } => {
                        let closed =
                            self.snapshot().and_then(|()| self.store.flush()).and_then(|()| self.store.sync_witness());
                        self.stop_pipeline();
                        let _ = reply.send(closed);
                        return;
                    }
                    Request::Submit { .. } => {}
                }
            }
        }
        self.settle();
        let _ = self.snapshot();
        self.stop_pipeline();
    }

    /// The latest business time accepted now: the clock plus the allowed skew.
    fn admission(&self) -> Admission {
        // A bound past the last representable time bounds nothing: every time is within it.
        let latest_at = self.options.max_ahead_of_clock.and_then(|ahead| {
            let ahead_ms = i64::try_from(ahead.as_millis()).ok()?;
            Timestamp::from_millis(self.options.clock.now().as_millis().checked_add(ahead_ms)?).ok()
        });
        Admission { latest_at }
    }

    /// Layout 4 keeps no snapshot: the read models are the state. What a snapshot promised (the
    /// next open replays nothing) holds once the projector has written everything: wait for it.
    fn snapshot(&mut self) -> Result<()> {
        if let Some(reason) = &self.failed {
            return Err(Error::Stopped(reason.clone()));
        }
        self.store.projection.wait()
    }

    fn commit(&mut self, submits: Vec<Submit>) {
        // A failed commit reported meanwhile: recovered from before anything more is decided.
        if let Some(pipeline) = &self.pipeline {
            let reports: Vec<Outcome> = pipeline.outcomes.try_iter().collect();
            for outcome in reports {
                self.take(Some(outcome));
            }
        }
        if self.broken.is_some() {
            self.settle();
        }
        if self.failed.is_none()
            && let Some(why) = self.store.projection.failure()
        {
            self.failed = Some(format!("the read models can no longer be projected: {why}"));
        }
        if let Some(reason) = &self.failed {
            for (_, _, done) in submits {
                done(Err(Error::Stopped(reason.clone())));
            }
            return;
        }
        if let Some(expected) = self.needs_reload {
            self.recover(expected);
            if self.needs_reload.is_some() || self.failed.is_some() {
                let why = self.failed.clone().unwrap_or_else(|| "the database is unreachable".into());
                for (_, _, done) in submits {
                    done(Err(Error::Io(format!("{why}; nothing was recorded: retry with the same ids"))));
                }
                return;
            }
        }
        let start_head = self.head;
        let admission = self.admission();
        // A handle of its own: the staged batch borrows the store while `self` changes.
        let store = Arc::clone(&self.store);
        // Room for what a batch of transfers stages (a receipt per command, two history
        // entries): growing these vectors moved every receipt again (docs/PERFORMANCE.md,
        // "Issue 29: the writer's own costs").
        let commands_len: usize = submits.iter().map(|(commands, _, _)| commands.len()).sum();
        let mut pending = StagedBatch {
            batch: match store.staged() {
                Ok(staged) => staged,
                Err(err) => {
                    for (_, _, done) in submits {
                        done(Err(err.clone()));
                    }
                    return;
                }
            },
            seq: self.head.seq,
            customers: Vec::new(),
            first_seq: self.head.seq + 1,
            receipts: Vec::with_capacity(commands_len),
            new_at: Vec::with_capacity(commands_len),
            touched: KeyedSet::default(),
            history: Vec::with_capacity(2 * commands_len),
            policies_changed: false,
            protections_touched: KeyedSet::default(),
            pending_changed: KeyedSet::default(),
            risk_changed: KeyedSet::default(),
            protection_settings_changed: false,
        };
        let mut counts = Vec::with_capacity(submits.len());
        let started = std::time::Instant::now();
        // Every id the batch names, loaded before deciding: a retry is answered from the store.
        let ids: Vec<CommandId> = submits.iter().flat_map(|(commands, _, _)| commands.iter().map(|c| c.id)).collect();
        let mut outcome = self.load_answers(&ids).and_then(|()| {
            let commands = submits.iter().flat_map(|(commands, _, _)| commands.iter());
            // What the batch names and the cache holds is used: the next cut spares it. The
            // bits matter once a cut may come (from half the bound); below, they cost 3% of
            // the writer's time at 10k accounts (docs/PERFORMANCE.md, "Issue 25, part 3").
            if self.state.accounts_held() > self.options.accounts_cached_max() / 2 {
                self.state.touch(commands.clone());
            }
            let loaded = self.store.load_wanted(&mut self.state, commands)?;
            self.stats.accounts_loaded += loaded;
            Ok(())
        });
        for (commands, principal, _) in &submits {
            if outcome.is_err() {
                break;
            }
            let before = pending.receipts.len();
            if let Err(err) = self.decide_all(commands, principal, admission, &mut pending) {
                outcome = Err(err);
                break;
            }
            counts.push(pending.receipts.len() - before);
        }
        let decided = std::time::Instant::now();
        let staged = outcome.and_then(|()| self.finish(&mut pending));
        let written = std::time::Instant::now();
        let nanos = |from: std::time::Instant, to: std::time::Instant| {
            u64::try_from(to.duration_since(from).as_nanos()).unwrap_or(u64::MAX)
        };
        let commands = submits.iter().map(|(commands, _, _)| commands.len() as u64).sum::<u64>();
        self.stats.batches += 1;
        self.stats.commands += commands;
        self.stats.decide_nanos += nanos(started, decided);
        self.stats.stage_nanos += nanos(decided, written);
        let report = BatchReport {
            commands,
            events: pending.new_at.len() as u64,
            decide: decided.duration_since(started),
            stage: written.duration_since(decided),
            write: std::time::Duration::ZERO,
            head_seq: start_head.seq,
            committed: false,
        };
        let job = match staged {
            Ok(job) => job,
            Err(err) => {
                // Nothing of it was handed on; the state holds part of it: reloaded once the
                // batches before it are written.
                for (_, _, done) in submits {
                    done(Err(err.clone()));
                }
                if let Some(observer) = &self.options.observer {
                    observer.batch_done(&report);
                }
                self.drain();
                self.broken.get_or_insert(err);
                self.settle();
                return;
            }
        };
        // Pinned before the projector can pass them: eviction keeps what the store lacks.
        for account in &job.accounts {
            self.pinned.insert(account.id, job.to_seq);
        }
        // Each submit's receipts, cut from the back: the first submit (the only one, for a
        // batch of one client's) keeps the vector itself, with no receipt moved.
        let mut receipts = pending.receipts;
        debug_assert_eq!(counts.iter().sum::<usize>(), receipts.len(), "a receipt per decided command");
        let mut answers = Vec::with_capacity(submits.len());
        for ((_, _, done), count) in submits.into_iter().zip(counts).rev() {
            let own = if answers.len() + 1 == answers.capacity() {
                std::mem::take(&mut receipts)
            } else {
                receipts.split_off(receipts.len() - count)
            };
            answers.push((done, own));
        }
        answers.reverse();
        let batch = Batch { write: pending.batch.seal(), from: start_head, to: self.head, answers, job, report };
        self.hand_over(batch);
        self.evict();
        self.stats.accounts_cached = self.state.accounts_held() as u64;
        // The answered ids in memory are a cache over the store's: bounded, cut in CLOCK order.
        // Cut only with nothing in flight: an id of a batch not yet written is in no store, and
        // a retry of it that missed the cache would be decided anew.
        let max = self.options.answers_cached_max();
        if self.state.answers_held() > max {
            self.drain();
            if self.broken.is_none() {
                self.state.evict_answers(cache_low_water(max));
            }
        }
    }

    /// A dry run of `command` against the live state: what [`Writer::commit`] would answer now.
    /// Nothing is staged; the state is copied only when something comes due first.
    fn check(&self, command: &Command, principal: &Principal) -> Result<Receipt> {
        if let Some(reason) = &self.failed {
            return Err(Error::Stopped(reason.clone()));
        }
        let mut scratch = Scratch { live: &self.state, copy: None, due: 0, due_at: Vec::new() };
        match decide_after_due(&mut scratch, command, self.admission())? {
            Decision::Retry { seq } => {
                let event = self.store.event(seq)?;
                let conflict = !event.answers(&command.body);
                let rule = rule_of(&self.state, &event);
                Ok(Receipt { seq, event, duplicate: true, conflict, rule })
            }
            Decision::Append(mut events) if events.len() == 1 => {
                let mut event = events.pop().ok_or_else(|| Error::Stopped("no event decided".into()))?;
                // As `append` would number it: after the due events and any checkpoints before each.
                let (mut seq, mut head_at) = (self.head.seq, self.state.head_at());
                for at in scratch.due_at.iter().chain([&event.at]) {
                    seq += crate::schedule::due_before(self.options.checkpoint_every, seq, head_at, *at) + 1;
                    head_at = Some(*at);
                }
                event.principal = Some(principal.clone());
                let rule = rule_of(scratch.state(), &event);
                Ok(Receipt { seq, event, duplicate: false, conflict: false, rule })
            }
            Decision::Append(events) => {
                Err(Error::InvalidArgument(format!("a dry run decided {} events; one was expected", events.len())))
            }
            Decision::Due(_) => Err(Error::InvalidArgument("a dry run ended on a due event".into())),
        }
    }

    /// Decides `commands`, appending their receipts to `pending.receipts`. Events that came due
    /// before a command (expired holds, executed or stopped delayed transfers) are appended
    /// ahead of its answer; they get no receipt of their own.
    fn decide_all(
        &mut self,
        commands: &[Command],
        principal: &Principal,
        admission: Admission,
        pending: &mut StagedBatch<'_>,
    ) -> Result<()> {
        for command in commands {
            let decision = decide_after_due(&mut DueInBatch { writer: self, pending }, command, admission)?;
            match decision {
                Decision::Retry { seq } => {
                    let event = match seq.checked_sub(pending.first_seq) {
                        Some(index) => pending
                            .new_at
                            .get(index as usize)
                            .and_then(|at| at.and_then(|at| pending.receipts.get(at)))
                            .map(|receipt| receipt.event.clone())
                            .ok_or_else(|| Error::Corruption { seq, detail: "retry points past the batch".into() })?,
                        None => self.committed_event(seq)?,
                    };
                    let conflict = !event.answers(&command.body);
                    let rule = rule_of(&self.state, &event);
                    pending.receipts.push(Receipt { seq, event, duplicate: true, conflict, rule });
                }
                Decision::Append(events) => {
                    for mut event in events {
                        event.principal = Some(principal.clone());
                        let seq = self.append(&event, pending)?;
                        pending.new_at.push(Some(pending.receipts.len()));
                        let rule = rule_of(&self.state, &event);
                        pending.receipts.push(Receipt { seq, event, duplicate: false, conflict: false, rule });
                    }
                }
                Decision::Due(_) => debug_assert!(false, "decide_after_due handles every due event"),
            }
        }
        Ok(())
    }

    /// Records the checkpoints due before `event` (`schedule::due`), then `event`.
    fn append(&mut self, event: &Event, pending: &mut StagedBatch<'_>) -> Result<u64> {
        let (every, head_at) = (self.options.checkpoint_every, self.state.head_at());
        for _ in 0..crate::schedule::due_before(every, self.head.seq, head_at, event.at) {
            let (origin, at) = (self.store.origin()?, head_at.unwrap_or(event.at));
            let key = self.options.checkpoint_key.as_ref();
            let checkpoint = crate::schedule::event(key, &origin, self.head, self.tree.root(), at)?;
            self.append_record(&checkpoint, pending)?;
            pending.new_at.push(None);
        }
        self.append_record(event, pending)
    }

    /// Encodes, chains and stages `event`, applies it, and stages its index entries.
    fn append_record(&mut self, event: &Event, pending: &mut StagedBatch<'_>) -> Result<u64> {
        let seq = self.head.seq + 1;
        let (hash, record) = Record::encode_event_at(seq, self.head.hash, event)?;
        self.state.apply(event).map_err(|err| Error::Corruption { seq, detail: err.to_string() })?;
        // Invariant: the state has applied exactly the events of the log.
        if self.state.event_count() != seq {
            let detail = format!("the state holds {} events after appending seq {seq}", self.state.event_count());
            return Err(Error::Corruption { seq, detail });
        }
        pending.batch.put(Table::Log, &codec::seq_key(seq), &record);
        // The event is its command's first answer (every earlier answer of the id was loaded).
        if self.state.answer_seq(event.command_id) == Some(seq) {
            pending.batch.put(Table::Answered, &codec::answered_key(event.command_id), &seq.to_be_bytes());
        }
        for (level, index, node) in self.tree.push(merkle::leaf_hash(&hash)) {
            if level >= codec::MERKLE_STORED_LEVEL_MIN {
                pending.batch.put(Table::Meta, &codec::merkle_key(level, index), &node);
            }
        }
        pending.seq = seq;
        crate::project::dirty(&self.state, event, pending);
        self.head = Head { seq, hash };
        Ok(seq)
    }

    /// Adds the rarer read models and the head to the batch, each in key order; returns the
    /// projector's job: the history and customer indexes and the touched accounts (each once).
    fn finish(&self, pending: &mut StagedBatch<'_>) -> Result<Job> {
        let mut history = std::mem::take(&mut pending.history);
        history.sort_unstable();
        let job = Job {
            to_seq: self.head.seq,
            history,
            customers: std::mem::take(&mut pending.customers),
            accounts: project::accounts_of(&self.state, pending.touched.drain().collect()),
        };
        let batch = &mut pending.batch;
        if pending.policies_changed {
            batch.put(Table::Meta, META_POLICIES, &codec::encode_policies(self.state.policy_versions())?);
        }
        if pending.protection_settings_changed {
            let versions = codec::encode_protection_settings(self.state.protection_versions())?;
            batch.put(Table::Meta, META_PROTECTION_SETTINGS, &versions);
        }
        let mut protected: Vec<AccountId> = pending.protections_touched.drain().collect();
        protected.sort_unstable();
        for id in protected {
            if let Some(protections) = self.state.protections(id) {
                batch.put(Table::Meta, &codec::protections_key(id), &codec::encode_protections(protections)?);
            }
        }
        let mut reservations: Vec<CommandId> = pending.pending_changed.drain().collect();
        reservations.sort_unstable();
        for id in reservations {
            match self.state.reservation(id) {
                Some(reservation) => {
                    batch.put(Table::Meta, &codec::pending_key(id), &codec::encode_reservation(reservation)?);
                }
                None => batch.delete(Table::Meta, &codec::pending_key(id)),
            }
        }
        let mut risk: Vec<String> = pending.risk_changed.drain().collect();
        risk.sort_unstable();
        for counterparty in risk {
            match self.state.risk_listed(&counterparty) {
                Some(seq) => batch.put(Table::Meta, &codec::risk_key(&counterparty), &seq.to_be_bytes()),
                None => batch.delete(Table::Meta, &codec::risk_key(&counterparty)),
            }
        }
        batch.put(Table::Meta, META_HEAD, &codec::encode_head(self.head.seq, &self.head.hash));
        batch.put(Table::Meta, META_MERKLE_SIZE, &self.tree.size().to_be_bytes());
        Ok(job)
    }

    /// After a failed batch: reload the state from disk (the batch never reached it).
    fn recover(&mut self, expected: Head) {
        // The projector first writes what it holds: the reload projects the rest.
        if let Err(err) = self.store.projection.wait() {
            self.failed = Some(err.to_string());
            return;
        }
        match self.store.load_state_projected() {
            Ok((state, head)) => {
                match Frontier::load(&*self.store, head.seq) {
                    Ok(tree) => self.tree = tree,
                    Err(err) => {
                        self.failed = Some(format!("could not reload the Merkle tree after a failed write: {err}"))
                    }
                }
                // On PostgreSQL a batch whose commit failed here may have committed on the
                // server (the connection died after COMMIT): the log is the truth, and its
                // callers' retries are answered from it. On RocksDB a failed write wrote nothing.
                let ahead_is_possible = self.store.commit_outcome_unknown_on_error() && head.seq > expected.seq;
                if head != expected && !ahead_is_possible {
                    self.failed = Some(format!(
                        "after a failed write the log's head is {} instead of {}",
                        head.to_text(),
                        expected.to_text()
                    ));
                }
                self.state = state;
                self.pinned.clear();
                self.head = head;
                self.durable = head;
                self.store.rebase(head);
                self.needs_reload = None;
                if let Some(pipeline) = &self.pipeline
                    && pipeline.messages.send(Message::Rebase(head)).is_err()
                {
                    self.failed.get_or_insert_with(|| "the committer has exited".into());
                }
            }
            // The database is unreachable (a failover in progress): try again before the next
            // batch; until then every batch is refused without being decided.
            Err(err) if self.store.commit_outcome_unknown_on_error() && matches!(err, Error::Io(_)) => {
                self.needs_reload = Some(expected);
            }
            Err(err) => self.failed = Some(format!("could not reload after a failed write: {err}")),
        }
    }
}

/// The citation of a rejection the policy decided: the version in force at its time, with its
/// source. Past versions never change, so a retry answered later cites the same.
fn rule_of(state: &State, event: &Event) -> Option<String> {
    match &event.body {
        EventBody::Rejected { reason, .. } if reason.cites_policy() => state.policy_at(event.at).map(Policy::citation),
        _ => None,
    }
}
