"""Money: ISO 4217 currencies (from CLDR, through Babel), exact decimal amounts, and their
conversion to US dollars with the rate table for the year, which names its source.

A rate is "units of the currency per US dollar", the annual average (as the World Bank's official
exchange rate series gives it). USD converts at 1 without a rate. An amount whose year has no rate
is not converted: it is counted apart, never guessed."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

from babel.numbers import get_currency_precision, list_currencies
from sqlalchemy import select
from sqlalchemy.orm import Session

from dho.accounts.permissions import Principal, authorize
from dho.atlas.models import FxRate
from dho.errors import ErrorReport, FieldError, PayloadTooLarge, ValidationFailed
from dho.i18n import _

MAX_AMOUNT = Decimal("1e15")  # a quadrillion: more than any digital-health budget, in any currency
CENT = Decimal("0.01")
# Codes that are not money one can commit: precious metals, testing, SDR-like units, "no currency".
NOT_MONEY = {"XAU", "XAG", "XPD", "XPT", "XTS", "XXX", "XBA", "XBB", "XBC", "XBD", "XDR", "XSU", "XUA"}


def currencies() -> set[str]:
    return {c for c in list_currencies() if len(c) == 3 and c.isupper()} - NOT_MONEY


def check_currency(code: str, field: str = "currency") -> str:
    code = (code or "").strip().upper()
    if code not in currencies():
        raise ValidationFailed(_("The currency is not valid; nothing was saved."), errors=[FieldError(
            field, _("%(code)s is not an ISO 4217 currency code", code=code[:10] or "''"))])
    return code


SPACES = str.maketrans("", "", " \u00a0\u2009\u202f\u2007")
PLAIN_NUMBER = re.compile(r"^-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]{1,3})?$")
THOUSANDS = re.compile(r"^-?[0-9]{1,3}(,[0-9]{3})+(\.[0-9]+)?$")


def _decimal(text: str) -> Decimal:
    """A decimal from plain ASCII digits; commas only as thousands separators (so "1,5" is refused,
    never read as 15); spaces between digit groups are allowed."""
    text = text.strip().translate(SPACES)
    if THOUSANDS.match(text):
        text = text.replace(",", "")
    if not PLAIN_NUMBER.match(text):
        raise InvalidOperation
    return Decimal(text)


def parse_amount(value: object, field: str = "amount", *, allow_zero: bool = False) -> Decimal:
    """An exact, positive amount with at most 2 decimals; refused if absurd. Accepted: a decimal
    string, a whole number or a Decimal; binary floats and booleans are not money."""
    try:
        if isinstance(value, Decimal):
            amount = value
        elif isinstance(value, int) and not isinstance(value, bool):
            amount = Decimal(value)
        elif isinstance(value, str) and len(value) <= 40:
            amount = _decimal(value)
        else:
            raise InvalidOperation
        if not amount.is_finite():
            raise InvalidOperation
    except (InvalidOperation, ValueError):
        raise ValidationFailed(_("The amount is not valid; nothing was saved."),
                               errors=[FieldError(field, _("is not a number"))]) from None
    problem = None
    if amount < 0 or (amount == 0 and not allow_zero):
        problem = _("must be more than zero")
    elif amount > MAX_AMOUNT:
        problem = _("is too large to be real")
    elif amount != amount.quantize(CENT):
        problem = _("has more than two decimals")
    if problem:
        raise ValidationFailed(_("The amount is not valid; nothing was saved."), errors=[FieldError(field, problem)])
    return amount.quantize(CENT)


@dataclass(frozen=True)
class Converted:
    usd: Decimal | None  # None: no rate for that currency and year
    rate: Decimal | None
    source: str | None


class Rates:
    """The rate table held in memory for a batch of conversions (one query)."""

    def __init__(self, session: Session):
        self.table = {(r.currency, r.year): (r.units_per_usd, r.source)
                      for r in session.execute(select(FxRate)).scalars()}

    def convert(self, amount: Decimal, currency: str, year: int) -> Converted:
        if currency == "USD":
            return Converted(amount, Decimal(1), "USD")
        found = self.table.get((currency, year))
        if found is None:
            return Converted(None, None, None)
        rate, source = found
        return Converted((amount / rate).quantize(CENT, ROUND_HALF_EVEN), rate, source)


RATE_COLUMNS = ("currency", "year", "units_per_usd", "source")
MAX_RATES_BYTES = 2_000_000  # some 30 000 rows: every currency for every year since 1960, and more
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
YEAR = re.compile(r"^[0-9]{4}$")


def _cell(n: int, column: str) -> str:
    return _("row %(n)s", n=n) + ", " + column


def load_rates(session: Session, principal: Principal, data: bytes) -> dict[str, int]:
    """Load a rate table from CSV (currency, year, units_per_usd, source). Every row is checked
    first; any error refuses the whole file. Existing (currency, year) rates are replaced."""
    authorize(session, principal, "atlas.rates.manage")
    if len(data) > MAX_RATES_BYTES:
        raise PayloadTooLarge(_("The rate table is larger than %(n)s MB; nothing was loaded.",
                                n=MAX_RATES_BYTES // 1_000_000))
    report = ErrorReport()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationFailed(_("The rate table is not UTF-8 text; nothing was loaded.")) from None
    reader = csv.reader(io.StringIO(text))
    header = [h.strip().lower() for h in next(reader, [])]
    if tuple(header) != RATE_COLUMNS:
        raise ValidationFailed(_("The rate table needs the columns %(cols)s; nothing was loaded.",
                                 cols=", ".join(RATE_COLUMNS)))
    rows: dict[tuple[str, int], tuple[Decimal, str]] = {}
    allowed = currencies()
    for n, line in enumerate(reader, start=2):
        if not any(cell.strip() for cell in line):
            continue
        if len(line) != 4:
            report.add(_cell(n, "*"), _("has %(n)s columns instead of 4", n=len(line)))
            continue
        cur, year_text, rate_text, source = (c.strip() for c in line)
        cur = cur.upper()
        if cur not in allowed or cur == "USD":
            report.add(_cell(n, "currency"), _("%(code)s is not an ISO 4217 currency code (other than USD)",
                                               code=cur[:10]))
        year = int(year_text) if YEAR.match(year_text) else 0
        if not 1960 <= year <= 2100:
            report.add(_cell(n, "year"), _("must be a year from 1960 to 2100"))
        try:
            rate = _decimal(rate_text) if len(rate_text) <= 40 else Decimal("NaN")
            if not rate.is_finite() or rate <= 0 or rate > Decimal("1e9"):
                raise InvalidOperation
            if rate != rate.quantize(Decimal("1e-10")):
                raise InvalidOperation  # more precision than the table keeps
        except InvalidOperation:
            report.add(_cell(n, "units_per_usd"), _("must be a positive number of units per US dollar"))
            rate = Decimal(0)
        if not source or len(source) > 300 or CONTROL.search(source):
            report.add(_cell(n, "source"), _("is required (at most 300 characters, on one line)"))
        if (cur, year) in rows:
            report.add(_cell(n, "currency"), _("%(code)s %(year)s appears twice", code=cur, year=year))
        rows[(cur, year)] = (rate, source)
        if len(report.errors) >= 200:
            break
    report.raise_if_any(_("The rate table has errors; nothing was loaded."))
    existing = {(r.currency, r.year): r for r in session.execute(select(FxRate)).scalars()}
    added = updated = 0
    for (cur, year), (rate, source) in rows.items():
        row = existing.get((cur, year))
        if row is None:
            session.add(FxRate(currency=cur, year=year, units_per_usd=rate, source=source))
            added += 1
        elif row.units_per_usd != rate or row.source != source:
            row.units_per_usd, row.source = rate, source
            updated += 1
    session.flush()
    return {"added": added, "updated": updated}


def precision(currency: str) -> int:
    return int(get_currency_precision(currency))
