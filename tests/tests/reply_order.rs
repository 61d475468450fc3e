//! Replies and errors to a seated player keep the order of the commands that caused them, even
//! when the table's inbox is full: commands pipelined behind a slow one into a full inbox get
//! `overloaded` or `rate_limited` exactly where they were sent, between the echoes of the
//! commands before and after them, over GGS 1.0 and over a WebSocket. A `hello` to another
//! table is answered after the first table's replies.

use std::time::Duration;

use ggs_tests::wire::encode_message;
use ggs_tests::{Client, ServerProcess, WsClient};
use serde_json::json;

/// Echoes every command's arguments (its sequence number); `slow` first busies the table for
/// 150 ms (under the 300 ms CPU limit these servers run with), so the inbox fills behind it.
const ECHO_SEQ: &str = r#"
function playerCommand(player, command, args) {
  if (command === "slow") {
    var t = Date.now();
    while (Date.now() - t < 150) {}
  }
  GGS.sendCommand(player, "echo", args);
}
"#;

/// Commands pipelined behind the slow one: more than the table inbox (1024 events) holds.
const PIPELINED: usize = 2000;

/// How long one reply may take.
const RECV_TIMEOUT: Duration = Duration::from_secs(20);

/// A server whose tables allow a 150 ms command, with the given message rate per connection.
fn server(messages_per_second: &str) -> ServerProcess {
    ServerProcess::start_with_args(&[
        "--cpu-per-event-ms",
        "300",
        "--messages-per-second",
        messages_per_second,
    ])
}

/// Checks that reply `i` answers command `i`: the echo of its number, or an error with
/// `code`. Returns how many were errors.
#[track_caller]
fn assert_in_command_order(replies: &[(String, String)], code: &str) -> usize {
    assert_eq!(replies.len(), PIPELINED + 1);
    let mut errors = 0;
    for (i, (command, body)) in replies.iter().enumerate() {
        match command.as_str() {
            "echo" => assert_eq!(
                body,
                &i.to_string(),
                "reply {i} is the echo of another command: an error overtook it or fell behind"
            ),
            "error" => {
                assert_eq!(body.split(' ').next(), Some(code), "reply {i}: {body}");
                errors += 1;
            }
            _ => panic!("reply {i}: unexpected {command} {body}"),
        }
    }
    errors
}

/// Pipelines `slow 0`, then `f 1` .. `f PIPELINED` on a GGS 1.0 connection at a new table,
/// and reads one reply per command.
fn pipeline_tcp(server: &ServerProcess) -> Vec<(String, String)> {
    let mut c: Client = server.connect().named("pipeliner");
    c.hello(None);
    c.define_ok(ECHO_SEQ);
    // A full rate bucket again after hello and define.
    std::thread::sleep(Duration::from_millis(1100));
    let mut batch = encode_message(&[("Game-Command", "slow")], b"0");
    for i in 1..=PIPELINED {
        batch.extend(encode_message(
            &[("Game-Command", "f")],
            i.to_string().as_bytes(),
        ));
    }
    c.send_raw(&batch);
    let replies = (0..=PIPELINED)
        .map(|_| {
            let r = c.try_recv(RECV_TIMEOUT).expect("a reply per command");
            (r.command, r.body)
        })
        .collect();
    c.expect_nothing(Duration::from_millis(300));
    replies
}

#[test]
fn overloaded_keeps_its_place_among_the_replies() {
    let server = server("100000");
    let replies = pipeline_tcp(&server);
    let overloaded = assert_in_command_order(&replies, "overloaded");
    println!("{PIPELINED} commands behind a slow one: {overloaded} overloaded, all in order");
    assert!(overloaded > 0, "the inbox never filled");
    assert!(
        PIPELINED + 1 - overloaded >= 1024,
        "fewer accepted than the inbox holds"
    );
}

#[test]
fn rate_limited_keeps_its_place_among_the_replies() {
    let server = server("50");
    let replies = pipeline_tcp(&server);
    let limited = assert_in_command_order(&replies, "rate_limited");
    println!(
        "{PIPELINED} commands at 50/s behind a slow one: {limited} rate_limited, all in order"
    );
    assert!(limited >= PIPELINED - 100, "only {limited} rate limited");
}

#[test]
fn websocket_errors_keep_their_place_among_the_replies() {
    let server = server("50");
    let mut ws = WsClient::connect(server.http_addr()).named("ws pipeliner");
    ws.hello(None);
    ws.define_ok(ECHO_SEQ);
    std::thread::sleep(Duration::from_millis(1100));
    ws.send(json!({ "type": "command", "command": "slow", "args": "0" }));
    for i in 1..=PIPELINED {
        ws.send(json!({ "type": "command", "command": "f", "args": i.to_string() }));
    }
    let replies: Vec<_> = (0..=PIPELINED)
        .map(|_| {
            let r = ws.try_recv(RECV_TIMEOUT).expect("a reply per command");
            (r.command, r.body)
        })
        .collect();
    let limited = assert_in_command_order(&replies, "rate_limited");
    println!("{PIPELINED} websocket commands at 50/s: {limited} rate_limited, all in order");
    assert!(limited >= PIPELINED - 100, "only {limited} rate limited");
}

#[test]
fn a_hello_to_another_table_comes_after_the_replies_at_the_first() {
    let server = server("100000");
    let mut other = server.connect().named("other");
    let elsewhere = other.hello(None).table;
    let mut c: Client = server.connect().named("hopper");
    c.hello(None);
    c.define_ok(ECHO_SEQ);
    let mut batch = encode_message(&[("Game-Command", "slow")], b"0");
    batch.extend(encode_message(&[("Game-Command", "f")], b"1"));
    batch.extend(encode_message(
        &[("Server-Command", "hello")],
        elsewhere.as_bytes(),
    ));
    c.send_raw(&batch);
    let replies: Vec<_> = (0..3).map(|_| c.recv().command).collect();
    assert_eq!(replies, ["echo", "echo", "hello"]);
}
