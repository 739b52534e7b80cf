"""`GET /v1/couriers`: each courier's circuit breaker and booking concurrency, for an operator on call."""

from __future__ import annotations

from litestar import get
from litestar.datastructures import State
from litestar.di import NamedDependency

from contracts.base import Record
from contracts.orders import Courier
from service.auth import context, require
from service.problems import documented
from workers.breaker import Breaker, BreakerView
from workers.store import Principal


class CourierHealth(Record, frozen=True, kw_only=True):
    couriers: list[BreakerView]
    concurrency: int  # bookings running or queued at one courier at a time
    rejected_callbacks: dict[str, int]  # callbacks refused for failed authentication, per courier


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
    views = [Breaker(ctx.store.client, courier.value).view() for courier in Courier]
    return CourierHealth(
        couriers=views,
        concurrency=ctx.settings.dd_courier_concurrency,
        rejected_callbacks=ctx.store.rejected_counts(),
    )
