//! HTTP edges on a real server: every error in the `{error, detail}` shape (405 included),
//! unknown query parameters refused on every route, the bearer scheme case-insensitive, and
//! HTTP/1.1 only (no cleartext HTTP/2, no HTTP/2 offered by TLS ALPN).
#![expect(clippy::unwrap_used, clippy::panic, reason = "tests")]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{AUDITOR, BACK_OFFICE, OPERATOR, Server, Workspace, ask, at, host, id, tls_files};
use serde_json::{Value, json};

/// A request from a raw socket: status and JSON body (Null when not JSON).
fn request(addr: &str, method: &str, path: &str, authorization: Option<&str>, body: &str) -> (u16, Value) {
    let auth = authorization.map_or(String::new(), |value| format!("Authorization: {value}\r\n"));
    let text = format!(
        "{method} {path} HTTP/1.1\r\nHost: ledger\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut stream = TcpStream::connect(addr).unwrap();
    let (status, body) = ask(&mut stream, text.as_bytes(), Duration::from_secs(30))
        .unwrap_or_else(|| panic!("{method} {path}: no answer"));
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

/// method, path, Authorization, body → status, error code (None: an answer, not an error).
type Row<'a> = (&'a str, &'a str, Option<&'a str>, &'a str, u16, Option<&'a str>);

#[test]
fn every_error_has_its_shape_and_every_route_its_parameters() {
    let work = Workspace::new("");
    let server = work.start();
    let addr = host(&server.url);
    let payment =
        json!({ "type": "payment", "id": id(1), "at": at(1), "from": 71, "merchant": "Metro", "amount": "1" })
            .to_string();
    let office = format!("Bearer {BACK_OFFICE}");
    let operator = format!("Bearer {OPERATOR}");
    let (lower, upper) = (format!("bearer {AUDITOR}"), format!("BEARER {AUDITOR}"));
    let table: [Row; 10] = [
        ("PUT", "/v1/commands", Some(&operator), "", 405, Some("method_not_allowed")),
        ("GET", "/v1/batches", Some(&operator), "", 405, Some("method_not_allowed")),
        ("DELETE", "/healthz", None, "", 405, Some("method_not_allowed")),
        ("POST", "/v1/check?bogus=1", Some(&office), &payment, 400, Some("malformed")),
        ("POST", "/v1/check?brief=maybe", Some(&office), &payment, 400, Some("malformed")),
        ("POST", "/v1/commands?bogus=1", Some(&office), &payment, 400, Some("malformed")),
        ("GET", "/v1/head", Some(&lower), "", 200, None),
        ("GET", "/v1/head", Some(&upper), "", 200, None),
        ("GET", "/v1/head", Some("Basic YXVkaXQ6eA=="), "", 401, Some("unauthorized")),
        ("GET", "/v1/nowhere", Some(&operator), "", 404, Some("not_found")),
    ];
    let mut wrong = Vec::new();
    for (method, path, authorization, body, status, error) in table {
        let (got, answer) = request(&addr, method, path, authorization, body);
        println!("{method} {path} {authorization:?}: {got} {answer}");
        let shaped = error.is_none_or(|error| {
            answer["error"] == error && answer["detail"].as_str().is_some_and(|detail| !detail.is_empty())
        });
        if got != status || !shaped {
            wrong.push(format!("{method} {path} {authorization:?}: {got} {answer}"));
        }
    }
    assert!(wrong.is_empty(), "rows answered otherwise than the table says:\n{}", wrong.join("\n"));
    // `brief` is honoured by the dry run as by /v1/commands.
    let (_, full) = request(&addr, "POST", "/v1/check", Some(&office), &payment);
    let (_, brief) = request(&addr, "POST", "/v1/check?brief=true", Some(&office), &payment);
    println!("check: {full}\ncheck?brief=true: {brief}");
    assert!(full.get("event").is_some() && brief.get("event").is_none(), "{full} / {brief}");
    assert_eq!((brief["status"].clone(), brief["dry_run"].clone()), (full["status"].clone(), json!(true)));
}

/// Cleartext HTTP/2 with prior knowledge gets no HTTP/2 frame back (the old server answered
/// with a SETTINGS frame).
#[test]
fn cleartext_http2_is_not_served() {
    let work = Workspace::new("");
    let server = work.start();
    let mut stream = TcpStream::connect(host(&server.url)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    // The preface, then an empty SETTINGS frame.
    stream.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00").unwrap();
    let mut reply = Vec::new();
    let _ = stream.read_to_end(&mut reply);
    println!("answer to the HTTP/2 preface: {:?}", String::from_utf8_lossy(&reply));
    assert!(reply.is_empty() || reply.starts_with(b"HTTP/1.1 "), "an HTTP/2 answer: {reply:?}");
}

/// Over TLS, ALPN offers HTTP/1.1 only: a client asking for h2 (then http/1.1) gets http/1.1.
#[test]
fn tls_alpn_offers_http1_only() {
    let work = Workspace::new("");
    let (cert, key) = tls_files(work.dir.path());
    let server = Server::start(
        &work.db,
        &work.config,
        &["--tls-cert", cert.to_str().unwrap(), "--tls-key", key.to_str().unwrap()],
    );
    let output = Command::new("openssl")
        .args(["s_client", "-connect", &host(&server.url), "-alpn", "h2,http/1.1"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    let alpn = text.lines().find(|line| line.contains("ALPN")).unwrap_or("no ALPN line");
    println!("openssl s_client -alpn h2,http/1.1: {alpn}");
    assert!(alpn.contains("ALPN protocol: http/1.1"), "{text}");
}
