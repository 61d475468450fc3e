//! What an embedding application adds to the script API: host functions (`GGS.host`) and emits
//! (`GGS.emit`), as a script sees them and as the effects of its events.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ggs_js::vm::Vm;
use ggs_js::{
    Effects, Emit, Event, EventContext, HostFunctions, Limits, ScriptError, Storage, VmHost,
};
use serde_json::{json, Value};

const TABLE: &str = "6f1c2b1e-0000-4000-8000-0000000000e1";

/// `profile(id)` answers an object, `fail()` errs, `boom()` panics, `echo(...)` returns its
/// arguments, `big(n)` returns `n` bytes, `table()` the calling table, `slow(ms)` sleeps; `calls` counts calls to `echo`.
fn functions(calls: Arc<AtomicUsize>) -> HostFunctions {
    let mut hf = HostFunctions::new();
    hf.insert("profile", |args: Value| {
        let id = args[0].as_str().ok_or("profile needs a player id")?;
        Ok(json!({ "id": id, "rating": 1500, "tags": ["new", null], "pro": false }))
    })
    .unwrap();
    hf.insert("fail", |_| Err("no such player".to_string()))
        .unwrap();
    hf.insert("boom", |_| panic!("a bug in the application"))
        .unwrap();
    hf.insert("echo", move |args| {
        calls.fetch_add(1, Ordering::SeqCst);
        Ok(args)
    })
    .unwrap();
    hf.insert("big", |args: Value| {
        Ok(Value::String(
            "z".repeat(args[0].as_u64().unwrap_or(0) as usize),
        ))
    })
    .unwrap();
    hf.insert_with_table("table", |table, _| Ok(Value::String(table.to_string())))
        .unwrap();
    hf.insert("slow", |args: Value| {
        std::thread::sleep(Duration::from_millis(args[0].as_u64().unwrap_or(0)));
        Ok(Value::Null)
    })
    .unwrap();
    hf
}

fn cx() -> EventContext {
    EventContext {
        players: vec!["a".to_string()].into(),
        server_players: 1,
        ..EventContext::default()
    }
}

/// A VM with the host functions above and `limits`, running `source`.
fn vm(source: &str, limits: Limits, calls: Arc<AtomicUsize>) -> Vm {
    let mut vm =
        Vm::new(Arc::from(TABLE), Storage::default(), limits).with_host_functions(functions(calls));
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

fn command(vm: &mut Vm, args: &str) -> Result<Effects, ScriptError> {
    vm.run(
        Event::Command {
            player: "a".into(),
            command: "x".into(),
            args: args.into(),
        },
        cx(),
    )
    .result
}

/// Evaluates `args` as an expression and sends back its JSON (or `String`) value.
const EVAL: &str = "function playerCommand(p, c, a) {
  const v = (0, eval)(a);
  GGS.sendCommand(p, 'r', typeof v === 'string' ? v : JSON.stringify(v));
}";

fn eval(vm: &mut Vm, expr: &str) -> String {
    let effects = command(vm, expr).unwrap_or_else(|e| panic!("{expr}: {e}"));
    effects.messages[0].args.clone()
}

fn fresh() -> Vm {
    vm(EVAL, Limits::default(), Arc::default())
}

