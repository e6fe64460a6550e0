#!/usr/bin/env python3
"""Independent verifier of a tiered-ledger export (docs/FORMAT.md), Python standard library only.

Usage: verify_export.py EXPORT.jsonl [--expect-head SEQ:HASH] [--expect-prev HASH] [--kinds]
       verify_export.py --schema markdown|wire

Recomputes every record's hash as
    SHA-256(b"tiered-ledger/event/v1\\0\\0" || seq (u64 big-endian) || prev_hash || event bytes)
and checks that sequence numbers are consecutive and each record links to the one before.
An export must start at genesis (seq 1, linking to 32 zero bytes); a partial export that starts
later is verified only against --expect-prev, the hash of the record before it, taken from a
source the auditor trusts. With --expect-head, the export must contain that record with that
hash. Every record's readable "event" must agree with what its event bytes decode to, field by
field; --kinds then lists how many records of each event kind (rejections by reason) were decoded.
--schema prints the decoding tables (docs/FORMAT.md, "Type tables").
Exit status: 0 verified, 1 a check failed, 2 usage or I/O error.
"""

import datetime
import hashlib
import json
import sys

DOMAIN = b"tiered-ledger/event/v1\x00\x00"
GENESIS_PREV = bytes(32)


def fail(message):
    print(f"FAILED: {message}")
    return 1


def parse_hash(text, what):
    if not isinstance(text, str):
        raise ValueError(f"{what} is not a hex string")
    raw = bytes.fromhex(text)
    if len(raw) != 32:
        raise ValueError(f"{what} is {len(raw)} bytes, not 32")
    return raw


def parse_seq(value, what):
    # JSON true is not the number 1, and "1" is not a number.
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{what} is not a sequence number: {value!r}")
    return value


def usage(message):
    print(f"usage error: {message}", file=sys.stderr)
    print(__doc__, file=sys.stderr)
    return 2


# --- Event decoding (docs/FORMAT.md, "Event encoding") -----------------------------------------
# bincode 2 with variable-length integers, little-endian. The schema below is the declaration
# order of the types in crates/ledger-core/src/{event,command,policy,protect,ids,time,money}.rs:
# enums list their variants by index; structs their fields in order.

class DecodeError(Exception):
    pass


class Amount:
    """Fen; readable form: a decimal string of CNY."""

    def __init__(self, fen):
        self.fen = fen


class Time:
    """Milliseconds since the epoch; readable form: RFC 3339."""

    def __init__(self, ms):
        self.ms = ms


class Uuid:
    def __init__(self, raw):
        self.raw = raw


class Clock:
    """Minute of the day; readable form: HH:MM."""

    def __init__(self, minutes):
        self.minutes = minutes


def _struct(*fields):
    return ("struct", fields)


def _enum(*variants):
    return ("enum", variants)


def _opt(t):
    return ("option", t)


def _vec(t):
    return ("vec", t)


U32, U64, I16, I32, BOOL, STR = "u32", "u64", "i16", "i32", "bool", "str"
AMOUNT, TIME, UUID, CLOCK = "amount", "time", "uuid", "clock"
ACCOUNT = CUSTOMER = U64
UNIT = None

SCHEMA = {}
SCHEMA["AccountClass"] = _enum(("I", UNIT), ("II", UNIT), ("III", UNIT))
SCHEMA["Flow"] = _enum(*[(n, UNIT) for n in (
    "cash_deposit", "cash_withdrawal", "transfer_in_bound", "transfer_in_other", "transfer_out_bound",
    "transfer_out_other", "payment", "wealth_purchase", "wealth_redemption")])
SCHEMA["Permission"] = _enum(("allowed", UNIT), ("in_person_only", UNIT), ("forbidden", UNIT))
SCHEMA["Actor"] = _enum(("customer", UNIT), ("bank", UNIT))
SCHEMA["PersonalLimit"] = _enum(("per_transaction", UNIT), ("per_day", UNIT))
SCHEMA["Arrival"] = _enum(("normal", UNIT), ("next_day", UNIT))
SCHEMA["Settlement"] = _enum(("confirmed", UNIT), ("due", UNIT))
SCHEMA["Period"] = _enum(("day", UNIT), ("year", UNIT))
SCHEMA["ExternalKind"] = _enum(("class_i", UNIT), ("credit_card", UNIT))
SCHEMA["PostingKind"] = _enum(*[(n, UNIT) for n in (
    "cash_deposit", "cash_withdrawal", "internal_transfer", "inbound_transfer", "outbound_transfer", "payment",
    "wealth_purchase", "wealth_redemption")])
