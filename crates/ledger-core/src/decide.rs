//! `decide`: all business logic. Given the state and a command, it returns the events to
//! append; it changes nothing itself, so a rejected command changes nothing at all.
//!
//! Check order (documented in docs/RULES.md, mirrored by the reference model in the tests):
//! retry → time ahead of the clock (only under an [`Admission`] bound) → holds and delayed transfers due by the command's time (each a `Decision::Due`) →
//! time → policy in force → input (amount, texts, same account) → accounts exist and are open →
//! permissions (debit side, then credit side) → security lock → night lock → risk list → first
//! funding from the bound account → funds (net of reservations) → personal limits → debit
//! buckets → credit buckets → balance cap → overflow → hold for verification or schedule.

use crate::command::{Binding, Command, CommandBody, ExternalKind};
use crate::due::{awaiting_verification, cancel_transfer, confirm_hold, due_event, release};
use crate::event::{Event, EventBody};
use crate::ids::{AccountClass, AccountId, AccountStatus, CommandId, CustomerId};
use crate::money::Amount;
use crate::policy::{ClassRules, Flow, Permission, Policy};
use crate::posting::{BucketUsage, Leg, Posting, PostingKind};
use crate::protect::{Actor, Arrival, NightWindow, PersonalLimit, PersonalLimits, ProtectionSettings, SecurityLock};
use crate::reject::{BindingProblem, Period, RejectReason};
use crate::reserve::{Release, Reservation, Stage};
use crate::state::{Account, State};
use crate::time::Timestamp;
use crate::withhold::{TEXT_CHARS_MAX, withhold};

/// The answer to a command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// New events to append (exactly one per command today).
    Append(Vec<Event>),
    /// The command id was seen before: its answer is the event at this sequence number.
    Retry { seq: u64 },
    /// A hold expired or a delayed transfer came due at or before the command's time. Append
    /// and apply this event (it answers no new command: it carries the reservation's id), then
    /// decide the command again.
    Due(Box<Event>),
}

/// What the caller of [`decide_in`] knows beyond the state: the ledger's clock. Replays never
/// decide, so a bound taken from a clock does not make the log depend on the clock.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Admission {
    /// Business times after this are refused with `TIME_AHEAD_OF_CLOCK` (the clock's time plus
    /// the accepted skew); `None` accepts any time.
    pub latest_at: Option<Timestamp>,
}

/// Decides `command` against `state`, accepting any business time.
pub fn decide(state: &State, command: &Command) -> Decision {
    decide_in(state, command, Admission::default())
}

/// Decides `command` against `state` under `admission`.
pub fn decide_in(state: &State, command: &Command, admission: Admission) -> Decision {
    if let Some(seq) = state.answer_seq(command.id) {
        return Decision::Retry { seq };
    }
    // A time the ledger stamped is never before its head: the head may have moved on while the
    // command waited in the writer's queue.
    if let Some(head) = state.head_at().filter(|head| command.stamped && command.at < *head) {
        return decide_in(state, &Command { at: head, ..command.clone() }, admission);
    }
    if let Some(latest_accepted) = admission.latest_at.filter(|latest| command.at > *latest) {
        // Recorded at the head's time: the refused time must not become the ledger's time.
        let at = state.head_at().unwrap_or(Timestamp::UNIX_EPOCH);
        let reason = RejectReason::TimeAheadOfClock { requested_at: command.at, latest_accepted };
        let (command_body, withheld) = withhold(&command.body);
        let body = EventBody::Rejected { command: command_body, reason };
        return Decision::Append(vec![Event { command_id: command.id, at, body, principal: None, withheld }]);
    }
    if state.head_at().is_none_or(|head| command.at >= head)
        && let Some(reservation) = state.first_due(command.at)
    {
        return Decision::Due(Box::new(due_event(state, reservation)));
    }
    let (at, body, withheld) = match decide_body(state, command) {
        Ok(body) => (command.at, body, Vec::new()),
        Err(reason) => {
            // A backdated command is recorded at the head's time: the log's times never go back.
            let at = state.head_at().map_or(command.at, |head| head.max(command.at));
            // A text over its limit is withheld: the log keeps its length and digest only.
            let (command_body, withheld) = withhold(&command.body);
            (at, EventBody::Rejected { command: command_body, reason }, withheld)
        }
    };
    // The writer names who submitted it (`principal`).
    Decision::Append(vec![Event { command_id: command.id, at, body, principal: None, withheld }])
}

