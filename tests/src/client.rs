//! One blocking test client for every way a player reaches the server: GGS 1.0 frames
//! ([`Client`](crate::Client)), line mode ([`LineClient`](crate::LineClient)) and the WebSocket JSON mapping
//! ([`WsClient`](crate::WsClient)). A [`Framing`] turns bytes into messages; everything else —
//! the timed read, the names in assertion messages, the `expect*` vocabulary — is written once
//! here, and it explains what arrived instead of what was expected. A client speaks GGS 1.0
//! unless it offers versions ([`RequestMeta`]); GGS 1.1's resumable session is
//! [`Resumable`](crate::Resumable).

use std::fmt;
use std::io::{self, Read};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::wire::{Hello, Reply, ReplyMeta, WireError};

/// How long [`Conn::recv`] and the `expect` helpers wait for a message.
pub const RECV_TIMEOUT: Duration = Duration::from_secs(10);

/// Shortest read timeout set on a socket (a zero timeout means "block forever" to the OS).
const MIN_READ_TIMEOUT: Duration = Duration::from_millis(1);

/// How a wire error about a connection closed in the middle of a message begins (a server that
/// died while it wrote, not a malformed reply).
pub const CLOSED_MID_REPLY: &str = "the connection closed in the middle of a reply";

/// Bytes read from a TCP socket at once.
const READ_CHUNK: usize = 16 * 1024;

/// Why no message could be read.
#[derive(Debug)]
pub enum RecvError {
    /// Nothing complete arrived in time.
    Timeout,
    /// The server closed the connection (cleanly or by a reset) between messages.
    Closed,
    /// The bytes received are not a well-formed message (including a connection closed
    /// mid-message).
    Wire(WireError),
    /// Another I/O error.
    Io(io::Error),
}

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecvError::Timeout => write!(f, "no reply arrived in time"),
            RecvError::Closed => write!(f, "the server closed the connection"),
            RecvError::Wire(e) => write!(f, "{e}"),
            RecvError::Io(e) => write!(f, "I/O error: {e}"),
        }
    }
}

impl std::error::Error for RecvError {}

/// How one transport frames messages: the only part that differs between the clients.
pub trait Framing {
    /// What one message from the server is.
    type Message: fmt::Debug;
    /// What the messages are called in assertion messages ("a reply", "a line").
    const WHAT: &'static str;

    /// The socket, whose read timeout [`Conn::try_recv`] sets before each [`Framing::fill`].
    fn socket(&self) -> &TcpStream;
    /// A whole message already received, if there is one.
    fn take(&mut self) -> Result<Option<Self::Message>, RecvError>;
    /// Reads from the socket once (blocking up to its read timeout); `Ok(false)` when the
    /// server closed the connection.
    fn fill(&mut self) -> io::Result<bool>;
    /// Why the stream ended: [`RecvError::Closed`], or a wire error if it ended mid-message.
    fn ended(&self) -> RecvError {
        RecvError::Closed
    }
    /// Sends bytes as they are (as one text message on a WebSocket).
    fn write(&mut self, bytes: &[u8]) -> io::Result<()>;
    /// Closes the connection so the server sees the player leave.
    fn close(&mut self);
}

/// A framing whose messages are replies (`command` + `body`): GGS 1.0 and WebSocket JSON, both
/// carrying the same client messages.
pub trait ReplyFraming: Framing<Message = Reply> {
    /// Appends the bytes of one client message with GGS 1.1's fields beside it to `out`.
    fn encode_meta_into(message: &Request<'_>, meta: &RequestMeta<'_>, out: &mut Vec<u8>);

    /// Appends the bytes of one client message (GGS 1.0: nothing beside it) to `out`.
    fn encode_into(message: &Request<'_>, out: &mut Vec<u8>) {
        Self::encode_meta_into(message, &RequestMeta::default(), out)
    }

    /// The bytes of one client message.
    fn encode(message: &Request<'_>) -> Vec<u8> {
        let mut out = Vec::new();
        Self::encode_into(message, &mut out);
        out
    }

    /// The bytes of one client message with GGS 1.1's fields beside it.
    fn encode_meta(message: &Request<'_>, meta: &RequestMeta<'_>) -> Vec<u8> {
        let mut out = Vec::new();
        Self::encode_meta_into(message, meta, &mut out);
        out
    }

