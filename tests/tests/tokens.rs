//! Resume tokens are secrets apart from public player ids, over GGS 1.0, line mode and
//! WebSocket: the token (the first field of the `hello` reply) takes a held seat back; the
//! public id, which scripts and other players see, does not (`bad_token`, nothing changes, the
//! connection stays usable); scripts, `who`, `GET /api/tables` and the log never see a token;
//! a data directory of the previous format, whose seats were stored by an id that was also
//! the token, keeps its players seated under the same public ids.

use std::path::Path;

use ggs_tests::http::get;
use ggs_tests::{Client, LineClient, ServerOptions, ServerProcess, WsClient};
use serde_json::json;

/// Tells everyone, on every hook, the player argument and `GGS.players`; answers a command
/// with the player argument; `owner` says whether the id stored in `GGS.world` is seated.
const WITNESS: &str = r#"
function playerJoined(p) { GGS.sendCommandToAll("joined", p + " " + GGS.players.join(",")); }
function playerReconnected(p) { GGS.sendCommandToAll("back", p + " " + GGS.players.join(",")); }
function playerLeft(p) { GGS.sendCommandToAll("left", p); }
function playerCommand(p, command, args) {
  if (command === "owner") {
    var owner = GGS.world.getItem("owner");
    GGS.sendCommand(p, "owner", owner + " " + (GGS.players.indexOf(owner) >= 0));
    return;
  }
  GGS.sendCommand(p, "echo", p + " " + command + ":" + args);
}
"#;

/// Panics if `text` contains any of `tokens` (or the first 8 characters of one).
#[track_caller]
fn shows_no_token(what: &str, text: &str, tokens: &[&str]) {
    for token in tokens {
        assert!(
            !text.contains(token) && !text.contains(&token[..8]),
            "{what} shows the token {token}: {text}"
        );
    }
}

/// A table running [`WITNESS`] created by `host`; returns the host's public id, its `hello`
/// token and the table id.
fn witness_table(host: &mut Client) -> (String, String, String) {
    let player = host.whoami();
    let created = host.hello(None);
    host.define_ok(WITNESS);
    (player, created.token, created.table)
}

#[test]
fn ggs10_a_token_takes_the_seat_back_and_a_public_id_does_not() {
    let server = ServerProcess::start();
    let mut host = server.connect().named("host");
    let (host_id, host_token, table) = witness_table(&mut host);

    let mut bob = server.connect().named("bob");
    let bob_id = bob.whoami();
    let hb = bob.hello(Some(&table));
    assert_ne!(hb.token, bob_id, "the token is not the public id");
    // Scripts see the public id in the hook's argument and in GGS.players, never the token.
    let joined = format!("{bob_id} {host_id},{bob_id}");
    bob.expect("joined", &joined);
    host.expect("joined", &joined);
    shows_no_token("a broadcast", &joined, &[&hb.token, &host_token]);
    bob.command("move", "1");
    bob.expect("echo", &format!("{bob_id} move:1"));
    bob.close();

    // Mallory saw Bob's id in the broadcast: it does not take Bob's seat.
    let mut mallory = server.connect().named("mallory");
    let mallory_id = mallory.whoami();
    mallory.resume_refused(&table, &bob_id);
    mallory.resume_refused(&table, "7c9e6679-7425-40de-944b-e07fc1f90ae7");
    mallory.resume_refused(&table, "not even a uuid");
    host.expect_nothing(std::time::Duration::from_millis(200));
    // Nothing changed, and the connection is still usable: it joins as itself.
    assert_eq!(mallory.whoami(), mallory_id);
    mallory.command("move", "2");
    mallory.expect_error("not_seated");
    mallory.hello(Some(&table));
    let joined = format!("{mallory_id} {host_id},{bob_id},{mallory_id}");
    mallory.expect("joined", &joined);
    host.expect("joined", &joined);
    // Seated, a refused hello leaves Mallory where she is.
    mallory.resume_refused(&table, &bob_id);
    mallory.command("move", "3");
    mallory.expect("echo", &format!("{mallory_id} move:3"));

    // Bob's token takes his seat back: the same public id, the same token.
    let mut bob = server.connect().named("bob again");
    let again = bob.resume(&table, &hb.token);
    assert_eq!(again.token, hb.token);
    let back = format!("{bob_id} {host_id},{bob_id},{mallory_id}");
    bob.expect("back", &back);
    host.expect("back", &back);
    mallory.expect("back", &back);
    assert_eq!(bob.whoami(), bob_id);
    bob.command("move", "4");
    bob.expect("echo", &format!("{bob_id} move:4"));

    // A 2011 client may echo its own token on every message, a hello included: that is no
    // resume, just the connection itself.
    let mut other = server.connect().named("echoing client");
    let other_id = other.whoami();
    let first = other.hello(None);
    other.send(
        &[("Token", first.token.as_str()), ("Server-Command", "hello")],
        table.as_bytes(),
    );
    let joined_table = ggs_tests::Hello::parse(&other.expect_cmd("hello")).unwrap();
    assert_eq!(joined_table.token, first.token);
    other.expect(
        "joined",
        &format!("{other_id} {host_id},{bob_id},{mallory_id},{other_id}"),
    );
}

