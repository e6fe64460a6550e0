//! The cause of the 90-second outage of issue 26 (docs/CLUSTER.md, "Why a failover once did not
//! happen"): the primary died having written WAL that its synchronous standby had not yet
//! received, after Patroni had reported that position to etcd. With
//! `maximum_lag_on_failover: 0` the standby, the only node allowed to be promoted in synchronous
//! mode, then counted itself too far behind, forever: no primary until the dead node returned.
//!
//! Given a loopback cluster (3 etcd with TLS, 3 PostgreSQL under Patroni, strict synchronous
//! mode), when the synchronous standby's WAL receiver is paused, the primary writes WAL that
//! needs no standby (`synchronous_commit = local`: what autovacuum, hint bits and a batch in
//! flight write), Patroni reports that position, and the primary's machine dies, then the
//! standby is still promoted within the bound, and the cluster has a writable primary again.

#![expect(clippy::unwrap_used, reason = "a failing step should stop the test where it fails")]

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use support::cluster::Cluster;

/// The longest the cluster may go without a primary after the kill (Patroni's TTL is 5 s).
const PROMOTION_MAX: Duration = Duration::from_secs(60);
/// How long Patroni may take to report the primary's WAL position to etcd (its loop is 1 s).
const REPORT_MAX: Duration = Duration::from_secs(30);

fn signal(pid: &str, name: &str) {
    assert!(Command::new("kill").args([&format!("-{name}"), pid]).status().unwrap().success(), "kill -{name} {pid}");
}

#[test]
fn a_primary_dying_with_wal_its_synchronous_standby_lacks_still_fails_over() {
    let mut cluster = Cluster::start();
    let leader = cluster.leader().unwrap();
    let standby = cluster.members_in("sync_standby").pop().unwrap();

    // Given: the standby receives nothing more; the primary writes WAL no commit waits for.
    let receiver = cluster.sql(&standby, "SELECT pid FROM pg_stat_wal_receiver").unwrap();
    assert!(!receiver.is_empty(), "{standby} streams from the primary");
    signal(&receiver, "STOP");
    let written = cluster
        .sql(
            &leader,
            "SET synchronous_commit = local; \
             CREATE TABLE filler AS SELECT g, repeat('x', 100) AS pad FROM generate_series(1, 300000) g; \
             SELECT pg_current_wal_lsn() - '0/0'::pg_lsn",
        )
        .unwrap();
    let written: i128 = written.lines().last().unwrap().parse().unwrap();
    let started = Instant::now();
    while cluster.reported_leader_position().is_none_or(|reported| reported < written) {
        assert!(started.elapsed() < REPORT_MAX, "Patroni did not report WAL position {written}");
        std::thread::sleep(Duration::from_millis(200));
    }

    // When: the primary's machine dies; the standby's receiver resumes (nothing to get now).
    cluster.kill_node(&leader);
    let killed = Instant::now();
    signal(&receiver, "CONT");
    std::thread::sleep(Duration::from_secs(1));
    let lag = cluster.lag_behind_reported_leader().into_iter().find(|(name, _)| *name == standby).unwrap().1;
    assert!(lag.is_some_and(|lag| lag > 0), "{standby} lacks WAL the dead primary reported: {lag:?} bytes");

    // Then: the standby is promoted anyway, and takes writes.
    loop {
        if cluster.leader().as_deref() == Some(standby.as_str())
            && cluster.sql(&standby, "SELECT pg_is_in_recovery()").as_deref() == Some("f")
        {
            break;
        }
        assert!(
            killed.elapsed() < PROMOTION_MAX,
            "no primary {PROMOTION_MAX:?} after the kill ({standby} was {lag:?} bytes behind): {:?}",
            cluster.roles()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let promoted = killed.elapsed();
    assert_eq!(cluster.sql(&standby, "CREATE TABLE after_failover (n int)").as_deref(), Some("CREATE TABLE"));
    println!(
        "failover candidate: {standby} was {} bytes behind the position the dead primary {leader} had reported; \
         promoted {:.1} s after the kill",
        lag.unwrap_or_default(),
        promoted.as_secs_f64()
    );
}
