"""Coordination views of the atlas: who funds what where, overlap, fragmentation, and the gap view.

docs/atlas-coordination.md states every rule (shares, currencies, income groups, the overlap test
and the fragmentation index). In short:

- only investments the principal may read count: published ones for everyone, drafts for who may
  read the country's or the owner's unpublished records (``unpublished.read``); archived never;
- an investment's amount is split over its targets by their shares (equal shares when none); the
  dimensions country, region, income group, funder and year take the whole amount;
- amounts are converted to US dollars with the rate table of the commitment year; an amount whose
  currency has no rate for that year is never converted nor summed: it is listed apart, in its own
  currency."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from sqlalchemy import BigInteger, and_, case, cast, distinct, extract, func, or_, select
from sqlalchemy.orm import Session

from dho import i18n
from dho.accounts.models import Organisation
from dho.accounts.permissions import ANONYMOUS, Principal, can
from dho.atlas import money
from dho.atlas.models import (
    Classification,
    Coverage,
    Implementation,
    ImplementationSolution,
    Investment,
    InvestmentTarget,
)
from dho.atlas.service import target_for
from dho.errors import FieldError, ValidationFailed
from dho.reference import service as reference
from dho.reference.models import ClassificationCode, Country, IncomeGroup

DIMENSIONS = ("country", "region", "income", "funder", "category", "component", "year")
SPLIT_DIMENSIONS = ("category", "component")  # the amount is split over the investment's targets
DHI = "cdisah2023-dhi"
CENT = Decimal("0.01")
ZERO = Decimal(0)
HUNDRED = Decimal(100)
SHARE_UNITS = 100_000  # InvestmentTarget.share is Numeric(6, 5)


# ---------------------------------------------------------------- what the principal may see


def visible(session: Session, principal: Principal) -> Any:
    """A WHERE clause with the investments the principal may read (the rule of service.may_read):
    published ones, and drafts whose country or owner lets the principal read unpublished records.
    Each distinct (country, owner) of the drafts is checked once with ``can``."""
    published = Investment.status == "published"
    if not principal.grants:
        return published
    pairs = session.execute(select(Investment.country_iso3, Investment.owner_org_id).where(
        Investment.status.notin_(("published", "archived"))).distinct()).all()
    allowed = [(c, o) for c, o in pairs if can(principal, "unpublished.read", target_for(session, c, o))]
    if not allowed:
        return published
    if len(allowed) == len(pairs):
        return Investment.status != "archived"
    owners: dict[str, list[int]] = defaultdict(list)
    for c, o in allowed:
        owners[c].append(o)
    return or_(published, and_(Investment.status != "archived", or_(*[
        and_(Investment.country_iso3 == c, Investment.owner_org_id.in_(os)) for c, os in owners.items()])))


# ---------------------------------------------------------------- filters


@dataclass(frozen=True)
class Filters:
    country: str | None = None
    region: str | None = None
    funder: int | None = None
    year_from: int | None = None
    year_to: int | None = None

    def check(self) -> Filters:
        errors = []
        if self.country is not None and not (len(self.country) == 3 and self.country.isalpha()):
            errors.append(FieldError("country", i18n._("use an ISO 3166 alpha-3 code")))
        for name in ("year_from", "year_to"):
            y = getattr(self, name)
            if y is not None and not 1960 <= y <= 2100:
                errors.append(FieldError(name, i18n._("must be a year from 1960 to 2100")))
        if self.year_from and self.year_to and self.year_from > self.year_to:
            errors.append(FieldError("year_to", i18n._("is before the first year")))
        if errors:
            raise ValidationFailed(i18n._("The filters are not valid."), errors=errors)
        return Filters(self.country.upper() if self.country else None,
                       self.region.upper() if self.region else None, self.funder, self.year_from, self.year_to)

    def where(self) -> list[Any]:
        out: list[Any] = []
        if self.country:
            out.append(Investment.country_iso3 == self.country)
        if self.region:
            out.append(Investment.country_iso3.in_(select(Country.iso3).where(Country.who_region == self.region)))
        if self.funder:
            out.append(Investment.funder_org_id == self.funder)
        if self.year_from:
            out.append(Investment.committed_on >= dt.date(self.year_from, 1, 1))
        if self.year_to:
            out.append(Investment.committed_on <= dt.date(self.year_to, 12, 31))
        return out


# ---------------------------------------------------------------- the result


@dataclass
class Row:
    key: str | None  # None: not attributed (category, component) or unknown (income group)
    label: str
    usd: Decimal = ZERO
    n_investments: int = 0
    n_funders: int = 0
    not_converted: dict[str, Decimal] = field(default_factory=dict)  # currency -> amount, never summed

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "label": self.label, "usd": str(self.usd), "n_investments": self.n_investments,
                "n_funders": self.n_funders,
                "not_converted": [{"currency": c, "amount": str(a)} for c, a in sorted(self.not_converted.items())]}


@dataclass
class Funding:
    by: str
    filters: Filters
    rows: list[Row]
    total: Row
    rates_used: list[dict[str, Any]]  # currency, year, units_per_usd, source
    missing_rates: list[tuple[str, int]]  # (currency, year) with an amount and no rate

    def as_dict(self) -> dict[str, Any]:
        return {"by": self.by, "filters": {k: v for k, v in self.filters.__dict__.items() if v is not None},
                "rows": [r.as_dict() for r in self.rows], "total": self.total.as_dict(),
                "rates_used": self.rates_used,
                "not_converted_note": [{"currency": c, "year": y} for c, y in self.missing_rates]}


class _Money:
    """Amounts per (key, currency, year) in exact cents, converted once at the end."""

    def __init__(self, rates: money.Rates):
        self.rates = rates
        self.used: dict[tuple[str, int], tuple[Decimal, str]] = {}
        self.missing: set[tuple[str, int]] = set()

    def settle(self, row: Row, amounts: Iterable[tuple[str, int, Decimal]]) -> None:
        usd = ZERO
        for currency, year, cents in amounts:
            amount = cents / HUNDRED
            if currency == "USD":
                usd += amount
                continue
            found = self.rates.table.get((currency, year))
            if found is None:
                self.missing.add((currency, year))
                row.not_converted[currency] = row.not_converted.get(currency, ZERO) + amount
                continue
            self.used[(currency, year)] = found
            usd += amount / found[0]
        row.usd = usd.quantize(CENT, ROUND_HALF_EVEN)
        row.not_converted = {c: a.quantize(CENT, ROUND_HALF_EVEN) for c, a in row.not_converted.items()}


def _year_expr() -> Any:
    return cast(extract("year", Investment.committed_on), BigInteger)


def _cents_expr() -> Any:
    return cast(func.round(Investment.amount * 100), BigInteger)


def who_funds_what(session: Session, principal: Principal, *, by: str = "country",
                   filters: Filters | None = None) -> Funding:
    """Totals in US dollars per country, region, income group, funder, CDISAH category, GDHM
    component or year, with the number of investments and of funders, and what could not be
    converted listed apart by currency."""
    if by not in DIMENSIONS:
        raise ValidationFailed(i18n._("Unknown grouping."), errors=[FieldError(
            "by", i18n._("use one of %(list)s", list=", ".join(DIMENSIONS)))])
    filters = (filters or Filters()).check()
    where = [visible(session, principal), *filters.where()]
    rates = money.Rates(session)
    acc = _Money(rates)
    if by in SPLIT_DIMENSIONS:
        sums, n_inv, funders, total_n, total_funders = _split_pass(session, by, where)
    else:
        sums, n_inv, funders, total_n, total_funders = _grouped(session, by, where)
    labels = _labels(session, by, list(n_inv))
    rows = []
    for key, per in sums.items():
        row = Row(key, labels.get(key, str(key) if key is not None else _none_label(by)), n_investments=n_inv[key],
                  n_funders=funders.get(key, 0))
        acc.settle(row, ((c, y, v) for (c, y), v in per.items()))
        rows.append(row)
    if by == "year":
        rows.sort(key=lambda r: (r.key is None, r.key or ""))
    else:
        rows.sort(key=lambda r: (r.key is None, -r.usd, r.label))
    total = Row("total", i18n._("Total"), n_investments=total_n, n_funders=total_funders)
    totals: dict[tuple[str, int], Decimal] = defaultdict(Decimal)
    for per in sums.values():
        for k, v in per.items():
            totals[k] += v
    acc.settle(total, ((c, y, v) for (c, y), v in totals.items()))
    used = [{"currency": c, "year": y, "units_per_usd": str(r), "source": s}
            for (c, y), (r, s) in sorted(acc.used.items())]
    return Funding(by, filters, rows, total, used, sorted(acc.missing))


def _none_label(by: str) -> str:
    if by == "income":
        return i18n._("Income group not known for the year")
    if by == "category":
        return i18n._("Not attributed to a CDISAH category")
    if by == "component":
        return i18n._("Not attributed to a GDHM component")
    return i18n._("Unknown")


def _grouped(session: Session, by: str, where: list[Any]) -> tuple[Any, ...]:
    """The dimensions that take an investment's whole amount: two GROUP BY queries."""
    year = _year_expr()
    joins: list[tuple[Any, Any]] = []
    if by == "country":
        key = Investment.country_iso3
    elif by == "funder":
        key = Investment.funder_org_id
    elif by == "year":
        key = year
    elif by == "region":
        key = Country.who_region
        joins.append((Country, Country.iso3 == Investment.country_iso3))
    else:  # income: the group of the commitment year (the latest known for years after the table)
        last = session.scalar(select(func.max(IncomeGroup.fiscal_year))) or 0
        fiscal = case((year > last, last), else_=year)
        key = IncomeGroup.income_group
        joins.append((IncomeGroup, and_(IncomeGroup.iso3 == Investment.country_iso3,
                                        IncomeGroup.fiscal_year == fiscal)))

    def base(*cols: Any) -> Any:
        stmt = select(*cols).select_from(Investment)
        for target, on in joins:
            stmt = stmt.outerjoin(target, on)
        return stmt.where(*where)

    sums: dict[Any, dict[tuple[str, int], Decimal]] = defaultdict(dict)
    n_inv: dict[Any, int] = defaultdict(int)
    grouped = base(key, Investment.currency, year, func.sum(_cents_expr()), func.count()).group_by(
        key, Investment.currency, year)
    for k, currency, y, cents, n in session.connection().execute(grouped):
        k = None if k is None else str(k)
        sums[k][(currency, int(y))] = Decimal(cents)
        n_inv[k] += n
    funders = {None if k is None else str(k): n for k, n in session.execute(
        base(key, func.count(distinct(Investment.funder_org_id))).group_by(key))}
    total_n, total_funders = session.execute(
        select(func.count(), func.count(distinct(Investment.funder_org_id))).where(*where)).one()
    return sums, n_inv, funders, total_n, total_funders


