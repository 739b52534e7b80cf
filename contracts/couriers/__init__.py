"""What each courier speaks: wire Structs, status tables, pure encoders and decoders."""

from __future__ import annotations

import re
from datetime import datetime
from urllib.parse import unquote

from contracts.addresses import ResolvedAddress, resolve
from contracts.base import Record
from contracts.calendar import VIETNAM_TZ
from contracts.config import Centre
from contracts.money import Charge
from contracts.orders import Address, Kind, Order
from contracts.statuses import Status

VIETNAM = VIETNAM_TZ  # naive courier times are Asia/Ho_Chi_Minh


_NOT_FOUND = re.compile(r"không tìm thấy|không tồn tại|not found|does not exist|no such", re.IGNORECASE)


def says_not_found(message: str) -> bool:
    """Whether a courier's refusal of a lookup says it does not know the order.

    Only that answer may read as "not booked": a busy, throttled or unexplained refusal could hide a
    booking, and booking again on a guess sends the dossier twice.
    """
    return bool(_NOT_FOUND.search(message))


def form_pairs(text: str, *, strict: bool = False) -> list[tuple[str, str]]:
    """`urllib.parse.parse_qsl(text, keep_blank_values=True, strict_parsing=strict)`, pair for pair, at a
    third of its cost (GHTK's form bodies and every callback's query string): a part without `%` or
    `+` is taken as it is. Strict: an empty part or one without `=` is a ValueError, as there."""
    pairs: list[tuple[str, str]] = []
    if not text:
        return pairs
    for part in text.split("&"):
        name, equals, value = part.partition("=")
        if not equals:
            if strict:
                raise ValueError(f"bad query field: {part!r}")
            if not part:
                continue
        pairs.append((_unquoted(name), _unquoted(value)))
    return pairs


def _unquoted(text: str) -> str:
    if "+" in text:
        text = text.replace("+", " ")
    return unquote(text) if "%" in text else text


def as_vietnam_time(moment: datetime) -> datetime:
    """Naive courier times are Vietnam local time; aware ones are the same instant in Vietnam time, as
    the store gives every time back. (One zone for all: times in the same zone object compare without
    working out their offsets, and ingest sorts and hashes them at every step.)"""
    return moment.replace(tzinfo=VIETNAM) if moment.tzinfo is None else moment.astimezone(VIETNAM)


class Party(Record, frozen=True, kw_only=True):
    """A person or office the courier meets: only what the courier needs to find them."""

    name: str
    phone: str
    street: str
    ward_name: str
    province_name: str
    ward_code: str = ""  # the 2025 unit codes, for couriers that take codes (VNPost's new communes)
    province_code: str = ""


class Shipment(Record, frozen=True, kw_only=True):
    """The courier-neutral booking: our reference, who gives, who receives, and the parcel."""

    reference: str
    sender: Party
    receiver: Party
    document_count: int
    weight_grams: int
    receiver_pays: bool = False  # postage collected from the receiver at delivery
    collect_amount: int = 0  # money the courier collects at delivery for the agency (lệ phí), VND
    declared_value: int = 0  # sets the compensation for loss instead of the 4x-postage default
    home_pickup: bool = False  # the courier collects at the sender's home (a pickup order: VNPost GTG026)
    proof_of_delivery: bool = False  # a signed delivery receipt comes back (báo phát: VNPost GTG001)


class Booking(Record, frozen=True, kw_only=True):
    tracking_code: str
    total_fee: int | None = None
    expected_delivery: datetime | None = None


class StatusUpdate(Record, frozen=True, kw_only=True):
    """One status report decoded from a courier's callback or detail answer, before reconciliation."""

    reference: str | None  # our order id, when the courier echoes it
    tracking_code: str
    raw_status: str
    status: Status | None
    raw_text: str
    reason_code: str | None
    reason: str | None
    event_time: datetime
    location: str | None
    unconfirmed: bool = False  # the courier's agent reported it; the courier has not confirmed it yet
    reports_status: bool = True  # False: a money-only message (fee, weight, COD), no timeline event
    charges: tuple[Charge, ...] = ()  # money facts the message carried, for the order's money record


class CallbackRequest(Record, frozen=True, kw_only=True):
    """What arrived at `/v1/callbacks/{courier}`, as the courier's verifier needs to see it."""

    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    remote: str


def party(name: str, phone: str, address: ResolvedAddress, codes: Address) -> Party:
    return Party(
        name=name,
        phone=phone,
        street=address.street,
        ward_name=address.ward_name,
        province_name=address.province_name,
        ward_code=codes.ward_code,
        province_code=codes.province_code,
    )


def build_shipment(order: Order, centre: Centre) -> Shipment:
    """Who gives and who receives follows the kind: a pickup goes citizen → centre, a delivery the reverse.

    Only the name, phone and address of the person to meet go to the courier: no ID number, no
    dossier contents, no procedure (data minimisation, couriers-vn.md §9.26).
    """
    centre_address = Address(province_code=centre.province_code, ward_code=centre.ward_code, street=centre.street)
    citizen = party(order.citizen.name, order.citizen.phone, resolve(order.address), order.address)
    office = party(centre.name, centre.phone, resolve(centre_address), centre_address)
    sender, receiver = (citizen, office) if order.kind is Kind.PICKUP else (office, citizen)
    pages = sum(document.count for document in order.documents)
    delivery = order.kind is Kind.DELIVERY
    return Shipment(
        reference=order.id,
        sender=sender,
        receiver=receiver,
        document_count=len(order.documents),
        weight_grams=min(200 + 10 * pages, 5000),
        # Private couriers collect money only at delivery (couriers-vn.md §9.16): a pickup's postage and
        # fee are settled by the centre.
        receiver_pays=delivery and order.payment.postage_payer == "citizen",
        collect_amount=order.payment.agency_fee if delivery else 0,
        declared_value=order.payment.declared_value,
        home_pickup=order.kind is Kind.PICKUP,
        proof_of_delivery=order.proof_of_delivery,
    )
