"""ViettelPostClient against Viettel Post mocked with pytest-httpx (strict): tokens, orders, and failures."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import msgspec
import pytest
from pytest_httpx import HTTPXMock

from contracts.config import CourierAccount
from contracts.couriers import Booking, Party, Shipment
from contracts.statuses import Status
from tests.conftest import fixture
from workers.couriers import CourierRejected, CourierUnavailable
from workers.couriers.viettelpost import ViettelPostClient

VTP = "http://vtp.test/viettelpost"
LOGIN = {"USERNAME": "demo@dossier-dispatch.vn", "PASSWORD": "sandbox-vtp-password"}
OWNER = {"Token": "owner-long-token", "Content-Type": "application/json"}
CREATE = f"{VTP}/v2/order/createOrderNlp"
DETAIL = f"{VTP}/v2/order/detail-v2"
UPDATE = f"{VTP}/v2/order/UpdateOrder"


def _account(**fields: object) -> CourierAccount:
    base = {"base_url": VTP, "username": LOGIN["USERNAME"], "password": LOGIN["PASSWORD"], "callback_secret": "s"}
    return msgspec.convert({**base, **fields}, CourierAccount)


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client() as client:
        yield client


@pytest.fixture
def client(http: httpx.Client) -> ViettelPostClient:
    return ViettelPostClient(_account(), http)


def _shipment() -> Shipment:
    centre = Party(name="Trung tâm", phone="0912000111", street="1 Tràng Tiền", ward_name="Phường Hoàn Kiếm",
                   province_name="Thành phố Hà Nội", ward_code="00070", province_code="01")  # fmt: skip
    citizen = Party(name="Nguyễn Văn A", phone="0912345678", street="12 Phố Huế", ward_name="Phường Ba Đình",
                    province_name="Thành phố Hà Nội", ward_code="00004", province_code="01")  # fmt: skip
    return Shipment(reference="o01TESTORDER", sender=centre, receiver=citizen, document_count=1, weight_grams=210)


def _logs_in(httpx_mock: HTTPXMock) -> None:
    """Login with the account's credentials, then ownerconnect with the short-lived token in `Token`."""
    httpx_mock.add_response(url=f"{VTP}/v2/user/Login", method="POST", match_json=LOGIN,
                            content=fixture("viettelpost", "login_ok.json"))  # fmt: skip
    httpx_mock.add_response(url=f"{VTP}/v2/user/ownerconnect", method="POST", match_json=LOGIN,
                            match_headers={"Token": "partner-short-token"},
                            content=fixture("viettelpost", "ownerconnect_ok.json"))  # fmt: skip


def test_create_logs_in_then_books_with_the_long_lived_owner_token(
    client: ViettelPostClient, httpx_mock: HTTPXMock
) -> None:
    _logs_in(httpx_mock)
    created = fixture("viettelpost", "create_ok.json")
    httpx_mock.add_response(url=CREATE, method="POST", match_headers=OWNER, content=created)
    booking = client.create(_shipment())
    assert booking == Booking(tracking_code="11506020148", total_fee=18150)
    sent = msgspec.json.decode(httpx_mock.get_requests(url=CREATE)[0].content)
    assert (sent["ORDER_NUMBER"], sent["PRODUCT_TYPE"], sent["RECEIVER_FULLNAME"]) == (
        "o01TESTORDER",
        "TH",
        "Nguyễn Văn A",
    )
    stamped = datetime.strptime(sent["DELIVERY_DATE"], "%d/%m/%Y %H:%M:%S")
    assert abs((stamped - datetime.now(UTC).replace(tzinfo=None)).total_seconds() - 7 * 3600) < 60


def test_the_owner_token_is_cached_for_later_calls(client: ViettelPostClient, httpx_mock: HTTPXMock) -> None:
    _logs_in(httpx_mock)
    httpx_mock.add_response(url=CREATE, match_headers=OWNER, content=fixture("viettelpost", "create_ok.json"))
    httpx_mock.add_response(url=UPDATE, match_headers=OWNER, content=fixture("viettelpost", "update_ok.json"))
    client.create(_shipment())
    client.cancel("11506020148")
    assert len(httpx_mock.get_requests(url=f"{VTP}/v2/user/Login")) == 1


