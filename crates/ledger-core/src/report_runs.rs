//! A day's large-value groups past the bound (`report_groups`), as sorted runs in scratch space
//! the caller supplies ([`GroupSpill`]; the store's is an anonymous temporary file in `TMPDIR`),
//! and their merge once the day ends with the groups still held. A key's partials (one per run
//! it is in, and the held one) are summed before its threshold is judged, and its records come in
//! log order (the runs in the order they were written, the held group last): the lines are those
//! of holding every group at once, from one walk of the day. The merge holds one entry per run
//! (its key, partial total and record count) and a read buffer of at most
//! `RUN_BUFFER_BYTES` per run; a group that reaches its threshold has its records gathered
//! (as many as the day gave it).
//!
//! A run is entries in key order, each: customer (u64 BE), kind and direction (one byte: bit 0
//! set for transfer, bit 1 for out), partial total (u128 BE, fen), record count `n` (u64 BE),
//! then `n` record sequence numbers (u64 BE) in log order. Nothing of it outlives the report.
//!
//! The group itself (`DayGroup`, keyed by `GroupKey`) is defined here, below `report_groups`,
//! which holds them up to the bound.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, btree_map};
use std::iter::Peekable;

use crate::ids::CustomerId;
use crate::money::Amount;
use crate::report_lines::{Direction, LargeValueKind, Total};

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
    pub(crate) fn add(&mut self, seq: u64, amount: Amount) {
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
    pub(crate) fn records(&self) -> impl Iterator<Item = u64> + '_ {
        std::iter::once(self.first).chain(self.more.iter().copied())
    }

    /// How many records make it up.
    pub(crate) fn count(&self) -> usize {
        1 + self.more.len()
    }
}

/// Scratch space for the sorted runs of a day's large-value groups past the bound: bytes
/// appended and read back by offset. What a reporter writes there is read back by it alone and
/// outlives no report.
pub trait GroupSpill<E> {
    /// Appends `bytes` at the end of the space; returns the offset they start at.
    fn append(&mut self, bytes: &[u8]) -> Result<u64, E>;
    /// Fills `buf` with the bytes written at `offset` on (all written before).
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), E>;
    /// Empties the space: nothing written before is read again.
    fn clear(&mut self) -> Result<(), E>;
    /// The error for bytes that do not read back as a run (`detail` says how).
    fn damaged(&self, detail: String) -> E;
}

/// Bytes encoded before an append while writing a run.
const WRITE_BUFFER_BYTES: usize = 64 * 1024;

/// Bytes a run's reader reads at once during the merge (less for a shorter run).
const RUN_BUFFER_BYTES: usize = 64 * 1024;

/// A run's place in the scratch space.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Run {
    at: u64,
    len: u64,
}

/// Writes `held` (in key order) as one run.
pub(crate) fn write_run<E>(held: BTreeMap<GroupKey, DayGroup>, spill: &mut dyn GroupSpill<E>) -> Result<Run, E> {
    let mut buf = Vec::with_capacity(WRITE_BUFFER_BYTES);
    let mut run: Option<Run> = None;
    for ((customer, kind, direction), group) in held {
        buf.extend_from_slice(&customer.0.to_be_bytes());
        buf.push(u8::from(kind == LargeValueKind::Transfer) | (u8::from(direction == Direction::Out) << 1));
        buf.extend_from_slice(&group.total.0.to_be_bytes());
        buf.extend_from_slice(&(group.count() as u64).to_be_bytes());
        for seq in group.records() {
            buf.extend_from_slice(&seq.to_be_bytes());
            if buf.len() >= WRITE_BUFFER_BYTES {
                flush(&mut buf, &mut run, spill)?;
            }
        }
    }
    if !buf.is_empty() || run.is_none() {
        flush(&mut buf, &mut run, spill)?;
    }
    Ok(run.unwrap_or(Run { at: 0, len: 0 }))
}

/// Appends `buf` (emptied) to the run `run` being written (`None`: none of it yet).
fn flush<E>(buf: &mut Vec<u8>, run: &mut Option<Run>, spill: &mut dyn GroupSpill<E>) -> Result<(), E> {
    let at = spill.append(buf)?;
    match run {
        Some(run) => {
            // Invariant: a run's appends follow one another (the space is only appended to).
            debug_assert_eq!(at, run.at + run.len);
            run.len += buf.len() as u64;
        }
        None => *run = Some(Run { at, len: buf.len() as u64 }),
    }
    buf.clear();
    Ok(())
}

/// A run being read: the bytes not yet read, through a buffer.
#[derive(Debug)]
struct RunReader {
    /// The first byte of the run not yet in `buf`.
    next: u64,
    end: u64,
    buf: Vec<u8>,
    /// The first byte of `buf` not yet taken.
    pos: usize,
    capacity: usize,
}

