//! A cluster of real `ggs` nodes on a real etcd the test starts (loopback, ephemeral ports,
//! a temporary directory): nodes join and are listed (`/api/nodes`, `ggs nodes`); a node
//! killed with SIGKILL is gone once its lease expires; a table belongs in etcd to the node
//! that created it and a second claim fails; etcd killed and restarted: the nodes keep
//! serving their tables, refuse what needs etcd with `cluster_unavailable`, and register
//! again. Without `--etcd`, a node is exactly a single server.

use std::collections::BTreeSet;
use std::process::Command;
use std::time::{Duration, Instant};

use ggs_tests::etcd::Etcd;
use ggs_tests::http;
use ggs_tests::{ggs_binary, LineClient, ServerOptions, ServerProcess};
use serde_json::Value;

/// The lease of the nodes in these tests, in seconds (etcd's smallest).
const LEASE_SECS: u64 = 2;
/// How long a change may take to be seen: a lease, and the retries after etcd returns.
const SETTLE: Duration = Duration::from_secs(15);

/// Starts node `name` of the cluster on `etcd`.
fn node(etcd: &Etcd, name: &str) -> ServerProcess {
    etcd.start_node(name, LEASE_SECS)
}

/// `GET /api/nodes` of `server`: its status and body.
fn api_nodes(server: &ServerProcess) -> (u16, Value) {
    let answer = http::get(server.http_addr(), "/api/nodes");
    (answer.status, answer.json_or_null())
}

/// The member names `server` lists, if it answers with a list.
fn member_names(server: &ServerProcess) -> Option<BTreeSet<String>> {
    let (status, body) = api_nodes(server);
    (status == 200).then(|| {
        body.as_array()
            .expect("a list of nodes")
            .iter()
            .map(|n| n["name"].as_str().expect("a name").to_string())
            .collect()
    })
}

/// Waits until `what` holds, panicking with `why()` after [`SETTLE`].
#[track_caller]
fn eventually(what: impl FnMut() -> bool, why: impl Fn() -> String) {
    ggs_tests::eventually(SETTLE, what, why)
}

