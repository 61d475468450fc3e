// admin.js: the operator's console (/admin). Games and their versions (upload, policy), the
// open tables (upgrade, roll back, stop, each with its per-table report), the nodes, and live
// charts of the server's own metrics (GET /metrics, polled every second).
//
// Every API call carries the admin token as `Authorization: Bearer`; the token is pasted once
// and kept in sessionStorage (this tab only). The server refuses admin calls without it, and
// any call that changes something from a page of another origin: this page is the server's
// own, so its calls pass. Every refusal is shown with its stable code and sentence.

import { $, el, pageOf } from "/page.js";

/** sessionStorage key of the admin token. */
const TOKEN_KEY = "ggs-admin-token";
/** How often the metrics and the table list are polled, in ms. */
const POLL_MS = 1000;
/** How often the games (versions, policies) and the nodes are read again, in ms. */
const SLOW_POLL_MS = 10_000;
/** Points kept by each chart (one per poll). */
const CHART_POINTS = 120;
/** How long the stop button waits for its confirming second click, in ms. */
const CONFIRM_MS = 4000;
/** The quantile of the commit latency chart. */
const QUANTILE = 0.99;

let token = sessionStorage.getItem(TOKEN_KEY) || "";

// ---- the API ----

/** An error answer of the API: its HTTP status, stable code and sentence. */
class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/**
 * Calls the API with the admin token. `body`: a string is sent as is (a script), anything
 * else as JSON. Answers the parsed JSON (or the text); throws an `ApiError`.
 */
async function api(method, path, body) {
  const headers = { Authorization: `Bearer ${token}` };
  let payload;
  if (typeof body === "string") payload = body;
  else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, { method, headers, body: payload, cache: "no-store" });
  } catch (e) {
    throw new ApiError(0, "unreachable", `the server did not answer (${e.message})`);
  }
  const text = await response.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  if (!response.ok) {
    if (json && typeof json.error === "string") throw new ApiError(response.status, json.error, json.message || "");
    throw new ApiError(response.status, `http_${response.status}`, text.trim() || response.statusText);
  }
  if (json && typeof json === "object" && !Array.isArray(json)) json.httpStatus = response.status;
  return json ?? text;
}

/** Whether an error means the token is missing or wrong. */
const isTokenRefusal = (e) => e instanceof ApiError && e.status === 401;

/** Shows an API error in the banner (and signs out when the token was refused). */
function showError(e, what = "") {
  const code = e instanceof ApiError ? e.code : "error";
  $("#error-code").textContent = code;
  $("#error-message").textContent = (what ? `${what}: ` : "") + e.message;
  $("#error").hidden = false;
  if (isTokenRefusal(e)) signOut(`${code}: ${e.message}`);
}

$("#error-close").addEventListener("click", () => ($("#error").hidden = true));

/** A short "code: sentence" element for a failure shown in place. */
const failureText = (code, message) =>
  el("span", { class: "failure" }, el("code", {}, code), message ? ` ${message}` : "");

/** Adds a line to the activity list, newest first. */
function activity(...children) {
  const list = $("#activity");
  if (list.querySelector(".muted")) list.replaceChildren();
  const time = new Date().toLocaleTimeString();
  list.prepend(el("li", {}, el("span", { class: "when" }, time), " ", ...children));
  while (list.children.length > 50) list.lastElementChild.remove();
}

// ---- signing in ----

function setBadge(status, text) {
  const badge = $("#status");
  badge.dataset.status = status;
  badge.textContent = text;
}

/**
 * Checks the token with an admin call that changes nothing: stopping a table id that cannot
 * exist answers `404 no_such_table` to the right token and `401` to any other.
 */
async function checkToken() {
  try {
    await api("POST", "/api/tables/token-check/stop");
    return true;
  } catch (e) {
    if (e instanceof ApiError && e.code === "no_such_table") return true;
    throw e;
  }
}

