//! docs/SERVER.md walked as a new user would: every ```sh block, in order, run by bash against
//! the built binaries, with the documented answers (`# → …` lines) checked against the real
//! ones. The document cannot drift from the code: a command that fails, a config that does not
//! start, or an example answer naming a status, reason or error the server does not give, fails
//! this test.
//!
//! What the runner changes, and only that: `/srv/ledger`, `/srv/backups` and `/etc/ledger` point into a
//! temporary directory, port 8650 becomes a free port, `cargo …` lines are skipped (the binaries
//! are already built), and `curl` and `ledger-server serve` are wrapped so their output is kept
//! (the server's in files, each answer for the `# →` check after it).
#![expect(clippy::unwrap_used, reason = "a failing step should stop the test where it fails")]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The built binaries: ledger-server from this crate, ledger-cli beside it (built by
/// `cargo test --workspace`; built here when missing).
fn bin_dir() -> PathBuf {
    let server = Path::new(env!("CARGO_BIN_EXE_ledger-server"));
    let dir = server.parent().unwrap().to_path_buf();
    if !dir.join("ledger-cli").exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo).args(["build", "-p", "ledger-cli"]).status().unwrap();
        assert!(status.success(), "building ledger-cli for the walk");
    }
    dir
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The ```sh blocks of a Markdown text, in order.
fn shell_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match (&mut current, line.trim_start()) {
            (None, fence) if fence.starts_with("```sh") => current = Some(String::new()),
            (Some(_), "```") => blocks.extend(current.take()),
            (Some(block), _) => {
                block.push_str(line);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

/// One block as bash: paths and port moved, `cargo` lines skipped, and after each `# → ANSWER`
/// line a check of the answer just printed.
fn script_of(block: &str, work: &Path, port: u16) -> String {
    let work = work.display().to_string();
    let mut script = String::new();
    for line in block.lines() {
        let line = line
            .replace("/srv/ledger", &format!("{work}/srv/ledger"))
            .replace("/etc/ledger", &format!("{work}/etc/ledger"))
            .replace("/srv/backups", &format!("{work}/srv/backups"))
            .replace("127.0.0.1:8650", &format!("127.0.0.1:{port}"));
        let trimmed = line.trim_start();
        if trimmed.starts_with("cargo ") {
            script.push_str(": skipped: the binaries are built\n");
        } else if let Some(answer) = trimmed.strip_prefix("# → ") {
            script.push_str(&format!("expect_answer {}\n", shell_quote(answer)));
        } else {
            script.push_str(&line);
            script.push('\n');
        }
    }
    script
}

fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// What every block runs with: the wrappers and the answer check.
const PRELUDE: &str = r#"
set -euo pipefail
: > "$WALK/last"
# The server runs in the background (the document starts it with `&`); its output is kept.
ledger-server() {
  if [ "${1:-}" = serve ]; then
    command ledger-server "$@" >> "$WALK/serve.out" 2>> "$WALK/serve.err" &
    echo $! > "$WALK/serve.pid"
    wait $!
  else command ledger-server "$@"; fi
}
stop_server() { [ -s "$WALK/serve.pid" ] && kill -TERM "$(cat "$WALK/serve.pid")" 2>/dev/null; return 0; }
trap stop_server EXIT
# Each answer is printed as usual and kept for the check that follows it. Before the first
# request, wait (bounded) for the server to listen.
curl() {
  local i
  for i in $(seq 1 600); do grep -q '^listening on ' "$WALK/serve.out" 2>/dev/null && break; sleep 0.1; done
  command curl --max-time 60 "$@" | tee "$WALK/last"
  echo
}
# The documented answer's "status", "reason" and "error" values (and any key:value pair written
# out in full) must be in the real answer; `…` stands for what the document leaves out.
expect_answer() {
  python3 - "$1" "$WALK/last" <<'PY'
import re, sys
doc, last = sys.argv[1], open(sys.argv[2], encoding="utf-8").read().strip()
answer = last.replace('": ', '":')
# Values written out in full must be the server's; every key shown must be in its answer.
pairs = re.findall(r'"(status|reason|error|dry_run|listed|next_after|index|line)":("[^"…]*"|true|false|\d+|\[\])', doc)
keys = set(re.findall(r'"([a-z_]+)":', doc))
if not (pairs or keys):
    sys.exit(f"the documented answer {doc!r} shows nothing to check")
for key, value in pairs:
    if f'"{key}":{value}' not in answer:
        sys.exit(f"documented {key}={value}, but the server answered: {answer[:600]}")
for key in sorted(keys):
    if f'"{key}":' not in answer:
        sys.exit(f"documented key {key!r} is not in the server's answer: {answer[:600]}")
PY
}
"#;

#[test]
fn every_shell_block_of_server_md_runs_and_its_answers_are_the_servers() {
    let markdown = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/SERVER.md")).unwrap();
    let blocks = shell_blocks(&markdown);
    assert!(blocks.len() >= 5, "SERVER.md has its shell blocks ({})", blocks.len());
    let work = tempfile::tempdir().unwrap();
    let walk = work.path().join("walk");
    std::fs::create_dir_all(&walk).unwrap();
    let port = free_port();
    let mut script = String::from(PRELUDE);
    for (index, block) in blocks.iter().enumerate() {
        script.push_str(&format!("echo '== block {}' >&2\n", index + 1));
        script.push_str(&script_of(block, work.path(), port));
    }
    let path = walk.join("walk.sh");
    std::fs::write(&path, &script).unwrap();
    let bin = bin_dir();
    let output = Command::new("bash")
        .arg(&path)
        .env("PATH", format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default()))
        .env("WALK", &walk)
        .env("RUST_LOG", "warn")
        .current_dir(work.path())
        .output()
        .unwrap();
    let read = |name: &str| std::fs::read_to_string(walk.join(name)).unwrap_or_default();
    assert!(
        output.status.success(),
        "walking docs/SERVER.md failed ({}).\n-- stdout:\n{}\n-- stderr:\n{}\n-- server stdout:\n{}\n-- server stderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
        read("serve.out"),
        read("serve.err"),
    );
}

/// The sample configuration copied verbatim opens the ledger to no one and waits for nothing:
/// no usable token digest (the old sample was SHA-256("test")), and the optional sections that
/// change how the server starts (`[tls]`, `[lease]`) commented out, marked OPTIONAL.
#[test]
fn the_sample_config_holds_no_token_and_no_optional_section_in_force() {
    let markdown = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/SERVER.md")).unwrap();
    let start = markdown.find("```toml\n").unwrap() + "```toml\n".len();
    let block = &markdown[start..start + markdown[start..].find("```").unwrap()];
    let config: toml::Table = toml::from_str(block).unwrap();
    for section in ["tls", "lease", "tokens", "backup_root"] {
        assert!(!config.contains_key(section), "{section} is in force in the sample config");
    }
    for optional in ["# [tls]", "# [lease]"] {
        let line = block.lines().find(|line| line.starts_with(optional)).unwrap();
        assert!(line.contains("OPTIONAL"), "{line}");
    }
    let hex_digest = |word: &str| word.len() == 64 && word.bytes().all(|b| b.is_ascii_hexdigit());
    assert!(
        !block.split(|c: char| !c.is_ascii_alphanumeric()).any(hex_digest),
        "the sample config holds a usable token digest"
    );
}
