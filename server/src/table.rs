//! The table actor: one task per live table that runs its events one at a time, supervised.
//!
//! Every event (join, leave, define, game command, tick, timer) goes through the table's VM as
//! one transaction; its writes and messages go to the committer as one [`Commit`], released only
//! once durable (the output gate). The actor does not wait for the flush: the next event runs at
//! once, and the committer keeps commits in order.
//!
//! Supervision: if the actor panics or its VM is lost, the table is rebuilt from its committed
//! state (fresh runtime, script evaluated again, storage and state restored, `onResume()`); its
//! players stay connected. More than `max_restarts` crashes within `restart_window` stop the
//! table and tell its players why.

use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use ggs_js::{Event, EventContext, Outcome, Recipient, ScriptError, Storage, TableVm, VmHost};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::commit::{Commit, Committer, Delivery};
use crate::config::{TableSettings, TABLE_INBOX};

/// Times an event's table is rebuilt after losing its VM before the table gives up (crashes).
const REBUILD_ATTEMPTS: usize = 3;

/// Most queued game commands sent to the VM thread in one trip.
const MAX_BATCH: usize = 64;
use crate::outbox::Outbox;
use crate::protocol::message::ServerMessage;
use crate::store::{GameId, LoadedTable, Store, TableRecord, Txn};
use crate::table_info::TableInfo;

/// What the server shares with every table.
#[derive(Clone)]
pub struct TableDeps {
    /// The VM threads.
    pub host: Arc<VmHost>,
    /// Group commit.
    pub committer: Committer,
    /// The store, to rebuild a table from its committed state.
    pub store: Store,
    /// Players connected to the server now (`GGS.serverInfo()`).
    pub connected: Arc<AtomicU64>,
    /// Grace period and restart intensity.
    pub settings: TableSettings,
}

/// How a table actor starts.
pub enum TableInit {
    /// A brand-new table; its record is committed with its first event.
    New(TableRecord),
    /// A table loaded from the store.
    Loaded(LoadedTable),
}

/// Something for a table to do.
#[derive(Debug)]
pub enum TableEvent {
    /// A player sits down, or takes back the seat of `token`. They get the `hello` reply, then
    /// whatever `playerJoined` (or `playerReconnected`) sends. `reply` learns the player id.
    Join {
        /// The id for a new seat.
        player: Arc<str>,
        /// A player id whose held seat to take back.
        token: Option<Arc<str>>,
        /// Their queue.
        outbox: Outbox,
        /// The connection, so a late leave of an older connection is ignored.
        conn: u64,
        /// Told the player id the connection now has.
        reply: oneshot::Sender<Arc<str>>,
        /// A catalogue game for a new table: when this join creates the table, the game is
        /// defined first, so the `hello` reply already says `defined=true`.
        define: Option<GameScript>,
    },
    /// A player's connection closed: the seat is held for the grace period.
    Leave {
        /// The player id.
        player: Arc<str>,
        /// The connection that closed.
        conn: u64,
    },
    /// A seated player sets the script.
    Define {
        /// The player id.
        player: Arc<str>,
        /// JavaScript source.
        source: String,
        /// The catalogue version the source is, if it is one.
        game: Option<GameId>,
    },
    /// A seated player asks who is at the table: they get `who`, one line per seat (the first
    /// 8 characters of each player id, never a whole one: ids are resume tokens).
    Who {
        /// The player asking.
        player: Arc<str>,
        /// Their queue.
        outbox: Outbox,
    },
    /// Stop the table (an administrator's request): its players get `table_stopped`.
    Stop {
        /// Why, for the players and the log.
        why: String,
    },
    /// A reply to a seated player from their session (an error about a message they sent),
    /// released in order with the table's own messages to them.
    Reply {
        /// Their queue.
        outbox: Outbox,
        /// The reply.
        message: ServerMessage,
    },
    /// A seated player sends a game command.
    Command {
        /// The player id.
        player: Arc<str>,
        /// Command name.
        command: String,
        /// Argument string.
        args: String,
    },
    /// Told once every event queued before this one is durable.
    Flush {
        /// Fires after the flush.
        done: oneshot::Sender<()>,
    },
}

