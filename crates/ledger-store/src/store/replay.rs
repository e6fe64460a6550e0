//! Replay with memory bounded by a setting: the log applied from genesis to a paged state whose
//! accounts beyond the cache spill to a scratch store (a temporary RocksDB in `TMPDIR`, removed
//! when the replay ends), then every read model compared with it in key order (merge joins), so
//! neither side is held whole. While every account fits in the cache, nothing spills and no
//! scratch store is made. The replay reads no read model to rebuild the state: the accounts come
//! from the log alone.

use std::collections::HashSet;
use std::sync::Arc;

use super::answered::{AnsweredCheck, TableDigest};
use super::audit::{check_account_key, compare_accounts};
use super::scratch::{Ahead, Scratch, SharedScratch, load};
use super::*;
use crate::merkle::{self, Frontier};
use crate::project::{self, Keys};
use crate::schedule;
use ledger_core::EventBody;
use rustc_hash::FxHashMap;

/// Events per message from the replay reader to the applier.
const REPLAY_CHUNK: usize = 1_024;

/// Threads reading chunks' accounts from the scratch store ahead of the applier.
const READ_AHEAD_THREADS: usize = 2;

/// What [`Store::replay_log`] returns: the state, the head, the number of events applied, the
/// Merkle root of the log, and the answered-id check with the table's digest when asked for.
pub(super) type ReplayedLog = (State, Head, u64, Hash, Option<(AnsweredCheck, TableDigest)>);

/// Memory one replayed account takes in the cache: the account as in the writer's cache
/// (`options.rs`, 384 bytes) plus its history digest and recency entries.
const REPLAY_ACCOUNT_BYTES: usize = 448;

/// How many replayed accounts `cache_mib` holds (at least one).
pub(crate) fn replay_accounts_max(cache_mib: usize) -> usize {
    (cache_mib.saturating_mul(1 << 20) / REPLAY_ACCOUNT_BYTES).max(1)
}

/// What [`Store::replay_log`] calls around the events it applies: `before` and `after` each run
/// of at most `run_len` events (with what was read ahead of its chunk), `event` after each
/// event is applied.
pub(super) trait Applier {
    fn run_len(&self) -> usize {
        REPLAY_CHUNK
    }
    /// The scratch store a thread of its own reads each chunk's accounts from ahead of `before`.
    fn read_ahead(&self) -> Option<Arc<SharedScratch>> {
        None
    }
    fn before(&mut self, _state: &mut State, _run: &[(u64, Event)], _ahead: Option<&mut Ahead>) -> Result<()> {
        Ok(())
    }
    fn event(&mut self, state: &State, seq: u64, event: &Event) -> Result<()>;
    fn after(&mut self, _state: &mut State) -> Result<()> {
        Ok(())
    }
}

impl Store {
    /// Rebuilds the state from genesis (no snapshot, no read model) and compares it with the
    /// stored read models and indexes, holding at most `accounts_max` accounts in memory (the
    /// rest in a scratch store). Returns the replayed state: whole when every account fitted;
    /// else a paged view holding everything but the accounts, and the accounts the state a
    /// writer opens holds (`Store::open_paged`: those the log tail the projector had not
    /// reached touched), as replayed — what `Reader::opened_view` compares it with.
    pub(crate) fn replay(&self, accounts_max: usize, progress: &mut dyn FnMut(u64)) -> Result<(State, ReplayReport)> {
        // The history index and the account read models are compared as of `projected` (a
        // view of a running ledger, or of one that crashed, may have them behind the head). In
        // the writer's process, everything acknowledged is projected first, so the projector
        // does not move the tables while they are compared.
        self.projection.wait()?;
        let projected = self.projected()?;
        // A ledger before layout 3 has no answered-id table yet (its next writer open builds it).
        let answers_on_disk = self.layout_version()? >= codec::LAYOUT_VERSION_ANSWERS_ON_DISK;
        let answered = answers_on_disk.then(AnsweredCheck::new).transpose()?;
        let mut replay = PagedReplay {
            store: self,
            projected,
            accounts_max,
            scratch: Arc::default(),
            digests: FxHashMap::default(),
            used: FxHashMap::default(),
            run: 0,
            keys: Keys::default(),
            at_projected: None,
        };
        if projected == 0 {
            replay.at_projected = Some(replay.check_projected(&State::new())?);
        }
        let (state, head, events, tree_root, answered) = self.replay_log(progress, &mut replay, answered)?;
        let (mut account_mismatches, index_mismatches) = replay.at_projected.take().unwrap_or_default();
        if projected > head.seq {
            account_mismatches.push(Mismatch {
                account: None,
                field: "projected".into(),
                expected: format!("at most the head, {}", head.seq),
                found: projected.to_string(),
            });
        }
        let mut report = self.compare_read_models(&state, head, events)?;
        report.mismatches.splice(0..0, account_mismatches);
        if let Some((check, table)) = answered {
            report.mismatches.extend(check.finish(self, table)?);
        }
        report.mismatches.extend(index_mismatches);
        self.compare_tree(head, tree_root, &mut report.mismatches)?;
        let state = match replay.scratch.get() {
            None => state,
            Some(scratch) => self.as_opened(&state, scratch)?,
        };
        Ok((state, report))
    }

