//! The node's life in etcd: connecting, and the session loop (a lease with keepalive, the
//! node's key under it, a watch of the members and of the catalogue, the load it reports, the
//! claims it owes). The ownership transactions are in [`super::ownership`].
//!
//! When etcd is lost (a request fails or times out, the keepalive or watch stream ends, or the
//! lease expired), the node marks the cluster unavailable and starts a new session after a
//! pause: a new lease, its key put again, the members read again, the pending claims made.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use etcd_client::{Client, ConnectOptions, EventType, GetOptions, PutOptions, WatchOptions};
use tokio::time::{timeout, Instant};

use super::{ownership, Cluster, ClusterError, NodeInfo, View, KEY_PREFIX};
use crate::config::ClusterSettings;
use crate::telemetry;

/// How long one etcd request may take before etcd counts as unreachable.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a start waits for etcd to answer before it fails.
pub const START_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the node reports its load (live tables, CPU) if it changed.
pub const REPORT_INTERVAL: Duration = Duration::from_secs(1);
/// The first pause before a new session after etcd was lost; doubled up to
/// [`RETRY_MAX`].
pub const RETRY_MIN: Duration = Duration::from_millis(100);
/// The longest pause between attempts to reach etcd again.
pub const RETRY_MAX: Duration = Duration::from_secs(1);
/// Most claims made in one round of the session loop (the rest in the next rounds).
pub const CLAIMS_PER_ROUND: usize = 256;
/// Clock ticks per second of `/proc/self/stat` (`USER_HZ`, 100 on Linux).
const USER_HZ: f64 = 100.0;

/// The key of node `name`.
fn node_key(name: &str) -> String {
    format!("{KEY_PREFIX}nodes/{name}")
}

/// The prefix of every node's key.
fn nodes_prefix() -> String {
    format!("{KEY_PREFIX}nodes/")
}

/// An etcd failure as `cluster_unavailable`.
fn lost(e: impl std::fmt::Display) -> ClusterError {
    ClusterError::Unavailable(format!("etcd: {e}"))
}

/// The prefix of every published game version.
pub(super) fn games_prefix() -> String {
    format!("{KEY_PREFIX}games/")
}

/// Runs one etcd request within [`REQUEST_TIMEOUT`].
pub(super) async fn bounded<T>(
    request: impl std::future::Future<Output = Result<T, etcd_client::Error>>,
) -> Result<T, ClusterError> {
    match timeout(REQUEST_TIMEOUT, request).await {
        Ok(Ok(answer)) => Ok(answer),
        Ok(Err(e)) => Err(lost(e)),
        Err(_) => Err(ClusterError::Unavailable(format!(
            "etcd did not answer within {REQUEST_TIMEOUT:?}"
        ))),
    }
}

impl Cluster {
    /// Checks the settings and reaches etcd: fails with `cluster_unavailable` if etcd does not
    /// answer within [`START_TIMEOUT`] (a node does not start without its cluster). The node
    /// registers when [`Cluster::run`] starts.
    pub async fn connect(settings: ClusterSettings) -> Result<Arc<Cluster>, ClusterError> {
        Cluster::check(&settings)?;
        let endpoints: Vec<String> = settings
            .etcd
            .iter()
            .map(|e| e.trim().to_string())
            .filter(|e| !e.is_empty())
            .collect();
        // An etcd member cut off from its leader refuses requests (and ends watches) instead
        // of answering from what may be an old view.
        let options = ConnectOptions::new()
            .with_connect_timeout(REQUEST_TIMEOUT)
            .with_timeout(REQUEST_TIMEOUT)
            .with_require_leader(true);
        let joined = endpoints.join(",");
        let reach = async {
            let mut client = Client::connect(&endpoints, Some(options)).await?;
            client.status().await?;
            Ok::<Client, etcd_client::Error>(client)
        };
        let client = match timeout(START_TIMEOUT, reach).await {
            Ok(Ok(client)) => client,
            Ok(Err(e)) => {
                return Err(ClusterError::Unavailable(format!(
                    "cannot reach etcd at {joined}: {e}"
                )))
            }
            Err(_) => {
                return Err(ClusterError::Unavailable(format!(
                    "etcd at {joined} did not answer within {START_TIMEOUT:?}"
                )))
            }
        };
        Ok(Arc::new(Cluster {
            settings,
            client,
            view: std::sync::Mutex::new(View::default()),
            up: std::sync::atomic::AtomicBool::new(false),
            draining: std::sync::atomic::AtomicBool::new(false),
            wake: tokio::sync::Notify::new(),
            leaving: std::sync::atomic::AtomicBool::new(false),
            games: std::sync::OnceLock::new(),
            lookups: tokio::sync::Semaphore::new(super::route::MAX_OWNER_LOOKUPS),
            control: tokio::sync::Notify::new(),
            rebalance: std::sync::atomic::AtomicBool::new(false),
            placements: std::sync::Mutex::new(std::collections::VecDeque::new()),
        }))
    }

