//! The table actor: one task per live table that runs its events one at a time.
//!
//! Every event (join, leave, define, game command) goes through the table's VM as one
//! transaction; its writes and messages go to the committer as one [`Commit`], so they are
//! released only once durable (the output gate). The actor does not wait for the flush: the
//! next event runs at once, and the committer keeps commits in order.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use ggs_js::{Effects, Event, EventContext, Recipient, ScriptError, Storage, TableVm, VmHost};
use tokio::sync::mpsc;

use crate::commit::{Commit, Committer, Delivery};
use crate::config::TABLE_INBOX;
use crate::outbox::{Outbox, ServerMessage};
use crate::store::{TableRecord, Txn};

/// What the server shares with every table.
#[derive(Clone)]
pub struct TableDeps {
    /// The VM threads.
    pub host: Arc<VmHost>,
    /// Group commit.
    pub committer: Committer,
    /// Players connected to the server now (`GGS.serverInfo()`).
    pub connected: Arc<AtomicU64>,
}

/// How a table actor starts.
pub enum TableInit {
    /// A brand-new table; its record is committed with its first event.
    New(TableRecord),
    /// A table loaded from the store.
    Loaded(TableRecord, Storage),
}

/// Something for a table to do.
#[derive(Debug)]
pub enum TableEvent {
    /// A player sits down; they get the `hello` reply, then whatever `playerJoined` sends.
    Join {
        /// The player id.
        player: Arc<str>,
        /// Their queue.
        outbox: Outbox,
    },
    /// A player leaves; `playerLeft` runs.
    Leave {
        /// The player id.
        player: Arc<str>,
    },
    /// A seated player sets the script.
    Define {
        /// The player id.
        player: Arc<str>,
        /// JavaScript source.
        source: String,
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
}

impl TableHandle {
    /// The table id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Queues an event, waiting for room in the inbox (for events that must not be refused).
    pub async fn send_wait(&self, event: TableEvent) {
        let _ = self.tx.send(event).await;
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
    let (record, storage, is_new) = match init {
        TableInit::New(record) => (record, Storage::default(), true),
        TableInit::Loaded(record, storage) => (record, storage, false),
    };
    let vm = deps.host.open(&id, storage);
    let actor = Table {
        id: id.clone(),
        vm,
        seats: Vec::new(),
        defined: record.script.is_some(),
        unrecorded: is_new.then_some(record.clone()),
        deps,
    };
    tokio::spawn(actor.run(rx, record.script));
    TableHandle { id, tx }
}

struct Table {
    id: Arc<str>,
    vm: TableVm,
    seats: Vec<(Arc<str>, Outbox)>,
    defined: bool,
    /// The record of a new table, committed with its first event.
    unrecorded: Option<TableRecord>,
    deps: TableDeps,
}

impl Table {
    async fn run(mut self, mut rx: mpsc::Receiver<TableEvent>, script: Option<String>) {
        if let Some(source) = script {
            if let Err(e) = self.vm.restore(source).await {
                tracing::warn!(table = %self.id, "stored script failed to evaluate: {e}");
            }
        }
        while let Some(event) = rx.recv().await {
            self.handle(event).await;
        }
    }

    async fn handle(&mut self, event: TableEvent) {
        let mut txn = Txn::default();
        if let Some(record) = self.unrecorded.take() {
            txn.create_table(&self.id, &record);
        }
        let mut deliveries = Vec::new();
        match event {
            TableEvent::Join { player, outbox } => {
                if !self.seats.iter().any(|(p, _)| *p == player) {
                    self.seats.push((player.clone(), outbox.clone()));
                }
                let hello = format!("{player},{},{}", self.defined, self.id);
                deliveries.push(Delivery {
                    outbox: outbox.clone(),
                    message: ServerMessage::new("hello", hello),
                });
                let result = self
                    .run_event(Event::Joined {
                        player: player.to_string(),
                    })
                    .await;
                self.apply(result, &mut txn, &mut deliveries, &outbox, None);
            }
            TableEvent::Leave { player } => {
                let Some(i) = self.seats.iter().position(|(p, _)| *p == player) else {
                    return;
                };
                let (_, outbox) = self.seats.remove(i);
                let result = self
                    .run_event(Event::Left {
                        player: player.to_string(),
                    })
                    .await;
                self.apply(result, &mut txn, &mut deliveries, &outbox, None);
            }
            TableEvent::Define { player, source } => {
                let Some(outbox) = self.outbox_of(&player) else {
                    return;
                };
                let result = self
                    .run_event(Event::Define {
                        source: source.clone(),
                    })
                    .await;
                self.apply(result, &mut txn, &mut deliveries, &outbox, Some(&source));
            }
            TableEvent::Reply { outbox, message } => {
                deliveries.push(Delivery { outbox, message });
            }
            TableEvent::Command {
                player,
                command,
                args,
            } => {
                let Some(outbox) = self.outbox_of(&player) else {
                    return;
                };
                let event = Event::Command {
                    player: player.to_string(),
                    command,
                    args,
                };
                let result = self.run_event(event).await;
                self.apply(result, &mut txn, &mut deliveries, &outbox, None);
            }
        }
        self.deps.committer.submit(Commit {
            txn,
            deliveries,
            done: None,
        });
    }

    fn outbox_of(&self, player: &str) -> Option<Outbox> {
        self.seats
            .iter()
            .find(|(p, _)| &**p == player)
            .map(|(_, o)| o.clone())
    }

    async fn run_event(&self, event: Event) -> Result<Effects, ScriptError> {
        let cx = EventContext {
            players: self.seats.iter().map(|(p, _)| p.to_string()).collect(),
            server_players: self.deps.connected.load(Ordering::Relaxed),
        };
        self.vm.run(event, cx).await
    }

    /// Turns an event's outcome into store changes and deliveries. `define` is the source when
    /// the event was a define: it is stored and announced on success.
    fn apply(
        &mut self,
        result: Result<Effects, ScriptError>,
        txn: &mut Txn,
        deliveries: &mut Vec<Delivery>,
        sender: &Outbox,
        define: Option<&str>,
    ) {
        let effects = match result {
            Ok(effects) => effects,
            Err(e) => {
                tracing::debug!(table = %self.id, "event failed: {e}");
                let message = match define {
                    Some(_) => ServerMessage::new("defined", format!("error {e}")),
                    None => ServerMessage::error(e.code(), Some(&e.to_string())),
                };
                deliveries.push(Delivery {
                    outbox: sender.clone(),
                    message,
                });
                return;
            }
        };
        if let Some(source) = define {
            self.defined = true;
            txn.set_script(&self.id, source);
            for (_, outbox) in &self.seats {
                deliveries.push(Delivery {
                    outbox: outbox.clone(),
                    message: ServerMessage::new("defined", "ok"),
                });
            }
        }
        txn.storage_writes(&self.id, &effects.writes);
        for m in effects.messages {
            let message = ServerMessage::new(&m.command, m.args);
            match &m.to {
                Recipient::All => {
                    for (_, outbox) in &self.seats {
                        deliveries.push(Delivery {
                            outbox: outbox.clone(),
                            message: message.clone(),
                        });
                    }
                }
                Recipient::Player(id) => match self.outbox_of(id) {
                    Some(outbox) => deliveries.push(Delivery { outbox, message }),
                    None => {
                        tracing::debug!(table = %self.id, "message to unseated player {id} dropped")
                    }
                },
            }
        }
    }
}
