"""The numbers provinces report, kept as counters: what each order adds to which month.

An order adds to the months its facts fall in (Hà Nội time): created in one, delivered, returned or
lost in another, a failed attempt in the month it happened. `counts` says what an order adds in its
current state; the store adds the difference between an order's counts before and after each change
in the same MULTI/EXEC as the change, so the counters always equal what `counts` gives over every
order (tests recompute them from the stored events), whatever the order of arrival, and a report
reads one hash per centre and month instead of scanning orders.

Counter fields are `<courier>|<kind>|<metric>`; lead times also keep a histogram of whole hours
(`lead_h:<hours>`), so a period's p90 is exact to the hour.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Literal

from contracts.base import Record
from contracts.calendar import VIETNAM_TZ, WorkingCalendar
from contracts.config import Centre
from contracts.deadlines import IN_CUSTODY, deadlines
from contracts.events import Event, Timeline
from contracts.money import money_record
from contracts.orders import Courier, Kind, Order, cod_expected
from contracts.statuses import Status

Increments = dict[tuple[str, str], int]  # (month "YYYY-MM", field) -> amount
PeriodKind = Literal["month", "quarter", "year"]

# Statuses an order can end in, each counted in the month it ended.
ENDINGS = (Status.DELIVERED, Status.RETURNED, Status.LOST, Status.DAMAGED, Status.CANCELLED)
FAILED = frozenset({Status.PICKUP_FAILED, Status.DELIVERY_FAILED})
# The courier charges postage for a journey it made, whatever its end; not for a cancelled booking.
CHARGED = frozenset({Status.DELIVERED, Status.RETURNED, Status.LOST, Status.DAMAGED})


def month_of(moment: datetime) -> str:
    local = moment.astimezone(VIETNAM_TZ)
    return f"{local.year:04d}-{local.month:02d}"  # strftime took twice as long, twice an order a step


def counts(order: Order, timeline: Timeline, centre: Centre | None, calendar: WorkingCalendar) -> Increments:
    """What `order`, with this timeline, adds to the counters."""
    found: Increments = {}  # a dict: a Counter cost more than the rest of this for an order in flight

    def add(moment: datetime, metric: str, amount: int = 1) -> None:
        if amount:
            key = (month_of(moment), f"{order.courier}|{order.kind}|{metric}")
            found[key] = found.get(key, 0) + amount

    if order.replaces is None:  # a re-routed leg is one leg: counted when first created, not again
        add(order.created_at, "created")
    applied = [entry.event for entry in timeline.entries if entry.applied]
    for event in applied:
        if event.status in FAILED:
            add(event.event_time, "failed_attempts")
    if timeline.status not in ENDINGS or not applied:
        return found
    end = applied[-1]  # every applied event sets the status: the last one is the ending
    if timeline.status is Status.CANCELLED and order.replaced_by is not None:
        return found  # cancelled only to go with another courier: the leg goes on
    add(end.event_time, timeline.status.value)
    money = money_record(order.charges, cod_expected(order))
    if timeline.status in CHARGED:
        add(end.event_time, "postage", money.fee or 0)
    if timeline.status is Status.DELIVERED:
        add(end.event_time, "agency_fees", cod_expected(order))
        add(end.event_time, "cod_collected", money.cod or 0)
        due = deadlines(order, timeline, centre, calendar).due_date
        if due is not None:
            add(end.event_time, "on_time" if end.event_time.astimezone(VIETNAM_TZ).date() <= due else "late")
        accepted = next((e.event_time for e in applied if e.status in IN_CUSTODY), None)
        if accepted is not None:
            seconds = max(0, int((end.event_time - accepted).total_seconds()))
            add(end.event_time, "lead_n")
            add(end.event_time, "lead_s", seconds)
            add(end.event_time, f"lead_h:{seconds // 3600}")
    return found


# Statuses that make an order add more than its creation: an ending, or a failed attempt.
_COUNTED: frozenset[Status | None] = frozenset(ENDINGS) | FAILED


def counts_alike(before: Order, after: Order, events: Iterable[Event]) -> bool:
    """True when `counts` gives the same for `before` and `after` whatever the timelines made of
    `events`: no event can end the order or be a failed attempt, so each adds only its creation, and
    that is the same. Most steps of an order on its way: its counters need not be worked out."""
    same = (before.replaces, before.created_at, before.courier, before.kind) == (
        after.replaces, after.created_at, after.courier, after.kind
    )  # fmt: skip
    return same and not any(event.status in _COUNTED for event in events)


def difference(before: Increments, after: Increments) -> dict[tuple[str, str], int]:
    """What to add to the counters to go from `before` to `after` (zero changes left out)."""
    changed = {key: after.get(key, 0) - before.get(key, 0) for key in before.keys() | after.keys()}
    return {key: amount for key, amount in changed.items() if amount}


# -- periods ------------------------------------------------------------------------------------------
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$")
_YEAR = re.compile(r"^(\d{4})$")


class Period(Record, frozen=True, kw_only=True):
    kind: PeriodKind
    label: str  # "2026-11", "2026-Q4", "2026"
    start: date
    end: date  # the last day, included
    months: tuple[str, ...]


def period(kind: PeriodKind, label: str) -> Period:
    """The months of a period; ValueError when the label does not fit the kind."""
    pattern = {"month": _MONTH, "quarter": _QUARTER, "year": _YEAR}[kind]
    match = pattern.match(label)
    if match is None:
        example = {"month": "2026-11", "quarter": "2026-Q4", "year": "2026"}[kind]
        raise ValueError(f"{label!r} is not a {kind} (like {example})")
    year = int(match.group(1))
    if kind == "month":
        first = last = int(match.group(2))
    elif kind == "quarter":
        first = 3 * int(match.group(2)) - 2
        last = first + 2
    else:
        first, last = 1, 12
    months = tuple(f"{year:04d}-{m:02d}" for m in range(first, last + 1))
    end = date(year + 1, 1, 1) if last == 12 else date(year, last + 1, 1)
    return Period(
        kind=kind,
        label=label,
        start=date(year, first, 1),
        end=date.fromordinal(end.toordinal() - 1),
        months=months,
    )


# -- figures ------------------------------------------------------------------------------------------
class Totals(Record, frozen=True, kw_only=True):
    """What a centre received and returned in a month through every channel, as it reports them."""

    dossiers_received: int
    results_returned: int


class Figures(Record, frozen=True, kw_only=True):
    """One row of a report: a centre, a courier, a month or a whole scope."""

    dossiers_received: int = 0  # pickup legs delivered to the centre: dossiers received by post
    results_returned: int = 0  # delivery legs delivered to the citizen: results returned by post
    dossiers_total: int | None = None  # all dossiers received, when the centres reported them
    results_total: int | None = None
    share_received: float | None = None  # dossiers_received / dossiers_total
    share_returned: float | None = None
    orders_created: int = 0
    delivered: int = 0  # both kinds
    on_time: int = 0  # delivered by the J+n due date (TT 17/2017 Điều 7)
    late: int = 0
    on_time_rate: float | None = None  # on_time / (on_time + late)
    lead_time_avg_hours: float | None = None  # courier acceptance to delivery
    lead_time_p90_hours: int | None = None  # nearest rank over whole hours
    failed_attempts: int = 0
    returned: int = 0
    lost: int = 0
    damaged: int = 0
    cancelled: int = 0
    postage: int = 0  # VND, the courier's fee for journeys made
    agency_fees: int = 0  # VND, lệ phí due on results delivered
    cod_collected: int = 0  # VND, what the couriers say they collected on delivery


def _ratio(part: int, whole: int | None) -> float | None:
    return round(part / whole, 4) if whole else None


def p90(histogram: Mapping[int, int]) -> int | None:
    """The nearest-rank 90th percentile of values given as value -> how many."""
    n = sum(histogram.values())
    if n == 0:
        return None
    rank, seen = math.ceil(0.9 * n), 0
    for value in sorted(histogram):
        seen += histogram[value]
        if seen >= rank:
            return value
    raise AssertionError("unreachable")


def figures(
    counters: Iterable[Mapping[str, int]],
    *,
    courier: str | None = None,
    totals: Totals | None = None,
) -> Figures:
    """Sum counter hashes (one per centre and month) into one row, for one courier or all."""
    sums: Counter[str] = Counter()
    histogram: Counter[int] = Counter()
    for fields in counters:
        for name, amount in fields.items():
            who, kind, what = name.split("|", 2)
            if courier is not None and who != courier:
                continue
            if what.startswith("lead_h:"):
                histogram[int(what[7:])] += amount
            else:
                sums[f"{kind}|{what}"] += amount

    def metric(name: str) -> int:
        return sums[f"{Kind.PICKUP}|{name}"] + sums[f"{Kind.DELIVERY}|{name}"]

    received, returned = sums[f"{Kind.PICKUP}|delivered"], sums[f"{Kind.DELIVERY}|delivered"]
    on_time, late, lead_n = metric("on_time"), metric("late"), metric("lead_n")
    return Figures(
        dossiers_received=received,
        results_returned=returned,
        dossiers_total=totals.dossiers_received if totals else None,
        results_total=totals.results_returned if totals else None,
        share_received=_ratio(received, totals.dossiers_received) if totals else None,
        share_returned=_ratio(returned, totals.results_returned) if totals else None,
        orders_created=metric("created"),
        delivered=received + returned,
        on_time=on_time,
        late=late,
        on_time_rate=_ratio(on_time, on_time + late),
        lead_time_avg_hours=round(metric("lead_s") / lead_n / 3600, 2) if lead_n else None,
        lead_time_p90_hours=p90(histogram),
        failed_attempts=metric("failed_attempts"),
        returned=metric("returned"),
        lost=metric("lost"),
        damaged=metric("damaged"),
        cancelled=metric("cancelled"),
        postage=metric("postage"),
        agency_fees=metric("agency_fees"),
        cod_collected=metric("cod_collected"),
    )


class Report(Record, frozen=True, kw_only=True):
    period: Period
    centre: str | None = None  # the scope: one centre, or every centre of a province
    province_code: str | None = None
    totals: Figures
    by_courier: dict[str, Figures]
    by_centre: dict[str, Figures] = {}  # a province's centres
    by_month: dict[str, Figures] = {}  # a quarter's or a year's months, for the charts
    # Centre and month pairs whose totals were not reported: shares cover the others only when empty.
    totals_missing: tuple[str, ...] = ()


COURIERS = tuple(c.value for c in Courier)


def add_totals(parts: Iterable[Totals]) -> Totals:
    received = returned = 0
    for part in parts:
        received += part.dossiers_received
        returned += part.results_returned
    return Totals(dossiers_received=received, results_returned=returned)


def build_report(
    span: Period,
    centres: Sequence[str],
    counters: Mapping[tuple[str, str], Mapping[str, int]],
    totals: Mapping[tuple[str, str], Totals],
    *,
    centre: str | None = None,
    province_code: str | None = None,
) -> Report:
    """The report of a scope (one centre, or a province's `centres`) from the counters and reported
    totals, both keyed (centre, month).

    Shares are given only when every centre and month of the scope reported its totals (a share over
    part of the scope would mislead); `totals_missing` lists the gaps.
    """
    centres = sorted(centres)
    missing = tuple(f"{c} {m}" for c in centres for m in span.months if (c, m) not in totals)

    def known(pairs: list[tuple[str, str]]) -> Totals | None:
        if any(pair not in totals for pair in pairs):
            return None
        return add_totals(totals[pair] for pair in pairs)

    def row(pairs: list[tuple[str, str]], courier: str | None = None) -> Figures:
        return figures((counters[p] for p in pairs if p in counters), courier=courier, totals=known(pairs))

    every = [(c, m) for c in centres for m in span.months]
    return Report(
        period=span,
        centre=centre,
        province_code=province_code,
        totals=row(every),
        by_courier={courier: row(every, courier) for courier in COURIERS},
        by_centre={c: row([(c, m) for m in span.months]) for c in centres} if centre is None else {},
        by_month={m: row([(c, m) for c in centres]) for m in span.months} if span.kind != "month" else {},
        totals_missing=missing,
    )


# Column titles, Vietnamese first: the people who read these reports are provincial officials.
LABELS: dict[str, tuple[str, str]] = {
    "dossiers_received": ("Hồ sơ tiếp nhận qua bưu chính", "Dossiers received by post"),
    "results_returned": ("Kết quả trả qua bưu chính", "Results returned by post"),
    "dossiers_total": ("Tổng số hồ sơ tiếp nhận", "All dossiers received"),
    "results_total": ("Tổng số kết quả đã trả", "All results returned"),
    "share_received": ("Tỷ lệ hồ sơ qua bưu chính", "Share of dossiers by post"),
    "share_returned": ("Tỷ lệ kết quả qua bưu chính", "Share of results by post"),
    "orders_created": ("Đơn đã tạo", "Orders created"),
    "delivered": ("Đã phát thành công", "Delivered"),
    "on_time": ("Đúng hạn", "On time"),
    "late": ("Trễ hạn", "Late"),
    "on_time_rate": ("Tỷ lệ đúng hạn", "On-time rate"),
    "lead_time_avg_hours": ("Thời gian trung bình (giờ)", "Average lead time (hours)"),
    "lead_time_p90_hours": ("Thời gian P90 (giờ)", "P90 lead time (hours)"),
    "failed_attempts": ("Lần phát không thành công", "Failed attempts"),
    "returned": ("Chuyển hoàn", "Returned"),
    "lost": ("Thất lạc", "Lost"),
    "damaged": ("Hư hỏng", "Damaged"),
    "cancelled": ("Đã hủy", "Cancelled"),
    "postage": ("Cước bưu chính (đồng)", "Postage (VND)"),
    "agency_fees": ("Phí, lệ phí thu hộ (đồng)", "Agency fees (VND)"),
    "cod_collected": ("Tiền thu hộ đã thu (đồng)", "COD collected (VND)"),
}
COURIER_NAMES: dict[str, str] = {
    "vnpost": "Bưu điện Việt Nam (VNPost)",
    "viettelpost": "Viettel Post",
    "ghn": "GHN",
    "ghtk": "GHTK",
}
METRICS = tuple(Figures.__struct_fields__)
