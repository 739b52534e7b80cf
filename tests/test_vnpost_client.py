"""VnpostClient against MyVNPost mocked with pytest-httpx (strict): token lifecycle, operations, failures."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import msgspec
import pytest
from pytest_httpx import HTTPXMock

from contracts.config import CourierAccount
from contracts.couriers import Party, Shipment
from contracts.couriers import vnpost as wire
from contracts.statuses import Status
from tests.conftest import fixture
from workers.couriers import CourierRejected, CourierUnavailable
from workers.couriers.vnpost import VnpostClient

BASE = "http://vnpost.test/MYVNP_API"
ACCOUNT = CourierAccount(
    base_url=BASE, username="demo", password="pw", customer_code="DEMO01", callback_secret="s", timeout_seconds=2
)
LOGIN = {"username": "demo", "password": "pw", "customerCode": "DEMO01"}
CENTRE = Party(name="Trung tâm (demo)", phone="0912000111", street="1 Tràng Tiền", ward_name="Phường Hoàn Kiếm",
               province_name="Thành phố Hà Nội", ward_code="00070", province_code="01")  # fmt: skip
CITIZEN = Party(name="Nguyễn Văn A", phone="0912345678", street="12 Phố Huế", ward_name="Phường Ba Đình",
                province_name="Thành phố Hà Nội", ward_code="00004", province_code="01")  # fmt: skip
SHIPMENT = Shipment(reference="o01TESTORDER", sender=CENTRE, receiver=CITIZEN, document_count=1, weight_grams=210)
TRACKING = "EN340902457VN"


@pytest.fixture
def client() -> Iterator[VnpostClient]:
    with httpx.Client() as http:
        yield VnpostClient(ACCOUNT, http)


def _login(httpx_mock: HTTPXMock, token: str = "tok-1") -> None:
    body = msgspec.json.decode(fixture("vnpost", "token_ok.json"))
    httpx_mock.add_response(
        url=f"{BASE}/GetAccessToken", method="POST", match_json=LOGIN, json={**body, "token": token}
    )


def _create(httpx_mock: HTTPXMock, token: str = "tok-1", **response: Any) -> None:
    httpx_mock.add_response(
        url=f"{BASE}/CreateOrder",
        method="POST",
        match_headers={"token": token, "Content-Type": "application/json"},
        match_json=msgspec.json.decode(wire.encode_shipment(SHIPMENT, ACCOUNT)),
        **(response or {"content": fixture("vnpost", "create_ok.json")}),
    )


def _lookup(httpx_mock: HTTPXMock, lookup_type: str, code: str, name: str, token: str = "tok-1") -> None:
    httpx_mock.add_response(
        url=httpx.URL(f"{BASE}/getOrder", params={"type": lookup_type, "code": code}),
        method="GET",
        match_headers={"token": token},
        content=fixture("vnpost", name),
    )


def test_create_logs_in_then_books_with_the_token_header(client: VnpostClient, httpx_mock: HTTPXMock) -> None:
    _login(httpx_mock)
    _create(httpx_mock)
    booking = client.create(SHIPMENT)
    assert (booking.tracking_code, booking.total_fee) == (TRACKING, 16500)


def test_token_is_cached_across_calls(client: VnpostClient, httpx_mock: HTTPXMock) -> None:
    _login(httpx_mock)
    _create(httpx_mock)
    _lookup(httpx_mock, "2", "o01TESTORDER", "order_found.json")
    client.create(SHIPMENT)
    client.find("o01TESTORDER")
    assert [r.url.path for r in httpx_mock.get_requests()].count("/MYVNP_API/GetAccessToken") == 1


@pytest.mark.parametrize("refusal", [401, 403])
def test_refused_token_is_renewed_once_and_the_call_retried(
    client: VnpostClient, httpx_mock: HTTPXMock, refusal: int
) -> None:
    _login(httpx_mock, "tok-1")
    _create(httpx_mock, "tok-1", status_code=refusal)
    _login(httpx_mock, "tok-2")
    _create(httpx_mock, "tok-2")
    assert client.create(SHIPMENT).tracking_code == TRACKING


def test_a_second_refusal_after_renewal_is_a_rejection(client: VnpostClient, httpx_mock: HTTPXMock) -> None:
    _login(httpx_mock, "tok-1")
    _create(httpx_mock, "tok-1", status_code=401)
    _login(httpx_mock, "tok-2")
    _create(httpx_mock, "tok-2", status_code=403)
    with pytest.raises(CourierRejected, match="403"):
        client.create(SHIPMENT)


def test_refused_login_is_a_rejection_with_vnpost_words(client: VnpostClient, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=f"{BASE}/GetAccessToken", content=fixture("vnpost", "token_refused.json"))
    with pytest.raises(CourierRejected, match="Sai thông tin đăng nhập"):
        client.create(SHIPMENT)


def test_unreachable_login_is_unavailable(client: VnpostClient, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_exception(httpx.ConnectError("refused"), url=f"{BASE}/GetAccessToken")
    with pytest.raises(CourierUnavailable):
        client.create(SHIPMENT)


def test_find_looks_up_our_reference_as_sale_order_code(client: VnpostClient, httpx_mock: HTTPXMock) -> None:
    _login(httpx_mock)
    _lookup(httpx_mock, "2", "o01TESTORDER", "order_found.json")
    booking = client.find("o01TESTORDER")
    assert booking is not None and booking.tracking_code == TRACKING


def test_find_returns_none_when_vnpost_does_not_know_the_reference(client: VnpostClient, httpx_mock: HTTPXMock) -> None:
    _login(httpx_mock)
    _lookup(httpx_mock, "2", "o01UNKNOWN", "order_not_found.json")
    assert client.find("o01UNKNOWN") is None


def test_find_ignores_an_order_filed_under_another_reference(client: VnpostClient, httpx_mock: HTTPXMock) -> None:
    _login(httpx_mock)
    _lookup(httpx_mock, "2", "o01OTHER", "order_found.json")  # answers o01TESTORDER's order
    assert client.find("o01OTHER") is None


def test_a_refused_lookup_is_never_read_as_unknown(client: VnpostClient, httpx_mock: HTTPXMock) -> None:
    _login(httpx_mock)
    _lookup(httpx_mock, "2", "o01TESTORDER", "order_refused.json")
    with pytest.raises(CourierRejected, match="không có quyền"):
        client.find("o01TESTORDER")


def test_reference_lookup_type_comes_from_the_account_options(httpx_mock: HTTPXMock) -> None:
    account = msgspec.structs.replace(ACCOUNT, options={"reference_lookup_type": "4"})
    _login(httpx_mock)
    _lookup(httpx_mock, "4", "o01TESTORDER", "order_found.json")
    with httpx.Client() as http:
        assert VnpostClient(account, http).find("o01TESTORDER") is not None


def test_track_reads_the_status_history(client: VnpostClient, httpx_mock: HTTPXMock) -> None:
    _login(httpx_mock)
    httpx_mock.add_response(
        url=httpx.URL(f"{BASE}/GetStatusHistoryOrder", params={"type": "1", "code": TRACKING}),
        match_headers={"token": "tok-1"},
        content=fixture("vnpost", "history_ok.json"),
    )
    updates = client.track(TRACKING)
    assert [u.status for u in updates if u.reports_status] == [Status.BOOKED, Status.PICKED_UP, Status.DELIVERED]
    assert [c.field for u in updates for c in u.charges] == ["cod_paid"]  # 21: the COD was paid out


def _cancel(httpx_mock: HTTPXMock, name: str) -> None:
    httpx_mock.add_response(
        url=f"{BASE}/orderCancel",
        method="POST",
        match_headers={"token": "tok-1"},
        match_json={"OriginalId": "80000001"},
        content=fixture("vnpost", name),
    )


def test_cancel_looks_up_the_original_id_then_cancels(client: VnpostClient, httpx_mock: HTTPXMock) -> None:
    _login(httpx_mock)
    _lookup(httpx_mock, "1", TRACKING, "order_found.json")
    _cancel(httpx_mock, "cancel_ok.json")
    assert client.cancel(TRACKING) == "Hủy đơn hàng thành công"


def test_cancel_pending_approval_is_accepted_as_pending(client: VnpostClient, httpx_mock: HTTPXMock) -> None:
    _login(httpx_mock)
    _lookup(httpx_mock, "1", TRACKING, "order_found.json")
    _cancel(httpx_mock, "cancel_pending.json")
    answer = client.cancel(TRACKING)
    assert "pending" in answer and "CASE00000002" in answer


def test_refused_cancel_is_a_rejection_with_vnpost_words(client: VnpostClient, httpx_mock: HTTPXMock) -> None:
    _login(httpx_mock)
    _lookup(httpx_mock, "1", TRACKING, "order_found.json")
    _cancel(httpx_mock, "cancel_refused.json")
    with pytest.raises(CourierRejected, match="không thể hủy"):
        client.cancel(TRACKING)


def test_draft_is_deleted_not_cancelled(client: VnpostClient, httpx_mock: HTTPXMock) -> None:
    _login(httpx_mock)
    _lookup(httpx_mock, "1", "EN746131015VN", "order_draft.json")
    httpx_mock.add_response(
        url=httpx.URL(f"{BASE}/deleteOrderByDraft", params={"type": "1", "code": "EN746131015VN"}),
        method="GET",
        content=fixture("vnpost", "draft_deleted.json"),
    )
    assert client.cancel("EN746131015VN") == "Xóa đơn nháp thành công"


def test_cancel_of_an_unknown_parcel_is_a_rejection(client: VnpostClient, httpx_mock: HTTPXMock) -> None:
    _login(httpx_mock)
    _lookup(httpx_mock, "1", TRACKING, "order_not_found.json")
    with pytest.raises(CourierRejected, match="does not know"):
        client.cancel(TRACKING)


@pytest.mark.parametrize("operation", ["redeliver", "return_to_sender"])
def test_operations_myvnpost_lacks_are_rejected_without_a_call(client: VnpostClient, operation: str) -> None:
    with pytest.raises(CourierRejected, match=r"no \w+ operation"):
        getattr(client, operation)(TRACKING)


@pytest.mark.parametrize("failure", ["timeout", "connect", 429, 500, 502, 503])
def test_unavailable_vnpost_is_retried_not_failed(client: VnpostClient, httpx_mock: HTTPXMock, failure: object) -> None:
    _login(httpx_mock)
    if failure == "timeout":
        httpx_mock.add_exception(httpx.ReadTimeout("slow"), url=f"{BASE}/CreateOrder")
    elif failure == "connect":
        httpx_mock.add_exception(httpx.ConnectError("down"), url=f"{BASE}/CreateOrder")
    else:
        httpx_mock.add_response(url=f"{BASE}/CreateOrder", status_code=int(failure))  # type: ignore[call-overload]
    with pytest.raises(CourierUnavailable):
        client.create(SHIPMENT)


@pytest.mark.parametrize("status", [400, 404, 422])
def test_other_4xx_is_a_rejection(client: VnpostClient, httpx_mock: HTTPXMock, status: int) -> None:
    _login(httpx_mock)
    httpx_mock.add_response(url=f"{BASE}/CreateOrder", status_code=status, json={"message": "Dữ liệu không hợp lệ"})
    with pytest.raises(CourierRejected, match=str(status)):
        client.create(SHIPMENT)


def test_error_envelope_on_http_200_is_a_rejection(client: VnpostClient, httpx_mock: HTTPXMock) -> None:
    _login(httpx_mock)
    _create(httpx_mock, content=fixture("vnpost", "create_rejected.json"))
    with pytest.raises(CourierRejected, match="Số điện thoại người nhận không hợp lệ"):
        client.create(SHIPMENT)


def test_unreadable_answer_is_unavailable(client: VnpostClient, httpx_mock: HTTPXMock) -> None:
    _login(httpx_mock)
    _create(httpx_mock, content=b"<html>maintenance</html>")
    with pytest.raises(CourierUnavailable, match="unreadable"):
        client.create(SHIPMENT)


def test_replaced_commune_mapping_is_what_vnpost_receives(client: VnpostClient, httpx_mock: HTTPXMock) -> None:
    client.codes_of = lambda party: ("P" + party.province_code, "C" + party.ward_code)
    _login(httpx_mock)
    httpx_mock.add_response(url=f"{BASE}/CreateOrder", content=fixture("vnpost", "create_ok.json"))
    client.create(SHIPMENT)
    sent = msgspec.json.decode(httpx_mock.get_requests()[-1].content)["informationOrder"]
    assert (sent["receiverProvinceCode"], sent["receiverCommuneCode"]) == ("P01", "C00004")
