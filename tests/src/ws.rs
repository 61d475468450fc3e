//! WebSocket framing (`/ws` on the HTTP port: JSON client messages, one JSON reply per text
//! message) for the shared test [`Conn`], with GGS 1.1's fields (`versions`, `ack`, `seq`;
//! `version`, `msg` and `seq` in replies). A client that never sent `versions` must get only
//! GGS 1.0 replies.

use std::collections::VecDeque;
use std::io;
use std::net::{SocketAddr, TcpStream};

use serde::Deserialize;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::{self, Message, WebSocket};

use crate::client::{Conn, Framing, RecvError, ReplyFraming, Request, RequestMeta};
use crate::wire::{Reply, ReplyMeta, WireError};

/// The field of a client message naming the versions it speaks, as it appears in the JSON.
const VERSIONS_FIELD: &str = "\"versions\"";

/// A reply read but not yet taken: the reply, the `player` field of a `hello` reply and the
/// GGS 1.1 fields, or why a text message was not one.
type PendingReply = Result<(Reply, Option<String>, ReplyMeta), WireError>;

/// WebSocket framing: tungstenite does the frames; each text message is one JSON reply.
pub struct Ws {
    socket: WebSocket<TcpStream>,
    /// Replies read but not yet taken.
    pending: VecDeque<PendingReply>,
    /// The `player` field of the last `hello` reply taken.
    hello_player: Option<String>,
    /// Whether the client has sent `versions` (until then no reply may carry 1.1's fields).
    offered: bool,
    /// What the last reply taken carried beside its command and body.
    meta: ReplyMeta,
}

/// One WebSocket connection.
pub type WsClient = Conn<Ws>;

/// A reply as the WebSocket mapping carries it.
#[derive(Deserialize)]
struct JsonReply {
    command: String,
    body: String,
    /// On a `hello` reply: the player's public id.
    player: Option<String>,
    /// GGS 1.1: on the `hello` reply (and a reply to a message that changed the version).
    version: Option<String>,
    /// GGS 1.1: the message's number in its seat's stream.
    msg: Option<u64>,
    /// GGS 1.1, on a `hello` reply: the highest command number applied for the seat.
    seq: Option<u64>,
    /// On a `next` reply: where the table is (`{"url": ...}`).
    next: Option<JsonNext>,
}

/// The `next` field of a `next` reply.
#[derive(Deserialize)]
struct JsonNext {
    url: String,
}

/// Parses one WebSocket reply (`{"command": ..., "body": ...}`).
pub fn parse_reply(text: &str) -> Result<Reply, WireError> {
    parse_reply_meta(text).map(|(reply, _, _)| reply)
}

/// Parses one WebSocket reply and the `player` field a `hello` reply carries.
pub fn parse_reply_with_player(text: &str) -> Result<(Reply, Option<String>), WireError> {
    parse_reply_meta(text).map(|(reply, player, _)| (reply, player))
}

/// Parses one WebSocket reply, the `player` field a `hello` reply carries and GGS 1.1's
/// fields (`version`, `msg`, `seq`).
pub fn parse_reply_meta(text: &str) -> PendingReply {
    serde_json::from_str::<JsonReply>(text)
        .map(|r| {
            let reply = Reply {
                command: r.command,
                body: r.body,
            };
            let meta = ReplyMeta {
                version: r.version,
                msg: r.msg,
                seq: r.seq,
                // Where a `next` reply sends the client, as a TCP reply's header says it.
                other: r
                    .next
                    .map(|n| vec![("Next-Host".to_string(), n.url)])
                    .unwrap_or_default(),
            };
            (reply, r.player, meta)
        })
        .map_err(|e| {
            WireError(format!(
                "a WebSocket reply that is not {{command, body}}: {e}: {text}"
            ))
        })
}

impl Ws {
    /// The `player` field (the public player id) of the last `hello` reply taken.
    pub fn hello_player(&self) -> Option<&str> {
        self.hello_player.as_deref()
    }
}

impl Framing for Ws {
    type Message = Reply;
    const WHAT: &'static str = "a reply";

    fn socket(&self) -> &TcpStream {
        self.socket.get_ref()
    }

    fn take(&mut self) -> Result<Option<Reply>, RecvError> {
        match self.pending.pop_front() {
            Some(Ok((reply, player, meta))) => {
                let v11 = meta.msg.is_some()
                    || meta.seq.is_some()
                    || meta.version.as_deref().is_some_and(|v| v != "1.0");
                if !self.offered && v11 {
                    return Err(RecvError::Wire(WireError(format!(
                        "a GGS 1.1 reply ({reply}, {meta:?}) to a client that never sent versions"
                    ))));
                }
                if reply.command == "hello" {
                    self.hello_player = player;
                }
                self.meta = meta;
                Ok(Some(reply))
            }
            Some(Err(e)) => Err(RecvError::Wire(e)),
            None => Ok(None),
        }
    }

