#!/usr/bin/env python3
"""The side-by-side benchmark: ggs against a raw Rust baseline and Colyseus, in one run.

Run through `bench/run`, which builds the binaries first. This script starts each server
fresh, drives it with the same load (ggs-load for ggs and ggs-raw, the colyseus.js driver for
Colyseus), measures memory and restart time, writes bench/results.json and BENCHMARKS.md.

Every setting comes from the environment (see SETTINGS below); BENCH_QUICK=1 shortens it all.
"""

import datetime
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
RELEASE = os.path.join(TARGET, "release")
COLYSEUS_DIR = os.path.join(ROOT, "bench", "colyseus")
NOTES_MARKER = "<!-- Hand-written notes below this line are kept when bench/run rewrites the file. -->"

QUICK = os.environ.get("BENCH_QUICK") == "1"


def setting(name, default, kind=int):
    return kind(os.environ.get(name, default))


SETTINGS = {
    # The load every target gets: players (connections) at tables (rooms) of TABLE_SIZE, each
    # keeping WINDOW commands in flight, measured for SECONDS after WARMUP.
    "players": setting("BENCH_PLAYERS", 200),
    "table_size": setting("BENCH_TABLE_SIZE", 4),
    "window": setting("BENCH_WINDOW", 8),
    "seconds": setting("BENCH_SECONDS", 4 if QUICK else 10, float),
    "warmup": setting("BENCH_WARMUP", 1 if QUICK else 2, float),
    "payload": setting("BENCH_PAYLOAD", 32),
    # Closed-loop runs are repeated ROUNDS times, interleaved; the median is reported.
    "rounds": setting("BENCH_ROUNDS", 1 if QUICK else 3),
    # Pong: players at tables of 2, each sending a paddle command every PONG_INTERVAL_MS.
    "pong_players": setting("BENCH_PONG_PLAYERS", 400),
    "pong_interval_ms": setting("BENCH_PONG_INTERVAL_MS", 100, float),
    # Memory: connections and idle tables.
    "memory_connections": setting("BENCH_MEMORY_CONNECTIONS", 500 if QUICK else 2000),
    "memory_tables": setting("BENCH_MEMORY_TABLES", 500 if QUICK else 2000),
    # A measurement during which the rest of the machine (other processes) used more than
    # MAX_OTHER_CPU % of a core is repeated, up to RETRIES times, after a pause.
    "max_other_cpu": setting("BENCH_MAX_OTHER_CPU", 25, float),
    "retries": setting("BENCH_RETRIES", 2),
    # Restart time: tables on disk (0 skips it).
    "recovery_tables": setting("BENCH_RECOVERY_TABLES", 1000 if QUICK else 10000),
}

GGS_LIMITS = [
    "--messages-per-second", "1000000",
    "--max-connections", "1000000",
    "--max-connections-per-ip", "1000000",
    "--tables-per-connection", "1000000",
]


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


# ---- servers ---------------------------------------------------------------------------------

class Server:
    """A server child process that prints one `... listening ...=ADDR` line when ready."""

    def __init__(self, name, argv, cwd=None, data_dir=None):
        self.name = name
        self.data_dir = data_dir
        self.stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=self.stderr, env={**os.environ, "NO_COLOR": "1"}, text=True)
        deadline = time.time() + 30
        self.addrs = {}
        while time.time() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            if " listening " in line:
                self.addrs = dict(p.split("=", 1) for p in line.split() if "=" in p)
                break
        if not self.addrs:
            self.stop()
            raise RuntimeError(f"{name} did not start: {self.log()}")
        self.pid = self.proc.pid

    def log(self):
        self.stderr.seek(0)
        return self.stderr.read().decode(errors="replace")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.data_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)
        return self.log()


class MeasurementFailed(Exception):
    """A load generator failed or wrote no report."""


FAILURES = []


def ggs_bin():
    return os.environ.get("GGS_BIN", os.path.join(RELEASE, "ggs"))


