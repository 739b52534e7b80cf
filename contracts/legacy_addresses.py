"""Legacy three-level addresses (before 1/7/2025) converted to the 2025 two-level units, saying what they became."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, cast

from vietnam_provinces import Province, ProvinceCode, Ward

from contracts.addresses import UnknownUnit
from contracts.base import Record
from contracts.orders import Address, LegacyAddress

__all__ = ["Conversion", "LegacyAddress", "SplitWard", "WardChoice", "convert"]

_BEFORE = "before 1/7/2025"


class WardChoice(Record, frozen=True, kw_only=True):
    """A 2025 ward that received part of a split legacy ward."""

    ward_code: str
    ward_name: str


class Conversion(Record, frozen=True, kw_only=True):
    """Where a legacy address lies on the 2025 units (codes as in `vietnam-provinces`), and a note saying why."""

    province_code: str  # 2 digits, e.g. "01"
    ward_code: str  # 5 digits, e.g. "00097"
    province_name: str
    ward_name: str
    street: str
    exact: bool  # False when a name was read loosely (no accents, an abbreviation, an older name)
    note: str  # plain English: legacy units -> 2025 units, and anything read loosely

    def address(self) -> Address:
        """The converted address as the API's two-level `Address`."""
        return Address(province_code=self.province_code, ward_code=self.ward_code, street=self.street)


class SplitWard(UnknownUnit):
    """The legacy ward was split across several 2025 wards: which one depends on the street, so we do not guess."""

    def __init__(self, field: str, message: str, candidates: tuple[WardChoice, ...]) -> None:
        super().__init__(field, message)
        self.candidates = candidates


def convert(legacy: LegacyAddress) -> Conversion:
    """The 2025 ward of a legacy address, or `UnknownUnit` naming the field (`SplitWard` for a split ward).

    Every name must match a unit of `vietnamadminunits` as a whole (no substring or nearest match), and the
    result is checked against `vietnam-provinces`, whose codes it reports. The street is never given to the
    library: with a street it geocodes split wards over the network (ArcGIS), without one it silently picks
    a default ward; we refuse split wards instead.
    """
    lib = _library()
    old = _legacy_units(lib, legacy)
    if old.key in lib.split:
        new_province_key, ward_keys = lib.split[old.key]
        choices = tuple(_ward_choice(lib, new_province_key, key) for key in ward_keys)
        listed = "; ".join(f"{choice.ward_name} ({choice.ward_code})" for choice in choices)
        raise SplitWard(
            "legacy_address.ward",
            f"{old.label} ({_BEFORE}) was split across several 2025 wards and the right one depends on the "
            f"street: send the address on the 2025 units with one of: {listed}",
            choices,
        )
    if old.key not in lib.ward_after:
        raise UnknownUnit("legacy_address.ward", f"no 2025 ward is recorded for {old.label} ({_BEFORE})")
    new_province_key, new_ward_key = lib.ward_after[old.key]
    province, ward = _current(lib, new_province_key, new_ward_key)

    remarks = [f"read {given!r} as {meant}" for given, meant in old.loose]
    if old.province_key != new_province_key:
        remarks.append(f"{old.province} is now part of {province.name}")
    if old.without_wards:
        remarks.append(f"{old.district} had no wards and is now {ward.name}")
    note = f"{old.label} ({_BEFORE}) → {ward.name}, {province.name} (ward {_ward_code(ward)})"
    return Conversion(
        province_code=f"{int(province.code):02d}",
        ward_code=_ward_code(ward),
        province_name=province.name,
        ward_name=ward.name,
        street=legacy.street.strip(),
        exact=not old.loose,
        note="; ".join([note, *remarks]),
    )


@dataclass(frozen=True)
class _Found:
    """The legacy units an address names, as the library keys and names them."""

    key: str  # "province_district_ward", the converter's key
    province_key: str
    province: str
    district: str
    label: str  # "Phường X, Quận Y, Thành phố Z"
    without_wards: bool  # an island district that had no wards
    loose: tuple[tuple[str, str], ...]  # (what was given, the unit it was read as) where that was not its name


