// The operators' console. Every text from the server or a client goes into the page as a text
// node (el() below, textContent): never as markup, and through shown(), which writes control,
// bidirectional and invisible characters as escapes. The token lives in sessionStorage only.
"use strict";

const LABELS = {
  en: {
    title: "tiered-ledger console", overview: "Overview", account: "Account", customer: "Customer",
    holds: "Holds", risk: "Risk list", audit: "Audit", logout: "Log out", token: "Token", login: "Log in",
    bad_token: "The token is not accepted.", head: "Head", seq: "Seq", hash: "Hash", queue: "Queue depth",
    commits: "Commits/s (last hour)", latency: "Commit latency, ms (last hour: p50, p99)",
    rejections: "Rejections by reason (last hour)", pending_next: "Holds and delayed transfers due next",
    none: "None.", look_up: "Look up", account_no: "Account", customer_no: "Customer",
    balance: "Balance", available: "Available", reserved: "Reserved", class: "Class", status: "Status",
    usage: "Limit use", today: "Today", this_year: "This year", no_cap: "no cap", history: "History",
    protections: "Protections", event: "Event", time: "Time", reason: "Reason", figures: "Figures",
    rule: "Rule", accounts: "Accounts", by_class: "Accounts by class", id: "Id", amount: "Amount",
    due: "Due", kind: "Kind", confirm: "Confirm", decline: "Decline", done: "Done:", counterparty: "Counterparty",
    check: "Check", listed: "listed", not_listed: "not listed", listed_at: "Listed at seq", whole_list: "The whole list",
    cdc_tail: "Change data capture: the last records", chain: "Hash chain of these records",
    chain_ok: "verified in this page: every hash recomputed and every link checked",
    chain_bad: "does NOT verify at seq", events_role: "Only the auditor role may read the log.",
    role: "role",
    checkpoint: "Checkpoint", origin: "Origin", size: "Tree size", root: "Root", signature: "Signature",
    no_checkpoint_key: "This server signs no checkpoints (no checkpoint_key configured).",
    sig_elsewhere: "Check the signature with the ledger's public key you trust (64 hex digits), here or with ledger-cli check-proof --public-key or tools/verify_proof.py.",
    public_key: "Public key", check_signature: "Check signature", sig_ok: "signature valid (Ed25519, checked in this page)",
    sig_bad: "signature NOT valid:", no_ed25519: "this browser cannot check Ed25519: check it with ledger-cli check-proof --public-key or tools/verify_proof.py",
    inclusion: "Inclusion proof", prove: "Fetch and verify", proof_ok: "verified in this page: record {seq} is in the checkpoint's tree of {size} records",
    proof_bad: "NOT verified:", cap: "Cap", open_accounts: "Open",
    token_gone: "The token is no longer accepted; log in again.", api_error: "The server refused:",
    setting: "Setting", value: "Value",
  },
  zh: {
    title: "分级账户账本控制台", overview: "概览", account: "账户", customer: "客户", holds: "待核实",
    risk: "风险名单", audit: "审计", logout: "退出", token: "令牌", login: "登录", bad_token: "令牌无效。",
    head: "链头", seq: "序号", hash: "哈希", queue: "队列长度", commits: "每秒提交（近一小时）",
    latency: "提交延迟，毫秒（近一小时：p50、p99）", rejections: "按原因的拒绝（近一小时）",
    pending_next: "即将到期的待核实与延迟转账", none: "无。", look_up: "查询", account_no: "账户",
    customer_no: "客户", balance: "余额", available: "可用", reserved: "冻结", class: "类别", status: "状态",
    usage: "限额使用", today: "今日", this_year: "本年", no_cap: "无上限", history: "历史", protections: "保护设置",
    event: "事件", time: "时间", reason: "原因", figures: "数据", rule: "依据", accounts: "账户",
    by_class: "按类别的账户数", id: "编号", amount: "金额", due: "到期", kind: "种类", confirm: "确认",
    decline: "拒绝", done: "完成：", counterparty: "交易对手", check: "检查", listed: "在名单上",
    not_listed: "不在名单上", listed_at: "列入序号", whole_list: "完整名单", cdc_tail: "变更数据捕获：最近的记录",
    chain: "这些记录的哈希链", chain_ok: "已在本页验证：每个哈希已重算，每个链接已检查",
    chain_bad: "验证失败，序号", events_role: "只有审计角色可以读取日志。",
    role: "角色", checkpoint: "检查点", origin: "来源", size: "树大小", root: "根",
    signature: "签名", no_checkpoint_key: "本服务器不签发检查点（未配置 checkpoint_key）。",
    sig_elsewhere: "请用您信任的账本公钥（64位十六进制）在此检查签名，或用 ledger-cli check-proof --public-key 或 tools/verify_proof.py 检查。",
    public_key: "公钥", check_signature: "检查签名", sig_ok: "签名有效（Ed25519，已在本页检查）", sig_bad: "签名无效：",
    no_ed25519: "本浏览器不能检查 Ed25519：请用 ledger-cli check-proof --public-key 或 tools/verify_proof.py 检查",
    inclusion: "包含证明", prove: "获取并验证", proof_ok: "已在本页验证：记录 {seq} 在检查点的 {size} 条记录的树中",
    proof_bad: "验证失败：", cap: "上限", open_accounts: "开立",
    token_gone: "令牌已不再被接受，请重新登录。", api_error: "服务器拒绝：",
    setting: "设置", value: "值",
  },
};

