"""`dossier-dispatch keys create` works against the running store and prints the key once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from workers.context import Context
from workers.embedded import EmbeddedStore

ROOT = Path(__file__).parent.parent


def _cli(*args: str, env: dict[str, str]) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "service.cli", *args], capture_output=True, text=True, cwd=ROOT, env=env, check=True
    )
    return result.stdout.strip()


def test_keys_create_finds_the_running_embedded_store(embedded: EmbeddedStore, ctx: Context) -> None:
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env["DD_DATA_DIR"] = str(embedded.directory.parent)  # no REDIS_URL: found through the data dir
    key = _cli("keys", "create", "--centre", "HN-HCC", "--scope", "orders:read", env=env)
    assert key.startswith("dd_") and len(key) > 30
    principal, _used = ctx.store.principal(key)
    assert principal is not None and principal.centre == "HN-HCC" and principal.scopes == ("orders:read",)
    assert ctx.store.client.keys(f"*{key}*") == []  # stored as a digest, never as the key itself


def test_keys_default_to_orders_and_webhooks_as_the_help_says(embedded: EmbeddedStore, ctx: Context) -> None:
    key = _cli("keys", "create", "--centre", "DEMO", env={**os.environ, "REDIS_URL": embedded.url})
    principal, _used = ctx.store.principal(key)
    assert principal is not None and principal.scopes == ("orders:read", "orders:write", "webhooks:manage")


def test_callbacks_replay_runs_against_the_running_store(embedded: EmbeddedStore, ctx: Context) -> None:
    out = _cli(
        "callbacks",
        "replay",
        "--courier",
        "ghn",
        "--since",
        "2026-11-01",
        env={**os.environ, "REDIS_URL": embedded.url},
    )
    assert out.startswith("replayed 0 ghn callbacks received since 2026-11-01T00:00:00+07:00")


def test_the_worker_and_the_api_settle_the_garbage_collector_before_they_serve(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gc

    import rq
    import uvicorn

    from service import cli
    from workers.context import YOUNG_OBJECTS

    seen: list[tuple[int, int]] = []

    def serve(*_args: object, **_kwargs: object) -> None:  # where the process would start its loop
        seen.append((gc.get_threshold()[0], gc.get_freeze_count()))

    before = gc.get_threshold()
    monkeypatch.setattr(rq.SimpleWorker, "work", serve)
    monkeypatch.setattr(uvicorn, "run", serve)
    try:
        cli.run_worker("ingest", burst=True)
        gc.unfreeze()
        gc.set_threshold(*before)  # as a fresh process has it
        cli.run_api(ctx.settings)
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
    assert before[0] < YOUNG_OBJECTS
    assert [threshold for threshold, _ in seen] == [YOUNG_OBJECTS, YOUNG_OBJECTS]
    assert all(frozen > 10_000 for _, frozen in seen)  # what they built is out of the collector's way
