// The overview's charts (docs/SERVER.md, "The console"): the last hour by minute from
// GET /v1/stats/recent, drawn when the overview opens and refreshed every 10 s. Uses el(), svg(),
// card(), t(), api() and state from console.js (loaded after this file; both are deferred).

// Asks the server for the last hour; draws it when the overview is shown. A failed refresh keeps
// the last answer (the next one tries again).
async function loadRecent() {
  try {
    state.recent = (await api("/v1/stats/recent")).minutes;
  } catch (err) {
    if (err.status === 401 && state.token) return tokenGone();
  }
  if (state.page === "overview") drawOverviewCharts();
}

// Per minute, oldest first: commits/s (the minute's commands / 60), p50 and p99 commit latency in
// ms (a minute without commits has none: no point), rejections by reason (every reason seen in
// the hour gets a point for every minute).
function series(minutes) {
  const out = { commits: [], p50: [], p99: [], reasons: {} };
  const seen = new Set(minutes.flatMap((m) => Object.keys(m.rejections)));
  for (const m of minutes) {
    const at = Date.parse(m.start);
    out.commits.push([at, m.commands / 60]);
    if (m.p50_seconds !== null) out.p50.push([at, m.p50_seconds * 1000]);
    if (m.p99_seconds !== null) out.p99.push([at, m.p99_seconds * 1000]);
    for (const reason of seen) (out.reasons[reason] = out.reasons[reason] || []).push([at, m.rejections[reason] || 0]);
  }
  return out;
}

function drawOverviewCharts() {
  const charts = document.getElementById("charts");
  if (!charts) return;
  const s = series(state.recent);
  const reasons = Object.entries(s.reasons).map(([name, points]) => ({ name, points }));
  const latency = [{ name: "p50", points: s.p50 }, { name: "p99", points: s.p99 }];
  charts.replaceChildren(
    card(t("commits"), el("div", { id: "chart-commits" }, lineChart([{ name: "commits/s", points: s.commits }], t("commits")))),
    card(t("latency"), el("div", { id: "chart-latency" }, lineChart(latency, t("latency"))), legend(latency)),
    card(t("rejections"), el("div", { id: "chart-rejections" }, lineChart(reasons, t("rejections"))), legend(reasons)));
}

const COLOURS = ["#4c6ef5", "#e8590c", "#2b8a3e", "#c2255c", "#5f3dc4", "#1098ad", "#f08c00"];

// A hand-drawn line chart: one line per series, y from 0 to the largest value.
function lineChart(lines, label) {
  const [w, h, pad] = [460, 150, 30];
  const points = lines.flatMap((line) => line.points);
  const highest = Math.max(0, ...points.map((p) => p[1]));
  const root = svg("svg", { viewBox: `0 0 ${w} ${h}`, class: "chart", role: "img", "aria-label": label, "data-max": highest });
  root.append(svg("line", { x1: pad, y1: h - pad, x2: w - 5, y2: h - pad, stroke: "#889" }));
  root.append(svg("line", { x1: pad, y1: 5, x2: pad, y2: h - pad, stroke: "#889" }));
  if (points.length === 0) {
    root.append(svg("text", { x: pad + 10, y: h / 2 }, "…"));
    return root;
  }
  const x0 = Math.min(...points.map((p) => p[0]));
  const x1 = Math.max(...points.map((p) => p[0]), x0 + 1);
  const top = Math.max(...points.map((p) => p[1]), 1e-9);
  const x = (v) => pad + ((v - x0) / (x1 - x0)) * (w - pad - 10);
  const y = (v) => h - pad - (v / top) * (h - pad - 10);
  root.append(svg("text", { x: 2, y: 12 }, formatNumber(top)));
  root.append(svg("text", { x: 2, y: h - pad }, "0"));
  root.append(svg("text", { x: pad, y: h - 8 }, new Date(x0).toLocaleTimeString()));
  root.append(svg("text", { x: w - 80, y: h - 8 }, new Date(x1).toLocaleTimeString()));
  lines.forEach((line, i) => {
    const d = line.points.map((p, j) => (j ? "L" : "M") + x(p[0]).toFixed(1) + " " + y(p[1]).toFixed(1)).join(" ");
    const colour = COLOURS[i % COLOURS.length];
    root.append(svg("path", { d, fill: "none", stroke: colour, "stroke-width": 2, "data-series": line.name }));
    // A dot per minute: one minute is a point, not yet a line.
    for (const p of line.points) root.append(svg("circle", { cx: x(p[0]).toFixed(1), cy: y(p[1]).toFixed(1), r: 2.5, fill: colour }));
  });
  return root;
}

function legend(lines) {
  return el("div", { class: "legend" }, lines.map((line, i) => {
    const swatch = svg("svg", { width: 10, height: 10 }, svg("rect", { width: 10, height: 10, fill: COLOURS[i % COLOURS.length] }));
    return el("span", {}, swatch, " " + line.name);
  }));
}

function formatNumber(v) {
  return v >= 100 ? v.toFixed(0) : v >= 1 ? v.toFixed(2) : v.toPrecision(2);
}
