//! The regulatory reports against a hand-built ledger whose answers are known: the exact
//! threshold, one fen under, two transactions that only together cross it, a pair split by
//! Beijing midnight, each direction on its own, the edge of the Class III window, limit hits,
//! and the daily summary. Every cited hash is the record's own.

#![expect(clippy::unwrap_used, reason = "a failing step should stop the test where it fails")]

mod support;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use ledger_core::{
    AccountClass, AccountId, Amount, Binding, Command, CommandBody, CommandId, CustomerId, Direction, LargeValueKind,
    Policy, ReportRules, Reports, Timestamp,
};
use ledger_store::{FakeClock, Ledger, LedgerOptions};
use support::on_both_backends;

fn at(text: &str) -> Timestamp {
    format!("{text}+08:00").parse().unwrap()
}

fn day(text: &str) -> ledger_core::BeijingDay {
    at(&format!("{text}T12:00:00")).beijing_day()
}

fn cny(text: &str) -> Amount {
    Amount::from_decimal(text.parse().unwrap()).unwrap()
}

fn open(account: u64, customer: u64, class: AccountClass, bound: Option<u64>) -> CommandBody {
    CommandBody::OpenAccount {
        account: AccountId(account),
        customer: CustomerId(customer),
        class,
        binding: bound.map(|bound| Binding::Account(AccountId(bound))),
        verified_in_person: true,
        with_card: false,
    }
}

fn deposit(account: u64, amount: &str) -> CommandBody {
    CommandBody::CashDeposit { account: AccountId(account), amount: cny(amount) }
}

fn withdraw(account: u64, amount: &str) -> CommandBody {
    CommandBody::CashWithdrawal { account: AccountId(account), amount: cny(amount) }
}

fn inbound(account: u64, amount: &str) -> CommandBody {
    CommandBody::InboundTransfer {
        to: AccountId(account),
        counterparty: "BOC-6216-0000-0001".into(),
        amount: cny(amount),
    }
}

fn move_(from: u64, to: u64, amount: &str) -> CommandBody {
    CommandBody::InternalTransfer { from: AccountId(from), to: AccountId(to), amount: cny(amount) }
}

/// Customers 1–4 (Class I accounts 11, 21, 31, 41; customer 1 also has Class II 12 and Class
/// III 13, customer 3 Class III 33), days A = 2026-03-02 to A+7 = 2026-03-09.
fn given() -> Vec<(&'static str, CommandBody)> {
    vec![
        ("2026-03-02T08:00:00", open(11, 1, AccountClass::I, None)),
        ("2026-03-02T08:00:00", open(12, 1, AccountClass::II, Some(11))),
        ("2026-03-02T08:00:00", open(13, 1, AccountClass::III, Some(11))),
        ("2026-03-02T08:00:00", open(21, 2, AccountClass::I, None)),
        ("2026-03-02T08:00:00", open(31, 3, AccountClass::I, None)),
        ("2026-03-02T08:00:00", open(33, 3, AccountClass::III, Some(31))),
        ("2026-03-02T08:00:00", open(41, 4, AccountClass::I, None)),
        // Cash, day A. Customer 1: exactly 50,000 in; 10,000 out (each direction on its own).
        ("2026-03-02T09:00:00", deposit(11, "50000.00")),
        ("2026-03-02T09:30:00", withdraw(11, "10000.00")),
        // Customer 2: one fen under.
        ("2026-03-02T10:00:00", deposit(21, "49999.99")),
        // Customer 3: two deposits that only together reach it.
        ("2026-03-02T11:00:00", deposit(31, "30000.00")),
        ("2026-03-02T15:00:00", deposit(31, "20000.00")),
        // Customer 4: the same two, split by Beijing midnight.
        ("2026-03-02T23:59:59", deposit(41, "30000.00")),
        ("2026-03-03T00:00:00", deposit(41, "20000.00")),
        // Transfers, day B = 2026-03-03: customer 2 exactly 500,000 in; customer 1 one fen under;
        // customer 4 two that together reach it.
        ("2026-03-03T09:00:00", inbound(21, "500000.00")),
        ("2026-03-03T09:10:00", inbound(11, "499999.99")),
        ("2026-03-03T09:20:00", inbound(41, "300000.00")),
        ("2026-03-03T09:30:00", inbound(41, "200000.00")),
        // Class III: customer 3 receives 20,000 on day A and 30,000 on A+6 (inside 7 days);
        // customer 1 receives 20,000 on day A and 30,000 on A+7 (outside).
        ("2026-03-02T16:00:00", move_(31, 33, "20000.00")),
        ("2026-03-08T16:00:00", move_(31, 33, "30000.00")),
        ("2026-03-02T16:00:00", move_(11, 13, "20000.00")),
        ("2026-03-09T16:00:00", move_(11, 13, "30000.00")),
        // Limit hits: a Class II payment one fen over the day's cap; a risk-listed counterparty;
        // a refusal the report does not list (insufficient funds).
        ("2026-03-02T17:00:00", move_(11, 12, "10000.01")),
        (
            "2026-03-02T17:05:00",
            CommandBody::Payment { from: AccountId(12), merchant: "Metro".into(), amount: cny("10000.01") },
        ),
        (
            "2026-03-02T17:10:00",
            CommandBody::ListRisk {
                counterparty: "CCB-6217-0000-6666".into(),
                reason: "fraud".into(),
                source: "融安e信".into(),
            },
        ),
        (
            "2026-03-02T17:20:00",
            CommandBody::OutboundTransfer {
                from: AccountId(11),
                counterparty: "CCB-6217-0000-6666".into(),
                amount: cny("1.00"),
            },
        ),
        ("2026-03-02T17:30:00", withdraw(21, "1000000.00")),
    ]
}

