//! ledger-cli: the operators' and auditors' tool for tiered-ledger.
//!
//! Exit codes: 0 ok, 1 a check failed, 2 usage or I/O error.

mod demo;
mod workload;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "ledger-cli", version, about = "Operate and audit a tiered-ledger")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Run a generated day-and-year workload (thousands of customers, all classes, limit hits,
    /// wealth purchases, transfers across Beijing midnight and New Year), then replay and check it.
    Demo {
        #[arg(long, default_value_t = 5_000)]
        customers: u64,
        /// Beijing days to simulate, starting 2025-12-29 so the run crosses New Year.
        #[arg(long, default_value_t = 7)]
        days: u32,
        #[arg(long, default_value_t = 6)]
        commands_per_customer_day: u32,
        #[arg(long, default_value_t = 2026)]
        seed: u64,
        /// Policy preset: default, pboc-2018 or pboc-2016.
        #[arg(long, default_value = "default")]
        policy: String,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Cmd::Demo { customers, days, commands_per_customer_day, seed, policy, json } => {
            let start_ms = "2025-12-29T00:00:00+08:00".parse::<ledger_core::Timestamp>()?.as_millis();
            let spec = workload::WorkloadSpec { customers, days, commands_per_customer_day, seed, start_ms };
            let report = demo::run(spec, &policy)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                demo::print_human(&report);
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
