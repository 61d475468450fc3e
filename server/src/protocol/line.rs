//! The human line mode on the TCP port: one line per message, for a person at `telnet` or `nc`.
//!
//! A connection whose first line is not a GGS 1.0 header (`Name: value`) is in line mode
//! ([`detect`]). It is another framing of the same [`ClientMessage`]s and [`ServerMessage`]s
//! as GGS 1.0 and JSON, so sessions and tables cannot tell a line-mode player from another:
//!
//! ```text
//! /hello chat            ClientMessage::Hello { game: Some("chat") }   (create a chat table)
//! /hello <table-id>      ClientMessage::Hello { table }                (join one)
//! /hello <table> <token> ClientMessage::Hello { table, token }         (take back a held seat)
//! /define pong           ClientMessage::DefineGame { name: "pong" }
//! /auth <credential>     ClientMessage::Auth { credential }            (for the next hellos)
//! /games /tables /who /whoami   ClientMessage::Query(..)
//! /version               ClientMessage::Query(Query::Version)          (the connection's version)
//! /version 1.0 1.1       the same, with Meta { versions }              (negotiate, as GGS-Versions)
//! /ack 12                ClientMessage::Ack with Meta { ack: 12 }      (GGS 1.1)
//! message hello there    ClientMessage::Game { command: "message", args: "hello there" }
//! //nick alice           ClientMessage::Game { command: "/nick", args: "alice" }
//! ```
//!
//! `/help` and `/quit` are answered by the connection itself. Replies are one line
//! `<command> <body>`, or, when the body has several lines, the command alone followed by the
//! body's lines indented by two spaces; lines end with CRLF (what telnet expects). Control
//! characters in replies are shown as `?`, so no player or script can drive another player's
//! terminal. The `hello` reply is `hello <token>,<defined>,<table-id>,<player-id>`: the 2011
//! body and the player's public id. In GGS 1.1 a numbered message is shown as
//! `#<n> <command> <body>`. Telnet option negotiation (IAC sequences) is skipped; CR, LF and
//! CRLF all end a line.

use bytes::{Buf, BytesMut};
use uuid::Uuid;

use super::message::{
    valid_game_name, ClientMessage, Meta, Query, ServerMessage, TableRef, Version,
    MAX_OFFERED_VERSIONS,
};
use super::token::Token;

/// Longest line accepted, in bytes (after telnet sequences are removed). A longer line is
/// skipped up to its end and answered with `line_too_long`; the connection stays open.
pub const MAX_LINE: usize = 8 * 1024;
/// Longest first line looked at to tell a GGS 1.0 header from a line-mode command: a header
/// name is a short token.
pub const MAX_DETECT: usize = 256;
/// Indentation of the lines of a multi-line reply body.
pub const INDENT: &str = "  ";

/// Telnet "interpret as command".
const IAC: u8 = 255;
/// Telnet subnegotiation begin and end.
const SB: u8 = 250;
const SE: u8 = 240;
/// Telnet WILL, WONT, DO, DONT: each is followed by one option byte.
const WILL: u8 = 251;
const DONT: u8 = 254;

/// How a TCP connection speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// GGS 1.0 framing: headers, blank line, body.
    Ggs10,
    /// One line per message, for people.
    Line,
}

/// Tells the mode from the first bytes of a connection, or `None` while they do not tell yet.
///
/// GGS 1.0 clients always begin with a header line `Name: value`: a token of visible ASCII
/// characters and a colon. Anything else (a telnet IAC byte, a `/`, a space or a line end
/// before any colon) is line mode.
pub fn detect(bytes: &[u8]) -> Option<Mode> {
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b':' if i > 0 => return Some(Mode::Ggs10),
            b'!'..=b'~' if b != b':' && b != b'/' && i < MAX_DETECT => {}
            _ => return Some(Mode::Line),
        }
    }
    (bytes.len() >= MAX_DETECT).then_some(Mode::Line)
}

/// What one line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A message for the session.
    Message(ClientMessage),
    /// A message for the session with GGS 1.1's fields beside it (`/version <v...>`,
    /// `/ack <n>`).
    WithMeta(ClientMessage, Meta),
    /// `/help`: the connection answers with [`help`].
    Help,
    /// `/quit`: the connection says `bye` and closes.
    Quit,
    /// A blank line.
    Empty,
}

