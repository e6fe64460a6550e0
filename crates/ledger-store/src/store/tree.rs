//! The Merkle tree's stored nodes (docs/FORMAT.md, "Merkle tree"): reading them, and bringing
//! them up to the head for a ledger written before the tree (or after `rebuild-indexes`); and
//! the ledger id that checkpoints over that tree name (`meta/ledger-id`).

use crate::codec::{self, GENESIS_PREV, Hash, META_LEDGER_ID, META_MERKLE_SIZE};
use crate::error::{Error, Result};
use crate::merkle::{self, Frontier, Nodes};
use crate::store::{Store, Table};

/// The start of every ledger's checkpoint origin line ([`Store::origin`]).
pub const ORIGIN_PREFIX: &str = "tiered-ledger/";

/// Leaves per write while catching up.
const CATCH_UP_BATCH: u64 = 65_536;

impl Nodes for Store {
    type Error = Error;

    fn node(&self, level: u8, index: u64) -> Result<Hash> {
        if level == 0 {
            return Ok(merkle::leaf_hash(&self.record(index + 1)?.hash));
        }
        if level < codec::MERKLE_STORED_LEVEL_MIN {
            return self.computed_node(level, index);
        }
        match self.get(Table::Meta, &codec::merkle_key(level, index))? {
            Some(bytes) => codec::decode_merkle_node(level, index, &bytes),
            None => Err(Error::ReadModel(format!(
                "Merkle node ({level}, {index}) is missing: open the ledger with a writer (or rebuild-indexes) to build the tree"
            ))),
        }
    }
}

impl Store {
    /// A node below the stored levels, from its leaves' record hashes (read and link-checked).
    fn computed_node(&self, level: u8, index: u64) -> Result<Hash> {
        let width = 1u64 << level;
        let first = index * width + 1;
        let prev = if first == 1 { GENESIS_PREV } else { self.record(first - 1)?.hash };
        let mut hashes = Vec::with_capacity(width as usize);
        self.walk(first, first + width - 1, prev, |_, record| {
            hashes.push(merkle::leaf_hash(&record.hash));
            Ok(())
        })?;
        if hashes.len() as u64 != width {
            return Err(Error::Corruption { seq: first + hashes.len() as u64, detail: "record missing".into() });
        }
        while hashes.len() > 1 {
            hashes = hashes.chunks(2).map(|pair| merkle::node_hash(&pair[0], &pair[1])).collect();
        }
        hashes.pop().ok_or_else(|| Error::Corruption { seq: first, detail: "record missing".into() })
    }

    /// How many leaves the stored nodes cover.
    pub(crate) fn merkle_size(&self) -> Result<u64> {
        match self.get(Table::Meta, META_MERKLE_SIZE)? {
            None => Ok(0),
            Some(bytes) => codec::decode_merkle_size(&bytes),
        }
    }

    /// Whether the tree was ever built here (a ledger from before it has no `merkle-size`).
    pub(crate) fn has_tree(&self) -> Result<bool> {
        Ok(self.get(Table::Meta, META_MERKLE_SIZE)?.is_some())
    }

    /// Fails unless the stored nodes cover `size` leaves.
    pub(crate) fn check_tree_covers(&self, size: u64) -> Result<()> {
        let covered = self.merkle_size()?;
        if covered < size {
            return Err(Error::ReadModel(format!(
                "the Merkle tree covers {covered} records, not {size}: open the ledger with a writer once to build it"
            )));
        }
        Ok(())
    }

    /// Stores the nodes of every record from the tree's size to `head_seq` (walking and
    /// checking the log), and returns the frontier at `head_seq`. Idempotent and resumable:
    /// each write carries the size it reached.
    pub(crate) fn merkle_catch_up(&self, head_seq: u64) -> Result<Frontier> {
        let size = self.merkle_size()?;
        if size > head_seq {
            return Err(Error::ReadModel(format!("the Merkle tree covers {size} records, past the head {head_seq}")));
        }
        let mut frontier = Frontier::load(self, size)?;
        if size == head_seq {
            return Ok(frontier);
        }
        let prev = if size == 0 { GENESIS_PREV } else { self.record(size)?.hash };
        let mut batch = self.staged()?;
        self.walk(size + 1, head_seq, prev, |seq, record| {
            for (level, index, hash) in frontier.push(merkle::leaf_hash(&record.hash)) {
                if level >= codec::MERKLE_STORED_LEVEL_MIN {
                    batch.put(Table::Meta, &codec::merkle_key(level, index), &hash);
                }
            }
            if seq.is_multiple_of(CATCH_UP_BATCH) {
                batch.put(Table::Meta, META_MERKLE_SIZE, &seq.to_be_bytes());
                self.commit(std::mem::replace(&mut batch, self.staged()?), false)?;
            }
            Ok(())
        })?;
        batch.put(Table::Meta, META_MERKLE_SIZE, &frontier.size().to_be_bytes());
        self.commit(batch, true)?;
        if frontier.size() != head_seq {
            return Err(Error::Corruption { seq: frontier.size() + 1, detail: "record missing".into() });
        }
        Ok(frontier)
    }

    /// The ledger's id (docs/FORMAT.md, `meta/ledger-id`): what its checkpoints' origin names.
    pub(crate) fn ledger_id(&self) -> Result<[u8; 16]> {
        let bytes = self.get(Table::Meta, META_LEDGER_ID)?.ok_or_else(|| {
            Error::ReadModel("the ledger has no id yet: open it with a writer once to give it one".into())
        })?;
        bytes
            .as_slice()
            .try_into()
            .map_err(|_| Error::Corruption { seq: 0, detail: "meta/ledger-id is not 16 bytes".into() })
    }

    /// The ledger's name in its checkpoints' origin line: `tiered-ledger/` and its id, in hex.
    pub(crate) fn origin(&self) -> Result<String> {
        Ok(format!("{ORIGIN_PREFIX}{}", hex::encode(self.ledger_id()?)))
    }

    /// Gives the ledger `id` (a random one when `None`) unless it has one: a ledger from before
    /// ids gets one at a writer's first open, without touching its records.
    pub(crate) fn ensure_ledger_id(&self, id: Option<[u8; 16]>) -> Result<()> {
        if self.get(Table::Meta, META_LEDGER_ID)?.is_some() {
            return Ok(());
        }
        let mut batch = self.staged()?;
        let id = id.unwrap_or_else(|| *uuid::Uuid::new_v4().as_bytes());
        batch.put(Table::Meta, META_LEDGER_ID, &id);
        self.commit(batch, true)
    }

    /// Gives `copy` (a backup or a migration target) this ledger's id: the same ledger, the
    /// same origin in its checkpoints. A ledger never opened by a writer of this build has none;
    /// its copy then gets its own at its first writer's open.
    pub(crate) fn copy_ledger_id_to(&self, copy: &Store) -> Result<()> {
        match self.ledger_id() {
            Ok(id) => copy.ensure_ledger_id(Some(id)),
            Err(Error::ReadModel(_)) => Ok(()),
            Err(err) => Err(err),
        }
    }
}
