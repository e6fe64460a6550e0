//! Model-based property test: random command sequences (many customers, all classes, times
//! that cross Beijing midnight and New Year, retries, backdated commands, policy changes) run
//! against ledger-core and against a small reference model written here from docs/RULES.md.
//! Every decision (with its figures) and every balance must agree, and the invariants hold:
//! no bucket above its cap, money conserved, log times non-decreasing, retries answered
//! identically, replay of the events equal to the live state. Protections are in the mix:
//! locks, night lock, personal limits, risk list, large-transaction holds (confirmed, declined,
//! expired) and delayed transfers (executed, cancelled, stopped); what comes due must agree
//! too, and for every account reserved ≤ balance (held + available = balance) with the
//! reserved total equal to its pending outflows. Every step is also decided over a fresh paged
//! view and over a paged view kept across steps and cut after each to a few accounts and
//! answers (CLOCK eviction, pinned accounts kept, as the writer's cache): both decide the same.

#![expect(clippy::unwrap_used, reason = "the reference model fails loudly; proptest reports the sequence")]

use std::collections::{BTreeMap, HashMap};

use ledger_core::{
    AccountClass, AccountId, Actor, Amount, Arrival, Binding, ClockTime, Command, CommandBody, CommandId, CustomerId,
    Decision, Event, EventBody, ExternalKind, Flow, NightWindow, PersonalLimits, Policy, ProtectionSettings,
    RejectReason, Release, Stage, State, Timestamp,
};
use proptest::prelude::*;
use uuid::Uuid;

mod reference;

use reference::{DAY_MS, Model, fen};

// ---------------------------------------------------------------------------------------------
// Generators.

