"""Order endpoints: create (idempotent), read, list and the tracking timeline."""

from __future__ import annotations

import hashlib
import os
import time
from datetime import UTC, datetime
from typing import Annotated

import msgspec
from litestar import Controller, Response, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery, HeaderParameter, JSONBody, QueryParameter

from contracts.addresses import resolve
from contracts.base import Record
from contracts.events import TimelineEntry
from contracts.orders import Courier, Order, OrderCreate, OrderView, format_order_id, new_order, view
from contracts.statuses import Status
from service.auth import context, may_see
from service.problems import ProblemError
from workers import keys
from workers.jobs import enqueue_dispatch
from workers.store import Principal


class EventView(Record, frozen=True, kw_only=True):
    status: Status | None
    applied: bool
    note: str | None
    courier: str
    raw_status: str
    raw_text: str
    reason_code: str | None
    reason: str | None
    event_time: datetime
    received_at: datetime
    location: str | None
    source: str


class EventsView(Record, frozen=True, kw_only=True):
    order_id: str
    status: Status
    events: list[EventView]


class OrderList(Record, frozen=True, kw_only=True):
    orders: list[OrderView]
    next_cursor: str | None


def _event_view(entry: TimelineEntry) -> EventView:
    e = entry.event
    return EventView(
        status=e.status,
        applied=entry.applied,
        note=entry.note,
        courier=e.courier,
        raw_status=e.raw_status,
        raw_text=e.raw_text,
        reason_code=e.reason_code,
        reason=e.reason,
        event_time=e.event_time,
        received_at=e.received_at,
        location=e.location,
        source=e.source,
    )


class OrderController(Controller):
    path = "/v1/orders"
    tags = ["orders"]

    @post("/", status_code=201, sync_to_thread=True, summary="Create a pickup or delivery order")
    def create(
        self,
        data: JSONBody[OrderCreate],
        principal: NamedDependency[Principal],
        state: State,
        idempotency_key: Annotated[str | None, HeaderParameter(name="Idempotency-Key", max_length=255)] = None,
    ) -> Response[OrderView]:
        ctx = context(state)
        if principal.admin:
            raise ProblemError(403, "admin-cannot-create", "Forbidden", "Orders are created with a centre's key.")
        resolve(data.address)  # an unknown unit is refused here, naming the field
        centre = ctx.config.centres.get(principal.centre)
        courier = data.courier or (Courier(centre.default_courier) if centre and centre.default_courier else None)
        if centre is None or courier is None or courier.value not in centre.couriers:
            raise ProblemError(
                422,
                "courier-not-available",
                "Courier not available",
                f"centre {principal.centre!r} has no account with courier {courier.value if courier else None!r}",
                field="courier",
            )
        now = datetime.now(UTC)
        order_id = format_order_id(data.address.province_code, int(now.timestamp() * 1000), os.urandom(10))
        order = new_order(data, order_id=order_id, centre=principal.centre, courier=courier, now=now)
        fingerprint = hashlib.sha256(msgspec.json.encode(data)).hexdigest()
        store = ctx.store
        saved, created = store.create_order(
            order,
            due_at=time.time() + ctx.settings.dd_dispatch_deadline_seconds,
            enqueue=lambda pipe: enqueue_dispatch(store.client, order_id, pipe),
            idempotency=(idempotency_key, fingerprint) if idempotency_key else None,
        )
        headers = {"Location": f"/v1/orders/{saved.id}"}
        if not created:
            headers["Idempotent-Replayed"] = "true"
        return Response(view(saved), status_code=201, headers=headers)

    def _visible(self, order_id: str, principal: NamedDependency[Principal], state: State) -> Order:
        order = context(state).store.get_order(order_id)
        if order is None or not may_see(principal, order.centre):
            raise NotFoundException(f"No order {order_id!r}.")
        return order

    @get("/{order_id:str}", sync_to_thread=True, summary="An order with its status and tracking code")
    def read(self, order_id: FromPath[str], principal: NamedDependency[Principal], state: State) -> OrderView:
        return view(self._visible(order_id, principal, state))

    @get("/{order_id:str}/events", sync_to_thread=True, summary="The reconciled tracking timeline")
    def events(self, order_id: FromPath[str], principal: NamedDependency[Principal], state: State) -> EventsView:
        order = self._visible(order_id, principal, state)
        timeline = context(state).store.timeline(order.id)
        return EventsView(order_id=order.id, status=timeline.status, events=[_event_view(e) for e in timeline.entries])

    @get("/", sync_to_thread=True, summary="The centre's orders, newest first")
    def list_orders(
        self,
        principal: NamedDependency[Principal],
        state: State,
        limit: Annotated[int, QueryParameter(ge=1, le=100)] = 50,
        cursor: FromQuery[str | None] = None,
    ) -> OrderList:
        store = context(state).store
        if principal.admin:
            raise ProblemError(422, "centre-required", "Centre required", "Admin listing is not available yet.")
        try:
            upper = f"({float(cursor)!r}" if cursor else "+inf"
        except ValueError:
            raise ProblemError(422, "invalid-field", "Invalid cursor", "cursor is not one we gave", "cursor") from None
        rows = store.client.zrevrangebyscore(
            keys.centre_orders(principal.centre), upper, "-inf", start=0, num=limit, withscores=True
        )
        orders = [o for o in (store.get_order(member.decode()) for member, _ in rows) if o is not None]
        next_cursor = repr(rows[-1][1]) if len(rows) == limit else None
        return OrderList(orders=[view(o) for o in orders], next_cursor=next_cursor)
