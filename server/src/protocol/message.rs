//! The transport-neutral messages: what a client sends (and how a GGS 1.0 frame maps onto it)
//! and what the server sends back.
//!
//! Every transport (GGS 1.0 frames, WebSocket JSON, the human line mode) parses into a
//! [`ClientMessage`] and renders a [`ServerMessage`], so sessions and tables never see a
//! transport.

use std::sync::Arc;

use bytes::Bytes;
use uuid::Uuid;

use super::ggs10::Frame;
use super::token::Token;

/// One message to a client: `Client-Command` and body in GGS 1.0 terms. Cheap to clone, so a
/// broadcast shares one body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerMessage {
    /// The command, e.g. `hello`, `defined`, `error`, or a script's command.
    pub command: Arc<str>,
    /// The body.
    pub body: Bytes,
    /// On a `hello` reply: the public id of the player it seats, which the WebSocket mapping
    /// and line mode show beside the body (GGS 1.0 keeps the 2011 body alone).
    pub player: Option<Arc<str>>,
    /// GGS 1.1: the message's number in its seat's stream (`Msg: n`), set by the table for a
    /// seat that speaks 1.1; a 1.0 connection never shows it.
    pub msg: Option<u64>,
    /// GGS 1.1, on a `hello` reply: the highest `Seq` the table has applied for the seat
    /// (`Seq: k`); a 1.0 connection never shows it.
    pub seq: Option<u64>,
}

impl ServerMessage {
    /// A message from a command and a body.
    pub fn new(command: &str, body: impl Into<Bytes>) -> Self {
        ServerMessage {
            command: Arc::from(command),
            body: body.into(),
            player: None,
            msg: None,
            seq: None,
        }
    }

    /// The `hello` reply: body `<token>,<defined>,<table-id>` as in 2011 (the first field is
    /// the resume token, which 2011 clients echo back), with the seat's public `player` id.
    pub fn hello(token: &Token, defined: bool, table: &str, player: &str) -> Self {
        let body = format!("{},{defined},{table}", token.reveal());
        ServerMessage {
            player: Some(Arc::from(player)),
            ..ServerMessage::new("hello", body)
        }
    }

    /// An `error` reply: the stable code, then a space and a sentence when there is one.
    pub fn error(code: &str, detail: Option<&str>) -> Self {
        let body = match detail {
            Some(d) if !d.is_empty() => format!("{code} {d}"),
            _ => code.to_string(),
        };
        ServerMessage::new("error", body)
    }
}

/// A version of the protocol, as named in `GGS-Version` and `GGS-Versions`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Version {
    /// GGS 1.0: the 2011 protocol, byte for byte (the version of a client that never says).
    #[default]
    V1_0,
    /// GGS 1.1: numbered messages (`Msg`), acknowledgements (`Ack`) and numbered commands
    /// (`Seq`): exactly-once delivery across reconnects and restarts.
    V1_1,
}

impl Version {
    /// Every version this server speaks, oldest first.
    pub const ALL: [Version; 2] = [Version::V1_0, Version::V1_1];

    /// Its name on the wire: `1.0`, `1.1`.
    pub fn as_str(self) -> &'static str {
        match self {
            Version::V1_0 => "1.0",
            Version::V1_1 => "1.1",
        }
    }

    /// The version named `name`, if this server speaks it.
    pub fn parse(name: &str) -> Option<Version> {
        Version::ALL.into_iter().find(|v| v.as_str() == name)
    }

    /// Whether a seat speaking this version gets numbered, replayable messages.
    pub fn exactly_once(self) -> bool {
        self >= Version::V1_1
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What may travel beside any client message (GGS 1.1's fields; all absent from a 1.0 client).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Meta {
    /// `GGS-Versions`: the versions the client speaks, as sent (unknown names included).
    pub versions: Option<Vec<String>>,
    /// `Ack: n`: the highest `Msg` the client has received.
    pub ack: Option<u64>,
    /// `Seq: n`: the client's number for this game command, increasing per player.
    pub seq: Option<u64>,
}

/// What a client asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientMessage {
    /// Create a table (`table: None`) or join one by id; with a `token`, take back that
    /// player's held seat at the table.
    Hello {
        /// The table to join; `None` creates a new table.
        table: Option<TableRef>,
        /// The resume token from an earlier `hello` reply (the `Token` header).
        token: Option<Token>,
        /// A catalogue game (the `Game` header): a new table runs its latest version from the
        /// start. Ignored when joining a table.
        game: Option<String>,
        /// A credential for the application's auth hook (the `Auth` header), if any.
        auth: Option<String>,
    },
    /// Line mode's `/auth <credential>`: the credential the connection's next `hello`s carry.
    Auth {
        /// The credential.
        credential: String,
    },
    /// Set the table's game script.
    Define {
        /// JavaScript source.
        source: String,
    },
    /// Set the table's game script to the latest version of a catalogue game.
    DefineGame {
        /// The game's name.
        name: String,
    },
    /// Ask the server something; the reply is one message of the query's name.
    Query(Query),
    /// GGS 1.1 `Server-Command: ack`: nothing but the [`Meta`]'s `Ack`.
    Ack,
    /// A game command for the script's `playerCommand`.
    Game {
        /// The command.
        command: String,
        /// Its argument string.
        args: String,
    },
}

