//! `ledger-server`: serve a ledger over HTTP/JSON (docs/SERVER.md).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use ledger_server::auth::{Role, digest, new_token};
use ledger_server::config::{Config, Given, Source, Tls, settle};
use ledger_server::lease::LeaseConfig;

#[derive(Debug, Parser)]
#[command(name = "ledger-server", version, about = "Serve a tiered-ledger over HTTP/JSON", max_term_width = 100)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
#[expect(clippy::large_enum_variant, reason = "parsed once at start; boxing the flags gains nothing")]
enum Cmd {
    /// Serve the ledger until SIGTERM or SIGINT (then finish requests in flight and close it).
    Serve {
        /// A TOML config file (docs/SERVER.md); the flags below override it.
        #[arg(long, env = "LEDGER_SERVER_CONFIG")]
        config: Option<PathBuf>,
        /// The ledger's directory (an existing ledger; `ledger-cli init` creates one). Wins over
        /// the config's `db`; LEDGER_DB and a config `db` that differ are refused.
        #[arg(long, env = "LEDGER_DB")]
        db: Option<PathBuf>,
        /// Commands dated more than this many seconds ahead of the clock are rejected
        /// (TIME_AHEAD_OF_CLOCK; default 300). Settled like --db.
        #[arg(long, env = "LEDGER_MAX_AHEAD_SECONDS", value_name = "SECONDS")]
        max_ahead_seconds: Option<u64>,
        /// Memory the writer's caches may take, in MiB (default 1024): seven eighths for the
        /// accounts, one eighth for the answered command ids it holds (the ledger keeps them all on disk). Settled like
        /// --db.
        #[arg(long, env = "LEDGER_CACHE_MIB", value_name = "MIB")]
        cache_mib: Option<usize>,
        /// Address to listen on (default 127.0.0.1:8650; port 0 lets the kernel pick).
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// TLS certificate chain (PEM); needs --tls-key.
        #[arg(long, requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// TLS private key (PEM); needs --tls-cert.
        #[arg(long, requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// Log JSON lines instead of text.
        #[arg(long)]
        log_json: bool,
        /// Cluster mode: wait for the writer lease in etcd (comma-separated client URLs) before
        /// opening the ledger; step down when it is lost (docs/CLUSTER.md).
        #[arg(long, env = "LEDGER_LEASE_ETCD", value_delimiter = ',')]
        lease_etcd: Vec<String>,
        /// The lease's key (default /tiered-ledger/writer; the same for every server of a ledger).
        #[arg(long)]
        lease_key: Option<String>,
        /// The lease's TTL in seconds (default 5): the longest a takeover waits.
        #[arg(long)]
        lease_ttl: Option<u64>,
        /// This server's name in the lease (default: its process id and listen address).
        #[arg(long)]
        lease_name: Option<String>,
        /// The key file GET /v1/checkpoints signs with (as `ledger-cli checkpoint --key`); wins
        /// over the config's `checkpoint_key`; also signs the recorded checkpoints. Settled like --db.
        #[arg(long, env = "LEDGER_CHECKPOINT_KEY", value_name = "FILE")]
        checkpoint_key: Option<PathBuf>,
        /// Record a checkpoint every N records and before each Beijing day's first record; wins
        /// over the config's `checkpoint_every` (docs/SERVER.md). Settled like --db.
        #[arg(long, env = "LEDGER_CHECKPOINT_EVERY", value_name = "N")]
        checkpoint_every: Option<u64>,
    },
    /// Make a new random bearer token: prints it alone on standard error (once), and on standard
    /// output the config entry holding only its hash (append that to the config file).
    Token {
        #[arg(long, value_parser = ["back-office", "operator", "auditor"])]
        role: String,
        /// Who will hold it (shown in logs).
        #[arg(long)]
        name: String,
    },
    /// Print the OpenAPI 3 description (the same as GET /v1/openapi.json).
    Openapi,
}

