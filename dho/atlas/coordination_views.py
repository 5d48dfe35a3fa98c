"""Atlas coordination pages: who funds what where (table, bar chart, world map, exports) and a
country's coordination page (funding by funder and category, overlap, fragmentation, gap view).

Every figure comes from dho.atlas.coordination; the pages work without JavaScript (GET forms)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup, escape
from sqlalchemy import select
from sqlalchemy.orm import Session

from dho import i18n
from dho.accounts.models import Organisation
from dho.accounts.permissions import Principal
from dho.atlas import coordination
from dho.atlas.models import Investment
from dho.errors import FieldError, ValidationFailed
from dho.reference import service as reference
from dho.web import worldmap
from dho.web.deps import current_principal, db_session
from dho.web.templating import render

router = APIRouter(include_in_schema=False)

Text = Annotated[str | None, Query(max_length=12)]
MAP_CLASSES = 5


def _labels() -> dict[str, str]:
    return {"country": i18n._("Country"), "region": i18n._("WHO region"), "income": i18n._("Income group"),
            "funder": i18n._("Funder"), "category": i18n._("CDISAH category"),
            "component": i18n._("GDHM component"), "year": i18n._("Year of commitment")}


def _int(raw: str | None, field: str, low: int, high: int) -> int | None:
    """A number from a form field: empty is none; anything else out of range is a clear error."""
    if raw in (None, ""):
        return None
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise ValidationFailed(i18n._("The filters are not valid."), errors=[FieldError(
            field, i18n._("must be a number from %(low)s to %(high)s", low=low, high=high))])
    return int(raw)


def fmt_usd(value: Decimal) -> str:
    from babel.numbers import format_decimal

    return format_decimal(value.quantize(Decimal("0.01")), format="#,##0.00", locale=i18n.get_locale())


def _bars(rows: list[coordination.Row], caption: str) -> Markup:
    """Horizontal bars of US dollars per row (the first 15), as inline SVG."""
    shown = [r for r in rows if r.usd > 0][:15]
    if not shown:
        return Markup("")
    left, right, bar, gap, width = 210, 110, 16, 6, 760
    height = len(shown) * (bar + gap) + 6
    top = max(r.usd for r in shown)
    scale = (width - left - right) / float(top)
    parts = [f'<svg class="compare-bars atlas-bars" viewBox="0 0 {width} {height}" role="img" '
             f'aria-label="{escape(caption)}">']
    y = 3.0
    for r in shown:
        label = r.label if len(r.label) <= 32 else r.label[:31] + "…"
        w = max(1.0, float(r.usd) * scale)
        parts.append(f'<text x="{left - 8}" y="{y + bar - 4:.1f}" text-anchor="end">{escape(label)}</text>'
                     f'<rect class="bar-group" x="{left}" y="{y:.1f}" width="{w:.1f}" height="{bar}">'
                     f'<title>{escape(r.label)}: {escape(fmt_usd(r.usd))} USD</title></rect>'
                     f'<text x="{left + w + 6:.1f}" y="{y + bar - 4:.1f}">{escape(fmt_usd(r.usd))}</text>')
        y += bar + gap
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 (every text above is escaped)


def _map(session: Session, result: coordination.Funding, title: str) -> Markup:
    """Countries coloured by US dollars in five classes of equal counts (quantiles)."""
    locale = i18n.get_locale()
    values = sorted((r.usd, r.key) for r in result.rows if r.key and r.usd > 0)
    names = {iso3: reference.country_name(c, locale) for iso3, c in
             reference.countries_by_code(session, [r.key for r in result.rows if r.key]).items()}
    bounds: list[Decimal] = []
    n = len(values)
    if n:
        bounds = [values[max(0, -(-k * n // MAP_CLASSES) - 1)][0] for k in range(1, MAP_CLASSES + 1)]
    mv = {}
    for usd, iso3 in values:
        cls = next((i for i, b in enumerate(bounds, start=1) if usd <= b), MAP_CLASSES)
        mv[iso3] = worldmap.MapValue(str(cls), f"{fmt_usd(usd)} USD")
    entries = []
    low = Decimal(0)
    for i, b in enumerate(bounds, start=1):
        if i > 1 and b == bounds[i - 2]:
            continue
        entries.append(worldmap.LegendEntry(str(i), i18n._("up to %(usd)s USD", usd=fmt_usd(b)) if low == 0 else
                                            i18n._("%(low)s to %(high)s USD", low=fmt_usd(low), high=fmt_usd(b)),
                                            f"wm-ph-{i}"))
        low = b
    legend = worldmap.Legend(entries=entries, caption=i18n._("US dollars committed"),
                             no_data=i18n._("No converted amount"),
                             note=i18n._("Five classes with about as many countries each."))
    return worldmap.render(mv, legend=legend, title=title, names=names, map_id="atlas-map",
                           href_for=lambda iso3: f"/atlas/countries/{iso3}")


def _export_link(params: dict[str, Any], fmt: str) -> str:
    return "/api/atlas/funding?" + urlencode({**{k: v for k, v in params.items() if v not in (None, "")},
                                              "format": fmt})


@router.get("/atlas/funding", response_class=HTMLResponse)
def funding_page(request: Request, by: Annotated[str, Query(max_length=12)] = "country", country: Text = None,
                 region: Text = None, funder: Text = None, year_from: Text = None, year_to: Text = None,
                 session: Session = db_session, principal: Principal = current_principal) -> Response:
    locale = i18n.get_locale()
    if by not in coordination.DIMENSIONS:
        raise ValidationFailed(i18n._("Unknown grouping."), errors=[FieldError(
            "by", i18n._("use one of %(list)s", list=", ".join(coordination.DIMENSIONS)))])
    country = (country or "").strip().upper() or None
    region = (region or "").strip().upper() or None
    filters = coordination.Filters(country=country, region=region, funder=_int(funder, "funder", 1, 2_147_483_647),
                                   year_from=_int(year_from, "year_from", 1960, 2100),
                                   year_to=_int(year_to, "year_to", 1960, 2100))
    if region and region not in {r.code for r in reference.regions(session)}:
        raise ValidationFailed(i18n._("The filters are not valid."),
                               errors=[FieldError("region", i18n._("unknown WHO region"))])
    result = coordination.who_funds_what(session, principal, by=by, filters=filters)
    labels = _labels()
    caption = i18n._("US dollars by %(what)s", what=labels[by].lower())
    by_country = result if by == "country" else coordination.who_funds_what(session, principal, by="country",
                                                                           filters=filters)
    map_svg = _map(session, by_country, i18n._("Digital health investments: US dollars per country"))
    params = {"by": by, "country": country, "region": region, "funder": filters.funder,
              "year_from": filters.year_from, "year_to": filters.year_to}
    funder_ids = session.execute(select(Investment.funder_org_id).distinct()).scalars().all()
    funders = session.execute(select(Organisation.id, Organisation.name).where(Organisation.id.in_(funder_ids))
                              .order_by(Organisation.name)).all() if funder_ids else []
    countries, _n = reference.search_countries(session, limit=1000)
    return render(request, "atlas_funding.html", {
        "result": result, "by": by, "labels": labels, "caption": caption, "bars": _bars(result.rows, caption),
        "map_svg": map_svg, "params": params, "fmt_usd": fmt_usd,
        "csv_url": _export_link(params, "csv"), "xlsx_url": _export_link(params, "xlsx"),
        "json_url": _export_link(params, "json"),
        "regions": [(r.code, reference.localized(r, "name", locale)) for r in reference.regions(session)],
        "countries": sorted(((c.iso3, reference.country_name(c, locale)) for c in countries), key=lambda c: c[1]),
        "funders": funders, "years": list(range(2000, 2031)),
    })


@router.get("/atlas/countries/{iso3}", response_class=HTMLResponse)
def country_page(request: Request, iso3: str, session: Session = db_session,
                 principal: Principal = current_principal) -> Response:
    country = reference.get_country(session, iso3[:8])
    filters = coordination.Filters(country=country.iso3)
    by_funder = coordination.who_funds_what(session, principal, by="funder", filters=filters)
    by_category = coordination.who_funds_what(session, principal, by="category", filters=filters)
    return render(request, "atlas_country.html", {
        "country": country, "name": reference.country_name(country, i18n.get_locale()),
        "by_funder": by_funder, "by_category": by_category, "fmt_usd": fmt_usd,
        "overlap": coordination.overlap(session, country.iso3, principal),
        "fragmentation": coordination.fragmentation(session, country.iso3, principal),
        "gaps": coordination.gap_view(session, country.iso3, principal),
        "funder_bars": _bars(by_funder.rows, i18n._("US dollars by funder")),
    })
