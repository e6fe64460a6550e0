//! Who submitted a command: the principal every event of format 2 names (docs/FORMAT.md).

use std::fmt;

use serde::{Deserialize, Serialize};

/// Most characters in a principal's name.
pub const PRINCIPAL_NAME_CHARS_MAX: usize = 64;
/// Most characters in a principal's role.
pub const PRINCIPAL_ROLE_CHARS_MAX: usize = 32;

/// Who submitted a command: a server token's name and role, the name a CLI or library caller
/// gives (`--as`, [`Principal::new`]), or the ledger itself for what comes due
/// ([`Principal::ledger`]). Names and roles are short, printable and never empty.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Principal {
    name: String,
    role: String,
}

impl Principal {
    /// A principal named `name` in `role`; refused when either is empty, too long or holds a
    /// control character.
    pub fn new(name: &str, role: &str) -> Result<Principal, String> {
        for (what, text, max) in [("name", name, PRINCIPAL_NAME_CHARS_MAX), ("role", role, PRINCIPAL_ROLE_CHARS_MAX)] {
            if text.trim().is_empty() || text.chars().count() > max || text.chars().any(char::is_control) {
                return Err(format!(
                    "a principal's {what} must be 1 to {max} characters without control characters: {text:?}"
                ));
            }
        }
        Ok(Principal { name: name.to_owned(), role: role.to_owned() })
    }

    /// The ledger itself: what comes due (expired holds, delayed transfers) is its doing.
    pub fn ledger() -> Principal {
        Principal { name: "ledger".to_owned(), role: "ledger".to_owned() }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn role(&self) -> &str {
        &self.role
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name, self.role)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_roles_are_short_printable_and_never_empty() {
        let long = "n".repeat(PRINCIPAL_NAME_CHARS_MAX + 1);
        let table = [
            ("core-banking", "back-office", true),
            ("cli:alice", "cli", true),
            ("", "cli", false),
            ("  ", "cli", false),
            ("core", "", false),
            ("core\nforged line", "operator", false),
            (long.as_str(), "cli", false),
        ];
        for (name, role, ok) in table {
            assert_eq!(Principal::new(name, role).is_ok(), ok, "{name:?} {role:?}");
        }
    }
}
