//! Tables handed between real `ggs` nodes on a real etcd, with their players connected.
//!
//! - Draining node A under pipelined load: GGS 1.1 players over TCP and WebSocket follow
//!   `next` to the new owner and resume; 2011 (GGS 1.0) players stay connected to A, which
//!   relays them. No acknowledged command is lost, no 1.1 stream has a gap or a duplicate, each
//!   counter equals the commands applied to it. Then `undrain` and `rebalance` bring tables
//!   back to A.
//! - Handoffs SIGKILLed at random moments, the old or the new node: exactly one owner in etcd
//!   after each, serving the table with everything acknowledged.
//! - A rolling deploy: each node in turn drained, stopped, started again and undrained while
//!   players play.
//!
//! `GGS_HANDOFF_TRIALS=N` sets the kill trials (default 20), `GGS_HANDOFF_SEED=S` replays a
//! run.

use std::collections::HashMap;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ggs_tests::client::{Conn, ReplyFraming};
use ggs_tests::etcd::Etcd;
use ggs_tests::ggs10::Ggs10;
use ggs_tests::resumable::Delivered;
use ggs_tests::ws::Ws;
use ggs_tests::{Client, Resumable, Rng, ServerProcess, SessionError, StreamLog, WsClient};

/// A counter in `GGS.state`: `inc` adds one and answers the sender `n <value> <args>`; `get`
/// answers `v <value> <args>`.
const COUNTER: &str = r#"
function playerCommand(player, command, args) {
  if (command === "inc") {
    var n = (GGS.state.n || 0) + 1;
    GGS.state.n = n;
    GGS.sendCommand(player, "n", n + " " + args);
  } else if (command === "get") {
    GGS.sendCommand(player, "v", (GGS.state.n || 0) + " " + args);
  }
}
"#;

/// The nodes' lease, in seconds (etcd's smallest).
const LEASE_SECS: u64 = 2;
/// How long a change may take to be seen.
const SETTLE: Duration = Duration::from_secs(20);
/// Commands a 1.1 player keeps in flight.
const WINDOW: usize = 4;
/// How long one read waits.
const POLL: Duration = Duration::from_millis(20);
/// How long a player may see nothing with commands in flight before the test calls it stuck.
const STALL: Duration = Duration::from_secs(20);

/// Writes a line to the real stderr, past the test harness's capture.
fn report(line: &str) {
    let _ = writeln!(io::stderr(), "{line}");
}

#[track_caller]
fn eventually(what: impl FnMut() -> bool, why: impl Fn() -> String) {
    ggs_tests::eventually(SETTLE, what, why)
}

/// The owner of every table in etcd.
fn owners(etcd: &Etcd) -> HashMap<String, String> {
    etcd.keys("ggs/tables/")
        .into_iter()
        .filter_map(|key| {
            let owner = etcd.get(&key)?;
            Some((key.trim_start_matches("ggs/tables/").to_string(), owner))
        })
        .collect()
}

/// Creates a counter table on `node`: a 2011 client says hello and defines it.
fn counter_table(node: &ServerProcess) -> (String, Client) {
    let mut client = node.connect().named("creator");
    let hello = client.hello(None);
    client.define_ok(COUNTER);
    (hello.table, client)
}

/// Where a `next` reply sends a client: `HOST:PORT`, or a WebSocket URL's `HOST:PORT`.
fn next_address(to: &str) -> SocketAddr {
    let bare = to
        .trim_start_matches("ws://")
        .trim_end_matches("/ws")
        .trim_end_matches('/');
    bare.parse()
        .unwrap_or_else(|e| panic!("a next address {to:?}: {e}"))
}

/// The current addresses of the nodes, (TCP, HTTP) by name: where a player that lost its node
/// tries next.
type Directory = Arc<Mutex<Vec<(String, SocketAddr, SocketAddr)>>>;

fn directory_of(nodes: &[(&str, &ServerProcess)]) -> Directory {
    Arc::new(Mutex::new(
        nodes
            .iter()
            .map(|(name, n)| (name.to_string(), n.tcp_addr(), n.http_addr()))
            .collect(),
    ))
}

/// What a GGS 1.1 player saw.
#[derive(Debug, Default)]
struct V11Report {
    name: String,
    log: StreamLog,
    /// Increments sent (each a distinct `Seq`), all applied at the end.
    incs: u64,
    /// `next` replies followed.
    followed: u64,
    failures: Vec<String>,
}

