//! Every byte the store writes is encoded here (see docs/FORMAT.md). Keys are big-endian so
//! RocksDB's byte order is numeric order. Values are bincode 2.0.1 (serde) with the explicit
//! configuration [`config`]; changing any of this is a format change and needs a version bump.

use ledger_core::{
    Account, AccountId, CommandId, CustomerId, Event, PolicyVersion, ProtectionSettings, Protections, Reservation,
    State, Timestamp,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// The record format version of the records written now (the first byte of a record). Version
/// 2 events name their principal and the texts a rejection withheld; their bytes start with
/// [`EVENT_V2_MARKER`], so the version is covered by the hash. Version 1 records stay valid and
/// are never rewritten: they decode with no principal and nothing withheld (later event, command
/// and reason kinds were only appended, so every version-1 record decodes to the same event).
pub const FORMAT_VERSION: u8 = 2;
/// The record format version before principals (records written before format 2).
pub const FORMAT_VERSION_V1: u8 = 1;
/// The first byte of a version-2 event's bytes. A version-1 event's bytes start with its command
/// id's length, `0x10`, so the two never meet.
pub const EVENT_V2_MARKER: u8 = 0x02;
/// The ledger's layout version, stored under `meta/format` (the records keep
/// [`FORMAT_VERSION`]). Layout 2: the history index and account read models are written behind
/// the writer, up to `meta/projected` (docs/FORMAT.md, "Layout versions"). Layout 3: every
/// answered command id is a key of its own (column family `answered`), written in the batch that
/// answers it. Layout 4: no snapshot; the state is paged over its read models (the account read
/// models are authoritative up to `meta/projected`, the writer's cache after it). Layout 5: on
/// RocksDB the projected keys (`accounts`, `customers`, `history`, `meta/projected`) are in a
/// database of their own, `projected/` inside the ledger's directory (on PostgreSQL nothing moves).
pub const LAYOUT_VERSION: u8 = 5;
/// Layout 4: one RocksDB database holds every key. A writer's open brings it to layout 5.
pub const LAYOUT_VERSION_ONE_DATABASE: u8 = 4;

/// Whether a ledger of `layout` keeps its state paged over the read models (layouts 4 and 5).
pub fn is_paged_layout(layout: u8) -> bool {
    layout == LAYOUT_VERSION || layout == LAYOUT_VERSION_ONE_DATABASE
}
/// Layout 3: answered ids on disk (column family `answered`), the state in a snapshot
/// (`meta/snapshot`, version 4). A writer's open brings it to layout 4.
pub const LAYOUT_VERSION_ANSWERS_ON_DISK: u8 = 3;
/// Layout 2: answered command ids are in answer chunks beside the snapshot (`meta/answers/…`). A
/// writer's open brings it to layout 3.
pub const LAYOUT_VERSION_CHUNKED_ANSWERS: u8 = 2;
/// Layout 1: the history index and account read models are always at the head, and
/// `meta/projected` is absent. A writer's open brings it to layout 2.
pub const LAYOUT_VERSION_UNPROJECTED: u8 = 1;
/// `meta/format` while `rebuild-indexes` has dropped the read models and not yet written them
/// all again (a rebuild running, or cut short): every open refuses the ledger until a rebuild
/// ends, and builds before this one refuse it as a format they do not read.
pub const LAYOUT_REBUILDING: u8 = 0xFE;
/// The snapshot layout version (the first byte of a snapshot). A snapshot of an older version
/// is superseded, not corrupt: the state is rebuilt from the log and a new snapshot written.
/// Version 1 predates protections (its `State` has no protection fields); version 2 holds every
/// answered command id in the snapshot itself; version 3 keeps them in answer chunks written once
/// each (`meta/answers/…`); version 4 holds none: they are keys of their own (column family `answered`).
/// Layout 4 writes no snapshot: a version-4 snapshot is read only to convert a layout-3 ledger.
pub const SNAPSHOT_VERSION: u8 = 4;
/// Domain tag of an event hash.
pub const EVENT_HASH_DOMAIN: &[u8; 24] = b"tiered-ledger/event/v1\0\0";
/// Domain tag of a snapshot checksum.
pub const SNAPSHOT_HASH_DOMAIN: &[u8; 24] = b"tiered-ledger/snapshot/1";
/// Largest value bincode may decode, so a corrupted length never allocates without bound.
pub const DECODE_BYTES_MAX: usize = 1 << 30;

/// A SHA-256 digest.
pub type Hash = [u8; 32];
/// The previous hash of the first record.
pub const GENESIS_PREV: Hash = [0; 32];

/// Record header: version (1) + previous hash (32) + own hash (32).
pub const RECORD_HEADER_LEN: usize = 1 + 32 + 32;

/// Little-endian, variable-length integers, at most [`DECODE_BYTES_MAX`] per value.
pub fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_little_endian().with_variable_int_encoding().with_limit::<DECODE_BYTES_MAX>()
}

