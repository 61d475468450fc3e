//! Exactly-once across SIGKILLs (GGS 1.1): players over TCP and WebSocket pipeline numbered
//! commands at counter tables and at a chat table while the server is killed at random moments
//! and restarted on the same data directory. They reconnect, resume with their token and
//! `Ack`, and resend every command after the hello reply's `Seq`. Every player's `Msg` stream
//! has no gap, duplicate or reordering (and no `resync`); each counter equals the number of
//! distinct increments sent to it; each chat line arrives at each player exactly once (a chat
//! player that only listens included: it acknowledges alone).
//!
//! `GGS_EXACTLY_ONCE_KILLS=N` sets the kills (default 20) and `GGS_EXACTLY_ONCE_SEED=S` replays
//! a run (every run prints its seed).

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ggs_tests::client::VERSIONS_1_1;
use ggs_tests::client::{Conn, ReplyFraming};
use ggs_tests::ggs10::Ggs10;
use ggs_tests::resumable::Delivered;
use ggs_tests::ws::Ws;
use ggs_tests::{
    game_source, Client, Request, RequestMeta, Resumable, Rng, ServerOptions, ServerProcess,
    SessionError, StreamLog, WsClient,
};

/// A counter in `GGS.state` and `GGS.world`: `inc` adds one and answers the sender
/// `n <value> <args>`; `get` answers `v <state> <world> <args>` (the two must agree).
const COUNTER: &str = r#"
function playerCommand(player, command, args) {
  if (command === "inc") {
    var n = (GGS.state.n || 0) + 1;
    GGS.state.n = n;
    GGS.world.setItem("n", String(n));
    GGS.sendCommand(player, "n", n + " " + args);
  } else if (command === "get") {
    GGS.sendCommand(player, "v", (GGS.state.n || 0) + " " + (GGS.world.getItem("n") || "0") + " " + args);
  }
}
"#;

/// Counter tables, each with one TCP and one WebSocket player.
const COUNTER_TABLES: usize = 2;
/// Chat players over TCP and over WebSocket, all at one table.
const CHAT_TCP: usize = 2;
const CHAT_WS: usize = 1;
/// Chat players (TCP) that only listen: they acknowledge alone.
const CHAT_LISTENERS: usize = 1;
/// Commands each player keeps in flight.
const WINDOW: usize = 4;
/// Load between two kills, in milliseconds (a range).
const ROUND_MS: (u64, u64) = (100, 500);
/// How long a player may see nothing arrive, with commands unapplied and a server up, before
/// the test calls the server stuck.
const STALL: Duration = Duration::from_secs(15);
/// How long the end (every command applied, every chat line seen) may take.
const FINISH: Duration = Duration::from_secs(30);
/// How long one read waits before a player looks at its window, its acks and the clock.
const POLL: Duration = Duration::from_millis(20);

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok().map(|s| {
        s.trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a number, got {s:?}"))
    })
}

/// Writes a line to the real stderr, past the test harness's capture.
fn report(line: &str) {
    let _ = writeln!(io::stderr(), "{line}");
}

/// The running server's addresses, numbered by start; players wait here for a new start.
struct Addresses {
    now: Mutex<(u64, SocketAddr, SocketAddr)>,
    changed: Condvar,
}

impl Addresses {
    fn publish(&self, server: &ServerProcess) {
        let mut now = self.now.lock().expect("no panics holding the addresses");
        *now = (now.0 + 1, server.tcp_addr(), server.http_addr());
        self.changed.notify_all();
    }

    /// The addresses of a start after `after` (waiting up to `wait` for one), or of the
    /// current one.
    fn after(&self, after: Option<u64>, wait: Duration) -> (u64, SocketAddr, SocketAddr) {
        let now = self.now.lock().expect("no panics holding the addresses");
        let (now, _) = self
            .changed
            .wait_timeout_while(now, wait, |n| Some(n.0) == after)
            .expect("no panics holding the addresses");
        *now
    }
}

/// What the whole run shares.
struct Run {
    addrs: Addresses,
    /// Set when the kills are over: players stop sending and finish.
    stop: AtomicBool,
    /// Chat players that stopped sending with every command applied.
    chat_drained: AtomicUsize,
    /// The last `Seq` of each chat player (valid once all are drained).
    chat_sent: Vec<AtomicU64>,
    /// Counter players that stopped sending with every increment applied, per table.
    counter_drained: Vec<AtomicUsize>,
}

