#!/usr/bin/env python3
"""End-to-end: a Beijing day of commands through ledger-server, then the whole log followed over
/v1/events and verified link by link. Used by crates/ledger-server/tests/follow.rs.

Usage: e2e_day.py URL TOKENS.json [--customers N] [--cafile PEM]
TOKENS.json: {"back-office": "...", "operator": "...", "auditor": "..."}
Runs on a fresh ledger or one that already holds events: each run takes new command ids, account
numbers no account uses yet, and business times after the ledger's head (on a fresh ledger,
2026-03-02 from 09:00 Beijing time; otherwise from now).
Prints one JSON summary line; exit 0 when every check held, 1 otherwise (with the reason).
"""

import datetime
import json
import random
import sys
import time
import uuid

from ledger_client import LedgerClient, LedgerError

BEIJING = datetime.timezone(datetime.timedelta(hours=8))
DAY = datetime.datetime(2026, 3, 2, 9, 0, tzinfo=BEIJING)
# Commands are spaced by this much business time, so a whole run fits well inside one Beijing
# day and within the server's max_ahead_seconds of its clock.
STEP = datetime.timedelta(milliseconds=10)


class Day:
    def __init__(self, start, run_id):
        self.start = start
        self.run_id = run_id
        self.tick = 0
        self.ids = []

    def at(self, ticks):
        return (self.start + STEP * ticks).isoformat()

    def command(self, kind, **fields):
        self.tick += 1
        command_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"e2e-day/{self.run_id}/{self.tick}"))
        self.ids.append(command_id)
        return {"type": kind, "id": command_id, "at": self.at(self.tick), **fields}


def head_time(auditor, head):
    """The business time of the head record (None on an empty ledger)."""
    if head["seq"] == 0:
        return None
    record = auditor.events(after=head["seq"] - 1, limit=1)["records"][0]
    return datetime.datetime.fromisoformat(record["event"]["at"])


