//! The public API: the [`Builder`] that starts a server on the caller's tokio runtime, the
//! [`Ggs`] handle that gives its router and stops it, and the server's life from start to a
//! graceful stop (drain, flush, tell clients, close, let go of the store).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use ggs_js::{HostFunctionError, VmHost};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::auth::{AuthHook, Authenticate};
use crate::catalogue::{self, Catalogue, CatalogueError, Seed};
use crate::cluster::{self, Cluster, ClusterError};
use crate::commit::Committer;
use crate::config::{ClusterSettings, Config, EmitHandler, Emitted};
use crate::coordinator::Coordinator;
use crate::net::admin::{self, Access, TokenError, TokenSource};
use crate::net::limits::ConnectionLimiter;
use crate::net::{self, Gate, Hub, Phase};
use crate::observe::{Observations, Observers};
use crate::store::{Store, StoreError};
use crate::table::{self, Directory, TableDeps};
use crate::telemetry;

/// How long a start waits for a data directory whose store a server of this process is still
/// letting go of: sled's I/O threads release the directory's lock a moment after its last
/// handle is dropped. A directory held longer (by another process) fails the start.
const STORE_LOCK_WAIT: Duration = Duration::from_secs(2);
/// How often a start looks again meanwhile.
const STORE_LOCK_RETRY: Duration = Duration::from_millis(10);

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
    /// A game registered with [`Builder::game`] was refused (its name, its size, or it does
    /// not compile); [`CatalogueError::code`] is the stable code.
    #[error("the game {name:?}: {source}")]
    Game {
        /// The game's name.
        name: String,
        /// Why.
        source: CatalogueError,
    },
    /// A thread could not be started.
    #[error("cannot start: {0}")]
    Start(String),
    /// The cluster settings are wrong, or etcd could not be reached at start.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
}

/// Where the GGS 1.0 TCP listener comes from.
enum Tcp {
    /// No TCP listener: players come through the router's WebSocket endpoint only.
    None,
    /// Bind this address at start.
    Bind(SocketAddr),
    /// The application's listener.
    Listener(TcpListener),
}

/// Says how a server is made, then starts it ([`Builder::start`]).
///
/// Everything has a default: the settings are [`Config::default`], the data directory is the
/// one in the settings (`./ggs-data`), the built-in games are in the catalogue, no game is
/// registered, there is no TCP listener and the router serves the web client.
///
/// The application's hooks into the server (host functions its scripts call, handlers of what
/// they emit, who may connect, observers of table events) are set here too, one method each,
/// as they become available.
pub struct Builder {
    config: Config,
    data_dir: Option<PathBuf>,
    builtin_games: bool,
    games: Vec<Seed>,
    tcp: Tcp,
    web_client: bool,
    auth: Option<AuthHook>,
    cluster: Option<ClusterSettings>,
}

impl Default for Builder {
    fn default() -> Self {
        Builder::new()
    }
}

impl Builder {
    /// A builder with every default.
    pub fn new() -> Builder {
        Builder {
            config: Config::default(),
            data_dir: None,
            builtin_games: true,
            games: Vec::new(),
            tcp: Tcp::None,
            web_client: true,
            auth: None,
            cluster: None,
        }
    }

    /// The settings. A data directory given with [`Builder::data_dir`] wins over theirs,
    /// whichever is called first.
    pub fn config(mut self, config: Config) -> Builder {
        self.config = config;
        self
    }

    /// The directory of the store (tables, their storage, the catalogue, the admin token).
    /// Two servers at once need two directories; a server started again on a directory finds
    /// its tables and games there.
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Builder {
        self.data_dir = Some(dir.into());
        self
    }

    /// Whether the built-in games (`tictactoe`, `pong`, `chat`, `guess`) are added to the
    /// catalogue at start (default: yes). Without them, a new data directory's catalogue has
    /// only the registered games; games stored by an earlier start stay.
    pub fn builtin_games(mut self, on: bool) -> Builder {
        self.builtin_games = on;
        self
    }

