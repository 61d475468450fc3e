//! The sled store: table records, scripts and both storage namespaces, in one tree.
//!
//! Key layout (one tree, so one `sled::Batch` can commit any set of changes atomically):
//! - `t/<table-id>`         table record (JSON: created, defined)
//! - `c/<table-id>`         the table's script source
//! - `g/<table-id>`         `GGS.state` (JSON)
//! - `s/<table-id>/<player-id>`  a held seat: the SHA-256 of its resume token (32 bytes). An
//!   empty value is a seat written before tokens and player ids were apart: its token is its
//!   player id ([`SeatToken::Legacy`])
//! - `q/<table-id>/<player-id>`  a GGS 1.1 seat's stream counters (JSON: the last message
//!   number given, the highest command `Seq` applied, as of when they were last written)
//! - `o/<table-id>/<entry>`  one event's messages to the table's 1.1 seats, kept until each is
//!   acknowledged, and the commands it applied (JSON, see `table::stream`); the entry number
//!   is zero-padded to [`ENTRY_DIGITS`] digits so a prefix scan lists entries in order
//! - `u/<table-id>/<player-id>`  the identity the application's auth hook gave a seat's
//!   player (JSON: user_id, name); written with the seat, released with it
//! - `l/<table-id>/<key>`   `GGS.localStorage`
//! - `w/<table-id>/<key>`   `GGS.world`
//! - `h/<table-id>`         a handoff in progress ([`HandoffMark`], JSON): written by the old
//!   owner before ownership moves and by the target with its import; a table with one is
//!   served only once etcd says whose it is (see `handoff`)
//! - `G/<name>`             the catalogue: the latest version number of game `<name>`
//! - `G/<name>/<version>`   one version of a game (JSON: source, created, origin); the version
//!   is zero-padded to [`VERSION_DIGITS`] digits so a prefix scan lists versions in order
//! - `P/<name>`             the game's settings (JSON: its upgrade policy and the version new
//!   tables run; absent: the defaults)
//!
//! Table ids are UUIDs of fixed length, so a table's prefix never matches another table's keys.
//! Game names never contain `/`, so one game's prefix never matches another game's keys.

use std::fmt;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use ggs_js::{Namespace, Storage, Write};
use serde::{Deserialize, Serialize};

use crate::auth::Identity;
use crate::protocol::token::TokenHash;

/// A store operation failed. The store is the truth; callers treat this as fatal.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// sled reported an error (I/O, corruption).
    #[error("store: {0}")]
    Sled(#[from] sled::Error),
    /// A record could not be decoded.
    #[error("store: bad record for {key}: {reason}")]
    Corrupt {
        /// The key whose value is bad.
        key: String,
        /// What was wrong.
        reason: String,
    },
}

/// What the store knows of one table besides its storage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableRecord {
    /// Creation time, milliseconds since the Unix epoch.
    pub created_ms: u64,
    /// Tick interval set with `GGS.setTick`, in milliseconds (0: none).
    #[serde(default)]
    pub tick_ms: u32,
    /// The player who created the table: the only one who may define its script, unless the
    /// server allows anyone to (`--open-define`). `None` for tables from before hosts existed.
    #[serde(default)]
    pub host: Option<String>,
    /// The catalogue game (name and version) the table runs; `None` before `define`, for a
    /// script that is not in the catalogue, and for tables from before the catalogue.
    #[serde(default)]
    pub game: Option<GameId>,
    /// The game script, if one was defined.
    #[serde(skip)]
    pub script: Option<String>,
}

/// A version of a game in the catalogue, e.g. `chat` version 2.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct GameId {
    /// The game's name.
    pub name: String,
    /// Its version, from 1.
    pub version: u32,
}

impl fmt::Display for GameId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} v{}", self.name, self.version)
    }
}

/// Digits of a version number in a catalogue key (`G/chat/0000000001`).
pub const VERSION_DIGITS: usize = 10;

/// One stored version of a catalogue game.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredGame {
    /// The script.
    pub source: String,
    /// When this version was stored, milliseconds since the Unix epoch.
    pub created_ms: u64,
    /// `builtin` (seeded by the program: `games/`, or a game the application registered) or
    /// `upload`.
    pub origin: String,
}

/// Digits of an entry number in a kept-message key (`o/<table>/00000000000000000001`).
pub const ENTRY_DIGITS: usize = 20;

