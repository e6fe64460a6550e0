//! Stateful: arbitrary command sequences drive ledger-core's decide/apply and the reference model
//! of crates/ledger-core/tests/reference; every decision and balance must agree, money is
//! conserved, reserved funds never exceed the balance, and replaying the events rebuilds the
//! same state. Protections are in the mix (locks, night lock, personal limits, risk list,
//! large-transaction holds, delayed transfers, ticks).
#![no_main]

#[path = "../../crates/ledger-core/tests/reference/mod.rs"]
mod reference;

use ledger_core::{
    AccountClass, AccountId, Actor, Arrival, Binding, ClockTime, Command, CommandBody, CommandId, CustomerId, Decision,
    EventBody, ExternalKind, Flow, NightWindow, PersonalLimits, Policy, ProtectionSettings, RejectReason, State,
    Timestamp,
};
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use reference::{DAY_MS, Model, fen};
use uuid::Uuid;

fn account(u: &mut Unstructured) -> Result<AccountId> {
    Ok(AccountId(u64::from(u.int_in_range(1u8..=4)?) * 10 + u64::from(u.int_in_range(0u8..=3)?)))
}

fn amount(u: &mut Unstructured) -> Result<ledger_core::Amount> {
    let fen_count = match u.int_in_range(0u8..=3)? {
        0 => u64::from(u.int_in_range(0u32..=300_000)?),
        1 => u64::from(u.int_in_range(999_000u32..=1_000_100)?),
        2 => u64::from(u.arbitrary::<u32>()?),
        _ => u.int_in_range(0u64..=ledger_core::Amount::MAX_FEN)?,
    };
    Ok(fen(fen_count))
}

fn text(u: &mut Unstructured) -> Result<String> {
    Ok(match u.int_in_range(0u8..=5)? {
        0 => String::new(),
        1 => "z".repeat(129),
        n => format!("EXT-{}", n % 4),
    })
}

/// A set of flows, mostly outflows (an inflow makes the settings invalid).
fn flow_set(u: &mut Unstructured) -> Result<Vec<Flow>> {
    let all =
        [Flow::CashWithdrawal, Flow::TransferOutBound, Flow::TransferOutOther, Flow::Payment, Flow::WealthPurchase];
    let mut flows: Vec<Flow> = all.into_iter().filter(|_| u.arbitrary::<bool>().unwrap_or(true)).collect();
    if u.int_in_range(0u8..=15)? == 0 {
        flows.push(Flow::CashDeposit);
    }
    Ok(flows)
}

fn recent(u: &mut Unstructured, n: u8) -> Result<CommandId> {
    let back = u.int_in_range(1u8..=4)?;
    Ok(CommandId(Uuid::from_u128(u128::from(n.saturating_sub(back)))))
}

