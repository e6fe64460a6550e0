//! The answered command ids on disk (layout 3): command id → the sequence number of its first
//! event, one key per id in a column family of their own (`answered`, tuned for lookups of
//! absent keys in `rocks.rs`), staged by the writer in the batch that answers it.
//! The writer's memory holds only a bounded cache of them (`State::answer_seq`); it loads the ids
//! a batch names here before deciding the batch. Also: building the table from the log (a
//! migration from layout 1 or 2, and a rebuild) and checking it in a replay.

use std::collections::HashSet;

use ledger_core::CommandId;

use super::{Engine, Mismatch, Store, Table};
use crate::codec::{self, GENESIS_PREV};
use crate::error::Result;

/// Answered ids staged per write while the table is built from the log.
const BUILD_BATCH_LEN: usize = 100_000;
/// Events whose ids a replay looks up at once.
const CHECK_BATCH_LEN: usize = 4_096;

impl Store {
    /// The values of `keys` in `table`, in their order: one batched read (RocksDB's batched
    /// multi-get; PostgreSQL: one query). Keys given in ascending byte order (the writer's are)
    /// are not sorted again by RocksDB: its sort of the batch's keys was 8% of the writer's time
    /// (docs/PERFORMANCE.md, "Issue 25, part 1").
    pub(crate) fn get_many<K: AsRef<[u8]>>(&self, table: Table, keys: &[K]) -> Result<Vec<Option<Vec<u8>>>> {
        match &self.engine {
            Engine::Rocks(db) => super::rocks::get_many(db, table, keys),
            Engine::Postgres(pg) => {
                pg.get_many(table, &keys.iter().map(|key| key.as_ref().to_vec()).collect::<Vec<_>>())
            }
        }
    }

    /// The sequence number of the first event that answered `id`, if any (layout 3; see
    /// [`Store::answered_if_layout_3`] for a ledger that may be older).
    pub(crate) fn answered(&self, id: CommandId) -> Result<Option<u64>> {
        self.get(Table::Answered, &codec::answered_key(id))?.map(|bytes| codec::decode_answered(&bytes)).transpose()
    }

    /// [`Store::answered`], or `None` on a ledger before layout 3: it has no table until a
    /// writer's open converts it (and a read-only open of it has no `answered` column family).
    pub(crate) fn answered_if_layout_3(&self, id: CommandId) -> Result<Option<u64>> {
        if self.layout_version()? != codec::LAYOUT_VERSION {
            return Ok(None);
        }
        self.answered(id)
    }

    /// [`Store::answered`] of each of `ids`, in their order, in one batched read.
    pub(crate) fn answered_many(&self, ids: &[CommandId]) -> Result<Vec<Option<u64>>> {
        let keys: Vec<[u8; 16]> = ids.iter().map(|id| codec::answered_key(*id)).collect();
        let found = self.get_many(Table::Answered, &keys)?;
        found.into_iter().map(|bytes| bytes.map(|bytes| codec::decode_answered(&bytes)).transpose()).collect()
    }

    /// Builds the answered-id table from the log: the layout-2 answer chunks and any partial
    /// table are deleted, then each id's first event is written, in batches (memory does not grow
    /// with the log: an id seen in an earlier batch is found on disk). Idempotent: a build cut
    /// short is done again by the next open, since the layout version moves only after it.
    pub(crate) fn rebuild_answered(&self) -> Result<()> {
        let mut staged = self.staged()?;
        staged.delete_prefix(Table::Meta, codec::ANSWERS_PREFIX);
        staged.delete_prefix(Table::Answered, &[]);
        self.commit(staged, true)?;
        let mut staged = self.staged()?;
        let mut in_batch = HashSet::new();
        self.walk(1, u64::MAX, GENESIS_PREV, |seq, record| {
            let event = codec::decode_event(seq, record.event_bytes)?;
            let id = event.command_id;
            if !event.answers_a_command() || in_batch.contains(&id) || self.answered(id)?.is_some() {
                return Ok(());
            }
            in_batch.insert(id);
            staged.put(Table::Answered, &codec::answered_key(id), &seq.to_be_bytes());
            if in_batch.len() >= BUILD_BATCH_LEN {
                self.commit(std::mem::replace(&mut staged, self.staged()?), false)?;
                in_batch.clear();
            }
            Ok(())
        })?;
        self.commit(staged, true)
    }
}

