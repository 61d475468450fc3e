//! The `ggs` binary: the server (`ggs serve`) and the commands that talk to a running one
//! (`upload`, `games`, `tables`, `nodes`, `stop-table`, and the live-upgrade commands of
//! `cli.rs`: `upgrade`, `policy`, `dev`), with settings from `ggs.toml`, the environment
//! and flags (in rising precedence). It is built on the library's public API alone: `serve`
//! starts a [`Builder`] with a TCP listener and serves [`Ggs::router`] on its HTTP port.

mod cli;

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::parser::ValueSource;
use clap::{ArgAction, CommandFactory, FromArgMatches, Parser, Subcommand};
use ggs_server::admin::{self, TokenSource};
use ggs_server::api::{ApiError, GameSummary, NodeInfo, TableSummary, Uploaded};
use ggs_server::config::{self, Config, Durability};
use ggs_server::limits::{self, Limits};
use ggs_server::{Builder, Ggs, ServerError};

/// The settings file read from the working directory when `--config` is not given.
const CONFIG_FILE: &str = "ggs.toml";
/// The server the client commands talk to by default.
const DEFAULT_SERVER: &str = "http://127.0.0.1:8080";
/// How long a client command waits for the server.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Parser)]
#[command(
    name = "ggs",
    version,
    about = "GGS: a game server for multiplayer JavaScript games",
    after_help = "Settings come from ggs.toml (or --config), then the environment, then flags: \
                  each flag's name with '_' for '-' is a key, e.g. seat_grace_ms = 60000."
)]
struct Cli {
    /// Settings file (TOML; keys are the flag names, e.g. `tcp = "0.0.0.0:9000"`)
    /// [default: ./ggs.toml when it exists].
    #[arg(long, global = true, env = "GGS_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve(Box<ServeArgs>),
    /// Upload a game script to a running server's catalogue (a new version if it changed).
    Upload(UploadArgs),
    /// List the games of a running server's catalogue.
    Games(ClientArgs),
    /// List the tables in use on a running server (awake, or hibernated with players seated).
    Tables(ClientArgs),
    /// List the nodes of the cluster a running server is a node of.
    Nodes(ClientArgs),
    /// Stop a table of a running server; its players get `table_stopped` (admin).
    StopTable(StopTableArgs),
    /// Drain a node of the cluster: it takes no new tables and hands its tables to the
    /// others, with their players (admin).
    Drain(NodeArgs),
    /// Take a drained node back: it takes tables again (admin).
    Undrain(NodeArgs),
    /// Ask every node of the cluster to hand the tables above its share to the least loaded
    /// nodes (admin).
    Rebalance(ClientArgs),
    /// Move running tables of a game to another version without stopping them (admin).
    Upgrade(cli::UpgradeArgs),
    /// Set how new versions of a game reach tables: manual, new-tables or all (admin).
    Policy(cli::PolicyArgs),
    /// Watch a script: upload it on every save and upgrade the game's running tables (admin).
    Dev(cli::DevArgs),
    /// Print the version.
    Version,
}

/// How a client command reaches the server.
#[derive(clap::Args)]
struct ClientArgs {
    /// The server's HTTP address.
    #[arg(long, env = "GGS_SERVER", default_value = DEFAULT_SERVER)]
    server: String,
    /// The server's admin token, for the admin commands [default: the one in --data-dir].
    #[arg(long = "admin-token", env = "GGS_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// The server's data directory, where the admin commands find its admin token when
    /// --admin-token is not given.
    #[arg(long, env = "GGS_DATA_DIR", default_value = config::DEFAULT_DATA_DIR)]
    data_dir: PathBuf,
}

#[derive(clap::Args)]
struct UploadArgs {
    /// The script.
    file: PathBuf,
    /// The game's name [default: the file name without `.js`].
    #[arg(long)]
    name: Option<String>,
    /// Set the game's upgrade policy with the upload: manual, new-tables or all (all: the new
    /// version reaches every running table of the game).
    #[arg(long)]
    policy: Option<String>,
    #[command(flatten)]
    client: ClientArgs,
}

#[derive(clap::Args)]
struct StopTableArgs {
    /// The table id.
    id: String,
    #[command(flatten)]
    client: ClientArgs,
}

