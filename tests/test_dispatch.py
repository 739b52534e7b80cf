"""dispatch_order against GHN (mocked with pytest-httpx, strict): books once, classifies failures, looks up first."""

from __future__ import annotations

import httpx
import msgspec
import pytest
from litestar.testing import TestClient
from pytest_httpx import HTTPXMock
from rq import SimpleWorker
from rq.serializers import JSONSerializer

from contracts.statuses import Status
from tests.conftest import fixture, order_body
from workers import keys
from workers.context import Context
from workers.couriers import CourierUnavailable
from workers.dispatch import booking_job, dispatch_order
from workers.queues import queue

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
    dispatch.empty()  # RQ lost the admission job: the order still waits in the admission queue
    assert sweep(now=0) == 0  # not overdue yet...
    assert [j.func_name for j in dispatch.get_jobs()] == ["workers.dispatch.admit_orders"]  # ...but re-drained
    dispatch.empty()
    ctx.store.client.zpopmin(keys.ADMIT)  # an admission popped it, and its worker died before queueing the booking
    assert sweep(now=0) == 0 and dispatch.count == 0
    assert sweep(now=10**10) == 1  # overdue and no job holds it
    assert [list(j.args) for j in dispatch.get_jobs()] == [[[order_id]]]


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


def test_the_orders_own_transaction_admits_it_and_admission_queues_a_rate_limited_booking(
    api: Client, ctx: Context
) -> None:
    from workers.dispatch import admit_orders

    order_id, other = _create(api), _create(api)
    dispatch = queue("dispatch", ctx.store.client)
    assert ctx.store.client.zrange(keys.ADMIT, 0, -1) == [order_id.encode(), other.encode()]
    assert [j.func_name for j in dispatch.get_jobs()] == ["workers.dispatch.admit_orders"]  # one for both
    dispatch.empty()
    assert admit_orders() == 2 and ctx.store.client.zcard(keys.ADMIT) == 0
    [booking] = dispatch.get_jobs()  # one job books both (same centre, same courier)
    assert (list(booking.args), booking.rate_limit_key, booking.rate_limit_concurrency) == (
        [[order_id, other]],
        "courier-ghn",
        ctx.settings.dd_courier_concurrency,
    )
    assert booking_job(ctx.store.client, order_id) == booking_job(ctx.store.client, other) == booking.id


def test_an_open_circuit_stops_calls_to_a_failing_courier_until_its_cooldown(
    api: Client, ctx: Context, httpx_mock: HTTPXMock
) -> None:
    from workers.breaker import Breaker

    ids = [_create(api) for _ in range(6)]
    for _ in range(5):
        httpx_mock.add_response(url=f"{GHN}/create", status_code=503)
    for order_id in ids[:5]:
        with pytest.raises(CourierUnavailable):
            dispatch_order(order_id)
    assert Breaker(ctx.store.client, "ghn").view().state == "open"
    with pytest.raises(CourierUnavailable, match="circuit is open"):
        dispatch_order(ids[5])  # no call made: pytest-httpx would fail on an unexpected request
    order = ctx.store.get_order(ids[5])
    assert order is not None and order.dispatch_attempts == 0
    couriers = {c["courier"]: c for c in api.get("/v1/couriers").json()["couriers"]}
    assert couriers["ghn"]["state"] == "open" and couriers["ghn"]["consecutive_failures"] == 5


def test_a_half_open_circuit_lets_one_trial_through_and_closes_on_success(ctx: Context) -> None:
    from workers.breaker import Breaker

    breaker = Breaker(ctx.store.client, "ghtk", threshold=2, cooldown=30)
    breaker.failed(now=1000)
    assert breaker.allow(now=1001)  # one failure is not enough
    breaker.failed(now=1000)
    assert not breaker.allow(now=1010)
    assert breaker.view(now=1031).state == "half_open"
    assert breaker.allow(now=1031) and not breaker.allow(now=1031)  # one trial only
    breaker.failed(now=1032)  # the trial failed: open again for a fresh cooldown
    assert breaker.view(now=1040).state == "open"
    assert breaker.allow(now=1063)
    breaker.succeeded()
    assert breaker.view().state == "closed" and breaker.allow()