    /// What the last reply taken carried beside its command and body.
    fn meta(&self) -> &ReplyMeta;
}

/// The versions a GGS 1.1 client offers (`GGS-Versions: 1.0 1.1`, JSON `"versions"`).
pub const VERSIONS_1_1: &[&str] = &["1.0", "1.1"];

/// GGS 1.1's fields beside a client message; the default (all absent) is a GGS 1.0 message.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestMeta<'a> {
    /// `GGS-Versions`: the versions the client speaks (none sent when empty).
    pub versions: &'a [&'a str],
    /// `Ack: n`: the highest `Msg` received.
    pub ack: Option<u64>,
    /// `Seq: n` (on a game command): the client's number for the command.
    pub seq: Option<u64>,
}

/// A message from a player, in the terms both reply framings share.
#[derive(Debug, Clone, Copy)]
pub enum Request<'a> {
    /// `hello`: create a table (`table` `None`) or join one; `token` takes back a held seat.
    Hello {
        /// The table to join.
        table: Option<&'a str>,
        /// The resume token of the seat to take back (the first field of its `hello` reply).
        token: Option<&'a str>,
    },
    /// `whoami`: ask for the player's public id.
    Whoami,
    /// `define` with a game script.
    Define(&'a str),
    /// A game command and its arguments.
    Command(&'a str, &'a str),
    /// GGS 1.1 `Server-Command: ack` with `Ack: n`: an acknowledgement alone.
    Ack(u64),
}

/// One connection to the server. The `expect*` and `recv` methods panic with a message naming
/// the client (see [`Conn::named`]) when the server does not answer as expected.
pub struct Conn<F> {
    framing: F,
    name: String,
}

impl<F: Framing> Conn<F> {
    /// Wraps a connected framing; `name` is used in assertion messages.
    pub fn with_framing(framing: F, name: String) -> Conn<F> {
        Conn { framing, name }
    }

    /// Gives the client a name used in assertion messages.
    pub fn named(mut self, name: &str) -> Conn<F> {
        self.name = name.to_string();
        self
    }

    /// The client's name in assertion messages.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Sends raw bytes as they are.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.framing
            .write(bytes)
            .unwrap_or_else(|e| panic!("{}: write failed: {e}", self.name));
    }

    /// Sends raw bytes, returning a write error instead of panicking (for clients of a server
    /// that may be killed while they write).
    pub fn try_send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.framing.write(bytes)
    }

    /// Reads the next message, waiting at most `timeout`.
    pub fn try_recv(&mut self, timeout: Duration) -> Result<F::Message, RecvError> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(message) = self.framing.take()? {
                return Ok(message);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(RecvError::Timeout);
            }
            self.framing
                .socket()
                .set_read_timeout(Some(left.max(MIN_READ_TIMEOUT)))
                .map_err(RecvError::Io)?;
            match self.framing.fill() {
                Ok(true) => {}
                Ok(false) => return Err(self.framing.ended()),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return Err(RecvError::Timeout)
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {
                    return Err(self.framing.ended())
                }
                Err(e) => return Err(RecvError::Io(e)),
            }
        }
    }

    /// Reads the next message; panics if none arrives within [`RECV_TIMEOUT`] or it is
    /// malformed.
    #[track_caller]
    pub fn recv(&mut self) -> F::Message {
        self.recv_expecting(F::WHAT)
    }

    /// The next message if one arrives within `timeout`; panics if the stream is malformed or
    /// closed.
    #[track_caller]
    pub fn recv_within(&mut self, timeout: Duration) -> Option<F::Message> {
        match self.try_recv(timeout) {
            Ok(message) => Some(message),
            Err(RecvError::Timeout) => None,
            Err(e) => panic!("{}: {e}", self.name),
        }
    }

    #[track_caller]
    fn recv_expecting(&mut self, what: &str) -> F::Message {
        match self.try_recv(RECV_TIMEOUT) {
            Ok(message) => message,
            Err(e) => panic!("{}: expected {what}, but {e}", self.name),
        }
    }

    /// Expects no message during `wait`.
    #[track_caller]
    pub fn expect_nothing(&mut self, wait: Duration) {
        match self.try_recv(wait) {
            Err(RecvError::Timeout) => {}
            Ok(message) => panic!("{}: expected nothing, got {message:?}", self.name),
            Err(e) => panic!("{}: expected nothing, but {e}", self.name),
        }
    }

    /// Expects the server to close the connection (within [`RECV_TIMEOUT`]) with no further
    /// message.
    #[track_caller]
    pub fn expect_closed(&mut self) {
        match self.try_recv(RECV_TIMEOUT) {
            Err(RecvError::Closed) => {}
            Ok(message) => panic!(
                "{}: expected the connection to close, got {message:?}",
                self.name
            ),
            Err(e) => panic!("{}: expected the connection to close, but {e}", self.name),
        }
    }

    /// Closes the connection so the server sees the player leave.
    pub fn close(mut self) {
        self.framing.close();
    }

    /// The framing, to ask it what only it knows.
    pub fn framing(&self) -> &F {
        &self.framing
    }

    /// The framing, for a test that goes on below the client.
    pub fn into_framing(self) -> F {
        self.framing
    }
}

