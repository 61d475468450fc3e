//! Bounds on one table's runtime: memory, stack and CPU time per event.

use std::time::Duration;

/// Default memory limit of one table's runtime: 32 MiB.
pub const DEFAULT_MEMORY_LIMIT: usize = 32 * 1024 * 1024;
/// Default maximum JS stack of one runtime: 512 KiB (the VM threads have a far larger C stack).
pub const DEFAULT_STACK_LIMIT: usize = 512 * 1024;
/// Default CPU time one event (define, hook, command) may run before it is aborted: 100 ms.
pub const DEFAULT_CPU_PER_EVENT: Duration = Duration::from_millis(100);
/// C stack size of each VM-host thread: comfortably above the JS stack limit.
pub const VM_THREAD_STACK: usize = 8 * 1024 * 1024;

/// Limits applied to every table runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of memory one runtime may allocate.
    pub memory: usize,
    /// Bytes of JS stack one runtime may use.
    pub stack: usize,
    /// Wall-clock time one event may run on its VM thread before it is interrupted.
    pub cpu_per_event: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory: DEFAULT_MEMORY_LIMIT,
            stack: DEFAULT_STACK_LIMIT,
            cpu_per_event: DEFAULT_CPU_PER_EVENT,
        }
    }
}