pub(crate) fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    bincode::serde::encode_to_vec(value, config()).map_err(|err| Error::Codec(err.to_string()))
}

/// Decodes a whole value: trailing bytes are an error.
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> std::result::Result<T, String> {
    let (value, used) = bincode::serde::decode_from_slice(bytes, config()).map_err(|err| err.to_string())?;
    if used != bytes.len() {
        return Err(format!("{} trailing bytes", bytes.len() - used));
    }
    Ok(value)
}

/// The exact bytes an event is hashed and stored as (version 2): `0x02 ‖ bincode(Event)`.
pub fn encode_event(event: &Event) -> Result<Vec<u8>> {
    // Encoded in place into room for a usual event: growing an empty vector byte run by byte
    // run and copying it after the marker was 9% of the writer's time (docs/PERFORMANCE.md,
    // "Issue 29: the writer's own costs"). The same bytes.
    let mut bytes = Vec::with_capacity(EVENT_BYTES_USUAL);
    bytes.push(EVENT_V2_MARKER);
    bincode::serde::encode_into_std_write(event, &mut bytes, config()).map_err(|err| Error::Codec(err.to_string()))?;
    Ok(bytes)
}

/// Room reserved for an event's bytes: a transfer's are ~150–250.
const EVENT_BYTES_USUAL: usize = 320;

/// An event as format 1 encoded it: no principal, nothing withheld.
#[derive(serde::Deserialize)]
struct EventV1 {
    command_id: CommandId,
    at: Timestamp,
    body: ledger_core::EventBody,
}

/// An event's bytes in format 1 (no principal, nothing withheld): what records written before
/// format 2 hold. The writer never writes it; the test vectors and the migration test's ledger
/// of today's layout do.
pub fn encode_event_v1(event: &Event) -> Result<Vec<u8>> {
    #[derive(Serialize)]
    struct EventV1Ref<'a> {
        command_id: CommandId,
        at: Timestamp,
        body: &'a ledger_core::EventBody,
    }
    encode(&EventV1Ref { command_id: event.command_id, at: event.at, body: &event.body })
}

/// The record format version of an event's bytes (by their first byte).
pub fn event_version(bytes: &[u8]) -> u8 {
    if bytes.first() == Some(&EVENT_V2_MARKER) { FORMAT_VERSION } else { FORMAT_VERSION_V1 }
}

/// Decodes an event stored at `seq`, of either version.
pub fn decode_event(seq: u64, bytes: &[u8]) -> Result<Event> {
    let decoded = match bytes.split_first() {
        Some((&EVENT_V2_MARKER, rest)) => decode(rest),
        _ => decode::<EventV1>(bytes).map(|old| Event {
            command_id: old.command_id,
            at: old.at,
            body: old.body,
            principal: None,
            withheld: Vec::new(),
        }),
    };
    decoded.map_err(|detail| Error::Corruption { seq, detail: format!("event does not decode: {detail}") })
}

