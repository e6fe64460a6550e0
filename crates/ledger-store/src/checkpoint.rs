//! Signed checkpoints and the proofs checked against them (docs/FORMAT.md, "Checkpoints and
//! proofs"): a checkpoint states the Merkle tree's size and root and the chain's head at that
//! size, with the time, signed with the operator's Ed25519 key. An inclusion proof shows one
//! record is in a checkpoint's tree; a consistency proof that a later checkpoint's log extends
//! an earlier one's. Everything here can be checked without the ledger.

use ledger_core::Timestamp;
use serde::{Deserialize, Serialize};

use crate::codec::{self, Hash};
use crate::error::{Error, Result};
use crate::merkle;
use crate::note::{Note, TreeText};
use crate::store::Head;

pub use ed25519_dalek::{SigningKey, VerifyingKey};

/// The `format` of a version-1 (JSON) checkpoint file, and the first line of what it signs.
pub const CHECKPOINT_FORMAT: &str = "tiered-ledger checkpoint v1";
/// The `format` of an inclusion proof file.
pub const INCLUSION_FORMAT: &str = "tiered-ledger inclusion v1";
/// The `format` of a consistency proof file.
pub const CONSISTENCY_FORMAT: &str = "tiered-ledger consistency v1";

/// Format v1 of a checkpoint (JSON), still read: a signed statement of the ledger's state: the tree over records 1..=`tree_size`, its root,
/// the head record (`tree_size:hash`), when, and who signed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonCheckpoint {
    pub format: String,
    pub tree_size: u64,
    /// Hex Merkle root of the first `tree_size` records.
    pub root: String,
    /// `SEQ:HASH` of record `tree_size` (as `ledger-cli head` prints it).
    pub head: String,
    /// RFC 3339, as signed.
    pub time: String,
    /// Hex Ed25519 public key (32 bytes).
    pub public_key: String,
    /// Hex Ed25519 signature (64 bytes) of [`JsonCheckpoint::signed_text`].
    pub signature: String,
}

fn failed(why: String) -> Error {
    Error::ProofFailed(why)
}

fn hash_hex(text: &str, what: &str) -> Result<Hash> {
    let mut hash = [0u8; 32];
    hex::decode_to_slice(text, &mut hash).map_err(|err| failed(format!("{what} is not 64 hex digits: {err}")))?;
    Ok(hash)
}

impl JsonCheckpoint {
    /// Exactly the bytes the signature covers (UTF-8):
    /// `tiered-ledger checkpoint v1\ntree_size N\nroot HEX\nhead SEQ:HEX\ntime T\n`.
    pub fn signed_text(&self) -> String {
        format!(
            "{CHECKPOINT_FORMAT}\ntree_size {}\nroot {}\nhead {}\ntime {}\n",
            self.tree_size, self.root, self.head, self.time
        )
    }

    pub(crate) fn sign(key: &SigningKey, tree_size: u64, root: &Hash, head: &Head, time: Timestamp) -> JsonCheckpoint {
        use ed25519_dalek::Signer;
        let mut checkpoint = JsonCheckpoint {
            format: CHECKPOINT_FORMAT.into(),
            tree_size,
            root: hex::encode(root),
            head: head.to_text(),
            time: time.to_string(),
            public_key: hex::encode(key.verifying_key().as_bytes()),
            signature: String::new(),
        };
        checkpoint.signature = hex::encode(key.sign(checkpoint.signed_text().as_bytes()).to_bytes());
        checkpoint
    }

    /// The signer's public key.
    pub fn public_key(&self) -> Result<VerifyingKey> {
        let bytes = hash_hex(&self.public_key, "public_key")?;
        VerifyingKey::from_bytes(&bytes).map_err(|err| failed(format!("public_key is not an Ed25519 key: {err}")))
    }

    /// Checks the format and the signature, made by `trusted` when given (otherwise by the key
    /// the checkpoint names: that only proves it was not changed since it was signed).
    pub fn verify(&self, trusted: Option<&VerifyingKey>) -> Result<()> {
        if self.format != CHECKPOINT_FORMAT {
            return Err(failed(format!("not a checkpoint: format {:?}", self.format)));
        }
        let key = self.public_key()?;
        if trusted.is_some_and(|trusted| *trusted != key) {
            return Err(failed("signed by another key than the trusted one".into()));
        }
        let mut signature = [0u8; 64];
        hex::decode_to_slice(&self.signature, &mut signature)
            .map_err(|err| failed(format!("signature is not 128 hex digits: {err}")))?;
        key.verify_strict(self.signed_text().as_bytes(), &ed25519_dalek::Signature::from_bytes(&signature))
            .map_err(|_| failed("the signature does not match the checkpoint".into()))?;
        let (size, _, head) = self.parts()?;
        if head.seq != size {
            return Err(failed(format!("the head {} is not at the tree size {size}", head.seq)));
        }
        check_time(&self.time)
    }

