//! A blocking client of the human line mode (one line per message), with assertions that say
//! what arrived instead of what was expected.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::client::{RecvError, RECV_TIMEOUT};

/// One line-mode connection, as a person at `nc` has.
pub struct LineClient {
    stream: TcpStream,
    buf: Vec<u8>,
    name: String,
}

impl LineClient {
    /// Connects to the TCP port.
    pub fn connect(addr: SocketAddr) -> LineClient {
        let stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
        stream.set_nodelay(true).expect("set_nodelay");
        LineClient {
            stream,
            buf: Vec::new(),
            name: format!("line client {addr}"),
        }
    }

    /// Gives the client a name used in assertion messages.
    pub fn named(mut self, name: &str) -> LineClient {
        self.name = name.to_string();
        self
    }

    /// The client's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Sends raw bytes as they are.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream
            .write_all(bytes)
            .unwrap_or_else(|e| panic!("{}: write failed: {e}", self.name));
    }

    /// Sends one line, ended by LF.
    pub fn send(&mut self, line: &str) {
        self.send_raw(format!("{line}\n").as_bytes());
    }

    /// The next line (without its line end), waiting at most `timeout`.
    pub fn try_recv(&mut self, timeout: Duration) -> Result<String, RecvError> {
        let deadline = Instant::now() + timeout;
        let mut chunk = [0u8; 16 * 1024];
        loop {
            if let Some(end) = self.buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=end).collect();
                let text = String::from_utf8_lossy(&line[..end]);
                return Ok(text.strip_suffix('\r').unwrap_or(&text).to_string());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(RecvError::Timeout);
            }
            self.stream
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                .map_err(RecvError::Io)?;
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err(RecvError::Closed),
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
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {
                    return Err(RecvError::Closed)
                }
                Err(e) => return Err(RecvError::Io(e)),
            }
        }
    }

    /// The next line; panics if none arrives within [`RECV_TIMEOUT`].
    #[track_caller]
    pub fn recv(&mut self) -> String {
        match self.try_recv(RECV_TIMEOUT) {
            Ok(line) => line,
            Err(e) => panic!("{}: expected a line: {e}", self.name),
        }
    }

    /// Expects the next line to be exactly `line`.
    #[track_caller]
    pub fn expect(&mut self, line: &str) {
        let got = self.recv();
        assert_eq!(got, line, "{}: unexpected line", self.name);
    }

    /// Expects the next line to start with `prefix`; returns the line.
    #[track_caller]
    pub fn expect_prefix(&mut self, prefix: &str) -> String {
        let got = self.recv();
        assert!(
            got.starts_with(prefix),
            "{}: expected a line starting with {prefix:?}, got {got:?}",
            self.name
        );
        got
    }

    /// Expects no line during `wait`.
    #[track_caller]
    pub fn expect_nothing(&mut self, wait: Duration) {
        match self.try_recv(wait) {
            Err(RecvError::Timeout) => {}
            Ok(line) => panic!("{}: expected nothing, got {line:?}", self.name),
            Err(e) => panic!("{}: expected nothing, but {e}", self.name),
        }
    }

    /// Expects the server to close the connection with no further line.
    #[track_caller]
    pub fn expect_closed(&mut self) {
        match self.try_recv(RECV_TIMEOUT) {
            Err(RecvError::Closed) => {}
            Ok(line) => panic!(
                "{}: expected the connection to close, got {line:?}",
                self.name
            ),
            Err(e) => panic!("{}: expected the connection to close, but {e}", self.name),
        }
    }

    /// Closes the connection (both directions).
    pub fn close(self) {
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}
