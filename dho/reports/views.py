"""Dashboards and progress reports in the browser, and their API.

Dashboards (/dashboard, /dashboard/region/CODE, /dashboard/income/CODE, /dashboard/country/ISO3) show
every indicator as a card (value, trend, target, legend colour), the offline world map coloured by
one indicator, a chart, and link every number to the records behind it (/dashboard/records). Reports
(/reports/global, /reports/region/CODE, /reports/country/ISO3) are documents built from live data, as
HTML or PDF; their narrative sections are edited on /reports/narratives. All of it reads published
data only, so it is public; only writing a narrative needs the ``reports.narrative`` permission."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from dho import i18n
from dho.accounts.permissions import Principal, can
from dho.errors import FieldError, NotFound, PayloadTooLarge, ValidationFailed
from dho.reference import service as reference
from dho.reports import builder, charts, figures, service
from dho.reports import narratives as narrative_store
from dho.web.deps import content_disposition, current_principal, db_session
from dho.web.templating import render

router = APIRouter(include_in_schema=False)
api = APIRouter(tags=["reports"])

YearQ = Annotated[str | None, Query(max_length=4, pattern=r"^(\d{4})?$")]
CodeQ = Annotated[str | None, Query(max_length=40)]
LangQ = Annotated[str | None, Query(max_length=5)]
FormatQ = Annotated[str | None, Query(max_length=5)]
GeoQ = Annotated[str, Query(max_length=8)]
PeriodQ = Annotated[str, Query(max_length=16)]
RECORD_LIMIT = 200


# ---------------------------------------------------------------- dashboards


def _year(raw: str | None, fig: figures.Figures) -> int:
    if raw:
        return narrative_store.check_year(raw)
    return fig.years[-1] if fig.years else builder_fallback_year()


def builder_fallback_year() -> int:
    from dho.reports.builder import FALLBACK_YEAR

    return FALLBACK_YEAR


def _scope_of(session: Session, kind: str, code: str, locale: str) -> tuple[str, str, set[str] | None]:
    """(geo code, display name, member countries or None for the world)."""
    code = (code or "").upper()[:8]
    if kind == "world":
        return figures.WORLD, i18n._("World"), None
    if kind == "region":
        names = {r.code: reference.localized(r, "name", locale) for r in reference.regions(session)}
        if code not in names:
            raise NotFound(i18n._("No WHO region %(code)s.", code=code))
        rows, _n = reference.search_countries(session, region=code, limit=1000)
        return code, names[code], {c.iso3 for c in rows}
    if kind == "income":
        names = {g.code: reference.localized(g, "name", locale) for g in reference.income_group_names(session)}
        if code not in names:
            raise NotFound(i18n._("No income group %(code)s.", code=code))
        rows, _n = reference.search_countries(session, income=code, limit=1000)
        return code, names[code], {c.iso3 for c in rows}
    country = reference.get_country(session, code)
    return country.iso3, reference.country_name(country, locale), {country.iso3}


def _dashboard(request: Request, session: Session, kind: str, code: str, year: str | None,
               map_code: str | None) -> Response:
    locale = i18n.get_locale()
    geo, name, members = _scope_of(session, kind, code, locale)
    fig = figures.load(session, locale)
    y = _year(year, fig)
    if map_code and map_code not in fig.definitions:
        raise ValidationFailed(i18n._("Choose an indicator of the list."),
                               errors=[FieldError("map", i18n._("unknown indicator %(code)s", code=map_code[:40]))])
    cards = [figures.card(fig, c, geo, y) for c in fig.definitions]
    for c in cards:
        c.sparkline = figures.sparkline(c.trend, label=i18n._("Trend of %(name)s", name=c.name))  # type: ignore[attr-defined]
    rows, _n = reference.search_countries(session, limit=1000)
    countries = {c.iso3: reference.country_name(c, locale) for c in rows}
    regions = [(r.code, reference.localized(r, "name", locale)) for r in reference.regions(session)]
    incomes = [(g.code, reference.localized(g, "name", locale)) for g in reference.income_group_names(session)]
    if not map_code:
        map_code = next((c.code for c in cards if figures.ranked_countries(fig, c.code, c.period, members)),
                        next(iter(fig.definitions), None))
    map_svg: Any = ""
    chart_svg: Any = ""
    breakdown: list[dict[str, Any]] = []
    if map_code:
        defn = fig.definitions[map_code]
        period = figures.period_for(fig.results, map_code, y)
        if kind != "country":
            map_svg = figures.world_map(
                fig, map_code, period, countries, title=i18n._("%(name)s, %(period)s", name=defn.name,
                                                                period=period or y),
                focus=members, href_for=lambda iso3: f"/dashboard/country/{iso3}?year={y}", map_id="dashboard-map")
        if kind == "world":
            geos = [(c, n, f"/dashboard/region/{c}?year={y}") for c, n in regions] + [
                (c, n, f"/dashboard/income/{c}?year={y}") for c, n in incomes]
        elif kind == "country":
            own_region = reference.region_of(session, geo)
            geos = [(geo, name, None)] + ([(own_region, dict(regions).get(own_region, own_region),
                                            f"/dashboard/region/{own_region}?year={y}")] if own_region else []) + [
                (figures.WORLD, i18n._("World"), f"/dashboard?year={y}")]
        else:
            geos = [(i, countries.get(i, i), f"/dashboard/country/{i}?year={y}")
                    for i in sorted(members or (), key=lambda i: countries.get(i, i))]
        for g, label, href in geos:
            v = figures.value_of(fig.results, map_code, g, period)
            breakdown.append({"geo": g, "label": label, "href": href, "text": figures.fmt(defn, v, locale),
                              "value": figures.number(v), "band": figures.band_class(defn, v),
                              "records": _records_href(map_code, g, period) if v is not None and period else None})
        if kind == "country":
            series = {b["label"]: figures.trend(fig, map_code, b["geo"], until=y) for b in breakdown}
            if sum(1 for pts in series.values() for _p, v in pts if v is not None) >= 2:
                chart_svg = charts.trend_chart(series, y_title=figures.engine().unit_label(str(defn.unit)),
                                               x_title=i18n._("Year"),
                                               label=i18n._("Trend of %(name)s", name=defn.name))
        else:
            bars = [(b["label"], b["value"]) for b in breakdown if b["value"] is not None][:40]
            chart_svg = charts.bar_chart(bars, x_title=str(defn.unit),
                                         label=i18n._("%(name)s by area", name=defn.name))
    units = figures.unit_table(fig, geo, y) if kind == "country" else None
    report_href = {"world": "/reports/global", "region": f"/reports/region/{geo}",
                   "country": f"/reports/country/{geo}"}.get(kind)
    return render(request, "reports/dashboard.html", {
        "kind": kind, "geo": geo, "name": name, "year": y, "years": sorted(set(fig.years) | {y}, reverse=True),
        "cards": cards, "map_code": map_code, "map_svg": map_svg, "chart_svg": chart_svg, "breakdown": breakdown,
        "units": units,
        "definitions": list(fig.definitions.values()),
        "regions": regions, "incomes": incomes, "snapshot": fig.snapshot, "report_href": report_href,
        "records_href": _records_href, "action": request.url.path,
    })


DASHBOARD_CSS = (
    ".ind-cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(250px,1fr));gap:.8rem;margin:1rem 0}"
    ".ind-card{background:#fff;border:1px solid #d5dbe1;border-left:6px solid #a9b3bb;border-radius:8px;"
    "padding:.7rem .9rem;display:flex;flex-direction:column;gap:.2rem}"
    ".ind-card h2{font-size:.95rem;margin:0}.ind-card .big{font-size:1.6rem;font-weight:700}"
    ".ind-card .sub{color:#555;font-size:.85rem}.ind-card .met{color:#1d6b34}.ind-card .behind{color:#9a3b17}"
    ".ind-card .sparkline{color:#0b5c7a}.dash-chart svg{max-width:100%;height:auto}"
    ".swatch-inline{display:inline-block;width:.8em;height:.8em;border:1px solid #888;vertical-align:-.05em;"
    "margin-right:.3em}"
    "#units th.num,#units td.num{text-align:right;font-variant-numeric:tabular-nums}"
    "#units thead th{vertical-align:bottom}#units tbody th{font-weight:400}"
    "#units .sub{display:block;color:#555;font-size:.8rem;font-weight:400}")


@router.get("/dashboard/style.css")
def dashboard_css(session: Session = db_session) -> Response:
    """The dashboards' stylesheet with one class per legend band (the site's CSP allows no inline style)."""
    fig = figures.load(session, "en")
    return Response(DASHBOARD_CSS + figures.legend_css(fig.definitions.values()), media_type="text/css",
                    headers={"Cache-Control": "no-cache"})


def _records_href(code: str, geo: str, period: str | None) -> str:
    from urllib.parse import urlencode

    return "/dashboard/records?" + urlencode({"code": code, "geo": geo, "period": period or ""})


@router.get("/dashboard", response_class=HTMLResponse)
def dashboard_world(request: Request, year: YearQ = None, map: CodeQ = None, session: Session = db_session,
                    principal: Principal = current_principal) -> Response:
    return _dashboard(request, session, "world", "", year, map)


@router.get("/dashboard/region/{code}", response_class=HTMLResponse)
def dashboard_region(request: Request, code: str, year: YearQ = None, map: CodeQ = None,
                     session: Session = db_session, principal: Principal = current_principal) -> Response:
    return _dashboard(request, session, "region", code, year, map)


@router.get("/dashboard/income/{code}", response_class=HTMLResponse)
def dashboard_income(request: Request, code: str, year: YearQ = None, map: CodeQ = None,
                     session: Session = db_session, principal: Principal = current_principal) -> Response:
    return _dashboard(request, session, "income", code, year, map)


@router.get("/dashboard/country/{iso3}", response_class=HTMLResponse)
def dashboard_country(request: Request, iso3: str, year: YearQ = None, map: CodeQ = None,
                      session: Session = db_session, principal: Principal = current_principal) -> Response:
    return _dashboard(request, session, "country", iso3, year, map)


def _records(session: Session, code: str, geo: str, period: str
             ) -> tuple[Any, list[dict[str, Any]], Any, dict[str, str]]:
    """The indicator, its records for the geography and period, the value, and the names of the
    subnational units involved (a unit code unknown to the indicator's data is a 404)."""
    from dho.indicators import periods as P
    from dho.indicators.sources import UNIT_CODE

    locale = i18n.get_locale()
    fig = figures.load(session, locale, codes=[code]) if code else None
    if fig is None or code not in fig.definitions:
        raise NotFound(i18n._("No indicator %(code)s.", code=code[:40]))
    geo = geo.upper()
    known = {figures.WORLD, *(r.code for r in reference.regions(session)),
             *(g.code for g in reference.income_group_names(session))}
    units: dict[str, str] = {}
    if UNIT_CODE.match(geo):
        if not fig.results.is_unit(geo):
            raise NotFound(i18n._("No subnational unit %(code)s in the data of this indicator.", code=geo))
        units[geo] = _unit_label(session, fig.results, geo)
    elif geo not in known:
        reference.get_country(session, geo)  # 404 for an unknown code
    try:
        P.parse(period)
    except P.BadPeriod as exc:
        raise ValidationFailed(i18n._("The period is not valid."), errors=[FieldError("period", str(exc))]) from exc
    rows = figures.engine().records(session, code, geo, period, limit=RECORD_LIMIT)
    value = figures.value_of(fig.results, code, geo, period)
    for r in rows:
        if fig.results.is_unit(r.get("country") or "") and r["country"] not in units:
            units[r["country"]] = fig.results.unit_name(r["country"])
    return fig.definitions[code], rows, value, units


def _unit_label(session: Session, results: Any, unit: str) -> str:
    """"Punjab (PK-PB), Pakistan": a unit named with its code and country."""
    name = results.unit_name(unit)
    parent = results.unit_parent(unit)
    country = reference.countries_by_code(session, [parent]).get(parent) if parent else None
    own = name if name == unit else f"{name} ({unit})"
    if country is None:
        return own
    return i18n._("%(unit)s, %(country)s", unit=own, country=reference.country_name(country, i18n.get_locale()))


@router.get("/dashboard/records", response_class=HTMLResponse)
def dashboard_records(request: Request, code: CodeQ = None, geo: GeoQ = "WORLD", period: PeriodQ = "",
                      session: Session = db_session, principal: Principal = current_principal) -> Response:
    defn, rows, value, units = _records(session, code or "", geo, period)
    locale = i18n.get_locale()
    names = {figures.WORLD: i18n._("World")}
    names.update({r.code: reference.localized(r, "name", locale) for r in reference.regions(session)})
    names.update({g.code: reference.localized(g, "name", locale) for g in reference.income_group_names(session)})
    countries = reference.countries_by_code(session, {r["country"] for r in rows if r.get("country")} | {geo.upper()})
    names.update({i: reference.country_name(c, locale) for i, c in countries.items()})
    names.update(units)
    return render(request, "reports/records.html", {
        "defn": defn, "rows": rows, "geo": geo.upper(), "geo_name": names.get(geo.upper(), geo.upper()),
        "period": period, "value_text": figures.fmt(defn, value, locale), "value": value, "names": names,
        "limit": RECORD_LIMIT})


@api.get("/dashboard/records")
def api_records(code: CodeQ = None, geo: GeoQ = "WORLD", period: PeriodQ = "",
                session: Session = db_session) -> dict[str, Any]:
    defn, rows, value, _units = _records(session, code or "", geo, period)
    return {"code": defn.code, "geo": geo.upper(), "period": period, "value": getattr(value, "value", None),
            "numerator": getattr(value, "numerator", None), "denominator": getattr(value, "denominator", None),
            "records": rows}


# ---------------------------------------------------------------- reports


def _document(session: Session, kind: str, code: str | None, year: str | None, lang: str | None,
              fmt: str | None, default_fmt: str) -> Response:
    doc = service.produce(session, kind, code, int(year) if year else None, lang or i18n.get_locale(),
                          fmt or default_fmt)
    headers = {"Content-Disposition": content_disposition(doc.filename, "inline"), "X-Report-Snapshot": doc.snapshot,
               "X-Report-Content-Hash": doc.content_hash}
    if doc.media_type.startswith("text/html"):
        # a standalone document: its own inline stylesheet, no script, nothing loaded from elsewhere
        headers["Content-Security-Policy"] = REPORT_CSP
    return Response(doc.body, media_type=doc.media_type, headers=headers)


REPORT_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'; "
              "base-uri 'none'; form-action 'none'")


