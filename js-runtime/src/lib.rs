//! ggs-js: the VM host that runs each game table's JavaScript in its own QuickJS runtime.
//!
//! Codemap:
//! - [`host`]: the fixed pool of long-lived OS threads that own the runtimes, and where a new
//!   table goes; the async handle ([`TableVm`]) the server uses to run a table's events, a
//!   batch per trip.
//! - [`worker`]: one VM thread: its queue, its runtimes, what the host and the watchdog know
//!   of it.
//! - [`watchdog`]: abandons and replaces a VM thread stuck in one call (a built-in, which
//!   the interrupt handler cannot stop) past its deadline.
//! - [`compile`]: compile a script without running it (the catalogue's upload check).
//! - [`vm`]: one table's runtime: evaluate (define or restore) a script, run one event as a
//!   transaction over the table's storage.
//! - [`limits`]: memory, stack and CPU time per runtime.
//! - [`effects`]: what an event produced: storage writes and messages.
//! - [`api`]: the `GGS` object scripts see (storage, messaging, info), installed by a JS prelude
//!   over a small set of native functions.
//!
//! **Architecture invariant:** this crate knows nothing of sockets, protocols or sled. It takes
//! an event and the table's storage and returns the event's effects.

pub mod api;
pub mod compile;
pub mod effects;
pub mod host;
pub mod limits;
pub mod vm;
pub mod watchdog;
pub mod worker;

pub use compile::{compile_check, CompileError};
pub use effects::{Effects, Message, Namespace, Recipient, Write};
pub use host::{HostError, TableVm, VmHost};
pub use limits::Limits;
pub use vm::{Event, EventContext, Outcome, ScriptError, Storage};
