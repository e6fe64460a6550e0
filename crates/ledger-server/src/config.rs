//! The server's configuration: a TOML file (docs/SERVER.md), overridden by flags.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::auth::TokenEntry;
use crate::error::{Error, Result};
use crate::lease::LeaseConfig;

/// Everything the server needs to start.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where to listen (default 127.0.0.1:8650: loopback only).
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// The ledger's directory (an existing ledger: `ledger-cli init` creates one).
    pub db: Option<PathBuf>,
    /// TLS: both set or neither (plain HTTP, for loopback or behind a TLS proxy).
    #[serde(default)]
    pub tls: Option<Tls>,
    #[serde(default)]
    pub limits: Limits,
    /// Accepted bearer tokens, stored as SHA-256 digests (`ledger-server token` makes one).
    #[serde(default)]
    pub tokens: Vec<TokenEntry>,
    /// Log one JSON object per line instead of text.
    #[serde(default)]
    pub log_json: bool,
    /// Commands dated more than this many seconds ahead of the clock are rejected
    /// (`TIME_AHEAD_OF_CLOCK`; default 300). A writer setting: see [`settle`].
    #[serde(default)]
    pub max_ahead_seconds: Option<u64>,
    /// Memory the writer's caches may take, in MiB (default 1024): seven eighths for the accounts,
    /// one eighth for the answered command ids it holds in memory (`LedgerOptions::cache_mib`).
    #[serde(default)]
    pub cache_mib: Option<usize>,
    /// A writer lease in etcd (cluster mode, docs/CLUSTER.md): the server waits for it before
    /// opening the ledger and exits when it loses it.
    #[serde(default)]
    pub lease: Option<LeaseConfig>,
    /// Seconds between the ticker's checks for holds and delayed transfers that are due (a tick
    /// when one is); 0 turns the ticker off.
    #[serde(default = "default_tick_seconds")]
    pub tick_seconds: u64,
    /// The directory `POST /v1/backups` writes backups into (each a new subdirectory); without
    /// it, that endpoint answers 409 `no_backup_root`.
    #[serde(default)]
    pub backup_root: Option<PathBuf>,
    /// The key file `GET /v1/checkpoints` signs with (the one `ledger-cli checkpoint --key`
    /// takes: 64 hex digits); without it, that endpoint answers 409 `no_checkpoint_key`.
    #[serde(default)]
    pub checkpoint_key: Option<PathBuf>,
    /// The writer records a checkpoint (signed with `checkpoint_key` when there is one) of
    /// every tree size that is a multiple of this and before each Beijing day's first record
    /// (docs/FORMAT.md, "Recorded checkpoints"); `GET /v1/checkpoints` then serves those. 0 (the
    /// default): none; 1 is refused.
    #[serde(default)]
    pub checkpoint_every: u64,
}

fn default_tick_seconds() -> u64 {
    60
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tls {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Limits that keep one client from taking the server's memory or time.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest request body (413 above it).
    pub body_bytes_max: usize,
    /// Most commands in one `POST /v1/batches` (400 `batch_too_long` above it).
    pub batch_len_max: usize,
    /// Most commands waiting for the writer, over all requests (503 with Retry-After above it).
    pub queue_commands_max: usize,
    /// A request that takes longer is answered 408 (a command already queued may still be
    /// recorded: retry it with the same id to learn its answer).
    pub request_timeout_seconds: u64,
    /// Most records in one `GET /v1/events` answer.
    pub events_limit_max: u64,
    /// Longest long-poll of `GET /v1/events` (capped below the request timeout).
    pub wait_seconds_max: u64,
    /// How long a SIGTERM waits for requests in flight before closing the ledger.
    pub shutdown_grace_seconds: u64,
    /// Most bytes of records in one `GET /v1/events` answer (at least one record is always
    /// served, so a follower never stalls).
    pub events_bytes_max: usize,
    /// Most long polls (`GET /v1/events` with `wait`) waiting at once (503 `busy` above it).
    pub long_polls_max: usize,
    /// Most open connections (plain or TLS); a connection above it is closed at once. Lowered
    /// at start to fit the process's open-file limit.
    pub connections_max: usize,
    /// Time a connection has to send a request's headers, counted from its opening (the TLS
    /// handshake included) or from the end of its previous answer: so also the longest a
    /// kept-alive connection may sit idle.
    pub header_timeout_seconds: u64,
    /// Most bytes of request bodies and `/v1/events` pages in flight at once, over every
    /// authenticated request (503 `busy` above it): what bounds the server's memory under many
    /// large requests from holders of valid tokens. A body counts its declared length (or
    /// `body_bytes_max` without one), a page twice `events_bytes_max`.
    pub inflight_bytes_max: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            body_bytes_max: 16 << 20,
            batch_len_max: 8_189,
            queue_commands_max: 65_536,
            request_timeout_seconds: 30,
            events_limit_max: 10_000,
            wait_seconds_max: 25,
            shutdown_grace_seconds: 20,
            events_bytes_max: 4 << 20,
            long_polls_max: 256,
            connections_max: 1_024,
            header_timeout_seconds: 10,
            inflight_bytes_max: 256 << 20,
        }
    }
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8650))
}

