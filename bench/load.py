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
from collections.abc import Iterator, Sequence
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


async def _read_answer(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if length:
        await reader.readexactly(length)
    return status


async def _run(
    port: int, requests: Iterator[bytes], connections: int, seconds: float, rate: float | None, warmup: float
) -> Result:
    result = Result()
    last_done = 0.0
    start = time.perf_counter()
    measure_from = start + warmup
    stop = measure_from + seconds
    next_due = itertools.count()

    async def connection() -> None:
        nonlocal last_done
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while True:
                if rate is None:
                    due = time.perf_counter()
                else:
                    due = start + next(next_due) / rate
                    wait = due - time.perf_counter()
                    if wait > 0:
                        await asyncio.sleep(wait)
                if due >= stop:
                    return
                try:
                    writer.write(next(requests))
                except StopIteration:  # every request sent: the run ends early
                    return
                try:
                    status = await _read_answer(reader)
                except (asyncio.IncompleteReadError, ConnectionError):
                    result.errors += 1
                    return
                done = last_done = time.perf_counter()
                if due >= measure_from:
                    result.requests += 1
                    result.latencies.append(done - due)
                    result.dues.append(due - measure_from)
                    result.statuses[status] = result.statuses.get(status, 0) + 1
                    if not 200 <= status < 300:
                        result.errors += 1
        finally:
            writer.close()

    await asyncio.gather(*(connection() for _ in range(connections)))
    result.seconds = max(0.0, min(last_done, stop) - measure_from)
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
    return asyncio.run(_run(port, iter(requests), connections, seconds, rate, warmup))