    /// Registers a game from code: at start it is added to the catalogue as the next version
    /// of `name` if its source changed (as the built-in games are: an upload of the same name
    /// wins over it until this source changes), so players can start it by name. A second
    /// registration of a name (or one of a built-in game's) replaces the first. The name and
    /// source are checked at start: a bad one makes [`Builder::start`] fail with
    /// [`ServerError::Game`].
    pub fn game(mut self, name: impl Into<String>, source: impl Into<String>) -> Builder {
        let seed = Seed {
            name: name.into(),
            source: source.into(),
        };
        self.games.retain(|g| g.name != seed.name);
        self.games.push(seed);
        self
    }

    /// Listens for GGS 1.0 (and line-mode) TCP connections on `addr`, bound at start (port 0:
    /// any free port, see [`Ggs::tcp_addr`]). Default: no TCP listener.
    pub fn tcp(mut self, addr: SocketAddr) -> Builder {
        self.tcp = Tcp::Bind(addr);
        self
    }

    /// Accepts GGS 1.0 (and line-mode) TCP connections on the application's listener.
    pub fn tcp_listener(mut self, listener: TcpListener) -> Builder {
        self.tcp = Tcp::Listener(listener);
        self
    }

    /// Registers `function` as `GGS.host.<name>`, which scripts call synchronously with
    /// JSON-compatible arguments (as one array) within their event's CPU deadline; its `Err`
    /// is thrown in the script as an `Error`. For reads (a player's profile, a rule table):
    /// effects go through [`Builder::on_emit`]. A bad or repeated name is refused. Call it
    /// after [`Builder::config`], which replaces every setting, host functions included.
    pub fn host_function<F>(mut self, name: &str, function: F) -> Result<Builder, HostFunctionError>
    where
        F: Fn(serde_json::Value) -> Result<serde_json::Value, String> + Send + Sync + 'static,
    {
        self.config.host_functions.insert(name, function)?;
        Ok(self)
    }

    /// Hands what scripts emit (`GGS.emit(name, payload)`) to `handler`, only once the event
    /// that emitted it is durable, in the order of events, never for a failed event; on a
    /// thread of its own (see [`crate::config::EmitHandler`]). Call it after
    /// [`Builder::config`].
    pub fn on_emit(mut self, handler: impl Fn(Emitted) + Send + Sync + 'static) -> Builder {
        self.config.emit_handler = Some(EmitHandler::new(handler));
        self
    }

    /// Decides who may connect and join, and who they are: `hook` is asked at the WebSocket
    /// upgrade of `/ws` (a refusal answers `401` with the JSON error body, code
    /// `unauthorized`, and no WebSocket opens; the identity it gives becomes the
    /// connection's) and at every `hello` of every transport (a refusal answers
    /// `error unauthorized <reason>` and changes nothing: no seat, no table). The identity of
    /// an accepted `hello` is the player's at that table: kept with the seat (it survives
    /// restarts), read by scripts with `GGS.playerInfo(player)`, and told to observers. A seat
    /// taken back (by its resume token, or by the connection coming back) goes only to a
    /// `hello` whose identity has the seat's user id: a token is of no use to another
    /// account. Without a hook, players are anonymous. See [`crate::auth`].
    pub fn auth(mut self, hook: impl Authenticate) -> Builder {
        self.auth = Some(Arc::new(hook));
        self
    }

    /// Whether [`Ggs::router`] serves the web client at the paths that are not routes
    /// (default: yes). Its pages use absolute paths (`/ws`, `/api/...`, `/style.css`): they
    /// work when the router is served at the root. Under a prefix, leave it out; the
    /// WebSocket endpoint and the API work there as at the root.
    pub fn web_client(mut self, on: bool) -> Builder {
        self.web_client = on;
        self
    }

