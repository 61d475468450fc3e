//! Upgrading a running game: the new version runs over the committed storage and state, its
//! `onUpgrade(from, to)` migrates them, and a version that fails leaves everything as it was.

use std::sync::Arc;
use std::time::Duration;

use ggs_js::vm::Vm;
use ggs_js::{Event, EventContext, Limits, ScriptError, Storage};

const TABLE: &str = "6f1c2b1e-0000-4000-8000-000000000002";

/// Version 1 counts in `GGS.state.n` and in the world's `n`, and answers `n <count>`.
const V1: &str = r#"
function playerCommand(p, c, a) {
  GGS.state.n = (GGS.state.n || 0) + 1;
  GGS.world.setItem("n", String(GGS.state.n));
  GGS.sendCommand(p, "n", String(GGS.state.n));
}
"#;

/// Version 2 keeps the count in `GGS.state.count` (migrated from `n`), answers `count <n>`,
/// and says what it was upgraded from.
const V2: &str = r#"
function onUpgrade(from, to) {
  GGS.state.count = GGS.state.n;
  delete GGS.state.n;
  GGS.world.setItem("migrated", from + "->" + to);
  GGS.sendCommandToAll("upgraded", from + " " + to);
}
function playerCommand(p, c, a) {
  GGS.state.count += 1;
  GGS.sendCommand(p, "count", String(GGS.state.count) + " " + GGS.world.getItem("n"));
}
"#;

fn cx() -> EventContext {
    EventContext {
        players: vec!["a".to_string()].into(),
        ..EventContext::default()
    }
}

fn run(vm: &mut Vm, event: Event) -> Result<ggs_js::Effects, ScriptError> {
    vm.run(event, cx()).result
}

fn inc(vm: &mut Vm) -> Vec<(String, String)> {
    let event = Event::Command {
        player: "a".into(),
        command: "inc".into(),
        args: String::new(),
    };
    let effects = run(vm, event).expect("the command runs");
    effects
        .messages
        .into_iter()
        .map(|m| (m.command, m.args))
        .collect()
}

fn upgrade(vm: &mut Vm, source: &str, from: u32, to: u32) -> Result<ggs_js::Effects, ScriptError> {
    let source = source.to_string();
    run(vm, Event::Upgrade { source, from, to })
}

fn v2_table() -> Vm {
    let limits = Limits {
        cpu_per_event: Duration::from_millis(50),
        ..Limits::default()
    };
    let mut vm = Vm::new(Arc::from(TABLE), Storage::default(), limits);
    run(&mut vm, Event::Define { source: V1.into() }).expect("v1 defines");
    inc(&mut vm);
    inc(&mut vm);
    let effects = upgrade(&mut vm, V2, 1, 2).expect("v2 upgrades");
    assert_eq!(
        effects.messages[0].args, "1 2",
        "onUpgrade ran with the versions"
    );
    assert_eq!(
        effects.state.as_deref(),
        Some(r#"{"count":2}"#),
        "the migrated state is committed with the upgrade"
    );
    assert!(
        effects.writes.iter().any(|w| w.key == "migrated"),
        "and its storage writes"
    );
    vm
}

#[test]
fn the_new_version_runs_over_the_committed_state_as_migrated() {
    let mut vm = v2_table();
    assert_eq!(inc(&mut vm), [("count".to_string(), "3 2".to_string())]);
}

#[test]
fn a_version_that_fails_to_upgrade_leaves_the_table_as_it_was() {
    let mut vm = v2_table();
    let throws = "function onUpgrade() { GGS.state.count = 0; throw new Error('no'); }\n\
                  function playerCommand(p) { GGS.sendCommand(p, 'v3', ''); }";
    let loops = "function onUpgrade() { while (true) {} }\nfunction playerCommand() {}";
    let broken = "function playerCommand( {";
    for (source, code) in [
        (throws, "script_error"),
        (loops, "script_timeout"),
        (broken, "script_error"),
    ] {
        let e = upgrade(&mut vm, source, 2, 3).expect_err("the upgrade fails");
        assert_eq!(e.code(), code, "{e}");
        // Still version 2, with its state: the count goes on from 2.
        let got = inc(&mut vm);
        assert_eq!(got[0].0, "count", "{source}");
    }
    assert_eq!(inc(&mut vm)[0].1, "6 2");
}

#[test]
fn rolling_back_is_an_upgrade_to_the_older_version() {
    let mut vm = v2_table();
    let back =
        "function onUpgrade(from, to) { GGS.state.n = GGS.state.count; delete GGS.state.count; }\n"
            .to_string()
            + V1;
    upgrade(&mut vm, &back, 2, 1).expect("the rollback upgrades");
    assert_eq!(inc(&mut vm), [("n".to_string(), "3".to_string())]);
}
