"""Hundreds of orders across every courier sandbox, with injected 503s, lost answers and a killed worker:
every order ends up booked exactly once (the sandboxes count shipments per reference)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import order_body
from tests.system import System, children_of

pytestmark = pytest.mark.e2e
ORDERS = int(os.environ.get("DD_CHAOS_ORDERS", "200"))
COURIERS = ["ghn", "ghtk", "viettelpost", "vnpost"]


def test_every_order_is_booked_exactly_once_through_faults_and_a_killed_worker(tmp_path: Path) -> None:
    system = System(
        tmp_path,
        DD_SANDBOX_STEP_SECONDS="0.3",
        DD_COURIER_TIMEOUT_SECONDS="1",  # the sandbox's lost answers (2.5 s) time out here
        DD_DISPATCH_DEADLINE_SECONDS="5",
    )
    system.start()
    try:
        sandbox = httpx.Client(base_url=f"http://127.0.0.1:{system.sandbox_port}", timeout=10)
        couriers = [c for c in COURIERS if sandbox.get(f"/_sandbox/shipments/{c}").status_code == 200]
        assert couriers == COURIERS  # all four sandboxes answer
        chaos = {"error_rate": 0.1, "timeout_rate": 0.05, "timeout_seconds": 2.5, "duplicate_rate": 0.1,
                 "reorder_rate": 0.1, "duplicate_reference": "accept"}  # fmt: skip
        assert sandbox.put("/_sandbox/chaos", json=chaos).status_code == 200

        ids: list[str] = []
        killed = False
        for n in range(ORDERS):
            response = system.api.post("/v1/orders", json=order_body(courier=couriers[n % len(couriers)]))
            assert response.status_code == 201, response.text
            ids.append(response.json()["id"])
            if n == ORDERS // 3 and not killed:
                assert system.process is not None
                [worker] = [pid for pid, cmd in children_of(system.process.pid).items() if "worker dispatch" in cmd]
                os.kill(worker, signal.SIGKILL)  # mid-run, while it is booking
                killed = True

        deadline = time.monotonic() + 300
        waiting = set(ids)
        while waiting and time.monotonic() < deadline:
            for order_id in list(waiting):
                if system.api.get(f"/v1/orders/{order_id}").json()["status"] != "accepted":
                    waiting.discard(order_id)
            time.sleep(0.5)
        assert not waiting, f"{len(waiting)} orders still accepted\n{system.log()}"

        shipments: dict[str, int] = {}
        for courier in couriers:
            shipments.update(sandbox.get(f"/_sandbox/shipments/{courier}").json())
        assert set(shipments) == set(ids)  # every order reached its courier...
        assert {n for n in shipments.values()} == {1}  # ...and none was created twice
        statuses = {system.api.get(f"/v1/orders/{i}").json()["status"] for i in ids}
        assert "dispatch_failed" not in statuses and "accepted" not in statuses
    finally:
        system.stop()
