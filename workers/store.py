"""The store of record: orders, their events, API keys and raw callbacks in Redis, acknowledged only when durable."""

from __future__ import annotations

import functools
import hashlib
import logging
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as default
from datetime import datetime, timedelta
from typing import Any, Literal

import hiredis
import msgspec
import redis
import redis.asyncio
from msgspec.structs import astuple
from redis.client import EMPTY_RESPONSE, Pipeline

try:  # what `_replies` reads with (redis-py's own hiredis parser); without it, `read_response`
    from redis._parsers.hiredis import NOT_ENOUGH_DATA as _NOT_ENOUGH_DATA
    from redis._parsers.hiredis import _HiredisParser
except ImportError:  # another redis-py
    _NOT_ENOUGH_DATA = None
    _HiredisParser = type(None)

from contracts.base import Record
from contracts.calendar import VIETNAM_TZ, WorkingCalendar
from contracts.config import Centre
from contracts.events import Event, Source, Timeline, reconcile
from contracts.money import Charge, merge
from contracts.notices import notice_for
from contracts.orders import Order
from contracts.reports import Increments, counts, counts_alike, difference
from contracts.statuses import INTERNAL, TERMINAL, Status
from contracts.webhooks import Message
from workers import audit, keys, notices, webhooks

log = logging.getLogger(__name__)
_PACK = msgspec.msgpack.Encoder()
_ORDER_JSON = msgspec.json.Decoder(Order)  # orders written before the MessagePack layout
_ORDER_UNPACK = msgspec.msgpack.Decoder(Order)


def _local_order(order: Order) -> Order:
    if not order.charges:
        return order
    # MessagePack keeps instants in UTC: the courier's money times are shown in Hà Nội time.
    charges = tuple(msgspec.structs.replace(c, at=c.at.astimezone(VIETNAM_TZ)) for c in order.charges)
    return msgspec.structs.replace(order, charges=charges)


class _StoredEvent(msgspec.Struct, array_like=True, frozen=True):
    """An event as the store kept it in a per-order hash (the hash field was its key): MessagePack,
    fields by position. Read for orders written before events moved into the order's record."""

    status: Status | None
    courier: str
    raw_status: str
    raw_text: str
    reason_code: str | None
    reason: str | None
    event_time: datetime
    received_at: datetime
    location: str | None
    source: Source
    tracking_code: str | None
    unconfirmed: bool = False


class _KeptEvent(_StoredEvent, frozen=True):
    """An event inside its order's record: the stored fields by position, then its key.
    Positional: a new field goes at the end with a default, or stored events no longer decode."""

    key: str = ""


class _Record(msgspec.Struct, array_like=True, frozen=True):
    """What `dd:order:<id>` holds: the order (fields by name, so it can grow) and all its events,
    MessagePack, zlib-compressed once the order is finished. One key and one read per order: 0.9 KB for
    a delivered order with eight events where the order and an events hash took 2.4 KB
    (docs/BENCHMARKS.md, memory)."""

    order: Order
    events: list[_KeptEvent]


class _RecordHead(msgspec.Struct, array_like=True, frozen=True):
    """A record read for its order alone: the events stay undecoded bytes."""

    order: Order
    events: msgspec.Raw


_RECORD = msgspec.msgpack.Decoder(_Record)
_RECORD_HEAD = msgspec.msgpack.Decoder(_RecordHead)
_ORDER_JSON = msgspec.json.Decoder(Order)  # orders written before the MessagePack layout
_ORDER_UNPACK = msgspec.msgpack.Decoder(Order)  # orders written before events joined the record
_UNPACK = msgspec.msgpack.Decoder(_StoredEvent)
_EVENT_JSON = msgspec.json.Decoder(Event)  # events written before the MessagePack layout
if Event.__struct_fields__ != ("key", *_StoredEvent.__struct_fields__):  # what `pack_record` relies on
    raise TypeError("Event's fields after its key must be _StoredEvent's, in the same order")
# A record's first byte says how it is kept: zlib's, or a MessagePack array of two (a plain record); neither
# is the first byte of the MessagePack map or the JSON of the old layouts. (A third field in `_Record`
# would make it 0x93: read both then.) Code before the plain records reads only zlib: no rollback past
# them once an order on its way was written.
_ZLIB = b"\x78"
_PLAIN = b"\x92"


def pack_record(order: Order, events: Sequence[Event]) -> bytes:
    """The record, compressed once the order is finished. An order on its way is rewritten at every
    step, and compressing it each time was a fifth of ingest's CPU; a finished one stays for years, and
    those are nearly all of the store (0.9 KB compressed against 2.3 KB with eight events)."""
    # Each event as a tuple in `_KeptEvent`'s positions (Event's fields with its key moved last): the
    # bytes `_Record` would give, without a struct built per event (8 µs against 20 for eight events).
    packed = _PACK.encode((order, [(*astuple(event)[1:], event.key) for event in events]))
    return zlib.compress(packed, 6) if order.status in TERMINAL else packed


def _event_of(stored: _StoredEvent, key: str) -> Event:
    """An event as kept, in its record or (the earlier layout) its hash, with its key."""
    return Event(  # field by field: a dict of getattr() cost twice as much, for every event of every read
        key=key,
        status=stored.status,
        courier=stored.courier,
        raw_status=stored.raw_status,
        raw_text=stored.raw_text,
        reason_code=stored.reason_code,
        reason=stored.reason,
        # MessagePack keeps instants in UTC: a courier's time is shown in Hà Nội time, as couriers give it.
        event_time=stored.event_time.astimezone(VIETNAM_TZ),
        received_at=stored.received_at,
        location=stored.location,
        source=stored.source,
        tracking_code=stored.tracking_code,
        unconfirmed=stored.unconfirmed,
    )


