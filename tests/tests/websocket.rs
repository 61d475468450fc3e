//! The WebSocket endpoint (`/ws`, JSON): the same sessions as GGS 1.0, so a WebSocket player
//! and a TCP player share a table; the same error codes; resume with the player's token; the
//! graceful shutdown.

use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use ggs_tests::{game_source, ServerOptions, ServerProcess};
use serde_json::{json, Value};
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

/// How long a reply may take.
const RECV_TIMEOUT: Duration = Duration::from_secs(10);

/// A blocking WebSocket player.
struct Ws {
    socket: WebSocket<MaybeTlsStream<TcpStream>>,
    name: &'static str,
}

/// A `hello` reply's parts.
struct Hello {
    player: String,
    defined: bool,
    table: String,
}

impl Ws {
    fn connect(http: SocketAddr, name: &'static str) -> Ws {
        let (socket, _) = tungstenite::connect(format!("ws://{http}/ws"))
            .unwrap_or_else(|e| panic!("{name}: websocket connect to {http}: {e}"));
        if let MaybeTlsStream::Plain(stream) = socket.get_ref() {
            stream
                .set_read_timeout(Some(Duration::from_millis(100)))
                .expect("set_read_timeout");
        }
        Ws { socket, name }
    }

    fn send(&mut self, message: Value) {
        self.send_text(&message.to_string());
    }

    fn send_text(&mut self, text: &str) {
        self.socket
            .send(Message::text(text))
            .unwrap_or_else(|e| panic!("{}: send: {e}", self.name));
    }

    /// The next reply as (command, body); `None` when the server closed the connection.
    fn try_recv(&mut self, timeout: Duration) -> Option<(String, String)> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.socket.read() {
                Ok(Message::Text(text)) => {
                    let value: Value = serde_json::from_str(text.as_str()).unwrap_or_else(|e| {
                        panic!("{}: reply is not JSON: {e}: {text}", self.name)
                    });
                    let field = |f: &str| {
                        value[f]
                            .as_str()
                            .unwrap_or_else(|| panic!("{}: reply without {f}: {text}", self.name))
                            .to_string()
                    };
                    return Some((field("command"), field("body")));
                }
                Ok(Message::Close(_)) => return None,
                Ok(_) => {}
                Err(tungstenite::Error::Io(e))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    assert!(
                        Instant::now() < deadline,
                        "{}: no reply within {timeout:?}",
                        self.name
                    );
                }
                Err(tungstenite::Error::ConnectionClosed)
                | Err(tungstenite::Error::AlreadyClosed) => return None,
                Err(tungstenite::Error::Protocol(_)) => return None,
                Err(e) => panic!("{}: read: {e}", self.name),
            }
        }
    }

    #[track_caller]
    fn recv(&mut self) -> (String, String) {
        self.try_recv(RECV_TIMEOUT)
            .unwrap_or_else(|| panic!("{}: the server closed the connection", self.name))
    }

    #[track_caller]
    fn expect(&mut self, command: &str, body: &str) {
        let got = self.recv();
        assert_eq!(
            (got.0.as_str(), got.1.as_str()),
            (command, body),
            "{}: unexpected reply",
            self.name
        );
    }

    /// Expects an `error` whose body starts with `code`.
    #[track_caller]
    fn expect_error(&mut self, code: &str) -> String {
        let (command, body) = self.recv();
        assert_eq!(
            command, "error",
            "{}: expected error {code}, got {body}",
            self.name
        );
        assert!(
            body == code || body.starts_with(&format!("{code} ")),
            "{}: expected error {code}, got {body}",
            self.name
        );
        body
    }

    #[track_caller]
    fn hello(&mut self, table: Option<&str>, token: Option<&str>) -> Hello {
        let mut hello = json!({ "type": "hello" });
        if let Some(table) = table {
            hello["table"] = json!(table);
        }
        if let Some(token) = token {
            hello["token"] = json!(token);
        }
        self.send(hello);
        let (command, body) = self.recv();
        assert_eq!(
            command, "hello",
            "{}: expected hello, got {body}",
            self.name
        );
        let parts: Vec<&str> = body.split(',').collect();
        assert_eq!(parts.len(), 3, "{}: hello body {body}", self.name);
        Hello {
            player: parts[0].to_string(),
            defined: parts[1] == "true",
            table: parts[2].to_string(),
        }
    }

    fn command(&mut self, command: &str, args: &str) {
        self.send(json!({ "type": "command", "command": command, "args": args }));
    }

    fn close(mut self) {
        let _ = self.socket.close(None);
        let _ = self.socket.flush();
    }
}

fn guest(player: &str) -> String {
    format!("guest-{}", &player[..4])
}

