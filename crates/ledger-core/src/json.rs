//! The JSON form of a command, one per line in `ledger-cli import` files and `ledger-cli submit`
//! (documented in docs/COMMANDS.md). Flat objects tagged by `type`; unknown fields are refused;
//! amounts are decimal strings (or whole yuan as integers), never floats. A key named twice in one
//! object, at any depth, is refused (`parse_command`).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::command::{Binding, Command, CommandBody};
use crate::error::{Error, Result};
use crate::ids::{AccountClass, AccountId, CommandId, CustomerId};
use crate::money::Amount;
use crate::policy::{Flow, Policy};
use crate::protect::{Actor, Arrival, NightWindow, PersonalLimits, ProtectionSettings};
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
    /// `arrival`: `real_time` (the default), `normal` (2 hours later) or `next_day`.
    OutboundTransfer {
        id: Uuid,
        #[serde(default)]
        at: Option<Timestamp>,
        from: u64,
        counterparty: String,
        amount: Amount,
        #[serde(default)]
        arrival: ArrivalJson,
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
    LockAccount {
        id: Uuid,
        #[serde(default)]
        at: Option<Timestamp>,
        account: u64,
        by: Actor,
        /// Empty or absent: every outflow.
        #[serde(default)]
        flows: Vec<Flow>,
        reason: String,
    },
    UnlockAccount {
        id: Uuid,
        #[serde(default)]
        at: Option<Timestamp>,
        account: u64,
        by: Actor,
    },
    /// An absent cap is cleared.
    SetPersonalLimits {
        id: Uuid,
        #[serde(default)]
        at: Option<Timestamp>,
        account: u64,
        #[serde(default)]
        per_transaction: Option<Amount>,
        #[serde(default)]
        per_day: Option<Amount>,
    },
    /// An absent or null window clears the night lock.
    SetNightLock {
        id: Uuid,
        #[serde(default)]
        at: Option<Timestamp>,
        account: u64,
        #[serde(default)]
        window: Option<NightWindow>,
    },
    ListRisk {
        id: Uuid,
        #[serde(default)]
        at: Option<Timestamp>,
        counterparty: String,
        reason: String,
        source: String,
    },
    UnlistRisk {
        id: Uuid,
        #[serde(default)]
        at: Option<Timestamp>,
        counterparty: String,
        reason: String,
        source: String,
    },
    ChangeProtections {
        id: Uuid,
        #[serde(default)]
        at: Option<Timestamp>,
        effective_from: Timestamp,
        settings: ProtectionSettings,
    },
    ConfirmHold {
        id: Uuid,
        #[serde(default)]
        at: Option<Timestamp>,
        hold: Uuid,
    },
    DeclineHold {
        id: Uuid,
        #[serde(default)]
        at: Option<Timestamp>,
        hold: Uuid,
    },
    CancelTransfer {
        id: Uuid,
        #[serde(default)]
        at: Option<Timestamp>,
        transfer: Uuid,
    },
    Tick {
        id: Uuid,
        #[serde(default)]
        at: Option<Timestamp>,
    },
}

