// Builds the global `GGS` object scripts see, over the native functions in `ops`.
// Evaluated once per runtime; `ops` is reachable only from these closures.
(function (ops) {
  "use strict";
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
  Object.freeze(GGS);
  Object.defineProperty(globalThis, "GGS", { value: GGS, writable: false, configurable: false });
})