/// Why a line means nothing. `code()` is the stable code of the `error` reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    /// Longer than [`MAX_LINE`].
    #[error("a line may be at most {MAX_LINE} bytes; it was skipped")]
    TooLong,
    /// Not UTF-8.
    #[error("a line must be UTF-8 text")]
    NotText,
    /// A server command without the arguments it needs.
    #[error("usage: {0}")]
    Usage(&'static str),
    /// A `/command` the server does not know.
    #[error("unknown command /{0}; /help lists the commands, //{0} sends /{0} to the game")]
    UnknownCommand(String),
}

impl LineError {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            LineError::TooLong => "line_too_long",
            LineError::NotText => "bad_encoding",
            LineError::Usage(_) => "usage",
            LineError::UnknownCommand(_) => "unknown_command",
        }
    }
}

/// Where the decoder is in a telnet command sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Telnet {
    /// Plain data.
    Data,
    /// After IAC.
    Iac,
    /// After IAC WILL/WONT/DO/DONT: the option byte is next.
    Option,
    /// Inside a subnegotiation (IAC SB ... IAC SE).
    Sub,
    /// After IAC inside a subnegotiation.
    SubIac,
}

/// Splits the bytes of a connection into lines, skipping telnet sequences, with bounded
/// buffering: a line over [`MAX_LINE`] is dropped as it arrives, not held.
#[derive(Debug)]
pub struct LineDecoder {
    line: Vec<u8>,
    telnet: Telnet,
    /// Skipping the rest of a line that was too long.
    skipping: bool,
    /// The last byte ended a line with CR: an LF right after it belongs to that line end.
    after_cr: bool,
}

impl Default for LineDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl LineDecoder {
    /// A decoder at the start of a connection.
    pub fn new() -> Self {
        LineDecoder {
            line: Vec::new(),
            telnet: Telnet::Data,
            skipping: false,
            after_cr: false,
        }
    }

    /// Whether a line has begun but not ended (for the frame timeout).
    pub fn is_partial(&self) -> bool {
        !self.line.is_empty() || self.skipping || self.telnet != Telnet::Data
    }

    /// Consumes bytes from `buf` up to the end of the next complete line and returns what it
    /// asks for; `None` when `buf` ran out first (everything in it is consumed).
    pub fn decode(&mut self, buf: &mut BytesMut) -> Option<Result<Input, LineError>> {
        let mut used = 0;
        let mut result = None;
        for &b in buf.iter() {
            used += 1;
            if let Some(done) = self.byte(b) {
                result = Some(done);
                break;
            }
        }
        buf.advance(used);
        result
    }

    fn byte(&mut self, b: u8) -> Option<Result<Input, LineError>> {
        let after_cr = std::mem::take(&mut self.after_cr);
        match self.telnet {
            Telnet::Data => {}
            Telnet::Iac => {
                self.telnet = match b {
                    IAC => {
                        // An escaped 255 data byte (never valid UTF-8 on its own).
                        self.push(IAC);
                        Telnet::Data
                    }
                    SB => Telnet::Sub,
                    WILL..=DONT => Telnet::Option,
                    _ => Telnet::Data,
                };
                return None;
            }
            Telnet::Option => {
                self.telnet = Telnet::Data;
                return None;
            }
            Telnet::Sub => {
                if b == IAC {
                    self.telnet = Telnet::SubIac;
                }
                return None;
            }
            Telnet::SubIac => {
                self.telnet = if b == SE { Telnet::Data } else { Telnet::Sub };
                return None;
            }
        }
        match b {
            IAC => self.telnet = Telnet::Iac,
            b'\n' if after_cr => {}
            b'\r' | b'\n' => {
                self.after_cr = b == b'\r';
                let line = std::mem::take(&mut self.line);
                if std::mem::take(&mut self.skipping) {
                    return Some(Err(LineError::TooLong));
                }
                return Some(parse_bytes(&line));
            }
            // Telnet sends CR NUL for a bare CR; NUL never belongs in a line.
            0 => {}
            _ => self.push(b),
        }
        None
    }

    fn push(&mut self, b: u8) {
        if self.skipping {
            return;
        }
        if self.line.len() >= MAX_LINE {
            self.line = Vec::new();
            self.skipping = true;
            return;
        }
        self.line.push(b);
    }
}

