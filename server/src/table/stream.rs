//! GGS 1.1 streams: every message to a 1.1 seat numbered (`Msg`) and kept until the client
//! acknowledges it, within bounds; and the highest command `Seq` applied, so a command resent
//! after a reconnect is not run twice.
//!
//! What is kept is written once per event for the whole table, not per seat: one [`Log`] entry
//! (`o/<table>/<entry>`) holds an event's messages to 1.1 seats (a broadcast's body once), who
//! got which under which number, and the commands it applied. It is written with the event's
//! transaction (so a message is kept exactly when the event that sent it is committed) and
//! deleted once every seat it numbered a message for has acknowledged it (or ended), with a
//! later transaction; a deletion that waits costs nothing, since a resuming client says what
//! it has (`Ack`) and nothing at or below that is replayed. A seat's counters (`q/`) are
//! written when it starts and whenever entries are deleted, so what the deleted entries said
//! (the last number, the last `Seq`) is not lost: a stream's numbers come back as the larger of
//! its counters and its entries.
//!
//! Pure data (the store's bytes in, a transaction's changes out), unit-tested.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::protocol::message::ServerMessage;
use crate::store::{StoredStream, Txn};

/// Entries no longer needed that wait to be deleted together: deleting them one transaction
/// at a time would cost a store write per event for nothing (a resuming client says what it
/// has, so an entry that waits is never replayed).
pub const DEAD_ENTRIES_BATCH: usize = 32;

/// Deliveries (or applied commands) an entry gathers before the next event starts a new one.
/// Until then each event rewrites the open entry with everything it holds so far, so the
/// events of one table that one group commit carries cost the store one write, not one each.
pub const ENTRY_CAP: usize = 64;

/// How much a seat's stream keeps for a client that has not acknowledged it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// Most messages kept.
    pub messages: usize,
    /// Most bytes (commands and bodies) kept.
    pub bytes: usize,
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

/// A log entry as stored (JSON, written by [`Fresh::to_json`]): the messages to 1.1 seats of
/// the events it gathered, and the commands they applied.
#[derive(Debug, Default, Deserialize)]
struct Entry {
    /// The distinct messages, as (command, body).
    #[serde(rename = "m", default)]
    messages: Vec<(String, String)>,
    /// Who got which: (player, `Msg` number, index into `messages`).
    #[serde(rename = "d", default)]
    deliveries: Vec<(String, u64, usize)>,
    /// Commands applied: (player, `Seq`).
    #[serde(rename = "a", default)]
    applied: Vec<(String, u64)>,
}

/// The open entry: what the events since it was started put in it.
#[derive(Debug, Default)]
struct Fresh {
    messages: Vec<ServerMessage>,
    deliveries: Vec<(Arc<str>, u64, usize)>,
    applied: Vec<(Arc<str>, u64)>,
    /// The JSON of `messages`, `deliveries` and `applied`, each element serialised once as it
    /// was added (comma separated): staging the entry again only joins them.
    json: [Vec<u8>; 3],
    /// Something was added since the entry was last staged.
    changed: bool,
}

impl Fresh {
    /// Appends `item`'s JSON to list `list` (0: messages, 1: deliveries, 2: applied).
    fn append(&mut self, list: usize, item: &impl Serialize) {
        let out = &mut self.json[list];
        if !out.is_empty() {
            out.push(b',');
        }
        serde_json::to_writer(&mut *out, item).expect("an entry's item serialises");
        self.changed = true;
    }

    /// The entry's JSON, as [`Entry`] reads it.
    fn to_json(&self) -> Vec<u8> {
        let [m, d, a] = &self.json;
        let mut out = Vec::with_capacity(m.len() + d.len() + a.len() + 24);
        for (key, list) in [(&b"{\"m\":["[..], m), (b"],\"d\":[", d), (b"],\"a\":[", a)] {
            out.extend_from_slice(key);
            out.extend_from_slice(list);
        }
        out.extend_from_slice(b"]}");
        out
    }
}

