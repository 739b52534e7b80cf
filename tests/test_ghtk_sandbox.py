"""The GHTK sandbox on a real store: GHTK's paths, envelope and auth, counts, cancel rules, form callbacks."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import msgspec
import pytest
import redis
import redis.asyncio as aredis
from litestar import Litestar
from litestar.testing import TestClient

from contracts.config import dev_config
from contracts.couriers import CallbackRequest, Party, Shipment, ghtk
from contracts.settings import Settings
from contracts.statuses import Status
from service.sandboxes.base import Chaos, SandboxCore
from service.sandboxes.ghtk import STORIES, GhtkSandbox, router
from workers.embedded import EmbeddedStore

SECRET = "test-callback-secret"
HEADERS = {"Token": "sandbox-ghtk-token", "X-Client-Source": "S-DEMO"}
CREATE = "/ghtk/services/shipment/order/?ver=1.5"
SHIPMENT = Shipment(
    reference="o01TESTORDER",
    sender=Party(name="Trung tâm (demo)", phone="0912000111", street="1 Tràng Tiền", ward_name="Phường Hoàn Kiếm",
                 province_name="Thành phố Hà Nội"),
    receiver=Party(name="Nguyễn Văn A", phone="0912345678", street="12 Phố Huế", ward_name="Phường Ba Đình",
                   province_name="Thành phố Hà Nội"),
    document_count=1,
    weight_grams=210,
)  # fmt: skip


class World:
    def __init__(self, api: TestClient[Litestar], store: redis.Redis, sandbox: GhtkSandbox) -> None:
        self.api, self.store, self.sandbox = api, store, sandbox
        self.posted: list[httpx.Request] = []

    def create(self, reference: str = "o01TESTORDER", headers: dict[str, str] = HEADERS) -> httpx.Response:
        shipment = msgspec.structs.replace(SHIPMENT, reference=reference)
        body = ghtk.encode_shipment(shipment, self.sandbox.accounts["sandbox-ghtk-token"])
        return self.api.post(CREATE, content=body, headers={**headers, "Content-Type": "application/json"})

    def label(self, reference: str = "o01TESTORDER") -> str:
        return str(self.create(reference).json()["order"]["label"])

    def counts(self) -> dict[str, int]:
        raw = self.store.hgetall("sbx:ghtk:shipments")
        return {(k.decode() if isinstance(k, bytes) else k): int(v) for k, v in raw.items()}

    def wait_for_posts(self, count: int) -> None:
        deadline = time.monotonic() + 5
        while len(self.posted) < count and time.monotonic() < deadline:
            time.sleep(0.01)


@pytest.fixture
def world(embedded: EmbeddedStore) -> Iterator[World]:
    store = redis.Redis.from_url(embedded.url)
    store.flushdb()
    settings = Settings(
        redis_url=embedded.url, dd_sandbox_autoplay=False, dd_dev_callback_secret=SECRET, dd_sandbox_step_seconds=0.01
    )
    core = SandboxCore(settings, aredis.Redis.from_url(embedded.url))
    sandbox = GhtkSandbox(core, dev_config(settings))
    posted: list[httpx.Request] = []

    async def receive(request: httpx.Request) -> httpx.Response:
        posted.append(request)  # stands in for our `/v1/callbacks/ghtk`
        return httpx.Response(200, json={"success": True})

    core.http = httpx.AsyncClient(transport=httpx.MockTransport(receive))

    async def close() -> None:
        await core.close()
        await core.store.aclose()

    app = Litestar(route_handlers=[router(sandbox)], on_shutdown=[close])
    with TestClient(app) as api:
        state = World(api, store, sandbox)
        state.posted = posted
        yield state
    store.close()


def test_create_answers_ghtks_order_and_counts_the_shipment(world: World) -> None:
    answer = world.create()
    assert answer.status_code == 200
    body = answer.json()
    assert body["success"] is True
    order = body["order"]
    assert (order["partner_id"], order["status_id"]) == ("o01TESTORDER", 2)
    assert order["label"].startswith("S") and order["label"].count(".") == 2
    assert ghtk.decode_created(answer.content).tracking_code == order["label"]
    assert world.counts() == {"o01TESTORDER": 1}
    assert world.store.exists(f"sbx:ghtk:order:{order['label']}", "sbx:ghtk:partner:o01TESTORDER") == 2


@pytest.mark.parametrize(
    "headers",
    [{}, {"Token": "wrong", "X-Client-Source": "S-DEMO"}, {"Token": "sandbox-ghtk-token", "X-Client-Source": "OTHER"}],
)
def test_wrong_token_or_client_source_is_refused_and_books_nothing(world: World, headers: dict[str, str]) -> None:
    answer = world.create(headers=headers)
    assert answer.status_code == 401 and answer.json()["success"] is False
    assert world.api.get("/ghtk/services/shipment/v2/partner_id:o01TESTORDER", headers=headers).status_code == 401
    assert world.counts() == {}


def test_create_without_ver_1_5_or_required_fields_is_an_envelope_error(world: World) -> None:
    body = msgspec.json.decode(ghtk.encode_shipment(SHIPMENT, world.sandbox.accounts["sandbox-ghtk-token"]))
    assert world.api.post("/ghtk/services/shipment/order/", json=body, headers=HEADERS).json()["success"] is False
    for field in ("tel", "pick_money", "province"):
        broken = {**body, "order": {k: v for k, v in body["order"].items() if k != field}}
        answer = world.api.post(CREATE, json=broken, headers=HEADERS)
        assert answer.status_code == 200
        assert answer.json()["success"] is False and field in answer.json()["message"]
    assert world.counts() == {}


@pytest.mark.parametrize(("mode", "success", "count"), [("accept", True, 2), ("reject", False, 1)])
def test_duplicate_reference_does_what_chaos_says(world: World, mode: str, success: bool, count: int) -> None:
    world.store.set("sbx:chaos", msgspec.json.encode(Chaos(duplicate_reference=mode)))  # type: ignore[arg-type]
    first = world.label()
    again = world.create()
    assert again.json()["success"] is success
    assert world.counts() == {"o01TESTORDER": count}
    found = world.api.get("/ghtk/services/shipment/v2/partner_id:o01TESTORDER", headers=HEADERS).json()
    assert (found["order"]["label_id"] == first) is not success


def test_injected_503s_book_nothing(world: World) -> None:
    world.store.set("sbx:chaos", msgspec.json.encode(Chaos(error_rate=1.0)))
    assert world.create().status_code == 503
    assert world.api.get("/ghtk/services/shipment/v2/partner_id:o01X", headers=HEADERS).status_code == 503
    assert world.counts() == {}


def test_lookup_by_reference_and_by_label_in_ghtks_shape(world: World) -> None:
    label = world.label()
    by_reference = world.api.get("/ghtk/services/shipment/v2/partner_id:o01TESTORDER", headers=HEADERS)
    by_label = world.api.get(f"/ghtk/services/shipment/v2/{label}", headers=HEADERS)
    assert by_reference.json() == by_label.json()
    order = by_label.json()["order"]
    assert (order["label_id"], order["partner_id"], order["status"]) == (label, "o01TESTORDER", "2")
    assert ghtk.decode_found(by_reference.content).tracking_code == label
    [update] = ghtk.decode_tracked(by_label.content)
    assert update.status is Status.BOOKED


def test_lookup_of_an_unknown_order_is_success_false(world: World) -> None:
    answer = world.api.get("/ghtk/services/shipment/v2/partner_id:nobody", headers=HEADERS)
    assert answer.status_code == 200
    with pytest.raises(ghtk.EnvelopeError):
        ghtk.decode_found(answer.content)


def test_cancel_before_pickup_cancels_and_calls_back_with_reason_115(world: World) -> None:
    label = world.label()
    answer = world.api.post(f"/ghtk/services/shipment/cancel/{label}", headers=HEADERS)
    assert answer.status_code == 200 and answer.json()["success"] is True
    status = world.api.get(f"/ghtk/services/shipment/v2/{label}", headers=HEADERS).json()["order"]["status"]
    assert status == "-1"
    world.wait_for_posts(1)
    [update] = ghtk.callback_updates(world.posted[0].content)
    assert (update.status, update.reason_code, update.tracking_code) == (Status.CANCELLED, "115", label)


def test_cancel_after_pickup_is_refused_in_ghtks_words(world: World) -> None:
    label = world.label()
    assert world.api.post(f"/ghtk/_sandbox/orders/{label}/push", json={"status": "3"}).json() == {"posted": True}
    answer = world.api.post("/ghtk/services/shipment/cancel/partner_id:o01TESTORDER", headers=HEADERS)
    assert answer.json() == {"success": False, "message": "Đơn đã lấy hàng, không thể hủy đơn."}
    with pytest.raises(ghtk.EnvelopeError, match="không thể hủy"):
        ghtk.decode_cancelled(answer.content)


def test_push_posts_a_form_callback_our_decoder_and_verifier_accept(world: World) -> None:
    label = world.label()
    pushed = world.api.post(f"/ghtk/_sandbox/orders/{label}/push", json={"status": "9", "reason_code": "131"})
    assert pushed.json() == {"posted": True}
    [request] = world.posted
    assert request.url.path == "/v1/callbacks/ghtk"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    incoming = CallbackRequest(query=dict(request.url.params), headers={}, body=request.content, remote="127.0.0.1")
    assert ghtk.authenticate(incoming, world.sandbox.accounts["sandbox-ghtk-token"])
    [update] = ghtk.callback_updates(request.content)
    assert (update.status, update.reason_code, update.reference) == (Status.DELIVERY_FAILED, "131", "o01TESTORDER")


def test_push_refuses_a_status_that_is_not_a_ghtk_id(world: World) -> None:
    label = world.label()
    assert world.api.post(f"/ghtk/_sandbox/orders/{label}/push", json={"status": "delivered"}).status_code == 400
    assert world.api.post("/ghtk/_sandbox/orders/S1.X.1/push", json={"status": "5"}).status_code == 502


def test_every_story_ends_in_a_final_status_and_lost_uses_ghtk_compensation() -> None:
    ends: dict[str, Any] = {name: steps[-1][0] for name, steps in STORIES.items()}
    assert ends == {"delivered": 6, "failed_then_delivered": 6, "returned": 11, "lost": 13}


def test_resume_carries_on_with_parcels_in_flight_only(world: World) -> None:
    in_flight, cancelled = world.label("o01A"), world.label("o01B")
    world.api.post(f"/ghtk/services/shipment/cancel/{cancelled}", headers=HEADERS)
    assert world.api.blocking_portal.call(world.sandbox.resume) == 1
    story = STORIES["delivered"]
    world.wait_for_posts(len(story) + 1)  # the cancellation's callback, then the whole story
    labels = {ghtk.decode_callback(r.content).label_id for r in world.posted}
    assert labels == {in_flight, cancelled}
    final = world.api.get(f"/ghtk/services/shipment/v2/{in_flight}", headers=HEADERS).json()["order"]["status"]
    assert final == str(story[-1][0])
