"""VNPost (MyVNPost, couriers-vn.md §5.1): wire Structs, encoders, decoders and the callback check.

Codes live in `vnpost_codes`. Our reference travels as `saleOrderCode`; the tracking code is the S10
`itemCode`. After the 2025 reform addresses are two-level: `*DistrictCode = "VNPOST"` plus commune codes.

VERIFY (unconfirmed in the reference; the first five are `CourierAccount.options` keys):
- `service_code` (default "ETN011"): which MyVNPost service carries BCCI dossiers (§10.4).
- `contract_code` (default unset: null): the contract, when the customer has several.
- `signature_key` (default unset: the source-IP allow-list alone authenticates a callback) and
  `signature_scheme`: VNPost documents "RSASHA256" of "MYVNP" + sendDate + itemCode + status of the first
  record, but its sample code encrypts instead (§5.1). Until VNPost confirms, the check is an HMAC-SHA256,
  hex, keyed with `signature_key`, over the bytes of the `data` array as sent ("hmac-sha256-data", the
  default) or over the documented "MYVNP…" string ("hmac-sha256-myvnp").
- `reference_lookup_type` (default "2"): the `getOrder?type=` that looks up a `saleOrderCode`; §5.1
  shows only type=1 (itemCode), and community code uses 2 for the sale code.
- MyVNPost's new commune codes are taken to equal the 2025 government codes of `Party`: `encode_shipment`
  takes a `codes_of` function to replace `government_codes` once VNPost's catalogue says otherwise.
- Time formats (sendDate, history createdDate/createdHour) are not documented: ISO 8601, dd/MM/yyyy and
  dd-MM-yyyy with an optional time are read; naive times are Vietnam time.
- A callback record carries no documented event time: `sendDate` dates every record of the batch.
- No failure-reason codes are documented: `REASON` is empty and updates carry no reason.
- Add-on properties: only GTG008 (PROP0026), GTG021 (PROP0018) and GTG071 (PROP0080/PROP0081, valued by
  VNPost, so sent as null) are documented; GTG001 and GTG026 go without properties (propValue null), and
  GTG071 goes in `additionRequest` as community code sends it.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from datetime import datetime
from typing import Any

import msgspec

from contracts.config import CourierAccount
from contracts.couriers import VIETNAM, Booking, CallbackRequest, Party, Shipment, StatusUpdate, as_vietnam_time
from contracts.couriers import vnpost_codes as codes
from contracts.couriers.vnpost_codes import MONEY as MONEY
from contracts.couriers.vnpost_codes import REASON as REASON
from contracts.couriers.vnpost_codes import STATUS as STATUS
from contracts.couriers.vnpost_codes import STATUS_TEXT as STATUS_TEXT
from contracts.couriers.vnpost_codes import (
    Addon,
    Callback,
    CallbackRecord,
    CaseResult,
    Created,
    CreateOrder,
    HistoryAnswer,
    InformationOrder,
    OrderRecord,
    Refusal,
    SignedCallback,
    Token,
)
from contracts.money import reported

NAME = "vnpost"
DEFAULT_SERVICE = "ETN011"
DEFAULT_SCHEME = "hmac-sha256-data"
SCHEMES = frozenset({"hmac-sha256-data", "hmac-sha256-myvnp"})
# `getOrder` / `GetStatusHistoryOrder` `type`: 1 looks up an itemCode.
BY_TRACKING_CODE = "1"


CALLBACK = msgspec.json.Decoder(Callback)
_SIGNED = msgspec.json.Decoder(SignedCallback)
_CREATED = msgspec.json.Decoder(Created)
_HISTORY = msgspec.json.Decoder(HistoryAnswer)
_TOKEN = msgspec.json.Decoder(Token)
_REFUSAL = msgspec.json.Decoder(Refusal)
_ENCODER = msgspec.json.Encoder()
_TIME_FORMATS = ("%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M", "%d/%m/%Y", "%d-%m-%Y %H:%M:%S", "%d-%m-%Y %H:%M", "%d-%m-%Y")


class EnvelopeError(Exception):
    """MyVNPost answered HTTP 200 but refused (`success: false`, no order, or a cancel `Type` it refuses
    with): the message is VNPost's own text, for a clerk."""


