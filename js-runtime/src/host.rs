//! The VM host: a fixed pool of long-lived OS threads, each owning the runtimes of many tables.
//!
//! A table is pinned to one thread when it is opened (the thread with the least recent CPU,
//! then the fewest tables, then the shortest queue); every job for it goes through that
//! thread's channel, so its events run in order and its runtime never changes thread
//! (QuickJS runtimes are not `Send`). The server talks to a table through a [`TableVm`], whose
//! `run_batch` is async: the caller's task waits, the VM thread works. Events travel in batches
//! (a single event is a batch of one), so queued events cost one trip to the thread.
//!
//! A thread that dies, or that the [watchdog](crate::watchdog) abandons because it is stuck
//! in one call past its deadline, is replaced by a fresh one; the tables pinned to it see
//! [`ScriptError::Displaced`] (or `Unavailable`) and are rebuilt by their owners.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use crate::host_functions::HostFunctions;
use crate::limits::Limits;
use crate::vm::{Event, EventContext, Outcome, ScriptError, Storage};
use crate::watchdog::{MAX_RETIRED_THREADS, STUCK_MARGIN};
use crate::worker::{Job, Worker};

/// Placement counts recent CPU in steps of this share of a thread: threads within one step
/// are equally busy, and the one with fewer tables wins.
const CPU_STEP: f64 = 0.05;

/// Why the host could not start.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// A VM thread could not be spawned.
    #[error("cannot start VM thread: {0}")]
    Spawn(#[from] std::io::Error),
}

/// The VM threads, shared with the watchdog.
pub(crate) struct Pool {
    workers: Mutex<Vec<Arc<Worker>>>,
    next: AtomicUsize,
    limits: Limits,
    /// What every runtime gets as `GGS.host`.
    host_functions: HostFunctions,
    epoch: Instant,
    /// Abandoned threads still finishing their stuck call.
    retired: Arc<AtomicUsize>,
}

/// The pool of VM threads.
pub struct VmHost {
    pool: Arc<Pool>,
}

impl VmHost {
    /// Starts `threads` VM threads (at least one) that apply `limits` to every runtime, and
    /// the watchdog that replaces a thread stuck past its deadline.
    pub fn new(threads: usize, limits: Limits) -> Result<Self, HostError> {
        Self::with_host_functions(threads, limits, HostFunctions::default())
    }

    /// Like [`VmHost::new`], with the application's `host_functions` (`GGS.host`) in every
    /// table's runtime.
    pub fn with_host_functions(
        threads: usize,
        limits: Limits,
        host_functions: HostFunctions,
    ) -> Result<Self, HostError> {
        crate::watchdog::install_panic_hook();
        let epoch = Instant::now();
        let retired = Arc::new(AtomicUsize::new(0));
        let workers = (0..threads.max(1))
            .map(|i| Worker::spawn(i, limits, &host_functions, epoch, retired.clone()))
            .collect::<Result<_, _>>()?;
        let pool = Arc::new(Pool {
            workers: Mutex::new(workers),
            next: AtomicUsize::new(0),
            limits,
            host_functions,
            epoch,
            retired,
        });
        let watched = Arc::downgrade(&pool);
        std::thread::Builder::new()
            .name("ggs-vm-watchdog".into())
            .spawn(move || crate::watchdog::watch(watched))?;
        Ok(VmHost { pool })
    }

    /// Number of VM threads.
    pub fn threads(&self) -> usize {
        self.pool.lock().len()
    }

    /// Abandoned VM threads still finishing the call they were stuck in.
    pub fn retired_threads(&self) -> usize {
        self.pool.retired.load(Ordering::Acquire)
    }

    /// Tables pinned to each VM thread, in thread order.
    pub fn tables_per_thread(&self) -> Vec<usize> {
        self.pool.lock().iter().map(|w| w.tables()).collect()
    }

    /// Opens a table's VM with its committed storage on the least loaded thread: the least
    /// recent CPU (in steps of [`CPU_STEP`]), then the fewest tables, then the shortest
    /// queue, ties broken round robin. The VM has no script until [`TableVm::restore`] or a
    /// `Define` event. A thread found lost is replaced here.
    pub fn open(&self, table: &str, storage: Storage) -> Result<TableVm, HostError> {
        let table: Arc<str> = Arc::from(table);
        let pool = &self.pool;
        let mut workers = pool.lock();
        let n = workers.len();
        for i in 0..n {
            if workers[i].is_lost() {
                pool.replace(&mut workers, i)?;
            }
        }
        let now = Instant::now();
        let start = pool.next.fetch_add(1, Ordering::Relaxed);
        let i = (0..n)
            .map(|k| (start + k) % n)
            .min_by_key(|&i| {
                let w = &workers[i];
                let cpu = (w.recent_cpu(now) / CPU_STEP) as u64;
                (cpu, w.tables(), w.queued())
            })
            .unwrap_or(0);
        let mut job = Job::Open {
            table: table.clone(),
            storage,
        };
        loop {
            match workers[i].send(job) {
                Ok(()) => break,
                Err(returned) => {
                    pool.replace(&mut workers, i)?;
                    job = returned;
                }
            }
        }
        let worker = workers[i].clone();
        worker.pin();
        Ok(TableVm { table, worker })
    }
}