/// A GGS 1.1 seat's stream counters as stored (its kept messages are in the table's log).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredStream {
    /// The last message number given (`Msg`).
    pub next: u64,
    /// The highest command `Seq` applied.
    pub seq: u64,
}

/// The counters of a stream, as the `q/` record holds them.
#[derive(Debug, Serialize, Deserialize)]
struct StreamCounters {
    next: u64,
    seq: u64,
}

/// The embedded database.
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
}

impl Store {
    /// Opens (or creates) the store in `dir`.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        let db = sled::Config::new().path(dir).open()?;
        Ok(Store { db })
    }

    /// Number of tables on disk.
    pub fn table_count(&self) -> usize {
        self.db.scan_prefix(b"t/").count()
    }

    /// Ids of the tables whose script set a tick (`GGS.setTick`): they run without players, so
    /// they are loaded at start instead of on their first `hello`.
    pub fn ticking_tables(&self) -> Result<Vec<String>, StoreError> {
        let mut ids = Vec::new();
        for item in self.db.scan_prefix(b"t/") {
            let (key, raw) = item?;
            let ticking = serde_json::from_slice::<TableRecord>(&raw)
                .map(|r| r.tick_ms > 0)
                .unwrap_or(false);
            if ticking {
                ids.push(String::from_utf8_lossy(&key[2..]).into_owned());
            }
        }
        Ok(ids)
    }

    /// Ids of the tables whose record says they run catalogue game `name` (any version).
    pub fn tables_running(&self, name: &str) -> Result<Vec<String>, StoreError> {
        let mut ids = Vec::new();
        for item in self.db.scan_prefix(b"t/") {
            let (key, raw) = item?;
            let runs = serde_json::from_slice::<TableRecord>(&raw)
                .is_ok_and(|r| r.game.is_some_and(|g| g.name == name));
            if runs {
                ids.push(String::from_utf8_lossy(&key[2..]).into_owned());
            }
        }
        Ok(ids)
    }

    /// The record of a table, or `None` if no such table was ever committed.
    pub fn table(&self, id: &str) -> Result<Option<TableRecord>, StoreError> {
        let Some(raw) = self.db.get(table_key(id))? else {
            return Ok(None);
        };
        let mut record: TableRecord =
            serde_json::from_slice(&raw).map_err(|e| StoreError::Corrupt {
                key: format!("t/{id}"),
                reason: e.to_string(),
            })?;
        if let Some(src) = self.db.get(script_key(id))? {
            record.script = Some(String::from_utf8_lossy(&src).into_owned());
        }
        Ok(Some(record))
    }

    /// Everything committed about a table, or `None` if it never existed.
    pub fn load_table(&self, id: &str) -> Result<Option<LoadedTable>, StoreError> {
        let Some(record) = self.table(id)? else {
            return Ok(None);
        };
        let mut storage = self.storage(id)?;
        storage.tick_ms = record.tick_ms;
        let mut seats = self.held_seats(id)?;
        let mut streams = self.streams(id)?;
        for seat in &mut seats {
            seat.stream = streams.remove(&seat.player);
        }
        let identities = self.identities(id)?;
        let log = self.log(id)?;
        Ok(Some(LoadedTable {
            record,
            storage,
            seats,
            identities,
            log,
        }))
    }

    /// The identities of a table's seats, by player id, in key order.
    fn identities(&self, id: &str) -> Result<Vec<(String, Identity)>, StoreError> {
        let prefix = format!("u/{id}/").into_bytes();
        let mut identities = Vec::new();
        for item in self.db.scan_prefix(&prefix) {
            let (k, v) = item?;
            let player = String::from_utf8_lossy(&k[prefix.len()..]).into_owned();
            let identity = serde_json::from_slice(&v).map_err(|e| StoreError::Corrupt {
                key: String::from_utf8_lossy(&k).into_owned(),
                reason: e.to_string(),
            })?;
            identities.push((player, identity));
        }
        Ok(identities)
    }

    /// The held seats of a table, in key order, with what their tokens hash to.
    fn held_seats(&self, id: &str) -> Result<Vec<HeldSeat>, StoreError> {
        let prefix = format!("s/{id}/").into_bytes();
        let mut seats = Vec::new();
        for item in self.db.scan_prefix(&prefix) {
            let (k, v) = item?;
            let player = String::from_utf8_lossy(&k[prefix.len()..]).into_owned();
            let token = match TokenHash::from_bytes(&v) {
                Some(hash) => SeatToken::Hash(hash),
                None if v.is_empty() => SeatToken::Legacy,
                None => {
                    return Err(StoreError::Corrupt {
                        key: String::from_utf8_lossy(&k).into_owned(),
                        reason: format!("a seat's token hash of {} bytes", v.len()),
                    })
                }
            };
            seats.push(HeldSeat {
                player,
                token,
                stream: None,
            });
        }
        Ok(seats)
    }

    /// The log entries of a table's 1.1 seats (number, JSON), in order.
    fn log(&self, id: &str) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        let prefix = format!("o/{id}/").into_bytes();
        let mut entries = Vec::new();
        for item in self.db.scan_prefix(&prefix) {
            let (k, v) = item?;
            let number = std::str::from_utf8(&k[prefix.len()..])
                .ok()
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| StoreError::Corrupt {
                    key: String::from_utf8_lossy(&k).into_owned(),
                    reason: "a log entry's key without a number".into(),
                })?;
            entries.push((number, v.to_vec()));
        }
        Ok(entries)
    }

    /// The GGS 1.1 streams of a table's seats, by player id.
    fn streams(
        &self,
        id: &str,
    ) -> Result<std::collections::HashMap<String, StoredStream>, StoreError> {
        let corrupt = |k: &[u8], reason: String| StoreError::Corrupt {
            key: String::from_utf8_lossy(k).into_owned(),
            reason,
        };
        let mut streams = std::collections::HashMap::new();
        let prefix = format!("q/{id}/").into_bytes();
        for item in self.db.scan_prefix(&prefix) {
            let (k, v) = item?;
            let player = String::from_utf8_lossy(&k[prefix.len()..]).into_owned();
            let counters: StreamCounters =
                serde_json::from_slice(&v).map_err(|e| corrupt(&k, e.to_string()))?;
            let stream = StoredStream {
                next: counters.next,
                seq: counters.seq,
            };
            streams.insert(player, stream);
        }
        Ok(streams)
    }

    /// Both storage namespaces and the state of a table.
    pub fn storage(&self, id: &str) -> Result<Storage, StoreError> {
        let mut storage = Storage::default();
        if let Some(state) = self.db.get(state_key(id))? {
            storage.state = Some(String::from_utf8_lossy(&state).into_owned());
        }
        for ns in Namespace::ALL {
            let prefix = storage_prefix(id, ns);
            let map = match ns {
                Namespace::Local => &mut storage.local,
                Namespace::World => &mut storage.world,
            };
            for item in self.db.scan_prefix(&prefix) {
                let (k, v) = item?;
                let key = String::from_utf8_lossy(&k[prefix.len()..]).into_owned();
                map.insert(key, String::from_utf8_lossy(&v).into_owned());
            }
        }
        Ok(storage)
    }

    /// Applies the transactions atomically (all or none survive a crash). Not yet durable:
    /// call [`Store::flush`].
    pub fn apply<'a>(&self, txns: impl IntoIterator<Item = &'a Txn>) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        for txn in txns {
            for (key, value) in &txn.ops {
                match value {
                    Some(v) => batch.insert(key.as_slice(), v.as_slice()),
                    None => batch.remove(key.as_slice()),
                }
            }
        }
        self.db.apply_batch(batch)?;
        Ok(())
    }

    /// The latest version of catalogue game `name`, if it has one.
    pub fn game_latest(&self, name: &str) -> Result<Option<u32>, StoreError> {
        let key = format!("G/{name}");
        let Some(raw) = self.db.get(key.as_bytes())? else {
            return Ok(None);
        };
        let text = String::from_utf8_lossy(&raw);
        text.parse().map(Some).map_err(|_| StoreError::Corrupt {
            key,
            reason: format!("not a version number: {text:?}"),
        })
    }

    /// Version `version` of catalogue game `name`.
    pub fn game_version(&self, name: &str, version: u32) -> Result<Option<StoredGame>, StoreError> {
        let key = game_version_key(name, version);
        match self.db.get(&key)? {
            Some(raw) => decode_game(&key, &raw).map(Some),
            None => Ok(None),
        }
    }

    /// Every stored version of catalogue game `name`, oldest first.
    pub fn game_versions(&self, name: &str) -> Result<Vec<(u32, StoredGame)>, StoreError> {
        let prefix = format!("G/{name}/").into_bytes();
        let mut versions = Vec::new();
        for item in self.db.scan_prefix(&prefix) {
            let (key, raw) = item?;
            let version = std::str::from_utf8(&key[prefix.len()..])
                .ok()
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| StoreError::Corrupt {
                    key: String::from_utf8_lossy(&key).into_owned(),
                    reason: "not a version key".into(),
                })?;
            versions.push((version, decode_game(&key, &raw)?));
        }
        Ok(versions)
    }

    /// The names of every catalogue game, in byte order.
    pub fn game_names(&self) -> Result<Vec<String>, StoreError> {
        let mut names = Vec::new();
        for item in self.db.scan_prefix(b"G/") {
            let (key, _) = item?;
            let rest = &key[2..];
            if !rest.contains(&b'/') {
                names.push(String::from_utf8_lossy(rest).into_owned());
            }
        }
        Ok(names)
    }

    /// Stores a version of a catalogue game, durably (it is flushed before this returns),
    /// and makes it the latest unless a later one is stored (a version another node of a
    /// cluster published may arrive after a later one).
    pub fn put_game(&self, id: &GameId, game: &StoredGame) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        let json = serde_json::to_vec(game).expect("a stored game always serialises");
        batch.insert(game_version_key(&id.name, id.version), json);
        let latest = self
            .game_latest(&id.name)?
            .map_or(id.version, |latest| latest.max(id.version));
        batch.insert(
            format!("G/{}", id.name).into_bytes(),
            latest.to_string().into_bytes(),
        );
        self.db.apply_batch(batch)?;
        self.db.flush()?;
        Ok(())
    }

    /// The settings of catalogue game `name` as stored (JSON), if any were set.
    pub fn game_settings(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.db.get(format!("P/{name}"))?.map(|v| v.to_vec()))
    }

    /// Stores the settings of catalogue game `name` (JSON), durably.
    pub fn put_game_settings(&self, name: &str, json: &[u8]) -> Result<(), StoreError> {
        self.db.insert(format!("P/{name}"), json)?;
        self.db.flush()?;
        Ok(())
    }

    /// Makes everything applied so far durable (fsync).
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }

    /// Every key of table `id` and its value ([`TABLE_KEY_TAGS`]): what a handoff carries to
    /// another node. Its handoff mark is not part of it.
    pub fn export_table(&self, id: &str) -> Result<TableExport, StoreError> {
        let mut pairs = Vec::new();
        for key in table_keys(id) {
            for item in self.db.scan_prefix(&key) {
                let (k, v) = item?;
                if is_table_key(id, &k) {
                    pairs.push((k.to_vec(), v.to_vec()));
                }
            }
        }
        Ok(pairs)
    }

    /// Replaces everything of table `id` with `pairs` (an [`Store::export_table`] of another
    /// node's) and marks it `mark`, as one batch, and flushes: the table is here whole or not
    /// at all. A key that is not one of the table's is refused and nothing changes.
    pub fn import_table(
        &self,
        id: &str,
        pairs: &[(Vec<u8>, Vec<u8>)],
        mark: &HandoffMark,
    ) -> Result<(), ImportError> {
        if let Some((key, _)) = pairs.iter().find(|(k, _)| !is_table_key(id, k)) {
            return Err(ImportError::ForeignKey(
                String::from_utf8_lossy(key).into_owned(),
            ));
        }
        if !pairs.iter().any(|(k, _)| *k == table_key(id)) {
            return Err(ImportError::NoRecord);
        }
        let mut batch = self.drop_batch(id)?;
        for (k, v) in pairs {
            batch.insert(k.as_slice(), v.as_slice());
        }
        batch.insert(
            mark_key(id),
            serde_json::to_vec(mark).expect("a mark is JSON"),
        );
        self.db.apply_batch(batch).map_err(StoreError::from)?;
        self.db.flush().map_err(StoreError::from)?;
        Ok(())
    }

    /// Deletes everything of table `id`, its handoff mark too, as one batch, and flushes.
    pub fn drop_table(&self, id: &str) -> Result<(), StoreError> {
        let batch = self.drop_batch(id)?;
        self.db.apply_batch(batch)?;
        self.db.flush()?;
        Ok(())
    }

    /// A batch that removes every key of table `id` and its mark.
    fn drop_batch(&self, id: &str) -> Result<sled::Batch, StoreError> {
        let mut batch = sled::Batch::default();
        for (k, _) in self.export_table(id)? {
            batch.remove(k);
        }
        batch.remove(mark_key(id));
        Ok(batch)
    }

    /// Table `id`'s handoff mark, if a handoff of it was under way here.
    pub fn handoff_mark(&self, id: &str) -> Result<Option<HandoffMark>, StoreError> {
        let Some(raw) = self.db.get(mark_key(id))? else {
            return Ok(None);
        };
        serde_json::from_slice(&raw)
            .map(Some)
            .map_err(|e| StoreError::Corrupt {
                key: format!("h/{id}"),
                reason: e.to_string(),
            })
    }

    /// Marks table `id` (`Some`) or clears its mark (`None`), and flushes.
    pub fn set_handoff_mark(&self, id: &str, mark: Option<&HandoffMark>) -> Result<(), StoreError> {
        match mark {
            Some(mark) => {
                let json = serde_json::to_vec(mark).expect("a mark is JSON");
                self.db.insert(mark_key(id), json)?;
            }
            None => {
                self.db.remove(mark_key(id))?;
            }
        }
        self.db.flush()?;
        Ok(())
    }
}