# -- create -----------------------------------------------------------------------------------------
def government_codes(party: Party) -> tuple[str, str]:
    """(province, commune) as MyVNPost's new catalogue codes: taken to be the 2025 government codes (VERIFY)."""
    return party.province_code, party.ward_code


def _address(party: Party) -> str:
    # The codes carry the units; the text repeats them so a postman can still read a mis-coded address.
    return ", ".join(part for part in (party.street, party.ward_name, party.province_name) if part)


def _addons(shipment: Shipment) -> tuple[list[Addon], list[Addon]]:
    addons: list[Addon] = []
    if shipment.proof_of_delivery:
        addons.append(Addon(code=codes.PROOF_OF_DELIVERY))
    if shipment.declared_value > 0:
        value = f"{codes.DECLARED_VALUE_PROP}:{shipment.declared_value}"
        addons.append(Addon(code=codes.DECLARED_VALUE, propValue=value))
    if shipment.collect_amount > 0:
        addons.append(Addon(code=codes.COD, propValue=f"{codes.COD_PROP}:{shipment.collect_amount}"))
    if shipment.home_pickup:
        addons.append(Addon(code=codes.HOME_PICKUP))
    requests: list[Addon] = []
    if shipment.receiver_pays:
        props = ";".join(f"{prop}:null" for prop in codes.RECEIVER_PAYS_PROPS)  # VNPost fills in the postage
        requests.append(Addon(code=codes.RECEIVER_PAYS, propValue=props))
    return addons, requests


def encode_shipment(
    shipment: Shipment,
    account: CourierAccount,
    codes_of: Callable[[Party], tuple[str, str]] = government_codes,
) -> bytes:
    """The `CreateOrder` body: name, phone and address of the people to meet, our reference, the parcel."""
    sender, receiver = shipment.sender, shipment.receiver
    (sender_province, sender_commune), (receiver_province, receiver_commune) = codes_of(sender), codes_of(receiver)
    addons, requests = _addons(shipment)
    information = InformationOrder(
        senderName=sender.name,
        senderPhone=sender.phone,
        senderAddress=_address(sender),
        senderProvinceCode=sender_province,
        senderDistrictCode=codes.TWO_LEVEL_DISTRICT,
        senderCommuneCode=sender_commune,
        receiverName=receiver.name,
        receiverPhone=receiver.phone,
        receiverAddress=_address(receiver),
        receiverProvinceCode=receiver_province,
        receiverDistrictCode=codes.TWO_LEVEL_DISTRICT,
        receiverCommuneCode=receiver_commune,
        serviceCode=account.options.get("service_code", DEFAULT_SERVICE),
        addonService=addons,
        additionRequest=requests,
        saleOrderCode=shipment.reference,
        contentNote="Tài liệu",  # never the dossier's contents or procedure
        weight=str(shipment.weight_grams),
    )
    body = CreateOrder(
        customerCode=account.customer_code or "",
        contractCode=account.options.get("contract_code") or None,
        informationOrder=information,
    )
    return _ENCODER.encode(body)


def _refused(answer: Refusal, fallback: str) -> EnvelopeError:
    return EnvelopeError(answer.message or answer.Message or answer.errorMessage or fallback)


def decode_created(body: bytes) -> Booking:
    answer = _CREATED.decode(body)
    record: OrderRecord = answer if answer.itemCode or answer.data is None else answer.data
    if answer.success is False or not record.itemCode:
        raise _refused(answer, "VNPost answered without an itemCode")
    return booking(record)


