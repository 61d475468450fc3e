// Builds the global `GGS` object and the timer functions scripts see, over the native
// functions in `ops`. Evaluated once per runtime; `ops` is reachable only from these closures.
// Returns the host's private handle (state and timers), which scripts never see.
(function (ops, committedState) {
  "use strict";
  let state = JSON.parse(committedState);
  // Timers: id -> { due, fn, args, every }. Not durable; rolled back with a failed event.
  let timers = new Map();
  let snapshot = timers;
  let nextTimerId = 1;
  function addTimer(fn, ms, args, repeat) {
    if (typeof fn !== "function") throw new TypeError("timer callback must be a function");
    const delay = Math.max(0, Number(ms) || 0);
    const id = nextTimerId++;
    timers.set(id, { due: ops.now() + delay, fn, args, every: repeat ? Math.max(1, delay) : 0 });
    return id;
  }
  function clearTimer(id) {
    timers.delete(Number(id));
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
  const GGS = {
    localStorage: makeStorage(0),
    world: makeStorage(1),
    sendCommand(player, command, args) {
      ops.send(String(player), String(command), args === undefined ? "" : String(args));
    },
    sendCommandToAll(command, args) {
      ops.sendAll(String(command), args === undefined ? "" : String(args));
    },
    serverInfo() {
      return ops.serverInfo();
    },
    setTick(ms) {
      const n = Math.trunc(Number(ms));
      if (!(n >= 0)) throw new RangeError("setTick needs a number of milliseconds >= 0");
      ops.setTick(n);
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
  Object.defineProperty(GGS, "players", { get: () => ops.players(), enumerable: true });
  Object.defineProperty(GGS, "tableToken", { value: ops.tableToken, enumerable: true });
  Object.defineProperty(GGS, "state", {
    get: () => state,
    set: (value) => {
      if (value === null || typeof value !== "object") throw new TypeError("GGS.state must be an object");
      state = value;
    },
    enumerable: true,
  });
  Object.freeze(GGS);
  Object.defineProperty(globalThis, "GGS", { value: GGS, writable: false, configurable: false });

  return {
    // Called before each event: what a failed event must return to.
    begin() {
      snapshot = new Map(timers);
    },
    // The state as committed JSON text (throws if it is not JSON-compatible).
    stateJson() {
      const json = JSON.stringify(state);
      if (json === undefined) throw new TypeError("GGS.state must be JSON-compatible");
      return json;
    },
    rollback(json) {
      state = JSON.parse(json);
      timers = snapshot;
    },
    // Milliseconds until the earliest timer is due, or -1 when there is none.
    nextDue() {
      let due = Infinity;
      for (const t of timers.values()) due = Math.min(due, t.due);
      return due === Infinity ? -1 : Math.max(0, due - ops.now());
    },
    // Removes the earliest due timer (re-arming an interval) and returns a call of it, or null.
    takeDue() {
      let id = -1;
      let best = null;
      for (const [k, t] of timers) {
        if (t.due <= ops.now() && (best === null || t.due < best.due)) {
          id = k;
          best = t;
        }
      }
      if (best === null) return null;
      if (best.every > 0) best.due = ops.now() + best.every;
      else timers.delete(id);
      return () => best.fn(...best.args);
    },
  };
})
