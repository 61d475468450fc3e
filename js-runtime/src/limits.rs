//! Bounds on one table's runtime: memory, stack, CPU time and output per event (messages,
//! emits), storage size, values crossing a host function call.

use std::time::Duration;

/// Default memory limit of one table's runtime: 32 MiB.
pub const DEFAULT_MEMORY_LIMIT: usize = 32 * 1024 * 1024;
/// Default maximum JS stack of one runtime: 512 KiB (the VM threads have a far larger C stack).
pub const DEFAULT_STACK_LIMIT: usize = 512 * 1024;
/// Default CPU time one event (define, hook, command) may run before it is aborted: 100 ms.
pub const DEFAULT_CPU_PER_EVENT: Duration = Duration::from_millis(100);
/// Default most messages one event may send (`sendCommand` + each `sendCommandToAll`).
pub const DEFAULT_MESSAGES_PER_EVENT: usize = 1000;
/// Default most bytes (commands + bodies) of the messages one event may send: 4 MiB.
pub const DEFAULT_MESSAGE_BYTES_PER_EVENT: usize = 4 * 1024 * 1024;
/// Default largest storage value (key + value bytes) one `setItem` may write: 64 KiB.
pub const DEFAULT_MAX_VALUE: usize = 64 * 1024;
/// Default total storage of one table (both namespaces, keys + values): 4 MiB.
pub const DEFAULT_MAX_STORAGE: usize = 4 * 1024 * 1024;
/// Default largest `GGS.state` as JSON: 1 MiB.
pub const DEFAULT_MAX_STATE: usize = 1024 * 1024;
/// Default largest value crossing a `GGS.host` call either way (the arguments, or the
/// result), as JSON: 256 KiB.
pub const DEFAULT_HOST_VALUE_BYTES: usize = 256 * 1024;
/// Default most `GGS.emit` calls one event may make.
pub const DEFAULT_EMITS_PER_EVENT: usize = 100;
/// Default most bytes (names + JSON payloads) one event may emit: 256 KiB.
pub const DEFAULT_EMIT_BYTES_PER_EVENT: usize = 256 * 1024;
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
    /// Messages one event may send.
    pub messages_per_event: usize,
    /// Bytes of messages one event may send (a broadcast counts once).
    pub message_bytes_per_event: usize,
    /// Bytes of one storage entry (key + value).
    pub max_value: usize,
    /// Bytes of a table's storage, both namespaces.
    pub max_storage: usize,
    /// Bytes of `GGS.state` as JSON.
    pub max_state: usize,
    /// Testing only: installs `GGS.__fault(kind)`, which makes the host fail on purpose
    /// (`"panic"`: a panic in a host function; `"thread"`: the VM thread dies after the event;
    /// `"actor"`: the table's task panics), so supervision can be tested from outside.
    pub fault_injection: bool,
    /// Bytes, as JSON, of the arguments of one `GGS.host` call, and of its result.
    pub host_value_bytes: usize,
    /// `GGS.emit` calls one event may make.
    pub emits_per_event: usize,
    /// Bytes (names + JSON payloads) one event may emit.
    pub emit_bytes_per_event: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory: DEFAULT_MEMORY_LIMIT,
            stack: DEFAULT_STACK_LIMIT,
            cpu_per_event: DEFAULT_CPU_PER_EVENT,
            messages_per_event: DEFAULT_MESSAGES_PER_EVENT,
            message_bytes_per_event: DEFAULT_MESSAGE_BYTES_PER_EVENT,
            max_value: DEFAULT_MAX_VALUE,
            max_storage: DEFAULT_MAX_STORAGE,
            max_state: DEFAULT_MAX_STATE,
            fault_injection: false,
            host_value_bytes: DEFAULT_HOST_VALUE_BYTES,
            emits_per_event: DEFAULT_EMITS_PER_EVENT,
            emit_bytes_per_event: DEFAULT_EMIT_BYTES_PER_EVENT,
        }
    }
}