#[derive(Clone, Debug)]
enum Op {
    Open { account: u64, customer: u64, class: AccountClass, binding: Option<Binding>, verified: bool, card: bool },
    Close(u64),
    Deposit(u64, u64),
    Withdraw(u64, u64),
    Transfer(u64, u64, u64),
    Inbound(u64, String, u64),
    Outbound(u64, String, u64),
    Pay(u64, u64),
    Buy(u64, u64),
    Redeem(u64, u64),
    Policy { preset: &'static str, delay_ms: i64 },
    Retry(usize),
    Delayed(u64, String, u64, bool),
    Confirm(usize),
    Decline(usize),
    Cancel(usize),
    Tick,
    Lock(u64, bool, Vec<Flow>),
    Unlock(u64, bool),
    Night(u64, Option<(u16, u16)>),
    Limits(u64, Option<u64>, Option<u64>),
    Risk(bool, String),
    Protections { threshold_fen: Option<u64>, delay_ms: i64, flows: u8 },
}

/// Account ids are `customer * 10 + slot` for customers 1..=4 and slots 0..=3; slot 0 is meant
/// for the customer's Class I account, so most generated bindings and transfers are plausible.
fn account() -> impl Strategy<Value = u64> {
    (1u64..=4, 0u64..=3).prop_map(|(customer, slot)| customer * 10 + slot)
}

fn amount_fen() -> impl Strategy<Value = u64> {
    prop_oneof![
        3 => 1u64..=300_000,
        2 => 999_000u64..=1_000_100,
        1 => Just(200_000u64),
        1 => Just(1_000_000u64),
        1 => 1u64..=25_000_000,
        1 => Just(0u64),
    ]
}

fn counterparty() -> impl Strategy<Value = String> {
    prop_oneof![8 => (0u8..4).prop_map(|n| format!("EXT-{n}")), 1 => Just(String::new()), 1 => Just("y".repeat(129))]
}

fn class() -> impl Strategy<Value = AccountClass> {
    prop_oneof![Just(AccountClass::I), Just(AccountClass::II), Just(AccountClass::III)]
}

fn open_op() -> impl Strategy<Value = Op> {
    let binding = prop_oneof![
        6 => Just(None), // replaced by the own Class I account below
        1 => Just(Some(Binding::Account(AccountId(0)))), // replaced by a random account below
        2 => (any::<bool>(), 0u8..4).prop_map(|(card, n)| Some(Binding::External {
            kind: if card { ExternalKind::CreditCard } else { ExternalKind::ClassI },
            reference: format!("EXT-{n}"),
        })),
    ];
    (
        account(),
        prop::bool::weighted(0.9),
        class(),
        prop::bool::weighted(0.85),
        binding,
        account(),
        prop::bool::weighted(0.8),
        prop::bool::weighted(0.2),
    )
        .prop_map(|(account, usual, any_class, usual_class, binding, other, verified, card)| {
            let customer = if usual { account / 10 } else { other / 10 };
            let class = if !usual_class {
                any_class
            } else {
                match account % 10 {
                    0 => AccountClass::I,
                    1 | 2 => AccountClass::II,
                    _ => AccountClass::III,
                }
            };
            let binding = match binding {
                None if class == AccountClass::I => None,
                None => Some(Binding::Account(AccountId(account / 10 * 10))),
                Some(Binding::Account(_)) => Some(Binding::Account(AccountId(other))),
                external => external,
            };
            Op::Open { account, customer, class, binding, verified, card }
        })
}

fn op() -> impl Strategy<Value = Op> {
    let id = account;
    prop_oneof![
        3 => open_op(),
        1 => id().prop_map(Op::Close),
        4 => (id(), amount_fen()).prop_map(|(a, m)| Op::Deposit(a, m)),
        2 => (id(), amount_fen()).prop_map(|(a, m)| Op::Withdraw(a, m)),
        10 => (id(), id(), amount_fen()).prop_map(|(a, b, m)| Op::Transfer(a, b, m)),
        3 => (id(), counterparty(), amount_fen()).prop_map(|(a, c, m)| Op::Inbound(a, c, m)),
        3 => (id(), counterparty(), amount_fen()).prop_map(|(a, c, m)| Op::Outbound(a, c, m)),
        6 => (id(), amount_fen()).prop_map(|(a, m)| Op::Pay(a, m)),
        1 => (id(), amount_fen()).prop_map(|(a, m)| Op::Buy(a, m)),
        1 => (id(), amount_fen()).prop_map(|(a, m)| Op::Redeem(a, m)),
        1 => (prop_oneof![Just("default"), Just("pboc-2018"), Just("pboc-2016"), Just("tight")], prop_oneof![Just(0i64), Just(3_600_000), Just(DAY_MS), Just(-60_000)])
            .prop_map(|(preset, delay_ms)| Op::Policy { preset, delay_ms }),
        2 => any::<usize>().prop_map(Op::Retry),
        3 => (id(), counterparty(), amount_fen(), any::<bool>()).prop_map(|(a, c, m, n)| Op::Delayed(a, c, m, n)),
        // Reserve most of a Class III balance, so later outflows meet reserved funds.
        1 => (1u64..=4, any::<bool>()).prop_map(|(c, n)| Op::Delayed(c * 10 + 3, "EXT-1".into(), 70_000, n)),
        2 => any::<usize>().prop_map(Op::Confirm),
        1 => any::<usize>().prop_map(Op::Decline),
        2 => any::<usize>().prop_map(Op::Cancel),
        1 => Just(Op::Tick),
        1 => (id(), any::<bool>(), prop_oneof![3 => Just(vec![]), 1 => Just(vec![Flow::Payment]), 1 => Just(vec![Flow::TransferOutOther]), 1 => Just(vec![Flow::CashDeposit])])
            .prop_map(|(a, bank, flows)| Op::Lock(a, bank, flows)),
        1 => (id(), any::<bool>()).prop_map(|(a, bank)| Op::Unlock(a, bank)),
        1 => (id(), prop_oneof![Just(None), Just(Some((23 * 60, 6 * 60))), Just(Some((12 * 60, 13 * 60))), Just(Some((60, 60)))])
            .prop_map(|(a, window)| Op::Night(a, window)),
        1 => (id(), prop_oneof![Just(None), Just(Some(50_000u64)), Just(Some(200_000)), Just(Some(0))], prop_oneof![Just(None), Just(Some(300_000u64)), Just(Some(900_000)), Just(Some(2_000_000))])
            .prop_map(|(a, t, d)| Op::Limits(a, t, d)),
        1 => (any::<bool>(), counterparty()).prop_map(|(list, c)| Op::Risk(list, c)),
        1 => (prop_oneof![Just(None), Just(Some(100_000u64)), Just(Some(500_000)), Just(Some(0))], prop_oneof![Just(0i64), Just(3_600_000), Just(-60_000)], 0u8..5)
            .prop_map(|(threshold_fen, delay_ms, flows)| Op::Protections { threshold_fen, delay_ms, flows }),
    ]
}

/// Each customer's Class I (funded), one Class II and one Class III bound to it, both funded
/// from the bound account (but customer 4's Class III): the starting point of every sequence.
fn prologue() -> Vec<(i64, Op)> {
    let mut ops = Vec::new();
    for customer in 1..=4u64 {
        let base = customer * 10;
        let bound = Some(Binding::Account(AccountId(base)));
        ops.push(Op::Open {
            account: base,
            customer,
            class: AccountClass::I,
            binding: None,
            verified: true,
            card: false,
        });
        ops.push(Op::Deposit(base, 50_000_000));
        ops.push(Op::Open {
            account: base + 1,
            customer,
            class: AccountClass::II,
            binding: bound.clone(),
            verified: true,
            card: false,
        });
        ops.push(Op::Open {
            account: base + 3,
            customer,
            class: AccountClass::III,
            binding: bound,
            verified: true,
            card: false,
        });
        ops.push(Op::Transfer(base, base + 1, 5_000_000));
        // Customer 4's Class III waits for its first funding from the bound account.
        if customer != 4 {
            ops.push(Op::Transfer(base, base + 3, 100_000));
        }
    }
    // Outflows above 8,000.00 are held for verification.
    ops.push(Op::Protections { threshold_fen: Some(800_000), delay_ms: 0, flows: 0 });
    ops.into_iter().map(|op| (0, op)).collect()
}

/// `default` with small caps (day 3,000, year 6,000 per bucket; III balance 5,000), so short
/// sequences reach yearly caps.
fn tight_policy() -> Policy {
    let mut policy = Policy::preset("default").unwrap();
    policy.name = "tight".into();
    for rules in [&mut policy.class.class_ii, &mut policy.class.class_iii] {
        for bucket in &mut rules.buckets {
            bucket.day_cap = Some(fen(300_000));
            bucket.year_cap = Some(fen(600_000));
        }
    }
    policy.class.class_iii.balance_cap = Some(fen(500_000));
    policy
}

/// Milliseconds to move the clock before a step: mostly small, sometimes hours or days (so
/// sequences cross Beijing midnight and New Year), sometimes backwards.
fn time_step() -> impl Strategy<Value = i64> {
    prop_oneof![
        8 => Just(0i64),
        8 => 1i64..=3_600_000,
        4 => 3_600_000i64..=30 * 3_600_000,
        2 => DAY_MS..=40 * DAY_MS,
        1 => -600_000i64..0,
    ]
}

// ---------------------------------------------------------------------------------------------
// The property.

fn body_of(op: &Op, now_ms: i64, policies: &HashMap<&'static str, Policy>) -> Option<CommandBody> {
    let a = |id: u64| AccountId(id);
    let f = fen;
    Some(match op.clone() {
        Op::Open { account, customer, class, binding, verified, card } => CommandBody::OpenAccount {
            account: a(account),
            customer: CustomerId(customer),
            class,
            binding,
            verified_in_person: verified,
            with_card: card,
        },
        Op::Close(id) => CommandBody::CloseAccount { account: a(id) },
        Op::Deposit(id, m) => CommandBody::CashDeposit { account: a(id), amount: f(m) },
        Op::Withdraw(id, m) => CommandBody::CashWithdrawal { account: a(id), amount: f(m) },
        Op::Transfer(x, y, m) => CommandBody::InternalTransfer { from: a(x), to: a(y), amount: f(m) },
        Op::Inbound(id, c, m) => CommandBody::InboundTransfer { to: a(id), counterparty: c, amount: f(m) },
        Op::Outbound(id, c, m) => CommandBody::OutboundTransfer { from: a(id), counterparty: c, amount: f(m) },
        Op::Pay(id, m) => CommandBody::Payment { from: a(id), merchant: "Shop".into(), amount: f(m) },
        Op::Buy(id, m) => CommandBody::WealthPurchase { account: a(id), product: "WM".into(), amount: f(m) },
        Op::Redeem(id, m) => CommandBody::WealthRedemption { account: a(id), product: "WM".into(), amount: f(m) },
        Op::Policy { preset, delay_ms } => CommandBody::ChangePolicy {
            effective_from: Timestamp::from_millis(now_ms + delay_ms).unwrap(),
            policy: Box::new(policies[preset].clone()),
        },
        Op::Delayed(id, c, m, next_day) => CommandBody::DelayedTransfer {
            from: a(id),
            counterparty: c,
            amount: f(m),
            arrival: if next_day { Arrival::NextDay } else { Arrival::Normal },
        },
        Op::Tick => CommandBody::Tick,
        Op::Lock(id, bank, flows) => CommandBody::LockAccount {
            account: a(id),
            by: if bank { Actor::Bank } else { Actor::Customer },
            flows,
            reason: "suspected fraud".into(),
        },
        Op::Unlock(id, bank) => {
            CommandBody::UnlockAccount { account: a(id), by: if bank { Actor::Bank } else { Actor::Customer } }
        }
        Op::Night(id, window) => CommandBody::SetNightLock {
            account: a(id),
            window: window.map(|(start, end)| NightWindow {
                start: ClockTime::new(start / 60, start % 60).unwrap(),
                end: ClockTime::new(end / 60, end % 60).unwrap(),
            }),
        },
        Op::Limits(id, per_transaction, per_day) => CommandBody::SetPersonalLimits {
            account: a(id),
            limits: PersonalLimits { per_transaction: per_transaction.map(f), per_day: per_day.map(f) },
        },
        Op::Risk(list, counterparty) => {
            let (reason, source) = ("telecom fraud".to_owned(), "融安e信".to_owned());
            if list {
                CommandBody::ListRisk { counterparty, reason, source }
            } else {
                CommandBody::UnlistRisk { counterparty, reason, source }
            }
        }
        Op::Protections { threshold_fen, delay_ms, flows } => {
            let mut settings = ProtectionSettings {
                large_transaction_threshold: threshold_fen.map(|t| Amount::from_fen(t).unwrap()),
                ..ProtectionSettings::default()
            };
            // Mostly the defaults; sometimes narrower flow sets, or an invalid one.
            match flows {
                1 => settings.night_lock_flows = vec![Flow::CashWithdrawal, Flow::Payment],
                2 => settings.personal_limit_flows = vec![Flow::Payment],
                3 => settings.verification_flows = vec![Flow::TransferOutOther],
                4 => settings.night_lock_flows = vec![Flow::CashDeposit],
                _ => {}
            }
            CommandBody::ChangeProtections {
                effective_from: Timestamp::from_millis(now_ms + delay_ms).unwrap(),
                settings,
            }
        }
        Op::Retry(_) | Op::Confirm(_) | Op::Decline(_) | Op::Cancel(_) => return None,
    })
}

fn check_sequence(
    initial: &'static str,
    steps: &[(i64, Op)],
    stats: &mut BTreeMap<String, u64>,
) -> Result<(), TestCaseError> {
    let policies: HashMap<&'static str, Policy> = ["default", "pboc-2018", "pboc-2016"]
        .into_iter()
        .map(|name| (name, Policy::preset(name).unwrap()))
        .chain([("tight", tight_policy())])
        .collect();
    let mut state = State::new();
    let mut model = Model::default();
    let mut events: Vec<Event> = Vec::new();
    // 2025-12-30 18:00 Beijing: sequences cross midnight and New Year.
    let mut now_ms = "2025-12-30T18:00:00+08:00".parse::<Timestamp>().unwrap().as_millis();
    let genesis = Command {
        id: CommandId(Uuid::from_u128(0)),
        at: Timestamp::from_millis(now_ms).unwrap(),
        body: CommandBody::ChangePolicy {
            effective_from: Timestamp::UNIX_EPOCH,
            policy: Box::new(policies[initial].clone()),
        },
        stamped: false,
    };
    let mut all = vec![genesis];
    for (n, (dt, op)) in prologue().iter().chain(steps).enumerate() {
        now_ms += dt;
        let at = Timestamp::from_millis(now_ms).unwrap();
        let command = match body_of(op, now_ms, &policies) {
            Some(body) => Command { id: CommandId(Uuid::from_u128(n as u128 + 1)), at, body, stamped: false },
            None => {
                // Pending actions name one of the last 4 commands.
                let recent = |pick: &usize| CommandId(all[all.len() - 1 - pick % all.len().min(4)].id.0);
                let id = CommandId(Uuid::from_u128(n as u128 + 1));
                match op {
                    Op::Retry(pick) => Command { at, ..all[pick % all.len()].clone() },
                    Op::Confirm(pick) => {
                        Command { id, at, body: CommandBody::ConfirmHold { hold: recent(pick) }, stamped: false }
                    }
                    Op::Decline(pick) => {
                        Command { id, at, body: CommandBody::DeclineHold { hold: recent(pick) }, stamped: false }
                    }
                    Op::Cancel(pick) => {
                        Command { id, at, body: CommandBody::CancelTransfer { transfer: recent(pick) }, stamped: false }
                    }
                    _ => unreachable!("body_of is None only for retries and pending actions"),
                }
            }
        };
        all.push(command);
    }
    // A view kept across steps as a writer keeps its cache, cut after each step to a few
    // accounts and answers.
    let mut cached = state.empty_view();
    for (n, command) in all.into_iter().enumerate() {
        let mut core_due = Vec::new();
        let mut due_events = Vec::new();
        // The same command over a paged view holding only what `wanted` names decides the same.
        let mut view = state.empty_view();
        for _round in 0..4 {
            let wanted = view.wanted(std::iter::once(&command));
            for id in wanted.accounts {
                view.load_account(id, state.account(id).cloned());
            }
            for customer in wanted.customers {
                view.load_customer(customer, state.customer_accounts(customer).map(|account| account.id).collect());
            }
        }
        prop_assert!(view.wanted(std::iter::once(&command)).is_empty(), "wanted still names more after 4 rounds");
        let mut view_due = Vec::new();
        let view_decision = ledger_core::apply_due_then_decide(&mut view, &command, &mut view_due);
        load_cached(&mut cached, &state, &command);
        let mut cached_due = Vec::new();
        let cached_decision = ledger_core::apply_due_then_decide(&mut cached, &command, &mut cached_due);
        let decision = ledger_core::apply_due_then_decide(&mut state, &command, &mut due_events).unwrap();
        prop_assert_eq!(view_decision.as_ref(), Ok(&decision), "a paged view decided {:?} differently", command);
        prop_assert_eq!(&view_due, &due_events, "a paged view's due events differ before {:?}", command);
        prop_assert_eq!(cached_decision.as_ref(), Ok(&decision), "the cached view decided {:?} differently", command);
        prop_assert_eq!(&cached_due, &due_events, "the cached view's due events differ before {:?}", command);
        if let Decision::Append(new) = &decision {
            for event in new {
                cached.apply(event).unwrap();
            }
        }
        for event in due_events {
            let outcome = match &event.body {
                EventBody::ReservationSettled { .. } => "settled",
                EventBody::ReservationReleased { release: Release::Expired, .. } => "expired",
                EventBody::ReservationReleased { release: Release::Stopped { .. }, .. } => "stopped",
                other => return Err(TestCaseError::fail(format!("unexpected due event {other:?}"))),
            };
            if let Some(previous) = events.last() {
                prop_assert!(previous.at <= event.at, "log time went backwards at a due event");
            }
            *stats.entry(format!("due/{outcome}")).or_default() += 1;
            core_due.push((event.command_id.0, outcome));
            events.push(event);
        }
        match decision {
            Decision::Due(_) => return Err(TestCaseError::fail("apply_due_then_decide returned a due event")),
            Decision::Retry { seq } => {
                prop_assert!(core_due.is_empty(), "a retry is answered before anything comes due");
                let original = model.answers.get(&command.id.0).cloned();
                prop_assert!(original.is_some(), "core says retry of an id the model never saw");
                let event = &events[(seq - 1) as usize];
                prop_assert_eq!(event.command_id, command.id);
                let core_answer = match &event.body {
                    EventBody::Rejected { reason, .. } => Err(reason.clone()),
                    _ => Ok(()),
                };
                prop_assert_eq!(core_answer, original.unwrap(), "retry answered differently");
                *stats.entry("retry".into()).or_default() += 1;
            }
            Decision::Append(new) => {
                prop_assert!(
                    !model.answers.contains_key(&command.id.0),
                    "model saw this id; core did not treat it as a retry"
                );
                prop_assert_eq!(new.len(), 1);
                let event = new[0].clone();
                // A rejection records its command with texts over their limit withheld.
                prop_assert!(event.answers(&command.body), "the event must record its request: {:?}", event);
                let expected = model.step(&command);
                prop_assert_eq!(&core_due, &model.last_due, "what came due differs before {:?}", command);
                let got = match &event.body {
                    EventBody::Rejected { reason, .. } => Err(reason.clone()),
                    _ => Ok(()),
                };
                prop_assert_eq!(&got, &expected, "decision differs for {:?}", command);
                let key = match &got {
                    Err(reason) => match reason {
                        RejectReason::LimitExceeded { period, .. } => format!("LIMIT_EXCEEDED/{period:?}"),
                        other => other.code().to_owned(),
                    },
                    Ok(()) => match &event.body {
                        EventBody::Reserved { reservation, .. } => match reservation.stage {
                            Stage::AwaitingVerification { .. } => format!("held/{}", command.body.kind()),
                            Stage::Scheduled { .. } => format!("scheduled/{}", command.body.kind()),
                        },
                        _ => format!("accepted/{}", command.body.kind()),
                    },
                };
                *stats.entry(key).or_default() += 1;
                if events.last().is_some_and(|previous| previous.at.beijing_year() != event.at.beijing_year()) {
                    *stats.entry("crossed Beijing New Year".into()).or_default() += 1;
                }
                if let Some(previous) = events.last() {
                    prop_assert!(previous.at <= event.at, "log time went backwards");
                }
                if let EventBody::Posted(posting) = &event.body {
                    let policy = state.policy_at(event.at).unwrap().clone();
                    for leg in [&posting.debit, &posting.credit].into_iter().flatten() {
                        let class = state.account(leg.account).unwrap().class;
                        for usage in &leg.usage_after {
                            let bucket = policy.rules(class).buckets.iter().find(|b| b.name == usage.bucket).unwrap();
                            prop_assert!(bucket.day_cap.is_none_or(|cap| usage.day_used <= cap), "day cap exceeded");
                            prop_assert!(bucket.year_cap.is_none_or(|cap| usage.year_used <= cap), "year cap exceeded");
                            prop_assert_eq!(usage.day, event.at.beijing_day());
                        }
                    }
                }
                state.apply(&event).unwrap();
                events.push(event);
            }
        }
        evict_cached(&mut cached, &state, n)?;
        // Every balance agrees; money is conserved.
        let mut total: u128 = 0;
        for (id, acc) in &model.accounts {
            let core = state.account(AccountId(*id));
            prop_assert!(core.is_some(), "account {} missing in core", id);
            let core = core.unwrap();
            prop_assert_eq!(core.balance.fen(), acc.balance, "balance of {}", id);
            prop_assert_eq!(core.status == ledger_core::AccountStatus::Open, acc.open);
            total += u128::from(acc.balance);
            // Held + available = balance: what is reserved never exceeds the balance, and it
            // is exactly the sum of the account's pending outflows.
            let reserved = state.reserved(AccountId(*id));
            prop_assert_eq!(reserved.fen(), acc.reserved, "reserved of {}", id);
            prop_assert!(reserved <= core.balance, "reserved above the balance of {}", id);
            let pending: u64 = state.reservations().filter(|r| r.account.0 == *id).map(|r| r.amount.fen()).sum();
            prop_assert_eq!(pending, reserved.fen(), "pending outflows of {} do not add up", id);
        }
        prop_assert_eq!(state.reservations().count(), model.reservations.len());
        prop_assert_eq!(state.accounts().count(), model.accounts.len());
        prop_assert_eq!(total + model.outflow_fen, model.inflow_fen, "money not conserved");
    }
    // Replay from empty rebuilds the same state exactly.
    let mut replayed = State::new();
    for event in &events {
        replayed.apply(event).unwrap();
    }
    prop_assert_eq!(replayed, state);
    Ok(())
}

/// Loads into the kept view what `command` reads and it lacks, from the whole `state` (a
/// writer's store): the accounts and lists `wanted` names, the command's stored answer and
/// the answers of pending reservations (a due event carries its reservation's id).
fn load_cached(cached: &mut State, state: &State, command: &Command) {
    cached.touch(std::iter::once(command));
    let ids = state.reservations().map(|reservation| reservation.id).chain([command.id]);
    for id in ids.collect::<Vec<_>>() {
        match (cached.answer_seq(id), state.answer_seq(id)) {
            (Some(_), _) => cached.touch_answer(id),
            (None, Some(seq)) => cached.remember_answer(id, seq),
            (None, None) => {}
        }
    }
    for _round in 0..4 {
        let wanted = cached.wanted(std::iter::once(command));
        for id in wanted.accounts {
            cached.load_account(id, state.account(id).cloned());
        }
        for customer in wanted.customers {
            cached.load_customer(customer, state.customer_accounts(customer).map(|account| account.id).collect());
        }
    }
}

/// Cuts the kept view to 0–3 accounts (by step) with the Class I accounts (slot 0) pinned, and
/// to 0–2 answers; then every pinned account held before is still held, and every account it
/// holds equals the whole state's (nothing stale).
fn evict_cached(cached: &mut State, state: &State, step: usize) -> Result<(), TestCaseError> {
    let pinned = |id: AccountId| id.0.is_multiple_of(10);
    let pinned_before: Vec<AccountId> = state.accounts().map(|account| account.id).filter(|id| pinned(*id)).collect();
    let pinned_before: Vec<AccountId> =
        pinned_before.into_iter().filter(|id| cached.account_held(*id).is_some()).collect();
    cached.evict(step % 4, pinned);
    cached.evict_answers(step % 3);
    prop_assert!(cached.answers_held() <= step % 3);
    for id in pinned_before {
        prop_assert!(cached.account_held(id).is_some(), "pinned account {} was evicted", id);
    }
    let unpinned = state.accounts().filter(|account| !pinned(account.id) && cached.account_held(account.id).is_some());
    prop_assert!(unpinned.count() <= step % 4, "more unpinned accounts held than the cut allows");
    for account in state.accounts() {
        if let Some(held) = cached.account_held(account.id) {
            prop_assert_eq!(held, account, "the cached view holds a stale account");
        }
    }
    Ok(())
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), max_shrink_iters: 20_000, ..ProptestConfig::default() })]

    #[test]
    fn core_agrees_with_the_reference_model(
        initial in prop_oneof![Just("default"), Just("pboc-2018"), Just("tight")],
        steps in prop::collection::vec((time_step(), op()), 1..80),
    ) {
        check_sequence(initial, &steps, &mut BTreeMap::new())?;
    }
}

