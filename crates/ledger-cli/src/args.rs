//! The command line: global options and one variant per subcommand (clap).

use std::path::PathBuf;
use std::sync::Arc;

use clap::{Parser, Subcommand, ValueEnum};
use ledger_core::{Principal, Timestamp};
use ledger_store::{Clock, FakeClock, SystemClock};

use serde::Serialize;

#[derive(Debug, Parser)]
#[command(name = "ledger-cli", version, about = "Operate and audit a tiered-ledger", max_term_width = 100)]
pub struct Cli {
    /// The ledger's directory.
    #[arg(long, global = true, env = "LEDGER_DB", default_value = "ledger.db")]
    pub db: PathBuf,
    /// Print results as JSON.
    #[arg(long, global = true)]
    pub json: bool,
    /// Use this time (RFC 3339) as "now" instead of the system clock.
    #[arg(long, global = true, value_name = "TIME")]
    pub now: Option<Timestamp>,
    /// Commands dated more than this many seconds ahead of now are rejected (TIME_AHEAD_OF_CLOCK).
    #[arg(long, global = true, env = "LEDGER_MAX_AHEAD_SECONDS", default_value_t = 300, value_name = "SECONDS")]
    pub max_ahead_seconds: u64,
    /// Memory the writer's caches may take, in MiB: seven eighths for the accounts, one eighth for
    /// the answered command ids it holds (the store keeps them all; docs/FORMAT.md, "Answered ids"). Also the accounts `replay` holds
    /// in memory (the rest spill to a temporary store in TMPDIR).
    #[arg(long, global = true, env = "LEDGER_CACHE_MIB", default_value_t = ledger_store::DEFAULT_CACHE_MIB, value_name = "MIB")]
    pub cache_mib: usize,
    /// Who the commands this run submits are recorded as submitted by (every event names it, in
    /// the role `cli`); default `cli:` and the operating-system user.
    /// Checked when a writer opens the ledger (a refused name is shown escaped, never echoed raw).
    #[arg(long = "as", global = true, env = "LEDGER_AS", value_name = "NAME")]
    pub as_name: Option<String>,
    /// Record a checkpoint of every tree size that is a multiple of N, and one before each
    /// Beijing day's first record (docs/FORMAT.md, "Recorded checkpoints"); 0: none.
    #[arg(long, global = true, env = "LEDGER_CHECKPOINT_EVERY", default_value_t = 0, value_name = "N")]
    pub checkpoint_every: u64,
    /// Sign the recorded checkpoints with this key (from `keygen`); without it they record the
    /// tree's size and root only.
    #[arg(long, global = true, env = "LEDGER_CHECKPOINT_KEY", value_name = "FILE")]
    pub checkpoint_key: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Cmd,
}

