//! Where a table this node does not serve is: another member (with its addresses), a node
//! that is gone, or nowhere. Read from the owner cache the session loop keeps current with a
//! watch on `tables/`, so a `hello` for a table elsewhere costs no etcd round trip; only a
//! table the cache does not know (a very new one, or none) is read from etcd directly, within
//! [`super::etcd::REQUEST_TIMEOUT`].

use super::{Cluster, ClusterError, NodeInfo};

/// Most direct reads of a table's owner from etcd in flight at once (for tables the owner
/// cache does not know: a `hello` naming a table created elsewhere an instant ago, or none);
/// past that, a `hello` is answered from the cache alone (`no_such_table`), so clients naming
/// made-up tables cannot load etcd.
pub const MAX_OWNER_LOOKUPS: usize = 64;

/// Where a table is served, for a node that does not serve it.
#[derive(Debug)]
pub enum Route {
    /// Another member owns it: the client goes there (or is relayed).
    Elsewhere(NodeInfo),
    /// Its owner is not a member now (it died, or lost etcd for longer than its lease): the
    /// table is unavailable until that node is back.
    Gone(String),
    /// etcd cannot be reached: where the table is cannot be known.
    Unknown(ClusterError),
}

impl Cluster {
    /// The node etcd says owns `table`, if the cache knows and it is not this node. A node
    /// does not serve such a table even if it is on its disk (it was moved, or the node
    /// restarted on a data directory another node took over).
    pub fn owned_elsewhere(&self, table: &str) -> Option<String> {
        let view = self.lock();
        view.owners
            .get(table)
            .filter(|owner| owner.as_str() != self.node())
            .cloned()
    }

    /// Whether `ip` is the address of a member's TCP listener as it advertises it (a node
    /// that relays its GGS 1.0 clients here).
    pub fn is_member_address(&self, ip: std::net::IpAddr) -> bool {
        let view = self.lock();
        view.members.values().any(|m| {
            m.name != self.node()
                && m.tcp
                    .as_deref()
                    .and_then(|a| a.parse::<std::net::SocketAddr>().ok())
                    .is_some_and(|a| a.ip() == ip)
        })
    }

    /// Whether `origin` (a page's `Origin`) is the HTTP address a member advertises: its pages
    /// may open a WebSocket here, to follow a table (`next`).
    pub fn is_member_origin(&self, origin: &str) -> bool {
        let origin = origin.trim().trim_end_matches('/').to_ascii_lowercase();
        let view = self.lock();
        view.members.values().any(|m| {
            m.http
                .as_deref()
                .is_some_and(|h| h.trim_end_matches('/').eq_ignore_ascii_case(&origin))
        })
    }

    /// Whether the owner cache has been read from etcd once (until then, a node serves what
    /// its disk has, as while etcd is unreachable).
    pub fn owners_loaded(&self) -> bool {
        self.lock().owners_loaded
    }

    /// Where `table` is, for a node that does not serve it: `None` if no node owns it (no
    /// such table). The cache answers; a table it does not know is read from etcd (a table
    /// created on another node an instant ago). While etcd is unreachable, the answer is
    /// [`Route::Unknown`].
    pub async fn route(&self, table: &str) -> Option<Route> {
        if let Err(e) = self.ensure_available() {
            return Some(Route::Unknown(e));
        }
        let owner = match self.owned_elsewhere(table) {
            Some(owner) => owner,
            None => {
                let _lookup = self.lookups.try_acquire().ok()?;
                match self.owner(table).await {
                    Ok(Some(found)) if found.owner != self.node() => found.owner,
                    Ok(_) => return None,
                    Err(e) => return Some(Route::Unknown(e)),
                }
            }
        };
        let member = self.lock().members.get(&owner).cloned();
        Some(match member {
            Some(info) => Route::Elsewhere(info),
            None => Route::Gone(owner),
        })
    }
}

/// The WebSocket URL of a node whose HTTP routes are at `http` (`http://HOST:PORT`, or
/// `https://`): its `/ws` endpoint with the `ws` (or `wss`) scheme.
pub fn websocket_url(http: &str) -> String {
    let http = http.trim_end_matches('/');
    let rest = http
        .strip_prefix("https://")
        .map(|rest| format!("wss://{rest}"))
        .or_else(|| {
            http.strip_prefix("http://")
                .map(|rest| format!("ws://{rest}"))
        })
        .unwrap_or_else(|| format!("ws://{http}"));
    format!("{rest}/ws")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_s_websocket_url_is_its_http_address_with_the_ws_scheme() {
        assert_eq!(
            websocket_url("http://10.0.0.2:8080"),
            "ws://10.0.0.2:8080/ws"
        );
        assert_eq!(websocket_url("https://a.example/"), "wss://a.example/ws");
        assert_eq!(websocket_url("127.0.0.1:80"), "ws://127.0.0.1:80/ws");
    }
}
