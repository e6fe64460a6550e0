//! The README's embedding example is `examples/back_office.rs`, verbatim (the example is built by
//! `cargo test`, so the README cannot show code that does not compile).

#[test]
fn readme_shows_the_compiled_example() {
    let readme = include_str!("../../../README.md");
    let example = include_str!("../examples/back_office.rs");
    assert!(
        readme.contains(example.trim_end()),
        "README.md must contain crates/ledger-store/examples/back_office.rs verbatim"
    );
}
