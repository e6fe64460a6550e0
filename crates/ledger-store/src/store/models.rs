//! Reading the read models: accounts, protections, pending outflows, the risk list, versions,
//! the customer and history indexes.

use ledger_core::{AccountInfo, InfoWanted};

use super::*;

impl Store {
    /// Account read models and the history and customer indexes are written behind the writer:
    /// in the writer's process, every read of them first waits for what was acknowledged before
    /// it (`project::Watermark`).
    pub(crate) fn account(&self, account: AccountId) -> Result<Option<Account>> {
        self.projection.wait()?;
        self.get(Table::Accounts, &codec::account_key(account))?.map(|b| codec::decode_account(&b)).transpose()
    }
    /// What a reporter asks of accounts (`ledger_core::InfoWanted`): owner and class from the
    /// account read models (one batched read), and where asked the record that opened it (the
    /// account's first history index entry: its opening, as no earlier event touches it).
    /// Reads as they stand, without the writer process's wait: the reporter keeps what the
    /// log tail after `meta/projected` opens, and the read models, the history index and
    /// `meta/projected` are written together.
    pub(crate) fn account_infos(&self, wanted: &[InfoWanted]) -> Result<Vec<Option<AccountInfo>>> {
        let keys: Vec<[u8; 8]> = wanted.iter().map(|wanted| codec::account_key(wanted.account)).collect();
        let found = self.get_many(Table::Accounts, &keys)?;
        let mut infos = Vec::with_capacity(wanted.len());
        for (wanted, bytes) in wanted.iter().zip(found) {
            let Some(bytes) = bytes else {
                infos.push(None);
                continue;
            };
            let account = codec::decode_account(&bytes)?;
            let opened = if wanted.opening { self.first_history_seq(wanted.account)? } else { None };
            infos.push(Some(AccountInfo { customer: account.customer, class: account.class, opened }));
        }
        Ok(infos)
    }
    /// The sequence number of the first event in `account`'s history index.
    fn first_history_seq(&self, account: AccountId) -> Result<Option<u64>> {
        let mut first = None;
        self.scan(Table::History, &codec::history_key(account, 0), true, &mut |key, _| {
            let Some((owner, seq)) = codec::split_index_key(key) else {
                return Err(Error::ReadModel("history index key of the wrong length".into()));
            };
            first = (owner == account.0).then_some(seq);
            Ok(false)
        })?;
        Ok(first)
    }
    pub(crate) fn protections(&self, account: AccountId) -> Result<Option<Protections>> {
        self.get(Table::Meta, &codec::protections_key(account))?.map(|b| codec::decode_protections(&b)).transpose()
    }
    /// Every meta entry under `prefix`, in key order.
    fn meta_prefix(&self, prefix: &[u8], mut each: impl FnMut(&[u8], &[u8]) -> Result<()>) -> Result<()> {
        self.scan(Table::Meta, prefix, true, &mut |key, value| {
            let Some(rest) = key.strip_prefix(prefix) else { return Ok(false) };
            each(rest, value)?;
            Ok(true)
        })
    }
    pub(crate) fn pending(&self) -> Result<Vec<Reservation>> {
        let mut all = Vec::new();
        self.meta_prefix(codec::PENDING_PREFIX, |_, value| {
            all.push(codec::decode_reservation(value)?);
            Ok(())
        })?;
        Ok(all)
    }
    pub(crate) fn all_protections(&self) -> Result<Vec<(AccountId, Protections)>> {
        let mut all = Vec::new();
        self.meta_prefix(codec::PROTECTIONS_PREFIX, |key, value| {
            let id: [u8; 8] =
                key.try_into().map_err(|_| Error::ReadModel("protections key of the wrong length".into()))?;
            all.push((AccountId(u64::from_be_bytes(id)), codec::decode_protections(value)?));
            Ok(())
        })?;
        Ok(all)
    }
    pub(crate) fn risk_list(&self) -> Result<Vec<(String, u64)>> {
        let mut all = Vec::new();
        self.meta_prefix(codec::RISK_PREFIX, |key, value| {
            let counterparty =
                String::from_utf8(key.to_vec()).map_err(|_| Error::ReadModel("risk-list key is not UTF-8".into()))?;
            all.push((counterparty, codec::decode_risk_seq(value)?));
            Ok(())
        })?;
        Ok(all)
    }
    pub(crate) fn risk_listed(&self, counterparty: &str) -> Result<Option<u64>> {
        self.get(Table::Meta, &codec::risk_key(counterparty))?.map(|b| codec::decode_risk_seq(&b)).transpose()
    }
    pub(crate) fn protection_settings(&self) -> Result<Vec<(Timestamp, ProtectionSettings)>> {
        match self.get(Table::Meta, META_PROTECTION_SETTINGS)? {
            None => Ok(Vec::new()),
            Some(bytes) => codec::decode_protection_settings(&bytes),
        }
    }
    pub(crate) fn policies(&self) -> Result<Vec<PolicyVersion>> {
        match self.get(Table::Meta, META_POLICIES)? {
            None => Ok(Vec::new()),
            Some(bytes) => codec::decode_policies(&bytes),
        }
    }
    pub(crate) fn customer_accounts(&self, customer: CustomerId) -> Result<Vec<Account>> {
        self.projection.wait()?;
        let ids = self.customer_account_ids(customer)?;
        let mut accounts = Vec::with_capacity(ids.len());
        for account in ids {
            let found = self.account(account)?;
            accounts.push(found.ok_or_else(|| Error::ReadModel(format!("indexed account {account} is missing")))?);
        }
        Ok(accounts)
    }
    pub(crate) fn history(
        &self,
        account: AccountId,
        from: Option<Timestamp>,
        to: Option<Timestamp>,
        after_seq: Option<u64>,
        limit: usize,
    ) -> Result<HistoryPage> {
        self.projection.wait()?;
        let start = codec::history_key(account, after_seq.map_or(0, |seq| seq.saturating_add(1)));
        let mut entries = Vec::new();
        let mut next_after_seq = None;
        self.scan(Table::History, &start, true, &mut |key, _| {
            let Some((owner, seq)) = codec::split_index_key(key) else {
                return Err(Error::ReadModel("history index key of the wrong length".into()));
            };
            if owner != account.0 {
                return Ok(false);
            }
            let event = self.event(seq)?;
            if from.is_some_and(|from| event.at < from) {
                return Ok(true);
            }
            // Times never decrease along the log: past `to`, nothing later can match.
            if to.is_some_and(|to| event.at > to) {
                return Ok(false);
            }
            if entries.len() == limit {
                next_after_seq = entries.last().map(|(seq, _): &(u64, Event)| *seq);
                return Ok(false);
            }
            entries.push((seq, event));
            Ok(true)
        })?;
        Ok(HistoryPage { entries, next_after_seq })
    }
}