def booking(record: OrderRecord) -> Booking:
    fee = round(record.totalFee) if record.totalFee is not None else None
    return Booking(tracking_code=record.itemCode or "", total_fee=fee)


# -- lookups ----------------------------------------------------------------------------------------
def _records(value: Any) -> list[Any]:
    """`getOrder` answers `[{results: [...]}]`, `GetListOrder` `{results: [...]}`: the records in either."""
    if isinstance(value, list):
        return [record for item in value for record in _records(item)]
    if isinstance(value, dict):
        for key in ("results", "data"):
            if isinstance(value.get(key), list | dict):
                return _records(value[key])
        return [value]
    return []


def decode_orders(body: bytes) -> list[OrderRecord]:
    """The orders a `getOrder` answer holds (none: VNPost does not know the code)."""
    raw = msgspec.json.decode(body)
    if isinstance(raw, dict) and (raw.get("success") is False or raw.get("errorMessage")):
        raise _refused(msgspec.convert(raw, Refusal), "VNPost refused the lookup")
    found = [msgspec.convert(record, OrderRecord) for record in _records(raw)]
    return [record for record in found if record.itemCode]


def decode_history(body: bytes, tracking_code: str) -> list[StatusUpdate]:
    """`GetStatusHistoryOrder` as status updates (for polling quiet orders); payout steps are money only."""
    answer = _HISTORY.decode(body)
    history = answer.data.statusHistory if answer.data is not None else answer.statusHistory
    if answer.success is False:
        raise _refused(answer, "VNPost refused the history lookup")
    updates = []
    for entry in history:
        raw = str(entry.statusCode)
        moment = parse_time(f"{entry.createdDate} {entry.createdHour}".strip())
        update = _update(None, tracking_code, raw, entry.statusName, moment)
        if raw in MONEY:
            update = msgspec.structs.replace(
                update, reports_status=False, charges=reported({MONEY[raw]: None}, moment, f"status {raw}")
            )
        updates.append(update)
    return updates


def decode_token(body: bytes) -> str:
    answer = _TOKEN.decode(body)
    if answer.success is False or not answer.token:
        raise _refused(answer, "VNPost gave no token")
    return answer.token


def decode_cancel(body: bytes) -> CaseResult:
    """The `orderCancel` answer (an object, or a list of one); EnvelopeError when it carries no `Type`."""
    raw = msgspec.json.decode(body)
    if isinstance(raw, list):
        raw = raw[0] if raw else {}
    result = msgspec.convert(raw, CaseResult)
    if not result.Type:
        raise _refused(result, "VNPost answered the cancel without a Type")
    return result


def decode_deleted(body: bytes) -> str:
    """`deleteOrderByDraft` answers `{success, message}`."""
    answer = _REFUSAL.decode(body)
    if not answer.success:
        raise _refused(answer, "VNPost did not delete the draft")
    return answer.message or "Draft deleted"


# -- callbacks --------------------------------------------------------------------------------------
def parse_time(text: str) -> datetime:
    """A MyVNPost time (format VERIFY); naive is Vietnam time. Unreadable: msgspec.ValidationError."""
    text = text.strip()
    try:
        return as_vietnam_time(datetime.fromisoformat(text))
    except ValueError:
        pass
    for fmt in _TIME_FORMATS:
        try:
            return as_vietnam_time(datetime.strptime(text, fmt))
        except ValueError:
            continue
    raise msgspec.ValidationError(f"unreadable VNPost time {text!r}")


def format_time(moment: datetime) -> str:
    """A time as the sandbox writes `sendDate` and history times: Vietnam local, dd/MM/yyyy HH:mm:ss."""
    return moment.astimezone(VIETNAM).strftime("%d/%m/%Y %H:%M:%S")


