//! The web client in real headless Chromium, driven by Playwright (`tests/browser/*.mjs`).
//!
//! Each test starts the `ggs` binary (two nodes on a real etcd for the console of a cluster),
//! runs one Node scenario against its HTTP port and answers the scenario's requests (kill and
//! restart the server, join over TCP). Screenshots go to
//! `target/browser-screenshots/`. Needs `/usr/bin/chromium` (or `$CHROMIUM`) and
//! `tests/browser/node_modules`: `.ci/run` installs both.
//!
//! The same npm package brings TypeScript, which checks `games/ggs.d.ts` and the shipped games
//! against it (`tsc -p games`, configured by `games/tsconfig.json`).

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ggs_tests::{Client, ServerOptions, ServerProcess};

/// The longest a scenario may run.
const SCENARIO_TIMEOUT: Duration = Duration::from_secs(120);

/// One Chromium at a time: the machine has few cores and the scenarios time their steps.
static ONE_BROWSER: Mutex<()> = Mutex::new(());

fn browser_dir() -> PathBuf {
    ggs_tests::tests_dir().join("browser")
}

fn screenshots_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| ggs_tests::tests_dir().join("../target"));
    target.join("browser-screenshots")
}

fn chromium() -> PathBuf {
    std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
}

/// Fails with what to install when the browser or Playwright is missing.
fn check_prerequisites() {
    let fix = "run `bash .ci/run` once, or `apt-get install chromium` and \
               `npm ci --prefix tests/browser`";
    assert!(
        chromium().exists(),
        "the browser tests need Chromium at {}: {fix}",
        chromium().display()
    );
    assert!(
        browser_dir().join("node_modules/playwright-core").exists(),
        "the browser tests need Playwright in {}: {fix}",
        browser_dir().join("node_modules").display()
    );
    let node = Command::new("node").arg("--version").output();
    assert!(
        node.is_ok_and(|o| o.status.success()),
        "the browser tests need Node.js (`node`): {fix}"
    );
}

/// A running scenario: its requests (`@event data` lines) and the pipe to answer them.
struct Scenario {
    child: Child,
    stdin: ChildStdin,
    events: mpsc::Receiver<(String, String)>,
    name: String,
    deadline: Instant,
    /// Where the server writes its logs, shown when the scenario fails.
    server_logs: PathBuf,
}

/// Lines of each server log shown when a scenario fails.
const LOG_TAIL: usize = 40;

/// The last [`LOG_TAIL`] lines of every server log in `dir`, for a failure message.
fn server_log_tail(dir: &std::path::Path) -> String {
    let mut logs: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    logs.retain(|p| p.to_string_lossy().ends_with(".log"));
    logs.sort();
    let mut out = String::new();
    for log in logs {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = &lines[lines.len().saturating_sub(LOG_TAIL)..];
        out.push_str(&format!("--- {}\n{}\n", log.display(), tail.join("\n")));
    }
    out
}

impl Scenario {
    fn start(name: &str, server: &ServerProcess) -> Scenario {
        Scenario::start_with(name, server, &[])
    }

    /// [`Scenario::start`] with more environment for the scenario (`GGS_CHAOS=drain`).
    fn start_with(name: &str, server: &ServerProcess, env: &[(&str, &str)]) -> Scenario {
        let mut child = Command::new("node")
            .arg(browser_dir().join(format!("{name}.mjs")))
            .envs(env.iter().copied())
            .current_dir(browser_dir())
            .env("GGS_HTTP_URL", format!("http://{}", server.http_addr()))
            // For the scenario's own admin requests (uploads), as the local CLI reads it.
            .env("GGS_ADMIN_TOKEN", server.admin_token())
            .env("GGS_SCREENSHOTS", screenshots_dir())
            .env("CHROMIUM", chromium())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run node: {e}"));
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, events) = mpsc::channel();
        let label = name.to_string();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                match line.strip_prefix('@') {
                    Some(event) => {
                        let (event, data) = event.split_once(' ').unwrap_or((event, ""));
                        let _ = tx.send((event.to_string(), data.to_string()));
                    }
                    None => eprintln!("[{label}] {line}"),
                }
            }
        });
        Scenario {
            child,
            stdin,
            events,
            name: name.to_string(),
            deadline: Instant::now() + SCENARIO_TIMEOUT,
            server_logs: server.log_dir(),
        }
    }

    /// The scenario's next request; `None` once it has exited (it then must have succeeded).
    fn next(&mut self) -> Option<(String, String)> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        match self.events.recv_timeout(left) {
            Ok(event) => Some(event),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = self.child.wait().expect("waiting for node");
                assert!(
                    status.success(),
                    "browser scenario {} failed ({status}); see its output above. The server said:\n{}",
                    self.name,
                    server_log_tail(&self.server_logs)
                );
                None
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let _ = self.child.kill();
                panic!(
                    "browser scenario {} did not finish within {SCENARIO_TIMEOUT:?}. The server said:\n{}",
                    self.name,
                    server_log_tail(&self.server_logs)
                );
            }
        }
    }

    fn answer(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").expect("answering the scenario");
        self.stdin.flush().expect("answering the scenario");
    }

    /// Runs the scenario to its end, passing each request to `handle`, and checks it said done.
    fn run(mut self, mut handle: impl FnMut(&str, &str, &mut Scenario)) {
        let mut done = false;
        while let Some((event, data)) = self.next() {
            if event == "done" {
                done = true;
            } else {
                handle(&event, &data, &mut self);
            }
        }
        assert!(
            done,
            "browser scenario {} exited without finishing",
            self.name
        );
    }
}

