//! Checkpoints on a schedule (docs/FORMAT.md, "Recorded checkpoints"): when the writer records
//! one ([`due`]), the event it records ([`event`]), and the check `verify` and `replay` make
//! of every recorded one ([`check`]). Everything here is a function of the log, so a restart
//! neither repeats nor skips one.

use ledger_core::{CommandId, Event, EventBody, Principal, Timestamp};

use crate::checkpoint::{Checkpoint, CheckpointSource, SigningKey, VerifyingKey};
use crate::codec::Hash;
use crate::error::{Error, Result};
use crate::store::Head;

/// A checkpoint the writer recorded: the `checkpointed` event at `seq` (= `size` + 1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedCheckpoint {
    pub seq: u64,
    /// The tree of records 1..=`size`.
    pub size: u64,
    /// Its Merkle root, 64 lower-case hex digits.
    pub root: String,
    /// Its C2SP signed note (a checkpoint file's text), when the ledger had a checkpoint key.
    pub note: Option<String>,
    /// The event's time: the head's at `size`.
    pub at: Timestamp,
}

impl RecordedCheckpoint {
    /// The checkpoint `event`, recorded at `seq`, if it is one.
    pub(crate) fn of(seq: u64, event: Event) -> Option<RecordedCheckpoint> {
        match event.body {
            EventBody::Checkpointed { size, root, note } => {
                Some(RecordedCheckpoint { seq, size, root, note, at: event.at })
            }
            _ => None,
        }
    }
}

/// Whether the writer records a checkpoint of the tree of the first `head` records before it
/// appends an event dated `next_at`, the log's last record being dated `head_at` (a checkpoint
/// itself when `head_is_checkpoint`). `every` = 0: never. Otherwise, in this order:
/// - an empty log has nothing to checkpoint;
/// - every tree size that is a multiple of `every` gets one (so `every` ≥ 2: see
///   `check_options`);
/// - the first record of a later Beijing day than the head's gets one before it (the tree of
///   every record of the days before), unless the head is that checkpoint already.
pub(crate) fn due(
    every: u64,
    head: u64,
    head_is_checkpoint: bool,
    head_at: Option<Timestamp>,
    next_at: Timestamp,
) -> bool {
    if every == 0 || head == 0 {
        return false;
    }
    if head.is_multiple_of(every) {
        return true;
    }
    !head_is_checkpoint && head_at.is_some_and(|at| next_at.beijing_day() > at.beijing_day())
}

/// How many checkpoints the writer records before an event dated `next_at`, the log's head being
/// `head` (dated `head_at`, never itself a checkpoint: one is always committed with the record
/// it precedes): 0, 1, or 2 (the day's, then the multiple of `every` it reached).
pub(crate) fn due_before(every: u64, head: u64, head_at: Option<Timestamp>, next_at: Timestamp) -> u64 {
    let mut count = 0;
    while count < 2 && due(every, head + count, count > 0, head_at, next_at) {
        count += 1;
    }
    count
}

/// The checkpoint event of the tree of the first `head.seq` records (root `root`), dated `at`
/// (the head's time: it changes no state), signed by `key` as a C2SP signed note when given.
pub(crate) fn event(key: Option<&SigningKey>, origin: &str, head: Head, root: Hash, at: Timestamp) -> Result<Event> {
    let note = match key {
        Some(key) => {
            let source = CheckpointSource { origin, size: head.seq, root, head, time: at };
            Some(Checkpoint::sign(key, &source)?.to_text()?)
        }
        None => None,
    };
    Ok(Event {
        command_id: CommandId(uuid::Uuid::nil()),
        at,
        body: EventBody::Checkpointed { size: head.seq, root: hex::encode(root), note },
        principal: Some(Principal::ledger()),
        withheld: Vec::new(),
    })
}

/// What a recorded checkpoint is checked against: the log at the checkpoint's size.
pub(crate) struct Expected<'a> {
    /// The record's sequence number.
    pub seq: u64,
    /// The hash of record `seq - 1` (the record's `prev`): the head of the checkpoint's tree.
    pub prev: Hash,
    /// The Merkle root of the first `seq - 1` records.
    pub root: Hash,
    /// This ledger's origin line, when it has an id.
    pub origin: Option<&'a str>,
    /// The ledger's checkpoint key, when the auditor gives it: every note must be signed by it.
    pub key: Option<&'a VerifyingKey>,
}

