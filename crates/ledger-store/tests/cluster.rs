//! The ledger on a replicated PostgreSQL cluster (docs/CLUSTER.md): 3 etcd members, 3 PostgreSQL
//! nodes under Patroni with strict synchronous replication, on loopback, started by the test.
//! Under a steady load of batches the primary's machine dies (Patroni and PostgreSQL SIGKILLed):
//! the standby is promoted, the writer reconnects and goes on, every batch's callers retry with
//! the same ids until answered, and in the end every acknowledged command is in the log exactly
//! once, the chain verifies from genesis, replay equals the read models, and the chain is the
//! same on every surviving node.

#![expect(clippy::unwrap_used, clippy::panic, reason = "a failing step should stop the test where it fails")]

mod support;

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ledger_core::{AccountId, Amount, Command, CommandBody, CommandId, CustomerId, Policy, Timestamp};
use ledger_store::{Error, FakeClock, Ledger, LedgerOptions, Reader};
use support::cluster::Cluster;

/// The longest a batch may go unanswered across a failover before the test fails.
const OUTAGE_MAX: Duration = Duration::from_secs(90);
const BATCHES: u64 = 40;
const BATCH_LEN: u64 = 250;
const KILL_AFTER_BATCH: u64 = 15;

fn at(text: &str) -> Timestamp {
    format!("{text}+08:00").parse().unwrap()
}

fn options() -> LedgerOptions {
    let clock = Arc::new(FakeClock::new(at("2026-03-03T00:00:00")));
    LedgerOptions { clock, max_ahead_of_clock: None, snapshot_every_events: 2_000, ..LedgerOptions::default() }
}

fn command(id: u128, body: CommandBody) -> Command {
    Command { id: CommandId(uuid::Uuid::from_u128(id)), at: at("2026-03-02T09:00:00"), body }
}

/// Submits `batch` until it is answered (a failover answers with storage errors meanwhile);
/// returns the time it went unanswered.
fn submit_until_answered(ledger: &Ledger, batch: &[Command]) -> Duration {
    let started = Instant::now();
    loop {
        match ledger.submit_batch(batch.to_vec()) {
            Ok(receipts) => {
                assert_eq!(receipts.len(), batch.len());
                return started.elapsed();
            }
            Err(Error::Io(why)) => {
                assert!(started.elapsed() < OUTAGE_MAX, "no answer after {OUTAGE_MAX:?}: {why}");
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(other) => panic!("unexpected error: {other}"),
        }
    }
}

#[test]
fn the_primarys_death_loses_no_acknowledged_command_and_the_writer_resumes_on_the_new_primary() {
    let mut cluster = Cluster::start();
    cluster.create_database("ledger");
    let url = cluster.url("ledger");
    let ledger = Ledger::create(Path::new(&url), options()).unwrap();
    let policy = Box::new(Policy::preset("pboc-2018").unwrap());
    let mut setup = vec![command(1, CommandBody::ChangePolicy { effective_from: Timestamp::UNIX_EPOCH, policy })];
    for a in 1..=100u64 {
        setup.push(command(u128::from(a) * 2, CommandBody::open_class_i(AccountId(a), CustomerId(a))));
        let amount = Amount::from_yuan(1_000_000).unwrap();
        setup.push(command(u128::from(a) * 2 + 1, CommandBody::CashDeposit { account: AccountId(a), amount }));
    }
    submit_until_answered(&ledger, &setup);

    let mut acknowledged: Vec<CommandId> = setup.iter().map(|c| c.id).collect();
    let mut outage = None;
    let mut killed = None;
    for b in 0..BATCHES {
        if b == KILL_AFTER_BATCH {
            let leader = cluster.leader().unwrap();
            cluster.kill_node(&leader);
            killed = Some(leader);
        }
        let batch: Vec<Command> = (0..BATCH_LEN)
            .map(|i| {
                let n = b * BATCH_LEN + i;
                let (from, to) = (AccountId(n % 100 + 1), AccountId((n * 37 + 11) % 100 + 1));
                let amount = Amount::from_fen(n % 50_000 + 1).unwrap();
                let body = if from == to {
                    CommandBody::CashDeposit { account: from, amount }
                } else {
                    CommandBody::InternalTransfer { from, to, amount }
                };
                command(1_000_000 + u128::from(n), body)
            })
            .collect();
        let waited = submit_until_answered(&ledger, &batch);
        if b == KILL_AFTER_BATCH {
            outage = Some(waited);
        }
        acknowledged.extend(batch.iter().map(|c| c.id));
    }
    let outage = outage.unwrap();
    let killed = killed.unwrap();

    // Every acknowledged command is in the log exactly once: a retry of each is a duplicate,
    // and the log holds one event per command (transfers here make no due events).
    let mut seqs = HashSet::new();
    for chunk in acknowledged.chunks(1_000) {
        let retries: Vec<Command> = chunk.iter().map(|id| command(id.0.as_u128(), CommandBody::Tick)).collect();
        for receipt in ledger.submit_batch(retries).unwrap() {
            assert!(receipt.duplicate, "seq {}", receipt.seq);
            assert!(seqs.insert(receipt.seq), "two commands answered by seq {}", receipt.seq);
        }
    }
    let head = ledger.head().unwrap();
    assert_eq!(head.seq, acknowledged.len() as u64, "one event per acknowledged command, none lost, none twice");
    ledger.verify(1, None).unwrap();
    assert!(ledger.replay().unwrap().mismatches.is_empty());
    ledger.close().unwrap();

    // The killed machine comes back as a standby; every node then holds the same chain.
    cluster.restart_node(&killed);
    let started = Instant::now();
    for node in cluster.nodes.iter().map(|node| node.name.clone()).collect::<Vec<_>>() {
        loop {
            let seen = Reader::open(cluster.node_url(&node, "ledger"), options().clock).and_then(|r| r.head());
            match seen {
                Ok(seen) if seen == head => break,
                _ if started.elapsed() < OUTAGE_MAX => std::thread::sleep(Duration::from_millis(200)),
                other => panic!("node {node} holds {other:?}, not {}", head.to_text()),
            }
        }
    }
    println!(
        "cluster failover: primary {killed} SIGKILLed after batch {KILL_AFTER_BATCH}; {} acknowledged commands all \
         present once; chain {} on all 3 nodes; the batch in flight waited {:.1} s",
        acknowledged.len(),
        head.to_text(),
        outage.as_secs_f64()
    );
}
