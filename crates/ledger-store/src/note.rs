//! Checkpoints in the C2SP formats (docs/FORMAT.md, "Checkpoints and proofs"): a signed note
//! (c2sp.org/signed-note) whose text is a tlog checkpoint (c2sp.org/tlog-checkpoint), signed by
//! the ledger's Ed25519 key, and witnesses' cosignatures (c2sp.org/tlog-cosignature,
//! `cosignature/v1`). Go's `golang.org/x/mod/sumdb/note` opens these notes (tools/goverify).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::codec::Hash;
use crate::error::{Error, Result};
use crate::store::Head;

/// Signature type of a note signature by the log (signed-note, Ed25519).
pub const SIG_ED25519: u8 = 0x01;
/// Signature type of a witness's cosignature (tlog-cosignature, Ed25519 `cosignature/v1`).
pub const SIG_COSIGNATURE_V1: u8 = 0x04;
/// The em dash and space that start a signature line.
const SIG_PREFIX: &str = "\u{2014} ";
/// Bounds what a note may hold (a checkpoint is a few hundred bytes).
const MAX_NOTE_BYTES: usize = 64 * 1024;
const MAX_SIGNATURES: usize = 100;

fn failed(why: String) -> Error {
    Error::ProofFailed(why)
}

/// A key name: non-empty, no whitespace, no `+` (signed-note).
pub fn check_name(name: &str) -> Result<()> {
    if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c == '+' || c.is_control()) {
        return Err(Error::InvalidArgument(format!("{name:?} is not a key name (non-empty, no spaces, no '+')")));
    }
    Ok(())
}

/// `SHA-256(name || "\n" || type || public key)[:4]`.
pub fn key_id(name: &str, signature_type: u8, key: &VerifyingKey) -> [u8; 4] {
    let mut hasher = Sha256::new();
    hasher.update(name.as_bytes());
    hasher.update(b"\n");
    hasher.update([signature_type]);
    hasher.update(key.as_bytes());
    let digest: [u8; 32] = hasher.finalize().into();
    [digest[0], digest[1], digest[2], digest[3]]
}

/// The verifier key string `name+hex(key id)+base64(type || public key)` (signed-note).
pub fn verifier_key(name: &str, signature_type: u8, key: &VerifyingKey) -> String {
    let mut material = vec![signature_type];
    material.extend_from_slice(key.as_bytes());
    format!("{name}+{}+{}", hex::encode(key_id(name, signature_type, key)), STANDARD.encode(material))
}

/// One signature line: `— name base64(key id || signature bytes)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoteSignature {
    pub name: String,
    pub key_id: [u8; 4],
    pub bytes: Vec<u8>,
}

impl NoteSignature {
    fn to_line(&self) -> String {
        let mut blob = self.key_id.to_vec();
        blob.extend_from_slice(&self.bytes);
        format!("{SIG_PREFIX}{} {}\n", self.name, STANDARD.encode(blob))
    }

    fn parse(line: &str) -> Result<NoteSignature> {
        let rest = line.strip_prefix(SIG_PREFIX).ok_or_else(|| failed(format!("not a signature line: {line:?}")))?;
        let (name, blob) = rest.split_once(' ').ok_or_else(|| failed(format!("not a signature line: {line:?}")))?;
        check_name(name).map_err(|err| failed(err.to_string()))?;
        let blob = STANDARD.decode(blob).map_err(|err| failed(format!("signature of {name}: {err}")))?;
        if blob.len() < 5 {
            return Err(failed(format!("signature of {name}: too short")));
        }
        let key_id = [blob[0], blob[1], blob[2], blob[3]];
        Ok(NoteSignature { name: name.to_owned(), key_id, bytes: blob[4..].to_vec() })
    }
}

/// A signed note: the text (each line `\n`-terminated) and its signature lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    pub text: String,
    pub signatures: Vec<NoteSignature>,
}

impl Note {
    pub fn parse(whole: &str) -> Result<Note> {
        if whole.len() > MAX_NOTE_BYTES {
            return Err(failed(format!("a note is at most {MAX_NOTE_BYTES} bytes")));
        }
        if whole.chars().any(|c| c.is_control() && c != '\n') {
            return Err(failed("a note holds no control characters but newlines".into()));
        }
        let split = whole.rfind("\n\n").ok_or_else(|| failed("not a signed note: no blank line".into()))?;
        let (text, signatures) = (&whole[..=split], &whole[split + 2..]);
        let Some(signatures) = signatures.strip_suffix('\n') else {
            return Err(failed("not a signed note: it must end with a newline".into()));
        };
        let signatures: Vec<NoteSignature> = signatures.split('\n').map(NoteSignature::parse).collect::<Result<_>>()?;
        if signatures.len() > MAX_SIGNATURES {
            return Err(failed(format!("a note carries at most {MAX_SIGNATURES} signatures")));
        }
        Ok(Note { text: text.to_owned(), signatures })
    }