SCHEMA["BindingProblem"] = _enum(*[(n, UNIT) for n in (
    "unknown_account", "account_closed", "not_class_i", "other_customer", "credit_card_not_allowed", "bad_reference")])
SCHEMA["Binding"] = _enum(("account", ("newtype", ACCOUNT)),
                          ("external", _struct(("kind", "ExternalKind"), ("reference", STR))))
SCHEMA["Bucket"] = _struct(("name", STR), ("flows", _vec("Flow")), ("day_cap", _opt(AMOUNT)), ("year_cap", _opt(AMOUNT)))
SCHEMA["BindingRule"] = _struct(("required", BOOL), ("credit_card_allowed", BOOL))
SCHEMA["ClassRules"] = _struct(
    ("max_open_accounts", _opt(U32)), ("binding", "BindingRule"), ("card", "Permission"),
    ("flows", ("map", "Flow", "Permission")), ("first_inflow_from_bound", BOOL), ("balance_cap", _opt(AMOUNT)),
    ("buckets", _vec("Bucket")))
SCHEMA["ClassTable"] = _struct(("I", "ClassRules"), ("II", "ClassRules"), ("III", "ClassRules"))
SCHEMA["Policy"] = _struct(("name", STR), ("description", STR), ("class", "ClassTable"))
SCHEMA["SecurityLock"] = _struct(("by", "Actor"), ("flows", _vec("Flow")), ("reason", STR))
SCHEMA["PersonalLimits"] = _struct(("per_transaction", _opt(AMOUNT)), ("per_day", _opt(AMOUNT)))
SCHEMA["NightWindow"] = _struct(("start", CLOCK), ("end", CLOCK))
SCHEMA["ProtectionSettings"] = _struct(
    ("large_transaction_threshold", _opt(AMOUNT)), ("hold_expiry_minutes", U32),
    ("normal_arrival_delay_minutes", U32), ("personal_limit_flows", _vec("Flow")),
    ("verification_flows", _vec("Flow")), ("night_lock_flows", _vec("Flow")))
SCHEMA["Stage"] = _enum(("awaiting_verification", _struct(("expires_at", TIME))),
                        ("scheduled", _struct(("due_at", TIME))))
SCHEMA["Reservation"] = _struct(
    ("id", UUID), ("kind", "PostingKind"), ("account", ACCOUNT), ("flow", "Flow"), ("counterparty", _opt(STR)),
    ("amount", AMOUNT), ("arrival", _opt("Arrival")), ("requested_at", TIME), ("stage", "Stage"),
    ("buckets", _vec(STR)), ("personal", BOOL))
SCHEMA["Release"] = _enum(("declined", UNIT), ("expired", UNIT), ("cancelled", UNIT),
                          ("stopped", _struct(("reason", "RejectReason"))))
SCHEMA["BucketUsage"] = _struct(("bucket", STR), ("day", I32), ("day_used", AMOUNT), ("year", I16),
                                ("year_used", AMOUNT))
SCHEMA["Leg"] = _struct(("account", ACCOUNT), ("flow", "Flow"), ("balance_after", AMOUNT),
                        ("usage_after", _vec("BucketUsage")))
SCHEMA["Posting"] = _struct(("kind", "PostingKind"), ("amount", AMOUNT), ("counterparty", _opt(STR)),
                            ("debit", _opt("Leg")), ("credit", _opt("Leg")))
