"""`/v1/reports`: dossiers and results by post per centre or province, by month, quarter or year.

JSON by default; `format=csv` and `format=xlsx` for the provinces' spreadsheets; `format=html` is the
printable report (tables and bar charts, no script, no CDN). Read from counters, never by scanning.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Response, get, put
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.openapi.spec import OpenAPIMediaType, Operation, Schema
from litestar.params import Body, PathParameter, QueryParameter

from contracts.base import Inbound
from contracts.reports import COURIER_NAMES, LABELS, METRICS, Figures, PeriodKind, Report, Totals, period
from service.auth import context, require
from service.exports import MEDIA, Format, Sheet, to_csv, to_xlsx
from service.problems import ProblemError, documented
from workers import reports
from workers.store import Principal

Language = Literal["vi", "en"]
MonthLabel = Annotated[str, QueryParameter(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")]


@dataclass
class FileFormats(Operation):
    """The 200 answer of a report also comes as CSV, XLSX and HTML (`format=`): said in the schema."""

    def __post_init__(self) -> None:
        ok = self.responses.get("200") if self.responses else None
        content = getattr(ok, "content", None)
        if content is not None:
            for media in MEDIA.values():
                content.setdefault(media.split(";")[0], OpenAPIMediaType(schema=Schema()))


class TotalsIn(Inbound, kw_only=True):
    """What the centre received and returned in the month through every channel (counter and post)."""

    dossiers_received: Annotated[int, msgspec.Meta(ge=0, le=10_000_000)]
    results_returned: Annotated[int, msgspec.Meta(ge=0, le=10_000_000)]


def _scope(state: State, principal: Principal, centre: str | None, province: str | None) -> dict[str, Any]:
    """The centres a report covers: the key's own centre; an admin key names a centre or a province."""
    require(principal, "orders:read")
    config = context(state).config
    if not principal.admin:
        if province is not None or (centre is not None and centre != principal.centre):
            raise ProblemError(403, "forbidden", "Forbidden", "A centre's key reports on its own centre only.")
        return {"centres": [principal.centre], "centre": principal.centre}
    if (centre is None) == (province is None):
        raise ProblemError(422, "invalid-field", "Scope required", "Give either centre or province.", "centre")
    if centre is not None:
        return {"centres": [centre], "centre": centre}
    found = [code for code, c in config.centres.items() if c.province_code == province]
    if not found:
        raise ProblemError(404, "not-found", "Not found", f"No centre is configured in province {province}.")
    return {"centres": found, "province_code": province}


def _value(figures: Figures, metric: str) -> Any:
    return getattr(figures, metric)


def _rows(named: dict[str, Figures], names: dict[str, str] | None = None) -> list[list[Any]]:
    return [[(names or {}).get(key, key), *(_value(f, m) for m in METRICS)] for key, f in named.items()]


def sheets(report: Report, lang: Language) -> list[Sheet]:
    i = 0 if lang == "vi" else 1
    header = ["", *(LABELS[m][i] for m in METRICS)]
    chart_columns = (METRICS.index("dossiers_received") + 2, METRICS.index("results_returned") + 2)
    total = ("Tổng" if lang == "vi" else "Total", report.totals)
    found = [
        Sheet(
            title="Theo đơn vị vận chuyển" if lang == "vi" else "By courier",
            header=header,
            rows=[*_rows(report.by_courier, COURIER_NAMES), *_rows(dict([total]))],
            chart=("Hồ sơ và kết quả qua bưu chính" if lang == "vi" else "Dossiers and results by post", chart_columns),
        )
    ]
    if report.by_centre:
        found.append(
            Sheet(title="Theo trung tâm" if lang == "vi" else "By centre", header=header, rows=_rows(report.by_centre))
        )
    if report.by_month:
        found.append(
            Sheet(
                title="Theo tháng" if lang == "vi" else "By month",
                header=header,
                rows=_rows(report.by_month),
                chart=("Theo tháng" if lang == "vi" else "By month", chart_columns),
            )
        )
    return found


