//! The game catalogue: uploads over HTTP (compiled first, versioned, kept across restarts),
//! tables started by a game's name (GGS 1.0 `Game` header, line mode), define by name, the
//! game and version a table reports, and an administrator stopping a table.

use std::net::SocketAddr;

use ggs_tests::{game_source, http, Client, LineClient, ServerOptions, ServerProcess};
use serde_json::Value;

/// A game that says which version it is.
fn echo(version: u32) -> String {
    format!(
        "// Echo: says back what it is told (version {version}).\n\
         function playerCommand(player, command, args) {{\n\
         \x20 GGS.sendCommand(player, command, 'v{version} ' + args);\n\
         }}\n"
    )
}

/// One HTTP request: the status and the body as JSON (`Null` when it is not JSON).
fn request(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, Value) {
    let response = http::request(addr, method, path, body);
    (response.status, response.json_or_null())
}

/// An admin request with the server's token: the status and the body as JSON.
fn admin(server: &ServerProcess, method: &str, path: &str, body: &str) -> (u16, Value) {
    let response = server.admin(method, path, body);
    (response.status, response.json_or_null())
}

/// The `/api/tables` row of `table`.
#[track_caller]
fn table_row(server: &ServerProcess, table: &str) -> Value {
    let (status, tables) = request(server.http_addr(), "GET", "/api/tables", "");
    assert_eq!(status, 200);
    tables
        .as_array()
        .expect("a list")
        .iter()
        .find(|t| t["id"] == table)
        .unwrap_or_else(|| panic!("table {table} is not in {tables}"))
        .clone()
}

/// A GGS 1.0 `hello` creating a table of catalogue game `game`.
fn hello_game(client: &mut Client, game: &str) -> ggs_tests::Hello {
    client.send(&[("Server-Command", "hello"), ("Game", game)], b"");
    let body = client.expect_cmd("hello");
    ggs_tests::Hello::parse(&body).expect("a hello reply")
}

#[test]
fn uploads_are_compiled_versioned_and_kept() {
    let mut server = ServerProcess::start();
    let http = server.http_addr();

    let (status, v1) = admin(&server, "PUT", "/api/games/echo", &echo(1));
    assert_eq!(status, 201, "{v1}");
    assert_eq!(
        (v1["version"].as_u64(), v1["created"].as_bool()),
        (Some(1), Some(true))
    );
    let (status, same) = admin(&server, "PUT", "/api/games/echo", &echo(1));
    assert_eq!(status, 200, "{same}");
    assert_eq!(
        (same["version"].as_u64(), same["created"].as_bool()),
        (Some(1), Some(false))
    );

    // A script that does not compile is refused with its place; nothing is stored.
    let broken = "function playerCommand(p, c, a) {\n  var x = 1;\n  x = (2 + ;\n}\n";
    let (status, refused) = admin(&server, "PUT", "/api/games/echo", broken);
    assert_eq!(status, 400, "{refused}");
    assert_eq!(refused["error"], "compile_error");
    let message = refused["message"].as_str().unwrap();
    assert!(
        message.starts_with("SyntaxError: ") && message.contains(" at line 3, column "),
        "{message}"
    );
    let (status, bad) = admin(&server, "PUT", "/api/games/Bad%20Name", &echo(1));
    assert_eq!(
        (status, bad["error"].as_str()),
        (400, Some("bad_game_name"))
    );

    let (status, v2) = admin(&server, "PUT", "/api/games/echo", &echo(2));
    assert_eq!((status, v2["version"].as_u64()), (201, Some(2)), "{v2}");
    let (_, game) = request(http, "GET", "/api/games/echo", "");
    assert_eq!(game["version"], 2);
    assert_eq!(game["source"], echo(2));
    assert_eq!(
        game["description"],
        "Echo: says back what it is told (version 2)."
    );
    let versions: Vec<u64> = game["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_u64().unwrap())
        .collect();
    assert_eq!(versions, [1, 2]);
    let (_, first) = request(http, "GET", "/api/games/echo/1", "");
    assert_eq!(first["source"], echo(1));
    assert_eq!(request(http, "GET", "/api/games/echo/3", "").0, 404);
    let (_, list) = request(http, "GET", "/api/games", "");
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["tictactoe", "pong", "chat", "guess", "echo"]);

    // Players start a table by the game's name: it runs the latest version from the start.
    let mut alice = server.connect().named("alice");
    let created = hello_game(&mut alice, "echo");
    assert!(created.defined, "{created:?}");
    alice.command("say", "hi");
    alice.expect("say", "v2 hi");
    let row = table_row(&server, &created.table);
    assert_eq!(
        (row["game"].as_str(), row["version"].as_u64()),
        (Some("echo"), Some(2))
    );
    let mut bob = LineClient::connect(server.tcp_addr()).named("bob");
    bob.send("/hello echo");
    bob.expect_prefix("welcome GGS ");
    let hello = bob.expect_prefix("hello ");
    assert!(hello.contains(",true,"), "{hello}");
    bob.send("say hello there");
    bob.expect("say v2 hello there");
    let mut carol = server.connect().named("carol");
    carol.send(&[("Server-Command", "hello"), ("Game", "nope")], b"");
    let why = carol.expect_error("no_such_game");
    assert!(why.contains("\"nope\""), "{why}");

    // Everything is still there after a restart, the table's game and version too.
    alice.close();
    bob.close();
    server.restart();
    let http = server.http_addr();
    let (_, game) = request(http, "GET", "/api/games/echo", "");
    assert_eq!(
        (game["version"].as_u64(), &game["source"]),
        (Some(2), &Value::from(echo(2)))
    );
    let mut dave = server.connect().named("dave");
    let joined = dave.hello(Some(&created.table));
    assert!(joined.defined);
    let row = table_row(&server, &created.table);
    assert_eq!(
        (row["game"].as_str(), row["version"].as_u64()),
        (Some("echo"), Some(2))
    );
    dave.command("say", "back");
    dave.expect("say", "v2 back");
}

