//! The game catalogue: named games with versions, stored in sled, so players can start a table
//! of a game by its name instead of uploading its source.
//!
//! Each upload of a changed source becomes the game's next version (1, 2, ...); an unchanged
//! one is a no-op. A source is compiled (not run) before it is accepted. The built-in games
//! (`games/*.js`) seed the catalogue at first start; a later server whose built-in source
//! differs adds it as a new version, unless the game's latest version was uploaded (an
//! operator's upload wins over the binary's copy).
//!
//! Every game has an upgrade policy ([`Policy`]) and a current version: the one new tables
//! run. An upload makes the new version current unless the policy is `manual`; with `all`,
//! running tables are upgraded to it too (by the caller: see `upgrade.rs`). Upgrading every
//! table of a game to a version (rolling back included) makes that version current.
//!
//! Lists and descriptions are kept in memory (every write goes through here); sources are read
//! from the store when needed. Uploads are rare and serialised by a mutex.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::{Mutex, MutexGuard};

use serde::{Deserialize, Serialize};

use crate::games;
pub use crate::protocol::message::{valid_game_name as valid_name, MAX_GAME_NAME};
use crate::store::{now_ms, GameId, Store, StoreError, StoredGame};

/// `origin` of a version seeded by the program: the binary's `games/`, or a game the
/// embedding application registered.
pub const ORIGIN_BUILTIN: &str = "builtin";
/// `origin` of an uploaded version.
pub const ORIGIN_UPLOAD: &str = "upload";

/// Why a catalogue request failed. `code()` is the stable code clients see.
#[derive(Debug, thiserror::Error)]
pub enum CatalogueError {
    /// Not a valid game name.
    #[error("a game name is 1 to {MAX_GAME_NAME} characters: a-z, 0-9, '-' and '_', starting with a letter or digit; got {0:?}")]
    BadName(String),
    /// No game of that name.
    #[error("there is no game called {0:?}")]
    NoSuchGame(String),
    /// The game has no such version.
    #[error("{name} has no version {version}")]
    NoSuchVersion {
        /// The game.
        name: String,
        /// The version asked for.
        version: u32,
    },
    /// The source does not compile.
    #[error("{0}")]
    Compile(#[from] ggs_js::CompileError),
    /// The source is larger than the body limit.
    #[error("the script of {length} bytes is larger than the limit of {limit} bytes")]
    TooLarge {
        /// Its length.
        length: usize,
        /// The limit.
        limit: usize,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl CatalogueError {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            CatalogueError::BadName(_) => "bad_game_name",
            CatalogueError::NoSuchGame(_) | CatalogueError::NoSuchVersion { .. } => "no_such_game",
            CatalogueError::Compile(_) => "compile_error",
            CatalogueError::TooLarge { .. } => "body_too_large",
            CatalogueError::Store(_) => "store_error",
        }
    }
}

/// How new versions of a game reach tables.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Policy {
    /// An upload changes nothing that runs: new tables keep the current version until an
    /// operator upgrades every table (`ggs upgrade GAME --to V --all`).
    Manual,
    /// New tables run the newest upload; running tables keep their version (the default).
    #[default]
    NewTables,
    /// Every upload becomes current and every running table of the game upgrades to it.
    All,
}

impl Policy {
    /// Every policy, as named on the wire.
    pub const ALL: [Policy; 3] = [Policy::Manual, Policy::NewTables, Policy::All];

    /// Its name: `manual`, `new-tables`, `all`.
    pub fn as_str(self) -> &'static str {
        match self {
            Policy::Manual => "manual",
            Policy::NewTables => "new-tables",
            Policy::All => "all",
        }
    }

    /// The policy named `name`.
    pub fn parse(name: &str) -> Option<Policy> {
        Policy::ALL.into_iter().find(|p| p.as_str() == name)
    }
}

/// A game's settings as stored: its policy and current version.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
struct Settings {
    #[serde(default)]
    policy: Policy,
    /// The version new tables run; `None`: the latest.
    #[serde(default)]
    current: Option<u32>,
}

