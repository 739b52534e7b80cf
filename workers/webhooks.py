"""Outbound webhooks: endpoints in the store, messages written with the order change that caused them,
and the `notify` job that spreads them over endpoints and delivers them on the retry schedule.

Durability: a message is written in the same MULTI/EXEC as the order change (the outbox), so a change
is never acknowledged without its message. Delivery is at least once: a delivery is leased (a lock
with a TTL) while it is attempted; a worker killed mid-attempt leaves it due again when the lease
expires. The clock is a parameter everywhere, so tests drive the schedule.
"""

from __future__ import annotations

import ipaddress
import logging
import random
import secrets
import socket
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Literal
from urllib.parse import urlsplit

import httpx
import msgspec
import redis
from redis.client import Pipeline

from contracts.base import Record
from contracts.orders import Order
from contracts.statuses import Status
from contracts.webhooks import (
    DISABLE_AFTER_SECONDS,
    ROTATION_GRACE_SECONDS,
    Endpoint,
    EndpointCreate,
    EndpointData,
    EndpointPatch,
    Message,
    Secret,
    new_secret,
    order_data,
    order_types,
    payload,
    refused_address,
    retry_delay,
    signature_header,
)
from workers import keys
from workers.queues import queue

log = logging.getLogger(__name__)

MESSAGE_DAYS = 30  # a message can be resent or recovered this long
LOG_LENGTH = 1000  # attempts kept per endpoint
LEASE_SECONDS = 60  # a delivery being attempted is not attempted again before this
BATCH = 200
TIMEOUT_SECONDS = 15.0
CONCURRENCY = 8
ENCODE = msgspec.json.Encoder().encode
ENDPOINT = msgspec.json.Decoder(Endpoint)
MESSAGE = msgspec.json.Decoder(Message)


class UnknownEndpoint(LookupError):
    """No such endpoint (or message) for this centre: the API answers 404 (service/problems.py)."""

    def __init__(self, what: str, ident: str) -> None:
        super().__init__(f"{what} {ident}")
        self.what = what


class EgressRefused(ValueError):
    """The URL points where we do not post (a loopback or private address, a scheme we do not speak)."""


class DeliveryState(Record, frozen=True, kw_only=True):
    attempts: int = 0
    status: Literal["pending", "delivered", "failed"] = "pending"
    manual: bool = False  # a resend or recovery: one attempt, no schedule
    last_attempt_at: datetime | None = None
    last_status_code: int | None = None
    next_attempt_at: datetime | None = None


class Attempt(Record, frozen=True, kw_only=True):
    message_id: str
    type: str
    attempt: int
    at: datetime
    status_code: int | None  # None: no HTTP answer (refused, timeout, connection error)
    latency_ms: int
    outcome: Literal["delivered", "retrying", "failed", "disabled"]
    error: str | None = None


STATE = msgspec.json.Decoder(DeliveryState)
ATTEMPT = msgspec.json.Decoder(Attempt)


def _now() -> datetime:
    return datetime.now(UTC)


# -- endpoints ----------------------------------------------------------------------------------------
def check_url(url: str, allow: frozenset[str], resolve: bool = True) -> None:
    """EgressRefused unless `url` is http(s) to a host whose every address we may post to.

    Without `resolve` (when an endpoint is saved) only what the URL itself says is checked: an IP
    literal, or `localhost`. Every delivery resolves the name again, so a name that later points
    inside is refused then.
    """
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError as error:
        raise EgressRefused(f"the URL does not parse ({error})") from None
    if parts.scheme not in ("https", "http") or not host:
        raise EgressRefused("the URL must be http:// or https:// with a host")
    if parts.username or parts.password:
        raise EgressRefused("the URL must not carry credentials")
    if host == "localhost" or host.endswith(".localhost"):
        addresses = ["127.0.0.1"]
    elif _literal(host):
        addresses = [host]
    elif resolve:
        try:
            found = socket.getaddrinfo(host, port or 443, proto=socket.IPPROTO_TCP)
        except (socket.gaierror, UnicodeError) as error:
            raise EgressRefused(f"the host {host!r} does not resolve ({error})") from None
        addresses = [str(sockaddr[0]).split("%")[0] for *_, sockaddr in found]
    else:
        addresses = []
    for address in addresses:
        why = refused_address(address, allow)
        if why is not None:
            raise EgressRefused(f"{host} is {why}; set DD_WEBHOOK_EGRESS to allow it")


