// page.js: what every page shares: the connection status badge, creating or joining the
// table named in the URL (?table=<id>), the invite link, short notices, and which games have
// a page of their own. A new table is created with the catalogue game it runs (hello with
// `game`), so it has its script from its first event.

import { connect, parseError } from "/ggs.js";

const STATUS_TEXT = {
  connecting: "Connecting…",
  connected: "Connected",
  reconnecting: "Reconnecting…",
  closed: "Disconnected",
};

/** How long a notice stays on screen, in ms. */
const NOTICE_MS = 3500;

/** The catalogue games with a page of their own (`/<game>.html`), and their titles. */
export const GAME_PAGES = { tictactoe: "Tic-tac-toe", pong: "Pong", chat: "Chat" };

/** Whether `game` has a page of its own. */
export const hasPage = (game) => Object.hasOwn(GAME_PAGES, game ?? "");

/** The page that plays `game`: its own, else the console, which shows any table raw. */
export const pageOf = (game) => (hasPage(game) ? `/${game}.html` : "/console.html");

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
 * Joins the table named in the URL, or creates one running `game` (a catalogue game's name;
 * none: a table without a script), and keeps the page in step with it: the status badge, the
 * URL and invite link (`?table=<id>`), `data-player` and `data-table` on the body, and notices
 * for errors and a server restart.
 */
export function openTable({ game = null } = {}) {
  const conn = connect({ table: new URLSearchParams(location.search).get("table"), game });
  conn.onStatus(showStatus);
  conn.onHello(({ player, table }) => {
    if (new URLSearchParams(location.search).get("table") !== table) {
      history.replaceState(null, "", `${location.pathname}?table=${table}`);
    }
    document.body.dataset.player = player;
    document.body.dataset.table = table;
    showInvite(table);
  });
  conn.on("error", (body) => {
    const { code, message } = parseError(body);
    if (code === "no_such_table") {
      notice("This table does not exist (any more).");
      $("#status").textContent = "No such table";
    } else if (code === "no_such_game" || code === "bad_game_name") {
      notice(`There is no game ${game} on this server.`);
      $("#status").textContent = "No such game";
    } else {
      notice(message ? `${code}: ${message}` : code);
    }
  });
  conn.on("shutdown", () => notice("The server is restarting…"));
  return conn;
}

/**
 * A game page: joins the table named in the URL, or creates one running the catalogue game
 * `game`, and keeps the page connected (see `openTable`).
 *
 * `onReady({ player, table, resumed, created })` runs once the table has its script, again
 * after every reconnection (`resumed: true`): the place to ask the script for its state.
 * `created` is true when this page made the table.
 */
export function startTable(game, { onReady = () => {} } = {}) {
  const requested = new URLSearchParams(location.search).get("table");
  const conn = openTable({ game });
  let hello = null;
  let readyFor = null;

  const ready = () => {
    if (!hello || readyFor === hello) return;
    readyFor = hello;
    document.body.dataset.ready = "true";
    onReady({ ...hello, created: !requested && !hello.resumed });
  };

  conn.onHello((h) => {
    hello = h;
    if (h.defined) ready();
    else notice("Waiting for the table's game to be set up");
  });
  // A table joined before its host defined a script gets it later.
  conn.on("defined", (body) => {
    if (body === "ok") ready();
    else notice(`The game failed to load: ${body.replace(/^error /, "")}`);
  });
  return conn;
}