/// The model must be able to disagree: a core that ignored the caps would be caught.
#[test]
fn the_model_catches_a_cap_violation() {
    let mut model = Model::default();
    let policy = Policy::preset("default").unwrap();
    let t = |text: &str| text.parse::<Timestamp>().unwrap();
    let command = |n: u128, body| Command {
        id: CommandId(Uuid::from_u128(n)),
        at: t("2026-03-02T10:00:00+08:00"),
        body,
        stamped: false,
    };
    let steps = [
        CommandBody::ChangePolicy { effective_from: Timestamp::UNIX_EPOCH, policy: Box::new(policy) },
        CommandBody::open_class_i(AccountId(1), CustomerId(1)),
        CommandBody::OpenAccount {
            account: AccountId(2),
            customer: CustomerId(1),
            class: AccountClass::II,
            binding: Some(Binding::Account(AccountId(1))),
            verified_in_person: true,
            with_card: false,
        },
        CommandBody::CashDeposit { account: AccountId(1), amount: fen(5_000_000) },
        CommandBody::InternalTransfer { from: AccountId(1), to: AccountId(2), amount: fen(5_000_000) },
    ];
    for (n, body) in steps.into_iter().enumerate() {
        assert_eq!(model.step(&command(n as u128, body)), Ok(()));
    }
    let over = CommandBody::Payment { from: AccountId(2), merchant: "Shop".into(), amount: fen(1_000_001) };
    assert_eq!(model.step(&command(99, over)).map_err(|r| r.code()), Err("LIMIT_EXCEEDED"));
}

