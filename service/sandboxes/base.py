"""What every courier sandbox shares: state in the store, chaos, shipment counts, and the callback player."""

from __future__ import annotations

import asyncio
import collections
import logging
import random
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, Literal

import httpx
import msgspec
import redis.asyncio as aredis
from litestar import Response

from contracts.settings import Settings

log = logging.getLogger(__name__)

Scenario = Literal["delivered", "failed_then_delivered", "returned", "lost"]


class Chaos(msgspec.Struct, kw_only=True):
    """How badly the sandboxes behave; set with `PUT /_sandbox/chaos`, shared by every sandbox process."""

    latency_ms: int = 0  # added to every answer
    error_rate: float = 0.0  # share of create/lookup calls answered 503 (nothing created)
    garbage_rate: float = 0.0  # share answered 200 with a proxy's HTML error page (nothing created)
    timeout_rate: float = 0.0  # share of creates that book, then answer only after `timeout_seconds`
    timeout_seconds: float = 15.0  # longer than the client's timeout: the answer is lost
    duplicate_rate: float = 0.0  # share of callbacks posted twice
    reorder_rate: float = 0.0  # share of callbacks posted after the next one
    drop_rate: float = 0.0  # share of callbacks never posted at all (polling must fill the gap)
    # Which story autoplay tells, drawn per shipment by weight.
    scenarios: dict[str, float] = msgspec.field(default_factory=lambda: {"delivered": 1.0})
    # What a create with a reference that exists already does: couriers do not document it (VERIFY).
    # "accept" books again (the worst case, so the counts prove we never ask twice); "reject" refuses.
    duplicate_reference: Literal["accept", "reject"] = "accept"


# What a courier's overloaded gateway or a captive proxy answers in place of JSON.
_GARBAGE = "<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>"


