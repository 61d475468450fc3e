//! ggs-server: hosts GGS games over TCP (GGS 1.0) and HTTP, each table a QuickJS runtime whose
//! state is committed to sled.
//!
//! Codemap, in the order a message travels:
//! - [`net`]: accept loops; [`net::conn`] runs every connection, [`net::tcp`] (GGS 1.0 and
//!   line mode) and [`net::ws`] supply its framing, [`net::http`] serves the web port,
//!   [`net::admin`] decides who may use it (Host, Origin, the admin token kept on disk).
//! - [`protocol`]: [`protocol::ggs10`] framing (parse, exact writer), [`protocol::line`] the
//!   human line mode, [`protocol::json`] the WebSocket mapping, [`protocol::message`] the
//!   transport-neutral messages both ways (`ClientMessage`, `ServerMessage`).
//! - [`session`]: one connected player: identity, seat, what each message does.
//! - [`coordinator`]: the lobby: create, find and load tables; never on a game command's path.
//! - [`catalogue`]: named games and their versions, which `hello` and `define` can name.
//! - [`table`]: the table actor: one event at a time through the VM, then to the committer.
//! - [`commit`]: group commit and the output gate: messages leave only once durable.
//! - [`store`]: the sled store.
//! - [`outbox`]: a connection's bounded outbound queue; [`config`]: every setting.
//!
//! Arrows point down only: net -> session -> coordinator -> table -> (ggs-js, commit -> store).
//! `protocol` and `config` are leaves; `outbox` imports only `protocol` (the message it carries).

pub mod catalogue;
pub mod commit;
pub mod config;
pub mod coordinator;
pub mod games;
pub mod net;
pub mod outbox;
pub mod protocol;
pub mod session;
pub mod store;
pub mod table;
pub mod table_info;
pub mod telemetry;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use ggs_js::VmHost;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};

use crate::catalogue::Catalogue;
use crate::commit::Committer;
use crate::config::Config;
use crate::coordinator::Coordinator;
use crate::net::admin::{Access, TokenError, TokenSource};
use crate::net::limits::ConnectionLimiter;
use crate::net::{Hub, Phase};
use crate::store::{Store, StoreError};
use crate::table::TableDeps;

/// Why the server could not start or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A listener could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// The admin token could not be read or made.
    #[error(transparent)]
    AdminToken(#[from] TokenError),
    /// A thread could not be started.
    #[error("cannot start: {0}")]
    Start(String),
}

/// A server whose listeners are bound, ready to run.
pub struct Server {
    tcp: TcpListener,
    http: TcpListener,
    hub: Hub,
    phase: watch::Sender<Phase>,
    /// The strong end of the hub's `alive` channel, dropped when the shutdown begins.
    holder: mpsc::Sender<()>,
    alive: mpsc::Receiver<()>,
    shutdown_timeout: std::time::Duration,
    store: Store,
    committer: Committer,
    fatal: oneshot::Receiver<StoreError>,
    admin_token: (String, TokenSource),
}

