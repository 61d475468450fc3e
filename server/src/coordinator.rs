//! The lobby: creates tables, finds live ones and loads the others from the store.
//!
//! It is used only when a player says `hello` (and for the lobby's queries and an
//! administrator's stop). After that the player's session holds the table's handle and talks
//! to the table directly: no game command passes through here. It also holds the game
//! catalogue, which `hello` and `define` by name read.
//!
//! Its map is the tables' [`Directory`]: awake tables and hibernated ones whose players are
//! still seated. A hibernated table with nobody seated leaves it (see `table::actor`), so the
//! map holds what is in use, not every table ever opened; the next `hello` (or an
//! administrator's stop) loads such a table from the store again.

use std::collections::HashMap;
use std::sync::Arc;

use uuid::Uuid;

use crate::auth::AuthHook;
use crate::catalogue::Catalogue;
use crate::cluster::Cluster;
use crate::store::{now_ms, Store, StoreError, TableRecord};
use crate::table::{self, Directory, TableDeps, TableEvent, TableHandle, TableInit};

/// The registry of live tables.
pub struct Coordinator {
    tables: Directory,
    store: Store,
    deps: TableDeps,
    tables_per_connection: usize,
    catalogue: Arc<Catalogue>,
    /// The application's auth hook, if it gave one.
    auth: Option<AuthHook>,
    /// The cluster this server is a node of, if it is one.
    cluster: Option<Arc<Cluster>>,
}

/// How long an administrator's stop waits for the table to wind down.
pub const STOP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// How long a restarted node of a cluster waits for the owners of the tables (from etcd)
/// before it wakes its ticking tables anyway (etcd unreachable: it serves what it has).
pub const OWNERS_WAIT: std::time::Duration = crate::cluster::etcd::START_TIMEOUT;

impl Coordinator {
    /// A coordinator over the store, the shared table dependencies and the catalogue.
    pub fn new(
        store: Store,
        deps: TableDeps,
        tables_per_connection: usize,
        catalogue: Arc<Catalogue>,
    ) -> Self {
        Coordinator {
            tables: deps.directory.clone(),
            store,
            deps,
            tables_per_connection,
            catalogue,
            auth: None,
            cluster: None,
        }
    }

    /// The coordinator with the application's auth hook (`None`: players are anonymous).
    pub fn with_auth(mut self, auth: Option<AuthHook>) -> Self {
        self.auth = auth;
        self
    }

    /// The application's auth hook, if it gave one.
    pub fn auth(&self) -> Option<&AuthHook> {
        self.auth.as_ref()
    }

    /// Makes the coordinator a node of `cluster`: it claims in etcd every table it creates
    /// (and every one it loads that nobody owns), asks placement where each new table should
    /// go, and has the catalogue store every version another node publishes.
    pub fn with_cluster(mut self, cluster: Option<Arc<Cluster>>) -> Self {
        if let Some(cluster) = &cluster {
            // Weakly: the cluster's handle must not keep the store open after a stop.
            let catalogue = Arc::downgrade(&self.catalogue);
            cluster.on_game(Box::new(move |name, version, source| {
                let Some(catalogue) = catalogue.upgrade() else {
                    return;
                };
                tokio::task::spawn_blocking(move || {
                    if let Err(e) = catalogue.adopt(&name, version, &source) {
                        tracing::error!(game = name, version, "storing a published game: {e}");
                    }
                });
            }));
        }
        self.cluster = cluster;
        self
    }

    /// The cluster this server is a node of, if it is one.
    pub fn cluster(&self) -> Option<&Arc<Cluster>> {
        self.cluster.as_ref()
    }

    /// The game catalogue.
    pub fn catalogue(&self) -> &Arc<Catalogue> {
        &self.catalogue
    }

    /// Stops table `id` (its players get `table_stopped`; a hibernated one is woken first)
    /// and waits until it has; false if there is no such table or it has stopped already. A
    /// stopped table stays stopped until the server restarts.
    pub async fn stop(&self, id: Uuid, why: &str) -> bool {
        let handle = match self.find(id).await {
            Ok(Some(handle)) => handle,
            Ok(None) => return false,
            Err(e) => {
                tracing::error!("loading table {id} to stop it: {e}");
                return false;
            }
        };
        if handle.is_stopped() {
            return false;
        }
        let stop = TableEvent::Stop {
            why: why.to_string(),
        };
        let _ = tokio::time::timeout(STOP_TIMEOUT, async {
            let _ = handle.send_wait(stop).await;
            handle.stopped().await;
        })
        .await;
        true
    }

