"""Maturity map and group pages: the world map of published phases, and the WHO-region and
World Bank income-group views with their aggregates.

Published assessments only (published data is public: no permission is needed). Every figure
comes from the maturity service (``latest_published``, ``Published.score``, ``aggregates``)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup, escape
from sqlalchemy import select
from sqlalchemy.orm import Session

from dho import i18n
from dho.accounts.permissions import Principal
from dho.errors import FieldError, NotFound, ValidationFailed
from dho.maturity import service
from dho.maturity.models import Assessment
from dho.reference import service as reference
from dho.reference.loader import fold
from dho.web import worldmap
from dho.web.deps import current_principal, db_session
from dho.web.templating import render

router = APIRouter(include_in_schema=False)

YearQ = Annotated[str | None, Query(max_length=6, pattern=r"^(latest|\d{4})?$")]
ComponentQ = Annotated[str | None, Query(max_length=4)]
IndicatorQ = Annotated[str | None, Query(max_length=8)]
RuleQ = Annotated[str, Query(pattern="^(gdhm|nearest)$")]
MethodQ = Annotated[str, Query(pattern="^(mean_of_countries|pooled)$")]
LATEST = "latest"
PHASES = (1, 2, 3, 4, 5)


# ---------------------------------------------------------------- shared reading


def _texts(session: Session) -> dict[str, Any]:
    """Component, indicator and phase names in the user's language, from the framework document."""
    locale = i18n.get_locale()
    doc = service.framework_document(service.get_framework(session, service.DEFAULT_FRAMEWORK))

    def t(d: dict[str, str] | None) -> str:
        return (d or {}).get(locale) or (d or {}).get("en", "")

    components = [{"id": str(c["id"]), "title": t(c["title"]),
                   "indicators": [{"code": str(i["code"]), "title": t(i["title"]), "core": bool(i["core"])}
                                  for i in c["indicators"]]} for c in doc["components"]]
    return {"title": t(doc["title"]), "components": components,
            "phase_names": {int(p): t(n) for p, n in (doc.get("phase_names") or {}).items()}}


def published_years(session: Session, framework_id: str = service.DEFAULT_FRAMEWORK) -> list[int]:
    """Years with at least one published national assessment, most recent first."""
    return list(session.execute(
        select(Assessment.year).where(Assessment.published_version > 0, Assessment.subdivision == "",
                                      Assessment.framework_id == framework_id)
        .distinct().order_by(Assessment.year.desc())).scalars())


def _year(raw: str | None, years: list[int], *, default_latest: bool) -> tuple[int | None, str]:
    """(year for the service or None for each country's latest, value of the year selector)."""
    if raw in (None, ""):
        if default_latest or not years:
            return None, LATEST
        return years[0], str(years[0])
    if raw == LATEST:
        return None, LATEST
    year = int(raw)
    if not 2000 <= year <= 2100:
        raise ValidationFailed(i18n._("The year is out of range."),
                               errors=[FieldError("year", i18n._("use 2000-2100, or latest"))])
    return year, raw


def _rule_label(rule: str) -> str:
    return i18n._("nearest (unbiased)") if rule == "nearest" else i18n._("GDHM (ceiling)")


def _all_countries(session: Session) -> list[Any]:
    rows, _total = reference.search_countries(session, limit=1000)
    return rows


def _phase_legend(texts: dict[str, Any], caption: str, note: str, outside: str = "") -> worldmap.Legend:
    names = texts["phase_names"]
    return worldmap.Legend(
        entries=[worldmap.LegendEntry(str(p), f"{p} · {names.get(p, '')}", f"wm-ph-{p}") for p in PHASES],
        caption=caption, note=note, no_data=i18n._("No published data"), outside=outside)


def _value_text(texts: dict[str, Any], phase: int | None, score: Any, year: int, *, with_score: bool) -> str:
    if phase is None:
        return i18n._("not available (%(year)s)", year=year)
    name = texts["phase_names"].get(phase, "")
    if with_score and score is not None:
        return i18n._("phase %(phase)s, %(name)s; score %(score)s (%(year)s)", phase=phase, name=name,
                      score=i18n.fmt_score(score), year=year)
    return i18n._("phase %(phase)s, %(name)s (%(year)s)", phase=phase, name=name, year=year)


def _href(rule: str) -> Any:
    return lambda iso3: f"/maturity/countries/{iso3}?rule={rule}"


# ---------------------------------------------------------------- the map page


@dataclass
class Selection:
    kind: str  # overall | component | indicator
    component: str  # the component selector's value ("" for overall)
    indicator: str  # the indicator selector's value ("" for none)
    label: str