def _legacy_units(lib: _Library, legacy: LegacyAddress) -> _Found:
    """Parse with the library, then insist that each field names the unit found for it, whole."""
    text = ", ".join(part.replace(",", " ") for part in (legacy.ward, legacy.district, legacy.province))
    old = lib.parse_legacy(text)
    province_key, district_key = old.province_key or "", old.district_key or ""
    loose: list[tuple[str, str]] = []

    province = lib.legacy_provinces.get(province_key)
    if province is None or not _whole(
        legacy.province, _keywords(province, "province") | _FORMER_PROVINCES.get(province_key, frozenset())
    ):
        raise UnknownUnit("legacy_address.province", f"{legacy.province!r} is not a province {_BEFORE}")
    province_name = _name(province, "province")
    if _loose(legacy.province, province_name, _name(province, "provinceShort")):
        loose.append((legacy.province, province_name))

    district = lib.legacy_districts.get(province_key, {}).get(district_key)
    if district is None or not _whole(legacy.district, _keywords(district, "district") | lib.former_districts(old)):
        raise UnknownUnit(
            "legacy_address.district", f"{legacy.district!r} is not a district of {province_name} {_BEFORE}"
        )
    district_name = _name(district, "district")
    if _loose(legacy.district, district_name, _name(district, "districtShort")):
        loose.append((legacy.district, district_name))

    without_wards = f"{province_key}_{district_key}_" in lib.ward_after
    if without_wards:  # island districts (Côn Đảo, Bạch Long Vĩ, ...): the ward field repeats the district
        if not _whole(legacy.ward, _keywords(district, "district")):
            raise UnknownUnit(
                "legacy_address.ward",
                f"{district_name} had no wards {_BEFORE}: give its name as the ward, not {legacy.ward!r}",
            )
        ward_key, label = "", f"{district_name}, {province_name}"
    else:
        ward = lib.legacy_ward(old)
        if ward is None or not _whole(legacy.ward, _keywords(ward, "ward")):
            raise UnknownUnit(
                "legacy_address.ward", f"{legacy.ward!r} is not a ward of {district_name}, {province_name} {_BEFORE}"
            )
        ward_name = _name(ward, "ward")
        if _loose(legacy.ward, ward_name, _name(ward, "wardShort")):
            loose.append((legacy.ward, ward_name))
        ward_key, label = old.ward_key or "", f"{ward_name}, {district_name}, {province_name}"
    return _Found(
        key=f"{province_key}_{district_key}_{ward_key}",
        province_key=province_key,
        province=province_name,
        district=district_name,
        label=label,
        without_wards=without_wards,
        loose=tuple(loose),
    )


# --- vietnamadminunits, behind a typed wrapper ---------------------------------------------------------------

Json = Mapping[str, Any]


@dataclass(frozen=True)
class _Old:
    """The keys `vietnamadminunits` found for a legacy address (None where it found nothing)."""

    province_key: str | None
    district_key: str | None
    ward_key: str | None


@dataclass(frozen=True)
class _Library:
    parse: Callable[[str], Any]
    legacy_provinces: Mapping[str, Json]  # province key -> record
    legacy_districts: Mapping[str, Mapping[str, Json]]  # province key -> district key -> record
    divided_districts: Mapping[str, Mapping[str, Json]]  # province key -> former district key -> record
    legacy_wards: tuple[Mapping[str, Mapping[str, Mapping[str, Json]]], ...]  # province -> district -> ward
    new_provinces: Mapping[str, Json]  # 2025 province key -> record
    new_wards: tuple[Mapping[str, Mapping[str, Json]], ...]  # 2025 province key -> ward key -> record
    ward_after: Mapping[str, tuple[str, str]]  # "province_district_ward" -> (2025 province key, 2025 ward key)
    split: Mapping[str, tuple[str, tuple[str, ...]]]  # "province_district_ward" -> (2025 province, ward keys)

    def parse_legacy(self, text: str) -> _Old:
        unit = self.parse(text)
        return _Old(
            province_key=cast("str | None", unit.province_key),
            district_key=cast("str | None", unit.district_key),
            ward_key=cast("str | None", unit.ward_key),
        )

    def legacy_ward(self, old: _Old) -> Json | None:
        for table in self.legacy_wards:
            ward = table.get(old.province_key or "", {}).get(old.district_key or "", {}).get(old.ward_key or "")
            if ward is not None:
                return ward
        return None

    def former_districts(self, old: _Old) -> frozenset[str]:
        """Keywords of districts that were divided before 2025 (e.g. Thành phố Huế) and now include this one."""
        divided = self.divided_districts.get(old.province_key or "", {}).values()
        return frozenset(
            _ascii_key(keyword)
            for former in divided
            if old.district_key in former["districts"]
            for keyword in former["dividedDistrictKeywords"]
        )


