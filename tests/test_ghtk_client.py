"""GhtkClient against GHTK mocked with pytest-httpx (strict): URLs, static headers, and the two failures."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import msgspec
import pytest
from pytest_httpx import HTTPXMock

from contracts.config import CourierAccount, dev_config
from contracts.couriers import Party, Shipment, ghtk
from contracts.settings import Settings
from contracts.statuses import Status
from tests.conftest import fixture
from workers.couriers import CourierRejected, CourierUnavailable
from workers.couriers.ghtk import GhtkClient

BASE = "http://127.0.0.1:18999/ghtk/services/shipment"
CREATE = f"{BASE}/order/?ver=1.5"
LABEL = "S22749126.SGP39-J31.1375835526"
HEADERS = {"Token": "sandbox-ghtk-token", "X-Client-Source": "S-DEMO"}
SHIPMENT = Shipment(
    reference="o01TESTORDER",
    sender=Party(name="Trung tâm (demo)", phone="0912000111", street="1 Tràng Tiền", ward_name="Phường Hoàn Kiếm",
                 province_name="Thành phố Hà Nội"),
    receiver=Party(name="Nguyễn Văn A", phone="0912345678", street="12 Phố Huế", ward_name="Phường Ba Đình",
                   province_name="Thành phố Hà Nội"),
    document_count=1,
    weight_grams=210,
)  # fmt: skip


def _account() -> CourierAccount:
    settings = Settings(dd_dev_callback_secret="s", dd_sandbox_port=18999)
    return dev_config(settings).centres["DEMO"].couriers["ghtk"]


@pytest.fixture
def client() -> Iterator[GhtkClient]:
    with httpx.Client() as http:
        yield GhtkClient(_account(), http)


def test_create_posts_the_encoded_order_with_static_token_and_client_source(
    client: GhtkClient, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(
        url=CREATE,
        method="POST",
        match_headers={**HEADERS, "Content-Type": "application/json"},
        match_json=msgspec.json.decode(ghtk.encode_shipment(SHIPMENT, _account())),
        content=fixture("ghtk", "create_ok.json"),
    )
    booking = client.create(SHIPMENT)
    assert (booking.tracking_code, booking.total_fee) == (LABEL, 34400)


def test_the_token_is_static_no_login_and_the_same_headers_every_call(
    client: GhtkClient, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(url=CREATE, match_headers=HEADERS, content=fixture("ghtk", "create_ok.json"))
    httpx_mock.add_response(url=f"{BASE}/v2/{LABEL}", match_headers=HEADERS, content=fixture("ghtk", "detail_ok.json"))
    client.create(SHIPMENT)
    client.track(LABEL)
    assert [r.url.path for r in httpx_mock.get_requests()] == [
        "/ghtk/services/shipment/order/",
        f"/ghtk/services/shipment/v2/{LABEL}",
    ]


def test_an_account_without_partner_code_sends_no_client_source(httpx_mock: HTTPXMock) -> None:
    account = msgspec.structs.replace(_account(), partner_code=None)
    httpx_mock.add_response(url=f"{BASE}/v2/{LABEL}", content=fixture("ghtk", "detail_ok.json"))
    with httpx.Client() as http:
        GhtkClient(account, http).track(LABEL)
    sent = httpx_mock.get_requests()[0].headers
    assert sent["Token"] == "sandbox-ghtk-token" and "X-Client-Source" not in sent


def test_find_looks_up_our_reference_as_partner_id(client: GhtkClient, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        url=f"{BASE}/v2/partner_id:o01TESTORDER",
        method="GET",
        match_headers=HEADERS,
        content=fixture("ghtk", "detail_ok.json"),
    )
    booking = client.find("o01TESTORDER")
    assert booking is not None and booking.tracking_code == LABEL


@pytest.mark.parametrize(("status_code", "name"), [(200, "detail_not_found.json"), (404, "detail_not_found.json")])
def test_find_answers_none_when_ghtk_does_not_know_the_reference(
    client: GhtkClient, httpx_mock: HTTPXMock, status_code: int, name: str
) -> None:
    httpx_mock.add_response(url=f"{BASE}/v2/partner_id:o01X", status_code=status_code, content=fixture("ghtk", name))
    assert client.find("o01X") is None


def test_find_that_could_not_look_is_not_taken_for_not_booked(client: GhtkClient, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=f"{BASE}/v2/partner_id:o01X", status_code=401, json={"success": False})
    with pytest.raises(CourierRejected):
        client.find("o01X")
    httpx_mock.add_response(url=f"{BASE}/v2/partner_id:o01X", status_code=503)
    with pytest.raises(CourierUnavailable):
        client.find("o01X")


def test_track_gives_the_current_status(client: GhtkClient, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=f"{BASE}/v2/{LABEL}", method="GET", content=fixture("ghtk", "detail_ok.json"))
    [update] = client.track(LABEL)
    assert (update.status, update.tracking_code, update.reference) == (Status.PICKED_UP, LABEL, "o01TESTORDER")


def test_track_of_an_unknown_label_is_a_rejection(client: GhtkClient, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=f"{BASE}/v2/{LABEL}", content=fixture("ghtk", "detail_not_found.json"))
    with pytest.raises(CourierRejected, match="Không tìm thấy"):
        client.track(LABEL)


def test_cancel_before_pickup_is_accepted(client: GhtkClient, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        url=f"{BASE}/cancel/{LABEL}", method="POST", match_headers=HEADERS, content=fixture("ghtk", "cancel_ok.json")
    )
    assert client.cancel(LABEL) == "OK"


def test_cancel_after_pickup_is_refused_in_ghtks_words(client: GhtkClient, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=f"{BASE}/cancel/{LABEL}", method="POST", content=fixture("ghtk", "cancel_refused.json"))
    with pytest.raises(CourierRejected, match="Đơn đã lấy hàng, không thể hủy đơn"):
        client.cancel(LABEL)


@pytest.mark.parametrize("operation", ["redeliver", "return_to_sender"])
def test_ghtk_has_no_redeliver_or_return_api_so_a_clerk_asks_ghtk(
    client: GhtkClient, httpx_mock: HTTPXMock, operation: str
) -> None:
    with pytest.raises(CourierRejected, match="GHTK has no"):
        getattr(client, operation)(LABEL)
    assert httpx_mock.get_requests() == []


@pytest.mark.parametrize("failure", ["timeout", "connect", 429, 500, 502, 503])
def test_unavailable_ghtk_is_retried_not_failed(client: GhtkClient, httpx_mock: HTTPXMock, failure: object) -> None:
    if failure == "timeout":
        httpx_mock.add_exception(httpx.ReadTimeout("slow"), url=CREATE)
    elif failure == "connect":
        httpx_mock.add_exception(httpx.ConnectError("refused"), url=CREATE)
    else:
        httpx_mock.add_response(url=CREATE, status_code=int(failure))  # type: ignore[call-overload]
    with pytest.raises(CourierUnavailable):
        client.create(SHIPMENT)


def test_an_unreadable_answer_is_unavailable_not_a_booking(client: GhtkClient, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=CREATE, content=b"<html>Bad gateway</html>")
    with pytest.raises(CourierUnavailable):
        client.create(SHIPMENT)


@pytest.mark.parametrize("status_code", [400, 401, 403, 422])
def test_other_4xx_needs_a_clerk(client: GhtkClient, httpx_mock: HTTPXMock, status_code: int) -> None:
    httpx_mock.add_response(url=CREATE, status_code=status_code, json={"success": False, "message": "Token sai"})
    with pytest.raises(CourierRejected, match=str(status_code)):
        client.create(SHIPMENT)


def test_error_envelope_on_http_200_needs_a_clerk_with_ghtks_words(client: GhtkClient, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=CREATE, content=fixture("ghtk", "create_rejected.json"))
    with pytest.raises(CourierRejected, match="Số điện thoại người nhận không hợp lệ"):
        client.create(SHIPMENT)


def test_a_bad_account_option_is_refused_before_calling_ghtk(httpx_mock: HTTPXMock) -> None:
    account = msgspec.structs.replace(_account(), options={"district_mode": "old"})
    with httpx.Client() as http, pytest.raises(CourierRejected, match="district_mode"):
        GhtkClient(account, http).create(SHIPMENT)
    assert httpx_mock.get_requests() == []
