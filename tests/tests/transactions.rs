//! Every event is a transaction: an event that throws leaves no writes and sends no messages.

use ggs_tests::ServerProcess;

const SCRIPT: &str = r#"
function playerCommand(player, command, args) {
  if (command === "set") {
    GGS.world.setItem("k", args);
    GGS.localStorage.setItem("k", args);
    GGS.sendCommandToAll("set", args);
  } else if (command === "w") {
    GGS.world.setItem("k", args);
    GGS.localStorage.setItem("k", args);
    GGS.world.setItem("extra", "x");
    GGS.world.removeItem("keep");
    GGS.sendCommandToAll("wrote", args);
    GGS.sendCommand(player, "wrote-to-you", args);
    throw new Error("boom");
  } else if (command === "r") {
    GGS.sendCommand(player, "value", [GGS.world.getItem("k"), GGS.localStorage.getItem("k"),
      GGS.world.getItem("extra"), GGS.world.getItem("keep")].map(String).join("|"));
  }
}

function playerJoined(player) {
  GGS.world.setItem("keep", "yes");
  if (GGS.players.length === 3) {
    GGS.world.setItem("k", "from join");
    GGS.sendCommandToAll("third", player);
    null.crash;
  }
}
"#;

/// The 1-based line of `needle` in the script.
fn line_of(needle: &str) -> usize {
    SCRIPT
        .lines()
        .position(|l| l.contains(needle))
        .expect("needle in script")
        + 1
}

#[test]
fn an_event_that_throws_has_no_effects() {
    let server = ServerProcess::start();
    let mut a = server.connect().named("writer");
    let table = a.hello(None).table;
    a.define_ok(SCRIPT);
    let mut b = server.connect().named("onlooker");
    assert!(b.hello(Some(&table)).defined);

    a.command("set", "old");
    a.expect("set", "old");
    b.expect("set", "old");

    a.command("w", "new");
    let detail = a.expect_error("script_error");
    assert!(detail.contains("Error: boom"), "{detail:?}");
    let at = format!("game.js:{}:", line_of("throw new Error"));
    assert!(detail.contains(&at), "the error names {at}: {detail:?}");

    // The write is gone and nobody got the event's messages.
    a.command("r", "");
    a.expect("value", "old|old|null|yes");
    b.command("r", "");
    b.expect("value", "old|old|null|yes");

    // A hook that throws: the joiner still gets hello first, then the error; its writes and
    // messages are discarded, and the player is seated all the same.
    let mut c = server.connect().named("third");
    let hello = c.hello(Some(&table));
    assert!(hello.defined);
    let detail = c.expect_error("script_error");
    assert!(
        detail.contains("TypeError")
            && detail.contains(&format!("game.js:{}:", line_of("null.crash"))),
        "{detail:?}"
    );
    c.command("r", "");
    c.expect("value", "old|old|null|yes");
    a.command("set", "after");
    for p in [&mut a, &mut b, &mut c] {
        p.expect("set", "after");
    }
}
