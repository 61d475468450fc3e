//! The WebSocket protocol: one JSON object per text message, mapped one to one onto
//! [`ClientMessage`] and [`ServerMessage`], the same session model as GGS 1.0.
//!
//! Client to server (`type` plays the part of `Server-Command` / `Game-Command`):
//!
//! ```json
//! {"type": "hello"}                                         create a table
//! {"type": "hello", "table": "<table-id>"}                  join one
//! {"type": "hello", "table": "<table-id>", "token": "<token>"}   take back a held seat
//! {"type": "hello", "game": "<game-name>"}                  create a table running a catalogue game
//! {"type": "hello", ..., "auth": "<credential>"}             with a credential for the application's auth hook
//! {"type": "define", "source": "<javascript>"}
//! {"type": "define", "game": "<game-name>"}                 define a catalogue game
//! {"type": "games"}, {"type": "tables"}, {"type": "who"}, {"type": "whoami"}   ask the server
//! {"type": "command", "command": "set", "args": "{\"x\":1,\"y\":2}"}
//! {"type": "version"}                                       the connection's version
//! {"type": "ack", "ack": 12}                                GGS 1.1: an acknowledgement alone
//! ```
//!
//! GGS 1.1's fields may travel beside any of them: `"versions": ["1.0", "1.1"]` (negotiation),
//! `"ack": n` (the highest `msg` received) and, on a command, `"seq": n` (its number).
//!
//! Server to client: `{"command": "<Client-Command>", "body": "<body>"}`, exactly the command
//! and body a GGS 1.0 client would get; the `hello` reply adds `"player": "<public player id>"`.
//! In GGS 1.1 a numbered message adds `"msg": n` and a seat's `hello` reply `"seq": k`. Once the
//! client has offered versions, every `hello` reply, and the first message the server sends in
//! a version other than the one before, adds `"version": "1.1"` (the version it is in); a
//! client that never offers versions never sees these fields.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::message::{
    ClientMessage, Meta, Query, ServerMessage, TableRef, Version, MAX_OFFERED_VERSIONS,
};
use super::token::Token;

/// Why a WebSocket message means nothing to the server. `code()` is the stable code sent in
/// the `error` reply; Display is the sentence after it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsonError {
    /// Not JSON, not an object, or a field of the wrong JSON type.
    #[error("{0}")]
    BadJson(String),
    /// No `type` field.
    #[error("a message needs a \"type\": hello, define, command, ack, games, tables, who, whoami or version")]
    MissingType,
    /// A `type` the server does not know.
    #[error("unknown message type '{0}' (expected hello, define, command, ack, games, tables, who, whoami or version)")]
    UnknownType(String),
    /// A binary message that is not UTF-8.
    #[error("a message must be UTF-8 JSON text")]
    NotText,
    /// A source or argument string over the body limit.
    #[error("the {what} of {length} bytes is larger than the limit of {limit} bytes")]
    TooLarge {
        /// `source` or `args`.
        what: &'static str,
        /// Its length in bytes.
        length: usize,
        /// The server's body limit.
        limit: usize,
    },
}

impl JsonError {
    /// The stable code, shared with GGS 1.0 where the meaning is the same.
    pub fn code(&self) -> &'static str {
        match self {
            JsonError::BadJson(_) => "bad_json",
            JsonError::MissingType => "missing_command",
            JsonError::UnknownType(_) => "unknown_command",
            JsonError::NotText => "bad_encoding",
            JsonError::TooLarge { .. } => "body_too_large",
        }
    }
}

/// A client message as it arrives: `type` names the variant. Fields that must be strings
/// arrive as [`Text`], so a value of the wrong JSON type is told apart from a missing one with
/// the field's name ([`text`]). Every variant has GGS 1.1's `versions` and `ack` (see
/// [`meta`]); a command also its `seq`.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum Incoming {
    Hello {
        table: Option<Text>,
        token: Option<Text>,
        game: Option<Text>,
        auth: Option<Text>,
        versions: Option<Value>,
        ack: Option<Value>,
    },
    Define {
        source: Option<Text>,
        game: Option<Text>,
        versions: Option<Value>,
        ack: Option<Value>,
    },
    Command {
        command: Option<Text>,
        /// Any JSON value: a string is the argument string itself, anything else its JSON text.
        args: Option<Value>,
        versions: Option<Value>,
        ack: Option<Value>,
        seq: Option<Value>,
    },
    Ack {
        versions: Option<Value>,
        ack: Option<Value>,
    },
    Games {
        versions: Option<Value>,
        ack: Option<Value>,
    },
    Tables {
        versions: Option<Value>,
        ack: Option<Value>,
    },
    Who {
        versions: Option<Value>,
        ack: Option<Value>,
    },
    Whoami {
        versions: Option<Value>,
        ack: Option<Value>,
    },
    Version {
        versions: Option<Value>,
        ack: Option<Value>,
    },
}

