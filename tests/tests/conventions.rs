//! House conventions that are cheap to check: every Rust file opens with a `//!` line saying
//! what it is for, and every end-to-end test file is a test target that runs.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if name == "target" || name == "node_modules" || name.to_string_lossy().starts_with('.') {
            continue;
        }
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_rust_file_opens_with_a_module_doc_line() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    for dir in ["server", "js-runtime", "tests", "bench", "fuzz"] {
        rust_files(&root.join(dir), &mut files);
    }
    assert!(
        files.len() > 20,
        "found only {} Rust files under {}",
        files.len(),
        root.display()
    );
    let missing: Vec<String> = files
        .iter()
        .filter(|f| {
            let text = std::fs::read_to_string(f).unwrap_or_default();
            !text.trim_start().starts_with("//!")
        })
        .map(|f| f.strip_prefix(&root).unwrap_or(f).display().to_string())
        .collect();
    assert!(
        missing.is_empty(),
        "these files do not open with a //! line:\n{}",
        missing.join("\n")
    );
}

/// The end-to-end tests are integration tests of `ggs-server` (so `cargo test` builds the
/// binary they start), declared one by one in `server/Cargo.toml`: a file in `tests/tests/`
/// without its `[[test]]` entry would never run.
#[test]
fn every_end_to_end_test_file_is_a_test_target_of_ggs_server() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let manifest =
        std::fs::read_to_string(root.join("server/Cargo.toml")).expect("reading server/Cargo.toml");
    let mut files: Vec<String> = std::fs::read_dir(root.join("tests/tests"))
        .expect("reading tests/tests")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".rs"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no test files in tests/tests");
    let missing: Vec<&String> = files
        .iter()
        .filter(|name| !manifest.contains(&format!("path = \"../tests/tests/{name}\"")))
        .collect();
    assert!(
        missing.is_empty(),
        "these files in tests/tests/ have no [[test]] entry in server/Cargo.toml: {missing:?}"
    );
}
