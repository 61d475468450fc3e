//! Supervision of a table: crash and rebuild from committed state, the restart intensity, and
//! the retry policy for an event whose VM was lost.
//!
//! A panic in the actor or a [`Crash`] ends [`Table::serve`]; the table is then rebuilt and
//! served again, its players still connected. Crashes, lost VMs and script offences (timeouts,
//! running out of memory) are strikes: more than `max_restarts` within `restart_window` stop
//! the table.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures::FutureExt;
use ggs_js::{Event, Outcome, ScriptError, Storage};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::actor::Table;
use super::step::Pending;
use super::{TableDeps, TableEvent, TableInit};
use crate::table_info::TableInfo;

/// Times an event's table is rebuilt after losing its VM before the table gives up (crashes).
const REBUILD_ATTEMPTS: usize = 3;

/// Why a rebuild failed when another table's script held the thread it was loading on: no
/// fault of this table's.
const DISPLACED_WHILE_LOADING: &str = "displaced while loading by another table's script";

/// Why the actor must be rebuilt.
#[derive(Debug)]
pub(super) struct Crash(pub(super) String);

/// How [`Table::serve`] begins.
pub(super) enum Start {
    /// A new table: no script, nothing to load.
    Fresh,
    /// Loaded from the store with this committed data.
    Load(Storage),
    /// After a crash: wait for in-flight commits, then load again.
    Rebuild,
}

/// The task of table `id`: serves it, and rebuilds it after each crash until it crashed too
/// often.
pub(super) async fn supervise(
    id: Arc<str>,
    init: TableInit,
    deps: TableDeps,
    mut rx: mpsc::Receiver<TableEvent>,
    info: Arc<TableInfo>,
    relocation: Arc<super::Relocation>,
) {
    let (mut table, mut start) = Table::new(id.clone(), init, deps, info, relocation);
    loop {
        let run = AssertUnwindSafe(table.serve(&mut rx, start)).catch_unwind();
        let why = match run.await {
            Ok(Ok(())) => return,
            Ok(Err(Crash(why))) => why,
            Err(panic) => panic_message(&panic),
        };
        if table.strike() {
            tracing::error!(table = %id, "crashed too often, stopping: {why}");
            table.stop(&format!(
                "the table crashed too often and was stopped ({why})"
            ));
            return;
        }
        tracing::warn!(table = %id, "crashed, rebuilding from committed state: {why}");
        start = Start::Rebuild;
    }
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    let text = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_string());
    format!("panic: {text}")
}

impl Table {
    /// Counts a crash or an offence; true when the table passed its restart intensity.
    pub(super) fn strike(&mut self) -> bool {
        let now = Instant::now();
        let window = self.deps.settings.restart_window;
        self.strikes.push_back(now);
        while self
            .strikes
            .front()
            .is_some_and(|t| now.duration_since(*t) > window)
        {
            self.strikes.pop_front();
        }
        self.strikes.len() > self.deps.settings.max_restarts
    }

