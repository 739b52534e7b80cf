"""The embedded store: real valkey-server >= 7.2, AOF, noeviction, found by a second process, survives kill -9."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from workers import keys
from workers.context import build
from workers.embedded import EmbeddedStore, ensure_store, find_store
from workers.intake import AsyncIntake
from workers.store import NotDurable, Store

ROOT = Path(__file__).parent.parent


def test_store_is_configured_for_durability(tmp_path: Path) -> None:
    store = ensure_store(tmp_path)
    try:
        client = redis.Redis.from_url(store.url)
        version = tuple(int(x) for x in client.info("server")["redis_version"].split(".")[:2])
        assert version >= (7, 2)  # WAITAOF exists
        config = client.config_get("*")
        assert config["appendonly"] == "yes"
        # Every write fsynced before the store answers anyone: under everysec, Valkey answers WAITAOF
        # before the fsync (README, Durability).
        assert config["appendfsync"] == "always"
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


def test_a_store_found_running_without_fsync_always_is_switched_to_it(tmp_path: Path) -> None:
    earlier = ensure_store(tmp_path, fsync_always=False)  # as an earlier version started it
    try:
        client = redis.Redis.from_url(earlier.url)
        assert client.config_get("appendfsync")["appendfsync"] == "everysec"
        found = ensure_store(tmp_path)
        assert found.url == earlier.url and found.process is None
        assert client.config_get("appendfsync")["appendfsync"] == "always"
        client.close()
    finally:
        earlier.stop()


@pytest.fixture
def everysec(tmp_path: Path) -> Iterator[tuple[EmbeddedStore, redis.Redis]]:
    """A store under appendfsync everysec (whose WAITAOF answers before the fsync), and a client of it."""
    store = ensure_store(tmp_path, fsync_always=False)
    client = redis.Redis.from_url(store.url)
    yield store, client
    client.close()
    store.stop()


def test_a_process_refuses_a_store_that_would_answer_before_the_fsync(
    tmp_path: Path, everysec: tuple[EmbeddedStore, redis.Redis]
) -> None:
    store, client = everysec
    with pytest.raises(NotDurable, match="appendfsync always"):
        build({"REDIS_URL": store.url, "DD_DATA_DIR": str(tmp_path)})  # what the api and every worker do
    with pytest.raises(NotDurable, match="Valkey answers WAITAOF before its fsync"):
        Store(client, durability="waitaof").check_durability()
    client.config_set("appendfsync", "always")
    client.config_set("no-appendfsync-on-rewrite", "yes")  # would skip the fsync while a rewrite runs
    with pytest.raises(NotDurable, match="no-appendfsync-on-rewrite"):
        Store(client).check_durability()
    client.config_set("no-appendfsync-on-rewrite", "no")
    build({"REDIS_URL": store.url, "DD_DATA_DIR": str(tmp_path)}).close()
    Store(client, durability="waitaof").check_durability()


def test_a_process_started_before_its_store_checks_it_at_its_first_durable_write(tmp_path: Path) -> None:
    store = ensure_store(tmp_path, fsync_always=False)
    client = redis.Redis.from_url(store.url)
    durable = Store(client)
    assert store.process is not None
    os.kill(store.process.pid, signal.SIGKILL)  # its port is kept for the restart
    store.process.wait()
    durable.check_durability()  # the store is away: nothing to check yet, and the process starts
    restarted = ensure_store(tmp_path, fsync_always=False)  # back, on its port, still under everysec
    try:
        with pytest.raises(NotDurable, match="appendfsync always"):
            durable.make_durable()
    finally:
        client.close()
        restarted.stop()


async def _one_callback(store: Store) -> object:
    intake = AsyncIntake(store)
    try:
        [answer] = await asyncio.gather(intake.append("ghn", {"body": "x"}), return_exceptions=True)
        return answer
    finally:
        await intake.close()


def test_the_api_checks_a_store_it_could_not_check_at_start_before_its_first_round(
    everysec: tuple[EmbeddedStore, redis.Redis],
) -> None:
    store, client = everysec
    unchecked = Store(client, url=store.url)  # as `build` leaves it when the store was not up yet
    answer = asyncio.run(_one_callback(unchecked))
    assert isinstance(answer, NotDurable) and "appendfsync always" in str(answer)  # a 503, not a 200
    assert not client.exists(keys.callbacks("ghn"))  # refused before anything was written


def test_nothing_is_acknowledged_while_the_store_s_policy_cannot_be_read(
    everysec: tuple[EmbeddedStore, redis.Redis], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, client = everysec
    unchecked = Store(client, url=store.url)
    monkeypatch.setattr(unchecked, "check_durability", lambda: None)  # as while the store loads its AOF
    with pytest.raises(NotDurable, match="could not be checked"):
        unchecked.make_durable()
    answer = asyncio.run(_one_callback(unchecked))
    assert isinstance(answer, NotDurable) and "could not be checked" in str(answer)
    assert not client.exists(keys.callbacks("ghn"))