def start(target):
    """Starts the server of a target: raw, colyseus, ggs-strict, ggs-relaxed."""
    if target == "raw":
        return Server("ggs-raw", [os.path.join(RELEASE, "ggs-raw"), "--tcp", "127.0.0.1:0"])
    if target == "colyseus":
        return Server("colyseus", ["node", "server.js"], cwd=COLYSEUS_DIR)
    durability = target.split("-", 1)[1]
    data = tempfile.mkdtemp(prefix="ggs-bench-")
    return Server(f"ggs ({durability})", [
        ggs_bin(), "serve", "--tcp", "127.0.0.1:0", "--http", "127.0.0.1:0",
        "--data-dir", data, "--durability", durability, "--log-level", "info", *GGS_LIMITS,
    ], cwd=data, data_dir=data)


def drive(server, target, transport, extra, label):
    """Runs one load (or memory) measurement against a started server; returns its JSON."""
    out = tempfile.NamedTemporaryFile(suffix=".json", delete=False)
    out.close()
    common = ["--server-pid", str(server.pid), "--json", out.name, "--label", label, *extra]
    if target == "colyseus":
        argv = ["node", os.path.join(COLYSEUS_DIR, "driver.js"),
                "--url", "http://" + server.addrs["http"], *common]
    else:
        where = (["--addr", server.addrs["tcp"]] if transport == "tcp"
                 else ["--ws", f"ws://{server.addrs['http']}/ws"])
        argv = [os.path.join(RELEASE, "ggs-load"), *where, *common]
    log(f"{label}: {' '.join(argv[1:] if target != 'colyseus' else argv[2:])}")
    try:
        subprocess.run(argv, check=True)
        with open(out.name) as f:
            return json.load(f)
    except (subprocess.CalledProcessError, json.JSONDecodeError) as e:
        raise MeasurementFailed(f"{label}: {e}") from e
    finally:
        os.unlink(out.name)


def load_args(s, mode):
    args = ["--players", str(s["players"]), "--table-size", str(s["table_size"]),
            "--seconds", str(s["seconds"]), "--warmup", str(s["warmup"]),
            "--payload", str(s["payload"])]
    if mode == "max":
        args += ["--window", str(s["window"])]
    else:
        args += ["--rate", f"{mode:.1f}"]
    return args


def run(target, transport, mode, label, s, workload_args=None):
    """One measurement on a fresh server; repeated when other processes took too much CPU."""
    for attempt in range(1, s["retries"] + 2):
        server = start(target)
        try:
            extra = workload_args if workload_args is not None else load_args(s, mode)
            result = drive(server, target, transport, extra, label)
        except MeasurementFailed as e:
            log(f"FAILED: {e}")
            if attempt > s["retries"]:
                FAILURES.append(str(e))
                return None
            time.sleep(5)
            continue
        finally:
            log_text = server.stop()
        result["server"] = target
        result["attempts"] = attempt
        if target.startswith("ggs"):
            m = re.search(r"commit latency.*", log_text)
            result["server_log"] = m.group(0).strip() if m else None
        other = result.get("other_cpu_pct") or 0
        if other <= s["max_other_cpu"] or attempt > s["retries"]:
            return result
        log(f"{label}: other processes used {other:.0f}% of a core meanwhile; again in 10 s")
        time.sleep(10)
    raise AssertionError("unreachable")


# ---- the machine -----------------------------------------------------------------------------

def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True,
                              timeout=30).stdout.strip()
    except Exception:  # noqa: BLE001 - the machine description is best effort
        return ""


def machine():
    cpu = sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2").strip()
    mem = sh("grep MemTotal /proc/meminfo | awk '{print $2}'")
    busy = sh("ps -eo pcpu,comm --sort=-pcpu --no-headers | head -5")
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(int(mem) / 1024 / 1024, 1) if mem.isdigit() else None,
        "kernel": platform.release(),
        "os": sh(". /etc/os-release && echo $PRETTY_NAME"),
        "rustc": sh("rustc --version"),
        "node": sh("node --version"),
        "colyseus": sh(f"node -p \"require('{COLYSEUS_DIR}/node_modules/@colyseus/core/package.json').version\""),
        "colyseus_js": sh(f"node -p \"require('{COLYSEUS_DIR}/node_modules/colyseus.js/package.json').version\""),
        "uptime_before": sh("uptime"),
        "busiest_processes_before": busy.splitlines(),
        "ggs_revision": os.environ.get("BENCH_GGS_REVISION") or sh(
            f"cd {ROOT} && git rev-parse --short HEAD") + (
            " + uncommitted changes" if sh(f"cd {ROOT} && git status --porcelain -- server js-runtime") else ""),
    }