    /// Most tables one connection may create.
    pub fn tables_per_connection(&self) -> usize {
        self.tables_per_connection
    }

    /// Creates a new table with a fresh UUID v4. It reaches the store with its first event.
    ///
    /// On a node of a cluster, the table is claimed for this node in etcd (at once, or when
    /// etcd is back) and placement says where it should go (counted,
    /// `ggs_placements_total`): another node than this one gets it by a handoff after its
    /// first event (`handoff::run`), its players following it.
    pub fn create(&self) -> TableHandle {
        let id = Uuid::new_v4();
        if let Some(cluster) = &self.cluster {
            let placement = cluster.place(self.live_tables());
            crate::telemetry::placed(&placement.node, placement.reason.as_str());
            cluster.serving(id.to_string());
            if placement.node != cluster.node() {
                tracing::debug!(
                    table = %id,
                    chosen = %placement.node,
                    reason = placement.reason.as_str(),
                    "placement chose another node; the table goes there after its first event"
                );
                cluster.place_later(id.to_string(), placement.node);
            }
        }
        let record = TableRecord {
            created_ms: now_ms(),
            tick_ms: 0,
            host: None,
            game: None,
            script: None,
        };
        let handle = table::spawn(
            Arc::from(id.to_string()),
            TableInit::New(record),
            self.deps.clone(),
        );
        self.lock().insert(id, handle.clone());
        handle
    }

