//! Who sits at a table: connected seats, seats held for the grace period, `who`, `GGS.players`.
//!
//! Pure data: times come in as arguments, so the rules are tested without a runtime.

use std::sync::Arc;

use tokio::time::Instant;

use crate::outbox::Outbox;

/// Characters of a player id `who` shows.
pub const WHO_ID_CHARS: usize = 8;

/// A seat: connected (`outbox` set) or held for a player who dropped (`away_until` set).
struct Seat {
    player: Arc<str>,
    outbox: Option<Outbox>,
    /// The connection sitting here, so a late leave of an older connection is ignored.
    conn: u64,
    away_until: Option<Instant>,
}

/// The seats of one table, in the order players sat down.
#[derive(Default)]
pub(super) struct Seats {
    seats: Vec<Seat>,
    /// `GGS.players`, built once per change of the seats.
    players: Option<Arc<[String]>>,
}

impl Seats {
    /// Seats held for `players` (a table loaded from the store) until `until`.
    pub(super) fn held(players: Vec<String>, until: Instant) -> Self {
        let seats = players
            .into_iter()
            .map(|p| Seat {
                player: Arc::from(p),
                outbox: None,
                conn: 0,
                away_until: Some(until),
            })
            .collect();
        Seats {
            seats,
            players: None,
        }
    }

    /// Gives a seat back to connection `conn`: the seat of `token` (a resume token is a player
    /// id) or, failing that, the seat of `player` (a connection coming back to a table it
    /// left). Returns the seat's player, or `None` when there is no such seat.
    pub(super) fn retake(
        &mut self,
        token: Option<&str>,
        player: &str,
        outbox: &Outbox,
        conn: u64,
    ) -> Option<Arc<str>> {
        let i = token
            .and_then(|t| self.index(t))
            .or_else(|| self.index(player))?;
        let seat = &mut self.seats[i];
        seat.outbox = Some(outbox.clone());
        seat.conn = conn;
        seat.away_until = None;
        Some(seat.player.clone())
    }

    /// A new seat for `player`, connected through `outbox`.
    pub(super) fn sit(&mut self, player: Arc<str>, outbox: Outbox, conn: u64) {
        self.players = None;
        self.seats.push(Seat {
            player,
            outbox: Some(outbox),
            conn,
            away_until: None,
        });
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
    /// characters of its player id (never a whole one: ids are resume tokens), noting the
    /// asker (`you`), the table's `host` and players who are `away`.
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

    fn index(&self, player: &str) -> Option<usize> {
        self.seats.iter().position(|s| &*s.player == player)
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

    #[test]
    fn a_token_takes_back_its_held_seat() {
        let now = Instant::now();
        let mut seats = Seats::held(vec![ALICE.into(), BOB.into()], now);
        assert_eq!(
            seats.outbox_of(ALICE).map(|_| ()),
            None,
            "held, not connected"
        );
        let (outbox, mut rx) = queue();
        // A new connection has a fresh id of its own; its token names the held seat.
        let back = seats.retake(Some(BOB), "fresh-id", &outbox, 7);
        assert_eq!(back.as_deref(), Some(BOB));
        assert!(reaches(&seats, BOB, &mut rx));
        assert_eq!(seats.len(), 2, "no new seat");
        assert_eq!(seats.next_expiry(), Some(now), "Alice's seat is still held");
        let (other, _) = queue();
        assert_eq!(seats.retake(Some("nobody"), "fresh-2", &other, 8), None);
    }

    #[test]
    fn a_returning_connection_retakes_its_own_seat() {
        let now = Instant::now();
        let mut seats = Seats::default();
        let (first, _) = queue();
        seats.sit(Arc::from(ALICE), first, 1);
        seats.leave(ALICE, 1, now + Duration::from_secs(30));
        assert!(seats.outbox_of(ALICE).is_none());
        let (again, mut rx) = queue();
        // No token, but the connection's own id has a seat here.
        let back = seats.retake(None, ALICE, &again, 2);
        assert_eq!(back.as_deref(), Some(ALICE));
        assert!(reaches(&seats, ALICE, &mut rx));
        assert_eq!(seats.next_expiry(), None, "no longer held");
    }

    #[test]
    fn a_leave_of_an_older_connection_is_ignored() {
        let now = Instant::now();
        let mut seats = Seats::default();
        let (first, _) = queue();
        seats.sit(Arc::from(ALICE), first, 1);
        let (second, mut rx) = queue();
        // The player came back on connection 2 before connection 1's leave arrived.
        seats.retake(Some(ALICE), "fresh-id", &second, 2);
        seats.leave(ALICE, 1, now);
        assert!(reaches(&seats, ALICE, &mut rx), "still connected");
        assert_eq!(seats.next_expiry(), None);
        seats.leave(ALICE, 2, now);
        assert!(seats.outbox_of(ALICE).is_none());
        assert_eq!(seats.next_expiry(), Some(now));
    }

    #[test]
    fn held_seats_expire_in_seating_order_once_due() {
        let now = Instant::now();
        let mut seats = Seats::default();
        for (i, player) in [ALICE, BOB, CAROL].into_iter().enumerate() {
            seats.sit(Arc::from(player), queue().0, i as u64);
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
    fn who_shows_short_ids_and_notes() {
        let now = Instant::now();
        let mut seats = Seats::default();
        seats.sit(Arc::from(ALICE), queue().0, 1);
        seats.sit(Arc::from(BOB), queue().0, 2);
        seats.sit(Arc::from(CAROL), queue().0, 3);
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