    /// Tree size, root and head, parsed.
    pub fn parts(&self) -> Result<(u64, Hash, Head)> {
        let root = hash_hex(&self.root, "root")?;
        let head = Head::parse(&self.head).map_err(|err| failed(format!("head: {err}")))?;
        Ok((self.tree_size, root, head))
    }
}

/// Where a ledger's checkpoints come from: its origin line, and the time they state.
#[derive(Debug)]
pub struct CheckpointSource<'a> {
    pub origin: &'a str,
    pub size: u64,
    pub root: Hash,
    pub head: Head,
    pub time: Timestamp,
}

/// A checkpoint file: a C2SP signed note (written since format 2) or a version-1 JSON file
/// (still read). [`Checkpoint::parse`] tells them apart by the first character (`{`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Checkpoint {
    /// A tlog checkpoint in a signed note, signed by the key named like the origin, and any
    /// witnesses' cosignatures.
    Note {
        tree: TreeText,
        note: Note,
    },
    Json(JsonCheckpoint),
}

impl Checkpoint {
    /// A signed note checkpoint: the key's signature is named after the origin.
    pub fn sign(key: &SigningKey, source: &CheckpointSource<'_>) -> Result<Checkpoint> {
        crate::note::check_name(source.origin)?;
        let tree = TreeText {
            origin: source.origin.to_owned(),
            size: source.size,
            root: source.root,
            head: source.head,
            time: source.time.to_string(),
        };
        let mut note = Note { text: tree.to_text(), signatures: Vec::new() };
        note.sign(source.origin, key);
        Ok(Checkpoint::Note { tree, note })
    }

    /// A version-1 JSON checkpoint (`ledger-cli checkpoint --format json`).
    pub fn sign_json(key: &SigningKey, source: &CheckpointSource<'_>) -> Checkpoint {
        Checkpoint::Json(JsonCheckpoint::sign(key, source.size, &source.root, &source.head, source.time))
    }

    /// Reads a checkpoint file's text: JSON when it starts with `{`, else a signed note.
    pub fn parse(text: &str) -> Result<Checkpoint> {
        if text.trim_start().starts_with('{') {
            // A key named twice could show a reader one value and the check another: refused.
            ledger_core::refuse_duplicate_keys(text).map_err(|err| failed(format!("the checkpoint: {err}")))?;
            let json = serde_json::from_str(text).map_err(|err| failed(format!("not a checkpoint: {err}")))?;
            return Ok(Checkpoint::Json(json));
        }
        let note = Note::parse(text)?;
        let tree = TreeText::parse(&note.text)?;
        Ok(Checkpoint::Note { tree, note })
    }

    /// The file's text.
    pub fn to_text(&self) -> Result<String> {
        match self {
            Checkpoint::Note { note, .. } => Ok(note.to_text()),
            Checkpoint::Json(json) => {
                let mut text = serde_json::to_string_pretty(json).map_err(|err| failed(err.to_string()))?;
                text.push('\n');
                Ok(text)
            }
        }
    }

    /// The origin line (a version-1 checkpoint has none).
    pub fn origin(&self) -> Option<&str> {
        match self {
            Checkpoint::Note { tree, .. } => Some(&tree.origin),
            Checkpoint::Json(_) => None,
        }
    }

    pub fn tree_size(&self) -> u64 {
        match self {
            Checkpoint::Note { tree, .. } => tree.size,
            Checkpoint::Json(json) => json.tree_size,
        }
    }

    /// Checks the signature by `trusted`, which is required: a note names no key, and the key
    /// a version-1 file names proves only that it is unchanged, not who signed it (for that,
    /// [`JsonCheckpoint::verify`] with `None`). Then the `time` line (RFC 3339).
    pub fn verify(&self, trusted: Option<&VerifyingKey>) -> Result<()> {
        let key = trusted.ok_or_else(|| {
            failed("give the signer's public key (--public-key): a checkpoint is only as trusted as its key".into())
        })?;
        match self {
            Checkpoint::Note { tree, note } => {
                note.verify(&tree.origin, key)?;
                check_time(&tree.time)
            }
            Checkpoint::Json(json) => json.verify(Some(key)),
        }
    }

