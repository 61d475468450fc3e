//! The script API as a game sees it: storage, messaging, transactions, limits, the host.

use std::sync::Arc;
use std::time::Duration;

use ggs_js::vm::Vm;
use ggs_js::{
    Event, EventContext, Limits, Message, Namespace, Recipient, ScriptError, Storage, VmHost, Write,
};

const TABLE: &str = "6f1c2b1e-0000-4000-8000-000000000001";

/// A VM with `source` defined, players `a` and `b` seated.
fn vm_with(source: &str) -> Vm {
    let mut vm = Vm::new(Arc::from(TABLE), Storage::default(), Limits::default());
    vm.run(
        Event::Define {
            source: source.into(),
        },
        cx(),
    )
    .result
    .expect("script defines");
    vm
}

fn cx() -> EventContext {
    EventContext {
        players: vec!["a".to_string(), "b".to_string()].into(),
        server_players: 5,
        ..EventContext::default()
    }
}

fn command(vm: &mut Vm, command: &str, args: &str) -> Result<ggs_js::Effects, ScriptError> {
    vm.run(
        Event::Command {
            player: "a".into(),
            command: command.into(),
            args: args.into(),
        },
        cx(),
    )
    .result
}

fn replies(effects: &ggs_js::Effects) -> Vec<(String, String)> {
    effects
        .messages
        .iter()
        .map(|m| (m.command.clone(), m.args.clone()))
        .collect()
}

/// A script that evaluates `args` as an expression and sends back its string value.
const EVAL: &str =
    "function playerCommand(p, c, a) { GGS.sendCommand(p, 'r', String((0, eval)(a))); }";

fn eval(vm: &mut Vm, expr: &str) -> String {
    let effects = command(vm, "eval", expr).expect("expression evaluates");
    effects.messages[0].args.clone()
}

#[test]
fn storage_has_web_storage_semantics_and_both_length_spellings() {
    let mut vm = vm_with(EVAL);
    assert_eq!(eval(&mut vm, "GGS.world.getItem('missing')"), "null");
    assert_eq!(eval(&mut vm, "!GGS.world.getItem('missing')"), "true");
    assert_eq!(
        eval(
            &mut vm,
            "GGS.world.setItem('b', 2), GGS.world.setItem('a', {}), GGS.world.getItem('a')"
        ),
        "[object Object]"
    );
    assert_eq!(eval(&mut vm, "typeof GGS.world.getItem('b')"), "string");
    assert_eq!(eval(&mut vm, "GGS.world.length + 0"), "2");
    assert_eq!(eval(&mut vm, "GGS.world.length()"), "2");
    assert_eq!(eval(&mut vm, "GGS.world.length > 1"), "true");
    assert_eq!(
        eval(
            &mut vm,
            "GGS.world.key(0) + GGS.world.key(1) + GGS.world.key(2)"
        ),
        "abnull"
    );
    assert_eq!(eval(&mut vm, "GGS.localStorage.length()"), "0");
    assert_eq!(
        eval(&mut vm, "GGS.world.removeItem('a'), GGS.world.length()"),
        "1"
    );
    assert_eq!(eval(&mut vm, "GGS.world.clear(), GGS.world.length()"), "0");
}

#[test]
fn writes_come_back_as_effects_and_namespaces_are_separate() {
    let mut vm = vm_with(
        "function playerCommand(p, c, a) { GGS.world.setItem('k', a); GGS.localStorage.setItem('k', 'l' + a); GGS.world.setItem('same', 'x'); }",
    );
    let effects = command(&mut vm, "set", "1").unwrap();
    assert_eq!(
        effects.writes,
        vec![
            Write {
                ns: Namespace::Local,
                key: "k".into(),
                value: Some("l1".into())
            },
            Write {
                ns: Namespace::World,
                key: "k".into(),
                value: Some("1".into())
            },
            Write {
                ns: Namespace::World,
                key: "same".into(),
                value: Some("x".into())
            },
        ]
    );
    let again = command(&mut vm, "set", "2").unwrap();
    assert_eq!(
        again.writes.len(),
        2,
        "an unchanged value is not written again: {:?}",
        again.writes
    );
}

