//! A GGS 1.1 player that survives dropped connections and server restarts: it keeps its seat's
//! token, the highest `Msg` it has seen (dropping duplicates, recording any gap, duplicate or
//! reordering) and the numbered commands it sent that are not yet known applied; on a new
//! connection it resumes (`hello` with `Token`, `GGS-Versions` and `Ack`), reads the highest
//! applied `Seq` from the hello reply and resends every command after it, in order.

use std::collections::{BTreeSet, VecDeque};
use std::fmt;
use std::time::{Duration, Instant};

use crate::client::{
    Conn, RecvError, ReplyFraming, Request, RequestMeta, CLOSED_MID_REPLY, VERSIONS_1_1,
};
use crate::wire::{Hello, Reply, ReplyMeta};

/// Numbered messages received after which an acknowledgement goes alone
/// ([`Resumable::maintain`]), unless a command carried one meanwhile.
pub const ACK_EVERY: u64 = 100;
/// How long received messages may stay unacknowledged while nothing is sent before
/// [`Resumable::maintain`] acknowledges them alone.
pub const ACK_IDLE: Duration = Duration::from_millis(100);

/// Why a [`Resumable`] could not go on.
#[derive(Debug)]
pub enum SessionError {
    /// Nothing arrived in time (the connection is kept).
    Timeout,
    /// The connection is gone or there is none (the server died or is restarting): connect
    /// again and [`Resumable::resume`].
    Disconnected(RecvError),
    /// The server broke GGS 1.1 (a refused resume, a hello reply without `Seq`, a 1.0 reply
    /// on a 1.1 session): a bug to report, not a reason to retry.
    Protocol(String),
    /// The `hello` was answered `next`: the table is served at this address (`Next-Host`, or
    /// the WebSocket URL); resume there.
    Next(String),
}

impl fmt::Display for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionError::Timeout => write!(f, "nothing arrived in time"),
            SessionError::Disconnected(e) => write!(f, "disconnected: {e}"),
            SessionError::Protocol(why) => write!(f, "GGS 1.1 broken: {why}"),
            SessionError::Next(to) => write!(f, "the table is served at {to}"),
        }
    }
}

impl std::error::Error for SessionError {}

/// One message delivered to the player: each numbered message once, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    /// The reply.
    pub reply: Reply,
    /// Its `Msg`, if it is numbered.
    pub msg: Option<u64>,
    /// Where a `next` reply sends the client (`Next-Host`; over a WebSocket, `next.url`).
    pub next: Option<String>,
}

/// What a player's stream of numbered messages looked like.
#[derive(Debug, Clone, Default)]
pub struct StreamLog {
    /// Numbered messages delivered (each `Msg` once).
    pub delivered: u64,
    /// Messages without `Msg` (the hello replies, errors outside the seat's stream).
    pub unnumbered: u64,
    /// Gaps outside a `resync`: (the highest `Msg` seen, the `Msg` that came next).
    pub gaps: Vec<(u64, u64)>,
    /// A `Msg` that arrived again (at or below the highest seen, not filling a gap).
    pub duplicates: Vec<u64>,
    /// A `Msg` that arrived after a higher one, filling a gap (reordering).
    pub reordered: Vec<u64>,
    /// `resync` messages (the server could not replay everything).
    pub resyncs: Vec<u64>,
    /// Anything else against GGS 1.1 (a numbered reply naming another version, ...).
    pub violations: Vec<String>,
    /// Resumes done.
    pub resumes: u64,
    /// Commands sent again after a resume.
    pub resent: u64,
    /// Acknowledgements sent alone.
    pub acks_alone: u64,
}

impl StreamLog {
    /// Whether the stream had no gap, duplicate, reordering, resync or violation.
    pub fn is_clean(&self) -> bool {
        self.gaps.is_empty()
            && self.duplicates.is_empty()
            && self.reordered.is_empty()
            && self.resyncs.is_empty()
            && self.violations.is_empty()
    }
}