/// A field that should be a string: the string, or whatever else arrived.
#[derive(Deserialize)]
#[serde(untagged)]
enum Text {
    Str(String),
    Other(IgnoredAny),
}

/// The `type` of a message that did not parse, to say why ([`explain`]): a JSON object is
/// read for its `type` alone; anything else is refused.
struct Tag(Option<Text>);

impl<'de> Deserialize<'de> for Tag {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Tag, D::Error> {
        struct Visit;
        impl<'de> Visitor<'de> for Visit {
            type Value = Tag;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Tag, M::Error> {
                let mut tag = None;
                while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                    match key.as_ref() {
                        // As in a JSON object, the last of repeated keys counts.
                        "type" => tag = map.next_value::<Option<Text>>()?,
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(Tag(tag))
            }
        }
        deserializer.deserialize_map(Visit)
    }
}

/// Parses one WebSocket message: the message and what travels beside it. `max_body` bounds
/// `source` and `args` in bytes, as the GGS 1.0 body limit does.
pub fn parse_client(text: &[u8], max_body: usize) -> Result<(ClientMessage, Meta), JsonError> {
    let text = std::str::from_utf8(text).map_err(|_| JsonError::NotText)?;
    let incoming = serde_json::from_str::<Incoming>(text).map_err(|e| explain(text, e))?;
    let query =
        |versions, ack, query| Ok((ClientMessage::Query(query), meta(versions, ack, None)?));
    match incoming {
        Incoming::Hello {
            table,
            token,
            game,
            auth,
            versions,
            ack,
        } => {
            let meta = meta(versions, ack, None)?;
            let table = text_field(table, "table")?
                .map(|t| t.trim().to_string())
                .filter(|t| !t.is_empty())
                .map(|t| match Uuid::parse_str(&t) {
                    Ok(id) => TableRef::Id(id),
                    Err(_) => TableRef::Unknown(t),
                });
            let token = text_field(token, "token")?.and_then(|t| Token::parse(&t));
            let game = game_field(game)?;
            let auth = text_field(auth, "auth")?.filter(|a| !a.is_empty());
            let hello = ClientMessage::Hello {
                table,
                token,
                game,
                auth,
            };
            Ok((hello, meta))
        }
        Incoming::Define {
            source,
            game,
            versions,
            ack,
        } => {
            let meta = meta(versions, ack, None)?;
            if let Some(name) = game_field(game)? {
                return Ok((ClientMessage::DefineGame { name }, meta));
            }
            let source = text_field(source, "source")?
                .ok_or_else(|| JsonError::BadJson("define needs a \"source\" string".into()))?;
            check_size("source", &source, max_body)?;
            Ok((ClientMessage::Define { source }, meta))
        }
        Incoming::Command {
            command,
            args,
            versions,
            ack,
            seq,
        } => {
            let meta = meta(versions, ack, seq)?;
            let command = text_field(command, "command")?
                .filter(|c| !c.is_empty())
                .ok_or_else(|| JsonError::BadJson("command needs a \"command\" string".into()))?;
            let args = match args {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(s)) => s,
                // Any other JSON value is passed on as its compact JSON text.
                Some(other) => other.to_string(),
            };
            check_size("args", &args, max_body)?;
            Ok((ClientMessage::Game { command, args }, meta))
        }
        Incoming::Ack { versions, ack } => {
            let meta = meta(versions, ack, None)?;
            if meta.ack.is_none() {
                let why = "an ack needs \"ack\": the highest msg received";
                return Err(JsonError::BadJson(why.into()));
            }
            Ok((ClientMessage::Ack, meta))
        }
        Incoming::Games { versions, ack } => query(versions, ack, Query::Games),
        Incoming::Tables { versions, ack } => query(versions, ack, Query::Tables),
        Incoming::Who { versions, ack } => query(versions, ack, Query::Who),
        Incoming::Whoami { versions, ack } => query(versions, ack, Query::Whoami),
        Incoming::Version { versions, ack } => query(versions, ack, Query::Version),
    }
}

