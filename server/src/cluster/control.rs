//! What an operator asks of the cluster's nodes, kept in etcd under `control/`, so a request
//! made on any node reaches the node it is for, and outlives restarts:
//! - `control/drain/<node>`: the node takes no new tables and hands every table it owns to
//!   the others (until the key is deleted: `undrain`). A node that restarts drained stays
//!   drained.
//! - `control/rebalance`: rewritten for each request; every node that owns more than its share
//!   of the live tables hands the excess to the least loaded members.
//!
//! And `secret`: made once, by the first node that finds none (a transaction on
//! `create_revision == 0`), read by every node at each session: the shared secret that a
//! node's internal handoff requests carry (`GGS-Cluster-Secret`).
//!
//! Each node acts only on its own tables (only the owner hands a table over); the work is in
//! `crate::handoff`, which waits on [`Cluster::control_changed`].

use std::sync::atomic::Ordering;

use etcd_client::{Client, Compare, CompareOp, EventType, GetOptions, Txn, TxnOp};

use super::etcd::bounded;
use super::{Cluster, ClusterError, KEY_PREFIX};

/// The prefix of every control key.
pub(super) fn control_prefix() -> String {
    format!("{KEY_PREFIX}control/")
}

fn drain_key(node: &str) -> String {
    format!("{KEY_PREFIX}control/drain/{node}")
}

fn rebalance_key() -> String {
    format!("{KEY_PREFIX}control/rebalance")
}

fn secret_key() -> String {
    format!("{KEY_PREFIX}secret")
}

impl Cluster {
    /// Drains node `node` (`on`) or takes it back (`!on`), wherever it is asked: recorded in
    /// etcd, acted on by that node.
    pub async fn set_drain(&self, node: &str, on: bool) -> Result<(), ClusterError> {
        self.ensure_available()?;
        let mut client = self.client.clone();
        match on {
            true => bounded(client.put(drain_key(node), "drain", None)).await?,
            false => {
                bounded(client.delete(drain_key(node), None)).await?;
                return Ok(());
            }
        };
        Ok(())
    }

    /// Asks every node to hand the tables above its share to the least loaded members.
    pub async fn request_rebalance(&self) -> Result<(), ClusterError> {
        self.ensure_available()?;
        let mut client = self.client.clone();
        let request = uuid::Uuid::new_v4().to_string();
        bounded(client.put(rebalance_key(), request, None)).await?;
        Ok(())
    }

    /// Resolves when an operator's request for this node may have changed (drained,
    /// undrained, a rebalance asked): see [`Cluster::draining`], [`Cluster::take_rebalance`].
    pub async fn control_changed(&self) {
        self.control.notified().await
    }

    /// Whether a rebalance was asked since the last call.
    pub fn take_rebalance(&self) -> bool {
        self.rebalance.swap(false, Ordering::AcqRel)
    }

    /// The shared secret of the cluster's internal requests, once read from etcd.
    pub fn secret(&self) -> Option<String> {
        self.lock().secret.clone()
    }

    /// Notes at once that `owner` owns `table` now (a handoff this node made), before the
    /// watch says so.
    pub fn note_owner(&self, table: &str, owner: &str) {
        self.lock()
            .owners
            .insert(table.to_string(), owner.to_string());
    }

    /// The tables etcd last said this node owns (the owner cache).
    pub fn owned_by_me(&self) -> Vec<String> {
        let view = self.lock();
        view.owners
            .iter()
            .filter(|(_, owner)| owner.as_str() == self.node())
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Reads, at a session's start, whether this node is drained, and the cluster's secret
    /// (made if there is none yet); returns the revision to watch `control/` from.
    pub(super) async fn read_control(&self, client: &mut Client) -> Result<i64, ClusterError> {
        let secret = read_secret(client).await?;
        let got = bounded(client.get(drain_key(self.node()), None)).await?;
        let revision = got.header().map_or(0, |h| h.revision());
        self.lock().secret = Some(secret);
        self.set_draining(!got.kvs().is_empty());
        Ok(revision)
    }

    /// Applies watched changes of `control/`.
    pub(super) fn control_events(&self, events: &[etcd_client::Event]) {
        let mine = drain_key(self.node());
        for event in events {
            let Some(kv) = event.kv() else { continue };
            let key = String::from_utf8_lossy(kv.key());
            if key == mine {
                self.set_draining(event.event_type() == EventType::Put);
            } else if key == rebalance_key() && event.event_type() == EventType::Put {
                self.rebalance.store(true, Ordering::Release);
                self.control.notify_one();
            }
        }
    }

    fn set_draining(&self, on: bool) {
        let was = self.draining.swap(on, Ordering::AcqRel);
        if was != on {
            tracing::info!(
                node = self.node(),
                draining = on,
                "{}",
                match on {
                    true =>
                        "draining: taking no new tables, handing this node's tables to the others",
                    false => "undrained: taking tables again",
                }
            );
            // The next load report publishes it.
            self.wake.notify_one();
        }
        self.control.notify_one();
    }
}

/// The cluster's secret, made by the first node that finds none.
async fn read_secret(client: &mut Client) -> Result<String, ClusterError> {
    let key = secret_key();
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| ClusterError::Unavailable(e.to_string()))?;
    let fresh: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let txn = Txn::new()
        .when([Compare::create_revision(key.clone(), CompareOp::Equal, 0)])
        .and_then([TxnOp::put(key.clone(), fresh.clone(), None)])
        .or_else([TxnOp::get(key.clone(), None)]);
    let done = bounded(client.txn(txn)).await?;
    if done.succeeded() {
        return Ok(fresh);
    }
    let got = bounded(client.get(key, Some(GetOptions::new()))).await?;
    got.kvs()
        .first()
        .map(|kv| String::from_utf8_lossy(kv.value()).into_owned())
        .ok_or_else(|| ClusterError::Unavailable("the cluster's secret vanished".into()))
}