/// A GGS 1.1 player at `table`: pipelines increments until `stop`, follows `next`, resumes
/// after a lost connection (at its node, else at any node), then waits until every increment
/// is applied.
fn v11_player<F: ReplyFraming>(
    name: String,
    table: String,
    first: SocketAddr,
    nodes: Directory,
    connect: fn(SocketAddr) -> io::Result<Conn<F>>,
    pick: fn(&(String, SocketAddr, SocketAddr)) -> SocketAddr,
    stop: Arc<AtomicBool>,
) -> V11Report {
    let mut r = V11Report {
        name: name.clone(),
        ..V11Report::default()
    };
    let conn = connect(first)
        .unwrap_or_else(|e| panic!("{name}: connecting: {e}"))
        .named(&name);
    let (mut session, _) = match Resumable::join(conn, Some(&table)) {
        Ok(joined) => joined,
        Err(e) => panic!("{name}: joining {table}: {e}"),
    };
    let mut addr = first;
    let mut answered = 0u64;
    let mut last_progress = Instant::now();
    let mut tries = 0usize;
    loop {
        let stopping = stop.load(Ordering::SeqCst);
        if stopping && session.unapplied_len() == 0 {
            break;
        }
        if last_progress.elapsed() > STALL {
            r.failures.push(format!(
                "{name}: no progress for {STALL:?} ({} commands unapplied, at {addr})",
                session.unapplied_len()
            ));
            break;
        }
        if !session.is_connected() {
            let conn = match connect(addr) {
                Ok(conn) => conn.named(&name),
                Err(_) => {
                    // The node is gone (restarting): any other node sends it on.
                    tries += 1;
                    let nodes = nodes.lock().expect("no panics holding the directory");
                    addr = pick(&nodes[tries % nodes.len()]);
                    drop(nodes);
                    thread::sleep(Duration::from_millis(50));
                    continue;
                }
            };
            match session.resume(conn) {
                Ok(_) => {}
                Err(SessionError::Next(to)) => {
                    addr = next_address(&to);
                    r.followed += 1;
                }
                Err(SessionError::Protocol(why)) if why.contains("table_unavailable") => {
                    thread::sleep(Duration::from_millis(50));
                }
                Err(SessionError::Protocol(why)) => {
                    r.failures.push(why);
                    break;
                }
                Err(_) => thread::sleep(Duration::from_millis(50)),
            }
            continue;
        }
        while !stopping && session.unapplied_len() < WINDOW {
            let args = (session.last_seq() + 1).to_string();
            let _ = session.command("inc", &args);
        }
        if session.maintain().is_err() {
            continue;
        }
        let Delivered { reply, msg, next } = match session.recv(POLL) {
            Ok(d) => d,
            Err(SessionError::Protocol(why)) => {
                r.failures.push(why);
                break;
            }
            Err(_) => continue,
        };
        match (reply.command.as_str(), msg, next) {
            ("next", None, Some(to)) => {
                addr = next_address(&to);
                r.followed += 1;
                session.disconnect();
            }
            ("n", Some(msg), _) => {
                last_progress = Instant::now();
                let seq = reply
                    .body
                    .split(' ')
                    .nth(1)
                    .and_then(|s| s.parse::<u64>().ok());
                let Some(seq) = seq else {
                    r.failures
                        .push(format!("{name}: Msg {msg}: n {:?}", reply.body));
                    continue;
                };
                if seq != answered + 1 {
                    r.failures.push(format!(
                        "{name}: Msg {msg}: increment {seq} answered after {answered}"
                    ));
                }
                answered = answered.max(seq);
                session.applied(seq);
            }
            _ => r
                .failures
                .push(format!("{name}: unexpected {reply} (Msg {msg:?})")),
        }
    }
    r.incs = session.last_seq();
    r.log = session.log().clone();
    session.disconnect();
    r
}

fn tcp_conn(addr: SocketAddr) -> io::Result<Conn<Ggs10>> {
    Client::try_connect(addr)
}

fn ws_conn(addr: SocketAddr) -> io::Result<Conn<Ws>> {
    WsClient::try_connect(addr)
}

fn tcp_of(node: &(String, SocketAddr, SocketAddr)) -> SocketAddr {
    node.1
}

fn http_of(node: &(String, SocketAddr, SocketAddr)) -> SocketAddr {
    node.2
}