    /// Makes the server a node of a cluster coordinated by etcd (default: a single node, which
    /// runs no cluster code). [`Builder::start`] fails if etcd does not answer (within
    /// `cluster::etcd::START_TIMEOUT`, 5 s); once started, the node keeps serving while etcd
    /// is lost and registers again when it returns. Without `advertise_tcp`, the TCP
    /// listener's bound address is published.
    pub fn cluster(mut self, settings: ClusterSettings) -> Builder {
        self.cluster = Some(settings);
        self
    }

    /// The games to seed: the built-in ones (unless off), then the registered ones, a
    /// registered game replacing a built-in one of its name. Each registered one is checked.
    fn seeds(&self) -> Result<Vec<Seed>, ServerError> {
        let mut seeds = match self.builtin_games {
            true => Seed::builtin(),
            false => Vec::new(),
        };
        for game in &self.games {
            check_game(game, self.config.max_body).map_err(|source| ServerError::Game {
                name: game.name.clone(),
                source,
            })?;
            match seeds.iter_mut().find(|s| s.name == game.name) {
                Some(seed) => *seed = game.clone(),
                None => seeds.push(game.clone()),
            }
        }
        Ok(seeds)
    }

    /// Opens the store, starts the VM threads and the committer, binds the TCP listener if
    /// there is one, and starts serving on the current tokio runtime (the calling task's):
    /// the TCP listener accepts, ticking tables resume, and the router answers.
    pub async fn start(self) -> Result<Ggs, ServerError> {
        let seeds = self.seeds()?;
        if let Some(settings) = &self.cluster {
            Cluster::check(settings)?;
        }
        let mut config = self.config;
        if let Some(dir) = self.data_dir {
            config.data_dir = dir;
        }
        let metrics = telemetry::install();
        let store = open_store(&config.data_dir).await?;
        let catalogue = Arc::new(Catalogue::open(store.clone(), config.max_body, &seeds)?);
        let host = VmHost::with_host_functions(
            config.vm_threads,
            config.limits,
            config.host_functions.clone(),
        )
        .map_err(|e| ServerError::Start(e.to_string()))?;
        let (committer, fatal) = Committer::start(
            store.clone(),
            config.durability,
            config.emit_handler.clone(),
        )
        .map_err(|e| ServerError::Start(e.to_string()))?;
        let connected = Arc::new(AtomicU64::new(0));
        let directory = Directory::default();
        let observers = Observers::new();
        let deps = TableDeps {
            host: Arc::new(host),
            committer: committer.clone(),
            store: store.clone(),
            connected: connected.clone(),
            settings: config.tables,
            directory: directory.clone(),
            observers: observers.clone(),
        };
        let coordinator = Coordinator::new(
            store.clone(),
            deps,
            config.connections.tables_per_connection,
            catalogue,
        );
        let tcp = match self.tcp {
            Tcp::None => None,
            Tcp::Bind(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .map_err(|source| ServerError::Bind { addr, source })?,
            ),
            Tcp::Listener(listener) => Some(listener),
        };
        let tcp_addr = tcp.as_ref().and_then(|l| l.local_addr().ok());
        let cluster = match self.cluster {
            Some(settings) => {
                Some(Cluster::connect(cluster::advertised(settings, tcp_addr)).await?)
            }
            None => None,
        };
        // Last, so that a start that fails never makes a token it would not tell.
        let (token, token_source) = admin::load_or_create(&config.data_dir, config.admin_token)?;
        let coordinator = Arc::new(
            coordinator
                .with_auth(self.auth)
                .with_cluster(cluster.clone()),
        );
        let (phase, phase_rx) = watch::channel(Phase::Running);
        let (holder, alive) = mpsc::channel(1);
        let hub = Hub {
            coordinator,
            connected,
            max_body: config.max_body,
            phase: phase_rx,
            alive: holder.downgrade(),
            limiter: ConnectionLimiter::new(config.connections),
            metrics,
            access: Arc::new(Access::new(
                token.clone(),
                &config.allowed_hosts,
                &config.allowed_origins,
            )),
        };
        let gate = Gate::new(hub.clone());
        let life = Life {
            hub,
            gate: gate.clone(),
            directory,
            phase,
            holder,
            alive,
            shutdown_timeout: config.shutdown_timeout,
            store,
            committer,
            fatal,
            tcp,
            cluster,
        };
        let (stop, stop_rx) = oneshot::channel();
        let task = tokio::spawn(life.run(stop_rx));
        Ok(Ggs {
            gate,
            observers,
            max_body: config.max_body,
            web_client: self.web_client,
            tcp_addr,
            token,
            token_source,
            stop: Some(stop),
            task: Some(task),
        })
    }
}