#[derive(clap::Args)]
struct NodeArgs {
    /// The node's name (`ggs nodes` lists them).
    node: String,
    #[command(flatten)]
    client: ClientArgs,
}

#[derive(clap::Args)]
#[command(args_override_self = true)]
struct ServeArgs {
    /// GGS 1.0 TCP listen address.
    #[arg(long, env = "GGS_TCP", default_value = config::DEFAULT_TCP)]
    tcp: SocketAddr,
    /// HTTP listen address (web client, API).
    #[arg(long, env = "GGS_HTTP", default_value = config::DEFAULT_HTTP)]
    http: SocketAddr,
    /// Directory of the sled store.
    #[arg(long, env = "GGS_DATA_DIR", default_value = config::DEFAULT_DATA_DIR)]
    data_dir: PathBuf,
    /// Log filter: error, warn, info, debug, trace, or a tracing directive.
    #[arg(long, env = "GGS_LOG_LEVEL", default_value = "info")]
    log_level: String,
    /// VM-host threads running table scripts [default: one per core].
    #[arg(long, env = "GGS_VM_THREADS")]
    vm_threads: Option<usize>,
    /// Largest message body accepted, in bytes.
    #[arg(long, env = "GGS_MAX_BODY", default_value_t = config::DEFAULT_MAX_BODY)]
    max_body: usize,
    /// Milliseconds a dropped player's seat is held before `playerLeft` fires.
    #[arg(long, env = "GGS_SEAT_GRACE_MS", default_value_t = config::DEFAULT_SEAT_GRACE.as_millis() as u64)]
    seat_grace_ms: u64,
    /// Milliseconds a table may go without an event (with no tick, no timer and no held seat)
    /// before it hibernates: its script runtime is freed until its next event.
    #[arg(long, env = "GGS_HIBERNATE_AFTER_MS", default_value_t = config::DEFAULT_HIBERNATE_AFTER.as_millis() as u64)]
    hibernate_after_ms: u64,
    /// Most messages a GGS 1.1 seat keeps until its client acknowledges them.
    #[arg(long, env = "GGS_OUTBOX_MESSAGES", default_value_t = config::DEFAULT_OUTBOX_MESSAGES)]
    outbox_messages: usize,
    /// Most bytes a GGS 1.1 seat keeps until its client acknowledges them.
    #[arg(long, env = "GGS_OUTBOX_BYTES", default_value_t = config::DEFAULT_OUTBOX_BYTES)]
    outbox_bytes: usize,
    /// Milliseconds a graceful shutdown may take before the server stops anyway.
    #[arg(long, env = "GGS_SHUTDOWN_TIMEOUT_MS", default_value_t = config::DEFAULT_SHUTDOWN_TIMEOUT.as_millis() as u64)]
    shutdown_timeout_ms: u64,
    /// Let any seated player define a table's script (default: only the table's creator).
    #[arg(long, env = "GGS_OPEN_DEFINE")]
    open_define: bool,
    /// CPU time one script event may take, in milliseconds.
    #[arg(long, env = "GGS_CPU_PER_EVENT_MS", default_value_t = limits::DEFAULT_CPU_PER_EVENT.as_millis() as u64)]
    cpu_per_event_ms: u64,
    /// Memory one table's script runtime may use, in bytes.
    #[arg(long, env = "GGS_TABLE_MEMORY", default_value_t = limits::DEFAULT_MEMORY_LIMIT)]
    table_memory: usize,
    /// Bytes of storage one table may hold (both namespaces, keys + values).
    #[arg(long, env = "GGS_TABLE_STORAGE", default_value_t = limits::DEFAULT_MAX_STORAGE)]
    table_storage: usize,
    /// Most open connections.
    #[arg(long, env = "GGS_MAX_CONNECTIONS", default_value_t = config::DEFAULT_MAX_CONNECTIONS)]
    max_connections: usize,
    /// Most open connections from one IP address.
    #[arg(long, env = "GGS_MAX_CONNECTIONS_PER_IP", default_value_t = config::DEFAULT_MAX_CONNECTIONS_PER_IP)]
    max_connections_per_ip: usize,
    /// Inbound messages per second one connection may send.
    #[arg(long, env = "GGS_MESSAGES_PER_SECOND", default_value_t = config::DEFAULT_MESSAGES_PER_SECOND)]
    messages_per_second: u32,
    /// Tables one connection may create.
    #[arg(long, env = "GGS_TABLES_PER_CONNECTION", default_value_t = config::DEFAULT_TABLES_PER_CONNECTION)]
    tables_per_connection: usize,
    /// Milliseconds one message may take to arrive once it has begun.
    #[arg(long, env = "GGS_FRAME_TIMEOUT_MS", default_value_t = config::DEFAULT_FRAME_TIMEOUT.as_millis() as u64)]
    frame_timeout_ms: u64,
    /// `strict`: a reply leaves only once its event is on disk (fsync). `relaxed`: once it is
    /// written; the disk catches up within 200 ms, and a crash may lose that last moment.
    #[arg(long, env = "GGS_DURABILITY", default_value = "strict", value_parser = ["strict", "relaxed"])]
    durability: String,
    /// Bearer token of the admin requests (uploads, stopping tables) [default: the one in
    /// `<data-dir>/admin-token`, made and printed at the first start].
    #[arg(long, env = "GGS_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// Host names the HTTP port answers to besides localhost and IP addresses, comma-separated
    /// (`*`: any); other Host headers are refused (DNS rebinding).
    #[arg(long, env = "GGS_ALLOWED_HOSTS", value_delimiter = ',')]
    allowed_hosts: Vec<String>,
    /// Origins (`https://games.example.com`) besides the server's own whose pages may open a
    /// WebSocket, comma-separated (`*`: any).
    #[arg(long, env = "GGS_ALLOWED_ORIGINS", value_delimiter = ',')]
    allowed_origins: Vec<String>,
    /// etcd client URLs (http://HOST:PORT, comma-separated): makes the server a node of the
    /// cluster they coordinate [default: none, a single node].
    #[arg(long, env = "GGS_ETCD", value_delimiter = ',')]
    etcd: Vec<String>,
    /// This node's name in the cluster (needed with --etcd).
    #[arg(long, env = "GGS_NODE")]
    node: Option<String>,
    /// Where players reach this node's TCP port (HOST:PORT), as other nodes tell them
    /// [default: the --tcp address as bound].
    #[arg(long, env = "GGS_ADVERTISE_TCP")]
    advertise_tcp: Option<String>,
    /// Where this node's HTTP port is reached (http://HOST:PORT) [default: the --http
    /// address as bound].
    #[arg(long, env = "GGS_ADVERTISE_HTTP")]
    advertise_http: Option<String>,
    /// Seconds of this node's lease in etcd: a node that dies is gone from the members this
    /// long after its last renewal (at least 2).
    #[arg(long, env = "GGS_NODE_LEASE_SECS", default_value_t = config::DEFAULT_NODE_LEASE_SECS)]
    node_lease_secs: u64,
    /// Testing only: scripts get `GGS.__fault(kind)` to make the server fail on purpose.
    #[arg(long, env = "GGS_FAULT_INJECTION", hide = true)]
    fault_injection: bool,
}

