"""Periods of indicator values: years ("2025"), quarters ("2025Q3"), months ("2025-07") and financial
years ("FY2025", starting in a month named by the definition and named after the year it ENDS in, so
with a July start FY2025 runs from 1 July 2024 to 30 June 2025).

Pure functions over dates: parse a period code, list the periods of a type over some years, and
render a period the way DHIS2 wants it (dataValueSets) or as an ISO 8601 start/duration (ADX)."""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass

PERIOD_TYPES = ("year", "quarter", "month", "financial_year")
MONTHS_EN = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
             "October", "November", "December")
_YEAR = re.compile(r"^(\d{4})$")
_QUARTER = re.compile(r"^(\d{4})Q([1-4])$")
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
_FY = re.compile(r"^FY(\d{4})$")
MIN_YEAR, MAX_YEAR = 1990, 2100


class BadPeriod(ValueError):
    """A period code that is not one of the four forms, or out of range."""


@dataclass(frozen=True, order=True)
class Period:
    start: dt.date
    end: dt.date  # inclusive: the last day of the period
    code: str
    type: str

    @property
    def year(self) -> int:
        """The year a period belongs to (the end year; for a financial year, the year it ends in)."""
        return self.end.year


def _month_end(year: int, month: int) -> dt.date:
    return dt.date(year, month, calendar.monthrange(year, month)[1])


def _add_months(year: int, month: int, n: int) -> tuple[int, int]:
    idx = year * 12 + (month - 1) + n
    return idx // 12, idx % 12 + 1


def _check_year(year: int, code: str) -> int:
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise BadPeriod(f"period {code!r}: the year must be between {MIN_YEAR} and {MAX_YEAR}")
    return year


def parse(code: str, fy_start_month: int = 7) -> Period:
    """Parse a period code; raise BadPeriod with a clear message if it is not one."""
    if not isinstance(code, str) or len(code) > 16:
        raise BadPeriod("a period is a text such as 2025, 2025Q3, 2025-07 or FY2025")
    if m := _YEAR.match(code):
        y = _check_year(int(m[1]), code)
        return Period(dt.date(y, 1, 1), dt.date(y, 12, 31), code, "year")
    if m := _QUARTER.match(code):
        y, q = _check_year(int(m[1]), code), int(m[2])
        return Period(dt.date(y, 3 * q - 2, 1), _month_end(y, 3 * q), code, "quarter")
    if m := _MONTH.match(code):
        y, mo = _check_year(int(m[1]), code), int(m[2])
        return Period(dt.date(y, mo, 1), _month_end(y, mo), code, "month")
    if m := _FY.match(code):
        y = _check_year(int(m[1]), code)
        return financial_year(y, fy_start_month)
    raise BadPeriod(f"unknown period {code!r}: use 2025, 2025Q3, 2025-07 or FY2025")


def financial_year(end_year: int, start_month: int) -> Period:
    if start_month == 1:
        return Period(dt.date(end_year, 1, 1), dt.date(end_year, 12, 31), f"FY{end_year}", "financial_year")
    sy, sm = end_year - 1, start_month
    ey, em = _add_months(sy, sm, 11)
    return Period(dt.date(sy, sm, 1), _month_end(ey, em), f"FY{end_year}", "financial_year")


def periods_of(period_type: str, years: list[int], fy_start_month: int = 7, *,
               until: dt.date | None = None) -> list[Period]:
    """Every period of a type within the given years, in order; periods starting after ``until``
    (today, by default none) are left out."""
    out: list[Period] = []
    for y in sorted(set(years)):
        if period_type == "year":
            out.append(parse(str(y)))
        elif period_type == "quarter":
            out.extend(parse(f"{y}Q{q}") for q in range(1, 5))
        elif period_type == "month":
            out.extend(parse(f"{y}-{m:02d}") for m in range(1, 13))
        elif period_type == "financial_year":
            out.append(financial_year(y, fy_start_month))
        else:
            raise BadPeriod(f"unknown period type {period_type!r}")
    if until is not None:
        out = [p for p in out if p.start <= until]
    return out


def type_of(code: str) -> str:
    return parse(code).type


def month_ends(p: Period) -> list[dt.date]:
    """The last day of each month in a period (used by mean and max over time)."""
    out = []
    y, m = p.start.year, p.start.month
    while True:
        end = _month_end(y, m)
        out.append(end)
        if end >= p.end:
            return out
        y, m = _add_months(y, m, 1)


def dhis2(p: Period) -> str:
    """DHIS2 period identifier: 2025, 2025Q3, 202507, and financial years as 2024July (the start year
    and month, as DHIS2 names them)."""
    if p.type == "year":
        return p.code
    if p.type == "quarter":
        return p.code
    if p.type == "month":
        return p.code.replace("-", "")
    if p.start.month == 1:
        return str(p.start.year)
    return f"{p.start.year}{MONTHS_EN[p.start.month - 1]}"


def iso_duration(p: Period) -> str:
    """ADX period: ISO 8601 start date and duration, e.g. 2025-01-01/P1Y."""
    dur = {"year": "P1Y", "quarter": "P3M", "month": "P1M", "financial_year": "P1Y"}[p.type]
    return f"{p.start.isoformat()}/{dur}"
