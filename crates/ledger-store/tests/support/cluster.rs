//! A loopback cluster for one test (docs/CLUSTER.md): 3 etcd members (TLS, client certificates
//! required) and 3 PostgreSQL nodes
//! under Patroni with `synchronous_mode_strict` (a primary, its synchronous standby, and a
//! replica that becomes the new synchronous standby after a failover), in a temporary directory; every process is
//! SIGKILLed when the cluster is dropped. As root, Patroni and PostgreSQL run as `postgres`
//! (through `setpriv`, so the child is Patroni itself and can be killed as a machine would die).
//! When the test fails (or with `CLUSTER_KEEP=1`), the directory with every service's log
//! (`etcdN.log`, `pgN.log` for Patroni, `pgN-log/` for PostgreSQL) is kept and its path printed.

#![allow(dead_code, reason = "each test file uses its own subset")]
#![expect(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "test support: a failure stops the test")]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{free_port, is_root, pg_bin};

/// How long the cluster may take to elect a primary with a synchronous standby, every member
/// running.
const FORM_MAX: Duration = Duration::from_secs(90);
/// How long one statement of a test's `psql` may take.
const SQL_MAX: Duration = Duration::from_secs(60);
/// Patroni's `maximum_lag_on_failover` (bytes). In synchronous mode only the synchronous
/// standby may be promoted, and it holds every acknowledged commit; the lag check then can only
/// refuse it. With 0, a primary killed with WAL written but not yet streamed (autovacuum,
/// hint-bit pages, a batch in flight) left its last reported position ahead of every standby
/// forever: no candidate, no primary until the dead node came back (docs/CLUSTER.md).
pub const MAXIMUM_LAG_ON_FAILOVER: u64 = 1 << 30;

pub struct Node {
    pub name: String,
    pub pg_port: u16,
    pub rest_port: u16,
    config: PathBuf,
    data: PathBuf,
    patroni: Option<Child>,
}

/// The PEM files of the etcd TLS set-up, made with openssl for each cluster: a CA, the
/// members' certificate (for 127.0.0.1) and a client certificate, which etcd requires
/// (`--client-cert-auth`) from Patroni and the ledger-servers alike.
pub struct EtcdCerts {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl EtcdCerts {
    fn make(dir: &std::path::Path) -> EtcdCerts {
        let openssl = |args: &[&str]| {
            let out = Command::new("openssl").current_dir(dir).args(args).output().expect("openssl is not installed");
            assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        };
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
        openssl(
            &[
                &["req", "-x509"],
                &ec[..],
                &["-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=ledger test CA"],
            ]
            .concat(),
        );
        for (name, extension) in [
            ("server", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth"),
            ("client", "extendedKeyUsage=clientAuth"),
        ] {
            let (key, csr, pem, ext) =
                (format!("{name}.key"), format!("{name}.csr"), format!("{name}.pem"), format!("{name}.ext"));
            std::fs::write(dir.join(&ext), extension).unwrap();
            openssl(
                &[&["req"], &ec[..], &["-keyout", &key, "-out", &csr, "-subj", &format!("/CN=ledger test {name}")]]
                    .concat(),
            );
            openssl(&[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                &ext,
                "-out",
                &pem,
            ]);
        }
        EtcdCerts { ca: dir.join("ca.pem"), cert: dir.join("client.pem"), key: dir.join("client.key") }
    }

    /// curl's arguments to reach etcd with these certificates.
    fn curl_args(&self) -> Vec<String> {
        ["--cacert", "--cert", "--key"]
            .into_iter()
            .zip([&self.ca, &self.cert, &self.key])
            .flat_map(|(flag, path)| [flag.to_owned(), path.to_string_lossy().into_owned()])
            .collect()
    }
}

pub struct Cluster {
    /// Every file of the cluster: data, logs, certificates, configs.
    pub dir: PathBuf,
    /// Set when `dir` is a temporary directory (a test's), removed on drop unless kept.
    temporary: Option<tempfile::TempDir>,
    etcd: Vec<Child>,
    /// The etcd members' client URLs (`https://`).
    pub etcd_urls: Vec<String>,
    pub etcd_certs: EtcdCerts,
    pub nodes: Vec<Node>,
    as_postgres: bool,
}

impl Cluster {
    /// A cluster in a temporary directory, removed when it is dropped (kept when the test
    /// failed, or with `CLUSTER_KEEP=1`).
    pub fn start() -> Cluster {
        let temporary = tempfile::tempdir().unwrap();
        Cluster::start_at(temporary.path().to_path_buf(), Some(temporary))
    }

