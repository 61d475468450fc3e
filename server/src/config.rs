//! Every setting of the server with its default, in one place. A leaf: it imports nothing of
//! the server, so every module may read it.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ggs_js::{HostFunctions, Limits};

/// Default TCP (GGS 1.0) listen address of `ggs serve` (a library server listens where its
/// builder says).
pub const DEFAULT_TCP: &str = "0.0.0.0:9000";
/// Default HTTP listen address of `ggs serve` (an application serves the router itself).
pub const DEFAULT_HTTP: &str = "0.0.0.0:8080";
/// Default data directory.
pub const DEFAULT_DATA_DIR: &str = "./ggs-data";
/// Events waiting in one table's inbox before senders get `overloaded`.
pub const TABLE_INBOX: usize = 1024;
/// Bytes read from a socket at a time.
pub const READ_CHUNK: usize = 16 * 1024;

/// Default largest body, in bytes (1 MiB); the server passes its setting to Decoder::new.
pub const DEFAULT_MAX_BODY: usize = 1024 * 1024;
/// Default time a dropped player's seat is held before `playerLeft` fires.
pub const DEFAULT_SEAT_GRACE: Duration = Duration::from_secs(60);
/// Default restart intensity: a table that crashes more than this many times...
pub const DEFAULT_MAX_RESTARTS: usize = 5;
/// ...within this window is stopped instead of rebuilt again.
pub const DEFAULT_RESTART_WINDOW: Duration = Duration::from_secs(10);
/// Default time a table may go without an event (and with no tick, no timer and no held seat)
/// before it hibernates: its script runtime is dropped and the next event rebuilds it.
pub const DEFAULT_HIBERNATE_AFTER: Duration = Duration::from_secs(30);
/// Default most messages a GGS 1.1 seat keeps until its client acknowledges them; a client
/// further behind gets `resync`.
pub const DEFAULT_OUTBOX_MESSAGES: usize = 1000;
/// Default most bytes (commands and bodies) a GGS 1.1 seat keeps until acknowledged (1 MiB).
pub const DEFAULT_OUTBOX_BYTES: usize = 1024 * 1024;
/// Default bound on a graceful shutdown (finish events, flush, tell clients, close).
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

/// Settings every table applies.
#[derive(Debug, Clone, Copy)]
pub struct TableSettings {
    /// How long a dropped player's seat is held.
    pub seat_grace: Duration,
    /// Crashes tolerated within `restart_window` before the table is stopped.
    pub max_restarts: usize,
    /// The window of the restart intensity.
    pub restart_window: Duration,
    /// Whether any seated player may define a table's script (default: only its creator).
    pub open_define: bool,
    /// How long a table may go without an event before it hibernates (if it has no tick, no
    /// pending timer and no held seat).
    pub hibernate_after: Duration,
    /// Most messages a GGS 1.1 seat keeps until acknowledged.
    pub outbox_messages: usize,
    /// Most bytes a GGS 1.1 seat keeps until acknowledged.
    pub outbox_bytes: usize,
}

impl Default for TableSettings {
    fn default() -> Self {
        TableSettings {
            seat_grace: DEFAULT_SEAT_GRACE,
            max_restarts: DEFAULT_MAX_RESTARTS,
            restart_window: DEFAULT_RESTART_WINDOW,
            open_define: false,
            hibernate_after: DEFAULT_HIBERNATE_AFTER,
            outbox_messages: DEFAULT_OUTBOX_MESSAGES,
            outbox_bytes: DEFAULT_OUTBOX_BYTES,
        }
    }
}

/// The server's settings. Where it listens is not among them: the builder says that.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the sled store lives.
    pub data_dir: PathBuf,
    /// VM-host threads (default: one per core).
    pub vm_threads: usize,
    /// Largest message body accepted, in bytes.
    pub max_body: usize,
    /// Limits on every table's script runtime.
    pub limits: Limits,
    /// Seat grace and restart intensity.
    pub tables: TableSettings,
    /// Bound on a graceful shutdown.
    pub shutdown_timeout: Duration,
    /// Connections in total and per address, messages per second, tables per connection.
    pub connections: ConnectionSettings,
    /// Whether messages wait for the fsync of their event (default) or only for the write.
    pub durability: Durability,
    /// The admin token (`Authorization: Bearer` of uploads and stopping tables); `None`: the
    /// one kept in the data directory, made at the first start.
    pub admin_token: Option<String>,
    /// Host names the HTTP port answers to besides `localhost` and IP addresses (`*`: any).
    pub allowed_hosts: Vec<String>,
    /// Origins (`scheme://host[:port]`) besides the server's own whose pages may open a
    /// WebSocket (`*`: any).
    pub allowed_origins: Vec<String>,
    /// The embedding application's functions, which scripts call as `GGS.host.NAME(...)`
    /// (default: none).
    pub host_functions: HostFunctions,
    /// The embedding application's handler of `GGS.emit`s, called once each event is durable
    /// (default: none; emits are dropped).
    pub emit_handler: Option<EmitHandler>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from(DEFAULT_DATA_DIR),
            vm_threads: default_vm_threads(),
            max_body: DEFAULT_MAX_BODY,
            limits: Limits::default(),
            tables: TableSettings::default(),
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
            connections: ConnectionSettings::default(),
            durability: Durability::Strict,
            admin_token: None,
            allowed_hosts: Vec::new(),
            allowed_origins: Vec::new(),
            host_functions: HostFunctions::default(),
            emit_handler: None,
        }
    }
}