/// What a player does at its table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    /// Counter table `table`; the first player of a table asks `get` at the end.
    Counter { table: usize, getter: bool },
    /// The chat table; the player's number among the chat players, and whether it only
    /// listens (and so acknowledges alone).
    Chat { index: usize, silent: bool },
}

/// What one player saw.
#[derive(Default)]
struct PlayerReport {
    name: String,
    log: StreamLog,
    /// Commands given a `Seq` (each distinct).
    sent: u64,
    /// Increments among them.
    incs: u64,
    /// Replies to commands the hello's `Seq` said were applied before a kill, delivered after
    /// the resume (they can only come from the outbox).
    replayed: u64,
    /// Counter: every value acknowledged, and the final `get` (state, world).
    counts: Vec<u64>,
    got: Option<(u64, u64)>,
    /// Chat: lines seen per (author, seq).
    lines: HashMap<(usize, u64), u32>,
    /// Lines or replies that came twice or out of order, and what was missing.
    duplicated: u64,
    lost: u64,
    failures: Vec<String>,
}

/// Parses `<a> <b> ...` numbers.
fn numbers(body: &str) -> Option<Vec<u64>> {
    body.split(' ').map(|s| s.parse().ok()).collect()
}

/// Connects to the server start after `failed` (or the current one) and resumes the seat.
/// Returns the start it resumed on, `None` if it could not (try again), and `Err` only for a
/// broken protocol.
fn reconnect<F: ReplyFraming>(
    session: &mut Resumable<F>,
    run: &Run,
    connect: fn(SocketAddr, SocketAddr) -> io::Result<Conn<F>>,
    failed: &mut Option<u64>,
    resume_k: &mut u64,
) -> Result<Option<u64>, String> {
    let (start, tcp, http) = run.addrs.after(*failed, Duration::from_secs(1));
    if Some(start) == *failed {
        return Ok(None);
    }
    let conn = match connect(tcp, http) {
        Ok(conn) => conn.named(&format!("{} (start {start})", session.name())),
        Err(_) => {
            *failed = Some(start);
            return Ok(None);
        }
    };
    match session.resume(conn) {
        Ok(k) => {
            *resume_k = k;
            Ok(Some(start))
        }
        Err(SessionError::Protocol(why)) => Err(why),
        Err(_) => {
            *failed = Some(start);
            Ok(None)
        }
    }
}

