//! WebSocket framing (`/ws` on the HTTP port: JSON client messages, one JSON reply per text
//! message) for the shared test [`Conn`].

use std::collections::VecDeque;
use std::io;
use std::net::{SocketAddr, TcpStream};

use serde::Deserialize;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::{self, Message, WebSocket};

use crate::client::{Conn, Framing, RecvError, ReplyFraming, Request};
use crate::wire::{Reply, WireError};

/// WebSocket framing: tungstenite does the frames; each text message is one JSON reply.
pub struct Ws {
    socket: WebSocket<TcpStream>,
    /// Replies read but not yet taken, each with the `player` field a `hello` reply carries
    /// (or why a text message was not one).
    pending: VecDeque<Result<(Reply, Option<String>), WireError>>,
    /// The `player` field of the last `hello` reply taken.
    hello_player: Option<String>,
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
}

/// Parses one WebSocket reply (`{"command": ..., "body": ...}`).
pub fn parse_reply(text: &str) -> Result<Reply, WireError> {
    parse_reply_with_player(text).map(|(reply, _)| reply)
}

/// Parses one WebSocket reply and the `player` field a `hello` reply carries.
pub fn parse_reply_with_player(text: &str) -> Result<(Reply, Option<String>), WireError> {
    serde_json::from_str::<JsonReply>(text)
        .map(|r| {
            let reply = Reply {
                command: r.command,
                body: r.body,
            };
            (reply, r.player)
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
            Some(Ok((reply, player))) => {
                if reply.command == "hello" {
                    self.hello_player = player;
                }
                Ok(Some(reply))
            }
            Some(Err(e)) => Err(RecvError::Wire(e)),
            None => Ok(None),
        }
    }

    fn fill(&mut self) -> io::Result<bool> {
        match self.socket.read() {
            Ok(Message::Text(text)) => {
                self.pending
                    .push_back(parse_reply_with_player(text.as_str()));
                Ok(true)
            }
            Ok(Message::Close(_)) => Ok(false),
            Ok(_) => Ok(true),
            Err(tungstenite::Error::Io(e)) => Err(e),
            Err(
                tungstenite::Error::ConnectionClosed
                | tungstenite::Error::AlreadyClosed
                | tungstenite::Error::Protocol(_),
            ) => Ok(false),
            Err(e) => Err(io::Error::other(e)),
        }
    }

    /// Sends `bytes` as one text message.
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

impl ReplyFraming for Ws {
    fn encode_into(message: &Request<'_>, out: &mut Vec<u8>) {
        let value = match *message {
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
        };
        serde_json::to_writer(out, &value).expect("a JSON value always serializes");
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
            Ok((socket, _)) => {
                let framing = Ws {
                    socket,
                    pending: VecDeque::new(),
                    hello_player: None,
                };
                Ok(Conn::with_framing(framing, format!("ws client {http}")))
            }
            Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(response))) => {
                let body = response.body().as_deref().unwrap_or_default();
                let body = String::from_utf8_lossy(body).into_owned();
                Err((response.status().as_u16(), body))
            }
            Err(e) => panic!("websocket handshake with {url}: {e}"),
        }
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
        match self.socket.read() {
            Ok(Message::Text(text)) => {
                let value = serde_json::from_str(text.as_str())
                    .map_err(|e| WireError(format!("a WebSocket reply that is not JSON: {e}")));
                self.pending.push_back(value);
                Ok(true)
            }
            Ok(Message::Close(_)) => Ok(false),
            Ok(_) => Ok(true),
            Err(tungstenite::Error::Io(e)) => Err(e),
            Err(
                tungstenite::Error::ConnectionClosed
                | tungstenite::Error::AlreadyClosed
                | tungstenite::Error::Protocol(_),
            ) => Ok(false),
            Err(e) => Err(io::Error::other(e)),
        }
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