def test_the_sweep_leaves_a_job_waiting_for_its_retry_alone(api: Client, ctx: Context, httpx_mock: HTTPXMock) -> None:
    from workers.jobs import sweep

    order_id = _create(api)
    httpx_mock.add_response(url=f"{GHN}/create", status_code=503)
    worker = SimpleWorker([queue("dispatch", ctx.store.client)], connection=ctx.store.client, serializer=JSONSerializer)
    worker.work(burst=True)  # admission, then the booking, which fails and is scheduled for a retry
    assert ctx.store.client.hget(f"rq:job:{booking_job(ctx.store.client, order_id)}", "status") == b"scheduled"
    assert sweep(now=10**10) == 0  # re-enqueueing would skip the backoff and run two copies
    assert queue("dispatch", ctx.store.client).count == 0


def test_a_lock_is_released_only_by_its_holder(ctx: Context) -> None:
    from workers.dispatch import OrderLock

    first = OrderLock(ctx.store.client, "o01LOCK", seconds=30)
    assert first.__enter__()
    ctx.store.client.set("dd:lock:dispatch:o01LOCK", "someone-else")  # ours lapsed, another took it
    first.__exit__(None, None, None)
    assert ctx.store.client.get("dd:lock:dispatch:o01LOCK") == b"someone-else"


def test_the_lock_outlives_the_booking_job(ctx: Context) -> None:
    account = ctx.config.centres["DEMO"].couriers["ghn"]
    assert account.lock_seconds > account.booking_seconds >= 5 * account.timeout_seconds


def test_a_centre_misconfiguration_fails_the_order_for_a_clerk_and_spares_the_breaker(
    api: Client, ctx: Context
) -> None:
    from workers.breaker import Breaker

    order_id = _create(api)
    demo = ctx.config.centres["DEMO"]
    broken = msgspec.structs.replace(demo, ward_code="99999")  # not a 2025 ward
    ctx.config = msgspec.structs.replace(ctx.config, centres={"DEMO": broken})
    assert dispatch_order(order_id) == "rejected"  # no HTTP call: pytest-httpx would fail on one
    order = api.get(f"/v1/orders/{order_id}").json()
    assert order["status"] == "dispatch_failed" and order["dispatch_error"].startswith("configuration:")
    assert Breaker(ctx.store.client, "ghn").view().consecutive_failures == 0


@pytest.mark.parametrize(
    "answer",
    [
        {"status_code": 200, "json": {"code": 500, "message": "Hệ thống đang bận", "data": None}},
        {"status_code": 401, "json": {"code": 401, "message": "Token is not valid"}},
    ],
)
def test_a_lookup_that_cannot_tell_never_passes_for_not_booked(
    api: Client, ctx: Context, httpx_mock: HTTPXMock, answer: dict[str, object]
) -> None:
    order_id = _create(api)
    httpx_mock.add_exception(httpx.ReadTimeout("lost"), url=f"{GHN}/create")
    with pytest.raises(CourierUnavailable):
        dispatch_order(order_id)
    httpx_mock.add_response(url=f"{GHN}/detail-by-client-code", **answer)  # type: ignore[arg-type]
    with pytest.raises(CourierUnavailable, match="could not say"):
        dispatch_order(order_id)
    assert len([r for r in httpx_mock.get_requests() if r.url.path.endswith("/create")]) == 1


def test_an_escaped_not_found_still_reads_as_not_found(api: Client, ctx: Context, httpx_mock: HTTPXMock) -> None:
    order_id = _create(api)
    httpx_mock.add_response(url=f"{GHN}/create", status_code=503)
    with pytest.raises(CourierUnavailable):
        dispatch_order(order_id)
    escaped = b'{"code":400,"message":"Kh\\u00f4ng t\\u00ecm th\\u1ea5y \\u0111\\u01a1n h\\u00e0ng","data":null}'
    httpx_mock.add_response(url=f"{GHN}/detail-by-client-code", status_code=400, content=escaped)
    httpx_mock.add_response(url=f"{GHN}/create", content=fixture("ghn", "create_ok.json"))
    assert dispatch_order(order_id) == "booked"