def category_of(code: str) -> str:
    """The CDISAH 2023 category of an intervention code: 1.1 for 1.1.1 (a category is its own)."""
    return ".".join(code.split(".")[:2])


def indicator_components(session: Session) -> dict[str, str]:
    """Maturity indicator code -> its GDHM component id."""
    from dho.maturity import service as maturity

    st = maturity.structure(session, maturity.DEFAULT_FRAMEWORK)
    return {code: c.id for c in st.components for code in (*c.core, *c.sub)}


def _implementation_categories(session: Session) -> dict[int, tuple[str, ...]]:
    out: dict[int, set[str]] = defaultdict(set)
    for impl_id, code in session.execute(select(Classification.implementation_id, Classification.code)
                                         .where(Classification.scheme == DHI)):
        out[impl_id].add(category_of(code))
    return {k: tuple(sorted(v)) for k, v in out.items()}


def _split_pass(session: Session, by: str, where: list[Any]) -> tuple[Any, ...]:
    """Category and component: one pass over (investment, target) tuples, ordered by investment."""
    if by == "category":
        impl_cats = _implementation_categories(session)

        def keys_of(kind: str, ref: str) -> tuple[str | None, ...]:
            if kind == "intervention":
                return (category_of(ref),)
            if kind == "implementation":
                return impl_cats.get(int(ref), (None,)) if ref.isdigit() else (None,)
            return (None,)
    else:
        components = indicator_components(session)

        def keys_of(kind: str, ref: str) -> tuple[str | None, ...]:
            if kind == "component":
                return (ref,)
            if kind == "priority":
                return (components.get(ref),)
            return (None,)

    memo: dict[tuple[str, str], tuple[str | None, ...]] = {}
    # shares as whole hundred-thousandths (the column's scale): integers read much faster than decimals
    share_units = cast(func.round(InvestmentTarget.share * SHARE_UNITS), BigInteger)
    stmt = (select(Investment.id, Investment.funder_org_id, Investment.currency, _year_expr(), _cents_expr(),
                   InvestmentTarget.kind, InvestmentTarget.ref, share_units)
            .select_from(Investment).outerjoin(InvestmentTarget, InvestmentTarget.investment_id == Investment.id)
            .where(*where).order_by(Investment.id))
    sums: dict[str | None, dict[tuple[str, int], Any]] = defaultdict(lambda: defaultdict(int))
    n_inv: dict[str | None, int] = defaultdict(int)
    funder_sets: dict[str | None, set[int]] = defaultdict(set)
    all_funders: set[int] = set()
    equal = {n: Decimal(1) / n for n in range(1, 64)}
    rows = session.connection().execute(stmt).all()  # Core rows: no ORM work per row
    total = len(rows)
    i = 0
    total_n = 0
    while i < total:
        inv_id, funder, currency, year, cents, kind, ref, share = rows[i]
        j = i + 1
        while j < total and rows[j][0] == inv_id:
            j += 1
        cur_year = (currency, int(year))
        total_n += 1
        all_funders.add(funder)
        if kind is None:  # no target: not attributed
            sums[None][cur_year] += cents
            n_inv[None] += 1
            funder_sets[None].add(funder)
            i = j
            continue
        n = j - i
        touched: set[str | None] = set()
        for _id, _f, _c, _y, _a, kind, ref, share in rows[i:j]:
            keys = memo.get((kind, ref))
            if keys is None:
                keys = memo[(kind, ref)] = keys_of(kind, ref)
            if share is None and n == 1 and len(keys) == 1:
                sums[keys[0]][cur_year] += cents  # the whole amount, exactly
            else:
                weight = Decimal(share) / SHARE_UNITS if share is not None else equal.get(n) or Decimal(1) / n
                if len(keys) > 1:
                    weight /= len(keys)
                part = cents * weight
                for k in keys:
                    sums[k][cur_year] += part
            touched.update(keys)
        for k in touched:
            n_inv[k] += 1
            funder_sets[k].add(funder)
        i = j
    return sums, n_inv, {k: len(v) for k, v in funder_sets.items()}, total_n, len(all_funders)


