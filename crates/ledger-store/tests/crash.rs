//! SIGKILL during load: the real engine runs in a child process (this test binary re-run with
//! `LEDGER_CRASH_CHILD` set) with several submitting threads, each keeping two batches in flight
//! (the writer decides one while the committer writes another); it prints `ACK <id> <seq>` only
//! after the batch was answered. The parent kills it at a random moment, then reopens the ledger,
//! verifies the chain from genesis, checks replay equals the read models, and that every
//! acknowledged command id is present with the sequence number it was acknowledged with. The
//! load includes held outflows and delayed transfers, which expire and execute during it.
//!
//! `LEDGER_CRASH_KILLS` sets the number of kills (default 200; a fresh ledger every 25 kills
//! keeps each check short). A process kill keeps what the OS already has; power loss is not
//! simulated here.

#![expect(clippy::unwrap_used, reason = "a failing step should stop the test where it fails")]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command as Process, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use ledger_core::{
    AccountId, Amount, Arrival, Command, CommandBody, CommandId, CustomerId, EventBody, Policy, ProtectionSettings,
    Timestamp,
};
use ledger_store::{Ledger, LedgerOptions, SigningKey, SystemClock};
use uuid::Uuid;

const CHILD_ENV: &str = "LEDGER_CRASH_CHILD";
const ACCOUNTS: u64 = 40;
/// The children record a checkpoint every this many records, signed with [`checkpoint_key`].
const CHECKPOINT_EVERY: u64 = 50;
/// Batches each submitting thread keeps unanswered.
const IN_FLIGHT: usize = 2;

fn checkpoint_key() -> SigningKey {
    SigningKey::from_bytes(&[5; 32])
}

fn child(dir: &str) -> ! {
    // Business time runs a second per batch, faster than the clock: no bound on how far ahead.
    let options = LedgerOptions {
        clock: Arc::new(SystemClock),
        max_ahead_of_clock: None,
        checkpoint_every: CHECKPOINT_EVERY,
        checkpoint_key: Some(checkpoint_key()),
        ..LedgerOptions::default()
    };
    let ledger = Ledger::open(dir, options).unwrap();
    let at = std::cmp::max(ledger.now(), ledger.live_state().unwrap().head_at().unwrap_or(Timestamp::UNIX_EPOCH));
    let policy = Box::new(Policy::preset("default").unwrap());
    let genesis = Command {
        id: CommandId(Uuid::from_u128(1)),
        at,
        body: CommandBody::ChangePolicy { effective_from: Timestamp::UNIX_EPOCH, policy },
        stamped: false,
    };
    ledger.submit(genesis).unwrap();
    // Holds above 50.00 expire after a minute; normal-arrival transfers execute a minute after
    // acceptance. Business time advances a second per batch, so both come due during the load.
    let settings = ProtectionSettings {
        large_transaction_threshold: Some(Amount::from_fen(5_000).unwrap()),
        hold_expiry_minutes: 1,
        normal_arrival_delay_minutes: 1,
        ..ProtectionSettings::default()
    };
    let protections = Command {
        id: CommandId(Uuid::from_u128(2)),
        at,
        body: CommandBody::ChangeProtections { effective_from: at, settings },
        stamped: false,
    };
    ledger.submit(protections).unwrap();
    let clock_ms = Arc::new(AtomicI64::new(at.as_millis()));
    let opens = (1..=ACCOUNTS)
        .map(|a| Command {
            id: CommandId(Uuid::from_u128(1000 + u128::from(a))),
            at,
            body: CommandBody::open_class_i(AccountId(a), CustomerId(a)),
            stamped: false,
        })
        .collect();
    ledger.submit_batch(opens).unwrap();
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let ledger = ledger.clone();
            let clock_ms = clock_ms.clone();
            std::thread::spawn(move || {
                let mut n: u64 = t;
                let mut in_flight = std::collections::VecDeque::new();
                loop {
                    n = n.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                    let from = AccountId((n >> 33) % ACCOUNTS + 1);
                    let to = AccountId((n >> 17) % ACCOUNTS + 1);
                    let amount = Amount::from_fen((n >> 40) % 10_000 + 1).unwrap();
                    let counterparty = format!("EXT-{}", n % 7);
                    let body = match n % 6 {
                        0 | 1 => CommandBody::CashDeposit { account: from, amount },
                        2 | 3 => CommandBody::InternalTransfer { from, to, amount },
                        4 => CommandBody::OutboundTransfer { from, counterparty, amount },
                        _ => CommandBody::DelayedTransfer { from, counterparty, amount, arrival: Arrival::Normal },
                    };
                    // Threads race for times: a batch that loses is rejected TIME_BEFORE_HEAD.
                    let at = Timestamp::from_millis(clock_ms.fetch_add(1_000, Ordering::Relaxed)).unwrap();
                    let commands: Vec<Command> = (0..(n % 4 + 1))
                        .map(|_| Command { id: CommandId(Uuid::new_v4()), at, body: body.clone(), stamped: false })
                        .collect();
                    let (reply, answer) = std::sync::mpsc::sync_channel(1);
                    ledger.submit_batch_then(commands.clone(), move |receipts| {
                        let _ = reply.send(receipts);
                    });
                    in_flight.push_back((commands, answer));
                    if in_flight.len() < IN_FLIGHT {
                        continue;
                    }
                    let Some((commands, answer)) = in_flight.pop_front() else { continue };
                    let receipts = answer.recv().unwrap().unwrap();
                    let mut out = std::io::stdout().lock();
                    for (command, receipt) in commands.iter().zip(receipts) {
                        writeln!(out, "ACK {} {}", command.id.0, receipt.seq).unwrap();
                    }
                    out.flush().unwrap();
                }
            })
        })
        .collect();
    for thread in threads {
        let _ = thread.join();
    }
    std::process::exit(0)
}

