"""VNPost's (MyVNPost's) wire format: what we send to create an order, and what its answers and callbacks mean."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import msgspec
import pytest

from contracts.config import Centre, CourierAccount, dev_config
from contracts.couriers import VIETNAM, CallbackRequest, Party, Shipment, build_shipment, vnpost
from contracts.couriers import vnpost_codes as codes
from contracts.intake import prepare
from contracts.orders import OrderCreate
from contracts.settings import Settings
from contracts.statuses import TERMINAL, Status
from tests.conftest import fixture, order_body

ACCOUNT = CourierAccount(
    base_url="http://vnpost.test", customer_code="DEMO01", callback_secret="s", callback_ips=("203.0.113.7",)
)


def _centre() -> Centre:
    return dev_config(Settings(dd_dev_callback_secret="s")).centres["DEMO"]


def _shipment(**overrides: object) -> Shipment:
    body = order_body(**overrides)
    [order] = prepare(
        msgspec.convert(body, OrderCreate), centre=_centre(), new_id=lambda _p: "o01TESTORDER", now=datetime.now(UTC)
    )
    return build_shipment(order, _centre())


def _sent(shipment: Shipment, account: CourierAccount = ACCOUNT) -> dict[str, object]:
    body: dict[str, object] = msgspec.json.decode(vnpost.encode_shipment(shipment, account))
    return body


def _information(shipment: Shipment, account: CourierAccount = ACCOUNT) -> dict[str, object]:
    information: dict[str, object] = _sent(shipment, account)["informationOrder"]  # type: ignore[assignment]
    return information


CENTRE = {
    "Name": "Trung tâm Phục vụ hành chính công (demo)", "Phone": "0912000111",
    "Address": "1 Tràng Tiền, Phường Hoàn Kiếm, Thành phố Hà Nội", "ProvinceCode": "01", "DistrictCode": "VNPOST",
    "CommuneCode": "00070",
}  # fmt: skip
CITIZEN = {
    "Name": "Nguyễn Văn A", "Phone": "0912345678", "Address": "12 Phố Huế, Phường Ba Đình, Thành phố Hà Nội",
    "ProvinceCode": "01", "DistrictCode": "VNPOST", "CommuneCode": "00004",
}  # fmt: skip


def _party(side: str, fields: dict[str, str]) -> dict[str, object]:
    return {f"{side}{name}": value for name, value in fields.items()} | {f"{side}Email": None}


def test_delivery_goes_from_centre_to_citizen_with_our_reference_as_sale_order_code() -> None:
    assert _sent(_shipment()) == {
        "orderCreationStatus": 1, "type": "GUI", "customerCode": "DEMO01", "contractCode": None,
        "informationOrder": {
            **_party("sender", CENTRE), **_party("receiver", CITIZEN),
            "serviceCode": "ETN011", "addonService": [],
            # The citizen pays the postage at the door (the default postage payer).
            "additionRequest": [{"code": "GTG071", "propValue": "PROP0080:null;PROP0081:null"}],
            "orgCodeCollect": None, "orgCodeAccept": None, "saleOrderCode": "o01TESTORDER", "contentNote": "Tài liệu",
            "weight": "210", "width": None, "length": None, "height": None, "vehicle": "BO", "sendType": "1",
            "isBroken": "0", "deliveryTime": None, "deliveryRequire": None, "deliveryInstruction": None,
        },
    }  # fmt: skip


def test_pickup_goes_from_citizen_to_centre_with_home_pickup_and_nothing_collected() -> None:
    information = _information(_shipment(kind="pickup", payment={"postage_payer": "citizen"}))
    assert {k: v for k, v in information.items() if k.startswith(("sender", "receiver"))} == {
        **_party("sender", CITIZEN),
        **_party("receiver", CENTRE),
    }
    assert information["addonService"] == [{"code": "GTG026", "propValue": None}]
    assert information["additionRequest"] == []


def test_money_and_proof_of_delivery_become_vnpost_addons_and_never_partial_delivery() -> None:
    shipment = msgspec.structs.replace(
        _shipment(), collect_amount=8000, declared_value=9_000_000, proof_of_delivery=True, receiver_pays=True
    )
    information = _information(shipment)
    assert information["addonService"] == [
        {"code": "GTG001", "propValue": None},
        {"code": "GTG008", "propValue": "PROP0026:9000000"},
        {"code": "GTG021", "propValue": "PROP0018:8000"},
    ]
    assert information["additionRequest"] == [{"code": "GTG071", "propValue": "PROP0080:null;PROP0081:null"}]
    sent = {addon["code"] for addon in information["addonService"]}
    assert not sent & codes.PARTIAL_DELIVERY


def test_service_and_contract_come_from_the_account_options() -> None:
    account = msgspec.structs.replace(ACCOUNT, options={"service_code": "CTN009", "contract_code": "HD-01"})
    sent = _sent(_shipment(), account)
    assert sent["contractCode"] == "HD-01"
    assert sent["informationOrder"]["serviceCode"] == "CTN009"  # type: ignore[index]


def test_commune_codes_come_from_a_replaceable_mapping() -> None:
    def catalogue(party: Party) -> tuple[str, str]:
        return f"P{party.province_code}", f"C{party.ward_code}"

    body = msgspec.json.decode(vnpost.encode_shipment(_shipment(), ACCOUNT, catalogue))
    information = body["informationOrder"]
    assert (information["receiverProvinceCode"], information["receiverCommuneCode"]) == ("P01", "C00004")
    assert information["receiverDistrictCode"] == "VNPOST"


def test_id_numbers_dossier_and_procedure_never_reach_vnpost() -> None:
    citizen = {"name": "Nguyễn Văn An", "phone": "0912345678", "id_number": "001090012345", "email": "an@example.vn"}
    recipient = {"name": "Trần Thị Bình", "id_number": "001192054321", "authorisation_ref": "UQ-15"}
    raw = vnpost.encode_shipment(_shipment(citizen=citizen, authorised_recipient=recipient), ACCOUNT).decode()
    for secret in ("001090012345", "001192054321", "UQ-15", "an@example.vn", "000.00.01.H26-261121-0001",
                   "1.001234", "quyền sử dụng đất"):  # fmt: skip
        assert secret not in raw


@pytest.mark.parametrize("name", ["create_ok.json", "create_ok_in_data.json"])
def test_created_answer_gives_the_item_code_as_tracking_code(name: str) -> None:
    booking = vnpost.decode_created(fixture("vnpost", name))
    assert (booking.tracking_code, booking.total_fee) == ("EN340902457VN", 16500)


@pytest.mark.parametrize(
    ("decode", "name", "words"),
    [
        (vnpost.decode_created, "create_rejected.json", "Số điện thoại người nhận không hợp lệ"),
        (vnpost.decode_orders, "order_refused.json", "không có quyền"),
        (vnpost.decode_token, "token_refused.json", "Sai thông tin đăng nhập"),
        (vnpost.decode_deleted, "history_not_found.json", "Không tìm thấy bưu gửi"),
        (lambda body: vnpost.decode_history(body, "EN340902457VN"), "history_not_found.json", "Không tìm thấy"),
    ],
)
def test_error_envelope_on_http_200_raises_with_vnpost_words(decode: object, name: str, words: str) -> None:
    with pytest.raises(vnpost.EnvelopeError, match=words):
        decode(fixture("vnpost", name))  # type: ignore[operator]


def test_lookup_reads_the_order_inside_results_and_empty_results_mean_unknown() -> None:
    [order] = vnpost.decode_orders(fixture("vnpost", "order_found.json"))
    assert (order.itemCode, order.originalID, order.saleOrderCode, order.status) == (
        "EN340902457VN", "80000001", "o01TESTORDER", "1",
    )  # fmt: skip
    assert vnpost.booking(order).tracking_code == "EN340902457VN"
    assert vnpost.decode_orders(fixture("vnpost", "order_not_found.json")) == []


def test_history_becomes_status_updates_in_vietnam_time_and_payouts_money_facts() -> None:
    updates = vnpost.decode_history(fixture("vnpost", "history_ok.json"), "EN340902457VN")
    [payout] = [u for u in updates if not u.reports_status]
    assert [(c.field, c.at.isoformat()) for c in payout.charges] == [("cod_paid", "2026-11-25T09:00:00+07:00")]
    assert [(u.raw_status, u.status, u.raw_text) for u in updates if u.reports_status] == [
        ("1", Status.BOOKED, "Đã tạo"),
        ("6", Status.PICKED_UP, "Đã lấy hàng"),
        ("14", Status.DELIVERED, "Đã giao"),
    ]
    assert updates[2].event_time == datetime(2026, 11, 22, 15, 30, tzinfo=VIETNAM)
    assert {u.tracking_code for u in updates} == {"EN340902457VN"}


def test_token_answer_gives_the_token() -> None:
    assert vnpost.decode_token(fixture("vnpost", "token_ok.json")) == "tok-1"


@pytest.mark.parametrize(
    ("name", "type_"), [("cancel_ok.json", "00"), ("cancel_pending.json", "02"), ("cancel_refused.json", "01")]
)
def test_cancel_answer_reads_type_and_vnpost_message(name: str, type_: str) -> None:
    result = vnpost.decode_cancel(fixture("vnpost", name))
    assert result.Type == type_ and result.Message


def test_cancel_answer_without_type_is_an_envelope_error() -> None:
    with pytest.raises(vnpost.EnvelopeError, match="Token hết hạn"):
        vnpost.decode_cancel('{"success": false, "message": "Token hết hạn"}'.encode())


def test_deleted_draft_answer_gives_vnpost_message() -> None:
    assert vnpost.decode_deleted(fixture("vnpost", "draft_deleted.json")) == "Xóa đơn nháp thành công"


@pytest.mark.parametrize(
    ("name", "status"),
    [
        ("callback_created.json", Status.BOOKED),
        ("callback_picked_up.json", Status.PICKED_UP),
        ("callback_pickup_cancelled.json", Status.CANCELLED),
        ("callback_delivered.json", Status.DELIVERED),
        ("callback_delivery_failed.json", Status.DELIVERY_FAILED),
        ("callback_returned.json", Status.RETURNED),
        ("callback_partially_delivered.json", Status.EXCEPTION),
        ("callback_numeric_status.json", Status.DELIVERED),
        ("callback_unknown_status.json", None),
    ],
)
def test_callback_maps_to_canonical_status(name: str, status: Status | None) -> None:
    [update] = vnpost.callback_updates(fixture("vnpost", name))
    assert update.status == status
    assert (update.reference, update.tracking_code) == ("o01TESTORDER", "EN340902457VN")
    assert (update.reason_code, update.reason) == (None, None)  # MyVNPost documents no reason codes


def _callback_with(status: str) -> bytes:
    payload = msgspec.json.decode(fixture("vnpost", "callback_delivered.json"))
    payload["data"][0]["status"] = status
    return msgspec.json.encode(payload)


@pytest.mark.parametrize("raw", sorted(codes.STATUS, key=int))
def test_every_vnpost_status_code_maps(raw: str) -> None:
    [update] = vnpost.callback_updates(_callback_with(raw))
    assert update.status is codes.STATUS[raw]
    assert update.raw_text == codes.STATUS_TEXT[raw]


@pytest.mark.parametrize("raw", sorted(codes.MONEY, key=int))
def test_payout_codes_are_money_facts_not_statuses(raw: str) -> None:
    [update] = vnpost.callback_updates(_callback_with(raw))
    assert not update.reports_status
    assert [(c.field, c.source) for c in update.charges] == [(codes.MONEY[raw], f"status {raw}")]


@pytest.mark.parametrize("raw", sorted(codes.INTERNATIONAL, key=int))
def test_international_stages_stay_unmapped_never_guessed(raw: str) -> None:
    [update] = vnpost.callback_updates(_callback_with(raw))
    assert (update.raw_status, update.status) == (raw, None)


def test_every_documented_code_is_a_status_or_money() -> None:
    assert set(codes.STATUS_TEXT) == set(codes.STATUS) | set(codes.MONEY)
    assert not set(codes.STATUS) & set(codes.MONEY)


def test_partial_delivery_or_return_is_never_an_end() -> None:
    assert codes.STATUS["20"] not in TERMINAL and codes.STATUS["23"] not in TERMINAL


def test_no_reason_codes_are_invented() -> None:
    assert codes.REASON == {}


def test_batched_callback_gives_one_update_per_order_and_money_records_no_status() -> None:
    updates = vnpost.callback_updates(fixture("vnpost", "callback_batch.json"))
    assert [(u.tracking_code, u.reference, u.status, u.reports_status) for u in updates] == [
        ("EN340902457VN", "o01TESTORDER", Status.IN_TRANSIT, True),
        ("CV749233795VN", "o01OTHERORDER", Status.OUT_FOR_DELIVERY, True),
        ("EN123456785VN", "o01THIRDORDER", None, False),  # 21: COD paid out
    ]


def test_naive_send_date_is_vietnam_time_and_an_offset_gives_the_same_instant_in_vietnam_time() -> None:
    [naive] = vnpost.callback_updates(fixture("vnpost", "callback_delivered.json"))
    assert naive.event_time == datetime(2026, 11, 22, 15, 30, tzinfo=VIETNAM)
    [aware] = vnpost.callback_updates(fixture("vnpost", "callback_numeric_status.json"))
    assert aware.event_time.utcoffset() == timedelta(hours=7)
    utc = vnpost.parse_time("2026-11-22T08:30:00Z")
    assert utc == datetime(2026, 11, 22, 8, 30, tzinfo=UTC) and utc.tzinfo is VIETNAM


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[]",
        b'{"data": [], "sendDate": "22/11/2026 10:00:00"}',
        b'{"data": [{"itemCode": "EN340902457VN"}], "sendDate": "22/11/2026 10:00:00"}',
        b'{"data": [{"itemCode": "EN340902457VN", "status": true}], "sendDate": "22/11/2026 10:00:00"}',
        b'{"data": [{"itemCode": "EN340902457VN", "status": "14"}], "sendDate": "yesterday"}',
        b'{"data": [{"itemCode": "EN340902457VN", "status": "14"}]}',
    ],
)
def test_malformed_callback_is_refused(body: bytes) -> None:
    with pytest.raises((msgspec.DecodeError, msgspec.ValidationError)):
        vnpost.callback_updates(body)


RECORDS = [{"itemCode": "EN340902457VN", "saleOrderCode": "o01TESTORDER", "status": "14"}]


def _request(body: bytes, remote: str = "203.0.113.7") -> CallbackRequest:
    return CallbackRequest(query={}, headers={}, body=body, remote=remote)


def test_callback_from_an_allowed_address_is_accepted_without_a_signature_key() -> None:
    body = fixture("vnpost", "callback_delivered.json")
    assert vnpost.authenticate(_request(body), ACCOUNT)
    assert not vnpost.authenticate(_request(body, remote="198.51.100.1"), ACCOUNT)
    assert not vnpost.authenticate(_request(body, remote=""), ACCOUNT)


def test_no_allowed_address_means_no_callback_is_accepted() -> None:
    body = fixture("vnpost", "callback_delivered.json")
    assert not vnpost.authenticate(_request(body), msgspec.structs.replace(ACCOUNT, callback_ips=()))


@pytest.mark.parametrize("scheme", sorted(vnpost.SCHEMES))
def test_signature_must_match_the_key_once_one_is_configured(scheme: str) -> None:
    account = msgspec.structs.replace(ACCOUNT, options={"signature_key": "k3y", "signature_scheme": scheme})
    good = vnpost.encode_callback(RECORDS, "22/11/2026 15:30:00", "k3y", scheme)
    assert vnpost.authenticate(_request(good), account)
    assert not vnpost.authenticate(_request(good, remote="198.51.100.1"), account)  # both checks apply
    wrong_key = vnpost.encode_callback(RECORDS, "22/11/2026 15:30:00", "other", scheme)
    assert not vnpost.authenticate(_request(wrong_key), account)
    tampered = good.replace(b'"status":"14"', b'"status":"19"')
    assert not vnpost.authenticate(_request(tampered), account)
    unsigned = msgspec.json.encode({"data": RECORDS, "sendDate": "22/11/2026 15:30:00"})
    assert not vnpost.authenticate(_request(unsigned), account)
    assert not vnpost.authenticate(_request(b"{not json"), account)


def test_default_signature_is_hmac_sha256_hex_of_the_data_bytes() -> None:
    body = vnpost.encode_callback(RECORDS, "22/11/2026 15:30:00", "k3y")
    data = msgspec.json.encode(RECORDS)
    expected = hmac.new(b"k3y", data, hashlib.sha256).hexdigest()
    assert msgspec.json.decode(body)["signature"] == expected


def test_unknown_signature_scheme_refuses_every_callback() -> None:
    account = msgspec.structs.replace(ACCOUNT, options={"signature_key": "k3y", "signature_scheme": "rsa"})
    good = vnpost.encode_callback(RECORDS, "22/11/2026 15:30:00", "k3y")
    assert not vnpost.authenticate(_request(good), account)
