//! Who owns each table: `tables/<id>` -> the owner's name. Claimed by a transaction on
//! `create_revision == 0` (exactly one node gets a table), read back with its `mod_revision`,
//! moved only by a transaction comparing that revision (the fencing token: a node acting on an
//! old view cannot take a table back).

use std::collections::HashMap;

use etcd_client::{Client, Compare, CompareOp, GetOptions, Txn, TxnOp, TxnOpResponse};

use super::etcd::bounded;
use super::{Cluster, ClusterError, Ownership, KEY_PREFIX};

/// The key of table `id`'s owner.
pub(super) fn table_key(id: &str) -> String {
    format!("{KEY_PREFIX}tables/{id}")
}

/// The prefix of every table's owner key.
pub(super) fn tables_prefix() -> String {
    format!("{KEY_PREFIX}tables/")
}

impl Cluster {
    /// Claims `table` for this node: `table_owned` if another node (or this one) owns it.
    // The handoff's API (claim, read, move by the fencing token): its tests use it now.
    #[allow(dead_code)]
    pub async fn claim(&self, table: &str) -> Result<Ownership, ClusterError> {
        self.ensure_available()?;
        claim(&mut self.client.clone(), table, self.node()).await
    }

    /// Who owns `table` in etcd, with the revision to move it by; `None`: nobody.
    pub async fn owner(&self, table: &str) -> Result<Option<Ownership>, ClusterError> {
        self.ensure_available()?;
        let mut client = self.client.clone();
        let got = bounded(client.get(table_key(table), None)).await?;
        Ok(got.kvs().first().map(|kv| Ownership {
            owner: String::from_utf8_lossy(kv.value()).into_owned(),
            revision: kv.mod_revision(),
        }))
    }

    /// The owner of every table in etcd, by table id (read in pages).
    pub async fn owners(&self) -> Result<HashMap<String, String>, ClusterError> {
        self.ensure_available()?;
        Ok(read_owners(&mut self.client.clone()).await?.0)
    }

    /// Moves `table` to node `to`, if its owner key is still at `revision` (the fencing
    /// token a handoff read with [`Cluster::owner`]); `ownership_changed` otherwise, and
    /// `cluster_unavailable` while etcd is unreachable. The new ownership's revision is the
    /// next move's token.
    // The handoff's API (claim, read, move by the fencing token): its tests use it now.
    #[allow(dead_code)]
    pub async fn move_owner(
        &self,
        table: &str,
        revision: i64,
        to: &str,
    ) -> Result<Ownership, ClusterError> {
        self.ensure_available()?;
        let key = table_key(table);
        let txn = Txn::new()
            .when([Compare::mod_revision(
                key.clone(),
                CompareOp::Equal,
                revision,
            )])
            .and_then([TxnOp::put(key.clone(), to, None)])
            .or_else([TxnOp::get(key, None)]);
        let mut client = self.client.clone();
        let done = bounded(client.txn(txn)).await?;
        if done.succeeded() {
            return Ok(Ownership {
                owner: to.to_string(),
                revision: done.header().map_or(0, |h| h.revision()),
            });
        }
        Err(ClusterError::Fenced {
            table: table.to_string(),
            owner: first_kv(&done).map(|(owner, _)| owner),
        })
    }
}

/// Owner keys read from etcd per request when a node reads them all (about 100 bytes each,
/// so a page stays well under the gRPC client's 4 MiB message limit).
pub const OWNERS_PAGE: i64 = 10_000;

/// The owner of every table in etcd, by table id, and the revision of that read (to watch
/// from): read in pages of [`OWNERS_PAGE`] keys, every page at the first page's revision.
pub(super) async fn read_owners(
    client: &mut Client,
) -> Result<(HashMap<String, String>, i64), ClusterError> {
    read_owners_paged(client, OWNERS_PAGE).await
}

/// [`read_owners`], `page` keys per request.
pub(super) async fn read_owners_paged(
    client: &mut Client,
    page: i64,
) -> Result<(HashMap<String, String>, i64), ClusterError> {
    let prefix = tables_prefix();
    // The end of the prefix's range: its last byte ('/') plus one.
    let mut end = prefix.clone().into_bytes();
    if let Some(last) = end.last_mut() {
        *last += 1;
    }
    let mut owners = HashMap::new();
    let mut from = prefix.clone().into_bytes();
    let mut revision = 0;
    loop {
        let mut options = GetOptions::new().with_range(end.clone()).with_limit(page);
        if revision > 0 {
            options = options.with_revision(revision);
        }
        let got = bounded(client.get(from.clone(), Some(options))).await?;
        if revision == 0 {
            revision = got.header().map_or(0, |h| h.revision());
        }
        for kv in got.kvs() {
            let key = String::from_utf8_lossy(kv.key());
            if let Some(id) = key.strip_prefix(&prefix) {
                owners.insert(
                    id.to_string(),
                    String::from_utf8_lossy(kv.value()).into_owned(),
                );
            }
        }
        match got.kvs().last() {
            Some(last) if got.more() => {
                // The next page starts just after the last key read.
                from = last.key().to_vec();
                from.push(0);
            }
            _ => return Ok((owners, revision)),
        }
    }
}

impl Cluster {
    /// Applies watched changes of `tables/` to the owner cache.
    pub(super) fn owners_changed(&self, events: &[etcd_client::Event]) {
        let prefix = tables_prefix();
        let mut view = self.lock();
        for event in events {
            let Some(kv) = event.kv() else { continue };
            let key = String::from_utf8_lossy(kv.key());
            let Some(id) = key.strip_prefix(&prefix) else {
                continue;
            };
            match event.event_type() {
                etcd_client::EventType::Put => {
                    let owner = String::from_utf8_lossy(kv.value()).into_owned();
                    view.owners.insert(id.to_string(), owner);
                }
                etcd_client::EventType::Delete => {
                    view.owners.remove(id);
                }
            }
        }
    }
}

/// The first key of a transaction's `get` answer: its value as text and `mod_revision`.
fn first_kv(done: &etcd_client::TxnResponse) -> Option<(String, i64)> {
    done.op_responses().into_iter().find_map(|r| match r {
        TxnOpResponse::Get(got) => got.kvs().first().map(|kv| {
            (
                String::from_utf8_lossy(kv.value()).into_owned(),
                kv.mod_revision(),
            )
        }),
        _ => None,
    })
}

/// Claims `table` for `node`: puts its owner key only if it was never created.
pub(super) async fn claim(
    client: &mut Client,
    table: &str,
    node: &str,
) -> Result<Ownership, ClusterError> {
    let key = table_key(table);
    let txn = Txn::new()
        .when([Compare::create_revision(key.clone(), CompareOp::Equal, 0)])
        .and_then([TxnOp::put(key.clone(), node, None)])
        .or_else([TxnOp::get(key, None)]);
    let done = bounded(client.txn(txn)).await?;
    if done.succeeded() {
        return Ok(Ownership {
            owner: node.to_string(),
            revision: done.header().map_or(0, |h| h.revision()),
        });
    }
    let (owner, revision) = first_kv(&done).unwrap_or_default();
    Err(ClusterError::Owned {
        table: table.to_string(),
        owner,
        revision,
    })
}
