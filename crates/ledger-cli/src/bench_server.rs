//! `ledger-cli bench-server`: the benchmark's workload sent to a running ledger-server over
//! HTTP, from several connections, and as single commands from many clients; the embedded
//! benchmark runs on the same workload in the same run for the side-by-side figures.

use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::{Context, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use ledger_core::{Command, CommandJson, Timestamp};
use serde::{Deserialize, Serialize};

use crate::args::{BenchServerSpec, BenchSpec, Cli, Distribution};
use crate::bench_workload::{WORKLOAD_AT_MS, Workload};
use crate::benchmark;
use crate::scratch::percentile;

/// One row of the result table.
#[derive(Debug, Serialize)]
pub struct Row {
    pub mode: String,
    pub batch: usize,
    pub connections: usize,
    pub commands: u64,
    pub accepted: u64,
    pub seconds: f64,
    pub commands_per_second: f64,
    /// Per request (a batch, or one command).
    pub latency_ms_p50: f64,
    pub latency_ms_p99: f64,
    pub latency_ms_p100: f64,
}

#[derive(Deserialize)]
struct Brief {
    status: String,
}

#[derive(Deserialize)]
struct Results {
    results: Vec<Brief>,
}

/// JSON bodies, encoded before the clock starts: the figures are the server's, not the
/// client's encoder's.
fn bodies(commands: &[Command], batch: usize) -> anyhow::Result<Vec<Bytes>> {
    commands
        .chunks(batch)
        .map(|chunk| {
            let json: Vec<CommandJson> = chunk.iter().map(CommandJson::from).collect();
            Ok(Bytes::from(serde_json::to_vec(&json).context("encoding a batch")?))
        })
        .collect()
}

/// Where to connect: `http://HOST:PORT` (plain HTTP only: a benchmark runs on loopback).
fn address(url: &str) -> anyhow::Result<(SocketAddr, String)> {
    let Some(authority) = url.trim_end_matches('/').strip_prefix("http://") else {
        bail!("--url must be http://HOST:PORT (the benchmark speaks plain HTTP)");
    };
    let addr = authority
        .to_socket_addrs()
        .with_context(|| format!("resolving {authority}"))?
        .next()
        .with_context(|| format!("{authority} resolves to no address"))?;
    Ok((addr, authority.to_owned()))
}

/// Posts `bodies` to `path` over `connections` keep-alive connections (each sends the next
/// body when its answer arrived), all on one thread; returns the seconds, each request's
/// latency in ms, and the accepted count.
fn drive(
    spec: &BenchServerSpec,
    path: &str,
    bodies: Vec<Bytes>,
    connections: usize,
) -> anyhow::Result<(f64, Vec<f64>, u64)> {
    let (addr, authority) = address(&spec.url)?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let bodies = Arc::new(bodies);
    let next = Arc::new(AtomicUsize::new(0));
    let token = format!("Bearer {}", spec.token);
    runtime.block_on(async {
        let started = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..connections.max(1) {
            let connection = Connection {
                addr,
                authority: authority.clone(),
                token: token.clone(),
                path: path.to_owned(),
                bodies: Arc::clone(&bodies),
                next: Arc::clone(&next),
            };
            tasks.spawn(connection.run());
        }
        let mut latencies = Vec::new();
        let mut accepted = 0;
        while let Some(done) = tasks.join_next().await {
            let (mut part, count) = done.context("a client task failed")??;
            latencies.append(&mut part);
            accepted += count;
        }
        let seconds = started.elapsed().as_secs_f64();
        latencies.sort_by(f64::total_cmp);
        Ok((seconds, latencies, accepted))
    })
}

/// One keep-alive connection taking bodies from the shared list.
struct Connection {
    addr: SocketAddr,
    authority: String,
    token: String,
    path: String,
    bodies: Arc<Vec<Bytes>>,
    next: Arc<AtomicUsize>,
}

impl Connection {
    async fn run(self) -> anyhow::Result<(Vec<f64>, u64)> {
        let stream =
            tokio::net::TcpStream::connect(self.addr).await.with_context(|| format!("connecting to {}", self.addr))?;
        stream.set_nodelay(true)?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(connection);
        let mut latencies = Vec::new();
        let mut accepted = 0;
        loop {
            let index = self.next.fetch_add(1, Ordering::Relaxed);
            let Some(body) = self.bodies.get(index) else { return Ok((latencies, accepted)) };
            let request = hyper::Request::post(&self.path)
                .header(hyper::header::HOST, &self.authority)
                .header(hyper::header::AUTHORIZATION, &self.token)
                .header(hyper::header::CONTENT_TYPE, "application/json")
                .body(Full::new(body.clone()))?;
            let sent = Instant::now();
            sender.ready().await?;
            let response = sender.send_request(request).await?;
            let status = response.status().as_u16();
            let text = response.into_body().collect().await?.to_bytes();
            latencies.push(sent.elapsed().as_secs_f64() * 1e3);
            match status {
                200 if text.starts_with(b"{\"results\"") => {
                    let results: Results = serde_json::from_slice(&text)?;
                    accepted += results.results.iter().filter(|r| r.status == "accepted").count() as u64;
                }
                200 => accepted += u64::from(serde_json::from_slice::<Brief>(&text)?.status == "accepted"),
                _ => bail!(
                    "{} answered {status}: {}",
                    self.path,
                    String::from_utf8_lossy(&text).chars().take(300).collect::<String>()
                ),
            }
        }
    }
}

fn row(mode: &str, batch: usize, connections: usize, commands: u64, run: (f64, Vec<f64>, u64)) -> Row {
    let (seconds, latencies, accepted) = run;
    Row {
        mode: mode.into(),
        batch,
        connections,
        commands,
        accepted,
        seconds,
        commands_per_second: commands as f64 / seconds.max(1e-9),
        latency_ms_p50: percentile(&latencies, 0.50),
        latency_ms_p99: percentile(&latencies, 0.99),
        latency_ms_p100: percentile(&latencies, 1.0),
    }
}

fn bench_spec(spec: &BenchServerSpec, batch: usize, seed: u64, transfers: u64) -> BenchSpec {
    BenchSpec {
        accounts: spec.accounts,
        transfers,
        batch,
        in_flight: 1,
        distribution: Distribution::Uniform,
        mix: false,
        seed,
        keep: None,
        cache_mib: ledger_store::DEFAULT_CACHE_MIB,
    }
}

pub fn execute(spec: &BenchServerSpec) -> anyhow::Result<Vec<Row>> {
    if spec.batch.contains(&0) || spec.accounts < 2 {
        bail!("--batch sizes must be at least 1 and --accounts at least 2");
    }
    let at = Timestamp::from_millis(WORKLOAD_AT_MS)?;
    let mut rows = Vec::new();
    // The accounts, once (the server's ledger already has its policy from `init`).
    let setup = Workload::new(&bench_spec(spec, 8_189, spec.seed, 0), at)?.next_setup(usize::MAX);
    let query = if spec.brief { "?brief=true" } else { "" };
    let (batches, commands) = (format!("/v1/batches{query}"), format!("/v1/commands{query}"));
    let (_, _, opened) = drive(spec, &batches, bodies(&setup[1..], 8_189)?, 1)?;
    if opened as usize != setup.len() - 1 {
        bail!("the server accepted {opened} of {} setup commands: give it a fresh ledger", setup.len() - 1);
    }
    let mut run_seed = spec.seed;
    for &batch in &spec.batch {
        if !spec.no_embedded {
            let report = benchmark::execute(&bench_spec(spec, batch, spec.seed, spec.transfers))?;
            rows.push(Row {
                mode: "embedded".into(),
                batch,
                connections: 1,
                commands: report.transfers,
                accepted: report.accepted,
                seconds: report.seconds,
                commands_per_second: report.transfers_per_second,
                latency_ms_p50: report.batch_latency_ms_p50,
                latency_ms_p99: report.batch_latency_ms_p99,
                latency_ms_p100: report.batch_latency_ms_p100,
            });
        }
        for &connections in &spec.connections {
            run_seed += 1;
            let transfers =
                Workload::new(&bench_spec(spec, batch, run_seed, spec.transfers), at)?.next_transfers(usize::MAX)?;
            let run = drive(spec, &batches, bodies(&transfers, batch)?, connections)?;
            rows.push(row("server", batch, connections, spec.transfers, run));
        }
    }
    if spec.singles > 0 {
        run_seed += 1;
        let transfers = Workload::new(&bench_spec(spec, 1, run_seed, spec.singles), at)?.next_transfers(usize::MAX)?;
        let singles: Vec<Bytes> = transfers
            .iter()
            .map(|command| {
                Ok(Bytes::from(serde_json::to_vec(&CommandJson::from(command)).context("encoding a command")?))
            })
            .collect::<anyhow::Result<_>>()?;
        let run = drive(spec, &commands, singles, spec.singles_clients)?;
        rows.push(row("server, single commands", 1, spec.singles_clients, spec.singles, run));
    }
    Ok(rows)
}

pub fn run(cli: &Cli, spec: &BenchServerSpec) -> anyhow::Result<ExitCode> {
    let rows = execute(spec)?;
    if cli.json {
        crate::out::outln!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(ExitCode::SUCCESS);
    }
    crate::out::outln!(
        "bench-server: {} accounts, {} transfers per run, server {} ({} answers; one fsync per batch; requests encoded before timing)",
        spec.accounts,
        spec.transfers,
        spec.url,
        if spec.brief { "brief" } else { "full" }
    );
    crate::out::outln!(
        "{:<24} {:>6} {:>6} {:>12} {:>10} {:>10} {:>10} {:>9}",
        "mode",
        "batch",
        "conns",
        "commands/s",
        "p50 ms",
        "p99 ms",
        "p100 ms",
        "vs embed"
    );
    for r in &rows {
        let embedded = rows.iter().find(|e| e.mode == "embedded" && e.batch == r.batch);
        let ratio = match embedded {
            Some(e) if r.mode != "embedded" => {
                format!("{:.2}", r.commands_per_second / e.commands_per_second.max(1e-9))
            }
            _ => "-".into(),
        };
        crate::out::outln!(
            "{:<24} {:>6} {:>6} {:>12.0} {:>10.2} {:>10.2} {:>10.2} {:>9}",
            r.mode,
            r.batch,
            r.connections,
            r.commands_per_second,
            r.latency_ms_p50,
            r.latency_ms_p99,
            r.latency_ms_p100,
            ratio
        );
    }
    Ok(ExitCode::SUCCESS)
}
