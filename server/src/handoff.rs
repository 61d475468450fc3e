//! Handing a table to another node of the cluster, with its state, in the seeds' order: the
//! old instance stops before the new one starts, and ownership moves in between by a
//! compare-and-swap on the owner key's revision (the fencing token).
//!
//! Per table ([`hand_off`]):
//! 1. The table stops taking input (what arrives waits in its inbox), commits what is in
//!    flight, and exports its committed state: record and script, storage, `GGS.state`, tick,
//!    seats and identities, 1.1 streams and kept messages (`TableEvent::Handoff`).
//! 2. This node marks the table (`h/`, "out"), and sends the export to the target's internal
//!    route (`PUT /internal/tables/{id}`, with the cluster's secret), which imports it in one
//!    sled batch, marked "in", flushed before it answers.
//! 3. Ownership moves in etcd, if the owner key is still at the revision read before step 1.
//!    If etcd does not answer, the outcome is read back until it can be: the table waits, and
//!    is never served by two nodes.
//! 4. Moved: the table ends here, its waiting input kept for its players' connections, which
//!    follow it (`next`, or a relay for GGS 1.0 clients: `net::relay::follow`); the copy here is
//!    deleted; the target is asked to start it (`POST /internal/tables/{id}/start`: it runs
//!    `onResume()` there; without that, its first `hello` loads it). Not moved: the mark is
//!    cleared, the target told to drop its copy, and the table goes on with what waited.
//!
//! A node killed at any step leaves one owner: etcd's. A mark makes the node that restarts
//! with it ask etcd before it serves the table (`Coordinator::find`), and delete its copy if
//! the table is another node's.
//!
//! [`run`] is the node's handoff loop: it drains the node (every table it owns to the least
//! loaded members) while etcd's `control/drain/<node>` says so, and hands the tables above its
//! share to others when a rebalance is asked (`cluster::control`).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use serde::Serialize;
use tokio::sync::oneshot;
use tokio::time::Instant;
use uuid::Uuid;

use crate::cluster::route::websocket_url;
use crate::cluster::{Cluster, ClusterError, NodeInfo};
use crate::coordinator::Coordinator;
use crate::store::{HandoffMark, ImportError, StoreError};
use crate::table::{Export, Moved, TableEvent, Verdict};

/// Tables one node hands over at once.
pub const HANDOFF_CONCURRENCY: usize = 8;
/// Longest wait for the target to import a table (or start it, or drop it).
pub const TRANSFER_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest export of one table a handoff carries (a table's storage, state and kept messages
/// are bounded far below this by the script limits and `--outbox-bytes`).
pub const MAX_EXPORT_BYTES: usize = 256 * 1024 * 1024;
/// How often the outcome of a move is read again while etcd cannot say it.
pub const OUTCOME_RETRY: Duration = Duration::from_millis(200);
/// How often a draining node that still owns tables (none could be taken) tries again.
pub const DRAIN_RETRY: Duration = Duration::from_secs(1);
/// Times a new table's claim is looked for before it is handed to the node placement chose
/// (every [`OUTCOME_RETRY`]); unclaimed by then, it stays here.
pub const PLACEMENT_ATTEMPTS: usize = 10;
/// The header that carries the cluster's secret on the internal routes.
pub const SECRET_HEADER: &str = "GGS-Cluster-Secret";

/// Why a handoff did not move the table (it goes on where it was).
#[derive(Debug, thiserror::Error)]
pub enum HandoffError {
    /// This server is not a node of a cluster.
    #[error("this server is a single node (it was started without --etcd)")]
    NotClustered,
    /// etcd cannot be reached, or the table changed hands meanwhile.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// The table is not this node's to hand over.
    #[error("table {0} is not served by this node")]
    NotHere(String),
    /// No other member can take it.
    #[error("no other node can take table {0}: {1}")]
    NoTarget(String, String),
    /// The table could not export its state.
    #[error("table {table} could not be handed over: {why}")]
    Table {
        /// The table.
        table: String,
        /// Why.
        why: String,
    },
    /// The target did not import (or start) it.
    #[error("node {node} did not take table {table}: {why}")]
    Transfer {
        /// The table.
        table: String,
        /// The target.
        node: String,
        /// Why.
        why: String,
    },
    /// The export is over [`MAX_EXPORT_BYTES`].
    #[error("table {table} is {bytes} bytes, over the {MAX_EXPORT_BYTES}-byte limit of a handoff")]
    TooLarge {
        /// The table.
        table: String,
        /// Its export's size.
        bytes: usize,
    },
    /// An import was malformed.
    #[error(transparent)]
    Import(#[from] ImportError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl HandoffError {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            HandoffError::NotClustered => "not_clustered",
            HandoffError::Cluster(e) => e.code(),
            HandoffError::NotHere(_) => "not_owner",
            HandoffError::NoTarget(..) => "no_target",
            HandoffError::Table { .. } | HandoffError::Transfer { .. } => "handoff_failed",
            HandoffError::TooLarge { .. } => "table_too_large",
            HandoffError::Import(_) => "bad_import",
            HandoffError::Store(_) => "store_error",
        }
    }
}

