//! The HTTP routes (axum): the web client, the WebSocket endpoint and the JSON API, as one
//! [`Router`] the application serves on its own listener (the `ggs` binary on its HTTP port),
//! at the root or nested under a prefix (`/game/ws`, `/game/api/...`). Every handler reaches
//! the server through the [`Gate`]: once the server has stopped, it answers `503`
//! `server_stopped` and holds nothing of it. The handlers that need the peer's address (the
//! WebSocket endpoint, for the per-address limit; admin requests, for the log) read axum's
//! `ConnectInfo<SocketAddr>`: the router must be served with
//! `into_make_service_with_connect_info::<SocketAddr>()`, or they answer `500`
//! `no_peer_address`.
//!
//! - `/`, `/*.html`, `/*.js`, `/*.css`: the web client (`web-client/`, embedded in the binary);
//!   `/admin` is the operator's console (`admin.html`), whose API calls need the admin token
//! - `GET /ws`: the WebSocket endpoint ([`super::ws`])
//! - `GET /api/health`, `GET /api/tables` (tables in use, hibernated ones marked)
//! - the catalogue: `GET /api/games`, `GET /api/games/{name}` (source and versions, JSON),
//!   `GET /api/games/{name}.js` (the latest source), `GET /api/games/{name}/{version}`, and
//!   `PUT /api/games/{name}` (upload, `?policy=` to set the game's policy with it; admin)
//! - live upgrade: `POST /api/games/{name}/upgrade` (JSON [`UpgradeRequest`]; answers an
//!   [`UpgradeReport`]) and `PUT /api/games/{name}/policy` (`{"policy": "manual" | "new-tables"
//!   | "all"}`), both admin
//! - `POST /api/tables/{id}/stop` (admin)
//! - `GET /api/nodes`: the cluster's members (a node of a cluster only);
//!   `POST /api/nodes/{name}/drain` and `/undrain`, `POST /api/nodes/rebalance` (admin: a
//!   request recorded in etcd, acted on by the node it is for, see `handoff`);
//!   `POST /api/tables/{id}/handoff?to=NODE` (admin: one table, answered when it moved);
//!   `GET /api/handoffs` (this node's handoff figures)
//! - `/internal/tables/{id}`: a handoff between nodes (`PUT` the export, `POST .../start`,
//!   `DELETE`), with the cluster's secret in `GGS-Cluster-Secret` instead of the admin token;
//!   exempt from the Host and origin rules (no page can send that header)
//! - `GET /metrics`: Prometheus text format
//!
//! Every request passes [`guard`] first: its `Host` must be one the server answers to, a
//! request that may change the server must not come from a page of another origin, and a CORS
//! preflight gets `204` with no `Access-Control-Allow-*` header, so browsers send no
//! cross-origin request that needs one. A WebSocket must come from the server's own pages, an
//! allowed origin, or no page; admin requests need `Authorization: Bearer <admin token>`.
//! The rules themselves are in [`super::admin`].

use std::net::SocketAddr;
use std::sync::atomic::Ordering;

use axum::body::Bytes;
use axum::extract::{
    ConnectInfo, DefaultBodyLimit, FromRequestParts, Path, Query, RawQuery, Request, State,
    WebSocketUpgrade,
};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::admin::Refusal;
use super::{ws, Gate, Hub, Phase};
use crate::auth::{self, AuthRequest, AuthStage, Connection};
use crate::catalogue::{Catalogue, CatalogueError, Policy, Uploaded};
use crate::cluster::route::Route;
use crate::cluster::NodeInfo;
use crate::telemetry;
use crate::upgrade::{self, Selection, UpgradeRequest};

/// Bytes of a WebSocket connection's read buffer (messages larger than this still arrive whole).
const WS_READ_BUFFER: usize = 8 * 1024;

/// One file of the web client: its path under `/`, content type and bytes.
struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static str,
}

