#!/usr/bin/env python3
"""A business day through a client generated from docs/openapi.json by openapi-python-client.

crates/ledger-server/tests/openapi.rs generates the package `ledger_api` into a temporary
directory (never checked in), starts a ledger-server and runs this script: accounts opened,
a batch (deposit, transfer), payments, a limit hit with its reason code, a dry run, a retry, a
reused id, the queries, the refusals (401, 403, 400), the log followed over /v1/events and
checked link by link, and the operations endpoints. Every call goes through the generated
functions with raise_on_unexpected_status=True, so an answer the document does not declare fails.

Usage: generated_day.py DIR URL TOKENS.json  (DIR: the folder that holds the generated package)
TOKENS.json: {"back-office": "...", "operator": "...", "auditor": "..."}
Prints one JSON summary line; exit 0 when every check held, 1 otherwise.
"""

import datetime
import json
import sys
import uuid

DAY = datetime.datetime(2026, 3, 2, 9, 0, tzinfo=datetime.timezone(datetime.timedelta(hours=8)))


def expect(condition, message):
    if not condition:
        raise AssertionError(message)


class Day:
    """Commands with deterministic ids, one second apart from 09:00 Beijing time."""

    def __init__(self):
        self.tick = 0

    def command(self, kind, **fields):
        self.tick += 1
        command_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"generated-day/{self.tick}"))
        at = (DAY + datetime.timedelta(seconds=self.tick)).isoformat()
        return {"type": kind, "id": command_id, "at": at, **fields}


