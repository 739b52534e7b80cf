"""Order endpoints: create (idempotent), read, list with filters, the timeline, and clerk decisions."""

from __future__ import annotations

import base64
import hashlib
import logging
import math
import os
import time
from datetime import UTC, datetime
from functools import partial
from typing import Annotated, Any

import anyio.to_thread
import msgspec
from litestar import Controller, MediaType, Request, Response, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.openapi.spec import Example
from litestar.params import Body, FromPath, FromQuery, HeaderParameter, QueryParameter

from contracts.base import Record
from contracts.couriers import as_vietnam_time
from contracts.events import Event, TimelineEntry
from contracts.intake import prepare
from contracts.orders import Courier, Kind, Order, OrderCreate, OrderView, format_order_id, view
from contracts.statuses import Status
from service.auth import context, intake, may_see, require
from service.deadlines import view_with_deadlines
from service.examples import DELIVERY_EXAMPLE, LEGACY_EXAMPLE, PICKUP_EXAMPLE, ROUND_TRIP_EXAMPLE
from service.problems import ProblemError, documented
from workers import keys, notices
from workers.context import Context
from workers.decisions import Action, Decision, actions, decide
from workers.dispatch import enqueue_dispatch, queue_claimed
from workers.notices import NoticeRecord
from workers.store import Principal

log = logging.getLogger(__name__)


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
    unconfirmed: bool  # the courier's agent said so; the courier has not confirmed it (GHTK "shipper báo")
    answers: str | None  # the clerk decision this courier message carries out ("cancel at ...")


class EventsView(Record, frozen=True, kw_only=True):
    order_id: str
    status: Status
    events: list[EventView]
    decisions: list[Action]
    notices: list[NoticeRecord]  # what the citizen was told, by which channel (TT 17/2017 Điều 12)


class OrderList(Record, frozen=True, kw_only=True):
    orders: list[OrderView]
    next_cursor: str | None


class DossierView(Record, frozen=True, kw_only=True):
    dossier_code: str
    orders: list[OrderView]


# A courier message that carries out one of our own requests (couriers-vn.md §9.11: our cancel comes back as
# a webhook, GHTK reason 115/135, VTP 107) is shown as the answer to it, not as news.
_ANSWERS: dict[str, frozenset[Status]] = {
    "cancel": frozenset({Status.CANCELLED}),
    "return": frozenset({Status.RETURNING, Status.RETURNED}),
}


def _answered(event: Event, decisions: list[Action]) -> str | None:
    if event.source == "api" or event.status is None:
        return None
    for action in reversed(decisions):
        if (
            action.outcome == "done"
            and action.at <= event.received_at
            and event.status in _ANSWERS.get(action.decision, ())
        ):
            return f"{action.decision} requested by {action.by} at {action.at.isoformat()}"
    return None


def _event_view(entry: TimelineEntry, decisions: list[Action]) -> EventView:
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
        unconfirmed=e.unconfirmed,
        answers=_answered(e, decisions),
    )


def order_view(ctx: Context, order: Order, fresh: bool = False) -> OrderView:
    """The order as answered; `fresh` (not stored yet) skips reading a timeline that cannot exist."""
    return view(order) if fresh else view_with_deadlines(ctx, order)


