//! Regulatory reports from the log: the thresholds (policy data citing their sources) and the
//! aggregation that turns the events, in log order, into report lines. Each line cites the
//! record (sequence number and hash) it comes from. Pure: the store walks the log and feeds
//! [`Reporter::push_records`], which hands each line to a [`ReportSink`] as soon as it is known
//! (never holding the lines); days are Beijing natural days (docs/RULES.md).

use std::collections::{BTreeMap, HashMap, VecDeque};

use crate::command::CommandBody;
use crate::event::{Event, EventBody};
use crate::ids::{AccountClass, AccountId, CustomerId};
use crate::money::Amount;
use crate::posting::{Leg, Posting, PostingKind};
use crate::protect::PersonalLimit;
use crate::reject::{Period, RejectReason};
use crate::report_accounts::{AccountBook, InfoLookup, command_account};
use crate::report_groups::{DayGroups, REPORT_GROUPS_HELD};
use crate::report_lines::{
    Cite, ClassIiiReviewLine, Direction, LargeValueKind, LargeValueLine, LimitHitLine, ReportSink, SummaryLine, Total,
};
use crate::report_rules::{OwnAccountTransfers, ReportRules};
use crate::report_runs::{DayGroup, GroupKey, GroupSpill, Merge, Merged, Run};
use crate::report_state::{ReporterState, WindowState};
use crate::time::{BeijingDay, Timestamp};

/// The record at a sequence number, as the log holds it: its event and hash (the large-value
/// lines re-read their records when their day's group reaches the threshold).
pub type RecordLookup<'a, E> = dyn FnMut(u64) -> std::result::Result<(Event, [u8; 32]), E> + 'a;

/// A customer's Class III inflows per day inside the window.
#[derive(Debug, Default)]
struct Window {
    days: VecDeque<(BeijingDay, Total)>,
    total: Total,
    /// Reported and still at or above the threshold: not reported again until it drops below.
    flagged: bool,
}

#[derive(Debug, Default)]
struct ClassDay {
    opened: u64,
    closed: u64,
    inflow_count: u64,
    inflow: Total,
    outflow_count: u64,
    outflow: Total,
    rejections: BTreeMap<&'static str, u64>,
}

/// A day ended in the current chunk, its large-value lines not yet made: the groups still held
/// (in key order) and the runs written out before them.
#[derive(Debug)]
struct DayEnd {
    day: BeijingDay,
    held: BTreeMap<GroupKey, DayGroup>,
    runs: Vec<Run>,
}

/// Makes the report lines from the log's events, pushed in log order from the first record, and
/// hands them to a [`ReportSink`](crate::ReportSink) as it goes.
#[derive(Debug)]
pub struct Reporter {
    rules: ReportRules,
    from: BeijingDay,
    to: BeijingDay,
    /// Owners and classes: a bounded cache over the store's read models (`report_accounts`).
    accounts: AccountBook,
    open: BTreeMap<AccountClass, u64>,
    /// The Beijing day of the last pushed event.
    day: Option<BeijingDay>,
    /// The current day's large-value groups, at most `groups_held` held (`report_groups`).
    groups: DayGroups,
    groups_held: usize,
    /// Days ended in the current chunk, their large-value lines not yet made.
    ended: Vec<DayEnd>,
    windows: HashMap<CustomerId, Window>,
    classes: BTreeMap<Option<AccountClass>, ClassDay>,
    last: Option<(u64, [u8; 32])>,
    /// Policy versions seen so far, by effective time: what a limit hit cites.
    policies: Vec<(Timestamp, String)>,
}

impl Reporter {
    /// Reports on the Beijing days `from..=to`.
    pub fn new(rules: ReportRules, from: BeijingDay, to: BeijingDay) -> Reporter {
        Reporter {
            rules,
            from,
            to,
            accounts: AccountBook::new(),
            open: BTreeMap::new(),
            day: None,
            groups: DayGroups::new(REPORT_GROUPS_HELD),
            groups_held: REPORT_GROUPS_HELD,
            ended: Vec::new(),
            windows: HashMap::new(),
            classes: BTreeMap::new(),
            last: None,
            policies: Vec::new(),
        }
    }

