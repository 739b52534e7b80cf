"""Intake under a profiler: `python -m bench.profile [--callbacks COURIER] [--py-spy FILE] [--seconds S]`.

Starts a fresh embedded store and the api as `dossier-dispatch api` runs it, sends `POST /v1/orders`
(fresh Idempotency-Keys; with `--callbacks ghn`, that courier's callbacks instead, with no ingest
worker) for S seconds, and prints requests/s with the CPU the api process, the store and this load
generator used, from /proc (so the CPU per request is known without a profiler's overhead). With
`--py-spy FILE`, py-spy (the `bench` extra) records the api process meanwhile in its raw (collapsed
stacks) format; py-spy slows the api, so read its shares, not its rate. The store runs `appendfsync
always`, as the product's does.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis

from bench import load
from bench.run import (
    COURIERS,
    KEY,
    _api_env,
    _callback_requests,
    _cli,
    _cpu_seconds,
    _order_requests,
    _port,
    _process,
    _tree_cpu,
)
from contracts.config import DEMO_CENTRE
from workers.embedded import ensure_store
from workers.store import Principal, Store


def _commands(url: str) -> dict[str, int]:
    with redis.Redis.from_url(url) as client:
        stats = client.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(value["calls"]) for name, value in stats.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--py-spy", help="record the api with py-spy into this file (raw format)")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--callbacks", choices=COURIERS, help="this courier's callbacks instead of orders")
    parser.add_argument("--connections", type=int, default=64)  # as `bench.run`
    args = parser.parse_args(argv)
    data = Path(tempfile.mkdtemp(prefix="dd-profile-"))
    store = ensure_store(data)
    try:
        Store(redis.Redis.from_url(store.url)).save_api_key(KEY, Principal(centre=DEMO_CENTRE))
        port = _port()
        env = _api_env(store.url, data, port)
        if args.callbacks:
            requests = _callback_requests(args.callbacks, [f"o01PROFILE{n:04d}" for n in range(500)],
                                          int(5000 * args.seconds))  # fmt: skip
        else:
            requests = _order_requests(int(2000 * args.seconds))
        with _process(_cli("api"), env, port) as api:
            spy = None
            if args.py_spy:
                spy = subprocess.Popen(
                    ["py-spy", "record", "--pid", str(api.pid), "--format", "raw", "--rate", "1000",
                     "--duration", str(int(args.seconds) + 1), "--nonblocking", "-o", args.py_spy],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                )  # fmt: skip
            store_pid = store.process.pid if store.process else None
            began, cpu, own = time.monotonic(), _tree_cpu(api.pid), time.process_time()
            store_cpu = _cpu_seconds(store_pid) if store_pid else 0.0
            commands = _commands(store.url)
            result = load.run(port, requests, connections=args.connections, seconds=args.seconds, warmup=0)
            elapsed = time.monotonic() - began
            used = (_tree_cpu(api.pid) - cpu) / elapsed
            loader = (time.process_time() - own) / elapsed
            stored = (_cpu_seconds(store_pid) - store_cpu) / elapsed if store_pid else float("nan")
            commands = {name: calls - commands.get(name, 0) for name, calls in _commands(store.url).items()}
            if spy is not None:
                spy.wait()
        per_order = used / result.rate * 1000 if result.rate else float("nan")
        what = f"{args.callbacks} callbacks" if args.callbacks else "orders"
        print(f"{result.rate:.0f} {what}/s, api CPU {used:.0%} of a core, {per_order:.2f} ms CPU per request, "
              f"store CPU {stored:.0%}, load generator CPU {loader:.0%}, "
              f"p50 {result.percentile(50) * 1000:.1f} ms, errors {result.errors}")  # fmt: skip
        # How well the api's rounds batch: store commands (a script is one) and fsync waits per request.
        if result.requests:
            per = {name: round(calls / result.requests, 3) for name, calls in sorted(commands.items()) if calls}
            print(f"store commands per request: {per}")
    finally:
        store.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
