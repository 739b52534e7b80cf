"""Viettel Post's wire format: what we send to create an order, and what its answers and callbacks mean."""

from __future__ import annotations

from datetime import UTC, date, datetime

import msgspec
import pytest

from contracts.config import Centre, CourierAccount, dev_config
from contracts.couriers import VIETNAM, Booking, CallbackRequest, Shipment, build_shipment
from contracts.couriers import viettelpost as vtp
from contracts.couriers.viettelpost_codes import FINAL, REASON, STATUS, STATUS_TEXT, UNITS, UnitTable
from contracts.intake import prepare
from contracts.orders import OrderCreate
from contracts.settings import Settings
from contracts.statuses import TERMINAL, Status
from tests.conftest import fixture, order_body

NOW = datetime(2026, 11, 21, 9, 0, tzinfo=VIETNAM)
OPTIONS = {"cus_id": "722", "groupaddress_id": "5818802"}


def _centre() -> Centre:
    return dev_config(Settings(dd_dev_callback_secret="s")).centres["DEMO"]


def _account(**options: str) -> CourierAccount:
    return msgspec.structs.replace(_centre().couriers["viettelpost"], options=options)


def _shipment(**overrides: object) -> Shipment:
    payload = msgspec.convert(order_body(**overrides), OrderCreate)
    [order] = prepare(payload, centre=_centre(), new_id=lambda _p: "o01TESTORDER", now=datetime.now(UTC))
    return build_shipment(order, _centre())


def _sent(shipment: Shipment, account: CourierAccount | None = None, **kwargs: object) -> dict[str, object]:
    body = vtp.encode_shipment(shipment, account or _account(**OPTIONS), now=NOW, **kwargs)  # type: ignore[arg-type]
    return dict(msgspec.json.decode(body))


def _callback(name: str, **data: object) -> bytes:
    payload = msgspec.json.decode(fixture("viettelpost", name))
    payload["DATA"].update(data)
    return msgspec.json.encode(payload)


# -- create -----------------------------------------------------------------------------------------
def test_delivery_body_is_exactly_what_vtp_expects_from_centre_to_citizen() -> None:
    expected = msgspec.json.decode(fixture("viettelpost", "create_request_delivery.json"))
    assert _sent(_shipment()) == expected


def test_pickup_starts_at_the_citizen_not_at_the_centres_warehouse() -> None:
    expected = msgspec.json.decode(fixture("viettelpost", "create_request_pickup.json"))
    sent = _sent(_shipment(kind="pickup"))
    assert sent == expected
    assert "GROUPADDRESS_ID" not in sent


def test_our_reference_is_the_order_number_and_documents_travel_as_documents() -> None:
    sent = _sent(_shipment())
    assert (sent["ORDER_NUMBER"], sent["PRODUCT_TYPE"]) == ("o01TESTORDER", "TH")


def test_courier_never_sees_id_numbers_dossier_or_procedure() -> None:
    citizen = {"name": "Nguyễn Văn An", "phone": "0912345678", "id_number": "001090012345", "email": "an@example.vn"}
    recipient = {"name": "Trần Thị Bình", "id_number": "001192054321", "authorisation_ref": "UQ-15"}
    raw = vtp.encode_shipment(_shipment(citizen=citizen, authorised_recipient=recipient), _account()).decode()
    for secret in ("001090012345", "001192054321", "UQ-15", "an@example.vn", "000.00.01.H26-261121-0001",
                   "1.001234", "quyền sử dụng đất"):  # fmt: skip
        assert secret not in raw


@pytest.mark.parametrize(
    ("postage_payer", "agency_fee", "order_payment", "collected"),
    [("centre", 0, 1, 0), ("citizen", 0, 4, 0), ("centre", 8000, 3, 8000), ("citizen", 8000, 2, 8000)],
)
def test_order_payment_charges_postage_once_and_the_fee_as_cod(
    postage_payer: str, agency_fee: int, order_payment: int, collected: int
) -> None:
    # Our COD never includes postage, so "COD + postage" (2) cannot double-charge (couriers-vn.md §9.16).
    sent = _sent(_shipment(payment={"postage_payer": postage_payer, "agency_fee": agency_fee}))
    assert (sent["ORDER_PAYMENT"], sent["MONEY_COLLECTION"]) == (order_payment, collected)