    pub fn to_text(&self) -> String {
        let mut out = format!("{}\n", self.text);
        for signature in &self.signatures {
            out.push_str(&signature.to_line());
        }
        out
    }

    /// Adds the signature-type-1 (Ed25519) signature of `key` named `name` over the text.
    pub fn sign(&mut self, name: &str, key: &SigningKey) {
        self.signatures.push(NoteSignature {
            name: name.to_owned(),
            key_id: key_id(name, SIG_ED25519, &key.verifying_key()),
            bytes: key.sign(self.text.as_bytes()).to_bytes().to_vec(),
        });
    }

    /// The signature line of `name` and `key` (type `signature_type`), if the note carries one.
    fn signature_of(&self, name: &str, signature_type: u8, key: &VerifyingKey) -> Option<&NoteSignature> {
        let id = key_id(name, signature_type, key);
        self.signatures.iter().find(|signature| signature.name == name && signature.key_id == id)
    }

    /// Checks the Ed25519 note signature of `key` named `name`.
    pub fn verify(&self, name: &str, key: &VerifyingKey) -> Result<()> {
        let signature = self
            .signature_of(name, SIG_ED25519, key)
            .ok_or_else(|| failed(format!("no signature by {name} with the trusted key")))?;
        let bytes: [u8; 64] =
            signature.bytes.as_slice().try_into().map_err(|_| failed(format!("signature of {name}: not 64 bytes")))?;
        key.verify_strict(self.text.as_bytes(), &ed25519_dalek::Signature::from_bytes(&bytes))
            .map_err(|_| failed("the signature does not match the checkpoint".into()))
    }

    /// Adds a witness's cosignature (`cosignature/v1`, timestamp `time` in POSIX seconds).
    pub fn cosign(&mut self, name: &str, key: &SigningKey, time: u64) {
        let mut bytes = time.to_be_bytes().to_vec();
        bytes.extend_from_slice(&key.sign(cosigned_message(time, &self.text).as_bytes()).to_bytes());
        self.signatures.retain(|signature| signature.name != name);
        self.signatures.push(NoteSignature {
            name: name.to_owned(),
            key_id: key_id(name, SIG_COSIGNATURE_V1, &key.verifying_key()),
            bytes,
        });
    }

    /// Checks the cosignature of witness `name` with `key`; returns its timestamp.
    pub fn verify_cosignature(&self, name: &str, key: &VerifyingKey) -> Result<u64> {
        let signature = self
            .signature_of(name, SIG_COSIGNATURE_V1, key)
            .ok_or_else(|| failed(format!("no cosignature by {name} with the trusted key")))?;
        let (time, sig) = signature.bytes.split_at_checked(8).ok_or_else(|| failed("cosignature too short".into()))?;
        let time = u64::from_be_bytes(time.try_into().map_err(|_| failed("cosignature too short".into()))?);
        let sig: [u8; 64] = sig.try_into().map_err(|_| failed(format!("cosignature of {name}: not 72 bytes")))?;
        key.verify_strict(cosigned_message(time, &self.text).as_bytes(), &ed25519_dalek::Signature::from_bytes(&sig))
            .map_err(|_| failed(format!("the cosignature of {name} does not match the checkpoint")))?;
        Ok(time)
    }
}

/// What a `cosignature/v1` signs: `cosignature/v1\ntime T\n` then the whole checkpoint text.
fn cosigned_message(time: u64, text: &str) -> String {
    format!("cosignature/v1\ntime {time}\n{text}")
}

/// The text of a tlog checkpoint: origin, decimal tree size, base64 root, then our extension
/// lines `head SEQ:HEX` and `time RFC3339`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TreeText {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
    pub head: Head,
    pub time: String,
}

impl TreeText {
    pub fn to_text(&self) -> String {
        format!(
            "{}\n{}\n{}\nhead {}\ntime {}\n",
            self.origin,
            self.size,
            STANDARD.encode(self.root),
            self.head.to_text(),
            self.time
        )
    }

