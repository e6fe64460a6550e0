//! `ledger-server token` keeps the token out of the config file.

/// `ledger-server token`: the token alone on standard error (a script reads it as it is);
/// standard output (appended to the config file) holds the entry with its hash, which the server
/// accepts, and the explanation as a comment.
#[test]
fn a_new_token_never_reaches_the_config_file() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_ledger-server"))
        .args(["token", "--role", "auditor", "--name", "gl-feed"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let (stdout, stderr) = (String::from_utf8(output.stdout).unwrap(), String::from_utf8(output.stderr).unwrap());
    let token = stderr.strip_suffix('\n').unwrap();
    assert!(token.starts_with("tl_") && token.len() == 3 + 64, "standard error is the token alone: {stderr:?}");
    assert!(stdout.starts_with("# "), "the explanation is a comment of the entry: {stdout}");
    assert!(!stdout.contains(token), "the token is not in the config entry");
    #[derive(serde::Deserialize)]
    struct File {
        tokens: Vec<ledger_server::auth::TokenEntry>,
    }
    let file: File = toml::from_str(&stdout).unwrap();
    let tokens = ledger_server::auth::Tokens::new(&file.tokens);
    let caller = tokens.caller(token).unwrap();
    assert_eq!((caller.name.as_str(), caller.role), ("gl-feed", ledger_server::auth::Role::Auditor));
}
