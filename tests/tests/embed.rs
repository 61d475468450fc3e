//! The embedding API, used as an application uses it: servers started on the test's own tokio
//! runtime with ephemeral ports, their routers served by the test (at the root, or nested
//! under `/game` beside the application's own routes), games registered from code, a graceful
//! stop (asked for, or by dropping the handle) and a restart on the same data directory, two
//! servers in one process, a TCP listener bound by the server or handed in.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use ggs_server::{Builder, ServerError};
use ggs_tests::{game_source, http, Client, WsClient};
use serde_json::{json, Value};
use tokio::runtime::Runtime;
use tokio::task::JoinHandle;

/// A game that counts the commands it was sent, in `GGS.state` (so a restart keeps the count).
const COUNTER: &str = "// Counter: counts the commands it is sent.\n\
    function playerCommand(player, command, args) {\n\
    \x20 GGS.state.count = (GGS.state.count || 0) + 1;\n\
    \x20 GGS.sendCommand(player, 'count', String(GGS.state.count));\n\
    }\n";

/// A runtime for the servers and the routers; the test's own thread drives the clients.
fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// Serves `app` on an ephemeral port of 127.0.0.1, as an application would.
fn serve(rt: &Runtime, app: Router) -> (SocketAddr, JoinHandle<()>) {
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("an address");
        let task = tokio::spawn(async move {
            let app = app.into_make_service_with_connect_info::<SocketAddr>();
            axum::serve(listener, app).await.expect("serving");
        });
        (addr, task)
    })
}

/// A builder over `dir` with few VM threads (several servers share the machine).
fn builder(dir: &Path) -> Builder {
    let config = ggs_server::Config {
        vm_threads: 1,
        shutdown_timeout: Duration::from_secs(5),
        ..ggs_server::Config::default()
    };
    Builder::new().config(config).data_dir(dir)
}

/// A WebSocket `hello` creating a table of catalogue game `game`: the table id.
fn hello_game(ws: &mut WsClient, game: &str) -> String {
    ws.send(json!({ "type": "hello", "game": game }));
    let body = ws.expect_cmd("hello");
    ggs_tests::Hello::parse(&body).expect("a hello reply").table
}

#[test]
fn nested_under_a_prefix_players_play_through_the_prefixed_websocket() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let ggs = rt
        .block_on(
            builder(dir.path())
                .builtin_games(false)
                .game("lounge", game_source("chat.js"))
                .web_client(false)
                .start(),
        )
        .expect("a start");
    assert_eq!(ggs.tcp_addr(), None, "no TCP listener unless asked for");
    let app = Router::new()
        .route("/login", get(|| async { "the application's own login" }))
        .nest("/game", ggs.router());
    let (addr, serving) = serve(&rt, app);

    // The application's route, the server's under the prefix, nothing of the server at the root.
    let login = http::get(addr, "/login");
    assert_eq!(
        (login.status, login.body.as_str()),
        (200, "the application's own login")
    );
    assert_eq!(http::get(addr, "/game/api/health").json()["status"], "ok");
    assert_eq!(http::get(addr, "/api/health").status, 404);
    assert_eq!(http::get(addr, "/ws").status, 404);
    // The web client is left out: other paths under the prefix are not found.
    assert_eq!(http::get(addr, "/game/index.html").status, 404);
    // Built-in games off: only the registered game.
    assert_eq!(http::game_names(addr, "/game"), ["lounge"]);

    // Two players at one table of the registered game, through /game/ws.
    let mut alice = WsClient::connect_to(addr, "/game/ws").named("alice");
    let table = hello_game(&mut alice, "lounge");
    alice.expect_cmd("notice");
    let mut bob = WsClient::connect_to(addr, "/game/ws").named("bob");
    let hello = bob.hello(Some(&table));
    assert!(hello.defined, "the table runs the registered game");
    bob.expect_cmd("notice");
    alice.expect_cmd("notice");
    alice.command("/nick", "alice");
    alice.expect_cmd("notice");
    bob.expect_cmd("notice");
    alice.command("message", "hello through the prefix");
    alice.expect("message", "alice> hello through the prefix");
    bob.expect("message", "alice> hello through the prefix");
    let tables = http::get(addr, "/game/api/tables").json();
    let row = tables
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == table.as_str())
        .unwrap_or_else(|| panic!("{table} is not in {tables}"));
    assert_eq!(row["game"], "lounge");

    // A graceful stop tells the players and closes them.
    rt.block_on(ggs.shutdown()).expect("a clean stop");
    alice.expect("shutdown", "the server is shutting down");
    bob.expect("shutdown", "the server is shutting down");
    alice.expect_closed();
    // The application goes on; the stopped server's routes answer 503.
    assert_eq!(http::get(addr, "/login").status, 200);
    let stopped = http::get(addr, "/game/api/games");
    assert_eq!(stopped.status, 503);
    assert_eq!(stopped.json()["error"], "server_stopped");
    serving.abort();
}

