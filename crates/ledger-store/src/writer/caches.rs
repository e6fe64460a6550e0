//! The writer's caches over the store: cutting the account cache (CLOCK order, pinned accounts
//! kept) and loading the answered ids a batch names that it does not hold.

use ledger_core::CommandId;

use super::Writer;
use crate::error::Result;
use crate::options::cache_low_water;

impl Writer {
    /// Keeps the account cache within `LedgerOptions::accounts_cached_max` (the answered ids are
    /// cut after [`Writer::commit`] hands a batch over, with nothing in flight): over the bound,
    /// the cache is cut in CLOCK order to its low-water mark (`cache_low_water`), so the
    /// accounts used lately stay and the next batches do not refill cold. An account changed
    /// since the projector's watermark stays pinned (the store may not hold its change yet).
    pub(super) fn evict(&mut self) {
        let max = self.options.accounts_cached_max();
        if self.state.accounts_held() > max {
            // A poisoned watermark (a projector thread that panicked) pins everything: nothing
            // is dropped that the store may not hold.
            let projected = self.store.projection.projected().unwrap_or(0);
            self.pinned.retain(|_, seq| *seq > projected);
            let pinned = &self.pinned;
            self.state.evict(cache_low_water(max), |id| pinned.contains_key(&id));
        } else {
            // Only what it knew absent (openings of this batch): the next batch asks again.
            self.state.evict(usize::MAX, |_| true);
        }
    }

    /// Loads the stored answers of those of `ids` the state does not hold (one batched read).
    pub(super) fn load_answers(&mut self, ids: &[CommandId]) -> Result<()> {
        let mut missing = Vec::new();
        for id in ids {
            match self.state.answer_seq(*id) {
                Some(_) => self.state.touch_answer(*id),
                None => missing.push(*id),
            }
        }
        if missing.is_empty() {
            return Ok(());
        }
        missing.sort_unstable();
        missing.dedup();
        for (id, seq) in missing.iter().zip(self.store.answered_many(&missing)?) {
            if let Some(seq) = seq {
                self.state.remember_answer(*id, seq);
            }
        }
        Ok(())
    }
}