fn names(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// A chat table with one line-mode player on `server`; returns the player and the table id.
fn chat_table(server: &ServerProcess) -> (LineClient, String) {
    let mut player = server.connect_line().named("player");
    player.send("/hello chat");
    player.expect_prefix("welcome GGS ");
    let table = player.expect_hello().0.table;
    player.expect_prefix("notice ");
    (player, table)
}

/// The player's table answers it.
#[track_caller]
fn plays(player: &mut LineClient) {
    player.send("ping");
    player.expect_prefix("pong");
}

#[test]
fn nodes_join_are_listed_and_a_killed_node_leaves_with_its_lease() {
    let etcd = Etcd::start();
    let a = node(&etcd, "a");
    let b = node(&etcd, "b");
    let mut c = node(&etcd, "c");
    let all = names(&["a", "b", "c"]);
    for server in [&a, &b, &c] {
        eventually(
            || member_names(server) == Some(all.clone()),
            || format!("{:?}", api_nodes(server)),
        );
    }
    // Each node publishes where it is: the addresses it is bound to.
    let (_, listed) = api_nodes(&a);
    for (name, server) in [("a", &a), ("b", &b), ("c", &c)] {
        let row = listed
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["name"] == name)
            .unwrap();
        assert_eq!(row["tcp"], server.tcp_addr().to_string(), "{row}");
        assert_eq!(
            row["http"],
            format!("http://{}", server.http_addr()),
            "{row}"
        );
        assert_eq!(row["draining"], false, "{row}");
        assert!(
            row["live_tables"].is_u64() && row["cpu"].is_number(),
            "{row}"
        );
    }
    // `ggs nodes` lists them, one line each.
    let out = Command::new(ggs_binary())
        .args(["nodes", "--server", &format!("http://{}", b.http_addr())])
        .output()
        .expect("running ggs nodes");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    for (line, (name, server)) in lines.iter().zip([("a", &a), ("b", &b), ("c", &c)]) {
        assert!(line.starts_with(&format!("{name} ")), "{text}");
        assert!(
            line.contains(&format!("tcp={}", server.tcp_addr())),
            "{text}"
        );
    }
    // A node's metrics show every member.
    let metrics = http::get(a.http_addr(), "/metrics").body;
    assert!(metrics.contains("ggs_cluster_members 3"), "{metrics}");
    assert!(metrics.contains("ggs_cluster_up 1"), "{metrics}");
    assert!(
        metrics.contains(r#"ggs_cluster_node_live_tables{node="c"}"#),
        "{metrics}"
    );

    // SIGKILL: no goodbye. The node is gone once its lease expires, from etcd and the lists.
    c.kill9();
    let killed = Instant::now();
    let two = names(&["a", "b"]);
    for server in [&a, &b] {
        eventually(
            || member_names(server) == Some(two.clone()),
            || format!("{:?}", api_nodes(server)),
        );
    }
    eprintln!(
        "figure: a SIGKILLed node is gone from the members after {:?} (lease {LEASE_SECS} s)",
        killed.elapsed()
    );
    assert_eq!(etcd.keys("ggs/nodes/"), ["ggs/nodes/a", "ggs/nodes/b"]);

    // A graceful stop leaves at once (the lease is revoked), and the node says so.
    let mut b = b;
    let stopped = b.terminate();
    assert!(stopped.status.success(), "{}", stopped.stderr);
    assert!(
        stopped.stderr.contains("left the cluster"),
        "{}",
        stopped.stderr
    );
    assert_eq!(etcd.keys("ggs/nodes/"), ["ggs/nodes/a"]);
    eventually(
        || member_names(&a) == Some(names(&["a"])),
        || format!("{:?}", api_nodes(&a)),
    );
}

#[test]
fn a_table_belongs_to_the_node_that_created_it_and_a_second_claim_fails() {
    let etcd = Etcd::start();
    let a = node(&etcd, "a");
    let b = node(&etcd, "b");
    eventually(
        || member_names(&b) == Some(names(&["a", "b"])),
        || format!("{:?}", api_nodes(&b)),
    );
    let (mut player, table) = chat_table(&a);
    let key = format!("ggs/tables/{table}");
    eventually(
        || etcd.get(&key).is_some(),
        || format!("{key} is not in etcd: {:?}", etcd.keys("ggs/")),
    );
    assert_eq!(etcd.get(&key).as_deref(), Some("a"));
    // Another claim, as node b would make it, fails; the owner stays.
    assert!(!etcd.claim(&key, "b"));
    assert_eq!(etcd.get(&key).as_deref(), Some("a"));
    // The same claim on a key nobody holds succeeds: the refusal above is the owner's.
    assert!(etcd.claim("ggs/tables/not-a-table-of-a-node", "b"));
    plays(&mut player);
    // The lobby's list says who owns it.
    let tables = http::get(a.http_addr(), "/api/tables").json();
    let row = tables
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == table.as_str())
        .unwrap_or_else(|| panic!("{table} not in {tables}"));
    assert_eq!(row["owner"], "a", "{row}");
    let out = Command::new(ggs_binary())
        .args(["tables", "--server", &format!("http://{}", a.http_addr())])
        .output()
        .expect("running ggs tables");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines()
            .any(|l| l.starts_with(&table) && l.ends_with(", on a")),
        "{text}"
    );
    // Placement chose the node the player is on, and said so.
    let metrics = http::get(a.http_addr(), "/metrics").body;
    assert!(
        metrics.contains(r#"ggs_placements_total{node="a",reason="connected"} 1"#),
        "{metrics}"
    );
}

#[test]
fn nodes_keep_serving_while_etcd_is_down_and_register_again_when_it_returns() {
    let mut etcd = Etcd::start();
    let a = node(&etcd, "a");
    let b = node(&etcd, "b");
    let both = names(&["a", "b"]);
    eventually(
        || member_names(&a) == Some(both.clone()) && member_names(&b) == Some(both.clone()),
        || format!("{:?} {:?}", api_nodes(&a), api_nodes(&b)),
    );
    let (mut on_a, table_a) = chat_table(&a);
    let (mut on_b, _) = chat_table(&b);
    eventually(
        || etcd.get(&format!("ggs/tables/{table_a}")).is_some(),
        || "the table was not claimed".into(),
    );

    etcd.kill9();
    // What needs etcd is refused with a clear error...
    eventually(|| api_nodes(&a).0 == 503, || format!("{:?}", api_nodes(&a)));
    let (_, body) = api_nodes(&a);
    assert_eq!(body["error"], "cluster_unavailable", "{body}");
    assert!(body["message"].as_str().unwrap().contains("etcd"), "{body}");
    // ...while the tables go on, and a new one can still be opened here.
    plays(&mut on_a);
    plays(&mut on_b);
    let (mut late, late_table) = chat_table(&a);
    plays(&mut late);
    // Longer than a lease: etcd keeps time only while it runs.
    std::thread::sleep(Duration::from_secs(LEASE_SECS + 1));
    plays(&mut on_a);

    etcd.restart();
    let back = Instant::now();
    for server in [&a, &b] {
        eventually(
            || member_names(server) == Some(both.clone()),
            || format!("{:?}", api_nodes(server)),
        );
    }
    eprintln!(
        "figure: both nodes registered again {:?} after etcd answered",
        back.elapsed()
    );
    assert_eq!(etcd.keys("ggs/nodes/"), ["ggs/nodes/a", "ggs/nodes/b"]);
    // The table opened while etcd was down is claimed now that it is back.
    let key = format!("ggs/tables/{late_table}");
    eventually(
        || etcd.get(&key).as_deref() == Some("a"),
        || format!("{key}: {:?}", etcd.get(&key)),
    );
    plays(&mut on_a);
    plays(&mut late);
    plays(&mut on_b);
    assert!(a.stderr().contains("lost etcd"), "{}", a.stderr());
}