/// The role every principal the CLI names has.
pub const CLI_ROLE: &str = "cli";

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Create a ledger with a policy: a preset name (default, pboc-2018, pboc-2016) or a TOML/JSON file.
    Init {
        #[arg(long, default_value = "default")]
        policy: String,
    },
    /// Submit one command given as JSON (argument, or standard input when absent or "-").
    Submit {
        #[arg(value_name = "JSON")]
        command: Option<String>,
    },
    /// Dry run: decide one command (JSON, as for submit) against the current state and record
    /// nothing. Exit 0 if it would be accepted, 1 if not.
    Check {
        #[arg(value_name = "JSON")]
        command: Option<String>,
    },
    /// Stream a JSON Lines file of commands through the engine in batches.
    Import {
        file: PathBuf,
        /// Write one result line (JSON) per input line here.
        #[arg(long)]
        results: Option<PathBuf>,
        /// Commands per batch (one fsync each).
        #[arg(long, default_value_t = 1_000)]
        batch: usize,
        /// Replace an existing results file (never a symbolic link, never the input).
        #[arg(long)]
        force: bool,
    },
    /// Rebuild every read model from the log and compare with the stored ones and the indexes.
    Replay,
    /// Drop and rebuild every read model and index from the log (the ledger must not be open
    /// elsewhere), then replay to prove them equal. For damage that `replay` reports.
    RebuildIndexes,
    /// Copy a ledger into a new one, e.g. an embedded ledger into a PostgreSQL cluster: every
    /// record verbatim (each checked), the read models rebuilt from the copy, the copy verified
    /// from genesis against the source's head (docs/CLUSTER.md).
    Migrate {
        /// The source ledger (default: --db); it may stay open, the copy ends at its head.
        #[arg(long)]
        from: Option<PathBuf>,
        /// The new ledger: an empty PostgreSQL database (`postgres://…`) or an absent directory.
        #[arg(long)]
        to: PathBuf,
    },
    /// Walk the hash chain: decodability, gap-free sequence, every hash and link.
    Verify {
        /// First sequence number to check, 1 or more (its link to the record before is checked
        /// too; there is no record 0).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
        from: u64,
        /// Also prove the log still contains this head (SEQ:HASH), recorded earlier.
        #[arg(long, value_name = "SEQ:HASH")]
        expect_head: Option<String>,
        /// The ledger's checkpoint public key (hex): every recorded checkpoint's note must carry
        /// its signature (without it, notes are checked but not their signatures).
        #[arg(long, value_name = "HEX")]
        public_key: Option<String>,
    },
    /// The current sequence number and hash, for an auditor to record.
    Head,
    /// An account's balance, with what holds and delayed transfers reserve and what is available.
    Balance {
        account: u64,
        /// The balance at this time (RFC 3339): after every event dated at or before it.
        #[arg(long)]
        at: Option<Timestamp>,
    },
    /// An account statement over Beijing days: opening balance, every posting with its seq and
    /// record hash, closing balance.
    Statement {
        account: u64,
        /// First Beijing day, YYYY-MM-DD.
        #[arg(long, value_name = "DAY")]
        from: String,
        /// Last Beijing day, YYYY-MM-DD (included).
        #[arg(long, value_name = "DAY")]
        to: String,
        #[arg(long, value_enum, default_value = "text")]
        format: StatementFormat,
    },
    /// Regulatory reports over Beijing days, from the log: large-value transactions, Class III
    /// identity reviews, limit hits, a daily per-class summary. Each line cites its record.
    Report {
        #[arg(value_enum)]
        kind: ReportKind,
        /// First Beijing day, YYYY-MM-DD.
        #[arg(long, value_name = "DAY")]
        from: String,
        /// Last Beijing day, YYYY-MM-DD (included).
        #[arg(long, value_name = "DAY")]
        to: String,
        /// The thresholds: a shipped preset name or a TOML file in the same shape.
        #[arg(long, value_name = "PRESET|FILE", default_value = "pboc-2016-3")]
        rules: String,
        /// Default text; `all` is one JSON document only (`--format text` or `csv` with it is
        /// refused).
        #[arg(long, value_enum)]
        format: Option<StatementFormat>,
        /// The report cache (mode 0600): read when it starts at or before --from (checked
        /// against the log; made with other rules: not used), then replaced by the state at the
        /// start of the first day after --to, so the next day's report walks only that day. A
        /// file that is not provably a cache of --cache-key (its HMAC) is refused, left as it is.
        #[arg(long, value_name = "FILE", requires = "cache_key")]
        cache: Option<std::path::PathBuf>,
        /// The key that authenticates the cache (HMAC-SHA256; 64 hex digits), created with mode
        /// 0600 at first use; keep it where one who can write the cache cannot read it.
        #[arg(long, value_name = "FILE", requires = "cache")]
        cache_key: Option<std::path::PathBuf>,
    },
    /// An account's protections: security locks, personal limits, night lock, pending outflows.
    Protections { account: u64 },
    /// Outflows held for verification or scheduled (delayed arrival), of one account or all.
    Pending { account: Option<u64> },
    /// Is a counterparty account on the risk list? Exit 1 when it is.
    RiskCheck { counterparty: String },
    /// Advance the ledger's time to now (or --now): expire holds and execute delayed transfers
    /// that are due. Any later command does the same first; this is for quiet periods.
    Tick,
    /// Today's and this year's limit use and what remains, per bucket.
    Usage {
        account: u64,
        /// At this time instead of now.
        #[arg(long)]
        at: Option<Timestamp>,
    },
    /// The events that touched an account, oldest first.
    History {
        account: u64,
        #[arg(long)]
        from: Option<Timestamp>,
        #[arg(long)]
        to: Option<Timestamp>,
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Continue after this sequence number (the previous page's last).
        #[arg(long)]
        after: Option<u64>,
    },
    /// A customer's accounts.
    Accounts { customer: u64 },
    /// Write the events as JSON Lines with seq, prev hash, hash and the exact bytes (hex).
    Export {
        /// Output file, or "-" for standard output.
        file: PathBuf,
        /// First sequence number to export, 1 or more (there is no record 0).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
        from: u64,
        #[arg(long)]
        to: Option<u64>,
        /// Replace an existing file (never a symbolic link).
        #[arg(long)]
        force: bool,
    },
    /// A consistent copy of the ledger in DIR (which must not exist), opened and verified.
    Backup { dir: PathBuf },
    /// Make an Ed25519 signing key for checkpoints (file mode 0600); prints the public key.
    Keygen {
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Replace an existing file (never a symbolic link).
        #[arg(long)]
        force: bool,
    },
    /// A signed checkpoint of the ledger now: a C2SP signed note (origin, tree size, root, head,
    /// time); prints the verifier key.
    Checkpoint {
        /// The signing key (from `keygen`).
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        /// `note` (C2SP tlog-checkpoint in a signed note) or `json` (format v1).
        #[arg(long, value_name = "FORMAT", default_value = "note", value_parser = ["note", "json"])]
        format: String,
        /// Write here instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        #[arg(long)]
        force: bool,
    },
    /// The checkpoints the writer recorded in the log (--checkpoint-every); with --size, the
    /// signed note of the one of that tree size (a checkpoint file for prove, check-proof,
    /// witness and goverify).
    Checkpoints {
        #[arg(long, value_name = "N")]
        size: Option<u64>,
        /// With --size: write the note here instead of standard output.
        #[arg(long, value_name = "FILE", requires = "size")]
        out: Option<PathBuf>,
        #[arg(long)]
        force: bool,
    },
    /// An inclusion proof: record SEQ is in a checkpoint's tree (JSON).
    Prove {
        seq: u64,
        #[arg(long, value_name = "FILE")]
        checkpoint: PathBuf,
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        #[arg(long)]
        force: bool,
    },
    /// A consistency proof: checkpoint NEW's log extends checkpoint OLD's (JSON). Exit 1 when it
    /// does not (the log was rewritten).
    ProveConsistency {
        old: PathBuf,
        new: PathBuf,
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        #[arg(long)]
        force: bool,
    },
    /// Check files without the ledger: CHECKPOINT (its signature), PROOF CHECKPOINT (inclusion)
    /// or PROOF OLD NEW (consistency). Exit 1 when a check fails.
    CheckProof {
        #[arg(num_args = 1..=3, required = true)]
        files: Vec<PathBuf>,
        /// The signer's public key (hex) the checkpoints must be signed with (required for a
        /// checkpoint note, which names no key).
        #[arg(long, value_name = "HEX")]
        public_key: Option<String>,
        /// A witness whose cosignature the checkpoints must carry, as NAME=HEX (repeatable).
        #[arg(long, value_name = "NAME=HEX")]
        witness: Vec<String>,
    },
    /// An auditor's witness: checks that checkpoint NEW (signed by --public-key) extends the
    /// last one it saw (--state) by --proof, then cosigns it (C2SP tlog-cosignature) and keeps
    /// it as the last seen. Exit 1, nothing signed, when the log did not only grow.
    Witness {
        /// The last checkpoint this witness cosigned (created on first use).
        #[arg(long, value_name = "FILE")]
        state: PathBuf,
        /// The witness's own signing key (from `keygen`).
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        /// The witness's name in its cosignature line (e.g. `auditor.example/w1`).
        #[arg(long, value_name = "NAME")]
        name: String,
        /// The ledger's public key (hex).
        #[arg(long, value_name = "HEX")]
        public_key: String,
        /// The new checkpoint (a signed note).
        #[arg(long, value_name = "FILE")]
        checkpoint: PathBuf,
        /// The consistency proof from the state's checkpoint to the new one.
        #[arg(long, value_name = "FILE")]
        proof: Option<PathBuf>,
        /// Write the cosigned checkpoint here instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        #[arg(long)]
        force: bool,
    },
    /// The main job: a generated workload run on a fresh embedded ledger, verified and replayed.
    ///
    /// Thousands of customers with a Class I, II and III account each, Beijing days across New
    /// Year, payments, transfers, wealth products, limit hits and retried ids; fsync per batch.
    Demo(DemoSpec),
    /// TigerBeetle's benchmark workload, durable, with every rule and the hash chain on.
    ///
    /// Transfers between random accounts in batches from one client, one fsync per batch; then
    /// close, open, verify and replay are timed (figures in docs/PERFORMANCE.md).
    Benchmark(BenchSpec),
    /// Drive a running ledger-server over HTTP with the benchmark's workload, next to the
    /// embedded benchmark on the same workload in the same run (benches/server.sh starts one).
    ///
    /// Batches of each --batch size from each --connections count, then --singles-clients
    /// clients sending one command per request (group commit gathers them).
    BenchServer(BenchServerSpec),
}

