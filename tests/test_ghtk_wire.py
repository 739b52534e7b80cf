"""GHTK's wire format: what we send to create an order, and what its answers and form callbacks mean."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.config import Centre, CourierAccount, dev_config
from contracts.couriers import VIETNAM, CallbackRequest, Shipment, build_shipment, form_pairs, ghtk
from contracts.couriers.ghtk_codes import PARTIAL_TAGS, REASON, REPORTS, STATUS, STATUS_TEXT
from contracts.events import reconcile
from contracts.intake import prepare
from contracts.orders import OrderCreate
from contracts.settings import Settings
from contracts.statuses import Status
from tests.conftest import fixture, order_body
from workers.jobs import as_event

LABEL = "S22749126.SGP39-J31.1375835526"


def _centre() -> Centre:
    return dev_config(Settings(dd_dev_callback_secret="s")).centres["DEMO"]


def _account(**options: str) -> CourierAccount:
    return msgspec.structs.replace(_centre().couriers["ghtk"], options=options)


def _shipment(kind: str = "delivery", **overrides: object) -> Shipment:
    payload = msgspec.convert(order_body(kind=kind, **overrides), OrderCreate)
    [order] = prepare(payload, centre=_centre(), new_id=lambda _p: "o01TESTORDER", now=datetime.now(UTC))
    return build_shipment(order, _centre())


def _sent(shipment: Shipment, account: CourierAccount | None = None) -> dict[str, Any]:
    body: dict[str, Any] = msgspec.json.decode(ghtk.encode_shipment(shipment, account or _account()))
    return body


def _callback(**fields: str) -> bytes:
    base = dict(parse_qsl(fixture("ghtk", "callback_delivered.txt").decode(), keep_blank_values=True))
    return urlencode({**base, **fields}).encode()


CENTRE_PARTY = {"name": "Trung tâm Phục vụ hành chính công (demo)", "tel": "0912000111", "address": "1 Tràng Tiền"}


def test_delivery_sends_exactly_the_fields_ghtk_needs_with_our_reference() -> None:
    assert _sent(_shipment("delivery", payment={"postage_payer": "citizen"})) == {
        "products": [{"name": "Tài liệu", "weight": 0.21, "quantity": 1}],
        "order": {
            "id": "o01TESTORDER",
            "pick_name": CENTRE_PARTY["name"], "pick_tel": "0912000111", "pick_address": "1 Tràng Tiền",
            "pick_street": "1 Tràng Tiền", "pick_ward": "Phường Hoàn Kiếm", "pick_district": "",
            "pick_province": "Thành phố Hà Nội",
            "name": "Nguyễn Văn A", "tel": "0912345678", "address": "12 Phố Huế", "street": "12 Phố Huế",
            "hamlet": "Khác", "ward": "Phường Ba Đình", "district": "", "province": "Thành phố Hà Nội",
            "use_return_address": 1, "return_name": CENTRE_PARTY["name"], "return_tel": "0912000111",
            "return_address": "1 Tràng Tiền", "return_street": "1 Tràng Tiền", "return_ward": "Phường Hoàn Kiếm",
            "return_district": "", "return_province": "Thành phố Hà Nội",
            "pick_money": 0, "value": 0, "is_freeship": "0", "pick_option": "cod", "deliver_option": "none",
            "tags": [10, 22], "total_weight": 0.21,
        },
    }  # fmt: skip


def test_pickup_is_collected_at_the_citizens_home_and_goes_to_the_centre() -> None:
    order = _sent(_shipment("pickup", payment={"postage_payer": "citizen"}))["order"]
    assert (order["pick_name"], order["pick_tel"], order["pick_address"]) == (
        "Nguyễn Văn A",
        "0912345678",
        "12 Phố Huế",
    )
    assert (order["pick_ward"], order["pick_option"]) == ("Phường Ba Đình", "cod")
    assert (order["name"], order["tel"], order["address"]) == tuple(CENTRE_PARTY.values())
    assert (order["return_name"], order["return_tel"]) == ("Nguyễn Văn A", "0912345678")
    # A pickup collects nothing from the citizen: the centre pays postage, no COD (couriers-vn.md §9.16).
    assert (order["is_freeship"], order["pick_money"]) == ("1", 0)


def test_a_home_pickup_is_always_collected_even_when_the_account_drops_off() -> None:
    assert _sent(_shipment("pickup"), _account(pick_option="post"))["order"]["pick_option"] == "cod"
    assert _sent(_shipment("delivery"), _account(pick_option="post"))["order"]["pick_option"] == "post"


def test_money_follows_the_order_receiver_pays_fee_as_cod_and_declared_value() -> None:
    shipment = _shipment(payment={"postage_payer": "citizen", "agency_fee": 8000, "declared_value": 9_000_000})
    order = _sent(shipment)["order"]
    assert (order["is_freeship"], order["pick_money"], order["value"]) == ("0", 8000, 9_000_000)


def test_document_tag_always_and_partial_delivery_tags_never() -> None:
    for kind in ("delivery", "pickup"):
        tags = _sent(_shipment(kind))["order"]["tags"]
        assert 22 in tags
        assert not PARTIAL_TAGS & set(tags)


def test_id_numbers_dossier_and_procedure_never_reach_ghtk() -> None:
    citizen = {"name": "Nguyễn Văn An", "phone": "0912345678", "id_number": "001090012345", "email": "an@example.vn"}
    recipient = {"name": "Trần Thị Bình", "id_number": "001192054321", "authorisation_ref": "UQ-15"}
    shipments = [
        _shipment("delivery", citizen=citizen, authorised_recipient=recipient),
        _shipment("pickup", citizen=citizen),
    ]
    for shipment in shipments:
        text = ghtk.encode_shipment(shipment, _account()).decode()
        for secret in ("001090012345", "001192054321", "UQ-15", "an@example.vn", "000.00.01.H26-261121-0001",
                       "1.001234", "quyền sử dụng đất", "note", "email"):  # fmt: skip
            assert secret not in text


@pytest.mark.parametrize(("mode", "district"), [("empty", ""), ("ward", "Phường Ba Đình"), ("omit", None)])
def test_district_is_sent_as_the_account_option_says(mode: str, district: str | None) -> None:
    order = _sent(_shipment(), _account(district_mode=mode))["order"]
    assert order.get("district") == district
    assert ("district" in order, "pick_district" in order, "return_district" in order) == (district is not None,) * 3
    assert (order["ward"], order["province"], order["hamlet"]) == ("Phường Ba Đình", "Thành phố Hà Nội", "Khác")


@pytest.mark.parametrize("options", [{"district_mode": "old"}, {"pick_option": "xteam"}])
def test_a_bad_account_option_is_refused_by_name(options: dict[str, str]) -> None:
    with pytest.raises(ValueError, match=next(iter(options))):
        ghtk.encode_shipment(_shipment(), _account(**options))


def test_created_answer_gives_label_and_total_fee() -> None:
    booking = ghtk.decode_created(fixture("ghtk", "create_ok.json"))
    assert (booking.tracking_code, booking.total_fee) == (LABEL, 34400)


@pytest.mark.parametrize("name", ["create_rejected.json", "create_duplicate.json"])
def test_success_false_on_http_200_is_an_envelope_error_in_ghtks_words(name: str) -> None:
    message = msgspec.json.decode(fixture("ghtk", name))["message"]
    with pytest.raises(ghtk.EnvelopeError, match=message):
        ghtk.decode_created(fixture("ghtk", name))


def test_success_without_order_data_is_an_envelope_error() -> None:
    with pytest.raises(ghtk.EnvelopeError):
        ghtk.decode_created(b'{"success": true, "message": ""}')


def test_lookup_by_our_reference_gives_the_booking() -> None:
    assert ghtk.decode_found(fixture("ghtk", "detail_ok.json")).tracking_code == LABEL
    with pytest.raises(ghtk.EnvelopeError, match="Không tìm thấy"):
        ghtk.decode_found(fixture("ghtk", "detail_not_found.json"))


def test_lookup_by_label_gives_the_current_status_in_vietnam_time() -> None:
    [update] = ghtk.decode_tracked(fixture("ghtk", "detail_ok.json"))
    assert (update.status, update.raw_status, update.reference, update.tracking_code) == (
        Status.PICKED_UP, "3", "o01TESTORDER", LABEL,
    )  # fmt: skip
    assert update.event_time == datetime(2026, 11, 21, 10, 30, tzinfo=VIETNAM)


def test_cancel_answer_and_refusal() -> None:
    assert ghtk.decode_cancelled(fixture("ghtk", "cancel_ok.json")) == "OK"
    with pytest.raises(ghtk.EnvelopeError, match="không thể hủy"):
        ghtk.decode_cancelled(fixture("ghtk", "cancel_refused.json"))


@pytest.mark.parametrize(
    ("name", "status", "reason_code", "reason"),
    [
        ("callback_delivered.txt", Status.DELIVERED, None, None),
        ("callback_shipper_reports_delivered.txt", Status.DELIVERED, None, None),
        ("callback_delivery_delayed.txt", Status.DELIVERY_FAILED, "122", "Không gọi được cho khách hàng"),
        ("callback_pickup_failed.txt", Status.PICKUP_FAILED, "113", "postponed, or no contact after 3 tries"),
        ("callback_returned.txt", Status.RETURNED, None, None),
        ("callback_cancelled_by_us.txt", Status.CANCELLED, "115", "partner cancelled via API"),
        ("callback_partial_delivery.txt", Status.EXCEPTION, None, None),
        ("callback_unknown_status.txt", None, None, None),
    ],
)
def test_callback_maps_to_canonical_status(
    name: str, status: Status | None, reason_code: str | None, reason: str | None
) -> None:
    [update] = ghtk.callback_updates(fixture("ghtk", name))
    assert (update.status, update.reason_code, update.reason) == (status, reason_code, reason)
    assert (update.reference, update.tracking_code) == ("o01TESTORDER", LABEL)


@pytest.mark.parametrize("status_id", sorted(STATUS))
def test_every_ghtk_status_id_maps(status_id: int) -> None:
    [update] = ghtk.callback_updates(_callback(status_id=str(status_id)))
    assert (update.status, update.raw_status) == (STATUS[status_id], str(status_id))
    assert update.raw_text == STATUS_TEXT[status_id]


@pytest.mark.parametrize("status_id", sorted(REPORTS))
def test_a_shipper_report_is_recorded_unconfirmed(status_id: int) -> None:
    [update] = ghtk.callback_updates(_callback(status_id=str(status_id)))
    assert update.status is not None and update.unconfirmed
    [entry] = reconcile(Status.OUT_FOR_DELIVERY, [as_event("ghtk", update, update.event_time, "push")]).entries
    assert not entry.applied  # it claims a step; it moves nothing until GHTK confirms


def test_status_table_follows_the_proposed_mapping() -> None:
    expected = {
        Status.CANCELLED: {-1}, Status.BOOKED: {1, 2}, Status.PICKUP_STARTED: {12},
        Status.PICKUP_FAILED: {7, 127, 8, 128}, Status.PICKED_UP: {3, 123}, Status.OUT_FOR_DELIVERY: {4},
        Status.DELIVERY_FAILED: {9, 49, 10, 410}, Status.DELIVERED: {5, 6, 45}, Status.RETURNING: {20},
        Status.RETURNED: {21, 11}, Status.LOST: {13},
    }  # fmt: skip
    assert {code: status for status, codes in expected.items() for code in codes} == STATUS


@pytest.mark.parametrize("reason_code", sorted(REASON))
def test_every_reason_code_is_explained(reason_code: str) -> None:
    [update] = ghtk.callback_updates(_callback(status_id="9", reason_code=reason_code, reason=""))
    assert (update.reason_code, update.reason) == (reason_code, REASON[reason_code])


def test_naive_callback_time_is_vietnam_time() -> None:
    [update] = ghtk.callback_updates(fixture("ghtk", "callback_naive_time.txt"))
    assert update.event_time == datetime(2026, 11, 21, 10, 30, tzinfo=VIETNAM)
    assert update.event_time.utcoffset() is not None


def test_an_offset_plus_left_unencoded_keeps_its_sign() -> None:
    [update] = ghtk.callback_updates(fixture("ghtk", "callback_unescaped_plus.txt"))
    assert update.event_time == datetime(2026, 11, 22, 15, 30, tzinfo=VIETNAM)


@pytest.mark.parametrize(
    "body",
    [
        b"\xff\xfe",
        b'{"label_id": "S1.A1.1", "status_id": 5}',
        b"status_id=5&action_time=2026-11-22T15%3A30%3A00%2B07%3A00",
        b"label_id=S1.A1.1&status_id=five&action_time=2026-11-22T15%3A30%3A00%2B07%3A00",
        b"label_id=S1.A1.1&status_id=5&action_time=yesterday",
        b"",
    ],
)
def test_malformed_callback_is_refused(body: bytes) -> None:
    with pytest.raises((msgspec.DecodeError, msgspec.ValidationError)):
        ghtk.callback_updates(body)


def test_callback_hash_must_match_secret() -> None:
    def request(query: dict[str, str], remote: str = "203.0.113.5") -> CallbackRequest:
        return CallbackRequest(query=query, headers={}, body=b"", remote=remote)

    account = CourierAccount(base_url="http://ghtk", callback_secret="s3cret")
    assert ghtk.authenticate(request({"hash": "s3cret"}), account)
    assert not ghtk.authenticate(request({"hash": "wrong"}), account)
    assert not ghtk.authenticate(request({"token": "s3cret"}), account)  # GHN's name, not GHTK's
    assert not ghtk.authenticate(request({}), account)
    empty = CourierAccount(base_url="http://ghtk", callback_secret="")
    assert not ghtk.authenticate(request({"hash": ""}), empty)


def test_listed_callback_addresses_are_required_when_the_account_has_them() -> None:
    account = CourierAccount(base_url="http://ghtk", callback_secret="s3cret", callback_ips=("198.51.100.7",))
    right = CallbackRequest(query={"hash": "s3cret"}, headers={}, body=b"", remote="198.51.100.7")
    assert ghtk.authenticate(right, account)
    assert not ghtk.authenticate(msgspec.structs.replace(right, remote="203.0.113.5"), account)


_FORM_PIECES = st.sampled_from([*"ab=&%+ 2F41é\u00ff;", "%2", "%zz", "%C3%A9", "%e9", "==", "&&"])


@settings(max_examples=2000, deadline=None)
@given(text=st.lists(_FORM_PIECES, max_size=30).map("".join), strict=st.booleans())
def test_form_pairs_reads_a_form_exactly_as_parse_qsl_does(text: str, strict: bool) -> None:
    """GHTK's bodies and every callback's query go through `form_pairs`: the same pairs, the same refusals."""
    try:
        expected: object = parse_qsl(text, keep_blank_values=True, strict_parsing=strict)
    except ValueError:
        expected = ValueError
    try:
        found: object = form_pairs(text, strict=strict)
    except ValueError:
        found = ValueError
    assert found == expected
