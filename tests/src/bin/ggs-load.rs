//! ggs-load: a load generator for GGS servers: N simulated players at tables of K, over GGS 1.0
//! TCP or the WebSocket JSON mapping, closed-loop or at a fixed offered rate; it reports
//! messages/s in and out, round-trip times, errors and the server's CPU and memory, with a live
//! progress line, and writes JSON.
//!
//! Workloads:
//! - `chat`: `games/chat.js`. Each player sends `message` commands; the script counts them in
//!   `GGS.world` (a storage write per command) and broadcasts `<nick>> <text>` to the table. A
//!   command is acknowledged when its sender gets its own broadcast back. The same load drives
//!   `ggs-raw` (the raw baseline), which broadcasts the arguments as they are.
//! - `pong`: `games/pong.js`. Two players per table are seated (the others watch), a game runs
//!   (20 ticks/s, each a `ball` message to everyone at the table; a finished game is restarted
//!   at once) and every player sends `up`/`down`; a paddle command is acknowledged by the
//!   sender's `player<seat>_y` broadcast (a spectator's by its `warning`).
//!
//! Messages are counted as the 2011 thesis did: every message a client sent (parsed by the
//! server) plus every message each client received, within the measured interval.
//!
//! Without `--addr` or `--ws` it starts its own `ggs` (with the per-connection limits raised).
//! `--memory` measures resident memory per connection and per idle table instead of load.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{Parser, ValueEnum};
use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use ggs_tests::wire::{encode_message_into, parse_reply, Hello, Reply};
use ggs_tests::{ServerOptions, ServerProcess};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{Notify, Semaphore};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

const CHAT_JS: &str = include_str!("../../../games/chat.js");
const PONG_JS: &str = include_str!("../../../games/pong.js");

/// How long setting up one connection (connect, hello, define) may take.
const SETUP_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Workload {
    /// Each command writes storage and is broadcast to the table (games/chat.js).
    Chat,
    /// Pong at 20 ticks/s with paddle commands (games/pong.js).
    Pong,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Transport {
    /// GGS 1.0 over TCP.
    Tcp,
    /// The WebSocket JSON mapping (`/ws` on the HTTP port).
    Ws,
}

#[derive(Parser, Debug)]
#[command(
    name = "ggs-load",
    about = "Load generator for GGS: messages/s, round-trip times, errors, server CPU and memory"
)]
struct Args {
    /// GGS 1.0 TCP address of a running server (ggs or ggs-raw).
    #[arg(long, conflicts_with = "ws")]
    addr: Option<SocketAddr>,
    /// WebSocket URL of a running ggs, e.g. ws://127.0.0.1:8080/ws.
    #[arg(long)]
    ws: Option<String>,
    /// Without --addr/--ws: the transport used to reach the ggs this tool starts.
    #[arg(long, value_enum, default_value_t = Transport::Tcp)]
    transport: Transport,
    /// Without --addr/--ws: the ggs binary to start [default: target/PROFILE/ggs].
    #[arg(long)]
    server_bin: Option<PathBuf>,
    /// Without --addr/--ws: `--durability` of the started ggs (strict or relaxed).
    #[arg(long, default_value = "strict")]
    durability: String,
    /// Without --addr/--ws: `--vm-threads` of the started ggs.
    #[arg(long)]
    vm_threads: Option<usize>,
    /// Without --addr/--ws: data directory of the started ggs [default: a temporary one].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// The server's process id, to sample its CPU (per thread) and memory; set automatically
    /// when this tool starts the server.
    #[arg(long)]
    server_pid: Option<u32>,
    /// What the players do.
    #[arg(long, value_enum, default_value_t = Workload::Chat)]
    workload: Workload,
    /// Simulated players (connections).
    #[arg(long, default_value_t = 100)]
    players: usize,
    /// Players per table (the last table may have fewer).
    #[arg(long, default_value_t = 4)]
    table_size: usize,
    /// Closed loop: commands each player keeps in flight [default: 1, when neither --rate nor
    /// --interval-ms is given].
    #[arg(long, conflicts_with_all = ["rate", "interval_ms"])]
    window: Option<usize>,
    /// Open loop: total commands per second offered, spread evenly over the players.
    #[arg(long, conflicts_with = "interval_ms")]
    rate: Option<f64>,
    /// Open loop: each player sends a command every this many milliseconds.
    #[arg(long)]
    interval_ms: Option<f64>,
    /// Seconds measured.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Seconds of load before measuring.
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Seconds to wait for outstanding replies after the measured interval.
    #[arg(long, default_value_t = 10.0)]
    drain: f64,
    /// Bytes of each chat command's text (at least the tag, about 12 bytes).
    #[arg(long, default_value_t = 32)]
    payload: usize,
    /// Worker threads of this tool's runtime (1: a single-threaded runtime).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Connections set up at the same time.
    #[arg(long, default_value_t = 32)]
    connect_parallel: usize,
    /// Write the results as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// A name for this run, copied into the JSON.
    #[arg(long, default_value = "")]
    label: String,
    /// No live progress line.
    #[arg(long)]
    quiet: bool,
    /// Measure memory instead of load: server RSS when idle, after --idle-tables tables with the
    /// chat script (their creators gone), after --players connections without a table, and
    /// after those connections joined the tables. Needs --server-pid (or a started server).
    #[arg(long)]
    memory: bool,
    /// With --memory: tables created.
    #[arg(long, default_value_t = 1000)]
    idle_tables: usize,
}

// ---------------------------------------------------------------------------------------------
// Connections: one type per transport, split into a read half and a write half.

