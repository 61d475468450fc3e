//! ggs-server: hosts GGS games over TCP (GGS 1.0) and HTTP (WebSocket and a JSON API), each
//! table a QuickJS runtime whose state is committed to sled; as a library, inside an
//! application's own tokio runtime and axum router.
//!
//! # Embedding
//!
//! A [`Builder`] says where the data lives, with which settings ([`Config`]), which games the
//! catalogue offers (the built-in ones, and games registered from code) and whether a GGS 1.0
//! TCP listener runs; [`Builder::start`] starts the server on the caller's tokio runtime and
//! gives a [`Ggs`] handle. [`Ggs::router`] is an axum [`Router`](axum::Router) with the
//! WebSocket endpoint (`/ws`), the HTTP API (`/api/...`), `/metrics` and, optionally, the web
//! client; the application serves it on its own listener, at the root or nested under a
//! prefix. [`Ggs::shutdown`] stops it gracefully; [`Ggs::stopped`] resolves if it stops by
//! itself (a fatal store error). The `ggs` binary is built on this API alone.
//!
//! ```
//! use std::net::SocketAddr;
//!
//! # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! let ggs = ggs_server::Builder::new()
//!     .data_dir(dir.path())
//!     .builtin_games(false)
//!     .game("echo", "// Echo: says it back.\nfunction playerCommand(p, c, a) { GGS.sendCommand(p, c, a); }")
//!     .web_client(false)
//!     .start()
//!     .await?;
//! let app = axum::Router::new()
//!     .route("/", axum::routing::get(|| async { "my application" }))
//!     .nest("/game", ggs.router());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let serving = tokio::spawn(async move {
//!     let app = app.into_make_service_with_connect_info::<SocketAddr>();
//!     axum::serve(listener, app).await
//! });
//! // ... players connect to ws://<address>/game/ws ...
//! ggs.shutdown().await?;
//! serving.abort();
//! # Ok(())
//! # }
//! ```
//!
//! The application decides who plays with an auth hook ([`Builder::auth`], see [`auth`]): it
//! is asked at the WebSocket upgrade and at every `hello`, and the [`Identity`] it gives is
//! the player's (scripts read it with `GGS.playerInfo(player)`). [`Ggs::observe`] is a stream
//! of what happens at the tables ([`Observation`]), for its analytics or moderation.
//!
//! The wire format is public too: [`protocol`] has the GGS 1.0 framing, the line mode, the
//! WebSocket JSON mapping and the messages, for clients, tools and the fuzz targets. The bodies
//! of the HTTP API are in [`api`]; [`admin`] finds a server's admin token in its data
//! directory.
//!
//! ```
//! use bytes::BytesMut;
//! use ggs_server::protocol::ggs10::{Decoded, Decoder};
//! use ggs_server::protocol::message::{ClientMessage, Query};
//!
//! let mut decoder = Decoder::new(64 * 1024);
//! let mut bytes = BytesMut::from(&b"Server-Command: whoami\r\nContent-Length: 0\r\n\r\n"[..]);
//! let Ok(Some(Decoded::Frame(frame))) = decoder.decode(&mut bytes) else {
//!     panic!("one whole frame");
//! };
//! let (message, meta) = ClientMessage::from_frame(&frame).expect("a known command");
//! assert_eq!(message, ClientMessage::Query(Query::Whoami));
//! assert_eq!(meta.versions, None, "a 2011 client offers no versions");
//! ```
//!
//! # Codemap
//!
//! In the order a message travels (every module but `config` and `protocol` is private):
//! - `embed`: the public API: [`Builder`], [`Ggs`], [`ServerError`]; the server's life from
//!   start to a graceful stop.
//! - `net`: accept loops; `net::conn` runs every connection, `net::tcp` (GGS 1.0 and line
//!   mode) and `net::ws` supply its framing, `net::http` has the routes, `net::admin` decides
//!   who may use them (Host, Origin, the admin token kept on disk).
//! - [`protocol`]: [`protocol::ggs10`] framing (parse, exact writer), [`protocol::line`] the
//!   human line mode, [`protocol::json`] the WebSocket mapping, [`protocol::message`] the
//!   transport-neutral messages both ways (`ClientMessage`, `ServerMessage`).
//! - `session`: one connected player: identity, seat, what each message does; asks the
//!   [`auth`] hook at each `hello`.
//! - [`auth`]: the application's auth hook and the identities it gives; [`observe`]: the
//!   observers' channel of table events.
//! - `coordinator`: the lobby: create, find and load tables; never on a game command's path.
//! - `catalogue`: named games and their versions, which `hello` and `define` can name.
//! - `cluster`: a node of a cluster on etcd (only with [`config::ClusterSettings`]):
//!   membership under a lease, the owner of every table, placement of new tables.
//! - `table`: the table actor: one event at a time through the VM, then to the committer.
//! - `commit`: group commit and the output gate: messages leave only once durable.
//! - `store`: the sled store.
//! - `outbox`: a connection's bounded outbound queue; [`config`]: every setting.
//!
//! Arrows point down only: embed -> net -> session -> coordinator -> table -> (ggs-js,
//! commit -> store). `protocol`, `config` and `auth` are leaves (`observe` imports only
//! `auth`); `outbox` imports only `protocol` (the message it carries).

#![deny(missing_docs)]

pub mod auth;
pub(crate) mod catalogue;
pub(crate) mod cluster;
pub(crate) mod commit;
pub mod config;
pub(crate) mod coordinator;
mod embed;
pub(crate) mod games;
pub(crate) mod handoff;
pub(crate) mod net;
pub mod observe;
pub(crate) mod outbox;
pub mod protocol;
pub(crate) mod session;
pub(crate) mod store;
pub(crate) mod table;
pub(crate) mod table_info;
pub(crate) mod telemetry;
pub(crate) mod upgrade;

pub use auth::{AuthRefusal, AuthRequest, Authenticate, Identity};
/// Why a cluster operation failed (`cluster_unavailable`, ...), or a node could not start.
pub use cluster::ClusterError;
pub use config::Config;
pub use embed::{Builder, Ggs, ServerError};
/// The limits on every table's script runtime ([`Config::limits`]), from `ggs-js`.
pub use ggs_js::limits;
/// Why a host function could not be registered ([`Builder::host_function`]).
pub use ggs_js::HostFunctionError;
pub use observe::{Observation, Observations};
pub use store::StoreError;

/// The bodies of the HTTP API's answers (`GET /api/games`, `PUT /api/games/{name}`,
/// `GET /api/tables`, every error), for clients of a running server.
pub mod api {
    pub use crate::catalogue::{
        CatalogueError, GameDetail, GameSummary, Policy, Uploaded, VersionInfo, ORIGIN_BUILTIN,
        ORIGIN_UPLOAD,
    };
    pub use crate::cluster::NodeInfo;
    pub use crate::net::http::ApiError;
    pub use crate::table_info::{TableSummary, CUSTOM_GAME};
    pub use crate::upgrade::{TableUpgrade, UpgradeReport, UpgradeRequest};
}

/// The admin token (`Authorization: Bearer` of uploads and stopping tables): where a server
/// keeps it in its data directory, and how a tool on the same machine reads it.
pub mod admin {
    pub use crate::net::admin::{read_token, token_path, TokenError, TokenSource, TOKEN_FILE};
}
