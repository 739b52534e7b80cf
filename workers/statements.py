"""Import a courier statement (CSV or XLSX), reconcile it with the centre's orders, keep the result."""

from __future__ import annotations

import csv
import io
import os
import re
import unicodedata
from collections.abc import Iterator, Mapping
from datetime import date, datetime, timedelta

import msgspec
from openpyxl import load_workbook

from contracts.calendar import VIETNAM_TZ
from contracts.events import Event
from contracts.money import money_record
from contracts.orders import Order, cod_expected
from contracts.statements import (
    Column,
    Line,
    Ours,
    Statement,
    StatementError,
    StatementHead,
    read_lines,
    reconcile_statement,
)
from contracts.statuses import Status
from workers import audit, keys
from workers.store import Store

_ENCODE = msgspec.json.Encoder().encode
_STATEMENT = msgspec.json.Decoder(Statement)
_HEAD = msgspec.json.Decoder(StatementHead)
_ENDED = (Status.DELIVERED, Status.RETURNED)  # journeys a statement settles
ORDER_ID = re.compile(r"^o[0-9A-Za-z]{2,40}$")  # our references: order ids (never a key separator)
LOOKBACK = timedelta(days=120)  # orders created this long before a period may still end in it


class UnknownStatement(LookupError):
    pass


def _decode(content: bytes) -> str:
    encoding = "utf-16" if content[:2] in (b"\xff\xfe", b"\xfe\xff") else "utf-8-sig"  # UTF-16 only by its BOM
    try:
        return content.decode(encoding)
    except UnicodeDecodeError:
        pass
    try:
        # Old Vietnamese Windows exports: tone marks as combining characters, composed here.
        return unicodedata.normalize("NFC", content.decode("cp1258"))
    except UnicodeDecodeError:
        raise StatementError("the file is neither XLSX nor text in UTF-8, UTF-16 or Windows-1258") from None


def _csv_rows(content: bytes) -> list[list[str]]:
    text = _decode(content)
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    rows = []
    try:
        for row in csv.reader(io.StringIO(text, newline=""), dialect):
            rows.append(row[:MAX_COLUMNS])
            if len(rows) > MAX_ROWS:
                raise StatementError(f"more than {MAX_ROWS} rows: split the statement")
    except csv.Error as error:
        raise StatementError(f"not a readable CSV file: {error}") from None
    return rows


MAX_ROWS = 50_000  # a month of a province's statements fits many times over
MAX_COLUMNS = 60


def _sheets(content: bytes) -> Iterator[list[tuple[object, ...]]]:
    try:
        book = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception as error:  # openpyxl raises many kinds for a broken file: all are the file's fault
        raise StatementError(f"not a readable XLSX file: {type(error).__name__}") from None
    try:
        for sheet in book.worksheets:
            # A sheet's declared size is not trusted: read-only mode would pad every row out to it.
            sheet.reset_dimensions()  # type: ignore[union-attr]
            rows = []
            try:
                for row in sheet.iter_rows(values_only=True, max_col=MAX_COLUMNS):
                    rows.append(row)
                    if len(rows) > MAX_ROWS:
                        raise StatementError(f"more than {MAX_ROWS} rows: split the statement")
            except StatementError:
                raise
            except Exception as error:
                raise StatementError(f"not a readable XLSX sheet: {type(error).__name__}") from None
            yield rows
    finally:
        book.close()


def lines_of(
    courier: str, content: bytes, columns: Mapping[Column, str] | None = None
) -> tuple[list[Line], dict[Column, str]]:
    """The lines of a CSV or XLSX statement (the first sheet that has the header row)."""
    if not content.strip():
        raise StatementError("the file is empty")
    if not content.startswith(b"PK\x03\x04"):
        return read_lines(courier, _csv_rows(content), columns)
    refused: StatementError | None = None
    for rows in _sheets(content):
        try:
            return read_lines(courier, rows, columns)
        except StatementError as error:
            refused = refused or error
    raise refused or StatementError("the workbook has no sheets")


def _ended(store: Store, events: list[Event]) -> date | None:
    timeline = store.timeline_of(events)
    applied = [entry.event for entry in timeline.entries if entry.applied]
    if timeline.status not in _ENDED or not applied:
        return None
    return applied[-1].event_time.astimezone(VIETNAM_TZ).date()


