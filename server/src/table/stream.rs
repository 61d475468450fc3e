//! A GGS 1.1 seat's stream: every message to the seat numbered (`Msg`) and kept until the
//! client acknowledges it, within bounds; and the highest command `Seq` applied, so a command
//! resent after a reconnect is not run twice.
//!
//! What the stream changes reaches the store with the next transaction of the table
//! ([`Stream::stage`]): an event's messages to the seat as one kept group, written with that
//! event (so a message is kept exactly when the event that sent it is committed), the counters
//! when they changed, and the groups acknowledged (or pushed out by the bounds) as deletions.
//! A deletion that waits for the next transaction costs nothing: a resuming client says what it
//! has (`Ack`), and nothing at or below that is replayed.
//!
//! Pure data, unit-tested.

use std::collections::VecDeque;

use crate::protocol::message::ServerMessage;
use crate::store::{StoredStream, Txn};

/// How much a seat's stream keeps for a client that has not acknowledged it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// Most messages kept.
    pub messages: usize,
    /// Most bytes (commands and bodies) kept.
    pub bytes: usize,
}

/// The messages of one event to the seat, numbered from `first`.
#[derive(Debug, Clone)]
struct Group {
    first: u64,
    messages: Vec<ServerMessage>,
    bytes: usize,
}

impl Group {
    fn last(&self) -> u64 {
        self.first + self.messages.len() as u64 - 1
    }
}

/// What a resuming client gets after the `hello` reply.
#[derive(Debug, PartialEq, Eq)]
pub enum Resume {
    /// Every kept message above its `Ack`, in order.
    Replay(Vec<ServerMessage>),
    /// Some of what it has not seen is no longer kept: it is told `resync` (then the game's
    /// `playerReconnected`, as a 1.0 client is).
    Resync,
}

/// One seat's stream.
#[derive(Debug, Default)]
pub struct Stream {
    /// The last message number given.
    next: u64,
    /// The highest command `Seq` applied (committed with the event that applied it).
    applied: u64,
    /// The highest `Seq` let in to run (applied, or queued or in flight).
    admitted: u64,
    /// Kept groups already staged for the store, oldest first.
    kept: VecDeque<Group>,
    /// Messages given numbers since the last stage: the current event's.
    fresh: Option<Group>,
    /// Messages and bytes in `kept` and `fresh`.
    messages: usize,
    bytes: usize,
    /// Groups to delete from the store (acknowledged, or pushed out by the bounds).
    dropped: Vec<u64>,
    /// The counters changed since the last stage.
    dirty: bool,
}

impl Stream {
    /// A new stream: nothing sent, no command applied.
    pub fn new() -> Stream {
        Stream {
            dirty: true,
            ..Stream::default()
        }
    }

    /// A stream as committed.
    pub fn loaded(stored: StoredStream) -> Stream {
        let mut stream = Stream {
            next: stored.next,
            applied: stored.seq,
            admitted: stored.seq,
            ..Stream::default()
        };
        for (first, messages) in stored.kept {
            let messages: Vec<ServerMessage> = messages
                .into_iter()
                .enumerate()
                .map(|(i, (command, body))| ServerMessage {
                    msg: Some(first + i as u64),
                    ..ServerMessage::new(&command, body)
                })
                .collect();
            if messages.is_empty() {
                continue;
            }
            let bytes = messages.iter().map(size).sum();
            stream.messages += messages.len();
            stream.bytes += bytes;
            stream.kept.push_back(Group {
                first,
                messages,
                bytes,
            });
        }
        stream
    }

    /// Gives `message` the next number and keeps it (until acknowledged, or pushed out by
    /// `bounds`: the oldest events' messages go first, the current event's stay).
    pub fn number(&mut self, message: ServerMessage, bounds: Bounds) -> ServerMessage {
        self.next += 1;
        let message = ServerMessage {
            msg: Some(self.next),
            ..message
        };
        let group = self.fresh.get_or_insert_with(|| Group {
            first: self.next,
            messages: Vec::new(),
            bytes: 0,
        });
        let bytes = size(&message);
        group.messages.push(message.clone());
        group.bytes += bytes;
        self.messages += 1;
        self.bytes += bytes;
        while self.messages > bounds.messages || self.bytes > bounds.bytes {
            let Some(old) = self.kept.pop_front() else {
                break;
            };
            self.forget(old);
        }
        message
    }

    /// Whether a command numbered `seq` may run: only if it is above every command let in so
    /// far (a resent command that ran, or is about to, is not run again).
    pub fn admit(&mut self, seq: u64) -> bool {
        if seq <= self.admitted {
            return false;
        }
        self.admitted = seq;
        true
    }

    /// The command numbered `seq` has run: recorded with its event.
    pub fn applied(&mut self, seq: u64) {
        if seq > self.applied {
            self.applied = seq;
            self.dirty = true;
        }
    }