/// What this node's handoffs took, for `GET /api/handoffs`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct HandoffStats {
    /// Tables handed to other nodes.
    pub handed_off: u64,
    /// Handoffs that did not move their table.
    pub failed: u64,
    /// How long tables stopped taking input, per handoff: the median, in milliseconds.
    pub pause_p50_ms: f64,
    /// The same, 99th percentile.
    pub pause_p99_ms: f64,
    /// The same, the longest.
    pub pause_max_ms: f64,
    /// The last drain: tables handed over and how long it took, in seconds.
    pub last_drain: Option<DrainRun>,
}

/// One drain of this node.
#[derive(Debug, Clone, Serialize)]
pub struct DrainRun {
    /// Tables handed over.
    pub tables: usize,
    /// Tables that could not be (still here).
    pub failed: usize,
    /// How long it took, in seconds.
    pub seconds: f64,
}

/// This node's handoff figures.
struct Figures {
    pauses: hdrhistogram::Histogram<u64>,
    handed_off: u64,
    failed: u64,
    last_drain: Option<DrainRun>,
}

static FIGURES: Mutex<Option<Figures>> = Mutex::new(None);

fn figures<T>(f: impl FnOnce(&mut Figures) -> T) -> T {
    let mut figures = FIGURES.lock().unwrap_or_else(|e| e.into_inner());
    let figures = figures.get_or_insert_with(|| Figures {
        pauses: hdrhistogram::Histogram::new(3).expect("a histogram"),
        handed_off: 0,
        failed: 0,
        last_drain: None,
    });
    f(figures)
}

/// This node's handoff figures so far.
pub fn stats() -> HandoffStats {
    figures(|f| {
        let ms = |q: f64| f.pauses.value_at_quantile(q) as f64 / 1000.0;
        HandoffStats {
            handed_off: f.handed_off,
            failed: f.failed,
            pause_p50_ms: ms(0.5),
            pause_p99_ms: ms(0.99),
            pause_max_ms: f.pauses.max() as f64 / 1000.0,
            last_drain: f.last_drain.clone(),
        }
    })
}

/// What one handoff did.
#[derive(Debug, Clone, Serialize)]
pub struct HandedOff {
    /// The table.
    pub table: String,
    /// The node that owns it now.
    pub to: String,
    /// How long the table took no input, in milliseconds.
    pub paused_ms: f64,
}

/// Hands table `id`, which this node owns, to node `to`.
pub async fn hand_off(
    coordinator: &Arc<Coordinator>,
    id: Uuid,
    to: &NodeInfo,
) -> Result<HandedOff, HandoffError> {
    let result = hand_off_once(coordinator, id, to).await;
    match &result {
        Ok(done) => {
            let micros = (done.paused_ms * 1000.0) as u64;
            figures(|f| {
                f.handed_off += 1;
                let _ = f.pauses.record(micros.max(1));
            });
            crate::telemetry::handed_off(done.paused_ms / 1000.0);
        }
        Err(e) => {
            figures(|f| f.failed += 1);
            crate::telemetry::handoff_failed(e.code());
            tracing::warn!(table = %id, to = %to.name, "handoff failed: {e}");
        }
    }
    result
}

