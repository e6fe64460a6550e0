//! Rules as data: which flows each account class may make, which flows count together in a
//! limit bucket, the caps, and the account-count caps per customer.
//!
//! A flow that no bucket of its class lists is exempt from limits (transfers with the bound
//! account, the bank's wealth products). Presets are TOML files under `policies/`, embedded at
//! build time; a bank loads its own with [`Policy::from_toml_str`] or [`Policy::from_json_str`].

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ids::AccountClass;
use crate::money::Amount;

/// A movement of money as seen from one account.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Flow {
    CashDeposit,
    CashWithdrawal,
    /// Inflow from the account this one is bound to.
    TransferInBound,
    /// Inflow from any other account, inside or outside the ledger.
    TransferInOther,
    /// Outflow to the account this one is bound to.
    TransferOutBound,
    /// Outflow to any other account, inside or outside the ledger.
    TransferOutOther,
    /// Consumption or bill payment to a merchant.
    Payment,
    /// Buying one of the bank's wealth products.
    WealthPurchase,
    /// Redeeming one of the bank's wealth products.
    WealthRedemption,
}

impl Flow {
    /// Every flow.
    pub const ALL: [Flow; 9] = [
        Flow::CashDeposit,
        Flow::CashWithdrawal,
        Flow::TransferInBound,
        Flow::TransferInOther,
        Flow::TransferOutBound,
        Flow::TransferOutOther,
        Flow::Payment,
        Flow::WealthPurchase,
        Flow::WealthRedemption,
    ];

    /// True for flows that take money out of the account.
    pub fn is_outflow(self) -> bool {
        matches!(
            self,
            Flow::CashWithdrawal
                | Flow::TransferOutBound
                | Flow::TransferOutOther
                | Flow::Payment
                | Flow::WealthPurchase
        )
    }

    /// The snake_case name used in policy files and reason codes.
    pub fn name(self) -> &'static str {
        match self {
            Flow::CashDeposit => "cash_deposit",
            Flow::CashWithdrawal => "cash_withdrawal",
            Flow::TransferInBound => "transfer_in_bound",
            Flow::TransferInOther => "transfer_in_other",
            Flow::TransferOutBound => "transfer_out_bound",
            Flow::TransferOutOther => "transfer_out_other",
            Flow::Payment => "payment",
            Flow::WealthPurchase => "wealth_purchase",
            Flow::WealthRedemption => "wealth_redemption",
        }
    }
}

impl fmt::Display for Flow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Whether a class may do something.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    Allowed,
    /// Only for accounts whose owner's identity was verified in person at opening.
    InPersonOnly,
    #[default]
    Forbidden,
}

/// Flows that count together against one pair of caps.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bucket {
    /// Stable name, e.g. `in` or `out`; usage is tracked per name.
    pub name: String,
    pub flows: Vec<Flow>,
    /// Cap per Beijing natural day, inclusive; `None` for no daily cap.
    #[serde(default)]
    pub day_cap: Option<Amount>,
    /// Cap per Beijing calendar year, inclusive; `None` for no yearly cap.
    #[serde(default)]
    pub year_cap: Option<Amount>,
}

/// What an account of a class must be bound to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BindingRule {
    /// Accounts of this class must name a bound same-customer Class I account at opening.
    #[serde(default)]
    pub required: bool,
    /// A credit card may stand in for the Class I account (from 2016-12-01).
    #[serde(default)]
    pub credit_card_allowed: bool,
}

/// The rules for one account class.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassRules {
    /// Open accounts of this class one customer may hold; `None` for no cap.
    #[serde(default)]
    pub max_open_accounts: Option<u32>,
    #[serde(default)]
    pub binding: BindingRule,
    /// A physical card may be issued with the account.
    #[serde(default)]
    pub card: Permission,
    /// Permission per flow; a flow not listed is forbidden.
    #[serde(default)]
    pub flows: BTreeMap<Flow, Permission>,
    /// Inflows from non-bound accounts need a first funding from the bound account.
    #[serde(default)]
    pub first_inflow_from_bound: bool,
    /// The balance may never exceed this; `None` for no cap.
    #[serde(default)]
    pub balance_cap: Option<Amount>,
    #[serde(default)]
    pub buckets: Vec<Bucket>,
}

