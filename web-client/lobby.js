// lobby.js: the lobby page: the server's games (GET /api/games), the open tables, join by
// link. A game with a page of its own opens there; any other (an uploaded one) plays in the
// console.

import { $, el, GAME_PAGES, hasPage, notice, pageOf } from "/page.js";

/** How often the table list is refreshed, in ms. */
const REFRESH_MS = 3000;
/** `game` of a table whose script is not a catalogue game (`GET /api/tables`). */
const CUSTOM_GAME = "custom";

/** The server's games by name, once loaded: `{ name, description, version, updated_ms }`. */
const games = new Map();

/** A description's leading "Name: ", as in "Chat: a multi-user chat room". */
const NAMED = /^([^\s:]+):\s*/;

/** What the lobby calls a game: its page's title, the name its description opens with, or
 * its catalogue name. */
function titleOf(game) {
  if (!game) return "No game yet";
  if (hasPage(game)) return GAME_PAGES[game];
  const named = NAMED.exec(games.get(game)?.description ?? "");
  if (named) return named[1];
  if (game === CUSTOM_GAME && !games.has(game)) return "Custom script";
  return game;
}

/** A game's description without a leading "Name: ". */
function blurb(description) {
  const text = description.replace(NAMED, "");
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function ago(ms) {
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  return `${Math.round(s / 3600)} h ago`;
}

/** The link that creates a table of `game`. */
function createLink(game) {
  return hasPage(game) ? pageOf(game) : `/console.html?game=${encodeURIComponent(game)}`;
}

function gameCard(g) {
  return el(
    "div",
    { class: "card game-card", "data-game": g.name },
    el("h3", {}, titleOf(g.name), " ", el("span", { class: "version" }, `v${g.version}`)),
    el("p", {}, blurb(g.description)),
    hasPage(g.name) ? "" : el("p", { class: "small muted console-note" }, "Plays in the console: every message raw."),
    el("a", { class: "button", href: createLink(g.name), "data-create": g.name }, "Create table"),
  );
}

async function loadGames() {
  let list;
  try {
    list = await (await fetch("/api/games")).json();
  } catch {
    $("#games").replaceChildren(el("p", { class: "muted" }, "The games could not be loaded."));
    return;
  }
  games.clear();
  for (const g of list) games.set(g.name, g);
  $("#games").replaceChildren(
    ...(list.length ? list.map(gameCard) : [el("p", { class: "muted" }, "The server has no games yet.")]),
  );
}

async function loadTables() {
  let tables;
  try {
    tables = await (await fetch("/api/tables")).json();
  } catch {
    return;
  }
  const list = $("#tables");
  if (tables.length === 0) {
    list.replaceChildren(el("li", { class: "muted" }, "No open tables yet: create one above."));
    return;
  }
  tables.sort((a, b) => (b.last_event_ms || b.created_ms) - (a.last_event_ms || a.created_ms));
  list.replaceChildren(
    ...tables.map((t) => {
      const players = `${t.players} player${t.players === 1 ? "" : "s"}`;
      const when = t.last_event_ms ? `active ${ago(t.last_event_ms)}` : `created ${ago(t.created_ms)}`;
      return el(
        "li",
        { "data-table": t.id },
        el(
          "div",
          { class: "what" },
          el("div", { class: "name" }, titleOf(t.game)),
          el("div", { class: "small muted" }, `${players} · ${when}`),
          el("div", { class: "id" }, t.id),
        ),
        el("a", { class: "button secondary", href: `${pageOf(t.game)}?table=${t.id}` }, "Join"),
      );
    }),
  );
}

$("#join").addEventListener("submit", async (event) => {
  event.preventDefault();
  const text = $("#join-link").value.trim();
  if (!text) return;
  if (/^https?:\/\//.test(text)) {
    location.href = text;
    return;
  }
  const tables = await (await fetch("/api/tables")).json();
  const table = tables.find((t) => t.id === text);
  if (table) location.href = `${pageOf(table.game)}?table=${text}`;
  else if (/^[0-9a-f-]{36}$/i.test(text)) location.href = `/console.html?table=${text}`;
  else notice("That is neither an invite link nor a table id");
});

// The games first: the table list names its tables' games by them.
await loadGames();
loadTables();
setInterval(loadTables, REFRESH_MS);
