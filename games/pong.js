/*
 * Pong for two players, speaking the GGS 1.0 pong vocabulary. The ball moves
 * 20 times a second (GGS.setTick(50)) while a game is on.
 *
 * The field is 100 x 100: x grows to the right, y grows downwards (y 0 is
 * the top wall). Player 1's paddle is on the left at x 5, player 2's on the
 * right at x 95; a paddle is 20 high and positions give its centre.
 *
 * Client -> server (Game-Command, body ignored):
 *   ready            mark yourself ready; re-sends welcome, both paddles, the
 *                    ball and the score to you, then game start when both
 *                    players are ready (or a game is on), else game wait.
 *                    A player without a seat takes a free one (the player
 *                    who defined the script was at the table before it and
 *                    has none); a spectator, when both are taken, gets the
 *                    field and game state again.
 *   start            start a game now (either seated player, once both seats
 *                    are taken), ready or not
 *   up               move your paddle 5 towards the top (y - 5), at most to 10
 *   down             move your paddle 5 towards the bottom (y + 5), at most 90
 *
 * Server -> client (Client-Command, body):
 *   welcome 1|2      to the player who has seat 1 (left) or 2 (right): when
 *                    they join, say ready, reconnect, or move up from the
 *                    spectators because a seat was freed. Spectators never
 *                    get welcome.
 *   player1_y Y      left paddle centre (10-90), to everyone when it moves
 *   player2_y Y      right paddle centre (10-90), to everyone when it moves
 *   ball X,Y         ball position (0-100 each, integer or one decimal), to
 *                    everyone every tick, and after a game starts or ends
 *   game wait|start  wait: no game is on (fewer than two players, not both
 *                    ready, or the game is over); start: the ball is moving
 *   player1_points N left player's score, to everyone when it changes
 *   player2_points N right player's score, to everyone when it changes
 *   winner 1|2       (addition to GGS 1.0) to everyone when a player reaches
 *                    5 points, followed by game wait; both players then send
 *                    ready again (or one sends start) for a new game
 *   warning <text>   (addition to GGS 1.0) to the sender, one of:
 *                      "spectators cannot play"
 *                      "unknown command: <command>"
 *
 * The first two players to join take seats 1 and 2; later players are
 * spectators. A joining player gets welcome (if seated), both paddles, the
 * ball, the score and the game state. A seat freed by playerLeft goes to the
 * first spectator in GGS.players order; the game stops and everyone gets
 * game wait. A new game starts at 0:0 with the ball in the centre; its first
 * serve goes to player 2 in odd-numbered games and to player 1 in even ones.
 * After a point the ball is served again from the centre towards the player
 * who lost the point. Physics is deterministic (no randomness), so a table
 * rebuilt after a restart continues exactly from its last committed tick.
 *
 * All of the game lives in GGS.state:
 *   { "seats": [player1 | null, player2 | null],
 *     "ready": [bool, bool],
 *     "playing": bool,          the ball is moving and the tick is armed
 *     "paddles": [y1, y2],      paddle centres
 *     "ball": { "x", "y", "vx", "vy" },   position and velocity per tick
 *     "points": [p1, p2],
 *     "games": n,               games started at this table
 *     "ticks": n }              ticks played at this table
 */
// @ts-check
/// <reference path="ggs.d.ts" />

var TICK_MS = 50;
var WINNING_POINTS = 5;
var FIELD = 100;
var CENTRE = 50;
var LEFT_X = 5;          // the ball bounces off player 1's paddle here
var RIGHT_X = 95;        // ... and off player 2's paddle here
var PADDLE_HALF = 10;    // half the paddle height
var PADDLE_STEP = 5;
var BALL_VX = 2;         // horizontal speed per tick, always the same
var BALL_VY = 1.5;       // vertical speed of a serve
var MAX_VY = 2;          // steepest bounce off a paddle's end

// ---- state ---------------------------------------------------------------

function initialState() {
  return {
    seats: [null, null],
    ready: [false, false],
    playing: false,
    paddles: [CENTRE, CENTRE],
    ball: { x: CENTRE, y: CENTRE, vx: BALL_VX, vy: BALL_VY },
    points: [0, 0],
    games: 0,
    ticks: 0
  };
}

// The state, created on first use (never at the top level: this script is
// evaluated again after a restart, with GGS.state already restored).
function st() {
  if (!GGS.state || !GGS.state.ball) GGS.state = initialState();
  return GGS.state;
}