/// What a client sends.
enum Out<'a> {
    Hello(Option<&'a str>),
    Define(&'a str),
    Command(&'a str, &'a str),
}

type Ws = WebSocketStream<TcpStream>;

enum Writer {
    Tcp(OwnedWriteHalf, Vec<u8>),
    Ws(SplitSink<Ws, Message>),
}

enum Reader {
    Tcp {
        half: OwnedReadHalf,
        buf: Vec<u8>,
        start: usize,
    },
    Ws(SplitStream<Ws>),
}

#[derive(Clone, Debug)]
enum Target {
    Tcp(SocketAddr),
    Ws(String),
}

impl Target {
    fn describe(&self) -> String {
        match self {
            Target::Tcp(a) => format!("tcp://{a}"),
            Target::Ws(u) => u.clone(),
        }
    }

    fn transport(&self) -> &'static str {
        match self {
            Target::Tcp(_) => "tcp",
            Target::Ws(_) => "ws",
        }
    }
}

async fn connect(target: &Target) -> Result<(Reader, Writer)> {
    match target {
        Target::Tcp(addr) => {
            let stream = TcpStream::connect(addr)
                .await
                .with_context(|| format!("connecting to {addr}"))?;
            stream.set_nodelay(true)?;
            let (r, w) = stream.into_split();
            Ok((
                Reader::Tcp {
                    half: r,
                    buf: Vec::with_capacity(16 * 1024),
                    start: 0,
                },
                Writer::Tcp(w, Vec::with_capacity(4096)),
            ))
        }
        Target::Ws(url) => {
            let uri: tokio_tungstenite::tungstenite::http::Uri = url.parse()?;
            let host = uri.host().context("a ws URL names a host")?;
            let port = uri.port_u16().unwrap_or(80);
            let stream = TcpStream::connect((host, port))
                .await
                .with_context(|| format!("connecting to {url}"))?;
            stream.set_nodelay(true)?;
            let (ws, _) = tokio_tungstenite::client_async(url.as_str(), stream)
                .await
                .with_context(|| format!("WebSocket handshake with {url}"))?;
            let (w, r) = ws.split();
            Ok((Reader::Ws(r), Writer::Ws(w)))
        }
    }
}

impl Writer {
    /// Sends messages in one write (TCP) or one flush (WebSocket).
    async fn send(&mut self, messages: &[Out<'_>]) -> Result<()> {
        match self {
            Writer::Tcp(half, buf) => {
                buf.clear();
                for m in messages {
                    match m {
                        Out::Hello(table) => encode_message_into(
                            &[("Server-Command", "hello")],
                            table.unwrap_or("").as_bytes(),
                            buf,
                        ),
                        Out::Define(source) => encode_message_into(
                            &[("Server-Command", "define")],
                            source.as_bytes(),
                            buf,
                        ),
                        Out::Command(cmd, args) => {
                            encode_message_into(&[("Game-Command", cmd)], args.as_bytes(), buf)
                        }
                    }
                }
                half.write_all(buf).await.context("writing")?;
            }
            Writer::Ws(sink) => {
                for m in messages {
                    let v = match m {
                        Out::Hello(None) => json!({"type": "hello"}),
                        Out::Hello(Some(t)) => json!({"type": "hello", "table": t}),
                        Out::Define(source) => json!({"type": "define", "source": source}),
                        Out::Command(cmd, args) => {
                            json!({"type": "command", "command": cmd, "args": args})
                        }
                    };
                    sink.feed(Message::text(v.to_string()))
                        .await
                        .context("writing")?;
                }
                sink.flush().await.context("writing")?;
            }
        }
        Ok(())
    }
}

impl Reader {
    /// The next reply; `None` when the server closed the connection.
    async fn next(&mut self) -> Result<Option<Reply>> {
        match self {
            Reader::Tcp { half, buf, start } => loop {
                if let Some((reply, used)) = parse_reply(&buf[*start..])? {
                    *start += used;
                    if *start == buf.len() {
                        buf.clear();
                        *start = 0;
                    }
                    return Ok(Some(reply));
                }
                if *start > 0 {
                    buf.drain(..*start);
                    *start = 0;
                }
                buf.reserve(32 * 1024);
                // read_buf is cancel-safe: a reply is only taken from the buffer once complete.
                if half.read_buf(buf).await.context("reading")? == 0 {
                    return Ok(None);
                }
            },
            Reader::Ws(stream) => loop {
                let Some(msg) = stream.next().await else {
                    return Ok(None);
                };
                let text = match msg.context("reading")? {
                    Message::Text(t) => t.to_string(),
                    Message::Binary(b) => String::from_utf8(b.to_vec())?,
                    Message::Close(_) => return Ok(None),
                    _ => continue,
                };
                let v: Value = serde_json::from_str(&text)
                    .with_context(|| format!("a WebSocket message that is not JSON: {text}"))?;
                let field = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
                let (Some(command), Some(body)) = (field("command"), field("body")) else {
                    bail!("a WebSocket message without command and body: {text}");
                };
                return Ok(Some(Reply { command, body }));
            },
        }
    }

