#!/usr/bin/env python3
"""Independent verifier of tiered-ledger checkpoints and proofs (docs/FORMAT.md, "Checkpoints
and proofs"), Python standard library only: Ed25519 (RFC 8032) and the Merkle tree (RFC 9162).

Usage:
  verify_proof.py checkpoint CHECKPOINT [--public-key HEX] [--witness NAME=HEX]...
  verify_proof.py inclusion PROOF.json CHECKPOINT [--public-key HEX] [--witness NAME=HEX]...
  verify_proof.py consistency PROOF.json OLD NEW [--public-key HEX] [--witness NAME=HEX]...
  verify_proof.py vectors            (prints the FORMAT.md test vectors this file computes)

A checkpoint is a C2SP signed note (tlog-checkpoint) or a version-1 JSON file. A note's
signature is checked against --public-key (required: a note names no key), under the origin's
name; each --witness's cosignature (tlog-cosignature, cosignature/v1) must be there and valid.
A JSON checkpoint's signature is checked against --public-key, required too (the key a file
names would only show it unchanged, not who signed it); its fields are exactly FORMAT.md's.
Both kinds need `head SIZE:HEX` and an RFC 3339 `time`; a note with CR line endings is refused.
An inclusion proof's record is checked whole: its hash recomputed from seq, prev_hash and its
bytes, the bytes decoded and compared with the readable event (verify_export.py), then its
path to the checkpoint's root. Exit status: 0 verified, 1 a check failed, 2 usage or I/O error.
"""

import base64
import datetime
import hashlib
import json
import os
import re
import sys

CHECKPOINT_FORMAT = "tiered-ledger checkpoint v1"
INCLUSION_FORMAT = "tiered-ledger inclusion v1"
CONSISTENCY_FORMAT = "tiered-ledger consistency v1"


class ProofError(Exception):
    pass


# --- Ed25519 verification (RFC 8032 §5.1.7, the reference arithmetic) ---------------------------
P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
D = -121665 * pow(121666, P - 2, P) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)


def _recover_x(y, sign):
    if y >= P:
        return None
    x2 = (y * y - 1) * pow(D * y * y + 1, P - 2, P) % P
    if x2 == 0:
        return None if sign else 0
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P != 0:
        x = x * SQRT_M1 % P
    if (x * x - x2) % P != 0:
        return None
    if (x & 1) != sign:
        x = P - x
    return x


_GY = 4 * pow(5, P - 2, P) % P
_GX = _recover_x(_GY, 0)
BASE = (_GX, _GY, 1, _GX * _GY % P)
IDENTITY = (0, 1, 1, 0)


def _add(a, b):
    x1, y1, z1, t1 = a
    x2, y2, z2, t2 = b
    aa = (y1 - x1) * (y2 - x2) % P
    bb = (y1 + x1) * (y2 + x2) % P
    cc = 2 * t1 * t2 * D % P
    dd = 2 * z1 * z2 % P
    e, f, g, h = bb - aa, dd - cc, dd + cc, bb + aa
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def _mul(s, point):
    result = IDENTITY
    while s > 0:
        if s & 1:
            result = _add(result, point)
        point = _add(point, point)
        s >>= 1
    return result


def _equal(a, b):
    return (a[0] * b[2] - b[0] * a[2]) % P == 0 and (a[1] * b[2] - b[1] * a[2]) % P == 0


