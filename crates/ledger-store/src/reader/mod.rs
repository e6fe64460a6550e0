//! Read access to a ledger: queries, reports, verification, replay, export and backup. Every
//! [`Ledger`](crate::Ledger) derefs to a [`Reader`]; [`Reader::open`] opens one read-only.

use std::path::Path;
use std::sync::Arc;

use ledger_core::{
    Account, AccountClass, AccountId, Amount, BeijingDay, BucketUsage, CommandId, CustomerId, Event, InfoWanted,
    PolicyVersion, ProtectionSettings, Protections, ReportRules, ReportSink, Reporter, ReporterState, Reports,
    Reservation, State, Timestamp, in_force_at,
};

use crate::checkpoint::{
    CONSISTENCY_FORMAT, Checkpoint, CheckpointSource, ConsistencyProof, INCLUSION_FORMAT, InclusionProof, SigningKey,
    VerifyingKey,
};

use crate::clock::Clock;
use crate::codec::{self, GENESIS_PREV, Hash};
use crate::error::{Error, Result};
use crate::merkle;
use crate::schedule::RecordedCheckpoint;
use crate::store::{Head, HistoryPage, ReplayReport, Store, VerifyReport};

mod proofs;
mod spill;

pub use spill::ReportSpill;

/// Records a report decodes and pushes at a time: the accounts they name that its cache does not
/// hold are read in one batch.
const REPORT_CHUNK_RECORDS: usize = 4_096;

/// Records a search for a recorded checkpoint reads at most, each way
/// ([`Reader::latest_recorded_checkpoint`], [`Reader::nearest_recorded_sizes`]).
pub const RECORDED_CHECKPOINT_SEARCH_MAX: u64 = 100_000;

/// Use of one limit bucket: used today and this year, the caps of the policy in force, what
/// remains (amounts as decimal strings in JSON).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BucketReport {
    pub bucket: String,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub day_used: Amount,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub day_cap: Option<Amount>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub day_remaining: Option<Amount>,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub year_used: Amount,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub year_cap: Option<Amount>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub year_remaining: Option<Amount>,
}

/// Limit use of one account at a time, under the policy in force then.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsageReport {
    pub account: AccountId,
    pub class: AccountClass,
    pub at: Timestamp,
    pub policy: Option<String>,
    pub buckets: Vec<BucketReport>,
}

/// An account statement for a time range: the opening balance, every posting with its record's
/// sequence number and hash, and the closing balance (opening + credits − debits).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Statement {
    pub account: AccountId,
    /// The range: from `from` (inclusive) to `until` (exclusive).
    pub from: Timestamp,
    pub until: Timestamp,
    /// The balance just before `from` (zero when the account did not exist yet).
    pub opening: Amount,
    pub lines: Vec<StatementLine>,
    /// The balance at the end of the range: `balance_at(until - 1 ms)`.
    pub closing: Amount,
}

/// One posting on a statement.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct StatementLine {
    pub seq: u64,
    /// The record's hash (hex): the line can be proved against a checkpoint.
    pub hash: String,
    pub at: Timestamp,
    pub kind: ledger_core::PostingKind,
    /// Money into the account, or out of it (exactly one is non-zero).
    pub credit: Amount,
    pub debit: Amount,
    pub balance_after: Amount,
    pub counterparty: Option<String>,
    /// Who submitted the command (`None` in records of format 1, written before principals).
    pub principal: Option<ledger_core::Principal>,
}

/// Read access to a ledger: queries, verification, replay, export and backup. Every [`Ledger`]
/// derefs to one; [`Reader::open`] opens a ledger read-only (for auditors, and for queries while
/// another process runs it).
#[derive(Clone, Debug)]
pub struct Reader {
    pub(crate) store: Arc<Store>,
    pub(crate) clock: Arc<dyn Clock>,
    /// Memory a replay may hold accounts in, in MiB ([`Reader::with_cache_mib`]).
    pub(crate) cache_mib: usize,
}

