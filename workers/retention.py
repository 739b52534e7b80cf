"""Retention: orders finished longer ago than DD_RETENTION_DAYS are archived whole to compressed files,
then their personal data is erased from the store; raw callbacks older than that are trimmed.

The archive (`<DD_ARCHIVE_DIR>/<YYYY-MM>.jsonl.gz`, by month of finishing, one JSON line per order with
its events and clerk decisions) is fsynced before anything is erased, so a crash in between archives an
order twice at worst. What stays in the store is what the reports and the audit need: the order's
codes, statuses, dates, courier, money and the province and ward of its address (J+n depends on them),
so the report counters do not move. The name, phone, email, ID number, street and the authorised
recipient go; the citizen's tracking page no longer shows the order.
"""

from __future__ import annotations

import gzip
import logging
import os
from datetime import datetime
from pathlib import Path

import msgspec

from contracts.calendar import VIETNAM_TZ
from contracts.orders import Address, Citizen, Order
from contracts.statuses import TERMINAL
from workers import audit, keys
from workers.context import Context
from workers.store import Store

log = logging.getLogger(__name__)

ERASED = "(đã xóa)"
ERASED_PHONE = "00000000"  # the shortest the order's phone field accepts; `/track` skips erased orders
_ENCODE = msgspec.json.Encoder().encode
BATCH = 200


def archive_dir(ctx: Context) -> Path:
    return Path(ctx.settings.dd_archive_dir or Path(ctx.settings.dd_data_dir) / "archive")


def erased(order: Order, now: datetime) -> dict[str, object]:
    """The changes that take the citizen's personal data out of an order."""
    return {
        "citizen": Citizen(name=ERASED, phone=ERASED_PHONE, language=order.citizen.language),
        "address": Address(province_code=order.address.province_code, ward_code=order.address.ward_code, street=ERASED),
        "authorised_recipient": None,
        "erased_at": now,
    }


def _write(directory: Path, lines: dict[str, list[bytes]]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for month, batch in lines.items():
        path = directory / f"{month}.jsonl.gz"
        new = not path.exists()
        with open(path, "ab") as raw:
            with gzip.GzipFile(fileobj=raw, mode="ab") as packed:  # a new gzip member: the file stays readable
                packed.write(b"".join(line + b"\n" for line in batch))
            raw.flush()
            os.fsync(raw.fileno())
        if new:  # the new file's name must survive a power cut too
            handle = os.open(directory, os.O_RDONLY)
            try:
                os.fsync(handle)
            finally:
                os.close(handle)


def run(ctx: Context, now: datetime, days: int | None = None, batches: int | None = None) -> int:
    """Archive and erase orders finished more than `days` ago (at most `batches` x BATCH of them);
    returns how many. One run at a time, whoever asks (the sweep, the command): a lock."""
    days = ctx.settings.dd_retention_days if days is None else days
    if days <= 0:
        return 0
    store = ctx.store
    token = os.urandom(8).hex()
    if not store.client.set(keys.RETENTION_LOCK, token, nx=True, ex=900):
        return 0
    try:
        _backfill(store)
        cutoff = now.timestamp() - days * 86400
        done, passes = 0, 0
        while batches is None or passes < batches:
            ids = [m.decode() for m in store.client.zrangebyscore(keys.FINISHED, "-inf", cutoff, start=0, num=BATCH)]
            if not ids:
                break
            done += _archive(ctx, store, ids, now)
            passes += 1
            store.client.expire(keys.RETENTION_LOCK, 900)
        _trim_callbacks(store, cutoff)
        return done
    finally:
        if store.client.get(keys.RETENTION_LOCK) == token.encode():
            store.client.delete(keys.RETENTION_LOCK)


def _backfill(store: Store) -> None:
    """Once per store: orders that finished before the retention index existed join it (by their last change)."""
    if store.client.exists(keys.RETENTION_BACKFILLED):
        return
    for found in store.batches(BATCH):
        finished = {
            i: o.updated_at.timestamp() for i, (o, _e) in found.items() if o.status in TERMINAL and o.erased_at is None
        }
        if finished:
            store.client.zadd(keys.FINISHED, finished, nx=True)
    store.client.set(keys.RETENTION_BACKFILLED, 1)


def _archive(ctx: Context, store: Store, ids: list[str], now: datetime) -> int:
    loaded = store.load(ids)
    lines: dict[str, list[bytes]] = {}
    for order_id, (order, events) in loaded.items():
        if order.erased_at is not None:
            continue
        finished = store.client.zscore(keys.FINISHED, order_id) or now.timestamp()
        month = datetime.fromtimestamp(finished, VIETNAM_TZ).strftime("%Y-%m")
        decisions = [msgspec.json.decode(raw) for raw in store.client.lrange(keys.actions(order_id), 0, -1)]
        lines.setdefault(month, []).append(_ENCODE({"order": order, "events": events, "decisions": decisions}))
    _write(archive_dir(ctx), lines)  # on disk before anything is erased
    for order_id, (order, _events) in loaded.items():
        if order.erased_at is None:  # the couriers' free text (a depot, a note) can name the recipient too
            store.update_order(order_id, now=now, durable=False, redact_events=True, **erased(order, now))
        with store.client.pipeline() as pipe:
            pipe.zrem(keys.FINISHED, order_id)
            audit.stage(pipe, "order.archived", at=now, order=order_id, centre=order.centre)
            pipe.execute()
    if missing := [i for i in ids if i not in loaded]:
        store.client.zrem(keys.FINISHED, *missing)
    store.make_durable()
    return len(loaded)


def _trim_callbacks(store: Store, cutoff: float) -> None:
    """Raw callbacks older than the period: long applied (ingest acks within seconds), and they hold
    whatever personal data the courier sent."""
    from contracts.couriers.registry import DECODE

    minimum = f"{int(cutoff * 1000)}-0"
    for courier in DECODE:
        store.client.xtrim(keys.callbacks(courier), minid=minimum, approximate=False)
    store.client.xtrim(keys.ORPHAN_CALLBACKS, minid=minimum, approximate=False)
    store.client.xtrim(keys.REJECTED_CALLBACKS, minid=minimum, approximate=False)


def hourly(ctx: Context, now: datetime) -> int:
    """The sweep's call: a bounded pass at most once an hour; a failure is logged and tried again next sweep,
    without stopping the rest of the sweep."""
    if ctx.settings.dd_retention_days <= 0 or ctx.store.client.exists(keys.RETENTION_RAN):
        return 0
    try:
        done = run(ctx, now, batches=25)
    except Exception:
        log.exception("retention pass failed; trying again at the next sweep")
        return 0
    ctx.store.client.set(keys.RETENTION_RAN, 1, ex=3600)
    return done
