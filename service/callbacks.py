"""Courier callbacks: authenticate, check the shape, store the raw bytes durably, then answer 200."""

from __future__ import annotations

import hashlib
import logging
import time
from datetime import UTC, datetime
from typing import Any

import anyio.to_thread
import msgspec
from litestar import MediaType, Request, Response, post
from litestar.params import FromPath

from contracts.couriers import CallbackRequest
from contracts.couriers.registry import ANSWER, AUTHENTICATE, DECODE, KNOWN, REDACT, replayed
from service.auth import client_address, context, intake
from service.problems import documented, problem
from workers.jobs import enqueue_ingest

log = logging.getLogger(__name__)


# Never stored with the raw callback: they carry our secrets or the courier's credentials.
_SECRET_QUERY = frozenset({"token", "hash"})
_SECRET_HEADERS = frozenset({"authorization", "cookie", "token"})


_ANSWERS = {courier: msgspec.json.encode(answer) for courier, answer in ANSWER.items()}  # encoded once

CALLBACK_BYTES = 256_000  # a VNPost batch of hundreds of items fits; a courier never sends more


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
    state = request.app.state  # not a `State` parameter: that copies the app's state per request
    if courier not in KNOWN:
        return problem(404, "unknown-courier", "Unknown courier", f"No callback endpoint for {courier!r}.", request)
    ctx = context(state)
    body = await request.body()
    remote = client_address(request, ctx)  # the peer, or behind a trusted proxy the address it forwards
    query = dict(request.query_params)
    headers = {k.lower(): v for k, v in request.headers.items()}
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
        return problem(401, "callback-unauthenticated", "Unauthenticated callback", "Bad or missing secret.", request)

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
    except (msgspec.DecodeError, msgspec.ValidationError) as error:
        log.warning("malformed %s callback from %s kept for replay (sha256 %s): %s", courier, remote, receipt, error)
        return problem(400, "callback-malformed", "Malformed callback", str(error), request)
    received = datetime.fromtimestamp(int(fields["received_ms"]) / 1000, UTC)  # type: ignore[arg-type]
    max_age = ctx.settings.dd_callback_max_age_hours
    if updates and all(replayed(update, received, max_age) for update in updates):
        # Kept (ingest sets it aside with the reason) but refused: an old payload sent again.
        log.warning("refused %s callback from %s: older than %g h (sha256 %s)", courier, remote, max_age, receipt)
        await anyio.to_thread.run_sync(ctx.store.reject_callback, {**audit, "why": "replayed: events too old"})
        detail = f"Every event in it is older than {max_age:g} hours: an old payload sent again is not applied."
        return problem(422, "callback-replayed", "Replayed callback", detail, request)
    return Response(_ANSWERS[courier], media_type=MediaType.JSON, status_code=200)
