//! The server takes the writer settings the CLI takes (flag, environment variable, config key:
//! docs/SERVER.md, "Writer settings"), says which ledger it serves and where that came from, and
//! its docs name only reason codes that exist.
#![expect(clippy::unwrap_used, clippy::panic, reason = "tests")]

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{Client, OPERATOR, Server, create_ledger, id, write_config};
use ledger_store::Clock;
use serde_json::json;

/// Bounds a server's start or its refusal.
const WAIT: Duration = Duration::from_secs(60);

/// `ledger-server serve --config CONFIG --listen 127.0.0.1:0 FLAGS` with exactly the writer
/// environment variables in `env` set and logs at info.
fn serve(config: &Path, flags: &[&str], env: &[(&str, &str)]) -> Server {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ledger-server"));
    command.arg("serve").arg("--config").arg(config).args(["--listen", "127.0.0.1:0"]).args(flags);
    command.env_remove("LEDGER_DB").env_remove("LEDGER_MAX_AHEAD_SECONDS").env("RUST_LOG", "info");
    command.envs(env.iter().copied());
    Server::launch(command)
}

fn toml_text(path: &Path) -> String {
    toml::Value::String(path.display().to_string()).to_string()
}

/// Given `max_ahead_seconds` by flag, by environment variable or by config key, when a command
/// dated an hour ahead of the clock is submitted, then each of them lets it in (the default of
/// 300 seconds does not).
#[test]
fn max_ahead_seconds_is_taken_by_flag_environment_and_config() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("ledger");
    create_ledger(&db);
    let db_flag = db.display().to_string();
    // (what, config text, flags, environment, the answer's status and reason)
    type Row<'a> = (&'a str, &'a str, Vec<&'a str>, Vec<(&'a str, &'a str)>, &'a str, Option<&'a str>);
    let table: Vec<Row> = vec![
        ("default", "", vec![], vec![], "rejected", Some("TIME_AHEAD_OF_CLOCK")),
        ("flag", "", vec!["--max-ahead-seconds", "86400"], vec![], "accepted", None),
        ("environment", "", vec![], vec![("LEDGER_MAX_AHEAD_SECONDS", "86400")], "accepted", None),
        ("config key", "max_ahead_seconds = 86400\n", vec![], vec![], "accepted", None),
        (
            "flag over config",
            "max_ahead_seconds = 0\n",
            vec!["--max-ahead-seconds", "86400"],
            vec![("LEDGER_MAX_AHEAD_SECONDS", "5")],
            "accepted",
            None,
        ),
    ];
    for (n, (what, config_text, flags, env, status, reason)) in table.into_iter().enumerate() {
        let config = dir.path().join(format!("server-{n}.toml"));
        write_config(&config, config_text);
        let mut flags = flags;
        flags.extend(["--db", &db_flag]);
        let mut server = serve(&config, &flags, &env);
        assert!(server.wait_listening(WAIT), "{what}: the server did not start");
        let ahead = ledger_store::SystemClock.now().plus_millis(3_600_000).unwrap();
        let command = json!({ "type": "tick", "id": id(100 + n as u64), "at": ahead.to_string() });
        let reply = Client::new(&server.url, Some(OPERATOR)).post("/v1/commands", &command.to_string()).unwrap();
        assert_eq!(
            (reply.body["status"].as_str(), reply.body["reason"].as_str()),
            (Some(status), reason),
            "{what}: {reply:?}"
        );
        server.stop();
    }
}