async fn hand_off_once(
    coordinator: &Arc<Coordinator>,
    id: Uuid,
    to: &NodeInfo,
) -> Result<HandedOff, HandoffError> {
    let cluster = coordinator
        .cluster()
        .cloned()
        .ok_or(HandoffError::NotClustered)?;
    let table = id.to_string();
    if to.name == cluster.node() {
        let why = "it is already here".to_string();
        return Err(HandoffError::NoTarget(table, why));
    }
    let transfer = |why: String| HandoffError::Transfer {
        table: table.clone(),
        node: to.name.clone(),
        why,
    };
    let Some(http) = to.http.clone() else {
        return Err(transfer("it advertises no HTTP address".into()));
    };
    let secret = cluster.secret().ok_or_else(|| {
        ClusterError::Unavailable("the cluster's secret has not been read yet".into())
    })?;
    let ownership = cluster
        .owner(&table)
        .await?
        .filter(|o| o.owner == cluster.node())
        .ok_or_else(|| HandoffError::NotHere(table.clone()))?;
    let handle = coordinator
        .find(id)
        .await?
        .ok_or_else(|| HandoffError::NotHere(table.clone()))?;
    let started = Instant::now();
    let (ready, exported) = oneshot::channel();
    let (decide, verdict) = oneshot::channel();
    let stopped = |why: &str| HandoffError::Table {
        table: table.clone(),
        why: why.to_string(),
    };
    handle
        .send_wait(TableEvent::Handoff { ready, verdict })
        .await
        .map_err(|_| stopped("the table has stopped"))?;
    let export = exported
        .await
        .map_err(|_| stopped("the table ended before its export"))?
        .map_err(|why| stopped(&why))?;
    let body = encode(&export);
    if body.len() > MAX_EXPORT_BYTES {
        let _ = decide.send(Verdict::Stay);
        return Err(HandoffError::TooLarge {
            table,
            bytes: body.len(),
        });
    }
    let store = coordinator.store().clone();
    let mark = HandoffMark {
        direction: "out".into(),
        peer: to.name.clone(),
    };
    let path = format!("/internal/tables/{table}");
    let outcome = async {
        // The mark is made durable while the target imports: both before the move.
        let marked = {
            let (store, table) = (store.clone(), table.clone());
            tokio::task::spawn_blocking(move || store.set_handoff_mark(&table, Some(&mark)))
        };
        let from = cluster.node().to_string();
        let put = format!("{path}?from={from}");
        let (marked, sent) = tokio::join!(marked, internal(&http, "PUT", &put, &secret, body));
        marked.expect("a store write does not panic")?;
        sent.map_err(transfer)?;
        settle(&cluster, &table, ownership.revision, &to.name).await
    }
    .await;
    match outcome {
        Ok(true) => {
            cluster.note_owner(&table, &to.name);
            let moved = Moved {
                node: to.name.clone(),
                tcp: to.tcp.clone(),
                ws: to.http.as_deref().map(websocket_url),
            };
            let _ = decide.send(Verdict::Moved(Arc::new(moved)));
            let paused = started.elapsed();
            // The table closes its inbox as it ends here; its copy is deleted after that.
            handle.stopped().await;
            let (store, key) = (store.clone(), table.clone());
            match tokio::task::spawn_blocking(move || store.drop_table(&key)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::error!(%table, "deleting a handed-off table: {e}"),
                Err(e) => tracing::error!(%table, "deleting a handed-off table: {e}"),
            }
            if let Err(why) =
                internal(&http, "POST", &format!("{path}/start"), &secret, vec![]).await
            {
                tracing::info!(%table, to = %to.name, "the new owner did not start the table now (its first hello will): {why}");
            }
            tracing::info!(%table, to = %to.name, paused_ms = paused.as_secs_f64() * 1000.0, "table handed off");
            Ok(HandedOff {
                table,
                to: to.name.clone(),
                paused_ms: paused.as_secs_f64() * 1000.0,
            })
        }
        not_moved => {
            let _ = decide.send(Verdict::Stay);
            let key = table.clone();
            let cleared =
                tokio::task::spawn_blocking(move || store.set_handoff_mark(&key, None)).await;
            if let Ok(Err(e)) = cleared {
                tracing::error!(%table, "clearing a handoff mark: {e}");
            }
            if let Err(why) = internal(&http, "DELETE", &path, &secret, vec![]).await {
                tracing::info!(%table, to = %to.name, "the target did not drop its copy now (it asks etcd before serving it): {why}");
            }
            Err(match not_moved {
                Ok(_) => HandoffError::Cluster(ClusterError::Fenced {
                    table: table.clone(),
                    owner: cluster.owner(&table).await.ok().flatten().map(|o| o.owner),
                }),
                Err(e) => e,
            })
        }
    }
}