    /// Tree size, root and head, parsed (not verified).
    pub fn parts(&self) -> Result<(u64, Hash, Head)> {
        match self {
            Checkpoint::Note { tree, .. } => Ok((tree.size, tree.root, tree.head)),
            Checkpoint::Json(json) => json.parts(),
        }
    }
}

/// That record `seq` is leaf `seq - 1` of a checkpoint's tree.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct InclusionProof {
    pub format: String,
    pub seq: u64,
    pub tree_size: u64,
    /// The record as a line of `ledger-cli export`: seq, prev_hash, hash, event_hex, event.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub record: serde_json::Value,
    /// Hex hashes, leaf side first (RFC 9162 PATH).
    pub path: Vec<String>,
}

fn hashes(path: &[String]) -> Result<Vec<Hash>> {
    path.iter().enumerate().map(|(i, text)| hash_hex(text, &format!("path[{i}]"))).collect()
}

impl InclusionProof {
    /// Checks the record's own hash (from its seq, prev_hash and event bytes) and its path to
    /// the checkpoint's root. The checkpoint's signature is checked separately.
    pub fn verify(&self, checkpoint: &Checkpoint) -> Result<()> {
        if self.format != INCLUSION_FORMAT {
            return Err(failed(format!("not an inclusion proof: format {:?}", self.format)));
        }
        let (size, root, _) = checkpoint.parts()?;
        if self.tree_size != size {
            return Err(failed(format!("the proof is for a tree of {}, the checkpoint's has {size}", self.tree_size)));
        }
        let text = |key: &str| self.record[key].as_str().ok_or_else(|| failed(format!("record.{key} is missing")));
        if self.record["seq"].as_u64() != Some(self.seq) {
            return Err(failed(format!("the record is not seq {}", self.seq)));
        }
        let prev = hash_hex(text("prev_hash")?, "record.prev_hash")?;
        let stored = hash_hex(text("hash")?, "record.hash")?;
        let event = hex::decode(text("event_hex")?).map_err(|err| failed(format!("record.event_hex: {err}")))?;
        if codec::event_hash(self.seq, &prev, &event) != stored {
            return Err(failed(format!("record {} does not hash to its stated hash", self.seq)));
        }
        self.check_readable(&event)?;
        if self.seq == 0
            || !merkle::verify_inclusion(&merkle::leaf_hash(&stored), self.seq - 1, size, &hashes(&self.path)?, &root)
        {
            return Err(failed(format!("record {} is not in the checkpoint's tree", self.seq)));
        }
        Ok(())
    }

    /// The readable part of the record must say what its hashed bytes say: the record holds
    /// exactly the export line's keys, and `event` equals the decoded `event_hex`, field by field.
    fn check_readable(&self, event_bytes: &[u8]) -> Result<()> {
        let keys = ["seq", "prev_hash", "hash", "event_hex", "event"];
        let object = self.record.as_object().ok_or_else(|| failed("record is not an object".into()))?;
        if let Some(extra) = object.keys().find(|key| !keys.contains(&key.as_str())) {
            return Err(failed(format!("record.{extra}: not a field of an export line")));
        }
        let decoded = codec::decode_event(self.seq, event_bytes)?;
        let expected = serde_json::to_value(&decoded).map_err(|err| failed(format!("record.event: {err}")))?;
        match first_difference("record.event", &expected, &self.record["event"]) {
            None => Ok(()),
            Some((path, hashed, readable)) => Err(failed(format!(
                "{path} is {readable} but the hashed bytes (event_hex) say {hashed}: the readable event was changed"
            ))),
        }
    }
}