    /// Reads until a reply with this command, skipping others (notices, joins); an `error`
    /// reply fails.
    async fn expect(&mut self, command: &str) -> Result<String> {
        let wait = async {
            loop {
                match self.next().await? {
                    None => bail!("the server closed the connection waiting for {command}"),
                    Some(r) if r.command == command => return Ok(r.body),
                    Some(r) if r.command == "error" => bail!("waiting for {command}: {r}"),
                    Some(_) => {}
                }
            }
        };
        tokio::time::timeout(SETUP_TIMEOUT, wait)
            .await
            .with_context(|| format!("no {command} within {SETUP_TIMEOUT:?}"))?
    }
}

// ---------------------------------------------------------------------------------------------
// The clock and the counters every player shares.

static T0: OnceLock<Instant> = OnceLock::new();

/// Microseconds since the start of the program.
fn now_us() -> u64 {
    T0.get_or_init(Instant::now).elapsed().as_micros() as u64
}

fn at_us(us: u64) -> tokio::time::Instant {
    (*T0.get_or_init(Instant::now) + Duration::from_micros(us)).into()
}

/// When the load runs, in microseconds of [`now_us`].
#[derive(Clone, Copy)]
struct Plan {
    start: u64,
    from: u64,
    to: u64,
    drain_until: u64,
}

impl Plan {
    fn measured(&self, t: u64) -> bool {
        t >= self.from && t < self.to
    }
}

#[derive(Default)]
struct Counters {
    /// Commands sent, inside the measured interval and in all.
    sent: AtomicU64,
    sent_total: AtomicU64,
    /// Replies received (any kind), inside the measured interval and in all.
    received: AtomicU64,
    received_total: AtomicU64,
    /// Own commands acknowledged, inside the measured interval and in all.
    acked: AtomicU64,
    acked_total: AtomicU64,
    /// Error replies and failures, in all.
    errors: AtomicU64,
    error_codes: Mutex<BTreeMap<String, u64>>,
    first_errors: Mutex<Vec<String>>,
    /// Connections closed by the server or failed during the run.
    disconnected: AtomicU64,
}

impl Counters {
    fn error(&self, code: &str, detail: String) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        *self
            .error_codes
            .lock()
            .expect("no panics holding the error codes")
            .entry(code.to_string())
            .or_default() += 1;
        let mut first = self.first_errors.lock().expect("no panics holding errors");
        if first.len() < 10 {
            first.push(detail);
        }
    }
}

/// What one player's reader and writer share.
struct PlayerShared {
    /// Sequence numbers and send times (µs) of the commands in flight, oldest first.
    in_flight: Mutex<VecDeque<(u64, u64)>>,
    /// Commands sent that expect an answer (an acknowledgement or an error).
    sent: AtomicU64,
    /// Closed loop: free places in the window.
    window: Semaphore,
    /// Pong, the player at seat 1: a game ended, send `start`.
    restart: Notify,
    /// The writer has stopped sending.
    writer_done: AtomicBool,
}

/// How a player sends.
#[derive(Clone, Copy, Debug)]
enum Mode {
    Closed { window: usize },
    Open { interval_us: f64 },
}

/// One player's part in the run.
struct Player {
    index: usize,
    /// Pong: the seat (1 or 2), 0 for a spectator.
    seat: usize,
    reader: Reader,
    writer: Writer,
}

// ---------------------------------------------------------------------------------------------
// Setting up tables.

/// Creates one table with `size` players; returns them in joining order.
async fn set_up_table(
    target: Target,
    workload: Workload,
    size: usize,
    first_index: usize,
) -> Result<Vec<Player>> {
    let script = match workload {
        Workload::Chat => CHAT_JS,
        Workload::Pong => PONG_JS,
    };
    let (mut r0, mut w0) = connect(&target).await?;
    w0.send(&[Out::Hello(None)]).await?;
    let hello = Hello::parse(&r0.expect("hello").await?)?;
    w0.send(&[Out::Define(script)]).await?;
    let defined = r0.expect("defined").await?;
    if defined != "ok" {
        bail!("define failed: {defined}");
    }
    let mut conns = vec![(r0, w0)];
    for _ in 1..size {
        let (mut r, mut w) = connect(&target).await?;
        w.send(&[Out::Hello(Some(&hello.table))]).await?;
        let joined = Hello::parse(&r.expect("hello").await?)?;
        if joined.table != hello.table {
            bail!("joined {joined:?}, expected table {}", hello.table);
        }
        conns.push((r, w));
    }
    let mut players = Vec::with_capacity(size);
    for (i, (reader, writer)) in conns.into_iter().enumerate() {
        players.push(Player {
            index: first_index + i,
            seat: 0,
            reader,
            writer,
        });
    }
    if workload == Workload::Pong {
        // The definer has no seat yet: `ready` gives it one if one is free.
        players[0].writer.send(&[Out::Command("ready", "")]).await?;
        // A barrier per player: everything before the answer to `sync` is setup; `welcome`
        // says the seat.
        for p in &mut players {
            p.writer.send(&[Out::Command("sync", "")]).await?;
            let wait = async {
                loop {
                    match p.reader.next().await? {
                        None => bail!("the server closed the connection during setup"),
                        Some(r) if r.command == "welcome" => p.seat = r.body.parse()?,
                        Some(r) if r.command == "warning" && r.body.ends_with("sync") => {
                            return Ok(())
                        }
                        Some(_) => {}
                    }
                }
            };
            tokio::time::timeout(SETUP_TIMEOUT, wait)
                .await
                .context("pong setup")??;
        }
        if !players.iter().any(|p| p.seat == 1) {
            bail!("pong: no player got seat 1");
        }
    }
    Ok(players)
}

/// Sets up all tables, `parallel` connections at a time.
async fn set_up(args: &Args, target: &Target) -> Result<Vec<Player>> {
    let sizes: Vec<usize> = (0..args.players)
        .step_by(args.table_size)
        .map(|first| args.table_size.min(args.players - first))
        .collect();
    let parallel = Arc::new(Semaphore::new(
        (args.connect_parallel / args.table_size).max(1),
    ));
    let mut tasks = Vec::new();
    let mut first = 0;
    for size in sizes {
        let (target, parallel, workload) = (target.clone(), parallel.clone(), args.workload);
        tasks.push(tokio::spawn(async move {
            let _permit = parallel.acquire_owned().await?;
            set_up_table(target, workload, size, first).await
        }));
        first += size;
    }
    let mut players = Vec::with_capacity(args.players);
    for t in tasks {
        players.extend(t.await??);
    }
    Ok(players)
}

// ---------------------------------------------------------------------------------------------
// The load.

