//! Host functions: Rust functions an embedding application registers, which scripts call as
//! `GGS.host.NAME(...)`.
//!
//! A host function takes the call's arguments as a JSON array and returns a JSON value, or an
//! error message; registered with [`HostFunctions::insert_with_table`], it is also told the id
//! of the table whose script calls it (which the script cannot forge). It runs synchronously on the VM thread, inside the event that called it and
//! under that event's CPU deadline: QuickJS cannot interrupt Rust code, but the time counts,
//! so a call that returns after the deadline fails the event with `script_timeout`, and one
//! that holds the thread past the deadline plus the watchdog's margin gets the thread abandoned
//! (the event fails with `script_timeout`, the table is rebuilt on a fresh thread). Host
//! functions are for quick reads (a player's profile, a rule table); an effect on the world
//! goes through `GGS.emit`, released only once its event is durable.
//!
//! An `Err(message)` is thrown in the script as a catchable `Error` with that message; a panic
//! is caught and thrown as an `Error` too (it never takes the VM thread down). Arguments and
//! results cross as values (the engine's own JSON conversion, never source text), bounded in
//! size by [`Limits::host_value_bytes`](crate::Limits::host_value_bytes).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// Longest host function name, in bytes.
pub const MAX_HOST_FUNCTION_NAME: usize = 64;

/// A host function: the calling table's id and the call's arguments (a JSON array) to a JSON
/// result or an error message.
pub type HostFn = Arc<
    dyn Fn(&str, serde_json::Value) -> Result<serde_json::Value, String> + Send + Sync + 'static,
>;

/// Why a host function could not be registered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostFunctionError {
    /// The name is not an identifier of 1 to [`MAX_HOST_FUNCTION_NAME`] ASCII letters, digits,
    /// `_` or `$` (not starting with a digit).
    #[error("a host function name must be an identifier of 1 to {MAX_HOST_FUNCTION_NAME} ASCII letters, digits, '_' or '$' (not starting with a digit), got {0:?}")]
    BadName(String),
    /// A function of that name is already registered.
    #[error("a host function named {0:?} is already registered")]
    Duplicate(String),
}

/// The host functions every table's scripts see, by name. Cheap to clone (shared).
#[derive(Clone, Default)]
pub struct HostFunctions {
    functions: Arc<BTreeMap<String, HostFn>>,
}

impl fmt::Debug for HostFunctions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.functions.keys()).finish()
    }
}

/// Whether `name` is a valid host function name.
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$');
    first_ok
        && name.len() <= MAX_HOST_FUNCTION_NAME
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
}

impl HostFunctions {
    /// No host functions: `GGS.host` is an empty object.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `function` as `GGS.host.<name>`: it gets the call's arguments.
    pub fn insert<F>(&mut self, name: &str, function: F) -> Result<(), HostFunctionError>
    where
        F: Fn(serde_json::Value) -> Result<serde_json::Value, String> + Send + Sync + 'static,
    {
        self.insert_with_table(name, move |_table: &str, args| function(args))
    }

    /// Registers `function` as `GGS.host.<name>`: it gets the calling table's id, then the
    /// call's arguments.
    pub fn insert_with_table<F>(&mut self, name: &str, function: F) -> Result<(), HostFunctionError>
    where
        F: Fn(&str, serde_json::Value) -> Result<serde_json::Value, String> + Send + Sync + 'static,
    {
        if !valid_name(name) {
            return Err(HostFunctionError::BadName(name.chars().take(80).collect()));
        }
        if self.functions.contains_key(name) {
            return Err(HostFunctionError::Duplicate(name.to_string()));
        }
        Arc::make_mut(&mut self.functions).insert(name.to_string(), Arc::new(function));
        Ok(())
    }

    /// The function registered as `name`.
    pub fn get(&self, name: &str) -> Option<&HostFn> {
        self.functions.get(name)
    }

    /// The registered names, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.functions.keys().map(String::as_str)
    }

    /// Whether none is registered.
    pub fn is_empty(&self) -> bool {
        self.functions.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_identifiers_and_unique() {
        let mut hf = HostFunctions::new();
        let ok = |_: serde_json::Value| Ok(serde_json::Value::Null);
        assert!(hf.insert("profile", ok).is_ok());
        assert!(hf.insert("$x_1", ok).is_ok());
        assert_eq!(
            hf.insert("profile", ok),
            Err(HostFunctionError::Duplicate("profile".into()))
        );
        for bad in [
            "",
            "1a",
            "a-b",
            "a b",
            "é",
            &"x".repeat(MAX_HOST_FUNCTION_NAME + 1),
        ] {
            assert!(
                matches!(hf.insert(bad, ok), Err(HostFunctionError::BadName(_))),
                "{bad:?}"
            );
        }
        assert_eq!(hf.names().collect::<Vec<_>>(), vec!["$x_1", "profile"]);
    }
}