fn decide_body(state: &State, command: &Command) -> Result<EventBody, RejectReason> {
    let at = command.at;
    if let Some(head_at) = state.head_at().filter(|head| at < *head) {
        return Err(RejectReason::TimeBeforeHead { requested_at: at, head_at });
    }
    // One arm per command. The first group needs no policy in force; every other command is
    // decided by a `Ctx`, which requires one (and a non-zero amount).
    match &command.body {
        CommandBody::ChangePolicy { effective_from, policy } => decide_policy(state, *effective_from, policy),
        CommandBody::ChangeProtections { effective_from, settings } => {
            decide_protections(state, *effective_from, settings)
        }
        CommandBody::Tick => Ok(EventBody::TimeAdvanced),
        CommandBody::ListRisk { counterparty, reason, source } => {
            decide_risk_list(state, RiskListing { counterparty, reason, source, listing: true })
        }
        CommandBody::UnlistRisk { counterparty, reason, source } => {
            decide_risk_list(state, RiskListing { counterparty, reason, source, listing: false })
        }
        CommandBody::ConfirmHold { hold } => confirm_hold(state, at, *hold),
        CommandBody::DeclineHold { hold } => {
            let reservation = awaiting_verification(state, *hold)?;
            Ok(release(state, reservation, Release::Declined))
        }
        CommandBody::CancelTransfer { transfer } => cancel_transfer(state, *transfer),
        CommandBody::OpenAccount { account, customer, class, binding, verified_in_person, with_card } => {
            let opening = Opening {
                account: *account,
                customer: *customer,
                class: *class,
                binding: binding.as_ref(),
                verified_in_person: *verified_in_person,
                with_card: *with_card,
            };
            Ctx::new(state, command)?.open(opening)
        }
        CommandBody::CloseAccount { account } => Ctx::new(state, command)?.close(*account),
        CommandBody::CashDeposit { account, amount } => Ctx::new(state, command)?
            .post(Post { credit: Some((*account, Flow::CashDeposit)), ..Post::new(PostingKind::CashDeposit, *amount) }),
        CommandBody::CashWithdrawal { account, amount } => Ctx::new(state, command)?.post(Post {
            debit: Some((*account, Flow::CashWithdrawal)),
            ..Post::new(PostingKind::CashWithdrawal, *amount)
        }),
        CommandBody::InternalTransfer { from, to, amount } => {
            Ctx::new(state, command)?.internal_transfer(*from, *to, *amount)
        }
        CommandBody::InboundTransfer { to, counterparty, amount } => {
            Ctx::new(state, command)?.inbound(*to, counterparty, *amount)
        }
        CommandBody::OutboundTransfer { from, counterparty, amount } => {
            Ctx::new(state, command)?.outbound(*from, counterparty, *amount, None)
        }
        CommandBody::DelayedTransfer { from, counterparty, amount, arrival } => {
            Ctx::new(state, command)?.outbound(*from, counterparty, *amount, Some(*arrival))
        }
        CommandBody::Payment { from, merchant, amount } => {
            let ctx = Ctx::new(state, command)?;
            check_text("merchant", merchant)?;
            ctx.post(Post {
                text: Some(merchant),
                debit: Some((*from, Flow::Payment)),
                ..Post::new(PostingKind::Payment, *amount)
            })
        }
        CommandBody::WealthPurchase { account, product, amount } => {
            let ctx = Ctx::new(state, command)?;
            check_text("product", product)?;
            ctx.post(Post {
                text: Some(product),
                debit: Some((*account, Flow::WealthPurchase)),
                ..Post::new(PostingKind::WealthPurchase, *amount)
            })
        }
        CommandBody::WealthRedemption { account, product, amount } => {
            let ctx = Ctx::new(state, command)?;
            check_text("product", product)?;
            ctx.post(Post {
                text: Some(product),
                credit: Some((*account, Flow::WealthRedemption)),
                ..Post::new(PostingKind::WealthRedemption, *amount)
            })
        }
        CommandBody::LockAccount { account, by, flows, reason } => {
            let lock = SecurityLock { by: *by, flows: flows.clone(), reason: reason.clone() };
            Ctx::new(state, command)?.lock(*account, lock)
        }
        CommandBody::UnlockAccount { account, by } => Ctx::new(state, command)?.unlock(*account, *by),
        CommandBody::SetPersonalLimits { account, limits } => {
            Ctx::new(state, command)?.personal_limits(*account, *limits)
        }
        CommandBody::SetNightLock { account, window } => Ctx::new(state, command)?.night_lock(*account, *window),
    }
}