    /// The highest `Seq` applied.
    pub fn seq(&self) -> u64 {
        self.applied
    }

    /// The client has every message up to `n`: those kept are dropped.
    pub fn ack(&mut self, n: u64) {
        while self.kept.front().is_some_and(|g| g.last() <= n) {
            let group = self.kept.pop_front().expect("checked");
            self.forget(group);
        }
    }

    /// A client resumes having received every message up to `ack`: what it is missing, or
    /// [`Resume::Resync`] when some of that is no longer kept (or it claims more than was
    /// sent). Either way, what it has is dropped.
    pub fn resume(&mut self, ack: u64) -> Resume {
        self.ack(ack);
        let first_kept = self
            .kept
            .front()
            .or(self.fresh.as_ref())
            .map_or(self.next + 1, |g| g.first);
        if ack + 1 < first_kept || ack > self.next {
            for group in std::mem::take(&mut self.kept) {
                self.forget(group);
            }
            if let Some(fresh) = self.fresh.take() {
                self.forget(fresh);
            }
            // The numbers go on above anything the client has seen.
            if ack > self.next {
                self.next = ack;
                self.dirty = true;
            }
            return Resume::Resync;
        }
        let missing = self.kept.iter().chain(self.fresh.as_ref());
        let missing = missing.flat_map(|g| g.messages.iter());
        let missing = missing.filter(|m| m.msg.is_some_and(|n| n > ack));
        Resume::Replay(missing.cloned().collect())
    }

    /// Adds what changed since the last stage to `txn`: the current event's messages as one
    /// kept group, the deletions, and the counters if they changed.
    pub fn stage(&mut self, table: &str, player: &str, txn: &mut Txn) {
        if !self.dropped.is_empty() {
            // The last number given may have been only in a dropped group's key.
            self.dirty = true;
        }
        for first in self.dropped.drain(..) {
            txn.unkeep(table, player, first);
        }
        if let Some(group) = self.fresh.take() {
            let messages = group.messages.iter();
            txn.keep(
                table,
                player,
                group.first,
                messages.map(|m| (&*m.command, &m.body[..])),
            );
            self.kept.push_back(group);
            // The last number given is in the group's key; the counters need not be written.
        }
        if std::mem::take(&mut self.dirty) {
            txn.stream(table, player, self.next, self.applied);
        }
    }

    /// The seat is given up or speaks 1.0 again: everything of the stream is deleted.
    pub fn end(mut self, table: &str, player: &str, txn: &mut Txn) {
        self.fresh = None;
        for group in std::mem::take(&mut self.kept) {
            self.forget(group);
        }
        for first in self.dropped.drain(..) {
            txn.unkeep(table, player, first);
        }
        txn.end_stream(table, player);
    }

    /// Messages kept now (for tests and figures).
    #[cfg(test)]
    pub fn kept(&self) -> usize {
        self.messages
    }

    fn forget(&mut self, group: Group) {
        self.messages -= group.messages.len();
        self.bytes -= group.bytes;
        self.dropped.push(group.first);
    }
}

