"""GHTK (Giao Hàng Tiết Kiệm): wire Structs, encoders, decoders and the callback check (codes in `ghtk_codes`).

Account fields used: `token` (the static `Token` header), `partner_code` (`X-Client-Source`),
`callback_secret` (the `?hash=` in the callback URL we register), `callback_ips`, `options`.

VERIFY (couriers-vn.md marks these unconfirmed; settable per account, defaults say what we send):
- `options["district_mode"]`: the district field after the 2025 reform (§7.7, §10.3), which the docs still
  list. "empty" (default): `district: ""` beside the ward and province names; "omit": no district field;
  "ward": the ward name again, for a resolver that insists on a value.
- `callback_ips`: GHTK's webhook source addresses are not documented (§10.3). Empty (default): the secret
  alone authenticates; otherwise the caller must also post from a listed address.
- Duplicate `order.id`: undocumented (§9.9). Nothing to set: the worker looks a timed-out booking up by our
  reference before creating again, and the sandbox plays both answers.
- Callback retries: "resends" (old docs) vs "retry once" (api.ghtk.vn); we also poll `track()` (§3.4).
- `cur_station.address_l0..l3` (pro-docs only): how a form body nests it is not shown, so it is not read.

Other options: `options["pick_option"]` ("cod", default, or "post") says whether GHTK collects a delivery's
result at the centre or the centre drops it at a GHTK post office; a home pickup is always "cod".
"""

from __future__ import annotations

import hmac
import re
from datetime import datetime

import msgspec

from contracts.base import Wire
from contracts.config import CourierAccount
from contracts.couriers import (
    Booking,
    CallbackRequest,
    Party,
    Shipment,
    StatusUpdate,
    as_vietnam_time,
    form_pairs,
)
from contracts.couriers.ghtk_codes import REASON, REPORTS, STATUS, STATUS_TEXT, TAGS
from contracts.money import Charge, ChargeField, reported
from contracts.statuses import Status

NAME = "ghtk"

DISTRICT_MODES = ("empty", "omit", "ward")
PICK_OPTIONS = ("cod", "post")
UNKNOWN_HAMLET = "Khác"  # the 4th address level, when we do not know it (§3.2)


class Product(msgspec.Struct, kw_only=True):
    name: str
    weight: float  # kg
    quantity: int


class CreateOrder(msgspec.Struct, kw_only=True, omit_defaults=True):
    """`order` of `POST /services/shipment/order/?ver=1.5` (§3.2): address names, resolved by GHTK."""

    id: str  # our reference: unique per shop, the idempotency key
    pick_name: str
    pick_tel: str
    pick_address: str
    pick_street: str
    pick_ward: str
    pick_district: str | None = None  # None: left out (district_mode "omit")
    pick_province: str
    name: str
    tel: str
    address: str
    street: str
    hamlet: str
    ward: str
    district: str | None = None
    province: str
    # A dossier that cannot be delivered goes back to whoever gave it, said explicitly (§9.13).
    use_return_address: int
    return_name: str
    return_tel: str
    return_address: str
    return_street: str
    return_ward: str
    return_district: str | None = None
    return_province: str
    pick_money: int  # COD, required (0: none)
    value: int  # declared value for insurance
    is_freeship: str  # "1": the shop pays postage; "0": the receiver pays
    pick_option: str  # "cod": GHTK collects; "post": dropped at a GHTK post office
    deliver_option: str  # "none": no xteam express
    tags: list[int]
    total_weight: float  # kg


class CreateRequest(msgspec.Struct, kw_only=True):
    products: list[Product]
    order: CreateOrder


class CreatedOrder(Wire, kw_only=True):
    label: str
    partner_id: str | None = None
    fee: int | str | None = None
    insurance_fee: int | str | None = None


class Detail(Wire, kw_only=True):
    """`order` of `GET /services/shipment/v2/{label}` and `.../v2/partner_id:{id}` (§3.3)."""

    label_id: str
    partner_id: str | None = None
    status: int | str
    status_text: str | None = None
    modified: datetime  # naive Vietnam time, "2026-11-21 10:30:00"
    ship_money: int | str | None = None
    insurance: int | str | None = None


class Envelope(Wire, kw_only=True):
    success: bool
    message: str | None = None
    order: msgspec.Raw = msgspec.field(default_factory=lambda: msgspec.Raw(b"null"))


