//! The `ggs` binary's live-upgrade commands: `upgrade` (move running tables of a game to a
//! version), `policy` (how a game's new versions reach tables) and `dev` (watch a script,
//! upload it on every save and upgrade the game's running tables: the edit-and-see loop).

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::{bail, Context};
use ggs_server::api::{GameSummary, Policy, UpgradeReport, UpgradeRequest};

use super::{admin_failure, admin_token, agent, answer, base, with_token, Answer, ClientArgs};

/// How often `ggs dev` looks at the script.
pub const DEV_POLL: Duration = Duration::from_millis(200);

#[derive(clap::Args)]
pub struct UpgradeArgs {
    /// The game.
    game: String,
    /// The version to run [default: the latest].
    #[arg(long)]
    to: Option<u32>,
    /// Upgrade these tables (ids).
    #[arg(long, num_args = 1.., conflicts_with_all = ["all", "canary"])]
    tables: Vec<String>,
    /// Upgrade every table of the game (the default); it also becomes the version new
    /// tables run.
    #[arg(long, conflicts_with = "canary")]
    all: bool,
    /// Upgrade N tables of the game not yet on the version.
    #[arg(long)]
    canary: Option<usize>,
    #[command(flatten)]
    client: ClientArgs,
}

#[derive(clap::Args)]
pub struct PolicyArgs {
    /// The game.
    game: String,
    /// `manual` (an upload changes nothing that runs), `new-tables` (new tables run the newest
    /// upload: the default) or `all` (every upload reaches every running table).
    policy: String,
    #[command(flatten)]
    client: ClientArgs,
}

#[derive(clap::Args)]
pub struct DevArgs {
    /// The script to watch.
    file: PathBuf,
    /// The game's name [default: the file name without `.js`].
    #[arg(long)]
    name: Option<String>,
    #[command(flatten)]
    client: ClientArgs,
}

/// The game name of a script file: `--name`, else its file name without `.js`.
pub fn game_name(file: &Path, name: Option<String>) -> anyhow::Result<String> {
    match name {
        Some(name) => Ok(name),
        None => file
            .file_stem()
            .and_then(|s| s.to_str())
            .map(str::to_string)
            .with_context(|| format!("{} has no name to use; pass --name", file.display())),
    }
}

pub fn upgrade(args: UpgradeArgs) -> anyhow::Result<()> {
    let request = UpgradeRequest {
        to: args.to,
        tables: (!args.tables.is_empty()).then_some(args.tables),
        all: args.all,
        canary: args.canary,
    };
    let report = send_upgrade(&args.client, &args.game, &request)?;
    print_report(&report);
    let failed = report.failed().count();
    if failed > 0 {
        bail!("{failed} of {} tables did not upgrade", report.tables.len());
    }
    Ok(())
}

fn send_upgrade(
    client: &ClientArgs,
    game: &str,
    request: &UpgradeRequest,
) -> anyhow::Result<UpgradeReport> {
    let url = format!("{}/api/games/{game}/upgrade", base(&client.server));
    let token = admin_token(client)?;
    let body = serde_json::to_string(request).expect("a request serialises");
    let call = with_token(agent().post(&url), &token).header("Content-Type", "application/json");
    match answer::<UpgradeReport>(call.send(body.as_str()), &client.server)? {
        Answer::Ok(report) => Ok(report),
        Answer::Failed(e) => bail!("upgrading {game}: {}", admin_failure(&e, client, &token)),
    }
}

pub fn print_report(report: &UpgradeReport) {
    if report.tables.is_empty() {
        println!("{}: no tables to upgrade to v{}", report.game, report.to);
    }
    for table in &report.tables {
        let from = table.from.map_or("-".to_string(), |v| format!("v{v}"));
        match (&table.error, &table.message) {
            (None, _) => println!("{}  {from} -> v{}", table.table, report.to),
            (Some(code), message) => println!(
                "{}  stays {from}: {code} {}",
                table.table,
                message.as_deref().unwrap_or("")
            ),
        }
    }
}

pub fn policy(args: PolicyArgs) -> anyhow::Result<()> {
    let Some(policy) = Policy::parse(&args.policy) else {
        bail!(
            "{:?} is not a policy: manual, new-tables or all",
            args.policy
        );
    };
    let url = format!(
        "{}/api/games/{}/policy",
        base(&args.client.server),
        args.game
    );
    let token = admin_token(&args.client)?;
    let body = serde_json::json!({ "policy": policy.as_str() }).to_string();
    let call = with_token(agent().put(&url), &token).header("Content-Type", "application/json");
    match answer::<GameSummary>(call.send(body.as_str()), &args.client.server)? {
        Answer::Ok(game) => println!(
            "{}: policy {}, new tables run v{}",
            game.name,
            game.policy.as_str(),
            game.current
        ),
        Answer::Failed(e) => bail!(
            "setting the policy of {}: {}",
            args.game,
            admin_failure(&e, &args.client, &token)
        ),
    }
    Ok(())
}

/// Watches the script; on every change uploads it (a compile error is printed with its line
/// and column, and the old version stays) and upgrades every running table of the game to it.
pub fn dev(args: DevArgs) -> anyhow::Result<()> {
    let name = game_name(&args.file, args.name.clone())?;
    let token = admin_token(&args.client)?;
    println!(
        "watching {} as game {name}; every save is uploaded and reaches its running tables",
        args.file.display()
    );
    let mut seen: Option<(SystemTime, String)> = None;
    loop {
        let modified = std::fs::metadata(&args.file).and_then(|m| m.modified());
        let source = std::fs::read_to_string(&args.file);
        match (modified, source) {
            (Ok(modified), Ok(source)) => {
                let changed = seen.as_ref().is_none_or(|(_, s)| *s != source);
                if changed {
                    dev_round(&args, &name, &token, &source)?;
                }
                seen = Some((modified, source));
            }
            (Err(e), _) | (_, Err(e)) => {
                if seen.is_some() {
                    eprintln!("ggs dev: reading {}: {e}", args.file.display());
                    seen = None;
                }
            }
        }
        std::thread::sleep(DEV_POLL);
    }
}

/// One save: upload, then upgrade the game's tables if a new version was stored. Only an
/// unreachable server or a refused token ends the loop; a script error is printed.
fn dev_round(
    args: &DevArgs,
    name: &str,
    token: &Option<String>,
    source: &str,
) -> anyhow::Result<()> {
    let server = &args.client.server;
    let url = format!("{}/api/games/{name}", base(server));
    let call = with_token(agent().put(&url), token).header("Content-Type", "text/javascript");
    let uploaded = match answer::<ggs_server::api::Uploaded>(call.send(source), server)? {
        Answer::Ok(up) => up,
        Answer::Failed(e) if e.error == "compile_error" => {
            println!(
                "{}: {} (the running version stays)",
                args.file.display(),
                e.message
            );
            return Ok(());
        }
        Answer::Failed(e) => bail!(
            "uploading {name}: {}",
            admin_failure(&e, &args.client, token)
        ),
    };
    if !uploaded.created {
        println!("{name} is unchanged at v{}", uploaded.version);
        return Ok(());
    }
    println!("uploaded {name} v{}", uploaded.version);
    let request = UpgradeRequest {
        to: Some(uploaded.version),
        all: true,
        ..UpgradeRequest::default()
    };
    let report = send_upgrade(&args.client, name, &request)?;
    print_report(&report);
    Ok(())
}
