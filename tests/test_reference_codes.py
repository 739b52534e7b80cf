"""Every code in the reference's tables is one our courier tables know, and they know no other.

The reference (couriers-vn.md) is not in the repository, so its code lists are snapshotted in
`fixtures/reference_codes.json`. Each code goes through the courier's `callback_updates` on a fixture
callback, as the wire tests do: a table that loses a code fails here, as does one that gains a code the
reference does not list.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl, urlencode

import msgspec
import pytest

from contracts.couriers import ghn, ghtk, ghtk_codes, viettelpost_codes, vnpost, vnpost_codes
from contracts.couriers import viettelpost as vtp
from contracts.statuses import Status
from tests.conftest import FIXTURES, fixture

REFERENCE: dict[str, Any] = json.loads((FIXTURES / "reference_codes.json").read_bytes())

# Codes the reference lists that we deliberately leave without a canonical status, and why. An update
# with one of them carries status None: recorded and alerted on, never guessed.
UNMAPPED: dict[str, dict[str, str]] = {
    "viettelpost": {
        "570": "§4.8 and §9.4: seen in one mapping, never explained, treat as unknown (§8's 'exception' is a guess)",
        "-110": "'being handed over via a post office': §8 proposes no canonical state for it",
    },
    "vnpost": {
        # §5.1 names the range only ("international stages EMA…EMK"); we ship domestically.
        **{str(code): "international stage, not described one by one" for code in range(101, 112)},
    },
}
# Codes the reference lists that are money, not a status (§8 "separate track"): no timeline event.
MONEY_ONLY: dict[str, dict[str, str]] = {
    "vnpost": {"21": "COD paid out", "28": "shipping fee paid", "29": "cancellation fee paid"},
}
# (courier, table) -> codes our tables hold that the reference lacks, each with why. None today.
ADDITIONS: dict[tuple[str, str], dict[str, str]] = {}


def _reference(courier: str, table: str) -> dict[str, str | None]:
    codes: dict[str, str | None] = REFERENCE[courier][table]
    return codes


def _cases(courier: str, table: str) -> list[Any]:
    return [pytest.param(code, id=code) for code in _reference(courier, table)]


def _no_additions(courier: str, table: str, ours: set[str]) -> None:
    extra = ours - set(_reference(courier, table)) - set(ADDITIONS.get((courier, table), {}))
    assert not extra, f"{courier} {table}: codes the reference does not list: {sorted(extra)}"


def test_snapshot_names_its_source() -> None:
    assert REFERENCE["source"] == "couriers-vn.md as of 2026-11-22"


# -- GHN --------------------------------------------------------------------------------------------
def _ghn(**fields: str) -> list[Any]:
    payload = msgspec.json.decode(fixture("ghn", "callback_delivery_fail.json"))
    payload.update({"Type": "switch_status", "Reason": "", "ReasonCode": "", **fields})
    return ghn.callback_updates(msgspec.json.encode(payload))


@pytest.mark.parametrize("code", _cases("ghn", "status"))
def test_every_ghn_status_in_the_reference_maps(code: str) -> None:
    [update] = _ghn(Status=code)
    assert update.status is not None
    assert update.status is ghn.STATUS[code]


# Each reason table with the status GHN sends it beside and what that pair maps to.
GHN_REASONS = {
    "pickup_failure_reason": (ghn.PICKUP_FAILURE_REASONS, "picking", Status.PICKUP_FAILED),
    "delivery_failure_reason": (ghn.DELIVERY_FAILURE_REASONS, "delivery_fail", Status.DELIVERY_FAILED),
    "return_failure_reason": (ghn.RETURN_FAILURE_REASONS, "return_fail", Status.RETURNING),
}


@pytest.mark.parametrize(
    ("table", "code"), [pytest.param(t, c, id=f"{t}-{c}") for t in GHN_REASONS for c in _reference("ghn", t)]
)
def test_every_ghn_reason_in_the_reference_is_named_from_its_table(table: str, code: str) -> None:
    reasons, status, expected = GHN_REASONS[table]
    [update] = _ghn(Status=status, ReasonCode=code)
    assert update.reason is not None
    assert (update.reason_code, update.reason, update.status) == (code, reasons[code], expected)


def test_ghn_tables_hold_no_code_the_reference_lacks() -> None:
    _no_additions("ghn", "status", set(ghn.STATUS) | set(ghn.STATUS_TEXT))
    for table, (reasons, _status, _expected) in GHN_REASONS.items():
        _no_additions("ghn", table, set(reasons))


# -- GHTK -------------------------------------------------------------------------------------------
def _ghtk(**fields: str) -> list[Any]:
    base = dict(parse_qsl(fixture("ghtk", "callback_delivered.txt").decode(), keep_blank_values=True))
    return ghtk.callback_updates(urlencode({**base, "reason_code": "", "reason": "", **fields}).encode())


@pytest.mark.parametrize("code", _cases("ghtk", "status_id"))
def test_every_ghtk_status_id_in_the_reference_maps(code: str) -> None:
    [update] = _ghtk(status_id=code)
    assert update.status is not None
    assert update.status is ghtk_codes.STATUS[int(code)]


# Each reason group with a status_id it comes beside (the lookup does not depend on it).
GHTK_REASONS = {
    "pickup_delay_reason": (ghtk_codes.PICKUP_DELAY_REASONS, "8"),
    "pickup_failure_reason": (ghtk_codes.PICKUP_FAILURE_REASONS, "7"),
    "delivery_delay_reason": (ghtk_codes.DELIVERY_DELAY_REASONS, "10"),
    "delivery_failure_reason": (ghtk_codes.DELIVERY_FAILURE_REASONS, "9"),
    "return_delay_reason": (ghtk_codes.RETURN_DELAY_REASONS, "20"),
}


@pytest.mark.parametrize(
    ("table", "code"), [pytest.param(t, c, id=f"{t}-{c}") for t in GHTK_REASONS for c in _reference("ghtk", t)]
)
def test_every_ghtk_reason_in_the_reference_is_named_from_its_table(table: str, code: str) -> None:
    reasons, status_id = GHTK_REASONS[table]
    [update] = _ghtk(status_id=status_id, reason_code=code)
    assert update.reason is not None
    assert (update.reason_code, update.reason) == (code, reasons[code])


def test_ghtk_tables_hold_no_code_the_reference_lacks() -> None:
    ours = set(ghtk_codes.STATUS) | set(ghtk_codes.STATUS_TEXT) | ghtk_codes.REPORTS | ghtk_codes.CANCELLABLE
    _no_additions("ghtk", "status_id", {str(code) for code in ours})
    for table, (reasons, _status_id) in GHTK_REASONS.items():
        _no_additions("ghtk", table, set(reasons))
    grouped = {code for reasons, _status_id in GHTK_REASONS.values() for code in reasons}
    assert set(ghtk_codes.REASON) == grouped  # the lookup table is exactly the groups


# -- Viettel Post -----------------------------------------------------------------------------------
def _vtp(**data: object) -> list[Any]:
    payload = msgspec.json.decode(fixture("viettelpost", "callback_delivery_failed.json"))
    payload["DATA"].update({"STATUS_NAME": "", "REASON_CODE": None, "NOTE": "", **data})
    return vtp.callback_updates(msgspec.json.encode(payload))


@pytest.mark.parametrize("code", _cases("viettelpost", "order_status"))
def test_every_vtp_order_status_in_the_reference_maps_or_is_deliberately_unmapped(code: str) -> None:
    [update] = _vtp(ORDER_STATUS=int(code))
    if code in UNMAPPED["viettelpost"]:
        assert update.status is None
        assert viettelpost_codes.STATUS.get(int(code)) is None
    else:
        assert update.status is not None
        assert update.status is viettelpost_codes.STATUS[int(code)]


@pytest.mark.parametrize("code", _cases("viettelpost", "reason_code"))
def test_every_vtp_reason_in_the_reference_is_named_from_its_table(code: str) -> None:
    [update] = _vtp(ORDER_STATUS=506, REASON_CODE=int(code))
    assert update.reason is not None
    assert (update.reason_code, update.reason) == (code, viettelpost_codes.REASON[code])


def test_vtp_tables_hold_no_code_the_reference_lacks() -> None:
    ours = set(viettelpost_codes.STATUS) | set(viettelpost_codes.STATUS_TEXT) | viettelpost_codes.FINAL
    _no_additions("viettelpost", "order_status", {str(code) for code in ours})
    _no_additions("viettelpost", "reason_code", set(viettelpost_codes.REASON))


# -- MyVNPost ---------------------------------------------------------------------------------------
def _vnpost(status: str) -> list[Any]:
    payload = msgspec.json.decode(fixture("vnpost", "callback_delivered.json"))
    payload["data"][0]["status"] = status
    return vnpost.callback_updates(msgspec.json.encode(payload))


@pytest.mark.parametrize("code", _cases("vnpost", "status"))
def test_every_vnpost_status_in_the_reference_maps_or_is_money_or_deliberately_unmapped(code: str) -> None:
    [update] = _vnpost(code)
    if code in UNMAPPED["vnpost"]:
        assert (update.status, update.reports_status) == (None, True)
        assert code in vnpost_codes.INTERNATIONAL
    elif code in MONEY_ONLY["vnpost"]:
        assert (update.status, update.reports_status) == (None, False)
        assert code in vnpost_codes.MONEY
    else:
        assert update.status is not None
        assert update.status is vnpost_codes.STATUS[code]


def test_vnpost_tables_hold_no_code_the_reference_lacks() -> None:
    ours = set(vnpost_codes.STATUS) | set(vnpost_codes.MONEY) | vnpost_codes.INTERNATIONAL
    _no_additions("vnpost", "status", ours | set(vnpost_codes.STATUS_TEXT))
    # The reference has no MyVNPost reason table (§5.1), so every reason code would be an addition.
    assert set(vnpost_codes.REASON) <= set(ADDITIONS.get(("vnpost", "reason"), {}))