/// A command sent and not yet known applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unapplied {
    /// Its `Seq`.
    pub seq: u64,
    /// The command.
    pub command: String,
    /// Its arguments.
    pub args: String,
}

/// A GGS 1.1 player over any reply framing (GGS 1.0's over TCP, WebSocket JSON).
pub struct Resumable<F: ReplyFraming> {
    conn: Option<Conn<F>>,
    name: String,
    table: String,
    token: String,
    /// The highest `Msg` delivered.
    highest: u64,
    /// The highest `Ack` sent.
    acked: u64,
    /// When messages arrived unacknowledged while nothing was sent, the first of them.
    unacked_since: Option<Instant>,
    /// Gaps not yet filled (`Msg` numbers skipped), to tell reordering from duplicates.
    missing: BTreeSet<u64>,
    /// The last `Seq` given to a command.
    last_seq: u64,
    /// The highest `Seq` known applied (its effect was seen).
    applied: u64,
    unapplied: VecDeque<Unapplied>,
    log: StreamLog,
}

fn protocol<T>(why: String) -> Result<T, SessionError> {
    Err(SessionError::Protocol(why))
}

impl<F: ReplyFraming> Resumable<F> {
    /// Takes a seat on `conn`: `hello` offering 1.0 and 1.1 (creating a table with `None`),
    /// and expects the hello reply to name 1.1.
    pub fn join(mut conn: Conn<F>, table: Option<&str>) -> Result<(Self, Hello), SessionError> {
        let meta = RequestMeta {
            versions: VERSIONS_1_1,
            ..RequestMeta::default()
        };
        conn.try_request_meta(Request::Hello { table, token: None }, &meta)
            .map_err(|e| SessionError::Disconnected(RecvError::Io(e)))?;
        let (hello, meta) = read_hello(&mut conn)?;
        let name = conn.name().to_string();
        if meta.seq != Some(0) {
            return protocol(format!(
                "{name}: the hello reply of a new 1.1 seat carries Seq {:?}, not 0",
                meta.seq
            ));
        }
        let session = Resumable {
            conn: Some(conn),
            name,
            table: hello.table.clone(),
            token: hello.token.clone(),
            highest: 0,
            acked: 0,
            unacked_since: None,
            missing: BTreeSet::new(),
            last_seq: 0,
            applied: 0,
            unapplied: VecDeque::new(),
            log: StreamLog {
                unnumbered: 1,
                ..StreamLog::default()
            },
        };
        Ok((session, hello))
    }

    /// Gives the player a name used in messages.
    pub fn named(mut self, name: &str) -> Self {
        self.name = name.to_string();
        self
    }

    /// The player's name in messages.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The table's id.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// The seat's resume token.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The highest `Msg` delivered.
    pub fn highest(&self) -> u64 {
        self.highest
    }

    /// The `Seq` of the last command sent.
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// The commands sent and not yet known applied, oldest first.
    pub fn unapplied(&self) -> impl Iterator<Item = &Unapplied> {
        self.unapplied.iter()
    }

    /// How many commands were sent and are not yet known applied.
    pub fn unapplied_len(&self) -> usize {
        self.unapplied.len()
    }

    /// What the stream looked like so far.
    pub fn log(&self) -> &StreamLog {
        &self.log
    }

    /// Whether there is a connection (as far as the player knows).
    pub fn is_connected(&self) -> bool {
        self.conn.is_some()
    }

    /// Drops the connection (the server sees it close).
    pub fn disconnect(&mut self) {
        if let Some(conn) = self.conn.take() {
            conn.close();
        }
    }

    fn conn(&mut self) -> Result<&mut Conn<F>, SessionError> {
        self.conn
            .as_mut()
            .ok_or(SessionError::Disconnected(RecvError::Closed))
    }

    /// Sends `message` with `Ack` (and `seq`); a failed write drops the connection.
    fn send(&mut self, message: Request<'_>, seq: Option<u64>) -> Result<(), SessionError> {
        let meta = RequestMeta {
            versions: &[],
            ack: Some(self.highest),
            seq,
        };
        let conn = self.conn()?;
        if let Err(e) = conn.try_request_meta(message, &meta) {
            self.conn = None;
            return Err(SessionError::Disconnected(RecvError::Io(e)));
        }
        self.acked = self.highest;
        self.unacked_since = None;
        Ok(())
    }

