//! One table's QuickJS runtime: evaluates its script and runs each event as a transaction.
//!
//! A table owns one `Runtime` (so memory and CPU limits are per table) with one context. The
//! storage maps live here, on the VM thread, next to the runtime: scripts read them without
//! leaving the thread. An event either returns its [`Effects`] (its overlay is committed to the
//! in-memory maps) or fails with a [`ScriptError`] (its writes and messages are discarded).

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rquickjs::context::EvalOptions;
use rquickjs::{CaughtError, Context, Ctx, Function, Object, Persistent, Runtime, Value};

use crate::api;
use crate::api::storage::KvStore;
use crate::effects::{Effects, Emit, Message, Namespace};
use crate::host_functions::HostFunctions;
use crate::limits::Limits;
use crate::watchdog::Pulse;

/// Name scripts get in stack traces and error messages.
const SCRIPT_NAME: &str = "game.js";
/// A script error without an error value counts as running out of memory when the heap is
/// this close to its limit (QuickJS could not even allocate the error).
const OOM_HEADROOM: usize = 1024 * 1024;
/// Most promise jobs run after one event (async functions, `Promise.then`); bounded by the deadline too.
const MAX_JOBS_PER_EVENT: usize = 10_000;

/// A table's committed script-visible data, as loaded from the store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Storage {
    /// `GGS.localStorage`.
    pub local: BTreeMap<String, String>,
    /// `GGS.world`.
    pub world: BTreeMap<String, String>,
    /// `GGS.state` as JSON text (`None`: never set, starts as `{}`).
    pub state: Option<String>,
    /// The tick interval set with `GGS.setTick`, in milliseconds (0: no tick).
    pub tick_ms: u32,
}

/// One thing that happens at a table, run as one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Evaluate a new script; on success it replaces the old one, on failure the old one stays.
    Define {
        /// The JavaScript source.
        source: String,
    },
    /// Upgrade the running game to another version of it: the new script is evaluated in a
    /// fresh runtime over the table's committed storage and `GGS.state`, then its optional
    /// `onUpgrade(fromVersion, toVersion)` runs; if either throws (or runs out of time), the old
    /// script stays and nothing changes.
    Upgrade {
        /// The new version's JavaScript source.
        source: String,
        /// The version the table runs now (0 if it runs no catalogue version).
        from: u32,
        /// The version it upgrades to.
        to: u32,
    },
    /// A player sat down: calls the optional `playerJoined(player)`.
    Joined {
        /// The player id.
        player: String,
    },
    /// A player left: calls the optional `playerLeft(player)`.
    Left {
        /// The player id.
        player: String,
    },
    /// A disconnected player took their seat back: calls the optional `playerReconnected(player)`.
    Reconnected {
        /// The player id.
        player: String,
    },
    /// The table was rebuilt from its committed state: calls the optional `onResume()`.
    Resume,
    /// The tick set with `GGS.setTick` is due: calls `tick()`.
    Tick,
    /// The earliest due `setTimeout`/`setInterval` callback runs.
    Timer,
    /// A game command: calls `playerCommand(player, command, args)`.
    Command {
        /// The sender.
        player: String,
        /// The command name.
        command: String,
        /// Its argument string.
        args: String,
    },
}

/// What the table tells the script about the world at the time of an event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventContext {
    /// Player ids seated at the table (`GGS.players`), shared until the seats change.
    pub players: Arc<[String]>,
    /// Players connected to the server (`GGS.serverInfo()`).
    pub server_players: u64,
    /// Who the seated players are, as the embedding application said, by player id
    /// (`GGS.playerInfo(player)`; anonymous players are not in it), shared until it changes.
    pub identities: Arc<HashMap<String, PlayerIdentity>>,
}

/// Who a seated player is, as the embedding application said: `GGS.playerInfo(player)`'s
/// `userId` and `name`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PlayerIdentity {
    /// The application's account id.
    pub user_id: String,
    /// The name to show.
    pub name: String,
}

