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
    /// For a writer: loads the state, and first projects what the projector had not
    /// (`(projected, head]`, left by a crash) and brings a layout-1 ledger to layout 2. The
    /// projector must be idle (at open, or drained).
    pub(crate) fn load_state_projected(&self) -> Result<(State, Head)> {
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
        if head.seq != projected || self.layout_version()? != codec::LAYOUT_VERSION {
            job.history.sort_unstable();
            job.accounts = crate::project::accounts_of(&state, touched);
            job.to_seq = head.seq;
            let mut staged = self.stage_projection(&job)?;
            staged.put(Table::Meta, META_FORMAT, &[codec::LAYOUT_VERSION]);
            self.commit_projection(staged, projected, true)?;
        }
        self.projection.reset(head.seq)?;
        Ok((state, head))
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
    /// Closes the projector's PostgreSQL session (the projector thread, as it ends: a
    /// `postgres` client must not be dropped on an async runtime's thread, where the handle may
    /// be dropped last).
    pub(crate) fn end_projection_session(&self) {
        if let Engine::Postgres(pg) = &self.engine {
            pg.end_projection_session();
        }
    }
}