/// Declares an embedded web-client file: `asset!("name", CONTENT_TYPE)`.
macro_rules! asset {
    ($file:literal, $type:expr) => {
        Asset {
            path: $file,
            content_type: $type,
            body: include_str!(concat!("../../../web-client/", $file)),
        }
    };
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// Every file of `web-client/` (a unit test checks none is missing).
const ASSETS: &[Asset] = &[
    asset!("index.html", HTML),
    asset!("chat.html", HTML),
    asset!("tictactoe.html", HTML),
    asset!("pong.html", HTML),
    asset!("console.html", HTML),
    asset!("admin.html", HTML),
    asset!("style.css", CSS),
    asset!("ggs.js", JS),
    asset!("page.js", JS),
    asset!("lobby.js", JS),
    asset!("chat.js", JS),
    asset!("tictactoe.js", JS),
    asset!("pong.js", JS),
    asset!("console.js", JS),
    asset!("admin.js", JS),
];

/// The routes over `gate`. Bodies of uploads may be `max_body` bytes; without `web_client`,
/// paths that are not routes answer `404` instead of serving the web client's files.
/// The handlers hold the server's `alive` channel only weakly: idle HTTP keep-alive
/// connections must not delay a shutdown; open WebSockets hold it.
pub fn router(gate: Gate, max_body: usize, web_client: bool) -> Router {
    // An uploaded script may be as large as a `define` body.
    let upload_limit = max_body;
    let router = Router::new()
        .route("/ws", get(websocket))
        .route("/api/health", get(health))
        .route("/api/games", get(game_list))
        .route(
            "/api/games/{name}",
            get(game_source)
                .put(upload)
                .layer(DefaultBodyLimit::max(upload_limit)),
        )
        .route("/api/games/{name}/{version}", get(game_version))
        .route("/api/games/{name}/upgrade", post(upgrade_game))
        .route("/api/games/{name}/policy", put(set_policy))
        .route("/api/tables", get(tables))
        .route("/api/tables/{id}/stop", post(stop_table))
        .route("/api/nodes", get(nodes))
        .route("/api/nodes/rebalance", post(rebalance))
        .route("/api/nodes/{name}/{action}", post(drain_node))
        .route("/api/tables/{id}/handoff", post(handoff_table))
        .route("/api/handoffs", get(handoff_stats))
        .route(
            "/internal/tables/{id}",
            put(import_table)
                .delete(abort_import)
                .layer(DefaultBodyLimit::max(crate::handoff::MAX_EXPORT_BYTES)),
        )
        .route("/internal/tables", get(local_tables))
        .route("/internal/tables/{id}/start", post(start_table))
        .route("/metrics", get(metrics));
    let router = match web_client {
        true => router.fallback(get(asset)),
        false => router.fallback(not_found),
    };
    router
        .layer(middleware::from_fn_with_state(gate.clone(), guard))
        .with_state(gate)
}

/// The server behind the gate, for a handler; `503 server_stopped` once it has stopped.
struct Live(Hub);

impl FromRequestParts<Gate> for Live {
    type Rejection = Response;

    async fn from_request_parts(_: &mut Parts, gate: &Gate) -> Result<Live, Response> {
        gate.hub().map(Live).ok_or_else(stopped)
    }
}

/// The answer of every route once the server has stopped.
fn stopped() -> Response {
    failure(
        StatusCode::SERVICE_UNAVAILABLE,
        "server_stopped",
        "this game server has stopped",
    )
}

/// The peer's address, from axum's `ConnectInfo`; `500 no_peer_address` when the router is
/// served without it.
struct Peer(SocketAddr);

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Peer, Response> {
        match parts.extensions.get::<ConnectInfo<SocketAddr>>() {
            Some(ConnectInfo(peer)) => Ok(Peer(*peer)),
            None => Err(failure(
                StatusCode::INTERNAL_SERVER_ERROR,
                "no_peer_address",
                "the application serves the game server's routes without the peer's address: \
                 serve them with into_make_service_with_connect_info::<SocketAddr>()",
            )),
        }
    }
}

/// The `Host` a request was sent to: its header, else its URI's authority (HTTP/2).
fn request_host(headers: &HeaderMap, uri: &Uri) -> Option<String> {
    match headers.get(header::HOST) {
        Some(value) => Some(String::from_utf8_lossy(value.as_bytes()).into_owned()),
        None => uri.authority().map(|a| a.as_str().to_string()),
    }
}

/// A header's value as text, if it is present and text.
fn header_text<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Runs before every route: refuses a `Host` the server does not answer to, answers CORS
/// preflights, and refuses a request that may change the server (any method but GET, HEAD
/// and OPTIONS) from a page of another origin, whatever address it comes from.
async fn guard(State(gate): State<Gate>, request: Request, next: Next) -> Response {
    // Only the rules: a request in flight holds nothing else of the server here.
    let Some(access) = gate.hub().map(|hub| hub.access) else {
        return stopped();
    };
    // A node's internal requests carry the cluster's secret, which no page can send.
    if request.uri().path().starts_with("/internal/") {
        return next.run(request).await;
    }
    let headers = request.headers();
    let host = request_host(headers, request.uri());
    if let Err(refusal) = access.check_host(host.as_deref()) {
        return refuse(&refusal);
    }
    let method = request.method();
    if method == Method::OPTIONS {
        return preflight();
    }
    if method != Method::GET && method != Method::HEAD {
        let origin = header_text(headers, "origin");
        let site = header_text(headers, "sec-fetch-site");
        if let Err(refusal) = access.check_change(host.as_deref(), origin, site) {
            tracing::info!(origin, site, path = %request.uri().path(), "cross-origin request refused");
            return refuse(&refusal);
        }
    }
    next.run(request).await
}