/// A new ledger at `db` (its clock after every day here) and the commands that give it the
/// `default` policy, then `given` in order.
fn ledger_and_commands(db: &Path, given: Vec<(&str, CommandBody)>) -> (Ledger, Vec<Command>) {
    let clock = Arc::new(FakeClock::new(at("2026-03-20T00:00:00")));
    let options = LedgerOptions { clock, max_ahead_of_clock: None, ..LedgerOptions::default() };
    let ledger = Ledger::create(db, options).unwrap();
    let policy = Box::new(Policy::preset("default").unwrap());
    let mut commands = vec![Command {
        id: CommandId(uuid::Uuid::from_u128(1)),
        at: Timestamp::UNIX_EPOCH,
        body: CommandBody::ChangePolicy { effective_from: Timestamp::UNIX_EPOCH, policy },
        stamped: false,
    }];
    for (index, (time, body)) in given.into_iter().enumerate() {
        commands.push(Command {
            id: CommandId(uuid::Uuid::from_u128(index as u128 + 2)),
            at: at(time),
            body,
            stamped: false,
        });
    }
    (ledger, commands)
}

/// Runs `given` (sorted by time: the log's business time never goes back) and reports on
/// `from..=to`; returns the reports and each record's hash.
fn run(db: &Path, from: &str, to: &str) -> (Reports, HashMap<u64, String>) {
    let mut given = given();
    given.sort_by_key(|(time, _)| at(time));
    let (ledger, commands) = ledger_and_commands(db, given);
    let rejections: Vec<_> = ledger
        .submit_batch(commands)
        .unwrap()
        .iter()
        .filter_map(|receipt| receipt.rejection().map(|reason| reason.code()))
        .collect();
    assert_eq!(rejections, ["LIMIT_EXCEEDED", "RISK_LISTED_COUNTERPARTY", "INSUFFICIENT_FUNDS"]);
    let reports = ledger.reports(ReportRules::preset("pboc-2016-3").unwrap(), day(from), day(to), &mut |_| {}).unwrap();
    let mut export = Vec::new();
    ledger.export(1, None, &mut export).unwrap();
    let hashes = String::from_utf8(export)
        .unwrap()
        .lines()
        .map(|line| {
            let record: serde_json::Value = serde_json::from_str(line).unwrap();
            (record["seq"].as_u64().unwrap(), record["hash"].as_str().unwrap().to_owned())
        })
        .collect();
    (reports, hashes)
}

