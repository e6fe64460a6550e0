//! The JSON form of a command, one per line in `ledger-cli import` files and `ledger-cli submit`
//! (documented in docs/COMMANDS.md). Flat objects tagged by `type`; unknown fields are refused;
//! amounts are decimal strings (or whole yuan as integers), never floats.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::command::{Binding, Command, CommandBody};
use crate::error::{Error, Result};
use crate::ids::{AccountClass, AccountId, CommandId, CustomerId};
use crate::money::Amount;
use crate::policy::Policy;
use crate::time::Timestamp;

/// Longest accepted command line, in bytes.
pub const COMMAND_LINE_BYTES_MAX: usize = 1 << 20;

/// A command as written in JSON; `at` may be left out and filled in by the caller's clock.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum CommandJson {
    OpenAccount {
        id: Uuid,
        #[serde(default)]
        at: Option<Timestamp>,
        account: u64,
        customer: u64,
        class: AccountClass,
        #[serde(default)]
        binding: Option<Binding>,
        #[serde(default)]
        verified_in_person: bool,
        #[serde(default)]
        with_card: bool,
    },
    CloseAccount {
        id: Uuid,
        #[serde(default)]
        at: Option<Timestamp>,
        account: u64,
    },
    CashDeposit {
        id: Uuid,
        #[serde(default)]
        at: Option<Timestamp>,
        account: u64,
        amount: Amount,
    },
    CashWithdrawal {
        id: Uuid,
        #[serde(default)]
        at: Option<Timestamp>,
        account: u64,
        amount: Amount,
    },
    InternalTransfer {
        id: Uuid,
        #[serde(default)]
        at: Option<Timestamp>,
        from: u64,
        to: u64,
        amount: Amount,
    },
    InboundTransfer {
        id: Uuid,
        #[serde(default)]
        at: Option<Timestamp>,
        to: u64,
        counterparty: String,
        amount: Amount,
    },
    OutboundTransfer {
        id: Uuid,
        #[serde(default)]
        at: Option<Timestamp>,
        from: u64,
        counterparty: String,
        amount: Amount,
    },
    Payment {
        id: Uuid,
        #[serde(default)]
        at: Option<Timestamp>,
        from: u64,
        merchant: String,
        amount: Amount,
    },
    WealthPurchase {
        id: Uuid,
        #[serde(default)]
        at: Option<Timestamp>,
        account: u64,
        product: String,
        amount: Amount,
    },
    WealthRedemption {
        id: Uuid,
        #[serde(default)]
        at: Option<Timestamp>,
        account: u64,
        product: String,
        amount: Amount,
    },
    /// Exactly one of `preset` (a shipped preset's name) and `policy` (a whole policy).
    ChangePolicy {
        id: Uuid,
        #[serde(default)]
        at: Option<Timestamp>,
        effective_from: Timestamp,
        #[serde(default)]
        preset: Option<String>,
        #[serde(default)]
        policy: Option<Box<Policy>>,
    },
}

impl CommandJson {
    /// The command, with `default_at` where the JSON gave no time.
    pub fn into_command(self, default_at: Timestamp) -> Result<Command> {
        let (id, at, body) = match self {
            CommandJson::OpenAccount { id, at, account, customer, class, binding, verified_in_person, with_card } => (
                id,
                at,
                CommandBody::OpenAccount {
                    account: AccountId(account),
                    customer: CustomerId(customer),
                    class,
                    binding,
                    verified_in_person,
                    with_card,
                },
            ),
            CommandJson::CloseAccount { id, at, account } => {
                (id, at, CommandBody::CloseAccount { account: AccountId(account) })
            }
            CommandJson::CashDeposit { id, at, account, amount } => {
                (id, at, CommandBody::CashDeposit { account: AccountId(account), amount })
            }
            CommandJson::CashWithdrawal { id, at, account, amount } => {
                (id, at, CommandBody::CashWithdrawal { account: AccountId(account), amount })
            }
            CommandJson::InternalTransfer { id, at, from, to, amount } => {
                (id, at, CommandBody::InternalTransfer { from: AccountId(from), to: AccountId(to), amount })
            }
            CommandJson::InboundTransfer { id, at, to, counterparty, amount } => {
                (id, at, CommandBody::InboundTransfer { to: AccountId(to), counterparty, amount })
            }
            CommandJson::OutboundTransfer { id, at, from, counterparty, amount } => {
                (id, at, CommandBody::OutboundTransfer { from: AccountId(from), counterparty, amount })
            }
            CommandJson::Payment { id, at, from, merchant, amount } => {
                (id, at, CommandBody::Payment { from: AccountId(from), merchant, amount })
            }
            CommandJson::WealthPurchase { id, at, account, product, amount } => {
                (id, at, CommandBody::WealthPurchase { account: AccountId(account), product, amount })
            }
            CommandJson::WealthRedemption { id, at, account, product, amount } => {
                (id, at, CommandBody::WealthRedemption { account: AccountId(account), product, amount })
            }
            CommandJson::ChangePolicy { id, at, effective_from, preset, policy } => {
                let policy = match (preset, policy) {
                    (Some(name), None) => Policy::preset(&name)?,
                    (None, Some(policy)) => {
                        policy.validate()?;
                        *policy
                    }
                    _ => return Err(Error::Command("change_policy takes exactly one of preset and policy".into())),
                };
                (id, at, CommandBody::ChangePolicy { effective_from, policy: Box::new(policy) })
            }
        };
        Ok(Command { id: CommandId(id), at: at.unwrap_or(default_at), body })
    }
}