/// Every key of a table and its value, as a handoff carries it.
pub type TableExport = Vec<(Vec<u8>, Vec<u8>)>;

/// A handoff of a table under way on this node, as its `h/` key records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandoffMark {
    /// `out`: this node is handing the table to `peer`; `in`: it imported it from `peer`.
    pub direction: String,
    /// The other node.
    pub peer: String,
}

/// Why an import was refused (it changed nothing).
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// A key that is not one of the table's.
    #[error("the export holds a key that is not the table's: {0:?}")]
    ForeignKey(String),
    /// The export has no table record.
    #[error("the export holds no table record")]
    NoRecord,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The tags of a table's keys (`t/<id>`, `c/<id>`, `g/<id>`, and `<tag>/<id>/...` for the
/// others): everything the store keeps about one table.
pub const TABLE_KEY_TAGS: [char; 9] = ['t', 'c', 'g', 's', 'q', 'o', 'u', 'l', 'w'];

/// The prefixes of a table's keys, one per tag.
fn table_keys(id: &str) -> impl Iterator<Item = Vec<u8>> + '_ {
    TABLE_KEY_TAGS
        .iter()
        .map(move |tag| format!("{tag}/{id}").into_bytes())
}

/// Whether `key` is one of table `id`'s: exactly `<tag>/<id>`, or `<tag>/<id>/...`.
fn is_table_key(id: &str, key: &[u8]) -> bool {
    let Some((&tag, rest)) = key.split_first() else {
        return false;
    };
    let tagged = TABLE_KEY_TAGS.iter().any(|t| *t as u8 == tag);
    let Some(rest) = rest
        .strip_prefix(b"/")
        .and_then(|r| r.strip_prefix(id.as_bytes()))
    else {
        return false;
    };
    tagged && (rest.is_empty() || rest.starts_with(b"/"))
}

