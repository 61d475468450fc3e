//! `GGS.sendCommand`, `GGS.sendCommandToAll`, `GGS.players`, `GGS.serverInfo`, `GGS.log` and
//! `GGS.tableToken`.

use rquickjs::{Ctx, Function, Object};

use crate::effects::{Message, Recipient};
use crate::vm::Shared;

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
            move |to: String, command: String, args: String| {
                d.borrow_mut().messages.push(Message {
                    to: Recipient::Player(to),
                    command,
                    args,
                })
            },
        )?,
    )?;
    let d = data.clone();
    ops.set(
        "sendAll",
        Function::new(ctx.clone(), move |command: String, args: String| {
            d.borrow_mut().messages.push(Message {
                to: Recipient::All,
                command,
                args,
            })
        })?,
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