@router.get("/reports", response_class=HTMLResponse)
def reports_index(request: Request, session: Session = db_session,
                  principal: Principal = current_principal) -> Response:
    locale = i18n.get_locale()
    fig = figures.load(session, locale)
    rows, _n = reference.search_countries(session, members_only=True, limit=1000)
    return render(request, "reports/index.html", {
        "years": list(reversed(fig.years)) or [builder_fallback_year()],
        "default_year": builder.default_year(fig.years, builder.data_cutoff(session)),
        "regions": [(r.code, reference.localized(r, "name", locale)) for r in reference.regions(session)],
        "countries": sorted(((c.iso3, reference.country_name(c, locale)) for c in rows), key=lambda r: r[1]),
        "can_write": can(principal, "reports.narrative") or any(
            g.role in ("regional", "country_focal_point") for g in principal.grants),
    })


@router.get("/reports/open")
def reports_open(scope: Annotated[str, Query(max_length=10)] = "global", code: CodeQ = None, year: YearQ = None,
                 lang: LangQ = None, format: FormatQ = None, session: Session = db_session) -> Response:
    """The chooser form's target (works without JavaScript): redirect to the report's address."""
    fmt = service.check_format(format, ("html", "pdf"))
    lang = narrative_store.check_lang(lang)
    s = narrative_store.check_scope(session, scope, code)
    path = "/reports/global" if s.kind == "global" else f"/reports/{s.kind}/{s.code}"
    q = f"?lang={lang}&format={fmt}" + (f"&year={int(year)}" if year else "")
    return RedirectResponse(path + q, status_code=303)


