"""Why an order needs a clerk, and what the clerk can do about it (the exceptions queue)."""

from __future__ import annotations

from datetime import date

from contracts.base import Record
from contracts.events import Timeline
from contracts.lifecycle import DECISIONS
from contracts.money import money_record
from contracts.orders import Deadlines, Order, cod_expected
from contracts.statuses import TERMINAL, Status

# Each reason in English (the API's `reasons`) and in Vietnamese (`reasons_vi`, what the console shows).
_BY_STATUS: dict[Status, tuple[str, str]] = {
    Status.DISPATCH_FAILED: ("the courier refused the booking", "đơn vị vận chuyển từ chối nhận đơn"),
    Status.AWAITING_INSTRUCTION: (
        "the courier waits for a decision: deliver again or return",
        "đơn vị vận chuyển chờ quyết định: phát lại hay chuyển hoàn",
    ),
    Status.EXCEPTION: (
        "the courier reported an exception (a partial delivery or return, or an incident)",
        "đơn vị vận chuyển báo sự cố (giao hoặc hoàn một phần, hoặc sự cố khác)",
    ),
    Status.LOST: (
        "the courier declared the dossier lost: open a claim (QĐ 45/2016 Điều 14)",
        "đơn vị vận chuyển báo thất lạc: lập hồ sơ bồi thường (QĐ 45/2016 Điều 14)",
    ),
    Status.DAMAGED: (
        "the courier declared the dossier damaged: open a claim (QĐ 45/2016 Điều 14)",
        "đơn vị vận chuyển báo hư hỏng: lập hồ sơ bồi thường (QĐ 45/2016 Điều 14)",
    ),
}


class ExceptionItem(Record, frozen=True, kw_only=True):
    order_id: str
    dossier_code: str
    courier: str
    status: Status
    reasons: list[str]
    reasons_vi: list[str]  # the same, in Vietnamese, for the console
    actions: list[str]  # the decisions the API accepts for this order now


def _money_reasons(order: Order) -> list[tuple[str, str]]:
    record = money_record(order.charges, cod_expected(order))
    if not record.cod_mismatch:
        return []
    return [
        (
            f"the courier collects {record.cod} VND, not the {record.cod_expected} VND asked (COD changed)",
            f"đơn vị vận chuyển thu {record.cod} đồng, không phải {record.cod_expected} đồng như yêu cầu (COD bị đổi)",
        )
    ]


def assess(order: Order, timeline: Timeline, deadlines: Deadlines, today: date) -> ExceptionItem | None:
    """The reasons a clerk must look at this order today, or None when it runs on its own.

    A finished order comes back for a claim (lost, damaged), a step the courier reported after the end
    (§9.3: always acknowledged, raised here), a push/poll contradiction, or money collected other than asked.
    """
    reasons: list[tuple[str, str]] = []
    if order.status in _BY_STATUS:
        reasons.append(_BY_STATUS[order.status])
    if order.status is Status.ACCEPTED and order.dispatch_error:  # a courier down for minutes
        why = order.dispatch_error
        reasons.append(
            (
                f"{why}; retrying by itself (cancel, or wait for the courier)",
                f"chưa đặt được đơn với đơn vị vận chuyển ({why}); hệ thống tự thử lại",
            )
        )
    if order.contradiction:
        reasons.append(
            (f"push/poll contradiction: {order.contradiction}", f"callback và tra cứu mâu thuẫn: {order.contradiction}")
        )
    reasons += _money_reasons(order)
    unmapped = sorted({e.event.raw_status for e in timeline.entries if e.event.status is None})
    if unmapped:
        codes = ", ".join(unmapped)
        reasons.append(
            (f"the courier sent codes we do not know: {codes}", f"mã trạng thái lạ từ đơn vị vận chuyển: {codes}")
        )
    contradictions = [
        e for e in timeline.entries if e.event.status is not None and not e.applied and not e.event.unconfirmed
    ]
    if contradictions:
        latest = contradictions[-1].event
        reasons.append(
            (
                f"the courier reported {latest.raw_status!r} after the order was {order.status.value}",
                f"đơn vị vận chuyển báo {latest.raw_status!r} sau khi đơn đã ở trạng thái {order.status.value}",
            )
        )
    if order.status not in TERMINAL:
        if deadlines.due_date is not None and today > deadlines.due_date:
            due = deadlines.due_date
            reasons.append(
                (f"late: due {due.isoformat()} (TT 17/2017 Điều 7)", f"trễ hạn: hạn {due:%d/%m/%Y} (TT 17/2017 Điều 7)")
            )
        failed = deadlines.failed_attempts
        if deadlines.return_due is not None and today >= deadlines.return_due:
            reasons.append(
                (
                    f"{failed} failed deliveries: the result must go back to the centre",
                    f"{failed} lần phát không thành công: phải chuyển kết quả về trung tâm",
                )
            )
        elif failed >= 2:
            reasons.append((f"{failed} failed deliveries", f"{failed} lần phát không thành công"))
    return _item(order, reasons)


def _item(order: Order, pairs: list[tuple[str, str]]) -> ExceptionItem | None:
    reasons = [english for english, _vietnamese in pairs]
    if not reasons:
        return None
    actions = [decision for decision, allowed in DECISIONS.items() if order.status in allowed]
    return ExceptionItem(
        order_id=order.id,
        dossier_code=order.dossier_code,
        courier=order.courier.value,
        status=order.status,
        reasons=reasons,
        reasons_vi=[vietnamese for _english, vietnamese in pairs],
        actions=actions,
    )