impl<F: ReplyFraming> Conn<F> {
    /// Sends a client message without waiting for anything.
    pub fn request(&mut self, message: Request<'_>) {
        let bytes = F::encode(&message);
        self.send_raw(&bytes);
    }

    /// Sends a client message with GGS 1.1's fields beside it, returning a write error instead
    /// of panicking.
    pub fn try_request_meta(
        &mut self,
        message: Request<'_>,
        meta: &RequestMeta<'_>,
    ) -> io::Result<()> {
        let bytes = F::encode_meta(&message, meta);
        self.try_send_raw(&bytes)
    }

    /// Sends a client message with GGS 1.1's fields beside it.
    pub fn request_meta(&mut self, message: Request<'_>, meta: &RequestMeta<'_>) {
        self.try_request_meta(message, meta)
            .unwrap_or_else(|e| panic!("{}: write failed: {e}", self.name));
    }

    /// What the last reply received carried beside its command and body (its version, and
    /// GGS 1.1's `Msg` and `Seq`).
    pub fn last_meta(&self) -> &ReplyMeta {
        self.framing.meta()
    }

    /// Reads the next reply and what it carried beside its command and body, waiting at most
    /// `timeout`.
    pub fn try_recv_meta(&mut self, timeout: Duration) -> Result<(Reply, ReplyMeta), RecvError> {
        let reply = self.try_recv(timeout)?;
        Ok((reply, self.framing.meta().clone()))
    }

    /// Says hello offering `versions` and returns the parsed `hello` reply (which must be the
    /// next reply) and what it carried beside its body (the version chosen, `Seq`).
    #[track_caller]
    pub fn hello_offering(&mut self, table: Option<&str>, versions: &[&str]) -> (Hello, ReplyMeta) {
        let meta = RequestMeta {
            versions,
            ..RequestMeta::default()
        };
        self.request_meta(Request::Hello { table, token: None }, &meta);
        let body = self.expect_cmd("hello");
        let hello = Hello::parse(&body).unwrap_or_else(|e| panic!("{}: {e}", self.name));
        (hello, self.last_meta().clone())
    }

    /// Sends `hello` (create a table with `None`, join one with `Some(id)`) without waiting.
    pub fn send_hello(&mut self, table: Option<&str>) {
        self.request(Request::Hello { table, token: None });
    }

    /// Says hello and returns the parsed `hello` reply (which must be the next reply).
    #[track_caller]
    pub fn hello(&mut self, table: Option<&str>) -> Hello {
        self.send_hello(table);
        let body = self.expect_cmd("hello");
        Hello::parse(&body).unwrap_or_else(|e| panic!("{}: {e}", self.name))
    }

    /// Takes back a held seat: `hello` with the player's resume token and the table id.
    /// Returns the parsed `hello` reply (which must be the next reply) and panics unless it
    /// carries the same token and table.
    #[track_caller]
    pub fn resume(&mut self, table: &str, token: &str) -> Hello {
        self.request(Request::Hello {
            table: Some(table),
            token: Some(token),
        });
        let body = self.expect_cmd("hello");
        let hello = Hello::parse(&body).unwrap_or_else(|e| panic!("{}: {e}", self.name));
        assert!(
            hello.token == token && hello.table == table,
            "{}: resuming with token {token} at table {table} got hello {body:?}",
            self.name
        );
        hello
    }

