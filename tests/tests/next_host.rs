//! "Next IP" on a cluster of two real `ggs` nodes on a real etcd: a table created on node A,
//! asked for at node B. A GGS 1.1 client is told `next` with `Next-Host` (A's TCP address),
//! reconnects there with its token and plays; a 2011 (GGS 1.0) client is relayed by B, byte
//! for byte, and gets exactly what a direct connection gets; a WebSocket client is told
//! `next` with A's `/ws` URL; line mode is told `next HOST:PORT`; `POST /api/tables/{id}/stop`
//! at B answers `307` to A. A killed with SIGKILL: a hello at B for its table answers
//! `table_unavailable` naming A; A restarted on its data directory serves it again. A node
//! restarted on a data directory whose table etcd says is another node's does not serve it.
//! etcd lost: a node serves the tables it has and answers `cluster_unavailable` for others.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ggs_tests::client::{RequestMeta, RECV_TIMEOUT, VERSIONS_1_1};
use ggs_tests::etcd::Etcd;
use ggs_tests::wire::{encode_message, ReplyMeta};
use ggs_tests::ws::WsJsonClient;
use ggs_tests::{http, Client, LineClient, Reply, Request, ServerProcess};
use serde_json::json;

/// The lease of the nodes in these tests, in seconds (etcd's smallest).
const LEASE_SECS: u64 = 2;
/// How long a change may take to be seen: a lease, and a node's start.
const SETTLE: Duration = Duration::from_secs(15);
/// Pings timed through the relay and directly.
const PINGS: usize = 300;

/// Starts node `name` of the cluster on `etcd`.
fn node(etcd: &Etcd, name: &str) -> ServerProcess {
    etcd.start_node(name, LEASE_SECS)
}

/// Waits until `what` holds, panicking with `why()` after [`SETTLE`].
#[track_caller]
fn eventually(what: impl FnMut() -> bool, why: impl Fn() -> String) {
    ggs_tests::eventually(SETTLE, what, why)
}

