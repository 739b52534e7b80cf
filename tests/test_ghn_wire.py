"""GHN's wire format: what we send to create an order, and what its answers and callbacks mean."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
import pytest

from contracts.config import CourierAccount, dev_config
from contracts.couriers import VIETNAM, CallbackRequest, build_shipment, ghn
from contracts.intake import prepare
from contracts.orders import OrderCreate
from contracts.settings import Settings
from contracts.statuses import Status
from tests.conftest import fixture, order_body


def _order(kind: str) -> object:
    payload = msgspec.convert(order_body(kind=kind), OrderCreate)
    [order] = prepare(payload, centre=_centre(), new_id=lambda _province: "o01TESTORDER", now=datetime.now(UTC))
    return order


def _centre():  # type: ignore[no-untyped-def]
    return dev_config(Settings(dd_dev_callback_secret="s")).centres["DEMO"]


def test_delivery_goes_from_centre_to_citizen_with_our_reference() -> None:
    body = msgspec.json.decode(ghn.encode_shipment(build_shipment(_order("delivery"), _centre())))  # type: ignore[arg-type]
    assert body["client_order_code"] == "o01TESTORDER"
    assert body["to_name"] == "Nguyễn Văn A"
    assert body["to_phone"] == "0912345678"  # normalised from +84
    assert body["to_ward_name"] == "Phường Ba Đình"
    assert body["to_province_name"] == "Thành phố Hà Nội"
    assert body["from_name"].startswith("Trung tâm Phục vụ hành chính công")
    assert body["return_phone"] == body["from_phone"]
    assert body["required_note"] == "CHOXEMHANGKHONGTHU"
    assert body["cod_amount"] == 0


def test_pickup_goes_from_citizen_to_centre() -> None:
    body = msgspec.json.decode(ghn.encode_shipment(build_shipment(_order("pickup"), _centre())))  # type: ignore[arg-type]
    assert body["from_name"] == "Nguyễn Văn A"
    assert body["from_address"] == "12 Phố Huế"
    assert body["to_name"].startswith("Trung tâm Phục vụ hành chính công")


def test_courier_never_sees_dossier_or_procedure() -> None:
    raw = ghn.encode_shipment(build_shipment(_order("delivery"), _centre())).decode()  # type: ignore[arg-type]
    assert "000.00.01.H26-261121-0001" not in raw
    assert "1.001234" not in raw
    assert "quyền sử dụng đất" not in raw


def test_created_answer_gives_tracking_code() -> None:
    booking = ghn.decode_created(fixture("ghn", "create_ok.json"))
    assert booking.tracking_code == "G8ADKBYD"
    assert booking.total_fee == 22000


def test_error_envelope_on_http_200_is_a_rejection_with_ghn_words() -> None:
    with pytest.raises(ghn.EnvelopeError, match="PHONE_INVALID"):
        ghn.decode_created(fixture("ghn", "create_rejected.json"))


def test_detail_by_client_code_reads_order_code() -> None:
    assert ghn.decode_detail(fixture("ghn", "detail_ok.json")).order_code == "G8ADKBYD"
    with pytest.raises(ghn.EnvelopeError):
        ghn.decode_detail(fixture("ghn", "detail_not_found.json"))


@pytest.mark.parametrize(
    ("name", "status", "reason_code"),
    [
        ("callback_create.json", Status.BOOKED, None),
        ("callback_delivered.json", Status.DELIVERED, None),
        ("callback_delivery_fail.json", Status.DELIVERY_FAILED, "GHN-DFC1A4"),
        ("callback_pickup_fail.json", Status.PICKUP_FAILED, "GHN-PFA2A1"),
        ("callback_unknown_status.json", None, None),
    ],
)
def test_callback_maps_to_canonical_status(name: str, status: Status | None, reason_code: str | None) -> None:
    [update] = ghn.callback_updates(fixture("ghn", name))
    assert update.status == status
    assert update.reason_code == reason_code
    assert update.reference == "o01TESTORDER"
    assert update.tracking_code == "Z82BS"


def test_failure_reason_text_comes_from_the_reason_table() -> None:
    [update] = ghn.callback_updates(fixture("ghn", "callback_delivery_fail.json"))
    assert update.reason == "no answer"


def test_naive_callback_time_is_vietnam_time() -> None:
    [update] = ghn.callback_updates(fixture("ghn", "callback_naive_time.json"))
    assert update.event_time == datetime(2026, 11, 21, 10, 30, tzinfo=VIETNAM)
    assert update.event_time.utcoffset() is not None


def test_money_only_callback_reports_no_status_but_its_money() -> None:
    [update] = ghn.callback_updates(fixture("ghn", "callback_update_fee.json"))
    assert not update.reports_status
    assert {(c.field, c.amount, c.source) for c in update.charges} == {
        ("fee", 25000, "update_fee"),
        ("cod", 0, "update_fee"),
        ("weight_grams", 500, "update_fee"),
    }


@pytest.mark.parametrize("raw", sorted(ghn.STATUS))
def test_every_ghn_status_code_maps(raw: str) -> None:
    payload = msgspec.json.decode(fixture("ghn", "callback_create.json"))
    payload.update(Type="switch_status", Status=raw)
    [update] = ghn.callback_updates(msgspec.json.encode(payload))
    assert update.status is ghn.STATUS[raw]
    assert raw in ghn.STATUS_TEXT


def test_every_pickup_failure_reason_makes_a_failed_pickup() -> None:
    for code in ghn.PICKUP_FAILURE_REASONS:
        assert ghn.map_status("picking", code) is Status.PICKUP_FAILED
    for code in ghn.DELIVERY_FAILURE_REASONS:
        assert ghn.map_status("delivery_fail", code) is Status.DELIVERY_FAILED


@pytest.mark.parametrize(
    "body", [b"{not json", b"[]", b'{"OrderCode": "X"}', b'{"OrderCode":"X","Type":"create","Status":1}']
)
def test_malformed_callback_is_refused(body: bytes) -> None:
    with pytest.raises((msgspec.DecodeError, msgspec.ValidationError)):
        ghn.callback_updates(body)


def test_callback_token_must_match_secret() -> None:
    def request(query: dict[str, str]) -> CallbackRequest:
        return CallbackRequest(query=query, headers={}, body=b"{}", remote="127.0.0.1")

    account = CourierAccount(base_url="http://ghn", callback_secret="s3cret")
    assert ghn.authenticate(request({"token": "s3cret"}), account)
    assert not ghn.authenticate(request({"token": "wrong"}), account)
    assert not ghn.authenticate(request({}), account)
    empty = CourierAccount(base_url="http://ghn", callback_secret="")
    assert not ghn.authenticate(request({"token": ""}), empty)


def test_detail_log_becomes_status_updates_for_polling() -> None:
    body = msgspec.json.decode(fixture("ghn", "detail_ok.json"))
    body["data"]["log"] = [
        {"status": "picked", "updated_date": "2026-11-21T03:00:00Z"},
        {"status": "delivering", "updated_date": "2026-11-22T02:00:00Z"},
    ]
    updates = ghn.detail_updates(ghn.decode_detail(msgspec.json.encode(body)))
    assert [(u.status, u.reference, u.tracking_code) for u in updates] == [
        (Status.PICKED_UP, "o01TESTORDER", "G8ADKBYD"),
        (Status.OUT_FOR_DELIVERY, "o01TESTORDER", "G8ADKBYD"),
    ]


def test_money_follows_the_order_and_stays_within_ghn_limits() -> None:
    body = order_body(payment={"postage_payer": "citizen", "agency_fee": 8000, "declared_value": 9_000_000})
    payload = msgspec.convert(body, OrderCreate)
    [order] = prepare(payload, centre=_centre(), new_id=lambda _p: "o01X", now=datetime.now(UTC))
    sent = msgspec.json.decode(ghn.encode_shipment(build_shipment(order, _centre())))
    assert (sent["payment_type_id"], sent["cod_amount"], sent["insurance_value"]) == (2, 8000, 5_000_000)


def test_a_pickup_collects_nothing_from_the_citizen() -> None:
    body = order_body(kind="pickup", payment={"postage_payer": "citizen"})
    [order] = prepare(
        msgspec.convert(body, OrderCreate), centre=_centre(), new_id=lambda _p: "o01X", now=datetime.now(UTC)
    )
    sent = msgspec.json.decode(ghn.encode_shipment(build_shipment(order, _centre())))
    assert (sent["payment_type_id"], sent["cod_amount"]) == (1, 0)


def test_id_numbers_never_reach_the_courier() -> None:
    citizen = {"name": "Nguyễn Văn An", "phone": "0912345678", "id_number": "001090012345", "email": "an@example.vn"}
    recipient = {"name": "Trần Thị Bình", "id_number": "001192054321", "authorisation_ref": "UQ-15"}
    body = order_body(citizen=citizen, authorised_recipient=recipient)
    [order] = prepare(
        msgspec.convert(body, OrderCreate), centre=_centre(), new_id=lambda _p: "o01X", now=datetime.now(UTC)
    )
    raw = ghn.encode_shipment(build_shipment(order, _centre())).decode()
    for secret in ("001090012345", "001192054321", "UQ-15", "an@example.vn"):
        assert secret not in raw