fn mark_key(id: &str) -> Vec<u8> {
    format!("h/{id}").into_bytes()
}

/// A table as loaded from the store.
#[derive(Debug, Clone)]
pub struct LoadedTable {
    /// Its record (with the script).
    pub record: TableRecord,
    /// Storage, state and tick.
    pub storage: Storage,
    /// The seats held, to be taken back by their tokens.
    pub seats: Vec<HeldSeat>,
    /// The identities of the seats' players, by player id (seats of anonymous players have
    /// none).
    pub identities: Vec<(String, Identity)>,
    /// The log of messages kept for its 1.1 seats: (entry number, JSON), in order.
    pub log: Vec<(u64, Vec<u8>)>,
}

/// A seat as stored: its player's public id and what takes it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldSeat {
    /// The player's public id.
    pub player: String,
    /// What its resume token hashes to.
    pub token: SeatToken,
    /// Its GGS 1.1 stream, if it speaks 1.1.
    pub stream: Option<StoredStream>,
}

/// What takes a stored seat back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SeatToken {
    /// The token whose SHA-256 this is.
    Hash(TokenHash),
    /// A seat written by a version whose resume token was the player id itself: that id takes
    /// it back once, and the seat then gets a secret token (see `table::seats`).
    Legacy,
}

/// The store changes of one event, committed together or not at all.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Txn {
    ops: Vec<(Vec<u8>, Option<Vec<u8>>)>,
}