    /// Of the paged replayed `state` (its other accounts in `scratch`): everything but the
    /// accounts, and the accounts the state a writer opens holds, as replayed.
    fn as_opened(&self, state: &State, scratch: &Scratch) -> Result<State> {
        let (opened, _, _) = self.open_paged()?;
        let mut ids: Vec<AccountId> = opened.accounts().map(|account| account.id).collect();
        ids.sort_unstable();
        let mut result = state.empty_view();
        let from_scratch = scratch.get(&ids)?;
        for (id, stored) in ids.iter().zip(from_scratch) {
            let replayed = state.account_held(*id).cloned().or(stored.map(|(account, _)| account));
            result.load_account(*id, replayed);
        }
        Ok(result)
    }

    /// Applies the log from genesis to a new state, checking every record. Three stages on
    /// their own threads (two cores): the reader walks the chain (each record's hash and link);
    /// the decoder builds the Merkle tree from the records' hashes, decodes their events and
    /// checks each recorded checkpoint against that tree; this thread applies, calling
    /// `applier`. With `answered`, this one also feeds it every event, and a fourth thread
    /// digests the answered-id table meanwhile (one sequential scan): returned with it, for
    /// [`AnsweredCheck::finish`].
    pub(super) fn replay_log(
        &self,
        progress: &mut dyn FnMut(u64),
        applier: &mut dyn Applier,
        mut answered: Option<AnsweredCheck>,
    ) -> Result<ReplayedLog> {
        let mut state = State::new();
        // The answered ids are checked against the store's table (`AnsweredCheck`), not held:
        // a replay's memory does not grow with the log's commands.
        state.skip_answers(true);
        let mut events = 0;
        let run_len = applier.run_len().max(1);
        let (raw_tx, raw_rx) = crossbeam_channel::bounded::<RawChunk>(16);
        // Until anything spills, chunks go straight to the applier; then (after a `None`) chunk
        // k of the rest goes through read-ahead thread k mod READ_AHEAD_THREADS, in order.
        let (direct_tx, direct_rx) = crossbeam_channel::bounded::<Option<Vec<(u64, Event)>>>(16);
        let (decoded_tx, decoded_rx): (Vec<_>, Vec<_>) =
            (0..READ_AHEAD_THREADS).map(|_| crossbeam_channel::bounded::<Vec<(u64, Event)>>(8)).unzip();
        let (chunks_tx, chunks_rx): (Vec<_>, Vec<_>) = (0..READ_AHEAD_THREADS)
            .map(|_| crossbeam_channel::bounded::<(Vec<(u64, Event)>, Option<Ahead>)>(2))
            .unzip();
        let read_ahead = applier.read_ahead();
        let read_ahead_threads = read_ahead.clone();
        let (walked, decoded, applied, table) = std::thread::scope(|scope| {
            let table =
                answered.as_ref().map(|check| check.table_scan()).map(|scan| scope.spawn(move || scan.digest(self)));
            let reader = scope.spawn(move || -> Result<Head> {
                let mut chunk = RawChunk::default();
                let head = self.walk(1, u64::MAX, GENESIS_PREV, |seq, record| {
                    chunk.push(seq, record);
                    if chunk.ends.len() == REPLAY_CHUNK {
                        raw_tx.send(std::mem::take(&mut chunk)).map_err(|_| stopped())?;
                    }
                    Ok(())
                })?;
                if !chunk.ends.is_empty() {
                    raw_tx.send(chunk).map_err(|_| stopped())?;
                }
                Ok(head)
            });
            let decoder = scope.spawn(move || -> Result<Frontier> {
                // The Merkle tree from the log (replay compares it with the stored one).
                let mut tree = Frontier::default();
                let mut prev = GENESIS_PREV;
                let origin = self.origin().ok();
                let mut ahead_k: Option<usize> = None;
                while let Ok(raw) = raw_rx.recv() {
                    let mut events = Vec::with_capacity(raw.ends.len());
                    let mut start = 0;
                    for ((seq, end), hash) in raw.ends.iter().zip(&raw.hashes) {
                        let event = codec::decode_event(*seq, &raw.bytes[start..*end])?;
                        if let EventBody::Checkpointed { .. } = &event.body {
                            let (root, origin) = (tree.root(), origin.as_deref());
                            schedule::check(&event, &schedule::Expected { seq: *seq, prev, root, origin, key: None })?;
                        }
                        tree.push(merkle::leaf_hash(hash));
                        events.push((*seq, event));
                        (start, prev) = (*end, *hash);
                    }
                    if ahead_k.is_none() && read_ahead.as_ref().is_some_and(|scratch| scratch.get().is_some()) {
                        direct_tx.send(None).map_err(|_| stopped())?;
                        ahead_k = Some(0);
                    }
                    match &mut ahead_k {
                        None => direct_tx.send(Some(events)).map_err(|_| stopped())?,
                        Some(k) => {
                            decoded_tx[*k % READ_AHEAD_THREADS].send(events).map_err(|_| stopped())?;
                            *k += 1;
                        }
                    }
                }
                Ok(tree)
            });
            // With a scratch store, a fourth stage reads each chunk's accounts from it ahead of
            // the applier, on the core the reader and decoder leave mostly idle.
            let aheads: Vec<_> = decoded_rx
                .into_iter()
                .zip(chunks_tx)
                .map(|(decoded_rx, chunks_tx)| {
                    let read_ahead = read_ahead_threads.clone();
                    scope.spawn(move || -> Result<()> {
                        while let Ok(events) = decoded_rx.recv() {
                            let ahead = match &read_ahead {
                                Some(scratch) => scratch.read_ahead(&events)?,
                                None => None,
                            };
                            chunks_tx.send((events, ahead)).map_err(|_| stopped())?;
                        }
                        Ok(())
                    })
                })
                .collect();
            let mut apply_chunk = |state: &mut State, chunk: &[(u64, Event)], mut ahead: Option<Ahead>| -> Result<()> {
                for run in chunk.chunks(run_len) {
                    applier.before(state, run, ahead.as_mut())?;
                    for (seq, event) in run {
                        state.apply(event).map_err(|err| Error::Corruption { seq: *seq, detail: err.to_string() })?;
                        applier.event(state, *seq, event)?;
                        events += 1;
                    }
                    applier.after(state)?;
                }
                Ok(())
            };
            let mut applied = Ok(());
            let mut ahead_k: Option<usize> = None;
            loop {
                let (chunk, ahead) = match &mut ahead_k {
                    None => match direct_rx.recv() {
                        Ok(Some(chunk)) => (chunk, None),
                        Ok(None) => {
                            ahead_k = Some(0);
                            continue;
                        }
                        Err(_) => break,
                    },
                    Some(k) => {
                        let Ok(next) = chunks_rx[*k % READ_AHEAD_THREADS].recv() else { break };
                        *k += 1;
                        next
                    }
                };
                if let Some(check) = &mut answered {
                    chunk.iter().for_each(|(seq, event)| check.event(*seq, event));
                }
                applied = apply_chunk(&mut state, &chunk, ahead);
                if applied.is_err() {
                    break;
                }
                progress(chunk.last().map_or(0, |(seq, _)| *seq));
            }
            drop((direct_rx, chunks_rx));
            let joined = |err: &str| Error::Stopped(format!("the replay's {err} thread panicked"));
            // A read-ahead thread's own error over another's `Stopped` (which it caused).
            let mut read = Ok(());
            for ahead in aheads {
                let next = ahead.join().unwrap_or_else(|_| Err(joined("read-ahead")));
                if let (Ok(()) | Err(Error::Stopped(_)), Err(err)) = (&read, next) {
                    read = Err(err);
                }
            }
            let decoded = decoder.join().unwrap_or_else(|_| Err(joined("decoder")));
            let walked = reader.join().unwrap_or_else(|_| Err(joined("reader")));
            let table = table.map(|table| table.join().unwrap_or_else(|_| Err(joined("answered-id table"))));
            (walked, decoded, applied.and(read), table)
        });
        // The earliest stage's own error first: a later stage stops with `Stopped` when the one
        // it feeds stopped, and each stage handles only records before the ones it passed on.
        state.skip_answers(false);
        applied?;
        let tree = decoded?;
        let head = walked?;
        let answered = match (answered, table) {
            (Some(check), Some(table)) => Some((check, table?)),
            _ => None,
        };
        self.check_reaches_head(head)?;
        Ok((state, head, events, tree.root(), answered))
    }

