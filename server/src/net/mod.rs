//! The connection layer: the TCP accept loop (GGS 1.0 and the human line mode), the HTTP
//! routes with the WebSocket endpoint and who may use them ([`admin`]), and what every
//! connection shares ([`conn`]). The application serves the HTTP routes ([`http::router`])
//! on its own listener; they reach the server through a [`Gate`] that closes when it stops.

pub mod admin;
pub mod conn;
pub mod http;
pub mod limits;
pub mod relay;
pub mod tcp;
pub mod ws;

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, PoisonError, RwLock};

use tokio::sync::{mpsc, watch};

use crate::coordinator::Coordinator;

/// Where the server is in its life; connections watch it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Serving.
    Running,
    /// Shutting down: stop reading new messages.
    Draining,
    /// Everything is committed: tell the client `shutdown` and close.
    Closing,
}

/// What every connection and every HTTP handler needs from the server.
#[derive(Clone)]
pub struct Hub {
    /// The lobby.
    pub coordinator: Arc<Coordinator>,
    /// Players connected now.
    pub connected: Arc<AtomicU64>,
    /// Largest body accepted, in bytes.
    pub max_body: usize,
    /// The server's phase.
    pub phase: watch::Receiver<Phase>,
    /// The server's `alive` channel, weakly: an open connection holds it ([`Hub::hold`]) and
    /// the server waits until every hold is dropped. Weak, so that the hub itself (and idle
    /// HTTP keep-alive connections, which share it) never delay a shutdown.
    pub alive: mpsc::WeakSender<()>,
    /// Connection counts and the per-connection bounds.
    pub limiter: Arc<limits::ConnectionLimiter>,
    /// Renders the metrics on `GET /metrics`.
    pub metrics: metrics_exporter_prometheus::PrometheusHandle,
    /// The Host allowlist, the Origin rules and the admin token.
    pub access: Arc<admin::Access>,
}

impl Hub {
    /// A hold on the server's shutdown for one open connection, to keep until it closes;
    /// `None` once the server is shutting down.
    pub fn hold(&self) -> Option<mpsc::Sender<()>> {
        self.alive.upgrade()
    }
}

/// The way from the HTTP routes to the server: open while it runs, closed (holding nothing of
/// it) once it has stopped, so a router the application still serves keeps neither the store
/// nor the tables alive, and answers `503` instead.
#[derive(Clone)]
pub struct Gate(Arc<RwLock<Option<Hub>>>);

impl Gate {
    /// An open gate to `hub`.
    pub fn new(hub: Hub) -> Gate {
        Gate(Arc::new(RwLock::new(Some(hub))))
    }

    /// The hub, while the server runs.
    pub fn hub(&self) -> Option<Hub> {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Closes the gate for good, dropping its hub.
    pub fn close(&self) {
        self.0
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
    }
}