/// What a 2011 player saw: increments answered, in order, and failures.
#[derive(Debug, Default)]
struct V10Report {
    name: String,
    answered: u64,
    /// An increment sent whose answer never came (its connection was lost): it may or may not
    /// have run.
    in_doubt: u64,
    reconnects: u64,
    failures: Vec<String>,
}

/// A 2011 player at `table`: one increment at a time (each answered before the next), until
/// `stop`. With `reconnect`, a lost connection is taken again with its token at any node (a
/// node restarted); without, a lost connection is a failure.
fn v10_player(
    name: String,
    table: String,
    first: SocketAddr,
    nodes: Directory,
    reconnect: bool,
    stop: Arc<AtomicBool>,
) -> V10Report {
    let mut r = V10Report {
        name: name.clone(),
        ..V10Report::default()
    };
    let mut client = Client::connect(first).named(&name);
    let token = client.hello(Some(&table)).token;
    let mut k = 0u64;
    let mut tries = 0usize;
    let mut doubts: Vec<u64> = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        k += 1;
        client.command("inc", &k.to_string());
        // A node that stops says `shutdown` first: its connection is as good as lost. The
        // answer to an increment in doubt may come late, on the new connection (the table
        // ran it after the seat was taken back): it settles the doubt.
        let answer = loop {
            let answer = client
                .try_recv(Duration::from_secs(15))
                .map_err(|e| e.to_string())
                .and_then(|reply| match reply.command.as_str() {
                    "shutdown" => Err(format!("{reply}")),
                    _ => Ok(reply),
                });
            let late = answer.as_ref().ok().and_then(|reply| {
                let seq: u64 = reply.body.split(' ').nth(1)?.parse().ok()?;
                (reply.command == "n" && doubts.contains(&seq)).then_some(seq)
            });
            match late {
                Some(seq) => {
                    doubts.retain(|d| *d != seq);
                    r.in_doubt -= 1;
                    r.answered += 1;
                }
                None => break answer,
            }
        };
        match answer {
            Ok(reply) if reply.command == "n" => {
                let seq = reply.body.split(' ').nth(1).and_then(|s| s.parse().ok());
                if seq != Some(k) {
                    r.failures
                        .push(format!("{name}: increment {k} answered {:?}", reply.body));
                    break;
                }
                r.answered += 1;
            }
            Ok(reply) => {
                r.failures
                    .push(format!("{name}: increment {k} answered {reply}"));
                break;
            }
            Err(e) if reconnect => {
                // The answer was lost with the connection: the increment may have run.
                r.in_doubt += 1;
                doubts.push(k);
                r.reconnects += 1;
                let resumed = (0..200).find_map(|_| {
                    tries += 1;
                    let addr = {
                        let nodes = nodes.lock().expect("no panics holding the directory");
                        nodes[tries % nodes.len()].1
                    };
                    let mut c = Client::try_connect(addr).ok()?.named(&name);
                    c.request(ggs_tests::Request::Hello {
                        table: Some(&table),
                        token: Some(&token),
                    });
                    match c.try_recv(Duration::from_secs(5)) {
                        Ok(reply) if reply.command == "hello" => Some(c),
                        _ => {
                            thread::sleep(Duration::from_millis(50));
                            None
                        }
                    }
                });
                match resumed {
                    Some(c) => client = c,
                    None => {
                        r.failures
                            .push(format!("{name}: could not take its seat back ({e})"));
                        break;
                    }
                }
            }
            Err(e) => {
                r.failures
                    .push(format!("{name}: increment {k} not answered: {e}"));
                break;
            }
        }
    }
    r
}

/// Stops the players and gathers what they saw.
fn finish(
    stop: &AtomicBool,
    v11: Vec<thread::JoinHandle<V11Report>>,
    v10: Vec<thread::JoinHandle<V10Report>>,
) -> (Vec<V11Report>, Vec<V10Report>) {
    stop.store(true, Ordering::SeqCst);
    let v11 = v11
        .into_iter()
        .map(|h| h.join().expect("a player"))
        .collect();
    let v10 = v10
        .into_iter()
        .map(|h| h.join().expect("a player"))
        .collect();
    (v11, v10)
}

/// The counter at `table`, asked through `node` by a new player there (relayed if the table
/// is elsewhere).
fn count_at(node: SocketAddr, table: &str) -> u64 {
    let mut client = Client::connect(node).named("counter");
    client.hello(Some(table));
    client.command("get", "end");
    let body = client.expect_cmd("v");
    body.split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a count: {body:?}"))
}

