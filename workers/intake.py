"""Callback intake on the api's event loop: concurrent callbacks are appended together, one command a
round, and made durable by a group commit, so they share one fsync wait instead of paying one each.

The AOF is written in order, so one `WAITAOF` on a probe written after a set of appends covers them
all (the same argument as `Store.make_durable`). Every request awaits the barrier that starts after
its own append was answered; nothing is acknowledged before its bytes are on disk.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, Literal, TypeVar

import redis
import redis.asyncio
from redis.commands.core import AsyncScript

from workers import keys
from workers.store import (
    CREATE_ORDERS,
    PRINCIPAL_SCRIPT,
    Created,
    NotDurable,
    OrderWrite,
    Principal,
    Store,
    key_lookup,
    packed_in_c,
    principal_from,
)


def _tcp_url(client: redis.Redis) -> str:
    """For a store built from a bare client (tests): its host, port and database over TCP."""
    given = client.connection_pool.connection_kwargs
    return f"redis://{given.get('host', '127.0.0.1')}:{given.get('port', 6379)}/{given.get('db', 0)}"


# Raw callbacks and their ingest kicks, a round's worth in one command (a MULTI/EXEC pipeline of an append
# and its kick cost the api about twice the CPU of one call, and a call each about twice one a round).
# KEYS: each callback's stream and its kick key, in arrival order; ARGV: the kick's seconds, then for each
# callback the number of its fields and values, and them. One answer a callback: 1 when it claimed its
# courier's kick (that request queues the ingest job), 0 when not, the store's error when it was not kept
# (each fails alone, as separate calls would).
APPEND_CALLBACKS = """#!lua flags=no-cluster
local at, answers = 2, {}
for k = 1, #KEYS, 2 do
  local n = tonumber(ARGV[at])
  local added = redis.pcall('XADD', KEYS[k], '*', unpack(ARGV, at + 1, at + n))
  at = at + n + 1
  if type(added) == 'table' and added.err then
    answers[#answers + 1] = added.err
  else
    answers[#answers + 1] = redis.call('SET', KEYS[k + 1], 1, 'NX', 'EX', ARGV[1]) and 1 or 0
  end
end
return answers
"""

Item = TypeVar("Item")
Result = TypeVar("Result")


class _Rounds(Generic[Item, Result]):
    """Calls from concurrent requests, sent in rounds: while one round is with the store, the calls that
    arrive wait and go together in the next. Under load a round carries many calls for the cost of one;
    a lone call goes at once. `send` answers a round's items in order (an exception as an answer is
    raised to that caller alone), or raises NotDurable for all;
    `most` bounds a round, so one command never carries an unbounded burst."""

    def __init__(
        self, send: Callable[[list[Item]], Awaitable[Sequence[Result | BaseException]]], most: int | None = None
    ) -> None:
        self._send = send
        self._most = most
        self._waiting: list[tuple[Item, asyncio.Future[Result]]] = []
        self._task: asyncio.Task[None] | None = None  # referenced, so it is not collected mid-flight

    async def __call__(self, item: Item) -> Result:
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[Result] = loop.create_future()
        self._waiting.append((item, answer))
        if self._task is None:
            self._task = loop.create_task(self._run())
        return await answer  # a request that goes away cancels its own answer, no one else's

    async def _run(self) -> None:
        try:
            while self._waiting:
                # Later arrivals wait for the next round.
                cut = self._most or len(self._waiting)
                round_, self._waiting = self._waiting[:cut], self._waiting[cut:]
                try:
                    results = await self._send([item for item, _ in round_])
                except NotDurable as error:
                    for _, answer in round_:
                        if not answer.done():
                            answer.set_exception(error)
                    continue
                except BaseException as error:  # cancelled at shutdown, an odd reply: no request hangs
                    for _, answer in round_:
                        if not answer.done():
                            answer.set_exception(NotDurable(f"the store's round failed: {type(error).__name__}"))
                    raise
                for (_, answer), result in zip(round_, results, strict=True):
                    if answer.done():
                        continue
                    if isinstance(result, BaseException):
                        answer.set_exception(result)
                    else:
                        answer.set_result(result)
        finally:
            self._task = None


class AsyncIntake:
    def __init__(self, store: Store) -> None:
        url = store.url or _tcp_url(store.client)  # the same server, TLS or unix socket included
        # Bounded: a burst of callbacks waits for a connection instead of opening one each.
        pool = redis.asyncio.BlockingConnectionPool.from_url(url, max_connections=64, timeout=10, socket_timeout=10)
        packed_in_c(pool)
        self.client = redis.asyncio.Redis(connection_pool=pool)  # its timeout is longer than WAITAOF's 5 s
        self._create_orders = self.client.register_script(CREATE_ORDERS)
        self._principal = self.client.register_script(PRINCIPAL_SCRIPT)
        self._append = self.client.register_script(APPEND_CALLBACKS)
        durability = store.durability
        self.durability: Literal["waitaof", "always"] = durability
        self._appends = _Rounds(self._append_round, most=256)
        self._calls = _Rounds(self._call_round, most=128)
        self._fsyncs = _Rounds(self._fsync_round)

    async def append(self, courier: str, fields: dict[str, bytes | str]) -> bool:
        """Keep a callback durably, before any parsing; True when the caller should queue an ingest job.

        A job per callback would cost more than the intake itself (an RQ enqueue is ~1.3 ms of CPU):
        one queued job per courier drains the stream in batches (the kick key says one is queued), and
        the sweep re-drains whatever a lost job left.
        """
        return await self._appends((courier, [value for pair in fields.items() for value in pair]))

    async def _append_round(self, callbacks: list[tuple[str, list[bytes | str]]]) -> list[bool | NotDurable]:
        """A round of callbacks: one script appends them all, and the fsync wait follows it in the same
        write to the socket (a round costs the api one send, where an append and a separate barrier
        took three)."""
        names: list[str] = []
        args: list[bytes | str | int] = [60]
        for courier, flat in callbacks:
            names += [keys.callbacks(courier), keys.ingest_kick(courier)]
            args += [len(flat), *flat]
        [answers] = await self._scripts([(self._append, names, args)], fsync=self.durability == "waitaof")
        if isinstance(answers, redis.RedisError):
            raise NotDurable(f"the callbacks could not be kept: {answers}")
        return [
            NotDurable(f"the callback could not be kept: {answer.decode(errors='replace')}")
            if isinstance(answer, bytes)
            else bool(answer)
            for answer in answers
        ]

    async def principal(self, secret: str, per_minute: int) -> tuple[Principal | None, int]:
        """`Store.principal` on the event loop: an API key checked without a hop to a thread."""
        names, args = key_lookup(secret, per_minute)
        return principal_from(await self._calls((self._principal, names, args)))

    async def create_orders(self, plan: OrderWrite) -> Created:
        """`Store.create_orders`' write on the event loop: one round trip, no thread. Not yet durable:
        the caller awaits `durable()` before it answers, then queues the jobs the write claimed."""
        return plan.outcome(await self._calls((self._create_orders, plan.keys, plan.args)))

    async def _call_round(self, calls: list[tuple[AsyncScript, list[str], list[Any]]]) -> list[Any]:
        """Scripts from concurrent requests (key checks, order writes): each runs alone in the store as
        before; its reply, or its own error, goes to its caller."""
        return await self._scripts(calls, fsync=False)

    async def _scripts(self, calls: list[tuple[AsyncScript, list[str], list[Any]]], *, fsync: bool) -> list[Any]:
        """Scripts in one pipeline: one write to the socket, one read, for the lot. With `fsync`, a
        `WAITAOF` follows them on the same connection, so they are on disk when this returns. A script the
        store does not have (it restarted) is loaded, and the calls that needed it sent again (they did
        not run)."""
        replies: list[Any] = [None] * len(calls)
        pending = list(range(len(calls)))
        for attempt in range(2):
            pipe = self.client.pipeline(transaction=False)
            for at in pending:
                script, names, args = calls[at]
                pipe.evalsha(script.sha, len(names), *names, *args)
            if fsync:
                pipe.execute_command("WAITAOF", 1, 0, 5000)
            try:
                answered = await pipe.execute(raise_on_error=False)
            except redis.RedisError as error:  # the store is away or every connection busy: 503
                raise NotDurable(f"the store could not be reached: {type(error).__name__}") from error
            if fsync:
                _synced(answered.pop())
            missing = []
            for at, reply in zip(pending, answered, strict=True):
                replies[at] = reply
                if isinstance(reply, redis.exceptions.NoScriptError) and attempt == 0:
                    missing.append(at)
            if not missing:
                break
            for script in {calls[at][0] for at in missing}:
                await self.client.script_load(script.script)
            pending = missing
        return replies

    async def release(self, created: Created) -> None:
        """Best effort: give back the job kicks an order's write claimed, when it cannot be answered."""
        claimed = [key for key, mine in ((keys.ADMIT_KICK, created.admit), (keys.WH_KICK, created.notify)) if mine]
        if claimed:
            with contextlib.suppress(redis.RedisError):  # the store is away: the kicks expire in 60 s
                await self.client.delete(*claimed)

    async def durable(self) -> None:
        """Return once every write answered before this call is on disk (NotDurable otherwise)."""
        if self.durability == "waitaof":
            await self._fsyncs(None)

    async def _fsync_round(self, waiting: list[None]) -> list[None]:
        # The AOF is written in order: one probe written after every waiting write, fsynced, covers them.
        # WAITAOF waits for its own connection's writes, so the probe and the wait go together.
        pipe = self.client.pipeline(transaction=False)
        pipe.incr(keys.FSYNC_PROBE)
        pipe.execute_command("WAITAOF", 1, 0, 5000)
        try:
            _probe, synced = await pipe.execute(raise_on_error=False)
        except redis.RedisError as error:
            raise NotDurable(str(error)) from error
        _synced(synced)
        return waiting

    async def close(self) -> None:
        await self.client.aclose()
        await self.client.connection_pool.disconnect()


def _synced(reply: Any) -> None:
    """A `WAITAOF` reply: this connection's writes are on the local disk, or NotDurable."""
    if isinstance(reply, Exception):
        raise NotDurable(f"the store could not confirm the fsync: {reply}")
    if int(reply[0]) < 1:
        raise NotDurable("the store did not confirm the fsync within 5 s")
