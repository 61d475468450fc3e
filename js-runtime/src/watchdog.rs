//! The watchdog: abandons a VM thread stuck in one call past its deadline, so the tables
//! sharing it wait at most about one deadline.
//!
//! QuickJS polls its interrupt handler only between bytecodes (and a loop only every few
//! thousand iterations), so one call into a built-in (a huge `join`, a string search, a sort,
//! `JSON`, a loop around any of them, the teardown of a full heap) runs past the CPU deadline
//! untouched. Each VM thread has a [`Pulse`]: the time it last made progress (began a job, began
//! or ended a deadline window). When a pulse is older than the deadline plus [`STUCK_MARGIN`],
//! the watchdog abandons that thread (`Worker::abandon`): the stuck event is answered with
//! [`ScriptError::Abandoned`](crate::ScriptError::Abandoned), the jobs queued behind it and
//! the tables pinned to it with
//! [`ScriptError::Displaced`](crate::ScriptError::Displaced) (their owners rebuild them from
//! committed state on a live thread), and a fresh thread takes its place. The stuck thread
//! retires once its call returns, dropping its runtimes there (they are not `Send`). At most
//! [`MAX_RETIRED_THREADS`] may be retiring at once; past that, a stuck thread is waited for.
//!
//! A panicking VM thread is not stuck (its unwinding, and a backtrace, may take long): a panic
//! hook, chained before the previous one, pauses the panicking thread's pulse.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Once, Weak};
use std::time::{Duration, Instant};

use crate::host::Pool;

/// How long past its CPU deadline a VM thread may stay in one call before it is abandoned.
pub const STUCK_MARGIN: Duration = Duration::from_millis(30);
/// How much longer than a stuck call a VM thread may stay busy without running on a CPU (a host
/// function blocked in the application, or a thread the machine did not schedule) before it
/// is abandoned too. A thread is judged by the CPU time it used, so a loaded machine that
/// leaves it waiting does not make it look stuck; this bound still frees its neighbours from
/// a call that waits for ever.
pub const OFF_CPU_MARGIN: Duration = Duration::from_millis(500);
/// How often the watchdog looks at the VM threads.
pub const WATCHDOG_INTERVAL: Duration = Duration::from_millis(5);
/// Most abandoned VM threads that may still be finishing their stuck call at once (each may
/// hold its runtimes' memory until then); past that, a stuck thread is waited for instead.
pub const MAX_RETIRED_THREADS: usize = 8;

/// When a VM thread last made progress, read by the watchdog.
pub(crate) struct Pulse {
    epoch: Instant,
    /// Microseconds since `epoch` plus one at the last beat; 0 while the thread is idle.
    since: AtomicU64,
}

impl Pulse {
    pub(crate) fn new(epoch: Instant) -> Self {
        Pulse {
            epoch,
            since: AtomicU64::new(0),
        }
    }

    /// The thread makes progress now (a job or a deadline window begins or ends).
    pub(crate) fn beat(&self) {
        let micros = u64::try_from(self.epoch.elapsed().as_micros()).unwrap_or(u64::MAX - 1);
        self.since.store(micros + 1, Ordering::Release);
    }

    /// The thread waits for work.
    pub(crate) fn idle(&self) {
        self.since.store(0, Ordering::Release);
    }

    /// The last beat as the watchdog compares it (0 while the thread is idle): a new value
    /// means the thread made progress.
    pub(crate) fn mark(&self) -> u64 {
        self.since.load(Ordering::Acquire)
    }

    /// Whether the thread is busy and its last beat is older than `limit`.
    pub(crate) fn busy_longer_than(&self, limit: Duration) -> bool {
        self.busy_for().is_some_and(|busy| busy > limit)
    }

    /// How long since the last beat, if the thread is busy.
    pub(crate) fn busy_for(&self) -> Option<Duration> {
        match self.since.load(Ordering::Acquire) {
            0 => None,
            since => {
                let now = self.epoch.elapsed().as_micros() as u64 + 1;
                Some(Duration::from_micros(now.saturating_sub(since)))
            }
        }
    }
}

/// The CPU time the thread with OS id `tid` (of this process) has used, from the kernel's
/// per-thread CPU clock; `None` where there is none (other systems, a thread that is gone).
#[cfg(target_os = "linux")]
pub(crate) fn thread_cpu(tid: i32) -> Option<Duration> {
    if tid <= 0 {
        return None;
    }
    // The clock id glibc's pthread_getcpuclockid makes: (~tid << 3) | CPUCLOCK_PERTHREAD (4) |
    // CPUCLOCK_SCHED (2), a stable part of the kernel's interface.
    let clock = ((!(tid as u32)) << 3) as i32 | 6;
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec the call writes into; an unknown clock is an error.
    let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
    (rc == 0).then(|| Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
}

/// The CPU time of a thread: unknown on this system, so threads are judged by wall time.
#[cfg(not(target_os = "linux"))]
pub(crate) fn thread_cpu(_tid: i32) -> Option<Duration> {
    None
}

/// The watchdog thread's loop: checks the pool every [`WATCHDOG_INTERVAL`] until it is gone.
pub(crate) fn watch(pool: Weak<Pool>) {
    loop {
        std::thread::sleep(WATCHDOG_INTERVAL);
        let Some(pool) = pool.upgrade() else { return };
        pool.check();
    }
}

thread_local! {
    /// The pulse of the VM thread running here, if this is one.
    static CURRENT: RefCell<Option<Arc<Pulse>>> = const { RefCell::new(None) };
}

/// Marks the calling thread as the VM thread beating `pulse` (for the panic hook).
pub(crate) fn register(pulse: Arc<Pulse>) {
    CURRENT.with(|current| *current.borrow_mut() = Some(pulse));
}

/// Installs, once per process, the panic hook that pauses a panicking VM thread's pulse, then
/// runs the hook that was there before.
pub(crate) fn install_panic_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let _ = CURRENT.try_with(|current| {
                if let Ok(current) = current.try_borrow() {
                    if let Some(pulse) = current.as_ref() {
                        pulse.idle();
                    }
                }
            });
            previous(info);
        }));
    });
}
