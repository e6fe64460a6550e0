//! The Java client (clients/java), built with javac from Debian's JDK and Jackson jars (scripts/setup
//! installs them): its guards on their real code paths against stub servers (ClientChecks: the
//! feed verifier refuses a changed hash, amounts are JSON strings in the bytes sent, a retry
//! resends the same id), its end-to-end day against a real ledger-server SIGKILLed mid-batch
//! and restarted on the same address, with the final balances compared with `ledger-cli
//! balance`, the same over TLS with its own trust store, README.md's Java example compiled
//! and run, and the throughput benchmark run small (its figure is never asserted).
#![expect(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests")]

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{OnceLock, mpsc};
use std::time::Duration;

use common::{AUDITOR, BACK_OFFICE, OPERATOR, Server, Workspace, ledger_cli};
use serde_json::{Value, json};

/// Debian's libjackson2-databind-java (with its core and annotations dependencies).
const JACKSON: [&str; 3] = [
    "/usr/share/java/jackson-databind.jar",
    "/usr/share/java/jackson-core.jar",
    "/usr/share/java/jackson-annotations.jar",
];

/// How long one Java program may run before the test fails.
const JAVA_MAX: Duration = Duration::from_secs(300);

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The first ```java block of README.md.
fn readme_example() -> String {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let start = readme.find("```java\n").expect("README.md has a ```java block") + "```java\n".len();
    let end = start + readme[start..].find("```").unwrap();
    readme[start..end].to_owned()
}

/// The client, its tests and the README example, compiled once per test run (javac -Werror).
fn classes() -> &'static Path {
    static CLASSES: OnceLock<PathBuf> = OnceLock::new();
    CLASSES.get_or_init(|| {
        let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
        // Classes an earlier run left (its process is gone) are removed; a running one's are kept.
        for entry in std::fs::read_dir(tmp).unwrap().map_while(Result::ok) {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(pid) = name.strip_prefix("java-client-")
                && !Path::new("/proc").join(pid).exists()
            {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
        let dir = tmp.join(format!("java-client-{}", std::process::id()));
        let readme = dir.join("readme");
        std::fs::create_dir_all(&readme).unwrap();
        let example = readme_example();
        assert!(example.contains("public class ReadmeExample"), "{example}");
        std::fs::write(readme.join("ReadmeExample.java"), example).unwrap();
        let mut sources = vec![readme.join("ReadmeExample.java")];
        collect_java(&root().join("clients/java/src"), &mut sources);
        assert!(sources.len() > 10, "{sources:?}");
        let output = Command::new("javac")
            .args(["-Xlint:all,-serial", "-Werror", "-encoding", "UTF-8", "-d"])
            .arg(dir.join("classes"))
            .arg("-cp")
            .arg(JACKSON.join(":"))
            .args(&sources)
            .output()
            .unwrap_or_else(|err| panic!("javac is needed (scripts/setup installs default-jdk-headless): {err}"));
        assert!(output.status.success(), "javac: {}", String::from_utf8_lossy(&output.stderr));
        dir.join("classes")
    })
}

fn collect_java(dir: &Path, into: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect_java(&path, into);
        } else if path.extension().is_some_and(|ext| ext == "java") {
            into.push(path);
        }
    }
}

/// `java -cp CLASSES:JACKSON MAIN ARGS…`.
fn java(main: &str, args: &[&str]) -> Command {
    for jar in JACKSON {
        assert!(Path::new(jar).exists(), "{jar} is needed (scripts/setup installs libjackson2-databind-java)");
    }
    let mut command = Command::new("java");
    command.arg("-cp").arg(format!("{}:{}", classes().display(), JACKSON.join(":"))).arg(main).args(args);
    command
}