    /// Tries to take back a seat with `token` and expects the refusal: `error bad_token`.
    #[track_caller]
    pub fn resume_refused(&mut self, table: &str, token: &str) {
        self.request(Request::Hello {
            table: Some(table),
            token: Some(token),
        });
        self.expect_error("bad_token");
    }

    /// The player's public id (`whoami`; the next reply must be its answer). Before the first
    /// `hello` it is the id a new seat gets.
    #[track_caller]
    pub fn whoami(&mut self) -> String {
        self.request(Request::Whoami);
        self.expect_cmd("whoami")
    }

    /// Sends `define` with a game script, without waiting for `defined`.
    pub fn define(&mut self, source: &str) {
        self.request(Request::Define(source));
    }

    /// Defines a script and expects `defined` `ok` as the next reply.
    #[track_caller]
    pub fn define_ok(&mut self, source: &str) {
        self.define(source);
        self.expect("defined", "ok");
    }

    /// Sends a game command, without waiting for anything.
    pub fn command(&mut self, command: &str, args: &str) {
        self.request(Request::Command(command, args));
    }

    /// Expects the next reply to be exactly `command` with `body`.
    #[track_caller]
    pub fn expect(&mut self, command: &str, body: &str) {
        let reply = self.recv_expecting(&format!("{command} {body:?}"));
        if reply.command != command || reply.body != body {
            panic!(
                "{}: expected {command} {body:?}\n            got      {reply}",
                self.name
            );
        }
    }

    /// Expects the next reply to be `command` and returns its body.
    #[track_caller]
    pub fn expect_cmd(&mut self, command: &str) -> String {
        let reply = self.recv_expecting(command);
        if reply.command != command {
            panic!("{}: expected a {command} reply, got {reply}", self.name);
        }
        reply.body
    }

    /// Expects an `error` reply whose body is `code` or `code <sentence>`; returns the sentence
    /// (empty if there is none).
    #[track_caller]
    pub fn expect_error(&mut self, code: &str) -> String {
        let body = self.expect_cmd("error");
        if body == code {
            return String::new();
        }
        match body.strip_prefix(code).and_then(|r| r.strip_prefix(' ')) {
            Some(sentence) if !sentence.is_empty() => sentence.to_string(),
            _ => panic!(
                "{}: expected an error with code {code:?}, got error {body:?}",
                self.name
            ),
        }
    }
}

/// A TCP connection and the bytes received but not yet taken: what the GGS 1.0 and line
/// framings share.
pub struct TcpBytes {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl TcpBytes {
    /// Connects (with `TCP_NODELAY`, as a game client would).
    #[track_caller]
    pub fn connect(addr: SocketAddr) -> TcpBytes {
        Self::try_connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"))
    }

    /// Connects (with `TCP_NODELAY`), returning the error if the connection fails.
    pub fn try_connect(addr: SocketAddr) -> io::Result<TcpBytes> {
        let stream = TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        Ok(TcpBytes {
            stream,
            buf: Vec::with_capacity(READ_CHUNK),
        })
    }

    /// The socket.
    pub fn socket(&self) -> &TcpStream {
        &self.stream
    }

    /// The socket, to write to.
    pub fn stream(&mut self) -> &mut TcpStream {
        &mut self.stream
    }

    /// The socket itself (whatever was received and not yet taken is dropped).
    pub fn into_stream(self) -> TcpStream {
        self.stream
    }

    /// The bytes received and not yet taken.
    pub fn buffered(&self) -> &[u8] {
        &self.buf
    }

    /// Drops the first `n` buffered bytes (a message taken).
    pub fn consume(&mut self, n: usize) {
        self.buf.drain(..n);
    }

    /// Reads once from the socket into the buffer; `Ok(false)` at the end of the stream.
    pub fn fill(&mut self) -> io::Result<bool> {
        let mut chunk = [0u8; READ_CHUNK];
        let n = self.stream.read(&mut chunk)?;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n > 0)
    }

    /// Shuts the connection down in both directions.
    pub fn close(&mut self) {
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}
