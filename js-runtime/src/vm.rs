//! One table's QuickJS runtime: evaluates its script and runs each event as a transaction.
//!
//! A table owns one `Runtime` (so memory and CPU limits are per table) with one context. The
//! storage maps live here, on the VM thread, next to the runtime: scripts read them without
//! leaving the thread. An event either returns its [`Effects`] (its overlay is committed to the
//! in-memory maps) or fails with a [`ScriptError`] (its writes and messages are discarded).

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rquickjs::context::EvalOptions;
use rquickjs::{CaughtError, Context, Ctx, Runtime, Value};

use crate::api;
use crate::api::storage::KvStore;
use crate::effects::{Effects, Message, Namespace};
use crate::limits::Limits;

/// Name scripts get in stack traces and error messages.
const SCRIPT_NAME: &str = "game.js";
/// Most promise jobs run after one event (async functions, `Promise.then`); bounded by the deadline too.
const MAX_JOBS_PER_EVENT: usize = 10_000;

/// A table's committed storage, as loaded from the store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Storage {
    /// `GGS.localStorage`.
    pub local: BTreeMap<String, String>,
    /// `GGS.world`.
    pub world: BTreeMap<String, String>,
}

/// One thing that happens at a table, run as one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Evaluate a new script; on success it replaces the old one, on failure the old one stays.
    Define {
        /// The JavaScript source.
        source: String,
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
    /// Player ids seated at the table (`GGS.players`).
    pub players: Vec<String>,
    /// Players connected to the server (`GGS.serverInfo()`).
    pub server_players: u64,
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
    /// The VM thread that ran this table is gone.
    #[error("the table's script runtime is unavailable")]
    Unavailable,
}

impl ScriptError {
    /// The stable code sent to clients.
    pub fn code(&self) -> &'static str {
        match self {
            ScriptError::Exception(_) => "script_error",
            ScriptError::Timeout(_) => "script_timeout",
            ScriptError::NoScript => "no_script",
            ScriptError::Unavailable => "vm_unavailable",
        }
    }
}

/// Data shared between the VM and the native functions of its runtime(s).
pub(crate) struct TableData {
    pub(crate) table: Arc<str>,
    pub(crate) storage: [KvStore; 2],
    pub(crate) messages: Vec<Message>,
    pub(crate) players: Vec<String>,
    pub(crate) server_players: u64,
}

pub(crate) type Shared = Rc<RefCell<TableData>>;

/// The CPU deadline of the running event, read by the runtime's interrupt handler.
#[derive(Default)]
struct Deadline {
    at: Cell<Option<Instant>>,
    fired: Cell<bool>,
}

/// A runtime with its context. Field order matters: the context is dropped first.
struct Js {
    context: Context,
    _runtime: Runtime,
}

/// One table's script runtime and storage.
pub struct Vm {
    data: Shared,
    js: Option<Js>,
    limits: Limits,
    deadline: Rc<Deadline>,
}

impl Vm {
    /// A VM for `table` with its committed storage and no script yet.
    pub fn new(table: Arc<str>, storage: Storage, limits: Limits) -> Self {
        let data = TableData {
            table,
            storage: [KvStore::new(storage.local), KvStore::new(storage.world)],
            messages: Vec::new(),
            players: Vec::new(),
            server_players: 0,
        };
        Vm {
            data: Rc::new(RefCell::new(data)),
            js: None,
            limits,
            deadline: Rc::new(Deadline::default()),
        }
    }

    /// Whether a script has been evaluated successfully.
    pub fn has_script(&self) -> bool {
        self.js.is_some()
    }

    /// Evaluates the table's committed script after a load or a rebuild. Whatever that
    /// evaluation writes or sends is discarded: the committed storage is the truth.
    pub fn restore(&mut self, source: &str) -> Result<(), ScriptError> {
        let result = self.fresh_js().and_then(|js| {
            self.guarded(&js, |ctx| eval_script(&ctx, source))?;
            Ok(js)
        });
        self.rollback();
        self.js = Some(result?);
        Ok(())
    }

    /// Runs one event as a transaction.
    pub fn run(&mut self, event: Event, cx: EventContext) -> Result<Effects, ScriptError> {
        {
            let mut data = self.data.borrow_mut();
            data.players = cx.players;
            data.server_players = cx.server_players;
            data.messages.clear();
        }
        let result = match event {
            Event::Define { source } => self.fresh_js().and_then(|js| {
                self.guarded(&js, |ctx| eval_script(&ctx, &source))?;
                self.js = Some(js);
                Ok(())
            }),
            Event::Joined { player } => self.call_hook("playerJoined", (player,), false),
            Event::Left { player } => self.call_hook("playerLeft", (player,), false),
            Event::Command {
                player,
                command,
                args,
            } => self.call_hook("playerCommand", (player, command, args), true),
        };
        match result {
            Ok(()) => Ok(self.commit()),
            Err(e) => {
                self.rollback();
                Err(e)
            }
        }
    }

    fn commit(&mut self) -> Effects {
        let mut data = self.data.borrow_mut();
        let mut effects = Effects {
            writes: Vec::new(),
            messages: std::mem::take(&mut data.messages),
        };
        for ns in Namespace::ALL {
            data.storage[ns.index()].commit(ns, &mut effects.writes);
        }
        effects
    }

    fn rollback(&mut self) {
        let mut data = self.data.borrow_mut();
        data.messages.clear();
        for store in &mut data.storage {
            store.rollback();
        }
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
        self.deadline
            .at
            .set(Some(Instant::now() + self.limits.cpu_per_event));
        self.deadline.fired.set(false);
        let result = js.context.with(|ctx| {
            let outcome = f(ctx.clone()).map_err(|e| describe(&ctx, e));
            let mut jobs = 0;
            while outcome.is_ok() && jobs < MAX_JOBS_PER_EVENT && ctx.execute_pending_job() {
                jobs += 1;
            }
            outcome
        });
        self.deadline.at.set(None);
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
        runtime.set_interrupt_handler(Some(Box::new(move || match deadline.at.get() {
            Some(at) if Instant::now() >= at => {
                deadline.fired.set(true);
                true
            }
            _ => false,
        })));
        let context = Context::full(&runtime).map_err(unavailable)?;
        let data = self.data.clone();
        context.with(|ctx| api::install(&ctx, &data).map_err(|e| describe(&ctx, e)))?;
        Ok(Js {
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
