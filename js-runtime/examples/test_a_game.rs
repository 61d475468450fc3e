//! How a game author unit-tests a script with `ggs-js` alone: no server, no sockets, no store.
//! A few lines of harness (`Table`) run the script's hooks on one table's VM, keep its committed
//! storage in memory the way the server would, and show what each event sent to whom; the tests
//! below play `games/tictactoe.js` and restart it from that storage.
//!
//! `cargo run -p ggs-js --example test_a_game` plays one game and prints it;
//! `cargo test -p ggs-js --example test_a_game` runs the tests (the example is a test target).

use std::sync::Arc;

use ggs_js::vm::Vm;
use ggs_js::{Effects, Event, EventContext, Limits, Namespace, Recipient, ScriptError, Storage};

/// The script under test.
const TICTACTOE: &str = include_str!("../../games/tictactoe.js");

/// One table for a test: a VM, the seated players, and the storage its events committed.
struct Table {
    source: String,
    vm: Vm,
    players: Vec<String>,
    committed: Storage,
}

/// What an event sent: (recipient, command, args); `*` stands for everyone.
type Sent = Vec<(String, String, String)>;

impl Table {
    /// A table running `source`, as `define` would set it up.
    fn new(source: &str) -> Table {
        let mut table = Table {
            source: source.to_string(),
            vm: Vm::new(
                Arc::from("test-table"),
                Storage::default(),
                Limits::default(),
            ),
            players: Vec::new(),
            committed: Storage::default(),
        };
        let define = Event::Define {
            source: source.to_string(),
        };
        table.event(define).expect("the script defines");
        table
    }

    /// A player sits down (`playerJoined`).
    fn join(&mut self, player: &str) -> Sent {
        self.players.push(player.to_string());
        let joined = Event::Joined {
            player: player.to_string(),
        };
        self.event(joined).expect("playerJoined runs")
    }

    /// A game command from a seated player (`playerCommand`).
    fn command(&mut self, player: &str, command: &str, args: &str) -> Result<Sent, ScriptError> {
        self.event(Event::Command {
            player: player.to_string(),
            command: command.to_string(),
            args: args.to_string(),
        })
    }

    /// The server restarts: a fresh runtime over the committed storage, the script evaluated
    /// again, then `onResume()`.
    fn restart(&mut self) -> Sent {
        self.vm = Vm::new(
            Arc::from("test-table"),
            self.committed.clone(),
            Limits::default(),
        );
        self.vm.restore(&self.source).expect("the script evaluates");
        self.event(Event::Resume).expect("onResume runs")
    }

    /// Runs one event as the server does: a transaction whose writes are kept only if it
    /// succeeds.
    fn event(&mut self, event: Event) -> Result<Sent, ScriptError> {
        let cx = EventContext {
            players: self.players.clone().into(),
            server_players: self.players.len() as u64,
            ..EventContext::default()
        };
        let effects = self.vm.run(event, cx).result?;
        self.commit(&effects);
        Ok(effects
            .messages
            .into_iter()
            .map(|m| {
                let to = match m.to {
                    Recipient::All => "*".to_string(),
                    Recipient::Player(p) => p,
                };
                (to, m.command, m.args)
            })
            .collect())
    }

    /// Keeps an event's writes, as the store would.
    fn commit(&mut self, effects: &Effects) {
        for w in &effects.writes {
            let map = match w.ns {
                Namespace::Local => &mut self.committed.local,
                Namespace::World => &mut self.committed.world,
            };
            match &w.value {
                Some(value) => map.insert(w.key.clone(), value.clone()),
                None => map.remove(&w.key),
            };
        }
        if let Some(state) = &effects.state {
            self.committed.state = Some(state.clone());
        }
        if let Some(tick) = effects.tick {
            self.committed.tick_ms = tick;
        }
    }
}

/// Whether `sent` holds `command` with `args` for `to`.
fn has(sent: &Sent, to: &str, command: &str, args: &str) -> bool {
    sent.iter()
        .any(|(t, c, a)| t == to && c == command && a == args)
}

/// Two players take their seats and X plays the top row while O plays the middle one.
fn play_top_row(table: &mut Table) -> Sent {
    table.join("alice");
    table.join("bob");
    table.command("alice", "hi", "").unwrap();
    table.command("bob", "hi", "").unwrap();
    let moves = [
        ("alice", 0, 0),
        ("bob", 0, 1),
        ("alice", 1, 0),
        ("bob", 1, 1),
    ];
    for (player, x, y) in moves {
        table
            .command(player, "set", &format!(r#"{{"x":{x},"y":{y}}}"#))
            .unwrap();
    }
    table.command("alice", "set", r#"{"x":2,"y":0}"#).unwrap()
}

fn main() {
    let mut table = Table::new(TICTACTOE);
    let last = play_top_row(&mut table);
    for (to, command, args) in &last {
        println!("{to:>5} <- {command} {args}");
    }
    println!("X won: {}", has(&last, "alice", "winner", "X"));
    let resumed = table.restart();
    println!("after a restart onResume sent {} messages", resumed.len());
}

#[test]
fn x_wins_with_the_top_row() {
    let mut table = Table::new(TICTACTOE);
    let last = play_top_row(&mut table);
    assert!(has(&last, "alice", "winner", "X"), "{last:?}");
    assert!(has(&last, "bob", "loser", "X"), "{last:?}");
    assert!(has(&last, "*", "game_board", "XXXOO    "), "{last:?}");
}

#[test]
fn a_move_out_of_turn_is_refused() {
    let mut table = Table::new(TICTACTOE);
    table.join("alice");
    table.join("bob");
    table.command("alice", "hi", "").unwrap();
    table.command("bob", "hi", "").unwrap();
    let sent = table.command("bob", "set", r#"{"x":0,"y":0}"#).unwrap();
    assert!(has(&sent, "bob", "warning", "not your turn"), "{sent:?}");
}

#[test]
fn the_position_survives_a_restart() {
    let mut table = Table::new(TICTACTOE);
    table.join("alice");
    table.join("bob");
    table.command("alice", "hi", "").unwrap();
    table.command("bob", "hi", "").unwrap();
    table.command("alice", "set", r#"{"x":1,"y":1}"#).unwrap();
    table.restart();
    // Seated again after the restart, bob is told the board and that it is his move.
    let sent = table.command("bob", "hi", "").unwrap();
    assert!(has(&sent, "bob", "game_board", "    X    "), "{sent:?}");
    assert!(has(&sent, "bob", "yourturn", ""), "{sent:?}");
}