/// Opens the store in `dir`, waiting up to [`STORE_LOCK_WAIT`] while its lock is held.
async fn open_store(dir: &Path) -> Result<Store, StoreError> {
    let deadline = Instant::now() + STORE_LOCK_WAIT;
    loop {
        match Store::open(dir) {
            Err(StoreError::Sled(sled::Error::Io(e)))
                if is_lock_held(&e) && Instant::now() < deadline =>
            {
                tokio::time::sleep(STORE_LOCK_RETRY).await
            }
            opened => return opened,
        }
    }
}

/// Whether sled could not open a store because another handle holds its lock.
fn is_lock_held(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::Other && e.to_string().contains("could not acquire lock")
}

/// A registered game's name, size and syntax, as an upload's are checked.
fn check_game(game: &Seed, max_source: usize) -> Result<(), CatalogueError> {
    if !catalogue::valid_name(&game.name) {
        return Err(CatalogueError::BadName(
            game.name.chars().take(64).collect(),
        ));
    }
    if game.source.len() > max_source {
        return Err(CatalogueError::TooLarge {
            length: game.source.len(),
            limit: max_source,
        });
    }
    ggs_js::compile_check(&game.source)?;
    Ok(())
}

/// A running server. [`Ggs::router`] gives its HTTP routes; [`Ggs::shutdown`] stops it.
///
/// Dropping the handle without calling [`Ggs::shutdown`] stops the server gracefully in the
/// background.
pub struct Ggs {
    gate: Gate,
    observers: Observers,
    max_body: usize,
    web_client: bool,
    tcp_addr: Option<SocketAddr>,
    token: String,
    token_source: TokenSource,
    /// Tells the server's life to stop (dropped: the same).
    stop: Option<oneshot::Sender<()>>,
    /// The server's life; `None` once [`Ggs::stopped`] has returned its end.
    task: Option<JoinHandle<Result<(), ServerError>>>,
}

impl Ggs {
    /// Starts a server with every default but the data directory: a shorthand for
    /// `Builder::new().data_dir(dir).start()`.
    pub async fn start(dir: impl Into<PathBuf>) -> Result<Ggs, ServerError> {
        Builder::new().data_dir(dir).start().await
    }

    /// The server's HTTP routes, to serve at the root or nest under a prefix:
    ///
    /// - `GET /ws`: the WebSocket endpoint (PROTOCOL.md);
    /// - `GET /api/health`, `GET /api/games`, `GET /api/games/{name}` (`.js`: the source),
    ///   `GET /api/games/{name}/{version}`, `PUT /api/games/{name}` (admin),
    ///   `GET /api/tables`, `POST /api/tables/{id}/stop` (admin);
    /// - `GET /metrics` (Prometheus; the metrics are the process's, shared by every server in
    ///   it);
    /// - the web client at every other path, unless [`Builder::web_client`] left it out.
    ///
    /// Serve it with `into_make_service_with_connect_info::<SocketAddr>()`: the WebSocket
    /// endpoint limits connections per address. Once the server has stopped, every route
    /// answers `503` (`server_stopped`) and the router holds nothing of the server. Every
    /// call gives a router to the same server.
    pub fn router(&self) -> Router {
        net::http::router(self.gate.clone(), self.max_body, self.web_client)
    }