async function signIn(candidate) {
  token = candidate.trim();
  if (!token) return;
  setBadge("reconnecting", "Checking…");
  try {
    await checkToken();
  } catch (e) {
    signOut();
    showError(e, "the token");
    return;
  }
  sessionStorage.setItem(TOKEN_KEY, token);
  $("#error").hidden = true;
  setBadge("connected", "Signed in");
  $("#signin").hidden = true;
  $("#console").hidden = false;
  $("#signout").hidden = false;
  start();
}

function signOut(why = "") {
  token = "";
  sessionStorage.removeItem(TOKEN_KEY);
  stop();
  setBadge("closed", why ? "Token refused" : "Signed out");
  $("#signin").hidden = false;
  $("#console").hidden = true;
  $("#signout").hidden = true;
}

$("#token-form").addEventListener("submit", (event) => {
  event.preventDefault();
  signIn($("#token").value);
  $("#token").value = "";
});
$("#signout").addEventListener("click", () => signOut());

// ---- games ----

/** name -> { summary, versions: [VersionInfo] }, from GET /api/games and /api/games/{name}. */
const games = new Map();

async function refreshGames() {
  const list = await api("GET", "/api/games");
  const details = await Promise.all(
    list.map((g) => api("GET", `/api/games/${encodeURIComponent(g.name)}`).catch(() => null)),
  );
  games.clear();
  list.forEach((summary, i) => games.set(summary.name, { summary, versions: details[i]?.versions ?? [] }));
  renderGames();
}

const date = (ms) => new Date(ms).toLocaleString();

function renderGames() {
  const rows = [...games.values()].map(({ summary, versions }) => {
    const chips = versions.map((v) =>
      el(
        "span",
        {
          class: `chip${v.version === summary.current ? " current" : ""}`,
          title: `${v.origin}, ${v.bytes} bytes, ${date(v.created_ms)}`,
          "data-version": v.version,
        },
        `v${v.version}`,
        el("small", {}, ` ${v.origin}`),
      ),
    );
    const policy = el(
      "select",
      { "aria-label": `Policy of ${summary.name}`, "data-policy": summary.name },
      ...["new-tables", "all", "manual"].map((p) => {
        const option = el("option", { value: p }, p);
        option.selected = p === summary.policy;
        return option;
      }),
    );
    policy.addEventListener("change", () => setPolicy(summary.name, policy.value, summary.policy));
    return el(
      "tr",
      { "data-game": summary.name },
      el("td", {}, el("b", {}, summary.name), el("div", { class: "small muted" }, summary.description)),
      el("td", { class: "versions" }, ...chips),
      el("td", { class: "current" }, `v${summary.current}`, summary.current !== summary.version ? el("small", { class: "muted" }, ` (latest v${summary.version})`) : ""),
      el("td", {}, policy),
    );
  });
  $("#games tbody").replaceChildren(...rows);
  $("#game-names").replaceChildren(...[...games.keys()].map((name) => el("option", { value: name })));
}

async function setPolicy(name, policy, before) {
  try {
    const summary = await api("PUT", `/api/games/${encodeURIComponent(name)}/policy`, { policy });
    activity(`${name}: policy ${summary.policy}`);
  } catch (e) {
    showError(e, `policy of ${name}`);
    activity(`${name}: policy ${policy} refused: `, failureText(e.code, e.message));
    const select = $(`select[data-policy="${name}"]`);
    if (select) select.value = before;
    return;
  }
  await refreshGames().catch((e) => showError(e, "games"));
}

// ---- upload ----

$("#upload-file").addEventListener("change", async () => {
  const file = $("#upload-file").files[0];
  if (!file) return;
  $("#upload-source").value = await file.text();
  if (!$("#upload-name").value.trim()) $("#upload-name").value = file.name.replace(/\.js$/, "");
});

/** The offset in `text` of 1-based `line` and `column`. */
function offsetOf(text, line, column) {
  const lines = text.split("\n");
  let offset = 0;
  for (let i = 0; i < Math.min(line - 1, lines.length); i++) offset += lines[i].length + 1;
  return Math.min(offset + Math.max(column - 1, 0), text.length);
}