@router.get("/reports/global")
def report_global(year: YearQ = None, lang: LangQ = None, format: FormatQ = None,
                  session: Session = db_session) -> Response:
    return _document(session, "global", None, year, lang, format, "html")


@router.get("/reports/region/{code}")
def report_region(code: str, year: YearQ = None, lang: LangQ = None, format: FormatQ = None,
                  session: Session = db_session) -> Response:
    return _document(session, "region", code, year, lang, format, "html")


@router.get("/reports/country/{iso3}")
def report_country(iso3: str, year: YearQ = None, lang: LangQ = None, format: FormatQ = None,
                   session: Session = db_session) -> Response:
    return _document(session, "country", iso3, year, lang, format, "html")


@api.get("/reports/global")
def api_report_global(year: YearQ = None, lang: LangQ = None, format: FormatQ = None,
                      session: Session = db_session) -> Response:
    return _document(session, "global", None, year, lang, format, "json")


@api.get("/reports/region/{code}")
def api_report_region(code: str, year: YearQ = None, lang: LangQ = None, format: FormatQ = None,
                      session: Session = db_session) -> Response:
    return _document(session, "region", code, year, lang, format, "json")


@api.get("/reports/country/{iso3}")
def api_report_country(iso3: str, year: YearQ = None, lang: LangQ = None, format: FormatQ = None,
                       session: Session = db_session) -> Response:
    return _document(session, "country", iso3, year, lang, format, "json")


