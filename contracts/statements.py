"""Courier COD and fee statements (bảng kê đối soát): their columns, and their reconciliation with our
money record.

Each courier exports its statement with its own column titles. The reference (couriers-vn.md) gives no
statement layout, so the titles below are the ones the couriers' customer portals use as far as we
know (VERIFY with each courier's real export); any of them can be named per import instead
(`columns=`). Titles match without case, accents or punctuation ("Mã đơn GHN" = "ma don ghn"), and
the header row may follow a few title rows.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Literal

from contracts.base import Record

Column = Literal["tracking_code", "reference", "cod", "fee"]
COLUMNS: tuple[Column, ...] = ("tracking_code", "reference", "cod", "fee")

# courier -> column -> titles (folded). The first title found in the header row wins.
TITLES: dict[str, dict[Column, tuple[str, ...]]] = {
    "ghn": {
        "tracking_code": ("ma don ghn", "ma van don", "ma don hang", "order code"),
        "reference": ("ma don khach hang", "ma don kh", "ma don shop", "client order code"),
        "cod": ("tien thu ho", "thu ho", "cod", "cod amount"),
        "fee": ("tong phi", "phi dich vu", "cuoc phi", "phi van chuyen", "total fee"),
    },
    "ghtk": {
        "tracking_code": ("ma don ghtk", "ma van don", "ma don hang", "label"),
        "reference": ("ma don shop", "ma don khach hang", "ma don noi bo", "partner id"),
        "cod": ("tien thu ho", "tien cod", "thu ho", "pick money"),
        "fee": ("phi ship", "tong phi", "phi dich vu", "phi giao hang", "fee"),
    },
    "viettelpost": {
        "tracking_code": ("ma van don", "so van don", "ma phieu gui", "order number"),
        "reference": ("ma don hang", "ma don khach hang", "ma tham chieu", "order reference"),
        "cod": ("tien thu ho", "tien cod", "money collection", "cod"),
        "fee": ("tong cuoc", "tong tien cuoc", "cuoc phi", "phi van chuyen", "money total"),
    },
    "vnpost": {
        "tracking_code": ("so hieu buu gui", "ma buu gui", "ma van don", "item code"),
        "reference": ("ma don hang", "ma don khach hang", "ma tham chieu", "sale order code"),
        "cod": ("tien thu ho", "so tien cod", "tien cod", "cod"),
        "fee": ("tong cuoc", "cuoc phi", "cuoc", "phi van chuyen", "total fee"),
    },
}
HEADER_SEARCH_ROWS = 20  # a header row further down is not looked for


def fold(title: object) -> str:
    """A column title without case, accents or punctuation: "Mã đơn GHN (*)" -> "ma don ghn"."""
    text = unicodedata.normalize("NFD", str(title or "")).replace("đ", "d").replace("Đ", "D")
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower()
    return " ".join(re.sub(r"[^a-z0-9]+", " ", text).split())


class StatementError(ValueError):
    """The file cannot be read as this courier's statement; the message says why, for the clerk."""


class Line(Record, frozen=True, kw_only=True):
    row: int  # 1-based, as a spreadsheet shows it
    tracking_code: str | None
    reference: str | None
    cod: int | None
    fee: int | None


_AMOUNT = re.compile(r"(-?)(\d{1,3}(?:([.,])\d{3})(?:\3\d{3})*|\d+)(?:[.,](\d{1,2}))?")
_CURRENCY = re.compile(r"\s|vnd|vnđ|đ|₫", re.IGNORECASE)


def amount(cell: object) -> int | None:
    """A VND amount as exports write it: 30000, 30000.0, "30.000", "30,000 đ", "22000.0", "1.234.567,00",
    "-5.500"; None if empty. A dot or comma before three digits groups thousands; before one or two,
    it is a decimal point (VND has no cents: rounded)."""
    if cell is None or cell == "":
        return None
    if isinstance(cell, bool):
        raise StatementError(f"{cell!r} is not an amount")
    if isinstance(cell, int | float):
        if not abs(cell) < 1e15:  # also NaN and infinities
            raise StatementError(f"{cell!r} is not an amount")
        return round(cell)
    text = _CURRENCY.sub("", str(cell))
    if not text:
        return None
    match = _AMOUNT.fullmatch(text) if len(text) <= 24 else None  # no VND amount has more digits
    if match is None:
        raise StatementError(f"{str(cell).strip()!r} is not an amount")
    sign, whole, _separator, cents = match.groups()
    value = round(int(re.sub(r"[.,]", "", whole)) + (int(cents.ljust(2, "0")) / 100 if cents else 0))
    return -value if sign else value


