//! Writing the projected keys (history and customer indexes, account read models,
//! `meta/projected`): the projector's jobs and a writer's catch-up at open, on either engine.

use super::*;

impl Store {
    /// A projector job and the new `meta/projected`, staged as one write.
    pub(crate) fn stage_projection(&self, job: &crate::project::Job) -> Result<Staged<'_>> {
        let mut staged = self.staged()?;
        for key in &job.customers {
            staged.put(Table::Customers, key, &[]);
        }
        for key in &job.history {
            staged.put(Table::History, key, &[]);
        }
        for account in &job.accounts {
            staged.put(Table::Accounts, &codec::account_key(account.id), &codec::encode_account(account)?);
        }
        staged.put(Table::Meta, META_PROJECTED, &job.to_seq.to_be_bytes());
        Ok(staged)
    }
    /// For a writer: the paged state at the head (`store/paged.rs`), after projecting what the
    /// projector had not (`(projected, head]`, left by a crash) and converting an older layout.
    /// The projector must be idle (at open, or drained).
    pub(crate) fn load_state_projected(&self) -> Result<(State, Head)> {
        let layout = self.layout_version()?;
        if layout == codec::LAYOUT_VERSION_ONE_DATABASE {
            // Layout 5 moves keys on RocksDB only, done as the store opened (`rocks/pair.rs`).
            let mut staged = self.staged()?;
            staged.put(Table::Meta, META_FORMAT, &[codec::LAYOUT_VERSION]);
            self.commit(staged, true)?;
        } else if layout != codec::LAYOUT_VERSION {
            self.convert_to_paged()?;
        }
        // The mark and the rows the tail after it touches, read at one moment (PostgreSQL: an
        // earlier writer's projector may be committing beside this open).
        let (projected, (state, head, job)) = self.in_snapshot(|| Ok((self.projected()?, self.open_paged()?)))?;
        if job.to_seq != 0 {
            self.commit_projection(self.stage_projection(&job)?, projected, true)?;
        }
        self.projection.reset(head.seq)?;
        Ok((state, head))
    }
    /// Runs `read` on one snapshot of the store: PostgreSQL's [`pg::Pg::in_snapshot`]; RocksDB's
    /// reads need nothing (one process writes, and its projector is idle when this is called).
    fn in_snapshot<T>(&self, read: impl FnOnce() -> Result<T>) -> Result<T> {
        match &self.engine {
            Engine::Postgres(pg) => pg.in_snapshot(read),
            Engine::Rocks(_) => read(),
        }
    }
    /// Brings a layout 1-3 ledger to layout 4 once: the state loaded whole the old way (snapshot
    /// and tail, or the log), its account read models and indexes projected to the head, every
    /// other read model written from it, the answered-id table built (layouts 1 and 2), and the
    /// snapshot deleted (layout 4 keeps none).
    fn convert_to_paged(&self) -> Result<()> {
        let layout = self.layout_version()?;
        let projected = self.projected()?;
        let mut job = crate::project::Job::default();
        let mut touched = Vec::new();
        let mut collect = |state: &State, seq: u64, event: &ledger_core::Event| {
            if seq > projected {
                let mut keys = crate::project::Keys::default();
                crate::project::dirty(state, event, &mut keys);
                for account in keys.accounts {
                    job.history.push(codec::history_key(account, seq));
                    touched.push(account);
                }
                for (customer, account) in keys.customers {
                    job.customers.push(codec::customer_key(customer, account));
                }
            }
        };
        let (state, head) = self.load_state_then(projected, &mut collect)?;
        if layout < codec::LAYOUT_VERSION_ANSWERS_ON_DISK {
            self.rebuild_answered()?;
        }
        job.history.sort_unstable();
        job.accounts = crate::project::accounts_of(&state, touched);
        job.to_seq = head.seq;
        let mut staged = self.stage_projection(&job)?;
        for prefix in [codec::PROTECTIONS_PREFIX, codec::PENDING_PREFIX, codec::RISK_PREFIX] {
            staged.delete_prefix(Table::Meta, prefix);
        }
        staged.put(Table::Meta, META_POLICIES, &codec::encode_policies(state.policy_versions())?);
        staged.put(
            Table::Meta,
            META_PROTECTION_SETTINGS,
            &codec::encode_protection_settings(state.protection_versions())?,
        );
        for (account, protections) in state.all_protections() {
            staged.put(Table::Meta, &codec::protections_key(account), &codec::encode_protections(protections)?);
        }
        for reservation in state.reservations() {
            staged.put(Table::Meta, &codec::pending_key(reservation.id), &codec::encode_reservation(reservation)?);
        }
        for (counterparty, seq) in state.risk_list() {
            staged.put(Table::Meta, &codec::risk_key(counterparty), &seq.to_be_bytes());
        }
        staged.delete(Table::Meta, META_SNAPSHOT);
        staged.put(Table::Meta, META_FORMAT, &[codec::LAYOUT_VERSION]);
        self.commit(staged, true)
    }
    /// Commits a projection of the log's `(from_seq, meta/projected]` staged by
    /// [`Store::stage_projection`]. RocksDB: one write like any other (with `sync`, durable
    /// first). PostgreSQL: in the projector's own session, ordered by `meta/projected` instead of
    /// the epoch (`Pg::commit_projection`: the cases it refuses).
    pub(crate) fn commit_projection(&self, staged: Staged<'_>, from_seq: u64, sync: bool) -> Result<()> {
        match (&self.engine, staged.inner) {
            (Engine::Postgres(pg), StagedIn::Ops(ops)) => pg.commit_projection(ops, from_seq),
            (_, inner) => self.commit(Staged { inner }, sync),
        }
    }
    /// Makes what the projector wrote durable: on RocksDB the projected keys' write-ahead log
    /// synced (their own, not the log's: layout 5); on PostgreSQL each commit already is.
    pub(crate) fn sync_projection(&self) -> Result<()> {
        match &self.engine {
            Engine::Rocks(rocks) => rocks.sync_projected(),
            Engine::Postgres(_) => Ok(()),
        }
    }
    /// Closes the projector's PostgreSQL session (the projector thread, as it ends: a
    /// `postgres` client must not be dropped on an async runtime's thread, where the handle may
    /// be dropped last).
    pub(crate) fn end_projection_session(&self) {
        if let Engine::Postgres(pg) = &self.engine {
            pg.end_projection_session();
        }
    }
}
