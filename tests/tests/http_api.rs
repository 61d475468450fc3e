//! The HTTP port: health, the built-in games and their sources, the live tables, Prometheus
//! metrics, and the embedded web client.

use std::time::Duration;

use ggs_tests::http::get;
use ggs_tests::{game_source, ServerProcess};
use serde_json::Value;

#[test]
fn health_games_and_sources() {
    let server = ServerProcess::start();
    let http = server.http_addr();

    let health = get(http, "/api/health");
    assert_eq!(health.status, 200);
    assert_eq!(health.json()["status"], "ok");

    let games = get(http, "/api/games").json();
    let names: Vec<&str> = games
        .as_array()
        .expect("a list")
        .iter()
        .map(|g| g["name"].as_str().expect("a name"))
        .collect();
    assert_eq!(names, ["tictactoe", "pong", "chat", "guess"]);
    for game in games.as_array().unwrap() {
        let description = game["description"].as_str().expect("a description");
        assert!(description.len() > 10, "{game}");
    }
    assert!(games[2]["description"]
        .as_str()
        .unwrap()
        .starts_with("Chat: a multi-user chat room"));

    let source = get(http, "/api/games/chat.js");
    assert_eq!(source.status, 200);
    assert!(source.content_type().starts_with("text/javascript"));
    assert_eq!(source.body, game_source("chat.js"));
    let chat = get(http, "/api/games/chat").json();
    assert_eq!(chat["source"], game_source("chat.js"));
    assert_eq!(chat["version"], 1);
    assert_eq!(get(http, "/api/games/nope").status, 404);
    assert_eq!(get(http, "/api/games/nope.js").status, 404);
}

#[test]
fn tables_lists_the_live_tables() {
    let server = ServerProcess::start();
    let http = server.http_addr();
    assert_eq!(get(http, "/api/tables").json(), serde_json::json!([]));

    let mut chat = server.connect().named("chat host");
    let chat_table = chat.hello(None).table;
    chat.define_ok(&game_source("chat.js"));
    let mut guest = server.connect().named("chat guest");
    guest.hello(Some(&chat_table));
    chat.expect_cmd("notice");

    let mut custom = server.connect().named("custom host");
    let custom_table = custom.hello(None).table;
    custom.define_ok("function playerCommand(p, c, a) {}");

    let mut empty = server.connect().named("empty host");
    let empty_table = empty.hello(None).table;
    // The hello reply comes after the join is handled; the table info is updated right after.
    std::thread::sleep(Duration::from_millis(100));

    let tables = get(http, "/api/tables").json();
    let find = |id: &str| {
        tables
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["id"] == id)
            .unwrap_or_else(|| panic!("table {id} is not listed: {tables}"))
            .clone()
    };
    let t = find(&chat_table);
    assert_eq!(t["game"], "chat");
    assert_eq!(t["players"], 2);
    assert_eq!(t["seats"], 2);
    assert!(t["created_ms"].as_u64().unwrap() > 1_600_000_000_000);
    assert!(t["last_event_ms"].as_u64().unwrap() >= t["created_ms"].as_u64().unwrap());
    let t = find(&custom_table);
    assert_eq!(t["game"], "custom");
    assert_eq!(t["players"], 1);
    let t = find(&empty_table);
    assert_eq!(t["game"], Value::Null);
    assert_eq!(t["players"], 1);
}

#[test]
fn metrics_are_in_prometheus_text_format() {
    let server = ServerProcess::start();
    let http = server.http_addr();
    let mut client = server.connect();
    client.hello(None);
    client.define_ok("function playerCommand(p, c, a) { if (c === 'bad') throw new Error('no'); }");
    client.command("ok", "");
    client.command("bad", "");
    client.expect_error("script_error");
    let mut ws = server.connect_ws().named("ws");
    ws.send_text(r#"{"type":"hello"}"#);
    let hello = ws.recv();
    assert!(hello.command == "hello", "{hello}");

    let metrics = get(http, "/metrics");
    assert_eq!(metrics.status, 200);
    assert!(
        metrics.content_type().starts_with("text/plain"),
        "{}",
        metrics.content_type()
    );
    let text = metrics.body;
    for name in [
        "ggs_connections{transport=\"tcp\"} 1",
        "ggs_connections{transport=\"ws\"} 1",
        "ggs_bytes_in_total{transport=\"ws\"} 16",
        "ggs_connections_total{transport=\"tcp\"} 1",
        "ggs_players_connected 2",
        "ggs_tables_live 2",
        "ggs_tables_on_disk 2",
        "ggs_events_total",
        "ggs_events_per_second",
        "ggs_script_errors_total{code=\"script_error\"} 1",
        "ggs_commit_latency_seconds_bucket{le=\"0.001\"}",
        "ggs_commit_latency_seconds_count",
        "ggs_bytes_in_total{transport=\"tcp\"}",
        "ggs_bytes_out_total{transport=\"tcp\"}",
        "# TYPE ggs_commit_latency_seconds histogram",
    ] {
        assert!(text.contains(name), "/metrics lacks {name}:\n{text}");
    }
    let events = text
        .lines()
        .find_map(|l| l.strip_prefix("ggs_events_total "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .expect("an event count");
    assert!(events >= 3.0, "define, ok and bad are events: {events}");
    if cfg!(target_os = "linux") {
        let resident = text
            .lines()
            .find_map(|l| l.strip_prefix("ggs_resident_memory_bytes "))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or_else(|| panic!("/metrics lacks the resident memory:\n{text}"));
        assert!(
            resident > 1_000_000.0,
            "a running server has more than 1 MB resident: {resident}"
        );
    }
}

#[test]
fn the_web_client_is_served_from_the_binary() {
    let server = ServerProcess::start();
    let http = server.http_addr();
    let index = get(http, "/");
    assert_eq!(index.status, 200);
    assert!(index.content_type().starts_with("text/html"));
    assert!(index.body.contains("<title>GGS"), "{}", index.body);
    for (path, kind) in [
        ("/tictactoe.html", "text/html"),
        ("/pong.html", "text/html"),
        ("/chat.html", "text/html"),
        ("/admin", "text/html"),
        ("/admin.js", "text/javascript"),
        ("/ggs.js", "text/javascript"),
        ("/style.css", "text/css"),
    ] {
        let r = get(http, path);
        assert_eq!(r.status, 200, "{path}");
        assert!(
            r.content_type().starts_with(kind),
            "{path}: {}",
            r.content_type()
        );
    }
    let admin = get(http, "/admin");
    assert!(admin.body.contains("Operator's console"), "{}", admin.body);
    assert_eq!(get(http, "/nope.html").status, 404);
    assert_eq!(get(http, "/../Cargo.toml").status, 404);
}
