//! Core-only benchmarks (no RocksDB): decide + apply per command, and replay (apply alone).

#![expect(clippy::unwrap_used, reason = "a benchmark stops on a setup failure")]

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use ledger_core::{
    AccountClass, AccountId, Amount, Binding, Command, CommandBody, CommandId, CustomerId, Decision, Event, EventBody,
    Policy, State, Timestamp, execute,
};
use uuid::Uuid;

const ACCOUNTS: u64 = 10_000;
const TRANSFERS: u64 = 100_000;

fn command(n: u64, at: Timestamp, body: CommandBody) -> Command {
    Command { id: CommandId(Uuid::from_u64_pair(1, n)), at, body, stamped: false }
}

/// 10,000 customers with a funded Class I and a Class II each, then transfers between uniformly
/// spread accounts (a fixed LCG stands in for randomness so runs are comparable).
fn workload() -> (Vec<Command>, Vec<Command>) {
    let at = Timestamp::from_millis(1_767_225_600_000).unwrap();
    let policy = Policy::preset("default").unwrap();
    let mut setup = vec![command(
        0,
        at,
        CommandBody::ChangePolicy { effective_from: Timestamp::UNIX_EPOCH, policy: Box::new(policy) },
    )];
    let big = Amount::from_yuan(1_000_000).unwrap();
    for c in 1..=ACCOUNTS {
        let open_i = CommandBody::open_class_i(AccountId(c * 10), CustomerId(c));
        let open_ii = CommandBody::OpenAccount {
            account: AccountId(c * 10 + 1),
            customer: CustomerId(c),
            class: AccountClass::II,
            binding: Some(Binding::Account(AccountId(c * 10))),
            verified_in_person: true,
            with_card: false,
        };
        setup.push(command(setup.len() as u64, at, open_i));
        setup.push(command(setup.len() as u64, at, open_ii));
        setup.push(command(
            setup.len() as u64,
            at,
            CommandBody::CashDeposit { account: AccountId(c * 10), amount: big },
        ));
    }
    let mut lcg: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = || {
        lcg = lcg.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        lcg >> 33
    };
    let transfers = (0..TRANSFERS)
        .map(|n| {
            let from = AccountId((next() % ACCOUNTS + 1) * 10 + next() % 2);
            let to = AccountId((next() % ACCOUNTS + 1) * 10 + next() % 2);
            let amount = Amount::from_fen(next() % 500_000 + 1).unwrap();
            command(1_000_000 + n, at, CommandBody::InternalTransfer { from, to, amount })
        })
        .collect();
    (setup, transfers)
}

fn bench_core(c: &mut Criterion) {
    let (setup, transfers) = workload();
    let mut ready = State::new();
    for cmd in &setup {
        let _ = execute(&mut ready, cmd);
    }
    let mut group = c.benchmark_group("core");
    group.throughput(Throughput::Elements(TRANSFERS));
    group.sample_size(10);
    group.bench_function("decide_apply_100k_transfers", |b| {
        b.iter_batched(
            || ready.clone(),
            |mut state| {
                for cmd in &transfers {
                    let _ = execute(&mut state, cmd);
                }
                state
            },
            BatchSize::LargeInput,
        )
    });
    let mut state = ready.clone();
    let events: Vec<Event> = transfers
        .iter()
        .filter_map(|cmd| match ledger_core::decide(&state, cmd) {
            Decision::Append(events) => {
                for event in &events {
                    let _ = state.apply(event);
                }
                Some(events)
            }
            Decision::Retry { .. } | Decision::Due(_) => None,
        })
        .flatten()
        .collect();
    group.bench_function("apply_100k_events", |b| {
        b.iter_batched(
            || ready.clone(),
            |mut state| {
                for event in &events {
                    let _ = state.apply(event);
                }
                state
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

/// Risk-list screening: 100,000 outbound transfers decided against an empty list and against a
/// list of 1,000,000 counterparties (every tenth transfer goes to a listed one).
fn bench_risk_screening(c: &mut Criterion) {
    let (setup, _) = workload();
    let mut empty = State::new();
    for cmd in &setup {
        let _ = execute(&mut empty, cmd);
    }
    let at = empty.head_at().unwrap();
    let mut listed = empty.clone();
    for n in 0..1_000_000u64 {
        let event = Event {
            command_id: CommandId(Uuid::from_u64_pair(2, n)),
            at,
            body: EventBody::RiskListed {
                counterparty: format!("6217-0000-{n:010}"),
                reason: "telecom fraud".into(),
                source: "shared list".into(),
            },
            principal: None,
            withheld: Vec::new(),
        };
        listed.apply(&event).unwrap();
    }
    let transfers: Vec<Command> = (0..100_000u64)
        .map(|n| {
            // Every tenth counterparty is listed; the rest share the prefix but are not.
            let counterparty =
                if n % 10 == 0 { format!("6217-0000-{:010}", n * 7) } else { format!("6217-0001-{n:010}") };
            let body = CommandBody::OutboundTransfer {
                from: AccountId((n % ACCOUNTS + 1) * 10),
                counterparty,
                amount: Amount::from_fen(100).unwrap(),
            };
            command(3_000_000 + n, at, body)
        })
        .collect();
    let mut group = c.benchmark_group("risk_screening");
    group.throughput(Throughput::Elements(transfers.len() as u64));
    group.sample_size(10);
    for (name, state) in [("decide_100k_outbound_empty_list", &empty), ("decide_100k_outbound_1m_listed", &listed)] {
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut rejected = 0u32;
                for cmd in &transfers {
                    if let Decision::Append(events) = ledger_core::decide(state, cmd) {
                        rejected += u32::from(matches!(events[0].body, EventBody::Rejected { .. }));
                    }
                }
                rejected
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_core, bench_risk_screening);
criterion_main!(benches);