def _labels(session: Session, by: str, keys: list[Any]) -> dict[Any, str]:
    locale = i18n.get_locale()
    wanted = [k for k in keys if k is not None]
    if by == "country":
        return {iso3: reference.country_name(c, locale) for iso3, c in
                reference.countries_by_code(session, wanted).items()}
    if by == "region":
        return {r.code: reference.localized(r, "name", locale) for r in reference.regions(session)}
    if by == "income":
        return {g.code: reference.localized(g, "name", locale) for g in reference.income_group_names(session)}
    if by == "funder":
        ids = [int(k) for k in wanted]
        return {str(i): (f"{n} ({a})" if a else n) for i, n, a in session.execute(
            select(Organisation.id, Organisation.name, Organisation.acronym).where(Organisation.id.in_(ids)))}
    if by == "category":
        return code_names(session, wanted)
    if by == "component":
        return component_titles(session)
    return {}


def code_names(session: Session, codes: Iterable[str]) -> dict[str, str]:
    wanted = list(codes)
    if not wanted:
        return {}
    return dict(session.execute(select(ClassificationCode.code, ClassificationCode.name).where(
        ClassificationCode.scheme == DHI, ClassificationCode.code.in_(wanted))).all())


def component_titles(session: Session) -> dict[str, str]:
    from dho.maturity import service as maturity

    locale = i18n.get_locale()
    doc = maturity.framework_document(maturity.get_framework(session, maturity.DEFAULT_FRAMEWORK))
    return {str(c["id"]): (c["title"].get(locale) or c["title"]["en"]) for c in doc["components"]}