def test_a_401_logs_in_again_once_and_repeats_the_call(client: ViettelPostClient, httpx_mock: HTTPXMock) -> None:
    _logs_in(httpx_mock)
    httpx_mock.add_response(url=CREATE, status_code=401)
    _logs_in(httpx_mock)
    httpx_mock.add_response(url=CREATE, match_headers=OWNER, content=fixture("viettelpost", "create_ok.json"))
    assert client.create(_shipment()).tracking_code == "11506020148"
    assert len(httpx_mock.get_requests(url=CREATE)) == 2


def test_a_second_401_is_a_rejection_not_a_loop(client: ViettelPostClient, httpx_mock: HTTPXMock) -> None:
    _logs_in(httpx_mock)
    httpx_mock.add_response(url=CREATE, status_code=401)
    _logs_in(httpx_mock)
    httpx_mock.add_response(url=CREATE, status_code=401)
    with pytest.raises(CourierRejected, match="401"):
        client.create(_shipment())


def test_a_portal_token_is_used_as_is_until_vtp_refuses_it(http: httpx.Client, httpx_mock: HTTPXMock) -> None:
    client = ViettelPostClient(_account(token="portal-token"), http)
    portal = {"Token": "portal-token"}
    httpx_mock.add_response(url=UPDATE, match_headers=portal, content=fixture("viettelpost", "update_ok.json"))
    httpx_mock.add_response(url=UPDATE, match_headers=portal, status_code=401)
    _logs_in(httpx_mock)
    httpx_mock.add_response(url=UPDATE, match_headers=OWNER, content=fixture("viettelpost", "update_ok.json"))
    assert client.cancel("11506020148") == "Cập nhật thành công"
    assert client.cancel("11506020148") == "Cập nhật thành công"


def test_ownerconnect_may_use_the_shops_own_login(http: httpx.Client, httpx_mock: HTTPXMock) -> None:
    client = ViettelPostClient(_account(options={"owner_username": "shop", "owner_password": "pw"}), http)
    httpx_mock.add_response(url=f"{VTP}/v2/user/Login", match_json=LOGIN,
                            content=fixture("viettelpost", "login_ok.json"))  # fmt: skip
    httpx_mock.add_response(url=f"{VTP}/v2/user/ownerconnect", match_json={"USERNAME": "shop", "PASSWORD": "pw"},
                            content=fixture("viettelpost", "ownerconnect_ok.json"))  # fmt: skip
    httpx_mock.add_response(url=UPDATE, match_headers=OWNER, content=fixture("viettelpost", "update_ok.json"))
    client.cancel("11506020148")


def test_refused_login_is_a_rejection_in_vtps_words(client: ViettelPostClient, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=f"{VTP}/v2/user/Login", content=fixture("viettelpost", "login_rejected.json"))
    with pytest.raises(CourierRejected, match="Sai tên đăng nhập"):
        client.create(_shipment())


def test_an_account_without_login_or_token_is_a_rejection(http: httpx.Client) -> None:
    with pytest.raises(CourierRejected, match="username"):
        ViettelPostClient(_account(username=None, password=None), http).track("11506020148")


def test_error_envelope_on_create_is_a_rejection_in_vtps_words(
    client: ViettelPostClient, httpx_mock: HTTPXMock
) -> None:
    _logs_in(httpx_mock)
    httpx_mock.add_response(url=CREATE, content=fixture("viettelpost", "create_rejected.json"))
    with pytest.raises(CourierRejected, match="Số điện thoại người nhận"):
        client.create(_shipment())


def test_misconfigured_account_option_is_a_rejection_before_any_call(http: httpx.Client) -> None:
    with pytest.raises(CourierRejected, match="cus_id"):
        ViettelPostClient(_account(options={"cus_id": "x"}), http).create(_shipment())


def test_find_returns_the_booking_vtp_holds_under_our_reference(
    client: ViettelPostClient, httpx_mock: HTTPXMock
) -> None:
    _logs_in(httpx_mock)
    httpx_mock.add_response(url=f"{DETAIL}?o=o01TESTORDER", method="GET", match_headers=OWNER,
                            content=fixture("viettelpost", "detail_ok.json"))  # fmt: skip
    assert client.find("o01TESTORDER") == Booking(tracking_code="11506020148")


def test_find_returns_none_when_vtp_does_not_know_the_reference(
    client: ViettelPostClient, httpx_mock: HTTPXMock
) -> None:
    _logs_in(httpx_mock)
    httpx_mock.add_response(url=f"{DETAIL}?o=o01NEW", content=fixture("viettelpost", "detail_not_found.json"))
    assert client.find("o01NEW") is None