def _code(cell: object) -> str | None:
    if cell is None:
        return None
    if isinstance(cell, float) and cell.is_integer():
        cell = int(cell)  # a spreadsheet that took a numeric code for a number
    text = str(cell).strip()
    return text or None


def _find(folded: list[str], titles: Sequence[str]) -> int | None:
    """The column titled as one of `titles`: exactly, else followed by more words ("tien thu ho cod")."""
    for title in titles:
        if title in folded:
            return folded.index(title)
    for title in titles:
        for index, name in enumerate(folded):
            if name.startswith(title + " "):
                return index
    return None


def read_lines(
    courier: str, rows: Iterable[Sequence[object]], columns: Mapping[Column, str] | None = None
) -> tuple[list[Line], dict[Column, str]]:
    """The statement's lines, found under its header row by the courier's titles (or `columns`), and
    the title of each column found (a statement may carry fees only, or COD only)."""
    titles = {c: ((fold(columns[c]),) if columns and c in columns else TITLES[courier][c]) for c in COLUMNS}
    table = [list(row) for row in rows]
    for number, header in enumerate(table[:HEADER_SEARCH_ROWS]):
        folded = [fold(cell) for cell in header]
        where = {c: _find(folded, titles[c]) for c in COLUMNS}
        if where["tracking_code"] is not None or where["reference"] is not None:
            header_row = number
            break
    else:
        wanted = " or ".join(f"{t!r}" for t in (*titles["tracking_code"][:1], *titles["reference"][:1]))
        raise StatementError(
            f"no header row with a tracking code or reference column ({wanted}) in the first "
            f"{HEADER_SEARCH_ROWS} rows; name the columns if this export titles them otherwise"
        )
    if where["cod"] is None and where["fee"] is None:
        raise StatementError("the header row has neither a COD nor a fee column; name them if titled otherwise")
    found = {c: str(header[i]).strip() for c in COLUMNS if (i := where[c]) is not None}

    def cell(row: list[object], column: Column) -> object:
        index = where[column]
        return row[index] if index is not None and index < len(row) else None

    lines = []
    for offset, row in enumerate(table[header_row + 1 :], start=header_row + 2):
        tracking, reference = _code(cell(row, "tracking_code")), _code(cell(row, "reference"))
        if tracking is None and reference is None:
            continue  # a blank line or a totals line at the bottom
        try:
            cod, fee = amount(cell(row, "cod")), amount(cell(row, "fee"))
        except StatementError as error:
            raise StatementError(f"row {offset}: {error}") from None
        lines.append(Line(row=offset, tracking_code=tracking, reference=reference, cod=cod, fee=fee))
    return lines, found


# -- reconciliation -------------------------------------------------------------------------------------
Problem = Literal["cod_differs", "fee_differs", "unknown_order", "codes_disagree", "duplicate_line", "not_in_statement"]


class Ours(Record, frozen=True, kw_only=True):
    """What our money record says the courier owes or charged for one order."""

    order_id: str
    tracking_code: str | None
    cod: int  # what the courier should have collected and owes the centre (0 unless a result was delivered)
    fee: int | None  # the fee as the courier last reported it
    ended_on: date | None  # the day the order was delivered or returned (Hà Nội time)


class Mismatch(Record, frozen=True, kw_only=True):
    problem: Problem
    row: int | None = None  # the statement's row; None for an order the statement lacks
    order_id: str | None = None
    tracking_code: str | None = None
    statement: int | None = None  # the statement's amount (for cod_differs, fee_differs)
    ours: int | None = None  # our amount
    note: str = ""


