"""Retention: finished orders past the period are archived to compressed files and their personal data
erased from the store; the reports do not move; active orders are untouched."""

from __future__ import annotations

import gzip
import json
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import pytest
from litestar.testing import TestClient

from contracts.events import Event
from contracts.money import Charge
from contracts.reports import period
from contracts.statuses import Status
from tests.conftest import order_body
from workers import audit, keys, reports, retention
from workers.context import Context

Client = TestClient  # type: ignore[type-arg]
LONG_AGO = datetime(2025, 6, 10, 3, 0, tzinfo=UTC)
PERSONAL = (
    "Vũ Thị Thanh Hằng",
    "0977123456",
    "079188001234",
    "88 Ngõ Huế",
    "hang@example.vn",
    "Lý Văn Bình",
    "001077665544",
)


def _deliver(ctx: Context, order_id: str, when: datetime, tracking: str, personal: bool = False) -> None:
    events = [
        Event(key=f"{tracking}|{status}", status=status, courier="ghn", raw_status=status.value,
              raw_text=f"Giao cho {PERSONAL[0]}" if personal else "", location=PERSONAL[3] if personal else None,
              event_time=when + timedelta(hours=n), received_at=when, tracking_code=tracking)
        for n, status in enumerate([Status.BOOKED, Status.PICKED_UP, Status.DELIVERED])
    ]  # fmt: skip
    fee = Charge(field="fee", amount=22_000, at=when, source="booking")
    ctx.store.update_order(
        order_id, now=when + timedelta(hours=3), events=events, charges=[fee], tracking_code=tracking
    )


def _dump(ctx: Context) -> bytes:
    """Every value in the store but the SMS and email outboxes (capped, see the note), decompressed."""
    client, found = ctx.store.client, []
    for key in client.scan_iter(count=1000):
        if key.startswith(b"dd:outbox:"):
            continue
        kind = client.type(key)
        if kind == b"string":
            raw = client.get(key) or b""
            found.append(zlib.decompress(raw) if raw[:1] == b"\x78" else raw)
        elif kind == b"hash":
            found += [k + v for k, v in client.hgetall(key).items()]
        elif kind == b"list":
            found += client.lrange(key, 0, -1)
        elif kind == b"stream":
            found += [b"".join(k + v for k, v in fields.items()) for _id, fields in client.xrange(key)]
        elif kind in (b"zset", b"set"):
            found += client.zrange(key, 0, -1) if kind == b"zset" else list(client.smembers(key))
    return b"\n".join(found)


@pytest.fixture
def archive(ctx: Context, tmp_path: Path) -> Path:
    ctx.settings = msgspec.structs.replace(ctx.settings, dd_archive_dir=str(tmp_path / "archive"))
    return tmp_path / "archive"


def test_old_finished_orders_are_archived_and_erased_and_reports_stay(api: Client, ctx: Context, archive: Path) -> None:
    body = order_body(
        citizen={"name": PERSONAL[0], "phone": PERSONAL[1], "id_number": PERSONAL[2], "email": PERSONAL[4]},
        address={"province_code": "01", "ward_code": "00004", "street": PERSONAL[3]},
        authorised_recipient={"name": PERSONAL[5], "id_number": PERSONAL[6], "authorisation_ref": "GUQ-1"},
    )
    old = api.post("/v1/orders", json=body).json()["id"]
    _deliver(ctx, old, LONG_AGO, "GHNOLD1", personal=True)  # the courier's texts name her too
    recent = api.post("/v1/orders", json=order_body(dossier_code="D-RECENT")).json()["id"]
    _deliver(ctx, recent, datetime.now(UTC) - timedelta(days=3), "GHNNEW1")
    active = api.post("/v1/orders", json=body | {"dossier_code": "D-ACTIVE"}).json()["id"]
    before = reports.report(ctx.store, period("year", "2025"), ["DEMO"], centre="DEMO")
    assert before.totals.results_returned == 1 and before.totals.on_time + before.totals.late == 1

    ctx.store.client.zrem(keys.FINISHED, old)  # as if it finished before the retention index existed
    assert retention.run(ctx, datetime.now(UTC), days=365) == 1  # found by the one-time backfill
    after = reports.report(ctx.store, period("year", "2025"), ["DEMO"], centre="DEMO")
    assert after == before  # the counters did not move
    [archived_file] = archive.glob("*.jsonl.gz")
    assert archived_file.name == "2025-06.jsonl.gz"
    [line] = gzip.decompress(archived_file.read_bytes()).decode().splitlines()
    record = json.loads(line)
    assert record["order"]["citizen"]["name"] == PERSONAL[0] and len(record["events"]) == 3  # archived whole

    stored = ctx.store.get_order(old)
    assert stored is not None and stored.erased_at is not None and stored.status is Status.DELIVERED
    assert stored.address.province_code == "01" and stored.tracking_code == "GHNOLD1"
    assert ctx.store.get_order(active) is not None and ctx.store.get_order(active).citizen.name == PERSONAL[0]  # type: ignore[union-attr]
    ctx.store.client.delete(*[k for k in ctx.store.client.scan_iter(match="dd:order:*") if active.encode() in k])
    everything = _dump(ctx)
    for personal in PERSONAL:
        assert personal.encode() not in everything, personal
    assert api.get(f"/v1/orders/{old}").json()["status"] == "delivered"
    assert retention.run(ctx, datetime.now(UTC), days=365) == 0  # once
    audit.seal(ctx.store.client)
    assert audit.verify(ctx.store.client).ok
    assert any(b"order.archived" in f[b"e"] for _id, f in ctx.store.client.xrange(keys.AUDIT))


def test_old_raw_callbacks_are_trimmed(ctx: Context, archive: Path) -> None:
    stream = keys.callbacks("ghn")
    old_ms = int(LONG_AGO.timestamp() * 1000)
    ctx.store.client.xadd(stream, {"body": b"old"}, id=f"{old_ms}-0")
    ctx.store.client.xadd(stream, {"body": b"new"})
    retention.run(ctx, datetime.now(UTC), days=365)
    assert [f[b"body"] for _id, f in ctx.store.client.xrange(stream)] == [b"new"]
