"""GHTK's code tables: `status_id` to canonical status, the texts GHTK gives them, and `reason_code` meanings."""

from __future__ import annotations

from contracts.statuses import Status

S = Status

# couriers-vn.md §3.5, mapped as the GHTK column of §8. Our canonical statuses have no pickup_delayed or
# delivery_delayed: a postponed attempt is an attempt that did not happen today, so it maps to the failed
# attempt of its phase (as GHN's "asks to reschedule" reasons do); neither is terminal.
STATUS: dict[int, Status] = {
    -1: S.CANCELLED,
    1: S.BOOKED,
    2: S.BOOKED,
    12: S.PICKUP_STARTED,
    8: S.PICKUP_FAILED,  # pickup postponed (§8 pickup_delayed)
    128: S.PICKUP_FAILED,  # shipper reports pickup delay (§8 pickup_delayed*)
    7: S.PICKUP_FAILED,  # GHTK's final word on the pickup; a clerk cancels or books again
    127: S.PICKUP_FAILED,  # shipper reports pickup failed*
    3: S.PICKED_UP,  # picked up / in warehouse; GHTK has no separate in-transit code
    123: S.PICKED_UP,  # shipper reports picked up*
    4: S.OUT_FOR_DELIVERY,
    45: S.DELIVERED,  # shipper reports delivered*: 9 may follow (§9.3); confirmed by 5/6
    10: S.DELIVERY_FAILED,  # delivery delayed (§8 delivery_delayed)
    410: S.DELIVERY_FAILED,  # shipper reports delivery delay (§8 delivery_delayed*)
    9: S.DELIVERY_FAILED,
    49: S.DELIVERY_FAILED,  # shipper reports delivery failed*
    5: S.DELIVERED,
    6: S.DELIVERED,  # reconciled (COD settled): a money step after 5
    20: S.RETURNING,
    21: S.RETURNED,
    11: S.RETURNED,  # return reconciled: a money step after 21
    13: S.LOST,  # compensation ("bồi hoàn"): GHTK pays for a lost or damaged parcel (§8 lost / damaged)
}

# "Shipper báo ...": the shipper's own report. Recorded as unconfirmed, with the status it claims; it moves
# nothing until GHTK's own code for the same step arrives (§8 *, §9.3).
REPORTS: frozenset[int] = frozenset({123, 127, 128, 45, 49, 410})

# Cancel is accepted only before pickup (§3.3); otherwise "Đơn đã lấy hàng, không thể hủy đơn."
CANCELLABLE: frozenset[int] = frozenset({1, 2, 12})

# What GHTK calls each status (§3.5), for `raw_text` where the courier sends only the id.
STATUS_TEXT: dict[int, str] = {
    -1: "Hủy đơn hàng",
    1: "Chưa tiếp nhận",
    2: "Đã tiếp nhận",
    3: "Đã lấy hàng/Đã nhập kho",
    4: "Đã điều phối giao hàng/Đang giao hàng",
    5: "Đã giao hàng/Chưa đối soát",
    6: "Đã đối soát",
    7: "Không lấy được hàng",
    8: "Hoãn lấy hàng",
    9: "Không giao được hàng",
    10: "Delay giao hàng",
    11: "Đã đối soát công nợ trả hàng",
    12: "Đã điều phối lấy hàng/Đang lấy hàng",
    13: "Đơn hàng bồi hoàn",
    20: "Đang trả hàng (COD cầm hàng đi trả)",
    21: "Đã trả hàng (COD đã trả xong hàng)",
    123: "Shipper báo đã lấy hàng",
    127: "Shipper báo không lấy được hàng",
    128: "Shipper báo delay lấy hàng",
    45: "Shipper báo đã giao hàng",
    49: "Shipper báo không giao được hàng",
    410: "Shipper báo delay giao hàng",
}

# couriers-vn.md §3.6. Reason codes are their own namespace: reason 123 is not status 123.
PICKUP_DELAY_REASONS: dict[str, str] = {
    "100": "supplier set a later shift",
    "101": "cannot contact the supplier",
    "102": "goods not ready",
    "103": "address changed",
    "104": "supplier set another date",
    "105": "GHTK overloaded",
    "106": "weather",
    "107": "other",
}
PICKUP_FAILURE_REASONS: dict[str, str] = {
    "110": "outside service area",
    "111": "goods not accepted",
    "112": "supplier cancelled",
    "113": "postponed, or no contact after 3 tries",
    "114": "other",
    "115": "partner cancelled via API",
}
DELIVERY_DELAY_REASONS: dict[str, str] = {
    "121": "later shift",
    "122": "cannot call the customer",
    "123": "customer set another date",
    "124": "address changed",
    "125": "wrong address",
    "128": "partner set the appointment",
    "129": "parcel not found",
    "1200": "wrong phone number",
}
DELIVERY_FAILURE_REASONS: dict[str, str] = {
    "130": "refused",
    "131": "no contact after 3 tries",
    "132": "more than 3 appointments",
    "133": "shop cancelled",
    "135": "partner cancelled via API",
}
# The reference names only the range; the individual meanings are not documented there.
RETURN_DELAY_REASONS: dict[str, str] = {code: "return delayed" for code in ("140", "141", "142", "143", "144")}

REASON: dict[str, str] = {
    **PICKUP_DELAY_REASONS,
    **PICKUP_FAILURE_REASONS,
    **DELIVERY_DELAY_REASONS,
    **DELIVERY_FAILURE_REASONS,
    **RETURN_DELAY_REASONS,
}

# Order tags (§3.2) we always send. 10: allow inspection, for the joint count at hand-over (QĐ 45 Đ6, Đ9;
# §9.15); 22: "Thư từ, tài liệu". Never the partial ones, 17/18: a dossier is never split (§9.14).
TAGS: tuple[int, ...] = (10, 22)
PARTIAL_TAGS: frozenset[int] = frozenset({17, 18})

# Our own cancel coming back as a callback (§9.11): link it to the request, not a new event.
OUR_CANCEL_REASONS: frozenset[str] = frozenset({"115", "135"})
