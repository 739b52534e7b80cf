"""Dispatch: admit an order (in its own transaction), then book it at its courier exactly once."""

from __future__ import annotations

import logging
import time
import uuid
from datetime import UTC, datetime

import redis
from redis.client import Pipeline
from rq import Retry, get_current_job
from rq.rate_limit import RateLimit

from contracts.couriers import build_shipment
from contracts.events import Event, event_key
from contracts.money import reported
from contracts.statuses import Status
from workers import keys, webhooks
from workers.breaker import Breaker
from workers.context import Context, current
from workers.couriers import CourierRejected, CourierUnavailable
from workers.queues import queue
from workers.store import Created

log = logging.getLogger(__name__)
RETRY = Retry(max=5, interval=[2, 10, 30, 60, 120])
BOOKING_TIMEOUT = 60  # RQ's limit for one booking job, when no account says otherwise


def _now() -> datetime:
    return datetime.now(UTC)


def enqueue_dispatch(connection: redis.Redis, order_id: str, pipeline: Pipeline | None = None) -> None:
    """The order's first job, written in the order's own MULTI/EXEC (DESIGN.md rule 2): its entry in the
    admission queue. An `admit_orders` job drains the queue in batches and queues each order's booking
    job (RQ refuses a rate-limited job inside a pipeline, and an RQ job per order just to admit it cost
    ~4.5 ms of a worker's time: perf-limits.md §5). The caller kicks the drain after its transaction;
    the sweep kicks it too, so an order whose kick was lost waits one sweep at most."""
    (pipeline if pipeline is not None else connection).zadd(keys.ADMIT, {order_id: time.time()})


def kick_admission(connection: redis.Redis) -> None:
    """Queue an admission job unless one is queued already (the kick key says so). Best effort: the
    order is stored already, and the sweep drains the admission queue anyway."""
    try:
        if connection.set(keys.ADMIT_KICK, 1, nx=True, ex=60):
            enqueue_admission(connection)
    except redis.RedisError as error:
        log.warning("admission not kicked (%s): the sweep will drain the queue", type(error).__name__)


def enqueue_admission(connection: redis.Redis) -> None:
    queue("dispatch", connection).enqueue_call(
        "workers.dispatch.admit_orders",
        timeout=300,
        result_ttl=0,
        failure_ttl=7 * 24 * 3600,
        retry=Retry(max=3, interval=[5, 30, 120]),
    )


def queue_claimed(connection: redis.Redis, created: Created) -> None:
    """Queue the jobs an order's write claimed (`Store.order_write`), after it is on disk. Best effort:
    the order is stored, and the sweep drains the admission queue and the webhook fan-out anyway."""
    try:
        if created.admit:
            enqueue_admission(connection)
        if created.notify:
            webhooks.enqueue_notify(connection)
    except redis.RedisError as error:
        log.warning("jobs not queued (%s): the sweep will", type(error).__name__)


ADMIT_BATCH = 200
ADMIT_PASSES = 50  # batches per job; then the job queues its successor
BOOK_BATCH = 10  # orders one booking job books, one after another (an RQ job costs a worker ~4.5 ms)


def admit_orders() -> int:
    """Admit the queued orders, batch after batch until the queue is empty; returns how many.

    Each id is popped once (concurrent jobs never admit the same order); one that a killed worker popped
    and never admitted is still `accepted` with its deadline, and the sweep books it (DESIGN.md rule 3).
    """
    ctx = current()
    client = ctx.store.client
    total = 0
    for _ in range(ADMIT_PASSES):
        client.delete(keys.ADMIT_KICK)  # from here on, a new order queues a new job
        batch = [member.decode() for member, _at in client.zpopmin(keys.ADMIT, ADMIT_BATCH)]
        ready: dict[tuple[str, str], list[str]] = {}
        for order, _events in ctx.store.load(batch).values():
            if order.status is Status.ACCEPTED and not order.on_hold:
                ready.setdefault((order.centre, order.courier), []).append(order.id)
        for (centre, courier), ids in ready.items():
            for at in range(0, len(ids), BOOK_BATCH):
                queue_booking(ctx, ids[at : at + BOOK_BATCH], centre, courier)
        total += len(batch)
        if len(batch) < ADMIT_BATCH:
            return total
    kick_admission(client)  # more may be waiting
    return total


