"""The order as the law and the centres need it: legs, catalogue, people, money, routing, deadlines."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime
from pathlib import Path

import msgspec
import pytest
from litestar.testing import TestClient

from contracts.config import DEMO_CENTRE
from contracts.events import Event
from contracts.statuses import Status
from tests.conftest import order_body
from workers import keys
from workers.context import Context

Client = TestClient  # type: ignore[type-arg]


def _problem_field(response: object) -> str:
    body = response.json()  # type: ignore[attr-defined]
    return str(body["invalid_params"][0]["name"])


def test_round_trip_creates_two_linked_legs_and_holds_the_delivery(api: Client, ctx: Context) -> None:
    response = api.post("/v1/orders", json=order_body(kind="round_trip"))
    assert response.status_code == 201, response.text
    pickup = response.json()
    assert pickup["kind"] == "pickup" and not pickup["on_hold"]
    delivery = api.get(f"/v1/orders/{pickup['linked_order_id']}").json()
    assert delivery["kind"] == "delivery" and delivery["on_hold"] and delivery["linked_order_id"] == pickup["id"]
    # Only the pickup goes to the courier now; the result does not exist yet.
    assert ctx.store.client.zrange(keys.ADMIT, 0, -1) == [pickup["id"].encode()]
    dossier = api.get(f"/v1/dossiers/{pickup['dossier_code']}").json()
    assert {o["id"] for o in dossier["orders"]} == {pickup["id"], delivery["id"]}


def test_releasing_the_delivery_leg_queues_its_dispatch_once(api: Client, ctx: Context) -> None:
    pickup = api.post("/v1/orders", json=order_body(kind="round_trip")).json()
    leg = pickup["linked_order_id"]
    early = api.post(f"/v1/orders/{leg}/release")
    assert early.status_code == 409 and "not reached the centre" in early.json()["detail"]
    now = datetime.now(UTC)
    handed_over = Event(key="t|delivered", status=Status.DELIVERED, courier="ghn", raw_status="delivered",
                        event_time=now, received_at=now)  # fmt: skip
    ctx.store.update_order(pickup["id"], now=now, events=[handed_over])
    released = api.post(f"/v1/orders/{leg}/release")
    assert released.status_code == 200 and released.json()["on_hold"] is False
    assert ctx.store.client.zrange(keys.ADMIT, 0, -1)[-1] == leg.encode()  # queued for admission
    again = api.post(f"/v1/orders/{leg}/release")
    assert again.status_code == 409 and again.headers["content-type"].startswith("application/problem+json")


def test_a_cancelled_pickup_never_releases_its_delivery(api: Client, ctx: Context) -> None:
    pickup = api.post("/v1/orders", json=order_body(kind="round_trip")).json()
    assert api.post(f"/v1/orders/{pickup['id']}/cancel").status_code == 200
    refused = api.post(f"/v1/orders/{pickup['linked_order_id']}/release")
    assert refused.status_code == 409 and "cancelled" in refused.json()["detail"]


def test_other_centres_cannot_see_a_dossier(api: Client) -> None:
    code = api.post("/v1/orders", json=order_body(kind="round_trip")).json()["dossier_code"]
    other = api.get(f"/v1/dossiers/{code}", headers={"Authorization": "Bearer test-key-other"})
    assert other.status_code == 404


def test_procedure_needing_personal_presence_is_refused(api: Client) -> None:
    response = api.post("/v1/orders", json=order_body(procedure_code="1.004227"))
    assert response.status_code == 422
    assert _problem_field(response) == "procedure_code" and "Điều 1.2" in response.json()["detail"]


def test_procedure_outside_the_catalogue_is_refused(api: Client) -> None:
    response = api.post("/v1/orders", json=order_body(procedure_code="9.999999"))
    assert response.status_code == 422 and _problem_field(response) == "procedure_code"


def test_public_postal_only_procedure_must_go_by_vnpost(api: Client) -> None:
    routed = api.post("/v1/orders", json=order_body(procedure_code="1.001612"))
    assert routed.status_code == 201 and routed.json()["courier"] == "vnpost"
    chosen = api.post("/v1/orders", json=order_body(procedure_code="1.001612", courier="ghn"))
    assert chosen.status_code == 422 and _problem_field(chosen) == "courier"
    assert "public postal" in chosen.json()["detail"]


def test_procedure_name_comes_from_the_catalogue(api: Client) -> None:
    order = api.post("/v1/orders", json=order_body()).json()
    assert order["procedure_name"] == "Cấp bản sao trích lục hộ tịch"


@pytest.mark.parametrize(
    ("given", "stored"),
    [("+84 98 765 4321", "0987654321"), ("84912345678", "0912345678"), ("024 3825 1234", "02438251234")],
)
def test_phone_is_normalised_to_national_form(api: Client, ctx: Context, given: str, stored: str) -> None:
    order_id = api.post("/v1/orders", json=order_body(citizen={"name": "A", "phone": given})).json()["id"]
    saved = ctx.store.get_order(order_id)
    assert saved is not None and saved.citizen.phone == stored


@pytest.mark.parametrize(
    ("citizen", "field"),
    [
        ({"name": "A", "phone": "0100000000"}, "citizen.phone"),
        ({"name": "A", "phone": "+1 650 253 0000"}, "citizen.phone"),
        ({"name": "A", "phone": "1900 1234"}, "citizen.phone"),  # a service number no courier can call
        ({"name": "A", "phone": "1800 599 920"}, "citizen.phone"),
        ({"name": "A", "phone": "0912345678", "id_number": "12345"}, "citizen.id_number"),
        ({"name": "A", "phone": "0912345678", "email": "not-an-email"}, "citizen.email"),
    ],
)
def test_bad_citizen_details_name_the_field(api: Client, citizen: dict[str, str], field: str) -> None:
    response = api.post("/v1/orders", json=order_body(citizen=citizen))
    assert response.status_code == 422 and _problem_field(response) == field


def test_id_number_and_phone_are_stored_but_never_answered_nor_logged(
    api: Client, ctx: Context, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    citizen = {"name": "Nguyễn Văn An", "phone": "0912345678", "id_number": "001090012345"}
    created = api.post("/v1/orders", json=order_body(kind="round_trip", citizen=citizen))
    order_id = created.json()["id"]
    saved = ctx.store.get_order(order_id)
    assert saved is not None and saved.citizen.id_number == "001090012345"
    answers = [
        created,
        api.get(f"/v1/orders/{order_id}"),
        api.get("/v1/orders"),
        api.get(f"/v1/orders/{order_id}/events"),
        api.get(f"/v1/dossiers/{created.json()['dossier_code']}"),
        api.post("/v1/orders", json=order_body(citizen={**citizen, "phone": "1900 1234"})),
    ]
    for answer in answers:
        assert "001090012345" not in answer.text and "0912345678" not in answer.text
        assert "1900 1234" not in answer.text
    assert "001090012345" not in caplog.text and "0912345678" not in caplog.text


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"kind": "pickup", "documents_to_recover": [{"name": "Giấy hẹn"}]}, "documents_to_recover"),
        (
            {"kind": "pickup", "authorised_recipient": {"name": "B", "id_number": "001192054321",
                                                        "authorisation_ref": "UQ-1"}},
            "authorised_recipient",
        ),
        ({"address": None}, "address"),
        ({"legacy_address": {"province": "Hà Nội", "district": "Ba Đình", "ward": "Phúc Xá", "street": "1"}},
         "legacy_address"),
        ({"payment": {"agency_fee": -1}}, "payment.agency_fee"),
        ({"kind": "pickup", "payment": {"agency_fee": 8000}}, "payment.agency_fee"),
        ({"payment": {"postage_payer": "courier"}}, "payment.postage_payer"),
    ],
)  # fmt: skip
def test_inconsistent_order_names_the_field(api: Client, changes: dict[str, object], field: str) -> None:
    response = api.post("/v1/orders", json=order_body(**changes))
    assert response.status_code == 422, response.text
    assert _problem_field(response) == field


def test_money_is_kept_apart(api: Client) -> None:
    payment = {"postage_payer": "centre", "agency_fee": 8000, "declared_value": 500000}
    order = api.post("/v1/orders", json=order_body(payment=payment)).json()
    assert order["payment"] == payment


def test_a_replay_answers_the_first_response_not_the_current_state(api: Client) -> None:
    first = api.post("/v1/orders", json=order_body(), headers={"Idempotency-Key": "k-first"})
    api.post(f"/v1/orders/{first.json()['id']}/cancel")
    again = api.post("/v1/orders", json=order_body(), headers={"Idempotency-Key": "k-first"})
    assert again.status_code == 201 and again.json() == first.json()
    assert again.json()["status"] == "accepted"
    assert api.get(f"/v1/orders/{first.json()['id']}").json()["status"] == "cancelled"


def test_concurrent_duplicates_with_one_key_create_one_order(api: Client, ctx: Context) -> None:
    answers: list[str] = []

    def post() -> None:
        answer = api.post("/v1/orders", json=order_body(), headers={"Idempotency-Key": "same-key"})
        answers.append(answer.json()["id"])

    threads = [threading.Thread(target=post) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(answers)) == 1 and len(answers) == 8
    assert len(ctx.store.client.keys("dd:order:*[^s]")) == 1
    assert 0 < ctx.store.client.ttl(keys.idempotency(DEMO_CENTRE, "same-key")) <= 24 * 3600


def test_list_filters(api: Client) -> None:
    delivery = api.post("/v1/orders", json=order_body()).json()
    pickup = api.post("/v1/orders", json=order_body(kind="pickup", dossier_code="D-2")).json()

    def ids(**params: str) -> list[str]:
        return [o["id"] for o in api.get("/v1/orders", params=params).json()["orders"]]

    assert ids(kind="pickup") == [pickup["id"]]
    assert ids(dossier_code="D-2") == [pickup["id"]]
    assert ids(status="accepted", courier="ghn") == [pickup["id"], delivery["id"]]
    assert ids(status="delivered") == []
    assert ids(created_from=pickup["created_at"]) == [pickup["id"]]
    assert ids(created_to=delivery["created_at"]) == [delivery["id"]]
    bad = api.get("/v1/orders", params={"status": "teleported"})
    assert bad.status_code == 422 and _problem_field(bad) == "status"


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e400"])
def test_a_crafted_cursor_is_a_problem_not_a_crash(api: Client, value: str) -> None:
    import base64

    cursor = base64.urlsafe_b64encode(f"{value}|x".encode()).decode()
    response = api.get("/v1/orders", params={"cursor": cursor})
    assert response.status_code == 422 and _problem_field(response) == "cursor"


def test_paging_never_skips_orders_created_at_the_same_instant(api: Client, ctx: Context) -> None:
    template = ctx.store.get_order(api.post("/v1/orders", json=order_body()).json()["id"])
    assert template is not None
    same = template.created_at
    for n in range(5):
        clone = msgspec.structs.replace(template, id=f"o01SAMETIME{n}")
        ctx.store.client.set(keys.order(clone.id), msgspec.json.encode(clone))
        ctx.store.client.zadd(keys.centre_orders(DEMO_CENTRE), {clone.id: same.timestamp()})
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        page = api.get("/v1/orders", params=params).json()
        seen += [o["id"] for o in page["orders"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted({template.id, *(f"o01SAMETIME{n}" for n in range(5))})
    assert len(seen) == len(set(seen))


def test_scopes_limit_what_a_key_may_do(api: Client, ctx: Context) -> None:
    from workers.store import Principal

    ctx.store.save_api_key("reader", Principal(centre=DEMO_CENTRE, scopes=("orders:read",)))
    ctx.store.save_api_key("writer", Principal(centre=DEMO_CENTRE, scopes=("orders:write",)))
    ctx.store.save_api_key("root", Principal(centre="HQ", scopes=("admin",)))
    order_id = api.post("/v1/orders", json=order_body()).json()["id"]
    reader, writer, root = ({"Authorization": f"Bearer {k}"} for k in ("reader", "writer", "root"))
    assert api.post("/v1/orders", json=order_body(), headers=reader).status_code == 403
    assert api.get(f"/v1/orders/{order_id}", headers=reader).status_code == 200
    assert api.get(f"/v1/orders/{order_id}", headers=writer).status_code == 403
    assert api.get(f"/v1/orders/{order_id}", headers=root).status_code == 200  # admin sees every centre
    listed = api.get("/v1/orders", params={"centre": DEMO_CENTRE}, headers=root).json()["orders"]
    assert [order["id"] for order in listed] == [order_id]  # one centre at a time
    refused = api.get("/v1/orders", headers=root)
    assert refused.status_code == 422 and refused.json()["invalid_params"][0]["name"] == "centre"
    assert api.get("/v1/orders", params={"centre": "OTHER"}).status_code == 422  # a centre's key: its own only


def test_deadlines_follow_the_courier_acceptance_and_failed_attempts(api: Client, ctx: Context) -> None:
    order_id = api.post("/v1/orders", json=order_body()).json()["id"]
    assert api.get(f"/v1/orders/{order_id}").json()["deadlines"]["due_date"] is None

    def event(status: Status, when: datetime) -> Event:
        return Event(key=f"k|{status}|{when}", status=status, courier="ghn", raw_status=status.value,
                     event_time=when, received_at=when)  # fmt: skip

    picked = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)  # Friday 17:00 in Hà Nội: after 15:00
    failed = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)  # Wednesday
    ctx.store.update_order(
        order_id, now=failed, events=[event(Status.PICKED_UP, picked), event(Status.DELIVERY_FAILED, failed)]
    )
    deadlines = api.get(f"/v1/orders/{order_id}").json()["deadlines"]
    assert deadlines["accepted_on"] == "2026-11-23"  # the next working day
    # J+2 (another ward of the centre's province), and 24/11/2026 is a holiday in `holidays` (Culture Day).
    assert deadlines["due_date"] == "2026-11-26"
    assert deadlines["failed_attempts"] == 1
    assert deadlines["next_attempt_due"] == "2026-11-27"  # two working days after the failure
    assert deadlines["return_due"] is None
    assert date.fromisoformat(deadlines["next_attempt_due"]).weekday() < 5
    # A second try the next day is no second invitation: two working days must pass (TT 17 Đ5.2.h).
    next_day = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
    ctx.store.update_order(order_id, now=next_day, events=[event(Status.DELIVERY_FAILED, next_day)])
    deadlines = api.get(f"/v1/orders/{order_id}").json()["deadlines"]
    assert (deadlines["failed_attempts"], deadlines["next_attempt_due"], deadlines["return_due"]) == (
        2,
        "2026-11-27",
        None,
    )
    invited = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)
    ctx.store.update_order(order_id, now=invited, events=[event(Status.DELIVERY_FAILED, invited)])
    deadlines = api.get(f"/v1/orders/{order_id}").json()["deadlines"]
    assert (deadlines["next_attempt_due"], deadlines["return_due"]) == (None, "2026-11-30")


def test_legacy_address_is_accepted_through_a_reported_conversion(api: Client, ctx: Context) -> None:
    legacy = {"province": "Thành phố Hà Nội", "district": "Quận Ba Đình", "ward": "Phường Phúc Xá",
              "street": "18 Phố Phúc Xá"}  # fmt: skip
    response = api.post("/v1/orders", json=order_body(address=None, legacy_address=legacy))
    assert response.status_code == 201, response.text
    order = response.json()
    assert "Phường Phúc Xá, Quận Ba Đình" in order["address_note"] and "Phường Hồng Hà" in order["address_note"]
    saved = ctx.store.get_order(order["id"])
    assert saved is not None and (saved.address.province_code, saved.address.ward_code) == ("01", "00097")


def test_legacy_ward_that_was_split_is_refused_with_the_candidates(api: Client) -> None:
    legacy = {
        "province": "Thành phố Hồ Chí Minh",
        "district": "Quận 10",
        "ward": "Phường 14",
        "street": "1 Ba Tháng Hai",
    }
    response = api.post("/v1/orders", json=order_body(address=None, legacy_address=legacy))
    assert response.status_code == 422 and _problem_field(response) == "legacy_address.ward"
    assert "Diên Hồng" in response.json()["detail"] and "Hòa Hưng" in response.json()["detail"]


def test_every_documented_example_is_accepted(api: Client) -> None:
    from service.examples import DELIVERY_EXAMPLE, LEGACY_EXAMPLE, PICKUP_EXAMPLE, ROUND_TRIP_EXAMPLE

    for example in (DELIVERY_EXAMPLE, PICKUP_EXAMPLE, ROUND_TRIP_EXAMPLE, LEGACY_EXAMPLE):
        response = api.post("/v1/orders", json=example)
        assert response.status_code == 201, (example["dossier_code"], response.text)
    schema = api.get("/schema/openapi.json").json()
    body = schema["paths"]["/v1/orders"]["post"]["requestBody"]["content"]["application/json"]
    assert len(body["schema"]["examples"]) == 4


def test_the_readme_order_body_is_accepted(api: Client) -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    block = readme.split("### The order body", 1)[1].split("```json", 1)[1].split("```", 1)[0]
    response = api.post("/v1/orders", content=block.encode(), headers={"content-type": "application/json"})
    assert response.status_code == 201, response.text


def test_routing_follows_the_centres_default_for_the_kind() -> None:
    from contracts.config import dev_config
    from contracts.intake import courier_for
    from contracts.orders import Courier, Kind
    from contracts.settings import Settings

    centre = msgspec.structs.replace(
        dev_config(Settings()).centres[DEMO_CENTRE], default_couriers={"pickup": "vnpost", "delivery": "ghtk"}
    )
    plain = centre.procedures["1.001234"]
    assert courier_for(centre, None, plain, Kind.PICKUP) is Courier.VNPOST
    assert courier_for(centre, None, plain, Kind.DELIVERY) is Courier.GHTK
    assert courier_for(centre, None, plain, Kind.ROUND_TRIP) is Courier.VNPOST
    assert courier_for(centre, Courier.GHN, plain, Kind.DELIVERY) is Courier.GHN  # the order's own choice wins
    assert courier_for(centre, None, centre.procedures["1.001612"], Kind.DELIVERY) is Courier.VNPOST
