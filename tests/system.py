"""`dossier-dispatch dev` as a user runs it: a whole system of processes on free ports, for end-to-end tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

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
        Path(self.env["DD_DATA_DIR"]).mkdir(parents=True, exist_ok=True)
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
        return self.log_text()[-5000:]

    def log_text(self) -> str:
        """Everything every process of the system wrote to stdout and stderr."""
        return (Path(self.env["DD_DATA_DIR"]) / "dev.log").read_text(errors="replace")

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


def children_of(pid: int) -> dict[int, str]:
    """Direct children of `pid` and their command lines, read from /proc."""
    found: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            if parent == pid:
                found[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
        except (OSError, ValueError, IndexError):
            continue
    return found
