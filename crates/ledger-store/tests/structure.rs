//! ARCHITECTURE.md's invariants about which module names what, checked on the sources.

#![expect(clippy::unwrap_used, reason = "reading the crate's own sources")]

use std::path::Path;

/// (source file, its text) for every `src/*.rs` of every crate.
fn sources() -> Vec<(String, String)> {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut found = Vec::new();
    for krate in ["ledger-core", "ledger-store", "ledger-cli"] {
        for entry in std::fs::read_dir(crates.join(krate).join("src")).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "rs") {
                let name = format!("{krate}/src/{}", path.file_name().unwrap().to_string_lossy());
                found.push((name, std::fs::read_to_string(&path).unwrap()));
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
    // (word, the only files that may contain it)
    let rules: [(&str, &[&str]); 3] =
        [("rocksdb", &["ledger-store/src/store.rs"]), ("bincode", &["ledger-store/src/codec.rs"]), ("anyhow", &[])];
    for (word, allowed) in rules {
        let found: Vec<String> =
            files_naming(word).into_iter().filter(|name| !name.starts_with("ledger-cli/")).collect();
        assert_eq!(found, allowed, "files naming {word:?}");
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
