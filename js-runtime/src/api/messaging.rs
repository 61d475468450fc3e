//! `GGS.sendCommand`, `GGS.sendCommandToAll`, `GGS.players`, `GGS.serverInfo`, `GGS.log` and
//! `GGS.tableToken`.

use rquickjs::{Ctx, Function, Object};

use crate::effects::{Message, Recipient};
use crate::vm::{Limit, Shared};

/// Queues a message, or throws once the event has sent its limit.
fn push(
    ctx: &Ctx<'_>,
    data: &Shared,
    to: Recipient,
    command: String,
    args: String,
) -> rquickjs::Result<()> {
    let mut data = data.borrow_mut();
    let max = data.limits.messages_per_event;
    if data.messages.len() >= max {
        let message = format!("an event may send at most {max} messages");
        return Err(data.limit_hit(ctx, Limit::Messages, message));
    }
    data.messages.push(Message { to, command, args });
    Ok(())
}

/// Adds `send`, `sendAll`, `players`, `serverInfo`, `log` and the `tableToken` value to `ops`.
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
        Function::new(ctx.clone(), move || d.borrow().players.clone())?,
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
    Ok(())
}
