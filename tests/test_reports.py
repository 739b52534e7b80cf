"""Reports: the counters kept with every change equal a recomputation from the stored events, in any
arrival order; shares, scopes, formats and the rebuild."""

from __future__ import annotations

import csv
import io
import math
import random
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar.testing import TestClient
from openpyxl import load_workbook

from contracts.calendar import VIETNAM_TZ, WorkingCalendar, due_date, route_for
from contracts.config import dev_config
from contracts.events import Event, reconcile
from contracts.intake import prepare
from contracts.money import Charge
from contracts.orders import Order, OrderCreate
from contracts.reports import COURIERS, ENDINGS, FAILED, METRICS, counts_alike
from contracts.reports import counts as reports_counts
from contracts.settings import Settings
from contracts.statuses import Status
from tests.conftest import order_body
from workers import reports
from workers.context import Context
from workers.store import Principal

Client = TestClient  # type: ignore[type-arg]
S = Status
CENTRE = dev_config(Settings()).centres["DEMO"]
ADMIN_KEY = "test-key-admin"
CUSTODY = {
    S.PICKED_UP, S.IN_TRANSIT, S.OUT_FOR_DELIVERY, S.DELIVERY_FAILED, S.AWAITING_INSTRUCTION,
    S.HELD_FOR_COLLECTION, S.DELIVERED, S.RETURNING, S.RETURNED,
}  # fmt: skip
JOURNEYS: dict[str, list[tuple[Status, float]]] = {  # status, hours after the booking
    "delivered": [(S.BOOKED, 0), (S.PICKED_UP, 2), (S.IN_TRANSIT, 9), (S.OUT_FOR_DELIVERY, 30), (S.DELIVERED, 33)],
    "second_try": [
        (S.BOOKED, 0), (S.PICKED_UP, 5), (S.OUT_FOR_DELIVERY, 26), (S.DELIVERY_FAILED, 28),
        (S.OUT_FOR_DELIVERY, 75), (S.DELIVERED, 78),
    ],
    "returned": [
        (S.BOOKED, 0), (S.PICKED_UP, 3), (S.DELIVERY_FAILED, 30), (S.DELIVERY_FAILED, 80),
        (S.RETURNING, 100), (S.RETURNED, 140),
    ],
    "pickup_failed": [(S.BOOKED, 0), (S.PICKUP_FAILED, 4), (S.PICKED_UP, 28), (S.DELIVERED, 60)],
    "lost": [(S.BOOKED, 0), (S.PICKED_UP, 2), (S.IN_TRANSIT, 10), (S.LOST, 200)],
    "found_again": [(S.BOOKED, 0), (S.PICKED_UP, 2), (S.LOST, 150), (S.DELIVERED, 400)],
    "damaged": [(S.BOOKED, 0), (S.PICKED_UP, 2), (S.DAMAGED, 20)],
    "cancelled": [(S.BOOKED, 0), (S.CANCELLED, 1)],
    "travelling": [(S.BOOKED, 0), (S.PICKED_UP, 6), (S.IN_TRANSIT, 12)],
}  # fmt: skip


def _order(n: int, kind: str, courier: str, created: datetime, fee: int) -> Order:
    fee = fee if kind == "delivery" else 0  # couriers collect at delivery only
    body = order_body(kind=kind, courier=courier, dossier_code=f"D-{n}", payment={"agency_fee": fee})
    [order] = prepare(msgspec.convert(body, OrderCreate), centre=CENTRE, new_id=lambda _p: f"o01R{n:05d}", now=created)
    return order


def _events(order: Order, journey: str, booked: datetime) -> list[Event]:
    found = []
    for step, (status, hours) in enumerate(JOURNEYS[journey]):
        when = (booked + timedelta(hours=hours)).astimezone(VIETNAM_TZ)
        key = f"{order.courier}|T{order.id}|{status}|{step}"
        found.append(
            Event(key=key, status=status, courier=order.courier, raw_status=status.value, event_time=when,
                  received_at=when, tracking_code=f"T{order.id}")
        )  # fmt: skip
    return found


def _charges(order: Order, booked: datetime, rng: random.Random) -> list[Charge]:
    quoted = rng.choice([16_500, 22_000, 30_000])
    found = [Charge(field="fee", amount=quoted, at=booked, source="booking")]
    if rng.random() < 0.5:  # the courier re-weighs it and changes the fee
        found.append(Charge(field="fee", amount=quoted + 5_500, at=booked + timedelta(hours=7), source="update_fee"))
    if order.kind == "delivery":
        asked = order.payment.agency_fee
        collected = asked if rng.random() < 0.8 else asked + 10_000
        found.append(Charge(field="cod", amount=collected, at=booked + timedelta(minutes=5), source="create"))
    return found