    /// A new observer of the tables: a [`Stream`](futures::Stream) of what happens from now
    /// on (tables created, stopped, hibernated; players joined and left; script errors), for
    /// the application's analytics or moderation. Observations are sent as they happen, not
    /// behind the output gate, on a bounded channel
    /// ([`OBSERVATION_QUEUE`](crate::observe::OBSERVATION_QUEUE)): a table never waits for
    /// an observer, and one that falls behind gets [`Observation::Missed`](crate::Observation)
    /// with how many it lost. The stream ends once the server has stopped. Nobody observing
    /// costs the tables nothing but the check.
    ///
    /// ```
    /// use futures::StreamExt;
    /// use ggs_server::Observation;
    ///
    /// # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
    /// # async fn main() -> Result<(), ggs_server::ServerError> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// let ggs = ggs_server::Builder::new().data_dir(dir.path()).start().await?;
    /// let mut observations = ggs.observe();
    /// tokio::spawn(async move {
    ///     while let Some(observation) = observations.next().await {
    ///         if let Observation::PlayerJoined { table, identity, .. } = observation {
    ///             println!("{identity:?} sat down at {table}");
    ///         }
    ///     }
    /// });
    /// ggs.shutdown().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn observe(&self) -> Observations {
        self.observers.subscribe()
    }

    /// The address the TCP listener accepts on, if there is one.
    pub fn tcp_addr(&self) -> Option<SocketAddr> {
        self.tcp_addr
    }

    /// The admin token (`Authorization: Bearer <token>` of uploads and stopping tables).
    pub fn admin_token(&self) -> &str {
        &self.token
    }

    /// Where the admin token came from: the setting, its file, or made at this start.
    pub fn admin_token_source(&self) -> &TokenSource {
        &self.token_source
    }

    /// Resolves when the server stops by itself: `Err` with why (a fatal store error; the
    /// server has then closed its connections). Pending while it runs; after it resolved
    /// once, it resolves at once with `Ok(())`. Cancel-safe, for `tokio::select!` beside the
    /// application's own shutdown signal:
    ///
    /// ```
    /// # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
    /// # async fn main() -> Result<(), ggs_server::ServerError> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// let mut ggs = ggs_server::Ggs::start(dir.path()).await?;
    /// let (stop, signal) = tokio::sync::oneshot::channel::<()>();
    /// # stop.send(()).unwrap();
    /// let result = tokio::select! {
    ///     _ = signal => ggs.shutdown().await,
    ///     result = ggs.stopped() => result,
    /// };
    /// result?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn stopped(&mut self) -> Result<(), ServerError> {
        let Some(task) = self.task.as_mut() else {
            return Ok(());
        };
        let end = task.await;
        self.task = None;
        joined(end)
    }

    /// Stops the server gracefully and waits until it has: it stops accepting and reading,
    /// lets every table commit what it was sent, tells every client `shutdown` and closes,
    /// stops the tables, and flushes the store, all within the settings' shutdown bound.
    /// Then the data directory is free for another start. `Err` if the store failed on the
    /// way (or before, if [`Ggs::stopped`] was not asked).
    pub async fn shutdown(mut self) -> Result<(), ServerError> {
        drop(self.stop.take());
        match self.task.take() {
            Some(task) => joined(task.await),
            None => Ok(()),
        }
    }
}

/// The end of the server's life task.
fn joined(end: Result<Result<(), ServerError>, tokio::task::JoinError>) -> Result<(), ServerError> {
    match end {
        Ok(result) => result,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => Err(ServerError::Start(format!("the server's task ended: {e}"))),
    }
}

/// What the server's life task owns.
struct Life {
    hub: Hub,
    gate: Gate,
    /// The tables with an actor, to let go of them at the end.
    directory: Directory,
    phase: watch::Sender<Phase>,
    /// The strong end of the hub's `alive` channel, dropped when the shutdown begins.
    holder: mpsc::Sender<()>,
    alive: mpsc::Receiver<()>,
    shutdown_timeout: std::time::Duration,
    store: Store,
    committer: Committer,
    /// The committer's fatal error; closed without one once its thread has ended.
    fatal: oneshot::Receiver<StoreError>,
    tcp: Option<TcpListener>,
    cluster: Option<Arc<Cluster>>,
}

