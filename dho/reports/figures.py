"""Indicator figures as dashboards and reports show them, read from the indicator engine.

Everything numeric comes from :mod:`dho.indicators.engine` (``compute``, ``definitions``,
``format_value``): this module only picks the period of a year, the legend colour of a value, the
target and the distance to it, and the trend, so that the dashboard cards and the report sections
say the same thing in the same words."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import re
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from markupsafe import Markup, escape
from sqlalchemy.orm import Session

from dho import i18n
from dho.web import worldmap

WORLD = "WORLD"
OBJECTIVES = ("SO1", "SO2", "SO3", "SO4")


def engine() -> Any:
    """The indicator engine module (imported late: it is built beside this domain)."""
    from dho.indicators import engine as indicator_engine

    return indicator_engine


@dataclass
class Figures:
    """One computation of every indicator, with the definitions in one language."""

    results: Any
    definitions: dict[str, Any]  # code -> Definition, in the engine's order
    locale: str
    years: list[int] = field(default_factory=list)  # years with at least one value, ascending

    @property
    def snapshot(self) -> str:
        return str(self.results.snapshot)

    def by_objective(self) -> dict[str | None, list[Any]]:
        out: dict[str | None, list[Any]] = {}
        for d in self.definitions.values():
            out.setdefault(d.objective or None, []).append(d)
        return out


def load(session: Session, locale: str, *, codes: Iterable[str] | None = None, today: dt.date | None = None
         ) -> Figures:
    """Compute the indicators (all of them, or ``codes``) over every period the engine knows, as of
    ``today`` (reports pass their cut-off date so that a rebuild gives the same figures)."""
    eng = engine()
    wanted = list(codes) if codes is not None else None
    defs = {d.code: d for d in eng.definitions(session, locale=locale) if wanted is None or d.code in wanted}
    results = eng.compute(session, codes=list(defs) if wanted is not None else None, today=today)
    defs = {code: _with_legend(d, results) for code, d in defs.items()}
    years: set[int] = set()
    for code in defs:
        for period in _safe_periods(results, code):
            year = year_of(period)
            if year is not None and any(v.value is not None
                                        for v in _by_country_and_world(results, code, period)):
                years.add(year)
    return Figures(results, defs, locale, sorted(years))


BLUES = ("#deebf7", "#9ecae1", "#6baed6", "#3182bd", "#08519c")


def _with_legend(defn: Any, results: Any) -> Any:
    """A definition without colour bands gets five even bands (0-100 for a percentage, else from 0 to
    the largest country value), so that every indicator can colour the map."""
    if getattr(defn, "legend", None) or not dataclasses.is_dataclass(defn):
        return defn
    if defn.unit == "percent":
        top = 100.0
    else:
        top = max((v.value for p in _safe_periods(results, defn.code)
                   for v in results.by_country(defn.code, p).values() if v.value is not None), default=0.0)
        if top <= 0:
            return defn
    if top <= len(BLUES) - 1 and float(top).is_integer():
        # Few whole values (a yes/no count, say): one band per value, labelled by the value itself.
        n = int(top) + 1
        colours = BLUES[len(BLUES) - n:] if n > 1 else BLUES[-1:]
        bands = [{"from": float(k), "to": float(k + 1), "colour": colours[k], "label": _whole_label(defn, float(k))}
                 for k in range(n)]
        return dataclasses.replace(defn, legend=bands)
    step = nice_step(top / len(BLUES))
    bands = [{"from": round(i * step, 6), "to": round((i + 1) * step, 6), "colour": c, "label": ""}
             for i, c in enumerate(BLUES)]
    return dataclasses.replace(defn, legend=bands)


def nice_step(raw: float) -> float:
    """The smallest 1, 2, 2.5 or 5 x 10^k step at least ``raw`` (legend bands with round edges)."""
    if raw <= 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(raw))
    for m in (1.0, 2.0, 2.5, 5.0, 10.0):
        if m * power >= raw * (1 - 1e-12):
            return m * power
    return 10.0 * power


def _whole_label(defn: Any, value: float) -> dict[str, str]:
    return {loc: fmt(defn, value, loc) for loc in ("en", "fr")}


def _safe_periods(results: Any, code: str) -> list[str]:
    try:
        return [str(p) for p in results.periods(code)]
    except KeyError:
        return []


def _by_country_and_world(results: Any, code: str, period: str) -> list[Any]:
    world = results.value(code, WORLD, period)
    return [world] if world is not None else []


def year_of(period: str) -> int | None:
    m = re.match(r"^(?:FY)?(\d{4})", period or "")
    return int(m.group(1)) if m else None


def period_for(results: Any, code: str, year: int) -> str | None:
    """The indicator's period for a year: the year itself, else its last sub-period (quarter, month)."""
    periods = _safe_periods(results, code)
    for own in (str(year), f"FY{year}"):
        if own in periods:
            return own
    inside = sorted(p for p in periods if year_of(p) == year)
    return inside[-1] if inside else None