impl Reader {
    /// Opens the ledger at `path` read-only: nothing is written and no lock is taken.
    pub fn open(path: impl AsRef<Path>, clock: Arc<dyn Clock>) -> Result<Reader> {
        Ok(Reader {
            store: Arc::new(Store::open_read_only(path.as_ref())?),
            clock,
            cache_mib: crate::DEFAULT_CACHE_MIB,
        })
    }

    /// This reader with replays holding at most `cache_mib` MiB of accounts in memory (default
    /// [`crate::DEFAULT_CACHE_MIB`]); the rest spill to a temporary store in `TMPDIR`.
    pub fn with_cache_mib(mut self, cache_mib: usize) -> Reader {
        self.cache_mib = cache_mib;
        self
    }

    /// The clock's time.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// The committed head: last sequence number and hash.
    pub fn head(&self) -> Result<Head> {
        self.store.head()
    }

    /// The sequence number of the first event that answered command `id`, if it was answered
    /// (from the store's answered-id table, which holds every id ever answered). A ledger of
    /// layout 1 or 2 has no table until a writer's open converts it: `None` there.
    pub fn answered(&self, id: CommandId) -> Result<Option<u64>> {
        self.store.answered_if_layout_3(id)
    }

    /// An account as of the last commit.
    pub fn account(&self, account: AccountId) -> Result<Option<Account>> {
        self.store.account(account)
    }

    /// An account's balance as of the last commit.
    pub fn balance(&self, account: AccountId) -> Result<Option<Amount>> {
        Ok(self.account(account)?.map(|account| account.balance))
    }

    /// An account's protections (locks, personal limits, night lock, reserved funds) as of the
    /// last commit; `None` if it never used one.
    pub fn protections(&self, account: AccountId) -> Result<Option<Protections>> {
        self.store.protections(account)
    }

    /// Funds of `account` free to move: the balance less what holds and delayed transfers reserve.
    pub fn available(&self, account: AccountId) -> Result<Option<Amount>> {
        let Some(found) = self.account(account)? else { return Ok(None) };
        let reserved = self.protections(account)?.map_or(Amount::ZERO, |p| p.reserved);
        Ok(Some(found.balance.checked_sub(reserved).unwrap_or(Amount::ZERO)))
    }

    /// Pending outflows (held for verification or scheduled), of one account or of all, by
    /// command id.
    pub fn pending(&self, account: Option<AccountId>) -> Result<Vec<Reservation>> {
        let all = self.store.pending()?;
        Ok(all.into_iter().filter(|r| account.is_none_or(|account| r.account == account)).collect())
    }

    /// Every counterparty on the risk list, with the seq that listed it, by name.
    pub fn risk_list(&self) -> Result<Vec<(String, u64)>> {
        self.store.risk_list()
    }

    /// The sequence number of the event that risk-listed `counterparty`, if it is listed now.
    pub fn risk_listed(&self, counterparty: &str) -> Result<Option<u64>> {
        self.store.risk_listed(counterparty)
    }

    /// The protection settings in force at `at` (defaults before any version).
    pub fn protection_settings_at(&self, at: Timestamp) -> Result<ProtectionSettings> {
        let versions = self.store.protection_settings()?;
        Ok(in_force_at(&versions, at, |(from, _)| *from).map(|(_, settings)| settings.clone()).unwrap_or_default())
    }

    /// The policy in force at `at` (none before the genesis policy).
    pub fn policy_at(&self, at: Timestamp) -> Result<Option<ledger_core::Policy>> {
        Ok(PolicyVersion::in_force(&self.store.policies()?, at).cloned())
    }

    /// The accounts of a customer, open and closed, by account number.
    pub fn customer_accounts(&self, customer: CustomerId) -> Result<Vec<Account>> {
        self.store.customer_accounts(customer)
    }