/// `SHA-256(EVENT_HASH_DOMAIN || seq as u64 big-endian || prev || event_bytes)`.
pub fn event_hash(seq: u64, prev: &Hash, event_bytes: &[u8]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update(EVENT_HASH_DOMAIN);
    hasher.update(seq.to_be_bytes());
    hasher.update(prev);
    hasher.update(event_bytes);
    hasher.finalize().into()
}

/// A log record: the chain link and the encoded event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub prev: Hash,
    pub hash: Hash,
    pub event_bytes: Vec<u8>,
}

impl Record {
    /// Links `event_bytes` at `seq` after `prev`.
    pub fn new(seq: u64, prev: Hash, event_bytes: Vec<u8>) -> Record {
        let hash = event_hash(seq, &prev, &event_bytes);
        Record { prev, hash, event_bytes }
    }

    /// `version || prev || hash || event_bytes`, the version that of the event's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(RECORD_HEADER_LEN + self.event_bytes.len());
        out.push(event_version(&self.event_bytes));
        out.extend_from_slice(&self.prev);
        out.extend_from_slice(&self.hash);
        out.extend_from_slice(&self.event_bytes);
        out
    }

    /// `event`'s record at `seq` after `prev` and its hash: the bytes of
    /// `Record::new(seq, prev, encode_event(event)?).encode()`, built in one buffer with the
    /// event encoded in place (the writer's path: no copy of the event's bytes).
    pub(crate) fn encode_event_at(seq: u64, prev: Hash, event: &Event) -> Result<(Hash, Vec<u8>)> {
        let mut out = Vec::with_capacity(RECORD_HEADER_LEN + EVENT_BYTES_USUAL);
        out.push(FORMAT_VERSION);
        out.extend_from_slice(&prev);
        out.extend_from_slice(&[0; 32]);
        out.push(EVENT_V2_MARKER);
        bincode::serde::encode_into_std_write(event, &mut out, config())
            .map_err(|err| Error::Codec(err.to_string()))?;
        let hash = event_hash(seq, &prev, &out[RECORD_HEADER_LEN..]);
        out[1 + 32..RECORD_HEADER_LEN].copy_from_slice(&hash);
        Ok((hash, out))
    }

    /// Parses the record stored at `seq` and checks its own hash (not yet its link).
    pub fn decode(seq: u64, bytes: &[u8]) -> Result<Record> {
        let record = RecordRef::decode(seq, bytes)?;
        Ok(Record { prev: record.prev, hash: record.hash, event_bytes: record.event_bytes.to_vec() })
    }

    /// Checks that this record (at `seq`) follows a record whose hash is `expected_prev`.
    pub fn check_link(&self, seq: u64, expected_prev: &Hash) -> Result<()> {
        check_link(seq, &self.prev, expected_prev)
    }
}

/// A record read in place (no copy of the event bytes): what walks over the log use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordRef<'a> {
    pub prev: Hash,
    pub hash: Hash,
    pub event_bytes: &'a [u8],
}

