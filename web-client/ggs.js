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
//
// GGS 1.1, when the server speaks it: every hello offers `"versions": ["1.0", "1.1"]`, and a
// hello reply with `"version": "1.1"` makes the connection 1.1 (none: the server speaks 1.0
// only, and everything above is all there is, exactly as in 1.0). In 1.1 the client gets
// every message once, in order, and every game command runs once, across dropped connections
// and server restarts:
// - Messages the table sends to the seat carry `msg` (1, 2, 3, ... per seat). The client keeps
//   the highest it has received and drops any message whose `msg` is not above it (a
//   duplicate). A message without `msg` (the hello reply, a reply before the seat) is outside
//   that stream and always taken. After `resync` (the server no longer kept what the client
//   missed) the stream goes on from there and the game's playerReconnected output redraws the
//   page, as after a 1.0 reconnection.
// - It acknowledges what it received: `"ack"` (the highest `msg`) on every message it sends,
//   and `{"type":"ack","ack":n}` alone when messages arrived and it sent nothing for
//   `ACK_DELAY_MS`, or at once every `ACK_EVERY` messages.
// - Every game command carries `"seq"`, increasing per seat. A command stays kept until the
//   client knows the table applied it; on reconnecting the hello carries the token, the
//   versions and `ack`, the reply's `seq` is the highest command the table applied, and the
//   kept commands above it are sent again, in order, before the commands queued meanwhile.
// - The highest `msg` and the last `seq` are kept in sessionStorage next to the token, so a
//   reloaded page resumes the same streams (the kept commands live only as long as the page).
// A seat taken anew (its token refused) starts both streams again from 0.
//
// A cluster: a `next` message (`"next": {"url": ...}`) says the table is served by another
// node (it was asked for at the wrong one, or it was handed over): the client connects there
// at once and resumes with its token, as after a drop. If that node cannot be reached for
// `HOME_AFTER_FAILURES` attempts, it goes back to the node that served the page, which sends
// it on again.

/** Delays between reconnection attempts, in ms; the last one repeats. */
const RECONNECT_DELAYS = [100, 250, 500, 1000, 2000, 3000];
/** Failed connections to a node a `next` sent the client to before it tries the node that
 * served the page again. */
const HOME_AFTER_FAILURES = 3;
/** Commands kept while disconnected; older ones are dropped past this. */
const MAX_QUEUED = 100;
/** Key prefix of the resume tokens in sessionStorage (named when the token was the player id;
 * a tab of that time still resumes with what it kept). */
const TOKEN_KEY = "ggs:player:";
/** Key prefix of a seat's GGS 1.1 stream state in sessionStorage: `{"msg": n, "seq": n}`. */
const STREAM_KEY = "ggs:stream:";
/** The protocol versions this client speaks, offered on every hello. */
const VERSIONS = ["1.0", "1.1"];
/** GGS 1.1: how long received messages wait for an acknowledgement riding on a message the
 * client sends before one is sent alone, in ms. */
const ACK_DELAY_MS = 100;
/** GGS 1.1: received messages after which an acknowledgement is sent at once. */
const ACK_EVERY = 100;
/** GGS 1.1: commands sent but not yet known to be applied that are kept for a resend; older
 * ones (long applied, in practice) are dropped past this. */
const MAX_UNCONFIRMED = 1000;

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
    if (table) sessionStorage.removeItem(STREAM_KEY + table);
  } catch {
    // Nothing kept, nothing to forget.
  }
}

/** The GGS 1.1 stream state kept for `table`: the highest `msg` received, the last `seq` sent. */
function streamFor(table) {
  const fresh = { msg: 0, seq: 0 };
  try {
    const kept = table ? JSON.parse(sessionStorage.getItem(STREAM_KEY + table) || "null") : null;
    if (!kept) return fresh;
    const count = (n) => (Number.isSafeInteger(n) && n > 0 ? n : 0);
    return { msg: count(kept.msg), seq: count(kept.seq) };
  } catch {
    return fresh;
  }
}

function saveStream(table, msg, seq) {
  try {
    if (table) sessionStorage.setItem(STREAM_KEY + table, JSON.stringify({ msg, seq }));
  } catch {
    // As for the token: kept for this page's life only.
  }
}

/** A non-negative integer field of a server message, or null. */
function count(value) {
  return Number.isSafeInteger(value) && value >= 0 ? value : null;
}

/** A connection to one table that survives drops. */
export class Connection {
  constructor({ table = null, game = null, url = defaultUrl(), reconnect = true } = {}) {
    this.url = url;
    // Where the client started: it goes back there when the node a `next` named is gone.
    this.home = url;
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
    // Messages waiting for a seat, in order (game commands not numbered yet).
    this.queue = [];
    // The protocol version of the current connection: null until its hello reply.
    this.version = null;
    // GGS 1.1: the highest `msg` received, the last `seq` given, the highest `ack` sent, and
    // the numbered commands sent but not yet known to be applied (in order).
    const stream = this.token ? streamFor(this.table) : { msg: 0, seq: 0 };
    this.lastMsg = stream.msg;
    this.lastSeq = stream.seq;
    this.ackSent = 0;
    this.ackTimer = null;
    this.unconfirmed = [];
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

  /** Sends a game command (queued while reconnecting; numbered and kept in GGS 1.1). */
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
    clearTimeout(this.ackTimer);
    if (this.socket) this.socket.close(1000, "bye");
    this.setStatus("closed");
  }

  // ---- internals ----

  /** Whether the current connection is seated and open. */
  ready() {
    return this.seated && this.socket && this.socket.readyState === WebSocket.OPEN;
  }

  /** Whether the current connection speaks GGS 1.1. */
  numbered() {
    return this.version === "1.1";
  }

