//! The writer's account state, paged over the store (layout 4). The authoritative state of an
//! account is its read model (`accounts`, written behind the writer by the projector) once the
//! projector has passed its last change; until then the writer keeps it pinned in its cache.
//! Everything else of the state (policies, protections, reservations, the risk list) is read
//! from its read models at the head, which the writer stages in each batch's own write.
//!
//! Opening reads no account: the state at the head is those read models plus the accounts the
//! log tail `(projected, head]` touches, read from the account read models at `projected` and
//! brought to the head ([`ledger_core::apply_to_accounts`]). Before deciding a batch the writer
//! loads what [`State::wanted`] names, one batched read per round.

use ledger_core::{Command, CommandId, EventBody, StateParts};

use super::*;
use crate::project::{self, Job, Keys};

/// Rounds of [`Store::load_wanted`]: accounts named; a closing account's customer list and the
/// accounts of lists loaded; the accounts of the lists loaded in the second round.
const WANTED_ROUNDS_MAX: usize = 4;

impl Store {
    /// Everything of the state at `head` but its accounts: read models, no per-account work
    /// beyond the accounts that use protections and the pending reservations.
    fn state_parts(&self, head: Head) -> Result<StateParts> {
        let head_at = if head.seq == 0 { None } else { Some(self.event(head.seq)?.at) };
        Ok(StateParts {
            policies: self.policies()?,
            protection_settings: self.protection_settings()?,
            protections: self.all_protections()?,
            reservations: self.pending()?,
            risk_list: self.risk_list()?,
            head_at,
            event_count: head.seq,
        })
    }

    /// The paged state at the head (holding the accounts the log tail touched), and the
    /// projector's catch-up job for the tail `(projected, head]` (`to_seq` 0 when there is
    /// none). Writes nothing: a writer stages the job before it decides anything.
    pub(crate) fn open_paged(&self) -> Result<(State, Head, Job)> {
        let head = self.head()?;
        let projected = self.projected()?;
        let mut state = State::from_parts(self.state_parts(head)?);
        let start = if projected == 0 { Head::EMPTY.hash } else { self.record(projected)?.hash };
        let mut tail = Vec::new();
        let end = self.walk(projected + 1, u64::MAX, start, |seq, record| {
            tail.push((seq, codec::decode_event(seq, record.event_bytes)?));
            Ok(())
        })?;
        self.check_reaches_head(end)?;
        let mut job = Job::default();
        if tail.is_empty() {
            return Ok((state, head, job));
        }
        let mut touched = Vec::new();
        for (seq, event) in &tail {
            let mut keys = Keys::default();
            project::dirty(&state, event, &mut keys);
            if let EventBody::HoldConfirmed { id, .. } = &event.body
                && state.reservation(*id).is_none()
            {
                keys.accounts.push(self.reservation_account(*id, &tail)?);
            }
            for account in keys.accounts {
                job.history.push(codec::history_key(account, *seq));
                touched.push(account);
            }
            for (customer, account) in keys.customers {
                job.customers.push(codec::customer_key(customer, account));
            }
        }
        touched.sort_unstable();
        touched.dedup();
        let mut accounts: HashMap<AccountId, Account> = HashMap::new();
        let keys: Vec<Vec<u8>> = touched.iter().map(|id| codec::account_key(*id).to_vec()).collect();
        for bytes in self.get_many(Table::Accounts, &keys)?.into_iter().flatten() {
            let account = codec::decode_account(&bytes)?;
            accounts.insert(account.id, account);
        }
        for (seq, event) in &tail {
            let applied = ledger_core::apply_to_accounts(&mut accounts, event);
            applied.map_err(|err| Error::Corruption { seq: *seq, detail: err.to_string() })?;
        }
        job.history.sort_unstable();
        job.to_seq = head.seq;
        job.accounts = touched.iter().filter_map(|id| accounts.remove(id)).collect();
        for account in &job.accounts {
            state.load_account(account.id, Some(account.clone()));
        }
        Ok((state, head, job))
    }

    /// The account of reservation `id`, which the tail confirmed and then ended: its `Reserved`
    /// event is in the tail or is the first answer of `id`.
    fn reservation_account(&self, id: CommandId, tail: &[(u64, Event)]) -> Result<AccountId> {
        let reserved = |event: &Event| match &event.body {
            EventBody::Reserved { reservation, .. } if reservation.id == id => Some(reservation.account),
            _ => None,
        };
        if let Some(account) = tail.iter().find_map(|(_, event)| reserved(event)) {
            return Ok(account);
        }
        let seq = self.answered(id)?.ok_or_else(|| Error::ReadModel(format!("hold {id} was never answered")))?;
        reserved(&self.event(seq)?).ok_or_else(|| Error::Corruption { seq, detail: format!("{id} reserved nothing") })
    }