/// The answer to every `OPTIONS` request (a CORS preflight): `204` without any
/// `Access-Control-Allow-*` header, so a browser sends no cross-origin request that needs a
/// preflight (custom headers such as `Authorization`, methods such as PUT) to any route.
fn preflight() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

/// A refusal as its JSON answer; token refusals also say `WWW-Authenticate: Bearer`.
fn refuse(refusal: &Refusal) -> Response {
    let status = StatusCode::from_u16(refusal.status()).expect("a refusal's status is valid");
    let mut response = failure(status, refusal.code(), &refusal.message());
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            "Bearer".parse().expect("a header value"),
        );
    }
    response
}

async fn websocket(
    Live(hub): Live,
    Peer(peer): Peer,
    uri: Uri,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    // A page may play as a player: only the server's own pages, allowed origins, or no page.
    let host = request_host(&headers, &uri);
    let origin = header_text(&headers, "origin");
    if let Err(refusal) = hub.access.check_websocket(host.as_deref(), origin) {
        // A page of another node of the cluster follows its table here (`next`).
        let member = hub.coordinator.cluster().zip(origin);
        if !member.is_some_and(|(cluster, origin)| cluster.is_member_origin(origin)) {
            tracing::info!(%peer, origin, "websocket refused: its origin is not allowed");
            return refuse(&refusal);
        }
    }
    let connection = match upgrade_identity(&hub, peer, &headers).await {
        Ok(connection) => connection,
        Err(why) => {
            tracing::info!(%peer, "websocket refused by the auth hook: {why}");
            return failure(StatusCode::UNAUTHORIZED, "unauthorized", &why);
        }
    };
    let alive = match hub.hold() {
        Some(alive) if *hub.phase.borrow() == Phase::Running => alive,
        _ => {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                "the server is shutting down",
            )
                .into_response()
        }
    };
    let limit = ws::max_message(hub.max_body);
    // A small read buffer: the default (128 KiB) is zero-filled on every read, which showed as
    // the largest single cost of WebSocket traffic under load.
    let upgrade = upgrade
        .max_message_size(limit)
        .max_frame_size(limit)
        .read_buffer_size(WS_READ_BUFFER);
    match hub.limiter.admit(peer.ip()) {
        Ok(admission) => upgrade.on_upgrade(move |socket| async move {
            tracing::debug!(%peer, "websocket connected");
            ws::connection(socket, hub, alive, connection).await;
            drop(admission);
            tracing::debug!(%peer, "websocket disconnected");
        }),
        Err(e) => {
            tracing::info!(%peer, "websocket refused: {e}");
            upgrade.on_upgrade(move |socket| ws::refuse(socket, e))
        }
    }
}

/// What a WebSocket connection brings to its `hello`s: its peer and, when the application
/// has an auth hook, the upgrade's headers and the identity the hook gives now; `Err` with
/// the hook's reason when it refuses the upgrade.
async fn upgrade_identity(
    hub: &Hub,
    peer: SocketAddr,
    headers: &HeaderMap,
) -> Result<Connection, String> {
    let Some(hook) = hub.coordinator.auth().cloned() else {
        return Ok(Connection {
            peer: Some(peer),
            ..Connection::default()
        });
    };
    let request = AuthRequest {
        stage: AuthStage::Upgrade,
        headers: headers.clone(),
        peer: Some(peer),
        credential: None,
        identity: None,
        table: None,
        game: None,
    };
    let identity = auth::ask(&hook, request).await?;
    Ok(Connection {
        headers: headers.clone(),
        peer: Some(peer),
        identity: Some(identity),
    })
}

async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

/// The body of every error answer of the HTTP API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    /// The stable code.
    pub error: String,
    /// A sentence for people.
    pub message: String,
}

/// An error as JSON: `{"error": code, "message": sentence}`.
fn failure(status: StatusCode, code: &str, message: &str) -> Response {
    let body = ApiError {
        error: code.to_string(),
        message: message.to_string(),
    };
    (status, Json(body)).into_response()
}

/// Runs a catalogue call off the async threads (sled reads and writes block); a failure is
/// already the HTTP response.
async fn with_catalogue<T: Send + 'static>(
    hub: &Hub,
    call: impl FnOnce(&Catalogue) -> Result<T, CatalogueError> + Send + 'static,
) -> Result<T, Response> {
    let catalogue = hub.coordinator.catalogue().clone();
    match tokio::task::spawn_blocking(move || call(&catalogue)).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(catalogue_failure(&e)),
        Err(e) => Err(failure(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            &e.to_string(),
        )),
    }
}

fn catalogue_failure(e: &CatalogueError) -> Response {
    let status = match e {
        CatalogueError::NoSuchGame(_) | CatalogueError::NoSuchVersion { .. } => {
            StatusCode::NOT_FOUND
        }
        CatalogueError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        CatalogueError::Store(e) => {
            tracing::error!("catalogue: {e}");
            StatusCode::INTERNAL_SERVER_ERROR
        }
        CatalogueError::BadName(_) | CatalogueError::Compile(_) => StatusCode::BAD_REQUEST,
    };
    failure(status, e.code(), &e.to_string())
}