def _literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


def create_endpoint(client: redis.Redis, centre: str, body: EndpointCreate, now: datetime) -> Endpoint:
    endpoint = Endpoint(
        id="ep_" + secrets.token_hex(10),
        centre=centre,
        url=body.url,
        event_types=tuple(body.event_types) if body.event_types is not None else None,
        enabled=body.enabled,
        description=body.description,
        secrets=(Secret(value=new_secret(secrets.token_bytes(24))),),
        created_at=now,
    )
    with client.pipeline(transaction=True) as pipe:
        pipe.hset(keys.wh_endpoints(centre), endpoint.id, ENCODE(endpoint))
        pipe.hset(keys.WH_OWNERS, endpoint.id, centre)
        pipe.execute()
    return endpoint


def endpoints(client: redis.Redis, centre: str) -> list[Endpoint]:
    found = [ENDPOINT.decode(raw) for raw in client.hvals(keys.wh_endpoints(centre))]
    return sorted(found, key=lambda e: e.created_at)


def get_endpoint(client: redis.Redis, centre: str, endpoint_id: str) -> Endpoint:
    raw = client.hget(keys.wh_endpoints(centre), endpoint_id)
    if raw is None:
        raise UnknownEndpoint("endpoint", endpoint_id)
    return ENDPOINT.decode(raw)


def _mutate(
    client: redis.Redis,
    centre: str,
    endpoint_id: str,
    change: Callable[[Endpoint], Endpoint | None],
    also: Callable[[Pipeline, Endpoint], object] | None = None,
) -> Endpoint | None:
    """Read, change and write one endpoint under WATCH: a delivery noting a failure cannot undo a
    clerk's PATCH (a rotated secret, a new URL) made meanwhile. `change` returning None changes nothing.
    Returns the endpoint as it now is, or None when it is gone."""
    key = keys.wh_endpoints(centre)
    with client.pipeline() as pipe:
        while True:
            try:
                pipe.watch(key)
                raw = pipe.hget(key, endpoint_id)
                if raw is None:
                    pipe.unwatch()
                    return None
                current = ENDPOINT.decode(raw)
                updated = change(current)
                if updated is None or updated == current:
                    pipe.unwatch()
                    return current
                pipe.multi()
                pipe.hset(key, endpoint_id, ENCODE(updated))
                if also is not None:
                    also(pipe, updated)
                pipe.execute()
                return updated
            except redis.WatchError:
                continue


def update_endpoint(
    client: redis.Redis, centre: str, endpoint_id: str, patch: EndpointPatch, now: datetime
) -> tuple[Endpoint, str | None]:
    """The endpoint changed as asked, and the new secret when it was rotated (answered once)."""
    fresh = new_secret(secrets.token_bytes(24)) if patch.rotate_secret else None

    def change(endpoint: Endpoint) -> Endpoint:
        return _patched(endpoint, patch, fresh, now)

    updated = _mutate(client, centre, endpoint_id, change)
    if updated is None:
        raise UnknownEndpoint("endpoint", endpoint_id)
    return updated, fresh


def _patched(endpoint: Endpoint, patch: EndpointPatch, fresh: str | None, now: datetime) -> Endpoint:
    changes: dict[str, object] = {}
    if patch.url is not None:
        changes["url"] = patch.url
    if patch.event_types is not None:
        changes["event_types"] = tuple(patch.event_types)
    if patch.description is not None:
        changes["description"] = patch.description
    if patch.enabled is not None:
        changes["enabled"] = patch.enabled
        if patch.enabled:  # switched back on by a person: a fresh start
            changes.update(disabled_reason=None, disabled_at=None, failing_since=None)
    if fresh is not None:
        grace = now + timedelta(seconds=ROTATION_GRACE_SECONDS)
        kept = tuple(
            Secret(value=s.value, expires_at=s.expires_at or grace)
            for s in endpoint.secrets
            if s.expires_at is None or s.expires_at > now
        )
        changes["secrets"] = (Secret(value=fresh), *kept)
    return msgspec.structs.replace(endpoint, **changes)


