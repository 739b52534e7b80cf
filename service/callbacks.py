"""Courier callbacks: authenticate, check the shape, store the raw bytes durably, then answer 200."""

from __future__ import annotations

import hashlib
import logging
import time
from datetime import UTC, datetime
from typing import Any

import anyio.to_thread
import msgspec
from litestar import Request, Response, asgi, post
from litestar.exceptions import ClientException, MethodNotAllowedException, NotFoundException
from litestar.params import FromPath
from litestar.types import Receive, Scope, Send

from contracts.couriers import CallbackRequest, form_pairs
from contracts.couriers.registry import ANSWER, AUTHENTICATE, DECODE, KNOWN, REDACT, replayed
from service.auth import context, forwarded_address, intake
from service.problems import documented, problem
from workers.jobs import enqueue_ingest

log = logging.getLogger(__name__)


# Never stored with the raw callback: they carry our secrets or the courier's credentials.
_SECRET_QUERY = frozenset({"token", "hash"})
_SECRET_HEADERS = frozenset({"authorization", "cookie", "token"})


_ANSWERS = {courier: msgspec.json.encode(answer) for courier, answer in ANSWER.items()}  # encoded once
_JSON_HEADERS = {
    courier: [(b"content-type", b"application/json"), (b"content-length", str(len(answer)).encode())]
    for courier, answer in _ANSWERS.items()
}

CALLBACK_BYTES = 256_000  # a VNPost batch of hundreds of items fits; a courier never sends more


MOUNT = "/v1/callbacks"


@asgi(MOUNT, is_mount=True, copy_scope=False)
async def callbacks(scope: Scope, receive: Receive, send: Send) -> None:
    """`POST /v1/callbacks/{courier}`, served below Litestar's request handling: an ASGI handler under
    the app's middleware, exception handlers and `before_send`, without its per-request machinery (a
    Request, parameters, a Response: 135 µs of CPU a request where this takes 65, measured in the same
    process; the couriers' hottest endpoint is worth it). Documented by `receive_callback`."""
    if scope["type"] != "http":
        raise NotFoundException()
    rest = scope["path"]  # what follows the mount: "/ghn/" (a mount matches a bare prefix: "/v1/callbacksx")
    courier = rest[1:].rstrip("/") if rest.startswith("/") else ""
    scope["path"] = f"{MOUNT}/{courier}"  # as a route would have it (a problem's `instance`)
    if scope["method"] != "POST":
        raise MethodNotAllowedException(headers={"Allow": "POST"})
    if courier in KNOWN:
        answer = await _receive(scope, courier, await _body(scope, receive))
    else:
        answer = _refused(scope, 404, "unknown-courier", "Unknown courier", f"No callback endpoint for {courier!r}.")
    if isinstance(answer, Response):  # a problem: Litestar renders it
        request: Request[Any, Any, Any] = scope["app"].request_class(scope, receive)
        await answer.to_asgi_response(app=None, request=request)(scope, receive, send)
        return
    # A copy: `before_send` hooks edit the list they are given.
    await send({"type": "http.response.start", "status": 200, "headers": list(_JSON_HEADERS[courier])})
    await send({"type": "http.response.body", "body": answer})


async def _body(scope: Scope, receive: Receive) -> bytes:
    """The request body, at most CALLBACK_BYTES (413 past that, as `request_max_body_size` says it)."""
    for name, value in scope["headers"]:
        if name.lower() == b"content-length" and value.isdigit() and int(value) > CALLBACK_BYTES:
            raise ClientException(status_code=413, detail="Request Entity Too Large")
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientException(status_code=400, detail="the client went away before its body came")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > CALLBACK_BYTES:
            raise ClientException(status_code=413, detail="Request Entity Too Large")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _refused(scope: Scope, status: int, slug: str, title: str, detail: str) -> Response[Any]:
    return problem(status, slug, title, detail, scope["app"].request_class(scope))


