//! The subcommands. Each prints a human report, or JSON with `--json`, and returns the exit code.

use std::io::Read;
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, bail};
use ledger_core::{
    AccountId, Amount, CommandBody, CustomerId, Event, EventBody, Policy, Release, Reservation, Settlement, Stage,
    Timestamp, parse_command,
};
use ledger_store::{Error as StoreError, Ledger, MigrateStage, Reader};
use serde_json::{Value, json};

use crate::args::Cli;
use crate::open::{ledger_options, open_ledger, open_reader, opening_failed};
use crate::out::{self, check_failed, print_json, receipt_json, say};
use crate::progress::{self, rate};

fn load_policy(spec: &str) -> anyhow::Result<Policy> {
    if Policy::preset_names().any(|name| name == spec) {
        return Ok(Policy::preset(spec)?);
    }
    let path = Path::new(spec);
    let text = crate::out::read_small(path)
        .with_context(|| format!("{spec:?} is neither a preset (default, pboc-2018, pboc-2016) nor a readable file"))?;
    let policy = if path.extension().is_some_and(|ext| ext == "json") {
        Policy::from_json_str(&text)
    } else {
        Policy::from_toml_str(&text)
    };
    policy.with_context(|| format!("loading the policy file {spec}"))
}

/// The ledger an interrupted `init` left at `--db` (created, but its policy not yet recorded:
/// no record at all), to record the policy in; any other ledger there is refused.
fn resume_init(cli: &Cli) -> anyhow::Result<Ledger> {
    let already = || {
        anyhow::anyhow!("{} already holds a ledger; init only creates new ones", ledger_store::location_text(&cli.db))
    };
    let ledger = Ledger::open(&cli.db, ledger_options(cli)?).map_err(|_| already())?;
    if ledger.head()?.seq != 0 {
        ledger.close()?;
        return Err(already());
    }
    Ok(ledger)
}

pub fn init(cli: &Cli, spec: &str) -> anyhow::Result<ExitCode> {
    let policy = load_policy(spec)?;
    let ledger = match Ledger::create(&cli.db, ledger_options(cli)?) {
        Ok(ledger) => ledger,
        // A ledger without a single record is an init stopped before its policy was recorded.
        Err(StoreError::NotALedger(_)) if cli.db.join("LEDGER").exists() => resume_init(cli)?,
        Err(other) => {
            return Err(anyhow::Error::new(other)
                .context(format!("creating a ledger at {}", ledger_store::location_text(&cli.db))));
        }
    };
    let name = policy.name.clone();
    // The genesis command has a fixed id and time: the same init on the same inputs gives the
    // same hashes, and recording it at the epoch lets historical commands be imported after it.
    let command = ledger_core::Command {
        id: ledger_core::CommandId(uuid::Uuid::nil()),
        at: Timestamp::UNIX_EPOCH,
        body: CommandBody::ChangePolicy { effective_from: Timestamp::UNIX_EPOCH, policy: Box::new(policy) },
        stamped: false,
    };
    let receipt = ledger.submit(command)?;
    if let Some(reason) = receipt.rejection() {
        bail!("the policy was refused: {reason}");
    }
    let head = ledger.head()?;
    ledger.close()?;
    if cli.json {
        print_json(&json!({ "db": cli.db, "policy": name, "head": head.to_text() }));
    } else {
        say!("created ledger {} with policy {name}; head {}", ledger_store::location_text(&cli.db), head.to_text());
    }
    Ok(ExitCode::SUCCESS)
}

/// The command text: the argument, or standard input when absent or "-".
fn command_text(text: Option<&str>) -> anyhow::Result<String> {
    match text {
        Some(text) if text != "-" => Ok(text.to_owned()),
        _ => {
            let mut buffer = String::new();
            std::io::stdin().read_to_string(&mut buffer).context("reading the command from standard input")?;
            Ok(buffer)
        }
    }
}