on_both_backends! {
fn large_value_lines_are_the_customer_days_that_reach_the_threshold(db) {
    let (reports, hashes) = run(db, "2026-03-02", "2026-03-09");
    // (day, customer, kind, direction, day total, amount) per line, in report order.
    let got: Vec<_> = reports
        .large_value
        .iter()
        .map(|line| {
            assert_eq!(hashes[&line.cite.seq], line.cite.hash, "seq {}", line.cite.seq);
            assert!(line.source.contains("2016"), "{}", line.source);
            (
                line.day.as_str(),
                line.customer.0,
                line.kind,
                line.direction,
                line.day_total.to_string(),
                line.amount.to_string(),
            )
        })
        .collect();
    use Direction::In;
    use LargeValueKind::{Cash, Transfer};
    let expected = vec![
        ("2026-03-02", 1, Cash, In, "50000.00".to_owned(), "50000.00".to_owned()),
        ("2026-03-02", 3, Cash, In, "50000.00".into(), "30000.00".into()),
        ("2026-03-02", 3, Cash, In, "50000.00".into(), "20000.00".into()),
        ("2026-03-03", 2, Transfer, In, "500000.00".into(), "500000.00".into()),
        ("2026-03-03", 4, Transfer, In, "500000.00".into(), "300000.00".into()),
        ("2026-03-03", 4, Transfer, In, "500000.00".into(), "200000.00".into()),
    ];
    assert_eq!(got, expected);
}
}

on_both_backends! {
fn a_range_reports_only_its_own_days(db) {
    let (reports, _) = run(db, "2026-03-03", "2026-03-03");
    assert!(reports.large_value.iter().all(|line| line.day == "2026-03-03"));
    assert_eq!(reports.large_value.len(), 3);
    assert!(reports.limit_hits.is_empty());
    assert_eq!(reports.daily_summary.len(), 3, "one row per class for the one day");
}
}

on_both_backends! {
fn class_iii_review_flags_the_inflow_that_reaches_the_threshold_within_the_window(db) {
    let (reports, hashes) = run(db, "2026-03-02", "2026-03-09");
    let got: Vec<_> = reports
        .class_iii_review
        .iter()
        .map(|line| {
            assert_eq!(hashes[&line.cite.seq], line.cite.hash);
            (
                line.day.as_str(),
                line.customer.0,
                line.account.0,
                line.window_from.as_str(),
                line.window_total.to_string(),
            )
        })
        .collect();
    // Customer 3 reaches 50,000.00 on day A+6 (window from day A); customer 1's second inflow
    // falls on A+7, when the first has left the window.
    assert_eq!(got, vec![("2026-03-08", 3, 33, "2026-03-02", "50000.00".to_owned())]);
}
}

on_both_backends! {
fn limit_hits_list_limit_and_risk_list_rejections_with_their_figures(db) {
    let (reports, hashes) = run(db, "2026-03-02", "2026-03-09");
    let got: Vec<_> = reports
        .limit_hits
        .iter()
        .map(|line| {
            assert_eq!(hashes[&line.cite.seq], line.cite.hash);
            (line.code, line.account.map(|a| a.0), line.class, line.bucket.as_str(), line.cap, line.requested)
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (
                "LIMIT_EXCEEDED",
                Some(12),
                Some(AccountClass::II),
                "out/day",
                Some(cny("10000.00")),
                Some(cny("10000.01"))
            ),
            ("RISK_LISTED_COUNTERPARTY", Some(11), Some(AccountClass::I), "risk-list/CCB-6217-0000-6666", None, None),
        ]
    );
}
}