// The codes the server sends (event kinds, posting kinds, statuses, classes, pending kinds,
// answers), as a Chinese reader reads them; English pages show the codes themselves. A code not
// listed is shown as it came.
const CODES_ZH = {
  account_opened: "开户", account_closed: "销户", posted: "记账", policy_scheduled: "规则排期",
  rejected: "拒绝", account_locked: "锁定", account_unlocked: "解锁", personal_limits_set: "设置个人限额",
  night_lock_set: "设置夜间锁定", risk_listed: "列入风险名单", risk_unlisted: "移出风险名单",
  protections_scheduled: "保护设置排期", time_advanced: "时间推进", reserved: "冻结（待核实或延迟转账）",
  hold_confirmed: "核实通过", reservation_settled: "冻结结算", reservation_released: "冻结解除",
  cash_deposit: "现金存入", cash_withdrawal: "现金支取", internal_transfer: "行内转账",
  inbound_transfer: "转入", outbound_transfer: "转出", payment: "消费支付", wealth_purchase: "购买理财",
  wealth_redemption: "理财赎回",
  open: "正常", closed: "已销户",
  I: "I类户", II: "II类户", III: "III类户",
  accepted: "已接受", duplicate: "重复（已答复）", conflict: "冲突（编号已用于另一命令）", error: "错误",
};

// A code as the page's language shows it.
function code(value) {
  if (value === null || value === undefined) return "";
  return (state.lang === "zh" && Object.prototype.hasOwnProperty.call(CODES_ZH, value)) ? CODES_ZH[value] : String(value);
}

const state = { lang: "en", token: null, who: null, page: "overview", samples: [], recent: [], timer: null, recentTimer: null };

function t(key) {
  return (LABELS[state.lang] && LABELS[state.lang][key]) || LABELS.en[key] || key;
}

// Text as the page shows it: every character that could reorder text, hide characters or pass
// one counterparty off as another (C0/C1 controls, bidirectional controls such as U+202E,
// zero-width characters, the soft hyphen, the byte-order mark) written as an escape such as
// \u{202e}, and a backslash doubled so an escape cannot be forged: the CLI's rule
// (docs/COMMANDS.md). Chinese and every other visible character stay.
const HIDDEN = /[\\\u0000-\u001f\u007f-\u009f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb]/g;
function shown(text) {
  return String(text).replace(HIDDEN, (c) => {
    if (c === "\\") return "\\\\";
    if (c === "\n") return "\\n";
    if (c === "\r") return "\\r";
    if (c === "\t") return "\\t";
    return "\\u{" + c.codePointAt(0).toString(16) + "}";
  });
}

// An element with attributes and children; strings become text nodes (through shown()), never
// markup.
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (name === "on") {
      for (const [event, handler] of Object.entries(value)) node.addEventListener(event, handler);
    } else {
      node.setAttribute(name, value);
    }
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(typeof child === "string" || typeof child === "number" ? document.createTextNode(shown(child)) : child);
  }
  return node;
}