    /// The retry policy, for the outcome of every event. If the VM thread was lost (it died,
    /// or it was abandoned while another table's script held it), the table is rebuilt on a
    /// live thread and the event runs again (it had no effect); if the event crashed the
    /// runtime, the table is rebuilt and the event fails; if it held its thread past its
    /// deadline, the event fails and the table is rebuilt on its next event (after the tables
    /// it displaced).
    /// Crashes and lost threads count toward the restart intensity, and so does an offence (a
    /// timeout, running out of memory): past it, the table stops after this event. A table
    /// displaced by another table's script is not at fault: that is no strike.
    pub(super) async fn recover(
        &mut self,
        event: &Event,
        mut outcome: Outcome,
    ) -> Result<Outcome, Crash> {
        // The event's own failure, which a rebuild does not undo: it is not run again.
        let failed = match &outcome.result {
            Err(e) if e.is_lost() && !e.is_retriable() => Some(e.clone()),
            _ => None,
        };
        for _ in 0..REBUILD_ATTEMPTS {
            let lost = match &outcome.result {
                Err(ScriptError::Unavailable) => "its VM thread was lost",
                Err(ScriptError::Displaced) => "another table's script held its VM thread",
                Err(ScriptError::Crashed) => "its runtime crashed",
                Err(ScriptError::Abandoned(_)) => "it held its VM thread past its deadline",
                _ => break,
            };
            if let Err(ScriptError::Abandoned(_)) = outcome.result {
                // Rebuilt on its next event, so the tables it displaced are rebuilt first;
                // the offence is counted once, below.
                tracing::warn!(table = %self.id, "{lost}; it is rebuilt on its next event");
                self.vm = None;
                break;
            }
            tracing::warn!(table = %self.id, "{lost}; rebuilding from committed state");
            // A displaced table is not at fault.
            let blameless = outcome.result == Err(ScriptError::Displaced);
            if !blameless && self.strike() {
                self.stopping = Some(format!("{lost} too often"));
                return Ok(outcome);
            }
            // A thread that is dying may still take the rebuilt VM: then try again.
            if let Err(Crash(why)) = Box::pin(self.rebuild()).await {
                tracing::warn!(table = %self.id, "rebuild failed: {why}");
                outcome.result = Err(if why == DISPLACED_WHILE_LOADING {
                    ScriptError::Displaced
                } else {
                    ScriptError::Unavailable
                });
                continue;
            }
            if let Some(e) = &failed {
                // The event itself lost the runtime: it fails, it is not run again.
                outcome.result = Err(e.clone());
                break;
            }
            let again = self.trip(vec![event.clone()]).await?.pop();
            outcome = again.unwrap_or_else(|| Outcome::failed(ScriptError::Unavailable));
        }
        if outcome
            .result
            .as_ref()
            .is_err_and(ScriptError::is_retriable)
        {
            return Err(Crash("the table's VM was lost again".into()));
        }
        if let Err(e) = &outcome.result {
            if e.is_offence() && self.strike() {
                self.stopping = Some(format!("its script hit its limits too often ({e})"));
            }
        }
        Ok(outcome)
    }

    /// Rebuilds the VM from committed state, once every commit in flight is durable.
    pub(super) async fn rebuild(&mut self) -> Result<(), Crash> {
        self.vm = None;
        self.flushed().await;
        let storage = self.load_committed("reload").await?;
        self.open(storage).await
    }

    /// Reads everything committed about the table (its record becomes the table's) and returns
    /// its storage; a table never committed (it crashed or hibernated before its first event)
    /// starts empty.
    pub(super) async fn load_committed(&mut self, why: &str) -> Result<Storage, Crash> {
        let store = self.deps.store.clone();
        let id = self.id.to_string();
        let loaded = tokio::task::spawn_blocking(move || store.load_table(&id))
            .await
            .map_err(|e| Crash(format!("{why}: {e}")))?
            .map_err(|e| Crash(format!("{why}: {e}")))?;
        Ok(match loaded {
            Some(loaded) => {
                self.record = loaded.record;
                loaded.storage
            }
            None => {
                self.unrecorded = true;
                Storage::default()
            }
        })
    }

    /// Opens the VM on committed data, evaluates the script and runs `onResume()`.
    pub(super) async fn open(&mut self, storage: Storage) -> Result<(), Crash> {
        let tick = storage.tick_ms;
        let vm = self
            .deps
            .host
            .open(&self.id, storage)
            .map_err(|e| Crash(e.to_string()))?;
        if let Some(source) = self.record.script.clone() {
            if let Err(e) = vm.restore(source).await {
                if e == ScriptError::Displaced {
                    return Err(Crash(DISPLACED_WHILE_LOADING.into()));
                }
                if e.is_lost() {
                    return Err(Crash("the VM was lost while loading".into()));
                }
                tracing::warn!(table = %self.id, "stored script failed to evaluate: {e}");
            }
        }
        self.vm = Some(vm);
        self.set_tick(tick);
        if self.defined() {
            self.run(vec![Pending::new(Event::Resume)]).await?;
        }
        Ok(())
    }
}
