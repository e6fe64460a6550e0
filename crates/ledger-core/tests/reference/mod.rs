//! The reference model: the rules of docs/RULES.md written again, small and plain, independent
//! of ledger-core's decide. Shared by the model-based proptest (tests/model.rs) and the stateful
//! fuzz target (fuzz/fuzz_targets/core_model.rs).

#![allow(dead_code, reason = "each includer uses a different part")]

use std::collections::{BTreeMap, HashMap};

use jiff::ToSpan;
use ledger_core::{
    AccountClass, AccountId, Actor, Amount, Arrival, Binding, BindingProblem, Command, CommandBody, CommandId,
    CustomerId, ExternalKind, Flow, Period, Permission, PersonalLimit, Policy, PostingKind, ProtectionSettings,
    RejectReason, Timestamp,
};
use uuid::Uuid;

pub const DAY_MS: i64 = 86_400_000;
const TEXT_CHARS_MAX: usize = 128;

#[derive(Clone, Debug)]
pub struct MAccount {
    pub customer: u64,
    pub class: AccountClass,
    pub open: bool,
    pub binding: Option<Binding>,
    pub verified: bool,
    pub balance: u64,
    funded_from_bound: bool,
    /// bucket -> (beijing day, used that day, beijing year, used that year), in fen.
    usage: BTreeMap<String, (i64, u64, i32, u64)>,
    /// Funds reserved by holds and delayed transfers, in fen.
    pub reserved: u64,
    locks: Vec<(Actor, Vec<Flow>)>,
    /// Night window as Beijing minutes (start, end).
    night: Option<(u16, u16)>,
    per_transaction: Option<u64>,
    per_day: Option<u64>,
    /// (beijing day, personal use that day).
    personal: (i64, u64),
}

/// A held or scheduled outflow.
#[derive(Clone, Debug)]
pub struct MReservation {
    pub account: u64,
    flow: Flow,
    kind: PostingKind,
    counterparty: Option<String>,
    pub amount: u64,
    arrival: Option<Arrival>,
    requested_ms: i64,
    pub awaiting: bool,
    due_ms: i64,
    buckets: Vec<String>,
    personal: bool,
}

#[derive(Default)]
pub struct Model {
    pub accounts: BTreeMap<u64, MAccount>,
    policies: Vec<(i64, Policy)>,
    settings: Vec<(i64, ProtectionSettings)>,
    head_ms: Option<i64>,
    pub answers: HashMap<Uuid, Result<(), RejectReason>>,
    pub inflow_fen: u128,
    pub outflow_fen: u128,
    pub reservations: BTreeMap<Uuid, MReservation>,
    /// Risk-listed counterparty -> the sequence number of the listing event.
    risk: HashMap<String, u64>,
    /// Events in the log so far (answers and due events).
    events: u64,
    /// What came due before the last stepped command, in order: (reservation id, outcome).
    pub last_due: Vec<(Uuid, &'static str)>,
    /// The id of the command being decided.
    current_id: Uuid,
}

fn beijing_day(ms: i64) -> i64 {
    (ms + 8 * 3_600_000).div_euclid(DAY_MS)
}

fn beijing_year(ms: i64) -> i32 {
    let date = jiff::civil::date(1970, 1, 1).checked_add(beijing_day(ms).days()).unwrap();
    i32::from(date.year())
}

pub fn fen(amount: u64) -> Amount {
    Amount::from_fen(amount).unwrap()
}

fn text_ok(text: &str) -> bool {
    !text.trim().is_empty() && text.chars().count() <= TEXT_CHARS_MAX
}

pub type Outcome = Result<(), RejectReason>;

/// The lock that stops `flow` (the bank's before the customer's).
fn lock_for(acc: &MAccount, flow: Flow) -> Option<Actor> {
    let covers = |flows: &Vec<Flow>| flow.is_outflow() && (flows.is_empty() || flows.contains(&flow));
    let bank = acc.locks.iter().any(|(by, flows)| *by == Actor::Bank && covers(flows));
    let customer = acc.locks.iter().any(|(by, flows)| *by == Actor::Customer && covers(flows));
    if bank {
        Some(Actor::Bank)
    } else if customer {
        Some(Actor::Customer)
    } else {
        None
    }
}

/// When a delayed transfer accepted at `ms` is due.
fn due_ms(arrival: Arrival, ms: i64, normal_delay_minutes: u32) -> i64 {
    match arrival {
        Arrival::Normal => ms + i64::from(normal_delay_minutes) * 60_000,
        Arrival::NextDay => (beijing_day(ms) + 1) * DAY_MS - 8 * 3_600_000,
    }
}
/// (bucket, beijing day, used that day, beijing year, used that year), in fen.
type UsageRow = (String, i64, u64, i32, u64);

impl Model {
    fn policy(&self, ms: i64) -> Option<&Policy> {
        self.policies.iter().rev().find(|(from, _)| *from <= ms).map(|(_, policy)| policy)
    }

