//! A node of a cluster coordinated by etcd: membership under a lease, the owner of every
//! table, and where a new table goes.
//!
//! etcd holds (under [`KEY_PREFIX`]):
//! - `nodes/<name>`: the member's [`NodeInfo`] as JSON, attached to its lease, which the node
//!   renews ([`etcd`]'s session loop); a node that stops renewing (it died, or lost etcd for
//!   longer than its lease) is deleted by etcd itself;
//! - `games/<name>/<version>`: an uploaded game's source ([`catalogue`]), so an upload on
//!   any node is seen by all;
//! - `tables/<id>`: the owner's name. Claimed by a transaction on `create_revision == 0`, so
//!   exactly one node owns a table; moved only by a transaction comparing the key's
//!   `mod_revision` ([`Ownership::revision`], the fencing token), so a node acting on an old
//!   view cannot take a table back. Not attached to any lease: a dead node still owns its
//!   tables until they are moved.
//!
//! Nothing here depends on clocks: members come and go with etcd's leases, ownership changes
//! with revisions. While etcd is unreachable the node keeps serving what it has, answers
//! `cluster_unavailable` to changes of placement, keeps the tables it creates to claim when
//! etcd returns, and keeps trying to reconnect (a new lease, the node registered again).
//!
//! A server without cluster settings has no [`Cluster`] and runs none of this.

pub mod catalogue;
pub mod control;
pub mod etcd;
pub mod ownership;
pub mod placement;
pub mod route;

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use crate::config::{ClusterSettings, MIN_NODE_LEASE_SECS};
use crate::telemetry;
use placement::{Load, Placement};

/// The prefix of every key a cluster keeps in etcd, so one etcd may serve other uses too.
pub const KEY_PREFIX: &str = "ggs/";
/// Longest node name.
pub const MAX_NODE_NAME: usize = 63;
/// New tables waiting to be handed to the node placement chose for them; past that, a new
/// table stays where it was created (logged).
pub const MAX_PENDING_PLACEMENTS: usize = 10_000;
/// Tables served while etcd is unreachable that a node keeps to claim when it returns; past
/// that, the oldest is not claimed until it is loaded again (logged).
pub const MAX_PENDING_CLAIMS: usize = 100_000;

/// Why a cluster operation failed. `code()` is the stable code clients see.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The cluster settings are wrong (an empty node name, no etcd endpoint...).
    #[error("bad cluster settings: {0}")]
    BadSettings(String),
    /// etcd cannot be reached (at start, or now): placement changes are refused.
    #[error("the cluster is unavailable: {0}")]
    Unavailable(String),
    /// Another node already owns the table.
    #[error("table {table} is owned by node {owner}")]
    Owned {
        /// The table.
        table: String,
        /// Its owner.
        owner: String,
        /// The owner key's revision (the fencing token to move it with).
        revision: i64,
    },
    /// The table's ownership changed since the revision the move was based on (or it has no
    /// owner any more): the move was refused.
    #[error("table {table} changed hands: its owner is now {}", .owner.as_deref().unwrap_or("nobody"))]
    Fenced {
        /// The table.
        table: String,
        /// Its owner now, if any.
        owner: Option<String>,
    },
}

impl ClusterError {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            ClusterError::BadSettings(_) => "bad_cluster_settings",
            ClusterError::Unavailable(_) => "cluster_unavailable",
            ClusterError::Owned { .. } => "table_owned",
            ClusterError::Fenced { .. } => "ownership_changed",
        }
    }
}

/// A member of the cluster as it publishes itself in etcd (`nodes/<name>`), and one row of
/// `GET /api/nodes`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeInfo {
    /// The node's name.
    pub name: String,
    /// Where players reach its GGS 1.0 TCP listener (`HOST:PORT`), if it has one.
    pub tcp: Option<String>,
    /// Where its HTTP routes are (`http://HOST:PORT`), if it said.
    pub http: Option<String>,
    /// Tables awake on it.
    pub live_tables: usize,
    /// Its CPU use over the last report, in cores (1.0: one core busy).
    pub cpu: f64,
    /// It takes no new tables.
    pub draining: bool,
}

