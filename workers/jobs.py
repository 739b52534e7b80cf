"""Ingest and sweep jobs: apply stored raw callbacks, and re-enqueue what RQ may have lost."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import time
from collections.abc import Sequence
from datetime import UTC, datetime

import redis
from redis.client import Pipeline
from rq import Retry
from rq.exceptions import NoSuchJobError
from rq.job import Job
from rq.rate_limit import RateLimit, RateLimitRegistry
from rq.registry import StartedJobRegistry
from rq.serializers import JSONSerializer

from contracts.couriers import StatusUpdate
from contracts.couriers.registry import DECODE, replayed
from contracts.deadlines import quiet_after
from contracts.events import Event, Source, contradicts, event_key
from contracts.statuses import TERMINAL, Status
from workers import audit, keys, retention, webhooks
from workers.context import current
from workers.couriers import CourierRejected
from workers.decisions import release_replacements
from workers.dispatch import booking_job, enqueue_admission, per_order_seconds, queue_booking
from workers.queues import queue
from workers.store import OrderChange, UnknownOrder

log = logging.getLogger(__name__)

INGEST_BATCH = 200


def _now() -> datetime:
    return datetime.now(UTC)


# -- ingest ---------------------------------------------------------------------------------------
def enqueue_ingest(connection: redis.Redis, courier: str, pipeline: Pipeline | None = None) -> None:
    queue("ingest", connection).enqueue_call(
        "workers.jobs.ingest_callbacks",
        args=(courier,),
        timeout=300,
        result_ttl=0,
        failure_ttl=7 * 24 * 3600,
        retry=Retry(max=3, interval=[5, 30, 120]),
        pipeline=pipeline,
    )


INGEST_JOB_SECONDS = 2.0  # then the job queues its successor (RQ's job timeout is 300 s), so couriers take turns
INGEST_WINDOW_SECONDS = 0.025  # after a short batch, callbacks gather this long before the next read


def ingest_callbacks(courier: str) -> int:
    """Apply stored raw callbacks of one courier, batch after batch while they keep coming; returns how
    many were read.

    The job stays while callbacks arrive: a short batch is followed by a short wait, so the next batch
    is worth reading, and the kick key stays taken, so the api queues no other job. When a read finds
    nothing, the job gives the kick back and drains once more: a callback appended before that is read
    now, one appended after takes the kick and queues a new job (its append and its kick are one script).
    A job per short batch cost more in RQ's bookkeeping, here and in the api, than its callbacks did.
    """
    store = current().store
    kick = keys.ingest_kick(courier)
    total = 0
    ends = time.monotonic() + INGEST_JOB_SECONDS
    try:
        while time.monotonic() < ends:
            read = _ingest_batch(courier)
            total += read
            if read == 0:
                store.client.delete(kick)  # from here on, new callbacks queue a new job
                while (read := _ingest_batch(courier)) == INGEST_BATCH:
                    total += read
                return total + read
            if read < INGEST_BATCH:
                _pause(INGEST_WINDOW_SECONDS)
    except Exception:  # RQ retries this job later: meanwhile new callbacks may queue another
        with contextlib.suppress(redis.RedisError):
            store.client.delete(kick)
        raise
    # Still busy: a successor is queued, and the kick stays taken for it (for another 60 s).
    store.client.set(kick, 1, ex=60)
    enqueue_ingest(store.client, courier)
    return total


_pause = time.sleep  # (tests make callbacks arrive in the window)


def _ingest_batch(courier: str) -> int:
    store = current().store
    consumer = f"{socket.gethostname()}-{os.getpid()}"
    entries = store.claim_callbacks(courier, consumer, count=INGEST_BATCH)
    try:
        _apply_entries(courier, entries, durable=False)  # the whole batch in one transaction
    except redis.RedisError:
        raise  # the store is away: leave the batch pending, a later run claims it again
    except Exception:  # something in one entry: apply them one at a time, so it cannot stop the rest
        log.exception("a %s batch could not be applied at once; applying its callbacks one by one", courier)
        for entry_id, fields in entries:
            try:
                _apply(courier, entry_id, fields, durable=False)
            except redis.RedisError:
                raise
            except Exception as error:  # one bad entry must not stop the stream behind it
                log.exception("callback %s/%s could not be applied; set aside for replay", courier, entry_id)
                store.keep_orphan(_set_aside(courier, entry_id, fields, f"{type(error).__name__}: {error}"))
    if entries:
        # One fsync wait for the batch, then one ack. The AOF is written in order, so an ack that
        # survives a crash implies the updates before it did; a lost ack re-applies (idempotent).
        store.make_durable()
        store.ack_callbacks(courier, [entry_id for entry_id, _ in entries])
        # Messages and notices the batch staged go out now that it is on disk (update_order did not
        # announce them before the fsync).
        webhooks.kick_staged(store.client)
    return len(entries)


def _apply(
    courier: str, entry_id: str, fields: dict[bytes, bytes], *, quarantine: bool = True, durable: bool = True
) -> bool:
    """Apply one stored callback; False when some update is for an order we do not know (yet).

    Such a callback is quarantined, not dropped: couriers can call back before our create returns.
    """
    return _apply_entries(courier, [(entry_id, fields)], quarantine=quarantine, durable=durable)[0]


def _apply_entries(
    courier: str,
    entries: Sequence[tuple[str, dict[bytes, bytes]]],
    *,
    quarantine: bool = True,
    durable: bool = True,
    again: bool = True,
) -> list[bool]:
    """Apply stored callbacks, every order they move in one transaction (`Store.update_orders`); per
    entry, False when some update is for an order we do not know (yet), and then it is quarantined.

    Callbacks set aside (malformed, replayed, another centre's, order vanished) are kept only once the
    batch is written: if anything fails before, its callbacks are applied one by one, and each would
    otherwise be set aside twice. A callback that names its order only by a tracking code which an
    earlier callback of the same batch brings is found by a second pass (`again`), once that is written.
    """
    ctx = current()
    store = ctx.store
    max_age = ctx.settings.dd_callback_max_age_hours
    aside: list[dict[str, bytes | str]] = []
    decoded: list[tuple[str, dict[bytes, bytes], datetime, list[StatusUpdate]]] = []
    for entry_id, fields in entries:
        received = datetime.fromtimestamp(int(fields[b"received_ms"]) / 1000, UTC)
        try:
            updates = DECODE[courier](fields[b"body"])
        except ValueError as error:  # msgspec's DecodeError and ValidationError, and a body that is not UTF-8
            log.error("callback %s/%s does not decode: %s", courier, entry_id, error)
            aside.append(_set_aside(courier, entry_id, fields, f"malformed: {error}"))
            updates = []
        fresh = [update for update in updates if not replayed(update, received, max_age)]
        if len(fresh) < len(updates):  # the api refused it (or the stale part)
            log.warning("callback %s/%s has events older than %g h: set aside as a replay", courier, entry_id, max_age)
            aside.append(_set_aside(courier, entry_id, fields, f"replayed: events older than {max_age:g} h"))
        decoded.append((entry_id, fields, received, fresh))
    wanted = [(update.reference, update.tracking_code) for *_, updates in decoded for update in updates]
    found = iter(store.orders_for(courier, wanted))
    waiting: set[str] = set()
    batch: list[OrderChange] = []  # one change per update, in the order the callbacks came
    sources: dict[str, dict[str, dict[bytes, bytes]]] = {}  # order -> the callbacks that move it
    tracked: set[str] = set()  # orders this batch gives their tracking code: the first one given wins
    for entry_id, fields, received, updates in decoded:
        centres = fields.get(b"centres", b"").decode().split(",")
        for update in updates:
            order = next(found)
            if order is None:
                waiting.add(entry_id)
                continue
            if order.centre not in centres:  # one centre's secret cannot move another centre's orders
                log.warning(
                    "callback %s/%s authenticated for %s, not for order %s", courier, entry_id, centres, order.id
                )
                aside.append(_set_aside(courier, entry_id, fields, "authenticated for another centre"))
                continue
            events = [as_event(courier, update, received, "push")] if update.reports_status else []
            if update.reports_status and update.status is None:
                log.warning("unmapped %s status %r on order %s", courier, update.raw_status, order.id)
            changes = {}
            if not order.tracking_code and order.id not in tracked:
                changes = {"tracking_code": update.tracking_code}
                tracked.add(order.id)
            batch.append(OrderChange(order.id, events=events, charges=update.charges, changes=changes))
            sources.setdefault(order.id, {})[entry_id] = fields
    try:  # a writer that touches one of the orders meanwhile makes the whole batch try again
        results = store.update_orders(batch, now=_now(), durable=durable, tries=3)
    except redis.WatchError:  # busy orders: one change at a time, each until it goes through
        results = []
        for change in batch:
            try:
                one = store.update_order(
                    change.order_id, now=_now(), events=change.events, charges=change.charges, durable=durable,
                    **change.changes,
                )  # fmt: skip
                results.append(one)
            except UnknownOrder:
                results.append(None)
    vanished = {change.order_id for change, result in zip(batch, results, strict=True) if result is None}
    for order_id in vanished:
        aside += [
            _set_aside(courier, entry_id, fields, "order vanished") for entry_id, fields in sources[order_id].items()
        ]
    for kept in aside:
        store.keep_orphan(kept)
    if waiting and tracked and again:  # their order may be known by now, by a tracking code just written
        retried = [(entry_id, fields) for entry_id, fields in entries if entry_id in waiting]
        known = _apply_entries(courier, retried, quarantine=quarantine, durable=durable, again=False)
        waiting -= {entry_id for (entry_id, _), ok in zip(retried, known, strict=True) if ok}
        return [entry_id not in waiting for entry_id, _ in entries]
    for entry_id, fields, *_ in decoded:
        if entry_id in waiting and quarantine:
            log.info("callback %s/%s is for an order we do not know yet: quarantined", courier, entry_id)
            store.client.zadd(keys.quarantine(courier), {entry_id: int(fields[b"received_ms"])})
    return [entry_id not in waiting for entry_id, _ in entries]


def as_event(courier: str, update: StatusUpdate, received: datetime, source: Source) -> Event:
    """One event, keyed the same whether it came by push or by poll, so the two dedupe."""
    return Event(
        key=event_key(courier, update.tracking_code, update.raw_status, update.event_time, update.reason_code),
        status=update.status,
        courier=courier,
        raw_status=update.raw_status,
        raw_text=update.raw_text,
        reason_code=update.reason_code,
        reason=update.reason,
        event_time=update.event_time,
        received_at=received,
        location=update.location,
        source=source,
        tracking_code=update.tracking_code,
        unconfirmed=update.unconfirmed,
    )


# -- polling --------------------------------------------------------------------------------------
def enqueue_poll(connection: redis.Redis, order_id: str, courier: str, closing: bool = False) -> None:
    queue("sweep", connection).enqueue_call(
        "workers.jobs.poll_order",
        args=(order_id, closing),
        job_id=f"poll-{order_id}",
        timeout=30,  # one lookup: a job that died with its worker is called abandoned this much later
        result_ttl=0,
        failure_ttl=24 * 3600,
        rate_limit=RateLimit(f"poll-{courier}", POLL_CONCURRENCY),
    )


POLL_CONCURRENCY = 2  # lookups at one courier at a time, beside its bookings


def poll_order(order_id: str, closing: bool = False) -> int:
    """Ask the courier for an order whose callbacks went quiet, or (`closing`) that just finished;
    returns how many events were new."""
    ctx = current()
    store = ctx.store
    order = store.get_order(order_id)
    if order is None or order.tracking_code is None or (order.status in TERMINAL and not closing):
        return 0
    try:
        updates = ctx.courier(order.centre, order.courier).track(order.tracking_code)
    except CourierRejected as refusal:  # no lookup at this courier, or it refused: callbacks only
        log.warning("could not poll order %s at %s: %s", order_id, order.courier, type(refusal).__name__)
        return 0
    now = _now()
    stored = store.events(order_id)
    known = {event.key for event in stored}
    events = [as_event(order.courier, update, now, "poll") for update in updates if update.reports_status]
    fresh = [event for event in events if event.key not in known]
    charges = [charge for update in updates for charge in update.charges]
    contradiction = contradicts(order.courier, [*stored, *fresh], events)
    if contradiction != order.contradiction:
        log.warning("order %s: %s", order_id, contradiction or "push and poll agree again")
    store.update_order(order_id, now=now, events=fresh, charges=charges, contradiction=contradiction)
    store.client.zadd(keys.active(order.courier), {order_id: now.timestamp()}, xx=True)
    return len(fresh)


def poll_quiet(courier: str, now: float, base_seconds: float) -> int:
    """Queue a poll for each order at `courier` quiet for longer than its status allows."""
    store = current().store
    queued = 0
    for order_id in store.quiet(courier, before=now - base_seconds):
        order = store.get_order(order_id)
        if order is None:
            store.client.zrem(keys.active(courier), order_id)
            continue
        last = store.client.zscore(keys.active(courier), order_id) or now
        if now - last < quiet_after(order.status, base_seconds):
            continue
        enqueue_poll(store.client, order_id, courier)
        store.client.zadd(keys.active(courier), {order_id: now}, xx=True)  # not again until quiet again
        queued += 1
    for member in store.client.zrangebyscore(keys.closing(courier), "-inf", now - base_seconds, start=0, num=200):
        enqueue_poll(store.client, member.decode(), courier, closing=True)
        store.client.zrem(keys.closing(courier), member)
        queued += 1
    return queued


QUARANTINE_DAYS = 7


def release_quarantine(courier: str, now_ms: int) -> int:
    """Apply quarantined callbacks whose order now exists; after QUARANTINE_DAYS, set them aside."""
    store = current().store
    released = 0
    for member, received in store.client.zrange(keys.quarantine(courier), 0, 499, withscores=True):
        entry_id = member.decode()
        found = store.client.xrange(keys.callbacks(courier), entry_id, entry_id)
        if not found:
            store.client.zrem(keys.quarantine(courier), entry_id)
            continue
        fields = found[0][1]
        if _apply(courier, entry_id, fields, quarantine=False):
            store.client.zrem(keys.quarantine(courier), entry_id)
            released += 1
        elif now_ms - received > QUARANTINE_DAYS * 86_400_000:
            store.keep_orphan(_set_aside(courier, entry_id, fields, "no such order"))
            store.client.zrem(keys.quarantine(courier), entry_id)
    return released


def replay_callbacks(courier: str, since_ms: int) -> int:
    """Run stored raw callbacks received since `since_ms` through the current mapping, idempotently
    (the same events dedupe to the same keys); returns how many were replayed."""
    store = current().store
    replayed = 0
    start = f"{since_ms}-0"
    while True:
        batch = store.client.xrange(keys.callbacks(courier), start, "+", count=500)
        for entry_id, fields in batch:
            _apply(courier, entry_id.decode(), fields)
            replayed += 1
        if len(batch) < 500:
            return replayed
        start = "(" + batch[-1][0].decode()


def _set_aside(courier: str, entry_id: str, fields: dict[bytes, bytes], why: str) -> dict[str, bytes | str]:
    return {**{k.decode(): v for k, v in fields.items()}, "courier": courier, "entry": entry_id, "why": why}


# -- sweep ----------------------------------------------------------------------------------------
def sweep(now: float | None = None) -> int:
    """Re-enqueue every order stuck in an internal state past its deadline (RQ can lose a job)."""
    ctx = current()
    store = ctx.store
    now = now if now is not None else _now().timestamp()
    overdue = store.overdue(now)
    requeued = 0
    for order_id in overdue:
        order = store.get_order(order_id)
        if order is None or order.status is not Status.ACCEPTED:
            store.client.zrem(keys.DUE, order_id)
            store.client.hdel(keys.BOOKING_JOBS, order_id)
            continue
        store.postpone(order_id, now + ctx.settings.dd_dispatch_deadline_seconds)
        # A job RQ still holds (queued, running, waiting for a slot or for its retry) is not lost:
        # enqueueing it again would skip its backoff and run two copies.
        if store.client.zscore(keys.ADMIT, order_id) is not None:
            continue
        job_id = booking_job(store.client, order_id)
        if job_id is not None and _pending(store.client, job_id, now):
            continue
        queue_booking(ctx, [order_id], order.centre, order.courier)
        requeued += 1
    due = store.client.zcount(keys.WH_DUE, "-inf", now) + store.client.zcount(keys.NOTICE_DUE, "-inf", now)
    if due or store.client.zcard(keys.WH_FANOUT):
        webhooks.kick(store.client)  # retries that fell due, and anything a lost notify job left
    webhooks.trim(store.client, now)
    release_replacements(ctx, datetime.fromtimestamp(now, UTC))
    # A worker killed mid-job (or quitting when the store went away) leaves its job `started`, holding
    # its courier's booking or lookup slot until RQ's own maintenance (every 10 minutes) calls it
    # abandoned. Doing that here, then freeing stale slots, keeps bookings and polls moving after a crash.
    for name in ("dispatch", "sweep"):
        StartedJobRegistry(name, connection=store.client, serializer=JSONSerializer).cleanup()
    for registry in RateLimitRegistry.all(store.client):
        registry.cleanup()
    audit.seal(store.client)
    retention.hourly(ctx, datetime.fromtimestamp(now, UTC))
    if store.client.zcard(keys.ADMIT):
        enqueue_admission(store.client)  # orders whose kick or admission job was lost
    for courier in DECODE:
        enqueue_ingest(store.client, courier)  # drains anything a lost ingest job left behind
        release_quarantine(courier, int(now * 1000))
        poll_quiet(courier, now, ctx.settings.dd_poll_quiet_seconds)
    return requeued


_WAITING = frozenset({"scheduled", "deferred", "rate_limited"})


def _pending(connection: redis.Redis, job_id: str, now: float) -> bool:
    """Does RQ still hold this job in a state that will run it?

    A job killed with its worker stays `started` in its hash until RQ's maintenance notices (minutes),
    and a `queued` job can be missing from its queue: both are lost, not pending (DESIGN.md rule 3).
    """
    try:
        job = Job.fetch(job_id, connection=connection, serializer=JSONSerializer)
    except NoSuchJobError:
        return False
    status = job.get_status(refresh=False)
    if status == "scheduled":
        # Waiting for its retry, if the scheduler still has it: a store that crashed can lose the
        # registry entry (RQ's own writes are not waited on), and a job a minute overdue is not moving.
        due = connection.zscore(f"rq:scheduled:{job.origin}", job_id)
        return due is not None and due > time.time() - 60  # RQ's scheduler keeps wall-clock time
    if status in _WAITING:  # deferred or rate-limited: waiting, unless for far too long
        since = job.enqueued_at or job.created_at  # when it began to wait (a retry enqueues it again)
        return since is None or time.time() - since.timestamp() < 600
    if status == "queued":
        return connection.lpos(queue(job.origin, connection).key, job_id) is not None
    if status == "started" and job.started_at is not None:
        if connection.exists(keys.booking_alive(job_id)):  # a booking job on one of its orders
            return True
        # Else alive for one order's booking at most (a batch says so before each of its orders).
        return now - job.started_at.timestamp() < per_order_seconds(job.timeout, job.args[0] if job.args else None) + 30
    return False