#[test]
fn a_host_function_returns_values_and_its_error_is_a_catchable_exception() {
    let mut vm = fresh();
    assert_eq!(
        eval(&mut vm, "GGS.host.profile('p1')"),
        r#"{"id":"p1","pro":false,"rating":1500,"tags":["new",null]}"#
    );
    assert_eq!(
        eval(&mut vm, "GGS.host.profile('p1').tags[0].toUpperCase()"),
        "NEW"
    );
    assert_eq!(eval(&mut vm, "GGS.host.table('another')"), TABLE);
    // Arguments cross as values: nested, with what JSON makes of the rest.
    assert_eq!(
        eval(
            &mut vm,
            "GGS.host.echo({a: [1, 'two', {b: true}]}, undefined, 'x\"); throw 1; //')"
        ),
        r#"[{"a":[1,"two",{"b":true}]},null,"x\"); throw 1; //"]"#
    );
    assert_eq!(
        eval(
            &mut vm,
            "try { GGS.host.fail(); 'no' } catch (e) { (e instanceof Error) + ' ' + e.message }"
        ),
        "true no such player"
    );
    assert_eq!(
        eval(
            &mut vm,
            "try { GGS.host.profile(5) } catch (e) { e.message }"
        ),
        "profile needs a player id"
    );
    let error = command(&mut vm, "GGS.world.setItem('k', 'v'), GGS.host.fail()").unwrap_err();
    assert_eq!(error.code(), "script_error");
    assert!(error.to_string().contains("no such player"), "{error}");
    assert_eq!(
        eval(&mut vm, "GGS.world.getItem('k')"),
        "null",
        "the failed event wrote nothing"
    );
}

#[test]
fn ggs_host_is_frozen_and_holds_only_the_registered_functions() {
    let mut vm = fresh();
    assert_eq!(
        eval(&mut vm, "Object.keys(GGS.host)"),
        r#"["big","boom","echo","fail","profile","slow","table"]"#
    );
    assert_eq!(eval(&mut vm, "Object.isFrozen(GGS.host)"), "true");
    assert_eq!(
        eval(
            &mut vm,
            "[typeof GGS.host.nope, 'toString' in GGS.host, typeof GGS.emit]"
        ),
        r#"["undefined",false,"function"]"#
    );
    assert_eq!(
        eval(
            &mut vm,
            "(function () { 'use strict'; try { GGS.host.profile = () => 1; return 'replaced' } \
             catch (e) { return e.name } })()"
        ),
        "TypeError"
    );
    assert_eq!(
        eval(&mut vm, "GGS.host = {}, GGS.host.profile('q').id"),
        "q",
        "a sloppy-mode assignment changes nothing"
    );
    // A VM with none registered has an empty GGS.host.
    let mut bare = Vm::new(Arc::from(TABLE), Storage::default(), Limits::default());
    bare.run(
        Event::Define {
            source: EVAL.into(),
        },
        cx(),
    )
    .result
    .unwrap();
    assert_eq!(eval(&mut bare, "Object.keys(GGS.host)"), "[]");
}

#[test]
fn a_host_functions_time_counts_against_the_events_deadline() {
    let limits = Limits {
        cpu_per_event: Duration::from_millis(40),
        ..Limits::default()
    };
    let mut vm = vm(EVAL, limits, Arc::default());
    // Within the deadline: fine.
    assert_eq!(eval(&mut vm, "GGS.host.slow(5)"), "null");
    // Past it: the event fails as a timeout, even though the script catches the error.
    let error = command(
        &mut vm,
        "GGS.world.setItem('k', 'v'); try { GGS.host.slow(80) } catch (e) {} 'caught'",
    )
    .unwrap_err();
    assert_eq!(error, ScriptError::Timeout(Duration::from_millis(40)));
    assert_eq!(error.code(), "script_timeout");
    assert_eq!(eval(&mut vm, "GGS.world.getItem('k')"), "null");
}

#[test]
fn a_panicking_host_function_is_an_exception_and_the_vm_goes_on() {
    // The panic's time counts against the event's deadline, and with RUST_BACKTRACE set the
    // backtrace it captures can take longer than the default 100 ms in a debug build.
    let limits = Limits {
        cpu_per_event: std::time::Duration::from_secs(10),
        ..Limits::default()
    };
    let mut vm = vm(EVAL, limits, Arc::default());
    assert_eq!(
        eval(&mut vm, "try { GGS.host.boom() } catch (e) { e.message }"),
        "GGS.host.boom failed (the host function panicked)"
    );
    let error = command(&mut vm, "GGS.host.boom()").unwrap_err();
    assert_eq!(error.code(), "script_error");
    assert_eq!(eval(&mut vm, "GGS.host.profile('after').id"), "after");
}

