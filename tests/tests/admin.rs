//! Web pages cannot drive the admin API: a request from a page of another origin that would
//! change the server is refused (loopback or not) and changes nothing, a Host the server does
//! not answer to is refused on every route (DNS rebinding), admin requests need the token the
//! server made at its first start (kept in its data directory, owner-only, stable across
//! restarts), CORS preflights grant nothing, and a WebSocket from a foreign page is refused
//! unless its origin is allowed.

use ggs_tests::http::{self, Response};
use ggs_tests::{LineClient, ServerOptions, ServerProcess, WsClient};
use serde_json::Value;

const UPLOAD: &str = "function playerCommand(p, c, a) { GGS.sendCommand(p, c, a); }\n";

/// Asserts `response` is a refusal with this status and code.
#[track_caller]
fn assert_refused(response: &Response, status: u16, code: &str) {
    assert_eq!(
        (response.status, response.json_or_null()["error"].as_str()),
        (status, Some(code)),
        "{response:?}"
    );
    let message = response.json()["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(message.len() > 10, "a refusal says why: {response:?}");
}

/// Whether `table` is listed as live.
fn is_live(server: &ServerProcess, table: &str) -> bool {
    let tables = http::get(server.http_addr(), "/api/tables").json();
    tables
        .as_array()
        .expect("a list")
        .iter()
        .any(|t| t["id"] == table)
}

/// A chat table with one line-mode player; returns the player and the table id.
fn chat_table(server: &ServerProcess) -> (LineClient, String) {
    let mut player = server.connect_line().named("player");
    player.send("/hello chat");
    player.expect_prefix("welcome GGS ");
    let table = player.expect_hello().0.table;
    player.expect_prefix("notice ");
    (player, table)
}

#[test]
fn a_cross_origin_change_is_refused_and_changes_nothing() {
    let server = ServerProcess::start();
    let addr = server.http_addr();
    let token = server.admin_token();
    let bearer = http::bearer(&token);
    let (mut player, table) = chat_table(&server);
    let stop = format!("/api/tables/{table}/stop");

    // The attack as a browser sends it: a "simple" POST from another site's page, no token.
    let simple = [
        ("Origin", "http://evil.example"),
        ("Sec-Fetch-Site", "cross-site"),
        ("Content-Type", "text/plain"),
    ];
    assert_refused(
        &http::send(addr, "POST", &stop, &simple, ""),
        403,
        "cross_origin",
    );
    // Even with the token (a page must never hold it), from loopback, by Origin or by
    // Sec-Fetch-Site alone, from another port of the same host, or from an opaque origin.
    for headers in [
        vec![
            ("Origin", "http://evil.example"),
            ("Authorization", bearer.as_str()),
        ],
        vec![
            ("Sec-Fetch-Site", "cross-site"),
            ("Authorization", bearer.as_str()),
        ],
        vec![
            ("Sec-Fetch-Site", "same-site"),
            ("Authorization", bearer.as_str()),
        ],
        vec![
            ("Origin", "http://127.0.0.1:1"),
            ("Authorization", bearer.as_str()),
        ],
        vec![("Origin", "null"), ("Authorization", bearer.as_str())],
    ] {
        assert_refused(
            &http::send(addr, "POST", &stop, &headers, ""),
            403,
            "cross_origin",
        );
        let upload = http::send(addr, "PUT", "/api/games/evil", &headers, UPLOAD);
        assert_refused(&upload, 403, "cross_origin");
    }
    // Nothing changed: the table is live and plays, the game was not stored.
    assert!(is_live(&server, &table), "a refused stop stopped the table");
    player.send("message still here");
    player.expect_prefix("message ");
    assert!(!http::game_names(server.http_addr(), "").contains(&"evil".to_string()));

    // The server's own origin, with the token, may.
    let own = format!("http://{addr}");
    let headers = [
        ("Origin", own.as_str()),
        ("Sec-Fetch-Site", "same-origin"),
        ("Authorization", bearer.as_str()),
    ];
    let stopped = http::send(addr, "POST", &stop, &headers, "");
    assert_eq!(stopped.status, 200, "{stopped:?}");
    player.expect("error table_stopped the table was stopped: an administrator stopped it");
}

#[test]
fn a_rebinding_host_is_refused_on_every_route() {
    let server = ServerProcess::start_with_args(&["--allowed-hosts", "games.example,play.example"]);
    let addr = server.http_addr();
    let bearer = http::bearer(&server.admin_token());
    let evil = format!("evil.example:{}", addr.port());
    let rebound = [("Host", evil.as_str()), ("Authorization", bearer.as_str())];
    for (method, path) in [
        ("GET", "/"),
        ("GET", "/api/games"),
        ("GET", "/api/tables"),
        ("GET", "/metrics"),
        ("PUT", "/api/games/rebound"),
        (
            "POST",
            "/api/tables/00000000-0000-0000-0000-000000000000/stop",
        ),
        ("OPTIONS", "/api/games/rebound"),
    ] {
        let response = http::send(addr, method, path, &rebound, UPLOAD);
        assert_refused(&response, 403, "bad_host");
    }
    let socket = WsClient::try_connect_with(addr, &[("Host", evil.as_str())]);
    let (status, body) = socket.err().expect("a rebound WebSocket is refused");
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("bad_host"), "{body}");
    assert!(!http::game_names(server.http_addr(), "").contains(&"rebound".to_string()));

    // The names it answers to: localhost, IP addresses, and the allowed ones.
    for host in [
        format!("localhost:{}", addr.port()),
        format!("127.0.0.1:{}", addr.port()),
        format!("[::1]:{}", addr.port()),
        format!("Games.Example:{}", addr.port()),
        "play.example".to_string(),
    ] {
        let response = http::send(addr, "GET", "/api/health", &[("Host", &host)], "");
        assert_eq!(response.status, 200, "{host}: {response:?}");
    }
    let host = format!("games.example:{}", addr.port());
    let headers = [("Host", host.as_str()), ("Authorization", bearer.as_str())];
    let uploaded = http::send(addr, "PUT", "/api/games/named", &headers, UPLOAD);
    assert_eq!(uploaded.status, 201, "{uploaded:?}");
}

