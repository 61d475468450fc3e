// console.js: a raw view of any table: every message in, any game command out. Tables whose
// script is not a built-in game open here.

import { $, el } from "/page.js";
import { connect } from "/ggs.js";

const STATUS_TEXT = { connecting: "Connecting…", connected: "Connected", reconnecting: "Reconnecting…", closed: "Disconnected" };
const log = $("#log");
const params = new URLSearchParams(location.search);
const table = params.get("table");
// ?game=<name> creates a table running that catalogue game.
const conn = connect({ table, game: params.get("game") });

function append(command, body) {
  log.append(el("p", { class: "raw" }, el("span", { class: "cmd" }, command), " ", body));
  log.scrollTop = log.scrollHeight;
}

conn.onStatus((status) => {
  $("#status").textContent = STATUS_TEXT[status] || status;
  $("#status").dataset.status = status;
  document.body.dataset.connection = status;
});
conn.onHello(({ table }) => {
  history.replaceState(null, "", `${location.pathname}?table=${table}`);
  $("#invite-link").value = location.href;
  $("#invite").hidden = false;
});
conn.onAny(append);

$("#send").addEventListener("submit", (event) => {
  event.preventDefault();
  const command = $("#command").value.trim();
  if (!command) return;
  conn.send(command, $("#args").value);
  append("→ " + command, $("#args").value);
  $("#args").value = "";
});
$("#invite-copy").addEventListener("click", () => navigator.clipboard.writeText($("#invite-link").value));