    /// The account read models against the replayed accounts at `meta/projected` (`expected`,
    /// in id order), by a merge join in key order.
    fn compare_accounts_table(&self, expected: &mut dyn Iterator<Item = Result<Replayed>>) -> Result<Vec<Mismatch>> {
        let mut mismatches = Vec::new();
        let mut only_stored = Vec::new();
        let missing = |id: AccountId| Mismatch {
            account: Some(id),
            field: "account".into(),
            expected: "present".into(),
            found: "missing".into(),
        };
        let mut next = expected.next().transpose()?;
        self.scan(Table::Accounts, &[], true, &mut |key, value| {
            let mut found = codec::decode_account(value)?;
            check_account_key(key, &mut found, &mut mismatches);
            while let Some(want) = next.as_ref().filter(|want| want.account.id < found.id) {
                mismatches.push(missing(want.account.id));
                next = expected.next().transpose()?;
            }
            match next.as_ref().filter(|want| want.account.id == found.id) {
                Some(want) => {
                    compare_accounts(&want.account, &found, &mut mismatches);
                    next = expected.next().transpose()?;
                }
                None => only_stored.push(Mismatch {
                    account: Some(found.id),
                    field: "account".into(),
                    expected: "absent".into(),
                    found: "present".into(),
                }),
            }
            Ok(true)
        })?;
        while let Some(want) = next {
            mismatches.push(missing(want.account.id));
            next = expected.next().transpose()?;
        }
        mismatches.extend(only_stored);
        Ok(mismatches)
    }