def run(url, tokens):
    import httpx
    from ledger_api import AuthenticatedClient, Client
    from ledger_api.api.commands import post_batch, post_check, post_command
    from ledger_api.api.events import get_events
    from ledger_api.api.operations import get_healthz, get_metrics, get_openapi, get_readyz
    from ledger_api.api.queries import (
        get_accounts,
        get_balance,
        get_head,
        get_history,
        get_pending,
        get_protections,
        get_risk,
        get_usage,
    )
    from ledger_api.models import AnswerStatus, ErrorView, PostBatchBodyItem, PostCheckBody, PostCommandBody

    def client(token):
        return AuthenticatedClient(
            base_url=url, token=token, raise_on_unexpected_status=True, timeout=httpx.Timeout(60.0)
        )

    office, operator, auditor = client(tokens["back-office"]), client(tokens["operator"]), client(tokens["auditor"])
    day = Day()

    def submit(who, command, status=200, brief=None):
        answer = post_command.sync_detailed(client=who, body=PostCommandBody.from_dict(command), brief=brief)
        expect(answer.status_code == status, f"{command['type']}: {answer.status_code} {answer.content!r}")
        return answer.parsed

    # The operator lists a fraudster; the back office may not (403, in the error shape).
    listed = submit(operator, day.command("list_risk", counterparty="6217-FRAUD", reason="fraud", source="day"))
    expect(listed.status == AnswerStatus.ACCEPTED, f"listing: {listed}")
    refused = submit(office, day.command("list_risk", counterparty="x", reason="r", source="s"), status=403)
    expect(isinstance(refused, ErrorView) and refused.error == "forbidden", f"back office listing: {refused}")

    # Accounts: a Class I and a Class II bound to it.
    first = submit(office, day.command("open_account", account=10, customer=7, verified_in_person=True, **{"class": "I"}))
    second = submit(office, day.command("open_account", account=11, customer=7, binding={"account": 10}, **{"class": "II"}))
    expect(first.status == second.status == AnswerStatus.ACCEPTED, f"opening: {first} {second}")

    # A batch: cash in, then money to the Class II account.
    batch = [
        day.command("cash_deposit", account=10, amount="50000"),
        day.command("internal_transfer", **{"from": 10}, to=11, amount="20000.00"),
    ]
    answer = post_batch.sync_detailed(client=office, body=[PostBatchBodyItem.from_dict(c) for c in batch])
    expect(answer.status_code == 200, f"batch: {answer.status_code} {answer.content!r}")
    results = answer.parsed.results
    expect([r.status for r in results] == [AnswerStatus.ACCEPTED] * 2, f"batch answers: {results}")
    expect(results[1].seq == results[0].seq + 1, "a batch is decided in order")

    # Payments up to the Class II day cap, then one over it: rejected with its reason and figures.
    for _ in range(2):
        paid = submit(office, day.command("payment", **{"from": 11}, merchant="Metro", amount="4000"))
        expect(paid.status == AnswerStatus.ACCEPTED, f"payment: {paid}")
    over = day.command("payment", **{"from": 11}, merchant="Metro", amount="2000.01")
    head_before = get_head.sync(client=auditor).seq
    dry = post_check.sync_detailed(client=office, body=PostCheckBody.from_dict(over)).parsed
    expect(dry.dry_run and dry.status == AnswerStatus.REJECTED, f"dry run: {dry}")
    expect(get_head.sync(client=auditor).seq == head_before, "a dry run records nothing")
    rejected = submit(office, over)
    expect(rejected.status == AnswerStatus.REJECTED and rejected.reason == "LIMIT_EXCEEDED", f"over: {rejected}")
    expect(rejected.reason == dry.reason and rejected.detail == dry.detail, "the dry run and the submission agree")
    expect("cap 10000.00" in rejected.detail and "used 8000.00" in rejected.detail, f"figures: {rejected.detail}")

    # A retry gets the first answer; the same id for another request is 409 ID_CONFLICT.
    retry = submit(office, over, brief=True)
    expect((retry.status, retry.seq) == (AnswerStatus.DUPLICATE, rejected.seq), f"retry: {retry}")
    conflict = submit(office, {**over, "amount": "1"}, status=409)
    expect((conflict.status, conflict.reason) == (AnswerStatus.CONFLICT, "ID_CONFLICT"), f"reuse: {conflict}")

    # Refusals, each parsed as the error the document declares.
    stranger = client("not-a-token")
    unauthorized = get_balance.sync_detailed(11, client=stranger)
    expect(unauthorized.status_code == 401 and unauthorized.parsed.error == "unauthorized", f"{unauthorized}")
    malformed = post_command.sync_detailed(client=office, body=PostCommandBody.from_dict({"type": "mint"}))
    expect(malformed.status_code == 400 and malformed.parsed.error == "malformed", f"{malformed}")
    unknown = get_balance.sync_detailed(99, client=office)
    expect(unknown.status_code == 404 and unknown.parsed.error == "not_found", f"{unknown}")

    # Queries.
    balance = get_balance.sync(11, client=office)
    expect((balance.balance, balance.available, balance.class_) == ("12000.00", "12000.00", "II"), f"{balance}")
    usage = get_usage.sync(11, client=office, at=(DAY + datetime.timedelta(hours=1)).isoformat())
    expect(usage.account == 11 and len(usage.buckets) > 0, f"usage: {usage}")
    pages, after = [], None
    while True:
        page = get_history.sync(11, client=office, limit=2, **({} if after is None else {"after": after}))
        pages.append([entry.seq for entry in page.entries])
        after = page.next_after
        if after is None:
            break
    seqs = [seq for page in pages for seq in page]
    expect(seqs == sorted(seqs) and len(seqs) >= 4 and len(pages) >= 2, f"history pages: {pages}")
    protections = get_protections.sync(11, client=office)
    expect(protections.balance == "12000.00", f"protections: {protections}")
    accounts = get_accounts.sync(7, client=office)
    expect(sorted(a.account for a in accounts.accounts) == [10, 11], f"accounts: {accounts}")
    expect(get_pending.sync(client=office, account=11).pending == [], "nothing pending")
    risk = get_risk.sync("6217-FRAUD", client=office)
    expect(risk.listed and risk.listed_seq == listed.seq, f"risk: {risk}")
    expect(not get_risk.sync("6217-FINE", client=office).listed, "not listed")

    # Change data capture: the whole log, in pages, each record linked to the one before.
    head = get_head.sync(client=auditor)
    expect(get_events.sync_detailed(client=office, after=0).status_code == 403, "back office may not follow")
    followed, after, prev = 0, 0, None
    while after < head.seq:
        page = get_events.sync(client=auditor, after=after, limit=3)
        for record in page.records:
            fields = record.additional_properties
            expect(fields["seq"] == after + 1, f"in order: {fields['seq']} after {after}")
            expect(prev is None or fields["prev_hash"] == prev, f"record {fields['seq']} links to the one before")
            prev, after, followed = fields["hash"], fields["seq"], followed + 1
        expect(page.next_after == after, "next_after is the last record's seq")
    expect(prev == head.hash_, "the followed chain ends at the head")
    ahead = get_events.sync_detailed(client=auditor, after=head.seq + 5)
    expect(ahead.status_code == 409 and ahead.parsed.error == "ahead_of_head", f"ahead: {ahead}")

    # Operations, no token needed.
    anyone = Client(base_url=url, raise_on_unexpected_status=True, timeout=httpx.Timeout(60.0))
    expect(get_healthz.sync(client=anyone).status == "ok", "healthz")
    expect(get_readyz.sync(client=anyone).status == "ready", "readyz")
    # The generator parses no OpenMetrics text (its one warning): the raw body, status checked here.
    metrics = get_metrics.sync_detailed(client=Client(base_url=url, timeout=httpx.Timeout(60.0)))
    expect(metrics.status_code == 200, f"metrics: {metrics.status_code}")
    # No Accept for OpenMetrics: the Prometheus text format 0.0.4 (docs/SERVER.md).
    expect(metrics.headers["content-type"].startswith("text/plain; version=0.0.4"), f"{metrics.headers}")
    expect(f"ledger_head_seq {head.seq}" in metrics.content.decode(), "metrics carry the head")
    expect(get_openapi.sync_detailed(client=anyone).status_code == 200, "the document is served")
    return {"ok": True, "head": head.head, "followed": followed, "reason": rejected.reason}


def main():
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    package_parent, url, tokens_path = sys.argv[1:]
    sys.path.insert(0, package_parent)
    with open(tokens_path, encoding="utf-8") as file:
        tokens = json.load(file)
    try:
        summary = run(url, tokens)
    except AssertionError as err:
        summary = {"ok": False, "failed": str(err)}
    print(json.dumps(summary))
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