$("#upload").addEventListener("submit", async (event) => {
  event.preventDefault();
  const name = $("#upload-name").value.trim();
  const source = $("#upload-source").value;
  const policy = $("#upload-policy").value;
  const result = $("#upload-result");
  result.replaceChildren();
  result.dataset.outcome = "";
  if (!name || !source.trim()) {
    result.replaceChildren(failureText("bad_request", "name the game and give its script"));
    result.dataset.outcome = "error";
    return;
  }
  $("#upload-submit").disabled = true;
  try {
    const query = policy ? `?policy=${encodeURIComponent(policy)}` : "";
    const uploaded = await api("PUT", `/api/games/${encodeURIComponent(name)}${query}`, source);
    const said = uploaded.created
      ? `${uploaded.name} v${uploaded.version} stored (policy ${uploaded.policy})`
      : `${uploaded.name}: unchanged, the same source as v${uploaded.version}`;
    result.replaceChildren(said);
    result.dataset.outcome = "ok";
    activity(said);
    if (uploaded.upgrade) showReport(uploaded.upgrade);
    await refreshGames();
    await refreshTables();
  } catch (e) {
    result.replaceChildren(failureText(e.code, e.message));
    result.dataset.outcome = "error";
    activity(`upload of ${name} refused: `, failureText(e.code, e.message));
    const place = /at line (\d+)(?:, column (\d+))?/.exec(e.message);
    if (place) {
      const text = $("#upload-source");
      const at = offsetOf(text.value, Number(place[1]), Number(place[2] || 1));
      text.focus();
      // The message says where; the script's text there is selected.
      text.setSelectionRange(at, Math.min(at + 1, text.value.length));
    }
    if (isTokenRefusal(e)) showError(e, "upload");
  } finally {
    $("#upload-submit").disabled = false;
  }
});

// ---- tables ----

/** id -> the row's parts, kept across refreshes so choices and reports stay. */
const rows = new Map();
/** id -> the last upgrade report entry (or stop answer) of that table. */
const reports = new Map();

function ago(ms) {
  if (!ms) return "none yet";
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  return `${Math.floor(s / 3600)} h ago`;
}

function versionsOf(game) {
  return (games.get(game)?.versions ?? []).map((v) => v.version);
}

/** The version before `version` among the game's. */
function previousVersion(game, version) {
  const older = versionsOf(game).filter((v) => v < version);
  return older.length ? Math.max(...older) : null;
}

function makeRow(id) {
  const parts = {
    row: el("tr", { "data-table": id }),
    reportRow: el("tr", { class: "report", "data-report": id, hidden: "" }),
    id: el("td", { class: "id" }),
    game: el("td", { class: "game" }),
    version: el("td", { class: "version" }),
    players: el("td", { class: "players" }),
    node: el("td", { class: "node-col node" }),
    last: el("td", { class: "last" }),
    select: el("select", { class: "to", "aria-label": "Version to run" }),
    upgrade: el("button", { class: "upgrade" }, "Upgrade"),
    rollback: el("button", { class: "rollback secondary" }, "Roll back"),
    stop: el("button", { class: "stop danger" }, "Stop"),
    report: el("td", { colspan: "7" }),
  };
  parts.select.addEventListener("change", () => (parts.chosen = Number(parts.select.value)));
  parts.upgrade.addEventListener("click", () => upgradeTable(id, Number(parts.select.value)));
  parts.rollback.addEventListener("click", () => {
    const t = parts.table;
    const to = previousVersion(t.game, t.version);
    if (to !== null) upgradeTable(id, to);
  });
  parts.stop.addEventListener("click", () => {
    if (parts.stop.dataset.confirm) return stopTable(id);
    parts.stop.dataset.confirm = "1";
    parts.stop.textContent = "Really stop?";
    setTimeout(() => {
      delete parts.stop.dataset.confirm;
      parts.stop.textContent = "Stop";
    }, CONFIRM_MS);
  });
  parts.row.append(
    parts.id,
    parts.game,
    parts.version,
    parts.players,
    parts.node,
    parts.last,
    el("td", { class: "actions-cell" }, parts.select, parts.upgrade, parts.rollback, parts.stop),
  );
  parts.reportRow.append(parts.report);
  return parts;
}

