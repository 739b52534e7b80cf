"""Citizen notices (TT 17/2017 Điều 12): sent by email through a real local SMTP server and by SMS to the
outbox, in Vietnamese (or English), once per change however often the courier repeats itself."""

from __future__ import annotations

import email
import email.policy
import socket
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import msgspec
import pytest
from aiosmtpd.controller import Controller
from litestar.testing import TestClient

from contracts.settings import Settings
from tests.conftest import API_KEY, SECRET, fixture, order_body
from workers import keys, notify
from workers.context import Context
from workers.embedded import EmbeddedStore
from workers.jobs import ingest_callbacks

Client = TestClient  # type: ignore[type-arg]
CITIZEN = {"name": "Nguyễn Văn An", "phone": "0912345678", "email": "an.nguyen@example.vn", "id_number": "001090012345"}


class Inbox:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        self.messages.append(parsed)  # type: ignore[arg-type]
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox, port = Inbox(), _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


@pytest.fixture
def settings(embedded: EmbeddedStore, smtp: tuple[Inbox, int]) -> Settings:
    return Settings(
        redis_url=embedded.url, dd_dev_api_key=API_KEY, dd_dev_callback_secret=SECRET, dd_sandbox_port=18999,
        dd_smtp_host="127.0.0.1", dd_smtp_port=smtp[1], dd_smtp_from="Trung tâm PVHCC <no-reply@demo.gov.vn>",
    )  # fmt: skip


def _order(api: Client, **body: Any) -> str:
    created = api.post("/v1/orders", json=order_body(**{"citizen": CITIZEN, **body}))
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def _ghn(api: Client, order_id: str, *steps: tuple[str, dict[str, Any]]) -> None:
    for name, changes in steps:
        payload = msgspec.json.decode(fixture("ghn", name))
        payload.update(ClientOrderCode=order_id, **changes)
        assert api.post("/v1/callbacks/ghn", params={"token": SECRET}, json=payload).status_code == 200
    ingest_callbacks("ghn")


def _sms(ctx: Context) -> list[dict[str, str]]:
    return [msgspec.json.decode(raw) for raw in ctx.store.client.lrange(keys.outbox("sms"), 0, -1)]


def test_a_delivery_tells_the_citizen_it_is_coming_and_when_it_failed(
    api: Client, ctx: Context, smtp: tuple[Inbox, int]
) -> None:
    inbox, _ = smtp
    order_id = _order(api)
    journey = [
        ("callback_create.json", {}),
        ("callback_naive_time.json", {"Time": "2026-11-25T10:30:00+07:00"}),  # picked: on its way
        ("callback_delivery_fail.json", {"Time": "2026-11-26T11:00:00+07:00"}),  # a failed attempt
    ]
    _ghn(api, order_id, *journey)
    _ghn(api, order_id, *journey)  # GHN retries every callback: nothing new to tell
    assert notify.run() == 2
    assert notify.run() == 0
    texts = [m["text"] for m in _sms(ctx)]
    assert len(texts) == 2 and all(m["to"] == "0912345678" for m in _sms(ctx))
    assert texts[0].startswith("Giao Hàng Nhanh đang chuyển kết quả hồ sơ 000.00.01.H26-261121-0001")
    assert "xuất trình CCCD" in texts[0]
    assert "Lần phát tiếp theo: 30/11/2026" in texts[1]  # Thu 26 + two working days, skipping the weekend
    subjects = [m["subject"] for m in inbox.messages]
    assert subjects == [
        "Kết quả hồ sơ 000.00.01.H26-261121-0001 đang được chuyển đến ông/bà",
        "Chưa phát được kết quả hồ sơ 000.00.01.H26-261121-0001",
    ]
    assert inbox.messages[0]["to"] == "an.nguyen@example.vn"
    for text in [*texts, *(m.get_content() for m in inbox.messages)]:  # nothing personal in a message
        assert "001090012345" not in text and "Phố Huế" not in text and "0912345678" not in text
    shown = api.get(f"/v1/orders/{order_id}/events").json()["notices"]
    assert [(n["kind"], n["channel"], n["outcome"]) for n in shown] == [
        ("result_on_its_way", "sms", "kept"), ("result_on_its_way", "email", "sent"),
        ("delivery_failed", "sms", "kept"), ("delivery_failed", "email", "sent"),
    ]  # fmt: skip
    assert {n["to"] for n in shown} == {"09******78", "a***@example.vn"}


def test_a_pickup_tells_the_citizen_the_dossier_arrived_and_the_result_date(
    api: Client, ctx: Context, smtp: tuple[Inbox, int]
) -> None:
    order_id = _order(api, kind="pickup", appointment_date="2026-12-04")
    _ghn(api, order_id, ("callback_create.json", {}), ("callback_delivered.json", {}))
    notify.run()
    [sms] = _sms(ctx)
    assert (
        "đã được Giao Hàng Nhanh giao đến Trung tâm Phục vụ hành chính công (demo) lúc 15:30 22/11/2026" in sms["text"]
    )
    assert "Ngày hẹn trả kết quả: 04/12/2026" in sms["text"]
    [mail] = smtp[0].messages
    assert mail["subject"] == "Hồ sơ 000.00.01.H26-261121-0001 đã đến Trung tâm Phục vụ hành chính công (demo)"


def test_notices_in_english_when_the_citizen_asked(api: Client, ctx: Context) -> None:
    order_id = _order(api, kind="pickup", citizen={**CITIZEN, "language": "en"})
    _ghn(api, order_id, ("callback_create.json", {}), ("callback_delivered.json", {}))
    notify.run()
    [sms] = _sms(ctx)
    assert sms["text"].startswith("Your dossier 000.00.01.H26-261121-0001 was handed to")


def test_a_result_held_at_the_post_office_says_where(api: Client, ctx: Context) -> None:
    order_id = _order(api, courier="viettelpost")
    payload = msgspec.json.decode(fixture("viettelpost", "callback_delivered.json"))
    payload["DATA"].update(ORDER_REFERENCE=order_id, ORDER_STATUS=507, LOCALION_CURRENTLY="Bưu cục Cầu Giấy")
    assert api.post("/v1/callbacks/viettelpost", json=payload).status_code == 200
    ingest_callbacks("viettelpost")
    notify.run()
    texts = [m["text"] for m in _sms(ctx)]
    assert texts[-1].startswith("Kết quả hồ sơ 000.00.01.H26-261121-0001 đang được lưu tại Bưu cục Cầu Giấy")


def test_a_mail_server_that_is_down_is_tried_again_without_resending_the_sms(
    api: Client, ctx: Context, smtp: tuple[Inbox, int]
) -> None:
    order_id = _order(api)
    _ghn(api, order_id, ("callback_create.json", {}), ("callback_naive_time.json", {}))
    inbox, port = smtp
    ctx.settings = msgspec.structs.replace(ctx.settings, dd_smtp_port=_free_port())  # nobody listens there
    notify.run()
    assert len(_sms(ctx)) == 1 and inbox.messages == []
    [due] = ctx.store.client.zrange(keys.NOTICE_DUE, 0, -1, withscores=True)
    ctx.settings = msgspec.structs.replace(ctx.settings, dd_smtp_port=port)  # back up
    ctx.store.client.zadd(keys.NOTICE_DUE, {due[0]: 0})  # the minute has passed
    notify.run()
    assert len(_sms(ctx)) == 1 and len(inbox.messages) == 1  # the email now, the SMS not again
