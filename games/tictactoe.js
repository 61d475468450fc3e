/*
 * Tic-tac-toe for two players, speaking the GGS 1.0 tic-tac-toe vocabulary.
 *
 * Client -> server (Game-Command, body):
 *   hi               take a seat: the first two players to say hi become
 *                    player 1 (X) and player 2 (O). Saying hi again when
 *                    seated re-sends welcome, the board and, if it is your
 *                    move, yourturn.
 *   set {"x":X,"y":Y}
 *                    put your mark in column X (0-2), row Y (0-2)
 *   new              start a new game (any seated player, at any time once
 *                    both seats are taken); player 1 always moves first
 *
 * Server -> client (Client-Command, body):
 *   welcome 1|2      to the player who took seat 1 (X) or 2 (O)
 *   not_welcome "table is full"
 *                    to a third player saying hi
 *   game_board B     to everyone; B is 9 characters, "X", "O" or " ",
 *                    row-major: B[y * 3 + x]
 *   new_game         to everyone, empty body, before the fresh board
 *   yourturn         to the player to move, empty body
 *   winner X|O       to the winner; the body is the winning mark
 *   loser X|O        to the other player; the body is the winning mark
 *   draw             to both players, empty body: full board, no line
 *   warning <text>   to the sender, one of:
 *                      "not your turn"
 *                      "square taken"
 *                      "bad move: send {"x":0-2,"y":0-2}"
 *                      "game over: send new to play again"
 *                      "waiting for opponent"
 *                      "not seated: send hi to play"
 *                      "unknown command: <command>"
 *                    and, to the remaining player when the other leaves,
 *                      "opponent left"
 *                    (followed by game_board to everyone: the game is reset
 *                    and the free seat goes to the next player saying hi).
 *
 * The whole game lives in GGS.world under "state" as JSON, so it survives a
 * restart:
 *   { "seats": [player1 | null, player2 | null],
 *     "board": "         ", "turn": 1 | 2, "finished": false }
 */
// @ts-check
/// <reference path="ggs.d.ts" />

var MARKS = ["X", "O"];
var EMPTY_BOARD = "         ";
var LINES = [
  [0, 1, 2], [3, 4, 5], [6, 7, 8],
  [0, 3, 6], [1, 4, 7], [2, 5, 8],
  [0, 4, 8], [2, 4, 6]
];

// ---- state ---------------------------------------------------------------

function initialState() {
  return { seats: [null, null], board: EMPTY_BOARD, turn: 1, finished: false };
}

function loadState() {
  var raw = GGS.world.getItem("state");
  if (!raw) return initialState();
  try {
    return JSON.parse(raw);
  } catch (e) {
    return initialState();
  }
}

function saveState(state) {
  GGS.world.setItem("state", JSON.stringify(state));
}

function resetGame(state) {
  state.board = EMPTY_BOARD;
  state.turn = 1;
  state.finished = false;
}

function seatOf(state, player) {
  return state.seats.indexOf(player) + 1; // 0 when not seated
}

function playerAt(state, seat) {
  return state.seats[seat - 1];
}

function bothSeated(state) {
  return state.seats[0] !== null && state.seats[1] !== null;
}

// ---- rules ---------------------------------------------------------------

function winningMark(board) {
  for (var i = 0; i < LINES.length; i++) {
    var a = board[LINES[i][0]];
    if (a !== " " && a === board[LINES[i][1]] && a === board[LINES[i][2]]) {
      return a;
    }
  }
  return null;
}

function isFull(board) {
  return board.indexOf(" ") === -1;
}

function coordinate(value) {
  if (typeof value === "string" && value.trim() !== "") value = Number(value);
  if (typeof value !== "number" || !Number.isInteger(value)) return null;
  return value >= 0 && value <= 2 ? value : null;
}