const SVG = "http://www.w3.org/2000/svg";
function svg(tag, attrs, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, String(value));
  for (const child of children) node.append(typeof child === "string" ? document.createTextNode(shown(child)) : child);
  return node;
}

class ApiError extends Error {
  constructor(status, body) {
    super(body && body.detail ? body.error + ": " + body.detail : "HTTP " + status);
    this.status = status;
  }
}

async function api(path, options) {
  const init = Object.assign({ headers: {} }, options || {});
  init.headers.Authorization = "Bearer " + state.token;
  if (init.body) init.headers["Content-Type"] = "application/json";
  const response = await fetch(path, init);
  const body = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, body);
  return body;
}

// A text answer (the checkpoint note); errors as api() throws them.
async function apiText(path) {
  const response = await fetch(path, { headers: { Authorization: "Bearer " + state.token } });
  if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => null));
  return response.text();
}

function newId() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  return hex.slice(0, 8) + "-" + hex.slice(8, 12) + "-" + hex.slice(12, 16) + "-" + hex.slice(16, 20) + "-" + hex.slice(20);
}

function card(title, ...children) {
  return el("section", { class: "card" }, el("h2", {}, title), ...children);
}

function table(headers, rows) {
  return el("table", {}, el("thead", {}, el("tr", {}, headers.map((h) => el("th", {}, h)))),
    el("tbody", {}, rows.map((row) => el("tr", {}, row.map((cell) => el("td", {}, cell))))));
}

function failure(err) {
  return el("p", { class: "error" }, t("api_error") + " " + String(err.message || err));
}

// ---- metrics: the page samples /metrics every 5 s for the queue depth (docs/SERVER.md, "The console") ----

function parseMetrics(text) {
  const samples = [];
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!match) continue;
    const labels = {};
    for (const pair of (match[2] || "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[pair[1]] = pair[2];
    samples.push({ name: match[1], labels, value: Number(match[3]) });
  }
  return samples;
}

function sum(samples, name, filter) {
  return samples.filter((s) => s.name === name && (!filter || filter(s.labels))).reduce((a, s) => a + s.value, 0);
}

async function sample() {
  try {
    const response = await fetch("/metrics");
    if (!response.ok) return;
    const metrics = parseMetrics(await response.text());
    state.samples.push({ at: Date.now(), metrics });
    while (state.samples.length > 1) state.samples.shift();
    const queue = document.getElementById("queue-depth");
    if (queue) queue.textContent = String(sum(metrics, "ledger_queue_commands"));
  } catch (err) {
    // The next sample tries again.
  }
}

// A bar of use against a cap; the bar is full (and red) at the cap.
function capBar(label, used, cap) {
  const [w, h] = [220, 14];
  const ratio = cap === null ? 0 : Math.min(1, Number(used) / Math.max(Number(cap), 1e-9));
  const bar = svg("svg", { width: w, height: h, class: "cap-bar", "data-ratio": ratio.toFixed(4) },
    svg("rect", { width: w, height: h, fill: "#e9ecef" }),
    svg("rect", { width: (w * ratio).toFixed(1), height: h, fill: ratio >= 1 ? "#c92a2a" : "#4c6ef5" }));
  return el("div", { class: "bar" }, el("span", {}, label), bar,
    el("span", {}, used + " / " + (cap === null ? t("no_cap") : cap)));
}

// ---- pages ----

