"""Callback intake's group commit: concurrent callbacks share fsync waits, and none returns before its own."""

from __future__ import annotations

import asyncio

from workers import keys
from workers.context import Context
from workers.intake import AsyncIntake


def _waits(ctx: Context) -> int:
    stats = ctx.store.client.info("commandstats")
    return int(stats.get("cmdstat_waitaof", {}).get("calls", 0))


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
