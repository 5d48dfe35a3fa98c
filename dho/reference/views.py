"""Pages for browsing countries, classifications and the global strategy."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from dho import i18n
from dho.accounts import service as accounts
from dho.accounts.permissions import Principal
from dho.audit import service as audit
from dho.reference import service
from dho.web.deps import current_principal, db_session
from dho.web.params import Offset
from dho.web.templating import render

router = APIRouter(include_in_schema=False)

PAGE = 50
Text = Annotated[str | None, Query(max_length=100)]


@router.get("/countries", response_class=HTMLResponse)
def countries(
    request: Request, q: Text = None, region: Annotated[str | None, Query(max_length=8)] = None,
    income: Annotated[str | None, Query(max_length=8)] = None,
    members: Annotated[str | None, Query(max_length=3)] = None,
    offset: Offset = 0,
    session: Session = db_session, principal: Principal = current_principal,
) -> Response:
    locale = i18n.get_locale()
    rows, total = service.search_countries(session, q=q, region=region or None, income=income or None,
                                           members_only=bool(members), limit=PAGE, offset=offset)
    regions = service.regions(session)
    incomes = {g.code: service.localized(g, "name", locale) for g in service.income_group_names(session)}
    return render(request, "countries.html", {
        "rows": [(c, service.country_name(c, locale)) for c in rows], "total": total, "offset": offset,
        "limit": PAGE, "q": q or "", "region": region or "", "income": income or "", "members": bool(members),
        "regions": [(r.code, service.localized(r, "name", locale)) for r in regions],
        "region_names": {r.code: service.localized(r, "name", locale) for r in regions},
        "incomes": list(incomes.items()), "income_names": incomes,
    }, block_name="results")


@router.get("/countries/{iso3}", response_class=HTMLResponse)
def country(request: Request, iso3: str, tab: Annotated[str, Query(max_length=20)] = "overview",
            session: Session = db_session, principal: Principal = current_principal) -> Response:
    locale = i18n.get_locale()
    c = service.get_country(session, iso3)
    regions = {r.code: service.localized(r, "name", locale) for r in service.regions(session)}
    incomes = {g.code: service.localized(g, "name", locale) for g in service.income_group_names(session)}
    orgs, org_total = accounts.search_organisations(session, country=c.iso3, limit=100)
    sovereign = service.get_country(session, c.sovereign_iso3) if c.sovereign_iso3 else None
    return render(request, "country.html", {
        "c": c, "name": service.country_name(c, locale), "regions": regions, "incomes": incomes,
        "income_history": service.income_history(session, c.iso3), "orgs": orgs, "org_total": org_total,
        "sovereign": sovereign, "tab": "history" if tab == "history" else "overview",
        "history": audit.history_rows(session, "ref_country", c.iso3) if tab == "history" else [],
    })


@router.get("/classifications", response_class=HTMLResponse)
def classifications(request: Request, session: Session = db_session,
                    principal: Principal = current_principal) -> Response:
    counts = service.code_counts(session)
    roots = service.root_codes(session)
    schemes = [(s, counts.get(s.id, 0), roots.get(s.id, [])) for s in service.schemes(session)]
    return render(request, "classifications.html", {"schemes": schemes})


@router.get("/classifications/{scheme}", response_class=HTMLResponse)
def classification(request: Request, scheme: str, q: Text = None, session: Session = db_session,
                   principal: Principal = current_principal) -> Response:
    s = service.get_scheme(session, scheme)
    rows, total = service.search_codes(session, scheme, q=q, limit=1000)
    children: dict[str | None, list] = {}
    for c in rows:
        children.setdefault(c.parent_code, []).append(c)
    return render(request, "classification.html", {
        "scheme": s, "rows": rows, "total": total, "q": q or "", "children": children,
        "roots": children.get(None, []) if not q else rows,
    }, block_name="results")


@router.get("/classifications/{scheme}/{code}", response_class=HTMLResponse)
def code(request: Request, scheme: str, code: str, session: Session = db_session,
         principal: Principal = current_principal) -> Response:
    s = service.get_scheme(session, scheme)
    detail = service.get_code(session, scheme, code)
    schemes = {x.id: x for x in service.schemes(session)}
    return render(request, "code.html", {"scheme": s, "d": detail, "schemes": schemes})


@router.get("/strategy", response_class=HTMLResponse)
def strategy(request: Request, session: Session = db_session, principal: Principal = current_principal) -> Response:
    locale = i18n.get_locale()
    groups: dict[str, list] = {}
    for e in service.strategy_elements(session):
        groups.setdefault(e.kind, []).append((e.id, service.localized(e, "title", locale)))
    return render(request, "strategy.html", {"groups": groups})
