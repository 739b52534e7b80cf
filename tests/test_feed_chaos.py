"""A feed duplicated, shuffled and partly dropped ends where a clean feed ends: polling fills the gaps."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from contracts.couriers import viettelpost_codes, vnpost_codes
from service.sandboxes import viettelpost as vtp_sandbox
from service.sandboxes import vnpost as vnpost_sandbox
from tests.conftest import order_body
from tests.system import System

pytestmark = pytest.mark.e2e


def test_a_messy_feed_ends_like_a_clean_one(tmp_path: Path) -> None:
    system = System(
        tmp_path,
        DD_SANDBOX_STEP_SECONDS="0.2",
        DD_POLL_QUIET_SECONDS="1",  # poll anything silent for a second or more
        DD_SWEEP_INTERVAL_SECONDS="1",
    )
    system.start()
    try:
        sandbox = httpx.Client(base_url=f"http://127.0.0.1:{system.sandbox_port}", timeout=10)
        chaos = {"duplicate_rate": 0.3, "reorder_rate": 0.3, "drop_rate": 0.3}
        assert sandbox.put("/_sandbox/chaos", json=chaos).status_code == 200
        couriers = ["ghn", "ghtk", "vnpost", "viettelpost"] * 5
        ids = [system.api.post("/v1/orders", json=order_body(courier=c)).json()["id"] for c in couriers]
        for order_id in ids:
            system.wait_for(order_id, "delivered", seconds=120)
        # What a clean feed of the sandbox's "delivered" story makes of each order.
        story = {
            "ghn": ["pickup_started", "picked_up", "in_transit", "out_for_delivery", "delivered"],
            "vnpost": [vnpost_codes.STATUS[code] for code in vnpost_sandbox.STORIES["delivered"]],
            "viettelpost": [viettelpost_codes.STATUS[code] for code, _ in vtp_sandbox.STORIES["delivered"]],
            "ghtk": ["booked", "pickup_started", "picked_up", "out_for_delivery", "delivered"],
        }
        clean = {courier: _collapse(["booked", *steps]) for courier, steps in story.items()}
        # GHN's and VNPost's lookups give the whole history; GHTK's and Viettel Post's only the current state.
        whole_history = {"ghn", "vnpost"}

        def steps_of(order_id: str) -> list[str]:
            timeline = system.api.get(f"/v1/orders/{order_id}/events").json()
            return _collapse([e["status"] for e in timeline["events"] if e["applied"]])

        for courier, order_id in zip(couriers, ids, strict=True):
            steps = steps_of(order_id)
            deadline = time.monotonic() + 30
            # A courier whose lookup has the whole history: the last poll, after delivery, restores the
            # clean timeline.
            while courier in whole_history and steps != clean[courier] and time.monotonic() < deadline:
                time.sleep(0.5)
                steps = steps_of(order_id)
            assert steps[-1] == "delivered" and steps.count("delivered") == 1
            if courier in whole_history:
                assert steps == clean[courier], (courier, order_id, steps)
            else:  # a dropped step stays missing, but nothing is out of order
                assert [s for s in clean[courier] if s in steps] == steps, (courier, order_id, steps)
    finally:
        system.stop()


def _collapse(statuses: list[str]) -> list[str]:
    """Consecutive repeats as one step (several courier codes map to one canonical status)."""
    return [s for n, s in enumerate(statuses) if n == 0 or statuses[n - 1] != s]