impl Txn {
    /// Whether the transaction changes nothing.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Sets the table's `GGS.state` JSON.
    pub fn set_state(&mut self, id: &str, json: &str) {
        self.ops
            .push((state_key(id), Some(json.as_bytes().to_vec())));
    }

    /// Holds a seat for `player` that the token hashing to `token` takes back (written again
    /// when the seat's token changes), or (`None`) releases it.
    pub fn seat(&mut self, id: &str, player: &str, token: Option<&TokenHash>) {
        let key = format!("s/{id}/{player}").into_bytes();
        self.ops
            .push((key, token.map(|hash| hash.as_bytes().to_vec())));
    }

    /// Writes the counters of `player`'s GGS 1.1 stream: the last message number given and the
    /// highest command `Seq` applied.
    pub fn stream(&mut self, id: &str, player: &str, next: u64, seq: u64) {
        let json = serde_json::to_vec(&StreamCounters { next, seq }).expect("counters serialise");
        self.ops.push((stream_key(id, player), Some(json)));
    }

    /// Forgets `player`'s GGS 1.1 stream record (its kept messages are released in the log).
    pub fn end_stream(&mut self, id: &str, player: &str) {
        self.ops.push((stream_key(id, player), None));
    }

    /// Writes entry `entry` of the table's log of kept messages (JSON, see `table::stream`).
    pub fn log_entry(&mut self, id: &str, entry: u64, json: Vec<u8>) {
        self.ops.push((log_key(id, entry), Some(json)));
    }

