"""The sandbox server: every courier stand-in behind one port (`dossier-dispatch sandbox`), plus its controls."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import redis.asyncio as aredis
from litestar import Litestar, Request, Response, Router, get, put
from litestar.params import FromPath, JSONBody

from contracts.settings import Settings
from service.sandboxes import ghn, ghtk, viettelpost, vnpost
from service.sandboxes.base import Chaos, SandboxCore
from workers.context import load_config, store_url


def _controls(core: SandboxCore, couriers: list[str]) -> Router:
    @put("/_sandbox/chaos", status_code=200)
    async def set_chaos(data: JSONBody[Chaos]) -> Chaos:
        """Latency, 503s, lost answers, duplicated and reordered callbacks, and the stories autoplay tells."""
        await core.set_chaos(data)
        return data

    @get("/_sandbox/chaos")
    async def read_chaos() -> Chaos:
        return await core.chaos()

    @get("/_sandbox/shipments/{courier:str}")
    async def shipments(courier: FromPath[str]) -> Response[Any]:
        """How many shipments each of our references created at this courier (more than 1: booked twice)."""
        if courier not in couriers:
            return Response({"error": f"no sandbox for {courier}"}, status_code=404)
        return Response(await core.counts(courier))

    @get("/_sandbox/requests")
    async def requests() -> list[dict[str, str]]:
        """Every request we sent the sandboxes (newest 5,000): what a courier would see of our data."""
        return list(core.journal)

    return Router(path="/", route_handlers=[set_chaos, read_chaos, shipments, requests])


def create_sandbox_app(settings: Settings, environ: Mapping[str, str] | None = None) -> Litestar:
    environ = os.environ if environ is None else environ
    # A courier's system does not go down with ours: DD_SANDBOX_REDIS_URL gives the sandboxes a store of
    # their own (the crash test kills ours); without it they share the dev store under an `sbx:` prefix.
    client = aredis.Redis.from_url(settings.dd_sandbox_redis_url or store_url(settings))
    core = SandboxCore(settings, client)
    config = load_config(settings, environ)
    ghn_sandbox, ghtk_sandbox = ghn.GhnSandbox(core, config), ghtk.GhtkSandbox(core, config)
    vtp_sandbox, vnpost_sandbox = viettelpost.ViettelPostSandbox(core, config), vnpost.VnpostSandbox(core, config)
    sandboxes: list[Any] = [ghn_sandbox, ghtk_sandbox, vtp_sandbox, vnpost_sandbox]
    routers = [
        ghn.router(ghn_sandbox),
        ghtk.router(ghtk_sandbox),
        viettelpost.router(vtp_sandbox),
        vnpost.router(vnpost_sandbox),
    ]

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        if settings.dd_sandbox_autoplay:
            for sandbox in sandboxes:
                await sandbox.resume()
        try:
            yield
        finally:
            await core.close()
            await client.aclose()

    async def journal(request: Request[Any, Any, Any]) -> None:
        if not request.url.path.startswith("/_sandbox"):
            body = await request.body()  # cached by the request: the handler reads it again
            core.journal.append(
                {"method": request.method, "path": str(request.url), "body": body.decode(errors="replace")}
            )

    return Litestar(
        route_handlers=[*routers, _controls(core, [s.name for s in sandboxes])],
        before_request=journal,
        lifespan=[lifespan],
        debug=False,
        logging_config=None,
    )