/// Moves the owner of `table` from this node to `to` by the fencing token `revision`: true if
/// `to` owns it now. When etcd does not answer, the outcome is unknown: it is read again
/// (every [`OUTCOME_RETRY`]) until etcd says it.
async fn settle(
    cluster: &Cluster,
    table: &str,
    revision: i64,
    to: &str,
) -> Result<bool, HandoffError> {
    match cluster.move_owner(table, revision, to).await {
        Ok(_) => return Ok(true),
        Err(ClusterError::Fenced { owner, .. }) => return Ok(owner.as_deref() == Some(to)),
        Err(ClusterError::Unavailable(why)) => {
            tracing::warn!(%table, %to, "the move's outcome is unknown ({why}); the table waits until etcd says it");
        }
        Err(e) => return Err(e.into()),
    }
    loop {
        tokio::time::sleep(OUTCOME_RETRY).await;
        match cluster.owner(table).await {
            Ok(owner) => return Ok(owner.is_some_and(|o| o.owner == to)),
            Err(e) => tracing::debug!(%table, "the move's outcome is still unknown: {e}"),
        }
    }
}

/// Sends one internal request to the node at `http` (`http://HOST:PORT`), off the async
/// threads, within [`TRANSFER_TIMEOUT`]: `Ok` on a success status.
async fn internal(
    http: &str,
    method: &'static str,
    path: &str,
    secret: &str,
    body: Vec<u8>,
) -> Result<(), String> {
    let url = format!("{}{path}", http.trim_end_matches('/'));
    let secret = secret.to_string();
    // One agent for every handoff: it keeps connections to the other nodes open.
    static AGENT: std::sync::OnceLock<ureq::Agent> = std::sync::OnceLock::new();
    let sent = tokio::task::spawn_blocking(move || {
        let agent = AGENT.get_or_init(|| {
            ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(TRANSFER_TIMEOUT))
                .build()
                .into()
        });
        let response = match method {
            "PUT" => agent
                .put(&url)
                .header(SECRET_HEADER, &secret)
                .content_type("application/octet-stream")
                .send(&body[..]),
            "POST" => agent.post(&url).header(SECRET_HEADER, &secret).send_empty(),
            _ => agent.delete(&url).header(SECRET_HEADER, &secret).call(),
        };
        let mut response = response.map_err(|e| e.to_string())?;
        if response.status().is_success() {
            return Ok(());
        }
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        Err(format!("it answered {status}: {text}"))
    })
    .await;
    sent.unwrap_or_else(|e| Err(e.to_string()))
}

/// An export as bytes: for each key and value, its length (4 bytes, big-endian) and bytes.
pub fn encode(export: &Export) -> Vec<u8> {
    let size: usize = export.iter().map(|(k, v)| 8 + k.len() + v.len()).sum();
    let mut out = Vec::with_capacity(size);
    for (key, value) in export {
        for part in [key, value] {
            out.extend_from_slice(&(part.len() as u32).to_be_bytes());
            out.extend_from_slice(part);
        }
    }
    out
}

/// The export [`encode`] wrote; `None` if `bytes` is not one.
pub fn decode(mut bytes: &[u8]) -> Option<Export> {
    let mut export = Vec::new();
    let take = |bytes: &mut &[u8]| -> Option<Vec<u8>> {
        let (len, rest) = bytes.split_first_chunk::<4>()?;
        let len = u32::from_be_bytes(*len) as usize;
        let part = rest.get(..len)?.to_vec();
        *bytes = &rest[len..];
        Some(part)
    };
    while !bytes.is_empty() {
        let key = take(&mut bytes)?;
        let value = take(&mut bytes)?;
        export.push((key, value));
    }
    Some(export)
}

