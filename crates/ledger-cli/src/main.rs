//! ledger-cli: the operators' and auditors' tool for tiered-ledger.
//!
//! Exit codes: 0 ok; 1 a check failed, a command was rejected or an input line was malformed;
//! 2 usage or I/O error.

mod args;
mod bench_server;
mod bench_workload;
mod benchmark;
mod demo;
mod import;
mod open;
mod ops;
mod out;
mod progress;
mod proofs;
mod report;
mod report_out;
mod scratch;
mod statement;
mod thread_cpu;
mod verify;
mod witness;
mod workload;

use std::process::ExitCode;

use clap::Parser;
use ledger_core::{AccountId, CustomerId};

use crate::args::{Cli, Cmd};

/// The CLI's dispatch: one subcommand, one function.
fn dispatch(cli: &Cli) -> anyhow::Result<ExitCode> {
    match &cli.command {
        Cmd::Init { policy } => ops::init(cli, policy),
        Cmd::Submit { command } => ops::submit(cli, command.as_deref(), false),
        Cmd::Check { command } => ops::submit(cli, command.as_deref(), true),
        Cmd::Import { file, results, batch, force } => import::run(cli, file, results.as_deref(), *batch, *force),
        Cmd::Replay => ops::replay(cli),
        Cmd::RebuildIndexes => ops::rebuild_indexes(cli),
        Cmd::Migrate { from, to } => ops::migrate(cli, from.as_deref(), to),
        Cmd::Verify { from, expect_head, public_key } => {
            verify::run(cli, *from, expect_head.as_deref(), public_key.as_deref())
        }
        Cmd::Head => ops::head(cli),
        Cmd::Balance { account, at: None } => ops::balance(cli, AccountId(*account)),
        Cmd::Balance { account, at: Some(at) } => statement::balance_at(cli, AccountId(*account), *at),
        Cmd::Statement { account, from, to, format } => statement::run(cli, AccountId(*account), from, to, *format),
        Cmd::Report { kind, from, to, rules, format, cache, cache_key } => report::run(
            cli,
            &report::ReportRequest {
                kind: *kind,
                from,
                to,
                rules,
                format: *format,
                cache: cache.as_deref().zip(cache_key.as_deref()),
            },
        ),
        Cmd::Protections { account } => ops::protections(cli, AccountId(*account)),
        Cmd::Pending { account } => ops::pending(cli, account.map(AccountId)),
        Cmd::RiskCheck { counterparty } => ops::risk_check(cli, counterparty),
        Cmd::Tick => ops::tick(cli),
        Cmd::Usage { account, at } => ops::usage(cli, AccountId(*account), *at),
        Cmd::History { account, from, to, limit, after } => {
            ops::history(cli, AccountId(*account), *from, *to, *limit, *after)
        }
        Cmd::Accounts { customer } => ops::accounts(cli, CustomerId(*customer)),
        Cmd::Export { file, from, to, force } => ops::export(cli, file, *from, *to, *force),
        Cmd::Backup { dir } => ops::backup(cli, dir),
        Cmd::Keygen { out, force } => proofs::keygen(cli, out, *force),
        Cmd::Checkpoint { key, format, out, force } => {
            proofs::checkpoint(cli, key, format == "json", out.as_deref(), *force)
        }
        Cmd::Checkpoints { size, out, force } => proofs::checkpoints(cli, *size, out.as_deref(), *force),
        Cmd::Prove { seq, checkpoint, out, force } => proofs::prove(cli, *seq, checkpoint, out.as_deref(), *force),
        Cmd::ProveConsistency { old, new, out, force } => {
            proofs::prove_consistency(cli, old, new, out.as_deref(), *force)
        }
        Cmd::CheckProof { files, public_key, witness } => {
            proofs::check_proof(cli, files, public_key.as_deref(), witness)
        }
        Cmd::Witness { state, key, name, public_key, checkpoint, proof, out, force } => witness::run(
            cli,
            &witness::Inputs { state, key, name, public_key, checkpoint, proof: proof.as_deref() },
            out.as_deref(),
            *force,
        ),
        Cmd::Demo(spec) => demo::run(cli, spec),
        Cmd::Benchmark(spec) => benchmark::run(cli, spec),
        Cmd::BenchServer(spec) => bench_server::run(cli, spec),
    }
}

/// mimalloc, as in ledger-server, in place of malloc for RocksDB's C++ too (the `override`
/// feature): memory a phase frees (a closed writer's memtables and block caches) goes back to
/// the system. Under glibc ~360 MiB of a closed writer's stayed in the process while the replay
/// after it ran (docs/PERFORMANCE.md, "Issue 25: a phase's freed memory").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // A ledger holds customers' financial data: every file and directory this process creates
    // (RocksDB's included) is private to its owner, whatever the inherited umask.
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    let cli = Cli::parse();
    match dispatch(&cli) {
        Ok(code) => code,
        Err(err) => {
            if cli.json {
                crate::out::outln!("{}", serde_json::json!({ "error": format!("{err:#}") }));
            }
            // A message of several lines (a TOML error quoting the file) keeps its lines, each
            // escaped and the later ones indented, so none can pass for a line of its own.
            let lines: Vec<String> = format!("{err:#}").split('\n').map(out::safe).collect();
            crate::out::noteln!("error: {}", lines.join("\n  "));
            ExitCode::from(2)
        }
    }
}
