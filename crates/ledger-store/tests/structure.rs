//! ARCHITECTURE.md's invariants about which module names what, checked on the sources.

#![expect(clippy::unwrap_used, reason = "reading the crate's own sources")]

use std::path::Path;

/// (source file, its text) for every `.rs` file under `src/` of every crate.
fn sources() -> Vec<(String, String)> {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut found = Vec::new();
    for krate in ["ledger-core", "ledger-store", "ledger-cli", "ledger-server"] {
        let src = crates.join(krate).join("src");
        let mut dirs = vec![src.clone()];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    let relative = path.strip_prefix(&src).unwrap().to_string_lossy().into_owned();
                    found.push((format!("{krate}/src/{relative}"), std::fs::read_to_string(&path).unwrap()));
                }
            }
        }
    }
    found.sort();
    found
}

fn files_naming(word: &str) -> Vec<String> {
    sources().into_iter().filter(|(_, text)| text.contains(word)).map(|(name, _)| name).collect()
}

#[test]
fn only_the_named_modules_name_rocksdb_bincode_and_anyhow() {
    // (word, the only places (files, or folders ending in '/') that may contain it)
    let rules: [(&str, &[&str]); 6] = [
        ("rocksdb", &["ledger-store/src/store/"]),
        ("postgres::", &["ledger-store/src/store/pg.rs"]),
        ("bincode", &["ledger-store/src/codec.rs"]),
        ("anyhow", &["ledger-cli/"]),
        // HTTP and async: the server, and the benchmark's client.
        ("tokio", &["ledger-server/", "ledger-cli/src/bench_server.rs"]),
        ("axum", &["ledger-server/"]),
    ];
    for (word, allowed) in rules {
        let found = files_naming(word);
        assert!(!found.is_empty() || word == "anyhow", "no file names {word:?}: the check reads nothing");
        for name in found {
            assert!(allowed.iter().any(|place| name.starts_with(place)), "{name} names {word:?}; only {allowed:?} may");
        }
    }
}

#[test]
fn ledger_core_does_no_io_and_reads_no_clock() {
    for (name, text) in sources().into_iter().filter(|(name, _)| name.starts_with("ledger-core/")) {
        for word in ["std::fs", "std::io", "std::net", "std::thread", "SystemTime", "Instant::now", "rocksdb"] {
            assert!(!text.contains(word), "{name} names {word}");
        }
    }
}

/// Per crate, the modules each `src/*.rs` names as `crate::module`.
fn module_graph(krate: &str) -> std::collections::BTreeMap<String, std::collections::BTreeSet<String>> {
    let prefix = format!("{krate}/src/");
    let mut graph = std::collections::BTreeMap::new();
    for (name, text) in sources().into_iter().filter(|(name, _)| name.starts_with(&prefix)) {
        let module = name.trim_start_matches(&prefix).trim_end_matches(".rs").trim_end_matches("/mod").to_owned();
        let mut uses = std::collections::BTreeSet::new();
        for (at, _) in text.match_indices("crate::") {
            let rest = &text[at + "crate::".len()..];
            let target: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            if !target.is_empty() && target != module {
                uses.insert(target);
            }
        }
        // `use crate::{a, b}` names several.
        for (at, _) in text.match_indices("use crate::{") {
            let rest = &text[at + "use crate::{".len()..];
            let list = &rest[..rest.find('}').unwrap_or(0)];
            for item in list.split(',') {
                let target: String =
                    item.trim().chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                if !target.is_empty() && target != module && target.chars().next().is_some_and(char::is_lowercase) {
                    uses.insert(target);
                }
            }
        }
        graph.insert(module, uses);
    }
    graph
}

#[test]
fn no_module_depends_on_itself_through_others() {
    for krate in ["ledger-core", "ledger-store", "ledger-cli", "ledger-server"] {
        let graph = module_graph(krate);
        // Depth-first search for a path back to the start.
        for start in graph.keys() {
            let mut stack: Vec<Vec<String>> = vec![vec![start.clone()]];
            let mut seen = std::collections::BTreeSet::new();
            while let Some(path) = stack.pop() {
                let last = path.last().unwrap();
                for next in graph.get(last).into_iter().flatten().filter(|next| *next != "main" && *next != "lib") {
                    assert!(next != start, "{krate}: module circle {} -> {next}", path.join(" -> "));
                    if seen.insert(next.clone()) {
                        let mut longer = path.clone();
                        longer.push(next.clone());
                        stack.push(longer);
                    }
                }
            }
        }
    }
}
