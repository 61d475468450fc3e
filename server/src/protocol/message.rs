//! The transport-neutral messages: what a client sends (and how a GGS 1.0 frame maps onto it)
//! and what the server sends back.
//!
//! Every transport (GGS 1.0 frames, WebSocket JSON, the human line mode) parses into a
//! [`ClientMessage`] and renders a [`ServerMessage`], so sessions and tables never see a
//! transport.

use std::sync::atomic::{AtomicU8, Ordering};
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
    /// On a `next` reply (GGS 1.1, and every WebSocket and line-mode connection): where the
    /// table is served, for the client to reconnect there with its token. Over TCP the
    /// owner's `HOST:PORT` (a `Next-Host` header after the five), over a WebSocket its URL
    /// (`"next": {"url": ..}`), in line mode shown after the command.
    pub next: Option<Arc<str>>,
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
            next: None,
        }
    }

    /// The `next` reply: table `table` is served by node `node`, which the client reaches at
    /// `address` (`HOST:PORT` over TCP, a URL over a WebSocket).
    pub fn next(table: &str, node: &str, address: &str) -> Self {
        let body = format!(
            "table {table} is served by node {node}: connect to {address} and say hello there \
             with your token"
        );
        ServerMessage {
            next: Some(Arc::from(address)),
            ..ServerMessage::new("next", body)
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

/// A connection's protocol version, shared by its session (which negotiates it) and its
/// writer (which renders every reply in the version in force when it writes it). `None`: the
/// client never offered a version, so it is 1.0 exactly as in 2011.
#[derive(Debug, Clone, Default)]
pub struct SharedVersion(Arc<AtomicU8>);

/// [`SharedVersion`]'s value for a connection that never negotiated.
const NEVER_NEGOTIATED: u8 = 0;

impl SharedVersion {
    /// The version in force: `None` if the client never offered one.
    pub fn get(&self) -> Option<Version> {
        match self.0.load(Ordering::Acquire) {
            NEVER_NEGOTIATED => None,
            n => Version::ALL.get(usize::from(n - 1)).copied(),
        }
    }

    /// Records the version agreed on (from now on every reply written is in it).
    pub fn set(&self, version: Version) {
        let index = Version::ALL
            .iter()
            .position(|v| *v == version)
            .expect("ALL lists every version");
        self.0.store(index as u8 + 1, Ordering::Release);
    }
}

/// The most versions one `GGS-Versions` header (or JSON `versions` array) may list; a longer
/// list is refused (`bad_header`, `bad_json`).
pub const MAX_OFFERED_VERSIONS: usize = 16;

/// Why no version could be agreed: the client speaks none of the server's versions. The reply
/// is `error unsupported_version the server speaks 1.0 1.1`, and nothing else changes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the server speaks {}", speaks())]
pub struct UnsupportedVersion;

impl UnsupportedVersion {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        "unsupported_version"
    }
}

/// The versions this server speaks, as `GGS-Versions` lists them: `1.0 1.1`.
pub fn speaks() -> String {
    Version::ALL.map(Version::as_str).join(" ")
}

/// The version a connection speaks after a client offered `offered` (the names it sent in
/// `GGS-Versions` or `versions`): the highest one both sides speak, whatever the connection
/// spoke before. So a first offer of `1.0 1.1` gives 1.1, and a later offer that lacks the
/// current version (a client restarted on older software) falls back to the highest common
/// one. Names this server does not know are ignored; when none is left, the offer fails and
/// the connection keeps its version.
pub fn negotiate(offered: &[String]) -> Result<Version, UnsupportedVersion> {
    offered
        .iter()
        .filter_map(|name| Version::parse(name))
        .max()
        .ok_or(UnsupportedVersion)
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
    /// The connection's protocol version: reply `version`, body
    /// `<version> (this server speaks 1.0 1.1)`.
    Version,
}

impl Query {
    /// The query named `name`, if there is one.
    pub fn from_name(name: &str) -> Option<Query> {
        match name {
            "games" => Some(Query::Games),
            "tables" => Some(Query::Tables),
            "who" => Some(Query::Who),
            "whoami" => Some(Query::Whoami),
            "version" => Some(Query::Version),
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
            Query::Version => "version",
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
    #[error("unknown server command '{0}' (expected hello, define, ack, games, tables, who, whoami or version)")]
    UnknownServerCommand(String),
    /// A body that must be text is not UTF-8.
    #[error("the body of {0} must be UTF-8 text")]
    NotText(&'static str),
    /// A GGS 1.1 header whose value is not what it must be: `Ack` and `Seq` are one decimal
    /// number (`Seq` from 1), `GGS-Versions` at most [`MAX_OFFERED_VERSIONS`] names.
    #[error("invalid {name} header {value:?}: {expected}")]
    BadHeader {
        /// The header's name as GGS spells it.
        name: &'static str,
        /// The value sent, truncated.
        value: String,
        /// What it must be.
        expected: String,
    },
    /// `Server-Command: ack` without the `Ack` header it carries.
    #[error("Server-Command: ack needs an Ack header: the highest Msg received")]
    MissingAck,
}

impl ProtocolError {
    /// The stable code sent to clients.
    pub fn code(&self) -> &'static str {
        match self {
            ProtocolError::MissingCommand => "missing_command",
            ProtocolError::UnknownServerCommand(_) => "unknown_command",
            ProtocolError::NotText(_) => "bad_encoding",
            ProtocolError::BadHeader { .. } => "bad_header",
            ProtocolError::MissingAck => "missing_ack",
        }
    }
}

impl ClientMessage {
    /// Interprets one GGS 1.0 frame: the message and what travels beside it (GGS 1.1's
    /// `GGS-Versions`, `Ack` and `Seq` headers). `Token` matters only on `hello` (resume);
    /// `Content-Type` is informational. A malformed GGS 1.1 header refuses the whole message
    /// (`bad_header`).
    pub fn from_frame(frame: &Frame) -> Result<(ClientMessage, Meta), ProtocolError> {
        let meta = Meta::from_frame(frame)?;
        let message = ClientMessage::from_headers(frame, &meta)?;
        Ok((message, meta))
    }

    fn from_headers(frame: &Frame, meta: &Meta) -> Result<ClientMessage, ProtocolError> {
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
                "ack" if meta.ack.is_none() => Err(ProtocolError::MissingAck),
                "ack" => Ok(ClientMessage::Ack),
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

/// How many characters of a bad header value an error quotes.
const QUOTE_VALUE: usize = 40;

impl Meta {
    /// The GGS 1.1 headers of a frame: `GGS-Versions` (names separated by spaces), `Ack`
    /// and `Seq` (one decimal number each; `Seq` counts from 1).
    pub fn from_frame(frame: &Frame) -> Result<Meta, ProtocolError> {
        let versions = match frame.header("ggs-versions") {
            None => None,
            Some(list) => {
                let names: Vec<String> = list.split_whitespace().map(str::to_string).collect();
                if names.len() > MAX_OFFERED_VERSIONS {
                    let expected = format!(
                        "expected at most {MAX_OFFERED_VERSIONS} versions separated by spaces"
                    );
                    return Err(bad_header("GGS-Versions", list, expected));
                }
                Some(names)
            }
        };
        let ack = number_header(frame, "ack", "Ack", 0)?;
        let seq = number_header(frame, "seq", "Seq", 1)?;
        Ok(Meta { versions, ack, seq })
    }
}

/// The value of a numeric GGS 1.1 header: a plain decimal number of at least `min`.
fn number_header(
    frame: &Frame,
    header: &str,
    name: &'static str,
    min: u64,
) -> Result<Option<u64>, ProtocolError> {
    let Some(value) = frame.header(header) else {
        return Ok(None);
    };
    let number = (!value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()))
        .then(|| value.parse::<u64>().ok())
        .flatten()
        .filter(|n| *n >= min);
    let expected = if min == 0 {
        "expected one non-negative decimal integer"
    } else {
        "expected one decimal integer from 1 up"
    };
    number
        .map(Some)
        .ok_or_else(|| bad_header(name, value, expected.to_string()))
}

fn bad_header(name: &'static str, value: &str, expected: String) -> ProtocolError {
    let mut quoted: String = value.chars().take(QUOTE_VALUE).collect();
    if quoted.len() < value.len() {
        quoted.push_str("...");
    }
    ProtocolError::BadHeader {
        name,
        value: quoted,
        expected,
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

    /// The message of a frame, without what travels beside it.
    fn message(frame: &Frame) -> Result<ClientMessage, ProtocolError> {
        ClientMessage::from_frame(frame).map(|(message, _)| message)
    }

    fn meta(headers: &[(&str, &str)]) -> Result<Meta, ProtocolError> {
        let mut all = vec![("Game-Command", "set")];
        all.extend_from_slice(headers);
        ClientMessage::from_frame(&frame(&all, b"")).map(|(_, meta)| meta)
    }

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn a_2011_frame_has_no_meta() {
        let (_, meta) =
            ClientMessage::from_frame(&frame(&[("Server-Command", "hello")], b"")).unwrap();
        assert_eq!(meta, Meta::default());
    }

    #[test]
    fn reads_the_1_1_headers() {
        assert_eq!(
            meta(&[
                ("GGS-Versions", "1.0  1.1\t2.0"),
                ("Ack", "0"),
                ("Seq", "7")
            ]),
            Ok(Meta {
                versions: Some(names(&["1.0", "1.1", "2.0"])),
                ack: Some(0),
                seq: Some(7),
            })
        );
        assert_eq!(
            meta(&[("GGS-Versions", "")]),
            Ok(Meta {
                versions: Some(vec![]),
                ..Meta::default()
            })
        );
        assert_eq!(
            meta(&[("Ack", &u64::MAX.to_string())]).unwrap().ack,
            Some(u64::MAX)
        );
    }

    #[test]
    fn malformed_1_1_headers_refuse_the_message() {
        for (name, value) in [
            ("Ack", ""),
            ("Ack", "-1"),
            ("Ack", "+1"),
            ("Ack", "1 2"),
            ("Ack", "0x10"),
            ("Ack", "18446744073709551616"),
            ("Seq", "0"),
            ("Seq", "abc"),
            ("Seq", "1.5"),
        ] {
            let e = meta(&[(name, value)]).unwrap_err();
            assert_eq!(e.code(), "bad_header", "{name}: {value:?}");
            assert!(
                e.to_string()
                    .starts_with(&format!("invalid {name} header {value:?}: expected")),
                "{e}"
            );
        }
        let long = vec!["1.0"; MAX_OFFERED_VERSIONS + 1].join(" ");
        let e = meta(&[("GGS-Versions", &long)]).unwrap_err();
        assert_eq!(e.code(), "bad_header");
        assert!(e.to_string().contains("at most 16 versions"), "{e}");
        assert!(
            e.to_string().len() < 200,
            "the value is quoted briefly: {e}"
        );
        let fits = vec!["1.0"; MAX_OFFERED_VERSIONS].join(" ");
        assert!(meta(&[("GGS-Versions", &fits)]).is_ok());
    }

    #[test]
    fn ack_alone() {
        assert_eq!(
            ClientMessage::from_frame(&frame(&[("Server-Command", "ack"), ("Ack", "12")], b"")),
            Ok((
                ClientMessage::Ack,
                Meta {
                    ack: Some(12),
                    ..Meta::default()
                }
            ))
        );
        let e = message(&frame(&[("Server-Command", "ack")], b"")).unwrap_err();
        assert_eq!(e.code(), "missing_ack");
        assert_eq!(
            message(&frame(&[("Server-Command", "version")], b"")),
            Ok(ClientMessage::Query(Query::Version))
        );
    }

    #[test]
    fn negotiation_picks_the_highest_common_version() {
        assert_eq!(negotiate(&names(&["1.0", "1.1"])), Ok(Version::V1_1));
        assert_eq!(negotiate(&names(&["1.1", "1.0"])), Ok(Version::V1_1));
        assert_eq!(negotiate(&names(&["1.0"])), Ok(Version::V1_0));
        // Names the server does not speak are ignored.
        assert_eq!(negotiate(&names(&["0.9", "1.1", "2.0"])), Ok(Version::V1_1));
        // A list that lacks the current version (1.1 here) falls back to the highest common.
        assert_eq!(negotiate(&names(&["1.0", "2.0"])), Ok(Version::V1_0));
        for none in [&[][..], &["2.0"][..], &["1", "1.10", "v1.1", "1.1 "][..]] {
            let e = negotiate(&names(none)).unwrap_err();
            assert_eq!(e.code(), "unsupported_version");
            assert_eq!(e.to_string(), "the server speaks 1.0 1.1");
        }
        assert_eq!(
            ServerMessage::error(
                UnsupportedVersion.code(),
                Some(&UnsupportedVersion.to_string())
            )
            .body,
            "unsupported_version the server speaks 1.0 1.1"
        );
    }

    #[test]
    fn a_shared_version_starts_unnegotiated() {
        let shared = SharedVersion::default();
        let writer = shared.clone();
        assert_eq!(writer.get(), None);
        for v in [Version::V1_1, Version::V1_0, Version::V1_1] {
            shared.set(v);
            assert_eq!(writer.get(), Some(v));
        }
        for v in Version::ALL {
            assert_eq!(Version::parse(v.as_str()), Some(v));
        }
        assert_eq!(speaks(), "1.0 1.1");
    }

    #[test]
    fn maps_the_2011_messages() {
        assert_eq!(
            message(&frame(&[("Server-Command", "hello")], b"")),
            Ok(ClientMessage::Hello {
                auth: None,
                table: None,
                token: None,
                game: None
            })
        );
        let id = "6f1c2b1e-0000-4000-8000-000000000001";
        assert_eq!(
            message(&frame(&[("Server-Command", "hello")], id.as_bytes())),
            Ok(ClientMessage::Hello {
                auth: None,
                table: Some(TableRef::Id(Uuid::parse_str(id).unwrap())),
                token: None,
                game: None
            })
        );
        assert_eq!(
            message(&frame(&[("Server-Command", "hello")], b"nope")),
            Ok(ClientMessage::Hello {
                auth: None,
                table: Some(TableRef::Unknown("nope".into())),
                token: None,
                game: None
            })
        );
        assert_eq!(
            message(&frame(
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
            message(&frame(
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
            message(&frame(
                &[("Server-Command", "define"), ("Game", "pong")],
                b""
            )),
            Ok(ClientMessage::DefineGame {
                name: "pong".into()
            })
        );
        assert_eq!(
            message(&frame(&[("Server-Command", "who")], b"")),
            Ok(ClientMessage::Query(Query::Who))
        );
        for q in [
            Query::Games,
            Query::Tables,
            Query::Who,
            Query::Whoami,
            Query::Version,
        ] {
            assert_eq!(Query::from_name(q.name()), Some(q));
        }
    }

    #[test]
    fn a_hello_carries_its_auth_header() {
        assert_eq!(
            message(&frame(
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
        let err = |h: &[(&str, &str)], b: &[u8]| message(&frame(h, b)).unwrap_err().code();
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