    /// Sends a game command numbered with the next `Seq` (and `Ack`), and keeps it until it is
    /// known applied. Returns its `Seq`. Without a connection the command is kept all the
    /// same and goes with the next [`Resumable::resume`].
    pub fn command(&mut self, command: &str, args: &str) -> (u64, Result<(), SessionError>) {
        self.last_seq += 1;
        let seq = self.last_seq;
        self.unapplied.push_back(Unapplied {
            seq,
            command: command.to_string(),
            args: args.to_string(),
        });
        let sent = self.send(Request::Command(command, args), Some(seq));
        (seq, sent)
    }

    /// Sends a message that is not a game command (e.g. `define`) with `Ack`.
    pub fn request(&mut self, message: Request<'_>) -> Result<(), SessionError> {
        self.send(message, None)
    }

    /// Says that the commands up to `seq` are applied (their effect was seen): they will not
    /// be resent.
    pub fn applied(&mut self, seq: u64) {
        self.applied = self.applied.max(seq);
        while self.unapplied.front().is_some_and(|c| c.seq <= seq) {
            self.unapplied.pop_front();
        }
    }

    /// Acknowledges alone what arrived, if [`ACK_EVERY`] numbered messages are unacknowledged
    /// or some have been for [`ACK_IDLE`].
    pub fn maintain(&mut self) -> Result<(), SessionError> {
        let due = self.highest >= self.acked + ACK_EVERY
            || self.unacked_since.is_some_and(|t| t.elapsed() >= ACK_IDLE);
        if due && self.conn.is_some() {
            self.send(Request::Ack(self.highest), None)?;
            self.log.acks_alone += 1;
        }
        Ok(())
    }