# ---------------------------------------------------------------- one country's investments, target by target


@dataclass
class _Part:
    investment_id: int
    funder_org_id: int
    currency: str
    year: int
    amount: Decimal  # the share of the amount, in the investment's currency
    kind: str | None
    ref: str | None


def _country_parts(session: Session, principal: Principal, iso3: str) -> list[_Part]:
    """Each visible investment of the country split over its targets (one part per target)."""
    rows = session.execute(
        select(Investment.id, Investment.funder_org_id, Investment.currency, Investment.committed_on,
               Investment.amount, InvestmentTarget.kind, InvestmentTarget.ref, InvestmentTarget.share)
        .select_from(Investment).outerjoin(InvestmentTarget, InvestmentTarget.investment_id == Investment.id)
        .where(visible(session, principal), Investment.country_iso3 == iso3).order_by(Investment.id,
                                                                                      InvestmentTarget.id)).all()
    counts: dict[int, int] = defaultdict(int)
    for r in rows:
        if r.kind is not None:
            counts[r.id] += 1
    out = []
    for r in rows:
        amount = Decimal(r.amount)
        if r.kind is not None:
            amount *= Decimal(r.share) if r.share is not None else Decimal(1) / counts[r.id]
        out.append(_Part(r.id, r.funder_org_id, r.currency, r.committed_on.year, amount, r.kind, r.ref))
    return out