fn decide_protections(
    state: &State,
    effective_from: Timestamp,
    settings: &ProtectionSettings,
) -> Result<EventBody, RejectReason> {
    settings.validate().map_err(|detail| RejectReason::InvalidProtection { detail })?;
    if let Some(head_at) = state.head_at().filter(|head| effective_from < *head) {
        return Err(RejectReason::PolicyEffectiveInPast { effective_from, head_at });
    }
    Ok(EventBody::ProtectionsScheduled { effective_from, settings: settings.clone() })
}

/// A `list_risk` or `unlist_risk` command.
struct RiskListing<'c> {
    counterparty: &'c String,
    reason: &'c String,
    source: &'c String,
    listing: bool,
}

fn decide_risk_list(state: &State, request: RiskListing<'_>) -> Result<EventBody, RejectReason> {
    let RiskListing { counterparty, reason, source, listing } = request;
    check_text("counterparty", counterparty)?;
    check_text("reason", reason)?;
    check_text("source", source)?;
    let listed = state.risk_listed(counterparty).is_some();
    if listing == listed {
        return Err(RejectReason::RiskListUnchanged { counterparty: counterparty.clone(), listed });
    }
    let (counterparty, reason, source) = (counterparty.clone(), reason.clone(), source.clone());
    Ok(if listing {
        EventBody::RiskListed { counterparty, reason, source }
    } else {
        EventBody::RiskUnlisted { counterparty, reason, source }
    })
}

fn decide_policy(state: &State, effective_from: Timestamp, policy: &Policy) -> Result<EventBody, RejectReason> {
    policy.validate().map_err(|err| RejectReason::InvalidPolicy { detail: err.to_string() })?;
    if let Some(head_at) = state.head_at().filter(|head| effective_from < *head) {
        return Err(RejectReason::PolicyEffectiveInPast { effective_from, head_at });
    }
    Ok(EventBody::PolicyScheduled { effective_from, policy: Box::new(policy.clone()) })
}

fn check_text(field: &str, text: &str) -> Result<(), RejectReason> {
    let chars = text.chars().count();
    if text.trim().is_empty() || chars > TEXT_CHARS_MAX as usize {
        return Err(RejectReason::InvalidText { field: field.to_owned(), max_chars: TEXT_CHARS_MAX });
    }
    Ok(())
}

fn bound_to_external(account: &Account, counterparty: &str) -> bool {
    matches!(&account.binding, Some(Binding::External { reference, .. }) if reference == counterparty)
}

/// What deciding a command under the policy in force needs.
struct Ctx<'a> {
    state: &'a State,
    policy: &'a Policy,
    at: Timestamp,
    id: CommandId,
}

/// An `open_account` command.
struct Opening<'c> {
    account: AccountId,
    customer: CustomerId,
    class: AccountClass,
    binding: Option<&'c Binding>,
    verified_in_person: bool,
    with_card: bool,
}

/// A posting to decide: its kind and amount, the counterparty, merchant or product text, the
/// debit and credit sides (account and flow), and for a delayed transfer its arrival.
struct Post<'c> {
    kind: PostingKind,
    amount: Amount,
    text: Option<&'c String>,
    debit: Option<(AccountId, Flow)>,
    credit: Option<(AccountId, Flow)>,
    arrival: Option<Arrival>,
}

impl Post<'_> {
    fn new(kind: PostingKind, amount: Amount) -> Self {
        Post { kind, amount, text: None, debit: None, credit: None, arrival: None }
    }
}

