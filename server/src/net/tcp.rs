//! The TCP port: accepts connections and runs each as a GGS 1.0 session.
//!
//! Per connection: a reader loop (bytes -> frames -> client messages -> session) and a writer
//! task (session outbox -> exact GGS 1.0 replies -> socket). A frame the decoder can skip gets an
//! `error` reply and the connection carries on; one it cannot resynchronise after gets the
//! error, then the connection closes. Nothing a connection sends affects another.

use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio::time::{sleep_until, Instant};

use super::limits::RateLimiter;
use super::{Hub, Phase};
use crate::config::READ_CHUNK;
use crate::outbox::{Outbox, ServerMessage, OUTBOUND_QUEUE};
use crate::protocol::ggs10::{encode_reply, Decoded, Decoder};
use crate::protocol::message::ClientMessage;
use crate::session::Session;

/// Bytes of replies gathered into one socket write.
const WRITE_BATCH: usize = 64 * 1024;
/// How long a closing connection may take to write its last replies.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// Accepts connections until the listener fails or the task is dropped.
pub async fn serve(listener: TcpListener, hub: Hub) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                let admission = match hub.limiter.admit(peer.ip()) {
                    Ok(admission) => admission,
                    Err(e) => {
                        tracing::info!(%peer, "connection refused: {e}");
                        tokio::spawn(refuse(
                            stream,
                            ServerMessage::error(e.code(), Some(&e.to_string())),
                        ));
                        continue;
                    }
                };
                let hub = hub.clone();
                tokio::spawn(async move {
                    tracing::debug!(%peer, "connected");
                    connection(stream, hub).await;
                    drop(admission);
                    tracing::debug!(%peer, "disconnected");
                });
            }
            Err(e) => {
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Tells a connection over the limits why, and closes it.
async fn refuse(mut stream: TcpStream, message: ServerMessage) {
    let mut out = BytesMut::new();
    encode_reply(&message.command, &message.body, &mut out);
    let _ = tokio::time::timeout(CLOSE_GRACE, stream.write_all(&out)).await;
    let _ = stream.shutdown().await;
}

async fn connection(stream: TcpStream, hub: Hub) {
    let _alive = hub.alive.clone();
    let _counted = crate::telemetry::ConnectionGuard::open("tcp");
    let (bytes_in, bytes_out) = crate::telemetry::bytes("tcp");
    let mut phase = hub.phase.clone();
    let mut shutting_down = false;
    let (mut reader, writer) = stream.into_split();
    let (outbox, rx, overflow) = Outbox::new(OUTBOUND_QUEUE);
    let (close_tx, close_rx) = oneshot::channel();
    let writer = tokio::spawn(write_loop(writer, rx, close_rx, bytes_out));
    let mut session = Session::new(outbox, hub.coordinator.clone(), hub.connected.clone());
    let mut decoder = Decoder::new(hub.max_body);
    let mut buf = BytesMut::with_capacity(READ_CHUNK);
    let settings = *hub.limiter.settings();
    let mut rate = RateLimiter::new(settings.messages_per_second);
    // When the message now arriving began (bytes are buffered but it is not complete).
    let mut partial_since: Option<Instant> = None;
    'read: loop {
        buf.reserve(READ_CHUNK);
        let frame_deadline = partial_since.map(|t| t + settings.frame_timeout);
        tokio::select! {
            _ = sleep_until(frame_deadline.unwrap_or_else(Instant::now)), if frame_deadline.is_some() => {
                let detail = format!(
                    "a message took longer than {} ms to arrive; closing the connection",
                    settings.frame_timeout.as_millis()
                );
                session.outbox().deliver(ServerMessage::error("frame_timeout", Some(&detail)));
                break 'read;
            }
            read = reader.read_buf(&mut buf) => match read {
                Ok(0) | Err(_) => break 'read,
                Ok(n) => bytes_in.increment(n as u64),
            },
            _ = overflow.wait() => {
                tracing::info!(player = session.player(), "client does not read its replies; disconnecting");
                break 'read;
            }
            _ = phase.wait_for(|p| *p != Phase::Running) => {
                shutting_down = true;
                break 'read;
            }
        }
        loop {
            match decoder.decode(&mut buf) {
                Ok(None) => break,
                Ok(Some(Decoded::Frame(_))) if !rate.allow() => session.error(
                    "rate_limited",
                    &format!(
                        "more than {} messages per second; this one was dropped",
                        settings.messages_per_second
                    ),
                ),
                Ok(Some(Decoded::Frame(frame))) => match ClientMessage::from_frame(&frame) {
                    Ok(message) => session.handle(message).await,
                    Err(e) => session.error(e.code(), &e.to_string()),
                },
                Ok(Some(Decoded::Rejected(e))) => session.error(e.code(), &e.to_string()),
                Err(e) => {
                    // Straight to the queue: nothing else will be sent on this connection.
                    let detail = format!("{e}; closing the connection");
                    session
                        .outbox()
                        .deliver(ServerMessage::error(e.code(), Some(&detail)));
                    break 'read;
                }
            }
        }
        partial_since = match (buf.is_empty(), partial_since) {
            (true, _) => None,
            (false, None) => Some(Instant::now()),
            (false, since) => since,
        };
    }
    if shutting_down {
        // Let the tables commit what this player sent, then say goodbye.
        let _ = phase.wait_for(|p| *p == Phase::Closing).await;
        session.outbox().deliver(ServerMessage::new(
            "shutdown",
            "the server is shutting down",
        ));
    }
    drop(session);
    let _ = close_tx.send(());
    let mut writer = writer;
    if tokio::time::timeout(CLOSE_GRACE, &mut writer)
        .await
        .is_err()
    {
        // A client that does not read keeps the socket full: give up on it.
        writer.abort();
    }
}

/// Writes queued replies, several per syscall. On `close`, writes what is queued and stops.
async fn write_loop(
    mut writer: OwnedWriteHalf,
    mut rx: mpsc::Receiver<ServerMessage>,
    mut close: oneshot::Receiver<()>,
    bytes_out: metrics::Counter,
) {
    let mut out = BytesMut::with_capacity(WRITE_BATCH);
    let mut closing = false;
    loop {
        let first = if closing {
            match rx.try_recv() {
                Ok(m) => m,
                Err(_) => break,
            }
        } else {
            tokio::select! {
                m = rx.recv() => match m { Some(m) => m, None => break },
                _ = &mut close => { closing = true; continue; }
            }
        };
        encode_reply(&first.command, &first.body, &mut out);
        while out.len() < WRITE_BATCH {
            match rx.try_recv() {
                Ok(m) => encode_reply(&m.command, &m.body, &mut out),
                Err(_) => break,
            }
        }
        if writer.write_all(&out).await.is_err() {
            return;
        }
        bytes_out.increment(out.len() as u64);
        out.clear();
    }
    let _ = writer.shutdown().await;
}
