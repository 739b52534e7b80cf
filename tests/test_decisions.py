"""Clerk decisions: cancel, redeliver and return, checked against the lifecycle and forwarded to GHN."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from litestar.testing import TestClient
from pytest_httpx import HTTPXMock

from contracts.calendar import VIETNAM_TZ
from contracts.events import Event
from contracts.statuses import Status
from tests.conftest import fixture, order_body
from workers.context import Context
from workers.dispatch import dispatch_order

Client = TestClient  # type: ignore[type-arg]
GHN = "http://127.0.0.1:18999/ghn/shiip/public-api/v2"


def _booked(api: Client, httpx_mock: HTTPXMock) -> str:
    order_id = str(api.post("/v1/orders", json=order_body()).json()["id"])
    httpx_mock.add_response(url=f"{GHN}/shipping-order/create", content=fixture("ghn", "create_ok.json"))
    assert dispatch_order(order_id) == "booked"
    return order_id


def _move(ctx: Context, order_id: str, status: Status) -> None:
    now = datetime.now(UTC)
    event = Event(key=f"t|{status}", status=status, courier="ghn", raw_status=status.value, event_time=now,
                  received_at=now)  # fmt: skip
    ctx.store.update_order(order_id, now=now, events=[event])


def _switch_ok(httpx_mock: HTTPXMock, action: str, result: bool = True, message: str = "OK") -> None:
    httpx_mock.add_response(
        url=f"{GHN}/switch-status/{action}",
        match_json={"order_codes": ["G8ADKBYD"]},
        match_headers={"Token": "sandbox-ghn-token"},
        json={
            "code": 200,
            "message": "Success",
            "data": [{"order_code": "G8ADKBYD", "result": result, "message": message}],
        },
    )


def test_cancel_before_booking_needs_no_courier(api: Client, ctx: Context) -> None:
    order_id = api.post("/v1/orders", json=order_body()).json()["id"]
    response = api.post(f"/v1/orders/{order_id}/cancel")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    assert dispatch_order(order_id) == "nothing to do"  # the queued dispatch finds it cancelled
    decisions = api.get(f"/v1/orders/{order_id}/events").json()["decisions"]
    assert [(d["decision"], d["outcome"]) for d in decisions] == [("cancel", "done")]


def test_cancel_while_the_order_is_being_dispatched_is_409(api: Client, ctx: Context) -> None:
    order_id = api.post("/v1/orders", json=order_body()).json()["id"]
    ctx.store.client.set(f"dd:lock:dispatch:{order_id}", "worker")
    assert api.post(f"/v1/orders/{order_id}/cancel").status_code == 409


def test_cancel_after_booking_is_forwarded_to_ghn(api: Client, ctx: Context, httpx_mock: HTTPXMock) -> None:
    order_id = _booked(api, httpx_mock)
    _switch_ok(httpx_mock, "cancel")
    response = api.post(f"/v1/orders/{order_id}/cancel")
    assert response.status_code == 200
    # The status moves when GHN's own `cancel` callback arrives, not on our say-so.
    assert response.json()["status"] == "booked"


def test_ghn_refusing_a_cancel_is_409_with_its_words(api: Client, ctx: Context, httpx_mock: HTTPXMock) -> None:
    order_id = _booked(api, httpx_mock)
    _switch_ok(httpx_mock, "cancel", result=False, message="Đơn hàng đã lấy, không thể hủy")
    response = api.post(f"/v1/orders/{order_id}/cancel")
    assert response.status_code == 409
    assert "không thể hủy" in response.json()["detail"]
    decisions = api.get(f"/v1/orders/{order_id}/events").json()["decisions"]
    assert decisions[-1]["outcome"] == "refused"


@pytest.mark.parametrize("status", [Status.PICKED_UP, Status.DELIVERED, Status.IN_TRANSIT])
def test_cancel_after_pickup_is_refused_by_the_lifecycle(
    api: Client, ctx: Context, httpx_mock: HTTPXMock, status: Status
) -> None:
    order_id = _booked(api, httpx_mock)
    _move(ctx, order_id, status)
    response = api.post(f"/v1/orders/{order_id}/cancel")
    assert response.status_code == 409 and status.value in response.json()["detail"]


@pytest.mark.parametrize(("decision", "action"), [("redeliver", "storing"), ("return", "return")])
def test_after_a_failed_delivery_the_clerk_decides(
    api: Client, ctx: Context, httpx_mock: HTTPXMock, decision: str, action: str
) -> None:
    order_id = _booked(api, httpx_mock)
    assert api.post(f"/v1/orders/{order_id}/{decision}").status_code == 409  # nothing failed yet
    _move(ctx, order_id, Status.DELIVERY_FAILED)
    _switch_ok(httpx_mock, action)
    assert api.post(f"/v1/orders/{order_id}/{decision}").status_code == 200


def test_courier_down_is_503_with_retry_after(api: Client, ctx: Context, httpx_mock: HTTPXMock) -> None:
    order_id = _booked(api, httpx_mock)
    httpx_mock.add_exception(httpx.ConnectError("down"), url=f"{GHN}/switch-status/cancel")
    response = api.post(f"/v1/orders/{order_id}/cancel")
    assert response.status_code == 503 and response.headers["retry-after"] == "30"


def test_decisions_on_another_centres_order_are_404(api: Client) -> None:
    order_id = api.post("/v1/orders", json=order_body()).json()["id"]
    other = api.post(f"/v1/orders/{order_id}/cancel", headers={"Authorization": "Bearer test-key-other"})
    assert other.status_code == 404


def test_cancel_after_a_timed_out_booking_finds_and_cancels_it_at_ghn(
    api: Client, ctx: Context, httpx_mock: HTTPXMock
) -> None:
    from workers.couriers import CourierUnavailable

    order_id = api.post("/v1/orders", json=order_body()).json()["id"]
    httpx_mock.add_exception(httpx.ReadTimeout("booked, but the answer was lost"), url=f"{GHN}/shipping-order/create")
    with pytest.raises(CourierUnavailable):
        dispatch_order(order_id)
    httpx_mock.add_response(
        url=f"{GHN}/shipping-order/detail-by-client-code",
        match_json={"client_order_code": order_id},
        content=fixture("ghn", "detail_ok.json"),
    )
    _switch_ok(httpx_mock, "cancel")
    assert api.post(f"/v1/orders/{order_id}/cancel").status_code == 200
    assert api.get(f"/v1/orders/{order_id}").json()["tracking_code"] == "G8ADKBYD"


def test_cancel_after_a_timed_out_booking_is_503_while_ghn_cannot_say(
    api: Client, ctx: Context, httpx_mock: HTTPXMock
) -> None:
    from workers.couriers import CourierUnavailable

    order_id = api.post("/v1/orders", json=order_body()).json()["id"]
    httpx_mock.add_exception(httpx.ReadTimeout("lost"), url=f"{GHN}/shipping-order/create")
    with pytest.raises(CourierUnavailable):
        dispatch_order(order_id)
    httpx_mock.add_exception(httpx.ConnectError("down"), url=f"{GHN}/shipping-order/detail-by-client-code")
    assert api.post(f"/v1/orders/{order_id}/cancel").status_code == 503
    assert api.get(f"/v1/orders/{order_id}").json()["status"] == "accepted"  # not cancelled blindly


def test_reroute_of_a_booked_order_waits_for_the_first_couriers_cancel(
    api: Client, ctx: Context, httpx_mock: HTTPXMock
) -> None:
    from workers.decisions import release_replacements
    from workers.reports import report

    order_id = _booked(api, httpx_mock)
    _switch_ok(httpx_mock, "cancel")
    moved = api.post(f"/v1/orders/{order_id}/reroute", json={"courier": "vnpost"})
    assert moved.status_code == 201, moved.text
    fresh = moved.json()
    assert fresh["on_hold"] is True and fresh["courier"] == "vnpost"  # not dispatched while GHN may still come
    assert dispatch_order(fresh["id"]) != "booked"
    again = api.post(f"/v1/orders/{order_id}/reroute", json={"courier": "ghtk"})
    assert again.status_code == 409 and "already re-routed" in again.json()["detail"]
    now = datetime.now(UTC)
    assert release_replacements(ctx, now) == 0  # GHN has not confirmed yet
    _move(ctx, order_id, Status.CANCELLED)  # GHN's cancel callback
    assert release_replacements(ctx, now) == 1
    released = api.get(f"/v1/orders/{fresh['id']}").json()
    assert released["on_hold"] is False and ctx.store.client.zscore("dd:due", fresh["id"]) is not None
    # One leg in the reports: created once, not cancelled.
    from contracts.reports import period

    month = now.astimezone(VIETNAM_TZ).strftime("%Y-%m")
    totals = report(ctx.store, period("month", month), ["DEMO"], centre="DEMO").totals
    assert totals.orders_created == 1 and totals.cancelled == 0


def test_reroute_is_undone_when_the_first_courier_picks_up_anyway(
    api: Client, ctx: Context, httpx_mock: HTTPXMock
) -> None:
    from workers.decisions import release_replacements

    order_id = _booked(api, httpx_mock)
    _switch_ok(httpx_mock, "cancel")
    fresh = api.post(f"/v1/orders/{order_id}/reroute", json={"courier": "vnpost"}).json()
    _move(ctx, order_id, Status.PICKED_UP)  # the cancel came too late
    release_replacements(ctx, datetime.now(UTC))
    assert api.get(f"/v1/orders/{fresh['id']}").json()["status"] == "cancelled"
    assert ctx.store.client.zcard("dd:replacements") == 0