/// The table's log of kept messages: which entries are still needed, and how many kept
/// messages each still holds.
#[derive(Debug, Default)]
pub struct Log {
    /// The number of the open entry (the current event's, and those of the events before it
    /// since it was started).
    next_entry: u64,
    /// Written entries that still hold kept messages, with how many.
    live: BTreeMap<u64, usize>,
    /// Kept messages of the open entry already released.
    fresh_released: usize,
    fresh: Fresh,
    /// Written entries to delete with the next transaction.
    dropped: Vec<u64>,
    /// Events staged so far: the current event is this one.
    event: u64,
}

impl Log {
    /// The log of a table loaded from the store: its entries (number and JSON, in order) are
    /// handed to the seats' `streams` they numbered messages for. An entry that cannot be read
    /// is skipped (logged), as is a delivery to a seat with no stream.
    pub fn loaded(
        table: &str,
        entries: Vec<(u64, Vec<u8>)>,
        streams: &mut HashMap<&str, &mut Stream>,
    ) -> Log {
        let mut log = Log::default();
        for (number, raw) in entries {
            log.next_entry = log.next_entry.max(number + 1);
            let entry: Entry = match serde_json::from_slice(&raw) {
                Ok(entry) => entry,
                Err(e) => {
                    tracing::error!(%table, entry = number, "a kept-message entry is unreadable: {e}");
                    continue;
                }
            };
            let mut held = 0;
            for (player, n, index) in entry.deliveries {
                let (Some(stream), Some((command, body))) =
                    (streams.get_mut(player.as_str()), entry.messages.get(index))
                else {
                    continue;
                };
                let message = ServerMessage {
                    msg: Some(n),
                    ..ServerMessage::new(command, body.clone())
                };
                if n > stream.next {
                    stream.next = n;
                    stream.last_entry = Some(number);
                }
                stream.keep(message, number, 0);
                held += 1;
            }
            for (player, seq) in entry.applied {
                if let Some(stream) = streams.get_mut(player.as_str()) {
                    if seq > stream.applied {
                        stream.applied = seq;
                        stream.applied_entry = Some(number);
                    }
                    stream.admitted = stream.applied;
                }
            }
            match held {
                0 => log.dropped.push(number),
                _ => {
                    log.live.insert(number, held);
                }
            }
        }
        log
    }

    /// Adds a numbered message for `player` to the current entry; the entry's number.
    fn add(&mut self, player: &Arc<str>, message: &ServerMessage) -> u64 {
        let n = message.msg.expect("a kept message is numbered");
        // A broadcast is one message cloned for each seat: its body is kept once.
        let same = |m: &ServerMessage| {
            m.command == message.command
                && m.body.as_ptr() == message.body.as_ptr()
                && m.body.len() == message.body.len()
        };
        let index = match self.fresh.messages.iter().rposition(same) {
            Some(index) => index,
            None => {
                let body = String::from_utf8_lossy(&message.body);
                self.fresh.append(0, &(&*message.command, &*body));
                self.fresh.messages.push(ServerMessage {
                    msg: None,
                    ..message.clone()
                });
                self.fresh.messages.len() - 1
            }
        };
        self.fresh.append(1, &(&**player, n, index));
        self.fresh.deliveries.push((player.clone(), n, index));
        self.next_entry
    }

    /// A kept message of entry `entry` is no longer needed (acknowledged, pushed out by the
    /// bounds, or its seat ended).
    fn release(&mut self, entry: u64) {
        if entry == self.next_entry {
            self.fresh_released += 1;
            return;
        }
        if let Some(held) = self.live.get_mut(&entry) {
            *held -= 1;
            if *held == 0 {
                self.live.remove(&entry);
                self.dropped.push(entry);
            }
        }
    }

