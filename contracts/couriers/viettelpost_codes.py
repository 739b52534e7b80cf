"""Viettel Post's code tables: order statuses, reason codes, final statuses, and our address-id mapping."""

from __future__ import annotations

from datetime import date

from contracts.base import Record
from contracts.couriers import Shipment
from contracts.statuses import Status

# couriers-vn.md §4.8, mapped as the viettelpost column of §8 says. None: a code VTP documents that §8
# gives no canonical state; it is recorded and alerted on like an unknown code, never guessed.
STATUS: dict[int, Status | None] = {
    -100: Status.BOOKED,
    -108: Status.PICKED_UP,  # dropped at a post office
    -109: Status.PICKED_UP,  # dropped at a collection point
    -110: None,  # "being handed over via a post office": not in §8
    100: Status.BOOKED,
    101: Status.CANCELLED,
    102: Status.PICKUP_FAILED,  # §8 lists it as pickup delayed or failed; we have no "delayed", and it is not final
    103: Status.PICKUP_STARTED,
    104: Status.PICKUP_STARTED,  # one VTP table marks it final: a doc error (§4.7), so never terminal here
    105: Status.PICKED_UP,
    106: Status.PICKUP_FAILED,  # the partner asks for the pickup again
    107: Status.CANCELLED,
    200: Status.PICKED_UP,
    201: Status.CANCELLED,
    202: Status.IN_TRANSIT,  # waybill edited
    300: Status.IN_TRANSIT,
    301: Status.IN_TRANSIT,
    302: Status.IN_TRANSIT,
    303: Status.IN_TRANSIT,
    310: Status.IN_TRANSIT,
    320: Status.IN_TRANSIT,
    400: Status.IN_TRANSIT,
    401: Status.IN_TRANSIT,
    402: Status.IN_TRANSIT,
    403: Status.IN_TRANSIT,
    500: Status.OUT_FOR_DELIVERY,
    501: Status.DELIVERED,
    502: Status.RETURNING,
    503: Status.CANCELLED,
    504: Status.RETURNED,
    505: Status.AWAITING_INSTRUCTION,  # sources disagree on 505/506 (VERIFY): neither is terminal
    506: Status.DELIVERY_FAILED,
    507: Status.HELD_FOR_COLLECTION,
    508: Status.OUT_FOR_DELIVERY,
    509: Status.IN_TRANSIT,
    510: Status.EXCEPTION,
    515: Status.RETURNING,
    550: Status.OUT_FOR_DELIVERY,
    # 570 is left out on purpose: §8 proposes "exception", §4.8 and §9.4 say "seen once, never explained,
    # treat as unknown". Unmapped, it is kept with its raw code and raised to the exceptions queue.
}

# What VTP writes in `STATUS_NAME` for each code (§4.8), for the sandbox and for answers that omit it.
STATUS_TEXT: dict[int, str] = {
    -100: "Đơn mới tạo, chưa duyệt",
    -108: "Gửi hàng tại bưu cục",
    -109: "Gửi hàng tại điểm thu gom",
    -110: "Đang bàn giao qua bưu cục",
    100: "Tiếp nhận đơn hàng từ đối tác",
    101: "ViettelPost yêu cầu hủy đơn hàng",
    102: "Đơn hàng chờ xử lý",
    103: "Giao cho bưu cục",
    104: "Giao cho bưu tá đi nhận",
    105: "Bưu tá đã nhận hàng",
    106: "Đối tác yêu cầu lấy lại hàng",
    107: "Đối tác yêu cầu hủy qua API",
    200: "Nhận từ bưu tá - Bưu cục gốc",
    201: "Hủy nhập phiếu gửi",
    202: "Sửa phiếu gửi",
    300: "Khai thác đi",
    301: "Đóng túi gói",
    302: "Đóng chuyến thư",
    303: "Đóng tuyến xe",
    310: "Đóng bảng kê",
    320: "Bàn giao",
    400: "Khai thác đến",
    401: "Nhận túi gói",
    402: "Nhận chuyến thư",
    403: "Nhận chuyến xe",
    500: "Giao bưu tá đi phát",
    501: "Phát thành công",
    502: "Chuyển hoàn bưu cục gốc",
    503: "Hủy - Theo yêu cầu khách hàng",
    504: "Thành công - Chuyển trả người gửi",
    505: "Tồn - Thông báo chuyển hoàn bưu cục gốc",
    506: "Tồn - Khách hàng nghỉ, không có nhà",
    507: "Tồn - Khách hàng đến bưu cục nhận",
    508: "Phát tiếp",
    509: "Chuyển tiếp bưu cục khác",
    510: "Hủy phân công phát",
    515: "Bưu cục phát duyệt hoàn",
    550: "Phát tiếp theo yêu cầu khách hàng",
}

# §4.7: nothing should follow these. If something does, it is logged and still answered 200.
FINAL: frozenset[int] = frozenset({101, 107, 201, 501, 503, 504})

# §4.9, the current webhook doc. The older V2 list (1–17) is not documented well enough to map.
REASON: dict[str, str] = {
    "20": "refused: colour",
    "21": "refused: size",
    "22": "refused: style",
    "23": "refused: quality",
    "24": "refused: not allowed to inspect",
    "25": "refused: quantity",
    "26": "refused: wrong COD amount",
    "27": "refused: wrong phone number",
    "30": "no longer needed",
    "31": "did not order",
    "32": "wrong address",
    "35": "receiver reschedules",
    "36": "unreachable",
    "37": "postman reschedules",
    "38": "customer collects at the post office",
    "43": "sender requests return",
    "46": "multiple failed attempts",
    "47": "multiple failed attempts",
}

# `UpdateOrder` TYPEs we use (§4.4): 2 approve the return, 3 redeliver, 4 cancel. Notes carry no personal data.
APPROVE_RETURN, REDELIVER, CANCEL = 2, 3, 4
UPDATE_NOTES: dict[int, str] = {
    APPROVE_RETURN: "Duyệt chuyển hoàn",
    REDELIVER: "Phát tiếp",
    CANCEL: "Trung tâm hủy đơn",
}


class UnitTable(Record, frozen=True, kw_only=True):
    """Our 2025 unit codes -> Viettel Post's v3 catalogue ids (`listProvinceNew`, `listWardsNew`).

    VTP's ids are its own numbering, not the national codes, and we hold no copy of its catalogue, so
    the table ships empty rather than invented. Fill it from a dated download of both lists; bump
    `version` and `valid_from` with each refresh, since units merge and split (§7.7, §9.18).
    """

    version: str
    valid_from: date
    provinces: dict[str, int]  # province code -> PROVINCE_ID
    wards: dict[str, tuple[int, int]]  # ward code -> (PROVINCE_ID, WARDS_ID)


UNITS = UnitTable(version="none", valid_from=date(2025, 7, 1), provinces={}, wards={})


def ward_ids(shipment: Shipment, units: UnitTable = UNITS) -> tuple[tuple[int, int], tuple[int, int]] | None:
    """VTP's (province, ward) ids for sender and receiver, or None unless the table knows both wards."""
    sender, receiver = units.wards.get(shipment.sender.ward_code), units.wards.get(shipment.receiver.ward_code)
    return (sender, receiver) if sender and receiver else None
