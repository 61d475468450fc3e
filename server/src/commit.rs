//! Group commit and the output gate.
//!
//! Tables hand each event's store changes and outgoing messages to the committer thread. It
//! applies every transaction that arrived while the previous flush ran as one sled batch,
//! flushes once, and only then releases their messages, in arrival order. So no message leaves
//! before the writes that caused it are on disk, and one fsync covers many events across tables.
//!
//! The same gate holds for the application: a commit's emits (`GGS.emit`) are handed to its
//! [`EmitHandler`] right after the commit's messages, so the handler sees an emit only once its
//! event is durable, once, in commit order; a failed or rolled-back event has no commit, hence
//! no emits. The handler runs on its own thread behind a bounded queue ([`EMIT_QUEUE`]): the
//! committer never waits for it (a handler that far behind loses the newest emits, counted in
//! [`CommitStats::emits_dropped`]). Delivery is at most once: what is queued for the handler
//! when the process dies is lost.
//!
//! A failed write or flush is fatal: the committer stops without sending the group's
//! messages and reports the error; the process exits and a restart recovers the committed state.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, unbounded, Receiver, Sender};
use hdrhistogram::Histogram;
use tokio::sync::oneshot;

use crate::config::{Durability, EmitHandler, Emitted, EMIT_QUEUE};
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
    /// Emits to hand to the application after the flush, after the messages.
    pub emits: Vec<Emitted>,
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
    /// Starts the committer thread over `store`, handing each durable commit's emits to
    /// `emit_handler` (on its own thread, see [`EmitHandler`]; without one, emits are dropped).
    /// The receiver yields the error that stopped it.
    pub fn start(
        store: Store,
        durability: Durability,
        emit_handler: Option<EmitHandler>,
    ) -> std::io::Result<(Committer, oneshot::Receiver<StoreError>)> {
        let emits = emit_handler.map(start_emitter).transpose()?;
        let (tx, rx) = unbounded();
        let (fatal_tx, fatal_rx) = oneshot::channel();
        let stats = Arc::new(CommitStats::default());
        let thread_stats = stats.clone();
        std::thread::Builder::new()
            .name("ggs-commit".into())
            .spawn(move || {
                if let Err(e) = run(store, rx, &thread_stats, durability, emits) {
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

/// Starts the thread that calls `handler` with each emit, in order; returns its queue.
fn start_emitter(handler: EmitHandler) -> std::io::Result<Sender<Emitted>> {
    let (tx, rx) = bounded::<Emitted>(EMIT_QUEUE);
    std::thread::Builder::new()
        .name("ggs-emit".into())
        .spawn(move || {
            for emit in rx.iter() {
                let table = emit.table.clone();
                if catch_unwind(AssertUnwindSafe(|| handler.call(emit))).is_err() {
                    tracing::error!(%table, "the emit handler panicked; going on with the next emit");
                }
            }
        })?;
    Ok(tx)
}

fn run(
    store: Store,
    rx: Receiver<(Instant, Commit)>,
    stats: &CommitStats,
    durability: Durability,
    emits: Option<Sender<Emitted>>,
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
        let mut dropped = 0u64;
        for (enqueued, commit) in group.drain(..) {
            for d in commit.deliveries {
                d.outbox.deliver(d.message);
            }
            if let Some(emits) = &emits {
                for emit in commit.emits {
                    match emits.try_send(emit) {
                        Ok(()) => stats.emits.fetch_add(1, Ordering::Relaxed),
                        Err(_) => {
                            dropped += 1;
                            stats.emits_dropped.fetch_add(1, Ordering::Relaxed)
                        }
                    };
                }
            }
            if let Some(done) = commit.done {
                let _ = done.send(());
            }
            stats.record(enqueued.elapsed());
            latency.record(enqueued.elapsed());
        }
        if dropped > 0 {
            tracing::warn!(
                "the emit handler is {EMIT_QUEUE} emits behind: {dropped} emits dropped"
            );
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
    /// Emits handed to the application's handler.
    pub emits: AtomicU64,
    /// Emits dropped because the handler's queue was full.
    pub emits_dropped: AtomicU64,
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
            emits: AtomicU64::new(0),
            emits_dropped: AtomicU64::new(0),
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
        let (committer, _fatal) =
            Committer::start(store.clone(), Durability::Strict, None).unwrap();
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
            emits: Vec::new(),
            done: Some(done),
        });
        done_rx.blocking_recv().unwrap();
        assert_eq!(rx.try_recv().unwrap().command.as_ref(), "a");
        assert!(committer.stats().flushes.load(Ordering::Relaxed) >= 1);
    }

    #[test]
    fn emits_are_handed_over_after_the_flush_in_commit_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let committer: Arc<std::sync::OnceLock<Committer>> = Arc::default();
        let (seen_tx, seen_rx) = std::sync::mpsc::channel();
        let handler = {
            let (committer, store) = (committer.clone(), store.clone());
            let seen_tx = Mutex::new(seen_tx);
            EmitHandler::new(move |emit: Emitted| {
                let flushes = committer
                    .get()
                    .unwrap()
                    .stats()
                    .flushes
                    .load(Ordering::SeqCst);
                let written = store.storage(&emit.table).unwrap().state.is_some();
                let _ = seen_tx.lock().unwrap().send((emit.name, flushes, written));
            })
        };
        let (started, _fatal) =
            Committer::start(store.clone(), Durability::Strict, Some(handler)).unwrap();
        committer.set(started).ok().unwrap();
        let committer = committer.get().unwrap();
        let emit = |table: &str, name: &str| Emitted {
            table: Arc::from(table),
            name: name.into(),
            payload: serde_json::Value::Null,
        };
        // A large write, so that its apply and flush take a while.
        let big = format!("{{\"s\":\"{}\"}}", "x".repeat(4 << 20));
        let tables = [
            "6f1c2b1e-0000-4000-8000-0000000000a1",
            "6f1c2b1e-0000-4000-8000-0000000000a2",
        ];
        for (i, name) in ["first", "second", "third"].into_iter().enumerate() {
            let table = tables[i % 2];
            let mut txn = Txn::default();
            txn.set_state(table, if i == 0 { &big } else { "{}" });
            committer.submit(Commit {
                txn,
                emits: vec![emit(table, name), emit(table, &format!("{name}-2"))],
                ..Commit::default()
            });
        }
        let mut seen = Vec::new();
        for _ in 0..6 {
            seen.push(seen_rx.recv_timeout(Duration::from_secs(10)).unwrap());
        }
        let names: Vec<&str> = seen.iter().map(|(n, _, _)| n.as_str()).collect();
        assert_eq!(
            names,
            ["first", "first-2", "second", "second-2", "third", "third-2"]
        );
        for (name, flushes, written) in &seen {
            assert!(
                *flushes >= 1 && *written,
                "{name} handed over before its commit was durable"
            );
        }
        assert_eq!(committer.stats().emits.load(Ordering::Relaxed), 6);
        assert_eq!(committer.stats().emits_dropped.load(Ordering::Relaxed), 0);
    }
}
