//! A generated day-and-year workload for `demo`: thousands of customers with a Class I, a Class
//! II and a Class III account each, everyday payments and transfers across Beijing midnight and
//! New Year, limit hits, wealth purchases, and a few retried command ids.

use ledger_core::{
    AccountClass, AccountId, Amount, Binding, Command, CommandBody, CommandId, CustomerId, Policy, Timestamp,
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
    let next_id = |rng: &mut StdRng| CommandId(Uuid::from_u64_pair(spec.seed, rng.random()));
    let start = Timestamp::from_millis(spec.start_ms)?;
    commands.push(Command {
        id: next_id(&mut rng),
        at: start,
        body: CommandBody::ChangePolicy { effective_from: Timestamp::UNIX_EPOCH, policy: Box::new(policy) },
    });
    for customer in 1..=spec.customers {
        let owner = CustomerId(customer);
        let bound = Some(Binding::Account(class_i(customer)));
        let opening = [
            CommandBody::OpenAccount {
                account: class_i(customer),
                customer: owner,
                class: AccountClass::I,
                binding: None,
                verified_in_person: true,
                with_card: true,
            },
            CommandBody::CashDeposit { account: class_i(customer), amount: fen(&mut rng, 5_000, 500_000)? },
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
                amount: fen(&mut rng, 1_000, 60_000)?,
            },
            CommandBody::InternalTransfer {
                from: class_i(customer),
                to: class_iii(customer),
                amount: fen(&mut rng, 100, 3_000)?,
            },
        ];
        for body in opening {
            commands.push(Command { id: next_id(&mut rng), at: start, body });
        }
    }
    for day in 0..i64::from(spec.days) {
        let mut today: Vec<(i64, CommandBody)> = Vec::new();
        for customer in 1..=spec.customers {
            for _ in 0..spec.commands_per_customer_day {
                // Skew towards the evening so many days end with activity right before midnight.
                let ms_in_day = if rng.random_bool(0.2) {
                    DAY_MS - rng.random_range(1..600_000)
                } else {
                    rng.random_range(0..DAY_MS)
                };
                let other = rng.random_range(1..=spec.customers);
                let body = match rng.random_range(0..100u32) {
                    0..=24 => CommandBody::Payment {
                        from: class_ii(customer),
                        merchant: "Everyday Mart".into(),
                        amount: fen(&mut rng, 10, 6_000)?,
                    },
                    25..=39 => CommandBody::Payment {
                        from: class_iii(customer),
                        merchant: "Metro".into(),
                        amount: fen(&mut rng, 2, 1_500)?,
                    },
                    40..=49 => CommandBody::OutboundTransfer {
                        from: class_ii(customer),
                        counterparty: format!("EXT-{other}"),
                        amount: fen(&mut rng, 100, 8_000)?,
                    },
                    50..=57 => CommandBody::InboundTransfer {
                        to: class_ii(customer),
                        counterparty: "EMPLOYER-1".into(),
                        amount: fen(&mut rng, 1_000, 9_000)?,
                    },
                    58..=65 => CommandBody::InternalTransfer {
                        from: class_i(customer),
                        to: class_ii(customer),
                        amount: fen(&mut rng, 500, 20_000)?,
                    },
                    66..=71 => CommandBody::InternalTransfer {
                        from: class_i(customer),
                        to: class_iii(customer),
                        amount: fen(&mut rng, 50, 2_500)?,
                    },
                    72..=77 => CommandBody::WealthPurchase {
                        account: class_ii(customer),
                        product: "WM-90D".into(),
                        amount: fen(&mut rng, 1_000, 30_000)?,
                    },
                    78..=80 => CommandBody::WealthRedemption {
                        account: class_ii(customer),
                        product: "WM-90D".into(),
                        amount: fen(&mut rng, 1_000, 10_000)?,
                    },
                    81..=85 => {
                        CommandBody::CashWithdrawal { account: class_ii(customer), amount: fen(&mut rng, 100, 5_000)? }
                    }
                    86..=91 => CommandBody::InternalTransfer {
                        from: class_i(customer),
                        to: class_i(other),
                        amount: fen(&mut rng, 100, 50_000)?,
                    },
                    92..=95 => CommandBody::InternalTransfer {
                        from: class_ii(customer),
                        to: class_ii(other),
                        amount: fen(&mut rng, 100, 5_000)?,
                    },
                    96..=97 => {
                        CommandBody::CashDeposit { account: class_iii(customer), amount: fen(&mut rng, 100, 500)? }
                    }
                    _ => CommandBody::OutboundTransfer {
                        from: class_i(customer),
                        counterparty: format!("EXT-{other}"),
                        amount: fen(&mut rng, 1_000, 200_000)?,
                    },
                };
                today.push((day * DAY_MS + ms_in_day, body));
            }
        }
        today.sort_by_key(|(ms, _)| *ms);
        for (ms, body) in today {
            let at = start.plus_millis(ms)?;
            let command = Command { id: next_id(&mut rng), at, body };
            // About 1% of commands are sent twice (a client retrying after a timeout).
            let retry = rng.random_bool(0.01).then(|| command.clone());
            commands.push(command);
            commands.extend(retry);
        }
    }
    Ok(commands)
}