/// Submits one command, or with `dry_run` only decides it against the current state.
pub fn submit(cli: &Cli, text: Option<&str>, dry_run: bool) -> anyhow::Result<ExitCode> {
    let text = command_text(text)?;
    let ledger = open_ledger(cli)?;
    let command = match parse_command(text.trim(), ledger.now()) {
        Ok(command) => command,
        Err(err) => {
            if cli.json {
                print_json(&json!({ "status": "malformed", "error": err.to_string() }));
            } else {
                say!("malformed: {err}");
            }
            return Ok(check_failed());
        }
    };
    let receipt = if dry_run { ledger.check(command)? } else { ledger.submit(command)? };
    ledger.close()?;
    if cli.json {
        let mut value = receipt_json(&receipt);
        if dry_run {
            value["dry_run"] = json!(true);
        }
        print_json(&value);
    } else {
        let duplicate = if receipt.duplicate { " (a retry: the first answer)" } else { "" };
        let pending = match &receipt.event.body {
            EventBody::Reserved { reservation, .. } => match reservation.stage {
                Stage::AwaitingVerification { expires_at } => {
                    format!(" (held for verification until {expires_at}: confirm_hold or decline_hold)")
                }
                Stage::Scheduled { due_at } => format!(" (scheduled for {due_at}; cancel_transfer until then)"),
            },
            EventBody::HoldConfirmed { due_at, .. } => format!(" (scheduled for {due_at})"),
            _ => String::new(),
        };
        let (would, nothing) = if dry_run { ("would be ", "; dry run: nothing was recorded") } else { ("", "") };
        match receipt.rejection() {
            _ if receipt.conflict => say!(
                "conflict: ID_CONFLICT: the id was used at seq {} for a different request; nothing was done",
                receipt.seq
            ),
            None => say!("{would}accepted: seq {}{pending}{duplicate}{nothing}", receipt.seq),
            Some(reason) => {
                let detail = receipt.brief_answer().detail.unwrap_or_else(|| reason.to_string());
                say!("{would}rejected: seq {} {detail}{duplicate}{nothing}", receipt.seq)
            }
        }
    }
    Ok(if receipt.is_accepted() { ExitCode::SUCCESS } else { check_failed() })
}

pub fn replay(cli: &Cli) -> anyhow::Result<ExitCode> {
    // Damage found while opening (the head's own record) fails the check as damage found while
    // replaying does, and as `verify` fails it.
    let reader = match ledger_store::Reader::open(&cli.db, cli.clock()) {
        Err(err @ StoreError::Corruption { .. }) => return crate::verify::verify_failed(cli, &err),
        Err(err) => return Err(crate::open::opening_failed(cli, err)),
        Ok(_) => open_reader(cli)?,
    };
    let head = reader.head()?;
    let bar = progress::bar(head.seq, "events");
    let started = Instant::now();
    let replayed = reader.replay_with_progress(&mut |seq| {
        if seq % 4096 == 0 {
            bar.set_position(seq);
        }
    });
    bar.finish_and_clear();
    let (replayed, report) = match replayed {
        Ok(done) => done,
        // A damaged log fails the check as `verify` fails it: exit 1, the first bad record named.
        Err(err @ StoreError::Corruption { .. }) => return crate::verify::verify_failed(cli, &err),
        Err(err) => return Err(err.into()),
    };
    let seconds = started.elapsed().as_secs_f64();
    // A replay whose accounts did not all fit in the cache returns them paged: it is compared
    // with the paged state a writer opens (the accounts outside it were compared at
    // `meta/projected` by the replay itself), never made whole.
    let snapshot_matches =
        if replayed.is_paged() { reader.opened_view()? == replayed } else { reader.snapshot_state()? == replayed };
    let ok = report.mismatches.is_empty() && snapshot_matches;
    if cli.json {
        let mismatches: Vec<Value> = report
            .mismatches
            .iter()
            .map(|m| json!({ "account": m.account.map(|a| a.0), "field": m.field, "expected": m.expected, "found": m.found }))
            .collect();
        print_json(&json!({
            "ok": ok,
            "events": report.events,
            "seconds": seconds,
            "events_per_second": rate(report.events, started),
            "head": report.head.to_text(),
            "snapshot_matches_replay": snapshot_matches,
            "state_compared_paged": replayed.is_paged(),
            "mismatches": mismatches,
        }));
    } else {
        say!(
            "replayed {} events in {seconds:.2} s ({:.0} events/s); head {}",
            report.events,
            rate(report.events, started),
            report.head.to_text()
        );
        // Layout 4 keeps no snapshot: the state an open loads is the read models and the log tail.
        let paged = if replayed.is_paged() { " (compared paged: past --cache-mib, the accounts it loads)" } else { "" };
        say!("opened state matches the replay{paged}: {}", if snapshot_matches { "yes" } else { "NO" });
        if report.mismatches.is_empty() {
            say!("read models: no mismatch");
        }
        for m in &report.mismatches {
            let scope = m.account.map_or_else(|| "ledger-wide".to_owned(), |a| format!("account {a}"));
            say!("MISMATCH {scope} {}: expected {}, found {}", m.field, m.expected, m.found);
        }
    }
    Ok(if ok { ExitCode::SUCCESS } else { check_failed() })
}

