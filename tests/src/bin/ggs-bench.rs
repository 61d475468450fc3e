//! ggs-bench: a closed-loop load generator for a GGS 1.0 server.
//!
//! It starts its own `ggs` (or uses `--addr`), creates `--tables` tables with `--players`
//! players each and a small script, then every player keeps `--window` game commands in
//! flight for `--seconds` after a warm-up. Each command writes `GGS.world` and is broadcast to
//! the whole table; a command counts as acknowledged when its sender gets its own broadcast
//! back, which is also where its round-trip time is measured.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;
use ggs_tests::wire::{encode_message, encode_message_into, parse_reply, Hello, Reply};
use ggs_tests::{ServerOptions, ServerProcess};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Every command bumps a per-table counter and a per-player key in GGS.world, then is
/// broadcast to the table with its arguments, which name the sender and the sequence number.
/// `get` answers the sender with the counter, to check that no acknowledged write was lost.
const SCRIPT: &str = r#"
function playerCommand(player, command, args) {
  if (command === "get") {
    GGS.sendCommand(player, "n", GGS.world.getItem("n") || "0");
    return;
  }
  var n = (parseInt(GGS.world.getItem("n"), 10) || 0) + 1;
  GGS.world.setItem("n", String(n));
  GGS.world.setItem("last:" + player, args);
  GGS.sendCommandToAll("b", args);
}
"#;

/// The broadcast command of the script.
const BROADCAST: &str = "b";

#[derive(Parser, Debug)]
#[command(
    name = "ggs-bench",
    about = "Closed-loop GGS 1.0 load: events/s, messages/s and round-trip times"
)]
struct Args {
    /// Use a running server at this GGS 1.0 address instead of starting one.
    #[arg(long)]
    addr: Option<SocketAddr>,
    /// The ggs binary to start [default: target/PROFILE/ggs beside this binary].
    #[arg(long)]
    server_bin: Option<PathBuf>,
    /// `--vm-threads` for the started server [default: the server's].
    #[arg(long)]
    vm_threads: Option<usize>,
    /// Data directory for the started server [default: a temporary directory].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Number of tables.
    #[arg(long, default_value_t = 1)]
    tables: usize,
    /// Players per table.
    #[arg(long, default_value_t = 2)]
    players: usize,
    /// Commands each player keeps in flight.
    #[arg(long, default_value_t = 8)]
    window: usize,
    /// Seconds measured.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Seconds of warm-up before measuring.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Bytes of padding in each command's arguments.
    #[arg(long, default_value_t = 0)]
    payload: usize,
}

/// When the run starts measuring and when it stops sending.
struct Plan {
    measure_from: Instant,
    measure_to: Instant,
    window: usize,
    payload: String,
}

/// What one player saw.
#[derive(Default)]
struct PlayerStats {
    /// Commands sent inside the measured interval.
    sent: u64,
    /// Own commands acknowledged inside the measured interval.
    acked: u64,
    /// Own commands acknowledged in the whole run.
    acked_total: u64,
    /// Replies of any kind received inside the measured interval.
    received: u64,
    /// Round-trip times (µs) of the commands acknowledged inside the measured interval.
    rtt_us: Vec<u32>,
}

/// One GGS 1.0 connection read and written by a single task.
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    start: usize,
}

impl Conn {
    async fn connect(addr: SocketAddr) -> Result<Conn> {
        let stream = TcpStream::connect(addr)
            .await
            .with_context(|| format!("connecting to {addr}"))?;
        stream.set_nodelay(true)?;
        Ok(Conn {
            stream,
            buf: Vec::with_capacity(64 * 1024),
            start: 0,
        })
    }

    async fn send(&mut self, bytes: &[u8]) -> Result<()> {
        self.stream.write_all(bytes).await.context("writing")
    }

    /// A complete reply already in the buffer, if any.
    fn parsed(&mut self) -> Result<Option<Reply>> {
        match parse_reply(&self.buf[self.start..])? {
            Some((reply, used)) => {
                self.start += used;
                if self.start == self.buf.len() {
                    self.buf.clear();
                    self.start = 0;
                }
                Ok(Some(reply))
            }
            None => Ok(None),
        }
    }

