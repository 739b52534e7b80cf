"""Addresses on the 2025 two-level administrative units, checked against the `vietnam-provinces` data."""

from __future__ import annotations

from vietnam_provinces import Province, ProvinceCode, Ward, WardCode

from contracts.base import Record
from contracts.errors import FieldError
from contracts.orders import Address


class UnknownUnit(FieldError):
    """An address code that is not a current (2025) unit; `field` names the offending field."""


class ResolvedAddress(Record, frozen=True, kw_only=True):
    street: str
    ward_name: str
    province_name: str


def resolve(address: Address) -> ResolvedAddress:
    """Names for the codes, or `UnknownUnit` naming the field that is wrong."""
    try:
        province = Province.from_code(ProvinceCode(int(address.province_code)))
    except ValueError:
        raise UnknownUnit(
            "address.province_code", f"{address.province_code!r} is not a province code of the 2025 units"
        ) from None
    try:
        ward = Ward.from_code(WardCode(int(address.ward_code)))
    except ValueError:
        raise UnknownUnit("address.ward_code", f"{address.ward_code!r} is not a ward code of the 2025 units") from None
    if ward.province_code != province.code:
        raise UnknownUnit(
            "address.ward_code", f"ward {address.ward_code!r} is not in province {address.province_code!r}"
        )
    return ResolvedAddress(street=address.street, ward_name=ward.name, province_name=province.name)
