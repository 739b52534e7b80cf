"""Courier statements: each courier's own columns, CSV or XLSX, matched by tracking code and reference;
a statement with planted mismatches reports exactly those, with totals."""

from __future__ import annotations

import csv
import io
import os
import re
import subprocess
import sys
import unicodedata
import zipfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest
from litestar.testing import TestClient
from openpyxl import Workbook, load_workbook

from contracts.calendar import VIETNAM_TZ
from contracts.config import dev_config
from contracts.events import Event
from contracts.intake import prepare
from contracts.money import Charge
from contracts.orders import Order, OrderCreate
from contracts.settings import Settings
from contracts.statements import StatementError, amount, fold, read_lines
from contracts.statuses import Status
from tests.conftest import order_body
from workers.context import Context
from workers.embedded import EmbeddedStore

Client = TestClient  # type: ignore[type-arg]
CENTRE = dev_config(Settings()).centres["DEMO"]
ROOT = Path(__file__).parent.parent
NOV = datetime(2026, 11, 10, 2, 0, tzinfo=UTC)
# Each courier's statement titles, as its export writes them (with a title row or two above).
HEADERS = {
    "ghn": ["STT", "Mã đơn GHN", "Mã đơn khách hàng", "Ngày giao", "Tiền thu hộ (COD)", "Tổng phí"],
    "ghtk": ["STT", "Mã đơn GHTK", "Mã đơn shop", "Trạng thái", "Tiền thu hộ", "Phí ship"],
    "viettelpost": ["STT", "Mã vận đơn", "Mã đơn hàng", "Ngày phát", "Tiền thu hộ", "Tổng cước"],
    "vnpost": ["STT", "Số hiệu bưu gửi", "Mã đơn hàng", "Ngày phát", "Tiền thu hộ", "Tổng cước"],
}


def _order(n: int, courier: str, kind: str = "delivery", centre_code: str = "DEMO") -> Order:
    centre = msgspec.structs.replace(CENTRE, code=centre_code)
    fee = 50_000 if kind == "delivery" else 0
    body = order_body(kind=kind, courier=courier, dossier_code=f"S-{n}", payment={"agency_fee": fee})
    prefix = "o01S" if centre_code == "DEMO" else "o01Z"
    [order] = prepare(msgspec.convert(body, OrderCreate), centre=centre, new_id=lambda _p: f"{prefix}{n:05d}", now=NOV)
    return order


def _journey(ctx: Context, order: Order, tracking: str, end: Status, when: datetime) -> None:
    ctx.store.create_orders([order], due_at=0, enqueue=lambda _pipe, _id: None)

    def event(status: Status, at: datetime) -> Event:
        local = at.astimezone(VIETNAM_TZ)
        return Event(key=f"{tracking}|{status}", status=status, courier=order.courier, raw_status=status.value,
                     event_time=local, received_at=local, tracking_code=tracking)  # fmt: skip

    charges = [Charge(field="fee", amount=22_000, at=when - timedelta(days=2), source="booking")]
    if order.kind == "delivery":
        charges.append(Charge(field="cod", amount=50_000, at=when - timedelta(days=2), source="create"))
    path = [Status.BOOKED, Status.PICKED_UP, *([] if end is Status.DELIVERED else [Status.RETURNING]), end]
    events = [event(status, when - timedelta(hours=len(path) - i)) for i, status in enumerate(path)]
    ctx.store.update_order(order.id, now=when, events=events, charges=charges, tracking_code=tracking)


def _world(ctx: Context, courier: str) -> dict[str, str]:
    """Delivered, returned and pickup orders at `courier`, one finished in October, one at another centre."""
    codes = {}
    for n in range(1, 9):
        codes[f"T{n}"] = f"{courier.upper()}T{n}"
        _journey(ctx, _order(n, courier), codes[f"T{n}"], Status.DELIVERED, NOV + timedelta(days=n))
    codes["returned"] = f"{courier.upper()}R9"
    _journey(ctx, _order(9, courier), codes["returned"], Status.RETURNED, NOV + timedelta(days=3))
    pickup = _order(10, courier, kind="pickup")
    _journey(ctx, pickup, f"{courier.upper()}P10", Status.DELIVERED, NOV + timedelta(days=4))
    codes["pickup_ref"] = pickup.id
    _journey(ctx, _order(11, courier), f"{courier.upper()}OCT", Status.DELIVERED, datetime(2026, 10, 20, tzinfo=UTC))
    codes["other_centre"] = f"{courier.upper()}Z12"
    _journey(ctx, _order(12, courier, centre_code="OTHER"), codes["other_centre"], Status.DELIVERED, NOV)
    return codes


