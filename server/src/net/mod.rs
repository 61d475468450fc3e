//! The connection layer: the TCP accept loop (GGS 1.0) and the HTTP server.

pub mod http;
pub mod tcp;

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use crate::coordinator::Coordinator;

/// What every connection needs from the server.
#[derive(Clone)]
pub struct Hub {
    /// The lobby.
    pub coordinator: Arc<Coordinator>,
    /// Players connected now.
    pub connected: Arc<AtomicU64>,
    /// Largest body accepted, in bytes.
    pub max_body: usize,
}
