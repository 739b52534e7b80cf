"""Viettel Post (VTP): wire Structs, encoders, decoders and the callback check; tables in viettelpost_codes.

Addresses: VTP's id-based `createOrder` needs its own v3 catalogue ids (`listProvinceNew`/`listWardsNew`),
which we do not have and must not invent. `UNITS` maps our 2025 codes to them and ships empty; a shipment
whose two wards are both in it goes to `createOrder`, any other to `createOrderNlp` with the full
free-text address (couriers-vn.md §4.3, §7.7). Both carry our reference as `ORDER_NUMBER`.

VERIFY (couriers-vn.md marks these unconfirmed; each is a `CourierAccount.options` key):
- `callback_auth`: "either" (default), "body" or "header". VTP's doc puts the secret in the body's
  `TOKEN`; one plugin checks an `Authorization` header instead (§4.7).
- `national_type`: `NATIONAL_TYPE` for a domestic parcel, default "1" (etop, Odoo); Laravel says 0.
- `order_service`: `ORDER_SERVICE`, default "VCN"; the right code per route comes from `getPriceAll`.
- `cus_id`, `groupaddress_id`: `CUS_ID` and `GROUPADDRESS_ID` from `listInventory`, sent only when set;
  the warehouse goes only on deliveries, where the centre is the sender (a pickup starts at the citizen's).
- `check_unique`: "true" sends `CHECK_UNIQUE` (VTP checks `ORDER_NUMBER` for duplicates). Community code
  only, not in the reference; off by default.
- `detail_path`, `find_path`, `owner_username`, `owner_password`: read by workers/couriers/viettelpost.py.
Also unconfirmed, not configurable: whether v3 ids still want `*_DISTRICT` (we omit it), whether the NLP
create needs `*_PROVINCE` (sent when `UNITS.provinces` knows it), the ward field's spelling (`SENDER_WARD`
in the reference, `SENDER_WARDS` in one client), and the detail answer's shape (read as the webhook DATA).
"""

from __future__ import annotations

import hmac
import re
from datetime import datetime
from typing import Any

import msgspec

from contracts.base import Wire
from contracts.config import CourierAccount
from contracts.couriers import VIETNAM, Booking, CallbackRequest, Party, Shipment, StatusUpdate, as_vietnam_time
from contracts.couriers import viettelpost_codes as codes
from contracts.money import Charge, reported
from contracts.statuses import Status

NAME = "viettelpost"
# The tables live in viettelpost_codes; read them here too, as `viettelpost.STATUS` like `ghn.STATUS`.
STATUS, STATUS_TEXT, REASON, FINAL, UNITS = codes.STATUS, codes.STATUS_TEXT, codes.REASON, codes.FINAL, codes.UNITS
UnitTable = codes.UnitTable
CREATE_BY_IDS = "/v2/order/createOrder"
CREATE_BY_TEXT = "/v2/order/createOrderNlp"
TIME_FORMAT = "%d/%m/%Y %H:%M:%S"  # VTP's "dd/MM/yyyy HH:mm:ss", naive: Vietnam time

# Joint counting at hand-over (QĐ 45 Đ6, Đ9): the receiver may look, not take before signing.
ORDER_NOTE = "Cho xem hàng, không cho thử"


class Item(msgspec.Struct, kw_only=True):
    PRODUCT_NAME: str
    PRODUCT_PRICE: int
    PRODUCT_WEIGHT: int
    PRODUCT_QUANTITY: int


class CreateOrder(msgspec.Struct, kw_only=True, omit_defaults=True):
    """`createOrder` (ids) and `createOrderNlp` (free text): the same fields, ids left out in the second."""

    ORDER_NUMBER: str
    CUS_ID: int | None = None
    GROUPADDRESS_ID: int | None = None
    DELIVERY_DATE: str | None = None
    SENDER_FULLNAME: str
    SENDER_ADDRESS: str
    SENDER_PHONE: str
    SENDER_PROVINCE: int | None = None
    SENDER_WARD: int | None = None
    RECEIVER_FULLNAME: str
    RECEIVER_ADDRESS: str
    RECEIVER_PHONE: str
    RECEIVER_PROVINCE: int | None = None
    RECEIVER_WARD: int | None = None
    PRODUCT_NAME: str
    PRODUCT_QUANTITY: int
    PRODUCT_PRICE: int
    PRODUCT_WEIGHT: int
    PRODUCT_LENGTH: int
    PRODUCT_WIDTH: int
    PRODUCT_HEIGHT: int
    PRODUCT_TYPE: str  # TH: documents, HH: goods
    ORDER_PAYMENT: int  # 1 nothing, 2 COD + postage, 3 COD only, 4 postage only
    ORDER_SERVICE: str
    ORDER_SERVICE_ADD: str  # comma-separated add-ons; GBH is insurance
    ORDER_NOTE: str
    MONEY_COLLECTION: int
    NATIONAL_TYPE: int
    CHECK_UNIQUE: bool | None = None
    LIST_ITEM: list[Item]


