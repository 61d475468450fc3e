//! SIGKILL chaos: the server is killed at random moments under load and restarted on the same
//! data directory. Players resume their seats with their tokens; nothing acknowledged is lost,
//! nothing is counted that was not sent, and pong's durable tick carries on by itself from
//! where it was committed.
//!
//! `GGS_CHAOS_KILLS=N` sets the kills of the counter scenario (default 20),
//! `GGS_CHAOS_PONG_KILLS=N` those of the pong scenario (default 3), and `GGS_CHAOS_SEED=S`
//! replays a run (every run prints its seed).

use std::collections::HashSet;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ggs_tests::wire::encode_message;
use ggs_tests::{game_source, Client, RecvError, Reply, Rng, ServerOptions, ServerProcess};

/// A counter kept both in `GGS.state` and in `GGS.world`: `inc` adds one and answers the
/// sender `n <value>`; `get` answers `v <state> <world>`, which must always agree (an event's
/// writes are one transaction).
const COUNTER: &str = r#"
function playerCommand(player, command, args) {
  if (command === "inc") {
    var n = (GGS.state.n || 0) + 1;
    GGS.state.n = n;
    GGS.world.setItem("n", String(n));
    GGS.sendCommand(player, "n", String(n));
  } else if (command === "get") {
    GGS.sendCommand(player, "v", (GGS.state.n || 0) + " " + (GGS.world.getItem("n") || "0"));
  }
}
"#;

/// Tables of the counter scenario, and players at each.
const TABLES: usize = 2;
const PLAYERS_PER_TABLE: usize = 2;
/// Increments each player keeps in flight.
const WINDOW: usize = 4;
/// How long a player waits for an acknowledgement before calling the server stuck.
const STALL: Duration = Duration::from_secs(10);

/// The run's seed: `GGS_CHAOS_SEED`, or the clock.
fn seed() -> u64 {
    match std::env::var("GGS_CHAOS_SEED") {
        Ok(s) => s
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("GGS_CHAOS_SEED must be a number, got {s:?}")),
        Err(_) => SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("the clock is after 1970")
            .as_nanos() as u64,
    }
}

fn env_count(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(s) => s
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a number, got {s:?}")),
        Err(_) => default,
    }
}

