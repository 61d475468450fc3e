//! embed_axum: an axum application that hosts ggs inside itself: its own `/login` route, and
//! the game server nested under `/game` (WebSocket at `/game/ws`, the API at `/game/api/...`),
//! with games registered from code and the built-in ones left out. Its scripts ask the
//! application for a player's rank (`GGS.host.rank`, a host function) and report wins to it
//! (`GGS.emit("win", ...)`), which it receives only once the event is durable.
//!
//! Run it with `cargo run -p ggs-server --example embed_axum` (it listens on
//! `127.0.0.1:3000`, or the address in `EMBED_ADDR`, and stops gracefully on Ctrl-C); its test
//! (`cargo test -p ggs-server --example embed_axum`) starts it on an ephemeral port and plays.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use ggs_server::{Builder, Ggs};

/// The game the application offers: a chat room (the repository's `games/chat.js`).
const ROOM: &str = include_str!("../../games/chat.js");

/// A game that asks the application for a rank and reports wins to it.
const LADDER: &str = r#"
function playerCommand(player, command, args) {
  if (command === "win") {
    var rank = GGS.host.rank(args);
    GGS.emit("win", { user: args, rank: rank });
    GGS.sendCommand(player, "ranked", args + " " + rank);
  } else if (command === "cheat") {
    GGS.emit("win", { user: args, rank: 0 });
    throw new Error("no cheating");
  }
}
"#;

/// What the application was told by its games' scripts, in order.
type Reports = Arc<Mutex<Vec<ggs_server::config::Emitted>>>;

/// The application's ladder: a user's rank, which scripts read through `GGS.host.rank`.
fn rank(args: serde_json::Value) -> Result<serde_json::Value, String> {
    match args[0].as_str() {
        Some("alice") => Ok(1.into()),
        Some("bob") => Ok(2.into()),
        Some(other) => Err(format!("{other} has no rank")),
        None => Err("rank(user) takes a user name".to_string()),
    }
}

/// The application's own state: who is logged in, by session id.
#[derive(Clone, Default)]
struct Sessions(Arc<Mutex<HashMap<String, String>>>);

/// `POST /login` with a user name as the body: a session cookie, and the user as JSON.
async fn login(State(sessions): State<Sessions>, name: String) -> Response {
    let name = name.trim().to_string();
    if name.is_empty() || name.len() > 32 {
        return (StatusCode::BAD_REQUEST, "a user name is 1 to 32 bytes\n").into_response();
    }
    let session = uuid::Uuid::new_v4().to_string();
    sessions
        .0
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(session.clone(), name.clone());
    let cookie = format!("session={session}; HttpOnly; SameSite=Lax; Path=/");
    (
        [(header::SET_COOKIE, cookie)],
        Json(serde_json::json!({ "user": name })),
    )
        .into_response()
}

/// Starts the game server on `data_dir` and builds the application around its router.
async fn start(
    data_dir: &Path,
    reports: Reports,
) -> Result<(Router, Ggs), ggs_server::ServerError> {
    let ggs = Builder::new()
        .data_dir(data_dir)
        .builtin_games(false)
        .game("room", ROOM)
        .game("ladder", LADDER)
        .host_function("rank", rank)
        .expect("a valid, new name")
        .on_emit(move |emitted| {
            reports
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(emitted)
        })
        // Its pages use absolute paths: under a prefix, the application brings its own.
        .web_client(false)
        .start()
        .await?;
    let app = Router::new()
        .route("/login", post(login))
        .with_state(Sessions::default())
        .nest("/game", ggs.router());
    Ok((app, ggs))
}

