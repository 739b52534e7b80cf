"""Outbound webhooks to one-stop systems, per the Standard Webhooks spec: endpoints, thin messages,
signatures, the retry schedule, the egress rules, and the national dossier status they carry."""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
from datetime import datetime
from typing import Annotated, Literal

import msgspec

from contracts.base import Inbound, Record
from contracts.orders import Kind, Order
from contracts.statuses import NEEDS_CLERK, Status

EventType = Literal[
    "order.created",
    "order.booked",
    "order.status_changed",
    "order.delivered",
    "order.returned",
    "order.exception",
    "dossier.submitted",
    "dossier.result_delivered",
    "endpoint.disabled",
]
EVENT_TYPES: tuple[str, ...] = EventType.__args__  # type: ignore[attr-defined]

# Standard Webhooks' schedule as the issue fixes it: the first try at once, then these waits after
# each failure (5 s ... 24 h): ten attempts over about three days, each wait with ±20 % jitter.
RETRY_DELAYS: tuple[int, ...] = (5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400)
ATTEMPTS = len(RETRY_DELAYS) + 1
JITTER = 0.2
DISABLE_AFTER_SECONDS = 5 * 86400  # failing continuously this long disables the endpoint (as Svix)
ROTATION_GRACE_SECONDS = 24 * 3600  # an old secret keeps signing this long after a rotation
TOLERANCE_SECONDS = 300  # what receivers accept as clock skew (the reference libraries' default)

Url = Annotated[str, msgspec.Meta(min_length=8, max_length=2000, examples=["https://motcua.hanoi.gov.vn/hooks/dd"])]
Description = Annotated[str, msgspec.Meta(max_length=200)]


class EndpointCreate(Inbound, kw_only=True):
    url: Url
    event_types: list[EventType] | None = None  # None: every type
    enabled: bool = True
    description: Description = ""


class EndpointPatch(Inbound, kw_only=True):
    url: Url | None = None
    event_types: list[EventType] | None = None
    enabled: bool | None = None
    description: Description | None = None
    rotate_secret: bool = False  # a new secret, answered once; the old one signs too for 24 h


class Secret(Record, frozen=True, kw_only=True):
    value: str  # whsec_<base64>
    expires_at: datetime | None = None  # set when rotated out


class Endpoint(Record, frozen=True, kw_only=True):
    id: str
    centre: str
    url: str
    event_types: tuple[str, ...] | None
    enabled: bool
    description: str = ""
    secrets: tuple[Secret, ...]
    created_at: datetime
    failing_since: datetime | None = None  # the first failure of the current run of failures
    disabled_reason: str | None = None
    disabled_at: datetime | None = None

    def wants(self, event_type: str) -> bool:
        return self.enabled and (self.event_types is None or event_type in self.event_types)


class EndpointView(Record, frozen=True, kw_only=True):
    """An endpoint as the API shows it: never its secrets, except `secret` right after create or rotate."""

    id: str
    url: str
    event_types: tuple[str, ...] | None
    enabled: bool
    description: str
    created_at: datetime
    failing_since: datetime | None
    disabled_reason: str | None
    disabled_at: datetime | None
    secret: str | None = None


def endpoint_view(endpoint: Endpoint, secret: str | None = None) -> EndpointView:
    return EndpointView(
        id=endpoint.id,
        url=endpoint.url,
        event_types=endpoint.event_types,
        enabled=endpoint.enabled,
        description=endpoint.description,
        created_at=endpoint.created_at,
        failing_since=endpoint.failing_since,
        disabled_reason=endpoint.disabled_reason,
        disabled_at=endpoint.disabled_at,
        secret=secret,
    )


# -- the national dossier status ---------------------------------------------------------------------
class NationalStatus(Record, frozen=True, kw_only=True):
    """The one-stop system's dossier status (TT 01/2018, the codes its sync uses; couriers-vn.md §7.5)."""

    code: int
    name: str


RECEIVED_BY_POST = 3  # the receiving channel "qua bưu chính công ích"
_NEW = NationalStatus(code=1, name="Mới đăng ký")
_RECEIVED = NationalStatus(code=2, name="Được tiếp nhận")
_PROCESSED = NationalStatus(code=9, name="Đã xử lý xong")
_RETURNED = NationalStatus(code=10, name="Đã trả kết quả")


