//! Live upgrade: running tables of a game move to another version of it without stopping.
//!
//! An operator (`ggs upgrade`, `POST /api/games/{name}/upgrade`, an upload under the `all`
//! policy) names a game, a version (default: the latest) and which of its tables: some by id,
//! all of them, or a canary of N. Each chosen table gets `TableEvent::Upgrade` in its inbox, so
//! it changes version at an event boundary, after what was queued before and before what comes
//! after (see `table::actor`); its players stay connected. A table whose new version fails to
//! evaluate, or whose `onUpgrade` throws or runs out of time, stays as it was, and the report
//! says why for that table. Upgrading all of a game's tables also makes that version the one
//! new tables run, so rolling back is an upgrade `--to` the older version.
//!
//! "All" means every table on disk whose record runs the game and every live one that does: a
//! table that is not loaded is loaded for its upgrade (and hibernates again when idle).

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;
use uuid::Uuid;

use crate::catalogue::CatalogueError;
use crate::coordinator::Coordinator;
use crate::table::{GameScript, TableEvent};

/// Tables upgrading at once.
pub const UPGRADE_CONCURRENCY: usize = 16;
/// Longest wait for one table's upgrade (queued events first, then the new version's
/// evaluation and `onUpgrade` under the CPU deadline, then the commit).
pub const UPGRADE_TIMEOUT: Duration = Duration::from_secs(30);

/// Which tables of the game an upgrade moves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// These tables.
    Tables(Vec<Uuid>),
    /// Every table of the game.
    All,
    /// The first N tables of the game (by id) not yet on the version.
    Canary(usize),
}

/// The body of `POST /api/games/{name}/upgrade`: at most one of `tables`, `all`, `canary`
/// (none: all).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpgradeRequest {
    /// The version to run [default: the latest].
    #[serde(default)]
    pub to: Option<u32>,
    /// These tables.
    #[serde(default)]
    pub tables: Option<Vec<String>>,
    /// Every table of the game.
    #[serde(default)]
    pub all: bool,
    /// The first N tables of the game not yet on the version.
    #[serde(default)]
    pub canary: Option<usize>,
}

impl UpgradeRequest {
    /// The tables it names, or why it is not a request.
    pub fn selection(&self) -> Result<Selection, String> {
        let chosen = [self.tables.is_some(), self.all, self.canary.is_some()];
        if chosen.iter().filter(|c| **c).count() > 1 {
            return Err("name at most one of tables, all and canary".into());
        }
        if let Some(ids) = &self.tables {
            let ids = ids
                .iter()
                .map(|id| Uuid::parse_str(id).map_err(|_| format!("{id:?} is not a table id")));
            return ids.collect::<Result<_, _>>().map(Selection::Tables);
        }
        Ok(match self.canary {
            Some(n) => Selection::Canary(n),
            None => Selection::All,
        })
    }
}

/// What an upgrade did, table by table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpgradeReport {
    /// The game.
    pub game: String,
    /// The version the tables were to run.
    pub to: u32,
    /// One entry per chosen table, in table id order.
    pub tables: Vec<TableUpgrade>,
}

impl UpgradeReport {
    /// The tables that did not upgrade.
    pub fn failed(&self) -> impl Iterator<Item = &TableUpgrade> {
        self.tables.iter().filter(|t| t.error.is_some())
    }
}

/// One table's part of an [`UpgradeReport`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableUpgrade {
    /// The table id.
    pub table: String,
    /// The version it ran before (`None`: unknown, or a script that is not a catalogue
    /// version).
    pub from: Option<u32>,
    /// Whether it runs the new version now.
    pub upgraded: bool,
    /// Why not: a stable code (`script_error`, `script_timeout`, `other_game`,
    /// `no_such_table`, `table_stopped`, `timeout`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The error's sentence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl TableUpgrade {
    fn failed(table: Uuid, from: Option<u32>, code: &str, message: String) -> Self {
        TableUpgrade {
            table: table.to_string(),
            from,
            upgraded: false,
            error: Some(code.to_string()),
            message: Some(message),
        }
    }
}

