//! Micro-benchmark: the cost a `GGS.host` call, a `GGS.emit` and a `GGS.playerInfo` add to
//! one event, on one table's VM directly (no sockets, no store), against the same event
//! without them.
//!
//! `cargo run --release -p ggs-js --example host_call_cost [EVENTS]`

use std::sync::Arc;
use std::time::Instant;

use ggs_js::vm::Vm;
use ggs_js::{Event, EventContext, HostFunctions, Limits, PlayerIdentity, Storage};
use serde_json::json;

const SCRIPT: &str = r#"
function playerCommand(player, command, args) {
  GGS.state.n = (GGS.state.n || 0) + 1;
  if (command === "host") GGS.state.rating = GGS.host.profile(player).rating;
  if (command === "emit") GGS.emit("scored", { player, n: GGS.state.n });
  if (command === "info") GGS.state.name = GGS.playerInfo(player).name;
}
"#;

fn main() {
    let events: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(100_000);
    let mut host = HostFunctions::new();
    host.insert("profile", |args| {
        Ok(json!({ "id": args[0], "rating": 1500, "tags": ["regular"] }))
    })
    .expect("a valid name");
    let mut vm = Vm::new(
        Arc::from("bench-table"),
        Storage::default(),
        Limits::default(),
    )
    .with_host_functions(host);
    let identity = PlayerIdentity {
        user_id: "user-0".into(),
        name: "Player Zero".into(),
    };
    let cx = EventContext {
        players: vec!["player-0".to_string()].into(),
        server_players: 1,
        identities: Arc::new([("player-0".to_string(), identity)].into()),
    };
    vm.run(
        Event::Define {
            source: SCRIPT.into(),
        },
        cx.clone(),
    )
    .result
    .expect("the script defines");
    let mut base = 0.0;
    for command in ["plain", "host", "emit", "info"] {
        let started = Instant::now();
        let mut emits = 0;
        for _ in 0..events {
            let event = Event::Command {
                player: "player-0".into(),
                command: command.into(),
                args: String::new(),
            };
            emits += vm
                .run(event, cx.clone())
                .result
                .expect("an event")
                .emits
                .len();
        }
        let us = started.elapsed().as_secs_f64() * 1e6 / events as f64;
        if command == "plain" {
            base = us;
        }
        println!(
            "{command:>5}: {us:.2} µs per event ({:+.2} µs), {emits} emits",
            us - base
        );
    }
}