class Callback(Wire, kw_only=True):
    """The webhook body (§3.4), form-urlencoded: only the fields we read."""

    label_id: str
    partner_id: str = ""
    status_id: int
    action_time: datetime
    reason_code: str = ""
    reason: str = ""
    return_part_package: int = 0  # 1: partial delivery or return
    fee: int | None = None  # shipping fee as GHTK now states it, VND
    pick_money: int | None = None  # COD GHTK collects, VND
    weight: float | None = None  # kg in the webhook (grams in the fee API, §9.7)


ENVELOPE = msgspec.json.Decoder(Envelope)
_CREATED = msgspec.json.Decoder(CreatedOrder)
_DETAIL = msgspec.json.Decoder(Detail)
_ENCODER = msgspec.json.Encoder()
# A "+07:00" offset whose "+" was not percent-encoded reads back as a space.
_BARE_OFFSET = re.compile(r"(:\d{2}(?:\.\d+)?) (\d{2}:?\d{2})$")


class EnvelopeError(Exception):
    """GHTK answered `success: false` (often on HTTP 200): the message is GHTK's own, for a clerk."""


def _district(party: Party, mode: str) -> str | None:
    if mode not in DISTRICT_MODES:
        raise ValueError(f"GHTK option district_mode={mode!r}: expected one of {', '.join(DISTRICT_MODES)}")
    return {"empty": "", "omit": None, "ward": party.ward_name}[mode]


def encode_shipment(shipment: Shipment, account: CourierAccount) -> bytes:
    """The create body; ValueError names a bad account option.

    Only the name, phone and address of the people to meet go out: no ID number, e-mail, dossier or
    procedure, and no note (data minimisation, §9.26).
    """
    sender, receiver = shipment.sender, shipment.receiver
    mode = account.options.get("district_mode", "empty")
    pick_option = "cod" if shipment.home_pickup else account.options.get("pick_option", "cod")
    if pick_option not in PICK_OPTIONS:
        raise ValueError(f"GHTK option pick_option={pick_option!r}: expected one of {', '.join(PICK_OPTIONS)}")
    kilograms = shipment.weight_grams / 1000
    order = CreateOrder(
        id=shipment.reference,
        pick_name=sender.name, pick_tel=sender.phone, pick_address=sender.street, pick_street=sender.street,
        pick_ward=sender.ward_name, pick_district=_district(sender, mode), pick_province=sender.province_name,
        name=receiver.name, tel=receiver.phone, address=receiver.street, street=receiver.street,
        hamlet=UNKNOWN_HAMLET, ward=receiver.ward_name, district=_district(receiver, mode),
        province=receiver.province_name,
        use_return_address=1,
        return_name=sender.name, return_tel=sender.phone, return_address=sender.street, return_street=sender.street,
        return_ward=sender.ward_name, return_district=_district(sender, mode), return_province=sender.province_name,
        pick_money=shipment.collect_amount,
        value=shipment.declared_value,
        is_freeship="0" if shipment.receiver_pays else "1",
        pick_option=pick_option,
        deliver_option="none",
        tags=list(TAGS),
        total_weight=kilograms,
    )  # fmt: skip
    products = [Product(name="Tài liệu", weight=kilograms, quantity=shipment.document_count)]
    return _ENCODER.encode(CreateRequest(products=products, order=order))


def _unwrap(body: bytes) -> msgspec.Raw:
    envelope = ENVELOPE.decode(body)
    if not envelope.success:
        raise EnvelopeError(envelope.message or "GHTK answered success: false without a message")
    if bytes(envelope.order) in (b"null", b""):
        raise EnvelopeError("GHTK answered success without order data")
    return envelope.order


def _money(*amounts: int | str | None) -> int | None:
    known = [int(a) for a in amounts if a is not None and str(a).strip().lstrip("-").isdigit()]
    return sum(known) if known else None


def decode_created(body: bytes) -> Booking:
    created = _CREATED.decode(_unwrap(body))
    # `estimated_deliver_time` is a shift and a day ("Chiều 2017-07-01"), not a time: not read.
    return Booking(tracking_code=created.label, total_fee=_money(created.fee, created.insurance_fee))


def decode_cancelled(body: bytes) -> str:
    """`POST /services/shipment/cancel/{label}`: GHTK's message; EnvelopeError when it refuses."""
    envelope = ENVELOPE.decode(body)
    if not envelope.success:
        raise EnvelopeError(envelope.message or "GHTK refused the cancellation without a message")
    return envelope.message or "OK"


