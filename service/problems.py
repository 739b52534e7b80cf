"""One exception map: every error leaves as an RFC 9457 problem document naming what was wrong."""

from __future__ import annotations

import logging
import re
import weakref
from typing import Any

import msgspec
import redis
from litestar import Request, Response
from litestar.exceptions import HTTPException, NotAuthorizedException, NotFoundException, ValidationException
from litestar.openapi import ResponseSpec
from litestar.params import CookieParameter, HeaderParameter, ParameterKwarg, PathParameter, QueryParameter
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

from contracts.errors import FieldError
from service.auth import RateLimited
from workers.couriers import CourierUnavailable
from workers.decisions import DecisionRefused
from workers.store import IdempotencyConflict, NotDurable, UnknownOrder
from workers.webhooks import UnknownEndpoint

log = logging.getLogger(__name__)
MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "https://dossier-dispatch.vn/problems/"


class InvalidParam(msgspec.Struct, kw_only=True):
    name: str
    reason: str


class Problem(msgspec.Struct, kw_only=True, omit_defaults=True):
    """RFC 9457 problem details, as every error of this API is answered."""

    type: str
    title: str
    status: int
    detail: str
    instance: str
    invalid_params: list[InvalidParam] | None = None


_DESCRIPTIONS = {
    400: "The body is not JSON",
    401: "No API key, or not a valid one",
    403: "The key lacks the scope for this",
    404: "No such resource for this key's centre",
    409: "Not allowed in the order's current state, or an Idempotency-Key reused with another body",
    422: "A field is invalid; `invalid_params` names it",
    503: "The store could not confirm the write on disk, or the courier is unavailable: retry",
}


def documented(*codes: int) -> dict[int, ResponseSpec]:
    """OpenAPI entries for the problems a route can answer."""
    return {
        code: ResponseSpec(
            data_container=Problem, description=_DESCRIPTIONS[code], media_type=MEDIA_TYPE, generate_examples=False
        )
        for code in codes
    }


_NOT_QUERY = frozenset({"request", "state", "scope", "headers", "cookies", "query", "body", "data", "socket"})
# Per handler object (weakly: an id() could be reused by the next app's handler once this one is gone).
_QUERY_NAMES: weakref.WeakKeyDictionary[Any, frozenset[str]] = weakref.WeakKeyDictionary()


def _query_names(handler: Any) -> frozenset[str]:
    """The query parameters a route handler declares (its signature, as the OpenAPI document lists them)."""
    names = _QUERY_NAMES.get(handler)
    if names is None:
        dependencies = set(handler.resolve_dependencies())
        found = set()
        for name, field in handler.parsed_fn_signature.parameters.items():
            kwarg = field.kwarg_definition
            if name in _NOT_QUERY or name in dependencies or not isinstance(kwarg, ParameterKwarg | None):
                continue
            if isinstance(kwarg, HeaderParameter | CookieParameter | PathParameter):
                continue
            if kwarg is None:
                found.add(name)
            elif not (kwarg.header or kwarg.cookie):  # a plain Parameter(query=...) or a QueryParameter(name=...)
                found.add(kwarg.query or (kwarg.name if isinstance(kwarg, QueryParameter) else None) or name)
        names = _QUERY_NAMES[handler] = frozenset(found)
    return names


async def unknown_query(request: Request[Any, Any, Any]) -> Response[dict[str, Any]] | None:
    """`?statuss=delivered` is a typo, not "every order": an API route refuses query parameters it does
    not take, naming them (the courier callbacks, whose secrets travel in the query, are left alone)."""
    handler = request.route_handler
    if handler.opt.get("any_query") or not request.scope["path"].startswith("/v1/") or not request.query_params:
        return None  # cheapest first: building the URL cost a callback ~3 % of the api's CPU
    known = _query_names(handler) | set(request.path_params)
    unknown = sorted(set(request.query_params) - known)
    if not unknown:
        return None
    params = [{"name": name, "reason": "not a parameter of this operation"} for name in unknown]
    detail = f"Unknown query parameter: {', '.join(repr(name) for name in unknown)}."
    return problem(422, "invalid-field", "Invalid request", detail, request, invalid_params=params)


class ProblemError(Exception):
    """A domain refusal with its HTTP status and the field (if any) that caused it."""

    def __init__(self, status: int, slug: str, title: str, detail: str, field: str | None = None) -> None:
        super().__init__(detail)
        self.status, self.slug, self.title, self.detail, self.field = status, slug, title, detail, field


def problem(
    status: int, slug: str, title: str, detail: str, request: Request[Any, Any, Any], **extra: Any
) -> Response[dict[str, Any]]:
    body = {
        "type": TYPE_BASE + slug,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
    }
    body.update(extra)
    return Response(body, status_code=status, media_type=MEDIA_TYPE)


_FIELD_IN_MESSAGE = re.compile(r"(?:missing required field|unknown field) `([^`]+)`")