#[test]
fn taking_back_another_seat_at_the_same_table_gives_up_the_one_held_now() {
    let server = ServerProcess::start();
    let mut host = server.connect().named("host");
    let (host_id, _, table) = witness_table(&mut host);
    let mut bob = server.connect().named("bob");
    let bob_id = bob.whoami();
    let hb = bob.hello(Some(&table));
    bob.expect_cmd("joined");
    host.expect_cmd("joined");
    bob.close();

    // Back on a new connection, Bob first sits down as a new player, then takes his seat back.
    let mut again = server.connect().named("bob, new connection");
    let fresh_id = again.whoami();
    again.hello(Some(&table));
    again.expect_cmd("joined");
    host.expect_cmd("joined");
    again.resume(&table, &hb.token);
    let back = format!("{bob_id} {host_id},{bob_id},{fresh_id}");
    again.expect("back", &back);
    host.expect("back", &back);
    assert_eq!(again.whoami(), bob_id);
    // The seat he sat in meanwhile is held, as after a drop; his own is connected again.
    host.send(&[("Server-Command", "who")], b"");
    let who = host.expect_cmd("who");
    assert!(who.contains(&format!("{} (away)", &fresh_id[..8])), "{who}");
    assert!(who.contains(&bob_id[..8]), "{who}");
    assert!(!who.contains(&format!("{} (away)", &bob_id[..8])), "{who}");
}

#[test]
fn line_mode_takes_a_seat_back_with_the_token_only() {
    let server = ServerProcess::start();
    let mut host = server.connect().named("host");
    let (host_id, _, table) = witness_table(&mut host);

    let mut ada = LineClient::connect(server.tcp_addr()).named("ada");
    ada.send(&format!("/hello {table}"));
    ada.expect_prefix("welcome GGS ");
    let hello = ada.expect_prefix("hello ");
    let fields: Vec<&str> = hello.trim_start_matches("hello ").split(',').collect();
    let [token, defined, at, ada_id] = fields[..] else {
        panic!("a line-mode hello has four fields: {hello}");
    };
    assert_eq!((defined, at), ("true", table.as_str()));
    assert_ne!(token, ada_id);
    let joined = format!("joined {ada_id} {host_id},{ada_id}");
    ada.expect(&joined);
    ada.send("/whoami");
    ada.expect(&format!("whoami {ada_id}"));
    let (token, ada_id) = (token.to_string(), ada_id.to_string());
    ada.close();
    host.expect("joined", &format!("{ada_id} {host_id},{ada_id}"));

    let mut eve = LineClient::connect(server.tcp_addr()).named("eve");
    eve.send(&format!("/hello {table} {ada_id}"));
    eve.expect_prefix("welcome GGS ");
    let refused = eve.expect_prefix("error bad_token ");
    shows_no_token("the refusal", &refused, &[&token]);
    eve.send("/whoami");
    let eve_id = eve
        .expect_prefix("whoami ")
        .trim_start_matches("whoami ")
        .to_string();
    assert_ne!(eve_id, ada_id, "the public id gave Eve nothing");

    let mut ada = LineClient::connect(server.tcp_addr()).named("ada again");
    ada.send(&format!("/hello {table} {token}"));
    ada.expect_prefix("welcome GGS ");
    ada.expect(&format!("hello {token},true,{table},{ada_id}"));
    ada.expect(&format!("back {ada_id} {host_id},{ada_id}"));
    host.expect("back", &format!("{ada_id} {host_id},{ada_id}"));
}

#[test]
fn websocket_takes_a_seat_back_with_the_token_only() {
    let server = ServerProcess::start();
    let mut host = server.connect().named("host");
    let (host_id, _, table) = witness_table(&mut host);

    let mut ws = server.connect_ws().named("ws");
    let hello = ws.hello(Some(&table));
    let ws_id = player_field(&ws);
    assert_ne!(ws_id, hello.token);
    ws.expect("joined", &format!("{ws_id} {host_id},{ws_id}"));
    assert_eq!(ws.whoami(), ws_id, "whoami and the hello reply agree");
    ws.close();
    host.expect("joined", &format!("{ws_id} {host_id},{ws_id}"));

    let mut thief = server.connect_ws().named("thief");
    thief.send(json!({ "type": "hello", "table": table, "token": ws_id }));
    thief.expect_error("bad_token");
    let thief_id = thief.whoami();
    assert_ne!(thief_id, ws_id);

    let mut ws = server.connect_ws().named("ws again");
    let again = ws.resume(&table, &hello.token);
    assert_eq!(player_field(&ws), ws_id, "the seat keeps its public id");
    assert_eq!(again.token, hello.token);
    ws.expect("back", &format!("{ws_id} {host_id},{ws_id}"));
}