def _seed(ctx: Context, rng: random.Random, n: int) -> list[str]:
    """`n` orders over Oct-Dec 2026 with varied journeys, applied in shuffled, chunked, repeated batches."""
    start = datetime(2026, 10, 1, 1, 0, tzinfo=UTC)
    work: list[tuple[str, list[Event], list[Charge]]] = []
    ids = []
    for i in range(n):
        created = start + timedelta(hours=rng.uniform(0, 24 * 88))
        order = _order(i, rng.choice(["pickup", "delivery"]), rng.choice(COURIERS), created, rng.choice([0, 50_000]))
        ctx.store.create_orders([order], due_at=0, enqueue=lambda _pipe, _id: None)
        booked = created + timedelta(minutes=rng.uniform(1, 600))
        events = _events(order, rng.choice(list(JOURNEYS)), booked)
        rng.shuffle(events)
        charges = _charges(order, booked, rng)
        cuts = sorted(rng.sample(range(1, len(events)), k=min(2, len(events) - 1)))
        chunks = [events[a:b] for a, b in zip([0, *cuts], [*cuts, len(events)], strict=True)]
        for number, chunk in enumerate(chunks):
            work.append((order.id, chunk, charges if number == len(chunks) - 1 else []))
        work.append((order.id, rng.choice(chunks), []))  # a courier's resend
        ids.append(order.id)
    rng.shuffle(work)
    for order_id, chunk, charges in work:
        ctx.store.update_order(order_id, now=datetime.now(UTC), events=chunk, charges=charges, durable=False)
    ctx.store.make_durable()
    return ids


def _month(moment: datetime) -> str:
    return moment.astimezone(VIETNAM_TZ).strftime("%Y-%m")


