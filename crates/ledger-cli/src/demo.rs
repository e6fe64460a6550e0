//! `ledger-cli demo`: run the generated workload through the ledger and check the result.

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::{Context, bail};
use ledger_core::{Decision, Event, EventBody, Policy, PostingKind, State, execute};
use serde::Serialize;

use crate::workload::{WorkloadSpec, generate};

/// What `demo` prints.
#[derive(Debug, Serialize)]
pub struct DemoReport {
    pub policy: String,
    pub customers: u64,
    pub days: u32,
    pub commands: usize,
    pub accepted: u64,
    pub rejected: u64,
    pub retries: u64,
    pub rejected_by_reason: BTreeMap<String, u64>,
    pub accepted_by_kind: BTreeMap<String, u64>,
    pub events: u64,
    pub decide_seconds: f64,
    pub commands_per_second: f64,
    pub replay_seconds: f64,
    pub replay_matches: bool,
    pub total_balance: String,
    pub money_conserved: bool,
}

pub fn run(spec: WorkloadSpec, policy_name: &str) -> anyhow::Result<DemoReport> {
    let policy = Policy::preset(policy_name).with_context(|| format!("loading policy {policy_name}"))?;
    let commands = generate(spec, policy)?;
    let mut state = State::new();
    let mut events: Vec<Event> = Vec::with_capacity(commands.len());
    let mut report = DemoReport {
        policy: policy_name.to_owned(),
        customers: spec.customers,
        days: spec.days,
        commands: commands.len(),
        accepted: 0,
        rejected: 0,
        retries: 0,
        rejected_by_reason: BTreeMap::new(),
        accepted_by_kind: BTreeMap::new(),
        events: 0,
        decide_seconds: 0.0,
        commands_per_second: 0.0,
        replay_seconds: 0.0,
        replay_matches: false,
        total_balance: String::new(),
        money_conserved: false,
    };
    let started = Instant::now();
    for command in &commands {
        match execute(&mut state, command)? {
            Decision::Retry { .. } => report.retries += 1,
            Decision::Append(new) => events.extend(new),
        }
    }
    report.decide_seconds = started.elapsed().as_secs_f64();
    report.commands_per_second = commands.len() as f64 / report.decide_seconds.max(1e-9);

    let (mut inflow, mut outflow) = (0u128, 0u128);
    for event in &events {
        match &event.body {
            EventBody::Rejected { reason, .. } => {
                report.rejected += 1;
                *report.rejected_by_reason.entry(reason.code().to_owned()).or_default() += 1;
            }
            body => {
                report.accepted += 1;
                let kind = match body {
                    EventBody::Posted(posting) => {
                        let fen = u128::from(posting.amount.fen());
                        match posting.kind {
                            PostingKind::CashDeposit | PostingKind::InboundTransfer | PostingKind::WealthRedemption => {
                                inflow += fen
                            }
                            PostingKind::CashWithdrawal
                            | PostingKind::OutboundTransfer
                            | PostingKind::Payment
                            | PostingKind::WealthPurchase => outflow += fen,
                            PostingKind::InternalTransfer => {}
                        }
                        format!("{:?}", posting.kind)
                    }
                    EventBody::AccountOpened { .. } => "AccountOpened".into(),
                    EventBody::AccountClosed { .. } => "AccountClosed".into(),
                    EventBody::PolicyScheduled { .. } => "PolicyScheduled".into(),
                    EventBody::Rejected { .. } => unreachable!(),
                };
                *report.accepted_by_kind.entry(kind).or_default() += 1;
            }
        }
    }
    report.events = events.len() as u64;

    let started = Instant::now();
    let mut replayed = State::new();
    for event in &events {
        replayed.apply(event)?;
    }
    report.replay_seconds = started.elapsed().as_secs_f64();
    report.replay_matches = replayed == state;

    let total: u128 = state.accounts().map(|account| u128::from(account.balance.fen())).sum();
    report.total_balance = format!("{}.{:02}", total / 100, total % 100);
    report.money_conserved = total + outflow == inflow;
    if !report.replay_matches || !report.money_conserved {
        bail!(
            "demo check failed: replay matches = {}, money conserved = {}",
            report.replay_matches,
            report.money_conserved
        );
    }
    Ok(report)
}

pub fn print_human(report: &DemoReport) {
    println!("tiered-ledger demo (policy {}, ledger-core only: the durable store is not wired in yet)", report.policy);
    println!(
        "  customers {} (Class I + II + III each), {} Beijing days across New Year",
        report.customers, report.days
    );
    println!("  commands  {} ({} retried ids answered from the log)", report.commands, report.retries);
    println!("  accepted  {}", report.accepted);
    for (kind, count) in &report.accepted_by_kind {
        println!("    {kind:<22} {count}");
    }
    println!("  rejected  {}", report.rejected);
    for (reason, count) in &report.rejected_by_reason {
        println!("    {reason:<34} {count}");
    }
    println!("  decide+apply {:.3} s, {:.0} commands/s", report.decide_seconds, report.commands_per_second);
    println!(
        "  replay of {} events {:.3} s: state matches = {}",
        report.events, report.replay_seconds, report.replay_matches
    );
    println!("  total balance {} CNY; money conserved = {}", report.total_balance, report.money_conserved);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_demo_checks_out_and_hits_limits() {
        let start_ms = "2025-12-30T00:00:00+08:00".parse::<ledger_core::Timestamp>().unwrap().as_millis();
        for policy in ["default", "pboc-2018"] {
            let spec = WorkloadSpec { customers: 200, days: 4, commands_per_customer_day: 8, seed: 7, start_ms };
            let report = run(spec, policy).unwrap();
            assert!(report.replay_matches && report.money_conserved);
            assert!(report.retries > 0, "{report:?}");
            assert!(report.rejected_by_reason.contains_key("LIMIT_EXCEEDED"), "{report:?}");
            assert_eq!(report.accepted + report.rejected, report.events);
            assert_eq!(report.events + report.retries, report.commands as u64);
        }
    }
}
