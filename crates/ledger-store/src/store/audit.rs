//! What auditors and operators run over the whole log: verify, replay with the read-model and
//! index checks, rebuild, export and backup.

use super::replay::{Applier, replay_accounts_max};
use super::*;
use crate::checkpoint::VerifyingKey;
use crate::merkle;
use crate::schedule;
use ledger_core::EventBody;

/// History index entries per write while rebuilding.
const REBUILD_BATCH_LEN: usize = 100_000;
/// Below this many records a walk runs on one core.
const PARALLEL_WALK_MIN: u64 = 1_000;

/// Records per commit when a ledger is copied into another store.
const MIGRATE_BATCH_LEN: u64 = 8_192;

impl Store {
    /// Walks the chain from `from_seq` (default 1) to the end; with `expect_head`, also proves
    /// the log still holds that head (catches truncation and rewrites after it was recorded).
    /// Every recorded checkpoint is checked (`schedule::check`), its signature with `key` when
    /// given.
    pub(crate) fn verify(
        &self,
        from_seq: u64,
        expect_head: Option<Head>,
        key: Option<&VerifyingKey>,
        progress: &mut dyn FnMut(u64),
    ) -> Result<VerifyReport> {
        let from_seq = from_seq.max(1);
        self.check_from(from_seq, None)?;
        let prev = if from_seq == 1 { GENESIS_PREV } else { self.record(from_seq - 1)?.hash };
        let span = self.head()?.seq.saturating_sub(from_seq);
        // A ledger never opened by a writer of this build has no id (and no recorded checkpoint).
        let origin = self.origin().ok();
        let checks = (origin.as_deref(), key);
        let (head, events_checked, checkpoints_checked) = if span < PARALLEL_WALK_MIN {
            self.verify_range(from_seq, u64::MAX, prev, checks, progress)?
        } else {
            // Two halves on two cores. The second starts from record `mid`'s stored hash, which
            // the first half checks (own hash and link): the chain is still checked end to end.
            let mid = from_seq + span / 2;
            let (first, second) = std::thread::scope(|scope| {
                let second = scope.spawn(|| -> Result<(Head, u64, u64)> {
                    let prev = self.record(mid)?.hash;
                    self.verify_range(mid + 1, u64::MAX, prev, checks, &mut |_| {})
                });
                let first = self
                    .verify_range(from_seq, mid, prev, checks, &mut |seq| progress(from_seq + (seq - from_seq) * 2));
                let second = second.join().unwrap_or_else(|_| Err(Error::Stopped("a verify thread panicked".into())));
                (first, second)
            });
            let (first_head, first_count, first_checkpoints) = first?;
            if first_head.seq != mid {
                return Err(Error::Corruption { seq: first_head.seq + 1, detail: "record missing".into() });
            }
            let (head, second_count, second_checkpoints) = second?;
            (head, first_count + second_count, first_checkpoints + second_checkpoints)
        };
        self.check_reaches_head(head)?;
        if let Some(expected) = expect_head {
            if expected.seq > head.seq {
                return Err(Error::HeadMismatch(format!(
                    "the log ends at sequence {} but the recorded head is {}: truncated",
                    head.seq,
                    expected.to_text()
                )));
            }
            let found = if expected.seq == 0 { GENESIS_PREV } else { self.record(expected.seq)?.hash };
            if found != expected.hash {
                return Err(Error::HeadMismatch(format!(
                    "sequence {} hashes to {}, not the recorded {}: rewritten",
                    expected.seq,
                    hex::encode(found),
                    hex::encode(expected.hash)
                )));
            }
        }
        Ok(VerifyReport { from_seq, events_checked, checkpoints_checked, head })
    }
    /// A range that starts past the head (or ends before it starts) is a usage error, not damage.
    fn check_from(&self, from_seq: u64, to_seq: Option<u64>) -> Result<()> {
        let head = self.head()?;
        if from_seq > 1 && from_seq > head.seq {
            return Err(Error::InvalidArgument(format!(
                "--from {from_seq} is past the head (seq {}): nothing to read there",
                head.seq
            )));
        }
        if let Some(to_seq) = to_seq.filter(|to| *to < from_seq) {
            return Err(Error::InvalidArgument(format!("--to {to_seq} is before --from {from_seq}")));
        }
        Ok(())
    }
    /// Checks records `from_seq..=to_seq` (hash, link, decodability, recorded checkpoints
    /// against the stored tree, the origin and key of `checks`); returns the head reached and
    /// the numbers of records and of recorded checkpoints checked.
    fn verify_range(
        &self,
        from_seq: u64,
        to_seq: u64,
        prev: Hash,
        (origin, key): (Option<&str>, Option<&VerifyingKey>),
        progress: &mut dyn FnMut(u64),
    ) -> Result<(Head, u64, u64)> {
        let (mut count, mut checkpoints) = (0, 0);
        let head = self.walk(from_seq, to_seq, prev, |seq, record| {
            let event = codec::decode_event(seq, record.event_bytes)?;
            if let EventBody::Checkpointed { size, .. } = &event.body {
                let root = merkle::subtree_root(self, 0, *size)?;
                schedule::check(&event, &schedule::Expected { seq, prev: record.prev, root, origin, key })?;
                checkpoints += 1;
            }
            count += 1;
            if count % 4096 == 0 {
                progress(seq);
            }
            Ok(())
        })?;
        Ok((head, count, checkpoints))
    }
    /// The stored Merkle tree's root at the head against the one computed from the log.
    pub(super) fn compare_tree(&self, head: Head, computed: Hash, mismatches: &mut Vec<Mismatch>) -> Result<()> {
        // A ledger from before the tree has none yet (its next writer open builds it).
        if !self.has_tree()? {
            return Ok(());
        }
        let covered = self.merkle_size()?;
        let stored = if covered < head.seq {
            format!("nodes for {covered} of {} records", head.seq)
        } else {
            match merkle::subtree_root(self, 0, head.seq) {
                Ok(root) if root == computed => return Ok(()),
                Ok(root) => hex::encode(root),
                Err(err) => err.to_string(),
            }
        };
        mismatches.push(Mismatch {
            account: None,
            field: "merkle root".into(),
            expected: hex::encode(computed),
            found: stored,
        });
        Ok(())
    }
    /// The stored read models against `state`.
    pub(super) fn compare_read_models(&self, state: &State, head: Head, events: u64) -> Result<ReplayReport> {
        let mut mismatches = Vec::new();
        let stored_policies = self.policies()?;
        if stored_policies != state.policy_versions() {
            mismatches.push(Mismatch {
                account: None,
                field: "policies".into(),
                expected: format!("{} version(s)", state.policy_versions().len()),
                found: format!("{} version(s)", stored_policies.len()),
            });
        }
        self.compare_protections(state, &mut mismatches)?;
        Ok(ReplayReport { events, head, mismatches })
    }
    /// Every key of a two-part index, checksums verified.
    pub(super) fn scan_index(&self, table: Table, each: &mut dyn FnMut(u64, u64)) -> std::result::Result<(), String> {
        let scanned = self.scan(table, &[], true, &mut |key, _| {
            let (high, low) =
                codec::split_index_key(key).ok_or_else(|| Error::ReadModel("a key of the wrong length".into()))?;
            each(high, low);
            Ok(true)
        });
        scanned.map_err(|err| match err {
            Error::Io(text) | Error::ReadModel(text) => text,
            other => other.to_string(),
        })
    }
    /// Copies the records of `source` up to `to_seq` verbatim into this new, empty store,
    /// checking each as it is read (gap-free sequence, hash, link), [`MIGRATE_BATCH_LEN`] records
    /// (and the head) per commit; returns the last record's head.
    pub(crate) fn copy_log_from(&self, source: &Store, to_seq: u64, progress: &mut dyn FnMut(u64)) -> Result<Head> {
        let mut staged = self.staged()?;
        let mut pending = 0;
        let mut last = Head { seq: 0, hash: GENESIS_PREV };
        let head = source.walk(1, to_seq, GENESIS_PREV, |seq, record| {
            let bytes =
                codec::Record { prev: record.prev, hash: record.hash, event_bytes: record.event_bytes.to_vec() };
            staged.put(Table::Log, &codec::seq_key(seq), &bytes.encode());
            last = Head { seq, hash: record.hash };
            pending += 1;
            if pending == MIGRATE_BATCH_LEN {
                staged.put(Table::Meta, META_HEAD, &codec::encode_head(last.seq, &last.hash));
                self.commit(std::mem::replace(&mut staged, self.staged()?), false)?;
                pending = 0;
                progress(seq);
            }
            Ok(())
        })?;
        staged.put(Table::Meta, META_HEAD, &codec::encode_head(last.seq, &last.hash));
        self.commit(staged, true)?;
        progress(head.seq);
        Ok(head)
    }
    /// Drops and rebuilds every read model and index from the log (see
    /// `Ledger::rebuild_read_models`), then replays again to prove them equal.
    pub(crate) fn rebuild_read_models(mut self, progress: &mut dyn FnMut(u64)) -> Result<ReplayReport> {
        // The layout says "rebuilding" before anything is dropped, until the last batch below
        // writes the layout again, so no open uses read models half rebuilt. (The log was
        // checked first by the caller: `Ledger::rebuild_read_models`; `migrate` checked every
        // record as it copied them.)
        let mut marked = self.staged()?;
        marked.put(Table::Meta, META_FORMAT, &[codec::LAYOUT_REBUILDING]);
        self.commit(marked, true)?;
        let dropped = match &mut self.engine {
            // Dropping a column family discards its files, damaged blocks included.
            Engine::Rocks(rocks) => {
                rocks.recreate_projected()?;
                true
            }
            Engine::Postgres(_) => false,
        };
        self.rebuild_derived(dropped, progress)
    }
    /// Rebuilds every read model and index from the log (the history, customer and account
    /// tables cleared first unless `dropped` already did), then replays to prove them equal.
    fn rebuild_derived(&self, dropped: bool, progress: &mut dyn FnMut(u64)) -> Result<ReplayReport> {
        let mut batch = self.staged()?;
        if !dropped {
            for table in [Table::History, Table::Customers, Table::Accounts] {
                batch.delete_prefix(table, &[]);
            }
        }
        for key in [META_POLICIES, META_PROTECTION_SETTINGS, META_SNAPSHOT] {
            batch.delete(Table::Meta, key);
        }
        batch.delete(Table::Meta, codec::META_MERKLE_SIZE);
        for prefix in [codec::PROTECTIONS_PREFIX, codec::PENDING_PREFIX, codec::RISK_PREFIX, codec::MERKLE_PREFIX] {
            batch.delete_prefix(Table::Meta, prefix);
        }
        self.commit(batch, true)?;
        self.rebuild_answered()?;
        let mut history = RebuildHistory { store: self, keys: Default::default(), staged: self.staged()? };
        let (state, head, _, _, _) = self.replay_log(progress, &mut history, None)?;
        self.commit(history.staged, false)?;
        let mut batch = self.staged()?;
        for account in state.accounts() {
            batch.put(Table::Accounts, &codec::account_key(account.id), &codec::encode_account(account)?);
            batch.put(Table::Customers, &codec::customer_key(account.customer, account.id), &[]);
        }
        batch.put(Table::Meta, META_POLICIES, &codec::encode_policies(state.policy_versions())?);
        batch.put(
            Table::Meta,
            META_PROTECTION_SETTINGS,
            &codec::encode_protection_settings(state.protection_versions())?,
        );
        for (id, protections) in state.all_protections() {
            batch.put(Table::Meta, &codec::protections_key(id), &codec::encode_protections(protections)?);
        }
        for reservation in state.reservations() {
            batch.put(Table::Meta, &codec::pending_key(reservation.id), &codec::encode_reservation(reservation)?);
        }
        for (counterparty, seq) in state.risk_list() {
            batch.put(Table::Meta, &codec::risk_key(counterparty), &seq.to_be_bytes());
        }
        batch.put(Table::Meta, META_PROJECTED, &head.seq.to_be_bytes());
        batch.put(Table::Meta, super::META_FORMAT, &[codec::LAYOUT_VERSION]);
        self.commit(batch, true)?;
        self.merkle_catch_up(head.seq)?;
        self.flush()?;
        self.replay(replay_accounts_max(crate::DEFAULT_CACHE_MIB), &mut |_| {}).map(|(_, report)| report)
    }
    /// The protection read models against the replayed state (each compared as a whole).
    fn compare_protections(&self, state: &State, mismatches: &mut Vec<Mismatch>) -> Result<()> {
        let mut expected: Vec<(AccountId, Protections)> =
            state.all_protections().map(|(id, p)| (id, p.clone())).collect();
        expected.sort_by_key(|(id, _)| *id);
        let found = self.all_protections()?;
        if found != expected {
            let first = expected.iter().zip(&found).find(|(a, b)| a != b).map(|(a, _)| a.0);
            mismatches.push(Mismatch {
                account: first,
                field: "protections".into(),
                expected: format!("{} account(s)", expected.len()),
                found: format!("{} account(s), differing", found.len()),
            });
        }
        let expected: Vec<&Reservation> = state.reservations().collect();
        let found = self.pending()?;
        if found.iter().ne(expected.iter().copied()) {
            mismatches.push(Mismatch {
                account: None,
                field: "pending".into(),
                expected: format!("{} pending outflow(s)", expected.len()),
                found: format!("{} pending outflow(s), differing", found.len()),
            });
        }
        let mut expected: Vec<(String, u64)> = state.risk_list().map(|(c, seq)| (c.to_owned(), seq)).collect();
        expected.sort_unstable();
        let found = self.risk_list()?;
        if found != expected {
            mismatches.push(Mismatch {
                account: None,
                field: "risk_list".into(),
                expected: format!("{} listed", expected.len()),
                found: format!("{} listed, differing", found.len()),
            });
        }
        if self.protection_settings()? != state.protection_versions() {
            mismatches.push(Mismatch {
                account: None,
                field: "protection_settings".into(),
                expected: format!("{} version(s)", state.protection_versions().len()),
                found: "different".into(),
            });
        }
        Ok(())
    }
    /// Writes records `from_seq..=to_seq` as JSON Lines (see docs/FORMAT.md), checking the chain
    /// as it goes. Returns the number of records written.
    pub(crate) fn export(&self, from_seq: u64, to_seq: Option<u64>, out: &mut dyn Write) -> Result<u64> {
        let from_seq = from_seq.max(1);
        self.check_from(from_seq, to_seq)?;
        let prev = if from_seq == 1 { GENESIS_PREV } else { self.record(from_seq - 1)?.hash };
        let mut written = 0;
        let io = |err: std::io::Error| Error::Io(format!("writing the export: {err}"));
        self.walk(from_seq, to_seq.unwrap_or(u64::MAX), prev, |seq, record| {
            let event = codec::decode_event(seq, record.event_bytes)?;
            let line = serde_json::json!({
                "seq": seq,
                "prev_hash": hex::encode(record.prev),
                "hash": hex::encode(record.hash),
                "event_hex": hex::encode(record.event_bytes),
                "event": event,
            });
            serde_json::to_writer(&mut *out, &line).map_err(|err| Error::Io(format!("writing the export: {err}")))?;
            out.write_all(b"\n").map_err(io)?;
            written += 1;
            Ok(())
        })?;
        out.flush().map_err(io)?;
        Ok(written)
    }
    /// A consistent copy of the ledger in `dir` (which must not exist), as of this store's head
    /// now (a writer may keep appending): the log's records copied verbatim (each checked as it
    /// is read), every read model, index, the Merkle tree and a snapshot rebuilt from the copy and
    /// replayed, then the copy marked a ledger with a head witness at the head it holds. Built in
    /// place and marked last: a backup that fails or is killed leaves no ledger at `dir`.
    ///
    /// A RocksDB checkpoint is not used: from a read-only view (`ledger-cli backup` next to a
    /// running writer) it copies the flushed tables only, without what the view read from the
    /// write-ahead log, each column family at its own flush.
    pub(crate) fn backup(&self, dir: &Path) -> Result<Head> {
        self.rocks("backup")?;
        if dir.symlink_metadata().is_ok() {
            return Err(Error::InvalidArgument(format!(
                "{} already exists; a backup goes into a new directory",
                dir.display()
            )));
        }
        let head = self.head()?;
        Store::create_unmarked(dir, Tuning::default(), |copy| {
            let copied = copy.copy_log_from(self, head.seq, &mut |_| {})?;
            if copied != head {
                return Err(Error::Corruption {
                    seq: copied.seq + 1,
                    detail: format!("the log ends at {} before its head {}", copied.to_text(), head.to_text()),
                });
            }
            self.copy_ledger_id_to(copy)?;
            let replay = copy.rebuild_derived(false, &mut |_| {})?;
            if let Some(first) = replay.mismatches.first() {
                return Err(Error::ReadModel(format!(
                    "the backup's rebuilt read models differ from its log: {first:?}"
                )));
            }
            Ok(head)
        })?;
        Ok(head)
    }
}