fn main() -> ExitCode {
    let cli = parse();
    let result = match cli.command {
        Command::Serve(args) => serve(*args),
        Command::Upload(args) => upload(args),
        Command::Games(args) => games(args),
        Command::Tables(args) => tables(args),
        Command::Nodes(args) => nodes(args),
        Command::StopTable(args) => stop_table(args),
        Command::Drain(args) => drain(args, "drain"),
        Command::Undrain(args) => drain(args, "undrain"),
        Command::Rebalance(args) => rebalance(args),
        Command::Upgrade(args) => cli::upgrade(args),
        Command::Policy(args) => cli::policy(args),
        Command::Dev(args) => cli::dev(args),
        Command::Version => {
            println!("ggs {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ggs: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Parses the command line with the settings file beneath it: a key of the file is used only
/// when neither a flag nor an environment variable set that setting.
fn parse() -> Cli {
    let args: Vec<OsString> = std::env::args_os().collect();
    let matches = Cli::command()
        .try_get_matches_from(&args)
        .unwrap_or_else(|e| e.exit());
    let (path, required) = match matches.get_one::<PathBuf>("config") {
        Some(path) => (path.clone(), true),
        None => (PathBuf::from(CONFIG_FILE), false),
    };
    let file_args = match settings_file(&path, required)
        .and_then(|table| table.map(|t| file_flags(&matches, t, &path)).transpose())
    {
        Ok(Some(flags)) if !flags.is_empty() => flags,
        Ok(_) => return Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit()),
        Err(e) => {
            eprintln!("ggs: {e:#}");
            std::process::exit(2);
        }
    };
    let mut all = args;
    all.extend(file_args.into_iter().map(OsString::from));
    Cli::try_parse_from(all).unwrap_or_else(|e| {
        eprintln!(
            "ggs: (settings from {} are applied as flags)",
            path.display()
        );
        e.exit()
    })
}

/// The settings file as a TOML table; `None` when it does not exist and was not asked for.
fn settings_file(path: &Path, required: bool) -> anyhow::Result<Option<toml::Table>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let table = text
        .parse::<toml::Table>()
        .with_context(|| format!("{} is not valid TOML", path.display()))?;
    Ok(Some(table))
}

/// The flags that carry the file's settings for the command being run, for the settings
/// neither a flag nor the environment set. A key no command knows is an error.
fn file_flags(
    matches: &clap::ArgMatches,
    table: toml::Table,
    path: &Path,
) -> anyhow::Result<Vec<String>> {
    let cli = Cli::command();
    let settings = |cmd: &clap::Command| -> Vec<clap::Arg> {
        cmd.get_arguments()
            .filter(|a| a.get_long().is_some() && !a.is_hide_set())
            .filter(|a| !["config", "name"].contains(&a.get_id().as_str()))
            .cloned()
            .collect()
    };
    let known: Vec<String> = cli
        .get_subcommands()
        .flat_map(&settings)
        .map(|a| a.get_id().to_string())
        .collect();
    let Some((name, sub)) = matches.subcommand() else {
        return Ok(Vec::new());
    };
    let command = cli
        .find_subcommand(name)
        .expect("the matched subcommand exists");
    let mut flags = Vec::new();
    for (key, value) in table {
        let id = key.replace('-', "_");
        if !known.contains(&id) {
            let mut keys = known.clone();
            keys.sort();
            keys.dedup();
            bail!(
                "{}: unknown setting {key:?}; the settings are: {}",
                path.display(),
                keys.join(", ")
            );
        }
        let Some(arg) = settings(command)
            .into_iter()
            .find(|a| a.get_id() == id.as_str())
        else {
            continue; // a setting of another command
        };
        if !matches!(
            sub.value_source(&id),
            None | Some(ValueSource::DefaultValue)
        ) {
            continue; // set by a flag or the environment, which win
        }
        let flag = format!("--{}", arg.get_long().expect("settings have long flags"));
        let switch = matches!(arg.get_action(), ArgAction::SetTrue);
        match value {
            toml::Value::Boolean(true) if switch => flags.push(flag),
            toml::Value::Boolean(false) if switch => {}
            toml::Value::String(text) => flags.push(format!("{flag}={text}")),
            toml::Value::Integer(n) => flags.push(format!("{flag}={n}")),
            toml::Value::Float(n) => flags.push(format!("{flag}={n}")),
            toml::Value::Boolean(b) => flags.push(format!("{flag}={b}")),
            toml::Value::Array(items) if items.iter().all(toml::Value::is_str) => {
                let items: Vec<&str> = items.iter().filter_map(toml::Value::as_str).collect();
                flags.push(format!("{flag}={}", items.join(",")));
            }
            _ => bail!(
                "{}: {key} must be a string, a number, a boolean or a list of strings",
                path.display()
            ),
        }
    }
    Ok(flags)
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&args.log_level)
                .with_context(|| format!("bad --log-level '{}'", args.log_level))?,
        )
        .with_writer(std::io::stderr)
        .init();
    let config = Config {
        data_dir: args.data_dir,
        vm_threads: args.vm_threads.unwrap_or_else(config::default_vm_threads),
        max_body: args.max_body,
        tables: config::TableSettings {
            seat_grace: Duration::from_millis(args.seat_grace_ms),
            open_define: args.open_define,
            hibernate_after: Duration::from_millis(args.hibernate_after_ms),
            outbox_messages: args.outbox_messages,
            outbox_bytes: args.outbox_bytes,
            ..config::TableSettings::default()
        },
        limits: Limits {
            cpu_per_event: Duration::from_millis(args.cpu_per_event_ms),
            memory: args.table_memory,
            max_storage: args.table_storage,
            fault_injection: args.fault_injection,
            ..Limits::default()
        },
        admin_token: args.admin_token.filter(|t| !t.is_empty()),
        allowed_hosts: args.allowed_hosts,
        allowed_origins: args.allowed_origins,
        connections: config::ConnectionSettings {
            max_connections: args.max_connections,
            max_connections_per_ip: args.max_connections_per_ip,
            messages_per_second: args.messages_per_second,
            tables_per_connection: args.tables_per_connection,
            frame_timeout: Duration::from_millis(args.frame_timeout_ms),
        },
        shutdown_timeout: Duration::from_millis(args.shutdown_timeout_ms),
        durability: if args.durability == "relaxed" {
            Durability::Relaxed
        } else {
            Durability::Strict
        },
        ..Config::default()
    };
    let cluster = cluster_settings(
        args.etcd,
        args.node,
        args.advertise_tcp,
        args.advertise_http,
        args.node_lease_secs,
    )?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async move {
        let data_dir = config.data_dir.clone();
        let starting = || format!("starting with data dir {}", data_dir.display());
        // The HTTP port first: a start that fails there makes no admin token.
        let http = tokio::net::TcpListener::bind(args.http)
            .await
            .map_err(|source| ServerError::Bind {
                addr: args.http,
                source,
            })
            .with_context(starting)?;
        let http_addr = http.local_addr().context("the HTTP listener's address")?;
        let mut builder = Builder::new().config(config).tcp(args.tcp);
        if let Some(cluster) = cluster {
            let advertise_http = cluster.advertise_http.or(Some(format!("http://{http_addr}")));
            builder = builder.cluster(config::ClusterSettings {
                advertise_http,
                ..cluster
            });
        }
        let mut ggs = builder
            .start()
            .await
            .with_context(starting)?;
        let tcp_addr = ggs.tcp_addr().context("the TCP listener's address")?;
        announce_admin_token(&ggs);
        // One line on stdout that tools and tests read to learn the bound ports.
        println!("ggs listening tcp={tcp_addr} http={http_addr}");
        tracing::info!(tcp = %tcp_addr, http = %http_addr, data_dir = %data_dir.display(), "serving");
        let app = ggs.router().into_make_service_with_connect_info::<SocketAddr>();
        let serving = tokio::spawn(async move {
            if let Err(e) = axum::serve(http, app).await {
                tracing::error!("http server stopped: {e}");
            }
        });
        let result = tokio::select! {
            () = shutdown_signal() => ggs.shutdown().await,
            result = ggs.stopped() => result,
        };
        serving.abort();
        result?;
        Ok(())
    })
}