    /// Deletes entry `entry` of the table's log.
    pub fn drop_log_entry(&mut self, id: &str, entry: u64) {
        self.ops.push((log_key(id, entry), None));
    }

    /// Keeps the identity of the player of a seat, or (`None`) releases it with the seat.
    pub fn identity(&mut self, id: &str, player: &str, identity: Option<&Identity>) {
        let key = format!("u/{id}/{player}").into_bytes();
        let json = identity.map(|i| serde_json::to_vec(i).expect("an identity always serialises"));
        self.ops.push((key, json));
    }

    /// Records a new table, or rewrites its record (its tick changed).
    pub fn create_table(&mut self, id: &str, record: &TableRecord) {
        let json = serde_json::to_vec(record).expect("a table record always serialises");
        self.ops.push((table_key(id), Some(json)));
    }

    /// Sets the table's script.
    pub fn set_script(&mut self, id: &str, source: &str) {
        self.ops
            .push((script_key(id), Some(source.as_bytes().to_vec())));
    }

    /// Adds the storage writes of an event.
    pub fn storage_writes(&mut self, id: &str, writes: &[Write]) {
        for w in writes {
            let mut key = storage_prefix(id, w.ns);
            key.extend_from_slice(w.key.as_bytes());
            self.ops
                .push((key, w.value.as_ref().map(|v| v.as_bytes().to_vec())));
        }
    }
}

fn game_version_key(name: &str, version: u32) -> Vec<u8> {
    format!("G/{name}/{version:0width$}", width = VERSION_DIGITS).into_bytes()
}

fn decode_game(key: &[u8], raw: &[u8]) -> Result<StoredGame, StoreError> {
    serde_json::from_slice(raw).map_err(|e| StoreError::Corrupt {
        key: String::from_utf8_lossy(key).into_owned(),
        reason: e.to_string(),
    })
}

fn table_key(id: &str) -> Vec<u8> {
    format!("t/{id}").into_bytes()
}

fn stream_key(id: &str, player: &str) -> Vec<u8> {
    format!("q/{id}/{player}").into_bytes()
}

fn log_key(id: &str, entry: u64) -> Vec<u8> {
    format!("o/{id}/{entry:0width$}", width = ENTRY_DIGITS).into_bytes()
}

fn state_key(id: &str) -> Vec<u8> {
    format!("g/{id}").into_bytes()
}

fn script_key(id: &str) -> Vec<u8> {
    format!("c/{id}").into_bytes()
}

