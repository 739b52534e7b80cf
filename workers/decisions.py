"""Clerk decisions (cancel, redeliver, return, release), checked against the lifecycle and forwarded to the courier."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Literal

import msgspec
from redis.client import Pipeline

from contracts.base import Record
from contracts.events import Event
from contracts.lifecycle import DECISIONS
from contracts.orders import Order, format_order_id
from contracts.statuses import Status
from workers import audit, keys
from workers.context import Context
from workers.couriers import CourierRejected
from workers.dispatch import enqueue_dispatch, kick_admission
from workers.store import UnknownOrder

Decision = Literal["cancel", "redeliver", "return", "release", "reroute"]


class DecisionRefused(Exception):
    """The lifecycle (or the courier) does not allow this decision now; the message says why."""


class Action(Record, frozen=True, kw_only=True):
    decision: Decision
    at: datetime
    by: str  # the centre whose key asked
    outcome: Literal["done", "refused"]
    message: str


ACTION = msgspec.json.Decoder(Action)


def actions(ctx: Context, order_id: str) -> list[Action]:
    return [ACTION.decode(raw) for raw in ctx.store.client.lrange(keys.actions(order_id), 0, -1)]


def _record(ctx: Context, order_id: str, action: Action) -> None:
    with ctx.store.client.pipeline() as pipe:
        pipe.rpush(keys.actions(order_id), msgspec.json.encode(action))
        audit.stage(pipe, f"decision.{action.decision}", at=action.at, order=order_id, by=action.by,
                    outcome=action.outcome, message=action.message)  # fmt: skip
        pipe.execute()


def decide(ctx: Context, order_id: str, decision: Decision, by: str) -> Order:
    """Carry out a clerk's decision or raise DecisionRefused; CourierUnavailable passes through (retry)."""
    now = datetime.now(UTC)
    order = ctx.store.get_order(order_id)
    if order is None:
        raise UnknownOrder(order_id)
    try:
        message = _carry_out(ctx, order, decision, now)
    except (DecisionRefused, CourierRejected) as refusal:
        _record(ctx, order_id, Action(decision=decision, at=now, by=by, outcome="refused", message=str(refusal)))
        raise DecisionRefused(str(refusal)) from refusal
    _record(ctx, order_id, Action(decision=decision, at=now, by=by, outcome="done", message=message))
    ctx.store.make_durable()
    updated = ctx.store.get_order(order_id)
    assert updated is not None
    return updated


def reroute(ctx: Context, order_id: str, courier: str, by: str) -> Order:
    """Before pickup, send the leg with another courier; returns the new order.

    The order is cancelled (here, or at its courier if booked, which may refuse). One not booked yet
    is cancelled at once and the new order dispatched at once. One booked waits: the new order stays
    on hold until the first courier confirms the cancel (the sweep releases it then, or cancels it if
    the first courier picked the dossier up after all), so two couriers never come for one dossier.
    """
    store = ctx.store
    now = datetime.now(UTC)

    def refuse(message: str) -> DecisionRefused:
        _record(ctx, order_id, Action(decision="reroute", at=now, by=by, outcome="refused", message=message))
        return DecisionRefused(message)

    lock = keys.reroute_lock(order_id)
    if not store.client.set(lock, by, nx=True, ex=60):
        raise DecisionRefused("the order is being re-routed right now")
    try:
        order = store.get_order(order_id)
        if order is None:
            raise UnknownOrder(order_id)
        if order.replaced_by is not None:
            raise refuse(f"already re-routed as {order.replaced_by}")
        if courier == order.courier:
            raise refuse(f"the order is already with {courier}")
        if courier not in ctx.centre(order.centre).couriers:
            raise refuse(f"the centre has no {courier} account")
        if order.status not in DECISIONS["cancel"]:
            raise refuse(f"an order in {order.status.value!r} cannot be re-routed: only before pickup")
        booked = order.tracking_code is not None
        decide(ctx, order_id, "cancel", by)
        fresh = msgspec.structs.replace(
            order,
            id=format_order_id(order.id[1:3], int(now.timestamp() * 1000), os.urandom(10)),
            courier=courier,
            status=Status.ACCEPTED,
            tracking_code=None,
            on_hold=order.on_hold or booked,
            created_at=now,
            updated_at=now,
            dispatch_attempts=0,
            dispatch_error=None,
            charges=(),
            contradiction=None,
            replaces=order.id,
            replaced_by=None,
        )

        def waiting(pipe: Pipeline) -> None:
            if booked:
                pipe.zadd(keys.REPLACEMENTS, {fresh.id: now.timestamp()})

        store.create_orders(
            [fresh],
            due_at=now.timestamp() + ctx.settings.dd_dispatch_deadline_seconds,
            enqueue=lambda pipe, new_id: enqueue_dispatch(store.client, new_id, pipe),
            also=waiting,
        )
        store.update_order(order_id, now=now, replaced_by=fresh.id)
        if order.linked_order_id:  # a round trip's other leg now pairs with the new one
            store.update_order(order.linked_order_id, now=now, linked_order_id=fresh.id)
        message = f"re-routed to {courier} as {fresh.id}" + (", once the cancel is confirmed" if booked else "")
        _record(ctx, order_id, Action(decision="reroute", at=now, by=by, outcome="done", message=message))
        store.make_durable()
        return fresh
    finally:
        store.client.delete(lock)