/// The cluster settings of `ggs serve`: `None` without --etcd; --node is needed with it.
fn cluster_settings(
    etcd: Vec<String>,
    node: Option<String>,
    advertise_tcp: Option<String>,
    advertise_http: Option<String>,
    lease_secs: u64,
) -> anyhow::Result<Option<config::ClusterSettings>> {
    let etcd: Vec<String> = etcd.into_iter().filter(|e| !e.trim().is_empty()).collect();
    if etcd.is_empty() {
        if let Some(node) = node {
            bail!("--node {node} is a name in a cluster: give --etcd too (or leave --node out)");
        }
        return Ok(None);
    }
    let Some(node) = node.filter(|n| !n.is_empty()) else {
        bail!("--etcd needs --node NAME: this node's name in the cluster");
    };
    Ok(Some(config::ClusterSettings {
        advertise_tcp: advertise_tcp.filter(|a| !a.is_empty()),
        advertise_http: advertise_http.filter(|a| !a.is_empty()),
        lease_secs,
        ..config::ClusterSettings::new(etcd, node)
    }))
}

/// Prints a token made at this start once, on stderr (later starts print only where it is);
/// logs where the token comes from.
fn announce_admin_token(ggs: &Ggs) {
    let token = ggs.admin_token();
    match ggs.admin_token_source() {
        TokenSource::Generated(path) => {
            eprintln!(
                "ggs: a new admin token, kept in {} (readable by its owner only):\n\n    {token}\n\n\
                 ggs: `ggs upload` and `ggs stop-table` on this machine read it from there \
                 (give them the same --data-dir); send it as `Authorization: Bearer <token>`.",
                path.display()
            );
        }
        TokenSource::File(path) => {
            tracing::info!(file = %path.display(), "admin token from its file");
        }
        TokenSource::Setting => tracing::info!("admin token set by --admin-token"),
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutdown signal received");
}

/// An HTTP client for the commands that talk to a running server.
fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(CLIENT_TIMEOUT))
        .build()
        .into()
}