def test_a_pickup_collects_nothing_from_the_citizen() -> None:
    sent = _sent(_shipment(kind="pickup", payment={"postage_payer": "citizen"}))
    assert (sent["ORDER_PAYMENT"], sent["MONEY_COLLECTION"]) == (1, 0)


def test_declared_value_buys_insurance_through_gbh() -> None:
    sent = _sent(_shipment(payment={"declared_value": 9_000_000}))
    assert (sent["ORDER_SERVICE_ADD"], sent["PRODUCT_PRICE"]) == ("GBH", 9_000_000)
    assert sent["LIST_ITEM"] == [
        {"PRODUCT_NAME": "Tài liệu", "PRODUCT_PRICE": 9_000_000, "PRODUCT_WEIGHT": 210, "PRODUCT_QUANTITY": 1}
    ]


def test_unverified_choices_follow_the_account_options() -> None:
    account = _account(national_type="0", order_service="VTK", check_unique="true")
    sent = _sent(_shipment(), account)
    assert (sent["NATIONAL_TYPE"], sent["ORDER_SERVICE"], sent["CHECK_UNIQUE"]) == (0, "VTK", True)
    assert "CUS_ID" not in sent and "GROUPADDRESS_ID" not in sent


def test_a_non_numeric_id_option_is_a_value_error_naming_it() -> None:
    with pytest.raises(ValueError, match="cus_id"):
        vtp.encode_shipment(_shipment(), _account(cus_id="abc"))


def test_unit_table_ships_empty_and_dated_so_ids_are_never_invented() -> None:
    assert (UNITS.provinces, UNITS.wards) == ({}, {})
    assert UNITS.valid_from == date(2025, 7, 1)


def test_unmapped_wards_go_to_the_free_text_create() -> None:
    shipment = _shipment()
    sent = _sent(shipment)
    assert vtp.create_path(shipment) == "/v2/order/createOrderNlp"
    assert not {"SENDER_WARD", "RECEIVER_WARD", "SENDER_PROVINCE", "RECEIVER_PROVINCE"} & set(sent)
    assert sent["RECEIVER_ADDRESS"] == "12 Phố Huế, Phường Ba Đình, Thành phố Hà Nội"


def test_free_text_create_carries_the_province_id_when_the_table_knows_it() -> None:
    units = UnitTable(version="t", valid_from=date(2026, 1, 1), provinces={"01": 1}, wards={})
    sent = _sent(_shipment(), units=units)
    assert (sent["SENDER_PROVINCE"], sent["RECEIVER_PROVINCE"]) == (1, 1)
    assert "SENDER_WARD" not in sent


def test_mapped_wards_go_to_the_id_create() -> None:
    units = UnitTable(
        version="t", valid_from=date(2026, 1, 1), provinces={}, wards={"00070": (1, 11), "00004": (1, 44)}
    )
    shipment = _shipment()
    sent = _sent(shipment, units=units)
    assert vtp.create_path(shipment, units) == "/v2/order/createOrder"
    assert (sent["SENDER_PROVINCE"], sent["SENDER_WARD"], sent["RECEIVER_PROVINCE"], sent["RECEIVER_WARD"]) == (
        1, 11, 1, 44,
    )  # fmt: skip


def test_one_unmapped_ward_sends_both_as_free_text() -> None:
    units = UnitTable(version="t", valid_from=date(2026, 1, 1), provinces={}, wards={"00070": (1, 11)})
    assert vtp.create_path(_shipment(), units) == "/v2/order/createOrderNlp"


def test_update_order_carries_type_and_tracking_code_without_personal_data() -> None:
    assert msgspec.json.decode(vtp.encode_update("11506020148", 4)) == {
        "TYPE": 4, "ORDER_NUMBER": "11506020148", "NOTE": "Trung tâm hủy đơn",
    }  # fmt: skip


# -- answers ----------------------------------------------------------------------------------------
def test_created_answer_gives_vtps_numeric_tracking_code() -> None:
    booking = vtp.decode_created(fixture("viettelpost", "create_ok.json"))
    assert (booking.tracking_code, booking.total_fee) == ("11506020148", 18150)


