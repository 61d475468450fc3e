/*
 * Chat: a multi-user chat room, speaking the GGS 1.0 chat vocabulary.
 *
 * Client -> server (Game-Command, body):
 *   /nick <name>     change your nick; 1 to 32 characters, no line breaks
 *   message <text>   say <text> to everyone at the table
 *   ping             ask for a pong
 *
 * Server -> client (Client-Command, body):
 *   notice <text>    to everyone:  "<nick> joined"
 *                                  "<old> is now known as <new>"
 *                                  "<nick> left"
 *                    to the sender: "nick must not be empty"
 *                                   "nick is too long (at most 32 characters)"
 *                                   "nick must not contain line breaks"
 *                                   "unknown command: <command>"
 *   message <text>   to everyone: "<nick>> <text>"
 *   pong             to the sender, empty body
 *
 * A player's nick starts as "guest-" followed by the first 4 characters of
 * the player id. State lives in GGS.world so that it survives a restart:
 *   nick:<player>    the player's nick (absent: the default nick)
 *   messages         number of chat messages sent at this table
 */
// @ts-check
/// <reference path="ggs.d.ts" />

var MAX_NICK_LENGTH = 32;

function defaultNick(player) {
  return "guest-" + String(player).slice(0, 4);
}

function nickOf(player) {
  return GGS.world.getItem("nick:" + player) || defaultNick(player);
}

function notice(player, text) {
  GGS.sendCommand(player, "notice", text);
}

function noticeAll(text) {
  GGS.sendCommandToAll("notice", text);
}

function nickError(nick) {
  if (nick.length === 0) return "nick must not be empty";
  if (nick.length > MAX_NICK_LENGTH) {
    return "nick is too long (at most " + MAX_NICK_LENGTH + " characters)";
  }
  if (/[\r\n]/.test(nick)) return "nick must not contain line breaks";
  return null;
}

function changeNick(player, requested) {
  var nick = String(requested).trim();
  var error = nickError(nick);
  if (error) {
    notice(player, error);
    return;
  }
  var old = nickOf(player);
  GGS.world.setItem("nick:" + player, nick);
  noticeAll(old + " is now known as " + nick);
}

function countMessage() {
  var count = parseInt(GGS.world.getItem("messages") || "0", 10) || 0;
  GGS.world.setItem("messages", count + 1);
}

function say(player, text) {
  countMessage();
  GGS.sendCommandToAll("message", nickOf(player) + "> " + text);
}

/** @type {GGSHooks["playerJoined"]} */
function playerJoined(player) {
  noticeAll(nickOf(player) + " joined");
}

/** @type {GGSHooks["playerLeft"]} */
function playerLeft(player) {
  noticeAll(nickOf(player) + " left");
  GGS.world.removeItem("nick:" + player);
}

/** @type {GGSHooks["playerCommand"]} */
function playerCommand(player, command, args) {
  args = args == null ? "" : String(args);
  switch (command) {
    case "/nick":
      changeNick(player, args);
      break;
    case "message":
      say(player, args);
      break;
    case "ping":
      GGS.sendCommand(player, "pong", "");
      break;
    default:
      notice(player, "unknown command: " + command);
  }
}
