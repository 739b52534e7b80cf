"""Polling orders whose callbacks went quiet: the courier's history fills the gaps, deduped with push."""

from __future__ import annotations

import msgspec
from litestar.testing import TestClient
from pytest_httpx import HTTPXMock

from tests.conftest import SECRET, fixture, order_body
from workers import keys
from workers.context import Context
from workers.dispatch import dispatch_order
from workers.jobs import ingest_callbacks, poll_order, poll_quiet
from workers.queues import queue

Client = TestClient  # type: ignore[type-arg]
GHN = "http://127.0.0.1:18999/ghn/shiip/public-api/v2/shipping-order"


def _booked(api: Client, httpx_mock: HTTPXMock) -> str:
    order_id = str(api.post("/v1/orders", json=order_body()).json()["id"])
    httpx_mock.add_response(url=f"{GHN}/create", content=fixture("ghn", "create_ok.json"))
    assert dispatch_order(order_id) == "booked"
    return order_id


def _history(httpx_mock: HTTPXMock, order_id: str, log: list[dict[str, str]]) -> None:
    body = msgspec.json.decode(fixture("ghn", "detail_ok.json"))
    body["data"].update(client_order_code=order_id, log=log, status=log[-1]["status"] if log else "ready_to_pick")
    httpx_mock.add_response(url=f"{GHN}/detail", match_json={"order_code": "G8ADKBYD"}, json=body)


def test_polling_fills_in_what_the_callbacks_never_said(api: Client, ctx: Context, httpx_mock: HTTPXMock) -> None:
    order_id = _booked(api, httpx_mock)
    log = [
        {"status": "picked", "updated_date": "2099-11-21T03:00:00Z"},
        {"status": "delivered", "updated_date": "2099-11-22T08:30:00Z"},
    ]
    _history(httpx_mock, order_id, log)
    assert poll_order(order_id) == 2
    events = api.get(f"/v1/orders/{order_id}/events").json()
    assert events["status"] == "delivered"
    assert [(e["raw_status"], e["source"], e["applied"]) for e in events["events"]] == [
        ("booked", "api", True),
        ("picked", "poll", True),
        ("delivered", "poll", True),
    ]
    assert ctx.store.client.zscore(keys.active("ghn"), order_id) is None  # finished: no longer polled


def test_push_and_poll_of_the_same_event_leave_one_event(api: Client, ctx: Context, httpx_mock: HTTPXMock) -> None:
    order_id = _booked(api, httpx_mock)
    pushed = msgspec.json.decode(fixture("ghn", "callback_naive_time.json"))
    pushed.update(ClientOrderCode=order_id, OrderCode="G8ADKBYD", Time="2099-11-21T10:30:00")  # Vietnam time
    api.post("/v1/callbacks/ghn", params={"token": SECRET}, content=msgspec.json.encode(pushed))
    ingest_callbacks("ghn")
    # GHN's history gives the same instant in UTC.
    _history(httpx_mock, order_id, [{"status": "picked", "updated_date": "2099-11-21T03:30:00Z"}])
    assert poll_order(order_id) == 0
    picked = [e for e in api.get(f"/v1/orders/{order_id}/events").json()["events"] if e["raw_status"] == "picked"]
    assert [e["source"] for e in picked] == ["push"]


def test_only_orders_quiet_past_their_status_threshold_are_polled(
    api: Client, ctx: Context, httpx_mock: HTTPXMock
) -> None:
    quiet, recent = _booked(api, httpx_mock), None
    ctx.store.client.zadd(keys.active("ghn"), {quiet: 1000.0})
    httpx_mock.add_response(url=f"{GHN}/create", content=fixture("ghn", "create_ok.json"))
    recent = str(api.post("/v1/orders", json=order_body()).json()["id"])
    dispatch_order(recent)
    ctx.store.client.zadd(keys.active("ghn"), {recent: 1000.0 + 7000})
    # Booked orders may be quiet for twice the base (2 x 3600 s) before we ask.
    assert poll_quiet("ghn", now=1000.0 + 7300, base_seconds=3600) == 1
    assert [j.id for j in queue("sweep", ctx.store.client).get_jobs()] == [f"poll-{quiet}"]
    assert poll_quiet("ghn", now=1000.0 + 7301, base_seconds=3600) == 0  # not again until quiet again