@functools.lru_cache(maxsize=512)
def _read_record(raw: bytes) -> tuple[Order, tuple[Event, ...]]:
    """A record decoded, remembered by its bytes: ingest reads a batch's orders to find them, then again
    under WATCH to change them, and both reads nearly always return the same bytes. Keyed by content, so
    a record that changed is decoded afresh. What it returns is shared: never changed in place (orders
    and events are replaced whole, `msgspec.structs.replace`)."""
    record = _RECORD.decode(zlib.decompress(raw) if raw[:1] == _ZLIB else raw)
    return _local_order(record.order), tuple(_event_of(kept, kept.key) for kept in record.events)


def unpack_record(raw: bytes) -> tuple[Order, list[Event] | None]:
    """The order and its events; events None for an order of the old layout (its events are in the
    `dd:order:<id>:events` hash, moved into the record by its next change)."""
    if raw[:1] in (_ZLIB, _PLAIN):
        order, events = _read_record(raw)
        return order, list(events)
    if raw[:1] == b"{":
        return _ORDER_JSON.decode(raw), None
    return _local_order(_ORDER_UNPACK.decode(raw)), None


def unpack_order(raw: bytes) -> Order:
    """The order of a record, without making its events (reading an order alone)."""
    if raw[:1] in (_ZLIB, _PLAIN):
        return _local_order(_RECORD_HEAD.decode(zlib.decompress(raw) if raw[:1] == _ZLIB else raw).order)
    return unpack_record(raw)[0]


def unpack_event(key: bytes, raw: bytes) -> Event:
    """An event of the old layout, from its order's events hash."""
    if raw[:1] == b"{":
        return _EVENT_JSON.decode(raw)
    return _event_of(_UNPACK.decode(raw), key.decode())


ENCODE = msgspec.json.Encoder().encode


class NotDurable(RuntimeError):
    """The store did not confirm the write on disk in time; nothing may be acknowledged."""


class UnknownOrder(LookupError):
    pass


class IdempotencyConflict(ValueError):
    """The Idempotency-Key was used before with a different request body."""


SCOPES = ("orders:read", "orders:write", "webhooks:manage", "admin")
IDEMPOTENCY_SECONDS = 24 * 3600


class Principal(Record, frozen=True, kw_only=True):
    """Who an API key speaks for: one centre, with scopes; `admin` sees every centre's orders."""

    centre: str
    scopes: tuple[str, ...] = ("orders:read", "orders:write", "webhooks:manage")
    user: str = ""  # the console account behind a session (empty for an API key)

    @property
    def actor(self) -> str:
        """Who acted, for the audit log and the decisions record: the clerk, else the centre's key."""
        return f"{self.centre}/{self.user}" if self.user else self.centre

    @property
    def admin(self) -> bool:
        return "admin" in self.scopes

    def may(self, scope: str) -> bool:
        return self.admin or scope in self.scopes


class Replay(Record, frozen=True, kw_only=True):
    """What an Idempotency-Key remembers: the orders it created and the first answer, byte for byte."""

    order_ids: list[str]
    fingerprint: str
    response: bytes


PRINCIPAL = msgspec.json.Decoder(Principal)
IDEM = msgspec.json.Decoder(Replay)


