//! Group commit and the output gate.
//!
//! Tables hand each event's store changes and outgoing messages to the committer thread. It
//! applies every transaction that arrived while the previous flush ran as one sled batch,
//! flushes once, and only then releases their messages, in arrival order. So no message leaves
//! before the writes that caused it are on disk, and one fsync covers many events across tables.
//!
//! A failed write or flush is fatal: the committer stops without sending the group's
//! messages and reports the error; the process exits and a restart recovers the committed state.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::{unbounded, Receiver, Sender};
use hdrhistogram::Histogram;
use tokio::sync::oneshot;

use crate::config::Durability;
use crate::outbox::Outbox;
use crate::protocol::message::ServerMessage;
use crate::store::{Store, StoreError, Txn};

/// How often the store is flushed in the background under [`Durability::Relaxed`].
pub const RELAXED_FLUSH_EVERY: std::time::Duration = std::time::Duration::from_millis(200);

/// Most events committed by one flush.
pub const MAX_GROUP: usize = 8192;

/// A message released once its event is durable.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The recipient's queue.
    pub outbox: Outbox,
    /// The message.
    pub message: ServerMessage,
}

/// One event's transaction and the messages it caused.
#[derive(Debug, Default)]
pub struct Commit {
    /// Store changes; may be empty (the messages still wait their turn, keeping order).
    pub txn: Txn,
    /// Messages to release after the flush.
    pub deliveries: Vec<Delivery>,
    /// Told once the commit is durable and its messages are queued.
    pub done: Option<oneshot::Sender<()>>,
}

/// The handle tables use to submit commits.
#[derive(Clone)]
pub struct Committer {
    tx: Sender<(Instant, Commit)>,
    stats: Arc<CommitStats>,
}

impl Committer {
    /// Starts the committer thread over `store`. The receiver yields the error that stopped it.
    pub fn start(
        store: Store,
        durability: Durability,
    ) -> std::io::Result<(Committer, oneshot::Receiver<StoreError>)> {
        let (tx, rx) = unbounded();
        let (fatal_tx, fatal_rx) = oneshot::channel();
        let stats = Arc::new(CommitStats::default());
        let thread_stats = stats.clone();
        std::thread::Builder::new()
            .name("ggs-commit".into())
            .spawn(move || {
                if let Err(e) = run(store, rx, &thread_stats, durability) {
                    tracing::error!("commit failed, stopping: {e}");
                    let _ = fatal_tx.send(e);
                }
            })?;
        Ok((Committer { tx, stats }, fatal_rx))
    }

    /// Queues a commit. If the committer has stopped, the commit and its messages are dropped.
    pub fn submit(&self, commit: Commit) {
        let _ = self.tx.send((Instant::now(), commit));
    }

    /// Latency figures of the commits so far.
    pub fn stats(&self) -> &CommitStats {
        &self.stats
    }
}

fn run(
    store: Store,
    rx: Receiver<(Instant, Commit)>,
    stats: &CommitStats,
    durability: Durability,
) -> Result<(), StoreError> {
    let mut group = Vec::new();
    let mut last_flush = Instant::now();
    let latency = metrics::histogram!(crate::telemetry::COMMIT_LATENCY);
    while let Ok(first) = rx.recv() {
        group.push(first);
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(next) => group.push(next),
                Err(_) => break,
            }
        }
        if group.iter().any(|(_, c)| !c.txn.is_empty()) {
            store.apply(group.iter().map(|(_, c)| &c.txn))?;
            if durability == Durability::Strict || last_flush.elapsed() >= RELAXED_FLUSH_EVERY {
                store.flush()?;
                last_flush = Instant::now();
                stats.flushes.fetch_add(1, Ordering::Relaxed);
            }
        }
        for (enqueued, commit) in group.drain(..) {
            for d in commit.deliveries {
                d.outbox.deliver(d.message);
            }
            if let Some(done) = commit.done {
                let _ = done.send(());
            }
            stats.record(enqueued.elapsed());
            latency.record(enqueued.elapsed());
        }
    }
    store.flush()
}

/// Slowest commit latency the histogram tells apart (longer ones count as this), in µs: 1 hour.
const LATENCY_MAX_US: u64 = 3_600_000_000;
/// Significant decimal digits the latency histogram keeps (1 % resolution).
const LATENCY_DIGITS: u8 = 2;

/// Commit latency (from submit to release) as a histogram, plus counters.
pub struct CommitStats {
    latency_us: Mutex<Histogram<u64>>,
    /// Commits released.
    pub commits: AtomicU64,
    /// Flushes (fsyncs) done.
    pub flushes: AtomicU64,
}

impl Default for CommitStats {
    fn default() -> Self {
        CommitStats {
            latency_us: Mutex::new(
                Histogram::new_with_bounds(1, LATENCY_MAX_US, LATENCY_DIGITS)
                    .expect("valid histogram bounds"),
            ),
            commits: AtomicU64::new(0),
            flushes: AtomicU64::new(0),
        }
    }
}

impl CommitStats {
    fn record(&self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1);
        self.latencies().saturating_record(us);
        self.commits.fetch_add(1, Ordering::Relaxed);
    }

    fn latencies(&self) -> std::sync::MutexGuard<'_, Histogram<u64>> {
        self.latency_us.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The latency under which a fraction `q` (0..=1) of commits completed, within about 1 %.
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        let latencies = self.latencies();
        (!latencies.is_empty()).then(|| Duration::from_micros(latencies.value_at_quantile(q)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_come_from_the_recorded_latencies() {
        let stats = CommitStats::default();
        for _ in 0..99 {
            stats.record(Duration::from_micros(100));
        }
        stats.record(Duration::from_millis(50));
        let p50 = stats.quantile(0.5).unwrap();
        let p100 = stats.quantile(1.0).unwrap();
        assert!(
            p50 >= Duration::from_micros(100) && p50 < Duration::from_micros(110),
            "{p50:?}"
        );
        assert!(
            p100 >= Duration::from_millis(50) && p100 < Duration::from_millis(55),
            "{p100:?}"
        );
    }

    #[test]
    fn messages_are_released_only_after_the_flush() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (committer, _fatal) = Committer::start(store.clone(), Durability::Strict).unwrap();
        let (outbox, mut rx, _) = Outbox::new(8);
        let mut txn = Txn::default();
        txn.set_script("6f1c2b1e-0000-4000-8000-000000000001", "x");
        let (done, done_rx) = oneshot::channel();
        committer.submit(Commit {
            txn,
            deliveries: vec![Delivery {
                outbox,
                message: ServerMessage::new("a", "b"),
            }],
            done: Some(done),
        });
        done_rx.blocking_recv().unwrap();
        assert_eq!(rx.try_recv().unwrap().command.as_ref(), "a");
        assert!(committer.stats().flushes.load(Ordering::Relaxed) >= 1);
    }
}
