//! A three-player chat with the sample script games/chat.js.

use ggs_tests::{game_source, Client, ServerOptions, ServerProcess};

/// The nick chat.js gives a player who has not chosen one.
fn guest(player: &str) -> String {
    format!("guest-{}", &player[..4])
}

/// Every client gets the same reply next.
#[track_caller]
fn all_expect(clients: &mut [&mut Client], command: &str, body: &str) {
    for c in clients.iter_mut() {
        c.expect(command, body);
    }
}

#[test]
fn three_players_chat() {
    let server = ServerProcess::start_with(ServerOptions::no_seat_grace());

    // Each asks its public id first (`whoami`): the chat names guests after it.
    let mut alice = server.connect().named("alice");
    let pa = alice.whoami();
    let created = alice.hello(None);
    assert!(!created.defined, "a new table has no script: {created:?}");
    alice.define_ok(&game_source("chat.js"));

    let mut bob = server.connect().named("bob");
    let pb = bob.whoami();
    let hb = bob.hello(Some(&created.table));
    assert!(hb.defined, "the table has a script: {hb:?}");
    assert_eq!(hb.table, created.table);
    assert_ne!(pb, pa);
    assert_ne!(hb.token, created.token);
    let joined = format!("{} joined", guest(&pb));
    all_expect(&mut [&mut bob, &mut alice], "notice", &joined);

    let mut carol = server.connect().named("carol");
    let pc = carol.whoami();
    let hc = carol.hello(Some(&created.table));
    assert!(hc.defined);
    assert_eq!(hc.table, created.table);
    assert!(pc != pb && pc != pa);
    let carol_nick = guest(&pc);
    let joined = format!("{carol_nick} joined");
    all_expect(&mut [&mut carol, &mut alice, &mut bob], "notice", &joined);

    // Nicks are announced to everyone.
    alice.command("/nick", "alice");
    let renamed = format!("{} is now known as alice", guest(&pa));
    all_expect(&mut [&mut alice, &mut bob, &mut carol], "notice", &renamed);
    bob.command("/nick", "  bob ");
    let renamed = format!("{} is now known as bob", guest(&pb));
    all_expect(&mut [&mut alice, &mut bob, &mut carol], "notice", &renamed);

    // A message reaches all three, multi-byte text intact.
    bob.command("message", "hello, world ☃ — ünïcode");
    all_expect(
        &mut [&mut alice, &mut bob, &mut carol],
        "message",
        "bob> hello, world ☃ — ünïcode",
    );
    carol.command("message", "hi bob");
    let line = format!("{carol_nick}> hi bob");
    all_expect(&mut [&mut alice, &mut bob, &mut carol], "message", &line);

    // ping gets a pong to the sender only; a bad nick is told to the sender only. The next
    // broadcast is then the first thing the others receive.
    alice.command("ping", "");
    alice.expect("pong", "");
    bob.command("/nick", "");
    bob.expect("notice", "nick must not be empty");
    carol.command("/nick", &"x".repeat(33));
    carol.expect("notice", "nick is too long (at most 32 characters)");
    alice.command("dance", "");
    alice.expect("notice", "unknown command: dance");
    alice.command("message", "still here");
    all_expect(
        &mut [&mut alice, &mut bob, &mut carol],
        "message",
        "alice> still here",
    );

    // Carol disconnects: the others are told.
    carol.close();
    let left = format!("{carol_nick} left");
    all_expect(&mut [&mut alice, &mut bob], "notice", &left);

    // The two left keep chatting, and no stray message is queued for them.
    bob.command("message", "bye");
    all_expect(&mut [&mut alice, &mut bob], "message", "bob> bye");
    alice.expect_nothing(std::time::Duration::from_millis(200));
    bob.expect_nothing(std::time::Duration::from_millis(10));
}
