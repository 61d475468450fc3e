//! A table actor with a real VM host, committer and store, and no sockets: what a batch of
//! queued game commands does when its VM is lost or its task panics midway, how an idle
//! table hibernates, wakes and ends, when the application's emit handler is called, and what
//! a handoff stops and keeps.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ggs_js::{Limits, VmHost};
use tokio::sync::{mpsc, oneshot};

use super::{spawn, GameScript, TableDeps, TableEvent, TableHandle, TableInit};
use crate::commit::Committer;
use crate::config::{Durability, EmitHandler, Emitted, TableSettings};
use crate::outbox::Outbox;
use crate::protocol::message::{ServerMessage, Version};
use crate::protocol::token::Token;
use crate::store::{GameId, Store, TableRecord};

/// Longest wait for one message before a test fails.
const WAIT: Duration = Duration::from_secs(10);

/// Messages a test player's queue holds.
const QUEUE: usize = 64;

/// A counter in `GGS.state`; `fault <kind>` increments, then fails the way it is told to (a
/// thread fault only before the first rebuild). `onResume` counts rebuilds.
const COUNTER: &str = r#"
function playerCommand(player, command, args) {
  GGS.state.n = (GGS.state.n || 0) + 1;
  if (command === "fault" && !(args === "thread" && GGS.state.resumes)) GGS.__fault(args);
  GGS.sendCommand(player, "n", GGS.state.n + " " + (GGS.state.resumes || 0));
}
function onResume() { GGS.state.resumes = (GGS.state.resumes || 0) + 1; }
"#;

const PLAYER: &str = "0c0ffee0-0000-4000-8000-000000000001";

/// The player's resume token, which the `hello` reply carries.
const TOKEN: &str = "70ce0000-0000-4000-8000-000000000001";

/// The record of a table just created, with no script yet.
fn new_record() -> TableRecord {
    TableRecord {
        created_ms: 1,
        tick_ms: 0,
        host: None,
        game: None,
        script: None,
    }
}

/// A new table with the counter, fault injection on, and its player's queue. The store's
/// directory lives as long as the returned guard.
fn table() -> (
    tempfile::TempDir,
    TableHandle,
    Outbox,
    mpsc::Receiver<ServerMessage>,
) {
    let (dir, deps) = deps(TableSettings::default());
    let record = new_record();
    let handle = spawn(Arc::from("t-batch"), TableInit::New(record), deps);
    let (outbox, rx, _) = Outbox::new(QUEUE);
    (dir, handle, outbox, rx)
}

/// What a table shares, over a fresh store, with fault injection on and `settings`.
fn deps(settings: TableSettings) -> (tempfile::TempDir, TableDeps) {
    deps_with(settings, None)
}

/// Like [`deps`], the committer handing emits to `emit_handler`.
fn deps_with(
    settings: TableSettings,
    emit_handler: Option<(Store, EmitHandler)>,
) -> (tempfile::TempDir, TableDeps) {
    let dir = tempfile::tempdir().unwrap();
    let (store, handler) = match emit_handler {
        Some((store, handler)) => (store, Some(handler)),
        None => (Store::open(dir.path()).unwrap(), None),
    };
    let (committer, _) = Committer::start(store.clone(), Durability::Strict, handler).unwrap();
    let limits = Limits {
        fault_injection: true,
        ..Limits::default()
    };
    let deps = TableDeps {
        host: Arc::new(VmHost::new(1, limits).unwrap()),
        committer,
        store,
        connected: Arc::new(AtomicU64::new(1)),
        settings,
        directory: Default::default(),
        observers: Default::default(),
    };
    (dir, deps)
}

/// Queues the creator's join (the game defined with it), then `commands` right behind it: the
/// actor is busy with the join when they arrive, so they run as one batch.
fn join_and_queue(handle: &TableHandle, outbox: &Outbox, commands: &[(&str, &str)]) {
    join_and_queue_game(handle, outbox, COUNTER, commands)
}

/// Like [`join_and_queue`], with the game `source`.
fn join_and_queue_game(
    handle: &TableHandle,
    outbox: &Outbox,
    source: &str,
    commands: &[(&str, &str)],
) {
    let (reply, _) = oneshot::channel();
    let game = GameScript {
        id: GameId {
            name: "counter".into(),
            version: 1,
        },
        source: source.into(),
    };
    handle
        .send(TableEvent::Join {
            player: Arc::from(PLAYER),
            token: Token::from_text(TOKEN),
            resume: None,
            outbox: outbox.clone(),
            conn: 1,
            reply,
            define: Some(game),
            version: Version::V1_0,
            ack: None,
            identity: None,
        })
        .unwrap();
    for (command, args) in commands {
        handle
            .send(TableEvent::Command {
                player: Arc::from(PLAYER),
                command: command.to_string(),
                args: args.to_string(),
                seq: None,
            })
            .unwrap();
    }
}

