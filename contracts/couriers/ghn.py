"""GHN (Giao Hàng Nhanh): wire Structs, status and reason tables, encoders, decoders, callback check."""

from __future__ import annotations

import hmac
from datetime import datetime

import msgspec

from contracts.base import Wire
from contracts.config import CourierAccount
from contracts.couriers import Booking, CallbackRequest, Shipment, StatusUpdate, as_vietnam_time
from contracts.money import Charge, ChargeField, reported
from contracts.statuses import Status

NAME = "ghn"

# couriers-vn.md §2.7 and the mapping of §8.
STATUS: dict[str, Status] = {
    "ready_to_pick": Status.BOOKED,
    "picking": Status.PICKUP_STARTED,
    "money_collect_picking": Status.PICKUP_STARTED,
    "picked": Status.PICKED_UP,
    "storing": Status.IN_TRANSIT,
    "transporting": Status.IN_TRANSIT,
    "sorting": Status.IN_TRANSIT,
    "delivering": Status.OUT_FOR_DELIVERY,
    "money_collect_delivering": Status.OUT_FOR_DELIVERY,
    "delivered": Status.DELIVERED,
    "delivery_fail": Status.DELIVERY_FAILED,
    "waiting_to_return": Status.AWAITING_INSTRUCTION,
    "return": Status.RETURNING,
    "return_transporting": Status.RETURNING,
    "return_sorting": Status.RETURNING,
    "returning": Status.RETURNING,
    "return_fail": Status.RETURNING,
    "returned": Status.RETURNED,
    "cancel": Status.CANCELLED,
    "exception": Status.EXCEPTION,
    "lost": Status.LOST,
    "damage": Status.DAMAGED,
}

# couriers-vn.md §2.8. Pickup-failure reasons turn a pickup-phase status into an attempt that failed.
PICKUP_FAILURE_REASONS: dict[str, str] = {
    "GHN-PFA1A0": "sender asks to reschedule",
    "GHN-PFA2A2": "wrong information",
    "GHN-PFA2A1": "sender unreachable",
    "GHN-PFA2A3": "no answer",
    "GHN-PFA1A1": "sender will drop the parcel at a post office",
    "GHN-PCB0B2": "weight or size breaks the rules",
    "GHN-PFA4A1": "packaging not acceptable",
    "GHN-PCB0B1": "sender no longer wants to ship",
    "GHN-PFA4A2": "goods not carried",
    "GHN-PFA3A2": "staff incident",
}
DELIVERY_FAILURE_REASONS: dict[str, str] = {
    "GHN-DFC1A0": "receiver asks to reschedule",
    "GHN-DFC1A2": "unreachable / number blocked",
    "GHN-DFC1A4": "no answer",
    "GHN-DCD0A1": "wrong address or phone",
    "GHN-DFC1A1": "receiver changed address",
    "GHN-DFC1A7": "refused because inspection not allowed",
    "GHN-DCD0A6": "wrong product",
    "GHN-DCD0A7": "wrong COD amount",
    "GHN-DCD0A5": "damaged",
    "GHN-DCD1A5": "receiver has no money",
    "GHN-DCD0A8": "receiver changed mind",
    "GHN-DCD1A1": "receiver says they did not order",
    "GHN-DFC1A6": "staff incident",
    "GHN-DCD1A3": "damaged in transit",
}
# §2.8 lists these codes with no meanings (and writes the prefix on the first only), so each gets the
# generic text of its group rather than a guessed one. VERIFY the meanings with GHN. The status they come
# with, return_fail, maps through STATUS alone.
RETURN_FAILURE_REASONS: dict[str, str] = {
    code: "return attempt failed"
    for code in ("GHN-RFE0A0", "GHN-RFE0A1", "GHN-RFE0A3", "GHN-RFE0A4", "GHN-RFE0A5", "GHN-RFE0A6")
}
# The highest insurance_value GHN takes, per community code (couriers-vn.md §2.3, VERIFY with GHN).
INSURANCE_LIMIT = 5_000_000
_PICKUP_PHASE = frozenset({"ready_to_pick", "picking", "money_collect_picking"})

# Callback `Type`s that report a status; the others (update_weight, update_cod, update_fee) are money.
STATUS_TYPES = frozenset({"create", "switch_status"})
MONEY_TYPES = frozenset({"update_weight", "update_cod", "update_fee"})


class CreateItem(msgspec.Struct, kw_only=True):
    name: str
    quantity: int
    weight: int