    /// Reports on `from..=to`, resuming from `state` (taken at the start of a day at or before
    /// `from`); the records after `state.last` are to be pushed. Gives the lines a reporter fed
    /// from genesis gives.
    pub fn resume(rules: ReportRules, from: BeijingDay, to: BeijingDay, state: ReporterState) -> Reporter {
        let mut reporter = Reporter::new(rules, from, to);
        reporter.day = state.day;
        reporter.last = state.last;
        reporter.open = state.open.into_iter().collect();
        reporter.windows = state
            .windows
            .into_iter()
            .map(|w| {
                let days = w.days.into_iter().map(|(day, total)| (day, Total(total))).collect();
                (w.customer, Window { days, total: Total(w.total), flagged: w.flagged })
            })
            .collect();
        reporter.policies = state.policies;
        reporter
    }

    /// The state at the start of `next_day`, which must be after every pushed record's day
    /// (`None` otherwise). It holds nothing of the range (no day groups, no day counts).
    pub fn state(&self, next_day: BeijingDay) -> Option<ReporterState> {
        if self.day.is_some_and(|day| day >= next_day) {
            return None;
        }
        let mut windows: Vec<_> = self
            .windows
            .iter()
            .map(|(customer, w)| WindowState {
                customer: *customer,
                days: w.days.iter().map(|(day, total)| (*day, total.0)).collect(),
                total: w.total.0,
                flagged: w.flagged,
            })
            .collect();
        windows.sort_unstable_by_key(|w| w.customer);
        Some(ReporterState {
            next_day,
            last: self.last,
            day: self.day,
            open: self.open.iter().map(|(class, count)| (*class, *count)).collect(),
            windows,
            policies: self.policies.clone(),
        })
    }

    /// True once an event after the range was pushed: later events change no line.
    pub fn done(&self) -> bool {
        self.day.is_some_and(|day| day > self.to)
    }

    fn in_range(&self, day: BeijingDay) -> bool {
        (self.from..=self.to).contains(&day)
    }

    /// The store's account read models hold every account opened at or before record `seq`
    /// (`meta/projected`): the accounts opened after it are kept as their records are pushed.
    /// Unset: every account is in them.
    pub fn accounts_stored_to(&mut self, seq: u64) {
        self.accounts.stored_to(seq);
    }

    /// Takes the opening `event` (record `seq`) may be, of a record after the read models'
    /// `seq` and before a resumed state's last record: not pushed again, but its account is not
    /// in the store's read models either.
    pub fn opened_before_resume(&mut self, seq: u64, event: &Event) {
        if let EventBody::AccountOpened { account, customer, class, .. } = &event.body {
            self.accounts.opened(seq, *account, *customer, *class);
        }
    }

    /// Caches at most `held` accounts per generation (default
    /// [`REPORT_ACCOUNTS_HELD`](crate::REPORT_ACCOUNTS_HELD)); the lines do not change.
    pub fn hold_accounts(&mut self, held: usize) {
        self.accounts.hold(held);
    }

    /// Holds at most `held` large-value groups of a day at once (default
    /// [`REPORT_GROUPS_HELD`](crate::REPORT_GROUPS_HELD)); at the bound they are written out
    /// to the [`GroupSpill`] as a sorted run. The lines do not change. Set before the first push.
    pub fn hold_groups(&mut self, held: usize) {
        self.groups_held = held.max(1);
        self.groups = DayGroups::new(self.groups_held);
    }

    /// Large-value groups the reporter holds now.
    pub fn groups_held(&self) -> usize {
        self.groups.len()
    }