    /// The history index against the replay (`expected`, in id order): per account, the number
    /// of entries and a digest of their sequence numbers, by a merge join in key order. Every
    /// index block is read with RocksDB's checksums on, so damage shows here, not in a later
    /// query.
    fn compare_history(&self, expected: &mut dyn Iterator<Item = Result<Replayed>>) -> Result<Vec<Mismatch>> {
        let mut expected = expected.map(|want| want.map(|want| (want.account.id.0, want.digest)));
        let mut join = HistoryJoin::new(Pull::new(&mut expected));
        let scanned = self.scan_index(Table::History, &mut |account, seq| join.stored_entry(account, seq));
        let mismatches = join.finish()?;
        match scanned {
            Err(err) => Ok(vec![unreadable("history index", err)]),
            Ok(()) => Ok(mismatches),
        }
    }

    /// The customer index against the replay (`expected`: (customer, account) of every account
    /// at `meta/projected`, in key order), compared as a sequence in key order.
    fn compare_customers(&self, expected: &mut dyn Iterator<Item = Result<(u64, u64)>>) -> Result<Vec<Mismatch>> {
        let mut pull = Pull::new(expected);
        let (mut expected_len, mut stored_len, mut differ, mut first) = (0u64, 0u64, false, None);
        let scanned = self.scan_index(Table::Customers, &mut |customer, account| {
            stored_len += 1;
            match pull.next() {
                Some(want) => {
                    expected_len += 1;
                    if want != (customer, account) {
                        differ = true;
                        first.get_or_insert(AccountId(want.1));
                    }
                }
                None => differ = true,
            }
        });
        while pull.next().is_some() {
            expected_len += 1;
            differ = true;
        }
        pull.finish()?;
        match scanned {
            Err(err) => Ok(vec![unreadable("customer index", err)]),
            Ok(()) if differ => Ok(vec![Mismatch {
                account: first,
                field: "customer index".into(),
                expected: format!("{expected_len} entries"),
                found: format!("{stored_len} entries, differing"),
            }]),
            Ok(()) => Ok(Vec::new()),
        }
    }
}