    /// Adds the open entry (if the event added to it) and the deletions to `txn`; then the
    /// counters of every stream whose numbers an entry deleted now might have held (see the
    /// module docs). The open entry is closed once it holds [`ENTRY_CAP`] deliveries or
    /// applied commands.
    pub fn stage<'a>(
        &mut self,
        table: &str,
        txn: &mut Txn,
        streams: impl Iterator<Item = (&'a str, &'a mut Stream)>,
    ) {
        self.event += 1;
        if std::mem::take(&mut self.fresh.changed) {
            let fresh = &self.fresh;
            let number = self.next_entry;
            txn.log_entry(table, number, fresh.to_json());
            if fresh.deliveries.len().max(fresh.applied.len()) >= ENTRY_CAP {
                let fresh = std::mem::take(&mut self.fresh);
                let released = std::mem::take(&mut self.fresh_released);
                match fresh.deliveries.len().saturating_sub(released) {
                    0 => self.dropped.push(number),
                    held => {
                        self.live.insert(number, held);
                    }
                }
                self.next_entry += 1;
            }
        }
        let deleting = self.dropped.len() >= DEAD_ENTRIES_BATCH;
        if deleting {
            self.dropped.sort_unstable();
            for entry in &self.dropped {
                txn.drop_log_entry(table, *entry);
            }
        }
        for (player, stream) in streams {
            let lost = |entry: Option<u64>| {
                deleting && entry.is_some_and(|e| self.dropped.binary_search(&e).is_ok())
            };
            // The counters are written when they are new, or when an entry that alone held
            // the stream's last number or last `Seq` goes.
            if stream.unsaved || lost(stream.last_entry) || lost(stream.applied_entry) {
                stream.save(table, player, txn);
            }
        }
        if deleting {
            self.dropped.clear();
        }
    }
}

/// One message a stream keeps, the log entry that holds it, and the event that sent it.
#[derive(Debug, Clone)]
struct Kept {
    message: ServerMessage,
    entry: u64,
    event: u64,
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
    /// Kept messages, oldest first.
    kept: VecDeque<Kept>,
    /// Bytes (commands and bodies) of `kept`.
    bytes: usize,
    /// The counters as the store last had them.
    saved: (u64, u64),
    /// The log entry holding the last number given, while it is above the saved one.
    last_entry: Option<u64>,
    /// The log entry holding the last `Seq` applied, while it is above the saved one.
    applied_entry: Option<u64>,
    /// The counters were never written (a new stream).
    unsaved: bool,
}

impl Stream {
    /// A new stream: nothing sent, no command applied.
    pub fn new() -> Stream {
        Stream {
            unsaved: true,
            ..Stream::default()
        }
    }

    /// A stream as its counters were committed (its kept messages come from the [`Log`]).
    pub fn loaded(stored: StoredStream) -> Stream {
        Stream {
            next: stored.next,
            applied: stored.seq,
            admitted: stored.seq,
            saved: (stored.next, stored.seq),
            ..Stream::default()
        }
    }

    /// Gives `message` to `player` the next number and keeps it in `log` (until
    /// acknowledged, or pushed out by `bounds`: the oldest go first, the current event's
    /// stay).
    pub fn number(
        &mut self,
        player: &Arc<str>,
        message: ServerMessage,
        bounds: Bounds,
        log: &mut Log,
    ) -> ServerMessage {
        self.next += 1;
        let message = ServerMessage {
            msg: Some(self.next),
            ..message
        };
        let entry = log.add(player, &message);
        self.last_entry = Some(entry);
        self.keep(message.clone(), entry, log.event);
        while self.kept.len() > bounds.messages || self.bytes > bounds.bytes {
            match self.kept.front() {
                Some(old) if old.event != log.event => {
                    let old = self.kept.pop_front().expect("checked");
                    self.forget(&old, log);
                }
                _ => break,
            }
        }
        message
    }

    fn keep(&mut self, message: ServerMessage, entry: u64, event: u64) {
        self.bytes += size(&message);
        self.kept.push_back(Kept {
            message,
            entry,
            event,
        });
    }