    /// The next message delivered (each numbered message once: duplicates are dropped and
    /// recorded), waiting at most `timeout`. A closed connection is dropped.
    pub fn recv(&mut self, timeout: Duration) -> Result<Delivered, SessionError> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let conn = self.conn()?;
            let (reply, meta) = match conn.try_recv_meta(left) {
                Ok(r) => r,
                Err(RecvError::Timeout) => return Err(SessionError::Timeout),
                Err(RecvError::Wire(e)) => {
                    self.conn = None;
                    // A reply cut by a dying server is a closed connection, not a bad reply.
                    if e.0.starts_with(CLOSED_MID_REPLY) {
                        return Err(SessionError::Disconnected(RecvError::Wire(e)));
                    }
                    return protocol(format!("{}: {e}", self.name));
                }
                Err(e) => {
                    self.conn = None;
                    return Err(SessionError::Disconnected(e));
                }
            };
            if let Some(delivered) = self.see(reply, &meta) {
                return Ok(delivered);
            }
        }
    }

    /// Records one message; returns it unless it is a duplicate.
    fn see(&mut self, reply: Reply, meta: &ReplyMeta) -> Option<Delivered> {
        if meta.version.as_deref().is_some_and(|v| v != "1.1") {
            self.log.violations.push(format!(
                "{reply} names GGS-Version {:?} on a 1.1 session",
                meta.version
            ));
        }
        let Some(msg) = meta.msg else {
            self.log.unnumbered += 1;
            let next = meta
                .other
                .iter()
                .find(|(name, _)| name == "Next-Host")
                .map(|(_, value)| value.clone());
            return Some(Delivered {
                reply,
                msg: None,
                next,
            });
        };
        if msg <= self.highest {
            if self.missing.remove(&msg) {
                self.log.reordered.push(msg);
            } else {
                self.log.duplicates.push(msg);
            }
            return None;
        }
        if msg > self.highest + 1 {
            if reply.command == "resync" {
                self.log.resyncs.push(msg);
            } else {
                self.log.gaps.push((self.highest, msg));
                self.missing.extend(self.highest + 1..msg);
            }
        }
        self.highest = msg;
        self.log.delivered += 1;
        if self.unacked_since.is_none() {
            self.unacked_since = Some(Instant::now());
        }
        Some(Delivered {
            reply,
            msg: Some(msg),
            next: None,
        })
    }

    /// Takes the seat back on a new connection: `hello` with the token, the versions and
    /// `Ack` (the highest `Msg` delivered). Reads the hello reply's `Seq: k`, forgets the
    /// commands up to `k` (applied) and resends the others in order. Returns `k`.
    pub fn resume(&mut self, mut conn: Conn<F>) -> Result<u64, SessionError> {
        self.conn = None;
        let meta = RequestMeta {
            versions: VERSIONS_1_1,
            ack: Some(self.highest),
            seq: None,
        };
        let hello = Request::Hello {
            table: Some(&self.table),
            token: Some(&self.token),
        };
        conn.try_request_meta(hello, &meta)
            .map_err(|e| SessionError::Disconnected(RecvError::Io(e)))?;
        let (hello, meta) = read_hello(&mut conn)?;
        if hello.token != self.token || hello.table != self.table {
            return protocol(format!(
                "{}: resuming {} at {} got the hello of {} at {}",
                self.name, self.token, self.table, hello.token, hello.table
            ));
        }
        let Some(k) = meta.seq else {
            return protocol(format!(
                "{}: the hello reply of a resumed 1.1 seat carries no Seq ({meta:?})",
                self.name
            ));
        };
        if k > self.last_seq {
            return protocol(format!(
                "{}: the table applied Seq {k} but the last command sent was {}",
                self.name, self.last_seq
            ));
        }
        if k < self.applied {
            return protocol(format!(
                "{}: the hello reply says Seq {k} is the highest applied, but the effect of \
                 command {} was already seen (a committed command was lost)",
                self.name, self.applied
            ));
        }
        self.log.unnumbered += 1;
        self.log.resumes += 1;
        self.acked = self.highest;
        self.unacked_since = None;
        self.applied(k);
        self.conn = Some(conn);
        let resend: Vec<Unapplied> = self.unapplied.iter().cloned().collect();
        for c in &resend {
            self.send(Request::Command(&c.command, &c.args), Some(c.seq))?;
            self.log.resent += 1;
        }
        Ok(k)
    }
}

