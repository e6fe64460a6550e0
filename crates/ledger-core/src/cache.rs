//! CLOCK ("second chance") replacement order for the writer's bounded caches: the paged
//! accounts (`view.rs`) and the answered command ids (`Answers`). Pure data structure, no I/O.
//!
//! Every key held is in `ring` once, in the order it came in; a use sets its reference bit (a
//! key in `used`). To free room the hand takes keys from the front of the ring: a key with its
//! bit set loses the bit and goes to the back (a second chance), a key the caller keeps (a
//! pinned account) goes to the back too, any other key is evicted. So a key used since the
//! hand last passed survives the sweep, and the sweep ends after at most two turns of the ring.
//! Memory per key: its slot in the ring (the key's size, plus the ring's spare capacity) and,
//! while its bit is set, an entry in `used` (the key plus about 9 bytes of table).

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::Hash;

/// The hasher of the caches' tables: keyed with a random seed per process (command ids come
/// from clients, who must not be able to choose colliding ids), and several times faster than
/// the standard SipHash, which was 12% of the writer's time at 10k accounts
/// (docs/PERFORMANCE.md, "Issue 29: the writer's own costs").
pub(crate) type Keyed = foldhash::fast::RandomState;

use crate::ids::CommandId;

/// Whether a table or ring of `capacity` holding `len` is worth shrinking after a cut: only
/// when under a quarter full. A table that just doubled is half full, so shrinking at half
/// would undo the doubling at the next cut, and a cache whose bound sits near a doubling would
/// rehash and fault in fresh pages every few batches (docs/PERFORMANCE.md, "Issue 25: what a
/// larger account cache buys at 10M accounts").
pub(crate) fn oversized(capacity: usize, len: usize) -> bool {
    capacity > 4 * len + 1024
}

/// The CLOCK order of a cache's keys.
#[derive(Clone, Debug)]
pub(crate) struct Clock<K: Eq + Hash> {
    ring: VecDeque<K>,
    used: HashSet<K, Keyed>,
}

impl<K: Eq + Hash> Default for Clock<K> {
    fn default() -> Clock<K> {
        Clock { ring: VecDeque::new(), used: HashSet::default() }
    }
}

impl<K: Copy + Eq + Hash> Clock<K> {
    /// A key the cache now holds (once per holding: the caller admits a key it did not hold).
    pub(crate) fn admit(&mut self, key: K) {
        self.ring.push_back(key);
    }

    /// A use of `key`, which the cache holds: it survives the hand's next pass.
    pub(crate) fn touch(&mut self, key: K) {
        self.used.insert(key);
    }

    /// Moves the hand until `count` keys are evicted or the ring has turned twice (every key
    /// left is then kept or was used twice since: nothing more can go). `keep` names keys that
    /// must stay (pinned); the evicted keys are returned, in the order the hand met them.
    pub(crate) fn sweep(&mut self, count: usize, keep: impl Fn(K) -> bool) -> Vec<K> {
        let mut evicted = Vec::with_capacity(count.min(self.ring.len()));
        let mut steps = self.ring.len().saturating_mul(2);
        while evicted.len() < count && steps > 0 {
            steps -= 1;
            let Some(key) = self.ring.pop_front() else { break };
            if self.used.remove(&key) || keep(key) {
                self.ring.push_back(key);
            } else {
                evicted.push(key);
            }
        }
        if oversized(self.ring.capacity(), self.ring.len()) {
            self.ring.shrink_to_fit();
        }
        evicted
    }

    /// Forgets every key.
    pub(crate) fn clear(&mut self) {
        self.ring = VecDeque::new();
        self.used = HashSet::default();
    }
}

/// The answered command ids a state holds (command id → the sequence number of its first
/// event), in CLOCK order for a bounded cache ([`State::evict_answers`](crate::State)).
#[derive(Clone, Debug, Default)]
pub(crate) struct Answers {
    seqs: HashMap<CommandId, u64, Keyed>,
    clock: Clock<CommandId>,
    /// Set: nothing is remembered ([`State::skip_answers`](crate::State)).
    skip: bool,
}

impl Answers {
    pub(crate) fn get(&self, id: CommandId) -> Option<u64> {
        self.seqs.get(&id).copied()
    }

    /// Records `id`'s first answer at `seq`; an answer already held is kept.
    pub(crate) fn remember(&mut self, id: CommandId, seq: u64) {
        if self.skip {
            return;
        }
        if let std::collections::hash_map::Entry::Vacant(entry) = self.seqs.entry(id) {
            entry.insert(seq);
            self.clock.admit(id);
        }
    }