on_both_backends! {
fn the_daily_summary_has_every_day_and_class_and_cites_the_days_last_record(db) {
    let (reports, hashes) = run(db, "2026-03-02", "2026-03-09");
    assert_eq!(reports.daily_summary.len(), 8 * 3, "8 days × 3 classes, quiet days included");
    let row =
        |day: &str, class| reports.daily_summary.iter().find(|row| row.day == day && row.class == Some(class)).unwrap();
    let a_ii = row("2026-03-02", AccountClass::II);
    assert_eq!((a_ii.accounts_open, a_ii.opened, a_ii.inflow_count, a_ii.outflow_count), (1, 1, 1, 0));
    assert_eq!(a_ii.inflow.to_string(), "10000.01");
    assert_eq!(a_ii.rejections.get("LIMIT_EXCEEDED"), Some(&1));
    let a_i = row("2026-03-02", AccountClass::I);
    assert_eq!((a_i.accounts_open, a_i.opened), (4, 4));
    // In: 50,000 + 49,999.99 + 30,000 + 20,000 + 30,000 (customer 4 before midnight).
    assert_eq!(a_i.inflow.to_string(), "179999.99");
    assert_eq!(a_i.rejections.get("INSUFFICIENT_FUNDS"), Some(&1));
    assert_eq!(a_i.rejections.get("RISK_LISTED_COUNTERPARTY"), Some(&1));
    let quiet = row("2026-03-05", AccountClass::I);
    assert_eq!((quiet.accounts_open, quiet.inflow_count, quiet.outflow_count), (4, 0, 0));
    // The day's last record: after the risk-list refusal come the insufficient-funds refusal
    // (17:30) and customer 4's deposit at 23:59:59.
    let last_of_a = reports.limit_hits.last().unwrap().cite.seq + 2;
    assert_eq!((a_i.through_seq, a_i.through_hash.as_str()), (last_of_a, hashes[&last_of_a].as_str()));
    assert_eq!(quiet.through_seq, row("2026-03-04", AccountClass::I).through_seq);
}
}

/// Transfers from customer 1's Class I account refused on the *receiving* side: the in/day
/// limit of customer 2's Class II and Class III accounts. Each limit-hit line names the owner
/// and class of the account whose limit was hit, not the sender's.
fn cross_customer_refused_on_the_receiving_side() -> Vec<(&'static str, CommandBody)> {
    vec![
        ("2026-03-02T08:00:00", open(51, 1, AccountClass::I, None)),
        ("2026-03-02T08:00:00", open(61, 2, AccountClass::I, None)),
        ("2026-03-02T08:00:00", open(62, 2, AccountClass::II, Some(61))),
        ("2026-03-02T08:00:00", open(63, 2, AccountClass::III, Some(61))),
        ("2026-03-02T09:00:00", deposit(51, "100000.00")),
        ("2026-03-02T09:00:00", deposit(61, "1000.00")),
        // A Class III account's first inflow comes from its bound account.
        ("2026-03-02T09:10:00", move_(61, 63, "100.00")),
        ("2026-03-02T10:00:00", move_(51, 62, "10000.01")),
        ("2026-03-02T10:05:00", move_(51, 63, "10000.01")),
        // Within the cap: accepted, not listed.
        ("2026-03-02T10:10:00", move_(51, 62, "10000.00")),
    ]
}

on_both_backends! {
fn limit_hits_name_the_owner_and_class_of_the_account_whose_limit_was_hit(db) {
    let (ledger, commands) = ledger_and_commands(db, cross_customer_refused_on_the_receiving_side());
    let codes: Vec<_> =
        ledger.submit_batch(commands).unwrap().iter().map(|receipt| receipt.rejection().map(|r| r.code())).collect();
    assert_eq!(codes.iter().flatten().collect::<Vec<_>>(), [&"LIMIT_EXCEEDED", &"LIMIT_EXCEEDED"], "{codes:?}");
    let reports = ledger
        .reports(ReportRules::preset("pboc-2016-3").unwrap(), day("2026-03-02"), day("2026-03-02"), &mut |_| {})
        .unwrap();
    let got: Vec<_> = reports
        .limit_hits
        .iter()
        .map(|line| (line.code, line.account.map(|a| a.0), line.customer.map(|c| c.0), line.class, line.bucket.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("LIMIT_EXCEEDED", Some(62), Some(2), Some(AccountClass::II), "in/day"),
            ("LIMIT_EXCEEDED", Some(63), Some(2), Some(AccountClass::III), "in/day"),
        ]
    );
    // The daily summary counts each refusal under the class whose limit was hit, not the
    // sender's Class I.
    let refused = |class: Option<AccountClass>| -> u64 {
        let lines = reports.daily_summary.iter().filter(|line| line.class == class);
        lines.map(|line| line.rejections.get("LIMIT_EXCEEDED").copied().unwrap_or(0)).sum()
    };
    let by_class = [None, Some(AccountClass::I), Some(AccountClass::II), Some(AccountClass::III)].map(refused);
    assert_eq!(by_class, [0, 0, 1, 1], "LIMIT_EXCEEDED by class (none, I, II, III): {:?}", reports.daily_summary);
}
}