#[test]
fn a_throwing_event_has_no_effects() {
    let mut vm = vm_with(
        "function playerCommand(p, c, a) { if (c === 'w') { GGS.world.setItem('k', a); GGS.sendCommandToAll('x', a); throw new Error('boom'); } GGS.sendCommand(p, 'k', String(GGS.world.getItem('k'))); }",
    );
    let err = command(&mut vm, "w", "1").unwrap_err();
    assert_eq!(err.code(), "script_error");
    assert!(err.to_string().contains("Error: boom"), "{err}");
    assert!(
        err.to_string().contains("game.js:1"),
        "the message says where: {err}"
    );
    let effects = command(&mut vm, "r", "").unwrap();
    assert_eq!(replies(&effects), vec![("k".into(), "null".into())]);
}

#[test]
fn messages_keep_order_and_recipients() {
    let mut vm = vm_with(
        "function playerCommand(p, c, a) { GGS.sendCommand('b', 'one', 1); GGS.sendCommandToAll('two', a); GGS.sendCommand(p, 'three'); }",
    );
    let effects = command(&mut vm, "go", "x").unwrap();
    assert_eq!(
        effects.messages,
        vec![
            Message {
                to: Recipient::Player("b".into()),
                command: "one".into(),
                args: "1".into()
            },
            Message {
                to: Recipient::All,
                command: "two".into(),
                args: "x".into()
            },
            Message {
                to: Recipient::Player("a".into()),
                command: "three".into(),
                args: "".into()
            },
        ]
    );
}

#[test]
fn info_players_and_table_token() {
    let mut vm = vm_with(EVAL);
    assert_eq!(eval(&mut vm, "GGS.serverInfo() + ''"), "5");
    assert_eq!(eval(&mut vm, "GGS.players.join(',')"), "a,b");
    assert_eq!(eval(&mut vm, "GGS.tableToken"), TABLE);
    assert_eq!(
        eval(&mut vm, "GGS.log('hello', {a: 1}), 'logged'"),
        "logged"
    );
    assert_eq!(
        eval(&mut vm, "GGS.x = 1, delete GGS.world, typeof GGS.world"),
        "object",
        "GGS is frozen"
    );
}

#[test]
fn arguments_are_values_never_source_text() {
    let mut vm = vm_with("function playerCommand(p, c, a) { GGS.sendCommand(p, c, a); }");
    let nasty = "'); GGS.world.setItem('pwned', 1); ('";
    let effects = command(&mut vm, "\"+1+\"", nasty).unwrap();
    assert_eq!(replies(&effects), vec![("\"+1+\"".into(), nasty.into())]);
    assert!(effects.writes.is_empty());
}

#[test]
fn a_failed_define_keeps_the_previous_script_and_a_good_one_replaces_it() {
    let mut vm = vm_with("function playerCommand(p) { GGS.sendCommand(p, 'v', 1); }");
    for bad in [
        "function (",
        "GGS.world.setItem('x', 1); throw new TypeError('top')",
    ] {
        let err = vm
            .run(Event::Define { source: bad.into() }, cx())
            .result
            .unwrap_err();
        assert_eq!(err.code(), "script_error", "{err}");
        assert_eq!(
            replies(&command(&mut vm, "c", "").unwrap()),
            vec![("v".into(), "1".into())]
        );
    }
    let effects = vm
        .run(Event::Define { source: "GGS.world.setItem('x', 2); function playerCommand(p) { GGS.sendCommand(p, 'v', 2); }".into() }, cx()).result
        .unwrap();
    assert_eq!(
        effects.writes.len(),
        1,
        "a define's top-level writes are committed"
    );
    assert_eq!(
        replies(&command(&mut vm, "c", "").unwrap()),
        vec![("v".into(), "2".into())]
    );
}