def test_a_finished_order_gets_one_last_poll_for_the_steps_it_never_heard(
    api: Client, ctx: Context, httpx_mock: HTTPXMock
) -> None:
    order_id = _booked(api, httpx_mock)
    pushed = msgspec.json.decode(fixture("ghn", "callback_delivered.json"))
    pushed.update(ClientOrderCode=order_id, OrderCode="G8ADKBYD", Time="2099-11-22T15:30:00+07:00")
    api.post("/v1/callbacks/ghn", params={"token": SECRET}, content=msgspec.json.encode(pushed))
    ingest_callbacks("ghn")  # delivered, but "picked" was never posted
    assert ctx.store.client.zscore(keys.closing("ghn"), order_id) is not None
    assert poll_quiet("ghn", now=10**10, base_seconds=1) == 1
    [job] = queue("sweep", ctx.store.client).get_jobs()
    assert list(job.args) == [order_id, True]
    log = [
        {"status": "picked", "updated_date": "2099-11-21T03:00:00Z"},
        {"status": "delivered", "updated_date": "2099-11-22T08:30:00Z"},  # the push's instant, in UTC
    ]
    _history(httpx_mock, order_id, log)
    assert poll_order(order_id, closing=True) == 1
    moved = [e["status"] for e in api.get(f"/v1/orders/{order_id}/events").json()["events"] if e["applied"]]
    assert moved == ["booked", "picked_up", "delivered"]


def _push(api: Client, order_id: str, name: str, time: str) -> None:
    pushed = msgspec.json.decode(fixture("ghn", name))
    pushed.update(ClientOrderCode=order_id, OrderCode="G8ADKBYD", Time=time)
    assert (
        api.post("/v1/callbacks/ghn", params={"token": SECRET}, content=msgspec.json.encode(pushed)).status_code == 200
    )
    ingest_callbacks("ghn")


def test_a_push_the_couriers_tracking_does_not_show_is_a_contradiction(
    api: Client, ctx: Context, httpx_mock: HTTPXMock
) -> None:
    order_id = _booked(api, httpx_mock)
    _push(api, order_id, "callback_delivered.json", "2099-11-22T15:30:00+07:00")
    # GHN's own tracking has the parcel still out with the postman: one of the two is wrong.
    _history(httpx_mock, order_id, [{"status": "delivering", "updated_date": "2099-11-22T07:00:00Z"}])
    poll_order(order_id, closing=True)
    order = api.get(f"/v1/orders/{order_id}").json()
    assert order["status"] == "delivered"  # what was applied stays; a clerk decides
    assert "ghn's tracking says out_for_delivery ('delivering'" in order["contradiction"]
    [item] = api.get("/v1/exceptions").json()["exceptions"]
    assert item["order_id"] == order_id and item["reasons"][0].startswith("push/poll contradiction: callbacks made")
    # Once GHN's tracking catches up, the contradiction is gone.
    log = [{"status": "delivered", "updated_date": "2099-11-22T08:30:00Z"}]
    _history(httpx_mock, order_id, log)
    poll_order(order_id, closing=True)
    assert api.get(f"/v1/orders/{order_id}").json()["contradiction"] is None
    assert api.get("/v1/exceptions").json()["exceptions"] == []


def test_a_tracking_that_moved_where_callbacks_cannot_follow_is_a_contradiction(
    api: Client, ctx: Context, httpx_mock: HTTPXMock
) -> None:
    order_id = _booked(api, httpx_mock)
    _push(api, order_id, "callback_delivered.json", "2099-11-22T15:30:00+07:00")
    log = [
        {"status": "delivered", "updated_date": "2099-11-22T08:30:00Z"},
        {"status": "returned", "updated_date": "2099-11-25T02:00:00Z"},  # after the end: not applied
    ]
    _history(httpx_mock, order_id, log)
    poll_order(order_id, closing=True)
    order = api.get(f"/v1/orders/{order_id}").json()
    assert order["status"] == "delivered" and "tracking says returned" in order["contradiction"]


def test_push_and_poll_that_agree_raise_nothing(api: Client, ctx: Context, httpx_mock: HTTPXMock) -> None:
    order_id = _booked(api, httpx_mock)
    _push(api, order_id, "callback_delivery_fail.json", "2099-11-22T11:00:00+07:00")  # with its reason code
    # The lookup gives the same step without the reason: the same fact, not a second attempt.
    _history(httpx_mock, order_id, [{"status": "delivery_fail", "updated_date": "2099-11-22T04:00:00Z"}])
    poll_order(order_id)
    order = api.get(f"/v1/orders/{order_id}").json()
    assert order["contradiction"] is None and order["deadlines"]["failed_attempts"] == 1
    failed = [
        e for e in api.get(f"/v1/orders/{order_id}/events").json()["events"] if e["raw_status"] == "delivery_fail"
    ]
    assert [(e["source"], e["reason_code"]) for e in failed] == [("push", "GHN-DFC1A4")]
