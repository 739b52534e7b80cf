"""The VNPost sandbox on a real store: MyVNPost's shapes, its auth, counts, cancels, drafts and callbacks."""

from __future__ import annotations

import re
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest
import redis
import redis.asyncio as aredis
from litestar import Litestar
from litestar.testing import TestClient
from pytest_httpx import HTTPXMock

from contracts.config import Config, dev_config
from contracts.couriers import CallbackRequest, build_shipment
from contracts.couriers import vnpost as wire
from contracts.intake import prepare
from contracts.orders import OrderCreate
from contracts.settings import Settings
from contracts.statuses import Status
from service.sandboxes.base import Chaos, SandboxCore
from service.sandboxes.vnpost import STORIES, VnpostSandbox, router
from tests.conftest import SECRET, order_body
from workers.embedded import EmbeddedStore

PUBLIC = "http://api.test"
LOGIN = {"username": "demo", "password": "sandbox-vnpost-password", "customerCode": "DEMO01"}
S10 = re.compile(r"^EN\d{9}VN$")
Client = TestClient[Litestar]


@pytest.fixture
def settings(embedded: EmbeddedStore) -> Settings:
    return Settings(
        redis_url=embedded.url, dd_dev_callback_secret=SECRET, dd_sandbox_autoplay=False, dd_public_url=PUBLIC
    )


@contextmanager
def _sandbox(settings: Settings, config: Config | None = None) -> Iterator[tuple[Client, VnpostSandbox]]:
    """The sandbox served by a test client; its asyncio store lives in the client's own event loop."""
    redis.Redis.from_url(settings.redis_url or "").flushdb()
    store = aredis.Redis.from_url(settings.redis_url or "")
    core = SandboxCore(settings, store)
    sandbox = VnpostSandbox(core, config or dev_config(settings))
    app = Litestar(route_handlers=[router(sandbox)], on_shutdown=[core.close, store.aclose])
    with TestClient(app) as client:
        yield client, sandbox


def _counts(settings: Settings) -> dict[str, int]:
    counts = redis.Redis.from_url(settings.redis_url or "").hgetall("sbx:vnpost:shipments")
    return {k.decode(): int(v) for k, v in counts.items()}


def _chaos(settings: Settings, chaos: Chaos) -> None:
    redis.Redis.from_url(settings.redis_url or "").set("sbx:chaos", msgspec.json.encode(chaos))


def _token(client: Client) -> dict[str, str]:
    answer = client.post("/vnpost/GetAccessToken", json=LOGIN).json()
    assert answer["success"] is True
    return {"token": answer["token"]}


def _body(settings: Settings, reference: str = "o01TESTORDER", **changes: Any) -> dict[str, Any]:
    centre = dev_config(settings).centres["DEMO"]
    [order] = prepare(
        msgspec.convert(order_body(), OrderCreate), centre=centre, new_id=lambda _p: reference, now=datetime.now(UTC)
    )
    body: dict[str, Any] = msgspec.json.decode(
        wire.encode_shipment(build_shipment(order, centre), centre.couriers["vnpost"])
    )
    body["informationOrder"].update(changes.pop("information", {}))
    return body | changes


def _create(client: Client, settings: Settings, headers: dict[str, str], **changes: Any) -> dict[str, Any]:
    response = client.post("/vnpost/CreateOrder", json=_body(settings, **changes), headers=headers)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def _order(client: Client, headers: dict[str, str], lookup_type: str, code: str) -> list[dict[str, Any]]:
    response = client.get("/vnpost/getOrder", params={"type": lookup_type, "code": code}, headers=headers)
    assert response.status_code == 200
    [page] = response.json()
    results: list[dict[str, Any]] = page["results"]
    return results


def test_login_gives_a_token_only_for_the_dev_account(settings: Settings) -> None:
    with _sandbox(settings) as (client, _):
        _token(client)
        refused = (client.post("/vnpost/GetAccessToken", json={**LOGIN, "password": "wrong"})).json()
        assert refused == {"success": False, "errorMessage": "Sai thông tin đăng nhập", "token": None}


def test_every_call_without_a_valid_token_is_refused_401(settings: Settings) -> None:
    with _sandbox(settings) as (client, _):
        bad = {"token": "forged"}
        assert (client.post("/vnpost/CreateOrder", json=_body(settings), headers=bad)).status_code == 401
        assert (client.get("/vnpost/getOrder", params={"type": "1", "code": "X"}, headers=bad)).status_code == 401
        assert (client.post("/vnpost/orderCancel", json={"OriginalId": "1"})).status_code == 401
        assert _counts(settings) == {}


