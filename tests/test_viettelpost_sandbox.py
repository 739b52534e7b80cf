"""The Viettel Post sandbox on a real store: VTP's shapes and auth, counted shipments, and VTP callbacks back."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, TypeVar

import httpx
import msgspec
import pytest
import redis
import redis.asyncio as aredis
from litestar import Litestar
from litestar.testing import TestClient

from contracts.config import Config, dev_config
from contracts.couriers import VIETNAM, Booking, CallbackRequest, Party, Shipment
from contracts.couriers import viettelpost as vtp
from contracts.lifecycle import advance
from contracts.settings import Settings
from contracts.statuses import Status
from service.sandboxes.base import Chaos, SandboxCore
from service.sandboxes.viettelpost import STORIES, ViettelPostSandbox, router
from tests.conftest import SECRET
from workers.embedded import EmbeddedStore

T = TypeVar("T")

Client = TestClient[Litestar]
LOGIN = {"USERNAME": "demo@dossier-dispatch.vn", "PASSWORD": "sandbox-vtp-password"}


class World:
    """The sandbox under test, its HTTP client, and every callback it posted (answered with `answers`).

    The app runs on the test client's own event loop, so the store and the sandbox are used through it.
    """

    def __init__(self, sandbox: ViettelPostSandbox, core: SandboxCore) -> None:
        self.sandbox, self.core = sandbox, core
        self.client: Client
        self.posted: list[httpx.Request] = []
        self.answers: list[int] = []

    def answer(self, request: httpx.Request) -> httpx.Response:
        self.posted.append(request)
        return httpx.Response(self.answers.pop(0) if self.answers else 200)

    def run(self, work: Callable[..., Awaitable[T]], *args: Any) -> T:
        return self.client.blocking_portal.call(work, *args)

    def owner_token(self) -> str:
        partner = self.client.post("/viettelpost/v2/user/Login", json=LOGIN).json()["data"]["token"]
        owner = self.client.post("/viettelpost/v2/user/ownerconnect", json=LOGIN, headers={"Token": partner})
        return str(owner.json()["data"]["token"])

    def create(self, body: bytes | None = None, path: str = vtp.CREATE_BY_TEXT) -> httpx.Response:
        headers = {"Token": self.owner_token(), "Content-Type": "application/json"}
        return self.client.post(f"/viettelpost{path}", content=body or _body(), headers=headers)

    def booked(self) -> str:
        return vtp.decode_created(self.create().content).tracking_code

    def counts(self) -> dict[str, int]:
        return self.run(self.core.counts, "viettelpost")

    def callbacks(self, count: int) -> list[dict[str, Any]]:
        for _ in range(300):
            if len(self.posted) >= count:
                break
            time.sleep(0.01)
        return [msgspec.json.decode(request.content) for request in self.posted]


@contextmanager
def _world(embedded: EmbeddedStore, config: Config | None = None) -> Iterator[World]:
    flush = redis.Redis.from_url(embedded.url)
    flush.flushdb()
    flush.close()
    settings = Settings(redis_url=embedded.url, dd_dev_callback_secret=SECRET, dd_sandbox_autoplay=False,
                        dd_sandbox_step_seconds=0.01, dd_public_url="http://dd.test")  # fmt: skip
    store = aredis.Redis.from_url(embedded.url)
    core = SandboxCore(settings, store)
    unused, sandbox = core.http, ViettelPostSandbox(core, config or dev_config(settings))
    world = World(sandbox, core)
    core.http = httpx.AsyncClient(transport=httpx.MockTransport(world.answer))
    with TestClient(Litestar(route_handlers=[router(sandbox)])) as client:
        world.client = client
        world.run(unused.aclose)
        yield world
        world.run(core.close)
        world.run(store.aclose)


def _shipment(**changes: Any) -> Shipment:
    centre = Party(name="Trung tâm", phone="0912000111", street="1 Tràng Tiền", ward_name="Phường Hoàn Kiếm",
                   province_name="Thành phố Hà Nội", ward_code="00070", province_code="01")  # fmt: skip
    citizen = Party(name="Nguyễn Văn A", phone="0912345678", street="12 Phố Huế", ward_name="Phường Ba Đình",
                    province_name="Thành phố Hà Nội", ward_code="00004", province_code="01")  # fmt: skip
    shipment = Shipment(reference="o01TESTORDER", sender=centre, receiver=citizen, document_count=1, weight_grams=210)
    return msgspec.structs.replace(shipment, **changes)


def _body(**changes: Any) -> bytes:
    account = dev_config(Settings()).centres["DEMO"].couriers["viettelpost"]
    body = msgspec.json.decode(vtp.encode_shipment(_shipment(), account, now=datetime.now(VIETNAM)))
    return msgspec.json.encode({**body, **changes})


def test_login_then_ownerconnect_gives_the_token_that_books_and_counts(embedded: EmbeddedStore) -> None:
    with _world(embedded) as world:
        response = world.create()
        assert response.status_code == 200
        booking = vtp.decode_created(response.content)
        assert booking.tracking_code.isdigit() and len(booking.tracking_code) == 11
        assert response.json()["data"]["MONEY_TOTAL"] == booking.total_fee
        assert world.counts() == {"o01TESTORDER": 1}


def test_only_the_long_lived_owner_token_may_book(embedded: EmbeddedStore) -> None:
    with _world(embedded) as world:
        partner = (world.client.post("/viettelpost/v2/user/Login", json=LOGIN)).json()["data"]["token"]
        for token in (partner, "forged", ""):
            response = world.client.post("/viettelpost/v2/order/createOrderNlp", content=_body(),
                                               headers={"Token": token})  # fmt: skip
            assert (response.status_code, response.json()["error"]) == (401, True)
        refused = world.client.post("/viettelpost/v2/user/ownerconnect", json=LOGIN, headers={"Token": "x"})
        assert refused.status_code == 401
        assert world.counts() == {}


def test_wrong_password_is_an_error_envelope_on_http_200(embedded: EmbeddedStore) -> None:
    with _world(embedded) as world:
        response = world.client.post("/viettelpost/v2/user/Login", json={**LOGIN, "PASSWORD": "nope"})
        assert response.status_code == 200
        with pytest.raises(vtp.EnvelopeError, match="Sai tên đăng nhập"):
            vtp.decode_token(response.content)


@pytest.mark.parametrize(
    ("changes", "words"),
    [({"RECEIVER_PHONE": "+84912"}, "RECEIVER_PHONE"), ({"PRODUCT_TYPE": "XX"}, "PRODUCT_TYPE"),
     ({"ORDER_PAYMENT": 1, "MONEY_COLLECTION": 8000}, "MONEY_COLLECTION"),
     ({"RECEIVER_ADDRESS": " "}, "RECEIVER_ADDRESS"), ({"ORDER_SERVICE_ADD": "GBH", "PRODUCT_PRICE": 0}, "GBH"),
     ({"PRODUCT_WEIGHT": "heavy"}, "PRODUCT_WEIGHT")],
)  # fmt: skip
def test_a_body_vtp_would_refuse_is_refused_and_books_nothing(
    embedded: EmbeddedStore, changes: dict[str, Any], words: str
) -> None:
    with _world(embedded) as world:
        response = world.create(_body(**changes))
        assert (response.status_code, response.json()["error"]) == (200, True)
        assert words in response.json()["message"]
        assert world.counts() == {}


def test_the_id_create_needs_ids_and_the_free_text_one_does_not(embedded: EmbeddedStore) -> None:
    with _world(embedded) as world:
        refused = world.create(_body(), path=vtp.CREATE_BY_IDS)
        assert "RECEIVER_WARD" in refused.json()["message"]
        ids = {"SENDER_PROVINCE": 1, "SENDER_WARD": 11, "RECEIVER_PROVINCE": 1, "RECEIVER_WARD": 44}
        booked = world.create(_body(**ids), path=vtp.CREATE_BY_IDS)
        assert booked.json()["error"] is False


@pytest.mark.parametrize(("policy", "count"), [("accept", 2), ("reject", 1)])
def test_a_second_create_with_our_reference_follows_the_chaos_policy(
    embedded: EmbeddedStore, policy: str, count: int
) -> None:
    with _world(embedded) as world:
        world.run(world.core.set_chaos, Chaos(duplicate_reference=policy))  # type: ignore[arg-type]
        first = vtp.decode_created(world.create().content)
        second = world.create()
        assert world.counts() == {"o01TESTORDER": count}
        if policy == "accept":
            assert vtp.decode_created(second.content).tracking_code != first.tracking_code
        else:
            assert "đã tồn tại" in second.json()["message"]


def test_injected_errors_answer_503_and_book_nothing(embedded: EmbeddedStore) -> None:
    with _world(embedded) as world:
        token = world.owner_token()
        world.run(world.core.set_chaos, Chaos(error_rate=1.0))
        response = world.client.post("/viettelpost/v2/order/createOrderNlp", content=_body(),
                                           headers={"Token": token})  # fmt: skip
        assert response.status_code == 503
        lookup = world.client.get("/viettelpost/v2/order/detail-v2", params={"o": "1"}, headers={"Token": token})
        assert lookup.status_code == 503
        assert world.counts() == {}


def test_detail_finds_by_tracking_code_and_by_our_reference(embedded: EmbeddedStore) -> None:
    with _world(embedded) as world:
        tracking = world.booked()
        headers = {"Token": world.owner_token()}
        by_reference = world.client.get("/viettelpost/v2/order/detail-v2", params={"o": "o01TESTORDER"},
                                              headers=headers)  # fmt: skip
        assert vtp.decode_found(by_reference.content, "o01TESTORDER") == Booking(tracking_code=tracking)
        by_tracking = world.client.get("/viettelpost/v2/order/detail-v2", params={"o": tracking}, headers=headers)
        [update] = vtp.decode_tracked(by_tracking.content)
        assert (update.status, update.reference, update.tracking_code) == (Status.BOOKED, "o01TESTORDER", tracking)
        unknown = world.client.get("/viettelpost/v2/order/detail-v2", params={"o": "o01NEW"}, headers=headers)
        with pytest.raises(vtp.EnvelopeError, match="Không tìm thấy"):
            vtp.decode_found(unknown.content, "o01NEW")
        refused = world.client.get("/viettelpost/v2/order/detail-v2", params={"o": tracking})
        assert refused.status_code == 401


def test_cancel_before_pickup_is_accepted_and_comes_back_as_an_authentic_107(embedded: EmbeddedStore) -> None:
    with _world(embedded) as world:
        tracking = world.booked()
        response = world.client.post("/viettelpost/v2/order/UpdateOrder", content=vtp.encode_update(tracking, 4),
                                           headers={"Token": world.owner_token()})  # fmt: skip
        assert vtp.decode_update(response.content) == "Cập nhật thành công"
        [posted] = world.callbacks(1)
        assert str(world.posted[0].url) == "http://dd.test/v1/callbacks/viettelpost"
        [update] = vtp.callback_updates(world.posted[0].content)
        assert (update.status, update.raw_status, update.tracking_code) == (Status.CANCELLED, "107", tracking)
        account = world.sandbox.accounts[LOGIN["USERNAME"]]
        incoming = CallbackRequest(query={}, headers={}, body=world.posted[0].content, remote="127.0.0.1")
        assert vtp.authenticate(incoming, account) and posted["TOKEN"] == SECRET


def test_cancel_after_the_postman_took_it_is_refused(embedded: EmbeddedStore) -> None:
    with _world(embedded) as world:
        tracking = world.booked()
        assert world.run(world.sandbox.push, tracking, 105)
        response = world.client.post("/viettelpost/v2/order/UpdateOrder", content=vtp.encode_update(tracking, 4),
                                           headers={"Token": world.owner_token()})  # fmt: skip
        with pytest.raises(vtp.EnvelopeError, match="105"):
            vtp.decode_update(response.content)


def test_hand_driven_push_posts_one_vtp_callback_now(embedded: EmbeddedStore) -> None:
    with _world(embedded) as world:
        tracking = world.booked()
        response = world.client.post(f"/viettelpost/_sandbox/orders/{tracking}/push",
                                           json={"status": "506", "reason_code": "36"})  # fmt: skip
        assert response.json() == {"posted": True}
        [update] = vtp.callback_updates(world.posted[0].content)
        assert (update.status, update.reason) == (Status.DELIVERY_FAILED, "unreachable")


def test_callbacks_are_retried_five_times_until_answered_200(embedded: EmbeddedStore) -> None:
    with _world(embedded) as world:
        tracking = world.booked()
        world.answers = [500] * 10
        assert not world.run(world.sandbox.push, tracking, 200)
        assert len(world.posted) == 5
        world.answers = [503, 200]
        assert world.run(world.sandbox.push, tracking, 300)
        assert len(world.posted) == 7


def test_header_auth_accounts_get_the_secret_in_authorization(embedded: EmbeddedStore) -> None:
    config = dev_config(Settings(dd_dev_callback_secret=SECRET))
    centre = config.centres["DEMO"]
    account = msgspec.structs.replace(centre.couriers["viettelpost"], options={"callback_auth": "header"})
    couriers = {**centre.couriers, "viettelpost": account}
    config = Config(centres={"DEMO": msgspec.structs.replace(centre, couriers=couriers)})
    with _world(embedded, config) as world:
        tracking = world.booked()
        assert world.run(world.sandbox.push, tracking, 200)
        request = world.posted[0]
        assert request.headers["authorization"] == SECRET and "TOKEN" not in msgspec.json.decode(request.content)


@pytest.mark.parametrize("story", sorted(STORIES))
def test_a_story_posts_each_step_as_a_callback_then_stops(embedded: EmbeddedStore, story: str) -> None:
    with _world(embedded) as world:
        world.run(world.core.set_chaos, Chaos(scenarios={story: 1.0}))
        tracking = world.booked()
        assert world.run(world.sandbox.resume) == 1  # autoplay is off: resume starts the untold story
        world.callbacks(len(STORIES[story]))
        time.sleep(0.05)  # nothing follows the last step
        posted = world.callbacks(0)
        assert [(p["DATA"]["ORDER_STATUS"], p["DATA"]["REASON_CODE"]) for p in posted] == STORIES[story]
        assert {p["DATA"]["ORDER_NUMBER"] for p in posted} == {tracking}
        assert world.run(world.sandbox.resume) == 0


@pytest.mark.parametrize("story", sorted(STORIES))
def test_every_story_is_a_legal_path_through_the_lifecycle(story: str) -> None:
    current = Status.BOOKED
    for code, _reason in STORIES[story]:
        status = vtp.STATUS[code]
        assert status is not None
        current = advance(current, status)
    assert current in {Status.DELIVERED, Status.RETURNED}
