"""Orders: what a centre sends us, what we store, and what we answer."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

import msgspec

from contracts.base import Inbound, Record
from contracts.statuses import Status


class Kind(StrEnum):
    PICKUP = "pickup"  # dossier from the citizen's home to the centre
    DELIVERY = "delivery"  # result from the centre to the citizen


class Courier(StrEnum):
    VNPOST = "vnpost"
    VIETTELPOST = "viettelpost"
    GHN = "ghn"
    GHTK = "ghtk"


NonEmpty = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Code = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
# Vietnamese numbers: 0 + 9 digits, or +84/84 + 9 digits; normalised to 0xxxxxxxxx on the way in.
Phone = Annotated[str, msgspec.Meta(pattern=r"^(\+?84|0)[1-9][0-9]{8}$")]
UnitCode = Annotated[str, msgspec.Meta(pattern=r"^[0-9]{2,5}$")]


class Citizen(Inbound, kw_only=True):
    name: NonEmpty
    phone: Phone


class Address(Inbound, kw_only=True):
    """An address on the 2025 two-level units: province and ward (commune), no district."""

    province_code: UnitCode
    ward_code: UnitCode
    street: NonEmpty


class Document(Inbound, kw_only=True):
    name: NonEmpty
    original: bool = False
    count: Annotated[int, msgspec.Meta(ge=1, le=100)] = 1


class OrderCreate(Inbound, kw_only=True):
    kind: Kind
    dossier_code: Code
    procedure_code: Code
    citizen: Citizen
    address: Address
    documents: Annotated[list[Document], msgspec.Meta(min_length=1, max_length=50)]
    courier: Courier | None = None


class Order(Record, frozen=True, kw_only=True):
    id: str
    centre: str
    kind: Kind
    dossier_code: str
    procedure_code: str
    citizen: Citizen
    address: Address
    documents: tuple[Document, ...]
    courier: Courier
    status: Status
    tracking_code: str | None = None
    created_at: datetime
    updated_at: datetime
    dispatch_attempts: int = 0
    dispatch_error: str | None = None


class OrderView(Record, frozen=True, kw_only=True):
    """What `GET /v1/orders/{id}` answers: the order without the citizen's personal data echoed back."""

    id: str
    centre: str
    kind: Kind
    dossier_code: str
    procedure_code: str
    courier: Courier
    status: Status
    tracking_code: str | None
    created_at: datetime
    updated_at: datetime
    dispatch_attempts: int
    dispatch_error: str | None


def normalise_phone(phone: str) -> str:
    """+84912345678 and 84912345678 become 0912345678, the form every courier expects."""
    if phone.startswith("+84"):
        return "0" + phone[3:]
    if phone.startswith("84") and len(phone) == 11:
        return "0" + phone[2:]
    return phone


def new_order(payload: OrderCreate, *, order_id: str, centre: str, courier: Courier, now: datetime) -> Order:
    citizen = Citizen(name=payload.citizen.name.strip(), phone=normalise_phone(payload.citizen.phone))
    return Order(
        id=order_id,
        centre=centre,
        kind=payload.kind,
        dossier_code=payload.dossier_code,
        procedure_code=payload.procedure_code,
        citizen=citizen,
        address=payload.address,
        documents=tuple(payload.documents),
        courier=courier,
        status=Status.ACCEPTED,
        created_at=now,
        updated_at=now,
    )


def view(order: Order) -> OrderView:
    return OrderView(
        id=order.id,
        centre=order.centre,
        kind=order.kind,
        dossier_code=order.dossier_code,
        procedure_code=order.procedure_code,
        courier=order.courier,
        status=order.status,
        tracking_code=order.tracking_code,
        created_at=order.created_at,
        updated_at=order.updated_at,
        dispatch_attempts=order.dispatch_attempts,
        dispatch_error=order.dispatch_error,
    )


def format_order_id(province_code: str, millis: int, entropy: bytes) -> str:
    """`o<province><time><random>`: sortable by creation, and it carries the province shard."""
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    value = (millis << 80) | int.from_bytes(entropy[:10], "big")
    chars = []
    for _ in range(26):
        value, digit = divmod(value, 32)
        chars.append(alphabet[digit])
    return f"o{province_code}{''.join(reversed(chars))}"
