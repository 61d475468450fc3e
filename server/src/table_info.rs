//! What the lobby can see of a live table without asking its actor: game, players, times.
//!
//! The table actor updates its [`TableInfo`] as events run; `GET /api/tables` reads it through
//! the coordinator. Reading never waits on a table.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::games;

/// What [`TableInfo::summary`] reports as the game of a table whose script is not built in.
pub const CUSTOM_GAME: &str = "custom";

/// Live facts about one table, shared by its actor (writer) and the lobby (readers).
#[derive(Debug)]
pub struct TableInfo {
    created_ms: u64,
    /// `None` while the table has no script.
    game: Mutex<Option<&'static str>>,
    seats: AtomicUsize,
    connected: AtomicUsize,
    /// 0 until the first event.
    last_event_ms: AtomicU64,
}

/// One row of `GET /api/tables`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableSummary {
    /// The table id.
    pub id: String,
    /// The built-in game's name, [`CUSTOM_GAME`], or `None` while the table has no script.
    pub game: Option<&'static str>,
    /// Seated players connected now.
    pub players: usize,
    /// Seats, including those held for players who dropped.
    pub seats: usize,
    /// When the table was created, in milliseconds since the Unix epoch.
    pub created_ms: u64,
    /// When an event last ran, in milliseconds since the Unix epoch (`None`: none yet).
    pub last_event_ms: Option<u64>,
}

impl TableInfo {
    /// The info of a table created at `created_ms` with `script` (if it has one).
    pub fn new(created_ms: u64, script: Option<&str>) -> Self {
        TableInfo {
            created_ms,
            game: Mutex::new(script.map(game_of)),
            seats: AtomicUsize::new(0),
            connected: AtomicUsize::new(0),
            last_event_ms: AtomicU64::new(0),
        }
    }

    /// The table now runs `source`.
    pub fn defined(&self, source: &str) {
        *self.game.lock().unwrap_or_else(|e| e.into_inner()) = Some(game_of(source));
    }

    /// An event ran now.
    pub fn event(&self) {
        self.last_event_ms.store(now_ms(), Ordering::Relaxed);
    }

    /// The table has `seats` seats, `connected` of them with their player connected.
    pub fn seats(&self, seats: usize, connected: usize) {
        self.seats.store(seats, Ordering::Relaxed);
        self.connected.store(connected, Ordering::Relaxed);
    }

    /// A snapshot for the lobby.
    pub fn summary(&self, id: &str) -> TableSummary {
        let last = self.last_event_ms.load(Ordering::Relaxed);
        TableSummary {
            id: id.to_string(),
            game: *self.game.lock().unwrap_or_else(|e| e.into_inner()),
            players: self.connected.load(Ordering::Relaxed),
            seats: self.seats.load(Ordering::Relaxed),
            created_ms: self.created_ms,
            last_event_ms: (last != 0).then_some(last),
        }
    }
}

fn game_of(source: &str) -> &'static str {
    games::name_of(source).unwrap_or(CUSTOM_GAME)
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_the_game_players_and_times() {
        let info = TableInfo::new(1_000, None);
        let s = info.summary("t");
        assert_eq!((s.game, s.players, s.seats), (None, 0, 0));
        assert_eq!((s.created_ms, s.last_event_ms), (1_000, None));
        info.defined(games::find("chat").unwrap().source);
        info.seats(3, 2);
        info.event();
        let s = info.summary("t");
        assert_eq!((s.game, s.players, s.seats), (Some("chat"), 2, 3));
        assert!(s.last_event_ms.is_some_and(|t| t > 1_000));
        info.defined("function playerCommand() {}");
        assert_eq!(info.summary("t").game, Some(CUSTOM_GAME));
    }
}