def key_lookup(secret: str, per_minute: int) -> tuple[list[str], list[int]]:
    """What checking an API key reads (`PRINCIPAL_SCRIPT`): its record and, when requests are counted,
    this minute's counter."""
    found = digest(secret)
    if per_minute <= 0:
        return [keys.api_key(found)], []
    return [keys.api_key(found), keys.rate(f"key:{found[:24]}", int(time.time() // 60))], [120]


# The key's record and this minute's count in one command (a pipeline of three cost the api ~110 µs of
# CPU per request, a script ~60). The counter lives in the store, so every api replica shares it.
PRINCIPAL_SCRIPT = """#!lua flags=no-cluster
local count = 0
if KEYS[2] then
  count = redis.call('INCR', KEYS[2])
  if count == 1 then redis.call('EXPIRE', KEYS[2], ARGV[1]) end
end
return {redis.call('GET', KEYS[1]) or '', count}
"""


def principal_from(reply: list[Any]) -> tuple[Principal | None, int]:
    raw, count = reply
    return (PRINCIPAL.decode(raw) if raw else None), int(count)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


_NO_EVENTS = Timeline(status=Status.ACCEPTED, entries=())


# Creating orders in one round trip, atomically (a script runs alone, as MULTI/EXEC does, and its writes
# reach the AOF together, wrapped in MULTI/EXEC): the Idempotency-Key is checked and the orders, their
# first jobs, counters, audit entries and Idempotency record written with nothing in between, which
# WATCH/GET then MULTI/EXEC took four round trips and a retry loop to do. KEYS: the Idempotency-Key
# record ('' for none), the centre's webhook endpoints. ARGV[1]: the commands (`command_blob`), each a
# flag byte and the command in RESP: `a` runs always, `w` only when the centre has an endpoint (no message is
# kept that nobody could receive), `k`/`K` likewise with the reply kept (the kicks: 1 when this call
# claimed the job). One blob, not one argument each: the client's packing of ~90 arguments was the
# largest single cost of an order in the api. The commands name keys the script does not declare: fine
# for the one-node store, refused by a cluster (`no-cluster`). Declared flags also make a store that is
# out of memory refuse the whole script before it starts, rather than fail it half-way.
CREATE_ORDERS = """#!lua flags=no-cluster
if KEYS[1] ~= '' then
  local seen = redis.call('GET', KEYS[1])
  if seen then return {seen} end
end
local listening = KEYS[2] ~= '' and redis.call('EXISTS', KEYS[2]) == 1
local replies = {'', listening and 1 or 0}
local blob, pos = ARGV[1], 1
local function number()  -- a RESP header at pos ('*3' or '$5'): its number, pos after its CRLF
  local crlf = string.find(blob, '\\r\\n', pos + 1, true)
  local value = tonumber(string.sub(blob, pos + 1, crlf - 1))
  pos = crlf + 2
  return value
end
while pos <= #blob do
  local flag = string.sub(blob, pos, pos)
  pos = pos + 1
  local command = {}
  for j = 1, number() do
    local size = number()
    command[j] = string.sub(blob, pos, pos + size - 1)
    pos = pos + size + 2
  end
  local reply = false
  if flag == 'a' or flag == 'k' or listening then reply = redis.call(unpack(command)) end
  if flag == 'k' or flag == 'K' then replies[#replies + 1] = reply and 1 or 0 end
end
return replies
"""


def command_blob(commands: Iterable[tuple[bytes, Sequence[Any]]]) -> bytes:
    """Commands for `CREATE_ORDERS`: per command its flag byte, then the command as the wire has it
    (RESP, packed by hiredis in C, numbers as redis-py sends them; packing them in Python cost ~50 µs
    an order)."""
    try:
        return b"".join([flag + hiredis.pack_command(tuple(command)) for flag, command in commands])
    except TypeError as error:  # as redis-py's own packer says it
        raise redis.DataError(str(error)) from error


@dataclass(frozen=True)
class OrderChange:
    """What `Store.update_orders` does to one order: events and money facts to add, fields to change, and
    commands (`also`) for the same transaction, run only when the order changes."""

    order_id: str
    events: Sequence[Event] = ()
    charges: Sequence[Charge] = ()
    changes: Mapping[str, Any] = default(default_factory=dict)
    also: Callable[[Pipeline], object] | None = None


@dataclass(frozen=True)
class _Plan:
    order: Order  # after the change (the order as it was when nothing changes)
    events: list[Event]  # its events after the change
    write: Callable[[Pipeline], None] | None  # None: nothing to write
    messages: list[Message]
    noticed: bool


class Created(msgspec.Struct, frozen=True):
    replay: Replay | None
    admit: bool  # this write claimed the admission kick: queue the drain once it is on disk
    notify: bool  # this write staged webhook messages and claimed their kick


class OrderWrite(msgspec.Struct, frozen=True):
    keys: list[str]
    args: list[Any]
    fingerprint: str | None
    admits: bool

    def outcome(self, reply: list[Any]) -> Created:
        """The script's reply: the stored Idempotency record (a replay or a conflict), or the kicks claimed."""
        if reply[0]:
            replay = IDEM.decode(reply[0])
            if replay.fingerprint != self.fingerprint:
                raise IdempotencyConflict("this Idempotency-Key was used with a different request body")
            return Created(replay=replay, admit=False, notify=False)
        kicks = [bool(r) for r in reply[2:]]
        admit = kicks.pop(0) if self.admits else False
        return Created(replay=None, admit=admit, notify=bool(reply[1]) and kicks[0])


class _HiredisPacking:
    """Commands packed by hiredis in one C call. redis-py's asyncio connections pack every command in
    Python, about 4 µs an argument here (an order's write has ~90; its sync ones already use hiredis).
    The bytes on the wire are the same."""

    def pack_command(self, *args: Any) -> list[bytes]:
        if isinstance(args[0], str):  # "CONFIG GET" and the like: the words are separate arguments
            args = (*args[0].encode().split(), *args[1:])
        try:
            return [hiredis.pack_command(args)]  # str, bytes, int, float: what this code sends
        except TypeError as error:  # as redis-py's own packer says it
            raise redis.DataError(str(error)) from error


_PACKING = _HiredisPacking()
_MULTI = hiredis.pack_command(("MULTI",))
_EXEC = hiredis.pack_command(("EXEC",))


def execute_queued(pipe: Pipeline) -> None:
    """`pipe.execute()` of a transaction whose replies nobody reads, for a quarter to a third of its CPU:
    MULTI, the queued commands and EXEC are packed by hiredis, a C call each, sent in one write, and
    their replies read off without redis-py's per-command parsing and reply callbacks (ingest's ~3
    commands a step cost 27–35 µs of CPU that way, 6–10 µs this way). The same commands reach the server
    in the same MULTI/EXEC: WatchError when a watched key changed, the first error raised as
    `execute()` would, and the connection dropped if anything else breaks half-way (it could be out of step);
    a broken connection under WATCH is a WatchError, as `execute()` makes it, so the caller reads again
    (the store restarting must not fail the batch: it may have run the EXEC, and the change is idempotent).
    """
    # As `execute()`: a command redis-py answers itself (`mget([])`) is not sent, scripts are loaded.
    commands = [args for args, options in pipe.command_stack if EMPTY_RESPONSE not in options]
    if pipe.scripts:
        pipe.load_scripts()
    connection = pipe.connection
    if connection is None:  # not watching: take one as `execute()` would
        connection = pipe.connection = pipe.connection_pool.get_connection()
    try:
        blob = b"".join([_MULTI, *(_PACKING.pack_command(*args)[0] for args in commands), _EXEC])
    except BaseException:
        pipe.reset()
        raise
    try:
        connection.send_packed_command([blob])
        *queued, replies = _replies(connection, len(commands) + 2)  # MULTI's OK, QUEUED for each, EXEC's
        # A command refused when queued aborts the EXEC: its error is the one to raise.
        refused = [reply for reply in queued if isinstance(reply, redis.ResponseError)]
        if isinstance(replies, redis.ResponseError):
            raise refused[0] if refused else replies
        pipe.watching = False  # EXEC ends the WATCH
        if replies is None:
            raise redis.WatchError("Watched variable changed.")
        if len(replies) != len(commands):  # out of step with the server: as `execute()`, drop the connection
            connection.disconnect()
            raise redis.ResponseError("Wrong number of response items from pipeline execution")
        failed = next((reply for reply in replies if isinstance(reply, redis.ResponseError)), None)
        if failed is not None:
            raise failed
    except (redis.ResponseError, redis.WatchError):
        raise
    except (redis.ConnectionError, redis.TimeoutError) as error:
        connection.disconnect()
        if pipe.watching:  # as `execute()` says it: the WATCH died with the connection, read and try again
            raise redis.WatchError(f"the connection broke during the transaction: {error}") from error
        raise
    except BaseException:
        connection.disconnect()  # replies may be left unread on it
        raise
    finally:
        pipe.reset()


def _replies(connection: redis.Connection, count: int) -> list[Any]:
    """The next `count` replies, an error reply as a value (a `ResponseError`). Read off hiredis's
    reader as `read_response` reads them (a push notification handled and passed over, as there), without
    its ~1 µs of Python a reply (a step of ingest's transaction has ~4); through `read_response` where
    the parser is another."""
    parser = getattr(connection, "_parser", None)  # (a client-side caching connection has none of its own)
    reader = getattr(parser, "_reader", None)
    if _NOT_ENOUGH_DATA is None or not isinstance(parser, _HiredisParser) or reader is None:
        return [_reply(connection) for _ in range(count)]
    pushed = getattr(parser, "_hiredis_PushNotificationType", None) or ()  # RESP3's pushes, when hiredis has them
    replies: list[Any] = []
    try:
        while len(replies) < count:
            reply = reader.gets()
            if reply is _NOT_ENOUGH_DATA:
                parser.read_from_socket()
            elif isinstance(reply, redis.ConnectionError):  # as `read_response`: the reader's own verdict,
                raise reply
            elif pushed and isinstance(reply, pushed):  # not a reply: for its handler, as `read_response` does
                parser.handle_push_response(reply)
            elif isinstance(reply, list) and reply and isinstance(reply[0], redis.ConnectionError):
                raise reply[0]  # and the same for an EXEC's first reply (LOADING and the like)
            else:
                replies.append(reply)
    except OSError as error:  # as `read_response` says it (socket timeouts are its TimeoutError already)
        raise redis.ConnectionError(f"Error while reading from the store: {error.args}") from error
    return replies


def _reply(connection: redis.Connection) -> Any:
    try:
        return connection.read_response()
    except redis.ResponseError as error:
        return error


def packed_in_c(pool: redis.asyncio.ConnectionPool) -> None:
    """Its connections (TCP, TLS or unix socket, as the URL said) pack commands with hiredis."""
    base = pool.connection_class
    if not issubclass(base, _HiredisPacking):  # once, however many stores share the client
        pool.connection_class = type(f"Hiredis{base.__name__}", (_HiredisPacking, base), {})


class Store:
    def __init__(
        self,
        client: redis.Redis,
        *,
        durability: Literal["waitaof", "always"] = "always",
        url: str | None = None,
        centres: Mapping[str, Centre] | None = None,
        calendar: WorkingCalendar | None = None,
    ) -> None:
        self.client = client
        self.durability = durability
        self.checked = False  # check_durability has read the server's policy
        self.url = url  # how the client was reached: an async client of the same server uses it
        # What the report counters need to know: each centre's address (for J+n) and the calendar.
        self.centres: Mapping[str, Centre] = centres or {}
        self.calendar = calendar or WorkingCalendar()
        self._create_orders = client.register_script(CREATE_ORDERS)
        self._principal = client.register_script(PRINCIPAL_SCRIPT)

    # -- report counters --------------------------------------------------------------------------
    def counts(self, order: Order, timeline: Timeline) -> Increments:
        return counts(order, timeline, self.centres.get(order.centre), self.calendar)

    @staticmethod
    def count(pipe: Pipeline, centre: str, changes: Mapping[tuple[str, str], int]) -> None:
        for (month, field), amount in changes.items():
            pipe.pipeline_execute_command("HINCRBY", keys.report(centre, month), field, amount)

    # -- durability -------------------------------------------------------------------------------
    def check_durability(self) -> None:
        """Refuse (NotDurable) a store that would let an acknowledged write sit unsynced: under `always`
        one that does not run `appendfsync always` with `no-appendfsync-on-rewrite no`; under `waitaof`,
        Valkey under `everysec`, whose WAITAOF answers before the fsync (README, Durability). A server
        that does not let us read its configuration (a managed one) is taken at its word, said in the
        log; one that is not up yet is checked by the first `make_durable`, or the api's first durable
        round, after it is (both refuse to go on unchecked)."""
        try:
            found = self.client.config_get("appendfsync") | self.client.config_get("no-appendfsync-on-rewrite")
            server = self.client.info("server")
        except redis.ConnectionError as error:
            log.warning("cannot check the store's fsync policy yet (%s)", type(error).__name__)
            return
        except redis.ResponseError as error:
            log.warning("cannot read the store's appendfsync (%s): durability %s is assumed", error, self.durability)
            self.checked = True
            return
        fsync, on_rewrite = found.get("appendfsync"), found.get("no-appendfsync-on-rewrite")
        if self.durability == "always" and (fsync != "always" or on_rewrite != "no"):
            raise NotDurable(
                f"DD_DURABILITY=always needs the store to run appendfsync always and no-appendfsync-on-rewrite"
                f" no (it runs {fsync} and {on_rewrite})"
            )
        if self.durability == "waitaof" and fsync != "always" and "valkey_version" in server:
            raise NotDurable(f"Valkey answers WAITAOF before its fsync under appendfsync {fsync}: run it always")
        self.checked = True

    def require_checked(self) -> None:
        """`check_durability` if it has not read the store's policy yet (the store was not up when this
        process started); NotDurable while it still cannot (unreachable, or loading its AOF)."""
        if not self.checked:
            self.check_durability()
            if not self.checked:
                raise NotDurable("the store's fsync policy could not be checked yet")

    def make_durable(self) -> None:
        """Block until every write made so far is fsynced, else raise NotDurable.

        Under `appendfsync always` they are already (the store answered each write after its fsync), and
        a `WAITAOF` of its own checks that the AOF is still on (one round trip, no wait). Otherwise WAITAOF covers
        only the writes of the connection that sends it, and the pool may hand us another one than the
        write used. So the same connection first writes a probe: the AOF is sequential, so once the
        probe is fsynced, every write acknowledged before it is too.
        """
        self.require_checked()
        pool = self.client.connection_pool
        connection = pool.get_connection()
        try:
            if self.durability != "always":  # (under always, the probe would cost a write and its fsync)
                connection.send_command("INCR", keys.FSYNC_PROBE)
                connection.read_response()
            connection.send_command("WAITAOF", 1, 0, 5000)
            local, _replicas = connection.read_response()
        except redis.ResponseError as error:  # AOF off on an external server: refuse to pretend
            raise NotDurable(str(error)) from error
        finally:
            pool.release(connection)
        if int(local) < 1:
            raise NotDurable("the store did not fsync the write within 5 s")

    def ping(self) -> bool:
        return bool(self.client.ping())

    # -- API keys ---------------------------------------------------------------------------------
    def save_api_key(self, secret: str, principal: Principal) -> None:
        self.client.set(keys.api_key(digest(secret)), ENCODE(principal))
        self.make_durable()

    def principal(self, secret: str, per_minute: int = 0) -> tuple[Principal | None, int]:
        """The key's principal and how many requests it made this minute (counted when `per_minute`),
        in one round trip: the count lives in the store, so every api replica shares it."""
        names, args = key_lookup(secret, per_minute)
        return principal_from(self._principal(keys=names, args=args))

    # -- orders -----------------------------------------------------------------------------------
    def create_orders(
        self,
        orders: Sequence[Order],
        *,
        due_at: float,
        enqueue: Callable[[Pipeline, str], object],
        idempotency: tuple[str, str] | None = None,
        response: bytes = b"",
        durable: bool = True,
        also: Callable[[Pipeline], object] | None = None,
    ) -> Replay | None:
        """Store the orders (one, or a round trip's two legs) and their first jobs atomically, in one
        round trip (`OrderWrite`); then, once on disk, queue the admission and webhook jobs it claimed.

        With an Idempotency-Key (key, body fingerprint), Stripe's rules: the same key and body within
        24 h gets back the first `response` (a Replay); another body is a conflict; concurrent
        duplicates create one set of orders. None: the orders are new. `durable=False` (bulk loads in
        tests and the benchmark) skips the fsync wait and queues the claimed jobs at once.
        """
        plan = self.order_write(orders, due_at=due_at, enqueue=enqueue, idempotency=idempotency,
                                response=response, also=also)  # fmt: skip
        outcome = plan.outcome(self._create_orders(keys=plan.keys, args=plan.args))
        if durable:  # a replay too: the first answer may have been a 503 before the fsync
            self.make_durable()
        if outcome.admit or outcome.notify:
            from workers.dispatch import queue_claimed  # dispatch imports the store

            queue_claimed(self.client, outcome)
        return outcome.replay

    def order_write(
        self,
        orders: Sequence[Order],
        *,
        due_at: float,
        enqueue: Callable[[Pipeline, str], object],
        idempotency: tuple[str, str] | None = None,
        response: bytes = b"",
        also: Callable[[Pipeline], object] | None = None,
    ) -> OrderWrite:
        """What creating the orders writes, as one script call (for the sync or the async client)."""
        centre = orders[0].centre
        now = orders[0].created_at
        writes = self.client.pipeline(transaction=False)  # a recorder only: never executed
        # The write's own commands are recorded as the wire has them (as ingest's steps are: redis-py's
        # `set` and `zadd` check their options for ~2–4 µs a command); the helpers it calls use the methods.
        record = writes.pipeline_execute_command
        for order in orders:
            record("SET", keys.order(order.id), pack_record(order, ()))
            record("ZADD", keys.centre_orders(centre), order.created_at.timestamp(), order.id)
            record("SADD", keys.dossier(centre, order.dossier_code), order.id)
            if not order.on_hold:
                record("ZADD", keys.DUE, due_at, order.id)
                enqueue(writes, order.id)
            self.count(writes, centre, self.counts(order, _NO_EVENTS))
        if also is not None:
            also(writes)
        for order in orders:
            record("PUBLISH", keys.changes(centre), f"{order.id} {order.status}")
            audit.stage(writes, "order.created", at=now, order=order.id, centre=centre, leg=order.kind,
                        courier=order.courier, replaces=order.replaces)  # fmt: skip
        if idempotency is not None:
            replay = Replay(order_ids=[o.id for o in orders], fingerprint=idempotency[1], response=response)
            record("SET", keys.idempotency(centre, idempotency[0]), ENCODE(replay), "EX", IDEMPOTENCY_SECONDS)
        staged = self.client.pipeline(transaction=False)  # kept only when the centre has an endpoint
        webhooks.stage(staged, [m for order in orders for m in webhooks.order_messages(None, order, now)])
        commands = [(b"a", command) for command, _options in writes.command_stack]
        commands += [(b"w", command) for command, _options in staged.command_stack]
        admit = any(not order.on_hold for order in orders)
        if admit:
            commands.append((b"k", ("SET", keys.ADMIT_KICK, 1, "NX", "EX", 60)))
        commands.append((b"K", ("SET", keys.WH_KICK, 1, "NX", "EX", webhooks.LEASE_SECONDS)))
        return OrderWrite(
            keys=[keys.idempotency(centre, idempotency[0]) if idempotency else "", keys.wh_endpoints(centre)],
            args=[command_blob(commands)],
            fingerprint=idempotency[1] if idempotency else None,
            admits=admit,
        )

    def dossier_orders(self, centre: str, dossier_code: str) -> list[Order]:
        ids = sorted(m.decode() for m in self.client.smembers(keys.dossier(centre, dossier_code)))
        return [order for order in (self.get_order(i) for i in ids) if order is not None]

    def get_order(self, order_id: str) -> Order | None:
        raw = self.client.get(keys.order(order_id))
        return unpack_order(raw) if raw else None

    def events(self, order_id: str) -> list[Event]:
        raw = self.client.get(keys.order(order_id))
        if raw is None:
            return []
        _order, events = unpack_record(raw)
        if events is not None:
            return events
        old = self._old_events(self.client, order_id)
        if not old:  # moved into the record meanwhile (its hash deleted): read the record again
            again = self.client.get(keys.order(order_id))
            moved = unpack_record(again)[1] if again else None
            return moved if moved is not None else old
        return old

    @staticmethod
    def _old_events(client: redis.Redis | Pipeline, order_id: str) -> list[Event]:
        return [unpack_event(key, raw) for key, raw in client.hgetall(keys.events(order_id)).items()]

    def batches(self, size: int = 500) -> Iterator[dict[str, tuple[Order, list[Event]]]]:
        """Every stored order with its events, `size` at a time (a full scan: for rebuilds and backfills)."""
        keys_found = self.client.scan_iter(match=f"{keys.PREFIX}:order:*", count=1000)
        order_ids = [key.decode().split(":", 2)[2] for key in keys_found if key.count(b":") == 2]
        for start in range(0, len(order_ids), size):
            yield self.load(order_ids[start : start + size])

    def load(self, order_ids: Sequence[str]) -> dict[str, tuple[Order, list[Event]]]:
        """Orders with their events, in one round trip (two when some are of the old layout)."""
        raws = self.client.mget([keys.order(i) for i in order_ids]) if order_ids else []
        found: dict[str, tuple[Order, list[Event]]] = {}
        old: list[tuple[str, Order]] = []
        for order_id, raw in zip(order_ids, raws, strict=True):
            if raw is None:
                continue
            order, events = unpack_record(raw)
            if events is None:
                old.append((order_id, order))
            else:
                found[order_id] = (order, events)
        if old:
            with self.client.pipeline(transaction=False) as pipe:
                for order_id, _order in old:
                    pipe.hgetall(keys.events(order_id))
                hashes = pipe.execute()
            for (order_id, order), fields in zip(old, hashes, strict=True):
                if not fields:  # moved into the record meanwhile: read it again
                    again = self.client.get(keys.order(order_id))
                    if again is not None and unpack_record(again)[1] is not None:
                        moved_order, moved = unpack_record(again)
                        found[order_id] = (moved_order, moved or [])
                        continue
                found[order_id] = (order, [unpack_event(k, v) for k, v in fields.items()])
        return found

    def timeline(self, order_id: str) -> Timeline:
        return self.timeline_of(self.events(order_id))

    @staticmethod
    def timeline_of(events: list[Event]) -> Timeline:
        return reconcile(Status.ACCEPTED, events)

    def update_order(
        self,
        order_id: str,
        *,
        now: datetime,
        events: Sequence[Event] = (),
        charges: Sequence[Charge] = (),
        also: Callable[[Pipeline], object] | None = None,
        durable: bool = True,
        redact_events: bool = False,
        **changes: Any,
    ) -> Order:
        """Add events (deduplicated) and money facts, apply field changes, and re-derive the status, atomically.

        `durable=False` skips the fsync wait: for a caller that acknowledges nothing to anyone until
        its own `make_durable` (ingest applies a batch, then waits once, then acks the batch).

        `also` adds commands (a job to enqueue) to the same MULTI/EXEC; it runs only when the order
        changes, so a repeated call does not enqueue twice.
        """
        change = OrderChange(order_id, events=events, charges=charges, changes=changes, also=also)
        [updated] = self.update_orders([change], now=now, durable=durable, redact_events=redact_events)
        if updated is None:
            raise UnknownOrder(order_id)
        return updated

    def update_orders(
        self,
        batch: Sequence[OrderChange],
        *,
        now: datetime,
        durable: bool = True,
        redact_events: bool = False,
        tries: int | None = None,
    ) -> list[Order | None]:
        """`update_order` for several changes in one transaction: WATCH of their orders, one MGET, one
        MULTI/EXEC, where one at a time took four round trips each (ingest applies its batch so). Changes
        to the same order apply one after the other, each as its own step (its status change, messages,
        notices and audit entry), as separate calls would. None for an order that does not exist.
        `tries`: give up (WatchError) after that many attempts that another writer interrupted, instead
        of trying until one goes through."""
        if not batch:
            return []
        ids = list(dict.fromkeys(change.order_id for change in batch))
        order_keys = [keys.order(order_id) for order_id in ids]
        attempt = 0
        with self.client.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(*order_keys)
                    # (In WATCH mode the pipeline answers at once, like the client.)
                    raws = pipe.mget(order_keys)
                    state: dict[str, tuple[Order, list[Event], bool] | None] = {}
                    for order_id, raw in zip(ids, raws, strict=True):
                        if raw is None:
                            state[order_id] = None
                            continue
                        order, kept = unpack_record(raw)
                        old_layout = kept is None
                        state[order_id] = (
                            order,
                            self._old_events(pipe, order_id) if kept is None else kept,
                            old_layout,
                        )
                    listens = functools.cache(functools.partial(webhooks.listening, pipe))  # per centre, once
                    plans: list[_Plan | None] = []
                    for step, change in enumerate(batch):
                        found = state[change.order_id]
                        if found is None:
                            plans.append(None)
                            continue
                        # Each change a microsecond after the one before: its notices, messages and audit
                        # entries keep the order of the changes, as separate calls' clocks would give.
                        at = now + timedelta(microseconds=step)
                        plan = self._plan(change, *found, now=at, redact_events=redact_events, listens=listens)
                        plans.append(plan)
                        state[change.order_id] = (plan.order, plan.events, found[2] and plan.write is None)
                    writes = [plan.write for plan in plans if plan is not None and plan.write is not None]
                    if not writes:
                        pipe.unwatch()
                        break
                    pipe.multi()
                    for write in writes:
                        write(pipe)
                    execute_queued(pipe)
                    break
                except redis.WatchError:
                    attempt += 1
                    if tries is not None and attempt >= tries:
                        raise
        written = [plan for plan in plans if plan is not None and plan.write is not None]
        if durable and written:  # nothing written, nothing to wait for (a callback told twice)
            self.make_durable()
            if any(plan.messages or plan.noticed for plan in written):
                webhooks.kick(self.client)  # not before the change is on disk: nothing announces a lost write
        return [plan.order if plan is not None else None for plan in plans]

    def _plan(
        self,
        change: OrderChange,
        order: Order,
        stored: list[Event],
        old_layout: bool,
        *,
        now: datetime,
        redact_events: bool,
        listens: Callable[[str], bool],
    ) -> _Plan:
        """One change to an order as read under WATCH: the order after it, and the commands that write it."""
        order_id = change.order_id
        if redact_events:  # retention: the couriers' free text goes with the personal data
            stored = [msgspec.structs.replace(e, raw_text="", location=None) for e in stored]
        known = {event.key for event in stored}
        fresh = {event.key: event for event in change.events if event.key not in known}
        timeline = reconcile(Status.ACCEPTED, [*stored, *fresh.values()])
        status = timeline.status
        changes = dict(change.changes)
        if change.charges:
            changes["charges"] = merge(order.charges, change.charges)
        updated = msgspec.structs.replace(order, status=status, **changes)
        if not fresh and updated == order:
            return _Plan(order=order, events=stored, write=None, messages=[], noticed=False)
        updated = msgspec.structs.replace(updated, updated_at=now)
        # The outbox: the messages this change causes, kept with it (only if anyone listens).
        listening = status != order.status and listens(order.centre)
        messages = webhooks.order_messages(order.status, updated, now) if listening else []
        order_key = keys.order(order_id)
        events = [*stored, *fresh.values()]

        def write(pipe: Pipeline) -> None:
            webhooks.stage(pipe, messages)
            notices.stage(pipe, order.status, updated, now)
            # A step's own commands are queued as the wire has them: redis-py's `set` and `zadd` check a
            # dozen options (and warn of experimental ones) for ~2–4 µs a command, a third of a step's
            # queueing; `execute_queued` sends them as it sends any other.
            queue = pipe.pipeline_execute_command
            at = now.timestamp()
            queue("SET", order_key, pack_record(updated, events))
            if old_layout:  # the events moved into the record
                queue("DEL", keys.events(order_id))
            # Index entries are written when they change, not with every step (a step's commands are most
            # of what ingest's transaction costs): the tracking code when it is new, the deadline when the
            # order leaves an internal state (the sweep drops an entry a race left), `finished` when it
            # enters or leaves a final state.
            if updated.tracking_code and (updated.tracking_code != order.tracking_code or old_layout):
                queue("SET", keys.tracking(updated.courier, updated.tracking_code), order_id)
            if updated.status not in INTERNAL and order.status in INTERNAL:
                queue("ZREM", keys.DUE, order_id)
            if order.status is Status.ACCEPTED and updated.status is not Status.ACCEPTED:
                queue("HDEL", keys.BOOKING_JOBS, order_id)  # no job books it any more
            # Orders at a courier and not finished: the poller looks at those gone quiet.
            if updated.status in TERMINAL and order.status not in TERMINAL:
                queue("ZADD", keys.FINISHED, at, order_id)  # retention counts from here
            elif updated.status not in TERMINAL and order.status in TERMINAL:
                queue("ZREM", keys.FINISHED, order_id)
            if updated.tracking_code and updated.status not in TERMINAL:
                queue("ZADD", keys.active(updated.courier), at, order_id)
            else:
                queue("ZREM", keys.active(updated.courier), order_id)
                if updated.tracking_code and order.status not in TERMINAL:
                    # Finished: one last poll later fills in steps whose callbacks were lost.
                    queue("ZADD", keys.closing(updated.courier), at, order_id)
            # The report counters move with the order: what it adds now less what it added before.
            if not counts_alike(order, updated, events):
                before = self.counts(order, reconcile(Status.ACCEPTED, stored) if fresh else timeline)
                self.count(pipe, order.centre, difference(before, self.counts(updated, timeline)))
            queue("PUBLISH", keys.changes(order.centre), f"{order_id} {updated.status}")
            if updated.status != order.status:
                sources = sorted({f"{e.source}:{e.courier}" for e in fresh.values()}) or ["api"]
                audit.stage(pipe, "order.status", at=now, order=order_id, centre=order.centre,
                            status_from=order.status, status_to=updated.status, by=sources)  # fmt: skip
            if change.also is not None:
                change.also(pipe)

        noticed = notice_for(order.status, updated) is not None
        return _Plan(order=updated, events=events, write=write, messages=messages, noticed=noticed)

    def order_for(self, courier: str, reference: str | None, tracking_code: str) -> Order | None:
        """The order a courier message is about: by our reference, else by tracking code; same courier only."""
        return self.orders_for(courier, [(reference, tracking_code)])[0]

    def orders_for(self, courier: str, wanted: Sequence[tuple[str | None, str]]) -> list[Order | None]:
        """`order_for` for several messages: one read for the references, one for the tracking codes
        of the rest (when any), one for their orders."""
        if not wanted:
            return []
        # Decoded whole (events too), not just the order: the change that follows reads the same bytes.
        by_reference = self.client.mget([keys.order(reference or "") for reference, _ in wanted])
        orders = [unpack_record(raw)[0] if raw else None for raw in by_reference]
        missing = [n for n, order in enumerate(orders) if order is None]
        if missing:
            ids = self.client.mget([keys.tracking(courier, wanted[n][1]) for n in missing])
            raws = self.client.mget([keys.order(i.decode() if i else "") for i in ids])
            for n, raw in zip(missing, raws, strict=True):
                orders[n] = unpack_record(raw)[0] if raw else None
        return [order if order is not None and order.courier == courier else None for order in orders]

    def quiet(self, courier: str, before: float, limit: int = 200) -> list[str]:
        """Orders at `courier` with nothing new since `before` (oldest first)."""
        found = self.client.zrangebyscore(keys.active(courier), "-inf", before, start=0, num=limit)
        return [member.decode() for member in found]

    def overdue(self, now: float, limit: int = 500) -> list[str]:
        return [m.decode() for m in self.client.zrangebyscore(keys.DUE, "-inf", now, start=0, num=limit)]

    def postpone(self, order_id: str, until: float) -> None:
        self.client.zadd(keys.DUE, {order_id: until}, xx=True)

    # -- raw callbacks ----------------------------------------------------------------------------
    def reject_callback(self, fields: dict[str, bytes | str]) -> None:
        """Keep a refused callback for the operator (capped) and count it: forged, never applied."""
        with self.client.pipeline(transaction=False) as pipe:
            pipe.xadd(keys.REJECTED_CALLBACKS, fields, maxlen=10_000, approximate=True)  # type: ignore[arg-type]
            pipe.hincrby(keys.REJECTED_COUNTS, str(fields.get("courier", "")), 1)
            pipe.execute()

    def rejected_counts(self) -> dict[str, int]:
        return {k.decode(): int(v) for k, v in self.client.hgetall(keys.REJECTED_COUNTS).items()}

    def keep_orphan(self, fields: dict[str, bytes | str]) -> None:
        self.client.xadd(keys.ORPHAN_CALLBACKS, fields, maxlen=100_000, approximate=True)  # type: ignore[arg-type]

    def claim_callbacks(
        self, courier: str, consumer: str, count: int = 200, stale_ms: int = 60_000
    ) -> list[tuple[str, dict[bytes, bytes]]]:
        """Entries to ingest: first any a dead consumer left unacknowledged, then new ones."""
        stream = keys.callbacks(courier)
        try:
            self.client.xgroup_create(stream, keys.INGEST_GROUP, id="0", mkstream=True)
        except redis.ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise
        entries: list[tuple[bytes, dict[bytes, bytes]]] = []
        cursor: bytes | str = "0-0"
        while len(entries) < count:
            cursor, stale, _deleted = self.client.xautoclaim(
                stream, keys.INGEST_GROUP, consumer, min_idle_time=stale_ms, start_id=cursor, count=count - len(entries)
            )
            entries.extend(stale)
            if cursor in (b"0-0", "0-0"):
                break
        if len(entries) < count:
            fresh = self.client.xreadgroup(keys.INGEST_GROUP, consumer, {stream: ">"}, count=count - len(entries))
            for _stream, items in fresh or []:
                entries.extend(items)
        return [(entry_id.decode(), fields) for entry_id, fields in entries]

    def ack_callbacks(self, courier: str, entry_ids: Sequence[str]) -> None:
        if entry_ids:
            self.client.xack(keys.callbacks(courier), keys.INGEST_GROUP, *entry_ids)