/// Writes the history index entries of each event applied while rebuilding.
struct RebuildHistory<'s> {
    store: &'s Store,
    keys: crate::project::Keys,
    staged: Staged<'s>,
}

impl Applier for RebuildHistory<'_> {
    fn event(&mut self, state: &State, seq: u64, event: &Event) -> Result<()> {
        self.keys.accounts.clear();
        self.keys.customers.clear();
        crate::project::dirty(state, event, &mut self.keys);
        for account in &self.keys.accounts {
            self.staged.put(Table::History, &codec::history_key(*account, seq), &[]);
        }
        if self.staged.len() >= REBUILD_BATCH_LEN {
            self.store.commit(std::mem::replace(&mut self.staged, self.store.staged()?), false)?;
        }
        Ok(())
    }
}

/// A row of the `accounts` table is the account its key names: a row under another account's key
/// (or a key of the wrong length) is a mismatch named by the key, and is compared as that account.
pub(super) fn check_account_key(key: &[u8], found: &mut Account, mismatches: &mut Vec<Mismatch>) {
    let keyed = <[u8; 8]>::try_from(key).map(|key| AccountId(u64::from_be_bytes(key))).ok();
    if keyed == Some(found.id) {
        return;
    }
    let account = keyed.unwrap_or(found.id);
    let key = keyed.map_or_else(|| format!("a key of {} bytes", key.len()), |id| id.0.to_string());
    mismatches.push(Mismatch {
        account: Some(account),
        field: "account key".into(),
        expected: "the id in its row".into(),
        found: format!("{key} holding the row of account {}", found.id.0),
    });
    found.id = account;
}

/// Each field of a replayed account (`expected`) that its stored read model (`found`) differs in.
pub(super) fn compare_accounts(expected: &Account, found: &Account, mismatches: &mut Vec<Mismatch>) {
    if expected == found {
        return;
    }
    let mut check = |field: &str, expected_text: String, found_text: String| {
        if expected_text != found_text {
            mismatches.push(Mismatch {
                account: Some(expected.id),
                field: field.into(),
                expected: expected_text,
                found: found_text,
            });
        }
    };
    check("balance", expected.balance.to_string(), found.balance.to_string());
    check("status", format!("{:?}", expected.status), format!("{:?}", found.status));
    check("customer", expected.customer.to_string(), found.customer.to_string());
    check("class", expected.class.to_string(), found.class.to_string());
    check("binding", format!("{:?}", expected.binding), format!("{:?}", found.binding));
    check("funded_from_bound", expected.funded_from_bound.to_string(), found.funded_from_bound.to_string());
    check("usage", format!("{:?}", expected.usage), format!("{:?}", found.usage));
    check("verified_in_person", expected.verified_in_person.to_string(), found.verified_in_person.to_string());
    check("with_card", expected.with_card.to_string(), found.with_card.to_string());
}