#[test]
fn arguments_and_results_are_bounded() {
    let limits = Limits {
        host_value_bytes: 100,
        ..Limits::default()
    };
    let calls = Arc::new(AtomicUsize::new(0));
    let mut vm = vm(EVAL, limits, calls.clone());
    assert_eq!(
        eval(&mut vm, "GGS.host.echo('x'.repeat(90))[0].length"),
        "90"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(
        eval(
            &mut vm,
            "try { GGS.host.echo('x'.repeat(200)) } catch (e) { e.name + ': ' + e.message }"
        ),
        "RangeError: the arguments of a GGS.host call may be at most 100 bytes as JSON; these are 204"
    );
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "a call too large never reaches the host"
    );
    let error = command(&mut vm, "GGS.host.echo('x'.repeat(200))").unwrap_err();
    assert_eq!(error.code(), "host_value_too_large");
    // A result too large.
    assert_eq!(eval(&mut vm, "GGS.host.big(98).length"), "98");
    let error = command(&mut vm, "GGS.host.big(99)").unwrap_err();
    assert_eq!(error.code(), "host_value_too_large");
    assert!(error.to_string().contains("result"), "{error}");
    // Not JSON-compatible.
    assert_eq!(
        eval(&mut vm, "try { GGS.host.echo(1n) } catch (e) { e.name }"),
        "TypeError"
    );
    assert_eq!(
        eval(
            &mut vm,
            "const o = {}; o.o = o; try { GGS.host.echo(o) } catch (e) { e.name }"
        ),
        "TypeError"
    );
}

const EMITTER: &str = "function playerCommand(p, c, a) { (0, eval)(a); }";

fn emits(effects: &Effects) -> Vec<(String, Value)> {
    effects
        .emits
        .iter()
        .map(|Emit { name, payload }| (name.clone(), payload.clone()))
        .collect()
}

#[test]
fn emits_are_effects_in_order_and_a_failed_event_emits_nothing() {
    let mut vm = vm(EMITTER, Limits::default(), Arc::default());
    let effects = command(
        &mut vm,
        "GGS.emit('score', {player: 'a', points: 3}); GGS.emit('ended'); \
         GGS.emit('score', [1, 'x', null])",
    )
    .unwrap();
    assert_eq!(
        emits(&effects),
        vec![
            ("score".into(), json!({"player": "a", "points": 3})),
            ("ended".into(), Value::Null),
            ("score".into(), json!([1, "x", null])),
        ]
    );
    let error = command(&mut vm, "GGS.emit('score', 1); throw new Error('no')").unwrap_err();
    assert_eq!(error.code(), "script_error");
    // The next event starts with none of the failed one's emits.
    let effects = command(&mut vm, "GGS.emit('next', 2)").unwrap();
    assert_eq!(emits(&effects), vec![("next".into(), json!(2))]);
    // A bad name or payload throws a TypeError the script can catch.
    let effects = command(
        &mut vm,
        "for (const n of ['', 'a\\nb', 'x'.repeat(129)]) { \
           try { GGS.emit(n, 1) } catch (e) { GGS.emit('caught', e.name) } } \
         try { GGS.emit('big', 1n) } catch (e) { GGS.emit('caught', e.name) }",
    )
    .unwrap();
    assert_eq!(
        emits(&effects),
        vec![("caught".into(), json!("TypeError")); 4]
    );
}

