"""The benchmark's load generator: every answer read whole and counted, whatever its packets."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator

import pytest

from bench import load


def _serve(answer: bytes, split: int, close_after: int | None = None) -> Iterator[int]:
    """A server on a thread that answers each request with `answer`, written in pieces of `split` bytes
    (the generator must put the pieces together); it closes a connection mid-answer at request `close_after`."""
    loop = asyncio.new_event_loop()
    served = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal served
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            await reader.readexactly(length)
            served += 1
            if served == close_after:
                writer.write(answer[:10])
                writer.close()
                return
            for at in range(0, len(answer), split):
                writer.write(answer[at : at + split])
                await writer.drain()

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = loop.run_until_complete(asyncio.start_server(handle, "127.0.0.1", port))
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield port
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        server.close()


@pytest.mark.parametrize("split", [1, 7, 10_000])
def test_every_answer_is_read_and_counted_by_status(split: int) -> None:
    answer = b"HTTP/1.1 202 Accepted\r\nContent-Type: text/plain\r\nCONTENT-LENGTH: 5\r\n\r\nhello"
    server = _serve(answer, split)
    port = next(server)
    requests = [load.request("POST", "/x", b"{}")] * 300
    result = load.run(port, requests, connections=4, seconds=30, warmup=0)
    assert (result.requests, result.errors, result.statuses) == (300, 0, {202: 300})
    assert len(result.latencies) == len(result.dues) == 300 and result.rate > 0
    server.close()


def test_a_non_2xx_answer_and_a_broken_connection_are_errors() -> None:
    server = _serve(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n", 100, close_after=5)
    port = next(server)
    result = load.run(port, [load.request("POST", "/x", b"{}")] * 20, connections=1, seconds=30, warmup=0)
    # Four answered 503, the fifth broke its connection, and that connection (the only one) ended the run.
    assert (result.requests, result.statuses, result.errors) == (4, {503: 4}, 5)
    server.close()