/// Reads the hello reply that must come next on a fresh connection, checking it names 1.1.
fn read_hello<F: ReplyFraming>(conn: &mut Conn<F>) -> Result<(Hello, ReplyMeta), SessionError> {
    let name = conn.name().to_string();
    let (reply, meta) = match conn.try_recv_meta(crate::client::RECV_TIMEOUT) {
        Ok(r) => r,
        Err(RecvError::Wire(e)) if !e.0.starts_with(CLOSED_MID_REPLY) => {
            return protocol(format!("{name}: {e}"))
        }
        Err(e) => return Err(SessionError::Disconnected(e)),
    };
    if reply.command == "next" {
        let to = meta.other.iter().find(|(n, _)| n == "Next-Host");
        if let Some((_, to)) = to {
            return Err(SessionError::Next(to.clone()));
        }
    }
    if reply.command != "hello" {
        return protocol(format!("{name}: expected the hello reply, got {reply}"));
    }
    if meta.version.as_deref() != Some("1.1") {
        return protocol(format!(
            "{name}: the hello reply names version {:?}, not 1.1",
            meta.version
        ));
    }
    if meta.msg.is_some() {
        return protocol(format!("{name}: the hello reply is numbered ({meta:?})"));
    }
    let hello =
        Hello::parse(&reply.body).map_err(|e| SessionError::Protocol(format!("{name}: {e}")))?;
    Ok((hello, meta))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ggs10::Ggs10;

    fn player() -> Resumable<Ggs10> {
        Resumable {
            conn: None,
            name: "p".into(),
            table: String::new(),
            token: String::new(),
            highest: 0,
            acked: 0,
            unacked_since: None,
            missing: BTreeSet::new(),
            last_seq: 0,
            applied: 0,
            unapplied: VecDeque::new(),
            log: StreamLog::default(),
        }
    }

    fn numbered(n: u64) -> ReplyMeta {
        ReplyMeta {
            version: Some("1.1".into()),
            msg: Some(n),
            ..ReplyMeta::default()
        }
    }

    fn reply(command: &str) -> Reply {
        Reply {
            command: command.into(),
            body: String::new(),
        }
    }

    #[test]
    fn delivers_each_message_once_and_records_what_is_wrong() {
        let mut p = player();
        let seen: Vec<bool> = [1, 2, 2, 5, 3, 6, 1]
            .iter()
            .map(|&n| p.see(reply("m"), &numbered(n)).is_some())
            .collect();
        assert_eq!(seen, [true, true, false, true, false, true, false]);
        let log = p.log();
        assert_eq!(log.delivered, 4);
        assert_eq!(log.gaps, [(2, 5)]);
        assert_eq!(log.duplicates, [2, 1]);
        assert_eq!(log.reordered, [3]);
        assert!(!log.is_clean());
        assert_eq!(p.highest(), 6);
    }

    #[test]
    fn a_resync_is_not_a_gap_and_unnumbered_messages_pass() {
        let mut p = player();
        assert!(p.see(reply("m"), &numbered(1)).is_some());
        assert!(p.see(reply("resync"), &numbered(9)).is_some());
        assert!(p.see(reply("error"), &ReplyMeta::default()).is_some());
        let log = p.log();
        assert_eq!((log.gaps.len(), log.resyncs.as_slice()), (0, &[9][..]));
        assert_eq!(log.unnumbered, 1);
        let v10 = ReplyMeta {
            version: Some("1.0".into()),
            msg: Some(10),
            ..ReplyMeta::default()
        };
        p.see(reply("m"), &v10);
        assert_eq!(p.log().violations.len(), 1);
    }

    #[test]
    fn forgets_applied_commands_and_keeps_the_others_in_order() {
        let mut p = player();
        for c in ["a", "b", "c"] {
            let (_, sent) = p.command(c, "");
            assert!(matches!(sent, Err(SessionError::Disconnected(_))));
        }
        p.applied(2);
        let left: Vec<(u64, &str)> = p.unapplied().map(|c| (c.seq, c.command.as_str())).collect();
        assert_eq!(left, [(3, "c")]);
    }

    #[test]
    fn encodes_the_1_1_fields() {
        let meta = RequestMeta {
            versions: VERSIONS_1_1,
            ack: Some(4),
            seq: Some(7),
        };
        let tcp = Ggs10::encode_meta(&Request::Command("inc", "x"), &meta);
        assert_eq!(
            String::from_utf8(tcp).unwrap(),
            "Game-Command: inc\nGGS-Versions: 1.0 1.1\nAck: 4\nSeq: 7\nContent-Length: 1\n\nx"
        );
        let ack = Ggs10::encode_meta(&Request::Ack(9), &RequestMeta::default());
        assert_eq!(
            String::from_utf8(ack).unwrap(),
            "Server-Command: ack\nAck: 9\nContent-Length: 0\n\n"
        );
        let ws = crate::ws::Ws::encode_meta(&Request::Command("inc", "x"), &meta);
        let json: serde_json::Value = serde_json::from_slice(&ws).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"type": "command", "command": "inc", "args": "x",
                "versions": ["1.0", "1.1"], "ack": 4, "seq": 7})
        );
        let ws = crate::ws::Ws::encode_meta(&Request::Ack(9), &RequestMeta::default());
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&ws).unwrap(),
            serde_json::json!({"type": "ack", "ack": 9})
        );
        // A 1.0 message is what it always was.
        assert_eq!(
            Ggs10::encode(&Request::Hello {
                table: Some("t"),
                token: Some("k")
            }),
            b"Server-Command: hello\nToken: k\nContent-Length: 1\n\nt"
        );
    }
}