/// The next `n` messages, as `command body`.
async fn next(rx: &mut mpsc::Receiver<ServerMessage>, n: usize) -> Vec<String> {
    let got = numbered(rx, n).await;
    got.into_iter().map(|(_, text)| text).collect()
}

#[tokio::test]
async fn a_batch_whose_vm_thread_died_runs_again_once_in_order() {
    let (_dir, handle, outbox, mut rx) = table();
    let commands = [("inc", ""), ("inc", ""), ("fault", "thread"), ("inc", "")];
    join_and_queue(&handle, &outbox, &commands);
    let hello = format!("hello {TOKEN},true,t-batch");
    // The thread died before answering for any of the batch: none of it was committed, and
    // all of it ran again on the rebuilt table, each command once.
    assert_eq!(
        next(&mut rx, 5).await,
        vec![hello.as_str(), "n 1 1", "n 2 1", "n 3 1", "n 4 1"]
    );
    assert!(!handle.is_stopped());
}

#[tokio::test]
async fn an_event_that_crashes_the_runtime_fails_and_the_rest_of_its_batch_runs() {
    let (_dir, handle, outbox, mut rx) = table();
    let commands = [("inc", ""), ("fault", "panic"), ("inc", "")];
    join_and_queue(&handle, &outbox, &commands);
    let got = next(&mut rx, 4).await;
    assert_eq!(
        got[..2],
        [format!("hello {TOKEN},true,t-batch"), "n 1 0".into()]
    );
    assert!(got[2].starts_with("error script_crashed "), "{}", got[2]);
    // It is not run again; the command after it runs once, after the one rebuild.
    assert_eq!(got[3], "n 2 1");
    assert!(!handle.is_stopped());
}

#[tokio::test]
async fn a_batch_interrupted_by_a_panicking_task_goes_on_after_the_rebuild() {
    let (_dir, handle, outbox, mut rx) = table();
    let commands = [("inc", ""), ("fault", "actor"), ("inc", ""), ("inc", "")];
    join_and_queue(&handle, &outbox, &commands);
    // The command that panicked the task left nothing; the ones behind it ran once each.
    assert_eq!(
        next(&mut rx, 4).await,
        vec![
            format!("hello {TOKEN},true,t-batch"),
            "n 1 0".into(),
            "n 2 1".into(),
            "n 3 1".into(),
        ]
    );
    assert!(!handle.is_stopped());
}