  transmit(message) {
    if (this.ready()) {
      this.put(message);
      return;
    }
    this.queue.push(message);
    if (this.queue.length > MAX_QUEUED) this.queue.shift();
  }

  /** Sends `message` on the seated connection; in 1.1 numbers a game command and keeps it. */
  put(message) {
    if (this.numbered() && message.type === "command") {
      this.lastSeq += 1;
      message = { ...message, seq: this.lastSeq };
      this.unconfirmed.push(message);
      if (this.unconfirmed.length > MAX_UNCONFIRMED) this.unconfirmed.shift();
      saveStream(this.table, this.lastMsg, this.lastSeq);
    }
    this.write(message);
  }

  /** Writes one message; in 1.1 it carries the acknowledgement. */
  write(message) {
    if (this.numbered()) {
      message = { ...message, ack: this.lastMsg };
      this.ackSent = this.lastMsg;
    }
    this.socket.send(JSON.stringify(message));
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
    this.version = null;
    socket.onopen = () => this.sayHello();
    socket.onmessage = (event) => {
      if (this.socket !== socket) return;
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return;
      }
      if (!message || typeof message !== "object") return;
      const msg = count(message.msg);
      if (msg !== null && this.seated && this.numbered()) {
        // A numbered message: one already received is a duplicate.
        if (msg <= this.lastMsg) return;
        this.lastMsg = msg;
        saveStream(this.table, this.lastMsg, this.lastSeq);
        this.scheduleAck();
      }
      const player = message.player == null ? null : String(message.player);
      this.receive(String(message.command), String(message.body ?? ""), player, message);
    };
    socket.onclose = () => {
      if (this.socket !== socket) return;
      this.seated = false;
      clearTimeout(this.ackTimer);
      this.ackTimer = null;
      if (this.closedByUser || !this.reconnect || this.status === "closed") {
        this.setStatus("closed");
        return;
      }
      this.setStatus(this.everSeated ? "reconnecting" : "connecting");
      if (this.moving) {
        // Told `next`: straight to the table's node.
        this.moving = false;
        this.attempt = 0;
        this.open();
        return;
      }
      if (this.url !== this.home && this.attempt + 1 >= HOME_AFTER_FAILURES) this.url = this.home;
      const delay = RECONNECT_DELAYS[Math.min(this.attempt, RECONNECT_DELAYS.length - 1)];
      this.attempt += 1;
      this.timer = setTimeout(() => this.open(), delay * (0.75 + Math.random() / 2));
    };
  }

  sayHello() {
    const hello = { type: "hello", versions: VERSIONS };
    if (this.table) hello.table = this.table;
    else if (this.game) hello.game = this.game;
    if (this.token) {
      hello.token = this.token;
      // Resuming: the server replays what the seat was sent after this.
      hello.ack = this.lastMsg;
      this.ackSent = this.lastMsg;
    }
    this.socket.send(JSON.stringify(hello));
  }

  /** GGS 1.1: acknowledges received messages alone unless a message sent soon carries it. */
  scheduleAck() {
    if (this.lastMsg - this.ackSent >= ACK_EVERY) {
      this.sendAck();
      return;
    }
    if (this.ackTimer) return;
    this.ackTimer = setTimeout(() => {
      this.ackTimer = null;
      this.sendAck();
    }, ACK_DELAY_MS);
  }

  sendAck() {
    if (this.ready() && this.numbered() && this.lastMsg > this.ackSent) {
      this.write({ type: "ack" });
    }
  }

  /** The hello reply seated this connection: settle the version and what to send again. */
  seat(token, table, player, message) {
    // The same seat keeps its public id (its token too, unless it is a seat of a data
    // directory from before tokens, which gets a new one); a reloaded page knows only the token.
    const samePlayer = this.player ? player === this.player : token === this.token;
    const newSeat = !samePlayer || table !== this.table;
    this.version = message.version === "1.1" ? "1.1" : "1.0";
    if (newSeat) {
      // Another seat than the streams kept were for: both start again.
      this.lastMsg = 0;
      this.lastSeq = 0;
      this.ackSent = 0;
      this.unconfirmed = [];
    }
    this.token = token;
    this.table = table;
    saveToken(table, token);
    if (this.numbered()) {
      const applied = count(message.seq) ?? 0;
      this.unconfirmed = this.unconfirmed.filter((c) => c.seq > applied);
      this.lastSeq = Math.max(this.lastSeq, applied);
      saveStream(table, this.lastMsg, this.lastSeq);
    } else {
      // 1.0: nothing is replayed or told applied; what was sent is not sent again.
      this.unconfirmed = [];
    }
  }

  receive(command, body, player, message = {}) {
    if (command === "next" && message.next && typeof message.next.url === "string") {
      // The table is served by another node: go there and resume (the queue and the kept
      // commands go with the client).
      this.url = message.next.url;
      this.moving = true;
      this.seated = false;
      this.socket.close(1000, "next");
    } else if (command === "hello" && !this.seated) {
      const [token, defined, table] = body.split(",");
      const resumed = this.everSeated && !this.seatLost;
      this.seatLost = false;
      this.seat(token, table, player, message);
      this.player = player;
      this.defined = defined === "true";
      this.seated = true;
      this.everSeated = true;
      this.attempt = 0;
      this.setStatus("connected");
      for (const fn of this.helloHandlers) fn({ player, table, defined: this.defined, resumed });
      // 1.1: the kept commands the table has not applied, in order, then the queued ones.
      for (const kept of this.unconfirmed) this.write(kept);
      const queued = this.queue.splice(0);
      for (const queuedMessage of queued) this.put(queuedMessage);
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