impl ClassRules {
    /// The permission for `flow` (forbidden when not listed).
    pub fn permission(&self, flow: Flow) -> Permission {
        self.flows.get(&flow).copied().unwrap_or(Permission::Forbidden)
    }
}

/// Rules for all three classes.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassTable {
    #[serde(rename = "I")]
    pub class_i: ClassRules,
    #[serde(rename = "II")]
    pub class_ii: ClassRules,
    #[serde(rename = "III")]
    pub class_iii: ClassRules,
}

/// One version of the account rules.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Policy {
    /// Short name, e.g. `default` or `pboc-2018`.
    pub name: String,
    pub description: String,
    /// Where the rules come from, e.g. `银发〔2018〕16号`: rejections decided under this
    /// version cite it (empty: the name alone is cited).
    pub source: String,
    pub class: ClassTable,
}

/// A policy as people write it (TOML, JSON): `source` is its own optional field.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyText {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    source: String,
    class: ClassTable,
}

/// A policy in the log, snapshots and read models (binary, not human-readable): the three fields of format
/// version 1, with a source carried in the description after a NUL (docs/FORMAT.md, "Policy").
/// A version-1 policy decodes with an empty source; its bytes are unchanged.
#[derive(Serialize, Deserialize)]
struct PolicyWire {
    name: String,
    description: String,
    class: ClassTable,
}

const SOURCE_SEPARATOR: char = '\0';

/// Longest policy or bucket name, in characters: every policy is kept in the log forever.
pub const POLICY_NAME_CHARS_MAX: usize = 64;
/// Longest policy description, in characters.
pub const POLICY_DESCRIPTION_CHARS_MAX: usize = 1_000;
/// Longest policy source (the citation rejections carry), in characters.
pub const POLICY_SOURCE_CHARS_MAX: usize = 200;
/// Most limit buckets one class may have.
pub const POLICY_BUCKETS_MAX: usize = 16;

impl Serialize for Policy {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        let (name, class) = (self.name.clone(), self.class.clone());
        if serializer.is_human_readable() {
            let text = PolicyText { name, description: self.description.clone(), source: self.source.clone(), class };
            return text.serialize(serializer);
        }
        let description = if self.source.is_empty() {
            self.description.clone()
        } else {
            format!("{}{SOURCE_SEPARATOR}{}", self.description, self.source)
        };
        PolicyWire { name, description, class }.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Policy {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> std::result::Result<Policy, D::Error> {
        if deserializer.is_human_readable() {
            let PolicyText { name, description, source, class } = PolicyText::deserialize(deserializer)?;
            return Ok(Policy { name, description, source, class });
        }
        let PolicyWire { name, description, class } = PolicyWire::deserialize(deserializer)?;
        let (description, source) = match description.split_once(SOURCE_SEPARATOR) {
            Some((description, source)) => (description.to_owned(), source.to_owned()),
            None => (description, String::new()),
        };
        Ok(Policy { name, description, source, class })
    }
}

const PRESETS: [(&str, &str); 3] = [
    ("default", include_str!("../policies/default.toml")),
    ("pboc-2018", include_str!("../policies/pboc-2018.toml")),
    ("pboc-2016", include_str!("../policies/pboc-2016.toml")),
];

impl Policy {
    /// The names of the shipped presets.
    pub fn preset_names() -> impl Iterator<Item = &'static str> {
        PRESETS.iter().map(|(name, _)| *name)
    }

