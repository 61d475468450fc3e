//! Who sits at a table: connected seats, seats held for the grace period, `who`, `GGS.players`,
//! and which resume token takes each seat back.
//!
//! A seat has its player's public id (what `GGS.players`, the hooks and `who` show) and the
//! SHA-256 of its resume token (a secret only its player has): [`Seats::claim`] gives a seat
//! back to the connection that presents the token, never to one that presents the public id.
//! A seat loaded from a data directory of the previous version ([`SeatToken::Legacy`]) is
//! taken back by its player id, once: it then takes the connection's own token.
//!
//! A seat whose connection speaks GGS 1.1 has a [`Stream`]: every message the table sends it
//! goes through [`Seats::post`] (or its siblings), which numbers it and keeps it until it is
//! acknowledged, whether the player is connected or away; a 1.0 seat's messages reach it only
//! while it is connected, as in 2011.
//!
//! Pure data: times come in as arguments, so the rules are tested without a runtime.

use std::collections::HashMap;
use std::sync::Arc;

use ggs_js::PlayerIdentity;
use tokio::time::Instant;

use super::stream::{Bounds, Log, Resume, Stream};
use crate::auth::Identity;
use crate::config::{DEFAULT_OUTBOX_BYTES, DEFAULT_OUTBOX_MESSAGES};
use crate::outbox::Outbox;
use crate::protocol::message::{ServerMessage, Version};
use crate::protocol::token::{Token, TokenHash};
use crate::store::{HeldSeat, SeatToken, Txn};

/// Characters of a player id `who` shows.
pub const WHO_ID_CHARS: usize = 8;

/// The seat a connection has after its `hello`: the player's public id, and the resume token
/// that takes the seat back (the first field of the `hello` reply).
#[derive(Debug, Clone)]
pub struct Seated {
    /// The public player id.
    pub player: Arc<str>,
    /// The seat's resume token.
    pub token: Token,
}

/// A `hello` presented a resume token that holds no seat at the table (a wrong token, a
/// public player id, a seat that expired): nothing changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("that token holds no seat at this table (it may have expired); say hello without it to join anew")]
pub struct BadToken;

impl BadToken {
    /// The stable code sent to clients.
    pub fn code(&self) -> &'static str {
        "bad_token"
    }
}

/// Why a `hello` got no seat at a table: nothing changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JoinRefused {
    /// The token it presented holds no seat.
    #[error(transparent)]
    BadToken(#[from] BadToken),
    /// The seat it would take back belongs to another account (the auth hook's user id).
    #[error("that seat belongs to another account")]
    NotYours,
    /// The table was handed to another node while the `hello` waited: it is asked there.
    #[error("the table moved to node {0}")]
    Moved(String),
}

impl JoinRefused {
    /// The stable code sent to clients.
    pub fn code(&self) -> &'static str {
        match self {
            JoinRefused::BadToken(refused) => refused.code(),
            JoinRefused::NotYours => "unauthorized",
            JoinRefused::Moved(_) => "table_moved",
        }
    }
}

/// What [`Seats::claim`] did.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Claim {
    /// The connection has a seat back: that seat's player, the token that now takes it back,
    /// and whether that token is new to the seat (its record is written again).
    Retaken {
        /// The seat's player.
        player: Arc<str>,
        /// The seat's token now.
        token: Token,
        /// The seat took a new token.
        changed: bool,
    },
    /// No token was presented and the connection has no seat here: it sits down anew.
    New,
}