/// The chat text of a command: `#<player>:<seq>` padded to the payload size.
fn chat_args(player: usize, seq: u64, payload: usize) -> String {
    let mut s = format!("#{player}:{seq}");
    while s.len() < payload {
        s.push('.');
    }
    s
}

/// The writer half of a player: sends commands as the mode says until the plan's end.
#[allow(clippy::too_many_arguments)]
async fn write_loop(
    mut writer: Writer,
    index: usize,
    seat: usize,
    workload: Workload,
    mode: Mode,
    phase: f64,
    plan: Plan,
    payload: usize,
    shared: Arc<PlayerShared>,
    counters: Arc<Counters>,
) -> Result<Writer> {
    let mut seq = 0u64;
    let mut next_send = plan.start as f64 + phase;
    let mut args_buf: Vec<String> = Vec::new();
    let end = at_us(plan.to);
    // Seat 1 starts the first game.
    let mut restart_game = workload == Workload::Pong && seat == 1;
    loop {
        if restart_game {
            restart_game = false;
            writer.send(&[Out::Command("start", "")]).await?;
            let t = now_us();
            counters.sent_total.fetch_add(1, Ordering::Relaxed);
            if plan.measured(t) {
                counters.sent.fetch_add(1, Ordering::Relaxed);
            }
        }
        // Wait until commands may go: a free place in the window, or the next send time.
        let mut times: Vec<u64> = Vec::new();
        match mode {
            Mode::Closed { .. } => {
                tokio::select! {
                    permit = shared.window.acquire() => {
                        permit?.forget();
                        let mut n = 1;
                        while let Ok(p) = shared.window.try_acquire() {
                            p.forget();
                            n += 1;
                        }
                        let t = now_us();
                        times.resize(n, t);
                    }
                    _ = shared.restart.notified() => { restart_game = true; continue; }
                    _ = tokio::time::sleep_until(end) => {}
                }
            }
            Mode::Open { interval_us } => {
                tokio::select! {
                    _ = tokio::time::sleep_until(at_us(next_send as u64)) => {
                        let now = now_us() as f64;
                        // Catch up on every send time that has passed (at most 1000 at once):
                        // latencies count from when a command should have gone.
                        while next_send <= now && times.len() < 1000 {
                            times.push(next_send as u64);
                            next_send += interval_us;
                        }
                    }
                    _ = shared.restart.notified() => { restart_game = true; continue; }
                    _ = tokio::time::sleep_until(end) => {}
                }
            }
        }
        let now = now_us();
        if now >= plan.to {
            break;
        }
        if times.is_empty() {
            continue;
        }
        args_buf.clear();
        for _ in &times {
            seq += 1;
            args_buf.push(match workload {
                Workload::Chat => chat_args(index, seq, payload),
                Workload::Pong => String::new(),
            });
        }
        let msgs: Vec<Out> = args_buf
            .iter()
            .enumerate()
            .map(|(i, a)| match workload {
                Workload::Chat => Out::Command("message", a),
                Workload::Pong => Out::Command(
                    if (seq as usize + i) & 1 == 0 {
                        "up"
                    } else {
                        "down"
                    },
                    a,
                ),
            })
            .collect();
        {
            let mut q = shared
                .in_flight
                .lock()
                .expect("no panics holding in_flight");
            let first = seq + 1 - times.len() as u64;
            q.extend(
                times
                    .iter()
                    .enumerate()
                    .map(|(i, &t)| (first + i as u64, t)),
            );
        }
        let n = times.len() as u64;
        shared.sent.fetch_add(n, Ordering::Release);
        counters.sent_total.fetch_add(n, Ordering::Relaxed);
        if plan.measured(now) {
            counters.sent.fetch_add(n, Ordering::Relaxed);
        }
        writer.send(&msgs).await?;
    }
    shared.writer_done.store(true, Ordering::Release);
    Ok(writer)
}

/// What one player's reader measured.
#[derive(Default)]
struct ReadStats {
    rtt_us: Vec<u32>,
    unanswered: u64,
}

