"""The walking path as a user runs it: `dossier-dispatch dev` as processes, real HTTP, real store, GHN sandbox."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import msgspec
import pytest

from tests.conftest import fixture, order_body

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).parent.parent
KEY, SECRET = "e2e-api-key", "e2e-callback-secret"


def _port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class System:
    def __init__(self, data_dir: Path, **env: str) -> None:
        self.port, self.sandbox_port = _port(), _port()
        self.env = {
            **os.environ,
            "DD_DATA_DIR": str(data_dir),
            "DD_PORT": str(self.port),
            "DD_SANDBOX_PORT": str(self.sandbox_port),
            "DD_DEV_API_KEY": KEY,
            "DD_DEV_CALLBACK_SECRET": SECRET,
            "DD_SANDBOX_STEP_SECONDS": "0.1",
            "DD_SWEEP_INTERVAL_SECONDS": "1",
            "DD_DISPATCH_DEADLINE_SECONDS": "5",  # the sweeper re-enqueues jobs lost in the kill quickly
            "DD_COURIER_TIMEOUT_SECONDS": "2",  # so a lock left by a killed dispatcher expires in 11 s
            **env,
        }
        self.env.pop("REDIS_URL", None)
        self.process: subprocess.Popen[bytes] | None = None
        self.api = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", headers={"Authorization": f"Bearer {KEY}"})

    def start(self) -> None:
        log = open(Path(self.env["DD_DATA_DIR"]) / "dev.log", "ab")  # noqa: SIM115 - lives as long as the process
        self.process = subprocess.Popen(
            [sys.executable, "-m", "service.cli", "dev"], env=self.env, cwd=ROOT, stdout=log, stderr=log,
            start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log()
            try:
                if self.api.get("/health").status_code == 200 and self._sandbox_up():
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"dev did not come up:\n{self.log()}")

    def _sandbox_up(self) -> bool:
        try:
            httpx.get(f"http://127.0.0.1:{self.sandbox_port}/", timeout=1)
            return True
        except httpx.HTTPError:
            return False

    def log(self) -> str:
        return (Path(self.env["DD_DATA_DIR"]) / "dev.log").read_text(errors="replace")[-5000:]

    def wait_for(self, order_id: str, status: str, seconds: float = 30) -> dict[str, object]:
        deadline = time.monotonic() + seconds
        order: dict[str, object] = {}
        while time.monotonic() < deadline:
            order = self.api.get(f"/v1/orders/{order_id}").json()
            if order["status"] == status:
                return order
            time.sleep(0.1)
        raise AssertionError(f"order stayed {order.get('status')!r}, wanted {status!r}\n{self.log()}")

    def group_alive(self) -> bool:
        assert self.process is not None
        try:
            os.killpg(self.process.pid, 0)
            return True
        except ProcessLookupError:
            return False

    def kill_9(self) -> None:
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        deadline = time.monotonic() + 10
        while self.group_alive() and time.monotonic() < deadline:
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
        if self.process is not None and self.group_alive():
            os.killpg(self.process.pid, signal.SIGKILL)


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
    system.kill_9()
    assert not system.group_alive()
    system.start()
    assert system.wait_for(delivered, "delivered", seconds=5)["tracking_code"]
    for order in acknowledged:  # every one is there, and the restarted workers finish the job
        system.wait_for(order["id"], "delivered", seconds=90)


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