def test_create_answers_the_order_with_an_s10_item_code_and_counts_it(settings: Settings) -> None:
    with _sandbox(settings) as (client, _):
        headers = _token(client)
        created = _create(client, settings, headers)
        assert S10.match(created["itemCode"]) and created["status"] == "1"
        assert created["saleOrderCode"] == "o01TESTORDER" and created["totalFee"] > 0
        assert wire.decode_created(msgspec.json.encode(created)).tracking_code == created["itemCode"]
        assert _counts(settings) == {"o01TESTORDER": 1}
        [by_reference] = _order(client, headers, "2", "o01TESTORDER")
        [by_tracking] = _order(client, headers, "1", created["itemCode"])
        assert by_reference == by_tracking == created
        assert _order(client, headers, "2", "o01UNKNOWN") == []


def test_duplicate_reference_books_again_when_chaos_accepts_it(settings: Settings) -> None:
    with _sandbox(settings) as (client, _):
        headers = _token(client)
        first = _create(client, settings, headers)
        second = _create(client, settings, headers)
        assert first["itemCode"] != second["itemCode"]
        assert _counts(settings) == {"o01TESTORDER": 2}


def test_duplicate_reference_is_refused_when_chaos_rejects_it(settings: Settings) -> None:
    with _sandbox(settings) as (client, _):
        _chaos(settings, Chaos(duplicate_reference="reject"))
        headers = _token(client)
        _create(client, settings, headers)
        refused = _create(client, settings, headers)
        assert refused == {"success": False, "message": "Mã đơn hàng o01TESTORDER đã tồn tại"}
        assert _counts(settings) == {"o01TESTORDER": 1}


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"information": {"receiverPhone": ""}}, "receiverPhone là bắt buộc"),
        ({"information": {"weight": "0"}}, "weight"),
        ({"information": {"serviceCode": "XXX"}}, "Dịch vụ XXX"),
        ({"information": {"addonService": [{"code": "GTG021", "propValue": "PROP0018:"}]}}, "GTG021"),
        ({"customerCode": "OTHER"}, "customerCode"),
    ],
)
def test_invalid_create_is_refused_like_vnpost_and_books_nothing(
    settings: Settings, changes: dict[str, Any], words: str
) -> None:
    with _sandbox(settings) as (client, _):
        answer = _create(client, settings, _token(client), **changes)
        assert answer["success"] is False and words in answer["message"]
        assert _counts(settings) == {}


def test_lookups_and_creates_answer_503_under_chaos(settings: Settings) -> None:
    with _sandbox(settings) as (client, _):
        headers = _token(client)
        _chaos(settings, Chaos(error_rate=1.0))
        assert (client.post("/vnpost/CreateOrder", json=_body(settings), headers=headers)).status_code == 503
        params = {"type": "2", "code": "o01TESTORDER"}
        assert (client.get("/vnpost/getOrder", params=params, headers=headers)).status_code == 503
        assert _counts(settings) == {}


def test_cancel_before_pickup_is_immediate_and_final(settings: Settings) -> None:
    with _sandbox(settings) as (client, _):
        headers = _token(client)
        created = _create(client, settings, headers)
        cancel = {"OriginalId": created["originalID"]}
        [answer] = (client.post("/vnpost/orderCancel", json=cancel, headers=headers)).json()
        assert answer["Type"] == "00" and answer["OriginalId"] == created["originalID"]
        [order] = _order(client, headers, "1", created["itemCode"])
        assert order["status"] == "9"
        [again] = (client.post("/vnpost/orderCancel", json=cancel, headers=headers)).json()
        assert again["Type"] not in ("00", "02")
        assert wire.decode_cancel(msgspec.json.encode([again])).Message == again["Message"]


def test_cancel_in_transit_waits_for_vnpost_approval(settings: Settings, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=f"{PUBLIC}/v1/callbacks/vnpost", method="POST", json={"success": True})
    with _sandbox(settings) as (client, _):
        headers = _token(client)
        created = _create(client, settings, headers)
        pushed = client.post(f"/vnpost/_sandbox/orders/{created['itemCode']}/push", json={"status": "10"})
        assert pushed.json() == {"posted": True}
        cancel = {"OriginalId": created["originalID"]}
        [answer] = (client.post("/vnpost/orderCancel", json=cancel, headers=headers)).json()
        assert answer["Type"] == "02" and answer["CaseId"]


