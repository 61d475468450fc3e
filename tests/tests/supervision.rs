//! Supervision: when a table's runtime, its VM thread or its task dies, the table is rebuilt
//! from its committed state and carries on; its players stay connected and other tables do
//! not notice. A table that keeps crashing is stopped and its players are told why.
//!
//! Faults are injected through `GGS.__fault(kind)`, which the server installs only with the
//! testing flag `--fault-injection`.

use ggs_tests::{Client, ServerOptions, ServerProcess};

/// A counter in `GGS.state`; `fault <kind>` increments, then fails the way it is told to.
/// `onResume` counts rebuilds, so players can see one happened.
const COUNTER: &str = r#"
function playerCommand(player, command, args) {
  GGS.state.n = (GGS.state.n || 0) + 1;
  // A thread fault fires only before the first rebuild, so the retried event can succeed.
  if (command === "fault" && !(args === "thread" && GGS.state.resumes)) GGS.__fault(args);
  GGS.sendCommandToAll("n", GGS.state.n + " " + (GGS.state.resumes || 0));
}
function onResume() { GGS.state.resumes = (GGS.state.resumes || 0) + 1; }
"#;

/// One server with the testing hooks and a single VM thread, so every table shares it.
fn server() -> ServerProcess {
    ServerProcess::start_with(ServerOptions::default().args(&[
        "--fault-injection",
        "--vm-threads",
        "1",
    ]))
}

/// A table with the counter defined, its host and a second player.
fn seated(server: &ServerProcess, name: &str) -> (String, Client, Client) {
    let mut host = server.connect().named(&format!("{name} host"));
    let table = host.hello(None).table;
    host.define_ok(COUNTER);
    let mut guest = server.connect().named(&format!("{name} guest"));
    assert!(guest.hello(Some(&table)).defined);
    (table, host, guest)
}

fn inc(sender: &mut Client, other: &mut Client, expect: &str) {
    sender.command("inc", "");
    sender.expect("n", expect);
    other.expect("n", expect);
}

#[test]
fn a_panic_in_a_host_function_rebuilds_the_table_from_committed_state() {
    let server = server();
    let (_, mut a, mut b) = seated(&server, "crashing");
    let (_, mut c, mut d) = seated(&server, "healthy");
    inc(&mut a, &mut b, "1 0");
    inc(&mut a, &mut b, "2 0");
    a.command("fault", "panic");
    let why = a.expect_error("script_crashed");
    assert!(why.contains("rebuilt"), "{why}");
    // The event that crashed left nothing; the rebuild ran onResume; both players stayed.
    inc(&mut b, &mut a, "3 1");
    inc(&mut c, &mut d, "1 0");
}

#[test]
fn a_dead_vm_thread_is_replaced_and_its_tables_rebuilt() {
    let server = server();
    let (_, mut a, mut b) = seated(&server, "killer");
    let (_, mut c, mut d) = seated(&server, "bystander");
    inc(&mut a, &mut b, "1 0");
    inc(&mut c, &mut d, "1 0");
    // The thread dies after running this event, before its effects are committed: the table is
    // rebuilt on a new thread and the event runs again there (it had had no effect).
    a.command("fault", "thread");
    let again = a.expect_cmd("n");
    assert_eq!(again, "2 1", "the event ran once, after one rebuild");
    b.expect("n", "2 1");
    // The other table on the dead thread notices nothing but a rebuild.
    c.command("inc", "");
    c.expect("n", "2 1");
    d.expect("n", "2 1");
}

#[test]
fn a_panicking_table_task_is_rebuilt_and_a_table_that_keeps_crashing_is_stopped() {
    let server = server();
    let (table, mut a, mut b) = seated(&server, "unlucky");
    let (_, mut c, mut d) = seated(&server, "healthy");
    inc(&mut a, &mut b, "1 0");
    a.command("fault", "actor");
    // The task died mid-event: nothing was committed or sent; the table comes back.
    inc(&mut a, &mut b, "2 1");
    // More than 5 crashes within 10 s stop the table instead of rebuilding it forever.
    for _ in 0..5 {
        a.command("fault", "actor");
    }
    let why = a.expect_error("table_stopped");
    assert!(why.contains("crashed too often"), "{why}");
    b.expect_error("table_stopped");
    a.command("inc", "");
    a.expect_error("table_stopped");
    // Other tables carry on.
    inc(&mut c, &mut d, "1 0");
    // A stopped table is answered, not hung.
    let mut e = server.connect().named("late");
    e.send_hello(Some(&table));
    e.expect_error("table_stopped");
}