    fn forget(&mut self, kept: &Kept, log: &mut Log) {
        self.bytes -= size(&kept.message);
        log.release(kept.entry);
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

    /// `player`'s command numbered `seq` has run: recorded in the current event's entry.
    pub fn applied(&mut self, player: &Arc<str>, seq: u64, log: &mut Log) {
        if seq > self.applied {
            self.applied = seq;
            self.applied_entry = Some(log.next_entry);
            log.fresh.append(2, &(&**player, seq));
            log.fresh.applied.push((player.clone(), seq));
        }
    }

    /// The highest `Seq` applied.
    pub fn seq(&self) -> u64 {
        self.applied
    }

    /// The client has every message up to `n`: those kept are released.
    pub fn ack(&mut self, n: u64, log: &mut Log) {
        while self
            .kept
            .front()
            .is_some_and(|k| k.message.msg.is_some_and(|m| m <= n))
        {
            let kept = self.kept.pop_front().expect("checked");
            self.forget(&kept, log);
        }
    }

    /// A client resumes having received every message up to `ack`: what it is missing, or
    /// [`Resume::Resync`] when some of that is no longer kept (or it claims more than was
    /// sent). Either way, what it has is released.
    pub fn resume(&mut self, ack: u64, log: &mut Log) -> Resume {
        self.ack(ack, log);
        let first_kept = self
            .kept
            .front()
            .and_then(|k| k.message.msg)
            .unwrap_or(self.next + 1);
        if ack + 1 < first_kept || ack > self.next {
            self.release_all(log);
            // The numbers go on above anything the client has seen (written with this event).
            if ack > self.next {
                self.next = ack;
                self.unsaved = true;
            }
            return Resume::Resync;
        }
        Resume::Replay(self.kept.iter().map(|k| k.message.clone()).collect())
    }

    /// The seat is given up: everything it kept is released; its counters go with `txn`.
    pub fn end(mut self, table: &str, player: &str, log: &mut Log, txn: &mut Txn) {
        self.release_all(log);
        txn.end_stream(table, player);
    }

    fn release_all(&mut self, log: &mut Log) {
        for kept in std::mem::take(&mut self.kept) {
            self.forget(&kept, log);
        }
    }

    /// Writes the counters if they changed since they were last written.
    fn save(&mut self, table: &str, player: &str, txn: &mut Txn) {
        let now = (self.next, self.applied);
        if self.unsaved || now != self.saved {
            txn.stream(table, player, now.0, now.1);
            self.saved = now;
            self.unsaved = false;
        }
        self.last_entry = None;
        self.applied_entry = None;
    }

    /// Messages kept now (for tests and figures).
    #[cfg(test)]
    pub fn kept(&self) -> usize {
        self.kept.len()
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
    const Q: &str = "bbbbbbbb-2222-4000-8000-000000000002";
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

    fn replayed(resume: Resume) -> Vec<(u64, String)> {
        match resume {
            Resume::Replay(m) => text(&m),
            Resume::Resync => panic!("resync"),
        }
    }

    /// One seat's stream and the table's log, staged as the table would after each event.
    struct Table {
        log: Log,
        p: Stream,
        player: Arc<str>,
        txn: Txn,
    }

    impl Table {
        fn new() -> Table {
            Table {
                log: Log::default(),
                p: Stream::new(),
                player: Arc::from(P),
                txn: Txn::default(),
            }
        }

        /// `n` events of one message each.
        fn events(&mut self, n: usize) {
            for i in 0..n {
                self.event(ServerMessage::new("m", i.to_string()), WIDE);
            }
        }

        fn event(&mut self, message: ServerMessage, bounds: Bounds) -> ServerMessage {
            let numbered = self.p.number(&self.player, message, bounds, &mut self.log);
            self.stage();
            numbered
        }

        fn stage(&mut self) {
            let streams = std::iter::once((P, &mut self.p));
            self.log.stage(T, &mut self.txn, streams);
        }
    }

    #[test]
    fn numbers_from_one_and_replays_what_was_not_acknowledged() {
        let mut t = Table::new();
        t.events(3);
        assert!(!t.txn.is_empty());
        assert_eq!(
            replayed(t.p.resume(1, &mut t.log)),
            [(2, "m 1".to_string()), (3, "m 2".to_string())]
        );
        assert_eq!(t.p.kept(), 2, "the first is released by the resume");
        assert_eq!(replayed(t.p.resume(3, &mut t.log)), []);
        assert_eq!(t.p.kept(), 0);
        assert_eq!(t.event(ServerMessage::new("m", "x"), WIDE).msg, Some(4));
    }

    #[test]
    fn a_client_behind_what_is_kept_is_told_to_resync() {
        let mut t = Table::new();
        let bounds = Bounds {
            messages: 3,
            bytes: 1 << 20,
        };
        for i in 0..5 {
            t.event(ServerMessage::new("m", i.to_string()), bounds);
        }
        assert_eq!(t.p.kept(), 3);
        // It has 1; 2 is gone.
        assert_eq!(t.p.resume(1, &mut t.log), Resume::Resync);
        assert_eq!(t.p.kept(), 0);
        let mut t = Table::new();
        t.events(2);
        // It claims more than was ever sent: resync, and numbers go on above its claim.
        assert_eq!(t.p.resume(9, &mut t.log), Resume::Resync);
        assert_eq!(
            t.event(ServerMessage::new("resync", ""), WIDE).msg,
            Some(10)
        );
    }

    #[test]
    fn the_byte_bound_keeps_the_newest_event() {
        let mut t = Table::new();
        let bounds = Bounds {
            messages: 100,
            bytes: 10,
        };
        t.event(ServerMessage::new("m", "12345"), bounds);
        // This one alone is over the bound: the older one goes, it stays.
        t.event(ServerMessage::new("m", "1234567890"), bounds);
        assert_eq!(t.p.kept(), 1);
        assert_eq!(
            replayed(t.p.resume(1, &mut t.log)),
            [(2, "m 1234567890".to_string())]
        );
    }

    #[test]
    fn a_command_runs_once_per_seq() {
        let mut t = Table::new();
        assert!(t.p.admit(1));
        assert!(t.p.admit(2));
        assert!(!t.p.admit(2), "queued again before it ran");
        t.p.applied(&t.player, 2, &mut t.log);
        assert!(!t.p.admit(1));
        assert!(t.p.admit(5), "numbers may skip");
        assert_eq!(t.p.seq(), 2, "5 is let in, not yet applied");
    }

    /// A store holding table `T` with seats for `P` and `Q`.
    fn store() -> (tempfile::TempDir, crate::store::Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::Store::open(dir.path()).unwrap();
        let mut txn = Txn::default();
        for player in [P, Q] {
            let token = crate::protocol::token::Token::generate();
            txn.seat(T, player, Some(token.hash()));
        }
        let record = crate::store::TableRecord {
            created_ms: 1,
            tick_ms: 0,
            host: None,
            game: None,
            script: None,
        };
        txn.create_table(T, &record);
        store.apply([&txn]).unwrap();
        (dir, store)
    }

    /// The streams of `P` and `Q` and the log, as a table loaded from `store` has them.
    fn load(store: &crate::store::Store) -> (Stream, Stream, Log) {
        let loaded = store.load_table(T).unwrap().unwrap();
        let stream = |player: &str| {
            let seat = loaded.seats.iter().find(|s| s.player == player).unwrap();
            Stream::loaded(seat.stream.clone().expect("a stream"))
        };
        let (mut p, mut q) = (stream(P), stream(Q));
        let mut streams: HashMap<&str, &mut Stream> = HashMap::new();
        streams.insert(P, &mut p);
        streams.insert(Q, &mut q);
        let log = Log::loaded(T, loaded.log, &mut streams);
        (p, q, log)
    }

    #[test]
    fn a_broadcast_is_one_entry_and_what_is_staged_loads_back() {
        let (_dir, store) = store();
        let (pa, qa): (Arc<str>, Arc<str>) = (Arc::from(P), Arc::from(Q));
        let (mut p, mut q, mut log) = (Stream::new(), Stream::new(), Log::default());
        let mut txn = Txn::default();
        // Event 1: a broadcast to both, and P's command 7 applied.
        let all = ServerMessage::new("all", "hello both");
        p.number(&pa, all.clone(), WIDE, &mut log);
        q.number(&qa, all.clone(), WIDE, &mut log);
        p.applied(&pa, 7, &mut log);
        assert_eq!(log.fresh.messages.len(), 1, "the body is kept once");
        log.stage(T, &mut txn, [(P, &mut p), (Q, &mut q)].into_iter());
        // Event 2: to P alone.
        p.number(&pa, ServerMessage::new("p", "only"), WIDE, &mut log);
        log.stage(T, &mut txn, [(P, &mut p), (Q, &mut q)].into_iter());
        store.apply([&txn]).unwrap();

        let (mut p2, mut q2, mut log2) = load(&store);
        assert_eq!(p2.seq(), 7);
        assert_eq!(
            replayed(p2.resume(0, &mut log2)),
            [(1, "all hello both".to_string()), (2, "p only".to_string())]
        );
        assert_eq!(
            replayed(q2.resume(0, &mut log2)),
            [(1, "all hello both".to_string())]
        );

        // Both acknowledge event 1: its entry is no longer needed (deleted with a later
        // batch), and nothing is lost on the next load.
        let mut txn = Txn::default();
        p2.ack(1, &mut log2);
        q2.ack(1, &mut log2);
        log2.stage(T, &mut txn, [(P, &mut p2), (Q, &mut q2)].into_iter());
        store.apply([&txn]).unwrap();
        let (mut p3, mut q3, mut log3) = load(&store);
        assert_eq!(
            p3.seq(),
            7,
            "the deleted entry's Seq survives in the counters"
        );
        assert_eq!(
            replayed(p3.resume(1, &mut log3)),
            [(2, "p only".to_string())]
        );
        assert_eq!(replayed(q3.resume(1, &mut log3)), []);
        assert_eq!(
            p3.number(&pa, ServerMessage::new("m", ""), WIDE, &mut log3)
                .msg,
            Some(3)
        );
        assert_eq!(
            q3.number(&qa, ServerMessage::new("m", ""), WIDE, &mut log3)
                .msg,
            Some(2)
        );
    }

    #[test]
    fn acknowledged_entries_are_deleted_in_batches_and_the_numbers_survive() {
        let (_dir, store) = store();
        let (pa, qa): (Arc<str>, Arc<str>) = (Arc::from(P), Arc::from(Q));
        let (mut p, mut q, mut log) = (Stream::new(), Stream::new(), Log::default());
        let mut txn = Txn::default();
        let events = DEAD_ENTRIES_BATCH as u64 + 8;
        for n in 1..=events {
            p.number(&pa, ServerMessage::new("m", ""), WIDE, &mut log);
            p.applied(&pa, n, &mut log);
            // Acknowledged as it goes, as a client that keeps up does.
            p.ack(n, &mut log);
            log.stage(T, &mut txn, [(P, &mut p), (Q, &mut q)].into_iter());
        }
        store.apply([&txn]).unwrap();
        let loaded = store.load_table(T).unwrap().unwrap();
        assert!(
            loaded.log.len() < DEAD_ENTRIES_BATCH,
            "{} entries are left of {events}",
            loaded.log.len()
        );
        let (mut p2, mut q2, mut log2) = load(&store);
        assert_eq!(p2.seq(), events, "the last Seq survives its entry");
        assert_eq!(replayed(p2.resume(events, &mut log2)), []);
        let next = p2.number(&pa, ServerMessage::new("m", ""), WIDE, &mut log2);
        assert_eq!(next.msg, Some(events + 1), "and so does the last number");
        assert_eq!(
            q2.number(&qa, ServerMessage::new("m", ""), WIDE, &mut log2)
                .msg,
            Some(1)
        );
    }

    #[test]
    fn an_ended_stream_releases_its_entries() {
        let (_dir, store) = store();
        let (pa, qa): (Arc<str>, Arc<str>) = (Arc::from(P), Arc::from(Q));
        let (mut p, mut q, mut log) = (Stream::new(), Stream::new(), Log::default());
        let mut txn = Txn::default();
        let all = ServerMessage::new("all", "x");
        p.number(&pa, all.clone(), WIDE, &mut log);
        q.number(&qa, all, WIDE, &mut log);
        log.stage(T, &mut txn, [(P, &mut p), (Q, &mut q)].into_iter());
        q.end(T, Q, &mut log, &mut txn);
        p.ack(1, &mut log);
        log.stage(T, &mut txn, [(P, &mut p)].into_iter());
        assert_eq!(
            log.fresh_released,
            log.fresh.deliveries.len(),
            "nobody needs the open entry's messages any more"
        );
        store.apply([&txn]).unwrap();
        let loaded = store.load_table(T).unwrap().unwrap();
        let q_seat = loaded.seats.iter().find(|s| s.player == Q).unwrap();
        assert_eq!(q_seat.stream, None);
    }
}