def _readable_implementations(session: Session, principal: Principal, iso3: str) -> dict[int, Implementation]:
    from dho.atlas.service import may_read

    return {i.id: i for i in session.execute(select(Implementation).where(
        Implementation.country_iso3 == iso3, Implementation.merged_into_id.is_(None),
        Implementation.status != "archived")).scalars() if may_read(session, principal, i)}


def _dhi_codes(session: Session, impl_ids: Iterable[int]) -> dict[int, set[str]]:
    ids = list(impl_ids)
    out: dict[int, set[str]] = defaultdict(set)
    if ids:
        for impl_id, code in session.execute(select(Classification.implementation_id, Classification.code).where(
                Classification.scheme == DHI, Classification.implementation_id.in_(ids))):
            out[impl_id].add(code)
    return out


def _latest_coverage(session: Session, impl_ids: Iterable[int]) -> dict[int, dict[str, int | None]]:
    """Per implementation: area code -> persons reached, as of the latest count of each area."""
    ids = list(impl_ids)
    out: dict[int, dict[str, int | None]] = defaultdict(dict)
    if not ids:
        return out
    seen: dict[tuple[int, str], dt.date] = {}
    for impl_id, area, as_of, persons in session.execute(select(
            Coverage.implementation_id, Coverage.area_code, Coverage.as_of, Coverage.persons).where(
            Coverage.implementation_id.in_(ids))):
        if (impl_id, area) not in seen or as_of >= seen[(impl_id, area)]:
            seen[(impl_id, area)] = as_of
            out[impl_id][area] = persons
    return out


def _org_names(session: Session, ids: Iterable[int]) -> dict[int, str]:
    wanted = list(set(ids))
    if not wanted:
        return {}
    return {i: (f"{n} ({a})" if a else n) for i, n, a in session.execute(
        select(Organisation.id, Organisation.name, Organisation.acronym).where(Organisation.id.in_(wanted)))}


@dataclass
class Money:
    """Amounts in several currencies of several years: USD where a rate exists, the rest apart."""

    usd: Decimal = ZERO
    not_converted: dict[str, Decimal] = field(default_factory=dict)

    def add(self, rates: money.Rates, amount: Decimal, currency: str, year: int) -> None:
        if currency == "USD":
            self.usd += amount
            return
        found = rates.table.get((currency, year))
        if found is None:
            self.not_converted[currency] = self.not_converted.get(currency, ZERO) + amount
        else:
            self.usd += amount / found[0]

    @property
    def empty(self) -> bool:
        return self.usd == 0 and not any(self.not_converted.values())

    def as_dict(self) -> dict[str, Any]:
        return {"usd": str(self.usd.quantize(CENT, ROUND_HALF_EVEN)),
                "not_converted": [{"currency": c, "amount": str(a.quantize(CENT, ROUND_HALF_EVEN))}
                                  for c, a in sorted(self.not_converted.items())]}


# ---------------------------------------------------------------- overlap