    fn live(&self, id: AccountId) -> Result<&MAccount, RejectReason> {
        match self.accounts.get(&id.0) {
            None => Err(RejectReason::UnknownAccount { account: id }),
            Some(acc) if !acc.open => Err(RejectReason::AccountClosed { account: id }),
            Some(acc) => Ok(acc),
        }
    }

    /// The decision for `command`, applied to the model when accepted. Holds and delayed
    /// transfers due by the command's time are handled first (recorded in `last_due`).
    pub fn step(&mut self, command: &Command) -> Outcome {
        let ms = command.at.as_millis();
        self.last_due.clear();
        self.current_id = command.id.0;
        if self.head_ms.is_none_or(|head| ms >= head) {
            self.process_due(ms);
        }
        let outcome = self.decide(command, ms);
        self.head_ms = Some(self.head_ms.map_or(ms, |head| head.max(ms)));
        self.answers.insert(command.id.0, outcome.clone());
        self.events += 1;
        outcome
    }

    /// The settings in force at `ms`; before any version: no verification, holds expire after
    /// 30 minutes, normal arrival 2 hours, personal limits and verification on cash withdrawals,
    /// transfers to others and payments, the night lock on every outflow.
    fn settings(&self, ms: i64) -> ProtectionSettings {
        self.settings.iter().rev().find(|(from, _)| *from <= ms).map_or_else(
            || ProtectionSettings {
                large_transaction_threshold: None,
                hold_expiry_minutes: 30,
                normal_arrival_delay_minutes: 120,
                personal_limit_flows: vec![Flow::CashWithdrawal, Flow::TransferOutOther, Flow::Payment],
                verification_flows: vec![Flow::CashWithdrawal, Flow::TransferOutOther, Flow::Payment],
                night_lock_flows: vec![
                    Flow::CashWithdrawal,
                    Flow::TransferOutBound,
                    Flow::TransferOutOther,
                    Flow::Payment,
                    Flow::WealthPurchase,
                ],
            },
            |(_, s)| s.clone(),
        )
    }

    fn process_due(&mut self, ms: i64) {
        loop {
            let next = self.reservations.iter().filter(|(_, r)| r.due_ms <= ms).min_by_key(|(id, r)| (r.due_ms, **id));
            let Some((id, r)) = next.map(|(id, r)| (*id, r.clone())) else { break };
            self.head_ms = Some(self.head_ms.map_or(r.due_ms, |head| head.max(r.due_ms)));
            let outcome = if r.awaiting {
                self.release(id);
                "expired"
            } else if self.stop_reason(&r).is_some() {
                self.release(id);
                "stopped"
            } else {
                self.settle(id);
                "settled"
            };
            self.events += 1;
            self.last_due.push((id, outcome));
        }
    }

    fn stop_reason(&self, r: &MReservation) -> Option<RejectReason> {
        if r.kind == PostingKind::OutboundTransfer
            && let Some(counterparty) = &r.counterparty
            && let Some(seq) = self.risk.get(counterparty)
        {
            return Some(RejectReason::RiskListedCounterparty { counterparty: counterparty.clone(), listed_seq: *seq });
        }
        let acc = &self.accounts[&r.account];
        lock_for(acc, r.flow).map(|by| RejectReason::AccountLocked { account: AccountId(r.account), flow: r.flow, by })
    }

    fn settle(&mut self, id: Uuid) {
        let r = self.reservations.remove(&id).unwrap();
        let acc = self.accounts.get_mut(&r.account).unwrap();
        acc.balance -= r.amount;
        acc.reserved -= r.amount;
        self.outflow_fen += u128::from(r.amount);
    }