def test_find_refused_over_http_passes_up_rather_than_risk_booking_twice(
    client: ViettelPostClient, httpx_mock: HTTPXMock
) -> None:
    _logs_in(httpx_mock)
    httpx_mock.add_response(url=f"{DETAIL}?o=o01NEW", status_code=404)
    with pytest.raises(CourierRejected):
        client.find("o01NEW")


def test_an_account_without_lookup_refuses_to_find_or_track(http: httpx.Client) -> None:
    client = ViettelPostClient(_account(options={"detail_path": "", "find_path": ""}), http)
    with pytest.raises(CourierRejected, match="portal"):
        client.find("o01TESTORDER")
    with pytest.raises(CourierRejected, match="webhook-only"):
        client.track("11506020148")


def test_track_reads_the_status_vtp_reports(client: ViettelPostClient, httpx_mock: HTTPXMock) -> None:
    _logs_in(httpx_mock)
    detail = fixture("viettelpost", "detail_ok.json")
    httpx_mock.add_response(url=f"{DETAIL}?o=11506020148", match_headers=OWNER, content=detail)
    [update] = client.track("11506020148")
    assert (update.status, update.tracking_code) == (Status.PICKED_UP, "11506020148")


@pytest.mark.parametrize(("operation", "type_", "note"), [
    ("cancel", 4, "Trung tâm hủy đơn"), ("redeliver", 3, "Phát tiếp"), ("return_to_sender", 2, "Duyệt chuyển hoàn"),
])  # fmt: skip
def test_order_changes_go_through_update_order_with_their_type(
    client: ViettelPostClient, httpx_mock: HTTPXMock, operation: str, type_: int, note: str
) -> None:
    _logs_in(httpx_mock)
    httpx_mock.add_response(url=UPDATE, method="POST", match_headers=OWNER,
                            match_json={"TYPE": type_, "ORDER_NUMBER": "11506020148", "NOTE": note},
                            content=fixture("viettelpost", "update_ok.json"))  # fmt: skip
    assert getattr(client, operation)("11506020148") == "Cập nhật thành công"


def test_refused_cancel_is_a_rejection_in_vtps_words(client: ViettelPostClient, httpx_mock: HTTPXMock) -> None:
    _logs_in(httpx_mock)
    httpx_mock.add_response(url=UPDATE, content=fixture("viettelpost", "update_refused.json"))
    with pytest.raises(CourierRejected, match="không thể hủy"):
        client.cancel("11506020148")


@pytest.mark.parametrize("failure", ["timeout", "connect", 429, 500, 502, 503])
def test_unavailable_vtp_is_retried_later(client: ViettelPostClient, httpx_mock: HTTPXMock, failure: object) -> None:
    _logs_in(httpx_mock)
    if failure == "timeout":
        httpx_mock.add_exception(httpx.ReadTimeout("slow"), url=CREATE)
    elif failure == "connect":
        httpx_mock.add_exception(httpx.ConnectError("refused"), url=CREATE)
    else:
        httpx_mock.add_response(url=CREATE, status_code=int(failure))  # type: ignore[call-overload]
    with pytest.raises(CourierUnavailable):
        client.create(_shipment())


def test_unreachable_login_is_unavailable_too(client: ViettelPostClient, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_exception(httpx.ConnectTimeout("slow"), url=f"{VTP}/v2/user/Login")
    with pytest.raises(CourierUnavailable):
        client.track("11506020148")


@pytest.mark.parametrize("status_code", [400, 403, 404, 422])
def test_other_4xx_is_a_rejection(client: ViettelPostClient, httpx_mock: HTTPXMock, status_code: int) -> None:
    _logs_in(httpx_mock)
    httpx_mock.add_response(url=CREATE, status_code=status_code, text="Bad request")
    with pytest.raises(CourierRejected):
        client.create(_shipment())


def test_an_unreadable_answer_is_unavailable_not_a_booking(client: ViettelPostClient, httpx_mock: HTTPXMock) -> None:
    _logs_in(httpx_mock)
    httpx_mock.add_response(url=CREATE, text="<html>gateway</html>")
    with pytest.raises(CourierUnavailable):
        client.create(_shipment())
