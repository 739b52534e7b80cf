"""VNPost (MyVNPost) vocabulary: its code tables and the shapes of its bodies (couriers-vn.md §5.1, §8)."""

from __future__ import annotations

import msgspec

from contracts.base import Wire
from contracts.money import ChargeField
from contracts.statuses import Status

# couriers-vn.md §5.1 status list, mapped as the MyVNPost column of §8 proposes.
STATUS: dict[str, Status] = {
    "0": Status.BOOKED,  # a draft; we never create drafts, but §8 counts it as created
    "1": Status.BOOKED,
    "2": Status.PICKUP_STARTED,
    "3": Status.BOOKED,
    "4": Status.PICKUP_STARTED,
    "5": Status.PICKUP_FAILED,  # one attempt failed
    "6": Status.PICKED_UP,
    "7": Status.PICKED_UP,  # accepted at the post office
    "8": Status.PICKUP_FAILED,  # final for the pickup, not for the order: a clerk decides
    "9": Status.CANCELLED,  # pickup cancelled
    "10": Status.IN_TRANSIT,
    "11": Status.IN_TRANSIT,
    "12": Status.OUT_FOR_DELIVERY,
    "13": Status.IN_TRANSIT,  # forwarded
    "14": Status.DELIVERED,
    "15": Status.DELIVERY_FAILED,
    "16": Status.AWAITING_INSTRUCTION,
    "17": Status.RETURNING,
    "18": Status.RETURNING,
    "19": Status.RETURNED,
    # A dossier is never split (§9.14): partial return or delivery is an incident for a clerk, not an end.
    "20": Status.EXCEPTION,
    "22": Status.CANCELLED,  # delivery cancelled
    "23": Status.EXCEPTION,
    "24": Status.RETURNING,
}

# Money-only events (§8 "separate track"): they report no status, like GHN's update_fee.
MONEY: dict[str, ChargeField] = {"21": "cod_paid", "28": "fee_paid", "29": "fee_paid"}

# 101–111 are international stages (EMA…EMK) the reference does not describe one by one; we ship
# domestically, so they stay unmapped: an explicit unknown, never a guessed "in transit".
INTERNATIONAL: frozenset[str] = frozenset(str(code) for code in range(101, 112))

# What each code means, as MyVNPost names it (§5.1): the text of a status update.
STATUS_TEXT: dict[str, str] = {
    "0": "Lưu nháp",
    "1": "Đã tạo",
    "2": "Bưu tá nhận yêu cầu thu gom",
    "3": "Chờ xác nhận",
    "4": "Đang lấy hàng",
    "5": "Lấy hàng không thành công",
    "6": "Đã lấy hàng",
    "7": "Bưu cục đã nhận hàng",
    "8": "Lấy hàng thất bại",
    "9": "Hủy thu gom",
    "10": "Đang vận chuyển",
    "11": "Đã đến bưu cục phát",
    "12": "Đang giao",
    "13": "Chuyển tiếp",
    "14": "Đã giao",
    "15": "Giao không thành công",
    "16": "Chờ chuyển hoàn",
    "17": "Đã duyệt hoàn",
    "18": "Bắt đầu chuyển hoàn",
    "19": "Trả hàng thành công",
    "20": "Đã trả một phần",
    "21": "Đã trả tiền COD",
    "22": "Hủy giao hàng",
    "23": "Giao thành công một phần",
    "24": "Đang chuyển hoàn",
    "28": "Đã trả phí ship",
    "29": "Đã trả phí hủy",
}

# The reference documents no MyVNPost failure-reason codes (§5.1); none are invented. A callback's
# reason stays None and the raw body, kept before parsing, holds whatever VNPost sent.
REASON: dict[str, str] = {}

# Add-on services (GTG…) of §5.1, with the property each one takes where the reference names it.
ADDONS: dict[str, str] = {
    "GTG001": "báo phát: proof of delivery returned to the sender",
    "GTG005": "đồng kiểm: joint inspection",
    "GTG008": "khai giá: declared value (PROP0026)",
    "GTG015": "hóa đơn: invoice",
    "GTG016": "lưu kho: storage",
    "GTG021": "COD (PROP0018)",
    "GTG026": "chấp nhận tại địa chỉ: acceptance at the customer's address (home pickup)",
    "GTG047": "đổi người nhận: change receiver",
    "GTG067": "phát một phần: partial delivery",
    "GTG068": "phát một phần: partial delivery",
    "GTG070": "thu phí hủy: cancellation fee (PROP0078)",
    "GTG071": "thu hộ phí ship: collect the postage from the receiver (PROP0080, PROP0081)",
}
PROOF_OF_DELIVERY = "GTG001"
DECLARED_VALUE, DECLARED_VALUE_PROP = "GTG008", "PROP0026"
COD, COD_PROP = "GTG021", "PROP0018"
HOME_PICKUP = "GTG026"
RECEIVER_PAYS, RECEIVER_PAYS_PROPS = "GTG071", ("PROP0080", "PROP0081")
# Never sent: a dossier or a result travels whole (§9.14).
PARTIAL_DELIVERY: frozenset[str] = frozenset({"GTG067", "GTG068"})

