//! The operators' console in a real browser (headless Chromium over WebDriver): log in, look up
//! an account after a limit rejection and see the bar at the cap and the cited rule, confirm a
//! hold as operator and see it gone, as auditor see no buttons, the hash chain, the latest
//! checkpoint and an inclusion proof verified in the page (a wrong root refused there),
//! a customer's open accounts against the policy's caps, zh-CN labels when the browser asks for them; a screenshot of each page kept under
//! the target dir, and the page's console free of errors throughout.

#![expect(clippy::unwrap_used, clippy::panic, reason = "tests")]

mod common;

use common::browser::Browser;
use common::{AUDITOR, BACK_OFFICE, Client, OPERATOR, Server, Workspace};
use serde_json::Value;

/// A text a client chose, which the page must show as text: markup in it must never run.
const HOSTILE: &str = "<img src=x id=injected onerror=alert(1)>";

/// A counterparty that passes for another in a page that obeys its right-to-left override
/// (U+202E): shown raw it reads "ICBC-6222-0200-3333".
const SPOOFED: &str = "ICBC-\u{202e}3333-0020-2226";

/// How the page must show [`SPOOFED`]: the override written as an escape, as the CLI does.
const SPOOFED_SHOWN: &str = r"ICBC-\u{202e}3333-0020-2226";

/// 128 characters (the most a counterparty may have) without a break: a table must wrap them, not widen past the window.
const LONG: &str =
    "ACCOUNT0123456789ACCOUNT0123456789ACCOUNT0123456789ACCOUNT0123456789ACCOUNT0123456789ACCOUNT0123456789ACCOUNT01";

fn now() -> String {
    let ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis();
    ledger_core::Timestamp::from_millis(i64::try_from(ms).unwrap()).unwrap().to_string()
}

/// Given customer 7 (Class I 70, Class II 71 whose day's 10,000 outflow is used up, then one
/// more payment rejected), a large-transaction threshold of 5,000 and three held transfers
/// (to a hostile, a spoofed and a long counterparty): the ids of the holds.
fn given_a_ledger(server: &str) -> (String, String, String) {
    let core = Client::new(server, Some(BACK_OFFICE));
    let ops = Client::new(server, Some(OPERATOR));
    let batch = r#"[
 {"type":"open_account","id":"5d7e0c1a-0000-4000-8000-000000000001","account":70,"customer":7,"class":"I","verified_in_person":true},
 {"type":"open_account","id":"5d7e0c1a-0000-4000-8000-000000000002","account":71,"customer":7,"class":"II","binding":{"account":70}},
 {"type":"cash_deposit","id":"5d7e0c1a-0000-4000-8000-000000000003","account":70,"amount":"50000.00"},
 {"type":"internal_transfer","id":"5d7e0c1a-0000-4000-8000-000000000004","from":70,"to":71,"amount":"20000.00"},
 {"type":"payment","id":"5d7e0c1a-0000-4000-8000-000000000005","from":71,"merchant":"Metro","amount":"6000.00"},
 {"type":"payment","id":"5d7e0c1a-0000-4000-8000-000000000006","from":71,"merchant":"Metro","amount":"4000.00"},
 {"type":"payment","id":"5d7e0c1a-0000-4000-8000-000000000007","from":71,"merchant":"Metro","amount":"0.01"}]"#;
    let reply = core.post("/v1/batches?brief=true", batch).unwrap();
    let statuses: Vec<&str> =
        reply.body["results"].as_array().unwrap().iter().map(|r| r["status"].as_str().unwrap()).collect();
    assert_eq!(
        statuses,
        ["accepted", "accepted", "accepted", "accepted", "accepted", "accepted", "rejected"],
        "{reply:?}"
    );
    assert_eq!(reply.body["results"][6]["reason"], "LIMIT_EXCEEDED");
    let threshold = format!(
        r#"{{"type":"change_protections","id":"5d7e0c1a-0000-4000-8000-000000000014","effective_from":"{}","settings":{{"large_transaction_threshold":"5000"}}}}"#,
        now()
    );
    let reply = ops.post("/v1/commands", &threshold).unwrap();
    assert_eq!(reply.body["status"], "accepted", "{reply:?}");
    let mut holds = Vec::new();
    for (n, counterparty) in [(20, HOSTILE), (21, SPOOFED), (22, LONG)] {
        let id = format!("5d7e0c1a-0000-4000-8000-0000000000{n}");
        let body = serde_json::json!({"type": "outbound_transfer", "id": id, "from": 70, "counterparty": counterparty, "amount": "8000"});
        let reply = core.post("/v1/commands", &body.to_string()).unwrap();
        assert_eq!(reply.body["status"], "accepted", "{reply:?}");
        holds.push(id);
    }
    let pending = ops.get("/v1/pending").unwrap();
    assert_eq!(pending.body["pending"].as_array().unwrap().len(), 3, "{pending:?}");
    (holds[0].clone(), holds[1].clone(), holds[2].clone())
}

