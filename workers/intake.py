"""Callback intake on the api's event loop: the raw bytes appended with one pipeline, and made durable
by a group commit, so concurrent callbacks share one fsync wait instead of paying one each.

The AOF is written in order, so one `WAITAOF` on a probe written after a set of appends covers them
all (the same argument as `Store.make_durable`). Every request awaits the barrier that starts after
its own append was answered; nothing is acknowledged before its bytes are on disk.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, Literal

import hiredis
import redis
import redis.asyncio

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
    principal_from,
)


class _HiredisPacking:
    """redis-py's asyncio connections pack every command in Python, about 4 µs an argument here (a
    callback's append has twenty, an order's write more); its sync client packs them with hiredis, in
    C. This does the same for the async ones: the bytes on the wire are the same."""

    def pack_command(self, *args: Any) -> list[bytes]:
        if isinstance(args[0], str):  # "CONFIG GET" and the like: the words are separate arguments
            args = (*args[0].encode().split(), *args[1:])
        try:
            return [hiredis.pack_command(args)]  # str, bytes, int, float: what this code sends
        except TypeError as error:  # as redis-py's own packer says it
            raise redis.DataError(str(error)) from error


def _packed_in_c(pool: redis.asyncio.ConnectionPool) -> None:
    """Its connections (TCP, TLS or unix socket, as the URL said) pack commands with hiredis."""
    base = pool.connection_class
    pool.connection_class = type(f"Hiredis{base.__name__}", (_HiredisPacking, base), {})


def _tcp_url(client: redis.Redis) -> str:
    """For a store built from a bare client (tests): its host, port and database over TCP."""
    given = client.connection_pool.connection_kwargs
    return f"redis://{given.get('host', '127.0.0.1')}:{given.get('port', 6379)}/{given.get('db', 0)}"


# The raw callback and its ingest kick in one command (a MULTI/EXEC pipeline of the two cost the api about
# twice the CPU of one call). KEYS: the courier's stream, its kick key; ARGV: the kick's seconds, then the
# entry's fields and values. 1 when this callback claimed the kick (the caller queues the ingest job).
APPEND_CALLBACK = """#!lua flags=no-cluster
redis.call('XADD', KEYS[1], '*', unpack(ARGV, 2))
return redis.call('SET', KEYS[2], 1, 'NX', 'EX', ARGV[1]) and 1 or 0
"""


class AsyncIntake:
    def __init__(self, store: Store) -> None:
        url = store.url or _tcp_url(store.client)  # the same server, TLS or unix socket included
        # Bounded: a burst of callbacks waits for a connection instead of opening one each.
        pool = redis.asyncio.BlockingConnectionPool.from_url(url, max_connections=64, timeout=10, socket_timeout=10)
        _packed_in_c(pool)
        self.client = redis.asyncio.Redis(connection_pool=pool)
        # INCR and WAITAOF on one connection; the timeout is longer than WAITAOF's own 5 s.
        self.probe = redis.asyncio.Redis.from_url(url, single_connection_client=True, socket_timeout=10)
        _packed_in_c(self.probe.connection_pool)
        self._create_orders = self.client.register_script(CREATE_ORDERS)
        self._principal = self.client.register_script(PRINCIPAL_SCRIPT)
        self._append = self.client.register_script(APPEND_CALLBACK)
        durability = store.durability
        self.durability: Literal["waitaof", "always"] = durability
        self._next: asyncio.Future[None] | None = None
        self._flushing = False
        self._task: asyncio.Task[None] | None = None

    async def append(self, courier: str, fields: dict[str, bytes | str]) -> bool:
        """Keep a callback durably, before any parsing; True when the caller should queue an ingest job.

        A job per callback would cost more than the intake itself (an RQ enqueue is ~1.3 ms of CPU):
        one queued job per courier drains the stream in batches (the kick key says one is queued), and
        the sweep re-drains whatever a lost job left.
        """
        flat = [value for pair in fields.items() for value in pair]
        try:
            kicked = await self._append(keys=[keys.callbacks(courier), keys.ingest_kick(courier)], args=[60, *flat])
        except redis.RedisError as error:  # the store is away or every connection busy: 503, retry later
            raise NotDurable(f"the callback could not be kept: {type(error).__name__}") from error
        await self.durable()
        return bool(kicked)

    async def principal(self, secret: str, per_minute: int) -> tuple[Principal | None, int]:
        """`Store.principal` on the event loop: an API key checked without a hop to a thread."""
        names, args = key_lookup(secret, per_minute)
        return principal_from(await self._principal(keys=names, args=args))

    async def create_orders(self, plan: OrderWrite) -> Created:
        """`Store.create_orders`' write on the event loop: one round trip, no thread. Not yet durable:
        the caller awaits `durable()` before it answers, then queues the jobs the write claimed."""
        return plan.outcome(await self._create_orders(keys=plan.keys, args=plan.args))

    async def release(self, created: Created) -> None:
        """Best effort: give back the job kicks an order's write claimed, when it cannot be answered."""
        claimed = [key for key, mine in ((keys.ADMIT_KICK, created.admit), (keys.WH_KICK, created.notify)) if mine]
        if claimed:
            with contextlib.suppress(redis.RedisError):  # the store is away: the kicks expire in 60 s
                await self.client.delete(*claimed)

    async def durable(self) -> None:
        """Return once every write answered before this call is on disk (NotDurable otherwise)."""
        if self.durability != "waitaof":
            return
        loop = asyncio.get_running_loop()
        if self._next is None:
            self._next = loop.create_future()
        waiter = self._next
        if not self._flushing:
            self._flushing = True
            self._task = loop.create_task(self._flush())  # referenced, so it is not collected mid-flight
        await asyncio.shield(waiter)  # a request that goes away must not cancel the others' wait

    async def _flush(self) -> None:
        try:
            while self._next is not None:
                waiter, self._next = self._next, None  # later arrivals wait for the next round
                try:
                    await self.probe.incr(keys.FSYNC_PROBE)
                    local, _replicas = await self.probe.execute_command("WAITAOF", 1, 0, 5000)
                    if int(local) < 1:
                        raise NotDurable("the store did not confirm the fsync within 5 s")
                    waiter.set_result(None)
                except (redis.RedisError, NotDurable) as error:
                    waiter.set_exception(error if isinstance(error, NotDurable) else NotDurable(str(error)))
                except BaseException as error:  # cancelled at shutdown, an odd reply: no waiter hangs
                    waiter.set_exception(NotDurable(f"fsync barrier failed: {type(error).__name__}"))
                    raise
        finally:
            self._flushing = False

    async def close(self) -> None:
        await self.client.aclose()
        await self.client.connection_pool.disconnect()
        await self.probe.aclose()
