"""The order record: the order and its events in one compressed value; orders stored in the layouts
before it (JSON, or MessagePack with an events hash) are read as they are and moved on their next change."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec

from contracts.config import dev_config
from contracts.events import Event
from contracts.intake import prepare
from contracts.orders import OrderCreate
from contracts.settings import Settings
from contracts.statuses import Status
from tests.conftest import order_body
from workers import keys
from workers.context import Context
from workers.store import _KeptEvent, _Record, _StoredEvent, pack_record, unpack_order, unpack_record

_STORED_FIELDS = _StoredEvent.__struct_fields__

NOW = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)
CENTRE = dev_config(Settings()).centres["DEMO"]


def _event(status: Status, minutes: int) -> Event:
    at = NOW + timedelta(minutes=minutes)
    return Event(key=f"ghn|T1|{status}|{minutes}", status=status, courier="ghn", raw_status=status.value,
                 raw_text="Giao hàng thành công", event_time=at, received_at=at, tracking_code="T1")  # fmt: skip


def _old(ctx: Context, json_order: bool) -> str:
    """An order as the two earlier layouts wrote it: the order alone, its events in a hash."""
    [order] = prepare(msgspec.convert(order_body(), OrderCreate), centre=CENTRE, new_id=lambda _p: "o01OLD", now=NOW)
    order = msgspec.structs.replace(order, tracking_code="T1", status=Status.PICKED_UP)
    raw = msgspec.json.encode(order) if json_order else msgspec.msgpack.encode(order)
    ctx.store.client.set(keys.order(order.id), raw)
    for event in (_event(Status.BOOKED, 1), _event(Status.PICKED_UP, 2)):
        stored = _StoredEvent(**{name: getattr(event, name) for name in _STORED_FIELDS})
        value = msgspec.json.encode(event) if json_order else msgspec.msgpack.encode(stored)
        ctx.store.client.hset(keys.events(order.id), event.key, value)
    return order.id


def test_an_order_of_an_old_layout_reads_and_moves_on_its_next_change(ctx: Context) -> None:
    for json_order in (True, False):
        ctx.store.client.flushdb()
        order_id = _old(ctx, json_order)
        assert [e.event.status for e in ctx.store.timeline(order_id).entries if e.applied] == [
            Status.BOOKED,
            Status.PICKED_UP,
        ]
        loaded = ctx.store.load([order_id])
        assert len(loaded[order_id][1]) == 2
        updated = ctx.store.update_order(order_id, now=NOW, events=[_event(Status.DELIVERED, 3)])
        assert updated.status is Status.DELIVERED
        assert not ctx.store.client.exists(keys.events(order_id))  # moved into the record
        assert ctx.store.client.get(keys.order(order_id))[:1] == b"\x78"
        timeline = ctx.store.timeline(order_id)
        assert [e.event.status for e in timeline.entries] == [Status.BOOKED, Status.PICKED_UP, Status.DELIVERED]
        assert timeline.entries[2].event.raw_text == "Giao hàng thành công"
        assert timeline.entries[2].event.event_time.utcoffset() == timedelta(hours=7)  # shown in Hà Nội time


def test_the_record_keeps_every_event_and_is_compact(ctx: Context) -> None:
    [order] = prepare(msgspec.convert(order_body(), OrderCreate), centre=CENTRE, new_id=lambda _p: "o01NEW", now=NOW)
    ctx.store.create_orders([order], due_at=0, enqueue=lambda _pipe, _id: None)
    steps = [Status.BOOKED, Status.PICKED_UP, Status.IN_TRANSIT, Status.OUT_FOR_DELIVERY, Status.DELIVERED]
    for minutes, status in enumerate(steps):
        ctx.store.update_order(order.id, now=NOW, events=[_event(status, minutes)], tracking_code="T1")
        kept = ctx.store.client.get(keys.order(order.id))
        assert kept is not None and kept[:1] == (b"\x78" if status is Status.DELIVERED else b"\x92")  # zlib: finished
    ctx.store.update_order(order.id, now=NOW, events=[_event(Status.DELIVERED, 4)])  # a resend: no change
    events = ctx.store.events(order.id)
    assert sorted(e.status for e in events) == sorted(steps) and len({e.key for e in events}) == 5
    assert not ctx.store.client.exists(keys.events(order.id))
    assert len(ctx.store.client.get(keys.order(order.id))) < 1000


def test_an_event_reads_back_field_for_field_and_the_order_alone_reads_without_its_events() -> None:
    [order] = prepare(msgspec.convert(order_body(), OrderCreate), centre=CENTRE, new_id=lambda _p: "o01RT", now=NOW)
    every = Event(key="ghn|T1|x|1", status=Status.DELIVERY_FAILED, courier="ghn", raw_status="delivery_fail",
                  raw_text="Không liên lạc được", reason_code="GHN-DFC1A4", reason="no answer", event_time=NOW,
                  received_at=NOW + timedelta(seconds=5), location="Bưu cục 229", source="poll", tracking_code="T1",
                  unconfirmed=True)  # fmt: skip
    assert set(_STORED_FIELDS) | {"key"} == set(Event.__struct_fields__)  # a new field must be kept
    for kept in (order, msgspec.structs.replace(order, status=Status.DELIVERED)):  # plain, then compressed
        raw = pack_record(kept, [every])
        read_order, [read] = unpack_record(raw)
        assert read == every and read.event_time.utcoffset() == timedelta(hours=7)  # shown in Hà Nội time
        assert unpack_order(raw) == read_order == kept


def test_a_record_is_packed_as_its_struct_would_be() -> None:
    """`pack_record` writes each event as a tuple, not a `_KeptEvent`: the bytes must be the same."""
    [order] = prepare(msgspec.convert(order_body(), OrderCreate), centre=CENTRE, new_id=lambda _p: "o01PK", now=NOW)
    events = [
        _event(Status.BOOKED, 1),
        msgspec.structs.replace(_event(Status.PICKED_UP, 2), reason="x", unconfirmed=True),
    ]
    kept = [_KeptEvent(key=e.key, **{name: getattr(e, name) for name in _STORED_FIELDS}) for e in events]
    assert pack_record(order, events) == msgspec.msgpack.encode(_Record(order=order, events=kept))
