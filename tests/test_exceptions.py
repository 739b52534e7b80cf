"""The exceptions queue: every order a clerk must act on, with its reasons and the decisions allowed."""

from __future__ import annotations

from datetime import UTC, date, datetime

import msgspec
from litestar.testing import TestClient

from contracts.config import dev_config
from contracts.events import Event, reconcile
from contracts.exceptions import assess
from contracts.intake import prepare
from contracts.orders import Deadlines, Order, OrderCreate
from contracts.settings import Settings
from contracts.statuses import Status
from tests.conftest import order_body
from workers.context import Context

Client = TestClient  # type: ignore[type-arg]
T = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)


def _event(status: Status | None, minute: int, raw: str | None = None) -> Event:
    when = T.replace(minute=minute)
    raw = raw or (status.value if status else "mystery")
    return Event(
        key=f"k|{raw}|{minute}", status=status, courier="ghn", raw_status=raw, event_time=when, received_at=when
    )


def _order(status: Status) -> Order:
    centre = dev_config(Settings()).centres["DEMO"]
    [order] = prepare(msgspec.convert(order_body(), OrderCreate), centre=centre, new_id=lambda _p: "o01X", now=T)
    return msgspec.structs.replace(order, status=status)


def _move(ctx: Context, order_id: str, *events: Event) -> None:
    ctx.store.update_order(order_id, now=T, events=list(events))


def test_orders_that_run_on_their_own_are_not_listed(api: Client, ctx: Context) -> None:
    order_id = api.post("/v1/orders", json=order_body()).json()["id"]
    _move(ctx, order_id, _event(Status.BOOKED, 1), _event(Status.DELIVERED, 2))
    api.post("/v1/orders", json=order_body())
    queue = api.get("/v1/exceptions").json()
    assert queue["exceptions"] == [] and queue["scanned"] == 2


def test_each_reason_is_listed_with_the_decisions_allowed(api: Client, ctx: Context) -> None:
    waiting, mystery, lost = (api.post("/v1/orders", json=order_body()).json()["id"] for _ in range(3))
    _move(
        ctx,
        waiting,
        _event(Status.BOOKED, 1),
        _event(Status.DELIVERY_FAILED, 2),
        _event(Status.AWAITING_INSTRUCTION, 3),
    )
    _move(ctx, mystery, _event(Status.BOOKED, 1), _event(None, 2, raw="teleported"))
    _move(ctx, lost, _event(Status.BOOKED, 1), _event(Status.LOST, 2))
    items = {i["order_id"]: i for i in api.get("/v1/exceptions").json()["exceptions"]}
    assert set(items) == {waiting, mystery, lost}
    assert "deliver again or return" in items[waiting]["reasons"][0]
    assert items[waiting]["actions"] == ["redeliver", "return"]
    assert items[mystery]["reasons"] == ["the courier sent codes we do not know: teleported"]
    assert items[mystery]["actions"] == ["cancel"]
    assert "Điều 14" in items[lost]["reasons"][0] and items[lost]["actions"] == []
    assert items[lost]["reasons_vi"][0].startswith("đơn vị vận chuyển báo thất lạc")  # what the console shows


def test_a_contradiction_is_raised() -> None:
    timeline = reconcile(
        Status.ACCEPTED, [_event(Status.BOOKED, 1), _event(Status.DELIVERED, 5), _event(Status.RETURNED, 9)]
    )
    item = assess(_order(timeline.status), timeline, Deadlines(), date(2026, 11, 23))
    assert item is not None and item.reasons == ["the courier reported 'returned' after the order was delivered"]


def test_late_and_repeatedly_failed_orders_are_raised() -> None:
    order = _order(Status.BOOKED)
    timeline = reconcile(Status.ACCEPTED, [_event(Status.BOOKED, 1)])
    late = assess(order, timeline, Deadlines(due_date=date(2026, 11, 20)), date(2026, 11, 23))
    assert late is not None and late.reasons == ["late: due 2026-11-20 (TT 17/2017 Điều 7)"]
    returning = assess(order, timeline, Deadlines(failed_attempts=2, return_due=date(2026, 11, 23)), date(2026, 11, 23))
    assert returning is not None
    assert returning.reasons == ["2 failed deliveries: the result must go back to the centre"]
    assert assess(order, timeline, Deadlines(due_date=date(2026, 11, 30)), date(2026, 11, 23)) is None


def test_other_centres_see_only_their_own_exceptions(api: Client, ctx: Context) -> None:
    order_id = api.post("/v1/orders", json=order_body()).json()["id"]
    _move(ctx, order_id, _event(Status.BOOKED, 1), _event(Status.EXCEPTION, 2))
    other = api.get("/v1/exceptions", headers={"Authorization": "Bearer test-key-other"})
    assert other.status_code == 200 and other.json()["exceptions"] == []