impl<'a> Ctx<'a> {
    /// Guards every command decided under a policy shares, in order: a policy in force, then a
    /// non-zero amount.
    fn new(state: &'a State, command: &Command) -> Result<Ctx<'a>, RejectReason> {
        let policy = state.policy_at(command.at).ok_or(RejectReason::NoPolicyInForce)?;
        if command.body.amount().is_some_and(Amount::is_zero) {
            return Err(RejectReason::ZeroAmount);
        }
        Ok(Ctx { state, policy, at: command.at, id: command.id })
    }

    fn open_account(&self, id: AccountId) -> Result<&'a Account, RejectReason> {
        let account = self.state.account(id).ok_or(RejectReason::UnknownAccount { account: id })?;
        if account.status == AccountStatus::Closed {
            return Err(RejectReason::AccountClosed { account: id });
        }
        Ok(account)
    }

    fn open(&self, opening: Opening<'_>) -> Result<EventBody, RejectReason> {
        let Opening { account, customer, class, binding, verified_in_person, with_card } = opening;
        if self.state.account(account).is_some() {
            return Err(RejectReason::AccountExists { account });
        }
        let rules = self.policy.rules(class);
        if let Some(max_open) = rules.max_open_accounts {
            let open = self
                .state
                .customer_accounts(customer)
                .filter(|acc| acc.class == class && acc.status == AccountStatus::Open)
                .count();
            if open >= max_open as usize {
                return Err(RejectReason::AccountCountExceeded { customer, class, max_open });
            }
        }
        match (rules.binding.required, binding) {
            (true, None) => return Err(RejectReason::BindingRequired { class }),
            (false, Some(_)) => return Err(RejectReason::BindingNotAllowed { class }),
            (true, Some(binding)) => self.check_binding(rules, customer, binding)?,
            (false, None) => {}
        }
        if with_card {
            match rules.card {
                Permission::Allowed => {}
                Permission::InPersonOnly if verified_in_person => {}
                Permission::InPersonOnly => {
                    return Err(RejectReason::InPersonVerificationRequired { class, flow: None });
                }
                Permission::Forbidden => return Err(RejectReason::CardNotAllowed { class }),
            }
        }
        Ok(EventBody::AccountOpened {
            account,
            customer,
            class,
            binding: binding.cloned(),
            verified_in_person,
            with_card,
        })
    }

    fn check_binding(&self, rules: &ClassRules, customer: CustomerId, binding: &Binding) -> Result<(), RejectReason> {
        let problem = match binding {
            Binding::Account(bound) => match self.state.account(*bound) {
                None => Some(BindingProblem::UnknownAccount),
                Some(acc) if acc.status == AccountStatus::Closed => Some(BindingProblem::AccountClosed),
                Some(acc) if acc.class != AccountClass::I => Some(BindingProblem::NotClassI),
                Some(acc) if acc.customer != customer => Some(BindingProblem::OtherCustomer),
                Some(_) => None,
            },
            Binding::External { kind, reference } => {
                if check_text("binding reference", reference).is_err() {
                    Some(BindingProblem::BadReference)
                } else if *kind == ExternalKind::CreditCard && !rules.binding.credit_card_allowed {
                    Some(BindingProblem::CreditCardNotAllowed)
                } else {
                    None
                }
            }
        };
        problem.map_or(Ok(()), |problem| Err(RejectReason::InvalidBinding { problem }))
    }

    fn close(&self, account: AccountId) -> Result<EventBody, RejectReason> {
        let acc = self.open_account(account)?;
        if !acc.balance.is_zero() {
            return Err(RejectReason::NonZeroBalance { account, balance: acc.balance });
        }
        let dependents = self
            .state
            .customer_accounts(acc.customer)
            .filter(|other| other.status == AccountStatus::Open && other.binding == Some(Binding::Account(account)))
            .count();
        if dependents > 0 {
            let open = u32::try_from(dependents).unwrap_or(u32::MAX);
            return Err(RejectReason::BoundAccountsOpen { account, open });
        }
        Ok(EventBody::AccountClosed { account })
    }

    fn outbound(
        &self,
        from: AccountId,
        counterparty: &String,
        amount: Amount,
        arrival: Option<Arrival>,
    ) -> Result<EventBody, RejectReason> {
        check_text("counterparty", counterparty)?;
        let flow = if bound_to_external(self.open_account(from)?, counterparty) {
            Flow::TransferOutBound
        } else {
            Flow::TransferOutOther
        };
        self.post(Post {
            text: Some(counterparty),
            debit: Some((from, flow)),
            arrival,
            ..Post::new(PostingKind::OutboundTransfer, amount)
        })
    }