    /// Accounts the reporter holds now (cached, or opened in the tail).
    pub fn accounts_held(&self) -> usize {
        self.accounts.len()
    }

    /// Takes a chunk of records `(seq, hash, event)`, in log order after those pushed before,
    /// and hands `sink` the lines they complete. `lookup` answers, in the order asked, for the
    /// accounts they name that the reporter does not hold: owner, class and (where asked) the
    /// record that opened it, from the store's read models; `None` for an account they do not
    /// hold. `record` re-reads a record of a day the chunk ended (for its large-value lines).
    /// `spill` takes a day's large-value groups past the bound (and gives them back once the
    /// day ends).
    pub fn push_records<E>(
        &mut self,
        records: &[(u64, [u8; 32], Event)],
        lookup: &mut InfoLookup<'_, E>,
        record: &mut RecordLookup<'_, E>,
        spill: &mut dyn GroupSpill<E>,
        sink: &mut dyn ReportSink,
    ) -> std::result::Result<(), E> {
        self.learn(records, lookup)?;
        for (seq, hash, event) in records {
            self.push(*seq, hash, event, sink);
            if self.groups.full() {
                self.groups.spill(spill)?;
            }
        }
        // After the chunk, not inside it: re-reading may move the accounts the chunk holds.
        self.large_value_lines(lookup, record, spill, sink)
    }

    /// Holds every account `records` name, asking `lookup` for those it does not.
    fn learn<E>(
        &mut self,
        records: &[(u64, [u8; 32], Event)],
        lookup: &mut InfoLookup<'_, E>,
    ) -> std::result::Result<(), E> {
        self.accounts.make_room(records);
        let wanted = self.accounts.wanted(records);
        if wanted.is_empty() {
            return Ok(());
        }
        let found = lookup(&wanted)?;
        // Invariant: one answer per account asked for.
        debug_assert_eq!(found.len(), wanted.len());
        for (wanted, info) in wanted.iter().zip(found) {
            self.accounts.load(wanted.account, info);
        }
        Ok(())
    }

    /// Takes the record at `seq` (hash `hash`) holding `event`, whose accounts are held.
    fn push(&mut self, seq: u64, hash: &[u8; 32], event: &Event, sink: &mut dyn ReportSink) {
        let day = event.at.beijing_day();
        if self.day != Some(day) {
            self.close_days(day, sink);
            self.day = Some(day);
        }
        let cite = || Cite { seq, hash: hex(hash), at: event.at };
        match &event.body {
            EventBody::PolicyScheduled { effective_from, policy } => {
                // As the state does: a new version replaces those scheduled at or after it.
                self.policies.retain(|(from, _)| from < effective_from);
                self.policies.push((*effective_from, policy.citation()));
            }
            EventBody::AccountOpened { account, customer, class, .. } => {
                self.accounts.opened(seq, *account, *customer, *class);
                *self.open.entry(*class).or_default() += 1;
                self.classes.entry(Some(*class)).or_default().opened += 1;
            }
            EventBody::AccountClosed { account } => {
                if let Some(info) = self.accounts.of(*account) {
                    // Invariant: the log closes an account once, after opening it.
                    *self.open.entry(info.class).or_default() -= 1;
                    self.classes.entry(Some(info.class)).or_default().closed += 1;
                }
            }
            EventBody::Rejected { command, reason } => {
                let account = command_account(command);
                // Counted under the class of the account the refusal is about (the receiving
                // account of a refused inflow), else of the command's first account.
                // Accounts as they were at this record: one opened later under that id is not.
                let about = reason.account().filter(|about| self.accounts.at(*about, seq).is_some()).or(account);
                let info = about.and_then(|about| self.accounts.at(about, seq));
                let class = info.map(|info| info.class).or(match command {
                    CommandBody::OpenAccount { class, .. } => Some(*class),
                    _ => None,
                });
                *self.classes.entry(class).or_default().rejections.entry(reason.code()).or_default() += 1;
                if self.in_range(day) && self.rules.limit_hits.codes.iter().any(|code| code == reason.code()) {
                    let (account, bucket, cap, used, requested) = limit_figures(reason, account);
                    // The owner and class of the account whose limit was hit (the receiving
                    // account for an inflow bucket), not of the command's first account.
                    let hit = account.and_then(|account| self.accounts.at(account, seq));
                    sink.limit_hit(LimitHitLine {
                        day: day.to_string(),
                        cite: cite(),
                        command_id: event.command_id,
                        code: reason.code(),
                        account,
                        customer: hit.map(|info| info.customer),
                        class: hit.map(|info| info.class).or(class),
                        bucket,
                        cap,
                        used,
                        requested,
                        detail: self.detail(reason, event.at),
                    });
                }
            }
            _ => {}
        }
        if let Some(posting) = event.posting() {
            for leg in [&posting.debit, &posting.credit].into_iter().flatten() {
                self.push_leg(seq, day, leg, posting, &cite, sink);
            }
        }
        self.last = Some((seq, *hash));
    }

