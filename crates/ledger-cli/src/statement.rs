//! `balance --at` and `statement`: an account at a past time, and over Beijing days.

use std::process::ExitCode;

use anyhow::{Context, bail};
use ledger_core::{AccountId, Timestamp};
use serde_json::json;

use crate::args::{Cli, StatementFormat};
use crate::open::open_reader;
use crate::out::{check_failed, csv_cell, print_json, say};

pub fn balance_at(cli: &Cli, account: AccountId, at: Timestamp) -> anyhow::Result<ExitCode> {
    let balance = open_reader(cli)?.balance_at(account, at)?;
    match (balance, cli.json) {
        (Some(balance), true) => print_json(&json!({ "account": account.0, "at": at, "balance": balance })),
        (Some(balance), false) => say!("account {account} at {at}: {balance} CNY"),
        (None, true) => print_json(&json!({ "error": format!("account {account} was not open at {at}") })),
        (None, false) => say!("account {account} was not open at {at}"),
    }
    Ok(if balance.is_some() { ExitCode::SUCCESS } else { check_failed() })
}

/// Beijing midnight starting `day` (YYYY-MM-DD).
pub fn beijing_midnight(day: &str) -> anyhow::Result<Timestamp> {
    let valid = day.len() == 10
        && day.bytes().enumerate().all(|(i, b)| if i == 4 || i == 7 { b == b'-' } else { b.is_ascii_digit() });
    if !valid {
        bail!("{day:?} is not a day (YYYY-MM-DD)");
    }
    format!("{day}T00:00:00+08:00").parse().with_context(|| format!("{day:?} is not a day"))
}

pub fn run(cli: &Cli, account: AccountId, from: &str, to: &str, format: StatementFormat) -> anyhow::Result<ExitCode> {
    let start = beijing_midnight(from)?;
    let until = beijing_midnight(to)?.next_beijing_midnight()?;
    if until <= start {
        bail!("--to {to} is before --from {from}");
    }
    let Some(statement) = open_reader(cli)?.statement(account, start, until)? else {
        say!("account {account} was not open by the end of {to}");
        return Ok(check_failed());
    };
    let format = if cli.json { StatementFormat::Json } else { format };
    match format {
        StatementFormat::Json => print_json(&serde_json::to_value(&statement)?),
        StatementFormat::Csv => crate::out::to_stdout(|out| {
            let mut out = csv::Writer::from_writer(out);
            out.write_record([
                "seq",
                "hash",
                "at",
                "kind",
                "credit",
                "debit",
                "balance_after",
                "counterparty",
                "submitted_by",
            ])?;
            out.write_record(["", "", &start.to_string(), "opening", "", "", &statement.opening.to_string(), "", ""])?;
            for line in &statement.lines {
                let kind = serde_json::to_value(line.kind)?.as_str().unwrap_or_default().to_owned();
                out.write_record([
                    &line.seq.to_string(),
                    &line.hash,
                    &line.at.to_string(),
                    &kind,
                    &line.credit.to_string(),
                    &line.debit.to_string(),
                    &line.balance_after.to_string(),
                    &csv_cell(line.counterparty.as_deref().unwrap_or("")),
                    &csv_cell(&line.principal.as_ref().map(ToString::to_string).unwrap_or_default()),
                ])?;
            }
            out.write_record(["", "", &until.to_string(), "closing", "", "", &statement.closing.to_string(), "", ""])?;
            out.flush()?;
            Ok(())
        })?,
        StatementFormat::Text => {
            say!("statement of account {account}, Beijing days {from} to {to}");
            say!("opening balance {:>16}", statement.opening.to_string());
            for line in &statement.lines {
                let kind = serde_json::to_value(line.kind)?.as_str().unwrap_or_default().to_owned();
                let signed =
                    if line.credit.is_zero() { format!("-{}", line.debit) } else { format!("+{}", line.credit) };
                let by = line.principal.as_ref().map(|who| format!("  by {who}")).unwrap_or_default();
                let text = format!(
                    "{:<8} {}  {kind:<18} {signed:>14}  balance {:>14}  {}  {}{by}",
                    line.seq,
                    line.at,
                    line.balance_after.to_string(),
                    &line.hash[..16],
                    line.counterparty.as_deref().unwrap_or("")
                );
                say!("{}", text.trim_end());
            }
            say!("closing balance {:>16}  ({} postings)", statement.closing.to_string(), statement.lines.len());
        }
    }
    Ok(ExitCode::SUCCESS)
}
