//! One connected player: identity, seat and what each client message does.
//!
//! A session is transport-neutral: the connection loop decodes messages into
//! [`ClientMessage`]s and calls [`Session::handle`]; replies go to the session's [`Outbox`],
//! which the connection's writer drains. A player has a public id (what scripts, other players,
//! `who` and logs see) and a secret resume token (the first field of the `hello` reply): a
//! `hello` carrying the token takes back the seat held after a dropped connection or a restart;
//! one carrying anything else (a public id, a wrong or expired token) is refused with
//! `bad_token` and changes nothing.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::oneshot;
use uuid::Uuid;

use crate::auth::{self, AuthRequest, AuthStage, Connection, Identity};
use crate::catalogue::CatalogueError;
use crate::cluster::route::Route;
use crate::cluster::NodeInfo;
use crate::coordinator::Coordinator;
use crate::outbox::Outbox;
use crate::protocol::message::{
    negotiate, speaks, ClientMessage, Meta, Query, ServerMessage, SharedVersion, TableRef, Version,
};
use crate::protocol::token::Token;
use crate::table::{GameScript, JoinRefused, Moved, Seated, TableEvent, TableHandle};

/// Longest wait for a table to send what a leaving (or table-switching) player's messages caused.
const FLUSH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// Source of connection numbers, so a table can tell an old connection's leave from a new one's.
static NEXT_CONN: AtomicU64 = AtomicU64::new(1);

/// A connected player.
pub struct Session {
    /// The public player id.
    player: Arc<str>,
    /// The secret that takes this player's seats back.
    token: Token,
    conn: u64,
    outbox: Outbox,
    seat: Option<TableHandle>,
    /// The protocol version negotiated on this connection.
    version: Version,
    /// The same, for the connection's writer, which renders every reply in it.
    shared_version: SharedVersion,
    /// Tables this connection created.
    created: usize,
    coordinator: Arc<Coordinator>,
    connected: Arc<AtomicU64>,
    /// What the connection brings to the auth hook: its upgrade's headers, its peer, and the
    /// identity it has so far.
    connection: Connection,
    /// Line mode's `/auth`: the credential the next `hello`s carry.
    credential: Option<String>,
    /// A `hello` asked for a table another node of the cluster serves: where it is, for the
    /// connection to send the client there (or relay it); taken by [`Session::take_elsewhere`].
    elsewhere: Option<Elsewhere>,
}

/// A table another node of the cluster serves, that a `hello` asked for.
#[derive(Debug, Clone)]
pub struct Elsewhere {
    /// The table.
    pub table: String,
    /// Its owner, as it publishes itself (its addresses).
    pub node: NodeInfo,
}

impl Session {
    /// A new player (a UUID v4 public id and a fresh resume token) whose replies go to
    /// `outbox`; counted as connected until dropped.
    pub fn new(outbox: Outbox, coordinator: Arc<Coordinator>, connected: Arc<AtomicU64>) -> Self {
        connected.fetch_add(1, Ordering::Relaxed);
        Session {
            player: Arc::from(Uuid::new_v4().to_string()),
            token: Token::generate(),
            conn: NEXT_CONN.fetch_add(1, Ordering::Relaxed),
            outbox,
            seat: None,
            version: Version::default(),
            shared_version: SharedVersion::default(),
            created: 0,
            coordinator,
            connected,
            connection: Connection::default(),
            credential: None,
            elsewhere: None,
        }
    }

    /// The connection came with `connection` (its peer; over a WebSocket, the upgrade's
    /// headers and the identity the auth hook gave there), for the auth hook at each `hello`.
    pub(crate) fn connected_by(&mut self, connection: Connection) {
        self.connection = connection;
    }

    /// Where the table the last `hello` asked for is served, if another node serves it (the
    /// `hello` was not answered: the connection sends the client there, or relays it).
    pub(crate) fn take_elsewhere(&mut self) -> Option<Elsewhere> {
        self.elsewhere.take()
    }

    /// The public player id.
    pub fn player(&self) -> &str {
        &self.player
    }

