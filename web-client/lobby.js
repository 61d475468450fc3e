// lobby.js: the lobby page: the built-in games, the open tables, join by link.

import { $, el, notice } from "/page.js";

/** How often the table list is refreshed, in ms. */
const REFRESH_MS = 3000;
/** The pages of the built-in games; other tables open in the console. */
const PAGES = new Set(["tictactoe", "pong", "chat"]);
const TITLES = { tictactoe: "Tic-tac-toe", pong: "Pong", chat: "Chat", guess: "Guess" };

const pageOf = (game) => (PAGES.has(game) ? `/${game}.html` : "/console.html");
const titleOf = (game) => TITLES[game] || game || "No game yet";

/** A game's description without a leading "Name: ". */
function blurb(description) {
  const text = description.replace(/^[^\s:]+:\s*/, "");
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function ago(ms) {
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  return `${Math.round(s / 3600)} h ago`;
}

async function loadGames() {
  const games = await (await fetch("/api/games")).json();
  $("#games").replaceChildren(
    ...games.map((g) =>
      el(
        "div",
        { class: "card game-card", "data-game": g.name },
        el("h3", {}, titleOf(g.name)),
        el("p", {}, blurb(g.description)),
        el(
          "a",
          {
            class: "button",
            href: PAGES.has(g.name) ? pageOf(g.name) : `/console.html?game=${encodeURIComponent(g.name)}`,
            "data-create": g.name,
          },
          "Create table",
        ),
      ),
    ),
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

loadGames();
loadTables();
setInterval(loadTables, REFRESH_MS);