/// One game of `GET /api/games` and `/games`: its latest version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GameSummary {
    /// The name.
    pub name: String,
    /// The first sentence of the script's opening comment.
    pub description: String,
    /// The latest version.
    pub version: u32,
    /// When the latest version was stored, milliseconds since the Unix epoch.
    pub updated_ms: u64,
    /// The version new tables run (the latest, unless a policy or a rollback says otherwise).
    #[serde(default)]
    pub current: u32,
    /// How new versions reach tables.
    #[serde(default)]
    pub policy: Policy,
}

/// One version in [`GameDetail::versions`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VersionInfo {
    /// The version.
    pub version: u32,
    /// When it was stored, milliseconds since the Unix epoch.
    pub created_ms: u64,
    /// Bytes of source.
    pub bytes: usize,
    /// [`ORIGIN_BUILTIN`] or [`ORIGIN_UPLOAD`].
    pub origin: String,
}

/// A game with one version's source and the list of all its versions (`GET /api/games/{name}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GameDetail {
    /// The name.
    pub name: String,
    /// The version whose source this is.
    pub version: u32,
    /// The latest version.
    pub latest: u32,
    /// The first sentence of this version's opening comment.
    pub description: String,
    /// This version's script.
    pub source: String,
    /// Every version, oldest first.
    pub versions: Vec<VersionInfo>,
}

/// What an upload did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Uploaded {
    /// The game.
    pub name: String,
    /// The version that now holds the source (the existing one when unchanged).
    pub version: u32,
    /// Whether a new version was stored.
    pub created: bool,
    /// The game's policy: with `all`, its running tables are upgraded to the new version.
    #[serde(default)]
    pub policy: Policy,
}

/// A game the server adds to the catalogue at start: a built-in one, or one the embedding
/// application registered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seed {
    /// The name.
    pub name: String,
    /// The script.
    pub source: String,
}

impl Seed {
    /// The built-in games (`games/*.js`), in the order the lobby shows them.
    pub fn builtin() -> Vec<Seed> {
        games::GAMES
            .iter()
            .map(|g| Seed {
                name: g.name.to_string(),
                source: g.source.to_string(),
            })
            .collect()
    }
}

/// The catalogue.
pub struct Catalogue {
    store: Store,
    max_source: usize,
    /// Latest version of every game, by name.
    summaries: Mutex<BTreeMap<String, GameSummary>>,
    /// Hash of a source -> the versions with a source of that hash (to name a defined script).
    index: Mutex<HashMap<u64, Vec<GameId>>>,
    /// Serialises uploads, so two of one game cannot take the same version number.
    uploads: Mutex<()>,
    /// The names of the seeded games, in the order the lobby shows them.
    seeded: Vec<String>,
}

impl Catalogue {
    /// Opens the catalogue in `store`, seeding `seeds` (the built-in games, the application's);
    /// sources over `max_source` bytes are refused at upload.
    pub fn open(store: Store, max_source: usize, seeds: &[Seed]) -> Result<Catalogue, StoreError> {
        let catalogue = Catalogue {
            store,
            max_source,
            summaries: Mutex::new(BTreeMap::new()),
            index: Mutex::new(HashMap::new()),
            uploads: Mutex::new(()),
            seeded: seeds.iter().map(|s| s.name.clone()).collect(),
        };
        for game in seeds {
            catalogue.seed(game)?;
        }
        for name in catalogue.store.game_names()? {
            let versions = catalogue.store.game_versions(&name)?;
            for (version, stored) in &versions {
                catalogue.remember(&name, *version, stored);
            }
            let settings = catalogue.settings(&name)?;
            catalogue.show_settings(&name, settings);
        }
        Ok(catalogue)
    }