    /// The connection's queue.
    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }

    /// Replies with an error to this player only, in order with the table's messages to them
    /// (see [`Session::reply`]).
    pub async fn error(&self, code: &str, detail: &str) {
        self.reply(ServerMessage::error(code, Some(detail))).await;
    }

    /// Replies to this player only. When seated, the reply goes through the table's inbox, so it
    /// keeps its place after the replies to the player's earlier messages (still in the inbox
    /// or waiting for their flush). A full inbox makes this connection wait for room, as the
    /// backpressure a full inbox means: an error to a refused command (`overloaded`,
    /// `rate_limited`) must not overtake the replies to the commands before it.
    pub async fn reply(&self, message: ServerMessage) {
        if let Some(table) = &self.seat {
            let reply = TableEvent::Reply {
                outbox: self.outbox.clone(),
                message: message.clone(),
            };
            if table.send_wait(reply).await.is_ok() {
                return;
            }
        }
        // Not seated, or the table has stopped: nothing of the table's is still to come.
        self.outbox.deliver(message);
    }

    /// Waits (a bounded time) until the table has sent everything this player's earlier
    /// messages caused, so a goodbye, or the `hello` of another table, comes after all of it.
    pub async fn flushed(&self) {
        let Some(table) = &self.seat else { return };
        let (done, rx) = oneshot::channel();
        let _ = tokio::time::timeout(FLUSH_TIMEOUT, async {
            if table.send_wait(TableEvent::Flush { done }).await.is_ok() {
                let _ = rx.await;
            }
        })
        .await;
    }

    /// The protocol version the connection speaks.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The connection's version as its writer reads it (`None` until the client offers one).
    pub fn shared_version(&self) -> SharedVersion {
        self.shared_version.clone()
    }

    /// Agrees on a version with a client that offered `offered`: the highest both speak (see
    /// [`negotiate`]). From here on, replies are in it: the ones to the message that offered
    /// it too. A seated player's table is told first, so the message's replies are already
    /// numbered (or no longer). Offering no version this server speaks is refused with
    /// `unsupported_version` and changes nothing.
    async fn negotiate(&mut self, offered: &[String]) -> bool {
        let version = match negotiate(offered) {
            Ok(version) => version,
            Err(e) => {
                self.error(e.code(), &e.to_string()).await;
                return false;
            }
        };
        // The writer first: once the table numbers the seat's messages (or stops), each of
        // them is written in the version it was made for.
        self.shared_version.set(version);
        if version != self.version {
            if let Some(table) = &self.seat {
                let change = TableEvent::Version {
                    player: self.player.clone(),
                    conn: self.conn,
                    version,
                };
                // Waits for room rather than lose it: the seat's numbering depends on it.
                let _ = table.send_wait(change).await;
            }
            tracing::debug!(player = %self.player, %version, "protocol version negotiated");
        }
        self.version = version;
        true
    }

    /// Does what one client message asks, with what travels beside it (`meta`). A message
    /// offering versions negotiates first; when that fails, the message is not run.
    pub async fn handle(&mut self, message: ClientMessage, meta: Meta) {
        if let Some(offered) = &meta.versions {
            if !self.negotiate(offered).await {
                return;
            }
        }
        if let (Some(n), Some(table)) = (meta.ack, &self.seat) {
            if self.version.exactly_once() {
                let ack = TableEvent::Ack {
                    player: self.player.clone(),
                    n,
                };
                // An acknowledgement only frees memory: one the table has no room for now is
                // carried by the next.
                let _ = table.send(ack);
            }
        }
        match message {
            ClientMessage::Hello {
                table,
                token,
                game,
                auth,
            } => self.hello(table, token, game, auth, meta.ack).await,
            ClientMessage::Auth { credential } => {
                self.credential = Some(credential);
                let kept = match self.coordinator.auth() {
                    Some(_) => "your next hello carries it",
                    None => "this server asks for no credential: everyone plays anonymously",
                };
                self.reply(ServerMessage::new("auth", kept)).await;
            }
            ClientMessage::Ack => {}
            ClientMessage::Define { source } => {
                if self.seat.is_none() {
                    return self.not_seated().await;
                }
                let player = self.player.clone();
                // A script that is exactly a catalogue version runs under that game's name.
                let game = self.coordinator.catalogue().identify(&source);
                self.to_table(TableEvent::Define {
                    player,
                    source,
                    game,
                })
                .await;
            }
            ClientMessage::DefineGame { name } => {
                if self.seat.is_none() {
                    return self.not_seated().await;
                }
                let (id, source) = match self.coordinator.catalogue().current(&name) {
                    Ok(found) => found,
                    Err(e) => return self.catalogue_error(e).await,
                };
                let player = self.player.clone();
                self.to_table(TableEvent::Define {
                    player,
                    source,
                    game: Some(id),
                })
                .await;
            }
            ClientMessage::Query(query) => self.query(query).await,
            ClientMessage::Game { command, args } => {
                let player = self.player.clone();
                self.to_table(TableEvent::Command {
                    player,
                    command,
                    args,
                    // Numbered commands are GGS 1.1's; a 1.0 connection's run as in 2011.
                    seq: meta.seq.filter(|_| self.version.exactly_once()),
                })
                .await;
            }
        }
    }

    /// Answers a query: the catalogue, the live tables, the player's own public id, or (from
    /// the table) its players.
    async fn query(&self, query: Query) {
        let body = match query {
            Query::Whoami => vec![self.player.to_string()],
            Query::Version => vec![format!(
                "{} (this server speaks {})",
                self.version(),
                speaks()
            )],
            Query::Who => {
                let (player, outbox) = (self.player.clone(), self.outbox.clone());
                return self.to_table(TableEvent::Who { player, outbox }).await;
            }
            Query::Games => self
                .coordinator
                .catalogue()
                .list()
                .iter()
                .map(|g| format!("{} v{}: {}", g.name, g.version, g.description))
                .collect::<Vec<_>>(),
            Query::Tables => self
                .coordinator
                .tables()
                .iter()
                .map(|t| {
                    let game = match (&t.game, t.version) {
                        (Some(game), Some(v)) => format!("{game} v{v}"),
                        (Some(game), None) => game.clone(),
                        (None, _) => "(no game yet)".to_string(),
                    };
                    let s = if t.players == 1 { "" } else { "s" };
                    format!("{} {game}, {} player{s}", t.id, t.players)
                })
                .collect(),
        };
        self.reply(ServerMessage::new(query.name(), body.join("\n")))
            .await;
    }

    async fn not_seated(&self) {
        self.error("not_seated", "say hello to create or join a table first")
            .await;
    }

    async fn catalogue_error(&self, e: CatalogueError) {
        if let CatalogueError::Store(e) = &e {
            tracing::error!("reading the catalogue: {e}");
        }
        let detail = match &e {
            CatalogueError::NoSuchGame(_) => format!("{e}; /games lists them"),
            _ => e.to_string(),
        };
        self.error(e.code(), &detail).await;
    }

    async fn hello(
        &mut self,
        table: Option<TableRef>,
        token: Option<Token>,
        game: Option<String>,
        auth: Option<String>,
        ack: Option<u64>,
    ) {
        let identity = match self.authenticate(&table, &game, auth).await {
            Ok(identity) => identity,
            Err(why) => {
                tracing::debug!(player = %self.player, "a hello was refused by the auth hook: {why}");
                return self.error("unauthorized", &why).await;
            }
        };
        let creating = table.is_none();
        // A new table of a catalogue game runs it from its first event.
        let define = match (&table, game) {
            (None, Some(name)) => match self.coordinator.catalogue().current(&name) {
                Ok((id, source)) => Some(GameScript { id, source }),
                Err(e) => return self.catalogue_error(e).await,
            },
            _ => None,
        };
        let handle = match table {
            None if self.created >= self.coordinator.tables_per_connection() => {
                let max = self.coordinator.tables_per_connection();
                let why = format!("a connection may create at most {max} tables");
                return self.error("too_many_tables", &why).await;
            }
            None => {
                self.created += 1;
                self.coordinator.create()
            }
            Some(TableRef::Unknown(_)) => return self.no_such_table().await,
            Some(TableRef::Id(id)) => match self.coordinator.find(id).await {
                Ok(Some(handle)) => handle,
                Ok(None) => return self.not_here(id).await,
                Err(e) => {
                    tracing::error!("loading table {id}: {e}");
                    let why = "the table could not be loaded";
                    return self.error("store_error", why).await;
                }
            },
        };
        let moving = self.seat.as_ref().is_some_and(|s| s.id() != handle.id());
        if moving {
            // The new table's replies come after everything the old one still has to send.
            self.flushed().await;
        }
        let (reply, seated) = oneshot::channel();
        let join = TableEvent::Join {
            player: self.player.clone(),
            token: self.token.clone(),
            resume: self.resume_token(token, creating),
            outbox: self.outbox.clone(),
            conn: self.conn,
            reply,
            define,
            version: self.version,
            ack,
            identity: identity.clone(),
        };
        if let Err(e) = handle.send(join) {
            return self.error(e.code(), &e.to_string()).await;
        }
        // The table says which seat this connection now has, or that its token holds none.
        match seated.await {
            Ok(Ok(seated)) => {
                // The seat at the table it left is held for the grace period, as after a drop.
                if moving {
                    self.leave();
                }
                self.take_seat(seated, handle);
                if identity.is_some() {
                    self.connection.identity = identity;
                }
            }
            // The table moved while the hello waited: it is asked where it went.
            Ok(Err(JoinRefused::Moved(_))) => match Uuid::parse_str(handle.id()) {
                Ok(id) => self.not_here(id).await,
                Err(_) => self.no_such_table().await,
            },
            Ok(Err(refused)) => self.bad_token(refused).await,
            Err(_) => {}
        }
    }

    /// Asks the application's auth hook, if there is one, about a `hello` (of `table`, `None`
    /// when creating one of `game`, with `credential` or else the one `/auth` set): the
    /// player's identity (`None`: no hook, anonymous), or why not.
    async fn authenticate(
        &self,
        table: &Option<TableRef>,
        game: &Option<String>,
        credential: Option<String>,
    ) -> Result<Option<Identity>, String> {
        let Some(hook) = self.coordinator.auth().cloned() else {
            return Ok(None);
        };
        let request = AuthRequest {
            stage: AuthStage::Hello,
            headers: self.connection.headers.clone(),
            peer: self.connection.peer,
            credential: credential.or_else(|| self.credential.clone()),
            identity: self.connection.identity.clone(),
            table: table.as_ref().map(|t| match t {
                TableRef::Id(id) => id.to_string(),
                TableRef::Unknown(text) => text.clone(),
            }),
            game: game.clone().filter(|_| table.is_none()),
        };
        auth::ask(&hook, request).await.map(Some)
    }

    /// The token a `hello` presents to take back a seat: none when it creates a table (a new
    /// table has no seat to take back) or when it is this connection's own token (the
    /// connection already is that player: a 2011 client may echo its token on every message).
    fn resume_token(&self, presented: Option<Token>, creating: bool) -> Option<Token> {
        presented.filter(|t| !creating && *t != self.token)
    }

    /// The connection is now the player of `seated`, at the table of `handle`; its token is
    /// the seat's (a seat taken back keeps its public id and token).
    fn take_seat(&mut self, seated: Seated, handle: TableHandle) {
        self.player = seated.player;
        self.token = seated.token;
        self.seat = Some(handle);
    }

    /// The reply to a `hello` whose token holds no seat (or a seat of another account): the
    /// connection stays as it was.
    async fn bad_token(&self, refused: JoinRefused) {
        tracing::debug!(player = %self.player, "a hello was refused a seat: {refused}");
        self.error(refused.code(), &refused.to_string()).await;
    }

    /// A `hello` for a table this node does not serve: on a node of a cluster, where etcd
    /// says it is (another member: noted for the connection, see [`Session::take_elsewhere`];
    /// a node that is gone: `table_unavailable` naming it; etcd unreachable:
    /// `cluster_unavailable`); otherwise, and when no node owns it, `no_such_table`. Nothing
    /// changes here.
    async fn not_here(&mut self, id: Uuid) {
        let route = match self.coordinator.cluster() {
            Some(cluster) => cluster.route(&id.to_string()).await,
            None => None,
        };
        match route {
            None => self.no_such_table().await,
            Some(Route::Elsewhere(node)) => {
                tracing::debug!(player = %self.player, table = %id, node = %node.name, "a hello for a table of another node");
                self.elsewhere = Some(Elsewhere {
                    table: id.to_string(),
                    node,
                });
            }
            Some(Route::Gone(node)) => {
                let why = format!(
                    "table {id} is served by node {node}, which is not in the cluster now (it \
                     stopped, or lost etcd); it is served again when {node} is back"
                );
                self.error("table_unavailable", &why).await
            }
            Some(Route::Unknown(e)) => self.error(e.code(), &e.to_string()).await,
        }
    }

    /// The 2011 reply to a hello naming no table we have: exactly `no_such_table` (through the
    /// table when seated, like every error).
    async fn no_such_table(&self) {
        self.reply(ServerMessage::error("no_such_table", None))
            .await;
    }

    /// Queues an event at the player's table without waiting; a full inbox refuses it with
    /// `overloaded` (which itself waits for its place, see [`Session::reply`]).
    async fn to_table(&self, event: TableEvent) {
        let Some(table) = &self.seat else {
            return self.not_seated().await;
        };
        if let Err(e) = table.send_player(event) {
            self.error(e.code(), &e.to_string()).await;
        }
    }

    /// Resolves once the player's table was handed to another node, with where it went (never,
    /// while not seated): the connection then sends its client there, or relays it.
    pub fn relocated(&self) -> impl std::future::Future<Output = Arc<Moved>> + Send + 'static {
        let relocation = self.seat.as_ref().map(|h| h.relocation().clone());
        async move {
            match relocation {
                Some(relocation) => relocation.wait().await,
                None => std::future::pending().await,
            }
        }
    }

    /// The table the player sits at, if seated.
    pub fn table(&self) -> Option<&TableHandle> {
        self.seat.as_ref()
    }

    /// The secret that takes the player's seat back (for a relay that resumes it at the
    /// table's new node).
    pub(crate) fn token(&self) -> &Token {
        &self.token
    }

    /// Gives up the connection's seat: the table holds it for the grace period.
    fn leave(&mut self) {
        if let Some(table) = self.seat.take() {
            let leave = TableEvent::Leave {
                player: self.player.clone(),
                conn: self.conn,
            };
            // A full inbox must not lose a leave: hand it over without blocking this task.
            if let Err(crate::table::TableSendError::Overloaded) = table.send(leave) {
                let (player, conn) = (self.player.clone(), self.conn);
                tokio::spawn(async move {
                    let _ = table.send_wait(TableEvent::Leave { player, conn }).await;
                });
            }
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.leave();
        self.connected.fetch_sub(1, Ordering::Relaxed);
    }
}