    /// A cluster in `dir` (created; scripts/cluster's state), left in place when dropped.
    pub fn start_in(dir: PathBuf) -> Cluster {
        std::fs::create_dir_all(&dir).unwrap();
        Cluster::start_at(dir, None)
    }

    fn start_at(dir: PathBuf, temporary: Option<tempfile::TempDir>) -> Cluster {
        let as_postgres = is_root();
        if as_postgres {
            assert!(Command::new("chown").arg("postgres").arg(&dir).status().unwrap().success());
        }
        let certs_dir = dir.join("certs");
        std::fs::create_dir(&certs_dir).unwrap();
        let etcd_certs = EtcdCerts::make(&certs_dir);
        if as_postgres {
            assert!(Command::new("chown").arg("-R").arg("postgres").arg(&certs_dir).status().unwrap().success());
        }
        let server_cert = certs_dir.join("server.pem");
        let server_key = certs_dir.join("server.key");
        let peers: Vec<(u16, u16)> = (0..3).map(|_| (free_port(), free_port())).collect();
        let initial: Vec<String> =
            peers.iter().enumerate().map(|(i, (_, peer))| format!("e{i}=http://127.0.0.1:{peer}")).collect();
        let mut etcd = Vec::new();
        for (i, (client, peer)) in peers.iter().enumerate() {
            let log = std::fs::File::create(dir.join(format!("etcd{i}.log"))).unwrap();
            let child = Command::new("etcd")
                .args(["--name", &format!("e{i}")])
                .arg("--data-dir")
                .arg(dir.join(format!("etcd{i}")))
                .args(["--listen-client-urls", &format!("https://127.0.0.1:{client}")])
                .args(["--advertise-client-urls", &format!("https://127.0.0.1:{client}")])
                .arg("--cert-file")
                .arg(&server_cert)
                .arg("--key-file")
                .arg(&server_key)
                .arg("--trusted-ca-file")
                .arg(&etcd_certs.ca)
                .arg("--client-cert-auth")
                .args(["--listen-peer-urls", &format!("http://127.0.0.1:{peer}")])
                .args(["--initial-advertise-peer-urls", &format!("http://127.0.0.1:{peer}")])
                .args(["--initial-cluster", &initial.join(",")])
                .args(["--initial-cluster-state", "new", "--initial-cluster-token", "ledger-test"])
                .args(["--heartbeat-interval", "100", "--election-timeout", "1000"])
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("etcd (etcd-server) is not installed: run scripts/setup --with-postgres");
            etcd.push(child);
        }
        let hosts: Vec<String> = peers.iter().map(|(client, _)| format!("127.0.0.1:{client}")).collect();
        let etcd_urls = hosts.iter().map(|host| format!("https://{host}")).collect();
        let mut cluster = Cluster { dir, temporary, etcd, etcd_urls, etcd_certs, nodes: Vec::new(), as_postgres };
        for i in 1..=3 {
            let (pg_port, rest_port) = (free_port(), free_port());
            let name = format!("pg{i}");
            let data = cluster.dir.join(&name);
            let config = cluster.dir.join(format!("{name}.yml"));
            let socket = cluster.dir.to_string_lossy().into_owned();
            let text = format!(
                "scope: ledger\nnamespace: /service/\nname: {name}\n\
                 restapi:\n  listen: 127.0.0.1:{rest_port}\n  connect_address: 127.0.0.1:{rest_port}\n\
                 etcd3:\n  hosts: {hosts}\n  protocol: https\n  cacert: {ca}\n  cert: {cert}\n  key: {key}\n\
                 bootstrap:\n  dcs:\n    ttl: 5\n    loop_wait: 1\n    retry_timeout: 2\n    maximum_lag_on_failover: {MAXIMUM_LAG_ON_FAILOVER}\n\
                 \x20   synchronous_mode: true\n    synchronous_mode_strict: true\n\
                 \x20   postgresql:\n      use_pg_rewind: true\n      parameters:\n        synchronous_commit: 'on'\n        wal_retrieve_retry_interval: 250ms\n\
                 \x20       max_wal_senders: 5\n        max_replication_slots: 5\n        wal_keep_size: 256MB\n\
                 \x20 initdb:\n    - encoding: UTF8\n    - auth: trust\n\
                 \x20 pg_hba:\n    - local all all trust\n    - host all all 127.0.0.1/32 trust\n    - host replication all 127.0.0.1/32 trust\n\
                 postgresql:\n  listen: 127.0.0.1:{pg_port}\n  connect_address: 127.0.0.1:{pg_port}\n\
                 \x20 data_dir: {data}\n  bin_dir: {bin}\n  pgpass: {socket}/pgpass{i}\n\
                 \x20 authentication:\n    superuser:\n      username: ledger\n      password: ledger\n\
                 \x20   replication:\n      username: replicator\n      password: replicator\n\
                 \x20 parameters:\n    unix_socket_directories: {socket}\n\
                 \x20   logging_collector: 'on'\n    log_directory: {socket}/{name}-log\n    log_line_prefix: '%m [%p] '\n",
                hosts = hosts.join(","),
                ca = cluster.etcd_certs.ca.display(),
                cert = cluster.etcd_certs.cert.display(),
                key = cluster.etcd_certs.key.display(),
                data = data.display(),
                bin = pg_bin().display(),
            );
            std::fs::write(&config, text).unwrap();
            let mut node = Node { name, pg_port, rest_port, config, data, patroni: None };
            cluster.spawn_patroni(&mut node);
            cluster.nodes.push(node);
        }
        cluster.wait_formed(FORM_MAX);
        cluster
    }

