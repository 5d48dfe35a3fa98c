"""The indicator engine: every current definition, for every geography and period, in one pass.

Contract used by dashboards and reports:

* ``compute(session, codes=None, years=None) -> Results``: values for ISO3 countries, WHO regions
  ("AFR", ...), income groups of the period's year ("LIC", "LMC", "UMC", "HIC") and "WORLD", and for
  subnational units (ISO 3166-2, "PK-PB") where the data have them (``Results.units_of``).
  Results are cached per process under the data epoch (see dho.indicators.epoch).
* ``definitions(session, locale)``: what each indicator is, in the reader's language.
* ``records(session, code, geo, period)``: the records behind a number (drill-down).
* ``format_value(defn, value, locale)``: a number as a reader expects it.

How a value is made (docs/indicators.md says it in words):
1. For each country (and a "" bucket of records that belong to no country, which counts only for
   the world) the numerator and denominator expressions are evaluated for the period: each call
   such as ``count(strategies where status == "approved")`` keeps the records that match its filter
   and exist at the end of the period (stock: time aggregation last, mean, max) or start within it
   (flow: sum). Mean and max over time take the value at each month end and average / take the top.
2. The country value is factor x numerator / denominator (no denominator: factor x numerator); a
   zero denominator gives no value.
3. Groups: ``pooled`` sums numerators and denominators of their countries and divides; ``sum`` adds
   country values; ``mean`` and ``median`` take them over the countries that have a value.
4. Subnational units get values like countries, from their own records, for the definitions whose every
   call reads a source with unit records (sources.UNIT_SOURCES) and is not ``countries(...)``, and whose
   references have unit values.
   A unit never enters a group: regions, income groups and the world are made of countries only.
"""

from __future__ import annotations

import bisect
import datetime as dt
import hashlib
import re
import statistics
import threading
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from dho.i18n import _
from dho.indicators import epoch as data_epoch
from dho.indicators import expr as X
from dho.indicators import periods as P
from dho.indicators import sources as S
from dho.indicators.spec import Spec, SpecError, order, parse_spec

WORLD = "WORLD"
INCOME_GROUPS = ("LIC", "LMC", "UMC", "HIC")
CACHE_SIZE = 16


# ---------------------------------------------------------------- public value types


@dataclass(frozen=True)
class Value:
    numerator: float | None
    denominator: float | None
    value: float | None  # None: no data
    reporting: int  # how many countries contributed


@dataclass(frozen=True)
class Definition:
    code: str
    version: int
    name: str
    description: str
    objective: str | None
    unit: str
    decimals: int
    legend: list[dict[str, Any]]
    baseline: dict[str, Any] | None
    targets: dict[tuple[str, str], float]
    method: str
    spec: Spec
    period_type: str
    shipped: bool
    name_en: str = ""
    name_fr: str = ""
    description_en: str = ""
    description_fr: str = ""
    created_by: str = ""
    created_at: dt.datetime | None = None


