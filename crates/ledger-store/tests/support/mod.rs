//! A PostgreSQL server for one test: initdb in a temporary directory, started on loopback with
//! its socket in that directory, stopped (immediately) when dropped. As root, the server runs as
//! the `postgres` user (initdb refuses root). The binaries: `LEDGER_PG_BIN`, else the newest
//! `/usr/lib/postgresql/*/bin` (scripts/setup installs postgresql when missing).

#![allow(dead_code, reason = "each test file uses its own subset")]
#![expect(clippy::unwrap_used, clippy::expect_used, reason = "test support: a failure stops the test")]

pub mod cluster;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub struct PgServer {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    as_postgres: bool,
}

pub(crate) fn pg_bin() -> PathBuf {
    if let Some(dir) = std::env::var_os("LEDGER_PG_BIN") {
        return PathBuf::from(dir);
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL is not installed (/usr/lib/postgresql): run scripts/setup")
        .filter_map(|entry| entry.ok().map(|entry| entry.path().join("bin")))
        .filter(|bin| bin.join("initdb").exists())
        .collect();
    found.sort();
    found.pop().expect("no /usr/lib/postgresql/*/bin/initdb: run scripts/setup")
}

pub(crate) fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

impl PgServer {
    pub fn start() -> PgServer {
        let dir = tempfile::tempdir().unwrap();
        let as_postgres = is_root();
        if as_postgres {
            let status = Command::new("chown").arg("postgres").arg(dir.path()).status().unwrap();
            assert!(status.success(), "chown postgres {}", dir.path().display());
        }
        let server = PgServer { port: free_port(), bin: pg_bin(), dir, as_postgres };
        let data = server.data();
        server.run("initdb", &["-D", &data, "-A", "trust", "-U", "ledger", "--no-sync", "-E", "UTF8"]);
        let socket = server.dir.path().to_string_lossy().into_owned();
        let settings = format!("-c listen_addresses=127.0.0.1 -p {} -k {socket} -c fsync=off", server.port);
        let log = server.dir.path().join("log").to_string_lossy().into_owned();
        server.run("pg_ctl", &["-D", &data, "-o", &settings, "-l", &log, "-w", "-t", "60", "start"]);
        server
    }

    fn data(&self) -> String {
        self.dir.path().join("data").to_string_lossy().into_owned()
    }

    fn run(&self, program: &str, args: &[&str]) -> Output {
        let path = self.bin.join(program);
        let output = if self.as_postgres {
            Command::new("runuser").args(["-u", "postgres", "--"]).arg(&path).args(args).output()
        } else {
            Command::new(&path).args(args).output()
        }
        .unwrap();
        assert!(
            output.status.success(),
            "{program} {args:?}: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }

    /// Creates database `name`; returns its URL.
    pub fn create_database(&self, name: &str) -> String {
        let port = self.port.to_string();
        self.run("createdb", &["-h", "127.0.0.1", "-p", &port, "-U", "ledger", name]);
        format!("postgres://ledger@127.0.0.1:{}/{name}", self.port)
    }

    /// A loopback port nothing listens on.
    pub fn free_port(&self) -> u16 {
        free_port()
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let data = self.data();
        let path = self.bin.join("pg_ctl");
        let args = ["-D", data.as_str(), "-m", "immediate", "-w", "stop"];
        let _ = if self.as_postgres {
            Command::new("runuser").args(["-u", "postgres", "--"]).arg(&path).args(args).output()
        } else {
            Command::new(&path).args(args).output()
        };
    }
}

/// A loopback port free now, for a service a test starts. Taken below the kernel's ephemeral
/// range (`ip_local_port_range`) when there is room: a port from that range (what binding port 0
/// gives) can be taken by any outgoing connection — etcd's, Patroni's, a replica's — before the
/// service binds it, and a cluster then formed without one member (Patroni: "Address already
/// in use") and hung on its first synchronous commit. Never the same port twice in a process.
pub(crate) fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(0);
    const FIRST: u16 = 10_000;
    if low > FIRST + 1_000 {
        let span = u32::from(low - FIRST);
        let start = (uuid::Uuid::new_v4().as_u128() % u128::from(span)) as u32;
        for step in 0..span {
            let port = FIRST + ((start + step) % span) as u16;
            if !given.contains(&port) && TcpListener::bind(("127.0.0.1", port)).is_ok() {
                given.push(port);
                return port;
            }
        }
    }
    loop {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

/// Where one test's ledger lives: a temporary directory (RocksDB), or a database on a
/// PostgreSQL server of the test's own.
pub enum Db {
    Rocks(tempfile::TempDir),
    Postgres(PgServer, PathBuf),
}

impl Db {
    pub fn rocks() -> Db {
        Db::Rocks(tempfile::tempdir().unwrap())
    }

    pub fn postgres() -> Db {
        let server = PgServer::start();
        let url = server.create_database("ledger");
        Db::Postgres(server, PathBuf::from(url))
    }

    /// The `path` to give `Ledger::create/open` and `Reader::open`.
    pub fn path(&self) -> &Path {
        match self {
            Db::Rocks(dir) => dir.path(),
            Db::Postgres(_, url) => url,
        }
    }
}

/// One test body, run twice: `NAME::rocksdb` and `NAME::postgres`, with `$db: &Path` naming a
/// fresh, empty ledger location on each backend.
#[allow(unused_macros, reason = "each test file uses its own subset")]
macro_rules! on_both_backends {
    (fn $name:ident($db:ident) $body:block) => {
        mod $name {
            #[allow(unused_imports, reason = "the body uses what the test file imports")]
            use super::*;

            #[test]
            fn rocksdb() {
                let db = crate::support::Db::rocks();
                let $db: &std::path::Path = db.path();
                $body
            }

            #[test]
            fn postgres() {
                let db = crate::support::Db::postgres();
                let $db: &std::path::Path = db.path();
                $body
            }
        }
    };
}
#[allow(unused_imports, reason = "each test file uses its own subset")]
pub(crate) use on_both_backends;

/// Copies a file, or a directory with everything in it (a ledger's `projected/` too).
pub fn copy_tree(from: &Path, to: &Path) {
    if from.is_dir() {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            copy_tree(&entry.path(), &to.join(entry.file_name()));
        }
    } else {
        std::fs::copy(from, to).unwrap();
    }
}