    /// Keeps the node in the cluster until [`Cluster::leave`]: session after session, each
    /// ending when etcd is lost. `live_tables` counts the tables awake here (for the report).
    pub async fn run(self: Arc<Self>, live_tables: impl Fn() -> usize + Send + Sync) {
        let mut pause = RETRY_MIN;
        let mut cpu = CpuMeter::new();
        let mut lease = None;
        while !self.leaving.load(Ordering::Acquire) {
            let started = Instant::now();
            let why = match self.session(&live_tables, &mut cpu, &mut lease).await {
                Ok(()) => break,
                Err(ClusterError::Unavailable(why)) => why,
                Err(e) => e.to_string(),
            };
            let was_up = self.up.swap(false, Ordering::AcqRel);
            telemetry::cluster_up(false);
            if was_up {
                tracing::warn!(node = self.node(), "lost etcd ({why}); serving what this node has, refusing placement changes, reconnecting");
                telemetry::cluster_lost();
            } else {
                tracing::debug!(node = self.node(), "etcd still unreachable: {why}");
            }
            self.lock().lost = Some(why);
            // A session that held a while starts over quickly; one that failed at once waits
            // longer each time.
            if started.elapsed() > RETRY_MAX * 4 {
                pause = RETRY_MIN;
            }
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = self.wake.notified() => {}
            }
            pause = (pause * 2).min(RETRY_MAX);
        }
    }

    /// Leaves the cluster: the session loop ends and the node's lease is revoked, so it is
    /// gone from the members at once (its tables stay its own).
    pub async fn leave(&self) {
        self.leaving.store(true, Ordering::Release);
        self.wake.notify_one();
    }

    /// One session: lease, registration, the members, then keepalive, watch, reports and
    /// claims until etcd is lost (`Err`) or the node leaves (`Ok`, after revoking the lease).
    ///
    /// `previous` is the lease of the session before, revoked (if etcd still has it) once the
    /// node's key is under the new one.
    async fn session(
        &self,
        live_tables: &(impl Fn() -> usize + Send + Sync),
        cpu: &mut CpuMeter,
        previous: &mut Option<i64>,
    ) -> Result<(), ClusterError> {
        let mut client = self.client.clone();
        let ttl = i64::try_from(self.settings.lease_secs).unwrap_or(i64::MAX);
        // An operator's requests (drain, rebalance) and the cluster's secret, before the node
        // publishes itself (a node that restarts drained says so from the start).
        let control_from = self.read_control(&mut client).await? + 1;
        let lease = bounded(client.lease_grant(ttl, None)).await?.id();
        let mut info = self.info(live_tables(), cpu.sample());
        self.put_node(&mut client, lease, &info).await?;
        if let Some(old) = previous.replace(lease) {
            // Best effort: an old lease etcd still keeps (it was down) would expire anyway.
            let _ = bounded(client.lease_revoke(old)).await;
        }
        let prefix = nodes_prefix();
        let listed =
            bounded(client.get(prefix.clone(), Some(GetOptions::new().with_prefix()))).await?;
        let revision = listed.header().map_or(0, |h| h.revision());
        let mut members = BTreeMap::new();
        for kv in listed.kvs() {
            if let Ok(node) = serde_json::from_slice::<NodeInfo>(kv.value()) {
                members.insert(node.name.clone(), node);
            }
        }
        let watch = WatchOptions::new()
            .with_prefix()
            .with_start_revision(revision + 1);
        let mut watch = bounded(client.watch(prefix.clone(), Some(watch))).await?;
        // The catalogue: every version published so far (what this node missed while away),
        // then the new ones as they come.
        let published =
            bounded(client.get(games_prefix(), Some(GetOptions::new().with_prefix()))).await?;
        for kv in published.kvs() {
            self.game_published(kv.key(), kv.value());
        }
        let games_from = published.header().map_or(0, |h| h.revision()) + 1;
        let games_watch = WatchOptions::new()
            .with_prefix()
            .with_start_revision(games_from);
        let mut games = bounded(client.watch(games_prefix(), Some(games_watch))).await?;
        // The owners of the tables, then their changes as they come.
        let (owners, owners_from) = ownership::read_owners(&mut client).await?;
        let owners_watch = WatchOptions::new()
            .with_prefix()
            .with_start_revision(owners_from + 1);
        let mut tables =
            bounded(client.watch(ownership::tables_prefix(), Some(owners_watch))).await?;
        let control_watch = WatchOptions::new()
            .with_prefix()
            .with_start_revision(control_from);
        let mut control =
            bounded(client.watch(super::control::control_prefix(), Some(control_watch))).await?;
        let (mut keeper, mut kept) = bounded(client.lease_keep_alive(lease)).await?;
        {
            let mut view = self.lock();
            view.members = members;
            view.lost = None;
            view.owners = owners;
            view.owners_loaded = true;
        }
        self.up.store(true, Ordering::Release);
        telemetry::cluster_up(true);
        tracing::info!(
            node = self.node(),
            lease,
            ttl,
            "registered in etcd; {} members",
            self.lock().members.len()
        );
        let renew_every = Duration::from_millis((self.settings.lease_secs * 1000 / 3).max(500));
        let mut renew = tokio::time::interval(renew_every);
        let mut report = tokio::time::interval(REPORT_INTERVAL);
        let mut last_renewed = Instant::now();
        let lease_span = Duration::from_secs(self.settings.lease_secs);
        loop {
            if self.leaving.load(Ordering::Acquire) {
                let _ = bounded(client.lease_revoke(lease)).await;
                self.up.store(false, Ordering::Release);
                tracing::info!(node = self.node(), "left the cluster");
                return Ok(());
            }
            self.claim_pending(&mut client).await?;
            tokio::select! {
                _ = renew.tick() => {
                    // No answer for a whole lease: etcd has dropped the node meanwhile.
                    if last_renewed.elapsed() > lease_span {
                        return Err(ClusterError::Unavailable("the lease was not renewed in time".into()));
                    }
                    keeper.keep_alive().await.map_err(lost)?;
                }
                answer = kept.message() => match answer.map_err(lost)? {
                    Some(answer) if answer.ttl() > 0 => last_renewed = Instant::now(),
                    Some(_) => return Err(ClusterError::Unavailable("the node's lease expired".into())),
                    None => return Err(ClusterError::Unavailable("the keepalive stream ended".into())),
                },
                event = watch.message() => match event.map_err(lost)? {
                    Some(answer) if answer.canceled() => {
                        return Err(ClusterError::Unavailable(format!("the watch was canceled: {}", answer.cancel_reason())));
                    }
                    Some(answer) => self.apply(answer.events()),
                    None => return Err(ClusterError::Unavailable("the watch stream ended".into())),
                },
                event = games.message() => match event.map_err(lost)? {
                    Some(answer) if answer.canceled() => {
                        return Err(ClusterError::Unavailable(format!("the catalogue's watch was canceled: {}", answer.cancel_reason())));
                    }
                    Some(answer) => {
                        for event in answer.events() {
                            if let (EventType::Put, Some(kv)) = (event.event_type(), event.kv()) {
                                self.game_published(kv.key(), kv.value());
                            }
                        }
                    }
                    None => return Err(ClusterError::Unavailable("the catalogue's watch ended".into())),
                },
                event = tables.message() => match event.map_err(lost)? {
                    Some(answer) if answer.canceled() => {
                        return Err(ClusterError::Unavailable(format!("the owners' watch was canceled: {}", answer.cancel_reason())));
                    }
                    Some(answer) => self.owners_changed(answer.events()),
                    None => return Err(ClusterError::Unavailable("the owners' watch ended".into())),
                },
                event = control.message() => match event.map_err(lost)? {
                    Some(answer) if answer.canceled() => {
                        return Err(ClusterError::Unavailable(format!("the control watch was canceled: {}", answer.cancel_reason())));
                    }
                    Some(answer) => {
                        self.control_events(answer.events());
                        // A change of draining is published at once.
                        let now = self.info(live_tables(), cpu.sample());
                        if now.draining != info.draining {
                            self.put_node(&mut client, lease, &now).await?;
                            info = now;
                        }
                    }
                    None => return Err(ClusterError::Unavailable("the control watch ended".into())),
                },
                _ = report.tick() => {
                    let now = self.info(live_tables(), cpu.sample());
                    if now != info {
                        self.put_node(&mut client, lease, &now).await?;
                        info = now;
                    }
                }
                _ = self.wake.notified() => {}
            }
        }
    }

    /// This node as it publishes itself.
    fn info(&self, live_tables: usize, cpu: f64) -> NodeInfo {
        NodeInfo {
            name: self.settings.node.clone(),
            tcp: self.settings.advertise_tcp.clone(),
            http: self.settings.advertise_http.clone(),
            live_tables,
            // Two decimals: a report is written only when something changed.
            cpu: (cpu * 100.0).round() / 100.0,
            draining: self.draining(),
        }
    }

    async fn put_node(
        &self,
        client: &mut Client,
        lease: i64,
        info: &NodeInfo,
    ) -> Result<(), ClusterError> {
        let value = serde_json::to_vec(info).expect("a node's info is JSON");
        let options = PutOptions::new().with_lease(lease);
        bounded(client.put(node_key(&info.name), value, Some(options))).await?;
        Ok(())
    }

    /// Applies watched changes of `nodes/` to the view.
    fn apply(&self, events: &[etcd_client::Event]) {
        let mut view = self.lock();
        for event in events {
            let Some(kv) = event.kv() else { continue };
            let key = String::from_utf8_lossy(kv.key());
            let Some(name) = key.strip_prefix(&nodes_prefix()) else {
                continue;
            };
            match event.event_type() {
                EventType::Put => match serde_json::from_slice::<NodeInfo>(kv.value()) {
                    Ok(node) => {
                        if !view.members.contains_key(name) {
                            tracing::info!(node = name, "a node joined the cluster");
                        }
                        view.members.insert(name.to_string(), node);
                    }
                    Err(e) => tracing::warn!(node = name, "unreadable member record: {e}"),
                },
                EventType::Delete => {
                    if view.members.remove(name).is_some() {
                        tracing::info!(
                            node = name,
                            "a node left the cluster (or its lease expired)"
                        );
                    }
                }
            }
        }
    }

    /// Claims the tables this node serves that it has not claimed yet (a round of at most
    /// [`CLAIMS_PER_ROUND`], oldest first); one this node owns already is done, one another
    /// node owns is logged (it cannot happen for a fresh id) and dropped.
    async fn claim_pending(&self, client: &mut Client) -> Result<(), ClusterError> {
        for _ in 0..CLAIMS_PER_ROUND {
            let Some(table) = self.lock().pending.front().cloned() else {
                return Ok(());
            };
            match ownership::claim(client, &table, self.node()).await {
                Ok(ownership) => {
                    tracing::debug!(%table, revision = ownership.revision, "claimed the table");
                }
                Err(ClusterError::Owned { owner, .. }) if owner == self.node() => {}
                Err(ClusterError::Owned { owner, .. }) => {
                    tracing::error!(%table, %owner, "this node serves a table that etcd says another node owns");
                }
                Err(e) => return Err(e),
            }
            self.lock().pending.pop_front();
        }
        if !self.lock().pending.is_empty() {
            self.wake.notify_one();
        }
        Ok(())
    }
}