impl Life {
    /// Serves until told to stop (or the handle is dropped) or the store fails, then stops.
    async fn run(mut self, stop: oneshot::Receiver<()>) -> Result<(), ServerError> {
        let tcp = self
            .tcp
            .take()
            .map(|listener| tokio::spawn(net::tcp::serve(listener, self.hub.clone())));
        let sampler = tokio::spawn(telemetry::sample_event_rate());
        let release = tokio::spawn(table::release::release_freed_memory());
        self.hub.coordinator.resume_ticking();
        let membership = self.cluster.clone().map(|cluster| {
            let coordinator = Arc::downgrade(&self.hub.coordinator);
            let live = move || coordinator.upgrade().map_or(0, |c| c.live_tables());
            tokio::spawn(cluster.run(live))
        });
        // Drains and rebalances, when an operator asks (through etcd, on any node).
        let handoffs = self.cluster.clone().map(|cluster| {
            let coordinator = self.hub.coordinator.clone();
            tokio::spawn(crate::handoff::run(coordinator, cluster))
        });
        let mut committer_ended = false;
        let result = tokio::select! {
            _ = stop => Ok(()),
            e = &mut self.fatal => {
                committer_ended = true;
                match e {
                    Ok(e) => Err(ServerError::Store(e)),
                    Err(_) => Ok(()),
                }
            }
        };
        if let Some(tcp) = tcp {
            tcp.abort();
        }
        sampler.abort();
        release.abort();
        if let Some(handoffs) = handoffs {
            handoffs.abort();
        }
        let bound = self.shutdown_timeout;
        let deadline = Instant::now() + bound;
        let Life {
            hub,
            gate,
            directory,
            phase,
            holder,
            mut alive,
            store,
            committer,
            mut fatal,
            cluster,
            ..
        } = self;
        let coordinator = hub.coordinator.clone();
        drop(hub);
        drop(holder);
        if let (Some(cluster), Some(membership)) = (cluster, membership) {
            cluster::leave(cluster, membership).await;
        }
        if result.is_ok() {
            let graceful = async {
                let _ = phase.send(Phase::Draining);
                coordinator.flush_all().await;
                let _ = phase.send(Phase::Closing);
                // Every connection holds a sender; recv() ends when the last one closes.
                let _ = alive.recv().await;
            };
            if tokio::time::timeout_at(deadline, graceful).await.is_err() {
                tracing::warn!("graceful shutdown took longer than {bound:?}; stopping anyway");
            }
        } else {
            // Nothing more can be committed: connections are told and closed at once.
            let _ = phase.send(Phase::Closing);
        }
        // Let go of the server: the routes, the tables (each ends once no session holds its
        // handle), then the committer, whose thread ends with the last of them.
        gate.close();
        drop(coordinator);
        directory
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
        drop(directory);
        let stats = committer.stats();
        let ms = |d: Option<std::time::Duration>| d.map_or(0.0, |d| d.as_secs_f64() * 1000.0);
        tracing::info!(
            commits = stats.commits.load(Ordering::Relaxed),
            flushes = stats.flushes.load(Ordering::Relaxed),
            "stopping; commit latency p50 {:.3} ms, p99 {:.3} ms",
            ms(stats.quantile(0.5)),
            ms(stats.quantile(0.99)),
        );
        drop(committer);
        let mut result = result;
        if !committer_ended {
            match tokio::time::timeout_at(deadline, &mut fatal).await {
                Ok(Ok(e)) if result.is_ok() => result = Err(ServerError::Store(e)),
                Ok(_) => {}
                Err(_) => tracing::warn!(
                    "a connection still holds a table after the shutdown bound; the data \
                     directory stays in use until it closes"
                ),
            }
        }
        store.flush()?;
        result
    }
}