@cache
def _library() -> _Library:
    """Imported on first use (about 0.35 s; it loads numpy, shapely, geopy and requests, which we never call)."""
    from vietnamadminunits import ParseMode, parse_address  # type: ignore[import-untyped]
    from vietnamadminunits.converter import converter_2025  # type: ignore[import-untyped]
    from vietnamadminunits.parser import parser_from_2025, parser_legacy  # type: ignore[import-untyped]

    def parse(text: str) -> Any:
        return parse_address(text, mode=ParseMode.LEGACY, keep_street=False, level=3)

    ward_after: dict[str, tuple[str, str]] = {}
    for new_province, wards in converter_2025.DICT_PROVINCE_WARD_NO_DIVIDED.items():
        for new_ward, old_keys in wards.items():
            for old_key in old_keys:
                ward_after[old_key] = (new_province, new_ward)
    split: dict[str, tuple[str, tuple[str, ...]]] = {}
    for new_province, olds in converter_2025.DICT_PROVINCE_WARD_DIVIDED.items():
        for old_key, parts in olds.items():
            split[old_key] = (new_province, tuple(part["newWardKey"] for part in parts))
    return _Library(
        parse=parse,
        legacy_provinces=parser_legacy.DICT_PROVINCE,
        legacy_districts=parser_legacy.DICT_PROVINCE_DISTRICT,
        divided_districts=parser_legacy.DICT_PROVINCE_DISTRICT_DIVIDED,
        legacy_wards=(
            parser_legacy.DICT_PROVINCE_DISTRICT_WARD_NO_ACCENTED,
            parser_legacy.DICT_PROVINCE_DISTRICT_WARD_ACCENTED,
            parser_legacy.DICT_PROVINCE_DISTRICT_WARD_SHORT_ACCENTED,
        ),
        new_provinces=parser_from_2025.DICT_PROVINCE,
        new_wards=(parser_from_2025.DICT_PROVINCE_WARD_NO_ACCENTED, parser_from_2025.DICT_PROVINCE_WARD_ACCENTED),
        ward_after=ward_after,
        split=split,
    )


def _name(record: Json, field: str) -> str:
    return str(record[field])


def _keywords(record: Json, level: str) -> frozenset[str]:
    names = [record[f"{level}Keywords"], [record[level], record[f"{level}Short"]]]
    return frozenset(_ascii_key(str(word)) for words in names for word in words)


# --- the 2025 units, from vietnam-provinces ------------------------------------------------------------------


def _current(lib: _Library, province_key: str, ward_key: str) -> tuple[Province, Ward]:
    """The `vietnam-provinces` units for a 2025 ward of the library, matched by province code and ward name.

    The library's 2025 ward codes differ from `vietnam-provinces` for about 120 of 3,321 wards (a few even name
    another ward), while names agree for all of them: so the name decides and the code is taken from here.
    """
    province_record = lib.new_provinces[province_key]
    ward_record = next(
        (table[province_key][ward_key] for table in lib.new_wards if ward_key in table.get(province_key, {})), None
    )
    try:
        province = Province.from_code(ProvinceCode(int(province_record["provinceCode"])))
    except ValueError:
        raise UnknownUnit(
            "legacy_address.province", f"{province_record['province']} is not a province in vietnam-provinces"
        ) from None
    ward = _wards_by_name().get((int(province.code), _name_key(str(ward_record["ward"])))) if ward_record else None
    if ward is None:
        raise UnknownUnit(
            "legacy_address.ward", f"2025 ward {ward_key!r} of {province.name} is not in vietnam-provinces"
        )
    return province, ward


