//! Answered command ids on disk (layout 3): the writer holds a bounded cache of them and loads
//! the ids a batch names from the store before deciding it, so a retry is answered exactly
//! however long ago its command was, across restarts, and after a due event carried its id.
//! A ledger of layout 2 (answer chunks beside the snapshot) is converted once by a writer's open.

#![expect(clippy::unwrap_used, reason = "a failing step should stop the test where it fails")]

mod support;

use std::path::Path;
use std::sync::Arc;
use support::on_both_backends;

use ledger_core::{
    AccountClass, AccountId, Amount, Arrival, Command, CommandBody, CommandId, CustomerId, Policy, Timestamp,
    parse_command,
};
use ledger_store::{Clock, FakeClock, Ledger, LedgerOptions};
use uuid::Uuid;

fn at(text: &str) -> Timestamp {
    format!("{}+08:00", text.replace(' ', "T")).parse().unwrap()
}

fn cny(text: &str) -> Amount {
    text.parse().unwrap()
}

/// A cache of 0 MiB: the writer forgets every answered id after each batch.
fn options(clock: &Arc<FakeClock>, cache_mib: usize) -> LedgerOptions {
    LedgerOptions { clock: clock.clone(), max_ahead_of_clock: None, cache_mib, ..LedgerOptions::default() }
}

fn cmd(id: u128, time: &str, body: CommandBody) -> Command {
    Command { id: CommandId(Uuid::from_u128(id)), at: at(time), body, stamped: false }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

on_both_backends! {
fn retries_are_answered_from_the_store_after_memory_forgot_them(db) {
    let clock = Arc::new(FakeClock::new(at("2026-03-02 09:00:00")));
    let t = "2026-03-02 10:00:00";
    let ledger = Ledger::create(db, options(&clock, 0)).unwrap();
    let policy = CommandBody::ChangePolicy {
        effective_from: Timestamp::UNIX_EPOCH,
        policy: Box::new(Policy::preset("default").unwrap()),
    };
    let open = CommandBody::OpenAccount {
        account: AccountId(10),
        customer: CustomerId(1),
        class: AccountClass::I,
        binding: None,
        verified_in_person: true,
        with_card: false,
    };
    let transfer = CommandBody::DelayedTransfer {
        from: AccountId(10),
        counterparty: "CCB-1".into(),
        amount: cny("5"),
        arrival: Arrival::NextDay,
    };
    // Given: each command its own batch; the delayed transfer (5) comes due before the tick (6).
    let commands = vec![
        Command { id: CommandId(Uuid::from_u128(1)), at: Timestamp::UNIX_EPOCH, body: policy, stamped: false },
        cmd(2, t, open),
        cmd(3, t, CommandBody::CashDeposit { account: AccountId(10), amount: cny("100") }),
        cmd(4, t, CommandBody::CashWithdrawal { account: AccountId(10), amount: cny("1000") }),
        cmd(5, t, transfer),
        cmd(6, "2026-03-03 10:00:00", CommandBody::Tick),
    ];
    let mut first = Vec::new();
    for command in &commands {
        let receipt = ledger.submit(command.clone()).unwrap();
        assert!(!receipt.duplicate);
        first.push(receipt.seq);
        assert_eq!(ledger.live_state().unwrap().answers_held(), 0, "a cache of 0 MiB holds no answer");
    }
    let due = ledger.event(first[5] - 1).unwrap();
    assert_eq!(due.command_id, commands[4].id, "the transfer came due before the tick, under its own id");

    // When every command is retried (alone, and all in one batch), then after a reopen:
    // each is answered by its first event, the transfer by its reservation, not the due event.
    for (command, seq) in commands.iter().zip(&first) {
        let retry = ledger.submit(command.clone()).unwrap();
        assert!(retry.duplicate && !retry.conflict, "{retry:?}");
        assert_eq!(retry.seq, *seq);
        assert_eq!(ledger.answered(command.id).unwrap(), Some(*seq));
    }
    let batch = ledger.submit_batch(commands.clone()).unwrap();
    assert_eq!(batch.iter().map(|r| r.seq).collect::<Vec<_>>(), first);
    let head = ledger.head().unwrap();
    assert!(ledger.replay().unwrap().mismatches.is_empty());
    ledger.close().unwrap();
    let ledger = Ledger::open(db, options(&clock, 1)).unwrap();
    for (command, seq) in commands.iter().zip(&first) {
        let retry = ledger.check(command.clone()).unwrap();
        assert!(retry.duplicate && retry.seq == *seq, "dry run of a retry: {retry:?}");
        assert_eq!(ledger.submit(command.clone()).unwrap().seq, *seq);
    }
    assert_eq!(ledger.head().unwrap(), head, "no retry appended anything");
    assert_eq!(ledger.answered(CommandId(Uuid::from_u128(99))).unwrap(), None);
}
}

/// `tests/fixtures/ledger-v2-layout2` was written by the build of main at 93a6888 (layout 2,
/// snapshot version 3: answered ids in answer chunks) from `ledger-v2-layout2.commands.jsonl`:
/// the docs/COMMANDS.md examples, one rejected transfer, a next-day transfer and a tick it came
/// due before. A writer's open converts it once to layout 3; its retries are answered as before.
#[test]
fn a_layout_2_ledger_is_converted_once_and_answers_its_retries() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    copy_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ledger-v2-layout2"), &db);
    let clock = Arc::new(FakeClock::new(at("2026-03-05 10:00:00")));
    let head_text = "18:f0e92350d8a7917d5d36177234cd191d50295ded568700f05b249b96452b1ee9";
    let reader = ledger_store::Reader::open(&db, clock.clone()).unwrap();
    assert_eq!(reader.head().unwrap().to_text(), head_text);
    assert!(reader.replay().unwrap().mismatches.is_empty(), "layout 2 replays as it is");
    drop(reader);

    let ledger = Ledger::open(&db, options(&clock, 0)).unwrap();
    assert_eq!(ledger.head().unwrap().to_text(), head_text);
    assert!(ledger.replay().unwrap().mismatches.is_empty(), "the built table checks out");
    // Seq 1 is the policy `init` scheduled; seq 17 the transfer's due event (under its id).
    let expected: Vec<u64> = (2..=16).chain([18]).collect();
    let commands = include_str!("fixtures/ledger-v2-layout2.commands.jsonl");
    for (line, seq) in commands.lines().zip(expected) {
        let command = parse_command(line, clock.now()).unwrap();
        assert_eq!(ledger.answered(command.id).unwrap(), Some(seq), "{line}");
        let retry = ledger.submit(command).unwrap();
        assert!(retry.duplicate && !retry.conflict && retry.seq == seq, "{line}: {retry:?}");
    }
    assert_eq!(ledger.head().unwrap().to_text(), head_text, "no retry appended anything");
    ledger.close().unwrap();
    let ledger = Ledger::open(&db, options(&clock, 0)).unwrap();
    assert!(ledger.replay().unwrap().mismatches.is_empty());
}