#[test]
fn define_by_name_and_tables_named_by_their_source() {
    let server = ServerProcess::start();
    let mut host = server.connect().named("host");
    let created = host.hello(None);
    assert!(!created.defined);
    assert_eq!(table_row(&server, &created.table)["game"], Value::Null);

    // define with a Game header defines the catalogue's latest version.
    host.send(&[("Server-Command", "define"), ("Game", "guess")], b"");
    host.expect("defined", "ok");
    let row = table_row(&server, &created.table);
    assert_eq!(
        (row["game"].as_str(), row["version"].as_u64()),
        (Some("guess"), Some(1))
    );
    host.send(&[("Server-Command", "define"), ("Game", "nope")], b"");
    host.expect_error("no_such_game");

    // A source that is exactly a catalogue version is reported as that game.
    host.define_ok(&game_source("tictactoe.js"));
    let row = table_row(&server, &created.table);
    assert_eq!(
        (row["game"].as_str(), row["version"].as_u64()),
        (Some("tictactoe"), Some(1))
    );
    host.define_ok("function playerCommand() {}");
    let row = table_row(&server, &created.table);
    assert_eq!(
        (row["game"].as_str(), row["version"].as_u64()),
        (Some("custom"), None)
    );

    // Line mode: /define by name, as the host; `who` shows the public id (the hello reply's
    // fourth field), never the token (its first).
    let mut person = LineClient::connect(server.tcp_addr()).named("person");
    person.send("/hello");
    person.expect_prefix("welcome GGS ");
    let hello = person.expect_prefix("hello ");
    assert!(
        hello.ends_with(",false,") || hello.contains(",false,"),
        "{hello}"
    );
    person.send("/define chat");
    person.expect("defined ok");
    person.send("/who");
    let who = person.expect_prefix("who ");
    let fields: Vec<&str> = hello.trim_start_matches("hello ").split(',').collect();
    let (token, player) = (fields[0], fields[3]);
    assert_eq!(who, format!("who {} (you, host)", &player[..8]));
    assert!(!who.contains(player));
    assert!(!who.contains(&token[..8]), "{who} shows the token");
}

#[test]
fn an_administrator_stops_a_table() {
    let server = ServerProcess::start_with(ServerOptions::no_seat_grace());
    let mut alice = server.connect().named("alice");
    let created = hello_game(&mut alice, "chat");
    alice.expect_cmd("notice");
    let mut bob = LineClient::connect(server.tcp_addr()).named("bob");
    bob.send(&format!("/hello {}", created.table));
    bob.expect_prefix("welcome GGS ");
    bob.expect_prefix("hello ");
    bob.expect_prefix("notice ");
    alice.expect_cmd("notice");

    let path = format!("/api/tables/{}/stop", created.table);
    let (status, stopped) = admin(&server, "POST", &path, "");
    assert_eq!(status, 200, "{stopped}");
    assert_eq!(stopped["stopped"], created.table.as_str());
    let why = alice.expect_error("table_stopped");
    assert!(why.contains("an administrator stopped it"), "{why}");
    bob.expect("error table_stopped the table was stopped: an administrator stopped it");
    alice.command("message", "anyone?");
    alice.expect_error("table_stopped");

    let (_, tables) = request(server.http_addr(), "GET", "/api/tables", "");
    assert!(
        !tables.to_string().contains(&created.table),
        "a stopped table is not listed: {tables}"
    );
    let (status, again) = admin(&server, "POST", &path, "");
    assert_eq!(
        (status, again["error"].as_str()),
        (404, Some("no_such_table"))
    );
    let (status, _) = admin(&server, "POST", "/api/tables/nope/stop", "");
    assert_eq!(status, 404);
}
