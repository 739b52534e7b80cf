"""An order's money record: what the courier quoted, charged, weighed and collected, change by change.

Couriers change fees, weights and COD after booking (couriers-vn.md §9.16-17: GHN `update_fee`,
`update_weight`, `update_cod`; GHTK `fee`, `weight`, `pick_money`; Viettel Post `MONEY_*`); a statement
is reconciled against this record later (issue 8). Facts are kept as reported, with their time and
source; the current value of each is the latest by the courier's own time, whatever the arrival order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Literal

from contracts.base import Record

ChargeField = Literal["fee", "cod", "weight_grams", "cod_paid", "fee_paid"]
_PAYOUTS: frozenset[str] = frozenset({"cod_paid", "fee_paid"})


class Charge(Record, frozen=True, kw_only=True):
    """One money fact a courier reported: `fee` and `cod` in VND, `weight_grams` the chargeable weight;
    `cod_paid` / `fee_paid` say the courier paid the collected money out (amount when it says)."""

    field: ChargeField
    amount: int | None
    at: datetime  # the courier's time for it
    source: str  # where it came from: "booking", GHN "update_fee", GHTK "status 6", VNPost "21"...


class MoneyRecord(Record, frozen=True, kw_only=True):
    """What the API shows: the current figures and every change behind them."""

    quoted_fee: int | None = None  # the courier's fee when it accepted the booking
    fee: int | None = None  # the fee as the courier now states it (final once delivered)
    cod_expected: int = 0  # what we asked the courier to collect (the agency fee, lệ phí)
    cod: int | None = None  # what the courier says it collects
    cod_mismatch: bool = False  # the courier collects another amount than we asked (GHN updateCOD)
    weight_grams: int | None = None
    cod_paid_at: datetime | None = None
    fee_paid_at: datetime | None = None
    history: tuple[Charge, ...] = ()


def reported(amounts: Mapping[ChargeField, int | None], at: datetime, source: str) -> tuple[Charge, ...]:
    """Charges for the amounts a message carried; None means the message did not say (payouts excepted)."""
    return tuple(
        Charge(field=field, amount=amount, at=at, source=source)
        for field, amount in amounts.items()
        if amount is not None or field in _PAYOUTS
    )


def merge(kept: Iterable[Charge], reported: Iterable[Charge]) -> tuple[Charge, ...]:
    """The record with `reported` added, in the courier's time order, keeping the changes.

    A report that repeats the value before it adds nothing (couriers repeat fee and weight in every
    callback), except that the latest report of each field is always kept: the current value is right
    whatever the arrival order. A late report between two equal ones can hide a return to an earlier
    value in the history; payouts are kept once, the first time.
    """
    facts = sorted(set(kept) | set(reported), key=lambda c: (c.at, c.field, c.source, c.amount or 0))
    last = {charge.field: charge for charge in facts}
    history: list[Charge] = []
    current: dict[str, int | None] = {}
    for charge in facts:
        seen = charge.field in current
        if charge.field in _PAYOUTS:
            if not seen:
                history.append(charge)
                current[charge.field] = charge.amount
            continue
        if seen and current[charge.field] == charge.amount and last[charge.field] is not charge:
            continue
        current[charge.field] = charge.amount
        history.append(charge)
    return tuple(history)


def money_record(history: tuple[Charge, ...], cod_expected: int) -> MoneyRecord:
    latest: dict[str, Charge] = {}
    for charge in history:  # already in time order: the last one of each field is the current one
        latest[charge.field] = charge
    quoted = next((c.amount for c in history if c.field == "fee" and c.source == "booking"), None)
    cod = latest["cod"].amount if "cod" in latest else None
    return MoneyRecord(
        quoted_fee=quoted,
        fee=latest["fee"].amount if "fee" in latest else None,
        cod_expected=cod_expected,
        cod=cod,
        cod_mismatch=cod is not None and cod != cod_expected,
        weight_grams=latest["weight_grams"].amount if "weight_grams" in latest else None,
        cod_paid_at=latest["cod_paid"].at if "cod_paid" in latest else None,
        fee_paid_at=latest["fee_paid"].at if "fee_paid" in latest else None,
        history=history,
    )
