"""Record the OpenAPI document's examples from real answers: `python -m tests.examples_recorder`.

Runs the api in-process against a fresh embedded store, sends the README's Vietnamese requests (a
delivery, a pickup, a round trip), plays GHN callbacks, registers a webhook endpoint, imports a
statement, and asks for every read. Each request and answer is written to service/openapi_examples.json
under its operation ("GET /v1/orders/{order_id}") and status; `service/openapi.py` puts them into the
document, and tests/test_openapi_examples.py checks each still matches its schema.
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import redis
from litestar.testing import TestClient

from contracts.config import DEMO_CENTRE, dev_config
from contracts.settings import Settings
from service.app import create_app
from service.examples import DELIVERY_EXAMPLE, PICKUP_EXAMPLE, ROUND_TRIP_EXAMPLE
from service.openapi import EXAMPLES_FILE
from workers import context as worker_context
from workers.context import Context
from workers.embedded import ensure_store
from workers.jobs import ingest_callbacks
from workers.store import Principal, Store

KEY, READER, SECRET = "dd_example_key", "dd_example_reader", "example-callback-secret"
FIXTURES = Path(__file__).parent / "fixtures"
Client = TestClient  # type: ignore[type-arg]


class Recorder:
    def __init__(self, api: Client) -> None:
        self.api = api
        self.found: dict[str, dict[str, Any]] = {}

    def call(self, operation: str, summary: str, path: str, *, json_body: Any = None, **kwargs: Any) -> Any:
        method = operation.split(" ", 1)[0]
        if json_body is not None:
            kwargs["json"] = json_body
        response = self.api.request(method, path, **kwargs)
        entry = self.found.setdefault(operation, {"requests": {}, "responses": {}})
        if json_body is not None and response.status_code < 300:
            entry["requests"].setdefault(summary, json_body)
        if response.headers.get("content-type", "").split(";")[0] in ("application/json", "application/problem+json"):
            answers = entry["responses"].setdefault(str(response.status_code), {})
            answers.setdefault(summary, response.json())
        return response

    def delivery(self, dossier_code: str) -> str:
        body = {**DELIVERY_EXAMPLE, "dossier_code": dossier_code}
        return str(self.call("POST /v1/orders", DELIVERY, "/v1/orders", json_body=body).json()["id"])


DELIVERY = "Delivery of a result to the citizen's home"


def _ghn(order_id: str, name: str, at: datetime, **changes: Any) -> bytes:
    payload = msgspec.json.decode((FIXTURES / "ghn" / name).read_bytes())
    payload.update(ClientOrderCode=order_id, Time=at.isoformat(), **changes)
    return msgspec.json.encode(payload)


def _statement(tracking_code: str, reference: str) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["Mã đơn GHN", "Mã đơn khách hàng", "Tiền thu hộ", "Tổng phí"])
    writer.writerow([tracking_code, reference, "8.000", "22.000"])
    writer.writerow(["GHN0000NOPE", "", "0", "16.500"])
    return ("\ufeff" + out.getvalue()).encode()


def record(api: Client, ctx: Context, stop_store: Callable[[], None]) -> dict[str, dict[str, Any]]:
    rec = Recorder(api)
    now = datetime.now(UTC).replace(microsecond=0)
    created = rec.call("POST /v1/orders", DELIVERY, "/v1/orders",
                       json_body=DELIVERY_EXAMPLE, headers={"Idempotency-Key": "4f7b0c2e-hs-0001"})  # fmt: skip
    delivery = created.json()["id"]
    pickup = rec.call("POST /v1/orders", "Pickup of a dossier at the citizen's home", "/v1/orders",
                      json_body=PICKUP_EXAMPLE).json()["id"]  # fmt: skip
    rec.call("POST /v1/orders", "Round trip: pickup now, delivery of the result later", "/v1/orders",
             json_body=ROUND_TRIP_EXAMPLE)  # fmt: skip
    lost = rec.delivery("000.00.01.H26-261121-0009")

    # The courier's story: booked, a failed attempt, then delivered; another order lost.
    feed = [
        (delivery, "callback_create.json", now - timedelta(hours=5), {"OrderCode": "GHNK8Q2TX"}),
        (delivery, "callback_delivery_fail.json", now - timedelta(hours=3), {"OrderCode": "GHNK8Q2TX"}),
        (delivery, "callback_delivered.json", now - timedelta(hours=1), {"OrderCode": "GHNK8Q2TX"}),
        (pickup, "callback_create.json", now - timedelta(hours=2), {"OrderCode": "GHNP4M7VA"}),
        (lost, "callback_create.json", now - timedelta(hours=4), {"OrderCode": "GHNL9Z3CE"}),
        (lost, "callback_lost.json", now - timedelta(hours=1), {"OrderCode": "GHNL9Z3CE"}),
    ]
    for order_id, name, at, changes in feed:
        body = _ghn(order_id, name, at, **changes)
        rec.call("POST /v1/callbacks/{courier}", "A GHN callback, kept and acknowledged", "/v1/callbacks/ghn",
                 content=body, params={"token": SECRET}, headers={"content-type": "application/json"})  # fmt: skip
    ingest_callbacks("ghn")

    rec.call("GET /v1/orders/{order_id}", "A result delivered to the citizen", f"/v1/orders/{delivery}")
    rec.call("GET /v1/orders/{order_id}/events", "Booked, a failed attempt, delivered", f"/v1/orders/{delivery}/events")
    rec.call("GET /v1/orders", "The centre's orders, newest first", "/v1/orders", params={"limit": 2})
    rec.call("GET /v1/dossiers/{dossier_code}", "A round trip's two legs",
             f"/v1/dossiers/{ROUND_TRIP_EXAMPLE['dossier_code']}")  # fmt: skip
    rec.call("POST /v1/dossiers/{dossier_code}/result-ready", "The result is ready for home delivery",
             f"/v1/dossiers/{ROUND_TRIP_EXAMPLE['dossier_code']}/result-ready")  # fmt: skip
    rec.call("GET /v1/exceptions", "A lost dossier needs a claim", "/v1/exceptions")
    rec.call("GET /v1/couriers", "Every circuit closed", "/v1/couriers")
    second, third = rec.delivery("000.00.01.H26-261121-0010"), rec.delivery("000.00.01.H26-261121-0011")
    rec.call("POST /v1/orders/{order_id}/cancel", "Cancelled before the courier had it", f"/v1/orders/{third}/cancel")
    rec.call("POST /v1/orders/{order_id}/reroute", "Sent by VNPost instead", f"/v1/orders/{second}/reroute",
             json_body={"courier": "vnpost"})  # fmt: skip

    endpoint = {
        "url": "https://motcua.hanoi.gov.vn/hooks/dossier-dispatch",
        "event_types": ["order.status_changed", "order.delivered", "order.exception"],
        "description": "Hệ thống thông tin giải quyết TTHC Hà Nội",
    }
    made = rec.call("POST /v1/webhook-endpoints", "The centre's system listens for changes", "/v1/webhook-endpoints",
                    json_body=endpoint)  # fmt: skip
    endpoint_id = made.json().get("id", "none")
    rec.call("GET /v1/webhook-endpoints", "The centre's endpoints", "/v1/webhook-endpoints")
    rec.call("GET /v1/webhook-endpoints/{endpoint_id}", "One endpoint", f"/v1/webhook-endpoints/{endpoint_id}")
    rec.call("PATCH /v1/webhook-endpoints/{endpoint_id}", "Only delivered results",
             f"/v1/webhook-endpoints/{endpoint_id}", json_body={"event_types": ["order.delivered"]})  # fmt: skip
    rec.call("GET /v1/webhook-endpoints/{endpoint_id}/attempts", "Deliveries to the endpoint",
             f"/v1/webhook-endpoints/{endpoint_id}/attempts")  # fmt: skip
    rec.call("POST /v1/webhook-endpoints/{endpoint_id}/recover", "Send again what failed since yesterday",
             f"/v1/webhook-endpoints/{endpoint_id}/recover",
             json_body={"since": (now - timedelta(days=1)).isoformat()})  # fmt: skip

    month = now.strftime("%Y-%m")
    rec.call("PUT /v1/reports/totals/{month}", "The centre's totals for the month", f"/v1/reports/totals/{month}",
             json_body={"dossiers_received": 1240, "results_returned": 1175})  # fmt: skip
    rec.call("GET /v1/reports/monthly", "The month's figures", "/v1/reports/monthly", params={"month": month})
    quarter = f"{now.year}-Q{(now.month - 1) // 3 + 1}"
    rec.call("GET /v1/reports/quarterly", "The quarter's figures", "/v1/reports/quarterly", params={"quarter": quarter})
    rec.call("GET /v1/reports/yearly", "The year's figures", "/v1/reports/yearly", params={"year": now.year})

    tracking = api.get(f"/v1/orders/{delivery}").json()["tracking_code"]
    statement = rec.call("POST /v1/statements", "GHN's monthly statement, CSV", "/v1/statements",
                         params={"courier": "ghn"}, content=_statement(tracking, delivery),
                         headers={"content-type": "text/csv"})  # fmt: skip
    statement_id = statement.json().get("id", "none")
    rec.call("GET /v1/statements", "Statements imported", "/v1/statements")
    rec.call("GET /v1/statements/{statement_id}", "One statement's result", f"/v1/statements/{statement_id}")
    rec.call("GET /v1/units/provinces", "The 34 provinces (first ones)", "/v1/units/provinces")
    rec.call("GET /v1/units/provinces/{province_code}/wards", "Hà Nội's wards (first ones)",
             "/v1/units/provinces/01/wards")  # fmt: skip
    rec.call("GET /health", "Up", "/health")

    # Problems, as they are answered.
    rec.call("POST /v1/orders", "A field is invalid", "/v1/orders",
             json={**DELIVERY_EXAMPLE, "citizen": {**DELIVERY_EXAMPLE["citizen"], "phone": "0123"}})  # fmt: skip
    rec.call("POST /v1/orders", "The body is not JSON", "/v1/orders", content=b"{",
             headers={"content-type": "application/json"})  # fmt: skip
    rec.call("POST /v1/orders", "An Idempotency-Key reused with another body", "/v1/orders",
             json={**DELIVERY_EXAMPLE, "dossier_code": "000.00.01.H26-261121-0099"},
             headers={"Idempotency-Key": "4f7b0c2e-hs-0001"})  # fmt: skip
    rec.call("GET /v1/orders/{order_id}", "No such order for this centre", "/v1/orders/o01JD5QZ4V8K2N3M")
    rec.call("POST /v1/orders/{order_id}/cancel", "Too late: the result was delivered",
             f"/v1/orders/{delivery}/cancel")  # fmt: skip
    rec.call("GET /v1/orders", "No API key", "/v1/orders", headers={"Authorization": ""})
    rec.call("POST /v1/orders/{order_id}/cancel", "A read-only key", f"/v1/orders/{delivery}/cancel",
             headers={"Authorization": f"Bearer {READER}"})  # fmt: skip
    rec.call("POST /v1/callbacks/{courier}", "A forged callback", "/v1/callbacks/ghn",
             content=_ghn(delivery, "callback_delivered.json", now), params={"token": "forged"},
             headers={"content-type": "application/json"})  # fmt: skip
    old = _ghn(delivery, "callback_delivered.json", now - timedelta(days=30))
    ctx.settings = msgspec.structs.replace(ctx.settings, dd_callback_max_age_hours=72)
    rec.call("POST /v1/callbacks/{courier}", "A replay of an old payload", "/v1/callbacks/ghn", content=old,
             params={"token": SECRET}, headers={"content-type": "application/json"})  # fmt: skip
    # The store is away: every write is refused with 503 and Retry-After.
    stop_store()
    rec.call("POST /v1/orders", "The store could not confirm the write: retry", "/v1/orders",
             json={**DELIVERY_EXAMPLE, "dossier_code": "000.00.01.H26-261121-0012"})  # fmt: skip
    return rec.found


def _trim(found: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Long lists are cut to their first items: an example, not a data dump."""

    def cut(value: Any) -> Any:
        if isinstance(value, list):
            return [cut(item) for item in value[:3]]
        if isinstance(value, dict):
            return {key: cut(item) for key, item in value.items()}
        return value

    return cut(found)  # type: ignore[no-any-return]


def main() -> None:
    with tempfile.TemporaryDirectory() as data:
        store = ensure_store(Path(data))
        try:
            settings = Settings(redis_url=store.url, dd_dev_api_key=KEY, dd_dev_callback_secret=SECRET,
                                dd_sandbox_port=9, dd_callback_max_age_hours=0,
                                dd_webhook_egress="")  # fmt: skip
            client = redis.Redis.from_url(store.url)
            config = dev_config(settings)
            ctx = Context(settings=settings, config=config, store=Store(client, centres=config.centres))
            ctx.store.save_api_key(KEY, Principal(centre=DEMO_CENTRE))
            ctx.store.save_api_key(READER, Principal(centre=DEMO_CENTRE, scopes=("orders:read",)))
            worker_context.install(ctx)
            with TestClient(create_app(settings, ctx=ctx)) as api:
                api.headers["Authorization"] = f"Bearer {KEY}"
                found = _trim(record(api, ctx, store.stop))
        finally:
            store.stop()
    EXAMPLES_FILE.write_text(json.dumps(found, ensure_ascii=False, indent=1, sort_keys=True) + "\n")
    print(f"wrote {EXAMPLES_FILE}: {len(found)} operations")


if __name__ == "__main__":
    main()