#[test]
fn a_stopped_server_starts_again_on_its_directory_with_its_state() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let start = || {
        rt.block_on(
            builder(dir.path())
                .builtin_games(false)
                .game("counter", COUNTER)
                .start(),
        )
        .expect("a start")
    };
    let ggs = start();
    // The application keeps serving this router after the server stopped.
    let (first, serving_first) = serve(&rt, ggs.router());
    let mut ws = WsClient::connect(first);
    let table = hello_game(&mut ws, "counter");
    ws.command("add", "");
    ws.expect("count", "1");
    ws.command("add", "");
    ws.expect("count", "2");
    let admin_token = ggs.admin_token().to_string();
    rt.block_on(ggs.shutdown()).expect("a clean stop");
    ws.expect("shutdown", "the server is shutting down");
    assert_eq!(http::get(first, "/api/tables").status, 503);

    // At once, on the same directory: the table, its state, the catalogue, the admin token.
    let ggs = start();
    assert_eq!(ggs.admin_token(), admin_token);
    let (second, serving_second) = serve(&rt, ggs.router());
    let games = http::get(second, "/api/games").json();
    assert_eq!(games[0]["name"], "counter");
    assert_eq!(
        games[0]["version"], 1,
        "an unchanged game is no new version"
    );
    let mut ws = WsClient::connect(second);
    let hello = ws.hello(Some(&table));
    assert!(hello.defined);
    ws.command("add", "");
    ws.expect("count", "3");
    rt.block_on(ggs.shutdown()).expect("a clean stop");
    serving_first.abort();
    serving_second.abort();
}

#[test]
fn two_servers_run_side_by_side_on_one_runtime() {
    let rt = runtime();
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    // The first binds its TCP port; the second takes the listener the application bound.
    let any_port: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let first = rt
        .block_on(builder(dirs[0].path()).tcp(any_port).start())
        .expect("a start");
    let (second, handed_in) = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(any_port).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let ggs = builder(dirs[1].path()).tcp_listener(listener).start().await;
        (ggs.expect("a start"), addr)
    });
    let servers = [first, second];
    let tcp: Vec<SocketAddr> = servers
        .iter()
        .map(|s| s.tcp_addr().expect("a TCP listener"))
        .collect();
    assert_ne!(tcp[0], tcp[1]);
    assert_ne!(tcp[0].port(), 0);
    assert_eq!(tcp[1], handed_in);
    let http: Vec<(SocketAddr, JoinHandle<()>)> =
        servers.iter().map(|s| serve(&rt, s.router())).collect();

    // Built-in games on (the default): each catalogue has them; the web client is served.
    let builtin = ["tictactoe", "pong", "chat", "guess"];
    for (addr, _) in &http {
        assert_eq!(http::game_names(*addr, ""), builtin);
        let page = http::get(*addr, "/");
        assert_eq!(page.status, 200);
        assert!(page.content_type().starts_with("text/html"), "{page:?}");
    }

    // A GGS 1.0 player on the first server's TCP port: its table is the first server's only.
    let mut client = Client::connect(tcp[0]);
    let hello = client.hello(None);
    client.define_ok(&game_source("chat.js"));
    let ids = |addr: SocketAddr| -> Vec<Value> {
        let tables = http::get(addr, "/api/tables").json();
        tables
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].clone())
            .collect()
    };
    assert_eq!(ids(http[0].0), [json!(hello.table)]);
    assert!(ids(http[1].0).is_empty());
    // The handed-in listener accepts GGS 1.0 players too: that table is the second's only.
    let mut other = Client::connect(tcp[1]);
    let other_hello = other.hello(None);
    other.define_ok(&game_source("chat.js"));
    assert_eq!(ids(http[1].0), [json!(other_hello.table)]);
    assert_eq!(ids(http[0].0), [json!(hello.table)]);
    // Each has its own admin token.
    assert_ne!(servers[0].admin_token(), servers[1].admin_token());

    for ggs in servers {
        rt.block_on(ggs.shutdown()).expect("a clean stop");
    }
    for (_, serving) in http {
        serving.abort();
    }
}