    /// Limit use and what remains, now (by the clock).
    pub fn usage(&self, account: AccountId) -> Result<Option<UsageReport>> {
        self.usage_at(account, self.now())
    }

    /// Limit use and what remains at `at`, under the policy in force at `at`.
    /// A time before the account's latest event reads the use recorded by its events up to
    /// `at` (the read model holds only the latest); `None` when the account was not open by then.
    pub fn usage_at(&self, account: AccountId, at: Timestamp) -> Result<Option<UsageReport>> {
        let Some(mut found) = self.account(account)? else { return Ok(None) };
        let later = at.plus_millis(1).ok().map(|next| self.store.history(account, Some(next), None, None, 1));
        if later.transpose()?.is_none_or(|page| !page.entries.is_empty()) {
            let Some(then) = self.usage_recorded_by(account, at)? else { return Ok(None) };
            found.usage = then;
        }
        let versions = self.store.policies()?;
        let policy = PolicyVersion::in_force(&versions, at);
        let (day, year) = (at.beijing_day(), at.beijing_year());
        let buckets = policy
            .map(|policy| {
                policy
                    .rules(found.class)
                    .buckets
                    .iter()
                    .map(|bucket| {
                        let (day_used, year_used) = found
                            .bucket_usage(&bucket.name)
                            .map_or((Amount::ZERO, Amount::ZERO), |usage| usage.used_at(day, year));
                        BucketReport {
                            bucket: bucket.name.clone(),
                            day_used,
                            day_cap: bucket.day_cap,
                            day_remaining: bucket.day_cap.map(|cap| cap.saturating_sub(day_used)),
                            year_used,
                            year_cap: bucket.year_cap,
                            year_remaining: bucket.year_cap.map(|cap| cap.saturating_sub(year_used)),
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(Some(UsageReport {
            account,
            class: found.class,
            at,
            policy: policy.map(|policy| policy.name.clone()),
            buckets,
        }))
    }

    /// The limit use of `account` after every event dated at or before `at`; `None` when the
    /// account had not been opened by then.
    fn usage_recorded_by(&self, account: AccountId, at: Timestamp) -> Result<Option<Vec<BucketUsage>>> {
        let mut usage: Option<Vec<BucketUsage>> = None;
        self.each_history(account, None, Some(at), |_, event| {
            // The account's first event is its opening: from there on it has a (maybe empty) use.
            let known = usage.get_or_insert_with(Vec::new);
            for after in event.usage_after(account).unwrap_or_default() {
                match known.iter_mut().find(|usage| usage.bucket == after.bucket) {
                    Some(usage) => *usage = after.clone(),
                    None => known.push(after.clone()),
                }
            }
            Ok(())
        })?;
        Ok(usage)
    }

    /// One page of the events that touched `account`, oldest first, optionally within a time
    /// range; pass the page's `next_after_seq` back as `after_seq` for the next page.
    pub fn history(
        &self,
        account: AccountId,
        from: Option<Timestamp>,
        to: Option<Timestamp>,
        after_seq: Option<u64>,
        limit: usize,
    ) -> Result<HistoryPage> {
        if limit == 0 {
            return Err(Error::InvalidArgument("history limit must be at least 1".into()));
        }
        self.store.history(account, from, to, after_seq, limit)
    }

    /// The event at `seq`, its hash and link checked.
    pub fn event(&self, seq: u64) -> Result<Event> {
        self.store.event(seq)
    }

    /// Walks the hash chain from `from_seq` (1 = genesis) to the head; see [`VerifyReport`].
    pub fn verify(&self, from_seq: u64, expect_head: Option<Head>) -> Result<VerifyReport> {
        self.store.verify(from_seq, expect_head, None, &mut |_| {})
    }

    /// [`Reader::verify`], calling `progress` with each sequence number checked.
    pub fn verify_with_progress(
        &self,
        from_seq: u64,
        expect_head: Option<Head>,
        progress: &mut dyn FnMut(u64),
    ) -> Result<VerifyReport> {
        self.store.verify(from_seq, expect_head, None, progress)
    }

    /// [`Reader::verify_with_progress`] that also requires every recorded checkpoint's note to
    /// carry the signature of `key`, the ledger's checkpoint key (`None`: as `verify`).
    pub fn verify_signed(
        &self,
        from_seq: u64,
        expect_head: Option<Head>,
        key: Option<&VerifyingKey>,
        progress: &mut dyn FnMut(u64),
    ) -> Result<VerifyReport> {
        self.store.verify(from_seq, expect_head, key, progress)
    }

    /// Rebuilds the state from genesis and compares it with the stored read models, holding at
    /// most the reader's cache of accounts in memory ([`Reader::with_cache_mib`]).
    pub fn replay(&self) -> Result<ReplayReport> {
        self.replay_with_progress(&mut |_| {}).map(|(_, report)| report)
    }

    /// [`Reader::replay`], also returning the replayed state and calling `progress` with the
    /// last sequence number applied. The state is whole when every account fitted in the cache;
    /// else (`State::is_paged`) it holds everything but the accounts, and the accounts that
    /// [`Reader::opened_view`] holds, as replayed: compare it with that.
    pub fn replay_with_progress(&self, progress: &mut dyn FnMut(u64)) -> Result<(State, ReplayReport)> {
        self.store.replay(crate::store::replay_accounts_max(self.cache_mib), progress)
    }

    /// The state rebuilt from genesis, ignoring snapshots, whole whatever the cache:
    /// proportional to the ledger, for checks.
    pub fn replayed_state(&self) -> Result<State> {
        self.store.replay(usize::MAX, &mut |_| {}).map(|(state, _)| state)
    }

    /// The state a fresh open loads, as a paged view: everything but the accounts from the read
    /// models at the head, and the accounts the log tail the projector had not reached touched
    /// (layout 4; reads no other account). With a replay's accounts comparison at
    /// `meta/projected`, comparing it with a paged replayed state compares the whole state.
    pub fn opened_view(&self) -> Result<State> {
        self.store.open_paged().map(|(state, _, _)| state)
    }

    /// The state a fresh open would load (layout 4: the read models at the head and the log
    /// tail the projector had not reached; older layouts: the snapshot and the log after it),
    /// with every account read in: proportional to the ledger, for checks.
    pub fn snapshot_state(&self) -> Result<State> {
        self.store.opened_state()
    }

    /// Writes the events `from_seq..=to_seq` as JSON Lines (docs/FORMAT.md).
    pub fn export(&self, from_seq: u64, to_seq: Option<u64>, out: &mut dyn std::io::Write) -> Result<u64> {
        self.store.export(from_seq, to_seq, out)
    }

    /// The balance of `account` at `at`: after every event dated at or before it. `None` when
    /// the account had not been opened by then.
    pub fn balance_at(&self, account: AccountId, at: Timestamp) -> Result<Option<Amount>> {
        let mut balance = None;
        self.each_history(account, None, Some(at), |_, event| {
            if let Some(after) = event.balance_after(account) {
                balance = Some(after);
            }
            Ok(())
        })?;
        Ok(balance)
    }

    /// The statement of `account` from `from` (inclusive) to `until` (exclusive). `None` when
    /// the account had not been opened before `until`.
    pub fn statement(&self, account: AccountId, from: Timestamp, until: Timestamp) -> Result<Option<Statement>> {
        if until <= from {
            return Err(Error::InvalidArgument(format!(
                "the statement's range ends ({until}) before it starts ({from})"
            )));
        }
        let before_from = from.plus_millis(-1)?;
        let last = until.plus_millis(-1)?;
        let mut opening = None;
        let mut lines = Vec::new();
        let mut opened = false;
        self.each_history(account, None, Some(last), |seq, event| {
            opened |= matches!(event.body, ledger_core::EventBody::AccountOpened { .. });
            let Some(after) = event.balance_after(account) else { return Ok(()) };
            if event.at <= before_from {
                opening = Some(after);
                return Ok(());
            }
            let Some(posting) = event.posting() else { return Ok(()) };
            let into = posting.credit.as_ref().is_some_and(|leg| leg.account == account);
            let (credit, debit) = if into { (posting.amount, Amount::ZERO) } else { (Amount::ZERO, posting.amount) };
            lines.push(StatementLine {
                seq,
                hash: hex::encode(self.store.record(seq)?.hash),
                at: event.at,
                kind: posting.kind,
                credit,
                debit,
                balance_after: after,
                counterparty: posting.counterparty.clone(),
                principal: event.principal.clone(),
            });
            Ok(())
        })?;
        if !opened {
            return Ok(None);
        }
        let opening = opening.unwrap_or(Amount::ZERO);
        let closing = lines.last().map_or(opening, |line| line.balance_after);
        // Invariant: the lines reconcile (each balance is the one before, plus or minus the line).
        let mut running = opening;
        for line in &lines {
            running = running
                .checked_add(line.credit)
                .and_then(|sum| sum.checked_sub(line.debit))
                .filter(|sum| *sum == line.balance_after)
                .ok_or_else(|| Error::Corruption {
                    seq: line.seq,
                    detail: format!("statement of account {account}: the balance after this posting does not follow"),
                })?;
        }
        Ok(Some(Statement { account, from, until, opening, lines, closing }))
    }

    /// The regulatory reports (docs/COMMANDS.md, `report`) over the Beijing days `from..=to`,
    /// walking the log from genesis (checking every hash and link) to the end of `to`.
    /// `progress` is called with the sequence number reached, every 65,536 records.
    pub fn reports(
        &self,
        rules: ReportRules,
        from: BeijingDay,
        to: BeijingDay,
        progress: &mut dyn FnMut(u64),
    ) -> Result<Reports> {
        self.reports_resuming(rules, from, to, None, progress).map(|(reports, _)| reports)
    }

    /// As [`reports`](Reader::reports), resuming from `start` (a reporter's state at the start
    /// of a day, e.g. from the report cache) when it starts at or before `from`, else from
    /// genesis; the lines are the same. Returns with them the state at the start of the first
    /// day after `to` that has records (`None` when the log ends before such a day), for the
    /// next report. A `start` whose last record is not this log's is refused.
    pub fn reports_resuming(
        &self,
        rules: ReportRules,
        from: BeijingDay,
        to: BeijingDay,
        start: Option<ReporterState>,
        progress: &mut dyn FnMut(u64),
    ) -> Result<(Reports, Option<ReporterState>)> {
        let mut reports = Reports::empty(&rules.name, from, to);
        let next = self.reports_into(rules, from, to, start, &mut reports, progress)?;
        Ok((reports, next))
    }

    /// As [`reports_resuming`](Reader::reports_resuming), handing each line to `sink` as soon
    /// as it is known instead of returning them: the walk holds no line (a day's large-value
    /// groups are held until the day ends, up to a bound past which they are written out to a
    /// temporary file in `TMPDIR` as sorted runs; then the records of those that reached their
    /// threshold are re-read). Per kind, `sink`
    /// sees the lines in the order `reports_resuming` lists them.
    pub fn reports_into(
        &self,
        rules: ReportRules,
        from: BeijingDay,
        to: BeijingDay,
        start: Option<ReporterState>,
        sink: &mut dyn ReportSink,
        progress: &mut dyn FnMut(u64),
    ) -> Result<Option<ReporterState>> {
        if to < from {
            return Err(Error::InvalidArgument(format!("the report's range ends ({to}) before it starts ({from})")));
        }
        let (mut reporter, first, prev) = match start.filter(|state| state.next_day <= from) {
            Some(state) => {
                let (seq, hash) = state.last.unwrap_or((0, GENESIS_PREV));
                let head = self.head()?.seq;
                if seq > head {
                    return Err(Error::InvalidArgument(format!(
                        "the report cache ends at record {seq}, which this log (head {head}) does not hold: a cache of another ledger?"
                    )));
                }
                if seq > 0 && self.store.record(seq)?.hash != hash {
                    return Err(Error::InvalidArgument(format!(
                        "the report cache ends at record {seq}, whose hash in this log differs: a cache of another ledger?"
                    )));
                }
                (Reporter::resume(rules, from, to, state), seq + 1, hash)
            }
            None => (Reporter::new(rules, from, to), 1, GENESIS_PREV),
        };
        // Accounts the log opened after the read models were last written are learned from
        // their records (the reporter holds owners and classes only as a bounded cache).
        let stored_to = self.store.projected()?;
        reporter.accounts_stored_to(stored_to);
        if stored_to + 1 < first {
            // A resumed state's last record is past them: the accounts opened in between.
            let from = if stored_to == 0 { GENESIS_PREV } else { self.store.record(stored_to)?.hash };
            self.store.walk(stored_to + 1, first - 1, from, |seq, record| {
                reporter.opened_before_resume(seq, &codec::decode_event(seq, record.event_bytes)?);
                Ok(())
            })?;
        }
        let mut lookup = |wanted: &[InfoWanted]| self.store.account_infos(wanted);
        let mut reread = |seq| {
            let record = self.store.record(seq)?;
            Ok::<_, Error>((codec::decode_event(seq, &record.event_bytes)?, record.hash))
        };
        // A day's large-value groups past the reporter's bound, until the day ends.
        let mut spill = ReportSpill::new();
        let mut chunk: Vec<(u64, Hash, Event)> = Vec::with_capacity(REPORT_CHUNK_RECORDS);
        let mut after_to = None;
        self.store.walk_while(first, u64::MAX, prev, |seq, record| {
            let event = codec::decode_event(seq, record.event_bytes)?;
            let day = event.at.beijing_day();
            if day > to {
                // Later records change no line.
                after_to = Some(day);
                return Ok(false);
            }
            chunk.push((seq, record.hash, event));
            if chunk.len() == REPORT_CHUNK_RECORDS {
                reporter.push_records(&chunk, &mut lookup, &mut reread, &mut spill, sink)?;
                chunk.clear();
            }
            if seq % 65_536 == 0 {
                progress(seq);
            }
            Ok(true)
        })?;
        reporter.push_records(&chunk, &mut lookup, &mut reread, &mut spill, sink)?;
        drop(chunk);
        // The state before the first record after `to` is where a report from its day on can start.
        let next = after_to.and_then(|day| reporter.state(day));
        reporter.finish(&mut lookup, &mut reread, &mut spill, sink)?;
        Ok(next)
    }

    /// Calls `visit` on every event that touched `account` in the time range, oldest first.
    fn each_history(
        &self,
        account: AccountId,
        from: Option<Timestamp>,
        to: Option<Timestamp>,
        mut visit: impl FnMut(u64, &Event) -> Result<()>,
    ) -> Result<()> {
        let mut after = None;
        loop {
            let page = self.store.history(account, from, to, after, 1_024)?;
            for (seq, event) in &page.entries {
                visit(*seq, event)?;
            }
            match page.next_after_seq {
                Some(next) => after = Some(next),
                None => return Ok(()),
            }
        }
    }

    /// A consistent online copy of the ledger in `dir` (which must not exist yet), as of the head
    /// it returns; a running writer may keep appending meanwhile. The copy's read models are
    /// rebuilt from its log; a backup that fails or is killed leaves no ledger at `dir`.
    pub fn backup(&self, dir: impl AsRef<Path>) -> Result<Head> {
        self.store.backup(dir.as_ref())
    }
}