def _statement_rows(courier: str, codes: dict[str, str]) -> list[list[Any]]:
    """Right lines, and planted: T7's COD short, T5's fee higher, T3 twice, one unknown code, one
    order of another centre, T8 missing."""
    lines: list[tuple[str, str, int, Any]] = [
        *((codes[f"T{n}"], "", 50_000, "22.000") for n in (1, 2, 3, 4, 6)),
        (codes["T5"], "", 50_000, "27.500 đ"),
        (codes["T7"], "", 40_000, 22000.0),
        (codes["T3"], "", 50_000, 22_000),
        (codes["returned"], "", 0, 22_000),
        ("", codes["pickup_ref"], 0, "22,000"),  # by our reference: the export lacked the tracking code
        (f"{courier.upper()}NOPE", "", 15_000, 22_000),
        (codes["other_centre"], "", 50_000, 22_000),
    ]
    rows: list[list[Any]] = [[f"BẢNG KÊ ĐỐI SOÁT {courier.upper()}"], ["Kỳ: 01/11/2026 - 30/11/2026"], HEADERS[courier]]
    rows += [[n, code, ref, "2026-11-20", cod, fee] for n, (code, ref, cod, fee) in enumerate(lines, start=1)]
    rows.append(["", "", "", "Tổng cộng", 999_999, 999_999])  # the totals line at the bottom is not a line
    return rows