/// One player: keeps [`WINDOW`] numbered commands in flight until the run stops, resuming
/// after every kill; then drains and checks what it saw.
fn play<F: ReplyFraming>(
    mut session: Resumable<F>,
    role: Role,
    run: Arc<Run>,
    connect: fn(SocketAddr, SocketAddr) -> io::Result<Conn<F>>,
    start: u64,
) -> PlayerReport {
    let mut r = PlayerReport {
        name: session.name().to_string(),
        ..PlayerReport::default()
    };
    // The server start this player last failed to reach (it waits for a later one).
    let mut failed: Option<u64> = None;
    let mut connected_at = Some(start);
    let mut resume_k = 0u64;
    // Counter: the last `Seq` answered; chat: the last own line seen.
    let mut last_answered = 0u64;
    let mut per_author: BTreeMap<usize, u64> = BTreeMap::new();
    let mut asked_get = false;
    let mut drained = false;
    let mut last_progress = Instant::now();
    let mut finish_deadline: Option<Instant> = None;
    loop {
        let stopping = run.stop.load(Ordering::SeqCst);
        if stopping && finish_deadline.is_none() {
            finish_deadline = Some(Instant::now() + FINISH);
        }
        if finish_deadline.is_some_and(|d| Instant::now() > d) {
            r.failures.push(format!(
                "{}: not finished {FINISH:?} after the last kill: connected {}, {} commands \
                 unapplied, chat lines seen per author {per_author:?}",
                r.name,
                session.is_connected(),
                session.unapplied_len()
            ));
            break;
        }
        if !session.is_connected() {
            failed = failed.or(connected_at);
            match reconnect(&mut session, &run, connect, &mut failed, &mut resume_k) {
                Err(why) => {
                    r.failures.push(why);
                    break;
                }
                Ok(Some(start)) => {
                    connected_at = Some(start);
                    failed = None;
                    last_progress = Instant::now();
                }
                Ok(None) => {}
            }
            continue;
        }
        // Send while the window has room.
        let silent = matches!(role, Role::Chat { silent: true, .. });
        while !stopping && !silent && session.unapplied_len() < WINDOW && session.is_connected() {
            let (command, args) = match role {
                Role::Counter { .. } => ("inc", (session.last_seq() + 1).to_string()),
                Role::Chat { index, .. } => {
                    ("message", format!("{index}:{}", session.last_seq() + 1))
                }
            };
            let _ = session.command(command, &args);
            if command == "inc" {
                r.incs += 1;
            }
        }
        if stopping && session.unapplied_len() == 0 && !drained {
            drained = true;
            match role {
                Role::Counter { table, .. } => {
                    run.counter_drained[table].fetch_add(1, Ordering::SeqCst);
                }
                Role::Chat { index, .. } => {
                    run.chat_sent[index].store(session.last_seq(), Ordering::SeqCst);
                    run.chat_drained.fetch_add(1, Ordering::SeqCst);
                }
            }
        }
        // The end.
        if drained {
            let done = match role {
                Role::Counter { table, getter } => {
                    let all = run.counter_drained[table].load(Ordering::SeqCst) == 2;
                    if getter && all && !asked_get {
                        asked_get = true;
                        let args = (session.last_seq() + 1).to_string();
                        let _ = session.command("get", &args);
                    }
                    !getter || r.got.is_some()
                }
                Role::Chat { .. } => {
                    let n = run.chat_sent.len();
                    run.chat_drained.load(Ordering::SeqCst) == n
                        && (0..n).all(|a| {
                            per_author.get(&a).copied().unwrap_or(0)
                                >= run.chat_sent[a].load(Ordering::SeqCst)
                        })
                }
            };
            if done {
                break;
            }
        }
        if session.maintain().is_err() {
            continue;
        }
        let Delivered { reply, msg, .. } = match session.recv(POLL) {
            Ok(d) => d,
            Err(SessionError::Timeout) => {
                if session.unapplied_len() > 0 && last_progress.elapsed() > STALL {
                    r.failures.push(format!(
                        "{}: nothing arrived for {STALL:?} with {} commands unapplied \
                         (highest Msg {})",
                        r.name,
                        session.unapplied_len(),
                        session.highest()
                    ));
                    break;
                }
                continue;
            }
            Err(SessionError::Disconnected(_)) => continue,
            Err(SessionError::Protocol(why)) => {
                r.failures.push(why);
                break;
            }
            Err(SessionError::Next(to)) => {
                r.failures
                    .push(format!("{}: a single server sent it to {to}", r.name));
                break;
            }
        };
        last_progress = Instant::now();
        let Some(msg) = msg else {
            r.failures
                .push(format!("{}: an unnumbered {reply} from the table", r.name));
            continue;
        };
        match (role, reply.command.as_str()) {
            (Role::Counter { .. }, "n") => {
                let Some([count, seq]) = numbers(&reply.body)
                    .filter(|v| v.len() == 2)
                    .map(|v| [v[0], v[1]])
                else {
                    r.failures
                        .push(format!("{}: Msg {msg}: n {:?}", r.name, reply.body));
                    continue;
                };
                if seq <= last_answered {
                    r.duplicated += 1;
                    r.failures.push(format!(
                        "{}: Msg {msg}: increment {seq} answered again after {last_answered} \
                         (ran twice?)",
                        r.name
                    ));
                } else if seq > last_answered + 1 {
                    r.lost += seq - last_answered - 1;
                    r.failures.push(format!(
                        "{}: Msg {msg}: increment {seq} answered after {last_answered}: \
                         the ones between were never answered",
                        r.name
                    ));
                }
                last_answered = last_answered.max(seq);
                if seq <= resume_k {
                    r.replayed += 1;
                }
                r.counts.push(count);
                session.applied(seq);
            }
            (Role::Counter { .. }, "v") => {
                let Some(v) = numbers(&reply.body).filter(|v| v.len() == 3) else {
                    r.failures.push(format!("{}: v {:?}", r.name, reply.body));
                    continue;
                };
                r.got = Some((v[0], v[1]));
                session.applied(v[2]);
            }
            (Role::Chat { index, .. }, "message") => {
                // `<nick>> <author>:<seq>`
                let line = reply.body.rsplit("> ").next().unwrap_or("");
                let Some((author, seq)) = line
                    .split_once(':')
                    .and_then(|(a, s)| Some((a.parse::<usize>().ok()?, s.parse::<u64>().ok()?)))
                else {
                    r.failures.push(format!("{}: Msg {msg}: {reply}", r.name));
                    continue;
                };
                *r.lines.entry((author, seq)).or_default() += 1;
                let last = per_author.entry(author).or_default();
                if seq <= *last {
                    r.duplicated += 1;
                    r.failures.push(format!(
                        "{}: Msg {msg}: line {author}:{seq} after {author}:{last}",
                        r.name
                    ));
                } else if seq > *last + 1 {
                    r.lost += seq - *last - 1;
                    r.failures.push(format!(
                        "{}: Msg {msg}: line {author}:{seq} after {author}:{last}: the lines \
                         between never came",
                        r.name
                    ));
                }
                *last = (*last).max(seq);
                if author == index {
                    if seq <= resume_k {
                        r.replayed += 1;
                    }
                    session.applied(seq);
                }
            }
            (Role::Chat { .. }, "notice") => {}
            _ => r
                .failures
                .push(format!("{}: Msg {msg}: unexpected {reply}", r.name)),
        }
    }
    r.sent = session.last_seq();
    r.log = session.log().clone();
    let log = &r.log;
    if !log.is_clean() {
        r.failures.push(format!(
            "{}: the Msg stream: gaps {:?}, duplicates {:?}, reordered {:?}, resyncs {:?}, \
             violations {:?}",
            r.name, log.gaps, log.duplicates, log.reordered, log.resyncs, log.violations
        ));
    }
    r.lost += log.gaps.iter().map(|(a, b)| b - a - 1).sum::<u64>();
    r.duplicated += log.duplicates.len() as u64 + log.reordered.len() as u64;
    session.disconnect();
    r
}

