//! Prometheus metrics: the names, the recorder, and the few helpers the server calls.
//!
//! The server records with the `metrics` macros; `metrics-exporter-prometheus` renders them on
//! `GET /metrics`. Gauges of things the server can count when asked (tables, players) are set
//! at scrape time.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use ggs_js::ScriptError;
use metrics::{counter, gauge, Counter};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Open connections, by `transport` (`tcp`, `ws`). Gauge.
pub const CONNECTIONS: &str = "ggs_connections";
/// Connections accepted since start, by `transport`. Counter.
pub const CONNECTIONS_TOTAL: &str = "ggs_connections_total";
/// Players connected now (sessions of either transport). Gauge, set at scrape time.
pub const PLAYERS: &str = "ggs_players_connected";
/// Bytes read from clients, by `transport`. Counter.
pub const BYTES_IN: &str = "ggs_bytes_in_total";
/// Bytes written to clients, by `transport`. Counter.
pub const BYTES_OUT: &str = "ggs_bytes_out_total";
/// Tables awake: an actor with its script runtime loaded. Gauge, set at scrape time.
pub const TABLES_LIVE: &str = "ggs_tables_live";
/// Tables on disk without a runtime loaded: hibernated, or not loaded since the start (the next
/// event loads either from the store). Gauge, set at scrape time.
pub const TABLES_HIBERNATED: &str = "ggs_tables_hibernated";
/// Times a table hibernated (dropped its runtime). Counter.
pub const HIBERNATIONS: &str = "ggs_table_hibernations_total";
/// Times a hibernated table was woken by an event (rebuilt from committed state). Counter.
pub const WAKES: &str = "ggs_table_wakes_total";
/// Tables in the store. Gauge, set at scrape time.
pub const TABLES_ON_DISK: &str = "ggs_tables_on_disk";
/// Events run through a table's script (commands, joins, leaves, defines, ticks, timers). Counter.
pub const EVENTS: &str = "ggs_events_total";
/// Events per second over the last sampling interval. Gauge.
pub const EVENTS_PER_SECOND: &str = "ggs_events_per_second";
/// Events whose script failed, by `code` (`script_error`, `no_script`, limits...). Counter.
pub const SCRIPT_ERRORS: &str = "ggs_script_errors_total";
/// Events aborted at their CPU deadline. Counter.
pub const SCRIPT_TIMEOUTS: &str = "ggs_script_timeouts_total";
/// Time from an event's submission to the committer until its messages are released. Histogram.
pub const COMMIT_LATENCY: &str = "ggs_commit_latency_seconds";

/// The server process's resident memory (RSS), in bytes, read from `/proc/self/status` at
/// scrape time; absent where the system has no `/proc`. Gauge.
pub const RESIDENT_MEMORY: &str = "ggs_resident_memory_bytes";
/// 1 while this node of a cluster is registered in etcd, 0 while etcd is lost. Gauge (only
/// with cluster settings).
pub const CLUSTER_UP: &str = "ggs_cluster_up";
/// Times this node lost etcd. Counter.
pub const CLUSTER_LOST: &str = "ggs_cluster_lost_total";
/// Members of the cluster as this node sees them. Gauge, set at scrape time.
pub const CLUSTER_MEMBERS: &str = "ggs_cluster_members";
/// Tables awake on each member, by `node`, as it published. Gauge, set at scrape time.
pub const CLUSTER_NODE_TABLES: &str = "ggs_cluster_node_live_tables";
/// CPU use of each member in cores, by `node`, as it published. Gauge, set at scrape time.
pub const CLUSTER_NODE_CPU: &str = "ggs_cluster_node_cpu";
/// 1 for each member that drains, by `node`. Gauge, set at scrape time.
pub const CLUSTER_NODE_DRAINING: &str = "ggs_cluster_node_draining";
/// New tables placed, by `node` (here or the node placement chose) and `reason`. Counter.
pub const PLACEMENTS: &str = "ggs_placements_total";
/// Tables this node handed to other nodes. Counter.
pub const HANDOFFS: &str = "ggs_handoffs_total";
/// Handoffs that did not move their table, by `code`. Counter.
pub const HANDOFF_FAILURES: &str = "ggs_handoff_failures_total";
/// How long a handed-off table took no input, in seconds. Histogram (the commit buckets).
pub const HANDOFF_PAUSE: &str = "ggs_handoff_pause_seconds";