def _encode_cursor(score: float, member: str) -> str:
    return base64.urlsafe_b64encode(f"{score!r}|{member}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[float, str]:
    try:
        score, member = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode().split("|", 1)
        value = float(score)
        if not math.isfinite(value):
            raise ValueError(score)
        return value, member
    except (ValueError, UnicodeDecodeError):
        raise ProblemError(422, "invalid-field", "Invalid cursor", "cursor is not one we gave", "cursor") from None


_EXAMPLES = [
    Example(summary="Delivery of a result to the citizen's home", value=DELIVERY_EXAMPLE),
    Example(summary="Pickup of a dossier at the citizen's home", value=PICKUP_EXAMPLE),
    Example(summary="Round trip: pickup now, delivery of the result later", value=ROUND_TRIP_EXAMPLE),
    Example(summary="An address given on the pre-2025 three-level units", value=LEGACY_EXAMPLE),
]


BEARER = [{"BearerAuth": []}]


class OrderController(Controller):
    path = "/v1/orders"
    tags = ["orders"]
    security = BEARER

    @post(
        "/",
        status_code=201,
        summary="Create a pickup, delivery or round-trip order",
        responses=documented(400, 401, 403, 409, 422, 503),
    )
    async def create(
        self,
        data: Annotated[OrderCreate, Body(title="Order", examples=_EXAMPLES)],
        principal: NamedDependency[Principal],
        request: Request,  # type: ignore[type-arg]
        idempotency_key: Annotated[str | None, HeaderParameter(name="Idempotency-Key", max_length=255)] = None,
    ) -> Response[OrderView]:
        """201 only once the order and its dispatch job are on disk. A round trip answers with its
        pickup leg; `linked_order_id` names the delivery leg, and `/v1/dossiers/{dossier_code}` shows both."""
        state = request.app.state  # not a `State` parameter: that copies the app's state per request
        require(principal, "orders:write")
        if principal.admin:
            raise ProblemError(403, "admin-cannot-create", "Forbidden", "Orders are created with a centre's key.")
        ctx = context(state)
        centre = ctx.config.centres.get(principal.centre)
        if centre is None:
            raise ProblemError(403, "unknown-centre", "Forbidden", f"centre {principal.centre!r} is not configured")
        now = datetime.now(UTC)
        orders = prepare(
            data,
            centre=centre,
            new_id=lambda province: format_order_id(province, int(now.timestamp() * 1000), os.urandom(10)),
            now=now,
        )
        first = order_view(ctx, orders[0], fresh=True)
        answer = msgspec.json.encode(first)  # kept for a replay, and sent as it is: encoded once
        store = ctx.store
        plan = store.order_write(
            orders,
            due_at=time.time() + ctx.settings.dd_dispatch_deadline_seconds,
            enqueue=lambda pipe, order_id: enqueue_dispatch(store.client, order_id, pipe),
            idempotency=(idempotency_key, hashlib.sha256(msgspec.json.encode(data)).hexdigest())
            if idempotency_key
            else None,
            response=answer,
        )
        # On disk before the 201 (or the replay): one fsync wait shared with the requests around it.
        created = await intake(state).create_orders(plan)
        if created.admit or created.notify:  # the jobs this write claimed; only once it is on disk
            await anyio.to_thread.run_sync(partial(queue_claimed, store.client, created))
        replay = created.replay
        if replay is not None:  # the first answer, not the order's state now (Stripe's rule)
            headers = {"Location": f"/v1/orders/{replay.order_ids[0]}", "Idempotent-Replayed": "true"}
            return Response(replay.response, media_type=MediaType.JSON, status_code=201, headers=headers)
        headers = {"Location": f"/v1/orders/{first.id}"}
        return Response(answer, media_type=MediaType.JSON, status_code=201, headers=headers)

    @get(
        "/{order_id:str}",
        sync_to_thread=True,
        summary="An order with its status, tracking code and deadlines",
        responses=documented(400, 401, 403, 404),
    )
    def read(self, order_id: FromPath[str], principal: NamedDependency[Principal], state: State) -> OrderView:
        require(principal, "orders:read")
        return order_view(context(state), visible(state, order_id, principal))

    @get(
        "/{order_id:str}/events",
        sync_to_thread=True,
        summary="The reconciled tracking timeline and the clerk decisions",
        responses=documented(400, 401, 403, 404),
    )
    def events(self, order_id: FromPath[str], principal: NamedDependency[Principal], state: State) -> EventsView:
        require(principal, "orders:read")
        ctx = context(state)
        order = visible(state, order_id, principal)
        timeline = ctx.store.timeline(order.id)
        decisions = actions(ctx, order.id)
        return EventsView(
            order_id=order.id,
            status=timeline.status,
            events=[_event_view(e, decisions) for e in timeline.entries],
            decisions=decisions,
            notices=notices.sent(ctx.store.client, order.id),
        )

    @get(
        "/",
        sync_to_thread=True,
        summary="The centre's orders, newest first, with filters and cursor paging",
        responses=documented(400, 401, 403, 422),
    )
    def list_orders(
        self,
        principal: NamedDependency[Principal],
        state: State,
        request: Request[Any, Any, Any],
        limit: Annotated[int, QueryParameter(ge=1, le=100)] = 50,
        cursor: FromQuery[str | None] = None,
        status: FromQuery[Status | None] = None,
        courier: FromQuery[Courier | None] = None,
        kind: FromQuery[Kind | None] = None,
        dossier_code: Annotated[str | None, QueryParameter(max_length=64)] = None,
        created_from: FromQuery[datetime | None] = None,
        created_to: FromQuery[datetime | None] = None,
        centre: Annotated[str | None, QueryParameter(max_length=32, description="Admin keys: whose orders")] = None,
    ) -> OrderList:
        require(principal, "orders:read")
        ctx = context(state)
        for name in ("created_from", "created_to"):  # the query parser would take a number for Unix time
            if _is_number(request.query_params.get(name)):
                detail = f"{name} is a date-time (RFC 3339, e.g. 2026-11-21T08:00:00+07:00), not a number."
                raise ProblemError(422, "invalid-field", "Invalid request", detail, name)
        if principal.admin:  # every centre's orders, one centre at a time
            if centre is None or centre not in ctx.config.centres:
                detail = "An admin key lists one centre's orders: pass centre= with a configured centre code."
                raise ProblemError(422, "centre-required", "Centre required", detail, "centre")
        elif centre not in (None, principal.centre):
            detail = "A centre's key lists its own orders."
            raise ProblemError(422, "invalid-field", "Invalid request", detail, "centre")
        scope = centre if principal.admin and centre is not None else principal.centre

        def wanted(order: Order) -> bool:
            return (
                (status is None or order.status is status)
                and (courier is None or order.courier is courier)
                and (kind is None or order.kind is kind)
                and (dossier_code is None or order.dossier_code == dossier_code)
            )

        page, next_cursor = _page(ctx, scope, limit, cursor, created_from, created_to, wanted)
        return OrderList(orders=[order_view(ctx, o) for o in page], next_cursor=next_cursor)

    def _decide(self, state: State, order_id: str, principal: Principal, decision: Decision) -> OrderView:
        require(principal, "orders:write")
        ctx = context(state)
        visible(state, order_id, principal)
        return order_view(ctx, decide(ctx, order_id, decision, by=principal.actor))

    @post(
        "/{order_id:str}/cancel",
        status_code=200,
        sync_to_thread=True,
        summary="Cancel (before pickup)",
        responses=documented(400, 401, 403, 404, 409, 503),
    )
    def cancel(self, order_id: FromPath[str], principal: NamedDependency[Principal], state: State) -> OrderView:
        return self._decide(state, order_id, principal, "cancel")

    @post(
        "/{order_id:str}/redeliver",
        status_code=200,
        sync_to_thread=True,
        summary="Ask for another attempt",
        responses=documented(400, 401, 403, 404, 409, 503),
    )
    def redeliver(self, order_id: FromPath[str], principal: NamedDependency[Principal], state: State) -> OrderView:
        return self._decide(state, order_id, principal, "redeliver")

    @post(
        "/{order_id:str}/return",
        status_code=200,
        sync_to_thread=True,
        summary="Send it back to the sender",
        responses=documented(400, 401, 403, 404, 409, 503),
    )
    def return_(self, order_id: FromPath[str], principal: NamedDependency[Principal], state: State) -> OrderView:
        return self._decide(state, order_id, principal, "return")

    @post(
        "/{order_id:str}/release",
        status_code=200,
        sync_to_thread=True,
        summary="Result ready: dispatch the leg",
        responses=documented(400, 401, 403, 404, 409, 503),
    )
    def release(self, order_id: FromPath[str], principal: NamedDependency[Principal], state: State) -> OrderView:
        return self._decide(state, order_id, principal, "release")


def _is_number(raw: str | None) -> bool:
    try:
        float(raw or "")
    except ValueError:
        return False
    return True


def visible(state: State, order_id: str, principal: Principal) -> Order:
    order = context(state).store.get_order(order_id)
    if order is None or not may_see(principal, order.centre):
        raise NotFoundException(f"No order {order_id!r}.")
    return order


def _page(
    ctx: Context,
    centre: str,
    limit: int,
    cursor: str | None,
    created_from: datetime | None,
    created_to: datetime | None,
    wanted: Any,
) -> tuple[list[Order], str | None]:
    """Newest first by creation time; the cursor is (score, id) so equal times never skip an order."""
    index = keys.centre_orders(centre)
    upper: float | str = as_vietnam_time(created_to).timestamp() if created_to else "+inf"
    lower: float | str = as_vietnam_time(created_from).timestamp() if created_from else "-inf"
    after = _decode_cursor(cursor) if cursor else None
    if after is not None:
        upper = after[0] if upper == "+inf" else min(float(upper), after[0])
    page: list[Order] = []
    offset = 0
    while len(page) < limit:
        rows = ctx.store.client.zrevrangebyscore(index, upper, lower, start=offset, num=200, withscores=True)
        if not rows:
            return page, None
        offset += len(rows)
        for member, score in rows:
            order_id = member.decode()
            if after is not None and score == after[0] and order_id >= after[1]:
                continue  # shown on an earlier page
            order = ctx.store.get_order(order_id)
            if order is not None and wanted(order):
                page.append(order)
                if len(page) == limit:
                    return page, _encode_cursor(score, order_id)
    return page, None


def dossier_view(ctx: Context, principal: Principal, dossier_code: str) -> DossierView:
    orders = ctx.store.dossier_orders(principal.centre, dossier_code)
    if not orders:
        raise NotFoundException(f"No dossier {dossier_code!r}.")
    return DossierView(dossier_code=dossier_code, orders=[order_view(ctx, o) for o in orders])


@get(
    "/v1/dossiers/{dossier_code:str}",
    sync_to_thread=True,
    tags=["orders"],
    summary="Every leg of a dossier (a round trip has two)",
    security=BEARER,
    responses=documented(400, 401, 403, 404),
)
def read_dossier(dossier_code: FromPath[str], principal: NamedDependency[Principal], state: State) -> DossierView:
    require(principal, "orders:read")
    return dossier_view(context(state), principal, dossier_code)
