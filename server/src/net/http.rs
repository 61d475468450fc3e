//! The HTTP port (axum): the web client, the WebSocket endpoint and the JSON API, on one port.
//!
//! - `/`, `/*.html`, `/*.js`, `/*.css`: the web client (`web-client/`, embedded in the binary)
//! - `GET /ws`: the WebSocket endpoint ([`super::ws`])
//! - `GET /api/health`, `GET /api/games`, `GET /api/games/{name}` (a game's source),
//!   `GET /api/tables` (live tables)
//! - `GET /metrics`: Prometheus text format

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Path, State, WebSocketUpgrade};
use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use metrics_exporter_prometheus::PrometheusHandle;
use serde::Serialize;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

use super::limits::ConnectionLimiter;
use super::{ws, Hub, Phase};
use crate::coordinator::Coordinator;
use crate::{games, telemetry};

/// One file of the web client: its path under `/`, content type and bytes.
struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static str,
}

/// Declares an embedded web-client file: `asset!("name", CONTENT_TYPE)`.
macro_rules! asset {
    ($file:literal, $type:expr) => {
        Asset {
            path: $file,
            content_type: $type,
            body: include_str!(concat!("../../../web-client/", $file)),
        }
    };
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// Every file of `web-client/` (a unit test checks none is missing).
const ASSETS: &[Asset] = &[
    asset!("index.html", HTML),
    asset!("chat.html", HTML),
    asset!("tictactoe.html", HTML),
    asset!("pong.html", HTML),
    asset!("console.html", HTML),
    asset!("style.css", CSS),
    asset!("ggs.js", JS),
    asset!("page.js", JS),
    asset!("lobby.js", JS),
    asset!("chat.js", JS),
    asset!("tictactoe.js", JS),
    asset!("pong.js", JS),
    asset!("console.js", JS),
];

/// What the HTTP handlers share. It holds only a weak handle on the server's `alive` channel:
/// idle HTTP keep-alive connections must not delay a shutdown, open WebSockets do.
#[derive(Clone)]
struct Web {
    coordinator: Arc<Coordinator>,
    connected: Arc<AtomicU64>,
    max_body: usize,
    phase: watch::Receiver<Phase>,
    alive: mpsc::WeakSender<()>,
    limiter: Arc<ConnectionLimiter>,
    metrics: PrometheusHandle,
}

/// Serves HTTP until the listener fails or the task is dropped.
pub async fn serve(listener: TcpListener, hub: Hub) {
    let web = Web {
        coordinator: hub.coordinator,
        connected: hub.connected,
        max_body: hub.max_body,
        phase: hub.phase,
        alive: hub.alive.downgrade(),
        limiter: hub.limiter,
        metrics: hub.metrics,
    };
    let app = router(web).into_make_service_with_connect_info::<SocketAddr>();
    tokio::select! {
        result = axum::serve(listener, app) => {
            if let Err(e) = result {
                tracing::error!("http server stopped: {e}");
            }
        }
        () = telemetry::sample_event_rate() => {}
    }
}

fn router(web: Web) -> Router {
    Router::new()
        .route("/ws", get(websocket))
        .route("/api/health", get(health))
        .route("/api/games", get(game_list))
        .route("/api/games/{name}", get(game_source))
        .route("/api/tables", get(tables))
        .route("/metrics", get(metrics))
        .fallback(get(asset))
        .with_state(web)
}

async fn websocket(
    State(web): State<Web>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    upgrade: WebSocketUpgrade,
) -> Response {
    let Some(alive) = web.alive.upgrade() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "the server is shutting down",
        )
            .into_response();
    };
    if *web.phase.borrow() != Phase::Running {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "the server is shutting down",
        )
            .into_response();
    }
    let hub = Hub {
        coordinator: web.coordinator,
        connected: web.connected,
        max_body: web.max_body,
        phase: web.phase,
        alive,
        limiter: web.limiter,
        metrics: web.metrics,
    };
    let limit = ws::max_message(hub.max_body);
    let upgrade = upgrade.max_message_size(limit).max_frame_size(limit);
    match hub.limiter.admit(peer.ip()) {
        Ok(admission) => upgrade.on_upgrade(move |socket| async move {
            tracing::debug!(%peer, "websocket connected");
            ws::connection(socket, hub).await;
            drop(admission);
            tracing::debug!(%peer, "websocket disconnected");
        }),
        Err(e) => {
            tracing::info!(%peer, "websocket refused: {e}");
            upgrade.on_upgrade(move |socket| ws::refuse(socket, e.code(), e.to_string()))
        }
    }
}

async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

/// One entry of `GET /api/games`.
#[derive(Serialize)]
struct GameEntry {
    name: &'static str,
    description: String,
}

async fn game_list() -> Json<Vec<GameEntry>> {
    Json(
        games::GAMES
            .iter()
            .map(|g| GameEntry {
                name: g.name,
                description: g.description(),
            })
            .collect(),
    )
}

async fn game_source(Path(name): Path<String>) -> Response {
    let name = name.strip_suffix(".js").unwrap_or(&name);
    match games::find(name) {
        Some(game) => ([(header::CONTENT_TYPE, JS)], game.source).into_response(),
        None => (StatusCode::NOT_FOUND, format!("no game called {name:?}\n")).into_response(),
    }
}

async fn tables(State(web): State<Web>) -> Response {
    Json(web.coordinator.tables()).into_response()
}

async fn metrics(State(web): State<Web>) -> Response {
    let coordinator = web.coordinator.clone();
    let stored = tokio::task::spawn_blocking(move || coordinator.stored_tables())
        .await
        .unwrap_or(0);
    telemetry::set_scrape_gauges(
        web.coordinator.live_tables(),
        stored,
        web.connected.load(Ordering::Relaxed),
    );
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        web.metrics.render(),
    )
        .into_response()
}

async fn asset(uri: Uri) -> Response {
    let path = uri.path().trim_start_matches('/');
    let path = if path.is_empty() { "index.html" } else { path };
    match ASSETS.iter().find(|a| a.path == path) {
        Some(a) => (
            [
                (header::CONTENT_TYPE, a.content_type),
                // Always revalidate, so a new server version's client is picked up at once.
                (header::CACHE_CONTROL, "no-cache"),
            ],
            a.body,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "not found\n").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_web_client_file_is_embedded() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../web-client");
        let mut files: Vec<String> = std::fs::read_dir(&dir)
            .expect("web-client/ exists")
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        files.sort();
        let mut embedded: Vec<String> = ASSETS.iter().map(|a| a.path.to_string()).collect();
        embedded.sort();
        assert_eq!(files, embedded, "web-client/ and ASSETS differ");
    }
}