function updateRow(parts, t, clustered) {
  parts.table = t;
  const link = el("a", { href: `${pageOf(t.game)}?table=${t.id}`, title: t.id }, t.id.slice(0, 8));
  parts.id.replaceChildren(link);
  parts.game.textContent = t.game ?? "(no script)";
  parts.version.textContent = t.version == null ? "–" : `v${t.version}`;
  parts.players.textContent = `${t.players}/${t.seats}${t.hibernated ? " · hibernated" : ""}`;
  parts.node.textContent = ownerOf(t) ?? "";
  parts.node.hidden = !clustered;
  parts.last.textContent = ago(t.last_event_ms);
  parts.last.title = t.last_event_ms ? date(t.last_event_ms) : "";

  const versions = versionsOf(t.game);
  const catalogued = t.version != null && versions.length > 0;
  const shown = [...parts.select.options].map((o) => Number(o.value)).join();
  if (shown !== versions.join()) {
    // The operator's choice stays; else the latest version.
    const keep = parts.chosen ?? Math.max(...versions);
    parts.select.replaceChildren(...versions.map((v) => el("option", { value: v }, `v${v}`)));
    parts.select.value = String(versions.includes(keep) ? keep : Math.max(...versions));
  }
  parts.select.disabled = parts.upgrade.disabled = !catalogued;
  parts.rollback.disabled = !catalogued || previousVersion(t.game, t.version) === null;
  parts.rollback.title = parts.rollback.disabled ? "no older version" : `to v${previousVersion(t.game, t.version)}`;

  const report = reports.get(t.id);
  parts.reportRow.hidden = !report;
  if (report) parts.report.replaceChildren(report);
}

/** The node a table is on: its owner in the cluster (absent on a single node). */
const ownerOf = (t) => t.owner ?? t.node ?? null;

async function refreshTables() {
  const tables = await api("GET", "/api/tables");
  const clustered = clusterNodes > 0 || tables.some((t) => ownerOf(t) != null);
  document.querySelectorAll("#tables .node-col").forEach((c) => (c.hidden = !clustered));
  // A game or version the console has not seen yet (uploaded elsewhere): read the games again.
  if (tables.some((t) => t.game && t.version != null && !versionsOf(t.game).includes(t.version))) {
    await refreshGames().catch(() => {});
  }
  const body = $("#tables tbody");
  const seen = new Set();
  for (const t of tables) {
    seen.add(t.id);
    let parts = rows.get(t.id);
    if (!parts) {
      parts = makeRow(t.id);
      rows.set(t.id, parts);
    }
    updateRow(parts, t, clustered);
    body.append(parts.row, parts.reportRow); // keeps the server's order
  }
  for (const [id, parts] of rows) {
    if (!seen.has(id)) {
      parts.row.remove();
      parts.reportRow.remove();
      rows.delete(id);
    }
  }
  $("#tables-empty").hidden = tables.length > 0;
}

/** One table's entry of an upgrade report, as shown under its row. */
function reportLine(game, to, entry) {
  const from = entry.from == null ? "?" : `v${entry.from}`;
  if (entry.upgraded) {
    return el("span", { class: "outcome ok", "data-outcome": "upgraded" }, `${game} ${from} → v${to}: upgraded`);
  }
  return el(
    "span",
    { class: "outcome bad", "data-outcome": "failed" },
    `${game} ${from} → v${to}: not upgraded, `,
    failureText(entry.error ?? "error", entry.message ?? ""),
  );
}

/** Shows an upgrade report: under each table's row, and in the activity list. */
function showReport(report) {
  for (const entry of report.tables) {
    reports.set(entry.table, reportLine(report.game, report.to, entry));
    activity(el("code", {}, entry.table.slice(0, 8)), " ", reportLine(report.game, report.to, entry));
  }
  if (report.tables.length === 0) activity(`${report.game} → v${report.to}: no table to upgrade`);
}