#[test]
fn large_value_lines_cite_article_5_second_paragraph_not_article_7() {
    let rules = ReportRules::preset("pboc-2016-3").unwrap();
    for source in [&rules.large_cash.source, &rules.large_transfer.source] {
        assert!(source.contains("第五条第二款"), "{source}");
        assert!(!source.contains("第七条"), "{source}");
    }
    let rules_md = include_str!("../../../docs/RULES.md");
    assert!(!rules_md.contains("art. 7 ("), "docs/RULES.md must not cite article 7 for per-customer sums");
}

/// The readings the regulation leaves open (docs/RULES.md, "Readings"), on one Beijing day:
/// customer 7 receives 500,000 and moves 500,000 to its own Class II account; customer 8
/// receives 500,000 and pays a merchant 500,000; customer 9 receives 500,000 and buys a wealth
/// product for 500,000.
fn readings_ledger() -> Vec<(&'static str, CommandBody)> {
    vec![
        ("2026-03-02T08:00:00", open(71, 7, AccountClass::I, None)),
        ("2026-03-02T08:00:00", open(72, 7, AccountClass::II, Some(71))),
        ("2026-03-02T08:00:00", open(81, 8, AccountClass::I, None)),
        ("2026-03-02T08:00:00", open(91, 9, AccountClass::I, None)),
        ("2026-03-02T09:00:00", inbound(71, "500000.00")),
        ("2026-03-02T09:00:00", inbound(81, "500000.00")),
        ("2026-03-02T09:00:00", inbound(91, "500000.00")),
        ("2026-03-02T10:00:00", move_(71, 72, "500000.00")),
        (
            "2026-03-02T10:00:00",
            CommandBody::Payment { from: AccountId(81), merchant: "Car dealer".into(), amount: cny("500000.00") },
        ),
        (
            "2026-03-02T10:00:00",
            CommandBody::WealthPurchase {
                account: AccountId(91),
                product: "WMP-2026".into(),
                amount: cny("500000.00"),
            },
        ),
    ]
}

on_both_backends! {
fn each_reading_of_the_thresholds_file_changes_the_large_transfer_lines_as_expected(db) {
    use ledger_core::{Flow, OwnAccountTransfers};
    let (ledger, commands) = ledger_and_commands(db, readings_ledger());
    let receipts = ledger.submit_batch(commands).unwrap();
    assert!(receipts.iter().all(|receipt| receipt.rejection().is_none()));
    let today = ReportRules::preset("pboc-2016-3").unwrap();
    assert_eq!(today.readings.own_account_transfers, OwnAccountTransfers::BothSides);
    let mut own_excluded = today.clone();
    own_excluded.readings.own_account_transfers = OwnAccountTransfers::Excluded;
    let mut payments_excluded = today.clone();
    payments_excluded.large_transfer.flows.retain(|flow| *flow != Flow::Payment);
    let mut wealth_counted = today.clone();
    wealth_counted.large_transfer.flows.extend([Flow::WealthPurchase, Flow::WealthRedemption]);
    // (reading, rules, the transfer lines as (customer, direction, flow))
    use Direction::{In, Out};
    use Flow::{Payment, TransferInBound, TransferInOther, TransferOutOther, WealthPurchase};
    let inbound = [(7, In, TransferInOther), (8, In, TransferInOther), (9, In, TransferInOther)];
    let cases = vec![
        (
            "today's: own accounts on both sides, payments counted, wealth not",
            today,
            vec![
                (7, In, TransferInOther),
                (7, In, TransferInBound),
                (7, Out, TransferOutOther),
                (8, In, TransferInOther),
                (8, Out, Payment),
                (9, In, TransferInOther),
            ],
        ),
        ("own-account transfers excluded", own_excluded, vec![inbound[0], inbound[1], (8, Out, Payment), inbound[2]]),
        (
            "merchant payments excluded",
            payments_excluded,
            vec![(7, In, TransferInOther), (7, In, TransferInBound), (7, Out, TransferOutOther), inbound[1], inbound[2]],
        ),
        (
            "wealth purchases counted",
            wealth_counted,
            vec![
                (7, In, TransferInOther),
                (7, In, TransferInBound),
                (7, Out, TransferOutOther),
                (8, In, TransferInOther),
                (8, Out, Payment),
                (9, In, TransferInOther),
                (9, Out, WealthPurchase),
            ],
        ),
    ];
    for (reading, rules, expected) in cases {
        rules.validate().unwrap();
        let reports = ledger.reports(rules, day("2026-03-02"), day("2026-03-02"), &mut |_| {}).unwrap();
        let got: Vec<_> = reports
            .large_value
            .iter()
            .map(|line| {
                assert_eq!((line.kind, line.amount), (LargeValueKind::Transfer, cny("500000.00")), "{reading}");
                (line.customer.0, line.direction, line.flow)
            })
            .collect();
        assert_eq!(got, expected, "{reading}");
    }
}
}