    fn release(&mut self, id: Uuid) {
        let r = self.reservations.remove(&id).unwrap();
        let acc = self.accounts.get_mut(&r.account).unwrap();
        acc.reserved -= r.amount;
        let (day, year) = (beijing_day(r.requested_ms), beijing_year(r.requested_ms));
        for name in &r.buckets {
            if let Some((d, du, y, yu)) = acc.usage.get_mut(name)
                && *y == year
            {
                *yu = yu.saturating_sub(r.amount);
                if *d == day {
                    *du = du.saturating_sub(r.amount);
                }
            }
        }
        if r.personal && acc.personal.0 == day {
            acc.personal.1 = acc.personal.1.saturating_sub(r.amount);
        }
    }

    fn pending(&self, id: CommandId, awaiting_only: bool) -> Result<MReservation, RejectReason> {
        let r = self.reservations.get(&id.0).ok_or(RejectReason::UnknownPending { id })?;
        if awaiting_only && !r.awaiting {
            let detail = "it is a scheduled transfer, not a hold awaiting verification".to_owned();
            return Err(RejectReason::PendingActionNotAllowed { id, detail });
        }
        Ok(r.clone())
    }

    /// Protection commands decided before the policy check; `None` for every other command.
    fn decide_early(&mut self, command: &Command, ms: i64) -> Option<Outcome> {
        use CommandBody as C;
        let bad_text =
            |field: &str| RejectReason::InvalidText { field: field.into(), max_chars: TEXT_CHARS_MAX as u32 };
        Some(match &command.body {
            C::ChangeProtections { effective_from, settings } => {
                if settings.large_transaction_threshold.is_some_and(|t| t.fen() == 0) {
                    return Some(Err(RejectReason::InvalidProtection {
                        detail: "large_transaction_threshold is zero".into(),
                    }));
                }
                if settings.hold_expiry_minutes == 0 || settings.normal_arrival_delay_minutes == 0 {
                    return Some(Err(RejectReason::InvalidProtection {
                        detail: "hold_expiry_minutes and normal_arrival_delay_minutes must be above zero".into(),
                    }));
                }
                for (name, flows) in [
                    ("personal_limit_flows", &settings.personal_limit_flows),
                    ("verification_flows", &settings.verification_flows),
                    ("night_lock_flows", &settings.night_lock_flows),
                ] {
                    if let Some(flow) = flows.iter().find(|flow| !flow.is_outflow()) {
                        let detail = format!("{name}: {flow} is not an outflow");
                        return Some(Err(RejectReason::InvalidProtection { detail }));
                    }
                }
                let from = effective_from.as_millis();
                if let Some(head) = self.head_ms.filter(|head| from < *head) {
                    return Some(Err(RejectReason::PolicyEffectiveInPast {
                        effective_from: *effective_from,
                        head_at: Timestamp::from_millis(head).unwrap(),
                    }));
                }
                self.settings.retain(|(at, _)| *at < from);
                self.settings.push((from, settings.clone()));
                Ok(())
            }
            C::Tick => Ok(()),
            C::ListRisk { counterparty, reason, source } | C::UnlistRisk { counterparty, reason, source } => {
                for (field, text) in [("counterparty", counterparty), ("reason", reason), ("source", source)] {
                    if !text_ok(text) {
                        return Some(Err(bad_text(field)));
                    }
                }
                let listing = matches!(command.body, C::ListRisk { .. });
                let listed = self.risk.contains_key(counterparty);
                if listing == listed {
                    return Some(Err(RejectReason::RiskListUnchanged { counterparty: counterparty.clone(), listed }));
                }
                if listing {
                    self.risk.insert(counterparty.clone(), self.events + 1);
                } else {
                    self.risk.remove(counterparty);
                }
                Ok(())
            }
            C::ConfirmHold { hold } => {
                let r = match self.pending(*hold, true) {
                    Ok(r) => r,
                    Err(reason) => return Some(Err(reason)),
                };
                match r.arrival {
                    Some(arrival) => {
                        let due_ms = due_ms(arrival, ms, self.settings(ms).normal_arrival_delay_minutes);
                        let r = self.reservations.get_mut(&hold.0).unwrap();
                        r.awaiting = false;
                        r.due_ms = due_ms;
                    }
                    None => {
                        if let Some(reason) = self.stop_reason(&r) {
                            return Some(Err(reason));
                        }
                        self.settle(hold.0);
                    }
                }
                Ok(())
            }
            C::DeclineHold { hold } => match self.pending(*hold, true) {
                Ok(_) => {
                    self.release(hold.0);
                    Ok(())
                }
                Err(reason) => Err(reason),
            },
            C::CancelTransfer { transfer } => match self.pending(*transfer, false) {
                Ok(r) if r.arrival.is_none() => Err(RejectReason::PendingActionNotAllowed {
                    id: *transfer,
                    detail: "a real-time outflow held for verification is declined, not cancelled".into(),
                }),
                Ok(_) => {
                    self.release(transfer.0);
                    Ok(())
                }
                Err(reason) => Err(reason),
            },
            _ => return None,
        })
    }

