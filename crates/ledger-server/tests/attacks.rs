//! Attacks on a real server from real sockets on loopback, one per limit of docs/SERVER.md's
//! `[limits]` table: each test names the limit, mounts the attack and prints what it measured.
//! Time bounds are generous (a loaded 2-core machine); nothing asserts speed.
#![expect(clippy::unwrap_used, clippy::panic, reason = "tests")]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{AUDITOR, BACK_OFFICE, Client, OPERATOR, Server, Workspace, ask, at, host, id, tls_files};
use serde_json::{Value, json};

/// The server's resident memory in KiB (VmRSS in /proc/PID/status).
fn rss_kib(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|line| line.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Whether the server closed `stream` (a read ends or fails); what came is read and dropped.
fn closed(stream: &mut TcpStream) -> bool {
    stream.set_nonblocking(true).unwrap();
    let mut chunk = [0u8; 4096];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => return false,
            Err(_) => return true,
        }
    }
}

/// Watches `streams` until all are closed or `max` passes, calling `tick` on the open ones
/// every 200 ms; returns when each closed (None: still open at the end).
fn watch_closing(
    streams: &mut [TcpStream],
    max: Duration,
    mut tick: impl FnMut(&mut TcpStream),
) -> Vec<Option<Duration>> {
    let started = Instant::now();
    let mut closed_after = vec![None; streams.len()];
    while started.elapsed() < max {
        for (stream, when) in streams.iter_mut().zip(closed_after.iter_mut()) {
            if when.is_none() {
                if closed(stream) {
                    *when = Some(started.elapsed());
                } else {
                    tick(stream);
                }
            }
        }
        if closed_after.iter().all(Option::is_some) {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    closed_after
}

/// A POST's head without a body: `authorization` (a whole header value) and a declared length.
fn post_head(path: &str, authorization: Option<&str>, length: u64) -> String {
    let auth = authorization.map_or(String::new(), |value| format!("Authorization: {value}\r\n"));
    format!(
        "POST {path} HTTP/1.1\r\nHost: ledger\r\n{auth}Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    )
}

fn error_code(body: &str) -> String {
    serde_json::from_str::<Value>(body)
        .map(|value| value["error"].as_str().unwrap_or("").to_owned())
        .unwrap_or_default()
}

/// `body_bytes_max` and the token: decided from the headers, before a byte of the body is
/// sent (the attacker never sends it; an answer that needed it would never come).
#[test]
fn the_headers_decide_before_any_byte_of_the_body_is_read() {
    let work = Workspace::new("");
    let server = work.start();
    let addr = host(&server.url);
    let huge = 1_000_000_000_000u64;
    let operator = format!("Bearer {OPERATOR}");
    let lower = format!("bearer {OPERATOR}");
    let (auditor, back_office) = (format!("Bearer {AUDITOR}"), format!("Bearer {BACK_OFFICE}"));
    let table: [(&str, Option<&str>, u64, u16, &str); 12] = [
        // A role that may never do it: 403 from the headers (an outsider's finding: the
        // auditor's 16 MiB bodies were read, and parsed, before the 403).
        ("/v1/commands", Some(&auditor), 1_000_000, 403, "forbidden"),
        ("/v1/batches", Some(&auditor), 1_000_000, 403, "forbidden"),
        ("/v1/check", Some(&auditor), 1_000_000, 403, "forbidden"),
        ("/v1/backups", Some(&back_office), 1_000, 403, "forbidden"),
        ("/v1/tick", Some(&back_office), 1_000, 403, "forbidden"),
        ("/v1/commands", None, huge, 401, "unauthorized"),
        ("/v1/commands", Some("Bearer nope"), huge, 401, "unauthorized"),
        ("/v1/batches", None, 1_000_000, 401, "unauthorized"),
        ("/v1/check", Some("Basic b3A6b3A="), huge, 401, "unauthorized"),
        ("/v1/commands", Some(&operator), huge, 413, "too_large"),
        ("/v1/batches", Some(&lower), 16_777_217, 413, "too_large"),
        ("/v1/check", Some(&operator), huge, 413, "too_large"),
    ];
    for (path, authorization, length, status, error) in table {
        let mut stream = TcpStream::connect(&addr).unwrap();
        let started = Instant::now();
        let answer = ask(&mut stream, post_head(path, authorization, length).as_bytes(), Duration::from_secs(20));
        println!("{path} {authorization:?} Content-Length {length}: {answer:?} after {:?}", started.elapsed());
        let (got, body) = answer.unwrap_or_else(|| panic!("{path} {authorization:?}: no answer without the body"));
        assert_eq!((got, error_code(&body).as_str()), (status, error), "{path} {authorization:?} {length}: {body}");
    }
}

/// The token before the body, measured: 40 connections without a token each declare a body
/// just under `body_bytes_max`, get their 401, then push 15 MiB; the server's memory stays
/// under 64 MiB over its idle size.
#[test]
fn an_unauthenticated_flood_of_large_bodies_stays_within_64_mib() {
    let work = Workspace::new("");
    let server = work.start();
    let addr = host(&server.url);
    let pid = server.pid();
    assert_eq!(Client::new(&server.url, None).get_text("/healthz").0, 200);
    let idle = rss_kib(pid);
    let (done_tx, done_rx) = mpsc::channel();
    let mut floods = Vec::new();
    for _ in 0..40 {
        let (addr, done) = (addr.clone(), done_tx.clone());
        floods.push(std::thread::spawn(move || {
            let mut stream = TcpStream::connect(&addr).unwrap();
            let answer =
                ask(&mut stream, post_head("/v1/commands", None, 16_777_215).as_bytes(), Duration::from_secs(20));
            let chunk = vec![b'x'; 64 << 10];
            let mut sent = 0usize;
            while sent < 15 << 20 {
                if stream.write_all(&chunk).is_err() {
                    break;
                }
                sent += chunk.len();
            }
            let _ = done.send(());
            (answer.map(|(status, _)| status), sent, stream)
        }));
    }
    drop(done_tx);
    let mut peak = idle;
    while done_rx.recv_timeout(Duration::from_millis(20)) != Err(mpsc::RecvTimeoutError::Disconnected) {
        peak = peak.max(rss_kib(pid));
    }
    let results: Vec<_> = floods.into_iter().map(|flood| flood.join().unwrap()).collect();
    peak = peak.max(rss_kib(pid));
    let statuses: Vec<Option<u16>> = results.iter().map(|(status, _, _)| *status).collect();
    let pushed: usize = results.iter().map(|(_, sent, _)| sent).sum();
    println!(
        "40 unauthenticated floods: idle RSS {} KiB, peak {} KiB (+{} KiB); {} MiB pushed; answers {statuses:?}",
        idle,
        peak,
        peak - idle,
        pushed >> 20
    );
    assert!(statuses.iter().all(|status| *status == Some(401)), "every flood gets its 401: {statuses:?}");
    assert!(peak - idle < 64 << 10, "memory grew by {} KiB", peak - idle);
}

/// A server with `limits` (TOML lines), over plain HTTP or TLS.
fn server(limits: &str, tls: bool) -> (Workspace, Server) {
    let work = Workspace::new(&format!("[limits]\n{limits}\n"));
    let server = if tls {
        let (cert, key) = tls_files(work.dir.path());
        Server::start(
            &work.db,
            &work.config,
            &["--tls-cert", cert.to_str().unwrap(), "--tls-key", key.to_str().unwrap()],
        )
    } else {
        work.start()
    };
    (work, server)
}

/// `header_timeout_seconds`, on the plain and the TLS listener: slowloris connections (a byte
/// of header every 200 ms), connections that send nothing, and (plain) connections kept alive
/// after an answer are all closed within the timeout (2 s here; waited for up to 30 s).
#[test]
fn slow_and_idle_connections_are_closed_within_the_header_timeout() {
    for tls in [false, true] {
        let (_work, server) = server("header_timeout_seconds = 2", tls);
        let addr = host(&server.url);
        let mut slow: Vec<TcpStream> = (0..100).map(|_| TcpStream::connect(&addr).unwrap()).collect();
        for stream in &mut slow {
            stream.write_all(b"GET /healthz HTTP/1.1\r\nX-Slow: ").unwrap();
        }
        let mut idle: Vec<TcpStream> = (0..100).map(|_| TcpStream::connect(&addr).unwrap()).collect();
        let mut kept: Vec<TcpStream> = Vec::new();
        if !tls {
            for _ in 0..20 {
                let mut stream = TcpStream::connect(&addr).unwrap();
                let answer =
                    ask(&mut stream, b"GET /healthz HTTP/1.1\r\nHost: ledger\r\n\r\n", Duration::from_secs(20));
                assert_eq!(answer.map(|(status, _)| status), Some(200));
                kept.push(stream);
            }
        }
        let bound = Duration::from_secs(30);
        let slow_closed = watch_closing(&mut slow, bound, |stream| {
            let _ = stream.write_all(b"x");
        });
        let idle_closed = watch_closing(&mut idle, bound, |_| {});
        let kept_closed = watch_closing(&mut kept, bound, |_| {});
        let slow_what = if tls { "slowloris (plain text: the handshake fails)" } else { "slowloris" };
        for (what, closed) in [(slow_what, &slow_closed), ("silent", &idle_closed), ("kept alive", &kept_closed)] {
            let open = closed.iter().filter(|when| when.is_none()).count();
            let last = closed.iter().flatten().max();
            println!(
                "tls {tls}: {} {what} connections: {open} still open after {bound:?}; last closed after {last:?}",
                closed.len()
            );
            assert_eq!(open, 0, "tls {tls}: {what} connections outlive the header timeout");
        }
    }
}

/// `connections_max`, on the plain and the TLS listener: above it a connection is closed at
/// once (the header timeout here is 60 s, so nothing else closes it), and a place frees when a
/// connection ends.
#[test]
fn connections_above_connections_max_are_closed_at_once() {
    for tls in [false, true] {
        let (_work, server) = server("connections_max = 20\nheader_timeout_seconds = 60", tls);
        let addr = host(&server.url);
        let mut held: Vec<TcpStream> = Vec::new();
        for _ in 0..30 {
            held.push(TcpStream::connect(&addr).unwrap());
            std::thread::sleep(Duration::from_millis(20));
        }
        let closed = watch_closing(&mut held, Duration::from_secs(10), |_| {});
        let refused = closed.iter().filter(|when| when.is_some()).count();
        println!("tls {tls}: 30 connections with connections_max 20: {refused} closed at once ({closed:?})");
        assert_eq!(refused, 10, "tls {tls}: the connections above connections_max are closed, the others kept");
        if !tls {
            // A place frees when a connection ends: /healthz answers again.
            held.retain(|_| false);
            let healthy = (0..100).any(|_| {
                std::thread::sleep(Duration::from_millis(100));
                let mut stream = TcpStream::connect(&addr).unwrap();
                let answer = ask(&mut stream, b"GET /healthz HTTP/1.1\r\nHost: ledger\r\n\r\n", Duration::from_secs(5));
                answer.map(|(status, _)| status) == Some(200)
            });
            assert!(healthy, "/healthz answers once the connections are gone");
        }
    }
}

/// `connections_max` under `ulimit -n 256`: the server keeps files for the ledger (the limit
/// is lowered to 192), 300 idle connections are refused or closed within the header timeout,
/// then /healthz answers and a command is recorded.
#[test]
fn under_a_low_open_file_limit_the_ledger_keeps_working_after_a_connection_flood() {
    let work = Workspace::new("[limits]\nheader_timeout_seconds = 3\n");
    let server = Server::start_with_files(&work.db, &work.config, 256);
    let addr = host(&server.url);
    let mut idle: Vec<TcpStream> = (0..300).filter_map(|_| TcpStream::connect(&addr).ok()).collect();
    let closed = watch_closing(&mut idle, Duration::from_secs(40), |_| {});
    let open = closed.iter().filter(|when| when.is_none()).count();
    let first_second = closed.iter().flatten().filter(|when| **when < Duration::from_secs(1)).count();
    println!(
        "{} idle connections under ulimit -n 256: {first_second} closed within 1 s, {open} open after 40 s",
        idle.len()
    );
    assert_eq!(open, 0, "idle connections outlive the header timeout");
    let office = Client::with_timeout(&server.url, Some(BACK_OFFICE), Duration::from_secs(30));
    assert_eq!(office.get_text("/healthz").0, 200);
    let open_account = json!({ "type": "open_account", "id": id(1), "at": at(1), "account": 10, "customer": 7,
        "class": "I", "binding": null, "verified_in_person": true });
    let reply = office.post("/v1/commands", &open_account.to_string()).unwrap();
    assert_eq!((reply.status, reply.body["status"].as_str()), (200, Some("accepted")), "{reply:?}");
}

/// `long_polls_max`: with 2 allowed, 3 of 5 long polls get 503 busy with Retry-After at once;
/// the 2 waiting are answered by the next record.
#[test]
fn long_polls_above_long_polls_max_get_503_busy() {
    let (_work, server) = server("long_polls_max = 2", false);
    let (tx, rx) = mpsc::channel();
    for _ in 0..5 {
        let (auditor, tx) = (Client::new(&server.url, Some(AUDITOR)), tx.clone());
        std::thread::spawn(move || tx.send(auditor.get("/v1/events?after=1&wait=20").unwrap()));
    }
    let busy: Vec<_> = (0..3).map(|_| rx.recv_timeout(Duration::from_secs(15)).unwrap()).collect();
    println!("3 answers before any record: {busy:?}");
    for reply in &busy {
        assert_eq!((reply.status, reply.body["error"].as_str()), (503, Some("busy")), "{reply:?}");
        assert_eq!(reply.retry_after.as_deref(), Some("1"));
    }
    let office = Client::new(&server.url, Some(BACK_OFFICE));
    let open_account = json!({ "type": "open_account", "id": id(1), "at": at(1), "account": 10, "customer": 7,
        "class": "I", "binding": null, "verified_in_person": true });
    assert_eq!(office.post("/v1/commands", &open_account.to_string()).unwrap().status, 200);
    for _ in 0..2 {
        let reply = rx.recv_timeout(Duration::from_secs(30)).unwrap();
        assert_eq!((reply.status, reply.body["records"].as_array().map(Vec::len)), (200, Some(1)), "{reply:?}");
    }
}

/// `shutdown_grace_seconds` is not spent on long polls: 20 polls in flight are answered at
/// once on SIGTERM (an empty page, the same `after`) and the server exits 0 well inside the
/// grace (60 s here, the polls' wait 20 s; bound 10 s).
#[test]
fn sigterm_answers_long_polls_at_once_and_exits() {
    let (_work, mut server) = server("shutdown_grace_seconds = 60", false);
    let (tx, rx) = mpsc::channel();
    for _ in 0..20 {
        let (auditor, tx) = (Client::new(&server.url, Some(AUDITOR)), tx.clone());
        std::thread::spawn(move || tx.send(auditor.get("/v1/events?after=1&wait=20")));
    }
    // Every poll sent and waiting (bounded; a poll not yet read would get no answer).
    std::thread::sleep(Duration::from_secs(3));
    let started = Instant::now();
    let (code, stderr) = server.stop();
    let stopped = started.elapsed();
    let replies: Vec<_> = (0..20).map(|_| rx.recv_timeout(Duration::from_secs(30)).unwrap()).collect();
    println!("SIGTERM with 20 long polls in flight: exit {code:?} after {stopped:?}");
    assert_eq!(code, Some(0), "{stderr}");
    for reply in replies {
        let reply = reply.unwrap();
        assert_eq!(reply.status, 200, "{reply:?}");
        assert_eq!(
            (reply.body["records"].as_array().map(Vec::len), reply.body["next_after"].as_u64()),
            (Some(0), Some(1))
        );
    }
    assert!(stopped < Duration::from_secs(10), "the exit waited out the polls: {stopped:?}");
}

/// `events_bytes_max`: a page stops before the byte bound (1,500 here) but always holds a
/// record; `next_after` tells where it stopped, and the pages together are the whole log.
#[test]
fn an_events_page_is_bounded_in_bytes_and_always_holds_a_record() {
    let bytes_max = 1_500;
    let (_work, server) = server(&format!("events_bytes_max = {bytes_max}"), false);
    let office = Client::new(&server.url, Some(BACK_OFFICE));
    let auditor = Client::new(&server.url, Some(AUDITOR));
    let lines: Vec<String> = (0..12u64)
        .map(|n| {
            json!({ "type": "open_account", "id": id(n + 1), "at": at(n + 1), "account": 100 + n, "customer": 7 + n,
                "class": "I", "binding": null, "verified_in_person": true })
            .to_string()
        })
        .collect();
    let batch = office.post_bytes("/v1/batches", lines.join("\n").as_bytes()).unwrap();
    assert_eq!(batch.status, 200, "{batch:?}");
    let head = auditor.head_seq();
    let (mut after, mut pages) = (0, Vec::new());
    while after < head {
        let page = auditor.get(&format!("/v1/events?after={after}&limit=1000")).unwrap();
        assert_eq!(page.status, 200, "{page:?}");
        let records = page.body["records"].as_array().unwrap();
        let bytes: usize = records.iter().map(|record| record.to_string().len() + 1).sum();
        let seqs: Vec<u64> = records.iter().map(|record| record["seq"].as_u64().unwrap()).collect();
        assert!(!records.is_empty(), "a page always holds a record");
        assert!(records.len() == 1 || bytes <= bytes_max, "{} records, {bytes} bytes", records.len());
        assert_eq!(seqs, (after + 1..=after + seqs.len() as u64).collect::<Vec<_>>());
        assert_eq!(page.body["next_after"].as_u64(), Some(after + seqs.len() as u64));
        pages.push((records.len(), bytes));
        after += seqs.len() as u64;
    }
    println!("{head} records in pages of (records, bytes) {pages:?} with events_bytes_max {bytes_max}");
    assert!(pages.len() > 2 && pages.iter().any(|(records, _)| *records > 1), "{pages:?}");
}

/// Routes that take no query parameters refuse any (an outsider's finding: `?bogus=1` was
/// ignored by head, balance, protections, accounts, the risk list, tick and backups, and the
/// backup was written).
#[test]
fn routes_without_query_parameters_refuse_any() {
    let work = Workspace::new("");
    let server = work.start();
    let operator = Client::new(&server.url, Some(OPERATOR));
    let table: [(&str, &str); 10] = [
        ("GET", "/v1/head?bogus=1"),
        ("GET", "/v1/whoami?bogus=1"),
        ("GET", "/v1/accounts/70/rejections?bogus=1"),
        ("GET", "/v1/accounts/70/balance?bogus=1"),
        ("GET", "/v1/accounts/70/protections?x"),
        ("GET", "/v1/customers/7/accounts?bogus=1"),
        ("GET", "/v1/risk-list/CCB-1?bogus=1"),
        ("GET", "/v1/risk-list?bogus=1"),
        ("POST", "/v1/tick?brief=true"),
        ("POST", "/v1/backups?bogus=1"),
    ];
    for (method, path) in table {
        let reply =
            if method == "GET" { operator.get(path).unwrap() } else { operator.post(path, r#"{"name":"b"}"#).unwrap() };
        assert_eq!(
            (reply.status, reply.body["error"].as_str()),
            (400, Some("malformed")),
            "{method} {path}: {reply:?}"
        );
    }
    // Without the query, the same routes answer.
    assert_eq!(operator.get("/v1/head").unwrap().status, 200);
    assert_eq!(operator.get("/v1/risk-list").unwrap().status, 200);
}

/// Holders of valid tokens cannot make the server hold more request bodies than
/// `inflight_bytes_max` (an outsider's finding: 16 back-office bodies of 16 MiB at once, or 64
/// auditors fetching 4 MiB pages, grew the server by 186 and 336 MB). Each connection declares
/// a 15 MiB body and never sends it, so each holds its room while the server waits.
#[test]
fn bodies_in_flight_beyond_inflight_bytes_max_get_503_busy() {
    let (_work, server) = server("inflight_bytes_max = 33554432", false);
    let addr = host(&server.url);
    let back_office = format!("Bearer {BACK_OFFICE}");
    let head = post_head("/v1/batches", Some(&back_office), 15 << 20);
    // Two fit in 32 MiB: the server waits for their bodies (no answer yet).
    let mut held: Vec<TcpStream> = Vec::new();
    for _ in 0..2 {
        let mut stream = TcpStream::connect(&addr).unwrap();
        assert_eq!(
            ask(&mut stream, head.as_bytes(), Duration::from_secs(1)),
            None,
            "a body within the budget is awaited"
        );
        held.push(stream);
    }
    // A third does not: 503 busy at once, with Retry-After.
    let mut third = TcpStream::connect(&addr).unwrap();
    let (status, body) = ask(&mut third, head.as_bytes(), Duration::from_secs(20)).unwrap();
    assert_eq!((status, error_code(&body).as_str()), (503, "busy"), "{body}");
    // Once a held one goes, its room is free again.
    drop(held.pop());
    let freed = (0..100).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        let mut probe = TcpStream::connect(&addr).unwrap();
        ask(&mut probe, head.as_bytes(), Duration::from_millis(500)).is_none()
    });
    assert!(freed, "the room of a closed connection is given back");
}