#[test]
fn sigkill_during_load_loses_nothing_acknowledged() {
    if let Ok(dir) = std::env::var(CHILD_ENV) {
        child(&dir);
    }
    let kills: u32 = std::env::var("LEDGER_CRASH_KILLS").ok().and_then(|v| v.parse().ok()).unwrap_or(200);
    // The parent creates each ledger: children only ever open one (a kill during creation is
    // init's business, not this test's).
    let fresh = || {
        let dir = tempfile::tempdir().unwrap();
        Ledger::create(dir.path(), LedgerOptions::default()).unwrap().close().unwrap();
        dir
    };
    let mut dir = fresh();
    let mut acknowledged: HashMap<Uuid, u64> = HashMap::new();
    let mut acknowledged_total = 0usize;
    let mut events_checked = 0u64;
    let mut checkpoints_seen = 0u64;
    let mut protection_events: std::collections::BTreeMap<&str, u64> = std::collections::BTreeMap::new();
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let started = Instant::now();
    for round in 0..kills {
        if round % 25 == 0 && round > 0 {
            acknowledged_total += acknowledged.len();
            acknowledged.clear();
            dir = fresh();
        }
        let mut process = Process::new(std::env::current_exe().unwrap())
            .args(["sigkill_during_load_loses_nothing_acknowledged", "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = process.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut acks = Vec::new();
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let mut parts = line.split_whitespace();
                if parts.next() == Some("ACK") {
                    let id: Uuid = parts.next().unwrap().parse().unwrap();
                    let seq: u64 = parts.next().unwrap().parse().unwrap();
                    acks.push((id, seq));
                }
            }
            acks
        });
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        // Let the child open and load, then kill it somewhere in the middle of its load.
        std::thread::sleep(Duration::from_millis(40 + (seed >> 33) % 160));
        process.kill().unwrap(); // SIGKILL on Unix
        process.wait().unwrap();
        let acks = reader.join().unwrap();
        acknowledged.extend(acks);

        let ledger = Ledger::open(dir.path(), LedgerOptions::default()).unwrap();
        let head = ledger.head().unwrap();
        // Every recorded checkpoint checked, its signature too.
        let report = ledger.verify_signed(1, Some(head), Some(&checkpoint_key().verifying_key()), &mut |_| {}).unwrap();
        assert_eq!(report.events_checked, head.seq);
        // Across every kill and restart: one checkpoint of each multiple of CHECKPOINT_EVERY a
        // record follows, none repeated (sizes only grow).
        let sizes: Vec<u64> = ledger.recorded_checkpoints(1, head.seq).unwrap().iter().map(|c| c.size).collect();
        assert!(sizes.windows(2).all(|pair| pair[0] < pair[1]), "round {round}: {sizes:?}");
        let multiples = (1..).map(|k| k * CHECKPOINT_EVERY).take_while(|size| *size < head.seq);
        assert!(multiples.clone().all(|size| sizes.contains(&size)), "round {round}: {sizes:?}");
        checkpoints_seen += sizes.len() as u64;
        events_checked += report.events_checked;
        let replay = ledger.replay().unwrap();
        assert!(replay.mismatches.is_empty(), "round {round}: {:?}", replay.mismatches);
        for (id, seq) in &acknowledged {
            assert_eq!(ledger.answered(CommandId(*id)).unwrap(), Some(*seq), "round {round}: acknowledged {id} lost");
        }
        if round % 25 == 24 || round + 1 == kills {
            // What the protections did in this ledger's life (held, executed when due, expired).
            for seq in 1..=head.seq {
                let kind = match ledger.event(seq).unwrap().body {
                    EventBody::Reserved { .. } => "reserved",
                    EventBody::ReservationSettled { .. } => "executed when due",
                    EventBody::ReservationReleased { .. } => "expired",
                    _ => continue,
                };
                *protection_events.entry(kind).or_default() += 1;
            }
        }
        drop(ledger);
    }
    for kind in ["reserved", "executed when due", "expired"] {
        assert!(protection_events.get(kind).copied().unwrap_or(0) > 0, "no {kind} event: {protection_events:?}");
    }
    acknowledged_total += acknowledged.len();
    assert!(acknowledged_total > kills as usize, "the children acknowledged too little to test anything");
    assert!(checkpoints_seen > u64::from(kills), "too few recorded checkpoints to test anything: {checkpoints_seen}");
    println!(
        "crash test: {kills} SIGKILLs survived; {acknowledged_total} acknowledged commands all present; \
         {events_checked} events re-verified after the kills ({checkpoints_seen} recorded checkpoints checked); protections: {protection_events:?}; {:.1} s",
        started.elapsed().as_secs_f64()
    );
}
