//! The writer lease (docs/CLUSTER.md): which `ledger-server` *tries* to be the writer of a
//! PostgreSQL ledger. An etcd v3 lease, through etcd's JSON gateway: the key holds the holder's
//! name while the lease lives; a server takes it only when the key is absent, renews it every
//! quarter of its TTL, and steps down (exits) once it cannot show a renewal younger than the
//! TTL. Whether an append *counts* is not decided here: the new writer bumps the epoch in the
//! database, and a paused old writer's next commit is refused there (store/pg.rs).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use serde::Deserialize;
use serde_json::{Value, json};

/// Where the lease lives and how long it lasts (`[lease]` in the config file).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeaseConfig {
    /// etcd client URLs (`http://host:2379`), tried in order.
    pub etcd: Vec<String>,
    /// The key; every server of one ledger uses the same key.
    #[serde(default = "default_key")]
    pub key: String,
    /// Seconds a holder that stopped renewing keeps the lease: the longest a takeover waits.
    #[serde(default = "default_ttl_seconds")]
    pub ttl_seconds: u64,
    /// The holder's name shown to the others (default: this process's id and listen address).
    #[serde(default)]
    pub name: Option<String>,
    /// PEM file of the CA that signed the etcd members' certificates: required for `https://`
    /// URLs (no other root is trusted).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate (chain) presented to etcd (`--client-cert-auth`); with `key_file`.
    #[serde(default)]
    pub cert_file: Option<PathBuf>,
    /// PEM private key of `cert_file`.
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// Where this server answers, named in the lease so that a standby's 503 can send writes
    /// there (default: `http(s)://` its listen address when that is one address, not 0.0.0.0).
    #[serde(default)]
    pub advertise_url: Option<String>,
    /// The PostgreSQL URL a standby reads from (its nearest node; a replica is fine:
    /// `target_session_attrs=any` or `prefer-standby`). Default: the server's `db`.
    #[serde(default)]
    pub read_db: Option<PathBuf>,
}

fn default_key() -> String {
    "/tiered-ledger/writer".into()
}

fn default_ttl_seconds() -> u64 {
    5
}

/// The shortest TTL: etcd's own minimum lease is a few heartbeats.
pub const TTL_SECONDS_MIN: u64 = 2;

impl LeaseConfig {
    /// A lease at these etcd URLs with the default key and TTL.
    pub fn at(etcd: Vec<String>) -> LeaseConfig {
        LeaseConfig {
            etcd,
            key: default_key(),
            ttl_seconds: default_ttl_seconds(),
            name: None,
            ca_file: None,
            cert_file: None,
            key_file: None,
            advertise_url: None,
            read_db: None,
        }
    }

    pub fn check(&self) -> Result<(), String> {
        if self.etcd.is_empty() {
            return Err("lease: give at least one etcd URL".into());
        }
        if let Some(bad) = self.etcd.iter().find(|url| !url.starts_with("http://") && !url.starts_with("https://")) {
            return Err(format!("lease: etcd URL {bad:?} must start with http:// or https://"));
        }
        if self.ttl_seconds < TTL_SECONDS_MIN {
            return Err(format!("lease: ttl_seconds must be at least {TTL_SECONDS_MIN}"));
        }
        if self.key.is_empty() {
            return Err("lease: the key must not be empty".into());
        }
        let https = self.etcd.iter().any(|url| url.starts_with("https://"));
        if https && self.ca_file.is_none() {
            return Err("lease: https:// etcd URLs need ca_file (the CA of the etcd members' certificates)".into());
        }
        if !https && (self.ca_file.is_some() || self.cert_file.is_some() || self.key_file.is_some()) {
            return Err("lease: ca_file, cert_file and key_file are for https:// etcd URLs".into());
        }
        if self.cert_file.is_some() != self.key_file.is_some() {
            return Err("lease: cert_file and key_file go together".into());
        }
        if let Some(url) =
            self.advertise_url.as_deref().filter(|url| !url.starts_with("http://") && !url.starts_with("https://"))
        {
            return Err(format!("lease: advertise_url {url:?} must start with http:// or https://"));
        }
        if let Some(read_db) = self.read_db.as_deref().filter(|db| !ledger_store::is_database_url(db)) {
            return Err(format!("lease: read_db must be a postgres:// URL, not {}", read_db.display()));
        }
        Ok(())
    }

