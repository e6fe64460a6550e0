//! A real `ledger-server` process on loopback for the tests: a fresh ledger, a config with one
//! token per role, start (port picked by the kernel), SIGTERM or SIGKILL, and an HTTP client.
#![allow(dead_code, reason = "each test file uses part of the harness")]

pub mod browser;
pub mod declared;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use ledger_core::{CommandBody, CommandId, Policy, Timestamp};
use ledger_store::{Ledger, LedgerOptions, Reader};
use serde_json::Value;

pub const BACK_OFFICE: &str = "tok-back-office-0123456789";
pub const OPERATOR: &str = "tok-operator-0123456789";
pub const AUDITOR: &str = "tok-auditor-0123456789";

/// How long a server may take to start or stop before the test fails.
const START_STOP_MAX: Duration = Duration::from_secs(60);

/// ledger-cli beside the server (built by `cargo test --workspace`; built here when missing).
pub fn ledger_cli() -> PathBuf {
    let dir = Path::new(env!("CARGO_BIN_EXE_ledger-server")).parent().unwrap().to_path_buf();
    if !dir.join("ledger-cli").exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        assert!(Command::new(cargo).args(["build", "-p", "ledger-cli"]).status().unwrap().success());
    }
    dir.join("ledger-cli")
}

/// Creates a ledger at `db` with the pboc-2018 policy as its genesis, as `ledger-cli init` does.
pub fn create_ledger(db: &Path) {
    let ledger = Ledger::create(db, LedgerOptions::default()).unwrap();
    let command = ledger_core::Command {
        id: CommandId(uuid::Uuid::nil()),
        at: Timestamp::UNIX_EPOCH,
        body: CommandBody::ChangePolicy {
            effective_from: Timestamp::UNIX_EPOCH,
            policy: Box::new(Policy::preset("pboc-2018").unwrap()),
        },
        stamped: false,
    };
    assert!(ledger.submit(command).unwrap().is_accepted());
    ledger.close().unwrap();
}

/// The config file: the three tokens, and `extra` (TOML, e.g. a `[limits]` table).
pub fn write_config(path: &Path, extra: &str) {
    let mut text = String::from(extra);
    for (name, role, token) in
        [("core", "back-office", BACK_OFFICE), ("ops", "operator", OPERATOR), ("audit", "auditor", AUDITOR)]
    {
        let digest = hex::encode(ledger_server::auth::digest(token));
        text.push_str(&format!("\n[[tokens]]\nname = \"{name}\"\nrole = \"{role}\"\nsha256 = \"{digest}\"\n"));
    }
    std::fs::write(path, text).unwrap();
}

pub struct Server {
    child: Option<Child>,
    pub url: String,
    pub stderr: mpsc::Receiver<String>,
    stdout: mpsc::Receiver<String>,
}

impl Server {
    /// Starts `ledger-server serve` on the ledger at `db` with the config at `config`, and waits
    /// until it listens.
    pub fn start(db: &Path, config: &Path, flags: &[&str]) -> Server {
        let mut server = Server::spawn(db, config, flags);
        if !server.wait_listening(START_STOP_MAX) {
            server.kill();
            panic!(
                "the server did not start: {}",
                server.stderr.recv_timeout(Duration::from_secs(5)).unwrap_or_default()
            );
        }
        server
    }

    /// Starts `ledger-server serve` without waiting for it to listen: see
    /// [`Server::wait_listening`].
    pub fn spawn(db: &Path, config: &Path, flags: &[&str]) -> Server {
        Server::spawn_logging(db, config, flags, "warn")
    }

    /// [`Server::start`] with its log filter at `level` (`info` logs a line per request).
    pub fn start_logging(db: &Path, config: &Path, level: &str) -> Server {
        let mut server = Server::spawn_logging(db, config, &[], level);
        assert!(server.wait_listening(START_STOP_MAX), "the server did not start");
        server
    }

    fn spawn_logging(db: &Path, config: &Path, flags: &[&str], level: &str) -> Server {
        let mut command = Command::new(env!("CARGO_BIN_EXE_ledger-server"));
        command.arg("serve").arg("--config").arg(config).arg("--db").arg(db).args(["--listen", "127.0.0.1:0"]);
        command.args(flags).env("RUST_LOG", level);
        Server::launch(command)
    }

    /// Starts it as [`Server::start`] does, under an open-file limit of `files` (`ulimit -n`).
    pub fn start_with_files(db: &Path, config: &Path, files: u32) -> Server {
        let mut command = Command::new("sh");
        command.args(["-c", &format!("ulimit -n {files} && exec \"$0\" \"$@\""), env!("CARGO_BIN_EXE_ledger-server")]);
        command.arg("serve").arg("--config").arg(config).arg("--db").arg(db).args(["--listen", "127.0.0.1:0"]);
        command.env("RUST_LOG", "warn");
        let mut server = Server::launch(command);
        assert!(server.wait_listening(START_STOP_MAX), "the server did not start under ulimit -n {files}");
        server
    }