/// A server's answer: the body as `T` on a success status, its error sentence otherwise.
fn answer<T: serde::de::DeserializeOwned>(
    response: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    server: &str,
) -> anyhow::Result<Answer<T>> {
    let mut response = response.with_context(|| format!("cannot reach the server at {server}"))?;
    let status = response.status().as_u16();
    let text = response
        .body_mut()
        .read_to_string()
        .with_context(|| format!("reading the answer of {server}"))?;
    if response.status().is_success() {
        let body = serde_json::from_str(&text)
            .with_context(|| format!("the server at {server} answered {status} with {text:?}"))?;
        return Ok(Answer::Ok(body));
    }
    Ok(match serde_json::from_str::<ApiError>(&text) {
        Ok(error) => Answer::Failed(error),
        Err(_) => Answer::Failed(ApiError {
            error: String::new(),
            message: format!("the server answered {status}"),
        }),
    })
}

/// What [`answer`] read.
enum Answer<T> {
    /// The body of a success.
    Ok(T),
    /// An error answer.
    Failed(ApiError),
}

fn base(server: &str) -> &str {
    server.trim_end_matches('/')
}

/// The admin token to send: `--admin-token` (or its variable or setting), else the one the
/// server keeps in `--data-dir`; `None` when there is neither.
fn admin_token(client: &ClientArgs) -> anyhow::Result<Option<String>> {
    if let Some(token) = client.admin_token.as_ref().filter(|t| !t.is_empty()) {
        return Ok(Some(token.clone()));
    }
    admin::read_token(&client.data_dir).context("reading the server's admin token")
}