    fn push_leg(
        &mut self,
        seq: u64,
        day: BeijingDay,
        leg: &Leg,
        posting: &Posting,
        cite: &dyn Fn() -> Cite,
        sink: &mut dyn ReportSink,
    ) {
        let Some(info) = self.accounts.of(leg.account) else { return };
        let direction = Direction::of(leg.flow);
        let in_range = self.in_range(day);
        let class_day = self.classes.entry(Some(info.class)).or_default();
        match direction {
            Direction::In => {
                class_day.inflow_count += 1;
                class_day.inflow.add(posting.amount);
            }
            Direction::Out => {
                class_day.outflow_count += 1;
                class_day.outflow.add(posting.amount);
            }
        }
        if in_range {
            for key in self.group_keys(leg, posting).into_iter().flatten() {
                self.groups.add(key, seq, posting.amount);
            }
        }
        let review = &self.rules.class_iii_review;
        if info.class == AccountClass::III && review.flows.contains(&leg.flow) {
            let window = self.windows.entry(info.customer).or_default();
            let first_day = BeijingDay(day.0 - i32::from(review.window_days) + 1);
            while window.days.front().is_some_and(|(old, _)| *old < first_day) {
                if let Some((_, old)) = window.days.pop_front() {
                    window.total.0 -= old.0;
                }
            }
            if !window.total.reaches(review.threshold) {
                window.flagged = false;
            }
            match window.days.back_mut() {
                Some((last, total)) if *last == day => total.add(posting.amount),
                _ => window.days.push_back((day, Total(u128::from(posting.amount.fen())))),
            }
            window.total.add(posting.amount);
            if window.total.reaches(review.threshold) && !window.flagged {
                window.flagged = true;
                if in_range {
                    let window_from = window.days.front().map_or(day, |(first, _)| *first);
                    sink.class_iii_review(ClassIiiReviewLine {
                        day: day.to_string(),
                        customer: info.customer,
                        window_from: window_from.to_string(),
                        window_total: window.total,
                        threshold: review.threshold,
                        cite: cite(),
                        account: leg.account,
                        flow: leg.flow,
                        amount: posting.amount,
                        source: review.source.clone(),
                    });
                }
            }
        }
    }

    /// The large-value groups `leg` of `posting` counts in (its account held): cash, transfer.
    fn group_keys(&self, leg: &Leg, posting: &Posting) -> [Option<GroupKey>; 2] {
        let Some(info) = self.accounts.of(leg.account) else { return [None, None] };
        let excluded =
            self.rules.readings.own_account_transfers == OwnAccountTransfers::Excluded && self.own_account(posting);
        let key = |kind: LargeValueKind, rule: &crate::report_rules::DayThreshold, excluded: bool| {
            (rule.flows.contains(&leg.flow) && !excluded).then_some((info.customer, kind, Direction::of(leg.flow)))
        };
        [
            key(LargeValueKind::Cash, &self.rules.large_cash, false),
            key(LargeValueKind::Transfer, &self.rules.large_transfer, excluded),
        ]
    }