/// A seat: connected (`outbox` set) or held for a player who dropped (`away_until` set).
struct Seat {
    player: Arc<str>,
    /// The SHA-256 of the token that takes the seat back.
    token: TokenHash,
    /// Loaded from the previous version's data: `token` is the hash of the player id, which
    /// takes the seat back once.
    legacy: bool,
    outbox: Option<Outbox>,
    /// The connection sitting here, so a late leave of an older connection is ignored.
    conn: u64,
    away_until: Option<Instant>,
    /// The seat speaks GGS 1.1: its messages are numbered and kept until acknowledged.
    stream: Option<Stream>,
    /// The seat's connection speaks 1.1: its messages are numbered into `stream`. A seat whose
    /// connection went back to 1.0 keeps its stream (unnumbered meanwhile), so numbers go on
    /// from where they were if it speaks 1.1 again.
    numbering: bool,
}

/// The seats of one table, in the order players sat down.
pub(super) struct Seats {
    seats: Vec<Seat>,
    /// `GGS.players`, built once per change of the seats.
    players: Option<Arc<[String]>>,
    /// What a 1.1 seat keeps for its client.
    bounds: Bounds,
    /// Streams of seats given up, deleted from the store with the next transaction.
    ended: Vec<(Arc<str>, Stream)>,
    /// The table's log of messages kept for its 1.1 seats.
    log: Log,
    /// Who the seated players are, as the auth hook said (anonymous ones are not in it).
    identities: HashMap<Arc<str>, Identity>,
    /// `GGS.playerInfo`'s identities, built once per change of them.
    script_identities: Option<Arc<HashMap<String, PlayerIdentity>>>,
}

impl Default for Seats {
    fn default() -> Self {
        Seats::new(Bounds {
            messages: DEFAULT_OUTBOX_MESSAGES,
            bytes: DEFAULT_OUTBOX_BYTES,
        })
    }
}

impl Seats {
    /// No seats; a 1.1 seat keeps up to `bounds` for its client.
    pub(super) fn new(bounds: Bounds) -> Self {
        Seats {
            seats: Vec::new(),
            players: None,
            bounds,
            ended: Vec::new(),
            log: Log::default(),
            identities: HashMap::new(),
            script_identities: None,
        }
    }

    /// Seats held for `held` (table `table`, loaded from the store) until `until`, with the
    /// table's `log` of kept messages (entry number, JSON).
    pub(super) fn held(
        table: &str,
        held: Vec<HeldSeat>,
        until: Instant,
        bounds: Bounds,
        log: Vec<(u64, Vec<u8>)>,
    ) -> Self {
        let mut seats: Vec<Seat> = held
            .into_iter()
            .map(|seat| {
                let (token, legacy) = match seat.token {
                    SeatToken::Hash(hash) => (hash, false),
                    // The previous version's token was the player id.
                    SeatToken::Legacy => (Token::from_text(&seat.player).hash().clone(), true),
                };
                Seat {
                    player: Arc::from(seat.player),
                    token,
                    legacy,
                    outbox: None,
                    conn: 0,
                    away_until: Some(until),
                    numbering: seat.stream.is_some(),
                    stream: seat.stream.map(Stream::loaded),
                }
            })
            .collect();
        let mut streams: HashMap<&str, &mut Stream> = seats
            .iter_mut()
            .filter_map(|s| Some((&*s.player, s.stream.as_mut()?)))
            .collect();
        let log = Log::loaded(table, log, &mut streams);
        Seats {
            seats,
            log,
            ..Seats::new(bounds)
        }
    }

    /// Gives a seat back to connection `conn`, whose public id is `player` and whose own
    /// token is `own`. With a presented token `resume`: the seat that token takes back, or
    /// [`BadToken`] (and nothing changes). Without: the seat of `player` (a connection coming
    /// back to a table it left), or [`Claim::New`]. A seat taken back by its legacy id, or by
    /// the connection's id, takes the connection's own token, so the token the `hello` reply
    /// hands out always takes the seat back.
    pub(super) fn claim(
        &mut self,
        resume: Option<&Token>,
        player: &str,
        own: &Token,
        outbox: &Outbox,
        conn: u64,
    ) -> Result<Claim, BadToken> {
        let (i, presented) = match resume {
            Some(token) => (
                self.index_of_token(token.hash()).ok_or(BadToken)?,
                Some(token),
            ),
            None => match self.index(player) {
                Some(i) => (i, None),
                None => return Ok(Claim::New),
            },
        };
        let seat = &mut self.seats[i];
        let token = match presented {
            Some(token) if !seat.legacy => token.clone(),
            _ => own.clone(),
        };
        let changed = !seat.token.matches(token.hash());
        seat.token = token.hash().clone();
        seat.legacy = false;
        seat.outbox = Some(outbox.clone());
        seat.conn = conn;
        seat.away_until = None;
        Ok(Claim::Retaken {
            player: seat.player.clone(),
            token,
            changed,
        })
    }