/// The first place where `found` differs from `expected`: its JSON path and both values
/// (`absent` for a missing one).
fn first_difference(
    path: &str,
    expected: &serde_json::Value,
    found: &serde_json::Value,
) -> Option<(String, String, String)> {
    use serde_json::Value;
    match (expected, found) {
        (Value::Object(want), Value::Object(have)) => {
            let mut keys: Vec<&String> = want.keys().chain(have.keys()).collect();
            keys.sort();
            keys.dedup();
            keys.into_iter().find_map(|key| {
                let inner = format!("{path}.{key}");
                match (want.get(key), have.get(key)) {
                    (Some(want), Some(have)) => first_difference(&inner, want, have),
                    (Some(want), None) => Some((inner, want.to_string(), "absent".into())),
                    (None, Some(have)) => Some((inner, "absent".into(), have.to_string())),
                    (None, None) => None,
                }
            })
        }
        (Value::Array(want), Value::Array(have)) if want.len() == have.len() => want
            .iter()
            .zip(have)
            .enumerate()
            .find_map(|(index, (want, have))| first_difference(&format!("{path}[{index}]"), want, have)),
        _ if expected == found => None,
        _ => Some((path.to_owned(), expected.to_string(), found.to_string())),
    }
}

/// That the tree of `new_size` records extends the tree of `old_size`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ConsistencyProof {
    pub format: String,
    pub old_size: u64,
    pub new_size: u64,
    /// Hex hashes (RFC 9162 PROOF).
    pub path: Vec<String>,
}

impl ConsistencyProof {
    /// Checks the proof against the two checkpoints' sizes and roots (signatures separately).
    pub fn verify(&self, old: &Checkpoint, new: &Checkpoint) -> Result<()> {
        if self.format != CONSISTENCY_FORMAT {
            return Err(failed(format!("not a consistency proof: format {:?}", self.format)));
        }
        // Two logs that share a prefix (two ledgers from one genesis) are not one log that grew:
        // two notes name one origin, two version-1 files one key (they name no origin).
        if let (Some(old_origin), Some(new_origin)) = (old.origin(), new.origin())
            && old_origin != new_origin
        {
            return Err(failed(format!("the checkpoints are of two logs: origin {old_origin:?} and {new_origin:?}")));
        }
        if let (Checkpoint::Json(old), Checkpoint::Json(new)) = (old, new)
            && old.public_key != new.public_key
        {
            return Err(failed("the checkpoints are signed by two keys: they are of two logs".into()));
        }
        let ((old_size, old_root, _), (new_size, new_root, _)) = (old.parts()?, new.parts()?);
        if (self.old_size, self.new_size) != (old_size, new_size) {
            return Err(failed("the proof is for other tree sizes than the checkpoints'".into()));
        }
        if !merkle::verify_consistency(old_size, new_size, &old_root, &new_root, &hashes(&self.path)?) {
            return Err(failed(format!("the log of {new_size} records does not extend the log of {old_size}")));
        }
        Ok(())
    }
}

/// A checkpoint's `time`: RFC 3339 with an explicit offset.
fn check_time(time: &str) -> Result<()> {
    time.parse::<Timestamp>().map(|_| ()).map_err(|err| failed(format!("the time is not RFC 3339: {err}")))
}