/// Why an event failed. It had no effects.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScriptError {
    /// The script threw; the message is the JS error's.
    #[error("{0}")]
    Exception(String),
    /// The event ran past its CPU deadline and was aborted.
    #[error("the script ran longer than its {} ms limit for one event", .0.as_millis())]
    Timeout(Duration),
    /// A game command reached a table without a game script.
    #[error("the table has no game script yet: send define first")]
    NoScript,
    /// The event hit one of the table's limits (messages, storage, state size).
    #[error("{message}")]
    Limit {
        /// The stable code.
        code: &'static str,
        /// A sentence naming the limit.
        message: String,
    },
    /// The runtime ran out of memory; the table's runtime was rebuilt from committed data.
    #[error("the script ran out of memory (limit {0} bytes); the table was reset to its last committed state")]
    OutOfMemory(usize),
    /// The event crashed the runtime (a panic in the host); it had no effect, and the table
    /// was rebuilt from its last committed state.
    #[error("the table's runtime crashed running this event; the table was rebuilt from its last committed state")]
    Crashed,
    /// The VM thread that ran this table is gone.
    #[error("the table's script runtime is unavailable")]
    Unavailable,
    /// The event held its VM thread past its CPU deadline inside one call the interrupt
    /// handler cannot stop (a built-in function): the watchdog abandoned the thread, and the
    /// table is rebuilt from its last committed state.
    #[error("the script ran longer than its {} ms limit for one event (inside one built-in call); the table was reset to its last committed state", .0.as_millis())]
    Abandoned(Duration),
    /// Another table held this table's VM thread past its deadline: the thread was abandoned
    /// and this table must be rebuilt on a live one (the event did not run).
    #[error(
        "the table's script runtime was on a VM thread that another table's script held too long"
    )]
    Displaced,
}

impl ScriptError {
    /// The stable code sent to clients.
    pub fn code(&self) -> &'static str {
        match self {
            ScriptError::Exception(_) => "script_error",
            ScriptError::Timeout(_) | ScriptError::Abandoned(_) => "script_timeout",
            ScriptError::NoScript => "no_script",
            ScriptError::Limit { code, .. } => code,
            ScriptError::OutOfMemory(_) => "script_out_of_memory",
            ScriptError::Crashed => "script_crashed",
            ScriptError::Unavailable | ScriptError::Displaced => "vm_unavailable",
        }
    }

    /// Whether the VM lost the event (its runtime crashed, its thread is gone or was
    /// abandoned): the table must be rebuilt from its committed state.
    pub fn is_lost(&self) -> bool {
        matches!(
            self,
            ScriptError::Crashed
                | ScriptError::Unavailable
                | ScriptError::Abandoned(_)
                | ScriptError::Displaced
        )
    }

    /// Whether the event never ran because its VM was lost (not through its own fault): it
    /// runs again after the rebuild.
    pub fn is_retriable(&self) -> bool {
        matches!(self, ScriptError::Unavailable | ScriptError::Displaced)
    }

    /// Whether the table's limits were abused (CPU or memory): repeated offences stop a table.
    pub fn is_offence(&self) -> bool {
        matches!(
            self,
            ScriptError::Timeout(_) | ScriptError::Abandoned(_) | ScriptError::OutOfMemory(_)
        )
    }
}

/// A limit a native function enforces by throwing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Limit {
    Messages,
    ValueTooLarge,
    StorageFull,
    StateTooLarge,
    Emits,
    HostValue,
}

impl Limit {
    fn code(self) -> &'static str {
        match self {
            Limit::Messages => "message_limit",
            Limit::ValueTooLarge => "value_too_large",
            Limit::StorageFull => "storage_full",
            Limit::StateTooLarge => "state_too_large",
            Limit::Emits => "emit_limit",
            Limit::HostValue => "host_value_too_large",
        }
    }
}

/// Data shared between the VM and the native functions of its runtime(s).
pub(crate) struct TableData {
    pub(crate) table: Arc<str>,
    pub(crate) storage: [KvStore; 2],
    pub(crate) messages: Vec<Message>,
    /// Bytes of `messages`, for the per-event bound.
    pub(crate) message_bytes: usize,
    /// The running event's `GGS.emit`s, and their bytes (names + JSON payloads).
    pub(crate) emits: Vec<Emit>,
    pub(crate) emit_bytes: usize,
    /// The application's functions (`GGS.host`).
    pub(crate) host: HostFunctions,
    /// The running event's CPU deadline (a host function's time counts against it).
    pub(crate) deadline: Rc<Deadline>,
    /// The VM thread's pulse, beaten again after a host function panicked (the panic hook
    /// paused it).
    pub(crate) pulse: Option<Arc<Pulse>>,
    pub(crate) players: Arc<[String]>,
    pub(crate) server_players: u64,
    pub(crate) identities: Arc<HashMap<String, PlayerIdentity>>,
    /// Committed `GGS.state` JSON.
    pub(crate) state: String,
    /// Committed tick interval and the one the running event set, if any.
    pub(crate) tick: u32,
    pub(crate) tick_pending: Option<u32>,
    /// Zero of the runtime clock (`ops.now`).
    pub(crate) epoch: Instant,
    pub(crate) limits: Limits,
    /// The limit the running event hit, if any: its failure is reported as that limit.
    pub(crate) limit: Option<(Limit, String)>,
    /// A fault injected by the running event (testing only).
    pub(crate) fault: Option<Fault>,
}

