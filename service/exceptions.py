"""`GET /v1/exceptions`: the orders a clerk must act on, each with its reasons and the decisions allowed."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from litestar import get
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import QueryParameter

from contracts.base import Record
from contracts.calendar import VIETNAM_TZ
from contracts.deadlines import deadlines
from contracts.exceptions import ExceptionItem, assess
from service.auth import context, require
from service.deadlines import CALENDAR
from service.problems import ProblemError, documented
from workers import keys
from workers.store import Principal


class ExceptionQueue(Record, frozen=True, kw_only=True):
    exceptions: list[ExceptionItem]
    scanned: int  # how many of the centre's newest orders were looked at


@get(
    "/v1/exceptions",
    sync_to_thread=True,
    tags=["orders"],
    summary="Orders that need a clerk: refusals, decisions, unknown codes, contradictions, lateness, claims",
    security=[{"BearerAuth": []}],
    responses=documented(400, 401, 403, 422),
)
def exception_queue(
    principal: NamedDependency[Principal],
    state: State,
    scan: Annotated[int, QueryParameter(ge=1, le=5000)] = 1000,
) -> ExceptionQueue:
    require(principal, "orders:read")
    if principal.admin:
        raise ProblemError(422, "centre-required", "Centre required", "Use a centre's key for its exceptions.")
    ctx = context(state)
    store = ctx.store
    ids = [m.decode() for m in store.client.zrevrange(keys.centre_orders(principal.centre), 0, scan - 1)]
    today = datetime.now(VIETNAM_TZ).date()
    centre = ctx.config.centres.get(principal.centre)
    found = []
    for order_id in ids:
        order = store.get_order(order_id)
        if order is None:
            continue
        timeline = store.timeline(order_id)
        item = assess(order, timeline, deadlines(order, timeline, centre, CALENDAR), today)
        if item is not None:
            found.append(item)
    return ExceptionQueue(exceptions=found, scanned=len(ids))