pub fn rebuild_indexes(cli: &Cli) -> anyhow::Result<ExitCode> {
    // For the progress bar only: a ledger whose last rebuild was cut short opens for no reader
    // (the rebuild below opens it and says what else is wrong, if anything).
    let total = open_reader(cli).and_then(|reader| Ok(reader.head()?.seq)).unwrap_or(0);
    let bar = progress::bar(total, "events");
    let started = Instant::now();
    let report = Ledger::rebuild_read_models(&cli.db, &mut |events| bar.set_position(events))
        .map_err(|err| opening_failed(cli, err))?;
    bar.finish_and_clear();
    let ok = report.mismatches.is_empty();
    if cli.json {
        print_json(&json!({ "ok": ok, "events": report.events, "head": report.head.to_text(),
            "seconds": started.elapsed().as_secs_f64(), "mismatches": report.mismatches.len() }));
    } else {
        say!(
            "rebuilt every read model and index from {} events in {:.2} s; head {}; replay: {}",
            report.events,
            started.elapsed().as_secs_f64(),
            report.head.to_text(),
            if ok { "no mismatch".to_owned() } else { format!("{} mismatch(es)", report.mismatches.len()) }
        );
    }
    Ok(if ok { ExitCode::SUCCESS } else { check_failed() })
}

pub fn migrate(cli: &Cli, from: Option<&Path>, to: &Path) -> anyhow::Result<ExitCode> {
    let from = from.unwrap_or(&cli.db);
    let (from_text, to_text) = (ledger_store::location_text(from), ledger_store::location_text(to));
    let total = Reader::open(from, cli.clock())
        .and_then(|reader| reader.head())
        .with_context(|| format!("opening the source ledger at {from_text}"))?
        .seq;
    let started = Instant::now();
    let (copy, rebuild) = (progress::bar(total, "records copied"), progress::bar(total, "events rebuilt"));
    let report = Ledger::migrate(from, to, &mut |stage, done| match stage {
        MigrateStage::Copy => copy.set_position(done),
        MigrateStage::Rebuild => {
            copy.finish_and_clear();
            rebuild.set_position(done);
        }
    })
    .with_context(|| {
        format!("migrating {from_text} to {to_text} (a partial copy may be left there: drop it before retrying)")
    })?;
    copy.finish_and_clear();
    rebuild.finish_and_clear();
    let ok = report.replay.mismatches.is_empty() && report.replay.head == report.head;
    let seconds = started.elapsed().as_secs_f64();
    if cli.json {
        print_json(&json!({ "ok": ok, "from": from_text, "to": to_text, "records": report.records,
            "head": report.head.to_text(), "events_verified": report.events_verified,
            "mismatches": report.replay.mismatches.len(), "seconds": seconds }));
    } else {
        say!(
            "migrated {} records from {} to {} in {seconds:.2} s; the copy verifies from genesis to the source's head {} \
             ({} events); read models rebuilt, replay: {}",
            report.records,
            from_text,
            to_text,
            report.head.to_text(),
            report.events_verified,
            if ok { "no mismatch".to_owned() } else { format!("{} mismatch(es)", report.replay.mismatches.len()) }
        );
    }
    Ok(if ok { ExitCode::SUCCESS } else { check_failed() })
}