def value_of(results: Any, code: str, geo: str, period: str | None) -> Any:
    if period is None:
        return None
    try:
        return results.value(code, geo, period)
    except KeyError:
        return None


def number(value: Any) -> float | None:
    """The value as a float for charts and sorting (None stays None)."""
    v = getattr(value, "value", value)
    return None if v is None else float(v)


def fmt(defn: Any, value: Any, locale: str) -> str:
    """The engine's formatting, or an em dash for no data."""
    v = getattr(value, "value", value)
    if v is None:
        return "—"
    return str(engine().format_value(defn, v, locale))


# ---------------------------------------------------------------- legend colours

_HEX = re.compile(r"^#[0-9a-fA-F]{3,8}$")


def css_key(code: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", code)


def legend_index(defn: Any, value: Any) -> int | None:
    """Which legend band holds the value (bands are [from, to), the last one closed)."""
    v = number(value)
    legend = list(getattr(defn, "legend", None) or [])
    if v is None:
        return None
    for i, band in enumerate(legend):
        lo, hi = band.get("from"), band.get("to")
        last = i == len(legend) - 1
        if (lo is None or v >= float(lo)) and (hi is None or v < float(hi) or (last and v <= float(hi))):
            return i
    return None


def legend_colour(defn: Any, value: Any) -> str | None:
    i = legend_index(defn, value)
    if i is None:
        return None
    colour = str(defn.legend[i].get("colour") or "")
    return colour if _HEX.match(colour) else None


def legend_label(defn: Any, band: dict[str, Any], locale: str) -> str:
    label = band.get("label")
    if isinstance(label, dict):
        label = label.get(locale) or label.get("en")
    if label:
        return str(label)
    lo, hi = band.get("from"), band.get("to")
    low = "" if lo is None else fmt(defn, float(lo), locale)
    high = "" if hi is None else fmt(defn, float(hi), locale)
    return f"{low}–{high}"


def legend_style(defs: Iterable[Any]) -> Markup:
    """A <style> block with one fill class per legend band (``ind-CODE-i``) for the world map."""
    rules = []
    for d in defs:
        for i, band in enumerate(getattr(d, "legend", None) or []):
            colour = str(band.get("colour") or "")
            if _HEX.match(colour):
                k = f"{css_key(d.code)}-{i}"
                rules.append(f".ind-{k}{{fill:{colour}}}.swatch-{k}{{background:{colour}}}"
                             f".border-{k}{{border-left-color:{colour}}}")
    return Markup("<style>" + "".join(rules) + "</style>")  # noqa: S704 (codes sanitised, colours checked)


def legend_css(defs: Iterable[Any]) -> str:
    """The same rules as a stylesheet (pages under the site's CSP load it as a file)."""
    return str(legend_style(defs)).removeprefix("<style>").removesuffix("</style>")


def band_class(defn: Any, value: Any) -> str:
    """The CSS key of the value's legend band ("CODE-i"), or "" without one."""
    i = legend_index(defn, value)
    return "" if i is None or not legend_colour(defn, value) else f"{css_key(defn.code)}-{i}"


def world_map(fig: Figures, code: str, period: str | None, names: dict[str, str], *, title: str,
              focus: Collection[str] | None = None, href_for: Callable[[str], str | None] | None = None,
              map_id: str = "ind-map") -> Markup:
    """The offline world map coloured by one indicator's country values in one period."""
    defn = fig.definitions[code]
    values: dict[str, worldmap.MapValue] = {}
    if period is not None:
        for iso3, v in sorted(fig.results.by_country(code, period).items()):
            i = legend_index(defn, v)
            if i is not None:
                values[iso3] = worldmap.MapValue(str(i), fmt(defn, v, fig.locale))
    entries = [worldmap.LegendEntry(str(i), legend_label(defn, band, fig.locale), f"ind-{css_key(code)}-{i}")
               for i, band in enumerate(getattr(defn, "legend", None) or [])]
    legend = worldmap.Legend(entries=entries, caption=defn.name, no_data=i18n._("No data"))
    return worldmap.render(values, legend=legend, title=title, names=names, href_for=href_for, focus=focus,
                           map_id=map_id, hatch=focus is not None)


# ---------------------------------------------------------------- targets and trends


def target_for(defn: Any, geo: str, period: str | None) -> tuple[str, Decimal] | None:
    """The target of this geography for the period, else its next later target, else the latest."""
    targets = {p: Decimal(str(v)) for (g, p), v in (getattr(defn, "targets", None) or {}).items() if g == geo}
    if not targets:
        return None
    if period and period in targets:
        return period, targets[period]
    later = sorted(p for p in targets if period is None or p > period)
    key = later[0] if later else sorted(targets)[-1]
    return key, targets[key]


def lower_is_better(defn: Any, target: Decimal) -> bool:
    """A target below the baseline means the indicator should fall."""
    baseline = getattr(defn, "baseline", None)
    if isinstance(baseline, dict):
        baseline = baseline.get("value")
    try:
        return baseline is not None and target < Decimal(str(baseline))
    except ArithmeticError:
        return False


def distance(defn: Any, value: Any, target: tuple[str, Decimal] | None, locale: str) -> tuple[str, str]:
    """(state, text): state is met, behind or unknown; the text says how far."""
    v = getattr(value, "value", value)
    if target is None or v is None:
        return "unknown", ""
    period, goal = target
    gap = goal - Decimal(str(v))
    if lower_is_better(defn, goal):
        gap = -gap
    if gap <= 0:
        return "met", i18n._("target %(target)s for %(period)s met", target=fmt(defn, goal, locale), period=period)
    return "behind", i18n._("%(gap)s to reach %(target)s by %(period)s", gap=fmt(defn, gap, locale),
                            target=fmt(defn, goal, locale), period=period)


def trend(fig: Figures, code: str, geo: str, *, until: int | None = None) -> list[tuple[str, float | None]]:
    """The yearly series of a geography (the year's own period, or its last sub-period)."""
    try:
        series = fig.results.series(code, geo)
    except KeyError:
        return []
    by_year: dict[int, tuple[str, float | None, bool]] = {}
    for period, value in series:
        year = year_of(str(period))
        if year is None or (until is not None and year > until):
            continue
        own = str(period) in (str(year), f"FY{year}")
        held = by_year.get(year)
        if own or held is None or (not held[2] and str(period) > held[0]):
            by_year[year] = (str(period), number(value), own)
    return [(str(y), by_year[y][1]) for y in sorted(by_year)]


def sparkline(points: list[tuple[str, float | None]], *, label: str, width: int = 120, height: int = 32) -> Markup:
    """A small inline SVG line of the trend (gaps where there is no data)."""
    vals = [v for _p, v in points if v is not None]
    if len(vals) < 2:
        return Markup("")
    lo, hi = min(vals), max(vals)
    span = (hi - lo) or 1.0
    step = (width - 4) / max(1, len(points) - 1)
    coords = []
    for i, (_p, v) in enumerate(points):
        if v is None:
            coords.append(None)
            continue
        coords.append((2 + i * step, height - 3 - (v - lo) / span * (height - 6)))
    path, pen = [], "M"
    for c in coords:
        if c is None:
            pen = "M"
            continue
        path.append(f"{pen}{c[0]:.1f},{c[1]:.1f}")
        pen = "L"
    last = next(c for c in reversed(coords) if c is not None)
    return Markup(  # noqa: S704 (numbers and an escaped label)
        f'<svg class="sparkline" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'aria-label="{escape(label)}"><path d="{" ".join(path)}" fill="none" stroke="currentColor" '
        f'stroke-width="1.5"/><circle cx="{last[0]:.1f}" cy="{last[1]:.1f}" r="2.5" fill="currentColor"/></svg>')


@dataclass
class Card:
    """One indicator for one geography and year, ready to show."""

    code: str
    name: str
    description: str
    objective: str | None
    unit: str
    period: str | None
    value: float | None
    text: str
    numerator: str
    denominator: str
    reporting: Any
    colour: str | None
    band: str
    target_text: str
    target_state: str
    trend: list[tuple[str, float | None]]
    method: str

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "name": self.name, "objective": self.objective, "unit": self.unit,
                "period": self.period, "value": self.value, "text": self.text, "numerator": self.numerator,
                "denominator": self.denominator, "reporting": plain(self.reporting), "colour": self.colour,
                "target": self.target_text, "target_state": self.target_state,
                "trend": [[p, v] for p, v in self.trend]}