_risk = _struct(("counterparty", STR), ("reason", STR), ("source", STR))
SCHEMA["CommandBody"] = _enum(
    ("open_account", _struct(("account", ACCOUNT), ("customer", CUSTOMER), ("class", "AccountClass"),
                             ("binding", _opt("Binding")), ("verified_in_person", BOOL), ("with_card", BOOL))),
    ("close_account", _struct(("account", ACCOUNT))),
    ("cash_deposit", _struct(("account", ACCOUNT), ("amount", AMOUNT))),
    ("cash_withdrawal", _struct(("account", ACCOUNT), ("amount", AMOUNT))),
    ("internal_transfer", _struct(("from", ACCOUNT), ("to", ACCOUNT), ("amount", AMOUNT))),
    ("inbound_transfer", _struct(("to", ACCOUNT), ("counterparty", STR), ("amount", AMOUNT))),
    ("outbound_transfer", _struct(("from", ACCOUNT), ("counterparty", STR), ("amount", AMOUNT))),
    ("payment", _struct(("from", ACCOUNT), ("merchant", STR), ("amount", AMOUNT))),
    ("wealth_purchase", _struct(("account", ACCOUNT), ("product", STR), ("amount", AMOUNT))),
    ("wealth_redemption", _struct(("account", ACCOUNT), ("product", STR), ("amount", AMOUNT))),
    ("change_policy", _struct(("effective_from", TIME), ("policy", "Policy"))),
    ("lock_account", _struct(("account", ACCOUNT), ("by", "Actor"), ("flows", _vec("Flow")), ("reason", STR))),
    ("unlock_account", _struct(("account", ACCOUNT), ("by", "Actor"))),
    ("set_personal_limits", _struct(("account", ACCOUNT), ("limits", "PersonalLimits"))),
    ("set_night_lock", _struct(("account", ACCOUNT), ("window", _opt("NightWindow")))),
    ("list_risk", _risk),
    ("unlist_risk", _risk),
    ("change_protections", _struct(("effective_from", TIME), ("settings", "ProtectionSettings"))),
    ("delayed_transfer", _struct(("from", ACCOUNT), ("counterparty", STR), ("amount", AMOUNT),
                                 ("arrival", "Arrival"))),
    ("confirm_hold", _struct(("hold", UUID))),
    ("decline_hold", _struct(("hold", UUID))),
    ("cancel_transfer", _struct(("transfer", UUID))),
    ("tick", UNIT),
)
_acct = _struct(("account", ACCOUNT))
SCHEMA["RejectReason"] = _enum(
    ("time_before_head", _struct(("requested_at", TIME), ("head_at", TIME))),
    ("no_policy_in_force", UNIT),
    ("zero_amount", UNIT),
    ("invalid_text", _struct(("field", STR), ("max_chars", U32))),
    ("unknown_account", _acct),
    ("account_closed", _acct),
    ("account_exists", _acct),
    ("same_account", _acct),
    ("flow_not_allowed", _struct(("account", ACCOUNT), ("class", "AccountClass"), ("flow", "Flow"))),
    ("in_person_verification_required", _struct(("class", "AccountClass"), ("flow", _opt("Flow")))),
    ("card_not_allowed", _struct(("class", "AccountClass"))),
    ("binding_required", _struct(("class", "AccountClass"))),
    ("binding_not_allowed", _struct(("class", "AccountClass"))),
    ("invalid_binding", _struct(("problem", "BindingProblem"))),
    ("account_count_exceeded", _struct(("customer", CUSTOMER), ("class", "AccountClass"), ("max_open", U32))),
    ("insufficient_funds", _struct(("account", ACCOUNT), ("balance", AMOUNT), ("requested", AMOUNT))),
    ("limit_exceeded", _struct(("account", ACCOUNT), ("bucket", STR), ("period", "Period"), ("cap", AMOUNT),
                               ("used", AMOUNT), ("requested", AMOUNT))),
    ("balance_cap_exceeded", _struct(("account", ACCOUNT), ("cap", AMOUNT), ("balance", AMOUNT),
                                     ("requested", AMOUNT))),
    ("balance_overflow", _acct),
    ("first_funding_from_bound_required", _acct),
    ("non_zero_balance", _struct(("account", ACCOUNT), ("balance", AMOUNT))),
    ("bound_accounts_open", _struct(("account", ACCOUNT), ("open", U32))),
    ("invalid_policy", _struct(("detail", STR))),
    ("policy_effective_in_past", _struct(("effective_from", TIME), ("head_at", TIME))),
    ("account_locked", _struct(("account", ACCOUNT), ("flow", "Flow"), ("by", "Actor"))),
    ("not_locked", _struct(("account", ACCOUNT), ("by", "Actor"))),
    ("personal_limit_exceeded", _struct(("account", ACCOUNT), ("limit", "PersonalLimit"), ("cap", AMOUNT),
                                        ("used", AMOUNT), ("requested", AMOUNT))),
    ("personal_limit_above_policy", _struct(("account", ACCOUNT), ("limit", "PersonalLimit"),
                                            ("requested", AMOUNT), ("policy_cap", AMOUNT))),
    ("night_locked", _struct(("account", ACCOUNT), ("flow", "Flow"), ("window", "NightWindow"))),
    ("risk_listed_counterparty", _struct(("counterparty", STR), ("listed_seq", U64))),
    ("risk_list_unchanged", _struct(("counterparty", STR), ("listed", BOOL))),
    ("funds_reserved", _struct(("account", ACCOUNT), ("balance", AMOUNT), ("reserved", AMOUNT),
                               ("requested", AMOUNT))),
    ("unknown_pending", _struct(("id", UUID))),
    ("pending_action_not_allowed", _struct(("id", UUID), ("detail", STR))),
    ("invalid_protection", _struct(("detail", STR))),
    ("time_ahead_of_clock", _struct(("requested_at", TIME), ("latest_accepted", TIME))),
)
_usage = ("usage_after", _vec("BucketUsage"))
SCHEMA["EventBody"] = _enum(
    ("account_opened", _struct(("account", ACCOUNT), ("customer", CUSTOMER), ("class", "AccountClass"),
                               ("binding", _opt("Binding")), ("verified_in_person", BOOL), ("with_card", BOOL))),
    ("account_closed", _acct),
    ("posted", ("newtype", "Posting")),
    ("policy_scheduled", _struct(("effective_from", TIME), ("policy", "Policy"))),
    ("rejected", _struct(("command", "CommandBody"), ("reason", "RejectReason"))),
    ("account_locked", _struct(("account", ACCOUNT), ("lock", "SecurityLock"))),
    ("account_unlocked", _struct(("account", ACCOUNT), ("by", "Actor"))),
    ("personal_limits_set", _struct(("account", ACCOUNT), ("limits", "PersonalLimits"))),
    ("night_lock_set", _struct(("account", ACCOUNT), ("window", _opt("NightWindow")))),
    ("risk_listed", _risk),
    ("risk_unlisted", _risk),
    ("protections_scheduled", _struct(("effective_from", TIME), ("settings", "ProtectionSettings"))),
    ("reserved", _struct(("reservation", "Reservation"), _usage)),
    ("hold_confirmed", _struct(("id", UUID), ("due_at", TIME))),
    ("reservation_settled", _struct(("id", UUID), ("settlement", "Settlement"), ("posting", "Posting"))),
    ("reservation_released", _struct(("id", UUID), ("account", ACCOUNT), ("release", "Release"), _usage)),
    ("time_advanced", UNIT),
    # A checkpoint recorded by the writer (docs/FORMAT.md, "Recorded checkpoints").
    ("checkpointed", _struct(("size", U64), ("root", STR), ("note", _opt(STR)))),
)
SCHEMA["Event"] = _struct(("command_id", UUID), ("at", TIME), ("body", "EventBody"))
# Record version 2 (docs/FORMAT.md, "Record versions"): the event bytes start with 0x02 and name
# who submitted the command and the texts a rejection withheld.
SCHEMA["Principal"] = _struct(("name", STR), ("role", STR))
SCHEMA["WithheldText"] = _struct(("field", STR), ("chars", U64), ("sha256", STR))
SCHEMA["EventV2"] = _struct(("command_id", UUID), ("at", TIME), ("body", "EventBody"),
                            ("principal", _opt("Principal")), ("withheld", _vec("WithheldText")))