/// `None` when the request carries the admin token; else the refusal to answer with.
fn refuse_unless_admin(hub: &Hub, peer: SocketAddr, headers: &HeaderMap) -> Option<Response> {
    let authorization = header_text(headers, "authorization");
    match hub.access.check_token(authorization) {
        Ok(()) => None,
        Err(refusal) => {
            tracing::info!(%peer, code = refusal.code(), "admin request refused");
            Some(refuse(&refusal))
        }
    }
}

async fn game_list(Live(hub): Live) -> Response {
    Json(hub.coordinator.catalogue().list()).into_response()
}

/// `{name}`: the game as JSON (latest source and every version); `{name}.js`: the latest
/// source alone, for a client to `define`.
async fn game_source(Live(hub): Live, Path(name): Path<String>) -> Response {
    let (name, raw) = match name.strip_suffix(".js") {
        Some(name) => (name.to_string(), true),
        None => (name, false),
    };
    match with_catalogue(&hub, move |c| c.get(&name, None)).await {
        Ok(game) if raw => ([(header::CONTENT_TYPE, JS)], game.source).into_response(),
        Ok(game) => Json(game).into_response(),
        Err(response) => response,
    }
}

async fn game_version(Live(hub): Live, Path((name, version)): Path<(String, String)>) -> Response {
    let Ok(version) = version.parse::<u32>() else {
        let why = format!("{version:?} is not a version number");
        return failure(StatusCode::NOT_FOUND, "no_such_game", &why);
    };
    match with_catalogue(&hub, move |c| c.get(&name, Some(version))).await {
        Ok(game) => Json(game).into_response(),
        Err(response) => response,
    }
}

/// `PUT /api/games/{name}`: the body is the script. 201 with the new version, 200 when the
/// source is unchanged, 400 with the compile error (`at line L, column C`). With
/// `?policy=P`, the game's policy is set first. Under the `all` policy a new version is
/// rolled out to every table of the game before the answer, which carries its `upgrade`
/// report.
async fn upload(
    Live(hub): Live,
    Peer(peer): Peer,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(refused) = refuse_unless_admin(&hub, peer, &headers) {
        return refused;
    }
    let Ok(source) = String::from_utf8(body.to_vec()) else {
        return failure(
            StatusCode::BAD_REQUEST,
            "bad_encoding",
            "a script must be UTF-8 text",
        );
    };
    // The one parameter an upload takes: `policy`.
    let mut policy = None;
    for pair in query
        .iter()
        .flat_map(|q| q.split('&'))
        .filter(|p| !p.is_empty())
    {
        match pair.split_once('=') {
            Some(("policy", name)) => match parse_policy(name) {
                Ok(p) => policy = Some(p),
                Err(response) => return *response,
            },
            _ => {
                let why = format!("{pair:?}: an upload takes one parameter, policy");
                return failure(StatusCode::BAD_REQUEST, "bad_request", &why);
            }
        }
    }
    let game = name.clone();
    let uploading = match hub.coordinator.cluster() {
        None => with_catalogue(&hub, move |c| c.upload(&game, &source)).await,
        Some(cluster) => upload_to_cluster(&hub, cluster, game, source).await,
    };
    let mut uploaded = match uploading {
        Ok(uploaded) => uploaded,
        Err(response) => return response,
    };
    if let Some(policy) = policy {
        let game = name.clone();
        if let Err(response) = with_catalogue(&hub, move |c| c.set_policy(&game, policy)).await {
            return response;
        }
        uploaded.policy = policy;
    }
    let status = match uploaded.created {
        true => StatusCode::CREATED,
        false => StatusCode::OK,
    };
    let mut answer = serde_json::to_value(&uploaded).expect("an upload's answer serialises");
    if uploaded.created && uploaded.policy == Policy::All {
        let to = Some(uploaded.version);
        match upgrade::upgrade(&hub.coordinator, &name, to, Selection::All).await {
            Ok(report) => answer["upgrade"] = serde_json::json!(report),
            Err(e) => return catalogue_failure(&e),
        }
    }
    (status, Json(answer)).into_response()
}

/// The policy `name`, or the `400 bad_policy` answer.
fn parse_policy(name: &str) -> Result<Policy, Box<Response>> {
    Policy::parse(name).ok_or_else(|| {
        let why = format!("{name:?} is not a policy: manual, new-tables or all");
        Box::new(failure(StatusCode::BAD_REQUEST, "bad_policy", &why))
    })
}

