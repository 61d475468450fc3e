//! The catalogue in etcd, so an upload on any node is seen by all: each uploaded version is
//! `games/<name>/<version>` -> its source, its number claimed by a transaction on
//! `create_revision == 0` (two nodes uploading at once get two versions, never one number
//! for two sources). Every node reads them all when its session starts and watches for more,
//! handing each to the catalogue (which stores the versions it does not have).
//!
//! The built-in games are not published: every node seeds them from its own binary.

use etcd_client::{Client, Compare, CompareOp, GetOptions, SortOrder, SortTarget, Txn, TxnOp};

use super::etcd::{bounded, games_prefix};
use super::{Cluster, ClusterError};

/// Attempts to claim a version number before an upload gives up (another node took each
/// number first: uploads of one game racing on several nodes).
pub const PUBLISH_ATTEMPTS: usize = 8;
/// Digits of a version in its key, so keys sort as versions do.
const VERSION_DIGITS: usize = 10;

/// A version another node published (or this one), for the catalogue to store.
pub type GameHandler = Box<dyn Fn(String, u32, String) + Send + Sync>;

/// The key of version `version` of `name`.
fn game_key(name: &str, version: u32) -> String {
    format!(
        "{}{name}/{version:0width$}",
        games_prefix(),
        width = VERSION_DIGITS
    )
}

/// `(name, version)` of a game key.
pub(super) fn parse_game_key(key: &str) -> Option<(String, u32)> {
    let rest = key.strip_prefix(&games_prefix())?;
    let (name, version) = rest.rsplit_once('/')?;
    Some((name.to_string(), version.parse().ok()?))
}

impl Cluster {
    /// Hands every published version to `handler` from now on (set once, before the node
    /// registers).
    pub fn on_game(&self, handler: GameHandler) {
        if self.games.set(handler).is_err() {
            tracing::warn!("the cluster's game handler was set twice; the first stays");
        }
    }

    /// Hands a published version to the catalogue.
    pub(super) fn game_published(&self, key: &[u8], source: &[u8]) {
        let Some((name, version)) = parse_game_key(&String::from_utf8_lossy(key)) else {
            return;
        };
        let Ok(source) = String::from_utf8(source.to_vec()) else {
            tracing::warn!(
                game = name,
                version,
                "a published game is not UTF-8; skipped"
            );
            return;
        };
        if let Some(handler) = self.games.get() {
            handler(name, version, source);
        }
    }

    /// Publishes `source` (already checked) as the next version of `name`: the one after the
    /// latest in etcd and this node's latest (`local`: its number, and whether its source is
    /// this one). `(version, created)`: `created` false when the latest version, published or
    /// (if none is later) this node's, already has this source.
    /// `cluster_unavailable` while etcd is unreachable: an upload is a change every node
    /// must see.
    pub async fn publish_game(
        &self,
        name: &str,
        source: &str,
        local: Option<(u32, bool)>,
    ) -> Result<(u32, bool), ClusterError> {
        let local_latest = local.map(|(version, _)| version);
        self.ensure_available()?;
        let mut client = self.client.clone();
        for _ in 0..PUBLISH_ATTEMPTS {
            let (latest, same) = latest_published(&mut client, name, source).await?;
            if let (Some(version), true) = (latest, same) {
                return Ok((version, false));
            }
            if let Some((version, true)) = local {
                if latest.is_none_or(|published| published <= version) {
                    return Ok((version, false));
                }
            }
            let next = latest.max(local_latest).unwrap_or(0) + 1;
            let key = game_key(name, next);
            let txn = Txn::new()
                .when([Compare::create_revision(key.clone(), CompareOp::Equal, 0)])
                .and_then([TxnOp::put(key, source, None)]);
            if bounded(client.txn(txn)).await?.succeeded() {
                return Ok((next, true));
            }
        }
        Err(ClusterError::Unavailable(format!(
            "another node took each of {PUBLISH_ATTEMPTS} version numbers of {name} first; \
             upload again"
        )))
    }
}

/// The latest published version of `name`, and whether its source is `source`.
async fn latest_published(
    client: &mut Client,
    name: &str,
    source: &str,
) -> Result<(Option<u32>, bool), ClusterError> {
    let prefix = format!("{}{name}/", games_prefix());
    let options = GetOptions::new()
        .with_prefix()
        .with_sort(SortTarget::Key, SortOrder::Descend)
        .with_limit(1);
    let got = bounded(client.get(prefix, Some(options))).await?;
    let Some(kv) = got.kvs().first() else {
        return Ok((None, false));
    };
    let version = parse_game_key(&String::from_utf8_lossy(kv.key())).map(|(_, v)| v);
    Ok((version, kv.value() == source.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn game_keys_sort_as_versions_and_read_back() {
        let (k9, k10) = (game_key("chat", 9), game_key("chat", 10));
        assert!(k9 < k10, "{k9} {k10}");
        assert_eq!(parse_game_key(&k10), Some(("chat".to_string(), 10)));
        assert_eq!(parse_game_key("ggs/games/chat"), None);
        assert_eq!(parse_game_key("ggs/nodes/a/1"), None);
    }
}