/// A signing key from its 32-byte seed, hex (the key file's content).
pub fn signing_key_from_hex(text: &str) -> Result<SigningKey> {
    let seed = hash_hex(text.trim(), "the key")
        .map_err(|_| Error::InvalidArgument("a key file holds 64 hex digits".into()))?;
    Ok(SigningKey::from_bytes(&seed))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 8032 §7.1, test 1 (the empty message), through the same library the checkpoints use.
    #[test]
    fn rfc_8032_test_vector_1() {
        use ed25519_dalek::Signer;
        let key = signing_key_from_hex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60").unwrap();
        assert_eq!(
            hex::encode(key.verifying_key().as_bytes()),
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
        );
        assert_eq!(
            hex::encode(key.sign(b"").to_bytes()),
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
        );
    }

    #[test]
    fn a_changed_checkpoint_or_another_key_fails() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let head = Head { seq: 3, hash: [9; 32] };
        let time: Timestamp = "2026-03-02T10:00:00+08:00".parse().unwrap();
        let checkpoint = JsonCheckpoint::sign(&key, 3, &[5; 32], &head, time);
        checkpoint.verify(Some(&key.verifying_key())).unwrap();
        let other = SigningKey::from_bytes(&[8; 32]).verifying_key();
        assert!(checkpoint.verify(Some(&other)).is_err(), "another trusted key");
        let mut changed = checkpoint.clone();
        changed.tree_size = 4;
        assert!(changed.verify(None).is_err());
        for field in 0..3 {
            let mut changed = checkpoint.clone();
            let text = match field {
                0 => &mut changed.root,
                1 => &mut changed.time,
                _ => &mut changed.signature,
            };
            // One bit of one character.
            let first = text.remove(0);
            text.insert(0, char::from(first as u8 ^ 1));
            assert!(changed.verify(None).is_err(), "field {field}");
        }
        // Signed, yet refused: a head not at the tree size; a time not RFC 3339.
        use ed25519_dalek::Signer;
        let head_4 = Head { seq: 4, hash: [9; 32] };
        assert!(JsonCheckpoint::sign(&key, 3, &[5; 32], &head_4, time).verify(Some(&key.verifying_key())).is_err());
        let mut not_a_time = checkpoint.clone();
        not_a_time.time = "not a time".into();
        not_a_time.signature = hex::encode(key.sign(not_a_time.signed_text().as_bytes()).to_bytes());
        assert!(not_a_time.verify(Some(&key.verifying_key())).is_err());
    }

    /// A version-1 (JSON) checkpoint file as the first release wrote it (bytes fixed here; the
    /// signature made by `openssl pkeyutl -sign` with the seed [7; 32]) is still read and
    /// verifies; the same file with one field changed does not.
    #[test]
    fn a_version_1_file_still_verifies() {
        let file = r#"{
  "format": "tiered-ledger checkpoint v1",
  "tree_size": 3,
  "root": "0505050505050505050505050505050505050505050505050505050505050505",
  "head": "3:0909090909090909090909090909090909090909090909090909090909090909",
  "time": "2026-03-02T10:00:00+08:00",
  "public_key": "ea4a6c63e29c520abef5507b132ec5f9954776aebebe7b92421eea691446d22c",
  "signature": "e3ceba15bcf26090921a2acbc683c20de24f7c2e2e8311754b3fc4efabe40b30b7905a9bf4110079495da9572eb69ff2b4f777056cc7d2fa0d226f29984b7d07"
}
"#;
        let checkpoint = Checkpoint::parse(file).unwrap();
        let key = SigningKey::from_bytes(&[7; 32]).verifying_key();
        checkpoint.verify(Some(&key)).unwrap();
        // Without a trusted key: refused (the key the file names proves it unchanged only).
        assert!(checkpoint.verify(None).is_err());
        assert!(matches!(&checkpoint, Checkpoint::Json(json) if json.verify(None).is_ok()));
        assert_eq!(checkpoint.parts().unwrap(), (3, [5; 32], Head { seq: 3, hash: [9; 32] }));
        assert_eq!(checkpoint.origin(), None);
        assert_eq!(checkpoint.to_text().unwrap(), file, "written back byte for byte");
        let changed = Checkpoint::parse(&file.replace("\"tree_size\": 3", "\"tree_size\": 4")).unwrap();
        assert!(changed.verify(Some(&key)).is_err());
    }

    #[test]
    fn a_note_checkpoint_needs_the_trusted_key_and_refuses_changes() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let time: Timestamp = "2026-03-02T10:00:00+08:00".parse().unwrap();
        let head = Head { seq: 3, hash: [9; 32] };
        let source = CheckpointSource { origin: "tiered-ledger/ab", size: 3, root: [5; 32], head, time };
        let checkpoint = Checkpoint::sign(&key, &source).unwrap();
        let text = checkpoint.to_text().unwrap();
        let parsed = Checkpoint::parse(&text).unwrap();
        assert_eq!(parsed, checkpoint);
        parsed.verify(Some(&key.verifying_key())).unwrap();
        assert!(parsed.verify(None).is_err(), "a note names no key");
        assert!(parsed.verify(Some(&SigningKey::from_bytes(&[8; 32]).verifying_key())).is_err());
        assert_eq!(parsed.origin(), Some("tiered-ledger/ab"));
        for (from, to) in [("tiered-ledger/ab", "tiered-ledger/ac"), ("time 2026", "time 2027"), ("\n3\n", "\n3\n")] {
            let changed = text.replacen(from, to, 1);
            let verdict = Checkpoint::parse(&changed).and_then(|c| c.verify(Some(&key.verifying_key())));
            assert_eq!(verdict.is_ok(), from == to, "{from} → {to}");
        }
        let bad_origin = CheckpointSource { origin: "two words", ..source };
        assert!(Checkpoint::sign(&key, &bad_origin).is_err());
    }
}