def _ours(order: Order, ended_on: date | None) -> Ours:
    delivered = order.status is Status.DELIVERED
    return Ours(
        order_id=order.id,
        tracking_code=order.tracking_code,
        cod=cod_expected(order) if delivered else 0,
        fee=money_record(order.charges, cod_expected(order)).fee,
        ended_on=ended_on,
    )


def import_statement(
    store: Store,
    *,
    centre: str,
    courier: str,
    content: bytes,
    filename: str,
    now: datetime,
    period: tuple[date, date] | None = None,
    columns: Mapping[Column, str] | None = None,
    by: str = "",
) -> Statement:
    """Read, match by tracking code and by our reference (this centre's orders at this courier only),
    list the mismatches with totals, and keep the result durably."""
    lines, found_columns = lines_of(courier, content, columns)
    codes = sorted({code for line in lines for code in (line.tracking_code, line.reference) if code})
    with store.client.pipeline(transaction=False) as pipe:
        for code in codes:
            pipe.get(keys.tracking(courier, code))
        by_tracking = {code: found.decode() for code, found in zip(codes, pipe.execute(), strict=True) if found}
    candidates = set(by_tracking.values()) | {c for c in codes if ORDER_ID.match(c)}  # a reference is our id
    expected_ids: list[str] = []
    if period is not None:
        start = datetime.combine(period[0], datetime.min.time(), VIETNAM_TZ) - LOOKBACK
        end = datetime.combine(period[1] + timedelta(days=1), datetime.min.time(), VIETNAM_TZ)
        created = store.client.zrangebyscore(keys.centre_orders(centre), start.timestamp(), end.timestamp())
        expected_ids = [m.decode() for m in created]
    loaded = store.load(sorted(candidates | set(expected_ids)))
    mine = {i: (o, e) for i, (o, e) in loaded.items() if o.centre == centre and o.courier == courier}
    ours = {i: _ours(order, _ended(store, events)) for i, (order, events) in mine.items()}
    find = {code: order_id for code, order_id in by_tracking.items() if order_id in ours}
    find.update({order_id: order_id for order_id in ours})
    expected = []
    if period is not None:
        expected = [i for i in expected_ids if i in ours and (d := ours[i].ended_on) and period[0] <= d <= period[1]]
    summary, mismatches = reconcile_statement(lines, find, ours, expected)
    statement = Statement(
        id=f"st{int(now.timestamp() * 1000):x}{os.urandom(4).hex()}",
        centre=centre,
        courier=courier,
        filename=filename,
        imported_at=now,
        period_start=period[0] if period else None,
        period_end=period[1] if period else None,
        columns=dict(found_columns),
        summary=summary,
        mismatches=mismatches,
        lines=tuple(lines),
    )
    head = StatementHead(
        id=statement.id,
        courier=courier,
        filename=filename,
        imported_at=now,
        period_start=statement.period_start,
        period_end=statement.period_end,
        summary=summary,
    )
    with store.client.pipeline() as pipe:
        pipe.set(keys.statement(centre, statement.id), _ENCODE(statement))
        pipe.hset(keys.statement_heads(centre), statement.id, _ENCODE(head))
        pipe.zadd(keys.statements(centre), {statement.id: now.timestamp()})
        audit.stage(pipe, "statement.imported", at=now, centre=centre, courier=courier, statement=statement.id,
                    lines=len(lines), mismatches=len(mismatches), by=by or centre)  # fmt: skip
        pipe.execute()
    store.make_durable()
    return statement


def get_statement(store: Store, centre: str, statement_id: str) -> Statement:
    raw = store.client.get(keys.statement(centre, statement_id))
    if raw is None:
        raise UnknownStatement(statement_id)
    return _STATEMENT.decode(raw)


def list_statements(store: Store, centre: str, limit: int = 50) -> list[StatementHead]:
    ids = [m.decode() for m in store.client.zrevrange(keys.statements(centre), 0, limit - 1)]
    raws = store.client.hmget(keys.statement_heads(centre), ids) if ids else []
    return [_HEAD.decode(raw) for raw in raws if raw is not None]