/// One VM thread per core.
pub fn default_vm_threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// How much a release waits for the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// Messages leave only after their event's writes are fsynced (the output gate). Default.
    #[default]
    Strict,
    /// Messages leave once their writes are applied in memory; sled flushes in the background
    /// (every `RELAXED_FLUSH_EVERY`). A crash may lose acknowledged events of that last moment.
    Relaxed,
}

/// Default most open connections (all transports).
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;
/// Default most open connections from one IP address.
pub const DEFAULT_MAX_CONNECTIONS_PER_IP: usize = 1_000;
/// Default inbound messages per second one connection may send (sustained; the burst is the same).
pub const DEFAULT_MESSAGES_PER_SECOND: u32 = 2_000;
/// Default most tables one connection may create.
pub const DEFAULT_TABLES_PER_CONNECTION: usize = 16;
/// Default longest time one message may take to arrive once it has begun (slow-header defence).
pub const DEFAULT_FRAME_TIMEOUT: Duration = Duration::from_secs(30);

/// The connection bounds, as set.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionSettings {
    /// Open connections in total.
    pub max_connections: usize,
    /// Open connections per IP address.
    pub max_connections_per_ip: usize,
    /// Inbound messages per second per connection.
    pub messages_per_second: u32,
    /// Tables one connection may create.
    pub tables_per_connection: usize,
    /// Time one message may take to arrive once begun.
    pub frame_timeout: Duration,
}

impl Default for ConnectionSettings {
    fn default() -> Self {
        ConnectionSettings {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_connections_per_ip: DEFAULT_MAX_CONNECTIONS_PER_IP,
            messages_per_second: DEFAULT_MESSAGES_PER_SECOND,
            tables_per_connection: DEFAULT_TABLES_PER_CONNECTION,
            frame_timeout: DEFAULT_FRAME_TIMEOUT,
        }
    }
}

/// Emits handed over but not yet handled that the emit handler's queue holds; past that, new
/// emits are dropped (and counted) rather than making the committer wait.
pub const EMIT_QUEUE: usize = 65_536;

/// A `GGS.emit(name, payload)` of a committed event, as the application receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Emitted {
    /// The table whose event emitted it.
    pub table: Arc<str>,
    /// The name the script gave.
    pub name: String,
    /// The payload (`null` when the script gave none).
    pub payload: serde_json::Value,
}

/// The application's handler of emits.
///
/// It is called on one dedicated thread (`ggs-emit`), once per emit, in the order the events
/// committed (across tables: the committer's order; within a table: its events' order), and
/// only after the event is durable: after the flush under [`Durability::Strict`], after the
/// write under [`Durability::Relaxed`]. The committer hands emits over through a queue of
/// [`EMIT_QUEUE`] and never waits for the handler; a handler that falls that far behind loses
/// the newest emits (each counted and logged). So keep it quick, or forward to your own
/// channel. A panic in the handler is caught and logged; the next emit is handled as usual.
///
/// Delivery is at most once: an emit handed over but not yet handled when the process dies
/// is lost (there is no durable log of emits), and under `Relaxed` an emit may be handled for
/// an event that a crash then loses from disk.
#[derive(Clone)]
pub struct EmitHandler(Arc<dyn Fn(Emitted) + Send + Sync + 'static>);

impl EmitHandler {
    /// A handler calling `f` with each emit.
    pub fn new(f: impl Fn(Emitted) + Send + Sync + 'static) -> Self {
        EmitHandler(Arc::new(f))
    }

    /// Hands `emit` to the application.
    pub fn call(&self, emit: Emitted) {
        (self.0)(emit)
    }
}

impl fmt::Debug for EmitHandler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EmitHandler")
    }
}

/// Default seconds of a cluster node's lease in etcd: a node that stops renewing it (it died,
/// or lost etcd) is gone from the members this long after its last renewal.
pub const DEFAULT_NODE_LEASE_SECS: u64 = 10;
/// Smallest lease etcd 3.4 grants with its default election timeout (1.5 x 1 s, rounded up).
pub const MIN_NODE_LEASE_SECS: u64 = 2;

/// How a server is a node of a cluster coordinated by etcd (`ggs serve --etcd`, or
/// `Builder::cluster`). Without it, a server is a single node and runs no cluster code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterSettings {
    /// etcd's client URLs (`http://HOST:PORT`), one or more.
    pub etcd: Vec<String>,
    /// This node's name, unique in the cluster (`nodes/<name>` in etcd).
    pub node: String,
    /// Where players reach this node's GGS 1.0 TCP listener (`HOST:PORT`), as other nodes
    /// will tell them; `None`: not published (a node without a TCP listener).
    pub advertise_tcp: Option<String>,
    /// Where players and other nodes reach this node's HTTP routes (`http://HOST:PORT`, with
    /// the prefix the application nests them under); `None`: not published.
    pub advertise_http: Option<String>,
    /// Seconds of the node's lease ([`DEFAULT_NODE_LEASE_SECS`]; at least
    /// [`MIN_NODE_LEASE_SECS`]).
    pub lease_secs: u64,
}

impl ClusterSettings {
    /// Settings for node `node` of the cluster whose etcd is at `etcd`, every other setting
    /// its default.
    pub fn new(etcd: Vec<String>, node: impl Into<String>) -> ClusterSettings {
        ClusterSettings {
            etcd,
            node: node.into(),
            advertise_tcp: None,
            advertise_http: None,
            lease_secs: DEFAULT_NODE_LEASE_SECS,
        }
    }
}
