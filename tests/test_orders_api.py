"""POST/GET /v1/orders over the real store: durable create with its job, idempotency, problems, tenancy."""

from __future__ import annotations

import time

import pytest
from litestar.testing import TestClient

from tests.conftest import OTHER_KEY, order_body
from workers import keys
from workers.context import Context
from workers.queues import queue

Client = TestClient  # type: ignore[type-arg]


def test_create_stores_order_and_dispatch_job_together(api: Client, ctx: Context) -> None:
    response = api.post("/v1/orders", json=order_body())
    assert response.status_code == 201, response.text
    order = response.json()
    assert order["status"] == "accepted" and order["courier"] == "ghn" and order["tracking_code"] is None
    assert response.headers["location"] == f"/v1/orders/{order['id']}"
    assert ctx.store.get_order(order["id"]) is not None
    assert ctx.store.client.zrange(keys.ADMIT, 0, -1) == [order["id"].encode()]  # its first job
    jobs = queue("dispatch", ctx.store.client).get_jobs()
    assert [j.func_name for j in jobs] == ["workers.dispatch.admit_orders"]  # which drains the queue
    assert ctx.store.client.zscore(keys.DUE, order["id"]) is not None
    api.post("/v1/orders", json=order_body())
    assert len(queue("dispatch", ctx.store.client).get_jobs()) == 1  # one drain for many orders


def test_order_id_carries_the_province(api: Client) -> None:
    assert api.post("/v1/orders", json=order_body()).json()["id"].startswith("o01")


def test_phone_is_normalised_and_never_echoed(api: Client, ctx: Context) -> None:
    order = api.post("/v1/orders", json=order_body()).json()
    assert "phone" not in str(order) and "0912345678" not in str(order)
    stored = ctx.store.get_order(order["id"])
    assert stored is not None and stored.citizen.phone == "0912345678"


def test_idempotency_key_replays_the_same_order(api: Client, ctx: Context) -> None:
    first = api.post("/v1/orders", json=order_body(), headers={"Idempotency-Key": "abc-1"})
    again = api.post("/v1/orders", json=order_body(), headers={"Idempotency-Key": "abc-1"})
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["idempotent-replayed"] == "true"
    assert len(queue("dispatch", ctx.store.client).get_jobs()) == 1


