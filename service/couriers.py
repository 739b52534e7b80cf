"""`GET /v1/couriers`: each courier's circuit breaker and booking concurrency, for an operator on call."""

from __future__ import annotations

from datetime import datetime

from litestar import get
from litestar.datastructures import State
from litestar.di import NamedDependency

from contracts.base import Record
from contracts.calendar import VIETNAM_TZ
from contracts.orders import Courier
from service.auth import context, require
from service.problems import documented
from workers import keys
from workers.breaker import Breaker, BreakerView
from workers.queues import QUEUES, queue
from workers.store import Principal


class CourierHealth(Record, frozen=True, kw_only=True):
    couriers: list[BreakerView]
    concurrency: int  # bookings running or queued at one courier at a time
    rejected_callbacks: dict[str, int]  # callbacks refused (failed authentication, replays), per courier
    queues: dict[str, int]  # jobs waiting in each RQ queue
    callback_backlog: dict[str, int]  # callbacks stored and not yet applied, per courier
    last_callback: dict[str, datetime | None]  # when the courier's last callback was stored


@get(
    "/v1/couriers",
    sync_to_thread=True,
    tags=["ops"],
    summary="Each courier's circuit breaker: closed, open (no calls until retry_at) or half-open",
    security=[{"BearerAuth": []}],
    responses=documented(401, 403),
)
def courier_health(principal: NamedDependency[Principal], state: State) -> CourierHealth:
    require(principal, "orders:read")
    ctx = context(state)
    cooldown = ctx.settings.dd_breaker_cooldown_seconds
    views = [Breaker(ctx.store.client, courier.value, cooldown=cooldown).view() for courier in Courier]
    client = ctx.store.client
    backlog: dict[str, int] = {}
    last: dict[str, datetime | None] = {}
    for courier in Courier:
        stream = keys.callbacks(courier.value)
        newest = client.xrevrange(stream, count=1)
        last[courier.value] = (
            datetime.fromtimestamp(int(newest[0][0].split(b"-")[0]) / 1000, VIETNAM_TZ) if newest else None
        )
        groups = client.xinfo_groups(stream) if newest else []
        backlog[courier.value] = sum(int(g.get("lag") or 0) + int(g.get("pending") or 0) for g in groups)
    return CourierHealth(
        couriers=views,
        concurrency=ctx.settings.dd_courier_concurrency,
        rejected_callbacks=ctx.store.rejected_counts(),
        queues={name: queue(name, client).count for name in QUEUES},
        callback_backlog=backlog,
        last_callback=last,
    )
