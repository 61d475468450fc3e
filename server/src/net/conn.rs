//! What every connection shares, whatever its transport: the session, the rate limit, the
//! bounded outbox and its writer loop (batched per write), the shutdown phases and the last
//! words. A transport ([`super::tcp`], [`super::ws`]) supplies only its framing: a
//! [`Reader`] that turns what arrives into [`Input`]s, and a [`Writer`] that turns each
//! [`ServerMessage`] into bytes or frames.
//!
//! Per connection: this task reads (input -> session) and a writer task drains the outbox.
//! When the server drains, reading stops; once every table has committed what it was sent, the
//! client is told `shutdown` and the connection closes. A client that does not read its
//! replies overflows its outbox and is disconnected.

use std::future::Future;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::limits::RateLimiter;
use super::relay::{self, Relay, Relayed};
use super::{Hub, Phase};
use crate::auth::Connection;
use crate::outbox::{Outbox, OUTBOUND_QUEUE};
use crate::protocol::message::{ClientMessage, Meta, ServerMessage, SharedVersion, Version};
use crate::session::Session;
use crate::telemetry;

/// Bytes of replies gathered into one write (one syscall over TCP, one flush over a WebSocket).
pub const WRITE_BATCH: usize = 64 * 1024;
/// How long a closing connection may take to write its last replies.
pub const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// One thing a connection's reader got from its peer.
#[derive(Debug)]
pub enum Input {
    /// A message, counted against the rate limit: what it asks, or its error code and sentence.
    Message(Result<Request, (&'static str, String)>),
    /// A malformed message that was skipped (not counted): its error code and sentence.
    Rejected(&'static str, String),
    /// The stream cannot go on: this error, then the connection closes.
    Fatal(&'static str, String),
    /// Nothing for the session (a blank line, a ping).
    Nothing,
    /// The connection ends.
    End(Ending),
    /// The player's table was handed to another node (the connection's own, not a reader's).
    Moved(std::sync::Arc<crate::table::Moved>),
}

/// What a message asks of the connection.
#[derive(Debug)]
pub enum Request {
    /// Something for the session, with what travels beside it.
    Client(ClientMessage, Meta),
    /// A reply the framing gives itself (line mode's `/help`), in order with the others.
    Answer(ServerMessage),
    /// Close with this goodbye, after what the player's earlier messages caused (`/quit`).
    Quit(ServerMessage),
}

/// Why a connection ended, for the writer's last words (a WebSocket close frame).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The peer closed it or it failed, or the server closed it after a last message.
    Closed,
    /// The client does not read its replies.
    Overflow,
    /// Nothing (not even a pong) arrived for too long.
    Idle,
    /// The server is shutting down.
    Shutdown,
    /// The connection is handed over to a relay to the node that serves its table (see
    /// [`super::relay`]): the writer writes what is queued and hands its socket back.
    Relay,
}

/// The reading half of a transport: how what arrives becomes [`Input`]s.
pub trait Reader: Send {
    /// The next input already received, without waiting.
    fn buffered(&mut self) -> Option<Input>;

    /// Waits for more from the peer: `Some` is an input the wait itself produced (a message,
    /// a timeout, the end), `None` means more bytes are buffered for [`Reader::buffered`].
    /// Cancel-safe: the connection waits on its outbox and the server's phase meanwhile.
    fn receive(&mut self) -> impl Future<Output = Option<Input>> + Send;

    /// Whether this connection can be relayed byte for byte to another node (GGS 1.0
    /// framing over TCP, with the last message's bytes kept): see [`super::relay`].
    fn relays(&self) -> bool {
        false
    }
}

/// The writing half of a transport: how replies become bytes or frames.
pub trait Writer: Send + 'static {
    /// Adds a message to the batch being written, rendered in `version`, the connection's
    /// version as it writes it (`None`: the client never offered one, so it is GGS 1.0 as in
    /// 2011); returns its size in bytes.
    fn push(&mut self, message: &ServerMessage, version: Option<Version>) -> usize;

    /// Writes the batch and empties it; an error ends the connection.
    fn send(&mut self) -> impl Future<Output = std::io::Result<()>> + Send;

    /// How often to ping the client while no replies are queued (`None`: never).
    fn keepalive(&self) -> Option<Duration> {
        None
    }

    /// Pings the client (see [`Writer::keepalive`]).
    fn ping(&mut self) -> impl Future<Output = std::io::Result<()>> + Send {
        async { Ok(()) }
    }

    /// Says goodbye as `ending` asks, and closes.
    fn close(self, ending: Ending) -> impl Future<Output = ()> + Send;
}

/// The `rate_limited` sentence.
pub fn rate_limited(per_second: u32) -> String {
    format!("more than {per_second} messages per second; this one was dropped")
}

/// The `frame_timeout` sentence.
pub fn frame_timeout(timeout: Duration) -> String {
    format!(
        "a message took longer than {} ms to arrive; closing the connection",
        timeout.as_millis()
    )
}

/// The last message of a connection the server closes because it shuts down.
pub fn shutdown() -> ServerMessage {
    ServerMessage::new("shutdown", "the server is shutting down")
}

/// Runs one connection of `transport` (`tcp` or `ws`, for the metrics) until either side ends
/// it, holding `alive` until then so a shutdown waits for its last words. `reader` builds the
/// transport's reader from the session's outbox (for a greeting) and the inbound byte counter.
/// `connection` is what the auth hook is told at each `hello` (peer, upgrade headers, identity).
///
/// A `hello` for a table another node of the cluster serves sends the client there
/// ([`relay::send_away`]); when the connection is to be relayed, the loop ends and the
/// reader and writer are handed back (`Some`) for the transport to pipe.
pub async fn run<R: Reader, W: Writer>(
    hub: Hub,
    alive: mpsc::Sender<()>,
    transport: &'static str,
    reader: impl FnOnce(&Outbox, metrics::Counter) -> R,
    writer: W,
    connection: Connection,
) -> Option<Relayed<R, W>> {
    let _alive = alive;
    let _counted = telemetry::ConnectionGuard::open(transport);
    let (bytes_in, bytes_out) = telemetry::bytes(transport);
    let mut phase = hub.phase.clone();
    let (outbox, rx, overflow) = Outbox::new(OUTBOUND_QUEUE);
    let (close_tx, close_rx) = oneshot::channel();
    let mut session = Session::new(outbox, hub.coordinator.clone(), hub.connected.clone());
    session.connected_by(connection);
    // The session negotiates the version; the writer renders every reply in it.
    let version = session.shared_version();
    let mut writer = tokio::spawn(write_loop(writer, rx, close_rx, bytes_out, version));
    let mut reader = reader(session.outbox(), bytes_in);
    let per_second = hub.limiter.settings().messages_per_second;
    let mut rate = RateLimiter::new(per_second);
    let mut relay: Option<Relay> = None;
    let ending = loop {
        let input = match reader.buffered() {
            Some(input) => input,
            None => tokio::select! {
                received = reader.receive() => match received {
                    Some(input) => input,
                    None => continue,
                },
                _ = overflow.wait() => {
                    tracing::info!(player = session.player(), "client does not read its replies; disconnecting");
                    break Ending::Overflow;
                }
                _ = phase.wait_for(|p| *p != Phase::Running) => break Ending::Shutdown,
                moved = session.relocated() => Input::Moved(moved),
            },
        };
        match input {
            Input::Nothing => {}
            Input::End(ending) => break ending,
            Input::Moved(moved) => {
                // The table was handed to another node: the client goes after it.
                relay = relay::follow(&session, &moved, transport, reader.relays()).await;
                break match relay {
                    Some(_) => Ending::Relay,
                    None => Ending::Closed,
                };
            }
            Input::Message(_) if !rate.allow() => {
                let why = rate_limited(per_second);
                session.error("rate_limited", &why).await
            }
            Input::Message(Ok(Request::Client(message, meta))) => {
                session.handle(message, meta).await;
                if let Some(away) = session.take_elsewhere() {
                    relay = relay::send_away(&session, away, transport, reader.relays()).await;
                    if relay.is_some() {
                        // What the player's earlier messages caused is written before the
                        // owner's first byte.
                        session.flushed().await;
                        break Ending::Relay;
                    }
                }
            }
            Input::Message(Ok(Request::Answer(message))) => session.reply(message).await,
            Input::Message(Ok(Request::Quit(bye))) => {
                session.flushed().await;
                session.outbox().deliver(bye);
                break Ending::Closed;
            }
            Input::Message(Err((code, detail))) | Input::Rejected(code, detail) => {
                session.error(code, &detail).await
            }
            Input::Fatal(code, detail) => {
                // Straight to the queue: nothing else will be sent on this connection.
                let error = ServerMessage::error(code, Some(&detail));
                session.outbox().deliver(error);
                break Ending::Closed;
            }
        }
    };
    let reader = match relay {
        Some(_) => Some(reader),
        None => {
            drop(reader);
            None
        }
    };
    if ending == Ending::Idle {
        tracing::debug!(player = session.player(), "{transport} idle; disconnecting");
    }
    if ending == Ending::Shutdown {
        // Let the tables commit what this player sent, then say goodbye.
        let _ = phase.wait_for(|p| *p == Phase::Closing).await;
        session.outbox().deliver(shutdown());
    }
    drop(session);
    let _ = close_tx.send(ending);
    match tokio::time::timeout(CLOSE_GRACE, &mut writer).await {
        Ok(Ok(Some(writer))) => Some(Relayed {
            reader: reader?,
            writer,
            relay: relay?,
        }),
        Ok(_) => None,
        Err(_) => {
            // A client that does not read keeps the writer stuck on a full socket: give up on
            // it.
            writer.abort();
            None
        }
    }
}

/// Writes queued replies, up to [`WRITE_BATCH`] bytes per write, and pings while idle if the
/// transport wants it. On `close`, writes what is queued, says goodbye and stops.
///
/// Each reply is rendered in the connection's `version` as it is taken from the queue. The
/// session changes it when it reads a message offering versions, before it does what the
/// message asks, so that message's replies and all later ones are in the new version (and so
/// is anything still queued from before: a client that fell back to 1.0 is never sent a header
/// it does not know).
async fn write_loop<W: Writer>(
    mut writer: W,
    mut rx: mpsc::Receiver<ServerMessage>,
    mut close: oneshot::Receiver<Ending>,
    bytes_out: metrics::Counter,
    version: SharedVersion,
) -> Option<W> {
    let mut closing: Option<Ending> = None;
    let mut ping = writer
        .keepalive()
        .map(|every| tokio::time::interval_at(Instant::now() + every, every));
    loop {
        let first = if closing.is_some() {
            match rx.try_recv() {
                Ok(m) => m,
                Err(_) => break,
            }
        } else {
            tokio::select! {
                m = rx.recv() => match m { Some(m) => m, None => break },
                c = &mut close => { closing = Some(c.unwrap_or(Ending::Closed)); continue; }
                _ = async { ping.as_mut()?.tick().await; Some(()) }, if ping.is_some() => {
                    if writer.ping().await.is_err() {
                        return None;
                    }
                    continue;
                }
            }
        };
        let mut written = writer.push(&first, version.get());
        while written < WRITE_BATCH {
            match rx.try_recv() {
                Ok(m) => written += writer.push(&m, version.get()),
                Err(_) => break,
            }
        }
        if writer.send().await.is_err() {
            return None;
        }
        bytes_out.increment(written as u64);
    }
    match closing {
        // Everything queued is written: the socket goes to the relay.
        Some(Ending::Relay) => Some(writer),
        closing => {
            writer.close(closing.unwrap_or(Ending::Closed)).await;
            None
        }
    }
}
