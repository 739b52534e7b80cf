"""Orders: what a centre sends us, what we store, and what we answer."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Literal

import msgspec

from contracts.base import Inbound, Record
from contracts.money import Charge, MoneyRecord, money_record
from contracts.statuses import Status


class Kind(StrEnum):
    PICKUP = "pickup"  # dossier from the citizen's home to the centre
    DELIVERY = "delivery"  # result from the centre to the citizen
    ROUND_TRIP = "round_trip"  # both, as two linked legs (only in requests; each stored leg is one of the two)


class Courier(StrEnum):
    VNPOST = "vnpost"
    VIETTELPOST = "viettelpost"
    GHN = "ghn"
    GHTK = "ghtk"


def _text(max_length: int, example: str) -> object:
    return msgspec.Meta(min_length=1, max_length=max_length, examples=[example])


Name = Annotated[str, _text(200, "Nguyễn Văn An")]
Code = Annotated[str, _text(64, "000.00.01.H26-261121-0001")]
# Loose on the way in (spaces, +84); normalised to national digits, 0xxxxxxxxx, by `intake.normalise_phone`.
Phone = Annotated[str, msgspec.Meta(pattern=r"^\+?[0-9 .()-]{8,20}$", examples=["0912345678"])]
Email = Annotated[str, msgspec.Meta(pattern=r"^[^@\s]{1,64}@[^@\s]{1,190}\.[A-Za-z]{2,}$", examples=["an@example.vn"])]
# CCCD (12 digits), CMND (9 digits) or passport (a letter and 7-8 digits).
IdNumber = Annotated[str, msgspec.Meta(pattern=r"^([0-9]{9}|[0-9]{12}|[A-Z][0-9]{7,8})$", examples=["001090012345"])]
ProvinceCode = Annotated[str, msgspec.Meta(pattern=r"^[0-9]{2}$", examples=["01"])]
WardCode = Annotated[str, msgspec.Meta(pattern=r"^[0-9]{5}$", examples=["00004"])]
Money = Annotated[int, msgspec.Meta(ge=0, le=1_000_000_000)]  # whole VND


class Citizen(Inbound, kw_only=True):
    name: Name
    phone: Phone
    email: Email | None = None
    # Kept for the identity check at hand-over (QĐ 45 Đ9, TT 17 Đ5): never logged, never sent to a courier.
    id_number: IdNumber | None = None
    language: Literal["vi", "en"] = "vi"  # of the notices we send (TT 17/2017 Điều 12)


class AuthorisedRecipient(Inbound, kw_only=True):
    """Someone the citizen authorised to receive the result: they show the authorisation and their own ID."""

    name: Name
    id_number: IdNumber
    authorisation_ref: Annotated[str, _text(100, "GUQ-2026/123")]


class Address(Inbound, kw_only=True):
    """An address on the 2025 two-level units: province and ward (commune), no district."""

    province_code: ProvinceCode
    ward_code: WardCode
    street: Annotated[str, _text(200, "12 Phố Huế")]


class LegacyAddress(Inbound, kw_only=True):
    """A pre-1/7/2025 three-level address, by names; accepted only through a reported conversion."""

    province: Annotated[str, _text(100, "Thành phố Hà Nội")]
    district: Annotated[str, _text(100, "Quận Hai Bà Trưng")]
    ward: Annotated[str, _text(100, "Phường Bùi Thị Xuân")]
    street: Annotated[str, _text(200, "12 Phố Huế")]


class Document(Inbound, kw_only=True):
    name: Annotated[str, _text(200, "Giấy chứng nhận quyền sử dụng đất")]
    original: bool = False  # bản chính (True) or bản sao (False)
    count: Annotated[int, msgspec.Meta(ge=1, le=100)] = 1


class Payment(Inbound, kw_only=True):
    """Money kept apart: postage (cước) and who pays it, the agency fee (lệ phí) and the declared value."""

    postage_payer: Literal["citizen", "centre"] = "citizen"  # QĐ 45 Đ12.3: the citizen, unless the centre prepays
    agency_fee: Money = 0  # lệ phí the postman collects for the agency
    declared_value: Money = 0  # khai giá: sets compensation instead of the 4x-postage default


DocumentList = Annotated[list[Document], msgspec.Meta(min_length=1, max_length=50)]


class OrderCreate(Inbound, kw_only=True):
    kind: Kind
    dossier_code: Code
    procedure_code: Annotated[str, _text(64, "1.001234")]
    procedure_name: Annotated[str, _text(300, "Cấp bản sao trích lục hộ tịch")] | None = None
    appointment_date: date | None = None  # hẹn trả: the date the result is promised
    citizen: Citizen
    authorised_recipient: AuthorisedRecipient | None = None
    address: Address | None = None
    legacy_address: LegacyAddress | None = None
    documents: DocumentList
    documents_to_recover: Annotated[list[Document], msgspec.Meta(max_length=50)] = []
    payment: Payment = msgspec.field(default_factory=Payment)
    proof_of_delivery: bool = False  # báo phát: a signed receipt comes back to the centre
    courier: Courier | None = None


class Order(Record, frozen=True, kw_only=True):
    id: str
    centre: str
    kind: Kind
    dossier_code: str
    procedure_code: str
    procedure_name: str = ""
    appointment_date: date | None = None
    citizen: Citizen
    authorised_recipient: AuthorisedRecipient | None = None
    address: Address
    address_note: str | None = None  # what a legacy address was converted to
    documents: tuple[Document, ...]
    documents_to_recover: tuple[Document, ...] = ()
    payment: Payment = msgspec.field(default_factory=Payment)
    proof_of_delivery: bool = False
    courier: Courier
    status: Status
    tracking_code: str | None = None
    linked_order_id: str | None = None  # the other leg of a round trip
    on_hold: bool = False  # a round trip's delivery leg waits for the result: `release` dispatches it
    created_at: datetime
    updated_at: datetime
    dispatch_attempts: int = 0
    dispatch_error: str | None = None
    charges: tuple[Charge, ...] = ()  # the money record: fees, COD and weight as the courier reported them
    contradiction: str | None = None  # the courier's tracking disagrees with what its callbacks said
    replaces: str | None = None  # re-routed: the order at the other courier this one stands in for
    replaced_by: str | None = None  # re-routed: the order that carries this leg instead
    erased_at: datetime | None = None  # retention: archived, and the citizen's personal data erased here


class Deadlines(Record, frozen=True, kw_only=True):
    """Due dates on the working-day calendar: J+n once the courier has accepted, then the invitations."""

    accepted_on: date | None = None  # J: the working day the courier's acceptance counts from
    due_date: date | None = None
    failed_attempts: int = 0
    next_attempt_due: date | None = None
    return_due: date | None = None


class OrderView(Record, frozen=True, kw_only=True):
    """What the API answers: the order without the citizen's personal data echoed back."""

    id: str
    centre: str
    kind: Kind
    dossier_code: str
    procedure_code: str
    procedure_name: str
    appointment_date: date | None
    courier: Courier
    status: Status
    tracking_code: str | None
    linked_order_id: str | None
    on_hold: bool
    documents: tuple[Document, ...]
    documents_to_recover: tuple[Document, ...]
    payment: Payment
    address_note: str | None
    deadlines: Deadlines
    created_at: datetime
    updated_at: datetime
    dispatch_attempts: int
    dispatch_error: str | None
    money: MoneyRecord
    contradiction: str | None


def cod_expected(order: Order) -> int:
    """What the courier should collect for the agency: the fee (lệ phí), only when it delivers to the citizen."""
    return order.payment.agency_fee if order.kind == "delivery" else 0


def view(order: Order, deadlines: Deadlines | None = None) -> OrderView:
    return OrderView(
        id=order.id,
        centre=order.centre,
        kind=order.kind,
        dossier_code=order.dossier_code,
        procedure_code=order.procedure_code,
        procedure_name=order.procedure_name,
        appointment_date=order.appointment_date,
        courier=order.courier,
        status=order.status,
        tracking_code=order.tracking_code,
        linked_order_id=order.linked_order_id,
        on_hold=order.on_hold,
        documents=order.documents,
        documents_to_recover=order.documents_to_recover,
        payment=order.payment,
        address_note=order.address_note,
        deadlines=deadlines or Deadlines(),
        created_at=order.created_at,
        updated_at=order.updated_at,
        dispatch_attempts=order.dispatch_attempts,
        dispatch_error=order.dispatch_error,
        money=money_record(order.charges, cod_expected(order)),
        contradiction=order.contradiction,
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
