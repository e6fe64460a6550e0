//! Replay with memory bounded by a setting: a replay whose cache holds fewer accounts than the
//! ledger (they spill to a scratch store) finds exactly what a replay holding every account
//! finds, on a sound ledger, on one whose read models trail the log, and on damaged read models.

#![expect(clippy::unwrap_used, reason = "tests fail loudly")]

mod support;

use std::path::Path;
use std::sync::Arc;

use ledger_core::{AccountId, Actor, Amount, Command, CommandBody, CommandId, CustomerId, PersonalLimits, Policy};
use ledger_core::{State, Timestamp};
use ledger_store::{FakeClock, Ledger, LedgerOptions, Mismatch, Reader};
use uuid::Uuid;

const ACCOUNTS: u64 = 40;

fn at(text: &str) -> Timestamp {
    format!("{}+08:00", text.replace(' ', "T")).parse().unwrap()
}

fn cny(yuan: u64) -> Amount {
    Amount::from_fen(yuan * 100).unwrap()
}

fn cmd(id: u128, body: CommandBody) -> Command {
    Command { id: CommandId(Uuid::from_u128(id)), at: at("2026-03-02 09:00:00"), body, stamped: false }
}

fn options(clock: &Arc<FakeClock>) -> LedgerOptions {
    LedgerOptions { clock: clock.clone(), ..LedgerOptions::default() }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        support::copy_tree(&entry.path(), &to.join(entry.file_name()));
    }
}

/// The log's database of a closed ledger and its projected keys' (`projected/`: `accounts`,
/// `customers`, `history` and `meta/projected`).
struct Raw {
    main: rocksdb::DB,
    projected: rocksdb::DB,
}

fn raw_db(path: &Path) -> Raw {
    let cfs = ["log", "accounts", "customers", "history", "meta", "answered"];
    let main = rocksdb::DB::open_cf(&rocksdb::Options::default(), path, cfs).unwrap();
    let cfs = ["accounts", "customers", "history", "meta"];
    let projected = rocksdb::DB::open_cf(&rocksdb::Options::default(), path.join("projected"), cfs).unwrap();
    Raw { main, projected }
}

/// A closed ledger of `ACCOUNTS` accounts (one customer each) with deposits, transfers between
/// them, a lock and personal limits; and a copy of it (`early`) as it was after the deposits.
fn ledger(root: &Path) -> (std::path::PathBuf, std::path::PathBuf, Arc<FakeClock>) {
    let clock = Arc::new(FakeClock::new(at("2026-03-02 09:00:00")));
    let (db, early) = (root.join("db"), root.join("early"));
    let ledger = Ledger::create(&db, options(&clock)).unwrap();
    let policy = Box::new(Policy::preset("default").unwrap());
    let genesis = CommandBody::ChangePolicy { effective_from: Timestamp::UNIX_EPOCH, policy };
    assert!(ledger.submit(cmd(1, genesis)).unwrap().is_accepted());
    let opens =
        (1..=ACCOUNTS).map(|a| cmd(100 + u128::from(a), CommandBody::open_class_i(AccountId(a), CustomerId(a))));
    assert!(ledger.submit_batch(opens.collect()).unwrap().iter().all(|r| r.is_accepted()));
    let deposits = (1..=ACCOUNTS)
        .map(|a| cmd(200 + u128::from(a), CommandBody::CashDeposit { account: AccountId(a), amount: cny(1_000 + a) }));
    assert!(ledger.submit_batch(deposits.collect()).unwrap().iter().all(|r| r.is_accepted()));
    ledger.close().unwrap();
    copy_dir(&db, &early);
    let ledger = Ledger::open(&db, options(&clock)).unwrap();
    let transfers = (1..=ACCOUNTS).map(|a| {
        let to = AccountId(a % ACCOUNTS + 1);
        cmd(300 + u128::from(a), CommandBody::InternalTransfer { from: AccountId(a), to, amount: cny(a) })
    });
    assert!(ledger.submit_batch(transfers.collect()).unwrap().iter().all(|r| r.is_accepted()));
    let lock =
        CommandBody::LockAccount { account: AccountId(5), by: Actor::Bank, flows: vec![], reason: "review".into() };
    let limits = PersonalLimits { per_transaction: Some(cny(400)), per_day: Some(cny(800)) };
    let limits = CommandBody::SetPersonalLimits { account: AccountId(6), limits };
    let withdrawal = CommandBody::CashWithdrawal { account: AccountId(6), amount: cny(100) };
    let receipts = ledger.submit_batch(vec![cmd(400, lock), cmd(401, limits), cmd(402, withdrawal)]).unwrap();
    assert!(receipts.iter().all(|r| r.is_accepted()), "{receipts:?}");
    ledger.close().unwrap();
    (db, early, clock)
}