/// Who owns a table, and the revision of that fact (the fencing token of a move).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ownership {
    /// The owner's name.
    pub owner: String,
    /// The owner key's `mod_revision`.
    pub revision: i64,
}

/// What the node knows of the cluster now.
#[derive(Debug, Default)]
struct View {
    /// The members as etcd last said, by name.
    members: BTreeMap<String, NodeInfo>,
    /// Tables served here whose claim has not reached etcd yet, oldest first.
    pending: VecDeque<String>,
    /// Why etcd was last lost, while it is.
    lost: Option<String>,
    /// The owner of every table as etcd last said (`tables/`, read at each session's start
    /// and kept current by its watch), by table id: where a `hello` for a table this node
    /// does not have is sent, without a round trip to etcd.
    owners: std::collections::HashMap<String, String>,
    /// Whether `owners` was read from etcd at least once.
    owners_loaded: bool,
    /// The shared secret of the cluster's internal requests ([`control`]).
    secret: Option<String>,
}

/// This node's handle on the cluster: its settings, its etcd client, its view of the
/// members. Shared by the coordinator (placement, claims), the HTTP API and the session loop
/// ([`etcd`]) that keeps the node registered.
pub struct Cluster {
    settings: ClusterSettings,
    client: etcd_client::Client,
    view: Mutex<View>,
    /// The session with etcd holds: the node is registered and its watch runs.
    up: AtomicBool,
    /// Set when the node takes no new tables.
    draining: AtomicBool,
    /// Wakes the session loop: a claim to make, or the node leaves.
    wake: Notify,
    /// Set when the node leaves the cluster (a graceful stop).
    leaving: AtomicBool,
    /// Where published game versions go (the catalogue), once set.
    games: std::sync::OnceLock<catalogue::GameHandler>,
    /// Direct reads of a table's owner in flight ([`route::MAX_OWNER_LOOKUPS`]).
    lookups: tokio::sync::Semaphore,
    /// Wakes the handoff loop: this node was drained or undrained, or a rebalance was asked.
    control: Notify,
    /// Set when a rebalance was asked and not yet acted on.
    rebalance: AtomicBool,
    /// New tables to hand to the node placement chose (table, node), oldest first.
    placements: Mutex<VecDeque<(String, String)>>,
}

impl Cluster {
    /// Checks the settings: a valid node name, at least one endpoint, a lease etcd grants.
    pub fn check(settings: &ClusterSettings) -> Result<(), ClusterError> {
        let name = &settings.node;
        let valid = !name.is_empty()
            && name.len() <= MAX_NODE_NAME
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
        if !valid {
            return Err(ClusterError::BadSettings(format!(
                "a node name is 1 to {MAX_NODE_NAME} characters: letters, digits, '-', '_' and \
                 '.'; got {:?}",
                name.chars().take(MAX_NODE_NAME + 1).collect::<String>()
            )));
        }
        if settings.etcd.iter().all(|e| e.trim().is_empty()) {
            return Err(ClusterError::BadSettings(
                "no etcd endpoint (http://HOST:PORT) was given".into(),
            ));
        }
        if settings.lease_secs < MIN_NODE_LEASE_SECS {
            return Err(ClusterError::BadSettings(format!(
                "a node's lease is at least {MIN_NODE_LEASE_SECS} s (etcd grants no shorter); \
                 got {} s",
                settings.lease_secs
            )));
        }
        Ok(())
    }

    /// This node's name.
    pub fn node(&self) -> &str {
        &self.settings.node
    }

    /// Whether etcd is reachable and the node registered.
    pub fn available(&self) -> bool {
        self.up.load(Ordering::Acquire)
    }

    /// `Ok` while the cluster is available; else `cluster_unavailable`, saying why.
    pub fn ensure_available(&self) -> Result<(), ClusterError> {
        if self.available() {
            return Ok(());
        }
        let why = self.lock().lost.clone();
        Err(ClusterError::Unavailable(why.unwrap_or_else(|| {
            "this node is not registered in etcd yet".to_string()
        })))
    }