/// Bucket bounds of [`COMMIT_LATENCY`], in seconds: 50 µs to 1 s.
const COMMIT_BUCKETS: &[f64] = &[
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0,
];
/// How often [`EVENTS_PER_SECOND`] is recomputed.
pub const RATE_INTERVAL: Duration = Duration::from_secs(1);

/// Events counted since start, for [`EVENTS_PER_SECOND`] (metrics counters cannot be read back).
static EVENT_COUNT: AtomicU64 = AtomicU64::new(0);

/// Installs the process-wide Prometheus recorder once and returns its handle. Later calls
/// (several servers in one process, as in tests) share it. If another recorder was installed
/// first, metrics go there and the handle renders nothing of them.
pub fn install() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(COMMIT_LATENCY.into()), COMMIT_BUCKETS)
                .and_then(|b| {
                    b.set_buckets_for_metric(Matcher::Full(HANDOFF_PAUSE.into()), COMMIT_BUCKETS)
                })
                .expect("the bucket list is not empty");
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was already installed; /metrics stays empty");
            }
            describe();
            handle
        })
        .clone()
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_gauge!(CONNECTIONS, "Open client connections");
    describe_counter!(CONNECTIONS_TOTAL, "Client connections accepted");
    describe_gauge!(PLAYERS, "Players connected");
    describe_counter!(BYTES_IN, Unit::Bytes, "Bytes read from clients");
    describe_counter!(BYTES_OUT, Unit::Bytes, "Bytes written to clients");
    describe_gauge!(
        TABLES_LIVE,
        "Tables awake, with their script runtime loaded"
    );
    describe_gauge!(
        TABLES_HIBERNATED,
        "Tables on disk without a runtime loaded (hibernated or not loaded yet)"
    );
    describe_counter!(HIBERNATIONS, "Times a table hibernated");
    describe_counter!(WAKES, "Times a hibernated table was woken");
    describe_gauge!(TABLES_ON_DISK, "Tables in the store");
    describe_counter!(EVENTS, "Events run through table scripts");
    describe_gauge!(EVENTS_PER_SECOND, "Events per second, last interval");
    describe_counter!(SCRIPT_ERRORS, "Events whose script failed, by code");
    describe_counter!(SCRIPT_TIMEOUTS, "Events aborted at their CPU deadline");
    describe_gauge!(
        RESIDENT_MEMORY,
        Unit::Bytes,
        "Resident memory of the server process"
    );
    describe_gauge!(CLUSTER_UP, "1 while this node is registered in etcd");
    describe_counter!(CLUSTER_LOST, "Times this node lost etcd");
    describe_gauge!(CLUSTER_MEMBERS, "Members of the cluster this node sees");
    describe_gauge!(CLUSTER_NODE_TABLES, "Tables awake on each member, by node");
    describe_gauge!(CLUSTER_NODE_CPU, "CPU use of each member in cores, by node");
    describe_gauge!(
        CLUSTER_NODE_DRAINING,
        "1 for each member that drains, by node"
    );
    describe_counter!(PLACEMENTS, "New tables placed, by node chosen and reason");
    describe_counter!(HANDOFFS, "Tables this node handed to other nodes");
    describe_counter!(
        HANDOFF_FAILURES,
        "Handoffs that did not move their table, by code"
    );
    describe_histogram!(
        HANDOFF_PAUSE,
        Unit::Seconds,
        "How long a handed-off table took no input"
    );
    describe_histogram!(
        COMMIT_LATENCY,
        Unit::Seconds,
        "From submit to the committer until the event's messages are released"
    );
}

/// Counts one event run through a script, and its failure if it failed.
pub fn event(error: Option<&ScriptError>) {
    EVENT_COUNT.fetch_add(1, Ordering::Relaxed);
    counter!(EVENTS).increment(1);
    match error {
        None => {}
        Some(ScriptError::Timeout(_) | ScriptError::Abandoned(_)) => {
            counter!(SCRIPT_TIMEOUTS).increment(1)
        }
        Some(e) => counter!(SCRIPT_ERRORS, "code" => e.code()).increment(1),
    }
}

/// Recomputes [`EVENTS_PER_SECOND`] every [`RATE_INTERVAL`], forever.
pub async fn sample_event_rate() {
    gauge!(EVENTS_PER_SECOND).set(0.0);
    let mut last = EVENT_COUNT.load(Ordering::Relaxed);
    let mut interval = tokio::time::interval(RATE_INTERVAL);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    interval.tick().await;
    loop {
        interval.tick().await;
        let now = EVENT_COUNT.load(Ordering::Relaxed);
        let rate = now.saturating_sub(last) as f64 / RATE_INTERVAL.as_secs_f64();
        gauge!(EVENTS_PER_SECOND).set(rate);
        last = now;
    }
}