def plan(auditor, head):
    """Where this run's day starts: DAY on a fresh ledger, else now (after the head), moved
    past Beijing midnight when a run could straddle it."""
    last = head_time(auditor, head)
    if last is None or last < DAY:
        return DAY
    now = datetime.datetime.now(BEIJING)
    midnight = (now + datetime.timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    if midnight - now < datetime.timedelta(minutes=2):
        time.sleep((midnight - now).total_seconds() + 1)
        now = datetime.datetime.now(BEIJING)
    start = max(now, last + datetime.timedelta(milliseconds=1))
    return start.replace(microsecond=start.microsecond // 1000 * 1000)


def free_accounts(auditor, customers):
    """A base account number whose range (base + 10 .. base + 10 * customers + 1) is unused."""
    for _ in range(20):
        base = random.randrange(1, 10**9) * 100
        if all(
            not exists(auditor, base + c * 10 + k) for c in (1, customers) for k in (0, 1)
        ):
            return base
    raise AssertionError("found no unused account numbers in 20 tries")


def exists(auditor, account):
    try:
        auditor.balance(account)
        return True
    except LedgerError as err:
        if err.status == 404:
            return False
        raise


def expect(condition, message):
    if not condition:
        raise AssertionError(message)


def run(url, tokens, customers, cafile):
    office = LedgerClient(url, tokens["back-office"], cafile=cafile)
    operator = LedgerClient(url, tokens["operator"], cafile=cafile)
    auditor = LedgerClient(url, tokens["auditor"], cafile=cafile)
    start = auditor.head()
    day = Day(plan(auditor, start), uuid.uuid4())
    base = free_accounts(auditor, customers)
    cust0 = base // 10

    fraud = f"6217-FRAUD-{day.run_id.hex[:8]}"
    listed = day.command("list_risk", counterparty=fraud, reason="telecom fraud", source="e2e")
    expect(operator.submit(listed)["status"] == "accepted", "the operator lists a counterparty")
    try:
        office.submit(day.command("list_risk", counterparty="x", reason="r", source="s"))
        expect(False, "back-office may not change the risk list")
    except LedgerError as err:
        expect(err.status == 403, f"back-office listing risk: {err}")
        day.ids.pop()

    opening = []
    for c in range(1, customers + 1):
        opening.append(
            day.command("open_account", account=base + c * 10, customer=cust0 + c, **{"class": "I"}, verified_in_person=True)
        )
        opening.append(
            day.command(
                "open_account", account=base + c * 10 + 1, customer=cust0 + c, **{"class": "II"}, binding={"account": base + c * 10}
            )
        )
    expect(all(a["status"] == "accepted" for a in office.batch(opening)), "every account opens")
    deposits = [day.command("cash_deposit", account=base + c * 10, amount="100000.00") for c in range(1, customers + 1)]
    deposits += [day.command("internal_transfer", **{"from": base + c * 10}, to=base + c * 10 + 1, amount="20000") for c in range(1, customers + 1)]
    expect(all(a["status"] == "accepted" for a in office.batch(deposits)), "deposits and funding transfers accepted")

    rejected = 0
    for c in range(1, customers + 1):
        for n in range(4):
            payment = day.command("payment", **{"from": base + c * 10 + 1}, merchant=f"Shop {n}", amount="3000.00")
            if n == 3:
                dry = office.check(payment)
                expect(dry["dry_run"] and dry["status"] == "rejected" and dry["reason"] == "LIMIT_EXCEEDED", f"dry run: {dry}")
            answer = office.submit(payment)
            if n == 3:
                expect(answer["status"] == "rejected" and answer["seq"] == dry["seq"], f"the dry run agreed: {answer} {dry}")
                expect("cap 10000.00" in answer["detail"], f"the rejection carries its figures: {answer['detail']}")
                rejected += 1
            else:
                expect(answer["status"] == "accepted", f"payment {n} of customer {c}: {answer}")
    retry = office.submit(payment)
    expect(retry["status"] == "duplicate" and retry["seq"] == answer["seq"], f"a retry gets the first answer: {retry}")
    conflict = office.submit({**payment, "amount": "1.00"})
    expect(conflict["status"] == "conflict" and conflict["reason"] == "ID_CONFLICT", f"a reused id: {conflict}")
    to_fraud = office.submit(day.command("outbound_transfer", **{"from": base + 10}, counterparty=fraud, amount="10"))
    expect(to_fraud["reason"] == "RISK_LISTED_COUNTERPARTY", f"risk list: {to_fraud}")

    for c in (1, customers):
        balance = auditor.balance(base + c * 10 + 1)
        expect(balance["balance"] == "11000.00", f"Class II balance of customer {c}: {balance}")
        usage = auditor.usage(base + c * 10 + 1, at=day.at(day.tick + 1))
        out = [b for b in usage["buckets"] if b["bucket"] == "out"][0]
        expect(out["day_used"] == "9000.00" and out["day_remaining"] == "1000.00", f"usage: {out}")

    head = auditor.head()
    expect(head["seq"] == start["seq"] + len(day.ids), f"one event per answered command: {head} {start} {len(day.ids)}")
    seen = {}
    last = None
    mine = set(day.ids)
    for record in auditor.follow(after=0, wait=1, limit=97, until_seq=head["seq"]):
        command_id = record["event"].get("command_id")
        if command_id in mine:
            seen[command_id] = seen.get(command_id, 0) + 1
        last = record
    expect(last["seq"] == head["seq"] and last["hash"] == head["hash"], "the followed chain ends at the head")
    missing = [i for i in day.ids if seen.get(i) != 1]
    expect(not missing, f"every command appears exactly once in the log: {missing[:3]}")
    return {"ok": True, "records": head["seq"], "first_seq": start["seq"] + 1, "head": head["head"], "rejected": rejected, "commands": len(day.ids)}


def main(argv):
    args = argv[1:]
    if len(args) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    url, tokens_path = args[0], args[1]
    customers = int(args[args.index("--customers") + 1]) if "--customers" in args else 40
    cafile = args[args.index("--cafile") + 1] if "--cafile" in args else None
    with open(tokens_path, encoding="utf-8") as handle:
        tokens = json.load(handle)
    try:
        summary = run(url, tokens, customers, cafile)
    except AssertionError as err:
        print(json.dumps({"ok": False, "error": f"check failed: {err}"}))
        return 1
    except LedgerError as err:
        print(json.dumps({"ok": False, "error": f"the server refused a request: {err}"}))
        return 1
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
