//! Line mode on the TCP port. One test runs a real `telnet` (Debian's `telnet` package) in a
//! `tmux` pane, typed into and read from the screen as a person would: the greeting,
//! `/hello chat`, a message both ways with a second player, and `/quit` (needs `telnet` and
//! `tmux`: `.ci/run` installs both). The others check line mode's bounds and that GGS 1.0 and
//! line-mode players share the port and a table.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use ggs_tests::{LineClient, ServerOptions, ServerProcess};

/// How long the screen may take to show what is expected.
const SCREEN_TIMEOUT: Duration = Duration::from_secs(15);
/// Lines of scrollback read from the pane.
const HISTORY_LINES: &str = "-500";

/// A tmux server of our own (its own socket), killed when dropped.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn start(command: &str) -> Tmux {
        let tmux = Tmux {
            socket: format!("ggs-telnet-test-{}", std::process::id()),
        };
        let out = tmux.run(&[
            "new-session",
            "-d",
            "-s",
            "ggs",
            "-x",
            "200",
            "-y",
            "50",
            command,
            // Keep the pane (and what it shows) after telnet exits.
            ";",
            "set-option",
            "-t",
            "ggs",
            "remain-on-exit",
            "on",
        ]);
        assert!(out.status.success(), "tmux new-session: {out:?}");
        tmux
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .expect("running tmux")
    }

    /// Types `text` and presses Enter.
    fn type_line(&self, text: &str) {
        let out = self.run(&["send-keys", "-t", "ggs", "-l", text]);
        assert!(out.status.success(), "tmux send-keys: {out:?}");
        let out = self.run(&["send-keys", "-t", "ggs", "Enter"]);
        assert!(out.status.success(), "tmux send-keys: {out:?}");
    }

    /// What the pane shows, with its scrollback.
    fn screen(&self) -> String {
        let out = self.run(&["capture-pane", "-p", "-J", "-t", "ggs", "-S", HISTORY_LINES]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits until a line of the screen satisfies `wanted`; returns that line.
    #[track_caller]
    fn wait_for(&self, what: &str, wanted: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + SCREEN_TIMEOUT;
        loop {
            let screen = self.screen();
            if let Some(line) = screen.lines().find(|l| wanted(l.trim_end())) {
                return line.trim_end().to_string();
            }
            assert!(
                Instant::now() < deadline,
                "the telnet screen never showed {what}; it shows:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}

fn installed(program: &str) -> bool {
    ["/usr/bin", "/bin", "/usr/local/bin"]
        .iter()
        .any(|dir| Path::new(dir).join(program).exists())
}

#[test]
fn a_person_plays_chat_with_telnet() {
    for program in ["telnet", "tmux"] {
        assert!(
            installed(program),
            "{program} is not installed: run `bash .ci/run` once, or `apt-get install telnet tmux`"
        );
    }
    let server = ServerProcess::start_with(ServerOptions::no_seat_grace());
    let addr = server.tcp_addr();
    let tmux = Tmux::start(&format!("telnet {} {}", addr.ip(), addr.port()));
    tmux.wait_for("telnet's banner", |l| l.starts_with("Escape character is"));

    // The first line puts the connection in line mode: the greeting says how to start.
    tmux.type_line("/games");
    tmux.wait_for("the greeting", |l| {
        l.starts_with("welcome GGS ") && l.contains("/hello <game> starts a table")
    });
    tmux.wait_for("chat in the list of games", |l| {
        l.starts_with("  chat v1: Chat")
    });

    tmux.type_line("/hello chat");
    let hello = tmux.wait_for("the hello reply", |l| l.starts_with("hello "));
    let body = hello.trim_start_matches("hello ");
    let parts: Vec<&str> = body.split(',').collect();
    // The token, whether the table has a script, the table, the public player id.
    assert_eq!(parts.len(), 4, "{hello}");
    assert_eq!(parts[1], "true", "a /hello chat table runs chat: {hello}");
    let (player, table) = (parts[3], parts[2]);
    assert_ne!(player, parts[0], "the public id is not the token");
    let nick = format!("guest-{}", &player[..4]);
    tmux.wait_for("the join notice", |l| l == format!("notice {nick} joined"));

    // A second player at `nc`, as the line client, joins the same table.
    let mut other = LineClient::connect(addr).named("other");
    other.send(&format!("/hello {table}"));
    other.expect_prefix("welcome GGS ");
    let other_hello = other.expect_prefix("hello ");
    let other_player = other_hello
        .trim_start_matches("hello ")
        .split(',')
        .nth(3)
        .unwrap();
    let other_nick = format!("guest-{}", &other_player[..4]);
    other.expect(&format!("notice {other_nick} joined"));
    tmux.wait_for("the second join", |l| {
        l == format!("notice {other_nick} joined")
    });

    // Messages both ways.
    tmux.type_line("message hello from telnet");
    other.expect(&format!("message {nick}> hello from telnet"));
    tmux.wait_for("its own message", |l| {
        l == format!("message {nick}> hello from telnet")
    });
    other.send("message hi from nc");
    tmux.wait_for("the other's message", |l| {
        l == format!("message {other_nick}> hi from nc")
    });
    other.expect(&format!("message {other_nick}> hi from nc"));

    // /quit says bye and closes; the other player is told.
    tmux.type_line("/quit");
    tmux.wait_for("bye", |l| l == "bye");
    tmux.wait_for("the connection closing", |l| {
        l.starts_with("Connection closed by foreign host")
    });
    other.expect(&format!("notice {nick} left"));
}

#[test]
fn line_mode_has_the_bounds_of_the_port() {
    let server = ServerProcess::start_with_args(&["--max-body", "64", "--frame-timeout-ms", "500"]);
    let mut person = LineClient::connect(server.tcp_addr()).named("person");
    // Telnet option negotiation before the first line is skipped.
    person.send_raw(&[255, 253, 1, 255, 251, 3, 255, 250, 24, 1, 255, 240]);
    person.send_raw(b"/hello chat\r\n");
    person.expect_prefix("welcome GGS ");
    person.expect_prefix("hello ");
    person.expect_prefix("notice ");
    person.send(&format!("message {}", "x".repeat(65)));
    person.expect(
        "error body_too_large the arguments of 65 bytes are larger than the limit of 64 bytes",
    );
    person.send(&"y".repeat(9 * 1024));
    person.expect_prefix("error line_too_long ");
    person.send_raw(b"message \xc3\x28\n");
    person.expect("error bad_encoding a line must be UTF-8 text");
    person.send("ping");
    person.expect("pong");
    // A line begun must end within the frame timeout.
    person.send_raw(b"mess");
    person.expect_prefix("error frame_timeout ");
    person.expect_closed();
}

#[test]
fn ggs10_and_line_mode_players_share_a_table() {
    let server = ServerProcess::start_with(ServerOptions::no_seat_grace());
    let mut old = server.connect().named("2011 client");
    let old_player = old.whoami();
    old.send(&[("Server-Command", "hello"), ("Game", "chat")], b"");
    let hello = ggs_tests::Hello::parse(&old.expect_cmd("hello")).expect("a hello reply");
    assert!(hello.defined);
    old.expect_cmd("notice");
    let mut person = LineClient::connect(server.tcp_addr()).named("person");
    person.send(&format!("/hello {}", hello.table));
    person.expect_prefix("welcome GGS ");
    person.expect_prefix("hello ");
    let joined = person.expect_prefix("notice ");
    old.expect("notice", joined.trim_start_matches("notice "));
    old.command("/nick", "ada");
    person.expect(&format!(
        "notice guest-{} is now known as ada",
        &old_player[..4]
    ));
    old.expect_cmd("notice");
    person.send("message a body\twith a tab");
    old.expect_cmd("message");
    let line = person.expect_prefix("message ");
    assert!(line.ends_with("> a body\twith a tab"), "{line:?}");
    // A reply with a control character reaches a terminal without it.
    old.command("message", "bell\u{7} and escape\u{1b}[2J");
    person.expect("message ada> bell? and escape?[2J");
}