/// `request` with the admin token, if there is one.
fn with_token(
    request: ureq::RequestBuilder<ureq::typestate::WithBody>,
    token: &Option<String>,
) -> ureq::RequestBuilder<ureq::typestate::WithBody> {
    match token {
        Some(token) => request.header("Authorization", format!("Bearer {token}")),
        None => request,
    }
}

/// An admin request's error sentence, saying where a token was looked for when none was sent.
fn admin_failure(e: &ApiError, client: &ClientArgs, token: &Option<String>) -> String {
    match token {
        None if e.error == "admin_token_required" => format!(
            "{} (no --admin-token or GGS_ADMIN_TOKEN was given, and there is no {}: pass the \
             server's --data-dir)",
            e.message,
            admin::token_path(&client.data_dir).display()
        ),
        _ => e.message.clone(),
    }
}

fn upload(args: UploadArgs) -> anyhow::Result<()> {
    let source = std::fs::read_to_string(&args.file)
        .with_context(|| format!("reading {}", args.file.display()))?;
    let name = cli::game_name(&args.file, args.name)?;
    let server = &args.client.server;
    let mut url = format!("{}/api/games/{name}", base(server));
    if let Some(policy) = &args.policy {
        url = format!("{url}?policy={policy}");
    }
    let token = admin_token(&args.client)?;
    let request = with_token(agent().put(&url), &token).header("Content-Type", "text/javascript");
    match answer::<serde_json::Value>(request.send(source.as_str()), server)? {
        Answer::Ok(answer) => {
            let up: Uploaded = serde_json::from_value(answer.clone())
                .with_context(|| format!("the server answered {answer}"))?;
            match up.created {
                true => println!("uploaded {name} version {}", up.version),
                false => println!("{name} is unchanged at version {}", up.version),
            }
            if let Some(report) = answer.get("upgrade") {
                let report: ggs_server::api::UpgradeReport =
                    serde_json::from_value(report.clone()).context("reading the upgrade report")?;
                cli::print_report(&report);
            }
        }
        Answer::Failed(e) if e.error == "compile_error" => {
            bail!("{}: {}", args.file.display(), e.message)
        }
        Answer::Failed(e) => bail!(
            "uploading {name}: {}",
            admin_failure(&e, &args.client, &token)
        ),
    }
    Ok(())
}