class CreateOrder(msgspec.Struct, kw_only=True):
    """`POST /v2/shipping-order/create`, the variant that takes unit names (api.ghn.vn id=123)."""

    client_order_code: str
    to_name: str
    to_phone: str
    to_address: str
    to_ward_name: str
    to_province_name: str
    from_name: str | None = None
    from_phone: str | None = None
    from_address: str | None = None
    from_ward_name: str | None = None
    from_province_name: str | None = None
    return_phone: str | None = None
    return_address: str | None = None
    weight: int
    length: int = 35
    width: int = 25
    height: int = 2
    service_type_id: int = 2
    payment_type_id: int = 1  # 1: shop pays, 2: receiver pays
    # Joint counting at hand-over (QĐ 45 Đ6, Đ9): the receiver may look, not take before signing.
    required_note: str = "CHOXEMHANGKHONGTHU"
    cod_amount: int = 0
    insurance_value: int = 0
    content: str = "Tài liệu"
    note: str = ""
    items: list[CreateItem]


class CreatedData(Wire, kw_only=True):
    order_code: str
    total_fee: int | None = None
    expected_delivery_time: datetime | None = None


class LogEntry(Wire, kw_only=True):
    status: str
    updated_date: datetime


class DetailData(Wire, kw_only=True):
    order_code: str
    client_order_code: str | None = None
    status: str
    log: list[LogEntry] = []


class SwitchResult(Wire, kw_only=True):
    order_code: str
    result: bool
    message: str = ""


class Envelope(Wire, kw_only=True):
    code: int
    message: str = ""
    code_message: str | None = None
    data: msgspec.Raw = msgspec.field(default_factory=lambda: msgspec.Raw(b"null"))


class Callback(Wire, kw_only=True):
    """The webhook body (api.ghn.vn id=47): PascalCase JSON."""

    OrderCode: str
    ClientOrderCode: str | None = None
    Type: str
    Status: str
    Description: str = ""
    Reason: str = ""
    ReasonCode: str = ""
    Time: datetime
    Warehouse: str = ""
    ShopID: int | str | None = None  # tolerated either way: we route by order lookup, not by this
    CODAmount: int | None = None
    CODTransferDate: datetime | None = None  # GHN paid the collected COD out to the shop
    TotalFee: int | None = None
    Weight: int | None = None  # grams
    ConvertedWeight: int | None = None  # volumetric grams; GHN charges the larger
    IsPartialReturn: bool = False
    PartialReturnCode: str = ""


ENVELOPE = msgspec.json.Decoder(Envelope)
CALLBACK = msgspec.json.Decoder(Callback)
_CREATED = msgspec.json.Decoder(CreatedData)
_DETAIL = msgspec.json.Decoder(DetailData)
_SWITCH = msgspec.json.Decoder(list[SwitchResult])
_ENCODER = msgspec.json.Encoder()


class EnvelopeError(Exception):
    """GHN answered HTTP 200 with `code != 200`: the message is for a clerk."""


def encode_shipment(shipment: Shipment) -> bytes:
    sender, receiver = shipment.sender, shipment.receiver
    body = CreateOrder(
        client_order_code=shipment.reference,
        to_name=receiver.name,
        to_phone=receiver.phone,
        to_address=receiver.street,
        to_ward_name=receiver.ward_name,
        to_province_name=receiver.province_name,
        from_name=sender.name,
        from_phone=sender.phone,
        from_address=sender.street,
        from_ward_name=sender.ward_name,
        from_province_name=sender.province_name,
        # A dossier that cannot be delivered goes back to whoever gave it.
        return_phone=sender.phone,
        return_address=sender.street,
        weight=shipment.weight_grams,
        payment_type_id=2 if shipment.receiver_pays else 1,
        cod_amount=shipment.collect_amount,
        insurance_value=min(shipment.declared_value, INSURANCE_LIMIT),
        items=[CreateItem(name="Tài liệu", quantity=shipment.document_count, weight=shipment.weight_grams)],
    )
    return _ENCODER.encode(body)


def _unwrap(body: bytes) -> msgspec.Raw:
    envelope = ENVELOPE.decode(body)
    if envelope.code != 200:
        raise EnvelopeError(envelope.code_message or envelope.message or f"GHN code {envelope.code}")
    if bytes(envelope.data) in (b"null", b""):
        raise EnvelopeError("GHN answered success without order data")
    return envelope.data


def decode_created(body: bytes) -> Booking:
    data = _unwrap(body)
    created = _CREATED.decode(data)
    return Booking(
        tracking_code=created.order_code,
        total_fee=created.total_fee,
        expected_delivery=created.expected_delivery_time,
    )


def detail_updates(detail: DetailData) -> list[StatusUpdate]:
    """The history `shipping-order/detail` reports, as status updates (for polling quiet orders)."""
    return [
        StatusUpdate(
            reference=detail.client_order_code or None,
            tracking_code=detail.order_code,
            raw_status=entry.status,
            status=map_status(entry.status, ""),
            raw_text=STATUS_TEXT.get(entry.status, ""),
            reason_code=None,
            reason=None,
            event_time=as_vietnam_time(entry.updated_date),
            location=None,
        )
        for entry in detail.log
    ]