#[test]
fn emits_are_bounded_per_event_in_count_and_bytes() {
    let limits = Limits {
        emits_per_event: 3,
        emit_bytes_per_event: 50,
        ..Limits::default()
    };
    let mut vm = vm(EMITTER, limits, Arc::default());
    let error = command(&mut vm, "for (let i = 0; i < 4; i++) GGS.emit('e', i)").unwrap_err();
    assert_eq!(error.code(), "emit_limit");
    let effects = command(
        &mut vm,
        "for (let i = 0; i < 3; i++) GGS.emit('e', i); \
         try { GGS.emit('e', 4) } catch (e) { if (!(e instanceof RangeError)) throw e }",
    )
    .unwrap();
    assert_eq!(effects.emits.len(), 3, "the count starts again each event");
    let error = command(&mut vm, "GGS.emit('e', 'x'.repeat(60))").unwrap_err();
    assert_eq!(error.code(), "emit_limit");
    assert!(error.to_string().contains("50 bytes"), "{error}");
}

#[tokio::test(flavor = "current_thread")]
async fn the_vm_host_gives_every_table_its_host_functions() {
    let calls = Arc::new(AtomicUsize::new(0));
    let host = VmHost::with_host_functions(2, Limits::default(), functions(calls.clone())).unwrap();
    for table in ["t1", "t2"] {
        let vm = host.open(table, Storage::default()).unwrap();
        let define = Event::Define {
            source: "function playerCommand(p, c, a) { \
                       GGS.emit('seen', GGS.host.echo(GGS.tableToken)[0]); }"
                .into(),
        };
        vm.run(define, cx()).await.result.unwrap();
        let command = Event::Command {
            player: "a".into(),
            command: "x".into(),
            args: String::new(),
        };
        let effects = vm.run(command, cx()).await.result.unwrap();
        assert_eq!(
            effects.emits,
            vec![Emit {
                name: "seen".into(),
                payload: json!(table)
            }]
        );
    }
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "current_thread")]
async fn a_host_function_holding_the_thread_past_the_deadline_has_it_abandoned() {
    let limits = Limits {
        cpu_per_event: Duration::from_millis(50),
        ..Limits::default()
    };
    let host = VmHost::with_host_functions(1, limits, functions(Arc::default())).unwrap();
    let vm = host.open("t-slow", Storage::default()).unwrap();
    let define = Event::Define {
        source: "function playerCommand(p, c, a) { GGS.host.slow(Number(a)); }".into(),
    };
    vm.run(define, cx()).await.result.unwrap();
    let command = |ms: &str| Event::Command {
        player: "a".into(),
        command: "x".into(),
        args: ms.into(),
    };
    let started = std::time::Instant::now();
    let outcome = vm.run(command("1000"), cx()).await;
    let error = outcome.result.unwrap_err();
    assert_eq!(error, ScriptError::Abandoned(Duration::from_millis(50)));
    assert_eq!(error.code(), "script_timeout");
    assert!(
        started.elapsed() < Duration::from_millis(800),
        "answered when the watchdog gave up, not when the call returned: {:?}",
        started.elapsed()
    );
}

/// A thread that waits without using the CPU (here a host function that sleeps, as a thread
/// the machine does not schedule would) is not stuck until the off-CPU margin: the watchdog
/// judges the CPU time a call used, so a loaded machine does not get healthy tables moved.
#[cfg(target_os = "linux")]
#[tokio::test(flavor = "current_thread")]
async fn a_call_that_waits_off_the_cpu_is_not_abandoned_before_the_off_cpu_margin() {
    let limits = Limits {
        cpu_per_event: Duration::from_millis(50),
        ..Limits::default()
    };
    let host = VmHost::with_host_functions(1, limits, functions(Arc::default())).unwrap();
    let vm = host.open("t-waits", Storage::default()).unwrap();
    let define = Event::Define {
        source: "function playerCommand(p, c, a) { GGS.host.slow(Number(a)); }".into(),
    };
    vm.run(define, cx()).await.result.unwrap();
    let command = Event::Command {
        player: "a".into(),
        command: "x".into(),
        args: "300".into(),
    };
    let error = vm.run(command, cx()).await.result.unwrap_err();
    assert_eq!(
        error,
        ScriptError::Timeout(Duration::from_millis(50)),
        "300 ms off the CPU is past the deadline but within the off-CPU margin: a timeout of \
         the event, not an abandoned thread"
    );
}
