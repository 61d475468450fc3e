//! Setting up the tables of a run: one connection creates and defines each table, the others
//! join it; pong players are given their seats.

use std::sync::Arc;

use anyhow::{bail, Context, Result};
use ggs_tests::{Hello, Request};
use tokio::sync::Semaphore;

use crate::args::{Args, Protocol, Workload};
use crate::transport::{connect, hello, Reader, Target, Writer, SETUP_TIMEOUT};

/// The chat workload's script.
pub const CHAT_JS: &str = include_str!("../../../../games/chat.js");
/// The pong workload's script.
const PONG_JS: &str = include_str!("../../../../games/pong.js");

/// One player's part in the run.
pub struct Player {
    /// The player's number in the run (0-based).
    pub index: usize,
    /// Pong: the seat (1 or 2), 0 for a spectator.
    pub seat: usize,
    pub reader: Reader,
    pub writer: Writer,
}

/// Reads the `hello` reply; a GGS 1.1 player fails unless the server chose 1.1.
async fn expect_hello(reader: &mut Reader, protocol: Protocol) -> Result<String> {
    let (body, meta) = reader.expect_meta("hello").await?;
    if protocol == Protocol::V1_1 && meta.version.as_deref() != Some("1.1") {
        bail!(
            "offered GGS 1.0 and 1.1, but the hello reply names version {:?}",
            meta.version
        );
    }
    Ok(body)
}

/// Creates one table with `size` players; returns them in joining order.
async fn set_up_table(
    target: Target,
    workload: Workload,
    protocol: Protocol,
    size: usize,
    first_index: usize,
) -> Result<Vec<Player>> {
    let script = match workload {
        Workload::Chat => CHAT_JS,
        Workload::Pong => PONG_JS,
    };
    let (mut r0, mut w0) = connect(&target, protocol).await?;
    w0.send(&[hello(None)]).await?;
    let created = Hello::parse(&expect_hello(&mut r0, protocol).await?)?;
    w0.send(&[Request::Define(script)]).await?;
    let defined = r0.expect("defined").await?;
    if defined != "ok" {
        bail!("define failed: {defined}");
    }
    let mut conns = vec![(r0, w0)];
    for _ in 1..size {
        let (mut r, mut w) = connect(&target, protocol).await?;
        w.send(&[hello(Some(&created.table))]).await?;
        let joined = Hello::parse(&expect_hello(&mut r, protocol).await?)?;
        if joined.table != created.table {
            bail!("joined {joined:?}, expected table {}", created.table);
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
        players[0]
            .writer
            .send(&[Request::Command("ready", "")])
            .await?;
        // A barrier per player: everything before the answer to `sync` is setup; `welcome`
        // says the seat.
        for p in &mut players {
            p.writer.send(&[Request::Command("sync", "")]).await?;
            let wait = async {
                loop {
                    match p.reader.next().await? {
                        None => bail!("the server closed the connection during setup"),
                        Some((r, _)) if r.command == "welcome" => p.seat = r.body.parse()?,
                        Some((r, _)) if r.command == "warning" && r.body.ends_with("sync") => {
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

/// Sets up all tables, `parallel` connections at a time, the players speaking `protocol`.
pub async fn set_up(args: &Args, target: &Target, protocol: Protocol) -> Result<Vec<Player>> {
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
            set_up_table(target, workload, protocol, size, first).await
        }));
        first += size;
    }
    let mut players = Vec::with_capacity(args.players);
    for t in tasks {
        players.extend(t.await??);
    }
    Ok(players)
}
