// Builds the global `GGS` object and the timer functions scripts see, over the native
// functions in `ops`. Evaluated once per runtime; `ops` is reachable only from these closures.
// Returns the host's private handle (state and timers), which scripts never see.
(function (ops, committedState) {
  "use strict";
  // The host's handle below runs outside any event: it uses only what is captured here, before
  // a script can replace a builtin.
  const stringify = JSON.stringify;
  const parse = JSON.parse;
  const apply = Reflect.apply;
  let state = parse(committedState);
  // Whether the running event read or set GGS.state: if not, it cannot have changed.
  let touched = false;
  // Timers: id -> { due, fn, args, every }. Not durable; rolled back with a failed event.
  let timers = Object.create(null);
  let snapshot = timers;
  let nextTimerId = 1;
  function copyTimers(from) {
    const to = Object.create(null);
    for (const id in from) to[id] = from[id];
    return to;
  }
  function addTimer(fn, ms, args, repeat) {
    if (typeof fn !== "function") throw new TypeError("timer callback must be a function");
    const delay = Math.max(0, Number(ms) || 0);
    const id = nextTimerId++;
    timers[id] = { due: ops.now() + delay, fn, args, every: repeat ? Math.max(1, delay) : 0 };
    return id;
  }
  function clearTimer(id) {
    delete timers[Number(id)];
  }
  const timerFunctions = {
    setTimeout: (fn, ms, ...args) => addTimer(fn, ms, args, false),
    setInterval: (fn, ms, ...args) => addTimer(fn, ms, args, true),
    clearTimeout: clearTimer,
    clearInterval: clearTimer,
  };
  for (const [name, fn] of Object.entries(timerFunctions)) {
    Object.defineProperty(globalThis, name, { value: fn, writable: false, configurable: false });
  }
  function makeStorage(ns) {
    const storage = {
      getItem(key) {
        const value = ops.get(ns, String(key));
        return value === undefined ? null : value;
      },
      setItem(key, value) {
        ops.set(ns, String(key), String(value));
      },
      removeItem(key) {
        ops.remove(ns, String(key));
      },
      clear() {
        ops.clear(ns);
      },
      key(index) {
        const key = ops.key(ns, Math.trunc(Number(index)) || 0);
        return key === undefined ? null : key;
      },
    };
    // `length` is a property (Web Storage) that can also be called (GGS 1.0 scripts).
    Object.defineProperty(storage, "length", {
      get() {
        const n = ops.len(ns);
        const length = function () {
          return n;
        };
        length.valueOf = () => n;
        length.toString = () => String(n);
        return length;
      },
    });
    return Object.freeze(storage);
  }
  // GGS.host: one function per registered host function, and nothing else.
  const host = Object.create(null);
  const hostCall = ops.hostCall;
  for (const name of ops.hostNames) {
    Object.defineProperty(host, name, {
      value: (...args) => hostCall(name, args),
      enumerable: true,
    });
  }
  Object.freeze(host);
  const GGS = {
    host,
    localStorage: makeStorage(0),
    world: makeStorage(1),
    sendCommand(player, command, args) {
      ops.send(String(player), String(command), args === undefined ? "" : String(args));
    },
    sendCommandToAll(command, args) {
      ops.sendAll(String(command), args === undefined ? "" : String(args));
    },
    playerInfo(player) {
      const id = String(player);
      const info = ops.playerInfo(id);
      if (info == null) return null;
      const known = info.length === 2;
      return { id, userId: known ? info[0] : null, name: known ? info[1] : null };
    },
    serverInfo() {
      return ops.serverInfo();
    },
    setTick(ms) {
      const n = Math.trunc(Number(ms));
      if (!(n >= 0)) throw new RangeError("setTick needs a number of milliseconds >= 0");
      ops.setTick(n);
    },
    emit(name, payload) {
      ops.emit(String(name), payload);
    },
    log(...values) {
      ops.log(values.map((v) => (typeof v === "string" ? v : safeString(v))).join(" "));
    },
  };
  function safeString(v) {
    try {
      const json = JSON.stringify(v);
      return json === undefined ? String(v) : json;
    } catch (_) {
      return String(v);
    }
  }
  if (ops.fault) GGS.__fault = (kind) => ops.fault(String(kind));
  Object.defineProperty(GGS, "players", { get: () => ops.players(), enumerable: true });
  Object.defineProperty(GGS, "tableToken", { value: ops.tableToken, enumerable: true });
  Object.defineProperty(GGS, "state", {
    get: () => {
      touched = true;
      return state;
    },
    set: (value) => {
      if (value === null || typeof value !== "object") throw new TypeError("GGS.state must be an object");
      touched = true;
      state = value;
    },
    enumerable: true,
  });
  Object.freeze(GGS);
  Object.defineProperty(globalThis, "GGS", { value: GGS, writable: false, configurable: false });

  return {
    // Called before each event: what a failed event must return to.
    begin() {
      snapshot = copyTimers(timers);
      touched = false;
    },
    // The state as JSON text (throws if it is not JSON-compatible), or null when the event
    // did not touch it.
    stateJson() {
      if (!touched) return null;
      touched = false;
      const json = stringify(state);
      if (json === undefined) throw new TypeError("GGS.state must be JSON-compatible");
      return json;
    },
    rollback(json) {
      touched = false;
      state = parse(json);
      timers = snapshot;
    },
    // Milliseconds until the earliest timer is due, or -1 when there is none.
    nextDue() {
      let due = -1;
      for (const id in timers) {
        if (due < 0 || timers[id].due < due) due = timers[id].due;
      }
      if (due < 0) return -1;
      const wait = due - ops.now();
      return wait > 0 ? wait : 0;
    },
    // Removes the earliest due timer (re-arming an interval) and returns a call of it, or null.
    takeDue() {
      const now = ops.now();
      let best = null;
      let bestId = null;
      for (const id in timers) {
        const t = timers[id];
        if (t.due <= now && (best === null || t.due < best.due)) {
          best = t;
          bestId = id;
        }
      }
      if (best === null) return null;
      if (best.every > 0) best.due = now + best.every;
      else delete timers[bestId];
      return () => apply(best.fn, undefined, best.args);
    },
  };
})
