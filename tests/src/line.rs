//! Line-mode framing (one line per message, as a person at `nc` types) for the shared test
//! [`Conn`], and the line-specific assertions.

use std::io::{self, Write};
use std::net::{SocketAddr, TcpStream};

use crate::client::{Conn, Framing, RecvError, TcpBytes};
use crate::wire::{is_uuid, Hello};

/// Line framing: messages end with LF (an optional CR before it is dropped).
pub struct Lines(TcpBytes);

/// One line-mode connection.
pub type LineClient = Conn<Lines>;

impl Framing for Lines {
    type Message = String;
    const WHAT: &'static str = "a line";

    fn socket(&self) -> &TcpStream {
        self.0.socket()
    }

    fn take(&mut self) -> Result<Option<String>, RecvError> {
        let Some(end) = self.0.buffered().iter().position(|&b| b == b'\n') else {
            return Ok(None);
        };
        let text = String::from_utf8_lossy(&self.0.buffered()[..end]);
        let line = text.strip_suffix('\r').unwrap_or(&text).to_string();
        self.0.consume(end + 1);
        Ok(Some(line))
    }

    fn fill(&mut self) -> io::Result<bool> {
        self.0.fill()
    }

    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.0.stream().write_all(bytes)
    }

    fn close(&mut self) {
        self.0.close();
    }
}

impl LineClient {
    /// Connects to the TCP port.
    #[track_caller]
    pub fn connect(addr: SocketAddr) -> LineClient {
        Conn::with_framing(
            Lines(TcpBytes::connect(addr)),
            format!("line client {addr}"),
        )
    }

    /// Sends one line, ended by LF.
    pub fn send(&mut self, line: &str) {
        self.send_raw(format!("{line}\n").as_bytes());
    }

    /// Expects the next line to be exactly `line`.
    #[track_caller]
    pub fn expect(&mut self, line: &str) {
        let got = self.recv();
        assert_eq!(got, line, "{}: unexpected line", self.name());
    }

    /// Expects the next line to start with `prefix`; returns the line.
    #[track_caller]
    pub fn expect_prefix(&mut self, prefix: &str) -> String {
        let got = self.recv();
        assert!(
            got.starts_with(prefix),
            "{}: expected a line starting with {prefix:?}, got {got:?}",
            self.name()
        );
        got
    }

    /// Expects line mode's `hello <token>,<defined>,<table>,<player>` line: the GGS 1.0
    /// fields, checked as strictly, and the player's public id.
    #[track_caller]
    pub fn expect_hello(&mut self) -> (Hello, String) {
        let line = self.expect_prefix("hello ");
        let body = &line["hello ".len()..];
        let (fields, player) = body.rsplit_once(',').unwrap_or_else(|| {
            panic!("{}: a hello line without its fields: {line:?}", self.name())
        });
        let hello =
            Hello::parse(fields).unwrap_or_else(|e| panic!("{}: {e}: {line:?}", self.name()));
        assert!(
            is_uuid(player),
            "{}: the public id in {line:?}",
            self.name()
        );
        (hello, player.to_string())
    }
}
