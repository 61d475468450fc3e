//! Test support for driving the real `ggs` binary: start and stop it ([`ServerProcess`]), talk
//! to it as players do through one client ([`client::Conn`]) in three framings — GGS 1.0
//! ([`Client`], through an independent implementation of the wire format in [`wire`]), line
//! mode as a person would ([`LineClient`]) and WebSocket JSON ([`WsClient`]) — and call its
//! HTTP API ([`http`]), beside a real etcd for the cluster tests ([`etcd`]). A GGS 1.1 player
//! that resumes across restarts is [`Resumable`]. The tests and the measuring tools share one
//! latency histogram ([`Latencies`]) and one reader of what a process uses ([`procstat`]).

#![warn(missing_docs)]

pub mod client;
pub mod etcd;
pub mod ggs10;
pub mod healthy;
pub mod http;
pub mod latency;
pub mod line;
pub mod procstat;
pub mod resumable;
pub mod rng;
pub mod server;
pub mod wait;
pub mod wire;
pub mod ws;

pub use client::{RecvError, Request, RequestMeta};
pub use ggs10::Client;
pub use healthy::{HealthyTable, RttStats};
pub use latency::Latencies;
pub use line::LineClient;
pub use resumable::{Resumable, SessionError, StreamLog};
pub use rng::Rng;
pub use server::{ggs_binary, ServerOptions, ServerProcess, Stopped};
pub use wait::eventually;
pub use wire::{Hello, Reply};
pub use ws::WsClient;

use std::path::PathBuf;

/// A game script for protocol tests: echoes every command to its sender as
/// `echo <command>:<args>`, and tells everyone `left <player>` when a player leaves.
pub const ECHO_SCRIPT: &str = r#"
function playerCommand(player, command, args) {
  GGS.sendCommand(player, "echo", command + ":" + args);
}
function playerLeft(player) {
  GGS.sendCommandToAll("left", player);
}
"#;

/// The `tests/` directory (this crate's root). The end-to-end tests are built as targets of
/// `ggs-server`, so their own `CARGO_MANIFEST_DIR` is `server/`: they find their files here.
pub fn tests_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The repository's `games/` directory, where the sample game scripts live.
pub fn games_dir() -> PathBuf {
    tests_dir().join("../games")
}

/// Reads a sample game script from `games/`, e.g. `game_source("chat.js")`.
pub fn game_source(file: &str) -> String {
    let path = games_dir().join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}
