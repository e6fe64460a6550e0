//! `verify`: the hash chain from genesis (or `--from`) to the head, every recorded checkpoint
//! (its root, its note, and with `--public-key` its signature), and an expected head.

use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, bail};
use ledger_store::{Error as StoreError, Head, Reader};
use serde_json::json;

use crate::args::Cli;
use crate::open::opening_failed;
use crate::out::{check_failed, print_json, say};
use crate::progress::{self, rate};
use crate::proofs;

pub fn run(cli: &Cli, from: u64, expect_head: Option<&str>, public_key: Option<&str>) -> anyhow::Result<ExitCode> {
    let expect = expect_head.map(Head::parse).transpose()?;
    // Record 0 does not exist (the first record is 1): an auditor's head names a record.
    if let Some(head) = expect.filter(|head| head.seq == 0) {
        bail!(
            "--expect-head {}: SEQ must be 1 or more (there is no record 0; give the head `ledger-cli head` printed)",
            head.to_text()
        );
    }
    let key = public_key.map(proofs::public_key).transpose().context("--public-key")?;
    let signed_by_key = key.is_some();
    let reader = match Reader::open(&cli.db, cli.clock()) {
        Ok(reader) => reader,
        // Damage found while opening is a failed check, like damage found while walking.
        Err(err @ StoreError::Corruption { .. }) => return verify_failed(cli, &err),
        Err(err) => return Err(opening_failed(cli, err)),
    };
    if reader.head()?.seq == 0 {
        return Err(crate::open::without_policy(cli));
    }
    let total = reader.head().map(|head| head.seq).unwrap_or(0);
    let bar = progress::bar(total, "events");
    let started = Instant::now();
    let result = reader.verify_signed(from, expect, key.as_ref(), &mut |seq| {
        if seq % 4096 == 0 {
            bar.set_position(seq);
        }
    });
    bar.finish_and_clear();
    match result {
        // A key given to check signatures with, and no recorded checkpoint among the records
        // checked: nothing was signed, so nothing proves the log is the key holder's.
        Ok(report) if signed_by_key && report.checkpoints_checked == 0 => {
            let why = format!(
                "no recorded checkpoint among the {} records checked from seq {}: --public-key proved nothing \
                 (record checkpoints with a checkpoint key, or verify without --public-key)",
                report.events_checked, report.from_seq
            );
            if cli.json {
                print_json(&json!({ "ok": false, "first_bad_seq": null, "error": why }));
            } else {
                say!("FAILED: {why}");
            }
            Ok(check_failed())
        }
        Ok(report) => {
            if cli.json {
                print_json(&json!({
                    "ok": true,
                    "from": report.from_seq,
                    "events_checked": report.events_checked,
                    "checkpoints_checked": report.checkpoints_checked,
                    "head": report.head.to_text(),
                    "events_per_second": rate(report.events_checked, started),
                }));
            } else {
                say!(
                    "OK: {} events verified from seq {} ({:.0} events/s), {} recorded checkpoint(s) among them{}; head {}",
                    report.events_checked,
                    report.from_seq,
                    rate(report.events_checked, started),
                    report.checkpoints_checked,
                    if signed_by_key { ", each signed with the key given" } else { "" },
                    report.head.to_text()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(err @ (StoreError::Corruption { .. } | StoreError::HeadMismatch(_))) => verify_failed(cli, &err),
        Err(err) => Err(err.into()),
    }
}

/// A check that failed on the log itself (`verify`, `replay`): "FAILED" with the first bad
/// record, exit 1 (a failed check, as the exit-code table says), not an error.
pub(crate) fn verify_failed(cli: &Cli, err: &StoreError) -> anyhow::Result<ExitCode> {
    let seq = match err {
        StoreError::Corruption { seq, .. } => Some(*seq),
        _ => None,
    };
    if cli.json {
        print_json(&json!({ "ok": false, "first_bad_seq": seq, "error": err.to_string() }));
    } else {
        say!("FAILED: {err}");
    }
    Ok(check_failed())
}