    fn decide(&mut self, command: &Command, ms: i64) -> Outcome {
        if let Some(head) = self.head_ms.filter(|head| ms < *head) {
            return Err(RejectReason::TimeBeforeHead {
                requested_at: command.at,
                head_at: Timestamp::from_millis(head).unwrap(),
            });
        }
        if let CommandBody::ChangePolicy { effective_from, policy } = &command.body {
            if let Err(err) = policy.validate() {
                return Err(RejectReason::InvalidPolicy { detail: err.to_string() });
            }
            let from = effective_from.as_millis();
            if let Some(head) = self.head_ms.filter(|head| from < *head) {
                return Err(RejectReason::PolicyEffectiveInPast {
                    effective_from: *effective_from,
                    head_at: Timestamp::from_millis(head).unwrap(),
                });
            }
            self.policies.retain(|(at, _)| *at < from);
            self.policies.push((from, (**policy).clone()));
            return Ok(());
        }
        if let Some(outcome) = self.decide_early(command, ms) {
            return outcome;
        }
        let policy = self.policy(ms).cloned().ok_or(RejectReason::NoPolicyInForce)?;
        if command.body.amount().is_some_and(|amount| amount.fen() == 0) {
            return Err(RejectReason::ZeroAmount);
        }
        use CommandBody as C;
        let bad_text =
            |field: &str| RejectReason::InvalidText { field: field.into(), max_chars: TEXT_CHARS_MAX as u32 };
        match &command.body {
            C::OpenAccount { account, customer, class, binding, verified_in_person, with_card } => {
                self.open(&policy, *account, *customer, *class, binding, *verified_in_person, *with_card)
            }
            C::CloseAccount { account } => {
                let acc = self.live(*account)?;
                if acc.balance != 0 {
                    return Err(RejectReason::NonZeroBalance { account: *account, balance: fen(acc.balance) });
                }
                let dependents = self
                    .accounts
                    .values()
                    .filter(|other| other.open && other.binding == Some(Binding::Account(*account)))
                    .count() as u32;
                if dependents > 0 {
                    return Err(RejectReason::BoundAccountsOpen { account: *account, open: dependents });
                }
                self.accounts.get_mut(&account.0).unwrap().open = false;
                Ok(())
            }
            C::CashDeposit { account, amount } => self.post(
                &policy,
                ms,
                PostingKind::CashDeposit,
                amount.fen(),
                None,
                Some((*account, Flow::CashDeposit)),
            ),
            C::CashWithdrawal { account, amount } => self.post(
                &policy,
                ms,
                PostingKind::CashWithdrawal,
                amount.fen(),
                Some((*account, Flow::CashWithdrawal)),
                None,
            ),
            C::DelayedTransfer { from, counterparty, amount, arrival } => {
                if !text_ok(counterparty) {
                    return Err(bad_text("counterparty"));
                }
                let bound = matches!(&self.live(*from)?.binding, Some(Binding::External { reference, .. }) if reference == counterparty);
                let flow = if bound { Flow::TransferOutBound } else { Flow::TransferOutOther };
                self.post_with(
                    &policy,
                    ms,
                    command.id.0,
                    PostingKind::OutboundTransfer,
                    amount.fen(),
                    Some(counterparty.clone()),
                    Some((*from, flow)),
                    None,
                    Some(*arrival),
                )
            }
            C::LockAccount { account, by, flows, reason } => {
                self.live(*account)?;
                if !text_ok(reason) {
                    return Err(bad_text("reason"));
                }
                if let Some(flow) = flows.iter().find(|flow| !flow.is_outflow()) {
                    return Err(RejectReason::InvalidProtection { detail: format!("{flow} is not an outflow") });
                }
                let acc = self.accounts.get_mut(&account.0).unwrap();
                acc.locks.retain(|(held, _)| held != by);
                acc.locks.push((*by, flows.clone()));
                Ok(())
            }
            C::UnlockAccount { account, by } => {
                let acc = self.live(*account)?;
                if !acc.locks.iter().any(|(held, _)| held == by) {
                    return Err(RejectReason::NotLocked { account: *account, by: *by });
                }
                self.accounts.get_mut(&account.0).unwrap().locks.retain(|(held, _)| held != by);
                Ok(())
            }
            C::SetNightLock { account, window } => {
                self.live(*account)?;
                if window.is_some_and(|w| w.start == w.end) {
                    return Err(RejectReason::InvalidProtection {
                        detail: "the night window's start and end are the same time".into(),
                    });
                }
                self.accounts.get_mut(&account.0).unwrap().night =
                    window.map(|w| (w.start.minute_of_day(), w.end.minute_of_day()));
                Ok(())
            }
            C::SetPersonalLimits { account, limits } => {
                let class = self.live(*account)?.class;
                let (per_transaction, per_day) = (limits.per_transaction, limits.per_day);
                if per_transaction.is_some_and(|c| c.fen() == 0) || per_day.is_some_and(|c| c.fen() == 0) {
                    return Err(RejectReason::InvalidProtection {
                        detail: "a personal limit of zero: lock the account instead".into(),
                    });
                }
                if let (Some(t), Some(d)) = (per_transaction, per_day)
                    && t > d
                {
                    return Err(RejectReason::InvalidProtection {
                        detail: format!("per-transaction limit {t} is above the per-day limit {d}"),
                    });
                }
                let personal_flows = self.settings(ms).personal_limit_flows;
                let ceiling = policy
                    .rules(class)
                    .buckets
                    .iter()
                    .filter(|b| b.flows.iter().any(|f| personal_flows.contains(f)))
                    .filter_map(|b| b.day_cap)
                    .min();
                if let Some(policy_cap) = ceiling {
                    for (limit, cap) in
                        [(PersonalLimit::PerTransaction, per_transaction), (PersonalLimit::PerDay, per_day)]
                    {
                        if let Some(requested) = cap.filter(|cap| *cap > policy_cap) {
                            return Err(RejectReason::PersonalLimitAbovePolicy {
                                account: *account,
                                limit,
                                requested,
                                policy_cap,
                            });
                        }
                    }
                }
                let acc = self.accounts.get_mut(&account.0).unwrap();
                acc.per_transaction = per_transaction.map(|c| c.fen());
                acc.per_day = per_day.map(|c| c.fen());
                Ok(())
            }
            C::InternalTransfer { from, to, amount } => {
                if from == to {
                    return Err(RejectReason::SameAccount { account: *from });
                }
                let out_bound = self.live(*from)?.binding == Some(Binding::Account(*to));
                let in_bound = self.live(*to)?.binding == Some(Binding::Account(*from));
                let out = if out_bound { Flow::TransferOutBound } else { Flow::TransferOutOther };
                let inn = if in_bound { Flow::TransferInBound } else { Flow::TransferInOther };
                self.post(
                    &policy,
                    ms,
                    PostingKind::InternalTransfer,
                    amount.fen(),
                    Some((*from, out)),
                    Some((*to, inn)),
                )
            }
            C::InboundTransfer { to, counterparty, amount } => {
                if !text_ok(counterparty) {
                    return Err(bad_text("counterparty"));
                }
                let bound = matches!(&self.live(*to)?.binding, Some(Binding::External { reference, .. }) if reference == counterparty);
                let flow = if bound { Flow::TransferInBound } else { Flow::TransferInOther };
                self.post(&policy, ms, PostingKind::InboundTransfer, amount.fen(), None, Some((*to, flow)))
            }
            C::OutboundTransfer { from, counterparty, amount } => {
                if !text_ok(counterparty) {
                    return Err(bad_text("counterparty"));
                }
                let bound = matches!(&self.live(*from)?.binding, Some(Binding::External { reference, .. }) if reference == counterparty);
                let flow = if bound { Flow::TransferOutBound } else { Flow::TransferOutOther };
                let id = command.id.0;
                let text = Some(counterparty.clone());
                let debit = Some((*from, flow));
                self.post_with(&policy, ms, id, PostingKind::OutboundTransfer, amount.fen(), text, debit, None, None)
            }
            C::Payment { from, merchant, amount } => {
                if !text_ok(merchant) {
                    return Err(bad_text("merchant"));
                }
                let (id, text, debit) = (command.id.0, Some(merchant.clone()), Some((*from, Flow::Payment)));
                self.post_with(&policy, ms, id, PostingKind::Payment, amount.fen(), text, debit, None, None)
            }
            C::WealthPurchase { account, product, amount } => {
                if !text_ok(product) {
                    return Err(bad_text("product"));
                }
                self.post(
                    &policy,
                    ms,
                    PostingKind::WealthPurchase,
                    amount.fen(),
                    Some((*account, Flow::WealthPurchase)),
                    None,
                )
            }
            C::WealthRedemption { account, product, amount } => {
                if !text_ok(product) {
                    return Err(bad_text("product"));
                }
                self.post(
                    &policy,
                    ms,
                    PostingKind::WealthRedemption,
                    amount.fen(),
                    None,
                    Some((*account, Flow::WealthRedemption)),
                )
            }
            _ => unreachable!("decided early"),
        }
    }