# ---------------------------------------------------------------- narratives


ScopeQ = Annotated[str, Query(max_length=10)]


def _narrative_scope(session: Session, scope: str, code: str | None, year: str | None, lang: str | None
                     ) -> tuple[narrative_store.Scope, int, str]:
    s = narrative_store.check_scope(session, scope, code)
    y = narrative_store.check_year(year) if year else builder_fallback_year()
    return s, y, narrative_store.check_lang(lang)


@router.get("/reports/narratives", response_class=HTMLResponse)
def narratives_page(request: Request, scope: ScopeQ = "global", code: CodeQ = None, year: YearQ = None,
                    lang: LangQ = None, saved: Annotated[str | None, Query(max_length=10)] = None,
                    session: Session = db_session, principal: Principal = current_principal) -> Response:
    s, y, lg = _narrative_scope(session, scope, code, year or None, lang or i18n.get_locale())
    stored = narrative_store.texts(session, s, y, lg)
    may = can(principal, "reports.narrative", s.target(session))
    sections = [{"key": k, "title": narrative_store.section_title(k), "text": stored[k].text if k in stored else "",
                 "version": stored[k].version if k in stored else 0,
                 "updated_by": stored[k].updated_by if k in stored else "",
                 "updated_at": stored[k].updated_at if k in stored else None} for k in narrative_store.SECTIONS]
    report_path = "/reports/global" if s.kind == "global" else f"/reports/{s.kind}/{s.code}"
    return render(request, "reports/narratives.html", {
        "scope": s, "year": y, "lang": lg, "sections": sections, "may_edit": may, "saved": saved,
        "report_href": f"{report_path}?year={y}&lang={lg}", "max_text": narrative_store.MAX_TEXT})