/// A replay's check of the answered-id table, in memory bounded by [`CHECK_BATCH_LEN`]: (a) every
/// event's id is answered at or before the event; (b) as many events are their id's stored first
/// answer as the table has keys. Together: each key names an event of its id, at its first.
#[derive(Default)]
pub(crate) struct AnsweredCheck {
    waiting: Vec<(u64, CommandId)>,
    firsts: u64,
    mismatches: Vec<Mismatch>,
}

/// Mismatches reported at most (the rest are counted in the last).
const MISMATCHES_MAX: usize = 20;

impl AnsweredCheck {
    /// Notes the event at `seq`, answering `id`.
    pub(crate) fn event(&mut self, store: &Store, seq: u64, id: CommandId) -> Result<()> {
        self.waiting.push((seq, id));
        if self.waiting.len() >= CHECK_BATCH_LEN {
            self.check_waiting(store)?;
        }
        Ok(())
    }

    fn check_waiting(&mut self, store: &Store) -> Result<()> {
        let ids: Vec<CommandId> = self.waiting.iter().map(|(_, id)| *id).collect();
        let found = store.answered_many(&ids)?;
        for ((seq, id), found) in self.waiting.drain(..).zip(found) {
            match found {
                Some(first) if first == seq => self.firsts += 1,
                Some(first) if first < seq => {}
                found => {
                    if self.mismatches.len() < MISMATCHES_MAX {
                        self.mismatches.push(Mismatch {
                            account: None,
                            field: format!("answered/{id}"),
                            expected: format!("at most {seq}"),
                            found: found.map_or_else(|| "absent".into(), |first| first.to_string()),
                        });
                    }
                }
            }
        }
        Ok(())
    }

    /// Adds what `other` (the check of other events of the same replay) found to this check.
    pub(crate) fn absorb(&mut self, mut other: AnsweredCheck, store: &Store) -> Result<()> {
        other.check_waiting(store)?;
        self.firsts += other.firsts;
        self.mismatches.extend(other.mismatches);
        self.mismatches.truncate(MISMATCHES_MAX);
        Ok(())
    }

    /// Checks what is left and the table's size; the mismatches found.
    pub(crate) fn finish(mut self, store: &Store) -> Result<Vec<Mismatch>> {
        self.check_waiting(store)?;
        let mut keys = 0u64;
        store.scan(Table::Answered, &[], false, &mut |_, _| {
            keys += 1;
            Ok(true)
        })?;
        if keys != self.firsts {
            self.mismatches.push(Mismatch {
                account: None,
                field: "answered ids".into(),
                expected: format!("{} keys, one per answered command", self.firsts),
                found: format!("{keys} keys"),
            });
        }
        Ok(self.mismatches)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u64) -> CommandId {
        CommandId(uuid::Uuid::from_u64_pair(0, n))
    }

    /// Given ids 1, 3 and 5 answered at seqs 10, 30 and 50, when a batch of ids is looked up in
    /// ascending order (RocksDB is told so and does not sort) or in any other order (with
    /// repeats), then each answer comes back at its id's place.
    #[test]
    fn answered_many_answers_in_the_order_asked_sorted_or_not() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::create(dir.path(), super::super::Tuning::default()).unwrap();
        let mut staged = store.staged().unwrap();
        for (n, seq) in [(1, 10u64), (3, 30), (5, 50)] {
            staged.put(Table::Answered, &codec::answered_key(id(n)), &seq.to_be_bytes());
        }
        store.commit(staged, true).unwrap();
        let cases: [(&[u64], &[Option<u64>]); 4] = [
            (&[1, 2, 3, 4, 5, 6], &[Some(10), None, Some(30), None, Some(50), None]),
            (&[6, 5, 4, 3, 2, 1], &[None, Some(50), None, Some(30), None, Some(10)]),
            (&[5, 1, 5, 2, 3, 1], &[Some(50), Some(10), Some(50), None, Some(30), Some(10)]),
            (&[], &[]),
        ];
        for (asked, expected) in cases {
            let ids: Vec<CommandId> = asked.iter().map(|n| id(*n)).collect();
            assert_eq!(store.answered_many(&ids).unwrap(), expected, "asked {asked:?}");
        }
    }
}