    /// Loads into the writer's `state` what deciding `commands` reads and it does not hold
    /// (`State::wanted`): accounts from their read models (one batched read per round), customer
    /// lists from the customer index. The writer pins every account changed since the projector's
    /// watermark, so what it does not hold is current in the store. Returns how many accounts
    /// and lists it read.
    pub(crate) fn load_wanted<'c>(
        &self,
        state: &mut State,
        commands: impl Iterator<Item = &'c Command> + Clone,
    ) -> Result<u64> {
        let mut loaded = 0;
        for _round in 0..WANTED_ROUNDS_MAX {
            let wanted = state.wanted(commands.clone());
            if wanted.is_empty() {
                return Ok(loaded);
            }
            loaded += (wanted.accounts.len() + wanted.customers.len()) as u64;
            let keys: Vec<Vec<u8>> = wanted.accounts.iter().map(|id| codec::account_key(*id).to_vec()).collect();
            for (id, found) in wanted.accounts.iter().zip(self.get_many(Table::Accounts, &keys)?) {
                state.load_account(*id, found.map(|bytes| codec::decode_account(&bytes)).transpose()?);
            }
            for (customer, list) in wanted.customers.iter().zip(self.customer_lists(&wanted.customers)?) {
                state.load_customer(*customer, list);
            }
        }
        let detail = format!("a batch still names accounts to load after {WANTED_ROUNDS_MAX} rounds");
        Err(Error::Corruption { seq: state.event_count(), detail })
    }

    /// The accounts of `customer` in its index, in id order.
    pub(crate) fn customer_account_ids(&self, customer: CustomerId) -> Result<Vec<AccountId>> {
        Ok(self.customer_lists(&[customer])?.pop().unwrap_or_default())
    }

    /// The accounts of each of `customers` in the customer index, each list in id order, in
    /// the order of `customers`: one read for all of them ([`Store::key_ranges`]: one query on
    /// PostgreSQL, one ordered walk per list on RocksDB), as a batch names them.
    pub(crate) fn customer_lists(&self, customers: &[CustomerId]) -> Result<Vec<Vec<AccountId>>> {
        let ranges: Vec<([u8; 16], [u8; 16])> = customers
            .iter()
            .map(|customer| {
                (codec::customer_key(*customer, AccountId(0)), codec::customer_key(*customer, AccountId(u64::MAX)))
            })
            .collect();
        let found = self.key_ranges(Table::Customers, &ranges)?;
        if found.len() != customers.len() {
            return Err(Error::ReadModel(format!(
                "{} customer lists read for {} customers",
                found.len(),
                customers.len()
            )));
        }
        customers
            .iter()
            .zip(found)
            .map(|(customer, keys)| {
                keys.iter()
                    .map(|key| match codec::split_index_key(key) {
                        Some((owner, account)) if owner == customer.0 => Ok(AccountId(account)),
                        _ => Err(Error::ReadModel(format!(
                            "customer index key {} in customer {}'s range is not one of its entries",
                            hex::encode(key),
                            customer.0
                        ))),
                    })
                    .collect()
            })
            .collect()
    }

    /// `state` (paged) made whole: every account and customer list it does not hold read in from
    /// the read models, plus the customer index entries `unprojected` of a tail not yet written.
    /// Proportional to the ledger: for checks (`live_state`, `snapshot_state`), never in the
    /// write path. In the writer's process, call it after the projector's wait.
    pub(crate) fn whole_state(&self, mut state: State, unprojected: &[[u8; 16]]) -> Result<State> {
        let mut lists: HashMap<CustomerId, Vec<AccountId>> = HashMap::default();
        let mut index_entry = |key: &[u8]| {
            let Some((owner, account)) = codec::split_index_key(key) else {
                return Err(Error::ReadModel("customer index key of the wrong length".into()));
            };
            lists.entry(CustomerId(owner)).or_default().push(AccountId(account));
            Ok(true)
        };
        self.scan(Table::Customers, &[], true, &mut |key, _| index_entry(key))?;
        for key in unprojected {
            index_entry(key)?;
        }
        let mut stored = Vec::new();
        self.scan(Table::Accounts, &[], true, &mut |_, value| {
            stored.push(codec::decode_account(value)?);
            Ok(true)
        })?;
        for account in stored {
            if state.account_held(account.id).is_none() {
                state.load_account(account.id, Some(account));
            }
        }
        for (customer, mut list) in lists {
            // In id order, as a state keeps it.
            list.sort_unstable();
            list.dedup();
            state.load_customer(customer, list);
        }
        state.unpage();
        Ok(state)
    }

    /// The state a fresh open loads, made whole ([`Store::whole_state`]); an older layout's from
    /// its snapshot and the log after it.
    pub(crate) fn opened_state(&self) -> Result<State> {
        if !codec::is_paged_layout(self.layout_version()?) {
            return self.load_state().map(|(state, _)| state);
        }
        let (state, _, job) = self.open_paged()?;
        self.whole_state(state, &job.customers)
    }
}
