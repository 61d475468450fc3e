//! The embedding API's auth hook and observers, as an application uses them: a hook that
//! knows users by a credential (GGS 1.0 `Auth` header, WebSocket `"auth"` field, line mode
//! `/auth`) or a cookie; refused hellos that change nothing; identities scripts read with
//! `GGS.playerInfo`, kept across a restart; a resume token of no use to another account; and
//! the observers' stream of what happens at the tables.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use ggs_server::auth::AuthStage;
use ggs_server::config::TableSettings;
use ggs_server::{AuthRefusal, AuthRequest, Builder, Ggs, Identity, Observation};
use ggs_tests::{http, Client, Hello, LineClient, WsClient};
use serde_json::{json, Value};
use tokio::runtime::Runtime;

/// A game that tells players who they and others are, and can fail on purpose.
const WHO: &str = "// Who: tells players who is who.\n\
    function playerJoined(p) { GGS.sendCommand(p, 'you', JSON.stringify(GGS.playerInfo(p))); }\n\
    function playerCommand(p, c, a) {\n\
    \x20 if (c === 'info') GGS.sendCommand(p, 'info', JSON.stringify(GGS.playerInfo(a)));\n\
    \x20 if (c === 'players') GGS.sendCommand(p, 'players', String(GGS.players.length));\n\
    \x20 if (c === 'boom') throw new Error('boom');\n\
    }\n";

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// The user a credential (`secret-<user>`) or a cookie (`user=<user>`) names.
fn user_of(request: &AuthRequest) -> Option<String> {
    if let Some(credential) = &request.credential {
        return credential.strip_prefix("secret-").map(str::to_string);
    }
    let cookie = request.headers.get("cookie")?.to_str().ok()?;
    cookie.strip_prefix("user=").map(str::to_string)
}

/// The application's hook: WebSocket upgrades without a cookie are let in (their hellos must
/// carry a credential); every `hello` needs a known user.
async fn hook(request: AuthRequest) -> Result<Identity, AuthRefusal> {
    match (request.stage, user_of(&request)) {
        (_, Some(user)) if user != "nobody" => {
            let mut name = user.clone();
            name[..1].make_ascii_uppercase();
            Ok(Identity::new(format!("id-{user}"), name))
        }
        (AuthStage::Upgrade, None) => Ok(Identity::new("guest", "Guest")),
        _ => Err(AuthRefusal::new("unknown user")),
    }
}

