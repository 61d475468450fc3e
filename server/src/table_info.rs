//! What the lobby can see of a live table without asking its actor: game, players, times.
//!
//! The table actor updates its [`TableInfo`] as events run; `GET /api/tables` reads it through
//! the coordinator. Reading never waits on a table.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::games;
use crate::store::{now_ms, GameId, TableRecord};

/// What `GET /api/tables` reports as the game of a table whose script is not in the
/// catalogue.
pub const CUSTOM_GAME: &str = "custom";

/// Live facts about one table, shared by its actor (writer) and the lobby (readers).
#[derive(Debug)]
pub struct TableInfo {
    created_ms: u64,
    /// `None` while the table has no script; the version is `None` for [`CUSTOM_GAME`] and
    /// for tables from before the catalogue.
    game: Mutex<Option<(String, Option<u32>)>>,
    seats: AtomicUsize,
    connected: AtomicUsize,
    /// 0 until the first event.
    last_event_ms: AtomicU64,
    /// The table dropped its VM until its next event.
    hibernated: AtomicBool,
}

/// One row of `GET /api/tables`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableSummary {
    /// The table id.
    pub id: String,
    /// The catalogue game's name, [`CUSTOM_GAME`], or `None` while the table has no script.
    pub game: Option<String>,
    /// The catalogue version the table runs (`None` with no game or a custom one).
    pub version: Option<u32>,
    /// Seated players connected now.
    pub players: usize,
    /// Seats, including those held for players who dropped.
    pub seats: usize,
    /// When the table was created, in milliseconds since the Unix epoch.
    pub created_ms: u64,
    /// When an event last ran, in milliseconds since the Unix epoch (`None`: none yet).
    pub last_event_ms: Option<u64>,
    /// The table is hibernated: its script is not loaded until its next event.
    #[serde(default)]
    pub hibernated: bool,
    /// The node that owns the table in etcd, when the server is a node of a cluster (absent
    /// on a single node, and while the owner is not known: etcd unreachable, or the claim of
    /// a new table not made yet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

impl TableInfo {
    /// The info of a table with this record.
    pub fn new(record: &TableRecord) -> Self {
        let game = match (&record.game, &record.script) {
            (Some(id), _) => Some((id.name.clone(), Some(id.version))),
            (None, Some(script)) => Some((legacy_game_of(script).to_string(), None)),
            (None, None) => None,
        };
        TableInfo {
            created_ms: record.created_ms,
            game: Mutex::new(game),
            seats: AtomicUsize::new(0),
            connected: AtomicUsize::new(0),
            last_event_ms: AtomicU64::new(0),
            hibernated: AtomicBool::new(false),
        }
    }

    /// The table now runs `game` (`None`: a script not in the catalogue).
    pub fn defined(&self, game: Option<&GameId>) {
        let game = match game {
            Some(id) => (id.name.clone(), Some(id.version)),
            None => (CUSTOM_GAME.to_string(), None),
        };
        *self.game.lock().unwrap_or_else(|e| e.into_inner()) = Some(game);
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

    /// The table hibernated (`true`) or woke (`false`).
    pub fn hibernated(&self, hibernated: bool) {
        self.hibernated.store(hibernated, Ordering::Relaxed);
    }

    /// Whether the table is hibernated.
    pub fn is_hibernated(&self) -> bool {
        self.hibernated.load(Ordering::Relaxed)
    }

    /// A snapshot for the lobby.
    pub fn summary(&self, id: &str) -> TableSummary {
        let last = self.last_event_ms.load(Ordering::Relaxed);
        let game = self.game.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let (game, version) = match game {
            Some((name, version)) => (Some(name), version),
            None => (None, None),
        };
        TableSummary {
            id: id.to_string(),
            game,
            version,
            players: self.connected.load(Ordering::Relaxed),
            seats: self.seats.load(Ordering::Relaxed),
            created_ms: self.created_ms,
            last_event_ms: (last != 0).then_some(last),
            hibernated: self.is_hibernated(),
            owner: None,
        }
    }
}

/// The game of a table recorded before the catalogue: a built-in whose source it is exactly.
fn legacy_game_of(source: &str) -> &'static str {
    games::name_of(source).unwrap_or(CUSTOM_GAME)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_the_game_players_and_times() {
        let mut record = TableRecord {
            created_ms: 1_000,
            tick_ms: 0,
            host: None,
            game: None,
            script: None,
        };
        let info = TableInfo::new(&record);
        let s = info.summary("t");
        assert_eq!((s.game, s.players, s.seats), (None, 0, 0));
        assert_eq!((s.created_ms, s.last_event_ms), (1_000, None));
        let chat = GameId {
            name: "chat".into(),
            version: 3,
        };
        info.defined(Some(&chat));
        info.seats(3, 2);
        info.event();
        let s = info.summary("t");
        assert_eq!(
            (s.game.as_deref(), s.version, s.players, s.seats),
            (Some("chat"), Some(3), 2, 3)
        );
        assert!(s.last_event_ms.is_some_and(|t| t > 1_000));
        info.defined(None);
        assert_eq!(info.summary("t").game.as_deref(), Some(CUSTOM_GAME));
        // A table from before the catalogue is named by its built-in source.
        record.script = Some(games::find("pong").unwrap().source.to_string());
        assert_eq!(
            TableInfo::new(&record).summary("t").game.as_deref(),
            Some("pong")
        );
        record.game = Some(chat);
        assert_eq!(TableInfo::new(&record).summary("t").version, Some(3));
    }
}