/// Given a config naming one ledger and `LEDGER_DB` another, when the server starts, then it
/// refuses (exit 2) unless `--db` settles it; and whichever ledger it serves, it says at start-up
/// which and where that came from.
#[test]
fn the_ledger_served_is_said_and_a_disagreeing_environment_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (in_file, in_env) = (dir.path().join("file-ledger"), dir.path().join("env-ledger"));
    create_ledger(&in_file);
    create_ledger(&in_env);
    let with_db = dir.path().join("with-db.toml");
    write_config(&with_db, &format!("db = {}\n", toml_text(&in_file)));
    let without_db = dir.path().join("without-db.toml");
    write_config(&without_db, "");
    let (file_text, env_text) = (in_file.display().to_string(), in_env.display().to_string());

    let mut refused = serve(&with_db, &[], &[("LEDGER_DB", &env_text)]);
    let Some((code, stderr)) = refused.wait_exit(WAIT) else {
        panic!("a config db and a LEDGER_DB that differ were served without a --db to settle them");
    };
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("LEDGER_DB") && stderr.contains("`db`") && stderr.contains("--db"), "{stderr}");

    // (what, config, flags, environment, the start-up line says)
    type Row<'a> = (&'a str, &'a Path, Vec<&'a str>, Vec<(&'a str, &'a str)>, String);
    let table: Vec<Row> = vec![
        (
            "the flag settles it",
            &with_db,
            vec!["--db", &file_text],
            vec![("LEDGER_DB", &env_text)],
            format!("serving the ledger at {file_text} (from the flag --db)"),
        ),
        (
            "environment only",
            &without_db,
            vec![],
            vec![("LEDGER_DB", &env_text)],
            format!("serving the ledger at {env_text} (from the environment variable LEDGER_DB)"),
        ),
        (
            "environment agreeing with the file",
            &with_db,
            vec![],
            vec![("LEDGER_DB", &file_text)],
            format!("serving the ledger at {file_text} (from the environment variable LEDGER_DB)"),
        ),
        (
            "config file only",
            &with_db,
            vec![],
            vec![],
            format!("serving the ledger at {file_text} (from the config file's `db`)"),
        ),
    ];
    for (what, config, flags, env, says) in table {
        let mut server = serve(config, &flags, &env);
        assert!(server.wait_listening(WAIT), "{what}: the server did not start");
        let (_, stderr) = server.stop();
        assert!(stderr.contains(&says), "{what}: {says:?} not in {stderr}");
    }
}

/// docs/SERVER.md's writer settings table is the one set both programs take: each row's flag and
/// environment variable are in `ledger-server serve --help` and in ledger-cli's global options,
/// and its config key is read by the server.
#[test]
fn the_writer_settings_table_matches_both_programs() {
    let docs = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/SERVER.md")).unwrap();
    let table = docs.split("### Writer settings").nth(1).unwrap().split("\n\n").nth(1).unwrap();
    let rows: Vec<Vec<&str>> = table
        .lines()
        .skip(2)
        .map(|line| line.trim_matches('|').split('|').map(|cell| cell.trim().trim_matches('`')).collect())
        .collect();
    let names: Vec<[&str; 3]> = rows.iter().map(|row| [row[0], row[1], row[2]]).collect();
    assert_eq!(
        names,
        [
            ["--db", "LEDGER_DB", "db"],
            ["--max-ahead-seconds", "LEDGER_MAX_AHEAD_SECONDS", "max_ahead_seconds"],
            ["--cache-mib", "LEDGER_CACHE_MIB", "cache_mib"],
            ["--checkpoint-every", "LEDGER_CHECKPOINT_EVERY", "checkpoint_every"],
            ["--checkpoint-key", "LEDGER_CHECKPOINT_KEY", "checkpoint_key"]
        ]
    );
    let help = Command::new(env!("CARGO_BIN_EXE_ledger-server")).args(["serve", "--help"]).output().unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    let cli_args =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../ledger-cli/src/args.rs")).unwrap();
    for [flag, env, key] in names {
        assert!(help.contains(flag) && help.contains(&format!("env: {env}")), "serve --help: {flag} {env}\n{help}");
        let field = flag.trim_start_matches("--").replace('-', "_");
        let global = format!("#[arg(long, global = true, env = \"{env}\"");
        let declared = cli_args.split(&global).nth(1).and_then(|rest| rest.split("#[").next().map(str::to_owned));
        assert!(
            declared.is_some_and(|rest| rest.contains(&format!("pub {field}:"))),
            "ledger-cli takes {flag} from {env}"
        );
        let config: Result<ledger_server::config::Config, _> = toml::from_str(&format!("{key} = \"x\""));
        assert!(config.err().is_none_or(|err| !err.to_string().contains("unknown field")), "the server reads `{key}`");
    }
}