    /// A shipped preset by name: `default`, `pboc-2018` or `pboc-2016`.
    pub fn preset(name: &str) -> Result<Policy> {
        let (_, text) =
            PRESETS.iter().find(|(preset, _)| *preset == name).ok_or_else(|| Error::UnknownPreset(name.to_owned()))?;
        Policy::from_toml_str(text)
    }

    /// Parses and validates a policy written in TOML.
    pub fn from_toml_str(text: &str) -> Result<Policy> {
        let policy: Policy = toml::from_str(text).map_err(|err| Error::Policy(err.to_string()))?;
        policy.validate()?;
        Ok(policy)
    }

    /// Parses and validates a policy written in JSON (a key named twice, at any depth, is
    /// refused, as in a command).
    pub fn from_json_str(text: &str) -> Result<Policy> {
        crate::unique_keys::refuse_duplicate_keys(text).map_err(|err| Error::Policy(err.to_string()))?;
        let policy: Policy = serde_json::from_str(text).map_err(|err| Error::Policy(err.to_string()))?;
        policy.validate()?;
        Ok(policy)
    }

    /// How a rejection cites this version: `name (source)`, or the name when no source is given.
    pub fn citation(&self) -> String {
        if self.source.is_empty() { self.name.clone() } else { format!("{} ({})", self.name, self.source) }
    }

    /// The rules for `class`.
    pub fn rules(&self, class: AccountClass) -> &ClassRules {
        match class {
            AccountClass::I => &self.class.class_i,
            AccountClass::II => &self.class.class_ii,
            AccountClass::III => &self.class.class_iii,
        }
    }

