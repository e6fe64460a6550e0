//! Store benchmarks on real RocksDB files: durable commit (fsync per batch) at batch sizes
//! 1/100/1,000/8,189, the hash chain alone, and verify and replay of a 200,000-event ledger.

#![expect(clippy::unwrap_used, reason = "a benchmark stops on a setup failure")]

use std::sync::atomic::{AtomicU64, Ordering};

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use ledger_core::{AccountId, Amount, Command, CommandBody, CommandId, CustomerId, Policy, Timestamp};
use ledger_store::codec::{self, GENESIS_PREV, Record};
use ledger_store::{Ledger, LedgerOptions};
use uuid::Uuid;

const ACCOUNTS: u64 = 10_000;

fn at() -> Timestamp {
    Timestamp::from_millis(1_772_416_800_000).unwrap()
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

fn command(body: CommandBody) -> Command {
    Command {
        id: CommandId(Uuid::from_u64_pair(7, NEXT_ID.fetch_add(1, Ordering::Relaxed))),
        at: at(),
        body,
        stamped: false,
    }
}

/// A ledger with `ACCOUNTS` funded Class I accounts.
fn ledger(dir: &std::path::Path) -> Ledger {
    let ledger = Ledger::create(dir, LedgerOptions::default()).unwrap();
    let policy = Box::new(Policy::preset("default").unwrap());
    let mut setup = vec![command(CommandBody::ChangePolicy { effective_from: Timestamp::UNIX_EPOCH, policy })];
    for a in 1..=ACCOUNTS {
        setup.push(command(CommandBody::open_class_i(AccountId(a), CustomerId(a))));
        setup.push(command(CommandBody::CashDeposit {
            account: AccountId(a),
            amount: Amount::from_yuan(10_000_000).unwrap(),
        }));
    }
    for chunk in setup.chunks(8_192) {
        let _ = ledger.submit_batch(chunk.to_vec());
    }
    ledger
}

fn transfers(n: usize, seed: &mut u64) -> Vec<Command> {
    (0..n)
        .map(|_| {
            *seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            let from = AccountId((*seed >> 33) % ACCOUNTS + 1);
            let to = AccountId(((*seed >> 13) % (ACCOUNTS - 1) + from.0) % ACCOUNTS + 1);
            let amount = Amount::from_fen((*seed >> 50) % 10_000 + 1).unwrap();
            command(CommandBody::InternalTransfer { from, to, amount })
        })
        .collect()
}

fn bench_commit(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let ledger = ledger(dir.path());
    let mut seed = 1;
    let mut group = c.benchmark_group("commit");
    group.sample_size(10);
    for batch in [1usize, 100, 1_000, 8_189] {
        group.throughput(Throughput::Elements(batch as u64));
        group.bench_function(format!("batch_{batch}"), |b| {
            b.iter_batched(
                || transfers(batch, &mut seed),
                |commands| ledger.submit_batch(commands),
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

fn bench_chain(c: &mut Criterion) {
    let mut seed = 3;
    let events: Vec<Vec<u8>> = transfers(100_000, &mut seed)
        .iter()
        .map(|cmd| {
            let event = ledger_core::Event {
                command_id: cmd.id,
                at: cmd.at,
                body: ledger_core::EventBody::Rejected {
                    command: cmd.body.clone(),
                    reason: ledger_core::RejectReason::ZeroAmount,
                },
                principal: Some(ledger_core::Principal::ledger()),
                withheld: Vec::new(),
            };
            codec::encode_event(&event).unwrap()
        })
        .collect();
    let mut group = c.benchmark_group("hash_chain");
    group.sample_size(10);
    group.throughput(Throughput::Elements(events.len() as u64));
    group.bench_function("link_100k_records", |b| {
        b.iter(|| {
            let mut prev = GENESIS_PREV;
            for (i, bytes) in events.iter().enumerate() {
                prev = Record::new(i as u64 + 1, prev, bytes.clone()).hash;
            }
            prev
        })
    });
    group.finish();
}

fn bench_verify_replay(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let ledger = ledger(dir.path());
    let mut seed = 5;
    for _ in 0..22 {
        let _ = ledger.submit_batch(transfers(8_189, &mut seed));
    }
    let events = ledger.head().map(|h| h.seq).unwrap_or(0);
    let mut group = c.benchmark_group("log");
    group.sample_size(10);
    group.throughput(Throughput::Elements(events));
    group.bench_function("verify", |b| b.iter(|| ledger.verify(1, None)));
    group.bench_function("replay", |b| b.iter(|| ledger.replay()));
    group.finish();
}

criterion_group!(benches, bench_commit, bench_chain, bench_verify_replay);
criterion_main!(benches);
