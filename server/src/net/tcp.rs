//! The TCP port: accepts connections and runs each as a session, in GGS 1.0 framing or, for a
//! person at `telnet` or `nc`, in the human line mode.
//!
//! The first bytes decide ([`line::detect`]): GGS 1.0 clients always begin with a header line
//! `Name: value`; anything else is line mode, which is greeted. This file is only the framing:
//! bytes -> frames or lines -> [`Input`]s, and replies -> exact GGS 1.0 replies or readable
//! lines, several per syscall; the connection itself is [`conn::run`]. A message the decoder
//! can skip gets an `error` reply and the connection carries on; one it cannot resynchronise
//! after gets the error, then the connection closes, as does a message that takes longer than
//! the frame timeout to arrive.

use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::time::{sleep_until, Instant};

use super::conn::{self, Ending, Input, Request, CLOSE_GRACE, WRITE_BATCH};
use super::limits::AdmitError;
use super::relay;
use super::Hub;
use crate::auth::Connection;
use crate::config::READ_CHUNK;
use crate::outbox::Outbox;
use crate::protocol::ggs10::{encode_reply, encode_server, Decoded, Decoder};
use crate::protocol::line::{self, Input as LineInput, LineDecoder, Mode};
use crate::protocol::message::{ClientMessage, Meta, ServerMessage, Version};