def _selection(texts: dict[str, Any], component: str | None, indicator: str | None) -> Selection:
    """What the map is coloured by. An indicator shows when it belongs to the chosen component (or no
    component is chosen); when the component changed to one that does not hold the indicator, the
    component wins (the indicator selector lists only the chosen component's indicators)."""
    comps = {c["id"]: c for c in texts["components"]}
    owner = {i["code"]: c for c in texts["components"] for i in c["indicators"]}
    errors = []
    if component and component not in comps:
        errors.append(FieldError("component", i18n._("use a component from 1 to %(n)s", n=len(comps))))
    if indicator and indicator not in owner:
        errors.append(FieldError("indicator", i18n._("unknown indicator %(code)s in this framework",
                                                     code=indicator)))
    if errors:
        raise ValidationFailed(i18n._("Choose a component or an indicator of the framework."), errors=errors)
    if indicator and (not component or owner[indicator]["id"] == component):
        ind = next(i for i in owner[indicator]["indicators"] if i["code"] == indicator)
        return Selection("indicator", component or "", indicator,
                         i18n._("Indicator %(code)s: %(title)s", code=indicator, title=ind["title"]))
    if component:
        return Selection("component", component, "",
                         i18n._("Component %(id)s: %(title)s", id=component, title=comps[component]["title"]))
    return Selection("overall", "", "", i18n._("Overall"))


@router.get("/maturity/map", response_class=HTMLResponse)
def maturity_map(request: Request, year: YearQ = None, component: ComponentQ = None, indicator: IndicatorQ = None,
                 rule: RuleQ = "nearest", session: Session = db_session,
                 principal: Principal = current_principal) -> Response:
    locale = i18n.get_locale()
    texts = _texts(session)
    sel = _selection(texts, component or None, indicator or None)
    years = published_years(session)
    year_value, year_choice = _year(year, years, default_latest=False)
    latest = service.latest_published(session, year=year_value)
    scored = service.scored_latest(session, rule) if year_value is None else {}
    countries = _all_countries(session)
    names = {c.iso3: reference.country_name(c, locale) for c in countries}
    rows = []
    values: dict[str, worldmap.MapValue] = {}
    for iso3, pub in latest.items():
        s = scored.get(iso3) or pub.score(rule)
        if sel.kind == "indicator":
            phase = s.indicators.get(sel.indicator)
            score: Any = phase
            answered = None
        else:
            figure = s.overall if sel.kind == "overall" else s.components.get(sel.component)
            phase = figure.phase if figure else None
            score = figure.score if figure else None
            answered = (figure.answered, figure.total) if figure else None
        name = names.get(iso3, iso3)
        rows.append({"iso3": iso3, "name": name, "year": pub.year, "phase": phase, "score": score,
                     "answered": answered})
        values[iso3] = worldmap.MapValue(str(phase) if phase else "",
                                         _value_text(texts, phase, score, pub.year,
                                                     with_score=sel.kind != "indicator"))
    rows.sort(key=lambda r: fold(r["name"]))
    coloured = sum(1 for r in rows if r["phase"])
    if sel.kind == "indicator":
        note = i18n._("An indicator's answer is a whole phase: no rounding rule applies.")
    else:
        note = i18n._("Phases by the %(rule)s rule.", rule=_rule_label(rule))
    when = i18n._("latest published per country") if year_value is None else str(year_value)
    title = i18n._("Digital health maturity: %(what)s, %(when)s", what=sel.label, when=when)
    svg = worldmap.render(values, legend=_phase_legend(texts, sel.label, note), title=title, names=names,
                          href_for=_href(rule), map_id="maturity-map")
    component_options = [(c["id"], f'{c["id"]}. {c["title"]}') for c in texts["components"]]
    shown_components = [c for c in texts["components"] if not sel.component or c["id"] == sel.component]
    return render(request, "maturity_map.html", {
        "texts": texts, "sel": sel, "rule": rule, "rule_label": _rule_label(rule), "years": years,
        "year_choice": year_choice, "year_value": year_value, "rows": rows, "coloured": coloured,
        "map_svg": svg, "component_options": component_options, "indicator_groups": shown_components,
        "regions": [(r.code, reference.localized(r, "name", locale)) for r in reference.regions(session)],
        "incomes": [(g.code, reference.localized(g, "name", locale)) for g in reference.income_group_names(session)],
    }, block_name="results")


# ---------------------------------------------------------------- group pages


def _compare_bars(rows: list[dict[str, Any]], group_label: str) -> Markup:
    """Horizontal bars per component: the group beside the world, on the 1-5 phase scale."""
    left, right, bar, gap = 28, 14, 13, 9
    width = 340
    height = len(rows) * (2 * bar + gap) + 30
    scale = (width - left - right) / 5

    def x(v: float) -> float:
        return left + v * scale

    aria = i18n._("Component scores: %(group)s and the world", group=group_label)
    parts = [f'<svg class="compare-bars" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(aria)}">']
    for p in range(0, 6):
        parts.append(f'<line class="axis" x1="{x(p):.1f}" y1="0" x2="{x(p):.1f}" y2="{height - 20}"/>'
                     f'<text class="tick" x="{x(p):.1f}" y="{height - 6}" text-anchor="middle">{p}</text>')
    y = 4.0
    for r in rows:
        parts.append(f'<text x="{left - 8}" y="{y + bar + 4:.1f}" text-anchor="end">{escape(r["id"])}</text>')
        for css, fig, label in (("bar-group", r["group"], group_label), ("bar-world", r["world"], i18n._("World"))):
            value = float(fig.score) if fig is not None and fig.score is not None else 0.0
            text = i18n.fmt_score(fig.score) if fig is not None and fig.score is not None else "—"
            parts.append(f'<rect class="{css}" x="{left}" y="{y:.1f}" width="{value * scale:.1f}" height="{bar}">'
                         f'<title>{escape(label)}, {escape(r["id"])}: {escape(text)}</title></rect>')
            y += bar
        y += gap
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 (every text above is escaped)