impl Cli {
    /// Who this run's commands are recorded as submitted by: `--as`, else `cli:USER`.
    pub fn principal(&self) -> Result<Principal, String> {
        let name = match &self.as_name {
            Some(name) => name.clone(),
            None => {
                let user = std::env::var("USER").or_else(|_| std::env::var("LOGNAME")).unwrap_or_default();
                format!("cli:{}", if user.is_empty() { "unknown-user" } else { user.as_str() })
            }
        };
        // The name as given, quoted: `main` escapes the error once, as every error (the core's
        // message quotes it with Rust's escapes, which were then escaped again).
        Principal::new(&name, CLI_ROLE).map_err(|_| {
            format!(
                "the principal's name \"{name}\" must be 1 to {} characters without control characters (give a \
                 name with --as or LEDGER_AS)",
                ledger_core::PRINCIPAL_NAME_CHARS_MAX
            )
        })
    }

    pub fn clock(&self) -> Arc<dyn Clock> {
        match self.now {
            Some(now) => Arc::new(FakeClock::new(now)),
            None => Arc::new(SystemClock),
        }
    }
}

/// `demo`: what to run.
#[derive(Clone, Debug, clap::Args)]
pub struct DemoSpec {
    #[arg(long, default_value_t = 5_000)]
    pub customers: u64,
    /// Beijing days to simulate, from 2025-12-29, so the run crosses New Year.
    #[arg(long, default_value_t = 7)]
    pub days: u32,
    #[arg(long, default_value_t = 6)]
    pub commands_per_customer_day: u32,
    #[arg(long, default_value_t = 2026)]
    pub seed: u64,
    /// Policy preset: default, pboc-2018 or pboc-2016.
    #[arg(long, default_value = "default")]
    pub policy: String,
    /// Commands per submitted batch.
    #[arg(long, default_value_t = 1_000)]
    pub batch: usize,
    /// Keep the demo ledger in this directory (must not exist) instead of a temporary one.
    #[arg(long)]
    pub keep: Option<PathBuf>,
}

