//! `decide`: all business logic. Given the state and a command, it returns the events to
//! append; it changes nothing itself, so a rejected command changes nothing at all.
//!
//! Check order (documented in docs/RULES.md, mirrored by the reference model in the tests):
//! retry → time → policy in force → input (amount, texts, same account) → accounts exist and
//! are open → permissions (debit side, then credit side) → first funding from the bound
//! account → funds → debit buckets → credit buckets → balance cap → overflow.

use crate::command::{Binding, Command, CommandBody, ExternalKind};
use crate::event::{BindingProblem, BucketUsage, Event, EventBody, Leg, Period, Posting, PostingKind, RejectReason};
use crate::ids::{AccountClass, AccountId, AccountStatus, CustomerId};
use crate::money::Amount;
use crate::policy::{ClassRules, Flow, Permission, Policy};
use crate::state::{Account, State};
use crate::time::Timestamp;

/// Longest counterparty, merchant, product or binding reference, in characters.
pub const TEXT_CHARS_MAX: u32 = 128;

/// The answer to a command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// New events to append (exactly one per command today).
    Append(Vec<Event>),
    /// The command id was seen before: its answer is the event at this sequence number.
    Retry { seq: u64 },
}

/// Decides `command` against `state`.
pub fn decide(state: &State, command: &Command) -> Decision {
    if let Some(seq) = state.answer_seq(command.id) {
        return Decision::Retry { seq };
    }
    let (at, body) = match decide_body(state, command) {
        Ok(body) => (command.at, body),
        Err(reason) => {
            // A backdated command is recorded at the head's time: the log's times never go back.
            let at = state.head_at().map_or(command.at, |head| head.max(command.at));
            (at, EventBody::Rejected { command: command.body.clone(), reason })
        }
    };
    Decision::Append(vec![Event { command_id: command.id, at, body }])
}

fn decide_body(state: &State, command: &Command) -> Result<EventBody, RejectReason> {
    let at = command.at;
    if let Some(head_at) = state.head_at().filter(|head| at < *head) {
        return Err(RejectReason::TimeBeforeHead { requested_at: at, head_at });
    }
    if let CommandBody::ChangePolicy { effective_from, policy } = &command.body {
        return decide_policy(state, *effective_from, policy);
    }
    let policy = state.policy_at(at).ok_or(RejectReason::NoPolicyInForce)?;
    if command.body.amount().is_some_and(Amount::is_zero) {
        return Err(RejectReason::ZeroAmount);
    }
    let ctx = Ctx { state, policy, at };
    match &command.body {
        CommandBody::OpenAccount { account, customer, class, binding, verified_in_person, with_card } => {
            ctx.open(*account, *customer, *class, binding.as_ref(), *verified_in_person, *with_card)
        }
        CommandBody::CloseAccount { account } => ctx.close(*account),
        CommandBody::CashDeposit { account, amount } => {
            ctx.post(PostingKind::CashDeposit, *amount, None, None, Some((*account, Flow::CashDeposit)))
        }
        CommandBody::CashWithdrawal { account, amount } => {
            ctx.post(PostingKind::CashWithdrawal, *amount, None, Some((*account, Flow::CashWithdrawal)), None)
        }
        CommandBody::InternalTransfer { from, to, amount } => {
            if from == to {
                return Err(RejectReason::SameAccount { account: *from });
            }
            let from_acc = ctx.open_account(*from)?;
            let to_acc = ctx.open_account(*to)?;
            let out_flow = if from_acc.binding == Some(Binding::Account(*to)) {
                Flow::TransferOutBound
            } else {
                Flow::TransferOutOther
            };
            let in_flow = if to_acc.binding == Some(Binding::Account(*from)) {
                Flow::TransferInBound
            } else {
                Flow::TransferInOther
            };
            ctx.post(PostingKind::InternalTransfer, *amount, None, Some((*from, out_flow)), Some((*to, in_flow)))
        }
        CommandBody::InboundTransfer { to, counterparty, amount } => {
            check_text("counterparty", counterparty)?;
            let flow = if bound_to_external(ctx.open_account(*to)?, counterparty) {
                Flow::TransferInBound
            } else {
                Flow::TransferInOther
            };
            ctx.post(PostingKind::InboundTransfer, *amount, Some(counterparty), None, Some((*to, flow)))
        }
        CommandBody::OutboundTransfer { from, counterparty, amount } => {
            check_text("counterparty", counterparty)?;
            let flow = if bound_to_external(ctx.open_account(*from)?, counterparty) {
                Flow::TransferOutBound
            } else {
                Flow::TransferOutOther
            };
            ctx.post(PostingKind::OutboundTransfer, *amount, Some(counterparty), Some((*from, flow)), None)
        }
        CommandBody::Payment { from, merchant, amount } => {
            check_text("merchant", merchant)?;
            ctx.post(PostingKind::Payment, *amount, Some(merchant), Some((*from, Flow::Payment)), None)
        }
        CommandBody::WealthPurchase { account, product, amount } => {
            check_text("product", product)?;
            let debit = Some((*account, Flow::WealthPurchase));
            ctx.post(PostingKind::WealthPurchase, *amount, Some(product), debit, None)
        }
        CommandBody::WealthRedemption { account, product, amount } => {
            check_text("product", product)?;
            let credit = Some((*account, Flow::WealthRedemption));
            ctx.post(PostingKind::WealthRedemption, *amount, Some(product), None, credit)
        }
        CommandBody::ChangePolicy { .. } => Err(RejectReason::NoPolicyInForce),
    }
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

struct Ctx<'a> {
    state: &'a State,
    policy: &'a Policy,
    at: Timestamp,
}