fn log_in(browser: &Browser, server: &str, token: &str, role: &str) {
    browser.open(&format!("{server}/console"));
    browser.wait_for("return !!document.getElementById('token')", "the login form");
    browser.type_into("#token", token);
    browser.click("#login-button");
    browser.wait_for(
        &format!("return document.body.dataset.role === '{role}' && document.body.dataset.ready === 'overview'"),
        &format!("the overview as {role}"),
    );
}

/// Shows `page` by its menu button and waits until it is drawn.
fn go(browser: &Browser, page: &str) {
    browser.run("delete document.body.dataset.ready", &[]);
    browser.click(&format!("#nav button[data-page={page}]"));
    browser.wait_for(&format!("return document.body.dataset.ready === '{page}'"), page);
}

fn look_up(browser: &Browser, page: &str, what: &str) {
    go(browser, page);
    browser.run("delete document.body.dataset.ready", &[]);
    browser.type_into("#lookup", what);
    browser.click("#lookup-button");
    browser.wait_for(
        &format!("return document.body.dataset.ready === '{page}' && location.hash.endsWith('/{what}')"),
        &format!("{page} {what}"),
    );
}

fn no_errors(browser: &Browser, when: &str) {
    let entries = browser.console();
    let bad: Vec<&String> = entries.iter().filter(|e| e.starts_with("SEVERE") || e.starts_with("WARNING")).collect();
    assert!(bad.is_empty(), "the page's console {when}: {bad:?}");
}