# ---- restart time ----------------------------------------------------------------------------

def recovery(tables):
    argv = [os.path.join(RELEASE, "ggs-recovery"), "--tables", str(tables), "--server-bin", ggs_bin()]
    log(f"restart time: {' '.join(argv[1:])}")
    out = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
    print(out, file=sys.stderr)
    r = {"tables": tables, "output": out.strip().splitlines()}
    m = re.search(r"created (\d+) tables in ([\d.]+) s.*?server RSS ([\d.]+) MiB", out)
    if m:
        r["create_seconds"] = float(m.group(2))
        r["rss_live_mib"] = float(m.group(3))
    m = re.search(r"restart 1: data dir ([\d.]+) MiB.*?\(a\) spawn -> listening ([\d.]+) ms.*?"
                  r"\(b\) spawn -> first served event on a cold table ([\d.]+) ms.*?"
                  r"cold tables p50 ([\d.]+) ms max ([\d.]+) ms.*?server RSS ([\d.]+) MiB", out)
    if m:
        r.update(data_mib=float(m.group(1)), listening_ms=float(m.group(2)),
                 first_event_ms=float(m.group(3)), cold_table_p50_ms=float(m.group(4)),
                 cold_table_max_ms=float(m.group(5)), rss_after_mib=float(m.group(6)))
    return r