    /// A new seat for `player`, taken back by `token`, connected through `outbox` and speaking
    /// `version`.
    pub(super) fn sit(
        &mut self,
        player: Arc<str>,
        token: &Token,
        outbox: Outbox,
        conn: u64,
        version: Version,
    ) {
        self.players = None;
        self.seats.push(Seat {
            player,
            token: token.hash().clone(),
            legacy: false,
            outbox: Some(outbox),
            conn,
            away_until: None,
            stream: version.exactly_once().then(Stream::new),
            numbering: version.exactly_once(),
        });
    }

    /// The connection of `player`'s seat, taken back, speaks `version`, and has received every
    /// message of the seat up to `ack`: for 1.1, what it is missing (a seat new to 1.1 starts
    /// its stream); for 1.0, `None` (a stream the seat had is kept, unnumbered).
    pub(super) fn resume(&mut self, player: &str, version: Version, ack: u64) -> Option<Resume> {
        let i = self.index(player)?;
        let seat = &mut self.seats[i];
        seat.numbering = version.exactly_once();
        if !seat.numbering {
            return None;
        }
        let stream = seat.stream.get_or_insert_with(Stream::new);
        Some(stream.resume(ack, &mut self.log))
    }

    /// The connection `conn` of `player` now speaks `version`: a 1.1 seat numbers its messages
    /// (starting a stream, or going on with the one it had), a 1.0 one does not.
    pub(super) fn set_version(&mut self, player: &str, conn: u64, version: Version) {
        let Some(i) = self.index(player) else { return };
        if self.seats[i].conn != conn {
            return;
        }
        let seat = &mut self.seats[i];
        seat.numbering = version.exactly_once();
        if seat.numbering {
            seat.stream.get_or_insert_with(Stream::new);
        }
    }

    /// The highest command `Seq` applied for `player`, if their seat speaks 1.1.
    pub(super) fn seq(&self, player: &str) -> Option<u64> {
        let i = self.index(player)?;
        let seat = &self.seats[i];
        seat.stream
            .as_ref()
            .filter(|_| seat.numbering)
            .map(Stream::seq)
    }

    /// Whether `player`'s command numbered `seq` may run (not a resent one that ran).
    pub(super) fn admit(&mut self, player: &str, seq: u64) -> bool {
        match self.index(player) {
            Some(i) => self.seats[i].stream.as_mut().is_none_or(|s| s.admit(seq)),
            None => true,
        }
    }

    /// `player`'s command numbered `seq` has run (recorded with its event).
    pub(super) fn applied(&mut self, player: &str, seq: u64) {
        if let Some(i) = self.index(player) {
            let seat = &mut self.seats[i];
            if let Some(stream) = &mut seat.stream {
                stream.applied(&seat.player, seq, &mut self.log);
            }
        }
    }

    /// `player` has received every message of their seat up to `n`.
    pub(super) fn ack(&mut self, player: &str, n: u64) {
        if let Some(i) = self.index(player) {
            if let Some(stream) = &mut self.seats[i].stream {
                stream.ack(n, &mut self.log);
            }
        }
    }