    fn spawn_patroni(&self, node: &mut Node) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(format!("{}.log", node.name)))
            .unwrap();
        let mut command = if self.as_postgres {
            let mut command = Command::new("setpriv");
            command.args(["--reuid=postgres", "--regid=postgres", "--init-groups", "patroni"]);
            command
        } else {
            Command::new("patroni")
        };
        if self.as_postgres {
            assert!(Command::new("chown").arg("postgres").arg(&node.config).status().unwrap().success());
        }
        let child = command
            .arg(&node.config)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("patroni is not installed: run scripts/setup --with-postgres");
        node.patroni = Some(child);
    }

    /// Each node's role as Patroni reports it (`leader`, `sync_standby`, `replica`), from any
    /// node that answers.
    pub fn roles(&self) -> Vec<(String, String)> {
        for node in &self.nodes {
            let Ok(out) = Command::new("curl")
                .args(["-s", "--max-time", "1", &format!("http://127.0.0.1:{}/cluster", node.rest_port)])
                .output()
            else {
                continue;
            };
            let Ok(value) = serde_json::from_slice::<serde_json::Value>(&out.stdout) else { continue };
            if let Some(members) = value["members"].as_array() {
                return members
                    .iter()
                    .filter(|m| m["state"] == "running" || m["state"] == "streaming")
                    .map(|m| (m["name"].as_str().unwrap_or("").to_owned(), m["role"].as_str().unwrap_or("").to_owned()))
                    .collect();
            }
        }
        Vec::new()
    }

    /// Waits for a leader, a synchronous standby and every member running: a member that did
    /// not start fails the test here, not at a later commit that waits for it.
    pub fn wait_formed(&self, max: Duration) {
        self.wait_members(self.nodes.len(), max);
    }