/// The process's CPU use between samples, from `/proc/self/stat` (0 where there is none).
struct CpuMeter {
    last: Option<(Instant, u64)>,
}

impl CpuMeter {
    fn new() -> CpuMeter {
        CpuMeter {
            last: ticks().map(|t| (Instant::now(), t)),
        }
    }

    /// Cores busy on average since the last sample.
    fn sample(&mut self) -> f64 {
        let Some(now_ticks) = ticks() else { return 0.0 };
        let now = Instant::now();
        let cores = match self.last {
            Some((then, then_ticks)) if now > then => {
                let busy = now_ticks.saturating_sub(then_ticks) as f64 / USER_HZ;
                busy / (now - then).as_secs_f64()
            }
            _ => 0.0,
        };
        self.last = Some((now, now_ticks));
        cores
    }
}

/// User + system clock ticks of this process so far.
fn ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) may hold spaces: count from after its closing ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 (utime, stime) are the 12th and 13th after the name.
    let user: u64 = fields.get(11)?.parse().ok()?;
    let system: u64 = fields.get(12)?.parse().ok()?;
    Some(user + system)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::ownership::table_key;
    use ggs_tests::etcd::Etcd;

    fn settings(etcd: &Etcd, node: &str) -> ClusterSettings {
        ClusterSettings {
            lease_secs: 2,
            ..ClusterSettings::new(vec![etcd.url()], node)
        }
    }

    /// A node registered in `etcd` (its session loop running), and the loop's task.
    async fn node(etcd: &Etcd, name: &str) -> (Arc<Cluster>, tokio::task::JoinHandle<()>) {
        let cluster = Cluster::connect(settings(etcd, name)).await.unwrap();
        let run = tokio::spawn(cluster.clone().run(|| 0));
        let deadline = Instant::now() + Duration::from_secs(10);
        while !cluster.available() {
            assert!(Instant::now() < deadline, "{name} did not register");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        (cluster, run)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_table_is_claimed_once_and_moved_only_by_its_current_revision() {
        let etcd = Etcd::start();
        let (a, _run_a) = node(&etcd, "a").await;
        let (b, _run_b) = node(&etcd, "b").await;
        let table = "7f1c2d4e-0000-4000-8000-000000000001";
        let owned = a.claim(table).await.unwrap();
        assert_eq!(owned.owner, "a");
        // A second claim, by another node or the same, is refused and names the owner.
        for other in [&b, &a] {
            match other.claim(table).await {
                Err(ClusterError::Owned {
                    owner, revision, ..
                }) => {
                    assert_eq!((owner.as_str(), revision), ("a", owned.revision))
                }
                other => panic!("a second claim: {other:?}"),
            }
        }
        assert_eq!(b.owner(table).await.unwrap(), Some(owned.clone()));
        assert_eq!(etcd.get(&table_key(table)).as_deref(), Some("a"));
        // The move by the revision read takes it; a move by the same (now old) revision fails.
        let moved = b.move_owner(table, owned.revision, "b").await.unwrap();
        assert_eq!(moved.owner, "b");
        assert!(moved.revision > owned.revision);
        match a.move_owner(table, owned.revision, "a").await {
            Err(e @ ClusterError::Fenced { .. }) => {
                assert_eq!(e.code(), "ownership_changed");
                assert!(e.to_string().contains("now b"), "{e}");
            }
            other => panic!("a move on an old revision: {other:?}"),
        }
        assert_eq!(a.owner(table).await.unwrap(), Some(moved));
        assert_eq!(a.owner("no-such-table").await.unwrap(), None);
        // What a claim costs (one transaction, one raft write).
        const CLAIMS: usize = 200;
        let started = Instant::now();
        for n in 0..CLAIMS {
            a.claim(&format!("timed-{n}")).await.unwrap();
        }
        eprintln!(
            "figure: {CLAIMS} claims one after another: {:?} each",
            started.elapsed() / CLAIMS as u32
        );
        let owners = a.owners().await.unwrap();
        assert_eq!(owners.get(table).map(String::as_str), Some("b"));
        // Read in pages, every page at one revision, the owners are the same.
        let (paged, _) = ownership::read_owners_paged(&mut a.client.clone(), 7)
            .await
            .unwrap();
        assert_eq!(paged, owners);
        assert!(paged.len() > CLAIMS, "{}", paged.len());
        // The owner cache follows: `a` knows the table is b's, `b` that it is not elsewhere.
        let deadline = Instant::now() + Duration::from_secs(5);
        while a.owned_elsewhere(table).as_deref() != Some("b") {
            assert!(Instant::now() < deadline, "{:?}", a.owned_elsewhere(table));
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(b.owned_elsewhere(table), None);
        assert_eq!(a.owned_elsewhere("timed-0"), None);
        assert_eq!(b.owned_elsewhere("timed-0").as_deref(), Some("a"));
        // Each sees both members.
        let names = |c: &Cluster| -> Vec<String> {
            c.members().unwrap().into_iter().map(|m| m.name).collect()
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        while names(&a) != ["a", "b"] || names(&b) != ["a", "b"] {
            assert!(Instant::now() < deadline, "{:?} {:?}", names(&a), names(&b));
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn without_etcd_changes_are_refused_and_a_start_fails_clearly() {
        let mut etcd = Etcd::start();
        let (a, _run) = node(&etcd, "a").await;
        etcd.kill9();
        let deadline = Instant::now() + Duration::from_secs(10);
        while a.available() {
            assert!(Instant::now() < deadline, "etcd's loss was not noticed");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let refused = a.move_owner("t", 1, "a").await.unwrap_err();
        assert_eq!(refused.code(), "cluster_unavailable", "{refused}");
        assert_eq!(
            a.claim("t").await.unwrap_err().code(),
            "cluster_unavailable"
        );
        assert_eq!(a.members().unwrap_err().code(), "cluster_unavailable");
        // Placement does not wait for etcd: here.
        assert_eq!(a.place(0).node, "a");
        let started = Instant::now();
        let failed = Cluster::connect(settings(&etcd, "b")).await.err().unwrap();
        assert_eq!(failed.code(), "cluster_unavailable");
        assert!(failed.to_string().contains(&etcd.url()), "{failed}");
        assert!(started.elapsed() <= START_TIMEOUT + Duration::from_secs(1));
        // Back: the node registers again, and what it created meanwhile is claimed.
        a.serving("made-while-etcd-was-down".into());
        etcd.restart();
        let deadline = Instant::now() + Duration::from_secs(15);
        while !a.available() || etcd.get(&table_key("made-while-etcd-was-down")).is_none() {
            assert!(Instant::now() < deadline, "the node did not come back");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(
            etcd.get(&table_key("made-while-etcd-was-down")).as_deref(),
            Some("a")
        );
        assert!(etcd.get(&node_key("a")).is_some());
    }

    #[test]
    fn bad_settings_are_refused() {
        let ok = ClusterSettings::new(vec!["http://127.0.0.1:2379".into()], "node-1.eu");
        assert!(Cluster::check(&ok).is_ok());
        for (bad, why) in [
            (
                ClusterSettings {
                    node: String::new(),
                    ..ok.clone()
                },
                "a node name",
            ),
            (
                ClusterSettings {
                    node: "a/b".into(),
                    ..ok.clone()
                },
                "a node name",
            ),
            (
                ClusterSettings {
                    node: "x".repeat(64),
                    ..ok.clone()
                },
                "a node name",
            ),
            (
                ClusterSettings {
                    etcd: vec![" ".into()],
                    ..ok.clone()
                },
                "no etcd endpoint",
            ),
            (
                ClusterSettings {
                    lease_secs: 1,
                    ..ok.clone()
                },
                "at least 2 s",
            ),
        ] {
            let e = Cluster::check(&bad).unwrap_err();
            assert_eq!(e.code(), "bad_cluster_settings");
            assert!(e.to_string().contains(why), "{e}");
        }
    }

    #[test]
    fn cpu_ticks_are_read() {
        assert!(ticks().is_some(), "/proc/self/stat has utime and stime");
        let mut meter = CpuMeter::new();
        let spin = Instant::now();
        while spin.elapsed() < Duration::from_millis(50) {
            std::hint::black_box(0u64);
        }
        assert!(meter.sample() >= 0.0);
    }
}