#[test]
fn registered_games_join_the_built_in_ones_and_bad_ones_refuse_the_start() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    // A registered game of a built-in's name replaces it; another comes after them.
    let ggs = rt
        .block_on(
            builder(dir.path())
                .game("counter", COUNTER)
                .game(
                    "chat",
                    "// Chat, the application's own.\nfunction playerCommand() {}",
                )
                .start(),
        )
        .expect("a start");
    let (addr, serving) = serve(&rt, ggs.router());
    assert_eq!(
        http::game_names(addr, ""),
        ["tictactoe", "pong", "chat", "guess", "counter"]
    );
    let chat = http::get(addr, "/api/games/chat").json();
    assert_eq!(chat["description"], "Chat, the application's own.");
    rt.block_on(ggs.shutdown()).expect("a clean stop");
    serving.abort();

    // Nothing is opened for a start with a bad game: the directory is not even made.
    let unused = dir.path().join("unused");
    let refused = |name: &str, source: &str| -> String {
        let start = builder(&unused).game(name, source).start();
        match rt.block_on(start) {
            Err(ServerError::Game { name: got, source }) => {
                assert_eq!(got, name);
                source.code().to_string()
            }
            Err(e) => panic!("{name}: another error: {e}"),
            Ok(_) => panic!("{name}: started"),
        }
    };
    assert_eq!(refused("broken", "function ("), "compile_error");
    assert_eq!(refused("Bad Name", COUNTER), "bad_game_name");
    assert!(!unused.exists());
}

#[test]
fn a_router_served_without_peer_addresses_says_so() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let ggs = rt.block_on(builder(dir.path()).start()).expect("a start");
    let router = ggs.router();
    let addr = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        addr
    });
    // Routes that need no address work; the WebSocket endpoint explains what is missing.
    assert_eq!(http::get(addr, "/api/health").status, 200);
    let (status, body) = WsClient::try_connect_to(addr, "/ws", &[])
        .err()
        .expect("a refused handshake");
    assert_eq!(status, 500);
    assert!(body.contains("no_peer_address"), "{body}");
    rt.block_on(ggs.shutdown()).expect("a clean stop");
}

#[test]
fn dropping_the_handle_stops_the_server() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let ggs = rt.block_on(builder(dir.path()).start()).expect("a start");
    let (addr, serving) = serve(&rt, ggs.router());
    let mut ws = WsClient::connect(addr);
    ws.hello(None);
    assert_eq!(http::get(addr, "/api/health").status, 200);
    drop(ggs);
    // The player is told, and the routes stop answering for the server.
    ws.expect("shutdown", "the server is shutting down");
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while http::get(addr, "/api/health").status != 503 {
        assert!(
            std::time::Instant::now() < deadline,
            "the routes still answer 5 s after the handle was dropped"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    serving.abort();
}

#[test]
fn a_start_waits_a_moment_for_a_directory_being_let_go_of() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    // The store of the directory is held (as by a server that is still letting go of it)...
    let held = sled::open(dir.path()).expect("a sled store");
    let release = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        drop(held);
    });
    // ...and let go of while the start waits: it starts.
    let ggs = rt
        .block_on(builder(dir.path()).start())
        .expect("a start once the directory is free");
    release.join().unwrap();
    rt.block_on(ggs.shutdown()).expect("a clean stop");

    // A directory that stays held fails the start, saying why.
    let _held = sled::open(dir.path()).expect("a sled store");
    let started = std::time::Instant::now();
    let err = match rt.block_on(builder(dir.path()).start()) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("started on a held directory"),
    };
    assert!(err.contains("could not acquire lock"), "{err}");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
}
