//! Live upgrade against the real binary: a tic-tac-toe game moves from v1 to v2 in the middle
//! (the position survives, v2 sends what it sends), a v3 whose `onUpgrade` throws leaves its
//! table on v2, a rollback is an upgrade to the older version, an upgrade under pipelined load
//! loses and repeats nothing, the `all` and `manual` policies, and `ggs upgrade` / `ggs dev`.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ggs_tests::server::ggs_binary;
use ggs_tests::{game_source, Client, ServerOptions, ServerProcess};
use serde_json::{json, Value};

/// Tic-tac-toe v2: the same game, but the board arrives as `board` instead of `game_board`,
/// and the upgrade is announced.
fn tictactoe_v2() -> String {
    game_source("tictactoe.js").replace("\"game_board\"", "\"board\"")
        + "\nfunction onUpgrade(from, to) { GGS.sendCommandToAll(\"upgraded\", from + \" \" + to); }\n"
}

/// A client at a new table of catalogue game `game`, as a 2011 client says hello (plus the
/// `Game` header); returns the table id.
fn hello_game(client: &mut Client, game: &str) -> String {
    client.send(&[("Server-Command", "hello"), ("Game", game)], b"");
    let body = client.expect_cmd("hello");
    body.rsplit(',').next().unwrap().to_string()
}

#[track_caller]
fn upload(server: &ServerProcess, game: &str, source: &str) -> Value {
    let answer = server.admin("PUT", &format!("/api/games/{game}"), source);
    assert!(answer.status == 200 || answer.status == 201, "{answer:?}");
    answer.json()
}

#[track_caller]
fn upgrade(server: &ServerProcess, game: &str, request: Value) -> Value {
    let path = format!("/api/games/{game}/upgrade");
    let answer = server.admin("POST", &path, &request.to_string());
    assert_eq!(answer.status, 200, "{answer:?}");
    answer.json()
}

/// The version table `id` runs, as `GET /api/tables` says.
fn version_of(server: &ServerProcess, id: &str) -> Option<u64> {
    let tables = ggs_tests::http::get(server.http_addr(), "/api/tables").json();
    let table = tables.as_array()?.iter().find(|t| t["id"] == id)?.clone();
    table["version"].as_u64()
}

