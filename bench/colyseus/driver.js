// The Colyseus load driver of the ggs comparison: the chat workload of ggs-load, driven with
// Colyseus's own client library (colyseus.js 0.16), printing the same JSON fields.
//
// N players (one colyseus.js connection each) in rooms of K: the first player of a room
// creates it ("chat"), the others join it by id. Each player keeps --window messages in flight
// (closed loop) or sends at a fixed rate (--rate, commands/s in total, open loop); a message is
// "#<player>:<seq>" padded to --payload bytes, the room broadcasts it to everyone in it, and it
// is acknowledged when its sender gets it back, which is where its round-trip time is taken
// (from when it was due, in the open loop). Messages are counted as in ggs-load: every message
// sent plus every message received, within the measured interval.
//
// Usage: node driver.js --url http://127.0.0.1:PORT [--players N] [--table-size K]
//   [--window W | --rate R] [--seconds S] [--warmup S] [--drain S] [--payload B]
//   [--server-pid PID] [--json FILE] [--label L] [--quiet]
//   node driver.js --url ... --memory --server-pid PID [--players N] [--idle-tables M]

"use strict";

const fs = require("fs");
const { Client } = require("colyseus.js");

function parseArgs(argv) {
  const o = {
    url: null, players: 100, tableSize: 4, window: null, rate: null, seconds: 10, warmup: 2,
    drain: 10, payload: 32, serverPid: null, json: null, label: "", quiet: false,
    memory: false, idleTables: 1000, connectParallel: 32,
  };
  const names = {
    "--url": ["url", String], "--players": ["players", Number],
    "--table-size": ["tableSize", Number], "--window": ["window", Number],
    "--rate": ["rate", Number], "--seconds": ["seconds", Number],
    "--warmup": ["warmup", Number], "--drain": ["drain", Number],
    "--payload": ["payload", Number], "--server-pid": ["serverPid", Number],
    "--json": ["json", String], "--label": ["label", String],
    "--idle-tables": ["idleTables", Number], "--connect-parallel": ["connectParallel", Number],
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--quiet") o.quiet = true;
    else if (a === "--memory") o.memory = true;
    else if (names[a]) o[names[a][0]] = names[a][1](argv[++i]);
    else throw new Error(`unknown argument ${a}`);
  }
  if (!o.url) throw new Error("--url is required");
  return o;
}

// ---- clock, /proc ---------------------------------------------------------------------------

const T0 = process.hrtime.bigint();
const nowUs = () => Number((process.hrtime.bigint() - T0) / 1000n);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const CLK_TCK = 100;

function statCpu(path) {
  try {
    const s = fs.readFileSync(path, "utf8");
    const name = s.slice(s.indexOf("(") + 1, s.lastIndexOf(")"));
    const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
    return [name, Number(f[11]) + Number(f[12])];
  } catch (e) {
    return null;
  }
}

function sampleCpu(pid) {
  if (!pid) return null;
  const p = statCpu(`/proc/${pid}/stat`);
  if (!p) return null;
  const threads = {};
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
    const t = statCpu(`/proc/${pid}/task/${tid}/stat`);
    if (t) threads[tid] = t;
  }
  return { process: p[1], threads };
}

function cpuBetween(a, b, seconds) {
  const pct = (ticks) => Math.round((1000 * ticks) / CLK_TCK / seconds) / 10;
  const perName = {};
  for (const [tid, [name, ticks]] of Object.entries(b.threads)) {
    const before = a.threads[tid] ? a.threads[tid][1] : 0;
    perName[name] = (perName[name] || 0) + (ticks - before);
  }
  const threads = {};
  for (const [name, ticks] of Object.entries(perName)) {
    if (pct(ticks) >= 0.5) threads[name] = pct(ticks);
  }
  return [pct(b.process - a.process), threads];
}

function rssKib(pid) {
  try {
    const s = fs.readFileSync(`/proc/${pid}/status`, "utf8");
    return Number(/VmRSS:\s+(\d+)/.exec(s)[1]);
  } catch (e) {
    return null;
  }
}

// CPU ticks the whole machine spent busy (user, nice, system, irq, softirq, steal).
function machineBusy() {
  try {
    const f = fs.readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
    return f[0] + f[1] + f[2] + f[5] + f[6] + f[7];
  } catch (e) {
    return null;
  }
}

const ownCpuUs = () => {
  const u = process.cpuUsage();
  return u.user + u.system;
};

function percentileMs(sorted, q) {
  if (sorted.length === 0) return null;
  const rank = Math.ceil(sorted.length * q);
  return sorted[Math.min(Math.max(rank, 1), sorted.length) - 1] / 1000;
}