/// GGS 1.1's fields beside a message: `versions` (an array of at most
/// [`MAX_OFFERED_VERSIONS`] strings), `ack` (an integer from 0) and `seq` (from 1).
fn meta(
    versions: Option<Value>,
    ack: Option<Value>,
    seq: Option<Value>,
) -> Result<Meta, JsonError> {
    let versions = match versions {
        None => None,
        Some(Value::Array(names)) => {
            if names.len() > MAX_OFFERED_VERSIONS {
                return Err(JsonError::BadJson(format!(
                    "\"versions\" may list at most {MAX_OFFERED_VERSIONS} versions"
                )));
            }
            let names = names.into_iter().map(|name| match name {
                Value::String(name) => Ok(name),
                _ => Err(JsonError::BadJson(
                    "\"versions\" must be an array of strings".into(),
                )),
            });
            Some(names.collect::<Result<Vec<_>, _>>()?)
        }
        Some(_) => {
            let why = "\"versions\" must be an array of strings, e.g. [\"1.0\", \"1.1\"]";
            return Err(JsonError::BadJson(why.into()));
        }
    };
    let number = |field: Option<Value>, name: &str, min: u64| match field {
        None => Ok(None),
        Some(value) => match value.as_u64().filter(|n| *n >= min) {
            Some(n) => Ok(Some(n)),
            None if min == 0 => Err(JsonError::BadJson(format!(
                "\"{name}\" must be a non-negative integer"
            ))),
            None => Err(JsonError::BadJson(format!(
                "\"{name}\" must be an integer from {min} up"
            ))),
        },
    };
    Ok(Meta {
        versions,
        ack: number(ack, "ack", 0)?,
        seq: number(seq, "seq", 1)?,
    })
}

/// Says why a message did not parse as an [`Incoming`]: not JSON, not an object, no `type` or
/// one that is not a string or no message type; else what serde said (a repeated field).
fn explain(text: &str, error: serde_json::Error) -> JsonError {
    if let Err(e) = serde_json::from_str::<IgnoredAny>(text) {
        return JsonError::BadJson(format!("the message is not JSON: {e}"));
    }
    let Ok(Tag(tag)) = serde_json::from_str::<Tag>(text) else {
        return JsonError::BadJson("the message must be a JSON object".into());
    };
    match tag {
        None => JsonError::MissingType,
        Some(Text::Other(_)) => JsonError::BadJson("\"type\" must be a string".into()),
        Some(Text::Str(kind)) if !is_type(&kind) => JsonError::UnknownType(kind),
        Some(Text::Str(_)) => {
            // serde's sentence, without the position serde_json appends to it.
            let at = format!(" at line {} column {}", error.line(), error.column());
            let sentence = error.to_string();
            let sentence = sentence.strip_suffix(&at).unwrap_or(&sentence);
            JsonError::BadJson(sentence.to_string())
        }
    }
}

/// Whether `kind` names a client message.
fn is_type(kind: &str) -> bool {
    matches!(kind, "hello" | "define" | "command" | "ack") || Query::from_name(kind).is_some()
}

/// The `game` field, trimmed; an empty one counts as absent.
fn game_field(game: Option<Text>) -> Result<Option<String>, JsonError> {
    Ok(text_field(game, "game")?
        .map(|g| g.trim().to_string())
        .filter(|g| !g.is_empty()))
}

/// A field that must be a string when present.
fn text_field(field: Option<Text>, name: &str) -> Result<Option<String>, JsonError> {
    match field {
        None => Ok(None),
        Some(Text::Str(s)) => Ok(Some(s)),
        Some(Text::Other(_)) => Err(JsonError::BadJson(format!("\"{name}\" must be a string"))),
    }
}

/// A reply as it leaves: exactly the command and body a GGS 1.0 client would get, and on a
/// `hello` reply the player's public id.
#[derive(Serialize)]
struct Outgoing<'a> {
    command: &'a str,
    body: Cow<'a, str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    player: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    msg: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seq: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next: Option<Next<'a>>,
}

/// Where a `next` reply sends the client: `{"url": "ws://HOST:PORT/ws"}`.
#[derive(Serialize)]
struct Next<'a> {
    url: &'a str,
}

