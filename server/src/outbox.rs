//! A connection's bounded outbound queue of [`ServerMessage`]s.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::sync::{mpsc, Notify};

use crate::protocol::message::ServerMessage;

/// Messages queued for one connection before it is considered too slow and disconnected.
pub const OUTBOUND_QUEUE: usize = 4096;

/// The sending side of a connection's queue. Never blocks: a full queue marks the connection
/// as overflowed, and its session closes it.
#[derive(Debug, Clone)]
pub struct Outbox {
    tx: mpsc::Sender<ServerMessage>,
    overflow: Arc<Overflow>,
}

/// Set once when the queue overflowed; the session waits on it.
#[derive(Debug, Default)]
pub struct Overflow {
    flag: AtomicBool,
    notify: Notify,
}

impl Overflow {
    /// Resolves once the queue has overflowed.
    pub async fn wait(&self) {
        loop {
            let notified = self.notify.notified();
            if self.flag.load(Ordering::Acquire) {
                return;
            }
            notified.await;
        }
    }
}

impl Outbox {
    /// A new queue of `capacity` messages: the outbox, its receiver, and its overflow signal.
    pub fn new(capacity: usize) -> (Outbox, mpsc::Receiver<ServerMessage>, Arc<Overflow>) {
        let (tx, rx) = mpsc::channel(capacity);
        let overflow = Arc::new(Overflow::default());
        (
            Outbox {
                tx,
                overflow: overflow.clone(),
            },
            rx,
            overflow,
        )
    }

    /// Whether `other` is this same queue.
    pub fn same(&self, other: &Outbox) -> bool {
        self.tx.same_channel(&other.tx)
    }

    /// Queues a message. A closed connection drops it; a full queue flags the connection.
    pub fn deliver(&self, message: ServerMessage) {
        match self.tx.try_send(message) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Closed(_)) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.overflow.flag.store(true, Ordering::Release);
                self.overflow.notify.notify_waiters();
            }
        }
    }
}
