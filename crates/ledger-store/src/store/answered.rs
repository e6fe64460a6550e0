//! The answered command ids on disk (layout 3): command id → the sequence number of its first
//! event, one key per id in a column family of their own (`answered`, tuned for lookups of
//! absent keys in `rocks.rs`), staged by the writer in the batch that answers it.
//! The writer's memory holds only a bounded cache of them (`State::answer_seq`); it loads the ids
//! a batch names here before deciding the batch. Also: building the table from the log (a
//! migration from layout 1 or 2, and a rebuild) and checking it in a replay (a multiset digest).

use std::collections::HashSet;
use std::hash::Hasher;

use ledger_core::{CommandId, Event, EventBody};
use siphasher::sip128::{Hasher128, SipHasher13};

use super::{Engine, Mismatch, Store, Table};
use crate::codec::{self, GENESIS_PREV};
use crate::error::{Error, Result};

/// Answered ids staged per write while the table is built from the log.
const BUILD_BATCH_LEN: usize = 100_000;
/// First answers whose ids a replay's check looks up at once, once the table differs.
const CHECK_BATCH_LEN: usize = 4_096;

impl Store {
    /// The values of `keys` in `table`, in their order: one batched read (RocksDB's batched
    /// multi-get; PostgreSQL: one query). Keys given in ascending byte order (the writer's are)
    /// are not sorted again by RocksDB: its sort of the batch's keys was 8% of the writer's time
    /// (docs/PERFORMANCE.md, "Issue 25, part 1").
    pub(crate) fn get_many<K: AsRef<[u8]>>(&self, table: Table, keys: &[K]) -> Result<Vec<Option<Vec<u8>>>> {
        match &self.engine {
            Engine::Rocks(rocks) => super::rocks::get_many(rocks.db_of_table(table), table, keys),
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
        if !codec::is_paged_layout(self.layout_version()?) {
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

/// A replay's check of the answered-id table with no lookup per event: an order-independent
/// multiset digest of the (key, value) entries the log says the table must hold, one per
/// command's first answer, against the same digest of the table's entries, read in one
/// sequential scan (on a thread of its own beside the replay), and their counts.
///
/// Which event is its command's first answer is read off the event alone: every event that
/// answers a command (not a recorded checkpoint) except a *due* event, a reservation settled or
/// released carrying its own reservation's id (`due.rs`: it carries the id of the command that
/// made the reservation; a command that settles or releases one by hand has an id of its own,
/// which cannot be the reservation's, since that id was answered). Every command is answered by
/// one event, so a second non-due event with the same id is the same id decided twice: it adds a
/// second entry for one key, which no table can hold, and the digests differ. A due event's id
/// was answered earlier: the state refuses to end a reservation it does not hold, a reservation
/// is made only by a `Reserved` event, and this check requires that event's reservation id to
/// be its own command id (so its entry is in the log's digest, at an earlier seq).
///
/// What equal digests and counts prove: with probability at least 1 − 2^-88 over the digest's
/// key (SipHash-1-3 with 128-bit output, keyed at random per replay and never stored, so
/// nobody can aim a table at it; entries summed mod 2^128; a log of under 2^40 events), the
/// table holds exactly one key per command id the log answers, holding the seq of its first
/// event, and nothing else. What they do not: which entry differs. When they differ, a second
/// pass over the log (corruption only: a lookup per first answer, the old way) names up to
/// [`MISMATCHES_MAX`] of the first answers the table does not hold as they are; keys the table
/// holds beyond them are counted in the summary only.
#[derive(Debug)]
pub(crate) struct AnsweredCheck {
    key: (u64, u64),
    log: EntryDigest,
    mismatches: Vec<Mismatch>,
}

/// Mismatches reported at most (the rest are counted in the last).
const MISMATCHES_MAX: usize = 20;

/// How an event stands to the answered-id table.
enum Answer {
    /// A recorded checkpoint: no command.
    None,
    /// A due event: its id was answered by an earlier event.
    Due,
    /// Its command's first (and only) answer: the table holds its id → its seq.
    First,
}

fn answer_of(event: &Event) -> Answer {
    match &event.body {
        EventBody::Checkpointed { .. } => Answer::None,
        EventBody::ReservationSettled { id, .. } | EventBody::ReservationReleased { id, .. }
            if *id == event.command_id =>
        {
            Answer::Due
        }
        _ => Answer::First,
    }
}

/// An order-independent digest of a multiset of table entries: the count, and the sum mod
/// 2^128 of each entry's keyed SipHash-1-3 (128-bit) over its key's length, key and value.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct EntryDigest {
    count: u64,
    sum: u128,
}

impl EntryDigest {
    fn add(&mut self, (k0, k1): (u64, u64), key: &[u8], value: &[u8]) {
        let mut hasher = SipHasher13::new_with_keys(k0, k1);
        hasher.write(&(key.len() as u64).to_be_bytes());
        hasher.write(key);
        hasher.write(value);
        self.sum = self.sum.wrapping_add(hasher.finish128().as_u128());
        self.count += 1;
    }
}

impl AnsweredCheck {
    /// A check with a new random key.
    pub(crate) fn new() -> Result<AnsweredCheck> {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes)
            .map_err(|err| Error::Io(format!("no random key for the answered-id check: {err}")))?;
        let half = |at: usize| bytes[at..at + 8].try_into().map(u64::from_le_bytes).unwrap_or_default();
        Ok(AnsweredCheck { key: (half(0), half(8)), log: EntryDigest::default(), mismatches: Vec::new() })
    }

    /// Notes the event at `seq` (events given in log order).
    pub(crate) fn event(&mut self, seq: u64, event: &Event) {
        match answer_of(event) {
            Answer::None | Answer::Due => {}
            Answer::First => self.log.add(self.key, &codec::answered_key(event.command_id), &seq.to_be_bytes()),
        }
        if let EventBody::Reserved { reservation, .. } = &event.body
            && reservation.id != event.command_id
            && self.mismatches.len() < MISMATCHES_MAX
        {
            self.mismatches.push(Mismatch {
                account: None,
                field: format!("answered/{}", reservation.id),
                expected: format!("made by the command of its id (seq {seq})"),
                found: format!("made by command {}", event.command_id),
            });
        }
    }

    /// What digests the table with this check's key (on a thread beside the replay).
    pub(crate) fn table_scan(&self) -> TableScan {
        TableScan { key: self.key }
    }

    /// The mismatches found, the table's digest given ([`TableScan::digest`]).
    pub(crate) fn finish(mut self, store: &Store, table: TableDigest) -> Result<Vec<Mismatch>> {
        let TableDigest(table) = table;
        if table == self.log {
            return Ok(self.mismatches);
        }
        let named = self.name_differing(store)?;
        self.mismatches.extend(named);
        self.mismatches.truncate(MISMATCHES_MAX);
        self.mismatches.push(Mismatch {
            account: None,
            field: "answered ids".into(),
            expected: format!("{} keys, one per answered command, holding its first event's seq", self.log.count),
            found: format!("{} keys, differing", table.count),
        });
        Ok(self.mismatches)
    }

    /// Of the first answers in the log, those the table does not hold as they are (at most
    /// [`MISMATCHES_MAX`]): a lookup of each, in batches. Run only once the digests differ.
    fn name_differing(&self, store: &Store) -> Result<Vec<Mismatch>> {
        let mut named = Vec::new();
        let mut waiting: Vec<(u64, CommandId)> = Vec::with_capacity(CHECK_BATCH_LEN);
        let check = |waiting: &mut Vec<(u64, CommandId)>, named: &mut Vec<Mismatch>| -> Result<()> {
            let ids: Vec<CommandId> = waiting.iter().map(|(_, id)| *id).collect();
            for ((seq, id), found) in waiting.drain(..).zip(store.answered_many(&ids)?) {
                if found != Some(seq) && named.len() < MISMATCHES_MAX {
                    named.push(Mismatch {
                        account: None,
                        field: format!("answered/{id}"),
                        expected: seq.to_string(),
                        found: found.map_or_else(|| "absent".into(), |first| first.to_string()),
                    });
                }
            }
            Ok(())
        };
        store.walk_while(1, u64::MAX, GENESIS_PREV, |seq, record| {
            let event = codec::decode_event(seq, record.event_bytes)?;
            if let Answer::First = answer_of(&event) {
                waiting.push((seq, event.command_id));
            }
            if waiting.len() >= CHECK_BATCH_LEN {
                check(&mut waiting, &mut named)?;
            }
            Ok(named.len() < MISMATCHES_MAX)
        })?;
        check(&mut waiting, &mut named)?;
        Ok(named)
    }
}

/// Digests the answered-id table with an [`AnsweredCheck`]'s key.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TableScan {
    key: (u64, u64),
}

impl TableScan {
    /// The digest of the table's entries, in one sequential scan.
    pub(crate) fn digest(self, store: &Store) -> Result<TableDigest> {
        let mut table = EntryDigest::default();
        store.scan(Table::Answered, &[], false, &mut |key, value| {
            table.add(self.key, key, value);
            Ok(true)
        })?;
        Ok(TableDigest(table))
    }
}

/// The digest of the answered-id table's entries ([`TableScan::digest`]).
#[derive(Debug)]
pub(crate) struct TableDigest(EntryDigest);

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