@pytest.mark.parametrize(
    ("name", "words"),
    [("create_rejected.json", "Số điện thoại"), ("login_rejected.json", "Sai tên đăng nhập"),
     ("update_refused.json", "không thể hủy"), ("detail_not_found.json", "Không tìm thấy")],
)  # fmt: skip
def test_error_envelope_on_http_200_is_an_envelope_error_in_vtps_words(name: str, words: str) -> None:
    for decode in (vtp.decode_created, vtp.decode_token, vtp.decode_update, vtp.decode_tracked):
        with pytest.raises(vtp.EnvelopeError, match=words):
            decode(fixture("viettelpost", name))


def test_login_and_ownerconnect_answers_give_their_tokens() -> None:
    assert vtp.decode_token(fixture("viettelpost", "login_ok.json")) == "partner-short-token"
    assert vtp.decode_token(fixture("viettelpost", "ownerconnect_ok.json")) == "owner-long-token"


def test_lookup_by_our_reference_finds_the_booking_only_when_it_is_ours() -> None:
    body = fixture("viettelpost", "detail_ok.json")
    assert vtp.decode_found(body, "o01TESTORDER") == Booking(tracking_code="11506020148")
    assert vtp.decode_found(body, "o01OTHER") is None
    assert vtp.decode_found(b'{"status": 200, "error": false, "message": "OK", "data": null}', "o01X") is None
    with pytest.raises(vtp.EnvelopeError):
        vtp.decode_found(fixture("viettelpost", "detail_not_found.json"), "o01TESTORDER")


def test_lookup_by_tracking_code_gives_the_current_status() -> None:
    [update] = vtp.decode_tracked(fixture("viettelpost", "detail_ok.json"))
    assert (update.status, update.reference, update.tracking_code) == (Status.PICKED_UP, "o01TESTORDER", "11506020148")
    assert update.event_time == datetime(2026, 11, 21, 10, 30, tzinfo=VIETNAM)


def test_lookup_answering_a_journey_gives_every_step() -> None:
    detail = msgspec.json.decode(fixture("viettelpost", "detail_ok.json"))
    later = {**detail["data"], "ORDER_STATUS": 500, "ORDER_STATUSDATE": "22/11/2026 08:00:00"}
    body = msgspec.json.encode({**detail, "data": [detail["data"], later]})
    assert [u.status for u in vtp.decode_tracked(body)] == [Status.PICKED_UP, Status.OUT_FOR_DELIVERY]


# -- callbacks --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "status", "reason_code"),
    [
        ("callback_created.json", Status.BOOKED, None),
        ("callback_picked_up.json", Status.PICKED_UP, None),
        ("callback_delivery_failed.json", Status.DELIVERY_FAILED, "36"),
        ("callback_delivered.json", Status.DELIVERED, None),
        ("callback_returned.json", Status.RETURNED, None),
        ("callback_cancelled.json", Status.CANCELLED, None),
        ("callback_unknown_status.json", None, None),
        ("callback_string_codes.json", Status.DELIVERED, None),
    ],
)
def test_callback_maps_to_canonical_status(name: str, status: Status | None, reason_code: str | None) -> None:
    [update] = vtp.callback_updates(fixture("viettelpost", name))
    assert (update.status, update.reason_code) == (status, reason_code)
    assert (update.reference, update.tracking_code) == ("o01TESTORDER", "11506020148")


def test_unknown_code_is_kept_raw_never_guessed() -> None:
    [update] = vtp.callback_updates(fixture("viettelpost", "callback_unknown_status.json"))
    assert (update.status, update.raw_status, update.raw_text) == (None, "777", "Trạng thái mới")


def test_failure_reason_text_comes_from_the_reason_table() -> None:
    [update] = vtp.callback_updates(fixture("viettelpost", "callback_delivery_failed.json"))
    assert update.reason == "unreachable"


def test_both_spellings_of_the_location_are_read() -> None:
    [typo] = vtp.callback_updates(fixture("viettelpost", "callback_created.json"))
    [right] = vtp.callback_updates(fixture("viettelpost", "callback_picked_up.json"))
    assert typo.location == right.location == "Bưu cục Cầu Giấy"