def _decompress(data):
    if len(data) != 32:
        return None
    y = int.from_bytes(data, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    x = _recover_x(y, sign)
    if x is None:
        return None
    return (x, y, 1, x * y % P)


def ed25519_verify(public, message, signature):
    """True when `signature` (64 bytes) is `public`'s (32 bytes) signature of `message`."""
    if len(public) != 32 or len(signature) != 64:
        return False
    a = _decompress(public)
    r = _decompress(signature[:32])
    if a is None or r is None:
        return False
    s = int.from_bytes(signature[32:], "little")
    if s >= L:
        return False
    h = int.from_bytes(hashlib.sha512(signature[:32] + public + message).digest(), "little") % L
    return _equal(_mul(s, BASE), _add(r, _mul(h, a)))


# --- The Merkle tree (RFC 9162 §2.1) ------------------------------------------------------------
def leaf_hash(record_hash):
    return hashlib.sha256(b"\x00" + record_hash).digest()


def node_hash(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def root_of(leaves):
    """MTH, from the definition (for the test vectors)."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return node_hash(root_of(leaves[:k]), root_of(leaves[k:]))


def verify_inclusion(leaf, index, size, path, root):
    """RFC 9162 §2.1.3.2."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(old_size, new_size, old_root, new_root, proof):
    """RFC 9162 §2.1.4.2."""
    if old_size == 0 or old_size > new_size:
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    if not path:
        return False
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root


# --- Files --------------------------------------------------------------------------------------
def hash32(text, what):
    if not isinstance(text, str):
        raise ProofError(f"{what} is not a hex string")
    try:
        raw = bytes.fromhex(text)
    except ValueError as err:
        raise ProofError(f"{what}: {err}") from None
    if len(raw) != 32:
        raise ProofError(f"{what} is {len(raw)} bytes, not 32")
    return raw


RFC_3339 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})")
CHECKPOINT_FIELDS = {"format", "tree_size", "root", "head", "time", "public_key", "signature"}


def check_time(text):
    """A checkpoint's time: RFC 3339 with an explicit offset (Z or ±HH:MM)."""
    valid = isinstance(text, str) and RFC_3339.fullmatch(text)
    if valid:
        try:
            datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            valid = False
    if not valid:
        raise ProofError(f"the time is not RFC 3339: {text!r}")


def signed_text(checkpoint):
    return (
        f"{CHECKPOINT_FORMAT}\ntree_size {checkpoint['tree_size']}\nroot {checkpoint['root']}\n"
        f"head {checkpoint['head']}\ntime {checkpoint['time']}\n"
    ).encode("utf-8")


def key_id(name, signature_type, public):
    return hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([signature_type]) + public).digest()[:4]


def check_note(text, trusted_key, witnesses):
    """A C2SP signed note holding a tlog checkpoint; returns (tree size, root, log): the log
    is the origin line."""
    if trusted_key is None:
        raise ProofError("a checkpoint note names no key: give the signer's --public-key")
    if any(ord(c) < 0x20 and c != "\n" for c in text):
        raise ProofError("a note holds no control characters but newlines")
    split = text.rfind("\n\n")
    if split < 0 or not text.endswith("\n"):
        raise ProofError("not a signed note")
    body, signatures = text[: split + 1], text[split + 2 : -1].split("\n")
    lines = body[:-1].split("\n")
    if len(lines) != 5 or not lines[0]:
        raise ProofError("a checkpoint is origin, size, root, head and time lines")
    origin, size_text, root_text = lines[:3]
    if not size_text.isdigit() or str(int(size_text)) != size_text:
        raise ProofError("the size line is not a decimal number")
    size = int(size_text)
    try:
        root = base64.b64decode(root_text, validate=True)
    except ValueError:
        raise ProofError("the root line is not base64") from None
    if len(root) != 32:
        raise ProofError("the root is not 32 bytes")
    head = [line for line in lines[3:] if line.startswith("head ")]
    time = [line for line in lines[3:] if line.startswith("time ")]
    if len(head) != 1 or len(time) != 1 or not head[0].startswith(f"head {size}:"):
        raise ProofError("the extension lines are not one head line at the tree size and one time line")
    hash32(head[0].partition(":")[2], "head hash")
    check_time(time[0][len("time ") :])
    parsed = []
    for line in signatures:
        if not line.startswith("\u2014 ") or line.count(" ") != 2:
            raise ProofError(f"not a signature line: {line!r}")
        _, name, blob = line.split(" ")
        try:
            blob = base64.b64decode(blob, validate=True)
        except ValueError:
            raise ProofError(f"signature of {name}: not base64") from None
        parsed.append((name, blob[:4], blob[4:]))

    def signature(name, signature_type, public):
        for signer, key, sig in parsed:
            if signer == name and key == key_id(name, signature_type, public):
                return sig
        raise ProofError(f"no signature by {name} with the trusted key")

    if not ed25519_verify(trusted_key, body.encode("utf-8"), signature(origin, 1, trusted_key)):
        raise ProofError("the signature does not match the checkpoint")
    for name, public in witnesses:
        sig = signature(name, 4, public)
        time = int.from_bytes(sig[:8], "big")
        message = f"cosignature/v1\ntime {time}\n{body}".encode("utf-8")
        if len(sig) != 72 or not ed25519_verify(public, message, sig[8:]):
            raise ProofError(f"the cosignature of {name} does not match the checkpoint")
    return size, root, ("origin", origin)