/// A failure injected on purpose to test supervision (see `Limits::fault_injection`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    /// The VM thread dies after the event.
    Thread,
    /// The table's task panics.
    Actor,
}

impl TableData {
    /// Records that the running event hit `limit` and returns the RangeError to throw.
    pub(crate) fn limit_hit(
        &mut self,
        ctx: &Ctx<'_>,
        limit: Limit,
        message: String,
    ) -> rquickjs::Error {
        let error = rquickjs::Exception::throw_range(ctx, &message);
        self.limit = Some((limit, message));
        error
    }
}

pub(crate) type Shared = Rc<RefCell<TableData>>;

/// The CPU deadline of the running event, read by the runtime's interrupt handler.
#[derive(Default)]
pub(crate) struct Deadline {
    at: Cell<Option<Instant>>,
    fired: Cell<bool>,
}

impl Deadline {
    /// Whether the running event's deadline has passed; if so, the event fails with
    /// `script_timeout` whatever the script does next.
    pub(crate) fn passed(&self) -> bool {
        match self.at.get() {
            Some(at) if Instant::now() >= at => {
                self.fired.set(true);
                true
            }
            _ => false,
        }
    }
}

/// A runtime with its context and the prelude's private handle. Field order matters: the
/// handle, then the context, are dropped before the runtime.
struct Js {
    internal: Persistent<Object<'static>>,
    context: Context,
    _runtime: Runtime,
}

/// What one event produced, and when the table's next timer is due either way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The effects, or why the event had none.
    pub result: Result<Effects, ScriptError>,
    /// Time until the earliest `setTimeout`/`setInterval` callback is due.
    pub next_timer: Option<Duration>,
}

impl Outcome {
    /// The outcome of an event that failed before it ran (no timer is known).
    pub fn failed(error: ScriptError) -> Self {
        Outcome {
            result: Err(error),
            next_timer: None,
        }
    }
}

/// One table's script runtime and storage.
pub struct Vm {
    data: Shared,
    js: Option<Js>,
    /// The script the runtime was built from (to rebuild it after running out of memory).
    script: Option<String>,
    /// During a define: the runtime it replaced and the new source, until the event commits.
    replaced: Option<(Option<Js>, String)>,
    limits: Limits,
    deadline: Rc<Deadline>,
    /// The VM thread's pulse: each deadline window beats it, so the watchdog sees progress.
    pulse: Option<Arc<Pulse>>,
}

impl Vm {
    /// A VM for `table` with its committed storage and no script yet.
    pub fn new(table: Arc<str>, storage: Storage, limits: Limits) -> Self {
        let deadline = Rc::new(Deadline::default());
        let data = TableData {
            table,
            storage: [KvStore::new(storage.local), KvStore::new(storage.world)],
            messages: Vec::new(),
            message_bytes: 0,
            emits: Vec::new(),
            emit_bytes: 0,
            host: HostFunctions::default(),
            deadline: deadline.clone(),
            pulse: None,
            players: Arc::from(Vec::new()),
            server_players: 0,
            identities: Arc::default(),
            state: storage.state.unwrap_or_else(|| "{}".to_string()),
            tick: storage.tick_ms,
            tick_pending: None,
            epoch: Instant::now(),
            limits,
            limit: None,
            fault: None,
        };
        Vm {
            data: Rc::new(RefCell::new(data)),
            js: None,
            script: None,
            replaced: None,
            limits,
            deadline,
            pulse: None,
        }
    }

    /// The same VM, whose scripts see `host` as `GGS.host` (set it before the first define
    /// or restore: a runtime built earlier keeps what it had).
    pub fn with_host_functions(self, host: HostFunctions) -> Self {
        self.data.borrow_mut().host = host;
        self
    }

    /// The same VM, beating its thread's pulse at every deadline window.
    pub(crate) fn watched(mut self, pulse: Arc<Pulse>) -> Self {
        self.data.borrow_mut().pulse = Some(pulse.clone());
        self.pulse = Some(pulse);
        self
    }