def _group_page(request: Request, session: Session, *, kind: str, code: str, year: str | None, rule: str,
                method: str) -> Response:
    locale = i18n.get_locale()
    if kind == "region":
        known = {r.code: reference.localized(r, "name", locale) for r in reference.regions(session)}
    else:
        known = {g.code: reference.localized(g, "name", locale) for g in reference.income_group_names(session)}
    code = (code or "").upper()[:8]
    if code not in known:
        raise NotFound(i18n._("No WHO region %(code)s.", code=code) if kind == "region"
                       else i18n._("No income group %(code)s.", code=code))
    texts = _texts(session)
    years = published_years(session)
    year_value, year_choice = _year(year, years, default_latest=True)
    group = "region" if kind == "region" else "income"
    figures = {f.key: f for f in service.aggregates(session, group=group, year=year_value, rule=rule, method=method)}
    world = next(iter(service.aggregates(session, group="world", year=year_value, rule=rule, method=method)), None)
    own = figures.get(code)
    latest = service.latest_published(session, year=year_value)
    scored = service.scored_latest(session, rule) if year_value is None else {}
    countries = _all_countries(session)
    names = {c.iso3: reference.country_name(c, locale) for c in countries}
    fiscal = year_value or dt.date.today().year

    def member(c: Any) -> bool:
        if kind == "region":
            return c.who_region == code
        pub = latest.get(c.iso3)
        return service.group_of(session, c.iso3, "income", pub.year if pub else fiscal) == code

    members = {c.iso3 for c in countries if member(c)}
    with_data = set(own.overall.countries) if own else set()
    members |= with_data
    rows = []
    values: dict[str, worldmap.MapValue] = {}
    for iso3 in sorted(members & set(latest), key=lambda i: fold(names.get(i, i))):
        pub = latest[iso3]
        s = scored.get(iso3) or pub.score(rule)
        rows.append({"iso3": iso3, "name": names.get(iso3, iso3), "year": pub.year, "score": s})
        phase = s.overall.phase
        values[iso3] = worldmap.MapValue(str(phase) if phase else "",
                                         _value_text(texts, phase, s.overall.score, pub.year, with_score=True))
    without = sorted((names.get(i, i) for i in members - set(latest)), key=fold)
    comparison = []
    for c in texts["components"]:
        g = own.components.get(c["id"]) if own else None
        w = world.components.get(c["id"]) if world else None
        delta = None
        if g is not None and w is not None and g.score is not None and w.score is not None:
            delta = float(g.score) - float(w.score)
        comparison.append({"id": c["id"], "title": c["title"], "group": g, "world": w, "delta": delta})
    group_name = known[code]
    when = i18n._("latest published per country") if year_value is None else str(year_value)
    svg = worldmap.render(
        values, legend=_phase_legend(texts, i18n._("Overall"), i18n._("Phases by the %(rule)s rule.",
                                                                       rule=_rule_label(rule))),
        title=i18n._("Digital health maturity in %(group)s: overall phase, %(when)s", group=group_name, when=when),
        names=names, href_for=_href(rule), focus=members, map_id="group-map", hatch=True)
    return render(request, "maturity_group.html", {
        "kind": kind, "code": code, "group_name": group_name, "own": own, "world": world, "rule": rule,
        "rule_label": _rule_label(rule), "method": method, "years": years, "year_choice": year_choice,
        "year_value": year_value, "rows": rows, "without": without, "texts": texts, "comparison": comparison,
        "bars": _compare_bars(comparison, group_name), "map_svg": svg, "names": names,
        "action": f"/maturity/{'regions' if kind == 'region' else 'income-groups'}/{code}",
        "others": list(known.items()),
    }, block_name="results")


@router.get("/maturity/regions/{code}", response_class=HTMLResponse)
def region_page(request: Request, code: str, year: YearQ = None, rule: RuleQ = "nearest",
                method: MethodQ = "mean_of_countries", session: Session = db_session,
                principal: Principal = current_principal) -> Response:
    return _group_page(request, session, kind="region", code=code, year=year, rule=rule, method=method)


@router.get("/maturity/income-groups/{code}", response_class=HTMLResponse)
def income_group_page(request: Request, code: str, year: YearQ = None, rule: RuleQ = "nearest",
                      method: MethodQ = "mean_of_countries", session: Session = db_session,
                      principal: Principal = current_principal) -> Response:
    return _group_page(request, session, kind="income", code=code, year=year, rule=rule, method=method)


__all__ = ["published_years", "router"]