const PAGES = {
  async overview(page) {
    const head = await api("/v1/head");
    const pending = await api("/v1/pending");
    const queue = state.samples.length ? sum(state.samples[state.samples.length - 1].metrics, "ledger_queue_commands") : 0;
    page.append(el("div", { class: "grid" },
      card(t("head"), el("div", { class: "figure", id: "head-seq" }, String(head.seq)), el("div", { class: "mono" }, head.hash)),
      card(t("queue"), el("div", { class: "figure", id: "queue-depth" }, String(queue)))));
    page.append(el("div", { class: "grid", id: "charts" }));
    const due = pending.pending.slice().sort((a, b) => dueAt(a).localeCompare(dueAt(b))).slice(0, 10);
    page.append(card(t("pending_next"), due.length ? reservationTable(due, false) : el("p", {}, t("none"))));
    await loadRecent();
  },

  async account(page, arg) {
    page.append(lookupForm("account_no", arg, (value) => show("account", value)));
    if (!arg) return;
    const base = `/v1/accounts/${encodeURIComponent(arg)}`;
    const [balance, usage, protections, history, rejected] = await Promise.all([
      api(base + "/balance"), api(base + "/usage"), api(base + "/protections"),
      latestHistory(base), api(base + "/rejections"),
    ]);
    page.append(card(t("account") + " " + balance.account, table(
      [t("balance"), t("available"), t("reserved"), t("class"), t("status")],
      [[balance.balance, balance.available, balance.reserved, code(balance.class), code(balance.status)]])));
    page.append(card(t("usage") + (usage.policy ? " — " + usage.policy : ""), usage.buckets.map((b) =>
      el("div", { class: "bucket", "data-bucket": b.bucket }, el("strong", {}, b.bucket),
        capBar(t("today"), b.day_used, b.day_cap), capBar(t("this_year"), b.year_used, b.year_cap)))));
    // The history's index holds what touched the account; its rejections come from their own
    // endpoint. Newest first, the latest 50.
    const entries = history.entries.concat(rejected.rejections).sort((a, b) => b.seq - a.seq).slice(0, 50);
    const rows = [];
    for (const entry of entries) rows.push(await historyRow(entry));
    page.append(card(t("history"), table([t("seq"), t("time"), t("event"), t("reason"), t("figures"), t("rule")], rows)));
    // One row per setting (a text node escapes newlines, so no pretty-printed block).
    const settings = Object.entries(protections.protections || {}).map(([name, value]) =>
      [name, typeof value === "object" && value !== null ? JSON.stringify(value) : String(value)]);
    page.append(card(t("protections"), el("div", { id: "protections" }, table([t("setting"), t("value")], settings))));
  },

  async customer(page, arg) {
    page.append(lookupForm("customer_no", arg, (value) => show("customer", value)));
    if (!arg) return;
    const list = await api(`/v1/customers/${encodeURIComponent(arg)}/accounts`);
    page.append(card(t("by_class") + (list.policy ? " — " + list.policy : ""), list.caps.map((c) =>
      el("div", { class: "bucket", "data-class": c.class }, el("strong", {}, code(c.class)), capBar(t("open_accounts"), c.open, c.max_open)))));
    page.append(card(t("accounts"), table([t("account_no"), t("class"), t("status"), t("balance")],
      list.accounts.map((a) => [String(a.account), code(a.class), code(a.status), a.balance]))));
  },

  async holds(page) {
    const pending = await api("/v1/pending");
    const operator = state.who.role === "operator";
    page.append(card(t("holds"), pending.pending.length ? reservationTable(pending.pending, operator) : el("p", {}, t("none"))));
  },

  async risk(page, arg) {
    page.append(lookupForm("counterparty", arg, (value) => show("risk", value)));
    if (arg) {
      const risk = await api(`/v1/risk-list/${encodeURIComponent(arg)}`);
      page.append(card(t("counterparty") + " " + risk.counterparty,
        el("p", { id: "risk-answer" }, risk.listed ? t("listed") + " (" + t("listed_at") + " " + risk.listed_seq + ")" : t("not_listed"))));
    }
    if (state.who.role === "operator") {
      const list = await api("/v1/risk-list");
      page.append(card(t("whole_list"), list.listed.length
        ? table([t("counterparty"), t("listed_at")], list.listed.map((r) => [r.counterparty, String(r.listed_seq)]))
        : el("p", {}, t("none"))));
    }
  },

  async audit(page) {
    const head = await api("/v1/head");
    page.append(card(t("head"), el("div", { class: "mono", id: "audit-head" }, head.head)));
    await checkpointCard(page);
    if (state.who.role !== "auditor") {
      page.append(card(t("cdc_tail"), el("p", {}, t("events_role"))));
      return;
    }
    const events = await api(`/v1/events?after=${Math.max(0, head.seq - 20)}&limit=20`);
    const broken = await verifyChain(events.records);
    page.append(card(t("chain"), el("p", { id: "chain", class: broken === null ? "ok" : "error" },
      broken === null ? t("chain_ok") + " (" + events.records.length + ")" : t("chain_bad") + " " + broken)));
    page.append(card(t("cdc_tail"), table([t("seq"), t("time"), t("event"), t("hash")],
      events.records.slice().reverse().map((r) => [String(r.seq), r.event.at, code(bodyType(r.event)), r.hash.slice(0, 16) + "…"]))));
  },
};

