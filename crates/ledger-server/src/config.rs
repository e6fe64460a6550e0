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
    /// Commands dated more than this many seconds ahead of the clock are rejected.
    #[serde(default = "default_max_ahead_seconds")]
    pub max_ahead_seconds: u64,
    /// A writer lease in etcd (cluster mode, docs/CLUSTER.md): the server waits for it before
    /// opening the ledger and exits when it loses it.
    #[serde(default)]
    pub lease: Option<LeaseConfig>,
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
        }
    }
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8650))
}

fn default_max_ahead_seconds() -> u64 {
    300
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
            max_ahead_seconds: default_max_ahead_seconds(),
            lease: None,
        }
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
        for token in &self.tokens {
            if !names.insert(&token.name) {
                return bad(format!("token name {:?} is given twice", token.name));
            }
            // The name is recorded in every event its holder submits (the principal).
            if let Err(why) = token.principal() {
                return bad(format!("token {:?}: {why}", token.name));
            }
            if token.sha256.len() != 64 || hex::decode(&token.sha256).is_err() {
                return bad(format!("token {:?}: sha256 must be 64 hex digits", token.name));
            }
        }
        let limits = &self.limits;
        if limits.batch_len_max == 0 || limits.queue_commands_max < limits.batch_len_max {
            return bad("limits: batch_len_max must be at least 1 and at most queue_commands_max".into());
        }
        if limits.body_bytes_max < 1024 || limits.request_timeout_seconds == 0 || limits.events_limit_max == 0 {
            return bad("limits: body_bytes_max ≥ 1024, request_timeout_seconds ≥ 1, events_limit_max ≥ 1".into());
        }
        if let Some(lease) = &self.lease {
            lease.check().map_err(Error::Config)?;
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
        let mut short = config;
        short.tokens[0].sha256.pop();
        assert!(short.check().is_err());
    }
}