/// Records as the log holds them (checked: own hash and link), on their way from the replay's
/// reader to its decoder.
#[derive(Default)]
struct RawChunk {
    /// Every event's bytes, one after another.
    bytes: Vec<u8>,
    /// Each record's seq and where its event's bytes end.
    ends: Vec<(u64, usize)>,
    /// Each record's hash.
    hashes: Vec<Hash>,
}

impl RawChunk {
    fn push(&mut self, seq: u64, record: &RecordRef<'_>) {
        if self.ends.is_empty() {
            self.bytes.reserve(REPLAY_CHUNK * 256);
            self.ends.reserve(REPLAY_CHUNK);
            self.hashes.reserve(REPLAY_CHUNK);
        }
        self.bytes.extend_from_slice(record.event_bytes);
        self.ends.push((seq, self.bytes.len()));
        self.hashes.push(record.hash);
    }
}

/// A replayed account and its history digest as of `meta/projected`.
pub(super) struct Replayed {
    pub(super) account: Account,
    pub(super) digest: HistoryDigest,
}

/// What a thread of a replay returned, or that it panicked.
fn joined<T>(thread: std::thread::ScopedJoinHandle<'_, Result<T>>) -> Result<T> {
    thread.join().unwrap_or_else(|_| Err(Error::Stopped("a replay thread panicked".into())))
}

/// What a replay stage returns when the stage it feeds stopped (that one's error is reported).
fn stopped() -> Error {
    Error::Stopped("replay stopped".into())
}

fn unreadable(field: &str, err: String) -> Mismatch {
    Mismatch {
        account: None,
        field: field.into(),
        expected: "readable".into(),
        found: format!("unreadable ({err}); run `ledger-cli rebuild-indexes`"),
    }
}

/// Pulls from a fallible iterator inside an infallible callback: the first error ends it and is
/// kept for [`Pull::finish`].
struct Pull<'a, T> {
    items: &'a mut dyn Iterator<Item = Result<T>>,
    failed: Option<Error>,
}

impl<'a, T> Pull<'a, T> {
    fn new(items: &'a mut dyn Iterator<Item = Result<T>>) -> Self {
        Pull { items, failed: None }
    }
    fn next(&mut self) -> Option<T> {
        if self.failed.is_some() {
            return None;
        }
        match self.items.next()? {
            Ok(item) => Some(item),
            Err(err) => {
                self.failed = Some(err);
                None
            }
        }
    }
    fn finish(self) -> Result<()> {
        self.failed.map_or(Ok(()), Err)
    }
}

/// The history index's entries (in key order: by account, then sequence number) summed per
/// account and joined with the expected digests (in account order).
struct HistoryJoin<'a> {
    expected: Pull<'a, (u64, HistoryDigest)>,
    next: Option<(u64, HistoryDigest)>,
    current: Option<(u64, HistoryDigest)>,
    mismatches: Vec<Mismatch>,
}