    /// A message from the table to `player`: numbered and kept if their seat speaks 1.1;
    /// where to deliver it now, if they are connected.
    pub(super) fn post(
        &mut self,
        player: &str,
        message: ServerMessage,
    ) -> Option<(Outbox, ServerMessage)> {
        let i = self.index(player)?;
        self.post_at(i, message)
    }

    /// A message from the table to every seated player (see [`Seats::post`]).
    pub(super) fn post_all(&mut self, message: &ServerMessage) -> Vec<(Outbox, ServerMessage)> {
        (0..self.seats.len())
            .filter_map(|i| self.post_at(i, message.clone()))
            .collect()
    }

    /// A message for the connection of `outbox`: numbered and kept if it sits in a 1.1 seat
    /// here, else as it is.
    pub(super) fn post_outbox(
        &mut self,
        outbox: &Outbox,
        message: ServerMessage,
    ) -> (Outbox, ServerMessage) {
        let seat = self
            .seats
            .iter()
            .position(|s| s.outbox.as_ref().is_some_and(|o| o.same(outbox)));
        match seat.and_then(|i| self.post_at(i, message.clone())) {
            Some(routed) => routed,
            None => (outbox.clone(), message),
        }
    }

    fn post_at(&mut self, i: usize, message: ServerMessage) -> Option<(Outbox, ServerMessage)> {
        let bounds = self.bounds;
        let seat = &mut self.seats[i];
        let message = match &mut seat.stream {
            Some(stream) if seat.numbering => {
                stream.number(&seat.player, message, bounds, &mut self.log)
            }
            _ => message,
        };
        seat.outbox.clone().map(|outbox| (outbox, message))
    }

    /// Adds what the seats' streams changed since the last stage to `txn`: the current
    /// event's log entry, the entries no longer needed, the counters (see `stream.rs`), and
    /// the streams of seats given up.
    pub(super) fn stage(&mut self, table: &str, txn: &mut Txn) {
        for (player, stream) in self.ended.drain(..) {
            stream.end(table, &player, &mut self.log, txn);
        }
        let streams = self.seats.iter_mut();
        let streams = streams.filter_map(|s| Some((&*s.player, s.stream.as_mut()?)));
        self.log.stage(table, txn, streams);
    }

    fn end_stream(&mut self, i: usize) {
        if let Some(stream) = self.seats[i].stream.take() {
            self.ended.push((self.seats[i].player.clone(), stream));
        }
    }

    /// Connection `conn` of `player` closed: the seat is held until `until`. A leave of an
    /// older connection (the seat has been taken back since) changes nothing.
    pub(super) fn leave(&mut self, player: &str, conn: u64, until: Instant) {
        if let Some(seat) = self.seats.iter_mut().find(|s| &*s.player == player) {
            if seat.conn == conn && seat.outbox.is_some() {
                seat.outbox = None;
                seat.away_until = Some(until);
            }
        }
    }

    /// Connection `conn` took back the seat of `player`: any other seat it sits in here is held
    /// until `until`, as after a drop (a connection is one player).
    pub(super) fn hold_others(&mut self, conn: u64, player: &str, until: Instant) {
        for seat in &mut self.seats {
            if seat.conn == conn && seat.outbox.is_some() && &*seat.player != player {
                seat.outbox = None;
                seat.away_until = Some(until);
            }
        }
    }

    /// When the next held seat expires.
    pub(super) fn next_expiry(&self) -> Option<Instant> {
        self.seats.iter().filter_map(|s| s.away_until).min()
    }

    /// Frees the first seat (in seating order) whose hold has run out by `now`, and returns
    /// its player. One at a time: each leave is its own event.
    pub(super) fn expire(&mut self, now: Instant) -> Option<Arc<str>> {
        let i = self
            .seats
            .iter()
            .position(|s| s.away_until.is_some_and(|t| t <= now))?;
        self.players = None;
        self.end_stream(i);
        Some(self.seats.remove(i).player)
    }