    fn fill(&mut self) -> io::Result<bool> {
        Ok(match read_text(&mut self.socket)? {
            Read::Text(text) => {
                self.pending.push_back(parse_reply_meta(&text));
                true
            }
            Read::Other => true,
            Read::Closed => false,
        })
    }

    /// Sends `bytes` as one text message.
    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        let text = std::str::from_utf8(bytes)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        self.offered = self.offered || text.contains(VERSIONS_FIELD);
        self.socket.send(Message::text(text)).map_err(|e| match e {
            tungstenite::Error::Io(e) => e,
            e => io::Error::other(e),
        })
    }

    fn close(&mut self) {
        let _ = self.socket.close(None);
        let _ = self.socket.flush();
    }
}

impl ReplyFraming for Ws {
    fn encode_meta_into(message: &Request<'_>, meta: &RequestMeta<'_>, out: &mut Vec<u8>) {
        let mut value = match *message {
            Request::Hello { table, token } => {
                let mut hello = json!({ "type": "hello" });
                if let Some(table) = table {
                    hello["table"] = json!(table);
                }
                if let Some(token) = token {
                    hello["token"] = json!(token);
                }
                hello
            }
            Request::Define(source) => json!({ "type": "define", "source": source }),
            Request::Whoami => json!({ "type": "whoami" }),
            Request::Command(command, args) => {
                json!({ "type": "command", "command": command, "args": args })
            }
            Request::Ack(n) => json!({ "type": "ack", "ack": n }),
        };
        if !meta.versions.is_empty() {
            value["versions"] = json!(meta.versions);
        }
        if let (Some(n), false) = (meta.ack, matches!(message, Request::Ack(_))) {
            value["ack"] = json!(n);
        }
        if let Some(n) = meta.seq {
            value["seq"] = json!(n);
        }
        serde_json::to_writer(out, &value).expect("a JSON value always serializes");
    }

    fn meta(&self) -> &ReplyMeta {
        &self.meta
    }
}

impl WsClient {
    /// Connects to `/ws` on the HTTP port.
    #[track_caller]
    pub fn connect(http: SocketAddr) -> WsClient {
        Self::try_connect_with(http, &[]).unwrap_or_else(|(status, body)| {
            panic!("websocket handshake with ws://{http}/ws: refused with {status}: {body}")
        })
    }

    /// Connects to the WebSocket endpoint at `path` (e.g. `/game/ws`, where an application
    /// nests the server's router under `/game`).
    #[track_caller]
    pub fn connect_to(http: SocketAddr, path: &str) -> WsClient {
        Self::try_connect_to(http, path, &[]).unwrap_or_else(|(status, body)| {
            panic!("websocket handshake with ws://{http}{path}: refused with {status}: {body}")
        })
    }

    /// Connects to `/ws` with extra handshake headers (`Origin`, `Host`, as a browser sends);
    /// a refused handshake is its HTTP status and body.
    #[track_caller]
    pub fn try_connect_with(
        http: SocketAddr,
        headers: &[(&str, &str)],
    ) -> Result<WsClient, (u16, String)> {
        Self::try_connect_to(http, "/ws", headers)
    }

    /// Connects to the WebSocket endpoint at `path` with extra handshake headers; a refused
    /// handshake is its HTTP status and body.
    #[track_caller]
    pub fn try_connect_to(
        http: SocketAddr,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Result<WsClient, (u16, String)> {
        use tungstenite::client::IntoClientRequest;
        let url = format!("ws://{http}{path}");
        let mut request = url
            .as_str()
            .into_client_request()
            .unwrap_or_else(|e| panic!("a handshake request for {url}: {e}"));
        for (name, value) in headers {
            let name = tungstenite::http::HeaderName::from_bytes(name.as_bytes())
                .unwrap_or_else(|e| panic!("header name {name:?}: {e}"));
            let value = tungstenite::http::HeaderValue::from_str(value)
                .unwrap_or_else(|e| panic!("header value {value:?}: {e}"));
            request.headers_mut().insert(name, value);
        }
        let stream = TcpStream::connect(http).unwrap_or_else(|e| panic!("connect {http}: {e}"));
        stream.set_nodelay(true).expect("set_nodelay");
        match tungstenite::client(request, stream) {
            Ok((socket, _)) => Ok(Self::from_socket(socket, http)),
            Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(response))) => {
                let body = response.body().as_deref().unwrap_or_default();
                let body = String::from_utf8_lossy(body).into_owned();
                Err((response.status().as_u16(), body))
            }
            Err(e) => panic!("websocket handshake with {url}: {e}"),
        }
    }

    /// Connects to `/ws` on the HTTP port, returning the error if the connection or the
    /// handshake fails (a server being restarted or killed).
    pub fn try_connect(http: SocketAddr) -> io::Result<WsClient> {
        let stream = TcpStream::connect(http)?;
        stream.set_nodelay(true)?;
        // A handshake with a server that stopped answering fails instead of hanging.
        stream.set_read_timeout(Some(crate::client::RECV_TIMEOUT))?;
        let url = format!("ws://{http}/ws");
        match tungstenite::client(url.as_str(), stream) {
            Ok((socket, _)) => Ok(Self::from_socket(socket, http)),
            Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Io(e))) => Err(e),
            Err(e) => Err(io::Error::other(format!(
                "websocket handshake with {url}: {e}"
            ))),
        }
    }

    fn from_socket(socket: WebSocket<TcpStream>, http: SocketAddr) -> WsClient {
        let framing = Ws {
            socket,
            pending: VecDeque::new(),
            hello_player: None,
            offered: false,
            meta: ReplyMeta::default(),
        };
        Conn::with_framing(framing, format!("ws client {http}"))
    }

    /// Sends a JSON value as one text message.
    pub fn send(&mut self, message: Value) {
        self.send_text(&message.to_string());
    }

    /// Sends one text message as it is.
    pub fn send_text(&mut self, text: &str) {
        self.send_raw(text.as_bytes());
    }
}

