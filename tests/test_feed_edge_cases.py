"""couriers-vn.md §9, the edge cases real feeds produce: one test per case that concerns callbacks.

Each test posts the courier's own payloads (tests/fixtures/<courier>/) to `POST /v1/callbacks/{courier}`
with that courier's authentication, runs the ingest job against the real store, and reads the result
through the API a centre uses. Cases tested elsewhere: §9.8 missed callbacks filled by polling
(tests/test_polling.py, tests/test_feed_chaos.py), §9.9 and §9.10 idempotent creation and envelope errors
(tests/test_dispatch*.py and the courier client tests), §9.11 VNPost's asynchronous cancel
(tests/test_vnpost_client.py), §9.19 tokens (the client tests).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode

import msgspec
import pytest
from litestar.testing import TestClient
from pytest_httpx import HTTPXMock

from contracts.config import DEMO_CENTRE
from tests.conftest import SECRET, fixture, order_body
from workers import keys
from workers.context import Context
from workers.jobs import ingest_callbacks

Client = TestClient  # type: ignore[type-arg]
GHTK = "http://127.0.0.1:18999/ghtk"


@pytest.fixture(autouse=True)
def vnpost_posts_from_the_test_client(ctx: Context) -> None:
    """VNPost is authenticated by its source address: let the test client's address be VNPost's."""
    centre = ctx.config.centres[DEMO_CENTRE]
    account = msgspec.structs.replace(centre.couriers["vnpost"], callback_ips=("testclient",))
    couriers = {**centre.couriers, "vnpost": account}
    ctx.config.centres[DEMO_CENTRE] = msgspec.structs.replace(centre, couriers=couriers)


def _order(api: Client, courier: str, **body: Any) -> str:
    created = api.post("/v1/orders", json=order_body(courier=courier, **body))
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def _payload(courier: str, name: str, order_id: str, **changes: Any) -> bytes:
    """The fixture as the courier sends it, about `order_id`."""
    raw = fixture(courier, name)
    if courier == "ghtk":
        fields = dict(parse_qsl(raw.decode(), keep_blank_values=True))
        fields.update(partner_id=order_id, **{k: str(v) for k, v in changes.items()})
        return urlencode(fields).encode()
    payload = msgspec.json.decode(raw)
    if courier == "ghn":
        payload.update(ClientOrderCode=order_id, **changes)
    elif courier == "viettelpost":
        payload["DATA"].update(ORDER_REFERENCE=order_id, **changes)
    else:
        for record in payload["data"]:
            record.update(saleOrderCode=order_id, **changes)
    return msgspec.json.encode(payload)


def _post(api: Client, courier: str, body: bytes, secret: str = SECRET) -> Any:
    auth = {"ghn": {"token": secret}, "ghtk": {"hash": secret}}.get(courier, {})
    if courier == "viettelpost":
        payload = msgspec.json.decode(body)
        body = msgspec.json.encode({**payload, "TOKEN": secret})
    kind = "application/x-www-form-urlencoded" if courier == "ghtk" else "application/json"
    return api.post(f"/v1/callbacks/{courier}", content=body, params=auth, headers={"content-type": kind})


def _send(api: Client, courier: str, order_id: str, *names: str, **changes: Any) -> None:
    for name in names:
        response = _post(api, courier, _payload(courier, name, order_id, **changes))
        assert response.status_code == 200, response.text
    ingest_callbacks(courier)


def _timeline(api: Client, order_id: str) -> list[dict[str, Any]]:
    return list(api.get(f"/v1/orders/{order_id}/events").json()["events"])


def _order_view(api: Client, order_id: str) -> dict[str, Any]:
    return dict(api.get(f"/v1/orders/{order_id}").json())


def _exceptions(api: Client) -> dict[str, list[str]]:
    return {item["order_id"]: item["reasons"] for item in api.get("/v1/exceptions").json()["exceptions"]}


# §9.1 Duplicate callbacks ----------------------------------------------------------------------------
def test_9_1_retries_and_duplicated_journeys_leave_one_event_each(api: Client) -> None:
    ghn = _order(api, "ghn")
    for _ in range(3):  # GHN retries until it sees a 200
        _send(api, "ghn", ghn, "callback_create.json", "callback_delivered.json")
    assert [e["raw_status"] for e in _timeline(api, ghn)] == ["ready_to_pick", "delivered"]
    vtp = _order(api, "viettelpost")  # VTP says duplicates and extra journey events happen
    _send(api, "viettelpost", vtp, "callback_picked_up.json", "callback_picked_up.json", "callback_delivered.json")
    _send(api, "viettelpost", vtp, "callback_delivered.json", "callback_picked_up.json")
    assert [e["raw_status"] for e in _timeline(api, vtp)] == ["105", "501"]
    assert _order_view(api, vtp)["status"] == "delivered"


# §9.2 Out-of-order delivery, naive times -------------------------------------------------------------
def test_9_2_events_are_ordered_by_event_time_and_naive_times_are_vietnam_time(api: Client) -> None:
    vtp = _order(api, "viettelpost")
    _send(
        api, "viettelpost", vtp, "callback_delivered.json", "callback_delivery_failed.json", "callback_picked_up.json"
    )
    events = _timeline(api, vtp)
    assert [e["raw_status"] for e in events] == ["105", "506", "501"]
    assert events[0]["event_time"] == "2026-11-21T10:00:00+07:00"  # "21/11/2026 10:00:00" read as Hà Nội time
    assert all(e["applied"] for e in events) and _order_view(api, vtp)["status"] == "delivered"


def test_9_2_a_tie_in_time_is_broken_by_lifecycle_rank(api: Client) -> None:
    ghn = _order(api, "ghn")
    same = "2026-11-21T10:30:00+07:00"  # second-resolution times tie; the later step arrives first
    _send(api, "ghn", ghn, "callback_delivered.json", Time=same)
    _send(api, "ghn", ghn, "callback_naive_time.json", Time=same)
    assert [e["raw_status"] for e in _timeline(api, ghn)] == ["picked", "delivered"]
    assert _order_view(api, ghn)["status"] == "delivered"


# §9.3 Events after a final status ----------------------------------------------------------------------
def test_9_3_a_step_after_the_end_is_kept_acknowledged_and_raised_but_moves_nothing(api: Client) -> None:
    vtp = _order(api, "viettelpost")
    _send(api, "viettelpost", vtp, "callback_delivered.json", "callback_after_final.json")
    late = _timeline(api, vtp)[-1]
    assert (late["raw_status"], late["applied"], late["location"]) == ("200", False, "Bưu cục Thanh Xuân")
    assert _order_view(api, vtp)["status"] == "delivered"
    assert "the courier reported '200' after the order was delivered" in _exceptions(api)[vtp]


def test_9_3_ghtk_reconciliation_steps_follow_the_end(api: Client) -> None:
    delivered = _order(api, "ghtk")
    _send(api, "ghtk", delivered, "callback_delivered.txt", "callback_reconciled.txt")  # 5 -> 6
    assert [(e["raw_status"], e["applied"]) for e in _timeline(api, delivered)] == [("5", True), ("6", True)]
    returned = _order(api, "ghtk")
    _send(api, "ghtk", returned, "callback_returned.txt")
    _send(api, "ghtk", returned, "callback_returned.txt", status_id="11", action_time="2026-11-26T09:00:00+07:00")
    assert [(e["raw_status"], e["applied"]) for e in _timeline(api, returned)] == [("21", True), ("11", True)]
    assert not {delivered, returned} & set(_exceptions(api))


def test_9_3_a_shipper_report_of_delivery_followed_by_not_delivered(api: Client) -> None:
    order = _order(api, "ghtk")
    _send(api, "ghtk", order, "callback_shipper_reports_delivered.txt")  # 45: "shipper báo đã giao"
    [report] = _timeline(api, order)
    assert (report["status"], report["unconfirmed"], report["applied"]) == ("delivered", True, False)
    assert _order_view(api, order)["status"] == "accepted"  # nothing moved on the shipper's word
    _send(api, "ghtk", order, "callback_not_delivered.txt")  # 9 follows: it was not delivered after all
    assert _order_view(api, order)["status"] == "delivery_failed"
    _send(api, "ghtk", order, "callback_delivered.txt", action_time="2026-11-23T10:00:00+07:00")
    assert _order_view(api, order)["status"] == "delivered"  # GHTK's own 5 confirms


# §9.4 Unknown or undocumented codes ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("courier", "name", "raw"),
    [
        ("viettelpost", "callback_undocumented_570.json", "570"),
        ("ghn", "callback_unknown_status.json", "teleported"),
        ("ghtk", "callback_unknown_status.txt", "999"),
        ("vnpost", "callback_unknown_status.json", "99"),
    ],
)
def test_9_4_an_unknown_code_is_kept_acknowledged_raised_never_guessed(
    api: Client, courier: str, name: str, raw: str
) -> None:
    order = _order(api, courier)
    _send(api, courier, order, name)  # _send asserts the 200
    [event] = _timeline(api, order)
    assert (event["raw_status"], event["status"], event["applied"]) == (raw, None, False)
    assert _order_view(api, order)["status"] == "accepted"
    assert f"the courier sent codes we do not know: {raw}" in _exceptions(api)[order]


# §9.5 Authentication per courier -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("courier", "name"),
    [
        ("ghn", "callback_delivered.json"),
        ("ghtk", "callback_delivered.txt"),
        ("viettelpost", "callback_delivered.json"),
    ],
)
def test_9_5_a_wrong_secret_is_401_counted_and_nothing_is_kept(
    api: Client, ctx: Context, courier: str, name: str
) -> None:
    order = _order(api, courier)
    response = _post(api, courier, _payload(courier, name, order), secret="guessed")
    assert response.status_code == 401 and response.headers["content-type"] == "application/problem+json"
    assert ctx.store.client.xlen(keys.callbacks(courier)) == 0
    assert _timeline(api, order) == []
    assert api.get("/v1/couriers").json()["rejected_callbacks"][courier] == 1


def test_9_5_vnpost_from_an_unlisted_address_or_with_a_bad_signature_is_refused(api: Client, ctx: Context) -> None:
    order = _order(api, "vnpost")
    centre = ctx.config.centres[DEMO_CENTRE]
    elsewhere = msgspec.structs.replace(centre.couriers["vnpost"], callback_ips=("203.0.113.9",))
    ctx.config.centres[DEMO_CENTRE] = msgspec.structs.replace(centre, couriers={**centre.couriers, "vnpost": elsewhere})
    assert _post(api, "vnpost", _payload("vnpost", "callback_delivered.json", order)).status_code == 401
    signed = msgspec.structs.replace(
        centre.couriers["vnpost"], options={**centre.couriers["vnpost"].options, "signature_key": "k"}
    )
    ctx.config.centres[DEMO_CENTRE] = msgspec.structs.replace(centre, couriers={**centre.couriers, "vnpost": signed})
    assert _post(api, "vnpost", _payload("vnpost", "callback_delivered.json", order)).status_code == 401
    assert ctx.store.client.xlen(keys.callbacks("vnpost")) == 0


def test_9_5_vnpost_behind_a_trusted_proxy_is_known_by_the_address_the_proxy_forwards(
    api: Client, ctx: Context
) -> None:
    order = _order(api, "vnpost")
    centre = ctx.config.centres[DEMO_CENTRE]
    listed = msgspec.structs.replace(centre.couriers["vnpost"], callback_ips=("203.0.113.9",))
    ctx.config.centres[DEMO_CENTRE] = msgspec.structs.replace(centre, couriers={**centre.couriers, "vnpost": listed})
    body = _payload("vnpost", "callback_delivered.json", order)
    forwarded = {"content-type": "application/json", "x-forwarded-for": "198.51.100.1, 203.0.113.9"}
    # From a peer that is not a trusted proxy, the header is anyone's say.
    assert api.post("/v1/callbacks/vnpost", content=body, headers=forwarded).status_code == 401
    ctx.settings = msgspec.structs.replace(ctx.settings, dd_trusted_proxies="testclient")
    assert api.post("/v1/callbacks/vnpost", content=body, headers=forwarded).status_code == 200
    forwarded["x-forwarded-for"] = "203.0.113.9, 198.51.100.1"  # the proxy appends the address it saw: last
    assert api.post("/v1/callbacks/vnpost", content=body, headers=forwarded).status_code == 401


# §9.6 Response contracts --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("courier", "name", "answer"),
    [
        ("ghn", "callback_delivered.json", {"code": 200, "message": "Success"}),
        ("ghtk", "callback_delivered.txt", {"success": True, "message": "OK"}),
        ("viettelpost", "callback_delivered.json", {"status": 200, "error": False, "message": "OK"}),
        ("vnpost", "callback_delivered.json", {"success": True, "message": "OK"}),
    ],
)
def test_9_6_each_courier_gets_the_answer_it_expects(
    api: Client, courier: str, name: str, answer: dict[str, object]
) -> None:
    response = _post(api, courier, _payload(courier, name, _order(api, courier)))
    assert (response.status_code, response.json()) == (200, answer)


# §9.7 Encodings, typos, units -----------------------------------------------------------------------------
def test_9_7_a_vnpost_batch_moves_each_order_it_carries(api: Client) -> None:
    first, second = _order(api, "vnpost"), _order(api, "vnpost")
    body = msgspec.json.decode(fixture("vnpost", "callback_batch.json"))
    body["data"][0]["saleOrderCode"], body["data"][1]["saleOrderCode"] = first, second
    assert _post(api, "vnpost", msgspec.json.encode(body)).status_code == 200
    ingest_callbacks("vnpost")
    assert (_order_view(api, first)["status"], _order_view(api, second)["status"]) == ("in_transit", "out_for_delivery")


def test_9_7_form_bodies_typos_and_units(api: Client) -> None:
    ghtk = _order(api, "ghtk")
    _send(api, "ghtk", ghtk, "callback_unescaped_plus.txt")  # "+07:00" sent with a bare "+"
    [event] = _timeline(api, ghtk)
    assert event["event_time"] == "2026-11-22T15:30:00+07:00"
    assert _order_view(api, ghtk)["money"]["weight_grams"] == 210  # GHTK's webhook says kg: 0.21
    vtp = _order(api, "viettelpost")
    _send(api, "viettelpost", vtp, "callback_delivered.json")  # VTP's own spelling, LOCALION_CURRENTLY
    _send(api, "viettelpost", vtp, "callback_after_final.json")  # the right one, LOCATION_CURRENTLY
    assert [e["location"] for e in _timeline(api, vtp)] == ["Bưu cục Cầu Giấy", "Bưu cục Thanh Xuân"]
    strings = _order(api, "viettelpost")
    _send(api, "viettelpost", strings, "callback_string_codes.json")  # "501" as a string, REASON_CODE null
    assert _order_view(api, strings)["status"] == "delivered"


# §9.11 Our own cancel comes back as a webhook -------------------------------------------------------------
def test_9_11_our_cancel_coming_back_is_linked_to_the_request(api: Client, httpx_mock: HTTPXMock) -> None:
    order = _order(api, "ghtk")
    _send(api, "ghtk", order, "callback_delivered.txt", status_id="2", action_time="2026-11-21T08:00:00+07:00")
    label = _order_view(api, order)["tracking_code"]
    httpx_mock.add_response(
        method="POST", url=f"{GHTK}/services/shipment/cancel/{label}", content=fixture("ghtk", "cancel_ok.json")
    )
    assert api.post(f"/v1/orders/{order}/cancel").status_code == 200  # GHTK accepts; its webhook follows
    assert _order_view(api, order)["status"] == "booked"  # nothing is cancelled until GHTK says so
    _send(api, "ghtk", order, "callback_cancelled_by_us.txt")  # -1 with reason 115: "partner cancelled via API"
    cancelled = _timeline(api, order)[-1]
    assert (cancelled["status"], cancelled["reason_code"]) == ("cancelled", "115")
    assert cancelled["answers"].startswith(f"cancel requested by {DEMO_CENTRE} at ")


# §9.12 Failed attempts are counted by us ------------------------------------------------------------------
def test_9_12_failed_attempts_are_counted_and_raised(api: Client) -> None:
    order = _order(api, "viettelpost")
    _send(api, "viettelpost", order, "callback_picked_up.json")
    for day in ("25/11/2026", "27/11/2026"):  # invited twice, two working days apart (TT 17/2017 Đ5.2.h)
        _send(api, "viettelpost", order, "callback_delivery_failed.json", ORDER_STATUSDATE=f"{day} 11:00:00")
    deadlines = _order_view(api, order)["deadlines"]
    assert deadlines["failed_attempts"] == 2 and deadlines["return_due"] is not None
    assert any("failed deliveries" in reason for reason in _exceptions(api)[order])


# §9.14 Partial delivery or return ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("courier", "name"),
    [
        ("ghn", "callback_partial_return.json"),
        ("ghtk", "callback_partial_delivery.txt"),
        ("vnpost", "callback_partially_delivered.json"),
    ],
)
def test_9_14_a_split_dossier_is_an_incident(api: Client, courier: str, name: str) -> None:
    order = _order(api, courier)
    _send(api, courier, order, name)
    assert _order_view(api, order)["status"] == "exception"
    assert any("partial" in reason for reason in _exceptions(api)[order])


# §9.16 COD, §9.17 fees and weights after creation ------------------------------------------------------------
def test_9_16_a_cod_changed_by_the_courier_is_recorded_and_raised(api: Client) -> None:
    order = _order(api, "ghn", payment={"agency_fee": 50000})
    _send(api, "ghn", order, "callback_update_cod.json")  # GHN updateCOD: 45,000 instead of 50,000
    money = _order_view(api, order)["money"]
    assert (money["cod_expected"], money["cod"], money["cod_mismatch"]) == (50000, 45000, True)
    assert [e["raw_status"] for e in _timeline(api, order)] == []  # money only: no timeline step
    assert any("collects 45000 VND, not the 50000 VND asked" in r for r in _exceptions(api)[order])


def test_9_16_cod_payouts_are_recorded(api: Client) -> None:
    ghtk = _order(api, "ghtk", payment={"agency_fee": 50000})
    _send(api, "ghtk", ghtk, "callback_delivered.txt", "callback_reconciled.txt", pick_money="50000")
    assert _order_view(api, ghtk)["money"]["cod_paid_at"] == "2026-11-25T10:00:00+07:00"
    vnpost = _order(api, "vnpost")
    _send(api, "vnpost", vnpost, "callback_delivered.json", "callback_cod_paid.json")
    money = _order_view(api, vnpost)["money"]
    assert money["cod_paid_at"] == "2026-11-25T09:00:00+07:00"
    assert [e["raw_status"] for e in _timeline(api, vnpost)] == ["14"]  # 21 is money, not a step
    ghn = _order(api, "ghn")
    _send(api, "ghn", ghn, "callback_cod_transferred.json")
    assert _order_view(api, ghn)["money"]["cod_paid_at"] == "2026-11-25T10:00:00+07:00"


def test_9_17_fee_and_weight_changes_keep_their_history(api: Client) -> None:
    ghn = _order(api, "ghn")
    _send(api, "ghn", ghn, "callback_update_weight.json", "callback_update_fee.json")  # arrive out of order
    money = _order_view(api, ghn)["money"]
    assert (money["fee"], money["weight_grams"]) == (31000, 1500)  # GHN charges the converted weight
    fees = [(c["amount"], c["source"]) for c in money["history"] if c["field"] == "fee"]
    assert fees == [(25000, "update_fee"), (31000, "update_weight")]
    vtp = _order(api, "viettelpost")
    _send(api, "viettelpost", vtp, "callback_delivered.json", "callback_delivered_reweighed.json")
    money = _order_view(api, vtp)["money"]
    assert (money["fee"], money["weight_grams"]) == (22000, 600)  # EXCHANGE_WEIGHT, the chargeable one


# §9.20 Route by order lookup, never by payload shop ids ------------------------------------------------------
def test_9_20_a_payload_shop_id_does_not_route_the_callback(api: Client) -> None:
    order = _order(api, "ghn")
    _send(api, "ghn", order, "callback_delivered.json", ShopID=999999)  # another shop's id in the payload
    assert _order_view(api, order)["status"] == "delivered"


# §9.22 Tracking codes validated loosely -------------------------------------------------------------------------
def test_9_22_an_odd_tracking_code_is_taken_as_the_courier_gives_it(api: Client) -> None:
    order = _order(api, "vnpost")
    _send(api, "vnpost", order, "callback_odd_tracking_code.json")  # "BK…": no valid S10 check digit
    assert _order_view(api, order)["tracking_code"] == "BK123456789VN"


# §9.25 Lost or damaged originals --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("courier", "name", "status"),
    [
        ("ghn", "callback_lost.json", "lost"),
        ("ghn", "callback_damaged.json", "damaged"),
        ("ghtk", "callback_compensated.txt", "lost"),
    ],
)
def test_9_25_lost_or_damaged_opens_a_claim(api: Client, courier: str, name: str, status: str) -> None:
    order = _order(api, courier)
    _send(api, courier, order, name)
    assert _order_view(api, order)["status"] == status
    assert any("open a claim (QĐ 45/2016 Điều 14)" in reason for reason in _exceptions(api)[order])