    /// True for a transfer between two accounts of one customer.
    fn own_account(&self, posting: &Posting) -> bool {
        let customer =
            |leg: &Option<Leg>| leg.as_ref().and_then(|leg| self.accounts.of(leg.account)).map(|i| i.customer);
        posting.kind == PostingKind::InternalTransfer
            && customer(&posting.debit).is_some()
            && customer(&posting.debit) == customer(&posting.credit)
    }

    /// A rejection in words, citing the policy version in force when the policy decided it.
    fn detail(&self, reason: &RejectReason, at: Timestamp) -> String {
        match crate::time::in_force_at(&self.policies, at, |(from, _)| *from) {
            Some((_, rule)) if reason.cites_policy() => format!("{reason}; rule: {rule}"),
            _ => reason.to_string(),
        }
    }

    /// Ends every day before `next`: the summary rows of the days in range, and the large-value
    /// groups that reached their threshold.
    /// Before the first record (no day yet) every day of the range before `next` is quiet.
    fn close_days(&mut self, next: BeijingDay, sink: &mut dyn ReportSink) {
        let first_quiet = match self.day {
            Some(day) => {
                if self.in_range(day) {
                    self.close_day(day, sink);
                }
                // The counts of a day before the range are not reported.
                self.classes.clear();
                BeijingDay(day.0 + 1)
            }
            None => self.from,
        };
        // Days in range without events still get their summary rows.
        let mut quiet = first_quiet.max(self.from);
        while quiet < next && quiet <= self.to {
            self.close_day(quiet, sink);
            quiet = BeijingDay(quiet.0 + 1);
        }
    }

    fn close_day(&mut self, day: BeijingDay, sink: &mut dyn ReportSink) {
        let (through_seq, through_hash) = self.last.map_or((0, String::new()), |(seq, hash)| (seq, hex(&hash)));
        let mut classes = std::mem::take(&mut self.classes);
        for class in AccountClass::ALL {
            classes.entry(Some(class)).or_default();
        }
        for (class, counts) in classes {
            if class.is_none() && counts.rejections.is_empty() {
                continue;
            }
            sink.daily_summary(SummaryLine {
                day: day.to_string(),
                class,
                accounts_open: class.map_or(0, |class| self.open.get(&class).copied().unwrap_or(0)),
                opened: counts.opened,
                closed: counts.closed,
                inflow_count: counts.inflow_count,
                inflow: counts.inflow,
                outflow_count: counts.outflow_count,
                outflow: counts.outflow,
                rejections: counts.rejections,
                through_seq,
                through_hash: through_hash.clone(),
            });
        }
        let groups = std::mem::replace(&mut self.groups, DayGroups::new(self.groups_held));
        let (held, runs) = groups.end();
        if !held.is_empty() || !runs.is_empty() {
            self.ended.push(DayEnd { day, held, runs });
        }
    }

    fn rule(&self, kind: LargeValueKind) -> &crate::report_rules::DayThreshold {
        if kind == LargeValueKind::Cash { &self.rules.large_cash } else { &self.rules.large_transfer }
    }

    /// Ends the range: hands `sink` the lines of its last days (as in
    /// [`Reporter::push_records`]).
    pub fn finish<E>(
        mut self,
        lookup: &mut InfoLookup<'_, E>,
        record: &mut RecordLookup<'_, E>,
        spill: &mut dyn GroupSpill<E>,
        sink: &mut dyn ReportSink,
    ) -> std::result::Result<(), E> {
        let after = BeijingDay(self.to.0 + 1);
        if self.day.is_none_or(|day| day <= self.to) {
            self.close_days(after, sink);
        }
        self.large_value_lines(lookup, record, spill, sink)
    }