class Login(msgspec.Struct, kw_only=True):
    USERNAME: str
    PASSWORD: str


class Update(msgspec.Struct, kw_only=True, omit_defaults=True):
    TYPE: int
    ORDER_NUMBER: str
    NOTE: str = ""  # DATE goes only with TYPE 5 (pick up again), which we do not use


class Envelope(Wire, kw_only=True):
    """Every answer: `{status, error, message, data}`; `error: true` comes back on HTTP 200 too."""

    status: int | None = None
    error: bool = False
    message: str = ""
    data: msgspec.Raw = msgspec.field(default_factory=lambda: msgspec.Raw(b"null"))


class Token(Wire, kw_only=True):
    token: str


class Created(Wire, kw_only=True):
    ORDER_NUMBER: str | int  # VTP's own tracking number, in the field that carried our reference
    MONEY_TOTAL: int | float | None = None


class Found(Wire, kw_only=True):
    ORDER_NUMBER: str | int
    ORDER_REFERENCE: str | int | None = None


class StatusData(Wire, kw_only=True):
    """The webhook's `DATA` (§4.7); the detail answer is read the same way (VERIFY)."""

    ORDER_NUMBER: str | int
    ORDER_REFERENCE: str | int | None = None
    ORDER_STATUS: int | str
    ORDER_STATUSDATE: str
    STATUS_NAME: str | None = None
    LOCALION_CURRENTLY: str | None = None  # VTP's spelling, next to the correct one
    LOCATION_CURRENTLY: str | None = None
    NOTE: str | None = None
    REASON_CODE: int | str | None = None
    MONEY_COLLECTION: int | float | None = None  # COD as it stands (MONEY_COLLECTION_ORIGIN: as booked)
    MONEY_TOTAL: int | float | None = None  # postage with VAT
    PRODUCT_WEIGHT: int | float | None = None  # grams
    EXCHANGE_WEIGHT: int | float | None = None  # chargeable grams (§9.17)


class Callback(Wire, kw_only=True):
    DATA: StatusData
    TOKEN: str | None = None


ENVELOPE = msgspec.json.Decoder(Envelope)
CALLBACK = msgspec.json.Decoder(Callback)
_TOKEN = msgspec.json.Decoder(Token)
_CREATED = msgspec.json.Decoder(Created)
_FOUND = msgspec.json.Decoder(Found | list[Found] | None)
_STATES = msgspec.json.Decoder(StatusData | list[StatusData] | None)
_ENCODER = msgspec.json.Encoder()


class EnvelopeError(Exception):
    """VTP answered with `error: true` (often on HTTP 200): the message is VTP's own, for a clerk."""


# -- requests -------------------------------------------------------------------------------------
def _option_int(account: CourierAccount, key: str) -> int | None:
    raw = account.options.get(key, "").strip()
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"options[{key!r}] must be a number, not {raw!r}") from None


def _full_address(party: Party) -> str:
    return ", ".join(part for part in (party.street, party.ward_name, party.province_name) if part)


def create_path(shipment: Shipment, units: UnitTable = UNITS) -> str:
    return CREATE_BY_IDS if codes.ward_ids(shipment, units) else CREATE_BY_TEXT


def order_payment(shipment: Shipment) -> int:
    """Our COD is the agency fee alone, never postage, so "COD + postage" (2) charges postage once (§9.16)."""
    if shipment.collect_amount:
        return 2 if shipment.receiver_pays else 3
    return 4 if shipment.receiver_pays else 1