async function upgradeTable(id, to) {
  const parts = rows.get(id);
  const game = parts?.table?.game;
  if (!game) return;
  for (const b of [parts.upgrade, parts.rollback]) b.disabled = true;
  reports.set(id, el("span", { class: "outcome" }, `upgrading to v${to}…`));
  parts.reportRow.hidden = false;
  parts.report.replaceChildren(reports.get(id));
  try {
    const report = await api("POST", `/api/games/${encodeURIComponent(game)}/upgrade`, { to, tables: [id] });
    showReport(report);
  } catch (e) {
    reports.set(id, el("span", { class: "outcome bad", "data-outcome": "failed" }, failureText(e.code, e.message)));
    showError(e, `upgrade of ${id.slice(0, 8)}`);
  }
  await refreshGames().catch(() => {});
  await refreshTables().catch((e) => showError(e, "tables"));
}

async function stopTable(id) {
  try {
    await api("POST", `/api/tables/${id}/stop`);
    activity(el("code", {}, id.slice(0, 8)), " stopped");
  } catch (e) {
    showError(e, `stop of ${id.slice(0, 8)}`);
    activity(el("code", {}, id.slice(0, 8)), " not stopped: ", failureText(e.code, e.message));
  }
  await refreshTables().catch((e) => showError(e, "tables"));
}

// ---- nodes ----

/**
 * The drain control of a node: the `drain` (or, while it drains, `undrain`) path on the
 * node's entry of GET /api/nodes, POSTed with the token.
 */
function drainButton(node) {
  const path = node.draining ? node.undrain : node.drain;
  if (typeof path !== "string") return null;
  const label = node.draining ? "Undrain" : "Drain";
  const button = el("button", { class: "secondary drain" }, label);
  button.addEventListener("click", async () => {
    try {
      await api("POST", path);
      activity(`node ${node.id ?? node.name}: ${node.draining ? "taking tables again" : "draining"}`);
    } catch (e) {
      showError(e, label.toLowerCase());
    }
    refreshNodes();
  });
  return button;
}

/** Members of the cluster at the last look (0: a single node, or not known). */
let clusterNodes = 0;

/** One member of GET /api/nodes (name, tcp, http, live_tables, cpu, draining). */
function nodeItem(n) {
  const facts = [
    n.http ?? null,
    n.tcp ? `TCP ${n.tcp}` : null,
    `${n.live_tables ?? 0} ${n.live_tables === 1 ? "table" : "tables"} awake`,
    typeof n.cpu === "number" ? `CPU ${n.cpu.toFixed(2)} cores` : null,
  ].filter(Boolean);
  return el(
    "li",
    { "data-node": n.name ?? "" },
    el(
      "div",
      { class: "what" },
      el("div", { class: "name" }, String(n.name ?? "node"), n.draining ? el("span", { class: "badge draining" }, "draining") : ""),
      el("div", { class: "id" }, facts.join(" · ")),
    ),
    drainButton(n) ?? "",
  );
}

async function refreshNodes() {
  const box = $("#nodes");
  let nodes;
  try {
    nodes = await api("GET", "/api/nodes");
  } catch (e) {
    clusterNodes = 0;
    if (e.status === 404) {
      // `not_clustered`, or a server from before clusters.
      box.replaceChildren(el("p", { class: "single-node" }, "Single node: this server is not part of a cluster."));
      box.dataset.nodes = "single";
      $("#drain-note").textContent = "Drain: not offered by this server.";
      return;
    }
    box.replaceChildren(el("p", {}, failureText(e.code, e.message)));
    box.dataset.nodes = "error";
    return;
  }
  const list = Array.isArray(nodes) ? nodes : [];
  clusterNodes = list.length;
  box.dataset.nodes = String(list.length);
  box.replaceChildren(el("ul", { class: "tables" }, ...list.map(nodeItem)));
  $("#drain-note").textContent = list.some((n) => typeof n.drain === "string")
    ? ""
    : "Drain: not offered by this server's API yet (a node's Drain button appears here when it is).";
}

