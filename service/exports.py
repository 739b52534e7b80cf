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


def to_csv(sheets: Sequence[Sheet]) -> bytes:
    """Every sheet one after the other, each under its title line."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    for number, sheet in enumerate(sheets):
        if number:
            writer.writerow([])
        if len(sheets) > 1:
            writer.writerow([sheet.title])
        writer.writerow(sheet.header)
        writer.writerows(["" if cell is None else cell for cell in row] for row in sheet.rows)
    return ("\ufeff" + buffer.getvalue()).encode()


def to_xlsx(sheets: Sequence[Sheet]) -> bytes:
    book = Workbook()
    book.remove(book.active)  # type: ignore[arg-type]
    for sheet in sheets:
        page = book.create_sheet(sheet.title[:31])
        page.append(list(sheet.header))
        for cell in page[1]:
            cell.font = Font(bold=True)
        for row in sheet.rows:
            page.append(list(row))
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