/// What a kept message counts against [`Bounds::bytes`].
fn size(message: &ServerMessage) -> usize {
    message.command.len() + message.body.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: &str = "7a1c2b1e-0000-4000-8000-000000000001";
    const P: &str = "aaaaaaaa-1111-4000-8000-000000000001";
    const WIDE: Bounds = Bounds {
        messages: 1000,
        bytes: 1 << 20,
    };

    fn text(messages: &[ServerMessage]) -> Vec<(u64, String)> {
        messages
            .iter()
            .map(|m| {
                let body = String::from_utf8_lossy(&m.body);
                (m.msg.unwrap(), format!("{} {body}", m.command))
            })
            .collect()
    }

    /// `n` events of one message each, staged into one transaction.
    fn events(stream: &mut Stream, n: usize, txn: &mut Txn) {
        for i in 0..n {
            stream.number(ServerMessage::new("m", i.to_string()), WIDE);
            stream.stage(T, P, txn);
        }
    }

    #[test]
    fn numbers_from_one_and_replays_what_was_not_acknowledged() {
        let mut stream = Stream::new();
        let mut txn = Txn::default();
        events(&mut stream, 3, &mut txn);
        assert!(!txn.is_empty());
        assert_eq!(
            stream.resume(1),
            Resume::Replay(vec![
                ServerMessage {
                    msg: Some(2),
                    ..ServerMessage::new("m", "1")
                },
                ServerMessage {
                    msg: Some(3),
                    ..ServerMessage::new("m", "2")
                },
            ])
        );
        // The first event's group is dropped (acknowledged by the resume).
        assert_eq!(stream.kept(), 2);
        assert_eq!(stream.resume(3), Resume::Replay(vec![]));
        assert_eq!(stream.kept(), 0);
        let next = stream.number(ServerMessage::new("m", "x"), WIDE);
        assert_eq!(next.msg, Some(4));
    }

    #[test]
    fn a_client_behind_what_is_kept_is_told_to_resync() {
        let mut stream = Stream::new();
        let mut txn = Txn::default();
        let bounds = Bounds {
            messages: 3,
            bytes: 1 << 20,
        };
        for i in 0..5 {
            stream.number(ServerMessage::new("m", i.to_string()), bounds);
            stream.stage(T, P, &mut txn);
        }
        assert_eq!(stream.kept(), 3);
        // It has 1; 2 is gone.
        assert_eq!(stream.resume(1), Resume::Resync);
        assert_eq!(stream.kept(), 0);
        let mut stream = Stream::new();
        events(&mut stream, 2, &mut txn);
        // It claims more than was ever sent: resync, and numbers go on above its claim.
        assert_eq!(stream.resume(9), Resume::Resync);
        assert_eq!(
            stream.number(ServerMessage::new("resync", ""), WIDE).msg,
            Some(10)
        );
    }

    #[test]
    fn the_byte_bound_keeps_the_newest_event() {
        let mut stream = Stream::new();
        let mut txn = Txn::default();
        let bounds = Bounds {
            messages: 100,
            bytes: 10,
        };
        stream.number(ServerMessage::new("m", "12345"), bounds);
        stream.stage(T, P, &mut txn);
        // This one alone is over the bound: the older one goes, it stays.
        stream.number(ServerMessage::new("m", "1234567890"), bounds);
        assert_eq!(stream.kept(), 1);
        assert_eq!(
            stream.resume(1),
            Resume::Replay(text_msgs(&[(2, "1234567890")]))
        );
    }

    fn text_msgs(list: &[(u64, &str)]) -> Vec<ServerMessage> {
        list.iter()
            .map(|(n, body)| ServerMessage {
                msg: Some(*n),
                ..ServerMessage::new("m", body.to_string())
            })
            .collect()
    }

    #[test]
    fn the_last_number_survives_when_everything_is_acknowledged() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::Store::open(dir.path()).unwrap();
        let mut txn = Txn::default();
        record_table(&mut txn);
        let mut stream = Stream::new();
        events(&mut stream, 3, &mut txn);
        stream.ack(3);
        stream.stage(T, P, &mut txn);
        store.apply([&txn]).unwrap();
        let loaded = store.load_table(T).unwrap().unwrap();
        let mut back = Stream::loaded(loaded.seats[0].stream.clone().unwrap());
        assert_eq!(back.number(ServerMessage::new("m", ""), WIDE).msg, Some(4));
    }

    #[test]
    fn a_command_runs_once_per_seq() {
        let mut stream = Stream::new();
        assert!(stream.admit(1));
        assert!(stream.admit(2));
        assert!(!stream.admit(2), "queued again before it ran");
        stream.applied(2);
        assert!(!stream.admit(1));
        assert!(stream.admit(5), "numbers may skip");
        assert_eq!(stream.seq(), 2, "5 is let in, not yet applied");
    }

    /// Adds a table `T` with a seat for `P` to `txn`, so the store loads the seat's stream.
    fn record_table(txn: &mut Txn) {
        txn.seat(T, P, Some(crate::protocol::token::Token::generate().hash()));
        let record = crate::store::TableRecord {
            created_ms: 1,
            tick_ms: 0,
            host: None,
            game: None,
            script: None,
        };
        txn.create_table(T, &record);
    }

    #[test]
    fn what_is_staged_loads_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::Store::open(dir.path()).unwrap();
        let mut stream = Stream::new();
        let mut txn = Txn::default();
        stream.number(ServerMessage::new("a", "1"), WIDE);
        stream.number(ServerMessage::new("b", "2"), WIDE);
        stream.applied(7);
        stream.stage(T, P, &mut txn);
        events(&mut stream, 2, &mut txn);
        stream.ack(2);
        stream.stage(T, P, &mut txn);
        record_table(&mut txn);
        store.apply([&txn]).unwrap();
        let loaded = store.load_table(T).unwrap().unwrap();
        let stored = loaded.seats[0].stream.clone().expect("a stream");
        assert_eq!(stored.next, 4);
        assert_eq!(stored.seq, 7);
        let mut back = Stream::loaded(stored);
        assert_eq!(back.seq(), 7);
        assert_eq!(
            text(match &back.resume(2) {
                Resume::Replay(m) => m,
                other => panic!("{other:?}"),
            }),
            [(3, "m 0".to_string()), (4, "m 1".to_string())]
        );
        assert_eq!(back.number(ServerMessage::new("m", ""), WIDE).msg, Some(5));
        // Ended: nothing of it is left.
        let mut txn = Txn::default();
        back.end(T, P, &mut txn);
        store.apply([&txn]).unwrap();
        let loaded = store.load_table(T).unwrap().unwrap();
        assert_eq!(loaded.seats[0].stream, None);
    }
}