/// Writes a line to the real stderr, past the test harness's capture, so `cargo test` shows it.
fn report(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// p50 and max of durations, as text.
fn p50_max(times: &[Duration]) -> String {
    let mut sorted = times.to_vec();
    sorted.sort();
    match sorted.last() {
        None => "p50 - max -".to_string(),
        Some(max) => format!(
            "p50 {} max {}",
            ms(sorted[(sorted.len() - 1) / 2]),
            ms(*max)
        ),
    }
}

/// What one player did during one load phase.
#[derive(Default)]
struct Load {
    /// Increments sent (counted before each write, so an upper bound).
    sent: u64,
    /// The values acknowledged, in order.
    acked: Vec<u64>,
    /// What went wrong while the server was still running.
    failure: Option<String>,
}

/// Keeps `WINDOW` increments in flight and records every acknowledgement until the server is
/// killed (`killed` is set just before the kill) and the connection ends.
fn load(mut client: Client, killed: &AtomicBool, mut highest: u64) -> Load {
    let inc = encode_message(&[("Game-Command", "inc")], b"");
    let mut load = Load::default();
    let mut outstanding = 0;
    let mut last_reply = Instant::now();
    let fail = |mut load: Load, why: String| {
        load.failure = Some(why);
        load
    };
    loop {
        while outstanding < WINDOW && !killed.load(Ordering::SeqCst) {
            load.sent += 1;
            if client.try_send_raw(&inc).is_err() {
                if killed.load(Ordering::SeqCst) {
                    return load;
                }
                return fail(load, "a write failed while the server ran".into());
            }
            outstanding += 1;
        }
        match client.try_recv(Duration::from_millis(100)) {
            Ok(Reply { command, body }) if command == "n" => {
                let Ok(n) = body.parse::<u64>() else {
                    return fail(load, format!("n {body:?} is not a number"));
                };
                if n <= highest {
                    return fail(
                        load,
                        format!("acknowledged {n} after {highest}: a player's counts must rise"),
                    );
                }
                highest = n;
                load.acked.push(n);
                outstanding -= 1;
                last_reply = Instant::now();
            }
            Ok(reply) => return fail(load, format!("unexpected reply {reply}")),
            Err(RecvError::Timeout) => {
                let limit = if killed.load(Ordering::SeqCst) {
                    Duration::from_secs(5)
                } else {
                    STALL
                };
                if last_reply.elapsed() > limit {
                    return fail(load, format!("nothing arrived for {limit:?}"));
                }
            }
            Err(e) => {
                if killed.load(Ordering::SeqCst) {
                    return load;
                }
                return fail(load, format!("{e} while the server ran"));
            }
        }
    }
}

/// One table of the counter scenario as the clients saw it.
struct TableLog {
    id: String,
    /// Increments sent to it, in all.
    sent: u64,
    /// The highest value acknowledged.
    highest: u64,
    /// Every value acknowledged (each must be acknowledged once).
    acked: HashSet<u64>,
}

/// One player of the counter scenario.
struct Seat {
    table: usize,
    /// The resume token of the player's seat.
    token: String,
    name: String,
    /// The highest value this player was acknowledged.
    highest: u64,
}

#[test]
fn nothing_acknowledged_is_lost_across_random_sigkills() {
    let kills = env_count("GGS_CHAOS_KILLS", 20);
    let seed = seed();
    eprintln!("chaos counter: seed {seed} (GGS_CHAOS_SEED={seed} replays it), {kills} kills");
    let mut rng = Rng(seed);
    // The load is far below any sane rate limit on a slow machine, but a fast one could
    // exceed the default per-connection rate; an unknown variable is ignored.
    let mut server = ServerProcess::start_with(ServerOptions {
        env: vec![("GGS_MESSAGES_PER_SECOND".into(), "1000000".into())],
        ..ServerOptions::default()
    });

    let mut tables = Vec::new();
    let mut seats = Vec::new();
    let mut clients = Vec::new();
    for t in 0..TABLES {
        let mut id = None;
        for p in 0..PLAYERS_PER_TABLE {
            let name = format!("table {t} player {p}");
            let mut client = server.connect().named(&name);
            let hello = client.hello(id.as_deref());
            if p == 0 {
                client.define_ok(COUNTER);
                id = Some(hello.table.clone());
            } else {
                assert!(hello.defined, "{name}: {hello:?}");
            }
            seats.push(Seat {
                table: t,
                token: hello.token,
                name,
                highest: 0,
            });
            clients.push(client);
        }
        tables.push(TableLog {
            id: id.expect("the table was created"),
            sent: 0,
            highest: 0,
            acked: HashSet::new(),
        });
    }

    let mut failures = Vec::new();
    let mut restart_times = Vec::new();
    let mut listening_times = Vec::new();
    let (mut sent, mut acknowledged, mut lost) = (0u64, 0u64, 0u64);
    let mut done = 0;
    for round in 1..=kills {
        let killed = Arc::new(AtomicBool::new(false));
        let loads: Vec<_> = clients
            .drain(..)
            .zip(&seats)
            .map(|(client, seat)| {
                let killed = killed.clone();
                let highest = seat.highest;
                thread::spawn(move || load(client, &killed, highest))
            })
            .collect();
        thread::sleep(Duration::from_millis(rng.range(20, 300)));
        killed.store(true, Ordering::SeqCst);
        server.kill9();
        done = round;
        for (handle, seat) in loads.into_iter().zip(&mut seats) {
            let load = handle.join().expect("a load thread panicked");
            let table = &mut tables[seat.table];
            table.sent += load.sent;
            sent += load.sent;
            acknowledged += load.acked.len() as u64;
            for &n in &load.acked {
                if !table.acked.insert(n) {
                    failures.push(format!(
                        "kill {round}: {}: value {n} was acknowledged twice at table {}",
                        seat.name, seat.table
                    ));
                }
                table.highest = table.highest.max(n);
                seat.highest = seat.highest.max(n);
            }
            if let Some(why) = load.failure {
                failures.push(format!("kill {round}: {}: {why}", seat.name));
            }
        }
        let log = server.stderr();
        if log.contains("panicked") {
            failures.push(format!("kill {round}: the server panicked:\n{log}"));
        }

        // The data directory reopens, every player resumes its seat, every table has at least
        // what was acknowledged and at most what was sent.
        let spawned = Instant::now();
        server.restart();
        listening_times.push(spawned.elapsed());
        for (i, seat) in seats.iter().enumerate() {
            let table = &tables[seat.table];
            let mut client = server
                .connect()
                .named(&format!("{} after kill {round}", seat.name));
            client.resume(&table.id, &seat.token);
            if i % PLAYERS_PER_TABLE == 0 {
                client.command("get", "");
                let v = client.expect_cmd("v");
                if i == 0 {
                    restart_times.push(spawned.elapsed());
                }
                let (state, world) = v.split_once(' ').unwrap_or((&v, ""));
                let count: u64 = state.parse().expect("the counter is a number");
                if world != state {
                    failures.push(format!(
                        "kill {round}: table {}: GGS.state says {state}, GGS.world {world}",
                        seat.table
                    ));
                }
                if count < table.highest {
                    lost += table.highest - count;
                    failures.push(format!(
                        "kill {round}: table {}: counter {count} < {} acknowledged: {} lost",
                        seat.table,
                        table.highest,
                        table.highest - count
                    ));
                }
                if count > table.sent {
                    failures.push(format!(
                        "kill {round}: table {}: counter {count} > {} increments sent",
                        seat.table, table.sent
                    ));
                }
            }
            clients.push(client);
        }
        if !failures.is_empty() {
            break;
        }
    }

    report(&format!(
        "chaos summary: seed {seed}, kills {done}, sent {sent}, acknowledged {acknowledged}, \
         lost {lost}, restart-to-first-served-event {}, restart-to-listening {}",
        p50_max(&restart_times),
        p50_max(&listening_times)
    ));
    assert!(
        failures.is_empty(),
        "seed {seed}: {} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(
        acknowledged > 0,
        "nothing was acknowledged in {done} rounds"
    );
    assert_eq!(lost, 0);
}

/// Appended to games/pong.js for the pong scenario: `ticks` answers the ticks played, and a
/// game never ends (so the tick stays armed however long the test runs).
const PONG_DEBUG: &str = r#"
WINNING_POINTS = 1000000000;
var __pc = playerCommand;
playerCommand = function (p, c, a) {
  if (c === "ticks") { GGS.sendCommand(p, "ticks", String(st().ticks)); return; }
  return __pc(p, c, a);
};
"#;

/// What a pong player saw.
#[derive(Default)]
struct Watch {
    /// The last `ball` body.
    ball: Option<String>,
    /// `ball` messages seen.
    balls: u64,
    /// The last `ticks` answer.
    ticks: Option<u64>,
}

impl Watch {
    fn see(&mut self, who: &str, reply: Reply) {
        match reply.command.as_str() {
            "ball" => {
                self.ball = Some(reply.body);
                self.balls += 1;
            }
            "ticks" => self.ticks = Some(reply.body.parse().expect("ticks is a number")),
            "player1_points" | "player2_points" => {}
            _ => panic!("{who}: unexpected {reply} during the game"),
        }
    }
}

/// Reads what both players get for `time`.
fn watch(players: &mut [Client], watches: &mut [Watch], time: Duration) {
    let end = Instant::now() + time;
    while Instant::now() < end {
        for (client, w) in players.iter_mut().zip(watches.iter_mut()) {
            while let Some(reply) = client.recv_within(Duration::from_millis(5)) {
                let who = client.name().to_string();
                w.see(&who, reply);
            }
        }
    }
}

/// Asks `ticks` and reads until the answer, watching the balls meanwhile.
fn ask_ticks(client: &mut Client, w: &mut Watch) -> u64 {
    client.command("ticks", "");
    w.ticks = None;
    let who = client.name().to_string();
    while w.ticks.is_none() {
        let reply = client.recv();
        w.see(&who, reply);
    }
    w.ticks.expect("just seen")
}

/// Reads replies up to and including the first `command`; returns them all.
#[track_caller]
fn until(client: &mut Client, command: &str) -> Vec<Reply> {
    let mut seen = Vec::new();
    loop {
        let reply = client.recv();
        let last = reply.command == command;
        seen.push(reply);
        if last {
            return seen;
        }
    }
}

#[test]
fn pong_keeps_ticking_across_sigkills() {
    let kills = env_count("GGS_CHAOS_PONG_KILLS", 3);
    let seed = seed();
    eprintln!("chaos pong: seed {seed} (GGS_CHAOS_SEED={seed} replays it), {kills} kills");
    let mut rng = Rng(seed ^ 0x706F_6E67);
    let mut server = ServerProcess::start();

    let mut host = server.connect().named("pong host");
    let table = host.hello(None).table;
    host.define_ok(&(game_source("pong.js") + PONG_DEBUG));
    host.close();
    let mut players = Vec::new();
    let mut tokens = Vec::new();
    for seat in 1..=2 {
        let mut p = server.connect().named(&format!("pong player {seat}"));
        tokens.push(p.hello(Some(&table)).token);
        let snapshot = until(&mut p, "game");
        assert_eq!(
            snapshot[0],
            Reply {
                command: "welcome".into(),
                body: seat.to_string()
            },
            "{}",
            p.name()
        );
        players.push(p);
    }
    players[0].command("ready", "");
    assert_eq!(until(&mut players[0], "game").last().unwrap().body, "wait");
    players[1].command("ready", "");
    for p in &mut players {
        assert_eq!(
            until(p, "game").last().unwrap().body,
            "start",
            "{}",
            p.name()
        );
    }

    let mut watches = vec![Watch::default(), Watch::default()];
    let mut acked_ticks = 0;
    let mut restart_times = Vec::new();
    let mut resumed_at = Vec::new();
    for round in 1..=kills {
        watch(
            &mut players,
            &mut watches,
            Duration::from_millis(rng.range(200, 600)),
        );
        let ticks = ask_ticks(&mut players[0], &mut watches[0]);
        assert!(
            ticks > acked_ticks,
            "kill {round}: ticks {ticks} did not advance from {acked_ticks}"
        );
        acked_ticks = ticks;
        watch(
            &mut players,
            &mut watches,
            Duration::from_millis(rng.range(0, 100)),
        );
        assert!(watches[0].balls > 0, "no ball before kill {round}");
        server.kill9();
        // What was already received was acknowledged too.
        for (client, w) in players.iter_mut().zip(watches.iter_mut()) {
            let who = client.name().to_string();
            while let Ok(reply) = client.try_recv(Duration::from_secs(2)) {
                w.see(&who, reply);
            }
        }
        let last_ball = watches[0].ball.clone();

        let spawned = Instant::now();
        server.restart();
        players.clear();
        for (i, token) in tokens.iter().enumerate() {
            let seat = i + 1;
            let mut p = server
                .connect()
                .named(&format!("pong player {seat} after kill {round}"));
            p.resume(&table, token);
            // playerReconnected sends the snapshot: welcome, both paddles, the ball, the
            // score and the game state, which is still on.
            let snapshot = until(&mut p, "game");
            if i == 0 {
                restart_times.push(spawned.elapsed());
            }
            let commands: Vec<&str> = snapshot.iter().map(|r| r.command.as_str()).collect();
            assert_eq!(
                commands,
                [
                    "welcome",
                    "player1_y",
                    "player2_y",
                    "ball",
                    "player1_points",
                    "player2_points",
                    "game"
                ],
                "{}: the snapshot {snapshot:?}",
                p.name()
            );
            assert_eq!(snapshot[0].body, seat.to_string(), "{}", p.name());
            assert_eq!(
                snapshot[6].body,
                "start",
                "{}: the game is still on",
                p.name()
            );
            players.push(p);
        }
        // Nobody sends anything: the re-armed tick moves the ball.
        watches = vec![Watch::default(), Watch::default()];
        let deadline = Instant::now() + Duration::from_secs(5);
        while watches[0].balls < 5 || watches[1].balls < 5 {
            assert!(
                Instant::now() < deadline,
                "kill {round}: the tick did not resume by itself: {} and {} balls in 5 s \
                 (last ball before the kill {last_ball:?})",
                watches[0].balls,
                watches[1].balls
            );
            watch(&mut players, &mut watches, Duration::from_millis(20));
        }
        let balls = watches[0].balls;
        let ticks = ask_ticks(&mut players[0], &mut watches[0]);
        assert!(
            ticks >= acked_ticks + balls,
            "kill {round}: ticks {ticks} after the restart, but {acked_ticks} were acknowledged \
             before it and {balls} balls have moved since"
        );
        resumed_at.push(format!("{acked_ticks}->{ticks}"));
        acked_ticks = ticks;
    }
    // Still ticking at the end.
    watch(&mut players, &mut watches, Duration::from_millis(200));
    let ticks = ask_ticks(&mut players[0], &mut watches[0]);
    assert!(
        ticks > acked_ticks,
        "ticks {ticks} stopped at {acked_ticks}"
    );
    report(&format!(
        "chaos pong summary: seed {seed}, kills {kills}, ticks acknowledged->after restart {}, \
         final ticks {ticks}, restart-to-first-served-event {}",
        resumed_at.join(" "),
        p50_max(&restart_times)
    ));
}