const round = (x, d) => Math.round(x * 10 ** d) / 10 ** d;

// Runs `fn` over items, at most `n` at a time.
async function pool(items, n, fn) {
  const out = new Array(items.length);
  let next = 0;
  async function worker() {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  }
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
  return out;
}

// ---- load -----------------------------------------------------------------------------------

function chatArgs(player, seq, payload) {
  let s = `#${player}:${seq}`;
  if (s.length < payload) s += ".".repeat(payload - s.length);
  return s;
}

async function setUp(o, client) {
  const sizes = [];
  for (let first = 0; first < o.players; first += o.tableSize) {
    sizes.push(Math.min(o.tableSize, o.players - first));
  }
  const tables = await pool(sizes, Math.max(1, Math.floor(o.connectParallel / o.tableSize)),
    async (size) => {
      const first = await client.create("chat", {});
      const rooms = [first];
      for (let i = 1; i < size; i++) rooms.push(await client.joinById(first.roomId));
      return rooms;
    });
  return tables.flat();
}

async function runLoad(o) {
  const client = new Client(o.url);
  const began = Date.now();
  const rooms = await setUp(o, client);
  const setupSeconds = (Date.now() - began) / 1000;
  const n = rooms.length;
  const tables = Math.ceil(o.players / o.tableSize);
  const mode = o.rate ? "open" : "closed";
  const window = mode === "closed" ? Math.max(1, o.window || 1) : null;
  const intervalUs = mode === "open" ? (n / o.rate) * 1e6 : null;
  if (!o.quiet) {
    console.error(`colyseus driver: ${n} players at ${tables} rooms of ${o.tableSize} on ` +
      `${o.url} set up in ${setupSeconds.toFixed(1)} s; ${mode} ` +
      (mode === "closed" ? `window ${window}` : `${o.rate} commands/s`));
  }
  const start = nowUs() + 50000;
  const from = start + o.warmup * 1e6;
  const to = from + o.seconds * 1e6;
  const drainUntil = to + o.drain * 1e6;
  const measured = (t) => t >= from && t < to;
  const c = {
    sent: 0, sentTotal: 0, received: 0, receivedTotal: 0, acked: 0, ackedTotal: 0,
    errors: 0, codes: {}, firstErrors: [], disconnected: 0,
  };
  const error = (code, detail) => {
    c.errors += 1;
    c.codes[code] = (c.codes[code] || 0) + 1;
    if (c.firstErrors.length < 10) c.firstErrors.push(detail);
  };
  const rtt = [];
  const players = rooms.map((room, index) => ({
    index, room, seq: 0, lost: 0, inFlight: [], head: 0, tag: `#${index}:`,
    nextSend: start + (intervalUs ? (intervalUs * index) / n : 0), open: true,
  }));
  const sending = () => nowUs() < to;

  function send(p, due) {
    p.seq += 1;
    p.inFlight.push([p.seq, due]);
    c.sentTotal += 1;
    if (measured(nowUs())) c.sent += 1;
    p.room.send("message", chatArgs(p.index, p.seq, o.payload));
  }

  let resolveDone;
  const allDone = new Promise((r) => { resolveDone = r; });
  let finished = 0;
  const finish = (p) => {
    if (!p.open) return;
    p.open = false;
    finished += 1;
    if (finished === n) resolveDone();
  };
  const outstanding = (p) => p.inFlight.length - p.head;

  for (const p of players) {
    p.room.onMessage("message", (body) => {
      const now = nowUs();
      c.receivedTotal += 1;
      if (measured(now)) c.received += 1;
      const at = typeof body === "string" ? body.lastIndexOf(p.tag) : -1;
      if (at < 0) return;
      const seq = parseInt(body.slice(at + p.tag.length), 10);
      // Matched by sequence number, as in ggs-load: anything older still in flight was lost.
      while (p.head < p.inFlight.length && p.inFlight[p.head][0] < seq) {
        p.head += 1;
        p.lost += 1;
      }
      if (p.head >= p.inFlight.length || p.inFlight[p.head][0] !== seq) {
        error("out_of_order", `player ${p.index}: ${seq} acknowledged twice or late`);
        return;
      }
      const sent = p.inFlight[p.head++][1];
      if (p.head > 1024 && p.head * 2 > p.inFlight.length) {
        p.inFlight = p.inFlight.slice(p.head);
        p.head = 0;
      }
      c.ackedTotal += 1;
      if (measured(now)) {
        c.acked += 1;
        rtt.push(now - sent);
      }
      if (window !== null && sending()) send(p, nowUs());
      else if (!sending() && outstanding(p) === 0) finish(p);
    });
    p.room.onLeave((code) => {
      if (p.open) {
        c.disconnected += 1;
        error("disconnected", `player ${p.index}: left with code ${code}`);
        finish(p);
      }
    });
    p.room.onError((code, message) => error(`error_${code}`, `player ${p.index}: ${message}`));
  }

  // Closed loop: fill every window at the start. Open loop: one timer sends what is due.
  let openTimer = null;
  setTimeout(() => {
    if (window !== null) {
      for (const p of players) for (let i = 0; i < window; i++) send(p, nowUs());
    } else {
      const tick = () => {
        const now = nowUs();
        if (now >= to) return;
        let soonest = Infinity;
        for (const p of players) {
          let k = 0;
          while (p.nextSend <= now && k < 1000) {
            send(p, Math.round(p.nextSend));
            p.nextSend += intervalUs;
            k += 1;
          }
          if (p.nextSend < soonest) soonest = p.nextSend;
        }
        openTimer = setTimeout(tick, Math.max(0, (soonest - nowUs()) / 1000));
      };
      tick();
    }
  }, Math.max(0, (start - nowUs()) / 1000));

  // Progress, and CPU samples at the edges of the measured interval.
  let last = [0, 0, nowUs()];
  const progress = o.quiet ? null : setInterval(() => {
    const t = nowUs();
    const dt = (t - last[2]) / 1e6;
    const phase = t < from ? "warm-up" : t < to ? "measure" : "drain";
    const inFlight = c.sentTotal - c.ackedTotal;
    console.error(`[${((t - start) / 1e6).toFixed(1).padStart(6)}s ${phase}] in ${((c.sentTotal - last[0]) / dt).toFixed(0).padStart(8)}/s  out ${((c.receivedTotal - last[1]) / dt).toFixed(0).padStart(8)}/s  in flight ${String(inFlight).padStart(6)}  errors ${c.errors}`);
    last = [c.sentTotal, c.receivedTotal, t];
  }, 1000);
  await sleep((from - nowUs()) / 1000);
  const cpuFrom = [sampleCpu(o.serverPid), ownCpuUs(), machineBusy()];
  await sleep((to - nowUs()) / 1000);
  const cpuTo = [sampleCpu(o.serverPid), ownCpuUs(), machineBusy()];
  const rssUnderLoad = o.serverPid ? rssKib(o.serverPid) : null;
  if (openTimer) clearTimeout(openTimer);
  for (const p of players) if (outstanding(p) === 0) finish(p);
  await Promise.race([allDone, sleep((drainUntil - nowUs()) / 1000)]);
  if (progress) clearInterval(progress);
  let unanswered = 0;
  for (const p of players) unanswered += outstanding(p) + p.lost;
  // Leave the rooms, but do not wait for ever: a leave that never completes would otherwise
  // let Node exit (nothing left to run) before the report is written.
  await Promise.race([
    Promise.all(players.map((p) => p.room.leave(true).catch(() => {}))),
    sleep(3000),
  ]);

  rtt.sort((a, b) => a - b);
  const seconds = o.seconds;
  let serverCpu = null;
  let serverThreads = null;
  if (cpuFrom[0] && cpuTo[0]) [serverCpu, serverThreads] = cpuBetween(cpuFrom[0], cpuTo[0], seconds);
  const loadgenCpu = (100 * (cpuTo[1] - cpuFrom[1])) / 1e6 / seconds;
  const machineCpu = cpuFrom[2] !== null && cpuTo[2] !== null
    ? (100 * (cpuTo[2] - cpuFrom[2])) / CLK_TCK / seconds : null;
  const mean = rtt.length ? rtt.reduce((a, b) => a + b, 0) / rtt.length / 1000 : null;
  return {
    tool: "colyseus-driver",
    label: o.label,
    target: o.url,
    transport: "ws",
    workload: "chat",
    players: n,
    table_size: o.tableSize,
    tables,
    mode,
    window,
    offered_commands_per_s: o.rate ? round(o.rate, 1) : null,
    payload_bytes: o.payload,
    seconds,
    warmup_seconds: o.warmup,
    setup_seconds: round(setupSeconds, 2),
    commands_sent: c.sent,
    replies_received: c.received,
    acked: c.acked,
    msgs_in_per_s: round(c.sent / seconds, 1),
    msgs_out_per_s: round(c.received / seconds, 1),
    msgs_per_s: round((c.sent + c.received) / seconds, 1),
    acked_per_s: round(c.acked / seconds, 1),
    rtt_ms: {
      samples: rtt.length,
      mean: mean === null ? null : round(mean, 3),
      p50: percentileMs(rtt, 0.5),
      p90: percentileMs(rtt, 0.9),
      p99: percentileMs(rtt, 0.99),
      p999: percentileMs(rtt, 0.999),
      max: percentileMs(rtt, 1),
    },
    errors: c.errors,
    error_codes: c.codes,
    first_errors: c.firstErrors,
    disconnected: c.disconnected,
    unanswered,
    server_pid: o.serverPid,
    server_cpu_pct: serverCpu,
    server_threads_cpu_pct: serverThreads,
    server_rss_kib: rssUnderLoad,
    loadgen_cpu_pct: round(loadgenCpu, 1),
    loadgen_threads: 1,
    machine_cpu_pct: machineCpu === null ? null : round(machineCpu, 1),
    other_cpu_pct: machineCpu === null ? null
      : round(Math.max(0, machineCpu - loadgenCpu - (serverCpu || 0)), 1),
  };
}