/// Accepts connections until the listener fails or the task is dropped.
pub async fn serve(listener: TcpListener, hub: Hub) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                // Another node relaying its clients: they are counted there.
                let member = hub
                    .coordinator
                    .cluster()
                    .is_some_and(|c| c.is_member_address(peer.ip()));
                let admission = match hub.limiter.admit_from(peer.ip(), member) {
                    Ok(admission) => admission,
                    Err(e) => {
                        tracing::info!(%peer, "connection refused: {e}");
                        tokio::spawn(refuse(stream, e));
                        continue;
                    }
                };
                let Some(alive) = hub.hold() else {
                    // The server is shutting down.
                    continue;
                };
                let hub = hub.clone();
                tokio::spawn(async move {
                    tracing::debug!(%peer, "connected");
                    connection(stream, hub, alive).await;
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
async fn refuse(mut stream: TcpStream, e: AdmitError) {
    let message = ServerMessage::error(e.code(), Some(&e.to_string()));
    let mut out = BytesMut::new();
    encode_reply(&message.command, &message.body, &mut out);
    let _ = tokio::time::timeout(CLOSE_GRACE, stream.write_all(&out)).await;
    let _ = stream.shutdown().await;
}

/// Runs one accepted connection until either side ends it.
async fn connection(stream: TcpStream, hub: Hub, alive: tokio::sync::mpsc::Sender<()>) {
    let peer = stream.peer_addr();
    let (read, write) = stream.into_split();
    let (mode_tx, mode_rx) = oneshot::channel();
    let writer = TcpWriter {
        stream: write,
        out: BytesMut::with_capacity(WRITE_BATCH),
        mode: mode_rx,
        encode: None,
    };
    let max_body = hub.max_body;
    let frame_timeout = hub.limiter.settings().frame_timeout;
    // A node of a cluster keeps each message's bytes, to relay a 2011 client byte for byte.
    let keep_raw = hub.coordinator.cluster().is_some();
    let phase = hub.phase.clone();
    let reader = move |outbox: &Outbox, bytes_in: metrics::Counter| TcpReader {
        stream: read,
        buf: BytesMut::with_capacity(READ_CHUNK),
        framing: Framing::Detecting,
        max_body,
        frame_timeout,
        partial_since: None,
        bytes_in,
        mode: Some(mode_tx),
        greeter: outbox.clone(),
        raw: keep_raw.then(BytesMut::new),
        last: BytesMut::new(),
    };
    let connection = Connection {
        peer: peer.ok(),
        ..Connection::default()
    };
    let Some(relayed) = conn::run(hub, alive, "tcp", reader, writer, connection).await else {
        return;
    };
    let TcpReader {
        stream,
        buf,
        last,
        raw,
        ..
    } = relayed.reader;
    let mut relay = relayed.relay;
    let pending = match &mut relay.resume {
        // After its table moved: the relay's own hello and what waited at the table, then
        // every byte the client sent since its last whole message. (`resume` stays set: the
        // pipe drops the reply to that hello.)
        Some(resume) => {
            let mut pending = std::mem::take(resume);
            pending.extend_from_slice(&raw.unwrap_or(buf));
            pending
        }
        // The client's hello as it came, then what it sent after it.
        None => {
            let mut pending = last;
            pending.extend_from_slice(&buf);
            pending
        }
    };
    relay::pipe(stream, pending, relayed.writer.stream, relay, phase).await;
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

impl Framing {
    /// The next complete message in `buf`, deciding the mode first if needed; `None` until more
    /// bytes arrive. `greet` is told the mode once it is known.
    fn next(
        &mut self,
        buf: &mut BytesMut,
        max_body: usize,
        greet: impl FnOnce(Mode),
    ) -> Option<Input> {
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
                Ok(Some(Decoded::Frame(frame))) => Input::Message(
                    ClientMessage::from_frame(&frame)
                        .map(|(message, meta)| Request::Client(message, meta))
                        .map_err(|e| (e.code(), e.to_string())),
                ),
                Ok(Some(Decoded::Rejected(e))) => Input::Rejected(e.code(), e.to_string()),
                Err(e) => Input::Fatal(e.code(), format!("{e}; closing the connection")),
            }),
            Framing::Line(decoder) => Some(match decoder.decode(buf)? {
                Ok(LineInput::Empty) => Input::Nothing,
                // The body limit bounds a line's arguments as it bounds a GGS 1.0 body.
                Ok(LineInput::Message(ClientMessage::Game { args, .. }))
                    if args.len() > max_body =>
                {
                    let why = format!(
                        "the arguments of {} bytes are larger than the limit of {max_body} bytes",
                        args.len()
                    );
                    Input::Rejected("body_too_large", why)
                }
                Ok(LineInput::Message(message)) => {
                    Input::Message(Ok(Request::Client(message, Meta::default())))
                }
                Ok(LineInput::WithMeta(message, meta)) => {
                    Input::Message(Ok(Request::Client(message, meta)))
                }
                Ok(LineInput::Help) => Input::Message(Ok(Request::Answer(line::help()))),
                Ok(LineInput::Quit) => Input::Message(Ok(Request::Quit(line::bye()))),
                Err(e @ line::LineError::TooLong) => Input::Rejected(e.code(), e.to_string()),
                Err(e) => Input::Message(Err((e.code(), e.to_string()))),
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

/// Bytes in, GGS 1.0 frames or lines out, with the frame timeout.
struct TcpReader {
    stream: OwnedReadHalf,
    buf: BytesMut,
    framing: Framing,
    max_body: usize,
    frame_timeout: Duration,
    /// When the message now arriving began (bytes are buffered but it is not complete).
    partial_since: Option<Instant>,
    bytes_in: metrics::Counter,
    /// Tells the writer the mode before the first reply reaches the queue.
    mode: Option<oneshot::Sender<Mode>>,
    /// Where line mode's greeting goes.
    greeter: Outbox,
    /// On a node of a cluster, in GGS 1.0 framing: the bytes read since the last message
    /// ended (their tail is `buf`), so the last message's bytes are known ([`TcpReader::last`]).
    raw: Option<BytesMut>,
    /// The bytes of the last message, exactly as they came (kept with `raw`).
    last: BytesMut,
}

/// Bytes of a message being skipped (over the body limit) that `raw` keeps beyond the body
/// limit: past that the message cannot be a `hello` to relay, and its bytes are let go.
const RAW_SLACK: usize = 64 * 1024;

impl TcpReader {
    /// Notes that a message ended: its bytes (read since the last one, less what is still
    /// buffered) become [`TcpReader::last`].
    fn message_ended(&mut self) {
        if let Some(raw) = &mut self.raw {
            let used = raw.len().saturating_sub(self.buf.len());
            self.last = raw.split_to(used);
        }
    }
}

impl conn::Reader for TcpReader {
    fn relays(&self) -> bool {
        matches!(self.framing, Framing::Ggs10(_)) && self.raw.is_some()
    }

    fn buffered(&mut self) -> Option<Input> {
        let TcpReader {
            framing,
            buf,
            mode,
            greeter,
            max_body,
            ..
        } = self;
        let greet = |detected: Mode| {
            if let Some(tx) = mode.take() {
                let _ = tx.send(detected);
            }
            if detected == Mode::Line {
                greeter.deliver(line::greeting());
            }
        };
        if let Some(input) = framing.next(buf, *max_body, greet) {
            match self.framing {
                Framing::Ggs10(_) => self.message_ended(),
                _ => self.raw = None,
            }
            return Some(input);
        }
        if let Some(raw) = &mut self.raw {
            let used = raw.len().saturating_sub(self.buf.len());
            if used > self.max_body + RAW_SLACK {
                let _ = raw.split_to(used);
            }
        }
        self.partial_since = match (self.framing.is_partial(&self.buf), self.partial_since) {
            (false, _) => None,
            (true, None) => Some(Instant::now()),
            (true, since) => since,
        };
        None
    }

    async fn receive(&mut self) -> Option<Input> {
        self.buf.reserve(READ_CHUNK);
        let timeout = self.frame_timeout;
        let deadline = self.partial_since.map(|t| t + timeout);
        tokio::select! {
            _ = sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                Some(Input::Fatal("frame_timeout", conn::frame_timeout(timeout)))
            }
            read = self.stream.read_buf(&mut self.buf) => match read {
                Ok(0) | Err(_) => Some(Input::End(Ending::Closed)),
                Ok(n) => {
                    self.bytes_in.increment(n as u64);
                    if let Some(raw) = &mut self.raw {
                        raw.extend_from_slice(&self.buf[self.buf.len() - n..]);
                    }
                    None
                }
            },
        }
    }
}

/// Replies to GGS 1.0 framed replies (exactly the 2011 bytes in 1.0), or to lines in line mode.
struct TcpWriter {
    stream: OwnedWriteHalf,
    out: BytesMut,
    mode: oneshot::Receiver<Mode>,
    /// Known before the first reply of a detected connection; GGS 1.0 when the connection
    /// ended (a timeout, a shutdown) before its first bytes told.
    encode: Option<fn(&ServerMessage, Version, &mut BytesMut)>,
}

impl conn::Writer for TcpWriter {
    fn push(&mut self, message: &ServerMessage, version: Option<Version>) -> usize {
        let mode = &mut self.mode;
        let encode = *self.encode.get_or_insert_with(|| match mode.try_recv() {
            Ok(Mode::Line) => line::encode_as,
            _ => encode_server,
        });
        let before = self.out.len();
        encode(message, version.unwrap_or_default(), &mut self.out);
        self.out.len() - before
    }

    async fn send(&mut self) -> std::io::Result<()> {
        self.stream.write_all(&self.out).await?;
        self.out.clear();
        Ok(())
    }

    async fn close(mut self, _ending: Ending) {
        let _ = self.stream.shutdown().await;
    }
}