#[test]
fn an_operator_and_an_auditor_use_the_console_in_a_real_browser() {
    let workspace = Workspace::new("");
    let key = workspace.dir.path().join("checkpoint.key");
    std::fs::write(&key, format!("{}\n", "9d".repeat(32))).unwrap();
    let mut server = Server::start(&workspace.db, &workspace.config, &["--checkpoint-key", key.to_str().unwrap()]);
    let url = server.url.clone();
    let (hostile_hold, plain_hold, long_hold) = given_a_ledger(&url);
    let mut shots = Vec::new();

    // The operator: overview (head, queue, the last hour's charts, holds due next).
    let browser = Browser::start("en-US");
    log_in(&browser, &url, OPERATOR, "operator");
    let head = Client::new(&url, Some(AUDITOR)).head_seq();
    assert_eq!(
        browser.run("return document.getElementById('head-seq').textContent", &[]),
        Value::from(head.to_string())
    );
    // The commands of the given ledger are on the commits/s chart as soon as the page is
    // drawn, from /v1/stats/recent: no waiting for a second sample of /metrics.
    let opened = browser.run(
        "const chart = document.querySelector('#chart-commits svg'); \
         return [!!chart && Number(chart.dataset.max) > 0, !!chart && chart.querySelectorAll('circle').length, \
         document.querySelectorAll('#chart-rejections path[data-series]').length > 0]",
        &[],
    );
    assert_eq!(opened, serde_json::json!([true, 60, true]), "commits and rejections charted on opening");
    // Commands while the page is open: the next refresh (every 10 s) counts them.
    let charted = "return state.recent.reduce((n, m) => n + m.commands, 0)";
    let before = browser.run(charted, &[]).as_u64().unwrap();
    let core = Client::new(&url, Some(BACK_OFFICE));
    for n in 0..20u64 {
        let body = format!(r#"{{"type":"cash_deposit","id":"{}","account":70,"amount":"1.00"}}"#, common::id(n));
        assert_eq!(core.post("/v1/commands?brief=true", &body).unwrap().body["status"], "accepted");
    }
    browser.wait_for(&format!("{charted} >= {}", before + 20), "the 20 deposits on the charts (refreshed every 10 s)");
    shots.push(browser.screenshot("overview-operator"));
    no_errors(&browser, "on the overview");

    // The account after a limit rejection: the day's bar at the cap, the rejection with its
    // figures and cited rule.
    look_up(&browser, "account", "71");
    let bars = browser.run(
        "return Array.from(document.querySelectorAll('.bucket')).map(b => [b.dataset.bucket, \
         Array.from(b.querySelectorAll('svg.cap-bar')).map(s => s.dataset.ratio)])",
        &[],
    );
    assert!(bars.as_array().unwrap().iter().any(|b| b[1][0] == "1.0000"), "a bucket's day bar is at its cap: {bars}");
    let rejection = browser.run(
        "const reason = document.querySelector('.reason'); \
         return reason && Array.from(reason.closest('tr').cells).map(c => c.textContent)",
        &[],
    );
    assert!(rejection.is_array(), "a rejection in the history: {}", browser.text());
    assert_eq!(rejection[2], "rejected", "{rejection}");
    assert_eq!(rejection[3], "LIMIT_EXCEEDED", "{rejection}");
    let figures = rejection[4].as_str().unwrap();
    assert!(figures.contains("10000.00") && figures.contains("0.01"), "the figures: cap and request: {figures}");
    assert!(rejection[5].as_str().unwrap().starts_with("pboc-2018"), "the cited rule: {rejection}");
    // The protections as one row per setting, no escaped line breaks.
    let protections = browser.run("return document.getElementById('protections').textContent", &[]);
    let protections = protections.as_str().unwrap();
    assert!(protections.contains("personal_day_used") && !protections.contains("\\n"), "{protections}");
    // A posting shows its kind, the amount signed from this account's side, the other side and
    // the balance after it.
    let posted = browser.run(
        "return Array.from(document.querySelectorAll('tr')).map(r => Array.from(r.cells).map(c => c.textContent)) \
         .filter(cells => cells[2] === 'posted').map(cells => cells[4])",
        &[],
    );
    let posted: Vec<&str> = posted.as_array().unwrap().iter().filter_map(|f| f.as_str()).collect();
    assert!(!posted.is_empty(), "postings in the history: {}", browser.text());
    assert!(
        posted.iter().all(|f| (f.contains(", +") || f.contains(", −")) && f.contains("Balance ")),
        "each posting's figures: kind, signed amount, other side, balance after: {posted:?}"
    );
    shots.push(browser.screenshot("account-71-at-cap"));

    look_up(&browser, "customer", "7");
    assert!(browser.text().contains("70") && browser.text().contains("71"));
    // Open accounts per class against pboc-2018's caps: Class I 1 of 1 (the bar full), II 1 of 5.
    let caps = "return ['I','II','III'].map(c => document.querySelector(`[data-class='${c}'] .bar`).textContent)";
    assert_eq!(
        browser.run(caps, &[]),
        serde_json::json!(["Open1 / 1", "Open1 / 5", "Open0 / 5"]),
        "{}",
        browser.text()
    );
    assert_eq!(
        browser.run("return document.querySelector(\"[data-class='I'] .cap-bar\").dataset.ratio", &[]),
        "1.0000"
    );
    shots.push(browser.screenshot("customer-7"));

    // Holds: a client's text shown as text; confirm one as operator and see it gone.
    go(&browser, "holds");
    assert!(browser.text().contains(HOSTILE), "the counterparty's text is shown as text");
    assert_eq!(browser.run("return document.getElementById('injected')", &[]), Value::Null, "no markup from data");
    // The right-to-left override is shown as an escape, never obeyed.
    assert!(browser.text().contains(SPOOFED_SHOWN), "the override escaped: {}", browser.text());
    assert!(!browser.text().contains('\u{202e}'), "no raw override in the page");
    // The long counterparty wraps: the table stays within the window and its Confirm button in view.
    let fits = browser.run(
        &format!(
            "const b = document.querySelector(\"[data-confirm='{long_hold}']\").getBoundingClientRect(); \
             const t = document.querySelector('main table').getBoundingClientRect(); \
             return [t.right, b.right, b.width, document.documentElement.clientWidth]"
        ),
        &[],
    );
    let (table_right, button_right, button_width, width) =
        (fits[0].as_f64().unwrap(), fits[1].as_f64().unwrap(), fits[2].as_f64().unwrap(), fits[3].as_f64().unwrap());
    assert!(
        table_right <= width && button_right <= width && button_width > 0.0,
        "[table, button] right, window: {fits}"
    );
    shots.push(browser.screenshot("holds-operator"));
    // A double click on Confirm sends one command: the buttons are disabled while it is in flight.
    browser.run(
        &format!(
            "window.commandPosts = 0; const send = window.fetch; \
             window.fetch = (...a) => {{ if (String(a[0]).startsWith('/v1/commands')) window.commandPosts++; return send(...a); }}; \
             const b = document.querySelector(\"button[data-confirm='{plain_hold}']\"); b.click(); b.click();"
        ),
        &[],
    );
    browser.wait_for("return !!document.getElementById('decided')", "the confirmation's answer");
    assert_eq!(browser.run("return window.commandPosts", &[]), Value::from(1), "a double click sent two commands");
    let (_, metrics) = Client::new(&url, None).get_text("/metrics");
    let confirms: f64 = metrics
        .lines()
        .filter(|l| l.starts_with("ledger_commands_total{kind=\"confirm_hold\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert_eq!(confirms, 1.0, "one confirm_hold command reached the ledger: {metrics}");
    let decided = browser.run("return document.getElementById('decided').textContent", &[]);
    assert!(decided.as_str().unwrap().contains("accepted"), "{decided}");
    assert_eq!(
        browser.run(&format!("return document.querySelectorAll(\"[data-confirm='{plain_hold}']\").length"), &[]),
        0
    );
    let pending = Client::new(&url, Some(OPERATOR)).get("/v1/pending").unwrap();
    let left: Vec<&str> =
        pending.body["pending"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(
        left,
        [hostile_hold.as_str(), long_hold.as_str()],
        "the confirmed hold is gone from the ledger's pending list"
    );
    shots.push(browser.screenshot("holds-after-confirm"));

    go(&browser, "risk");
    shots.push(browser.screenshot("risk-operator"));
    go(&browser, "audit");
    shots.push(browser.screenshot("audit-operator"));
    no_errors(&browser, "as operator");

    // The auditor: the same holds, no button anywhere; the log's tail verified in the page.
    browser.click("#logout");
    log_in(&browser, &url, AUDITOR, "auditor");
    go(&browser, "holds");
    assert!(browser.text().contains(&hostile_hold), "the auditor sees the hold");
    assert_eq!(
        browser.run("return document.querySelectorAll('main button.act, [data-confirm], [data-decline]').length", &[]),
        0
    );
    shots.push(browser.screenshot("holds-auditor"));
    go(&browser, "audit");
    assert_eq!(browser.run("return document.getElementById('chain').className", &[]), "ok", "{}", browser.text());
    // The latest checkpoint, and the head's inclusion proof verified in the page.
    let head = Client::new(&url, Some(AUDITOR)).head_seq();
    assert!(browser.text().contains("tiered-ledger/"), "{}", browser.text());
    let signature = browser.run("return document.getElementById('checkpoint-signature').textContent", &[]);
    assert!(signature.as_str().unwrap().starts_with("— tiered-ledger/"), "{signature}");
    browser.wait_for("return document.getElementById('proof').dataset.done === '1'", "the head's inclusion proof");
    let proof = browser
        .run("return [document.getElementById('proof').className, document.getElementById('proof').textContent]", &[]);
    assert_eq!(proof[0], "ok", "{proof}");
    assert!(
        proof[1].as_str().unwrap().contains(&format!("record {head} is in the checkpoint's tree of {head} records")),
        "{proof}"
    );
    // Another record the auditor picks: verified too.
    browser
        .run("document.getElementById('proof-seq').value = '2'; document.getElementById('proof-button').click()", &[]);
    browser.wait_for("return document.getElementById('proof').textContent.includes('record 2 ')", "record 2's proof");
    assert_eq!(browser.run("return document.getElementById('proof').className", &[]), "ok", "{}", browser.text());
    // The page's check refuses a proof against another root, and a changed path.
    browser.run(
        &format!(
            "window.refused = null; api('/v1/proofs/inclusion/1?size={head}').then(async (p) => {{ \
               const root = parseCheckpoint(await apiText('/v1/checkpoints?size={head}')).root; \
               const wrong = await checkInclusion(p, {{ size: {head}, root: '00'.repeat(32) }}); \
               const right = await checkInclusion(p, {{ size: {head}, root }}); \
               p.path[0] = (p.path[0][0] === '0' ? '1' : '0') + p.path[0].slice(1); \
               window.refused = [right, wrong, await checkInclusion(p, {{ size: {head}, root }})]; }})"
        ),
        &[],
    );
    browser.wait_for("return window.refused !== null", "the page's checks");
    let refused = browser.run("return window.refused", &[]);
    assert_eq!(refused[0], Value::Null, "{refused}");
    assert!(refused[1].as_str().unwrap().contains("not the checkpoint's root"), "{refused}");
    assert!(refused[2].as_str().unwrap().contains("not the checkpoint's root"), "{refused}");
    // The signature checked in the page (Ed25519 in this Chromium's WebCrypto) with the key the
    // auditor trusts; another key, or a changed checkpoint text, is refused.
    let public = |seed: &str| hex::encode(ledger_store::signing_key_from_hex(seed).unwrap().verifying_key().as_bytes());
    for (key, answer) in [
        (public(&"9d".repeat(32)), "signature valid (Ed25519, checked in this page)"),
        (public(&"11".repeat(32)), "signature NOT valid: no signature by this key"),
    ] {
        browser.run("document.getElementById('signature-check').textContent = ''", &[]);
        browser.run(
            "document.getElementById('public-key').value = arguments[0]; document.getElementById('signature-button').click()",
            &[Value::from(key)],
        );
        browser.wait_for("return document.getElementById('signature-check').textContent !== ''", "the signature check");
        assert_eq!(browser.run("return document.getElementById('signature-check').textContent", &[]), answer);
    }
    browser.run(
        "window.changed = null; apiText('/v1/checkpoints').then(async (text) => { const cp = parseCheckpoint(text); \
           cp.body = cp.body.replace(/\\n[0-9]+\\n/, '\\n1\\n'); window.changed = await checkSignature(cp, arguments[0]); })",
        &[Value::from(public(&"9d".repeat(32)))],
    );
    browser.wait_for("return window.changed !== null", "the changed checkpoint's check");
    assert_eq!(browser.run("return window.changed", &[]), "the signature does not match the checkpoint's text");
    shots.push(browser.screenshot("audit-auditor"));
    no_errors(&browser, "as auditor");
    drop(browser);

    // A browser asking for Chinese gets Chinese labels.
    let chinese = Browser::start("zh-CN");
    log_in(&chinese, &url, AUDITOR, "auditor");
    assert_eq!(chinese.run("return document.documentElement.lang", &[]), "zh-CN");
    assert_eq!(
        chinese.run("return document.querySelector('#nav button[data-page=overview]').textContent", &[]),
        "概览"
    );
    look_up(&chinese, "account", "71");
    // Codes from the server read as Chinese too: the event kinds, the class, the status.
    let text = chinese.text();
    assert!(text.contains("拒绝") && text.contains("记账") && text.contains("正常"), "{text}");
    assert!(!text.contains("posted") && !text.contains("rejected"), "an event kind left in English: {text}");
    shots.push(chinese.screenshot("account-71-zh-CN"));
    no_errors(&chinese, "in Chinese");
    // Switching the language re-labels the header too.
    assert!(chinese.text().contains("角色"), "{}", chinese.text());
    chinese.click("#lang");
    chinese.wait_for(
        "return document.getElementById('who').textContent.includes('(role: auditor)')",
        "the header in English",
    );
    chinese.click("#lang");
    // A token the server no longer accepts (revoked from its config, or the server's restarted
    // without it): back to the login form, saying so, in either language.
    chinese.run("state.token = 'revoked-token'", &[]);
    chinese.click("#nav button[data-page=holds]");
    chinese.wait_for(
        "return !document.getElementById('login').hidden && document.getElementById('login-error').textContent === '令牌已不再被接受，请重新登录。'",
        "the token-no-longer-accepted message in Chinese",
    );
    chinese.click("#lang");
    assert_eq!(
        chinese.run("return document.getElementById('login-error').textContent", &[]),
        "The token is no longer accepted; log in again."
    );
    drop(chinese);

    let (code, _) = server.stop();
    assert_eq!(code, Some(0));
    for shot in &shots {
        println!("console screenshot: {}", shot.display());
    }
}

/// The page and its files are served without a token, with a Content-Security-Policy that
/// allows no inline script and nothing from elsewhere; an unknown file is 404.
#[test]
fn the_console_is_served_without_a_token_under_a_strict_content_security_policy() {
    let workspace = Workspace::new("");
    let mut server = workspace.start();
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let table = [
        ("/console", 200, "text/html"),
        // A trailing slash is redirected (and followed) to the page.
        ("/console/", 200, "text/html"),
        ("/console/console.js", 200, "text/javascript"),
        ("/console/charts.js", 200, "text/javascript"),
        ("/console/console.css", 200, "text/css"),
        ("/console/secret.txt", 404, "application/json"),
        ("/console/..%2fmetrics", 404, "application/json"),
    ];
    for (path, status, content_type) in table {
        let response = agent.get(format!("{}{path}", server.url)).call().unwrap();
        assert_eq!(response.status().as_u16(), status, "{path}");
        let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        assert!(header("content-type").starts_with(content_type), "{path}: {}", header("content-type"));
        if status == 200 {
            assert_eq!(header("content-security-policy"), ledger_server::console::CONTENT_SECURITY_POLICY, "{path}");
            assert!(header("content-security-policy").contains("script-src 'self';"));
            assert_eq!(header("x-content-type-options"), "nosniff");
        }
    }
    // whoami needs a token like every /v1 route, and names the holder.
    let who = Client::new(&server.url, Some(OPERATOR)).get("/v1/whoami").unwrap();
    assert_eq!(
        (who.status, who.body["name"].as_str(), who.body["role"].as_str()),
        (200, Some("ops"), Some("operator"))
    );
    assert_eq!(Client::new(&server.url, None).get("/v1/whoami").unwrap().status, 401);
    server.stop();
}