EVENT_V2_MARKER = 0x02


class Reader:
    def __init__(self, data):
        self.data = data
        self.pos = 0

    def take(self, n):
        if self.pos + n > len(self.data):
            raise DecodeError(f"ends early at byte {self.pos} (wanted {n} more)")
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def varint(self):
        first = self.take(1)[0]
        if first < 251:
            return first
        width = {251: 2, 252: 4, 253: 8, 254: 16}.get(first)
        if width is None:
            raise DecodeError(f"bad varint marker {first:#x} at byte {self.pos - 1}")
        return int.from_bytes(self.take(width), "little")

    def signed(self):
        z = self.varint()
        return (z >> 1) ^ -(z & 1)


def decode(reader, t):
    if t == U64 or t == U32:
        value = reader.varint()
        if value >= (1 << 64 if t == U64 else 1 << 32):
            raise DecodeError(f"{t} out of range")
        return value
    if t in (I16, I32):
        return reader.signed()
    if t == BOOL:
        byte = reader.take(1)[0]
        if byte > 1:
            raise DecodeError(f"bad bool {byte}")
        return byte == 1
    if t == STR:
        try:
            return reader.take(reader.varint()).decode("utf-8")
        except UnicodeDecodeError as err:
            raise DecodeError(f"string is not UTF-8: {err}") from None
    if t == AMOUNT:
        return Amount(reader.varint())
    if t == TIME:
        return Time(reader.signed())
    if t == CLOCK:
        return Clock(reader.varint())
    if t == UUID:
        if reader.varint() != 16:
            raise DecodeError("a UUID is not 16 bytes")
        return Uuid(reader.take(16))
    if t == "Policy":
        # A source travels in the description after a NUL (docs/FORMAT.md, "Policy"); the
        # readable form has it as a field of its own, left out when empty.
        policy = decode(reader, SCHEMA[t])
        description, _, source = policy["description"].partition("\0")
        policy["description"] = description
        if source:
            policy = {"name": policy["name"], "description": description, "source": source, "class": policy["class"]}
        return policy
    if isinstance(t, str):
        return decode(reader, SCHEMA[t])
    kind = t[0]
    if kind == "option":
        tag = reader.take(1)[0]
        if tag > 1:
            raise DecodeError(f"bad option tag {tag}")
        return decode(reader, t[1]) if tag == 1 else None
    if kind == "vec":
        return [decode(reader, t[1]) for _ in range(reader.varint())]
    if kind == "map":
        return {"\0map": [(decode(reader, t[1]), decode(reader, t[2])) for _ in range(reader.varint())]}
    if kind == "newtype":
        return decode(reader, t[1])
    if kind == "struct":
        return {name: decode(reader, ft) for name, ft in t[1]}
    if kind == "enum":
        index = reader.varint()
        if index >= len(t[1]):
            raise DecodeError(f"variant {index} is not one of {len(t[1])}")
        name, content = t[1][index]
        return name if content is None else {name: decode(reader, content)}
    raise DecodeError(f"unknown schema type {t!r}")