/// Longest game name, in bytes.
pub const MAX_GAME_NAME: usize = 32;

/// Whether `name` may name a catalogue game: 1 to [`MAX_GAME_NAME`] bytes of `a-z`, `0-9`,
/// `-`, `_`, starting with a letter or digit.
pub fn valid_game_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= MAX_GAME_NAME
        && bytes[0].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-' || *b == b'_')
}

/// What a client may ask the server (GGS 1.0 `Server-Command: games|tables|who|whoami`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Query {
    /// The catalogue's games: reply `games`, one line per game.
    Games,
    /// The live tables: reply `tables`, one line per table.
    Tables,
    /// The players at the client's table: reply `who`, one line per seat.
    Who,
    /// The client's own public player id: reply `whoami`.
    Whoami,
}

impl Query {
    /// The query named `name`, if there is one.
    pub fn from_name(name: &str) -> Option<Query> {
        match name {
            "games" => Some(Query::Games),
            "tables" => Some(Query::Tables),
            "who" => Some(Query::Who),
            "whoami" => Some(Query::Whoami),
            _ => None,
        }
    }

    /// Its name, which is also the command of its reply.
    pub fn name(self) -> &'static str {
        match self {
            Query::Games => "games",
            Query::Tables => "tables",
            Query::Who => "who",
            Query::Whoami => "whoami",
        }
    }
}

/// A table named by a client: a well-formed id, or text that cannot name any table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TableRef {
    /// A UUID.
    Id(Uuid),
    /// Anything else (answered with `no_such_table`).
    Unknown(String),
}

/// Why a well-framed message means nothing to the server.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// Neither `Server-Command` nor `Game-Command`, or both.
    #[error("a message needs exactly one Server-Command or Game-Command header")]
    MissingCommand,
    /// A `Server-Command` the server does not know.
    #[error("unknown server command '{0}' (expected hello, define, games, tables, who or whoami)")]
    UnknownServerCommand(String),
    /// A body that must be text is not UTF-8.
    #[error("the body of {0} must be UTF-8 text")]
    NotText(&'static str),
}

impl ProtocolError {
    /// The stable code sent to clients.
    pub fn code(&self) -> &'static str {
        match self {
            ProtocolError::MissingCommand => "missing_command",
            ProtocolError::UnknownServerCommand(_) => "unknown_command",
            ProtocolError::NotText(_) => "bad_encoding",
        }
    }
}

impl ClientMessage {
    /// Interprets one GGS 1.0 frame. `Token` matters only on `hello` (resume); `Content-Type`
    /// is informational.
    pub fn from_frame(frame: &Frame) -> Result<ClientMessage, ProtocolError> {
        let server = frame.header("server-command");
        let game = frame.header("game-command");
        match (server, game) {
            (Some(cmd), None) => match cmd {
                "hello" => {
                    let body = text(frame, "hello")?;
                    let body = body.trim();
                    let table = (!body.is_empty()).then(|| match Uuid::parse_str(body) {
                        Ok(id) => TableRef::Id(id),
                        Err(_) => TableRef::Unknown(body.to_string()),
                    });
                    let token = frame.header("token").and_then(Token::parse);
                    Ok(ClientMessage::Hello {
                        table,
                        token,
                        game: game_header(frame),
                        auth: auth_header(frame),
                    })
                }
                "define" => match game_header(frame) {
                    Some(name) => Ok(ClientMessage::DefineGame { name }),
                    None => Ok(ClientMessage::Define {
                        source: text(frame, "define")?.to_string(),
                    }),
                },
                other => match Query::from_name(other) {
                    Some(query) => Ok(ClientMessage::Query(query)),
                    None => Err(ProtocolError::UnknownServerCommand(other.to_string())),
                },
            },
            (None, Some(cmd)) => Ok(ClientMessage::Game {
                command: cmd.to_string(),
                args: text(frame, "a game command")?.to_string(),
            }),
            _ => Err(ProtocolError::MissingCommand),
        }
    }
}