def decode_detail(body: bytes) -> Detail:
    return _DETAIL.decode(_unwrap(body))


def _status_id(raw: int | str) -> int | None:
    try:
        return int(raw)
    except ValueError:
        return None


def detail_booking(detail: Detail) -> Booking:
    return Booking(tracking_code=detail.label_id, total_fee=_money(detail.ship_money, detail.insurance))


def detail_updates(detail: Detail) -> list[StatusUpdate]:
    """The current status the lookup reports (GHTK gives no history), as of its last change."""
    status_id = _status_id(detail.status)
    return [
        StatusUpdate(
            reference=detail.partner_id or None,
            tracking_code=detail.label_id,
            raw_status=str(detail.status),
            status=map_status(status_id),
            raw_text=detail.status_text or (STATUS_TEXT.get(status_id, "") if status_id is not None else ""),
            reason_code=None,
            reason=None,
            event_time=as_vietnam_time(detail.modified),
            location=None,
            unconfirmed=status_id in REPORTS,
        )
    ]


def decode_found(body: bytes) -> Booking:
    """The lookup by our reference (`v2/partner_id:{id}`); EnvelopeError when GHTK does not know it."""
    return detail_booking(decode_detail(body))


def decode_tracked(body: bytes) -> list[StatusUpdate]:
    """The lookup by tracking code (`v2/{label}`), as status updates for polling quiet orders."""
    return detail_updates(decode_detail(body))


def map_status(status_id: int | None, partial: bool = False) -> Status | None:
    """The canonical status, or None for a code GHTK has not documented (kept, never guessed).

    A partial delivery or return is an incident for a dossier, whatever the status says (§9.14).
    """
    status = STATUS.get(status_id) if status_id is not None else None
    return Status.EXCEPTION if status is not None and partial else status


def decode_callback(body: bytes) -> Callback:
    """The callback, or `msgspec.DecodeError` (not a form body) / `ValidationError` (fields missing or wrong)."""
    try:
        pairs = form_pairs(body.decode("utf-8"), strict=True)
    except ValueError as error:  # UnicodeDecodeError is a ValueError too
        raise msgspec.DecodeError(f"GHTK callback is not a form body: {error}") from None
    fields = {key: value for key, value in pairs if value != ""}
    if "action_time" in fields:
        fields["action_time"] = _BARE_OFFSET.sub(r"\1+\2", fields["action_time"])
    return msgspec.convert(fields, Callback, strict=False)


def charges(callback: Callback, at: datetime) -> tuple[Charge, ...]:
    """The money facts every GHTK callback repeats; status 6 ("đã đối soát") is the COD payout."""
    weight = round(callback.weight * 1000) if callback.weight is not None else None
    found: dict[ChargeField, int | None] = {"fee": callback.fee, "cod": callback.pick_money, "weight_grams": weight}
    if callback.status_id == 6:
        found["cod_paid"] = callback.pick_money
    return reported(found, at, f"status {callback.status_id}")


def status_update(callback: Callback) -> StatusUpdate:
    partial = callback.return_part_package == 1
    text = STATUS_TEXT.get(callback.status_id, "")
    at = as_vietnam_time(callback.action_time)
    return StatusUpdate(
        reference=callback.partner_id or None,
        tracking_code=callback.label_id,
        raw_status=str(callback.status_id),
        status=map_status(callback.status_id, partial),
        raw_text=f"{text} (return_part_package=1)".strip() if partial else text,
        reason_code=callback.reason_code or None,
        reason=callback.reason or REASON.get(callback.reason_code) or None,
        event_time=at,
        location=None,
        unconfirmed=callback.status_id in REPORTS,
        charges=charges(callback, at),
    )


def callback_updates(body: bytes) -> list[StatusUpdate]:
    return [status_update(decode_callback(body))]


def verify_callback(given: str | None, secret: str) -> bool:
    """GHTK signs nothing; the secret rides in the registered URL as `?hash=`. Constant-time compare."""
    if not given or not secret:
        return False
    return hmac.compare_digest(given.encode(), secret.encode())


def authenticate(request: CallbackRequest, account: CourierAccount) -> bool:
    if account.callback_ips and request.remote not in account.callback_ips:
        return False
    return verify_callback(request.query.get("hash"), account.callback_secret)