def test_the_sweep_requeues_a_job_whose_worker_died_mid_booking(api: Client, ctx: Context) -> None:
    from workers.dispatch import admit_orders
    from workers.jobs import sweep

    order_id = _create(api)
    dispatch = queue("dispatch", ctx.store.client)
    dispatch.empty()
    admit_orders()
    booking = dispatch.fetch_job(booking_job(ctx.store.client, order_id) or "")
    assert booking is not None
    dispatch.remove(booking)  # popped by a worker...
    ctx.store.client.hset(booking.key, mapping={"status": "started", "started_at": "2026-01-01T00:00:00.000000Z"})
    # ...that was killed: the hash still says `started`, long past the job's own timeout.
    assert sweep(now=10**10) == 1
    assert booking_job(ctx.store.client, order_id) in dispatch.get_job_ids()  # a new one


def test_the_sweep_requeues_a_retry_the_store_lost(api: Client, ctx: Context, httpx_mock: HTTPXMock) -> None:
    """A store crash can lose RQ's registry entry of a job waiting for its retry (RQ's writes are not
    waited on): the job says `scheduled` but nothing will run it. The sweep sees that and queues it."""
    from workers.jobs import sweep

    order_id = _create(api)
    httpx_mock.add_response(url=f"{GHN}/create", status_code=503)
    worker = SimpleWorker([queue("dispatch", ctx.store.client)], connection=ctx.store.client, serializer=JSONSerializer)
    worker.work(burst=True)
    ctx.store.client.zrem("rq:scheduled:dispatch", booking_job(ctx.store.client, order_id) or "")
    assert sweep(now=10**10) == 1


def test_one_job_books_several_orders_and_a_failure_retries_only_what_is_left(
    api: Client, ctx: Context, httpx_mock: HTTPXMock
) -> None:
    from workers.dispatch import dispatch_orders, enqueue_booking

    first, second = _create(api), _create(api)
    enqueue_booking(ctx.store.client, [first, second], "ghn", concurrency=8)
    httpx_mock.add_response(url=f"{GHN}/create", status_code=503)  # the first try of the first order
    httpx_mock.add_response(url=f"{GHN}/create", content=fixture("ghn", "create_ok.json"))
    with pytest.raises(CourierUnavailable):  # RQ retries the job...
        dispatch_orders([first, second])
    assert ctx.store.get_order(second).status is Status.BOOKED  # ...the second was booked meanwhile
    assert booking_job(ctx.store.client, first) is not None and booking_job(ctx.store.client, second) is None
    httpx_mock.add_response(url=f"{GHN}/detail-by-client-code", status_code=400,
                            content=fixture("ghn", "detail_not_found.json"))  # fmt: skip
    httpx_mock.add_response(url=f"{GHN}/create", content=fixture("ghn", "create_ok.json"))
    assert dispatch_orders([first, second]) == {first: "booked", second: "nothing to do"}
    assert ctx.store.client.hlen(keys.BOOKING_JOBS) == 0


def test_an_order_that_breaks_does_not_keep_the_rest_of_its_batch_from_the_courier(
    api: Client, ctx: Context, httpx_mock: HTTPXMock
) -> None:
    from workers.dispatch import dispatch_orders

    broken, fine = _create(api), _create(api)
    ctx.store.client.set(keys.order(broken), b"{not an order")
    httpx_mock.add_response(url=f"{GHN}/create", content=fixture("ghn", "create_ok.json"))
    with pytest.raises(msgspec.DecodeError):  # the job fails, and RQ retries it...
        dispatch_orders([broken, fine])
    assert ctx.store.get_order(fine).status is Status.BOOKED  # ...after the others were booked


def test_the_sweep_leaves_a_long_batch_alone_while_it_says_it_is_alive(api: Client, ctx: Context) -> None:
    from workers.dispatch import admit_orders
    from workers.jobs import sweep

    order_id = _create(api)
    dispatch = queue("dispatch", ctx.store.client)
    dispatch.empty()
    admit_orders()
    job_id = booking_job(ctx.store.client, order_id) or ""
    booking = dispatch.fetch_job(job_id)
    assert booking is not None
    dispatch.remove(booking)
    ctx.store.client.hset(booking.key, mapping={"status": "started", "started_at": "2026-01-01T00:00:00.000000Z"})
    ctx.store.client.set(keys.booking_alive(job_id), 1, ex=90)  # between two of its orders
    assert sweep(now=10**10) == 0
    ctx.store.client.delete(keys.booking_alive(job_id))  # killed: it says nothing any more
    assert sweep(now=10**10 + 3600) == 1  # (the first sweep postponed the order's deadline)
