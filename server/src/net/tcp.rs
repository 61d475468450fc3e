//! The TCP port: accepts connections and runs each as a session, in GGS 1.0 framing or, for a
//! person at `telnet` or `nc`, in the human line mode.
//!
//! The first bytes decide ([`line::detect`]): GGS 1.0 clients always begin with a header line
//! `Name: value`; anything else is line mode, which is greeted. Per connection: a reader loop
//! (bytes -> frames or lines -> client messages -> session) and a writer task (session outbox
//! -> exact GGS 1.0 replies, or readable lines -> socket). A message the decoder can skip gets
//! an `error` reply and the connection carries on; one it cannot resynchronise after gets the
//! error, then the connection closes. Nothing a connection sends affects another. Both modes
//! share the same bounds: rate, frame timeout, outbound queue.

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
use crate::outbox::{Outbox, OUTBOUND_QUEUE};
use crate::protocol::ggs10::{encode_reply, Decoded, Decoder};
use crate::protocol::line::{self, Input, LineDecoder, Mode};
use crate::protocol::message::{ClientMessage, ServerMessage};
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

/// How the bytes of a connection are split into messages.
enum Framing {
    /// The first bytes have not told the mode yet.
    Detecting,
    /// GGS 1.0 frames.
    Ggs10(Decoder),
    /// Lines, for people.
    Line(LineDecoder),
}

/// What the next complete message of a connection is.
enum Incoming {
    /// A message, counted against the rate limit: what it asks, or its error code and sentence.
    Message(Result<Request, (&'static str, String)>),
    /// A malformed message that was skipped: its error code and sentence.
    Rejected(&'static str, String),
    /// The stream cannot be resynchronised: the error, then the connection closes.
    Fatal(&'static str, String),
    /// A blank line in line mode.
    Nothing,
}

/// What a message asks of the connection.
enum Request {
    /// Something for the session.
    Client(ClientMessage),
    /// Line mode's `/help`.
    Help,
    /// Line mode's `/quit`.
    Quit,
}

impl Framing {
    /// The next complete message in `buf`, deciding the mode first if needed; `None` until more
    /// bytes arrive. `greet` is told the mode once it is known.
    fn next(
        &mut self,
        buf: &mut BytesMut,
        max_body: usize,
        greet: &mut impl FnMut(Mode),
    ) -> Option<Incoming> {
        if let Framing::Detecting = self {
            let mode = line::detect(buf)?;
            *self = match mode {
                Mode::Ggs10 => Framing::Ggs10(Decoder::new(max_body)),
                Mode::Line => Framing::Line(LineDecoder::new()),
            };
            greet(mode);
        }
        match self {
            Framing::Detecting => None,
            Framing::Ggs10(decoder) => Some(match decoder.decode(buf) {
                Ok(None) => return None,
                Ok(Some(Decoded::Frame(frame))) => Incoming::Message(
                    ClientMessage::from_frame(&frame)
                        .map(Request::Client)
                        .map_err(|e| (e.code(), e.to_string())),
                ),
                Ok(Some(Decoded::Rejected(e))) => Incoming::Rejected(e.code(), e.to_string()),
                Err(e) => Incoming::Fatal(e.code(), format!("{e}; closing the connection")),
            }),
            Framing::Line(decoder) => Some(match decoder.decode(buf)? {
                Ok(Input::Empty) => Incoming::Nothing,
                // The body limit bounds a line's arguments as it bounds a GGS 1.0 body.
                Ok(Input::Message(ClientMessage::Game { args, .. })) if args.len() > max_body => {
                    let why = format!(
                        "the arguments of {} bytes are larger than the limit of {max_body} bytes",
                        args.len()
                    );
                    Incoming::Rejected("body_too_large", why)
                }
                Ok(Input::Message(message)) => Incoming::Message(Ok(Request::Client(message))),
                Ok(Input::Help) => Incoming::Message(Ok(Request::Help)),
                Ok(Input::Quit) => Incoming::Message(Ok(Request::Quit)),
                Err(e @ line::LineError::TooLong) => Incoming::Rejected(e.code(), e.to_string()),
                Err(e) => Incoming::Message(Err((e.code(), e.to_string()))),
            }),
        }
    }

    /// Whether a message has begun but not ended (for the frame timeout).
    fn is_partial(&self, buf: &BytesMut) -> bool {
        match self {
            Framing::Line(decoder) => decoder.is_partial() || !buf.is_empty(),
            _ => !buf.is_empty(),
        }
    }
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
    let (mode_tx, mode_rx) = oneshot::channel();
    let writer = tokio::spawn(write_loop(writer, rx, close_rx, bytes_out, mode_rx));
    let mut session = Session::new(outbox, hub.coordinator.clone(), hub.connected.clone());
    let mut framing = Framing::Detecting;
    let mut mode_tx = Some(mode_tx);
    let greeter = session.outbox().clone();
    let mut greet = move |mode: Mode| {
        // The writer learns the mode before the first reply reaches the queue.
        if let Some(tx) = mode_tx.take() {
            let _ = tx.send(mode);
        }
        if mode == Mode::Line {
            greeter.deliver(line::greeting());
        }
    };
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
        while let Some(incoming) = framing.next(&mut buf, hub.max_body, &mut greet) {
            match incoming {
                Incoming::Nothing => {}
                Incoming::Message(_) if !rate.allow() => session.error(
                    "rate_limited",
                    &format!(
                        "more than {} messages per second; this one was dropped",
                        settings.messages_per_second
                    ),
                ),
                Incoming::Message(Ok(Request::Client(message))) => session.handle(message).await,
                Incoming::Message(Ok(Request::Help)) => session.reply(line::help()),
                Incoming::Message(Ok(Request::Quit)) => {
                    session.flushed().await;
                    session.outbox().deliver(line::bye());
                    break 'read;
                }
                Incoming::Message(Err((code, detail))) | Incoming::Rejected(code, detail) => {
                    session.error(code, &detail)
                }
                Incoming::Fatal(code, detail) => {
                    // Straight to the queue: nothing else will be sent on this connection.
                    session
                        .outbox()
                        .deliver(ServerMessage::error(code, Some(&detail)));
                    break 'read;
                }
            }
        }
        partial_since = match (framing.is_partial(&buf), partial_since) {
            (false, _) => None,
            (true, None) => Some(Instant::now()),
            (true, since) => since,
        };
    }
    drop(greet);
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
    mut mode: oneshot::Receiver<Mode>,
) {
    let mut out = BytesMut::with_capacity(WRITE_BATCH);
    let mut closing = false;
    // Known before the first reply of a detected connection; GGS 1.0 when the connection
    // ended (a timeout, a shutdown) before its first bytes told.
    let mut encoder: Option<fn(&ServerMessage, &mut BytesMut)> = None;
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
        let encode = *encoder.get_or_insert_with(|| match mode.try_recv() {
            Ok(Mode::Line) => line::encode,
            _ => |m: &ServerMessage, out: &mut BytesMut| encode_reply(&m.command, &m.body, out),
        });
        encode(&first, &mut out);
        while out.len() < WRITE_BATCH {
            match rx.try_recv() {
                Ok(m) => encode(&m, &mut out),
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