/// `benchmark`: what to run.
#[derive(Clone, Debug, clap::Args)]
pub struct BenchSpec {
    #[arg(long, default_value_t = 10_000)]
    pub accounts: u64,
    #[arg(long, default_value_t = 1_000_000)]
    pub transfers: u64,
    /// Transfers per batch (one fsync each).
    #[arg(long, default_value_t = 8_189)]
    pub batch: usize,
    /// Batches the client keeps submitted and unanswered: 1 waits for each answer before the
    /// next batch (TigerBeetle's benchmark client); 2 or more lets the writer decide the next
    /// batch while one is written.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=64))]
    pub in_flight: u64,
    #[arg(long, value_enum, default_value = "uniform")]
    pub distribution: Distribution,
    /// Customers with Class I, II and III accounts (II/III transfers hit limits) instead of
    /// Class I accounts only.
    #[arg(long)]
    pub mix: bool,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Keep the ledger in this directory (must not exist).
    #[arg(long)]
    pub keep: Option<PathBuf>,
    /// The writer's cache, in MiB (the global `--cache-mib`, set by `benchmark::run`).
    #[arg(skip = ledger_store::DEFAULT_CACHE_MIB)]
    pub cache_mib: usize,
}

/// `bench-server`: what to run.
#[derive(Clone, Debug, clap::Args)]
pub struct BenchServerSpec {
    /// The server, e.g. http://127.0.0.1:8650 (on a fresh ledger made by `init`).
    #[arg(long)]
    pub url: String,
    /// A back-office or operator token.
    #[arg(long, env = "LEDGER_TOKEN", hide_env_values = true)]
    pub token: String,
    #[arg(long, default_value_t = 10_000)]
    pub accounts: u64,
    /// Transfers per (batch size, connections) run.
    #[arg(long, default_value_t = 200_000)]
    pub transfers: u64,
    /// Batch sizes to run.
    #[arg(long, value_delimiter = ',', default_value = "1000,8189")]
    pub batch: Vec<usize>,
    /// Concurrent connections to run each batch size with.
    #[arg(long, value_delimiter = ',', default_value = "1,4")]
    pub connections: Vec<usize>,
    /// Clients sending single commands, one request each.
    #[arg(long, default_value_t = 64)]
    pub singles_clients: usize,
    /// Single commands to send in all (0 skips this part).
    #[arg(long, default_value_t = 20_000)]
    pub singles: u64,
    /// Skip the embedded benchmark.
    #[arg(long)]
    pub no_embedded: bool,
    /// Ask for brief answers (`?brief=true`: status, seq, reason and figures, no event).
    #[arg(long)]
    pub brief: bool,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

/// How `statement` prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum StatementFormat {
    Text,
    Json,
    Csv,
}

/// Which regulatory report `report` prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ReportKind {
    /// Large-value cash and transfers per customer and day (大额交易).
    LargeValue,
    /// Customers whose Class III inflows reach the review threshold within the window.
    ClassIiiReview,
    /// Limit, personal-limit and risk-list rejections.
    LimitHits,
    /// Per day and class: accounts open, money in and out, rejections by reason.
    DailySummary,
    /// Every report, as one JSON document.
    All,
}

/// How transfer accounts are drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Distribution {
    Uniform,
    /// Zipf (s = 1): a few hot accounts take most transfers.
    Zipf,
}