def test_naive_callback_time_is_vietnam_time() -> None:
    [update] = vtp.callback_updates(fixture("viettelpost", "callback_delivered.json"))
    assert update.event_time == datetime(2026, 11, 22, 15, 30, tzinfo=VIETNAM)
    assert update.event_time.utcoffset() is not None


@pytest.mark.parametrize("code", sorted(STATUS))
def test_every_vtp_status_code_maps_as_the_table_says(code: int) -> None:
    [update] = vtp.callback_updates(_callback("callback_created.json", ORDER_STATUS=code, STATUS_NAME=""))
    assert update.status is STATUS[code]
    assert update.raw_text == STATUS_TEXT[code]


@pytest.mark.parametrize("code", sorted(REASON))
def test_every_vtp_reason_code_is_named(code: str) -> None:
    [update] = vtp.callback_updates(_callback("callback_delivery_failed.json", REASON_CODE=int(code), NOTE=""))
    assert (update.reason_code, update.reason) == (code, REASON[code])


def test_every_code_has_its_vtp_text() -> None:
    assert set(STATUS) == set(STATUS_TEXT)


def test_final_codes_are_exactly_those_mapped_to_a_terminal_status() -> None:
    assert {code for code, status in STATUS.items() if status in TERMINAL} == FINAL


@pytest.mark.parametrize("code", [104, 505, 506, -110])
def test_codes_the_sources_doubt_are_never_terminal(code: int) -> None:
    assert STATUS[code] not in TERMINAL


def test_570_is_unknown_as_the_reference_says() -> None:
    assert 570 not in STATUS


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"[]", b'{"DATA": {"ORDER_NUMBER": "1"}}', b'{"TOKEN": "x"}',
     b'{"DATA": {"ORDER_NUMBER": "1", "ORDER_STATUS": 501, "ORDER_STATUSDATE": 5}}',
     fixture("viettelpost", "callback_bad_date.json")],
)  # fmt: skip
def test_malformed_callback_is_refused(body: bytes) -> None:
    with pytest.raises((msgspec.DecodeError, msgspec.ValidationError)):
        vtp.callback_updates(body)


# -- authentication ---------------------------------------------------------------------------------
def _request(body: bytes = b"{}", **headers: str) -> CallbackRequest:
    return CallbackRequest(query={}, headers=headers, body=body, remote="127.0.0.1")


def test_callback_token_in_the_body_must_match_the_secret() -> None:
    account = CourierAccount(base_url="http://vtp", callback_secret="test-callback-secret")
    assert vtp.authenticate(_request(fixture("viettelpost", "callback_delivered.json")), account)
    assert not vtp.authenticate(_request(b'{"DATA": {}, "TOKEN": "wrong"}'), account)
    assert not vtp.authenticate(_request(b'{"DATA": {}}'), account)
    assert not vtp.authenticate(_request(b'{"DATA": {}, "TOKEN": 5}'), account)
    assert not vtp.authenticate(_request(b"{not json"), account)


def test_callback_secret_in_the_authorization_header_is_accepted_too() -> None:
    account = CourierAccount(base_url="http://vtp", callback_secret="s3cret")
    assert vtp.authenticate(_request(authorization="s3cret"), account)
    assert vtp.authenticate(_request(authorization="Bearer s3cret"), account)
    assert not vtp.authenticate(_request(authorization="Bearer wrong"), account)


def test_callback_auth_option_limits_where_the_secret_may_be() -> None:
    body_only = CourierAccount(base_url="http://vtp", callback_secret="s3cret", options={"callback_auth": "body"})
    header_only = CourierAccount(base_url="http://vtp", callback_secret="s3cret", options={"callback_auth": "header"})
    in_body = _request(b'{"DATA": {}, "TOKEN": "s3cret"}')
    assert vtp.authenticate(in_body, body_only) and not vtp.authenticate(in_body, header_only)
    assert not vtp.authenticate(_request(authorization="s3cret"), body_only)


def test_an_empty_secret_authenticates_nothing() -> None:
    empty = CourierAccount(base_url="http://vtp", callback_secret="")
    assert not vtp.authenticate(_request(b'{"DATA": {}, "TOKEN": ""}', authorization=""), empty)
