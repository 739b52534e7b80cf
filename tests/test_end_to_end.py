"""The walking path as a user runs it: `dossier-dispatch dev` as processes, real HTTP, real store, GHN sandbox."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import msgspec
import pytest

from tests.conftest import fixture, order_body
from tests.system import SECRET, System

pytestmark = pytest.mark.e2e


@pytest.fixture
def system(tmp_path: Path) -> Iterator[System]:
    running = System(tmp_path)
    running.start()
    yield running
    running.stop()


def test_order_goes_to_ghn_and_back_delivered(system: System) -> None:
    created = system.api.post("/v1/orders", json=order_body())
    assert created.status_code == 201, created.text
    order_id = created.json()["id"]
    order = system.wait_for(order_id, "delivered")
    assert order["tracking_code"]
    timeline = system.api.get(f"/v1/orders/{order_id}/events").json()
    statuses = [e["status"] for e in timeline["events"] if e["applied"]]
    assert statuses[-1] == "delivered"
    assert {"booked", "picked_up", "in_transit", "out_for_delivery"} <= set(statuses)
    assert {e["source"] for e in timeline["events"]} == {"api", "push"}


def test_kill_9_of_everything_loses_no_acknowledged_order(system: System) -> None:
    delivered = system.api.post("/v1/orders", json=order_body()).json()["id"]
    system.wait_for(delivered, "delivered")
    acknowledged = [system.api.post("/v1/orders", json=order_body()).json() for _ in range(20)]
    time.sleep(0.5)  # some are booked or further along when everything dies

    def timeline(order_id: str) -> list[tuple[str, str]]:
        events = system.api.get(f"/v1/orders/{order_id}/events").json()["events"]
        return [(event["raw_status"], event["event_time"]) for event in events]

    reached = {order_id: timeline(order_id) for order_id in [delivered, *(o["id"] for o in acknowledged)]}
    system.kill_9()
    assert not system.group_alive()
    system.start()
    assert system.wait_for(delivered, "delivered", seconds=5)["tracking_code"]
    for order_id, before in reached.items():  # every one is there, with every step it had reached
        after = timeline(order_id)
        assert set(before) <= set(after), (order_id, before, after)
    for order in acknowledged:  # and the restarted workers finish the job
        system.wait_for(order["id"], "delivered", seconds=90)
    assert sum(1 for steps in reached.values() if steps) >= 2  # the snapshot held more than empty timelines


def test_sigterm_stops_every_child(system: System) -> None:
    system.stop()
    assert system.process is not None and system.process.returncode == 0
    assert not system.group_alive()


def test_without_autoplay_the_feed_is_driven_by_hand(tmp_path: Path) -> None:
    running = System(tmp_path, DD_SANDBOX_AUTOPLAY="0")
    running.start()
    try:
        order_id = running.api.post("/v1/orders", json=order_body(kind="pickup")).json()["id"]
        order = running.wait_for(order_id, "booked")
        time.sleep(1)
        assert running.api.get(f"/v1/orders/{order_id}").json()["status"] == "booked"  # nothing played by itself
        # An integrator posts GHN's own callback format to our endpoint...
        callback = msgspec.json.decode(fixture("ghn", "callback_naive_time.json"))
        callback.update(ClientOrderCode=order_id, OrderCode=order["tracking_code"])
        response = httpx.post(
            f"http://127.0.0.1:{running.port}/v1/callbacks/ghn", params={"token": SECRET}, json=callback
        )
        assert response.status_code == 200
        running.wait_for(order_id, "picked_up")
        # ...or asks the sandbox to post the next one.
        sandbox = f"http://127.0.0.1:{running.sandbox_port}/ghn/_sandbox/orders/{order['tracking_code']}/push"
        assert httpx.post(sandbox, json={"status": "delivered"}).json() == {"posted": True}
        running.wait_for(order_id, "delivered")
        forged = httpx.post(f"http://127.0.0.1:{running.port}/v1/callbacks/ghn", params={"token": "x"}, json=callback)
        assert forged.status_code == 401
    finally:
        running.stop()


def test_every_courier_books_and_reports_back_through_its_own_wire_format(system: System) -> None:
    sandbox = f"http://127.0.0.1:{system.sandbox_port}"
    couriers = [
        c
        for c in ("ghn", "ghtk", "viettelpost", "vnpost")
        if httpx.get(f"{sandbox}/_sandbox/shipments/{c}").status_code == 200
    ]
    orders = {c: system.api.post("/v1/orders", json=order_body(courier=c)).json()["id"] for c in couriers}
    for courier, order_id in orders.items():
        order = system.wait_for(order_id, "delivered")
        assert order["courier"] == courier and order["tracking_code"]
        sources = {e["source"] for e in system.api.get(f"/v1/orders/{order_id}/events").json()["events"]}
        assert sources == {"api", "push"}
