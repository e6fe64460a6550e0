//! Protections through the engine on real RocksDB files: durable across close and reopen,
//! hash-chained and verified, replayed to the same state and read models; and a ledger written
//! by format 1 (before protections) opening, upgrading its snapshot and taking protections.

#![expect(clippy::unwrap_used, reason = "a failing step should stop the test where it fails")]

mod support;

use std::path::Path;
use std::sync::Arc;
use support::on_both_backends;

use ledger_core::{
    AccountClass, AccountId, Actor, Amount, Arrival, Binding, Command, CommandBody, CommandId, CustomerId, EventBody,
    Flow, NightWindow, PersonalLimits, Policy, ProtectionSettings, Release, Settlement, Timestamp,
};
use ledger_store::{FakeClock, Ledger, LedgerOptions, Reader};
use uuid::Uuid;

fn at(text: &str) -> Timestamp {
    format!("{}+08:00", text.replace(' ', "T")).parse().unwrap()
}

fn cny(text: &str) -> Amount {
    text.parse().unwrap()
}

fn cmd(id: u128, time: &str, body: CommandBody) -> Command {
    Command { id: CommandId(Uuid::from_u128(id)), at: at(time), body, stamped: false }
}

/// These tests date their commands by hand across the day, ahead of the fake clock: the
/// admission bound on future times is tested in tests/operator_safety.rs.
fn options(clock: &Arc<FakeClock>) -> LedgerOptions {
    LedgerOptions { clock: clock.clone(), max_ahead_of_clock: None, ..LedgerOptions::default() }
}

fn open(account: u64, class: AccountClass, bound: Option<u64>) -> CommandBody {
    CommandBody::OpenAccount {
        account: AccountId(account),
        customer: CustomerId(1),
        class,
        binding: bound.map(|b| Binding::Account(AccountId(b))),
        verified_in_person: true,
        with_card: false,
    }
}

fn kinds(reader: &Reader, account: u64) -> Vec<String> {
    let page = reader.history(AccountId(account), None, None, None, 100).unwrap();
    page.entries
        .iter()
        .map(|(_, event)| match &event.body {
            EventBody::Reserved { .. } => "reserved".to_owned(),
            EventBody::ReservationSettled { settlement: Settlement::Due, .. } => "executed".to_owned(),
            EventBody::ReservationSettled { settlement: Settlement::Confirmed, .. } => "confirmed".to_owned(),
            EventBody::ReservationReleased { release: Release::Cancelled, .. } => "cancelled".to_owned(),
            EventBody::ReservationReleased { release, .. } => format!("released {release:?}"),
            EventBody::AccountLocked { .. } => "locked".to_owned(),
            EventBody::PersonalLimitsSet { .. } => "limits".to_owned(),
            EventBody::NightLockSet { .. } => "night".to_owned(),
            EventBody::Posted(_) => "posted".to_owned(),
            EventBody::AccountOpened { .. } => "opened".to_owned(),
            other => format!("{other:?}"),
        })
        .collect()
}

