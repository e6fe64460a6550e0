//! The reference model: the rules of docs/RULES.md written again, small and plain, independent
//! of ledger-core's decide. Shared by the model-based proptest (tests/model.rs) and the stateful
//! fuzz target (fuzz/fuzz_targets/core_model.rs).

#![allow(dead_code, reason = "each includer uses a different part")]

use std::collections::{BTreeMap, HashMap};

use jiff::ToSpan;
use ledger_core::{
    AccountClass, AccountId, Amount, Binding, BindingProblem, Command, CommandBody, CustomerId, ExternalKind, Flow,
    Period, Permission, Policy, PostingKind, RejectReason, Timestamp,
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
}

#[derive(Default)]
pub struct Model {
    pub accounts: BTreeMap<u64, MAccount>,
    policies: Vec<(i64, Policy)>,
    head_ms: Option<i64>,
    pub answers: HashMap<Uuid, Result<(), RejectReason>>,
    pub inflow_fen: u128,
    pub outflow_fen: u128,
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

    /// The decision for `command`, applied to the model when accepted.
    pub fn step(&mut self, command: &Command) -> Outcome {
        let ms = command.at.as_millis();
        let outcome = self.decide(command, ms);
        self.head_ms = Some(self.head_ms.map_or(ms, |head| head.max(ms)));
        self.answers.insert(command.id.0, outcome.clone());
        outcome
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
                self.post(&policy, ms, PostingKind::OutboundTransfer, amount.fen(), Some((*from, flow)), None)
            }
            C::Payment { from, merchant, amount } => {
                if !text_ok(merchant) {
                    return Err(bad_text("merchant"));
                }
                self.post(&policy, ms, PostingKind::Payment, amount.fen(), Some((*from, Flow::Payment)), None)
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
            C::ChangePolicy { .. } => unreachable!(),
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
        for ((id, flow), usage, sign) in [(debit, debit_usage, -1i8), (credit, credit_usage, 1)]
            .into_iter()
            .filter_map(|(side, usage, sign)| side.map(|s| (s, usage, sign)))
        {
            let acc = self.accounts.get_mut(&id.0).unwrap();
            if sign < 0 {
                acc.balance -= amount
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
