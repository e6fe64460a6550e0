#!/usr/bin/env python3
"""The export verifier's decoding tables (verify_export.py's SCHEMA) as text, Python standard
library only: `verify_export.py --schema markdown` prints the tables docs/FORMAT.md holds ("Type
tables"); `--schema wire` prints every type reduced to its bytes (amount -> u64, time -> i64,
uuid -> bytes, clock -> u16), one line per type. crates/ledger-store/tests/format_schema.rs
compares the first with FORMAT.md and the second with the Rust types as serde sees them, so
none of the three can drift.
"""

from verify_export import AMOUNT, CLOCK, SCHEMA, STR, TIME, UUID

_WIRE = {AMOUNT: "u64", TIME: "i64", UUID: "bytes", CLOCK: "u16"}
_SHOWN = {AMOUNT: "amount", TIME: "time", UUID: "uuid", CLOCK: "clock", STR: "string"}
# The Rust name of a schema entry where it differs (EventV2 is the struct `Event`; the schema's
# `Event` is record version 1, the same struct without its last two fields).
RUST_NAMES = {"EventV2": "Event"}
SCHEMA_ONLY = ("Event",)


def _refs(t):
    """The named types `t` refers to, in order."""
    if t is None:
        return []
    if isinstance(t, str):
        return [t] if t in SCHEMA else []
    kind = t[0]
    if kind in ("option", "vec", "newtype"):
        return _refs(t[1])
    if kind == "map":
        return _refs(t[1]) + _refs(t[2])
    if kind == "struct":
        return [r for _, ft in t[1] for r in _refs(ft)]
    return [r for _, vt in t[1] for r in _refs(vt)]


def schema_order():
    """Every schema type, from the event down (breadth first), then any not reached."""
    order, queue = [], ["EventV2", "Event"]
    while queue:
        name = queue.pop(0)
        if name not in order:
            order.append(name)
            queue.extend(_refs(SCHEMA[name]))
    return order + [name for name in SCHEMA if name not in order]


def _type_text(t, wire):
    if isinstance(t, str):
        if t in SCHEMA:
            return RUST_NAMES.get(t, t) if wire else t
        return _WIRE.get(t, t) if wire else _SHOWN.get(t, t)
    kind = t[0]
    if kind == "option":
        return f"option<{_type_text(t[1], wire)}>"
    if kind == "vec":
        return f"vec<{_type_text(t[1], wire)}>"
    if kind == "map":
        return f"map<{_type_text(t[1], wire)}, {_type_text(t[2], wire)}>"
    if kind == "newtype":
        return f"({_type_text(t[1], wire)})"
    if kind == "struct":
        return "{" + ", ".join(f"{name}: {_type_text(ft, wire)}" for name, ft in t[1]) + "}"
    raise ValueError(f"not a field type: {t!r}")


def schema_wire():
    lines = []
    for name in sorted(n for n in SCHEMA if n not in SCHEMA_ONLY):
        t = SCHEMA[name]
        if t[0] == "enum":
            body = ", ".join(f"{i} {v}: {'unit' if vt is None else _type_text(vt, True)}" for i, (v, vt) in enumerate(t[1]))
            lines.append(f"{RUST_NAMES.get(name, name)} = enum {{{body}}}")
        else:
            lines.append(f"{RUST_NAMES.get(name, name)} = struct {_type_text(t, True)}")
    return "\n".join(sorted(lines)) + "\n"


def schema_markdown():
    out = []
    for name in schema_order():
        t = SCHEMA[name]
        if t[0] == "enum":
            out += [f"#### `{name}` (enum)", "| index | variant | fields, in order |", "|---|---|---|"]
            for index, (variant, vt) in enumerate(t[1]):
                if vt is None:
                    fields = "—"
                elif vt[0] == "struct":
                    fields = ", ".join(f"`{f}: {_type_text(ft, False)}`" for f, ft in vt[1])
                else:
                    fields = f"`{_type_text(vt, False)}`"
                out.append(f"| {index} | `{variant}` | {fields} |")
        else:
            out += [f"#### `{name}` (struct)", "| field | type |", "|---|---|"]
            out += [f"| `{f}` | `{_type_text(ft, False)}` |" for f, ft in t[1]]
        out.append("")
    return "\n".join(out)
