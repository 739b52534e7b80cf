"""The audit log: every state change and clerk action, hash-chained so a changed or removed entry shows.

A change stages its entry in `dd:audit:pending` inside its own MULTI/EXEC (nothing is audited that did
not happen, nothing that happened goes unaudited). One sealer at a time (the notify job and the sweep
run it) moves pending entries into `dd:audit` in order, each with `prev` (the hash before it) and
`h = SHA-256(prev + entry)`, and keeps the head (count and last hash) in the same transaction.
`dossier-dispatch audit verify` walks the chain: an entry whose bytes changed fails its own hash; a
removed one breaks the next entry's `prev`, or the count and the head. Entries carry ids, statuses,
actors and times: never a name, a phone number, an address or an ID number.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import msgspec
import redis
from redis.client import Pipeline

from contracts.base import Record
from workers import keys

GENESIS = "0" * 64
_ENCODE = msgspec.json.Encoder(order="sorted").encode
BATCH = 500


class Head(Record, frozen=True, kw_only=True):
    count: int = 0
    hash: str = GENESIS


_HEAD = msgspec.json.Decoder(Head)


def stage(pipe: Pipeline | redis.Redis, kind: str, *, at: datetime, **detail: Any) -> None:
    """Add an entry to the pending log, in the caller's transaction."""
    entry = {"kind": kind, "at": at.astimezone(UTC).isoformat(), **detail}
    pipe.xadd(keys.AUDIT_PENDING, {"e": _ENCODE(entry)})


def digest(prev: str, entry: bytes) -> str:
    return hashlib.sha256(prev.encode() + entry).hexdigest()


def head(client: redis.Redis) -> Head:
    raw = client.get(keys.AUDIT_HEAD)
    return _HEAD.decode(raw) if raw else Head()


def seal(client: redis.Redis) -> int:
    """Chain the pending entries, oldest first; returns how many. One sealer at a time: a lock, and each
    batch is written under WATCH of the head and the lock, so a sealer that lost its lock (stalled past
    it) or a batch someone else sealed meanwhile writes nothing."""
    token = hashlib.sha256(f"{datetime.now(UTC).timestamp()}{id(client)}".encode()).hexdigest()[:16]
    if not client.set(keys.AUDIT_LOCK, token, nx=True, ex=60):
        return 0
    sealed = 0
    try:
        while True:
            with client.pipeline() as pipe:
                try:
                    pipe.watch(keys.AUDIT_HEAD, keys.AUDIT_LOCK)
                    if pipe.get(keys.AUDIT_LOCK) != token.encode():
                        pipe.unwatch()
                        return sealed  # the lock lapsed and another sealer holds it now
                    pending = pipe.xrange(keys.AUDIT_PENDING, count=BATCH)
                    if not pending:
                        pipe.unwatch()
                        return sealed
                    raw = pipe.get(keys.AUDIT_HEAD)
                    current = _HEAD.decode(raw) if raw else Head()
                    pipe.multi()
                    chain = current.hash
                    for _entry_id, fields in pending:
                        entry = fields[b"e"]
                        new_hash = digest(chain, entry)
                        pipe.xadd(keys.AUDIT, {"e": entry, "prev": chain, "h": new_hash})
                        chain = new_hash
                    head_record = Head(count=current.count + len(pending), hash=chain)
                    pipe.set(keys.AUDIT_HEAD, msgspec.json.encode(head_record))
                    pipe.xdel(keys.AUDIT_PENDING, *[entry_id for entry_id, _fields in pending])
                    pipe.expire(keys.AUDIT_LOCK, 60)
                    pipe.execute()
                except redis.WatchError:
                    continue
            sealed += len(pending)
    finally:
        if client.get(keys.AUDIT_LOCK) == token.encode():
            client.delete(keys.AUDIT_LOCK)


class Verdict(Record, frozen=True, kw_only=True):
    ok: bool
    entries: int
    pending: int  # staged, not sealed yet (verified once sealed)
    problems: list[str]


def verify(client: redis.Redis) -> Verdict:
    """Check the first `head.count` entries against the head read before the walk; entries sealed
    while it walks come after those and are left for the next run."""
    problems: list[str] = []
    top = head(client)
    chain, count, cursor = GENESIS, 0, "-"
    while count < top.count:
        batch = client.xrange(keys.AUDIT, min=cursor, count=1000)
        if cursor != "-":
            batch = batch[1:]  # the first is the last of the previous batch
        if not batch:
            break
        for entry_id, fields in batch:
            if count == top.count:
                break
            count += 1
            where = f"entry {count} ({entry_id.decode()})"
            prev, own = fields.get(b"prev", b"").decode(), fields.get(b"h", b"").decode()
            if prev != chain:
                problems.append(f"{where}: does not follow the entry before it (one removed or reordered)")
            if digest(prev, fields.get(b"e", b"")) != own:
                problems.append(f"{where}: its content does not match its hash (changed)")
            chain = own
        cursor = batch[-1][0].decode()
    if count < top.count:
        problems.append(f"the head counts {top.count} entries, the log has {count} (entries removed)")
    elif chain != top.hash:
        problems.append("the entries do not end where the head says (an entry changed, removed or added)")
    pending = int(client.xlen(keys.AUDIT_PENDING))
    return Verdict(ok=not problems, entries=count, pending=pending, problems=problems)