/// A replay of `db` holding `cache_mib` MiB of accounts: its state and mismatches.
fn replay(db: &Path, clock: &Arc<FakeClock>, cache_mib: usize) -> (State, Vec<Mismatch>) {
    let reader = Reader::open(db, clock.clone()).unwrap().with_cache_mib(cache_mib);
    let (state, report) = reader.replay_with_progress(&mut |_| {}).unwrap();
    (state, report.mismatches)
}

fn account_key(id: u64) -> [u8; 8] {
    id.to_be_bytes()
}

type Damage = fn(&Raw, &Raw);

#[test]
fn a_replay_with_a_tiny_cache_finds_what_a_replay_holding_every_account_finds() {
    let root = tempfile::tempdir().unwrap();
    let (db, early, clock) = ledger(root.path());
    // Given the ledger damaged as each row says (`early` the same ledger before the transfers),
    // when it is replayed holding every account and holding a single one (cache 0 MiB),
    // then both find the same mismatches, in the same order, and the expected ones; and the
    // paged replayed state equals the paged state a writer opens (which reads no account of a
    // closed ledger) and the whole one the whole opened state, as the last column says.
    let cases: [(&str, Damage, &[&str], [bool; 2]); 8] = [
        ("sound", |_, _| {}, &[], [true, true]),
        // A crash with the projector's last jobs in flight: the projected keys at `early`.
        (
            "read models trail the log",
            |db, old| {
                let (db, old) = (&db.projected, &old.projected);
                for cf in ["accounts", "customers", "history"] {
                    let handle = db.cf_handle(cf).unwrap();
                    for item in db.iterator_cf(handle, rocksdb::IteratorMode::Start) {
                        db.delete_cf(handle, item.unwrap().0).unwrap();
                    }
                    let old_handle = old.cf_handle(cf).unwrap();
                    for item in old.iterator_cf(old_handle, rocksdb::IteratorMode::Start) {
                        let (key, value) = item.unwrap();
                        db.put_cf(handle, key, value).unwrap();
                    }
                }
                let (meta, old_meta) = (db.cf_handle("meta").unwrap(), old.cf_handle("meta").unwrap());
                db.put_cf(meta, b"projected", old.get_cf(old_meta, b"projected").unwrap().unwrap()).unwrap();
            },
            &[],
            [true, true],
        ),
        (
            "an account's balance from before the transfers",
            |db, old| {
                let (db, old) = (&db.projected, &old.projected);
                let (accounts, old_accounts) = (db.cf_handle("accounts").unwrap(), old.cf_handle("accounts").unwrap());
                let value = old.get_cf(old_accounts, account_key(7)).unwrap().unwrap();
                db.put_cf(accounts, account_key(7), value).unwrap();
            },
            &["balance"],
            [true, false],
        ),
        (
            "an account's row under another key",
            |db, _| {
                let db = &db.projected;
                let accounts = db.cf_handle("accounts").unwrap();
                let value = db.get_cf(accounts, account_key(8)).unwrap().unwrap();
                db.put_cf(accounts, account_key(99), value).unwrap();
            },
            &["account key", "account"],
            [true, true],
        ),
        (
            "an account deleted",
            |db, _| db.projected.delete_cf(db.projected.cf_handle("accounts").unwrap(), account_key(9)).unwrap(),
            &["account"],
            [true, false],
        ),
        (
            "a history index entry deleted",
            |db, _| {
                let db = &db.projected;
                let history = db.cf_handle("history").unwrap();
                let mut from = account_key(3).to_vec();
                from.extend_from_slice(&[0; 8]);
                let mode = rocksdb::IteratorMode::From(&from, rocksdb::Direction::Forward);
                let key = db.iterator_cf(history, mode).next().unwrap().unwrap().0;
                db.delete_cf(history, key).unwrap();
            },
            &["history index"],
            [true, true],
        ),
        (
            "a foreign customer index entry",
            |db, _| {
                let mut foreign = 99u64.to_be_bytes().to_vec();
                foreign.extend_from_slice(&7u64.to_be_bytes());
                db.projected.put_cf(db.projected.cf_handle("customers").unwrap(), foreign, []).unwrap();
            },
            &["customer index"],
            [true, false],
        ),
        (
            "an account's protections deleted",
            |db, _| {
                let mut key = b"protections/".to_vec();
                key.extend_from_slice(&account_key(5));
                db.main.delete_cf(db.main.cf_handle("meta").unwrap(), key).unwrap();
            },
            &["protections"],
            [false, false],
        ),
    ];
    for (i, (what, damage, fields, [view_matches, state_matches])) in cases.into_iter().enumerate() {
        let case = root.path().join(format!("case-{i}"));
        copy_dir(&db, &case);
        damage(&raw_db(&case), &raw_db(&early));
        let (whole, whole_found) = replay(&case, &clock, 1024);
        let (paged, paged_found) = replay(&case, &clock, 0);
        assert!(!whole.is_paged() && paged.is_paged(), "{what}: the tiny cache spilled, the large one did not");
        assert_eq!(paged_found, whole_found, "{what}");
        let found: Vec<&str> = whole_found.iter().map(|m| m.field.as_str()).collect();
        assert_eq!(found, *fields, "{what}: {whole_found:?}");
        // The paged state is the state a writer opens; the whole one is that made whole.
        let reader = Reader::open(&case, clock.clone()).unwrap();
        assert_eq!(reader.opened_view().unwrap() == paged, view_matches, "{what}: opened view");
        assert_eq!(reader.snapshot_state().unwrap() == whole, state_matches, "{what}: opened state");
    }
}