/// The JSON text of a reply: `{"command": .., "body": ..}` (and `"player"` on `hello`). A body that is not UTF-8 (never
/// produced by scripts, whose strings are text) is sent with replacement characters.
pub fn encode_server(message: &ServerMessage) -> String {
    encode(message, Version::V1_0, None)
}

/// The JSON text of a reply in `version` (from 1.1 with `"msg"` and `"seq"` when set), with
/// `"version": announce` when given.
fn encode(message: &ServerMessage, version: Version, announce: Option<Version>) -> String {
    let numbered = version.exactly_once();
    let reply = Outgoing {
        command: &message.command,
        body: String::from_utf8_lossy(&message.body),
        player: message.player.as_deref(),
        msg: message.msg.filter(|_| numbered),
        seq: message.seq.filter(|_| numbered),
        version: announce.map(Version::as_str),
        // Whatever the version: a web client follows it or shows it.
        next: message.next.as_deref().map(|url| Next { url }),
    };
    serde_json::to_string(&reply).expect("strings and numbers always serialize")
}

/// Renders the replies of one WebSocket connection in the version in force when each is
/// written (`None`: the client never offered versions, so every reply is exactly what
/// [`encode_server`] writes). Once versions were offered, a `hello` reply and the first message
/// in a version other than the last one written carry `"version"`.
#[derive(Debug, Default)]
pub struct Encoder {
    /// The version of the last message written.
    last: Option<Version>,
}

impl Encoder {
    /// The JSON text of `message` for a connection whose version is now `version`.
    pub fn encode(&mut self, message: &ServerMessage, version: Option<Version>) -> String {
        let hello = message.player.is_some();
        let announce = version.filter(|v| hello || Some(*v) != self.last);
        self.last = version;
        encode(message, version.unwrap_or_default(), announce)
    }
}