impl<'a> HistoryJoin<'a> {
    fn new(mut expected: Pull<'a, (u64, HistoryDigest)>) -> Self {
        let next = Self::pull(&mut expected);
        HistoryJoin { expected, next, current: None, mismatches: Vec::new() }
    }
    /// The next expected account with entries (an account without any has none to compare).
    fn pull(expected: &mut Pull<'a, (u64, HistoryDigest)>) -> Option<(u64, HistoryDigest)> {
        std::iter::from_fn(|| expected.next()).find(|(_, digest)| digest.entries > 0)
    }
    fn stored_entry(&mut self, account: u64, seq: u64) {
        match &mut self.current {
            Some((held, digest)) if *held == account => digest.add(seq),
            _ => {
                if let Some(done) = self.current.take() {
                    self.stored_account(done);
                }
                let mut digest = HistoryDigest::default();
                digest.add(seq);
                self.current = Some((account, digest));
            }
        }
    }
    fn stored_account(&mut self, (account, got): (u64, HistoryDigest)) {
        while let Some((id, want)) = self.next.filter(|(id, _)| *id < account) {
            self.differ(id, Some(want), None);
            self.next = Self::pull(&mut self.expected);
        }
        match self.next.filter(|(id, _)| *id == account) {
            Some((_, want)) => {
                if want != got {
                    self.differ(account, Some(want), Some(got));
                }
                self.next = Self::pull(&mut self.expected);
            }
            None => self.differ(account, None, Some(got)),
        }
    }
    fn differ(&mut self, account: u64, want: Option<HistoryDigest>, got: Option<HistoryDigest>) {
        let entries = |d: Option<HistoryDigest>| d.map_or(0, |d| d.entries);
        self.mismatches.push(Mismatch {
            account: Some(AccountId(account)),
            field: "history index".into(),
            expected: format!("{} entries", entries(want)),
            found: format!("{} entries, differing", entries(got)),
        });
    }
    fn finish(mut self) -> Result<Vec<Mismatch>> {
        if let Some(done) = self.current.take() {
            self.stored_account(done);
        }
        while let Some((id, want)) = self.next {
            self.differ(id, Some(want), None);
            self.next = Self::pull(&mut self.expected);
        }
        self.expected.finish()?;
        Ok(self.mismatches)
    }
}

/// The replay's applier: loads what each run of events touches (from the scratch store once
/// anything spilled), collects the history digests up to `meta/projected`, compares the account read models and indexes at `meta/projected`, and spills the least
/// recently used accounts past `accounts_max`.
struct PagedReplay<'s> {
    store: &'s Store,
    projected: u64,
    accounts_max: usize,
    /// Made at the first spill; then the state is a paged view and this holds every account it
    /// dropped (with its digest), as of its last drop.
    scratch: Arc<SharedScratch>,
    /// History digests of the accounts the state holds (all of them while nothing spilled).
    digests: FxHashMap<AccountId, HistoryDigest>,
    /// The run each held account was last touched in (only once spilled).
    used: FxHashMap<AccountId, u64>,
    run: u64,
    keys: Keys,
    /// The account mismatches and the index mismatches at `meta/projected`.
    at_projected: Option<(Vec<Mismatch>, Vec<Mismatch>)>,
}