def _field_name(key: str | None, message: str) -> str:
    """Litestar reports the parent of a missing or unknown field; name the field itself."""
    parent = "" if key in (None, "", "data") else str(key)
    match = _FIELD_IN_MESSAGE.search(message)
    if match:
        return f"{parent}.{match.group(1)}" if parent else match.group(1)
    return parent or "body"


def on_validation(request: Request[Any, Any, Any], error: ValidationException) -> Response[dict[str, Any]]:
    extra = error.extra if isinstance(error.extra, list) else []
    if not extra:  # the body is not JSON at all
        return problem(400, "malformed-body", "Malformed request body", str(error.detail), request)
    params = [
        {"name": _field_name(item.get("key"), item.get("message", "")), "reason": item.get("message", "")}
        for item in extra
        if isinstance(item, dict)
    ]
    detail = "; ".join(f"{p['name']}: {p['reason']}" for p in params)
    return problem(422, "invalid-field", "Invalid request", detail, request, invalid_params=params)


def on_problem(request: Request[Any, Any, Any], error: ProblemError) -> Response[dict[str, Any]]:
    extra = {"invalid_params": [{"name": error.field, "reason": error.detail}]} if error.field else {}
    return problem(error.status, error.slug, error.title, error.detail, request, **extra)


def on_field(request: Request[Any, Any, Any], error: FieldError) -> Response[dict[str, Any]]:
    return on_problem(request, ProblemError(422, "invalid-field", "Invalid request", str(error), error.field))


def on_refused(request: Request[Any, Any, Any], error: DecisionRefused) -> Response[dict[str, Any]]:
    return problem(409, "decision-refused", "Not allowed now", str(error), request)


def on_courier_down(request: Request[Any, Any, Any], error: CourierUnavailable) -> Response[dict[str, Any]]:
    log.warning("courier unavailable for %s: %s", request.url.path, error)
    response = problem(503, "courier-unavailable", "Courier unavailable", f"{error}; try again shortly.", request)
    response.headers["Retry-After"] = "30"
    return response


def on_unknown_order(request: Request[Any, Any, Any], error: UnknownOrder) -> Response[dict[str, Any]]:
    return problem(404, "not-found", "Not found", "No such order.", request)


def on_unknown_endpoint(request: Request[Any, Any, Any], error: UnknownEndpoint) -> Response[dict[str, Any]]:
    return problem(404, "not-found", "Not found", f"No such webhook {error.what} for this centre.", request)


def on_not_durable(request: Request[Any, Any, Any], error: NotDurable) -> Response[dict[str, Any]]:
    log.error("write not confirmed durable: %s", error)
    return problem(503, "not-durable", "Store not durable", "The write was not confirmed on disk; retry.", request)


def on_idempotency(request: Request[Any, Any, Any], error: IdempotencyConflict) -> Response[dict[str, Any]]:
    return problem(409, "idempotency-conflict", "Idempotency-Key reused", str(error), request)


def on_http(request: Request[Any, Any, Any], error: HTTPException) -> Response[dict[str, Any]]:
    titles = {401: "Unauthorized", 403: "Forbidden", 404: "Not found", 405: "Method not allowed", 413: "Too large"}
    slug = {
        401: "unauthorized",
        403: "forbidden",
        404: "not-found",
        405: "method-not-allowed",
        413: "body-too-large",
    }.get(error.status_code, "http-error")
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(error, NotAuthorizedException) else {}
    response = problem(error.status_code, slug, titles.get(error.status_code, "Error"), str(error.detail), request)
    response.headers.update(headers)
    return response


def on_rate_limited(request: Request[Any, Any, Any], error: RateLimited) -> Response[dict[str, Any]]:
    response = problem(429, "rate-limited", "Too many requests", str(error), request)
    response.headers["Retry-After"] = str(error.retry_after)
    return response


def on_store_down(request: Request[Any, Any, Any], error: Exception) -> Response[dict[str, Any]]:
    log.error("store unreachable on %s %s: %s", request.method, request.url.path, type(error).__name__)
    response = problem(503, "store-unavailable", "Store unavailable", "The store cannot be reached; retry.", request)
    response.headers["Retry-After"] = "2"
    return response


def on_crash(request: Request[Any, Any, Any], error: Exception) -> Response[dict[str, Any]]:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem(HTTP_500_INTERNAL_SERVER_ERROR, "internal", "Internal error", "See the server log.", request)


HANDLERS: dict[type[Exception], Any] = {
    ValidationException: on_validation,
    ProblemError: on_problem,
    FieldError: on_field,
    DecisionRefused: on_refused,
    CourierUnavailable: on_courier_down,
    UnknownOrder: on_unknown_order,
    UnknownEndpoint: on_unknown_endpoint,
    NotDurable: on_not_durable,
    IdempotencyConflict: on_idempotency,
    RateLimited: on_rate_limited,
    redis.ConnectionError: on_store_down,
    redis.TimeoutError: on_store_down,
    NotFoundException: on_http,
    HTTPException: on_http,
    Exception: on_crash,
}