def release_replacements(ctx: Context, now: datetime) -> int:
    """Re-routed orders waiting for the first courier's cancel: dispatch those whose first order is
    cancelled; cancel those whose first courier went on (picked the dossier up); the others wait."""
    store = ctx.store
    released = 0
    for member in store.client.zrange(keys.REPLACEMENTS, 0, 499):
        new_id = member.decode()
        fresh = store.get_order(new_id)
        first = store.get_order(fresh.replaces) if fresh is not None and fresh.replaces else None
        if fresh is None or first is None:
            store.client.zrem(keys.REPLACEMENTS, new_id)
            continue
        if first.status is Status.CANCELLED:
            due = now.timestamp() + ctx.settings.dd_dispatch_deadline_seconds

            def queue_dispatch(pipe: Pipeline, order_id: str = new_id, due: float = due) -> None:
                pipe.zadd(keys.DUE, {order_id: due})
                enqueue_dispatch(store.client, order_id, pipe)
                pipe.zrem(keys.REPLACEMENTS, order_id)

            store.update_order(new_id, now=now, on_hold=False, also=queue_dispatch)
            kick_admission(store.client)
            released += 1
        elif first.status not in DECISIONS["cancel"]:
            store.client.zrem(keys.REPLACEMENTS, new_id)
            _cancel_before_booking(ctx, fresh, now)
            message = f"the first courier did not cancel ({first.status.value}): {new_id} cancelled"
            _record(ctx, first.id, Action(decision="reroute", at=now, by="sweep", outcome="refused", message=message))
    return released


def _carry_out(ctx: Context, order: Order, decision: Decision, now: datetime) -> str:
    if decision == "release":
        if not order.on_hold:
            raise DecisionRefused("only a round trip's delivery leg on hold can be released")
        pickup = ctx.store.get_order(order.linked_order_id) if order.linked_order_id else None
        if pickup is None or pickup.status is not Status.DELIVERED:
            state = pickup.status.value if pickup else "missing"
            raise DecisionRefused(f"the dossier has not reached the centre yet (pickup leg is {state!r})")
        due = now.timestamp() + ctx.settings.dd_dispatch_deadline_seconds
        store = ctx.store

        def queue_dispatch(pipe: Pipeline) -> None:
            pipe.zadd(keys.DUE, {order.id: due})
            enqueue_dispatch(store.client, order.id, pipe)

        # Two clerks releasing at once: the second finds nothing to change, so nothing is queued twice.
        store.update_order(order.id, now=now, on_hold=False, also=queue_dispatch)
        kick_admission(store.client)
        return "queued for dispatch"
    if order.status not in DECISIONS[decision]:
        raise DecisionRefused(f"an order in {order.status.value!r} cannot be given {decision!r}")
    if decision == "cancel" and order.tracking_code is None:
        return _cancel_before_booking(ctx, order, now)
    if order.tracking_code is None:
        raise DecisionRefused(f"{decision!r} needs the courier's tracking code, and there is none yet")
    client = ctx.courier(order.centre, order.courier)
    forward = {"cancel": client.cancel, "redeliver": client.redeliver, "return": client.return_to_sender}
    return forward[decision](order.tracking_code)


def _cancel_before_booking(ctx: Context, order: Order, now: datetime) -> str:
    """Not at a courier yet: cancel here, holding the dispatch lock so no booking starts meanwhile."""
    store = ctx.store
    lock = keys.dispatch_lock(order.id)
    if not store.client.set(lock, "cancel", nx=True, ex=30):
        raise DecisionRefused("the order is being sent to the courier right now; try again in a moment")
    try:
        current = store.get_order(order.id)
        if current is None or current.tracking_code is not None or current.status not in DECISIONS["cancel"]:
            raise DecisionRefused("the order changed meanwhile; look at it again")
        if current.dispatch_attempts:
            # A dispatch that timed out may have booked it after all: ask before cancelling only here.
            client = ctx.courier(current.centre, current.courier)
            booking = client.find(current.id)  # CourierUnavailable passes up: 503, try again
            if booking is not None:
                message = client.cancel(booking.tracking_code)
                store.update_order(current.id, now=now, tracking_code=booking.tracking_code)
                return message
        cancelled = Event(
            key=f"cancelled|{now.isoformat()}",
            status=Status.CANCELLED,
            courier=order.courier,
            raw_status="cancelled",
            raw_text="Cancelled by the centre before it reached the courier",
            event_time=now,
            received_at=now,
            source="api",
        )
        store.update_order(order.id, now=now, events=[cancelled], on_hold=False)
        store.client.zrem(keys.DUE, order.id)
        return "cancelled before booking"
    finally:
        store.client.delete(lock)
