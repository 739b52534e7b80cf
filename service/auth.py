"""Bearer API keys: a key belongs to one centre and sees only its orders; admin keys see all."""

from __future__ import annotations

import time

import anyio.to_thread
from litestar import Request
from litestar.datastructures import State
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException

from workers import users
from workers.context import Context
from workers.intake import AsyncIntake
from workers.store import Principal


def context(state: State) -> Context:
    ctx: Context = state.ctx
    return ctx


def intake(state: State) -> AsyncIntake:
    """The event loop's callback intake and fsync group commit (made on first use, on the serving loop)."""
    found: AsyncIntake | None = getattr(state, "intake", None)
    if found is None:
        ctx = context(state)
        found = state.intake = AsyncIntake(ctx.store)
    return found


SESSION_COOKIE = "dd_session"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CONSOLE_SCOPES = ("orders:read", "orders:write", "webhooks:manage")


def client_address(request: Request, ctx: Context) -> str:  # type: ignore[type-arg]
    """Who is asking, for rate limits: the peer, or behind a trusted proxy (DD_TRUSTED_PROXIES) the
    address that proxy appended to X-Forwarded-For (the last one: the earlier ones are the client's say)."""
    peer = request.client.host if request.client else "?"
    forwarded = ",".join(request.headers.getall("x-forwarded-for", []))  # every line of it, in order
    return forwarded_address(peer, forwarded, ctx.settings.trusted_proxies)


def forwarded_address(peer: str, forwarded_for: str, trusted: frozenset[str]) -> str:
    """`peer`, or when it is a trusted proxy, the last address of its X-Forwarded-For (the one it added)."""
    if peer in trusted:
        forwarded = [part.strip() for part in forwarded_for.split(",") if part.strip()]
        if forwarded:
            return forwarded[-1]
    return peer


async def authenticate(request: Request) -> Principal:  # type: ignore[type-arg]
    """An API key (`Authorization: Bearer`), else a console session cookie, which must send its CSRF
    token in `X-CSRF-Token` with every request that changes something. (The app's state is read from
    the request: a `State` parameter costs a copy of it per request.)"""
    state = request.app.state
    header = request.headers.get("authorization", "")
    if not header and SESSION_COOKIE in request.cookies:
        found = await anyio.to_thread.run_sync(users.session, context(state).store, request.cookies[SESSION_COOKIE])
        if found is None:
            raise NotAuthorizedException("The session has ended; sign in again.")
        if request.method not in SAFE_METHODS and not users.csrf_ok(found, request.headers.get(CSRF_HEADER)):
            raise PermissionDeniedException("Missing or wrong X-CSRF-Token for this session.")
        return Principal(centre=found.centre, scopes=CONSOLE_SCOPES, user=found.username)
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise NotAuthorizedException("Send `Authorization: Bearer <api key>`.")
    ctx = context(state)
    limit = ctx.settings.dd_api_requests_per_minute
    principal, used = await intake(state).principal(secret.strip(), per_minute=limit)
    if principal is None:
        raise NotAuthorizedException("The API key is not valid.")
    if limit and used > limit:
        raise RateLimited(60 - int(time.time()) % 60)
    return principal


class RateLimited(Exception):
    """Over the API key's requests per minute: 429 with Retry-After."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"over the limit of requests per minute for this key; retry in {retry_after} s")
        self.retry_after = max(1, retry_after)


def may_see(principal: Principal, centre: str) -> bool:
    return principal.admin or principal.centre == centre


def require(principal: Principal, scope: str) -> None:
    """403 when the key lacks the scope (`orders:read`, `orders:write`; `admin` has them all)."""
    if not principal.may(scope):
        raise PermissionDeniedException(f"This API key lacks the {scope!r} scope.")
