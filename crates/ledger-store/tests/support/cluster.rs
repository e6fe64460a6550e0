//! A loopback cluster for one test (docs/CLUSTER.md): 3 etcd members and 3 PostgreSQL nodes
//! under Patroni with `synchronous_mode_strict` (a primary, its synchronous standby, and a
//! replica that becomes the new synchronous standby after a failover), in a temporary directory; every process is
//! SIGKILLed when the cluster is dropped. As root, Patroni and PostgreSQL run as `postgres`
//! (through `setpriv`, so the child is Patroni itself and can be killed as a machine would die).

#![allow(dead_code, reason = "each test file uses its own subset")]
#![expect(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "test support: a failure stops the test")]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{free_port, is_root, pg_bin};

/// How long the cluster may take to elect a primary with a synchronous standby.
const FORM_MAX: Duration = Duration::from_secs(90);

pub struct Node {
    pub name: String,
    pub pg_port: u16,
    pub rest_port: u16,
    config: PathBuf,
    data: PathBuf,
    patroni: Option<Child>,
}

pub struct Cluster {
    dir: tempfile::TempDir,
    etcd: Vec<Child>,
    /// The etcd members' client URLs.
    pub etcd_urls: Vec<String>,
    pub nodes: Vec<Node>,
    as_postgres: bool,
}

impl Cluster {
    pub fn start() -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let as_postgres = is_root();
        if as_postgres {
            assert!(Command::new("chown").arg("postgres").arg(dir.path()).status().unwrap().success());
        }
        let peers: Vec<(u16, u16)> = (0..3).map(|_| (free_port(), free_port())).collect();
        let initial: Vec<String> =
            peers.iter().enumerate().map(|(i, (_, peer))| format!("e{i}=http://127.0.0.1:{peer}")).collect();
        let mut etcd = Vec::new();
        for (i, (client, peer)) in peers.iter().enumerate() {
            let log = std::fs::File::create(dir.path().join(format!("etcd{i}.log"))).unwrap();
            let child = Command::new("etcd")
                .args(["--name", &format!("e{i}")])
                .arg("--data-dir")
                .arg(dir.path().join(format!("etcd{i}")))
                .args(["--listen-client-urls", &format!("http://127.0.0.1:{client}")])
                .args(["--advertise-client-urls", &format!("http://127.0.0.1:{client}")])
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
        let etcd_urls = hosts.iter().map(|host| format!("http://{host}")).collect();
        let mut cluster = Cluster { dir, etcd, etcd_urls, nodes: Vec::new(), as_postgres };
        for i in 1..=3 {
            let (pg_port, rest_port) = (free_port(), free_port());
            let name = format!("pg{i}");
            let data = cluster.dir.path().join(&name);
            let config = cluster.dir.path().join(format!("{name}.yml"));
            let socket = cluster.dir.path().to_string_lossy().into_owned();
            let text = format!(
                "scope: ledger\nnamespace: /service/\nname: {name}\n\
                 restapi:\n  listen: 127.0.0.1:{rest_port}\n  connect_address: 127.0.0.1:{rest_port}\n\
                 etcd3:\n  hosts: {hosts}\n\
                 bootstrap:\n  dcs:\n    ttl: 5\n    loop_wait: 1\n    retry_timeout: 2\n    maximum_lag_on_failover: 0\n\
                 \x20   synchronous_mode: true\n    synchronous_mode_strict: true\n\
                 \x20   postgresql:\n      use_pg_rewind: true\n      parameters:\n        synchronous_commit: 'on'\n        wal_retrieve_retry_interval: 250ms\n\
                 \x20       max_wal_senders: 5\n        max_replication_slots: 5\n        wal_keep_size: 256MB\n\
                 \x20 initdb:\n    - encoding: UTF8\n    - auth: trust\n\
                 \x20 pg_hba:\n    - local all all trust\n    - host all all 127.0.0.1/32 trust\n    - host replication all 127.0.0.1/32 trust\n\
                 postgresql:\n  listen: 127.0.0.1:{pg_port}\n  connect_address: 127.0.0.1:{pg_port}\n\
                 \x20 data_dir: {data}\n  bin_dir: {bin}\n  pgpass: {socket}/pgpass{i}\n\
                 \x20 authentication:\n    superuser:\n      username: ledger\n      password: ledger\n\
                 \x20   replication:\n      username: replicator\n      password: replicator\n\
                 \x20 parameters:\n    unix_socket_directories: {socket}\n",
                hosts = hosts.join(","),
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
            .open(self.dir.path().join(format!("{}.log", node.name)))
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

    /// Waits for a leader and a synchronous standby.
    pub fn wait_formed(&self, max: Duration) {
        self.wait_members(2, max);
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

    /// SIGKILLs a node's Patroni and its PostgreSQL postmaster: the machine is gone.
    pub fn kill_node(&mut self, name: &str) {
        let index = self.nodes.iter().position(|node| node.name == name).unwrap();
        let node = &mut self.nodes[index];
        if let Some(mut child) = node.patroni.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Ok(text) = std::fs::read_to_string(node.data.join("postmaster.pid"))
            && let Some(pid) = text.lines().next()
        {
            let _ = Command::new("kill").args(["-KILL", pid.trim()]).status();
        }
    }

    /// Starts a killed node's Patroni again (it rejoins as a standby).
    pub fn restart_node(&mut self, name: &str) {
        let index = self.nodes.iter().position(|node| node.name == name).unwrap();
        let mut node = self.nodes.remove(index);
        self.spawn_patroni(&mut node);
        self.nodes.insert(index, node);
    }
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
        // CLUSTER_KEEP=1 keeps the logs and data of a failed run for a look.
        if std::env::var_os("CLUSTER_KEEP").is_some() {
            let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap());
            eprintln!("cluster kept in {}", dir.keep().display());
        }
    }
}
