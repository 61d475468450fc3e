//! Observers: what happens at the tables (created, stopped, hibernated, a player joined or
//! left, a script error), told to the application as a stream ([`Observations`]) for its
//! analytics or moderation.
//!
//! The tables send [`Observation`]s as they happen, on a `tokio::sync::broadcast` channel of
//! [`OBSERVATION_QUEUE`] places: a table never waits for an observer, and an observer that
//! falls behind is told how many it missed ([`Observation::Missed`]). They are notifications,
//! not behind the output gate: one may arrive before the event that caused it is durable (and
//! stand for an event a crash then undid). Nobody observing, a table only checks that nobody
//! is.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::stream::BoxStream;
use futures::Stream;
use tokio::sync::broadcast;

use crate::auth::Identity;

/// Observations an observer may fall behind by before it misses the oldest ones.
pub const OBSERVATION_QUEUE: usize = 1024;

/// Something that happened at a table.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Observation {
    /// A table was created (by its creator's `hello`).
    TableCreated {
        /// The table id.
        table: Arc<str>,
        /// The catalogue game it runs from the start, with its version (`None`: an empty
        /// table, defined later).
        game: Option<(String, u32)>,
    },
    /// A table stopped for good (an administrator stopped it, or it crashed too often); the
    /// server's own shutdown is not a table's stop.
    TableStopped {
        /// The table id.
        table: Arc<str>,
        /// Why, as its players were told.
        why: String,
    },
    /// An idle table dropped its runtime; its next event wakes it.
    TableHibernated {
        /// The table id.
        table: Arc<str>,
    },
    /// A player took a new seat (not a seat taken back: that is the same player).
    PlayerJoined {
        /// The table id.
        table: Arc<str>,
        /// The player's public id (what scripts see).
        player: Arc<str>,
        /// Who the auth hook said they are (`None`: anonymous, no hook).
        identity: Option<Identity>,
    },
    /// A player's seat was freed: it was held for the grace period after their connection
    /// closed (or they went to another table) and nobody took it back. A dropped connection
    /// alone is not a leave.
    PlayerLeft {
        /// The table id.
        table: Arc<str>,
        /// The player's public id.
        player: Arc<str>,
        /// Who the auth hook said they were, if anyone.
        identity: Option<Identity>,
    },
    /// An event of a table's script failed (it threw, ran out of time or memory, ...): it
    /// changed nothing.
    ScriptError {
        /// The table id.
        table: Arc<str>,
        /// The player whose event it was (`None`: a tick, a timer, `onResume`).
        player: Option<Arc<str>>,
        /// The stable code (`script_error`, `script_timeout`, ...).
        code: String,
        /// The error's message.
        message: String,
    },
    /// This observer fell behind: the `count` observations before the next one are lost.
    Missed {
        /// How many.
        count: u64,
    },
}

/// Where the tables send observations (cheap to clone).
#[derive(Clone)]
pub(crate) struct Observers {
    tx: broadcast::Sender<Observation>,
}

impl Default for Observers {
    fn default() -> Self {
        Observers::new()
    }
}

impl Observers {
    /// A channel of [`OBSERVATION_QUEUE`] places, nobody observing yet.
    pub(crate) fn new() -> Observers {
        let (tx, _) = broadcast::channel(OBSERVATION_QUEUE);
        Observers { tx }
    }

    /// Tells every observer what `make` says; makes nothing when nobody observes.
    pub(crate) fn send(&self, make: impl FnOnce() -> Observation) {
        if self.tx.receiver_count() > 0 {
            let _ = self.tx.send(make());
        }
    }

    /// A new observer, told what happens from now on.
    pub(crate) fn subscribe(&self) -> Observations {
        let rx = self.tx.subscribe();
        let stream = futures::stream::unfold(rx, |mut rx| async move {
            let next = match rx.recv().await {
                Ok(observation) => observation,
                Err(broadcast::error::RecvError::Lagged(count)) => Observation::Missed { count },
                Err(broadcast::error::RecvError::Closed) => return None,
            };
            Some((next, rx))
        });
        Observations(Box::pin(stream))
    }
}

/// The observations of one observer ([`crate::Ggs::observe`]), as a [`Stream`]; it ends once
/// the server has stopped and every table has let go.
pub struct Observations(BoxStream<'static, Observation>);

impl Observations {
    /// The next observation; `None` once the stream has ended.
    pub async fn recv(&mut self) -> Option<Observation> {
        futures::StreamExt::next(self).await
    }
}

impl Stream for Observations {
    type Item = Observation;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Observation>> {
        self.0.as_mut().poll_next(cx)
    }
}

impl std::fmt::Debug for Observations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Observations")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn observers_get_what_happens_and_are_told_what_they_missed() {
        let observers = Observers::new();
        let mut made = false;
        observers.send(|| {
            made = true;
            Observation::TableHibernated { table: "t".into() }
        });
        assert!(!made, "nothing is made when nobody observes");
        let mut stream = observers.subscribe();
        observers.send(|| Observation::TableHibernated { table: "a".into() });
        assert_eq!(
            stream.recv().await,
            Some(Observation::TableHibernated { table: "a".into() })
        );
        for _ in 0..OBSERVATION_QUEUE + 5 {
            observers.send(|| Observation::TableHibernated { table: "b".into() });
        }
        assert_eq!(stream.recv().await, Some(Observation::Missed { count: 5 }));
        drop(observers);
        let mut rest = 0;
        while stream.recv().await.is_some() {
            rest += 1;
        }
        assert_eq!(rest, OBSERVATION_QUEUE);
    }
}