class SandboxCore:
    """One per sandbox process; each courier's sandbox holds a reference to it."""

    def __init__(self, settings: Settings, store: aredis.Redis) -> None:
        self.settings = settings
        self.store = store
        self.http = httpx.AsyncClient(timeout=5)
        self.tasks: set[asyncio.Task[Any]] = set()
        self.step_seconds = settings.dd_sandbox_step_seconds
        self.retry_seconds = 5.0 if settings.dd_sandbox_step_seconds >= 1 else settings.dd_sandbox_step_seconds
        self.random = random.Random()
        self.journal: collections.deque[dict[str, str]] = collections.deque(maxlen=5000)

    # -- chaos ------------------------------------------------------------------------------------
    async def chaos(self) -> Chaos:
        raw = await self.store.get("sbx:chaos")
        return msgspec.json.decode(raw, type=Chaos) if raw else Chaos()

    async def set_chaos(self, chaos: Chaos) -> None:
        await self.store.set("sbx:chaos", msgspec.json.encode(chaos))

    async def misbehave(self) -> Response[Any] | None:
        """Latency always; a 503 or garbage sometimes (nothing done). The caller answers the returned response."""
        chaos = await self.chaos()
        if chaos.latency_ms:
            await asyncio.sleep(chaos.latency_ms / 1000)
        if self.random.random() < chaos.error_rate:
            return Response({"error": "sandbox: injected 503"}, status_code=503)
        if self.random.random() < chaos.garbage_rate:
            return Response(_GARBAGE, status_code=200, media_type="text/html")
        return None

    async def lose_answer(self) -> None:
        """Sometimes sleep past the client's timeout after the work is done: booked, answer lost."""
        chaos = await self.chaos()
        if self.random.random() < chaos.timeout_rate:
            await asyncio.sleep(chaos.timeout_seconds)

    async def scenario(self) -> Scenario:
        weights = (await self.chaos()).scenarios or {"delivered": 1.0}
        names, values = zip(*weights.items(), strict=True)
        chosen: Scenario = self.random.choices(names, weights=values)[0]  # type: ignore[assignment]
        return chosen

    # -- counts -----------------------------------------------------------------------------------
    async def count_shipment(self, courier: str, reference: str) -> int:
        """Every shipment a sandbox creates, per our reference: a test proves none was created twice."""
        return int(await self.store.hincrby(f"sbx:{courier}:shipments", reference, 1))

    async def counts(self, courier: str) -> dict[str, int]:
        raw = await self.store.hgetall(f"sbx:{courier}:shipments")
        return {k.decode(): int(v) for k, v in raw.items()}

    # -- callbacks --------------------------------------------------------------------------------
    async def deliver(self, send: Callable[[], Awaitable[httpx.Response]], what: str, tries: int) -> bool:
        """Post one callback until it is answered 200, `tries` times at most, as the courier retries."""
        for _attempt in range(tries):
            try:
                response = await send()
                if response.status_code == 200:
                    return True
                log.warning("callback %s answered %s; retrying", what, response.status_code)
            except httpx.HTTPError as error:
                log.warning("callback %s failed (%s); retrying", what, type(error).__name__)
            await asyncio.sleep(self.retry_seconds)
        log.error("gave up posting callback %s after %d tries", what, tries)
        return False

    async def play(
        self,
        steps: Sequence[Any],
        record: Callable[[Any], Awaitable[Any]],
        post: Callable[[Any], Awaitable[bool]],
    ) -> None:
        """Tell a story: `record` each step in order (the courier's own state and the event time),
        then `post` its callback, duplicating some and letting some overtake the one before, as chaos
        says. A step `record` answers None for (the shipment was cancelled meanwhile) ends the story."""
        chaos = await self._patiently(self.chaos)
        pending = list(steps)
        while pending:
            await asyncio.sleep(self.step_seconds)
            step = pending.pop(0)
            payload = await self._patiently(lambda step=step: record(step))
            if payload is None:
                return
            batch = [payload]
            if pending and self.random.random() < chaos.reorder_rate:
                await asyncio.sleep(self.step_seconds)
                step = pending.pop(0)
                later = await self._patiently(lambda step=step: record(step))
                if later is not None:
                    batch.insert(0, later)  # the next one overtakes this one
            for item in batch:
                if self.random.random() < chaos.drop_rate:
                    continue  # lost for good: the courier's own history still has it
                # A callback that never got a 200 is lost, and the parcel moves on all the same: the
                # courier's tracking (our poll) still has the step.
                await post(item)
                if self.random.random() < chaos.duplicate_rate:
                    await post(item)

    async def _patiently(self, call: Callable[[], Awaitable[Any]], seconds: float = 120) -> Any:
        """The sandbox's own store may be down a moment (a test kills it): the parcel waits, the story goes on."""
        deadline = asyncio.get_running_loop().time() + seconds
        while True:
            try:
                return await call()
            except (aredis.ConnectionError, aredis.TimeoutError, ConnectionError, OSError):
                if asyncio.get_running_loop().time() > deadline:
                    raise
                await asyncio.sleep(0.5)

    async def continue_story(
        self,
        order: Any,
        save: Callable[[Any], Awaitable[None]],
        record: Callable[[Any], Awaitable[Any]],
        post: Callable[[Any], Awaitable[bool]],
    ) -> None:
        """Play the rest of a shipment's story (`order.story`, `order.played` steps recorded so far).

        Resuming re-posts the last step recorded: it may never have reached us, and we dedupe repeats.
        """
        start = max(0, order.played - 1)
        if start:
            order.played = start
            await save(order)
        await self.play(order.story[start:], record, post)

    async def resume_stories(
        self,
        courier: str,
        load: Callable[[str], Awaitable[Any]],
        finished: Callable[[Any], bool],
        play: Callable[[Any], Coroutine[Any, Any, Any]],
    ) -> int:
        """Carry on with parcels in flight after a restart: a courier keeps moving them while we are down."""
        resumed = 0
        async for key in self.store.scan_iter(match=f"sbx:{courier}:order:*", count=500):
            order = await load(key.decode().rsplit(":", 1)[1])
            if order is not None and not finished(order) and order.played < len(order.story):
                self.spawn(play(order))
                resumed += 1
        return resumed

    def spawn(self, work: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def close(self) -> None:
        tasks = list(self.tasks)
        for task in tasks:
            task.cancel()
        # Wait for them to unwind: a story cancelled mid-call must not outlive the store client.
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.http.aclose()