    /// The large-value lines of the days ended since the last call, in the order they ended:
    /// each day's groups that reached their threshold, in key order, its runs merged with the
    /// groups still held. The scratch space is emptied once no day's runs are in it.
    fn large_value_lines<E>(
        &mut self,
        lookup: &mut InfoLookup<'_, E>,
        record: &mut RecordLookup<'_, E>,
        spill: &mut dyn GroupSpill<E>,
        sink: &mut dyn ReportSink,
    ) -> std::result::Result<(), E> {
        let mut spilled = false;
        for DayEnd { day, held, runs } in std::mem::take(&mut self.ended) {
            spilled |= !runs.is_empty();
            let mut merge = Merge::new(&runs, held, spill)?;
            while let Some(group) =
                merge.next_reached(spill, &|(_, kind, _), total| total.reaches(self.rule(*kind).threshold))?
            {
                self.reached_lines(day, group, lookup, record, sink)?;
            }
        }
        // The current day's runs (a day begun in this chunk) are still to be read.
        if spilled && !self.groups.spilled() {
            spill.clear()?;
        }
        Ok(())
    }

    /// The lines of `day`'s `group`, which reached its threshold: its records re-read with
    /// `record` and their accounts with `lookup`.
    fn reached_lines<E>(
        &mut self,
        day: BeijingDay,
        group: Merged,
        lookup: &mut InfoLookup<'_, E>,
        record: &mut RecordLookup<'_, E>,
        sink: &mut dyn ReportSink,
    ) -> std::result::Result<(), E> {
        let Merged { key: (customer, kind, direction), total, seqs } = group;
        let rule = self.rule(kind).clone();
        for seq in seqs {
            let (event, hash) = record(seq)?;
            let records = [(seq, hash, event)];
            self.learn(&records, lookup)?;
            let [(_, _, event)] = records;
            let Some(posting) = event.posting() else { continue };
            let leg = [&posting.debit, &posting.credit].into_iter().flatten().find(|leg| {
                rule.flows.contains(&leg.flow)
                    && Direction::of(leg.flow) == direction
                    && self.accounts.of(leg.account).is_some_and(|info| info.customer == customer)
            });
            let Some(leg) = leg else { continue };
            sink.large_value(LargeValueLine {
                day: day.to_string(),
                customer,
                kind,
                direction,
                day_total: total,
                threshold: rule.threshold,
                cite: Cite { seq, hash: hex(&hash), at: event.at },
                account: leg.account,
                flow: leg.flow,
                amount: posting.amount,
                counterparty: posting.counterparty.clone(),
                source: rule.source.clone(),
            });
        }
        Ok(())
    }
}

type LimitFigures = (Option<AccountId>, String, Option<Amount>, Option<Amount>, Option<Amount>);

/// The account, bucket and figures a limit rejection names.
fn limit_figures(reason: &RejectReason, account: Option<AccountId>) -> LimitFigures {
    match reason {
        RejectReason::LimitExceeded { account, bucket, period, cap, used, requested } => {
            let period = match period {
                Period::Day => "day",
                Period::Year => "year",
            };
            (Some(*account), format!("{bucket}/{period}"), Some(*cap), Some(*used), Some(*requested))
        }
        RejectReason::PersonalLimitExceeded { account, limit, cap, used, requested } => {
            let limit = match limit {
                PersonalLimit::PerTransaction => "per_transaction",
                PersonalLimit::PerDay => "per_day",
            };
            (Some(*account), format!("personal/{limit}"), Some(*cap), Some(*used), Some(*requested))
        }
        RejectReason::RiskListedCounterparty { counterparty, .. } => {
            (account, format!("risk-list/{counterparty}"), None, None, None)
        }
        _ => (account, String::new(), None, None, None),
    }
}

fn hex(bytes: &[u8; 32]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}
