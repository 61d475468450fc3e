//! The hibernation probe (`--memory --hibernate-after-ms`): the server's resident memory with
//! many hibernated tables, with and without players seated at them, and how long the first
//! event on a hibernated table takes (wake latency), against the same event on an awake table.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use ggs_tests::procstat::memory_kib;
use ggs_tests::{Latencies, Request};
use serde_json::{json, Value};

use crate::args::{Args, Protocol};
use crate::measure::round;
use crate::memory::{create_tables, settle_rss};
use crate::transport::{connect, hello, Reader, Target, Writer};

/// How often the server's metrics are read while waiting for its tables to hibernate.
const POLL: Duration = Duration::from_millis(250);
/// Longest wait for every table to hibernate, on top of one second per 1,000 tables.
const HIBERNATE_TIMEOUT: Duration = Duration::from_secs(120);

/// The value of the unlabelled metric `name` on the server's `/metrics`.
async fn metric(http: SocketAddr, name: &'static str) -> Result<f64> {
    let text = tokio::task::spawn_blocking(move || ggs_tests::http::get(http, "/metrics").body)
        .await
        .context("reading /metrics")?;
    let value = text
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .with_context(|| format!("no {name} on /metrics"))?;
    value.trim().parse().context("a metric's value")
}

/// Waits until no table is awake and at least `tables` are hibernated.
async fn all_hibernated(args: &Args, http: SocketAddr, tables: usize) -> Result<Duration> {
    let start = Instant::now();
    let timeout = HIBERNATE_TIMEOUT + Duration::from_millis(tables as u64);
    loop {
        let live = metric(http, "ggs_tables_live").await?;
        let hibernated = metric(http, "ggs_tables_hibernated").await?;
        if live == 0.0 && hibernated >= tables as f64 {
            return Ok(start.elapsed());
        }
        if start.elapsed() > timeout {
            bail!("after {timeout:?}, {live} tables are still awake ({hibernated} hibernated)");
        }
        if !args.quiet {
            eprint!("\rggs-load hibernation: {live} tables awake, {hibernated} hibernated   ");
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Each player in turn (one event in flight in the whole server) sends `message` and waits for
/// its own broadcast; the round-trip times.
async fn one_at_a_time(players: &mut [(Reader, Writer)], tag: &str) -> Result<Latencies> {
    let mut rtts = Latencies::new();
    for (i, (r, w)) in players.iter_mut().enumerate() {
        let text = format!("{tag}-{i}");
        let sent = Instant::now();
        w.send(&[Request::Command("message", &text)]).await?;
        loop {
            let body = r.expect("message").await?;
            if body.ends_with(&text) {
                break;
            }
        }
        rtts.record(sent.elapsed());
    }
    Ok(rtts)
}

fn quantiles(l: &Latencies) -> Value {
    json!({
        "samples": l.len(),
        "p50": l.quantile_ms(0.5),
        "p90": l.quantile_ms(0.9),
        "p99": l.quantile_ms(0.99),
        "max": l.quantile_ms(1.0),
    })
}

/// Measures hibernation on `target` (process `pid`, metrics at `http`): creates
/// `--idle-tables` tables whose creators leave, waits until they all hibernated, then seats
/// `--players` players at as many of them one at a time (each `hello` wakes a table that
/// hibernated with nobody seated), waits until those hibernate too with their players seated,
/// and has each player send one command (each wakes a table), then one more (awake).
pub async fn run_hibernation(
    args: &Args,
    target: &Target,
    pid: u32,
    http: SocketAddr,
) -> Result<Value> {
    let idle = settle_rss(pid).await?;
    if !args.quiet {
        eprintln!("ggs-load hibernation: idle RSS {idle} KiB");
    }
    let start = Instant::now();
    let tables = create_tables(args, target, args.idle_tables).await?;
    let created_s = start.elapsed().as_secs_f64();
    if !args.quiet {
        eprintln!(
            "ggs-load hibernation: {} tables created in {created_s:.1} s",
            tables.len()
        );
    }
    let waited = all_hibernated(args, http, tables.len()).await?;
    let hibernated = settle_rss(pid).await?;
    let (_, peak) = memory_kib(pid).context("reading the server's VmHWM")?;
    if !args.quiet {
        eprintln!(
            "\rggs-load hibernation: {} tables hibernated ({:.1} s after the last was created), \
             RSS {hibernated} KiB (peak {peak} KiB)",
            tables.len(),
            waited.as_secs_f64()
        );
    }

    let seated_n = args.players.min(tables.len());
    let mut players = Vec::with_capacity(seated_n);
    for _ in 0..seated_n {
        players.push(connect(target, Protocol::V1_0).await?);
    }
    let connected = settle_rss(pid).await?;
    // One hello at a time, each on a table that hibernated with nobody seated.
    let mut hello_rtts = Latencies::new();
    for (i, (r, w)) in players.iter_mut().enumerate() {
        let sent = Instant::now();
        w.send(&[hello(Some(&tables[i]))]).await?;
        r.expect("hello").await?;
        hello_rtts.record(sent.elapsed());
    }
    all_hibernated(args, http, tables.len()).await?;
    let seated = settle_rss(pid).await?;
    if !args.quiet {
        eprintln!(
            "\rggs-load hibernation: {seated_n} connections RSS {connected} KiB; seated at \
             hibernated tables {seated} KiB"
        );
    }
    let woken = one_at_a_time(&mut players, "wake").await?;
    let awake = one_at_a_time(&mut players, "awake").await?;
    drop(players);

    let per =
        |a: u64, b: u64, n: usize| (n > 0).then(|| round((b as f64 - a as f64) / n as f64, 2));
    Ok(json!({
        "tool": "ggs-load",
        "label": args.label,
        "target": target.describe(),
        "transport": target.transport(),
        "memory": true,
        "hibernation": true,
        "hibernate_after_ms": args.hibernate_after_ms,
        "server_pid": pid,
        "rss_idle_kib": idle,
        "idle_tables": tables.len(),
        "tables_created_s": round(created_s, 2),
        "rss_hibernated_tables_kib": hibernated,
        "rss_peak_kib": peak,
        "kib_per_hibernated_table": per(idle, hibernated, tables.len()),
        "connections": seated_n,
        "rss_with_connections_kib": connected,
        "rss_seated_hibernated_kib": seated,
        "kib_per_seated_hibernated_table": per(connected, seated, seated_n),
        "wake_hello_rtt_ms": quantiles(&hello_rtts),
        "wake_command_rtt_ms": quantiles(&woken),
        "awake_command_rtt_ms": quantiles(&awake),
    }))
}