def overlap(session: Session, country: str, principal: Principal = ANONYMOUS) -> list[dict[str, Any]]:
    """Intervention codes that several funders fund in the country. An investment funds the codes of
    its intervention targets and the intervention codes of its implementation targets; the areas are
    the covered areas of those implementations (unknown for an intervention target). A code is listed
    when at least two funders fund it, unless every funder's areas are known and none is shared."""
    iso3 = reference.get_country(session, country).iso3
    rates = money.Rates(session)
    parts = _country_parts(session, principal, iso3)
    impls = _readable_implementations(session, principal, iso3)
    codes_of = _dhi_codes(session, impls)
    areas_of = {i: {a for a in cov if a} for i, cov in _latest_coverage(session, impls).items()}
    per_code: dict[str, dict[int, dict[str, Any]]] = defaultdict(dict)
    for p in parts:
        if p.kind == "intervention" and p.ref:
            hits = [(p.ref, None)]
        elif p.kind == "implementation" and p.ref and p.ref.isdigit() and int(p.ref) in impls:
            impl_id = int(p.ref)
            codes = sorted(codes_of.get(impl_id, ()))
            hits = [(c, areas_of.get(impl_id) or None) for c in codes]
            if codes:
                p = _Part(p.investment_id, p.funder_org_id, p.currency, p.year, p.amount / len(codes), p.kind, p.ref)
        else:
            continue
        for code, areas in hits:
            f = per_code[code].setdefault(p.funder_org_id, {"money": Money(), "areas": set(), "unknown": False,
                                                            "investments": set()})
            f["money"].add(rates, p.amount, p.currency, p.year)
            f["investments"].add(p.investment_id)
            if areas is None:
                f["unknown"] = True
            else:
                f["areas"] |= areas
    names = _org_names(session, {fid for funders in per_code.values() for fid in funders})
    labels = code_names(session, per_code)
    out = []
    for code in sorted(per_code, key=_code_key):
        funders = per_code[code]
        if len(funders) < 2:
            continue
        counts: dict[str, int] = defaultdict(int)
        for f in funders.values():
            for a in f["areas"]:
                counts[a] += 1
        shared = sorted(a for a, n in counts.items() if n >= 2)
        any_unknown = any(f["unknown"] for f in funders.values())
        if not shared and not any_unknown:
            continue  # the same intervention, in different areas: not an overlap
        out.append({"code": code, "name": labels.get(code, ""), "n_funders": len(funders),
                    "level": "areas" if shared else "country", "shared_areas": shared,
                    "funders": [{"id": fid, "name": names.get(fid, str(fid)), **f["money"].as_dict(),
                                 "areas": sorted(f["areas"]), "areas_unknown": f["unknown"],
                                 "investments": sorted(f["investments"])}
                                for fid, f in sorted(funders.items(), key=lambda x: -x[1]["money"].usd)]})
    return out


def _code_key(code: str) -> tuple[int, ...]:
    return tuple(int(p) if p.isdigit() else 0 for p in code.split("."))


# ---------------------------------------------------------------- fragmentation


