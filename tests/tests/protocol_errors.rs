//! Malformed and misplaced client messages: each gets its error, the connection stays usable
//! when the stream can be resynchronised and is closed when it cannot, and no bad client
//! affects anyone else.

use std::time::Duration;

use ggs_tests::{Client, RecvError, ServerOptions, ServerProcess};

/// Echoes every command back to its sender; tells everyone when a player leaves.
const ECHO: &str = ggs_tests::ECHO_SCRIPT;

/// A client seated at a new table running the echo script.
fn echo_table(server: &ServerProcess) -> (Client, String) {
    let mut c = server.connect().named("host");
    let table = c.hello(None).table;
    c.define_ok(ECHO);
    (c, table)
}

#[test]
fn a_bad_header_line_is_skipped_and_the_connection_stays_usable() {
    let server = ServerProcess::start();
    let (mut c, _) = echo_table(&server);
    c.send_raw(b"Game-Command: e\nthis is not a header\nContent-Length: 3\n\nbad");
    let detail = c.expect_error("bad_header");
    assert!(detail.contains("this is not a header"), "{detail:?}");
    c.send_raw(b"Game-Command: e\n: no name\nContent-Length: 4\n\nbad2");
    c.expect_error("bad_header");
    // The bad messages were not run: the next reply answers the next good message.
    c.command("e", "good");
    c.expect("echo", "e:good");
}

#[test]
fn a_missing_content_length_closes_the_connection() {
    let server = ServerProcess::start_with(ServerOptions::no_seat_grace());
    let (mut host, table) = echo_table(&server);
    // Before hello.
    let mut unseated = server.connect().named("unseated bad client");
    unseated.send_raw(b"Game-Command: e\n\nabc");
    unseated.expect_error("missing_length");
    unseated.expect_closed();
    // Seated at a table.
    let mut bad = server.connect().named("seated bad client");
    let bad_player = bad.whoami();
    bad.hello(Some(&table));
    bad.send_raw(b"Game-Command: e\n\nabc");
    bad.expect_error("missing_length");
    bad.expect_closed();
    // The table lives on: its host sees the bad player leave and is still answered.
    host.expect("left", &bad_player);
    host.command("e", "still");
    host.expect("echo", "e:still");
}

#[test]
fn a_bad_content_length_closes_the_connection() {
    let server = ServerProcess::start();
    let (_host, table) = echo_table(&server);
    for value in ["abc", "-1", "1e3"] {
        let mut bad = server.connect().named(&format!("Content-Length: {value}"));
        bad.hello(Some(&table));
        bad.send_raw(format!("Game-Command: e\nContent-Length: {value}\n\n").as_bytes());
        bad.expect_error("bad_length");
        bad.expect_closed();
    }
}

#[test]
fn a_body_over_the_limit_is_refused_and_the_connection_stays_usable() {
    let server = ServerProcess::start_with_args(&["--max-body", "1024"]);
    let (mut c, _) = echo_table(&server);
    c.command("e", &"x".repeat(1025));
    c.expect_error("body_too_large");
    // A body at the limit passes; the limit counts bytes, not characters.
    let at_limit = "y".repeat(1022);
    c.command("e", &at_limit);
    c.expect("echo", &format!("e:{at_limit}"));
    c.command("e", &"☃".repeat(342)); // 1026 bytes, 342 characters
    c.expect_error("body_too_large");
    c.define(&format!("{ECHO}//{}", "z".repeat(1024)));
    c.expect_error("body_too_large");
    c.command("e", "after");
    c.expect("echo", "e:after");
}

#[test]
fn the_default_body_limit_is_one_mebibyte() {
    let server = ServerProcess::start();
    let (mut c, _) = echo_table(&server);
    c.command("e", &"x".repeat(1024 * 1024 + 1));
    c.expect_error("body_too_large");
    let big = "b".repeat(1024 * 1024 - 1);
    c.command("e", &big);
    let echo = c.expect_cmd("echo");
    assert!(
        echo == format!("e:{big}"),
        "the 1 MiB echo came back altered ({} bytes)",
        echo.len()
    );
}

#[test]
fn an_unknown_table_is_no_such_table() {
    let server = ServerProcess::start();
    let mut c = server.connect();
    c.send_hello(Some("6f1c2b1e-0000-4000-8000-000000000001"));
    c.expect("error", "no_such_table");
    c.send_hello(Some("not a table id"));
    c.expect("error", "no_such_table");
    // The connection can still create a table.
    let hello = c.hello(None);
    assert!(!hello.defined);
}

