//! A generated day-and-year workload for `demo`: thousands of customers with a Class I, a Class
//! II and a Class III account each, everyday payments and transfers across Beijing midnight and
//! New Year, limit hits, wealth purchases, and a few retried command ids. The bank's protections
//! are on: large Class I transfers are held (most confirmed, some declined, the rest expire),
//! some Class II transfers use normal or next-day arrival (a few cancelled), some counterparties
//! are risk-listed, some customers set a night lock, personal limits or a security lock.

use ledger_core::{
    AccountClass, AccountId, Actor, Amount, Arrival, Binding, ClockTime, Command, CommandBody, CommandId, CustomerId,
    Flow, NightWindow, PersonalLimits, Policy, ProtectionSettings, Timestamp,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use uuid::Uuid;

/// Shape of the generated workload.
#[derive(Clone, Copy, Debug)]
pub struct WorkloadSpec {
    pub customers: u64,
    pub days: u32,
    pub commands_per_customer_day: u32,
    pub seed: u64,
    /// Business time of the first command (Beijing midnight of the first day).
    pub start_ms: i64,
}

const DAY_MS: i64 = 86_400_000;
/// Outflows above this are held for verification.
const LARGE_YUAN: u64 = 50_000;
/// Every this many customers' external accounts (`EXT-n`) are on the risk list.
const RISK_EVERY: u64 = 50;

fn fen(rng: &mut StdRng, low_yuan: u64, high_yuan: u64) -> anyhow::Result<Amount> {
    Ok(Amount::from_fen(rng.random_range(low_yuan * 100..=high_yuan * 100))?)
}

fn class_i(customer: u64) -> AccountId {
    AccountId(customer * 10)
}
fn class_ii(customer: u64) -> AccountId {
    AccountId(customer * 10 + 1)
}
fn class_iii(customer: u64) -> AccountId {
    AccountId(customer * 10 + 3)
}

/// The commands, in non-decreasing business time. Ids are derived from the seed and position,
/// so the same spec always yields the same commands.
pub fn generate(spec: WorkloadSpec, policy: Policy) -> anyhow::Result<Vec<Command>> {
    let mut rng = StdRng::seed_from_u64(spec.seed);
    let mut commands: Vec<Command> = Vec::new();
    let next_id = |rng: &mut StdRng| next_id(spec.seed, rng);
    let start = Timestamp::from_millis(spec.start_ms)?;
    commands.push(Command {
        id: next_id(&mut rng),
        at: start,
        body: CommandBody::ChangePolicy { effective_from: Timestamp::UNIX_EPOCH, policy: Box::new(policy) },
        stamped: false,
    });
    let settings =
        ProtectionSettings { large_transaction_threshold: Some(Amount::from_yuan(LARGE_YUAN)?), ..Default::default() };
    commands.push(Command {
        id: next_id(&mut rng),
        at: start,
        body: CommandBody::ChangeProtections { effective_from: start, settings },
        stamped: false,
    });
    for listed in (RISK_EVERY..=spec.customers).step_by(RISK_EVERY as usize) {
        let body = CommandBody::ListRisk {
            counterparty: format!("EXT-{listed}"),
            reason: "telecom fraud".into(),
            source: "demo shared list".into(),
        };
        commands.push(Command { id: next_id(&mut rng), at: start, body, stamped: false });
    }
    for customer in 1..=spec.customers {
        let opening = customer_opening(&mut rng, customer)?;
        for body in opening {
            commands.push(Command { id: next_id(&mut rng), at: start, body, stamped: false });
        }
        let protections = customer_protections(&mut rng, customer)?;
        for body in protections {
            commands.push(Command { id: next_id(&mut rng), at: start, body, stamped: false });
        }
    }
    for day in 0..i64::from(spec.days) {
        commands.extend(day_commands(&mut rng, &spec, day, start)?);
    }
    // Close the run three hours after the last day: what is still held expires, what is
    // scheduled executes.
    let end = start.plus_millis(i64::from(spec.days) * DAY_MS + 3 * 3_600_000)?;
    commands.push(Command { id: next_id(&mut rng), at: end, body: CommandBody::Tick, stamped: false });
    Ok(commands)
}

/// A customer's first commands: a funded Class I account, Class II and III bound to it, and
/// transfers into both.
fn customer_opening(rng: &mut StdRng, customer: u64) -> anyhow::Result<[CommandBody; 6]> {
    let owner = CustomerId(customer);
    let bound = Some(Binding::Account(class_i(customer)));
    Ok([
        CommandBody::OpenAccount {
            account: class_i(customer),
            customer: owner,
            class: AccountClass::I,
            binding: None,
            verified_in_person: true,
            with_card: true,
        },
        CommandBody::CashDeposit { account: class_i(customer), amount: fen(rng, 5_000, 500_000)? },
        CommandBody::OpenAccount {
            account: class_ii(customer),
            customer: owner,
            class: AccountClass::II,
            binding: bound.clone(),
            verified_in_person: rng.random_bool(0.7),
            with_card: false,
        },
        CommandBody::OpenAccount {
            account: class_iii(customer),
            customer: owner,
            class: AccountClass::III,
            binding: bound,
            verified_in_person: false,
            with_card: false,
        },
        CommandBody::InternalTransfer {
            from: class_i(customer),
            to: class_ii(customer),
            amount: fen(rng, 1_000, 60_000)?,
        },
        CommandBody::InternalTransfer {
            from: class_i(customer),
            to: class_iii(customer),
            amount: fen(rng, 100, 3_000)?,
        },
    ])
}

/// Some customers' protections: a night lock, personal limits, a security lock on payments.
fn customer_protections(rng: &mut StdRng, customer: u64) -> anyhow::Result<Vec<CommandBody>> {
    let mut protections = Vec::new();
    if rng.random_bool(0.1) {
        let (start, end) = (ClockTime::new(23, 0), ClockTime::new(6, 0));
        if let (Some(start), Some(end)) = (start, end) {
            let window = Some(NightWindow { start, end });
            protections.push(CommandBody::SetNightLock { account: class_ii(customer), window });
        }
    }
    if rng.random_bool(0.1) {
        let limits = PersonalLimits {
            per_transaction: Some(Amount::from_yuan(2_000)?),
            per_day: Some(Amount::from_yuan(5_000)?),
        };
        protections.push(CommandBody::SetPersonalLimits { account: class_ii(customer), limits });
    }
    if rng.random_bool(0.02) {
        protections.push(CommandBody::LockAccount {
            account: class_iii(customer),
            by: Actor::Customer,
            flows: vec![Flow::Payment],
            reason: "phone lost".into(),
        });
    }
    Ok(protections)
}

/// One everyday command of `customer` (`other` is a random customer): payments, transfers,
/// wealth products, cash.
fn activity(rng: &mut StdRng, customer: u64, other: u64) -> anyhow::Result<CommandBody> {
    Ok(match rng.random_range(0..100u32) {
        0..=24 => CommandBody::Payment {
            from: class_ii(customer),
            merchant: "Everyday Mart".into(),
            amount: fen(rng, 10, 6_000)?,
        },
        25..=39 => {
            CommandBody::Payment { from: class_iii(customer), merchant: "Metro".into(), amount: fen(rng, 2, 1_500)? }
        }
        40..=49 if rng.random_bool(0.3) => CommandBody::DelayedTransfer {
            from: class_ii(customer),
            counterparty: format!("EXT-{other}"),
            amount: fen(rng, 100, 8_000)?,
            arrival: if rng.random_bool(0.5) { Arrival::Normal } else { Arrival::NextDay },
        },
        40..=49 => CommandBody::OutboundTransfer {
            from: class_ii(customer),
            counterparty: format!("EXT-{other}"),
            amount: fen(rng, 100, 8_000)?,
        },
        50..=57 => CommandBody::InboundTransfer {
            to: class_ii(customer),
            counterparty: "EMPLOYER-1".into(),
            amount: fen(rng, 1_000, 9_000)?,
        },
        58..=65 => CommandBody::InternalTransfer {
            from: class_i(customer),
            to: class_ii(customer),
            amount: fen(rng, 500, 20_000)?,
        },
        66..=71 => CommandBody::InternalTransfer {
            from: class_i(customer),
            to: class_iii(customer),
            amount: fen(rng, 50, 2_500)?,
        },
        72..=77 => CommandBody::WealthPurchase {
            account: class_ii(customer),
            product: "WM-90D".into(),
            amount: fen(rng, 1_000, 30_000)?,
        },
        78..=80 => CommandBody::WealthRedemption {
            account: class_ii(customer),
            product: "WM-90D".into(),
            amount: fen(rng, 1_000, 10_000)?,
        },
        81..=85 => CommandBody::CashWithdrawal { account: class_ii(customer), amount: fen(rng, 100, 5_000)? },
        86..=91 => CommandBody::InternalTransfer {
            from: class_i(customer),
            to: class_i(other),
            amount: fen(rng, 100, 50_000)?,
        },
        92..=95 => CommandBody::InternalTransfer {
            from: class_ii(customer),
            to: class_ii(other),
            amount: fen(rng, 100, 5_000)?,
        },
        96..=97 => CommandBody::CashDeposit { account: class_iii(customer), amount: fen(rng, 100, 500)? },
        _ => CommandBody::OutboundTransfer {
            from: class_i(customer),
            counterparty: format!("EXT-{other}"),
            amount: fen(rng, 1_000, 200_000)?,
        },
    })
}

/// A fresh command id drawn from the run's generator.
fn next_id(seed: u64, rng: &mut StdRng) -> CommandId {
    CommandId(Uuid::from_u64_pair(seed, rng.random()))
}

/// Day `day`'s commands (in time order, with follow-ups and about 1% retried ids).
fn day_commands(rng: &mut StdRng, spec: &WorkloadSpec, day: i64, start: Timestamp) -> anyhow::Result<Vec<Command>> {
    let mut commands = Vec::new();
    let mut today: Vec<(i64, CommandId, CommandBody)> = Vec::new();
    for customer in 1..=spec.customers {
        for _ in 0..spec.commands_per_customer_day {
            // Skew towards the evening so many days end with activity right before midnight.
            let ms_in_day =
                if rng.random_bool(0.2) { DAY_MS - rng.random_range(1..600_000) } else { rng.random_range(0..DAY_MS) };
            let other = rng.random_range(1..=spec.customers);
            let body = activity(rng, customer, other)?;
            let id = next_id(spec.seed, rng);
            // Follow-ups: held outflows are mostly confirmed, some declined (the rest
            // expire); some delayed transfers are cancelled. Kept within the same day.
            let later = |minutes: i64| day * DAY_MS + (ms_in_day + minutes * 60_000).min(DAY_MS - 1);
            let follow_up = match &body {
                CommandBody::OutboundTransfer { amount, .. } if *amount > Amount::from_yuan(LARGE_YUAN)? => {
                    match rng.random_range(0..10u32) {
                        0..=6 => Some((later(5), CommandBody::ConfirmHold { hold: id })),
                        7 => Some((later(5), CommandBody::DeclineHold { hold: id })),
                        _ => None,
                    }
                }
                CommandBody::DelayedTransfer { .. } if rng.random_bool(0.15) => {
                    Some((later(10), CommandBody::CancelTransfer { transfer: id }))
                }
                _ => None,
            };
            today.push((day * DAY_MS + ms_in_day, id, body));
            if let Some((ms, body)) = follow_up {
                today.push((ms, next_id(spec.seed, rng), body));
            }
        }
    }
    // Stable: a follow-up at the same millisecond stays after its command.
    today.sort_by_key(|(ms, _, _)| *ms);
    for (ms, id, body) in today {
        let at = start.plus_millis(ms)?;
        let command = Command { id, at, body, stamped: false };
        // About 1% of commands are sent twice (a client retrying after a timeout).
        let retry = rng.random_bool(0.01).then(|| command.clone());
        commands.push(command);
        commands.extend(retry);
    }
    Ok(commands)
}
