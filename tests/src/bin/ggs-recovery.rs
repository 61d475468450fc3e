//! ggs-recovery: how fast a `ggs` killed with SIGKILL serves again with many tables on disk.
//!
//! It starts `ggs` on a data directory, creates `--tables` tables (each with a small script
//! and a little storage in `GGS.world`, `GGS.localStorage` and `GGS.state`), kills the server
//! with SIGKILL and restarts it on the same directory, then times (a) spawn -> the `ggs
//! listening` line, (b) spawn -> the first served event on a cold table (`hello` with its id,
//! then one game command answered), and (c) `hello` + one command on `--samples` other cold
//! tables, each on a fresh connection (p50/max). It also prints the size of the data directory
//! and the server's resident memory.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use clap::Parser;
use ggs_tests::wire::{encode_message_into, Hello};
use ggs_tests::{ggs_binary, procstat, Latencies, ServerOptions, ServerProcess};

/// Each table's script: `init` stores its argument in both storages and its length in
/// `GGS.state`; `get` answers what is stored, so a served event proves the table was loaded.
const SCRIPT: &str = r#"
// ggs-recovery table
function playerCommand(player, command, args) {
  if (command === "init") {
    GGS.world.setItem("w", args);
    GGS.localStorage.setItem("l", args);
    GGS.state.n = args.length;
    GGS.sendCommand(player, "ok", String(args.length));
  } else if (command === "get") {
    GGS.sendCommand(player, "got", GGS.state.n + "," +
      (GGS.world.getItem("w") || "").length + "," +
      (GGS.localStorage.getItem("l") || "").length);
  }
}
"#;

/// Bytes stored by `init` in each storage of a table.
const PAYLOAD: usize = 100;
/// Tables created per connection.
const TABLES_PER_CONNECTION: usize = 10;

#[derive(Parser, Debug)]
#[command(
    name = "ggs-recovery",
    about = "Time a SIGKILLed ggs to serve again with many tables on disk"
)]
struct Args {
    /// Tables to create before the kill.
    #[arg(long, default_value_t = 10_000)]
    tables: usize,
    /// The ggs binary [default: $GGS_BIN, else target/release/ggs if present, else target/debug/ggs].
    #[arg(long)]
    server_bin: Option<PathBuf>,
    /// Data directory [default: a temporary directory, removed at the end].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Connections creating tables at the same time.
    #[arg(long, default_value_t = 8)]
    creators: usize,
    /// Other cold tables timed after the first.
    #[arg(long, default_value_t = 10)]
    samples: usize,
    /// Kill-and-restart rounds measured.
    #[arg(long, default_value_t = 1)]
    restarts: usize,
    /// Seed for picking tables [default: the clock].
    #[arg(long)]
    seed: Option<u64>,
}

/// SplitMix64, to pick tables reproducibly.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) % n as u64) as usize
    }
}

/// `$GGS_BIN`, else the release `ggs` if one was built, else the debug one ([`ggs_binary`]).
fn default_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("GGS_BIN") {
        return PathBuf::from(bin);
    }
    let name = format!("ggs{}", std::env::consts::EXE_SUFFIX);
    let exe = std::env::current_exe().ok();
    // target/<profile>/ggs-recovery -> target
    let target = exe
        .as_deref()
        .and_then(Path::parent)
        .and_then(Path::parent)
        .map(Path::to_path_buf);
    if let Some(target) = target {
        for profile in ["release", "debug"] {
            let bin = target.join(profile).join(&name);
            if bin.exists() {
                return bin;
            }
        }
    }
    ggs_binary()
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// The median (the lower one of an even count) and the largest of `times`.
fn p50_max(times: &[Duration]) -> String {
    let mut latencies = Latencies::new();
    for &t in times {
        latencies.record(t);
    }
    if latencies.is_empty() {
        return "-".to_string();
    }
    format!(
        "p50 {} max {}",
        ms(latencies.quantile(0.5)),
        ms(latencies.quantile(1.0))
    )
}

/// Total size of the files under `dir`.
fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// The resident memory of a process (Linux only).
fn rss(pid: Option<u32>) -> String {
    pid.and_then(procstat::rss_kib)
        .map(|kb| mib(kb * 1024))
        .unwrap_or_else(|| "unknown".to_string())
}