def decode_event(data):
    if data[:1] == bytes([EVENT_V2_MARKER]):
        reader = Reader(data)
        reader.take(1)
        event = decode(reader, "EventV2")
    else:
        # Version 1 (first byte 0x10): no principal, nothing withheld (see check_record).
        reader = Reader(data)
        event = decode(reader, "Event")
    if reader.pos != len(data):
        raise DecodeError(f"{len(data) - reader.pos} trailing bytes")
    return event


def readable_amount(text):
    whole, dot, cents = text.partition(".")
    if not whole.isdigit() or (dot and not (cents.isdigit() and len(cents) == 2)):
        return None
    return int(whole) * 100 + (int(cents) if dot else 0)


def readable_time(text):
    try:
        when = datetime.datetime.fromisoformat(text)
    except ValueError:
        return None
    if when.tzinfo is None:
        return None
    delta = when - datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
    return (delta.days * 86400 + delta.seconds) * 1000 + delta.microseconds // 1000


def disagreement(decoded, shown, path="event"):
    """None when the readable `shown` says what `decoded` says; else where and how they differ."""
    if isinstance(decoded, Amount):
        ok = isinstance(shown, str) and readable_amount(shown) == decoded.fen
        want = f"{decoded.fen // 100}.{decoded.fen % 100:02d}"
    elif isinstance(decoded, Time):
        ok = isinstance(shown, str) and readable_time(shown) == decoded.ms
        want = f"{decoded.ms} ms since the epoch"
    elif isinstance(decoded, Uuid):
        ok = isinstance(shown, str) and shown.replace("-", "").lower() == decoded.raw.hex()
        want = decoded.raw.hex()
    elif isinstance(decoded, Clock):
        want = f"{decoded.minutes // 60:02d}:{decoded.minutes % 60:02d}"
        ok = shown == want
    elif isinstance(decoded, dict) and "\0map" in decoded:
        pairs = decoded["\0map"]
        if not isinstance(shown, dict) or len(shown) != len(pairs):
            return f"{path}: the bytes hold a map of {len(pairs)} entries"
        for key, value in pairs:
            if key not in shown:
                return f"{path}: the bytes hold key {key!r}"
            found = disagreement(value, shown[key], f"{path}.{key}")
            if found:
                return found
        return None
    elif isinstance(decoded, dict):
        if not isinstance(shown, dict) or set(shown) != set(decoded):
            return f"{path}: the bytes hold {sorted(decoded)}, the readable form {sorted(shown) if isinstance(shown, dict) else shown!r}"
        for key, value in decoded.items():
            found = disagreement(value, shown[key], f"{path}.{key}")
            if found:
                return found
        return None
    elif isinstance(decoded, list):
        if not isinstance(shown, list) or len(shown) != len(decoded):
            return f"{path}: the bytes hold a list of {len(decoded)}"
        for index, (value, seen) in enumerate(zip(decoded, shown)):
            found = disagreement(value, seen, f"{path}[{index}]")
            if found:
                return found
        return None
    else:
        # bool is an int in Python: compare types too.
        ok = type(decoded) is type(shown) and decoded == shown
        want = json.dumps(decoded)
    return None if ok else f"{path}: the bytes say {want}, the readable form says {json.dumps(shown)}"