/// Large request and answer bodies are allocated and freed per batch: mimalloc reuses that
/// memory where glibc maps and unmaps it each time (measured in docs/PERFORMANCE.md). With the
/// workspace's `override` feature it is RocksDB's malloc too, and gives what a freed memtable
/// held back to the system.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(err) => err.exit(),
    };
    let from_env = |id: &str| {
        matches.subcommand_matches("serve").and_then(|serve| serve.value_source(id)) == Some(ValueSource::EnvVariable)
    };
    match cli.command {
        Cmd::Serve {
            config,
            db,
            max_ahead_seconds,
            cache_mib,
            listen,
            tls_cert,
            tls_key,
            log_json,
            lease_etcd,
            lease_key,
            lease_ttl,
            lease_name,
            checkpoint_key,
            checkpoint_every,
        } => {
            let mut loaded = match config.as_deref().map(Config::load).transpose() {
                Ok(loaded) => loaded.unwrap_or_default(),
                Err(err) => return fail(&err.to_string()),
            };
            let db = settle(Given {
                flag: "--db",
                env: "LEDGER_DB",
                key: "db",
                given: db.map(|db| (db, from_env("db"))),
                config: loaded.db.take(),
                show: |db| ledger_store::location_text(db),
            });
            let max_ahead = settle(Given {
                flag: "--max-ahead-seconds",
                env: "LEDGER_MAX_AHEAD_SECONDS",
                key: "max_ahead_seconds",
                given: max_ahead_seconds.map(|seconds| (seconds, from_env("max_ahead_seconds"))),
                config: loaded.max_ahead_seconds.take(),
                show: u64::to_string,
            });
            let cache = settle(Given {
                flag: "--cache-mib",
                env: "LEDGER_CACHE_MIB",
                key: "cache_mib",
                given: cache_mib.map(|mib| (mib, from_env("cache_mib"))),
                config: loaded.cache_mib.take(),
                show: usize::to_string,
            });
            let every = settle(Given {
                flag: "--checkpoint-every",
                env: "LEDGER_CHECKPOINT_EVERY",
                key: "checkpoint_every",
                given: checkpoint_every.map(|every| (every, from_env("checkpoint_every"))),
                config: (loaded.checkpoint_every != 0).then_some(loaded.checkpoint_every),
                show: u64::to_string,
            });
            let signing = settle(Given {
                flag: "--checkpoint-key",
                env: "LEDGER_CHECKPOINT_KEY",
                key: "checkpoint_key",
                given: checkpoint_key.map(|key| (key, from_env("checkpoint_key"))),
                config: loaded.checkpoint_key.take(),
                show: |key: &PathBuf| key.display().to_string(),
            });
            let (db, max_ahead, cache, every, signing) = match (db, max_ahead, cache, every, signing) {
                (Ok(db), Ok(max_ahead), Ok(cache), Ok(every), Ok(signing)) => (db, max_ahead, cache, every, signing),
                (Err(err), ..) | (_, Err(err), ..) | (_, _, Err(err), ..) | (.., Err(err), _) | (.., Err(err)) => {
                    return fail(&err.to_string());
                }
            };
            loaded.checkpoint_every = every.map_or(0, |(every, _)| every);
            loaded.checkpoint_key = signing.map(|(key, _)| key);
            loaded.cache_mib = cache.map(|(mib, _)| mib);
            let db_source = db.as_ref().map(|(_, source)| *source);
            loaded.db = db.map(|(db, _)| db);
            let max_ahead_source = max_ahead.as_ref().map_or(Source::Default, |(_, source)| *source);
            loaded.max_ahead_seconds = max_ahead.map(|(seconds, _)| seconds);
            loaded.listen = listen.unwrap_or(loaded.listen);
            if let (Some(cert), Some(key)) = (tls_cert, tls_key) {
                loaded.tls = Some(Tls { cert, key });
            }
            loaded.log_json |= log_json;
            if !lease_etcd.is_empty() {
                loaded.lease.get_or_insert_with(|| LeaseConfig::at(Vec::new())).etcd = lease_etcd;
            }
            match loaded.lease.as_mut() {
                Some(lease) => {
                    lease.key = lease_key.unwrap_or(std::mem::take(&mut lease.key));
                    lease.ttl_seconds = lease_ttl.unwrap_or(lease.ttl_seconds);
                    lease.name = lease_name.or(lease.name.take());
                }
                None if lease_key.is_some() || lease_ttl.is_some() || lease_name.is_some() => {
                    return fail(
                        "--lease-key, --lease-ttl and --lease-name need --lease-etcd (or [lease] in the config)",
                    );
                }
                None => {}
            }
            let _logs = init_logs(loaded.log_json);
            if let (Some(db), Some(source)) = (&loaded.db, db_source) {
                tracing::info!(
                    "serving the ledger at {} (from {source}); max_ahead_seconds {} (from {max_ahead_source})",
                    ledger_store::location_text(db),
                    loaded.max_ahead_seconds.unwrap_or(ledger_store::DEFAULT_MAX_AHEAD_OF_CLOCK.as_secs()),
                );
            }
            let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
                Ok(runtime) => runtime,
                Err(err) => return fail(&format!("starting the runtime: {err}")),
            };
            match runtime.block_on(ledger_server::serve::run(loaded)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(err) => fail(&err.to_string()),
            }
        }
        Cmd::Token { role, name } => {
            let token = match new_token() {
                Ok(token) => token,
                Err(err) => return fail(&format!("no randomness: {err}")),
            };
            let role: Role = match toml::Value::String(role).try_into() {
                Ok(role) => role,
                Err(err) => return fail(&err.to_string()),
            };
            // The token goes to the terminal (standard error) only, alone on its line so that a
            // script reads it as it is: standard output, the config entry, is usually appended
            // to the config file, which must hold only the hash.
            eprintln!("{token}");
            println!("# the token for {name:?} was printed once on standard error: give it to them;");
            println!("# it is stored nowhere, only its SHA-256 below");
            println!("[[tokens]]");
            println!("name = {}", toml::Value::String(name));
            println!("role = \"{}\"", role.name());
            println!("sha256 = \"{}\"", hex::encode(digest(&token)));
            ExitCode::SUCCESS
        }
        Cmd::Openapi => {
            print!("{}", ledger_server::openapi::json());
            ExitCode::SUCCESS
        }
    }
}

/// Logs to standard error from a background thread (a request never waits for the terminal
/// or the log collector), never dropping a line; the guard flushes them at exit.
fn init_logs(json: bool) -> tracing_appender::non_blocking::WorkerGuard {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let (writer, guard) =
        tracing_appender::non_blocking::NonBlockingBuilder::default().lossy(false).finish(std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer);
    if json {
        builder.json().init();
    } else {
        builder.with_ansi(false).init();
    }
    guard
}

fn fail(message: &str) -> ExitCode {
    eprintln!("ledger-server: {message}");
    ExitCode::from(2)
}