    /// The members as etcd last said, by name; `cluster_unavailable` while etcd is
    /// unreachable (the list may be out of date then).
    pub fn members(&self) -> Result<Vec<NodeInfo>, ClusterError> {
        self.ensure_available()?;
        Ok(self.lock().members.values().cloned().collect())
    }

    /// Whether this node takes new tables.
    pub fn draining(&self) -> bool {
        self.draining.load(Ordering::Acquire)
    }

    /// Where a new table of a player connected here goes, given this node's live tables now
    /// and the members' published load. While etcd is unreachable, here.
    pub fn place(&self, live_tables: usize) -> Placement {
        let view = self.lock();
        let cpu = view.members.get(self.node()).map_or(0.0, |m| m.cpu);
        let me = Load {
            name: self.node(),
            live_tables,
            cpu,
            draining: self.draining(),
        };
        let members: Vec<Load> = match self.available() {
            true => view
                .members
                .values()
                .map(|m| Load {
                    name: &m.name,
                    live_tables: m.live_tables,
                    cpu: m.cpu,
                    draining: m.draining,
                })
                .collect(),
            false => Vec::new(),
        };
        placement::place(&me, &members)
    }

    /// Notes a table this node serves (created here, or loaded from its store), to be
    /// claimed for it in etcd if nobody owns it (now, or when etcd returns).
    pub fn serving(&self, table: String) {
        {
            let mut view = self.lock();
            if view.pending.len() >= MAX_PENDING_CLAIMS {
                if let Some(dropped) = view.pending.pop_front() {
                    tracing::warn!(table = %dropped, "too many unclaimed tables; this one is not claimed");
                }
            }
            view.pending.push_back(table);
        }
        self.wake.notify_one();
    }

    /// Notes that new table `table` goes to `node` (placement's choice): the handoff loop
    /// hands it there once its first event is in.
    pub fn place_later(&self, table: String, node: String) {
        {
            let mut placements = self
                .placements
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if placements.len() >= MAX_PENDING_PLACEMENTS {
                tracing::warn!(%table, %node, "too many tables waiting for their node; this one stays here");
                return;
            }
            placements.push_back((table, node));
        }
        self.control.notify_one();
    }

    /// The new tables waiting to be handed to the node placement chose.
    pub fn take_placements(&self) -> Vec<(String, String)> {
        let mut placements = self
            .placements
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        placements.drain(..).collect()
    }

    /// Sets the cluster's gauges (members, and each one's load) for a scrape.
    pub fn scrape(&self) {
        let view = self.lock();
        telemetry::set_cluster_gauges(
            view.members
                .values()
                .map(|m| (m.name.as_str(), m.live_tables, m.cpu, m.draining)),
        );
    }

    fn lock(&self) -> MutexGuard<'_, View> {
        self.view.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The settings with what is not given filled in: without `advertise_tcp`, the TCP
/// listener's bound address (an unspecified one, `0.0.0.0`, is published as it is, with a
/// warning: other nodes cannot send players there).
pub fn advertised(
    mut settings: ClusterSettings,
    tcp: Option<std::net::SocketAddr>,
) -> ClusterSettings {
    if settings.advertise_tcp.is_none() {
        if let Some(addr) = tcp {
            if addr.ip().is_unspecified() {
                tracing::warn!(
                    %addr,
                    "the TCP listener's address is unspecified; set --advertise-tcp to where \
                     players reach this node"
                );
            }
            settings.advertise_tcp = Some(addr.to_string());
        }
    }
    settings
}

/// Leaves the cluster at a graceful stop: ends the session loop `membership` (waiting at
/// most [`etcd::REQUEST_TIMEOUT`] for it to revoke the node's lease).
pub async fn leave(cluster: Arc<Cluster>, membership: tokio::task::JoinHandle<()>) {
    cluster.leave().await;
    let abort = membership.abort_handle();
    if tokio::time::timeout(etcd::REQUEST_TIMEOUT, membership)
        .await
        .is_err()
    {
        abort.abort();
    }
}