#[test]
fn restore_discards_top_level_writes_and_keeps_storage() {
    let storage = Storage {
        world: [("count".to_string(), "41".to_string())].into(),
        ..Storage::default()
    };
    let mut vm = Vm::new(Arc::from(TABLE), storage, Limits::default());
    vm.restore("GGS.world.setItem('count', 0); function playerCommand(p) { var n = Number(GGS.world.getItem('count')) + 1; GGS.world.setItem('count', n); GGS.sendCommand(p, 'n', n); }")
        .unwrap();
    assert_eq!(
        replies(&command(&mut vm, "inc", "").unwrap()),
        vec![("n".into(), "42".into())]
    );
}

#[test]
fn hooks_are_optional_and_commands_need_a_script() {
    let mut vm = Vm::new(Arc::from(TABLE), Storage::default(), Limits::default());
    assert_eq!(
        command(&mut vm, "x", "").unwrap_err(),
        ScriptError::NoScript
    );
    assert!(vm
        .run(Event::Joined { player: "a".into() }, cx())
        .result
        .unwrap()
        .messages
        .is_empty());
    let mut vm = vm_with("function playerJoined(p) { GGS.sendCommandToAll('joined', p); }");
    let effects = vm
        .run(Event::Joined { player: "c".into() }, cx())
        .result
        .unwrap();
    assert_eq!(replies(&effects), vec![("joined".into(), "c".into())]);
    assert!(vm
        .run(Event::Left { player: "c".into() }, cx())
        .result
        .unwrap()
        .messages
        .is_empty());
    assert_eq!(
        command(&mut vm, "x", "").unwrap_err().code(),
        "script_error"
    );
}

#[test]
fn promise_jobs_run_within_the_event() {
    let mut vm =
        vm_with("async function playerCommand(p) { await null; GGS.sendCommand(p, 'later', 1); }");
    assert_eq!(
        replies(&command(&mut vm, "x", "").unwrap()),
        vec![("later".into(), "1".into())]
    );
}

#[test]
fn a_runaway_event_is_stopped_at_its_deadline() {
    let limits = Limits {
        cpu_per_event: Duration::from_millis(50),
        ..Limits::default()
    };
    let mut vm = Vm::new(Arc::from(TABLE), Storage::default(), limits);
    vm.run(Event::Define { source: "function playerCommand(p, c) { if (c === 'spin') { GGS.world.setItem('x', 1); while (true) {} } GGS.sendCommand(p, 'ok'); }".into() }, cx()).result
        .unwrap();
    let err = command(&mut vm, "spin", "").unwrap_err();
    assert_eq!(err, ScriptError::Timeout(Duration::from_millis(50)));
    let effects = command(&mut vm, "ping", "").unwrap();
    assert_eq!(replies(&effects), vec![("ok".into(), "".into())]);
    assert!(
        effects.writes.is_empty(),
        "the aborted event's write is gone"
    );
}

#[tokio::test]
async fn the_host_runs_tables_on_its_threads() {
    let host = VmHost::new(2, Limits::default()).unwrap();
    let tables: Vec<_> = (0..4)
        .map(|i| host.open(&format!("t{i}"), Storage::default()).unwrap())
        .collect();
    for (i, t) in tables.iter().enumerate() {
        t.run(Event::Define { source: format!("function playerCommand(p) {{ GGS.sendCommand(p, 'id', '{i}' + GGS.tableToken); }}") }, cx())
            .await
            .result
            .unwrap();
    }
    for (i, t) in tables.iter().enumerate() {
        let effects = t
            .run(
                Event::Command {
                    player: "a".into(),
                    command: "x".into(),
                    args: "".into(),
                },
                cx(),
            )
            .await
            .result
            .unwrap();
        assert_eq!(effects.messages[0].args, format!("{i}t{i}"));
    }
}

fn command_event(command: &str) -> Event {
    Event::Command {
        player: "a".into(),
        command: command.into(),
        args: "".into(),
    }
}