@router.post("/reports/narratives")
async def narratives_save(request: Request, session: Session = db_session,
                          principal: Principal = current_principal) -> Response:
    form = await request.form(max_files=0, max_fields=20)
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    text = fields.get("text", "")
    if len(text) > narrative_store.MAX_TEXT * 2:  # refuse before any work; save() gives the exact message
        raise PayloadTooLarge(i18n._("The text is too long: at most %(n)s characters.", n=narrative_store.MAX_TEXT))
    s, y, lg = _narrative_scope(session, fields.get("scope", "")[:10], fields.get("code", "")[:8],
                                fields.get("year", "")[:4] or None, fields.get("lang", "")[:5] or "en")
    try:
        version = int(fields.get("version", "0") or 0)
    except ValueError:
        raise ValidationFailed(i18n._("The version is not valid."),
                               errors=[FieldError("version", i18n._("a whole number"))]) from None
    section = fields.get("section", "")[:10]
    narrative_store.save(session, principal, s, y, section, lg, text, version)
    session.commit()
    from urllib.parse import urlencode

    q = urlencode({"scope": s.kind, "code": s.code, "year": y, "lang": lg, "saved": section})
    return RedirectResponse(f"/reports/narratives?{q}#section-{section}", status_code=303)


class NarrativeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(max_length=narrative_store.MAX_TEXT * 2)
    version: int = Field(default=0, ge=0, le=2_147_483_647)


@api.get("/reports/narratives")
def api_narratives(scope: ScopeQ = "global", code: CodeQ = None, year: YearQ = None, lang: LangQ = None,
                   session: Session = db_session) -> list[dict[str, Any]]:
    s, y, lg = _narrative_scope(session, scope, code, year or None, lang)
    stored = narrative_store.texts(session, s, y, lg)
    return [{"scope": s.kind, "code": s.code, "year": y, "lang": lg, "section": k, "text": r.text,
             "version": r.version, "updated_by": r.updated_by, "updated_at": r.updated_at.isoformat()}
            for k, r in sorted(stored.items())]


@api.put("/reports/narratives/{scope}/{section}")
def api_narrative_put(scope: str, section: str, body: NarrativeIn, code: CodeQ = None, year: YearQ = None,
                      lang: LangQ = None, session: Session = db_session,
                      principal: Principal = current_principal) -> JSONResponse:
    s, y, lg = _narrative_scope(session, scope[:10], code, year or None, lang)
    row = narrative_store.save(session, principal, s, y, section[:10], lg, body.text, body.version)
    session.commit()
    return JSONResponse({"scope": s.kind, "code": s.code, "year": y, "lang": lg, "section": row.section,
                         "text": row.text, "version": row.version})
