"""The app factory: routes, the API-key dependency, the problem-details map and the store's lifespan."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
from litestar import Litestar, Response, get
from litestar.datastructures import MutableScopeHeaders, State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.static_files import create_static_files_router
from litestar.types import Message, Scope

from contracts.settings import Settings
from service import problems
from service.auth import authenticate, context
from service.callbacks import callbacks, receive_callback
from service.console import STATIC, console, login, login_page, logout
from service.couriers import courier_health
from service.documents_api import (
    list_provinces,
    list_wards,
    mark_result_ready,
    read_consignment_note,
    read_handover_record,
    reroute_order,
    stream_changes,
)
from service.exceptions import exception_queue
from service.openapi import ExamplesJsonRenderPlugin
from service.orders import OrderController, read_dossier
from service.reports import ReportController
from service.statements import StatementController
from service.track import home_confirm, home_request, track_lookup, track_page
from service.webhooks import WebhookEndpointController
from workers.context import Context, build


@get("/health", tags=["ops"], summary="200 when the store answers")
async def health(state: State) -> Response[dict[str, str]]:
    try:
        await anyio.to_thread.run_sync(context(state).store.ping)
    except Exception as error:  # any store failure means unhealthy
        return Response({"status": "unavailable", "detail": type(error).__name__}, status_code=503)
    return Response({"status": "ok"})


_SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"SAMEORIGIN"),
)


async def security_headers(message: Message, scope: Scope) -> None:
    """On every answer, errors included: no MIME sniffing, no referrer leaking ids, no framing of the API
    (the console's own pages set stricter ones)."""
    if message["type"] == "http.response.start":
        headers = MutableScopeHeaders.from_message(message)
        for name, value in _SECURITY_HEADERS:
            if name.decode() not in headers:
                headers.add(name.decode(), value.decode())


def create_app(settings: Settings, environ: Mapping[str, str] | None = None, ctx: Context | None = None) -> Litestar:
    environ = os.environ if environ is None else environ

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        app.state.ctx = ctx or await anyio.to_thread.run_sync(lambda: build(environ))
        try:
            yield
        finally:
            intake = getattr(app.state, "intake", None)
            if intake is not None:  # the callback intake's async connections, on the loop that made them
                await intake.close()
                del app.state.intake
            pool = getattr(app.state, "stream_pool", None)
            if pool is not None:  # the live streams' connections
                await pool.aclose()
                del app.state.stream_pool
            if ctx is None:
                app.state.ctx.close()

    handlers: Any = problems.HANDLERS
    app = Litestar(
        route_handlers=[
            OrderController,
            read_dossier,
            exception_queue,
            courier_health,
            callbacks,
            WebhookEndpointController,
            ReportController,
            read_consignment_note,
            read_handover_record,
            mark_result_ready,
            reroute_order,
            stream_changes,
            list_provinces,
            list_wards,
            console,
            login_page,
            login,
            logout,
            track_page,
            track_lookup,
            home_request,
            home_confirm,
            create_static_files_router(path="/static", directories=[STATIC], include_in_schema=False),
            StatementController,
            health,
        ],
        dependencies={"principal": Provide(authenticate)},
        exception_handlers=handlers,
        lifespan=[lifespan],
        openapi_config=OpenAPIConfig(
            title="dossier-dispatch",
            version="1",
            path="/schema",
            description="Send dossiers and results between one-stop centres and citizens by post and courier.",
            render_plugins=[ExamplesJsonRenderPlugin(), SwaggerRenderPlugin(path="/swagger")],
            components=Components(
                security_schemes={"BearerAuth": SecurityScheme(type="http", scheme="bearer", description="API key")}
            ),
        ),
        debug=False,
        logging_config=None,
        request_max_body_size=settings.dd_max_body_bytes,
        before_send=[security_headers],
        before_request=problems.unknown_query,
    )
    _document_callbacks(app)
    if ctx is not None:
        app.state.ctx = ctx  # given (tests): usable even by a client that skips the lifespan
    return app


def _document_callbacks(app: Litestar) -> None:
    """The callback endpoint is an ASGI mount, which the OpenAPI document leaves out: its operation is
    `receive_callback`'s, as a Litestar app of its own (never served) renders it."""
    shown, extra = app.openapi_schema, Litestar(route_handlers=[receive_callback]).openapi_schema
    shown.paths = {**(shown.paths or {}), **(extra.paths or {})}
    schemas = shown.components.schemas if shown.components.schemas is not None else {}
    for name, schema in (extra.components.schemas or {}).items():
        schemas.setdefault(name, schema)
    shown.components.schemas = schemas