/// The handoff figures of `node` (`GET /api/handoffs`).
fn handoff_stats(node: &ServerProcess) -> serde_json::Value {
    ggs_tests::http::get(node.http_addr(), "/api/handoffs").json()
}

/// Live tables of `node` as the members list says.
fn live_tables(observer: &ServerProcess, name: &str) -> Option<u64> {
    let nodes = ggs_tests::http::get(observer.http_addr(), "/api/nodes").json_or_null();
    nodes
        .as_array()?
        .iter()
        .find(|n| n["name"] == name)
        .and_then(|n| n["live_tables"].as_u64())
}

#[test]
fn a_drained_node_hands_its_tables_over_and_nothing_is_lost() {
    let etcd = Etcd::start();
    let a = etcd.start_node("a", LEASE_SECS);
    let b = etcd.start_node("b", LEASE_SECS);
    let c = etcd.start_node("c", LEASE_SECS);
    eventually(
        || live_tables(&a, "c").is_some() && live_tables(&c, "a").is_some(),
        || "the three nodes see each other".into(),
    );
    let nodes = directory_of(&[("a", &a), ("b", &b), ("c", &c)]);
    let stop = Arc::new(AtomicBool::new(false));
    const TABLES: usize = 3;
    let mut tables = Vec::new();
    let mut v11 = Vec::new();
    let mut v10 = Vec::new();
    for t in 0..TABLES {
        let (table, creator) = counter_table(&a);
        creator.close();
        let (name, id, n, s) = (
            format!("tcp-{t}"),
            table.clone(),
            nodes.clone(),
            stop.clone(),
        );
        let first = a.tcp_addr();
        v11.push(thread::spawn(move || {
            v11_player(name, id, first, n, tcp_conn, tcp_of, s)
        }));
        if t == 0 {
            let (id, n, s) = (table.clone(), nodes.clone(), stop.clone());
            let first = a.http_addr();
            v11.push(thread::spawn(move || {
                v11_player("ws-0".into(), id, first, n, ws_conn, http_of, s)
            }));
        }
        let (name, id, n, s) = (
            format!("2011-{t}"),
            table.clone(),
            nodes.clone(),
            stop.clone(),
        );
        let first = a.tcp_addr();
        v10.push(thread::spawn(move || {
            v10_player(name, id, first, n, false, s)
        }));
        tables.push(table);
    }
    // A person in line mode at the first table.
    let mut person = ggs_tests::LineClient::connect(a.tcp_addr()).named("person");
    person.send(&format!("/hello {}", tables[0]));
    person.expect_prefix("welcome GGS ");
    person.expect_hello();
    thread::sleep(Duration::from_millis(1500));
    let asked = b.admin("POST", "/api/nodes/a/drain", "");
    assert_eq!(asked.status, 200, "drain a through b: {}", asked.body);
    let drain_started = Instant::now();
    eventually(
        || {
            let owners = owners(&etcd);
            tables
                .iter()
                .all(|t| owners.get(t).is_some_and(|o| o != "a"))
        },
        || format!("a's tables moved: {:?}", owners(&etcd)),
    );
    let drained_in = drain_started.elapsed();
    // The person is told where the table went (with the new node's TCP address), and the
    // connection closes.
    let next = person.expect_prefix("next ");
    let to = next
        .trim_start_matches("next ")
        .split(' ')
        .next()
        .unwrap_or_default();
    assert!(
        [b.tcp_addr(), c.tcp_addr()]
            .iter()
            .any(|addr| addr.to_string() == to),
        "the person is sent to b or c: next {next}"
    );
    person.expect_closed();
    eventually(
        || live_tables(&b, "a") == Some(0),
        || format!("a has no live table: {:?}", live_tables(&b, "a")),
    );
    // A drained node takes no new table: one made there goes to another node at once, and
    // its creator follows it there.
    let conn = Client::connect(a.tcp_addr()).named("newcomer");
    let (mut newcomer, hello) = Resumable::join(conn, None).expect("a new table at a");
    let mut told = None;
    let deadline = Instant::now() + SETTLE;
    while told.is_none() && Instant::now() < deadline {
        match newcomer.recv(POLL) {
            Ok(Delivered { next: Some(to), .. }) => told = Some(next_address(&to)),
            Ok(other) => panic!("the newcomer got {other:?}"),
            Err(_) => {}
        }
    }
    let to = told.expect("the new table's creator is told where it went");
    newcomer.disconnect();
    newcomer
        .resume(Client::connect(to).named("newcomer"))
        .expect("the newcomer resumes at the table's node");
    let new_owner = owners(&etcd).get(&hello.table).cloned();
    assert!(
        new_owner.as_deref().is_some_and(|o| o != "a"),
        "a new table of a draining node is another's: {new_owner:?}"
    );
    thread::sleep(Duration::from_millis(500));
    let (v11, v10) = finish(&stop, v11, v10);
    let stats = handoff_stats(&a);
    report(&format!(
        "drain of {TABLES} tables under load: owners moved within {drained_in:?}; a's handoffs: {stats}"
    ));
    let mut failures = Vec::new();
    for r in &v11 {
        report(&format!(
            "  {}: {} increments, {} delivered, {} resumes, {} resent, {} next followed",
            r.name, r.incs, r.log.delivered, r.log.resumes, r.log.resent, r.followed
        ));
        failures.extend(r.failures.iter().cloned());
        if !r.log.is_clean() {
            failures.push(format!("{}: its stream: {:?}", r.name, r.log));
        }
        if r.followed == 0 {
            failures.push(format!("{} never followed its table", r.name));
        }
    }
    for r in &v10 {
        report(&format!("  {}: {} increments answered", r.name, r.answered));
        failures.extend(r.failures.iter().cloned());
    }
    for (t, table) in tables.iter().enumerate() {
        let expected: u64 = v11
            .iter()
            .filter(|r| r.name.ends_with(&format!("-{t}")))
            .map(|r| r.incs)
            .sum::<u64>()
            + v10[t].answered;
        let counted = count_at(a.tcp_addr(), table);
        if counted != expected {
            failures.push(format!(
                "table {t}: counter {counted}, but {expected} increments were applied"
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    let moved = stats["handed_off"].as_u64().unwrap_or(0);
    assert!(
        moved >= TABLES as u64,
        "a handed over {moved} tables: {stats}"
    );

    // Undrained, a takes tables again; a rebalance hands it some.
    let asked = c.admin("POST", "/api/nodes/a/undrain", "");
    assert_eq!(asked.status, 200, "undrain a: {}", asked.body);
    eventually(
        || {
            let nodes = ggs_tests::http::get(b.http_addr(), "/api/nodes").json_or_null();
            nodes
                .as_array()
                .is_some_and(|n| n.iter().any(|n| n["name"] == "a" && n["draining"] == false))
        },
        || "a is no longer draining".into(),
    );
    for table in &tables {
        // Wake the tables where they are now, so the members' loads count them.
        count_at(b.tcp_addr(), table);
    }
    eventually(
        || live_tables(&a, "b").unwrap_or(0) + live_tables(&a, "c").unwrap_or(0) >= TABLES as u64,
        || "b and c report the tables".into(),
    );
    let asked = a.admin("POST", "/api/nodes/rebalance", "");
    assert_eq!(asked.status, 200, "rebalance: {}", asked.body);
    eventually(
        || owners(&etcd).values().any(|o| o == "a"),
        || format!("a table came back to a: {:?}", owners(&etcd)),
    );
    for table in &tables {
        let counted = count_at(c.tcp_addr(), table);
        assert!(counted > 0, "table {table} kept its count ({counted})");
    }
}

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok().map(|s| {
        s.trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a number, got {s:?}"))
    })
}

#[test]
fn handoffs_killed_at_random_steps_leave_one_owner_and_lose_nothing() {
    let trials = env_number("GGS_HANDOFF_TRIALS").unwrap_or(20);
    let seed = env_number("GGS_HANDOFF_SEED").unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
    });
    report(&format!(
        "handoff kill trials: {trials}, seed {seed} (GGS_HANDOFF_SEED replays it)"
    ));
    let mut rng = Rng(seed);
    let etcd = Etcd::start();
    let mut nodes = [
        etcd.start_node("a", LEASE_SECS),
        etcd.start_node("b", LEASE_SECS),
    ];
    let names = ["a", "b"];
    eventually(
        || live_tables(&nodes[0], "b").is_some() && live_tables(&nodes[1], "a").is_some(),
        || "the nodes see each other".into(),
    );
    let (table, mut creator) = counter_table(&nodes[0]);
    let mut acked = 0u64;
    let mut moved = 0;
    for trial in 0..trials {
        // Three increments, answered: acknowledged.
        let owner = owners(&etcd)
            .get(&table)
            .cloned()
            .expect("the table has an owner");
        let from = names
            .iter()
            .position(|n| **n == owner)
            .expect("a known owner");
        let to = 1 - from;
        let mut player = Client::connect(nodes[from].tcp_addr()).named("player");
        player.hello(Some(&table));
        for _ in 0..3 {
            acked += 1;
            player.command("inc", &acked.to_string());
            let body = player.expect_cmd("n");
            assert!(
                body.ends_with(&format!(" {acked}")),
                "trial {trial}: n {body:?}"
            );
        }
        let path = format!("/api/tables/{table}/handoff?to={}", names[to]);
        let (addr, token) = (nodes[from].http_addr(), nodes[from].admin_token());
        let asked = thread::spawn(move || {
            let bearer = ggs_tests::http::bearer(&token);
            let headers = [("Authorization", bearer.as_str())];
            ggs_tests::http::try_send(addr, "POST", &path, &headers, "")
        });
        let delay = rng.range(0, 25);
        thread::sleep(Duration::from_millis(delay));
        let victim = rng.range(0, 1) as usize;
        nodes[victim].kill9();
        let answer = asked.join().expect("the handoff request");
        nodes[victim].restart();
        drop(player);
        // Exactly one owner, serving the table with every acknowledged increment.
        let mut counted = None;
        eventually(
            || {
                let Some(owner) = owners(&etcd).get(&table).cloned() else {
                    return false;
                };
                let at = names
                    .iter()
                    .position(|n| **n == owner)
                    .expect("a known owner");
                let mut c = match Client::try_connect(nodes[at].tcp_addr()) {
                    Ok(c) => c.named("checker"),
                    Err(_) => return false,
                };
                c.send_hello(Some(&table));
                match c.try_recv(Duration::from_secs(5)) {
                    Ok(reply) if reply.command == "hello" => {}
                    _ => return false,
                }
                c.command("get", "check");
                counted = c
                    .try_recv(Duration::from_secs(5))
                    .ok()
                    .filter(|r| r.command == "v")
                    .and_then(|r| r.body.split(' ').next()?.parse::<u64>().ok());
                counted.is_some()
            },
            || format!("trial {trial}: the table is served by its owner"),
        );
        let owner = owners(&etcd)[&table].clone();
        if owner == names[to] {
            moved += 1;
        }
        report(&format!(
            "  trial {trial}: killed {} after {delay} ms; the request: {}; owner {owner}; count {counted:?}",
            names[victim],
            match &answer {
                Ok(answer) => format!("{} {}", answer.status, answer.body),
                Err(e) => e.clone(),
            }
        ));
        assert_eq!(
            counted,
            Some(acked),
            "trial {trial}: the count is every acknowledged increment"
        );
        // The node that does not own it does not serve it: it sends the client on.
        let other = names.iter().position(|n| **n != owner).expect("two nodes");
        let mut c = Client::connect(nodes[other].tcp_addr()).named("elsewhere");
        c.send_hello(Some(&table));
        match c.try_recv(Duration::from_secs(10)) {
            Ok(reply) => assert_eq!(
                reply.command, "hello",
                "trial {trial}: a 2011 hello at {} is relayed to the owner: {reply}",
                names[other]
            ),
            Err(e) => panic!("trial {trial}: a hello at the other node: {e}"),
        }
        creator = c;
    }
    drop(creator);
    report(&format!(
        "handoff kill trials: {trials}, the table moved in {moved}, nothing lost"
    ));
}

#[test]
fn a_rolling_deploy_interrupts_no_game() {
    let etcd = Etcd::start();
    let mut servers = [
        etcd.start_node("a", LEASE_SECS),
        etcd.start_node("b", LEASE_SECS),
        etcd.start_node("c", LEASE_SECS),
    ];
    let names = ["a", "b", "c"];
    eventually(
        || live_tables(&servers[0], "c").is_some() && live_tables(&servers[2], "a").is_some(),
        || "the three nodes see each other".into(),
    );
    let nodes = directory_of(&[("a", &servers[0]), ("b", &servers[1]), ("c", &servers[2])]);
    let stop = Arc::new(AtomicBool::new(false));
    let mut tables = Vec::new();
    let mut v11 = Vec::new();
    let mut v10 = Vec::new();
    for (i, server) in servers.iter().enumerate() {
        let (table, creator) = counter_table(server);
        creator.close();
        let (id, n, s) = (table.clone(), nodes.clone(), stop.clone());
        let first = server.tcp_addr();
        v11.push(thread::spawn(move || {
            v11_player(format!("tcp-{i}"), id, first, n, tcp_conn, tcp_of, s)
        }));
        let (id, n, s) = (table.clone(), nodes.clone(), stop.clone());
        v10.push(thread::spawn(move || {
            v10_player(format!("2011-{i}"), id, first, n, true, s)
        }));
        tables.push(table);
    }
    thread::sleep(Duration::from_millis(800));
    for i in 0..servers.len() {
        let name = names[i];
        let observer = &servers[(i + 1) % servers.len()];
        let asked = observer.admin("POST", &format!("/api/nodes/{name}/drain"), "");
        assert_eq!(asked.status, 200, "drain {name}: {}", asked.body);
        eventually(
            || !owners(&etcd).values().any(|o| o == name),
            || format!("{name} owns no table: {:?}", owners(&etcd)),
        );
        // The new binary: the same one here, started again on the node's data directory.
        servers[i].terminate();
        servers[i].restart();
        {
            let mut n = nodes.lock().expect("no panics holding the directory");
            n[i] = (name.into(), servers[i].tcp_addr(), servers[i].http_addr());
        }
        let observer = &servers[(i + 1) % servers.len()];
        eventually(
            || live_tables(observer, name).is_some(),
            || format!("{name} is back"),
        );
        let asked = observer.admin("POST", &format!("/api/nodes/{name}/undrain"), "");
        assert_eq!(asked.status, 200, "undrain {name}: {}", asked.body);
        thread::sleep(Duration::from_millis(500));
    }
    let (v11, v10) = finish(&stop, v11, v10);
    let mut failures = Vec::new();
    for r in &v11 {
        report(&format!(
            "  {}: {} increments, {} resumes, {} next followed",
            r.name, r.incs, r.log.resumes, r.followed
        ));
        failures.extend(r.failures.iter().cloned());
        if !r.log.is_clean() {
            failures.push(format!("{}: its stream: {:?}", r.name, r.log));
        }
    }
    for r in &v10 {
        report(&format!(
            "  {}: {} increments answered, {} reconnects",
            r.name, r.answered, r.reconnects
        ));
        failures.extend(r.failures.iter().cloned());
    }
    for (i, table) in tables.iter().enumerate() {
        let applied = v11[i].incs + v10[i].answered;
        let counted = count_at(servers[0].tcp_addr(), table);
        // An increment whose answer a restart cut off may have run: never less, never more.
        if counted < applied || counted > applied + v10[i].in_doubt {
            failures.push(format!(
                "table {i}: counter {counted}, {applied} increments acknowledged, {} in doubt",
                v10[i].in_doubt
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn without_etcd_handoffs_are_refused_and_the_tables_play_on() {
    let mut etcd = Etcd::start();
    let a = etcd.start_node("a", LEASE_SECS);
    let b = etcd.start_node("b", LEASE_SECS);
    eventually(
        || live_tables(&a, "b").is_some() && live_tables(&b, "a").is_some(),
        || "the nodes see each other".into(),
    );
    let (table, mut player) = counter_table(&a);
    player.command("inc", "1");
    player.expect("n", "1 1");
    etcd.kill9();
    eventually(
        || ggs_tests::http::get(a.http_addr(), "/api/nodes").status == 503,
        || "a notices etcd is gone".into(),
    );
    for (path, what) in [
        ("/api/nodes/a/drain".to_string(), "a drain"),
        (format!("/api/tables/{table}/handoff?to=b"), "a handoff"),
        ("/api/nodes/rebalance".to_string(), "a rebalance"),
    ] {
        let refused = a.admin("POST", &path, "");
        assert_eq!(refused.status, 503, "{what} without etcd: {}", refused.body);
        assert!(
            refused.body.contains("cluster_unavailable"),
            "{what} without etcd: {}",
            refused.body
        );
    }
    // The table plays on where it is.
    player.command("inc", "2");
    player.expect("n", "2 2");
    etcd.restart();
    eventually(
        || ggs_tests::http::get(a.http_addr(), "/api/nodes").status == 200,
        || "a is back in the cluster".into(),
    );
    let moved = a.admin("POST", &format!("/api/tables/{table}/handoff?to=b"), "");
    assert_eq!(
        moved.status, 200,
        "a handoff once etcd is back: {}",
        moved.body
    );
    assert_eq!(owners(&etcd).get(&table).map(String::as_str), Some("b"));
    // The 2011 player, relayed by a now, plays on.
    player.command("inc", "3");
    player.expect("n", "3 3");
    assert_eq!(count_at(b.tcp_addr(), &table), 3);
}

/// The drain figures: `GGS_DRAIN_TABLES` tables (default 200) on node a, each with a state and
/// a seat, drained to b and c; prints the drain's time and the pause per table (p50, p99).
/// For the release figures: `GGS_BIN=target/release/ggs GGS_DRAIN_TABLES=1000`.
#[test]
fn a_drain_of_many_tables_prints_its_figures() {
    let tables = env_number("GGS_DRAIN_TABLES").unwrap_or(200) as usize;
    let etcd = Etcd::start();
    let many = ["--tables-per-connection", "1000000"];
    let a = etcd.start_node_with("a", LEASE_SECS, &many);
    let b = etcd.start_node("b", LEASE_SECS);
    let c = etcd.start_node("c", LEASE_SECS);
    eventually(
        || live_tables(&a, "c").is_some() && live_tables(&c, "a").is_some(),
        || "the three nodes see each other".into(),
    );
    // b and c drained while the tables are made: placement keeps them all on a.
    for node in ["b", "c"] {
        let asked = a.admin("POST", &format!("/api/nodes/{node}/drain"), "");
        assert_eq!(asked.status, 200, "drain {node}: {}", asked.body);
    }
    eventually(
        || {
            let nodes = ggs_tests::http::get(a.http_addr(), "/api/nodes").json_or_null();
            nodes
                .as_array()
                .is_some_and(|n| n.iter().filter(|n| n["draining"] == true).count() == 2)
        },
        || "b and c drain".into(),
    );
    let mut creator = a.connect().named("creator");
    let mut ids = Vec::new();
    for i in 0..tables {
        ids.push(creator.hello(None).table);
        creator.define_ok(COUNTER);
        creator.command("inc", &i.to_string());
        creator.expect_cmd("n");
    }
    drop(creator);
    eventually(
        || owners(&etcd).values().filter(|o| *o == "a").count() == tables,
        || format!("a's {tables} tables are claimed"),
    );
    for node in ["b", "c"] {
        let asked = a.admin("POST", &format!("/api/nodes/{node}/undrain"), "");
        assert_eq!(asked.status, 200, "undrain {node}: {}", asked.body);
    }
    eventually(
        || {
            let nodes = ggs_tests::http::get(a.http_addr(), "/api/nodes").json_or_null();
            nodes
                .as_array()
                .is_some_and(|n| n.iter().all(|n| n["draining"] == false))
        },
        || "b and c take tables again".into(),
    );
    let started = Instant::now();
    let asked = b.admin("POST", "/api/nodes/a/drain", "");
    assert_eq!(asked.status, 200, "drain a: {}", asked.body);
    let mut stats = serde_json::Value::Null;
    ggs_tests::eventually(
        Duration::from_secs(120),
        || {
            stats = handoff_stats(&a);
            stats["last_drain"]["tables"].as_u64().unwrap_or(0)
                + stats["last_drain"]["failed"].as_u64().unwrap_or(0)
                >= tables as u64
        },
        || format!("a's drain ends: {}", handoff_stats(&a)),
    );
    let wall = started.elapsed();
    let owners = owners(&etcd);
    let left = ids
        .iter()
        .filter(|t| owners.get(*t).is_none_or(|o| o == "a"))
        .count();
    report(&format!(
        "drain of {tables} tables: {:.2} s on a ({wall:.2?} from the request); pause per table p50 {} ms, p99 {} ms, max {} ms; {} on b, {} on c, {left} left",
        stats["last_drain"]["seconds"].as_f64().unwrap_or(0.0),
        stats["pause_p50_ms"],
        stats["pause_p99_ms"],
        stats["pause_max_ms"],
        owners.values().filter(|o| *o == "b").count(),
        owners.values().filter(|o| *o == "c").count(),
    ));
    assert_eq!(left, 0, "every table left a: {stats}");
    assert_eq!(count_at(b.tcp_addr(), &ids[tables - 1]), 1);
}
