//! The reader's proofs and checkpoints: Merkle roots, inclusion and consistency proofs (and their
//! documents), checkpoints made now or recorded in the log, and the checks of a checkpoint
//! against this log (docs/FORMAT.md, "Merkle tree", "Checkpoints and proofs").

use super::*;

impl Reader {
    /// The Merkle root of the first `size` records (docs/FORMAT.md, "Merkle tree").
    pub fn merkle_root(&self, size: u64) -> Result<Hash> {
        self.tree_range(size, size)?;
        merkle::subtree_root(&*self.store, 0, size)
    }

    /// The audit path of record `seq` in the tree of the first `size` records.
    pub fn inclusion_proof(&self, seq: u64, size: u64) -> Result<Vec<Hash>> {
        if seq == 0 {
            return Err(Error::InvalidArgument("records are numbered from 1".into()));
        }
        self.tree_range(seq, size)?;
        merkle::inclusion_proof(&*self.store, seq - 1, size)
    }

    /// The proof that the tree of the first `new_size` records extends the one of `old_size`.
    pub fn consistency_proof(&self, old_size: u64, new_size: u64) -> Result<Vec<Hash>> {
        if old_size == 0 {
            return Err(Error::InvalidArgument("a consistency proof starts from a tree of at least one record".into()));
        }
        self.tree_range(old_size, new_size)?;
        merkle::consistency_proof(&*self.store, old_size, new_size)
    }

    /// `low ≤ size ≤` the head, and the stored tree covers `size`.
    fn tree_range(&self, low: u64, size: u64) -> Result<()> {
        let head = self.head()?;
        if size > head.seq {
            return Err(Error::InvalidArgument(format!("the tree size {size} is past the head {}", head.seq)));
        }
        if low > size {
            return Err(Error::InvalidArgument(format!("{low} is past the tree size {size}")));
        }
        self.store.check_tree_covers(size)
    }

    /// A signed checkpoint of the ledger now: tree size and root at the head, the head, `time`,
    /// signed with `key` (docs/FORMAT.md, "Checkpoints and proofs"): a signed note, or a
    /// version-1 JSON file when `json`.
    pub fn checkpoint(&self, key: &SigningKey, time: Timestamp, json: bool) -> Result<Checkpoint> {
        self.checkpoint_at(key, self.head()?.seq, time, json)
    }

    /// [`Reader::checkpoint`] of the tree of the first `size` records (`size` ≤ the head): its
    /// head is record `size`.
    pub fn checkpoint_at(&self, key: &SigningKey, size: u64, time: Timestamp, json: bool) -> Result<Checkpoint> {
        let root = self.merkle_root(size)?;
        let head = if size == 0 { Head::EMPTY } else { Head { seq: size, hash: self.store.record(size)?.hash } };
        let origin = self.origin()?;
        let source = CheckpointSource { origin: &origin, size, root, head, time };
        if json { Ok(Checkpoint::sign_json(key, &source)) } else { Checkpoint::sign(key, &source) }
    }

    /// The checkpoint recorded of the tree of the first `size` records (docs/FORMAT.md,
    /// "Recorded checkpoints"): record `size + 1`, when it is one.
    pub fn recorded_checkpoint(&self, size: u64) -> Result<Option<RecordedCheckpoint>> {
        let seq = size + 1;
        if seq > self.head()?.seq {
            return Ok(None);
        }
        Ok(RecordedCheckpoint::of(seq, self.store.event(seq)?).filter(|found| found.size == size))
    }

    /// The latest recorded checkpoint, looked for in the last [`RECORDED_CHECKPOINT_SEARCH_MAX`]
    /// records.
    pub fn latest_recorded_checkpoint(&self) -> Result<Option<RecordedCheckpoint>> {
        let head = self.head()?.seq;
        let nearest = self.nearest_recorded(head, (1..=head).rev())?;
        Ok(nearest.and_then(|seq| self.store.event(seq).ok().and_then(|event| RecordedCheckpoint::of(seq, event))))
    }

    /// The sizes of the recorded checkpoints nearest to `size`, below and above it, each looked
    /// for within [`RECORDED_CHECKPOINT_SEARCH_MAX`] records.
    pub fn nearest_recorded_sizes(&self, size: u64) -> Result<(Option<u64>, Option<u64>)> {
        let head = self.head()?.seq;
        let below = self.nearest_recorded(head, (1..=size.min(head)).rev())?;
        let above = self.nearest_recorded(head, size.saturating_add(2)..=head)?;
        Ok((below.map(|seq| seq - 1), above.map(|seq| seq - 1)))
    }

