//! deploy/: the Prometheus alerts and the Grafana dashboard against a live server (promtool
//! from Debian's `prometheus` package, and a real Prometheus scraping it), and the systemd units
//! (`systemd-analyze verify`).

#![expect(clippy::unwrap_used, clippy::panic, reason = "tests")]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{BACK_OFFICE, Client, Workspace};
use serde_json::Value;

/// The longest a started Prometheus may take to answer a query with a value.
const PROMETHEUS_MAX: Duration = Duration::from_secs(120);

fn deploy(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy").join(file)
}

fn run(command: &mut Command) -> (bool, String) {
    let output = command.output().unwrap_or_else(|err| panic!("{command:?}: {err} (scripts/setup installs it)"));
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.success(), text)
}

/// Every `ledger_…` metric name a PromQL text uses.
fn metric_names(text: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let bytes = text.as_bytes();
    let mut at = 0;
    while let Some(found) = text[at..].find("ledger_") {
        let start = at + found;
        let boundary = start == 0 || !(bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_');
        let end = start
            + text[start..].find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(text.len() - start);
        if boundary && !names.iter().any(|name| name == &text[start..end]) {
            names.push(text[start..end].to_owned());
        }
        at = end;
    }
    names
}

/// The names of `names` that no sample of the exposition `metrics` carries.
fn missing<'a>(names: &'a [String], metrics: &str) -> Vec<&'a str> {
    let exported: Vec<&str> = metrics
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.split(['{', ' ']).next())
        .collect();
    names.iter().map(String::as_str).filter(|name| !exported.contains(name)).collect()
}

/// A server whose metrics all have a sample: commands accepted and one rejected.
fn busy_server() -> (Workspace, common::Server) {
    let workspace = Workspace::new("");
    let server = workspace.start();
    let core = Client::new(&server.url, Some(BACK_OFFICE));
    let batch = r#"[
 {"type":"open_account","id":"5d7e0c1a-0000-4000-8000-000000000001","account":70,"customer":7,"class":"I","verified_in_person":true},
 {"type":"cash_deposit","id":"5d7e0c1a-0000-4000-8000-000000000002","account":70,"amount":"100.00"},
 {"type":"cash_deposit","id":"5d7e0c1a-0000-4000-8000-000000000003","account":99,"amount":"100.00"}]"#;
    let reply = core.post("/v1/batches?brief=true", batch).unwrap();
    assert_eq!(reply.body["results"][2]["status"], "rejected", "{reply:?}");
    (workspace, server)
}

#[test]
fn promtool_accepts_the_alerts_and_a_live_servers_metrics_which_hold_every_name_they_and_the_dashboard_use() {
    let (ok, text) = run(Command::new("promtool").arg("check").arg("rules").arg(deploy("prometheus/alerts.yml")));
    assert!(ok, "promtool check rules: {text}");
    assert!(text.contains("SUCCESS: 6 rules found"), "{text}");
    println!("promtool check rules deploy/prometheus/alerts.yml: {}", text.trim());

    let (_workspace, mut server) = busy_server();
    let (status, metrics) = Client::new(&server.url, None).get_text("/metrics");
    assert_eq!(status, 200);
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut promtool.stdin.take().unwrap(), metrics.as_bytes()).unwrap();
    let output = promtool.wait_with_output().unwrap();
    let complaints = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success() && complaints.trim().is_empty(), "promtool check metrics: {complaints}");

    let alerts = std::fs::read_to_string(deploy("prometheus/alerts.yml")).unwrap();
    let dashboard: Value =
        serde_json::from_str(&std::fs::read_to_string(deploy("grafana/ledger.json")).unwrap()).unwrap();
    let panels = dashboard["panels"].as_array().unwrap();
    let exprs: Vec<&str> =
        panels.iter().flat_map(|p| p["targets"].as_array().unwrap()).map(|t| t["expr"].as_str().unwrap()).collect();
    assert!(panels.len() >= 8 && exprs.len() >= panels.len(), "a dashboard of panels with queries");
    // One dashboard for every job and instance: each metric every query reads is selected by the
    // `job` and `instance` template variables.
    let variables: Vec<&str> =
        dashboard["templating"]["list"].as_array().unwrap().iter().map(|v| v["name"].as_str().unwrap()).collect();
    assert_eq!(variables, ["job", "instance"]);
    for expr in &exprs {
        let selected = expr.matches(r#"{job="$job", instance=~"$instance""#).count();
        let read = expr.matches("ledger_").count() + expr.matches("up{").count();
        assert!(read > 0 && selected == read, "not every metric filtered by $job/$instance: {expr}");
    }
    for (what, text) in [("alerts.yml", alerts), ("ledger.json", exprs.join("\n"))] {
        let names = metric_names(&text);
        assert!(names.len() >= 5, "{what} names metrics: {names:?}");
        assert_eq!(missing(&names, &metrics), Vec::<&str>::new(), "{what} uses metrics the server does not export");
        println!("{what}: every metric it uses is exported: {names:?}");
    }
    // The check can fail: a name the server does not export is reported.
    let made_up = metric_names("rate(ledger_commands_total[1m]) / ledger_no_such_total");
    assert_eq!(missing(&made_up, &metrics), ["ledger_no_such_total"]);
    server.stop();
}