    /// The queue of `player`, if they are seated and connected.
    pub(super) fn outbox_of(&self, player: &str) -> Option<&Outbox> {
        self.index(player)
            .and_then(|i| self.seats[i].outbox.as_ref())
    }

    /// The queues of the connected players, in seating order.
    pub(super) fn connected(&self) -> impl Iterator<Item = &Outbox> {
        self.seats.iter().filter_map(|s| s.outbox.as_ref())
    }

    /// Seats, connected or held.
    pub(super) fn len(&self) -> usize {
        self.seats.len()
    }

    /// `GGS.players`: every seated player id, connected or held.
    pub(super) fn players(&mut self) -> Arc<[String]> {
        self.players
            .get_or_insert_with(|| self.seats.iter().map(|s| s.player.to_string()).collect())
            .clone()
    }

    /// The body of the `who` reply to `asker`: one line per seat, the first [`WHO_ID_CHARS`]
    /// characters of its public player id, noting the asker (`you`), the table's `host` and
    /// players who are `away`.
    pub(super) fn who(&self, asker: &str, host: Option<&str>) -> String {
        let lines: Vec<String> = self
            .seats
            .iter()
            .map(|seat| {
                let mut notes = Vec::new();
                if &*seat.player == asker {
                    notes.push("you");
                }
                if host == Some(&*seat.player) {
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
        lines.join("\n")
    }

    /// The identities of the held seats' players, as loaded from the store.
    pub(super) fn load_identities(&mut self, identities: Vec<(String, Identity)>) {
        self.script_identities = None;
        self.identities = identities
            .into_iter()
            .map(|(player, identity)| (Arc::from(player), identity))
            .collect();
    }

    /// Whether a `hello` of `identity` may take the seat its claim would give (the seat of
    /// the token `resume`, else of `player`): always without an identity (no auth hook) or
    /// for a seat of an anonymous player; else only with the seat's user id.
    pub(super) fn may_claim(
        &self,
        resume: Option<&Token>,
        player: &str,
        identity: Option<&Identity>,
    ) -> bool {
        let Some(identity) = identity else {
            return true;
        };
        let seat = match resume {
            Some(token) => self.index_of_token(token.hash()),
            None => self.index(player),
        };
        let Some(seat) = seat.map(|i| &self.seats[i].player) else {
            return true;
        };
        !matches!(self.identities.get(seat), Some(held) if held.user_id != identity.user_id)
    }

    /// `player` is `identity` (`None`: no auth hook, nothing changes); true if that is new
    /// (the seat's identity is written again).
    pub(super) fn identify(&mut self, player: &Arc<str>, identity: Option<Identity>) -> bool {
        let Some(identity) = identity else {
            return false;
        };
        if self.identities.get(player) == Some(&identity) {
            return false;
        }
        self.script_identities = None;
        self.identities.insert(player.clone(), identity);
        true
    }

    /// Who `player` is, if the auth hook said.
    pub(super) fn identity(&self, player: &str) -> Option<&Identity> {
        self.identities.get(player)
    }

    /// Forgets who `player` was (their seat was freed), and says who that was.
    pub(super) fn forget(&mut self, player: &str) -> Option<Identity> {
        let identity = self.identities.remove(player);
        if identity.is_some() {
            self.script_identities = None;
        }
        identity
    }

    /// `GGS.playerInfo`'s identities, by player id.
    pub(super) fn script_identities(&mut self) -> Arc<HashMap<String, PlayerIdentity>> {
        let identities = &self.identities;
        self.script_identities
            .get_or_insert_with(|| {
                let script = identities.iter().map(|(player, identity)| {
                    let identity = PlayerIdentity {
                        user_id: identity.user_id.clone(),
                        name: identity.name.clone(),
                    };
                    (player.to_string(), identity)
                });
                Arc::new(script.collect())
            })
            .clone()
    }

    fn index(&self, player: &str) -> Option<usize> {
        self.seats.iter().position(|s| &*s.player == player)
    }

    /// The seat whose token hashes to `hash`. Every seat is compared, each in constant time,
    /// so how long it takes says nothing of which seat (if any) matched.
    fn index_of_token(&self, hash: &TokenHash) -> Option<usize> {
        let mut found = None;
        for (i, seat) in self.seats.iter().enumerate() {
            if seat.token.matches(hash) {
                found = Some(i);
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::sync::mpsc;

    use super::*;
    use crate::protocol::message::ServerMessage;

    const ALICE: &str = "aaaaaaaa-1111-4000-8000-000000000001";
    const BOB: &str = "bbbbbbbb-2222-4000-8000-000000000002";
    const CAROL: &str = "cccccccc-3333-4000-8000-000000000003";

    fn queue() -> (Outbox, mpsc::Receiver<ServerMessage>) {
        let (outbox, rx, _) = Outbox::new(8);
        (outbox, rx)
    }

    /// Whether a message sent through the seat of `player` arrives at `rx`.
    fn reaches(seats: &Seats, player: &str, rx: &mut mpsc::Receiver<ServerMessage>) -> bool {
        let Some(outbox) = seats.outbox_of(player) else {
            return false;
        };
        outbox.deliver(ServerMessage::new("ping", ""));
        rx.try_recv().is_ok()
    }

    /// A seat record of the current format for `player`, and its token.
    fn stored(player: &str) -> (HeldSeat, Token) {
        let token = Token::generate();
        let seat = HeldSeat {
            player: player.into(),
            token: SeatToken::Hash(token.hash().clone()),
            stream: None,
        };
        (seat, token)
    }

    fn retaken(claim: Result<Claim, BadToken>) -> (Arc<str>, Token, bool) {
        match claim {
            Ok(Claim::Retaken {
                player,
                token,
                changed,
            }) => (player, token, changed),
            other => panic!("expected a seat back, got {other:?}"),
        }
    }

    #[test]
    fn a_token_takes_back_its_held_seat_and_a_public_id_does_not() {
        let now = Instant::now();
        let (alice, _) = stored(ALICE);
        let (bob, bob_token) = stored(BOB);
        let mut seats = Seats::held(
            "t",
            vec![alice, bob],
            now,
            Seats::default().bounds,
            Vec::new(),
        );
        assert_eq!(
            seats.outbox_of(ALICE).map(|_| ()),
            None,
            "held, not connected"
        );
        let (outbox, mut rx) = queue();
        let fresh = Token::generate();
        // Bob's public id, as a script or another player sees it, is not his token.
        let by_id = Token::from_text(BOB);
        assert_eq!(
            seats.claim(Some(&by_id), "fresh-id", &fresh, &outbox, 7),
            Err(BadToken)
        );
        assert_eq!(
            seats.claim(Some(&Token::generate()), "fresh-id", &fresh, &outbox, 7),
            Err(BadToken)
        );
        assert!(
            seats.outbox_of(BOB).is_none(),
            "a refused claim changes nothing"
        );
        assert_eq!(seats.next_expiry(), Some(now));
        // A new connection has a fresh id of its own; its token names the held seat.
        let presented = Token::parse(&bob_token.reveal().to_uppercase()).unwrap();
        let claim = seats.claim(Some(&presented), "fresh-id", &fresh, &outbox, 7);
        let (player, token, changed) = retaken(claim);
        assert_eq!((&*player, changed), (BOB, false));
        assert_eq!(token, bob_token, "the seat keeps its token");
        assert!(reaches(&seats, BOB, &mut rx));
        assert_eq!(seats.len(), 2, "no new seat");
        assert_eq!(seats.next_expiry(), Some(now), "Alice's seat is still held");
    }

    #[test]
    fn a_returning_connection_retakes_its_own_seat() {
        let now = Instant::now();
        let mut seats = Seats::default();
        let own = Token::generate();
        let (first, _) = queue();
        seats.sit(Arc::from(ALICE), &own, first, 1, Version::V1_0);
        seats.leave(ALICE, 1, now + Duration::from_secs(30));
        assert!(seats.outbox_of(ALICE).is_none());
        let (again, mut rx) = queue();
        // No token, but the connection's own id has a seat here.
        let (player, token, changed) = retaken(seats.claim(None, ALICE, &own, &again, 2));
        assert_eq!((&*player, changed), (ALICE, false));
        assert_eq!(token, own);
        assert!(reaches(&seats, ALICE, &mut rx));
        assert_eq!(seats.next_expiry(), None, "no longer held");
        assert_eq!(
            seats.claim(None, BOB, &Token::generate(), &again, 3),
            Ok(Claim::New)
        );
    }

    #[test]
    fn a_seat_of_the_previous_format_is_taken_back_by_its_id_once() {
        let now = Instant::now();
        let old = HeldSeat {
            player: ALICE.into(),
            token: SeatToken::Legacy,
            stream: None,
        };
        let mut seats = Seats::held("t", vec![old], now, Seats::default().bounds, Vec::new());
        let (outbox, mut rx) = queue();
        let fresh = Token::generate();
        let by_id = Token::from_text(ALICE);
        let (player, token, changed) =
            retaken(seats.claim(Some(&by_id), "fresh-id", &fresh, &outbox, 1));
        assert_eq!(&*player, ALICE, "the public id stays");
        assert!(changed, "the seat's new token is written");
        assert_eq!(token, fresh, "the seat takes the connection's token");
        assert!(reaches(&seats, ALICE, &mut rx));
        seats.leave(ALICE, 1, now);
        assert_eq!(
            seats.claim(Some(&by_id), "other", &Token::generate(), &outbox, 2),
            Err(BadToken),
            "once: the id no longer takes the seat back"
        );
        let (player, _, changed) =
            retaken(seats.claim(Some(&fresh), "other", &Token::generate(), &outbox, 3));
        assert_eq!((&*player, changed), (ALICE, false));
    }

    #[test]
    fn a_leave_of_an_older_connection_is_ignored() {
        let now = Instant::now();
        let mut seats = Seats::default();
        let own = Token::generate();
        let (first, _) = queue();
        seats.sit(Arc::from(ALICE), &own, first, 1, Version::V1_0);
        let (second, mut rx) = queue();
        // The player came back on connection 2 before connection 1's leave arrived.
        retaken(seats.claim(Some(&own), "fresh-id", &Token::generate(), &second, 2));
        seats.leave(ALICE, 1, now);
        assert!(reaches(&seats, ALICE, &mut rx), "still connected");
        assert_eq!(seats.next_expiry(), None);
        seats.leave(ALICE, 2, now);
        assert!(seats.outbox_of(ALICE).is_none());
        assert_eq!(seats.next_expiry(), Some(now));
    }

    #[test]
    fn a_connection_that_takes_back_a_seat_gives_up_its_other_one() {
        let now = Instant::now();
        let (bob, bob_token) = stored(BOB);
        let mut seats = Seats::held("t", vec![bob], now, Seats::default().bounds, Vec::new());
        let (outbox, mut rx) = queue();
        let own = Token::generate();
        seats.sit(Arc::from(CAROL), &own, outbox.clone(), 5, Version::V1_0);
        retaken(seats.claim(Some(&bob_token), CAROL, &own, &outbox, 5));
        seats.hold_others(5, BOB, now);
        assert!(seats.outbox_of(CAROL).is_none(), "held");
        assert!(reaches(&seats, BOB, &mut rx));
        assert_eq!(seats.connected().count(), 1);
    }

    #[test]
    fn held_seats_expire_in_seating_order_once_due() {
        let now = Instant::now();
        let mut seats = Seats::default();
        for (i, player) in [ALICE, BOB, CAROL].into_iter().enumerate() {
            seats.sit(
                Arc::from(player),
                &Token::generate(),
                queue().0,
                i as u64,
                Version::V1_0,
            );
        }
        let players = seats.players();
        assert_eq!(&*players, &[ALICE, BOB, CAROL]);
        seats.leave(CAROL, 2, now + Duration::from_secs(1));
        seats.leave(ALICE, 0, now + Duration::from_secs(2));
        assert_eq!(seats.next_expiry(), Some(now + Duration::from_secs(1)));
        assert_eq!(seats.expire(now), None, "nothing due yet");
        let later = now + Duration::from_secs(5);
        assert_eq!(seats.expire(later).as_deref(), Some(ALICE));
        assert_eq!(seats.expire(later).as_deref(), Some(CAROL));
        assert_eq!(seats.expire(later), None, "Bob is connected");
        assert_eq!(seats.next_expiry(), None);
        assert_eq!(&*seats.players(), &[BOB], "GGS.players follows the seats");
    }

    #[test]
    fn a_seat_with_an_identity_goes_back_only_to_its_account() {
        let now = Instant::now();
        let (bob, bob_token) = stored(BOB);
        let mut seats = Seats::held("t", vec![bob], now, Seats::default().bounds, Vec::new());
        let bob_user = Identity::new("user-bob", "Bob");
        seats.load_identities(vec![(BOB.to_string(), bob_user.clone())]);
        let mallory = Identity::new("user-mallory", "Mallory");
        assert!(!seats.may_claim(Some(&bob_token), "fresh-id", Some(&mallory)));
        assert!(!seats.may_claim(None, BOB, Some(&mallory)));
        assert!(seats.may_claim(Some(&bob_token), "fresh-id", Some(&bob_user)));
        assert!(
            seats.may_claim(Some(&bob_token), "fresh-id", None),
            "no hook"
        );
        assert!(
            seats.may_claim(Some(&Token::generate()), "x", Some(&mallory)),
            "no such seat: the claim itself refuses it"
        );
        assert_eq!(seats.script_identities()[BOB].name, "Bob");
        let renamed = Identity::new("user-bob", "Bobby");
        let bob_id: Arc<str> = Arc::from(BOB);
        assert!(seats.identify(&bob_id, Some(renamed.clone())));
        assert!(!seats.identify(&bob_id, Some(renamed.clone())), "unchanged");
        assert!(!seats.identify(&bob_id, None), "no hook: unchanged");
        assert_eq!(seats.script_identities()[BOB].name, "Bobby");
        assert_eq!(seats.forget(BOB), Some(renamed));
        assert!(seats.script_identities().is_empty());
        // An anonymous seat may be taken by any account.
        let (carol, carol_token) = stored(CAROL);
        let seats = Seats::held("t", vec![carol], now, Seats::default().bounds, Vec::new());
        assert!(seats.may_claim(Some(&carol_token), "x", Some(&mallory)));
    }

    #[test]
    fn who_shows_short_ids_and_notes() {
        let now = Instant::now();
        let mut seats = Seats::default();
        seats.sit(
            Arc::from(ALICE),
            &Token::generate(),
            queue().0,
            1,
            Version::V1_0,
        );
        seats.sit(
            Arc::from(BOB),
            &Token::generate(),
            queue().0,
            2,
            Version::V1_0,
        );
        seats.sit(
            Arc::from(CAROL),
            &Token::generate(),
            queue().0,
            3,
            Version::V1_0,
        );
        seats.leave(CAROL, 3, now);
        assert_eq!(
            seats.who(BOB, Some(ALICE)),
            "aaaaaaaa (host)\nbbbbbbbb (you)\ncccccccc (away)"
        );
        assert_eq!(
            seats.who(ALICE, Some(ALICE)),
            "aaaaaaaa (you, host)\nbbbbbbbb\ncccccccc (away)"
        );
        assert_eq!(Seats::default().who(ALICE, None), "");
    }
}
