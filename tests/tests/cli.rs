//! The `ggs` command line: `version`, every command's `--help`, the client commands against a
//! running server (`upload`, `games`, `tables`, `stop-table`) with the admin token they find in
//! the server's data directory, and settings from a `ggs.toml` beneath the environment and the
//! flags.

use std::path::Path;
use std::process::{Command, Output};

use ggs_tests::{ggs_binary, LineClient, ServerOptions, ServerProcess};

/// Runs `ggs` with `args` in `dir` (the environment cleared of `GGS_*` settings).
fn ggs(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(ggs_binary());
    command.current_dir(dir).args(args);
    for (key, _) in std::env::vars() {
        if key.starts_with("GGS_") {
            command.env_remove(key);
        }
    }
    command
        .envs(env.iter().copied())
        .output()
        .expect("running ggs")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn version_and_help() {
    let dir = tempfile::tempdir().unwrap();
    let out = ggs(dir.path(), &["version"], &[]);
    assert!(out.status.success());
    assert_eq!(
        stdout(&out).trim(),
        format!("ggs {}", env!("CARGO_PKG_VERSION"))
    );
    let out = ggs(dir.path(), &["--help"], &[]);
    let help = stdout(&out);
    for command in [
        "serve",
        "upload",
        "games",
        "tables",
        "stop-table",
        "version",
    ] {
        assert!(help.contains(command), "{command} missing from:\n{help}");
        let out = ggs(dir.path(), &[command, "--help"], &[]);
        assert!(out.status.success(), "{command} --help: {}", stderr(&out));
    }
    let serve = stdout(&ggs(dir.path(), &["serve", "--help"], &[]));
    for flag in [
        "--tcp",
        "--seat-grace-ms",
        "--admin-token",
        "--config",
        "GGS_DURABILITY",
    ] {
        assert!(serve.contains(flag), "{flag} missing from:\n{serve}");
    }
    let upload = stdout(&ggs(dir.path(), &["upload", "--help"], &[]));
    for flag in ["--name", "--server", "GGS_SERVER"] {
        assert!(upload.contains(flag), "{flag} missing from:\n{upload}");
    }
}

#[test]
fn client_commands_talk_to_a_running_server() {
    let server = ServerProcess::start();
    let url = format!("http://{}", server.http_addr());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("hello-world.js");
    std::fs::write(
        &file,
        "// Hello world: greets whoever joins.\nfunction playerJoined(p) { GGS.sendCommand(p, 'hi', 'world'); }\n",
    )
    .unwrap();
    let path = file.to_str().unwrap();
    // The admin commands read the server's admin token from its data directory.
    let data = server.data_dir().to_str().unwrap().to_string();

    let out = ggs(
        dir.path(),
        &["upload", path, "--server", &url, "--data-dir", &data],
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "uploaded hello-world version 1");
    // The server address from the environment; an unchanged file stores nothing.
    let out = ggs(
        dir.path(),
        &["upload", path],
        &[("GGS_SERVER", &url), ("GGS_DATA_DIR", &data)],
    );
    assert_eq!(stdout(&out).trim(), "hello-world is unchanged at version 1");
    let out = ggs(
        dir.path(),
        &[
            "upload",
            path,
            "--name",
            "greeter",
            "--server",
            &url,
            "--data-dir",
            &data,
        ],
        &[],
    );
    assert_eq!(stdout(&out).trim(), "uploaded greeter version 1");

    let broken = dir.path().join("broken.js");
    std::fs::write(&broken, "var a = 1;\nvar b = (a + );\n").unwrap();
    let out = ggs(
        dir.path(),
        &[
            "upload",
            broken.to_str().unwrap(),
            "--server",
            &url,
            "--data-dir",
            &data,
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    let error = stderr(&out);
    assert!(
        error.contains("broken.js: SyntaxError: ") && error.contains(" at line 2, column "),
        "{error}"
    );

    let out = ggs(dir.path(), &["games", "--server", &url], &[]);
    let games = stdout(&out);
    let names: Vec<&str> = games
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(
        names,
        [
            "tictactoe",
            "pong",
            "chat",
            "guess",
            "greeter",
            "hello-world"
        ]
    );
    assert!(
        games.contains("v1  Hello world: greets whoever joins."),
        "{games}"
    );

    let out = ggs(dir.path(), &["tables", "--server", &url], &[]);
    assert_eq!(stdout(&out).trim(), "no live tables");
    let mut player = LineClient::connect(server.tcp_addr()).named("player");
    player.send("/hello hello-world");
    player.expect_prefix("welcome GGS ");
    let hello = player.expect_prefix("hello ");
    // hello <token>,<defined>,<table-id>,<player-id>
    let table = hello.split(',').nth(2).unwrap().to_string();
    player.expect("hi world");
    let out = ggs(dir.path(), &["tables", "--server", &url], &[]);
    let tables = stdout(&out);
    assert!(
        tables.starts_with(&format!("{table}  hello-world v1")),
        "{tables}"
    );
    assert!(tables.contains("1 connected, 1 seats"), "{tables}");

    let stop = ["stop-table", &table, "--server", &url, "--data-dir", &data];
    let out = ggs(dir.path(), &stop, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), format!("stopped table {table}"));
    player.expect("error table_stopped the table was stopped: an administrator stopped it");
    let out = ggs(dir.path(), &stop, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("no live table"), "{}", stderr(&out));

    // No server there: a clear error.
    let out = ggs(
        dir.path(),
        &["games", "--server", "http://127.0.0.1:1"],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("cannot reach the server"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn the_admin_commands_find_the_servers_token() {
    let server = ServerProcess::start();
    let url = format!("http://{}", server.http_addr());
    let data = server.data_dir().to_str().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tokened.js");
    std::fs::write(&file, "function playerCommand(p, c, a) {}\n").unwrap();
    let path = file.to_str().unwrap();
    let uploaded = |out: &Output| {
        assert!(out.status.success(), "{}", stderr(out));
        assert!(stdout(out).contains("tokened"), "{}", stdout(out));
    };

    // No token anywhere (./ggs-data does not exist here): refused, saying where it looked.
    let out = ggs(dir.path(), &["upload", path, "--server", &url], &[]);
    assert_eq!(out.status.code(), Some(1));
    let error = stderr(&out);
    assert!(error.contains("Authorization: Bearer"), "{error}");
    assert!(error.contains("ggs-data/admin-token"), "{error}");
    assert!(error.contains("--data-dir"), "{error}");
    // A wrong token, by flag or by variable, is refused and wins over the data directory.
    let wrong = "0".repeat(64);
    let out = ggs(
        dir.path(),
        &[
            "upload",
            path,
            "--server",
            &url,
            "--data-dir",
            &data,
            "--admin-token",
            &wrong,
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("not the server's admin token"),
        "{}",
        stderr(&out)
    );
    let out = ggs(
        dir.path(),
        &["upload", path, "--server", &url, "--data-dir", &data],
        &[("GGS_ADMIN_TOKEN", &wrong)],
    );
    assert_eq!(out.status.code(), Some(1));

    // The token itself, by flag or variable.
    let token = server.admin_token();
    uploaded(&ggs(
        dir.path(),
        &["upload", path, "--server", &url, "--admin-token", &token],
        &[],
    ));
    uploaded(&ggs(
        dir.path(),
        &["upload", path, "--server", &url],
        &[("GGS_ADMIN_TOKEN", &token)],
    ));
    // The data directory from a ggs.toml, as the server reads it too.
    std::fs::write(
        dir.path().join("ggs.toml"),
        format!("data_dir = {data:?}\nserver = {url:?}\n"),
    )
    .unwrap();
    uploaded(&ggs(dir.path(), &["upload", path], &[]));
    // ./ggs-data, the default, when the command runs where the server keeps its data.
    std::fs::remove_file(dir.path().join("ggs.toml")).unwrap();
    let local = dir.path().join("ggs-data");
    std::fs::create_dir(&local).unwrap();
    std::fs::write(local.join("admin-token"), format!("{token}\n")).unwrap();
    uploaded(&ggs(dir.path(), &["upload", path, "--server", &url], &[]));
}

/// How many tables one connection may create on a server started with these options.
fn tables_allowed(options: ServerOptions) -> usize {
    let server = ServerProcess::start_with(options);
    let mut client = server.connect();
    for n in 0..4 {
        client.send_hello(None);
        let reply = client.recv();
        if reply.command == "error" {
            assert!(reply.body.starts_with("too_many_tables"), "{reply}");
            return n;
        }
        assert_eq!(reply.command, "hello", "{reply}");
    }
    4
}

#[test]
fn settings_come_from_the_file_then_the_environment_then_flags() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("ggs.toml");
    std::fs::write(&config, "tables_per_connection = 1\nseat-grace-ms = 0\n").unwrap();
    let config = config.to_str().unwrap().to_string();
    let from_file = ServerOptions::default().args(&["--config", &config]);
    assert_eq!(tables_allowed(from_file.clone()), 1);
    let mut from_env = from_file.clone();
    from_env
        .env
        .push(("GGS_TABLES_PER_CONNECTION".into(), "2".into()));
    assert_eq!(tables_allowed(from_env.clone()), 2);
    let from_flag = from_env.args(&["--tables-per-connection", "3"]);
    assert_eq!(tables_allowed(from_flag), 3);

    // ./ggs.toml is read when there is no --config; a key no command knows is an error.
    std::fs::write(
        dir.path().join("ggs.toml"),
        "tcp = \"127.0.0.1:0\"\nspeed = 11\n",
    )
    .unwrap();
    let out = ggs(dir.path(), &["serve"], &[]);
    assert_eq!(out.status.code(), Some(2));
    let error = stderr(&out);
    assert!(
        error.contains("ggs.toml: unknown setting \"speed\""),
        "{error}"
    );
    assert!(
        error.contains("seat_grace_ms"),
        "the error lists the settings: {error}"
    );
    // A setting of the wrong type names the flag it sets.
    std::fs::write(dir.path().join("ggs.toml"), "max_body = \"lots\"\n").unwrap();
    let out = ggs(dir.path(), &["serve"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--max-body"), "{}", stderr(&out));
    let out = ggs(dir.path(), &["serve", "--config", "missing.toml"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("missing.toml"), "{}", stderr(&out));
}