fn storage_prefix(id: &str, ns: Namespace) -> Vec<u8> {
    let tag = match ns {
        Namespace::Local => 'l',
        Namespace::World => 'w',
    };
    format!("{tag}/{id}/").into_bytes()
}

/// Now, in milliseconds since the Unix epoch: how the store records times.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: &str = "6f1c2b1e-0000-4000-8000-000000000001";

    #[test]
    fn a_table_exported_imports_whole_elsewhere_and_nothing_foreign_gets_in() {
        const OTHER: &str = "6f1c2b1e-0000-4000-8000-000000000002";
        let (from_dir, to_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (from, to) = (
            Store::open(from_dir.path()).unwrap(),
            Store::open(to_dir.path()).unwrap(),
        );
        let record = TableRecord {
            created_ms: 7,
            tick_ms: 0,
            host: None,
            game: None,
            script: None,
        };
        let token = crate::protocol::token::Token::generate();
        let mut txn = Txn::default();
        for id in [T, OTHER] {
            txn.create_table(id, &record);
            txn.set_script(id, "function playerCommand(){}");
            txn.set_state(id, r#"{"n":1}"#);
            txn.seat(id, "p1", Some(token.hash()));
            txn.stream(id, "p1", 3, 2);
            txn.log_entry(id, 1, b"{}".to_vec());
        }
        from.apply([&txn]).unwrap();
        let export = from.export_table(T).unwrap();
        assert_eq!(
            export.len(),
            6,
            "record, script, state, seat, stream, log: {export:?}"
        );
        assert!(export.iter().all(|(k, _)| is_table_key(T, k)));
        // The target had a stale copy: it is replaced whole.
        let mut stale = Txn::default();
        stale.create_table(T, &record);
        stale.seat(T, "gone", None);
        to.apply([&stale]).unwrap();
        let mark = HandoffMark {
            direction: "in".into(),
            peer: "a".into(),
        };
        to.import_table(T, &export, &mark).unwrap();
        assert_eq!(to.export_table(T).unwrap(), export);
        assert_eq!(to.handoff_mark(T).unwrap(), Some(mark.clone()));
        assert!(to.table(OTHER).unwrap().is_none());
        // A key of another table, or an export without a record, changes nothing.
        let mut foreign = export.clone();
        foreign.push((format!("w/{OTHER}/x").into_bytes(), b"1".to_vec()));
        assert!(matches!(
            to.import_table(T, &foreign, &mark),
            Err(ImportError::ForeignKey(_))
        ));
        let headless: Vec<_> = export
            .iter()
            .filter(|(k, _)| !k.starts_with(b"t/"))
            .cloned()
            .collect();
        assert!(matches!(
            to.import_table(T, &headless, &mark),
            Err(ImportError::NoRecord)
        ));
        assert_eq!(to.export_table(T).unwrap(), export);
        // Dropped: nothing of it is left, the mark neither; the other table is untouched.
        from.drop_table(T).unwrap();
        assert!(from.export_table(T).unwrap().is_empty());
        assert_eq!(from.export_table(OTHER).unwrap().len(), 6);
        to.set_handoff_mark(T, None).unwrap();
        assert_eq!(to.handoff_mark(T).unwrap(), None);
    }

    #[test]
    fn committed_tables_and_storage_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            let mut txn = Txn::default();
            txn.create_table(
                T,
                &TableRecord {
                    created_ms: 7,
                    tick_ms: 50,
                    host: None,
                    game: None,
                    script: None,
                },
            );
            txn.set_script(T, "function playerCommand(){}");
            txn.storage_writes(
                T,
                &[
                    Write {
                        ns: Namespace::World,
                        key: "a".into(),
                        value: Some("1".into()),
                    },
                    Write {
                        ns: Namespace::Local,
                        key: "a".into(),
                        value: Some("2".into()),
                    },
                ],
            );
            store.apply([&txn]).unwrap();
            let mut remove = Txn::default();
            remove.storage_writes(
                T,
                &[Write {
                    ns: Namespace::Local,
                    key: "a".into(),
                    value: None,
                }],
            );
            store.apply([&remove]).unwrap();
            store.flush().unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        let record = store.table(T).unwrap().unwrap();
        assert_eq!(record.created_ms, 7);
        assert_eq!(record.script.as_deref(), Some("function playerCommand(){}"));
        let storage = store.storage(T).unwrap();
        assert_eq!(storage.world.get("a").map(String::as_str), Some("1"));
        assert!(storage.local.is_empty());
        assert_eq!(store.table_count(), 1);
        assert!(store
            .table("6f1c2b1e-0000-4000-8000-000000000002")
            .unwrap()
            .is_none());
    }

    #[test]
    fn seats_keep_their_token_hashes_and_old_seats_load_as_legacy() {
        use crate::protocol::token::Token;
        const ALICE: &str = "aaaaaaaa-1111-4000-8000-000000000001";
        const BOB: &str = "bbbbbbbb-2222-4000-8000-000000000002";
        let dir = tempfile::tempdir().unwrap();
        let token = Token::generate();
        {
            let store = Store::open(dir.path()).unwrap();
            let mut txn = Txn::default();
            let record = TableRecord {
                created_ms: 7,
                tick_ms: 0,
                host: Some(ALICE.into()),
                game: None,
                script: None,
            };
            txn.create_table(T, &record);
            txn.seat(T, ALICE, Some(token.hash()));
            store.apply([&txn]).unwrap();
            // A seat as the previous version wrote it: the key alone, an empty value.
            store.db.insert(format!("s/{T}/{BOB}"), b"").unwrap();
            store.flush().unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        let seats = store.load_table(T).unwrap().unwrap().seats;
        assert_eq!(
            seats,
            [
                HeldSeat {
                    player: ALICE.into(),
                    token: SeatToken::Hash(token.hash().clone()),
                    stream: None,
                },
                HeldSeat {
                    player: BOB.into(),
                    token: SeatToken::Legacy,
                    stream: None,
                },
            ]
        );
        let raw = store.db.get(format!("s/{T}/{ALICE}")).unwrap().unwrap();
        assert_eq!(
            &raw[..],
            token.hash().as_bytes(),
            "only the token's hash is stored"
        );
        let mut release = Txn::default();
        release.seat(T, BOB, None);
        store.apply([&release]).unwrap();
        assert_eq!(store.load_table(T).unwrap().unwrap().seats.len(), 1);
        store.db.insert(format!("s/{T}/{BOB}"), b"xyz").unwrap();
        assert!(matches!(
            store.load_table(T),
            Err(StoreError::Corrupt { .. })
        ));
    }

    #[test]
    fn catalogue_versions_are_listed_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let game = |source: &str| StoredGame {
            source: source.into(),
            created_ms: 1,
            origin: "upload".into(),
        };
        for (name, version) in [("chat", 1), ("chat", 2), ("chatty", 1), ("chat", 10)] {
            let id = GameId {
                name: name.into(),
                version,
            };
            store.put_game(&id, &game(&format!("// {id}"))).unwrap();
        }
        assert_eq!(store.game_names().unwrap(), ["chat", "chatty"]);
        assert_eq!(store.game_latest("chat").unwrap(), Some(10));
        let versions: Vec<u32> = store
            .game_versions("chat")
            .unwrap()
            .into_iter()
            .map(|(v, _)| v)
            .collect();
        assert_eq!(versions, [1, 2, 10]);
        assert_eq!(
            store.game_version("chat", 2).unwrap().unwrap().source,
            "// chat v2"
        );
        assert!(store.game_version("chat", 3).unwrap().is_none());
        assert!(store.game_latest("nope").unwrap().is_none());
    }

    #[test]
    fn identities_are_kept_with_their_seats_and_released_with_them() {
        const ALICE: &str = "aaaaaaaa-1111-4000-8000-000000000001";
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let record = TableRecord {
            created_ms: 7,
            tick_ms: 0,
            host: None,
            game: None,
            script: None,
        };
        let alice = Identity::new("user-1", "Alice");
        let mut txn = Txn::default();
        txn.create_table(T, &record);
        txn.identity(T, ALICE, Some(&alice));
        store.apply([&txn]).unwrap();
        let loaded = store.load_table(T).unwrap().unwrap();
        assert_eq!(loaded.identities, vec![(ALICE.to_string(), alice)]);
        let mut release = Txn::default();
        release.identity(T, ALICE, None);
        store.apply([&release]).unwrap();
        assert!(store.load_table(T).unwrap().unwrap().identities.is_empty());
    }
}
