"""Courier faults: a courier down for a while, then answering garbage, then too slow to answer in time.
The breaker opens and recovers by itself, retries and the sweep keep every order, the exceptions queue
tells the clerk which orders are not booked yet and why, and once the courier is back every order is
booked exactly once and delivered, without an operator. The retry waits and the breaker's cooldown are
scaled down; `DD_COURIER_DOWN_SECONDS` makes the outage longer (300 for five minutes)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import order_body
from tests.system import System

pytestmark = pytest.mark.e2e
DOWN = float(os.environ.get("DD_COURIER_DOWN_SECONDS", "25"))
COURIERS = ["ghn", "ghtk", "viettelpost", "vnpost"]
NOT_BOOKED = "not booked yet"


def _watch(system: System, ids: list[str], seconds: float) -> tuple[set[str], dict[str, list[str]]]:
    """For `seconds`: every order stays ours (accepted); returns the breaker states and last errors
    seen and, per order, the last reasons the exceptions queue gave."""
    states: set[str] = set()
    reasons: dict[str, list[str]] = {}
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for courier in system.api.get("/v1/couriers").json()["couriers"]:
            states.add(f"{courier['courier']}:{courier['state']}")
            states.add(f"{courier['courier']}:{courier['last_error']}")
        for item in system.api.get("/v1/exceptions").json()["exceptions"]:
            reasons[item["order_id"]] = item["reasons"]
        statuses = {system.api.get(f"/v1/orders/{i}").json()["status"] for i in ids}
        assert statuses == {"accepted"}, statuses  # nothing failed, nothing dropped, nothing booked
        time.sleep(1.0)
    return states, reasons


def _shipments(sandbox: httpx.Client) -> dict[str, int]:
    counts: dict[str, int] = {}
    for courier in COURIERS:
        counts.update(sandbox.get(f"/_sandbox/shipments/{courier}").json())
    return counts


def test_a_courier_down_then_garbage_then_slow_recovers_without_an_operator(tmp_path: Path) -> None:
    system = System(
        tmp_path,
        DD_SANDBOX_STEP_SECONDS="0.2",
        DD_COURIER_TIMEOUT_SECONDS="1",
        DD_DISPATCH_RETRY_SECONDS="1,1,2,2",  # a series of five tries in ~6 s (production: 2,10,30,60,120)
        DD_BREAKER_COOLDOWN_SECONDS="3",
        DD_DISPATCH_DEADLINE_SECONDS="3",  # the sweep starts a new series soon after one ends
    )
    system.start()
    try:
        sandbox = httpx.Client(base_url=f"http://127.0.0.1:{system.sandbox_port}", timeout=10)
        chaos: dict[str, Any] = {"error_rate": 1.0}  # every courier answers 503 to everything
        assert sandbox.put("/_sandbox/chaos", json=chaos).status_code == 200
        ids = []
        for n in range(12):
            created = system.api.post("/v1/orders", json=order_body(courier=COURIERS[n % 4], dossier_code=f"D-F{n}"))
            assert created.status_code == 201, created.text
            ids.append(created.json()["id"])

        states, reasons = _watch(system, ids, DOWN)
        assert {f"{c}:open" for c in COURIERS} <= states, states  # each breaker opened...
        assert {f"{c}:half_open" for c in COURIERS} & states or DOWN < 10  # ...and let trials through
        assert set(reasons) == set(ids), reasons  # the clerk sees every order that is not booked
        assert all(any(NOT_BOOKED in r for r in reasons[i]) for i in ids), reasons
        assert _shipments(sandbox) == {}

        assert sandbox.put("/_sandbox/chaos", json={"garbage_rate": 1.0}).status_code == 200  # a proxy's HTML, 200
        states, _reasons = _watch(system, ids, 8)
        for courier in COURIERS:  # the operator sees why: the trial calls met garbage
            assert any(state.startswith(f"{courier}:") and "unreadable" in state for state in states), states
        assert _shipments(sandbox) == {}

        # Slower than our timeout: a create may book at the courier while we give up on its answer.
        assert sandbox.put("/_sandbox/chaos", json={"latency_ms": 1500}).status_code == 200
        _watch(system, ids, 6)

        assert sandbox.put("/_sandbox/chaos", json={}).status_code == 200  # the courier is back
        deadline = time.monotonic() + 90
        statuses: dict[str, str] = {}
        while time.monotonic() < deadline:
            statuses = {i: system.api.get(f"/v1/orders/{i}").json()["status"] for i in ids}
            if set(statuses.values()) == {"delivered"}:
                break
            time.sleep(1.0)
        assert set(statuses.values()) == {"delivered"}, f"{statuses}\n{system.log()}"
        assert _shipments(sandbox) == dict.fromkeys(ids, 1)  # each booked once, slow answers included
        views = system.api.get("/v1/couriers").json()["couriers"]
        assert {view["state"] for view in views} == {"closed"}
        remaining = system.api.get("/v1/exceptions").json()["exceptions"]
        assert not [item for item in remaining if any(NOT_BOOKED in r for r in item["reasons"])]
        for order_id in ids:
            assert system.api.get(f"/v1/orders/{order_id}").json()["dispatch_error"] is None
    finally:
        system.stop()
