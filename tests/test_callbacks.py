"""POST /v1/callbacks/{courier}: authenticated, stored raw and durable before 200, applied by the ingest job."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest
import redis
from litestar.testing import TestClient
from pytest_httpx import HTTPXMock
from redis.client import Pipeline
from rq import Queue

from contracts.couriers.registry import DECODE
from contracts.events import Event
from contracts.orders import Order
from contracts.statuses import Status
from tests.conftest import SECRET, fixture, order_body
from workers import jobs as jobs_module
from workers import keys
from workers.context import Context
from workers.jobs import as_event, ingest_callbacks
from workers.queues import queue
from workers.store import OrderChange, Store

Client = TestClient  # type: ignore[type-arg]
GHN = "http://127.0.0.1:18999/ghn/shiip/public-api/v2/shipping-order"


def _booked_order(api: Client, ctx: Context) -> str:
    order_id = str(api.post("/v1/orders", json=order_body()).json()["id"])
    return order_id


def _callback(order_id: str, name: str, **changes: object) -> bytes:
    payload = msgspec.json.decode(fixture("ghn", name))
    payload.update(ClientOrderCode=order_id, **changes)
    return msgspec.json.encode(payload)


def _post(api: Client, body: bytes, token: str | None = SECRET) -> int:
    params = {"token": token} if token is not None else {}
    return api.post(
        "/v1/callbacks/ghn", content=body, params=params, headers={"content-type": "application/json"}
    ).status_code


def test_callback_is_stored_raw_with_its_ingest_job_before_200(api: Client, ctx: Context) -> None:
    order_id = _booked_order(api, ctx)
    body = _callback(order_id, "callback_create.json")
    assert _post(api, body) == 200
    [(_entry_id, fields)] = ctx.store.client.xrange(keys.callbacks("ghn"))
    assert fields[b"body"] == body
    assert b"token" not in fields[b"query"]  # our secret is not kept beside the payload
    assert len(fields[b"sha256"]) == 64
    assert [j.func_name for j in queue("ingest", ctx.store.client).get_jobs()] == ["workers.jobs.ingest_callbacks"]


def test_ingest_applies_callbacks_to_the_order(api: Client, ctx: Context) -> None:
    order_id = _booked_order(api, ctx)
    for name in ("callback_create.json", "callback_delivery_fail.json", "callback_delivered.json"):
        assert _post(api, _callback(order_id, name)) == 200
    assert ingest_callbacks("ghn") == 3
    order = api.get(f"/v1/orders/{order_id}").json()
    assert order["status"] == "delivered" and order["tracking_code"] == "Z82BS"
    timeline = api.get(f"/v1/orders/{order_id}/events").json()
    assert [e["raw_status"] for e in timeline["events"]] == ["ready_to_pick", "delivery_fail", "delivered"]
    assert [f[b"centres"] for _, f in ctx.store.client.xrange(keys.callbacks("ghn"))] == [b"DEMO"] * 3
    fail = timeline["events"][1]
    assert (fail["reason_code"], fail["reason"], fail["source"]) == ("GHN-DFC1A4", "no answer", "push")
    assert fail["location"] == "Bưu Cục 229 Quan Nhân-Q.Thanh Xuân-HN"
    assert ingest_callbacks("ghn") == 0  # acknowledged: nothing is read twice


def _first_callback_kept(api: Client, ctx: Context) -> tuple[str, Queue]:
    """An order with its first callback stored, and the ingest queue emptied: the test runs the job."""
    order_id = _booked_order(api, ctx)
    jobs = queue("ingest", ctx.store.client)
    assert _post(api, _callback(order_id, "callback_create.json")) == 200
    jobs.empty()
    return order_id, jobs


def test_an_ingest_job_stays_while_callbacks_keep_coming_and_gives_the_kick_back_when_they_stop(
    api: Client, ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    order_id, jobs = _first_callback_kept(api, ctx)
    later = [_callback(order_id, "callback_delivery_fail.json"), _callback(order_id, "callback_delivered.json")]

    def window(_seconds: float) -> None:  # a callback arrives while the job waits for its next batch
        if later:
            assert _post(api, later.pop(0)) == 200

    monkeypatch.setattr(jobs_module, "_pause", window)
    assert ingest_callbacks("ghn") == 3  # one job read all three
    assert jobs.count == 0  # the kick stayed taken: the api queued no other job meanwhile
    assert not ctx.store.client.exists(keys.ingest_kick("ghn"))  # given back: the next callback queues one
    assert api.get(f"/v1/orders/{order_id}").json()["status"] == "delivered"
    assert _post(api, _callback(order_id, "callback_delivered.json", Time="2021-11-12T10:00:00Z")) == 200
    assert jobs.count == 1


def test_an_ingest_job_out_of_time_queues_its_successor_and_keeps_the_kick_for_it(
    api: Client, ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    _order_id, jobs = _first_callback_kept(api, ctx)
    monkeypatch.setattr(jobs_module, "INGEST_JOB_SECONDS", 0.0)  # its time is up before it reads
    assert ingest_callbacks("ghn") == 0
    assert [j.func_name for j in jobs.get_jobs()] == ["workers.jobs.ingest_callbacks"]  # the successor
    assert 0 < ctx.store.client.ttl(keys.ingest_kick("ghn")) <= 60  # taken for it: the api queues no other


def test_duplicate_and_late_callbacks_do_not_move_a_delivered_order(api: Client, ctx: Context) -> None:
    order_id = _booked_order(api, ctx)
    delivered = _callback(order_id, "callback_delivered.json")
    late_scan = _callback(order_id, "callback_create.json", Type="switch_status", Status="storing",
                          Time="2026-11-23T08:00:00+07:00")  # fmt: skip
    for body in (delivered, delivered, late_scan, delivered):
        assert _post(api, body) == 200
    ingest_callbacks("ghn")
    timeline = api.get(f"/v1/orders/{order_id}/events").json()
    assert timeline["status"] == "delivered"
    assert [(e["raw_status"], e["applied"]) for e in timeline["events"]] == [("delivered", True), ("storing", False)]


def test_unknown_status_is_acknowledged_and_kept_unmapped(api: Client, ctx: Context) -> None:
    order_id = _booked_order(api, ctx)
    assert _post(api, _callback(order_id, "callback_unknown_status.json")) == 200
    ingest_callbacks("ghn")
    [event] = api.get(f"/v1/orders/{order_id}/events").json()["events"]
    assert (event["status"], event["raw_status"], event["applied"]) == (None, "teleported", False)
    assert api.get(f"/v1/orders/{order_id}").json()["status"] == "accepted"


def test_wrong_or_missing_token_is_401_and_nothing_applied(api: Client, ctx: Context) -> None:
    order_id = _booked_order(api, ctx)
    body = _callback(order_id, "callback_delivered.json")
    assert _post(api, body, token="forged") == 401
    assert _post(api, body, token=None) == 401
    assert ctx.store.client.xlen(keys.callbacks("ghn")) == 0
    rejected = ctx.store.client.xrange(keys.REJECTED_CALLBACKS)
    assert [f[b"why"] for _, f in rejected] == [b"authentication failed"] * 2
    assert all(b"body" not in f for _, f in rejected)  # a forger's payload is not kept, only its hash
    assert ingest_callbacks("ghn") == 0
    assert api.get(f"/v1/orders/{order_id}").json()["status"] == "accepted"


def test_malformed_callback_is_refused_but_its_bytes_are_kept_for_replay(api: Client, ctx: Context) -> None:
    response = api.post("/v1/callbacks/ghn", content=b'{"OrderCode": 5', params={"token": SECRET})
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")
    [(_entry, fields)] = ctx.store.client.xrange(keys.callbacks("ghn"))
    assert fields[b"body"] == b'{"OrderCode": 5'
    ingest_callbacks("ghn")
    [(_orphan, aside)] = ctx.store.client.xrange(keys.ORPHAN_CALLBACKS)
    assert aside[b"why"].startswith(b"malformed") and aside[b"body"] == b'{"OrderCode": 5'
    assert ingest_callbacks("ghn") == 0


def test_one_bad_entry_does_not_stop_the_stream_behind_it(api: Client, ctx: Context) -> None:
    order_id = _booked_order(api, ctx)
    ctx.store.client.set(keys.order("o01BROKEN"), b"{not an order")
    _post(api, b'{"ClientOrderCode": ')  # malformed: refused with a 400, kept, set aside by ingest
    _post(api, _callback("o01BROKEN", "callback_create.json"))
    _post(api, _callback(order_id, "callback_delivered.json"))
    assert ingest_callbacks("ghn") == 3  # the batch breaks on the broken record; then one by one
    assert api.get(f"/v1/orders/{order_id}").json()["status"] == "delivered"
    whys = [aside[b"why"] for _id, aside in ctx.store.client.xrange(keys.ORPHAN_CALLBACKS)]
    assert len(whys) == 2  # each set aside once, though the batch was worked out twice
    assert whys[0].startswith(b"malformed") and whys[1].startswith(b"DecodeError")


def test_a_callback_known_only_by_a_tracking_code_an_earlier_one_of_its_batch_brings_is_applied(
    api: Client, ctx: Context
) -> None:
    order_id = _booked_order(api, ctx)  # not booked yet: no tracking code
    assert _post(api, _callback(order_id, "callback_create.json")) == 200  # brings Z82BS
    assert _post(api, _callback("", "callback_delivered.json")) == 200  # Z82BS only, no reference
    assert ingest_callbacks("ghn") == 2  # one batch
    assert not ctx.store.client.zcard(keys.quarantine("ghn"))
    timeline = api.get(f"/v1/orders/{order_id}/events").json()
    assert [e["raw_status"] for e in timeline["events"]] == ["ready_to_pick", "delivered"]
    assert timeline["status"] == "delivered"


def _events(order_id: str, name: str) -> list[Event]:
    received = datetime.now(UTC)
    return [as_event("ghn", u, received, "push") for u in DECODE["ghn"](_callback(order_id, name))]


def test_a_batch_another_writer_interrupts_is_worked_out_again_and_loses_neither_write(
    api: Client, ctx: Context
) -> None:
    first, second = _booked_order(api, ctx), _booked_order(api, ctx)
    interrupted: list[bool] = []

    def interrupt(_pipe: Pipeline) -> None:  # between the batch's reads and its EXEC, once
        if not interrupted:
            interrupted.append(True)
            ctx.store.update_order(second, now=datetime.now(UTC), dispatch_error="not booked yet: test")

    batch = [
        OrderChange(first, events=_events(first, "callback_create.json"), also=interrupt),
        OrderChange(second, events=_events(second, "callback_create.json")),
    ]
    with pytest.raises(redis.WatchError):  # given up after one interrupted try: nothing of it written
        ctx.store.update_orders(batch, now=datetime.now(UTC), tries=1)
    assert ctx.store.get_order(first).status is Status.ACCEPTED  # type: ignore[union-attr]
    interrupted.clear()
    updated = ctx.store.update_orders(batch, now=datetime.now(UTC))
    assert [o.status for o in updated if o is not None] == [Status.BOOKED, Status.BOOKED]
    kept = ctx.store.get_order(second)
    assert kept is not None and kept.status is Status.BOOKED
    assert kept.dispatch_error == "not booked yet: test"  # the other writer's change was read again, not lost


def test_ingest_applies_one_change_at_a_time_when_its_batch_keeps_being_interrupted(
    api: Client, ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    orders = [_booked_order(api, ctx) for _ in range(3)]
    for order_id in orders:
        for name in ("callback_create.json", "callback_delivered.json"):
            assert _post(api, _callback(order_id, name)) == 200
    whole = Store.update_orders

    def busy(self: Store, batch: list[OrderChange], **options: Any) -> list[Order | None]:
        if options.get("tries") is not None:  # the batch's own attempt: always interrupted
            raise redis.WatchError("busy")
        return whole(self, batch, **options)

    monkeypatch.setattr(Store, "update_orders", busy)
    assert ingest_callbacks("ghn") == 6
    assert [api.get(f"/v1/orders/{o}").json()["status"] for o in orders] == ["delivered"] * 3
    steps = [e["raw_status"] for e in api.get(f"/v1/orders/{orders[0]}/events").json()["events"]]
    assert steps == ["ready_to_pick", "delivered"]


def test_a_centres_secret_cannot_move_another_centres_order(api: Client, ctx: Context) -> None:
    order_id = _booked_order(api, ctx)
    entry = {"body": _callback(order_id, "callback_delivered.json"), "centres": "OTHER", "received_ms": "0"}
    ctx.store.client.xadd(keys.callbacks("ghn"), entry)
    ingest_callbacks("ghn")
    assert api.get(f"/v1/orders/{order_id}").json()["status"] == "accepted"
    [(_orphan, aside)] = ctx.store.client.xrange(keys.ORPHAN_CALLBACKS)
    assert aside[b"why"] == b"authenticated for another centre"


def test_undocumented_callback_type_is_kept_unmapped_not_dropped(api: Client, ctx: Context) -> None:
    order_id = _booked_order(api, ctx)
    assert _post(api, _callback(order_id, "callback_create.json", Type="Switch_status", Status="delivered")) == 200
    ingest_callbacks("ghn")
    [event] = api.get(f"/v1/orders/{order_id}/events").json()["events"]
    assert (event["status"], event["raw_status"]) == (None, "Switch_status:delivered")


def test_unknown_courier_is_404(api: Client) -> None:
    response = api.post("/v1/callbacks/dhl", content=b"{}")
    assert response.status_code == 404
    assert response.json()["type"].endswith("unknown-courier")
    for path in ("/v1/callbacksghn", "/v1/callbacks/ghn/more", "/v1/callbacks"):
        assert api.post(path, params={"token": SECRET}, content=b"{}").status_code == 404, path
    assert api.get("/v1/callbacks/ghn").status_code == 405


def test_a_callback_that_beats_the_booking_is_quarantined_then_applied(
    api: Client, ctx: Context, httpx_mock: HTTPXMock
) -> None:
    from workers.dispatch import dispatch_order
    from workers.jobs import release_quarantine

    order_id = _booked_order(api, ctx)  # created, not yet booked: GHN's answer is still on its way
    early = msgspec.json.decode(_callback(order_id, "callback_create.json", OrderCode="G8ADKBYD"))
    early["ClientOrderCode"] = None  # a courier that does not echo our reference: only its tracking code
    early = msgspec.json.encode(early)
    assert _post(api, early) == 200
    assert ingest_callbacks("ghn") == 1
    assert ctx.store.client.zcard(keys.quarantine("ghn")) == 1
    assert api.get(f"/v1/orders/{order_id}/events").json()["events"] == []
    httpx_mock.add_response(url=f"{GHN}/create", content=fixture("ghn", "create_ok.json"))
    assert dispatch_order(order_id) == "booked"
    assert release_quarantine("ghn", now_ms=0) == 1  # the sweep does this every few seconds
    raw = [e["raw_status"] for e in api.get(f"/v1/orders/{order_id}/events").json()["events"]]
    assert "ready_to_pick" in raw
    assert ctx.store.client.zcard(keys.quarantine("ghn")) == 0


def test_a_callback_for_no_order_of_ours_is_set_aside_after_a_week(api: Client, ctx: Context) -> None:
    from workers.jobs import release_quarantine

    assert _post(api, _callback("o01NOSUCHORDER", "callback_create.json", OrderCode="NOPE")) == 200
    ingest_callbacks("ghn")
    assert release_quarantine("ghn", now_ms=0) == 0
    assert ctx.store.client.xlen(keys.ORPHAN_CALLBACKS) == 0
    eight_days = 10**13
    release_quarantine("ghn", now_ms=eight_days)
    [(_id, aside)] = ctx.store.client.xrange(keys.ORPHAN_CALLBACKS)
    assert aside[b"why"] == b"no such order" and ctx.store.client.zcard(keys.quarantine("ghn")) == 0


def test_replay_reruns_stored_callbacks_idempotently(api: Client, ctx: Context) -> None:
    from workers.jobs import replay_callbacks

    order_id = _booked_order(api, ctx)
    for name in ("callback_create.json", "callback_delivered.json"):
        _post(api, _callback(order_id, name))
    ingest_callbacks("ghn")
    before = api.get(f"/v1/orders/{order_id}/events").json()
    assert replay_callbacks("ghn", since_ms=0) == 2
    assert replay_callbacks("ghn", since_ms=0) == 2
    assert api.get(f"/v1/orders/{order_id}/events").json() == before
    assert replay_callbacks("ghn", since_ms=10**13) == 0


def test_a_replay_of_an_old_payload_is_refused_kept_and_never_applied(api: Client, ctx: Context) -> None:
    ctx.settings = msgspec.structs.replace(ctx.settings, dd_callback_max_age_hours=72)
    order_id = _booked_order(api, ctx)
    now = datetime.now(UTC)
    old = _callback(order_id, "callback_delivered.json", Time=(now - timedelta(hours=73)).isoformat())
    fresh = _callback(order_id, "callback_create.json", Time=(now - timedelta(hours=71)).isoformat())
    response = api.post("/v1/callbacks/ghn", content=old, params={"token": SECRET})
    assert response.status_code == 422 and response.json()["type"].endswith("callback-replayed")
    assert _post(api, fresh) == 200  # a scanner that synced a day late is not a replay
    assert ingest_callbacks("ghn") == 2
    events = api.get(f"/v1/orders/{order_id}/events").json()["events"]
    assert [e["raw_status"] for e in events] == ["ready_to_pick"]
    [(_orphan, aside)] = ctx.store.client.xrange(keys.ORPHAN_CALLBACKS)
    assert aside[b"why"] == b"replayed: events older than 72 h" and aside[b"body"] == old  # kept for the operator
    assert [f[b"why"] for _, f in ctx.store.client.xrange(keys.REJECTED_CALLBACKS)] == [b"replayed: events too old"]
    assert ctx.store.rejected_counts() == {"ghn": 1}


def test_a_consumer_that_died_leaves_entries_another_one_claims(api: Client, ctx: Context) -> None:
    order_id = _booked_order(api, ctx)
    _post(api, _callback(order_id, "callback_delivered.json"))
    # A consumer read the entry and died before acknowledging it.
    assert len(ctx.store.claim_callbacks("ghn", "dead-consumer")) == 1
    assert ctx.store.claim_callbacks("ghn", "live-consumer") == []  # not stale yet
    [(entry_id, _fields)] = ctx.store.claim_callbacks("ghn", "live-consumer", stale_ms=0)
    assert entry_id
    ctx.store.ack_callbacks("ghn", [entry_id])


def test_status_is_derived_the_same_whatever_the_arrival_order(api: Client, ctx: Context) -> None:
    order_id = _booked_order(api, ctx)
    for name in ("callback_delivered.json", "callback_create.json", "callback_delivery_fail.json"):
        _post(api, _callback(order_id, name))
        ingest_callbacks("ghn")  # apply one at a time, in the wrong order
    order = ctx.store.get_order(order_id)
    assert order is not None and order.status is Status.DELIVERED


def test_a_secret_in_the_body_is_not_kept_with_the_raw_callback(api: Client, ctx: Context) -> None:
    order_id = api.post("/v1/orders", json=order_body(courier="viettelpost")).json()["id"]
    payload = msgspec.json.decode(fixture("viettelpost", "callback_delivered.json"))
    payload["DATA"]["ORDER_REFERENCE"] = order_id
    response = api.post("/v1/callbacks/viettelpost", content=msgspec.json.encode(payload))
    assert response.status_code == 200
    [(_entry, fields)] = ctx.store.client.xrange(keys.callbacks("viettelpost"))
    assert SECRET.encode() not in fields[b"body"] and b'"TOKEN":"[redacted]"' in fields[b"body"]
    assert ingest_callbacks("viettelpost") == 1
    assert api.get(f"/v1/orders/{order_id}").json()["status"] == "delivered"


def test_a_body_that_is_not_utf8_is_refused_as_malformed_and_kept_not_a_server_error(api: Client, ctx: Context) -> None:
    payload = fixture("viettelpost", "callback_delivered.json").decode()
    body = msgspec.json.encode({**msgspec.json.decode(payload), "TOKEN": SECRET}).replace(b'"NOTE":"', b'"NOTE":"\xff')
    assert b"\xff" in body  # a right secret, and one byte no UTF-8 text has
    response = api.post("/v1/callbacks/viettelpost", content=body)
    assert response.status_code == 400 and response.json()["type"].endswith("callback-malformed")
    [(_entry, kept)] = ctx.store.client.xrange(keys.callbacks("viettelpost"))  # kept for replay
    assert b"\xff" in kept[b"body"]
    assert ingest_callbacks("viettelpost") == 1
    [(_orphan, aside)] = ctx.store.client.xrange(keys.ORPHAN_CALLBACKS)
    assert aside[b"why"].startswith(b"malformed")
    forged = body.replace(SECRET.encode(), b"\xff")
    assert api.post("/v1/callbacks/viettelpost", content=forged).status_code == 401  # a secret not UTF-8


def test_failed_authentication_is_counted_for_the_operator(api: Client, ctx: Context) -> None:
    order_id = _booked_order(api, ctx)
    for _ in range(3):
        assert _post(api, _callback(order_id, "callback_delivered.json"), token="forged") == 401
    assert api.get("/v1/couriers").json()["rejected_callbacks"] == {"ghn": 3}


def test_ghn_callbacks_come_only_from_listed_addresses_when_the_account_lists_them() -> None:
    from contracts.config import CourierAccount
    from contracts.couriers import CallbackRequest, ghn

    account = CourierAccount(base_url="http://ghn", callback_secret="s3cret", callback_ips=("10.0.0.7",))
    ok = CallbackRequest(query={"token": "s3cret"}, headers={}, body=b"{}", remote="10.0.0.7")
    assert ghn.authenticate(ok, account)
    assert not ghn.authenticate(msgspec.structs.replace(ok, remote="203.0.113.9"), account)
