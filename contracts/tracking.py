"""What the public tracking page says to a citizen: each step in plain words, what to bring, how to
reschedule. Vietnamese first, English for `lang=en`. Nothing personal: no name, phone or address."""

from __future__ import annotations

from typing import Literal

from contracts.orders import Kind
from contracts.statuses import Status

Lang = Literal["vi", "en"]
S = Status

_STEPS: dict[Status, tuple[str, str]] = {
    S.ACCEPTED: ("Trung tâm đã tạo yêu cầu gửi qua bưu chính.", "The centre asked for it to go by post."),
    S.DISPATCH_FAILED: ("Có trục trặc khi đặt đơn vị vận chuyển; trung tâm đang xử lý.",
                        "Booking the courier failed; the centre is dealing with it."),
    S.BOOKED: ("Đã đặt đơn vị vận chuyển.", "A courier has been booked."),
    S.PICKUP_STARTED: ("Bưu tá đang đến lấy.", "The postman is on the way to collect it."),
    S.PICKUP_FAILED: ("Bưu tá chưa lấy được; sẽ hẹn lại.", "The postman could not collect it; they will come again."),
    S.PICKED_UP: ("Bưu tá đã nhận.", "The postman has it."),
    S.IN_TRANSIT: ("Đang được vận chuyển.", "On its way."),
    S.OUT_FOR_DELIVERY: ("Bưu tá đang mang đến.", "The postman is bringing it."),
    S.DELIVERY_FAILED: ("Giao chưa thành công; bưu tá sẽ hẹn giao lại.",
                        "Not delivered this time; the postman will come again."),
    S.AWAITING_INSTRUCTION: ("Đang chờ quyết định giao lại hoặc chuyển về trung tâm.",
                             "Waiting for a decision: deliver again or take it back to the centre."),
    S.HELD_FOR_COLLECTION: ("Đang chờ bạn đến nhận tại bưu cục.", "Waiting for you at the post office."),
    S.RETURNING: ("Đang được chuyển về nơi gửi.", "Going back to the sender."),
    S.RETURNED: ("Đã chuyển về nơi gửi.", "Back with the sender."),
    S.CANCELLED: ("Đã hủy.", "Cancelled."),
    S.LOST: ("Bị thất lạc; trung tâm sẽ liên hệ với bạn.", "Lost; the centre will contact you."),
    S.DAMAGED: ("Bị hư hỏng; trung tâm sẽ liên hệ với bạn.", "Damaged; the centre will contact you."),
    S.EXCEPTION: ("Có sự cố; trung tâm đang xử lý.", "Something went wrong; the centre is dealing with it."),
}  # fmt: skip
_DELIVERED = {
    Kind.PICKUP: ("Hồ sơ đã đến trung tâm.", "Your dossier has reached the centre."),
    Kind.DELIVERY: ("Kết quả đã được giao.", "The result has been delivered."),
}
TITLES = {
    Kind.PICKUP: ("Nhận hồ sơ tại nhà", "Dossier collected from your home"),
    Kind.DELIVERY: ("Trả kết quả tại nhà", "Result brought to your home"),
}


def _pick(pair: tuple[str, str], lang: Lang) -> str:
    return pair[0] if lang == "vi" else pair[1]


def step(status: Status, kind: Kind, lang: Lang) -> str:
    if status is Status.DELIVERED:
        return _pick(_DELIVERED[kind], lang)
    return _pick(_STEPS[status], lang)


def what_to_bring(kind: Kind, authorised: bool, to_recover: list[str], lang: Lang) -> list[str]:
    if kind is Kind.PICKUP:
        return [
            "Chuẩn bị đủ giấy tờ của hồ sơ; bưu tá kiểm đếm cùng bạn và hai bên cùng ký phiếu gửi."
            if lang == "vi"
            else "Have every document of the dossier ready; you and the postman count them and both sign the note."
        ]
    found = [
        "Khi nhận: xuất trình CCCD, CMND hoặc hộ chiếu."
        if lang == "vi"
        else "When you receive it: show your ID card or passport."
    ]
    if authorised:
        found.append(
            "Người nhận thay mang giấy ủy quyền và giấy tờ tùy thân của mình."
            if lang == "vi"
            else "Someone receiving it for you brings the authorisation and their own ID."
        )
    if to_recover:
        names = ", ".join(to_recover)
        found.append(f"Nộp lại cho bưu tá: {names}." if lang == "vi" else f"Hand back to the postman: {names}.")
    return found


def reschedule(centre_name: str, centre_phone: str, lang: Lang) -> str:
    if lang == "vi":
        return f"Muốn hẹn lại ngày giờ: gọi {centre_name}, số {centre_phone}, hoặc bưu tá khi họ gọi cho bạn."
    return f"To change the day or time: call {centre_name} on {centre_phone}, or the postman when they call you."
