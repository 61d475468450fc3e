// ggs.js: a GGS client for the browser, over the server's WebSocket endpoint (/ws).
//
//   import { connect } from "/ggs.js";
//   const game = connect({ table });          // join a table
//   const game = connect({ game: "chat" });   // create a table running a catalogue game
//   const game = connect();                   // create a table without a script
//   game.onHello(({ player, table, defined, resumed }) => ...);
//   game.on("welcome", (body) => ...);        // a command the script sends
//   game.onStatus((status) => ...);           // "connecting" | "connected" | "reconnecting" | "closed"
//   game.send("set", '{"x":1,"y":2}');
//   game.define(source);                      // set the script of a table you created
//
// The hello reply carries two things: the player's public id (`player`, what the game and the
// other players see) and its resume token (the first field of the body), a secret. The token is
// kept in sessionStorage (per tab) for each table and never shown; after a dropped connection
// or a server restart the client reconnects on its own, says hello with the token and gets its
// seat back. If the seat is gone (its hold expired: `bad_token`), it forgets the token and
// joins anew. Commands sent while reconnecting are queued and sent once seated.

/** Delays between reconnection attempts, in ms; the last one repeats. */
const RECONNECT_DELAYS = [100, 250, 500, 1000, 2000, 3000];
/** Commands kept while disconnected; older ones are dropped past this. */
const MAX_QUEUED = 100;
/** Key prefix of the resume tokens in sessionStorage (named when the token was the player id;
 * a tab of that time still resumes with what it kept). */
const TOKEN_KEY = "ggs:player:";

