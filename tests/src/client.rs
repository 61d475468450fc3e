//! A blocking GGS 1.0 test client over `std::net::TcpStream`, with assertions that explain
//! what arrived instead of what was expected.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::wire::{encode_message, parse_reply, Hello, Reply, WireError};

/// How long [`Client::recv`] and the `expect` helpers wait for a reply.
pub const RECV_TIMEOUT: Duration = Duration::from_secs(10);

/// Why no reply could be read.
#[derive(Debug)]
pub enum RecvError {
    /// Nothing complete arrived in time.
    Timeout,
    /// The server closed the connection (cleanly or by a reset) between replies.
    Closed,
    /// The bytes received are not a well-formed reply (including a connection closed mid-reply).
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

/// One GGS 1.0 connection. The `expect*` and `recv` methods panic with a message naming the
/// client (see [`Client::named`]) when the server does not answer as expected.
pub struct Client {
    stream: TcpStream,
    buf: Vec<u8>,
    name: String,
}

impl Client {
    /// Connects to a GGS 1.0 port.
    pub fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
        stream.set_nodelay(true).expect("set_nodelay");
        Client {
            stream,
            buf: Vec::with_capacity(16 * 1024),
            name: format!("client {}", addr),
        }
    }

    /// Gives the client a name used in assertion messages.
    pub fn named(mut self, name: &str) -> Client {
        self.name = name.to_string();
        self
    }

    /// The client's name in assertion messages.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Sends raw bytes as they are.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream
            .write_all(bytes)
            .unwrap_or_else(|e| panic!("{}: write failed: {e}", self.name));
    }

    /// Sends raw bytes, returning a write error instead of panicking (for clients of a server
    /// that may be killed while they write).
    pub fn try_send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Sends a message: the headers, then `Content-Length` of `body` in bytes, then the body.
    pub fn send(&mut self, headers: &[(&str, &str)], body: &[u8]) {
        let bytes = encode_message(headers, body);
        self.send_raw(&bytes);
    }

    /// Sends `hello` (create a table with `None`, join one with `Some(id)`) without waiting.
    pub fn send_hello(&mut self, table: Option<&str>) {
        self.send(
            &[("Server-Command", "hello")],
            table.unwrap_or("").as_bytes(),
        );
    }

    /// Says hello and returns the parsed `hello` reply (which must be the next reply).
    pub fn hello(&mut self, table: Option<&str>) -> Hello {
        self.send_hello(table);
        let body = self.expect_cmd("hello");
        Hello::parse(&body).unwrap_or_else(|e| panic!("{}: {e}", self.name))
    }

    /// Takes back a held seat: `hello` with `Token: <player>` and the table id as body.
    /// Returns the parsed `hello` reply (which must be the next reply) and panics unless it
    /// names the same player and table.
    #[track_caller]
    pub fn resume(&mut self, table: &str, player: &str) -> Hello {
        self.send(
            &[("Server-Command", "hello"), ("Token", player)],
            table.as_bytes(),
        );
        let body = self.expect_cmd("hello");
        let hello = Hello::parse(&body).unwrap_or_else(|e| panic!("{}: {e}", self.name));
        assert!(
            hello.player == player && hello.table == table,
            "{}: resuming player {player} at table {table} got hello {body:?}",
            self.name
        );
        hello
    }

    /// Sends `define` with a game script, without waiting for `defined`.
    pub fn define(&mut self, source: &str) {
        self.send(&[("Server-Command", "define")], source.as_bytes());
    }

    /// Defines a script and expects `defined` `ok` as the next reply.
    pub fn define_ok(&mut self, source: &str) {
        self.define(source);
        self.expect("defined", "ok");
    }

    /// Sends a game command, without waiting for anything.
    pub fn command(&mut self, command: &str, args: &str) {
        self.send(&[("Game-Command", command)], args.as_bytes());
    }

    /// Reads the next reply, waiting at most `timeout`.
    pub fn try_recv(&mut self, timeout: Duration) -> Result<Reply, RecvError> {
        let deadline = Instant::now() + timeout;
        let mut chunk = [0u8; 16 * 1024];
        loop {
            match parse_reply(&self.buf) {
                Ok(Some((reply, used))) => {
                    self.buf.drain(..used);
                    return Ok(reply);
                }
                Ok(None) => {}
                Err(e) => return Err(RecvError::Wire(e)),
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(RecvError::Timeout);
            }
            self.stream
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                .map_err(RecvError::Io)?;
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err(self.closed()),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return Err(RecvError::Timeout)
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return Err(self.closed()),
                Err(e) => return Err(RecvError::Io(e)),
            }
        }
    }

    fn closed(&self) -> RecvError {
        if self.buf.is_empty() {
            RecvError::Closed
        } else {
            RecvError::Wire(WireError(format!(
                "the connection closed in the middle of a reply: {:?}",
                String::from_utf8_lossy(&self.buf)
            )))
        }
    }

    /// Reads the next reply; panics if none arrives within [`RECV_TIMEOUT`] or it is malformed.
    pub fn recv(&mut self) -> Reply {
        match self.try_recv(RECV_TIMEOUT) {
            Ok(reply) => reply,
            Err(e) => panic!("{}: expected a reply: {e}", self.name),
        }
    }

    /// The next reply if one arrives within `timeout`; panics if the stream is malformed or closed.
    pub fn recv_within(&mut self, timeout: Duration) -> Option<Reply> {
        match self.try_recv(timeout) {
            Ok(reply) => Some(reply),
            Err(RecvError::Timeout) => None,
            Err(e) => panic!("{}: {e}", self.name),
        }
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

    #[track_caller]
    fn recv_expecting(&mut self, what: &str) -> Reply {
        match self.try_recv(RECV_TIMEOUT) {
            Ok(reply) => reply,
            Err(e) => panic!("{}: expected {what}, but {e}", self.name),
        }
    }

    /// Expects no reply during `wait`.
    #[track_caller]
    pub fn expect_nothing(&mut self, wait: Duration) {
        match self.try_recv(wait) {
            Err(RecvError::Timeout) => {}
            Ok(reply) => panic!("{}: expected nothing, got {reply}", self.name),
            Err(e) => panic!("{}: expected nothing, but {e}", self.name),
        }
    }

    /// Expects the server to close the connection (within [`RECV_TIMEOUT`]) with no further reply.
    #[track_caller]
    pub fn expect_closed(&mut self) {
        match self.try_recv(RECV_TIMEOUT) {
            Err(RecvError::Closed) => {}
            Ok(reply) => panic!(
                "{}: expected the connection to close, got {reply}",
                self.name
            ),
            Err(e) => panic!("{}: expected the connection to close, but {e}", self.name),
        }
    }

    /// Closes the connection (both directions) so the server sees the player leave.
    pub fn close(self) {
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}