    /// Adds a seeded game as version 1, or as a new version when the program's copy changed
    /// and the latest version is the program's too.
    fn seed(&self, game: &Seed) -> Result<(), StoreError> {
        let next = match self.store.game_latest(&game.name)? {
            None => 1,
            Some(latest) => match self.store.game_version(&game.name, latest)? {
                Some(stored) if stored.origin != ORIGIN_BUILTIN || stored.source == game.source => {
                    return Ok(())
                }
                _ => latest + 1,
            },
        };
        let id = GameId {
            name: game.name.clone(),
            version: next,
        };
        tracing::info!(game = %id, "adding the built-in game to the catalogue");
        self.store.put_game(
            &id,
            &StoredGame {
                source: game.source.clone(),
                created_ms: now_ms(),
                origin: ORIGIN_BUILTIN.to_string(),
            },
        )?;
        // A new version from the program is an upload like any other.
        self.stored_new(&game.name, next)?;
        Ok(())
    }

    /// Notes a stored version in the in-memory list and index.
    fn remember(&self, name: &str, version: u32, stored: &StoredGame) {
        let id = GameId {
            name: name.to_string(),
            version,
        };
        lock(&self.index)
            .entry(hash(&stored.source))
            .or_default()
            .push(id);
        let mut summaries = lock(&self.summaries);
        let newer = summaries.get(name).is_none_or(|s| s.version < version);
        if newer {
            let settings = summaries.get(name).map(|s| (s.current, s.policy));
            summaries.insert(
                name.to_string(),
                GameSummary {
                    name: name.to_string(),
                    description: games::describe(&stored.source),
                    version,
                    updated_ms: stored.created_ms,
                    current: settings.map_or(version, |s| s.0),
                    policy: settings.map_or(Policy::default(), |s| s.1),
                },
            );
        }
    }

    /// The stored settings of `name` (the defaults if none were set).
    fn settings(&self, name: &str) -> Result<Settings, StoreError> {
        Ok(match self.store.game_settings(name)? {
            Some(raw) => serde_json::from_slice(&raw).map_err(|e| StoreError::Corrupt {
                key: format!("P/{name}"),
                reason: e.to_string(),
            })?,
            None => Settings::default(),
        })
    }

    /// Stores `settings` of `name` and shows them in the list.
    fn put_settings(&self, name: &str, settings: Settings) -> Result<(), StoreError> {
        let json = serde_json::to_vec(&settings).expect("settings serialise");
        self.store.put_game_settings(name, &json)?;
        self.show_settings(name, settings);
        Ok(())
    }

    fn show_settings(&self, name: &str, settings: Settings) {
        if let Some(summary) = lock(&self.summaries).get_mut(name) {
            summary.current = settings.current.unwrap_or(summary.version);
            summary.policy = settings.policy;
        }
    }

    /// Sets the upgrade policy of `name`; the current version stays what it is.
    pub fn set_policy(&self, name: &str, policy: Policy) -> Result<GameSummary, CatalogueError> {
        let (current, _) = self.current(name)?;
        let _one_at_a_time = lock(&self.uploads);
        let settings = Settings {
            policy,
            current: Some(current.version),
        };
        self.put_settings(name, settings)?;
        self.summary(name)
    }

    /// Makes `version` of `name` the one new tables run.
    pub fn set_current(&self, name: &str, version: u32) -> Result<(), CatalogueError> {
        self.version(name, version)?;
        let _one_at_a_time = lock(&self.uploads);
        let mut settings = self.settings(name)?;
        settings.current = Some(version);
        self.put_settings(name, settings)?;
        Ok(())
    }

    /// The list entry of `name`.
    pub fn summary(&self, name: &str) -> Result<GameSummary, CatalogueError> {
        let missing = || CatalogueError::NoSuchGame(name.to_string());
        lock(&self.summaries).get(name).cloned().ok_or_else(missing)
    }

    /// Version `version` of `name` and its source.
    pub fn version(&self, name: &str, version: u32) -> Result<(GameId, String), CatalogueError> {
        check_name(name)?;
        let stored = self.store.game_version(name, version)?.ok_or_else(|| {
            CatalogueError::NoSuchVersion {
                name: name.to_string(),
                version,
            }
        })?;
        let id = GameId {
            name: name.to_string(),
            version,
        };
        Ok((id, stored.source))
    }