#[test]
fn without_etcd_a_server_is_a_single_node_and_bad_cluster_settings_stop_the_start() {
    let single = ServerProcess::start();
    let (status, body) = api_nodes(&single);
    assert_eq!(
        (status, body["error"].as_str()),
        (404, Some("not_clustered"))
    );
    let (_player, table) = chat_table(&single);
    let tables = http::get(single.http_addr(), "/api/tables").json();
    let row = tables
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == table.as_str())
        .unwrap();
    assert!(row.get("owner").is_none(), "{row}");
    let metrics = http::get(single.http_addr(), "/metrics").body;
    assert!(!metrics.contains("ggs_cluster"), "{metrics}");
    assert!(!single.stderr().contains("etcd"), "{}", single.stderr());

    let dir = tempfile::tempdir().unwrap();
    let serve = |args: &[&str]| {
        let out = Command::new(ggs_binary())
            .arg("serve")
            .args([
                "--tcp",
                "127.0.0.1:0",
                "--http",
                "127.0.0.1:0",
                "--data-dir",
            ])
            .arg(dir.path())
            .args(args)
            .env("NO_COLOR", "1")
            .output()
            .expect("running ggs serve");
        assert!(!out.status.success(), "{args:?} started");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let no_node = serve(&["--etcd", "http://127.0.0.1:9"]);
    assert!(no_node.contains("--etcd needs --node"), "{no_node}");
    let no_etcd = serve(&["--node", "a"]);
    assert!(no_etcd.contains("give --etcd too"), "{no_etcd}");
    let bad_name = serve(&["--etcd", "http://127.0.0.1:9", "--node", "a/b"]);
    assert!(bad_name.contains("a node name is"), "{bad_name}");
    // Nothing listens on port 9 of loopback: the start stops, naming etcd's address.
    let unreachable = serve(&["--etcd", "http://127.0.0.1:9", "--node", "a"]);
    assert!(
        unreachable.contains("cluster is unavailable")
            && unreachable.contains("http://127.0.0.1:9"),
        "{unreachable}"
    );
}

#[test]
fn an_upload_on_one_node_is_in_every_nodes_catalogue() {
    let mut etcd = Etcd::start();
    let a = node(&etcd, "a");
    let b = node(&etcd, "b");
    eventually(
        || member_names(&b) == Some(names(&["a", "b"])),
        || format!("{:?}", api_nodes(&b)),
    );
    let v1 =
        "// Echo: says it back.\nfunction playerCommand(p, c, a) { GGS.sendCommand(p, c, a); }\n";
    let up = a.admin("PUT", "/api/games/echo", v1);
    assert_eq!(up.status, 201, "{up:?}");
    assert_eq!(up.json()["version"], 1);
    let game = |server: &ServerProcess| http::get(server.http_addr(), "/api/games/echo");
    eventually(|| game(&b).status == 200, || format!("{:?}", game(&b)));
    assert_eq!(game(&b).json()["source"], v1);
    // A player on b starts it by name.
    let mut player = b.connect_line().named("player");
    player.send("/hello echo");
    player.expect_prefix("welcome GGS ");
    player.expect_hello();
    player.send("say hi");
    player.expect("say hi");
    // The next version, uploaded on b, is number 2 everywhere; the same source again is no
    // new version.
    let v2 = format!("{v1}// v2\n");
    let up = b.admin("PUT", "/api/games/echo", &v2);
    assert_eq!(
        (up.status, up.json()["version"].as_u64()),
        (201, Some(2)),
        "{up:?}"
    );
    eventually(
        || game(&a).json()["version"] == 2,
        || format!("{:?}", game(&a)),
    );
    let again = a.admin("PUT", "/api/games/echo", &v2);
    assert_eq!(
        (again.status, again.json()["version"].as_u64()),
        (200, Some(2)),
        "{again:?}"
    );
    assert_eq!(
        etcd.keys("ggs/games/").len(),
        2,
        "{:?}",
        etcd.keys("ggs/games/")
    );
    // A node that joins later finds every version.
    let c = node(&etcd, "c");
    eventually(
        || game(&c).status == 200 && game(&c).json()["source"] == game(&a).json()["source"],
        || format!("{:?}", game(&c)),
    );
    let versions = |s: &ServerProcess| game(s).json()["versions"].as_array().map(Vec::len);
    assert_eq!(versions(&c), versions(&a));
    // Without etcd, an upload (a change every node must see) is refused, and changes nothing.
    etcd.kill9();
    eventually(|| api_nodes(&a).0 == 503, || format!("{:?}", api_nodes(&a)));
    let refused = a.admin("PUT", "/api/games/other", v1);
    assert_eq!(
        (refused.status, refused.json()["error"].as_str()),
        (503, Some("cluster_unavailable")),
        "{refused:?}"
    );
    assert_eq!(http::get(a.http_addr(), "/api/games/other").status, 404);
}