/// Byte counters of one transport, looked up once per connection.
pub fn bytes(transport: &'static str) -> (Counter, Counter) {
    (
        counter!(BYTES_IN, "transport" => transport),
        counter!(BYTES_OUT, "transport" => transport),
    )
}

/// Held for the life of one connection: counts it in [`CONNECTIONS`] and [`CONNECTIONS_TOTAL`].
pub struct ConnectionGuard(&'static str);

impl ConnectionGuard {
    /// Counts a new connection of `transport` (`tcp` or `ws`).
    pub fn open(transport: &'static str) -> Self {
        counter!(CONNECTIONS_TOTAL, "transport" => transport).increment(1);
        gauge!(CONNECTIONS, "transport" => transport).increment(1.0);
        ConnectionGuard(transport)
    }
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        gauge!(CONNECTIONS, "transport" => self.0).decrement(1.0);
    }
}

/// A table hibernated.
pub fn hibernated() {
    counter!(HIBERNATIONS).increment(1);
}

/// A hibernated table woke.
pub fn woken() {
    counter!(WAKES).increment(1);
}

/// Sets the gauges counted at scrape time: tables awake, tables on disk (those of them not
/// awake are hibernated), players, and the process's resident memory.
pub fn set_scrape_gauges(tables_live: usize, tables_on_disk: usize, players: u64) {
    gauge!(TABLES_LIVE).set(tables_live as f64);
    gauge!(TABLES_HIBERNATED).set(tables_on_disk.saturating_sub(tables_live) as f64);
    gauge!(TABLES_ON_DISK).set(tables_on_disk as f64);
    gauge!(PLAYERS).set(players as f64);
    if let Some(bytes) = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| resident_bytes(&status))
    {
        gauge!(RESIDENT_MEMORY).set(bytes as f64);
    }
}

/// The resident set size in a `/proc/<pid>/status` text (its `VmRSS:  N kB` line), in bytes.
fn resident_bytes(status: &str) -> Option<u64> {
    let line = status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?;
    let kib = line.trim().strip_suffix("kB")?.trim().parse::<u64>().ok()?;
    Some(kib * 1024)
}

/// Whether this node of a cluster is registered in etcd.
pub fn cluster_up(up: bool) {
    gauge!(CLUSTER_UP).set(if up { 1.0 } else { 0.0 });
}

/// This node lost etcd.
pub fn cluster_lost() {
    counter!(CLUSTER_LOST).increment(1);
}

/// A new table was placed on `node` for `reason`.
pub fn placed(node: &str, reason: &'static str) {
    counter!(PLACEMENTS, "node" => node.to_string(), "reason" => reason).increment(1);
}

/// Counts a table handed to another node, which took no input for `paused` seconds.
pub fn handed_off(paused: f64) {
    counter!(HANDOFFS).increment(1);
    metrics::histogram!(HANDOFF_PAUSE).record(paused);
}

/// Counts a handoff that did not move its table.
pub fn handoff_failed(code: &'static str) {
    counter!(HANDOFF_FAILURES, "code" => code).increment(1);
}

/// Sets the cluster's gauges at scrape time: each member's `(name, live tables, cpu,
/// draining)`.
pub fn set_cluster_gauges<'a>(members: impl ExactSizeIterator<Item = (&'a str, usize, f64, bool)>) {
    gauge!(CLUSTER_MEMBERS).set(members.len() as f64);
    for (node, tables, cpu, draining) in members {
        let node = node.to_string();
        gauge!(CLUSTER_NODE_TABLES, "node" => node.clone()).set(tables as f64);
        gauge!(CLUSTER_NODE_CPU, "node" => node.clone()).set(cpu);
        gauge!(CLUSTER_NODE_DRAINING, "node" => node).set(if draining { 1.0 } else { 0.0 });
    }
}

#[cfg(test)]
mod tests {
    use super::resident_bytes;

    #[test]
    fn resident_memory_is_read_from_the_vmrss_line() {
        let status = "Name:\tggs\nVmPeak:\t  99 kB\nVmRSS:\t   12345 kB\nThreads:\t4\n";
        assert_eq!(resident_bytes(status), Some(12345 * 1024));
        assert_eq!(resident_bytes("Name:\tggs\n"), None);
        assert_eq!(resident_bytes("VmRSS:\t12 MB\n"), None);
    }
}