/// The arrival mode of an outbound transfer, as written in JSON.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ArrivalJson {
    /// 实时到账: posted at once.
    #[default]
    RealTime,
    /// 普通到账.
    Normal,
    /// 次日到账.
    NextDay,
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
            CommandJson::OutboundTransfer { id, at, from, counterparty, amount, arrival } => {
                let from = AccountId(from);
                let body = match arrival {
                    ArrivalJson::RealTime => CommandBody::OutboundTransfer { from, counterparty, amount },
                    ArrivalJson::Normal => {
                        CommandBody::DelayedTransfer { from, counterparty, amount, arrival: Arrival::Normal }
                    }
                    ArrivalJson::NextDay => {
                        CommandBody::DelayedTransfer { from, counterparty, amount, arrival: Arrival::NextDay }
                    }
                };
                (id, at, body)
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
            CommandJson::LockAccount { id, at, account, by, flows, reason } => {
                (id, at, CommandBody::LockAccount { account: AccountId(account), by, flows, reason })
            }
            CommandJson::UnlockAccount { id, at, account, by } => {
                (id, at, CommandBody::UnlockAccount { account: AccountId(account), by })
            }
            CommandJson::SetPersonalLimits { id, at, account, per_transaction, per_day } => {
                let limits = PersonalLimits { per_transaction, per_day };
                (id, at, CommandBody::SetPersonalLimits { account: AccountId(account), limits })
            }
            CommandJson::SetNightLock { id, at, account, window } => {
                (id, at, CommandBody::SetNightLock { account: AccountId(account), window })
            }
            CommandJson::ListRisk { id, at, counterparty, reason, source } => {
                (id, at, CommandBody::ListRisk { counterparty, reason, source })
            }
            CommandJson::UnlistRisk { id, at, counterparty, reason, source } => {
                (id, at, CommandBody::UnlistRisk { counterparty, reason, source })
            }
            CommandJson::ChangeProtections { id, at, effective_from, settings } => {
                settings
                    .validate()
                    .map_err(|detail| Error::Command(format!("invalid protection settings: {detail}")))?;
                (id, at, CommandBody::ChangeProtections { effective_from, settings })
            }
            CommandJson::ConfirmHold { id, at, hold } => (id, at, CommandBody::ConfirmHold { hold: CommandId(hold) }),
            CommandJson::DeclineHold { id, at, hold } => (id, at, CommandBody::DeclineHold { hold: CommandId(hold) }),
            CommandJson::CancelTransfer { id, at, transfer } => {
                (id, at, CommandBody::CancelTransfer { transfer: CommandId(transfer) })
            }
            CommandJson::Tick { id, at } => (id, at, CommandBody::Tick),
        };
        Ok(Command { id: CommandId(id), at: at.unwrap_or(default_at), body, stamped: at.is_none() })
    }
}

impl From<&Command> for CommandJson {
    /// The JSON form of `command` (its time always written): `into_command` of it gives
    /// `command` back.
    fn from(command: &Command) -> CommandJson {
        let id = command.id.0;
        let at = Some(command.at);
        match command.body.clone() {
            CommandBody::OpenAccount { account, customer, class, binding, verified_in_person, with_card } => {
                CommandJson::OpenAccount {
                    id,
                    at,
                    account: account.0,
                    customer: customer.0,
                    class,
                    binding,
                    verified_in_person,
                    with_card,
                }
            }
            CommandBody::CloseAccount { account } => CommandJson::CloseAccount { id, at, account: account.0 },
            CommandBody::CashDeposit { account, amount } => {
                CommandJson::CashDeposit { id, at, account: account.0, amount }
            }
            CommandBody::CashWithdrawal { account, amount } => {
                CommandJson::CashWithdrawal { id, at, account: account.0, amount }
            }
            CommandBody::InternalTransfer { from, to, amount } => {
                CommandJson::InternalTransfer { id, at, from: from.0, to: to.0, amount }
            }
            CommandBody::InboundTransfer { to, counterparty, amount } => {
                CommandJson::InboundTransfer { id, at, to: to.0, counterparty, amount }
            }
            CommandBody::OutboundTransfer { from, counterparty, amount } => CommandJson::OutboundTransfer {
                id,
                at,
                from: from.0,
                counterparty,
                amount,
                arrival: ArrivalJson::RealTime,
            },
            CommandBody::DelayedTransfer { from, counterparty, amount, arrival } => {
                let arrival = match arrival {
                    Arrival::Normal => ArrivalJson::Normal,
                    Arrival::NextDay => ArrivalJson::NextDay,
                };
                CommandJson::OutboundTransfer { id, at, from: from.0, counterparty, amount, arrival }
            }
            CommandBody::Payment { from, merchant, amount } => {
                CommandJson::Payment { id, at, from: from.0, merchant, amount }
            }
            CommandBody::WealthPurchase { account, product, amount } => {
                CommandJson::WealthPurchase { id, at, account: account.0, product, amount }
            }
            CommandBody::WealthRedemption { account, product, amount } => {
                CommandJson::WealthRedemption { id, at, account: account.0, product, amount }
            }
            CommandBody::ChangePolicy { effective_from, policy } => {
                CommandJson::ChangePolicy { id, at, effective_from, preset: None, policy: Some(policy) }
            }
            CommandBody::LockAccount { account, by, flows, reason } => {
                CommandJson::LockAccount { id, at, account: account.0, by, flows, reason }
            }
            CommandBody::UnlockAccount { account, by } => CommandJson::UnlockAccount { id, at, account: account.0, by },
            CommandBody::SetPersonalLimits { account, limits } => CommandJson::SetPersonalLimits {
                id,
                at,
                account: account.0,
                per_transaction: limits.per_transaction,
                per_day: limits.per_day,
            },
            CommandBody::SetNightLock { account, window } => {
                CommandJson::SetNightLock { id, at, account: account.0, window }
            }
            CommandBody::ListRisk { counterparty, reason, source } => {
                CommandJson::ListRisk { id, at, counterparty, reason, source }
            }
            CommandBody::UnlistRisk { counterparty, reason, source } => {
                CommandJson::UnlistRisk { id, at, counterparty, reason, source }
            }
            CommandBody::ChangeProtections { effective_from, settings } => {
                CommandJson::ChangeProtections { id, at, effective_from, settings }
            }
            CommandBody::ConfirmHold { hold } => CommandJson::ConfirmHold { id, at, hold: hold.0 },
            CommandBody::DeclineHold { hold } => CommandJson::DeclineHold { id, at, hold: hold.0 },
            CommandBody::CancelTransfer { transfer } => CommandJson::CancelTransfer { id, at, transfer: transfer.0 },
            CommandBody::Tick => CommandJson::Tick { id, at },
        }
    }
}