    /// A use of `id` (a retry answered from memory), if held.
    pub(crate) fn touch(&mut self, id: CommandId) {
        if self.seqs.contains_key(&id) {
            self.clock.touch(id);
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.seqs.len()
    }

    /// Evicts ids in CLOCK order until at most `target` are held.
    pub(crate) fn evict_to(&mut self, target: usize) {
        let excess = self.seqs.len().saturating_sub(target);
        for id in self.clock.sweep(excess, |_| false) {
            self.seqs.remove(&id);
        }
        if oversized(self.seqs.capacity(), self.seqs.len()) {
            self.seqs.shrink_to_fit();
        }
    }

    pub(crate) fn clear(&mut self) {
        self.seqs = HashMap::default();
        self.clock.clear();
    }

    /// Forgets every answer held and, while `skip`, remembers none.
    pub(crate) fn skip(&mut self, skip: bool) {
        self.clear();
        self.skip = skip;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Given keys admitted in order, some used (their bit set) and some kept (pinned), when the
    /// hand evicts `count`, then it takes unused, unkept keys in ring order, and gives a used key
    /// a second chance only once.
    #[test]
    fn the_hand_evicts_unused_unkept_keys_in_ring_order() {
        struct Row {
            admitted: &'static [u32],
            used: &'static [u32],
            kept: &'static [u32],
            count: usize,
            evicted: &'static [u32],
        }
        let rows = [
            Row { admitted: &[1, 2, 3, 4], used: &[], kept: &[], count: 2, evicted: &[1, 2] },
            Row { admitted: &[1, 2, 3, 4], used: &[1], kept: &[], count: 2, evicted: &[2, 3] },
            Row { admitted: &[1, 2, 3, 4], used: &[], kept: &[2, 3], count: 2, evicted: &[1, 4] },
            // Every key used: the first turn clears the bits, the second evicts in order.
            Row { admitted: &[1, 2, 3], used: &[1, 2, 3], kept: &[], count: 2, evicted: &[1, 2] },
            // Every key kept: nothing can go, and the sweep ends.
            Row { admitted: &[1, 2], used: &[1], kept: &[1, 2], count: 2, evicted: &[] },
            Row { admitted: &[1, 2], used: &[], kept: &[], count: 5, evicted: &[1, 2] },
            Row { admitted: &[], used: &[], kept: &[], count: 1, evicted: &[] },
        ];
        for (n, row) in rows.iter().enumerate() {
            let mut clock = Clock::default();
            for key in row.admitted {
                clock.admit(*key);
            }
            for key in row.used {
                clock.touch(*key);
            }
            let evicted = clock.sweep(row.count, |key| row.kept.contains(&key));
            assert_eq!(evicted, row.evicted, "row {n}");
            assert_eq!(clock.ring.len(), row.admitted.len() - row.evicted.len(), "row {n}");
        }
    }

    /// Given ids answered in order and one retried (touched), when the cache is cut to a bound,
    /// then the oldest untouched go first and a retried id stays; an answer is never replaced.
    #[test]
    fn answers_keep_the_recent_and_the_retried() {
        let id = |n: u128| CommandId(uuid::Uuid::from_u128(n));
        let mut answers = Answers::default();
        for n in 1..=10 {
            answers.remember(id(n), n as u64);
        }
        answers.remember(id(3), 99);
        answers.touch(id(2));
        answers.evict_to(7);
        let held: Vec<u128> = (1..=10).filter(|n| answers.get(id(*n)).is_some()).collect();
        assert_eq!(held, [2, 5, 6, 7, 8, 9, 10]);
        assert_eq!(answers.get(id(2)), Some(2));
        answers.evict_to(0);
        assert_eq!(answers.len(), 0);
        answers.remember(id(3), 30);
        assert_eq!(answers.get(id(3)), Some(30));
        assert!(answers.get(id(1)).is_none());
        assert!(answers.get(id(11)).is_none(), "{answers:?}");
    }

    /// Given answers whose table has just doubled (half full), when the cache is cut to 90%,
    /// then the table keeps its size (shrunk, the next batches would grow it again: a rehash and
    /// fresh pages every few batches); cut to an eighth, it is shrunk.
    #[test]
    fn a_cut_to_nine_tenths_after_a_doubling_keeps_the_table() {
        let id = |n: u128| CommandId(uuid::Uuid::from_u128(n));
        let mut answers = Answers::default();
        let mut n = 0;
        // Past 1,024 (below it nothing is ever shrunk) to the table's next doubling.
        while answers.len() < 4_096 || answers.seqs.capacity() < 2 * answers.len() - 2 {
            n += 1;
            answers.remember(id(n), n as u64);
        }
        let doubled = answers.seqs.capacity();
        answers.evict_to(answers.len() * 9 / 10);
        // Kept: the capacity less the slots the removed ids left as tombstones (how many depends
        // on the map's random hash seed), far above the half a shrink to fit would leave.
        assert!(answers.seqs.capacity() > doubled / 2, "{} held in {}", answers.len(), answers.seqs.capacity());
        answers.evict_to(answers.len() / 8);
        assert!(answers.seqs.capacity() <= doubled / 8, "{} held in {}", answers.len(), answers.seqs.capacity());
    }

    /// Given answers held, when they are skipped (a replay), then they are forgotten and none is
    /// remembered until skipping ends; after it, answers are remembered again.
    #[test]
    fn skipped_answers_are_neither_held_nor_remembered() {
        let id = |n: u128| CommandId(uuid::Uuid::from_u128(n));
        let mut answers = Answers::default();
        answers.remember(id(1), 1);
        answers.skip(true);
        assert_eq!(answers.len(), 0, "skipping forgets what was held");
        answers.remember(id(2), 2);
        assert_eq!((answers.len(), answers.get(id(2))), (0, None), "nothing remembered while skipped");
        answers.skip(false);
        answers.remember(id(3), 3);
        assert_eq!((answers.len(), answers.get(id(3))), (1, Some(3)), "remembered again after");
    }
}
