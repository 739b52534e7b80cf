"""Tables as the files people open: CSV (UTF-8 with a BOM, so Excel shows Vietnamese) and XLSX."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from openpyxl import Workbook
from openpyxl.chart import BarChart, Reference
from openpyxl.styles import Font

Cell = str | int | float | None
CSV = "text/csv; charset=utf-8"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
HTML = "text/html; charset=utf-8"
Format = Literal["json", "csv", "xlsx", "html"]
MEDIA = {"csv": CSV, "xlsx": XLSX, "html": HTML}


@dataclass(frozen=True)
class Sheet:
    title: str  # at most 31 characters (an XLSX rule)
    header: Sequence[str]
    rows: Sequence[Sequence[Cell]]
    chart: tuple[str, Sequence[int]] | None = None  # a bar chart's title and the columns it plots


def _safe(cell: Cell) -> Cell:
    """A text cell a spreadsheet would run as a formula (=, +, -, @, tab, CR first) is kept as text."""
    if isinstance(cell, str) and cell[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + cell
    return cell


def to_csv(sheets: Sequence[Sheet]) -> bytes:
    """Every sheet one after the other, each under its title line."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    for number, sheet in enumerate(sheets):
        if number:
            writer.writerow([])
        if len(sheets) > 1:
            writer.writerow([sheet.title])
        writer.writerow([_safe(cell) for cell in sheet.header])
        writer.writerows(["" if cell is None else _safe(cell) for cell in row] for row in sheet.rows)
    return ("\ufeff" + buffer.getvalue()).encode()


def to_xlsx(sheets: Sequence[Sheet]) -> bytes:
    book = Workbook()
    book.remove(book.active)  # type: ignore[arg-type]
    for sheet in sheets:
        page = book.create_sheet(sheet.title[:31])
        page.append([_safe(cell) for cell in sheet.header])
        for cell in page[1]:
            cell.font = Font(bold=True)
        for row in sheet.rows:
            page.append([_safe(cell) for cell in row])
        page.freeze_panes = "B2"
        page.column_dimensions["A"].width = 28
        if sheet.chart and sheet.rows:
            title, columns = sheet.chart
            chart = BarChart()
            chart.title = title
            for column in columns:
                chart.add_data(
                    Reference(page, min_col=column, min_row=1, max_row=len(sheet.rows) + 1), titles_from_data=True
                )
            chart.set_categories(Reference(page, min_col=1, min_row=2, max_row=len(sheet.rows) + 1))
            chart.width, chart.height = 22, 9
            page.add_chart(chart, f"A{len(sheet.rows) + 4}")
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