fn parse_bytes(line: &[u8]) -> Result<Input, LineError> {
    let line = std::str::from_utf8(line).map_err(|_| LineError::NotText)?;
    parse(line)
}

/// What one line (without its line end) asks for.
pub fn parse(line: &str) -> Result<Input, LineError> {
    if line.trim().is_empty() {
        return Ok(Input::Empty);
    }
    let line = line.trim_start();
    if let Some(game_command) = line.strip_prefix("//") {
        // `//nick alice` is the game command `/nick` with args `alice`.
        let (command, args) = split(game_command);
        return Ok(Input::Message(ClientMessage::Game {
            command: format!("/{command}"),
            args: args.to_string(),
        }));
    }
    let Some(server_command) = line.strip_prefix('/') else {
        let (command, args) = split(line);
        return Ok(Input::Message(ClientMessage::Game {
            command: command.to_string(),
            args: args.to_string(),
        }));
    };
    let (command, args) = split(server_command);
    let mut words = args.split_whitespace();
    let message = match command {
        "hello" => hello(words.next(), words.next()),
        "define" => match words.next() {
            Some(name) => ClientMessage::DefineGame {
                name: name.to_string(),
            },
            None => return Err(LineError::Usage("/define <game-name>")),
        },
        "auth" => match args.trim() {
            "" => return Err(LineError::Usage("/auth <credential>")),
            credential => ClientMessage::Auth {
                credential: credential.to_string(),
            },
        },
        "version" => {
            let offered: Vec<String> = words.map(str::to_string).collect();
            if offered.is_empty() {
                ClientMessage::Query(Query::Version)
            } else if offered.len() > MAX_OFFERED_VERSIONS {
                return Err(LineError::Usage(
                    "/version [<version>...] (at most 16 versions)",
                ));
            } else {
                let meta = Meta {
                    versions: Some(offered),
                    ..Meta::default()
                };
                return Ok(Input::WithMeta(ClientMessage::Query(Query::Version), meta));
            }
        }
        "ack" => match (words.next().map(str::parse::<u64>), words.next()) {
            (Some(Ok(n)), None) => {
                let meta = Meta {
                    ack: Some(n),
                    ..Meta::default()
                };
                return Ok(Input::WithMeta(ClientMessage::Ack, meta));
            }
            _ => return Err(LineError::Usage("/ack <n> (the highest #n received)")),
        },
        "help" | "?" => return Ok(Input::Help),
        "quit" | "exit" | "bye" => return Ok(Input::Quit),
        other => match Query::from_name(other) {
            Some(query) => ClientMessage::Query(query),
            None => return Err(LineError::UnknownCommand(other.to_string())),
        },
    };
    Ok(Input::Message(message))
}

/// `/hello`, `/hello <game>`, `/hello <table-id> [token]`.
fn hello(first: Option<&str>, second: Option<&str>) -> ClientMessage {
    let token = second.and_then(Token::parse);
    let (table, game) = match first {
        None => (None, None),
        Some(word) => match Uuid::parse_str(word) {
            Ok(id) => (Some(TableRef::Id(id)), None),
            Err(_) if valid_game_name(word) => (None, Some(word.to_string())),
            Err(_) => (Some(TableRef::Unknown(word.to_string())), None),
        },
    };
    let auth = None;
    ClientMessage::Hello {
        table,
        token,
        game,
        auth,
    }
}

/// The first word and the rest after one space (kept as typed).
fn split(text: &str) -> (&str, &str) {
    match text.split_once([' ', '\t']) {
        Some((command, args)) => (command, args),
        None => (text, ""),
    }
}

/// Appends a reply as lines: `<command> <body>`, or the command and the body's lines indented
/// when it has several. Every line ends with CRLF.
pub fn encode(message: &ServerMessage, out: &mut BytesMut) {
    encode_as(message, Version::V1_0, out)
}

