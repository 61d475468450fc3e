//! The WebSocket endpoint (`/ws`): runs each connection as a session, speaking JSON.
//!
//! It mirrors [`super::tcp`]: a reader loop (text messages -> [`json::parse_client`] -> session)
//! and a writer task (session outbox -> JSON replies -> socket), a bounded outbox whose
//! overflow disconnects, and the server's [`Phase`] for a graceful shutdown (`shutdown`, then a
//! close frame). A player on this port and one on the GGS 1.0 port can share a table: both
//! are sessions of the same kind.

use std::time::Duration;

use axum::extract::ws::{close_code, CloseFrame, Message, WebSocket};
use futures::stream::SplitSink;
use futures::{SinkExt, StreamExt};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::limits::RateLimiter;
use super::{Hub, Phase};
use crate::outbox::{Outbox, OUTBOUND_QUEUE};
use crate::protocol::json;
use crate::protocol::message::ServerMessage;
use crate::session::Session;
use crate::telemetry;

/// Bytes of replies written before the socket is flushed.
const WRITE_BATCH: usize = 64 * 1024;
/// How long a closing connection may take to write its last replies.
const CLOSE_GRACE: Duration = Duration::from_secs(2);
/// How often the server pings a client, so that both ends notice a dead connection.
pub const PING_INTERVAL: Duration = Duration::from_secs(20);
/// A client from which nothing (not even a pong) arrives for this long is disconnected.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Room for JSON escaping and the envelope on top of the body limit, per message: a message
/// longer than `2 * max_body + JSON_OVERHEAD` bytes closes the connection.
pub const JSON_OVERHEAD: usize = 64 * 1024;

/// The largest WebSocket message accepted when bodies may be `max_body` bytes.
pub fn max_message(max_body: usize) -> usize {
    max_body.saturating_mul(2).saturating_add(JSON_OVERHEAD)
}

/// Tells a connection over the limits why (an `error` message), and closes it.
pub async fn refuse(mut socket: WebSocket, code: &'static str, detail: String) {
    let text = json::encode_server(&ServerMessage::error(code, Some(&detail)));
    let _ = tokio::time::timeout(CLOSE_GRACE, async {
        let _ = socket.send(Message::Text(text.into())).await;
        let _ = socket
            .send(Message::Close(Some(frame(
                close_code::AGAIN,
                "too many connections",
            ))))
            .await;
    })
    .await;
}

/// Runs one upgraded WebSocket connection until either side closes it.
pub async fn connection(socket: WebSocket, hub: Hub) {
    let _counted = telemetry::ConnectionGuard::open("ws");
    let (bytes_in, bytes_out) = telemetry::bytes("ws");
    let mut phase = hub.phase.clone();
    let (sink, mut stream) = socket.split();
    let (outbox, rx, overflow) = Outbox::new(OUTBOUND_QUEUE);
    let (close_tx, close_rx) = oneshot::channel();
    let mut writer = tokio::spawn(write_loop(sink, rx, close_rx, bytes_out));
    let mut session = Session::new(outbox, hub.coordinator.clone(), hub.connected.clone());
    let per_second = hub.limiter.settings().messages_per_second;
    let mut rate = RateLimiter::new(per_second);
    let mut last_seen = Instant::now();
    let mut shutting_down = false;
    let mut close = None;
    loop {
        let message = tokio::select! {
            m = stream.next() => match m {
                Some(Ok(m)) => m,
                Some(Err(_)) | None => break,
            },
            _ = overflow.wait() => {
                tracing::info!(player = session.player(), "client does not read its replies; disconnecting");
                close = Some(frame(close_code::POLICY, "the client does not read its messages"));
                break;
            }
            _ = tokio::time::sleep_until(last_seen + IDLE_TIMEOUT) => {
                tracing::debug!(player = session.player(), "websocket idle; disconnecting");
                close = Some(frame(close_code::AWAY, "no message or pong in time"));
                break;
            }
            _ = phase.wait_for(|p| *p != Phase::Running) => {
                shutting_down = true;
                break;
            }
        };
        last_seen = Instant::now();
        let data = match message {
            Message::Text(text) => text.as_str().as_bytes().to_vec(),
            Message::Binary(data) => data.to_vec(),
            Message::Ping(_) | Message::Pong(_) => continue,
            Message::Close(_) => break,
        };
        bytes_in.increment(data.len() as u64);
        if !rate.allow() {
            let why = format!("more than {per_second} messages per second; this one was dropped");
            session.error("rate_limited", &why);
            continue;
        }
        match json::parse_client(&data, hub.max_body) {
            Ok(message) => session.handle(message).await,
            Err(e) => session.error(e.code(), &e.to_string()),
        }
    }
    if shutting_down {
        // Let the tables commit what this player sent, then say goodbye.
        let _ = phase.wait_for(|p| *p == Phase::Closing).await;
        session.outbox().deliver(ServerMessage::new(
            "shutdown",
            "the server is shutting down",
        ));
        close = Some(frame(close_code::AWAY, "the server is shutting down"));
    }
    drop(session);
    let _ = close_tx.send(close);
    if tokio::time::timeout(CLOSE_GRACE, &mut writer)
        .await
        .is_err()
    {
        // A client that does not read keeps the writer stuck on a full socket: drop it.
        writer.abort();
    }
}

fn frame(code: u16, reason: &'static str) -> CloseFrame {
    CloseFrame {
        code,
        reason: reason.into(),
    }
}

/// Writes queued replies as JSON text messages, flushing once per batch, and pings the client
/// every [`PING_INTERVAL`]. On `close`, writes what is queued, sends the close frame if one is
/// given, and stops.
async fn write_loop(
    mut sink: SplitSink<WebSocket, Message>,
    mut rx: mpsc::Receiver<ServerMessage>,
    mut close: oneshot::Receiver<Option<CloseFrame>>,
    bytes_out: metrics::Counter,
) {
    let mut closing: Option<Option<CloseFrame>> = None;
    let mut ping = tokio::time::interval_at(Instant::now() + PING_INTERVAL, PING_INTERVAL);
    loop {
        let first = if closing.is_some() {
            match rx.try_recv() {
                Ok(m) => m,
                Err(_) => break,
            }
        } else {
            tokio::select! {
                m = rx.recv() => match m { Some(m) => m, None => break },
                c = &mut close => { closing = Some(c.unwrap_or(None)); continue; }
                _ = ping.tick() => {
                    if sink.send(Message::Ping(Default::default())).await.is_err() {
                        return;
                    }
                    continue;
                }
            }
        };
        let mut written = 0;
        let mut next = Some(first);
        while let Some(message) = next {
            let text = json::encode_server(&message);
            written += text.len();
            if sink.feed(Message::Text(text.into())).await.is_err() {
                return;
            }
            next = if written < WRITE_BATCH {
                rx.try_recv().ok()
            } else {
                None
            };
        }
        if sink.flush().await.is_err() {
            return;
        }
        bytes_out.increment(written as u64);
    }
    if let Some(Some(frame)) = closing {
        let _ = sink.send(Message::Close(Some(frame))).await;
    }
    let _ = sink.close().await;
}
