//! A day's large-value groups (per customer, kind and direction: the day's total and the records
//! that make it up), held up to a bound. Past the bound the groups of the highest keys are
//! dropped, and once the day ends its records are read again for them, in as many passes as it
//! takes, each pass taking the keys from where the one before stopped: the memory is the bound's,
//! not the day's activity's, and the lines come in the same order (key order, every key of a
//! pass below every key of the next). The cost is a walk over the day's records per pass past
//! the first: a day with `n` groups takes `n / bound` of them.

use std::collections::BTreeMap;

use crate::ids::CustomerId;
use crate::money::Amount;
use crate::report_lines::{Direction, LargeValueKind, Total};

/// Large-value groups a reporter holds at once (~180 bytes each as measured, with the tree's
/// slack and the reached groups' records at the day's end: ~180 MiB); a day with more is read
/// again for the rest.
pub const REPORT_GROUPS_HELD: usize = 1 << 20;

/// A group's key, in the order its lines come.
pub(crate) type GroupKey = (CustomerId, LargeValueKind, Direction);

/// A customer's running total of one kind and direction on one day.
#[derive(Debug, Default)]
pub(crate) struct DayGroup {
    pub(crate) total: Total,
    /// The first record that makes it up (re-read when the group reaches the threshold): held
    /// apart, so the many groups of one record allocate nothing more.
    first: u64,
    /// The records after the first.
    more: Vec<u64>,
}

impl DayGroup {
    fn add(&mut self, seq: u64, amount: Amount) {
        // Invariant: records are numbered from 1, so 0 marks a group with none yet.
        debug_assert!(seq > 0);
        self.total.add(amount);
        if self.first == 0 {
            self.first = seq;
        } else {
            self.more.push(seq);
        }
    }

    /// Its records, in log order.
    pub(crate) fn seqs(self) -> Vec<u64> {
        std::iter::once(self.first).chain(self.more).collect()
    }
}

/// One pass's groups over one day: the keys from `floor` on (every key in the first pass),
/// at most `bound` of them.
#[derive(Debug)]
pub(crate) struct DayGroups {
    held: BTreeMap<GroupKey, DayGroup>,
    bound: usize,
    /// Keys below it were taken by an earlier pass.
    floor: Option<GroupKey>,
    /// Keys from it on were dropped past the bound: the next pass takes them.
    ceiling: Option<GroupKey>,
}

impl DayGroups {
    /// A pass taking the keys from `floor` on (`None`: all), holding at most `bound` (≥ 1).
    pub(crate) fn new(bound: usize, floor: Option<GroupKey>) -> DayGroups {
        DayGroups { held: BTreeMap::new(), bound: bound.max(1), floor, ceiling: None }
    }

    /// Adds record `seq`'s `amount` to the group `key`, unless another pass takes that key.
    pub(crate) fn add(&mut self, key: GroupKey, seq: u64, amount: Amount) {
        if self.floor.is_some_and(|floor| key < floor) || self.ceiling.is_some_and(|ceiling| key >= ceiling) {
            return;
        }
        self.held.entry(key).or_default().add(seq, amount);
        if self.held.len() > self.bound
            && let Some((dropped, _)) = self.held.pop_last()
        {
            // Every key from the dropped one on waits for the next pass (the held ones are below).
            self.ceiling = Some(dropped);
        }
        // Invariant: the bound holds after every add.
        debug_assert!(self.held.len() <= self.bound);
    }

    /// Groups held now.
    pub(crate) fn len(&self) -> usize {
        self.held.len()
    }

    /// Ends the pass: its groups in key order, and the key the next pass starts at (`None`:
    /// the day is done).
    pub(crate) fn end(self) -> (BTreeMap<GroupKey, DayGroup>, Option<GroupKey>) {
        (self.held, self.ceiling)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_over_the_same_adds_give_every_group_once_in_key_order() {
        let key = |customer: u64, kind, direction| (CustomerId(customer), kind, direction);
        let (cash, transfer) = (LargeValueKind::Cash, LargeValueKind::Transfer);
        let adds = [
            (key(5, cash, Direction::In), 1, 100),
            (key(2, transfer, Direction::Out), 2, 7),
            (key(9, cash, Direction::Out), 3, 1),
            (key(2, transfer, Direction::Out), 4, 3),
            (key(1, cash, Direction::In), 5, 50),
            (key(5, cash, Direction::In), 6, 1),
        ];
        let whole: Vec<(GroupKey, u128, Vec<u64>)> = {
            let mut one = DayGroups::new(usize::MAX, None);
            for (key, seq, fen) in adds {
                one.add(key, seq, Amount::from_fen(fen).unwrap());
            }
            one.end().0.into_iter().map(|(key, group)| (key, group.total.0, group.seqs())).collect()
        };
        assert_eq!(whole.len(), 4);
        for bound in [1, 2, 3, 4, 5] {
            let (mut got, mut floor, mut passes) = (Vec::new(), None, 0);
            loop {
                let mut pass = DayGroups::new(bound, floor);
                for (key, seq, fen) in adds {
                    pass.add(key, seq, Amount::from_fen(fen).unwrap());
                    assert!(pass.len() <= bound, "bound {bound}");
                }
                let (held, next) = pass.end();
                got.extend(held.into_iter().map(|(key, group)| (key, group.total.0, group.seqs())));
                passes += 1;
                match next {
                    Some(next) => floor = Some(next),
                    None => break,
                }
            }
            assert_eq!(got, whole, "bound {bound}");
            assert_eq!(passes, whole.len().div_ceil(bound), "bound {bound}");
        }
    }
}