def encode_shipment(
    shipment: Shipment, account: CourierAccount, *, now: datetime | None = None, units: UnitTable = UNITS
) -> bytes:
    """The create body for `create_path(shipment)`. Only the name, phone and address of whom to meet.

    Raises ValueError for an account option that is not a number where VTP wants one.
    """
    sender, receiver = shipment.sender, shipment.receiver
    ids = codes.ward_ids(shipment, units)
    national_type = _option_int(account, "national_type")
    sender_province: int | None = units.provinces.get(sender.province_code)
    receiver_province: int | None = units.provinces.get(receiver.province_code)
    sender_ward: int | None = None
    receiver_ward: int | None = None
    if ids:
        (sender_province, sender_ward), (receiver_province, receiver_ward) = ids
    body = CreateOrder(
        ORDER_NUMBER=shipment.reference,
        CUS_ID=_option_int(account, "cus_id"),
        GROUPADDRESS_ID=None if shipment.home_pickup else _option_int(account, "groupaddress_id"),
        DELIVERY_DATE=as_vietnam_time(now).astimezone(VIETNAM).strftime(TIME_FORMAT) if now else None,
        SENDER_FULLNAME=sender.name,
        SENDER_ADDRESS=_full_address(sender),
        SENDER_PHONE=sender.phone,
        SENDER_PROVINCE=sender_province,
        SENDER_WARD=sender_ward,
        RECEIVER_FULLNAME=receiver.name,
        RECEIVER_ADDRESS=_full_address(receiver),
        RECEIVER_PHONE=receiver.phone,
        RECEIVER_PROVINCE=receiver_province,
        RECEIVER_WARD=receiver_ward,
        PRODUCT_NAME="Tài liệu",
        PRODUCT_QUANTITY=shipment.document_count,
        PRODUCT_PRICE=shipment.declared_value,
        PRODUCT_WEIGHT=shipment.weight_grams,
        PRODUCT_LENGTH=35,
        PRODUCT_WIDTH=25,
        PRODUCT_HEIGHT=2,
        PRODUCT_TYPE="TH",
        ORDER_PAYMENT=order_payment(shipment),
        ORDER_SERVICE=account.options.get("order_service", "VCN"),
        # The declared value sets compensation through the insurance add-on (§9.21).
        ORDER_SERVICE_ADD="GBH" if shipment.declared_value > 0 else "",
        ORDER_NOTE=ORDER_NOTE,
        MONEY_COLLECTION=shipment.collect_amount,
        NATIONAL_TYPE=1 if national_type is None else national_type,
        CHECK_UNIQUE=True if account.options.get("check_unique", "").lower() == "true" else None,
        LIST_ITEM=[Item(PRODUCT_NAME="Tài liệu", PRODUCT_PRICE=shipment.declared_value,
                        PRODUCT_WEIGHT=shipment.weight_grams, PRODUCT_QUANTITY=shipment.document_count)],
    )  # fmt: skip
    return _ENCODER.encode(body)


def encode_login(username: str, password: str) -> bytes:
    """`/v2/user/Login` and `/v2/user/ownerconnect` take the same body."""
    return _ENCODER.encode(Login(USERNAME=username, PASSWORD=password))


def encode_update(tracking_code: str, type_: int) -> bytes:
    """`/v2/order/UpdateOrder`: the note says what, never why in a citizen's terms (no personal data)."""
    return _ENCODER.encode(Update(TYPE=type_, ORDER_NUMBER=tracking_code, NOTE=codes.UPDATE_NOTES.get(type_, "")))


# -- answers --------------------------------------------------------------------------------------
def _envelope(body: bytes) -> Envelope:
    envelope = ENVELOPE.decode(body)
    if envelope.error or envelope.status not in (None, 200):
        raise EnvelopeError(envelope.message or f"Viettel Post status {envelope.status}")
    return envelope


def _data(body: bytes, what: str) -> msgspec.Raw:
    data = _envelope(body).data
    if bytes(data) in (b"null", b""):
        raise EnvelopeError(f"Viettel Post answered success without {what}")
    return data


def _listed(value: Any) -> list[Any]:
    """`data` as a list: VTP's lookups answer one object, null, or (some versions, VERIFY) a list."""
    return value if isinstance(value, list) else [] if value is None else [value]


def decode_token(body: bytes) -> str:
    """The token `Login` (short-lived) or `ownerconnect` (long-lived) answers."""
    return _TOKEN.decode(_data(body, "a token")).token


def decode_created(body: bytes) -> Booking:
    created = _CREATED.decode(_data(body, "order data"))
    total = created.MONEY_TOTAL
    return Booking(tracking_code=str(created.ORDER_NUMBER), total_fee=int(total) if total is not None else None)


def decode_found(body: bytes, reference: str) -> Booking | None:
    """A lookup by our reference: the booking, or None when VTP holds nothing under it.

    An answer that names another reference is not ours. Raises EnvelopeError for `error: true`.
    """
    for entry in _listed(_FOUND.decode(_envelope(body).data)):
        if entry.ORDER_REFERENCE is None or str(entry.ORDER_REFERENCE).strip() in ("", reference):
            return Booking(tracking_code=str(entry.ORDER_NUMBER))
    return None