    /// Starts (or ends) a deadline window: the thread makes progress.
    fn beat(&self) {
        if let Some(pulse) = &self.pulse {
            pulse.beat();
        }
    }

    /// Whether the last event asked the VM thread to die (fault injection, testing only).
    pub fn thread_fault(&mut self) -> bool {
        let mut data = self.data.borrow_mut();
        if data.fault == Some(Fault::Thread) {
            data.fault = None;
            return true;
        }
        false
    }

    /// Whether a script has been evaluated successfully.
    pub fn has_script(&self) -> bool {
        self.js.is_some()
    }

    /// Evaluates the table's committed script after a load or a rebuild. Whatever that
    /// evaluation writes, sends or sets is discarded: the committed data is the truth.
    pub fn restore(&mut self, source: &str) -> Result<(), ScriptError> {
        let result = self.fresh_js().and_then(|js| {
            self.guarded(&js, |ctx| eval_script(&ctx, source))?;
            Ok(js)
        });
        match result {
            Ok(js) => {
                self.rollback(Some(&js));
                self.js = Some(js);
                self.script = Some(source.to_string());
                Ok(())
            }
            Err(e) => {
                self.rollback(None);
                Err(e)
            }
        }
    }

    /// Runs one event as a transaction.
    pub fn run(&mut self, event: Event, cx: EventContext) -> Outcome {
        {
            let mut data = self.data.borrow_mut();
            data.players = cx.players;
            data.server_players = cx.server_players;
            data.identities = cx.identities;
            data.messages.clear();
            data.message_bytes = 0;
            data.emits.clear();
            data.emit_bytes = 0;
            data.tick_pending = None;
            data.limit = None;
        }
        let result = match event {
            Event::Define { source } => self.define(source),
            Event::Upgrade { source, from, to } => self
                .define(source)
                .and_then(|()| self.call_hook("onUpgrade", (from, to), false)),
            Event::Joined { player } => self.call_hook("playerJoined", (player,), false),
            Event::Left { player } => self.call_hook("playerLeft", (player,), false),
            Event::Reconnected { player } => self.call_hook("playerReconnected", (player,), false),
            Event::Resume => self.call_hook("onResume", (), false),
            Event::Tick => self.call_hook("tick", (), false),
            Event::Timer => self.run_timer(),
            Event::Command {
                player,
                command,
                args,
            } => self.call_hook("playerCommand", (player, command, args), true),
        };
        let result = result.and_then(|()| self.commit());
        let replaced = self.replaced.take();
        let result = match result {
            Ok(effects) => {
                if let Some((_, source)) = replaced {
                    self.script = Some(source);
                }
                Ok(effects)
            }
            Err(e) => {
                // A define that fails at commit (its state too large) puts the old script back.
                if let Some((previous, _)) = replaced {
                    self.js = previous;
                }
                Err(self.fail(e))
            }
        };
        Outcome {
            result,
            next_timer: self.next_timer(),
        }
    }

    /// Undoes a failed event and names its failure: a limit it hit, or running out of memory
    /// (after which the runtime is rebuilt from the committed script and data).
    fn fail(&mut self, error: ScriptError) -> ScriptError {
        let out_of_memory = self.ran_out_of_memory(&error);
        self.rollback(self.js.as_ref());
        if let Some((limit, message)) = self.data.borrow_mut().limit.take() {
            return ScriptError::Limit {
                code: limit.code(),
                message,
            };
        }
        if out_of_memory {
            self.js = None;
            if let Some(source) = self.script.clone() {
                if let Err(e) = self.restore(&source) {
                    tracing::warn!("rebuilding a runtime after running out of memory: {e}");
                }
            }
            return ScriptError::OutOfMemory(self.limits.memory);
        }
        error
    }

    /// Whether `error` is the runtime running out of memory: QuickJS's "out of memory", or
    /// no error value at all (there was no memory left to build one) with the heap within
    /// [`OOM_HEADROOM`] of its limit.
    fn ran_out_of_memory(&self, error: &ScriptError) -> bool {
        let ScriptError::Exception(text) = error else {
            return false;
        };
        if text.contains("out of memory") {
            return true;
        }
        let valueless = matches!(
            text.as_str(),
            "uncaught null" | "uncaught undefined" | "uncaught a non-error value was thrown"
        );
        valueless
            && self.js.as_ref().is_some_and(|js| {
                let used = usize::try_from(js._runtime.memory_usage().malloc_size).unwrap_or(0);
                used + OOM_HEADROOM >= self.limits.memory
            })
    }