async def _receive(scope: Scope, courier: str, body: bytes) -> bytes | Response[Any]:
    """Authenticate, keep the raw bytes durably, check the shape: the courier's answer, or a problem."""
    state = scope["app"].state  # not a `State` parameter: that copies the app's state per request
    ctx = context(state)
    query: dict[str, str] = {}
    for name, value in form_pairs(scope["query_string"].decode("latin-1")):
        query.setdefault(name, value)  # the first of a repeated parameter, as a route's query_params gives
    headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]}
    peer = scope["client"][0] if scope.get("client") else ""
    # The peer, or behind a trusted proxy the address it forwards (every X-Forwarded-For line, in order).
    forwarded = ",".join(v.decode("latin-1") for k, v in scope["headers"] if k.lower() == b"x-forwarded-for")
    remote = forwarded_address(peer, forwarded, ctx.settings.trusted_proxies)
    incoming = CallbackRequest(query=query, headers=headers, body=body, remote=remote)
    # What we keep: a courier that puts our secret in the body has it blanked, and the receipt hashes
    # the kept bytes, so neither the body nor its hash can be used to guess the secret offline.
    stored = REDACT[courier](body) if courier in REDACT else body
    receipt = hashlib.sha256(stored).hexdigest()
    audit: dict[str, bytes | str] = {
        "courier": courier,
        "sha256": receipt,
        "remote": remote,
        "size": str(len(body)),
    }

    verify = AUTHENTICATE[courier]
    # Which centres' accounts this secret belongs to: ingest applies it only to their orders.
    centres = [
        centre.code
        for centre in ctx.config.centres.values()
        if courier in centre.couriers and verify(incoming, centre.couriers[courier])
    ]
    if not centres:
        log.warning("refused %s callback from %s: authentication failed (sha256 %s)", courier, remote, receipt)
        await anyio.to_thread.run_sync(ctx.store.reject_callback, {**audit, "why": "authentication failed"})
        return _refused(scope, 401, "callback-unauthenticated", "Unauthenticated callback", "Bad or missing secret.")

    # Raw bytes first, before any parsing (DESIGN.md rule 4): even a body we cannot read is kept for
    # replay after a mapping fix; ingest sets it aside with the reason.
    fields: dict[str, bytes | str] = {
        **audit,
        "centres": ",".join(centres),
        "body": stored,
        "query": msgspec.json.encode({k: v for k, v in query.items() if k not in _SECRET_QUERY}),
        "headers": msgspec.json.encode({k: v for k, v in headers.items() if k not in _SECRET_HEADERS}),
        "received_ms": str(int(time.time() * 1000)),
    }
    store = ctx.store

    if await intake(state).append(courier, fields):
        await anyio.to_thread.run_sync(enqueue_ingest, store.client, courier)
    try:
        updates = DECODE[courier](body)
    except ValueError as error:  # msgspec's DecodeError and ValidationError, and a body that is not UTF-8
        log.warning("malformed %s callback from %s kept for replay (sha256 %s): %s", courier, remote, receipt, error)
        return _refused(scope, 400, "callback-malformed", "Malformed callback", str(error))
    received = datetime.fromtimestamp(int(fields["received_ms"]) / 1000, UTC)  # type: ignore[arg-type]
    max_age = ctx.settings.dd_callback_max_age_hours
    if updates and all(replayed(update, received, max_age) for update in updates):
        # Kept (ingest sets it aside with the reason) but refused: an old payload sent again.
        log.warning("refused %s callback from %s: older than %g h (sha256 %s)", courier, remote, max_age, receipt)
        await anyio.to_thread.run_sync(ctx.store.reject_callback, {**audit, "why": "replayed: events too old"})
        detail = f"Every event in it is older than {max_age:g} hours: an old payload sent again is not applied."
        return _refused(scope, 422, "callback-replayed", "Replayed callback", detail)
    return _ANSWERS[courier]


@post(
    "/v1/callbacks/{courier:str}",
    tags=["callbacks"],
    summary="Courier status webhooks, authenticated by each courier's own scheme",
    status_code=200,
    responses=documented(400, 401, 404, 422, 503),
    request_max_body_size=CALLBACK_BYTES,
    opt={"any_query": True},  # couriers put their secrets and more in the query
)
async def receive_callback(courier: FromPath[str], request: Request[Any, Any, Any]) -> Response[Any]:
    # Never routed: `callbacks` answers this path; the OpenAPI document takes its operation from here
    # (`service.app._document_callbacks`). (No docstring: it would become the operation's description.)
    raise NotImplementedError(courier)