    pub fn parse(text: &str) -> Result<TreeText> {
        let lines: Vec<&str> = text.strip_suffix('\n').unwrap_or(text).split('\n').collect();
        let [origin, size, root, extensions @ ..] = lines.as_slice() else {
            return Err(failed("a checkpoint has an origin, a size and a root hash line".into()));
        };
        if origin.is_empty() {
            return Err(failed("the origin line is empty".into()));
        }
        let size = match size.parse::<u64>() {
            Ok(number) if number.to_string() == *size => number,
            _ => return Err(failed(format!("the size line {size:?} is not a decimal number"))),
        };
        let root: Hash = STANDARD
            .decode(root)
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or_else(|| failed(format!("the root line {root:?} is not the base64 of 32 bytes")))?;
        let extension = |key: &str| -> Result<&str> {
            let mut found = extensions.iter().filter_map(|line| line.strip_prefix(key));
            match (found.next(), found.next()) {
                (Some(value), None) => Ok(value),
                _ => Err(failed(format!("the checkpoint needs exactly one {key:?} line"))),
            }
        };
        let head = Head::parse(extension("head ")?).map_err(|err| failed(format!("head: {err}")))?;
        if head.seq != size {
            return Err(failed(format!("the head {} is not at the tree size {size}", head.seq)));
        }
        let time = extension("time ")?.to_owned();
        if extensions.len() != 2 {
            return Err(failed("unknown extension lines in the checkpoint".into()));
        }
        Ok(TreeText { origin: (*origin).to_owned(), size, root, head, time })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Go's `golang.org/x/mod/sumdb/note` example (its ExampleSign and ExampleOpen): the same key
    /// gives the same verifier key and the same signed note, byte for byte.
    #[test]
    fn go_notes_example_known_answer() {
        let seed: [u8; 32] =
            STANDARD.decode("AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz").unwrap()[1..].try_into().unwrap();
        let key = SigningKey::from_bytes(&seed);
        assert_eq!(
            verifier_key("PeterNeumann", SIG_ED25519, &key.verifying_key()),
            "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
        );
        let text =
            "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
        let mut note = Note { text: text.into(), signatures: Vec::new() };
        note.sign("PeterNeumann", &key);
        let signed = format!(
            "{text}\n\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
        );
        assert_eq!(note.to_text(), signed);
        let parsed = Note::parse(&signed).unwrap();
        assert_eq!(parsed, note);
        parsed.verify("PeterNeumann", &key.verifying_key()).unwrap();
    }

    #[test]
    fn a_cosignature_verifies_and_a_changed_note_or_key_does_not() {
        let (log, witness) = (SigningKey::from_bytes(&[1; 32]), SigningKey::from_bytes(&[2; 32]));
        let tree = TreeText {
            origin: "tiered-ledger/00".into(),
            size: 3,
            root: [5; 32],
            head: Head { seq: 3, hash: [9; 32] },
            time: "2026-03-02T10:00:00+08:00".into(),
        };
        let mut note = Note { text: tree.to_text(), signatures: Vec::new() };
        note.sign(&tree.origin, &log);
        note.cosign("w.example/1", &witness, 1_700_000_000);
        let parsed = Note::parse(&note.to_text()).unwrap();
        assert_eq!(TreeText::parse(&parsed.text).unwrap(), tree);
        parsed.verify(&tree.origin, &log.verifying_key()).unwrap();
        assert_eq!(parsed.verify_cosignature("w.example/1", &witness.verifying_key()).unwrap(), 1_700_000_000);
        assert!(parsed.verify_cosignature("w.example/1", &log.verifying_key()).is_err(), "another key");
        assert!(parsed.verify("tiered-ledger/00", &witness.verifying_key()).is_err(), "the witness is not the log");
        let changed = Note::parse(&note.to_text().replacen("\n3\n", "\n4\n", 1)).unwrap();
        assert!(changed.verify(&tree.origin, &log.verifying_key()).is_err());
        assert!(changed.verify_cosignature("w.example/1", &witness.verifying_key()).is_err());
    }

    /// Malformed checkpoint texts: given the text, then parsing fails.
    #[test]
    fn malformed_checkpoints_are_refused() {
        let root = STANDARD.encode([5u8; 32]);
        let head = format!("head 3:{}", "09".repeat(32));
        let cases = [
            ("no root", "o\n3\n".to_owned()),
            ("leading zero", format!("o\n03\n{root}\n{head}\ntime t\n")),
            ("short root", format!("o\n3\nBQUF\n{head}\ntime t\n")),
            ("head not at size", format!("o\n4\n{root}\n{head}\ntime t\n")),
            ("no time", format!("o\n3\n{root}\n{head}\n")),
            ("unknown extension", format!("o\n3\n{root}\n{head}\ntime t\nx y\n")),
            ("empty origin", format!("\n3\n{root}\n{head}\ntime t\n")),
        ];
        for (what, text) in cases {
            assert!(TreeText::parse(&text).is_err(), "{what}");
        }
        assert!(TreeText::parse(&format!("o\n3\n{root}\n{head}\ntime t\n")).is_ok());
        assert!(Note::parse("text\n\n\u{2014} name AAAA\n").is_err(), "a signature of no bytes");
        assert!(Note::parse("text\n\u{2014} name AAAAAAAA\n").is_err(), "no blank line");
        assert!(Note::parse("te\x07xt\n\n\u{2014} name AAAAAAAA\n").is_err(), "a control character");
    }
}
