// pong.js: the pong page, for games/pong.js. The server moves the ball 20 times a second;
// the page draws every animation frame, interpolating between the last two ball positions it
// received, so the ball moves smoothly at any frame rate.

import { $, startTable } from "/page.js";

/** The field is 100 x 100 in the game's units. */
const FIELD = 100;
/** How far behind the newest ball position the page draws, in ms (a bit over one tick). */
const RENDER_DELAY_MS = 70;
/** A ball move longer than this is a serve: jump instead of sliding across the field. */
const JUMP = 30;
/** While a key or button is held, the paddle moves this often, in ms. */
const REPEAT_MS = 50;
/** Paddle geometry, as the script has it: bounce columns and half the height. */
const LEFT_X = 5;
const RIGHT_X = 95;
const PADDLE_HALF = 10;
const PADDLE_WIDTH = 1.6;
const BALL_RADIUS = 1.4;
/** How quickly drawn paddles catch up with the server's position (per frame, 0-1). */
const PADDLE_EASE = 0.35;
/** Ball positions kept for interpolation. */
const MAX_SAMPLES = 8;

const canvas = $("#field");
const ctx = canvas.getContext("2d");

let seat = 0;
let playing = false;
const points = [0, 0];
const paddles = [50, 50]; // from the server
const drawn = [50, 50]; // on screen
const samples = []; // { t, x, y }

function setState(text) {
  $("#state").textContent = text;
}

function updateButtons() {
  $("#ready").hidden = playing;
  $("#up").disabled = !seat;
  $("#down").disabled = !seat;
}

function ballAt(t) {
  if (samples.length === 0) return { x: 50, y: 50 };
  if (t <= samples[0].t) return samples[0];
  for (let i = samples.length - 1; i > 0; i--) {
    const a = samples[i - 1];
    const b = samples[i];
    if (t >= a.t) {
      if (t >= b.t) return b;
      if (Math.abs(b.x - a.x) > JUMP || Math.abs(b.y - a.y) > JUMP) return a;
      const k = (t - a.t) / (b.t - a.t);
      return { x: a.x + (b.x - a.x) * k, y: a.y + (b.y - a.y) * k };
    }
  }
  return samples[samples.length - 1];
}

function resize() {
  const ratio = window.devicePixelRatio || 1;
  const width = Math.round(canvas.clientWidth * ratio);
  const height = Math.round(canvas.clientHeight * ratio);
  if (width && height && (canvas.width !== width || canvas.height !== height)) {
    canvas.width = width;
    canvas.height = height;
  }
}

function draw(now) {
  resize();
  const sx = canvas.width / FIELD;
  const sy = canvas.height / FIELD;
  ctx.fillStyle = "#141a2a";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.strokeStyle = "rgba(255,255,255,.18)";
  ctx.lineWidth = Math.max(1, sx * 0.4);
  ctx.setLineDash([sy * 3, sy * 3]);
  ctx.beginPath();
  ctx.moveTo(canvas.width / 2, 0);
  ctx.lineTo(canvas.width / 2, canvas.height);
  ctx.stroke();
  ctx.setLineDash([]);

  for (let i = 0; i < 2; i++) drawn[i] += (paddles[i] - drawn[i]) * PADDLE_EASE;
  const paddle = (x, y, mine) => {
    ctx.fillStyle = mine ? "#7fa2ff" : "#e8ecf6";
    ctx.fillRect(x * sx, (y - PADDLE_HALF) * sy, PADDLE_WIDTH * sx, PADDLE_HALF * 2 * sy);
  };
  paddle(LEFT_X - PADDLE_WIDTH, drawn[0], seat === 1);
  paddle(RIGHT_X, drawn[1], seat === 2);

  const ball = ballAt(now - RENDER_DELAY_MS);
  ctx.fillStyle = "#ffd166";
  ctx.beginPath();
  ctx.arc(ball.x * sx, ball.y * sy, BALL_RADIUS * Math.min(sx, sy) * 1.2, 0, Math.PI * 2);
  ctx.fill();
  requestAnimationFrame(draw);
}
requestAnimationFrame(draw);

const conn = startTable("pong", {
  // Whoever made the table sat down first (seat 1) and is ready at once; a later player
  // presses Ready.
  onReady: ({ created }) => {
    if (created) conn.send("ready");
    else if (!seat) setState("Press Ready to play");
  },
});

conn.on("welcome", (body) => {
  seat = Number(body);
  document.body.dataset.seat = String(seat);
  if (!playing) setState(`You are ${seat === 1 ? "left" : "right"}: press Ready`);
  updateButtons();
});
conn.on("player1_y", (body) => {
  paddles[0] = Number(body);
  document.body.dataset.paddle1 = body;
});
conn.on("player2_y", (body) => {
  paddles[1] = Number(body);
  document.body.dataset.paddle2 = body;
});
conn.on("ball", (body) => {
  document.body.dataset.ball = body;
  const [x, y] = body.split(",").map(Number);
  samples.push({ t: performance.now(), x, y });
  if (samples.length > MAX_SAMPLES) samples.shift();
});
conn.on("player1_points", (body) => {
  points[0] = Number(body);
  $("#points1").textContent = body;
});
conn.on("player2_points", (body) => {
  points[1] = Number(body);
  $("#points2").textContent = body;
});
conn.on("game", (body) => {
  playing = body === "start";
  document.body.dataset.game = body;
  if (playing) setState("Playing");
  else if (seat) setState("Waiting: press Ready");
  else setState("Watching");
  updateButtons();
});
conn.on("winner", (body) => {
  const won = Number(body) === seat;
  setState(seat ? (won ? "You won!" : "You lost") : `Player ${body} won`);
});
conn.on("warning", (text) => setState(text));

// Holding a key or a button keeps the paddle moving.
let held = null;
let repeat = null;
function hold(direction) {
  if (held === direction || !seat) return;
  release();
  held = direction;
  conn.send(direction);
  repeat = setInterval(() => conn.send(direction), REPEAT_MS);
}
function release() {
  clearInterval(repeat);
  held = null;
}

const KEYS = { ArrowUp: "up", KeyW: "up", ArrowDown: "down", KeyS: "down" };
window.addEventListener("keydown", (event) => {
  const direction = KEYS[event.code];
  if (!direction || event.target instanceof HTMLInputElement) return;
  event.preventDefault();
  hold(direction);
});
window.addEventListener("keyup", (event) => {
  if (KEYS[event.code] === held) release();
});
window.addEventListener("blur", release);
for (const direction of ["up", "down"]) {
  const button = $(`#${direction}`);
  button.addEventListener("pointerdown", (event) => {
    event.preventDefault();
    hold(direction);
  });
  for (const end of ["pointerup", "pointerleave", "pointercancel"]) button.addEventListener(end, release);
}
$("#ready").addEventListener("click", () => conn.send("ready"));
updateButtons();
