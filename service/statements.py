"""`/v1/statements`: a courier's COD and fee statement in, its mismatches with our records out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Annotated, Any

from litestar import Controller, Response, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.openapi.spec import OpenAPIMediaType, Operation, RequestBody, Schema
from litestar.params import FromQuery, PathParameter, QueryParameter, RawBody

from contracts.base import Record
from contracts.orders import Courier
from contracts.statements import Column, Statement, StatementError, StatementHead
from service.auth import context, require
from service.exports import CSV, MEDIA, XLSX, Format, Sheet, to_csv, to_xlsx
from service.problems import ProblemError, documented
from service.reports import FileFormats
from workers import statements
from workers.store import Principal


@dataclass
class _FileUpload(Operation):
    """The request body is the statement file itself, as the courier's portal exported it."""

    def __post_init__(self) -> None:
        self.request_body = RequestBody(
            description="The statement file: CSV (UTF-8, UTF-16 or Windows-1258; `,` `;` or tab) or XLSX.",
            content={
                media.split(";")[0]: OpenAPIMediaType(schema=Schema(type="string", format="binary"))  # type: ignore[arg-type]
                for media in (CSV, XLSX, "application/octet-stream")
            },
            required=True,
        )


STATEMENT_BYTES = 10_000_000  # a year of a province's lines fits with room to spare


class StatementList(Record, frozen=True, kw_only=True):
    statements: list[StatementHead]


def _centre(principal: Principal, scope: str) -> str:
    require(principal, scope)
    if principal.admin:
        raise ProblemError(422, "centre-required", "Centre required", "Statements belong to one centre's key.")
    return principal.centre


HEADER = ["problem", "row", "order_id", "tracking_code", "statement", "ours", "note"]


def _sheets(statement: Statement) -> list[Sheet]:
    s = statement.summary
    totals = [
        ["lines", s.lines], ["matched", s.matched],
        ["statement_cod", s.statement_cod], ["our_cod", s.our_cod], ["cod_difference", s.cod_difference],
        ["statement_fee", s.statement_fee], ["our_fee", s.our_fee], ["fee_difference", s.fee_difference],
        *([f"mismatches:{problem}", n] for problem, n in sorted(s.mismatches.items())),
    ]  # fmt: skip
    rows = [[m.problem, m.row, m.order_id, m.tracking_code, m.statement, m.ours, m.note] for m in statement.mismatches]
    return [
        Sheet(title="Mismatches", header=HEADER, rows=rows),
        Sheet(title="Summary", header=[statement.courier, statement.filename], rows=totals),
    ]


def _export(statement: Statement, fmt: Format) -> Response[Any]:
    if fmt == "json":
        return Response(statement)
    if fmt == "html":
        raise ProblemError(
            422, "invalid-field", "Invalid request", "A statement exports as json, csv or xlsx.", "format"
        )
    content = to_csv(_sheets(statement)) if fmt == "csv" else to_xlsx(_sheets(statement))
    name = f"statement-{statement.courier}-{statement.id}.{fmt}"
    return Response(content, media_type=MEDIA[fmt], headers={"Content-Disposition": f'attachment; filename="{name}"'})


Optional = Annotated[str | None, QueryParameter(max_length=100)]


class StatementController(Controller):
    path = "/v1/statements"
    tags = ["statements"]
    security = [{"BearerAuth": []}]

    @post(
        "/",
        sync_to_thread=True,
        operation_class=_FileUpload,
        summary="Import a courier's COD and fee statement and reconcile it with the centre's orders",
        request_max_body_size=STATEMENT_BYTES,
        responses=documented(401, 403, 422, 503),
    )
    def import_statement(
        self,
        principal: NamedDependency[Principal],
        state: State,
        body: RawBody,
        courier: FromQuery[Courier],
        filename: Annotated[str, QueryParameter(max_length=200)] = "statement",
        period_start: FromQuery[date | None] = None,
        period_end: FromQuery[date | None] = None,
        tracking_column: Optional = None,
        reference_column: Optional = None,
        cod_column: Optional = None,
        fee_column: Optional = None,
    ) -> Response[Statement]:
        centre = _centre(principal, "orders:write")
        if (period_start is None) != (period_end is None):
            raise ProblemError(422, "invalid-field", "Invalid request", "Give both ends of the period.", "period_end")
        if period_start and period_end and period_end < period_start:
            raise ProblemError(
                422, "invalid-field", "Invalid request", "The period ends before it starts.", "period_end"
            )
        named: dict[Column, str | None] = {
            "tracking_code": tracking_column, "reference": reference_column, "cod": cod_column, "fee": fee_column,
        }  # fmt: skip
        columns: dict[Column, str] = {column: title for column, title in named.items() if title}
        try:
            statement = statements.import_statement(
                context(state).store,
                centre=centre,
                courier=courier.value,
                content=body,
                filename=filename,
                now=datetime.now(UTC),
                period=(period_start, period_end) if period_start and period_end else None,
                columns=columns,
                by=principal.actor,
            )
        except StatementError as error:
            raise ProblemError(422, "invalid-statement", "Statement not readable", str(error), "body") from None
        return Response(statement, status_code=201)

    @get(
        "/",
        sync_to_thread=True,
        summary="The centre's imported statements, newest first",
        responses=documented(401, 403, 422),
    )
    def list_statements(self, principal: NamedDependency[Principal], state: State) -> StatementList:
        centre = _centre(principal, "orders:read")
        return StatementList(statements=statements.list_statements(context(state).store, centre))

    @get(
        "/{statement_id:str}",
        sync_to_thread=True,
        operation_class=FileFormats,
        summary="One statement's reconciliation: JSON, or its mismatches as CSV or XLSX",
        responses=documented(401, 403, 404, 422),
    )
    def read_statement(
        self,
        principal: NamedDependency[Principal],
        state: State,
        statement_id: Annotated[str, PathParameter(max_length=64)],
        fmt: Annotated[Format, QueryParameter(name="format")] = "json",
    ) -> Response[Statement]:
        centre = _centre(principal, "orders:read")
        try:
            statement = statements.get_statement(context(state).store, centre, statement_id)
        except statements.UnknownStatement:
            raise ProblemError(404, "not-found", "Not found", "No such statement for this centre.") from None
        return _export(statement, fmt)