#[test]
fn a_replay_reading_ahead_of_a_spilling_cache_finds_a_sound_ledger_sound() {
    // Given a sound ledger of 6,000 accounts and 30,000 transfers between accounts spread over
    // all of them (a replay holding 1 MiB of accounts, ~2,300, spills again and again; the
    // accounts each chunk of events moves are read from the scratch store ahead of it, and a
    // spill between a read and its use makes the read stale).
    const MANY: u64 = 6_000;
    let root = tempfile::tempdir().unwrap();
    let clock = Arc::new(FakeClock::new(at("2026-03-02 09:00:00")));
    let db = root.path().join("db");
    let ledger = Ledger::create(&db, options(&clock)).unwrap();
    let policy = Box::new(Policy::preset("default").unwrap());
    let genesis = CommandBody::ChangePolicy { effective_from: Timestamp::UNIX_EPOCH, policy };
    assert!(ledger.submit(cmd(1, genesis)).unwrap().is_accepted());
    let opens = (1..=MANY).map(|a| cmd(u128::from(a) << 8, CommandBody::open_class_i(AccountId(a), CustomerId(a))));
    assert!(ledger.submit_batch(opens.collect()).unwrap().iter().all(|r| r.is_accepted()));
    let deposits = (1..=MANY)
        .map(|a| cmd(u128::from(a) << 8 | 1, CommandBody::CashDeposit { account: AccountId(a), amount: cny(100_000) }));
    assert!(ledger.submit_batch(deposits.collect()).unwrap().iter().all(|r| r.is_accepted()));
    for round in 0..10u64 {
        let transfers = (0..3_000u64).map(|i| {
            let n = round * 3_000 + i;
            let (from, to) = (n * 7_919 % MANY + 1, (n * 104_729 + 13) % MANY + 1);
            let to = if to == from { to % MANY + 1 } else { to };
            let body =
                CommandBody::InternalTransfer { from: AccountId(from), to: AccountId(to), amount: cny(n % 50 + 1) };
            cmd(u128::from(n) << 16 | 2, body)
        });
        assert!(ledger.submit_batch(transfers.collect()).unwrap().iter().all(|r| r.is_accepted()));
    }
    ledger.close().unwrap();
    // When replayed holding every account, and holding 1 MiB of them.
    let (whole, whole_found) = replay(&db, &clock, 1024);
    let (paged, paged_found) = replay(&db, &clock, 1);
    // Then neither finds a mismatch (a balance read stale would differ from the read model),
    // and the paged replay is the state a writer opens.
    assert!(!whole.is_paged() && paged.is_paged(), "the 1 MiB replay spilled");
    assert_eq!(whole_found, Vec::new());
    assert_eq!(paged_found, Vec::new());
    let reader = Reader::open(&db, clock.clone()).unwrap();
    assert!(reader.opened_view().unwrap() == paged);
    assert!(reader.snapshot_state().unwrap() == whole);
}