def delete_endpoint(client: redis.Redis, centre: str, endpoint_id: str) -> None:
    get_endpoint(client, centre, endpoint_id)
    with client.pipeline(transaction=True) as pipe:
        pipe.hdel(keys.wh_endpoints(centre), endpoint_id)
        pipe.hdel(keys.WH_OWNERS, endpoint_id)
        pipe.delete(keys.wh_state(endpoint_id), keys.wh_failed(endpoint_id), keys.wh_log(endpoint_id))
        pipe.execute()


def attempts(client: redis.Redis, endpoint_id: str, limit: int = 100) -> list[Attempt]:
    return [ATTEMPT.decode(raw) for raw in client.lrange(keys.wh_log(endpoint_id), 0, limit - 1)]


# -- the outbox: messages written with the change that caused them -------------------------------------
def listening(client: redis.Redis | Pipeline, centre: str) -> bool:
    """Does the centre have any endpoint? Without one, no message is kept (nothing could receive it)."""
    return bool(client.exists(keys.wh_endpoints(centre)))


def order_messages(old: Status | None, order: Order, now: datetime) -> list[Message]:
    data = order_data(old, order, now)
    return [
        Message(id="msg_" + secrets.token_hex(12), centre=order.centre, type=kind, timestamp=now, data=data)
        for kind in order_types(old, order)
    ]


def stage(pipe: Pipeline, messages: list[Message]) -> None:
    """Write messages inside the caller's MULTI; `kick` after EXEC gets them delivered at once."""
    record = pipe.pipeline_execute_command  # as the wire has them (`Store.order_write` says why)
    for message in messages:
        record("SET", keys.wh_message(message.id), ENCODE(message), "EX", MESSAGE_DAYS * 86400)
        record("ZADD", keys.WH_FANOUT, message.timestamp.timestamp(), message.id)


def kick(client: redis.Redis) -> None:
    """Queue the `notify` job unless one is queued already (the sweep queues one every interval anyway)."""
    if client.set(keys.WH_KICK, 1, nx=True, ex=LEASE_SECONDS):
        enqueue_notify(client)


def enqueue_notify(client: redis.Redis) -> None:
    """The `notify` job itself, for a caller that claimed the kick key in its own write."""
    queue("notify", client).enqueue_call("workers.notify.run", timeout=600, result_ttl=0, failure_ttl=86400)


def kick_staged(client: redis.Redis) -> None:
    """After a caller's own fsync: send what its non-durable changes staged (update_order left it)."""
    if client.zcard(keys.WH_FANOUT) or client.zcard(keys.NOTICE_DUE):
        kick(client)


# -- delivery ------------------------------------------------------------------------------------------
_http: httpx.Client | None = None


def _client() -> httpx.Client:
    global _http
    if _http is None:  # one per worker process: building a client costs ~28 ms (DESIGN.md)
        # No proxy or netrc from the environment: the egress check must judge where we really connect.
        _http = httpx.Client(timeout=TIMEOUT_SECONDS, follow_redirects=False, trust_env=False)
    return _http


Post = Callable[[str, bytes, dict[str, str]], httpx.Response]