class Results:
    """Computed values with the hash of the data they came from."""

    def __init__(self, snapshot: str, epoch: int, data: dict[str, dict[str, dict[str, Value]]],
                 period_order: dict[str, list[str]], state: _State | None = None):
        self.snapshot = snapshot
        self.epoch = epoch
        self._data = data
        self._periods = period_order
        self._state = state
        self._units: dict[str, str] = dict(state.info.units) if state is not None else {}
        self._unit_names: dict[str, str] = dict(state.info.unit_name) if state is not None else {}

    @property
    def codes(self) -> list[str]:
        return list(self._data)

    def value(self, code: str, geo: str, period: str) -> Value | None:
        return self._data.get(code, {}).get(geo, {}).get(period)

    def series(self, code: str, geo: str) -> list[tuple[str, Value]]:
        row = self._data.get(code, {}).get(geo, {})
        return [(p, row[p]) for p in self._periods.get(code, []) if p in row]

    def by_country(self, code: str, period: str) -> dict[str, Value]:
        """Country values (ISO3; never groups nor subnational units)."""
        return {geo: row[period] for geo, row in self._data.get(code, {}).items()
                if len(geo) == 3 and geo.isupper() and geo.isalpha() and geo not in _GROUP_CODES and period in row}

    def units_of(self, code: str, iso3: str, period: str) -> dict[str, Value]:
        """The subnational units of a country that have a value of the indicator in the period."""
        return {geo: row[period] for geo, row in self._data.get(code, {}).items()
                if self._units.get(geo) == iso3 and period in row and row[period].value is not None}

    def is_unit(self, geo: str) -> bool:
        return geo in self._units

    def unit_parent(self, geo: str) -> str | None:
        """The ISO3 of a unit's country (None: not a unit of these results)."""
        return self._units.get(geo)

    def unit_name(self, geo: str) -> str:
        """A unit's name as the atlas coverage rows give it, else its code."""
        return self._unit_names.get(geo) or geo

    def periods(self, code: str) -> list[str]:
        return list(self._periods.get(code, []))

    def geos(self, code: str) -> list[str]:
        return sorted(self._data.get(code, {}), key=_geo_order)


_GROUP_CODES = {WORLD, *INCOME_GROUPS, "AFR", "AMR", "EMR", "EUR", "SEAR", "WPR", "SEA"}


def _geo_order(geo: str) -> tuple[int, str]:
    if geo == WORLD:
        return (0, geo)
    if geo in INCOME_GROUPS:
        return (2, str(INCOME_GROUPS.index(geo)))
    if geo in _GROUP_CODES:
        return (1, geo)
    if S.UNIT_CODE.match(geo):
        return (4, geo)  # subnational units after the countries
    return (3, geo)


# ---------------------------------------------------------------- evaluation of one call


