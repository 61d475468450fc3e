//! Sending a client to the node of the cluster that serves its table ("Next IP"): a GGS 1.1
//! connection, a WebSocket and line mode are told where to go (a `next` reply); a GGS 1.0
//! client over TCP, which cannot follow it, is relayed: this node opens a connection to the
//! owner's TCP port, replays the client's `hello` there byte for byte, and from then on pipes
//! bytes both ways until either side closes (or nothing passes for [`RELAY_IDLE_TIMEOUT`]).
//!
//! A table handed to another node while its players are connected ([`follow`]) sends each
//! connection after it the same way: a GGS 1.1 client, a WebSocket and line mode get `next`
//! and the connection closes (they reconnect there with their token and resume); a GGS 1.0
//! client is relayed, the node opening the relay with a `hello` that takes the player's seat
//! back at the new owner (its reply is not passed on: the client said no `hello`), then the
//! messages that waited at the table, then the client's bytes.
//!
//! The client's connection stays counted here (the per-address and total limits, held by
//! the accept loop until the relay ends); the owner sees the relay as a connection from this
//! node's address, which it exempts from its per-address limit (a member's advertised TCP
//! address).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::Phase;
use crate::cluster::route::websocket_url;
use crate::config::READ_CHUNK;
use crate::protocol::ggs10::encode_frame;
use crate::protocol::message::ServerMessage;
use crate::session::{Elsewhere, Session};
use crate::table::{Forward, Moved};

/// Most GGS 1.0 connections this node relays to other nodes at once; past that, a `hello`
/// for a table elsewhere is refused with `overloaded` (and changes nothing).
pub const MAX_RELAYED_CONNECTIONS: usize = 10_000;
/// A relayed connection over which no byte passed either way for this long is closed.
pub const RELAY_IDLE_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// How long opening the relay's connection to the owner may take.
pub const RELAY_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Connections relayed now (by this process).
static RELAYED: AtomicUsize = AtomicUsize::new(0);

/// One relayed connection, counted while held.
#[derive(Debug)]
pub struct RelaySlot(());

impl RelaySlot {
    /// A slot, if fewer than [`MAX_RELAYED_CONNECTIONS`] are relayed now.
    fn take() -> Option<RelaySlot> {
        RELAYED
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < MAX_RELAYED_CONNECTIONS).then_some(n + 1)
            })
            .ok()
            .map(|_| RelaySlot(()))
    }
}