impl Default for Config {
    fn default() -> Config {
        Config {
            listen: default_listen(),
            db: None,
            tls: None,
            limits: Limits::default(),
            tokens: Vec::new(),
            log_json: false,
            max_ahead_seconds: None,
            cache_mib: None,
            lease: None,
            tick_seconds: default_tick_seconds(),
            backup_root: None,
            checkpoint_key: None,
            checkpoint_every: 0,
        }
    }
}

/// Where a writer setting's value came from (said in the start-up log).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Flag(&'static str),
    Environment(&'static str),
    ConfigFile(&'static str),
    Default,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Flag(flag) => write!(f, "the flag {flag}"),
            Source::Environment(name) => write!(f, "the environment variable {name}"),
            Source::ConfigFile(key) => write!(f, "the config file's `{key}`"),
            Source::Default => f.write_str("the default"),
        }
    }
}

/// One writer setting as given: its names, and its value by flag, by environment variable (clap
/// reads both into one value and says which) and in the config file.
#[derive(Debug)]
pub struct Given<T> {
    pub flag: &'static str,
    pub env: &'static str,
    pub key: &'static str,
    /// The value from the command line or the environment, and whether it came from the
    /// environment.
    pub given: Option<(T, bool)>,
    pub config: Option<T>,
    /// How a value is shown in a refusal (a PostgreSQL URL without its password).
    pub show: fn(&T) -> String,
}

/// Settles a writer setting (docs/SERVER.md, "Writer settings"): the flag wins; otherwise an
/// environment variable and a config key must agree when both are set (an environment left over
/// from another ledger must not silently win over the file); otherwise whichever is set.
pub fn settle<T: PartialEq>(given: Given<T>) -> Result<Option<(T, Source)>> {
    let Given { flag, env, key, given, config, show } = given;
    match (given, config) {
        (Some((value, false)), _) => Ok(Some((value, Source::Flag(flag)))),
        (Some((value, true)), Some(file)) if value != file => Err(Error::Config(format!(
            "{env} is {:?} but the config file's `{key}` is {:?}: unset one, or settle it with {flag}",
            show(&value),
            show(&file)
        ))),
        (Some((value, true)), _) => Ok(Some((value, Source::Environment(env)))),
        (None, Some(file)) => Ok(Some((file, Source::ConfigFile(key)))),
        (None, None) => Ok(None),
    }
}

impl Config {
    /// Reads a config file.
    pub fn load(path: &Path) -> Result<Config> {
        let text =
            std::fs::read_to_string(path).map_err(|err| Error::Config(format!("reading {}: {err}", path.display())))?;
        toml::from_str(&text).map_err(|err| Error::Config(format!("{}: {err}", path.display())))
    }

