//! A handoff as the table takes it ([`TableEvent::Handoff`]): the table stops taking input
//! (what arrives waits in its inbox), waits until every commit it submitted is durable,
//! exports its committed state, and waits for the verdict of the node handing it over. If
//! ownership did not move, it goes on with what waited in its inbox, in order. If it moved, it
//! ends: it leaves the directory, closes its inbox, keeps each player's waiting game commands
//! for that player's connection to forward ([`Relocation::take_forwards`]), answers what else
//! waited (a `hello` is sent on to the new owner), and tells every handle where it went
//! ([`Relocation::moved`]): each seated connection then sends its client there (or relays
//! it). Nothing runs at the table after its export, so the export is the table's last state.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot, watch};
use uuid::Uuid;

use super::actor::Table;
use super::{JoinRefused, TableEvent, UpgradeError};

/// A table's committed state: every key of it and its value (see `Store::export_table`).
pub type Export = crate::store::TableExport;

/// A player's message that waited at a table while it was handed off, to be sent to the new
/// owner on the player's behalf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Forward {
    /// A game command and its arguments.
    Game(String, String),
    /// A script to define.
    Define(String),
}

/// Where a handed-off table went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Moved {
    /// The node that owns it now.
    pub node: String,
    /// Its GGS 1.0 TCP address (`HOST:PORT`), if it advertises one.
    pub tcp: Option<String>,
    /// Its WebSocket URL, if it advertises an HTTP address.
    pub ws: Option<String>,
}

/// What the node handing a table over decided, once the table's export was taken.
#[derive(Debug)]
pub enum Verdict {
    /// Ownership moved: the table ends here.
    Moved(Arc<Moved>),
    /// Ownership did not move: the table goes on.
    Stay,
}

/// Where a table went, shared by its handles and its actor: unset until a handoff moved it.
#[derive(Debug)]
pub struct Relocation {
    moved: watch::Sender<Option<Arc<Moved>>>,
    /// Set (for good) when the table closes its inbox to move.
    relocating: AtomicBool,
    /// Game commands that waited at the table, by player, in order.
    forwards: Mutex<HashMap<Arc<str>, Vec<Forward>>>,
}

impl Default for Relocation {
    fn default() -> Self {
        Relocation {
            moved: watch::Sender::new(None),
            relocating: AtomicBool::new(false),
            forwards: Mutex::new(HashMap::new()),
        }
    }
}

impl Relocation {
    /// Whether the table closed its inbox to move (its messages are kept to forward).
    pub fn relocating(&self) -> bool {
        self.relocating.load(Ordering::Acquire)
    }

    /// Resolves once the table has moved, with where it went.
    pub async fn wait(&self) -> Arc<Moved> {
        let mut rx = self.moved.subscribe();
        loop {
            if let Some(moved) = rx.borrow_and_update().clone() {
                return moved;
            }
            if rx.changed().await.is_err() {
                // The sender lives as long as `self`: never reached.
                std::future::pending::<()>().await;
            }
        }
    }

    /// Keeps a game command a player's connection sent after the table moved (behind those
    /// that waited in its inbox), to be forwarded with them.
    pub fn keep_forward(&self, player: &Arc<str>, forward: Forward) {
        let mut forwards = self.forwards.lock().unwrap_or_else(|e| e.into_inner());
        forwards.entry(player.clone()).or_default().push(forward);
    }

    /// The game commands of `player` that the table did not run before it moved, in order.
    pub fn take_forwards(&self, player: &str) -> Vec<Forward> {
        let mut forwards = self.forwards.lock().unwrap_or_else(|e| e.into_inner());
        forwards.remove(player).unwrap_or_default()
    }
}

impl Table {
    /// Takes part in a handoff: commits what is in flight, sends its export to `ready`, and
    /// waits for the `verdict`; a move is noted in [`Table::moved`] (the actor then
    /// [relocates](Table::relocate)). If the export cannot be read, or the node handing the
    /// table over gives up, the table goes on.
    pub(super) async fn hand_off(
        &mut self,
        ready: oneshot::Sender<Result<Export, String>>,
        verdict: oneshot::Receiver<Verdict>,
    ) {
        if let Some(why) = &self.stopping {
            let _ = ready.send(Err(format!("the table is stopping: {why}")));
            return;
        }
        self.flushed().await;
        let store = self.deps.store.clone();
        let id = self.id.to_string();
        let export = tokio::task::spawn_blocking(move || store.export_table(&id)).await;
        let export = match export {
            Ok(Ok(export)) => export,
            Ok(Err(e)) => {
                let _ = ready.send(Err(e.to_string()));
                return;
            }
            Err(e) => {
                let _ = ready.send(Err(e.to_string()));
                return;
            }
        };
        if ready.send(Ok(export)).is_err() {
            return;
        }
        if let Ok(Verdict::Moved(moved)) = verdict.await {
            tracing::info!(table = %self.id, node = %moved.node, "handed off");
            self.moved = Some(moved);
        }
    }

    /// Ends the table here after it moved: it leaves the directory, closes its inbox and
    /// answers what waited there (game commands are kept for their players' connections to
    /// forward; a `hello` is sent on to the new owner), then tells every handle where it went.
    pub(super) fn relocate(&mut self, rx: &mut mpsc::Receiver<TableEvent>, moved: Arc<Moved>) {
        self.vm = None;
        if let Ok(key) = Uuid::parse_str(&self.id) {
            let mut tables = self
                .deps
                .directory
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if tables
                .get(&key)
                .is_some_and(|h| std::ptr::eq(h.info(), &*self.info))
            {
                tables.remove(&key);
            }
        }
        self.relocation.relocating.store(true, Ordering::Release);
        rx.close();
        // What waited in the inbox goes before what connections keep from now on.
        let mut waited: HashMap<Arc<str>, Vec<Forward>> = HashMap::new();
        while let Ok(event) = rx.try_recv() {
            match event {
                TableEvent::Command {
                    player,
                    command,
                    args,
                    ..
                } => waited
                    .entry(player)
                    .or_default()
                    .push(Forward::Game(command, args)),
                TableEvent::Define { player, source, .. } => waited
                    .entry(player)
                    .or_default()
                    .push(Forward::Define(source)),
                TableEvent::Join { reply, .. } => {
                    let _ = reply.send(Err(JoinRefused::Moved(moved.node.clone())));
                }
                TableEvent::Flush { done } => {
                    let _ = done.send(());
                }
                TableEvent::Reply { outbox, message } => outbox.deliver(message),
                TableEvent::Upgrade { done, .. } => {
                    let _ = done.send(Err(UpgradeError::Moved(moved.node.clone())));
                }
                TableEvent::Handoff { ready, .. } => {
                    let _ = ready.send(Err(format!("the table moved to node {}", moved.node)));
                }
                // The new owner has the seats and streams as the export left them.
                TableEvent::Leave { .. }
                | TableEvent::Ack { .. }
                | TableEvent::Version { .. }
                | TableEvent::Who { .. }
                | TableEvent::Stop { .. } => {}
            }
        }
        {
            let mut forwards = self
                .relocation
                .forwards
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            for (player, mut first) in waited {
                let later = forwards.remove(&player).unwrap_or_default();
                first.extend(later);
                forwards.insert(player, first);
            }
        }
        self.info.hibernated(false);
        self.relocation.moved.send_replace(Some(moved));
    }
}