/// `POST /api/games/{name}/upgrade`: moves tables of the game to a version (see
/// [`upgrade`]). 200 with the report, whatever each table did; 404 for an unknown game or
/// version; 400 for a request that names tables two ways.
async fn upgrade_game(
    Live(hub): Live,
    Peer(peer): Peer,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(refused) = refuse_unless_admin(&hub, peer, &headers) {
        return refused;
    }
    let request: UpgradeRequest = match body.is_empty() {
        true => UpgradeRequest::default(),
        false => match serde_json::from_slice(&body) {
            Ok(request) => request,
            Err(e) => return failure(StatusCode::BAD_REQUEST, "bad_json", &e.to_string()),
        },
    };
    let selection = match request.selection() {
        Ok(selection) => selection,
        Err(why) => return failure(StatusCode::BAD_REQUEST, "bad_request", &why),
    };
    tracing::info!(game = %name, %peer, ?selection, to = ?request.to, "an administrator upgrades");
    match upgrade::upgrade(&hub.coordinator, &name, request.to, selection).await {
        Ok(report) => Json(report).into_response(),
        Err(e) => catalogue_failure(&e),
    }
}

/// The body of `PUT /api/games/{name}/policy`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyRequest {
    policy: String,
}

/// `PUT /api/games/{name}/policy`: sets how new versions of the game reach tables; answers
/// the game's list entry.
async fn set_policy(
    Live(hub): Live,
    Peer(peer): Peer,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(refused) = refuse_unless_admin(&hub, peer, &headers) {
        return refused;
    }
    let request: PolicyRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => return failure(StatusCode::BAD_REQUEST, "bad_json", &e.to_string()),
    };
    let policy = match parse_policy(&request.policy) {
        Ok(policy) => policy,
        Err(response) => return *response,
    };
    match with_catalogue(&hub, move |c| c.set_policy(&name, policy)).await {
        Ok(summary) => Json(summary).into_response(),
        Err(response) => response,
    }
}

/// An upload on a node of a cluster: checked here, numbered and published in etcd (so every
/// node stores it), then stored here. `503 cluster_unavailable` while etcd is unreachable.
async fn upload_to_cluster(
    hub: &Hub,
    cluster: &crate::cluster::Cluster,
    name: String,
    source: String,
) -> Result<Uploaded, Response> {
    let (checked, text) = (name.clone(), source.clone());
    let local = with_catalogue(hub, move |c| {
        c.check(&checked, &text)?;
        match c.latest(&checked) {
            Ok((id, latest)) => Ok(Some((id.version, latest == text))),
            Err(CatalogueError::NoSuchGame(_)) => Ok(None),
            Err(e) => Err(e),
        }
    })
    .await?;
    let (version, created) = cluster
        .publish_game(&name, &source, local)
        .await
        .map_err(|e| failure(StatusCode::SERVICE_UNAVAILABLE, e.code(), &e.to_string()))?;
    let game = name.clone();
    let policy = with_catalogue(hub, move |c| {
        c.adopt(&game, version, &source)?;
        Ok(c.summary(&game)?.policy)
    })
    .await?;
    if created {
        tracing::info!(game = %name, version, "game uploaded and published to the cluster");
    }
    Ok(Uploaded {
        name,
        version,
        created,
        policy,
    })
}

/// `POST /api/tables/{id}/stop`: stops a live table; its players get `table_stopped`.
async fn stop_table(
    Live(hub): Live,
    Peer(peer): Peer,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Some(refused) = refuse_unless_admin(&hub, peer, &headers) {
        return refused;
    }
    let no_table = || {
        let why = format!("no live table {id}");
        failure(StatusCode::NOT_FOUND, "no_such_table", &why)
    };
    let Ok(uuid) = uuid::Uuid::parse_str(&id) else {
        return no_table();
    };
    tracing::info!(table = %uuid, %peer, "an administrator stops the table");
    if hub
        .coordinator
        .stop(uuid, "an administrator stopped it")
        .await
    {
        Json(serde_json::json!({ "stopped": uuid.to_string() })).into_response()
    } else if let Some(elsewhere) =
        table_elsewhere(&hub, uuid, &format!("/api/tables/{uuid}/stop")).await
    {
        elsewhere
    } else {
        no_table()
    }
}