// ---- memory ---------------------------------------------------------------------------------

async function settleRss(pid) {
  await sleep(1500);
  if (global.gc) global.gc();
  return rssKib(pid);
}

async function runMemory(o) {
  if (!o.serverPid) throw new Error("--memory needs --server-pid");
  const client = new Client(o.url);
  const idle = await settleRss(o.serverPid);
  if (!o.quiet) console.error(`colyseus memory: idle RSS ${idle} KiB`);
  // Rooms that stay without clients (autoDispose off), like idle ggs tables.
  const ids = await pool(Array.from({ length: o.idleTables }), o.connectParallel, async () => {
    const room = await client.create("chat", { keep: true });
    const id = room.roomId;
    await room.leave(true);
    return id;
  });
  const withTables = await settleRss(o.serverPid);
  if (!o.quiet) console.error(`colyseus memory: ${ids.length} rooms, RSS ${withTables} KiB`);
  // A Colyseus connection is always a seat in a room: join them.
  const seats = await pool(Array.from({ length: o.players }), o.connectParallel,
    async (_, i) => client.joinById(ids[i % ids.length]));
  const withPlayers = await settleRss(o.serverPid);
  if (!o.quiet) console.error(`colyseus memory: ${seats.length} players seated, RSS ${withPlayers} KiB`);
  await Promise.race([Promise.all(seats.map((r) => r.leave(true).catch(() => {}))), sleep(3000)]);
  const per = (a, b, k) => (k ? round((b - a) / k, 2) : null);
  return {
    tool: "colyseus-driver",
    label: o.label,
    target: o.url,
    transport: "ws",
    memory: true,
    server_pid: o.serverPid,
    rss_idle_kib: idle,
    idle_tables: ids.length,
    rss_with_tables_kib: withTables,
    connections: o.players,
    rss_with_connections_kib: null,
    rss_with_seated_players_kib: withPlayers,
    kib_per_idle_table: per(idle, withTables, ids.length),
    kib_per_connection: null,
    kib_per_seated_connection: per(withTables, withPlayers, o.players),
    kib_per_seat: null,
  };
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  // Keeps the process alive until the report is written, whatever the sockets do.
  const keepAlive = setInterval(() => {}, 1000);
  const report = o.memory ? await runMemory(o) : await runLoad(o);
  if (o.json) fs.writeFileSync(o.json, JSON.stringify(report, null, 2) + "\n");
  if (report.memory) {
    console.log(`colyseus memory: idle ${report.rss_idle_kib} KiB; ${report.kib_per_idle_table} KiB per idle room; ${report.kib_per_seated_connection} KiB per seated connection`);
  } else {
    const r = report.rtt_ms;
    console.log(`colyseus ${report.label} chat on ${report.target}: ${report.players} players, rooms of ${report.table_size}, ${report.mode} ${report.mode === "open" ? `at ${report.offered_commands_per_s} commands/s offered` : `window ${report.window}`}`);
    console.log(`  messages/s in ${report.msgs_in_per_s.toFixed(0)} + out ${report.msgs_out_per_s.toFixed(0)} = ${report.msgs_per_s.toFixed(0)}; acknowledged commands/s ${report.acked_per_s.toFixed(0)}`);
    console.log(`  RTT ms: p50 ${r.p50} p90 ${r.p90} p99 ${r.p99} p99.9 ${r.p999} max ${r.max} (${r.samples} samples)`);
    console.log(`  errors ${report.errors} ${JSON.stringify(report.error_codes)}; unanswered ${report.unanswered}; server CPU ${report.server_cpu_pct}% (threads ${JSON.stringify(report.server_threads_cpu_pct)}); RSS ${report.server_rss_kib} KiB; load generator CPU ${report.loadgen_cpu_pct}%; rest of the machine ${report.other_cpu_pct}%`);
  }
  process.exit(0);
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : e);
  process.exit(1);
});