def _compile_cond(node: Any) -> Callable[[dict[str, Any], dict[str, Any]], bool]:
    """A predicate over a record's fields and the evaluation context (year, as-of date)."""
    if node is None:
        return lambda f, c: True
    if isinstance(node, X.And):
        parts = [_compile_cond(p) for p in node.parts]
        return lambda f, c: all(p(f, c) for p in parts)
    if isinstance(node, X.Or):
        parts = [_compile_cond(p) for p in node.parts]
        return lambda f, c: any(p(f, c) for p in parts)
    if isinstance(node, X.Not):
        inner = _compile_cond(node.operand)
        return lambda f, c: not inner(f, c)
    name = node.field

    def get(f: dict[str, Any], c: dict[str, Any]) -> Any:
        v = f.get(name)
        return v(c["asof"]) if callable(v) else v

    if isinstance(node, X.Truthy):
        return lambda f, c: bool(get(f, c))
    if isinstance(node, X.In):
        values = {(float(v) if isinstance(v, float) else v) for v in node.values}
        if node.negate:
            return lambda f, c: get(f, c) not in values
        return lambda f, c: get(f, c) in values
    op, want = node.op, node.value
    ops: dict[str, Callable[[Any, Any], bool]] = {
        "==": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
        "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b}
    test = ops[op]
    if isinstance(want, X.YearRel):
        offset = want.offset

        def rel(f: dict[str, Any], c: dict[str, Any]) -> bool:
            v = get(f, c)
            return v is not None and test(v, c["year"] + offset)
        return rel
    if op in ("==", "!="):
        return lambda f, c: test(get(f, c), want)

    def cmp(f: dict[str, Any], c: dict[str, Any]) -> bool:
        v = get(f, c)
        return v is not None and test(v, want)
    return cmp


def _is_dynamic(node: Any, source: str) -> bool:
    if node is None:
        return False
    fields = S.fields_of(source)
    return X.uses_year(node) or any(fields[f].dynamic for f in X.cond_fields(node) if f in fields)


class _Series:
    """The records of one country that pass a call's fixed filter, arranged for fast period queries."""

    def __init__(self, records: list[S.Record], value_field: str | None):
        self.records = [r for r in records if r.start is None or r.end is None or r.end > r.start]
        self.always = [r for r in self.records if r.start is None]
        dated = sorted((r for r in self.records if r.start is not None), key=lambda r: r.start)  # type: ignore
        self.dated = dated
        self.starts = [r.start for r in dated]
        ended = sorted((r for r in dated if r.end is not None), key=lambda r: r.end)  # type: ignore
        self.ends = [r.end for r in ended]
        self.field = value_field
        if value_field is not None:
            self.start_sums = _prefix(r.fields.get(value_field) for r in dated)
            self.end_sums = _prefix(r.fields.get(value_field) for r in ended)
            self.always_sum = sum(v for r in self.always if (v := r.fields.get(value_field)) is not None)

    def count_stock(self, day: dt.date) -> int:
        return len(self.always) + bisect.bisect_right(self.starts, day) - bisect.bisect_right(self.ends, day)

    def count_flow(self, first: dt.date, last: dt.date) -> int:
        return len(self.always) + bisect.bisect_right(self.starts, last) - bisect.bisect_left(self.starts, first)

    def sum_stock(self, day: dt.date) -> float:
        return (self.always_sum + self.start_sums[bisect.bisect_right(self.starts, day)]
                - self.end_sums[bisect.bisect_right(self.ends, day)])

    def sum_flow(self, first: dt.date, last: dt.date) -> float:
        return (self.always_sum + self.start_sums[bisect.bisect_right(self.starts, last)]
                - self.start_sums[bisect.bisect_left(self.starts, first)])

    def select(self, ctx: dict[str, Any]) -> list[S.Record]:
        """The records that count in the context's period (stock at ``asof``, or flow within it)."""
        if ctx["flow"]:
            lo = bisect.bisect_left(self.starts, ctx["first"])
            hi = bisect.bisect_right(self.starts, ctx["last"])
            return [*self.always, *self.dated[lo:hi]]
        day = ctx["asof"]
        hi = bisect.bisect_right(self.starts, day)
        return [*self.always, *(r for r in self.dated[:hi] if r.end is None or r.end > day)]


def _prefix(values: Iterable[Any]) -> list[float]:
    out = [0.0]
    for v in values:
        out.append(out[-1] + (float(v) if v is not None else 0.0))
    return out


# ---------------------------------------------------------------- the pass


@dataclass
class _State:
    info: S.CountryInfo
    records: dict[str, list[S.Record]]
    by_country: dict[str, dict[str, list[S.Record]]]
    specs: dict[str, Spec]
    today: dt.date
    series_cache: dict[tuple[str, str, str, str | None], _Series] = field(default_factory=dict)
    country_values: dict[str, dict[str, dict[str, Value]]] = field(default_factory=dict)
    unit_geos: dict[str, list[str]] = field(default_factory=dict)  # code -> the units it has values for

    def series(self, call: X.Agg, country: str, static: Any, static_key: str | None = None) -> _Series:
        key = (call.source, static_key if static_key is not None else repr(static), country, call.field)
        hit = self.series_cache.get(key)
        if hit is None:
            pred = _compile_cond(static)
            rows = [r for r in self.by_country.get(call.source, {}).get(country, ()) if pred(r.fields, {})]
            hit = self.series_cache[key] = _Series(rows, call.field)
        return hit


def _split(node: Any, source: str) -> tuple[Any, Any]:
    """Split a filter into the part fixed for all periods and the part that depends on the period."""
    if node is None:
        return None, None
    if not _is_dynamic(node, source):
        return node, None
    if isinstance(node, X.And):
        fixed = [p for p in node.parts if not _is_dynamic(p, source)]
        moving = [p for p in node.parts if _is_dynamic(p, source)]
        return (X.And(tuple(fixed)) if fixed else None), (X.And(tuple(moving)) if len(moving) > 1 else moving[0])
    return None, node


def _compile_call(call: X.Agg, state: _State) -> Callable[[str, dict[str, Any]], float | None]:
    static, moving = _split(call.where, call.source)
    dyn = _compile_cond(moving) if moving is not None else None
    func, fld = call.func, call.field
    mine: dict[str, _Series] = {}
    key = repr(static)

    def run(country: str, ctx: dict[str, Any]) -> float | None:
        s = mine.get(country)
        if s is None:
            s = mine[country] = state.series(call, country, static, key)
        if dyn is None and func in ("count", "countries"):
            n = s.count_flow(ctx["first"], ctx["last"]) if ctx["flow"] else s.count_stock(ctx["asof"])
            if func == "countries":
                return float(1 if n and country else 0)
            return float(n)
        if dyn is None and func == "sum":
            return s.sum_flow(ctx["first"], ctx["last"]) if ctx["flow"] else s.sum_stock(ctx["asof"])
        rows = s.select(ctx)
        if dyn is not None:
            rows = [r for r in rows if dyn(r.fields, ctx)]
        if func == "count":
            return float(len(rows))
        if func == "countries":
            return float(1 if rows and country else 0)
        if func == "last":
            dated = [r for r in rows if r.fields.get(fld) is not None]
            if not dated:
                return None
            best = max(dated, key=lambda r: (r.start or dt.date.min, str(r.id)))
            return float(best.fields[fld])
        values = [float(v) for r in rows if (v := r.fields.get(fld)) is not None]  # type: ignore[arg-type]
        if func == "sum":
            return float(sum(values))
        if not values:
            return None
        if func == "mean":
            return sum(values) / len(values)
        return max(values) if func == "max" else min(values)
    return run


def _compile(node: Any, state: _State) -> Callable[[str, dict[str, Any]], float | None]:
    if isinstance(node, X.Num):
        v = node.value
        return lambda c, ctx: v
    if isinstance(node, X.Ref):
        code = node.code

        def ref(c: str, ctx: dict[str, Any]) -> float | None:
            found = state.country_values.get(code, {}).get(c, {}).get(ctx["period"])
            return None if found is None else found.value
        return ref
    if isinstance(node, X.Neg):
        inner = _compile(node.operand, state)

        def neg(c: str, ctx: dict[str, Any]) -> float | None:
            v = inner(c, ctx)
            return None if v is None else -v
        return neg
    if isinstance(node, X.BinOp):
        left, right, op = _compile(node.left, state), _compile(node.right, state), node.op

        def binop(c: str, ctx: dict[str, Any]) -> float | None:
            a, b = left(c, ctx), right(c, ctx)
            if a is None or b is None:
                return None
            if op == "+":
                return a + b
            if op == "-":
                return a - b
            if op == "*":
                return a * b
            return None if b == 0 else a / b
        return binop
    return _compile_call(node, state)


def _ratio(num: float | None, den: float | None, has_den: bool, factor: float) -> float | None:
    if num is None:
        return None
    if not has_den:
        return factor * num
    if den is None or den == 0:
        return None
    return factor * num / den


def _country_values(code: str, spec: Spec, state: _State, plist: list[P.Period],
                    countries: list[str]) -> dict[str, dict[str, Value]]:
    num_tree, den_tree = spec.trees()
    num_fn = _compile(num_tree, state)
    den_fn = _compile(den_tree, state) if den_tree is not None else None
    flow = spec.time_aggregation == "sum"
    out: dict[str, dict[str, Value]] = {c: {} for c in countries}
    for p in plist:
        if flow:
            samples = [p.end]
        elif spec.time_aggregation == "last":
            samples = [min(p.end, state.today)]
        else:
            samples = [d for d in P.month_ends(p) if d <= state.today] or [state.today]
        ctxs = [{"flow": flow, "first": p.start, "last": p.end, "asof": d, "year": p.year, "period": p.code}
                for d in samples]
        for c in countries:
            got = []
            for ctx in ctxs:
                n = num_fn(c, ctx)
                d = den_fn(c, ctx) if den_fn is not None else None
                got.append((n, d, _ratio(n, d, den_fn is not None, spec.factor)))
            if len(got) == 1:
                n, d, v = got[0]
            else:
                known = [g for g in got if g[2] is not None]
                if not known:
                    n, d, v = got[-1]
                elif spec.time_aggregation == "max":
                    n, d, v = max(known, key=lambda g: g[2])  # type: ignore[arg-type, return-value]
                else:
                    n = _mean([g[0] for g in known])
                    d = _mean([g[1] for g in known])
                    v = _mean([g[2] for g in known])
            out[c][p.code] = Value(n, d, v, 1 if c and v is not None else 0)
    return out


def _mean(values: list[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return sum(vals) / len(vals) if vals else None


def _aggregate(spec: Spec, members: list[Value]) -> Value:
    has_den = spec.denominator is not None
    if spec.geo_aggregation in ("mean", "median"):
        vals = [m.value for m in members if m.value is not None]
        if not vals:
            return Value(None, None, None, 0)
        v = sum(vals) / len(vals) if spec.geo_aggregation == "mean" else float(statistics.median(vals))
        return Value(None, None, v, len(vals))
    contributing = [m for m in members if m.numerator is not None]
    if not contributing:
        return Value(None, None, None, 0)
    num = sum(m.numerator for m in contributing)  # type: ignore[misc]
    den = sum(m.denominator for m in contributing if m.denominator is not None) if has_den else None
    reporting = sum(1 for m in contributing if m.reporting and ((m.numerator or 0) != 0 or (m.denominator or 0) != 0))
    if spec.geo_aggregation == "sum":
        vals = [m.value for m in contributing if m.value is not None]
        return Value(num, den, float(sum(vals)) if vals else None, reporting)
    return Value(num, den, _ratio(num, den, has_den, spec.factor), reporting)


def _groups(info: S.CountryInfo, countries: list[str], period: P.Period) -> dict[str, list[str]]:
    key = (id(countries), len(countries), min(period.year, dt.date.today().year))
    hit = _GROUPS_MEMO.get(key)
    if hit is not None and hit[0] is countries:
        return hit[1]
    groups = _make_groups(info, countries, period)
    if len(_GROUPS_MEMO) > 256:
        _GROUPS_MEMO.clear()
    _GROUPS_MEMO[key] = (countries, groups)
    return groups


_GROUPS_MEMO: dict[tuple[int, int, int], tuple[list[str], dict[str, list[str]]]] = {}


def _make_groups(info: S.CountryInfo, countries: list[str], period: P.Period) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = defaultdict(list)
    for c in countries:
        groups[WORLD].append(c)
        if not c:
            continue
        region = info.region.get(c)
        if region:
            groups[region].append(c)
        income = info.income_in(c, min(period.year, dt.date.today().year))
        if income:
            groups[income].append(c)
    return groups


# ---------------------------------------------------------------- definitions


def current_definitions(session: Session) -> list[Any]:
    from dho.indicators.models import IndicatorDefinition

    return list(session.execute(select(IndicatorDefinition).where(IndicatorDefinition.current.is_(True))
                                .order_by(IndicatorDefinition.code)).scalars())


def _specs(rows: Iterable[Any]) -> dict[str, Spec]:
    out = {}
    for row in rows:
        try:
            out[row.code] = parse_spec(row.spec)
        except SpecError:
            continue  # a definition stored before a rule tightened: skipped, never crashes a page
    return out


def _needed_codes(specs: dict[str, Spec], codes: Iterable[str] | None) -> list[str]:
    if codes is None:
        return list(specs)
    from dho.indicators.spec import references

    want: set[str] = set()
    todo = [c for c in codes if c in specs]
    while todo:
        c = todo.pop()
        if c in want:
            continue
        want.add(c)
        todo.extend(r for r in references(specs[c]) if r in specs)
    return sorted(want)


def _default_years(records: dict[str, list[S.Record]], today: dt.date) -> list[int]:
    first = today.year
    for rows in records.values():
        for r in rows:
            if r.start is not None and r.start.year < first:
                first = r.start.year
    first = max(first, today.year - 14)
    return list(range(first, today.year + 1))


def _snapshot(specs: dict[str, Spec], records: dict[str, list[S.Record]], info: S.CountryInfo,
              years: list[int], versions: dict[str, int]) -> str:
    h = hashlib.sha256()
    for code in sorted(specs):
        h.update(f"def {code} v{versions.get(code, 0)} {specs[code].canonical()}\n".encode())
    h.update(f"years {years}\n".encode())
    for iso3 in sorted(info.member):
        h.update(f"c {iso3} {int(info.member[iso3])} {info.region.get(iso3)}\n".encode())
    for key in sorted(info.income):
        h.update(f"i {key[0]} {key[1]} {info.income[key]}\n".encode())
    for name in sorted(records):
        h.update(("\n".join(sorted(f"{name} {r.canonical()}" for r in records[name])) + "\n").encode())
    return h.hexdigest()


def _units_for(spec: Spec, state: _State) -> list[str]:
    """The subnational units a definition has values for: those with records in the sources it reads,
    when every call reads a source with unit records, none counts countries, and every referenced
    indicator has unit values (a count over a source that never has unit records would give a unit a
    meaningless zero; a unit is not a country)."""
    if not state.info.units:
        return []
    from dho.indicators.spec import references

    calls = [call for tree in spec.trees() if tree is not None for call in X.calls(tree)]
    refs = references(spec)
    if not (calls or refs) or any(c.source not in S.UNIT_SOURCES or c.func == "countries" for c in calls):
        return []
    found: set[str] = set()
    for call in calls:
        found.update(g for g in state.by_country.get(call.source, {}) if g in state.info.units)
    for ref in refs:
        if ref not in state.unit_geos:
            return []
        found.update(state.unit_geos[ref])
    return sorted(found)


def _calls_sources(specs: dict[str, Spec], codes: list[str]) -> set[str]:
    out = set()
    for c in codes:
        for tree in specs[c].trees():
            if tree is not None:
                out.update(call.source for call in X.calls(tree))
    return out


# ---------------------------------------------------------------- cache and entry point

_cache: OrderedDict[tuple[Any, ...], Results] = OrderedDict()
_lock = threading.Lock()


def clear_cache() -> None:
    with _lock:
        _cache.clear()


def compute(session: Session, *, codes: Iterable[str] | None = None, years: Iterable[int] | None = None,
            period_types: Iterable[str] | None = None, today: dt.date | None = None,
            on_progress: Callable[[str, int, int], None] | None = None) -> Results:
    """Values of the current definitions (``codes``: only these and what they reference) for every
    geography and period of the definition's own period type (``period_types`` asks for more:
    the bench computes every type), over ``years`` (default: the years the data covers, at most
    the last 15, up to this one). ``on_progress(code, done, total)`` is called after each indicator."""
    ep, changed = data_epoch.current(session)
    key = (str(session.get_bind().url), ep, changed, None if codes is None else tuple(sorted(set(codes))),
           None if years is None else tuple(sorted(set(years))),
           None if period_types is None else tuple(sorted(set(period_types))), today)
    cacheable = not data_epoch.has_uncommitted_changes(session) and not session.new and not session.dirty
    if cacheable:
        with _lock:
            hit = _cache.get(key)
            if hit is not None:
                _cache.move_to_end(key)
                return hit
    results = _compute(session, codes, years, period_types, today or dt.date.today(), ep, on_progress)
    if cacheable:
        with _lock:
            _cache[key] = results
            while len(_cache) > CACHE_SIZE:
                _cache.popitem(last=False)
    return results


def _compute(session: Session, codes: Iterable[str] | None, years: Iterable[int] | None,
             period_types: Iterable[str] | None, today: dt.date, ep: int,
             on_progress: Callable[[str, int, int], None] | None = None) -> Results:
    rows = current_definitions(session)
    versions = {r.code: r.version for r in rows}
    specs = _specs(rows)
    wanted = _needed_codes(specs, codes)
    specs = {c: specs[c] for c in wanted}
    info = S.load_countries(session)
    records = S.load(session, info, _calls_sources(specs, wanted))
    by_country: dict[str, dict[str, list[S.Record]]] = {}
    present: set[str] = {c for c, m in info.member.items() if m}
    for name, rows_ in records.items():
        bucket: dict[str, list[S.Record]] = defaultdict(list)
        for r in rows_:
            bucket[r.country].append(r)
            if r.country:
                present.add(r.country)
        by_country[name] = bucket
    year_list = sorted(set(years)) if years is not None else _default_years(records, today)
    countries = [*sorted(c for c in present if c in info.member), ""]
    state = _State(info, records, by_country, specs, today)
    data: dict[str, dict[str, dict[str, Value]]] = {}
    period_order: dict[str, list[str]] = {}
    codes_in_order = order(specs)
    for done, code in enumerate(codes_in_order, 1):
        spec = specs[code]
        types = [spec.period_type] if period_types is None else list(dict.fromkeys([spec.period_type,
                                                                                    *period_types]))
        plist = [p for t in types for p in P.periods_of(t, year_list, spec.fy_start_month, until=today)]
        units = state.unit_geos[code] = _units_for(spec, state)
        cv = _country_values(code, spec, state, plist, [*countries, *units] if units else countries)
        state.country_values[code] = cv
        geo: dict[str, dict[str, Value]] = {c: cv[c] for c in countries if c}
        for p in plist:
            for g, members in _groups(info, countries, p).items():  # countries only: never a unit
                geo.setdefault(g, {})[p.code] = _aggregate(spec, [cv[c][p.code] for c in members])
        for u in units:
            geo[u] = cv[u]
        data[code] = geo
        period_order[code] = [p.code for p in sorted(plist, key=lambda p: (p.type, p.start))]
        if on_progress is not None:
            on_progress(code, done, len(codes_in_order))
    snapshot = _snapshot(specs, records, info, year_list, versions)
    return Results(snapshot, ep, data, period_order, state)


# ---------------------------------------------------------------- definitions for readers


def definitions(session: Session, locale: str | None = None) -> list[Definition]:
    """Every current definition with its targets, in the reader's language (default: the request's)."""
    from dho.i18n import get_locale

    locale = locale or get_locale()
    from dho.indicators.models import IndicatorTarget

    targets: dict[str, dict[tuple[str, str], float]] = defaultdict(dict)
    for t in session.execute(select(IndicatorTarget)).scalars():
        targets[t.code][(t.geo, t.period)] = float(t.value)
    out = []
    for row in current_definitions(session):
        try:
            spec = parse_spec(row.spec)
        except SpecError:
            continue
        out.append(definition_of(row, spec, locale, targets.get(row.code, {})))
    return out


def definition_of(row: Any, spec: Spec, locale: str, targets: dict[tuple[str, str], float]) -> Definition:
    from dho.indicators.method import describe

    fr = locale.startswith("fr")
    return Definition(
        code=row.code, version=row.version, name=(row.name_fr if fr and row.name_fr else row.name_en),
        description=(row.description_fr if fr and row.description_fr else row.description_en),
        objective=row.objective, unit=spec.unit, decimals=spec.decimals,
        legend=[{"from": b.from_, "to": b.to, "colour": b.colour,
                 "label": (b.label_fr if fr and b.label_fr else b.label_en)} for b in spec.legend],
        baseline=None if spec.baseline is None else spec.baseline.model_dump(),
        targets=targets, method=describe(spec, locale), spec=spec, period_type=spec.period_type,
        shipped=row.shipped, name_en=row.name_en, name_fr=row.name_fr, description_en=row.description_en,
        description_fr=row.description_fr, created_by=row.created_by, created_at=row.created_at)


# ---------------------------------------------------------------- drill-down


def records(session: Session, code: str, geo: str, period: str, limit: int = 200) -> list[dict[str, Any]]:
    """The records behind a value: for each call of the numerator and denominator, the records of
    the geography's countries (or of the subnational unit) that count in the period (at most ``limit``
    in all). An unknown geography has no records."""
    results = compute(session, codes=[code])
    state = results._state
    if state is None or code not in state.specs:
        return []
    spec = state.specs[code]
    p = P.parse(period, spec.fy_start_month)
    if p.code not in results.periods(code) and p.type != spec.period_type:
        return []
    if geo in state.info.units:
        countries = [geo] if geo in state.unit_geos.get(code, ()) else []
    else:
        countries = [c for c in (*sorted(state.info.member), "") if c in _members_of(state, geo, p)]
    flow = spec.time_aggregation == "sum"
    ctx = {"flow": flow, "first": p.start, "last": p.end, "asof": min(p.end, state.today), "year": p.year,
           "period": p.code}
    out: list[dict[str, Any]] = []
    num, den = spec.trees()
    for part, tree in (("numerator", num), ("denominator", den)):
        if tree is None:
            continue
        for call in X.calls(tree):
            static, moving = _split(call.where, call.source)
            dyn = _compile_cond(moving) if moving is not None else None
            for c in countries:
                rows = state.series(call, c, static).select(ctx)
                for r in rows:
                    if dyn is not None and not dyn(r.fields, ctx):
                        continue
                    value = r.fields.get(call.field) if call.field else None
                    out.append({"part": part, "call": call.text, "source": call.source, "kind": r.kind,
                                "id": str(r.id), "country": r.country, "label": r.label, "link": r.link,
                                "date": r.start.isoformat() if r.start else None,
                                "value": value(ctx["asof"]) if callable(value) else value})
                    if len(out) >= limit:
                        return out
    return out


def _members_of(state: _State, geo: str, p: P.Period) -> set[str]:
    """The countries of a geography (a unit's records are never part of a country, a region or the world)."""
    units = state.info.units
    countries = [c for c in state.info.member if state.info.member[c]] + [
        c for rows in state.by_country.values() for c in rows if c and c not in units]
    countries = [*sorted(set(countries)), ""]
    if len(geo) == 3 and geo not in _GROUP_CODES:
        return {geo}
    return set(_groups(state.info, countries, p).get(geo, []))


# ---------------------------------------------------------------- formatting


def format_value(defn: Definition, value: float | Value | None, locale: str) -> str:
    """A value as a reader of ``locale`` writes it: decimal sign, grouping, "%" or "US$"."""
    from babel.numbers import format_currency, format_decimal, format_percent

    if isinstance(value, Value):
        value = value.value
    if value is None:
        return "—"
    digits = "0" * defn.decimals
    pattern = "#,##0" + (f".{digits}" if digits else "")
    loc = locale.replace("-", "_")
    if defn.unit == "percent":
        from babel import Locale

        base = Locale.parse(loc).percent_formats[None].pattern.split(";")[0]
        last_zero = base.rfind("0")
        pct = base[:last_zero + 1] + (f".{digits}" if digits else "") + base[last_zero + 1:]
        return format_percent(value / 100, format=pct, locale=loc)
    if defn.unit == "currency_usd":
        from babel import Locale

        base = Locale.parse(loc).currency_formats["standard"].pattern.split(";")[0]
        money = re.sub(r"0(?:\.0+)?(?!.*0)", "0" + (f".{digits}" if digits else ""), base)
        return format_currency(value, "USD", format=money, locale=loc, currency_digits=False)
    text = format_decimal(value, format=pattern, locale=loc)
    return f"{text} ‰" if defn.unit == "per1000" else text


def unit_label(unit: str) -> str:
    """A unit as a reader names it (chart axes)."""
    labels = {"percent": _("percent"), "number": _("number"), "per1000": _("per 1,000"),
              "currency_usd": _("US dollars"), "phase": _("phase")}
    return labels.get(unit, unit)