    /// Loads, in the background, every table whose tick was running, so games go on after a
    /// restart before any player comes back. Serving does not wait for it. On a node of a
    /// cluster, it first waits (at most [`OWNERS_WAIT`]) for the owners to be read from etcd,
    /// so it wakes only the tables that are still this node's.
    pub fn resume_ticking(self: &Arc<Self>) {
        let coordinator = self.clone();
        tokio::spawn(async move {
            if let Some(cluster) = coordinator.cluster.clone() {
                let deadline = tokio::time::Instant::now() + OWNERS_WAIT;
                while !cluster.owners_loaded() && tokio::time::Instant::now() < deadline {
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
            }
            let store = coordinator.store.clone();
            let ids = match tokio::task::spawn_blocking(move || store.ticking_tables()).await {
                Ok(Ok(ids)) => ids,
                Ok(Err(e)) => return tracing::error!("listing ticking tables: {e}"),
                Err(e) => return tracing::error!("listing ticking tables: {e}"),
            };
            let count = ids.len();
            for id in ids.iter().filter_map(|id| Uuid::parse_str(id).ok()) {
                if let Err(e) = coordinator.find(id).await {
                    tracing::error!("loading ticking table {id}: {e}");
                }
            }
            if count > 0 {
                tracing::info!("resumed {count} ticking tables");
            }
        });
    }

    /// The live table `id`, loading it from the store if needed; `None` if it never existed.
    ///
    /// On a node of a cluster, `None` too for a table etcd says another node owns, even if it
    /// is on this node's disk (it was moved, or this node restarted on a data directory whose
    /// tables went elsewhere): a node serves only the tables etcd says are its own, or that
    /// nobody owns yet. Until the owners are first read (and while etcd is unreachable, from
    /// what was last read), it serves what it has.
    pub async fn find(&self, id: Uuid) -> Result<Option<TableHandle>, StoreError> {
        // An actor here is this node's table (one that moved left the directory).
        if let Some(handle) = self.lock().get(&id) {
            return Ok(Some(handle.clone()));
        }
        if let Some(cluster) = &self.cluster {
            if !self.settle_handoff(cluster, id).await? {
                return Ok(None);
            }
            if let Some(owner) = cluster.owned_elsewhere(&id.to_string()) {
                tracing::debug!(table = %id, %owner, "the table is another node's; not served here");
                return Ok(None);
            }
        }
        let store = self.store.clone();
        let key = id.to_string();
        let loaded = tokio::task::spawn_blocking(move || store.load_table(&key))
            .await
            .expect("store load task does not panic")?;
        let Some(loaded) = loaded else {
            return Ok(None);
        };
        let mut tables = self.lock();
        let handle = tables.entry(id).or_insert_with(|| {
            // A table from the store is this node's: claimed if nobody owns it yet (one
            // stored before the node joined a cluster).
            if let Some(cluster) = &self.cluster {
                cluster.serving(id.to_string());
            }
            table::spawn(
                Arc::from(id.to_string()),
                TableInit::Loaded(loaded),
                self.deps.clone(),
            )
        });
        Ok(Some(handle.clone()))
    }

    /// Whether table `id` may be served here as far as a handoff goes: a table with a handoff
    /// mark (a handoff of it was under way here when this node stopped, or has not finished)
    /// is served only once etcd says this node owns it, and its mark is then cleared; if etcd
    /// says another node does, the copy here is stale and is deleted. While etcd cannot say,
    /// it is not served. A table without a mark: true.
    async fn settle_handoff(&self, cluster: &Arc<Cluster>, id: Uuid) -> Result<bool, StoreError> {
        let key = id.to_string();
        let store = self.store.clone();
        let mark = {
            let key = key.clone();
            tokio::task::spawn_blocking(move || store.handoff_mark(&key))
                .await
                .expect("a store read does not panic")?
        };
        let Some(mark) = mark else { return Ok(true) };
        let owner = match cluster.owner(&key).await {
            Ok(owner) => owner.map(|o| o.owner),
            Err(e) => {
                tracing::info!(table = %id, peer = %mark.peer, "a handoff of the table is unsettled and etcd cannot say whose it is: {e}");
                return Ok(false);
            }
        };
        let ours = owner.as_deref() == Some(cluster.node());
        if ours {
            // Before the watch says so: a table just handed here is served at once.
            cluster.note_owner(&key, cluster.node());
        }
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || match ours {
            true => store.set_handoff_mark(&key, None),
            false => store.drop_table(&key),
        })
        .await
        .expect("a store write does not panic")?;
        match ours {
            true => {
                tracing::info!(table = %id, direction = %mark.direction, peer = %mark.peer, "a handoff of the table settled: it is this node's")
            }
            false => {
                tracing::info!(table = %id, direction = %mark.direction, peer = %mark.peer, owner = ?owner, "a handoff of the table settled elsewhere: the copy here is deleted")
            }
        }
        Ok(ours)
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The live table `id`, if it has an actor here (no load).
    pub fn live(&self, id: Uuid) -> Option<TableHandle> {
        self.lock().get(&id).cloned()
    }

    /// Ids of the tables with an actor here (awake or hibernated with players seated).
    pub fn live_ids(&self) -> Vec<Uuid> {
        self.lock()
            .iter()
            .filter(|(_, h)| !h.is_stopped())
            .map(|(id, _)| *id)
            .collect()
    }

    /// Waits until every live table has committed the events queued before this call.
    pub async fn flush_all(&self) {
        let handles: Vec<TableHandle> = self.lock().values().cloned().collect();
        let mut waits = Vec::new();
        for handle in handles {
            let (done, rx) = tokio::sync::oneshot::channel();
            if handle.send_wait(TableEvent::Flush { done }).await.is_ok() {
                waits.push(rx);
            }
        }
        for rx in waits {
            let _ = rx.await;
        }
    }

    /// Number of tables awake (with their script loaded; not hibernated, not stopped).
    pub fn live_tables(&self) -> usize {
        let tables = self.lock();
        let awake = |h: &&TableHandle| !h.is_stopped() && !h.info().is_hibernated();
        tables.values().filter(awake).count()
    }

    /// A snapshot for the lobby of the tables with an actor, oldest first: awake ones, and
    /// hibernated ones whose players are still seated (`hibernated: true`). Stopped ones are
    /// left out, and so are tables that hibernated with nobody seated (they are on disk only).
    pub fn tables(&self) -> Vec<crate::table_info::TableSummary> {
        let mut tables: Vec<_> = self
            .lock()
            .values()
            .filter(|h| !h.is_stopped())
            .map(|h| h.info().summary(h.id()))
            .collect();
        tables.sort_by(|a, b| (a.created_ms, &a.id).cmp(&(b.created_ms, &b.id)));
        tables
    }

    /// Every table that runs catalogue game `game`: on disk, or live and not yet committed.
    pub async fn tables_running(&self, game: &str) -> Result<Vec<Uuid>, StoreError> {
        let store = self.store.clone();
        let name = game.to_string();
        let stored = tokio::task::spawn_blocking(move || store.tables_running(&name))
            .await
            .expect("a store scan does not panic")?;
        let mut ids: Vec<Uuid> = stored
            .iter()
            .filter_map(|id| Uuid::parse_str(id).ok())
            .collect();
        for table in self.tables() {
            if table.game.as_deref() == Some(game) {
                if let Ok(id) = Uuid::parse_str(&table.id) {
                    ids.push(id);
                }
            }
        }
        ids.sort();
        ids.dedup();
        Ok(ids)
    }

    /// Number of tables in the store (a scan: call it off the async threads).
    pub fn stored_tables(&self) -> usize {
        self.store.table_count()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, TableHandle>> {
        self.tables.lock().unwrap_or_else(|e| e.into_inner())
    }
}
