//! Sending a client to the node of the cluster that serves its table ("Next IP"): a GGS 1.1
//! connection, a WebSocket and line mode are told where to go (a `next` reply); a GGS 1.0
//! client over TCP, which cannot follow it, is relayed: this node opens a connection to the
//! owner's TCP port, replays the client's `hello` there byte for byte, and from then on pipes
//! bytes both ways until either side closes (or nothing passes for [`RELAY_IDLE_TIMEOUT`]).
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
use crate::protocol::message::ServerMessage;
use crate::session::{Elsewhere, Session};

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

/// The owner's end of a relay, opened: what the connection hands to [`pipe`].
#[derive(Debug)]
pub struct Relay {
    /// The connection to the owner's TCP port.
    pub owner: TcpStream,
    /// Its place among the relayed connections.
    pub slot: RelaySlot,
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
                Some(Relay { owner, slot })
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
    let Relay { owner, slot } = relay;
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
                    if write.write_all(&down[..n]).await.is_err() {
                        break;
                    }
                    bytes_out.increment(n as u64);
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
