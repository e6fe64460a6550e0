#!/usr/bin/env python3
"""End-to-end: a Beijing day of commands through ledger-server, then the whole log followed over
/v1/events and verified link by link. Used by crates/ledger-server/tests/python_client.rs.

Usage: e2e_day.py URL TOKENS.json [--customers N] [--cafile PEM]
TOKENS.json: {"back-office": "...", "operator": "...", "auditor": "..."}
Prints one JSON summary line; exit 0 when every check held, 1 otherwise.
"""

import datetime
import json
import sys
import uuid

from ledger_client import LedgerClient, LedgerError

DAY = datetime.datetime(2026, 3, 2, 9, 0, tzinfo=datetime.timezone(datetime.timedelta(hours=8)))


class Day:
    def __init__(self):
        self.tick = 0
        self.ids = []

    def command(self, kind, **fields):
        self.tick += 1
        command_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"e2e-day/{self.tick}"))
        self.ids.append(command_id)
        at = (DAY + datetime.timedelta(seconds=self.tick)).isoformat()
        return {"type": kind, "id": command_id, "at": at, **fields}


def expect(condition, message):
    if not condition:
        raise AssertionError(message)


def run(url, tokens, customers, cafile):
    office = LedgerClient(url, tokens["back-office"], cafile=cafile)
    operator = LedgerClient(url, tokens["operator"], cafile=cafile)
    auditor = LedgerClient(url, tokens["auditor"], cafile=cafile)
    day = Day()
    start = auditor.head()

    listed = day.command("list_risk", counterparty="6217-FRAUD", reason="telecom fraud", source="e2e")
    expect(operator.submit(listed)["status"] == "accepted", "the operator lists a counterparty")
    try:
        office.submit(day.command("list_risk", counterparty="x", reason="r", source="s"))
        expect(False, "back-office may not change the risk list")
    except LedgerError as err:
        expect(err.status == 403, f"back-office listing risk: {err}")
        day.ids.pop()

    opening = []
    for c in range(1, customers + 1):
        opening.append(day.command("open_account", account=c * 10, customer=c, **{"class": "I"}, verified_in_person=True))
        opening.append(
            day.command("open_account", account=c * 10 + 1, customer=c, **{"class": "II"}, binding={"account": c * 10})
        )
    expect(all(a["status"] == "accepted" for a in office.batch(opening)), "every account opens")
    deposits = [day.command("cash_deposit", account=c * 10, amount="100000.00") for c in range(1, customers + 1)]
    deposits += [day.command("internal_transfer", **{"from": c * 10}, to=c * 10 + 1, amount="20000") for c in range(1, customers + 1)]
    expect(all(a["status"] == "accepted" for a in office.batch(deposits)), "deposits and funding transfers accepted")

    rejected = 0
    for c in range(1, customers + 1):
        for n in range(4):
            payment = day.command("payment", **{"from": c * 10 + 1}, merchant=f"Shop {n}", amount="3000.00")
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
    to_fraud = office.submit(day.command("outbound_transfer", **{"from": 10}, counterparty="6217-FRAUD", amount="10"))
    expect(to_fraud["reason"] == "RISK_LISTED_COUNTERPARTY", f"risk list: {to_fraud}")

    for c in (1, customers):
        balance = auditor.balance(c * 10 + 1)
        expect(balance["balance"] == "11000.00", f"Class II balance of customer {c}: {balance}")
        usage = auditor.usage(c * 10 + 1, at=(DAY + datetime.timedelta(hours=14)).isoformat())
        out = [b for b in usage["buckets"] if b["bucket"] == "out"][0]
        expect(out["day_used"] == "9000.00" and out["day_remaining"] == "1000.00", f"usage: {out}")

    head = auditor.head()
    expect(head["seq"] == start["seq"] + len(day.ids), f"one event per answered command: {head} {start} {len(day.ids)}")
    seen = {}
    last = None
    for record in auditor.follow(after=0, wait=1, limit=97, until_seq=head["seq"]):
        command_id = record["event"].get("command_id")
        seen[command_id] = seen.get(command_id, 0) + 1
        last = record
    expect(last["seq"] == head["seq"] and last["hash"] == head["hash"], "the followed chain ends at the head")
    missing = [i for i in day.ids if seen.get(i) != 1]
    expect(not missing, f"every command appears exactly once in the log: {missing[:3]}")
    return {"ok": True, "records": head["seq"], "head": head["head"], "rejected": rejected, "commands": len(day.ids)}


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
    except (AssertionError, LedgerError) as err:
        print(json.dumps({"ok": False, "error": str(err)}))
        return 1
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
