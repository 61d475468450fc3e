//! Hibernation: an idle table drops its script runtime; its seated players stay connected and
//! its next event (a command, a hello, a held seat's expiry, a stop) rebuilds it from
//! committed state with `onResume()`. Ticking tables and tables with a pending timer or a held
//! seat stay awake; hibernated tables survive a kill -9.

use std::time::{Duration, Instant};

use ggs_tests::http::get;
use ggs_tests::{Client, ServerOptions, ServerProcess};

/// The hibernation delay of these tests' servers, in milliseconds.
const HIBERNATE_MS: u64 = 300;
/// Longest wait for a table to hibernate or a metric to change.
const WAIT: Duration = Duration::from_secs(10);

/// A counter in `GGS.state`; `onResume` counts rebuilds. `timer <ms>` arms a timer, `tick <ms>`
/// sets the tick; joins and leaves are announced.
const COUNTER: &str = r#"
function playerJoined(p) { GGS.sendCommandToAll("joined", String(GGS.players.length)); }
function playerLeft(p) { GGS.sendCommandToAll("left", String(GGS.players.length)); }
function playerCommand(p, c, a) {
  GGS.state.n = (GGS.state.n || 0) + 1;
  if (c === "timer") setTimeout(function () { GGS.sendCommandToAll("fired", ""); }, Number(a));
  if (c === "tick") GGS.setTick(Number(a));
  GGS.sendCommand(p, "n", GGS.state.n + " " + (GGS.state.resumes || 0));
}
function tick() {}
function onResume() { GGS.state.resumes = (GGS.state.resumes || 0) + 1; }
"#;

fn server(extra: &[&str]) -> ServerProcess {
    let ms = HIBERNATE_MS.to_string();
    let mut args = vec!["--hibernate-after-ms", ms.as_str()];
    args.extend_from_slice(extra);
    ServerProcess::start_with(ServerOptions::no_seat_grace().args(&args))
}

/// The value of the metric `name` (without labels) on `/metrics`.
fn metric(server: &ServerProcess, name: &str) -> f64 {
    let text = get(server.http_addr(), "/metrics").body;
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .map(|v| v.trim().parse().expect("a number"))
        .unwrap_or(0.0)
}

