//! The VM host's threads: the watchdog that abandons a thread stuck in a built-in past its
//! deadline, and where new tables go.

use std::time::{Duration, Instant};

use ggs_js::watchdog::STUCK_MARGIN;
use ggs_js::{Event, EventContext, Limits, Outcome, ScriptError, Storage, TableVm, VmHost};

/// The deadline of these tests.
const DEADLINE: Duration = Duration::from_millis(50);
/// Room for a shared machine and a debug build on top of what the watchdog promises.
const SLACK: Duration = Duration::from_millis(400);

fn limits() -> Limits {
    Limits {
        cpu_per_event: DEADLINE,
        ..Limits::default()
    }
}

fn cx() -> EventContext {
    EventContext::default()
}

fn command(name: &str) -> Event {
    Event::Command {
        player: "p".into(),
        command: name.into(),
        args: String::new(),
    }
}

/// Opens `table` with a script that answers `ok`, runs `busy` for 40 ms, and on `join` runs
/// one built-in call of seconds (a 64 Mi join, which ends out of memory).
async fn open(host: &VmHost, table: &str) -> TableVm {
    let vm = host.open(table, Storage::default()).unwrap();
    let script = "function playerCommand(p, c) {\n\
        if (c === 'join') new Array(64 * 1024 * 1024).join('z');\n\
        if (c === 'busy') { var t = Date.now(); while (Date.now() - t < 40) {} }\n\
        GGS.sendCommand(p, 'ok', c);\n}";
    let define = vm
        .run(
            Event::Define {
                source: script.into(),
            },
            cx(),
        )
        .await;
    define.result.expect("the script defines");
    vm
}

fn answered(outcome: &Outcome) -> bool {
    outcome
        .result
        .as_ref()
        .is_ok_and(|e| e.messages.len() == 1 && e.messages[0].command == "ok")
}

#[tokio::test]
async fn a_thread_stuck_in_a_builtin_is_abandoned_and_replaced() {
    let host = VmHost::new(1, limits()).unwrap();
    let stuck = open(&host, "stuck").await;
    let neighbour = open(&host, "neighbour").await;
    let idle = open(&host, "idle").await;

    let started = Instant::now();
    let (offence, queued) = tokio::join!(stuck.run(command("join"), cx()), async {
        tokio::time::sleep(Duration::from_millis(10)).await;
        neighbour.run(command("ping"), cx()).await
    });
    let waited = started.elapsed();
    let bound = DEADLINE + STUCK_MARGIN + SLACK;
    // The stuck event fails as a timeout in about its deadline, not after its seconds.
    assert_eq!(offence.result, Err(ScriptError::Abandoned(DEADLINE)));
    assert_eq!(
        offence.result.as_ref().unwrap_err().code(),
        "script_timeout"
    );
    assert!(
        waited < bound,
        "the stuck call was answered after {waited:?}"
    );
    // The job queued behind it, and the idle table pinned to the same thread, are told to
    // move: their events did not run.
    assert_eq!(queued.result, Err(ScriptError::Displaced));
    let pinned = idle.run(command("ping"), cx()).await;
    assert_eq!(pinned.result, Err(ScriptError::Displaced));
    assert!(pinned.result.unwrap_err().is_retriable());

    // A fresh thread took the stuck one's place: reopened tables answer at once.
    assert_eq!(host.threads(), 1);
    assert_eq!(
        host.retired_threads(),
        1,
        "the stuck thread is still in its call"
    );
    let moved = open(&host, "neighbour").await;
    let started = Instant::now();
    assert!(answered(&moved.run(command("ping"), cx()).await));
    assert!(started.elapsed() < SLACK, "{:?}", started.elapsed());

    // The stuck thread retires once its call returns, dropping its runtimes there.
    let deadline = Instant::now() + Duration::from_secs(60);
    while host.retired_threads() > 0 {
        assert!(Instant::now() < deadline, "the stuck thread never retired");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(answered(&moved.run(command("ping"), cx()).await));
}

#[tokio::test]
async fn an_event_within_its_deadline_is_not_abandoned() {
    let host = VmHost::new(1, limits()).unwrap();
    let vm = open(&host, "busy").await;
    // Ten events of 40 ms in one batch: the thread is busy for 400 ms, each window is within
    // the 50 ms deadline, and every event beats the pulse.
    let outcomes = vm
        .run_batch((0..10).map(|_| command("busy")).collect(), cx())
        .await;
    assert_eq!(outcomes.len(), 10);
    assert!(outcomes.iter().all(answered), "{outcomes:?}");
    assert_eq!(host.retired_threads(), 0);
}

#[tokio::test]
async fn new_tables_go_to_the_thread_with_the_least_recent_cpu_then_the_fewest_tables() {
    let host = VmHost::new(2, limits()).unwrap();
    // Idle threads share new tables evenly.
    let mut tables = Vec::new();
    for i in 0..4 {
        tables.push(open(&host, &format!("idle-{i}")).await);
    }
    assert_eq!(host.tables_per_thread(), vec![2, 2]);
    // One table keeps its thread busy (600 ms of CPU, within its deadline each time).
    for _ in 0..15 {
        assert!(answered(&tables[0].run(command("busy"), cx()).await));
    }
    // The new tables all go to the other thread, although it then has more tables.
    let quiet = 1 - tables[0].thread();
    for i in 0..4 {
        let new = open(&host, &format!("new-{i}")).await;
        assert_eq!(new.thread(), quiet, "new table {i} went to the busy thread");
        tables.push(new);
    }
    let per_thread = host.tables_per_thread();
    assert_eq!(
        per_thread[quiet], 6,
        "new tables went to the busy thread too: {per_thread:?}"
    );
    assert_eq!(per_thread[1 - quiet], 2);
    // Closing tables frees their places.
    tables.truncate(1);
    let per_thread = host.tables_per_thread();
    assert_eq!(per_thread.iter().sum::<usize>(), 1, "{per_thread:?}");
}