    /// Starts `command` (a `ledger-server` command line, its environment set by the caller)
    /// with its output read by the harness, without waiting for it to listen.
    pub fn launch(mut command: Command) -> Server {
        let mut child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = child.stderr.take().unwrap();
        let (err_tx, err_rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = BufReader::new(stderr).read_to_string(&mut text);
            let _ = err_tx.send(text);
        });
        Server { child: Some(child), url: String::new(), stderr: err_rx, stdout: rx }
    }

    /// Waits up to `max` for the "listening on URL" line (false: not within `max`).
    pub fn wait_listening(&mut self, max: Duration) -> bool {
        if !self.url.is_empty() {
            return true;
        }
        match self.stdout.recv_timeout(max) {
            Ok(line) => {
                self.url = line
                    .strip_prefix("listening on ")
                    .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
                    .to_owned();
                true
            }
            Err(_) => false,
        }
    }

    /// Waits (bounded) for the process to end by itself; returns its exit code and stderr, or
    /// None if it was still running (it is then killed).
    pub fn wait_exit(&mut self, max: Duration) -> Option<(Option<i32>, String)> {
        let deadline = std::time::Instant::now() + max;
        while std::time::Instant::now() < deadline {
            if let Some(code) = self.exited() {
                self.child = None;
                return Some((code, self.stderr.recv_timeout(Duration::from_secs(5)).unwrap_or_default()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.kill();
        None
    }

    /// The exit code once the process has ended (None while it runs).
    pub fn exited(&mut self) -> Option<Option<i32>> {
        let child = self.child.as_mut()?;
        let status = child.try_wait().unwrap()?;
        Some(status.code())
    }

    /// Sends `signal` (e.g. STOP, CONT) to the process.
    pub fn signal(&self, signal: rustix::process::Signal) {
        let pid = rustix::process::Pid::from_raw(self.pid()).unwrap();
        rustix::process::kill_process(pid, signal).unwrap();
    }

    pub fn pid(&self) -> i32 {
        self.child.as_ref().map_or(0, |child| child.id() as i32)
    }

    /// SIGKILL: no chance to finish anything.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, then waits (bounded) for a clean exit; returns the exit code and stderr.
    pub fn stop(&mut self) -> (Option<i32>, String) {
        let Some(mut child) = self.child.take() else { return (None, String::new()) };
        let pid = rustix::process::Pid::from_raw(child.id() as i32).unwrap();
        rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
        let deadline = std::time::Instant::now() + START_STOP_MAX;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                let stderr = self.stderr.recv_timeout(Duration::from_secs(5)).unwrap_or_default();
                return (status.code(), stderr);
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the server did not stop within {START_STOP_MAX:?} of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// An HTTP client holding one token (or none). Every answer it gets is checked against the
/// OpenAPI document ([`declared`]): a status or body type it does not declare fails the test.
#[derive(Clone)]
pub struct Client {
    agent: ureq::Agent,
    pub url: String,
    pub token: Option<String>,
}

/// A status and a JSON body (Null when the body is not JSON), and the headers asked for.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub retry_after: Option<String>,
    /// The `ledger-seq` header: the head the server knew when the request came.
    pub ledger_seq: Option<u64>,
}

impl Client {
    pub fn new(url: &str, token: Option<&str>) -> Client {
        Client::with_timeout(url, token, Duration::from_secs(60))
    }

    /// A client that gives up on an answer after `timeout`.
    pub fn with_timeout(url: &str, token: Option<&str>, timeout: Duration) -> Client {
        let agent: ureq::Agent =
            ureq::Agent::config_builder().http_status_as_error(false).timeout_global(Some(timeout)).build().into();
        Client { agent, url: url.to_owned(), token: token.map(str::to_owned) }
    }

    pub fn post(&self, path: &str, body: &str) -> Result<Reply, ureq::Error> {
        let mut request = self.agent.post(format!("{}{path}", self.url)).header("Content-Type", "application/json");
        if let Some(token) = &self.token {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        Self::reply("POST", path, request.send(body.as_bytes())?)
    }

    pub fn post_bytes(&self, path: &str, body: &[u8]) -> Result<Reply, ureq::Error> {
        let mut request = self.agent.post(format!("{}{path}", self.url));
        if let Some(token) = &self.token {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        Self::reply("POST", path, request.send(body)?)
    }

    pub fn get(&self, path: &str) -> Result<Reply, ureq::Error> {
        let mut request = self.agent.get(format!("{}{path}", self.url));
        if let Some(token) = &self.token {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        Self::reply("GET", path, request.call()?)
    }

    pub fn get_text(&self, path: &str) -> (u16, String) {
        let mut request = self.agent.get(format!("{}{path}", self.url));
        if let Some(token) = &self.token {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        let mut response = request.call().unwrap();
        let status = response.status().as_u16();
        declared::check("GET", path, status, Self::content_type(&response));
        (status, response.body_mut().read_to_string().unwrap())
    }

    fn content_type(response: &ureq::http::Response<ureq::Body>) -> Option<&str> {
        response.headers().get("content-type").and_then(|value| value.to_str().ok())
    }

    fn reply(method: &str, path: &str, mut response: ureq::http::Response<ureq::Body>) -> Result<Reply, ureq::Error> {
        let status = response.status().as_u16();
        declared::check(method, path, status, Self::content_type(&response));
        let retry_after =
            response.headers().get("retry-after").and_then(|value| value.to_str().ok()).map(str::to_owned);
        let ledger_seq = response
            .headers()
            .get("ledger-seq")
            .and_then(|value| value.to_str().ok())
            .and_then(|text| text.parse().ok());
        let text = response.body_mut().with_config().limit(256 << 20).read_to_string()?;
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Ok(Reply { status, body, retry_after, ledger_seq })
    }

    /// The head's seq (as the given token sees it: use an auditor or back-office client).
    pub fn head_seq(&self) -> u64 {
        let reply = self.get("/v1/head").unwrap();
        assert_eq!(reply.status, 200, "{reply:?}");
        reply.body["seq"].as_u64().unwrap()
    }
}

/// A working directory for one test: the ledger at `db`, the config at `config`.
pub struct Workspace {
    pub dir: tempfile::TempDir,
    pub db: PathBuf,
    pub config: PathBuf,
}

impl Workspace {
    pub fn new(extra_config: &str) -> Workspace {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("ledger");
        let config = dir.path().join("server.toml");
        create_ledger(&db);
        write_config(&config, extra_config);
        Workspace { dir, db, config }
    }

    pub fn start(&self) -> Server {
        Server::start(&self.db, &self.config, &[])
    }
}

/// A command's JSON with a deterministic id from `n` and a time `n` seconds into a fixed
/// Beijing morning.
pub fn at(n: u64) -> String {
    let base: Timestamp = "2026-03-02T09:00:00+08:00".parse().unwrap();
    base.plus_millis(n as i64 * 1000).unwrap().to_string()
}

pub fn id(n: u64) -> String {
    uuid::Uuid::from_u64_pair(0x7465_7374_0000_0000, n).to_string()
}

/// Each command id in the log → the sequence numbers of its records (from an export).
pub fn command_seqs(reader: &Reader) -> HashMap<String, Vec<u64>> {
    let mut export = Vec::new();
    reader.export(1, None, &mut export).unwrap();
    let mut in_log: HashMap<String, Vec<u64>> = HashMap::new();
    for line in String::from_utf8(export).unwrap().lines() {
        let record: Value = serde_json::from_str(line).unwrap();
        if let Some(id) = record["event"]["command_id"].as_str() {
            in_log.entry(id.to_owned()).or_default().push(record["seq"].as_u64().unwrap());
        }
    }
    in_log
}

/// A self-signed certificate for 127.0.0.1 and its key, made by `openssl` in `dir`.
pub fn tls_files(dir: &Path) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let made = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"])
        .args(["-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap_or_else(|err| panic!("openssl is needed for this test: {err}"));
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    (cert, key)
}

/// `host:port` of a server's URL.
pub fn host(url: &str) -> String {
    url.trim_start_matches("http://").trim_start_matches("https://").trim_end_matches('/').to_owned()
}

/// Sends `request` on `stream` and reads one answer: status and body (None: the connection
/// ended or no complete answer came within `max` per read).
pub fn ask(stream: &mut std::net::TcpStream, request: &[u8], max: Duration) -> Option<(u16, String)> {
    use std::io::Write;
    stream.set_read_timeout(Some(max)).unwrap();
    let _ = stream.write_all(request);
    read_answer(stream)
}

/// Reads one HTTP/1.1 answer (with a Content-Length) from `stream`.
pub fn read_answer(stream: &mut std::net::TcpStream) -> Option<(u16, String)> {
    let mut data = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(end) = data.windows(4).position(|window| window == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&data[..end]).to_string();
            let status = head.split(' ').nth(1)?.parse().ok()?;
            let length = head
                .lines()
                .find_map(|line| line.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned()))
                .and_then(|value| value.parse::<usize>().ok())
                .unwrap_or(0);
            if data.len() >= end + 4 + length {
                return Some((status, String::from_utf8_lossy(&data[end + 4..end + 4 + length]).to_string()));
            }
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => data.extend_from_slice(&chunk[..n]),
        }
    }
}