#[test]
fn admin_requests_need_the_right_token() {
    let server = ServerProcess::start();
    let addr = server.http_addr();
    let missing = http::request(addr, "PUT", "/api/games/unsigned", UPLOAD);
    assert_refused(&missing, 401, "admin_token_required");
    assert_eq!(missing.header("www-authenticate"), Some("Bearer"));
    let wrong = http::admin(addr, &"0".repeat(64), "PUT", "/api/games/unsigned", UPLOAD);
    assert_refused(&wrong, 401, "bad_admin_token");
    let stop = "/api/tables/00000000-0000-0000-0000-000000000000/stop";
    assert_refused(
        &http::request(addr, "POST", stop, ""),
        401,
        "admin_token_required",
    );
    assert_refused(
        &http::admin(addr, "nope", "POST", stop, ""),
        401,
        "bad_admin_token",
    );
    assert!(!http::game_names(server.http_addr(), "").contains(&"unsigned".to_string()));

    let right = server.admin("PUT", "/api/games/signed", UPLOAD);
    assert_eq!(right.status, 201, "{right:?}");
    assert!(http::game_names(server.http_addr(), "").contains(&"signed".to_string()));
    let (mut player, table) = chat_table(&server);
    let stopped = server.admin("POST", &format!("/api/tables/{table}/stop"), "");
    assert_eq!(stopped.status, 200, "{stopped:?}");
    player.expect("error table_stopped the table was stopped: an administrator stopped it");
}

