"""The order view with its due dates, computed from the stored timeline on the working-day calendar."""

from __future__ import annotations

from contracts.calendar import WorkingCalendar
from contracts.deadlines import deadlines
from contracts.orders import Order, OrderView, view
from workers.context import Context

CALENDAR = WorkingCalendar()


def view_with_deadlines(ctx: Context, order: Order) -> OrderView:
    timeline = ctx.store.timeline(order.id)
    return view(order, deadlines(order, timeline, ctx.config.centres.get(order.centre), CALENDAR))
