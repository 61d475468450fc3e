//! The WebSocket protocol: one JSON object per text message, mapped one to one onto
//! [`ClientMessage`] and [`ServerMessage`], the same session model as GGS 1.0.
//!
//! Client to server (`type` plays the part of `Server-Command` / `Game-Command`):
//!
//! ```json
//! {"type": "hello"}                                         create a table
//! {"type": "hello", "table": "<table-id>"}                  join one
//! {"type": "hello", "table": "<table-id>", "token": "<player-id>"}   take back a held seat
//! {"type": "hello", "game": "<game-name>"}                  create a table running a catalogue game
//! {"type": "define", "source": "<javascript>"}
//! {"type": "define", "game": "<game-name>"}                 define a catalogue game
//! {"type": "games"}, {"type": "tables"}, {"type": "who"}   ask the server
//! {"type": "command", "command": "set", "args": "{\"x\":1,\"y\":2}"}
//! ```
//!
//! Server to client: `{"command": "<Client-Command>", "body": "<body>"}`, exactly the command
//! and body a GGS 1.0 client would get.

use serde_json::{Map, Value};
use uuid::Uuid;

use super::message::{ClientMessage, Query, ServerMessage, TableRef};

/// Why a WebSocket message means nothing to the server. `code()` is the stable code sent in
/// the `error` reply; Display is the sentence after it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsonError {
    /// Not JSON, not an object, or a field of the wrong JSON type.
    #[error("{0}")]
    BadJson(String),
    /// No `type` field.
    #[error("a message needs a \"type\": hello, define, command, games, tables or who")]
    MissingType,
    /// A `type` the server does not know.
    #[error("unknown message type '{0}' (expected hello, define, command, games, tables or who)")]
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

/// Parses one WebSocket message. `max_body` bounds `source` and `args` in bytes, as the GGS 1.0
/// body limit does.
pub fn parse_client(text: &[u8], max_body: usize) -> Result<ClientMessage, JsonError> {
    let text = std::str::from_utf8(text).map_err(|_| JsonError::NotText)?;
    let value: Value = serde_json::from_str(text)
        .map_err(|e| JsonError::BadJson(format!("the message is not JSON: {e}")))?;
    let Value::Object(object) = value else {
        return Err(JsonError::BadJson(
            "the message must be a JSON object".into(),
        ));
    };
    let kind = match object.get("type") {
        None | Some(Value::Null) => return Err(JsonError::MissingType),
        Some(Value::String(kind)) => kind.as_str(),
        Some(_) => return Err(JsonError::BadJson("\"type\" must be a string".into())),
    };
    match kind {
        "hello" => {
            let table = string_field(&object, "table")?
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(|t| match Uuid::parse_str(t) {
                    Ok(id) => TableRef::Id(id),
                    Err(_) => TableRef::Unknown(t.to_string()),
                });
            // As with the GGS 1.0 `Token` header, a token that is no player id is ignored.
            let token = string_field(&object, "token")?.and_then(|t| Uuid::parse_str(t).ok());
            let game = game_field(&object)?;
            Ok(ClientMessage::Hello { table, token, game })
        }
        "define" => {
            if let Some(name) = game_field(&object)? {
                return Ok(ClientMessage::DefineGame { name });
            }
            let source = string_field(&object, "source")?
                .ok_or_else(|| JsonError::BadJson("define needs a \"source\" string".into()))?;
            check_size("source", source, max_body)?;
            Ok(ClientMessage::Define {
                source: source.to_string(),
            })
        }
        "command" => {
            let command = string_field(&object, "command")?
                .filter(|c| !c.is_empty())
                .ok_or_else(|| JsonError::BadJson("command needs a \"command\" string".into()))?;
            let args = match object.get("args") {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(s)) => s.clone(),
                // Any other JSON value is passed on as its compact JSON text.
                Some(other) => other.to_string(),
            };
            check_size("args", &args, max_body)?;
            Ok(ClientMessage::Game {
                command: command.to_string(),
                args,
            })
        }
        other => match Query::from_name(other) {
            Some(query) => Ok(ClientMessage::Query(query)),
            None => Err(JsonError::UnknownType(other.to_string())),
        },
    }
}

/// The `game` field, trimmed; an empty one counts as absent.
fn game_field(object: &Map<String, Value>) -> Result<Option<String>, JsonError> {
    Ok(string_field(object, "game")?
        .map(str::trim)
        .filter(|g| !g.is_empty())
        .map(str::to_string))
}

/// The JSON text of a reply: `{"command": .., "body": ..}`. A body that is not UTF-8 (never
/// produced by scripts, whose strings are text) is sent with replacement characters.
pub fn encode_server(message: &ServerMessage) -> String {
    let quote = |s: &str| Value::String(s.to_string()).to_string();
    let body = String::from_utf8_lossy(&message.body);
    format!(
        r#"{{"command":{},"body":{}}}"#,
        quote(&message.command),
        quote(&body)
    )
}

fn string_field<'a>(
    object: &'a Map<String, Value>,
    name: &str,
) -> Result<Option<&'a str>, JsonError> {
    match object.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(JsonError::BadJson(format!("\"{name}\" must be a string"))),
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
        parse_client(text.as_bytes(), LIMIT)
    }

    #[test]
    fn hello_creates_joins_and_resumes() {
        assert_eq!(
            parse(r#"{"type":"hello"}"#),
            Ok(ClientMessage::Hello {
                table: None,
                token: None,
                game: None
            })
        );
        assert_eq!(
            parse(r#"{"type":"hello","table":""}"#),
            Ok(ClientMessage::Hello {
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
                table: Some(TableRef::Id(Uuid::parse_str(TABLE).unwrap())),
                token: Some(Uuid::parse_str(PLAYER).unwrap()),
                game: None,
            })
        );
        assert_eq!(
            parse(r#"{"type":"hello","table":"nope","token":"x"}"#),
            Ok(ClientMessage::Hello {
                table: Some(TableRef::Unknown("nope".into())),
                token: None,
                game: None
            })
        );
    }

    #[test]
    fn catalogue_games_and_queries() {
        assert_eq!(
            parse(r#"{"type":"hello","game":"chat"}"#),
            Ok(ClientMessage::Hello {
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
    }
}
