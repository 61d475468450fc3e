//! `GGS.host.NAME(...)` (the embedding application's functions) and `GGS.emit(name, payload)`
//! (effects for the application, released once the event is durable).
//!
//! Values cross as values: the engine's own JSON conversion (never the script's `JSON`, never
//! source text) turns the arguments and the payload into `serde_json::Value`s and a result
//! back into a JS value, each bounded in size.

use std::panic::{catch_unwind, AssertUnwindSafe};

use rquickjs::{Ctx, Exception, Function, Object, Value};

use crate::effects::Emit;
use crate::vm::{Limit, Shared};

/// Longest emit name a script may give, in bytes.
pub const MAX_EMIT_NAME: usize = 128;

/// `value` as JSON text by the engine's own `JSON.stringify` (`None`: not representable,
/// e.g. `undefined` or a function).
fn to_json<'js>(ctx: &Ctx<'js>, value: Value<'js>) -> rquickjs::Result<Option<String>> {
    match ctx.json_stringify(value)? {
        Some(text) => Ok(Some(text.to_string()?)),
        None => Ok(None),
    }
}

/// Calls the host function `name` with `args` (a JS array), under the event's deadline.
fn call<'js>(
    ctx: &Ctx<'js>,
    data: &Shared,
    name: String,
    args: Value<'js>,
) -> rquickjs::Result<Value<'js>> {
    let (function, max, table) = {
        let data = data.borrow();
        let function = data.host.get(&name).cloned();
        (function, data.limits.host_value_bytes, data.table.clone())
    };
    let Some(function) = function else {
        return Err(Exception::throw_type(
            ctx,
            &format!("GGS.host.{name} is not a host function"),
        ));
    };
    let json = to_json(ctx, args)?.unwrap_or_else(|| "[]".to_string());
    if json.len() > max {
        let message = format!(
            "the arguments of a GGS.host call may be at most {max} bytes as JSON; these are {}",
            json.len()
        );
        return Err(data.borrow_mut().limit_hit(ctx, Limit::HostValue, message));
    }
    let Ok(args) = serde_json::from_str::<serde_json::Value>(&json) else {
        return Err(Exception::throw_type(
            ctx,
            &format!("the arguments of GGS.host.{name} must be JSON-compatible"),
        ));
    };
    let result = catch_unwind(AssertUnwindSafe(|| function(&table, args)));
    let (deadline, pulse) = {
        let data = data.borrow();
        (data.deadline.clone(), data.pulse.clone())
    };
    if result.is_err() {
        // The panic hook paused the thread's pulse: the event goes on.
        if let Some(pulse) = pulse {
            pulse.beat();
        }
    }
    if deadline.passed() {
        // The event fails with `script_timeout` whatever the script does with this error.
        return Err(Exception::throw_message(
            ctx,
            &format!("GGS.host.{name} returned after the event's deadline"),
        ));
    }
    match result {
        Ok(Ok(value)) => {
            let text = value.to_string();
            if text.len() > max {
                let message = format!(
                    "the result of a GGS.host call may be at most {max} bytes as JSON; GGS.host.{name} returned {}",
                    text.len()
                );
                return Err(data.borrow_mut().limit_hit(ctx, Limit::HostValue, message));
            }
            ctx.json_parse(text)
        }
        Ok(Err(message)) => Err(Exception::throw_message(ctx, &message)),
        Err(_) => {
            tracing::error!(table = %data.borrow().table, "host function {name} panicked");
            Err(Exception::throw_message(
                ctx,
                &format!("GGS.host.{name} failed (the host function panicked)"),
            ))
        }
    }
}

/// Queues an emit, or throws (a bad name, a payload that is not JSON, past the event's bounds).
fn emit<'js>(
    ctx: &Ctx<'js>,
    data: &Shared,
    name: String,
    payload: Value<'js>,
) -> rquickjs::Result<()> {
    super::check_name(ctx, "an emit name", &name, MAX_EMIT_NAME)?;
    // Before borrowing the table's data: a `toJSON` in the payload is script code.
    let json = to_json(ctx, payload)?.unwrap_or_else(|| "null".to_string());
    let Ok(payload) = serde_json::from_str::<serde_json::Value>(&json) else {
        return Err(Exception::throw_type(
            ctx,
            "an emit payload must be JSON-compatible",
        ));
    };
    let mut data = data.borrow_mut();
    let max = data.limits.emits_per_event;
    if data.emits.len() >= max {
        let message = format!("an event may emit at most {max} times");
        return Err(data.limit_hit(ctx, Limit::Emits, message));
    }
    let max_bytes = data.limits.emit_bytes_per_event;
    let bytes = data.emit_bytes + name.len() + json.len();
    if bytes > max_bytes {
        let message =
            format!("an event may emit at most {max_bytes} bytes (names + JSON payloads)");
        return Err(data.limit_hit(ctx, Limit::Emits, message));
    }
    data.emit_bytes = bytes;
    data.emits.push(Emit { name, payload });
    Ok(())
}

/// Adds `hostNames` (the registered names), `hostCall` and `emit` to `ops`.
pub(crate) fn register<'js>(
    ctx: &Ctx<'js>,
    ops: &Object<'js>,
    data: &Shared,
) -> rquickjs::Result<()> {
    let names: Vec<String> = data.borrow().host.names().map(str::to_owned).collect();
    ops.set("hostNames", names)?;
    let d = data.clone();
    ops.set(
        "hostCall",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, name: String, args: Value<'js>| call(&ctx, &d, name, args),
        )?,
    )?;
    let d = data.clone();
    ops.set(
        "emit",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, name: String, payload: Value<'js>| emit(&ctx, &d, name, payload),
        )?,
    )?;
    Ok(())
}