#[test]
fn a_real_prometheus_scrapes_a_live_server_and_answers_commits_per_second() {
    let (workspace, mut server) = busy_server();
    let target = server.url.trim_start_matches("http://").to_owned();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let config = workspace.dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {}\nscrape_configs:\n  - job_name: ledger\n    static_configs:\n      - targets: [\"{target}\"]\n",
            deploy("prometheus/alerts.yml").display()
        ),
    )
    .unwrap();
    let mut prometheus = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.tsdb.path={}", workspace.dir.path().join("tsdb").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|err| panic!("{err}: prometheus (Debian package prometheus; scripts/setup installs it)"));
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let query = r#"sum(rate(ledger_commands_total{outcome=~"accepted|rejected"}[10s]))"#;
    let url = format!("http://127.0.0.1:{port}/api/v1/query");
    let core = Client::new(&server.url, Some(BACK_OFFICE));
    let started = Instant::now();
    let mut n = 100;
    let value = loop {
        // Commands keep coming while Prometheus scrapes.
        n += 1;
        let body = format!(r#"{{"type":"cash_deposit","id":"{}","account":70,"amount":"1.00"}}"#, common::id(n));
        assert_eq!(core.post("/v1/commands?brief=true", &body).unwrap().body["status"], "accepted");
        let answer = agent
            .get(&url)
            .query("query", query)
            .call()
            .ok()
            .and_then(|mut response| response.body_mut().read_json::<Value>().ok());
        let value = answer
            .as_ref()
            .and_then(|answer| answer["data"]["result"][0]["value"][1].as_str())
            .and_then(|value| value.parse::<f64>().ok());
        if let Some(value) = value.filter(|value| *value > 0.0) {
            break value;
        }
        if started.elapsed() > PROMETHEUS_MAX {
            let _ = prometheus.kill();
            panic!("no commits/s from Prometheus within {PROMETHEUS_MAX:?}; last answer {answer:?}");
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    let rules = agent
        .get(format!("http://127.0.0.1:{port}/api/v1/rules"))
        .call()
        .ok()
        .and_then(|mut response| response.body_mut().read_json::<Value>().ok())
        .unwrap_or_default();
    let loaded = rules["data"]["groups"][0]["rules"].as_array().map_or(0, Vec::len);
    let _ = prometheus.kill();
    let _ = prometheus.wait();
    server.stop();
    assert_eq!(loaded, 6, "Prometheus loaded the alerting rules: {rules}");
    println!("Prometheus scraped {target}: {query} = {value:.2} commands/s after {:?}", started.elapsed());
}

#[test]
fn the_systemd_units_verify_and_carry_the_hardening() {
    let which = Command::new("sh").args(["-c", "command -v systemd-analyze"]).output().unwrap();
    assert!(
        which.status.success(),
        "systemd-analyze is not installed: this check cannot run (scripts/setup installs systemd)"
    );
    let dir = tempfile::tempdir().unwrap();
    let binary = env!("CARGO_BIN_EXE_ledger-server");
    let units = ["ledger-server-writer.service", "ledger-server-standby.service"];
    // Each row: a change to the unit as shipped, and whether verify must complain.
    let table: [(&str, &str, &str, bool); 3] = [
        ("as shipped", "", "", false),
        ("a bad ProtectSystem value", "ProtectSystem=strict", "ProtectSystem=bogus", true),
        ("a misspelt key", "NoNewPrivileges=yes", "NoNewPrivilege=yes", true),
    ];
    for unit in units {
        let text = std::fs::read_to_string(deploy(&format!("systemd/{unit}"))).unwrap();
        for line in [
            "User=tiered-ledger",
            "NoNewPrivileges=yes",
            "ProtectSystem=strict",
            "ProtectHome=yes",
            "PrivateTmp=yes",
            "CapabilityBoundingSet=",
            "ConfigurationDirectoryMode=0700",
            "SystemCallErrorNumber=EPERM",
        ] {
            assert!(text.lines().any(|l| l == line), "{unit} has {line}");
        }
        // The ledger comes from the config file's `db`: a `--db` to a local directory would make a
        // standby serve its own ledger after taking the lease. No link to a file nobody installs.
        let exec = text.lines().find(|l| l.starts_with("ExecStart=")).unwrap();
        assert!(!exec.contains("--db"), "{unit}: {exec}");
        assert!(!text.contains("Documentation="), "{unit}");
        assert!(text.contains("ExecStart=/usr/local/bin/ledger-server serve --config /etc/tiered-ledger/"), "{unit}");
        for (case, from, to, complains) in table {
            // The binary the unit starts must exist for verify: the one just built stands in.
            let mut changed = text.replace("/usr/local/bin/ledger-server", binary);
            if !from.is_empty() {
                changed = changed.replace(from, to);
            }
            let path = dir.path().join(unit);
            std::fs::write(&path, changed).unwrap();
            let (ok, output) = run(Command::new("systemd-analyze").arg("verify").arg(&path));
            let about_it: Vec<&str> = output.lines().filter(|line| line.contains(unit)).collect();
            assert!(ok, "{unit} {case}: {output}");
            assert_eq!(!about_it.is_empty(), complains, "{unit} {case}: {about_it:?}");
        }
        println!("systemd-analyze verify {unit}: clean");
    }
}
