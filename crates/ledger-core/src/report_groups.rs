//! A day's large-value groups (per customer, kind and direction: the day's total and the records
//! that make it up), held up to a bound. At the bound the held groups are written out in key
//! order as a sorted run to scratch space the caller supplies (`report_runs`) and the day goes
//! on with none held; once the day ends its runs and the groups still held are merged in key
//! order (a key's partials summed before its threshold is judged). The memory is the bound's,
//! not the day's activity's, the day's records are walked once, and the lines are those of
//! holding every group at once.

use std::collections::BTreeMap;

use crate::money::Amount;
use crate::report_runs::{DayGroup, GroupKey, GroupSpill, Run, write_run};

/// Large-value groups a reporter holds at once (~180 bytes each as measured, with the tree's
/// slack: ~180 MiB); at the bound they are written out to scratch space as a sorted run.
pub const REPORT_GROUPS_HELD: usize = 1 << 20;

/// One day's groups: those held (at most `bound`) and the runs written out before.
#[derive(Debug)]
pub(crate) struct DayGroups {
    held: BTreeMap<GroupKey, DayGroup>,
    bound: usize,
    /// The runs written out this day, in the order written.
    runs: Vec<Run>,
}

impl DayGroups {
    /// A day's groups, holding at most `bound` (≥ 1) before they are written out.
    pub(crate) fn new(bound: usize) -> DayGroups {
        DayGroups { held: BTreeMap::new(), bound: bound.max(1), runs: Vec::new() }
    }

    /// Adds record `seq`'s `amount` to the group `key`.
    pub(crate) fn add(&mut self, key: GroupKey, seq: u64, amount: Amount) {
        self.held.entry(key).or_default().add(seq, amount);
    }

    /// True once the held groups reach the bound: time to [`spill`](DayGroups::spill) them.
    pub(crate) fn full(&self) -> bool {
        self.held.len() >= self.bound
    }

    /// Writes the held groups out to `spill` as a sorted run; none are held after.
    pub(crate) fn spill<E>(&mut self, spill: &mut dyn GroupSpill<E>) -> Result<(), E> {
        let run = write_run(std::mem::take(&mut self.held), spill)?;
        self.runs.push(run);
        Ok(())
    }

    /// Groups held now.
    pub(crate) fn len(&self) -> usize {
        self.held.len()
    }

    /// True when some groups of the day were written out.
    pub(crate) fn spilled(&self) -> bool {
        !self.runs.is_empty()
    }

    /// Ends the day: the groups held, in key order, and the runs written out before them.
    pub(crate) fn end(self) -> (BTreeMap<GroupKey, DayGroup>, Vec<Run>) {
        (self.held, self.runs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::CustomerId;
    use crate::report_lines::{Direction, LargeValueKind};
    use crate::report_runs::Merge;
    use crate::report_runs::tests::{MemorySpill, drain};

    #[test]
    fn a_day_spilled_at_any_bound_merges_to_the_groups_of_holding_them_all() {
        let key = |customer: u64, kind, direction| (CustomerId(customer), kind, direction);
        let (cash, transfer) = (LargeValueKind::Cash, LargeValueKind::Transfer);
        let adds = [
            (key(5, cash, Direction::In), 1, 100),
            (key(2, transfer, Direction::Out), 2, 7),
            (key(9, cash, Direction::Out), 3, 1),
            (key(2, transfer, Direction::Out), 4, 3),
            (key(1, cash, Direction::In), 5, 50),
            (key(5, cash, Direction::In), 6, 1),
            (key(9, cash, Direction::Out), 7, 2),
            (key(2, transfer, Direction::Out), 8, 1),
        ];
        let day = |bound: usize, spill: &mut MemorySpill| {
            let mut groups = DayGroups::new(bound);
            let mut most = 0;
            for (key, seq, fen) in adds {
                groups.add(key, seq, Amount::from_fen(fen).unwrap());
                // As the reporter does after each record.
                if groups.full() {
                    groups.spill(spill).unwrap();
                }
                most = most.max(groups.len());
            }
            let spilled = groups.spilled();
            let (held, runs) = groups.end();
            let mut merge = Merge::new(&runs, held, spill).unwrap();
            let merged = drain(&mut merge, spill, &|_, total| total.0 >= 4).unwrap();
            (merged, most, runs.len(), spilled)
        };
        let (whole, _, runs, spilled) = day(usize::MAX, &mut MemorySpill::default());
        assert_eq!((runs, spilled), (0, false));
        // Reached (a total of 4 or more), in key order, records in log order.
        let expected = vec![
            (key(1, cash, Direction::In), 50, vec![5]),
            (key(2, transfer, Direction::Out), 11, vec![2, 4, 8]),
            (key(5, cash, Direction::In), 101, vec![1, 6]),
        ];
        assert_eq!(whole, expected);
        for bound in [1, 2, 3, 4, 5] {
            let mut spill = MemorySpill::default();
            let (merged, most, runs, spilled) = day(bound, &mut spill);
            assert_eq!(merged, whole, "bound {bound}");
            assert!(most < bound, "bound {bound}: {most} held after a record");
            // Four groups: a bound of four or fewer writes some out.
            assert_eq!((runs >= 1, spilled), (bound <= 4, bound <= 4), "bound {bound}: {runs} runs");
        }
    }
}
