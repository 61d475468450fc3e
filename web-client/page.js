// page.js: what every game page shares: the connection status badge, creating or joining the
// table named in the URL (?table=<id>), defining a built-in game on a new table, the invite
// link, and short notices.

import { connect, parseError } from "/ggs.js";

const STATUS_TEXT = {
  connecting: "Connecting…",
  connected: "Connected",
  reconnecting: "Reconnecting…",
  closed: "Disconnected",
};

/** How long a notice stays on screen, in ms. */
const NOTICE_MS = 3500;

/** Shorthand for document.querySelector. */
export const $ = (selector) => document.querySelector(selector);

/** Creates an element: el("li", { class: "x" }, "text", child). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  node.append(...children);
  return node;
}

/** Shows a short notice at the bottom of the page. */
export function notice(text) {
  let box = $("#notice");
  if (!box) {
    box = el("div", { id: "notice", role: "status" });
    document.body.append(box);
  }
  box.textContent = text;
  box.classList.add("shown");
  clearTimeout(box.hideTimer);
  box.hideTimer = setTimeout(() => box.classList.remove("shown"), NOTICE_MS);
}

function showStatus(status) {
  const badge = $("#status");
  badge.textContent = STATUS_TEXT[status] || status;
  badge.dataset.status = status;
  document.body.dataset.connection = status;
}

function showInvite(table) {
  const link = `${location.origin}${location.pathname}?table=${table}`;
  const input = $("#invite-link");
  if (!input) return;
  input.value = link;
  $("#invite").hidden = false;
  const copy = $("#invite-copy");
  copy.onclick = async () => {
    try {
      await navigator.clipboard.writeText(link);
      notice("Link copied");
    } catch {
      input.select();
    }
  };
}

/**
 * Creates or joins the table named in the URL and keeps the page connected.
 *
 * `game` is the built-in game a new table is defined with. `onReady({ player, table,
 * resumed, created })` runs once the table has its script, again after every reconnection
 * (`resumed: true`): the place to ask the script for its state. `created` is true when this
 * page made the table and defined its game.
 */
export function startTable(game, { onReady = () => {} } = {}) {
  const requested = new URLSearchParams(location.search).get("table");
  const conn = connect({ table: requested });
  let hello = null;
  let readyFor = null;

  const ready = () => {
    if (!hello || readyFor === hello) return;
    readyFor = hello;
    document.body.dataset.ready = "true";
    onReady({ ...hello, created: !requested && !hello.resumed });
  };

  conn.onStatus(showStatus);
  conn.onHello(async (h) => {
    hello = h;
    if (new URLSearchParams(location.search).get("table") !== h.table) {
      history.replaceState(null, "", `${location.pathname}?table=${h.table}`);
    }
    document.body.dataset.player = h.player;
    document.body.dataset.table = h.table;
    showInvite(h.table);
    if (h.defined) return ready();
    if (requested) {
      notice("Waiting for the table's game to be set up");
      return;
    }
    const response = await fetch(`/api/games/${game}.js`);
    if (!response.ok) {
      notice(`Cannot load the game ${game}`);
      return;
    }
    conn.define(await response.text());
  });
  conn.on("defined", (body) => {
    if (body === "ok") ready();
    else notice(`The game failed to load: ${body.replace(/^error /, "")}`);
  });
  conn.on("error", (body) => {
    const { code, message } = parseError(body);
    if (code === "no_such_table") {
      notice("This table does not exist (any more).");
      $("#status").textContent = "No such table";
    } else {
      notice(message ? `${code}: ${message}` : code);
    }
  });
  conn.on("shutdown", () => notice("The server is restarting…"));
  return conn;
}