def queue_booking(ctx: Context, order_ids: list[str], centre_code: str, courier: str) -> None:
    centre = ctx.config.centres.get(centre_code)
    account = centre.couriers.get(courier) if centre else None
    timeout = (account.booking_seconds if account else BOOKING_TIMEOUT) * len(order_ids)
    waits = ctx.settings.dispatch_retry
    retry = Retry(max=len(waits), interval=waits)
    enqueue_booking(ctx.store.client, order_ids, courier, ctx.settings.dd_courier_concurrency, timeout, retry)


def enqueue_booking(
    connection: redis.Redis,
    order_ids: list[str],
    courier: str,
    concurrency: int,
    timeout: int = BOOKING_TIMEOUT,
    retry: Retry = RETRY,
) -> None:
    """One job books `order_ids` (all at one courier); at most `concurrency` such jobs run (or wait
    queued) at one courier at a time (RQ RateLimit). `dd:booking` names each order's job, for the sweep."""
    job_id = f"dispatch-{uuid.uuid4().hex}"
    # Named before the job can run; the order's entry goes when it leaves `accepted` (update_order).
    connection.hset(keys.BOOKING_JOBS, mapping=dict.fromkeys(order_ids, job_id))
    queue("dispatch", connection).enqueue_call(
        "workers.dispatch.dispatch_orders",
        args=(order_ids,),
        job_id=job_id,
        timeout=timeout,
        result_ttl=0,
        failure_ttl=7 * 24 * 3600,
        retry=retry,
        rate_limit=RateLimit(f"courier-{courier}", concurrency),
    )


def booking_job(connection: redis.Redis, order_id: str) -> str | None:
    """The id of the job that books this order, if one was queued."""
    job_id = connection.hget(keys.BOOKING_JOBS, order_id)
    return job_id.decode() if job_id else None


def dispatch_orders(order_ids: list[str]) -> dict[str, str]:
    """Book each order (one courier's) in turn; if any failed (its courier unavailable, or anything
    else), fail the job once all were tried, so that RQ retries it after its wait: the orders booked
    meanwhile are then "nothing to do". Before each order the job says it is alive (`booking_alive`),
    so the sweep can tell a killed job from a long batch."""
    ctx = current()
    job = get_current_job()
    alive = per_order_seconds(job.timeout, order_ids) + 15 if job is not None else 0  # one order's booking
    outcomes: dict[str, str] = {}
    failure: Exception | None = None
    for order_id in order_ids:
        if job is not None:
            ctx.store.client.set(keys.booking_alive(job.id), 1, ex=alive)
        try:
            outcomes[order_id] = dispatch_order(order_id)
        except Exception as error:  # one order's failure must not keep the others from their courier
            outcomes[order_id] = "failed"
            failure = failure or error
            if not isinstance(error, CourierUnavailable):
                log.exception("booking order %s failed", order_id)
    if job is not None:
        ctx.store.client.delete(keys.booking_alive(job.id))
    if failure is not None:
        raise failure
    return outcomes


def per_order_seconds(timeout: float | None, order_ids: object) -> int:
    """How long one order of a booking job may take: the job's timeout is that times its orders."""
    count = len(order_ids) if isinstance(order_ids, list) else 1
    return max(1, int((timeout or BOOKING_TIMEOUT) / max(1, count)))


def admit_order(order_id: str) -> str:
    """Jobs queued before admission was batched (`admit-<id>`) still run after an upgrade."""
    enqueue_dispatch(current().store.client, order_id)
    kick_admission(current().store.client)
    return "queued"


