//! A headless Chromium driven over WebDriver (Debian's `chromium` and `chromium-driver`):
//! chromedriver on a loopback port, one session per [`Browser`], a temporary profile, every
//! wait bounded, both killed when dropped. WebDriver is plain HTTP and JSON: ureq is enough.

#![expect(clippy::unwrap_used, clippy::panic, reason = "a test harness: a failure ends the test")]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};

/// The longest any wait for the page may take (the machine is shared: generous).
const WAIT_MAX: Duration = Duration::from_secs(90);

/// WebDriver's key for an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

pub struct Browser {
    driver: Child,
    agent: ureq::Agent,
    session: String,
    base: String,
    _profile: tempfile::TempDir,
    /// Where the screenshots go.
    pub shots: PathBuf,
}

/// Where screenshots are kept: beside the test binaries, under the target dir (never in git).
pub fn screenshot_dir() -> PathBuf {
    let server = Path::new(env!("CARGO_BIN_EXE_ledger-server"));
    server.parent().unwrap_or(Path::new(".")).join("console-screenshots")
}

impl Browser {
    /// Starts chromedriver and a headless Chromium whose browser asks for `language` first.
    pub fn start(language: &str) -> Browser {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|err| {
                panic!("{err}: chromedriver (Debian package chromium-driver; scripts/setup installs it)")
            });
        let agent: ureq::Agent =
            ureq::Agent::config_builder().http_status_as_error(false).timeout_global(Some(WAIT_MAX)).build().into();
        let base = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        loop {
            let ready = agent
                .get(format!("{base}/status"))
                .call()
                .ok()
                .and_then(|mut r| r.body_mut().read_json::<Value>().ok())
                .is_some_and(|status| status["value"]["ready"] == true);
            if ready {
                break;
            }
            assert!(started.elapsed() < WAIT_MAX, "chromedriver did not start within {WAIT_MAX:?}");
            std::thread::sleep(Duration::from_millis(100));
        }
        let profile = tempfile::tempdir().unwrap();
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--window-size=1280,1000", format!("--lang={language}"),
                         format!("--user-data-dir={}", profile.path().display())],
                "prefs": {"intl.accept_languages": language},
            },
            "goog:loggingPrefs": {"browser": "ALL"},
        }}});
        let mut browser =
            Browser { driver, agent, session: String::new(), base, _profile: profile, shots: screenshot_dir() };
        let answer = browser.call("POST", "/session", &capabilities);
        browser.session =
            answer["value"]["sessionId"].as_str().unwrap_or_else(|| panic!("no session: {answer}")).to_owned();
        std::fs::create_dir_all(&browser.shots).unwrap();
        browser
    }

    fn call(&self, method: &str, path: &str, body: &Value) -> Value {
        let url = format!("{}{path}", self.base);
        let response = match method {
            "GET" => self.agent.get(url).call(),
            "DELETE" => self.agent.delete(url).call(),
            _ => self.agent.post(url).send_json(body),
        };
        let mut response = response.unwrap_or_else(|err| panic!("WebDriver {method} {path}: {err}"));
        let status = response.status().as_u16();
        let value: Value = response.body_mut().with_config().limit(64 << 20).read_json().unwrap();
        assert_eq!(status, 200, "WebDriver {method} {path}: {value}");
        value
    }

    fn session_call(&self, method: &str, path: &str, body: &Value) -> Value {
        self.call(method, &format!("/session/{}{path}", self.session), body)["value"].clone()
    }

    pub fn open(&self, url: &str) {
        self.session_call("POST", "/url", &json!({ "url": url }));
    }

    /// Runs `script` (a function body; `arguments` are `args`) in the page.
    pub fn run(&self, script: &str, args: &[Value]) -> Value {
        self.session_call("POST", "/execute/sync", &json!({ "script": script, "args": args }))
    }

    /// Waits (bounded) until `script` returns true; `what` names it in the failure.
    pub fn wait_for(&self, script: &str, what: &str) {
        let started = Instant::now();
        while self.run(script, &[]) != Value::Bool(true) {
            assert!(started.elapsed() < WAIT_MAX, "waited {WAIT_MAX:?} for {what}; the page: {}", self.text());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The page's visible text.
    pub fn text(&self) -> String {
        self.run("return document.body.innerText", &[]).as_str().unwrap_or_default().to_owned()
    }

    fn element(&self, css: &str) -> String {
        let found = self.session_call("POST", "/element", &json!({"using": "css selector", "value": css}));
        found[ELEMENT].as_str().unwrap_or_else(|| panic!("no element {css}: {found}")).to_owned()
    }

    /// Clicks the element `css` as a user would.
    pub fn click(&self, css: &str) {
        let element = self.element(css);
        self.session_call("POST", &format!("/element/{element}/click"), &json!({}));
    }

    /// Types `text` into the element `css`, after clearing it.
    pub fn type_into(&self, css: &str, text: &str) {
        let element = self.element(css);
        self.session_call("POST", &format!("/element/{element}/clear"), &json!({}));
        self.session_call("POST", &format!("/element/{element}/value"), &json!({ "text": text }));
    }

    /// Saves a screenshot of the window as `name`.png; returns its path.
    pub fn screenshot(&self, name: &str) -> PathBuf {
        let data = self.session_call("GET", "/screenshot", &json!({}));
        let png = base64::engine::general_purpose::STANDARD.decode(data.as_str().unwrap()).unwrap();
        assert!(png.starts_with(b"\x89PNG"), "a screenshot is a PNG");
        let path = self.shots.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        path
    }

    /// The browser console's entries since the last call (chromedriver's log endpoint), as
    /// `LEVEL message` lines.
    pub fn console(&self) -> Vec<String> {
        let entries = self.session_call("POST", "/se/log", &json!({ "type": "browser" }));
        entries
            .as_array()
            .map(|entries| {
                entries.iter().map(|e| format!("{} {}", e["level"].as_str().unwrap_or("?"), e["message"])).collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = self.agent.delete(format!("{}/session/{}", self.base, self.session)).call();
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