class RecordError(Exception):
    """A record that fails a check; `malformed` when it is not a record at all."""

    def __init__(self, message, malformed=False):
        super().__init__(message)
        self.malformed = malformed


def record_seq(record):
    if not isinstance(record, dict):
        raise ValueError("not a JSON object")
    return parse_seq(record["seq"], "seq")


def unique_keys(pairs):
    """A JSON object whose keys are each named once: a key named twice could show a reader one
    value and the check another, so a line holding one is refused."""
    seen = {}
    for key, value in pairs:
        if key in seen:
            raise ValueError(f"the key {key!r} is named twice in one object")
        seen[key] = value
    return seen


def event_kind(decoded):
    """The event's kind, `rejected/REASON` for a rejection (for --kinds)."""
    body = decoded["body"]
    if isinstance(body, str):
        return body
    (name, content), = body.items()
    if name == "rejected":
        reason = content["reason"]
        return f"rejected/{reason if isinstance(reason, str) else next(iter(reason))}"
    return name


def check_record(record, expected_seq, prev_hash, kinds=None):
    """Checks one export record (a parsed JSON object) as the successor of the record hashing to
    `prev_hash`: its seq is `expected_seq`, it links to `prev_hash`, its hash recomputes from its
    bytes, and its bytes decode to its readable event. Returns its hash; raises RecordError.
    Used by main() and by followers of a server's /v1/events (clients/python)."""
    try:
        seq = record_seq(record)
        stored_prev = parse_hash(record["prev_hash"], "prev_hash")
        stored_hash = parse_hash(record["hash"], "hash")
        if not isinstance(record["event_hex"], str):
            raise ValueError("event_hex is not a hex string")
        event = bytes.fromhex(record["event_hex"])
    except (ValueError, KeyError, TypeError) as err:
        raise RecordError(str(err), malformed=True) from err
    if seq != expected_seq:
        raise RecordError(f"seq {expected_seq}: missing (the next record holds seq {seq})")
    if stored_prev != prev_hash:
        raise RecordError(f"seq {seq}: broken link: prev_hash {stored_prev.hex()} but the record before hashes to {prev_hash.hex()}")
    computed = hashlib.sha256(DOMAIN + seq.to_bytes(8, "big") + stored_prev + event).digest()
    if computed != stored_hash:
        raise RecordError(f"seq {seq}: hash mismatch: stored {stored_hash.hex()}, computed {computed.hex()}")
    try:
        decoded = decode_event(event)
    except DecodeError as err:
        raise RecordError(f"seq {seq}: the event bytes do not decode: {err}") from err
    if "event" not in record:
        raise RecordError(f"seq {seq}: no readable event")
    shown = record["event"]
    if "principal" not in decoded and isinstance(shown, dict):
        # Version 1: shown with no principal and nothing withheld, or (exports of builds before
        # version 2) without either key.
        extra = {key: shown[key] for key in ("principal", "withheld") if key in shown}
        if extra not in ({}, {"principal": None, "withheld": []}):
            raise RecordError(f"seq {seq}: a version-1 event names no principal and withholds nothing, the readable form says {json.dumps(extra)}")
        shown = {key: value for key, value in shown.items() if key not in extra}
    differs = disagreement(decoded, shown)
    if differs:
        raise RecordError(f"seq {seq}: the readable event disagrees with its bytes: {differs}")
    if kinds is not None:
        kind = event_kind(decoded)
        kinds[kind] = kinds.get(kind, 0) + 1
    return computed