fn body(u: &mut Unstructured, now_ms: i64, n: u8, policies: &[Policy; 3]) -> Result<CommandBody> {
    Ok(match u.int_in_range(0u8..=21)? {
        11 | 12 => CommandBody::DelayedTransfer {
            from: account(u)?,
            counterparty: text(u)?,
            amount: amount(u)?,
            arrival: if u.arbitrary()? { Arrival::Normal } else { Arrival::NextDay },
        },
        13 => CommandBody::ConfirmHold { hold: recent(u, n)? },
        14 => CommandBody::DeclineHold { hold: recent(u, n)? },
        15 => CommandBody::CancelTransfer { transfer: recent(u, n)? },
        16 => CommandBody::Tick,
        17 => {
            let flows = [Flow::Payment, Flow::TransferOutOther, Flow::CashWithdrawal, Flow::CashDeposit];
            let picked = usize::from(u.int_in_range(0u8..=4)?);
            CommandBody::LockAccount {
                account: account(u)?,
                by: if u.arbitrary()? { Actor::Bank } else { Actor::Customer },
                flows: flows.get(picked).map(|flow| vec![*flow]).unwrap_or_default(),
                reason: text(u)?,
            }
        }
        18 => CommandBody::UnlockAccount {
            account: account(u)?,
            by: if u.arbitrary()? { Actor::Bank } else { Actor::Customer },
        },
        19 => {
            let window = if u.arbitrary()? {
                let start = ClockTime::new(u.int_in_range(0u16..=23)?, 0).expect("hour");
                let end = ClockTime::new(u.int_in_range(0u16..=23)?, 0).expect("hour");
                Some(NightWindow { start, end })
            } else {
                None
            };
            CommandBody::SetNightLock { account: account(u)?, window }
        }
        20 => {
            let cap = |u: &mut Unstructured| -> Result<Option<ledger_core::Amount>> {
                Ok(if u.arbitrary()? { Some(amount(u)?) } else { None })
            };
            let limits = PersonalLimits { per_transaction: cap(u)?, per_day: cap(u)? };
            CommandBody::SetPersonalLimits { account: account(u)?, limits }
        }
        21 => {
            if u.arbitrary()? {
                let counterparty = text(u)?;
                let (reason, source) = ("fraud".to_owned(), "list".to_owned());
                if u.arbitrary()? {
                    CommandBody::ListRisk { counterparty, reason, source }
                } else {
                    CommandBody::UnlistRisk { counterparty, reason, source }
                }
            } else {
                let threshold = if u.arbitrary()? { Some(amount(u)?) } else { None };
                let delay = [0, 3_600_000, -60_000][usize::from(u.int_in_range(0u8..=2)?)];
                CommandBody::ChangeProtections {
                    effective_from: Timestamp::from_millis(now_ms + delay).unwrap_or(Timestamp::UNIX_EPOCH),
                    settings: ProtectionSettings {
                        large_transaction_threshold: threshold,
                        hold_expiry_minutes: u.int_in_range(0u32..=120)?,
                        normal_arrival_delay_minutes: u.int_in_range(0u32..=240)?,
                        personal_limit_flows: flow_set(u)?,
                        verification_flows: flow_set(u)?,
                        night_lock_flows: flow_set(u)?,
                    },
                }
            }
        }
        0 => {
            let account = account(u)?;
            let class = [AccountClass::I, AccountClass::II, AccountClass::III][usize::from(u.int_in_range(0u8..=2)?)];
            let binding = match u.int_in_range(0u8..=3)? {
                0 => None,
                1 => Some(Binding::Account(AccountId(account.0 / 10 * 10))),
                2 => Some(Binding::Account(account_any(u)?)),
                _ => Some(Binding::External {
                    kind: if u.arbitrary()? { ExternalKind::CreditCard } else { ExternalKind::ClassI },
                    reference: text(u)?,
                }),
            };
            CommandBody::OpenAccount {
                account,
                customer: CustomerId(u64::from(u.int_in_range(1u8..=4)?)),
                class,
                binding,
                verified_in_person: u.arbitrary()?,
                with_card: u.arbitrary()?,
            }
        }
        1 => CommandBody::CloseAccount { account: account(u)? },
        2 => CommandBody::CashDeposit { account: account(u)?, amount: amount(u)? },
        3 => CommandBody::CashWithdrawal { account: account(u)?, amount: amount(u)? },
        4 => CommandBody::InternalTransfer { from: account(u)?, to: account(u)?, amount: amount(u)? },
        5 => CommandBody::InboundTransfer { to: account(u)?, counterparty: text(u)?, amount: amount(u)? },
        6 => CommandBody::OutboundTransfer { from: account(u)?, counterparty: text(u)?, amount: amount(u)? },
        7 => CommandBody::Payment { from: account(u)?, merchant: text(u)?, amount: amount(u)? },
        8 => CommandBody::WealthPurchase { account: account(u)?, product: text(u)?, amount: amount(u)? },
        9 => CommandBody::WealthRedemption { account: account(u)?, product: text(u)?, amount: amount(u)? },
        _ => {
            let delay = [0, 3_600_000, DAY_MS, -60_000][usize::from(u.int_in_range(0u8..=3)?)];
            let policy = policies[usize::from(u.int_in_range(0u8..=2)?)].clone();
            let effective_from = Timestamp::from_millis(now_ms + delay).unwrap_or(Timestamp::UNIX_EPOCH);
            CommandBody::ChangePolicy { effective_from, policy: Box::new(policy) }
        }
    })
}

