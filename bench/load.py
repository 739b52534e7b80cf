"""A small HTTP/1.1 load generator on raw asyncio sockets (no wrk on a machine with only Python).

Keep-alive connections send prebuilt requests and read each answer by its Content-Length. Closed
loop (`rate=None`): every connection sends its next request as soon as the last is answered, for
the highest throughput. Open loop (`rate`): requests are due on a fixed schedule and latency counts
from when a request was due, so a stalled server cannot hide its queue (no coordinated omission).
It shares the machine's cores with the server: every throughput is compared with a ceiling measured
by this same generator in the same run.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field


@dataclass
class Result:
    requests: int = 0
    errors: int = 0  # non-2xx answers and broken connections
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)  # seconds
    dues: list[float] = field(default_factory=list)  # when each was due, seconds into the measured part
    statuses: dict[int, int] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def slowest(self) -> tuple[float, float]:
        """The longest latency and when that request was due (seconds into the measured part): a tail
        that comes from one stall shows as many slow requests due within the same fraction of a second."""
        if not self.latencies:
            return float("nan"), float("nan")
        at = max(range(len(self.latencies)), key=self.latencies.__getitem__)
        return self.latencies[at], self.dues[at]

    def percentile(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def request(method: str, path: str, body: bytes, headers: dict[str, str] | None = None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def _content_length(buffer: bytes, head_end: int) -> int:
    head = buffer[:head_end].lower()
    at = head.find(b"\r\ncontent-length:")
    if at < 0:
        return 0
    value_end = head.find(b"\r\n", at + 2)
    return int(head[at + 17 : value_end if value_end >= 0 else head_end])


class _Client(asyncio.Protocol):
    """One keep-alive connection: each answer is read off by its Content-Length as its bytes arrive,
    and the next request goes from the same callback (no coroutine, stream or future a request: the
    generator shares the cores it measures, so the less it costs, the less it takes from the server)."""

    def __init__(self, load: _Load) -> None:
        self.load = load
        self.buffer = b""
        self.due = 0.0
        self.waiting = False  # a request is out, its answer not read yet
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.load.send_next(self)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        head_end = self.buffer.find(b"\r\n\r\n")
        if head_end < 0:
            return
        try:
            total = head_end + 4 + _content_length(self.buffer, head_end)
            status = int(self.buffer[9:12])
        except ValueError:  # not HTTP: counted as a broken connection
            self.load.close(self)
            return
        if len(self.buffer) < total:
            return
        self.buffer = self.buffer[total:]  # (one request at a time: nothing follows)
        self.load.answered(self, status)

    def connection_lost(self, exc: Exception | None) -> None:
        self.load.lost(self)


class _Load:
    """The run's schedule and tally, shared by its connections."""

    def __init__(
        self, requests: Iterator[bytes], seconds: float, rate: float | None, warmup: float, connections: int
    ) -> None:
        self.result = Result()
        self.requests = requests
        self.rate = rate
        self.start = time.perf_counter()
        self.measure_from = self.start + warmup
        self.stop = self.measure_from + seconds
        self.next_due = itertools.count()
        self.last_done = 0.0
        self.open = connections
        self.finished = asyncio.get_running_loop().create_future()

    def send_next(self, client: _Client) -> None:
        now = time.perf_counter()
        due = now if self.rate is None else self.start + next(self.next_due) / self.rate
        if due >= self.stop:
            self.close(client)
        elif due > now:  # open loop, ahead of the schedule: wait for it
            asyncio.get_running_loop().call_later(due - now, self.send, client, due)
        else:
            self.send(client, due)

    def send(self, client: _Client, due: float) -> None:
        if client.transport is None or client.transport.is_closing():  # the server closed it while it waited
            self.result.errors += 1
            return
        try:
            request = next(self.requests)
        except StopIteration:  # every request sent: the run ends early
            self.close(client)
            return
        client.due, client.waiting = due, True
        client.transport.write(request)

    def answered(self, client: _Client, status: int) -> None:
        done = self.last_done = time.perf_counter()
        client.waiting = False
        if client.due >= self.measure_from:
            result = self.result
            result.requests += 1
            result.latencies.append(done - client.due)
            result.dues.append(client.due - self.measure_from)
            result.statuses[status] = result.statuses.get(status, 0) + 1
            if not 200 <= status < 300:
                result.errors += 1
        self.send_next(client)

    def close(self, client: _Client) -> None:
        if client.transport is not None and not client.transport.is_closing():
            client.transport.close()  # connection_lost follows

    def lost(self, client: _Client) -> None:
        if client.waiting:  # broken before its answer came
            self.result.errors += 1
        self.open -= 1
        if self.open == 0 and not self.finished.done():
            self.finished.set_result(None)


async def _run(
    port: int, requests: Iterator[bytes], connections: int, seconds: float, rate: float | None, warmup: float
) -> Result:
    load = _Load(requests, seconds, rate, warmup, connections)
    loop = asyncio.get_running_loop()
    for _ in range(connections):
        await loop.create_connection(lambda: _Client(load), "127.0.0.1", port)
    await load.finished
    result = load.result
    result.seconds = max(0.0, min(load.last_done, load.stop) - load.measure_from)
    return result


def run(
    port: int,
    requests: Sequence[bytes],
    *,
    connections: int = 32,
    seconds: float = 10.0,
    rate: float | None = None,
    warmup: float = 1.0,
) -> Result:
    """Send `requests` in turn, each once: a run ends after `seconds` or when they are all sent."""
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        return runner.run(_run(port, iter(requests), connections, seconds, rate, warmup))


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop where there is one (uvicorn[standard] brings it): the generator costs less of the box."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop
