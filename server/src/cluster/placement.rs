//! Where a new table goes: a pure decision on the members' published load.
//!
//! A new table goes to the node the player is connected to, unless that node is draining or
//! above its share; then to the least loaded member that is not draining (fewest live tables,
//! then least CPU, then the name, so every node decides the same on the same view).

/// Live tables a node may have above the members' mean before it counts as above its share
/// (so a small cluster does not send every other table elsewhere).
pub const SHARE_SLACK: usize = 4;

/// What placement knows of one member: its published load.
#[derive(Debug, Clone, PartialEq)]
pub struct Load<'a> {
    /// The node's name.
    pub name: &'a str,
    /// Tables awake on it.
    pub live_tables: usize,
    /// Its CPU use, in cores (1.0: one core busy).
    pub cpu: f64,
    /// It takes no new tables.
    pub draining: bool,
}

/// Why placement chose the node it chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The node the player is connected to.
    Connected,
    /// The least loaded member: the connected node is draining.
    ConnectedDraining,
    /// The least loaded member: the connected node is above its share.
    ConnectedAboveShare,
    /// Every member drains: the connected node keeps the table rather than refusing it.
    AllDraining,
}

impl Reason {
    /// A stable word for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Connected => "connected",
            Reason::ConnectedDraining => "connected_draining",
            Reason::ConnectedAboveShare => "connected_above_share",
            Reason::AllDraining => "all_draining",
        }
    }
}

/// The node a new table goes to and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// The chosen node's name.
    pub node: String,
    /// Why.
    pub reason: Reason,
}

/// Whether `node` has more live tables than the mean over the members that take tables, by
/// more than [`SHARE_SLACK`].
fn above_share(node: &Load, members: &[Load]) -> bool {
    let taking: Vec<&Load> = members.iter().filter(|m| !m.draining).collect();
    if taking.is_empty() {
        return false;
    }
    let total: usize = taking.iter().map(|m| m.live_tables).sum();
    // node > mean + slack, in whole numbers: node * n > total + slack * n.
    node.live_tables * taking.len() > total + SHARE_SLACK * taking.len()
}

/// Where a new table of a player connected to `connected` goes, given the members' load
/// (`connected` among them or not: if not, it counts as a member with `connected_load`).
pub fn place(connected: &Load, members: &[Load]) -> Placement {
    let mut all: Vec<Load> = members.to_vec();
    match all.iter_mut().find(|m| m.name == connected.name) {
        // Its own count is fresher than what it last published.
        Some(me) => *me = connected.clone(),
        None => all.push(connected.clone()),
    }
    let reason = if connected.draining {
        Reason::ConnectedDraining
    } else if above_share(connected, &all) {
        Reason::ConnectedAboveShare
    } else {
        return Placement {
            node: connected.name.to_string(),
            reason: Reason::Connected,
        };
    };
    let least = all.iter().filter(|m| !m.draining).min_by(|a, b| {
        (a.live_tables, a.cpu, a.name)
            .partial_cmp(&(b.live_tables, b.cpu, b.name))
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    match least {
        Some(m) => Placement {
            node: m.name.to_string(),
            reason,
        },
        None => Placement {
            node: connected.name.to_string(),
            reason: Reason::AllDraining,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(name: &str, live_tables: usize, cpu: f64, draining: bool) -> Load<'_> {
        Load {
            name,
            live_tables,
            cpu,
            draining,
        }
    }

    #[test]
    fn the_connected_node_takes_the_table_within_its_share() {
        let a = load("a", 10, 0.9, false);
        let members = [
            a.clone(),
            load("b", 0, 0.0, false),
            load("c", 3, 0.1, false),
        ];
        // With 10: the mean is 13 / 3 = 4.33, and 10 > 4.33 + 4: above its share. With 7:
        // the mean is 10 / 3 = 3.33, and 7 <= 3.33 + 4: within it.
        let a7 = load("a", 7, 0.9, false);
        assert_eq!(
            place(&a7, &members),
            Placement {
                node: "a".into(),
                reason: Reason::Connected
            }
        );
        assert_eq!(
            place(&a, &members),
            Placement {
                node: "b".into(),
                reason: Reason::ConnectedAboveShare
            }
        );
    }

    #[test]
    fn a_draining_node_sends_new_tables_to_the_least_loaded_member() {
        let a = load("a", 0, 0.0, true);
        let members = [
            a.clone(),
            load("b", 5, 0.2, false),
            load("c", 5, 0.1, false),
            load("d", 2, 3.0, true),
        ];
        // b and c have as many tables; c uses less CPU; d drains.
        assert_eq!(
            place(&a, &members),
            Placement {
                node: "c".into(),
                reason: Reason::ConnectedDraining
            }
        );
        // The same load: the name decides, so every node chooses the same.
        let tie = [load("c", 1, 0.5, false), load("b", 1, 0.5, false)];
        assert_eq!(place(&a, &tie).node, "b");
    }

    #[test]
    fn when_every_member_drains_the_connected_node_keeps_the_table() {
        let a = load("a", 3, 0.0, true);
        let members = [load("b", 0, 0.0, true)];
        assert_eq!(
            place(&a, &members),
            Placement {
                node: "a".into(),
                reason: Reason::AllDraining
            }
        );
    }

    #[test]
    fn the_connected_nodes_own_count_wins_over_what_it_published() {
        // It published 0 a moment ago; it has 30 now.
        let a = load("a", 30, 0.0, false);
        let members = [load("a", 0, 0.0, false), load("b", 1, 0.0, false)];
        assert_eq!(place(&a, &members).node, "b");
        // A lone node (or one not yet seen in etcd) is never above its own share.
        assert_eq!(place(&a, &[]).reason, Reason::Connected);
    }
}