fn connect_tcp(tcp: SocketAddr, _http: SocketAddr) -> io::Result<Conn<Ggs10>> {
    Client::try_connect(tcp)
}

fn connect_ws(_tcp: SocketAddr, http: SocketAddr) -> io::Result<Conn<Ws>> {
    WsClient::try_connect(http)
}

/// Joins (creating the table with `None`), defines `script` if given, and reads until the
/// `defined` reply.
fn seat<F: ReplyFraming>(
    conn: Conn<F>,
    table: Option<&str>,
    script: Option<&str>,
    name: &str,
) -> Resumable<F> {
    let (session, _) = Resumable::join(conn, table)
        .unwrap_or_else(|e| panic!("{name}: joining with GGS 1.1: {e}"));
    let mut session = session.named(name);
    if let Some(script) = script {
        session
            .request(Request::Define(script))
            .unwrap_or_else(|e| panic!("{name}: define: {e}"));
        loop {
            let d = session
                .recv(Duration::from_secs(10))
                .unwrap_or_else(|e| panic!("{name}: waiting for defined: {e}"));
            if d.reply.command == "defined" {
                assert_eq!(d.reply.body, "ok", "{name}");
                break;
            }
        }
    }
    session
}

#[test]
fn every_command_runs_once_and_every_message_arrives_once_across_sigkills() {
    let kills = env_number("GGS_EXACTLY_ONCE_KILLS").unwrap_or(20);
    let seed = env_number("GGS_EXACTLY_ONCE_SEED").unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("the clock is after 1970")
            .as_nanos() as u64
    });
    report(&format!(
        "exactly-once: seed {seed} (GGS_EXACTLY_ONCE_SEED={seed} replays it), {kills} kills"
    ));
    let mut rng = Rng(seed);
    let began = Instant::now();
    let mut server = ServerProcess::start_with(ServerOptions {
        env: vec![("GGS_MESSAGES_PER_SECOND".into(), "1000000".into())],
        ..ServerOptions::default()
    });
    let chat_players = CHAT_TCP + CHAT_WS + CHAT_LISTENERS;
    let run = Arc::new(Run {
        addrs: Addresses {
            now: Mutex::new((1, server.tcp_addr(), server.http_addr())),
            changed: Condvar::new(),
        },
        stop: AtomicBool::new(false),
        chat_drained: AtomicUsize::new(0),
        chat_sent: (0..chat_players).map(|_| AtomicU64::new(0)).collect(),
        counter_drained: (0..COUNTER_TABLES).map(|_| AtomicUsize::new(0)).collect(),
    });

    let mut players = Vec::new();
    for t in 0..COUNTER_TABLES {
        let name = format!("counter {t} tcp");
        let tcp = seat(server.connect(), None, Some(COUNTER), &name);
        let table = tcp.table().to_string();
        let ws = seat(
            server.connect_ws(),
            Some(&table),
            None,
            &format!("counter {t} ws"),
        );
        let run1 = run.clone();
        players.push(thread::spawn(move || {
            play(
                tcp,
                Role::Counter {
                    table: t,
                    getter: true,
                },
                run1,
                connect_tcp,
                1,
            )
        }));
        let run2 = run.clone();
        players.push(thread::spawn(move || {
            play(
                ws,
                Role::Counter {
                    table: t,
                    getter: false,
                },
                run2,
                connect_ws,
                1,
            )
        }));
    }
    let chat_js = game_source("chat.js");
    let first = seat(server.connect(), None, Some(&chat_js), "chat 0 tcp");
    let chat_table = first.table().to_string();
    let mut tcp_chat = vec![first];
    for i in 1..CHAT_TCP {
        tcp_chat.push(seat(
            server.connect(),
            Some(&chat_table),
            None,
            &format!("chat {i} tcp"),
        ));
    }
    let mut ws_chat = Vec::new();
    for i in CHAT_TCP..CHAT_TCP + CHAT_WS {
        ws_chat.push(seat(
            server.connect_ws(),
            Some(&chat_table),
            None,
            &format!("chat {i} ws"),
        ));
    }
    for i in CHAT_TCP + CHAT_WS..chat_players {
        tcp_chat.push(seat(
            server.connect(),
            Some(&chat_table),
            None,
            &format!("chat {i} tcp listener"),
        ));
    }
    for (index, session) in tcp_chat.into_iter().enumerate() {
        let run = run.clone();
        // The TCP players are numbered first, the listeners last.
        let index = if index < CHAT_TCP {
            index
        } else {
            index + CHAT_WS
        };
        let silent = index >= CHAT_TCP + CHAT_WS;
        players.push(thread::spawn(move || {
            play(session, Role::Chat { index, silent }, run, connect_tcp, 1)
        }));
    }
    for (i, session) in ws_chat.into_iter().enumerate() {
        let run = run.clone();
        let index = CHAT_TCP + i;
        let silent = false;
        players.push(thread::spawn(move || {
            play(session, Role::Chat { index, silent }, run, connect_ws, 1)
        }));
    }

    let mut server_failures = Vec::new();
    for kill in 1..=kills {
        thread::sleep(Duration::from_millis(rng.range(ROUND_MS.0, ROUND_MS.1)));
        server.kill9();
        let log = server.stderr();
        if log.contains("panicked") {
            server_failures.push(format!("kill {kill}: the server had panicked:\n{log}"));
        }
        server.restart();
        run.addrs.publish(&server);
    }
    thread::sleep(Duration::from_millis(rng.range(ROUND_MS.0, ROUND_MS.1)));
    run.stop.store(true, Ordering::SeqCst);
    let reports: Vec<PlayerReport> = players
        .into_iter()
        .map(|h| h.join().expect("a player thread panicked"))
        .collect();
    let log = server.stderr();
    if log.contains("panicked") {
        server_failures.push(format!("after the last kill: the server panicked:\n{log}"));
    }

    let mut failures: Vec<String> = server_failures;
    let (mut sent, mut resent, mut replayed, mut lost, mut duplicated) = (0, 0, 0, 0, 0);
    let (mut delivered, mut resumes, mut acks_alone) = (0, 0, 0);
    for r in &reports {
        sent += r.sent;
        resent += r.log.resent;
        replayed += r.replayed;
        lost += r.lost;
        duplicated += r.duplicated;
        delivered += r.log.delivered;
        resumes += r.log.resumes;
        acks_alone += r.log.acks_alone;
        failures.extend(r.failures.iter().cloned());
    }
    // Counters: exactly the increments sent, each value acknowledged once.
    let mut applied = 0u64;
    for t in 0..COUNTER_TABLES {
        let at: Vec<&PlayerReport> = reports
            .iter()
            .filter(|r| r.name.starts_with(&format!("counter {t} ")))
            .collect();
        let incs: u64 = at.iter().map(|r| r.incs).sum();
        let mut counts: Vec<u64> = at.iter().flat_map(|r| r.counts.iter().copied()).collect();
        counts.sort_unstable();
        let distinct = {
            let mut c = counts.clone();
            c.dedup();
            c.len() as u64
        };
        if distinct != counts.len() as u64 {
            duplicated += counts.len() as u64 - distinct;
            failures.push(format!("counter {t}: a value was acknowledged twice"));
        }
        match at.iter().find_map(|r| r.got) {
            Some((state, world)) => {
                // The increments, and the `get` itself.
                applied += state + 1;
                if state != incs || world != incs {
                    failures.push(format!(
                        "counter {t}: GGS.state {state}, GGS.world {world}, but {incs} \
                         distinct increments were sent"
                    ));
                    lost += incs.saturating_sub(state);
                    duplicated += state.saturating_sub(incs);
                }
                if counts.len() as u64 != incs {
                    failures.push(format!(
                        "counter {t}: {} increments acknowledged, {incs} sent",
                        counts.len()
                    ));
                }
            }
            None => failures.push(format!("counter {t}: no answer to get")),
        }
    }
    // Chat: every line at every player exactly once.
    let chat_sent: Vec<u64> = run
        .chat_sent
        .iter()
        .map(|s| s.load(Ordering::SeqCst))
        .collect();
    applied += chat_sent.iter().sum::<u64>();
    for r in reports.iter().filter(|r| r.name.starts_with("chat ")) {
        let mut missing = 0;
        for (author, &n) in chat_sent.iter().enumerate() {
            for seq in 1..=n {
                match r.lines.get(&(author, seq)).copied().unwrap_or(0) {
                    0 => missing += 1,
                    1 => {}
                    _ => {} // counted as duplicated where it arrived
                }
            }
        }
        if missing > 0 {
            lost += missing;
            failures.push(format!("{}: {missing} chat lines never arrived", r.name));
        }
    }
    report(&format!(
        "exactly-once summary: seed {seed}, kills {kills}, commands sent {sent}, resent {resent}, \
         applied {applied}, messages delivered {delivered}, replayed {replayed}, lost {lost}, \
         duplicated {duplicated}; resumes {resumes}, acks alone {acks_alone}; {:.1} s",
        began.elapsed().as_secs_f64()
    ));
    assert!(
        failures.is_empty(),
        "seed {seed}: {} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!((lost, duplicated), (0, 0), "seed {seed}");
    assert!(
        reports.iter().all(|r| r.log.resumes > 0) || kills == 0,
        "seed {seed}: a player never resumed"
    );
    assert!(
        sent > 0 && resent > 0,
        "seed {seed}: sent {sent}, resent {resent}"
    );
}