/// A catalogue game's version and source, to define at a table.
#[derive(Debug, Clone)]
pub struct GameScript {
    /// Which game and version.
    pub id: GameId,
    /// Its source.
    pub source: String,
}

/// Characters of a player id `who` shows.
pub const WHO_ID_CHARS: usize = 8;

/// Why an event could not be queued at a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TableSendError {
    /// The inbox is full.
    #[error("the table is overloaded; try again")]
    Overloaded,
    /// The table has stopped.
    #[error("the table has stopped")]
    Stopped,
}

impl TableSendError {
    /// The stable code sent to clients.
    pub fn code(&self) -> &'static str {
        match self {
            TableSendError::Overloaded => "overloaded",
            TableSendError::Stopped => "table_stopped",
        }
    }
}

/// The address of a live table.
#[derive(Debug, Clone)]
pub struct TableHandle {
    id: Arc<str>,
    tx: mpsc::Sender<TableEvent>,
    info: Arc<TableInfo>,
}

impl TableHandle {
    /// The table id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// What the lobby may know of the table (game, players, times).
    pub fn info(&self) -> &TableInfo {
        &self.info
    }

    /// Queues an event, waiting for room in the inbox (for events that must not be refused).
    pub async fn send_wait(&self, event: TableEvent) -> Result<(), TableSendError> {
        self.tx
            .send(event)
            .await
            .map_err(|_| TableSendError::Stopped)
    }

    /// Whether the table has stopped (it takes no more events).
    pub fn is_stopped(&self) -> bool {
        self.tx.is_closed()
    }

    /// Resolves once the table has stopped.
    pub async fn stopped(&self) {
        self.tx.closed().await
    }

    /// Queues an event without waiting.
    pub fn send(&self, event: TableEvent) -> Result<(), TableSendError> {
        self.tx.try_send(event).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => TableSendError::Overloaded,
            mpsc::error::TrySendError::Closed(_) => TableSendError::Stopped,
        })
    }
}

/// Starts the actor of table `id`.
pub fn spawn(id: Arc<str>, init: TableInit, deps: TableDeps) -> TableHandle {
    let (tx, rx) = mpsc::channel(TABLE_INBOX);
    let record = match &init {
        TableInit::New(record) => record,
        TableInit::Loaded(loaded) => &loaded.record,
    };
    let info = Arc::new(TableInfo::new(record));
    let handle = TableHandle {
        id: id.clone(),
        tx,
        info: info.clone(),
    };
    tokio::spawn(supervise(id, init, deps, rx, info));
    handle
}

/// A seat: connected (`outbox` set) or held for a player who dropped (`away_until` set).
struct Seat {
    player: Arc<str>,
    outbox: Option<Outbox>,
    conn: u64,
    away_until: Option<Instant>,
}

struct Table {
    id: Arc<str>,
    vm: Option<TableVm>,
    seats: Vec<Seat>,
    defined: bool,
    record: TableRecord,
    /// The record of a new table, not yet committed: it goes with the first event.
    unrecorded: bool,
    next_tick: Option<Instant>,
    next_timer: Option<Instant>,
    /// An event taken from the inbox while gathering a batch of commands, to run next.
    pending: Option<TableEvent>,
    /// Commands of the current batch not yet applied (see [`Table::commands`]).
    inflight: VecDeque<(Outbox, Event)>,
    /// `GGS.players`, built once per change of the seats.
    players: Option<Arc<[String]>>,
    /// Recent crashes and limit offences (timeouts, out of memory), for the restart intensity.
    strikes: VecDeque<Instant>,
    /// Set when offences passed the restart intensity: the table stops after this event.
    stopping: Option<String>,
    deps: TableDeps,
    info: Arc<TableInfo>,
}

/// Why the actor must be rebuilt.
#[derive(Debug)]
struct Crash(String);