/// A server over `dir` with the hook, the game `who`, a TCP listener and `tables` settings;
/// its router served on an ephemeral port; an observer recording into the returned list.
fn start(
    rt: &Runtime,
    dir: &Path,
    tables: TableSettings,
) -> (Ggs, SocketAddr, Arc<Mutex<Vec<Observation>>>) {
    let config = ggs_server::Config {
        vm_threads: 1,
        shutdown_timeout: Duration::from_secs(5),
        tables,
        ..ggs_server::Config::default()
    };
    rt.block_on(async {
        let ggs = Builder::new()
            .config(config)
            .data_dir(dir)
            .builtin_games(false)
            .game("who", WHO)
            .web_client(false)
            .tcp("127.0.0.1:0".parse().unwrap())
            .auth(hook)
            .start()
            .await
            .expect("a start");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let mut observations = ggs.observe();
        let record = seen.clone();
        tokio::spawn(async move {
            while let Some(observation) = observations.next().await {
                record.lock().unwrap().push(observation);
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = ggs
            .router()
            .into_make_service_with_connect_info::<SocketAddr>();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (ggs, addr, seen)
    })
}

/// A GGS 1.0 `hello` with these extra headers (`Auth`, `Token`, `Game`) to `table`.
fn hello(c: &mut Client, table: Option<&str>, headers: &[(&str, &str)]) {
    let mut all = vec![("Server-Command", "hello")];
    all.extend_from_slice(headers);
    c.send(&all, table.unwrap_or("").as_bytes());
}

/// The `hello` reply's fields.
fn seated(c: &mut Client) -> Hello {
    Hello::parse(&c.expect_cmd("hello")).expect("a hello reply")
}

/// A new seat's `hello` reply, then what `playerJoined` told it (`you`, its
/// `GGS.playerInfo`): the reply and the player's public id.
fn joined(c: &mut Client) -> (Hello, String, Value) {
    let hello = seated(c);
    let you = json_of(&c.expect_cmd("you"));
    let player = you["id"].as_str().expect("an id").to_string();
    (hello, player, you)
}

fn json_of(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{body:?}: {e}"))
}

/// The observations so far, once `done` says they are all there (or 5 s passed).
fn observed(
    seen: &Mutex<Vec<Observation>>,
    done: impl Fn(&[Observation]) -> bool,
) -> Vec<Observation> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let now = seen.lock().unwrap().clone();
        if done(&now) || Instant::now() > deadline {
            return now;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn tables(addr: SocketAddr) -> usize {
    http::get(addr, "/api/tables")
        .json()
        .as_array()
        .unwrap()
        .len()
}

#[test]
fn hellos_carry_credentials_on_every_transport_and_refused_ones_change_nothing() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let (ggs, addr, seen) = start(&rt, dir.path(), TableSettings::default());
    let tcp = ggs.tcp_addr().expect("a TCP listener");

    // GGS 1.0: a hello without a credential, or with an unknown one, creates nothing.
    let mut alice = Client::connect(tcp).named("alice");
    hello(&mut alice, None, &[("Game", "who")]);
    assert_eq!(alice.expect_error("unauthorized"), "unknown user");
    hello(
        &mut alice,
        None,
        &[("Game", "who"), ("Auth", "secret-nobody")],
    );
    alice.expect_error("unauthorized");
    assert_eq!(tables(addr), 0, "no table was created");
    alice.command("players", "");
    alice.expect_error("not_seated");

    // Its Auth header names the player: the script knows who they are.
    hello(
        &mut alice,
        None,
        &[("Game", "who"), ("Auth", "secret-alice")],
    );
    let (at, alice_id, you) = joined(&mut alice);
    assert_eq!(alice.whoami(), alice_id);
    assert_eq!(
        you,
        json!({ "id": alice_id, "userId": "id-alice", "name": "Alice" })
    );
    let table = at.table.clone();

    // A refused hello to the table seats nobody.
    let mut bob = Client::connect(tcp).named("bob");
    hello(&mut bob, Some(&table), &[("Auth", "secret-nobody")]);
    bob.expect_error("unauthorized");
    alice.command("players", "");
    alice.expect("players", "1");
    hello(&mut bob, Some(&table), &[("Auth", "secret-bob")]);
    let (_, bob_id, you) = joined(&mut bob);
    assert_eq!(you["name"], "Bob");
    alice.command("info", &bob_id);
    assert_eq!(
        json_of(&alice.expect_cmd("info")),
        json!({ "id": bob_id, "userId": "id-bob", "name": "Bob" })
    );
    alice.command("info", "not-seated");
    alice.expect("info", "null");

    // Alice's resume token is of no use to another account, and takes nothing from her.
    let mut mallory = Client::connect(tcp).named("mallory");
    let token = at.token.as_str();
    hello(
        &mut mallory,
        Some(&table),
        &[("Auth", "secret-mallory"), ("Token", token)],
    );
    assert!(mallory
        .expect_error("unauthorized")
        .contains("another account"));
    alice.command("players", "");
    alice.expect("players", "2");
    // Her own account takes it back (a second connection of hers).
    let mut again = Client::connect(tcp).named("alice again");
    hello(
        &mut again,
        Some(&table),
        &[("Auth", "secret-alice"), ("Token", token)],
    );
    seated(&mut again);
    assert_eq!(again.whoami(), alice_id, "the same seat");

    // Line mode: `/auth` sets the credential of the next hellos.
    let mut carol = LineClient::connect(tcp);
    carol.send(&format!("/hello {table}"));
    carol.expect_prefix("welcome GGS ");
    carol.expect("error unauthorized unknown user");
    carol.send("/auth secret-carol");
    carol.expect("auth your next hello carries it");
    carol.send(&format!("/hello {table}"));
    let (_, carol_id) = carol.expect_hello();
    let you = carol.expect_prefix("you ");
    assert_eq!(json_of(&you["you ".len()..])["name"], "Carol");

    // WebSocket: the hello's "auth" field, else the upgrade's cookie.
    let mut dave = WsClient::connect(addr).named("dave");
    dave.send(json!({ "type": "hello", "table": table }));
    dave.expect_error("unauthorized");
    dave.send(json!({ "type": "hello", "table": table, "auth": "secret-dave" }));
    dave.expect_cmd("hello");
    assert_eq!(json_of(&dave.expect_cmd("you"))["name"], "Dave");
    let mut erin = WsClient::try_connect_with(addr, &[("cookie", "user=erin")])
        .unwrap_or_else(|(status, body)| panic!("{status}: {body}"));
    erin.send(json!({ "type": "hello", "table": table }));
    erin.expect_cmd("hello");
    assert_eq!(json_of(&erin.expect_cmd("you"))["name"], "Erin");
    // The hook refuses an upgrade: 401 with the usual error body.
    let refused = WsClient::try_connect_with(addr, &[("cookie", "user=nobody")]).err();
    let (status, body) = refused.expect("a refused upgrade");
    assert_eq!(status, 401);
    assert_eq!(
        json_of(&body),
        json!({ "error": "unauthorized", "message": "unknown user" })
    );

    // A script error is observed with its player.
    again.command("boom", "");
    again.expect_error("script_error");

    let joins = |o: &[Observation]| {
        o.iter()
            .filter(|o| matches!(o, Observation::PlayerJoined { .. }))
            .count()
    };
    let all = observed(&seen, |o| {
        joins(o) >= 5
            && o.iter()
                .any(|o| matches!(o, Observation::ScriptError { .. }))
    });
    let table_id: Arc<str> = Arc::from(table.as_str());
    assert_eq!(
        all[0],
        Observation::TableCreated {
            table: table_id.clone(),
            game: Some(("who".to_string(), 1)),
        }
    );
    let names: Vec<String> = all
        .iter()
        .filter_map(|o| match o {
            Observation::PlayerJoined {
                table, identity, ..
            } if *table == table_id => identity.as_ref().map(|i| i.name.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(names, ["Alice", "Bob", "Carol", "Dave", "Erin"], "{all:?}");
    let joined_ids: Vec<&str> = all
        .iter()
        .filter_map(|o| match o {
            Observation::PlayerJoined { player, .. } => Some(&**player),
            _ => None,
        })
        .collect();
    assert_eq!(joined_ids[2], carol_id, "by public id too");
    let error = all.iter().find_map(|o| match o {
        Observation::ScriptError {
            table,
            player,
            code,
            message,
        } if *table == table_id => Some((player.as_deref(), code.as_str(), message.as_str())),
        _ => None,
    });
    let (player, code, message) = error.unwrap_or_else(|| panic!("no script error: {all:?}"));
    assert_eq!((player, code), (Some(alice_id.as_str()), "script_error"));
    assert!(message.contains("boom"), "{message}");
    rt.block_on(ggs.shutdown()).expect("a clean stop");
}

#[test]
fn identities_survive_a_restart_and_seats_leave_tables_observed() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let held = TableSettings {
        seat_grace: Duration::from_secs(60),
        ..TableSettings::default()
    };
    let (ggs, _, _) = start(&rt, dir.path(), held);
    let tcp = ggs.tcp_addr().unwrap();
    let mut alice = Client::connect(tcp).named("alice");
    hello(
        &mut alice,
        None,
        &[("Game", "who"), ("Auth", "secret-alice")],
    );
    let (alice_at, alice_id, _) = joined(&mut alice);
    let table = alice_at.table.clone();
    let mut bob = Client::connect(tcp).named("bob");
    hello(&mut bob, Some(&table), &[("Auth", "secret-bob")]);
    let (bob_at, bob_id, _) = joined(&mut bob);
    rt.block_on(ggs.shutdown()).expect("a clean stop");
    drop((alice, bob));

    // After the restart, both seats are held with their identities.
    let (ggs, _, _) = start(&rt, dir.path(), held);
    let tcp = ggs.tcp_addr().unwrap();
    let mut mallory = Client::connect(tcp).named("mallory");
    let token = bob_at.token.as_str();
    hello(
        &mut mallory,
        Some(&table),
        &[("Auth", "secret-mallory"), ("Token", token)],
    );
    mallory.expect_error("unauthorized");
    let mut bob = Client::connect(tcp).named("bob");
    hello(
        &mut bob,
        Some(&table),
        &[("Auth", "secret-bob"), ("Token", token)],
    );
    seated(&mut bob);
    assert_eq!(bob.whoami(), bob_id);
    bob.command("info", &alice_id);
    assert_eq!(
        json_of(&bob.expect_cmd("info")),
        json!({ "id": alice_id, "userId": "id-alice", "name": "Alice" }),
        "a held seat's identity came back from the store"
    );
    rt.block_on(ggs.shutdown()).expect("a clean stop");
    drop(bob);

    // A seat given up is observed as a leave once its hold runs out; an idle table
    // hibernates; an administrator's stop is observed too.
    let quick = TableSettings {
        seat_grace: Duration::from_millis(200),
        hibernate_after: Duration::from_millis(300),
        ..TableSettings::default()
    };
    let (ggs, addr, seen) = start(&rt, dir.path(), quick);
    let tcp = ggs.tcp_addr().unwrap();
    let mut carol = Client::connect(tcp).named("carol");
    hello(
        &mut carol,
        None,
        &[("Game", "who"), ("Auth", "secret-carol")],
    );
    let (carol_at, carol_id, _) = joined(&mut carol);
    carol.close();
    let id: Arc<str> = Arc::from(carol_at.table.as_str());
    let hibernated = Observation::TableHibernated { table: id.clone() };
    let all = observed(&seen, |o| o.contains(&hibernated));
    let left = Observation::PlayerLeft {
        table: id.clone(),
        player: Arc::from(carol_id.as_str()),
        identity: Some(Identity::new("id-carol", "Carol")),
    };
    assert!(all.contains(&left), "{all:?}");
    assert!(all.contains(&hibernated), "{all:?}");
    let path = format!("/api/tables/{}/stop", carol_at.table);
    let stop = http::admin(addr, ggs.admin_token(), "POST", &path, "");
    assert!(stop.status < 300, "{} {}", stop.status, stop.body);
    let stopped = |o: &[Observation]| {
        o.iter()
            .any(|o| matches!(o, Observation::TableStopped { table, .. } if *table == id))
    };
    assert!(stopped(&observed(&seen, stopped)), "{:?}", seen.lock());
    rt.block_on(ggs.shutdown()).expect("a clean stop");
}

#[test]
fn without_a_hook_players_are_anonymous_whatever_they_carry() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let ggs = rt
        .block_on(
            Builder::new()
                .data_dir(dir.path())
                .builtin_games(false)
                .game("who", WHO)
                .web_client(false)
                .tcp("127.0.0.1:0".parse().unwrap())
                .start(),
        )
        .expect("a start");
    let tcp = ggs.tcp_addr().unwrap();
    let mut alice = Client::connect(tcp).named("alice");
    hello(
        &mut alice,
        None,
        &[("Game", "who"), ("Auth", "secret-alice")],
    );
    let (at, alice_id, you) = joined(&mut alice);
    assert_eq!(you, json!({ "id": alice_id, "userId": null, "name": null }));
    let mut bob = LineClient::connect(tcp);
    bob.send("/auth secret-bob");
    bob.expect_prefix("welcome GGS ");
    bob.expect("auth this server asks for no credential: everyone plays anonymously");
    bob.send(&format!("/hello {}", at.table));
    bob.expect_hello();
    let you = bob.expect_prefix("you ");
    assert_eq!(json_of(&you["you ".len()..])["userId"], Value::Null);
    rt.block_on(ggs.shutdown()).expect("a clean stop");
}