/// The public id in the last `hello` reply a WebSocket client took.
fn player_field(ws: &WsClient) -> String {
    let player = ws.framing().hello_player();
    player
        .expect("the hello reply names the player")
        .to_string()
}

#[test]
fn who_the_table_list_and_the_log_never_show_a_token() {
    let server = ServerProcess::start_with(ServerOptions {
        log_level: Some("debug".into()),
        ..ServerOptions::default()
    });
    let mut host = server.connect().named("host");
    let (host_id, host_token, table) = witness_table(&mut host);
    let mut guest = server.connect_ws().named("guest");
    let guest_hello = guest.hello(Some(&table));
    let guest_id = player_field(&guest);
    host.expect_cmd("joined");
    guest.expect_cmd("joined");
    let tokens = [host_token.as_str(), guest_hello.token.as_str()];

    let mut person = LineClient::connect(server.tcp_addr()).named("person");
    person.send(&format!("/hello {table}"));
    person.expect_prefix("welcome GGS ");
    let hello = person.expect_prefix("hello ");
    let person_token = hello
        .trim_start_matches("hello ")
        .split(',')
        .next()
        .unwrap();
    let person_token = person_token.to_string();
    person.expect_prefix("joined ");
    host.expect_cmd("joined");
    guest.expect_cmd("joined");
    // One line per seat, under the command alone.
    person.send("/who");
    person.expect("who");
    let who: Vec<String> = (0..3).map(|_| person.recv()).collect();
    let who = who.join("\n");
    assert!(
        who.contains(&host_id[..8]) && who.contains(&guest_id[..8]),
        "{who}"
    );
    let all = [tokens[0], tokens[1], person_token.as_str()];
    shows_no_token("who", &who, &all);
    host.send(&[("Server-Command", "who")], b"");
    shows_no_token("who over GGS 1.0", &host.expect_cmd("who"), &all);

    let tables = get(server.http_addr(), "/api/tables");
    assert_eq!(tables.status, 200);
    shows_no_token("GET /api/tables", &tables.body, &all);
    assert!(tables.body.contains(&table), "{}", tables.body);

    // A refused resume is logged without the token presented.
    guest.send(json!({ "type": "hello", "table": table, "token": host_id }));
    guest.expect_error("bad_token");
    let log = server.stderr();
    assert!(log.contains("DEBUG"), "the log is at debug level: {log}");
    shows_no_token("the log", &log, &all);
}

/// Writes a data directory as the previous version did: table `table` running `script`,
/// created by `player`, whose seat is held under its id (which was also its token), with
/// `GGS.world`'s `owner` set to that id.
fn write_previous_format(dir: &Path, table: &str, player: &str, script: &str) {
    let db = sled::open(dir).expect("opening the data directory");
    let record = json!({ "created_ms": 1, "tick_ms": 0, "host": player, "game": null });
    db.insert(format!("t/{table}"), record.to_string().as_bytes())
        .unwrap();
    db.insert(format!("c/{table}"), script.as_bytes()).unwrap();
    db.insert(format!("s/{table}/{player}"), b"".as_slice())
        .unwrap();
    db.insert(format!("w/{table}/owner"), player.as_bytes())
        .unwrap();
    db.flush().expect("flushing the data directory");
}

#[test]
fn a_data_directory_of_the_previous_format_keeps_its_seats_and_ids() {
    const TABLE: &str = "0ab1e000-0000-4000-8000-000000000011";
    const OLD: &str = "01d1d000-0000-4000-8000-000000000022";
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    write_previous_format(&data, TABLE, OLD, WITNESS);
    let mut server = ServerProcess::start_with(ServerOptions {
        data_dir: Some(data),
        ..ServerOptions::default()
    });

    // The old client comes back with its id, which was its token: it gets its seat, under the
    // same public id, and a new secret token in the hello reply.
    let mut old = server.connect().named("old client");
    old.request(ggs_tests::Request::Hello {
        table: Some(TABLE),
        token: Some(OLD),
    });
    let hello = ggs_tests::Hello::parse(&old.expect_cmd("hello")).unwrap();
    assert_eq!(hello.table, TABLE);
    assert_ne!(hello.token, OLD, "the seat now has a secret token");
    old.expect("back", &format!("{OLD} {OLD}"));
    assert_eq!(old.whoami(), OLD, "the public id is unchanged");
    old.command("owner", "");
    old.expect("owner", &format!("{OLD} true"));
    // Still the table's host: it may define.
    old.define_ok(WITNESS);
    old.close();

    // The old id, now public, takes nothing any more; the new token does, after a restart too.
    let mut other = server.connect().named("someone who knows the id");
    other.resume_refused(TABLE, OLD);
    server.restart();
    let mut other = server.connect().named("after the restart");
    other.resume_refused(TABLE, OLD);
    let mut old = server.connect().named("old client again");
    old.resume(TABLE, &hello.token);
    old.expect("back", &format!("{OLD} {OLD}"));
    assert_eq!(old.whoami(), OLD);
}
