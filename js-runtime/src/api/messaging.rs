//! `GGS.sendCommand`, `GGS.sendCommandToAll`, `GGS.players`, `GGS.playerInfo`,
//! `GGS.serverInfo`, `GGS.log` and `GGS.tableToken`.

use rquickjs::{Ctx, Function, Object};

use crate::effects::{Message, Recipient};
use crate::vm::{Fault, Limit, Shared};

/// Longest command name a script may send, in bytes.
pub const MAX_COMMAND_NAME: usize = 128;

/// Queues a message, or throws once the event has sent its limit.
fn push(
    ctx: &Ctx<'_>,
    data: &Shared,
    to: Recipient,
    command: String,
    args: String,
) -> rquickjs::Result<()> {
    super::check_name(ctx, "a command name", &command, MAX_COMMAND_NAME)?;
    let mut data = data.borrow_mut();
    let max = data.limits.messages_per_event;
    if data.messages.len() >= max {
        let message = format!("an event may send at most {max} messages");
        return Err(data.limit_hit(ctx, Limit::Messages, message));
    }
    let max_bytes = data.limits.message_bytes_per_event;
    let bytes = data.message_bytes + command.len() + args.len();
    if bytes > max_bytes {
        let message = format!("an event may send at most {max_bytes} bytes of messages");
        return Err(data.limit_hit(ctx, Limit::Messages, message));
    }
    data.message_bytes = bytes;
    data.messages.push(Message { to, command, args });
    Ok(())
}

/// `ops.playerInfo(id)`: nothing for a player not seated, `[]` for an anonymous one,
/// `[userId, name]` for one the application identified (the prelude makes it an object).
fn player_info(data: &Shared, id: &str) -> Option<Vec<String>> {
    let data = data.borrow();
    if !data.players.iter().any(|p| p == id) {
        return None;
    }
    Some(match data.identities.get(id) {
        Some(identity) => vec![identity.user_id.clone(), identity.name.clone()],
        None => Vec::new(),
    })
}

/// Adds `send`, `sendAll`, `players`, `playerInfo`, `serverInfo`, `log` and the `tableToken`
/// value to `ops`.
pub(crate) fn register<'js>(
    ctx: &Ctx<'js>,
    ops: &Object<'js>,
    data: &Shared,
) -> rquickjs::Result<()> {
    let d = data.clone();
    ops.set(
        "send",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, to: String, command: String, args: String| {
                push(&ctx, &d, Recipient::Player(to), command, args)
            },
        )?,
    )?;
    let d = data.clone();
    ops.set(
        "sendAll",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, command: String, args: String| {
                push(&ctx, &d, Recipient::All, command, args)
            },
        )?,
    )?;
    let d = data.clone();
    ops.set(
        "players",
        Function::new(ctx.clone(), move || d.borrow().players.to_vec())?,
    )?;
    let d = data.clone();
    ops.set(
        "playerInfo",
        Function::new(ctx.clone(), move |id: String| player_info(&d, &id))?,
    )?;
    let d = data.clone();
    ops.set(
        "serverInfo",
        Function::new(ctx.clone(), move || d.borrow().server_players as f64)?,
    )?;
    let d = data.clone();
    ops.set(
        "log",
        Function::new(ctx.clone(), move |line: String| {
            tracing::info!(table = %d.borrow().table, "script: {line}");
        })?,
    )?;
    ops.set("tableToken", data.borrow().table.to_string())?;
    if data.borrow().limits.fault_injection {
        let d = data.clone();
        ops.set(
            "fault",
            Function::new(ctx.clone(), move |kind: String| match kind.as_str() {
                "panic" => panic!("fault injected into a host function"),
                "thread" => d.borrow_mut().fault = Some(Fault::Thread),
                "actor" => d.borrow_mut().fault = Some(Fault::Actor),
                _ => {}
            })?,
        )?;
    }
    Ok(())
}