#[tokio::test]
async fn a_batch_runs_each_event_as_its_own_transaction_in_one_trip() {
    let host = VmHost::new(1, Limits::default()).unwrap();
    let t = host.open("batch", Storage::default()).unwrap();
    let script = "function playerCommand(p, c) { GGS.world.setItem(c, '1'); if (c === 'bad') throw new Error('no'); GGS.sendCommand(p, 'did', c); }";
    let events = vec![
        Event::Define {
            source: script.into(),
        },
        command_event("x"),
        command_event("bad"),
        command_event("y"),
    ];
    let outcomes = t.run_batch(events, cx()).await;
    assert_eq!(outcomes.len(), 4, "every event ran");
    let did = |o: &ggs_js::Outcome| replies(o.result.as_ref().unwrap());
    assert_eq!(did(&outcomes[1]), vec![("did".into(), "x".into())]);
    let error = outcomes[2].result.clone().unwrap_err();
    assert!(
        matches!(&error, ScriptError::Exception(m) if m.starts_with("Error: no")),
        "{error:?}"
    );
    let y = outcomes[3].result.as_ref().unwrap();
    assert_eq!(replies(y), vec![("did".into(), "y".into())]);
    assert_eq!(
        y.writes.len(),
        1,
        "the failed event's write was rolled back alone"
    );
    // A single event is a batch of one.
    let one = t.run(command_event("z"), cx()).await.result.unwrap();
    assert_eq!(replies(&one), vec![("did".into(), "z".into())]);
}

#[tokio::test]
async fn a_batch_stops_at_an_event_that_crashes_the_runtime() {
    let limits = Limits {
        fault_injection: true,
        ..Limits::default()
    };
    let host = VmHost::new(1, limits).unwrap();
    let t = host.open("crashing", Storage::default()).unwrap();
    let script =
        "function playerCommand(p, c) { if (c === 'panic') GGS.__fault('panic'); GGS.sendCommand(p, 'did', c); }";
    let events = vec![
        Event::Define {
            source: script.into(),
        },
        command_event("x"),
        command_event("panic"),
        command_event("y"),
    ];
    let outcomes = t.run_batch(events, cx()).await;
    assert_eq!(outcomes.len(), 3, "the event after the crash did not run");
    assert!(outcomes[1].result.is_ok());
    let crashed = outcomes[2].result.clone().unwrap_err();
    assert_eq!(crashed, ScriptError::Crashed);
    assert!(crashed.is_lost());
    // The runtime is gone: the table must be rebuilt before it runs again.
    let after = t.run(command_event("y"), cx()).await.result;
    assert_eq!(after, Err(ScriptError::Unavailable));
}