    /// Refuses a configuration the server could not run safely with.
    pub fn check(&self) -> Result<()> {
        let bad = |why: String| Err(Error::Config(why));
        if self.db.is_none() {
            return bad("no ledger: give --db or `db` in the config file".into());
        }
        if self.tokens.is_empty() {
            return bad("no tokens: every request needs one (make one with `ledger-server token --role ROLE`)".into());
        }
        let mut names = HashSet::new();
        let mut digests = HashSet::new();
        for token in &self.tokens {
            if !names.insert(&token.name) {
                return bad(format!("token name {:?} is given twice", token.name));
            }
            // One token, one holder and role: the same digest twice would let the last entry's
            // role silently win.
            if !digests.insert(token.sha256.to_ascii_lowercase()) {
                return bad(format!(
                    "token {:?}: its sha256 is also another token's (one digest per token)",
                    token.name
                ));
            }
            // The name is recorded in every event its holder submits (the principal).
            if let Err(why) = token.principal() {
                return bad(format!("token {:?}: {why}", token.name));
            }
            if token.sha256.len() != 64 || hex::decode(&token.sha256).is_err() {
                return bad(format!("token {:?}: sha256 must be 64 hex digits", token.name));
            }
        }
        if self.checkpoint_every == 1 {
            return bad("checkpoint_every must be 0 (off) or at least 2".into());
        }
        let limits = &self.limits;
        if limits.batch_len_max == 0 || limits.queue_commands_max < limits.batch_len_max {
            return bad("limits: batch_len_max must be at least 1 and at most queue_commands_max".into());
        }
        if limits.body_bytes_max < 1024 || limits.request_timeout_seconds == 0 || limits.events_limit_max == 0 {
            return bad("limits: body_bytes_max ≥ 1024, request_timeout_seconds ≥ 1, events_limit_max ≥ 1".into());
        }
        if limits.events_bytes_max == 0
            || limits.long_polls_max == 0
            || limits.connections_max == 0
            || limits.header_timeout_seconds == 0
        {
            return bad(
                "limits: events_bytes_max, long_polls_max, connections_max and header_timeout_seconds must be at least 1"
                    .into(),
            );
        }
        if limits.inflight_bytes_max < limits.body_bytes_max.max(limits.events_bytes_max.saturating_mul(2)) {
            return bad(
                "limits: inflight_bytes_max must hold one largest body and one events page (twice events_bytes_max)"
                    .into(),
            );
        }
        if let Some(lease) = &self.lease {
            lease.check().map_err(Error::Config)?;
            // A standby takes over the writer's ledger: a local directory is its own ledger, so
            // the lease would hand the writer's clients a different ledger.
            if let Some(db) = self.db.as_deref().filter(|db| !ledger_store::is_database_url(db)) {
                return bad(format!(
                    "[lease] (or --lease-etcd) needs a PostgreSQL ledger shared by every server: `db` (or --db / \
                     LEDGER_DB) is {}, a local directory; give a postgres:// URL",
                    db.display()
                ));
            }
        }
        if let Some(root) = &self.backup_root
            && !(root.is_absolute() && root.is_dir())
        {
            return bad(format!(
                "backup_root {} must be an existing directory, given as an absolute path",
                root.display()
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Role;

    #[test]
    fn a_config_file_reads_and_unknown_keys_are_refused() {
        let text = r#"
            listen = "127.0.0.1:9000"
            db = "/var/lib/ledger"
            [limits]
            batch_len_max = 100
            [[tokens]]
            name = "core-banking"
            role = "back-office"
            sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
        "#;
        let config: Config = toml::from_str(text).unwrap();
        assert_eq!(config.limits.batch_len_max, 100);
        assert_eq!(config.limits.queue_commands_max, Limits::default().queue_commands_max);
        assert_eq!(config.tokens[0].role, Role::BackOffice);
        config.check().unwrap();
        assert!(toml::from_str::<Config>("listen = \"127.0.0.1:1\"\nport = 3").is_err());
        let mut twice = config.clone();
        twice.tokens.push(config.tokens[0].clone());
        assert!(twice.check().is_err());
        let mut same_digest = config.clone();
        same_digest.tokens.push(TokenEntry { name: "another".into(), ..config.tokens[0].clone() });
        let err = same_digest.check().unwrap_err().to_string();
        assert!(err.contains("also another token's"), "{err}");
        let mut short = config.clone();
        short.tokens[0].sha256.pop();
        assert!(short.check().is_err());
        // Recorded checkpoints: (checkpoint_every, accepted); 1 would never end.
        for (every, accepted) in [(0, true), (1, false), (2, true), (10_000, true)] {
            let scheduled = Config { checkpoint_every: every, ..config.clone() };
            assert_eq!(scheduled.check().is_ok(), accepted, "checkpoint_every = {every}");
        }
        // Every transport limit must leave room for something.
        let zeroes: [fn(&mut Limits); 4] = [
            |limits| limits.events_bytes_max = 0,
            |limits| limits.long_polls_max = 0,
            |limits| limits.connections_max = 0,
            |limits| limits.header_timeout_seconds = 0,
        ];
        for zero in zeroes {
            let mut limited = config.clone();
            zero(&mut limited.limits);
            assert!(limited.check().is_err(), "{:?}", limited.limits);
        }
    }

    /// Given a writer setting by flag, environment and config file, when settled, then the flag
    /// wins, an environment variable disagreeing with the file is refused, and otherwise the one
    /// set is taken, with where it came from.
    #[test]
    fn a_writer_setting_is_settled_by_one_rule() {
        let given = |given: Option<(u64, bool)>, config: Option<u64>| Given {
            flag: "--max-ahead-seconds",
            env: "LEDGER_MAX_AHEAD_SECONDS",
            key: "max_ahead_seconds",
            given,
            config,
            show: u64::to_string,
        };
        // (flag or environment, config file) → the value and where it came from, or refused
        let table = [
            (Some((5, false)), Some(9), Some(Some((5, Source::Flag("--max-ahead-seconds"))))),
            (Some((5, true)), Some(9), None),
            (Some((5, true)), Some(5), Some(Some((5, Source::Environment("LEDGER_MAX_AHEAD_SECONDS"))))),
            (Some((5, true)), None, Some(Some((5, Source::Environment("LEDGER_MAX_AHEAD_SECONDS"))))),
            (None, Some(9), Some(Some((9, Source::ConfigFile("max_ahead_seconds"))))),
            (None, None, Some(None)),
        ];
        for (by_flag_or_env, file, want) in table {
            let got = settle(given(by_flag_or_env, file));
            assert_eq!(got.ok(), want, "{by_flag_or_env:?} {file:?}");
        }
        // A refusal shows the values as `show` writes them: no PostgreSQL password.
        let refused = settle(Given {
            flag: "--db",
            env: "LEDGER_DB",
            key: "db",
            given: Some((PathBuf::from("postgres://ledger:s3cret@db1/ledger"), true)),
            config: Some(PathBuf::from("/srv/ledger")),
            show: |db| ledger_store::location_text(db),
        });
        let text = refused.unwrap_err().to_string();
        assert!(text.contains("db1") && !text.contains("s3cret"), "{text}");
    }
}
