//! The VM host: a fixed pool of long-lived OS threads, each owning the runtimes of many tables.
//!
//! A table is pinned to one thread when it is opened; every job for it goes through that
//! thread's channel, so its events run in order and its runtime never changes thread
//! (QuickJS runtimes are not `Send`). The server talks to a table through a [`TableVm`], whose
//! `run_batch` is async: the caller's task waits, the VM thread works. Events travel in batches
//! (a single event is a batch of one), so queued events cost one trip to the thread.

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crossbeam_channel::{unbounded, Receiver, Sender};
use tokio::sync::oneshot;

use crate::limits::{Limits, VM_THREAD_STACK};
use crate::vm::{Event, EventContext, Outcome, ScriptError, Storage, Vm};

/// Why the host could not start.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// A VM thread could not be spawned.
    #[error("cannot start VM thread: {0}")]
    Spawn(#[from] std::io::Error),
}

enum Job {
    Open {
        table: Arc<str>,
        storage: Storage,
    },
    Restore {
        table: Arc<str>,
        source: String,
        reply: oneshot::Sender<Result<(), ScriptError>>,
    },
    /// Events run in order, each its own transaction.
    Run {
        table: Arc<str>,
        events: Vec<Event>,
        cx: EventContext,
        reply: oneshot::Sender<Vec<Outcome>>,
    },
    Close {
        table: Arc<str>,
    },
}

/// The pool of VM threads.
pub struct VmHost {
    workers: Mutex<Vec<Sender<Job>>>,
    next: AtomicUsize,
    limits: Limits,
}

impl VmHost {
    /// Starts `threads` VM threads (at least one) that apply `limits` to every runtime.
    pub fn new(threads: usize, limits: Limits) -> Result<Self, HostError> {
        let workers = (0..threads.max(1))
            .map(|i| spawn_worker(i, limits))
            .collect::<Result<_, _>>()?;
        Ok(VmHost {
            workers: Mutex::new(workers),
            next: AtomicUsize::new(0),
            limits,
        })
    }

    /// Number of VM threads.
    pub fn threads(&self) -> usize {
        self.lock().len()
    }

    /// Opens a table's VM with its committed storage on the least busy thread.
    /// The VM has no script until [`TableVm::restore`] or a `Define` event. A thread found
    /// dead is replaced here; its tables see `Unavailable` and are rebuilt by their owners.
    pub fn open(&self, table: &str, storage: Storage) -> Result<TableVm, HostError> {
        let table: Arc<str> = Arc::from(table);
        let mut workers = self.lock();
        // The thread with the shortest queue of jobs (a hogged thread's queue grows), ties
        // broken round robin so idle threads share new tables evenly.
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let n = workers.len();
        let i = (0..n)
            .map(|k| (start + k) % n)
            .min_by_key(|&i| workers[i].len())
            .unwrap_or(0);
        let mut job = Job::Open {
            table: table.clone(),
            storage,
        };
        loop {
            match workers[i].send(job) {
                Ok(()) => break,
                Err(crossbeam_channel::SendError(returned)) => {
                    tracing::error!("VM thread {i} is gone; starting a new one");
                    workers[i] = spawn_worker(i, self.limits)?;
                    job = returned;
                }
            }
        }
        Ok(TableVm {
            table,
            tx: workers[i].clone(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Sender<Job>>> {
        self.workers.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The server's handle on one table's VM. Dropping it frees the runtime.
pub struct TableVm {
    table: Arc<str>,
    tx: Sender<Job>,
}

impl TableVm {
    /// Evaluates the committed script after a load; its writes and messages are discarded.
    pub async fn restore(&self, source: String) -> Result<(), ScriptError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Job::Restore {
                table: self.table.clone(),
                source,
                reply,
            })
            .map_err(|_| ScriptError::Unavailable)?;
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
        if self.tx.send(job).is_err() {
            return Vec::new();
        }
        rx.await.unwrap_or_default()
    }
}

impl Drop for TableVm {
    fn drop(&mut self) {
        let _ = self.tx.send(Job::Close {
            table: self.table.clone(),
        });
    }
}

fn spawn_worker(i: usize, limits: Limits) -> Result<Sender<Job>, HostError> {
    let (tx, rx) = unbounded();
    std::thread::Builder::new()
        .name(format!("ggs-vm-{i}"))
        .stack_size(VM_THREAD_STACK)
        .spawn(move || worker(rx, limits))?;
    Ok(tx)
}

fn worker(rx: Receiver<Job>, limits: Limits) {
    let mut vms: HashMap<Arc<str>, Vm> = HashMap::new();
    for job in rx {
        match job {
            Job::Open { table, storage } => {
                vms.insert(table.clone(), Vm::new(table, storage, limits));
            }
            Job::Close { table } => {
                vms.remove(&table);
            }
            Job::Restore {
                table,
                source,
                reply,
            } => {
                let result = guarded(&mut vms, &table, |vm| vm.restore(&source));
                let _ = reply.send(result);
            }
            Job::Run {
                table,
                events,
                cx,
                reply,
            } => {
                let mut outcomes = Vec::with_capacity(events.len());
                for event in events {
                    let cx = cx.clone();
                    let outcome = guarded(&mut vms, &table, |vm| Ok(vm.run(event, cx)))
                        .unwrap_or_else(Outcome::failed);
                    if vms.get_mut(&table).is_some_and(Vm::thread_fault) {
                        panic!("fault injected: the VM thread dies");
                    }
                    // Without its VM (it crashed, or is not here) the rest cannot run.
                    let lost = outcome.result.as_ref().is_err_and(ScriptError::is_lost);
                    outcomes.push(outcome);
                    if lost {
                        break;
                    }
                }
                let _ = reply.send(outcomes);
            }
        }
    }
}

/// Runs `f` on the table's VM. A panic drops that VM (its table then sees `Unavailable`) and
/// leaves the thread and its other tables running.
fn guarded<T>(
    vms: &mut HashMap<Arc<str>, Vm>,
    table: &Arc<str>,
    f: impl FnOnce(&mut Vm) -> Result<T, ScriptError>,
) -> Result<T, ScriptError> {
    let Some(vm) = vms.get_mut(table) else {
        return Err(ScriptError::Unavailable);
    };
    match catch_unwind(AssertUnwindSafe(|| f(vm))) {
        Ok(result) => result,
        Err(_) => {
            tracing::error!(%table, "VM panicked; its runtime was dropped");
            vms.remove(table);
            Err(ScriptError::Crashed)
        }
    }
}
