//! GGS 1.0 framing (client messages with headers and `Content-Length`, replies parsed strictly
//! by [`parse_reply`]) for the shared test [`Conn`], and the GGS 1.0-specific sends.

use std::io::{self, Write};
use std::net::{SocketAddr, TcpStream};

use crate::client::{Conn, Framing, RecvError, ReplyFraming, Request, TcpBytes};
use crate::wire::{encode_message, encode_message_into, parse_reply, Reply, WireError};

/// A GGS 1.0 connection.
pub type Client = Conn<Ggs10>;

/// GGS 1.0 framing.
pub struct Ggs10(TcpBytes);

impl Framing for Ggs10 {
    type Message = Reply;
    const WHAT: &'static str = "a reply";

    fn socket(&self) -> &TcpStream {
        self.0.socket()
    }

    fn take(&mut self) -> Result<Option<Reply>, RecvError> {
        match parse_reply(self.0.buffered()).map_err(RecvError::Wire)? {
            Some((reply, used)) => {
                self.0.consume(used);
                Ok(Some(reply))
            }
            None => Ok(None),
        }
    }

    fn fill(&mut self) -> io::Result<bool> {
        self.0.fill()
    }

    fn ended(&self) -> RecvError {
        if self.0.buffered().is_empty() {
            RecvError::Closed
        } else {
            RecvError::Wire(WireError(format!(
                "the connection closed in the middle of a reply: {:?}",
                String::from_utf8_lossy(self.0.buffered())
            )))
        }
    }

    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.0.stream().write_all(bytes)
    }

    fn close(&mut self) {
        self.0.close();
    }
}

impl ReplyFraming for Ggs10 {
    fn encode_into(message: &Request<'_>, out: &mut Vec<u8>) {
        match *message {
            Request::Hello { table, token } => {
                let mut headers = vec![("Server-Command", "hello")];
                headers.extend(token.map(|t| ("Token", t)));
                encode_message_into(&headers, table.unwrap_or("").as_bytes(), out)
            }
            Request::Define(source) => {
                encode_message_into(&[("Server-Command", "define")], source.as_bytes(), out)
            }
            Request::Whoami => encode_message_into(&[("Server-Command", "whoami")], b"", out),
            Request::Command(command, args) => {
                encode_message_into(&[("Game-Command", command)], args.as_bytes(), out)
            }
        }
    }
}

impl Client {
    /// Connects to a GGS 1.0 port.
    #[track_caller]
    pub fn connect(addr: SocketAddr) -> Client {
        Conn::with_framing(Ggs10(TcpBytes::connect(addr)), format!("client {addr}"))
    }

    /// Sends a message: the headers, then `Content-Length` of `body` in bytes, then the body.
    pub fn send(&mut self, headers: &[(&str, &str)], body: &[u8]) {
        let bytes = encode_message(headers, body);
        self.send_raw(&bytes);
    }

    /// The plain socket, for a test that goes on writing raw bytes and never reads (whatever
    /// was received and not yet taken is dropped).
    pub fn into_stream(self) -> TcpStream {
        self.into_framing().0.into_stream()
    }
}