def _as_csv(rows: list[list[Any]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return ("\ufeff" + buffer.getvalue()).encode()


def _as_xlsx(rows: list[list[Any]]) -> bytes:
    book = Workbook()
    book.active.title = "Tổng hợp"  # type: ignore[union-attr]
    book.active.append(["Tổng hợp phiên đối soát"])  # type: ignore[union-attr]
    sheet = book.create_sheet("Chi tiết")
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


@pytest.mark.parametrize("file_format", ["csv", "xlsx"])
@pytest.mark.parametrize("courier", ["ghn", "ghtk", "viettelpost", "vnpost"])
def test_planted_mismatches_are_reported_exactly(api: Client, ctx: Context, courier: str, file_format: str) -> None:
    codes = _world(ctx, courier)
    rows = _statement_rows(courier, codes)
    content = _as_csv(rows) if file_format == "csv" else _as_xlsx(rows)
    answer = api.post(
        f"/v1/statements?courier={courier}&filename=nov.{file_format}&period_start=2026-11-01&period_end=2026-11-30",
        content=content,
        headers={"content-type": "text/csv" if file_format == "csv" else "application/octet-stream"},
    )
    assert answer.status_code == 201, answer.text
    statement = answer.json()
    assert set(statement["columns"]) == {"tracking_code", "reference", "cod", "fee"}
    found = {(m["problem"], m["row"], m["tracking_code"], m["statement"], m["ours"]) for m in statement["mismatches"]}
    assert found == {
        ("fee_differs", 9, codes["T5"], 27_500, 22_000),
        ("cod_differs", 10, codes["T7"], 40_000, 50_000),
        ("duplicate_line", 11, codes["T3"], None, None),
        ("unknown_order", 14, f"{courier.upper()}NOPE", None, None),
        ("unknown_order", 15, codes["other_centre"], None, None),  # another centre's order is not ours to match
        ("not_in_statement", None, codes["T8"], None, 50_000),
    }
    summary = statement["summary"]
    assert summary["lines"] == 12 and summary["matched"] == 9
    assert summary["statement_cod"] == 50_000 * 8 + 40_000 + 15_000
    assert summary["our_cod"] == 50_000 * 7 and summary["cod_difference"] == -10_000
    assert summary["our_fee"] == 22_000 * 9 and summary["fee_difference"] == 5_500
    assert summary["mismatches"] == {
        "fee_differs": 1, "cod_differs": 1, "duplicate_line": 1, "unknown_order": 2, "not_in_statement": 1,
    }  # fmt: skip

    # Kept, listed and exportable.
    listed = api.get("/v1/statements").json()["statements"]
    assert [s["id"] for s in listed] == [statement["id"]] and listed[0]["summary"] == summary
    exported = api.get(f"/v1/statements/{statement['id']}?format=csv").content.decode("utf-8-sig")
    table = list(csv.reader(io.StringIO(exported)))
    assert table[1][0] == "problem" and len([r for r in table if r and r[0] == "duplicate_line"]) == 1
    book = load_workbook(io.BytesIO(api.get(f"/v1/statements/{statement['id']}?format=xlsx").content))
    assert book["Mismatches"].max_row == 7
    other = api.get(f"/v1/statements/{statement['id']}", headers={"Authorization": "Bearer test-key-other"})
    assert other.status_code == 404


def test_an_unreadable_statement_is_refused_with_the_reason(api: Client, ctx: Context) -> None:
    answer = api.post("/v1/statements?courier=ghn", content=b"a,b,c\n1,2,3\n", headers={"content-type": "text/csv"})
    assert answer.status_code == 422
    problem = answer.json()
    assert problem["invalid_params"][0]["name"] == "body" and "header row" in problem["detail"]
    broken = api.post("/v1/statements?courier=ghn", content=b"PK\x03\x04garbage", headers={"content-type": XLSX})
    assert broken.status_code == 422 and "XLSX" in broken.json()["detail"]
    rows = "Mã đơn GHN,Tiền thu hộ\nGHNT1,năm mươi nghìn\n".encode()
    bad_amount = api.post("/v1/statements?courier=ghn", content=rows, headers={"content-type": "text/csv"})
    assert bad_amount.status_code == 422 and "row 2" in bad_amount.json()["detail"]
    assert api.get("/v1/statements").json()["statements"] == []


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def test_named_columns_override_the_known_titles(api: Client, ctx: Context) -> None:
    codes = _world(ctx, "ghn")
    content = f"Vận đơn;Thu hộ KH;Cước\n{codes['T1']};50000;22000\n".encode()
    answer = api.post(
        "/v1/statements?courier=ghn&tracking_column=Vận đơn&cod_column=Thu hộ KH&fee_column=Cước",
        content=content,
        headers={"content-type": "text/csv"},
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["summary"]["matched"] == 1 and answer.json()["mismatches"] == []


def test_titles_and_amounts_read_as_exports_write_them() -> None:
    assert fold("Mã đơn GHN (*)") == "ma don ghn" and fold("  TỔNG   CƯỚC ") == "tong cuoc"
    written = ("30.000", "30,000 đ", 30000.0, "22000.0", "1.234.567,50", "-5.500 VNĐ", "", None)
    assert [amount(v) for v in written] == [30000, 30000, 30000, 22000, 1234568, -5500, None, None]
    with pytest.raises(StatementError):
        amount("30.0000")
    lines, columns = read_lines("vnpost", [["Số hiệu bưu gửi", "Tổng cước"], [123456789.0, "1.000"]])
    assert columns == {"tracking_code": "Số hiệu bưu gửi", "fee": "Tổng cước"}
    assert lines[0].tracking_code == "123456789" and lines[0].fee == 1000  # a number-typed code keeps its digits


def test_cli_imports_a_statement_against_the_running_store(
    embedded: EmbeddedStore, ctx: Context, tmp_path: Path
) -> None:
    codes = _world(ctx, "ghtk")
    path = tmp_path / "ghtk-nov.xlsx"
    path.write_bytes(_as_xlsx(_statement_rows("ghtk", codes)))
    result = subprocess.run(
        [sys.executable, "-m", "service.cli", "statements", "import", str(path), "--centre", "DEMO",
         "--courier", "ghtk", "--from", "2026-11-01", "--to", "2026-11-30"],
        capture_output=True, text=True, cwd=ROOT, env={**os.environ, "REDIS_URL": embedded.url}, check=True,
    )  # fmt: skip
    assert "12 lines, 9 matched" in result.stdout and "difference -10,000" in result.stdout
    assert f"not_in_statement  missing   {codes['T8']}" in result.stdout
    assert len(ctx.store.client.zrange("dd:statements:DEMO", 0, -1)) == 1
    assert (
        date(2026, 11, 30).isoformat()
        in ctx.store.client.get(
            f"dd:statement:DEMO:{ctx.store.client.zrange('dd:statements:DEMO', 0, -1)[0].decode()}"
        ).decode()
    )


def _windows_1258(text: str) -> bytes:
    """As Windows-1258 writes Vietnamese: letters like â, ư precomposed, tone marks as combining ones."""
    out = b""
    for char in text:
        parts = unicodedata.normalize("NFD", char)
        letter = parts[0] + "".join(m for m in parts[1:] if m in "\u0302\u0306\u031b")  # â ă ư...: one byte
        tones = "".join(m for m in parts[1:] if m not in "\u0302\u0306\u031b")  # tone marks: combining
        out += unicodedata.normalize("NFC", letter).encode("cp1258") + tones.encode("cp1258")
    return out


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "cp1258"])
def test_csv_in_the_encodings_vietnamese_exports_use(api: Client, ctx: Context, encoding: str) -> None:
    codes = _world(ctx, "viettelpost")
    text = f"Mã vận đơn\tTiền thu hộ\tTổng cước\r\n{codes['T1']}\t50.000\t22.000\r\n"
    content = _windows_1258(text) if encoding == "cp1258" else text.encode(encoding)
    answer = api.post("/v1/statements?courier=viettelpost", content=content, headers={"content-type": "text/csv"})
    assert answer.status_code == 201, answer.text
    assert answer.json()["summary"]["matched"] == 1 and answer.json()["mismatches"] == []


def _declared(dimension: str, rows: str) -> bytes:
    """An XLSX whose sheet claims `dimension` and holds `rows`: what a hostile or broken export can be."""
    book = io.BytesIO(_as_xlsx([["Mã đơn GHN", "Tổng phí"], ["GHNT1", 22000]]))
    out = io.BytesIO()
    with zipfile.ZipFile(book) as source, zipfile.ZipFile(out, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet2.xml":
                data = re.sub(rb'<dimension ref="[^"]+"/>', f'<dimension ref="{dimension}"/>'.encode(), data)
                data = data.replace(b"</sheetData>", rows.encode() + b"</sheetData>")
            target.writestr(item, data)
    return out.getvalue()


def test_a_workbook_that_lies_about_its_size_is_read_by_its_rows(api: Client, ctx: Context) -> None:
    codes = _world(ctx, "ghn")
    content = _declared("A1:XFD3002", "".join(f'<row r="{n}"/>' for n in range(4, 3004)))
    answer = api.post("/v1/statements?courier=ghn", content=content, headers={"content-type": XLSX})
    assert answer.status_code == 201, answer.text  # not 16,384 empty columns per row
    assert answer.json()["summary"]["lines"] == 1 and codes["T1"] == "GHNT1"
    broken = _declared("A1:B2", "<row><c r=")
    assert api.post("/v1/statements?courier=ghn", content=broken, headers={"content-type": XLSX}).status_code == 422


def test_totals_count_cod_only_where_the_statement_gives_it(api: Client, ctx: Context) -> None:
    codes = _world(ctx, "ghn")
    content = f"Mã đơn GHN,Tổng phí,Tiền thu hộ\n{codes['T1']},22000,\n{codes['T2']},22000,50000\n".encode()
    summary = api.post("/v1/statements?courier=ghn", content=content, headers={"content-type": "text/csv"}).json()[
        "summary"
    ]
    assert summary["our_cod"] == 50_000 and summary["cod_difference"] == 0 and summary["mismatches"] == {}
    huge = f"Mã đơn GHN,Tiền thu hộ\n{codes['T1']},{'9' * 5000}\n".encode()
    assert api.post("/v1/statements?courier=ghn", content=huge, headers={"content-type": "text/csv"}).status_code == 422