fn games(args: ClientArgs) -> anyhow::Result<()> {
    let url = format!("{}/api/games", base(&args.server));
    let games: Vec<GameSummary> = match answer(agent().get(&url).call(), &args.server)? {
        Answer::Ok(games) => games,
        Answer::Failed(e) => bail!("listing the games: {}", e.message),
    };
    let width = games.iter().map(|g| g.name.len()).max().unwrap_or(0);
    for game in games {
        let version = format!("v{}", game.version);
        println!("{:width$}  {version:>4}  {}", game.name, game.description);
    }
    Ok(())
}

fn tables(args: ClientArgs) -> anyhow::Result<()> {
    let url = format!("{}/api/tables", base(&args.server));
    let tables: Vec<TableSummary> = match answer(agent().get(&url).call(), &args.server)? {
        Answer::Ok(tables) => tables,
        Answer::Failed(e) => bail!("listing the tables: {}", e.message),
    };
    if tables.is_empty() {
        println!("no live tables");
    }
    for table in tables {
        let game = match (&table.game, table.version) {
            (Some(game), Some(v)) => format!("{game} v{v}"),
            (Some(game), None) => game.clone(),
            (None, _) => "-".to_string(),
        };
        let (id, players, seats) = (&table.id, table.players, table.seats);
        let asleep = if table.hibernated { ", hibernated" } else { "" };
        let owner = match &table.owner {
            Some(owner) => format!(", on {owner}"),
            None => String::new(),
        };
        println!("{id}  {game:<16}  {players} connected, {seats} seats{asleep}{owner}");
    }
    Ok(())
}

fn nodes(args: ClientArgs) -> anyhow::Result<()> {
    let url = format!("{}/api/nodes", base(&args.server));
    let nodes: Vec<NodeInfo> = match answer(agent().get(&url).call(), &args.server)? {
        Answer::Ok(nodes) => nodes,
        Answer::Failed(e) => bail!("listing the nodes: {}", e.message),
    };
    let width = nodes.iter().map(|n| n.name.len()).max().unwrap_or(0);
    for node in nodes {
        let tcp = node.tcp.as_deref().unwrap_or("-");
        let http = node.http.as_deref().unwrap_or("-");
        let draining = if node.draining { "  draining" } else { "" };
        println!(
            "{:width$}  tcp={tcp}  http={http}  {} live tables  cpu {:.2}{draining}",
            node.name, node.live_tables, node.cpu
        );
    }
    Ok(())
}

/// `ggs drain NODE` and `ggs undrain NODE` (`action`).
fn drain(args: NodeArgs, action: &str) -> anyhow::Result<()> {
    let server = &args.client.server;
    let url = format!("{}/api/nodes/{}/{action}", base(server), args.node);
    let token = admin_token(&args.client)?;
    let request = with_token(agent().post(&url), &token);
    if let Answer::Failed(e) = answer::<serde_json::Value>(request.send_empty(), server)? {
        let why = admin_failure(&e, &args.client, &token);
        bail!("{action} {}: {why}", args.node);
    }
    match action {
        "drain" => println!(
            "node {} drains: it hands its tables to the others (`ggs nodes` shows its live tables)",
            args.node
        ),
        _ => println!("node {} takes tables again", args.node),
    }
    Ok(())
}

fn rebalance(args: ClientArgs) -> anyhow::Result<()> {
    let url = format!("{}/api/nodes/rebalance", base(&args.server));
    let token = admin_token(&args)?;
    let request = with_token(agent().post(&url), &token);
    if let Answer::Failed(e) = answer::<serde_json::Value>(request.send_empty(), &args.server)? {
        let why = admin_failure(&e, &args, &token);
        bail!("rebalance: {why}");
    }
    println!("asked every node to hand the tables above its share to the least loaded nodes");
    Ok(())
}

fn stop_table(args: StopTableArgs) -> anyhow::Result<()> {
    let server = &args.client.server;
    let url = format!("{}/api/tables/{}/stop", base(server), args.id);
    let token = admin_token(&args.client)?;
    let request = with_token(agent().post(&url), &token);
    if let Answer::Failed(e) = answer::<serde_json::Value>(request.send_empty(), server)? {
        let why = admin_failure(&e, &args.client, &token);
        bail!("stopping table {}: {why}", args.id);
    }
    println!("stopped table {}", args.id);
    Ok(())
}
