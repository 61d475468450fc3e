//! Hostile game scripts against the real server: scripts that loop, allocate or recurse
//! forever, throw from every hook, flood messages, write huge values, call the API with wrong
//! types, look for a way out of the sandbox, or hijack the builtins the `GGS` prelude uses;
//! and, under the default limits on one VM thread, scripts that hold the thread inside one
//! built-in call (joins, searches, fills, sorts, regular expressions, JSON, allocation bombs,
//! the teardown of a full heap), which the interrupt handler cannot stop but the watchdog does.
//!
//! Each attack must get its specific error code and hurt only its own table: a healthy table on
//! the same server ([`HealthyTable`]) keeps answering throughout, and its round trips during the
//! attack are printed (`cargo test --test hostile_scripts -- --nocapture`) and bounded.

use std::time::{Duration, Instant};

use ggs_tests::{procstat, Client, HealthyTable, RecvError, ServerProcess};

/// The most a healthy table's round trip may take during an attack (debug build, shared machine).
const HEALTHY_BOUND: Duration = Duration::from_secs(2);
/// CPU deadline used by these tests, to keep them fast.
const CPU_MS: &str = "50";

/// A server with a short CPU deadline and a 16 MiB table memory limit, plus `extra` flags.
fn server_with(extra: &[&str]) -> ServerProcess {
    let mut args = vec!["--cpu-per-event-ms", CPU_MS, "--table-memory", "16777216"];
    args.extend_from_slice(extra);
    ServerProcess::start_with_args(&args)
}

/// A new table defined with `script`, and its creator.
fn table(server: &ServerProcess, name: &str, script: &str) -> (Client, String) {
    let mut c = server.connect().named(name);
    let table = c.hello(None).table;
    c.define_ok(script);
    (c, table)
}

/// Sends `command` and expects the reply `ok <command>` (the scripts below answer so).
#[track_caller]
fn answers(c: &mut Client, command: &str) {
    c.command(command, "");
    c.expect("ok", command);
}

/// Reads replies until an `error` with `code` arrives, skipping other replies; panics after 10 s.
#[track_caller]
fn wait_for_error(c: &mut Client, code: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match c.try_recv(left) {
            Ok(r) if r.command == "error" && r.body.split(' ').next() == Some(code) => {
                return r.body
            }
            Ok(_) => {}
            Err(e) => panic!("{}: waiting for error {code}: {e}", c.name()),
        }
    }
}

/// Loops forever on `spin`; answers `ok <command>` otherwise.
const SPINNER: &str = r#"
function playerCommand(player, command, args) {
  if (command === "spin") { while (true) {} }
  GGS.sendCommand(player, "ok", command);
}
"#;

#[test]
fn an_endless_loop_times_out_and_repeated_offences_stop_only_that_table() {
    // One VM thread: the healthy table shares it with every attacker and waits behind each
    // loop, the worst case for everyone else.
    let server = server_with(&["--vm-threads", "1"]);
    let healthy = HealthyTable::start(&server);
    let (mut attacker, table_id) = table(&server, "attacker", SPINNER);
    let mut other = server.connect().named("other player at the attacked table");
    other.hello(Some(&table_id));

    // Five offences: each is aborted, the sender is told, the table still answers.
    for _ in 0..5 {
        attacker.command("spin", "");
        let why = attacker.expect_error("script_timeout");
        assert!(why.contains(&format!("{CPU_MS} ms")), "{why:?}");
        answers(&mut attacker, "still-here");
    }
    healthy
        .take("while(true) in playerCommand, 5 offences one after another")
        .assert_bounded(HEALTHY_BOUND);

    // Three more tables loop five times each, all at once, pipelined.
    let mut spinners: Vec<Client> = (0..3)
        .map(|i| table(&server, &format!("spinner {i}"), SPINNER).0)
        .collect();
    for c in &mut spinners {
        for _ in 0..5 {
            c.command("spin", "");
        }
    }
    for c in &mut spinners {
        for _ in 0..5 {
            c.expect_error("script_timeout");
        }
        answers(c, "after");
    }
    healthy
        .take("while(true) in playerCommand, 3 tables x 5 loops at once")
        .assert_bounded(HEALTHY_BOUND);

    // The sixth offence within 10 s stops the table, and everyone seated there is told why.
    attacker.command("spin", "");
    attacker.expect_error("script_timeout");
    let why = attacker.expect_error("table_stopped");
    println!("table_stopped sentence: {why}");
    assert!(why.contains("limit"), "{why:?}");
    other.expect_error("table_stopped");
    attacker.command("still-here", "");
    attacker.expect_error("table_stopped");
    other.command("hello?", "");
    other.expect_error("table_stopped");

    // Other tables are unaffected: the spinners (5 offences each) and a new table.
    for c in &mut spinners {
        answers(c, "unaffected");
    }
    let (mut fresh, _) = table(&server, "new table", SPINNER);
    answers(&mut fresh, "new");
    healthy
        .stop("the stop of the looping table")
        .assert_bounded(HEALTHY_BOUND);
}

#[test]
fn a_define_that_loops_forever_fails_and_keeps_the_old_script() {
    let server = server_with(&["--vm-threads", "1"]);
    let healthy = HealthyTable::start(&server);
    let (mut host, _) = table(&server, "host", SPINNER);
    for attempt in [
        "while (true) {}",
        // A new playerCommand, then the loop: the new one must not stick.
        "function playerCommand(p, c, a) { GGS.sendCommand(p, 'hijacked', c); }\nfor (;;) {}",
    ] {
        host.define(attempt);
        let body = host.expect_cmd("defined");
        assert!(
            body.starts_with("error ") && body.contains("longer than"),
            "a define that loops forever must fail with a timeout, got defined {body:?}"
        );
        answers(&mut host, "old-script");
    }
    healthy
        .stop("while(true) at the top level of define")
        .assert_bounded(HEALTHY_BOUND);
}

