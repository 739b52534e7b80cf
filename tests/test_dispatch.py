"""dispatch_order against GHN (mocked with pytest-httpx, strict): books once, classifies failures, looks up first."""

from __future__ import annotations

import httpx
import pytest
from litestar.testing import TestClient
from pytest_httpx import HTTPXMock
from rq import SimpleWorker
from rq.serializers import JSONSerializer

from contracts.statuses import Status
from tests.conftest import fixture, order_body
from workers.context import Context
from workers.couriers import CourierUnavailable
from workers.jobs import dispatch_order, queue

Client = TestClient  # type: ignore[type-arg]
GHN = "http://127.0.0.1:18999/ghn/shiip/public-api/v2/shipping-order"
HEADERS = {"Token": "sandbox-ghn-token", "ShopId": "885", "Content-Type": "application/json"}


def _create(api: Client) -> str:
    response = api.post("/v1/orders", json=order_body())
    assert response.status_code == 201
    return str(response.json()["id"])


def test_worker_books_the_order_with_our_reference(api: Client, ctx: Context, httpx_mock: HTTPXMock) -> None:
    order_id = _create(api)
    httpx_mock.add_response(
        url=f"{GHN}/create",
        method="POST",
        match_headers=HEADERS,
        content=fixture("ghn", "create_ok.json"),
    )
    worker = SimpleWorker([queue("dispatch", ctx.store.client)], connection=ctx.store.client, serializer=JSONSerializer)
    assert worker.work(burst=True)  # the real RQ job, enqueued in the order's own transaction
    sent = httpx_mock.get_requests()[0]
    assert httpx.Response(200, content=sent.content).json()["client_order_code"] == order_id
    order = ctx.store.get_order(order_id)
    assert order is not None
    assert (order.status, order.tracking_code, order.dispatch_attempts) == (Status.BOOKED, "G8ADKBYD", 1)
    assert api.get(f"/v1/orders/{order_id}").json()["tracking_code"] == "G8ADKBYD"


def test_rerun_of_a_booked_order_is_a_no_op(api: Client, ctx: Context, httpx_mock: HTTPXMock) -> None:
    order_id = _create(api)
    httpx_mock.add_response(url=f"{GHN}/create", content=fixture("ghn", "create_ok.json"))
    assert dispatch_order(order_id) == "booked"
    assert dispatch_order(order_id) == "nothing to do"
    assert len(httpx_mock.get_requests()) == 1


def test_ghn_refusal_needs_a_clerk(api: Client, ctx: Context, httpx_mock: HTTPXMock) -> None:
    order_id = _create(api)
    httpx_mock.add_response(url=f"{GHN}/create", content=fixture("ghn", "create_rejected.json"))
    assert dispatch_order(order_id) == "rejected"
    order = api.get(f"/v1/orders/{order_id}").json()
    assert order["status"] == "dispatch_failed"
    assert "PHONE_INVALID" in order["dispatch_error"]
    events = api.get(f"/v1/orders/{order_id}/events").json()["events"]
    assert [e["status"] for e in events] == ["dispatch_failed"]


@pytest.mark.parametrize("failure", ["timeout", 429, 502])
def test_unavailable_ghn_is_retried_not_failed(
    api: Client, ctx: Context, httpx_mock: HTTPXMock, failure: object
) -> None:
    order_id = _create(api)
    if failure == "timeout":
        httpx_mock.add_exception(httpx.ReadTimeout("slow"), url=f"{GHN}/create")
    else:
        httpx_mock.add_response(url=f"{GHN}/create", status_code=int(failure))  # type: ignore[call-overload]
    with pytest.raises(CourierUnavailable):
        dispatch_order(order_id)
    order = ctx.store.get_order(order_id)
    assert order is not None and order.status is Status.ACCEPTED and order.dispatch_attempts == 1
    assert not ctx.store.client.exists(f"dd:lock:dispatch:{order_id}")


def test_after_a_timeout_the_worker_finds_the_booking_instead_of_booking_twice(
    api: Client, ctx: Context, httpx_mock: HTTPXMock
) -> None:
    order_id = _create(api)
    httpx_mock.add_exception(httpx.ReadTimeout("GHN booked it but the answer was lost"), url=f"{GHN}/create")
    with pytest.raises(CourierUnavailable):
        dispatch_order(order_id)
    httpx_mock.add_response(
        url=f"{GHN}/detail-by-client-code",
        match_json={"client_order_code": order_id},
        content=fixture("ghn", "detail_ok.json"),
    )
    assert dispatch_order(order_id) == "booked"
    creates = [r for r in httpx_mock.get_requests() if r.url.path.endswith("/create")]
    assert len(creates) == 1
    order = ctx.store.get_order(order_id)
    assert order is not None and order.tracking_code == "G8ADKBYD" and order.dispatch_attempts == 2


def test_retry_books_when_the_lookup_finds_nothing(api: Client, ctx: Context, httpx_mock: HTTPXMock) -> None:
    order_id = _create(api)
    httpx_mock.add_response(url=f"{GHN}/create", status_code=503)
    with pytest.raises(CourierUnavailable):
        dispatch_order(order_id)
    httpx_mock.add_response(
        url=f"{GHN}/detail-by-client-code", status_code=400, content=fixture("ghn", "detail_not_found.json")
    )
    httpx_mock.add_response(url=f"{GHN}/create", content=fixture("ghn", "create_ok.json"))
    assert dispatch_order(order_id) == "booked"


def test_sweeper_requeues_an_order_whose_job_was_lost(api: Client, ctx: Context) -> None:
    from workers.jobs import sweep

    order_id = _create(api)
    dispatch = queue("dispatch", ctx.store.client)
    dispatch.empty()  # RQ lost the job
    assert sweep(now=0) == 0  # not overdue yet
    assert dispatch.count == 0
    assert sweep(now=10**10) == 1
    assert [list(j.args) for j in dispatch.get_jobs()] == [[order_id]]


def test_a_job_that_read_before_another_booked_does_not_book_again(
    api: Client, ctx: Context, httpx_mock: HTTPXMock
) -> None:
    order_id = _create(api)
    httpx_mock.add_response(url=f"{GHN}/create", content=fixture("ghn", "create_ok.json"))
    lock = f"dd:lock:dispatch:{order_id}"
    ctx.store.client.set(lock, "other-worker")
    assert dispatch_order(order_id) == "another worker is dispatching it"
    assert httpx_mock.get_requests() == []
    ctx.store.client.delete(lock)
    assert dispatch_order(order_id) == "booked"
    assert dispatch_order(order_id) == "nothing to do"  # the status is read again under the lock
    assert len(httpx_mock.get_requests()) == 1


def test_dispatch_job_id_is_the_orders(api: Client, ctx: Context) -> None:
    order_id = _create(api)
    assert [j.id for j in queue("dispatch", ctx.store.client).get_jobs()] == [f"dispatch-{order_id}"]