/// Runs a Java program to its end (bounded): its exit success and standard output.
fn run(mut command: Command) -> (bool, String, String) {
    let child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let output = rx.recv_timeout(JAVA_MAX).expect("the Java program ended in time").unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn tokens_file(dir: &Path) -> PathBuf {
    let path = dir.join("tokens.json");
    let tokens = json!({ "back-office": BACK_OFFICE, "operator": OPERATOR, "auditor": AUDITOR });
    std::fs::write(&path, tokens.to_string()).unwrap();
    path
}

/// `ledger-server serve` on a given address (a restart must come back where the client left it).
fn serve(work: &Workspace, listen: &str) -> Server {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ledger-server"));
    command.arg("serve").arg("--config").arg(&work.config).arg("--db").arg(&work.db).args(["--listen", listen]);
    command.env("RUST_LOG", "warn");
    let mut server = Server::launch(command);
    assert!(server.wait_listening(Duration::from_secs(60)), "the server did not start on {listen}");
    server
}

#[test]
fn the_java_clients_guards_hold_on_their_real_code_paths() {
    let format = root().join("docs/FORMAT.md");
    let (ok, stdout, stderr) = run(java("ledger.e2e.ClientChecks", &[format.to_str().unwrap()]));
    println!("{stdout}");
    assert!(ok, "{stdout}\n{stderr}");
    for check in [
        "ok hash_vectors 5",
        "ok amounts_are_strings",
        "ok retry_resends_the_same_bytes",
        "ok no_retry_on_an_answer",
        "ok brief_answers_are_asked_for",
        "ok follower_refuses_a_doctored_feed",
        "ok follower_position_is_the_last_record_handed_on",
        "ok follow_stops_at_until_seq",
        "ok duplicate_answers_and_their_original",
        "ok batch_answers_match_their_commands",
        "ok retry_after_is_capped",
        "ok every_failure_is_typed",
        "ok nulls_fail_early",
        "ok wrong_scheme_is_a_setup_error",
    ] {
        assert!(stdout.lines().any(|line| line == check), "{check} missing from:\n{stdout}");
    }
}

#[test]
fn the_java_client_runs_a_day_survives_a_kill_mid_batch_and_agrees_with_the_cli() {
    let work = Workspace::new("");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let listen = format!("127.0.0.1:{port}");
    let mut server = serve(&work, &listen);
    let tokens = tokens_file(work.dir.path());
    let mut child = java("ledger.e2e.E2eDay", &[&server.url, tokens.to_str().unwrap(), "--customers", "40", "--kill"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut kills = 0;
    let summary: Value = loop {
        let line = rx.recv_timeout(JAVA_MAX).expect("the Java e2e printed its summary in time");
        if line == r#"{"kill":"ready"}"# {
            // Let the batches flow, then SIGKILL the server under them and bring it back.
            std::thread::sleep(Duration::from_millis(400));
            server.kill();
            kills += 1;
            std::thread::sleep(Duration::from_millis(300));
            server = serve(&work, &listen);
        } else {
            break serde_json::from_str(&line).unwrap_or_else(|_| panic!("not a summary: {line}"));
        }
    };
    assert!(child.wait().unwrap().success(), "{summary}");
    println!("java e2e: {summary}");
    assert_eq!(summary["ok"], true, "{summary}");
    assert_eq!(kills, 1);
    assert_eq!(summary["rejected"], 40, "one LIMIT_EXCEEDED per customer");
    assert_eq!(summary["holds"], 2);
    let kill = &summary["kill"];
    assert!(kill["retries"].as_u64().unwrap() >= 1, "the kill cost at least one retry: {kill}");
    assert_eq!(
        kill["accepted"].as_u64().unwrap() + kill["duplicates"].as_u64().unwrap(),
        kill["deposits"].as_u64().unwrap()
    );
    let records = summary["records"].as_u64().unwrap();
    assert!(summary["records_verified"].as_u64().unwrap() > records, "whole chain, then a resumed half: {summary}");
    assert_eq!(server.stop().0, Some(0));

    // What the Java client read is what ledger-cli reads from the closed ledger.
    let reader = ledger_store::Reader::open(&work.db, std::sync::Arc::new(ledger_store::SystemClock)).unwrap();
    assert_eq!(Some(reader.head().unwrap().to_text().as_str()), summary["head"].as_str());
    let balances = summary["balances"].as_object().unwrap();
    assert_eq!(balances.len(), 5, "{summary}");
    for (account, balance) in balances {
        let output =
            Command::new(ledger_cli()).arg("--db").arg(&work.db).args(["balance", account, "--json"]).output().unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let cli: Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(cli["balance"].as_str(), balance.as_str(), "account {account}: {cli}");
    }
}

#[test]
fn over_tls_the_java_client_trusts_its_trust_store_and_nothing_else() {
    let work = Workspace::new("");
    let (cert, key) = common::tls_files(work.dir.path());
    let mut server = Server::start(
        &work.db,
        &work.config,
        &["--tls-cert", cert.to_str().unwrap(), "--tls-key", key.to_str().unwrap()],
    );
    assert!(server.url.starts_with("https://127.0.0.1:"), "{}", server.url);
    let tokens = tokens_file(work.dir.path());
    let (ok, stdout, stderr) = run(java(
        "ledger.e2e.E2eDay",
        &[&server.url, tokens.to_str().unwrap(), "--customers", "3", "--cafile", cert.to_str().unwrap()],
    ));
    assert!(ok, "{stdout}\n{stderr}");
    // Without the certificate in its trust store the client refuses the server, at once.
    let (ok, stdout, _) = run(java("ledger.e2e.E2eDay", &[&server.url, tokens.to_str().unwrap(), "--customers", "1"]));
    assert!(!ok);
    assert!(stdout.contains("(Setup): HTTP 0 tls: TLS failed"), "{stdout}");
    // http:// to the TLS port: refused at once as not HTTP, never retried.
    let plain = server.url.replace("https://", "http://");
    let (ok, stdout, _) = run(java("ledger.e2e.E2eDay", &[&plain, tokens.to_str().unwrap(), "--customers", "1"]));
    assert!(!ok);
    assert!(stdout.contains("(Setup): HTTP 0 protocol: the answer is not HTTP"), "{stdout}");
    assert_eq!(server.stop().0, Some(0));
    // https:// to a plain port: refused at once as a TLS failure.
    let mut server = Server::start(&work.db, &work.config, &[]);
    let tls = server.url.replace("http://", "https://");
    let (ok, stdout, _) = run(java("ledger.e2e.E2eDay", &[&tls, tokens.to_str().unwrap(), "--customers", "1"]));
    assert!(!ok);
    assert!(stdout.contains("(Setup): HTTP 0 tls: TLS failed"), "{stdout}");
    assert_eq!(server.stop().0, Some(0));
}

#[test]
fn the_readme_java_example_compiles_and_runs_against_a_server() {
    let work = Workspace::new("");
    let mut server = work.start();
    let mut command = java("ReadmeExample", &[]);
    command.env("LEDGER_URL", &server.url).env("LEDGER_TOKEN", BACK_OFFICE);
    let (ok, stdout, stderr) = run(command);
    println!("{stdout}");
    assert!(ok, "{stdout}\n{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(
        lines[0].starts_with("REJECTED LIMIT_EXCEEDED: LIMIT_EXCEEDED: account 71 bucket out: Day cap 10000.00"),
        "{stdout}"
    );
    assert_eq!(lines[1], "REJECTED at seq 6; balance 20000.00");
    assert_eq!(server.stop().0, Some(0));
}

#[test]
fn the_java_benchmark_runs_small_and_counts_every_command_once() {
    let work = Workspace::new("");
    let mut server = work.start();
    let (ok, stdout, stderr) = run(java(
        "ledger.e2e.JavaBench",
        &[&server.url, BACK_OFFICE, "--threads", "64", "--commands", "640", "--brief"],
    ));
    println!("{stdout}");
    assert!(ok, "{stdout}\n{stderr}");
    let figures: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(figures["commands"], 640, "{figures}");
    assert_eq!(figures["threads"], 64, "{figures}");
    assert_eq!(figures["brief"], true, "{figures}");
    // 64 accounts opened in one command each, then 640 deposits: one event per command.
    let client = common::Client::new(&server.url, Some(AUDITOR));
    assert_eq!(client.head_seq(), 1 + 64 + 640);
    assert_eq!(server.stop().0, Some(0));
}