def fragmentation(session: Session, country: str, principal: Principal = ANONYMOUS) -> dict[str, Any]:
    """Per intervention code: the distinct systems doing that job in the country, and the index
    F = 1 - sum(s_i^2) over systems i (s_i: the system's share of persons reached; equal shares per
    implementation when any implementation of the code has no count of persons). A system is a
    solution (implementations deploying the same solution are one system); an implementation with
    no solution recorded is a system of its own. F is 0 for a single system and approaches 1 as the
    job is spread over many; F* = F / (1 - 1/n) rescales it to 0..1 for n systems. The country's
    figure is the mean F over its codes."""
    iso3 = reference.get_country(session, country).iso3
    impls = _readable_implementations(session, principal, iso3)
    codes_of = _dhi_codes(session, impls)
    coverage = _latest_coverage(session, impls)
    solutions: dict[int, list[int]] = defaultdict(list)
    if impls:
        for impl_id, sid in session.execute(select(ImplementationSolution.implementation_id,
                                                   ImplementationSolution.solution_id).where(
                ImplementationSolution.implementation_id.in_(list(impls)))):
            solutions[impl_id].append(sid)

    def persons(impl_id: int) -> int | None:
        cov = coverage.get(impl_id) or {}
        if "" in cov:
            return cov[""]
        counts = [v for v in cov.values()]
        if not counts or any(v is None for v in counts):
            return None
        return sum(v for v in counts if v is not None)

    by_code: dict[str, list[int]] = defaultdict(list)
    for impl_id, codes in codes_of.items():
        for code in codes:
            by_code[code].append(impl_id)
    labels = code_names(session, by_code)
    from dho.atlas.models import Solution

    sol_names = dict(session.execute(select(Solution.id, Solution.name).where(
        Solution.id.in_({s for v in solutions.values() for s in v}))).all()) if solutions else {}
    rows = []
    for code in sorted(by_code, key=_code_key):
        members = sorted(by_code[code])
        counts = {i: persons(i) for i in members}
        basis = "persons" if all(v is not None for v in counts.values()) and sum(
            v or 0 for v in counts.values()) > 0 else "implementations"
        weight: dict[str, Decimal] = defaultdict(Decimal)
        for i in members:
            systems = [f"s{s}" for s in solutions.get(i, ())] or [f"i{i}"]
            w = Decimal(counts[i] or 0) if basis == "persons" else Decimal(1)
            for s in systems:
                weight[s] += w / len(systems)
        total = sum(weight.values(), ZERO)
        hhi = sum(((w / total) ** 2 for w in weight.values()), ZERO) if total else Decimal(1)
        n = len(weight)
        milli = Decimal("0.001")
        f = (1 - hhi).quantize(milli)
        f_star = ((1 - hhi) / (1 - Decimal(1) / n)).quantize(milli) if n > 1 else Decimal("0.000")
        rows.append({"code": code, "name": labels.get(code, ""), "n_implementations": len(members),
                     "n_systems": n, "n_solutions": len({s for i in members for s in solutions.get(i, ())}),
                     "basis": basis, "index": str(f), "index_normalised": str(min(f_star, Decimal(1))),
                     "implementations": [{"id": i, "name": impls[i].name, "persons": counts[i],
                                          "solutions": [sol_names.get(s, str(s)) for s in solutions.get(i, ())]}
                                         for i in members]})
    mean = (sum((Decimal(r["index"]) for r in rows), ZERO) / len(rows)).quantize(Decimal("0.001")) if rows else None
    return {"country": iso3, "index": None if mean is None else str(mean), "codes": rows}


# ---------------------------------------------------------------- the gap view


def gap_view(session: Session, iso3: str, principal: Principal = ANONYMOUS) -> dict[str, Any]:
    """The country's maturity priorities beside the money reaching each: investment targets of kind
    priority for the indicator (direct), and of kind component for its component (shared by every
    priority of that component). A priority with neither is unfunded."""
    from dho.maturity import gaps

    country = reference.get_country(session, iso3)
    result = gaps.priorities(session, country.iso3)
    rates = money.Rates(session)
    direct: dict[str, Money] = defaultdict(Money)
    component: dict[str, Money] = defaultdict(Money)
    funders: dict[tuple[str, str], set[int]] = defaultdict(set)
    for p in _country_parts(session, principal, country.iso3):
        if p.kind == "priority" and p.ref:
            direct[p.ref].add(rates, p.amount, p.currency, p.year)
            funders[("priority", p.ref)].add(p.funder_org_id)
        elif p.kind == "component" and p.ref:
            component[p.ref].add(rates, p.amount, p.currency, p.year)
            funders[("component", p.ref)].add(p.funder_org_id)
    names = _org_names(session, {f for fs in funders.values() for f in fs})
    rows = []
    for rank, g in enumerate(result["gaps"], start=1):
        d, c = direct.get(g.code, Money()), component.get(g.component_id, Money())
        status = "funded" if not d.empty else ("component_only" if not c.empty else "unfunded")
        who = funders.get(("priority", g.code), set()) | funders.get(("component", g.component_id), set())
        rows.append({"rank": rank, "indicator": g.code, "component": g.component_id, "title": g.title,
                     "phase": g.phase, "target": g.target, "gap": g.gap, "priority": str(g.priority),
                     "direct": d.as_dict(), "component_money": c.as_dict(), "status": status,
                     "funders": sorted(names.get(f, str(f)) for f in who)})
    return {"country": country.iso3, "year": result["year"], "priorities": rows,
            "unfunded": sum(1 for r in rows if r["status"] == "unfunded")}