/// Waits until the metric `name` is `value`; panics after [`WAIT`].
#[track_caller]
fn await_metric(server: &ServerProcess, name: &str, value: f64) {
    let start = Instant::now();
    while metric(server, name) != value {
        assert!(
            start.elapsed() < WAIT,
            "{name} stayed {} (want {value})",
            metric(server, name)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The `/api/tables` row of `table`, if it is listed.
fn listed(server: &ServerProcess, table: &str) -> Option<serde_json::Value> {
    let tables = get(server.http_addr(), "/api/tables").json();
    tables
        .as_array()?
        .iter()
        .find(|t| t["id"] == table)
        .cloned()
}

/// A table with the counter, created by `alice`, and one command run (`n 1 0`).
fn counter_table(server: &ServerProcess) -> (Client, String) {
    let mut alice = server.connect().named("alice");
    let table = alice.hello(None).table;
    alice.define_ok(COUNTER);
    alice.command("inc", "");
    let n = alice.expect_cmd("n");
    // `1 0`, or `1 1` when the table hibernated already between the define and the command.
    assert!(n.starts_with("1 "), "{n}");
    (alice, table)
}

#[test]
fn an_idle_table_hibernates_and_its_seated_players_next_command_wakes_it() {
    let server = server(&[]);
    let (mut alice, table) = counter_table(&server);
    assert_eq!(metric(&server, "ggs_tables_live"), 1.0);
    await_metric(&server, "ggs_tables_live", 0.0);
    assert_eq!(metric(&server, "ggs_tables_hibernated"), 1.0);
    assert_eq!(metric(&server, "ggs_tables_on_disk"), 1.0);
    assert_eq!(metric(&server, "ggs_table_hibernations_total"), 1.0);
    let row = listed(&server, &table).expect("a hibernated table with a player is listed");
    assert_eq!(row["hibernated"], true, "{row}");
    assert_eq!(row["players"], 1, "{row}");

    // Alice is still connected; her command wakes the table: state intact, onResume ran once.
    alice.command("inc", "");
    alice.expect("n", "2 1");
    alice.command("inc", "");
    alice.expect("n", "3 1");
    assert_eq!(metric(&server, "ggs_tables_live"), 1.0);
    assert_eq!(metric(&server, "ggs_table_wakes_total"), 1.0);
    assert_eq!(listed(&server, &table).unwrap()["hibernated"], false);
    // `who` is answered without waking it.
    await_metric(&server, "ggs_tables_live", 0.0);
    alice.send(&[("Server-Command", "who")], b"");
    let who = alice.expect_cmd("who");
    assert!(who.contains("(you, host)"), "{who}");
    assert_eq!(metric(&server, "ggs_table_wakes_total"), 1.0);
}

#[test]
fn a_hello_wakes_a_hibernated_table_and_lands_on_its_one_actor() {
    let server = server(&[]);
    let (mut alice, table) = counter_table(&server);
    await_metric(&server, "ggs_tables_live", 0.0);
    let mut bob = server.connect().named("bob");
    assert_eq!(bob.hello(Some(&table)).table, table);
    bob.expect("joined", "2");
    alice.expect("joined", "2");
    bob.command("inc", "");
    bob.expect("n", "2 1");
    assert_eq!(metric(&server, "ggs_table_wakes_total"), 1.0);

    // With nobody seated, a hibernated table leaves the directory (and the listing); a hello
    // loads it from the store, once, with its state.
    drop(alice);
    drop(bob);
    await_metric(&server, "ggs_table_hibernations_total", 2.0);
    let start = Instant::now();
    while listed(&server, &table).is_some() {
        assert!(start.elapsed() < WAIT, "the table stayed in the directory");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(metric(&server, "ggs_tables_hibernated"), 1.0);
    let mut carol = server.connect().named("carol");
    let mut dave = server.connect().named("dave");
    // Both hellos at once: they must sit at one table, not at two copies of it.
    carol.send_hello(Some(&table));
    dave.send_hello(Some(&table));
    carol.expect_cmd("hello");
    dave.expect_cmd("hello");
    carol.command("inc", "");
    // Whoever sat down second saw `joined 2`; carol's command sees two players.
    let mut got = Vec::new();
    loop {
        let reply = carol.recv();
        got.push(format!("{} {}", reply.command, reply.body));
        if reply.command == "n" {
            break;
        }
    }
    assert!(got.contains(&"joined 2".to_string()), "{got:?}");
    assert_eq!(got.last().map(String::as_str), Some("n 3 2"), "{got:?}");
    assert_eq!(metric(&server, "ggs_tables_live"), 1.0);

    // An administrator's stop reaches a table that left the directory too.
    drop(carol);
    drop(dave);
    let start = Instant::now();
    while listed(&server, &table).is_some() {
        assert!(start.elapsed() < WAIT, "the table stayed in the directory");
        std::thread::sleep(Duration::from_millis(20));
    }
    let path = format!("/api/tables/{table}/stop");
    assert_eq!(server.admin("POST", &path, "").status, 200);
    let mut eve = server.connect().named("eve");
    eve.send_hello(Some(&table));
    eve.expect_error("table_stopped");
}

#[test]
fn a_command_racing_the_hibernation_runs_once_in_order() {
    // Hibernating after 1 ms of quiet: nearly every pause below races a hibernation.
    let server = ServerProcess::start_with(
        ServerOptions::no_seat_grace().args(&["--hibernate-after-ms", "1"]),
    );
    let (mut alice, _table) = counter_table(&server);
    let mut resumes = 0;
    for i in 2..=150u64 {
        // Pauses around the hibernation delay and the time a hibernation takes.
        std::thread::sleep(Duration::from_micros((i * 373) % 4000));
        alice.command("inc", "");
        let body = alice.expect_cmd("n");
        let (n, r) = body.split_once(' ').expect("n <count> <resumes>");
        assert_eq!(
            n,
            i.to_string(),
            "command {i} ran once, in order: got {body}"
        );
        let r: u64 = r.parse().unwrap();
        assert!(r >= resumes, "{body}");
        resumes = r;
    }
    // Commands sent back to back, the first of them waking the table.
    std::thread::sleep(Duration::from_millis(50));
    for _ in 0..20 {
        alice.command("inc", "");
    }
    for i in 151..=170u64 {
        let body = alice.expect_cmd("n");
        assert!(body.starts_with(&format!("{i} ")), "{body}");
    }
    let wakes = metric(&server, "ggs_table_wakes_total");
    assert!(wakes >= 10.0, "the race was exercised: {wakes} wakes");
    assert_eq!(
        metric(&server, "ggs_table_hibernations_total"),
        wakes + metric(&server, "ggs_tables_hibernated")
    );
}

#[test]
fn a_ticking_table_or_one_with_a_pending_timer_stays_awake() {
    let server = server(&[]);
    let (mut alice, _) = counter_table(&server);
    let (mut bob, _) = counter_table(&server);
    alice.command("tick", "1000");
    alice.expect("n", "2 0");
    bob.command("timer", "1500");
    let armed = Instant::now();
    bob.expect("n", "2 0");
    // The timer fires: the table did not hibernate (which would have dropped it).
    bob.expect("fired", "");
    assert!(armed.elapsed() >= Duration::from_millis(1400));
    assert_eq!(metric(&server, "ggs_table_hibernations_total"), 0.0);
    assert_eq!(metric(&server, "ggs_tables_live"), 2.0);
    // Once the timer has fired, bob's table hibernates; alice's, ticking, never does.
    await_metric(&server, "ggs_table_hibernations_total", 1.0);
    std::thread::sleep(Duration::from_millis(4 * HIBERNATE_MS));
    assert_eq!(metric(&server, "ggs_table_hibernations_total"), 1.0);
    assert_eq!(metric(&server, "ggs_tables_live"), 1.0);
    alice.command("inc", "");
    alice.expect("n", "3 0");
}

#[test]
fn a_held_seat_still_expires_on_time() {
    let grace = Duration::from_millis(1200);
    let ms = HIBERNATE_MS.to_string();
    let server = ServerProcess::start_with(ServerOptions::default().args(&[
        "--hibernate-after-ms",
        ms.as_str(),
        "--seat-grace-ms",
        "1200",
    ]));
    let (mut alice, table) = counter_table(&server);
    let mut bob = server.connect().named("bob");
    bob.hello(Some(&table));
    bob.expect("joined", "2");
    alice.expect("joined", "2");
    drop(bob);
    let dropped = Instant::now();
    // The table stays awake with the held seat, and playerLeft runs when the grace is over.
    let left = alice.expect_cmd("left");
    let after = dropped.elapsed();
    assert_eq!(left, "1");
    assert!(
        after >= grace - Duration::from_millis(50) && after < grace + Duration::from_millis(800),
        "playerLeft after {after:?}, the grace is {grace:?}"
    );
    assert_eq!(metric(&server, "ggs_table_hibernations_total"), 0.0);
    await_metric(&server, "ggs_table_hibernations_total", 1.0);
}

#[test]
fn hibernated_tables_survive_a_kill_9() {
    let ms = HIBERNATE_MS.to_string();
    let mut server =
        ServerProcess::start_with(ServerOptions::default().args(&["--hibernate-after-ms", &ms]));
    let (mut alice, table) = counter_table(&server);
    alice.command("inc", "");
    alice.expect("n", "2 0");
    await_metric(&server, "ggs_tables_live", 0.0);
    server.kill9();
    drop(alice);
    server.restart();
    assert_eq!(metric(&server, "ggs_tables_on_disk"), 1.0);
    assert_eq!(metric(&server, "ggs_tables_hibernated"), 1.0);
    let mut bob = server.connect().named("bob");
    bob.hello(Some(&table));
    // Alice's seat is held after the restart.
    bob.expect("joined", "2");
    bob.command("inc", "");
    bob.expect("n", "3 1");
}
