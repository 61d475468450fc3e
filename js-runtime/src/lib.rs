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
//! - [`effects`]: what an event produced: storage writes, messages and emits.
//! - [`host_functions`]: the functions an embedding application gives scripts (`GGS.host`).
//! - [`api`]: the `GGS` object scripts see (storage, messaging, info, host functions and
//!   emits), installed by a JS prelude over a small set of native functions.
//!
//! **Architecture invariant:** this crate knows nothing of sockets, protocols or sled. It takes
//! an event and the table's storage and returns the event's effects.
//!
//! # Using it alone
//!
//! A game author can run a script with no server: [`vm::Vm::new`] makes one table's runtime
//! over a [`Storage`] (empty, or what a test committed), `Event::Define` evaluates the script,
//! and [`vm::Vm::run`] runs each hook (`Joined`, `Command`, `Tick`, ...) as a transaction whose
//! [`Outcome`] holds the storage writes and the messages it sent, or the [`ScriptError`] that
//! rolled it back. `examples/test_a_game.rs` is a complete harness that unit-tests
//! `games/tictactoe.js` this way (`cargo test -p ggs-js --example test_a_game`), including a
//! restart from the storage its events committed; `examples/event_cost.rs` measures the cost
//! of one event. [`compile_check`] judges a script's syntax without running it.
//!
//! # What an embedding application adds
//!
//! [`HostFunctions`] given to [`VmHost::with_host_functions`] (or [`vm::Vm::with_host_functions`])
//! become `GGS.host.NAME(...)` in every table's scripts; a script's `GGS.emit(name, payload)`
//! comes back in its event's [`Effects::emits`], for the server to hand to the application
//! once the event is durable.

pub mod api;
pub mod compile;
pub mod effects;
pub mod host;
pub mod host_functions;
pub mod limits;
pub mod vm;
pub mod watchdog;
pub mod worker;

pub use compile::{compile_check, CompileError};
pub use effects::{Effects, Emit, Message, Namespace, Recipient, Write};
pub use host::{HostError, TableVm, VmHost};
pub use host_functions::{HostFn, HostFunctionError, HostFunctions};
pub use limits::Limits;
pub use vm::{Event, EventContext, Outcome, PlayerIdentity, ScriptError, Storage};
