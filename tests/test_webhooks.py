"""Outbound webhooks: Standard Webhooks signatures (checked with the reference `standardwebhooks` library),
the retry schedule on a controllable clock, Retry-After, redirects, 410, disabling, rotation, egress,
the delivery log, resend and recover. Deliveries go over real loopback HTTP to a receiver thread."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest
import standardwebhooks.webhooks
from litestar.testing import TestClient
from standardwebhooks import Webhook

from contracts.orders import Kind
from contracts.settings import Settings
from contracts.statuses import Status
from contracts.webhooks import ATTEMPTS, RETRY_DELAYS, national_status, refused_address, retry_delay
from tests.conftest import API_KEY, OTHER_KEY, SECRET, fixture, order_body
from tests.receiver import Receiver, receiver
from workers import keys
from workers.context import Context
from workers.embedded import EmbeddedStore
from workers.jobs import ingest_callbacks
from workers.queues import queue
from workers.webhooks import STATE, deliver_due, trim

Client = TestClient  # type: ignore[type-arg]
LOOPBACK = frozenset({"loopback"})
MIDDLE = lambda: 0.5  # noqa: E731 - no jitter: the schedule's own delays


@pytest.fixture
def settings(embedded: EmbeddedStore) -> Settings:
    return Settings(
        redis_url=embedded.url, dd_dev_api_key=API_KEY, dd_dev_callback_secret=SECRET, dd_sandbox_port=18999,
        dd_webhook_egress="loopback",
    )  # fmt: skip


@pytest.fixture
def hook() -> Iterator[Receiver]:
    with receiver() as running:
        yield running


def _endpoint(api: Client, url: str, **body: Any) -> dict[str, Any]:
    created = api.post("/v1/webhook-endpoints", json={"url": url, **body})
    assert created.status_code == 201, created.text
    return dict(created.json())


def _delivered_order(api: Client) -> str:
    """An order that goes accepted -> booked (the create callback) -> delivered, by GHN callbacks."""
    order_id = str(api.post("/v1/orders", json=order_body()).json()["id"])
    for name in ("callback_create.json", "callback_delivered.json"):
        payload = msgspec.json.decode(fixture("ghn", name))
        payload.update(ClientOrderCode=order_id)
        api.post("/v1/callbacks/ghn", params={"token": SECRET}, json=payload)
    ingest_callbacks("ghn")
    return order_id


def _verify(secret: str, received: Any, at: float) -> dict[str, Any]:
    """What the reference library makes of a request, with the receiver's clock at `at`."""

    class Clock(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> Any:
            return datetime.fromtimestamp(at, UTC)

    original = standardwebhooks.webhooks.datetime
    standardwebhooks.webhooks.datetime = Clock  # type: ignore[misc]
    try:
        return dict(Webhook(secret).verify(received.body, received.headers))
    finally:
        standardwebhooks.webhooks.datetime = original  # type: ignore[misc]


def test_every_delivery_verifies_with_the_reference_library_and_carries_no_personal_data(
    api: Client, hook: Receiver
) -> None:
    secret = _endpoint(api, hook.url)["secret"]
    assert secret.startswith("whsec_")
    order_id = _delivered_order(api)
    now = time.time()
    assert deliver_due(now=now, allow=LOOPBACK) == 6
    messages = [_verify(secret, request, now) for request in hook.received]
    assert sorted(m["type"] for m in messages) == [
        "dossier.result_delivered", "order.booked", "order.created", "order.delivered",
        "order.status_changed", "order.status_changed",
    ]  # fmt: skip
    assert {m["data"]["order_id"] for m in messages} == {order_id}
    assert len({r.headers["webhook-id"] for r in hook.received}) == 6
    delivered = next(m for m in messages if m["type"] == "dossier.result_delivered")
    assert delivered["data"]["national_status"] == {"code": 10, "name": "Đã trả kết quả"}
    assert (delivered["data"]["status"], delivered["data"]["previous_status"]) == ("delivered", "booked")
    for request in hook.received:  # thin payloads: ids, statuses, times; nothing about the citizen
        for personal in (b"0912345678", "Nguyễn".encode(), "Phố Huế".encode(), b"citizen", b"address"):
            assert personal not in request.body


def _state(ctx: Context, endpoint_id: str, message_id: str) -> Any:
    return STATE.decode(ctx.store.client.hget(keys.wh_state(endpoint_id), message_id))


def _one_message(api: Client) -> str:
    """An order created: one `order.created` message."""
    return str(api.post("/v1/orders", json=order_body()).json()["id"])


def test_an_order_for_a_centre_that_listens_keeps_its_message_and_queues_one_delivery_job(
    api: Client, ctx: Context, hook: Receiver
) -> None:
    notify = queue("notify", ctx.store.client)
    assert api.post("/v1/orders", json=order_body()).status_code == 201  # nobody listens yet
    assert ctx.store.client.zcard(keys.WH_FANOUT) == 0 and notify.count == 0
    _endpoint(api, hook.url)
    notify.empty()
    ctx.store.client.delete(keys.WH_KICK)
    for _ in range(2):
        assert api.post("/v1/orders", json=order_body()).status_code == 201
    assert ctx.store.client.zcard(keys.WH_FANOUT) == 2  # each order's `order.created`, in its own write
    assert [job.func_name for job in notify.get_jobs()] == ["workers.notify.run"]  # the first claimed the kick


def test_a_receiver_down_for_a_while_gets_each_message_once_after_retries_on_the_schedule(
    api: Client, ctx: Context, hook: Receiver
) -> None:
    endpoint = _endpoint(api, hook.url)
    for _ in range(3):
        _one_message(api)
    hook.script = [(500, {})] * 3 + [(503, {})] * 3 + [(502, {})] * 3 + [(500, {})] * 3  # four failed rounds
    clock = time.time()
    deliver_due(now=clock, allow=LOOPBACK, unit=MIDDLE)  # the immediate attempt
    for delay in RETRY_DELAYS[:4]:  # then 5 s, 5 min, 30 min, 2 h later
        assert deliver_due(now=clock + delay - 1, allow=LOOPBACK, unit=MIDDLE) == 0  # not a second early
        clock += delay
        assert deliver_due(now=clock, allow=LOOPBACK, unit=MIDDLE) == 3
    for later in (3600.0, 86400.0, 10 * 86400.0):  # nothing more, ever
        assert deliver_due(now=clock + later, allow=LOOPBACK, unit=MIDDLE) == 0
    ids = [r.headers["webhook-id"] for r in hook.received]
    assert len(ids) == 15 and len(set(ids)) == 3
    assert sorted(r.headers["webhook-id"] for r in hook.delivered()) == sorted(set(ids))  # each once
    assert {_state(ctx, endpoint["id"], i).attempts for i in set(ids)} == {5}
    log = api.get(f"/v1/webhook-endpoints/{endpoint['id']}/attempts").json()["attempts"]
    assert [a["outcome"] for a in log[:3]] == ["delivered"] * 3 and len(log) == 15
    assert {a["status_code"] for a in log[3:]} == {500, 502, 503} and all(a["latency_ms"] >= 0 for a in log)
    assert api.get(f"/v1/webhook-endpoints/{endpoint['id']}").json()["failing_since"] is None


def test_the_schedule_has_jitter_and_ends_after_ten_attempts() -> None:
    assert [retry_delay(n, 0.5) for n in range(1, ATTEMPTS)] == list(RETRY_DELAYS)
    assert retry_delay(1, 0.0) == pytest.approx(4.0) and retry_delay(1, 0.999999) == pytest.approx(6.0, abs=1e-4)
    assert retry_delay(ATTEMPTS, 0.5) is None
    assert retry_delay(1, 0.5, retry_after=120) == 120  # a longer Retry-After wins
    assert retry_delay(3, 0.5, retry_after=10) == 1800  # a shorter one does not hurry us


def test_retry_after_on_429_is_honoured(api: Client, ctx: Context, hook: Receiver) -> None:
    endpoint = _endpoint(api, hook.url)
    _one_message(api)
    hook.script = [(429, {"Retry-After": "120"})]
    clock = time.time()
    deliver_due(now=clock, allow=LOOPBACK, unit=MIDDLE)
    [message_id] = [r.headers["webhook-id"] for r in hook.received]
    state = _state(ctx, endpoint["id"], message_id)
    assert state.next_attempt_at.timestamp() == pytest.approx(clock + 120, abs=1)
    assert deliver_due(now=clock + 60, allow=LOOPBACK) == 0
    assert deliver_due(now=clock + 121, allow=LOOPBACK) == 1 and len(hook.delivered()) == 1


def test_redirects_are_not_followed(api: Client, ctx: Context, hook: Receiver) -> None:
    endpoint = _endpoint(api, hook.url)
    _one_message(api)
    hook.script = [(307, {"Location": "http://169.254.169.254/latest/meta-data"})]
    deliver_due(now=time.time(), allow=LOOPBACK, unit=MIDDLE)
    [attempt] = api.get(f"/v1/webhook-endpoints/{endpoint['id']}/attempts").json()["attempts"]
    assert attempt["outcome"] == "retrying" and "not followed" in attempt["error"]
    assert len(hook.received) == 1  # nobody went to the Location


def test_410_gone_disables_the_endpoint_and_tells_the_others(api: Client, hook: Receiver) -> None:
    with receiver() as other:
        gone = _endpoint(api, hook.url)
        told = _endpoint(api, other.url)
        _one_message(api)
        hook.script = [(410, {})]
        clock = time.time()
        deliver_due(now=clock, allow=LOOPBACK)
        disabled = api.get(f"/v1/webhook-endpoints/{gone['id']}").json()
        assert disabled["enabled"] is False and "410" in disabled["disabled_reason"]
        deliver_due(now=clock + 1, allow=LOOPBACK)
        notices = [_verify(told["secret"], r, clock + 1) for r in other.received]
        [notice] = [n for n in notices if n["type"] == "endpoint.disabled"]
        assert notice["data"]["endpoint_id"] == gone["id"]
        _one_message(api)
        deliver_due(now=clock + 2, allow=LOOPBACK)
        assert len(hook.received) == 1  # nothing more goes to a disabled endpoint


def test_five_days_of_failure_disable_the_endpoint(api: Client, hook: Receiver) -> None:
    endpoint = _endpoint(api, hook.url)
    hook.default = 500
    clock = time.time()
    _one_message(api)
    deliver_due(now=clock, allow=LOOPBACK)
    assert api.get(f"/v1/webhook-endpoints/{endpoint['id']}").json()["failing_since"] is not None
    _one_message(api)
    deliver_due(now=clock + 4 * 86400, allow=LOOPBACK)  # four days on, still failing: still on
    assert api.get(f"/v1/webhook-endpoints/{endpoint['id']}").json()["enabled"] is True
    _one_message(api)
    deliver_due(now=clock + 5 * 86400 + 1, allow=LOOPBACK)
    view = api.get(f"/v1/webhook-endpoints/{endpoint['id']}").json()
    assert view["enabled"] is False and view["disabled_reason"].startswith("failing continuously since")
    # Switched back on by a person, it starts afresh.
    again = api.patch(f"/v1/webhook-endpoints/{endpoint['id']}", json={"enabled": True}).json()
    assert again["enabled"] is True and again["disabled_reason"] is None and again["failing_since"] is None


def test_a_rotated_secret_signs_beside_the_new_one_for_a_day(api: Client, hook: Receiver) -> None:
    endpoint = _endpoint(api, hook.url)
    rotated = api.patch(f"/v1/webhook-endpoints/{endpoint['id']}", json={"rotate_secret": True}).json()
    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != endpoint["secret"]
    assert api.get(f"/v1/webhook-endpoints/{endpoint['id']}").json()["secret"] is None  # shown once
    _one_message(api)
    now = time.time()
    deliver_due(now=now, allow=LOOPBACK)
    [request] = hook.received
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    _verify(endpoint["secret"], request, now)  # a receiver still on the old secret
    _verify(rotated["secret"], request, now)  # and one already on the new
    _one_message(api)
    deliver_due(now=now + 86401, allow=LOOPBACK)
    late = hook.received[-1]
    assert len(late.headers["webhook-signature"].split(" ")) == 1
    _verify(rotated["secret"], late, now + 86401)
    with pytest.raises(standardwebhooks.webhooks.WebhookVerificationError):
        _verify(endpoint["secret"], late, now + 86401)


def test_the_egress_guard_refuses_loopback_and_private_addresses(api: Client, ctx: Context, hook: Receiver) -> None:
    refused = api.post("/v1/webhook-endpoints", json={"url": "http://10.1.2.3/hook"})
    assert refused.status_code == 422 and refused.json()["invalid_params"][0]["name"] == "url"
    assert "private" in refused.json()["detail"]
    assert api.post("/v1/webhook-endpoints", json={"url": "ftp://example.vn/x"}).status_code == 422
    endpoint = _endpoint(api, hook.url)  # loopback is allowed in this configuration...
    _one_message(api)
    deliver_due(now=time.time(), allow=frozenset())  # ...but not in this one: checked again at delivery
    assert hook.received == []
    [attempt] = api.get(f"/v1/webhook-endpoints/{endpoint['id']}/attempts").json()["attempts"]
    assert attempt["status_code"] is None and "loopback" in attempt["error"]


def test_resend_and_recover(api: Client, ctx: Context, hook: Receiver) -> None:
    endpoint = _endpoint(api, hook.url)
    hook.default = 500
    for _ in range(2):
        _one_message(api)
    clock = time.time()
    deliver_due(now=clock, allow=LOOPBACK, unit=MIDDLE)
    for delay in RETRY_DELAYS:  # the whole schedule fails: both messages are given up on
        clock += delay
        deliver_due(now=clock, allow=LOOPBACK, unit=MIDDLE)
    assert len(hook.received) == 2 * ATTEMPTS
    failed = {r.headers["webhook-id"] for r in hook.received}
    assert {_state(ctx, endpoint["id"], m).status for m in failed} == {"failed"}
    hook.default = 200
    first, second = sorted(failed)
    path = f"/v1/webhook-endpoints/{endpoint['id']}"
    assert api.post(f"{path}/messages/{first}/resend").status_code == 202
    deliver_due(now=clock + 1, allow=LOOPBACK)
    assert [r.headers["webhook-id"] for r in hook.delivered()] == [first]
    recovered = api.post(f"{path}/recover", json={"since": "2020-01-01T00:00:00Z"})
    assert recovered.status_code == 202 and recovered.json() == {"messages": 1}
    deliver_due(now=clock + 2, allow=LOOPBACK)
    assert sorted(r.headers["webhook-id"] for r in hook.delivered()) == [first, second]
    assert api.post(f"{path}/messages/msg_nope/resend").status_code == 404


def test_an_endpoint_gets_only_the_types_it_asked_for(api: Client, hook: Receiver) -> None:
    secret = _endpoint(api, hook.url, event_types=["dossier.result_delivered"])["secret"]
    _delivered_order(api)
    now = time.time()
    deliver_due(now=now, allow=LOOPBACK)
    assert [_verify(secret, r, now)["type"] for r in hook.received] == ["dossier.result_delivered"]


def test_endpoints_are_the_centres_own(api: Client, hook: Receiver) -> None:
    endpoint = _endpoint(api, hook.url)
    other = {"Authorization": f"Bearer {OTHER_KEY}"}
    assert api.get(f"/v1/webhook-endpoints/{endpoint['id']}", headers=other).status_code == 404
    assert api.get("/v1/webhook-endpoints", headers=other).json() == {"endpoints": []}
    assert api.delete(f"/v1/webhook-endpoints/{endpoint['id']}", headers=other).status_code == 404
    listed = api.get("/v1/webhook-endpoints").json()["endpoints"]
    assert [e["id"] for e in listed] == [endpoint["id"]] and listed[0]["secret"] is None
    assert api.delete(f"/v1/webhook-endpoints/{endpoint['id']}").status_code == 204
    assert api.get(f"/v1/webhook-endpoints/{endpoint['id']}").status_code == 404


def test_no_endpoint_no_message(api: Client, ctx: Context) -> None:
    _delivered_order(api)
    assert ctx.store.client.zcard(keys.WH_FANOUT) == 0 and not ctx.store.client.keys(keys.wh_message("*"))


@pytest.mark.parametrize(
    ("kind", "status", "code"),
    [
        (Kind.PICKUP, Status.IN_TRANSIT, 1),
        (Kind.PICKUP, Status.DELIVERED, 2),  # handed over at the centre: the dossier is submitted
        (Kind.PICKUP, Status.RETURNED, 1),  # back to the citizen: never submitted
        (Kind.DELIVERY, Status.OUT_FOR_DELIVERY, 9),
        (Kind.DELIVERY, Status.DELIVERED, 10),
        (Kind.DELIVERY, Status.RETURNED, 9),  # the result is back at the centre: reopened
    ],
)
def test_national_dossier_status(kind: Kind, status: Status, code: int) -> None:
    assert national_status(kind, status).code == code


@pytest.mark.parametrize(
    ("address", "refused"),
    [
        ("8.8.8.8", False),
        ("2001:4860:4860::8888", False),
        ("127.0.0.1", True),
        ("10.0.0.1", True),
        ("169.254.169.254", True),  # cloud metadata
        ("100.100.100.200", True),  # carrier-grade NAT range (Alibaba Cloud's metadata address)
        ("::ffff:10.0.0.1", True),  # IPv4 inside IPv6
        ("2002:a00:1::", True),  # 6to4 around 10.0.0.1
        ("224.0.0.1", True),
    ],
)
def test_only_public_addresses_pass_the_egress_rule(address: str, refused: bool) -> None:
    assert (refused_address(address, frozenset()) is not None) is refused


def test_states_of_expired_messages_are_forgotten(api: Client, ctx: Context, hook: Receiver) -> None:
    endpoint = _endpoint(api, hook.url)
    hook.default = 500
    _one_message(api)
    _one_message(api)
    clock = time.time()
    deliver_due(now=clock, allow=LOOPBACK, unit=MIDDLE)
    for delay in RETRY_DELAYS:
        clock += delay
        deliver_due(now=clock, allow=LOOPBACK, unit=MIDDLE)
    client = ctx.store.client
    state, failed = keys.wh_state(endpoint["id"]), keys.wh_failed(endpoint["id"])
    assert client.hlen(state) == 2 and client.zcard(failed) == 2
    first, second = sorted(m.decode() for m in client.hkeys(state))
    client.delete(keys.wh_message(first))  # as if its 30 days had passed
    assert trim(client, time.time()) == 1
    assert [m.decode() for m in client.hkeys(state)] == [second]
    assert trim(client, time.time()) == 0  # at most once an hour
    client.delete(keys.WH_TRIMMED)
    assert trim(client, time.time() + 31 * 86400) == 2  # failures older than 30 days, and the state left
    assert client.zcard(failed) == 0
