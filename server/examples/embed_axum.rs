//! embed_axum: an axum application that hosts ggs inside itself: its own `/login` route, and
//! the game server nested under `/game` (WebSocket at `/game/ws`, the API at `/game/api/...`),
//! with games registered from code and the built-in ones left out. Only users who logged in
//! may play: an auth hook checks the `/login` session cookie at the WebSocket upgrade and
//! gives the player their user name, which scripts read with `GGS.playerInfo(player).name`.
//! Its scripts ask the application for a player's rank (`GGS.host.rank`, a host function)
//! and report wins to it (`GGS.emit("win", ...)`), which it receives only once the event is
//! durable; an observer task hears who joined which table.
//!
//! Run it with `cargo run -p ggs-server --example embed_axum` (it listens on
//! `127.0.0.1:3000`, or the address in `EMBED_ADDR`, and stops gracefully on Ctrl-C); its test
//! (`cargo test -p ggs-server --example embed_axum`) starts it on an ephemeral port and plays.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use futures::StreamExt;
use ggs_server::{AuthRefusal, AuthRequest, Builder, Ggs, Identity, Observation};

/// The game the application offers: a chat room (the repository's `games/chat.js`).
const ROOM: &str = include_str!("../../games/chat.js");

/// A game that greets players by the name they logged in with, asks the application for a
/// rank and reports wins to it.
const LADDER: &str = r#"
function playerJoined(player) {
  GGS.sendCommand(player, "welcome", GGS.playerInfo(player).name);
}
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

/// Who joined which table, as the application's observer heard it: (table, user name).
type Joins = Arc<Mutex<Vec<(String, String)>>>;

/// The application's own state: who is logged in, by session id.
#[derive(Clone, Default)]
struct Sessions(Arc<Mutex<HashMap<String, String>>>);

impl Sessions {
    /// The user whose session cookie `headers` carry, if they logged in.
    fn user(&self, headers: &HeaderMap) -> Option<String> {
        let cookies = headers.get(header::COOKIE)?.to_str().ok()?;
        let session = cookies
            .split(';')
            .find_map(|c| c.trim().strip_prefix("session="))?;
        let sessions = self.0.lock().unwrap_or_else(|e| e.into_inner());
        sessions.get(session).cloned()
    }

    /// The auth hook: at the WebSocket upgrade and at every `hello`, the player is the user
    /// of the session cookie (a real application would ask its database here).
    async fn authenticate(self, request: AuthRequest) -> Result<Identity, AuthRefusal> {
        match self.user(&request.headers) {
            Some(user) => Ok(Identity::new(user.clone(), user)),
            None => Err(AuthRefusal::new("log in first (POST /login)")),
        }
    }
}

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

/// Starts the game server on `data_dir` and builds the application around its router; the
/// observer task records every join in `joins`.
async fn start(
    data_dir: &Path,
    reports: Reports,
    joins: Joins,
) -> Result<(Router, Ggs), ggs_server::ServerError> {
    let sessions = Sessions::default();
    let hook = sessions.clone();
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
        .auth(move |request| hook.clone().authenticate(request))
        // Its pages use absolute paths: under a prefix, the application brings its own.
        .web_client(false)
        .start()
        .await?;
    let mut observations = ggs.observe();
    tokio::spawn(async move {
        while let Some(observation) = observations.next().await {
            if let Observation::PlayerJoined {
                table,
                identity: Some(identity),
                ..
            } = observation
            {
                let mut joins = joins.lock().unwrap_or_else(|e| e.into_inner());
                joins.push((table.to_string(), identity.name));
            }
        }
    });
    let app = Router::new()
        .route("/login", post(login))
        .with_state(sessions)
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
    let joins = Joins::default();
    let (app, mut ggs) = start(&data_dir, reports.clone(), joins.clone()).await?;
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
    let joins = joins.lock().unwrap_or_else(|e| e.into_inner());
    println!("{} players joined a table", joins.len());
    Ok(result?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ggs_tests::{http, WsClient};

    /// Logs `user` in: the `Cookie` header that carries their session.
    fn log_in(addr: SocketAddr, user: &str) -> String {
        let login = http::request(addr, "POST", "/login", user);
        assert_eq!(login.status, 200, "{}", login.body);
        let cookie = login.header("set-cookie").expect("a session cookie");
        cookie.split(';').next().unwrap().to_string()
    }

    /// A WebSocket to the game server as `user`, who logged in.
    fn player(addr: SocketAddr, user: &str) -> WsClient {
        let cookie = log_in(addr, user);
        WsClient::try_connect_to(addr, "/game/ws", &[("cookie", &cookie)])
            .unwrap_or_else(|(status, body)| panic!("{user} refused with {status}: {body}"))
            .named(user)
    }

    #[test]
    fn a_user_logs_in_and_chats_through_the_nested_game_server() {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let reports = Reports::default();
        let joins = Joins::default();
        let (app, ggs) = rt
            .block_on(start(dir.path(), reports.clone(), joins.clone()))
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

        // Only users who logged in may open a WebSocket: the auth hook checks the cookie.
        let (status, body) = WsClient::try_connect_to(addr, "/game/ws", &[])
            .err()
            .expect("no WebSocket without a session");
        assert_eq!(status, 401, "{body}");
        let refused: serde_json::Value = serde_json::from_str(&body).expect("a JSON error");
        assert_eq!(refused["error"], "unauthorized");
        assert_eq!(refused["message"], "log in first (POST /login)");
        let forged = [("cookie", "session=not-a-session")];
        let forged = WsClient::try_connect_to(addr, "/game/ws", &forged).err();
        assert_eq!(forged.map(|(status, _)| status), Some(401));

        // Two players in one room through /game/ws.
        let mut alice = player(addr, "alice");
        alice.send(serde_json::json!({ "type": "hello", "game": "room" }));
        let table = ggs_tests::Hello::parse(&alice.expect_cmd("hello"))
            .expect("a hello reply")
            .table;
        alice.expect_cmd("notice");
        let mut bob = player(addr, "bob");
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
        // The script knows the name carol logged in with.
        let mut carol = player(addr, "carol");
        carol.send(serde_json::json!({ "type": "hello", "game": "ladder" }));
        let ladder = ggs_tests::Hello::parse(&carol.expect_cmd("hello"))
            .expect("a hello reply")
            .table;
        carol.expect("welcome", "carol");
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

        // The application's observer heard every join, with who it was.
        let expected = [
            (table.clone(), "alice".to_string()),
            (table.clone(), "bob".to_string()),
            (ladder, "carol".to_string()),
        ];
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let seen = loop {
            let seen = joins.lock().unwrap().clone();
            if seen.len() >= expected.len() || std::time::Instant::now() > deadline {
                break seen;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        };
        assert_eq!(seen, expected);

        rt.block_on(ggs.shutdown()).expect("a clean stop");
        carol.expect("shutdown", "the server is shutting down");
        alice.expect("shutdown", "the server is shutting down");
        bob.expect("shutdown", "the server is shutting down");
        assert_eq!(http::get(addr, "/game/api/games").status, 503);
        assert_eq!(http::request(addr, "POST", "/login", "carol").status, 200);
        serving.abort();
    }
}