/// Waits until `done` holds; fails the test after [`WAIT`].
async fn until(what: &str, mut done: impl FnMut() -> bool) {
    let start = tokio::time::Instant::now();
    while !done() {
        assert!(start.elapsed() < WAIT, "never: {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn an_idle_table_hibernates_wakes_with_on_resume_and_ends_once_nobody_can_reach_it() {
    let settings = TableSettings {
        hibernate_after: Duration::from_millis(50),
        seat_grace: Duration::ZERO,
        ..TableSettings::default()
    };
    let (_dir, deps) = deps(settings);
    let directory = deps.directory.clone();
    let id = uuid::Uuid::new_v4();
    let record = new_record();
    let handle = spawn(Arc::from(id.to_string()), TableInit::New(record), deps);
    directory.lock().unwrap().insert(id, handle.clone());
    let (outbox, mut rx, _) = Outbox::new(QUEUE);
    join_and_queue(&handle, &outbox, &[("inc", "")]);
    assert_eq!(next(&mut rx, 2).await[1], "n 1 0");
    until("hibernated", || handle.info().is_hibernated()).await;

    // Its seated player's next command wakes it: the state is intact and onResume ran.
    let command = |command: &str| TableEvent::Command {
        player: Arc::from(PLAYER),
        command: command.into(),
        args: String::new(),
        seq: None,
    };
    handle.send(command("inc")).unwrap();
    assert_eq!(next(&mut rx, 1).await, ["n 2 1"]);
    assert!(!handle.info().is_hibernated());
    until("hibernated again", || handle.info().is_hibernated()).await;

    // Nobody seated: it stays parked while a handle besides the directory's exists...
    let leave = TableEvent::Leave {
        player: Arc::from(PLAYER),
        conn: 1,
    };
    handle.send(leave).unwrap();
    until("the seat freed, then hibernated", || {
        handle.info().is_hibernated() && handle.info().summary("t").seats == 0
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(directory.lock().unwrap().contains_key(&id));
    assert!(!handle.is_stopped());
    // ...and leaves the directory (dropping the last handle ends its task) once only the
    // directory's is left.
    drop(handle);
    until("left the directory", || {
        directory.lock().unwrap().is_empty()
    })
    .await;
}

/// A counter that emits its new value; `bad` emits, then throws.
const EMITTER: &str = r#"
function playerCommand(player, command, args) {
  if (command === "bad") { GGS.emit("bad", 0); throw new Error("rolled back"); }
  GGS.state.n = (GGS.state.n || 0) + 1;
  GGS.emit("count", { n: GGS.state.n, by: player });
  GGS.sendCommand(player, "n", String(GGS.state.n));
}
"#;

/// What the handler saw of one emit: the emit, the flushes done and the table's committed
/// `GGS.state` in the store at that moment.
type Seen = (Emitted, u64, Option<String>);

#[tokio::test]
async fn emits_reach_the_handler_only_once_durable_in_order_and_never_for_a_failed_event() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let committer: Arc<std::sync::OnceLock<Committer>> = Arc::default();
    let (seen_tx, seen_rx) = std::sync::mpsc::channel::<Seen>();
    let handler = {
        let (committer, store) = (committer.clone(), store.clone());
        let seen_tx = std::sync::Mutex::new(seen_tx);
        EmitHandler::new(move |emit: Emitted| {
            let flushes = committer
                .get()
                .map_or(0, |c| c.stats().flushes.load(Ordering::SeqCst));
            let state = store.storage(&emit.table).unwrap().state;
            let _ = seen_tx.lock().unwrap().send((emit, flushes, state));
        })
    };
    let (_guard, deps) = deps_with(TableSettings::default(), Some((store, handler)));
    committer.set(deps.committer.clone()).ok().unwrap();
    let record = new_record();
    let handle = spawn(Arc::from("t-emit"), TableInit::New(record), deps);
    let (outbox, mut rx, _) = Outbox::new(QUEUE);
    let commands = [("inc", ""), ("bad", ""), ("inc", "")];
    join_and_queue_game(&handle, &outbox, EMITTER, &commands);
    let got = next(&mut rx, 4).await;
    assert_eq!(got[1], "n 1");
    assert!(got[2].starts_with("error script_error "), "{}", got[2]);
    assert_eq!(got[3], "n 2");
    handle
        .send(TableEvent::Command {
            player: Arc::from(PLAYER),
            command: "inc".into(),
            args: String::new(),
            seq: None,
        })
        .unwrap();
    assert_eq!(next(&mut rx, 1).await, ["n 3"]);

    let mut seen = Vec::new();
    for _ in 0..3 {
        seen.push(seen_rx.recv_timeout(WAIT).unwrap());
    }
    for (i, (emit, flushes, state)) in seen.iter().enumerate() {
        let n = i + 1;
        assert_eq!(
            emit,
            &Emitted {
                table: Arc::from("t-emit"),
                name: "count".into(),
                payload: serde_json::json!({ "n": n, "by": PLAYER }),
            },
            "the emits in the order of their events, none of the failed one's"
        );
        assert!(*flushes >= 1, "emit {n} was handed over before any flush");
        let state: serde_json::Value = serde_json::from_str(state.as_deref().unwrap()).unwrap();
        assert!(
            state["n"].as_u64().unwrap() >= n as u64,
            "emit {n} was handed over before its event was written: {state}"
        );
    }
    // Nothing more: each emit was handed over once.
    handle
        .send(TableEvent::Command {
            player: Arc::from(PLAYER),
            command: "bad".into(),
            args: String::new(),
            seq: None,
        })
        .unwrap();
    assert!(next(&mut rx, 1).await[0].starts_with("error script_error "));
    let (done, flushed) = oneshot::channel();
    handle.send(TableEvent::Flush { done }).unwrap();
    flushed.await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(seen_rx.try_recv().is_err(), "no emit after the last one");
}

/// Every message of one `next`, with its GGS 1.1 number: `(msg, "command body")`.
async fn numbered(rx: &mut mpsc::Receiver<ServerMessage>, n: usize) -> Vec<(Option<u64>, String)> {
    let mut got = Vec::new();
    for _ in 0..n {
        let m = tokio::time::timeout(WAIT, rx.recv())
            .await
            .unwrap()
            .unwrap();
        let text = format!("{} {}", m.command, String::from_utf8_lossy(&m.body));
        got.push((m.msg, text));
    }
    got
}

/// A GGS 1.1 join of the counter's player at `handle`: a new seat (`resume: None`) or the
/// seat the token takes back, having received every message up to `ack`.
fn join_1_1(handle: &TableHandle, outbox: &Outbox, resume: bool, ack: u64, conn: u64) {
    let (reply, _) = oneshot::channel();
    let define = (!resume).then(|| GameScript {
        id: GameId {
            name: "counter".into(),
            version: 1,
        },
        source: COUNTER.into(),
    });
    handle
        .send(TableEvent::Join {
            player: Arc::from(PLAYER),
            token: Token::from_text(TOKEN),
            resume: resume.then(|| Token::from_text(TOKEN)),
            outbox: outbox.clone(),
            conn,
            reply,
            define,
            version: Version::V1_1,
            ack: resume.then_some(ack),
            identity: None,
        })
        .unwrap();
}

fn numbered_command(handle: &TableHandle, seq: u64) {
    handle
        .send(TableEvent::Command {
            player: Arc::from(PLAYER),
            command: "inc".into(),
            args: String::new(),
            seq: Some(seq),
        })
        .unwrap();
}

async fn flush(handle: &TableHandle) {
    let (done, flushed) = oneshot::channel();
    handle.send(TableEvent::Flush { done }).unwrap();
    tokio::time::timeout(WAIT, flushed).await.unwrap().unwrap();
}

#[tokio::test]
async fn a_1_1_seat_gets_each_message_once_and_runs_each_command_once_across_a_restart() {
    let (_dir, deps) = deps(TableSettings::default());
    let id: Arc<str> = Arc::from("t-once");
    let handle = spawn(id.clone(), TableInit::New(new_record()), deps.clone());
    let (outbox, mut rx, _) = Outbox::new(QUEUE);
    join_1_1(&handle, &outbox, false, 0, 1);
    for seq in [1, 2, 3, 2, 4] {
        numbered_command(&handle, seq);
    }
    let got = numbered(&mut rx, 5).await;
    assert_eq!(got[0].0, None, "the hello reply is outside the stream");
    assert!(got[0].1.starts_with("hello "), "{got:?}");
    // Each command once (the resent 2 did not run), each message numbered from 1.
    assert_eq!(
        got[1..],
        [
            (Some(1), "n 1 0".to_string()),
            (Some(2), "n 2 0".to_string()),
            (Some(3), "n 3 0".to_string()),
            (Some(4), "n 4 0".to_string()),
        ]
    );
    // The connection drops having seen up to 2; the server stops; a new actor loads the
    // table from the store, as after a restart.
    handle
        .send(TableEvent::Leave {
            player: Arc::from(PLAYER),
            conn: 1,
        })
        .unwrap();
    flush(&handle).await;
    let why = "restart".to_string();
    handle.send(TableEvent::Stop { why }).unwrap();
    tokio::time::timeout(WAIT, handle.stopped()).await.unwrap();
    let loaded = deps.store.load_table(&id).unwrap().unwrap();
    let handle = spawn(id.clone(), TableInit::Loaded(loaded), deps.clone());
    let (outbox, mut rx, _) = Outbox::new(QUEUE);
    join_1_1(&handle, &outbox, true, 2, 2);
    // Resent after the resume: 3 and 4 ran (the hello says so), 5 is new.
    for seq in [3, 4, 5] {
        numbered_command(&handle, seq);
    }
    let hello = tokio::time::timeout(WAIT, rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&*hello.command, "hello");
    assert_eq!(hello.seq, Some(4), "the highest Seq applied");
    assert_eq!(
        numbered(&mut rx, 3).await,
        [
            (Some(3), "n 3 0".to_string()),
            (Some(4), "n 4 0".to_string()),
            (Some(5), "n 5 1".to_string()),
        ],
        "the kept messages after its Ack, then the new one; nothing twice"
    );
    // Everything acknowledged: after another restart nothing is replayed, and the numbers go
    // on from 5.
    handle
        .send(TableEvent::Ack {
            player: Arc::from(PLAYER),
            n: 5,
        })
        .unwrap();
    flush(&handle).await;
    handle
        .send(TableEvent::Stop {
            why: "again".into(),
        })
        .unwrap();
    tokio::time::timeout(WAIT, handle.stopped()).await.unwrap();
    let loaded = deps.store.load_table(&id).unwrap().unwrap();
    let handle = spawn(id.clone(), TableInit::Loaded(loaded), deps.clone());
    let (outbox, mut rx, _) = Outbox::new(QUEUE);
    join_1_1(&handle, &outbox, true, 5, 3);
    numbered_command(&handle, 6);
    let hello = tokio::time::timeout(WAIT, rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(hello.seq, Some(5));
    assert_eq!(numbered(&mut rx, 1).await, [(Some(6), "n 6 2".to_string())]);
}

/// Queues a handoff at `handle`: the export arrives on the first receiver; the verdict goes
/// through the sender.
fn queue_handoff(
    handle: &TableHandle,
) -> (
    oneshot::Receiver<Result<super::Export, String>>,
    oneshot::Sender<super::Verdict>,
) {
    let (ready, exported) = oneshot::channel();
    let (decide, verdict) = oneshot::channel();
    handle.send(TableEvent::Handoff { ready, verdict }).unwrap();
    (exported, decide)
}

fn command(handle: &TableHandle, command: &str) {
    handle
        .send(TableEvent::Command {
            player: Arc::from(PLAYER),
            command: command.into(),
            args: String::new(),
            seq: None,
        })
        .unwrap();
}

#[tokio::test]
async fn a_table_handed_off_runs_nothing_after_its_export_and_keeps_what_waited() {
    let (_dir, handle, outbox, mut rx) = table();
    // The handoff arrives behind two commands of a batch; two more arrive behind it.
    join_and_queue(&handle, &outbox, &[("inc", ""), ("inc", "")]);
    let (exported, decide) = queue_handoff(&handle);
    command(&handle, "inc");
    command(&handle, "inc");
    let export = tokio::time::timeout(WAIT, exported)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let state = export
        .iter()
        .find(|(k, _)| k.starts_with(b"g/"))
        .map(|(_, v)| String::from_utf8_lossy(v).into_owned());
    assert_eq!(
        state.as_deref(),
        Some(r#"{"n":2}"#),
        "the export is the state after two"
    );
    assert_eq!(
        next(&mut rx, 3).await[1..],
        ["n 1 0".to_string(), "n 2 0".to_string()]
    );
    // Waiting for the verdict, it runs nothing.
    assert!(tokio::time::timeout(Duration::from_millis(200), rx.recv())
        .await
        .is_err());
    let moved = Arc::new(super::Moved {
        node: "b".into(),
        tcp: Some("127.0.0.1:1".into()),
        ws: None,
    });
    decide.send(super::Verdict::Moved(moved.clone())).unwrap();
    assert_eq!(
        tokio::time::timeout(WAIT, handle.relocation().wait())
            .await
            .unwrap(),
        moved
    );
    assert!(handle.is_stopped(), "a moved table takes no more events");
    // What waited is kept for the player's connection to forward, in order; a command sent
    // now joins it.
    command_after_move(&handle);
    let kept = handle.relocation().take_forwards(PLAYER);
    let game = |c: &str| super::Forward::Game(c.into(), String::new());
    assert_eq!(kept, vec![game("inc"), game("inc"), game("late")]);
    assert!(tokio::time::timeout(Duration::from_millis(100), rx.recv())
        .await
        .ok()
        .flatten()
        .is_none());
}

fn command_after_move(handle: &TableHandle) {
    let late = TableEvent::Command {
        player: Arc::from(PLAYER),
        command: "late".into(),
        args: String::new(),
        seq: None,
    };
    handle.send_player(late).unwrap();
}

#[tokio::test]
async fn a_table_whose_handoff_did_not_move_it_goes_on_with_what_waited() {
    let (_dir, handle, outbox, mut rx) = table();
    join_and_queue(&handle, &outbox, &[("inc", "")]);
    let (exported, decide) = queue_handoff(&handle);
    command(&handle, "inc");
    tokio::time::timeout(WAIT, exported)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    decide.send(super::Verdict::Stay).unwrap();
    let got = next(&mut rx, 3).await;
    assert_eq!(got[1..], ["n 1 0".to_string(), "n 2 0".to_string()]);
    assert!(!handle.is_stopped());
}
