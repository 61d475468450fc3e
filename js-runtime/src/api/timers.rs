//! `GGS.setTick` and the clock behind `setTimeout` / `setInterval` (which live in the prelude).

use rquickjs::{Ctx, Function, Object};

use crate::vm::Shared;

/// Shortest tick interval a script may set, in milliseconds (a smaller non-zero value is raised to it).
pub const MIN_TICK_MS: u32 = 10;

/// Adds `setTick` and `now` (milliseconds since the runtime's table was opened) to `ops`.
pub(crate) fn register<'js>(
    ctx: &Ctx<'js>,
    ops: &Object<'js>,
    data: &Shared,
) -> rquickjs::Result<()> {
    let d = data.clone();
    ops.set(
        "setTick",
        Function::new(ctx.clone(), move |ms: f64| {
            let ms = if ms <= 0.0 {
                0
            } else {
                (ms.min(u32::MAX as f64) as u32).max(MIN_TICK_MS)
            };
            d.borrow_mut().tick_pending = Some(ms);
        })?,
    )?;
    let d = data.clone();
    ops.set(
        "now",
        Function::new(ctx.clone(), move || {
            d.borrow().epoch.elapsed().as_secs_f64() * 1000.0
        })?,
    )?;
    Ok(())
}
