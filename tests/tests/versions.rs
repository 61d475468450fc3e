//! Protocol versions against the real binary, over TCP (GGS 1.0 framing and line mode) and the
//! WebSocket: a client that never offers versions gets the 2011 bytes exactly; `GGS-Versions:
//! 1.0 1.1` makes the connection speak 1.1 from that message on (its own replies included); a
//! later offer that lacks the current version falls back, and the player goes on at their
//! seat; an offer with no common version is refused with `unsupported_version` and changes
//! nothing. Replies are compared byte for byte (GGS 1.0 framing) or field by field (JSON).

use std::io;
use std::net::TcpStream;
use std::time::Duration;

use ggs_tests::client::{Conn, Framing, RecvError, TcpBytes};
use ggs_tests::wire::{encode_message, is_uuid, Hello, WireError};
use ggs_tests::ws::WsJsonClient;
use ggs_tests::{ServerOptions, ServerProcess, ECHO_SCRIPT};
use serde_json::{json, Value};

/// How long a test waits to be sure a reply does not come.
const QUIET: Duration = Duration::from_millis(300);

/// The refusal of an offer with no version in common.
const UNSUPPORTED: &str = "unsupported_version the server speaks 1.0 1.1";

/// One reply exactly as it arrived, and what it says.
#[derive(Debug)]
struct Raw {
    bytes: Vec<u8>,
    command: String,
    /// The header lines, in order.
    headers: Vec<String>,
    body: String,
}

/// GGS framing that hands over each reply's bytes as they are, whatever its version.
struct RawReplies(TcpBytes);

impl Framing for RawReplies {
    type Message = Raw;
    const WHAT: &'static str = "a reply";

    fn socket(&self) -> &TcpStream {
        self.0.socket()
    }

    fn take(&mut self) -> Result<Option<Raw>, RecvError> {
        let buf = self.0.buffered();
        let Some(end) = buf.windows(2).position(|w| w == b"\n\n") else {
            return Ok(None);
        };
        let head = std::str::from_utf8(&buf[..end])
            .map_err(|_| RecvError::Wire(WireError("headers not UTF-8".into())))?;
        let headers: Vec<String> = head.split('\n').map(str::to_string).collect();
        let header = |name: &str| {
            headers
                .iter()
                .find_map(|h| h.strip_prefix(name)?.strip_prefix(": "))
                .map(str::to_string)
        };
        let bad = |what: &str| RecvError::Wire(WireError(format!("{what} in {head:?}")));
        let size: usize = header("Content-Size")
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad("no Content-Size"))?;
        let command = header("Client-Command").ok_or_else(|| bad("no Client-Command"))?;
        let total = end + 2 + size;
        if buf.len() < total {
            return Ok(None);
        }
        let bytes = buf[..total].to_vec();
        let body = String::from_utf8(bytes[end + 2..].to_vec())
            .map_err(|_| bad("a body that is not UTF-8"))?;
        self.0.consume(total);
        Ok(Some(Raw {
            bytes,
            command,
            headers,
            body,
        }))
    }

    fn fill(&mut self) -> io::Result<bool> {
        self.0.fill()
    }

    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        use std::io::Write;
        self.0.stream().write_all(bytes)
    }

    fn close(&mut self) {
        self.0.close();
    }
}

type RawClient = Conn<RawReplies>;

fn connect(server: &ServerProcess, name: &str) -> RawClient {
    Conn::with_framing(
        RawReplies(TcpBytes::connect(server.tcp_addr())),
        name.into(),
    )
}

fn send(client: &mut RawClient, headers: &[(&str, &str)], body: &str) {
    client.send_raw(&encode_message(headers, body.as_bytes()));
}