def dispatch_order(order_id: str) -> str:
    """Book the order at its courier once: look our reference up first whenever an earlier try may have.

    The try is counted on disk before the courier is called, so any later try looks up first. The lock
    outlives one order's booking, which its HTTP timeouts bound (`booking_seconds`, however long the
    batch of its job is)."""
    ctx = current()
    store = ctx.store
    order = store.get_order(order_id)
    if order is None or order.status is not Status.ACCEPTED:
        return "nothing to do"
    if order.on_hold:  # a round trip's leg waiting for its result, or a re-route waiting for a cancel
        return "on hold"
    with OrderLock(store.client, order_id, seconds=_lock_seconds(ctx, order.centre, order.courier)) as held:
        if not held:
            return "another worker is dispatching it"
        # Read again under the lock: a job that read before another one booked must not book again.
        order = store.get_order(order_id)
        if order is None or order.status is not Status.ACCEPTED or order.on_hold:
            return "nothing to do"
        try:  # our own configuration, before any call: a clerk or an operator must fix it
            client = ctx.courier(order.centre, order.courier)
            shipment = build_shipment(order, ctx.centre(order.centre))
        except (CourierRejected, ValueError) as problem:
            return _refused(order_id, order.courier, order.dispatch_attempts, f"configuration: {problem}")
        breaker = Breaker(store.client, order.courier, cooldown=ctx.settings.dd_breaker_cooldown_seconds)
        if not breaker.allow():
            why = breaker.view().last_error or "failing"
            _unavailable(order_id, f"{why} (circuit open: no calls until a trial succeeds)")
            raise CourierUnavailable(f"{order.courier} is failing: its circuit is open, retrying later")
        order = store.update_order(order_id, now=_now(), dispatch_attempts=order.dispatch_attempts + 1)
        try:
            # After a timeout the courier may hold the order already: ask before booking again.
            booking = client.find(order.id) if order.dispatch_attempts > 1 else None
            if booking is None:
                booking = client.create(shipment)
        except CourierUnavailable as error:
            breaker.failed(why=str(error))
            _unavailable(order_id, str(error))
            raise
        except CourierRejected as refusal:
            breaker.succeeded()  # the courier answered: it is up, it just said no
            return _refused(order_id, order.courier, order.dispatch_attempts, str(refusal))
        except ValueError as problem:  # an account option the encoder cannot use
            breaker.release_trial()
            return _refused(order_id, order.courier, order.dispatch_attempts, f"configuration: {problem}")
        breaker.succeeded()
        now = _now()
        # Courier times have whole seconds: ours too, so a step the courier timed in this same second
        # sorts after the booking (rank breaks the tie) instead of before it.
        at = now.replace(microsecond=0)
        booked = Event(
            key=event_key(order.courier, booking.tracking_code, "booked", at, None),
            status=Status.BOOKED,
            courier=order.courier,
            raw_status="booked",
            raw_text="Courier accepted the order",
            event_time=at,
            received_at=now,
            source="api",
            tracking_code=booking.tracking_code,
        )
        quoted = reported({"fee": booking.total_fee}, at, "booking")  # the fee at creation (§9.17)
        store.update_order(
            order_id,
            now=now,
            events=[booked],
            charges=quoted,
            tracking_code=booking.tracking_code,
            dispatch_error=None,
        )
        log.info("order %s booked at %s as %s", order_id, order.courier, booking.tracking_code)
        return "booked"


def _unavailable(order_id: str, why: str) -> None:
    """On the last try of a series, the order tells a clerk why it is not booked yet (the exceptions
    queue shows it); the sweep starts a new series, and a booking clears it. Earlier tries say nothing:
    a blip that the next try gets past needs no one."""
    job = get_current_job()
    if job is not None and not job.retries_left:
        current().store.update_order(order_id, now=_now(), dispatch_error=f"not booked yet: {why}"[:1000])


def _refused(order_id: str, courier: str, attempt: int, message: str) -> str:
    now = _now()
    failed = Event(
        key=f"dispatch_failed|{attempt}",
        status=Status.DISPATCH_FAILED,
        courier=courier,
        raw_status="rejected",
        raw_text=message[:1000],
        event_time=now,
        received_at=now,
        source="api",
    )
    current().store.update_order(order_id, now=now, events=[failed], dispatch_error=message[:1000])
    # The courier's words may repeat the citizen's details: they go to the order, not to the log.
    log.warning("order %s refused (%s); see its dispatch_error", order_id, courier)
    return "rejected"


def _lock_seconds(ctx: Context, centre_code: str, courier: str) -> int:
    centre = ctx.config.centres.get(centre_code)
    account = centre.couriers.get(courier) if centre else None
    return account.lock_seconds if account else 60


class OrderLock:
    """A per-order lock with an owner token: only its holder releases it.

    It is held for one order's booking, whose calls' timeouts bound it (`booking_seconds`, whatever the
    length of the job's batch), and it lasts longer than that (`lock_seconds`), so it cannot lapse
    while its booking still runs; a worker killed with `kill -9` leaves it to expire by itself.
    """

    _RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"

    def __init__(self, client: redis.Redis, order_id: str, *, seconds: int) -> None:
        self.client, self.key, self.seconds = client, keys.dispatch_lock(order_id), seconds
        self.token = uuid.uuid4().hex
        self.held = False

    def __enter__(self) -> bool:
        self.held = bool(self.client.set(self.key, self.token, nx=True, ex=self.seconds))
        return self.held

    def __exit__(self, *_exc: object) -> None:
        if self.held:
            self.client.eval(self._RELEASE, 1, self.key, self.token)
