"""Console accounts (argon2-hashed passwords), their sessions, and the store-kept rate limits that every
api replica shares."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from datetime import UTC, datetime

import msgspec
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from contracts.base import Record
from workers import audit, keys
from workers.store import Store

_HASHER = PasswordHasher()  # argon2id with the library's current parameters
_DUMMY = _HASHER.hash(secrets.token_hex(16))  # verified against for unknown users: the same time either way
SESSION_SECONDS = 12 * 3600  # one working day at the counter
MIN_PASSWORD = 10


class User(Record, frozen=True, kw_only=True):
    username: str
    centre: str
    name: str
    password_hash: str
    created_at: datetime


class Session(Record, frozen=True, kw_only=True):
    username: str
    centre: str
    name: str
    csrf: str  # sent back in X-CSRF-Token (fetch) or a form field by every request that changes something
    expires_at: float


_USER = msgspec.json.Decoder(User)
_SESSION = msgspec.json.Decoder(Session)
_ENCODE = msgspec.json.Encoder().encode


class UserError(ValueError):
    pass


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_user(store: Store, *, username: str, centre: str, name: str, password: str, replace: bool = False) -> User:
    if len(password) < MIN_PASSWORD:
        raise UserError(f"the password must have at least {MIN_PASSWORD} characters")
    if not username or not username.replace(".", "").replace("-", "").replace("_", "").isalnum():
        raise UserError("a username is letters, digits, '.', '-' or '_'")
    user = User(
        username=username.lower(),
        centre=centre,
        name=name,
        password_hash=_HASHER.hash(password),
        created_at=datetime.now(UTC),
    )
    if not store.client.set(keys.user(user.username), _ENCODE(user), nx=not replace):
        raise UserError(f"user {user.username!r} exists (use --replace to set a new password)")
    kind = "user.password_set" if replace else "user.created"
    audit.stage(store.client, kind, at=user.created_at, user=user.username, centre=centre)
    store.make_durable()
    return user


def check_password(store: Store, username: str, password: str) -> User | None:
    raw = store.client.get(keys.user(username.lower()))
    user = _USER.decode(raw) if raw else None
    try:
        _HASHER.verify(user.password_hash if user else _DUMMY, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    return user


def open_session(store: Store, user: User) -> tuple[str, Session]:
    """A new session: the token goes in the cookie; the store keeps only its digest."""
    token = secrets.token_urlsafe(32)
    session = Session(
        username=user.username,
        centre=user.centre,
        name=user.name,
        csrf=secrets.token_urlsafe(24),
        expires_at=time.time() + SESSION_SECONDS,
    )
    with store.client.pipeline() as pipe:
        pipe.set(keys.session(_digest(token)), _ENCODE(session), ex=SESSION_SECONDS)
        audit.stage(pipe, "user.signed_in", at=datetime.now(UTC), user=user.username, centre=user.centre)
        pipe.execute()
    return token, session


def session(store: Store, token: str | None) -> Session | None:
    if not token:
        return None
    raw = store.client.get(keys.session(_digest(token)))
    return _SESSION.decode(raw) if raw else None


def close_session(store: Store, token: str | None) -> None:
    if token:
        store.client.delete(keys.session(_digest(token)))


def csrf_ok(found: Session, sent: str | None) -> bool:
    return bool(sent) and hmac.compare_digest(found.csrf, sent or "")


def allow(store: Store, bucket: str, limit: int, window_seconds: int) -> bool:
    """A fixed-window counter in the store (shared by every api replica): False once over `limit`."""
    window = int(time.time() // window_seconds)
    key = keys.rate(bucket, window)
    with store.client.pipeline(transaction=True) as pipe:
        pipe.incr(key)
        pipe.expire(key, window_seconds * 2)
        count, _ = pipe.execute()
    return int(count) <= limit


def blocked(store: Store, buckets: list[tuple[str, int]], window_seconds: int) -> bool:
    """Over the limit in any bucket of this window (read only: `failed` counts)."""
    window = int(time.time() // window_seconds)
    counts = store.client.mget([keys.rate(bucket, window) for bucket, _limit in buckets])
    return any(int(count or 0) >= limit for count, (_bucket, limit) in zip(counts, buckets, strict=True))


def failed(store: Store, buckets: list[str], window_seconds: int) -> None:
    """Count a failure in each bucket of this window."""
    window = int(time.time() // window_seconds)
    with store.client.pipeline(transaction=True) as pipe:
        for bucket in buckets:
            pipe.incr(keys.rate(bucket, window))
            pipe.expire(keys.rate(bucket, window), window_seconds * 2)
        pipe.execute()