/// The exact bytes of a reply with the five headers in `version` and nothing after them.
fn exact(command: &str, version: &str, body: &str) -> Vec<u8> {
    format!(
        "Client-Command: {command}\nClient-Encoding: text\nContent-Size: {}\nGGS-Version: {version}\nAccept: text\n\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Expects the next reply to be `command` in exactly the 2011 form (five headers, 1.0);
/// returns its body.
#[track_caller]
fn expect_10(client: &mut RawClient, command: &str) -> String {
    let reply = client.recv();
    assert_eq!(reply.command, command, "{}: {reply:?}", client.name());
    assert_eq!(
        String::from_utf8_lossy(&reply.bytes),
        String::from_utf8_lossy(&exact(command, "1.0", &reply.body)),
        "{}: not the 2011 bytes",
        client.name()
    );
    reply.body
}

/// Expects the next reply to be `command` in GGS 1.1: the five headers with `GGS-Version: 1.1`,
/// then only the headers 1.1 adds (`Msg`, `Seq`, each a number); returns its body.
#[track_caller]
fn expect_11(client: &mut RawClient, command: &str) -> String {
    let reply = client.recv();
    assert_eq!(reply.command, command, "{}: {reply:?}", client.name());
    let five = exact(command, "1.1", &reply.body);
    let five = String::from_utf8_lossy(&five);
    let five: Vec<&str> = five.split('\n').take(5).collect();
    assert_eq!(reply.headers[..5], five[..], "{}: {reply:?}", client.name());
    for extra in &reply.headers[5..] {
        let (name, value) = extra.split_once(": ").unwrap_or_default();
        assert!(
            ["Msg", "Seq"].contains(&name) && value.parse::<u64>().is_ok(),
            "{}: a 1.1 header that is not Msg or Seq: {extra:?}",
            client.name()
        );
    }
    reply.body
}

/// A player at a new table running the echo script, with the connection in `versions` (`None`:
/// never offered): returns the table id.
fn seated(client: &mut RawClient, versions: Option<&str>) -> String {
    let mut headers = vec![("Server-Command", "hello")];
    headers.extend(versions.map(|v| ("GGS-Versions", v)));
    send(client, &headers, "");
    let eleven = versions.is_some_and(|v| v.contains("1.1"));
    let expect = if eleven { expect_11 } else { expect_10 };
    let hello = Hello::parse(&expect(client, "hello")).expect("a hello body");
    send(client, &[("Server-Command", "define")], ECHO_SCRIPT);
    assert_eq!(expect(client, "defined"), "ok");
    hello.table
}

#[test]
fn a_client_that_never_offers_versions_gets_the_2011_bytes() {
    let server = ServerProcess::start_with(ServerOptions::no_seat_grace());
    let mut raw = connect(&server, "raw");
    send(&mut raw, &[("Server-Command", "whoami")], "");
    assert!(is_uuid(&expect_10(&mut raw, "whoami")));
    seated(&mut raw, None);
    send(&mut raw, &[("Game-Command", "set")], "{\"x\":1}");
    assert_eq!(expect_10(&mut raw, "echo"), "set:{\"x\":1}");
    send(&mut raw, &[("Server-Command", "version")], "");
    assert_eq!(
        expect_10(&mut raw, "version"),
        "1.0 (this server speaks 1.0 1.1)"
    );
    // Ack and Seq mean nothing to a 1.0 connection: the command runs as in 2011.
    send(
        &mut raw,
        &[("Game-Command", "a"), ("Seq", "1"), ("Ack", "5")],
        "",
    );
    assert_eq!(expect_10(&mut raw, "echo"), "a:");
    send(&mut raw, &[("Game-Command", "a"), ("Seq", "1")], "");
    assert_eq!(expect_10(&mut raw, "echo"), "a:");

    // The strict 2011 parser of the test support agrees, for a client that offers 1.0 alone.
    let mut strict = server.connect().named("strict");
    strict.send(
        &[("Server-Command", "whoami"), ("GGS-Versions", "1.0")],
        b"",
    );
    assert!(is_uuid(&strict.expect_cmd("whoami")));
    let table = strict.hello(None).table;
    assert!(is_uuid(&table));
}

#[test]
fn offering_1_0_and_1_1_speaks_1_1_from_that_message_on() {
    let server = ServerProcess::start_with(ServerOptions::no_seat_grace());
    let mut raw = connect(&server, "raw");
    send(
        &mut raw,
        &[("Server-Command", "whoami"), ("GGS-Versions", "1.0 1.1")],
        "",
    );
    // Its own reply is already in 1.1; before a seat nothing is numbered.
    let reply = raw.recv();
    assert_eq!(
        String::from_utf8_lossy(&reply.bytes),
        String::from_utf8_lossy(&exact("whoami", "1.1", &reply.body))
    );
    // Every later reply says 1.1, without the client saying it again.
    seated(&mut raw, Some("1.1 1.0"));
    send(&mut raw, &[("Game-Command", "set")], "7");
    assert_eq!(expect_11(&mut raw, "echo"), "set:7");
    send(&mut raw, &[("Server-Command", "version")], "");
    assert_eq!(
        expect_11(&mut raw, "version"),
        "1.1 (this server speaks 1.0 1.1)"
    );
    // Acknowledgements alone get no reply.
    send(&mut raw, &[("Server-Command", "ack"), ("Ack", "1")], "");
    raw.expect_nothing(QUIET);
    send(&mut raw, &[("Server-Command", "ack")], "");
    assert!(expect_11(&mut raw, "error").starts_with("missing_ack "));
}

#[test]
fn a_later_offer_without_the_current_version_falls_back_and_the_seat_goes_on() {
    let server = ServerProcess::start_with(ServerOptions::no_seat_grace());
    let mut raw = connect(&server, "raw");
    send(&mut raw, &[("Server-Command", "whoami")], "");
    let player = expect_10(&mut raw, "whoami");
    let table = seated(&mut raw, Some("1.0 1.1"));
    send(&mut raw, &[("Game-Command", "one")], "");
    assert_eq!(expect_11(&mut raw, "echo"), "one:");

    // A client restarted on older software: its message runs, its reply is in 1.0.
    send(
        &mut raw,
        &[("Game-Command", "two"), ("GGS-Versions", "1.0")],
        "",
    );
    assert_eq!(expect_10(&mut raw, "echo"), "two:");
    send(&mut raw, &[("Game-Command", "three")], "");
    assert_eq!(expect_10(&mut raw, "echo"), "three:");
    // Still the same player at the same seat.
    send(&mut raw, &[("Server-Command", "whoami")], "");
    assert_eq!(expect_10(&mut raw, "whoami"), player);
    send(&mut raw, &[("Server-Command", "who")], "");
    let who = expect_10(&mut raw, "who");
    assert!(who.contains(&player[..8]), "{who}");
    let mut other = server.connect().named("other");
    assert_eq!(other.hello(Some(&table)).table, table);

    // And up again.
    send(
        &mut raw,
        &[("Game-Command", "four"), ("GGS-Versions", "1.0 1.1")],
        "",
    );
    assert_eq!(expect_11(&mut raw, "echo"), "four:");
}

#[test]
fn an_offer_with_no_common_version_is_refused_and_changes_nothing() {
    let server = ServerProcess::start_with(ServerOptions::no_seat_grace());
    // On a 1.0 connection: the refusal in 2011 bytes, the command not run, still 1.0.
    let mut old = connect(&server, "old");
    seated(&mut old, None);
    send(
        &mut old,
        &[("Game-Command", "a"), ("GGS-Versions", "2.0")],
        "",
    );
    assert_eq!(expect_10(&mut old, "error"), UNSUPPORTED);
    send(&mut old, &[("Game-Command", "b")], "");
    assert_eq!(expect_10(&mut old, "echo"), "b:");

    // On a 1.1 connection: the refusal in 1.1, the command not run, still 1.1.
    let mut new = connect(&server, "new");
    seated(&mut new, Some("1.0 1.1"));
    send(
        &mut new,
        &[("Game-Command", "a"), ("GGS-Versions", "2.0 0.9")],
        "",
    );
    assert_eq!(expect_11(&mut new, "error"), UNSUPPORTED);
    send(&mut new, &[("Game-Command", "b"), ("GGS-Versions", "")], "");
    assert_eq!(expect_11(&mut new, "error"), UNSUPPORTED);
    send(&mut new, &[("Game-Command", "c")], "");
    assert_eq!(expect_11(&mut new, "echo"), "c:");
    // A hello that offers nothing in common does not create a table.
    let mut lone = connect(&server, "lone");
    send(
        &mut lone,
        &[("Server-Command", "hello"), ("GGS-Versions", "2.0")],
        "",
    );
    assert_eq!(expect_10(&mut lone, "error"), UNSUPPORTED);
    send(&mut lone, &[("Game-Command", "x")], "");
    assert!(expect_10(&mut lone, "error").starts_with("not_seated"));
}

#[test]
fn malformed_1_1_headers_are_refused_with_bad_header() {
    let server = ServerProcess::start_with(ServerOptions::no_seat_grace());
    let mut raw = connect(&server, "raw");
    seated(&mut raw, None);
    for (name, value) in [("Ack", "x"), ("Seq", "0"), ("Seq", "-3"), ("Ack", "1 2")] {
        send(&mut raw, &[("Game-Command", "a"), (name, value)], "");
        let error = expect_10(&mut raw, "error");
        assert!(
            error.starts_with(&format!("bad_header invalid {name} header \"{value}\"")),
            "{name}: {value}: {error}"
        );
    }
    // None of them ran, and the connection goes on.
    send(&mut raw, &[("Game-Command", "b")], "");
    assert_eq!(expect_10(&mut raw, "echo"), "b:");
}

/// The keys of a JSON reply.
fn keys(reply: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = reply
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys
}

#[test]
fn websocket_versions_and_version() {
    let server = ServerProcess::start_with(ServerOptions::no_seat_grace());
    // Never offered: the replies are the command and body (and player on hello), as before.
    let mut old = WsJsonClient::connect(server.http_addr()).named("old");
    old.send(json!({"type": "hello"}));
    let hello = old.expect_json("hello");
    assert_eq!(keys(&hello), ["body", "command", "player"]);
    old.send(json!({"type": "define", "source": ECHO_SCRIPT}));
    assert_eq!(keys(&old.expect_json("defined")), ["body", "command"]);
    old.send(json!({"type": "command", "command": "a", "seq": 1, "ack": 3}));
    let echo = old.expect_json("echo");
    assert_eq!(echo, json!({"command": "echo", "body": "a:"}));

    let mut ws = WsJsonClient::connect(server.http_addr()).named("ws");
    ws.send(json!({"type": "hello", "versions": ["1.0", "1.1"]}));
    let hello = ws.expect_json("hello");
    assert_eq!(hello["version"], "1.1", "{hello}");
    Hello::parse(hello["body"].as_str().unwrap()).expect("a hello body");
    ws.send(json!({"type": "define", "source": ECHO_SCRIPT}));
    let defined = ws.expect_json("defined");
    assert!(defined.get("version").is_none(), "{defined}");
    ws.send(json!({"type": "version"}));
    assert_eq!(
        ws.expect_json("version")["body"],
        "1.1 (this server speaks 1.0 1.1)"
    );
    ws.send(json!({"type": "command", "command": "b", "versions": ["2.0"]}));
    let error = ws.expect_json("error");
    assert_eq!(error["body"], UNSUPPORTED);
    ws.send(json!({"type": "command", "command": "c", "versions": "1.0"}));
    let error = ws.expect_json("error");
    assert!(
        error["body"]
            .as_str()
            .unwrap()
            .starts_with("bad_json \"versions\" must be an array of strings"),
        "{error}"
    );
    // Falling back: the reply says the new version and carries no number.
    ws.send(json!({"type": "command", "command": "d", "versions": ["1.0"]}));
    let echo = ws.expect_json("echo");
    assert_eq!(
        echo,
        json!({"command": "echo", "body": "d:", "version": "1.0"})
    );
    ws.send(json!({"type": "command", "command": "e"}));
    assert_eq!(
        ws.expect_json("echo"),
        json!({"command": "echo", "body": "e:"})
    );
    ws.send(json!({"type": "ack", "ack": 1}));
    ws.expect_nothing(QUIET);
}

#[test]
fn line_mode_version() {
    let server = ServerProcess::start();
    let mut line = server.connect_line();
    line.send("/version");
    line.expect_prefix("welcome GGS ");
    line.expect("version 1.0 (this server speaks 1.0 1.1)");
    line.send("/version 1.0 1.1");
    line.expect("version 1.1 (this server speaks 1.0 1.1)");
    line.send("/version 2.0");
    line.expect(&format!("error {UNSUPPORTED}"));
    line.send("/version");
    line.expect("version 1.1 (this server speaks 1.0 1.1)");
    line.send("/ack 3");
    line.send("/ack three");
    line.expect("error usage usage: /ack <n> (the highest #n received)");
    line.send("/version 1.0");
    line.expect("version 1.0 (this server speaks 1.0 1.1)");
}