/// The members `server` lists in `GET /api/nodes`, with their TCP addresses.
fn members(server: &ServerProcess) -> Vec<(String, String)> {
    let answer = http::get(server.http_addr(), "/api/nodes");
    let listed = answer.json_or_null();
    listed
        .as_array()
        .map(|nodes| {
            nodes
                .iter()
                .map(|n| {
                    let name = n["name"].as_str().unwrap_or_default().to_string();
                    (name, n["tcp"].as_str().unwrap_or_default().to_string())
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A GGS 1.1 client over TCP (it offers `GGS-Versions: 1.0 1.1` on each message).
struct V11(Client);

impl V11 {
    fn connect(addr: SocketAddr, name: &str) -> V11 {
        V11(Client::connect(addr).named(name))
    }

    fn meta(seq: Option<u64>) -> RequestMeta<'static> {
        RequestMeta {
            versions: VERSIONS_1_1,
            seq,
            ..RequestMeta::default()
        }
    }

    /// Says hello to `table` (a new one if `None`), with `token` if given.
    fn hello(&mut self, table: Option<&str>, token: Option<&str>) {
        self.0
            .request_meta(Request::Hello { table, token }, &V11::meta(None));
    }

    /// Sends game command `command` numbered `seq`.
    fn command(&mut self, command: &str, seq: u64) {
        self.0
            .request_meta(Request::Command(command, ""), &V11::meta(Some(seq)));
    }

    /// The next reply whose command is `command` and what it carried beside its body,
    /// skipping what the table sent before it (notices, messages: a resumed seat's stream is
    /// replayed) but not an error.
    #[track_caller]
    fn expect(&mut self, command: &str) -> (Reply, ReplyMeta) {
        loop {
            let (reply, meta) = self
                .0
                .try_recv_meta(RECV_TIMEOUT)
                .unwrap_or_else(|e| panic!("{}: {e}", self.0.name()));
            if reply.command == command {
                return (reply, meta);
            }
            assert_ne!(reply.command, "error", "{}: {reply}", self.0.name());
        }
    }
}

/// The `Next-Host` a reply carried.
fn next_host(meta: &ReplyMeta) -> Option<&str> {
    meta.other
        .iter()
        .find(|(name, _)| name == "Next-Host")
        .map(|(_, value)| value.as_str())
}

/// A chat table with one line-mode player on `server`: the player and the table id.
fn chat_table(server: &ServerProcess) -> (LineClient, String) {
    let mut player = server.connect_line().named("host");
    player.send("/hello chat");
    player.expect_prefix("welcome GGS ");
    let table = player.expect_hello().0.table;
    player.expect_prefix("notice ");
    (player, table)
}

/// What a 2011 client gets for: hello to `table`, `ping`, a `message`, with the volatile
/// parts (the token, the guest's name) made the same for any two connections.
fn session_2011(client: &mut Client, table: &str) -> Vec<Reply> {
    let hello = client.hello(Some(table));
    assert_eq!(hello.table, table);
    let mut replies = vec![Reply {
        command: "hello".into(),
        body: format!("TOKEN,{},{}", hello.defined, hello.table),
    }];
    client.command("ping", "");
    client.command("message", "over the relay");
    // The join notice, the pong, and the message as the chat shows it to everyone.
    for _ in 0..3 {
        let reply = client.recv();
        let body = match reply.body.find("guest-") {
            Some(at) => format!("{}GUEST{}", &reply.body[..at], &reply.body[at + 10..]),
            None => reply.body,
        };
        replies.push(Reply {
            command: reply.command,
            body,
        });
    }
    replies
}

#[test]
fn a_table_of_another_node_is_reached_through_next_host_a_relay_or_a_redirect() {
    let started = Instant::now();
    let etcd = Etcd::start();
    let mut a = node(&etcd, "a");
    let mut b = node(&etcd, "b");
    eventually(
        || members(&b).len() == 2,
        || format!("b lists {:?}", members(&b)),
    );
    let (mut host, table) = chat_table(&a);
    let key = format!("ggs/tables/{table}");
    eventually(
        || etcd.get(&key).as_deref() == Some("a"),
        || format!("{key} is {:?}", etcd.get(&key)),
    );

    // GGS 1.1: a seat on A, then a hello at B with its token: `next` to A, five headers and
    // Next-Host; nothing else changes (the seat stays on A, held for the grace period).
    let mut first = V11::connect(a.tcp_addr(), "1.1 on a");
    first.hello(Some(&table), None);
    let (seated, _) = first.expect("hello");
    let token = seated.body.split(',').next().unwrap().to_string();
    drop(first);
    let mut v11 = V11::connect(b.tcp_addr(), "1.1 at b");
    v11.hello(Some(&table), Some(&token));
    let (next, meta) = v11.expect("next");
    assert_eq!(meta.version.as_deref(), Some("1.1"), "{meta:?}");
    assert_eq!(
        meta.other.len(),
        1,
        "only Next-Host after the five: {meta:?}"
    );
    assert_eq!(
        next_host(&meta),
        Some(a.tcp_addr().to_string().as_str()),
        "{meta:?}"
    );
    assert!(
        next.body.contains(&table) && next.body.contains("node a"),
        "{next}"
    );
    // It follows: the same seat on A, and it plays.
    let mut v11 = V11::connect(next_host(&meta).unwrap().parse().unwrap(), "1.1 on a");
    v11.hello(Some(&table), Some(&token));
    let (resumed, _) = v11.expect("hello");
    assert_eq!(
        resumed.body.split(',').next(),
        Some(token.as_str()),
        "{resumed}"
    );
    v11.command("ping", 1);
    v11.expect("pong");

    // GGS 1.0 through B's relay: exactly the replies of a direct connection to A.
    let relay_started = Instant::now();
    let mut relayed = Client::connect(b.tcp_addr()).named("2011 at b");
    let through_b = session_2011(&mut relayed, &table);
    let relay_time = relay_started.elapsed();
    let mut direct = Client::connect(a.tcp_addr()).named("2011 on a");
    let direct_started = Instant::now();
    let straight = session_2011(&mut direct, &table);
    let direct_time = direct_started.elapsed();
    assert_eq!(through_b, straight);
    println!("a 2011 session (hello, ping, message): {relay_time:?} relayed by b, {direct_time:?} direct");
    // Both sit at A's table: the relayed client sees the direct one come and speak, and
    // both see the host.
    assert_eq!(
        relayed.expect_cmd("notice").split_once(' ').unwrap().1,
        "joined"
    );
    assert!(relayed.expect_cmd("message").ends_with("> over the relay"));
    host.send("message hello both");
    for client in [&mut relayed, &mut direct] {
        let said = client.expect_cmd("message");
        assert!(said.ends_with("> hello both"), "{said}");
    }

    // What the relay costs: the round trip of a ping, relayed and direct.
    let rtt = |client: &mut Client| {
        let mut times: Vec<Duration> = (0..PINGS)
            .map(|_| {
                let sent = Instant::now();
                client.command("ping", "");
                client.expect("pong", "");
                sent.elapsed()
            })
            .collect();
        times.sort();
        (times[PINGS / 2], times[PINGS * 99 / 100])
    };
    let (relayed_p50, relayed_p99) = rtt(&mut relayed);
    let (direct_p50, direct_p99) = rtt(&mut direct);
    println!(
        "ping round trip over {PINGS}: relayed p50 {relayed_p50:?} p99 {relayed_p99:?}, direct \
         p50 {direct_p50:?} p99 {direct_p99:?}"
    );

    // A 2011 client that sends its commands right after its hello, in one write: all of it
    // reaches the owner, in order.
    let mut pipelined = Client::connect(b.tcp_addr()).named("2011 pipelined at b");
    let mut bytes = encode_message(&[("Server-Command", "hello")], table.as_bytes());
    bytes.extend(encode_message(&[("Game-Command", "ping")], b""));
    bytes.extend(encode_message(&[("Game-Command", "ping")], b""));
    pipelined.send_raw(&bytes);
    assert_eq!(
        pipelined.expect_cmd("hello").split(',').nth(2),
        Some(table.as_str())
    );
    pipelined.expect_cmd("notice");
    pipelined.expect("pong", "");
    pipelined.expect("pong", "");

    // Line mode: the person is told where to connect.
    let mut person = b.connect_line().named("person at b");
    person.send(&format!("/hello {table}"));
    person.expect_prefix("welcome GGS ");
    let line = person.expect_prefix("next ");
    assert!(
        line.starts_with(&format!("next {} ", a.tcp_addr())),
        "{line}"
    );

    // A WebSocket client is told `next` with A's /ws.
    let mut ws = WsJsonClient::connect(b.http_addr());
    ws.send(json!({"type": "hello", "table": table, "versions": ["1.0", "1.1"]}));
    let next = ws.expect_json("next");
    assert_eq!(
        next["next"]["url"],
        format!("ws://{}/ws", a.http_addr()),
        "{next}"
    );
    // One that never offered versions too: a WebSocket is never relayed.
    let mut ws_10 = WsJsonClient::connect(b.http_addr());
    ws_10.send(json!({"type": "hello", "table": table}));
    let next = ws_10.expect_json("next");
    assert_eq!(
        next["next"]["url"],
        format!("ws://{}/ws", a.http_addr()),
        "{next}"
    );
    assert!(next.get("version").is_none(), "{next}");

    // The HTTP API: B redirects a stop to A.
    let stop = format!("/api/tables/{table}/stop");
    let answer = b.admin("POST", &stop, "");
    assert_eq!(answer.status, 307, "{}", answer.body);
    assert_eq!(
        answer.header("location"),
        Some(format!("http://{}{stop}", a.http_addr()).as_str())
    );

    // A dies: its lease goes, and its table is unavailable, naming it. The hello changes
    // nothing: the connection says hello elsewhere after it.
    a.kill9();
    eventually(
        || members(&b).len() == 1,
        || format!("b lists {:?}", members(&b)),
    );
    let mut late = V11::connect(b.tcp_addr(), "1.1 at b, a gone");
    late.hello(Some(&table), Some(&token));
    let (refused, _) = late.expect("error");
    assert!(
        refused.body.starts_with("table_unavailable ") && refused.body.contains("node a"),
        "{refused:?}"
    );
    let mut late_2011 = Client::connect(b.tcp_addr()).named("2011 at b, a gone");
    late_2011.send_hello(Some(&table));
    let why = late_2011.expect_error("table_unavailable");
    assert!(why.contains("node a"), "{why}");
    late.hello(None, None);
    late.expect("hello");

    // A restarts on its data directory: served again, through B too (at its new address).
    a.restart();
    eventually(
        || {
            members(&b)
                .iter()
                .any(|(name, tcp)| name == "a" && *tcp == a.tcp_addr().to_string())
        },
        || format!("b lists {:?}", members(&b)),
    );
    let mut back = V11::connect(b.tcp_addr(), "1.1 at b, a back");
    back.hello(Some(&table), Some(&token));
    let (_, meta) = back.expect("next");
    assert_eq!(next_host(&meta), Some(a.tcp_addr().to_string().as_str()));
    let mut back = V11::connect(a.tcp_addr(), "1.1 on a again");
    back.hello(Some(&table), Some(&token));
    back.expect("hello");
    back.command("ping", 2);
    back.expect("pong");
    let mut relayed = Client::connect(b.tcp_addr()).named("2011 at b, a back");
    relayed.hello(Some(&table));

    // A table on B's disk that etcd says is A's (moved while B was away): B restarts and
    // does not serve it; it sends the client to A.
    let (_, b_table) = chat_table(&b);
    let b_key = format!("ggs/tables/{b_table}");
    eventually(
        || etcd.get(&b_key).as_deref() == Some("b"),
        || format!("{b_key} is {:?}", etcd.get(&b_key)),
    );
    b.kill9();
    let put = etcd.etcdctl(&["put", &b_key, "a"]);
    assert!(
        put.status.success(),
        "{}",
        String::from_utf8_lossy(&put.stderr)
    );
    b.restart();
    eventually(
        || members(&b).len() == 2,
        || format!("b lists {:?}", members(&b)),
    );
    let mut moved = V11::connect(b.tcp_addr(), "1.1 at b, its table moved");
    moved.hello(Some(&b_table), None);
    let (_, meta) = moved.expect("next");
    assert_eq!(next_host(&meta), Some(a.tcp_addr().to_string().as_str()));

    // etcd lost: B goes on serving the tables it has; a table it does not know cannot be
    // placed: `cluster_unavailable`.
    let (_, kept) = chat_table(&b);
    let kept_key = format!("ggs/tables/{kept}");
    eventually(
        || etcd.get(&kept_key).as_deref() == Some("b"),
        || format!("{kept_key} is {:?}", etcd.get(&kept_key)),
    );
    let mut etcd = etcd;
    etcd.kill9();
    eventually(
        || http::get(b.http_addr(), "/api/nodes").status == 503,
        || "b still lists the nodes".to_string(),
    );
    let mut alone = Client::connect(b.tcp_addr()).named("2011 at b without etcd");
    assert_eq!(alone.hello(Some(&kept)).table, kept);
    let mut lost = V11::connect(b.tcp_addr(), "1.1 at b without etcd");
    lost.hello(Some("6f1c2b1e-0000-4000-8000-0000000000ff"), None);
    let (refused, _) = lost.expect("error");
    assert!(
        refused.body.starts_with("cluster_unavailable "),
        "{refused:?}"
    );
    println!("next_host: the whole test took {:?}", started.elapsed());
}