    /// Checks what serde cannot: unique non-empty bucket names, non-empty flow lists, caps above
    /// zero, no binding rule for Class I.
    pub fn validate(&self) -> Result<()> {
        if self.name.trim().is_empty() {
            return Err(Error::Policy("policy name is empty".into()));
        }
        for (field, text, max) in [
            ("name", &self.name, POLICY_NAME_CHARS_MAX),
            ("description", &self.description, POLICY_DESCRIPTION_CHARS_MAX),
            ("source", &self.source, POLICY_SOURCE_CHARS_MAX),
        ] {
            if text.chars().any(char::is_control) {
                return Err(Error::Policy(format!("policy {field} holds a control character")));
            }
            if text.chars().count() > max {
                return Err(Error::Policy(format!("policy {field} is longer than {max} characters")));
            }
        }
        if self.class.class_i.binding.required {
            return Err(Error::Policy("Class I accounts cannot require a binding".into()));
        }
        for class in AccountClass::ALL {
            let rules = self.rules(class);
            if rules.max_open_accounts == Some(0) {
                return Err(Error::Policy(format!("class {class}: max_open_accounts is 0")));
            }
            if rules.buckets.len() > POLICY_BUCKETS_MAX {
                return Err(Error::Policy(format!("class {class}: more than {POLICY_BUCKETS_MAX} buckets")));
            }
            for (index, bucket) in rules.buckets.iter().enumerate() {
                let name = bucket.name.trim();
                if bucket.name.chars().count() > POLICY_NAME_CHARS_MAX || bucket.name.chars().any(char::is_control) {
                    return Err(Error::Policy(format!(
                        "class {class}: bucket {index}'s name is longer than {POLICY_NAME_CHARS_MAX} characters or holds a control character"
                    )));
                }
                if name.is_empty() {
                    return Err(Error::Policy(format!("class {class}: bucket {index} has no name")));
                }
                if rules.buckets[..index].iter().any(|other| other.name == bucket.name) {
                    return Err(Error::Policy(format!("class {class}: bucket {name:?} appears twice")));
                }
                if bucket.flows.is_empty() {
                    return Err(Error::Policy(format!("class {class}: bucket {name:?} lists no flows")));
                }
                if bucket.day_cap.is_some_and(Amount::is_zero) || bucket.year_cap.is_some_and(Amount::is_zero) {
                    return Err(Error::Policy(format!(
                        "class {class}: bucket {name:?} has a zero cap (forbid the flow instead)"
                    )));
                }
            }
            if rules.balance_cap.is_some_and(Amount::is_zero) {
                return Err(Error::Policy(format!("class {class}: balance_cap is zero")));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_parses_and_validates() {
        for name in Policy::preset_names() {
            let policy = Policy::preset(name).unwrap();
            assert_eq!(policy.name, name);
        }
        assert_eq!(Policy::preset("nope"), Err(Error::UnknownPreset("nope".into())));
    }

    #[test]
    fn a_json_policy_naming_a_key_twice_is_refused() {
        let json = serde_json::to_string(&Policy::preset("default").unwrap()).unwrap();
        assert!(Policy::from_json_str(&json).is_ok());
        let twice =
            json.replacen(r#""cash_deposit":"allowed""#, r#""cash_deposit":"allowed","cash_deposit":"forbidden""#, 1);
        assert_ne!(twice, json, "the policy names cash_deposit");
        let err = Policy::from_json_str(&twice).unwrap_err().to_string();
        assert!(err.contains("cash_deposit"), "{err}");
    }

    #[test]
    fn json_and_toml_describe_the_same_policy() {
        let policy = Policy::preset("pboc-2018").unwrap();
        let json = serde_json::to_string(&policy).unwrap();
        assert_eq!(Policy::from_json_str(&json).unwrap(), policy);
        let toml_text = toml::to_string(&policy).unwrap();
        assert_eq!(Policy::from_toml_str(&toml_text).unwrap(), policy);
    }

    #[test]
    fn invalid_policies_are_refused_with_a_reason() {
        let base = Policy::preset("default").unwrap();
        let mut zero_cap = base.clone();
        zero_cap.class.class_ii.buckets[0].day_cap = Some(Amount::ZERO);
        let mut twice = base.clone();
        let bucket = twice.class.class_ii.buckets[0].clone();
        twice.class.class_ii.buckets.push(bucket);
        let mut empty = base.clone();
        empty.class.class_ii.buckets[0].flows.clear();
        let mut bound_i = base.clone();
        bound_i.class.class_i.binding.required = true;
        for bad in [zero_cap, twice, empty, bound_i] {
            assert!(matches!(bad.validate(), Err(Error::Policy(_))), "{bad:?}");
        }
        // Texts and bucket counts: at the bound accepted, one over refused with the bound named.
        type Edit = fn(&mut Policy, usize);
        let edits: [(&str, usize, Edit); 5] = [
            ("name", POLICY_NAME_CHARS_MAX, |p, n| p.name = "名".repeat(n)),
            ("description", POLICY_DESCRIPTION_CHARS_MAX, |p, n| p.description = "d".repeat(n)),
            ("source", POLICY_SOURCE_CHARS_MAX, |p, n| p.source = "s".repeat(n)),
            ("bucket's name", POLICY_NAME_CHARS_MAX, |p, n| p.class.class_ii.buckets[0].name = "b".repeat(n)),
            ("buckets", POLICY_BUCKETS_MAX, |p, n| {
                let bucket = p.class.class_ii.buckets[0].clone();
                p.class.class_ii.buckets = (0..n).map(|i| Bucket { name: format!("b{i}"), ..bucket.clone() }).collect();
            }),
        ];
        for (what, max, edit) in edits {
            let mut at = base.clone();
            edit(&mut at, max);
            assert_eq!(at.validate(), Ok(()), "{what} at its bound");
            let mut over = base.clone();
            edit(&mut over, max + 1);
            let Err(Error::Policy(said)) = over.validate() else { panic!("{what} over its bound accepted") };
            assert!(said.contains(&max.to_string()), "{what}: {said}");
        }
        assert!(Policy::from_toml_str("name = \"x\"\nunknown = 1").is_err());
        assert!(Policy::from_json_str("{").is_err());
    }
}
