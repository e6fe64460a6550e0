//! Bearer tokens and roles: who may do what. The table here is the one in docs/SERVER.md.

use std::collections::HashMap;

use ledger_core::{CommandBody, Principal};
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// What a token holder is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Core banking and channels: customers' commands, dry runs, queries.
    BackOffice,
    /// The bank's operators: all of back-office's, plus policy, protection settings, the risk
    /// list and tick.
    Operator,
    /// Read only: head, events (change data capture) and queries.
    Auditor,
}

/// What a request does, for the role check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// A customer's command (open, pay, transfer, lock, ...).
    Submit,
    /// A bank-wide command: change_policy, change_protections, list_risk, unlist_risk, tick.
    Operate,
    /// A dry run.
    Check,
    /// Balances, usage, history, accounts, protections, pending, risk check, head.
    Query,
    /// `GET /v1/events`.
    Events,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::BackOffice => "back-office",
            Role::Operator => "operator",
            Role::Auditor => "auditor",
        }
    }

    /// The role table: the order of the arms is the table's rows.
    pub fn may(self, access: Access) -> bool {
        matches!(
            (self, access),
            (Role::BackOffice, Access::Submit | Access::Check | Access::Query)
                | (Role::Operator, Access::Submit | Access::Operate | Access::Check | Access::Query)
                | (Role::Auditor, Access::Query | Access::Events)
        )
    }
}

/// The access a command needs.
pub fn access_of(body: &CommandBody) -> Access {
    match body {
        CommandBody::ChangePolicy { .. }
        | CommandBody::ChangeProtections { .. }
        | CommandBody::ListRisk { .. }
        | CommandBody::UnlistRisk { .. }
        | CommandBody::Tick => Access::Operate,
        _ => Access::Submit,
    }
}

/// One accepted token.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenEntry {
    /// Who holds it (appears in the logs, never the token).
    pub name: String,
    pub role: Role,
    /// Hex SHA-256 of the token.
    pub sha256: String,
}

impl TokenEntry {
    /// Who its holder's commands are recorded as submitted by: its name and role.
    pub fn principal(&self) -> Result<Principal, String> {
        Principal::new(&self.name, self.role.name())
    }
}

/// Who presented a token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    pub name: String,
    pub role: Role,
}

impl Caller {
    /// Who the caller's commands are recorded as submitted by: the token's name and role
    /// (checked when the configuration is loaded).
    pub fn principal(&self) -> Result<Principal, String> {
        Principal::new(&self.name, self.role.name())
    }
}

/// The accepted tokens, by digest (the tokens themselves are never stored).
#[derive(Clone, Debug, Default)]
pub struct Tokens {
    by_digest: HashMap<[u8; 32], Caller>,
}

impl Tokens {
    pub fn new(entries: &[TokenEntry]) -> Tokens {
        let mut by_digest = HashMap::new();
        for entry in entries {
            let mut digest = [0u8; 32];
            if hex::decode_to_slice(&entry.sha256, &mut digest).is_ok() {
                by_digest.insert(digest, Caller { name: entry.name.clone(), role: entry.role });
            }
        }
        Tokens { by_digest }
    }

    /// The caller holding `token`, if it is accepted.
    pub fn caller(&self, token: &str) -> Option<&Caller> {
        self.by_digest.get(&digest(token))
    }
}

/// SHA-256 of a token: tokens are 256 random bits, so a plain hash is enough (no password
/// stretching needed) and a leaked config file gives no token away.
pub fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// A new random token: 32 bytes from the operating system, hex.
pub fn new_token() -> std::io::Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|err| std::io::Error::other(err.to_string()))?;
    Ok(format!("tl_{}", hex::encode(bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_role_table() {
        use Access::*;
        let table = [
            (Role::BackOffice, [true, false, true, true, false]),
            (Role::Operator, [true, true, true, true, false]),
            (Role::Auditor, [false, false, false, true, true]),
        ];
        for (role, allowed) in table {
            for (access, allowed) in [Submit, Operate, Check, Query, Events].into_iter().zip(allowed) {
                assert_eq!(role.may(access), allowed, "{role:?} {access:?}");
            }
        }
    }

    #[test]
    fn tokens_are_found_by_their_digest_only() {
        let entry = TokenEntry { name: "gl".into(), role: Role::Auditor, sha256: hex::encode(digest("secret")) };
        let tokens = Tokens::new(&[entry]);
        assert_eq!(tokens.caller("secret").map(|c| c.role), Some(Role::Auditor));
        assert_eq!(tokens.caller("secreT"), None);
        assert_eq!(tokens.caller(&hex::encode(digest("secret"))), None);
    }
}
