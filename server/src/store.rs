//! The sled store: table records, scripts and both storage namespaces, in one tree.
//!
//! Key layout (one tree, so one `sled::Batch` can commit any set of changes atomically):
//! - `t/<table-id>`         table record (JSON: created, defined)
//! - `c/<table-id>`         the table's script source
//! - `g/<table-id>`         `GGS.state` (JSON)
//! - `s/<table-id>/<player-id>`  a held seat (empty value)
//! - `l/<table-id>/<key>`   `GGS.localStorage`
//! - `w/<table-id>/<key>`   `GGS.world`
//!
//! Table ids are UUIDs of fixed length, so a table's prefix never matches another table's keys.

use std::path::Path;

use ggs_js::{Namespace, Storage, Write};
use serde::{Deserialize, Serialize};

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
    /// The game script, if one was defined.
    #[serde(skip)]
    pub script: Option<String>,
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
        let prefix = format!("s/{id}/").into_bytes();
        let mut seats = Vec::new();
        for item in self.db.scan_prefix(&prefix) {
            let (k, _) = item?;
            seats.push(String::from_utf8_lossy(&k[prefix.len()..]).into_owned());
        }
        Ok(Some(LoadedTable {
            record,
            storage,
            seats,
        }))
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

    /// Makes everything applied so far durable (fsync).
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }
}

/// A table as loaded from the store.
#[derive(Debug, Clone)]
pub struct LoadedTable {
    /// Its record (with the script).
    pub record: TableRecord,
    /// Storage, state and tick.
    pub storage: Storage,
    /// Players whose seats are held.
    pub seats: Vec<String>,
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

    /// Holds a seat for `player`, or (`held: false`) releases it.
    pub fn seat(&mut self, id: &str, player: &str, held: bool) {
        let key = format!("s/{id}/{player}").into_bytes();
        self.ops.push((key, held.then(Vec::new)));
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

fn table_key(id: &str) -> Vec<u8> {
    format!("t/{id}").into_bytes()
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

#[cfg(test)]
mod tests {
    use super::*;

    const T: &str = "6f1c2b1e-0000-4000-8000-000000000001";

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
}