    fn inbound(&self, to: AccountId, counterparty: &String, amount: Amount) -> Result<EventBody, RejectReason> {
        check_text("counterparty", counterparty)?;
        let flow = if bound_to_external(self.open_account(to)?, counterparty) {
            Flow::TransferInBound
        } else {
            Flow::TransferInOther
        };
        self.post(Post {
            text: Some(counterparty),
            credit: Some((to, flow)),
            ..Post::new(PostingKind::InboundTransfer, amount)
        })
    }

    fn internal_transfer(&self, from: AccountId, to: AccountId, amount: Amount) -> Result<EventBody, RejectReason> {
        if from == to {
            return Err(RejectReason::SameAccount { account: from });
        }
        let from_account = self.open_account(from)?;
        let to_account = self.open_account(to)?;
        let out_flow = if from_account.binding == Some(Binding::Account(to)) {
            Flow::TransferOutBound
        } else {
            Flow::TransferOutOther
        };
        let in_flow = if to_account.binding == Some(Binding::Account(from)) {
            Flow::TransferInBound
        } else {
            Flow::TransferInOther
        };
        self.post(Post {
            debit: Some((from, out_flow)),
            credit: Some((to, in_flow)),
            ..Post::new(PostingKind::InternalTransfer, amount)
        })
    }

    fn lock(&self, account: AccountId, lock: SecurityLock) -> Result<EventBody, RejectReason> {
        self.open_account(account)?;
        check_text("reason", &lock.reason)?;
        if let Some(flow) = lock.flows.iter().find(|flow| !flow.is_outflow()) {
            return Err(RejectReason::InvalidProtection { detail: format!("{flow} is not an outflow") });
        }
        Ok(EventBody::AccountLocked { account, lock })
    }

    fn unlock(&self, account: AccountId, by: Actor) -> Result<EventBody, RejectReason> {
        self.open_account(account)?;
        let locked = self.state.protections(account).is_some_and(|p| p.locks.iter().any(|lock| lock.by == by));
        if !locked {
            return Err(RejectReason::NotLocked { account, by });
        }
        Ok(EventBody::AccountUnlocked { account, by })
    }

    fn night_lock(&self, account: AccountId, window: Option<NightWindow>) -> Result<EventBody, RejectReason> {
        self.open_account(account)?;
        if window.is_some_and(|window| window.start == window.end) {
            let detail = "the night window's start and end are the same time".to_owned();
            return Err(RejectReason::InvalidProtection { detail });
        }
        Ok(EventBody::NightLockSet { account, window })
    }

    fn personal_limits(&self, account: AccountId, limits: PersonalLimits) -> Result<EventBody, RejectReason> {
        let acc = self.open_account(account)?;
        let caps = [(PersonalLimit::PerTransaction, limits.per_transaction), (PersonalLimit::PerDay, limits.per_day)];
        if caps.iter().any(|(_, cap)| cap.is_some_and(Amount::is_zero)) {
            let detail = "a personal limit of zero: lock the account instead".to_owned();
            return Err(RejectReason::InvalidProtection { detail });
        }
        if let (Some(per_transaction), Some(per_day)) = (limits.per_transaction, limits.per_day)
            && per_transaction > per_day
        {
            let detail = format!("per-transaction limit {per_transaction} is above the per-day limit {per_day}");
            return Err(RejectReason::InvalidProtection { detail });
        }
        // The tightest daily cap of the policy over the flows personal limits cover.
        let covered = &self.state.protection_settings_at(self.at).personal_limit_flows;
        let ceiling = self
            .policy
            .rules(acc.class)
            .buckets
            .iter()
            .filter(|bucket| bucket.flows.iter().any(|flow| covered.contains(flow)))
            .filter_map(|bucket| bucket.day_cap)
            .min();
        if let Some(policy_cap) = ceiling {
            for (limit, cap) in caps {
                if let Some(requested) = cap.filter(|cap| *cap > policy_cap) {
                    return Err(RejectReason::PersonalLimitAbovePolicy { account, limit, requested, policy_cap });
                }
            }
        }
        Ok(EventBody::PersonalLimitsSet { account, limits })
    }