# `POST /orderCancel` answers `Type`: "00" cancelled, "02" waiting for VNPost's approval (status 9 or
# 22 follows), anything else refused (§5.1, §9.11).
CANCELLED = "00"
CANCEL_PENDING = "02"

# After the 2025 reform the district level is gone: MyVNPost takes this constant instead (§5.1).
TWO_LEVEL_DISTRICT = "VNPOST"


# -- bodies -----------------------------------------------------------------------------------------
class Addon(msgspec.Struct, kw_only=True):
    code: str
    propValue: str | None = None  # "PROP0018:150000;PROP0045:null": every property, "null" when unset


class InformationOrder(msgspec.Struct, kw_only=True):
    senderName: str
    senderPhone: str
    senderEmail: str | None = None  # never sent: not needed to meet the person (data minimisation)
    senderAddress: str
    senderProvinceCode: str
    senderDistrictCode: str
    senderCommuneCode: str
    receiverName: str
    receiverPhone: str
    receiverEmail: str | None = None
    receiverAddress: str
    receiverProvinceCode: str
    receiverDistrictCode: str
    receiverCommuneCode: str
    serviceCode: str
    addonService: list[Addon] = []
    additionRequest: list[Addon] = []
    orgCodeCollect: str | None = None
    orgCodeAccept: str | None = None
    saleOrderCode: str
    contentNote: str
    weight: str  # grams, as a string
    width: str | None = None
    length: str | None = None
    height: str | None = None
    vehicle: str = "BO"  # road
    sendType: str = "1"
    isBroken: str = "0"
    deliveryTime: str | None = None
    deliveryRequire: str | None = None
    deliveryInstruction: str | None = None


class CreateOrder(msgspec.Struct, kw_only=True):
    """`POST /CreateOrder`."""

    orderCreationStatus: int = 1  # 1 create, 0 draft
    type: str = "GUI"
    customerCode: str
    contractCode: str | None = None
    informationOrder: InformationOrder


class Refusal(Wire, kw_only=True):
    """The fields MyVNPost refuses with on HTTP 200: `success: false` and a message in one of its spellings."""

    success: bool | None = None
    message: str | None = None
    Message: str | None = None
    errorMessage: str | None = None


class OrderRecord(Refusal, kw_only=True):
    """An order as `CreateOrder` and `getOrder` answer it."""

    itemCode: str | None = None
    orderHdrID: str | int | None = None
    originalID: str | int | None = None
    saleOrderCode: str | None = None
    status: str | int | None = None
    totalFee: float | None = None


class Created(OrderRecord, kw_only=True):
    data: OrderRecord | None = None  # some answers wrap the record


class HistoryEntry(Wire, kw_only=True):
    statusCode: str | int
    statusName: str = ""
    createdDate: str
    createdHour: str = ""


class History(Wire, kw_only=True):
    statusHistory: list[HistoryEntry] = []


class HistoryAnswer(Refusal, kw_only=True):
    statusHistory: list[HistoryEntry] = []
    data: History | None = None


class Token(Refusal, kw_only=True):
    token: str | None = None


class CaseResult(Refusal, kw_only=True):
    """`POST /orderCancel`: `Type` "00" cancelled, "02" pending approval, else refused."""

    Type: str | None = None
    CaseId: str | int | None = None


class CallbackRecord(Wire, kw_only=True):
    itemCode: str
    status: str | int
    saleOrderCode: str | None = None
    originalId: str | int | None = None
    orderHdrId: str | int | None = None
    totalFee: int | float | str | None = None  # provisional, VAT included (§5.1); a string at times
    codAmount: int | float | str | None = None


class Callback(Wire, kw_only=True):
    """The webhook body: a batch of orders, the time VNPost sent it, and its signature."""

    data: list[CallbackRecord]
    sendDate: str
    signature: str = ""


class SignedCallback(Wire, kw_only=True):
    data: msgspec.Raw
    sendDate: str = ""
    signature: str = ""
