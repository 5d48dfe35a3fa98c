"""Progress reports built from live data: the global report to the Assembly, a regional report and a
country report. This module only collects the data (a plain tree of values, tables and pre-rendered
SVG charts and maps); :mod:`dho.reports.document` renders it to HTML and :mod:`dho.reports.pdf` to PDF.

Reproducible by construction: nothing here reads the clock. The report's date is its data cut-off
(the latest change to the data it reads), every list is sorted, and charts are deterministic SVG,
so the same data give the same document. The indicator snapshot hash (``Results.snapshot``) and a
hash of the whole collected content are printed in the report."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dho import i18n
from dho.reference import service as reference
from dho.reports import charts, figures
from dho.reports import narratives as narrative_store
from dho.reports.narratives import SECTIONS, Scope

STAGES_AREA = ("indicators", "objectives", "charts", "maps", "narratives")
STAGES_COUNTRY = ("indicators", "objectives", "charts", "maturity", "strategy", "funding", "narratives")
DOCS = "/docs/indicators.md"
TOP = 5
RANKABLE = 3  # distinct country values a section needs before it lists leading and lagging countries
FALLBACK_YEAR = 2025  # the year of a report asked without one, on a database with no data at all

Progress = Callable[[str], None]


@dataclass
class Ctx:
    """What every part of one build shares."""

    fig: figures.Figures
    scope: Scope
    year: int
    geo: str
    members: set[str] | None
    geo_names: dict[str, str]
    countries: dict[str, str]
    regions: list[str]
    incomes: list[str]
    own_region: str | None
    raster: bool = False


def stages(kind: str) -> tuple[str, ...]:
    return STAGES_COUNTRY if kind == "country" else STAGES_AREA


# ---------------------------------------------------------------- cut-off


def data_cutoff(session: Session) -> dt.datetime | None:
    """The latest change to the data indicators and reports read (indicator data epoch, assessments,
    atlas records, strategies, plans, trainings). Figures are computed as of this day."""
    from dho.atlas.models import Implementation, Investment
    from dho.indicators.models import DataEpoch
    from dho.maturity.models import Assessment
    from dho.strategy.models import ActionPlan, Activity, NationalStrategy, Training

    stamps = [session.scalar(select(func.max(col))) for col in (
        DataEpoch.changed_at, Assessment.updated_at, Implementation.updated_at, Investment.updated_at,
        NationalStrategy.updated_at, ActionPlan.updated_at, Activity.updated_at, Training.updated_at)]
    known = [_utc(s) for s in stamps if s is not None]
    return max(known).replace(microsecond=0) if known else None


def cutoff(session: Session, scope: Scope, year: int, data: dt.datetime | None) -> dt.datetime | None:
    """The report's cut-off: the data cut-off, or the last edit of this report's narratives if later."""
    from dho.reports.models import ReportNarrative

    edited = session.scalar(select(func.max(ReportNarrative.updated_at)).where(
        ReportNarrative.scope == scope.kind, ReportNarrative.scope_code == scope.code, ReportNarrative.year == year))
    known = [s for s in (data, _utc(edited).replace(microsecond=0) if edited else None) if s is not None]
    return max(known) if known else None


def _utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


# ---------------------------------------------------------------- names


def _geo_names(session: Session, locale: str) -> dict[str, str]:
    names = {figures.WORLD: i18n._("World")}
    names.update({r.code: reference.localized(r, "name", locale) for r in reference.regions(session)})
    names.update({g.code: reference.localized(g, "name", locale) for g in reference.income_group_names(session)})
    return names


def _country_names(session: Session, locale: str) -> dict[str, str]:
    rows, _n = reference.search_countries(session, limit=1000)
    return {c.iso3: reference.country_name(c, locale) for c in rows}


def _objective_titles(session: Session, locale: str) -> dict[str, str]:
    return {e.id: reference.localized(e, "title", locale) for e in reference.strategy_elements(session)
            if e.kind == "strategic_objective"}


def _paragraphs(text: str) -> list[str]:
    return [p.strip() for p in text.split("\n\n") if p.strip()]


# ---------------------------------------------------------------- the build


def build(session: Session, kind: str, code: str | None, year: int | None, lang: str,
          progress: Progress | None = None, *, raster: bool = False) -> dict[str, Any]:
    """Collect a report. ``year`` None: the latest year with data. Raises NotFound / ValidationFailed
    for an unknown scope, code, year or language; a year without data gives a "no data" report.
    ``raster``: charts and maps as PNG pictures (for the PDF) instead of inline SVG."""
    lang = narrative_store.check_lang(lang)
    scope = narrative_store.check_scope(session, kind, code)
    if year is not None:
        year = narrative_store.check_year(year)
    step = progress or (lambda _s: None)
    token = i18n.set_locale(lang)
    try:
        return _build(session, scope, year, lang, step, raster)
    finally:
        i18n.reset_locale(token)


def default_year(years: list[int], data_cut: dt.datetime | None) -> int:
    """The report's year when none is asked for: the latest complete year with data (a year before
    the data cut-off's own year, which is still running), else the latest year with data."""
    complete = [y for y in years if data_cut is None or y < data_cut.year]
    if complete:
        return complete[-1]
    if years:
        return years[-1]
    return data_cut.year if data_cut else FALLBACK_YEAR