// The latest checkpoint (C2SP signed note: origin, size, base64 root, extension lines such as
// the head; a blank line; signature lines) and an inclusion proof verified in the page.
function parseCheckpoint(text) {
  const [body, sigs] = text.split("\n\n");
  const lines = body.split("\n");
  const root = toHex(Uint8Array.from(atob(lines[2] || ""), (c) => c.charCodeAt(0)));
  return { body, origin: lines[0], size: Number(lines[1]), root, extra: lines.slice(3), signatures: (sigs || "").trim().split("\n") };
}

async function checkpointCard(page) {
  let text;
  try {
    text = await apiText("/v1/checkpoints");
  } catch (err) {
    if (err.status === 409) return page.append(card(t("checkpoint"), el("p", { id: "checkpoint" }, t("no_checkpoint_key"))));
    throw err;
  }
  const cp = parseCheckpoint(text);
  const seq = el("input", { id: "proof-seq", value: String(cp.size), inputmode: "numeric" });
  const answer = el("p", { id: "proof" });
  const prove = async (e) => {
    e.preventDefault();
    delete answer.dataset.done;
    const why = await proveInclusion(seq.value.trim(), cp).catch((err) => String(err.message || err));
    answer.className = why === null ? "ok" : "error";
    answer.textContent = why === null
      ? t("proof_ok").replace("{seq}", seq.value.trim()).replace("{size}", cp.size) : t("proof_bad") + " " + shown(why);
    answer.dataset.done = "1";
  };
  page.append(card(t("checkpoint"),
    table([t("origin"), t("size"), t("root"), t("head")], [[cp.origin, String(cp.size), el("span", { class: "mono" }, cp.root), cp.extra.join(" ")]]),
    el("p", {}, t("signature") + ": "), el("pre", { class: "mono", id: "checkpoint-signature" }, cp.signatures.join("\n")),
    el("p", {}, t("sig_elsewhere")), signatureForm(cp)));
  page.append(card(t("inclusion"), el("form", { class: "inline", id: "proof-form", on: { submit: prove } },
    el("label", {}, t("seq") + " ", seq), el("button", { type: "submit", id: "proof-button" }, t("prove"))), answer));
  await prove({ preventDefault() {} });
}

function signatureForm(cp) {
  const input = el("input", { id: "public-key", value: sessionStorage.getItem("public_key") || "", size: "64" });
  const answer = el("p", { id: "signature-check" });
  const check = async (e) => {
    e.preventDefault();
    const key = input.value.trim().toLowerCase();
    sessionStorage.setItem("public_key", key);
    const why = await checkSignature(cp, key).catch((err) => err.name === "NotSupportedError" ? "no_ed25519" : String(err.message || err));
    answer.className = why === null ? "ok" : "error";
    answer.textContent = why === null ? t("sig_ok") : why === "no_ed25519" ? t("no_ed25519") : t("sig_bad") + " " + shown(why);
  };
  return el("form", { class: "inline", id: "signature-form", on: { submit: check } },
    el("label", {}, t("public_key") + " ", input), el("button", { type: "submit", id: "signature-button" }, t("check_signature")), answer);
}

