//! Pong with the sample script games/pong.js over GGS 1.0: seats, ready and game start, the
//! ball at about 20 Hz, paddles, a spectator, and a spectator taking a freed seat.

use std::time::{Duration, Instant};

use ggs_tests::{game_source, Client, Reply, ServerOptions, ServerProcess};

/// What a player gets on joining or `ready`, after `welcome` if seated: both paddles, the
/// ball, the score and the game state.
fn field(game: &str) -> Vec<(&'static str, String)> {
    vec![
        ("player1_y", "50".into()),
        ("player2_y", "50".into()),
        ("ball", "50,50".into()),
        ("player1_points", "0".into()),
        ("player2_points", "0".into()),
        ("game", game.into()),
    ]
}

/// Expects exactly these replies next, in order.
#[track_caller]
fn expect_all(client: &mut Client, replies: &[(&str, String)]) {
    for (command, body) in replies {
        client.expect(command, body);
    }
}

/// The next reply that is not a `ball` or a score, which a running game sends at any time.
#[track_caller]
fn next_event(client: &mut Client) -> Reply {
    loop {
        let reply = client.recv();
        if !matches!(
            reply.command.as_str(),
            "ball" | "player1_points" | "player2_points"
        ) {
            return reply;
        }
    }
}

/// Expects `command` `body` as the next reply that is not a ball or a score.
#[track_caller]
fn expect_event(client: &mut Client, command: &str, body: &str) {
    let reply = next_event(client);
    assert!(
        reply.command == command && reply.body == body,
        "{}: expected {command} {body:?}, got {reply}",
        client.name()
    );
}

/// Parses a `ball` body `x,y` and checks it is on the field.
#[track_caller]
fn ball(body: &str) -> (f64, f64) {
    let (x, y) = body
        .split_once(',')
        .unwrap_or_else(|| panic!("ball {body:?} is not x,y"));
    let x: f64 = x.parse().unwrap_or_else(|_| panic!("ball x in {body:?}"));
    let y: f64 = y.parse().unwrap_or_else(|_| panic!("ball y in {body:?}"));
    assert!(
        (0.0..=100.0).contains(&x) && (0.0..=100.0).contains(&y),
        "ball {body:?} is off the field"
    );
    (x, y)
}

