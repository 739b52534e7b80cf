"""Webhooks as a one-stop system receives them: `dossier-dispatch dev` as processes, a receiver on a
real socket that fails for a while, and every message checked with the reference library."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from standardwebhooks import Webhook

from tests.conftest import order_body
from tests.receiver import Receiver, receiver
from tests.system import System

pytestmark = pytest.mark.e2e


@pytest.fixture
def system(tmp_path: Path) -> Iterator[System]:
    running = System(tmp_path, DD_SWEEP_INTERVAL_SECONDS="1")
    running.start()
    yield running
    running.stop()


def test_a_centre_hears_each_step_of_its_orders_once(system: System) -> None:
    with receiver() as hook:
        hook.script = [(503, {"Retry-After": "1"})] * 3  # down at first: the first messages wait and retry
        created = system.api.post("/v1/webhook-endpoints", json={"url": hook.url})
        assert created.status_code == 201, created.text
        secret = created.json()["secret"]
        order_id = system.api.post("/v1/orders", json=order_body()).json()["id"]
        system.wait_for(order_id, "delivered")
        wanted = {"order.created", "order.booked", "order.delivered", "dossier.result_delivered"}
        deadline = time.monotonic() + 30  # the refused ones come back after 5 s (the schedule's first wait)
        while time.monotonic() < deadline and not wanted <= _types(hook, secret):
            time.sleep(0.2)
        delivered = [Webhook(secret).verify(r.body, r.headers) for r in hook.delivered()]
        types = [m["type"] for m in delivered]
        ids = [r.headers["webhook-id"] for r in hook.delivered()]
        assert len(ids) == len(set(ids))  # each message taken once
        assert wanted <= set(types)
        statuses = [m["data"]["status"] for m in delivered if m["type"] == "order.status_changed"]
        assert statuses[-1] == "delivered" or "delivered" in statuses
        assert any(r.answered == 503 for r in hook.received)  # it did fail, and was retried


def _types(hook: Receiver, secret: str) -> set[str]:
    return {Webhook(secret).verify(r.body, r.headers)["type"] for r in hook.delivered()}
