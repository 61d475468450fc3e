//! A `define` whose script fails to evaluate: only the definer hears about it, and the table
//! keeps its previous script (or stays without one).

use ggs_tests::ServerProcess;

/// Answers every command with `version v1 <command>`.
const V1: &str = r#"
function playerCommand(player, command, args) {
  GGS.sendCommand(player, "version", "v1 " + command);
}
"#;

/// Answers with `version v2 <world v>`: shows whether a failed define's write stuck.
const V2: &str = r#"
function playerCommand(player, command, args) {
  GGS.sendCommand(player, "version", "v2 " + GGS.world.getItem("v"));
}
"#;

/// Declares a replacement for playerCommand and writes, then throws at the top level.
const THROWS: &str = r#"
function playerCommand(player, command, args) {
  GGS.sendCommand(player, "version", "v3");
}
GGS.world.setItem("v", "3");
GGS.sendCommandToAll("loaded", "v3");
throw new Error("refusing to load");
"#;

const SYNTAX_ERROR: &str =
    "function playerCommand(p, c, a) {\n  GGS.sendCommand(p, 'version', 'v2' \n";

#[test]
fn a_failed_define_keeps_the_previous_script() {
    // Other seated players define here too, as in 2011.
    let server = ServerProcess::start_with_args(&["--open-define"]);
    let mut a = server.connect().named("definer");
    let table = a.hello(None).table;
    a.define_ok(V1);
    let mut b = server.connect().named("other player");
    assert!(b.hello(Some(&table)).defined);

    // A syntax error.
    a.define(SYNTAX_ERROR);
    let body = a.expect_cmd("defined");
    assert!(
        body.starts_with("error ") && body.contains("SyntaxError"),
        "a syntax error is reported as `error SyntaxError...`, got {body:?}"
    );
    // Only the definer was told; the others' next reply is their own command's.
    b.command("which", "");
    b.expect("version", "v1 which");
    a.command("which", "");
    a.expect("version", "v1 which");

    // A top-level throw after redefining playerCommand, writing and sending.
    a.define(THROWS);
    let body = a.expect_cmd("defined");
    assert!(
        body.starts_with("error ") && body.contains("refusing to load"),
        "a top-level throw is reported as `error <message>`, got {body:?}"
    );
    b.command("again", "");
    b.expect("version", "v1 again");
    a.command("again", "");
    a.expect("version", "v1 again");

    // A newcomer still finds the table defined.
    let mut c = server.connect().named("newcomer");
    assert!(c.hello(Some(&table)).defined);
    c.command("new", "");
    c.expect("version", "v1 new");

    // A good define reaches everyone, and the failed define's write did not stick.
    b.define(V2);
    for p in [&mut a, &mut b, &mut c] {
        p.expect("defined", "ok");
    }
    a.command("x", "");
    a.expect("version", "v2 null");
}

#[test]
fn a_failed_first_define_leaves_the_table_undefined() {
    // Other seated players define here too, as in 2011.
    let server = ServerProcess::start_with_args(&["--open-define"]);
    let mut a = server.connect().named("definer");
    let table = a.hello(None).table;
    a.define("throw new TypeError('not today');");
    let body = a.expect_cmd("defined");
    assert!(
        body.starts_with("error ") && body.contains("TypeError") && body.contains("not today"),
        "got {body:?}"
    );
    let mut b = server.connect().named("joiner");
    let hello = b.hello(Some(&table));
    assert!(!hello.defined, "no script was ever accepted: {hello:?}");
    // A game command without a script is an error, not a crash.
    b.command("x", "");
    b.expect_cmd("error");
    // The table can still be defined.
    b.define(V1);
    a.expect("defined", "ok");
    b.expect("defined", "ok");
    a.command("y", "");
    a.expect("version", "v1 y");
}

#[test]
fn only_the_host_may_define_unless_the_server_allows_anyone() {
    let server = ServerProcess::start();
    let mut host = server.connect().named("host");
    let table = host.hello(None).table;
    host.define_ok(V1);
    let mut guest = server.connect().named("guest");
    assert!(guest.hello(Some(&table)).defined);
    guest.define(V2);
    let why = guest.expect_error("not_host");
    assert!(why.contains("created the table"), "{why}");
    // The host's script is untouched.
    guest.command("still", "");
    guest.expect("version", "v1 still");
}
