// Type declarations of the GGS script API, for editors and for `tsc`: put
//   // @ts-check
//   /// <reference path="ggs.d.ts" />
// at the top of a game script (after its opening comment, with this file beside it) to get
// completion and checks, and mark each hook with its type from `GGSHooks`:
//   /** @type {GGSHooks["playerCommand"]} */
//   function playerCommand(player, command, args) { ... }
// The API itself is described in games/README.md. CI checks the shipped games against this
// file (`tsc -p games`, see games/tsconfig.json).

/** A player id: a UUID string, public (the resume token is a separate secret scripts never see). */
type PlayerId = string;

/** One storage namespace (Web Storage API). Values are stored as strings. */
interface GGSStorage {
  /** The value of `key`, or `null` when there is none. */
  getItem(key: string): string | null;
  /** Stores `String(value)` under `key`. Throws a RangeError past the entry or table limit. */
  setItem(key: string, value: unknown): void;
  /** Deletes `key`. */
  removeItem(key: string): void;
  /** Deletes every key of this namespace. */
  clear(): void;
  /** The `index`-th key in sorted order, or `null`. */
  key(index: number): string | null;
  /** The number of keys: read it as a property, or call it as GGS 1.0 scripts did. */
  readonly length: number & (() => number);
}

/** A value that crosses between a script and the embedding application as JSON. */
type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/**
 * The embedding application's functions, by name (none in the `ggs` binary). Each takes and
 * returns JSON values, runs synchronously within the event's CPU deadline, and throws an
 * `Error` with the application's message when it fails.
 */
interface GGSHostFunctions {
  readonly [name: string]: (...args: JsonValue[]) => any;
}

/** What `GGS.playerInfo(player)` tells of a seated player. */
interface PlayerInfo {
  /** The player's public id (as in `GGS.players`). */
  readonly id: PlayerId;
  /** The application's account id (at most 128 bytes), or `null` when anonymous. */
  readonly userId: string | null;
  /** The name to show (at most 64 bytes), or `null` when anonymous. */
  readonly name: string | null;
}

/** The `GGS` object every game script sees. */
interface GGSApi {
  /** Storage for data independent of the game state; durable and transactional. */
  readonly localStorage: GGSStorage;
  /** Storage for the game state; durable and transactional. */
  readonly world: GGSStorage;
  /**
   * The table's state: any JSON-compatible object (at most 1 MiB as JSON), committed with
   * each event that changes it. Starts as `{}`.
   */
  state: Record<string, any>;
  /** The players seated at the table, including those whose seat is held after a drop. */
  readonly players: PlayerId[];
  /**
   * Who a seated player is, as the embedding application's auth hook said: `userId` and
   * `name` are `null` for an anonymous player (no hook); `null` for someone not seated.
   */
  playerInfo(player: PlayerId): PlayerInfo | null;
  /** The table's id. */
  readonly tableToken: string;
  /** Sends `command` with body `String(args)` (default `""`) to one connected player. */
  sendCommand(player: PlayerId, command: string, args?: unknown): void;
  /** Sends `command` with body `String(args)` to every connected player at the table. */
  sendCommandToAll(command: string, args?: unknown): void;
  /** The number of players connected to the server. */
  serverInfo(): number;
  /** Calls `tick()` every `ms` milliseconds (at least 10); `0` stops. Durable. */
  setTick(ms: number): void;
  /** Writes a line to the server log, tagged with the table id. */
  log(...values: unknown[]): void;
  /** The embedding application's functions (`GGS.host.NAME(...)`); frozen. */
  readonly host: GGSHostFunctions;
  /**
   * Hands `payload` (JSON; `null` when omitted) to the embedding application under `name`
   * (1 to 128 bytes) once the event is durable; a failed event emits nothing. At most 100 per
   * event (256 KiB); past that a RangeError.
   */
  emit(name: string, payload?: JsonValue): void;
}

declare const GGS: GGSApi;

/** Runs `fn(...args)` once after `ms` milliseconds, as an event. Not durable: re-arm in `onResume`. */
declare function setTimeout<A extends unknown[]>(fn: (...args: A) => void, ms?: number, ...args: A): number;
/** Runs `fn(...args)` every `ms` milliseconds, each run an event. Not durable. */
declare function setInterval<A extends unknown[]>(fn: (...args: A) => void, ms?: number, ...args: A): number;
/** Cancels a `setTimeout`. */
declare function clearTimeout(id: number): void;
/** Cancels a `setInterval`. */
declare function clearInterval(id: number): void;

/**
 * The hooks: define the ones your game needs as global functions with these names (they are
 * the script's own functions, so they are not declared globally here). Only playerCommand is
 * required. Each call is one transaction.
 */
interface GGSHooks {
  /** A player sent a game command; `args` is `""` when there were none. */
  playerCommand(player: PlayerId, command: string, args: string): void;
  /** A new player sat down (after their `hello` reply). */
  playerJoined(player: PlayerId): void;
  /** A player's seat was freed (after the seat grace, when a dropped player did not return). */
  playerLeft(player: PlayerId): void;
  /** A dropped player took their seat back. */
  playerReconnected(player: PlayerId): void;
  /** The tick set with `GGS.setTick` is due. */
  tick(): void;
  /** The table was rebuilt from its committed state (restart, crash, waking from hibernation): re-arm timers here. */
  onResume(): void;
  /**
   * This version of the game replaced another at a running table (a live upgrade, or a
   * rollback when `toVersion < fromVersion`). It runs in the new version, over the table's
   * committed storage and `GGS.state`: migrate them here. If it throws (or runs out of time),
   * the table stays on its old version with nothing changed.
   */
  onUpgrade(fromVersion: number, toVersion: number): void;
}