def _post(url: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return _client().post(url, content=body, headers=headers)


def fan_out(client: redis.Redis, now: float) -> int:
    """Spread new messages over the endpoints of their centre that want their type; due at once."""
    spread = 0
    for member in client.zrange(keys.WH_FANOUT, 0, BATCH - 1):  # oldest first; each is ready at once
        message_id = member.decode()
        raw = client.get(keys.wh_message(message_id))
        with client.pipeline(transaction=True) as pipe:
            if raw is not None:
                message = MESSAGE.decode(raw)
                for endpoint in endpoints(client, message.centre):
                    if endpoint.wants(message.type):
                        pipe.zadd(keys.WH_DUE, {f"{message_id}|{endpoint.id}": now}, nx=True)
                        pipe.hset(keys.wh_state(endpoint.id), message_id, ENCODE(DeliveryState()))
                        spread += 1
            pipe.zrem(keys.WH_FANOUT, message_id)
            pipe.execute()
    return spread


def deliver_due(
    now: float | None = None,
    *,
    allow: frozenset[str] | None = None,
    post: Post = _post,
    unit: Callable[[], float] = random.random,
) -> int:
    """Spread new messages, then attempt every delivery that is due; returns attempts (`notify.run` calls it)."""
    from workers.context import current

    ctx = current()
    client = ctx.store.client
    allow = allow if allow is not None else ctx.settings.webhook_egress
    total = 0
    while True:
        moment = now if now is not None else time.time()
        fan_out(client, moment)
        due = [m.decode() for m in client.zrangebyscore(keys.WH_DUE, "-inf", moment, start=0, num=BATCH)]
        attempt = partial(_attempt, client, now=now, allow=allow, post=post, unit=unit)
        with ThreadPoolExecutor(CONCURRENCY) as pool:
            attempted = sum(pool.map(attempt, due))
        total += attempted
        if not attempted or (now is not None and len(due) < BATCH):  # a fixed clock: one pass
            return total


# Release a lease only if it is still ours (it may have lapsed and been taken by another worker).
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"


def _attempt(
    client: redis.Redis,
    delivery: str,
    *,
    now: float | None,
    allow: frozenset[str],
    post: Post,
    unit: Callable[[], float],
) -> bool:
    """One delivery under a lease taken just before it (a lease outlives one attempt's timeout), timed
    when it is sent, so `webhook-timestamp` is fresh however long the batch. False: someone else has it."""
    token = secrets.token_hex(8)
    if not client.set(keys.wh_lock(delivery), token, nx=True, ex=LEASE_SECONDS):
        return False
    message_id, endpoint_id = delivery.split("|", 1)
    try:
        _deliver(client, message_id, endpoint_id, now if now is not None else time.time(), allow, post, unit)
    except redis.RedisError:
        raise
    except Exception:  # one delivery must not stop the others; it stays due and the lease lapses
        log.exception("webhook delivery %s failed unexpectedly", delivery)
        return True
    client.eval(_RELEASE, 1, keys.wh_lock(delivery), token)
    return True


def _deliver(
    client: redis.Redis,
    message_id: str,
    endpoint_id: str,
    now: float,
    allow: frozenset[str],
    post: Post,
    unit: Callable[[], float],
) -> None:
    delivery = f"{message_id}|{endpoint_id}"
    centre = client.hget(keys.WH_OWNERS, endpoint_id)
    raw_endpoint = client.hget(keys.wh_endpoints(centre.decode()), endpoint_id) if centre else None
    raw_message = client.get(keys.wh_message(message_id))
    if raw_endpoint is None or raw_message is None:  # endpoint deleted, or message expired
        client.zrem(keys.WH_DUE, delivery)
        return
    endpoint, message = ENDPOINT.decode(raw_endpoint), MESSAGE.decode(raw_message)
    raw_state = client.hget(keys.wh_state(endpoint_id), message_id)
    state = STATE.decode(raw_state) if raw_state else DeliveryState()
    at = datetime.fromtimestamp(now, UTC)
    if not endpoint.enabled:
        _give_up(client, endpoint, message, state, at, "failed", None, 0, "endpoint disabled")
        return
    attempt = state.attempts + 1
    body = payload(message)
    stamp = int(now)
    headers = {
        "content-type": "application/json",
        "user-agent": "dossier-dispatch-webhooks/1",
        "webhook-id": message.id,
        "webhook-timestamp": str(stamp),
        "webhook-signature": signature_header(endpoint.secrets, message.id, stamp, body, at),
    }
    code: int | None = None
    retry_after: float | None = None
    error: str | None = None
    location = ""
    started = time.perf_counter()
    try:
        check_url(endpoint.url, allow)
        response = post(endpoint.url, body, headers)
        code = response.status_code
        location = response.headers.get("location", "?")
        if code in (429, 503):
            retry_after = _seconds(response.headers.get("retry-after"), at)
    except EgressRefused as refused:
        error = str(refused)
    except httpx.HTTPError as failure:
        error = f"{type(failure).__name__}: {failure}"[:300]
    latency = int((time.perf_counter() - started) * 1000)
    if code is not None and 200 <= code < 300:
        _delivered(client, endpoint, message, attempt, at, code, latency)
        return
    if code is None and error is None:
        error = "no answer"
    elif code is not None and 300 <= code < 400:
        error = f"redirect to {location} not followed"
    if code == 410:  # Gone: the receiver asks us to stop
        _disable(client, endpoint, at, "the endpoint answered 410 Gone")
        _give_up(client, endpoint, message, state, at, "disabled", code, latency, error, attempt)
        return
    noted = _mutate(
        client,
        endpoint.centre,
        endpoint.id,
        lambda e: msgspec.structs.replace(e, failing_since=at) if e.failing_since is None else None,
    )
    endpoint = noted or endpoint
    failing_since = endpoint.failing_since or at
    if (at - failing_since).total_seconds() >= DISABLE_AFTER_SECONDS:
        _disable(client, endpoint, at, f"failing continuously since {failing_since.isoformat()}")
        _give_up(client, endpoint, message, state, at, "disabled", code, latency, error, attempt)
        return
    delay = None if state.manual else retry_delay(attempt, unit(), retry_after)
    if delay is None:
        _give_up(client, endpoint, message, state, at, "failed", code, latency, error, attempt)
        return
    following = at + timedelta(seconds=delay)
    updated = msgspec.structs.replace(
        state, attempts=attempt, last_attempt_at=at, last_status_code=code, next_attempt_at=following
    )
    record = Attempt(
        message_id=message.id, type=message.type, attempt=attempt, at=at, status_code=code,
        latency_ms=latency, outcome="retrying", error=error,
    )  # fmt: skip
    with client.pipeline(transaction=True) as pipe:
        pipe.hset(keys.wh_state(endpoint.id), message.id, ENCODE(updated))
        pipe.zadd(keys.WH_DUE, {f"{message.id}|{endpoint.id}": now + delay})  # not via datetime: µs rounding
        _log(pipe, endpoint.id, record)
        pipe.execute()


def _seconds(value: str | None, now: datetime) -> float | None:
    """A Retry-After in seconds or as an HTTP date."""
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    from email.utils import parsedate_to_datetime

    try:
        return max(0.0, (parsedate_to_datetime(value) - now).total_seconds())
    except (TypeError, ValueError):
        return None


def _log(pipe: Pipeline, endpoint_id: str, record: Attempt) -> None:
    pipe.lpush(keys.wh_log(endpoint_id), ENCODE(record))
    pipe.ltrim(keys.wh_log(endpoint_id), 0, LOG_LENGTH - 1)


def _delivered(
    client: redis.Redis, endpoint: Endpoint, message: Message, attempt: int, at: datetime, code: int, latency: int
) -> None:
    state = DeliveryState(attempts=attempt, status="delivered", last_attempt_at=at, last_status_code=code)
    record = Attempt(
        message_id=message.id, type=message.type, attempt=attempt, at=at, status_code=code,
        latency_ms=latency, outcome="delivered",
    )  # fmt: skip
    with client.pipeline(transaction=True) as pipe:
        pipe.hset(keys.wh_state(endpoint.id), message.id, ENCODE(state))
        pipe.zrem(keys.WH_DUE, f"{message.id}|{endpoint.id}")
        pipe.zrem(keys.wh_failed(endpoint.id), message.id)
        _log(pipe, endpoint.id, record)
        pipe.execute()
    if endpoint.failing_since is not None:  # it answers again: the run of failures is over
        _mutate(
            client,
            endpoint.centre,
            endpoint.id,
            lambda e: msgspec.structs.replace(e, failing_since=None) if e.failing_since is not None else None,
        )


def _give_up(
    client: redis.Redis,
    endpoint: Endpoint,
    message: Message,
    state: DeliveryState,
    at: datetime,
    outcome: Literal["failed", "disabled"],
    code: int | None,
    latency: int,
    error: str | None,
    attempt: int | None = None,
) -> None:
    updated = msgspec.structs.replace(
        state, attempts=attempt or state.attempts, status="failed", last_attempt_at=at, last_status_code=code,
        next_attempt_at=None,
    )  # fmt: skip
    with client.pipeline(transaction=True) as pipe:
        pipe.hset(keys.wh_state(endpoint.id), message.id, ENCODE(updated))
        pipe.zrem(keys.WH_DUE, f"{message.id}|{endpoint.id}")
        pipe.zadd(keys.wh_failed(endpoint.id), {message.id: message.timestamp.timestamp()})
        if attempt is not None:
            _log(pipe, endpoint.id, Attempt(
                message_id=message.id, type=message.type, attempt=attempt, at=at, status_code=code,
                latency_ms=latency, outcome=outcome, error=error,
            ))  # fmt: skip
        pipe.execute()


def _disable(client: redis.Redis, endpoint: Endpoint, at: datetime, reason: str) -> None:
    """Switch the endpoint off and tell the centre's other endpoints (`endpoint.disabled`)."""
    notice = Message(
        id="msg_" + secrets.token_hex(12),
        centre=endpoint.centre,
        type="endpoint.disabled",
        timestamp=at,
        data=EndpointData(
            endpoint_id=endpoint.id, url=endpoint.url, failing_since=endpoint.failing_since, reason=reason
        ),
    )

    def off(e: Endpoint) -> Endpoint | None:  # already off (a clerk, another worker): nothing to announce
        return msgspec.structs.replace(e, enabled=False, disabled_reason=reason, disabled_at=at) if e.enabled else None

    # The disabled endpoint no longer `wants` anything: the centre's others get `endpoint.disabled`.
    disabled = _mutate(client, endpoint.centre, endpoint.id, off, also=lambda pipe, _e: stage(pipe, [notice]))
    if disabled is not None and disabled.disabled_at == at:
        log.warning("webhook endpoint %s of %s disabled: %s", endpoint.id, endpoint.centre, reason)


# -- housekeeping ----------------------------------------------------------------------------------------
def trim(client: redis.Redis, now: float) -> int:
    """Forget delivery states and failures of messages that expired (kept MESSAGE_DAYS); returns how many.

    The sweep calls it; it does the work at most once an hour.
    """
    if not client.set(keys.WH_TRIMMED, 1, nx=True, ex=3600):
        return 0
    removed = 0
    for raw_id in client.hkeys(keys.WH_OWNERS):
        endpoint_id = raw_id.decode()
        removed += int(client.zremrangebyscore(keys.wh_failed(endpoint_id), "-inf", now - MESSAGE_DAYS * 86400))
        for chunk in _chunks([m.decode() for m in client.hkeys(keys.wh_state(endpoint_id))], 500):
            with client.pipeline(transaction=False) as pipe:
                for message_id in chunk:
                    pipe.exists(keys.wh_message(message_id))
                gone = [m for m, alive in zip(chunk, pipe.execute(), strict=True) if not alive]
            if gone:
                removed += int(client.hdel(keys.wh_state(endpoint_id), *gone))
    return removed


def _chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


# -- resend and recover --------------------------------------------------------------------------------
def resend(client: redis.Redis, centre: str, endpoint_id: str, message_id: str, now: float) -> None:
    """One more attempt of one message to one endpoint, now; no schedule follows (as Svix)."""
    endpoint = get_endpoint(client, centre, endpoint_id)
    raw = client.get(keys.wh_message(message_id))
    if raw is None or MESSAGE.decode(raw).centre != centre:
        raise UnknownEndpoint("message", message_id)
    _requeue(client, endpoint, [message_id], now)


def recover(client: redis.Redis, centre: str, endpoint_id: str, since: float, now: float) -> int:
    """Attempt again every message given up on since `since`; returns how many."""
    endpoint = get_endpoint(client, centre, endpoint_id)
    failed = [m.decode() for m in client.zrangebyscore(keys.wh_failed(endpoint_id), since, "+inf")]
    live = [m for m in failed if client.exists(keys.wh_message(m))]
    _requeue(client, endpoint, live, now)
    return len(live)


def _requeue(client: redis.Redis, endpoint: Endpoint, message_ids: list[str], now: float) -> None:
    with client.pipeline(transaction=True) as pipe:
        for message_id in message_ids:
            raw = client.hget(keys.wh_state(endpoint.id), message_id)
            state = STATE.decode(raw) if raw else DeliveryState()
            # A message still on its schedule keeps it (the extra attempt only comes sooner); one
            # given up on or delivered gets a single attempt.
            manual = msgspec.structs.replace(state, manual=state.status != "pending")
            pipe.hset(keys.wh_state(endpoint.id), message_id, ENCODE(manual))
            pipe.zadd(keys.WH_DUE, {f"{message_id}|{endpoint.id}": now})
            pipe.zrem(keys.wh_failed(endpoint.id), message_id)
        pipe.execute()
    kick(client)
