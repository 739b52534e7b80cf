"""The api's store calls on its event loop, in rounds: while one round is with the store, the requests
that arrive wait and go together in the next, as one send. Callbacks, API key checks and order writes
each have their own rounds: a round of callbacks is one script, a round of order writes one script per
order; either ends with an fsync wait that the round's requests share.

Under `appendfsync always` (the default) the store fsyncs a round's writes before it answers any of
them, and the `WAITAOF` that follows in the same send costs no wait: it refuses (503) when the AOF is
off. Under `DD_DURABILITY=waitaof` (a server whose WAITAOF waits for the fsync) a probe is written
behind the round's writes, and since the AOF is written in order, one `WAITAOF` covers them all (the
same argument as `Store.make_durable`). A request is answered only once its round's `WAITAOF`
returned; nothing is acknowledged before its bytes are on disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

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


log = logging.getLogger(__name__)

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
    raised to that caller alone), or raises NotDurable for all. `most` items and `budget` (what `weigh`
    says of them, bytes) bound a round, so one command never carries an unbounded burst."""

    def __init__(
        self,
        send: Callable[[list[Item]], Awaitable[Sequence[Result | BaseException]]],
        most: int,
        weigh: Callable[[Item], int] | None = None,
        budget: int = 0,
    ) -> None:
        self._send = send
        self._most = most
        self._weigh = weigh
        self._budget = budget
        self._waiting: list[tuple[Item, asyncio.Future[Result]]] = []
        self._task: asyncio.Task[None] | None = None  # referenced, so it is not collected mid-flight

    async def __call__(self, item: Item) -> Result:
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[Result] = loop.create_future()
        self._waiting.append((item, answer))
        if self._task is None or self._task.done():  # (done: one an earlier event loop left behind)
            self._task = loop.create_task(self._run())
        return await answer  # a request that goes away cancels its own answer, no one else's

    async def _run(self) -> None:
        try:
            while self._waiting:
                cut = self._cut()  # later arrivals wait for the next round
                round_, self._waiting = self._waiting[:cut], self._waiting[cut:]
                try:
                    results = await self._send([item for item, _ in round_])
                    for (_, answer), result in zip(round_, results, strict=True):
                        if answer.done():
                            continue
                        if isinstance(result, BaseException):
                            answer.set_exception(result)
                        else:
                            answer.set_result(result)
                except NotDurable as error:
                    _fail(round_, error)
                except Exception as error:  # an odd reply, a bug: these requests fail, the next round goes on
                    log.exception("a round of %d store calls failed", len(round_))
                    _fail(round_, NotDurable(f"the store's round failed: {type(error).__name__}"))
                except BaseException:  # cancelled at shutdown: no request is left waiting
                    _fail([*round_, *self._waiting], NotDurable("the api is shutting down"))
                    self._waiting = []
                    raise
        finally:
            self._task = None

    def _cut(self) -> int:
        """How many of the waiting calls the next round takes: at least one, within both bounds."""
        if self._weigh is None:
            return self._most
        load = 0
        for taken, (item, _) in enumerate(self._waiting[: self._most]):
            load += self._weigh(item)
            if load > self._budget and taken:
                return taken
        return self._most


def _fail(waiting: list[tuple[Any, asyncio.Future[Any]]], error: NotDurable) -> None:
    """Each waiting request gets its own exception (one instance raised by many would gather all their
    tracebacks)."""
    for _, answer in waiting:
        if not answer.done():
            answer.set_exception(NotDurable(str(error)))