// Returns the board index of a move body like {"x":1,"y":2}, or null.
function parseMove(args) {
  var move;
  try {
    move = JSON.parse(args);
  } catch (e) {
    return null;
  }
  if (move === null || typeof move !== "object") return null;
  var x = coordinate(move.x);
  var y = coordinate(move.y);
  if (x === null || y === null) return null;
  return y * 3 + x;
}

// ---- messages ------------------------------------------------------------

function warn(player, text) {
  GGS.sendCommand(player, "warning", text);
}

function sendBoardToAll(state) {
  GGS.sendCommandToAll("game_board", state.board);
}

function sendTurn(state) {
  GGS.sendCommand(playerAt(state, state.turn), "yourturn", "");
}

// ---- commands ------------------------------------------------------------

function hi(state, player) {
  var seat = seatOf(state, player);
  if (seat) {
    GGS.sendCommand(player, "welcome", String(seat));
    GGS.sendCommand(player, "game_board", state.board);
    if (bothSeated(state) && !state.finished && state.turn === seat) {
      sendTurn(state);
    }
    return;
  }
  var free = state.seats.indexOf(null);
  if (free === -1) {
    GGS.sendCommand(player, "not_welcome", "table is full");
    return;
  }
  state.seats[free] = player;
  saveState(state);
  GGS.sendCommand(player, "welcome", String(free + 1));
  if (bothSeated(state)) {
    sendBoardToAll(state);
    sendTurn(state);
  }
}

// Checks whether `player` may move now; sends the reason and returns false if not.
function mayMove(state, player) {
  var seat = seatOf(state, player);
  if (!seat) warn(player, "not seated: send hi to play");
  else if (!bothSeated(state)) warn(player, "waiting for opponent");
  else if (state.finished) warn(player, "game over: send new to play again");
  else if (state.turn !== seat) warn(player, "not your turn");
  else return true;
  return false;
}

function placeMark(state, player, args) {
  if (!mayMove(state, player)) return;
  var index = parseMove(args);
  if (index === null) {
    warn(player, 'bad move: send {"x":0-2,"y":0-2}');
    return;
  }
  if (state.board[index] !== " ") {
    warn(player, "square taken");
    return;
  }
  var mark = MARKS[state.turn - 1];
  state.board = state.board.slice(0, index) + mark + state.board.slice(index + 1);
  var won = winningMark(state.board);
  state.finished = won !== null || isFull(state.board);
  var mover = state.turn;
  state.turn = 3 - state.turn;
  saveState(state);

  sendBoardToAll(state);
  if (won) {
    GGS.sendCommand(playerAt(state, mover), "winner", won);
    GGS.sendCommand(playerAt(state, 3 - mover), "loser", won);
  } else if (state.finished) {
    GGS.sendCommand(state.seats[0], "draw", "");
    GGS.sendCommand(state.seats[1], "draw", "");
  } else {
    sendTurn(state);
  }
}

function newGame(state, player) {
  if (!seatOf(state, player)) {
    warn(player, "not seated: send hi to play");
    return;
  }
  if (!bothSeated(state)) {
    warn(player, "waiting for opponent");
    return;
  }
  resetGame(state);
  saveState(state);
  GGS.sendCommandToAll("new_game", "");
  sendBoardToAll(state);
  sendTurn(state);
}

// ---- hooks ---------------------------------------------------------------

/** @type {GGSHooks["playerCommand"]} */
function playerCommand(player, command, args) {
  var state = loadState();
  args = args == null ? "" : String(args);
  switch (command) {
    case "hi":
      hi(state, player);
      break;
    case "set":
      placeMark(state, player, args);
      break;
    case "new":
      newGame(state, player);
      break;
    default:
      warn(player, "unknown command: " + command);
  }
}

/** @type {GGSHooks["playerLeft"]} */
function playerLeft(player) {
  var state = loadState();
  var seat = seatOf(state, player);
  if (!seat) return;
  state.seats[seat - 1] = null;
  resetGame(state);
  saveState(state);
  var other = playerAt(state, 3 - seat);
  if (other !== null) warn(other, "opponent left");
  sendBoardToAll(state);
}