    #[allow(clippy::too_many_arguments, reason = "mirrors the command's fields")]
    fn open(
        &mut self,
        policy: &Policy,
        account: AccountId,
        customer: CustomerId,
        class: AccountClass,
        binding: &Option<Binding>,
        verified: bool,
        with_card: bool,
    ) -> Outcome {
        if self.accounts.contains_key(&account.0) {
            return Err(RejectReason::AccountExists { account });
        }
        let rules = policy.rules(class);
        if let Some(max_open) = rules.max_open_accounts {
            let open =
                self.accounts.values().filter(|a| a.customer == customer.0 && a.class == class && a.open).count();
            if open >= max_open as usize {
                return Err(RejectReason::AccountCountExceeded { customer, class, max_open });
            }
        }
        match (rules.binding.required, binding) {
            (true, None) => return Err(RejectReason::BindingRequired { class }),
            (false, Some(_)) => return Err(RejectReason::BindingNotAllowed { class }),
            (true, Some(Binding::Account(bound))) => {
                let problem = match self.accounts.get(&bound.0) {
                    None => Some(BindingProblem::UnknownAccount),
                    Some(b) if !b.open => Some(BindingProblem::AccountClosed),
                    Some(b) if b.class != AccountClass::I => Some(BindingProblem::NotClassI),
                    Some(b) if b.customer != customer.0 => Some(BindingProblem::OtherCustomer),
                    Some(_) => None,
                };
                if let Some(problem) = problem {
                    return Err(RejectReason::InvalidBinding { problem });
                }
            }
            (true, Some(Binding::External { kind, reference })) => {
                if !text_ok(reference) {
                    return Err(RejectReason::InvalidBinding { problem: BindingProblem::BadReference });
                }
                if *kind == ExternalKind::CreditCard && !rules.binding.credit_card_allowed {
                    return Err(RejectReason::InvalidBinding { problem: BindingProblem::CreditCardNotAllowed });
                }
            }
            (false, None) => {}
        }
        if with_card {
            match rules.card {
                Permission::Allowed => {}
                Permission::InPersonOnly if verified => {}
                Permission::InPersonOnly => {
                    return Err(RejectReason::InPersonVerificationRequired { class, flow: None });
                }
                Permission::Forbidden => return Err(RejectReason::CardNotAllowed { class }),
            }
        }
        self.accounts.insert(
            account.0,
            MAccount {
                customer: customer.0,
                class,
                open: true,
                binding: binding.clone(),
                verified,
                balance: 0,
                funded_from_bound: false,
                usage: BTreeMap::new(),
                reserved: 0,
                locks: Vec::new(),
                night: None,
                per_transaction: None,
                per_day: None,
                personal: (0, 0),
            },
        );
        Ok(())
    }