pub fn head(cli: &Cli) -> anyhow::Result<ExitCode> {
    let head = open_reader(cli)?.head()?;
    if cli.json {
        print_json(&json!({ "seq": head.seq, "hash": hex::encode(head.hash), "head": head.to_text() }));
    } else {
        say!("{}", head.to_text());
    }
    Ok(ExitCode::SUCCESS)
}

fn unknown_account(cli: &Cli, account: AccountId) -> anyhow::Result<ExitCode> {
    if cli.json {
        print_json(&json!({ "error": format!("account {account} does not exist") }));
    } else {
        say!("account {account} does not exist");
    }
    Ok(check_failed())
}

pub fn balance(cli: &Cli, account: AccountId) -> anyhow::Result<ExitCode> {
    let reader = open_reader(cli)?;
    let Some(found) = reader.account(account)? else { return unknown_account(cli, account) };
    let reserved = reader.protections(account)?.map_or(Amount::ZERO, |p| p.reserved);
    let available = found.balance.checked_sub(reserved).unwrap_or(Amount::ZERO);
    if cli.json {
        print_json(&json!({
            "account": account.0, "balance": found.balance, "reserved": reserved, "available": available,
            "class": found.class, "status": found.status,
        }));
    } else {
        let status = format!("{:?}", found.status).to_lowercase();
        let held = if reserved.is_zero() {
            String::new()
        } else {
            format!("; {reserved} reserved by pending outflows, {available} available")
        };
        say!("account {account}: {} CNY (Class {}, {status}){held}", found.balance, found.class);
    }
    Ok(ExitCode::SUCCESS)
}

fn pending_line(r: &Reservation) -> String {
    let kind = serde_json::to_value(r.kind).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
    let stage = match r.stage {
        Stage::AwaitingVerification { expires_at } => format!("held until {expires_at}"),
        Stage::Scheduled { due_at } => format!("due {due_at}"),
    };
    let arrival = r.arrival.map_or("real time".to_owned(), |a| format!("{a:?}").to_lowercase());
    let to = r.counterparty.as_deref().unwrap_or("cash");
    format!("{}  account {}  {kind} {} to {to}  ({arrival}, {stage})", r.id, r.account, r.amount)
}

pub fn protections(cli: &Cli, account: AccountId) -> anyhow::Result<ExitCode> {
    let reader = open_reader(cli)?;
    let Some(found) = reader.account(account)? else { return unknown_account(cli, account) };
    let protections = reader.protections(account)?.unwrap_or_default();
    let pending = reader.pending(Some(account))?;
    let available = found.balance.checked_sub(protections.reserved).unwrap_or(Amount::ZERO);
    if cli.json {
        print_json(&json!({
            "account": account.0, "balance": found.balance, "available": available, "protections": protections,
            "pending": pending,
        }));
        return Ok(ExitCode::SUCCESS);
    }
    say!("account {account} (Class {}): balance {}, available {available}", found.class, found.balance);
    if protections.locks.is_empty() {
        say!("security lock   none");
    }
    for lock in &protections.locks {
        let flows = if lock.flows.is_empty() {
            "every outflow".to_owned()
        } else {
            lock.flows.iter().map(|f| f.name()).collect::<Vec<_>>().join(", ")
        };
        say!("security lock   by the {}: {flows} ({})", lock.by, lock.reason);
    }
    let cap = |cap: Option<Amount>| cap.map_or("none".to_owned(), |c| c.to_string());
    say!(
        "personal limits per transaction {}, per day {}",
        cap(protections.limits.per_transaction),
        cap(protections.limits.per_day)
    );
    match protections.night {
        Some(window) => say!("night lock      {window} Beijing time"),
        None => say!("night lock      none"),
    }
    say!("reserved        {} in {} pending outflow(s)", protections.reserved, pending.len());
    for r in &pending {
        say!("  {}", pending_line(r));
    }
    Ok(ExitCode::SUCCESS)
}