/// Every code-like word (capitals with an underscore) in SERVER.md and COMMANDS.md, example
/// answers included, is a reason code that exists (or an environment variable).
#[test]
fn the_docs_name_only_reason_codes_that_exist() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs");
    for doc in ["SERVER.md", "COMMANDS.md"] {
        let text = std::fs::read_to_string(root.join(doc)).unwrap();
        let words = text.split(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'));
        for word in words.filter(|word| word.contains('_') && word.starts_with(|c: char| c.is_ascii_uppercase())) {
            let known = ledger_core::RejectReason::CODES.contains(&word)
                || word == "ID_CONFLICT"
                || ["LEDGER_", "RUST_", "CARGO_"].iter().any(|prefix| word.starts_with(prefix));
            assert!(known, "{doc} names {word}, which is no reason code");
        }
    }
}

/// A ledger without a single record (an `init` stopped before it recorded the policy) is not
/// served: commands would be recorded before any policy (ledger-cli refuses it the same way).
#[test]
fn a_ledger_without_its_policy_is_not_served() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("ledger");
    ledger_store::Ledger::create(&db, ledger_store::LedgerOptions::default()).unwrap().close().unwrap();
    let config = dir.path().join("server.toml");
    write_config(&config, "");
    let mut refused = serve(&config, &["--db", db.to_str().unwrap()], &[]);
    let Some((code, stderr)) = refused.wait_exit(WAIT) else {
        panic!("a ledger without its policy was served");
    };
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("holds no record") && stderr.contains("init --policy"), "{stderr}");
}

/// `GET /v1/pending?account=` for an account that does not exist is 404, as every other account
/// query (an outsider's finding: it answered an empty list).
#[test]
fn pending_outflows_of_an_unknown_account_are_404() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("ledger");
    create_ledger(&db);
    let config = dir.path().join("server.toml");
    write_config(&config, "");
    let server = Server::start(&db, &config, &[]);
    let client = Client::new(&server.url, Some(OPERATOR));
    let reply = client.get("/v1/pending?account=99999").unwrap();
    assert_eq!((reply.status, reply.body["error"].as_str()), (404, Some("not_found")), "{reply:?}");
    assert_eq!(client.get("/v1/pending").unwrap().status, 200);
}

/// Given a writer lease (by `[lease]` or by `--lease-etcd`) and a ledger in a local directory,
/// the server refuses to start (exit 2) naming both settings: a standby would otherwise serve
/// its own local ledger after taking the lease. Nothing is asked of etcd first (none runs).
#[test]
fn a_lease_over_a_local_ledger_is_refused_naming_both_settings() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("ledger");
    create_ledger(&db);
    let db_flag = db.display().to_string();
    // (what, config text, flags)
    let table: [(&str, &str, Vec<&str>); 2] = [
        ("[lease] in the config", "[lease]\netcd = [\"http://127.0.0.1:9\"]\n", vec!["--db", &db_flag]),
        ("--lease-etcd", "", vec!["--db", &db_flag, "--lease-etcd", "http://127.0.0.1:9"]),
    ];
    for (n, (what, config_text, flags)) in table.into_iter().enumerate() {
        let config = dir.path().join(format!("lease-{n}.toml"));
        write_config(&config, config_text);
        let mut refused = serve(&config, &flags, &[]);
        let Some((code, stderr)) = refused.wait_exit(WAIT) else {
            panic!("{what}: a lease over a local directory was served");
        };
        assert_eq!(code, Some(2), "{what}: {stderr}");
        for named in ["[lease]", "--lease-etcd", "`db`", "--db", "PostgreSQL", &db_flag] {
            assert!(stderr.contains(named), "{what}: {named} not in {stderr}");
        }
    }
}