impl Drop for Scenario {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn lock() -> std::sync::MutexGuard<'static, ()> {
    ONE_BROWSER.lock().unwrap_or_else(|e| e.into_inner())
}

/// A port free now, for a server that must keep its HTTP port across a restart.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("binding a free port")
        .port()
}

#[test]
fn two_pages_play_tictactoe_to_a_win() {
    check_prerequisites();
    let _one = lock();
    let server = ServerProcess::start();
    Scenario::start("tictactoe", &server).run(|event, _, _| panic!("unexpected request {event}"));
}

#[test]
fn a_browser_and_a_tcp_client_chat_at_one_table() {
    check_prerequisites();
    let _one = lock();
    let server = ServerProcess::start();
    let mut tcp: Option<Client> = None;
    Scenario::start("chat", &server).run(|event, data, scenario| match event {
        "table" => {
            let mut client = server.connect().named("tcp player");
            let player = client.whoami();
            let hello = client.hello(Some(data));
            assert!(hello.defined, "the page defined the chat: {hello:?}");
            let guest = format!("guest-{}", &player[..4]);
            client.expect("notice", &format!("{guest} joined"));
            client.command("/nick", "tcp-user");
            client.expect("notice", &format!("{guest} is now known as tcp-user"));
            client.command("message", "hello from tcp");
            client.expect("message", "tcp-user> hello from tcp");
            tcp = Some(client);
            scenario.answer("joined");
        }
        "said" => {
            let client = tcp.as_mut().expect("the tcp player joined first");
            let renamed = client.expect_cmd("notice");
            assert!(
                renamed.ends_with("is now known as browser"),
                "the tcp player sees the page's nick change: {renamed}"
            );
            client.expect("message", data);
        }
        "check" => scenario.answer("ok"),
        other => panic!("unexpected request {other}"),
    });
}

#[test]
fn pages_reconnect_and_finish_after_the_server_is_killed() {
    check_prerequisites();
    let _one = lock();
    let port = free_port();
    let http = format!("127.0.0.1:{port}");
    let mut server = ServerProcess::start_with(ServerOptions::default().args(&["--http", &http]));
    Scenario::start("restart", &server).run(|event, _, scenario| match event {
        "kill" => {
            server.kill9();
            scenario.answer("killed");
        }
        "restart" => {
            server.restart();
            assert_eq!(
                server.http_addr().port(),
                port,
                "the restarted server keeps its HTTP port"
            );
            scenario.answer("restarted");
        }
        other => panic!("unexpected request {other}"),
    });
}

/// Two chat pages keep sending lines while the server is SIGKILLed and restarted on the same
/// data directory several times; each page ends up showing every line exactly once, in order.
#[test]
fn chat_pages_show_every_line_once_across_server_kills() {
    check_prerequisites();
    let _one = lock();
    let port = free_port();
    let http = format!("127.0.0.1:{port}");
    let mut server = ServerProcess::start_with(ServerOptions::default().args(&["--http", &http]));
    let mut kills = 0;
    Scenario::start("exactly_once", &server).run(|event, _, scenario| match event {
        "kill" => {
            server.kill9();
            kills += 1;
            scenario.answer("killed");
        }
        "restart" => {
            server.restart();
            assert_eq!(
                server.http_addr().port(),
                port,
                "the restarted server keeps its HTTP port"
            );
            scenario.answer("restarted");
        }
        other => panic!("unexpected request {other}"),
    });
    assert!(kills >= 3, "the server was killed only {kills} times");
}

/// The same two chat pages on node a of a cluster while a is drained: both follow their
/// table (`next`) to node b and resume there, every line shown once and in order, and a page
/// reloaded from a is sent on again.
#[test]
fn chat_pages_follow_their_table_when_its_node_is_drained() {
    check_prerequisites();
    let _one = lock();
    let etcd = ggs_tests::etcd::Etcd::start();
    let a = etcd.start_node("a", 2);
    let b = etcd.start_node("b", 2);
    ggs_tests::eventually(
        Duration::from_secs(20),
        || {
            ggs_tests::http::get(b.http_addr(), "/api/nodes")
                .body
                .contains("\"a\"")
        },
        || "b sees a".into(),
    );
    let mut drained = false;
    Scenario::start_with("exactly_once", &a, &[("GGS_CHAOS", "drain")]).run(
        |event, _, scenario| match event {
            "drain" => {
                let asked = b.admin("POST", "/api/nodes/a/drain", "");
                assert_eq!(asked.status, 200, "drain a: {}", asked.body);
                ggs_tests::eventually(
                    Duration::from_secs(20),
                    || {
                        !etcd
                            .keys("ggs/tables/")
                            .iter()
                            .any(|k| etcd.get(k).as_deref() == Some("a"))
                    },
                    || "a hands its tables over".into(),
                );
                drained = true;
                scenario.answer("drained");
            }
            other => panic!("unexpected request {other}"),
        },
    );
    assert!(drained, "the scenario never asked for the drain");
}