def plain(v: Any) -> Any:
    if v is None or isinstance(v, (int, float, str, bool)):
        return v
    if isinstance(v, Decimal):
        return str(v)
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    if isinstance(v, dict):
        return {str(k): plain(x) for k, x in sorted(v.items(), key=lambda kv: str(kv[0]))}
    return str(v)


def part(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        v = Decimal(str(round(v, 4)))
    if isinstance(v, Decimal):
        v = v.quantize(Decimal(1)) if v == v.to_integral_value() else v.normalize()
        return format(v, "f")
    return str(v)


def card(fig: Figures, code: str, geo: str, year: int) -> Card:
    defn = fig.definitions[code]
    period = period_for(fig.results, code, year)
    value = value_of(fig.results, code, geo, period)
    target = target_for(defn, geo, period)
    state, target_text = distance(defn, value, target, fig.locale)
    return Card(
        code=code, name=defn.name, description=defn.description or "", objective=defn.objective, unit=defn.unit,
        period=period, value=number(value), text=fmt(defn, value, fig.locale),
        numerator=part(getattr(value, "numerator", None)), denominator=part(getattr(value, "denominator", None)),
        reporting=getattr(value, "reporting", None), colour=legend_colour(defn, value),
        band=band_class(defn, value),
        target_text=target_text, target_state=state, trend=trend(fig, code, geo, until=year),
        method=str(getattr(defn, "method", "") or ""))


@dataclass
class UnitTable:
    """A country's subnational units beside the indicators that have values for them in one year."""

    columns: list[dict[str, Any]]  # {"code", "name", "unit", "period"}
    rows: list[dict[str, Any]]  # {"code", "name", "cells": [{"text", "value", "period"} or None per column]}

    def as_dict(self) -> dict[str, Any]:
        return {"columns": self.columns, "rows": self.rows}


def unit_table(fig: Figures, iso3: str, year: int) -> UnitTable | None:
    """The units of a country with at least one value in the year (None: no unit has one). Columns are
    the indicators with at least one unit value; a unit without a value of a column shows nothing."""
    units_of = getattr(fig.results, "units_of", None)
    if units_of is None:
        return None
    columns: list[dict[str, Any]] = []
    found: dict[str, dict[str, Any]] = {}
    for code, defn in fig.definitions.items():
        period = period_for(fig.results, code, year)
        if period is None:
            continue
        values = units_of(code, iso3, period)
        if not values:
            continue
        columns.append({"code": code, "name": defn.name, "unit": defn.unit, "period": period})
        for unit, v in values.items():
            found.setdefault(unit, {})[code] = {"text": fmt(defn, v, fig.locale), "value": number(v),
                                                "period": period, "band": band_class(defn, v)}
    if not columns:
        return None
    name = getattr(fig.results, "unit_name", lambda u: u)
    rows = [{"code": u, "name": name(u), "cells": [cells.get(c["code"]) for c in columns]}
            for u, cells in found.items()]
    rows.sort(key=lambda r: (str(r["name"]).casefold(), r["code"]))
    return UnitTable(columns, rows)


def ranked_countries(fig: Figures, code: str, period: str | None, members: Collection[str] | None = None
                     ) -> list[tuple[str, float]]:
    """Countries with a value, highest first (ties by code), optionally within ``members``."""
    if period is None:
        return []
    rows = [(iso3, number(v)) for iso3, v in fig.results.by_country(code, period).items()
            if (members is None or iso3 in members) and number(v) is not None]
    return sorted(((i, v) for i, v in rows if v is not None), key=lambda r: (-r[1], r[0]))