def _build(session: Session, scope: Scope, year: int | None, lang: str, step: Progress, raster: bool
           ) -> dict[str, Any]:
    data_cut = data_cutoff(session)
    fig = figures.load(session, lang, today=data_cut.date() if data_cut else None)
    step("indicators")
    if year is None:
        year = default_year(fig.years, data_cut)
    cut = cutoff(session, scope, year, data_cut)
    geo_names = _geo_names(session, lang)
    countries = _country_names(session, lang)
    geo = scope.code or figures.WORLD
    if scope.kind == "country":
        name = countries.get(scope.code, scope.code)
        title = i18n._("Digital health progress report: %(country)s, %(year)s", country=name, year=year)
    elif scope.kind == "region":
        name = geo_names.get(scope.code, scope.code)
        title = i18n._("Regional progress report on digital health: %(region)s, %(year)s", region=name, year=year)
    else:
        name = geo_names[figures.WORLD]
        title = i18n._("Global strategy on digital health: progress report, %(year)s", year=year)
    members = _members(session, scope)
    ctx = Ctx(fig, scope, year, geo, members, geo_names, countries, [r.code for r in reference.regions(session)],
              [g.code for g in reference.income_group_names(session)],
              reference.region_of(session, scope.code) if scope.kind == "country" else None, raster)
    headline = [figures.card(fig, c, geo, year) for c in fig.definitions]
    has_data = any(c.value is not None for c in headline)
    report: dict[str, Any] = {
        "scope": scope.kind, "code": scope.code, "name": name, "year": year, "lang": lang, "title": title,
        "snapshot": fig.snapshot, "epoch": getattr(fig.results, "epoch", None),
        "cutoff": cut.isoformat() if cut else None,
        "cutoff_text": i18n.fmt_datetime(cut, "short") if cut else i18n._("no data recorded yet"),
        "has_data": has_data, "years_with_data": fig.years,
        "headline": [c.as_dict() for c in headline],
        "legend_style": figures.legend_style(fig.definitions.values()),
    }
    titles = _objective_titles(session, lang)
    groups = fig.by_objective()
    sections = []
    for so in (*figures.OBJECTIVES, None):
        defs = groups.get(so, [])
        if so is None and not defs:
            continue
        sections.append(_objective(ctx, so, titles.get(so or "", ""), defs))
    step("objectives")
    for s in sections:
        for ind in s["indicators"]:
            ind["chart_svg"] = _trend_chart(ctx, ind["code"]) if has_data else Markup("")
    step("charts")
    if scope.kind != "country":
        for s in sections:
            lead = s.get("lead")
            s["map_svg"] = _map(ctx, lead) if lead and has_data else Markup("")
        step("maps")
    else:
        from dho.reports import country_parts

        as_of = min(dt.date(year, 12, 31), cut.date()) if cut else dt.date(year, 12, 31)
        report["maturity"] = country_parts.maturity(session, scope.code, year, lang)
        units = figures.unit_table(fig, scope.code, year)
        report["units"] = units.as_dict() if units else None
        step("maturity")
        report["strategy"] = country_parts.strategy(session, scope.code, as_of)
        step("strategy")
        report["funding"] = country_parts.funding(session, scope.code, year)
        report["implementations"] = country_parts.implementations(session, scope.code)
        step("funding")
    stored = narrative_store.texts(session, scope, year, lang)
    report["narratives"] = {
        sec: {"title": narrative_store.section_title(sec), "paragraphs": _paragraphs(stored[sec].text),
              "version": stored[sec].version} if sec in stored else
        {"title": narrative_store.section_title(sec), "paragraphs": [], "version": 0} for sec in SECTIONS}
    report["sections"] = sections
    report["method"] = [{"code": d.code, "name": d.name, "unit": d.unit, "method": str(getattr(d, "method", "") or ""),
                         "doc": f"{DOCS}#{d.code.lower()}"} for d in fig.definitions.values()]
    report["sources"] = _sources(scope)
    step("narratives")
    report["content_hash"] = content_hash(report)
    return report


def _members(session: Session, scope: Scope) -> set[str] | None:
    if scope.kind == "region":
        rows, _n = reference.search_countries(session, region=scope.code, limit=1000)
        return {c.iso3 for c in rows}
    if scope.kind == "country":
        return {scope.code}
    return None