#[cfg(unix)]
#[test]
fn the_token_is_made_once_owner_only_and_kept_across_restarts() {
    use std::os::unix::fs::PermissionsExt;

    let mut server = ServerProcess::start();
    let path = server.data_dir().join(ggs_tests::server::ADMIN_TOKEN_FILE);
    let mode = std::fs::metadata(&path)
        .expect("the token file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "{:o}", mode & 0o777);
    let token = server.admin_token();
    assert_eq!(token.len(), 64, "{token}");
    assert!(token.bytes().all(|b| b.is_ascii_hexdigit()), "{token}");
    let first = server.stderr();
    assert!(
        first.contains(&token),
        "the first start prints the token:\n{first}"
    );

    server.restart();
    assert_eq!(
        server.admin_token(),
        token,
        "the token is kept across restarts"
    );
    let later = server.stderr();
    assert!(
        !later.contains(&token),
        "a later start does not print the token:\n{later}"
    );
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let uploaded = server.admin("PUT", "/api/games/kept", UPLOAD);
    assert_eq!(uploaded.status, 201, "{uploaded:?}");

    // Another data directory, another token.
    let other = ServerProcess::start();
    assert_ne!(other.admin_token(), token);
}

#[test]
fn a_token_set_on_the_server_replaces_the_file() {
    let server = ServerProcess::start_with_args(&["--admin-token", "an-operator-secret"]);
    let addr = server.http_addr();
    let path = server.data_dir().join(ggs_tests::server::ADMIN_TOKEN_FILE);
    assert!(
        !path.exists(),
        "no token file is made when the token is set"
    );
    let set = http::admin(addr, "an-operator-secret", "PUT", "/api/games/set", UPLOAD);
    assert_eq!(set.status, 201, "{set:?}");
    let other = http::admin(addr, "an-operator-secreT", "PUT", "/api/games/set", UPLOAD);
    assert_refused(&other, 401, "bad_admin_token");
    assert!(!server.stderr().contains("an-operator-secret"));
}

#[test]
fn preflights_grant_nothing() {
    let server = ServerProcess::start();
    let addr = server.http_addr();
    for (path, method) in [
        (
            "/api/tables/00000000-0000-0000-0000-000000000000/stop",
            "POST",
        ),
        ("/api/games/evil", "PUT"),
        ("/api/games", "GET"),
        ("/ws", "GET"),
    ] {
        let headers = [
            ("Origin", "http://evil.example"),
            ("Access-Control-Request-Method", method),
            ("Access-Control-Request-Headers", "authorization"),
        ];
        let response = http::send(addr, "OPTIONS", path, &headers, "");
        assert_eq!(response.status, 204, "{path}: {response:?}");
        assert!(response.body.is_empty(), "{response:?}");
        let grants: Vec<&(String, String)> = response
            .headers
            .iter()
            .filter(|(name, _)| name.starts_with("access-control-"))
            .collect();
        assert!(grants.is_empty(), "{path}: a preflight grants {grants:?}");
    }
    // No answer grants another origin anything either.
    let games = http::send(
        addr,
        "GET",
        "/api/games",
        &[("Origin", "http://evil.example")],
        "",
    );
    assert_eq!(games.status, 200);
    assert_eq!(games.header("access-control-allow-origin"), None);
}

#[test]
fn a_websocket_from_a_foreign_page_is_refused_unless_its_origin_is_allowed() {
    let server = ServerProcess::start();
    let addr = server.http_addr();
    let refused = WsClient::try_connect_with(addr, &[("Origin", "http://evil.example")]);
    let (status, body) = refused
        .err()
        .expect("a foreign page's WebSocket is refused");
    assert_eq!(status, 403, "{body}");
    let body: Value = serde_json::from_str(&body).expect("a JSON refusal");
    assert_eq!(body["error"], "cross_origin", "{body}");

    // The server's own pages, and clients that are not pages (no Origin), play.
    let own = format!("http://{addr}");
    for headers in [vec![("Origin", own.as_str())], vec![]] {
        let mut ws = WsClient::try_connect_with(addr, &headers).expect("a WebSocket");
        ws.send_text(r#"{"type":"hello"}"#);
        let hello = ws.recv();
        assert_eq!(hello.command, "hello", "{hello}");
    }

    // A game site on another domain that embeds the client, once allowed.
    let server = ServerProcess::start_with(ServerOptions::default().args(&[
        "--allowed-origins",
        "https://games.example,https://other.example",
    ]));
    let addr = server.http_addr();
    let mut ws = WsClient::try_connect_with(addr, &[("Origin", "https://games.example")])
        .expect("an allowed origin's WebSocket");
    ws.send_text(r#"{"type":"hello"}"#);
    assert_eq!(ws.recv().command, "hello");
    let refused = WsClient::try_connect_with(addr, &[("Origin", "http://evil.example")]);
    assert_eq!(refused.err().map(|(status, _)| status), Some(403));
    // An allowed origin still may not change the server.
    let headers = [
        ("Origin", "https://games.example"),
        ("Authorization", &*http::bearer(&server.admin_token())),
    ];
    let upload = http::send(addr, "PUT", "/api/games/embedded", &headers, UPLOAD);
    assert_refused(&upload, 403, "cross_origin");
}

#[test]
fn the_allowlists_come_from_the_settings_file_and_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("ggs.toml");
    std::fs::write(
        &config,
        "allowed_hosts = [\"games.example\", \"play.example\"]\n",
    )
    .unwrap();
    let mut options = ServerOptions::default().args(&["--config", config.to_str().unwrap()]);
    options.env.push((
        "GGS_ALLOWED_ORIGINS".into(),
        "https://a.example,https://b.example".into(),
    ));
    let server = ServerProcess::start_with(options);
    let addr = server.http_addr();
    for (host, status) in [
        ("games.example", 200),
        ("play.example", 200),
        ("evil.example", 403),
    ] {
        let response = http::send(addr, "GET", "/api/health", &[("Host", host)], "");
        assert_eq!(response.status, status, "{host}: {response:?}");
    }
    for (origin, allowed) in [("https://b.example", true), ("https://c.example", false)] {
        let socket = WsClient::try_connect_with(addr, &[("Origin", origin)]);
        assert_eq!(socket.is_ok(), allowed, "{origin}");
    }
}