impl Server {
    /// Opens the store, starts the VM host and the committer, and binds both ports.
    pub async fn bind(config: Config) -> Result<Server, ServerError> {
        let metrics = telemetry::install();
        let store = Store::open(&config.data_dir)?;
        let catalogue = Arc::new(Catalogue::open(store.clone(), config.max_body)?);
        let host =
            VmHost::with_host_functions(config.vm_threads, config.limits, config.host_functions)
                .map_err(|e| ServerError::Start(e.to_string()))?;
        let (committer, fatal) =
            Committer::start_with(store.clone(), config.durability, config.emit_handler)
                .map_err(|e| ServerError::Start(e.to_string()))?;
        let connected = Arc::new(AtomicU64::new(0));
        let deps = TableDeps {
            host: Arc::new(host),
            committer: committer.clone(),
            store: store.clone(),
            connected: connected.clone(),
            settings: config.tables,
            directory: Default::default(),
        };
        let coordinator = Arc::new(Coordinator::new(
            store.clone(),
            deps,
            config.connections.tables_per_connection,
            catalogue,
        ));
        let bind = |addr: SocketAddr| async move {
            TcpListener::bind(addr)
                .await
                .map_err(|source| ServerError::Bind { addr, source })
        };
        let tcp = bind(config.tcp).await?;
        let http = bind(config.http).await?;
        // Last, so that a start that fails never makes a token it would not print.
        let admin_token = net::admin::load_or_create(&config.data_dir, config.admin_token)?;
        let (phase, phase_rx) = watch::channel(Phase::Running);
        let (alive_tx, alive) = mpsc::channel(1);
        Ok(Server {
            tcp,
            http,
            hub: Hub {
                coordinator,
                connected,
                max_body: config.max_body,
                phase: phase_rx,
                alive: alive_tx.downgrade(),
                limiter: ConnectionLimiter::new(config.connections),
                metrics,
                access: Arc::new(Access::new(
                    admin_token.0.clone(),
                    &config.allowed_hosts,
                    &config.allowed_origins,
                )),
            },
            phase,
            holder: alive_tx,
            alive,
            shutdown_timeout: config.shutdown_timeout,
            store,
            committer,
            fatal,
            admin_token,
        })
    }

    /// The admin token and where it came from (the binary prints a new one once).
    pub fn admin_token(&self) -> (&str, &TokenSource) {
        (&self.admin_token.0, &self.admin_token.1)
    }

    /// The bound TCP address (useful with port 0).
    pub fn tcp_addr(&self) -> SocketAddr {
        self.tcp
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// The bound HTTP address.
    pub fn http_addr(&self) -> SocketAddr {
        self.http
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Serves until `shutdown` resolves or the store fails.
    ///
    /// A graceful shutdown stops accepting, stops reading, lets every table commit what it was
    /// sent, tells every client `shutdown`, closes, and flushes, all within the shutdown bound.
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) -> Result<(), ServerError> {
        let tcp = tokio::spawn(net::tcp::serve(self.tcp, self.hub.clone()));
        let http = tokio::spawn(net::http::serve(self.http, self.hub.clone()));
        self.hub.coordinator.resume_ticking();
        let release = tokio::spawn(table::release::release_freed_memory());
        let result = tokio::select! {
            _ = shutdown => Ok(()),
            e = &mut self.fatal => match e {
                Ok(e) => Err(ServerError::Store(e)),
                Err(_) => Ok(()),
            },
        };
        tcp.abort();
        http.abort();
        release.abort();
        if result.is_ok() {
            let coordinator = self.hub.coordinator.clone();
            let phase = self.phase;
            let mut alive = self.alive;
            drop(self.hub);
            drop(self.holder);
            let graceful = async move {
                let _ = phase.send(Phase::Draining);
                coordinator.flush_all().await;
                let _ = phase.send(Phase::Closing);
                // Every connection holds a sender; recv() ends when the last one closes.
                let _ = alive.recv().await;
            };
            if tokio::time::timeout(self.shutdown_timeout, graceful)
                .await
                .is_err()
            {
                tracing::warn!(
                    "graceful shutdown took longer than {:?}; stopping anyway",
                    self.shutdown_timeout
                );
            }
        }
        let stats = self.committer.stats();
        let ms = |d: Option<std::time::Duration>| d.map_or(0.0, |d| d.as_secs_f64() * 1000.0);
        tracing::info!(
            commits = stats.commits.load(std::sync::atomic::Ordering::Relaxed),
            flushes = stats.flushes.load(std::sync::atomic::Ordering::Relaxed),
            "stopping; commit latency p50 {:.3} ms, p99 {:.3} ms",
            ms(stats.quantile(0.5)),
            ms(stats.quantile(0.99)),
        );
        self.store.flush()?;
        result
    }
}
