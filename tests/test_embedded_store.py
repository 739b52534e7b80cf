"""The embedded store: real valkey-server >= 7.2, AOF, noeviction, found by a second process, survives kill -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import redis

from workers.embedded import ensure_store, find_store
from workers.store import Store

ROOT = Path(__file__).parent.parent


def test_store_is_configured_for_durability(tmp_path: Path) -> None:
    store = ensure_store(tmp_path)
    try:
        client = redis.Redis.from_url(store.url)
        version = tuple(int(x) for x in client.info("server")["redis_version"].split(".")[:2])
        assert version >= (7, 2)  # WAITAOF exists
        config = client.config_get("*")
        assert config["appendonly"] == "yes"
        assert config["maxmemory-policy"] == "noeviction"
        assert config["bind"] == "127.0.0.1"
        assert Path(config["dir"]) == (tmp_path / "store").resolve()
        client.set("k", "v")
        assert client.execute_command("WAITAOF", 1, 0, 1000)[0] == 1
    finally:
        store.stop()


def test_a_second_process_finds_the_running_store(tmp_path: Path) -> None:
    store = ensure_store(tmp_path)
    try:
        probe = (
            "import sys; from workers.embedded import ensure_store; "
            "s = ensure_store(sys.argv[1]); print(s.url, s.process)"
        )
        out = subprocess.run(
            [sys.executable, "-c", probe, str(tmp_path)], capture_output=True, text=True, cwd=ROOT, check=True
        ).stdout.split()
        assert out == [store.url, "None"]  # found, not started
    finally:
        store.stop()
    assert find_store(tmp_path) is None


def test_acknowledged_writes_survive_kill_9_of_the_store(tmp_path: Path) -> None:
    store = ensure_store(tmp_path)
    assert store.process is not None
    client = redis.Redis.from_url(store.url)
    durable = Store(client)
    for i in range(200):
        client.set(f"order:{i}", i)
        durable.make_durable()  # what every acknowledged write does before answering
    os.kill(store.process.pid, signal.SIGKILL)
    store.process.wait()
    client.close()
    restarted = ensure_store(tmp_path)
    try:
        assert restarted.url != store.url or restarted.process is not None
        again = redis.Redis.from_url(restarted.url)
        assert again.get("order:199") == b"199"
        assert len(again.keys("order:*")) == 200
    finally:
        restarted.stop()
