//! Durability: whatever a player saw acknowledged survives `kill -9`, and a table comes back
//! with its script and both storages when joined by id after a restart.

use std::time::Duration;

use ggs_tests::{RecvError, ServerProcess};

/// A counter kept in GGS.world; GGS.localStorage remembers the last increment and how often
/// the top level ran with its writes kept (once, at define: a reload's writes are discarded).
const COUNTER: &str = r#"
function playerCommand(player, command, args) {
  if (command === "inc") {
    var n = (parseInt(GGS.world.getItem("count"), 10) || 0) + 1;
    GGS.world.setItem("count", String(n));
    GGS.localStorage.setItem("last", n + " " + args);
    GGS.sendCommand(player, "count", String(n));
  } else if (command === "get") {
    GGS.sendCommand(player, "state", [GGS.world.getItem("count"),
      GGS.localStorage.getItem("last"), GGS.localStorage.getItem("loads")].join("|"));
  }
}
GGS.localStorage.setItem("loads", String((parseInt(GGS.localStorage.getItem("loads"), 10) || 0) + 1));
"#;

#[test]
fn acknowledged_increments_survive_kill_9() {
    let mut server = ServerProcess::start();
    let mut a = server.connect().named("before the crash");
    let table = a.hello(None).table;
    a.define_ok(COUNTER);
    let mut acked = 0;
    for i in 1..=5 {
        a.command("inc", &format!("tag{i}"));
        let n: u64 = a.expect_cmd("count").parse().expect("a number");
        assert_eq!(n, acked + 1, "increments count up by one");
        acked = n;
    }
    a.command("get", "");
    a.expect("state", &format!("{acked}|{acked} tag{acked}|1"));

    server.kill9();
    server.restart();

    let mut b = server.connect().named("after the restart");
    let hello = b.hello(Some(&table));
    assert!(hello.defined, "the script survives: {hello:?}");
    assert_eq!(hello.table, table);
    b.command("get", "");
    b.expect("state", &format!("{acked}|{acked} tag{acked}|1"));
    b.command("inc", "later");
    b.expect("count", &(acked + 1).to_string());
    b.command("get", "");
    b.expect("state", &format!("{}|{} later|1", acked + 1, acked + 1));
}

#[test]
fn a_crash_in_mid_flight_loses_nothing_acknowledged_and_splits_no_event() {
    let mut server = ServerProcess::start();
    let mut a = server.connect().named("pipelining");
    let table = a.hello(None).table;
    a.define_ok(COUNTER);
    // Many increments in flight; kill the server after reading some acknowledgements.
    let sent = 300u64;
    let mut batch = Vec::new();
    for i in 1..=sent {
        batch.extend(ggs_tests::wire::encode_message(
            &[("Game-Command", "inc")],
            format!("tag{i}").as_bytes(),
        ));
    }
    a.send_raw(&batch);
    let mut acked = 0u64;
    while acked < 20 {
        let n: u64 = a.expect_cmd("count").parse().expect("a number");
        assert_eq!(n, acked + 1);
        acked = n;
    }
    server.kill9();
    // Whatever else was already received was acknowledged too.
    while let Ok(reply) = a.try_recv(Duration::from_millis(200)) {
        assert_eq!(reply.command, "count");
        let n: u64 = reply.body.parse().expect("a number");
        assert_eq!(n, acked + 1);
        acked = n;
    }
    server.restart();

    let mut b = server.connect().named("after the restart");
    assert!(b.hello(Some(&table)).defined);
    b.command("get", "");
    let state = b.expect_cmd("state");
    let parts: Vec<&str> = state.split('|').collect();
    let count: u64 = parts[0].parse().expect("a count");
    assert!(
        (acked..=sent).contains(&count),
        "count {count} must be between the last acknowledged {acked} and the {sent} sent"
    );
    // world and localStorage were written by the same events: never one without the other.
    assert_eq!(parts[1], format!("{count} tag{count}"), "in {state:?}");
    assert_eq!(parts[2], "1", "in {state:?}");
    b.command("inc", "next");
    b.expect("count", &(count + 1).to_string());
}

#[test]
fn a_table_without_a_script_survives_a_crash() {
    let mut server = ServerProcess::start();
    let mut a = server.connect();
    let created = a.hello(None);
    let table = created.table;
    server.kill9();
    server.restart();
    let mut b = server.connect();
    let hello = b.hello(Some(&table));
    assert!(!hello.defined, "{hello:?}");
    assert_eq!(hello.table, table);
    b.define(COUNTER);
    b.expect_error("not_host");
    // The creator comes back with its token and may define.
    let mut a = server.connect();
    let resumed = a.resume(&table, &created.token);
    assert_eq!(resumed.token, created.token);
    a.define_ok(COUNTER);
    b.expect("defined", "ok");
    b.command("inc", "x");
    b.expect("count", "1");
}

#[test]
fn sigterm_stops_cleanly_and_keeps_state() {
    let mut server = ServerProcess::start();
    let mut a = server.connect();
    let table = a.hello(None).table;
    a.define_ok(COUNTER);
    for i in 1..=3 {
        a.command("inc", "t");
        a.expect("count", &i.to_string());
    }
    let stopped = server.terminate();
    assert!(stopped.status.success(), "exit status {}", stopped.status);
    assert!(
        stopped.stderr.contains("commit latency p50"),
        "the server logs its commit latency when it stops:\n{}",
        stopped.stderr
    );
    // The connection closes, after at most a `shutdown` notice.
    match a.try_recv(Duration::from_secs(5)) {
        Ok(reply) if reply.command == "shutdown" => a.expect_closed(),
        Ok(reply) => panic!("expected the connection to close, got {reply}"),
        Err(RecvError::Closed) => {}
        Err(e) => panic!("expected the connection to close, but {e}"),
    }
    server.restart();
    let mut b = server.connect();
    assert!(b.hello(Some(&table)).defined);
    b.command("inc", "t");
    b.expect("count", "4");
}

/// Counts ticks in `GGS.state`; `start` sets a 20 ms tick, `get` reports the count.
const TICKER: &str = r#"
function tick() { GGS.state.ticks = (GGS.state.ticks || 0) + 1; }
function playerCommand(player, command, args) {
  if (command === "start") GGS.setTick(20);
  GGS.sendCommand(player, "ticks", String(GGS.state.ticks || 0));
}
"#;

#[test]
fn a_ticking_table_runs_on_after_a_restart_before_anyone_returns() {
    let mut server = ServerProcess::start();
    let mut a = server.connect().named("ticker");
    let created = a.hello(None);
    a.define_ok(TICKER);
    a.command("start", "");
    a.expect_cmd("ticks");
    std::thread::sleep(Duration::from_millis(300));
    a.command("get", "");
    let before: u64 = a.expect_cmd("ticks").parse().expect("a number");
    assert!(before > 0, "the tick runs");
    server.kill9();
    server.restart();
    // Nobody connects for a while: the table must be ticking on its own.
    std::thread::sleep(Duration::from_millis(600));
    let mut a = server.connect().named("back");
    a.resume(&created.table, &created.token);
    a.command("get", "");
    let after: u64 = a.expect_cmd("ticks").parse().expect("a number");
    assert!(
        after >= before + 10,
        "ticks went from {before} to {after}: the table did not tick until its player came back"
    );
}