def _ward_choice(lib: _Library, province_key: str, ward_key: str) -> WardChoice:
    _, ward = _current(lib, province_key, ward_key)
    return WardChoice(ward_code=_ward_code(ward), ward_name=ward.name)


@cache
def _wards_by_name() -> dict[tuple[int, str], Ward]:
    return {(int(ward.province_code), _name_key(ward.name)): ward for ward in Ward.iter_all()}


def _ward_code(ward: Ward) -> str:
    return f"{int(ward.code):05d}"


# --- names ---------------------------------------------------------------------------------------------------

_TONES = frozenset("\u0300\u0301\u0303\u0309\u0323")  # huyền, sắc, ngã, hỏi, nặng
_WORD = re.compile(r"[^\W_][\w\u0300-\u036f]*")
# Leading unit types as people write them; only used to find the unit, never to decide `exact`.
_TYPES = (
    ("thanh", "pho"), ("thi", "xa"), ("thi", "tran"), ("tinh",), ("quan",), ("huyen",), ("phuong",), ("xa",),
    ("tp",), ("tx",), ("tt",), ("q",), ("h",), ("p",), ("x",),
)  # fmt: skip
# Tỉnh Thừa Thiên Huế became Thành phố Huế on 1/1/2025; the library knows it only by the new name.
_FORMER_PROVINCES = {"thanhphohue": frozenset({"thuathienhue"})}
_ABBREVIATIONS = {"tp": "thành phố", "tx": "thị xã", "tt": "thị trấn", "q": "quận", "h": "huyện", "p": "phường"}


def _tokens(text: str) -> list[str]:
    """Lower-case ASCII words, accents dropped: "TP. Hồ Chí Minh" -> ["tp", "ho", "chi", "minh"]."""
    decomposed = unicodedata.normalize("NFD", text.lower()).replace("đ", "d")
    return re.findall(r"[a-z0-9]+", "".join(ch for ch in decomposed if not unicodedata.combining(ch)))


def _ascii_key(text: str) -> str:
    """The library's keyword form: "Bà Rịa - Vũng Tàu" -> "bariavungtau"."""
    return "".join(_tokens(text))


def _whole(text: str, keywords: frozenset[str]) -> bool:
    """True when the whole of `text` (perhaps after a unit type such as "Phường" or "TP.") is one of the keywords."""
    tokens = _tokens(text)
    forms = {"".join(tokens)}
    forms |= {"".join(tokens[len(t) :]) for t in _TYPES if tokens[: len(t)] == list(t) and len(tokens) > len(t)}
    return bool(forms & keywords)


def _name_key(text: str) -> str:
    """Words with their accents, the tone mark moved to the end of each word: "Thuận Hoà" == "Thuận Hòa"."""
    words = []
    for word in _WORD.findall(unicodedata.normalize("NFD", text.lower())):
        tones = "".join(ch for ch in word if ch in _TONES)
        words.append(unicodedata.normalize("NFC", "".join(ch for ch in word if ch not in _TONES)) + tones)
    return " ".join(words)


def _loose(given: str, full: str, short: str) -> bool:
    """False when `given` is the unit's name: full, short, or with the type abbreviated ("TP Hà Nội")."""
    key = _name_key(given)
    first, _, rest = key.partition(" ")
    expanded = f"{_name_key(_ABBREVIATIONS[first])} {rest}" if first in _ABBREVIATIONS and rest else key
    return _name_key(full) not in (key, expanded) and _name_key(short) != key
