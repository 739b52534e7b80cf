"""Ingest alone: `python -m bench.ingest [--courier ghn] [--callbacks 40000] [--py-spy FILE]`.

Starts a fresh embedded store and the api, creates `callbacks / 8` orders at the courier (a journey's
worth of callbacks each, as `bench.run` gives them), stores that many distinct callbacks through the
api with no ingest worker running, then applies them all in this process, as one ingest job that stays
until the stream is empty, and prints the callbacks applied per second with the CPU this process spent
per callback (from `time.process_time`, so without a profiler's overhead). With `--py-spy FILE`, py-spy
(the `bench` extra) records this process meanwhile in its raw format; read its shares, not its rate.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis

from bench import load
from bench.run import JOURNEY, KEY, _api_env, _callback_requests, _cli, _orders, _port, _process
from contracts.config import DEMO_CENTRE
from workers.embedded import ensure_store
from workers.store import Principal, Store


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--courier", default="ghn", choices=["ghn", "ghtk", "viettelpost", "vnpost"])
    parser.add_argument("--callbacks", type=int, default=40_000)
    parser.add_argument("--py-spy", help="record this process with py-spy into this file (raw format)")
    args = parser.parse_args(argv)
    data = Path(tempfile.mkdtemp(prefix="dd-ingest-"))
    store = ensure_store(data)
    try:
        client = redis.Redis.from_url(store.url)
        Store(client).save_api_key(KEY, Principal(centre=DEMO_CENTRE))
        port = _port()
        env = _api_env(store.url, data, port)
        with _process(_cli("api"), env, port):
            orders = _orders(client, port, args.courier, args.callbacks // JOURNEY)
            stored = load.run(port, _callback_requests(args.courier, orders, args.callbacks),
                              connections=32, seconds=3600, warmup=0)  # fmt: skip
            assert stored.errors == 0, stored.statuses
        os.environ.update(env)  # this process becomes the ingest worker
        from workers import jobs
        from workers.context import current, settle_garbage_collector

        jobs.INGEST_JOB_SECONDS = float("inf")  # one job, until the stream is empty
        current()
        settle_garbage_collector()  # as `dossier-dispatch worker` does once it is built
        spy = None
        if args.py_spy:
            spy = subprocess.Popen(
                ["py-spy", "record", "--pid", str(os.getpid()), "--format", "raw", "--rate", "250",
                 "--nonblocking", "-o", args.py_spy],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            time.sleep(1)  # py-spy attaching
        began, cpu = time.perf_counter(), time.process_time()
        applied = jobs.ingest_callbacks(args.courier)
        elapsed, used = time.perf_counter() - began, time.process_time() - cpu
        if spy is not None:
            spy.send_signal(signal.SIGINT)  # py-spy writes its file on an interrupt
            spy.wait()
        print(f"{applied} {args.courier} callbacks applied in {elapsed:.2f} s: {applied / elapsed:.0f}/s, "
              f"{used / applied * 1e6:.0f} µs of CPU per callback")  # fmt: skip
    finally:
        store.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
