#!/usr/bin/env python3
"""Independent verifier of a tiered-ledger export (docs/FORMAT.md), Python standard library only.

Usage: verify_export.py EXPORT.jsonl [--expect-head SEQ:HASH] [--expect-prev HASH]

Recomputes every record's hash as
    SHA-256(b"tiered-ledger/event/v1\\0\\0" || seq (u64 big-endian) || prev_hash || event bytes)
and checks that sequence numbers are consecutive and each record links to the one before.
An export that starts at seq 1 must link to 32 zero bytes; one that starts later links to
--expect-prev if given. With --expect-head, the export must contain that record with that hash.
Exit status: 0 verified, 1 a check failed, 2 usage or I/O error.
"""

import hashlib
import json
import sys

DOMAIN = b"tiered-ledger/event/v1\x00\x00"
GENESIS_PREV = bytes(32)


def fail(message):
    print(f"FAILED: {message}")
    return 1


def parse_hash(text, what):
    raw = bytes.fromhex(text)
    if len(raw) != 32:
        raise ValueError(f"{what} is {len(raw)} bytes, not 32")
    return raw


def main(argv):
    args = argv[1:]
    expect_head = None
    expect_prev = None
    path = None
    while args:
        arg = args.pop(0)
        if arg == "--expect-head" and args:
            seq_text, _, hash_text = args.pop(0).partition(":")
            expect_head = (int(seq_text), parse_hash(hash_text, "--expect-head hash"))
        elif arg == "--expect-prev" and args:
            expect_prev = parse_hash(args.pop(0), "--expect-prev")
        elif path is None and not arg.startswith("--"):
            path = arg
        else:
            print(__doc__, file=sys.stderr)
            return 2
    if path is None:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        handle = open(path, "r", encoding="utf-8")
    except OSError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2

    prev_hash = None
    expected_seq = None
    count = 0
    head = None
    seen_expected_head = False
    with handle:
        for line_no, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                seq = int(record["seq"])
                stored_prev = parse_hash(record["prev_hash"], "prev_hash")
                stored_hash = parse_hash(record["hash"], "hash")
                event = bytes.fromhex(record["event_hex"])
            except (ValueError, KeyError, TypeError) as err:
                return fail(f"line {line_no}: not a record: {err}")
            if expected_seq is None:
                if seq == 1:
                    prev_hash = GENESIS_PREV
                elif expect_prev is not None:
                    prev_hash = expect_prev
                else:
                    prev_hash = stored_prev  # a partial export: its first link is taken as given
                expected_seq = seq
            if seq != expected_seq:
                return fail(f"seq {expected_seq}: missing (line {line_no} holds seq {seq})")
            if stored_prev != prev_hash:
                return fail(f"seq {seq}: broken link: prev_hash {stored_prev.hex()} but the record before hashes to {prev_hash.hex()}")
            computed = hashlib.sha256(DOMAIN + seq.to_bytes(8, "big") + stored_prev + event).digest()
            if computed != stored_hash:
                return fail(f"seq {seq}: hash mismatch: stored {stored_hash.hex()}, computed {computed.hex()}")
            if expect_head is not None and seq == expect_head[0]:
                if computed != expect_head[1]:
                    return fail(f"seq {seq}: hashes to {computed.hex()}, not the recorded {expect_head[1].hex()}: rewritten")
                seen_expected_head = True
            prev_hash = computed
            expected_seq = seq + 1
            count += 1
            head = (seq, computed)
    if count == 0:
        return fail("the export holds no records")
    if expect_head is not None and not seen_expected_head:
        return fail(f"the export ends at seq {head[0]} and does not contain the recorded head {expect_head[0]}: truncated")
    print(f"OK: {count} records verified, head {head[0]}:{head[1].hex()}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