/// The reader half of a player: matches acknowledgements to commands in flight.
///
/// A chat acknowledgement carries its sequence number, so it is matched by it: commands before
/// it still in flight failed (their `error` replies may come before or after it: ggs answers
/// `overloaded` at once, ahead of replies still in the table's pipeline). Pong's acknowledgements
/// carry nothing and are matched in order. Every answer, acknowledgement or error, frees a place
/// in the window.
#[allow(clippy::too_many_arguments)]
async fn read_loop(
    mut reader: Reader,
    index: usize,
    seat: usize,
    workload: Workload,
    mode: Mode,
    plan: Plan,
    shared: Arc<PlayerShared>,
    counters: Arc<Counters>,
) -> ReadStats {
    let mut stats = ReadStats::default();
    let tag = format!("#{index}:");
    let my_paddle = format!("player{seat}_y");
    let (mut acked, mut failed) = (0u64, 0u64);
    let drain_until = at_us(plan.drain_until);
    loop {
        if shared.writer_done.load(Ordering::Acquire)
            && acked + failed >= shared.sent.load(Ordering::Acquire)
        {
            break;
        }
        let now = tokio::time::Instant::now();
        if now >= drain_until {
            break;
        }
        // Wake up at the end of the measured interval, then now and then, to notice the end.
        let wait = if now < at_us(plan.to) {
            at_us(plan.to)
        } else {
            std::cmp::min(drain_until, now + Duration::from_millis(50))
        };
        let reply = match tokio::time::timeout_at(wait, reader.next()).await {
            Ok(r) => r,
            Err(_) => continue,
        };
        let reply = match reply {
            Ok(Some(r)) => r,
            Ok(None) => {
                counters.disconnected.fetch_add(1, Ordering::Relaxed);
                counters.error(
                    "disconnected",
                    format!("player {index}: the server closed the connection"),
                );
                break;
            }
            Err(e) => {
                counters.disconnected.fetch_add(1, Ordering::Relaxed);
                counters.error("read_error", format!("player {index}: {e:#}"));
                break;
            }
        };
        let now = now_us();
        counters.received_total.fetch_add(1, Ordering::Relaxed);
        if plan.measured(now) {
            counters.received.fetch_add(1, Ordering::Relaxed);
        }
        // The send time of the command this reply acknowledges, if it is an acknowledgement.
        let sent_at = match workload {
            Workload::Chat if reply.command == "message" => {
                let seq = reply.body.rfind(&tag).and_then(|at| {
                    let rest = &reply.body[at + tag.len()..];
                    rest.split('.').next().unwrap_or("").parse::<u64>().ok()
                });
                match seq {
                    None => None,
                    Some(seq) => {
                        let mut q = shared
                            .in_flight
                            .lock()
                            .expect("no panics holding in_flight");
                        while q.front().is_some_and(|&(s, _)| s < seq) {
                            q.pop_front();
                        }
                        match q.front() {
                            Some(&(s, t)) if s == seq => {
                                q.pop_front();
                                Some(t)
                            }
                            _ => {
                                drop(q);
                                counters.error(
                                    "out_of_order",
                                    format!("player {index}: {seq} acknowledged twice or late"),
                                );
                                None
                            }
                        }
                    }
                }
            }
            Workload::Chat => None,
            Workload::Pong => {
                if reply.command == "winner" && seat == 1 {
                    shared.restart.notify_one();
                }
                let ack = if seat == 0 {
                    reply.command == "warning"
                } else {
                    reply.command == my_paddle
                };
                let mut q = shared
                    .in_flight
                    .lock()
                    .expect("no panics holding in_flight");
                match q.pop_front() {
                    Some((_, t)) if ack => Some(t),
                    Some(entry) => {
                        q.push_front(entry);
                        None
                    }
                    None if ack => {
                        drop(q);
                        counters.error(
                            "unexpected_ack",
                            format!("player {index}: {reply} with nothing in flight"),
                        );
                        None
                    }
                    None => None,
                }
            }
        };
        let answered = if let Some(sent) = sent_at {
            acked += 1;
            counters.acked_total.fetch_add(1, Ordering::Relaxed);
            if plan.measured(now) {
                counters.acked.fetch_add(1, Ordering::Relaxed);
                stats
                    .rtt_us
                    .push(u32::try_from(now.saturating_sub(sent)).unwrap_or(u32::MAX));
            }
            true
        } else if reply.command == "error" {
            failed += 1;
            let code = reply.body.split(' ').next().unwrap_or("").to_string();
            counters.error(&code, format!("player {index}: error {}", reply.body));
            if workload == Workload::Pong {
                shared
                    .in_flight
                    .lock()
                    .expect("no panics holding in_flight")
                    .pop_front();
            }
            true
        } else {
            false
        };
        if answered {
            if let Mode::Closed { .. } = mode {
                shared.window.add_permits(1);
            }
        }
    }
    stats.unanswered = shared
        .sent
        .load(Ordering::Acquire)
        .saturating_sub(acked + failed);
    stats
}

// ---------------------------------------------------------------------------------------------
// The server process: CPU per thread and memory, from /proc (Linux).

fn clock_ticks() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(hz).ok().filter(|&h| h > 0).unwrap_or(100)
}

/// (name, utime + stime in ticks) from a /proc stat file.
fn stat_cpu(path: &str) -> Option<(String, u64)> {
    let stat = std::fs::read_to_string(path).ok()?;
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let name = stat[open + 1..close].to_string();
    let fields: Vec<&str> = stat[close + 2..].split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some((name, ticks))
}

/// CPU ticks of the whole process and of each thread (by thread id).
struct CpuSample {
    process: u64,
    threads: HashMap<String, (String, u64)>,
}

fn sample_cpu(pid: u32) -> Option<CpuSample> {
    let (_, process) = stat_cpu(&format!("/proc/{pid}/stat"))?;
    let mut threads = HashMap::new();
    if let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for e in dir.flatten() {
            let tid = e.file_name().to_string_lossy().to_string();
            if let Some(s) = stat_cpu(&format!("/proc/{pid}/task/{tid}/stat")) {
                threads.insert(tid, s);
            }
        }
    }
    Some(CpuSample { process, threads })
}

/// The server's CPU over an interval, in % of one core, total and per thread name.
fn cpu_between(a: &CpuSample, b: &CpuSample, seconds: f64) -> (f64, BTreeMap<String, f64>) {
    let hz = clock_ticks() as f64;
    let pct = |ticks: u64| 100.0 * ticks as f64 / hz / seconds;
    let mut per_name: BTreeMap<String, f64> = BTreeMap::new();
    for (tid, (name, ticks)) in &b.threads {
        let before = a.threads.get(tid).map_or(0, |(_, t)| *t);
        *per_name.entry(name.clone()).or_default() += pct(ticks.saturating_sub(before));
    }
    per_name.retain(|_, v| *v >= 0.5);
    for v in per_name.values_mut() {
        *v = round(*v, 1);
    }
    (pct(b.process.saturating_sub(a.process)), per_name)
}

/// CPU ticks the whole machine spent busy (user, nice, system, irq, softirq, steal), from
/// /proc/stat.
fn machine_busy() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?.strip_prefix("cpu ")?;
    let f: Vec<u64> = line
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    // user nice system idle iowait irq softirq steal
    Some(f.first()? + f.get(1)? + f.get(2)? + f.get(5)? + f.get(6)? + f.get(7)?)
}