    /// The customer's and the bank's protections on an outflow: locks, night lock, risk list.
    fn guard(&self, account: &Account, flow: Flow, screen: Option<&String>) -> Result<(), RejectReason> {
        if let Some(protections) = self.state.protections(account.id) {
            if let Some(lock) = protections.lock_for(flow) {
                return Err(RejectReason::AccountLocked { account: account.id, flow, by: lock.by });
            }
            let night_flows = &self.state.protection_settings_at(self.at).night_lock_flows;
            if let Some(window) =
                protections.night.filter(|window| night_flows.contains(&flow) && window.contains(self.at))
            {
                return Err(RejectReason::NightLocked { account: account.id, flow, window });
            }
        }
        if let Some(counterparty) = screen
            && let Some(listed_seq) = self.state.risk_listed(counterparty)
        {
            return Err(RejectReason::RiskListedCounterparty { counterparty: counterparty.clone(), listed_seq });
        }
        Ok(())
    }

    fn personal_check(&self, account: &Account, flow: Flow, amount: Amount) -> Result<(), RejectReason> {
        let Some(protections) = self.state.protections(account.id) else { return Ok(()) };
        if !self.state.protection_settings_at(self.at).personal_limit_flows.contains(&flow) {
            return Ok(());
        }
        let exceeded = |limit, cap, used| RejectReason::PersonalLimitExceeded {
            account: account.id,
            limit,
            cap,
            used,
            requested: amount,
        };
        if let Some(cap) = protections.limits.per_transaction.filter(|cap| amount > *cap) {
            return Err(exceeded(PersonalLimit::PerTransaction, cap, Amount::ZERO));
        }
        if let Some(cap) = protections.limits.per_day {
            let used = protections.personal_used_on(self.at.beijing_day());
            if used.checked_add(amount).is_none_or(|sum| sum > cap) {
                return Err(exceeded(PersonalLimit::PerDay, cap, used));
            }
        }
        Ok(())
    }

    fn permit(&self, account: &Account, flow: Flow) -> Result<(), RejectReason> {
        match self.policy.rules(account.class).permission(flow) {
            Permission::Allowed => Ok(()),
            Permission::InPersonOnly if account.verified_in_person => Ok(()),
            Permission::InPersonOnly => {
                Err(RejectReason::InPersonVerificationRequired { class: account.class, flow: Some(flow) })
            }
            Permission::Forbidden => {
                Err(RejectReason::FlowNotAllowed { account: account.id, class: account.class, flow })
            }
        }
    }

    /// Usage of every bucket of `account`'s class that counts `flow`, after adding `amount`;
    /// rejects at the first cap that would be exceeded (bucket order, day before year).
    fn usage_after(&self, account: &Account, flow: Flow, amount: Amount) -> Result<Vec<BucketUsage>, RejectReason> {
        let day = self.at.beijing_day();
        let year = self.at.beijing_year();
        let mut after = Vec::new();
        for bucket in self.policy.rules(account.class).buckets.iter().filter(|b| b.flows.contains(&flow)) {
            let (day_used, year_used) =
                account.bucket_usage(&bucket.name).map_or((Amount::ZERO, Amount::ZERO), |u| u.used_at(day, year));
            let checks = [(Period::Day, bucket.day_cap, day_used), (Period::Year, bucket.year_cap, year_used)];
            let mut sums = [Amount::ZERO; 2];
            for (sum, (period, cap, used)) in sums.iter_mut().zip(checks) {
                let exceeded = |cap| RejectReason::LimitExceeded {
                    account: account.id,
                    bucket: bucket.name.clone(),
                    period,
                    cap,
                    used,
                    requested: amount,
                };
                *sum = used.checked_add(amount).ok_or_else(|| exceeded(cap.unwrap_or(Amount::ZERO)))?;
                if let Some(cap) = cap.filter(|cap| *sum > *cap) {
                    return Err(exceeded(cap));
                }
            }
            let [day_used, year_used] = sums;
            after.push(BucketUsage { bucket: bucket.name.clone(), day, day_used, year, year_used });
        }
        Ok(after)
    }