    fn check_buckets(
        &self,
        policy: &Policy,
        ms: i64,
        id: AccountId,
        flow: Flow,
        amount: u64,
    ) -> Result<Vec<UsageRow>, RejectReason> {
        let acc = &self.accounts[&id.0];
        let (day, year) = (beijing_day(ms), beijing_year(ms));
        let mut out = Vec::new();
        for bucket in policy.rules(acc.class).buckets.iter().filter(|b| b.flows.contains(&flow)) {
            let (d, du, y, yu) = acc.usage.get(&bucket.name).cloned().unwrap_or((day, 0, year, 0));
            let day_used = if d == day && y == year { du } else { 0 };
            let year_used = if y == year { yu } else { 0 };
            for (period, cap, used) in
                [(Period::Day, bucket.day_cap, day_used), (Period::Year, bucket.year_cap, year_used)]
            {
                if let Some(cap) = cap
                    && used + amount > cap.fen()
                {
                    return Err(RejectReason::LimitExceeded {
                        account: id,
                        bucket: bucket.name.clone(),
                        period,
                        cap,
                        used: fen(used),
                        requested: fen(amount),
                    });
                }
            }
            out.push((bucket.name.clone(), day, day_used + amount, year, year_used + amount));
        }
        Ok(out)
    }

    fn post(
        &mut self,
        policy: &Policy,
        ms: i64,
        kind: PostingKind,
        amount: u64,
        debit: Option<(AccountId, Flow)>,
        credit: Option<(AccountId, Flow)>,
    ) -> Outcome {
        self.post_with(policy, ms, self.current_id, kind, amount, None, debit, credit, None)
    }

