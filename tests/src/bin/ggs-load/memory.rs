//! The memory probe: the server's resident memory when idle, with idle tables, with idle
//! connections and with those connections seated.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use ggs_tests::procstat::rss_kib;
use ggs_tests::{Hello, Request};
use serde_json::{json, Value};
use tokio::sync::Semaphore;

use crate::args::{Args, Protocol};
use crate::measure::round;
use crate::setup::CHAT_JS;
use crate::transport::{connect, hello, Target};

/// How long the server is left alone before its memory is read.
const SETTLE: Duration = Duration::from_millis(1500);
/// Tables created by one connection (which then closes).
const TABLES_PER_CONNECTION: usize = 50;

/// The server's resident memory once it settled, in KiB.
pub async fn settle_rss(pid: u32) -> Result<u64> {
    tokio::time::sleep(SETTLE).await;
    rss_kib(pid).context("reading the server's VmRSS")
}

/// `count` tables with the chat script, created [`TABLES_PER_CONNECTION`] at a time by
/// connections that then close; their ids.
pub async fn create_tables(args: &Args, target: &Target, count: usize) -> Result<Vec<String>> {
    let parallel = Arc::new(Semaphore::new(args.connect_parallel.max(1)));
    let mut tasks = Vec::new();
    for first in (0..count).step_by(TABLES_PER_CONNECTION) {
        let count = TABLES_PER_CONNECTION.min(count - first);
        let (target, parallel) = (target.clone(), parallel.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = parallel.acquire_owned().await?;
            let (mut r, mut w) = connect(&target, Protocol::V1_0).await?;
            let mut ids = Vec::with_capacity(count);
            for _ in 0..count {
                w.send(&[hello(None), Request::Define(CHAT_JS)]).await?;
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
    Ok(tables)
}

/// Measures the server's memory on `target` (process `pid`) and returns the JSON report.
pub async fn run_memory(args: &Args, target: &Target, pid: u32) -> Result<Value> {
    let idle = settle_rss(pid).await?;
    if !args.quiet {
        eprintln!("ggs-load memory: idle RSS {idle} KiB");
    }
    // Tables: created `TABLES_PER_CONNECTION` at a time by connections that then close.
    let tables = create_tables(args, target, args.idle_tables).await?;
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
        conns.push(connect(target, Protocol::V1_0).await?);
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
                w.send(&[hello(Some(&table))]).await?;
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