/// The generator reaches every outcome that matters; prints the counts.
#[test]
fn generated_sequences_cover_the_rules() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = (
        prop_oneof![Just("default"), Just("pboc-2018"), Just("tight")],
        prop::collection::vec((time_step(), op()), 1..80),
    );
    let mut stats = BTreeMap::new();
    for _ in 0..2_000 {
        let (initial, steps) = strategy.new_tree(&mut runner).unwrap().current();
        check_sequence(initial, &steps, &mut stats).unwrap();
    }
    println!("outcomes over 2,000 deterministic sequences: {stats:#?}");
    for key in [
        "accepted/cash_deposit",
        "accepted/internal_transfer",
        "accepted/payment",
        "accepted/outbound_transfer",
        "accepted/inbound_transfer",
        "accepted/wealth_purchase",
        "accepted/close_account",
        "accepted/change_policy",
        "LIMIT_EXCEEDED/Day",
        "LIMIT_EXCEEDED/Year",
        "INSUFFICIENT_FUNDS",
        "TIME_BEFORE_HEAD",
        "ACCOUNT_COUNT_EXCEEDED",
        "INVALID_BINDING",
        "BALANCE_CAP_EXCEEDED",
        "FLOW_NOT_ALLOWED",
        "FIRST_FUNDING_FROM_BOUND_REQUIRED",
        "POLICY_EFFECTIVE_IN_PAST",
        "ZERO_AMOUNT",
        "INVALID_TEXT",
        "retry",
        "crossed Beijing New Year",
        "held/payment",
        "held/outbound_transfer",
        "scheduled/delayed_transfer",
        "accepted/confirm_hold",
        "accepted/decline_hold",
        "accepted/cancel_transfer",
        "due/settled",
        "due/expired",
        "due/stopped",
        "ACCOUNT_LOCKED",
        "NIGHT_LOCKED",
        "PERSONAL_LIMIT_EXCEEDED",
        "RISK_LISTED_COUNTERPARTY",
        "FUNDS_RESERVED",
    ] {
        assert!(stats.get(key).copied().unwrap_or(0) > 0, "no sequence reached {key}: {stats:?}");
    }
}
