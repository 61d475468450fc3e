//! One VM thread: its job queue, the runtimes of the tables pinned to it, and what the host
//! and the watchdog know of it (tables, recent CPU, pulse, the job in flight).
//!
//! A worker is lost when its thread died (a panic escaped) or the watchdog abandoned it (stuck
//! in one call): it takes no more jobs, the jobs queued are dropped or answered, and the thread
//! exits once it is back, dropping its runtimes on itself. Until then an abandoned thread runs
//! at idle priority (Linux `SCHED_IDLE`): it finishes its call only with CPU no live thread
//! wants, so it slows no one down.

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crossbeam_channel::{unbounded, Receiver, Sender};
use tokio::sync::oneshot;

use crate::host_functions::HostFunctions;
use crate::limits::{Limits, VM_THREAD_STACK};
use crate::vm::{Event, EventContext, Outcome, ScriptError, Storage, Vm};
use crate::watchdog::{thread_cpu, Pulse, OFF_CPU_MARGIN, WATCHDOG_INTERVAL};

/// Time over which a thread's recent CPU use is averaged for placement (decays exponentially).
pub const RECENT_CPU_WINDOW: Duration = Duration::from_secs(5);

pub(crate) enum Job {
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

impl Job {
    /// Answers a job the thread will never run: the table must move to a live thread.
    fn displace(self) {
        match self {
            Job::Restore { reply, .. } => {
                let _ = reply.send(Err(ScriptError::Displaced));
            }
            Job::Run { reply, .. } => {
                let _ = reply.send(vec![Outcome::failed(ScriptError::Displaced)]);
            }
            Job::Open { .. } | Job::Close { .. } => {}
        }
    }
}

/// The job the thread is running, with the outcomes so far: the watchdog answers it if the
/// thread is abandoned.
enum InFlight {
    Run {
        reply: oneshot::Sender<Vec<Outcome>>,
        outcomes: Vec<Outcome>,
    },
    Restore {
        reply: oneshot::Sender<Result<(), ScriptError>>,
    },
}

/// Busy time, decayed over [`RECENT_CPU_WINDOW`].
struct RecentCpu {
    busy: f64,
    at: Instant,
}

impl RecentCpu {
    fn decayed(&self, now: Instant) -> f64 {
        let age = now.saturating_duration_since(self.at).as_secs_f64();
        self.busy * (-age / RECENT_CPU_WINDOW.as_secs_f64()).exp()
    }
}

/// What the host shares with one VM thread.
pub(crate) struct Worker {
    pub(crate) index: usize,
    /// `None` once the worker is lost: it takes no more jobs.
    tx: Mutex<Option<Sender<Job>>>,
    /// The host's end of the queue too, to drain it when the worker is lost.
    rx: Receiver<Job>,
    pub(crate) pulse: Arc<Pulse>,
    /// Tables pinned to this thread.
    tables: AtomicUsize,
    cpu: Mutex<RecentCpu>,
    inflight: Mutex<Option<InFlight>>,
    /// The watchdog gave up on it (as opposed to its thread dying).
    abandoned: AtomicBool,
    /// The OS id of its thread (Linux; 0 until the thread has started).
    tid: AtomicI32,
    /// The watchdog's view of the current call: the pulse mark it first saw busy, and the
    /// thread's CPU time then.
    seen_busy: Mutex<Option<(u64, Duration)>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Worker {
    /// Starts VM thread `index` applying `limits`, its runtimes seeing `host_functions`;
    /// `retired` counts abandoned threads still running.
    pub(crate) fn spawn(
        index: usize,
        limits: Limits,
        host_functions: &HostFunctions,
        epoch: Instant,
        retired: Arc<AtomicUsize>,
    ) -> std::io::Result<Arc<Worker>> {
        let (tx, rx) = unbounded();
        let worker = Arc::new(Worker {
            index,
            tx: Mutex::new(Some(tx)),
            rx,
            pulse: Arc::new(Pulse::new(epoch)),
            tables: AtomicUsize::new(0),
            cpu: Mutex::new(RecentCpu {
                busy: 0.0,
                at: epoch,
            }),
            inflight: Mutex::new(None),
            abandoned: AtomicBool::new(false),
            tid: AtomicI32::new(0),
            seen_busy: Mutex::new(None),
        });
        let thread = worker.clone();
        let host_functions = host_functions.clone();
        std::thread::Builder::new()
            .name(format!("ggs-vm-{index}"))
            .stack_size(VM_THREAD_STACK)
            .spawn(move || run(thread, limits, host_functions, retired))?;
        Ok(worker)
    }

    /// Queues a job; gives it back if the worker is lost.
    pub(crate) fn send(&self, job: Job) -> Result<(), Job> {
        match &*lock(&self.tx) {
            Some(tx) => tx.send(job).map_err(|e| e.0),
            None => Err(job),
        }
    }

    /// Whether the worker takes no more jobs.
    pub(crate) fn is_lost(&self) -> bool {
        lock(&self.tx).is_none()
    }

    /// Whether the watchdog gave up on this worker.
    pub(crate) fn was_abandoned(&self) -> bool {
        self.abandoned.load(Ordering::Acquire)
    }

    /// Tables pinned here.
    pub(crate) fn tables(&self) -> usize {
        self.tables.load(Ordering::Relaxed)
    }

    pub(crate) fn pin(&self) {
        self.tables.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn unpin(&self) {
        let _ = self
            .tables
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
    }

    /// Jobs waiting in the queue.
    pub(crate) fn queued(&self) -> usize {
        self.rx.len()
    }

    /// Share of the last [`RECENT_CPU_WINDOW`] the thread was busy, about (0.0 to 1.0).
    pub(crate) fn recent_cpu(&self, now: Instant) -> f64 {
        lock(&self.cpu).decayed(now) / RECENT_CPU_WINDOW.as_secs_f64()
    }

    fn account(&self, busy: Duration) {
        let now = Instant::now();
        let mut cpu = lock(&self.cpu);
        cpu.busy = cpu.decayed(now) + busy.as_secs_f64();
        cpu.at = now;
    }

    /// Takes no more jobs; answers those queued (their tables move to a live thread).
    pub(crate) fn retire(&self) {
        let tx = lock(&self.tx).take();
        drop(tx);
        for job in self.rx.try_iter() {
            job.displace();
        }
    }

    /// Whether the thread has been in one call for longer than `stuck`, counted in the CPU time
    /// it used (so a thread the machine leaves waiting is not stuck), or, busy without using the
    /// CPU (blocked, or not scheduled), for longer than `stuck` plus [`OFF_CPU_MARGIN`]. Where
    /// the CPU time of a thread is unknown, wall time decides. Called by the watchdog every
    /// round, which notes the thread's CPU time when it first sees a call.
    pub(crate) fn stuck(&self, stuck: Duration) -> bool {
        let mark = self.pulse.mark();
        let mut seen = lock(&self.seen_busy);
        if mark == 0 {
            *seen = None;
            return false;
        }
        let Some(cpu) = thread_cpu(self.tid.load(Ordering::Acquire)) else {
            return self.pulse.busy_longer_than(stuck);
        };
        match *seen {
            Some((seen_mark, cpu_then)) if seen_mark == mark => {
                // The call began up to one round before the watchdog first saw it.
                let on_cpu = cpu.saturating_sub(cpu_then) + WATCHDOG_INTERVAL;
                self.pulse.busy_longer_than(stuck)
                    && (on_cpu >= stuck || self.pulse.busy_longer_than(stuck + OFF_CPU_MARGIN))
            }
            _ => {
                *seen = Some((mark, cpu));
                false
            }
        }
    }

    /// The watchdog gives up on this worker if it is still stuck for longer than `stuck` in
    /// one call under the deadline `limit`: the stuck event fails with
    /// [`ScriptError::Abandoned`], the queued jobs are displaced. False if it moved on meanwhile.
    pub(crate) fn abandon(&self, limit: Duration, stuck: Duration) -> bool {
        let mut inflight = lock(&self.inflight);
        if !self.pulse.busy_longer_than(stuck) {
            return false;
        }
        self.abandoned.store(true, Ordering::Release);
        self.retire();
        self.demote();
        match inflight.take() {
            Some(InFlight::Run {
                reply,
                mut outcomes,
            }) => {
                outcomes.push(Outcome::failed(ScriptError::Abandoned(limit)));
                let _ = reply.send(outcomes);
            }
            Some(InFlight::Restore { reply }) => {
                let _ = reply.send(Err(ScriptError::Abandoned(limit)));
            }
            None => {}
        }
        true
    }

    /// Lets the (abandoned) thread run only when no other thread wants the CPU.
    fn demote(&self) {
        #[cfg(target_os = "linux")]
        {
            let tid = self.tid.load(Ordering::Acquire);
            if tid == 0 {
                return;
            }
            let param = libc::sched_param { sched_priority: 0 };
            // SAFETY: a plain system call on a thread id of this process, with a valid pointer
            // to a parameter that outlives it; lowering a thread to SCHED_IDLE needs no
            // privilege. A thread that already ended makes it fail with ESRCH, which is fine.
            let rc = unsafe { libc::sched_setscheduler(tid, libc::SCHED_IDLE, &param) };
            if rc != 0 {
                tracing::debug!(
                    "cannot lower the abandoned VM thread {}: {}",
                    self.index,
                    std::io::Error::last_os_error()
                );
            }
        }
    }

    /// Records an event's outcome; false if the watchdog already answered the job.
    fn push(&self, outcome: Outcome) -> bool {
        match &mut *lock(&self.inflight) {
            Some(InFlight::Run { outcomes, .. }) => {
                outcomes.push(outcome);
                true
            }
            _ => false,
        }
    }

    /// Sends the job's answer, unless the watchdog did.
    fn finish(&self, restored: Option<Result<(), ScriptError>>) {
        match (lock(&self.inflight).take(), restored) {
            (Some(InFlight::Run { reply, outcomes }), _) => {
                let _ = reply.send(outcomes);
            }
            (Some(InFlight::Restore { reply }), Some(result)) => {
                let _ = reply.send(result);
            }
            _ => {}
        }
    }
}

/// On the thread's way out (normal, abandoned or a panic): no more jobs; the job in flight is
/// dropped (its table sees the VM lost). Declared before the runtimes, so they are dropped
/// first, on this thread.
struct Exit {
    worker: Arc<Worker>,
    retired: Arc<AtomicUsize>,
}

impl Drop for Exit {
    fn drop(&mut self) {
        self.worker.retire();
        drop(lock(&self.worker.inflight).take());
        self.worker.pulse.idle();
        if self.worker.was_abandoned() {
            self.retired.fetch_sub(1, Ordering::AcqRel);
            tracing::info!("abandoned VM thread {} retired", self.worker.index);
        }
    }
}

fn run(
    worker: Arc<Worker>,
    limits: Limits,
    host_functions: HostFunctions,
    retired: Arc<AtomicUsize>,
) {
    #[cfg(target_os = "linux")]
    // SAFETY: gettid has no preconditions.
    worker
        .tid
        .store(unsafe { libc::gettid() }, Ordering::Release);
    crate::watchdog::register(worker.pulse.clone());
    let rx = worker.rx.clone();
    let _exit = Exit {
        worker: worker.clone(),
        retired,
    };
    let mut vms: HashMap<Arc<str>, Vm> = HashMap::new();
    for job in rx.iter() {
        let started = Instant::now();
        worker.pulse.beat();
        match job {
            Job::Open { table, storage } => {
                let vm = Vm::new(table.clone(), storage, limits)
                    .with_host_functions(host_functions.clone())
                    .watched(worker.pulse.clone());
                vms.insert(table, vm);
            }
            Job::Close { table } => {
                vms.remove(&table);
            }
            Job::Restore {
                table,
                source,
                reply,
            } => {
                *lock(&worker.inflight) = Some(InFlight::Restore { reply });
                let result = guarded(&mut vms, &table, |vm| vm.restore(&source));
                worker.finish(Some(result));
            }
            Job::Run {
                table,
                events,
                cx,
                reply,
            } => {
                *lock(&worker.inflight) = Some(InFlight::Run {
                    reply,
                    outcomes: Vec::with_capacity(events.len()),
                });
                for event in events {
                    let cx = cx.clone();
                    worker.pulse.beat();
                    let outcome = guarded(&mut vms, &table, |vm| Ok(vm.run(event, cx)))
                        .unwrap_or_else(Outcome::failed);
                    if vms.get_mut(&table).is_some_and(Vm::thread_fault) {
                        panic!("fault injected: the VM thread dies");
                    }
                    // Without its VM (it crashed, or is not here) the rest cannot run.
                    let lost = outcome.result.as_ref().is_err_and(ScriptError::is_lost);
                    if !worker.push(outcome) || lost {
                        break;
                    }
                }
                worker.finish(None);
            }
        }
        worker.pulse.idle();
        worker.account(started.elapsed());
        if worker.was_abandoned() {
            // The runtimes are dropped here, on their thread, and the thread ends.
            return;
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
