/*
 * Guess: one player picks a secret number from 1 to 100, the others guess it.
 *
 * The game the author's guide (games/README.md) writes from scratch.
 *
 * Client -> server (Game-Command, body):
 *   pick N           start a round with the secret N (1-100); you are its picker
 *                    and cannot guess. Only when no round is on.
 *   guess N          guess the secret (everyone but the picker)
 *   score            ask for the scores
 *
 * Server -> client (Client-Command, body):
 *   welcome <text>   to a player who joins or comes back: how to play, and
 *                    whether a round is on
 *   round <p> picked a number from 1 to 100
 *                    to everyone when a round starts; <p> is a player's name
 *   higher N         to the guesser: the secret is higher than N
 *   lower N          to the guesser: the secret is lower than N
 *   correct <p> guessed N in K guesses
 *                    to everyone: the round is over, <p> scores a point
 *   scores <lines>   to the asker: one line "<p> <points>" per player who has
 *                    points, best first (empty body when nobody has any)
 *   over <text>      to everyone when a round ends without a winner:
 *                    "the picker left", "nobody guessed it in 5 minutes"
 *   warning <text>   to the sender: what was wrong with the command
 *
 * A player's name is "p" and the first 4 characters of the player id (short
 * enough to read aloud; ids are public, tokens never reach scripts). Everything lives in
 * GGS.state, so a round survives a restart; the 5-minute round timer is not
 * durable, so onResume() arms it again.
 */
// @ts-check
/// <reference path="ggs.d.ts" />

var ROUND_MS = 5 * 60 * 1000;
var timer = null;

function name(player) {
  return "p" + String(player).slice(0, 4);
}

function state() {
  var s = GGS.state;
  if (!s.scores) {
    s.scores = {};
    s.round = null; // { picker, secret, guesses } while a round is on
  }
  return s;
}

function number(args) {
  var n = Number(String(args).trim());
  return Number.isInteger(n) && n >= 1 && n <= 100 ? n : null;
}

function armTimer() {
  if (timer !== null) clearTimeout(timer);
  timer = state().round ? setTimeout(timeUp, ROUND_MS) : null;
}

function timeUp() {
  timer = null;
  if (!state().round) return;
  state().round = null;
  GGS.sendCommandToAll("over", "nobody guessed it in 5 minutes");
}

function welcome(player) {
  var round = state().round;
  var text = round
    ? name(round.picker) + " picked a number from 1 to 100: guess N"
    : "no round is on: pick N to start one";
  GGS.sendCommand(player, "welcome", text);
}

function pick(player, args) {
  var s = state();
  var secret = number(args);
  if (s.round) return GGS.sendCommand(player, "warning", "a round is on already");
  if (secret === null) return GGS.sendCommand(player, "warning", "pick a whole number from 1 to 100");
  s.round = { picker: player, secret: secret, guesses: 0 };
  armTimer();
  GGS.sendCommandToAll("round", name(player) + " picked a number from 1 to 100");
}

function guess(player, args) {
  var s = state();
  var n = number(args);
  if (!s.round) return GGS.sendCommand(player, "warning", "no round is on: pick N to start one");
  if (s.round.picker === player) return GGS.sendCommand(player, "warning", "you picked it");
  if (n === null) return GGS.sendCommand(player, "warning", "guess a whole number from 1 to 100");
  s.round.guesses += 1;
  if (n < s.round.secret) return GGS.sendCommand(player, "higher", String(n));
  if (n > s.round.secret) return GGS.sendCommand(player, "lower", String(n));
  var text = name(player) + " guessed " + n + " in " + s.round.guesses + " guesses";
  s.scores[player] = (s.scores[player] || 0) + 1;
  s.round = null;
  armTimer();
  GGS.sendCommandToAll("correct", text);
}

function scores(player) {
  var s = state();
  var lines = Object.keys(s.scores)
    .sort(function (a, b) { return s.scores[b] - s.scores[a] || (a < b ? -1 : 1); })
    .map(function (p) { return name(p) + " " + s.scores[p]; });
  GGS.sendCommand(player, "scores", lines.join("\n"));
}

/** @type {GGSHooks["playerCommand"]} */
function playerCommand(player, command, args) {
  if (command === "pick") pick(player, args);
  else if (command === "guess") guess(player, args);
  else if (command === "score") scores(player);
  else GGS.sendCommand(player, "warning", "unknown command: " + command);
}

/** @type {GGSHooks["playerJoined"]} */
function playerJoined(player) {
  welcome(player);
}

/** @type {GGSHooks["playerReconnected"]} */
function playerReconnected(player) {
  welcome(player);
}

/** @type {GGSHooks["playerLeft"]} */
function playerLeft(player) {
  var s = state();
  if (s.round && s.round.picker === player) {
    s.round = null;
    armTimer();
    GGS.sendCommandToAll("over", "the picker left");
  }
}

/** @type {GGSHooks["onResume"]} */
function onResume() {
  armTimer();
}
