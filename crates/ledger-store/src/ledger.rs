//! The embedding API: [`Ledger`], a thread-safe handle on an open ledger, its options and the
//! [`Receipt`] every command gets.
//!
//! Any number of threads hold a [`Ledger`] and submit commands. One writer thread
//! (`writer/`) owns the state; the committer thread behind it (`committer.rs`) answers each
//! caller only after its batch is durable.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crossbeam_channel::Sender;
use ledger_core::{Command, CommandBody, CommandId, Principal, State};

use crate::error::{Error, Result};
use crate::options::{LedgerOptions, OpenWork, check_options, tuning};
use crate::reader::Reader;
use crate::receipt::{Receipt, Request, WriterStats};
use crate::store::{MigrateReport, MigrateStage, ReplayReport, Store, Tuning};
use crate::writer::Writer;

/// A handle to an open ledger. Cheap to clone and to share between threads; the ledger closes
/// (writing a snapshot) when the last handle is dropped or [`Ledger::close`] is called.
#[derive(Clone, Debug)]
pub struct Ledger {
    shared: Arc<Shared>,
    /// Who this handle's commands are recorded as submitted by.
    principal: Principal,
}

#[derive(Debug)]
struct Shared {
    reader: Reader,
    tx: Sender<Request>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        let (reply, answer) = crossbeam_channel::bounded(1);
        if self.tx.send(Request::Close { reply }).is_ok() {
            let _ = answer.recv();
        }
        if let Ok(mut writer) = self.writer.lock()
            && let Some(handle) = writer.take()
        {
            let _ = handle.join();
        }
    }
}

impl Ledger {
    /// Creates a new, empty ledger at `path`, which must be absent or an empty directory (it is
    /// created with mode 0700), and opens it.
    pub fn create(path: impl AsRef<Path>, options: LedgerOptions) -> Result<Ledger> {
        check_options(&options)?;
        Ledger::start(Store::create(path.as_ref(), tuning(&options))?, options)
    }

    /// Opens the existing ledger at `path`: loads the latest snapshot, replays and checks the log
    /// after it, and starts the writer thread. Creates nothing: a path that holds no ledger is
    /// [`Error::NotALedger`], and a log that lost acknowledged records is [`Error::Corruption`].
    pub fn open(path: impl AsRef<Path>, options: LedgerOptions) -> Result<Ledger> {
        check_options(&options)?;
        let observer = options.open_observer.clone();
        let work = |work: &OpenWork| {
            if let Some(observer) = &observer {
                observer.open_work(work);
            }
        };
        Ledger::start(Store::open(path.as_ref(), tuning(&options), &work)?, options)
    }

    /// Rebuilds every read model and index of the ledger at `path` from its log (which is
    /// checked from genesis as it is read), for a ledger whose derived keys are damaged. Needs
    /// the ledger closed; `progress` gets the events applied so far.
    pub fn rebuild_read_models(path: impl AsRef<Path>, progress: &mut dyn FnMut(u64)) -> Result<ReplayReport> {
        let store = Store::open_to_rebuild(path.as_ref(), Tuning::default(), &|_| {})?;
        // The log checks out from genesis to its head before anything is dropped: a damaged
        // log is refused with nothing changed (the read models may be all that is left of it).
        let head = store.head()?;
        store.verify(1, Some(head), None, &mut |_| {})?;
        store.rebuild_read_models(progress)
    }

    /// Copies the ledger at `from` (any backend; a running writer may keep appending, the
    /// copy ends at the head found first) into a new ledger at `to` (an empty database or
    /// directory): the log's records verbatim, each checked as it is read; then every read
    /// model rebuilt from the copy; then the copy verified from genesis against the source's
    /// head. `progress` gets the stage and the records done.
    pub fn migrate(
        from: impl AsRef<Path>,
        to: impl AsRef<Path>,
        progress: &mut dyn FnMut(MigrateStage, u64),
    ) -> Result<MigrateReport> {
        let source = Store::open_read_only(from.as_ref())?;
        let head = source.head()?;
        let target = Store::create(to.as_ref(), Tuning::default())?;
        let copied = target.copy_log_from(&source, head.seq, &mut |seq| progress(MigrateStage::Copy, seq))?;
        // The same ledger, the same origin in its checkpoints.
        source.copy_ledger_id_to(&target)?;
        if copied != head {
            return Err(Error::Corruption {
                seq: copied.seq + 1,
                detail: format!("the source's log ends at {} before its head {}", copied.to_text(), head.to_text()),
            });
        }
        let replay = target.rebuild_read_models(&mut |events| progress(MigrateStage::Rebuild, events))?;
        let verified = Store::open_read_only(to.as_ref())?.verify(1, Some(head), None, &mut |_| {})?;
        Ok(MigrateReport { head, records: copied.seq, events_verified: verified.events_checked, replay })
    }

    fn start(store: Store, options: LedgerOptions) -> Result<Ledger> {
        let store = Arc::new(store);
        let (state, head) = store.load_state_projected()?;
        // A ledger written before the Merkle tree (or after rebuild-indexes) gets it here.
        let tree = store.merkle_catch_up(head.seq)?;
        store.ensure_ledger_id(None)?;
        let (tx, rx) = crossbeam_channel::unbounded();
        let (jobs_tx, jobs_rx) = crossbeam_channel::bounded(crate::projector::QUEUE_LEN_MAX);
        let projector_store = Arc::clone(&store);
        let projector_sync = options.sync;
        let projector = std::thread::Builder::new()
            .name("ledger-projector".into())
            .spawn(move || crate::projector::run(projector_store, jobs_rx, projector_sync))
            .map_err(|err| Error::Io(format!("starting the projector thread: {err}")))?;
        let writer = Writer::new(Arc::clone(&store), state, head, tree, options.clone(), (jobs_tx, projector))?;
        let handle = std::thread::Builder::new()
            .name("ledger-writer".into())
            .spawn(move || writer.run(rx))
            .map_err(|err| Error::Io(format!("starting the writer thread: {err}")))?;
        let reader = Reader { store, clock: options.clock, cache_mib: options.cache_mib };
        let shared = Arc::new(Shared { reader, tx, writer: Mutex::new(Some(handle)) });
        Ok(Ledger { shared, principal: options.principal })
    }

