"""Legacy three-level addresses converted to the 2025 units: whole-name matches, split wards refused, no network."""

from __future__ import annotations

import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest
from vietnam_provinces import Province, ProvinceCode, Ward, WardCode

from contracts.addresses import UnknownUnit, resolve
from contracts.legacy_addresses import Conversion, LegacyAddress, SplitWard, WardChoice, _name_key, convert

ROOT = Path(__file__).parent.parent

# Real cases, read from vietnamadminunits 1.0.4 and checked against vietnam-provinces 2025.10.1.
PHUC_XA = ("Thành phố Hà Nội", "Quận Ba Đình", "Phường Phúc Xá")  # -> Phường Hồng Hà 00097
BEN_NGHE = ("Thành phố Hồ Chí Minh", "Quận 1", "Phường Bến Nghé")  # -> Phường Sài Gòn 26740
Q3_WARD_1 = ("Thành phố Hồ Chí Minh", "Quận 3", "Phường 1")  # -> Phường Bàn Cờ: the library says 27154
TRAN_HUNG_DAO = ("Tỉnh Nam Định", "Thành phố Nam Định", "Phường Trần Hưng Đạo")  # Nam Định merged into Ninh Bình
PHU_CUONG = ("Tỉnh Bình Dương", "Thành phố Thủ Dầu Một", "Phường Phú Cường")  # Bình Dương merged into HCMC
Q10_WARD_14 = ("Thành phố Hồ Chí Minh", "Quận 10", "Phường 14")  # split: Diên Hồng and Hòa Hưng
KHAM_THIEN = ("Thành phố Hà Nội", "Quận Đống Đa", "Phường Khâm Thiên")  # the library's code names Kim Liên


def legacy(units: tuple[str, str, str], street: str = "12 Phố Huế") -> LegacyAddress:
    province, district, ward = units
    return LegacyAddress(province=province, district=district, ward=ward, street=street)