def check_checkpoint(checkpoint, trusted_key, witnesses=()):
    """Format and signature; returns (tree size, root, log): the log a checkpoint is of (a
    note's origin, a version-1 file's key)."""
    if isinstance(checkpoint, str):
        return check_note(checkpoint, trusted_key, witnesses)
    if witnesses:
        raise ProofError("a version-1 checkpoint carries no cosignatures")
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != CHECKPOINT_FORMAT:
        raise ProofError("not a checkpoint")
    if trusted_key is None:
        raise ProofError("give the signer's --public-key: a checkpoint is only as trusted as its key")
    extra, missing = sorted(set(checkpoint) - CHECKPOINT_FIELDS), sorted(CHECKPOINT_FIELDS - set(checkpoint))
    if extra or missing:
        raise ProofError(f"{(extra or missing)[0]}: {'not a' if extra else 'a missing'} field of a checkpoint")
    size = checkpoint.get("tree_size")
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise ProofError("tree_size is not a count")
    root = hash32(checkpoint.get("root"), "root")
    public = hash32(checkpoint.get("public_key"), "public_key")
    if public != trusted_key:
        raise ProofError("signed by another key than the trusted one")
    try:
        signature = bytes.fromhex(checkpoint.get("signature", ""))
    except ValueError:
        raise ProofError("signature is not hex") from None
    if not ed25519_verify(public, signed_text(checkpoint), signature):
        raise ProofError("the signature does not match the checkpoint")
    seq, _, head_hash = str(checkpoint.get("head", "")).partition(":")
    if seq != str(size):
        raise ProofError("the head is not at the tree size")
    hash32(head_hash, "head hash")
    check_time(checkpoint.get("time"))
    return size, root, ("key", public.hex())


def check_inclusion(proof, checkpoint):
    if not isinstance(proof, dict) or proof.get("format") != INCLUSION_FORMAT:
        raise ProofError("not an inclusion proof")
    extra = sorted(set(proof) - {"format", "seq", "tree_size", "record", "path"})
    if extra:
        raise ProofError(f"{extra[0]}: not a field of an inclusion proof")
    size, root, _ = checkpoint
    if proof.get("tree_size") != size:
        raise ProofError(f"the proof is for a tree of {proof.get('tree_size')}, the checkpoint's has {size}")
    record, seq = proof.get("record"), proof.get("seq")
    if not isinstance(record, dict) or record.get("seq") != seq or not isinstance(seq, int) or seq < 1:
        raise ProofError("the record is not the proof's seq")
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from verify_export import RecordError, check_record  # the export verifier, beside this file

    try:
        record_hash = check_record(record, seq, hash32(record.get("prev_hash"), "prev_hash"))
    except RecordError as err:
        raise ProofError(f"the record: {err}") from None
    path = [hash32(p, f"path[{i}]") for i, p in enumerate(proof.get("path") or [])]
    if not verify_inclusion(leaf_hash(record_hash), seq - 1, size, path, root):
        raise ProofError(f"record {seq} is not in the checkpoint's tree")
    return f"record {seq} is in the checkpoint's tree of {size} records"