    /// Reads more bytes from the socket.
    async fn fill(&mut self) -> Result<()> {
        if self.start > 0 && self.start * 2 >= self.buf.len() {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.reserve(32 * 1024);
        let n = self
            .stream
            .read_buf(&mut self.buf)
            .await
            .context("reading")?;
        if n == 0 {
            bail!("the server closed the connection");
        }
        Ok(())
    }

    async fn recv(&mut self) -> Result<Reply> {
        loop {
            if let Some(reply) = self.parsed()? {
                return Ok(reply);
            }
            self.fill().await?;
        }
    }

    async fn expect(&mut self, command: &str) -> Result<String> {
        let reply = tokio::time::timeout(Duration::from_secs(30), self.recv())
            .await
            .with_context(|| format!("waiting for {command}"))??;
        if reply.command != command {
            bail!("expected {command}, got {reply}");
        }
        Ok(reply.body)
    }
}

/// Creates one table with its players; the first player defines the script.
async fn set_up_table(addr: SocketAddr, players: usize) -> Result<Vec<Conn>> {
    let mut first = Conn::connect(addr).await?;
    first
        .send(&encode_message(&[("Server-Command", "hello")], b""))
        .await?;
    let hello = Hello::parse(&first.expect("hello").await?)?;
    first
        .send(&encode_message(
            &[("Server-Command", "define")],
            SCRIPT.as_bytes(),
        ))
        .await?;
    let defined = first.expect("defined").await?;
    if defined != "ok" {
        bail!("define failed: {defined}");
    }
    let mut conns = vec![first];
    for _ in 1..players {
        let mut c = Conn::connect(addr).await?;
        c.send(&encode_message(
            &[("Server-Command", "hello")],
            hello.table.as_bytes(),
        ))
        .await?;
        let joined = Hello::parse(&c.expect("hello").await?)?;
        if !joined.defined || joined.table != hello.table {
            bail!("joined {joined:?}, expected table {} defined", hello.table);
        }
        conns.push(c);
    }
    Ok(conns)
}

/// One player's closed loop: keep `window` commands in flight until the plan's end, then
/// wait for the outstanding ones.
async fn run_player(mut conn: Conn, me: usize, plan: Arc<Plan>) -> Result<(PlayerStats, Conn)> {
    let prefix = format!("p{me} ");
    let mut stats = PlayerStats::default();
    let mut in_flight: VecDeque<(u64, Instant)> = VecDeque::with_capacity(plan.window);
    let mut seq = 0u64;
    let mut out = Vec::with_capacity(4096);
    let mut now = Instant::now();
    loop {
        let sending = now < plan.measure_to;
        if sending {
            let measured = now >= plan.measure_from;
            while in_flight.len() < plan.window {
                seq += 1;
                let args = format!("{prefix}{seq}{}", plan.payload);
                encode_message_into(&[("Game-Command", "go")], args.as_bytes(), &mut out);
                in_flight.push_back((seq, now));
                if measured {
                    stats.sent += 1;
                }
            }
            if !out.is_empty() {
                conn.send(&out).await?;
                out.clear();
            }
        } else if in_flight.is_empty() {
            return Ok((stats, conn));
        }
        // Wait for at least one reply, then take every reply already buffered.
        let first = match tokio::time::timeout(Duration::from_secs(30), conn.recv()).await {
            Ok(reply) => reply?,
            Err(_) => bail!(
                "player {me}: no reply for 30 s with {} commands in flight",
                in_flight.len()
            ),
        };
        now = Instant::now();
        let measured = now >= plan.measure_from && now < plan.measure_to;
        let mut next = Some(first);
        while let Some(reply) = next {
            if measured {
                stats.received += 1;
            }
            if reply.command == BROADCAST {
                if let Some(rest) = reply.body.strip_prefix(&prefix) {
                    let digits = rest.trim_end_matches('.');
                    let got: u64 = digits
                        .parse()
                        .with_context(|| format!("a broadcast {:?}", reply.body))?;
                    let Some((want, sent_at)) = in_flight.pop_front() else {
                        bail!("player {me}: broadcast {got} with nothing in flight");
                    };
                    if got != want {
                        bail!("player {me}: broadcast {got} came back before {want}");
                    }
                    stats.acked_total += 1;
                    if measured {
                        stats.acked += 1;
                        let us = now.duration_since(sent_at).as_micros();
                        stats.rtt_us.push(u32::try_from(us).unwrap_or(u32::MAX));
                    }
                }
            } else {
                bail!("player {me}: unexpected reply {reply}");
            }
            next = conn.parsed()?;
        }
    }
}

/// CPU time (user + system) of a process, from /proc (Linux).
fn process_cpu(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let hz = u64::try_from(hz).ok().filter(|&h| h > 0)?;
    Some(Duration::from_nanos(ticks * 1_000_000_000 / hz))
}

/// CPU time of this process.
fn own_cpu() -> Duration {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes a rusage into the pointer it is given, which is valid.
    let usage = unsafe {
        libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr());
        usage.assume_init()
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

fn percentile(sorted: &[u32], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((sorted.len() as f64) * q).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1] as f64 / 1000.0
}

fn main() -> Result<()> {
    let args = Args::parse();
    if args.tables == 0 || args.players == 0 || args.window == 0 {
        bail!("--tables, --players and --window must be at least 1");
    }
    let mut server = match args.addr {
        Some(_) => None,
        None => {
            let mut extra = Vec::new();
            if let Some(n) = args.vm_threads {
                extra.extend(["--vm-threads".to_string(), n.to_string()]);
            }
            let server = ServerProcess::start_with(ServerOptions {
                bin: args.server_bin.clone(),
                data_dir: args.data_dir.clone(),
                log_level: Some("info".into()),
                args: extra,
                ..ServerOptions::default()
            });
            Some(server)
        }
    };
    let addr = match (&server, args.addr) {
        (Some(s), _) => s.tcp_addr(),
        (None, Some(a)) => a,
        (None, None) => unreachable!("either a server was started or --addr was given"),
    };
    let server_desc = match &server {
        Some(_) => format!(
            "started {} (vm-threads {})",
            args.server_bin
                .clone()
                .unwrap_or_else(ggs_tests::ggs_binary)
                .display(),
            args.vm_threads
                .map_or("default".to_string(), |n| n.to_string())
        ),
        None => format!("at {addr}"),
    };

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let result = runtime.block_on(bench(&args, addr, server.as_ref().and_then(|s| s.pid())));

    let stop_line = server.as_mut().map(|s| {
        let stopped = s.terminate();
        stopped
            .stderr
            .lines()
            .find(|l| l.contains("commit latency"))
            .map(str::to_string)
            .unwrap_or_else(|| format!("(no commit latency line; server exit {})", stopped.status))
    });
    let report = result?;
    println!(
        "ggs-bench: {} tables x {} players, window {}, {:.1} s measured after {:.1} s warm-up; server {}",
        args.tables, args.players, args.window, report.seconds, args.warmup, server_desc
    );
    println!(
        "  events/s (own commands acknowledged): {:>10.0}",
        report.acked as f64 / report.seconds
    );
    println!(
        "  messages out/s (server -> clients):   {:>10.0}",
        report.received as f64 / report.seconds
    );
    println!(
        "  messages in/s (client -> server):     {:>10.0}",
        report.sent as f64 / report.seconds
    );
    println!(
        "  messages/s in + out (2011 count):     {:>10.0}",
        (report.sent + report.received) as f64 / report.seconds
    );
    println!(
        "  RTT send -> own broadcast: p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms ({} samples)",
        percentile(&report.rtt_us, 0.5),
        percentile(&report.rtt_us, 0.99),
        percentile(&report.rtt_us, 1.0),
        report.rtt_us.len()
    );
    let core = |d: Option<Duration>| {
        d.map_or("n/a".to_string(), |d| {
            format!("{:.0}%", 100.0 * d.as_secs_f64() / report.seconds)
        })
    };
    println!(
        "  CPU over the measured interval (100% = one core): server {}, bench {}",
        core(report.server_cpu),
        core(Some(report.bench_cpu))
    );
    println!("  consistency: {}", report.consistency);
    if let Some(line) = stop_line {
        println!("  server log: {}", line.trim());
    }
    Ok(())
}

/// The totals of a run.
struct Report {
    seconds: f64,
    sent: u64,
    acked: u64,
    received: u64,
    rtt_us: Vec<u32>,
    server_cpu: Option<Duration>,
    bench_cpu: Duration,
    consistency: String,
}

async fn bench(args: &Args, addr: SocketAddr, server_pid: Option<u32>) -> Result<Report> {
    // Set the tables up concurrently.
    let mut setups = Vec::new();
    for _ in 0..args.tables {
        setups.push(tokio::spawn(set_up_table(addr, args.players)));
    }
    let mut tables = Vec::new();
    for s in setups {
        tables.push(s.await??);
    }

    let start = Instant::now();
    let measure_from = start + Duration::from_secs_f64(args.warmup);
    let measure_to = measure_from + Duration::from_secs_f64(args.seconds);
    let plan = Arc::new(Plan {
        measure_from,
        measure_to,
        window: args.window,
        payload: ".".repeat(args.payload),
    });
    let mut tasks = Vec::new();
    let mut me = 0;
    for (t, conns) in tables.into_iter().enumerate() {
        for conn in conns {
            tasks.push((t, tokio::spawn(run_player(conn, me, plan.clone()))));
            me += 1;
        }
    }

    // Sample CPU times at the edges of the measured interval.
    tokio::time::sleep_until(measure_from.into()).await;
    let cpu_from = (server_pid.and_then(process_cpu), own_cpu());
    tokio::time::sleep_until(measure_to.into()).await;
    let cpu_to = (server_pid.and_then(process_cpu), own_cpu());
    let server_cpu = match (cpu_from.0, cpu_to.0) {
        (Some(a), Some(b)) => Some(b.saturating_sub(a)),
        _ => None,
    };
    let bench_cpu = cpu_to.1.saturating_sub(cpu_from.1);

    let mut totals = PlayerStats::default();
    let mut per_table: Vec<(u64, Option<Conn>)> = (0..args.tables).map(|_| (0, None)).collect();
    for (t, task) in tasks {
        let (stats, conn) = task.await??;
        totals.sent += stats.sent;
        totals.acked += stats.acked;
        totals.received += stats.received;
        totals.rtt_us.extend(stats.rtt_us);
        per_table[t].0 += stats.acked_total;
        per_table[t].1.get_or_insert(conn);
    }
    totals.rtt_us.sort_unstable();

    // Every acknowledged command must have been counted by its table.
    let mut mismatches = 0;
    for (acked, conn) in &mut per_table {
        let conn = conn.as_mut().expect("each table has a player");
        conn.send(&encode_message(&[("Game-Command", "get")], b""))
            .await?;
        let counted: u64 = loop {
            let reply = conn.recv().await?;
            if reply.command == "n" {
                break reply.body.parse()?;
            }
        };
        if counted != *acked {
            mismatches += 1;
            eprintln!("table counted {counted} commands, its players saw {acked} acknowledged");
        }
    }
    let consistency = if mismatches == 0 {
        format!(
            "ok (every table's counter equals its acknowledged commands, {} in all)",
            per_table.iter().map(|(a, _)| a).sum::<u64>()
        )
    } else {
        format!("{mismatches} tables disagree")
    };
    Ok(Report {
        seconds: args.seconds,
        sent: totals.sent,
        acked: totals.acked,
        received: totals.received,
        rtt_us: totals.rtt_us,
        server_cpu,
        bench_cpu,
        consistency,
    })
}