/// Checks the checkpoint recorded at `expected.seq` (an event of another kind passes), guards
/// in order: its size is the records before it; its root is their Merkle root; its note, if
/// any, states the same tree (size, root, head, time) of this ledger (origin) and carries the
/// signature of `key` when one is given. Any failure is a corruption naming the record.
pub(crate) fn check(event: &Event, expected: &Expected<'_>) -> Result<()> {
    let EventBody::Checkpointed { size, root, note } = &event.body else { return Ok(()) };
    let seq = expected.seq;
    let corrupt = |detail: String| Error::Corruption { seq, detail: format!("recorded checkpoint: {detail}") };
    if *size != seq - 1 {
        return Err(corrupt(format!("size {size}, but {} records precede it", seq - 1)));
    }
    if *root != hex::encode(expected.root) {
        return Err(corrupt(format!(
            "root {root} is not the Merkle root {} of {size} records",
            hex::encode(expected.root)
        )));
    }
    // With the ledger's key, every recorded checkpoint must carry its signature: one recorded
    // without a note would let a rewritten log pass as signed.
    let Some(note) = note else {
        return match expected.key {
            Some(_) => Err(corrupt("unsigned (no note), but the ledger's checkpoint key was given".into())),
            None => Ok(()),
        };
    };
    let checkpoint = Checkpoint::parse(note).map_err(|err| corrupt(err.to_string()))?;
    let Checkpoint::Note { tree, .. } = &checkpoint else {
        return Err(corrupt("the note is not a signed note".into()));
    };
    let head = if *size == 0 { Head::EMPTY } else { Head { seq: *size, hash: expected.prev } };
    if tree.size != *size || tree.root != expected.root || tree.head != head {
        return Err(corrupt("the note states another tree than the record".into()));
    }
    if tree.time != event.at.to_string() {
        return Err(corrupt(format!("the note's time {} is not the record's {}", tree.time, event.at)));
    }
    if let Some(origin) = expected.origin.filter(|origin| tree.origin != *origin) {
        return Err(corrupt(format!("the note names {}, not this ledger ({origin})", tree.origin)));
    }
    match expected.key {
        Some(key) => checkpoint.verify(Some(key)).map_err(|err| corrupt(err.to_string())),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn when_a_checkpoint_is_due() {
        let evening = Some(at("2026-03-01T23:59:59+08:00"));
        let morning = at("2026-03-02T00:00:00+08:00");
        let later = at("2026-03-01T23:59:59.5+08:00");
        // (every, head, head is a checkpoint, head time, next time) → due
        let table = [
            (0, 10, false, evening, morning, false),      // off
            (10, 0, false, None, morning, false),         // nothing to checkpoint
            (10, 10, false, evening, later, true),        // a multiple of every
            (10, 20, true, evening, morning, true),       // a multiple, even after a checkpoint
            (10, 11, false, evening, later, false),       // same day, not a multiple
            (10, 11, false, evening, morning, true),      // the first record of a new day
            (10, 12, true, evening, morning, false),      // ... already checkpointed
            (2, 1, false, Some(morning), morning, false), // same day
        ];
        for (every, head, is_checkpoint, head_at, next, expected) in table {
            assert_eq!(due(every, head, is_checkpoint, head_at, next), expected, "{every} {head} {is_checkpoint}");
        }
    }

    #[test]
    fn a_recorded_checkpoint_is_checked_field_by_field() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let other = SigningKey::from_bytes(&[8; 32]).verifying_key();
        let (prev, root, origin) = ([1; 32], [2; 32], "tiered-ledger/00112233445566778899aabbccddeeff");
        let head = Head { seq: 5, hash: prev };
        let time = at("2026-03-01T23:59:59+08:00");
        let signed = event(Some(&key), origin, head, root, time).unwrap();
        let unsigned = event(None, origin, head, root, time).unwrap();
        let public = key.verifying_key();
        let expected = |seq, root, origin, key| Expected { seq, prev, root, origin, key };
        let edit = |event: &Event, change: &dyn Fn(&mut u64, &mut String, &mut Option<String>)| {
            let mut event = event.clone();
            if let EventBody::Checkpointed { size, root, note } = &mut event.body {
                change(size, root, note);
            }
            event
        };
        let one_byte = edit(&signed, &|_, root, _| root.replace_range(0..2, "03"));
        let other_note = edit(&signed, &|_, _, note| *note = note.clone().map(|n| n.replacen("\n5\n", "\n4\n", 1)));
        // (event, expected, passes)
        let table: Vec<(&str, &Event, Expected<'_>, bool)> = vec![
            ("signed, key known", &signed, expected(6, root, Some(origin), Some(&public)), true),
            ("signed, no key known", &signed, expected(6, root, None, None), true),
            ("unsigned, no key known", &unsigned, expected(6, root, Some(origin), None), true),
            // With the ledger's key every recorded checkpoint must be signed by it.
            ("unsigned, key known", &unsigned, expected(6, root, Some(origin), Some(&public)), false),
            ("another size", &signed, expected(7, root, Some(origin), None), false),
            ("another root", &unsigned, expected(6, [3; 32], Some(origin), None), false),
            ("one byte of the root edited", &one_byte, expected(6, root, Some(origin), None), false),
            ("another ledger", &signed, expected(6, root, Some("tiered-ledger/ff"), None), false),
            ("another key", &signed, expected(6, root, Some(origin), Some(&other)), false),
            ("the note of another tree", &other_note, expected(6, root, Some(origin), None), false),
        ];
        for (name, event, expected, passes) in table {
            let checked = check(event, &expected);
            assert_eq!(checked.is_ok(), passes, "{name}: {checked:?}");
            if let Err(err) = checked {
                assert!(matches!(err, Error::Corruption { seq, .. } if seq == expected.seq), "{name}: {err}");
            }
        }
    }
}
