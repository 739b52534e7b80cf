"""The sandbox server: every courier stand-in behind one port (`dossier-dispatch sandbox`)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

import redis.asyncio as aredis
from litestar import Litestar

from contracts.settings import Settings
from service.sandboxes.ghn import GhnSandbox, router
from workers.context import load_config, store_url


def create_sandbox_app(settings: Settings, environ: Mapping[str, str] | None = None) -> Litestar:
    environ = os.environ if environ is None else environ
    client = aredis.Redis.from_url(store_url(settings))
    ghn = GhnSandbox(settings, load_config(settings, environ), client)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        if settings.dd_sandbox_autoplay:
            await ghn.resume()
        try:
            yield
        finally:
            await ghn.close()
            await client.aclose()

    return Litestar(route_handlers=[router(ghn)], lifespan=[lifespan], debug=False, logging_config=None)