/// WebSocket framing whose messages are the JSON values themselves, every field included: for
/// tests of what travels beside `command` and `body` (GGS 1.1's `version`, `msg`, `seq`).
pub struct WsJson {
    socket: WebSocket<TcpStream>,
    /// Text messages read but not yet taken (or why one was not JSON).
    pending: VecDeque<Result<Value, WireError>>,
}

/// One WebSocket connection whose replies are read as JSON values.
pub type WsJsonClient = Conn<WsJson>;

impl Framing for WsJson {
    type Message = Value;
    const WHAT: &'static str = "a JSON reply";

    fn socket(&self) -> &TcpStream {
        self.socket.get_ref()
    }

    fn take(&mut self) -> Result<Option<Value>, RecvError> {
        self.pending
            .pop_front()
            .transpose()
            .map_err(RecvError::Wire)
    }

    fn fill(&mut self) -> io::Result<bool> {
        Ok(match read_text(&mut self.socket)? {
            Read::Text(text) => {
                let value = serde_json::from_str(&text)
                    .map_err(|e| WireError(format!("a WebSocket reply that is not JSON: {e}")));
                self.pending.push_back(value);
                true
            }
            Read::Other => true,
            Read::Closed => false,
        })
    }

    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        let text = std::str::from_utf8(bytes)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        self.socket.send(Message::text(text)).map_err(|e| match e {
            tungstenite::Error::Io(e) => e,
            e => io::Error::other(e),
        })
    }

    fn close(&mut self) {
        let _ = self.socket.close(None);
        let _ = self.socket.flush();
    }
}

impl WsJsonClient {
    /// Connects to `/ws` on the HTTP port.
    #[track_caller]
    pub fn connect(http: SocketAddr) -> WsJsonClient {
        let ws = WsClient::connect(http).into_framing();
        let framing = WsJson {
            socket: ws.socket,
            pending: VecDeque::new(),
        };
        Conn::with_framing(framing, format!("ws json client {http}"))
    }

    /// Sends a JSON value as one text message.
    pub fn send(&mut self, message: Value) {
        self.send_raw(message.to_string().as_bytes());
    }

    /// Expects the next reply to have `command`; returns it whole.
    #[track_caller]
    pub fn expect_json(&mut self, command: &str) -> Value {
        let reply = self.recv();
        assert_eq!(
            reply["command"],
            command,
            "{}: expected a {command} reply, got {reply}",
            self.name()
        );
        reply
    }
}

/// What one read of a WebSocket gave.
enum Read {
    /// A text message.
    Text(String),
    /// Something else (a ping, a binary message): nothing for the client.
    Other,
    /// The connection closed.
    Closed,
}

/// Reads one message; a close, in whatever form, is [`Read::Closed`].
fn read_text(socket: &mut WebSocket<TcpStream>) -> io::Result<Read> {
    match socket.read() {
        Ok(Message::Text(text)) => Ok(Read::Text(text.as_str().to_string())),
        Ok(Message::Close(_)) => Ok(Read::Closed),
        Ok(_) => Ok(Read::Other),
        Err(tungstenite::Error::Io(e)) => Err(e),
        Err(
            tungstenite::Error::ConnectionClosed
            | tungstenite::Error::AlreadyClosed
            | tungstenite::Error::Protocol(_),
        ) => Ok(Read::Closed),
        Err(e) => Err(io::Error::other(e)),
    }
}
