// console.js: a raw view of any table: every message in, any game command out. Games without
// a page of their own play here: ?game=<name> creates a table running that catalogue game,
// ?table=<id> joins one.

import { $, el, openTable } from "/page.js";

const log = $("#log");
const conn = openTable({ game: new URLSearchParams(location.search).get("game") });

function append(command, body) {
  log.append(el("p", { class: "raw" }, el("span", { class: "cmd" }, command), " ", body));
  log.scrollTop = log.scrollHeight;
}

conn.onAny(append);

$("#send").addEventListener("submit", (event) => {
  event.preventDefault();
  const command = $("#command").value.trim();
  if (!command) return;
  conn.send(command, $("#args").value);
  append("→ " + command, $("#args").value);
  $("#args").value = "";
});
