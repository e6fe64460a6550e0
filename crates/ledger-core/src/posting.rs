//! Postings: accepted movements of money, with each leg's balance and limit use after them.

use serde::{Deserialize, Serialize};

use crate::ids::AccountId;
use crate::money::Amount;
use crate::policy::Flow;
use crate::time::{BeijingDay, BeijingYear};

/// An accepted movement of money.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Posting {
    pub kind: PostingKind,
    pub amount: Amount,
    /// The external account, merchant or product on the other side, if any.
    pub counterparty: Option<String>,
    /// The ledger account money left, if any.
    pub debit: Option<Leg>,
    /// The ledger account money entered, if any.
    pub credit: Option<Leg>,
}

/// The kinds of posting, one per money-moving command.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PostingKind {
    CashDeposit,
    CashWithdrawal,
    InternalTransfer,
    InboundTransfer,
    OutboundTransfer,
    Payment,
    WealthPurchase,
    WealthRedemption,
}

/// One ledger account's side of a posting, with its figures after the posting.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Leg {
    pub account: AccountId,
    pub flow: Flow,
    pub balance_after: Amount,
    /// Every limit bucket this flow counts in, after the posting.
    pub usage_after: Vec<BucketUsage>,
}

/// Use of one limit bucket of one account in one Beijing day and year.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct BucketUsage {
    pub bucket: String,
    pub day: BeijingDay,
    pub day_used: Amount,
    pub year: BeijingYear,
    pub year_used: Amount,
}

impl BucketUsage {
    /// What was used on `day` and in `year` (zero once the day or year has rolled over).
    pub fn used_at(&self, day: BeijingDay, year: BeijingYear) -> (Amount, Amount) {
        let day_used = if self.day == day && self.year == year { self.day_used } else { Amount::ZERO };
        let year_used = if self.year == year { self.year_used } else { Amount::ZERO };
        (day_used, year_used)
    }
}