impl<'a> RecordRef<'a> {
    /// Parses the record stored at `seq` and checks its own hash (not yet its link).
    pub fn decode(seq: u64, bytes: &'a [u8]) -> Result<RecordRef<'a>> {
        let corrupt = |detail: String| Error::Corruption { seq, detail };
        if bytes.len() < RECORD_HEADER_LEN {
            return Err(corrupt(format!("record is {} bytes, shorter than its header", bytes.len())));
        }
        let version = event_version(&bytes[RECORD_HEADER_LEN..]);
        if bytes[0] != version {
            return Err(corrupt(format!("record format version {} for an event of version {version}", bytes[0])));
        }
        let mut prev = [0u8; 32];
        let mut hash = [0u8; 32];
        prev.copy_from_slice(&bytes[1..33]);
        hash.copy_from_slice(&bytes[33..65]);
        let record = RecordRef { prev, hash, event_bytes: &bytes[RECORD_HEADER_LEN..] };
        let computed = event_hash(seq, &record.prev, record.event_bytes);
        if computed != record.hash {
            return Err(corrupt(format!(
                "hash mismatch: stored {}, computed {}",
                hex::encode(record.hash),
                hex::encode(computed)
            )));
        }
        Ok(record)
    }

    /// Checks that this record (at `seq`) follows a record whose hash is `expected_prev`.
    pub fn check_link(&self, seq: u64, expected_prev: &Hash) -> Result<()> {
        check_link(seq, &self.prev, expected_prev)
    }
}

fn check_link(seq: u64, prev: &Hash, expected_prev: &Hash) -> Result<()> {
    if prev != expected_prev {
        return Err(Error::Corruption {
            seq,
            detail: format!(
                "broken link: previous hash {} but the record before hashes to {}",
                hex::encode(prev),
                hex::encode(expected_prev)
            ),
        });
    }
    Ok(())
}

/// Key of the record at `seq` in the `log` column family.
pub fn seq_key(seq: u64) -> [u8; 8] {
    seq.to_be_bytes()
}

/// The sequence number a `log` key stands for.
pub fn decode_seq_key(key: &[u8]) -> Result<u64> {
    let bytes: [u8; 8] = key.try_into().map_err(|_| Error::Damaged(format!("a log key of {} bytes", key.len())))?;
    Ok(u64::from_be_bytes(bytes))
}

/// Key of an account in the `accounts` column family.
pub fn account_key(account: AccountId) -> [u8; 8] {
    account.0.to_be_bytes()
}

/// Key of `account` under `customer` in the `customers` column family (value empty).
pub fn customer_key(customer: CustomerId, account: AccountId) -> [u8; 16] {
    let mut key = [0u8; 16];
    key[..8].copy_from_slice(&customer.0.to_be_bytes());
    key[8..].copy_from_slice(&account.0.to_be_bytes());
    key
}

/// Key of event `seq` touching `account` in the `history` column family (value empty).
pub fn history_key(account: AccountId, seq: u64) -> [u8; 16] {
    let mut key = [0u8; 16];
    key[..8].copy_from_slice(&account.0.to_be_bytes());
    key[8..].copy_from_slice(&seq.to_be_bytes());
    key
}

/// Splits a 16-byte index key into its two big-endian halves.
pub fn split_index_key(key: &[u8]) -> Option<(u64, u64)> {
    let first: [u8; 8] = key.get(..8)?.try_into().ok()?;
    let second: [u8; 8] = key.get(8..16)?.try_into().ok()?;
    (key.len() == 16).then(|| (u64::from_be_bytes(first), u64::from_be_bytes(second)))
}

/// The account read model.
pub fn encode_account(account: &Account) -> Result<Vec<u8>> {
    encode(account)
}

/// Decodes an account read model.
pub fn decode_account(bytes: &[u8]) -> Result<Account> {
    decode(bytes).map_err(|detail| Error::ReadModel(format!("account does not decode: {detail}")))
}

/// The policy schedule read model.
pub fn encode_policies(versions: &[PolicyVersion]) -> Result<Vec<u8>> {
    encode(&versions)
}

/// Decodes the policy schedule read model.
pub fn decode_policies(bytes: &[u8]) -> Result<Vec<PolicyVersion>> {
    decode(bytes).map_err(|detail| Error::ReadModel(format!("policies do not decode: {detail}")))
}

/// Key prefix of the protections read model: `protections/ || account (u64 BE)`.
pub const PROTECTIONS_PREFIX: &[u8] = b"protections/";
/// Key prefix of the pending (held or scheduled) outflows: `pending/ || command id (16 bytes)`.
pub const PENDING_PREFIX: &[u8] = b"pending/";
/// Key prefix of the risk list: `risk/ || counterparty (UTF-8)`; the value is the listing seq.
pub const RISK_PREFIX: &[u8] = b"risk/";
/// Meta keys of the Merkle tree's stored nodes: `merkle/` + level (1 byte) + index (u64 BE).
pub const MERKLE_PREFIX: &[u8] = b"merkle/";
/// Prefix of the answer chunks (`meta/answers/` ‖ to_seq u64 BE): answered command ids, each
/// chunk those first answered after the chunk before it, up to its `to_seq`.
pub const ANSWERS_PREFIX: &[u8] = b"answers/";
/// The lowest level of Merkle node stored (a node of 16 leaves): lower ones are computed from
/// the log's record hashes when a proof needs them (at most 15 records read), which keeps the
/// writer's cost and the storage to one node per 16 records.
pub const MERKLE_STORED_LEVEL_MIN: u8 = 4;
/// Meta key: how many leaves (records from seq 1) the stored Merkle nodes cover (u64 BE).
pub const META_MERKLE_SIZE: &[u8] = b"merkle-size";
/// Meta key: the ledger's id (16 random bytes), which its checkpoints' origin line names.
pub const META_LEDGER_ID: &[u8] = b"ledger-id";

/// The key of an answered command id in the `answered` column family (layout 3): the command id
/// (16 bytes); the value is the sequence number of the command's first event (u64 BE).
pub fn answered_key(id: CommandId) -> [u8; 16] {
    *id.0.as_bytes()
}

/// The command id of an `answered` key.
pub fn decode_answered_key(key: &[u8]) -> Result<CommandId> {
    let id =
        <[u8; 16]>::try_from(key).map_err(|_| Error::ReadModel(format!("answered-id key of {} bytes", key.len())))?;
    Ok(CommandId(uuid::Uuid::from_bytes(id)))
}

/// The sequence number an `answered` key holds.
pub fn decode_answered(bytes: &[u8]) -> Result<u64> {
    let seq = <[u8; 8]>::try_from(bytes).map_err(|_| Error::ReadModel("answered id: not 8 bytes".into()))?;
    Ok(u64::from_be_bytes(seq))
}

fn prefixed(prefix: &[u8], rest: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(prefix.len() + rest.len());
    key.extend_from_slice(prefix);
    key.extend_from_slice(rest);
    key
}

/// `protections/ || account (u64 BE)`.
pub fn protections_key(account: AccountId) -> Vec<u8> {
    prefixed(PROTECTIONS_PREFIX, &account.0.to_be_bytes())
}

/// `pending/ || command id`.
pub fn pending_key(id: CommandId) -> Vec<u8> {
    prefixed(PENDING_PREFIX, id.0.as_bytes())
}

/// `risk/ || counterparty`.
pub fn risk_key(counterparty: &str) -> Vec<u8> {
    prefixed(RISK_PREFIX, counterparty.as_bytes())
}

/// The protections read model of one account.
pub fn encode_protections(protections: &Protections) -> Result<Vec<u8>> {
    encode(protections)
}

/// Decodes the protections read model of one account.
pub fn decode_protections(bytes: &[u8]) -> Result<Protections> {
    decode(bytes).map_err(|detail| Error::ReadModel(format!("protections do not decode: {detail}")))
}

/// A pending outflow's read model.
pub fn encode_reservation(reservation: &Reservation) -> Result<Vec<u8>> {
    encode(reservation)
}

/// Decodes a pending outflow's read model.
pub fn decode_reservation(bytes: &[u8]) -> Result<Reservation> {
    decode(bytes).map_err(|detail| Error::ReadModel(format!("pending outflow does not decode: {detail}")))
}

/// The protection settings schedule read model.
pub fn encode_protection_settings(versions: &[(Timestamp, ProtectionSettings)]) -> Result<Vec<u8>> {
    encode(&versions)
}

/// Decodes the protection settings schedule read model.
pub fn decode_protection_settings(bytes: &[u8]) -> Result<Vec<(Timestamp, ProtectionSettings)>> {
    decode(bytes).map_err(|detail| Error::ReadModel(format!("protection settings do not decode: {detail}")))
}

/// A risk-list entry's value: the listing seq (u64 BE).
pub fn decode_risk_seq(bytes: &[u8]) -> Result<u64> {
    let bytes: [u8; 8] =
        bytes.try_into().map_err(|_| Error::ReadModel("risk-list entry of the wrong length".into()))?;
    Ok(u64::from_be_bytes(bytes))
}

/// The head: `seq (u64 BE) || hash`.
pub fn encode_head(seq: u64, hash: &Hash) -> [u8; 40] {
    let mut out = [0u8; 40];
    out[..8].copy_from_slice(&seq.to_be_bytes());
    out[8..].copy_from_slice(hash);
    out
}

/// The meta key of the Merkle node covering leaves `index·2^level ..` (level ≥ 1).
pub fn merkle_key(level: u8, index: u64) -> [u8; 16] {
    let mut key = [0u8; 16];
    key[..7].copy_from_slice(MERKLE_PREFIX);
    key[7] = level;
    key[8..].copy_from_slice(&index.to_be_bytes());
    key
}

/// Decodes a stored Merkle node (32 bytes).
pub fn decode_merkle_node(level: u8, index: u64, bytes: &[u8]) -> Result<Hash> {
    bytes
        .try_into()
        .map_err(|_| Error::ReadModel(format!("Merkle node ({level}, {index}) is {} bytes, not 32", bytes.len())))
}

/// Decodes the Merkle tree's size (u64 BE).
pub fn decode_merkle_size(bytes: &[u8]) -> Result<u64> {
    decode_meta_u64("merkle-size", bytes)
}

/// Decodes `meta/projected` (u64 BE).
pub fn decode_projected(bytes: &[u8]) -> Result<u64> {
    decode_meta_u64("projected", bytes)
}

/// A `meta` value that is one u64 BE.
fn decode_meta_u64(name: &str, bytes: &[u8]) -> Result<u64> {
    let bytes: [u8; 8] =
        bytes.try_into().map_err(|_| Error::ReadModel(format!("meta/{name} is {} bytes, not 8", bytes.len())))?;
    Ok(u64::from_be_bytes(bytes))
}

/// Decodes the head.
pub fn decode_head(bytes: &[u8]) -> Result<(u64, Hash)> {
    if bytes.len() != 40 {
        return Err(Error::Damaged(format!("the committed head (meta/head) is {} bytes, not 40", bytes.len())));
    }
    let mut seq = [0u8; 8];
    let mut hash = [0u8; 32];
    seq.copy_from_slice(&bytes[..8]);
    hash.copy_from_slice(&bytes[8..]);
    Ok((u64::from_be_bytes(seq), hash))
}

/// The marker file's whole content: what makes a directory a tiered-ledger (`init` writes it
/// first; every open checks it before RocksDB touches anything).
pub const MARKER_TEXT: &[u8] = b"tiered-ledger\nformat 1\n";

/// Domain tag of the head witness's checksum.
pub const WITNESS_HASH_DOMAIN: &[u8; 24] = b"tiered-ledger/witness/1\0";

/// Length of the head witness file.
pub const WITNESS_LEN: usize = 8 + 32 + 8;

/// The head witness: `seq (u64 BE) || hash || checksum`, the checksum being the first 8 bytes of
/// `SHA-256(WITNESS_HASH_DOMAIN || seq BE || hash)`. It names a head that was acknowledged.
pub fn encode_witness(seq: u64, hash: &Hash) -> [u8; WITNESS_LEN] {
    let mut out = [0u8; WITNESS_LEN];
    out[..40].copy_from_slice(&encode_head(seq, hash));
    let checksum = witness_checksum(&out[..40]);
    out[40..].copy_from_slice(&checksum);
    out
}

/// Decodes a head witness; `None` when its length or checksum is wrong (torn or damaged).
pub fn decode_witness(bytes: &[u8]) -> Option<(u64, Hash)> {
    if bytes.len() != WITNESS_LEN || bytes[40..] != witness_checksum(&bytes[..40]) {
        return None;
    }
    decode_head(&bytes[..40]).ok()
}

fn witness_checksum(head: &[u8]) -> [u8; 8] {
    let mut hasher = Sha256::new();
    hasher.update(WITNESS_HASH_DOMAIN);
    hasher.update(head);
    let digest: Hash = hasher.finalize().into();
    let mut out = [0u8; 8];
    out.copy_from_slice(&digest[..8]);
    out
}

fn snapshot_checksum(seq: u64, hash: &Hash, body: &[u8]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update(SNAPSHOT_HASH_DOMAIN);
    hasher.update(seq.to_be_bytes());
    hasher.update(hash);
    hasher.update(body);
    hasher.finalize().into()
}

/// A snapshot of the state after event `seq` (whose hash is `hash`):
/// `version || seq (u64 BE) || hash || checksum || bincode(State)`, where
/// `checksum = SHA-256(SNAPSHOT_HASH_DOMAIN || seq BE || hash || bincode(State))`. The answered
/// ids are not in it: each is a key of its own (`answered/…`), written with the event.
pub fn encode_snapshot(seq: u64, hash: &Hash, state: &State) -> Result<Vec<u8>> {
    let body = encode(state)?;
    let checksum = snapshot_checksum(seq, hash, &body);
    let mut snapshot = Vec::with_capacity(1 + 8 + 32 + 32 + body.len());
    snapshot.push(SNAPSHOT_VERSION);
    snapshot.extend_from_slice(&seq.to_be_bytes());
    snapshot.extend_from_slice(hash);
    snapshot.extend_from_slice(&checksum);
    snapshot.extend_from_slice(&body);
    Ok(snapshot)
}

/// A snapshot's sequence number from its header, or `None` for a snapshot of an older layout
/// version (the body is checked by [`decode_snapshot`]).
pub fn snapshot_seq(bytes: &[u8]) -> Result<Option<u64>> {
    if bytes.first().is_some_and(|version| *version < SNAPSHOT_VERSION) {
        return Ok(None);
    }
    match bytes.get(1..9).map(<[u8; 8]>::try_from) {
        Some(Ok(seq)) if bytes[0] == SNAPSHOT_VERSION => Ok(Some(u64::from_be_bytes(seq))),
        _ => Err(Error::Corruption { seq: 0, detail: "snapshot: bad header".into() }),
    }
}

/// A decoded snapshot: its head and the state (without answered ids).
#[derive(Debug)]
pub struct DecodedSnapshot {
    pub seq: u64,
    pub hash: Hash,
    pub state: State,
}

/// Decodes and checks a snapshot; `None` for a snapshot of an older layout version
/// (superseded: rebuild the state from the log).
pub fn decode_snapshot(bytes: &[u8]) -> Result<Option<DecodedSnapshot>> {
    let corrupt = |seq: u64, detail: String| Error::Corruption { seq, detail: format!("snapshot: {detail}") };
    if bytes.first().is_some_and(|version| *version < SNAPSHOT_VERSION) {
        return Ok(None);
    }
    if bytes.len() < 73 || bytes[0] != SNAPSHOT_VERSION {
        return Err(corrupt(0, "bad header".into()));
    }
    let mut seq = [0u8; 8];
    let mut hash = [0u8; 32];
    let mut checksum = [0u8; 32];
    seq.copy_from_slice(&bytes[1..9]);
    hash.copy_from_slice(&bytes[9..41]);
    checksum.copy_from_slice(&bytes[41..73]);
    let seq = u64::from_be_bytes(seq);
    let body = &bytes[73..];
    if snapshot_checksum(seq, &hash, body) != checksum {
        return Err(corrupt(seq, "checksum mismatch".into()));
    }
    let state: State = decode(body).map_err(|detail| corrupt(seq, detail))?;
    Ok(Some(DecodedSnapshot { seq, hash, state }))
}

/// The first key after every key that starts with `prefix` (`None`: no such key, all 0xff).
pub(crate) fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flipped_bit_anywhere_in_a_record_is_caught_with_its_seq() {
        let record = Record::new(7, [9; 32], vec![1, 2, 3, 4]);
        let bytes = record.encode();
        assert_eq!(Record::decode(7, &bytes).unwrap(), record);
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x10;
            let result = Record::decode(7, &bad);
            match result {
                Err(Error::Corruption { seq: 7, .. }) => {}
                other => panic!("flip at byte {i} not caught: {other:?}"),
            }
        }
        assert!(Record::decode(8, &bytes).is_err(), "the seq is part of the hash");
    }

    /// An event's record built in place is the record of its encoded bytes, byte for byte.
    #[test]
    fn a_record_built_in_place_is_the_record_of_the_events_bytes() {
        let events = [
            ledger_core::EventBody::TimeAdvanced,
            ledger_core::EventBody::AccountClosed { account: ledger_core::AccountId(42) },
            ledger_core::EventBody::Checkpointed {
                size: u64::MAX,
                root: "ab".repeat(32),
                note: Some("说明 ".repeat(100)),
            },
        ];
        for (n, body) in events.into_iter().enumerate() {
            let event = Event {
                command_id: CommandId(uuid::Uuid::from_u128(n as u128 + 1)),
                at: ledger_core::Timestamp::UNIX_EPOCH,
                body,
                principal: Some(ledger_core::Principal::ledger()),
                withheld: Vec::new(),
            };
            let (seq, prev) = (n as u64 + 7, [n as u8; 32]);
            let record = Record::new(seq, prev, encode_event(&event).unwrap());
            let (hash, bytes) = Record::encode_event_at(seq, prev, &event).unwrap();
            assert_eq!((hash, &bytes), (record.hash, &record.encode()), "{event:?}");
            assert_eq!(Record::decode(seq, &bytes).unwrap(), record);
        }
    }

    #[test]
    fn snapshots_round_trip_and_a_cut_one_is_refused() {
        let state = State::new();
        let snapshot = encode_snapshot(1500, &[5; 32], &state).unwrap();
        let back = decode_snapshot(&snapshot).unwrap().unwrap();
        assert_eq!((back.seq, back.hash, &back.state), (1500, [5; 32], &state));
        let cut = &snapshot[..snapshot.len() - 1];
        assert!(matches!(decode_snapshot(cut), Err(Error::Corruption { .. })));
        // A version-3 snapshot (answer chunks) is superseded, not corrupt.
        let mut older = snapshot.clone();
        older[0] = 3;
        assert!(decode_snapshot(&older).unwrap().is_none());
    }

    #[test]
    fn answered_keys_round_trip() {
        let id = CommandId(uuid::Uuid::from_u64_pair(7, 9));
        assert_eq!(decode_answered_key(&answered_key(id)).unwrap(), id);
        assert!(decode_answered_key(b"answered/short").is_err());
        assert_eq!(decode_answered(&42u64.to_be_bytes()).unwrap(), 42);
    }

    #[test]
    fn keys_sort_numerically() {
        assert!(seq_key(255) < seq_key(256));
        assert!(history_key(AccountId(1), u64::MAX) < history_key(AccountId(2), 0));
        assert_eq!(split_index_key(&customer_key(CustomerId(5), AccountId(6))), Some((5, 6)));
        assert_eq!(decode_head(&encode_head(3, &[1; 32])).unwrap(), (3, [1; 32]));
    }
}