def _objective(ctx: Ctx, so: str | None, so_title: str, defs: list[Any]) -> dict[str, Any]:
    fig = ctx.fig
    inds = []
    lead: str | None = None
    lead_spread = 0
    for d in defs:
        c = figures.card(fig, d.code, ctx.geo, ctx.year)
        inds.append({**c.as_dict(), "description": c.description, "breakdown": _breakdown(ctx, d),
                     "doc": f"{DOCS}#{d.code.lower()}"})
        period = figures.period_for(fig.results, d.code, ctx.year)
        if ctx.scope.kind != "country":
            spread = len({v for _i, v in figures.ranked_countries(fig, d.code, period, ctx.members)})
            # The section's map and ranking show its first indicator on which countries differ; a
            # ranking needs at least three different values to say something (a yes/no count does not).
            if spread > 1 and (lead is None or (lead_spread < RANKABLE <= spread)):
                lead, lead_spread = d.code, spread
    section: dict[str, Any] = {"id": so or "other", "title": so_title if so else i18n._("Cross-cutting indicators"),
                               "indicators": inds, "lead": lead, "lead_name": "", "leading": [], "lagging": []}
    if lead:
        d = fig.definitions[lead]
        period = figures.period_for(fig.results, lead, ctx.year)
        ranked = figures.ranked_countries(fig, lead, period, ctx.members)
        n = min(TOP, len(ranked) // 2) if lead_spread >= RANKABLE else 0

        def pick(rows: list[tuple[str, float]]) -> list[dict[str, str]]:
            return [{"iso3": i, "name": ctx.countries.get(i, i), "text": figures.fmt(d, v, fig.locale)}
                    for i, v in rows]

        section.update(lead_name=d.name, leading=pick(ranked[:n]),
                       lagging=pick(list(reversed(ranked[-n:]))) if n else [])
    return section


def _breakdown(ctx: Ctx, defn: Any) -> list[dict[str, Any]]:
    """Rows under an indicator: regions and income groups (global), member countries (region), or the
    country beside its region and the world (country)."""
    fig = ctx.fig
    period = figures.period_for(fig.results, defn.code, ctx.year)
    if ctx.scope.kind == "global":
        geos = [*ctx.regions, *ctx.incomes]
    elif ctx.scope.kind == "region":
        geos = [ctx.scope.code, *sorted(ctx.members or (), key=lambda i: ctx.countries.get(i, i))]
    else:
        geos = [g for g in (ctx.scope.code, ctx.own_region, figures.WORLD) if g]
    rows = []
    for g in geos:
        v = figures.value_of(fig.results, defn.code, g, period)
        rows.append({"geo": g, "label": ctx.geo_names.get(g) or ctx.countries.get(g, g),
                     "text": figures.fmt(defn, v, fig.locale),
                     "numerator": figures.part(getattr(v, "numerator", None)),
                     "denominator": figures.part(getattr(v, "denominator", None)),
                     "reporting": figures.plain(getattr(v, "reporting", None)),
                     "colour": figures.legend_colour(defn, v)})
    return rows


def _trend_chart(ctx: Ctx, code: str) -> Markup:
    fig = ctx.fig
    defn = fig.definitions[code]
    if ctx.scope.kind == "global":
        geos = [figures.WORLD, *ctx.regions]
    elif ctx.scope.kind == "region":
        geos = [ctx.scope.code, figures.WORLD]
    else:
        geos = [g for g in (ctx.scope.code, ctx.own_region, figures.WORLD) if g]
    series = {(ctx.geo_names.get(g) or ctx.countries.get(g, g)): figures.trend(fig, code, g, until=ctx.year)
              for g in geos}
    if sum(1 for pts in series.values() for _p, v in pts if v is not None) < 2:
        return Markup("")
    return charts.trend_chart(series, y_title=figures.engine().unit_label(str(defn.unit)), x_title=i18n._("Year"),
                              label=i18n._("Trend of %(name)s", name=defn.name), raster=ctx.raster)


def _map(ctx: Ctx, code: str) -> Markup:
    fig = ctx.fig
    defn = fig.definitions[code]
    period = figures.period_for(fig.results, code, ctx.year)
    title = i18n._("%(name)s, %(period)s", name=defn.name, period=period or ctx.year)
    drawn = figures.world_map(fig, code, period, ctx.countries, title=title, focus=ctx.members,
                              map_id=f"map-{figures.css_key(code)}")
    if ctx.raster:
        css = str(figures.legend_style([defn])).removeprefix("<style>").removesuffix("</style>")
        return charts.raster_map(drawn, css, title)
    return drawn


def _sources(scope: Scope) -> list[str]:
    out = [
        i18n._("Maturity: countries' published national assessments (unpublished work is never counted)."),
        i18n._("National digital-health strategies and their status history, as recorded in the registry."),
        i18n._("Action plans, their activities, milestones and updates; status computed from dates, money and "
               "updates."),
        i18n._("Trainings and their participants, one record per person."),
        i18n._("Atlas: approved implementations and investments; amounts converted to US dollars at the "
               "recorded yearly rates."),
        i18n._("Trust network participation and partnerships, with their joining and leaving dates."),
        i18n._("Reference data: countries, WHO regions and World Bank income groups by fiscal year."),
    ]
    return out


# ---------------------------------------------------------------- hashing and JSON


def _jsonable(value: Any) -> Any:
    if isinstance(value, Markup):
        return None
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items() if not isinstance(v, Markup)}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def as_json(report: dict[str, Any]) -> dict[str, Any]:
    """The report's data without its rendered charts and maps (for the API and the content hash)."""
    return _jsonable(report)


def content_hash(report: dict[str, Any]) -> str:
    body = {k: v for k, v in as_json(report).items() if k != "content_hash"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
                          .encode()).hexdigest()