class AsyncIntake:
    def __init__(self, store: Store) -> None:
        self._store = store
        url = store.url or _tcp_url(store.client)  # the same server, TLS or unix socket included
        # Bounded: a burst of callbacks waits for a connection instead of opening one each.
        pool = redis.asyncio.BlockingConnectionPool.from_url(url, max_connections=64, timeout=10, socket_timeout=10)
        packed_in_c(pool)
        self.client = redis.asyncio.Redis(connection_pool=pool)  # its timeout is longer than WAITAOF's 5 s
        # Under appendfsync always the store answered the round's writes after their fsync, and WAITAOF
        # only checks the AOF is on: no probe write needed (`Store.make_durable`).
        self._probe = store.durability != "always"
        self._create_orders = self.client.register_script(CREATE_ORDERS)
        self._principal = self.client.register_script(PRINCIPAL_SCRIPT)
        self._append = self.client.register_script(APPEND_CALLBACKS)
        # Callbacks: 256 a round, and ~4 MB (a VNPost batch can be 256 KB).
        self._appends = _Rounds(self._append_round, most=256, weigh=_weight, budget=4_000_000)
        self._checks = _Rounds(self._check_round, most=128)
        self._writes = _Rounds(self._write_round, most=128)

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
        [answers], unsynced = await self._scripts([(self._append, names, args)], fsync=True)
        if isinstance(answers, redis.RedisError):
            raise NotDurable(f"the callbacks could not be kept: {answers}")
        if unsynced is not None:  # 503 for the round: its kicks go back, so the retries queue a job
            await self._give_back([names[2 * n + 1] for n, answer in enumerate(answers) if answer == 1])
            raise unsynced
        return [
            NotDurable(f"the callback could not be kept: {answer.decode(errors='replace')}")
            if isinstance(answer, bytes)
            else bool(answer)
            for answer in answers
        ]

    async def principal(self, secret: str, per_minute: int) -> tuple[Principal | None, int]:
        """`Store.principal` on the event loop: an API key checked without a hop to a thread."""
        names, args = key_lookup(secret, per_minute)
        return principal_from(await self._checks((self._principal, names, args)))

    async def _check_round(self, calls: list[tuple[AsyncScript, list[str], list[Any]]]) -> list[Any]:
        """API key checks from concurrent requests: each its own reply, or its own error."""
        replies, _unsynced = await self._scripts(calls, fsync=False)
        return replies

    async def create_orders(self, plan: OrderWrite) -> Created:
        """`Store.create_orders`' write on the event loop, on disk when it returns (NotDurable
        otherwise): the caller then queues the jobs the write claimed, and answers."""
        return await self._writes(plan)

    async def _write_round(self, plans: list[OrderWrite]) -> list[Created | Exception]:
        """Order writes from concurrent requests, each its own script, with one fsync wait after them in
        the same send. When the fsync is not confirmed, nothing is answered and the job kicks the writes
        claimed are given back (best effort: else they expire in 60 s and the sweep queues the jobs)."""
        calls = [(self._create_orders, plan.keys, plan.args) for plan in plans]
        replies, unsynced = await self._scripts(calls, fsync=True)
        outcomes: list[Created | Exception] = []
        for plan, reply in zip(plans, replies, strict=True):
            try:
                outcomes.append(reply if isinstance(reply, Exception) else plan.outcome(reply))
            except Exception as error:  # a conflict, an odd record: that request's answer, not its round's
                outcomes.append(error)
        if unsynced is not None:
            await self._give_back(
                [
                    key
                    for created in outcomes
                    if isinstance(created, Created)
                    for key, mine in ((keys.ADMIT_KICK, created.admit), (keys.WH_KICK, created.notify))
                    if mine
                ]
            )
            raise unsynced
        return outcomes

    async def _give_back(self, kicks: list[str]) -> None:
        """Best effort: the job kicks a round claimed and cannot answer for (else they expire in 60 s,
        and the sweep queues the jobs meanwhile)."""
        if kicks:
            with contextlib.suppress(redis.RedisError):  # the store is away
                await self.client.delete(*kicks)

    async def _scripts(
        self, calls: list[tuple[AsyncScript, list[str], list[Any]]], *, fsync: bool
    ) -> tuple[list[Any], NotDurable | None]:
        """Scripts in one pipeline: one write to the socket, one read, for the lot; each reply is its
        call's, an error included. With `fsync`, a `WAITAOF` follows them on the same connection; the
        second value says when it did not confirm that they are on disk. A script the store does not have
        (it restarted) is loaded, and the calls that needed it sent again (they did not run)."""
        if fsync and not self._store.checked:  # the store was not up when the api started: check it now
            await asyncio.to_thread(self._store.require_checked)  # (NotDurable: this round is refused)
        replies: list[Any] = [None] * len(calls)
        pending = list(range(len(calls)))
        unsynced: NotDurable | None = None
        for attempt in range(2):
            pipe = self.client.pipeline(transaction=False)
            for at in pending:
                script, names, args = calls[at]
                pipe.evalsha(script.sha, len(names), *names, *args)
            if fsync:
                if self._probe:  # WAITAOF waits for this connection's writes, and a replay wrote none
                    pipe.incr(keys.FSYNC_PROBE)
                pipe.execute_command("WAITAOF", 1, 0, 5000)
            try:
                answered = await pipe.execute(raise_on_error=False)
            except redis.RedisError as error:  # the store is away or every connection busy: 503
                raise NotDurable(f"the store could not be reached: {type(error).__name__}") from error
            if fsync:
                unsynced = unsynced or _unsynced(answered.pop())
                if self._probe:
                    answered.pop()  # the probe's count
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
        return replies, unsynced

    async def close(self) -> None:
        await self.client.aclose()
        await self.client.connection_pool.disconnect()


def _weight(callback: tuple[str, list[bytes | str]]) -> int:
    return sum(len(value) for value in callback[1])


def _unsynced(reply: Any) -> NotDurable | None:
    """What a `WAITAOF` reply says: None when this connection's writes are on the local disk."""
    if isinstance(reply, Exception):
        return NotDurable(f"the store could not confirm the fsync: {reply}")
    if int(reply[0]) < 1:
        return NotDurable("the store did not confirm the fsync within 5 s")
    return None