def test_idempotency_key_reused_with_other_body_is_a_conflict(api: Client) -> None:
    api.post("/v1/orders", json=order_body(), headers={"Idempotency-Key": "abc-2"})
    response = api.post("/v1/orders", json=order_body(kind="pickup"), headers={"Idempotency-Key": "abc-2"})
    assert response.status_code == 409
    assert response.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (order_body(kind="teleport"), "kind"),
        (order_body(citizen={"name": "A"}), "citizen.phone"),
        (order_body(citizen={"name": "A", "phone": "12345"}), "citizen.phone"),
        (order_body(extra_field=1), "extra_field"),
        (order_body(dossier_code="x" * 65), "dossier_code"),
        (order_body(documents=[]), "documents"),
        (order_body(courier="dhl"), "courier"),
        (order_body(address={"province_code": "99", "ward_code": "00004", "street": "x"}), "address.province_code"),
        (order_body(address={"province_code": "01", "ward_code": "99999", "street": "x"}), "address.ward_code"),
        (order_body(address={"province_code": "79", "ward_code": "00004", "street": "x"}), "address.ward_code"),
    ],
)
def test_bad_order_is_a_problem_naming_the_field(
    api: Client, ctx: Context, body: dict[str, object], field: str
) -> None:
    response = api.post("/v1/orders", json=body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["status"] == 422 and problem["type"].startswith("https://")
    assert field in [p["name"] for p in problem["invalid_params"]]
    assert ctx.store.client.keys("dd:order:*") == []  # nothing was stored...
    assert queue("dispatch", ctx.store.client).count == 0  # ...and nothing was queued


def test_malformed_json_is_400(api: Client) -> None:
    response = api.post("/v1/orders", content=b"{nope", headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize("header", [None, "Bearer wrong", "Basic abc", "Bearer "])
def test_missing_or_wrong_api_key_is_401(api: Client, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    api.headers.pop("Authorization")
    response = api.post("/v1/orders", json=order_body(), headers=headers)
    assert response.status_code == 401
    assert response.json()["status"] == 401


def test_a_centre_cannot_see_another_centres_order(api: Client) -> None:
    order_id = api.post("/v1/orders", json=order_body()).json()["id"]
    assert api.get(f"/v1/orders/{order_id}").status_code == 200
    other = api.get(f"/v1/orders/{order_id}", headers={"Authorization": f"Bearer {OTHER_KEY}"})
    assert other.status_code == 404
    assert api.get(f"/v1/orders/{order_id}/events", headers={"Authorization": f"Bearer {OTHER_KEY}"}).status_code == 404


def test_list_pages_newest_first(api: Client) -> None:
    ids = [api.post("/v1/orders", json=order_body()).json()["id"] for _ in range(3)]
    first = api.get("/v1/orders", params={"limit": 2}).json()
    assert [o["id"] for o in first["orders"]] == ids[::-1][:2]
    rest = api.get("/v1/orders", params={"limit": 2, "cursor": first["next_cursor"]}).json()
    assert [o["id"] for o in rest["orders"]] == ids[:1]
    assert rest["next_cursor"] is None


def test_health_and_openapi(api: Client) -> None:
    assert api.get("/health").json() == {"status": "ok"}
    schema = api.get("/schema/openapi.json").json()
    assert "/v1/orders" in schema["paths"] and "/v1/callbacks/{courier}" in schema["paths"]


def test_order_is_not_acknowledged_when_the_store_cannot_fsync(api: Client, ctx: Context) -> None:
    client = ctx.store.client
    client.config_set("appendonly", "no")  # a store that can no longer promise the write is on disk
    try:
        refused = api.post("/v1/orders", json=order_body(), headers={"Idempotency-Key": "k-503"})
        assert refused.status_code == 503
        assert refused.json()["type"].endswith("not-durable")
        assert not client.exists(keys.ADMIT_KICK)  # the job kick it claimed is given back for the next order
        again = api.post("/v1/orders", json=order_body(), headers={"Idempotency-Key": "k-503"})
        assert again.status_code == 503  # a retry is not acknowledged either while the fsync is impossible
    finally:
        client.config_set("appendonly", "yes")
        while client.info("persistence")["aof_rewrite_in_progress"]:
            time.sleep(0.01)
    replay = api.post("/v1/orders", json=order_body(), headers={"Idempotency-Key": "k-503"})
    assert replay.status_code == 201 and replay.headers["idempotent-replayed"] == "true"


def test_bad_cursor_is_a_problem_not_a_crash(api: Client) -> None:
    response = api.get("/v1/orders", params={"cursor": "not-a-number"})
    assert response.status_code == 422
    assert response.json()["invalid_params"][0]["name"] == "cursor"


def test_an_unknown_query_parameter_is_refused_naming_it(api: Client) -> None:
    response = api.get("/v1/orders", params={"statuss": "delivered", "limit": 5})
    assert response.status_code == 422
    assert response.json()["invalid_params"] == [{"name": "statuss", "reason": "not a parameter of this operation"}]
    assert api.get("/v1/orders", params={"status": "delivered", "limit": 5}).status_code == 200
    assert api.get("/v1/reports/monthly", params={"month": "2026-11", "lang": "vi"}).status_code == 200


def test_the_query_parameters_taken_are_those_the_document_lists(api: Client) -> None:
    from service.problems import _query_names

    document = api.get("/schema/openapi.json").json()
    checked = 0
    for route in api.app.routes:
        for handler in getattr(route, "route_handlers", []):
            for method in handler.http_methods - {"OPTIONS", "HEAD"}:
                operation = document["paths"].get(route.path_format, {}).get(method.lower())
                if operation is None or handler.opt.get("any_query"):
                    continue
                listed = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
                assert _query_names(handler) - set(route.path_parameters) == listed, (method, route.path_format)
                checked += 1
    assert checked > 30


def test_a_number_is_not_taken_for_a_date_time(api: Client) -> None:
    refused = api.get("/v1/orders", params={"created_to": "-6.5973741781180935e-22"})
    assert refused.status_code == 422
    assert refused.json()["invalid_params"][0]["name"] == "created_to"
    assert api.get("/v1/orders", params={"created_to": "2026-11-21T08:00:00+07:00"}).status_code == 200
