//! The import arrows ARCHITECTURE.md states, checked on the source: `ggs-js` uses no server
//! code, no store and no sockets; inside `ggs-server` every module imports only modules below
//! it, and the leaves (`config`, `protocol`, `outbox`) import nothing above them.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The modules of `server/src`, top first. A module may import only modules after it in this
/// list (and itself). `lib.rs` and `main.rs` wire everything and may import anything.
const SERVER_LAYERS: &[&str] = &[
    "embed",
    "net",
    "session",
    "upgrade",
    "handoff",
    "coordinator",
    "catalogue",
    "cluster",
    "table",
    "table_info",
    "commit",
    "store",
    "telemetry",
    "games",
    "observe",
    "auth",
    "outbox",
    "protocol",
    "config",
];

/// Words that must not appear in `js-runtime`'s code: the server, the store, sockets.
const JS_RUNTIME_FORBIDDEN: &[&str] = &[
    "ggs_server",
    "sled",
    "std::net",
    "tokio::net",
    "axum",
    "tungstenite",
];

/// Dependencies `js-runtime/Cargo.toml` must not have.
const JS_RUNTIME_FORBIDDEN_DEPS: &[&str] = &["ggs-server", "sled", "axum", "tungstenite", "ureq"];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The Rust files under `dir`, checked to be more than `at_least` (so a moved directory
/// fails the test instead of passing it empty).
fn rust_files_under(dir: &Path, at_least: usize) -> Vec<PathBuf> {
    let mut files = Vec::new();
    rust_files(dir, &mut files);
    assert!(
        files.len() > at_least,
        "found only {} files in {}",
        files.len(),
        dir.display()
    );
    files
}

/// A file's code without its unit tests (`#[cfg(test)]` and what follows) and without comments,
/// so a test module or a doc line naming another module does not count as an import.
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let text = match text.find("#[cfg(test)]") {
        Some(at) => &text[..at],
        None => &text[..],
    };
    text.lines()
        .map(|line| match line.find("//") {
            Some(at) => &line[..at],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The top-level module a file of `server/src` belongs to (`net/tcp.rs` -> `net`).
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).expect("a file under src");
    let first = rel.components().next().expect("a path");
    let name = first.as_os_str().to_string_lossy();
    name.trim_end_matches(".rs").to_string()
}

/// The identifier a path starts with (`table::spawn` -> `table`), if any.
fn leading_name(path: &str) -> Option<String> {
    let name: String = path
        .trim()
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    (!name.is_empty()).then_some(name)
}

/// The top-level modules a piece of code names as `crate::NAME`, and inside
/// `use crate::{a, b::c}`.
fn crate_paths(code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (at, _) in code.match_indices("crate::") {
        let after = &code[at + "crate::".len()..];
        match after.strip_prefix('{') {
            Some(group) => {
                let group = &group[..group.find('}').unwrap_or(group.len())];
                found.extend(group.split(',').filter_map(leading_name));
            }
            None => found.extend(leading_name(after)),
        }
    }
    found
}

#[test]
fn server_modules_import_only_modules_below_them() {
    let src = root().join("server/src");
    let files = rust_files_under(&src, 15);
    let mut wrong = Vec::new();
    for file in &files {
        let module = module_of(&src, file);
        // The binary (`main`, and `cli`, its client commands) uses the library's public API.
        if module == "lib" || module == "main" || module == "cli" {
            continue;
        }
        let Some(rank) = SERVER_LAYERS.iter().position(|m| *m == module) else {
            wrong.push(format!(
                "{}: module `{module}` is not in SERVER_LAYERS (tests/tests/architecture.rs)",
                file.display()
            ));
            continue;
        };
        for target in crate_paths(&code(file)) {
            if target == module {
                continue;
            }
            match SERVER_LAYERS.iter().position(|m| *m == target) {
                Some(t) if t > rank => {}
                Some(_) => wrong.push(format!(
                    "{}: `{module}` imports `{target}`, which is above it",
                    file.strip_prefix(root()).unwrap_or(file).display()
                )),
                None => wrong.push(format!(
                    "{}: `{module}` imports `crate::{target}`, not a known module",
                    file.display()
                )),
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "import arrows point up:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_layer_list_catches_an_upward_import() {
    // The checker itself: `config` naming `crate::commit` is an arrow pointing up.
    let names = crate_paths("use crate::commit::Durability;\nuse crate::{net::limits, store};");
    let expected: BTreeSet<String> = ["commit", "net", "store"].map(String::from).into();
    assert_eq!(names, expected);
    let config = SERVER_LAYERS.iter().position(|m| *m == "config").unwrap();
    let commit = SERVER_LAYERS.iter().position(|m| *m == "commit").unwrap();
    assert!(commit < config, "commit sits above config");
}

#[test]
fn js_runtime_knows_nothing_of_the_server_the_store_or_sockets() {
    let src = root().join("js-runtime/src");
    let files = rust_files_under(&src, 5);
    let mut wrong = Vec::new();
    for file in &files {
        let code = code(file);
        for word in JS_RUNTIME_FORBIDDEN {
            if code.contains(word) {
                wrong.push(format!("{}: uses `{word}`", file.display()));
            }
        }
    }
    let manifest = std::fs::read_to_string(root().join("js-runtime/Cargo.toml")).unwrap();
    for dep in JS_RUNTIME_FORBIDDEN_DEPS {
        if manifest.lines().any(|l| {
            l.trim_start().starts_with(&format!("{dep} "))
                || l.trim_start().starts_with(&format!("{dep}."))
        }) {
            wrong.push(format!("js-runtime/Cargo.toml depends on `{dep}`"));
        }
    }
    assert!(
        wrong.is_empty(),
        "js-runtime reaches outside its layer:\n{}",
        wrong.join("\n")
    );
}
