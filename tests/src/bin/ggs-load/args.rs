//! The command line of ggs-load.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, ValueEnum};

/// What the players do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Workload {
    /// Each command writes storage and is broadcast to the table (games/chat.js).
    Chat,
    /// Pong at 20 ticks/s with paddle commands (games/pong.js).
    Pong,
}

/// How the players reach a started server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Transport {
    /// GGS 1.0 over TCP.
    Tcp,
    /// The WebSocket JSON mapping (`/ws` on the HTTP port).
    Ws,
}

/// The protocol version the players speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Protocol {
    /// GGS 1.0 (no version offered).
    #[value(name = "1.0")]
    V1_0,
    /// GGS 1.1: versions offered on `hello`, every command numbered (`Seq`), acknowledgements
    /// (`Ack`) with each write of commands and alone every `--ack-every` messages.
    #[value(name = "1.1")]
    V1_1,
    /// Both, one after the other, each on a freshly started server (or the same `--addr`):
    /// 1.0, then 1.1, and the ratio of 1.1 to 1.0 in messages/s and p99.
    #[value(name = "compare")]
    Compare,
}

impl Protocol {
    /// Its name in the report.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::V1_0 => "1.0",
            Protocol::V1_1 => "1.1",
            Protocol::Compare => "compare",
        }
    }
}

#[derive(Parser, Debug)]
#[command(
    name = "ggs-load",
    about = "Load generator for GGS: messages/s, round-trip times, errors, server CPU and memory"
)]
pub struct Args {
    /// GGS 1.0 TCP address of a running server (ggs or ggs-raw).
    #[arg(long, conflicts_with = "ws")]
    pub addr: Option<SocketAddr>,
    /// WebSocket URL of a running ggs, e.g. ws://127.0.0.1:8080/ws.
    #[arg(long)]
    pub ws: Option<String>,
    /// Without --addr/--ws: the transport used to reach the ggs this tool starts.
    #[arg(long, value_enum, default_value_t = Transport::Tcp)]
    pub transport: Transport,
    /// Without --addr/--ws: the ggs binary to start [default: target/PROFILE/ggs].
    #[arg(long)]
    pub server_bin: Option<PathBuf>,
    /// Without --addr/--ws: `--durability` of the started ggs (strict or relaxed).
    #[arg(long, default_value = "strict")]
    pub durability: String,
    /// Without --addr/--ws: `--vm-threads` of the started ggs.
    #[arg(long)]
    pub vm_threads: Option<usize>,
    /// Without --addr/--ws: data directory of the started ggs [default: a temporary one].
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// The server's process id, to sample its CPU (per thread) and memory; set automatically
    /// when this tool starts the server.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// The protocol version the players speak: 1.0, 1.1, or compare (both, and their ratio).
    #[arg(long, value_enum, default_value_t = Protocol::V1_0)]
    pub protocol: Protocol,
    /// With --protocol compare: rounds of (1.0, 1.1), interleaved; the medians are compared.
    #[arg(long, default_value_t = 1)]
    pub rounds: usize,
    /// GGS 1.1: a player acknowledges alone after this many messages received without a write
    /// of commands carrying the acknowledgement.
    #[arg(long, default_value_t = 100)]
    pub ack_every: u64,
    /// What the players do.
    #[arg(long, value_enum, default_value_t = Workload::Chat)]
    pub workload: Workload,
    /// Simulated players (connections).
    #[arg(long, default_value_t = 100)]
    pub players: usize,
    /// Players per table (the last table may have fewer).
    #[arg(long, default_value_t = 4)]
    pub table_size: usize,
    /// Closed loop: commands each player keeps in flight [default: 1, when neither --rate nor
    /// --interval-ms is given].
    #[arg(long, conflicts_with_all = ["rate", "interval_ms"])]
    pub window: Option<usize>,
    /// Open loop: total commands per second offered, spread evenly over the players.
    #[arg(long, conflicts_with = "interval_ms")]
    pub rate: Option<f64>,
    /// Open loop: each player sends a command every this many milliseconds.
    #[arg(long)]
    pub interval_ms: Option<f64>,
    /// Seconds measured.
    #[arg(long, default_value_t = 10.0)]
    pub seconds: f64,
    /// Seconds of load before measuring.
    #[arg(long, default_value_t = 2.0)]
    pub warmup: f64,
    /// Seconds to wait for outstanding replies after the measured interval.
    #[arg(long, default_value_t = 10.0)]
    pub drain: f64,
    /// Bytes of each chat command's text (at least the tag, about 12 bytes).
    #[arg(long, default_value_t = 32)]
    pub payload: usize,
    /// Worker threads of this tool's runtime (1: a single-threaded runtime).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Connections set up at the same time.
    #[arg(long, default_value_t = 32)]
    pub connect_parallel: usize,
    /// Write the results as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// A name for this run, copied into the JSON.
    #[arg(long, default_value = "")]
    pub label: String,
    /// No live progress line.
    #[arg(long)]
    pub quiet: bool,
    /// Measure memory instead of load: server RSS when idle, after --idle-tables tables with the
    /// chat script (their creators gone), after --players connections without a table, and
    /// after those connections joined the tables. Needs --server-pid (or a started server).
    #[arg(long)]
    pub memory: bool,
    /// With --memory: tables created.
    #[arg(long, default_value_t = 1000)]
    pub idle_tables: usize,
    /// With --memory: measure hibernation instead: the started ggs gets this
    /// `--hibernate-after-ms` (and no seat grace); RSS with --idle-tables hibernated tables,
    /// then with --players players seated at hibernated tables, and the wake latency of a
    /// `hello` and of a command on a hibernated table against a command on an awake one.
    #[arg(long, requires = "memory")]
    pub hibernate_after_ms: Option<u64>,
    /// The HTTP address of a running ggs (for its /metrics); set automatically when this tool
    /// starts the server.
    #[arg(long)]
    pub http: Option<SocketAddr>,
}
