"""Atlas coordination API: who funds what where (JSON, CSV, XLSX), overlap, fragmentation and the
gap view. Published investments for everyone; drafts only for who may read them."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import PlainTextResponse, Response
from sqlalchemy.orm import Session

from dho.accounts.permissions import Principal
from dho.atlas import coordination
from dho.web.deps import current_principal, db_session
from dho.web.params import MAX_ID

router = APIRouter(prefix="/atlas", tags=["atlas"])

By = Annotated[str, Query(pattern="^(" + "|".join(coordination.DIMENSIONS) + ")$")]
Iso3 = Annotated[str | None, Query(pattern=r"^[A-Za-z]{3}$")]
Region = Annotated[str | None, Query(pattern=r"^[A-Za-z]{2,8}$")]
FunderId = Annotated[int | None, Query(ge=1, le=MAX_ID)]
YearQ = Annotated[int | None, Query(ge=1960, le=2100)]
Format = Annotated[str, Query(pattern="^(json|csv|xlsx)$")]
Iso3Path = Annotated[str, Path(pattern=r"^[A-Za-z]{3}$")]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
COLUMNS = ("key", "label", "usd", "n_investments", "n_funders", "not_converted")


def _not_converted(row: coordination.Row) -> str:
    return "; ".join(f"{c} {a}" for c, a in sorted(row.not_converted.items()))


def _table(result: coordination.Funding) -> list[list[Any]]:
    return [[r.key if r.key is not None else "", r.label, r.usd, r.n_investments, r.n_funders, _not_converted(r)]
            for r in [*result.rows, result.total]]


def _safe_text(value: str) -> str:
    """A text cell a spreadsheet will not run as a formula."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def funding_csv(result: coordination.Funding) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(COLUMNS)
    for key, label, usd, n, f, nc in _table(result):
        w.writerow([_safe_text(str(key)), _safe_text(label), usd, n, f, nc])
    return buf.getvalue()


def funding_xlsx(result: coordination.Funding) -> bytes:
    """Two sheets: the table (US dollars as numbers) and the rates it used, with their source."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
    from openpyxl.styles import Font

    wb = Workbook(write_only=True)
    bold = Font(bold=True)

    def cell(ws: Any, value: Any, font: Font | None = None) -> Any:
        c = WriteOnlyCell(ws)
        if isinstance(value, str):
            c.value = ILLEGAL_CHARACTERS_RE.sub("", value)
            c.data_type = "s"  # never a formula
        else:
            c.value = value
        if font is not None:
            c.font = font
        return c

    ws = wb.create_sheet("funding")
    ws.freeze_panes = "A2"
    ws.append([cell(ws, name, bold) for name in COLUMNS])
    for key, label, usd, n, f, nc in _table(result):
        ws.append([cell(ws, str(key)), cell(ws, label), cell(ws, usd), cell(ws, n), cell(ws, f), cell(ws, nc)])
    rates = wb.create_sheet("rates")
    rates.append([cell(rates, name, bold) for name in ("currency", "year", "units_per_usd", "source")])
    for r in result.rates_used:
        rates.append([cell(rates, r["currency"]), cell(rates, r["year"]), cell(rates, r["units_per_usd"]),
                      cell(rates, r["source"])])
    for currency, year in result.missing_rates:
        rates.append([cell(rates, currency), cell(rates, year), cell(rates, "no rate: not converted"), None])
    wb.properties.creator = "Digital Health Observatory"
    wb.properties.title = "Who funds what"
    wb.properties.created = wb.properties.modified = datetime.now(UTC).replace(microsecond=0, tzinfo=None)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


@router.get("/funding", summary="Who funds what where: US dollar totals by a dimension, amounts without a rate "
            "listed apart (format json, csv or xlsx)")
def funding(by: By = "country", country: Iso3 = None, region: Region = None, funder: FunderId = None,
            year_from: YearQ = None, year_to: YearQ = None, format: Format = "json",
            session: Session = db_session, principal: Principal = current_principal) -> Any:
    result = coordination.who_funds_what(session, principal, by=by, filters=coordination.Filters(
        country=country, region=region, funder=funder, year_from=year_from, year_to=year_to))
    name = f"atlas-funding-by-{by}"
    if format == "csv":
        return PlainTextResponse(funding_csv(result), media_type="text/csv; charset=utf-8",
                                 headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})
    if format == "xlsx":
        return Response(funding_xlsx(result), media_type=XLSX,
                        headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"'})
    return result.as_dict()


@router.get("/overlap", summary="Intervention codes several funders fund in a country (and the areas they share)")
def overlap(country: Annotated[str, Query(pattern=r"^[A-Za-z]{3}$")], session: Session = db_session,
            principal: Principal = current_principal) -> dict[str, Any]:
    return {"country": country.upper(), "overlap": coordination.overlap(session, country, principal)}


@router.get("/fragmentation", summary="Systems doing the same job in a country, with the fragmentation index")
def fragmentation(country: Annotated[str, Query(pattern=r"^[A-Za-z]{3}$")], session: Session = db_session,
                  principal: Principal = current_principal) -> dict[str, Any]:
    return coordination.fragmentation(session, country, principal)


@router.get("/countries/{iso3}/gaps", summary="The country's maturity priorities beside the money reaching them")
def gaps(iso3: Iso3Path, session: Session = db_session, principal: Principal = current_principal) -> dict[str, Any]:
    return coordination.gap_view(session, iso3, principal)
