//! The table actor: one task per live table that runs its events one at a time, supervised.
//!
//! Every event (join, leave, define, game command, tick, timer) goes through the table's VM as
//! one transaction; its writes and messages go to the committer as one [`Commit`], released only
//! once durable (the output gate). The actor does not wait for the flush: the next event runs at
//! once, and the committer keeps commits in order.
//!
//! Codemap:
//! - `mod.rs`: the handle ([`TableHandle`]), what a table is told ([`TableEvent`]), [`spawn`].
//! - `actor.rs`: the event loop: takes events from the inbox (queued game commands together, as
//!   one batch), wakes for the tick, the timer and expired seats; hibernation (an idle table
//!   drops its VM and parks; its next event rebuilds it from committed state).
//! - `step.rs`: the one transaction step every event takes: run it on the VM, turn its outcome
//!   into a `Txn` and deliveries, submit them. A batch is a sequence of events through it.
//! - `supervise.rs`: crash and rebuild from committed state, the restart intensity, the retry
//!   policy for an event whose VM was lost.
//! - `release.rs`: gives the memory of hibernated tables' runtimes back to the OS.
//! - `seats.rs`: who sits at the table, seats held for the grace period, `who`, `GGS.players`.
//! - `relocate.rs`: a handoff as the table takes it: it stops taking input, exports its
//!   committed state, and either goes on or, once it moved, ends and tells its players'
//!   connections where it went ([`Relocation`]).
//!
//! Supervision: if the actor panics or its VM is lost, the table is rebuilt from its committed
//! state (fresh runtime, script evaluated again, storage and state restored, `onResume()`); its
//! players stay connected. More than `max_restarts` crashes within `restart_window` stop the
//! table and tell its players why.
//!
//! Hibernation: a table idle for `hibernate_after` (no tick, no timer, no held seat) drops its
//! VM and parks on its inbox; seated players keep their handle, and its next event rebuilds it
//! like a crash does (`onResume()`). A parked table with nobody seated leaves the
//! [`Directory`] and its task ends; the next `hello` loads it from the store.
//!
//! [`Commit`]: crate::commit::Commit

mod actor;
pub mod release;
mod relocate;
mod seats;
mod step;
mod stream;
mod supervise;

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use ggs_js::VmHost;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use crate::auth::Identity;
use crate::commit::Committer;
use crate::config::{TableSettings, TABLE_INBOX};
use crate::observe::Observers;
use crate::outbox::Outbox;
use crate::protocol::message::{ServerMessage, Version};
use crate::protocol::token::Token;
use crate::store::{GameId, LoadedTable, Store, TableRecord};
use crate::table_info::TableInfo;

pub use relocate::{Export, Forward, Moved, Relocation, Verdict};
pub use seats::{JoinRefused, Seated};