#[test]
fn state_is_committed_when_changed_and_rolled_back_on_failure() {
    let mut vm = vm_with(
        "function playerCommand(p, c, a) { if (c === 'set') GGS.state.n = Number(a); if (c === 'swap') GGS.state = { swapped: true }; if (c === 'bad') { GGS.state.n = -1; throw new Error('no'); } if (c === 'weird') GGS.state = 5; GGS.sendCommand(p, 'state', JSON.stringify(GGS.state)); }",
    );
    let effects = command(&mut vm, "set", "3").unwrap();
    assert_eq!(effects.state.as_deref(), Some(r#"{"n":3}"#));
    assert_eq!(
        command(&mut vm, "get", "").unwrap().state,
        None,
        "unchanged state is not written"
    );
    command(&mut vm, "bad", "").unwrap_err();
    assert_eq!(
        replies(&command(&mut vm, "get", "").unwrap()),
        vec![("state".into(), r#"{"n":3}"#.into())]
    );
    assert_eq!(
        command(&mut vm, "weird", "").unwrap_err().code(),
        "script_error"
    );
    assert_eq!(
        command(&mut vm, "swap", "").unwrap().state.as_deref(),
        Some(r#"{"swapped":true}"#)
    );
}

#[test]
fn state_and_tick_are_restored_from_committed_data() {
    let storage = Storage {
        state: Some(r#"{"ticks":7}"#.into()),
        tick_ms: 50,
        ..Storage::default()
    };
    let mut vm = Vm::new(Arc::from(TABLE), storage, Limits::default());
    vm.restore("GGS.state.ticks = 0; function tick() { GGS.state.ticks++; } function playerCommand(p, c, a) { GGS.setTick(Number(a)); }")
        .unwrap();
    let effects = vm.run(Event::Tick, cx()).result.unwrap();
    assert_eq!(
        effects.state.as_deref(),
        Some(r#"{"ticks":8}"#),
        "restore discards top-level changes"
    );
    assert_eq!(
        command(&mut vm, "tick", "50").unwrap().tick,
        None,
        "same tick is no change"
    );
    assert_eq!(command(&mut vm, "tick", "0").unwrap().tick, Some(0));
    assert_eq!(
        command(&mut vm, "tick", "1").unwrap().tick,
        Some(ggs_js::api::MIN_TICK_MS)
    );
}

#[test]
fn timers_fire_as_events_and_a_failed_event_cancels_its_timers() {
    let mut vm = vm_with(
        "var n = 0; function playerCommand(p, c, a) { if (c === 'later') setTimeout(function (x) { GGS.sendCommandToAll('fired', x); }, 0, a); if (c === 'every') { var id = setInterval(function () { n++; GGS.sendCommandToAll('n', n); if (n === 2) clearInterval(id); }, 0); } if (c === 'bad') { setTimeout(function () { GGS.sendCommandToAll('never'); }, 0); throw new Error('no'); } }",
    );
    let outcome = vm.run(
        Event::Command {
            player: "a".into(),
            command: "later".into(),
            args: "x".into(),
        },
        cx(),
    );
    assert_eq!(outcome.next_timer, Some(Duration::ZERO));
    let fired = vm.run(Event::Timer, cx());
    assert_eq!(
        replies(&fired.result.unwrap()),
        vec![("fired".into(), "x".into())]
    );
    assert_eq!(fired.next_timer, None);
    assert!(vm
        .run(
            Event::Command {
                player: "a".into(),
                command: "bad".into(),
                args: "".into()
            },
            cx()
        )
        .next_timer
        .is_none());
    vm.run(
        Event::Command {
            player: "a".into(),
            command: "every".into(),
            args: "".into(),
        },
        cx(),
    );
    let first = vm.run(Event::Timer, cx());
    assert!(first.next_timer.is_some(), "an interval re-arms");
    std::thread::sleep(first.next_timer.unwrap() + Duration::from_millis(2));
    let second = vm.run(Event::Timer, cx());
    assert_eq!(
        replies(&second.result.unwrap()),
        vec![("n".into(), "2".into())]
    );
    assert_eq!(second.next_timer, None, "cleared from its own callback");
}

#[test]
fn limits_throw_catchable_errors_and_name_themselves_when_uncaught() {
    let limits = Limits {
        messages_per_event: 3,
        max_value: 100,
        max_storage: 250,
        max_state: 64,
        ..Limits::default()
    };
    let mut vm = Vm::new(Arc::from(TABLE), Storage::default(), limits);
    vm.run(
        Event::Define {
            source: "function playerCommand(p, c, a) { if (c === 'spam') for (;;) GGS.sendCommand(p, 'x'); if (c === 'big') GGS.world.setItem('k', 'v'.repeat(Number(a))); if (c === 'fill') for (var i = 0; ; i++) GGS.localStorage.setItem('k' + i, 'v'.repeat(90)); if (c === 'state') GGS.state.s = 'x'.repeat(100); if (c === 'caught') { try { GGS.world.setItem('k', 'v'.repeat(1000)); } catch (e) { GGS.sendCommand(p, 'caught', e.name); } } }".into(),
        },
        cx(),
    )
    .result
    .unwrap();
    let code = |vm: &mut Vm, c: &str, a: &str| command(vm, c, a).unwrap_err().code();
    assert_eq!(code(&mut vm, "spam", ""), "message_limit");
    assert_eq!(code(&mut vm, "big", "200"), "value_too_large");
    assert!(command(&mut vm, "big", "90").is_ok());
    assert_eq!(code(&mut vm, "fill", ""), "storage_full");
    assert_eq!(code(&mut vm, "state", ""), "state_too_large");
    let effects = command(&mut vm, "caught", "").unwrap();
    assert_eq!(
        replies(&effects),
        vec![("caught".into(), "RangeError".into())]
    );
}

#[test]
fn running_out_of_memory_or_stack_is_an_error_and_the_table_goes_on() {
    let limits = Limits {
        memory: 8 * 1024 * 1024,
        cpu_per_event: Duration::from_secs(5),
        ..Limits::default()
    };
    let mut vm = Vm::new(Arc::from(TABLE), Storage::default(), limits);
    vm.run(
        Event::Define {
            source: "var hoard = []; function deep(n) { return deep(n + 1) + 1; } function playerCommand(p, c) { if (c === 'eat') for (;;) hoard.push(new Array(100000).fill(hoard.length)); if (c === 'deep') deep(0); GGS.world.setItem('ok', 'yes'); GGS.sendCommand(p, 'alive', String(hoard.length)); }".into(),
        },
        cx(),
    )
    .result
    .unwrap();
    let err = command(&mut vm, "eat", "").unwrap_err();
    assert_eq!(err.code(), "script_out_of_memory", "{err}");
    assert!(err.is_offence());
    assert_eq!(
        replies(&command(&mut vm, "ping", "").unwrap()),
        vec![("alive".into(), "0".into())],
        "rebuilt from the committed script"
    );
    let err = command(&mut vm, "deep", "").unwrap_err();
    assert_eq!(err.code(), "script_error");
    assert!(err.to_string().contains("stack"), "{err}");
    assert!(command(&mut vm, "ping", "").is_ok());
}

#[test]
fn running_out_of_memory_with_no_memory_left_for_the_error_is_out_of_memory() {
    // Small objects fill the heap to the last byte: QuickJS cannot even build the "out of
    // memory" error and throws nothing. That is running out of memory, not a script error.
    let limits = Limits {
        memory: 8 * 1024 * 1024,
        cpu_per_event: Duration::from_secs(5),
        ..Limits::default()
    };
    let mut vm = Vm::new(Arc::from(TABLE), Storage::default(), limits);
    let script = "var hoard = [];\n\
         function playerCommand(p, c) {\n\
           if (c === 'hoard') for (;;) hoard.push({ n: hoard.length });\n\
           if (c === 'null') throw null;\n\
           GGS.sendCommand(p, 'n', String(hoard.length));\n\
         }";
    let define = Event::Define {
        source: script.into(),
    };
    vm.run(define, cx()).result.expect("script defines");
    let err = command(&mut vm, "hoard", "").unwrap_err();
    assert_eq!(err, ScriptError::OutOfMemory(limits.memory));
    // The runtime was rebuilt from the committed script: the hoard is gone.
    let effects = command(&mut vm, "count", "").unwrap();
    assert_eq!(replies(&effects), vec![("n".into(), "0".into())]);
    // A script that throws null with memory to spare still gets a script error.
    let err = command(&mut vm, "null", "").unwrap_err();
    assert_eq!(err, ScriptError::Exception("uncaught null".into()));
}

#[test]
fn player_info_tells_who_a_seated_player_is() {
    let mut vm = vm_with(EVAL);
    let mut identities = std::collections::HashMap::new();
    identities.insert(
        "a".to_string(),
        ggs_js::PlayerIdentity {
            user_id: "user-1".into(),
            name: "Alice".into(),
        },
    );
    let cx = EventContext {
        identities: Arc::new(identities),
        ..cx()
    };
    let run = |vm: &mut Vm, expr: &str| {
        let event = Event::Command {
            player: "a".into(),
            command: "eval".into(),
            args: format!("JSON.stringify({expr})"),
        };
        let effects = vm.run(event, cx.clone()).result.expect("evaluates");
        effects.messages[0].args.clone()
    };
    assert_eq!(
        run(&mut vm, "GGS.playerInfo('a')"),
        r#"{"id":"a","userId":"user-1","name":"Alice"}"#
    );
    assert_eq!(
        run(&mut vm, "GGS.playerInfo('b')"),
        r#"{"id":"b","userId":null,"name":null}"#,
        "seated, anonymous"
    );
    assert_eq!(run(&mut vm, "GGS.playerInfo('zz')"), "null", "not seated");
    // Without identities (no auth hook), every seated player is anonymous.
    assert_eq!(
        eval(&mut vm, "JSON.stringify(GGS.playerInfo('a'))"),
        r#"{"id":"a","userId":null,"name":null}"#
    );
}
