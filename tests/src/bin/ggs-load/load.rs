//! A load run: set up the tables, start every player's reader and writer, sample the CPU at the
//! edges of the measured interval, show live progress, and gather the report.

use std::collections::VecDeque;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Result;
use ggs_tests::procstat::{clock_ticks, machine_busy, rss_kib, sample_cpu};
use serde_json::{json, Value};
use tokio::sync::{Notify, Semaphore};

use crate::args::{Args, Protocol};
use crate::clock::{at_us, now_us, Plan};
use crate::measure::{cpu_between, own_cpu, round, Counters, PlayerShared};
use crate::player::{read_loop, write_loop, Mode, V11};
use crate::setup::set_up;
use crate::transport::Target;

/// Time from the end of the setup to the first command, so every player starts on time.
const START_DELAY_US: u64 = 50_000;
/// Time between two lines of live progress.
const PROGRESS_INTERVAL: Duration = Duration::from_secs(1);

/// Runs the load on `target` as `args` say, the players speaking `protocol` (1.0 or 1.1), and
/// returns the JSON report.
pub async fn run_load(
    args: &Args,
    target: &Target,
    server_pid: Option<u32>,
    protocol: Protocol,
) -> Result<Value> {
    let v11 = V11 {
        on: protocol == Protocol::V1_1,
        ack_every: args.ack_every.max(1),
    };
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
    let players = set_up(args, target, protocol).await?;
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
    let start = now_us() + START_DELAY_US;
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
            highest_msg: AtomicU64::new(0),
            acked_msg: AtomicU64::new(0),
            ack_due: Notify::new(),
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
            v11,
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
            v11,
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
            let mut tick = tokio::time::interval(PROGRESS_INTERVAL);
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
    let mut unanswered = 0;
    for r in readers {
        unanswered += r.await?.unanswered;
    }
    done.store(true, Ordering::Relaxed);
    if let Some(p) = progress {
        let _ = p.await;
    }
    drop(kept_writers);
    let rtt = counters
        .rtt
        .lock()
        .expect("no panics holding the round trips")
        .clone();

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
        "protocol": protocol.as_str(),
        "ack_every": v11.on.then_some(v11.ack_every),
        "acks_alone": counters.acks_alone.load(Ordering::Relaxed),
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
            "mean": rtt.mean_ms().map(|x| round(x, 3)),
            "p50": rtt.quantile_ms(0.5),
            "p90": rtt.quantile_ms(0.9),
            "p99": rtt.quantile_ms(0.99),
            "p999": rtt.quantile_ms(0.999),
            "max": rtt.quantile_ms(1.0),
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
