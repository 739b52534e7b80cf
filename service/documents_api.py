"""What the console needs beyond orders: printed documents, the result-ready mark, re-routing, the live
stream of changes, and the 2025 administrative units for address pickers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated

import redis.asyncio
from litestar import Response, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from litestar.params import Body, FromPath, QueryParameter
from litestar.response import ServerSentEvent, ServerSentEventMessage
from vietnam_provinces import Province, ProvinceCode, Ward

from contracts.base import Inbound, Record
from contracts.orders import Courier, OrderView
from service.auth import context, require
from service.deadlines import view_with_deadlines
from service.documents import consignment_note, handover_record
from service.orders import visible
from service.problems import ProblemError, documented
from workers import audit, keys
from workers.decisions import reroute
from workers.store import Principal

PDF = "application/pdf"
BEARER = [{"BearerAuth": []}]


def _pdf(content: bytes, name: str) -> Response[bytes]:
    return Response(content, media_type=PDF, headers={"Content-Disposition": f'inline; filename="{name}"'})


@get(
    "/v1/orders/{order_id:str}/consignment-note",
    sync_to_thread=True,
    tags=["documents"],
    summary="The consignment note (Phiếu gửi hồ sơ) as PDF, with barcode and tracking QR code",
    security=BEARER,
    media_type=PDF,
    responses=documented(401, 403, 404, 409),
)
def read_consignment_note(
    order_id: FromPath[str], principal: NamedDependency[Principal], state: State
) -> Response[bytes]:
    require(principal, "orders:read")
    order = visible(state, order_id, principal)
    ctx = context(state)
    centre = ctx.config.centres.get(order.centre)
    if order.tracking_code is None or centre is None:
        raise ProblemError(
            409, "not-booked", "Not booked yet", "The note carries the courier's tracking code: print it once booked."
        )
    content = consignment_note(order, view_with_deadlines(ctx, order), centre, ctx.settings.public_url)
    return _pdf(content, f"phieu-gui-{order.tracking_code}.pdf")


@get(
    "/v1/handover-record",
    sync_to_thread=True,
    tags=["documents"],
    summary="The handover record (Biên bản giao nhận hồ sơ) of a batch of orders at one courier, as PDF",
    security=BEARER,
    media_type=PDF,
    responses=documented(401, 403, 404, 422),
)
def read_handover_record(
    principal: NamedDependency[Principal],
    state: State,
    order_id: Annotated[list[str], QueryParameter(min_items=1, max_items=200, description="repeat for each order")],
    direction: Annotated[str, QueryParameter(pattern="^(to_courier|from_courier)$")] = "to_courier",
) -> Response[bytes]:
    require(principal, "orders:read")
    orders = [visible(state, i, principal) for i in dict.fromkeys(order_id)]
    couriers = {o.courier for o in orders}
    if len(couriers) != 1 or len({o.centre for o in orders}) != 1:
        raise ProblemError(
            422, "invalid-field", "One courier per record", "A handover record lists one courier's orders.", "order_id"
        )
    centre = context(state).config.centres.get(orders[0].centre)
    if centre is None:
        raise ProblemError(422, "invalid-field", "Unknown centre", "The orders' centre is not configured.", "order_id")
    content = handover_record(orders, centre, couriers.pop(), direction == "to_courier", datetime.now(UTC))
    return _pdf(content, "bien-ban-giao-nhan.pdf")


class ResultReady(Record, frozen=True, kw_only=True):
    dossier_code: str
    ready_at: datetime


@post(
    "/v1/dossiers/{dossier_code:str}/result-ready",
    status_code=200,
    sync_to_thread=True,
    tags=["orders"],
    summary="The dossier's result is ready: the citizen may ask for home delivery on the tracking page",
    security=BEARER,
    responses=documented(401, 403, 404, 503),
)
def mark_result_ready(dossier_code: FromPath[str], principal: NamedDependency[Principal], state: State) -> ResultReady:
    require(principal, "orders:write")
    store = context(state).store
    if not store.dossier_orders(principal.centre, dossier_code):
        raise ProblemError(404, "not-found", "Not found", f"No dossier {dossier_code!r} for this centre.")
    now = datetime.now(UTC)
    with store.client.pipeline() as pipe:
        pipe.set(keys.result_ready(principal.centre, dossier_code), now.isoformat(), ex=90 * 86400)
        audit.stage(pipe, "dossier.result_ready", at=now, centre=principal.centre, dossier=dossier_code,
                    by=principal.actor)  # fmt: skip
        pipe.execute()
    store.make_durable()
    return ResultReady(dossier_code=dossier_code, ready_at=now)


class Reroute(Inbound, kw_only=True):
    courier: Courier


@post(
    "/v1/orders/{order_id:str}/reroute",
    status_code=201,
    sync_to_thread=True,
    tags=["orders"],
    summary="Before pickup: cancel at this courier and send a new order for the same leg to another",
    security=BEARER,
    responses=documented(400, 401, 403, 404, 409, 422, 503),
)
def reroute_order(
    order_id: FromPath[str], data: Annotated[Reroute, Body()], principal: NamedDependency[Principal], state: State
) -> OrderView:
    require(principal, "orders:write")
    visible(state, order_id, principal)
    ctx = context(state)
    return view_with_deadlines(ctx, reroute(ctx, order_id, data.courier, by=principal.actor))


STREAMS = 200  # live streams one api process holds at most (each is a store connection)


async def _changes(pubsub: redis.asyncio.client.PubSub) -> AsyncIterator[ServerSentEventMessage]:
    try:
        yield ServerSentEventMessage(event="ready", data="{}")
        while True:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=15.0)
            if message is None:
                yield ServerSentEventMessage(comment="keep-alive")
                continue
            order_id, _, status = message["data"].decode().partition(" ")
            yield ServerSentEventMessage(event="order", data=f'{{"id":"{order_id}","status":"{status}"}}')
    finally:
        await pubsub.aclose()


@get(
    "/v1/stream",
    tags=["orders"],
    summary="Server-sent events: `order` with id and status each time one of the centre's orders changes",
    security=BEARER,
    responses={
        200: ResponseSpec(
            data_container=str,
            media_type="text/event-stream",
            description='One `event: order` per change, its data `{"id": ..., "status": ...}`; a comment every 15 s',
            generate_examples=False,
        ),
        **documented(401, 403, 422, 503),
    },
)
async def stream_changes(principal: NamedDependency[Principal], state: State) -> ServerSentEvent:
    require(principal, "orders:read")
    if principal.admin:
        raise ProblemError(422, "centre-required", "Centre required", "A live stream follows one centre.")
    pool: redis.asyncio.ConnectionPool | None = getattr(state, "stream_pool", None)
    if pool is None:  # made on first use, on the serving loop; closed with the app
        ctx = context(state)
        pool = state.stream_pool = redis.asyncio.ConnectionPool.from_url(
            ctx.store.url or _url(ctx.store.client), max_connections=STREAMS
        )
    pubsub = redis.asyncio.Redis(connection_pool=pool).pubsub()
    try:
        await pubsub.subscribe(keys.changes(principal.centre))
    except redis.ConnectionError:
        await pubsub.aclose()
        raise ProblemError(503, "busy", "Too many live views", "Too many live views are open; reload later.") from None
    return ServerSentEvent(_changes(pubsub))


def _url(client: redis.Redis) -> str:  # type: ignore[type-arg]
    kwargs = client.connection_pool.connection_kwargs
    return f"redis://{kwargs.get('host', '127.0.0.1')}:{kwargs.get('port', 6379)}/{kwargs.get('db', 0)}"


class Unit(Record, frozen=True, kw_only=True):
    code: str
    name: str


class Units(Record, frozen=True, kw_only=True):
    units: list[Unit]


_PROVINCES = sorted((Unit(code=f"{p.code:02d}", name=p.name) for p in Province.iter_all()), key=lambda u: u.name)
_WARDS: dict[str, list[Unit]] = {}
for _ward in Ward.iter_all():
    _WARDS.setdefault(f"{_ward.province_code:02d}", []).append(Unit(code=f"{_ward.code:05d}", name=_ward.name))
for _list in _WARDS.values():
    _list.sort(key=lambda u: u.name)


@get("/v1/units/provinces", tags=["units"], summary="The 34 provinces of the 2025 units", cache=3600)
async def list_provinces() -> Units:
    return Units(units=_PROVINCES)


@get(
    "/v1/units/provinces/{province_code:str}/wards",
    tags=["units"],
    summary="The wards (communes) of a province, 2025 units",
    responses=documented(404),
    cache=3600,
)
async def list_wards(province_code: FromPath[str]) -> Units:
    try:
        code = f"{Province.from_code(ProvinceCode(int(province_code))).code:02d}" if province_code.isdigit() else ""
    except ValueError:
        code = ""
    if code not in _WARDS:
        raise ProblemError(404, "not-found", "Not found", f"No province {province_code!r} in the 2025 units.")
    return Units(units=_WARDS[code])