/// The tables that have an actor (awake, or hibernated with players seated), by id: the
/// coordinator finds and creates tables here, and a hibernated table with nobody seated
/// removes itself. Every handle but a seated player's is cloned from here, under its lock.
pub type Directory = Arc<Mutex<HashMap<Uuid, TableHandle>>>;

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
    /// Grace period, restart intensity and hibernation.
    pub settings: TableSettings,
    /// The tables with an actor.
    pub directory: Directory,
    /// The application's observers of table events.
    pub observers: Observers,
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
    /// A player sits down, or takes back the seat that `resume` holds. They get the `hello`
    /// reply, then whatever `playerJoined` (or `playerReconnected`) sends. `reply` learns the
    /// seat, or that `resume` holds none (then nothing happens, and nothing is sent).
    Join {
        /// The connection's public player id: a new seat's.
        player: Arc<str>,
        /// The connection's own resume token: a new seat's, and the one a seat taken back by
        /// the connection's id (or by the id of a seat from the previous format) takes.
        token: Token,
        /// A resume token presented to take back a held seat.
        resume: Option<Token>,
        /// Their queue.
        outbox: Outbox,
        /// The connection, so a late leave of an older connection is ignored.
        conn: u64,
        /// Told the seat the connection now has.
        reply: oneshot::Sender<Result<Seated, JoinRefused>>,
        /// A catalogue game for a new table: when this join creates the table, the game is
        /// defined first, so the `hello` reply already says `defined=true`.
        define: Option<GameScript>,
        /// The protocol version the connection speaks: from 1.1 on, the seat's messages are
        /// numbered and kept until acknowledged.
        version: Version,
        /// GGS 1.1 resume: the highest `Msg` the client has received (`Ack` on the `hello`);
        /// the outboxed messages after it follow the `hello` reply.
        ack: Option<u64>,
        /// Who the application's auth hook says the player is (`None`: no hook). A seat taken
        /// back must be of the same user id; the seat keeps it.
        identity: Option<Identity>,
    },
    /// GGS 1.1: the player has received every message of their seat numbered up to `n`.
    Ack {
        /// The player id.
        player: Arc<str>,
        /// The highest `Msg` received.
        n: u64,
    },
    /// The connection of a seated player renegotiated its protocol version.
    Version {
        /// The player id.
        player: Arc<str>,
        /// The connection.
        conn: u64,
        /// The version it speaks now.
        version: Version,
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
    /// Upgrade the table to another version of its game (an operator's request), at this point
    /// in its events: the new script runs over the committed storage and state, with its
    /// `onUpgrade(from, to)`, as one event; if that fails, the table stays as it was.
    /// `done` learns the version the table ran before, or why it did not upgrade.
    Upgrade {
        /// The version to run, and its source.
        game: GameScript,
        /// Told the outcome.
        done: oneshot::Sender<Result<Option<GameId>, UpgradeError>>,
    },
    /// A seated player asks who is at the table: they get `who`, one line per seat (the first
    /// 8 characters of each public player id).
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
        /// GGS 1.1: the client's number for the command (`Seq`); one not above the highest
        /// the seat has applied is not run again.
        seq: Option<u64>,
    },
    /// Hand the table to another node: stop taking input (what arrives waits in the inbox),
    /// wait until every commit is durable, send `ready` the table's committed state, then
    /// wait for the `verdict`: go on as before, or end, telling its players' connections where
    /// it went (see `relocate.rs`).
    Handoff {
        /// Told the export, or why there is none.
        ready: oneshot::Sender<Result<Export, String>>,
        /// Whether the table moved.
        verdict: oneshot::Receiver<Verdict>,
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

/// Why a table did not upgrade; it runs what it ran before.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpgradeError {
    /// The table runs another game (or a script of its own, or none).
    #[error("the table does not run {0}")]
    OtherGame(String),
    /// The table was handed to another node before it could upgrade here.
    #[error("the table moved to node {0}")]
    Moved(String),
    /// The new version failed to evaluate, or its `onUpgrade` threw or ran out of time.
    #[error("{message}")]
    Script {
        /// The script error's stable code (`script_error`, `script_timeout`, ...).
        code: &'static str,
        /// What went wrong.
        message: String,
    },
}

impl UpgradeError {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            UpgradeError::OtherGame(_) => "other_game",
            UpgradeError::Moved(_) => "table_moved",
            UpgradeError::Script { code, .. } => code,
        }
    }
}

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
    relocation: Arc<Relocation>,
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

    /// Where the table went, once it was handed to another node.
    pub fn relocation(&self) -> &Arc<Relocation> {
        &self.relocation
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

    /// Queues a player's message without waiting, as [`TableHandle::send`]; once the table is
    /// being handed to another node (its inbox closed for good), a game command or a define
    /// is kept instead, for the player's connection to forward (see [`Relocation`]).
    pub fn send_player(&self, event: TableEvent) -> Result<(), TableSendError> {
        match self.tx.try_send(event) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(_)) => Err(TableSendError::Overloaded),
            Err(mpsc::error::TrySendError::Closed(event)) => {
                if !self.relocation.relocating() {
                    return Err(TableSendError::Stopped);
                }
                match event {
                    TableEvent::Command {
                        player,
                        command,
                        args,
                        ..
                    } => self
                        .relocation
                        .keep_forward(&player, Forward::Game(command, args)),
                    TableEvent::Define { player, source, .. } => self
                        .relocation
                        .keep_forward(&player, Forward::Define(source)),
                    _ => {}
                }
                Ok(())
            }
        }
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
    let relocation = Arc::new(Relocation::default());
    let handle = TableHandle {
        id: id.clone(),
        tx,
        info: info.clone(),
        relocation: relocation.clone(),
    };
    tokio::spawn(supervise::supervise(id, init, deps, rx, info, relocation));
    handle
}

#[cfg(test)]
mod tests;