def median_runs(runs):
    """The run with the median msgs/s of each closed-loop target, with the range of all rounds."""
    groups = {}
    for r in runs:
        if r["label"].startswith("max"):
            groups.setdefault((r["server"], r["transport"]), []).append(r)
    out = {}
    for key, rs in groups.items():
        rs = sorted(rs, key=lambda r: r["msgs_per_s"])
        med = dict(rs[(len(rs) - 1) // 2])
        med["rounds_msgs_per_s"] = [r["msgs_per_s"] for r in sorted(rs, key=lambda r: r["round"])]
        out[key] = med
    return out


# ---- the report ------------------------------------------------------------------------------

def fmt(x, digits=0):
    if x is None:
        return "-"
    return f"{x:,.{digits}f}"


def ms(x):
    if x is None:
        return "-"
    return f"{x:.1f}" if x >= 10 else f"{x:.2f}"


def ratio(a, b):
    if not a or not b:
        return "-"
    return f"{a / b:.2f}"


def mark(r, s):
    return " ‡" if (r.get("other_cpu_pct") or 0) > s["max_other_cpu"] else ""


def threads_line(r):
    t = r.get("server_threads_cpu_pct") or {}
    groups = {}
    for name, pct in t.items():
        key = re.sub(r"-\d+$", "-*", name)
        groups[key] = groups.get(key, 0) + pct
    return ", ".join(f"{k} {v:.0f}%" for k, v in sorted(groups.items(), key=lambda kv: -kv[1]))


NAMES = {
    ("raw", "tcp"): "raw baseline (ggs-raw), TCP",
    ("ggs-strict", "tcp"): "ggs, strict (output gate, default), TCP",
    ("ggs-relaxed", "tcp"): "ggs, relaxed durability, TCP",
    ("ggs-strict", "ws"): "ggs, strict, WebSocket",
    ("ggs-relaxed", "ws"): "ggs, relaxed, WebSocket",
    ("colyseus", "ws"): "Colyseus 0.16, WebSocket",
}


def write_report(res, path):
    s = res["settings"]
    m = res["machine"]
    lines = []
    w = lines.append
    w("# Benchmarks")
    w("")
    w("Written by `bench/run` (see [Method](#method)); the figures below are from one run on one "
      "machine, every target measured in the same run with the same load. Raw results: "
      "`bench/results.json`.")
    w("")
    w(f"- **When**: {res['date']}; ggs {m['ggs_revision']}")
    w(f"- **Machine**: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, {m['os']}, "
      f"Linux {m['kernel']}; {m['rustc']}; Node {m['node']}")
    w(f"- **Load on the machine**: before the run `{m['uptime_before'].strip()}`; after "
      f"`{res['uptime_after'].strip()}`. Busiest processes before the run (%CPU, name): "
      + "; ".join(f"`{p.strip()}`" for p in m["busiest_processes_before"][:3]) + ". "
      "Servers and load generators share these cores: every figure includes that contention.")
    repeats = sum(r.get("attempts", 1) - 1 for r in res["runs"])
    busy = [r["label"] for r in res["runs"] if (r.get("other_cpu_pct") or 0) > s["max_other_cpu"]]
    w(f"- **Noise**: a measurement during which the rest of the machine used more than "
      f"{s['max_other_cpu']:g}% of a core is repeated (up to {s['retries']} times): "
      f"{repeats} repeated in this run; "
      + (f"still above it, and marked ‡ below: {', '.join(busy)}." if busy else "none left above it."))
    if res.get("failures"):
        w("- **Failed measurements** (left out below): " + "; ".join(res["failures"]))
    w(f"- **Load**: {s['players']} players at tables (rooms) of {s['table_size']}, chat "
      f"workload, {s['seconds']:g} s measured after {s['warmup']:g} s of warm-up, "
      f"{s['payload']}-byte messages.")
    w("")

    runs = res["runs"]
    mx = median_runs(runs)
    raw = mx.get(("raw", "tcp"))
    coly = mx.get(("colyseus", "ws"))

    w("## Throughput (closed loop)")
    w("")
    w(f"Each player keeps {s['window']} messages in flight. Messages/s counts as the 2011 "
      "thesis did: every message the clients sent (parsed by the server) plus every message "
      "delivered to each recipient (a broadcast to a table of "
      f"{s['table_size']} is {s['table_size']} messages out). RTT is from sending a message to "
      f"its sender receiving its broadcast. Each target ran {s['rounds']} times, the rounds "
      "interleaved (every target once, then again); the table shows the round with the median "
      "messages/s, and the range over all rounds.")
    w("")
    w("| target | msgs/s (in + out) | range | in/s | out/s | RTT p50 ms | p99 | p99.9 | server CPU | "
      "load generator CPU | rest of the machine | errors |")
    w("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for key, r in mx.items():
        rt = r["rtt_ms"]
        rounds = r["rounds_msgs_per_s"]
        w(f"| {NAMES.get(key, key)} | **{fmt(r['msgs_per_s'])}** | "
          f"{fmt(min(rounds) / 1000)}k-{fmt(max(rounds) / 1000)}k | {fmt(r['msgs_in_per_s'])} | "
          f"{fmt(r['msgs_out_per_s'])} | {ms(rt['p50'])} | {ms(rt['p99'])} | {ms(rt['p999'])} | "
          f"{fmt(r.get('server_cpu_pct'))}% | {fmt(r.get('loadgen_cpu_pct'))}%"
          f"{' †' if (r.get('loadgen_cpu_pct') or 0) >= 85 else ''} | "
          f"{fmt(r.get('other_cpu_pct'))}%{mark(r, s)} | {r['errors'] + r.get('unanswered', 0)} |")
    w("")
    w("CPU is % of one core over the measured interval (the machine has "
      f"{m['cores']}, so 200% is all of it); *rest of the machine* is what everything else used "
      "meanwhile (other processes, and kernel work charged to neither). † The load generator (single-threaded, like Node) used most of a core: "
      "that figure is bounded by the load generator and the machine, not only by the server.")
    w("")
    w("Ratios of messages/s:")
    w("")
    w("| | ggs strict | ggs relaxed |")
    w("| --- | ---: | ---: |")
    for base_name, base, transport in (("raw baseline (TCP)", raw, "tcp"),
                                       ("Colyseus (WebSocket)", coly, "ws")):
        if not base:
            continue
        st = mx.get(("ggs-strict", transport))
        rl = mx.get(("ggs-relaxed", transport))
        w(f"| ggs ({transport.upper() if transport == 'tcp' else 'WebSocket'}) / {base_name} | "
          f"{ratio(st and st['msgs_per_s'], base['msgs_per_s'])} | "
          f"{ratio(rl and rl['msgs_per_s'], base['msgs_per_s'])} |")
    if coly:
        st = mx.get(("ggs-strict", "tcp"))
        rl = mx.get(("ggs-relaxed", "tcp"))
        w(f"| ggs (TCP) / Colyseus (WebSocket) | {ratio(st and st['msgs_per_s'], coly['msgs_per_s'])} | "
          f"{ratio(rl and rl['msgs_per_s'], coly['msgs_per_s'])} |")
    w("")
    st, rl = mx.get(("ggs-strict", "tcp")), mx.get(("ggs-relaxed", "tcp"))
    if st and rl:
        w(f"The cost of safety: relaxed durability (messages wait for the write, not the fsync) "
          f"gives {ratio(rl['msgs_per_s'], st['msgs_per_s'])}x the messages/s of strict over TCP, "
          f"at RTT p99 {ms(rl['rtt_ms']['p99'])} ms against {ms(st['rtt_ms']['p99'])} ms.")
        w("")

    fixed_bases = ["raw", "slowest"]
    if any(r["label"].startswith("fixed") for r in runs):
        w("## Latency at a fixed offered load")
        w("")
        w("Open loop: each player sends on a fixed schedule, and RTT counts from when a message "
          "was due, so a server that falls behind shows it. RTT percentiles cover the commands "
          "served.")
        w("")
    for basis in fixed_bases:
        fixed = [r for r in runs if r.get("fixed_basis") == basis]
        if not fixed:
            continue
        title = fixed[0]["fixed_title"]
        offered = fixed[0]["offered_commands_per_s"]
        w(f"### {title}")
        w("")
        w(f"{fmt(offered)} messages sent per second in all, which with tables of "
          f"{s['table_size']} offers {fmt(offered * (1 + s['table_size']))} messages/s in + out.")
        w("")
        w("| target | commands served/s (of offered) | msgs/s (in + out) | RTT p50 ms | p99 | "
          "p99.9 | max | server CPU | rest of the machine | errors |")
        w("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
        for r in fixed:
            rt = r["rtt_ms"]
            errs = ", ".join(f"{v} {k}" for k, v in (r.get("error_codes") or {}).items())
            if r.get("unanswered"):
                errs += (", " if errs else "") + f"{r['unanswered']} unanswered"
            w(f"| {NAMES.get((r['server'], r['transport']))} | {fmt(r['acked_per_s'])} "
              f"({100 * r['acked_per_s'] / offered:.0f}%) | {fmt(r['msgs_per_s'])} | "
              f"{ms(rt['p50'])} | **{ms(rt['p99'])}** | {ms(rt['p999'])} | {ms(rt['max'])} | "
              f"{fmt(r.get('server_cpu_pct'))}% | {fmt(r.get('other_cpu_pct'))}%{mark(r, s)} | "
              f"{errs or 0} |")
        w("")
    if any(r["label"].startswith("fixed") for r in runs):
        w("A target that serves fewer commands than offered could not keep up: its latencies "
          "are those of a growing queue, and ggs sheds what its table inboxes cannot hold "
          "(`overloaded` errors, which are replies too, so its msgs/s still look high). More "
          "than 100% served means a backlog from the warm-up was served in the measured "
          "interval.")
        w("")

    pong = [r for r in runs if r["label"].startswith("pong")]
    if pong:
        w("## Pong (ggs only)")
        w("")
        p0 = pong[0]
        w(f"`games/pong.js`: {p0['players']} players at {p0['tables']} tables of 2, a game "
          f"always running (20 ticks/s, each tick a `ball` message to both players, committed "
          f"like any event), every player sending a paddle command every "
          f"{s['pong_interval_ms']:g} ms (open loop). RTT: paddle command to the sender's "
          f"`player<N>_y` broadcast.")
        w("")
        w("| target | msgs/s (in + out) | in/s | out/s | RTT p50 ms | p99 | p99.9 | server CPU | "
          "rest of the machine | errors |")
        w("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for r in pong:
            rt = r["rtt_ms"]
            w(f"| {NAMES.get((r['server'], r['transport']))} | {fmt(r['msgs_per_s'])} | "
              f"{fmt(r['msgs_in_per_s'])} | {fmt(r['msgs_out_per_s'])} | {ms(rt['p50'])} | "
              f"{ms(rt['p99'])} | {ms(rt['p999'])} | {fmt(r.get('server_cpu_pct'))}% | "
              f"{fmt(r.get('other_cpu_pct'))}%{mark(r, s)} | {r['errors'] + r.get('unanswered', 0)} |")
        w("")

    mem = res.get("memory") or []
    if mem:
        w("## Memory")
        w("")
        w("Resident memory (VmRSS from `/proc/<pid>/status`) of a fresh server process: idle; "
          f"after {s['memory_tables']} tables were created with the chat script and their "
          f"creators disconnected (idle tables); after {s['memory_connections']} more "
          "connections were opened (no table); after each of them joined one of those tables. "
          "Each step waits 1.5 s for the process to settle.")
        w("")
        w("| target | idle RSS | per idle table | per connection | per seated player (connection + seat) |")
        w("| --- | ---: | ---: | ---: | ---: |")
        for r in mem:
            kib = lambda k: "-" if r.get(k) is None else f"{r[k]:.1f} KiB"  # noqa: E731
            w(f"| {NAMES.get((r['server'], r['transport']))} | {r['rss_idle_kib'] / 1024:.1f} MiB | "
              f"{kib('kib_per_idle_table')} | {kib('kib_per_connection')} | "
              f"{kib('kib_per_seated_connection')} |")
        w("")
        w("A ggs table holds its own QuickJS runtime with the script loaded; a raw table is an "
          "entry in a map; a Colyseus room is a JavaScript object in the one Node heap (kept "
          "with `autoDispose = false`). A Colyseus connection is always a seat in a room, so it "
          "has no figure without one.")
        w("")

    rec = res.get("recovery")
    if rec:
        w("## Restart time")
        w("")
        if "listening_ms" in rec:
            w(f"`ggs-recovery --tables {rec['tables']}`: {rec['tables']:,} tables on disk "
              f"({rec['data_mib']:.1f} MiB of sled data, created in {rec.get('create_seconds', 0):.1f} s), "
              f"ggs killed with SIGKILL and started again on the same data directory.")
            w("")
            w("| spawn -> listening | spawn -> first event served on a cold table | "
              "`hello` + one command on another cold table, p50 / max | RSS after |")
            w("| ---: | ---: | ---: | ---: |")
            w(f"| {rec['listening_ms']:.0f} ms | {rec['first_event_ms']:.0f} ms | "
              f"{rec['cold_table_p50_ms']:.1f} / {rec['cold_table_max_ms']:.1f} ms | "
              f"{rec['rss_after_mib']:.1f} MiB |")
            w("")
            w("Tables are loaded lazily, on their first `hello`, so the restart time does not grow "
              "with the number of tables on disk; each cold table pays its load on first use. "
              f"Before the kill, with all {rec['tables']:,} tables live, the server's RSS was "
              f"{rec.get('rss_live_mib', 0):,.0f} MiB.")
        else:
            w("ggs-recovery output:\n\n```\n" + "\n".join(rec["output"]) + "\n```")
        w("")

    w("## Where ggs spends its CPU")
    w("")
    w("Per-thread CPU of the ggs process over the measured interval of the closed-loop runs "
      "(from `/proc/<pid>/task/*/stat`; % of one core; threads of a pool added up):")
    w("")
    for key, r in mx.items():
        if key[0].startswith("ggs"):
            w(f"- {NAMES.get(key)}: {threads_line(r)}")
    for key, r in mx.items():
        if key[0].startswith("ggs") and r.get("server_log"):
            w(f"- {NAMES.get(key)} logged at shutdown: `{r['server_log']}`")
    w("")

    w("## Method")
    w("")
    w("""`bench/run` builds the release binaries (`ggs`, `ggs-raw`, `ggs-load`, `ggs-recovery`),
installs the Colyseus packages from `bench/colyseus/package-lock.json` if needed (with npm 11;
a failed install stops the run unless `BENCH_SKIP_COLYSEUS=1` asks for a run without it), and runs
`bench/compare.py`, which starts every server fresh (ggs on an empty data directory) for each
measurement, on loopback, one after another, and stops it afterwards.

- **ggs** (`ggs serve`, release build) runs `games/chat.js`: each `message` command reads the
  sender's nick and a counter from `GGS.world`, writes the counter back (a storage write
  committed to sled per command) and broadcasts `<nick>> <text>` to the table. *Strict* is the
  default: no message leaves before the writes that caused it are fsynced (group commit).
  *Relaxed* (`--durability relaxed`) releases messages after the write and fsyncs in the
  background. Per-connection limits are raised for the run (`--messages-per-second`,
  `--max-connections-per-ip`, `--tables-per-connection`); nothing else is changed.
- **Raw baseline** (`bench/raw-server`, binary `ggs-raw`): a tokio server of about 260 lines with the
  same GGS 1.0 framing and the same shape as ggs's connection layer (a reader loop and a writer
  task per connection that batches queued replies into one write), where `hello` creates or
  joins a table in a `HashMap` and a game command is broadcast to the table. No JavaScript, no
  store, no limits: what this machine's loopback TCP, tokio and the load generator can do with
  this traffic.
- **Colyseus 0.16** (`bench/colyseus/server.js`, `@colyseus/core` + `@colyseus/ws-transport`
  0.16 from npm, on Node 20): a room whose `onMessage("message")` counts the message in memory
  and `broadcast`s it to every client in the room. Colyseus has no durable store, so it does
  less work per message than ggs (no storage write, no fsync, no script sandbox); it is the
  mainstream alternative, measured as its users run it (one Node process, single-threaded).
  These two packages are what the `colyseus` meta-package re-exports (with the ws transport
  as its default); the meta-package itself does not install here, because npm also resolves
  its optional peers, one of which (uWebSockets.js) is fetched from GitHub, unreachable from
  this machine.
- **Load**: `ggs-load` (tests crate) drives ggs over GGS 1.0 TCP and the WebSocket JSON
  mapping, and the raw baseline over TCP. Colyseus is driven by `bench/colyseus/driver.js`,
  which uses Colyseus's own client library (`colyseus.js` 0.16: HTTP matchmaking, then its
  WebSocket protocol with msgpack) with the same workload shape and accounting as `ggs-load`:
  the same players, tables of the same size (the first player creates the room, the others join
  it by id), the same window of messages in flight per player (closed loop) or the same
  schedule (open loop), the same message text, warm-up, measured interval and drain; it prints
  the same JSON fields. Both load generators run on a single thread (`ggs-load --threads 1`,
  Node is single-threaded), and both report their own CPU, so a run limited by its load
  generator rather than by its server shows it (a load generator near 100% of a core).
- **Why it is comparable**: same machine, same run, same number of connections, tables, window,
  payload and duration; every message counted the same way at the clients. The transports
  differ (GGS 1.0 is a text framing over TCP, Colyseus speaks msgpack over WebSocket), which is
  why ggs is also measured over its WebSocket transport: *ggs WebSocket / Colyseus* is the
  like-for-like ratio. Node is single-threaded, so Colyseus uses at most one of the two cores
  for its room logic; ggs and the raw baseline may use both, and all servers share them with
  their load generator.
- **Memory** is measured by `ggs-load --memory` (ggs, raw) and `driver.js --memory` (Colyseus)
  against a fresh server. **Restart time** is `ggs-recovery` (tests crate).

Settings (environment variables of `bench/run`, defaults in `bench/compare.py`): """ +
      ", ".join(f"`BENCH_{k.upper()}`={v}" for k, v in s.items()) +
      "; `BENCH_QUICK=1` for a short smoke run; `GGS_BIN` to benchmark another `ggs` binary; "
      "`BENCH_ONLY=max,fixed,pong,memory,recovery` (any of them) to run only those parts; "
      "`python3 bench/compare.py --report-only` rewrites this file from `bench/results.json`.")
    w("")
    w(NOTES_MARKER)
    notes = ""
    if os.path.exists(path):
        with open(path) as f:
            old = f.read()
        if NOTES_MARKER in old:
            notes = old.split(NOTES_MARKER, 1)[1]
    text = "\n".join(lines) + (notes if notes else "\n")
    with open(path, "w") as f:
        f.write(text)


# ---- main ------------------------------------------------------------------------------------

def main():
    results = os.environ.get("BENCH_RESULTS", os.path.join(ROOT, "bench", "results.json"))
    report = os.environ.get("BENCH_REPORT", os.path.join(ROOT, "BENCHMARKS.md"))
    if "--report-only" in sys.argv[1:]:
        # Rewrites BENCHMARKS.md from the last results, e.g. after the report's text changed.
        with open(results) as f:
            write_report(json.load(f), report)
        log(f"wrote {report} from {results}")
        return
    s = SETTINGS
    res = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
           "settings": s, "machine": machine(), "runs": [], "memory": []}
    began = time.time()
    only = os.environ.get("BENCH_ONLY", "")
    want = lambda part: not only or part in only.split(",")  # noqa: E731
    colyseus_ok = os.path.isdir(os.path.join(COLYSEUS_DIR, "node_modules", "@colyseus", "core"))
    if not colyseus_ok and not os.environ.get("BENCH_SKIP_COLYSEUS"):
        sys.exit("bench: Colyseus is not installed (bench/colyseus/node_modules): run "
                 "`npm ci --prefix bench/colyseus` (npm 11), or set BENCH_SKIP_COLYSEUS=1 to "
                 "compare without it")
    if not colyseus_ok:
        log("BENCH_SKIP_COLYSEUS is set: Colyseus is left out of this run")

    # 1. Maximum throughput, closed loop.
    targets = [("raw", "tcp"), ("ggs-strict", "tcp"), ("ggs-relaxed", "tcp"),
               ("ggs-strict", "ws"), ("ggs-relaxed", "ws")]
    if colyseus_ok:
        targets.append(("colyseus", "ws"))
    if want("max"):
        for rnd in range(1, s["rounds"] + 1):
            for target, transport in targets:
                r = run(target, transport, "max", f"max {target} {transport} round {rnd}", s)
                if r:
                    r["round"] = rnd
                    res["runs"].append(r)
    medians = median_runs(res["runs"])
    raw_max = medians.get(("raw", "tcp"))

    # 2. Latency at fixed offered loads, open loop: half of the raw baseline's maximum, and half
    #    of the slowest target's maximum (a load every target carries).
    if want("fixed"):
        slowest = min(medians.items(), key=lambda kv: kv[1]["msgs_per_s"], default=None)
        bases = [("raw", "Half of the raw baseline's maximum", raw_max)]
        if slowest:
            bases.append(("slowest", "Half of the slowest target's maximum "
                          f"({NAMES.get(slowest[0], slowest[0])}), a load every target carries",
                          slowest[1]))
        for basis, title, base in bases:
            if not base:
                continue
            rate = base["msgs_per_s"] / 2 / (1 + s["table_size"])
            for target, transport in [("raw", "tcp"), ("ggs-strict", "tcp"),
                                      ("ggs-relaxed", "tcp"), ("colyseus", "ws")]:
                if target == "colyseus" and not colyseus_ok:
                    continue
                r = run(target, transport, rate, f"fixed-{basis} {target} {transport}", s)
                if r:
                    r["fixed_basis"] = basis
                    r["fixed_title"] = title
                    res["runs"].append(r)

    # 3. Pong on ggs.
    if want("pong"):
        pong_args = ["--workload", "pong", "--players", str(s["pong_players"]),
                     "--table-size", "2", "--interval-ms", str(s["pong_interval_ms"]),
                     "--seconds", str(s["seconds"]), "--warmup", str(s["warmup"])]
        for target in ("ggs-strict", "ggs-relaxed"):
            r = run(target, "tcp", None, f"pong {target} tcp", s, pong_args)
            if r:
                res["runs"].append(r)

    # 4. Memory.
    if want("memory"):
        mem_args = ["--memory", "--players", str(s["memory_connections"]),
                    "--idle-tables", str(s["memory_tables"])]
        for target, transport in [("raw", "tcp"), ("ggs-strict", "tcp"), ("colyseus", "ws")]:
            if target == "colyseus" and not colyseus_ok:
                continue
            server = start(target)
            try:
                r = drive(server, target, transport, mem_args, f"memory {target}")
                r["server"] = target
                res["memory"].append(r)
            except MeasurementFailed as e:
                log(f"FAILED: {e}")
                FAILURES.append(str(e))
            finally:
                server.stop()

    # 5. Restart time with many tables on disk.
    if want("recovery") and s["recovery_tables"] > 0:
        try:
            res["recovery"] = recovery(s["recovery_tables"])
        except subprocess.CalledProcessError as e:
            log(f"FAILED: ggs-recovery: {e}")
            FAILURES.append(f"ggs-recovery: {e}")
    res["failures"] = FAILURES

    res["uptime_after"] = sh("uptime")
    res["elapsed_seconds"] = round(time.time() - began, 1)
    with open(results, "w") as f:
        json.dump(res, f, indent=2)
        f.write("\n")
    write_report(res, report)
    log(f"done in {res['elapsed_seconds']:.0f} s: wrote {report}")


if __name__ == "__main__":
    main()