impl Drop for RelaySlot {
    fn drop(&mut self) {
        RELAYED.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Longest reply to the relay's own `hello` that it reads (and does not pass on) before it
/// pipes; a hello reply is about a hundred bytes.
pub const MAX_RESUME_REPLY: usize = 16 * 1024;

/// The owner's end of a relay, opened: what the connection hands to [`pipe`].
#[derive(Debug)]
pub struct Relay {
    /// The connection to the owner's TCP port.
    pub owner: TcpStream,
    /// Its place among the relayed connections.
    pub slot: RelaySlot,
    /// For a relay opened after the table moved: the bytes it sends first (the `hello` that
    /// takes the seat back, then the messages that waited), whose first reply it drops. `None`:
    /// the relay of a client's own `hello`, replayed as it came.
    pub resume: Option<BytesMut>,
}

/// A connection handed over to a relay: its transport's reader and writer, and the owner's
/// end.
pub struct Relayed<R, W> {
    /// The transport's reader (its socket, and the bytes it has not yet used).
    pub reader: R,
    /// The transport's writer (its socket), with every reply before the relay written.
    pub writer: W,
    /// The owner's end.
    pub relay: Relay,
}

/// Sends the client of `session`, whose `hello` asked for a table `away` serves, where it
/// goes: relayed (when `relayable`, a GGS 1.0 connection over TCP: `Some`, the connection is
/// handed over) or told `next` with the owner's address for its transport (`tcp` or `ws`).
/// A node that advertises no such address, or a relay that cannot be opened, is
/// `table_unavailable` and changes nothing, as is a relay past [`MAX_RELAYED_CONNECTIONS`]
/// (`overloaded`).
pub async fn send_away(
    session: &Session,
    away: Elsewhere,
    transport: &str,
    relayable: bool,
) -> Option<Relay> {
    let node = &away.node.name;
    let table = &away.table;
    if relayable && !session.version().exactly_once() {
        let Some(address) = away.node.tcp.as_deref() else {
            let why = format!("table {table} is served by node {node}, which has no TCP address");
            session.error("table_unavailable", &why).await;
            return None;
        };
        let Some(slot) = RelaySlot::take() else {
            let why = format!(
                "this node relays at most {MAX_RELAYED_CONNECTIONS} connections; table {table} \
                 is served by node {node} at {address}"
            );
            session.error("overloaded", &why).await;
            return None;
        };
        return match tokio::time::timeout(RELAY_CONNECT_TIMEOUT, TcpStream::connect(address)).await
        {
            Ok(Ok(owner)) => {
                let _ = owner.set_nodelay(true);
                tracing::debug!(player = session.player(), %table, %node, %address, "relaying a GGS 1.0 client");
                Some(Relay {
                    owner,
                    slot,
                    resume: None,
                })
            }
            failed => {
                let why = match failed {
                    Ok(Err(e)) => e.to_string(),
                    _ => format!("no answer within {RELAY_CONNECT_TIMEOUT:?}"),
                };
                tracing::info!(%table, %node, %address, "relaying to the owner failed: {why}");
                let why = format!("table {table} is served by node {node}, which cannot be reached at {address} ({why})");
                session.error("table_unavailable", &why).await;
                None
            }
        };
    }
    let address = match transport {
        "ws" => away.node.http.as_deref().map(websocket_url),
        _ => away.node.tcp.clone(),
    };
    match address {
        Some(address) => {
            let next = ServerMessage::next(table, node, &address);
            session.reply(next).await;
        }
        None => {
            let why = format!(
                "table {table} is served by node {node}, which advertises no address for this \
                 transport ({transport})"
            );
            session.error("table_unavailable", &why).await;
        }
    }
    None
}

/// Sends the client of `session`, whose table moved to `moved`, after it: relayed (when
/// `relayable`: a GGS 1.0 connection over TCP; `Some`, the connection is handed over) with a
/// `hello` that takes its seat back there and the messages that waited at the table; or told
/// `next` with the new owner's address for its transport (`tcp` or `ws`). `None`: the
/// connection closes (after `next`, or `table_unavailable` when the new owner cannot be
/// reached or has no address for it).
pub async fn follow(
    session: &Session,
    moved: &Moved,
    transport: &str,
    relayable: bool,
) -> Option<Relay> {
    let table = session
        .table()
        .map(|t| t.id().to_string())
        .unwrap_or_default();
    let node = &moved.node;
    let forwards = session
        .table()
        .map(|t| t.relocation().take_forwards(session.player()))
        .unwrap_or_default();
    let unavailable = |why: String| {
        let why = format!("table {table} moved to node {node}, {why}");
        session
            .outbox()
            .deliver(ServerMessage::error("table_unavailable", Some(&why)));
        None
    };
    if relayable && !session.version().exactly_once() {
        let Some(address) = moved.tcp.as_deref() else {
            return unavailable("which has no TCP address".into());
        };
        let Some(slot) = RelaySlot::take() else {
            let why = format!("and this node relays at most {MAX_RELAYED_CONNECTIONS} connections: connect to {address}");
            return unavailable(why);
        };
        let owner =
            match tokio::time::timeout(RELAY_CONNECT_TIMEOUT, TcpStream::connect(address)).await {
                Ok(Ok(owner)) => owner,
                Ok(Err(e)) => {
                    return unavailable(format!("which cannot be reached at {address} ({e})"))
                }
                Err(_) => {
                    return unavailable(format!(
                        "which did not answer at {address} within {RELAY_CONNECT_TIMEOUT:?}"
                    ))
                }
            };
        let _ = owner.set_nodelay(true);
        let mut resume = BytesMut::new();
        let token = session.token().reveal();
        let hello = [("Token", token), ("Server-Command", "hello")];
        encode_frame(&hello, table.as_bytes(), &mut resume);
        for forward in &forwards {
            match forward {
                Forward::Game(command, args) => {
                    let headers = [("Token", token), ("Game-Command", &**command)];
                    encode_frame(&headers, args.as_bytes(), &mut resume);
                }
                Forward::Define(source) => {
                    let headers = [("Token", token), ("Server-Command", "define")];
                    encode_frame(&headers, source.as_bytes(), &mut resume);
                }
            }
        }
        tracing::debug!(player = session.player(), %table, %node, %address, forwarded = forwards.len(), "relaying a GGS 1.0 client after its table");
        return Some(Relay {
            owner,
            slot,
            resume: Some(resume),
        });
    }
    let address = match transport {
        "ws" => moved.ws.clone(),
        _ => moved.tcp.clone(),
    };
    match address {
        Some(address) => {
            let next = ServerMessage::next(&table, node, &address);
            session.outbox().deliver(next);
            None
        }
        None => unavailable(format!(
            "which advertises no address for this transport ({transport})"
        )),
    }
}

/// The end of the first GGS 1.0 reply in `buf`, and whether it is a `hello` reply: `None`
/// until it is all there.
fn first_reply(buf: &[u8]) -> Option<(usize, bool)> {
    let end = buf.windows(2).position(|w| w == b"\n\n")?;
    let headers = std::str::from_utf8(&buf[..end]).ok()?;
    let mut size = 0usize;
    let mut hello = false;
    for line in headers.lines() {
        let (name, value) = line.split_once(':')?;
        match name.trim() {
            "Content-Size" => size = value.trim().parse().ok()?,
            "Client-Command" => hello = value.trim() == "hello",
            _ => {}
        }
    }
    let total = end + 2 + size;
    (buf.len() >= total).then_some((total, hello))
}

/// Pipes bytes both ways between a client (`read`, `write`) and the owner, first sending it
/// `pending` (the client's `hello` as it came, and what came after it), until the owner
/// closes, the client closes and the owner has answered everything, nothing passes for
/// [`RELAY_IDLE_TIMEOUT`], or the server closes (`phase`).
pub async fn pipe(
    mut read: OwnedReadHalf,
    pending: BytesMut,
    mut write: OwnedWriteHalf,
    relay: Relay,
    mut phase: watch::Receiver<Phase>,
) {
    let Relay {
        owner,
        slot,
        resume,
    } = relay;
    // A relay that resumed the seat drops the reply to its own hello.
    let mut skipping = resume.is_some().then(BytesMut::new);
    let (mut owner_read, mut owner_write) = owner.into_split();
    let (bytes_in, bytes_out) = crate::telemetry::bytes("relay");
    if owner_write.write_all(&pending).await.is_err() {
        return;
    }
    bytes_in.increment(pending.len() as u64);
    let mut up = vec![0u8; READ_CHUNK];
    let mut down = vec![0u8; READ_CHUNK];
    let mut client_open = true;
    loop {
        tokio::select! {
            got = read.read(&mut up), if client_open => match got {
                Ok(n) if n > 0 => {
                    if owner_write.write_all(&up[..n]).await.is_err() {
                        break;
                    }
                    bytes_in.increment(n as u64);
                }
                // The client is done sending: the owner still answers what it sent.
                _ => {
                    client_open = false;
                    let _ = owner_write.shutdown().await;
                }
            },
            got = owner_read.read(&mut down) => match got {
                Ok(n) if n > 0 => {
                    let mut passed = &down[..n];
                    let held;
                    if let Some(first) = &mut skipping {
                        first.extend_from_slice(passed);
                        match first_reply(first) {
                            Some((end, true)) => {
                                held = first.split_off(end);
                                passed = &held;
                                skipping = None;
                            }
                            // Not a hello reply (the seat was not taken back): the client
                            // sees it.
                            Some((_, false)) => {
                                held = std::mem::take(first);
                                passed = &held;
                                skipping = None;
                            }
                            None if first.len() > MAX_RESUME_REPLY => {
                                tracing::info!("the owner's reply to a relay's hello is too long; closing");
                                break;
                            }
                            None => continue,
                        }
                    }
                    if write.write_all(passed).await.is_err() {
                        break;
                    }
                    bytes_out.increment(passed.len() as u64);
                }
                _ => break,
            },
            _ = tokio::time::sleep(RELAY_IDLE_TIMEOUT) => {
                tracing::debug!("a relayed connection was idle; closing it");
                break;
            }
            _ = async { phase.wait_for(|p| *p == Phase::Closing).await.map(|_| ()) } => break,
        }
    }
    let _ = write.shutdown().await;
    drop(slot);
}