#[test]
fn a_tick_that_loops_forever_stops_its_table_not_the_server() {
    let server = server_with(&["--vm-threads", "1"]);
    let healthy = HealthyTable::start(&server);
    let started = Instant::now();
    let (mut host, _) = table(
        &server,
        "host",
        &format!("GGS.setTick(20);\nfunction tick() {{ while (true) {{}} }}\n{SPINNER}"),
    );
    // No one sends anything: the tick alone offends until the table is stopped.
    let why = wait_for_error(&mut host, "table_stopped");
    println!(
        "looping tick stopped its table after {} ms: {why}",
        started.elapsed().as_millis()
    );
    host.command("anyone", "");
    host.expect_error("table_stopped");
    let (mut fresh, _) = table(&server, "new table", SPINNER);
    answers(&mut fresh, "new");
    healthy
        .stop("a tick() that loops forever every 20 ms")
        .assert_bounded(HEALTHY_BOUND);
}

#[test]
fn allocating_forever_runs_out_of_memory_and_the_table_is_rebuilt() {
    // A deadline far above the time 16 MiB of allocations take on a slow machine in a debug
    // build: this test is about running out of memory, not time.
    let server = server_with(&["--cpu-per-event-ms", "2000"]);
    let healthy = HealthyTable::start(&server);
    let (mut c, _) = table(
        &server,
        "glutton",
        r#"
var hoard = [];
function playerCommand(player, command, args) {
  if (command === "eat") { for (;;) hoard.push("x".repeat(1 << 20) + hoard.length); }
  if (command === "keep") {
    hoard.push("k");
    GGS.world.setItem("kept", args);
    GGS.state = { kept: args };
  }
  GGS.sendCommand(player, "status",
    hoard.length + " " + GGS.world.getItem("kept") + " " + JSON.stringify(GGS.state));
}
"#,
    );
    c.command("keep", "v1");
    c.expect("status", r#"1 v1 {"kept":"v1"}"#);
    for round in 1..=2 {
        c.command("eat", "");
        let why = c.expect_error("script_out_of_memory");
        assert!(why.contains("16777216"), "{why:?}");
        // Rebuilt from committed state: the global is fresh, storage and state are kept.
        c.command("look", "");
        c.expect("status", &format!(r#"0 v{round} {{"kept":"v{round}"}}"#));
        let next = round + 1;
        c.command("keep", &format!("v{next}"));
        c.expect("status", &format!(r#"1 v{next} {{"kept":"v{next}"}}"#));
    }
    healthy
        .stop("allocation without end (16 MiB limit)")
        .assert_bounded(HEALTHY_BOUND);
}

#[test]
fn recursing_forever_is_a_script_error_about_the_stack() {
    let server = server_with(&[]);
    let healthy = HealthyTable::start(&server);
    let (mut c, _) = table(
        &server,
        "recurser",
        r#"
function down(n) { return down(n + 1) + 1; }
function playerCommand(player, command, args) {
  if (command === "recurse") down(0);
  if (command === "recurse-caught") {
    try { down(0); } catch (e) { GGS.sendCommand(player, "caught", e.name + ": " + e.message); }
  }
  GGS.sendCommand(player, "ok", command);
}
"#,
    );
    for _ in 0..3 {
        c.command("recurse", "");
        let why = c.expect_error("script_error");
        println!("recursion error: {why}");
        assert!(why.to_lowercase().contains("stack"), "{why:?}");
        answers(&mut c, "after");
    }
    c.command("recurse-caught", "");
    let caught = c.expect_cmd("caught");
    assert!(caught.to_lowercase().contains("stack"), "{caught:?}");
    c.expect("ok", "recurse-caught");
    healthy
        .stop("recursion without end")
        .assert_bounded(HEALTHY_BOUND);
}

/// Every hook throws; `playerCommand` throws on `throw` and arms a throwing timer on `arm`.
const THROWER: &str = r#"
GGS.setTick(20);
function tick() { throw new Error("tick boom"); }
function onResume() { throw new Error("resume boom"); }
function playerJoined(player) {
  GGS.sendCommand(player, "joined-message", "must not be sent");
  throw new Error("joined boom");
}
function playerLeft(player) {
  GGS.sendCommandToAll("left-message", "must not be sent");
  throw new Error("left boom");
}
function playerReconnected(player) {
  GGS.sendCommand(player, "reconnected-message", "must not be sent");
  throw new Error("reconnected boom");
}
function playerCommand(player, command, args) {
  if (command === "throw") {
    GGS.sendCommand(player, "thrown-message", "must not be sent");
    throw new TypeError("command boom");
  }
  if (command === "throw-value") throw { not: "an error" };
  if (command === "arm") {
    setTimeout(function () { GGS.sendCommandToAll("timer-message", ""); throw new Error("timer boom"); }, 10);
  }
  if (command === "players") { GGS.sendCommand(player, "ok", String(GGS.players.length)); return; }
  GGS.sendCommand(player, "ok", command);
}
"#;

#[test]
fn throwing_from_every_hook_breaks_nothing() {
    let server =
        ServerProcess::start_with_args(&["--cpu-per-event-ms", CPU_MS, "--seat-grace-ms", "300"]);
    let healthy = HealthyTable::start(&server);
    let mut host = server.connect().named("host");
    let host_hello = host.hello(None);
    let table_id = host_hello.table.clone();
    host.define_ok(THROWER);

    // playerJoined throws: the hello reply still comes first, then the joiner's error.
    let mut guest = server.connect().named("guest");
    let hello = guest.hello(Some(&table_id));
    assert!(hello.defined);
    let why = guest.expect_error("script_error");
    assert!(
        why.contains("joined boom") && why.contains("game.js"),
        "{why:?}"
    );

    // playerCommand throws: the sender gets script_error and nothing the event sent.
    host.command("throw", "");
    let why = host.expect_error("script_error");
    assert!(why.contains("TypeError: command boom"), "{why:?}");
    host.command("throw-value", "");
    let why = host.expect_error("script_error");
    assert!(why.contains("an error"), "{why:?}");
    answers(&mut host, "after-throw");

    // A setTimeout callback throws: no one hears of it, nothing breaks, it does not repeat.
    answers(&mut host, "arm");
    std::thread::sleep(Duration::from_millis(100));
    answers(&mut host, "after-timer");

    // playerReconnected throws (the guest takes its seat back on a new connection).
    let mut guest2 = server.connect().named("guest, resumed");
    guest2.resume(&table_id, &hello.token);
    let why = guest2.expect_error("script_error");
    assert!(why.contains("reconnected boom"), "{why:?}");
    drop(guest);

    // playerLeft throws when the held seat expires: the seat is still freed.
    guest2.close();
    std::thread::sleep(Duration::from_millis(700));
    host.command("players", "");
    host.expect("ok", "1");

    // tick() has thrown every 20 ms all along; the table never stopped (throws are not offences).
    host.expect_nothing(Duration::from_millis(200));
    answers(&mut host, "still-here");
    healthy
        .stop("throws from every hook")
        .assert_bounded(HEALTHY_BOUND);

    // After a restart the table is loaded on the first hello: onResume throws (no one to tell),
    // then the host takes its seat back and playerReconnected throws: hello first, then the error.
    host.close();
    let mut server = server;
    server.restart();
    let mut host = server.connect().named("host after restart");
    host.resume(&table_id, &host_hello.token);
    let why = host.expect_error("script_error");
    assert!(why.contains("reconnected boom"), "{why:?}");
    answers(&mut host, "after-restart");
    host.command("throw", "");
    host.expect_error("script_error");
    answers(&mut host, "after-restart-2");
}

#[test]
fn a_million_messages_in_one_event_hit_the_message_limit() {
    let server = server_with(&[]);
    let healthy = HealthyTable::start(&server);
    let (mut c, _) = table(
        &server,
        "flooder",
        r#"
function playerCommand(player, command, args) {
  if (command === "flood") {
    for (var i = 0; i < 1000000; i++) GGS.sendCommand(player, "m", String(i));
  }
  if (command === "flood-all") {
    for (var i = 0; i < 1000000; i++) GGS.sendCommandToAll("m", String(i));
  }
  if (command === "flood-caught") {
    try {
      for (var i = 0; i < 1000000; i++) GGS.sendCommand(player, "m", String(i));
    } catch (e) {
      GGS.world.setItem("caught", e.name + ": " + e.message + " after " + i);
    }
    return; // at the limit: even the "ok" below would throw again
  }
  if (command === "report") { GGS.sendCommand(player, "report", GGS.world.getItem("caught")); return; }
  GGS.sendCommand(player, "ok", command);
}
"#,
    );
    for flood in ["flood", "flood-all"] {
        c.command(flood, "");
        let why = c.expect_error("message_limit");
        assert!(why.contains("1000"), "{why:?}");
        answers(&mut c, "after");
    }
    // Caught: the event succeeds with the 1000 messages it sent before the limit.
    c.command("flood-caught", "");
    for i in 0..1000 {
        c.expect("m", &i.to_string());
    }
    c.command("report", "");
    c.expect(
        "report",
        "RangeError: an event may send at most 1000 messages after 1000",
    );
    healthy
        .stop("a million messages in one event")
        .assert_bounded(HEALTHY_BOUND);
}

/// The server's peak resident memory in KiB (Linux: VmHWM in /proc/<pid>/status).
fn server_peak_memory_kib(server: &ServerProcess) -> u64 {
    let pid = server.pid().expect("the server runs");
    procstat::memory_kib(pid).map_or(0, |(_, peak)| peak)
}

#[test]
fn messages_cannot_exhaust_server_memory() {
    // Every message an event sends is copied out of the runtime, outside its memory limit:
    // one event within every limit (100 messages of 4 MiB, under the 1000-message limit, from
    // one string within the 16 MiB heap) must not cost the server hundreds of MiB.
    let server = server_with(&[]);
    let healthy = HealthyTable::start(&server);
    let (mut c, _) = table(
        &server,
        "copier",
        r#"
var big = "m".repeat(4 << 20);
function playerCommand(player, command, args) {
  if (command === "copies") {
    // To a player who is not seated: the messages are built, then dropped.
    for (var i = 0; i < Number(args); i++) GGS.sendCommand("nobody", "big", big);
  }
  GGS.sendCommand(player, "ok", command);
}
"#,
    );
    let before = server_peak_memory_kib(&server);
    c.command("copies", "100");
    let why = c.expect_error("message_limit");
    assert!(why.contains("bytes of messages"), "{why}");
    let after = server_peak_memory_kib(&server);
    let growth_mib = after.saturating_sub(before) / 1024;
    println!(
        "one event sending 100 messages of 4 MiB: server peak memory {} -> {} MiB (+{growth_mib} MiB)",
        before / 1024,
        after / 1024
    );
    healthy
        .stop("100 messages of 4 MiB in one event")
        .assert_bounded(HEALTHY_BOUND);
    assert!(
        growth_mib < 64,
        "one event of one table (16 MiB heap limit) grew the server's memory by {growth_mib} MiB; \
         with 1000 messages of 15 MiB it would be 15 GiB"
    );
}

/// Storage and state writers of any size.
const WRITER: &str = r#"
function playerCommand(player, command, args) {
  var n = Number(args);
  if (command === "value") GGS.world.setItem("big", "x".repeat(n));
  if (command === "many") {
    for (var i = 0; i < n; i++) GGS.localStorage.setItem("k" + i, "y".repeat(60 * 1024));
  }
  if (command === "one") GGS.localStorage.setItem("k" + n, "y".repeat(60 * 1024));
  if (command === "state") GGS.state = { s: "z".repeat(n) };
  if (command === "value-caught") {
    try { GGS.world.setItem("big", "x".repeat(n)); } catch (e) { GGS.sendCommand(player, "caught", e.name); }
  }
  GGS.sendCommand(player, "ok", command + " " + GGS.localStorage.length + " " +
    (GGS.world.getItem("big") || "").length + " " + (GGS.state.s || "").length);
}
"#;

#[test]
fn huge_values_hit_value_storage_and_state_limits() {
    let server = server_with(&["--table-storage", "1000000"]);
    let healthy = HealthyTable::start(&server);
    let (mut c, _) = table(&server, "hoarder", WRITER);

    // One 100 KiB value.
    c.command("value", "102400");
    let why = c.expect_error("value_too_large");
    assert!(why.contains("65536"), "{why:?}");
    c.command("value", "1000");
    c.expect("ok", "value 0 1000 0");
    c.command("value-caught", "102400");
    c.expect("caught", "RangeError");
    c.expect("ok", "value-caught 0 1000 0");

    // Many 60 KiB values in one event: storage_full, and none of them stays.
    c.command("many", "20");
    let why = c.expect_error("storage_full");
    assert!(why.contains("1000000"), "{why:?}");
    c.command("look", "");
    c.expect("ok", "look 0 1000 0");
    // One per event: the table fills up to its limit and the next write fails.
    let mut stored = 0;
    loop {
        c.command("one", &stored.to_string());
        let reply = c.recv();
        if reply.command == "error" {
            assert!(reply.body.starts_with("storage_full "), "{reply}");
            break;
        }
        stored += 1;
        assert_eq!(reply.body, format!("one {stored} 1000 0"));
        assert!(
            stored < 20,
            "1 MB of storage held {stored} values of 60 KiB"
        );
    }
    // 16 entries of 60 KiB + 2-3 bytes of key, plus the 1000-byte value: 984,075 bytes; a 17th
    // would make 1,045,518.
    assert_eq!(
        stored, 16,
        "16 values of 60 KiB fit in 1,000,000 bytes, 17 do not"
    );
    c.command("look", "");
    c.expect("ok", &format!("look {stored} 1000 0"));

    // GGS.state with a 2 MiB string.
    c.command("state", &(2 << 20).to_string());
    let why = c.expect_error("state_too_large");
    assert!(why.contains("1048576"), "{why:?}");
    c.command("state", "10");
    c.expect("ok", &format!("state {stored} 1000 10"));
    healthy
        .stop("huge values, full storage, huge state")
        .assert_bounded(HEALTHY_BOUND);
}

#[test]
fn a_define_whose_state_is_too_large_keeps_the_old_script() {
    let server = server_with(&[]);
    let (mut c, _) = table(&server, "host", SPINNER);
    c.define(
        "GGS.state = { s: 'z'.repeat(2 << 20) };\n\
         function playerCommand(p, c, a) { GGS.sendCommand(p, 'hijacked', c); }",
    );
    let body = c.expect_cmd("defined");
    assert!(
        body.starts_with("error ") && body.contains("GGS.state"),
        "{body:?}"
    );
    // The failed define must leave the previous script running, as every other failed define.
    answers(&mut c, "old-script");
}

/// Calls the API with wrong types; `ok <command> <result>` on success.
const WRONG_TYPES: &str = r#"
function playerCommand(player, command, args) {
  var r = "";
  switch (command) {
    case "setItem()": GGS.world.setItem(); r = String(GGS.world.getItem("undefined")); break;
    case "getItem()": r = String(GGS.world.getItem()); break;
    case "sendCommand({}, [], null)": GGS.sendCommand({}, [], null); break;
    case "sendCommand(p)": GGS.sendCommand(player); break;
    case "setTick('abc')": GGS.setTick("abc"); break;
    case "setTick(-1)": GGS.setTick(-1); break;
    case "setTick(1e20)": GGS.setTick(1e20); GGS.setTick(0); break;
    case "state = 5": GGS.state = 5; break;
    case "state = cyclic": var o = {}; o.o = o; GGS.state = o; break;
    case "state = bigint": GGS.state = { n: 10n }; break;
    case "key(-1)": r = String(GGS.world.key(-1)); break;
    case "key(1e20)": r = String(GGS.world.key(1e20)); break;
    case "key('x')": r = String(GGS.world.key("x")); break;
    case "setTimeout(string)": setTimeout("GGS.sendCommand(player, 'evil', '')", 1); break;
    case "setTimeout(fn, 'abc')": setTimeout(function () {}, "abc"); break;
    case "setItem(evil toString)":
      GGS.world.setItem({ toString: function () { throw new Error("evil toString"); } }, "v"); break;
    case "setItem(symbol)": GGS.world.setItem(Symbol("s"), "v"); break;
    case "log(cyclic)": var c = {}; c.c = c; GGS.log(c, undefined, null, 1n); break;
    case "players = []": GGS.players = []; r = String(GGS.players.length); break;
  }
  GGS.sendCommand(player, "ok", command + " " + r);
}
"#;

/// What a call with wrong types does.
enum Want {
    /// Works (coerced): the event answers `ok <call> <result>`.
    Returns(&'static str),
    /// Works and sends this command and body before the `ok`.
    Sends(&'static str, &'static str),
    /// Fails the event with a script_error containing this text.
    Fails(&'static str),
}

#[test]
fn the_api_called_with_wrong_types_coerces_or_fails_the_event_cleanly() {
    let server = server_with(&[]);
    let healthy = HealthyTable::start(&server);
    let (mut c, _) = table(&server, "confused", WRONG_TYPES);
    use Want::*;
    let cases: &[(&str, Want)] = &[
        ("setItem()", Returns("undefined")), // key "undefined", value "undefined"
        ("getItem()", Returns("undefined")), // reads that "undefined" key
        // String([]) is "": an empty command name would break the wire format.
        (
            "sendCommand({}, [], null)",
            Fails("TypeError: a command name must be"),
        ),
        ("sendCommand(p)", Sends("undefined", "")),
        ("setTick('abc')", Fails("RangeError: setTick")),
        ("setTick(-1)", Fails("RangeError: setTick")),
        ("setTick(1e20)", Returns("")),
        ("state = 5", Fails("TypeError: GGS.state must be an object")),
        ("state = cyclic", Fails("TypeError")),
        ("state = bigint", Fails("TypeError")),
        ("key(-1)", Returns("null")),
        ("key(1e20)", Returns("null")),
        ("key('x')", Returns("undefined")), // NaN is index 0: the only key
        (
            "setTimeout(string)",
            Fails("TypeError: timer callback must be a function"),
        ),
        ("setTimeout(fn, 'abc')", Returns("")),
        ("setItem(evil toString)", Fails("Error: evil toString")),
        ("setItem(symbol)", Returns("")), // String(Symbol("s")) is "Symbol(s)"
        ("log(cyclic)", Returns("")),
        ("players = []", Returns("1")),
    ];
    let mut seen = Vec::new();
    for (call, want) in cases {
        c.command(call, "");
        let reply = c.recv();
        seen.push(format!("{call} -> {reply}"));
        let got = (reply.command.as_str(), reply.body.as_str());
        match want {
            Returns(result) => {
                assert_eq!(got, ("ok", format!("{call} {result}").as_str()), "{call}")
            }
            Sends(command, body) => {
                assert_eq!(got, (*command, *body), "{call}");
                c.expect("ok", &format!("{call} "));
            }
            Fails(text) => assert!(
                reply.command == "error"
                    && reply.body.starts_with("script_error ")
                    && reply.body.contains(text),
                "{call}: expected script_error containing {text:?}, got {reply}"
            ),
        }
        c.command("still-here", "");
        c.expect("ok", "still-here ");
    }
    for line in &seen {
        println!("wrong types: {line}");
    }
    // The string given to setTimeout never ran as code.
    c.expect_nothing(Duration::from_millis(100));
    healthy
        .stop("the API called with wrong types")
        .assert_bounded(HEALTHY_BOUND);
}

#[test]
fn a_script_cannot_reach_outside_or_change_ggs() {
    let server = server_with(&[]);
    let healthy = HealthyTable::start(&server);
    let (mut c, _) = table(
        &server,
        "escapee",
        r#"
var names = ["require", "process", "std", "os", "fetch", "XMLHttpRequest", "WebAssembly",
  "Deno", "Bun", "module", "exports", "global", "console", "print", "scriptArgs", "gc",
  "importScripts", "WebSocket", "Worker", "SharedArrayBuffer", "Atomics", "ops", "__ggs"];
var report = names.map(function (n) { return n + "=" + typeof globalThis[n]; }).join(" ");
var globals = Object.getOwnPropertyNames(globalThis).sort().join(",");
var imported = "pending";
import("os").then(function () { imported = "loaded"; }, function (e) { imported = "refused: " + e; });

var saved = { ggs: GGS, send: GGS.sendCommand, set: GGS.world.setItem, timeout: setTimeout };
var attempts = [
  function () { GGS = null; },
  function () { globalThis.GGS = null; },
  function () { return delete globalThis.GGS; },
  function () { Object.defineProperty(globalThis, "GGS", { value: 1 }); },
  function () { GGS.sendCommand = function () {}; },
  function () { GGS.world.setItem = function () {}; },
  function () { GGS.world = {}; },
  function () { return delete GGS.localStorage; },
  function () { Object.defineProperty(GGS, "log", { value: 1 }); },
  function () { GGS.extra = 1; },
  function () { Object.setPrototypeOf(GGS, null); },
  function () { setTimeout = null; },
];
function intact() {
  return GGS === saved.ggs && GGS.sendCommand === saved.send && GGS.world.setItem === saved.set &&
    GGS.extra === undefined && GGS.localStorage !== undefined && setTimeout === saved.timeout &&
    Object.getPrototypeOf(GGS) === Object.prototype;
}
function tamperSloppy() {
  var failed = attempts.map(function (f) { try { f(); return null; } catch (e) { return e.name; } });
  return (intact() ? "intact" : "CHANGED") + " " + failed.join(",");
}
function tamperStrict() {
  "use strict";
  var results = attempts.map(function (src) {
    // The same attempts, compiled as strict code.
    var f = new Function('"use strict"; return (' + src.toString() + ")();");
    try { f(); return "no error"; } catch (e) { return e.name; }
  });
  return (intact() ? "intact" : "CHANGED") + " " + results.join(",");
}
function playerCommand(player, command, args) {
  if (command === "typeof") GGS.sendCommand(player, "typeof", report);
  if (command === "globals") GGS.sendCommand(player, "globals", globals);
  if (command === "ggs") GGS.sendCommand(player, "ggs", Object.getOwnPropertyNames(GGS).sort().join(","));
  if (command === "import") GGS.sendCommand(player, "import", imported);
  if (command === "tamper-sloppy") GGS.sendCommand(player, "tamper", tamperSloppy());
  if (command === "tamper-strict") GGS.sendCommand(player, "tamper", tamperStrict());
  GGS.sendCommand(player, "ok", command);
}
"#,
    );
    c.command("typeof", "");
    let report = c.expect_cmd("typeof");
    c.expect("ok", "typeof");
    println!("typeof in a game script: {report}");
    c.command("globals", "");
    let globals = c.expect_cmd("globals");
    c.expect("ok", "globals");
    println!("globals a game script sees: {globals}");
    // GGS has its documented members only (no test hooks such as fault injection by default).
    c.command("ggs", "");
    let members = c.expect_cmd("ggs");
    c.expect("ok", "ggs");
    println!("GGS members: {members}");
    assert_eq!(
        members,
        "emit,host,localStorage,log,playerInfo,players,sendCommand,sendCommandToAll,serverInfo,setTick,state,tableToken,world"
    );
    c.command("import", "");
    let imported = c.expect_cmd("import");
    c.expect("ok", "import");
    println!("dynamic import(\"os\"): {imported}");
    // SharedArrayBuffer and Atomics are plain ECMAScript and harmless here: there are no
    // workers to share memory with, and Atomics.wait refuses to block (see
    // atomics_wait_cannot_block_the_vm_thread).
    let exposed: Vec<&str> = report
        .split(' ')
        .filter(|kv| !kv.ends_with("=undefined"))
        .filter(|kv| !matches!(*kv, "SharedArrayBuffer=function" | "Atomics=object"))
        .collect();
    assert!(
        exposed.is_empty(),
        "a game script can see {exposed:?} (full report: {report})"
    );
    assert!(!imported.starts_with("loaded"), "import(\"os\") {imported}");

    // GGS, its methods and the timers cannot be replaced: sloppy code is silently ignored,
    // strict code gets a TypeError for every attempt.
    c.command("tamper-sloppy", "");
    let sloppy = c.expect_cmd("tamper");
    c.expect("ok", "tamper-sloppy");
    println!("tampering with GGS in sloppy code: {sloppy}");
    assert!(sloppy.starts_with("intact "), "{sloppy}");
    c.command("tamper-strict", "");
    let strict = c.expect_cmd("tamper");
    c.expect("ok", "tamper-strict");
    println!("tampering with GGS in strict code: {strict}");
    assert!(strict.starts_with("intact "), "{strict}");
    let results: Vec<&str> = strict["intact ".len()..].split(',').collect();
    assert!(
        results.iter().all(|r| *r == "TypeError"),
        "strict tampering: {results:?}"
    );
    for redefine in [
        "var GGS = { sendCommand: function () {} };\nfunction playerCommand(p, c, a) { GGS.sendCommand(p, 'ok', c); }",
        "function GGS() {}\nfunction playerCommand(p, c, a) { GGS.sendCommand(p, 'ok', c); }",
        "let GGS = 1;\nfunction playerCommand(p, c, a) { GGS.sendCommand(p, 'ok', c); }",
    ] {
        c.define(redefine);
        let body = c.expect_cmd("defined");
        println!("define {:?}: {body}", redefine.lines().next().unwrap());
        // Either refused, or accepted with the real GGS still in place.
        answers(&mut c, "ggs-intact");
    }
    healthy
        .stop("a script looking for a way out")
        .assert_bounded(HEALTHY_BOUND);
}

/// The prelude behind `GGS` calls builtins a script can replace (`JSON.stringify` for
/// `GGS.state`, `JSON.parse` on rollback, `Map` iteration for timers) from the host, outside
/// the event's CPU deadline. A replaced builtin that loops must still be stopped.
fn hijacked_builtin_cannot_escape_the_deadline(what: &str, hijack: &str, trigger: &str) {
    let server = server_with(&["--vm-threads", "1"]);
    let healthy = HealthyTable::start(&server);
    let (mut c, _) = table(&server, "hijacker", SPINNER);
    let source = format!(
        "{hijack}\nfunction playerCommand(p, c, a) {{\n\
         if (c === 'throw') throw new Error('x');\n\
         if (c === 'wait') GGS.sendCommand(p, 'waited', String(wait()));\n\
         GGS.sendCommand(p, 'ok', c);\n}}"
    );
    c.define(&source);
    let mut replies = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(3);
    if trigger != "define" {
        match c.try_recv(Duration::from_secs(3)) {
            Ok(r) => replies.push(r.to_string()),
            Err(e) => replies.push(format!("({e})")),
        }
        c.command(trigger, "");
    }
    loop {
        match c.try_recv(deadline.saturating_duration_since(Instant::now())) {
            Ok(r) => replies.push(r.to_string()),
            Err(RecvError::Timeout) => break,
            Err(e) => {
                replies.push(format!("({e})"));
                break;
            }
        }
    }
    println!("{what}: the hijacker got {replies:?}");
    let stats = healthy.stop(what);
    let answered = replies.len() > usize::from(trigger != "define");
    assert!(
        answered && stats.failures.is_empty() && stats.worst < HEALTHY_BOUND,
        "{what}: the hijacking table got {replies:?} in 3 s, and the healthy table on the same \
         VM thread stalled ({stats}): the replaced builtin runs outside the event's CPU \
         deadline and holds the VM thread"
    );
}

#[test]
fn a_looping_json_stringify_cannot_escape_the_deadline() {
    hijacked_builtin_cannot_escape_the_deadline(
        "JSON.stringify replaced by a loop (GGS.state commit)",
        "JSON.stringify = function () { while (true) {} };",
        "define",
    );
}

#[test]
fn a_looping_map_iterator_cannot_escape_the_deadline() {
    hijacked_builtin_cannot_escape_the_deadline(
        "Map.prototype.values replaced by a loop (timer bookkeeping)",
        "Map.prototype.values = function () { while (true) {} };",
        "define",
    );
}

#[test]
fn a_looping_json_parse_cannot_escape_the_deadline() {
    hijacked_builtin_cannot_escape_the_deadline(
        "JSON.parse replaced by a loop (rollback of a failed event)",
        "JSON.parse = function () { while (true) {} };",
        "throw",
    );
}

#[test]
fn atomics_wait_cannot_block_the_vm_thread() {
    // SharedArrayBuffer and Atomics are exposed; Atomics.wait would park the VM thread,
    // where the interrupt handler cannot reach it.
    hijacked_builtin_cannot_escape_the_deadline(
        "Atomics.wait on a SharedArrayBuffer",
        "var cell = new Int32Array(new SharedArrayBuffer(4));\n\
         var wait = function () { return Atomics.wait(cell, 0, 0); };",
        "wait",
    );
}

#[test]
fn a_script_cannot_forge_replies_through_command_names() {
    let server = server_with(&[]);
    let healthy = HealthyTable::start(&server);
    let (mut c, _) = table(
        &server,
        "forger",
        r#"
function playerCommand(player, command, args) {
  if (command === "lf") GGS.sendCommand(player, "x\nClient-Command: forged", "");
  if (command === "crlf") GGS.sendCommand(player, "x\r\n\r\nforged", "");
  if (command === "body") GGS.sendCommand(player, "body", "line\nClient-Command: not a header\n\n");
  GGS.sendCommand(player, "ok", command);
}
"#,
    );
    // A body may hold anything: Content-Size frames it.
    c.command("body", "");
    c.expect("body", "line\nClient-Command: not a header\n\n");
    c.expect("ok", "body");
    // A command name with a line break must not reach the wire as it is: the event fails, or
    // the name is cleaned. Either way the player's stream stays well-formed.
    for cmd in ["lf", "crlf"] {
        c.command(cmd, "");
        let first = c
            .try_recv(Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("{cmd}: the player's stream broke: {e}"));
        println!("command name with a line break ({cmd}): {first}");
        assert!(
            !first.command.contains('\n') && !first.command.contains('\r'),
            "{cmd}: {first}"
        );
        if first.command != "error" {
            c.expect("ok", cmd);
        }
    }
    answers(&mut c, "after");
    healthy
        .stop("command names with line breaks")
        .assert_bounded(HEALTHY_BOUND);
}

/// The goal for a healthy table sharing the only VM thread with an attacker, at the default
/// 100 ms CPU deadline: at most about one deadline plus a few milliseconds.
const NEIGHBOUR_GOAL: Duration = Duration::from_millis(250);
/// What the native-code tests assert: the goal plus room for this shared 2-core machine and
/// a debug build (probes are 20 ms apart, the rebuild of the neighbour runs unoptimised).
const NEIGHBOUR_BOUND: Duration = Duration::from_millis(450);
/// The default CPU deadline, which the native-code tests keep.
const DEFAULT_DEADLINE: Duration = Duration::from_millis(100);
/// The most the offender of a native-code test may wait for its error: about twice its
/// deadline, plus the same room for the machine as [`NEIGHBOUR_BOUND`].
const OFFENDER_BOUND: Duration = Duration::from_millis(2 * 100 + 200);

/// One offender's command (`attack`) and what it got.
struct Offence {
    reply: String,
    code: String,
    took: Duration,
}

/// Runs `attack` (the body of `playerCommand` on the command `attack`; `hoard` is a global
/// array it may keep) on a table sharing the only VM thread with a healthy table, under the
/// default limits (100 ms, 32 MiB). `warmup` commands run first, each until it errs.
/// Returns the offence and the healthy table's round trips meanwhile and just after (its
/// table may be rebuilt on a fresh thread).
fn native_attack(label: &str, setup: &str, attack: &str) -> (Offence, ggs_tests::RttStats) {
    let server = ServerProcess::start_with_args(&["--vm-threads", "1"]);
    let healthy = HealthyTable::start(&server);
    let script = format!(
        "var hoard = [];\n{setup}\n\
         function playerCommand(player, command, args) {{\n\
           if (command === 'attack') {{ {attack} }}\n\
           GGS.sendCommand(player, 'ok', command);\n}}"
    );
    let (mut c, _) = table(&server, "offender", &script);
    answers(&mut c, "before");
    std::thread::sleep(Duration::from_millis(100));
    healthy.take(&format!("{label}: before the attack"));
    let sent = Instant::now();
    c.command("attack", "");
    let reply = c
        .try_recv(Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("{label}: the offender got no reply: {e}"));
    let took = sent.elapsed();
    let code = match reply.command.as_str() {
        "error" => reply.body.split(' ').next().unwrap_or_default().to_string(),
        other => other.to_string(),
    };
    let offence = Offence {
        reply: reply.to_string(),
        code,
        took,
    };
    // The neighbour keeps probing a little longer: its rebuild, if any, is measured too.
    std::thread::sleep(Duration::from_millis(300));
    answers(&mut c, "after");
    let stats = healthy.stop(label);
    println!(
        "{label}: after {} ms the offender got {}",
        offence.took.as_millis(),
        offence.reply
    );
    (offence, stats)
}

/// Asserts the goal of a native-code attack: the neighbour waited at most about one
/// deadline, the offender got one of `codes` (naming the limit) within about two.
#[track_caller]
fn assert_contained(offence: &Offence, stats: &ggs_tests::RttStats, codes: &[&str]) {
    assert!(
        codes.contains(&offence.code.as_str()),
        "{}: the offender got {}, expected one of {codes:?}",
        stats.label,
        offence.reply
    );
    let names_limit = match offence.code.as_str() {
        "script_timeout" => offence.reply.contains("100 ms"),
        "script_out_of_memory" => offence.reply.contains("memory"),
        _ => false,
    };
    assert!(names_limit, "{}: {}", stats.label, offence.reply);
    assert!(
        offence.took < OFFENDER_BOUND,
        "{}: the offender waited {} ms for its error; the goal is about twice its {} ms \
         deadline, and the bound of {} ms leaves room for this shared machine",
        stats.label,
        offence.took.as_millis(),
        DEFAULT_DEADLINE.as_millis(),
        OFFENDER_BOUND.as_millis()
    );
    assert!(
        stats.failures.is_empty() && stats.count > 0,
        "{}: the healthy table failed: {stats}",
        stats.label
    );
    assert!(
        stats.worst < NEIGHBOUR_BOUND,
        "{}: the healthy table on the same VM thread waited {} ms; the goal is {} ms (one \
         {} ms deadline and a few ms), and the bound of {} ms leaves room for this shared \
         2-core machine and a debug build",
        stats.label,
        stats.worst.as_millis(),
        NEIGHBOUR_GOAL.as_millis(),
        DEFAULT_DEADLINE.as_millis(),
        NEIGHBOUR_BOUND.as_millis()
    );
}

/// Codes an offender stopped in native code may get.
const TIMEOUT_OR_OOM: &[&str] = &["script_timeout", "script_out_of_memory"];

#[test]
fn a_huge_join_cannot_hold_the_vm_thread() {
    let (offence, stats) = native_attack(
        "new Array(64 Mi).join(\"z\")",
        "",
        "new Array(64 * 1024 * 1024).join('z');",
    );
    assert_contained(&offence, &stats, TIMEOUT_OR_OOM);
}

#[test]
fn a_huge_string_search_cannot_hold_the_vm_thread() {
    let (offence, stats) = native_attack(
        "indexOf of a 1 KiB needle in a 256 KiB haystack",
        "var hay = 'a'.repeat(1 << 18), needle = 'a'.repeat(1 << 10) + 'b';",
        "hay.indexOf(needle); hay.includes(needle);",
    );
    assert_contained(&offence, &stats, &["script_timeout"]);
}

#[test]
fn fills_in_a_loop_cannot_hold_the_vm_thread() {
    // A loop polls the interrupt handler only every few thousand iterations: a loop around
    // a long built-in call runs far past the deadline between two polls.
    let (offence, stats) = native_attack(
        "for (;;) array of 1 Mi.fill(1)",
        "var filled = new Array(1 << 20).fill(0);",
        "for (;;) filled.fill(1);",
    );
    assert_contained(&offence, &stats, &["script_timeout"]);
}

#[test]
fn a_huge_sort_cannot_hold_the_vm_thread() {
    let (offence, stats) = native_attack(
        "sort() of 256 Ki random numbers, then sort with a comparator",
        "",
        "var a = new Array(1 << 18).fill(0).map(Math.random); a.sort(); \
         a.sort(function (x, y) { return x - y; }); for (;;) a.sort();",
    );
    assert_contained(&offence, &stats, &["script_timeout"]);
}

#[test]
fn a_sort_of_a_huge_array_is_a_timeout_or_out_of_memory() {
    // 1 Mi numbers (16 MiB) and the sort's own copy do not fit in a 32 MiB heap.
    let (offence, stats) = native_attack(
        "sort with a comparator of 1 Mi numbers",
        "",
        "var a = new Array(1 << 20).fill(0).map(Math.random); \
         a.sort(function (x, y) { return x - y; });",
    );
    assert_contained(&offence, &stats, TIMEOUT_OR_OOM);
}

#[test]
fn a_sort_interrupted_by_the_deadline_is_a_timeout() {
    let (offence, stats) = native_attack(
        "sort with a comparator of 512 Ki numbers",
        "",
        "var a = new Array(1 << 19).fill(0).map(Math.random); \
         for (;;) a.sort(function (x, y) { return y - x; });",
    );
    assert_contained(&offence, &stats, &["script_timeout"]);
}

#[test]
fn a_catastrophic_regular_expression_cannot_hold_the_vm_thread() {
    let (offence, stats) = native_attack(
        "/^(a+)+$/ against 28 a's and a b, in a loop",
        "var evil = /^(a+)+$/, subject = 'a'.repeat(28) + 'b';",
        "for (;;) evil.test(subject);",
    );
    assert_contained(&offence, &stats, &["script_timeout"]);
}

#[test]
fn json_over_huge_arrays_and_strings_cannot_hold_the_vm_thread() {
    let (offence, stats) = native_attack(
        "JSON.stringify of 1 Mi strings, then JSON.parse of 64 Ki in a loop",
        // Small enough to make within the define's own deadline on a slow machine.
        "var text = JSON.stringify(new Array(1 << 16).fill('xxxxxxxx'));",
        "JSON.stringify(new Array(1 << 20).fill('xxxxxxxx')); for (;;) JSON.parse(text);",
    );
    assert_contained(&offence, &stats, TIMEOUT_OR_OOM);
}

#[test]
fn an_allocation_bomb_cannot_hold_the_vm_thread() {
    let (offence, stats) = native_attack(
        "var a = []; while (true) a.push(new Array(100000).join(\"x\"))",
        "",
        "var a = []; while (true) a.push(new Array(100000).join('x'));",
    );
    assert_contained(&offence, &stats, TIMEOUT_OR_OOM);
}

#[test]
fn tearing_down_a_full_runtime_cannot_hold_the_vm_thread() {
    // The table fills its heap with small objects over several events, each within its
    // deadline, then runs out of memory: its runtime is torn down and rebuilt.
    let server = ServerProcess::start_with_args(&["--vm-threads", "1"]);
    let healthy = HealthyTable::start(&server);
    let (mut c, _) = table(
        &server,
        "hoarder",
        r#"
var hoard = [];
function playerCommand(player, command, args) {
  if (command === "hoard") {
    var t = Date.now();
    while (Date.now() - t < 40) for (var i = 0; i < 1000; i++) hoard.push({ n: hoard.length });
  }
  GGS.sendCommand(player, "ok", command + " " + hoard.length);
}
"#,
    );
    let label = "a heap of 32 MiB of small objects torn down after running out of memory";
    let started = Instant::now();
    let mut events = 0;
    let (reply, took) = loop {
        events += 1;
        let sent = Instant::now();
        c.command("hoard", "");
        let reply = c
            .try_recv(Duration::from_secs(60))
            .unwrap_or_else(|e| panic!("{label}: no reply: {e}"));
        if reply.command == "error" || events > 2000 {
            break (reply, sent.elapsed());
        }
    };
    std::thread::sleep(Duration::from_millis(300));
    let stats = healthy.stop(label);
    println!(
        "{label}: after {events} events in {} ms (the last took {} ms) the hoarder got {reply}",
        started.elapsed().as_millis(),
        took.as_millis()
    );
    // Rebuilt from committed state: the hoard is gone.
    c.command("after", "");
    c.expect("ok", "after 0");
    let code = reply.body.split(' ').next().unwrap_or_default().to_string();
    let offence = Offence {
        reply: reply.to_string(),
        code,
        took,
    };
    assert_contained(&offence, &stats, TIMEOUT_OR_OOM);
}

#[test]
fn a_table_displaced_again_and_again_by_its_neighbours_is_not_stopped() {
    // Seven tables in turn hold the only VM thread in a built-in: each time, the healthy
    // table moves to a fresh thread. That is no fault of its own: more moves than the restart
    // intensity (5 in 10 s) must not stop it.
    let server = ServerProcess::start_with_args(&["--vm-threads", "1"]);
    let healthy = HealthyTable::start(&server);
    for i in 0..7 {
        let (mut c, _) = table(
            &server,
            &format!("offender {i}"),
            "function playerCommand(p, c) { new Array(64 * 1024 * 1024).join('z'); }",
        );
        c.command("attack", "");
        let reply = c.recv();
        assert!(
            reply.command == "error" && reply.body.starts_with("script_timeout "),
            "offender {i}: {reply}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let stats = healthy.stop("seven tables in turn stuck in a 64 Mi join");
    assert!(stats.failures.is_empty(), "{stats}: {:?}", stats.failures);
    assert!(
        stats.worst < NEIGHBOUR_BOUND,
        "{stats}: the goal is {} ms, the bound leaves room for this shared machine",
        NEIGHBOUR_GOAL.as_millis()
    );
}
