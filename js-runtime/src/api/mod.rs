//! The `GGS` object scripts see: a JS prelude over native functions grouped by area.
//!
//! Every area has one shape: a `register(ctx, ops, data)` that adds its native functions to the
//! private `ops` object. The prelude (`prelude.js`) then builds the public, frozen `GGS` object
//! from `ops`, so scripts never reach the natives directly and values always cross the seam as
//! JS values, never as source text.

pub(crate) mod extension;
pub(crate) mod messaging;
pub(crate) mod storage;

pub use extension::MAX_EMIT_NAME;
pub use timers::MIN_TICK_MS;
pub(crate) mod timers;

use rquickjs::{Ctx, Function, Object};

use crate::vm::Shared;

const PRELUDE: &str = include_str!("prelude.js");

/// Characters of a refused name shown back in the error.
const SHOWN_NAME_CHARS: usize = 40;

/// Throws a `TypeError` unless `name` (what the script named: `what`, e.g. "a command name")
/// is 1 to `max` bytes without control characters: the rule for every name a script sends.
pub(crate) fn check_name(
    ctx: &Ctx<'_>,
    what: &str,
    name: &str,
    max: usize,
) -> rquickjs::Result<()> {
    if name.is_empty() || name.len() > max || name.chars().any(char::is_control) {
        let shown: String = name.chars().take(SHOWN_NAME_CHARS).collect();
        return Err(rquickjs::Exception::throw_type(
            ctx,
            &format!("{what} must be 1 to {max} bytes without control characters, got {shown:?}"),
        ));
    }
    Ok(())
}

/// Installs the global `GGS` object and timers into a fresh context bound to the table's data.
/// Returns the private handle the VM uses for state and timers (see `prelude.js`).
pub(crate) fn install<'js>(ctx: &Ctx<'js>, data: &Shared) -> rquickjs::Result<Object<'js>> {
    let ops = Object::new(ctx.clone())?;
    storage::register(ctx, &ops, data)?;
    messaging::register(ctx, &ops, data)?;
    timers::register(ctx, &ops, data)?;
    extension::register(ctx, &ops, data)?;
    let build: Function = ctx.eval(PRELUDE)?;
    let state = data.borrow().state.clone();
    build.call((ops, state))
}