impl RunReader {
    fn new(run: Run) -> RunReader {
        let capacity = usize::try_from(run.len).map_or(RUN_BUFFER_BYTES, |len| len.min(RUN_BUFFER_BYTES));
        RunReader { next: run.at, end: run.at + run.len, buf: Vec::new(), pos: 0, capacity }
    }

    fn at_end(&self) -> bool {
        self.pos == self.buf.len() && self.next == self.end
    }

    /// The next `N` bytes of the run.
    fn take<const N: usize, E>(&mut self, spill: &mut dyn GroupSpill<E>) -> Result<[u8; N], E> {
        if self.buf.len() - self.pos < N {
            self.buf.drain(..self.pos);
            self.pos = 0;
            let kept = self.buf.len();
            let wanted = (self.capacity.max(N) - kept) as u64;
            let read = wanted.min(self.end - self.next) as usize;
            self.buf.resize(kept + read, 0);
            spill.read_at(self.next, &mut self.buf[kept..])?;
            self.next += read as u64;
        }
        let bytes = self.buf.get(self.pos..self.pos + N).and_then(|bytes| <[u8; N]>::try_from(bytes).ok());
        let bytes = bytes.ok_or_else(|| spill.damaged(format!("a run ends inside an entry ({} bytes short)", N)))?;
        self.pos += N;
        Ok(bytes)
    }

    /// Passes over the next `bytes` bytes of the run.
    fn skip<E>(&mut self, bytes: u64, spill: &mut dyn GroupSpill<E>) -> Result<(), E> {
        let buffered = (self.buf.len() - self.pos) as u64;
        if bytes <= buffered {
            self.pos += bytes as usize;
            return Ok(());
        }
        let beyond = bytes - buffered;
        if beyond > self.end - self.next {
            return Err(spill.damaged(format!("a run ends inside an entry's records ({beyond} bytes past)")));
        }
        self.buf.clear();
        self.pos = 0;
        self.next += beyond;
        Ok(())
    }

    /// The next entry's key, partial total and record count (`None` at the end of the run).
    fn header<E>(&mut self, spill: &mut dyn GroupSpill<E>) -> Result<Option<(GroupKey, u128, u64)>, E> {
        if self.at_end() {
            return Ok(None);
        }
        let customer = CustomerId(u64::from_be_bytes(self.take(spill)?));
        let [bits] = self.take::<1, E>(spill)?;
        if bits > 3 {
            return Err(spill.damaged(format!("an entry of kind and direction {bits}")));
        }
        let kind = if bits & 1 == 0 { LargeValueKind::Cash } else { LargeValueKind::Transfer };
        let direction = if bits & 2 == 0 { Direction::In } else { Direction::Out };
        let total = u128::from_be_bytes(self.take(spill)?);
        let count = u64::from_be_bytes(self.take(spill)?);
        Ok(Some(((customer, kind, direction), total, count)))
    }
}

/// A group of the merge that reached its threshold: its key, day total and records (log order).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Merged {
    pub(crate) key: GroupKey,
    pub(crate) total: Total,
    pub(crate) seqs: Vec<u64>,
}

/// The merge of a day's runs and held groups, in key order.
#[derive(Debug)]
pub(crate) struct Merge {
    runs: Vec<RunReader>,
    /// The next entry of each run not yet ended (key, run, partial total, record count):
    /// the least first, of equal keys the earliest run.
    heads: BinaryHeap<Reverse<(GroupKey, usize, u128, u64)>>,
    held: Peekable<btree_map::IntoIter<GroupKey, DayGroup>>,
}

impl Merge {
    /// Merges `runs` (in the order written) and then `held` (written after every run).
    pub(crate) fn new<E>(
        runs: &[Run],
        held: BTreeMap<GroupKey, DayGroup>,
        spill: &mut dyn GroupSpill<E>,
    ) -> Result<Merge, E> {
        let mut merge = Merge {
            runs: runs.iter().map(|run| RunReader::new(*run)).collect(),
            heads: BinaryHeap::with_capacity(runs.len()),
            held: held.into_iter().peekable(),
        };
        for run in 0..merge.runs.len() {
            merge.advance(run, spill)?;
        }
        Ok(merge)
    }

    /// Reads run `run`'s next entry header into the heap.
    fn advance<E>(&mut self, run: usize, spill: &mut dyn GroupSpill<E>) -> Result<(), E> {
        let Some(reader) = self.runs.get_mut(run) else { return Ok(()) };
        if let Some((key, total, count)) = reader.header(spill)? {
            self.heads.push(Reverse((key, run, total, count)));
        }
        Ok(())
    }