// The note's Ed25519 signature by `publicHex` under the origin's name (C2SP signed-note: key id
// = SHA-256(name ‖ "\n" ‖ 0x01 ‖ key)[:4], then the 64-byte signature of the note's text): null
// when valid, else why not.
async function checkSignature(cp, publicHex) {
  if (!/^[0-9a-f]{64}$/.test(publicHex)) return "a public key is 64 hex digits";
  const pub = fromHex(publicHex);
  const id = toHex((await sha256(new TextEncoder().encode(cp.origin + "\n"), Uint8Array.of(1), pub)).slice(0, 4));
  const key = await crypto.subtle.importKey("raw", pub, { name: "Ed25519" }, false, ["verify"]);
  for (const line of cp.signatures) {
    const [dash, name, b64, more] = line.split(" ");
    if (dash !== "—" || name !== cp.origin || more !== undefined) continue;
    const raw = Uint8Array.from(atob(b64 || ""), (c) => c.charCodeAt(0));
    if (raw.length !== 68 || toHex(raw.slice(0, 4)) !== id) continue;
    const valid = await crypto.subtle.verify({ name: "Ed25519" }, key, raw.slice(4), new TextEncoder().encode(cp.body + "\n"));
    return valid ? null : "the signature does not match the checkpoint's text";
  }
  return "no signature by this key";
}

// Fetches record `seq`'s inclusion proof in the checkpoint's tree and checks it: null when it
// holds, else why not.
async function proveInclusion(seq, cp) {
  if (!/^[0-9]+$/.test(seq) || Number(seq) < 1 || Number(seq) > cp.size) return "the record must be 1 to " + cp.size;
  const proof = await api(`/v1/proofs/inclusion/${seq}?size=${cp.size}`);
  return checkInclusion(proof, cp);
}

async function sha256(...parts) {
  const bytes = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { bytes.set(p, at); at += p.length; }
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
}

