//! The loopback cluster of `scripts/cluster` (docs/CLUSTER.md, "A cluster on this machine"):
//! the same code the cluster tests start (ledger-store/tests/support/cluster.rs: 3 etcd with
//! TLS, 3 PostgreSQL under Patroni in strict synchronous mode), plus a ledger and two
//! `ledger-server`s sharing the writer lease. It runs in the foreground until asked to stop;
//! scripts/cluster starts it in the background and talks to it through files in STATE:
//! - `info`: the URLs and the token, written once everything is up;
//! - `status`: the nodes' roles and which server answers, rewritten every second;
//! - `request-kill-primary` (created by the script): SIGKILL the primary's Patroni and
//!   PostgreSQL, wait for the new primary, start the dead node again (it rejoins as a standby),
//!   append what happened to `kills`, remove the request;
//! - `request-down`: stop the servers and every process of the cluster, then exit.
//!
//! A server that exits (it lost the lease) is started again, as systemd's `Restart=always` would.
//!
//! Usage: `cluster STATE LEDGER_SERVER LEDGER_CLI` (the two programs' paths).

#![expect(clippy::unwrap_used, clippy::panic, reason = "a local tool: a failure stops it, said on stderr")]

#[path = "../../ledger-store/tests/support/mod.rs"]
mod support;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::cluster::Cluster;

/// How long a killed primary's replacement, or the dead node's return, may take.
const FAILOVER_MAX: Duration = Duration::from_secs(120);
const LEASE_TTL_SECONDS: u64 = 3;

struct LedgerServer {
    name: String,
    port: u16,
    child: Child,
}

struct Programs {
    server: PathBuf,
    cli: PathBuf,
}

fn run(program: &Path, args: &[&str]) -> std::process::Output {
    let out = Command::new(program).args(args).output().unwrap();
    assert!(out.status.success(), "{} {args:?}: {}", program.display(), String::from_utf8_lossy(&out.stderr));
    out
}

fn spawn_server(programs: &Programs, state: &Path, url: &str, name: &str, port: u16) -> LedgerServer {
    let log = std::fs::OpenOptions::new().create(true).append(true).open(state.join(format!("{name}.log"))).unwrap();
    let child = Command::new(&programs.server)
        .arg("serve")
        .arg("--config")
        .arg(state.join("server.toml"))
        .args(["--db", url, "--listen", &format!("127.0.0.1:{port}"), "--lease-name", name])
        .args(["--lease-ttl", &LEASE_TTL_SECONDS.to_string()])
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    LedgerServer { name: name.to_owned(), port, child }
}

/// What `GET /readyz` answers on `port`: the HTTP status (0: no answer) and the JSON body
/// (`role`, `writer`; Null when not JSON).
fn readyz(port: u16) -> (u16, serde_json::Value) {
    let out = Command::new("curl")
        .args(["-s", "-w", "\n%{http_code}", "--max-time", "1"])
        .arg(format!("http://127.0.0.1:{port}/readyz"))
        .output();
    let text = out.map(|out| String::from_utf8_lossy(&out.stdout).into_owned()).unwrap_or_default();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    (code.trim().parse().unwrap_or(0), serde_json::from_str(body).unwrap_or(serde_json::Value::Null))
}

/// Whether the server on `port` is the writer (holds the lease and opened the ledger).
fn is_writer(port: u16) -> bool {
    let (code, body) = readyz(port);
    code == 200 && body["role"] == "writer"
}

fn write_atomically(path: &Path, text: &str) {
    let partial = path.with_extension("partial");
    std::fs::write(&partial, text).unwrap();
    std::fs::rename(&partial, path).unwrap();
}

fn status(cluster: &Cluster, servers: &[LedgerServer]) -> String {
    let mut text = String::new();
    for (name, role) in cluster.roles() {
        writeln!(text, "postgres {name}: {role}").unwrap();
    }
    for server in servers {
        let (code, body) = readyz(server.port);
        let answer = match (code, body["role"].as_str()) {
            (200, Some("writer")) => "writer (holds the writer lease; serves reads and writes)".to_owned(),
            (200, Some("standby")) => format!(
                "standby (serves reads as of seq {}; refuses writes, naming the writer {})",
                body["head_seq"],
                body["writer"]["name"].as_str().map_or("(none holds the lease)".to_owned(), |name| format!("{name:?}"))
            ),
            (0, _) => "not answering (starting, or restarted after stepping down)".to_owned(),
            (other, _) => format!("answers /readyz {other}"),
        };
        writeln!(text, "ledger-server {} http://127.0.0.1:{}: {answer}", server.name, server.port).unwrap();
    }
    text
}

/// SIGKILLs the primary's machine, waits for a new primary, starts the dead node again and
/// waits until it streams; what happened, in one line.
/// SIGKILLs the primary's node, waits for the new primary and for the dead node to rejoin;
/// `tend` runs every 200 ms meanwhile (the servers' supervision does not pause for it).
fn kill_primary(cluster: &mut Cluster, tend: &mut dyn FnMut(&Cluster)) -> String {
    let Some(leader) = cluster.leader() else { return "no primary to kill".into() };
    cluster.kill_node(&leader);
    let killed = Instant::now();
    let promoted = loop {
        if let Some(new) = cluster.leader().filter(|new| *new != leader) {
            break new;
        }
        if killed.elapsed() > FAILOVER_MAX {
            return format!("killed {leader}; no new primary after {} s", FAILOVER_MAX.as_secs());
        }
        tend(cluster);
        std::thread::sleep(Duration::from_millis(200));
    };
    let failover = killed.elapsed();
    cluster.restart_node(&leader);
    let restarted = Instant::now();
    loop {
        let roles = cluster.roles();
        let has = |role: &str| roles.iter().any(|(_, r)| r == role);
        if has("leader") && has("sync_standby") && roles.len() >= 3 {
            break;
        }
        if restarted.elapsed() > FAILOVER_MAX {
            return format!(
                "killed {leader}; {promoted} primary after {:.1} s; {leader} not back after {} s: {roles:?}",
                failover.as_secs_f64(),
                FAILOVER_MAX.as_secs()
            );
        }
        tend(cluster);
        std::thread::sleep(Duration::from_millis(200));
    }
    format!(
        "killed {leader}; {promoted} primary after {:.1} s; {leader} back as a standby {:.1} s later",
        failover.as_secs_f64(),
        restarted.elapsed().as_secs_f64()
    )
}