def _recount(ctx: Context, ids: list[str], months: set[str]) -> dict[str | None, dict[str, Any]]:
    """The report's figures per courier (and None: all) written out from each order's stored events,
    without the counters or `contracts.reports`."""
    calendar = WorkingCalendar()
    rows: dict[str | None, Counter[str]] = defaultdict(Counter)
    hours: dict[str | None, list[int]] = defaultdict(list)
    for order_id in ids:
        order = ctx.store.get_order(order_id)
        assert order is not None
        timeline = reconcile(S.ACCEPTED, ctx.store.events(order_id))
        applied = [entry.event for entry in timeline.entries if entry.applied]
        facts: list[tuple[datetime, str, int]] = [(order.created_at, "orders_created", 1)]
        facts += [
            (e.event_time, "failed_attempts", 1) for e in applied if e.status in (S.PICKUP_FAILED, S.DELIVERY_FAILED)
        ]
        end = applied[-1] if applied else None
        if end is not None and timeline.status in (S.DELIVERED, S.RETURNED, S.LOST, S.DAMAGED, S.CANCELLED):
            name = {S.DELIVERED: "delivered"}.get(timeline.status, timeline.status.value)
            facts.append((end.event_time, name, 1))
            fees = sorted((c for c in order.charges if c.field == "fee"), key=lambda c: c.at)
            if timeline.status is not S.CANCELLED and fees:
                facts.append((end.event_time, "postage", fees[-1].amount or 0))
            if timeline.status is S.DELIVERED:
                facts.append((end.event_time, "dossiers_received" if order.kind == "pickup" else "results_returned", 1))
                if order.kind == "delivery":
                    cods = sorted((c for c in order.charges if c.field == "cod"), key=lambda c: c.at)
                    facts.append((end.event_time, "agency_fees", order.payment.agency_fee))
                    facts.append((end.event_time, "cod_collected", cods[-1].amount or 0 if cods else 0))
                taken = next(e.event_time for e in applied if e.status in CUSTODY)
                route = route_for(CENTRE.province_code, order.address.province_code,
                                  same_ward=CENTRE.ward_code == order.address.ward_code)  # fmt: skip
                due = due_date(taken, route, with_appointment=False, calendar=calendar)
                late = end.event_time.astimezone(VIETNAM_TZ).date() > due
                facts.append((end.event_time, "late" if late else "on_time", 1))
                lead = int((end.event_time - taken).total_seconds())
                facts.append((end.event_time, "lead_seconds", lead))
                if _month(end.event_time) in months:
                    for who in (None, order.courier.value):
                        hours[who].append(lead // 3600)
        for moment, name, amount in facts:
            if _month(moment) in months:
                for who in (None, order.courier.value):
                    rows[who][name] += amount
    found: dict[str | None, dict[str, Any]] = {}
    for who in (None, *COURIERS):
        row, leads = rows[who], sorted(hours[who])
        graded = row["on_time"] + row["late"]
        found[who] = {
            "dossiers_received": row["dossiers_received"],
            "results_returned": row["results_returned"],
            "orders_created": row["orders_created"],
            "delivered": row["delivered"],
            "on_time": row["on_time"],
            "late": row["late"],
            "on_time_rate": round(row["on_time"] / graded, 4) if graded else None,
            "lead_time_avg_hours": round(row["lead_seconds"] / len(leads) / 3600, 2) if leads else None,
            "lead_time_p90_hours": leads[math.ceil(0.9 * len(leads)) - 1] if leads else None,
            **{name: row[name] for name in ("failed_attempts", "returned", "lost", "damaged", "cancelled")},
            **{name: row[name] for name in ("postage", "agency_fees", "cod_collected")},
        }
    return found


SHARES = ("dossiers_total", "results_total", "share_received", "share_returned")


def _without_shares(figures: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in figures.items() if k not in SHARES}


@pytest.mark.parametrize(
    ("path", "label", "months"),
    [
        ("monthly?month=2026-10", "2026-10", {"2026-10"}),
        ("monthly?month=2026-11", "2026-11", {"2026-11"}),
        ("monthly?month=2026-12", "2026-12", {"2026-12"}),
        ("quarterly?quarter=2026-Q4", "2026-Q4", {"2026-10", "2026-11", "2026-12"}),
        ("yearly?year=2026", "2026", {f"2026-{m:02d}" for m in range(1, 13)}),
    ],
)
def test_report_equals_a_recomputation_from_the_stored_events(
    api: Client, ctx: Context, path: str, label: str, months: set[str]
) -> None:
    ids = _seed(ctx, random.Random(f"reports-{label}"), 120)
    expected = _recount(ctx, ids, months)
    report = api.get(f"/v1/reports/{path}").json()
    assert report["period"]["label"] == label and report["centre"] == "DEMO"
    assert _without_shares(report["totals"]) == expected[None]
    for courier in COURIERS:
        assert _without_shares(report["by_courier"][courier]) == expected[courier], courier
    assert expected[None]["delivered"] > 0 or label == "2026-12"  # the seed reaches the month it checks
    # Counted again from scratch, the counters come out the same.
    before = _counters(ctx)
    ctx.store.client.delete(*before)
    assert reports.rebuild(ctx.store) == len(ids)
    assert _counters(ctx) == before


def _counters(ctx: Context) -> dict[bytes, dict[bytes, bytes]]:
    """Every counter that is not zero (a count that went back to zero stays as a field)."""
    found = {k: ctx.store.client.hgetall(k) for k in sorted(ctx.store.client.scan_iter(match="dd:report:*"))}
    return {k: {f: v for f, v in fields.items() if v != b"0"} for k, fields in found.items()}


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(data=st.data())
def test_counters_do_not_depend_on_arrival_order(ctx: Context, data: st.DataObject) -> None:
    created = datetime(2026, 10, 31, 10, 0, tzinfo=UTC)
    order = _order(1, "delivery", "ghn", created, 50_000)
    journey = data.draw(st.sampled_from(["second_try", "found_again", "returned", "pickup_failed"]))
    events = _events(order, journey, created)
    charges = _charges(order, created, random.Random(journey))

    def apply(batches: list[list[Event]]) -> dict[bytes, dict[bytes, bytes]]:
        ctx.store.client.flushdb()
        ctx.store.create_orders([order], due_at=0, enqueue=lambda _pipe, _id: None, durable=False)
        for number, batch in enumerate(batches):
            ctx.store.update_order(
                order.id, now=created, events=batch, charges=charges if number == 1 else [], durable=False
            )
        return _counters(ctx)

    in_order = apply([[e] for e in events])
    shuffled = data.draw(st.permutations(events))
    cut = data.draw(st.integers(min_value=1, max_value=len(events) - 1))
    assert apply([shuffled[:cut], shuffled[cut:], shuffled[: cut // 2 + 1]]) == in_order


def test_shares_need_every_centre_and_month_to_report_totals(api: Client, ctx: Context) -> None:
    _seed(ctx, random.Random("shares"), 60)
    report = api.get("/v1/reports/monthly?month=2026-11").json()
    assert report["totals"]["share_received"] is None and report["totals_missing"] == ["DEMO 2026-11"]
    answer = api.put("/v1/reports/totals/2026-11", json={"dossiers_received": 400, "results_returned": 300})
    assert answer.status_code == 200, answer.text
    report = api.get("/v1/reports/monthly?month=2026-11").json()
    totals, vnpost = report["totals"], report["by_courier"]["vnpost"]
    assert report["totals_missing"] == [] and totals["dossiers_total"] == 400
    assert totals["share_received"] == round(totals["dossiers_received"] / 400, 4)
    assert vnpost["share_returned"] == round(vnpost["results_returned"] / 300, 4)
    quarter = api.get("/v1/reports/quarterly?quarter=2026-Q4").json()
    assert quarter["totals"]["share_received"] is None and quarter["totals_missing"] == ["DEMO 2026-10", "DEMO 2026-12"]
    assert quarter["by_month"]["2026-11"]["share_received"] == totals["share_received"]


def test_a_centre_sees_its_own_reports_and_an_admin_names_the_scope(api: Client, ctx: Context) -> None:
    _seed(ctx, random.Random("scope"), 30)
    mine = api.get("/v1/reports/monthly?month=2026-11").json()
    other = api.get("/v1/reports/monthly?month=2026-11", headers={"Authorization": "Bearer test-key-other"}).json()
    assert mine["totals"]["orders_created"] > 0 and other["totals"]["orders_created"] == 0
    refused = api.get("/v1/reports/monthly?month=2026-11&province=01")
    assert refused.status_code == 403 and refused.headers["content-type"].startswith("application/problem+json")
    ctx.store.save_api_key(ADMIN_KEY, Principal(centre="-", scopes=("admin",)))
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    unscoped = api.get("/v1/reports/monthly?month=2026-11", headers=admin)
    assert unscoped.status_code == 422 and unscoped.json()["invalid_params"][0]["name"] == "centre"
    province = api.get("/v1/reports/monthly?month=2026-11&province=01", headers=admin).json()
    assert province["province_code"] == "01" and province["by_centre"]["DEMO"] == mine["totals"]
    assert province["totals"] == mine["totals"]
    assert api.get("/v1/reports/monthly?month=2026-11&province=79", headers=admin).status_code == 404
    bad = api.get("/v1/reports/monthly?month=2026-13")
    assert bad.status_code == 400 or bad.status_code == 422
    assert "month" in bad.text


def test_csv_xlsx_and_printable_html(api: Client, ctx: Context) -> None:
    _seed(ctx, random.Random("formats"), 40)
    report = api.get("/v1/reports/quarterly?quarter=2026-Q4").json()
    answer = api.get("/v1/reports/quarterly?quarter=2026-Q4&format=csv")
    assert answer.headers["content-type"].startswith("text/csv")
    assert 'filename="report-DEMO-2026-Q4.csv"' in answer.headers["content-disposition"]
    lines = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert lines[0] == ["Theo đơn vị vận chuyển"] and lines[1][1] == "Hồ sơ tiếp nhận qua bưu chính"
    total_row = next(line for line in lines if line[:1] == ["Tổng"])
    assert int(total_row[1 + METRICS.index("results_returned")]) == report["totals"]["results_returned"]

    book = load_workbook(io.BytesIO(api.get("/v1/reports/quarterly?quarter=2026-Q4&format=xlsx&lang=en").content))
    assert book.sheetnames == ["By courier", "By month"]
    sheet = book["By month"]
    assert sheet.cell(1, 2).value == "Dossiers received by post"
    november = next(row for row in sheet.iter_rows(values_only=True) if row[0] == "2026-11")
    assert november[1 + METRICS.index("postage")] == report["by_month"]["2026-11"]["postage"]
    assert book["By courier"]._charts  # the bar chart travels with the numbers

    page = api.get("/v1/reports/quarterly?quarter=2026-Q4&format=html")
    assert page.headers["content-type"].startswith("text/html")
    assert "Báo cáo quý 2026-Q4" in page.text and "<svg" in page.text and "<script" not in page.text


@given(st.lists(st.sampled_from([*Status, None]), max_size=6), st.integers(0, 6), st.sampled_from(["ghn", "ghtk"]))
def test_counts_alike_only_when_counts_are_the_same_whatever_the_timelines(
    statuses: list[Status | None], known: int, courier: str
) -> None:
    booked = datetime(2026, 6, 1, 3, 0, tzinfo=UTC)
    order = _order(1, "delivery", "ghn", booked, 50_000)
    events = [
        Event(key=f"k{n}", status=status, courier="ghn", raw_status=str(status), event_time=booked + timedelta(hours=n),
              received_at=booked + timedelta(hours=n))
        for n, status in enumerate(statuses)
    ]  # fmt: skip
    later = msgspec.structs.replace(order, courier=courier)
    calendar = WorkingCalendar()
    before = reports_counts(order, reconcile(Status.ACCEPTED, events[:known]), CENTRE, calendar)
    after = reports_counts(later, reconcile(Status.ACCEPTED, events), CENTRE, calendar)
    if counts_alike(order, later, events):
        assert before == after
    elif courier == "ghn" and not any(s in {*ENDINGS, *FAILED} for s in statuses):
        pytest.fail("alike orders with events that end nothing nor fail were called different")