/// Parses one JSON command; `default_at` fills a missing `at`.
pub fn parse_command(text: &str, default_at: Timestamp) -> Result<Command> {
    if text.len() > COMMAND_LINE_BYTES_MAX {
        return Err(Error::Command(format!("line is {} bytes; the limit is {COMMAND_LINE_BYTES_MAX}", text.len())));
    }
    let json: CommandJson = serde_json::from_str(text).map_err(|err| Error::Command(err.to_string()))?;
    json.into_command(default_at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        "2026-03-02T10:00:00+08:00".parse().unwrap()
    }

    #[test]
    fn parses_each_kind_and_fills_the_time() {
        let id = "6f1c2d3e-0000-4000-8000-000000000001";
        let ok = [
            format!(
                r#"{{"type":"open_account","id":"{id}","account":1,"customer":2,"class":"II","binding":{{"account":9}},"verified_in_person":true}}"#
            ),
            format!(
                r#"{{"type":"payment","id":"{id}","at":"2026-03-01T08:00:00+08:00","from":1,"merchant":"Metro","amount":"88.50"}}"#
            ),
            format!(r#"{{"type":"cash_deposit","id":"{id}","account":1,"amount":100}}"#),
            format!(
                r#"{{"type":"change_policy","id":"{id}","effective_from":"2026-06-01T00:00:00+08:00","preset":"pboc-2018"}}"#
            ),
        ];
        for line in &ok {
            let command = parse_command(line, now()).unwrap();
            assert_eq!(command.id.0.to_string(), id);
        }
        let paid = parse_command(&ok[1], now()).unwrap();
        assert_eq!(paid.at, "2026-03-01T08:00:00+08:00".parse().unwrap());
        assert_eq!(paid.body.amount(), Some("88.50".parse().unwrap()));
        assert_eq!(parse_command(&ok[0], now()).unwrap().at, now());
    }

    #[test]
    fn bad_lines_get_typed_errors() {
        let id = "6f1c2d3e-0000-4000-8000-000000000001";
        let bad = [
            "{".to_owned(),
            "[]".to_owned(),
            format!(r#"{{"type":"teleport","id":"{id}"}}"#),
            format!(r#"{{"type":"payment","id":"{id}","from":1,"merchant":"M","amount":"1.001"}}"#),
            format!(r#"{{"type":"payment","id":"{id}","from":1,"merchant":"M","amount":"-1"}}"#),
            format!(r#"{{"type":"payment","id":"{id}","from":1,"merchant":"M","amount":1.5}}"#),
            format!(r#"{{"type":"payment","id":"{id}","from":1,"merchant":"M","amount":"1","tip":"2"}}"#),
            r#"{"type":"payment","id":"not-a-uuid","from":1,"merchant":"M","amount":"1"}"#.to_owned(),
            format!(r#"{{"type":"payment","id":"{id}","from":-1,"merchant":"M","amount":"1"}}"#),
            format!(r#"{{"type":"payment","id":"{id}","at":"yesterday","from":1,"merchant":"M","amount":"1"}}"#),
            format!(r#"{{"type":"change_policy","id":"{id}","effective_from":"2026-06-01T00:00:00Z"}}"#),
            format!(
                r#"{{"type":"change_policy","id":"{id}","effective_from":"2026-06-01T00:00:00Z","preset":"nope"}}"#
            ),
            format!(r#"{{"type":"payment","id":"{id}","from":1,"merchant":"M","amount":"99999999999999999999"}}"#),
            "x".repeat(COMMAND_LINE_BYTES_MAX + 1),
        ];
        for line in &bad {
            assert!(parse_command(line, now()).is_err(), "accepted: {}", &line[..line.len().min(120)]);
        }
    }
}
