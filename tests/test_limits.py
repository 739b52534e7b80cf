"""Abuse limits: request bodies by size, requests per API key per minute (in the store, so shared by
every api replica), and every endpoint's tenant isolation."""

from __future__ import annotations

import msgspec
from litestar.testing import TestClient

from contracts.settings import Settings
from service.app import create_app
from tests.conftest import API_KEY, OTHER_KEY, order_body
from workers.context import Context

Client = TestClient  # type: ignore[type-arg]


def test_oversized_bodies_are_refused_with_a_problem(api: Client) -> None:
    big = api.post("/v1/orders", content=b"{" + b" " * 1_100_000 + b"}", headers={"content-type": "application/json"})
    assert big.status_code == 413 and big.headers["content-type"].startswith("application/problem+json")
    callback = api.post("/v1/callbacks/ghn?token=x", content=b"x" * 300_000)
    assert callback.status_code == 413
    chunked = api.post("/v1/callbacks/ghn?token=x", content=iter([b"x" * 200_000, b"x" * 100_000]))  # no length
    assert chunked.status_code == 413 and chunked.headers["content-type"].startswith("application/problem+json")
    statement = api.post("/v1/statements?courier=ghn", content=b"a,b\n" * 500_000, headers={"content-type": "text/csv"})
    assert statement.status_code == 422  # 2 MB is within a statement's 10 MB: read, then refused for its content


def test_an_api_key_has_a_budget_per_minute_kept_in_the_store(settings: Settings, ctx: Context) -> None:
    limited = msgspec.structs.replace(settings, dd_api_requests_per_minute=5)
    ctx.settings = limited
    # Two app instances over one store: the budget is shared, as between api replicas.
    with TestClient(create_app(limited, ctx=ctx)) as one, TestClient(create_app(limited, ctx=ctx)) as two:
        for client in (one, two):
            client.headers["Authorization"] = f"Bearer {API_KEY}"
        answers = [(one if n % 2 else two).get("/v1/orders").status_code for n in range(6)]
        assert answers == [200] * 5 + [429]
        refused = one.get("/v1/orders")
        assert refused.status_code == 429 and 1 <= int(refused.headers["retry-after"]) <= 60
        other = one.get("/v1/orders", headers={"Authorization": f"Bearer {OTHER_KEY}"})
        assert other.status_code == 200  # another key, another budget


def _operations(api: Client) -> list[tuple[str, str]]:
    schema = api.get("/schema/openapi.json").json()
    return [
        (method.upper(), path) for path, item in schema["paths"].items() for method in item if method != "parameters"
    ]


def test_no_endpoint_shows_or_changes_another_centres_data(api: Client, ctx: Context) -> None:
    """Every operation with a DEMO resource in its path, asked with another centre's key: never 2xx."""
    order_id = api.post("/v1/orders", json=order_body(dossier_code="D-ISO")).json()["id"]
    endpoint = api.post("/v1/webhook-endpoints", json={"url": "https://hooks.example.vn/dd"})
    endpoint_id = endpoint.json()["id"] if endpoint.status_code == 201 else "none"
    lines = "Mã đơn GHN,Tổng phí\nX1,1\n".encode()
    statement = api.post("/v1/statements?courier=ghn", content=lines, headers={"content-type": "text/csv"}).json()["id"]
    values = {"order_id": order_id, "dossier_code": "D-ISO", "endpoint_id": endpoint_id, "message_id": "m",
              "statement_id": statement, "month": "2026-11", "courier": "ghn", "province_code": "01"}  # fmt: skip
    bodies = {"reroute": {"courier": "ghtk"}, "recover": {"since": "2026-01-01T00:00:00Z"}, "totals": {
        "dossiers_received": 1, "results_returned": 1}}  # fmt: skip
    checked = 0
    for method, path in _operations(api):
        if not any(f"{{{name}}}" in path for name in ("order_id", "dossier_code", "endpoint_id", "statement_id")):
            continue
        url = path
        for name, value in values.items():
            url = url.replace(f"{{{name}}}", value)
        body = next((b for word, b in bodies.items() if word in path), {})
        answer = api.request(method, url, json=body if method in ("POST", "PUT", "PATCH") else None,
                             headers={"Authorization": f"Bearer {OTHER_KEY}"})  # fmt: skip
        assert answer.status_code in (403, 404, 409, 422), (method, path, answer.status_code, answer.text)
        checked += 1
    assert checked >= 15
    assert api.get(f"/v1/orders/{order_id}").json()["status"] == "accepted"  # nothing the other centre did stuck


def test_every_answer_carries_the_security_headers(api: Client) -> None:
    for path in ("/v1/orders", "/v1/orders/nope", "/health", "/v1/reports/monthly?month=2026-11&format=html"):
        answer = api.get(path)
        assert answer.headers["x-content-type-options"] == "nosniff", path
        assert answer.headers["referrer-policy"] == "same-origin" and "x-frame-options" in answer.headers
