//! The customer lists the writer reads before deciding a batch (`Store::customer_lists`: every
//! list a round names in one read, one query on PostgreSQL) give the decisions the rules call
//! for, the same on RocksDB and on PostgreSQL: customers with no account, one, many; accounts
//! opened in the same batch; a closing account's customer list; lists written in the batch just
//! before (read while the projector may not have written them yet) and after a reopen. The
//! writer's caches are cut after every batch (`cache_mib` 0), so each batch reads its lists from
//! the store.

#![expect(clippy::unwrap_used, reason = "a failing step should stop the test where it fails")]

mod support;

use std::path::Path;
use std::sync::Arc;

use ledger_core::{AccountClass, AccountId, Binding, Command, CommandBody, CommandId, CustomerId, Policy, Timestamp};
use ledger_store::{FakeClock, Ledger, LedgerOptions};
use support::PgServer;

fn at() -> Timestamp {
    "2026-03-02T09:00:00+08:00".parse().unwrap()
}

fn options() -> LedgerOptions {
    LedgerOptions {
        clock: Arc::new(FakeClock::new(at())),
        max_ahead_of_clock: None,
        cache_mib: 0,
        ..LedgerOptions::default()
    }
}

fn class_i(account: u64, customer: u64) -> CommandBody {
    CommandBody::open_class_i(AccountId(account), CustomerId(customer))
}

fn class_ii(account: u64, customer: u64, bound_to: u64) -> CommandBody {
    CommandBody::OpenAccount {
        account: AccountId(account),
        customer: CustomerId(customer),
        class: AccountClass::II,
        binding: Some(Binding::Account(AccountId(bound_to))),
        verified_in_person: true,
        with_card: false,
    }
}

fn close(account: u64) -> CommandBody {
    CommandBody::CloseAccount { account: AccountId(account) }
}

const OK: &str = "accepted";
const TOO_MANY: &str = "ACCOUNT_COUNT_EXCEEDED";
const BOUND_OPEN: &str = "BOUND_ACCOUNTS_OPEN";

/// Given the batches before (and a reopen when `reopen`), when this batch is submitted, then
/// each command's outcome. pboc-2018: one Class I and five Class II per customer; an account
/// with open Class II accounts bound to it cannot close.
struct Case {
    given: &'static str,
    reopen: bool,
    when_then: Vec<(CommandBody, &'static str)>,
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            given: "customers 1 and 2 hold no account; 2 opens two Class I in one batch",
            reopen: false,
            when_then: vec![(class_i(10, 1), OK), (class_i(20, 2), OK), (class_i(21, 2), TOO_MANY)],
        },
        Case {
            given: "customer 1 holds one Class I (written in the batch just before)",
            reopen: false,
            when_then: vec![(class_i(11, 1), TOO_MANY), (class_ii(12, 1, 10), OK), (class_i(40, 4), OK)],
        },
        Case {
            given: "customer 3 holds none; opens a Class I and six Class II in one batch",
            reopen: false,
            when_then: vec![
                (class_i(30, 3), OK),
                (class_ii(31, 3, 30), OK),
                (class_ii(32, 3, 30), OK),
                (class_ii(33, 3, 30), OK),
                (class_ii(34, 3, 30), OK),
                (class_ii(35, 3, 30), OK),
                (class_ii(36, 3, 30), TOO_MANY),
            ],
        },
        Case {
            given: "customer 3 holds six accounts in its list; customer 1's Class II closes",
            reopen: false,
            when_then: vec![
                (class_ii(37, 3, 30), TOO_MANY),
                (close(30), BOUND_OPEN),
                (close(12), OK),
                (class_i(50, 5), OK),
            ],
        },
        Case {
            given: "customer 1's Class II closed in the batch before; 3's bound accounts close",
            reopen: false,
            when_then: vec![
                (class_ii(13, 1, 10), OK),
                (close(31), OK),
                (close(32), OK),
                (close(33), OK),
                (close(34), OK),
                (close(35), OK),
                (class_ii(38, 3, 30), OK),
            ],
        },
        Case {
            given: "the ledger reopened; customer 3 holds one open Class II bound to 30",
            reopen: true,
            when_then: vec![(close(30), BOUND_OPEN), (close(38), OK), (class_i(14, 1), TOO_MANY), (class_i(60, 6), OK)],
        },
        Case {
            given: "customer 3's last Class II closed in the batch before; its Class I closes",
            reopen: false,
            when_then: vec![(close(30), OK), (class_i(39, 3), OK), (class_i(61, 6), TOO_MANY)],
        },
    ]
}

/// The customers' lists (account ids in id order) once every case ran.
const LISTS: &[(u64, &[u64])] = &[
    (1, &[10, 12, 13]),
    (2, &[20]),
    (3, &[30, 31, 32, 33, 34, 35, 38, 39]),
    (4, &[40]),
    (5, &[50]),
    (6, &[60]),
    (7, &[]),
];

/// Runs every case on the ledger at `db`; returns its exported log.
fn run(db: &Path) -> Vec<u8> {
    let mut id = 0u128;
    let mut command = |body| {
        id += 1;
        Command { id: CommandId(uuid::Uuid::from_u128(id)), at: at(), body, stamped: false }
    };
    let policy = Box::new(Policy::preset("pboc-2018").unwrap());
    let mut ledger = Ledger::create(db, options()).unwrap();
    ledger.submit(command(CommandBody::ChangePolicy { effective_from: Timestamp::UNIX_EPOCH, policy })).unwrap();
    for case in cases() {
        if case.reopen {
            ledger.close().unwrap();
            ledger = Ledger::open(db, options()).unwrap();
        }
        let (bodies, expected): (Vec<_>, Vec<_>) = case.when_then.into_iter().unzip();
        let receipts = ledger.submit_batch(bodies.into_iter().map(&mut command).collect()).unwrap();
        let outcomes: Vec<&str> =
            receipts.iter().map(|receipt| receipt.rejection().map_or(OK, |reason| reason.code())).collect();
        assert_eq!(outcomes, expected, "{}: {}", db.display(), case.given);
    }
    for (customer, accounts) in LISTS {
        let listed: Vec<u64> =
            ledger.customer_accounts(CustomerId(*customer)).unwrap().iter().map(|a| a.id.0).collect();
        assert_eq!(&listed, accounts, "{}: customer {customer}'s list", db.display());
    }
    let mut log = Vec::new();
    ledger.export(1, None, &mut log).unwrap();
    ledger.close().unwrap();
    log
}

#[test]
fn customer_lists_give_the_rules_decisions_on_rocksdb_and_postgresql_alike() {
    let dir = tempfile::tempdir().unwrap();
    let rocks_log = run(&dir.path().join("rocks"));
    let server = PgServer::start();
    let url = server.create_database("customer_lists");
    let pg_log = run(Path::new(&url));
    assert!(pg_log == rocks_log, "the same log, byte for byte, on both engines");
}