/// VmRSS of a process in KiB.
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// CPU time of this process.
fn own_cpu() -> Duration {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes a rusage into the pointer it is given, which is valid.
    let usage = unsafe {
        libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr());
        usage.assume_init()
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

fn percentile_ms(sorted: &[u32], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((sorted.len() as f64) * q).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1] as f64 / 1000.0)
}

fn round(x: f64, digits: i32) -> f64 {
    let m = 10f64.powi(digits);
    (x * m).round() / m
}

// ---------------------------------------------------------------------------------------------
// A load run.

async fn run_load(args: &Args, target: &Target, server_pid: Option<u32>) -> Result<Value> {
    let mode = match (args.window, args.rate, args.interval_ms) {
        (Some(w), _, _) => Mode::Closed { window: w.max(1) },
        (None, Some(rate), _) => Mode::Open {
            interval_us: args.players as f64 / rate * 1e6,
        },
        (None, None, Some(ms)) => Mode::Open {
            interval_us: ms * 1000.0,
        },
        (None, None, None) => Mode::Closed { window: 1 },
    };
    let set_up_began = Instant::now();
    let players = set_up(args, target).await?;
    let setup_seconds = set_up_began.elapsed().as_secs_f64();
    let tables = args.players.div_ceil(args.table_size);
    if !args.quiet {
        eprintln!(
            "ggs-load: {} players at {tables} tables of {} on {} set up in {setup_seconds:.1} s; {mode:?}",
            args.players,
            args.table_size,
            target.describe()
        );
    }
    let start = now_us() + 50_000;
    let from = start + (args.warmup * 1e6) as u64;
    let to = from + (args.seconds * 1e6) as u64;
    let plan = Plan {
        start,
        from,
        to,
        drain_until: to + (args.drain * 1e6) as u64,
    };
    let counters = Arc::new(Counters::default());
    let n = players.len();
    let mut readers = Vec::with_capacity(n);
    let mut writers = Vec::with_capacity(n);
    for p in players {
        let window = match mode {
            Mode::Closed { window } => window,
            Mode::Open { .. } => 0,
        };
        let shared = Arc::new(PlayerShared {
            in_flight: Mutex::new(VecDeque::new()),
            sent: AtomicU64::new(0),
            window: Semaphore::new(window),
            restart: Notify::new(),
            writer_done: AtomicBool::new(false),
        });
        let phase = match mode {
            Mode::Open { interval_us } => interval_us * p.index as f64 / n as f64,
            Mode::Closed { .. } => 0.0,
        };
        readers.push(tokio::spawn(read_loop(
            p.reader,
            p.index,
            p.seat,
            args.workload,
            mode,
            plan,
            shared.clone(),
            counters.clone(),
        )));
        writers.push(tokio::spawn(write_loop(
            p.writer,
            p.index,
            p.seat,
            args.workload,
            mode,
            phase,
            plan,
            args.payload,
            shared,
            counters.clone(),
        )));
    }

    // Live progress, and samples of CPU at the edges of the measured interval.
    let done = Arc::new(AtomicBool::new(false));
    let progress = if args.quiet {
        None
    } else {
        let (counters, done) = (counters.clone(), done.clone());
        Some(tokio::spawn(async move {
            let tty = std::io::stderr().is_terminal();
            let mut last = (0, 0, now_us());
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.tick().await;
            while !done.load(Ordering::Relaxed) {
                tick.tick().await;
                let t = now_us();
                let sent = counters.sent_total.load(Ordering::Relaxed);
                let recv = counters.received_total.load(Ordering::Relaxed);
                let acked = counters.acked_total.load(Ordering::Relaxed);
                let dt = (t - last.2) as f64 / 1e6;
                let phase = if t < plan.from {
                    "warm-up"
                } else if t < plan.to {
                    "measure"
                } else {
                    "drain"
                };
                let line = format!(
                    "[{:6.1}s {phase}] in {:>8.0}/s  out {:>8.0}/s  in flight {:>6}  errors {}",
                    t.saturating_sub(plan.start) as f64 / 1e6,
                    (sent - last.0) as f64 / dt,
                    (recv - last.1) as f64 / dt,
                    sent.saturating_sub(acked),
                    counters.errors.load(Ordering::Relaxed)
                );
                if tty {
                    eprint!("\r{line}   ");
                } else {
                    eprintln!("{line}");
                }
                last = (sent, recv, t);
            }
            if tty {
                eprintln!();
            }
        }))
    };
    tokio::time::sleep_until(at_us(plan.from)).await;
    let cpu_from = (server_pid.and_then(sample_cpu), own_cpu(), machine_busy());
    tokio::time::sleep_until(at_us(plan.to)).await;
    let cpu_to = (server_pid.and_then(sample_cpu), own_cpu(), machine_busy());
    let rss_under_load = server_pid.and_then(rss_kib);

    let mut write_failures = 0;
    let mut kept_writers = Vec::new();
    for w in writers {
        match w.await? {
            Ok(w) => kept_writers.push(w),
            Err(e) => {
                write_failures += 1;
                counters.error("write_error", format!("{e:#}"));
            }
        }
    }
    let mut rtt = Vec::new();
    let mut unanswered = 0;
    for r in readers {
        let s = r.await?;
        rtt.extend(s.rtt_us);
        unanswered += s.unanswered;
    }
    done.store(true, Ordering::Relaxed);
    if let Some(p) = progress {
        let _ = p.await;
    }
    drop(kept_writers);
    rtt.sort_unstable();

    let seconds = args.seconds;
    let sent = counters.sent.load(Ordering::Relaxed);
    let received = counters.received.load(Ordering::Relaxed);
    let acked = counters.acked.load(Ordering::Relaxed);
    let (server_cpu, server_threads) = match (&cpu_from.0, &cpu_to.0) {
        (Some(a), Some(b)) => {
            let (total, threads) = cpu_between(a, b, seconds);
            (Some(round(total, 1)), Some(threads))
        }
        _ => (None, None),
    };
    let loadgen_cpu = 100.0 * cpu_to.1.saturating_sub(cpu_from.1).as_secs_f64() / seconds;
    let machine_cpu = match (cpu_from.2, cpu_to.2) {
        (Some(a), Some(b)) => {
            Some(100.0 * b.saturating_sub(a) as f64 / clock_ticks() as f64 / seconds)
        }
        _ => None,
    };
    // What the rest of the machine used meanwhile: other processes (and kernel work not
    // charged to either process).
    let other_cpu =
        machine_cpu.map(|m| round((m - loadgen_cpu - server_cpu.unwrap_or(0.0)).max(0.0), 1));
    let mean = if rtt.is_empty() {
        None
    } else {
        Some(rtt.iter().map(|&x| x as f64).sum::<f64>() / rtt.len() as f64 / 1000.0)
    };
    let (mode_name, window, offered) = match mode {
        Mode::Closed { window } => ("closed", Some(window), None),
        Mode::Open { interval_us } => ("open", None, Some(n as f64 * 1e6 / interval_us)),
    };
    let _ = write_failures;
    let errors = counters.errors.load(Ordering::Relaxed);
    let codes = counters
        .error_codes
        .lock()
        .expect("no panics holding the error codes")
        .clone();
    let first_errors = counters
        .first_errors
        .lock()
        .expect("no panics holding errors")
        .clone();
    Ok(json!({
        "tool": "ggs-load",
        "label": args.label,
        "target": target.describe(),
        "transport": target.transport(),
        "workload": format!("{:?}", args.workload).to_lowercase(),
        "players": n,
        "table_size": args.table_size,
        "tables": tables,
        "mode": mode_name,
        "window": window,
        "offered_commands_per_s": offered.map(|x| round(x, 1)),
        "payload_bytes": args.payload,
        "seconds": seconds,
        "warmup_seconds": args.warmup,
        "setup_seconds": round(setup_seconds, 2),
        "commands_sent": sent,
        "replies_received": received,
        "acked": acked,
        "msgs_in_per_s": round(sent as f64 / seconds, 1),
        "msgs_out_per_s": round(received as f64 / seconds, 1),
        "msgs_per_s": round((sent + received) as f64 / seconds, 1),
        "acked_per_s": round(acked as f64 / seconds, 1),
        "rtt_ms": {
            "samples": rtt.len(),
            "mean": mean.map(|x| round(x, 3)),
            "p50": percentile_ms(&rtt, 0.5),
            "p90": percentile_ms(&rtt, 0.9),
            "p99": percentile_ms(&rtt, 0.99),
            "p999": percentile_ms(&rtt, 0.999),
            "max": percentile_ms(&rtt, 1.0),
        },
        "errors": errors,
        "error_codes": codes,
        "first_errors": first_errors,
        "disconnected": counters.disconnected.load(Ordering::Relaxed),
        "unanswered": unanswered,
        "server_pid": server_pid,
        "server_cpu_pct": server_cpu,
        "server_threads_cpu_pct": server_threads,
        "server_rss_kib": rss_under_load,
        "loadgen_cpu_pct": round(loadgen_cpu, 1),
        "loadgen_threads": args.threads,
        "machine_cpu_pct": machine_cpu.map(|x| round(x, 1)),
        "other_cpu_pct": other_cpu,
    }))
}