    /// The TLS settings for etcd: only `ca_file`'s certificates are trusted; `cert_file` and
    /// `key_file`, when given, are presented. Read once, when the server starts, with the PEM
    /// reader the server's own TLS uses (transport.rs).
    pub fn tls(&self) -> Result<Option<EtcdTls>, LeaseError> {
        let Some(ca_file) = &self.ca_file else { return Ok(None) };
        let roots = certificates(ca_file)?;
        let client = match (&self.cert_file, &self.key_file) {
            (Some(cert_file), Some(key_file)) => {
                Some(ureq::tls::ClientCert::new_with_certs(&certificates(cert_file)?, private_key(key_file)?))
            }
            _ => None,
        };
        Ok(Some(EtcdTls { roots, client }))
    }

    fn ttl(&self) -> Duration {
        Duration::from_secs(self.ttl_seconds)
    }
}

/// Who holds the lease, as its value names it: a name, and where it answers when it says.
/// Stored as the bare name without a URL (what servers before `advertise_url` wrote, and still
/// read), else as `{"name": ..., "url": ...}`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, Deserialize)]
pub struct Holder {
    pub name: String,
    pub url: Option<String>,
}

impl Holder {
    /// The lease's value.
    pub fn to_value(&self) -> String {
        match &self.url {
            None => self.name.clone(),
            Some(_) => serde_json::to_string(self).unwrap_or_else(|_| self.name.clone()),
        }
    }

    /// Reads a lease's value (any text: a bare name when it is not this JSON form).
    pub fn from_value(value: &str) -> Holder {
        serde_json::from_str::<Holder>(value).unwrap_or_else(|_| Holder { name: value.to_owned(), url: None })
    }
}

/// Why the lease could not be taken or kept.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LeaseError {
    /// No etcd endpoint answered, or one answered with an error.
    #[error("etcd: {0}")]
    Etcd(String),
    /// The lease expired or could not be renewed within its TTL: another server may hold it.
    #[error("the writer lease is lost: {0}")]
    Lost(String),
}

fn unreadable(path: &Path, err: &dyn std::fmt::Display) -> LeaseError {
    LeaseError::Etcd(format!("TLS file {}: {err}", path.display()))
}

/// The certificates of a PEM file (at least one).
fn certificates(path: &Path) -> Result<Vec<ureq::tls::Certificate<'static>>, LeaseError> {
    let chain = CertificateDer::pem_file_iter(path)
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .map_err(|err| unreadable(path, &err))?;
    if chain.is_empty() {
        return Err(unreadable(path, &"no certificate in it"));
    }
    Ok(chain.iter().map(|der| ureq::tls::Certificate::from_der(der.as_ref()).to_owned()).collect())
}

/// The private key of a PEM file (ureq names its kind; it exports no other way to build one).
fn private_key(path: &Path) -> Result<ureq::tls::PrivateKey<'static>, LeaseError> {
    let pem = std::fs::read(path).map_err(|err| unreadable(path, &err))?;
    ureq::tls::PrivateKey::from_pem(&pem).map_err(|err| unreadable(path, &err))
}

/// The certificates for `https://` etcd URLs ([`LeaseConfig::tls`]).
#[derive(Clone, Debug)]
pub struct EtcdTls {
    roots: Vec<ureq::tls::Certificate<'static>>,
    client: Option<ureq::tls::ClientCert>,
}

/// A held lease.
#[derive(Debug)]
pub struct Lease {
    etcd: Etcd,
    id: String,
    pub holder: String,
    ttl: Duration,
    /// Until when this process may believe it holds the lease: the send time of the last
    /// successful grant or renewal plus the TTL etcd answered (monotonic: a SIGSTOPped process
    /// sees it passed when it resumes).
    deadline: Instant,
}

#[derive(Debug)]
struct Etcd {
    agent: ureq::Agent,
    endpoints: Vec<String>,
}

impl Etcd {
    fn new(endpoints: &[String], tls: Option<&EtcdTls>, timeout: Duration) -> Etcd {
        let mut config = ureq::Agent::config_builder().http_status_as_error(false).timeout_global(Some(timeout));
        if let Some(tls) = tls {
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            config = config.tls_config(
                ureq::tls::TlsConfig::builder()
                    .provider(ureq::tls::TlsProvider::Rustls)
                    .unversioned_rustls_crypto_provider(provider)
                    .root_certs(ureq::tls::RootCerts::new_with_certs(&tls.roots))
                    .client_cert(tls.client.clone())
                    .build(),
            );
        }
        Etcd { agent: config.build().into(), endpoints: endpoints.to_vec() }
    }