function seatOf(state, player) {
  return state.seats.indexOf(player) + 1; // 0 when not seated
}

function bothSeated(state) {
  return state.seats[0] !== null && state.seats[1] !== null;
}

// Puts the ball in the centre, moving towards player `towards` (1 or 2).
// The vertical direction alternates with every point played.
function serve(state, towards) {
  var played = state.points[0] + state.points[1];
  state.ball = {
    x: CENTRE,
    y: CENTRE,
    vx: towards === 1 ? -BALL_VX : BALL_VX,
    vy: played % 2 === 0 ? BALL_VY : -BALL_VY
  };
}

// ---- messages ------------------------------------------------------------

function number(value) {
  return String(Math.round(value * 10) / 10);
}

function paddleMessage(seat) {
  return "player" + seat + "_y";
}

function pointsMessage(seat) {
  return "player" + seat + "_points";
}

function ballBody(state) {
  return number(state.ball.x) + "," + number(state.ball.y);
}

function gameBody(state) {
  return state.playing ? "start" : "wait";
}

// Both paddles, the ball and the score: what a client needs to draw the field.
function sendField(state, player) {
  GGS.sendCommand(player, paddleMessage(1), number(state.paddles[0]));
  GGS.sendCommand(player, paddleMessage(2), number(state.paddles[1]));
  GGS.sendCommand(player, "ball", ballBody(state));
  GGS.sendCommand(player, pointsMessage(1), String(state.points[0]));
  GGS.sendCommand(player, pointsMessage(2), String(state.points[1]));
}

// Everything a (re)connecting player needs: welcome, the field, the game state.
function sendSnapshot(state, player) {
  var seat = seatOf(state, player);
  if (seat) GGS.sendCommand(player, "welcome", String(seat));
  sendField(state, player);
  GGS.sendCommand(player, "game", gameBody(state));
}

function warn(player, text) {
  GGS.sendCommand(player, "warning", text);
}

// ---- game flow -----------------------------------------------------------

function startGame(state) {
  state.games += 1;
  state.points = [0, 0];
  serve(state, state.games % 2 === 1 ? 2 : 1);
  state.ready = [false, false];
  state.playing = true;
  GGS.setTick(TICK_MS);
  GGS.sendCommandToAll("game", "start");
  GGS.sendCommandToAll(pointsMessage(1), "0");
  GGS.sendCommandToAll(pointsMessage(2), "0");
  GGS.sendCommandToAll("ball", ballBody(state));
}

function stopGame(state) {
  state.playing = false;
  state.ready = [false, false];
  GGS.setTick(0);
}

function scorePoint(state, scorer) {
  state.points[scorer - 1] += 1;
  GGS.sendCommandToAll(pointsMessage(scorer), String(state.points[scorer - 1]));
  serve(state, 3 - scorer);
  if (state.points[scorer - 1] < WINNING_POINTS) return;
  stopGame(state);
  GGS.sendCommandToAll("ball", ballBody(state));
  GGS.sendCommandToAll("winner", String(scorer));
  GGS.sendCommandToAll("game", "wait");
}

// The vertical speed after hitting a paddle: steeper the further from its
// centre, in steps of 0.5, never flat.
function bounceVy(ball, paddleY) {
  var vy = Math.round(((ball.y - paddleY) / PADDLE_HALF) * MAX_VY * 2) / 2;
  if (vy > MAX_VY) vy = MAX_VY;
  if (vy < -MAX_VY) vy = -MAX_VY;
  if (vy === 0) vy = ball.vy < 0 ? -0.5 : 0.5;
  return vy;
}

// Bounces the ball off the paddle of `seat` whose column it has crossed, or
// scores for the other player. Returns true when a point was scored.
function reachPaddle(state, seat, columnX) {
  var ball = state.ball;
  var paddleY = state.paddles[seat - 1];
  if (Math.abs(ball.y - paddleY) > PADDLE_HALF) {
    scorePoint(state, 3 - seat);
    return true;
  }
  ball.x = 2 * columnX - ball.x;
  ball.vx = -ball.vx;
  ball.vy = bounceVy(ball, paddleY);
  return false;
}