on_both_backends! {
fn protections_are_durable_replayable_and_chained(db) {
    let clock = Arc::new(FakeClock::new(at("2026-03-02 09:00:00")));
    let t = "2026-03-02 10:00:00";
    let (hold, next_day, normal) = (501, 502, 503);
    let ledger = Ledger::create(db, options(&clock)).unwrap();
    let setup = vec![
        Command {
            id: CommandId(Uuid::from_u128(1)),
            at: Timestamp::UNIX_EPOCH,
            body: CommandBody::ChangePolicy {
                effective_from: Timestamp::UNIX_EPOCH,
                policy: Box::new(Policy::preset("default").unwrap()),
            }, stamped: false,
        },
        cmd(
            2,
            t,
            CommandBody::ChangeProtections {
                effective_from: at(t),
                settings: ProtectionSettings {
                    large_transaction_threshold: Some(cny("5000")),
                    ..ProtectionSettings::default()
                },
            },
        ),
        cmd(3, t, open(10, AccountClass::I, None)),
        cmd(4, t, CommandBody::CashDeposit { account: AccountId(10), amount: cny("100000") }),
        cmd(5, t, open(11, AccountClass::II, Some(10))),
        cmd(6, t, CommandBody::InternalTransfer { from: AccountId(10), to: AccountId(11), amount: cny("20000") }),
        cmd(
            7,
            t,
            CommandBody::LockAccount {
                account: AccountId(11),
                by: Actor::Customer,
                flows: vec![Flow::Payment],
                reason: "card skimmed".into(),
            },
        ),
        cmd(
            8,
            t,
            CommandBody::SetPersonalLimits {
                account: AccountId(11),
                limits: PersonalLimits { per_transaction: Some(cny("4000")), per_day: Some(cny("8000")) },
            },
        ),
        cmd(
            9,
            t,
            CommandBody::SetNightLock {
                account: AccountId(10),
                window: Some(NightWindow { start: "10:06".parse().unwrap(), end: "10:07".parse().unwrap() }),
            },
        ),
        cmd(
            10,
            t,
            CommandBody::ListRisk { counterparty: "CCB-666".into(), reason: "fraud".into(), source: "x".into() },
        ),
        cmd(
            hold,
            t,
            CommandBody::OutboundTransfer { from: AccountId(10), counterparty: "CCB-1".into(), amount: cny("6000") },
        ),
        cmd(
            next_day,
            t,
            CommandBody::DelayedTransfer {
                from: AccountId(11),
                counterparty: "CCB-2".into(),
                amount: cny("3000"),
                arrival: Arrival::NextDay,
            },
        ),
        cmd(
            normal,
            t,
            CommandBody::DelayedTransfer {
                from: AccountId(11),
                counterparty: "CCB-3".into(),
                amount: cny("1000"),
                arrival: Arrival::Normal,
            },
        ),
        cmd(11, "2026-03-02 10:05:00", CommandBody::CancelTransfer { transfer: CommandId(Uuid::from_u128(normal)) }),
        cmd(
            12,
            "2026-03-02 10:05:00",
            CommandBody::OutboundTransfer { from: AccountId(10), counterparty: "CCB-666".into(), amount: cny("10") },
        ),
        cmd(13, "2026-03-02 10:06:30", CommandBody::CashWithdrawal { account: AccountId(10), amount: cny("10") }),
    ];
    let receipts = ledger.submit_batch(setup).unwrap();
    let pending: Vec<u128> = receipts.iter().filter_map(|r| r.pending()).map(|r| r.id.0.as_u128()).collect();
    assert_eq!(pending, vec![hold, next_day, normal], "accepted, not posted");
    let codes: Vec<_> = receipts.iter().map(|r| r.rejection().map(|reason| reason.code())).collect();
    let mut expected = vec![None; 14];
    expected.extend([Some("RISK_LISTED_COUNTERPARTY"), Some("NIGHT_LOCKED")]);
    assert_eq!(codes, expected);
    // Posted under a per-day personal limit, in a batch of its own: the protections read model
    // (personal day use) moves too.
    let withdrawal = CommandBody::CashWithdrawal { account: AccountId(11), amount: cny("100") };
    assert!(ledger.submit(cmd(15, "2026-03-02 10:07:00", withdrawal)).unwrap().is_accepted());
    assert_eq!(ledger.available(AccountId(10)).unwrap(), Some(cny("74000")));
    assert_eq!(ledger.available(AccountId(11)).unwrap(), Some(cny("16900")));
    assert_eq!(ledger.protections(AccountId(11)).unwrap().unwrap().personal_day_used, cny("3100"));
    let risk_seq = ledger.risk_listed("CCB-666").unwrap();
    assert_eq!(risk_seq, Some(10));
    let replay = ledger.replay().unwrap();
    assert!(replay.mismatches.is_empty(), "{:?}", replay.mismatches);
    ledger.close().unwrap();

    // Reopen (from the snapshot written at close): everything is still there.
    let ledger = Ledger::open(db, options(&clock)).unwrap();
    let protections = ledger.protections(AccountId(11)).unwrap().unwrap();
    assert_eq!(protections.locks.len(), 1);
    assert_eq!(protections.limits.per_day, Some(cny("8000")));
    assert_eq!(protections.reserved, cny("3000"));
    let pending: Vec<u128> = ledger.pending(None).unwrap().iter().map(|r| r.id.0.as_u128()).collect();
    assert_eq!(pending, vec![hold, next_day]);
    assert_eq!(ledger.risk_listed("CCB-666").unwrap(), risk_seq);
    assert_eq!(ledger.protection_settings_at(at(t)).unwrap().large_transaction_threshold, Some(cny("5000")));

    // The hold expires unconfirmed at 10:30; the next-day transfer executes at midnight. Both
    // happen before the tick's answer, which is the only receipt.
    let head = ledger.head().unwrap().seq;
    let receipts = ledger.submit_batch(vec![cmd(14, "2026-03-03 00:00:00", CommandBody::Tick)]).unwrap();
    assert_eq!(receipts.len(), 1);
    assert_eq!(receipts[0].seq, head + 3, "expiry, execution, then the tick's answer");
    assert!(ledger.pending(None).unwrap().is_empty());
    assert_eq!(ledger.balance(AccountId(10)).unwrap(), Some(cny("80000")));
    assert_eq!(ledger.balance(AccountId(11)).unwrap(), Some(cny("16900")));
    assert_eq!(ledger.available(AccountId(11)).unwrap(), Some(cny("16900")));
    let history = kinds(&ledger, 11);
    for kind in ["reserved", "cancelled", "executed", "locked", "limits"] {
        assert!(history.iter().any(|k| k == kind), "history of 11 lacks {kind}: {history:?}");
    }
    assert!(kinds(&ledger, 10).iter().any(|k| k == "released Expired"), "{:?}", kinds(&ledger, 10));

    // Chained, replayable, and the read models agree with a replay from genesis.
    let report = ledger.verify(1, None).unwrap();
    assert_eq!(report.head, ledger.head().unwrap());
    let replay = ledger.replay().unwrap();
    assert!(replay.mismatches.is_empty(), "{:?}", replay.mismatches);
    assert_eq!(ledger.replayed_state().unwrap(), ledger.live_state().unwrap());
    let head = ledger.head().unwrap();
    ledger.close().unwrap();
    let ledger = Ledger::open(db, options(&clock)).unwrap();
    assert_eq!(ledger.head().unwrap(), head);
    assert_eq!(ledger.snapshot_state().unwrap(), ledger.replayed_state().unwrap());
}
}