#[test]
fn a_websocket_player_and_a_tcp_player_chat_at_one_table() {
    let server = ServerProcess::start_with(ServerOptions::no_seat_grace());
    let mut tcp = server.connect().named("tcp");
    let created = tcp.hello(None);
    tcp.define_ok(&game_source("chat.js"));

    let mut ws = Ws::connect(server.http_addr(), "ws");
    let hello = ws.hello(Some(&created.table), None);
    assert!(hello.defined);
    assert_eq!(hello.table, created.table);
    assert_ne!(hello.player, created.player);
    let joined = format!("{} joined", guest(&hello.player));
    ws.expect("notice", &joined);
    tcp.expect("notice", &joined);

    ws.command("/nick", "webby");
    let renamed = format!("{} is now known as webby", guest(&hello.player));
    ws.expect("notice", &renamed);
    tcp.expect("notice", &renamed);

    ws.command(
        "message",
        "hello from the web ☃ \"quoted\"\nand a second line",
    );
    let line = "webby> hello from the web ☃ \"quoted\"\nand a second line";
    ws.expect("message", line);
    tcp.expect("message", line);

    tcp.command("message", "hi webby");
    let line = format!("{}> hi webby", guest(&created.player));
    tcp.expect("message", &line);
    ws.expect("message", &line);

    ws.command("ping", "");
    ws.expect("pong", "");

    // Arguments that are not a string arrive as their JSON text.
    ws.send(json!({ "type": "command", "command": "message", "args": { "x": 1 } }));
    ws.expect("message", r#"webby> {"x":1}"#);
    tcp.expect("message", r#"webby> {"x":1}"#);

    // The WebSocket player leaves: the TCP player is told.
    ws.close();
    tcp.expect("notice", "webby left");
}

#[test]
fn a_websocket_player_can_create_and_define_a_table() {
    let server = ServerProcess::start();
    let mut ws = Ws::connect(server.http_addr(), "ws");
    let hello = ws.hello(None, None);
    assert!(!hello.defined);
    ws.send(json!({ "type": "define", "source": game_source("tictactoe.js") }));
    ws.expect("defined", "ok");
    ws.command("hi", "");
    ws.expect("welcome", "1");

    let mut tcp = server.connect().named("tcp");
    assert!(tcp.hello(Some(&hello.table)).defined);
    tcp.command("hi", "");
    tcp.expect("welcome", "2");
    ws.expect("game_board", "         ");
    ws.expect("yourturn", "");
    tcp.expect("game_board", "         ");
    ws.command("set", r#"{"x":1,"y":1}"#);
    ws.expect("game_board", "    X    ");
    tcp.expect("game_board", "    X    ");
    tcp.expect("yourturn", "");
}

#[test]
fn websocket_errors_have_the_ggs_codes() {
    let server = ServerProcess::start();
    let mut ws = Ws::connect(server.http_addr(), "ws");
    ws.send_text("this is not json");
    ws.expect_error("bad_json");
    ws.send_text("[1, 2]");
    ws.expect_error("bad_json");
    ws.send(json!({ "command": "hello" }));
    ws.expect_error("missing_command");
    ws.send(json!({ "type": "launch" }));
    ws.expect_error("unknown_command");
    ws.command("set", "{}");
    ws.expect_error("not_seated");
    ws.send(json!({ "type": "define", "source": "var x;" }));
    ws.expect_error("not_seated");
    ws.send(json!({ "type": "hello", "table": "6f1c2b1e-0000-4000-8000-000000000001" }));
    ws.expect("error", "no_such_table");
    ws.send(json!({ "type": "hello", "table": "not-a-table" }));
    ws.expect("error", "no_such_table");

    // Still usable after all that.
    let hello = ws.hello(None, None);
    assert!(!hello.defined);
    ws.command("anything", "");
    ws.expect_error("no_script");
    ws.send(json!({ "type": "define", "source": "function (" }));
    let (command, body) = ws.recv();
    assert_eq!(command, "defined");
    assert!(body.starts_with("error "), "{body}");
    ws.send(json!({ "type": "define", "source": "function playerCommand(p, c, a) { throw new Error('boom ' + c); }" }));
    ws.expect("defined", "ok");
    ws.command("x", "");
    let error = ws.expect_error("script_error");
    assert!(error.contains("boom x"), "{error}");
}

#[test]
fn a_websocket_player_takes_back_its_seat_with_its_token() {
    let mut server = ServerProcess::start();
    let mut host = server.connect().named("host");
    let table = host.hello(None).table;
    host.define_ok(&game_source("tictactoe.js"));

    let mut ws = Ws::connect(server.http_addr(), "ws");
    let first = ws.hello(Some(&table), None);
    ws.command("hi", "");
    ws.expect("welcome", "1");
    ws.close();

    // Back on a new connection: same player, same seat.
    let mut ws = Ws::connect(server.http_addr(), "ws again");
    let again = ws.hello(Some(&table), Some(&first.player));
    assert_eq!(again.player, first.player);
    assert!(again.defined);
    ws.command("hi", "");
    ws.expect("welcome", "1");

    // And after the server is killed and started again.
    server.restart();
    let mut ws = Ws::connect(server.http_addr(), "ws after restart");
    let resumed = ws.hello(Some(&table), Some(&first.player));
    assert_eq!(resumed.player, first.player);
    ws.command("hi", "");
    ws.expect("welcome", "1");
}

#[test]
fn websocket_players_are_told_about_a_graceful_shutdown() {
    let mut server = ServerProcess::start();
    let mut ws = Ws::connect(server.http_addr(), "ws");
    ws.hello(None, None);
    // An idle HTTP keep-alive connection must not hold the shutdown up.
    let _idle = TcpStream::connect(server.http_addr()).expect("an idle HTTP connection");
    let started = Instant::now();
    let stopped = server.terminate();
    assert!(stopped.status.success(), "{}", stopped.stderr);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the shutdown took {:?}",
        started.elapsed()
    );
    ws.expect("shutdown", "the server is shutting down");
    assert!(ws.try_recv(RECV_TIMEOUT).is_none(), "the server closes");
}