    /// The first of `seqs` (at most [`RECORDED_CHECKPOINT_SEARCH_MAX`] of them) that holds a
    /// recorded checkpoint.
    fn nearest_recorded(&self, head: u64, seqs: impl Iterator<Item = u64>) -> Result<Option<u64>> {
        for seq in seqs.take(usize::try_from(RECORDED_CHECKPOINT_SEARCH_MAX).unwrap_or(usize::MAX)) {
            if seq <= head && matches!(self.store.event(seq)?.body, ledger_core::EventBody::Checkpointed { .. }) {
                return Ok(Some(seq));
            }
        }
        Ok(None)
    }

    /// Every checkpoint recorded in records `from_seq..=to_seq` (a walk of the log, each record
    /// checked), in order.
    pub fn recorded_checkpoints(&self, from_seq: u64, to_seq: u64) -> Result<Vec<RecordedCheckpoint>> {
        let from_seq = from_seq.max(1);
        let prev = if from_seq == 1 { GENESIS_PREV } else { self.store.record(from_seq - 1)?.hash };
        let mut found = Vec::new();
        self.store.walk(from_seq, to_seq, prev, |seq, record| {
            found.extend(RecordedCheckpoint::of(seq, codec::decode_event(seq, record.event_bytes)?));
            Ok(())
        })?;
        Ok(found)
    }

    /// The inclusion proof document of record `seq` in the tree of the first `size` records, as
    /// `ledger-cli prove` writes it and `ledger-server` serves it (docs/FORMAT.md).
    pub fn inclusion_proof_document(&self, seq: u64, size: u64) -> Result<InclusionProof> {
        let path = self.inclusion_proof(seq, size)?;
        let mut line = Vec::new();
        self.export(seq, Some(seq), &mut line)?;
        let record = serde_json::from_slice(&line).map_err(|err| Error::Codec(format!("record {seq}: {err}")))?;
        Ok(InclusionProof {
            format: INCLUSION_FORMAT.into(),
            seq,
            tree_size: size,
            record,
            path: path.iter().map(hex::encode).collect(),
        })
    }

    /// The consistency proof document from the tree of `old_size` records to the one of
    /// `new_size`, as `ledger-cli prove-consistency` writes it and `ledger-server` serves it.
    pub fn consistency_proof_document(&self, old_size: u64, new_size: u64) -> Result<ConsistencyProof> {
        Ok(ConsistencyProof {
            format: CONSISTENCY_FORMAT.into(),
            old_size,
            new_size,
            path: self.consistency_proof(old_size, new_size)?.iter().map(hex::encode).collect(),
        })
    }

    /// The ledger's name in its checkpoints' origin line: `tiered-ledger/` and its id
    /// (`meta/ledger-id`, 16 random bytes given at a writer's first open), in hex.
    pub fn origin(&self) -> Result<String> {
        self.store.origin()
    }

    /// A checkpoint note's origin is this ledger's (a version-1 checkpoint names none).
    pub fn check_origin(&self, checkpoint: &Checkpoint) -> Result<()> {
        match checkpoint.origin() {
            Some(origin) if origin != self.origin()? => {
                Err(Error::HeadMismatch(format!("the checkpoint is of another ledger (origin {origin:?})")))
            }
            _ => Ok(()),
        }
    }

    /// Checks that `checkpoint` describes this ledger: the record at its head has its hash and
    /// the tree of that size has its root (its signature is [`Checkpoint::verify`]'s business).
    pub fn check_checkpoint(&self, checkpoint: &Checkpoint) -> Result<()> {
        let (size, root, head) = checkpoint.parts()?;
        self.check_origin(checkpoint)?;
        if head.seq != size {
            return Err(Error::InvalidArgument(format!(
                "the checkpoint's head {} is not at its tree size {size}",
                head.seq
            )));
        }
        if size > self.head()?.seq {
            return Err(Error::HeadMismatch(format!("the checkpoint's tree has {size} records; this ledger fewer")));
        }
        if head.seq > 0 && self.store.record(head.seq)?.hash != head.hash {
            return Err(Error::HeadMismatch(format!("record {} does not hash to the checkpoint's head", head.seq)));
        }
        if self.merkle_root(size)? != root {
            return Err(Error::HeadMismatch(format!("the tree of {size} records does not have the checkpoint's root")));
        }
        Ok(())
    }
}