impl PagedReplay<'_> {
    /// The account read models and the history and customer indexes against `state` (the
    /// state at `meta/projected`, its dropped accounts in the scratch store).
    fn check_projected(&mut self, state: &State) -> Result<(Vec<Mismatch>, Vec<Mismatch>)> {
        let store = self.store;
        let Some(scratch) = self.scratch.get() else {
            let mut held: Vec<&Account> = state.accounts().collect();
            held.sort_unstable_by_key(|account| account.id);
            let digests = &self.digests;
            let replayed = || {
                held.iter().map(|account| {
                    let digest = digests.get(&account.id).copied().unwrap_or_default();
                    Ok(Replayed { account: (*account).clone(), digest })
                })
            };
            // The history index (the largest) on a core of its own beside the other two.
            let (accounts, history, customers) = std::thread::scope(|scope| {
                let history = scope.spawn(|| store.compare_history(&mut replayed()));
                let accounts = store.compare_accounts_table(&mut replayed());
                let mut customers: Vec<(u64, u64)> = held.iter().map(|a| (a.customer.0, a.id.0)).collect();
                customers.sort_unstable();
                let customers = store.compare_customers(&mut customers.into_iter().map(Ok));
                (accounts, joined(history), customers)
            });
            let mut indexes = history?;
            indexes.extend(customers?);
            return Ok((accounts?, indexes));
        };
        let digest = |id: &AccountId| self.digests.get(id).copied().unwrap_or_default();
        scratch.put(state.accounts().map(|account| (account, digest(&account.id))))?;
        self.scratch.spilled();
        let (accounts, history, customers) = std::thread::scope(|scope| {
            let history = scope.spawn(|| store.compare_history(&mut scratch.accounts()));
            let accounts = store.compare_accounts_table(&mut scratch.accounts());
            let customers = scratch
                .put_customers(&mut scratch.accounts())
                .and_then(|()| store.compare_customers(&mut scratch.customers()));
            (accounts, joined(history), customers)
        });
        let mut indexes = history?;
        indexes.extend(customers?);
        Ok((accounts?, indexes))
    }

    /// Drops the least recently used half of the held accounts into the scratch store (made
    /// now, and the state paged, at the first spill).
    fn spill(&mut self, state: &mut State) -> Result<()> {
        if self.scratch.get().is_none() {
            state.page();
        }
        let scratch = self.scratch.get_or_create()?;
        let mut held: Vec<(u64, AccountId)> =
            state.accounts().map(|account| (self.used.get(&account.id).copied().unwrap_or(0), account.id)).collect();
        let dropped_len = held.len() - (self.accounts_max / 2).min(held.len());
        if dropped_len < held.len() {
            held.select_nth_unstable(dropped_len);
        }
        held.truncate(dropped_len);
        // Written in key order: the scratch store's memtable inserts go faster so.
        let mut in_order: Vec<AccountId> = held.into_iter().map(|(_, id)| id).collect();
        in_order.sort_unstable();
        let digests = &self.digests;
        let spilled = in_order.iter().filter_map(|id| state.account_held(*id));
        scratch.put(spilled.map(|account| (account, digests.get(&account.id).copied().unwrap_or_default())))?;
        self.scratch.spilled();
        let dropped: HashSet<AccountId> = in_order.into_iter().collect();
        // Only the dropped accounts may go (replay sets no reference bits): exactly those.
        state.evict(state.accounts_held() - dropped.len(), |id| !dropped.contains(&id));
        for id in &dropped {
            self.digests.remove(id);
            self.used.remove(id);
        }
        Ok(())
    }
}

impl Applier for PagedReplay<'_> {
    /// A run touches at most two accounts per event: a quarter of the cache keeps a run's
    /// accounts well inside it.
    fn run_len(&self) -> usize {
        (self.accounts_max / 4).clamp(1, REPLAY_CHUNK)
    }

    fn read_ahead(&self) -> Option<Arc<SharedScratch>> {
        Some(Arc::clone(&self.scratch))
    }

    fn before(&mut self, state: &mut State, run: &[(u64, Event)], mut ahead: Option<&mut Ahead>) -> Result<()> {
        self.run += 1;
        let shared = Arc::clone(&self.scratch);
        let Some(scratch) = shared.get() else { return Ok(()) };
        let mut wanted = Vec::new();
        for (_, event) in run {
            self.keys.accounts.clear();
            self.keys.customers.clear();
            project::dirty(state, event, &mut self.keys);
            for id in &self.keys.accounts {
                self.used.insert(*id, self.run);
                if state.account_held(*id).is_some() {
                    continue;
                }
                match ahead.as_mut().and_then(|ahead| ahead.take(&shared, *id)) {
                    Some(found) => load(state, &mut self.digests, *id, found),
                    None => wanted.push(*id),
                }
            }
            // An opening adds the account to its customer's list in the state, which a replay
            // never reads (the customer index is compared from the accounts' own customers):
            // the view gets an empty list to add to.
            for (customer, _) in &self.keys.customers {
                state.load_customer(*customer, Vec::new());
            }
        }
        wanted.sort_unstable();
        wanted.dedup();
        for (id, found) in wanted.iter().zip(scratch.get(&wanted)?) {
            load(state, &mut self.digests, *id, found);
        }
        Ok(())
    }

    fn event(&mut self, state: &State, seq: u64, event: &Event) -> Result<()> {
        if seq <= self.projected {
            self.keys.accounts.clear();
            self.keys.customers.clear();
            project::dirty(state, event, &mut self.keys);
            for account in &self.keys.accounts {
                self.digests.entry(*account).or_default().add(seq);
            }
        }
        if seq == self.projected {
            self.at_projected = Some(self.check_projected(state)?);
        }
        Ok(())
    }

    fn after(&mut self, state: &mut State) -> Result<()> {
        if state.accounts_held() > self.accounts_max { self.spill(state) } else { Ok(()) }
    }
}
