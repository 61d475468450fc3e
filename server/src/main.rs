//! The `ggs` binary: command line, settings, start and stop.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use ggs_js::limits::{self, Limits};
use ggs_server::commit::Durability;
use ggs_server::config::{self, Config};
use ggs_server::net::limits as net_limits;
use ggs_server::Server;

#[derive(Parser)]
#[command(
    name = "ggs",
    version,
    about = "GGS: a game server for multiplayer JavaScript games"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve(ServeArgs),
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
    #[arg(long, env = "GGS_MAX_BODY", default_value_t = ggs_server::protocol::ggs10::DEFAULT_MAX_BODY)]
    max_body: usize,
    /// Milliseconds a dropped player's seat is held before `playerLeft` fires.
    #[arg(long, env = "GGS_SEAT_GRACE_MS", default_value_t = config::DEFAULT_SEAT_GRACE.as_millis() as u64)]
    seat_grace_ms: u64,
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
    #[arg(long, env = "GGS_MAX_CONNECTIONS", default_value_t = net_limits::DEFAULT_MAX_CONNECTIONS)]
    max_connections: usize,
    /// Most open connections from one IP address.
    #[arg(long, env = "GGS_MAX_CONNECTIONS_PER_IP", default_value_t = net_limits::DEFAULT_MAX_CONNECTIONS_PER_IP)]
    max_connections_per_ip: usize,
    /// Inbound messages per second one connection may send.
    #[arg(long, env = "GGS_MESSAGES_PER_SECOND", default_value_t = net_limits::DEFAULT_MESSAGES_PER_SECOND)]
    messages_per_second: u32,
    /// Tables one connection may create.
    #[arg(long, env = "GGS_TABLES_PER_CONNECTION", default_value_t = net_limits::DEFAULT_TABLES_PER_CONNECTION)]
    tables_per_connection: usize,
    /// Milliseconds one message may take to arrive once it has begun.
    #[arg(long, env = "GGS_FRAME_TIMEOUT_MS", default_value_t = net_limits::DEFAULT_FRAME_TIMEOUT.as_millis() as u64)]
    frame_timeout_ms: u64,
    /// `strict`: a reply leaves only once its event is on disk (fsync). `relaxed`: once it is
    /// written; the disk catches up within 200 ms, and a crash may lose that last moment.
    #[arg(long, env = "GGS_DURABILITY", default_value = "strict", value_parser = ["strict", "relaxed"])]
    durability: String,
    /// Testing only: scripts get `GGS.__fault(kind)` to make the server fail on purpose.
    #[arg(long, env = "GGS_FAULT_INJECTION", hide = true)]
    fault_injection: bool,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve(args),
    }
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
        tcp: args.tcp,
        http: args.http,
        data_dir: args.data_dir,
        vm_threads: args.vm_threads.unwrap_or_else(config::default_vm_threads),
        max_body: args.max_body,
        tables: config::TableSettings {
            seat_grace: Duration::from_millis(args.seat_grace_ms),
            open_define: args.open_define,
            ..config::TableSettings::default()
        },
        limits: Limits {
            cpu_per_event: Duration::from_millis(args.cpu_per_event_ms),
            memory: args.table_memory,
            max_storage: args.table_storage,
            fault_injection: args.fault_injection,
            ..Limits::default()
        },
        connections: net_limits::ConnectionSettings {
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
    };
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async move {
        let data_dir = config.data_dir.clone();
        let server = Server::bind(config)
            .await
            .with_context(|| format!("starting with data dir {}", data_dir.display()))?;
        // One line on stdout that tools and tests read to learn the bound ports.
        println!("ggs listening tcp={} http={}", server.tcp_addr(), server.http_addr());
        tracing::info!(tcp = %server.tcp_addr(), http = %server.http_addr(), data_dir = %data_dir.display(), "serving");
        server.run(shutdown_signal()).await?;
        Ok(())
    })
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
