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
//! `--protocol 1.1` has the players speak GGS 1.1 (versions negotiated, every command numbered,
//! acknowledgements with each write and alone every `--ack-every` messages); `--protocol
//! compare` runs the same load with 1.0 and then 1.1 and prints the ratio of 1.1 to 1.0 in
//! messages/s and p99.
//!
//! Without `--addr` or `--ws` it starts its own `ggs` (with the per-connection limits raised;
//! with `--protocol compare`, one per protocol).
//! `--memory` measures resident memory per connection and per idle table instead of load;
//! with `--hibernate-after-ms`, per hibernated table, and the wake latency.

mod args;
mod clock;
mod hibernation;
mod load;
mod measure;
mod memory;
mod player;
mod report;
mod setup;
mod transport;

use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Parser;
use ggs_tests::{ServerOptions, ServerProcess};
use serde_json::Value;

use crate::args::{Args, Protocol, Transport, Workload};
use crate::clock::now_us;
use crate::transport::Target;

/// How long the runtime's tasks get to finish at the end.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(1);

fn main() -> Result<()> {
    let args = Args::parse();
    now_us();
    if args.players == 0 || args.table_size == 0 {
        bail!("--players and --table-size must be at least 1");
    }
    if args.workload == Workload::Pong && args.table_size < 2 && !args.memory {
        bail!("pong needs --table-size 2 or more");
    }
    if args.protocol == Protocol::Compare && args.memory {
        bail!("--protocol compare measures load, not --memory");
    }
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
    let protocols = match args.protocol {
        Protocol::Compare => [Protocol::V1_0, Protocol::V1_1].repeat(args.rounds.max(1)),
        p => vec![p],
    };
    let mut reports = Vec::new();
    for protocol in protocols {
        reports.push(run_once(&args, &runtime, protocol)?);
    }
    runtime.shutdown_timeout(SHUTDOWN_TIMEOUT);
    let report = match args.protocol {
        Protocol::Compare => report::comparison(&reports),
        _ => reports[0].clone(),
    };
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&report)? + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
    }
    for r in &reports {
        report::print_summary(r);
    }
    if args.protocol == Protocol::Compare {
        report::print_comparison(&report);
    }
    Ok(())
}

/// One measurement with the players speaking `protocol`, on a server of its own unless
/// `--addr` or `--ws` names one.
fn run_once(args: &Args, runtime: &tokio::runtime::Runtime, protocol: Protocol) -> Result<Value> {
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
            if let Some(ms) = args.hibernate_after_ms {
                extra.extend(
                    [
                        "--hibernate-after-ms",
                        &ms.to_string(),
                        "--seat-grace-ms",
                        "0",
                    ]
                    .map(String::from),
                );
            }
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
    let http = args.http.or(server.as_ref().map(|s| s.http_addr()));
    let result = if args.memory && args.hibernate_after_ms.is_some() {
        let pid = pid.context("--memory needs --server-pid")?;
        let http = http.context("--hibernate-after-ms needs --http (or a started server)")?;
        runtime.block_on(hibernation::run_hibernation(args, &target, pid, http))
    } else if args.memory {
        let pid = pid.context("--memory needs --server-pid")?;
        runtime.block_on(memory::run_memory(args, &target, pid))
    } else {
        runtime.block_on(load::run_load(args, &target, pid, protocol))
    };
    drop(server);
    result
}