/// The target's side of step 2: imports table `id` from node `from` (its export as
/// [`encode`] wrote it) in one batch, marked "in". Refused if this node serves the table now.
pub async fn import(
    coordinator: &Arc<Coordinator>,
    id: Uuid,
    from: &str,
    body: &[u8],
) -> Result<(), HandoffError> {
    if coordinator.cluster().is_none() {
        return Err(HandoffError::NotClustered);
    }
    let table = id.to_string();
    if coordinator.live(id).is_some() {
        return Err(HandoffError::Table {
            table,
            why: "this node serves it now".into(),
        });
    }
    let export = decode(body).ok_or_else(|| HandoffError::Table {
        table: table.clone(),
        why: "the export is malformed".into(),
    })?;
    let mark = HandoffMark {
        direction: "in".into(),
        peer: from.to_string(),
    };
    let store = coordinator.store().clone();
    tokio::task::spawn_blocking(move || store.import_table(&table, &export, &mark))
        .await
        .expect("a store write does not panic")?;
    Ok(())
}

/// The target's side of step 4: starts table `id` (which etcd must say is this node's now).
pub async fn start(coordinator: &Arc<Coordinator>, id: Uuid) -> Result<(), HandoffError> {
    match coordinator.find(id).await? {
        Some(_) => Ok(()),
        None => Err(HandoffError::NotHere(id.to_string())),
    }
}

/// The target's side of a handoff that did not move the table: drops the imported copy, if
/// etcd says the table is not this node's (`find` settles the mark).
pub async fn abort(coordinator: &Arc<Coordinator>, id: Uuid) -> Result<(), HandoffError> {
    if coordinator.live(id).is_some() {
        return Ok(());
    }
    let _ = coordinator.find(id).await?;
    Ok(())
}

/// The node's handoff loop (on a node of a cluster): drains it while etcd says it is
/// drained, and hands the tables above its share to others when a rebalance is asked.
pub async fn run(coordinator: Arc<Coordinator>, cluster: Arc<Cluster>) {
    loop {
        place(&coordinator, &cluster).await;
        if cluster.draining() && cluster.available() {
            drain(&coordinator, &cluster).await;
        }
        if cluster.take_rebalance() && !cluster.draining() {
            rebalance(&coordinator, &cluster).await;
        }
        // A draining node looks again for tables (created or loaded meanwhile) every
        // DRAIN_RETRY.
        let retry = cluster.draining();
        tokio::select! {
            _ = cluster.control_changed() => {}
            _ = tokio::time::sleep(DRAIN_RETRY), if retry => {}
        }
    }
}

/// Hands each new table to the node placement chose for it (`Cluster::place_later`), once
/// its first event is in (the handoff waits behind it in the table's inbox).
async fn place(coordinator: &Arc<Coordinator>, cluster: &Arc<Cluster>) {
    let placements = cluster.take_placements();
    if placements.is_empty() {
        return;
    }
    let members = cluster.members().unwrap_or_default();
    futures::stream::iter(placements)
        .for_each_concurrent(HANDOFF_CONCURRENCY, |(table, node)| {
            let to = members.iter().find(|m| m.name == node).cloned();
            async move {
                let (Some(to), Ok(id)) = (to, Uuid::parse_str(&table)) else {
                    return;
                };
                // The table claimed first: a handoff moves only what etcd says is ours.
                for _ in 0..PLACEMENT_ATTEMPTS {
                    match cluster.owner(&table).await {
                        Ok(Some(owner)) if owner.owner == cluster.node() => {
                            let _ = hand_off(coordinator, id, &to).await;
                            return;
                        }
                        Ok(Some(_)) => return,
                        _ => tokio::time::sleep(OUTCOME_RETRY).await,
                    }
                }
            }
        })
        .await;
}

/// Tables this node owns: live here, or on its disk and etcd's as this node's.
fn owned_here(coordinator: &Coordinator, cluster: &Cluster) -> Vec<Uuid> {
    let mut ids = coordinator.live_ids();
    ids.extend(
        cluster
            .owned_by_me()
            .iter()
            .filter_map(|id| Uuid::parse_str(id).ok()),
    );
    ids.sort();
    ids.dedup();
    ids
}

/// The members that may take tables (not this node, not draining, with an HTTP address).
fn takers(cluster: &Cluster) -> Vec<NodeInfo> {
    cluster
        .members()
        .unwrap_or_default()
        .into_iter()
        .filter(|m| m.name != cluster.node() && !m.draining && m.http.is_some())
        .collect()
}