    /// Every game's latest version: the seeded games in their order, then the others by name.
    pub fn list(&self) -> Vec<GameSummary> {
        let summaries = lock(&self.summaries);
        let builtin = |name: &str| self.seeded.iter().position(|g| g == name);
        let mut list: Vec<GameSummary> = summaries.values().cloned().collect();
        list.sort_by(|a, b| {
            let key = |s: &GameSummary| (builtin(&s.name).unwrap_or(usize::MAX), s.name.clone());
            key(a).cmp(&key(b))
        });
        list
    }

    /// A game with the source of `version` (default: the latest) and its list of versions.
    pub fn get(&self, name: &str, version: Option<u32>) -> Result<GameDetail, CatalogueError> {
        check_name(name)?;
        let versions = self.store.game_versions(name)?;
        let latest = versions
            .last()
            .map(|(v, _)| *v)
            .ok_or_else(|| CatalogueError::NoSuchGame(name.to_string()))?;
        let wanted = version.unwrap_or(latest);
        let (_, stored) = versions.iter().find(|(v, _)| *v == wanted).ok_or_else(|| {
            CatalogueError::NoSuchVersion {
                name: name.to_string(),
                version: wanted,
            }
        })?;
        Ok(GameDetail {
            name: name.to_string(),
            version: wanted,
            latest,
            description: games::describe(&stored.source),
            source: stored.source.clone(),
            versions: versions
                .iter()
                .map(|(version, g)| VersionInfo {
                    version: *version,
                    created_ms: g.created_ms,
                    bytes: g.source.len(),
                    origin: g.origin.clone(),
                })
                .collect(),
        })
    }

    /// The latest version of `name` and its source.
    pub fn latest(&self, name: &str) -> Result<(GameId, String), CatalogueError> {
        check_name(name)?;
        let missing = || CatalogueError::NoSuchGame(name.to_string());
        let latest = self.store.game_latest(name)?.ok_or_else(missing)?;
        self.version(name, latest)
    }

    /// A new version of `name` was stored: unless the game's policy is `manual`, it is the
    /// one new tables run now. The game's settings after that.
    fn stored_new(&self, name: &str, version: u32) -> Result<Settings, StoreError> {
        let mut settings = self.settings(name)?;
        // No current version set: the latest is current already.
        if settings.policy != Policy::Manual && settings.current.is_some() {
            settings.current = Some(version);
            let json = serde_json::to_vec(&settings).expect("settings serialise");
            self.store.put_game_settings(name, &json)?;
        }
        self.show_settings(name, settings);
        Ok(settings)
    }

    /// The current version of `name` and its source: what `hello` and `define` by name run.
    pub fn current(&self, name: &str) -> Result<(GameId, String), CatalogueError> {
        check_name(name)?;
        let missing = || CatalogueError::NoSuchGame(name.to_string());
        let latest = self.store.game_latest(name)?.ok_or_else(missing)?;
        let version = self.settings(name)?.current.unwrap_or(latest);
        self.version(name, version)
    }

    /// Stores `source` as the next version of `name` after compiling it (not running it). An
    /// unchanged source stores nothing. Blocks on the compile and the flush: call it off the
    /// async threads.
    pub fn upload(&self, name: &str, source: &str) -> Result<Uploaded, CatalogueError> {
        self.check(name, source)?;
        let _one_at_a_time = lock(&self.uploads);
        let latest = self.store.game_latest(name)?;
        if let Some(version) = latest {
            let current = self.store.game_version(name, version)?;
            if current.is_some_and(|c| c.source == source) {
                return Ok(Uploaded {
                    name: name.to_string(),
                    version,
                    created: false,
                    policy: self.settings(name)?.policy,
                });
            }
        }
        let id = GameId {
            name: name.to_string(),
            version: latest.unwrap_or(0) + 1,
        };
        let stored = StoredGame {
            source: source.to_string(),
            created_ms: now_ms(),
            origin: ORIGIN_UPLOAD.to_string(),
        };
        self.store.put_game(&id, &stored)?;
        self.remember(name, id.version, &stored);
        let settings = self.stored_new(name, id.version)?;
        tracing::info!(game = %id, bytes = source.len(), "game uploaded");
        Ok(Uploaded {
            name: id.name,
            version: id.version,
            created: true,
            policy: settings.policy,
        })
    }

