"""The console's server side (sign-in, sessions, CSRF, security headers), the printed documents, the
units, re-routing, and the citizen's tracking page with home delivery by one-time code."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest
from litestar.testing import TestClient
from pypdf import PdfReader

from contracts.events import Event
from contracts.statuses import Status
from tests.conftest import order_body
from workers import keys
from workers.context import Context
from workers.users import create_user

Client = TestClient  # type: ignore[type-arg]
PASSWORD = "mật-khẩu-đủ-dài-1"


@pytest.fixture
def clerk(ctx: Context) -> str:
    create_user(ctx.store, username="lan.nguyen", centre="DEMO", name="Nguyễn Thị Lan", password=PASSWORD)
    return "lan.nguyen"


def _sign_in(api: Client, username: str, password: str = PASSWORD) -> Any:
    api.headers.pop("Authorization", None)
    form = api.get("/console/login")
    token = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert token is not None
    return api.post("/console/login", data={"username": username, "password": password, "csrf": token.group(1)},
                    follow_redirects=False)  # fmt: skip


def _csrf(api: Client) -> str:
    found = re.search(r'name="csrf-token" content="([^"]+)"', api.get("/console").text)
    assert found is not None
    return found.group(1)


def test_sign_in_gives_a_session_that_speaks_the_api_with_its_csrf_token(api: Client, clerk: str) -> None:
    assert api.get("/console", follow_redirects=False).headers["location"] == "/console/login"
    wrong = _sign_in(api, clerk, "not the password")
    assert wrong.status_code == 401 and "Sai tên đăng nhập hoặc mật khẩu" in wrong.text
    signed = _sign_in(api, clerk)
    assert signed.status_code == 303 and signed.headers["location"] == "/console"
    cookie = signed.headers["set-cookie"]
    assert "dd_session=" in cookie and "HttpOnly" in cookie and "samesite=strict" in cookie.lower()
    shell = api.get("/console")
    assert shell.status_code == 200 and "Nguyễn Thị Lan" in shell.text
    assert (
        "script-src 'self'" in shell.headers["content-security-policy"] and shell.headers["x-frame-options"] == "DENY"
    )
    assert api.get("/v1/orders").status_code == 200  # the cookie is enough to read
    refused = api.post("/v1/orders", json=order_body())
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    created = api.post("/v1/orders", json=order_body(), headers={"X-CSRF-Token": _csrf(api)})
    assert created.status_code == 201 and created.json()["centre"] == "DEMO"
    logout = api.post("/console/logout", data={"csrf": _csrf(api)}, follow_redirects=False)
    assert logout.status_code == 303
    api.cookies.set("dd_session", cookie.split(";")[0].split("=", 1)[1])
    assert api.get("/v1/orders").status_code == 401  # the session ended on the server, not only in the browser


def test_sign_in_refuses_a_forged_form_and_too_many_guesses(api: Client, clerk: str) -> None:
    api.get("/console/login")
    forged = api.post("/console/login", data={"username": clerk, "password": PASSWORD, "csrf": "made-up"})
    assert forged.status_code == 403
    answers = [_sign_in(api, clerk, "wrong password").status_code for _ in range(11)]
    assert answers[:10] == [401] * 10 and answers[10] == 429
    assert _sign_in(api, clerk).status_code == 429  # even the right password waits out the window


def _booked(ctx: Context, order_id: str, tracking: str, status: Status = Status.BOOKED) -> None:
    now = datetime.now(UTC)
    events = [
        Event(key=f"{tracking}|{s}", status=s, courier="ghn", raw_status=s.value, event_time=now + timedelta(minutes=i),
              received_at=now, tracking_code=tracking)
        for i, s in enumerate([Status.BOOKED, *([status] if status is not Status.BOOKED else [])])
    ]  # fmt: skip
    ctx.store.update_order(order_id, now=now, events=events, tracking_code=tracking)


def _text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def test_consignment_note_and_handover_record_print_what_the_law_asks(api: Client, ctx: Context) -> None:
    body = order_body(
        citizen={"name": "Trần Thị Bích Ngọc", "phone": "0912345678", "id_number": "001090012345"},
        procedure_name="Cấp bản sao trích lục hộ tịch",
        documents=[{"name": "Trích lục khai sinh", "original": True, "count": 2}],
        documents_to_recover=[{"name": "Giấy hẹn trả kết quả", "original": True, "count": 1}],
    )
    first = api.post("/v1/orders", json=body).json()["id"]
    second = api.post("/v1/orders", json=order_body(dossier_code="D-2")).json()["id"]
    assert api.get(f"/v1/orders/{first}/consignment-note").status_code == 409  # no tracking code yet
    _booked(ctx, first, "GHNNOTE1")
    _booked(ctx, second, "GHNNOTE2")
    note = api.get(f"/v1/orders/{first}/consignment-note")
    assert note.status_code == 200 and note.headers["content-type"] == "application/pdf"
    text = _text(note.content)
    for expected in (
        "PHIẾU GỬI KẾT QUẢ",
        "GHNNOTE1",
        "Trần Thị Bích Ngọc",
        "Cấp bản sao trích lục hộ tịch",
        "Trích lục khai sinh",
        "bản chính",
        "Giấy hẹn trả kết quả",
        "CCCD",
        "Bồi thường",
        "người dân",
    ):
        assert expected in text, expected  # fmt: skip
    assert "001090012345" not in text  # the postman checks the ID; the note does not carry its number
    record = api.get(f"/v1/handover-record?order_id={first}&order_id={second}&direction=to_courier")
    text = _text(record.content)
    assert "BIÊN BẢN GIAO NHẬN HỒ SƠ" in text and "GHNNOTE1" in text and "GHNNOTE2" in text
    assert "Cộng: 2 bưu gửi" in text
    other = api.post("/v1/orders", json=order_body(dossier_code="D-3", courier="ghtk")).json()["id"]
    mixed = api.get(f"/v1/handover-record?order_id={first}&order_id={other}")
    assert mixed.status_code == 422
    foreign = api.get(f"/v1/orders/{first}/consignment-note", headers={"Authorization": "Bearer test-key-other"})
    assert foreign.status_code == 404


def test_units_for_the_address_pickers(api: Client) -> None:
    provinces = api.get("/v1/units/provinces").json()["units"]
    assert len(provinces) == 34 and {"code": "01", "name": "Thành phố Hà Nội"} in provinces
    wards = api.get("/v1/units/provinces/01/wards").json()["units"]
    assert {"code": "00070", "name": "Phường Hoàn Kiếm"} in wards and len(wards) == 126
    assert api.get("/v1/units/provinces/99/wards").status_code == 404


def test_reroute_cancels_here_and_sends_the_leg_to_another_courier(api: Client, ctx: Context) -> None:
    order_id = api.post("/v1/orders", json=order_body()).json()["id"]
    moved = api.post(f"/v1/orders/{order_id}/reroute", json={"courier": "ghtk"})
    assert moved.status_code == 201, moved.text
    fresh = moved.json()
    assert fresh["courier"] == "ghtk" and fresh["status"] == "accepted" and fresh["id"] != order_id
    assert api.get(f"/v1/orders/{order_id}").json()["status"] == "cancelled"
    legs = api.get("/v1/dossiers/000.00.01.H26-261121-0001").json()["orders"]
    assert {leg["id"] for leg in legs} == {order_id, fresh["id"]}
    again = api.post(f"/v1/orders/{order_id}/reroute", json={"courier": "vnpost"})
    assert again.status_code == 409  # a cancelled order goes nowhere


def _lookup(api: Client, dossier: str, last4: str, lang: str = "vi") -> Any:
    return api.post("/track", data={"d": dossier, "p": last4, "lang": lang})


def test_tracking_shows_the_journey_and_nothing_personal(api: Client, ctx: Context) -> None:
    body = order_body(citizen={"name": "Lê Văn Tám", "phone": "0987654321", "id_number": "001090099999"})
    order_id = api.post("/v1/orders", json=body).json()["id"]
    _booked(ctx, order_id, "GHNTRACK1", Status.OUT_FOR_DELIVERY)
    page = _lookup(api, "000.00.01.H26-261121-0001", "4321")
    assert page.status_code == 200
    assert "Bưu tá đang mang đến." in page.text and "Đã đặt đơn vị vận chuyển." in page.text
    assert "CCCD" in page.text and "GHNTRACK1" in page.text and "0912000111" in page.text  # the centre's phone
    for personal in ("Lê Văn Tám", "0987654321", "001090099999", "12 Phố Huế"):
        assert personal not in page.text
    english = _lookup(api, "000.00.01.H26-261121-0001", "4321", "en")
    assert "The postman is bringing it." in english.text and 'lang="en"' in english.text
    wrong = _lookup(api, "000.00.01.H26-261121-0001", "1234")
    unknown = _lookup(api, "NO-SUCH-DOSSIER", "4321")
    assert wrong.status_code == unknown.status_code == 404
    assert "Không tìm thấy hồ sơ" in wrong.text and "Không tìm thấy hồ sơ" in unknown.text


def test_tracking_is_rate_limited_per_dossier(api: Client, ctx: Context) -> None:
    answers = [_lookup(api, "D-GUESS", f"{n:04d}").status_code for n in range(11)]
    assert answers[:10] == [404] * 10 and answers[10] == 429


def test_home_delivery_by_one_time_code_creates_a_delivery_order(api: Client, ctx: Context) -> None:
    body = order_body(kind="pickup", dossier_code="D-HOME", citizen={"name": "Phạm Hoa", "phone": "0911222333"})
    pickup = api.post("/v1/orders", json=body).json()["id"]
    _booked(ctx, pickup, "GHNHOME1", Status.DELIVERED)
    assert "Kết quả đã sẵn sàng" not in _lookup(api, "D-HOME", "2333").text  # not until the centre says so
    assert api.post("/v1/dossiers/D-HOME/result-ready").status_code == 200
    offer = _lookup(api, "D-HOME", "2333")
    assert "Kết quả đã sẵn sàng" in offer.text
    form = {
        "d": "D-HOME",
        "p": "2333",
        "lang": "vi",
        "province_code": "01",
        "ward_code": "00070",
        "street": "5 Hàng Bài",
    }
    wrong_phone = api.post("/track/home", data={**form, "phone": "0911000000"})
    assert wrong_phone.status_code == 422
    asked = api.post("/track/home", data={**form, "phone": "+84 911 222 333"})
    assert asked.status_code == 200 and "Nhập mã xác nhận" in asked.text
    request_id = re.search(r'name="request" value="([^"]+)"', asked.text)
    assert request_id is not None
    sms = msgspec.json.decode(ctx.store.client.lrange(keys.outbox("sms"), -1, -1)[0])
    assert sms["to"] == "0911222333"
    code = re.search(r"\b(\d{6})\b", sms["text"])
    assert code is not None
    bad = api.post(
        "/track/home/confirm",
        data={"request": request_id.group(1), "code": "000000" if code.group(1) != "000000" else "111111"},
    )
    assert bad.status_code == 422
    done = api.post("/track/home/confirm", data={"request": request_id.group(1), "code": code.group(1)})
    assert done.status_code == 201 and "Đã nhận yêu cầu" in done.text
    legs = api.get("/v1/dossiers/D-HOME").json()["orders"]
    delivery = [leg for leg in legs if leg["kind"] == "delivery"]
    assert len(delivery) == 1 and delivery[0]["status"] == "accepted"
    stored = ctx.store.get_order(delivery[0]["id"])
    assert stored is not None and stored.address.street == "5 Hàng Bài" and stored.address.ward_code == "00070"
    replay = api.post("/track/home/confirm", data={"request": request_id.group(1), "code": code.group(1)})
    assert replay.status_code == 410  # one code, one order
    assert "Kết quả đã sẵn sàng" not in _lookup(api, "D-HOME", "2333").text  # a delivery is on its way now


def test_a_note_with_fifty_long_documents_still_prints(api: Client, ctx: Context) -> None:
    documents = [{"name": f"{n:02d} " + "Giấy tờ rất dài " * 12, "original": n % 2 == 0, "count": 3} for n in range(50)]
    order_id = api.post("/v1/orders", json=order_body(documents=documents, procedure_name="Thủ tục " * 37)).json()["id"]
    _booked(ctx, order_id, "GHNLONG1")
    note = api.get(f"/v1/orders/{order_id}/consignment-note")
    assert note.status_code == 200, note.text
    assert "tổng 50 loại giấy tờ, 150 bản" in " ".join(_text(note.content).split())
    assert api.get(f"/v1/handover-record?order_id={order_id}").status_code == 200


def _home_code(api: Client, ctx: Context, dossier: str, phone: str) -> tuple[str, str]:
    form = {"d": dossier, "p": phone[-4:], "lang": "vi", "province_code": "01", "ward_code": "00070",
            "street": "5 Hàng Bài", "phone": phone}  # fmt: skip
    asked = api.post("/track/home", data=form)
    request_id = re.search(r'name="request" value="([^"]+)"', asked.text)
    assert request_id is not None, asked.text
    sms = msgspec.json.decode(ctx.store.client.lrange(keys.outbox("sms"), -1, -1)[0])
    code = re.search(r"\b(\d{6})\b", sms["text"])
    assert code is not None
    return request_id.group(1), code.group(1)


def test_one_time_codes_allow_five_tries_and_one_delivery(api: Client, ctx: Context) -> None:
    body = order_body(kind="pickup", dossier_code="D-TWICE", citizen={"name": "Phạm Hoa", "phone": "0911222444"})
    pickup = api.post("/v1/orders", json=body).json()["id"]
    _booked(ctx, pickup, "GHNTWICE", Status.DELIVERED)
    api.post("/v1/dossiers/D-TWICE/result-ready")
    guessed, guessed_code = _home_code(api, ctx, "D-TWICE", "0911222444")
    first, first_code = _home_code(api, ctx, "D-TWICE", "0911222444")
    second, second_code = _home_code(api, ctx, "D-TWICE", "0911222444")
    wrong = "000000" if guessed_code != "000000" else "111111"
    answers = [api.post("/track/home/confirm", data={"request": guessed, "code": wrong}).status_code for _ in range(6)]
    assert answers == [422] * 5 + [410]  # the sixth try finds the code gone
    assert api.post("/track/home/confirm", data={"request": guessed, "code": guessed_code}).status_code == 410
    assert api.post("/track/home/confirm", data={"request": first, "code": first_code}).status_code == 201
    # A second request made before the first was confirmed: the result is on its way already.
    assert api.post("/track/home/confirm", data={"request": second, "code": second_code}).status_code == 409
    legs = api.get("/v1/dossiers/D-TWICE").json()["orders"]
    assert [leg["kind"] for leg in legs].count("delivery") == 1
