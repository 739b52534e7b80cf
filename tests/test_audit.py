"""The audit log: every state change and clerk action, chained by hash; `audit verify` finds a changed
or removed entry; no personal data in it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import msgspec
from litestar.testing import TestClient

from tests.conftest import order_body
from workers import audit, keys
from workers.context import Context
from workers.embedded import EmbeddedStore

Client = TestClient  # type: ignore[type-arg]
ROOT = Path(__file__).parent.parent


def _entries(ctx: Context) -> list[dict[str, object]]:
    return [msgspec.json.decode(fields[b"e"]) for _id, fields in ctx.store.client.xrange(keys.AUDIT)]


def _busy_day(api: Client) -> str:
    body = order_body(citizen={"name": "Đỗ Thị Mai", "phone": "0988777666", "id_number": "001099888777"})
    order_id = api.post("/v1/orders", json=body).json()["id"]
    api.post(f"/v1/orders/{order_id}/cancel")
    api.put("/v1/reports/totals/2026-11", json={"dossiers_received": 10, "results_returned": 5})
    return order_id


def test_changes_and_decisions_are_chained_and_verify(api: Client, ctx: Context) -> None:
    order_id = _busy_day(api)
    assert audit.seal(ctx.store.client) >= 4
    kinds = [(e["kind"], e.get("order")) for e in _entries(ctx)]
    assert ("order.created", order_id) in kinds and ("decision.cancel", order_id) in kinds
    assert ("order.status", order_id) in kinds and ("report.totals", None) in kinds
    status = next(e for e in _entries(ctx) if e["kind"] == "order.status")
    assert status["status_from"] == "accepted" and status["status_to"] == "cancelled"
    raw = b"".join(fields[b"e"] for _id, fields in ctx.store.client.xrange(keys.AUDIT))
    for personal in ("Đỗ Thị Mai".encode(), b"0988777666", b"001099888777", "Phố Huế".encode()):
        assert personal not in raw
    verdict = audit.verify(ctx.store.client)
    assert verdict.ok and verdict.entries == len(kinds) and verdict.pending == 0


def _rewrite(ctx: Context, change: object) -> None:
    """Rebuild the log with the same ids, the second entry's content changed (its hash kept): a forger
    with write access to the store."""
    client = ctx.store.client
    entries = client.xrange(keys.AUDIT)
    client.delete(keys.AUDIT)
    for number, (entry_id, fields) in enumerate(entries):
        if number == 1:
            fields = {**fields, b"e": change(fields[b"e"])}  # type: ignore[operator]
        client.xadd(keys.AUDIT, fields, id=entry_id)


def test_a_changed_or_removed_entry_is_found(api: Client, ctx: Context) -> None:
    _busy_day(api)
    audit.seal(ctx.store.client)
    client = ctx.store.client
    assert audit.verify(client).ok
    _rewrite(ctx, lambda e: e.replace(b'"by"', b'"by_"'))
    changed = audit.verify(client)
    assert not changed.ok and any("content does not match" in p for p in changed.problems), changed.problems
    second_id, _fields = client.xrange(keys.AUDIT)[1]
    client.xdel(keys.AUDIT, second_id)  # and now removed
    removed = audit.verify(client)
    assert not removed.ok and any("does not follow" in p for p in removed.problems)


def test_removing_the_last_entry_is_found_by_the_head(api: Client, ctx: Context) -> None:
    _busy_day(api)
    audit.seal(ctx.store.client)
    last_id, _fields = ctx.store.client.xrevrange(keys.AUDIT, count=1)[0]
    ctx.store.client.xdel(keys.AUDIT, last_id)
    verdict = audit.verify(ctx.store.client)
    assert not verdict.ok and "head counts" in verdict.problems[0]


def test_audit_verify_command(embedded: EmbeddedStore, api: Client, ctx: Context) -> None:
    _busy_day(api)
    env = {**os.environ, "REDIS_URL": embedded.url}
    ok = subprocess.run([sys.executable, "-m", "service.cli", "audit", "verify"], capture_output=True, text=True,
                        cwd=ROOT, env=env)  # fmt: skip
    assert ok.returncode == 0 and "intact" in ok.stdout, ok.stdout + ok.stderr
    first_id, _fields = ctx.store.client.xrange(keys.AUDIT, count=1)[0]
    ctx.store.client.xdel(keys.AUDIT, first_id)
    broken = subprocess.run([sys.executable, "-m", "service.cli", "audit", "verify"], capture_output=True, text=True,
                            cwd=ROOT, env=env)  # fmt: skip
    assert broken.returncode == 1 and "BROKEN" in broken.stdout
