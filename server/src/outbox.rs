//! A connection's bounded outbound queue, and the transport-neutral message it carries.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::{mpsc, Notify};

/// Messages queued for one connection before it is considered too slow and disconnected.
pub const OUTBOUND_QUEUE: usize = 4096;

/// One message to a client: `Client-Command` and body in GGS 1.0 terms. Cheap to clone, so a
/// broadcast shares one body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerMessage {
    /// The command, e.g. `hello`, `defined`, `error`, or a script's command.
    pub command: Arc<str>,
    /// The body.
    pub body: Bytes,
}

impl ServerMessage {
    /// A message from a command and a body.
    pub fn new(command: &str, body: impl Into<Bytes>) -> Self {
        ServerMessage {
            command: Arc::from(command),
            body: body.into(),
        }
    }

    /// An `error` reply: the stable code, then a space and a sentence when there is one.
    pub fn error(code: &str, detail: Option<&str>) -> Self {
        let body = match detail {
            Some(d) if !d.is_empty() => format!("{code} {d}"),
            _ => code.to_string(),
        };
        ServerMessage::new("error", body)
    }
}

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
