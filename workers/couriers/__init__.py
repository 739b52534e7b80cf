"""How we reach couriers. Every failure becomes one of two errors:

CourierError
├── CourierUnavailable   timeouts, connection errors, 429, 5xx: try again later
└── CourierRejected      other 4xx, or an error envelope on HTTP 200: a clerk must act
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

import httpx
import msgspec

from contracts.config import CourierAccount
from contracts.couriers import Booking, Shipment, StatusUpdate

T = TypeVar("T")


class CourierError(Exception):
    """Base of the two courier failures."""


class CourierUnavailable(CourierError):
    """The courier could not answer now (timeout, connection, 429, 5xx). Retrying is right."""


class CourierRejected(CourierError):
    """The courier refused the request; the message is the courier's own words, for a clerk."""


class CourierClient(Protocol):
    def create(self, shipment: Shipment) -> Booking: ...

    def find(self, reference: str) -> Booking | None: ...

    def track(self, tracking_code: str) -> list[StatusUpdate]: ...

    def cancel(self, tracking_code: str) -> str: ...

    def redeliver(self, tracking_code: str) -> str: ...

    def return_to_sender(self, tracking_code: str) -> str: ...


def send(
    http: httpx.Client,
    account: CourierAccount,
    courier: str,
    method: str,
    path: str,
    *,
    headers: dict[str, str],
    content: bytes | None = None,
    params: dict[str, str] | None = None,
) -> httpx.Response:
    """One call to a courier at the account's base URL and timeout; no answer is `CourierUnavailable`."""
    try:
        return http.request(
            method,
            f"{account.base_url}{path}",
            content=content,
            params=params,
            headers=headers,
            timeout=account.timeout_seconds,
        )
    except httpx.TransportError as error:  # timeouts and connection failures alike
        raise CourierUnavailable(f"{courier} unreachable: {type(error).__name__}") from error


def read(courier: str, envelope_error: type[Exception], decode: Callable[[], T]) -> T:
    """Run a decoder over a courier's 2xx answer: its error envelope (a refusal on HTTP 200) is a
    `CourierRejected` in the courier's words; an unreadable body is a courier in trouble."""
    try:
        return decode()
    except envelope_error as error:
        raise CourierRejected(f"{courier}: {error}") from error
    except msgspec.DecodeError as error:  # ValidationError included
        raise CourierUnavailable(f"{courier} answered an unreadable body: {error}") from error


def classify(response: httpx.Response) -> None:
    """Raise the right CourierError for a non-2xx answer; return for a 2xx one."""
    if response.status_code == 429 or response.status_code >= 500:
        raise CourierUnavailable(f"HTTP {response.status_code} from {response.request.url.host}")
    if response.status_code >= 400:
        raise CourierRejected(f"HTTP {response.status_code}: {_readable(response)[:500]}")


def _readable(response: httpx.Response) -> str:
    """The body as text, JSON re-encoded so `\\u1ea1`-style escapes read as the courier's own words."""
    try:
        return msgspec.json.encode(msgspec.json.decode(response.content)).decode()
    except msgspec.DecodeError:
        return response.text


def client_for(courier: str, account: CourierAccount, http: httpx.Client) -> CourierClient:
    from workers.couriers import ghn, ghtk, viettelpost, vnpost

    factories: dict[str, type[CourierClient]] = {
        "ghn": ghn.GhnClient,
        "ghtk": ghtk.GhtkClient,
        "viettelpost": viettelpost.ViettelPostClient,
        "vnpost": vnpost.VnpostClient,
    }
    if courier not in factories:
        raise CourierRejected(f"no adapter for courier {courier!r} yet")
    return factories[courier](account, http)