fn account_any(u: &mut Unstructured) -> Result<AccountId> {
    Ok(AccountId(u64::from(u.int_in_range(0u8..=50)?)))
}

fn run(u: &mut Unstructured) -> Result<()> {
    let policies = ["default", "pboc-2018", "pboc-2016"].map(|name| Policy::preset(name).expect("preset"));
    let mut now_ms = 1_767_088_800_000; // 2025-12-30T18:00:00+08:00
    let mut commands = vec![Command {
        id: CommandId(Uuid::from_u128(0)),
        at: Timestamp::from_millis(now_ms).expect("time"),
        body: CommandBody::ChangePolicy {
            effective_from: Timestamp::UNIX_EPOCH,
            policy: Box::new(policies[usize::from(u.int_in_range(0u8..=1)?)].clone()),
        },
        // Client-given times: the reference model knows no times the ledger stamps itself.
        stamped: false,
    }];
    for n in 1..=u.int_in_range(1u8..=120)? {
        now_ms += match u.int_in_range(0u8..=5)? {
            0 | 1 => 0,
            2 => i64::from(u.int_in_range(1u32..=3_600_000)?),
            3 => i64::from(u.int_in_range(3_600_000u32..=108_000_000)?),
            4 => DAY_MS * i64::from(u.int_in_range(1u8..=40)?),
            _ => -i64::from(u.int_in_range(1u32..=600_000)?),
        };
        let at = Timestamp::from_millis(now_ms).expect("time");
        let command = if u.int_in_range(0u8..=15)? == 0 {
            let pick = usize::from(u.arbitrary::<u8>()?) % commands.len();
            Command { at, ..commands[pick].clone() }
        } else {
            let body = body(u, now_ms, n, &policies)?;
            Command { id: CommandId(Uuid::from_u128(u128::from(n))), at, body, stamped: false }
        };
        commands.push(command);
    }

    let mut state = State::new();
    let mut model = Model::default();
    let mut events = Vec::new();
    for command in &commands {
        let mut due_events = Vec::new();
        let decision = ledger_core::apply_due_then_decide(&mut state, command, &mut due_events).expect("apply due");
        let core_due: Vec<_> = due_events.iter().map(|event| event.command_id.0).collect();
        events.extend(due_events);
        match decision {
            Decision::Due(_) => unreachable!("handled above"),
            Decision::Retry { seq } => {
                let original: &ledger_core::Event = &events[(seq - 1) as usize];
                let answer = match &original.body {
                    EventBody::Rejected { reason, .. } => Err(reason.clone()),
                    _ => Ok(()),
                };
                assert_eq!(Some(&answer), model.answers.get(&command.id.0), "retry answered differently");
            }
            Decision::Append(new) => {
                assert!(!model.answers.contains_key(&command.id.0));
                for event in new {
                    let got: std::result::Result<(), RejectReason> = match &event.body {
                        EventBody::Rejected { reason, .. } => Err(reason.clone()),
                        _ => Ok(()),
                    };
                    assert_eq!(got, model.step(command), "decision differs for {command:?}");
                    let model_due: Vec<Uuid> = model.last_due.iter().map(|(id, _)| *id).collect();
                    assert_eq!(core_due, model_due, "what came due differs before {command:?}");
                    state.apply(&event).expect("apply");
                    events.push(event);
                }
            }
        }
        let mut total = 0u128;
        for (id, acc) in &model.accounts {
            let core = state.account(AccountId(*id)).expect("account in core");
            assert_eq!(core.balance.fen(), acc.balance);
            assert_eq!(state.reserved(AccountId(*id)).fen(), acc.reserved, "reserved");
            assert!(acc.reserved <= acc.balance, "reserved above the balance");
            total += u128::from(acc.balance);
        }
        assert_eq!(total + model.outflow_fen, model.inflow_fen, "money not conserved");
    }
    let mut replayed = State::new();
    for event in &events {
        replayed.apply(event).expect("replay");
    }
    assert_eq!(replayed, state);
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});