    /// Evaluates a new script in a fresh runtime and puts it in place, keeping the previous
    /// one until the event commits.
    fn define(&mut self, source: String) -> Result<(), ScriptError> {
        let js = self.fresh_js()?;
        self.begin(&js)?;
        self.guarded(&js, |ctx| eval_script(&ctx, &source))?;
        let previous = self.js.replace(js);
        self.replaced = Some((previous, source));
        Ok(())
    }

    /// Takes the earliest due timer out of the table (so a throwing callback is not retried
    /// forever), then runs its callback as the event.
    fn run_timer(&self) -> Result<(), ScriptError> {
        let Some(js) = &self.js else { return Ok(()) };
        let call =
            self.internal_call::<Option<Persistent<Function<'static>>>>(js, "takeDue", ())?;
        let Some(call) = call else { return Ok(()) };
        self.begin(js)?;
        self.guarded(js, |ctx| call.restore(&ctx)?.call::<_, ()>(()))
    }

    /// Time until the earliest timer of the current runtime is due.
    fn next_timer(&self) -> Option<Duration> {
        let js = self.js.as_ref()?;
        let ms: f64 = self.internal_call(js, "nextDue", ()).ok()?;
        (ms >= 0.0).then(|| Duration::from_secs_f64(ms / 1000.0))
    }

    /// Marks the start of an event: a failure returns the timers to this point.
    fn begin(&self, js: &Js) -> Result<(), ScriptError> {
        self.internal_call::<()>(js, "begin", ())
    }

    fn commit(&mut self) -> Result<Effects, ScriptError> {
        let state = match &self.js {
            Some(js) => self.internal_call::<Option<String>>(js, "stateJson", ())?,
            None => None,
        };
        let mut data = self.data.borrow_mut();
        if let Some(state) = &state {
            if state.len() > self.limits.max_state && *state != data.state {
                let max = self.limits.max_state;
                return Err(ScriptError::Limit {
                    code: Limit::StateTooLarge.code(),
                    message: format!(
                        "GGS.state may be at most {max} bytes as JSON; it would be {}",
                        state.len()
                    ),
                });
            }
        }
        let mut effects = Effects {
            messages: std::mem::take(&mut data.messages),
            emits: std::mem::take(&mut data.emits),
            ..Effects::default()
        };
        for ns in Namespace::ALL {
            data.storage[ns.index()].commit(ns, &mut effects.writes);
        }
        if let Some(state) = state {
            if state != data.state {
                data.state = state.clone();
                effects.state = Some(state);
            }
        }
        effects.fault = data.fault == Some(Fault::Actor);
        if effects.fault {
            data.fault = None;
        }
        if let Some(tick) = data.tick_pending.take() {
            if tick != data.tick {
                data.tick = tick;
                effects.tick = Some(tick);
            }
        }
        Ok(effects)
    }

    /// Forgets the running event's writes, messages, state changes, tick and timers.
    fn rollback(&self, js: Option<&Js>) {
        let state = {
            let mut data = self.data.borrow_mut();
            data.messages.clear();
            data.emits.clear();
            data.tick_pending = None;
            for store in &mut data.storage {
                store.rollback();
            }
            data.state.clone()
        };
        if let Some(js) = js {
            if let Err(e) = self.internal_call::<()>(js, "rollback", (state,)) {
                tracing::warn!("rolling back a table's state failed: {e}");
            }
        }
    }

    /// Calls a method of the prelude's private handle, outside any event deadline.
    fn internal_call<R>(
        &self,
        js: &Js,
        method: &str,
        args: impl for<'js> rquickjs::function::IntoArgs<'js>,
    ) -> Result<R, ScriptError>
    where
        R: for<'js> rquickjs::FromJs<'js> + 'static,
    {
        // Script code can run here too (a `toJSON` in the state, a getter): same deadline.
        self.within_deadline(|| {
            js.context.with(|ctx| {
                let run = || -> rquickjs::Result<R> {
                    let internal = js.internal.clone().restore(&ctx)?;
                    let f: Function = internal.get(method)?;
                    f.call(args)
                };
                run().map_err(|e| describe(&ctx, e))
            })
        })
    }

    /// Calls a global function of the script if it exists; `required` makes its absence an error.
    fn call_hook<A>(&self, name: &str, args: A, required: bool) -> Result<(), ScriptError>
    where
        A: for<'js> rquickjs::function::IntoArgs<'js>,
    {
        let Some(js) = &self.js else {
            return if required {
                Err(ScriptError::NoScript)
            } else {
                Ok(())
            };
        };
        self.begin(js)?;
        self.guarded(js, |ctx| {
            let hook: Value = ctx.globals().get(name)?;
            match hook.into_function() {
                Some(f) => f.call::<_, ()>(args),
                None if required => Err(rquickjs::Exception::throw_reference(
                    &ctx,
                    &format!("{name} is not defined as a function by the game script"),
                )),
                None => Ok(()),
            }
        })
    }

