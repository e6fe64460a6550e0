//! What a rejection records of a command's text: a text over its limit is withheld (its length
//! and digest kept, not the text), so a client cannot make the log store what it refuses.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::command::{Binding, CommandBody};

/// Longest counterparty, merchant, product, binding reference, lock or risk-list reason or source,
/// in characters.
pub const TEXT_CHARS_MAX: u32 = 128;

/// A text left out of a rejected command's record, in its place the empty string.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct WithheldText {
    /// The command's field, as `INVALID_TEXT` names it (e.g. `merchant`).
    pub field: String,
    /// Its length in characters.
    pub chars: u64,
    /// SHA-256 of its UTF-8 bytes, lower-case hex.
    pub sha256: String,
}

/// `body` as a rejection records it: every text over [`TEXT_CHARS_MAX`] characters emptied, and
/// what was withheld, in field order.
pub fn withhold(body: &CommandBody) -> (CommandBody, Vec<WithheldText>) {
    let mut bounded = body.clone();
    let mut withheld = Vec::new();
    for (field, text) in texts_mut(&mut bounded) {
        let chars = text.chars().count();
        if chars > TEXT_CHARS_MAX as usize {
            let sha256 = Sha256::digest(text.as_bytes()).iter().map(|byte| format!("{byte:02x}")).collect();
            withheld.push(WithheldText { field: field.to_owned(), chars: chars as u64, sha256 });
            text.clear();
        }
    }
    (bounded, withheld)
}

/// Every free text of a command a client writes, by the field name `INVALID_TEXT` uses.
fn texts_mut(body: &mut CommandBody) -> Vec<(&'static str, &mut String)> {
    match body {
        CommandBody::OpenAccount { binding: Some(Binding::External { reference, .. }), .. } => {
            vec![("binding reference", reference)]
        }
        CommandBody::InboundTransfer { counterparty, .. }
        | CommandBody::OutboundTransfer { counterparty, .. }
        | CommandBody::DelayedTransfer { counterparty, .. } => vec![("counterparty", counterparty)],
        CommandBody::Payment { merchant, .. } => vec![("merchant", merchant)],
        CommandBody::WealthPurchase { product, .. } | CommandBody::WealthRedemption { product, .. } => {
            vec![("product", product)]
        }
        CommandBody::LockAccount { reason, .. } => vec![("reason", reason)],
        CommandBody::ListRisk { counterparty, reason, source }
        | CommandBody::UnlistRisk { counterparty, reason, source } => {
            vec![("counterparty", counterparty), ("reason", reason), ("source", source)]
        }
        // Listed one by one: a new command with a free text must say so here. A policy's texts
        // are checked when it is parsed, within the command line's size.
        CommandBody::OpenAccount { .. }
        | CommandBody::CloseAccount { .. }
        | CommandBody::CashDeposit { .. }
        | CommandBody::CashWithdrawal { .. }
        | CommandBody::InternalTransfer { .. }
        | CommandBody::ChangePolicy { .. }
        | CommandBody::UnlockAccount { .. }
        | CommandBody::SetPersonalLimits { .. }
        | CommandBody::SetNightLock { .. }
        | CommandBody::ChangeProtections { .. }
        | CommandBody::ConfirmHold { .. }
        | CommandBody::DeclineHold { .. }
        | CommandBody::CancelTransfer { .. }
        | CommandBody::Tick => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::AccountId;
    use crate::money::Amount;

    #[test]
    fn texts_over_the_limit_are_withheld_with_their_length_and_digest() {
        let pay = |merchant: String| CommandBody::Payment { from: AccountId(1), merchant, amount: Amount::ZERO };
        let at_limit = "m".repeat(TEXT_CHARS_MAX as usize);
        let over = "é".repeat(1_000_000);
        // given a text, then: (kept as it is, withheld length)
        let table = [(at_limit.clone(), None), ("\u{7}bell".to_owned(), None), (over.clone(), Some(1_000_000))];
        for (text, withheld_chars) in table {
            let (bounded, withheld) = withhold(&pay(text.clone()));
            assert_eq!(withheld.first().map(|w| w.chars), withheld_chars);
            let kept = if withheld_chars.is_some() { String::new() } else { text };
            assert_eq!(bounded, pay(kept));
        }
        let (_, withheld) = withhold(&pay(over));
        assert_eq!(withheld[0].field, "merchant");
        assert_eq!(withheld[0].sha256.len(), 64);
        let (_, other) = withhold(&pay("é".repeat(1_000_001)));
        assert_ne!(withheld[0].sha256, other[0].sha256);
    }
}