#[test]
fn two_pages_play_pong() {
    check_prerequisites();
    let _one = lock();
    let server = ServerProcess::start();
    Scenario::start("pong", &server).run(|event, _, _| panic!("unexpected request {event}"));
}

#[test]
fn the_lobby_lists_the_servers_games_and_an_uploaded_one_plays_in_the_console() {
    check_prerequisites();
    let _one = lock();
    let server = ServerProcess::start();
    Scenario::start("lobby", &server).run(|event, _, _| panic!("unexpected request {event}"));
}

#[test]
fn a_page_of_another_origin_cannot_stop_a_table_or_play() {
    check_prerequisites();
    let _one = lock();
    let server = ServerProcess::start();
    let mut player = server.connect_line().named("player");
    player.send("/hello chat");
    player.expect_prefix("welcome GGS ");
    let table = player.expect_hello().0.table;
    player.expect_prefix("notice ");
    Scenario::start("crossorigin", &server).run(|event, _, scenario| match event {
        "table" => scenario.answer(&table),
        "attacked" => {
            let tables = ggs_tests::http::get(server.http_addr(), "/api/tables").json();
            assert!(
                tables.to_string().contains(&table),
                "the foreign page stopped the table: {tables}"
            );
            player.send("message still here");
            player.expect_prefix("message ");
            let games = ggs_tests::http::get(server.http_addr(), "/api/games").body;
            assert!(
                !games.contains("evil"),
                "the foreign page uploaded: {games}"
            );
            let log = server.stderr();
            assert_eq!(
                log.matches("cross-origin request refused").count(),
                2,
                "both simple POSTs reached the server and were refused:\n{log}"
            );
            assert!(
                log.contains("websocket refused: its origin is not allowed"),
                "{log}"
            );
            scenario.answer("ok");
        }
        "played" => {}
        other => panic!("unexpected request {other}"),
    });
}

#[test]
fn the_console_upgrades_and_rolls_back_the_table_two_pages_play_at() {
    check_prerequisites();
    let _one = lock();
    let server = ServerProcess::start();
    Scenario::start("admin", &server).run(|event, table, scenario| {
        let want = match event {
            "upgraded" => 2,
            "rolled-back" => 1,
            other => panic!("unexpected request {other}"),
        };
        let tables = ggs_tests::http::get(server.http_addr(), "/api/tables").json();
        let row = tables
            .as_array()
            .and_then(|t| t.iter().find(|t| t["id"] == table))
            .unwrap_or_else(|| panic!("table {table} is not open: {tables}"));
        assert_eq!(row["version"], want, "the table's version: {row}");
        assert_eq!(row["players"], 2, "both pages stay at the table: {row}");
        scenario.answer("ok");
    });
}

#[test]
fn the_console_of_a_cluster_node_lists_the_nodes_and_each_tables_owner() {
    check_prerequisites();
    let _one = lock();
    let etcd = ggs_tests::etcd::Etcd::start();
    let node = |name: &str| {
        ServerProcess::start_with(ServerOptions::default().args(&[
            "--etcd",
            &etcd.url(),
            "--node",
            name,
        ]))
    };
    let a = node("a");
    let _b = node("b");
    let mut player = a.connect_line().named("player");
    player.send("/hello chat");
    player.expect_prefix("welcome GGS ");
    let table = player.expect_hello().0.table;
    player.expect_prefix("notice ");
    Scenario::start("admin-cluster", &a).run(|event, _, scenario| match event {
        "table" => scenario.answer(&table),
        other => panic!("unexpected request {other}"),
    });
}

#[test]
fn the_games_type_check_against_their_declarations() {
    let tsc = browser_dir().join("node_modules/typescript/bin/tsc");
    assert!(
        tsc.exists(),
        "the type check needs TypeScript in {}: run `bash .ci/run` once, or \
         `npm ci --prefix tests/browser`",
        browser_dir().join("node_modules").display()
    );
    let output = Command::new("node")
        .arg(&tsc)
        .arg("-p")
        .arg(ggs_tests::games_dir())
        .arg("--pretty")
        .arg("false")
        .output()
        .unwrap_or_else(|e| panic!("cannot run node: {e}"));
    assert!(
        output.status.success(),
        "tsc -p games found errors in games/ggs.d.ts or the games ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