def refusal(address: LegacyAddress) -> UnknownUnit:
    with pytest.raises(UnknownUnit) as caught:
        convert(address)
    return caught.value


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("legacy address conversion touched the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


# --- conversions ---------------------------------------------------------------------------------------------


def test_hanoi_ward_converts_one_to_one_and_says_so() -> None:
    conversion = convert(legacy(PHUC_XA))
    assert conversion == Conversion(
        province_code="01",
        ward_code="00097",
        province_name="Thành phố Hà Nội",
        ward_name="Phường Hồng Hà",
        street="12 Phố Huế",
        exact=True,
        note="Phường Phúc Xá, Quận Ba Đình, Thành phố Hà Nội (before 1/7/2025) → Phường Hồng Hà, "
        "Thành phố Hà Nội (ward 00097)",
    )


def test_ho_chi_minh_city_ward_converts_one_to_one() -> None:
    conversion = convert(legacy(BEN_NGHE))
    assert (conversion.province_code, conversion.ward_code, conversion.ward_name) == ("79", "26740", "Phường Sài Gòn")
    assert conversion.exact


def test_ward_in_a_merged_province_names_the_province_it_joined() -> None:
    conversion = convert(legacy(TRAN_HUNG_DAO))
    assert (conversion.province_code, conversion.ward_code) == ("37", "13666")
    assert (conversion.province_name, conversion.ward_name) == ("Ninh Bình", "Phường Nam Định")
    assert conversion.exact
    assert conversion.note.endswith("; Tỉnh Nam Định is now part of Ninh Bình")

    into_hcmc = convert(legacy(PHU_CUONG))
    assert (into_hcmc.province_code, into_hcmc.ward_name) == ("79", "Phường Thủ Dầu Một")
    assert "Tỉnh Bình Dương is now part of Thành phố Hồ Chí Minh" in into_hcmc.note


def test_codes_come_from_vietnam_provinces_not_from_the_library() -> None:
    # vietnamadminunits gives Bàn Cờ the code 27154 (unknown to vietnam-provinces), and the new Văn Miếu - Quốc
    # Tử Giám the code 00226, which vietnam-provinces gives to Kim Liên: the ward name decides, the code follows.
    assert convert(legacy(Q3_WARD_1)).ward_code == "27160"
    assert Ward.from_code(WardCode(27160)).name == "Phường Bàn Cờ"
    kham_thien = convert(legacy(KHAM_THIEN))
    assert (kham_thien.ward_code, kham_thien.ward_name) == ("00196", "Phường Văn Miếu - Quốc Tử Giám")


def test_result_codes_resolve_in_vietnam_provinces() -> None:
    for units in (PHUC_XA, BEN_NGHE, Q3_WARD_1, TRAN_HUNG_DAO, PHU_CUONG, KHAM_THIEN):
        conversion = convert(legacy(units))
        assert len(conversion.province_code) == 2 and len(conversion.ward_code) == 5
        ward = Ward.from_code(WardCode(int(conversion.ward_code)))
        assert ward.province_code == ProvinceCode(int(conversion.province_code))
        assert Province.from_code(ward.province_code).name == conversion.province_name
        resolved = resolve(conversion.address())
        assert (resolved.ward_name, resolved.province_name) == (conversion.ward_name, conversion.province_name)


def test_island_district_without_wards_becomes_its_special_zone() -> None:
    conversion = convert(legacy(("Tỉnh Bà Rịa - Vũng Tàu", "Huyện Côn Đảo", "Côn Đảo")))
    assert (conversion.province_code, conversion.ward_code, conversion.ward_name) == (
        "79",
        "26732",
        "Đặc khu Côn Đảo",
    )
    assert "Huyện Côn Đảo had no wards" in conversion.note
    assert refusal(legacy(("Tỉnh Bà Rịa - Vũng Tàu", "Huyện Côn Đảo", "Xã Bất Kỳ"))).field == "legacy_address.ward"


# --- how names are read --------------------------------------------------------------------------------------


def test_short_names_and_abbreviated_types_are_exact() -> None:
    assert convert(legacy(("Hà Nội", "Ba Đình", "Phúc Xá"))).exact
    assert convert(legacy(("TP. Hồ Chí Minh", "Q. 1", "P. Bến Nghé"))).exact


def test_names_without_accents_convert_but_are_not_exact() -> None:
    conversion = convert(legacy(("ha noi", "ba dinh", "phuc xa")))
    assert conversion.ward_code == "00097" and not conversion.exact
    assert "read 'phuc xa' as Phường Phúc Xá" in conversion.note


def test_an_older_ward_name_is_read_as_its_successor_and_reported() -> None:
    # Phường Hạ Long (Nam Định) was merged into Phường Quang Trung before 2025; the library keeps the old name.
    conversion = convert(legacy(("Nam Định", "Thành phố Nam Định", "Phường Hạ Long")))
    assert conversion.ward_code == "13666" and not conversion.exact
    assert "read 'Phường Hạ Long' as Phường Quang Trung" in conversion.note


def test_thua_thien_hue_is_read_as_thanh_pho_hue() -> None:
    conversion = convert(legacy(("Thừa Thiên Huế", "Thành phố Huế", "Phường Phú Hội")))
    assert (conversion.province_code, conversion.ward_name) == ("46", "Phường Thuận Hóa")
    assert not conversion.exact


def test_street_is_kept_as_given_and_never_parsed() -> None:
    conversion = convert(legacy(PHUC_XA, street="  Số 5, ngõ 12, Phường Bến Nghé, Quận 1  "))
    assert conversion.ward_code == "00097"
    assert conversion.street == "Số 5, ngõ 12, Phường Bến Nghé, Quận 1"


# --- refusals ------------------------------------------------------------------------------------------------


def test_split_ward_is_refused_with_candidates() -> None:
    error = refusal(legacy(Q10_WARD_14))
    assert isinstance(error, SplitWard)
    assert error.field == "legacy_address.ward"
    assert set(error.candidates) == {
        WardChoice(ward_code="27169", ward_name="Phường Diên Hồng"),
        WardChoice(ward_code="27163", ward_name="Phường Hòa Hưng"),
    }
    assert "Phường Diên Hồng (27169)" in str(error) and "Phường Hòa Hưng (27163)" in str(error)
    for choice in error.candidates:
        assert Ward.from_code(WardCode(int(choice.ward_code))).name == choice.ward_name


def test_split_ward_is_refused_without_touching_the_network(no_network: None) -> None:
    # Given a street, vietnamadminunits would geocode a split ward with ArcGIS; we never pass it the street.
    with pytest.raises(SplitWard):
        convert(legacy(Q10_WARD_14, street="285 Cách Mạng Tháng Tám"))
    assert convert(legacy(BEN_NGHE, street="2 Hàm Nghi")).ward_code == "26740"


@pytest.mark.parametrize(
    ("units", "field"),
    [
        (("Atlantis", "Quận Ba Đình", "Phường Phúc Xá"), "legacy_address.province"),
        (("Thành phố Hà Nội", "Quận Không Có", "Phường Phúc Xá"), "legacy_address.district"),
        (("Thành phố Hà Nội", "Quận 1", "Phường Phúc Xá"), "legacy_address.district"),  # a district of HCMC
        (("Thành phố Hà Nội", "Quận Ba Đình", "Phường Không Có"), "legacy_address.ward"),
        (("Thành phố Hà Nội", "Quận Ba Đình", "Phường Bến Nghé"), "legacy_address.ward"),  # a ward of Quận 1
    ],
)
def test_unknown_unit_is_refused_naming_the_field(units: tuple[str, str, str], field: str) -> None:
    error = refusal(legacy(units))
    assert error.field == field
    assert "before 1/7/2025" in str(error)


def test_ward_must_match_whole_not_as_a_prefix() -> None:
    # On its own the library reads "Phường 19" as "Phường 1" and "Phúc Xá Mới" as "Phúc Xá".
    assert refusal(legacy(("Thành phố Hồ Chí Minh", "Quận 3", "Phường 19"))).field == "legacy_address.ward"
    assert refusal(legacy(("Thành phố Hà Nội", "Quận Ba Đình", "Phường Phúc Xá Mới"))).field == "legacy_address.ward"


# --- the API type and the library ----------------------------------------------------------------------------


def test_legacy_address_decodes_from_json_and_refuses_unknown_fields() -> None:
    fields = {"province": "Hà Nội", "district": "Ba Đình", "ward": "Phúc Xá", "street": "1 Hoè Nhai"}
    assert convert(msgspec.json.decode(msgspec.json.encode(fields), type=LegacyAddress)).ward_code == "00097"
    with pytest.raises(msgspec.ValidationError, match="legacy_code"):
        msgspec.json.decode(msgspec.json.encode({**fields, "legacy_code": "00001"}), type=LegacyAddress)


def test_conversion_agrees_with_the_library_on_a_sample_of_legacy_wards() -> None:
    # Every 97th legacy ward in the library's own table, by its official names: each converts to the ward
    # `vietnamadminunits.convert_address` gives (by name), or is refused as split.
    import vietnamadminunits  # type: ignore[import-untyped]
    from vietnamadminunits import convert_address

    database = Path(vietnamadminunits.__file__).parent / "data" / "dataset.db"
    with sqlite3.connect(database) as connection:
        rows = connection.execute("SELECT province, district, ward FROM admin_units_legacy").fetchall()
    converted = split = 0
    for province, district, ward in rows[::97]:
        address = LegacyAddress(province=province, district=district, ward=ward or district, street="1")
        try:
            conversion = convert(address)
        except SplitWard:
            split += 1
            continue
        library = convert_address(f"{ward or district}, {district}, {province}")
        assert conversion.exact and conversion.province_code == library.province_code
        assert _name_key(conversion.ward_name) == _name_key(library.ward)  # "Thuận Hoà" == "Thuận Hòa"
        converted += 1
    assert converted > 90 and split > 0


def test_importing_the_module_does_not_load_the_library() -> None:
    # vietnamadminunits pulls in numpy, shapely, geopy and requests: only a conversion loads it.
    probe = (
        "import sys, contracts.legacy_addresses\n"
        "print(sorted({'vietnamadminunits', 'geopy', 'requests', 'shapely'} & set(sys.modules)))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=True)
    assert result.stdout.strip() == "[]"