    /// Waits for a leader, a synchronous standby and `members` running or streaming members
    /// in all; returns how long that took.
    pub fn wait_members(&self, members: usize, max: Duration) -> Duration {
        let started = Instant::now();
        loop {
            let roles = self.roles();
            let has = |role: &str| roles.iter().any(|(_, r)| r == role);
            if has("leader") && has("sync_standby") && roles.len() >= members {
                return started.elapsed();
            }
            assert!(
                started.elapsed() < max,
                "no leader with a synchronous standby and {members} members after {max:?}: {roles:?}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The names of the members in `role` (`leader`, `sync_standby`, `replica`).
    pub fn members_in(&self, role: &str) -> Vec<String> {
        self.roles().into_iter().filter(|(_, r)| r == role).map(|(name, _)| name).collect()
    }

    pub fn leader(&self) -> Option<String> {
        self.roles().into_iter().find(|(_, role)| role == "leader").map(|(name, _)| name)
    }

    pub fn node(&self, name: &str) -> &Node {
        self.nodes.iter().find(|node| node.name == name).unwrap()
    }

    /// The URL of database `db` on every node; libpq-style multi-host, the primary chosen.
    pub fn url(&self, db: &str) -> String {
        let hosts: Vec<String> = self.nodes.iter().map(|node| format!("127.0.0.1:{}", node.pg_port)).collect();
        format!("postgres://ledger:ledger@{}/{db}?target_session_attrs=read-write&connect_timeout=2", hosts.join(","))
    }

    /// The URL of database `db` on one node.
    pub fn node_url(&self, name: &str, db: &str) -> String {
        format!("postgres://ledger:ledger@127.0.0.1:{}/{db}?connect_timeout=2", self.node(name).pg_port)
    }

    /// Waits until every node's copy of the ledger in database `db` has `head` (a standby may
    /// still be replaying); fails the test after `max`.
    pub fn wait_same_head(&self, db: &str, head: ledger_store::Head, max: Duration) {
        let started = Instant::now();
        for node in &self.nodes {
            loop {
                let clock = std::sync::Arc::new(ledger_store::SystemClock);
                let seen = ledger_store::Reader::open(self.node_url(&node.name, db), clock).and_then(|r| r.head());
                match seen {
                    Ok(seen) if seen == head => break,
                    _ if started.elapsed() < max => std::thread::sleep(Duration::from_millis(200)),
                    other => panic!("node {} holds {other:?}, not {}", node.name, head.to_text()),
                }
            }
        }
    }

    /// Creates database `db` on the leader.
    pub fn create_database(&self, db: &str) {
        let leader = self.leader().expect("a leader");
        let port = self.node(&leader).pg_port.to_string();
        let status = Command::new(pg_bin().join("createdb"))
            .args(["-h", "127.0.0.1", "-p", &port, "-U", "ledger", db])
            .env("PGPASSWORD", "ledger")
            .status()
            .unwrap();
        assert!(status.success(), "createdb {db}");
    }

    /// SIGKILLs a node's Patroni and its PostgreSQL postmaster: the machine is gone. The
    /// postmaster is found by its pid file and by every process naming the node's data
    /// directory (Patroni may have been restarting PostgreSQL or running pg_rewind, leaving the
    /// pid file stale), until none is left.
    pub fn kill_node(&mut self, name: &str) {
        let index = self.nodes.iter().position(|node| node.name == name).unwrap();
        let node = &mut self.nodes[index];
        if let Some(mut child) = node.patroni.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let started = Instant::now();
        loop {
            let mut pids = processes_naming(&node.data);
            if let Ok(text) = std::fs::read_to_string(node.data.join("postmaster.pid"))
                && let Some(pid) = text.lines().next().and_then(|line| line.trim().parse::<u32>().ok())
                && std::path::Path::new(&format!("/proc/{pid}")).exists()
            {
                pids.push(pid);
            }
            if pids.is_empty() {
                return;
            }
            for pid in pids {
                let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).stderr(Stdio::null()).status();
            }
            assert!(started.elapsed() < FORM_MAX, "node {name}: its processes survive SIGKILL");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// How far (bytes of WAL) each node's received or replayed position is behind the last
    /// position the leader reported to etcd (Patroni's `status` key: what a candidate's
    /// `maximum_lag_on_failover` check compares with); `None` where a node does not answer.
    pub fn lag_behind_reported_leader(&self) -> Vec<(String, Option<i128>)> {
        let reported = self.reported_leader_position();
        self.nodes
            .iter()
            .map(|node| {
                let position = self
                    .sql(
                        &node.name,
                        "SELECT GREATEST(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()) - '0/0'::pg_lsn",
                    )
                    .and_then(|text| text.parse::<i128>().ok());
                (node.name.clone(), reported.zip(position).map(|(leader, own)| leader - own))
            })
            .collect()
    }

    /// Runs `sql` on one node's `postgres` database with psql; its output, trimmed (`None`
    /// when the node does not answer or the statement fails).
    pub fn sql(&self, name: &str, sql: &str) -> Option<String> {
        let port = self.node(name).pg_port.to_string();
        // Bounded: a commit waiting for a synchronous standby that never comes would hang.
        let out = Command::new("timeout")
            .args(["--kill-after=5", &SQL_MAX.as_secs().to_string()])
            .arg(pg_bin().join("psql"))
            .args(["-h", "127.0.0.1", "-p", &port, "-U", "ledger", "-d", "postgres", "-Atc", sql])
            .env("PGPASSWORD", "ledger")
            .env("PGCONNECT_TIMEOUT", "2")
            .output()
            .ok()?;
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    /// The WAL position the leader last wrote to etcd (`/service/ledger/status`, `optime`).
    pub fn reported_leader_position(&self) -> Option<i128> {
        use base64::Engine as _;
        let engine = base64::engine::general_purpose::STANDARD;
        let body = serde_json::json!({ "key": engine.encode("/service/ledger/status") }).to_string();
        for url in &self.etcd_urls {
            let Ok(out) = Command::new("curl")
                .args(["-s", "--max-time", "2", "-X", "POST", "-d", &body, &format!("{url}/v3/kv/range")])
                .args(self.etcd_certs.curl_args())
                .output()
            else {
                continue;
            };
            let Ok(answer) = serde_json::from_slice::<serde_json::Value>(&out.stdout) else { continue };
            let value = answer["kvs"][0]["value"].as_str().and_then(|v| engine.decode(v).ok())?;
            let status = serde_json::from_slice::<serde_json::Value>(&value).ok()?;
            return status["optime"].as_i64().map(i128::from);
        }
        None
    }

    /// Starts a killed node's Patroni again (it rejoins as a standby).
    pub fn restart_node(&mut self, name: &str) {
        let index = self.nodes.iter().position(|node| node.name == name).unwrap();
        let mut node = self.nodes.remove(index);
        self.spawn_patroni(&mut node);
        self.nodes.insert(index, node);
    }
}

/// The processes whose command line names `dir` (a postmaster started with `-D dir`,
/// pg_rewind, pg_basebackup).
fn processes_naming(dir: &std::path::Path) -> Vec<u32> {
    let needle = dir.as_os_str().as_encoded_bytes();
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|cmdline| cmdline.split(|b| *b == 0).any(|arg| arg == needle || arg.ends_with(needle)))
        })
        .collect()
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let names: Vec<String> = self.nodes.iter().map(|node| node.name.clone()).collect();
        for name in names {
            self.kill_node(&name);
        }
        for child in &mut self.etcd {
            let _ = child.kill();
            let _ = child.wait();
        }
        // A failed test (or CLUSTER_KEEP=1) keeps every service's log and data for a look.
        if let Some(temporary) = self.temporary.take()
            && (std::thread::panicking() || std::env::var_os("CLUSTER_KEEP").is_some())
        {
            let dir = temporary.keep();
            eprintln!(
                "cluster kept in {0}: etcd logs {0}/etcdN.log, Patroni logs {0}/pgN.log, PostgreSQL logs {0}/pgN-log/",
                dir.display()
            );
        }
    }
}