// ---------------------------------------------------------------------------------------------
// The memory probe.

async fn settle_rss(pid: u32) -> Result<u64> {
    tokio::time::sleep(Duration::from_millis(1500)).await;
    rss_kib(pid).context("reading the server's VmRSS")
}

async fn run_memory(args: &Args, target: &Target, pid: u32) -> Result<Value> {
    let idle = settle_rss(pid).await?;
    if !args.quiet {
        eprintln!("ggs-load memory: idle RSS {idle} KiB");
    }
    // Tables: created `per_conn` at a time by connections that then close.
    let per_conn = 50;
    let parallel = Arc::new(Semaphore::new(args.connect_parallel.max(1)));
    let mut tasks = Vec::new();
    for first in (0..args.idle_tables).step_by(per_conn) {
        let count = per_conn.min(args.idle_tables - first);
        let (target, parallel) = (target.clone(), parallel.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = parallel.acquire_owned().await?;
            let (mut r, mut w) = connect(&target).await?;
            let mut ids = Vec::with_capacity(count);
            for _ in 0..count {
                w.send(&[Out::Hello(None), Out::Define(CHAT_JS)]).await?;
                let hello = Hello::parse(&r.expect("hello").await?)?;
                let defined = r.expect("defined").await?;
                if defined != "ok" {
                    bail!("define failed: {defined}");
                }
                ids.push(hello.table);
            }
            anyhow::Ok(ids)
        }));
    }
    let mut tables = Vec::new();
    for t in tasks {
        tables.extend(t.await??);
    }
    let with_tables = settle_rss(pid).await?;
    if !args.quiet {
        eprintln!(
            "ggs-load memory: {} tables, RSS {with_tables} KiB",
            tables.len()
        );
    }
    // Connections: first only connected, then each seated at a table.
    let mut conns = Vec::with_capacity(args.players);
    for _ in 0..args.players {
        conns.push(connect(target).await?);
    }
    let connected = settle_rss(pid).await?;
    if !args.quiet {
        eprintln!(
            "ggs-load memory: {} connections, RSS {connected} KiB",
            conns.len()
        );
    }
    let mut seated = 0;
    for chunk in conns.chunks_mut(args.connect_parallel.max(1)) {
        let mut waits = Vec::new();
        for (i, (r, w)) in chunk.iter_mut().enumerate() {
            let table = tables[(seated + i) % tables.len().max(1)].clone();
            waits.push(async move {
                w.send(&[Out::Hello(Some(&table))]).await?;
                r.expect("hello").await
            });
        }
        for res in futures::future::join_all(waits).await {
            res?;
        }
        seated += chunk.len();
    }
    let with_players = settle_rss(pid).await?;
    if !args.quiet {
        eprintln!("ggs-load memory: {seated} players seated, RSS {with_players} KiB");
    }
    drop(conns);
    let per = |a: u64, b: u64, n: usize| {
        if n == 0 {
            None
        } else {
            Some(round((b as f64 - a as f64) / n as f64, 2))
        }
    };
    Ok(json!({
        "tool": "ggs-load",
        "label": args.label,
        "target": target.describe(),
        "transport": target.transport(),
        "memory": true,
        "server_pid": pid,
        "rss_idle_kib": idle,
        "idle_tables": tables.len(),
        "rss_with_tables_kib": with_tables,
        "connections": args.players,
        "rss_with_connections_kib": connected,
        "rss_with_seated_players_kib": with_players,
        "kib_per_idle_table": per(idle, with_tables, tables.len()),
        "kib_per_connection": per(with_tables, connected, args.players),
        "kib_per_seated_connection": per(with_tables, with_players, args.players),
        "kib_per_seat": per(connected, with_players, args.players),
    }))
}