def national_status(kind: Kind, status: Status) -> NationalStatus:
    """What the order means for the dossier in the one-stop system.

    A pickup brings the dossier in: "Mới đăng ký" (1) until the courier hands it over at the centre,
    then "Được tiếp nhận" (2), the legal submission (QĐ 45/2016 Điều 7.4); a pickup that ends any other
    way never submitted it. A delivery carries a ready result: "Đã xử lý xong" (9) until the citizen
    has it, "Đã trả kết quả" (10) once delivered, and back to 9 when it returns to the centre (§9.13).
    """
    if kind is Kind.PICKUP:
        return _RECEIVED if status is Status.DELIVERED else _NEW
    return _RETURNED if status is Status.DELIVERED else _PROCESSED


# -- messages ------------------------------------------------------------------------------------------
class OrderData(Record, frozen=True, kw_only=True, tag_field="object", tag="order"):
    """A thin payload: ids, statuses and times, no personal data; fetch the order for the rest."""

    order_id: str
    centre: str
    dossier_code: str
    kind: Kind
    status: Status
    previous_status: Status | None
    courier: str
    tracking_code: str | None
    linked_order_id: str | None
    national_status: NationalStatus
    receiving_channel: int = RECEIVED_BY_POST
    changed_at: datetime


class EndpointData(Record, frozen=True, kw_only=True, tag_field="object", tag="endpoint"):
    endpoint_id: str
    url: str
    failing_since: datetime | None
    reason: str


class Message(Record, frozen=True, kw_only=True):
    id: str  # msg_...: webhook-id, the same on every attempt
    centre: str
    type: str
    timestamp: datetime
    data: OrderData | EndpointData


def payload(message: Message) -> bytes:
    """The body as sent: Standard Webhooks' `{type, timestamp, data}`."""
    return msgspec.json.encode({"type": message.type, "timestamp": message.timestamp, "data": message.data})


def order_types(old: Status | None, order: Order) -> list[str]:
    """The event types one change of an order's status produces (`old` None: it was just created)."""
    if old is None:
        return ["order.created"]
    if old == order.status:
        return []
    types = ["order.status_changed"]
    if order.status is Status.BOOKED:
        types.append("order.booked")
    elif order.status is Status.DELIVERED:
        types.append("order.delivered")
        types.append("dossier.submitted" if order.kind is Kind.PICKUP else "dossier.result_delivered")
    elif order.status is Status.RETURNED:
        types.append("order.returned")
    if order.status in NEEDS_CLERK or order.status in (Status.LOST, Status.DAMAGED):
        types.append("order.exception")
    return types


def order_data(old: Status | None, order: Order, at: datetime) -> OrderData:
    return OrderData(
        order_id=order.id,
        centre=order.centre,
        dossier_code=order.dossier_code,
        kind=order.kind,
        status=order.status,
        previous_status=old,
        courier=order.courier,
        tracking_code=order.tracking_code,
        linked_order_id=order.linked_order_id,
        national_status=national_status(order.kind, order.status),
        changed_at=at,
    )


# -- signing -------------------------------------------------------------------------------------------
def new_secret(entropy: bytes) -> str:
    return "whsec_" + base64.b64encode(entropy).decode()


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256>` over `id.timestamp.body`, the key being the secret's base64 part."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def signature_header(secrets: tuple[Secret, ...], message_id: str, timestamp: int, body: bytes, now: datetime) -> str:
    """Every live secret signs, space-separated: during a rotation receivers holding either one verify."""
    live = [s for s in secrets if s.expires_at is None or s.expires_at > now]
    return " ".join(sign(s.value, message_id, timestamp, body) for s in live)


# -- retries -------------------------------------------------------------------------------------------
def retry_delay(attempt: int, unit: float, retry_after: float | None = None) -> float | None:
    """Seconds to wait after failed attempt number `attempt` (1-based), or None: no attempts left.

    `unit` in [0, 1) draws the jitter (±20 %). A `Retry-After` on 429/503 is honoured when longer,
    up to a day.
    """
    if attempt >= ATTEMPTS:
        return None
    base = RETRY_DELAYS[attempt - 1]
    delay = base * (1 - JITTER + 2 * JITTER * unit)
    if retry_after is not None:
        delay = max(delay, min(retry_after, 86400.0))
    return delay


# -- egress --------------------------------------------------------------------------------------------
Egress = Literal["public", "loopback", "private"]


def refused_address(address: str, allow: frozenset[str]) -> str | None:
    """Why we will not post to this IP address, or None. `allow` may hold "loopback" and "private"."""
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address):  # an IPv4 address carried inside IPv6 is judged as itself
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        ip = embedded or ip
    if ip.is_loopback:
        return None if "loopback" in allow else "a loopback address"
    # Anything not globally routable: private ranges, link-local (cloud metadata), carrier-grade NAT
    # (100.64.0.0/10), reserved and documentation ranges, multicast.
    if not ip.is_global or ip.is_multicast:
        return None if "private" in allow else "a private or reserved address"
    return None