// ---- metrics and charts ----

/** Parses Prometheus text: name -> [{ labels, value }]. */
function parseMetrics(text) {
  const samples = new Map();
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels = {};
    for (const l of (m[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    const value = m[3] === "+Inf" ? Infinity : Number(m[3]);
    if (!samples.has(m[1])) samples.set(m[1], []);
    samples.get(m[1]).push({ labels, value });
  }
  return samples;
}

/** The sum of a metric over its labels; null when absent. */
function total(samples, name) {
  const list = samples.get(name);
  return list ? list.reduce((sum, s) => sum + s.value, 0) : null;
}

/** The histogram's cumulative buckets: [[le, count]], by bound. */
function buckets(samples, name) {
  return (samples.get(`${name}_bucket`) ?? [])
    .map((s) => [s.labels.le === "+Inf" ? Infinity : Number(s.labels.le), s.value])
    .sort((a, b) => a[0] - b[0]);
}

/** The `q` quantile (upper bucket bound) of the observations between two bucket lists. */
function quantileBetween(before, after, q) {
  const old = new Map(before);
  const diff = after.map(([le, count]) => [le, count - (old.get(le) ?? 0)]);
  const count = diff.length ? diff[diff.length - 1][1] : 0;
  if (count <= 0) return null;
  const finite = diff.filter(([le]) => Number.isFinite(le));
  for (const [le, n] of diff) if (n >= q * count) return Number.isFinite(le) ? le : finite[finite.length - 1]?.[0] ?? null;
  return null;
}

class Chart {
  /** `fromZero`: the y axis starts at 0 (else at the smallest point shown). */
  constructor(figure, format, { fromZero = true, idle = "–" } = {}) {
    this.figure = figure;
    this.fromZero = fromZero;
    this.idle = idle;
    this.canvas = figure.querySelector("canvas");
    this.value = figure.querySelector(".value");
    this.format = format;
    this.points = [];
  }

  push(value) {
    this.points.push(value);
    if (this.points.length > CHART_POINTS) this.points.shift();
    this.value.textContent = value == null ? this.idle : this.format(value);
    this.figure.dataset.last = value == null ? "" : String(value);
    this.figure.dataset.points = String(this.points.length);
    if (value != null && !(value <= Number(this.figure.dataset.max))) this.figure.dataset.max = String(value);
    this.draw();
  }

  draw() {
    const c = this.canvas;
    const ratio = window.devicePixelRatio || 1;
    const width = c.clientWidth;
    const height = c.clientHeight;
    if (!width || !height) return;
    c.width = Math.round(width * ratio);
    c.height = Math.round(height * ratio);
    const g = c.getContext("2d");
    g.setTransform(ratio, 0, 0, ratio, 0, 0);
    g.clearRect(0, 0, width, height);
    const style = getComputedStyle(document.documentElement);
    const known = this.points.filter((p) => p != null);
    const high = Math.max(...known, 0);
    const low = this.fromZero || !known.length ? 0 : Math.min(...known);
    // Headroom above the highest point; a flat line from a non-zero floor gets some below too.
    const span = (high - low) * 1.2 || high * 0.1 || 1;
    const flat = high === low;
    const bottom = this.fromZero ? 0 : Math.max(0, low - span * (flat ? 0.5 : 0.1));
    const top = bottom + span;
    const pad = 4;
    const y = (v) => height - pad - ((v - bottom) / (top - bottom)) * (height - 2 * pad);
    // Until the chart is full, its points spread over the whole width.
    const slots = Math.max(Math.min(this.points.length, CHART_POINTS) - 1, 1);
    const x = (i) => width - (this.points.length - 1 - i) * (width / slots);
    g.strokeStyle = style.getPropertyValue("--line").trim() || "#e1e4ea";
    g.lineWidth = 1;
    for (const v of [bottom, (bottom + high) / 2, high]) {
      g.beginPath();
      g.moveTo(0, Math.round(y(v)) + 0.5);
      g.lineTo(width, Math.round(y(v)) + 0.5);
      g.stroke();
    }
    g.fillStyle = style.getPropertyValue("--muted").trim() || "#687087";
    g.font = "10px system-ui, sans-serif";
    if (known.length) g.fillText(this.format(high), 4, Math.max(y(high) - 3, 10));
    if (!this.fromZero && known.length && y(bottom) - y(high) > 24) g.fillText(this.format(bottom), 4, height - 6);
    g.strokeStyle = style.getPropertyValue("--accent").trim() || "#3a63d8";
    g.lineWidth = 2;
    g.beginPath();
    let drawing = false;
    this.points.forEach((p, i) => {
      if (p == null) {
        drawing = false;
        return;
      }
      if (drawing) g.lineTo(x(i), y(p));
      else g.moveTo(x(i), y(p));
      drawing = true;
    });
    g.stroke();
    // A lone point (between two gaps) shows as a dot.
    g.fillStyle = g.strokeStyle;
    this.points.forEach((p, i) => {
      if (p != null && this.points[i - 1] == null && this.points[i + 1] == null) {
        g.beginPath();
        g.arc(x(i), y(p), 2.5, 0, 2 * Math.PI);
        g.fill();
      }
    });
  }
}

const fixed = (v, digits) => (v >= 100 ? v.toFixed(0) : v.toFixed(digits));
const charts = {
  events: new Chart($("#chart-events"), (v) => `${fixed(v, 1)}/s`),
  latency: new Chart($("#chart-latency"), (v) => (v < 0.001 ? `${fixed(v * 1e6, 0)} µs` : `${fixed(v * 1000, 1)} ms`), {
    idle: "no commits",
  }),
  memory: new Chart($("#chart-memory"), (v) => `${fixed(v / 1048576, 1)} MiB`, { fromZero: false }),
};

let previous = null;

async function pollMetrics() {
  let text;
  try {
    const response = await fetch("/metrics", { cache: "no-store", headers: { Authorization: `Bearer ${token}` } });
    if (!response.ok) throw new ApiError(response.status, `http_${response.status}`, "GET /metrics failed");
    text = await response.text();
  } catch (e) {
    setBadge("reconnecting", "Server unreachable");
    previous = null;
    for (const chart of Object.values(charts)) chart.push(null);
    return;
  }
  setBadge("connected", "Signed in");
  const samples = parseMetrics(text);
  const now = {
    at: performance.now(),
    events: total(samples, "ggs_events_total") ?? 0,
    latency: buckets(samples, "ggs_commit_latency_seconds"),
  };
  if (previous) {
    const seconds = (now.at - previous.at) / 1000;
    charts.events.push(Math.max(0, now.events - previous.events) / seconds);
    charts.latency.push(quantileBetween(previous.latency, now.latency, QUANTILE));
  }
  charts.memory.push(total(samples, "ggs_resident_memory_bytes"));
  previous = now;
}

// ---- the polling loop ----

let timers = [];

function every(ms, task) {
  let running = false;
  const run = async () => {
    if (running) return;
    running = true;
    try {
      await task();
    } catch (e) {
      showError(e);
    } finally {
      running = false;
    }
  };
  run();
  timers.push(setInterval(run, ms));
}

function start() {
  stop();
  every(POLL_MS, pollMetrics);
  refreshGames()
    .catch((e) => showError(e, "games"))
    .finally(() => {
      if (token) every(POLL_MS, refreshTables);
    });
  timers.push(setInterval(() => refreshGames().catch((e) => showError(e, "games")), SLOW_POLL_MS));
  every(SLOW_POLL_MS, refreshNodes);
}

function stop() {
  timers.forEach(clearInterval);
  timers = [];
  previous = null;
}

window.addEventListener("resize", () => Object.values(charts).forEach((c) => c.draw()));

if (token) signIn(token);