/// Appends a reply as [`encode`] does, for a connection speaking `version`: from GGS 1.1 a
/// numbered message starts with `#<n> `.
pub fn encode_as(message: &ServerMessage, version: Version, out: &mut BytesMut) {
    if let Some(n) = message.msg.filter(|_| version.exactly_once()) {
        out.extend_from_slice(format!("#{n} ").as_bytes());
    }
    let mut body = String::from_utf8_lossy(&message.body);
    if let Some(player) = &message.player {
        // The `hello` reply: the 2011 body, then the player's public id as a fourth field.
        body = format!("{body},{player}").into();
    }
    if let Some(next) = &message.next {
        // `next HOST:PORT`, then why: where the person connects to go on.
        body = format!("{next} {body}").into();
    }
    let body = body.strip_suffix('\n').unwrap_or(&body);
    push_visible(&message.command, out);
    if body.contains('\n') {
        out.extend_from_slice(b"\r\n");
        for line in body.split('\n') {
            out.extend_from_slice(INDENT.as_bytes());
            push_visible(line.strip_suffix('\r').unwrap_or(line), out);
            out.extend_from_slice(b"\r\n");
        }
    } else {
        if !body.is_empty() {
            out.extend_from_slice(b" ");
            push_visible(body.strip_suffix('\r').unwrap_or(body), out);
        }
        out.extend_from_slice(b"\r\n");
    }
}

/// Text with every control character but tab shown as `?`.
fn push_visible(text: &str, out: &mut BytesMut) {
    if !text.chars().any(|c| c.is_control() && c != '\t') {
        out.extend_from_slice(text.as_bytes());
        return;
    }
    for c in text.chars() {
        let c = if c.is_control() && c != '\t' { '?' } else { c };
        let mut utf8 = [0; 4];
        out.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
    }
}

/// The first thing a line-mode connection is told: what it is and how to start.
pub fn greeting() -> ServerMessage {
    ServerMessage::new(
        "welcome",
        format!(
            "GGS {} line mode. /games lists the games, /hello <game> starts a table, \
             /hello <table-id> joins one, /help shows every command.",
            env!("CARGO_PKG_VERSION")
        ),
    )
}

/// The reply to `/help`.
pub fn help() -> ServerMessage {
    ServerMessage::new(
        "help",
        "/hello <game>            start a table running a game (see /games)\n\
         /hello <table-id>        join a table\n\
         /hello <table-id> <tok>  take back your seat there (<tok>: the token, hello's first field)\n\
         /hello                   start an empty table, then /define <game>\n\
         /auth <credential>       sign in: your next /hello carries it (if the server asks)\n\
         /define <game>           set your table's game (its creator only)\n\
         /games                   list the games\n\
         /tables                  list the open tables\n\
         /who                     list the players at your table\n\
         /whoami                  your public player id (what the game and other players see)\n\
         /version                 the protocol version this connection speaks\n\
         /version <v> <v>...      offer versions (e.g. 1.0 1.1): the highest both speak is used\n\
         /ack <n>                 GGS 1.1: you have every numbered (#n) message up to n\n\
         /quit                    leave\n\
         <command> <args>         a game command, e.g. message hi (chat), guess 50 (guess)\n\
         //<command> <args>       a game command starting with /, e.g. //nick alice (chat)",
    )
}