class Frontier:
    """The right edge of the RFC 9162 Merkle tree over the records so far (docs/FORMAT.md,
    "Merkle tree"): leaf = SHA-256(0x00 || record hash), node = SHA-256(0x01 || left || right)."""

    def __init__(self):
        self.size = 0
        self.edge = []  # (height, root) of complete subtrees, heights decreasing

    def push(self, record_hash):
        height, node = 0, hashlib.sha256(b"\x00" + record_hash).digest()
        while self.edge and self.edge[-1][0] == height:
            node = hashlib.sha256(b"\x01" + self.edge.pop()[1] + node).digest()
            height += 1
        self.edge.append((height, node))
        self.size += 1

    def root(self):
        if not self.edge:
            return hashlib.sha256(b"").digest()
        root = self.edge[-1][1]
        for _, node in reversed(self.edge[:-1]):
            root = hashlib.sha256(b"\x01" + node + root).digest()
        return root


def check_recorded_checkpoint(record, seq, tree):
    """A recorded checkpoint (docs/FORMAT.md, "Recorded checkpoints") states the tree of the
    records before it: its size is seq - 1 and, when the export starts at genesis (`tree`), its
    root is their Merkle root. Its note is checked with tools/verify_proof.py."""
    body = record["event"].get("body") if isinstance(record["event"], dict) else None
    if not isinstance(body, dict) or "checkpointed" not in body:
        return None
    recorded = body["checkpointed"]
    if recorded.get("size") != seq - 1:
        return f"seq {seq}: recorded checkpoint: size {recorded.get('size')}, but {seq - 1} records precede it"
    if tree is not None and recorded.get("root") != tree.root().hex():
        return f"seq {seq}: recorded checkpoint: root {recorded.get('root')} is not the Merkle root {tree.root().hex()} of {seq - 1} records"
    return None


def main(argv):
    args = argv[1:]
    expect_head = None
    expect_prev = None
    path = None
    kinds = None
    if args[:1] == ["--schema"] and len(args) == 2 and args[1] in ("markdown", "wire"):
        from schema_text import schema_markdown, schema_wire  # beside this file
        print(schema_markdown() if args[1] == "markdown" else schema_wire(), end="")
        return 0
    while args:
        arg = args.pop(0)
        if arg == "--expect-head" and args:
            text = args.pop(0)
            seq_text, colon, hash_text = text.partition(":")
            try:
                if not colon or not seq_text.isdigit():
                    raise ValueError("expected SEQ:HASH")
                expect_head = (parse_seq(int(seq_text), "--expect-head seq"), parse_hash(hash_text, "--expect-head hash"))
            except ValueError as err:
                return usage(f"--expect-head {text!r}: {err}")
        elif arg == "--expect-prev" and args:
            text = args.pop(0)
            try:
                expect_prev = parse_hash(text, "--expect-prev")
            except ValueError as err:
                return usage(f"--expect-prev {text!r}: {err}")
        elif arg == "--kinds":
            kinds = {}
        elif path is None and not arg.startswith("--"):
            path = arg
        else:
            return usage(f"unexpected argument {arg!r}")
    if path is None:
        return usage("no export file given")
    try:
        handle = open(path, "r", encoding="utf-8")
    except OSError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2

    prev_hash = None
    expected_seq = None
    tree = None  # the Merkle tree of the records so far, when the export starts at genesis
    count = 0
    head = None
    seen_expected_head = False
    with handle:
        for line_no, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line, object_pairs_hook=unique_keys)
                seq = record_seq(record)
            except (ValueError, KeyError, TypeError) as err:
                return fail(f"line {line_no}: not a record: {err}")
            if expected_seq is None:
                if seq == 1:
                    prev_hash = GENESIS_PREV
                    tree = Frontier()
                elif expect_prev is not None:
                    prev_hash = expect_prev
                else:
                    return fail(
                        f"the export starts at seq {seq}, not at genesis (seq 1): records before it are missing; "
                        "a partial export is verified only with --expect-prev HASH (the hash of the record before it)"
                    )
                expected_seq = seq
            try:
                computed = check_record(record, expected_seq, prev_hash, kinds)
            except RecordError as err:
                return fail(f"line {line_no}: not a record: {err}" if err.malformed else str(err))
            wrong = check_recorded_checkpoint(record, seq, tree)
            if wrong:
                return fail(wrong)
            if tree is not None:
                tree.push(computed)
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
    if kinds is not None:
        # Every record was decoded from its bytes and agreed with its readable form, field by field.
        for kind in sorted(kinds):
            print(f"decoded {kinds[kind]} {kind}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