#[test]
fn commands_before_hello_are_not_seated() {
    let server = ServerProcess::start();
    let mut c = server.connect();
    c.command("e", "x");
    c.expect_error("not_seated");
    c.define(ECHO);
    c.expect_error("not_seated");
    c.hello(None);
    c.define_ok(ECHO);
    c.command("e", "x");
    c.expect("echo", "e:x");
}

#[test]
fn messages_that_mean_nothing_are_errors() {
    let server = ServerProcess::start();
    let (mut c, _) = echo_table(&server);
    c.send(&[("Server-Command", "launch")], b"");
    c.expect_error("unknown_command");
    c.send(&[("Token", "x")], b"");
    c.expect_error("missing_command");
    c.send(&[("Server-Command", "hello"), ("Game-Command", "e")], b"");
    c.expect_error("missing_command");
    c.send(&[("Game-Command", "e")], &[0xff, 0xfe]);
    c.expect_cmd("error");
    c.command("e", "ok");
    c.expect("echo", "e:ok");
}

#[test]
fn lenient_framing_from_old_clients() {
    let server = ServerProcess::start();
    let (mut c, _) = echo_table(&server);
    // CRLF, Content-Length first, informational headers, a stray blank line after the body.
    c.send_raw(
        b"Content-Length: 5\r\nToken: abc\r\nGame-Command: e\r\nContent-Type: text\r\n\r\nhello\n",
    );
    c.expect("echo", "e:hello");
    // Several messages in one write, answered in order.
    let mut batch = Vec::new();
    for i in 0..5 {
        batch.extend(ggs_tests::wire::encode_message(
            &[("Game-Command", "e")],
            format!("m{i}").as_bytes(),
        ));
        batch.extend(b"\n\n");
    }
    c.send_raw(&batch);
    for i in 0..5 {
        c.expect("echo", &format!("e:m{i}"));
    }
    // One message dribbled a byte at a time.
    let msg = ggs_tests::wire::encode_message(&[("Game-Command", "slow")], "☃ snow".as_bytes());
    for b in &msg {
        c.send_raw(std::slice::from_ref(b));
        std::thread::sleep(Duration::from_millis(1));
    }
    c.expect("echo", "slow:☃ snow");
}

#[test]
fn a_bad_client_does_not_affect_other_connections() {
    let server = ServerProcess::start_with(ServerOptions::no_seat_grace());
    let (mut host, table) = echo_table(&server);
    let mut friend = server.connect().named("friend");
    assert!(friend.hello(Some(&table)).defined);

    // One client stalls half-way through a message, at the same table.
    let mut staller = server.connect().named("staller");
    let staller_player = staller.whoami();
    staller.hello(Some(&table));
    staller.send_raw(b"Game-Command: e\nContent-Len");
    // Another sends garbage and is thrown out.
    let mut garbage = server.connect().named("garbage");
    let garbage_player = garbage.whoami();
    garbage.hello(Some(&table));
    garbage.send_raw(b"\x00\x01\x02 junk\xff\n\n\n");
    // (Whether it is told why is checked by the tests above; here only isolation matters.)
    loop {
        match garbage.try_recv(Duration::from_secs(10)) {
            Ok(reply) if reply.command == "error" => {}
            Ok(reply) => panic!("garbage: expected an error and a close, got {reply}"),
            Err(RecvError::Closed) => break,
            Err(e) => panic!("garbage: expected the connection to close, but {e}"),
        }
    }
    for p in [&mut host, &mut friend, &mut staller] {
        p.expect("left", &garbage_player);
    }

    // Everyone else is answered promptly while the staller stalls.
    for i in 0..20 {
        host.command("e", &i.to_string());
        friend.command("f", &i.to_string());
        host.expect("echo", &format!("e:{i}"));
        friend.expect("echo", &format!("f:{i}"));
    }
    // The staller finishes its message and is answered too.
    staller.send_raw(b"gth: 2\n\nok");
    staller.expect("echo", "e:ok");
    staller.close();
    for p in [&mut host, &mut friend] {
        p.expect("left", &staller_player);
    }
    // A new client can join the same table.
    let mut late = server.connect().named("late");
    assert!(late.hello(Some(&table)).defined);
    late.command("e", "late");
    late.expect("echo", "e:late");
}