pub fn pending(cli: &Cli, account: Option<AccountId>) -> anyhow::Result<ExitCode> {
    let list = open_reader(cli)?.pending(account)?;
    if cli.json {
        print_json(&json!({ "pending": list }));
    } else if list.is_empty() {
        say!("no pending outflows");
    } else {
        for r in &list {
            say!("{}", pending_line(r));
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn risk_check(cli: &Cli, counterparty: &str) -> anyhow::Result<ExitCode> {
    let listed = open_reader(cli)?.risk_listed(counterparty)?;
    if cli.json {
        print_json(&json!({ "counterparty": counterparty, "listed": listed.is_some(), "listed_seq": listed }));
    } else {
        match listed {
            Some(seq) => say!("\"{counterparty}\" is on the risk list (listed at seq {seq}; see `history`/`export`)"),
            None => say!("\"{counterparty}\" is not on the risk list"),
        }
    }
    Ok(if listed.is_some() { check_failed() } else { ExitCode::SUCCESS })
}

pub fn tick(cli: &Cli) -> anyhow::Result<ExitCode> {
    let ledger = open_ledger(cli)?;
    let before = ledger.head()?.seq;
    let command = ledger.tick_command()?;
    let at = command.at;
    let receipt = ledger.submit(command)?;
    // The records between the head before and the tick's own: what came due, and any checkpoint
    // recorded on the schedule (not a hold or transfer, so not counted).
    let mut handled = 0u64;
    for seq in before + 1..receipt.seq {
        if ledger.event(seq)?.answers_a_command() {
            handled += 1;
        }
    }
    ledger.close()?;
    if cli.json {
        let mut value = receipt_json(&receipt);
        value["due_handled"] = json!(handled);
        print_json(&value);
    } else {
        match receipt.rejection() {
            None => {
                say!("time advanced to {at}: {handled} hold(s) or delayed transfer(s) handled; seq {}", receipt.seq)
            }
            Some(reason) => say!("rejected: seq {} {reason}", receipt.seq),
        }
    }
    Ok(if receipt.is_accepted() { ExitCode::SUCCESS } else { check_failed() })
}

fn opt(amount: Option<ledger_core::Amount>) -> String {
    amount.map_or("-".into(), |a| a.to_string())
}

pub fn usage(cli: &Cli, account: AccountId, at: Option<Timestamp>) -> anyhow::Result<ExitCode> {
    let reader = open_reader(cli)?;
    let at = at.unwrap_or_else(|| reader.now());
    let Some(report) = reader.usage_at(account, at)? else { return unknown_account(cli, account) };
    if cli.json {
        print_json(
            &json!({ "account": account.0, "class": report.class, "at": report.at, "policy": report.policy, "buckets": report.buckets }),
        );
    } else {
        say!(
            "account {account} (Class {}) at {}, policy {}",
            report.class,
            report.at,
            report.policy.as_deref().unwrap_or("(none in force)")
        );
        if report.buckets.is_empty() {
            say!("no limit buckets for this class");
        } else {
            let names = report.buckets.iter().map(|b| out::width(&b.bucket)).max().unwrap_or(0).max(8);
            say!(
                "{} {:>12} {:>12} {:>12} {:>12} {:>12} {:>12}",
                out::pad("bucket", names),
                "day used",
                "day cap",
                "day left",
                "year used",
                "year cap",
                "year left"
            );
            for b in &report.buckets {
                say!(
                    "{} {:>12} {:>12} {:>12} {:>12} {:>12} {:>12}",
                    out::pad(&b.bucket, names),
                    b.day_used.to_string(),
                    opt(b.day_cap),
                    opt(b.day_remaining),
                    b.year_used.to_string(),
                    opt(b.year_cap),
                    opt(b.year_remaining)
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// One history line for `account`: what the event did to it.
fn describe(account: AccountId, event: &Event) -> (String, String, String) {
    match &event.body {
        EventBody::AccountOpened { class, .. } => ("opened".into(), format!("Class {class}"), String::new()),
        EventBody::AccountClosed { .. } => ("closed".into(), String::new(), String::new()),
        EventBody::Posted(posting) => {
            let kind =
                serde_json::to_value(posting.kind).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
            let debit = posting.debit.as_ref().filter(|leg| leg.account == account);
            let credit = posting.credit.as_ref().filter(|leg| leg.account == account);
            let (signed, after) = match (debit, credit) {
                (Some(leg), _) => (format!("-{}", posting.amount), leg.balance_after.to_string()),
                (_, Some(leg)) => (format!("+{}", posting.amount), leg.balance_after.to_string()),
                _ => (posting.amount.to_string(), String::new()),
            };
            (
                kind,
                signed,
                format!(
                    "balance {after}{}",
                    posting.counterparty.as_ref().map(|c| format!("  {c}")).unwrap_or_default()
                ),
            )
        }
        EventBody::PolicyScheduled { .. } => ("policy".into(), String::new(), String::new()),
        EventBody::Rejected { reason, .. } => ("rejected".into(), reason.code().into(), String::new()),
        EventBody::AccountLocked { lock, .. } => {
            let flows = if lock.flows.is_empty() {
                "every outflow".to_owned()
            } else {
                lock.flows.iter().map(|f| f.name()).collect::<Vec<_>>().join(",")
            };
            ("locked".into(), String::new(), format!("by the {}: {flows} ({})", lock.by, lock.reason))
        }
        EventBody::AccountUnlocked { by, .. } => ("unlocked".into(), String::new(), format!("by the {by}")),
        EventBody::PersonalLimitsSet { limits, .. } => {
            let cap = |cap: Option<Amount>| cap.map_or("none".to_owned(), |c| c.to_string());
            let text = format!("per transaction {}, per day {}", cap(limits.per_transaction), cap(limits.per_day));
            ("personal limits".into(), String::new(), text)
        }
        EventBody::NightLockSet { window, .. } => {
            ("night lock".into(), String::new(), window.map_or("off".to_owned(), |w| w.to_string()))
        }
        EventBody::RiskListed { counterparty, .. } => ("risk listed".into(), String::new(), counterparty.clone()),
        EventBody::RiskUnlisted { counterparty, .. } => ("risk unlisted".into(), String::new(), counterparty.clone()),
        EventBody::ProtectionsScheduled { .. } => ("protections".into(), String::new(), String::new()),
        EventBody::Reserved { reservation: r, .. } => {
            let (kind, when) = match r.stage {
                Stage::AwaitingVerification { expires_at } => ("held", format!("until {expires_at}")),
                Stage::Scheduled { due_at } => ("scheduled", format!("due {due_at}")),
            };
            let to = r.counterparty.as_deref().unwrap_or("cash");
            (kind.into(), format!("({})", r.amount), format!("{when}  {to}"))
        }
        EventBody::HoldConfirmed { due_at, .. } => ("hold confirmed".into(), String::new(), format!("due {due_at}")),
        EventBody::ReservationSettled { settlement, posting, .. } => {
            let kind = match settlement {
                Settlement::Confirmed => "confirmed",
                Settlement::Due => "executed",
            };
            let after = posting.debit.as_ref().map(|leg| leg.balance_after.to_string()).unwrap_or_default();
            let to = posting.counterparty.as_deref().unwrap_or("cash");
            (kind.into(), format!("-{}", posting.amount), format!("balance {after}  {to}"))
        }
        EventBody::ReservationReleased { release, .. } => {
            let why = match release {
                Release::Declined => "declined".to_owned(),
                Release::Expired => "expired".to_owned(),
                Release::Cancelled => "cancelled".to_owned(),
                Release::Stopped { reason } => format!("stopped: {}", reason.code()),
            };
            ("released".into(), String::new(), why)
        }
        EventBody::TimeAdvanced => ("tick".into(), String::new(), String::new()),
        EventBody::Checkpointed { size, .. } => ("checkpoint".into(), String::new(), format!("size {size}")),
    }
}

pub fn history(
    cli: &Cli,
    account: AccountId,
    from: Option<Timestamp>,
    to: Option<Timestamp>,
    limit: usize,
    after: Option<u64>,
) -> anyhow::Result<ExitCode> {
    let reader = open_reader(cli)?;
    if reader.account(account)?.is_none() {
        return unknown_account(cli, account);
    }
    let page = reader.history(account, from, to, after, limit)?;
    if cli.json {
        let entries: Vec<Value> =
            page.entries.iter().map(|(seq, event)| json!({ "seq": seq, "event": event })).collect();
        print_json(&json!({ "account": account.0, "entries": entries, "next_after": page.next_after_seq }));
    } else {
        for (seq, event) in &page.entries {
            let (kind, amount, rest) = describe(account, event);
            let by = event.principal.as_ref().map(|who| format!("  by {who}")).unwrap_or_default();
            let line = format!("{seq:<8}  {}  {kind:<18} {amount:>14}  {rest}{by}", event.at);
            say!("{}", line.trim_end());
        }
        if let Some(next) = page.next_after_seq {
            say!("(more: --after {next})");
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn accounts(cli: &Cli, customer: CustomerId) -> anyhow::Result<ExitCode> {
    let list = open_reader(cli)?.customer_accounts(customer)?;
    if cli.json {
        let accounts: Vec<Value> = list
            .iter()
            .map(|a| json!({ "account": a.id.0, "class": a.class, "status": a.status, "balance": a.balance, "binding": a.binding }))
            .collect();
        print_json(&json!({ "customer": customer.0, "accounts": accounts }));
    } else if list.is_empty() {
        say!("customer {customer} has no accounts");
    } else {
        for a in &list {
            let bound = match &a.binding {
                Some(ledger_core::Binding::Account(id)) => format!("bound to {id}"),
                Some(ledger_core::Binding::External { reference, .. }) => format!("bound to {reference}"),
                None => String::new(),
            };
            let status = format!("{:?}", a.status).to_lowercase();
            let line =
                format!("{:<12}  Class {:<3}  {status:<6}  {:>16}  {bound}", a.id.0, a.class, a.balance.to_string());
            say!("{}", line.trim_end());
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn export(cli: &Cli, file: &Path, from: u64, to: Option<u64>, force: bool) -> anyhow::Result<ExitCode> {
    let reader = open_reader(cli)?;
    let written = if file == Path::new("-") {
        out::to_stdout(|out| Ok(reader.export(from, to, out)?))?
    } else {
        // A bad range fails before the file exists.
        if let Some(to) = to.filter(|to| *to < from) {
            bail!("--to {to} is before --from {from}");
        }
        reader.export(from, Some(from), &mut std::io::sink())?;
        let handle = out::create_private(file, force)?;
        out::write_to(handle, &file.display().to_string(), |out| Ok(reader.export(from, to, out)?))?
    };
    if file != Path::new("-") {
        if cli.json {
            print_json(&json!({ "file": file, "records": written }));
        } else {
            say!("exported {written} records to {}", file.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn backup(cli: &Cli, dir: &Path) -> anyhow::Result<ExitCode> {
    if dir.exists() {
        bail!("{} already exists; a backup goes into a new directory", dir.display());
    }
    // Read-only: a backup works next to a running writer and never creates a ledger at --db.
    let ledger = open_reader(cli)?;
    ledger.backup(dir).with_context(|| format!("writing the backup to {}", dir.display()))?;
    drop(ledger);
    let copy = Reader::open(dir, cli.clock()).context("opening the backup")?;
    let report = copy.verify(1, None).context("verifying the backup")?;
    let replay = copy.replay().context("replaying the backup")?;
    if cli.json {
        print_json(
            &json!({ "dir": dir, "events_verified": report.events_checked, "head": report.head.to_text(), "mismatches": replay.mismatches.len() }),
        );
    } else {
        say!(
            "backup written to {} and verified: {} events, head {}",
            dir.display(),
            report.events_checked,
            report.head.to_text()
        );
    }
    Ok(if replay.mismatches.is_empty() { ExitCode::SUCCESS } else { check_failed() })
}
