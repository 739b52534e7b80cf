"""Callback intake's group commit: concurrent callbacks share fsync waits, and none returns before its own."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest

from contracts.config import DEMO_CENTRE
from contracts.intake import prepare
from contracts.orders import OrderCreate
from tests.conftest import API_KEY, order_body
from workers import keys
from workers.context import Context
from workers.intake import AsyncIntake, _Rounds
from workers.store import Created, NotDurable, Principal, Store


def _calls(ctx: Context, command: str) -> int:
    return int(ctx.store.client.info("commandstats").get(f"cmdstat_{command}", {}).get("calls", 0))


def _waits(ctx: Context) -> int:
    return _calls(ctx, "waitaof")


def test_concurrent_callbacks_share_fsync_waits_and_each_is_kept(ctx: Context) -> None:
    before = _waits(ctx)

    async def burst() -> list[bool]:
        intake = AsyncIntake(ctx.store)
        try:
            return await asyncio.gather(*(intake.append("ghn", {"body": f"{n}"}) for n in range(200)))
        finally:
            await intake.close()

    kicked = asyncio.run(burst())
    assert ctx.store.client.xlen(keys.callbacks("ghn")) == 200
    assert kicked.count(True) == 1  # one ingest job is asked for, not 200
    waits = _waits(ctx) - before
    assert 1 <= waits < 200  # shared: far fewer fsync waits than callbacks


def test_appends_wait_for_the_fsync_that_follows_them(ctx: Context) -> None:
    async def one() -> int:
        intake = AsyncIntake(ctx.store)
        try:
            await intake.append("ghtk", {"body": "x"})
            return int(ctx.store.client.info("persistence")["aof_last_write_status"] == "ok")
        finally:
            await intake.close()

    before = _waits(ctx)
    assert asyncio.run(one()) == 1
    assert _waits(ctx) - before == 1


def _evalsha_calls(ctx: Context) -> int:
    return _calls(ctx, "evalsha")


def test_concurrent_callbacks_go_in_rounds_in_arrival_order_with_one_kick_per_courier(ctx: Context) -> None:
    before = _evalsha_calls(ctx)

    async def burst() -> list[bool]:
        intake = AsyncIntake(ctx.store)
        try:
            couriers = ["ghn", "ghtk"] * 150
            return await asyncio.gather(*(intake.append(c, {"body": f"{n}"}) for n, c in enumerate(couriers)))
        finally:
            await intake.close()

    kicked = asyncio.run(burst())
    assert kicked[:2] == [True, True] and kicked.count(True) == 2  # the first of each courier claims its kick
    for courier, first in (("ghn", 0), ("ghtk", 1)):
        entries: list[tuple[bytes, dict[bytes, bytes]]] = ctx.store.client.xrange(keys.callbacks(courier))  # type: ignore[assignment]
        bodies = [fields[b"body"] for _, fields in entries]
        assert bodies == [str(n).encode() for n in range(first, 300, 2)]  # each kept once, in arrival order
    assert _evalsha_calls(ctx) - before < 300 / 2  # in rounds: far fewer commands than callbacks


def test_a_call_that_fails_fails_alone_and_lost_scripts_are_loaded_again(ctx: Context) -> None:
    ctx.store.client.set(keys.callbacks("ghn"), "not a stream")  # this courier's append will fail in the store
    ctx.store.client.script_flush()  # as after a store restart: no script is known

    async def round_() -> list[object]:
        intake = AsyncIntake(ctx.store)
        try:
            calls: list[Coroutine[Any, Any, object]] = [intake.append("ghtk", {"body": "ok"})]
            calls += [intake.append("ghn", {"body": "x"})]
            calls += [intake.principal(API_KEY, per_minute=0) for _ in range(3)]
            return await asyncio.gather(*calls, return_exceptions=True)
        finally:
            await intake.close()

    appended, refused, *checked = asyncio.run(round_())
    assert appended is True
    assert isinstance(refused, NotDurable)  # the courier's stream is broken: 503, nothing claimed to be kept
    assert checked == [(Principal(centre=DEMO_CENTRE), 0)] * 3
    assert ctx.store.client.xlen(keys.callbacks("ghtk")) == 1


def test_callbacks_are_not_acknowledged_when_the_store_cannot_fsync(ctx: Context) -> None:
    client = ctx.store.client
    client.config_set("appendonly", "no")  # a store that can no longer promise the write is on disk

    async def burst() -> list[object]:
        intake = AsyncIntake(ctx.store)
        try:
            return await asyncio.gather(
                *(intake.append("ghn", {"body": f"{n}"}) for n in range(5)), return_exceptions=True
            )
        finally:
            await intake.close()

    try:
        answers = asyncio.run(burst())
    finally:
        client.config_set("appendonly", "yes")
        while client.info("persistence")["aof_rewrite_in_progress"]:
            time.sleep(0.01)
    assert all(isinstance(answer, NotDurable) for answer in answers)  # each courier is told 503, and retries
    assert not client.exists(keys.ingest_kick("ghn"))  # the kick a refused callback took is given back


def test_an_order_whose_answer_cannot_be_read_fails_alone_in_its_round(ctx: Context) -> None:
    now = datetime.now(UTC)
    centre = ctx.config.centres[DEMO_CENTRE]
    body = msgspec.convert(order_body(), OrderCreate)
    plans = [
        ctx.store.order_write(
            prepare(body, centre=centre, new_id=lambda _p, n=n: f"o01ROUND{n}", now=now),
            due_at=now.timestamp(),
            enqueue=lambda _pipe, _id: None,
            idempotency=(f"key-{n}", "fingerprint"),
        )
        for n in range(3)
    ]
    ctx.store.client.set(keys.idempotency(DEMO_CENTRE, "key-1"), b"not a record")  # what no version wrote

    async def round_() -> list[object]:
        intake = AsyncIntake(ctx.store)
        try:
            return await asyncio.gather(*(intake.create_orders(plan) for plan in plans), return_exceptions=True)
        finally:
            await intake.close()

    first, broken, third = asyncio.run(round_())
    assert isinstance(first, Created) and isinstance(third, Created)  # written, on disk, answered
    assert isinstance(broken, msgspec.DecodeError)  # that request's own error (a 500), not a 503 for all
    assert ctx.store.client.exists(keys.order("o01ROUND0"), keys.order("o01ROUND2")) == 2


def test_a_round_is_bounded_and_a_broken_answer_fails_only_its_round() -> None:
    rounds: list[list[int]] = []

    async def send(items: list[int]) -> list[int]:
        rounds.append(items)
        await asyncio.sleep(0)
        return [] if 13 in items else items  # too few answers for the round with 13: a bug

    async def calls() -> list[object]:
        limited = _Rounds(send, most=4, weigh=lambda item: item, budget=10)
        return await asyncio.gather(*(limited(item) for item in (1, 6, 6, 13, 1, 1, 1, 1, 1)), return_exceptions=True)

    answers = asyncio.run(calls())
    assert rounds == [[1, 6], [6], [13], [1, 1, 1, 1], [1]]  # never over 4 items, nor over 10 unless alone
    assert answers[:3] == [1, 6, 6] and answers[4:] == [1] * 5
    assert isinstance(answers[3], NotDurable)  # its round failed; the rounds after it went on


def test_make_durable_under_fsync_always_checks_the_aof_without_a_probe_write(ctx: Context) -> None:
    # Under appendfsync always each write was fsynced before its answer: the probe would only cost a
    # write and its fsync. WAITAOF alone still refuses a store whose AOF is off.
    store, client = ctx.store, ctx.store.client
    assert store.durability == "always"
    probes, waits = _calls(ctx, "incr"), _waits(ctx)
    store.make_durable()
    assert (_calls(ctx, "incr"), _waits(ctx)) == (probes, waits + 1)
    Store(client, durability="waitaof").make_durable()  # there WAITAOF must follow this connection's write
    assert (_calls(ctx, "incr"), _waits(ctx)) == (probes + 1, waits + 2)
    client.config_set("appendonly", "no")
    try:
        with pytest.raises(NotDurable):
            store.make_durable()
    finally:
        client.config_set("appendonly", "yes")
        while client.info("persistence")["aof_rewrite_in_progress"]:
            time.sleep(0.01)