def check_consistency(proof, old, new):
    if not isinstance(proof, dict) or proof.get("format") != CONSISTENCY_FORMAT:
        raise ProofError("not a consistency proof")
    (old_size, old_root, old_log), (new_size, new_root, new_log) = old, new
    # Two logs that share a prefix (two ledgers from one genesis) are not one log that grew:
    # two notes name one origin, two version-1 files one key (they name no origin).
    if old_log[0] == new_log[0] and old_log != new_log:
        old_text, new_text = (f"{kind} {value!r}" for kind, value in (old_log, new_log))
        raise ProofError(f"the checkpoints are of two logs: {old_text} and {new_text}")
    if (proof.get("old_size"), proof.get("new_size")) != (old_size, new_size):
        raise ProofError("the proof is for other tree sizes than the checkpoints'")
    path = [hash32(p, f"path[{i}]") for i, p in enumerate(proof.get("path") or [])]
    if not verify_consistency(old_size, new_size, old_root, new_root, path):
        raise ProofError(f"the log of {new_size} records does not extend the log of {old_size}")
    return f"the log of {new_size} records extends the log of {old_size}"


def vectors():
    """The test vectors of docs/FORMAT.md, computed here (the Rust side computes the same)."""
    records = [hashlib.sha256(bytes([i])).digest() for i in range(5)]
    leaves = [leaf_hash(r) for r in records]
    return {
        "empty_root": root_of([]).hex(),
        "leaf_0": leaves[0].hex(),
        "root_1": root_of(leaves[:1]).hex(),
        "root_2": root_of(leaves[:2]).hex(),
        "root_3": root_of(leaves[:3]).hex(),
        "root_5": root_of(leaves).hex(),
    }


def load(path):
    """A proof or checkpoint file; a key named twice in an object is refused (verify_export's
    rule, as ledger-cli check-proof's)."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from verify_export import unique_keys  # the export verifier, beside this file

    try:
        # newline="": the bytes as they are (a note with CR LF line endings is refused).
        with open(path, encoding="utf-8", newline="") as handle:
            text = handle.read()
        if not text.lstrip().startswith("{"):
            return text  # a signed note
        return json.loads(text, object_pairs_hook=unique_keys)
    except ValueError as err:
        if "named twice" in str(err):  # a failed check (exit 1), like an edited field
            raise ProofError(f"{path}: {err}") from None
        raise OSError(f"{path}: {err}") from None
    except OSError as err:
        raise OSError(f"{path}: {err}") from None


def main(argv):
    args = argv[1:]
    trusted = None
    if "--public-key" in args:
        at = args.index("--public-key")
        if at + 1 >= len(args):
            print(__doc__, file=sys.stderr)
            return 2
        try:
            trusted = hash32(args[at + 1], "--public-key")
        except ProofError as err:
            print(f"usage error: {err}", file=sys.stderr)
            return 2
        del args[at : at + 2]
    witnesses = []
    while "--witness" in args:
        at = args.index("--witness")
        name, _, key = (args[at + 1] if at + 1 < len(args) else "").partition("=")
        try:
            witnesses.append((name, hash32(key, "--witness")))
        except ProofError as err:
            print(f"usage error: {err}", file=sys.stderr)
            return 2
        del args[at : at + 2]
    if args == ["vectors"]:
        print(json.dumps(vectors(), indent=2))
        return 0
    shapes = {"checkpoint": 1, "inclusion": 2, "consistency": 3}
    if not args or args[0] not in shapes or len(args) != shapes[args[0]] + 1:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        files = [load(path) for path in args[1:]]
    except OSError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except ProofError as err:
        print(f"FAILED: {err}")
        return 1
    try:
        if args[0] == "checkpoint":
            size, _, _ = check_checkpoint(files[0], trusted, witnesses)
            what = f"checkpoint of {size} records: signature valid"
        elif args[0] == "inclusion":
            what = check_inclusion(files[0], check_checkpoint(files[1], trusted, witnesses))
        else:
            old, new = check_checkpoint(files[1], trusted, witnesses), check_checkpoint(files[2], trusted, witnesses)
            what = check_consistency(files[0], old, new)
    except ProofError as err:
        print(f"FAILED: {err}")
        return 1
    print(f"OK: {what}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
