"""Why an order needs a clerk, and what the clerk can do about it (the exceptions queue)."""

from __future__ import annotations

from datetime import date

from contracts.base import Record
from contracts.events import Timeline
from contracts.lifecycle import DECISIONS
from contracts.money import money_record
from contracts.orders import Deadlines, Order, cod_expected
from contracts.statuses import TERMINAL, Status

_BY_STATUS: dict[Status, str] = {
    Status.DISPATCH_FAILED: "the courier refused the booking",
    Status.AWAITING_INSTRUCTION: "the courier waits for a decision: deliver again or return",
    Status.EXCEPTION: "the courier reported an exception (a partial delivery or return, or an incident)",
    Status.LOST: "the courier declared the dossier lost: open a claim (QĐ 45/2016 Điều 14)",
    Status.DAMAGED: "the courier declared the dossier damaged: open a claim (QĐ 45/2016 Điều 14)",
}


class ExceptionItem(Record, frozen=True, kw_only=True):
    order_id: str
    dossier_code: str
    courier: str
    status: Status
    reasons: list[str]
    actions: list[str]  # the decisions the API accepts for this order now


def _money_reasons(order: Order) -> list[str]:
    record = money_record(order.charges, cod_expected(order))
    if not record.cod_mismatch:
        return []
    return [f"the courier collects {record.cod} VND, not the {record.cod_expected} VND asked (COD changed)"]


def assess(order: Order, timeline: Timeline, deadlines: Deadlines, today: date) -> ExceptionItem | None:
    """The reasons a clerk must look at this order today, or None when it runs on its own.

    A finished order comes back for a claim (lost, damaged), a step the courier reported after the end
    (§9.3: always acknowledged, raised here), a push/poll contradiction, or money collected other than asked.
    """
    reasons = []
    if order.status in _BY_STATUS:
        reasons.append(_BY_STATUS[order.status])
    if order.contradiction:
        reasons.append(f"push/poll contradiction: {order.contradiction}")
    reasons += _money_reasons(order)
    unmapped = sorted({e.event.raw_status for e in timeline.entries if e.event.status is None})
    if unmapped:
        reasons.append(f"the courier sent codes we do not know: {', '.join(unmapped)}")
    contradictions = [
        e for e in timeline.entries if e.event.status is not None and not e.applied and not e.event.unconfirmed
    ]
    if contradictions:
        latest = contradictions[-1].event
        reasons.append(f"the courier reported {latest.raw_status!r} after the order was {order.status.value}")
    if order.status not in TERMINAL:
        if deadlines.due_date is not None and today > deadlines.due_date:
            reasons.append(f"late: due {deadlines.due_date.isoformat()} (TT 17/2017 Điều 7)")
        if deadlines.return_due is not None and today >= deadlines.return_due:
            reasons.append(f"{deadlines.failed_attempts} failed deliveries: the result must go back to the centre")
        elif deadlines.failed_attempts >= 2:
            reasons.append(f"{deadlines.failed_attempts} failed deliveries")
    return _item(order, reasons)


def _item(order: Order, reasons: list[str]) -> ExceptionItem | None:
    if not reasons:
        return None
    actions = [decision for decision, allowed in DECISIONS.items() if order.status in allowed]
    return ExceptionItem(
        order_id=order.id,
        dossier_code=order.dossier_code,
        courier=order.courier.value,
        status=order.status,
        reasons=reasons,
        actions=actions,
    )