fn check_size(what: &'static str, text: &str, limit: usize) -> Result<(), JsonError> {
    if text.len() > limit {
        return Err(JsonError::TooLarge {
            what,
            length: text.len(),
            limit,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: usize = 1024;
    const TABLE: &str = "6f1c2b1e-0000-4000-8000-000000000001";
    const PLAYER: &str = "6f1c2b1e-0000-4000-8000-000000000002";

    fn parse(text: &str) -> Result<ClientMessage, JsonError> {
        parse_client(text.as_bytes(), LIMIT).map(|(message, _)| message)
    }

    fn meta(text: &str) -> Result<Meta, JsonError> {
        parse_client(text.as_bytes(), LIMIT).map(|(_, meta)| meta)
    }

    fn names(list: &[&str]) -> Option<Vec<String>> {
        Some(list.iter().map(|n| n.to_string()).collect())
    }

    #[test]
    fn the_1_1_fields_travel_beside_any_message() {
        assert_eq!(meta(r#"{"type":"hello"}"#), Ok(Meta::default()));
        assert_eq!(
            meta(&format!(
                r#"{{"type":"hello","table":"{TABLE}","token":"{PLAYER}","versions":["1.0","1.1"],"ack":4}}"#
            )),
            Ok(Meta {
                versions: names(&["1.0", "1.1"]),
                ack: Some(4),
                seq: None
            })
        );
        assert_eq!(
            parse_client(
                br#"{"type":"command","command":"inc","seq":3,"ack":0}"#,
                LIMIT
            ),
            Ok((
                ClientMessage::Game {
                    command: "inc".into(),
                    args: String::new()
                },
                Meta {
                    versions: None,
                    ack: Some(0),
                    seq: Some(3)
                }
            ))
        );
        for kind in [
            "define\",\"game\":\"chat",
            "games",
            "tables",
            "who",
            "whoami",
            "version",
        ] {
            let text = format!(r#"{{"type":"{kind}","versions":["2.0"],"ack":1}}"#);
            assert_eq!(
                meta(&text),
                Ok(Meta {
                    versions: names(&["2.0"]),
                    ack: Some(1),
                    seq: None
                }),
                "{text}"
            );
        }
        assert_eq!(
            parse(r#"{"type":"version","versions":[]}"#),
            Ok(ClientMessage::Query(Query::Version))
        );
        assert_eq!(
            parse_client(br#"{"type":"ack","ack":9}"#, LIMIT),
            Ok((
                ClientMessage::Ack,
                Meta {
                    ack: Some(9),
                    ..Meta::default()
                }
            ))
        );
    }

    #[test]
    fn malformed_1_1_fields_are_bad_json() {
        let why = |t: &str| {
            let e = parse(t).unwrap_err();
            assert_eq!(e.code(), "bad_json", "{t}");
            e.to_string()
        };
        assert_eq!(
            why(r#"{"type":"hello","versions":"1.0 1.1"}"#),
            r#""versions" must be an array of strings, e.g. ["1.0", "1.1"]"#
        );
        assert_eq!(
            why(r#"{"type":"hello","versions":["1.0",1.1]}"#),
            r#""versions" must be an array of strings"#
        );
        let many = vec!["\"1.0\""; MAX_OFFERED_VERSIONS + 1].join(",");
        assert_eq!(
            why(&format!(r#"{{"type":"who","versions":[{many}]}}"#)),
            format!(r#""versions" may list at most {MAX_OFFERED_VERSIONS} versions"#)
        );
        for ack in ["-1", "1.5", "\"3\"", "[]", "18446744073709551616"] {
            assert_eq!(
                why(&format!(r#"{{"type":"who","ack":{ack}}}"#)),
                r#""ack" must be a non-negative integer"#,
                "{ack}"
            );
        }
        for seq in ["0", "-2", "\"1\""] {
            assert_eq!(
                why(&format!(
                    r#"{{"type":"command","command":"c","seq":{seq}}}"#
                )),
                r#""seq" must be an integer from 1 up"#,
                "{seq}"
            );
        }
        assert_eq!(
            why(r#"{"type":"ack"}"#),
            r#"an ack needs "ack": the highest msg received"#
        );
        // null is absent, as for args; a seq is a command's: elsewhere it is not read.
        assert_eq!(meta(r#"{"type":"who","ack":null}"#), Ok(Meta::default()));
        assert_eq!(meta(r#"{"type":"who","seq":"x"}"#), Ok(Meta::default()));
    }

    #[test]
    fn a_client_that_offers_no_version_gets_the_2011_replies() {
        let mut encoder = Encoder::default();
        let token = Token::parse("6f1c2b1e-0000-4000-8000-00000000000a").unwrap();
        let hello = ServerMessage {
            seq: Some(0),
            ..ServerMessage::hello(&token, true, "t-1", "p-1")
        };
        let numbered = ServerMessage {
            msg: Some(1),
            ..ServerMessage::new("echo", "x")
        };
        for message in [&hello, &numbered] {
            assert_eq!(encoder.encode(message, None), encode_server(message));
        }
        assert_eq!(
            encoder.encode(&numbered, None),
            r#"{"command":"echo","body":"x"}"#
        );
    }

    #[test]
    fn replies_say_their_version_when_it_changes() {
        let mut encoder = Encoder::default();
        let token = Token::parse("6f1c2b1e-0000-4000-8000-00000000000a").unwrap();
        let hello = ServerMessage {
            seq: Some(5),
            ..ServerMessage::hello(&token, true, "t-1", "p-1")
        };
        let numbered = |n| ServerMessage {
            msg: Some(n),
            ..ServerMessage::new("echo", "x")
        };
        let v11 = Some(Version::V1_1);
        assert_eq!(
            encoder.encode(&hello, v11),
            r#"{"command":"hello","body":"6f1c2b1e-0000-4000-8000-00000000000a,true,t-1","player":"p-1","seq":5,"version":"1.1"}"#
        );
        assert_eq!(
            encoder.encode(&numbered(1), v11),
            r#"{"command":"echo","body":"x","msg":1}"#
        );
        // Every hello reply says it.
        assert!(encoder
            .encode(&hello, v11)
            .ends_with(r#","version":"1.1"}"#));
        // Back to 1.0: the first message says so, and numbers are no longer shown.
        assert_eq!(
            encoder.encode(&numbered(2), Some(Version::V1_0)),
            r#"{"command":"echo","body":"x","version":"1.0"}"#
        );
        assert_eq!(
            encoder.encode(&numbered(3), Some(Version::V1_0)),
            r#"{"command":"echo","body":"x"}"#
        );
        assert_eq!(
            encoder.encode(&ServerMessage::new("pong", ""), v11),
            r#"{"command":"pong","body":"","version":"1.1"}"#
        );
        // A 1.0 hello reply of a client that offered versions says it too.
        let mut fresh = Encoder::default();
        assert!(fresh
            .encode(
                &ServerMessage::hello(&token, false, "t", "p"),
                Some(Version::V1_0)
            )
            .ends_with(r#""player":"p","version":"1.0"}"#));
    }

    #[test]
    fn hello_creates_joins_and_resumes() {
        assert_eq!(
            parse(r#"{"type":"hello"}"#),
            Ok(ClientMessage::Hello {
                auth: None,
                table: None,
                token: None,
                game: None
            })
        );
        assert_eq!(
            parse(r#"{"type":"hello","table":""}"#),
            Ok(ClientMessage::Hello {
                auth: None,
                table: None,
                token: None,
                game: None
            })
        );
        assert_eq!(
            parse(&format!(
                r#"{{"type":"hello","table":"{TABLE}","token":"{PLAYER}"}}"#
            )),
            Ok(ClientMessage::Hello {
                auth: None,
                table: Some(TableRef::Id(Uuid::parse_str(TABLE).unwrap())),
                token: Token::parse(PLAYER),
                game: None,
            })
        );
        // Any token text is a token (one that is no UUID matches no seat); an empty one is none.
        assert_eq!(
            parse(r#"{"type":"hello","table":"nope","token":"x"}"#),
            Ok(ClientMessage::Hello {
                auth: None,
                table: Some(TableRef::Unknown("nope".into())),
                token: Token::parse("x"),
                game: None
            })
        );
        assert_eq!(
            parse(r#"{"type":"hello","token":""}"#),
            Ok(ClientMessage::Hello {
                auth: None,
                table: None,
                token: None,
                game: None
            })
        );
        assert_eq!(
            parse(r#"{"type":"whoami"}"#),
            Ok(ClientMessage::Query(Query::Whoami))
        );
    }

    #[test]
    fn catalogue_games_and_queries() {
        assert_eq!(
            parse(r#"{"type":"hello","game":"chat"}"#),
            Ok(ClientMessage::Hello {
                auth: None,
                table: None,
                token: None,
                game: Some("chat".into())
            })
        );
        assert_eq!(
            parse(r#"{"type":"define","game":"pong"}"#),
            Ok(ClientMessage::DefineGame {
                name: "pong".into()
            })
        );
        assert_eq!(
            parse(r#"{"type":"tables"}"#),
            Ok(ClientMessage::Query(Query::Tables))
        );
        assert_eq!(
            parse(r#"{"type":"hello","game":5}"#).unwrap_err().code(),
            "bad_json"
        );
    }

    #[test]
    fn define_and_commands() {
        assert_eq!(
            parse(r#"{"type":"define","source":"var x = 1;"}"#),
            Ok(ClientMessage::Define {
                source: "var x = 1;".into()
            })
        );
        assert_eq!(
            parse(r#"{"type":"command","command":"message","args":"hi ☃"}"#),
            Ok(ClientMessage::Game {
                command: "message".into(),
                args: "hi ☃".into()
            })
        );
        assert_eq!(
            parse(r#"{"type":"command","command":"ping"}"#),
            Ok(ClientMessage::Game {
                command: "ping".into(),
                args: String::new()
            })
        );
        assert_eq!(
            parse(r#"{"type":"command","command":"set","args":{"x":1,"y":2}}"#),
            Ok(ClientMessage::Game {
                command: "set".into(),
                args: r#"{"x":1,"y":2}"#.into()
            })
        );
    }

    #[test]
    fn errors_have_the_ggs_codes() {
        let code = |t: &str| parse(t).unwrap_err().code();
        assert_eq!(code("not json"), "bad_json");
        assert_eq!(code("[1,2]"), "bad_json");
        assert_eq!(code(r#"{"command":"x"}"#), "missing_command");
        assert_eq!(code(r#"{"type":"launch"}"#), "unknown_command");
        assert_eq!(code(r#"{"type":"hello","table":5}"#), "bad_json");
        assert_eq!(code(r#"{"type":"define"}"#), "bad_json");
        assert_eq!(code(r#"{"type":"command","command":""}"#), "bad_json");
        let big = "x".repeat(LIMIT + 1);
        assert_eq!(
            code(&format!(r#"{{"type":"define","source":"{big}"}}"#)),
            "body_too_large"
        );
        assert_eq!(
            parse_client(&[0xff, 0xfe], LIMIT).unwrap_err().code(),
            "bad_encoding"
        );
    }

    #[test]
    fn errors_say_what_is_wrong() {
        let why = |t: &str| parse(t).unwrap_err().to_string();
        assert!(why(r#"{"type":"hello", oops}"#)
            .starts_with("the message is not JSON: key must be a string at line 1 column"));
        assert!(why(r#"{"type":"launch", "#).starts_with("the message is not JSON: "));
        assert_eq!(why("[1,2]"), "the message must be a JSON object");
        assert_eq!(why(r#""hello""#), "the message must be a JSON object");
        assert_eq!(why(r#"{"type":null}"#), JsonError::MissingType.to_string());
        assert_eq!(why(r#"{"type":5}"#), r#""type" must be a string"#);
        assert_eq!(
            why(r#"{"type":"launch","table":5}"#),
            JsonError::UnknownType("launch".into()).to_string()
        );
        let wrong_fields = [
            (
                r#"{"type":"hello","token":[1]}"#,
                r#""token" must be a string"#,
            ),
            (
                r#"{"type":"hello","game":{}}"#,
                r#""game" must be a string"#,
            ),
            (
                r#"{"type":"define","game":" "}"#,
                r#"define needs a "source" string"#,
            ),
            (
                r#"{"type":"define","source":1}"#,
                r#""source" must be a string"#,
            ),
            (
                r#"{"type":"command","command":5}"#,
                r#""command" must be a string"#,
            ),
            (
                r#"{"type":"command","args":"x"}"#,
                r#"command needs a "command" string"#,
            ),
        ];
        for (text, sentence) in wrong_fields {
            assert_eq!(why(text), sentence, "{text}");
        }
        assert_eq!(
            why(&format!(
                r#"{{"type":"command","command":"c","args":"{}"}}"#,
                "y".repeat(LIMIT + 1)
            )),
            format!(
                "the args of {} bytes is larger than the limit of {LIMIT} bytes",
                LIMIT + 1
            )
        );
    }

    #[test]
    fn a_repeated_field_is_bad_json() {
        let e = parse(r#"{"type":"hello","table":"a","table":"b"}"#).unwrap_err();
        assert_eq!(e, JsonError::BadJson("duplicate field `table`".into()));
        assert_eq!(
            parse(r#"{"type":"hello","type":"who"}"#)
                .unwrap_err()
                .code(),
            "bad_json"
        );
    }

    #[test]
    fn other_fields_are_ignored() {
        assert_eq!(
            parse(r#"{"type":"who","x":[1,{"y":2}]}"#),
            Ok(ClientMessage::Query(Query::Who))
        );
        assert_eq!(
            parse(r#"{"type":"command","command":"c","args":null,"source":5}"#),
            Ok(ClientMessage::Game {
                command: "c".into(),
                args: String::new()
            })
        );
        assert_eq!(
            parse(r#"{"command":"c","type":"hello","table":" "}"#),
            Ok(ClientMessage::Hello {
                auth: None,
                table: None,
                token: None,
                game: None
            })
        );
    }

    #[test]
    fn replies_carry_command_and_body() {
        let text = encode_server(&ServerMessage::new("message", "bob> \"hi\"\n"));
        let value: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["command"], "message");
        assert_eq!(value["body"], "bob> \"hi\"\n");
        let error = encode_server(&ServerMessage::error("not_seated", Some("say hello")));
        assert_eq!(
            error,
            r#"{"command":"error","body":"not_seated say hello"}"#
        );
        let token = Token::parse("6f1c2b1e-0000-4000-8000-00000000000a").unwrap();
        let hello = encode_server(&ServerMessage::hello(&token, true, "t-1", "p-1"));
        assert_eq!(
            hello,
            r#"{"command":"hello","body":"6f1c2b1e-0000-4000-8000-00000000000a,true,t-1","player":"p-1"}"#
        );
    }

    #[test]
    fn a_next_reply_carries_the_url_in_any_version() {
        let next = ServerMessage::next("t-1", "a", "ws://10.0.0.2:8080/ws");
        let value: Value = serde_json::from_str(&encode_server(&next)).unwrap();
        assert_eq!(value["command"], "next");
        assert_eq!(value["next"]["url"], "ws://10.0.0.2:8080/ws");
        let plain: Value =
            serde_json::from_str(&encode_server(&ServerMessage::new("pong", ""))).unwrap();
        assert!(plain.get("next").is_none(), "{plain}");
    }
}