// Moves the ball one tick; returns true when a point was scored.
function moveBall(state) {
  var ball = state.ball;
  ball.x += ball.vx;
  ball.y += ball.vy;
  if (ball.y < 0) {
    ball.y = -ball.y;
    ball.vy = -ball.vy;
  } else if (ball.y > FIELD) {
    ball.y = 2 * FIELD - ball.y;
    ball.vy = -ball.vy;
  }
  if (ball.vx < 0 && ball.x <= LEFT_X) return reachPaddle(state, 1, LEFT_X);
  if (ball.vx > 0 && ball.x >= RIGHT_X) return reachPaddle(state, 2, RIGHT_X);
  return false;
}

// ---- commands ------------------------------------------------------------

function ready(state, player) {
  var seat = seatOf(state, player);
  var free = state.seats.indexOf(null);
  if (!seat && free !== -1) {
    state.seats[free] = player;
    seat = free + 1;
  }
  if (!seat) {
    sendSnapshot(state, player);
    return;
  }
  state.ready[seat - 1] = true;
  GGS.sendCommand(player, "welcome", String(seat));
  sendField(state, player);
  if (state.playing) {
    GGS.sendCommand(player, "game", "start");
  } else if (bothSeated(state) && state.ready[0] && state.ready[1]) {
    startGame(state);
  } else {
    GGS.sendCommand(player, "game", "wait");
  }
}

function start(state, player) {
  if (!seatOf(state, player)) {
    warn(player, "spectators cannot play");
  } else if (state.playing) {
    GGS.sendCommand(player, "game", "start");
  } else if (!bothSeated(state)) {
    GGS.sendCommand(player, "game", "wait");
  } else {
    startGame(state);
  }
}

function movePaddle(state, player, step) {
  var seat = seatOf(state, player);
  if (!seat) {
    warn(player, "spectators cannot play");
    return;
  }
  var y = state.paddles[seat - 1] + step;
  y = Math.max(PADDLE_HALF, Math.min(FIELD - PADDLE_HALF, y));
  state.paddles[seat - 1] = y;
  GGS.sendCommandToAll(paddleMessage(seat), number(y));
}

// Gives free seats to the players present who have none, in GGS.players
// order; the caller sends game wait to everyone afterwards.
function fillSeats(state) {
  var players = GGS.players || [];
  for (var i = 0; i < players.length; i++) {
    var free = state.seats.indexOf(null);
    if (free === -1) return;
    if (seatOf(state, players[i])) continue;
    state.seats[free] = players[i];
    state.ready[free] = false;
    GGS.sendCommand(players[i], "welcome", String(free + 1));
    sendField(state, players[i]);
  }
}

// ---- hooks ---------------------------------------------------------------

/** @type {GGSHooks["playerJoined"]} */
function playerJoined(player) {
  var state = st();
  var free = state.seats.indexOf(null);
  if (!seatOf(state, player) && free !== -1) {
    state.seats[free] = player;
    state.ready[free] = false;
  }
  sendSnapshot(state, player);
}

/** @type {GGSHooks["playerCommand"]} */
function playerCommand(player, command, args) {
  var state = st();
  switch (command) {
    case "ready":
      ready(state, player);
      break;
    case "start":
      start(state, player);
      break;
    case "up":
      movePaddle(state, player, -PADDLE_STEP);
      break;
    case "down":
      movePaddle(state, player, PADDLE_STEP);
      break;
    default:
      warn(player, "unknown command: " + command);
  }
}

/** @type {GGSHooks["tick"]} */
function tick() {
  var state = st();
  if (!state.playing) {
    GGS.setTick(0);
    return;
  }
  state.ticks += 1;
  var scored = moveBall(state);
  // scorePoint already sent the centred ball when the game ended
  if (!scored || state.playing) GGS.sendCommandToAll("ball", ballBody(state));
}

/** @type {GGSHooks["playerLeft"]} */
function playerLeft(player) {
  var state = st();
  var seat = seatOf(state, player);
  if (!seat) return;
  state.seats[seat - 1] = null;
  stopGame(state);
  fillSeats(state);
  GGS.sendCommandToAll("game", "wait");
}

/** @type {GGSHooks["playerReconnected"]} */
function playerReconnected(player) {
  sendSnapshot(st(), player);
}

/** @type {GGSHooks["onResume"]} */
function onResume() {
  var state = st();
  GGS.log(
    "pong resumed at tick " + state.ticks + ", " +
    (state.playing ? "playing" : "waiting") + ", score " +
    state.points[0] + ":" + state.points[1]
  );
}