    /// Runs `f` in the context under the CPU deadline, then the promise jobs it queued.
    fn guarded<F>(&self, js: &Js, f: F) -> Result<(), ScriptError>
    where
        F: for<'js> FnOnce(Ctx<'js>) -> rquickjs::Result<()>,
    {
        self.within_deadline(|| {
            js.context.with(|ctx| {
                let outcome = f(ctx.clone()).map_err(|e| describe(&ctx, e));
                let mut jobs = 0;
                while outcome.is_ok() && jobs < MAX_JOBS_PER_EVENT && ctx.execute_pending_job() {
                    jobs += 1;
                }
                outcome
            })
        })
    }

    /// Runs `run` in one deadline window: the interrupt handler aborts it at the CPU deadline
    /// (it then fails with `script_timeout`), and the window's start and end beat the thread's
    /// pulse for the watchdog.
    fn within_deadline<R>(
        &self,
        run: impl FnOnce() -> Result<R, ScriptError>,
    ) -> Result<R, ScriptError> {
        self.beat();
        self.deadline
            .at
            .set(Some(Instant::now() + self.limits.cpu_per_event));
        self.deadline.fired.set(false);
        let result = run();
        self.deadline.at.set(None);
        self.beat();
        if self.deadline.fired.get() {
            return Err(ScriptError::Timeout(self.limits.cpu_per_event));
        }
        result
    }

    /// A new runtime and context with the limits applied and the `GGS` API installed.
    fn fresh_js(&self) -> Result<Js, ScriptError> {
        let unavailable =
            |e: rquickjs::Error| ScriptError::Exception(format!("cannot start a runtime: {e}"));
        let runtime = Runtime::new().map_err(unavailable)?;
        runtime.set_memory_limit(self.limits.memory);
        runtime.set_max_stack_size(self.limits.stack);
        let deadline = self.deadline.clone();
        runtime.set_interrupt_handler(Some(Box::new(move || deadline.passed())));
        let context = Context::full(&runtime).map_err(unavailable)?;
        let data = self.data.clone();
        let internal = context.with(|ctx| {
            api::install(&ctx, &data)
                .map(|internal| Persistent::save(&ctx, internal))
                .map_err(|e| describe(&ctx, e))
        })?;
        Ok(Js {
            internal,
            context,
            _runtime: runtime,
        })
    }
}

fn eval_script(ctx: &Ctx<'_>, source: &str) -> rquickjs::Result<()> {
    let mut options = EvalOptions::default();
    options.strict = false;
    options.filename = Some(SCRIPT_NAME.to_string());
    ctx.eval_with_options::<(), _>(source, options)
}

/// Turns a rquickjs error into the message a player sees: `Name: message (at game.js:L:C)`.
fn describe(ctx: &Ctx<'_>, error: rquickjs::Error) -> ScriptError {
    match CaughtError::from_error(ctx, error) {
        CaughtError::Exception(e) => {
            let name: Option<String> = e.get("name").ok();
            let message = e.message().unwrap_or_default();
            let mut text = match name {
                Some(name) if !name.is_empty() => format!("{name}: {message}"),
                _ => message,
            };
            if let Some(at) = e.stack().as_deref().and_then(first_frame) {
                text.push_str(&format!(" ({at})"));
            }
            ScriptError::Exception(text)
        }
        CaughtError::Value(v) => {
            let text = v
                .as_string()
                .and_then(|s| s.to_string().ok())
                .or_else(|| {
                    ctx.json_stringify(v)
                        .ok()
                        .flatten()
                        .and_then(|s| s.to_string().ok())
                })
                .unwrap_or_else(|| "a non-error value was thrown".to_string());
            ScriptError::Exception(format!("uncaught {text}"))
        }
        CaughtError::Error(e) => ScriptError::Exception(e.to_string()),
    }
}

/// The first stack frame that points into the game script, e.g. `at playerCommand (game.js:3:9)`.
fn first_frame(stack: &str) -> Option<String> {
    stack
        .lines()
        .map(str::trim)
        .find(|l| l.contains(SCRIPT_NAME))
        .map(str::to_owned)
}