def _update(reference: str | None, tracking_code: str, raw: str, text: str, moment: datetime) -> StatusUpdate:
    return StatusUpdate(
        reference=reference or None,
        tracking_code=tracking_code,
        raw_status=raw,
        status=STATUS.get(raw),  # 101–111 and anything new: None, never guessed
        raw_text=text or STATUS_TEXT.get(raw, ""),
        reason_code=None,
        reason=None,
        event_time=moment,
        location=None,
    )


def decode_callback(body: bytes) -> Callback:
    """The callback, or `msgspec.DecodeError`/`ValidationError` for a body VNPost would never send."""
    callback = CALLBACK.decode(body)
    if not callback.data:
        raise msgspec.ValidationError("`data` holds no order")
    return callback


def callback_updates(body: bytes) -> list[StatusUpdate]:
    """One update per record of the batch; money-only records (COD paid, fees paid) report none.

    Raises msgspec.DecodeError (a ValueError) or msgspec.ValidationError for a malformed body, an empty
    batch or an unreadable `sendDate`.
    """
    callback = decode_callback(body)
    moment = parse_time(callback.sendDate)
    return [_record_update(record, moment) for record in callback.data]


def _amount(value: float | str | None) -> int | None:
    try:
        return round(float(value)) if value is not None and str(value).strip() else None
    except ValueError:
        return None  # a fee we cannot read is not a reason to drop the status beside it


def _record_update(record: CallbackRecord, moment: datetime) -> StatusUpdate:
    """A record's status; a payout record (COD or fees paid) is money only, with no timeline event."""
    raw = str(record.status).strip()
    source = f"status {raw}"
    money = reported({"fee": _amount(record.totalFee), "cod": _amount(record.codAmount)}, moment, source)
    if raw in MONEY:
        paid = _amount(record.codAmount) if MONEY[raw] == "cod_paid" else _amount(record.totalFee)
        money = reported({MONEY[raw]: paid}, moment, source)
    update = _update(record.saleOrderCode, record.itemCode, raw, "", moment)
    return msgspec.structs.replace(update, reports_status=raw not in MONEY, charges=money)


def signed_text(data: bytes, send_date: str, scheme: str) -> bytes:
    """What the signature covers: the `data` bytes as sent, or "MYVNP" + sendDate + itemCode + status."""
    if scheme == "hmac-sha256-myvnp":
        first = msgspec.json.decode(data, type=list[CallbackRecord])[0]
        return f"MYVNP{send_date}{first.itemCode}{first.status}".encode()
    return data


def sign(data: bytes, send_date: str, key: str, scheme: str = DEFAULT_SCHEME) -> str:
    return hmac.new(key.encode(), signed_text(data, send_date, scheme), hashlib.sha256).hexdigest()


def encode_callback(records: list[dict[str, Any]], send_date: str, key: str, scheme: str = DEFAULT_SCHEME) -> bytes:
    """A webhook body as MyVNPost sends it (the sandbox's and the tests' side)."""
    data = _ENCODER.encode(records)
    signature = sign(data, send_date, key, scheme)
    return b'{"data":%s,"sendDate":%s,"signature":%s}' % (data, _ENCODER.encode(send_date), _ENCODER.encode(signature))


def verify_signature(body: bytes, key: str, scheme: str) -> bool:
    if scheme not in SCHEMES:
        return False
    try:
        signed = _SIGNED.decode(body)
        expected = sign(bytes(signed.data), signed.sendDate, key, scheme)
    except (msgspec.DecodeError, IndexError):
        return False
    return bool(signed.signature) and hmac.compare_digest(expected.encode(), signed.signature.lower().encode())


def authenticate(request: CallbackRequest, account: CourierAccount) -> bool:
    """VNPost posts only from whitelisted addresses (`callback_ips`; none listed: nothing is accepted),
    and, once a `signature_key` is configured, the signature must match too."""
    if not request.remote or request.remote not in account.callback_ips:
        return False
    key = account.options.get("signature_key")
    if not key:
        return True
    return verify_signature(request.body, key, account.options.get("signature_scheme", DEFAULT_SCHEME))