impl<'a> Ctx<'a> {
    fn open_account(&self, id: AccountId) -> Result<&'a Account, RejectReason> {
        let account = self.state.account(id).ok_or(RejectReason::UnknownAccount { account: id })?;
        if account.status == AccountStatus::Closed {
            return Err(RejectReason::AccountClosed { account: id });
        }
        Ok(account)
    }

    fn open(
        &self,
        account: AccountId,
        customer: CustomerId,
        class: AccountClass,
        binding: Option<&Binding>,
        verified_in_person: bool,
        with_card: bool,
    ) -> Result<EventBody, RejectReason> {
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

    fn post(
        &self,
        kind: PostingKind,
        amount: Amount,
        counterparty: Option<&String>,
        debit: Option<(AccountId, Flow)>,
        credit: Option<(AccountId, Flow)>,
    ) -> Result<EventBody, RejectReason> {
        let debit = debit.map(|(id, flow)| self.open_account(id).map(|acc| (acc, flow))).transpose()?;
        let credit = credit.map(|(id, flow)| self.open_account(id).map(|acc| (acc, flow))).transpose()?;
        for (account, flow) in debit.iter().chain(credit.iter()) {
            self.permit(account, *flow)?;
        }
        if let Some((account, flow)) = credit {
            let rules = self.policy.rules(account.class);
            if flow == Flow::TransferInOther && rules.first_inflow_from_bound && !account.funded_from_bound {
                return Err(RejectReason::FirstFundingFromBoundRequired { account: account.id });
            }
        }
        let debit_leg = match debit {
            Some((account, flow)) => {
                let balance_after = account.balance.checked_sub(amount).ok_or(RejectReason::InsufficientFunds {
                    account: account.id,
                    balance: account.balance,
                    requested: amount,
                })?;
                let usage_after = self.usage_after(account, flow, amount)?;
                Some(Leg { account: account.id, flow, balance_after, usage_after })
            }
            None => None,
        };
        let credit_leg = match credit {
            Some((account, flow)) => {
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
                Some(Leg { account: account.id, flow, balance_after: balance_after?, usage_after })
            }
            None => None,
        };
        Ok(EventBody::Posted(Posting {
            kind,
            amount,
            counterparty: counterparty.cloned(),
            debit: debit_leg,
            credit: credit_leg,
        }))
    }
}

/// Decides `command` and applies its events to `state`. Returns the decision.
pub fn execute(state: &mut State, command: &Command) -> crate::error::Result<Decision> {
    let decision = decide(state, command);
    if let Decision::Append(events) = &decision {
        for event in events {
            state.apply(event)?;
        }
    }
    Ok(decision)
}