/// Parses one JSON command; `default_at` fills a missing `at`. A key named twice in an object, at
/// any depth, is refused. A batch body's elements are read here too (`json_batch`).
pub fn parse_command(text: &str, default_at: Timestamp) -> Result<Command> {
    if text.len() > COMMAND_LINE_BYTES_MAX {
        return Err(Error::Command(format!("line is {} bytes; the limit is {COMMAND_LINE_BYTES_MAX}", text.len())));
    }
    crate::unique_keys::refuse_duplicate_keys(text)?;
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
            format!(
                r#"{{"type":"outbound_transfer","id":"{id}","from":1,"counterparty":"X","amount":"1","arrival":"next_day"}}"#
            ),
            format!(
                r#"{{"type":"set_night_lock","id":"{id}","account":1,"window":{{"start":"23:00","end":"06:00"}}}}"#
            ),
            format!(r#"{{"type":"tick","id":"{id}"}}"#),
        ];
        for line in &ok {
            let command = parse_command(line, now()).unwrap();
            assert_eq!(command.id.0.to_string(), id);
            // The JSON written for a command reads back as the same command.
            let written = serde_json::to_string(&CommandJson::from(&command)).unwrap();
            // Its time is written, so it reads back as a time the client gave.
            let given = Command { stamped: false, ..command };
            assert_eq!(parse_command(&written, Timestamp::UNIX_EPOCH).unwrap(), given, "{written}");
        }
        let paid = parse_command(&ok[1], now()).unwrap();
        assert_eq!(paid.at, "2026-03-01T08:00:00+08:00".parse().unwrap());
        assert_eq!(paid.body.amount(), Some("88.50".parse().unwrap()));
        assert_eq!(parse_command(&ok[0], now()).unwrap().at, now());
        assert!(parse_command(&ok[0], now()).unwrap().stamped, "a missing time is stamped by the ledger");
        assert!(!paid.stamped, "a given time is not");
        assert!(matches!(
            parse_command(&ok[4], now()).unwrap().body,
            CommandBody::DelayedTransfer { arrival: Arrival::NextDay, .. }
        ));
        let CommandBody::SetNightLock { window: Some(window), .. } = parse_command(&ok[5], now()).unwrap().body else {
            panic!("not a night lock");
        };
        assert_eq!((window.start.to_string(), window.end.to_string()), ("23:00".into(), "06:00".into()));
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
            format!(
                r#"{{"type":"outbound_transfer","id":"{id}","from":1,"counterparty":"X","amount":"1","arrival":"later"}}"#
            ),
            format!(
                r#"{{"type":"set_night_lock","id":"{id}","account":1,"window":{{"start":"23:00","end":"24:00"}}}}"#
            ),
            format!(r#"{{"type":"set_night_lock","id":"{id}","account":1,"window":{{"start":"9:00","end":"10:00"}}}}"#),
            format!(r#"{{"type":"lock_account","id":"{id}","account":1,"by":"thief","reason":"r"}}"#),
            format!(
                r#"{{"type":"change_protections","id":"{id}","effective_from":"2026-06-01T00:00:00Z","settings":{{"hold_expiry_minutes":0}}}}"#
            ),
            "x".repeat(COMMAND_LINE_BYTES_MAX + 1),
        ];
        for line in &bad {
            assert!(parse_command(line, now()).is_err(), "accepted: {}", &line[..line.len().min(120)]);
        }
    }
}