/// The reply to `/quit`, before the connection closes.
pub fn bye() -> ServerMessage {
    ServerMessage::new("bye", "")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(bytes: &[u8]) -> Vec<Result<Input, LineError>> {
        let mut decoder = LineDecoder::new();
        let mut buf = BytesMut::from(bytes);
        let mut out = Vec::new();
        while let Some(input) = decoder.decode(&mut buf) {
            out.push(input);
        }
        out
    }

    fn game(command: &str, args: &str) -> Result<Input, LineError> {
        Ok(Input::Message(ClientMessage::Game {
            command: command.into(),
            args: args.into(),
        }))
    }

    fn rendered(message: ServerMessage) -> String {
        let mut out = BytesMut::new();
        encode(&message, &mut out);
        String::from_utf8(out.to_vec()).unwrap()
    }

    #[test]
    fn tells_headers_from_lines() {
        assert_eq!(detect(b"Server-Command: hello\n"), Some(Mode::Ggs10));
        assert_eq!(detect(b"Game-Command:"), Some(Mode::Ggs10));
        assert_eq!(detect(b"Server-Com"), None);
        assert_eq!(detect(b""), None);
        assert_eq!(detect(b"/hello chat\r\n"), Some(Mode::Line));
        assert_eq!(detect(b"message hi: there\n"), Some(Mode::Line));
        assert_eq!(detect(b"\r\n"), Some(Mode::Line));
        assert_eq!(detect(b":x"), Some(Mode::Line));
        assert_eq!(detect(&[IAC, 253, 1]), Some(Mode::Line));
        assert_eq!(detect(&[b'x'; MAX_DETECT]), Some(Mode::Line));
    }

    #[test]
    fn parses_server_and_game_commands() {
        assert_eq!(
            parse("/hello"),
            Ok(Input::Message(ClientMessage::Hello {
                auth: None,
                table: None,
                token: None,
                game: None
            }))
        );
        assert_eq!(
            parse("/hello chat"),
            Ok(Input::Message(ClientMessage::Hello {
                auth: None,
                table: None,
                token: None,
                game: Some("chat".into())
            }))
        );
        let table = "6f1c2b1e-0000-4000-8000-000000000001";
        let player = "6f1c2b1e-0000-4000-8000-000000000002";
        assert_eq!(
            parse(&format!("/hello {table} {player}")),
            Ok(Input::Message(ClientMessage::Hello {
                auth: None,
                table: Some(TableRef::Id(Uuid::parse_str(table).unwrap())),
                token: Token::parse(player),
                game: None
            }))
        );
        assert_eq!(
            parse("/hello Not/A-Game"),
            Ok(Input::Message(ClientMessage::Hello {
                auth: None,
                table: Some(TableRef::Unknown("Not/A-Game".into())),
                token: None,
                game: None
            }))
        );
        assert_eq!(
            parse("/define pong"),
            Ok(Input::Message(ClientMessage::DefineGame {
                name: "pong".into()
            }))
        );
        assert_eq!(parse("/define").unwrap_err().code(), "usage");
        assert_eq!(
            parse("/who"),
            Ok(Input::Message(ClientMessage::Query(Query::Who)))
        );
        assert_eq!(parse("/help"), Ok(Input::Help));
        assert_eq!(parse("/quit"), Ok(Input::Quit));
        assert_eq!(parse("/dance").unwrap_err().code(), "unknown_command");
        assert_eq!(
            parse("message hello  there "),
            game("message", "hello  there ")
        );
        assert_eq!(parse("ping"), game("ping", ""));
        assert_eq!(parse("//nick alice"), game("/nick", "alice"));
        assert_eq!(
            parse(r#"set {"x":1,"y":2}"#),
            game("set", r#"{"x":1,"y":2}"#)
        );
        assert_eq!(parse("   "), Ok(Input::Empty));
    }

    #[test]
    fn auth_sets_a_credential() {
        assert_eq!(
            parse("/auth  s3cret token "),
            Ok(Input::Message(ClientMessage::Auth {
                credential: "s3cret token".into()
            }))
        );
        assert_eq!(parse("/auth").unwrap_err().code(), "usage");
    }

    #[test]
    fn parses_version_and_ack() {
        assert_eq!(
            parse("/version"),
            Ok(Input::Message(ClientMessage::Query(Query::Version)))
        );
        assert_eq!(
            parse("/version 1.0  1.1"),
            Ok(Input::WithMeta(
                ClientMessage::Query(Query::Version),
                Meta {
                    versions: Some(vec!["1.0".into(), "1.1".into()]),
                    ..Meta::default()
                }
            ))
        );
        let many = vec!["1.0"; MAX_OFFERED_VERSIONS + 1].join(" ");
        let e = parse(&format!("/version {many}")).unwrap_err();
        assert_eq!(e.code(), "usage");
        assert!(e
            .to_string()
            .contains(&format!("at most {MAX_OFFERED_VERSIONS} versions")));
        assert_eq!(
            parse("/ack 12"),
            Ok(Input::WithMeta(
                ClientMessage::Ack,
                Meta {
                    ack: Some(12),
                    ..Meta::default()
                }
            ))
        );
        for bad in ["/ack", "/ack x", "/ack -1", "/ack 1 2"] {
            assert_eq!(parse(bad).unwrap_err().code(), "usage", "{bad}");
        }
    }

    #[test]
    fn numbered_messages_show_their_number_in_1_1() {
        let numbered = ServerMessage {
            msg: Some(7),
            ..ServerMessage::new("message", "bob> hi")
        };
        let render = |message: &ServerMessage, version| {
            let mut out = BytesMut::new();
            encode_as(message, version, &mut out);
            String::from_utf8(out.to_vec()).unwrap()
        };
        assert_eq!(render(&numbered, Version::V1_1), "#7 message bob> hi\r\n");
        assert_eq!(render(&numbered, Version::V1_0), "message bob> hi\r\n");
        assert_eq!(rendered(numbered.clone()), "message bob> hi\r\n");
        let scores = ServerMessage {
            msg: Some(8),
            ..ServerMessage::new("scores", "a 1\nb 2")
        };
        assert_eq!(
            render(&scores, Version::V1_1),
            "#8 scores\r\n  a 1\r\n  b 2\r\n"
        );
        assert_eq!(
            render(&ServerMessage::new("pong", ""), Version::V1_1),
            "pong\r\n"
        );
    }

    #[test]
    fn splits_lines_of_any_ending_and_skips_telnet() {
        let mut bytes = vec![IAC, 253, 3, IAC, SB, 24, 1, IAC, SE];
        bytes.extend_from_slice(b"ping\r\nmessage a\nmessage b\r\0message c\r");
        bytes.extend_from_slice(&[IAC, 244]);
        bytes.extend_from_slice(b"\n");
        assert_eq!(
            lines(&bytes),
            vec![
                game("ping", ""),
                game("message", "a"),
                game("message", "b"),
                game("message", "c"),
                Ok(Input::Empty),
            ]
        );
    }

    #[test]
    fn a_line_arrives_in_pieces() {
        let mut decoder = LineDecoder::new();
        let mut buf = BytesMut::from(&b"mess"[..]);
        assert_eq!(decoder.decode(&mut buf), None);
        assert!(buf.is_empty() && decoder.is_partial());
        buf.extend_from_slice(b"age hi\r");
        assert_eq!(decoder.decode(&mut buf), Some(game("message", "hi")));
        buf.extend_from_slice(b"\nping\n");
        assert_eq!(decoder.decode(&mut buf), Some(game("ping", "")));
        assert!(!decoder.is_partial());
    }

    #[test]
    fn long_lines_are_skipped_without_buffering() {
        let mut decoder = LineDecoder::new();
        let mut buf = BytesMut::from(&vec![b'x'; MAX_LINE + 1][..]);
        assert_eq!(decoder.decode(&mut buf), None);
        for _ in 0..10 {
            buf.extend_from_slice(&[b'y'; MAX_LINE]);
            assert_eq!(decoder.decode(&mut buf), None);
        }
        assert!(decoder.line.is_empty());
        buf.extend_from_slice(b"\nping\n");
        assert_eq!(decoder.decode(&mut buf), Some(Err(LineError::TooLong)));
        assert_eq!(decoder.decode(&mut buf), Some(game("ping", "")));
        assert_eq!(lines(&[0xc3, 0x28, b'\n']), vec![Err(LineError::NotText)]);
    }

    #[test]
    fn renders_replies_as_readable_lines() {
        assert_eq!(rendered(ServerMessage::new("pong", "")), "pong\r\n");
        let token = Token::parse("6f1c2b1e-0000-4000-8000-00000000000a").unwrap();
        assert_eq!(
            rendered(ServerMessage::hello(&token, false, "t-1", "p-1")),
            "hello 6f1c2b1e-0000-4000-8000-00000000000a,false,t-1,p-1\r\n"
        );
        assert_eq!(
            rendered(ServerMessage::new("message", "bob> hi")),
            "message bob> hi\r\n"
        );
        assert_eq!(
            rendered(ServerMessage::error("no_such_table", None)),
            "error no_such_table\r\n"
        );
        assert_eq!(
            rendered(ServerMessage::new("scores", "pab 2\npcd 1\n")),
            "scores\r\n  pab 2\r\n  pcd 1\r\n"
        );
        assert_eq!(
            rendered(ServerMessage::new("message", "a\u{1b}[2Jb\u{7}")),
            "message a?[2Jb?\r\n"
        );
        let help = rendered(help());
        assert!(help.starts_with("help\r\n  /hello <game>"), "{help}");
        assert!(help.ends_with("\r\n") && !help.replace("\r\n", "").contains('\n'));
    }

    #[test]
    fn a_next_reply_tells_the_person_where_to_connect() {
        let next = rendered(ServerMessage::next("t-1", "a", "10.0.0.2:9000"));
        assert!(
            next.starts_with("next 10.0.0.2:9000 table t-1 is served by node a"),
            "{next}"
        );
        assert!(next.ends_with("\r\n"));
    }
}