/// The `Game` header, trimmed; an empty one counts as absent.
fn game_header(frame: &Frame) -> Option<String> {
    frame
        .header("game")
        .map(str::trim)
        .filter(|g| !g.is_empty())
        .map(str::to_string)
}

/// The `Auth` header, trimmed; an empty one counts as absent.
fn auth_header(frame: &Frame) -> Option<String> {
    frame
        .header("auth")
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(str::to_string)
}

fn text<'a>(frame: &'a Frame, what: &'static str) -> Result<&'a str, ProtocolError> {
    std::str::from_utf8(&frame.body).map_err(|_| ProtocolError::NotText(what))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn frame(headers: &[(&str, &str)], body: &[u8]) -> Frame {
        Frame {
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
                .collect(),
            body: Bytes::copy_from_slice(body),
        }
    }

    #[test]
    fn maps_the_2011_messages() {
        assert_eq!(
            ClientMessage::from_frame(&frame(&[("Server-Command", "hello")], b"")),
            Ok(ClientMessage::Hello {
                auth: None,
                table: None,
                token: None,
                game: None
            })
        );
        let id = "6f1c2b1e-0000-4000-8000-000000000001";
        assert_eq!(
            ClientMessage::from_frame(&frame(&[("Server-Command", "hello")], id.as_bytes())),
            Ok(ClientMessage::Hello {
                auth: None,
                table: Some(TableRef::Id(Uuid::parse_str(id).unwrap())),
                token: None,
                game: None
            })
        );
        assert_eq!(
            ClientMessage::from_frame(&frame(&[("Server-Command", "hello")], b"nope")),
            Ok(ClientMessage::Hello {
                auth: None,
                table: Some(TableRef::Unknown("nope".into())),
                token: None,
                game: None
            })
        );
        assert_eq!(
            ClientMessage::from_frame(&frame(
                &[("Token", "x"), ("Game-Command", "/nick")],
                b"alice"
            )),
            Ok(ClientMessage::Game {
                command: "/nick".into(),
                args: "alice".into()
            })
        );
    }

    #[test]
    fn maps_the_catalogue_and_the_queries() {
        assert_eq!(
            ClientMessage::from_frame(&frame(
                &[("Server-Command", "hello"), ("Game", " chat ")],
                b""
            )),
            Ok(ClientMessage::Hello {
                auth: None,
                table: None,
                token: None,
                game: Some("chat".into())
            })
        );
        assert_eq!(
            ClientMessage::from_frame(&frame(
                &[("Server-Command", "define"), ("Game", "pong")],
                b""
            )),
            Ok(ClientMessage::DefineGame {
                name: "pong".into()
            })
        );
        assert_eq!(
            ClientMessage::from_frame(&frame(&[("Server-Command", "who")], b"")),
            Ok(ClientMessage::Query(Query::Who))
        );
        for q in [Query::Games, Query::Tables, Query::Who, Query::Whoami] {
            assert_eq!(Query::from_name(q.name()), Some(q));
        }
    }

    #[test]
    fn a_hello_carries_its_auth_header() {
        assert_eq!(
            ClientMessage::from_frame(&frame(
                &[("Server-Command", "hello"), ("Auth", " secret-1 ")],
                b""
            )),
            Ok(ClientMessage::Hello {
                table: None,
                token: None,
                game: None,
                auth: Some("secret-1".into()),
            })
        );
    }

    #[test]
    fn rejects_what_means_nothing() {
        let err = |h: &[(&str, &str)], b: &[u8]| {
            ClientMessage::from_frame(&frame(h, b)).unwrap_err().code()
        };
        assert_eq!(err(&[], b""), "missing_command");
        assert_eq!(
            err(&[("Server-Command", "x"), ("Game-Command", "y")], b""),
            "missing_command"
        );
        assert_eq!(err(&[("Server-Command", "launch")], b""), "unknown_command");
        assert_eq!(
            err(&[("Game-Command", "set")], &[0xff, 0xfe]),
            "bad_encoding"
        );
    }
}