    #[allow(clippy::too_many_arguments, reason = "the posting's parts")]
    fn post_with(
        &mut self,
        policy: &Policy,
        ms: i64,
        id: Uuid,
        kind: PostingKind,
        amount: u64,
        counterparty: Option<String>,
        debit: Option<(AccountId, Flow)>,
        credit: Option<(AccountId, Flow)>,
        arrival: Option<Arrival>,
    ) -> Outcome {
        for (id, _) in debit.iter().chain(credit.iter()) {
            self.live(*id)?;
        }
        for (id, flow) in debit.iter().chain(credit.iter()) {
            let acc = &self.accounts[&id.0];
            match policy.rules(acc.class).permission(*flow) {
                Permission::Allowed => {}
                Permission::InPersonOnly if acc.verified => {}
                Permission::InPersonOnly => {
                    return Err(RejectReason::InPersonVerificationRequired { class: acc.class, flow: Some(*flow) });
                }
                Permission::Forbidden => {
                    return Err(RejectReason::FlowNotAllowed { account: *id, class: acc.class, flow: *flow });
                }
            }
        }
        if let Some((id, flow)) = debit {
            let acc = &self.accounts[&id.0];
            if let Some(by) = lock_for(acc, flow) {
                return Err(RejectReason::AccountLocked { account: id, flow, by });
            }
            if let Some((start, end)) = acc.night.filter(|_| self.settings(ms).night_lock_flows.contains(&flow)) {
                let minute = ((ms + 8 * 3_600_000).rem_euclid(DAY_MS) / 60_000) as u16;
                let inside =
                    if start <= end { start <= minute && minute < end } else { minute >= start || minute < end };
                if inside {
                    let window = ledger_core::NightWindow {
                        start: ledger_core::ClockTime::new(start / 60, start % 60).unwrap(),
                        end: ledger_core::ClockTime::new(end / 60, end % 60).unwrap(),
                    };
                    return Err(RejectReason::NightLocked { account: id, flow, window });
                }
            }
            if kind == PostingKind::OutboundTransfer
                && let Some(counterparty) = &counterparty
                && let Some(seq) = self.risk.get(counterparty)
            {
                return Err(RejectReason::RiskListedCounterparty {
                    counterparty: counterparty.clone(),
                    listed_seq: *seq,
                });
            }
        }
        if let Some((id, flow)) = credit {
            let acc = &self.accounts[&id.0];
            if flow == Flow::TransferInOther
                && policy.rules(acc.class).first_inflow_from_bound
                && !acc.funded_from_bound
            {
                return Err(RejectReason::FirstFundingFromBoundRequired { account: id });
            }
        }
        let mut debit_usage = Vec::new();
        if let Some((id, flow)) = debit {
            let balance = self.accounts[&id.0].balance;
            if balance < amount {
                return Err(RejectReason::InsufficientFunds {
                    account: id,
                    balance: fen(balance),
                    requested: fen(amount),
                });
            }
            let acc = &self.accounts[&id.0];
            if balance - amount < acc.reserved {
                return Err(RejectReason::FundsReserved {
                    account: id,
                    balance: fen(balance),
                    reserved: fen(acc.reserved),
                    requested: fen(amount),
                });
            }
            if self.settings(ms).personal_limit_flows.contains(&flow) {
                if let Some(cap) = acc.per_transaction.filter(|cap| amount > *cap) {
                    return Err(RejectReason::PersonalLimitExceeded {
                        account: id,
                        limit: PersonalLimit::PerTransaction,
                        cap: fen(cap),
                        used: fen(0),
                        requested: fen(amount),
                    });
                }
                if let Some(cap) = acc.per_day {
                    let used = if acc.personal.0 == beijing_day(ms) { acc.personal.1 } else { 0 };
                    if used + amount > cap {
                        return Err(RejectReason::PersonalLimitExceeded {
                            account: id,
                            limit: PersonalLimit::PerDay,
                            cap: fen(cap),
                            used: fen(used),
                            requested: fen(amount),
                        });
                    }
                }
            }
            debit_usage = self.check_buckets(policy, ms, id, flow, amount)?;
        }
        let mut credit_usage = Vec::new();
        if let Some((id, flow)) = credit {
            credit_usage = self.check_buckets(policy, ms, id, flow, amount)?;
            let acc = &self.accounts[&id.0];
            let after = acc.balance + amount;
            if let Some(cap) = policy.rules(acc.class).balance_cap
                && (after > cap.fen() || after > Amount::MAX_FEN)
            {
                return Err(RejectReason::BalanceCapExceeded {
                    account: id,
                    cap,
                    balance: fen(acc.balance),
                    requested: fen(amount),
                });
            }
            if after > Amount::MAX_FEN {
                return Err(RejectReason::BalanceOverflow { account: id });
            }
        }
        if let (Some((account, flow)), None) = (debit, credit) {
            let settings = self.settings(ms);
            let (expiry_minutes, delay_minutes) = (settings.hold_expiry_minutes, settings.normal_arrival_delay_minutes);
            let personal_flow = settings.personal_limit_flows.contains(&flow);
            let threshold = settings.large_transaction_threshold.map(|t| t.fen());
            let large = threshold.is_some_and(|t| amount > t) && settings.verification_flows.contains(&flow);
            let stage = if large {
                Some((true, ms + i64::from(expiry_minutes) * 60_000))
            } else {
                arrival.map(|arrival| (false, due_ms(arrival, ms, delay_minutes)))
            };
            if let Some((awaiting, due_ms)) = stage {
                let acc = self.accounts.get_mut(&account.0).unwrap();
                let personal = personal_flow && acc.per_day.is_some();
                if personal {
                    let day = beijing_day(ms);
                    let used = if acc.personal.0 == day { acc.personal.1 } else { 0 };
                    acc.personal = (day, used + amount);
                }
                acc.reserved += amount;
                let mut buckets = Vec::new();
                for (name, day, du, year, yu) in debit_usage {
                    buckets.push(name.clone());
                    acc.usage.insert(name, (day, du, year, yu));
                }
                self.reservations.insert(
                    id,
                    MReservation {
                        account: account.0,
                        flow,
                        kind,
                        counterparty,
                        amount,
                        arrival,
                        requested_ms: ms,
                        awaiting,
                        due_ms,
                        buckets,
                        personal,
                    },
                );
                return Ok(());
            }
        }
        let personal_flows = self.settings(ms).personal_limit_flows;
        for ((id, flow), usage, sign) in [(debit, debit_usage, -1i8), (credit, credit_usage, 1)]
            .into_iter()
            .filter_map(|(side, usage, sign)| side.map(|s| (s, usage, sign)))
        {
            let acc = self.accounts.get_mut(&id.0).unwrap();
            if sign < 0 {
                acc.balance -= amount;
                if acc.per_day.is_some() && personal_flows.contains(&flow) {
                    let day = beijing_day(ms);
                    let used = if acc.personal.0 == day { acc.personal.1 } else { 0 };
                    acc.personal = (day, used + amount);
                }
            } else {
                acc.balance += amount
            }
            if flow == Flow::TransferInBound {
                acc.funded_from_bound = true;
            }
            for (name, day, du, year, yu) in usage {
                acc.usage.insert(name, (day, du, year, yu));
            }
        }
        match kind {
            PostingKind::CashDeposit | PostingKind::InboundTransfer | PostingKind::WealthRedemption => {
                self.inflow_fen += u128::from(amount)
            }
            PostingKind::CashWithdrawal
            | PostingKind::OutboundTransfer
            | PostingKind::Payment
            | PostingKind::WealthPurchase => self.outflow_fen += u128::from(amount),
            PostingKind::InternalTransfer => {}
        }
        Ok(())
    }
}