def test_draft_cannot_be_cancelled_but_can_be_deleted(settings: Settings) -> None:
    with _sandbox(settings) as (client, _):
        headers = _token(client)
        draft = _create(client, settings, headers, orderCreationStatus=0)
        assert draft["status"] == "0"
        [refused] = (client.post("/vnpost/orderCancel", json={"OriginalId": draft["originalID"]},
                                        headers=headers)).json()  # fmt: skip
        assert refused["Type"] == "01" and "xóa" in refused["Message"]
        params = {"type": "1", "code": draft["itemCode"]}
        deleted = (client.get("/vnpost/deleteOrderByDraft", params=params, headers=headers)).json()
        assert deleted == {"success": True, "message": "Xóa đơn nháp thành công"}
        assert _order(client, headers, "1", draft["itemCode"]) == []


def test_history_reads_back_as_status_updates(settings: Settings) -> None:
    with _sandbox(settings) as (client, _):
        headers = _token(client)
        created = _create(client, settings, headers)
        params = {"type": "1", "code": created["itemCode"]}
        response = client.get("/vnpost/GetStatusHistoryOrder", params=params, headers=headers)
        [update] = wire.decode_history(response.content, created["itemCode"])
        assert update.status is Status.BOOKED and update.event_time.utcoffset() is not None
        params["code"] = "EN000000000VN"
        missing = client.get("/vnpost/GetStatusHistoryOrder", params=params, headers=headers)
        with pytest.raises(wire.EnvelopeError):
            wire.decode_history(missing.content, "EN000000000VN")


def test_push_posts_a_signed_batch_callback_that_authenticates(settings: Settings, httpx_mock: HTTPXMock) -> None:
    config = dev_config(settings)
    account = msgspec.structs.replace(config.centres["DEMO"].couriers["vnpost"], options={"signature_key": "k3y"})
    centre = msgspec.structs.replace(config.centres["DEMO"], couriers={"vnpost": account})
    httpx_mock.add_response(url=f"{PUBLIC}/v1/callbacks/vnpost", method="POST", json={"success": True})
    with _sandbox(settings, Config(centres={"DEMO": centre})) as (client, _):
        created = _create(client, settings, _token(client))
        pushed = client.post(f"/vnpost/_sandbox/orders/{created['itemCode']}/push", json={"status": "14"})
        assert pushed.json() == {"posted": True}
    [sent] = httpx_mock.get_requests()
    assert wire.authenticate(CallbackRequest(query={}, headers={}, body=sent.content, remote="127.0.0.1"), account)
    [update] = wire.callback_updates(sent.content)
    assert (update.reference, update.tracking_code, update.status) == (
        "o01TESTORDER", created["itemCode"], Status.DELIVERED,
    )  # fmt: skip


def test_push_for_an_unknown_parcel_posts_nothing(settings: Settings) -> None:
    with _sandbox(settings) as (client, _):
        pushed = client.post("/vnpost/_sandbox/orders/EN000000000VN/push", json={"status": "14"})
        assert (pushed.status_code, pushed.json()) == (502, {"posted": False})


def test_resume_continues_the_stories_of_parcels_in_flight(settings: Settings) -> None:
    with _sandbox(settings) as (client, sandbox):
        headers = _token(client)
        created = _create(client, settings, headers)
        _create(client, settings, headers, orderCreationStatus=0)  # a draft has no story
        spawned: list[Coroutine[Any, Any, Any]] = []
        sandbox.core.spawn = spawned.append  # type: ignore[method-assign]
        assert client.blocking_portal.call(sandbox.resume) == 1
        [story] = spawned
        assert (story.cr_code.co_name, story.cr_frame.f_locals["item_code"]) == ("_play", created["itemCode"])
        story.close()  # not played: the test only proves which parcels resume


def test_every_story_ends_in_a_final_vnpost_status() -> None:
    assert {story[-1] for story in STORIES.values()} == {"14", "19"}
    assert set(STORIES) == {"delivered", "failed_then_delivered", "returned"}  # no "lost" code at MyVNPost