/// Serves `app` on `listener` until `stop` resolves; the peer addresses go along (the game
/// server limits connections per address).
async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = app.into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(stop)
        .await
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let addr: SocketAddr = std::env::var("EMBED_ADDR")
        .unwrap_or_else(|_| "127.0.0.1:3000".to_string())
        .parse()?;
    let data_dir = std::env::temp_dir().join("ggs-embed-axum");
    let reports = Reports::default();
    let (app, mut ggs) = start(&data_dir, reports.clone()).await?;
    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!("listening on http://{}", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(serve(listener, app, async {
        let _ = stopped.await;
    }));
    // Ctrl-C stops the game server first (its players are told), then the application.
    let result = tokio::select! {
        _ = tokio::signal::ctrl_c() => ggs.shutdown().await,
        result = ggs.stopped() => result,
    };
    let _ = stop.send(());
    serving.await??;
    let reports = reports.lock().unwrap_or_else(|e| e.into_inner());
    println!("the games reported {} wins", reports.len());
    Ok(result?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ggs_tests::{http, WsClient};

    #[test]
    fn a_user_logs_in_and_chats_through_the_nested_game_server() {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let reports = Reports::default();
        let (app, ggs) = rt
            .block_on(start(dir.path(), reports.clone()))
            .expect("a start");
        let (addr, serving) = rt.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            (
                addr,
                tokio::spawn(serve(listener, app, std::future::pending())),
            )
        });

        // The application's own route.
        let login = http::request(addr, "POST", "/login", "alice");
        assert_eq!(login.status, 200, "{}", login.body);
        assert_eq!(login.json()["user"], "alice");
        assert!(login.header("set-cookie").unwrap().starts_with("session="));
        assert_eq!(http::request(addr, "POST", "/login", "").status, 400);

        // The game server under /game: only the application's game.
        let games = http::get(addr, "/game/api/games").json();
        assert_eq!(games.as_array().unwrap().len(), 2, "{games}");
        assert_eq!(games[0]["name"], "room");
        assert_eq!(games[1]["name"], "ladder");

        // Two players in one room through /game/ws.
        let mut alice = WsClient::connect_to(addr, "/game/ws").named("alice");
        alice.send(serde_json::json!({ "type": "hello", "game": "room" }));
        let table = ggs_tests::Hello::parse(&alice.expect_cmd("hello"))
            .expect("a hello reply")
            .table;
        alice.expect_cmd("notice");
        let mut bob = WsClient::connect_to(addr, "/game/ws").named("bob");
        assert!(bob.hello(Some(&table)).defined);
        bob.expect_cmd("notice");
        alice.expect_cmd("notice");
        bob.command("/nick", "bob");
        bob.expect("notice", &alice.expect_cmd("notice"));
        bob.command("message", "hi alice");
        alice.expect("message", "bob> hi alice");
        bob.expect("message", "bob> hi alice");

        // A script asks the application (a host function) and reports to it (an emit): the
        // report arrives once its event is durable; a failed event reports nothing.
        let mut carol = WsClient::connect_to(addr, "/game/ws").named("carol");
        carol.send(serde_json::json!({ "type": "hello", "game": "ladder" }));
        carol.expect_cmd("hello");
        carol.command("win", "bob");
        carol.expect("ranked", "bob 2");
        carol.command("cheat", "carol");
        carol.expect_error("script_error");
        carol.command("win", "nobody");
        assert!(carol
            .expect_error("script_error")
            .contains("nobody has no rank"));
        carol.command("win", "alice");
        carol.expect("ranked", "alice 1");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let wins = loop {
            let wins: Vec<serde_json::Value> = reports
                .lock()
                .unwrap()
                .iter()
                .map(|e| serde_json::json!([e.name, e.payload]))
                .collect();
            if wins.len() >= 2 || std::time::Instant::now() > deadline {
                break wins;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        };
        assert_eq!(
            wins,
            [
                serde_json::json!(["win", { "rank": 2, "user": "bob" }]),
                serde_json::json!(["win", { "rank": 1, "user": "alice" }]),
            ]
        );

        rt.block_on(ggs.shutdown()).expect("a clean stop");
        carol.expect("shutdown", "the server is shutting down");
        alice.expect("shutdown", "the server is shutting down");
        bob.expect("shutdown", "the server is shutting down");
        assert_eq!(http::get(addr, "/game/api/games").status, 503);
        assert_eq!(http::request(addr, "POST", "/login", "carol").status, 200);
        serving.abort();
    }
}