#[test]
fn the_own_account_reading_is_read_from_the_thresholds_file_and_defaults_to_both_sides() {
    use ledger_core::OwnAccountTransfers;
    let preset = include_str!("../../ledger-core/reports/pboc-2016-3.toml");
    let without = preset.split("[readings]").next().unwrap();
    let excluded = preset.replace("own_account_transfers = \"both_sides\"", "own_account_transfers = \"excluded\"");
    let unknown = preset.replace("own_account_transfers = \"both_sides\"", "own_account_transfers = \"half\"");
    // (file, the reading it gives, or None when refused)
    let cases = [
        (preset.to_owned(), Some(OwnAccountTransfers::BothSides)),
        (without.to_owned(), Some(OwnAccountTransfers::BothSides)),
        (excluded, Some(OwnAccountTransfers::Excluded)),
        (unknown, None),
    ];
    for (text, expected) in cases {
        let got = ReportRules::from_toml_str(&text).ok().map(|rules| rules.readings.own_account_transfers);
        assert_eq!(got, expected);
    }
}

/// 20 Beijing days from 2026-03-01, each with records: cash and transfers around the
/// large-value thresholds, Class III inflows that cross the review threshold in some windows.
fn twenty_days() -> Vec<(String, CommandBody)> {
    let mut given = Vec::new();
    for c in 1..=6u64 {
        given.push(("2026-03-01T08:00:00".to_owned(), open(c * 10 + 1, c, AccountClass::I, None)));
        given.push(("2026-03-01T08:00:00".to_owned(), open(c * 10 + 3, c, AccountClass::III, Some(c * 10 + 1))));
    }
    let cash = ["60000.00", "1000.00", "30000.00", "500.00", "25000.00"];
    for d in 0..20u64 {
        let date = format!("2026-03-{:02}", d + 1);
        for c in 1..=6u64 {
            let i = usize::try_from(d * 7 + c * 3).unwrap();
            given.push((format!("{date}T09:{:02}:00", c), deposit(c * 10 + 1, cash[i % 5])));
            if (d + c) % 4 == 0 {
                given.push((format!("{date}T10:{:02}:00", c), inbound(c * 10 + 1, "300000.00")));
            }
            if (d + c) % 3 == 0 {
                given.push((format!("{date}T11:{:02}:00", c), move_(c * 10 + 1, c * 10 + 3, "20000.00")));
            }
            if (d * c) % 5 == 1 {
                given.push((format!("{date}T12:{:02}:00", c), withdraw(c * 10 + 1, cash[(i + 1) % 5])));
            }
        }
    }
    given.sort_by_key(|(time, _)| at(time));
    given
}