/// Record `seq`'s hash, as an export states it.
fn record_hash(reader: &Reader, seq: u64) -> [u8; 32] {
    let mut line = Vec::new();
    reader.export(seq, Some(seq), &mut line).unwrap();
    let record: serde_json::Value = serde_json::from_slice(&line).unwrap();
    hex::decode(record["hash"].as_str().unwrap()).unwrap().try_into().unwrap()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

/// `tests/fixtures/ledger-v1` was written by commit 536ced4 (format 1, snapshot layout 1) from
/// `ledger-v1.commands.jsonl` (the docs/COMMANDS.md examples plus one rejected transfer).
#[test]
fn a_format_1_ledger_opens_upgrades_its_snapshot_and_takes_protections() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ledger-v1");
    copy_dir(&fixture, dir.path());
    let head_text = "15:e8c1f5e6d831cd6a5205f20b39e2b9fe4edd9e713fa7229ae0b287b10827440b";
    let clock = Arc::new(FakeClock::new(at("2026-03-03 09:00:00")));

    let reader = Reader::open(dir.path(), clock.clone()).unwrap();
    assert_eq!(reader.head().unwrap().to_text(), head_text);
    assert_eq!(reader.verify(1, None).unwrap().head.to_text(), head_text);
    assert_eq!(reader.balance(AccountId(70)).unwrap(), Some(cny("42000")));
    assert_eq!(reader.balance(AccountId(71)).unwrap(), Some(cny("4694.50")));
    assert!(reader.replay().unwrap().mismatches.is_empty());

    // Written before the Merkle tree: no proofs until a writer opens it.
    assert!(matches!(reader.merkle_root(15), Err(ledger_store::Error::ReadModel(_))));
    drop(reader);

    // The old snapshot is superseded: the state is rebuilt from the log, and the same. The
    // open builds the Merkle tree from the log (the migration to the tree).
    let ledger = Ledger::open(dir.path(), options(&clock)).unwrap();
    assert_eq!(ledger.head().unwrap().to_text(), head_text);
    let leaves: Vec<[u8; 32]> =
        (1..=15).map(|seq| ledger_store::merkle::leaf_hash(&record_hash(&ledger, seq))).collect();
    let mut tree = ledger_store::merkle::Frontier::default();
    for leaf in &leaves {
        tree.push(*leaf);
    }
    assert_eq!(ledger.merkle_root(15).unwrap(), tree.root());
    let path = ledger.inclusion_proof(3, 15).unwrap();
    assert!(ledger_store::merkle::verify_inclusion(&leaves[2], 2, 15, &path, &tree.root()));
    assert_eq!(ledger.live_state().unwrap(), ledger.replayed_state().unwrap());
    let lock =
        CommandBody::LockAccount { account: AccountId(71), by: Actor::Bank, flows: vec![], reason: "review".into() };
    assert!(ledger.submit(cmd(900, "2026-03-03 09:00:00", lock)).unwrap().is_accepted());
    let pay = CommandBody::Payment { from: AccountId(71), merchant: "Metro".into(), amount: cny("1") };
    let receipt = ledger.submit(cmd(901, "2026-03-03 09:00:00", pay)).unwrap();
    assert_eq!(receipt.rejection().map(|r| r.code()), Some("ACCOUNT_LOCKED"));
    let head = ledger.head().unwrap();
    ledger.close().unwrap();

    // Reopen from the new snapshot; the old records still verify under the new code.
    let ledger = Ledger::open(dir.path(), options(&clock)).unwrap();
    assert_eq!(ledger.head().unwrap(), head);
    assert_eq!(ledger.snapshot_state().unwrap(), ledger.replayed_state().unwrap());
    assert_eq!(ledger.verify(1, None).unwrap().head, head);
    assert!(ledger.replay().unwrap().mismatches.is_empty());
    assert_eq!(ledger.protections(AccountId(71)).unwrap().unwrap().locks.len(), 1);
}

