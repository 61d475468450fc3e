// chat.js: the chat page, for games/chat.js.

import { $, el, startTable } from "/page.js";

const log = $("#log");

function append(line) {
  const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
  log.append(line);
  if (atBottom) log.scrollTop = log.scrollHeight;
}

const conn = startTable("chat");

conn.on("message", (body) => {
  // "<nick>> <text>": the nick ends at the first "> ".
  const split = body.indexOf("> ");
  const line =
    split === -1
      ? el("p", { class: "message" }, body)
      : el("p", { class: "message" }, el("span", { class: "nick" }, body.slice(0, split)), " ", body.slice(split + 2));
  append(line);
});
conn.on("notice", (body) => append(el("p", { class: "notice" }, body)));

$("#say").addEventListener("submit", (event) => {
  event.preventDefault();
  const text = $("#text").value;
  if (!text.trim()) return;
  conn.send("message", text);
  $("#text").value = "";
});
$("#nick-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const nick = $("#nick").value.trim();
  if (nick) conn.send("/nick", nick);
});