/** The WebSocket URL of the server that served this page. */
export function defaultUrl() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}/ws`;
}

/** Splits an `error` body into its code and sentence. */
export function parseError(body) {
  const space = body.indexOf(" ");
  return space === -1
    ? { code: body, message: "" }
    : { code: body.slice(0, space), message: body.slice(space + 1) };
}

/** Errors to a hello that no reconnection can cure. */
const FINAL_REFUSALS = new Set(["no_such_table", "no_such_game", "bad_game_name"]);

/** Whether an `error` body before the seat is one of `FINAL_REFUSALS`. */
function isFinalRefusal(body) {
  return FINAL_REFUSALS.has(parseError(body).code);
}

function tokenFor(table) {
  try {
    return table ? sessionStorage.getItem(TOKEN_KEY + table) : null;
  } catch {
    return null;
  }
}

function saveToken(table, token) {
  try {
    sessionStorage.setItem(TOKEN_KEY + table, token);
  } catch {
    // Private mode or storage full: the seat is then kept for this page's life only.
  }
}

function forgetToken(table) {
  try {
    if (table) sessionStorage.removeItem(TOKEN_KEY + table);
  } catch {
    // Nothing kept, nothing to forget.
  }
}

/** A connection to one table that survives drops. */
export class Connection {
  constructor({ table = null, game = null, url = defaultUrl(), reconnect = true } = {}) {
    this.url = url;
    this.table = table || null;
    // A catalogue game for a table this connection creates (ignored when joining).
    this.game = game || null;
    // The resume token (secret) and the public player id, once seated.
    this.token = tokenFor(this.table);
    this.player = null;
    this.defined = false;
    this.status = "connecting";
    this.reconnect = reconnect;
    this.attempt = 0;
    this.seated = false;
    this.everSeated = false;
    // The last seat was lost (its token refused): the next hello sits down anew.
    this.seatLost = false;
    this.closedByUser = false;
    this.queue = [];
    this.handlers = new Map();
    this.anyHandlers = [];
    this.statusHandlers = [];
    this.helloHandlers = [];
    this.socket = null;
    this.timer = null;
    this.open();
  }

  /** Calls `fn(body)` for every message with this command from the server. */
  on(command, fn) {
    if (!this.handlers.has(command)) this.handlers.set(command, []);
    this.handlers.get(command).push(fn);
    return this;
  }

  /** Calls `fn(command, body)` for every message from the server. */
  onAny(fn) {
    this.anyHandlers.push(fn);
    return this;
  }

  /** Calls `fn(status)` now and whenever the connection status changes. */
  onStatus(fn) {
    this.statusHandlers.push(fn);
    fn(this.status);
    return this;
  }

  /** Calls `fn({ player, table, defined, resumed })` after each hello reply. */
  onHello(fn) {
    this.helloHandlers.push(fn);
    return this;
  }

  /** Sends a game command (queued while reconnecting). */
  send(command, args = "") {
    this.transmit({ type: "command", command, args: String(args) });
  }

  /** Sets the table's game script. */
  define(source) {
    this.transmit({ type: "define", source });
  }

  /** Closes for good (no reconnection). */
  close() {
    this.closedByUser = true;
    clearTimeout(this.timer);
    if (this.socket) this.socket.close(1000, "bye");
    this.setStatus("closed");
  }

  // ---- internals ----

  transmit(message) {
    if (this.seated && this.socket && this.socket.readyState === WebSocket.OPEN) {
      this.socket.send(JSON.stringify(message));
      return;
    }
    this.queue.push(message);
    if (this.queue.length > MAX_QUEUED) this.queue.shift();
  }

  setStatus(status) {
    if (this.status === status) return;
    this.status = status;
    for (const fn of this.statusHandlers) fn(status);
  }

  open() {
    const socket = new WebSocket(this.url);
    this.socket = socket;
    this.seated = false;
    socket.onopen = () => this.sayHello();
    socket.onmessage = (event) => {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return;
      }
      const player = message.player == null ? null : String(message.player);
      this.receive(String(message.command), String(message.body ?? ""), player);
    };
    socket.onclose = () => {
      if (this.socket !== socket) return;
      this.seated = false;
      if (this.closedByUser || !this.reconnect || this.status === "closed") {
        this.setStatus("closed");
        return;
      }
      this.setStatus(this.everSeated ? "reconnecting" : "connecting");
      const delay = RECONNECT_DELAYS[Math.min(this.attempt, RECONNECT_DELAYS.length - 1)];
      this.attempt += 1;
      this.timer = setTimeout(() => this.open(), delay * (0.75 + Math.random() / 2));
    };
  }

  sayHello() {
    const hello = { type: "hello" };
    if (this.table) hello.table = this.table;
    else if (this.game) hello.game = this.game;
    if (this.token) hello.token = this.token;
    this.socket.send(JSON.stringify(hello));
  }

  receive(command, body, player) {
    if (command === "hello" && !this.seated) {
      const [token, defined, table] = body.split(",");
      const resumed = this.everSeated && !this.seatLost;
      this.seatLost = false;
      this.token = token;
      this.player = player;
      this.table = table;
      this.defined = defined === "true";
      this.seated = true;
      this.everSeated = true;
      this.attempt = 0;
      saveToken(table, token);
      this.setStatus("connected");
      for (const fn of this.helloHandlers) fn({ player, table, defined: this.defined, resumed });
      const queued = this.queue.splice(0);
      for (const message of queued) this.socket.send(JSON.stringify(message));
    } else if (command === "error" && !this.seated && parseError(body).code === "bad_token") {
      // The seat is gone (its hold expired): forget its token and sit down anew.
      forgetToken(this.table);
      this.token = null;
      this.seatLost = true;
      this.sayHello();
      return;
    } else if (command === "error" && !this.seated && isFinalRefusal(body)) {
      // The table is gone (or never was), or the game to create one with: nothing to retry.
      this.closedByUser = true;
      this.socket.close(1000, parseError(body).code);
      this.setStatus("closed");
    }
    if (command === "defined" && body === "ok") this.defined = true;
    for (const fn of this.handlers.get(command) || []) fn(body);
    for (const fn of this.anyHandlers) fn(command, body);
  }
}

/** Opens a connection: `connect({ table })` joins a table, `connect()` creates one,
 * `connect({ game })` creates one running a game of the server's catalogue. */
export function connect(options) {
  return new Connection(options);
}
