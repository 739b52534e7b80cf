"""An order's due dates from its timeline: J+n once the courier holds it, then the invitation rule."""

from __future__ import annotations

from contracts.calendar import VIETNAM_TZ, WorkingCalendar, acceptance_day, due_date, redelivery_plan, route_for
from contracts.config import Centre
from contracts.events import Timeline
from contracts.orders import Deadlines, Kind, Order
from contracts.statuses import TERMINAL, Status

# The courier holds the dossier from any of these on: the first one is the acceptance J counts from.
IN_CUSTODY = frozenset(
    {
        Status.PICKED_UP,
        Status.IN_TRANSIT,
        Status.OUT_FOR_DELIVERY,
        Status.DELIVERY_FAILED,
        Status.AWAITING_INSTRUCTION,
        Status.HELD_FOR_COLLECTION,
        Status.DELIVERED,
        Status.RETURNING,
        Status.RETURNED,
    }
)


def deadlines(order: Order, timeline: Timeline, centre: Centre | None, calendar: WorkingCalendar) -> Deadlines:
    applied = [entry.event for entry in timeline.entries if entry.applied]
    accepted = next((e.event_time for e in applied if e.status in IN_CUSTODY), None)
    if accepted is None or centre is None:
        return Deadlines()
    route = route_for(
        centre.province_code,
        order.address.province_code,
        same_ward=centre.ward_code == order.address.ward_code,
    )
    # TT 17 Đ7's second column (with an appointment slip) is not applied: which legs it covers is VERIFY.
    due = due_date(accepted, route, with_appointment=False, calendar=calendar)

    failed = [e.event_time.astimezone(VIETNAM_TZ).date() for e in applied if e.status is Status.DELIVERY_FAILED]
    if order.kind is not Kind.DELIVERY or timeline.status in TERMINAL:
        plan_next, plan_return = None, None
    else:
        plan = redelivery_plan(failed, calendar)
        plan_next, plan_return = plan.next_attempt_due, plan.return_due
    return Deadlines(
        accepted_on=acceptance_day(accepted, calendar),
        due_date=due,
        failed_attempts=len(failed),
        next_attempt_due=plan_next,
        return_due=plan_return,
    )


# How long an order may stay silent in each status, in multiples of the base quiet time, before we
# ask the courier (callbacks get lost: GHTK "retries once", VTP may be webhook-only).
QUIET_FACTOR: dict[Status, float] = {
    Status.BOOKED: 2,
    Status.PICKUP_STARTED: 1,
    Status.PICKUP_FAILED: 1,
    Status.PICKED_UP: 2,
    Status.IN_TRANSIT: 4,
    Status.OUT_FOR_DELIVERY: 1,
    Status.DELIVERY_FAILED: 1,
    Status.AWAITING_INSTRUCTION: 1,
    Status.HELD_FOR_COLLECTION: 4,
    Status.RETURNING: 4,
    Status.EXCEPTION: 1,
}


def quiet_after(status: Status, base_seconds: float) -> float:
    return QUIET_FACTOR.get(status, 1) * base_seconds