def _bars(title: str, rows: list[tuple[str, int, int]], legend: tuple[str, str]) -> str:
    """Two bars per row (dossiers received, results returned) as inline SVG: prints without a script."""
    top = max([1, *(max(a, b) for _name, a, b in rows)])
    width, label, bar = 640, 190, 12
    height = 30 + 34 * len(rows)
    parts = [
        f'<svg role="img" aria-label="{html.escape(title)}" viewBox="0 0 {width} {height}" width="100%" '
        f'xmlns="http://www.w3.org/2000/svg" font-size="12">',
        f'<rect x="{label}" y="4" width="12" height="10" fill="#1d4ed8"/><text x="{label + 16}" y="13">'
        f"{html.escape(legend[0])}</text>",
        f'<rect x="{label + 260}" y="4" width="12" height="10" fill="#b45309"/><text x="{label + 276}" y="13">'
        f"{html.escape(legend[1])}</text>",
    ]
    for n, (name, a, b) in enumerate(rows):
        y = 26 + 34 * n
        parts.append(f'<text x="0" y="{y + 16}">{html.escape(name)}</text>')
        for k, (amount, colour) in enumerate(((a, "#1d4ed8"), (b, "#b45309"))):
            length = (width - label - 60) * amount / top
            parts.append(
                f'<rect x="{label}" y="{y + k * (bar + 2)}" width="{length:.1f}" height="{bar}" fill="{colour}"/>'
                f'<text x="{label + length + 4:.1f}" y="{y + k * (bar + 2) + 10}">{amount}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


RATIOS = frozenset({"share_received", "share_returned", "on_time_rate"})


def _cells(values: Sequence[Any]) -> str:
    return "".join(f"<td>{_cell(value, metric)}</td>" for value, metric in zip(values, METRICS, strict=True))


def _cell(value: Any, metric: str) -> str:
    if value is None:
        return "—"
    if metric in RATIOS:
        return f"{value:.1%}"
    if isinstance(value, int):
        return f"{value:,}".replace(",", ".")
    return html.escape(str(value).replace(".", ","))  # hours with a Vietnamese decimal comma


def page(report: Report, lang: Language) -> str:
    vi = lang == "vi"
    scope = report.centre or (f"Tỉnh/thành phố {report.province_code}" if vi else f"Province {report.province_code}")
    kind = {"month": ("tháng", "month"), "quarter": ("quý", "quarter"), "year": ("năm", "year")}[report.period.kind]
    title = (
        f"Báo cáo {kind[0]} {report.period.label}: tiếp nhận hồ sơ, trả kết quả qua dịch vụ bưu chính công ích"
        if vi
        else f"Report for the {kind[1]} {report.period.label}: dossiers and results by post"
    )
    legend = (LABELS["dossiers_received"][0 if vi else 1], LABELS["results_returned"][0 if vi else 1])
    body = [
        f"<h1>{html.escape(title)}</h1>",
        f"<p>{html.escape(scope)} · {report.period.start} – {report.period.end}</p>",
    ]
    if report.totals_missing:
        note = "Chưa báo cáo tổng số hồ sơ, nên chưa tính tỷ lệ: " if vi else "Totals not reported, so no shares for: "
        body.append(f'<p class="note">{html.escape(note + ", ".join(report.totals_missing))}</p>')
    couriers = [(COURIER_NAMES[c], f.dossiers_received, f.results_returned) for c, f in report.by_courier.items()]
    body.append(_bars(legend[0], couriers, legend))
    if report.by_month:
        months = [(m, f.dossiers_received, f.results_returned) for m, f in report.by_month.items()]
        body.append(_bars("months", months, legend))
    for sheet in sheets(report, lang):
        head = "".join(f'<th scope="col">{html.escape(h)}</th>' for h in sheet.header)
        rows = "".join(
            f'<tr><th scope="row">{html.escape(str(row[0]))}</th>{_cells(row[1:])}</tr>' for row in sheet.rows
        )
        body.append(f"<h2>{html.escape(sheet.title)}</h2><div class=\"wide\"><table><thead><tr>{head}</tr></thead>"
                    f"<tbody>{rows}</tbody></table></div>")  # fmt: skip
    style = (
        "body{font-family:system-ui,sans-serif;margin:1.5rem;color:#111}h1{font-size:1.3rem}"
        "table{border-collapse:collapse;font-size:.8rem}th,td{border:1px solid #999;padding:.25rem .4rem}"
        "td{text-align:right}.wide{overflow-x:auto}.note{color:#7c2d12}"
        "@media print{body{margin:0}.wide{overflow:visible}table{font-size:7pt}}"
    )
    return (
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{html.escape(title)}</title>'
        f"<style>{style}</style></head><body>{''.join(body)}</body></html>"
    )


def _answer(report: Report, fmt: Format, lang: Language) -> Response[Any]:
    if fmt == "json":
        return Response(report)
    if fmt == "html":
        return Response(page(report, lang), media_type=MEDIA["html"])
    name = f"report-{report.centre or report.province_code}-{report.period.label}.{fmt}"
    content = to_csv(sheets(report, lang)) if fmt == "csv" else to_xlsx(sheets(report, lang))
    return Response(content, media_type=MEDIA[fmt], headers={"Content-Disposition": f'attachment; filename="{name}"'})


def _report(
    state: State, principal: Principal, kind: PeriodKind, label: str, centre: str | None, province: str | None
) -> Report:
    scope = _scope(state, principal, centre, province)
    try:
        span = period(kind, label)
    except ValueError as error:
        raise ProblemError(422, "invalid-field", "Invalid request", str(error), kind) from None
    return reports.report(context(state).store, span, **scope)


_COMMON = {
    "sync_to_thread": True,
    "operation_class": FileFormats,
    "responses": documented(401, 403, 404, 422),
}
Centre = Annotated[str | None, QueryParameter(max_length=64, description="admin keys: the centre")]
Province = Annotated[str | None, QueryParameter(pattern=r"^[0-9]{2}$", description="admin keys: every centre of it")]
FormatParam = Annotated[Format, QueryParameter(name="format", description="json, csv, xlsx, or html (printable)")]
LangParam = Annotated[Language, QueryParameter(description="vi (default) or en, for csv, xlsx and html")]


class ReportController(Controller):
    path = "/v1/reports"
    tags = ["reports"]
    security = [{"BearerAuth": []}]

    @get("/monthly", summary="One month: dossiers received and results returned by post, on time, money", **_COMMON)
    def monthly(
        self,
        principal: NamedDependency[Principal],
        state: State,
        month: MonthLabel,
        centre: Centre = None,
        province: Province = None,
        fmt: FormatParam = "json",
        lang: LangParam = "vi",
    ) -> Response[Report]:
        return _answer(_report(state, principal, "month", month, centre, province), fmt, lang)

    @get("/quarterly", summary="One quarter, with its months", **_COMMON)
    def quarterly(
        self,
        principal: NamedDependency[Principal],
        state: State,
        quarter: Annotated[str, QueryParameter(pattern=r"^\d{4}-Q[1-4]$")],
        centre: Centre = None,
        province: Province = None,
        fmt: FormatParam = "json",
        lang: LangParam = "vi",
    ) -> Response[Report]:
        return _answer(_report(state, principal, "quarter", quarter, centre, province), fmt, lang)

    @get("/yearly", summary="One year, with its months", **_COMMON)
    def yearly(
        self,
        principal: NamedDependency[Principal],
        state: State,
        year: Annotated[str, QueryParameter(pattern=r"^\d{4}$")],
        centre: Centre = None,
        province: Province = None,
        fmt: FormatParam = "json",
        lang: LangParam = "vi",
    ) -> Response[Report]:
        return _answer(_report(state, principal, "year", year, centre, province), fmt, lang)

    @put(
        "/totals/{month:str}",
        sync_to_thread=True,
        summary="The centre's totals for a month through every channel: the base of the shares by post",
        responses=documented(400, 401, 403, 422, 503),
    )
    def put_totals(
        self,
        principal: NamedDependency[Principal],
        state: State,
        month: Annotated[str, PathParameter(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")],
        data: Annotated[TotalsIn, Body()],
    ) -> Totals:
        require(principal, "orders:write")
        if principal.admin:
            raise ProblemError(422, "centre-required", "Centre required", "Totals belong to one centre's key.")
        totals = Totals(dossiers_received=data.dossiers_received, results_returned=data.results_returned)
        reports.save_totals(context(state).store, principal.centre, month, totals, by=principal.actor)
        return totals