on_both_backends! {
fn a_dry_run_decides_after_what_comes_due_and_changes_nothing(db) {
    let clock = Arc::new(FakeClock::new(at("2026-03-02 09:00:00")));
    let t = "2026-03-02 10:00:00";
    let ledger = Ledger::create(db, options(&clock)).unwrap();
    let policy = CommandBody::ChangePolicy {
        effective_from: Timestamp::UNIX_EPOCH,
        policy: Box::new(Policy::preset("default").unwrap()),
    };
    let threshold =
        ProtectionSettings { large_transaction_threshold: Some(cny("5000")), ..ProtectionSettings::default() };
    let setup = vec![
        Command { id: CommandId(Uuid::from_u128(1)), at: Timestamp::UNIX_EPOCH, body: policy, stamped: false },
        cmd(2, t, CommandBody::ChangeProtections { effective_from: at(t), settings: threshold }),
        cmd(3, t, open(10, AccountClass::I, None)),
        cmd(4, t, CommandBody::CashDeposit { account: AccountId(10), amount: cny("10000") }),
        // Held for verification: 6,000 reserved until it is confirmed, declined or expires.
        cmd(
            5,
            t,
            CommandBody::OutboundTransfer { from: AccountId(10), counterparty: "CCB-1".into(), amount: cny("6000") },
        ),
    ];
    assert!(ledger.submit_batch(setup).unwrap().iter().all(|r| r.is_accepted()));
    assert!(
        ledger
            .submit(cmd(6, t, CommandBody::CashWithdrawal { account: AccountId(10), amount: cny("4500") }))
            .unwrap()
            .rejection()
            .is_some()
    );
    let head = ledger.head().unwrap();
    let state = ledger.live_state().unwrap();

    // A day later the hold has expired: the dry run sees the release first, then the withdrawal.
    let later =
        cmd(7, "2026-03-03 10:00:00", CommandBody::CashWithdrawal { account: AccountId(10), amount: cny("4500") });
    let dry = ledger.check(later.clone()).unwrap();
    assert!(dry.is_accepted(), "{:?}", dry.rejection());
    assert_eq!(dry.seq, head.seq + 2, "the expiry comes first");
    assert_eq!(ledger.head().unwrap(), head, "a dry run appends nothing");
    assert_eq!(ledger.live_state().unwrap(), state, "a dry run changes no state");
    assert_eq!(ledger.pending(Some(AccountId(10))).unwrap().len(), 1, "the hold is still pending");
    // A retried id is answered as a retry, and a conflicting one as a conflict; neither appends.
    let retried =
        ledger.check(cmd(6, t, CommandBody::CashWithdrawal { account: AccountId(10), amount: cny("4500") })).unwrap();
    assert!(retried.duplicate && !retried.conflict && retried.seq == head.seq);
    let reused =
        ledger.check(cmd(6, t, CommandBody::CashWithdrawal { account: AccountId(10), amount: cny("1") })).unwrap();
    assert!(reused.duplicate && reused.conflict);

    let real = ledger.submit(later).unwrap();
    assert_eq!((real.seq, &real.event), (dry.seq, &dry.event), "the submission agrees with the dry run");
    assert_eq!(kinds(&ledger, 10).last().map(String::as_str), Some("posted"));
    ledger.close().unwrap();
}
}
