"""The notices TT 17/2017 Điều 12 owes a citizen, and their texts (Vietnamese first, English available).

Which status change triggers which notice is decided here; the `notify` worker sends them by email
and SMS. A text names the dossier, dates, the courier and the tracking code: never an ID number, a
phone number or an address (the citizen knows theirs; a message can be read over a shoulder).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from contracts.base import Record
from contracts.calendar import VIETNAM_TZ
from contracts.orders import Kind, Order
from contracts.statuses import Status

NoticeKind = Literal["dossier_received", "result_on_its_way", "delivery_failed", "held_for_collection"]
Language = Literal["vi", "en"]

COURIER_NAMES: dict[str, str] = {
    "vnpost": "Bưu điện (VNPost)",
    "viettelpost": "Viettel Post",
    "ghn": "Giao Hàng Nhanh",
    "ghtk": "Giao Hàng Tiết Kiệm",
}

# The result leaves the centre: told once, on the first of these (couriers skip steps).
_ON_ITS_WAY = frozenset({Status.PICKED_UP, Status.IN_TRANSIT, Status.OUT_FOR_DELIVERY})


def notice_for(old: Status, order: Order) -> NoticeKind | None:
    """The notice a change of status owes the citizen, if any.

    Pickup handed over at the centre: the dossier arrived (with the result date). Delivery: the result
    is on its way (the first time it moves), an attempt failed (with the next one), or it waits at the
    post office. A repeated callback changes no status, so it triggers nothing.
    """
    new = order.status
    if new == old:
        return None
    if order.kind is Kind.PICKUP:
        return "dossier_received" if new is Status.DELIVERED else None
    if (
        new in _ON_ITS_WAY
        and old not in _ON_ITS_WAY
        and old not in (Status.DELIVERY_FAILED, Status.HELD_FOR_COLLECTION)
    ):
        return "result_on_its_way"
    if new is Status.DELIVERY_FAILED:
        return "delivery_failed"
    if new is Status.HELD_FOR_COLLECTION:
        return "held_for_collection"
    return None


class NoticeFacts(Record, frozen=True, kw_only=True):
    """What a text may say: nothing personal beyond the dossier code."""

    dossier_code: str
    centre_name: str
    courier: str
    tracking_code: str | None
    at: datetime  # when it happened
    result_date: date | None = None  # hẹn trả
    next_attempt: date | None = None
    place: str | None = None  # the post office holding it
    tracking_url: str | None = None  # the public tracking page, once a deployment serves one


class Text(Record, frozen=True, kw_only=True):
    subject: str
    body: str


def _day(value: date | None, lang: Language) -> str:
    if value is None:
        return "sẽ được thông báo sau" if lang == "vi" else "to be announced"
    return value.strftime("%d/%m/%Y")


def render(kind: NoticeKind, facts: NoticeFacts, lang: Language = "vi") -> Text:
    courier = COURIER_NAMES.get(facts.courier, facts.courier)
    when = facts.at.astimezone(VIETNAM_TZ).strftime("%H:%M %d/%m/%Y")
    code = facts.dossier_code
    tracking = f" (mã vận đơn {facts.tracking_code})" if facts.tracking_code else ""
    tracking_en = f" (tracking code {facts.tracking_code})" if facts.tracking_code else ""
    bring = (
        "Khi nhận, vui lòng xuất trình CCCD/hộ chiếu, hoặc giấy ủy quyền và giấy tờ tùy thân của người được ủy quyền."
    )
    bring_en = "Please show your ID card or passport, or the authorisation and the ID of the person you authorised."
    follow = f"Tra cứu: {facts.tracking_url}" if facts.tracking_url else ""
    follow_en = f"Track it: {facts.tracking_url}" if facts.tracking_url else ""
    if lang == "en":
        texts = {
            "dossier_received": Text(
                subject=f"Dossier {code} has reached {facts.centre_name}",
                body=f"Your dossier {code} was handed to {facts.centre_name} by {courier} at {when}. "
                f"Result date: {_day(facts.result_date, lang)}. {follow_en}",
            ),
            "result_on_its_way": Text(
                subject=f"The result of dossier {code} is on its way",
                body=f"{courier} is bringing the result of dossier {code} to your address{tracking_en}. "
                f"{bring_en} {follow_en}",
            ),
            "delivery_failed": Text(
                subject=f"The result of dossier {code} could not be delivered",
                body=f"{courier} could not deliver the result of dossier {code} at {when}. "
                f"Next attempt: {_day(facts.next_attempt, lang)}. To change the time, call the centre. {follow_en}",
            ),
            "held_for_collection": Text(
                subject=f"The result of dossier {code} is waiting for you",
                body=f"The result of dossier {code} is held at {facts.place or courier} for you to collect. "
                f"{bring_en} {follow_en}",
            ),
        }
        return _tidy(texts[kind])
    texts = {
        "dossier_received": Text(
            subject=f"Hồ sơ {code} đã đến {facts.centre_name}",
            body=f"Hồ sơ {code} của ông/bà đã được {courier} giao đến {facts.centre_name} lúc {when}. "
            f"Ngày hẹn trả kết quả: {_day(facts.result_date, lang)}. {follow}",
        ),
        "result_on_its_way": Text(
            subject=f"Kết quả hồ sơ {code} đang được chuyển đến ông/bà",
            body=f"{courier} đang chuyển kết quả hồ sơ {code} đến địa chỉ của ông/bà{tracking}. {bring} {follow}",
        ),
        "delivery_failed": Text(
            subject=f"Chưa phát được kết quả hồ sơ {code}",
            body=f"{courier} chưa phát được kết quả hồ sơ {code} lúc {when}. "
            f"Lần phát tiếp theo: {_day(facts.next_attempt, lang)}. "
            f"Để hẹn lại thời gian, vui lòng liên hệ bộ phận một cửa. {follow}",
        ),
        "held_for_collection": Text(
            subject=f"Kết quả hồ sơ {code} đang chờ ông/bà đến nhận",
            body=f"Kết quả hồ sơ {code} đang được lưu tại {facts.place or courier} để ông/bà đến nhận. "
            f"{bring} {follow}",
        ),
    }
    return _tidy(texts[kind])


def _tidy(text: Text) -> Text:
    return Text(subject=text.subject, body=text.body.strip())