/// Creates `count` tables on one connection (one after another, each one's three messages
/// sent at once) and returns their ids.
fn create_tables(server: &ServerProcess, count: usize, first: usize) -> Vec<String> {
    let mut client = server.connect().named("creator");
    let mut ids = Vec::with_capacity(count);
    for i in first..first + count {
        let mut payload = format!("table {i} ");
        payload.push_str(&"x".repeat(PAYLOAD - payload.len()));
        let mut bytes = Vec::new();
        encode_message_into(&[("Server-Command", "hello")], b"", &mut bytes);
        encode_message_into(
            &[("Server-Command", "define")],
            SCRIPT.as_bytes(),
            &mut bytes,
        );
        encode_message_into(&[("Game-Command", "init")], payload.as_bytes(), &mut bytes);
        client.send_raw(&bytes);
        let hello = Hello::parse(&client.expect_cmd("hello")).expect("a hello reply");
        client.expect("defined", "ok");
        client.expect("ok", &PAYLOAD.to_string());
        ids.push(hello.table);
    }
    client.close();
    ids
}

/// Joins a table on a fresh connection and waits for one game command's answer.
fn serve_one(server: &ServerProcess, table: &str) -> Result<()> {
    let mut client = server.connect().named("sampler");
    let hello = client.hello(Some(table));
    if !hello.defined || hello.table != table {
        bail!("table {table} came back as {hello:?}");
    }
    client.command("get", "");
    let got = client.expect_cmd("got");
    let want = format!("{PAYLOAD},{PAYLOAD},{PAYLOAD}");
    if got != want {
        bail!("table {table} answered got {got:?}, expected {want:?}");
    }
    client.close();
    Ok(())
}

fn main() -> Result<()> {
    let args = Args::parse();
    if args.tables < args.samples + 1 {
        bail!("--tables must exceed --samples");
    }
    let bin = args.server_bin.clone().unwrap_or_else(default_bin);
    let seed = args.seed.unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
    });
    let mut rng = Rng(seed);
    println!("ggs-recovery: {} (seed {seed})", bin.display());
    let mut server = ServerProcess::start_with(ServerOptions {
        bin: Some(bin),
        data_dir: args.data_dir.clone(),
        log_level: Some("warn".into()),
        ..ServerOptions::default()
    });
    let data_dir = server.data_dir().to_path_buf();
    println!("data dir {}", data_dir.display());

    // Create the tables, a few connections at a time, ten tables per connection.
    let began = Instant::now();
    let chunks = args.tables.div_ceil(TABLES_PER_CONNECTION);
    let next = AtomicUsize::new(0);
    let created = Mutex::new(Vec::with_capacity(args.tables));
    let server_ref = &server;
    std::thread::scope(|scope| {
        for _ in 0..args.creators.max(1) {
            scope.spawn(|| loop {
                let chunk = next.fetch_add(1, Ordering::Relaxed);
                if chunk >= chunks {
                    return;
                }
                let first = chunk * TABLES_PER_CONNECTION;
                let count = TABLES_PER_CONNECTION.min(args.tables - first);
                let ids = create_tables(server_ref, count, first);
                let mut all = created
                    .lock()
                    .expect("no creator panicked holding the lock");
                all.extend(ids);
                let done = all.len();
                drop(all);
                if done % 1000 < count {
                    eprintln!("  {done} tables in {:.1} s", began.elapsed().as_secs_f64());
                }
            });
        }
    });
    let tables = created.into_inner().expect("the creators finished");
    let took = began.elapsed();
    println!(
        "created {} tables in {:.1} s ({:.0} tables/s), server RSS {}, data dir {}",
        tables.len(),
        took.as_secs_f64(),
        tables.len() as f64 / took.as_secs_f64(),
        rss(server.pid()),
        mib(dir_size(&data_dir))
    );

    for round in 1..=args.restarts {
        server.kill9();
        let size = dir_size(&data_dir);
        let spawned = Instant::now();
        server.restart();
        let listening = spawned.elapsed();
        let first = &tables[rng.below(tables.len())];
        serve_one(&server, first).with_context(|| format!("the first table {first}"))?;
        let first_served = spawned.elapsed();
        let mut samples = Vec::new();
        let mut picked = vec![first.clone()];
        while samples.len() < args.samples {
            let table = &tables[rng.below(tables.len())];
            if picked.contains(table) {
                continue;
            }
            picked.push(table.clone());
            let t = Instant::now();
            serve_one(&server, table).with_context(|| format!("table {table}"))?;
            samples.push(t.elapsed());
        }
        println!(
            "restart {round}: data dir {} ({} tables) | (a) spawn -> listening {} | \
             (b) spawn -> first served event on a cold table {} | \
             (c) hello + command on {} other cold tables {} | server RSS {}",
            mib(size),
            tables.len(),
            ms(listening),
            ms(first_served),
            samples.len(),
            p50_max(&samples),
            rss(server.pid())
        );
    }
    let stopped = server.terminate();
    if !stopped.status.success() {
        bail!(
            "the server exited with {} after SIGTERM:\n{}",
            stopped.status,
            stopped.stderr
        );
    }
    Ok(())
}