#[test]
fn tictactoe_moves_to_v2_mid_game_and_back() {
    let server = ServerProcess::start_with(ServerOptions::no_seat_grace());
    let mut p1 = server.connect().named("player 1");
    let table = hello_game(&mut p1, "tictactoe");
    let mut p2 = server.connect().named("player 2");
    assert!(p2.hello(Some(&table)).defined);
    p1.command("hi", "");
    p1.expect("welcome", "1");
    p2.command("hi", "");
    p2.expect("welcome", "2");
    for p in [&mut p2, &mut p1] {
        p.expect("game_board", "         ");
    }
    p1.expect("yourturn", "");
    p1.command("set", r#"{"x":0,"y":0}"#);
    p1.expect("game_board", "X        ");
    p2.expect("game_board", "X        ");
    p2.expect("yourturn", "");
    p2.command("set", r#"{"x":1,"y":1}"#);
    p2.expect("game_board", "X   O    ");
    p1.expect("game_board", "X   O    ");
    p1.expect("yourturn", "");

    // v2 is uploaded: under the default policy nothing that runs changes.
    let uploaded = upload(&server, "tictactoe", &tictactoe_v2());
    assert_eq!(uploaded["version"], 2);
    assert_eq!(uploaded["policy"], "new-tables");
    assert_eq!(version_of(&server, &table), Some(1));

    // The operator upgrades this table: both players are still connected, the position is
    // intact, and v2 speaks from the next move on.
    let report = upgrade(&server, "tictactoe", json!({ "tables": [table] }));
    assert_eq!(report["to"], 2);
    assert_eq!(
        report["tables"],
        json!([{ "table": table, "from": 1, "upgraded": true }])
    );
    p1.expect("upgraded", "1 2");
    p2.expect("upgraded", "1 2");
    assert_eq!(version_of(&server, &table), Some(2));
    p1.command("set", r#"{"x":2,"y":2}"#);
    p1.expect("board", "X   O   X");
    p2.expect("board", "X   O   X");
    p2.expect("yourturn", "");

    // v3 refuses in onUpgrade: the table stays on v2 with its game, and the report says why.
    let v3 = tictactoe_v2() + "\nfunction onUpgrade() { throw new Error('v3 will not'); }\n";
    upload(&server, "tictactoe", &v3);
    let report = upgrade(&server, "tictactoe", json!({ "all": true }));
    let ours = &report["tables"].as_array().unwrap()[0];
    assert_eq!(ours["upgraded"], false, "{report}");
    assert_eq!(ours["error"], "script_error", "{report}");
    assert!(
        ours["message"].as_str().unwrap().contains("v3 will not"),
        "{report}"
    );
    assert_eq!(version_of(&server, &table), Some(2));
    p2.command("set", r#"{"x":2,"y":0}"#);
    p2.expect("board", "X O O   X");
    p1.expect("board", "X O O   X");
    p1.expect("yourturn", "");

    // Rolling back is an upgrade to v1, and new tables run v1 again too.
    let report = upgrade(&server, "tictactoe", json!({ "to": 1, "all": true }));
    assert_eq!(report["tables"][0]["upgraded"], true, "{report}");
    p1.command("set", r#"{"x":1,"y":0}"#);
    p1.expect("game_board", "XXO O   X");
    p2.expect("game_board", "XXO O   X");
    p2.expect("yourturn", "");
    let games = ggs_tests::http::get(server.http_addr(), "/api/games").json();
    let ttt = games
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == "tictactoe")
        .unwrap()
        .clone();
    assert_eq!(
        (ttt["version"].as_u64(), ttt["current"].as_u64()),
        (Some(3), Some(1))
    );

    // `ggs upgrade` does the same from the command line.
    let out = Command::new(ggs_binary())
        .args(["upgrade", "tictactoe", "--to", "2", "--tables", &table])
        .args(["--server", &format!("http://{}", server.http_addr())])
        .arg("--data-dir")
        .arg(server.data_dir())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(&format!("{table}  v1 -> v2")), "{stdout}");
    p1.expect("upgraded", "1 2");
    p2.expect("upgraded", "1 2");

    // Bad requests change nothing.
    let path = "/api/games/tictactoe/upgrade";
    let both = json!({ "all": true, "canary": 1 }).to_string();
    assert_eq!(
        server.admin("POST", path, &both).json()["error"],
        "bad_request"
    );
    let missing = json!({ "to": 99 }).to_string();
    assert_eq!(server.admin("POST", path, &missing).status, 404);
    let unauthorised = ggs_tests::http::request(server.http_addr(), "POST", path, "{}");
    assert_eq!(unauthorised.status, 401);
    assert_eq!(version_of(&server, &table), Some(2));
}

/// A counter: `inc` answers `n <count>` (v1) or `m <count>` (v2), the count in `GGS.state`.
const COUNTER_V1: &str = "function playerCommand(p, c, a) {\n\
    GGS.state.n = (GGS.state.n || 0) + 1;\n\
    GGS.sendCommand(p, 'n', String(GGS.state.n));\n}\n";
const COUNTER_V2: &str = "function playerCommand(p, c, a) {\n\
    GGS.state.n = (GGS.state.n || 0) + 1;\n\
    GGS.sendCommand(p, 'm', String(GGS.state.n));\n}\n\
    function onUpgrade(from, to) {}\n";

/// Commands pipelined while the operator upgrades.
const PIPELINED: usize = 600;

#[test]
fn an_upgrade_under_pipelined_load_loses_and_repeats_nothing() {
    let server = ServerProcess::start();
    upload(&server, "counter", COUNTER_V1);
    upload(&server, "counter", COUNTER_V2);
    let mut client = server.connect();
    client.send(&[("Server-Command", "hello"), ("Game", "counter")], b"");
    let body = client.expect_cmd("hello");
    assert!(body.contains(",true,"), "{body}");
    let table = body.rsplit(',').next().unwrap().to_string();
    // The table runs v2 (the latest); roll it back to v1 first, then forward under load.
    upgrade(&server, "counter", json!({ "to": 1, "tables": [table] }));

    let command = ggs_tests::wire::encode_message(&[("Game-Command", "inc")], b"");
    let half: Vec<u8> = command.repeat(PIPELINED / 2);
    // Half the commands are queued; once the first sixth have run, the operator upgrades
    // (waiting for the report), while the rest of that half runs; then the other half.
    client.send_raw(&half);
    let mut seen = Vec::new();
    let mut read = |client: &mut Client, n: usize| {
        for _ in 0..n {
            let reply = client.recv();
            seen.push((reply.command.clone(), reply.body.parse::<usize>().unwrap()));
        }
    };
    read(&mut client, PIPELINED / 6);
    let (http, token) = (server.http_addr(), server.admin_token());
    let operator = std::thread::spawn(move || {
        let body = json!({ "to": 2, "all": true }).to_string();
        ggs_tests::http::admin(http, &token, "POST", "/api/games/counter/upgrade", &body).json()
    });
    let report = operator.join().unwrap();
    assert_eq!(report["tables"][0]["upgraded"], true, "{report}");
    client.send_raw(&half);
    read(&mut client, PIPELINED - PIPELINED / 6);
    // Every command ran once, in order: 1..=N, none lost, none twice.
    let counts: Vec<usize> = seen.iter().map(|(_, n)| *n).collect();
    assert_eq!(counts, (1..=PIPELINED).collect::<Vec<_>>());
    // One switch from v1 to v2, never back.
    let switched = seen.iter().position(|(c, _)| c == "m").unwrap_or(PIPELINED);
    assert!(seen[..switched].iter().all(|(c, _)| c == "n"), "{seen:?}");
    assert!(seen[switched..].iter().all(|(c, _)| c == "m"), "{seen:?}");
    client.command("inc", "");
    client.expect("m", &(PIPELINED + 1).to_string());
    assert!(
        (PIPELINED / 6..=PIPELINED / 2).contains(&switched),
        "the upgrade came between the halves: {switched}"
    );
    println!("upgraded after {switched} of {PIPELINED} pipelined commands");
}

#[test]
fn policies_decide_what_an_upload_reaches() {
    let server = ServerProcess::start();
    upload(&server, "counter", COUNTER_V1);
    let mut old = server.connect();
    hello_game(&mut old, "counter");
    old.command("inc", "");
    old.expect("n", "1");

    // manual: an upload reaches neither running tables nor new ones.
    let set = server.admin("PUT", "/api/games/counter/policy", r#"{"policy":"manual"}"#);
    assert_eq!(set.json()["policy"], "manual");
    upload(&server, "counter", COUNTER_V2);
    let mut new = server.connect();
    hello_game(&mut new, "counter");
    new.command("inc", "");
    new.expect("n", "1");
    old.command("inc", "");
    old.expect("n", "2");

    // all: an upload reaches every running table before the answer.
    let v3 = COUNTER_V2.replace("'m'", "'v3'");
    let answer = server.admin("PUT", "/api/games/counter?policy=all", &v3);
    assert_eq!(answer.status, 201, "{answer:?}");
    let answer = answer.json();
    assert_eq!(answer["policy"], "all");
    let tables = answer["upgrade"]["tables"].as_array().unwrap().clone();
    assert_eq!(tables.len(), 2, "{answer}");
    assert!(tables.iter().all(|t| t["upgraded"] == true), "{answer}");
    old.command("inc", "");
    old.expect("v3", "3");
    new.command("inc", "");
    new.expect("v3", "2");
    let bad = server.admin("PUT", "/api/games/counter?policy=sometimes", &v3);
    assert_eq!(bad.json()["error"], "bad_policy");
}

#[test]
fn ggs_dev_uploads_every_save_and_upgrades_the_running_tables() {
    let server = ServerProcess::start();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("counter.js");
    std::fs::write(&file, COUNTER_V1).unwrap();
    let mut dev = Command::new(ggs_binary())
        .arg("dev")
        .arg(&file)
        .args(["--server", &format!("http://{}", server.http_addr())])
        .arg("--data-dir")
        .arg(server.data_dir())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let (lines_tx, lines) = mpsc::channel();
    let stdout = dev.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let wait_for = |what: &str| {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut seen = Vec::new();
        while Instant::now() < deadline {
            if let Ok(line) = lines.recv_timeout(Duration::from_millis(100)) {
                if line.contains(what) {
                    return line;
                }
                seen.push(line);
            }
        }
        panic!("ggs dev never printed {what:?}; it printed {seen:?}");
    };
    wait_for("uploaded counter v1");
    let mut player = server.connect();
    hello_game(&mut player, "counter");
    player.command("inc", "");
    player.expect("n", "1");

    // A syntax error is printed with its place, and the running version stays.
    std::fs::write(&file, "function playerCommand( {").unwrap();
    let error = wait_for("the running version stays");
    assert!(error.contains("line 1"), "{error}");
    player.command("inc", "");
    player.expect("n", "2");

    // A good save reaches the running table.
    std::fs::write(&file, COUNTER_V2).unwrap();
    wait_for("uploaded counter v2");
    wait_for("v1 -> v2");
    player.command("inc", "");
    player.expect("m", "3");
    dev.kill().unwrap();
    let _ = dev.wait();
}