class Summary(Record, frozen=True, kw_only=True):
    lines: int
    matched: int
    mismatches: dict[str, int]
    statement_cod: int
    statement_fee: int
    our_cod: int  # over the lines matched to our orders that give a COD, first line of each
    our_fee: int
    cod_difference: int  # statement - ours, over the matched lines
    fee_difference: int


class StatementHead(Record, frozen=True, kw_only=True):
    """A statement without its lines and mismatches: what a list shows."""

    id: str
    courier: str
    filename: str
    imported_at: datetime
    period_start: date | None
    period_end: date | None
    summary: Summary


class Statement(Record, frozen=True, kw_only=True):
    id: str
    centre: str
    courier: str
    filename: str
    imported_at: datetime
    period_start: date | None
    period_end: date | None
    columns: dict[str, str]  # which of the file's columns were read as tracking_code, reference, cod, fee
    summary: Summary
    mismatches: tuple[Mismatch, ...]
    lines: tuple[Line, ...]


def reconcile_statement(
    lines: Sequence[Line],
    find: Mapping[str, str],
    ours: Mapping[str, Ours],
    expected: Iterable[str] = (),
) -> tuple[Summary, tuple[Mismatch, ...]]:
    """Match lines to orders and list every difference.

    `find` maps tracking codes and references to order ids; `ours` has our figures per order id;
    `expected` are the orders the statement should list (delivered or returned in its period): those
    it lacks are `not_in_statement`. A line whose codes are not ours is `unknown_order`; a second line
    for one order is `duplicate_line` (its amounts are not counted again).
    """
    found: list[Mismatch] = []
    seen: dict[str, int] = {}
    statement_cod = statement_fee = our_cod = our_fee = 0
    matched_cod = matched_fee = 0
    for line in lines:
        statement_cod += line.cod or 0
        statement_fee += line.fee or 0
        by_code = find.get(line.tracking_code) if line.tracking_code else None
        by_ref = find.get(line.reference) if line.reference else None
        code = line.tracking_code or line.reference
        if by_code and by_ref and by_code != by_ref:
            note = f"tracking code is {by_code}, reference is {by_ref}"
            found.append(Mismatch(problem="codes_disagree", row=line.row, tracking_code=code, note=note))
            continue
        order_id = by_code or by_ref
        if order_id is None or order_id not in ours:
            found.append(Mismatch(problem="unknown_order", row=line.row, tracking_code=code))
            continue
        mine = ours[order_id]
        if order_id in seen:
            note = f"order already on row {seen[order_id]}"
            found.append(
                Mismatch(problem="duplicate_line", row=line.row, order_id=order_id, tracking_code=code, note=note)
            )
            continue
        seen[order_id] = line.row
        if line.cod is not None:
            our_cod += mine.cod
            matched_cod += line.cod
        if line.cod is not None and line.cod != mine.cod:
            found.append(
                Mismatch(problem="cod_differs", row=line.row, order_id=order_id, tracking_code=mine.tracking_code,
                         statement=line.cod, ours=mine.cod)
            )  # fmt: skip
        if line.fee is not None:
            our_fee += mine.fee or 0
            matched_fee += line.fee
            if line.fee != mine.fee:
                note = "" if mine.fee is not None else "the courier never reported a fee for it"
                found.append(
                    Mismatch(problem="fee_differs", row=line.row, order_id=order_id, tracking_code=mine.tracking_code,
                             statement=line.fee, ours=mine.fee, note=note)
                )  # fmt: skip
    for order_id in sorted(set(expected) - set(seen)):
        mine = ours[order_id]
        found.append(
            Mismatch(problem="not_in_statement", order_id=order_id, tracking_code=mine.tracking_code, ours=mine.cod,
                     note=f"ended {mine.ended_on}" if mine.ended_on else "")
        )  # fmt: skip
    counts: dict[str, int] = {}
    for mismatch in found:
        counts[mismatch.problem] = counts.get(mismatch.problem, 0) + 1
    summary = Summary(
        lines=len(lines),
        matched=len(seen),
        mismatches=counts,
        statement_cod=statement_cod,
        statement_fee=statement_fee,
        our_cod=our_cod,
        our_fee=our_fee,
        cod_difference=matched_cod - our_cod,
        fee_difference=matched_fee - our_fee,
    )
    return summary, tuple(found)
