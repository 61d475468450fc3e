//! GGS 1.0 framing (client messages with headers and `Content-Length`, replies parsed strictly
//! by [`parse_reply_meta`]) for the shared test [`Conn`], and the GGS 1.0-specific sends. The
//! framing also carries GGS 1.1 (`GGS-Versions`, `Ack`, `Seq`; `Msg` and `Seq` in replies), and
//! holds a client that never offered a version to GGS 1.0 byte for byte.

use std::io::{self, Write};
use std::net::{SocketAddr, TcpStream};

use crate::client::{
    Conn, Framing, RecvError, ReplyFraming, Request, RequestMeta, TcpBytes, CLOSED_MID_REPLY,
};
use crate::wire::{
    encode_message, encode_message_into, parse_reply_meta, Reply, ReplyMeta, WireError,
};

/// A GGS 1.0 connection.
pub type Client = Conn<Ggs10>;

/// The header naming the versions a client speaks, lower-cased (names are case-insensitive).
const VERSIONS_HEADER: &[u8] = b"ggs-versions";

/// GGS 1.0 framing.
pub struct Ggs10 {
    bytes: TcpBytes,
    /// Whether the client has sent `GGS-Versions` (until then every reply must be GGS 1.0).
    offered: bool,
    /// What the last reply taken carried beside its command and body.
    meta: ReplyMeta,
}

/// Whether `bytes` contain `needle`, ignoring ASCII case.
fn contains_ignoring_case(bytes: &[u8], needle: &[u8]) -> bool {
    bytes
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

impl Framing for Ggs10 {
    type Message = Reply;
    const WHAT: &'static str = "a reply";

    fn socket(&self) -> &TcpStream {
        self.bytes.socket()
    }

    fn take(&mut self) -> Result<Option<Reply>, RecvError> {
        match parse_reply_meta(self.bytes.buffered()).map_err(RecvError::Wire)? {
            Some((reply, meta, used)) => {
                if !self.offered && meta.version.as_deref() != Some("1.0") {
                    return Err(RecvError::Wire(WireError(format!(
                        "a GGS {} reply ({reply}) to a client that never sent GGS-Versions: {:?}",
                        meta.version.as_deref().unwrap_or("?"),
                        String::from_utf8_lossy(&self.bytes.buffered()[..used])
                    ))));
                }
                self.bytes.consume(used);
                self.meta = meta;
                Ok(Some(reply))
            }
            None => Ok(None),
        }
    }

    fn fill(&mut self) -> io::Result<bool> {
        self.bytes.fill()
    }

    fn ended(&self) -> RecvError {
        if self.bytes.buffered().is_empty() {
            RecvError::Closed
        } else {
            RecvError::Wire(WireError(format!(
                "{CLOSED_MID_REPLY}: {:?}",
                String::from_utf8_lossy(self.bytes.buffered())
            )))
        }
    }

    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.offered = self.offered || contains_ignoring_case(bytes, VERSIONS_HEADER);
        self.bytes.stream().write_all(bytes)
    }

    fn close(&mut self) {
        self.bytes.close();
    }
}

impl ReplyFraming for Ggs10 {
    fn encode_meta_into(message: &Request<'_>, meta: &RequestMeta<'_>, out: &mut Vec<u8>) {
        let mut headers: Vec<(&str, &str)> = Vec::with_capacity(5);
        let body = match *message {
            Request::Hello { table, token } => {
                headers.push(("Server-Command", "hello"));
                headers.extend(token.map(|t| ("Token", t)));
                table.unwrap_or("")
            }
            Request::Define(source) => {
                headers.push(("Server-Command", "define"));
                source
            }
            Request::Whoami => {
                headers.push(("Server-Command", "whoami"));
                ""
            }
            Request::Command(command, args) => {
                headers.push(("Game-Command", command));
                args
            }
            Request::Ack(_) => {
                headers.push(("Server-Command", "ack"));
                ""
            }
        };
        let versions = meta.versions.join(" ");
        if !meta.versions.is_empty() {
            headers.push(("GGS-Versions", &versions));
        }
        let ack = match *message {
            Request::Ack(n) => Some(n),
            _ => meta.ack,
        }
        .map(|n| n.to_string());
        headers.extend(ack.as_deref().map(|n| ("Ack", n)));
        let seq = meta.seq.map(|n| n.to_string());
        headers.extend(seq.as_deref().map(|n| ("Seq", n)));
        encode_message_into(&headers, body.as_bytes(), out)
    }

    fn meta(&self) -> &ReplyMeta {
        &self.meta
    }
}

impl Client {
    /// Connects to a GGS 1.0 port.
    #[track_caller]
    pub fn connect(addr: SocketAddr) -> Client {
        Self::from_bytes(TcpBytes::connect(addr), format!("client {addr}"))
    }

    /// Connects to a GGS 1.0 port, returning the error if the connection is refused (a server
    /// being restarted).
    pub fn try_connect(addr: SocketAddr) -> io::Result<Client> {
        Ok(Self::from_bytes(
            TcpBytes::try_connect(addr)?,
            format!("client {addr}"),
        ))
    }

    fn from_bytes(bytes: TcpBytes, name: String) -> Client {
        let framing = Ggs10 {
            bytes,
            offered: false,
            meta: ReplyMeta::default(),
        };
        Conn::with_framing(framing, name)
    }

    /// Sends a message: the headers, then `Content-Length` of `body` in bytes, then the body.
    pub fn send(&mut self, headers: &[(&str, &str)], body: &[u8]) {
        let bytes = encode_message(headers, body);
        self.send_raw(&bytes);
    }

    /// The plain socket, for a test that goes on writing raw bytes and never reads (whatever
    /// was received and not yet taken is dropped).
    pub fn into_stream(self) -> TcpStream {
        self.into_framing().bytes.into_stream()
    }
}