// RFC 9162 §2.1.3.2: the record's hash recomputed from its bytes, leaf = SHA-256(0x00 ‖ record
// hash), node = SHA-256(0x01 ‖ left ‖ right), the path walked to the checkpoint's root.
async function checkInclusion(proof, cp) {
  if (proof.tree_size !== cp.size) return "the proof is for a tree of " + proof.tree_size + " records";
  if (!proof.record || proof.record.seq !== proof.seq) return "the proof's record is not record " + proof.seq;
  if ((await verifyChain([proof.record])) !== null) return "the record's hash is not the hash of its bytes";
  const [ZERO, ONE] = [Uint8Array.of(0), Uint8Array.of(1)];
  let r = await sha256(ZERO, fromHex(proof.record.hash));
  let [fn, sn] = [BigInt(proof.seq - 1), BigInt(proof.tree_size - 1)];
  for (const hex of proof.path) {
    if (!/^[0-9a-f]{64}$/.test(hex) || sn === 0n) return "the path is malformed or too long";
    const p = fromHex(hex);
    if ((fn & 1n) === 1n || fn === sn) {
      r = await sha256(ONE, p, r);
      while ((fn & 1n) === 0n && fn !== 0n) { fn >>= 1n; sn >>= 1n; }
    } else {
      r = await sha256(ONE, r, p);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  if (sn !== 0n) return "the path is too short";
  return toHex(r) === cp.root ? null : "the path leads to " + toHex(r) + ", not the checkpoint's root";
}

// The newest entries of an account's history (pages are oldest first): at most 10 pages read.
async function latestHistory(base) {
  let [entries, after] = [[], null];
  for (let page = 0; page < 10; page++) {
    const got = await api(base + "/history?limit=1000" + (after === null ? "" : "&after=" + after));
    entries = entries.concat(got.entries).slice(-50);
    if (got.next_after === null) break;
    after = got.next_after;
  }
  return { entries };
}

function lookupForm(label, value, go) {
  const input = el("input", { id: "lookup", value: value || "", required: "" });
  return el("form", { class: "inline", on: { submit: (e) => { e.preventDefault(); go(input.value.trim()); } } },
    el("label", {}, t(label) + " ", input), el("button", { type: "submit", id: "lookup-button" }, t("look_up")));
}

function dueAt(r) {
  const stage = r.stage || {};
  const inner = stage.awaiting_verification || stage.scheduled || {};
  return inner.expires_at || inner.due_at || "";
}

function reservationTable(list, buttons) {
  return table([t("id"), t("account_no"), t("kind"), t("amount"), t("counterparty"), t("due"), ""],
    list.map((r) => {
      const held = r.stage && r.stage.awaiting_verification;
      const actions = buttons && held ? [
        el("button", { type: "button", class: "act", "data-confirm": r.id, on: { click: (e) => decide("confirm_hold", r.id, e.target) } }, t("confirm")),
        el("button", { type: "button", class: "act", "data-decline": r.id, on: { click: (e) => decide("decline_hold", r.id, e.target) } }, t("decline")),
      ] : [];
      return [el("span", { class: "mono" }, r.id), String(r.account), held ? t("holds") : code(r.kind), r.amount, r.counterparty || "", dueAt(r), el("span", {}, actions)];
    }));
}

// The command id of each decision not yet answered, by action: a retry after a network error
// sends the same id, so the ledger answers it as a duplicate instead of recording it twice.
const decisionIds = new Map();

async function decide(type, hold, button) {
  // Both buttons of the hold are disabled until the answer: a double click sends one command.
  const row = button && button.closest("tr");
  const buttons = row ? Array.from(row.querySelectorAll("button.act")) : [];
  if (buttons.some((b) => b.disabled)) return;
  for (const b of buttons) b.disabled = true;
  const action = type + " " + hold;
  if (!decisionIds.has(action)) decisionIds.set(action, newId());
  const answer = await api("/v1/commands?brief=true", { method: "POST", body: JSON.stringify({ type, id: decisionIds.get(action), hold }) })
    .catch((err) => ({ status: "error", detail: err.message, failed: err }));
  if (answer.failed && answer.failed.status === 401) return tokenGone();
  if (!answer.failed) decisionIds.delete(action);
  await show("holds");
  document.getElementById("page").prepend(el("p", { id: "decided", class: answer.status === "accepted" ? "ok" : "error" },
    t("done") + " " + type + " " + hold + ": " + code(answer.status) + (answer.detail ? " — " + answer.detail : "")));
}

function bodyType(event) {
  return typeof event.body === "string" ? event.body : Object.keys(event.body || {})[0] || "";
}

// A posting as the account's history shows it: its kind, the amount signed from this account's
// side (− out, + in), the other side (a ledger account or the external counterparty) and this
// account's balance after it.
function postingFigures(posting) {
  if (!posting) return "";
  const mine = String(state.arg);
  const debit = posting.debit || null;
  const credit = posting.credit || null;
  const out = debit && String(debit.account) === mine;
  const leg = out ? debit : credit;
  const other = out ? credit : debit;
  const party = other ? t("account_no") + " " + other.account : posting.counterparty || "";
  return [code(posting.kind), (out ? "−" : "+") + posting.amount, party, leg ? t("balance") + " " + leg.balance_after : ""]
    .filter((part) => part !== "").join(", ");
}

// A history row; a rejection shows its reason code, its figures and the rule in force then.
async function historyRow(entry) {
  const type = bodyType(entry.event);
  const row = [String(entry.seq), entry.event.at, code(type), "", "", ""];
  if (type === "posted") row[4] = postingFigures(entry.event.body.posted);
  if (type === "rejected") {
    const reason = entry.event.body.rejected.reason;
    const code = typeof reason === "string" ? reason : Object.keys(reason)[0];
    const figures = typeof reason === "string" ? {} : reason[code];
    row[3] = el("span", { class: "reason" }, code.toUpperCase());
    row[4] = Object.entries(figures).map(([k, v]) => k + ": " + (typeof v === "object" ? JSON.stringify(v) : v)).join(", ");
    const usage = await api(`/v1/accounts/${encodeURIComponent(state.arg)}/usage?at=${encodeURIComponent(entry.event.at)}`).catch(() => null);
    row[5] = el("span", { class: "rule" }, (usage && usage.policy) || "");
  }
  return row;
}

// Recomputes each record's hash (docs/FORMAT.md, "Hash chain") and checks the links: null when
// all hold, else the first seq that does not.
async function verifyChain(records) {
  const tag = new TextEncoder().encode("tiered-ledger/event/v1\0\0");
  let prev = null;
  for (const record of records) {
    if (prev !== null && record.prev_hash !== prev) return record.seq;
    const bytes = new Uint8Array(tag.length + 8 + 32 + record.event_hex.length / 2);
    bytes.set(tag, 0);
    new DataView(bytes.buffer).setBigUint64(tag.length, BigInt(record.seq));
    bytes.set(fromHex(record.prev_hash), tag.length + 8);
    bytes.set(fromHex(record.event_hex), tag.length + 40);
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
    if (toHex(digest) !== record.hash) return record.seq;
    prev = record.hash;
  }
  return null;
}

function fromHex(hex) {
  return new Uint8Array(hex.match(/../g).map((b) => parseInt(b, 16)));
}

function toHex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

// ---- navigation, login, language ----

async function show(name, arg) {
  state.page = name;
  state.arg = arg || "";
  const target = "#/" + name + (arg ? "/" + encodeURIComponent(arg) : "");
  if (location.hash !== target) history.replaceState(null, "", target);
  for (const button of document.querySelectorAll("#nav button")) button.classList.toggle("current", button.dataset.page === name);
  const page = document.getElementById("page");
  const fresh = el("div", { id: "page-" + name });
  page.replaceChildren(fresh);
  try {
    await PAGES[name](fresh, arg);
  } catch (err) {
    if (err.status === 401) return tokenGone();
    fresh.append(failure(err));
  }
  document.body.dataset.ready = name;
}

function applyLabels() {
  document.documentElement.lang = state.lang === "zh" ? "zh-CN" : "en";
  for (const node of document.querySelectorAll("[data-t]")) node.textContent = t(node.dataset.t);
  document.getElementById("lang").textContent = state.lang === "zh" ? "English" : "中文";
  document.title = t("title");
  if (state.who) showWho();
}

async function login(token) {
  delete document.getElementById("login-error").dataset.t;
  state.token = token;
  try {
    state.who = await api("/v1/whoami");
  } catch (err) {
    state.token = null;
    sessionStorage.removeItem("token");
    document.getElementById("login-error").textContent = err.status === 401 ? t("bad_token") : shown(err.message);
    return;
  }
  sessionStorage.setItem("token", token);
  document.getElementById("login").hidden = true;
  document.getElementById("nav").hidden = false;
  document.getElementById("logout").hidden = false;
  document.getElementById("page").hidden = false;
  showWho();
  document.getElementById("login-error").textContent = "";
  document.body.dataset.role = state.who.role;
  sample();
  state.timer = setInterval(sample, 5000);
  state.recentTimer = setInterval(loadRecent, 10000);
  const [, page, arg] = location.hash.split("/");
  await show(PAGES[page] ? page : "overview", arg ? decodeURIComponent(arg) : "");
}

function showWho() {
  document.getElementById("who").textContent = state.who ? shown(state.who.name) + " (" + t("role") + ": " + shown(state.who.role) + ")" : "";
}

// The server stopped accepting the token (revoked, or expired): back to the login form, saying so.
function tokenGone() {
  logout();
  const error = document.getElementById("login-error");
  error.dataset.t = "token_gone";
  error.textContent = t("token_gone");
}

function logout() {
  sessionStorage.removeItem("token");
  clearInterval(state.timer);
  clearInterval(state.recentTimer);
  Object.assign(state, { token: null, who: null, samples: [], recent: [] });
  document.getElementById("login").hidden = false;
  for (const id of ["nav", "logout", "page"]) document.getElementById(id).hidden = true;
  document.getElementById("who").textContent = "";
  document.getElementById("page").replaceChildren();
}

document.addEventListener("DOMContentLoaded", () => {
  const asked = sessionStorage.getItem("lang") || (navigator.languages || [navigator.language]).find(Boolean) || "en";
  state.lang = asked.toLowerCase().startsWith("zh") ? "zh" : "en";
  applyLabels();
  document.getElementById("lang").addEventListener("click", () => {
    state.lang = state.lang === "zh" ? "en" : "zh";
    sessionStorage.setItem("lang", state.lang);
    applyLabels();
    if (state.who) show(state.page, state.arg);
  });
  document.getElementById("logout").addEventListener("click", logout);
  for (const button of document.querySelectorAll("#nav button")) button.addEventListener("click", () => show(button.dataset.page));
  document.getElementById("login").addEventListener("submit", (e) => {
    e.preventDefault();
    login(document.getElementById("token").value.trim());
  });
  const saved = sessionStorage.getItem("token");
  if (saved) login(saved);
});