/// The answer to a request about table `id` (at `path`) that this node does not serve, on a
/// node of a cluster: `307` to the same path at the owner's advertised HTTP address; `503
/// table_unavailable` if its owner is not in the cluster now (or advertises no HTTP
/// address), `503 cluster_unavailable` while etcd is unreachable. `None`: no node owns it.
async fn table_elsewhere(hub: &Hub, id: uuid::Uuid, path: &str) -> Option<Response> {
    let cluster = hub.coordinator.cluster()?;
    let unavailable = |code: &str, why: &str| failure(StatusCode::SERVICE_UNAVAILABLE, code, why);
    Some(match cluster.route(&id.to_string()).await? {
        Route::Elsewhere(NodeInfo {
            http: Some(http),
            ..
        }) => {
            let location = format!("{}{path}", http.trim_end_matches('/'));
            let mut answer = failure(
                StatusCode::TEMPORARY_REDIRECT,
                "table_elsewhere",
                &format!("table {id} is served at {location}"),
            );
            if let Ok(value) = header::HeaderValue::from_str(&location) {
                answer.headers_mut().insert(header::LOCATION, value);
            }
            answer
        }
        Route::Elsewhere(node) => unavailable(
            "table_unavailable",
            &format!("table {id} is served by node {}, which advertises no HTTP address", node.name),
        ),
        Route::Gone(node) => unavailable(
            "table_unavailable",
            &format!("table {id} is served by node {node}, which is not in the cluster now; it is served again when {node} is back"),
        ),
        Route::Unknown(e) => unavailable(e.code(), &e.to_string()),
    })
}

/// `GET /api/tables`: the tables in use here; on a node of a cluster, each with its owner as
/// etcd says (none while etcd is unreachable).
async fn tables(Live(hub): Live) -> Response {
    let mut tables = hub.coordinator.tables();
    if let Some(cluster) = hub.coordinator.cluster() {
        // The other members' tables too, asked on their internal route.
        let others: Vec<String> = cluster
            .members()
            .unwrap_or_default()
            .into_iter()
            .filter(|m| m.name != cluster.node())
            .filter_map(|m| m.http)
            .collect();
        if let (Some(secret), false) = (cluster.secret(), others.is_empty()) {
            let fetched = tokio::task::spawn_blocking(move || member_tables(&others, &secret))
                .await
                .unwrap_or_default();
            let mut seen: std::collections::HashSet<String> =
                tables.iter().map(|t| t.id.clone()).collect();
            tables.extend(fetched.into_iter().filter(|t| seen.insert(t.id.clone())));
            tables.sort_by(|a, b| (a.created_ms, &a.id).cmp(&(b.created_ms, &b.id)));
        }
        match cluster.owners().await {
            Ok(mut owners) => {
                for table in &mut tables {
                    table.owner = owners.remove(&table.id);
                }
            }
            Err(e) => tracing::debug!("listing the tables' owners: {e}"),
        }
    }
    Json(tables).into_response()
}

/// How long `GET /api/tables` waits for each other member's list.
pub const MEMBER_QUERY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// The tables in use on the members at `urls` (their HTTP addresses), each asked within
/// [`MEMBER_QUERY_TIMEOUT`]; a member that does not answer is left out (logged).
fn member_tables(urls: &[String], secret: &str) -> Vec<crate::table_info::TableSummary> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(MEMBER_QUERY_TIMEOUT))
        .build()
        .into();
    let mut tables = Vec::new();
    for url in urls {
        let url = format!("{}/internal/tables", url.trim_end_matches('/'));
        let answer = agent
            .get(&url)
            .header(crate::handoff::SECRET_HEADER, secret)
            .call()
            .map_err(|e| e.to_string())
            .and_then(|mut r| r.body_mut().read_to_string().map_err(|e| e.to_string()))
            .and_then(|text| {
                serde_json::from_str::<Vec<crate::table_info::TableSummary>>(&text)
                    .map_err(|e| e.to_string())
            });
        match answer {
            Ok(listed) => tables.extend(listed),
            Err(e) => tracing::info!(%url, "a member's tables: {e}"),
        }
    }
    tables
}

/// `GET /internal/tables`: the tables in use on this node (for another member's
/// `GET /api/tables`).
async fn local_tables(Live(hub): Live, headers: HeaderMap) -> Response {
    if let Some(refused) = refuse_unless_member(&hub, &headers) {
        return refused;
    }
    Json(hub.coordinator.tables()).into_response()
}

/// `GET /api/nodes`: the members of the cluster, by name; `404 not_clustered` on a single
/// node, `503 cluster_unavailable` while this node cannot reach etcd.
async fn nodes(Live(hub): Live) -> Response {
    let Some(cluster) = hub.coordinator.cluster() else {
        return failure(
            StatusCode::NOT_FOUND,
            "not_clustered",
            "this server is a single node (it was started without --etcd)",
        );
    };
    match cluster.members() {
        // Each row with the paths that drain it and take it back (for the console).
        Ok(members) => {
            let rows: Vec<serde_json::Value> = members
                .into_iter()
                .map(|m| {
                    let (drain, undrain) = (
                        format!("/api/nodes/{}/drain", m.name),
                        format!("/api/nodes/{}/undrain", m.name),
                    );
                    let mut row = serde_json::to_value(m).unwrap_or_default();
                    row["drain"] = drain.into();
                    row["undrain"] = undrain.into();
                    row
                })
                .collect();
            Json(rows).into_response()
        }
        Err(e) => failure(StatusCode::SERVICE_UNAVAILABLE, e.code(), &e.to_string()),
    }
}

