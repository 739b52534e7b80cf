"""The ceiling: the least a callback endpoint can do under the same ASGI server as the api. It decodes
the same GHN callback body into the same msgspec Struct and answers; no store, no auth, no queue."""

from __future__ import annotations

from litestar import Litestar, Request, Response, post

from contracts.couriers import ghn
from workers.context import settle_garbage_collector


@post("/v1/callbacks/ghn", status_code=200)
async def callback(request: Request) -> Response[dict[str, object]]:  # type: ignore[type-arg]
    ghn.decode_callback(await request.body())
    return Response({"code": 200, "message": "Success"})


app = Litestar(route_handlers=[callback], debug=False, logging_config=None)
settle_garbage_collector()  # the collector set as the api sets it (for a minimal app it hardly matters)