    fn request<T>(&self, make: impl FnOnce(Sender<T>) -> Request) -> Result<T> {
        let (reply, answer) = crossbeam_channel::bounded(1);
        self.shared.tx.send(make(reply)).map_err(|_| Error::Stopped("the writer has exited".into()))?;
        answer.recv().map_err(|_| Error::Stopped("the writer has exited".into()))
    }

    /// Decides and durably records one command. Blocks until its batch is on disk.
    pub fn submit(&self, command: Command) -> Result<Receipt> {
        let mut receipts = self.submit_batch(vec![command])?;
        receipts.pop().ok_or_else(|| Error::Stopped("no receipt returned".into()))
    }

    /// Decides and durably records `commands` in order; one receipt per command, in order.
    /// Either all are recorded or (on an I/O error) none.
    pub fn submit_batch(&self, commands: Vec<Command>) -> Result<Vec<Receipt>> {
        if commands.is_empty() {
            return Ok(Vec::new());
        }
        self.request(|reply: Sender<Result<Vec<Receipt>>>| Request::Submit {
            commands,
            principal: self.principal.clone(),
            done: Box::new(move |receipts| {
                let _ = reply.send(receipts);
            }),
        })?
    }

    /// [`Ledger::submit_batch`] without blocking: returns once the commands are queued, and the
    /// committer thread calls `done` with the receipts once their batch is durable (or with the
    /// error that kept it from being recorded). `done` must be quick: hand the receipts on (an
    /// async server sends them to the waiting request). Not calling it is impossible short of
    /// the process dying; if the writer has exited, `done` gets [`Error::Stopped`] at once.
    pub fn submit_batch_then(&self, commands: Vec<Command>, done: impl FnOnce(Result<Vec<Receipt>>) + Send + 'static) {
        if commands.is_empty() {
            return done(Ok(Vec::new()));
        }
        let request = Request::Submit { commands, principal: self.principal.clone(), done: Box::new(done) };
        if let Err(crossbeam_channel::SendError(request)) = self.shared.tx.send(request)
            && let Request::Submit { done, .. } = request
        {
            done(Err(Error::Stopped("the writer has exited".into())));
        }
    }

    /// A dry run: decides `command` against the current state, as a submission now would,
    /// and records nothing. The receipt's `seq` is the one a submission now would get; a
    /// command that is only a retry of an answered id gets that first answer (`duplicate`).
    pub fn check(&self, command: Command) -> Result<Receipt> {
        self.request(|reply| Request::Check { command: Box::new(command), principal: self.principal.clone(), reply })?
    }

    /// A handle on the same ledger whose commands are recorded as submitted by `principal` (a
    /// server's token holder): every event they produce names it.
    pub fn acting_as(&self, principal: Principal) -> Ledger {
        Ledger { shared: Arc::clone(&self.shared), principal }
    }

    /// Who this handle's commands are recorded as submitted by.
    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    /// A command with a fresh random id, at the clock's time.
    pub fn command(&self, body: CommandBody) -> Command {
        Command { id: CommandId(uuid::Uuid::new_v4()), at: self.now(), body, stamped: true }
    }

    /// A `tick` at the clock's time now (expire holds, execute delayed transfers due by then),
    /// with an id made of the head and that time: the same tick repeated is answered as a
    /// retry. `ledger-cli tick`, `POST /v1/tick` and the server's ticker submit this.
    pub fn tick_command(&self) -> Result<Command> {
        let at = self.now();
        let head = self.head()?.seq;
        let millis = at.as_millis().cast_unsigned();
        let id = uuid::Uuid::from_u64_pair(0x7469_636b_0000_0000 | (head >> 32), (head << 32) ^ millis);
        Ok(Command { id: CommandId(id), at, body: CommandBody::Tick, stamped: true })
    }

    /// A copy of the writer's live state (after the last commit), every account read in from
    /// the store: proportional to the ledger, for checks.
    pub fn live_state(&self) -> Result<State> {
        self.request(|reply| Request::State { reply })?
    }

    /// Where the writer's time went since opening.
    pub fn stats(&self) -> Result<WriterStats> {
        self.request(|reply| Request::Stats { reply })
    }

    /// Writes a snapshot now.
    pub fn snapshot(&self) -> Result<()> {
        self.request(|reply| Request::Snapshot { reply })?
    }

    /// Writes a snapshot and stops the writer. Other handles then get [`Error::Stopped`].
    pub fn close(self) -> Result<()> {
        let result = self.request(|reply| Request::Close { reply })?;
        if let Ok(mut writer) = self.shared.writer.lock()
            && let Some(handle) = writer.take()
        {
            handle.join().map_err(|_| Error::Stopped("the writer thread panicked".into()))?;
        }
        result
    }
}

impl std::ops::Deref for Ledger {
    type Target = Reader;

    fn deref(&self) -> &Reader {
        &self.shared.reader
    }
}
