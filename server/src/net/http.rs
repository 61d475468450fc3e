//! The HTTP port (axum): the web client page and the health check.

use axum::response::Html;
use axum::routing::get;
use axum::{Json, Router};
use tokio::net::TcpListener;

/// The web client's entry page, embedded so the binary serves it from any directory.
const INDEX_HTML: &str = include_str!("../../../web-client/index.html");

/// Serves HTTP until the listener fails or the task is dropped.
pub async fn serve(listener: TcpListener) {
    let app = Router::new()
        .route("/", get(|| async { Html(INDEX_HTML) }))
        .route(
            "/api/health",
            get(|| async { Json(serde_json::json!({ "status": "ok" })) }),
        );
    if let Err(e) = axum::serve(listener, app).await {
        tracing::error!("http server stopped: {e}");
    }
}