/// Most of the writer's cache holds accounts (`LedgerOptions::cache_mib`): a batch's new ids are
/// looked up in the store whatever the cache holds, while an account held spares a read for
/// every transfer that names it. With the cache split in halves, the accounts below (three
/// quarters of the cache at the 416 bytes an account is counted) were cut and read again.
#[test]
fn accounts_filling_three_quarters_of_the_cache_stay_held_and_the_answered_ids_keep_to_their_share() {
    let clock = Arc::new(FakeClock::new(at("2026-03-02 09:00:00")));
    let t = "2026-03-02 10:00:00";
    let small = options(&clock, 1);
    let accounts = (1u64 << 20) * 3 / 4 / 416;
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::create(dir.path(), small.clone()).unwrap();
    let policy = CommandBody::ChangePolicy {
        effective_from: Timestamp::UNIX_EPOCH,
        policy: Box::new(Policy::preset("default").unwrap()),
    };
    ledger
        .submit(Command { id: CommandId(Uuid::from_u128(1)), at: Timestamp::UNIX_EPOCH, body: policy, stamped: false })
        .unwrap();
    // Given every account opened and funded (two ids each, more than the ids' share holds)...
    let mut next_id = 1_000u128;
    let mut command = |body: CommandBody| {
        next_id += 1;
        cmd(next_id, t, body)
    };
    let first_open = command(CommandBody::OpenAccount {
        account: AccountId(1),
        customer: CustomerId(1),
        class: AccountClass::I,
        binding: None,
        verified_in_person: true,
        with_card: false,
    });
    let first_seq = ledger.submit(first_open.clone()).unwrap().seq;
    for start in (1..=accounts).step_by(500) {
        let batch: Vec<Command> = (start..=(start + 499).min(accounts))
            .flat_map(|n| {
                let open = CommandBody::OpenAccount {
                    account: AccountId(n),
                    customer: CustomerId(n),
                    class: AccountClass::I,
                    binding: None,
                    verified_in_person: true,
                    with_card: false,
                };
                let deposit = CommandBody::CashDeposit { account: AccountId(n), amount: cny("100.00") };
                if n == 1 { vec![command(deposit)] } else { vec![command(open), command(deposit)] }
            })
            .collect();
        ledger.submit_batch(batch).unwrap();
    }
    ledger.snapshot().unwrap();
    let loaded_before = ledger.stats().unwrap().accounts_loaded;
    // ...when money moves from each account to the next,
    let transfers: Vec<Command> = (1..accounts)
        .map(|n| {
            command(CommandBody::InternalTransfer { from: AccountId(n), to: AccountId(n + 1), amount: cny("1.00") })
        })
        .collect();
    for batch in transfers.chunks(500) {
        ledger.submit_batch(batch.to_vec()).unwrap();
    }
    // then no account was read from the store: every one stayed held;
    let stats = ledger.stats().unwrap();
    assert_eq!(stats.accounts_loaded, loaded_before, "accounts cut and read again");
    assert_eq!(stats.accounts_cached, accounts, "every account held");
    // the answered ids held keep to their share, and a retry of the oldest is answered exactly.
    let held = ledger.live_state().unwrap().answers_held();
    assert!(held <= small.answers_cached_max(), "{held} ids held, more than {}", small.answers_cached_max());
    assert!(held < usize::try_from(accounts * 2).unwrap(), "{held} ids held: none was cut");
    let retry = ledger.submit(first_open).unwrap();
    assert!(retry.duplicate && retry.seq == first_seq, "{retry:?}");
    assert_eq!(ledger.balance(AccountId(1)).unwrap(), Some(cny("99.00")));
    assert_eq!(ledger.balance(AccountId(accounts)).unwrap(), Some(cny("101.00")));
    assert!(ledger.replay().unwrap().mismatches.is_empty());
}
