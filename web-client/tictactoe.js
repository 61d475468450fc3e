// tictactoe.js: the tic-tac-toe page, for games/tictactoe.js.

import { $, el, notice, startTable } from "/page.js";

const LINES = [
  [0, 1, 2], [3, 4, 5], [6, 7, 8],
  [0, 3, 6], [1, 4, 7], [2, 5, 8],
  [0, 4, 8], [2, 4, 6],
];

let seat = 0; // 1 (X) or 2 (O); 0: not seated
let myTurn = false;
let finished = false;
let board = "         ";

const cells = [...Array(9).keys()].map((i) =>
  el("button", {
    "data-cell": i,
    "data-mark": "",
    "aria-label": `row ${Math.floor(i / 3) + 1}, column ${(i % 3) + 1}`,
    onclick: () => play(i),
  }),
);
$("#board").append(...cells);

function say(text, kind = "") {
  const message = $("#message");
  message.textContent = text;
  message.className = `ttt-status ${kind}`;
}

function render() {
  const line = LINES.find(([a, b, c]) => board[a] !== " " && board[a] === board[b] && board[a] === board[c]);
  cells.forEach((cell, i) => {
    const mark = board[i] === " " ? "" : board[i];
    cell.textContent = mark;
    cell.dataset.mark = mark;
    cell.disabled = !myTurn || mark !== "" || finished;
    cell.classList.toggle("line", Boolean(line && line.includes(i)));
  });
  $("#board").classList.toggle("my-turn", myTurn && !finished);
  $("#new-game").hidden = !(finished && seat);
}

function play(i) {
  if (!myTurn || finished || board[i] !== " ") return;
  myTurn = false;
  conn.send("set", JSON.stringify({ x: i % 3, y: Math.floor(i / 3) }));
  say("Their turn");
  render();
}

const conn = startTable("tictactoe", {
  // Saying hi takes a seat, or (when seated) re-sends the seat, the board and the turn.
  onReady: () => conn.send("hi"),
});

conn.on("welcome", (body) => {
  seat = Number(body);
  const mark = seat === 1 ? "X" : "O";
  $("#you").replaceChildren("You play ", el("span", { class: `mark-${mark.toLowerCase()}` }, mark), ".");
  if (board.trim() === "" && !myTurn) say("Waiting for an opponent…");
});
conn.on("not_welcome", () => {
  seat = 0;
  say("The table is full: you are watching");
});
conn.on("game_board", (body) => {
  board = body.padEnd(9, " ").slice(0, 9);
  if (board.trim() === "") finished = false;
  if (!myTurn && !finished && seat) say("Their turn");
  render();
});
conn.on("new_game", () => {
  finished = false;
  myTurn = false;
  say("New game");
  render();
});
conn.on("yourturn", () => {
  myTurn = true;
  finished = false;
  say("Your turn");
  render();
});
conn.on("winner", () => {
  finished = true;
  myTurn = false;
  say("You won!", "win");
  render();
});
conn.on("loser", () => {
  finished = true;
  myTurn = false;
  say("You lost", "lose");
  render();
});
conn.on("draw", () => {
  finished = true;
  myTurn = false;
  say("Draw");
  render();
});
conn.on("warning", (text) => {
  if (text === "opponent left") {
    finished = false;
    myTurn = false;
    say("Your opponent left: waiting for another…");
  } else if (text.startsWith("game over")) {
    finished = true;
  }
  notice(text);
  render();
});

$("#new-game").addEventListener("click", () => conn.send("new"));
render();