    /// POSTs `body` to the first endpoint that answers.
    fn call(&self, path: &str, body: &Value) -> Result<Value, LeaseError> {
        let mut failures = Vec::new();
        for endpoint in &self.endpoints {
            let url = format!("{}{path}", endpoint.trim_end_matches('/'));
            match self.agent.post(&url).send_json(body) {
                Ok(mut response) if response.status().is_success() => {
                    return response
                        .body_mut()
                        .read_json::<Value>()
                        .map_err(|err| LeaseError::Etcd(format!("{url}: {err}")));
                }
                Ok(mut response) => {
                    let text = response.body_mut().read_to_string().unwrap_or_default();
                    failures.push(format!("{url}: {} {}", response.status(), text.trim()));
                }
                Err(err) => failures.push(format!("{url}: {err}")),
            }
        }
        Err(LeaseError::Etcd(failures.join("; ")))
    }

    fn revoke(&self, id: &str) -> Result<(), LeaseError> {
        self.call("/v3/lease/revoke", &json!({ "ID": id })).map(|_| ())
    }
}

/// etcd's JSON gateway writes 64-bit integers as strings.
fn int_of(value: &Value) -> Option<i64> {
    value.as_str().and_then(|text| text.parse().ok()).or_else(|| value.as_i64())
}

impl Lease {
    /// Tries once to take the lease: `Ok(Err(holder))` when another holder has it.
    pub fn try_acquire(
        config: &LeaseConfig,
        tls: Option<&EtcdTls>,
        holder: &str,
    ) -> Result<Result<Lease, String>, LeaseError> {
        let ttl = config.ttl();
        let etcd = Etcd::new(&config.etcd, tls, (ttl / 4).max(Duration::from_millis(500)));
        let sent = Instant::now();
        let granted = etcd.call("/v3/lease/grant", &json!({ "TTL": config.ttl_seconds }))?;
        let id =
            granted["ID"].as_str().map(str::to_owned).ok_or_else(|| LeaseError::Etcd(format!("grant: {granted}")))?;
        let key = BASE64.encode(&config.key);
        let txn = json!({
            "compare": [{ "key": key, "target": "CREATE", "create_revision": "0" }],
            "success": [{ "requestPut": { "key": key, "value": BASE64.encode(holder), "lease": id } }],
            "failure": [{ "requestRange": { "key": key } }],
        });
        let answered = match etcd.call("/v3/kv/txn", &txn) {
            Ok(answered) => answered,
            Err(err) => {
                let _ = etcd.revoke(&id);
                return Err(err);
            }
        };
        if answered["succeeded"] == Value::Bool(true) {
            let granted_ttl = int_of(&granted["TTL"]).and_then(|ttl| u64::try_from(ttl).ok()).unwrap_or(0);
            let ttl = Duration::from_secs(granted_ttl.max(1));
            return Ok(Ok(Lease { etcd, id, holder: holder.to_owned(), ttl, deadline: sent + ttl }));
        }
        let _ = etcd.revoke(&id);
        let held = answered["responses"][0]["response_range"]["kvs"][0]["value"]
            .as_str()
            .and_then(|text| BASE64.decode(text).ok())
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_else(|| "someone (the key vanished meanwhile)".into());
        Ok(Err(held))
    }

    /// How often to renew: a quarter of the TTL.
    pub fn renew_every(&self) -> Duration {
        self.ttl / 4
    }

    /// Renews the lease. [`LeaseError::Lost`] when the last renewal is older than the TTL (a
    /// paused process finds this on waking) or etcd says the lease is gone; [`LeaseError::Etcd`]
    /// when etcd did not answer (the lease may still be held: try again before the deadline).
    pub fn renew(&mut self) -> Result<(), LeaseError> {
        let sent = Instant::now();
        if sent >= self.deadline {
            return Err(LeaseError::Lost(format!(
                "not renewed for {} s (its TTL): another server may hold it now",
                self.ttl.as_secs()
            )));
        }
        let answered = self.etcd.call("/v3/lease/keepalive", &json!({ "ID": self.id }))?;
        match int_of(&answered["result"]["TTL"]) {
            Some(ttl) if ttl > 0 => {
                self.deadline = sent + Duration::from_secs(u64::try_from(ttl).unwrap_or(1));
                Ok(())
            }
            _ => Err(LeaseError::Lost("etcd says it expired: another server may hold it now".into())),
        }
    }