on_both_backends! {
fn a_report_resumed_from_a_saved_state_gives_the_lines_a_report_from_genesis_gives(db) {
    let given = twenty_days();
    let (ledger, commands) = ledger_and_commands(db, given.iter().map(|(t, b)| (t.as_str(), b.clone())).collect());
    ledger.submit_batch(commands).unwrap();
    let rules = ReportRules::preset("pboc-2016-3").unwrap();
    let first = day("2026-03-01");
    let nth = |n: i32| ledger_core::BeijingDay(first.0 + n);
    let mut compared = 0;
    for start in [1, 4, 9, 15, 19] {
        // A report up to the day before `start` leaves the state at the start of `start`.
        let (_, state) = ledger.reports_resuming(rules.clone(), first, nth(start - 1), None, &mut |_| {}).unwrap();
        let state = state.unwrap();
        assert_eq!(state.next_day, nth(start));
        // The cache's bytes round-trip.
        let bytes = ledger_store::encode_report_cache(&[9; 32], &rules, &state).unwrap();
        let state = ledger_store::decode_report_cache(&[9; 32], &rules, &bytes).unwrap().unwrap();
        for from in start..20 {
            for to in [from, (from + 2).min(19), 19] {
                let (resumed, resumed_next) =
                    ledger.reports_resuming(rules.clone(), nth(from), nth(to), Some(state.clone()), &mut |_| {}).unwrap();
                let (genesis, genesis_next) =
                    ledger.reports_resuming(rules.clone(), nth(from), nth(to), None, &mut |_| {}).unwrap();
                assert_eq!(resumed, genesis, "resumed at {start}, days {from}..={to}");
                assert_eq!(resumed_next, genesis_next, "resumed at {start}, days {from}..={to}");
                compared += 1;
            }
        }
    }
    assert_eq!(compared, 3 * (19 + 16 + 11 + 5 + 1));
    // The lines are not empty: large values and Class III reviews fall on several days.
    let all = ledger.reports(rules.clone(), first, nth(19), &mut |_| {}).unwrap();
    let (large, review) = (all.large_value.len(), all.class_iii_review.len());
    assert!(large >= 10 && review >= 3, "{large} large-value and {review} Class III review lines");
}
}

on_both_backends! {
fn the_report_cache_is_used_checked_against_the_log_and_keyed_by_its_rules(db) {
    let given = twenty_days();
    let (ledger, commands) = ledger_and_commands(db, given.iter().map(|(t, b)| (t.as_str(), b.clone())).collect());
    ledger.submit_batch(commands).unwrap();
    let rules = ReportRules::preset("pboc-2016-3").unwrap();
    let (d10, d19) = (day("2026-03-10"), day("2026-03-19"));
    let (_, state) =
        ledger.reports_resuming(rules.clone(), day("2026-03-01"), day("2026-03-09"), None, &mut |_| {}).unwrap();
    let state = state.unwrap();
    let genesis = ledger.reports(rules.clone(), d10, d19, &mut |_| {}).unwrap();
    // Used: a state that forgot the open counts gives other lines (every account opened before
    // the range, none counted open in it).
    let mut forgetful = state.clone();
    forgetful.open.clear();
    let (from_forgetful, _) = ledger.reports_resuming(rules.clone(), d10, d19, Some(forgetful), &mut |_| {}).unwrap();
    assert_ne!(from_forgetful, genesis);
    assert!(from_forgetful.daily_summary.iter().all(|line| line.accounts_open == 0));
    assert_eq!(from_forgetful.large_value, genesis.large_value, "owners come from the ledger, not the state");
    // A state starting after `from` is not used: from genesis.
    let (later, _) =
        ledger.reports_resuming(rules.clone(), day("2026-03-05"), d19, Some(state.clone()), &mut |_| {}).unwrap();
    assert_eq!(later, ledger.reports(rules.clone(), day("2026-03-05"), d19, &mut |_| {}).unwrap());
    // A state whose last record is not this log's is refused.
    let mut other_log = state.clone();
    other_log.last = other_log.last.map(|(seq, _)| (seq, [7; 32]));
    let refused = ledger.reports_resuming(rules.clone(), d10, d19, Some(other_log), &mut |_| {});
    assert!(matches!(refused, Err(ledger_store::Error::InvalidArgument(ref m)) if m.contains("report cache")), "{refused:?}");
    let mut beyond = state.clone();
    beyond.last = Some((1_000_000, [0; 32]));
    assert!(ledger.reports_resuming(rules.clone(), d10, d19, Some(beyond), &mut |_| {}).is_err());
    // The bytes: other rules → not used; one byte changed → damaged.
    let bytes = ledger_store::encode_report_cache(&[9; 32], &rules, &state).unwrap();
    let mut other_rules = rules.clone();
    other_rules.class_iii_review.window_days = 3;
    assert_eq!(ledger_store::decode_report_cache(&[9; 32], &other_rules, &bytes).unwrap(), None);
    let mut flipped = bytes.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    assert!(ledger_store::decode_report_cache(&[9; 32], &rules, &flipped).is_err());
    assert!(ledger_store::decode_report_cache(&[9; 32], &rules, &bytes[..10]).is_err());
}
}
