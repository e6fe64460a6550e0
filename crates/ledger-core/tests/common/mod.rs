//! Helpers shared by the given/when/then tables (tests/rules.rs, tests/protections.rs): times,
//! amounts and the everyday commands.

#![expect(clippy::unwrap_used, reason = "fixed inputs in tables; a typo should fail loudly")]

use ledger_core::{AccountId, Amount, CommandBody, Timestamp};

pub mod table;

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

pub fn deposit(id: u64, amount: &str) -> CommandBody {
    CommandBody::CashDeposit { account: acc(id), amount: cny(amount) }
}

pub fn withdraw(id: u64, amount: &str) -> CommandBody {
    CommandBody::CashWithdrawal { account: acc(id), amount: cny(amount) }
}

pub fn transfer(from: u64, to: u64, amount: &str) -> CommandBody {
    CommandBody::InternalTransfer { from: acc(from), to: acc(to), amount: cny(amount) }
}

pub fn inbound(to: u64, counterparty: &str, amount: &str) -> CommandBody {
    CommandBody::InboundTransfer { to: acc(to), counterparty: counterparty.into(), amount: cny(amount) }
}

pub fn outbound(from: u64, counterparty: &str, amount: &str) -> CommandBody {
    CommandBody::OutboundTransfer { from: acc(from), counterparty: counterparty.into(), amount: cny(amount) }
}

pub fn pay(from: u64, amount: &str) -> CommandBody {
    CommandBody::Payment { from: acc(from), merchant: "Supermarket".into(), amount: cny(amount) }
}