/// Hands `ids` to the members in `takers`, each to the least loaded one then (its published
/// live tables plus what this run gave it), [`HANDOFF_CONCURRENCY`] at a time, while `go`
/// holds; returns (handed over, failed).
async fn spread(
    coordinator: &Arc<Coordinator>,
    ids: Vec<Uuid>,
    takers: Vec<NodeInfo>,
    go: impl Fn() -> bool,
) -> (usize, usize) {
    if takers.is_empty() {
        return (0, 0);
    }
    let given = Mutex::new(vec![0usize; takers.len()]);
    let pick = || {
        let mut given = given.lock().unwrap_or_else(|e| e.into_inner());
        let (i, _) = takers
            .iter()
            .enumerate()
            .min_by_key(|(i, m)| m.live_tables + given[*i])
            .expect("takers is not empty");
        given[i] += 1;
        takers[i].clone()
    };
    let results: Vec<bool> = futures::stream::iter(ids)
        .take_while(|_| std::future::ready(go()))
        .map(|id| {
            let to = pick();
            async move { hand_off(coordinator, id, &to).await.is_ok() }
        })
        .buffer_unordered(HANDOFF_CONCURRENCY)
        .collect()
        .await;
    let moved = results.iter().filter(|ok| **ok).count();
    (moved, results.len() - moved)
}

/// Hands every table this node owns to the other members.
async fn drain(coordinator: &Arc<Coordinator>, cluster: &Arc<Cluster>) {
    let ids = owned_here(coordinator, cluster);
    if ids.is_empty() {
        return;
    }
    let takers = takers(cluster);
    if takers.is_empty() {
        tracing::warn!(
            node = cluster.node(),
            tables = ids.len(),
            "draining, but no other node takes tables now"
        );
        return;
    }
    let started = Instant::now();
    let count = ids.len();
    let (moved, failed) = spread(coordinator, ids, takers, || cluster.draining()).await;
    let seconds = started.elapsed().as_secs_f64();
    tracing::info!(
        node = cluster.node(),
        moved,
        failed,
        seconds,
        "drain: {moved} of {count} tables handed over in {seconds:.2} s"
    );
    figures(|f| {
        f.last_drain = Some(DrainRun {
            tables: moved,
            failed,
            seconds,
        })
    });
}

/// Hands the live tables above this node's share (the members' live tables, evenly, rounded
/// down) to the least loaded members below it.
async fn rebalance(coordinator: &Arc<Coordinator>, cluster: &Arc<Cluster>) {
    let members: Vec<NodeInfo> = cluster
        .members()
        .unwrap_or_default()
        .into_iter()
        .filter(|m| !m.draining)
        .collect();
    let mine = coordinator.live_ids();
    let others: usize = members
        .iter()
        .filter(|m| m.name != cluster.node())
        .map(|m| m.live_tables)
        .sum();
    // Each node's share, rounded down; tables go only to nodes below it, so a spread where
    // no two nodes differ by more than one table is left as it is.
    let total = others + mine.len();
    let share = total / members.len().max(1);
    let excess = mine.len().saturating_sub(share);
    if excess == 0 {
        return;
    }
    let takers: Vec<NodeInfo> = takers(cluster)
        .into_iter()
        .filter(|m| m.live_tables < share)
        .collect();
    let ids = mine.into_iter().take(excess).collect();
    let (moved, failed) = spread(coordinator, ids, takers, || !cluster.draining()).await;
    tracing::info!(
        node = cluster.node(),
        moved,
        failed,
        share,
        "rebalance: {moved} tables handed over"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_export_survives_its_encoding_and_garbage_is_refused() {
        let export: Export = vec![
            (b"t/x".to_vec(), b"{}".to_vec()),
            (b"w/x/k".to_vec(), Vec::new()),
            (Vec::new(), vec![0u8; 300]),
        ];
        assert_eq!(decode(&encode(&export)), Some(export));
        assert_eq!(decode(&[]), Some(Vec::new()));
        assert_eq!(decode(&[0, 0, 0, 5, 1]), None);
        assert_eq!(decode(&[0, 0, 0, 0]), None, "a key without its value");
    }
}