    fn post(&self, post: Post<'_>) -> Result<EventBody, RejectReason> {
        let Post { kind, amount, text: counterparty, debit, credit, arrival } = post;
        let debit = debit.map(|(id, flow)| self.open_account(id).map(|acc| (acc, flow))).transpose()?;
        let credit = credit.map(|(id, flow)| self.open_account(id).map(|acc| (acc, flow))).transpose()?;
        for (account, flow) in debit.iter().chain(credit.iter()) {
            self.permit(account, *flow)?;
        }
        if let Some((account, flow)) = debit {
            let screen = counterparty.filter(|_| kind == PostingKind::OutboundTransfer);
            self.guard(account, flow, screen)?;
        }
        if let Some((account, flow)) = credit {
            let rules = self.policy.rules(account.class);
            if flow == Flow::TransferInOther && rules.first_inflow_from_bound && !account.funded_from_bound {
                return Err(RejectReason::FirstFundingFromBoundRequired { account: account.id });
            }
        }
        let debit_leg = debit.map(|(account, flow)| self.debit_leg(account, flow, amount)).transpose()?;
        let credit_leg = credit.map(|(account, flow)| self.credit_leg(account, flow, amount)).transpose()?;
        if let Some(leg) = &debit_leg
            && credit_leg.is_none()
            && let Some(stage) = self.reservation_stage(leg.flow, amount, arrival)
        {
            let personal = self.state.protection_settings_at(self.at).personal_limit_flows.contains(&leg.flow)
                && self.state.protections(leg.account).is_some_and(|p| p.limits.per_day.is_some());
            let reservation = Reservation {
                id: self.id,
                kind,
                account: leg.account,
                flow: leg.flow,
                counterparty: counterparty.cloned(),
                amount,
                arrival,
                requested_at: self.at,
                stage,
                buckets: leg.usage_after.iter().map(|usage| usage.bucket.clone()).collect(),
                personal,
            };
            return Ok(EventBody::Reserved { reservation, usage_after: leg.usage_after.clone() });
        }
        Ok(EventBody::Posted(Posting {
            kind,
            amount,
            counterparty: counterparty.cloned(),
            debit: debit_leg,
            credit: credit_leg,
        }))
    }
}

impl Ctx<'_> {
    /// The debit side's guards, in order: funds, funds net of reservations, personal limits,
    /// then the policy's buckets.
    fn debit_leg(&self, account: &Account, flow: Flow, amount: Amount) -> Result<Leg, RejectReason> {
        let balance_after = account.balance.checked_sub(amount).ok_or(RejectReason::InsufficientFunds {
            account: account.id,
            balance: account.balance,
            requested: amount,
        })?;
        let reserved = self.state.reserved(account.id);
        if balance_after < reserved {
            return Err(RejectReason::FundsReserved {
                account: account.id,
                balance: account.balance,
                reserved,
                requested: amount,
            });
        }
        self.personal_check(account, flow, amount)?;
        let usage_after = self.usage_after(account, flow, amount)?;
        Ok(Leg { account: account.id, flow, balance_after, usage_after })
    }

    /// The credit side's guards, in order: the policy's buckets, the balance cap, overflow.
    fn credit_leg(&self, account: &Account, flow: Flow, amount: Amount) -> Result<Leg, RejectReason> {
        let usage_after = self.usage_after(account, flow, amount)?;
        let balance_after =
            account.balance.checked_add(amount).ok_or(RejectReason::BalanceOverflow { account: account.id });
        if let Some(cap) = self.policy.rules(account.class).balance_cap
            && !balance_after.as_ref().is_ok_and(|after| *after <= cap)
        {
            return Err(RejectReason::BalanceCapExceeded {
                account: account.id,
                cap,
                balance: account.balance,
                requested: amount,
            });
        }
        Ok(Leg { account: account.id, flow, balance_after: balance_after?, usage_after })
    }

    /// Whether an accepted debit-only outflow waits: held for verification above the large-
    /// transaction threshold, else scheduled by its arrival mode; `None` posts it now.
    fn reservation_stage(&self, flow: Flow, amount: Amount, arrival: Option<Arrival>) -> Option<Stage> {
        let settings = self.state.protection_settings_at(self.at);
        let large = settings.large_transaction_threshold.is_some_and(|threshold| amount > threshold);
        if large && settings.verification_flows.contains(&flow) {
            let expiry_ms = i64::from(settings.hold_expiry_minutes) * 60_000;
            return Some(Stage::AwaitingVerification { expires_at: self.at.plus_millis(expiry_ms).unwrap_or(self.at) });
        }
        arrival.map(|arrival| Stage::Scheduled { due_at: arrival.due_at(self.at, settings) })
    }
}
