//! Helpers shared by the given/when/then tables (tests/rules.rs, tests/protections.rs).

#![expect(clippy::unwrap_used, reason = "fixed inputs in tables; a typo should fail loudly")]

use ledger_core::{AccountId, Amount, Timestamp};

/// Business time in Beijing, `"2026-03-02 10:00:00"`.
pub fn at(text: &str) -> Timestamp {
    format!("{}+08:00", text.replace(' ', "T")).parse().unwrap()
}

/// An amount in CNY, `"88.50"`.
pub fn cny(text: &str) -> Amount {
    text.parse().unwrap()
}

pub fn acc(id: u64) -> AccountId {
    AccountId(id)
}
