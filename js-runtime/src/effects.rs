//! What one event produced: the storage writes to commit, and the messages to send and the
//! emits to hand to the application once durable.

/// One of the two per-table key/value namespaces of the 2011 API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Namespace {
    /// `GGS.localStorage`: data independent of the game state.
    Local,
    /// `GGS.world`: the game state.
    World,
}

impl Namespace {
    /// Both namespaces, in a fixed order.
    pub const ALL: [Namespace; 2] = [Namespace::Local, Namespace::World];

    /// Index of the namespace in arrays of two.
    pub fn index(self) -> usize {
        match self {
            Namespace::Local => 0,
            Namespace::World => 1,
        }
    }
}

/// A storage write: set `key` to `value`, or remove it when `value` is `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    /// Which namespace.
    pub ns: Namespace,
    /// The key.
    pub key: String,
    /// The new value, or `None` to remove the key.
    pub value: Option<String>,
}

/// Who a message is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recipient {
    /// One player, by id.
    Player(String),
    /// Every player seated at the table when the message is released.
    All,
}

/// A message a script sent with `GGS.sendCommand` or `GGS.sendCommandToAll`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The recipient(s).
    pub to: Recipient,
    /// The client command (`Client-Command` in GGS 1.0).
    pub command: String,
    /// The body.
    pub args: String,
}

/// A `GGS.emit(name, payload)`: handed to the embedding application once its event is durable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Emit {
    /// The name the script gave.
    pub name: String,
    /// The payload, as JSON (`null` when the script gave none).
    pub payload: serde_json::Value,
}

/// Everything one successful event produced, to be committed as one transaction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Effects {
    /// Storage writes, at most one per key, in key order.
    pub writes: Vec<Write>,
    /// Messages, in the order the script sent them.
    pub messages: Vec<Message>,
    /// Emits, in the order the script made them.
    pub emits: Vec<Emit>,
    /// The new `GGS.state` JSON, when the event changed it.
    pub state: Option<String>,
    /// The new tick interval in milliseconds (0: stopped), when the event changed it.
    pub tick: Option<u32>,
    /// Testing only (`Limits::fault_injection`): the table's task should panic.
    pub fault: bool,
}
