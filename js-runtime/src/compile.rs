//! Compiling a game script without running it: the check an upload to the catalogue passes.
//!
//! The source is parsed and compiled to bytecode in a throwaway runtime (with the same memory
//! and stack bounds as a table's), then thrown away. Nothing of it runs, so a script cannot
//! loop, allocate or call the API here; only its syntax is judged.

use std::ffi::CString;

use rquickjs::{qjs, Context, Ctx, Runtime, Value};

use crate::limits::{DEFAULT_MEMORY_LIMIT, DEFAULT_STACK_LIMIT};

/// The file name compile errors point into, as at run time (`game.js:L:C`).
const SCRIPT_NAME: &str = "game.js";

/// Why a script does not compile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompileError {
    /// A syntax error, with its place when QuickJS reports one.
    #[error("{message}{}", place(*.line, *.column))]
    Syntax {
        /// The error, e.g. `SyntaxError: unexpected token in expression: ')'`.
        message: String,
        /// 1-based line.
        line: Option<u32>,
        /// 1-based column.
        column: Option<u32>,
    },
    /// The source contains a NUL byte, which no script may hold.
    #[error("the script contains a NUL byte")]
    Nul,
    /// The compiler could not be started (out of memory).
    #[error("cannot start the compiler: {0}")]
    Runtime(String),
}

fn place(line: Option<u32>, column: Option<u32>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!(" at line {l}, column {c}"),
        (Some(l), None) => format!(" at line {l}"),
        _ => String::new(),
    }
}

/// Compiles `source` as a classic (non-module) script, as `define` would evaluate it, without
/// running it. `Ok` means it is syntactically valid JavaScript.
pub fn compile_check(source: &str) -> Result<(), CompileError> {
    let source = CString::new(source).map_err(|_| CompileError::Nul)?;
    let name = CString::new(SCRIPT_NAME).expect("no NUL in the script name");
    let runtime = Runtime::new().map_err(|e| CompileError::Runtime(e.to_string()))?;
    runtime.set_memory_limit(DEFAULT_MEMORY_LIMIT);
    runtime.set_max_stack_size(DEFAULT_STACK_LIMIT);
    let context = Context::full(&runtime).map_err(|e| CompileError::Runtime(e.to_string()))?;
    context.with(|ctx| {
        let flags = (qjs::JS_EVAL_TYPE_GLOBAL | qjs::JS_EVAL_FLAG_COMPILE_ONLY) as i32;
        // SAFETY: the context pointer is live for the duration of `with`; both strings are
        // NUL-terminated and outlive the call, and the length excludes the terminator as
        // JS_Eval requires. The returned value is owned by us and handed to `Value::from_raw`,
        // which frees it when dropped.
        let compiled = unsafe {
            let raw = qjs::JS_Eval(
                ctx.as_raw().as_ptr(),
                source.as_ptr(),
                source.as_bytes().len() as _,
                name.as_ptr(),
                flags,
            );
            Value::from_raw(ctx.clone(), raw)
        };
        if compiled.is_exception() {
            return Err(syntax_error(&ctx));
        }
        Ok(())
    })
}

/// The pending exception of a failed compile, with its line and column.
fn syntax_error(ctx: &Ctx<'_>) -> CompileError {
    let thrown = ctx.catch();
    let Some(error) = thrown.as_exception() else {
        return CompileError::Syntax {
            message: "the script does not compile".into(),
            line: None,
            column: None,
        };
    };
    let name: Option<String> = error.get("name").ok();
    let text = error.message().unwrap_or_default();
    let message = match name {
        Some(name) if !name.is_empty() => format!("{name}: {text}"),
        _ => text,
    };
    let (line, column) = error
        .stack()
        .as_deref()
        .and_then(location)
        .map_or((None, None), |(l, c)| (Some(l), c));
    CompileError::Syntax {
        message,
        line,
        column,
    }
}

/// The `game.js:L:C` (or `game.js:L`) place in a stack trace.
fn location(stack: &str) -> Option<(u32, Option<u32>)> {
    let start = stack.find(SCRIPT_NAME)? + SCRIPT_NAME.len();
    let rest = stack[start..].strip_prefix(':')?;
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == ':'))
        .unwrap_or(rest.len());
    let mut parts = rest[..end].split(':');
    let line = parts.next()?.parse().ok()?;
    let column = parts.next().and_then(|c| c.parse().ok());
    Some((line, column))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_scripts_compile_without_running() {
        assert_eq!(compile_check("function playerCommand(p, c, a) {}"), Ok(()));
        // Nothing runs: neither the loop nor the missing GGS object matters.
        assert_eq!(compile_check("while (true) {}\nGGS.nothing();"), Ok(()));
        assert_eq!(compile_check(""), Ok(()));
    }

    #[test]
    fn syntax_errors_name_line_and_column() {
        let err = compile_check("var a = 1;\nvar b = (1 + );\n").unwrap_err();
        let CompileError::Syntax { message, line, .. } = &err else {
            panic!("{err:?}");
        };
        assert!(message.starts_with("SyntaxError: "), "{message}");
        assert_eq!(*line, Some(2), "{err}");
        assert!(err.to_string().contains(" at line 2, column "), "{err}");
        assert_eq!(compile_check("a\0b"), Err(CompileError::Nul));
    }

    #[test]
    fn finds_the_place_in_a_stack() {
        assert_eq!(location("    at game.js:3:9\n"), Some((3, Some(9))));
        assert_eq!(location("    at game.js:12\n"), Some((12, None)));
        assert_eq!(location("    at eval\n"), None);
    }
}
