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
//! ```
//!
//! Server to client: `{"command": "<Client-Command>", "body": "<body>"}`, exactly the command
//! and body a GGS 1.0 client would get; the `hello` reply adds `"player": "<public player id>"`.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::message::{ClientMessage, Query, ServerMessage, TableRef};
use super::token::Token;

/// Why a WebSocket message means nothing to the server. `code()` is the stable code sent in
/// the `error` reply; Display is the sentence after it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsonError {
    /// Not JSON, not an object, or a field of the wrong JSON type.
    #[error("{0}")]
    BadJson(String),
    /// No `type` field.
    #[error("a message needs a \"type\": hello, define, command, games, tables, who or whoami")]
    MissingType,
    /// A `type` the server does not know.
    #[error("unknown message type '{0}' (expected hello, define, command, games, tables, who or whoami)")]
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
/// the field's name ([`text`]).
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum Incoming {
    Hello {
        table: Option<Text>,
        token: Option<Text>,
        game: Option<Text>,
        auth: Option<Text>,
    },
    Define {
        source: Option<Text>,
        game: Option<Text>,
    },
    Command {
        command: Option<Text>,
        /// Any JSON value: a string is the argument string itself, anything else its JSON text.
        args: Option<Value>,
    },
    Games,
    Tables,
    Who,
    Whoami,
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

/// Parses one WebSocket message. `max_body` bounds `source` and `args` in bytes, as the GGS 1.0
/// body limit does.
pub fn parse_client(text: &[u8], max_body: usize) -> Result<ClientMessage, JsonError> {
    let text = std::str::from_utf8(text).map_err(|_| JsonError::NotText)?;
    let incoming = serde_json::from_str::<Incoming>(text).map_err(|e| explain(text, e))?;
    match incoming {
        Incoming::Hello {
            table,
            token,
            game,
            auth,
        } => {
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
            Ok(ClientMessage::Hello {
                table,
                token,
                game,
                auth,
            })
        }
        Incoming::Define { source, game } => {
            if let Some(name) = game_field(game)? {
                return Ok(ClientMessage::DefineGame { name });
            }
            let source = text_field(source, "source")?
                .ok_or_else(|| JsonError::BadJson("define needs a \"source\" string".into()))?;
            check_size("source", &source, max_body)?;
            Ok(ClientMessage::Define { source })
        }
        Incoming::Command { command, args } => {
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
            Ok(ClientMessage::Game { command, args })
        }
        Incoming::Games => Ok(ClientMessage::Query(Query::Games)),
        Incoming::Tables => Ok(ClientMessage::Query(Query::Tables)),
        Incoming::Who => Ok(ClientMessage::Query(Query::Who)),
        Incoming::Whoami => Ok(ClientMessage::Query(Query::Whoami)),
    }
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
    matches!(kind, "hello" | "define" | "command") || Query::from_name(kind).is_some()
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
}

/// The JSON text of a reply: `{"command": .., "body": ..}` (and `"player"` on `hello`). A body that is not UTF-8 (never
/// produced by scripts, whose strings are text) is sent with replacement characters.
pub fn encode_server(message: &ServerMessage) -> String {
    let reply = Outgoing {
        command: &message.command,
        body: String::from_utf8_lossy(&message.body),
        player: message.player.as_deref(),
    };
    serde_json::to_string(&reply).expect("two strings always serialize")
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
        parse_client(text.as_bytes(), LIMIT)
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
}