    /// The next group in key order whose summed total `reaches` judges reached (the others
    /// passed over); `None` once every run and the held groups are through.
    pub(crate) fn next_reached<E>(
        &mut self,
        spill: &mut dyn GroupSpill<E>,
        reaches: &dyn Fn(&GroupKey, Total) -> bool,
    ) -> Result<Option<Merged>, E> {
        loop {
            let run_key = self.heads.peek().map(|Reverse((key, ..))| *key);
            let held_key = self.held.peek().map(|(key, _)| *key);
            let key = match (run_key, held_key) {
                (Some(run), Some(held)) => run.min(held),
                (Some(key), None) | (None, Some(key)) => key,
                (None, None) => return Ok(None),
            };
            let mut parts = Vec::new();
            while let Some(Reverse((_, run, total, count))) = self.heads.peek().copied().filter(|head| head.0.0 == key)
            {
                self.heads.pop();
                parts.push((run, total, count));
            }
            let held = self.held.next_if(|(held, _)| *held == key).map(|(_, group)| group);
            let mut total = Total(0);
            for (_, part, _) in &parts {
                total.0 += part;
            }
            if let Some(group) = &held {
                total.0 += group.total.0;
            }
            let reached = reaches(&key, total);
            let mut seqs = Vec::new();
            for (run, _, count) in parts {
                let Some(reader) = self.runs.get_mut(run) else { continue };
                if reached {
                    for _ in 0..count {
                        seqs.push(u64::from_be_bytes(reader.take(spill)?));
                    }
                } else {
                    let bytes = count.checked_mul(8);
                    let bytes = bytes.ok_or_else(|| spill.damaged(format!("an entry of {count} records")))?;
                    reader.skip(bytes, spill)?;
                }
                self.advance(run, spill)?;
            }
            if reached {
                if let Some(group) = &held {
                    seqs.extend(group.records());
                }
                return Ok(Some(Merged { key, total, seqs }));
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Scratch space in memory, for tests: what the store's temporary file does, and how many
    /// times it was emptied.
    #[derive(Debug, Default)]
    pub(crate) struct MemorySpill {
        pub(crate) bytes: Vec<u8>,
        pub(crate) clears: usize,
    }

    impl GroupSpill<String> for MemorySpill {
        fn append(&mut self, bytes: &[u8]) -> Result<u64, String> {
            let at = self.bytes.len() as u64;
            self.bytes.extend_from_slice(bytes);
            Ok(at)
        }

        fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), String> {
            let at = usize::try_from(offset).map_err(|err| err.to_string())?;
            let bytes = self
                .bytes
                .get(at..at + buf.len())
                .ok_or_else(|| format!("{} bytes at {at}: past the end", buf.len()))?;
            buf.copy_from_slice(bytes);
            Ok(())
        }

        fn clear(&mut self) -> Result<(), String> {
            self.bytes.clear();
            self.clears += 1;
            Ok(())
        }

        fn damaged(&self, detail: String) -> String {
            format!("damaged: {detail}")
        }
    }

    pub(crate) fn key(customer: u64, kind: LargeValueKind, direction: Direction) -> GroupKey {
        (CustomerId(customer), kind, direction)
    }

    /// A record's amount added to a group: (key, seq, fen).
    type Add = (GroupKey, u64, u64);

    /// Runs, each of its adds.
    type Runs = Vec<Vec<Add>>;

    /// A change to a run's bytes.
    type Damage = dyn Fn(&mut Vec<u8>);

    /// Groups made from `(key, seq, fen)` adds.
    pub(crate) fn groups(adds: &[(GroupKey, u64, u64)]) -> BTreeMap<GroupKey, DayGroup> {
        let mut held = BTreeMap::<GroupKey, DayGroup>::new();
        for (key, seq, fen) in adds {
            held.entry(*key).or_default().add(*seq, Amount::from_fen(*fen).unwrap());
        }
        held
    }

    /// Every group of the merge that `reaches` keeps, as (key, total, records).
    pub(crate) fn drain(
        merge: &mut Merge,
        spill: &mut MemorySpill,
        reaches: &dyn Fn(&GroupKey, Total) -> bool,
    ) -> Result<Vec<(GroupKey, u128, Vec<u64>)>, String> {
        let mut got = Vec::new();
        while let Some(Merged { key, total, seqs }) = merge.next_reached(spill, reaches)? {
            got.push((key, total.0, seqs));
        }
        Ok(got)
    }

    #[test]
    fn runs_merged_with_the_held_groups_give_the_groups_of_all_the_adds() {
        let (cash, transfer, into, out) =
            (LargeValueKind::Cash, LargeValueKind::Transfer, Direction::In, Direction::Out);
        // A group of more records than a run's read buffer holds (its entry read in pieces, or
        // passed over past the buffer).
        let big: Vec<_> = (100..20_100).map(|seq| (key(4, cash, out), seq, 1)).collect();
        let big_then = |more: &[(GroupKey, u64, u64)]| [big.clone(), more.to_vec()].concat();
        // (case, runs written in this order, then the groups still held), seqs rising across them.
        let cases: Vec<(&str, Runs, Vec<Add>)> = vec![
            ("no runs", vec![], vec![(key(1, cash, into), 1, 5), (key(2, transfer, out), 2, 7)]),
            ("one run, nothing held", vec![vec![(key(1, cash, into), 1, 5), (key(2, transfer, out), 2, 7)]], vec![]),
            (
                "equal keys across runs and held",
                vec![
                    vec![(key(1, cash, into), 1, 5), (key(3, cash, into), 2, 1)],
                    vec![(key(1, cash, into), 3, 6), (key(2, cash, into), 4, 2)],
                ],
                vec![(key(1, cash, into), 5, 7), (key(3, cash, into), 6, 3)],
            ),
            (
                "a key in every run",
                vec![
                    vec![(key(7, transfer, out), 1, 1), (key(1, cash, into), 2, 1)],
                    vec![(key(7, transfer, out), 3, 2)],
                    vec![(key(7, transfer, out), 4, 3), (key(9, cash, out), 5, 1)],
                ],
                vec![(key(7, transfer, out), 6, 4)],
            ),
            (
                "empty runs",
                vec![vec![], vec![(key(2, cash, into), 1, 9)], vec![]],
                vec![(key(1, cash, out), 2, 1), (key(2, cash, into), 3, 1)],
            ),
            (
                "kinds and directions of one customer",
                vec![vec![(key(5, transfer, out), 1, 1), (key(5, cash, into), 2, 1)]],
                vec![(key(5, cash, out), 3, 1), (key(5, transfer, into), 4, 1)],
            ),
            (
                "a group larger than a read buffer",
                vec![big_then(&[(key(5, cash, into), 20_100, 3)]), vec![(key(4, cash, out), 20_101, 1)]],
                vec![(key(4, cash, out), 20_102, 1), (key(6, transfer, out), 20_103, 2)],
            ),
        ];
        for (case, runs, held) in cases {
            let every: Vec<_> = runs.iter().flatten().chain(&held).copied().collect();
            for threshold in [0, 2, 5, 12, 10_000] {
                let reaches = |_: &GroupKey, total: Total| total.0 >= threshold;
                let whole: Vec<_> = groups(&every)
                    .into_iter()
                    .map(|(key, group)| (key, group.total.0, group.records().collect::<Vec<_>>()))
                    .filter(|(_, total, _)| *total >= threshold)
                    .collect();
                let mut spill = MemorySpill::default();
                let written: Vec<Run> = runs.iter().map(|run| write_run(groups(run), &mut spill).unwrap()).collect();
                let mut merge = Merge::new(&written, groups(&held), &mut spill).unwrap();
                assert_eq!(drain(&mut merge, &mut spill, &reaches), Ok(whole), "{case}, threshold {threshold}");
            }
        }
    }

    #[test]
    fn a_run_that_does_not_read_back_is_an_error_naming_how() {
        let (cash, into) = (LargeValueKind::Cash, Direction::In);
        let mut spill = MemorySpill::default();
        let run = write_run(groups(&[(key(1, cash, into), 1, 5), (key(2, cash, into), 2, 5)]), &mut spill).unwrap();
        let everything = |_: &GroupKey, _: Total| true;
        // (case, the run's bytes changed so, the error's start)
        let cases: [(&str, &Damage, &str); 3] = [
            ("cut inside a header", &|bytes| bytes.truncate(40), "damaged: a run ends inside an entry"),
            (
                "cut inside the records",
                &|bytes| bytes.truncate(8 + 1 + 16 + 8 + 4),
                "damaged: a run ends inside an entry",
            ),
            ("kind and direction out of range", &|bytes| bytes[8] = 4, "damaged: an entry of kind and direction 4"),
        ];
        for (case, change, error) in cases {
            let mut bytes = spill.bytes.clone();
            change(&mut bytes);
            let len = bytes.len() as u64;
            let mut damaged = MemorySpill { bytes, clears: 0 };
            let run = Run { at: run.at, len: len.min(run.len) };
            let got = Merge::new(&[run], BTreeMap::new(), &mut damaged)
                .and_then(|mut merge| drain(&mut merge, &mut damaged, &everything));
            let got = got.unwrap_err();
            assert!(got.starts_with(error), "{case}: {got}");
        }
    }
}
