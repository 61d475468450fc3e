//! The WebSocket endpoint (`/ws`): runs each connection as a session, speaking JSON.
//!
//! This file is only the framing: text messages -> [`json::parse_client`] -> [`Input`]s, and
//! replies -> JSON text messages, flushed once per batch; the connection itself is
//! [`conn::run`], as for TCP. On top: pings every [`PING_INTERVAL`], an idle timeout, and a
//! close frame saying why the server closed. A player on this port and one on the GGS 1.0 port
//! can share a table: both are sessions of the same kind.

use std::time::Duration;

use axum::extract::ws::{close_code, CloseFrame, Message, WebSocket};
use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::conn::{self, Ending, Input, Request, CLOSE_GRACE};
use super::limits::AdmitError;
use super::Hub;
use crate::auth::Connection;
use crate::outbox::Outbox;
use crate::protocol::json;
use crate::protocol::message::{ServerMessage, Version};

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
pub async fn refuse(mut socket: WebSocket, e: AdmitError) {
    let text = json::encode_server(&ServerMessage::error(e.code(), Some(&e.to_string())));
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

/// Runs one upgraded WebSocket connection until either side closes it, holding `alive`;
/// `connection` is its upgrade's headers, peer and identity, for the auth hook.
pub async fn connection(
    socket: WebSocket,
    hub: Hub,
    alive: mpsc::Sender<()>,
    connection: Connection,
) {
    let (sink, stream) = socket.split();
    let max_body = hub.max_body;
    let reader = move |_: &Outbox, bytes_in: metrics::Counter| WsReader {
        stream,
        last_seen: Instant::now(),
        max_body,
        bytes_in,
    };
    let writer = WsWriter {
        sink,
        batch: Vec::new(),
        encoder: json::Encoder::default(),
    };
    // A WebSocket is never relayed: its client is told `next`.
    let _ = conn::run(hub, alive, "ws", reader, writer, connection).await;
}

fn frame(code: u16, reason: &'static str) -> CloseFrame {
    CloseFrame {
        code,
        reason: reason.into(),
    }
}

/// Text messages in, client messages out, with the idle timeout.
struct WsReader {
    stream: SplitStream<WebSocket>,
    /// When anything (a message, a ping, a pong) last arrived.
    last_seen: Instant,
    max_body: usize,
    bytes_in: metrics::Counter,
}

impl conn::Reader for WsReader {
    fn buffered(&mut self) -> Option<Input> {
        None
    }

    async fn receive(&mut self) -> Option<Input> {
        let idle = self.last_seen + IDLE_TIMEOUT;
        let message = tokio::select! {
            m = self.stream.next() => match m {
                Some(Ok(m)) => m,
                Some(Err(_)) | None => return Some(Input::End(Ending::Closed)),
            },
            _ = tokio::time::sleep_until(idle) => return Some(Input::End(Ending::Idle)),
        };
        self.last_seen = Instant::now();
        let data: &[u8] = match &message {
            Message::Text(text) => text.as_str().as_bytes(),
            Message::Binary(data) => data,
            Message::Ping(_) | Message::Pong(_) => return Some(Input::Nothing),
            Message::Close(_) => return Some(Input::End(Ending::Closed)),
        };
        self.bytes_in.increment(data.len() as u64);
        let parsed = json::parse_client(data, self.max_body);
        Some(Input::Message(
            parsed
                .map(|(message, meta)| Request::Client(message, meta))
                .map_err(|e| (e.code(), e.to_string())),
        ))
    }
}

/// Replies to JSON text messages, fed as a batch and flushed once.
struct WsWriter {
    sink: SplitSink<WebSocket, Message>,
    batch: Vec<Message>,
    /// Renders each reply in the connection's version (and says when it changed).
    encoder: json::Encoder,
}

impl conn::Writer for WsWriter {
    fn push(&mut self, message: &ServerMessage, version: Option<Version>) -> usize {
        let text = self.encoder.encode(message, version);
        let length = text.len();
        self.batch.push(Message::Text(text.into()));
        length
    }

    async fn send(&mut self) -> std::io::Result<()> {
        for message in self.batch.drain(..) {
            self.sink
                .feed(message)
                .await
                .map_err(std::io::Error::other)?;
        }
        self.sink.flush().await.map_err(std::io::Error::other)
    }

    fn keepalive(&self) -> Option<Duration> {
        Some(PING_INTERVAL)
    }

    async fn ping(&mut self) -> std::io::Result<()> {
        let ping = Message::Ping(Default::default());
        self.sink.send(ping).await.map_err(std::io::Error::other)
    }

    async fn close(mut self, ending: Ending) {
        let last = match ending {
            Ending::Closed | Ending::Relay => None,
            Ending::Overflow => Some(frame(
                close_code::POLICY,
                "the client does not read its messages",
            )),
            Ending::Idle => Some(frame(close_code::AWAY, "no message or pong in time")),
            Ending::Shutdown => Some(frame(close_code::AWAY, "the server is shutting down")),
        };
        if let Some(frame) = last {
            let _ = self.sink.send(Message::Close(Some(frame))).await;
        }
        let _ = self.sink.close().await;
    }
}