impl Pool {
    fn lock(&self) -> MutexGuard<'_, Vec<Arc<Worker>>> {
        self.workers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts a fresh thread in place of worker `i`.
    fn replace(&self, workers: &mut [Arc<Worker>], i: usize) -> Result<(), HostError> {
        if !workers[i].was_abandoned() {
            tracing::error!("VM thread {i} is gone; starting a new one");
        }
        workers[i] = Worker::spawn(
            i,
            self.limits,
            &self.host_functions,
            self.epoch,
            self.retired.clone(),
        )?;
        Ok(())
    }

    /// How long one call may hold a thread before the watchdog abandons it.
    fn stuck_after(&self) -> Duration {
        self.limits.cpu_per_event + STUCK_MARGIN
    }

    /// The watchdog's round: abandons and replaces each thread stuck past its deadline (while
    /// fewer than [`MAX_RETIRED_THREADS`] are retiring), and replaces each dead one.
    pub(crate) fn check(&self) {
        let stuck = self.stuck_after();
        let mut workers = self.lock();
        for i in 0..workers.len() {
            let worker = workers[i].clone();
            if !worker.is_lost() {
                if !worker.stuck(stuck) {
                    continue;
                }
                if self.retired.load(Ordering::Acquire) >= MAX_RETIRED_THREADS {
                    continue;
                }
                self.retired.fetch_add(1, Ordering::AcqRel);
                if !worker.abandon(self.limits.cpu_per_event, stuck) {
                    self.retired.fetch_sub(1, Ordering::AcqRel);
                    continue;
                }
                tracing::warn!(
                    "VM thread {i} has been stuck in one call for more than {} ms; \
                     abandoned, its tables move to a fresh thread",
                    stuck.as_millis()
                );
            }
            if let Err(e) = self.replace(&mut workers, i) {
                tracing::error!("cannot replace VM thread {i}: {e}");
            }
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        // The threads end once their queues are empty.
        for worker in self.lock().iter() {
            worker.retire();
        }
    }
}

/// The server's handle on one table's VM. Dropping it frees the runtime.
pub struct TableVm {
    table: Arc<str>,
    worker: Arc<Worker>,
}

impl TableVm {
    /// Evaluates the committed script after a load; its writes and messages are discarded.
    pub async fn restore(&self, source: String) -> Result<(), ScriptError> {
        let (reply, rx) = oneshot::channel();
        self.worker
            .send(Job::Restore {
                table: self.table.clone(),
                source,
                reply,
            })
            .map_err(|_| self.lost())?;
        rx.await.unwrap_or(Err(ScriptError::Unavailable))
    }

    /// Runs one event as a transaction and returns its outcome: a batch of one.
    pub async fn run(&self, event: Event, cx: EventContext) -> Outcome {
        self.run_batch(vec![event], cx)
            .await
            .pop()
            .unwrap_or_else(|| Outcome::failed(ScriptError::Unavailable))
    }

    /// Runs several events in order, each its own transaction, in one trip to the VM thread.
    /// Stops after an event the VM lost ([`ScriptError::is_lost`]): the outcomes may be fewer
    /// than the events (none at all if the thread is gone); the caller runs the rest again
    /// after a rebuild.
    pub async fn run_batch(&self, events: Vec<Event>, cx: EventContext) -> Vec<Outcome> {
        let (reply, rx) = oneshot::channel();
        let job = Job::Run {
            table: self.table.clone(),
            events,
            cx,
            reply,
        };
        if self.worker.send(job).is_err() {
            return vec![Outcome::failed(self.lost())];
        }
        rx.await.unwrap_or_default()
    }

    /// The index of the VM thread the table is pinned to.
    pub fn thread(&self) -> usize {
        self.worker.index
    }

    /// Why the table's thread takes no jobs: displaced by a stuck neighbour, or gone.
    fn lost(&self) -> ScriptError {
        if self.worker.was_abandoned() {
            ScriptError::Displaced
        } else {
            ScriptError::Unavailable
        }
    }
}

impl Drop for TableVm {
    fn drop(&mut self) {
        self.worker.unpin();
        let _ = self.worker.send(Job::Close {
            table: self.table.clone(),
        });
    }
}
