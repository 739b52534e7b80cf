"""`/v1/webhook-endpoints`: a centre's Standard Webhooks endpoints, their delivery log, resend and recover."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated

from litestar import Controller, Response, delete, get, patch, post
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import Body, FromPath, QueryParameter

from contracts.base import Inbound, Record
from contracts.couriers import as_vietnam_time
from contracts.webhooks import EndpointCreate, EndpointPatch, EndpointView, endpoint_view
from service.auth import context, require
from service.problems import ProblemError, documented
from workers import webhooks
from workers.store import Principal
from workers.webhooks import Attempt, EgressRefused

SCOPE = "webhooks:manage"


class EndpointList(Record, frozen=True, kw_only=True):
    endpoints: list[EndpointView]


class AttemptLog(Record, frozen=True, kw_only=True):
    attempts: list[Attempt]


class Recover(Inbound, kw_only=True):
    since: datetime  # every message given up on since then is attempted again


class Recovered(Record, frozen=True, kw_only=True):
    messages: int


def _centre(principal: Principal) -> str:
    require(principal, SCOPE)
    if principal.admin:
        raise ProblemError(422, "centre-required", "Centre required", "Webhook endpoints belong to one centre's key.")
    return principal.centre


def _egress(state: State, url: str) -> None:
    try:
        webhooks.check_url(url, context(state).settings.webhook_egress, resolve=False)
    except EgressRefused as refused:
        raise ProblemError(422, "invalid-field", "Webhook URL refused", str(refused), "url") from None


class WebhookEndpointController(Controller):
    path = "/v1/webhook-endpoints"
    tags = ["webhooks"]
    security = [{"BearerAuth": []}]

    @post(
        "/",
        status_code=201,
        sync_to_thread=True,
        summary="Register an endpoint; the answer carries its signing secret, this once",
        responses=documented(400, 401, 403, 422),
    )
    def create(
        self,
        data: Annotated[EndpointCreate, Body(title="Endpoint")],
        principal: NamedDependency[Principal],
        state: State,
    ) -> EndpointView:
        centre = _centre(principal)
        _egress(state, data.url)
        endpoint = webhooks.create_endpoint(context(state).store.client, centre, data, datetime.now(UTC))
        return endpoint_view(endpoint, secret=endpoint.secrets[0].value)

    @get("/", sync_to_thread=True, summary="The centre's endpoints", responses=documented(401, 403, 422))
    def list_endpoints(self, principal: NamedDependency[Principal], state: State) -> EndpointList:
        found = webhooks.endpoints(context(state).store.client, _centre(principal))
        return EndpointList(endpoints=[endpoint_view(e) for e in found])

    @get("/{endpoint_id:str}", sync_to_thread=True, summary="One endpoint", responses=documented(401, 403, 404, 422))
    def read(self, endpoint_id: FromPath[str], principal: NamedDependency[Principal], state: State) -> EndpointView:
        return endpoint_view(webhooks.get_endpoint(context(state).store.client, _centre(principal), endpoint_id))

    @patch(
        "/{endpoint_id:str}",
        sync_to_thread=True,
        summary="Change the URL, event types or enabled flag, or rotate the secret (the old one signs for 24 h)",
        responses=documented(400, 401, 403, 404, 422),
    )
    def update(
        self,
        endpoint_id: FromPath[str],
        data: Annotated[EndpointPatch, Body(title="Changes")],
        principal: NamedDependency[Principal],
        state: State,
    ) -> EndpointView:
        centre = _centre(principal)
        if data.url is not None:
            _egress(state, data.url)
        endpoint, fresh = webhooks.update_endpoint(
            context(state).store.client, centre, endpoint_id, data, datetime.now(UTC)
        )
        return endpoint_view(endpoint, secret=fresh)

    @delete(
        "/{endpoint_id:str}", sync_to_thread=True, summary="Remove an endpoint", responses=documented(401, 403, 404)
    )
    def remove(self, endpoint_id: FromPath[str], principal: NamedDependency[Principal], state: State) -> None:
        webhooks.delete_endpoint(context(state).store.client, _centre(principal), endpoint_id)

    @get(
        "/{endpoint_id:str}/attempts",
        sync_to_thread=True,
        summary="The delivery log: each attempt's time, answer and latency, newest first",
        responses=documented(401, 403, 404, 422),
    )
    def log(
        self,
        endpoint_id: FromPath[str],
        principal: NamedDependency[Principal],
        state: State,
        limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 100,
    ) -> AttemptLog:
        client = context(state).store.client
        webhooks.get_endpoint(client, _centre(principal), endpoint_id)
        return AttemptLog(attempts=webhooks.attempts(client, endpoint_id, limit))

    @post(
        "/{endpoint_id:str}/messages/{message_id:str}/resend",
        status_code=202,
        sync_to_thread=True,
        summary="Send one message to this endpoint again, now (one given up on gets this single attempt)",
        responses=documented(401, 403, 404, 422),
    )
    def resend(
        self, endpoint_id: FromPath[str], message_id: FromPath[str], principal: NamedDependency[Principal], state: State
    ) -> Response[None]:
        webhooks.resend(context(state).store.client, _centre(principal), endpoint_id, message_id, time.time())
        return Response(None, status_code=202)

    @post(
        "/{endpoint_id:str}/recover",
        status_code=202,
        sync_to_thread=True,
        summary="Send again every message this endpoint failed to take since a time",
        responses=documented(400, 401, 403, 404, 422),
    )
    def recover(
        self,
        endpoint_id: FromPath[str],
        data: Annotated[Recover, Body(title="Since")],
        principal: NamedDependency[Principal],
        state: State,
    ) -> Recovered:
        since = as_vietnam_time(data.since)  # a naive time is Hà Nội time, as everywhere in the API
        count = webhooks.recover(
            context(state).store.client, _centre(principal), endpoint_id, since.timestamp(), time.time()
        )
        return Recovered(messages=count)