/// Seats a 1.1 player at a new counter table, sends ten numbered increments without `Ack`
/// and reads their answers; if `ack_alone`, then acknowledges them alone. Then it comes back
/// on a new connection claiming to have received nothing (`Ack: 0`) and returns the first
/// message after the hello reply, with its `Msg`.
fn come_back_claiming_nothing(ack_alone: bool) -> (String, Option<u64>) {
    let server = ServerProcess::start();
    let mut client = server.connect().named("acker");
    let v11 = RequestMeta {
        versions: VERSIONS_1_1,
        ..RequestMeta::default()
    };
    let (hello, _) = client.hello_offering(None, VERSIONS_1_1);
    client.request_meta(Request::Define(COUNTER), &v11);
    client.expect("defined", "ok");
    for i in 1..=10u64 {
        let seq = RequestMeta {
            seq: Some(i),
            ..RequestMeta::default()
        };
        client.request_meta(Request::Command("inc", &i.to_string()), &seq);
        client.expect("n", &format!("{i} {i}"));
    }
    let highest = client.last_meta().msg.expect("the answers are numbered");
    if ack_alone {
        client.request_meta(Request::Ack(highest), &RequestMeta::default());
        // The acknowledgement reaches the table before the connection's end does.
        thread::sleep(Duration::from_millis(200));
    }
    client.close();
    let mut back = server.connect().named("acker, back");
    let resume = RequestMeta {
        versions: VERSIONS_1_1,
        ack: Some(0),
        seq: None,
    };
    back.request_meta(
        Request::Hello {
            table: Some(&hello.table),
            token: Some(&hello.token),
        },
        &resume,
    );
    back.expect_cmd("hello");
    let next = back.recv();
    (next.command, back.last_meta().msg)
}

/// What is acknowledged alone (`Server-Command: ack`) is no longer kept: a seat that comes
/// back claiming none of it gets `resync`; without that acknowledgement it gets a replay from
/// the first message.
#[test]
fn what_is_acknowledged_alone_is_no_longer_kept() {
    let (command, msg) = come_back_claiming_nothing(true);
    assert_eq!(
        command, "resync",
        "every message was acknowledged, yet {command} (Msg {msg:?}) was kept"
    );
    let (command, msg) = come_back_claiming_nothing(false);
    assert_eq!(
        (command.as_str(), msg),
        ("defined", Some(1)),
        "nothing was acknowledged: the replay starts at Msg 1"
    );
}