    /// Checks an upload as [`Catalogue::upload`] does (name, size, compile), storing nothing.
    pub fn check(&self, name: &str, source: &str) -> Result<(), CatalogueError> {
        check_name(name)?;
        if source.len() > self.max_source {
            return Err(CatalogueError::TooLarge {
                length: source.len(),
                limit: self.max_source,
            });
        }
        ggs_js::compile_check(source)?;
        Ok(())
    }

    /// Stores `source` as version `version` of `name`, an upload another node of the cluster
    /// (or this one) published, unless this node has that version: true if it stored it. A
    /// version held here with another source stays (the conflict is logged). Blocks on the
    /// flush: call it off the async threads.
    pub fn adopt(&self, name: &str, version: u32, source: &str) -> Result<bool, CatalogueError> {
        check_name(name)?;
        let _one_at_a_time = lock(&self.uploads);
        if let Some(held) = self.store.game_version(name, version)? {
            if held.source != source {
                tracing::warn!(
                    game = name,
                    version,
                    "the cluster's version differs from this node's; keeping this node's"
                );
            }
            return Ok(false);
        }
        let id = GameId {
            name: name.to_string(),
            version,
        };
        let stored = StoredGame {
            source: source.to_string(),
            created_ms: now_ms(),
            origin: ORIGIN_UPLOAD.to_string(),
        };
        self.store.put_game(&id, &stored)?;
        self.remember(name, version, &stored);
        self.stored_new(name, version)?;
        tracing::info!(game = %id, bytes = source.len(), "game from the cluster's catalogue");
        Ok(true)
    }

    /// The catalogue version whose source is exactly `source` (the latest, if several are).
    pub fn identify(&self, source: &str) -> Option<GameId> {
        let candidates = lock(&self.index).get(&hash(source)).cloned()?;
        candidates.into_iter().rev().find(|id| {
            self.store
                .game_version(&id.name, id.version)
                .ok()
                .flatten()
                .is_some_and(|g| g.source == source)
        })
    }
}

fn check_name(name: &str) -> Result<(), CatalogueError> {
    if valid_name(name) {
        Ok(())
    } else {
        Err(CatalogueError::BadName(name.chars().take(64).collect()))
    }
}