async fn supervise(
    id: Arc<str>,
    init: TableInit,
    deps: TableDeps,
    mut rx: mpsc::Receiver<TableEvent>,
    info: Arc<TableInfo>,
) {
    let now = Instant::now();
    let (record, storage, seats, is_new) = match init {
        TableInit::New(record) => (record, Storage::default(), Vec::new(), true),
        TableInit::Loaded(loaded) => (loaded.record, loaded.storage, loaded.seats, false),
    };
    let grace = deps.settings.seat_grace;
    let mut table = Table {
        id: id.clone(),
        vm: None,
        seats: seats
            .into_iter()
            .map(|p| Seat {
                player: Arc::from(p),
                outbox: None,
                conn: 0,
                away_until: Some(now + grace),
            })
            .collect(),
        defined: record.script.is_some(),
        record,
        unrecorded: is_new,
        next_tick: None,
        next_timer: None,
        strikes: VecDeque::new(),
        players: None,
        pending: None,
        inflight: VecDeque::new(),
        stopping: None,
        deps,
        info,
    };
    let mut start = if is_new {
        Start::Fresh
    } else {
        Start::Load(storage)
    };
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

/// How [`Table::serve`] begins.
enum Start {
    /// A new table: no script, nothing to load.
    Fresh,
    /// Loaded from the store with this committed data.
    Load(Storage),
    /// After a crash: wait for in-flight commits, then load again.
    Rebuild,
}

impl Table {
    /// Runs events until the inbox closes (Ok) or the table crashes (Err, or a panic).
    async fn serve(
        &mut self,
        rx: &mut mpsc::Receiver<TableEvent>,
        start: Start,
    ) -> Result<(), Crash> {
        match start {
            Start::Fresh => self.open(Storage::default()).await?,
            Start::Load(storage) => self.open(storage).await?,
            Start::Rebuild => self.rebuild().await?,
        }
        // Commands of a batch the last crash interrupted run again on the rebuilt table (the
        // one being applied when it crashed was dropped from the list first).
        while let Some((outbox, event)) = self.inflight.pop_front() {
            let mut step = Step::default();
            let outcome = self.run_event(event).await?;
            self.apply(outcome, &mut step, Some(&outbox), None);
            self.submit(step);
        }
        loop {
            if let Some(event) = self.pending.take() {
                self.handle(event).await?;
            }
            let wake = [self.next_tick, self.next_timer, self.next_expiry()]
                .into_iter()
                .flatten()
                .min();
            tokio::select! {
                event = rx.recv() => match event {
                    Some(TableEvent::Command { player, command, args }) => {
                        // Game commands queued together run in one trip to the VM thread.
                        let mut batch = vec![(player, command, args)];
                        while batch.len() < MAX_BATCH {
                            match rx.try_recv() {
                                Ok(TableEvent::Command { player, command, args }) => {
                                    batch.push((player, command, args))
                                }
                                Ok(other) => {
                                    self.pending = Some(other);
                                    break;
                                }
                                Err(_) => break,
                            }
                        }
                        self.commands(batch).await?;
                    }
                    Some(event) => self.handle(event).await?,
                    None => return Ok(()),
                },
                _ = sleep_until(wake), if wake.is_some() => self.wake().await?,
            }
            if let Some(why) = self.stopping.take() {
                tracing::error!(table = %self.id, "stopping: {why}");
                self.stop(&format!("the table was stopped: {why}"));
                return Ok(());
            }
            let connected = self.seats.iter().filter(|s| s.outbox.is_some()).count();
            self.info.seats(self.seats.len(), connected);
        }
    }

    /// Rebuilds the VM from committed state, once every commit in flight is durable.
    async fn rebuild(&mut self) -> Result<(), Crash> {
        self.vm = None;
        self.flushed().await;
        let store = self.deps.store.clone();
        let id = self.id.to_string();
        let loaded = tokio::task::spawn_blocking(move || store.load_table(&id))
            .await
            .map_err(|e| Crash(format!("reload: {e}")))?
            .map_err(|e| Crash(format!("reload: {e}")))?;
        match loaded {
            Some(loaded) => {
                self.record = loaded.record;
                self.defined = self.record.script.is_some();
                self.open(loaded.storage).await
            }
            None => {
                // Never committed (it crashed before its first event): start empty.
                self.unrecorded = true;
                self.open(Storage::default()).await
            }
        }
    }

    /// Opens the VM on committed data, evaluates the script and runs `onResume()`.
    async fn open(&mut self, storage: Storage) -> Result<(), Crash> {
        let tick = storage.tick_ms;
        let vm = self
            .deps
            .host
            .open(&self.id, storage)
            .map_err(|e| Crash(e.to_string()))?;
        if let Some(source) = self.record.script.clone() {
            if let Err(e) = vm.restore(source).await {
                if e == ScriptError::Unavailable {
                    return Err(Crash("the VM was lost while loading".into()));
                }
                tracing::warn!(table = %self.id, "stored script failed to evaluate: {e}");
            }
        }
        self.vm = Some(vm);
        self.set_tick(tick);
        if self.defined {
            let mut step = Step::default();
            let outcome = self.run_event(Event::Resume).await?;
            self.apply(outcome, &mut step, None, None);
            self.submit(step);
        }
        Ok(())
    }

    async fn handle(&mut self, event: TableEvent) -> Result<(), Crash> {
        let mut step = Step::default();
        match event {
            TableEvent::Join {
                player,
                token,
                outbox,
                conn,
                reply,
                define,
            } => {
                // A token takes back that player's seat; a connection coming back to a table
                // it left takes back its own.
                let held = token
                    .and_then(|t| self.seat_index(&t))
                    .or_else(|| self.seat_index(&player));
                let (player, event) = match held {
                    Some(i) => {
                        let seat = &mut self.seats[i];
                        seat.outbox = Some(outbox.clone());
                        seat.conn = conn;
                        seat.away_until = None;
                        let player = seat.player.clone();
                        let event = Event::Reconnected {
                            player: player.to_string(),
                        };
                        (player, event)
                    }
                    None => {
                        let creator = self.unrecorded && self.record.host.is_none();
                        if creator {
                            // The creator's hello is a new table's first event.
                            self.record.host = Some(player.to_string());
                        }
                        if let Some(script) = define.filter(|_| creator && !self.defined) {
                            // Defined before the creator sits down: no `defined ok` to send,
                            // and `playerJoined` already runs in the new script.
                            let event = Event::Define {
                                source: script.source.clone(),
                            };
                            let outcome = self.run_event(event).await?;
                            if let Err(e) = &outcome.result {
                                let error = ServerMessage::new("defined", format!("error {e}"));
                                step.after_hello = Some(error);
                            }
                            let define = (script.source.as_str(), Some(&script.id));
                            self.apply(outcome, &mut step, None, Some(define));
                        }
                        self.players = None;
                        self.seats.push(Seat {
                            player: player.clone(),
                            outbox: Some(outbox.clone()),
                            conn,
                            away_until: None,
                        });
                        step.txn.seat(&self.id, &player, true);
                        let event = Event::Joined {
                            player: player.to_string(),
                        };
                        (player, event)
                    }
                };
                let _ = reply.send(player.clone());
                let hello = format!("{player},{},{}", self.defined, self.id);
                step.deliver(&outbox, ServerMessage::new("hello", hello));
                if let Some(error) = step.after_hello.take() {
                    step.deliver(&outbox, error);
                }
                let outcome = self.run_event(event).await?;
                self.apply(outcome, &mut step, Some(&outbox), None);
            }
            TableEvent::Leave { player, conn } => {
                let grace = self.deps.settings.seat_grace;
                if let Some(seat) = self.seats.iter_mut().find(|s| s.player == player) {
                    if seat.conn == conn && seat.outbox.is_some() {
                        seat.outbox = None;
                        seat.away_until = Some(Instant::now() + grace);
                    }
                }
                return Ok(());
            }
            TableEvent::Define {
                player,
                source,
                game,
            } => {
                let Some(outbox) = self.outbox_of(&player) else {
                    return Ok(());
                };
                let host = self.record.host.as_deref();
                if !self.deps.settings.open_define && host.is_some_and(|h| h != &*player) {
                    let why = "only the player who created the table may define its script";
                    step.deliver(&outbox, ServerMessage::error("not_host", Some(why)));
                    self.submit(step);
                    return Ok(());
                }
                let event = Event::Define {
                    source: source.clone(),
                };
                let outcome = self.run_event(event).await?;
                self.apply(
                    outcome,
                    &mut step,
                    Some(&outbox),
                    Some((&source, game.as_ref())),
                );
            }
            TableEvent::Who { player, outbox } => {
                let lines: Vec<String> = self
                    .seats
                    .iter()
                    .map(|seat| {
                        let mut notes = Vec::new();
                        if seat.player == player {
                            notes.push("you");
                        }
                        if self.record.host.as_deref() == Some(&*seat.player) {
                            notes.push("host");
                        }
                        if seat.outbox.is_none() {
                            notes.push("away");
                        }
                        let short: String = seat.player.chars().take(WHO_ID_CHARS).collect();
                        match notes.is_empty() {
                            true => short,
                            false => format!("{short} ({})", notes.join(", ")),
                        }
                    })
                    .collect();
                step.deliver(&outbox, ServerMessage::new("who", lines.join("\n")));
            }
            TableEvent::Stop { why } => self.stopping = Some(why),
            TableEvent::Reply { outbox, message } => step.deliver(&outbox, message),
            TableEvent::Command {
                player,
                command,
                args,
            } => {
                let Some(outbox) = self.outbox_of(&player) else {
                    return Ok(());
                };
                let event = Event::Command {
                    player: player.to_string(),
                    command,
                    args,
                };
                let outcome = self.run_event(event).await?;
                self.apply(outcome, &mut step, Some(&outbox), None);
            }
            TableEvent::Flush { done } => step.done = Some(done),
        }
        self.submit(step);
        Ok(())
    }

    /// Runs game commands that were queued together: one trip to the VM thread for all, each
    /// still its own transaction and commit. If the VM is lost midway, the rest run one at a
    /// time through [`Table::run_event`], which rebuilds the table.
    async fn commands(&mut self, batch: Vec<(Arc<str>, String, String)>) -> Result<(), Crash> {
        let mut senders = Vec::with_capacity(batch.len());
        let mut events = Vec::with_capacity(batch.len());
        for (player, command, args) in batch {
            if let Some(outbox) = self.outbox_of(&player) {
                senders.push(outbox);
                events.push(Event::Command {
                    player: player.to_string(),
                    command,
                    args,
                });
            }
        }
        if events.len() <= 1 {
            for (outbox, event) in senders.iter().zip(events) {
                let mut step = Step::default();
                let outcome = self.run_event(event).await?;
                self.apply(outcome, &mut step, Some(outbox), None);
                self.submit(step);
            }
            return Ok(());
        }
        let cx = self.context();
        let Some(vm) = &self.vm else {
            return Err(Crash("no VM".into()));
        };
        let outcomes = vm.run_batch(events.clone(), cx).await;
        // Until applied, the batch's events are in flight: a crash runs them again after the
        // rebuild (their effects in the lost VM were never committed).
        self.inflight = senders.into_iter().zip(events).collect();
        for outcome in outcomes {
            if matches!(
                outcome.result,
                Err(ScriptError::Unavailable | ScriptError::Crashed)
            ) {
                break;
            }
            let Some((outbox, _)) = self.inflight.pop_front() else {
                break;
            };
            self.next_timer = outcome.next_timer.map(|d| Instant::now() + d);
            if let Err(e) = &outcome.result {
                if e.is_offence() && self.strike() {
                    self.stopping = Some(format!("its script hit its limits too often ({e})"));
                }
            }
            let mut step = Step::default();
            self.apply(outcome, &mut step, Some(&outbox), None);
            self.submit(step);
        }
        while let Some((outbox, event)) = self.inflight.pop_front() {
            let mut step = Step::default();
            let outcome = self.run_event(event).await?;
            self.apply(outcome, &mut step, Some(&outbox), None);
            self.submit(step);
        }
        Ok(())
    }

    /// Runs whatever is due: expired seats, the tick, a timer.
    async fn wake(&mut self) -> Result<(), Crash> {
        let now = Instant::now();
        if let Some(i) = self
            .seats
            .iter()
            .position(|s| s.away_until.is_some_and(|t| t <= now))
        {
            self.players = None;
            let seat = self.seats.remove(i);
            let mut step = Step::default();
            step.txn.seat(&self.id, &seat.player, false);
            let outcome = self
                .run_event(Event::Left {
                    player: seat.player.to_string(),
                })
                .await?;
            self.apply(outcome, &mut step, None, None);
            self.submit(step);
        }
        if self.next_tick.is_some_and(|t| t <= now) {
            let period = Duration::from_millis(self.record.tick_ms as u64);
            let due = self.next_tick.unwrap_or(now) + period;
            // Fixed rate; a table that fell behind skips ticks rather than bursting.
            self.next_tick = Some(if due <= now { now + period } else { due });
            let mut step = Step::default();
            let outcome = self.run_event(Event::Tick).await?;
            self.apply(outcome, &mut step, None, None);
            self.submit(step);
        }
        if self.next_timer.is_some_and(|t| t <= now) {
            self.next_timer = None;
            let mut step = Step::default();
            let outcome = self.run_event(Event::Timer).await?;
            self.apply(outcome, &mut step, None, None);
            self.submit(step);
        }
        Ok(())
    }

    /// Counts a crash or an offence; true when the table passed its restart intensity.
    fn strike(&mut self) -> bool {
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

    fn next_expiry(&self) -> Option<Instant> {
        self.seats.iter().filter_map(|s| s.away_until).min()
    }

    fn set_tick(&mut self, ms: u32) {
        self.record.tick_ms = ms;
        self.next_tick = (ms > 0).then(|| Instant::now() + Duration::from_millis(ms as u64));
    }

    fn seat_index(&self, player: &str) -> Option<usize> {
        self.seats.iter().position(|s| &*s.player == player)
    }

    fn outbox_of(&self, player: &str) -> Option<Outbox> {
        self.seat_index(player)
            .and_then(|i| self.seats[i].outbox.clone())
    }

    /// Runs one event on the VM. If the VM thread died, the table is rebuilt on a live thread
    /// and the event runs again (it had no effect); if the event crashed the runtime, the table
    /// is rebuilt and the event fails. Both count toward the restart intensity.
    async fn run_event(&mut self, event: Event) -> Result<Outcome, Crash> {
        let mut outcome = self.run_once(event.clone()).await?;
        for _ in 0..REBUILD_ATTEMPTS {
            let lost = match &outcome.result {
                Err(ScriptError::Unavailable) => "its VM thread was lost",
                Err(ScriptError::Crashed) => "its runtime crashed",
                _ => break,
            };
            tracing::warn!(table = %self.id, "{lost}; rebuilding from committed state");
            if self.strike() {
                self.stopping = Some(format!("{lost} too often"));
                return Ok(outcome);
            }
            // A thread that is dying may still take the rebuilt VM: then try again.
            if let Err(Crash(why)) = Box::pin(self.rebuild()).await {
                tracing::warn!(table = %self.id, "rebuild failed: {why}");
                outcome.result = Err(ScriptError::Unavailable);
                continue;
            }
            if outcome.result == Err(ScriptError::Crashed) {
                // The event itself crashed the runtime: it fails, it is not run again.
                break;
            }
            outcome = self.run_once(event.clone()).await?;
        }
        if outcome.result == Err(ScriptError::Unavailable) {
            return Err(Crash("the table's VM was lost again".into()));
        }
        if let Err(e) = &outcome.result {
            if e.is_offence() && self.strike() {
                self.stopping = Some(format!("its script hit its limits too often ({e})"));
            }
        }
        Ok(outcome)
    }

    /// What the script is told about the world at the next event.
    fn context(&mut self) -> EventContext {
        let players = match &self.players {
            Some(players) => players.clone(),
            None => {
                let players: Arc<[String]> =
                    self.seats.iter().map(|s| s.player.to_string()).collect();
                self.players = Some(players.clone());
                players
            }
        };
        EventContext {
            players,
            server_players: self.deps.connected.load(Ordering::Relaxed),
        }
    }

    async fn run_once(&mut self, event: Event) -> Result<Outcome, Crash> {
        let cx = self.context();
        let Some(vm) = &self.vm else {
            return Err(Crash("no VM".into()));
        };
        let outcome = vm.run(event, cx).await;
        self.next_timer = outcome.next_timer.map(|d| Instant::now() + d);
        Ok(outcome)
    }

    /// Turns an event's outcome into store changes and deliveries. `sender` gets the error of a
    /// failed event; `define` is the source (and its catalogue version, if it is one) when the
    /// event was a define.
    fn apply(
        &mut self,
        outcome: Outcome,
        step: &mut Step,
        sender: Option<&Outbox>,
        define: Option<(&str, Option<&GameId>)>,
    ) {
        crate::telemetry::event(outcome.result.as_ref().err());
        self.info.event();
        let effects = match outcome.result {
            Ok(effects) => effects,
            Err(e) => {
                tracing::debug!(table = %self.id, "event failed: {e}");
                if let Some(sender) = sender {
                    let message = match define {
                        Some(_) => ServerMessage::new("defined", format!("error {e}")),
                        None => ServerMessage::error(e.code(), Some(&e.to_string())),
                    };
                    step.deliver(sender, message);
                }
                return;
            }
        };
        if effects.fault {
            panic!("fault injected: the table's task panics");
        }
        if let Some((source, game)) = define {
            self.info.defined(game);
            if self.record.game.as_ref() != game {
                self.record.game = game.cloned();
                step.record_changed = true;
            }
            self.defined = true;
            self.record.script = Some(source.to_string());
            step.txn.set_script(&self.id, source);
            for outbox in self.seats.iter().filter_map(|s| s.outbox.as_ref()) {
                step.deliver(outbox, ServerMessage::new("defined", "ok"));
            }
        }
        step.txn.storage_writes(&self.id, &effects.writes);
        if let Some(state) = &effects.state {
            step.txn.set_state(&self.id, state);
        }
        if let Some(tick) = effects.tick {
            self.set_tick(tick);
            step.record_changed = true;
        }
        for m in effects.messages {
            let message = ServerMessage::new(&m.command, m.args);
            match &m.to {
                Recipient::All => {
                    for outbox in self.seats.iter().filter_map(|s| s.outbox.as_ref()) {
                        step.deliver(outbox, message.clone());
                    }
                }
                Recipient::Player(id) => match self.outbox_of(id) {
                    Some(outbox) => step.deliver(&outbox, message),
                    None => {
                        tracing::trace!(table = %self.id, "message to absent player {id} dropped")
                    }
                },
            }
        }
    }

    /// Hands one event's changes and messages to the committer.
    fn submit(&mut self, mut step: Step) {
        if self.unrecorded || step.record_changed {
            self.unrecorded = false;
            step.txn.create_table(&self.id, &self.record);
        }
        self.deps.committer.submit(Commit {
            txn: step.txn,
            deliveries: step.deliveries,
            done: step.done,
        });
    }

    /// Waits until every commit this table submitted so far is durable.
    async fn flushed(&mut self) {
        let (done, rx) = oneshot::channel();
        self.submit(Step {
            done: Some(done),
            ..Step::default()
        });
        let _ = rx.await;
    }

    /// Tells every connected player the table stopped.
    fn stop(&mut self, why: &str) {
        let mut step = Step::default();
        for outbox in self.seats.iter().filter_map(|s| s.outbox.as_ref()) {
            step.deliver(outbox, ServerMessage::error("table_stopped", Some(why)));
        }
        self.submit(step);
    }
}

/// One event's pending commit.
#[derive(Default)]
struct Step {
    txn: Txn,
    deliveries: Vec<Delivery>,
    done: Option<oneshot::Sender<()>>,
    record_changed: bool,
    /// A reply to send right after the `hello` reply of a join (a failed define of the game).
    after_hello: Option<ServerMessage>,
}

impl Step {
    fn deliver(&mut self, outbox: &Outbox, message: ServerMessage) {
        self.deliveries.push(Delivery {
            outbox: outbox.clone(),
            message,
        });
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