def decode_tracked(body: bytes) -> list[StatusUpdate]:
    """A lookup by tracking code: the status (or journey) VTP reports, as status updates."""
    return [status_update(entry) for entry in _listed(_STATES.decode(_envelope(body).data))]


def decode_update(body: bytes) -> str:
    """`UpdateOrder`'s answer: VTP's message; EnvelopeError with its words when it refuses."""
    return _envelope(body).message or "OK"


# -- callbacks ------------------------------------------------------------------------------------
def event_time(raw: str) -> datetime:
    """VTP's "dd/MM/yyyy HH:mm:ss" in Vietnam time; a malformed one is a ValidationError like any bad field."""
    try:
        return as_vietnam_time(datetime.strptime(raw.strip(), TIME_FORMAT))
    except ValueError:
        raise msgspec.ValidationError(f"ORDER_STATUSDATE {raw!r} is not dd/MM/yyyy HH:mm:ss") from None


def _numeric(raw_status: str) -> bool:
    return raw_status.removeprefix("-").isdigit()


def map_status(raw_status: str) -> Status | None:
    """The canonical status, or None for a code VTP has not documented (kept, never guessed)."""
    return STATUS.get(int(raw_status)) if _numeric(raw_status) else None


def _amount(value: float | None) -> int | None:
    return round(value) if value is not None else None


def charges(data: StatusData, at: datetime, raw_status: str) -> tuple[Charge, ...]:
    weight = data.EXCHANGE_WEIGHT or data.PRODUCT_WEIGHT
    return reported(
        {"fee": _amount(data.MONEY_TOTAL), "cod": _amount(data.MONEY_COLLECTION), "weight_grams": _amount(weight)},
        at,
        f"status {raw_status}",
    )


def status_update(data: StatusData) -> StatusUpdate:
    raw_status = str(data.ORDER_STATUS).strip()
    at = event_time(data.ORDER_STATUSDATE)
    reason_code = str(data.REASON_CODE).strip() if data.REASON_CODE is not None else ""
    reference = str(data.ORDER_REFERENCE).strip() if data.ORDER_REFERENCE is not None else ""
    return StatusUpdate(
        reference=reference or None,
        tracking_code=str(data.ORDER_NUMBER).strip(),
        raw_status=raw_status,
        status=map_status(raw_status),
        raw_text=data.STATUS_NAME or STATUS_TEXT.get(int(raw_status) if _numeric(raw_status) else 0, ""),
        reason_code=reason_code or None,
        reason=(REASON.get(reason_code) or data.NOTE or None) if reason_code else None,
        event_time=at,
        location=data.LOCATION_CURRENTLY or data.LOCALION_CURRENTLY or None,
        charges=charges(data, at, raw_status),
    )


def decode_callback(body: bytes) -> Callback:
    """The callback, or `msgspec.DecodeError`/`ValidationError` for a body VTP would never send."""
    return CALLBACK.decode(body)


def callback_updates(body: bytes) -> list[StatusUpdate]:
    """One status per callback. A bad `ORDER_STATUSDATE` raises `msgspec.ValidationError` too."""
    return [status_update(decode_callback(body).DATA)]


def _same(given: str | None, secret: str) -> bool:
    if not given or not secret:
        return False
    return hmac.compare_digest(given.encode(), secret.encode())


def authenticate(request: CallbackRequest, account: CourierAccount) -> bool:
    """The secret VTP was given, as `TOKEN` in the body or in `Authorization` (per `callback_auth`)."""
    mode = account.options.get("callback_auth", "either")
    if mode in ("either", "header"):
        scheme, _, value = request.headers.get("authorization", "").strip().partition(" ")
        header = value.strip() if scheme.lower() == "bearer" else scheme
        if _same(header, account.callback_secret):
            return True
    if mode in ("either", "body"):
        try:
            token = _BODY_SECRET.decode(request.body).TOKEN
        except ValueError:  # msgspec's DecodeError, and a TOKEN that is not UTF-8
            return False
        return isinstance(token, str) and _same(token, account.callback_secret)
    return False


class _BodySecret(msgspec.Struct):
    """A callback body read for its `TOKEN` alone: the rest is skipped, not built (a third of the cost)."""

    TOKEN: object = None


_BODY_SECRET = msgspec.json.Decoder(_BodySecret)


_TOKEN_FIELD = re.compile(rb'("TOKEN"\s*:\s*)"(?:[^"\\]|\\.)*"')


def redact_callback(body: bytes) -> bytes:
    """The callback with its `TOKEN` (our secret) blanked, every other byte as received, for storage."""
    return _TOKEN_FIELD.sub(rb'\1"[redacted]"', body)
