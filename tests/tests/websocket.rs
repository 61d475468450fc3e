//! The WebSocket endpoint (`/ws`, JSON): the same sessions as GGS 1.0, so a WebSocket player
//! and a TCP player share a table; the same error codes; resume with the player's token; the
//! graceful shutdown.

use std::net::TcpStream;
use std::time::{Duration, Instant};

use ggs_tests::{game_source, Reply, ServerOptions, ServerProcess, WsClient};
use serde_json::json;

fn guest(player: &str) -> String {
    format!("guest-{}", &player[..4])
}

#[test]
fn a_websocket_player_and_a_tcp_player_chat_at_one_table() {
    let server = ServerProcess::start_with(ServerOptions::no_seat_grace());
    let mut tcp = server.connect().named("tcp");
    let tcp_player = tcp.whoami();
    let created = tcp.hello(None);
    tcp.define_ok(&game_source("chat.js"));

    let mut ws = server.connect_ws().named("ws");
    let hello = ws.hello(Some(&created.table));
    assert!(hello.defined);
    assert_eq!(hello.table, created.table);
    // The WebSocket hello reply names the public id beside the token.
    let ws_player = ws
        .framing()
        .hello_player()
        .expect("a player field")
        .to_string();
    assert_ne!(ws_player, tcp_player);
    assert_ne!(ws_player, hello.token);
    let joined = format!("{} joined", guest(&ws_player));
    ws.expect("notice", &joined);
    tcp.expect("notice", &joined);

    ws.command("/nick", "webby");
    let renamed = format!("{} is now known as webby", guest(&ws_player));
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
    let line = format!("{}> hi webby", guest(&tcp_player));
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
    let mut ws = server.connect_ws().named("ws");
    let hello = ws.hello(None);
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
    let mut ws = server.connect_ws().named("ws");
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
    let hello = ws.hello(None);
    assert!(!hello.defined);
    ws.command("anything", "");
    ws.expect_error("no_script");
    ws.send(json!({ "type": "define", "source": "function (" }));
    let Reply { command, body } = ws.recv();
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

    let mut ws = server.connect_ws().named("ws");
    let first = ws.hello(Some(&table));
    ws.command("hi", "");
    ws.expect("welcome", "1");
    let player = ws_player_of(&ws);
    ws.close();

    // Back on a new connection: same player, same seat.
    let mut ws = server.connect_ws().named("ws again");
    let again = ws.resume(&table, &first.token);
    assert_eq!(ws_player_of(&ws), player, "the seat keeps its public id");
    assert!(again.defined);
    ws.command("hi", "");
    ws.expect("welcome", "1");

    // And after the server is killed and started again.
    server.restart();
    let mut ws = server.connect_ws().named("ws after restart");
    let resumed = ws.resume(&table, &first.token);
    assert_eq!(resumed.token, first.token);
    assert_eq!(ws_player_of(&ws), player);
    ws.command("hi", "");
    ws.expect("welcome", "1");
}

/// The public player id in the last `hello` reply a WebSocket client took.
fn ws_player_of(ws: &WsClient) -> String {
    let player = ws.framing().hello_player();
    player
        .expect("the hello reply names the player")
        .to_string()
}

#[test]
fn websocket_players_are_told_about_a_graceful_shutdown() {
    let mut server = ServerProcess::start();
    let mut ws = server.connect_ws().named("ws");
    ws.hello(None);
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
    ws.expect_closed();
}