#[test]
fn an_application_that_embeds_ggs_is_a_node_too() {
    use ggs_server::config::ClusterSettings;
    let etcd = Etcd::start();
    let binary = node(&etcd, "a");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let dir = tempfile::tempdir().unwrap();
    let settings = ClusterSettings {
        advertise_http: Some("http://127.0.0.1:1/game".into()),
        lease_secs: LEASE_SECS,
        ..ClusterSettings::new(vec![etcd.url()], "app")
    };
    let ggs = rt
        .block_on(
            ggs_server::Builder::new()
                .data_dir(dir.path())
                .web_client(false)
                .cluster(settings.clone())
                .start(),
        )
        .expect("the embedded node starts");
    let both = names(&["a", "app"]);
    eventually(
        || member_names(&binary) == Some(both.clone()),
        || format!("{:?}", api_nodes(&binary)),
    );
    let (_, listed) = api_nodes(&binary);
    let app = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == "app")
        .unwrap()
        .clone();
    // It has no TCP listener: it publishes none; its HTTP address is the application's.
    assert_eq!(app["tcp"], Value::Null, "{app}");
    assert_eq!(app["http"], "http://127.0.0.1:1/game", "{app}");
    // A graceful stop leaves the cluster at once.
    rt.block_on(ggs.shutdown()).expect("a graceful stop");
    assert_eq!(etcd.keys("ggs/nodes/"), ["ggs/nodes/a"]);
    // Bad settings, or no etcd, stop the start with the cluster's error.
    let bad = rt
        .block_on(
            ggs_server::Builder::new()
                .data_dir(dir.path())
                .cluster(ClusterSettings {
                    node: String::new(),
                    ..settings.clone()
                })
                .start(),
        )
        .err()
        .expect("an empty node name is refused");
    assert!(
        matches!(&bad, ggs_server::ServerError::Cluster(e) if e.code() == "bad_cluster_settings"),
        "{bad}"
    );
}

#[test]
fn a_server_that_joins_a_cluster_claims_the_tables_it_already_had() {
    let etcd = Etcd::start();
    let mut single = ServerProcess::start();
    let (_player, table) = chat_table(&single);
    let data_dir = single.data_dir().to_path_buf();
    assert!(single.terminate().status.success());
    let lease = LEASE_SECS.to_string();
    let a = ServerProcess::start_with(ServerOptions {
        data_dir: Some(data_dir),
        ..ServerOptions::default().args(&[
            "--etcd",
            &etcd.url(),
            "--node",
            "a",
            "--node-lease-secs",
            &lease,
        ])
    });
    let key = format!("ggs/tables/{table}");
    assert_eq!(etcd.get(&key), None, "not claimed before it is loaded");
    // A player comes back to it: the node loads it from its store and claims it.
    let mut player = a.connect();
    let hello = player.hello(Some(&table));
    assert_eq!(hello.table, table);
    eventually(
        || etcd.get(&key).as_deref() == Some("a"),
        || format!("{key}: {:?}", etcd.get(&key)),
    );
    // Loaded again later (another player), it stays a's: no second claim is needed.
    let mut other = a.connect();
    other.hello(Some(&table));
    assert_eq!(etcd.get(&key).as_deref(), Some("a"));
    assert!(!a.stderr().contains("another node owns"), "{}", a.stderr());
}