    /// Gives the lease up at once (after the ledger is closed), so a standby need not wait for
    /// the TTL.
    pub fn release(self) -> Result<(), LeaseError> {
        self.etcd.revoke(&self.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_config_reads_with_defaults_and_bad_ones_are_refused() {
        let config: LeaseConfig =
            toml::from_str("etcd = [\"http://10.0.0.1:2379\", \"http://10.0.0.2:2379\"]").unwrap();
        assert_eq!(
            (config.key.as_str(), config.ttl_seconds, config.name.as_deref()),
            ("/tiered-ledger/writer", 5, None)
        );
        config.check().unwrap();
        let refused = [
            ("no etcd", LeaseConfig::at(Vec::new())),
            ("not http", LeaseConfig::at(vec!["10.0.0.1:2379".into()])),
            ("ttl 1 s", LeaseConfig { ttl_seconds: 1, ..config.clone() }),
            ("empty key", LeaseConfig { key: String::new(), ..config.clone() }),
            (
                "an advertised URL without scheme",
                LeaseConfig { advertise_url: Some("10.0.0.2:8650".into()), ..config.clone() },
            ),
            ("a read_db directory", LeaseConfig { read_db: Some("/srv/ledger".into()), ..config.clone() }),
            ("https without a CA", LeaseConfig::at(vec!["https://10.0.0.1:2379".into()])),
            ("a CA for http", LeaseConfig { ca_file: Some("ca.pem".into()), ..config.clone() }),
            (
                "a certificate without its key",
                LeaseConfig {
                    etcd: vec!["https://10.0.0.1:2379".into()],
                    ca_file: Some("ca.pem".into()),
                    cert_file: Some("client.pem".into()),
                    ..config.clone()
                },
            ),
        ];
        for (why, bad) in refused {
            assert!(bad.check().is_err(), "{why}");
        }
        assert!(toml::from_str::<LeaseConfig>("etcd = []\nttl = 3").is_err(), "unknown keys are refused");
    }

    #[test]
    fn etcd_tls_files_that_are_absent_or_hold_no_certificate_are_refused_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let not_pem = dir.path().join("not.pem");
        std::fs::write(&not_pem, "no PEM here").unwrap();
        let https = LeaseConfig::at(vec!["https://127.0.0.1:2379".into()]);
        let refused = [
            ("an absent CA", LeaseConfig { ca_file: Some(dir.path().join("absent.pem")), ..https.clone() }),
            ("a CA file without a certificate", LeaseConfig { ca_file: Some(not_pem.clone()), ..https.clone() }),
        ];
        for (why, config) in refused {
            config.check().unwrap();
            assert!(matches!(config.tls(), Err(LeaseError::Etcd(_))), "{why}");
        }
        assert!(LeaseConfig::at(vec!["http://127.0.0.1:2379".into()]).tls().unwrap().is_none(), "plain http: no TLS");
    }

    #[test]
    fn a_holder_reads_back_from_its_value_and_a_bare_name_is_a_holder_without_url() {
        let cases = [
            (Holder { name: "a".into(), url: None }, "a"),
            (
                Holder { name: "b \"x\"".into(), url: Some("http://10.0.0.2:8650".into()) },
                r#"{"name":"b \"x\"","url":"http://10.0.0.2:8650"}"#,
            ),
        ];
        for (holder, value) in cases {
            assert_eq!(holder.to_value(), value);
            assert_eq!(Holder::from_value(value), holder);
        }
        assert_eq!(Holder::from_value("{not json"), Holder { name: "{not json".into(), url: None });
    }

    #[test]
    fn etcd_integers_read_as_strings_or_numbers() {
        assert_eq!(int_of(&json!("7587899180234251783")), Some(7_587_899_180_234_251_783));
        assert_eq!(int_of(&json!(3)), Some(3));
        assert_eq!(int_of(&Value::Null), None);
    }

    #[test]
    fn no_etcd_answering_is_an_etcd_error_not_a_lease() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let config = LeaseConfig::at(vec![format!("http://127.0.0.1:{port}")]);
        assert!(matches!(Lease::try_acquire(&config, None, "me"), Err(LeaseError::Etcd(_))));
    }
}