fn hash(source: &str) -> u64 {
    let mut hasher = DefaultHasher::new();
    source.hash(&mut hasher);
    hasher.finish()
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: usize = 64 * 1024;

    fn open(dir: &std::path::Path) -> Catalogue {
        Catalogue::open(Store::open(dir).unwrap(), LIMIT, &Seed::builtin()).unwrap()
    }

    #[test]
    fn the_built_in_games_are_there_at_first_start() {
        let dir = tempfile::tempdir().unwrap();
        let catalogue = open(dir.path());
        let names: Vec<String> = catalogue.list().into_iter().map(|g| g.name).collect();
        let builtin: Vec<&str> = games::GAMES.iter().map(|g| g.name).collect();
        assert_eq!(names, builtin);
        let (id, source) = catalogue.current("chat").unwrap();
        assert_eq!(id.version, 1);
        assert_eq!(source, games::find("chat").unwrap().source);
        assert_eq!(catalogue.identify(&source), Some(id));
        assert_eq!(catalogue.identify("function playerCommand() {}"), None);
    }

    #[test]
    fn policies_and_the_current_version_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let v = |n: u32| format!("// v{n}\nfunction playerCommand() {{}}\n");
        {
            let catalogue = open(dir.path());
            catalogue.upload("g", &v(1)).unwrap();
            catalogue.upload("g", &v(2)).unwrap();
            assert_eq!(catalogue.current("g").unwrap().0.version, 2);
            // A rollback of every table makes v1 current; the next upload is current again.
            catalogue.set_current("g", 1).unwrap();
            assert_eq!(catalogue.current("g").unwrap().0.version, 1);
            assert_eq!(catalogue.upload("g", &v(3)).unwrap().version, 3);
            assert_eq!(catalogue.current("g").unwrap().0.version, 3);
            // Manual: an upload is stored, and new tables keep the current version.
            let summary = catalogue.set_policy("g", Policy::Manual).unwrap();
            assert_eq!((summary.current, summary.policy), (3, Policy::Manual));
            let up = catalogue.upload("g", &v(4)).unwrap();
            assert_eq!((up.version, up.policy), (4, Policy::Manual));
            assert_eq!(catalogue.current("g").unwrap().0.version, 3);
            assert!(catalogue.set_current("g", 9).is_err());
        }
        let catalogue = open(dir.path());
        let summary = catalogue.summary("g").unwrap();
        assert_eq!(
            (summary.version, summary.current, summary.policy),
            (4, 3, Policy::Manual)
        );
        assert_eq!(catalogue.current("g").unwrap().0.version, 3);
    }

    #[test]
    fn uploads_add_versions_and_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        {
            let catalogue = open(dir.path());
            let v1 = catalogue
                .upload("echo", "function playerCommand() {}")
                .unwrap();
            assert_eq!((v1.version, v1.created), (1, true));
            let same = catalogue
                .upload("echo", "function playerCommand() {}")
                .unwrap();
            assert_eq!((same.version, same.created), (1, false));
            let v2 = catalogue
                .upload(
                    "echo",
                    "// Echo: says it back.\nfunction playerCommand() {}",
                )
                .unwrap();
            assert_eq!((v2.version, v2.created), (2, true));
            let chat = catalogue.upload("chat", "// Chat, replaced.\n").unwrap();
            assert_eq!(chat.version, 2);
        }
        // A restart keeps the uploads, and does not put the built-in chat back over one.
        let catalogue = open(dir.path());
        let echo = catalogue.get("echo", None).unwrap();
        assert_eq!((echo.version, echo.latest), (2, 2));
        assert_eq!(echo.description, "Echo: says it back.");
        assert_eq!(echo.versions.len(), 2);
        assert_eq!(
            catalogue.get("echo", Some(1)).unwrap().source,
            "function playerCommand() {}"
        );
        assert_eq!(catalogue.current("chat").unwrap().0.version, 2);
        let names: Vec<String> = catalogue.list().into_iter().map(|g| g.name).collect();
        assert_eq!(names.last().map(String::as_str), Some("echo"));
    }

    #[test]
    fn bad_uploads_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let catalogue = open(dir.path());
        let code = |name: &str, source: &str| catalogue.upload(name, source).unwrap_err().code();
        assert_eq!(code("Bad Name", "1"), "bad_game_name");
        assert_eq!(code("../x", "1"), "bad_game_name");
        assert_eq!(code(&"x".repeat(MAX_GAME_NAME + 1), "1"), "bad_game_name");
        assert_eq!(code("broken", "function ("), "compile_error");
        assert_eq!(code("huge", &" ".repeat(LIMIT + 1)), "body_too_large");
        let err = catalogue
            .upload("broken", "var a;\nvar b = );")
            .unwrap_err();
        assert!(err.to_string().contains("at line 2"), "{err}");
        assert!(catalogue.current("broken").is_err());
        assert_eq!(
            catalogue.current("nope").unwrap_err().code(),
            "no_such_game"
        );
        assert_eq!(
            catalogue.get("chat", Some(9)).unwrap_err().code(),
            "no_such_game"
        );
    }
}