/// Upgrades the `selection` of `game`'s tables to version `to` (default: the latest).
pub async fn upgrade(
    coordinator: &Arc<Coordinator>,
    game: &str,
    to: Option<u32>,
    selection: Selection,
) -> Result<UpgradeReport, CatalogueError> {
    let catalogue = coordinator.catalogue().clone();
    let name = game.to_string();
    let (id, source) = blocking(move || {
        let version = match to {
            Some(v) => v,
            None => catalogue.summary(&name)?.version,
        };
        catalogue.version(&name, version)
    })
    .await?;
    let mut ids = match &selection {
        Selection::Tables(ids) => ids.clone(),
        Selection::All | Selection::Canary(_) => coordinator.tables_running(game).await?,
    };
    if let Selection::Canary(n) = selection {
        let live = coordinator.tables();
        let on_version = |t: &Uuid| {
            live.iter().any(|s| {
                s.id == t.to_string()
                    && s.game.as_deref() == Some(game)
                    && s.version == Some(id.version)
            })
        };
        ids.retain(|t| !on_version(t));
        ids.truncate(n);
    }
    let script = GameScript {
        id: id.clone(),
        source,
    };
    let mut tables: Vec<TableUpgrade> = futures::stream::iter(ids)
        .map(|table| one(coordinator, table, script.clone()))
        .buffer_unordered(UPGRADE_CONCURRENCY)
        .collect()
        .await;
    tables.sort_by(|a, b| a.table.cmp(&b.table));
    let report = UpgradeReport {
        game: game.to_string(),
        to: id.version,
        tables,
    };
    if selection == Selection::All {
        let catalogue = coordinator.catalogue().clone();
        let (name, version) = (id.name.clone(), id.version);
        blocking(move || catalogue.set_current(&name, version)).await?;
    }
    let failed = report.failed().count();
    tracing::info!(game = %id, tables = report.tables.len(), failed, "upgrade done");
    Ok(report)
}

/// Upgrades one table.
async fn one(coordinator: &Coordinator, table: Uuid, script: GameScript) -> TableUpgrade {
    let handle = match coordinator.find(table).await {
        Ok(Some(handle)) => handle,
        Ok(None) => {
            let why = format!("no table {table}");
            return TableUpgrade::failed(table, None, "no_such_table", why);
        }
        Err(e) => return TableUpgrade::failed(table, None, "store_error", e.to_string()),
    };
    let from = handle.info().summary(handle.id()).version;
    let (done, outcome) = oneshot::channel();
    let upgrade = TableEvent::Upgrade { game: script, done };
    let waited = tokio::time::timeout(UPGRADE_TIMEOUT, async {
        handle.send_wait(upgrade).await.map_err(|e| e.code())?;
        outcome.await.map_err(|_| "table_stopped")
    })
    .await;
    match waited {
        Ok(Ok(Ok(before))) => TableUpgrade {
            table: table.to_string(),
            from: before.map(|g| g.version),
            upgraded: true,
            error: None,
            message: None,
        },
        Ok(Ok(Err(e))) => {
            tracing::warn!(%table, "upgrade failed: {e}");
            TableUpgrade::failed(table, from, e.code(), e.to_string())
        }
        Ok(Err(code)) => TableUpgrade::failed(table, from, code, "the table has stopped".into()),
        Err(_) => {
            let why = format!("no answer within {} s", UPGRADE_TIMEOUT.as_secs());
            TableUpgrade::failed(table, from, "timeout", why)
        }
    }
}

async fn blocking<T: Send + 'static>(
    call: impl FnOnce() -> Result<T, CatalogueError> + Send + 'static,
) -> Result<T, CatalogueError> {
    tokio::task::spawn_blocking(call)
        .await
        .expect("a catalogue call does not panic")
}