/// Starts again every server that exited (a supervisor's `Restart=`), then writes the status.
fn supervise(cluster: &Cluster, servers: &mut [LedgerServer], programs: &Programs, state: &Path, url: &str) {
    for server in servers.iter_mut() {
        if let Ok(Some(_)) = server.child.try_wait() {
            *server = spawn_server(programs, state, url, &server.name.clone(), server.port);
        }
    }
    write_atomically(&state.join("status"), &status(cluster, servers));
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, state, server, cli] = args.as_slice() else {
        panic!("usage: cluster STATE LEDGER_SERVER LEDGER_CLI");
    };
    let state = PathBuf::from(state);
    let programs = Programs { server: PathBuf::from(server), cli: PathBuf::from(cli) };
    let mut cluster = Cluster::start_in(state.join("cluster"));
    cluster.create_database("ledger");
    let url = cluster.url("ledger");
    run(&programs.cli, &["--db", &url, "init", "--policy", "pboc-2018"]);

    // The servers' config: the writer lease in etcd over TLS, a standby's reads from a
    // PostgreSQL standby (`read_db`, read-only sessions), and one token per role.
    let mut tokens = String::new();
    let mut secrets = Vec::new();
    for role in ["back-office", "operator", "auditor"] {
        let token = run(&programs.server, &["token", "--role", role, "--name", &format!("cluster-{role}")]);
        secrets.push((role, String::from_utf8_lossy(&token.stderr).trim().to_owned()));
        tokens.push_str(&String::from_utf8_lossy(&token.stdout));
    }
    let certs = &cluster.etcd_certs;
    let config = format!(
        "[lease]\nread_db = {:?}\netcd = {:?}\nca_file = {:?}\ncert_file = {:?}\nkey_file = {:?}\n\n{}",
        url.replace("target_session_attrs=read-write", "target_session_attrs=read-only"),
        cluster.etcd_urls,
        certs.ca.display().to_string(),
        certs.cert.display().to_string(),
        certs.key.display().to_string(),
        tokens
    );
    std::fs::write(state.join("server.toml"), config).unwrap();
    let mut servers: Vec<LedgerServer> = ["server-a", "server-b"]
        .into_iter()
        .map(|name| spawn_server(&programs, &state, &url, name, support::free_port()))
        .collect();

    let mut info = String::new();
    for server in &servers {
        writeln!(
            info,
            "ledger-server {}: http://127.0.0.1:{} (log {}/{}.log)",
            server.name,
            server.port,
            state.display(),
            server.name
        )
        .unwrap();
    }
    for (role, secret) in &secrets {
        writeln!(info, "token ({role}): {secret}").unwrap();
    }
    writeln!(info, "PostgreSQL: {url}").unwrap();
    for node in &cluster.nodes {
        writeln!(info, "Patroni {}: http://127.0.0.1:{}/cluster", node.name, node.rest_port).unwrap();
    }
    writeln!(
        info,
        "etcd: {} (CA {}, client certificate {}, key {})",
        cluster.etcd_urls.join(","),
        certs.ca.display(),
        certs.cert.display(),
        certs.key.display()
    )
    .unwrap();
    writeln!(info, "logs: {}/cluster (etcdN.log, Patroni pgN.log, PostgreSQL pgN-log/)", state.display()).unwrap();
    let started = Instant::now();
    // One writer, and the other ready as a standby (serving reads).
    while !(servers.iter().any(|server| is_writer(server.port))
        && servers.iter().all(|server| readyz(server.port).0 == 200))
    {
        assert!(started.elapsed() < FAILOVER_MAX, "no ledger-server took the writer lease, or a standby is not ready");
        std::thread::sleep(Duration::from_millis(200));
    }
    write_atomically(&state.join("status"), &status(&cluster, &servers));
    write_atomically(&state.join("info"), &info);

    loop {
        supervise(&cluster, &mut servers, &programs, &state, &url);
        if state.join("request-kill-primary").exists() {
            let line =
                kill_primary(&mut cluster, &mut |cluster| supervise(cluster, &mut servers, &programs, &state, &url));
            let mut kills = std::fs::read_to_string(state.join("kills")).unwrap_or_default();
            kills.push_str(&line);
            kills.push('\n');
            write_atomically(&state.join("kills"), &kills);
            write_atomically(&state.join("status"), &status(&cluster, &servers));
            std::fs::remove_file(state.join("request-kill-primary")).unwrap();
        }
        if state.join("request-down").exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    for server in &mut servers {
        let _ = Command::new("kill").args(["-TERM", &server.child.id().to_string()]).status();
    }
    for server in &mut servers {
        let _ = server.child.wait();
    }
    drop(cluster);
    std::fs::remove_file(state.join("request-down")).unwrap();
}