// ---------------------------------------------------------------------------------------------

fn main() -> Result<()> {
    let args = Args::parse();
    now_us();
    if args.players == 0 || args.table_size == 0 {
        bail!("--players and --table-size must be at least 1");
    }
    if args.workload == Workload::Pong && args.table_size < 2 && !args.memory {
        bail!("pong needs --table-size 2 or more");
    }
    let server = match (&args.addr, &args.ws) {
        (None, None) => {
            let mut extra: Vec<String> = [
                "--messages-per-second",
                "1000000",
                "--max-connections",
                "1000000",
                "--max-connections-per-ip",
                "1000000",
                "--tables-per-connection",
                "1000000",
                "--durability",
                args.durability.as_str(),
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
            if let Some(n) = args.vm_threads {
                extra.extend(["--vm-threads".to_string(), n.to_string()]);
            }
            Some(ServerProcess::start_with(ServerOptions {
                bin: args.server_bin.clone(),
                data_dir: args.data_dir.clone(),
                log_level: Some("warn".into()),
                args: extra,
                ..ServerOptions::default()
            }))
        }
        _ => None,
    };
    let target = match (&server, &args.addr, &args.ws) {
        (Some(s), _, _) => match args.transport {
            Transport::Tcp => Target::Tcp(s.tcp_addr()),
            Transport::Ws => Target::Ws(format!("ws://{}/ws", s.http_addr())),
        },
        (None, Some(a), _) => Target::Tcp(*a),
        (None, None, Some(u)) => Target::Ws(u.clone()),
        (None, None, None) => unreachable!("a server is started without --addr or --ws"),
    };
    let pid = args.server_pid.or(server.as_ref().and_then(|s| s.pid()));
    let runtime = if args.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.threads)
            .enable_all()
            .build()?
    };
    let result = if args.memory {
        let pid = pid.context("--memory needs --server-pid")?;
        runtime.block_on(run_memory(&args, &target, pid))
    } else {
        runtime.block_on(run_load(&args, &target, pid))
    };
    runtime.shutdown_timeout(Duration::from_secs(1));
    drop(server);
    let report = result?;
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&report)? + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
    }
    print_summary(&report);
    Ok(())
}

fn print_summary(r: &Value) {
    let f = |k: &str| r.get(k).and_then(Value::as_f64).unwrap_or(f64::NAN);
    if r.get("memory").is_some() {
        println!(
            "ggs-load memory {}: idle {} KiB; {:.1} KiB per idle table; {:.1} KiB per connection; \
             {:.1} KiB per seated connection",
            r["target"].as_str().unwrap_or(""),
            r["rss_idle_kib"],
            f("kib_per_idle_table"),
            f("kib_per_connection"),
            f("kib_per_seated_connection"),
        );
        return;
    }
    let rtt = &r["rtt_ms"];
    let ms = |k: &str| {
        rtt.get(k)
            .and_then(Value::as_f64)
            .map_or("-".to_string(), |v| format!("{v:.2}"))
    };
    println!(
        "ggs-load {} {} on {}: {} players, tables of {}, {} {}",
        r["label"].as_str().unwrap_or(""),
        r["workload"].as_str().unwrap_or(""),
        r["target"].as_str().unwrap_or(""),
        r["players"],
        r["table_size"],
        r["mode"].as_str().unwrap_or(""),
        match r["mode"].as_str() {
            Some("open") => format!("at {:.0} commands/s offered", f("offered_commands_per_s")),
            _ => format!("window {}", r["window"]),
        }
    );
    println!(
        "  messages/s in {:.0} + out {:.0} = {:.0}; acknowledged commands/s {:.0}",
        f("msgs_in_per_s"),
        f("msgs_out_per_s"),
        f("msgs_per_s"),
        f("acked_per_s")
    );
    println!(
        "  RTT ms: p50 {} p90 {} p99 {} p99.9 {} max {} ({} samples)",
        ms("p50"),
        ms("p90"),
        ms("p99"),
        ms("p999"),
        ms("max"),
        rtt["samples"]
    );
    println!(
        "  errors {} {}; unanswered {}; server CPU {}% (threads {}); RSS {} KiB; load generator CPU {}%; rest of the machine {}%",
        r["errors"],
        r["error_codes"],
        r["unanswered"],
        r["server_cpu_pct"],
        r["server_threads_cpu_pct"],
        r["server_rss_kib"],
        r["loadgen_cpu_pct"],
        r["other_cpu_pct"]
    );
}