/// The `404 not_clustered` answer of a single node.
fn not_clustered() -> Response {
    failure(
        StatusCode::NOT_FOUND,
        "not_clustered",
        "this server is a single node (it was started without --etcd)",
    )
}

/// `POST /api/nodes/{name}/drain` or `/undrain`: recorded in etcd; the node acts on it.
async fn drain_node(
    Live(hub): Live,
    Peer(peer): Peer,
    Path((name, action)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Some(refused) = refuse_unless_admin(&hub, peer, &headers) {
        return refused;
    }
    let Some(cluster) = hub.coordinator.cluster() else {
        return not_clustered();
    };
    let on = match action.as_str() {
        "drain" => true,
        "undrain" => false,
        _ => return not_found().await,
    };
    if let Err(e) = cluster.ensure_available() {
        return failure(StatusCode::SERVICE_UNAVAILABLE, e.code(), &e.to_string());
    }
    let known = cluster
        .members()
        .map(|m| m.iter().any(|m| m.name == name))
        .unwrap_or(false);
    if !known && on {
        let why = format!("no node {name} in the cluster now (GET /api/nodes lists them)");
        return failure(StatusCode::NOT_FOUND, "no_such_node", &why);
    }
    tracing::info!(node = %name, %peer, action, "an administrator asks");
    match cluster.set_drain(&name, on).await {
        Ok(()) => Json(serde_json::json!({ "node": name, "draining": on })).into_response(),
        Err(e) => failure(StatusCode::SERVICE_UNAVAILABLE, e.code(), &e.to_string()),
    }
}

/// `POST /api/nodes/rebalance`: every node hands the tables above its share to others.
async fn rebalance(Live(hub): Live, Peer(peer): Peer, headers: HeaderMap) -> Response {
    if let Some(refused) = refuse_unless_admin(&hub, peer, &headers) {
        return refused;
    }
    let Some(cluster) = hub.coordinator.cluster() else {
        return not_clustered();
    };
    match cluster.request_rebalance().await {
        Ok(()) => Json(serde_json::json!({ "rebalance": "asked" })).into_response(),
        Err(e) => failure(StatusCode::SERVICE_UNAVAILABLE, e.code(), &e.to_string()),
    }
}

/// The query of `POST /api/tables/{id}/handoff`.
#[derive(Deserialize)]
struct HandoffQuery {
    to: String,
}

/// `POST /api/tables/{id}/handoff?to=NODE`: hands one table this node owns to `NODE`, and
/// answers once it has moved (or why not); a table another node owns is redirected there.
async fn handoff_table(
    Live(hub): Live,
    Peer(peer): Peer,
    Path(id): Path<String>,
    Query(query): Query<HandoffQuery>,
    headers: HeaderMap,
) -> Response {
    if let Some(refused) = refuse_unless_admin(&hub, peer, &headers) {
        return refused;
    }
    let Some(cluster) = hub.coordinator.cluster() else {
        return not_clustered();
    };
    let Ok(uuid) = uuid::Uuid::parse_str(&id) else {
        return failure(
            StatusCode::NOT_FOUND,
            "no_such_table",
            &format!("no table {id}"),
        );
    };
    if let Err(e) = cluster.ensure_available() {
        return failure(StatusCode::SERVICE_UNAVAILABLE, e.code(), &e.to_string());
    }
    let target = cluster
        .members()
        .ok()
        .and_then(|m| m.into_iter().find(|m| m.name == query.to));
    let Some(target) = target else {
        let why = format!("no node {} in the cluster now", query.to);
        return failure(StatusCode::NOT_FOUND, "no_such_node", &why);
    };
    let path = format!("/api/tables/{uuid}/handoff?to={}", query.to);
    if cluster.owned_elsewhere(&id).is_some() {
        if let Some(elsewhere) = table_elsewhere(&hub, uuid, &path).await {
            return elsewhere;
        }
    }
    tracing::info!(table = %uuid, to = %target.name, %peer, "an administrator hands the table over");
    match crate::handoff::hand_off(&hub.coordinator, uuid, &target).await {
        Ok(done) => Json(done).into_response(),
        Err(e @ crate::handoff::HandoffError::NotHere(_)) => {
            failure(StatusCode::NOT_FOUND, e.code(), &e.to_string())
        }
        Err(e) => failure(StatusCode::CONFLICT, e.code(), &e.to_string()),
    }
}

/// `GET /api/handoffs`: what this node's handoffs took.
async fn handoff_stats(Live(_hub): Live) -> Response {
    Json(crate::handoff::stats()).into_response()
}

/// Whether an internal request carries the cluster's secret; its refusal otherwise.
fn refuse_unless_member(hub: &Hub, headers: &HeaderMap) -> Option<Response> {
    let Some(cluster) = hub.coordinator.cluster() else {
        return Some(failure(
            StatusCode::NOT_FOUND,
            "not_clustered",
            "this server is a single node",
        ));
    };
    let given = header_text(headers, crate::handoff::SECRET_HEADER).unwrap_or("");
    match cluster.secret() {
        Some(secret)
            if crate::protocol::token::same_secret(secret.as_bytes(), given.as_bytes()) =>
        {
            None
        }
        _ => Some(failure(
            StatusCode::FORBIDDEN,
            "not_a_member",
            "internal routes are for the cluster's nodes",
        )),
    }
}

/// The table of an internal request from another node: refused without the cluster's
/// secret, or when `id` is not a table id.
fn member_request(hub: &Hub, headers: &HeaderMap, id: &str) -> Result<uuid::Uuid, Box<Response>> {
    if let Some(refused) = refuse_unless_member(hub, headers) {
        return Err(Box::new(refused));
    }
    uuid::Uuid::parse_str(id).map_err(|_| {
        Box::new(failure(
            StatusCode::BAD_REQUEST,
            "bad_import",
            "not a table id",
        ))
    })
}

/// The query of `PUT /internal/tables/{id}`.
#[derive(Deserialize)]
struct ImportQuery {
    from: String,
}

/// A handoff error as its answer.
fn handoff_failure(e: crate::handoff::HandoffError) -> Response {
    let status = match &e {
        crate::handoff::HandoffError::Import(_) => StatusCode::BAD_REQUEST,
        crate::handoff::HandoffError::NotHere(_) => StatusCode::NOT_FOUND,
        _ => StatusCode::CONFLICT,
    };
    failure(status, e.code(), &e.to_string())
}

/// `PUT /internal/tables/{id}?from=NODE`: imports a table another node hands over.
async fn import_table(
    Live(hub): Live,
    Path(id): Path<String>,
    Query(query): Query<ImportQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let uuid = match member_request(&hub, &headers, &id) {
        Ok(uuid) => uuid,
        Err(refused) => return *refused,
    };
    match crate::handoff::import(&hub.coordinator, uuid, &query.from, &body).await {
        Ok(()) => Json(serde_json::json!({ "imported": id })).into_response(),
        Err(e) => handoff_failure(e),
    }
}

/// `POST /internal/tables/{id}/start`: starts a table handed to this node.
async fn start_table(Live(hub): Live, Path(id): Path<String>, headers: HeaderMap) -> Response {
    let uuid = match member_request(&hub, &headers, &id) {
        Ok(uuid) => uuid,
        Err(refused) => return *refused,
    };
    match crate::handoff::start(&hub.coordinator, uuid).await {
        Ok(()) => Json(serde_json::json!({ "started": id })).into_response(),
        Err(e) => handoff_failure(e),
    }
}

/// `DELETE /internal/tables/{id}`: a handoff to this node did not move the table.
async fn abort_import(Live(hub): Live, Path(id): Path<String>, headers: HeaderMap) -> Response {
    let uuid = match member_request(&hub, &headers, &id) {
        Ok(uuid) => uuid,
        Err(refused) => return *refused,
    };
    match crate::handoff::abort(&hub.coordinator, uuid).await {
        Ok(()) => Json(serde_json::json!({ "dropped": id })).into_response(),
        Err(e) => handoff_failure(e),
    }
}

async fn metrics(Live(hub): Live) -> Response {
    let coordinator = hub.coordinator.clone();
    let stored = tokio::task::spawn_blocking(move || coordinator.stored_tables())
        .await
        .unwrap_or(0);
    telemetry::set_scrape_gauges(
        hub.coordinator.live_tables(),
        stored,
        hub.connected.load(Ordering::Relaxed),
    );
    if let Some(cluster) = hub.coordinator.cluster() {
        cluster.scrape();
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        hub.metrics.render(),
    )
        .into_response()
}

/// A path that is no route, when the web client is left out.
async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "not found\n").into_response()
}

async fn asset(uri: Uri) -> Response {
    let path = uri.path().trim_start_matches('/');
    let path = match path {
        "" => "index.html",
        "admin" => "admin.html",
        path => path,
    };
    match ASSETS.iter().find(|a| a.path == path) {
        Some(a) => (
            [
                (header::CONTENT_TYPE, a.content_type),
                // Always revalidate, so a new server version's client is picked up at once.
                (header::CACHE_CONTROL, "no-cache"),
            ],
            a.body,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "not found\n").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_web_client_file_is_embedded() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../web-client");
        let mut files: Vec<String> = std::fs::read_dir(&dir)
            .expect("web-client/ exists")
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        files.sort();
        let mut embedded: Vec<String> = ASSETS.iter().map(|a| a.path.to_string()).collect();
        embedded.sort();
        assert_eq!(files, embedded, "web-client/ and ASSETS differ");
    }
}