#[test]
fn two_players_play_and_a_spectator_watches() {
    // Without a seat grace, a closed connection frees its seat at once.
    let server = ServerProcess::start_with(ServerOptions::no_seat_grace());
    let mut host = server.connect().named("host");
    let table = host.hello(None).table;
    host.define_ok(&game_source("pong.js"));
    host.close();

    // The first two players to join take seats 1 and 2; the third watches.
    let mut p1 = server.connect().named("player 1");
    assert!(p1.hello(Some(&table)).defined);
    p1.expect("welcome", "1");
    expect_all(&mut p1, &field("wait"));
    let mut p2 = server.connect().named("player 2");
    p2.hello(Some(&table));
    p2.expect("welcome", "2");
    expect_all(&mut p2, &field("wait"));
    let mut spectator = server.connect().named("spectator");
    spectator.hello(Some(&table));
    expect_all(&mut spectator, &field("wait"));

    // A spectator cannot play; ready re-sends the field, with no welcome.
    spectator.command("up", "");
    spectator.expect("warning", "spectators cannot play");
    spectator.command("start", "");
    spectator.expect("warning", "spectators cannot play");
    spectator.command("ready", "");
    expect_all(&mut spectator, &field("wait"));
    p1.command("jump", "");
    p1.expect("warning", "unknown command: jump");

    // Both ready: the game starts for everyone, the first serve towards player 2.
    p1.command("ready", "");
    p1.expect("welcome", "1");
    expect_all(&mut p1, &field("wait"));
    p2.command("ready", "");
    p2.expect("welcome", "2");
    expect_all(&mut p2, &field("wait")[..5]);
    let start = [
        ("game", "start".to_string()),
        ("player1_points", "0".into()),
        ("player2_points", "0".into()),
        ("ball", "50,50".into()),
    ];
    for c in [&mut p1, &mut p2, &mut spectator] {
        expect_all(c, &start);
        // The first tick moves the ball right by 2 and down by 1.5.
        c.expect("ball", "52,51.5");
    }

    // The ball moves at about 20 Hz (GGS.setTick(50)).
    let began = Instant::now();
    let mut balls = 0;
    let mut last = (52.0, 51.5);
    let mut moved = false;
    while began.elapsed() < Duration::from_secs(1) {
        let Some(reply) = p1.recv_within(Duration::from_millis(50)) else {
            continue;
        };
        if reply.command == "ball" {
            balls += 1;
            let now = ball(&reply.body);
            moved |= now != last;
            last = now;
        } else {
            assert!(
                reply.command.ends_with("_points"),
                "player 1: unexpected {reply}"
            );
        }
    }
    assert!(
        (10..=30).contains(&balls),
        "{balls} ball messages in 1 s, expected about 20"
    );
    assert!(moved, "the ball did not move");
    for c in [&mut spectator, &mut p2] {
        let reply = c.recv();
        assert_eq!(reply.command, "ball", "{}: {reply}", c.name());
        ball(&reply.body);
    }

    // Paddles move by 5, everyone sees it, and they stop at the walls (centre 10 to 90).
    p1.command("up", "");
    p1.command("down", "");
    p1.command("down", "");
    p2.command("up", "");
    for c in [&mut p1, &mut p2, &mut spectator] {
        let moves: Vec<Reply> = (0..4).map(|_| next_event(c)).collect();
        let left: Vec<&str> = moves
            .iter()
            .filter(|m| m.command == "player1_y")
            .map(|m| m.body.as_str())
            .collect();
        let right: Vec<&str> = moves
            .iter()
            .filter(|m| m.command == "player2_y")
            .map(|m| m.body.as_str())
            .collect();
        assert_eq!(left, ["45", "50", "55"], "{}: {moves:?}", c.name());
        assert_eq!(right, ["45"], "{}: {moves:?}", c.name());
    }
    for _ in 0..12 {
        p1.command("up", "");
    }
    let ups = [50, 45, 40, 35, 30, 25, 20, 15, 10, 10, 10, 10];
    for y in ups {
        expect_event(&mut p1, "player1_y", &y.to_string());
    }
    p2.command("down", "");
    p2.command("down", "");
    for c in [&mut p2, &mut spectator] {
        for y in ups {
            expect_event(c, "player1_y", &y.to_string());
        }
        expect_event(c, "player2_y", "50");
        expect_event(c, "player2_y", "55");
    }

    // Player 2 leaves: the spectator takes seat 2 and the game stops.
    p2.close();
    let mut welcome = None;
    loop {
        let reply = next_event(&mut spectator);
        if reply.command == "welcome" {
            welcome = Some(reply.body.clone());
        }
        if reply.command == "game" {
            assert_eq!(reply.body, "wait", "spectator");
            break;
        }
    }
    assert_eq!(welcome.as_deref(), Some("2"), "the spectator gets seat 2");
    loop {
        let reply = next_event(&mut p1);
        if reply.command == "game" {
            assert_eq!(reply.body, "wait", "player 1");
            break;
        }
        assert!(
            reply.command.ends_with("_y"),
            "player 1: unexpected {reply}"
        );
    }
    // The tick stopped with the game.
    p1.expect_nothing(Duration::from_millis(300));

    // A new game between player 1 and the former spectator, served towards player 1.
    let mut p2 = spectator.named("new player 2");
    p1.command("ready", "");
    p1.expect("welcome", "1");
    expect_event(&mut p1, "player1_y", "10");
    expect_event(&mut p1, "player2_y", "55");
    expect_event(&mut p1, "game", "wait");
    p2.command("ready", "");
    p2.expect("welcome", "2");
    expect_event(&mut p2, "player1_y", "10");
    expect_event(&mut p2, "player2_y", "55");
    expect_event(&mut p1, "game", "start");
    expect_event(&mut p2, "game", "start");
    for c in [&mut p1, &mut p2] {
        // The serve from the centre, then the first tick moves the ball left.
        c.expect("player1_points", "0");
        c.expect("player2_points", "0");
        c.expect("ball", "50,50");
        c.expect("ball", "48,51.5");
    }
}

#[test]
fn the_player_who_defined_the_game_takes_a_seat_by_saying_ready() {
    let server = ServerProcess::start();
    let mut host = server.connect().named("host");
    let table = host.hello(None).table;
    host.define_ok(&game_source("pong.js"));
    // The host was at the table before the script, so playerJoined gave it no seat.
    let mut other = server.connect().named("other");
    other.hello(Some(&table));
    other.expect("welcome", "1");
    expect_all(&mut other, &field("wait"));
    host.command("ready", "");
    host.expect("welcome", "2");
    expect_all(&mut host, &field("wait"));
    other.command("ready", "");
    other.expect("welcome", "1");
    expect_all(&mut other, &field("wait")[..5]);
    for c in [&mut other, &mut host] {
        expect_event(c, "game", "start");
    }
}
