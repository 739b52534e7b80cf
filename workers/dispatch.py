"""Dispatch: admit an order (in its own transaction), then book it at its courier exactly once."""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime

import redis
from redis.client import Pipeline
from rq import Retry
from rq.rate_limit import RateLimit

from contracts.couriers import build_shipment
from contracts.events import Event, event_key
from contracts.statuses import Status
from workers import keys
from workers.breaker import Breaker
from workers.context import current
from workers.couriers import CourierRejected, CourierUnavailable
from workers.queues import queue

log = logging.getLogger(__name__)
RETRY = Retry(max=5, interval=[2, 10, 30, 60, 120])


def _now() -> datetime:
    return datetime.now(UTC)


def enqueue_dispatch(connection: redis.Redis, order_id: str, pipeline: Pipeline | None = None) -> None:
    """The order's first job, written in the order's own MULTI/EXEC (DESIGN.md rule 2).

    RQ refuses a rate-limited job inside a pipeline, so this job only admits the order: it queues
    the rate-limited booking job, which may wait for a free slot at its courier.
    """
    queue("dispatch", connection).enqueue_call(
        "workers.dispatch.admit_order",
        args=(order_id,),
        job_id=f"admit-{order_id}",
        timeout=30,
        result_ttl=0,
        failure_ttl=7 * 24 * 3600,
        retry=RETRY,
        pipeline=pipeline,
    )


def admit_order(order_id: str) -> str:
    ctx = current()
    order = ctx.store.get_order(order_id)
    if order is None or order.status is not Status.ACCEPTED or order.on_hold:
        return "nothing to do"
    enqueue_booking(ctx.store.client, order_id, order.courier, ctx.settings.dd_courier_concurrency)
    return "queued"


def enqueue_booking(connection: redis.Redis, order_id: str, courier: str, concurrency: int) -> None:
    """At most `concurrency` bookings run (or wait queued) at one courier at a time (RQ RateLimit)."""
    queue("dispatch", connection).enqueue_call(
        "workers.dispatch.dispatch_order",
        args=(order_id,),
        job_id=f"dispatch-{order_id}",
        timeout=120,
        result_ttl=0,
        failure_ttl=7 * 24 * 3600,
        retry=RETRY,
        rate_limit=RateLimit(f"courier-{courier}", concurrency),
    )


def dispatch_order(order_id: str) -> str:
    """Book the order at its courier once: look our reference up first whenever an earlier try may have."""
    ctx = current()
    store = ctx.store
    order = store.get_order(order_id)
    if order is None or order.status is not Status.ACCEPTED:
        return "nothing to do"
    lock = keys.dispatch_lock(order_id)
    centre = ctx.config.centres.get(order.centre)
    account = centre.couriers.get(order.courier) if centre else None  # missing: refused below, under the lock
    if not store.client.set(lock, os.getpid(), nx=True, ex=account.lock_seconds if account else 60):
        return "another worker is dispatching it"
    try:
        # Read again under the lock: a job that read before another one booked must not book again.
        order = store.get_order(order_id)
        if order is None or order.status is not Status.ACCEPTED:
            return "nothing to do"
        breaker = Breaker(store.client, order.courier)
        if not breaker.allow():
            raise CourierUnavailable(f"{order.courier} is failing: its circuit is open, retrying later")
        order = store.update_order(order_id, now=_now(), dispatch_attempts=order.dispatch_attempts + 1)
        try:
            client = ctx.courier(order.centre, order.courier)
            # After a timeout the courier may hold the order already: ask before booking again.
            booking = client.find(order.id) if order.dispatch_attempts > 1 else None
            if booking is None:
                booking = client.create(build_shipment(order, ctx.centre(order.centre)))
        except CourierUnavailable:
            breaker.failed()
            raise
        except CourierRejected as refusal:
            breaker.succeeded()  # the courier answered: it is up, it just said no
            now = _now()
            failed = Event(
                key=f"dispatch_failed|{order.dispatch_attempts}",
                status=Status.DISPATCH_FAILED,
                courier=order.courier,
                raw_status="rejected",
                raw_text=str(refusal)[:1000],
                event_time=now,
                received_at=now,
                source="api",
            )
            store.update_order(order_id, now=now, events=[failed], dispatch_error=str(refusal)[:1000])
            log.warning("order %s refused by %s: %s", order_id, order.courier, refusal)
            return "rejected"
        breaker.succeeded()
        now = _now()
        booked = Event(
            key=event_key(order.courier, booking.tracking_code, "booked", now, None),
            status=Status.BOOKED,
            courier=order.courier,
            raw_status="booked",
            raw_text="Courier accepted the order",
            event_time=now,
            received_at=now,
            source="api",
            tracking_code=booking.tracking_code,
        )
        store.update_order(order_id, now=now, events=[booked], tracking_code=booking.tracking_code, dispatch_error=None)
        log.info("order %s booked at %s as %s", order_id, order.courier, booking.tracking_code)
        return "booked"
    finally:
        store.client.delete(lock)
