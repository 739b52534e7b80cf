"""Each courier gets the 2025 address in the form it takes, for wards of several provinces."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
import pytest

from contracts.config import DEMO_CENTRE, dev_config
from contracts.couriers import build_shipment, ghn, ghtk, viettelpost, vnpost
from contracts.intake import prepare
from contracts.orders import OrderCreate
from contracts.settings import Settings
from tests.conftest import order_body

CENTRE = dev_config(Settings(dd_dev_callback_secret="s")).centres[DEMO_CENTRE]
# (province code, ward code, province name, ward name) across the country, merged provinces included.
WARDS = [
    ("01", "00004", "Thành phố Hà Nội", "Phường Ba Đình"),
    ("79", "26506", "Thành phố Hồ Chí Minh", "Phường Vũng Tàu"),  # Bà Rịa - Vũng Tàu merged into HCMC
    ("48", "20242", "Thành phố Đà Nẵng", "Phường Hải Châu"),
    ("92", "31135", "Thành phố Cần Thơ", "Phường Ninh Kiều"),
    ("37", "14464", "Ninh Bình", "Xã Gia Viễn"),
]


def _shipment(courier: str, province: str, ward: str):  # type: ignore[no-untyped-def]
    body = order_body(courier=courier, address={"province_code": province, "ward_code": ward, "street": "12 Đường A"})
    [order] = prepare(
        msgspec.convert(body, OrderCreate), centre=CENTRE, new_id=lambda _p: "o01X", now=datetime.now(UTC)
    )
    return build_shipment(order, CENTRE)


@pytest.mark.parametrize(("province", "ward", "province_name", "ward_name"), WARDS)
def test_ghn_gets_the_ward_and_province_names(province: str, ward: str, province_name: str, ward_name: str) -> None:
    sent = msgspec.json.decode(ghn.encode_shipment(_shipment("ghn", province, ward)))
    assert (sent["to_ward_name"], sent["to_province_name"], sent["to_address"]) == (
        ward_name,
        province_name,
        "12 Đường A",
    )


@pytest.mark.parametrize(("province", "ward", "province_name", "ward_name"), WARDS)
def test_ghtk_gets_the_names(province: str, ward: str, province_name: str, ward_name: str) -> None:
    shipment = _shipment("ghtk", province, ward)
    sent = msgspec.json.decode(ghtk.encode_shipment(shipment, CENTRE.couriers["ghtk"]))
    assert (sent["order"]["ward"], sent["order"]["province"]) == (ward_name, province_name)


@pytest.mark.parametrize(("province", "ward", "province_name", "ward_name"), WARDS)
def test_viettelpost_gets_the_full_address_as_text_while_its_id_table_is_empty(
    province: str, ward: str, province_name: str, ward_name: str
) -> None:
    shipment = _shipment("viettelpost", province, ward)
    assert viettelpost.create_path(shipment).endswith("createOrderNlp")
    raw = viettelpost.encode_shipment(shipment, CENTRE.couriers["viettelpost"], now=datetime.now(UTC)).decode()
    assert ward_name in raw and province_name in raw


@pytest.mark.parametrize(("province", "ward", "province_name", "ward_name"), WARDS)
def test_vnpost_gets_the_two_level_codes_with_the_vnpost_district(
    province: str, ward: str, province_name: str, ward_name: str
) -> None:
    shipment = _shipment("vnpost", province, ward)
    sent = msgspec.json.decode(vnpost.encode_shipment(shipment, CENTRE.couriers["vnpost"]))
    order = sent.get("informationOrder", sent)
    got = {k: v for k, v in _flatten(order).items() if k.startswith("receiver") and k.endswith("Code")}
    assert got == {"receiverProvinceCode": province, "receiverDistrictCode": "VNPOST", "receiverCommuneCode": ward}


def _flatten(value: object) -> dict[str, object]:
    found: dict[str, object] = {}
    if isinstance(value, dict):
        for key, inner in value.items():
            found.update(_flatten(inner) if isinstance(inner, dict | list) else {key: inner})
    elif isinstance(value, list):
        for inner in value:
            found.update(_flatten(inner))
    return found
