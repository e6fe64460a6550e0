"""A small client for ledger-server (docs/SERVER.md), Python standard library only.

    from ledger_client import LedgerClient
    client = LedgerClient("http://127.0.0.1:8650", token)
    answer = client.submit({"type": "cash_deposit", "id": str(uuid.uuid4()), "account": 1, "amount": "100.00"})
    answer["status"]  # accepted | rejected | duplicate | conflict

Answers (accepted, rejected, duplicate, conflict) are returned; anything else raises LedgerError
with the HTTP status, the error code and the detail. A command id that got no answer (a timeout,
a lost connection, 503) is retried with the same id: the ledger answers a retry with the first
answer, so nothing happens twice.
"""

import json
import os
import ssl
import sys
import urllib.error
import urllib.parse
import urllib.request

GENESIS_PREV = bytes(32)


class LedgerError(Exception):
    """A request the server did not answer with a command answer."""

    def __init__(self, status, error, detail, retry_after=None):
        super().__init__(f"HTTP {status} {error}: {detail}")
        self.status = status
        self.error = error
        self.detail = detail
        self.retry_after = retry_after


class LedgerClient:
    def __init__(self, url, token, timeout=30.0, cafile=None):
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.context = ssl.create_default_context(cafile=cafile) if cafile else None

    # --- transport ------------------------------------------------------------------------
    def _request(self, method, path, body=None, content_type="application/json", answers=(200,)):
        headers = {"Authorization": f"Bearer {self.token}"}
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode("utf-8")
            headers["Content-Type"] = content_type
        request = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout, context=self.context) as response:
                return response.status, json.loads(response.read().decode("utf-8"))
        except urllib.error.HTTPError as err:
            text = err.read().decode("utf-8", "replace")
            try:
                payload = json.loads(text)
            except ValueError:
                payload = {"error": "http", "detail": text}
            if err.code in answers:
                return err.code, payload
            raise LedgerError(
                err.code, payload.get("error", "http"), payload.get("detail", text), err.headers.get("Retry-After")
            ) from None

    def _get(self, path, **params):
        query = {k: v for k, v in params.items() if v is not None}
        if query:
            path += "?" + urllib.parse.urlencode(query)
        return self._request("GET", path)[1]

    # --- commands -------------------------------------------------------------------------
    def submit(self, command):
        """One command (a dict as in docs/COMMANDS.md) → its answer. ID_CONFLICT (409) is an answer."""
        return self._request("POST", "/v1/commands", command, answers=(200, 409))[1]

    def batch(self, commands):
        """Up to 8,189 commands → one answer each, in order, committed with one fsync."""
        return self._request("POST", "/v1/batches", list(commands))[1]["results"]

    def check(self, command):
        """Dry run: what submitting `command` now would answer. Nothing is recorded."""
        return self._request("POST", "/v1/check", command)[1]

    # --- queries --------------------------------------------------------------------------
    def head(self):
        return self._get("/v1/head")

    def balance(self, account):
        return self._get(f"/v1/accounts/{int(account)}/balance")

    def usage(self, account, at=None):
        return self._get(f"/v1/accounts/{int(account)}/usage", at=at)

    def history(self, account, after=None, limit=None, start=None, end=None):
        return self._get(f"/v1/accounts/{int(account)}/history", after=after, limit=limit, **{"from": start, "to": end})

    def protections(self, account):
        return self._get(f"/v1/accounts/{int(account)}/protections")

    def accounts(self, customer):
        return self._get(f"/v1/customers/{int(customer)}/accounts")

    def pending(self, account=None):
        return self._get("/v1/pending", account=account)

    def risk_check(self, counterparty):
        return self._get("/v1/risk-list/" + urllib.parse.quote(counterparty, safe=""))

    # --- change data capture --------------------------------------------------------------
    def events(self, after, limit=None, wait=None):
        return self._get("/v1/events", after=after, limit=limit, wait=wait)

    def follow(self, after=0, prev_hash=None, wait=5, limit=1000, until_seq=None):
        """Yields the records after `after`, each checked against the one before (seq, link,
        hash, decoded bytes: tools/verify_export.py's check_record), long-polling for new ones.
        Stops after `until_seq` (forever when None). Resume with the last record's seq and hash."""
        check_record = _verifier()
        if prev_hash is None:
            if after != 0:
                raise ValueError("resuming after a record needs that record's hash (prev_hash)")
            prev_hash = GENESIS_PREV
        while until_seq is None or after < until_seq:
            page = self.events(after, limit=limit, wait=wait)
            for record in page["records"]:
                prev_hash = check_record(record, after + 1, prev_hash)
                after += 1
                yield record


def _verifier():
    """tools/verify_export.py's check_record: from the repository, or from beside this file."""
    here = os.path.dirname(os.path.abspath(__file__))
    for path in (here, os.path.join(here, "..", "..", "tools")):
        if os.path.exists(os.path.join(path, "verify_export.py")) and path not in sys.path:
            sys.path.insert(0, path)
    from verify_export import check_record  # noqa: E402 (found at run time)

    return check_record
