//! Embedding example and micro-benchmark: runs `games/chat.js` events on one table's VM
//! directly (no sockets, no store) and prints the cost of one event, the floor under what the
//! server can do per game command on one core.
//!
//! `cargo run --release -p ggs-js --example event_cost [EVENTS]`

use std::sync::Arc;
use std::time::Instant;

use ggs_js::vm::Vm;
use ggs_js::{Event, EventContext, Limits, Storage};

fn main() {
    let events: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(200_000);
    let source = include_str!("../../games/chat.js");
    let mut vm = Vm::new(
        Arc::from("bench-table"),
        Storage::default(),
        Limits::default(),
    );
    let players: Vec<String> = (0..4).map(|i| format!("player-{i}")).collect();
    let cx = EventContext {
        players: players.clone().into(),
        server_players: 4,
        ..EventContext::default()
    };
    let define = vm.run(
        Event::Define {
            source: source.into(),
        },
        cx.clone(),
    );
    define.result.expect("chat.js defines");
    for p in &players {
        vm.run(Event::Joined { player: p.clone() }, cx.clone())
            .result
            .expect("join");
    }
    let mut messages = 0;
    let mut writes = 0;
    let started = Instant::now();
    for i in 0..events {
        let event = Event::Command {
            player: players[i % players.len()].clone(),
            command: "message".into(),
            args: "hello there, this is a chat line".into(),
        };
        let effects = vm.run(event, cx.clone()).result.expect("a chat message");
        messages += effects.messages.len();
        writes += effects.writes.len();
    }
    let elapsed = started.elapsed();
    println!(
        "{events} chat events in {:.2} s: {:.2} µs per event ({:.0} events/s on one core); {} messages, {} storage writes",
        elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1e6 / events as f64,
        events as f64 / elapsed.as_secs_f64(),
        messages,
        writes
    );
}