def decode_detail(body: bytes) -> DetailData:
    return _DETAIL.decode(_unwrap(body))


def decode_switch(body: bytes) -> list[SwitchResult]:
    """`switch-status/{cancel,return,storing}`: one result per order code, so a call can partly fail."""
    return _SWITCH.decode(_unwrap(body))


def map_status(raw_status: str, reason_code: str) -> Status | None:
    """The canonical status, or None for a code GHN has not documented (kept, never guessed)."""
    if raw_status in _PICKUP_PHASE and reason_code in PICKUP_FAILURE_REASONS:
        return Status.PICKUP_FAILED
    return STATUS.get(raw_status)


def decode_callback(body: bytes) -> Callback:
    """The callback, or `msgspec.DecodeError`/`ValidationError` for a body GHN would never send."""
    return CALLBACK.decode(body)


def charges(callback: Callback) -> tuple[Charge, ...]:
    """The money facts of a callback: every type repeats fee, COD and weight; `update_*` change them."""
    at = as_vietnam_time(callback.Time)
    weights = [w for w in (callback.Weight, callback.ConvertedWeight) if w]
    found: dict[ChargeField, int | None] = {
        "fee": callback.TotalFee,
        "cod": callback.CODAmount,
        "weight_grams": max(weights) if weights else None,
    }
    money = reported(found, at, callback.Type)
    if callback.CODTransferDate is not None:
        money += reported({"cod_paid": callback.CODAmount}, as_vietnam_time(callback.CODTransferDate), callback.Type)
    return money


def status_update(callback: Callback) -> StatusUpdate:
    """The status the callback reports; a money-only update (weight, COD, fee) reports no status.

    A `Type` GHN has not documented is kept as an unmapped event, never dropped in silence. A partial
    return is an incident for a dossier, whatever the status says (§9.14).
    """
    documented = callback.Type in STATUS_TYPES or callback.Type in MONEY_TYPES
    reason = (
        callback.Reason
        or PICKUP_FAILURE_REASONS.get(callback.ReasonCode)
        or DELIVERY_FAILURE_REASONS.get(callback.ReasonCode)
        or RETURN_FAILURE_REASONS.get(callback.ReasonCode)
    )
    status = map_status(callback.Status, callback.ReasonCode) if documented else None
    partial = callback.IsPartialReturn or bool(callback.PartialReturnCode)
    return StatusUpdate(
        reference=callback.ClientOrderCode or None,
        tracking_code=callback.OrderCode,
        raw_status=callback.Status if documented else f"{callback.Type}:{callback.Status}",
        status=Status.EXCEPTION if partial and status is not None else status,
        raw_text=f"{callback.Description} (IsPartialReturn)".strip() if partial else callback.Description,
        reason_code=callback.ReasonCode or None,
        reason=reason or None,
        event_time=as_vietnam_time(callback.Time),
        location=callback.Warehouse or None,
        reports_status=callback.Type not in MONEY_TYPES,
        charges=charges(callback),
    )


def verify_callback(token: str | None, secret: str) -> bool:
    """GHN signs nothing; the secret rides in the registered URL as `?token=`. Constant-time compare."""
    if not token or not secret:
        return False
    return hmac.compare_digest(token.encode(), secret.encode())


def authenticate(request: CallbackRequest, account: CourierAccount) -> bool:
    """The `?token=` of the registered URL, and the source address when the account lists GHN's."""
    if account.callback_ips and request.remote not in account.callback_ips:
        return False
    return verify_callback(request.query.get("token"), account.callback_secret)


def callback_updates(body: bytes) -> list[StatusUpdate]:
    return [status_update(decode_callback(body))]


# What GHN writes in `Description` for each status (couriers-vn.md §2.7).
STATUS_TEXT: dict[str, str] = {
    "ready_to_pick": "Chờ lấy hàng",
    "picking": "Đang lấy hàng",
    "money_collect_picking": "Đang tương tác với người gửi",
    "picked": "Lấy hàng thành công",
    "storing": "Nhập kho",
    "transporting": "Đang trung chuyển",
    "sorting": "Đang phân loại",
    "delivering": "Đang giao hàng",
    "money_collect_delivering": "Đang tương tác với người nhận",
    "delivered": "Giao hàng thành công",
    "delivery_fail": "Giao hàng không thành công",
    "waiting_to_return": "Chờ xác nhận giao lại",
    "return": "Chuyển hoàn",
    "return_transporting": "Đang trung chuyển hàng hoàn",
    "return_sorting": "Đang phân loại hàng hoàn",
    "returning": "Đang hoàn hàng",
    "return_fail": "Hoàn hàng không thành công",
    "returned": "Hoàn hàng thành công",
    "cancel": "Đơn huỷ",
    "exception": "Hàng ngoại lệ",
    "lost": "Hàng thất lạc",
    "damage": "Hàng hư hỏng",
}
