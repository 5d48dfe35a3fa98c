"""Atlas JSON API: implementations, solutions, investments, exchange rates and managed lists."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import select
from sqlalchemy.orm import Session

from dho.accounts.permissions import Principal
from dho.atlas import money, service
from dho.atlas.models import TERM_LISTS, Solution
from dho.atlas.schemas import ImplementationIn, InvestmentIn
from dho.errors import PayloadTooLarge
from dho.i18n import _
from dho.validation import parse
from dho.web.deps import current_principal, db_session
from dho.web.params import Id, Offset

router = APIRouter(prefix="/atlas", tags=["atlas"])
JsonBody = Annotated[Any, Body()]
Iso3 = Annotated[str | None, Query(pattern=r"^[A-Za-z]{3}$")]


def _schema(model: type) -> dict[str, Any]:
    return {"requestBody": {"content": {"application/json": {"schema": model.model_json_schema()}}}}


@router.get("/implementations", summary="Implementations you may see (published ones for everyone)")
def implementations(country: Iso3 = None, q: Annotated[str | None, Query(max_length=100)] = None,
                    status: Annotated[str | None, Query(pattern="^(draft|published|archived)$")] = None,
                    limit: Annotated[int, Query(ge=1, le=500)] = 50, offset: Offset = 0,
                    session: Session = db_session, principal: Principal = current_principal) -> dict[str, Any]:
    rows, total = service.list_implementations(session, principal, country=country, q=q, status=status,
                                               limit=limit, offset=offset)
    return {"total": total, "limit": limit, "offset": offset,
            "items": [service.implementation_detail(session, principal, r) for r in rows]}


@router.post("/implementations", status_code=201, summary="Register an implementation (a draft until the country "
             "approves it)", openapi_extra=_schema(ImplementationIn))
def implementation_create(body: JsonBody, session: Session = db_session,
                          principal: Principal = current_principal) -> dict[str, Any]:
    impl = service.create_implementation(session, principal, parse(ImplementationIn, body))
    return service.implementation_detail(session, principal, impl)


@router.get("/implementations/{impl_id}", summary="One implementation")
def implementation(impl_id: Id, session: Session = db_session,
                   principal: Principal = current_principal) -> dict[str, Any]:
    return service.implementation_detail(session, principal, service.get_implementation(session, principal, impl_id))


@router.put("/implementations/{impl_id}", summary="Change an implementation (send the version you edited)",
            openapi_extra=_schema(ImplementationIn))
def implementation_update(impl_id: Id, body: JsonBody, version: Annotated[int | None, Query(ge=1)] = None,
                          session: Session = db_session, principal: Principal = current_principal) -> dict[str, Any]:
    impl = service.update_implementation(session, principal, impl_id, parse(ImplementationIn, body), version)
    return service.implementation_detail(session, principal, impl)


@router.post("/implementations/{impl_id}/{decision}", summary="approve (publishes), reject or archive")
def implementation_decide(impl_id: Id, decision: Annotated[str, Path(pattern="^(approve|reject|archive)$")],
                          session: Session = db_session, principal: Principal = current_principal) -> dict[str, Any]:
    return service.implementation_detail(session, principal, service.decide(session, principal, impl_id, decision))


@router.get("/solutions", summary="Solutions (software and digital goods)")
def solutions(session: Session = db_session) -> list[dict[str, Any]]:
    return [{"id": s.id, "name": s.name, "kind": s.kind, "licence": s.licence, "website": s.website,
             "repository": s.repository} for s in session.execute(select(Solution).order_by(Solution.name)).scalars()]


class SolutionIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")]
    kind: Annotated[str, StringConstraints(max_length=16)] | None = None
    licence: Annotated[str, StringConstraints(max_length=100)] | None = None
    website: Annotated[str, StringConstraints(max_length=500)] | None = None
    repository: Annotated[str, StringConstraints(max_length=500)] | None = None
    description: Annotated[str, StringConstraints(max_length=10_000)] = ""
    owner_org_id: Annotated[int, Field(ge=1)] | None = None


@router.post("/solutions", status_code=201, summary="Register a solution (software or digital good)",
             openapi_extra=_schema(SolutionIn))
def solution_create(body: JsonBody, session: Session = db_session,
                    principal: Principal = current_principal) -> dict[str, Any]:
    data = parse(SolutionIn, body)
    owner = data.owner_org_id or service.default_owner(principal)
    s = service.create_solution(session, principal, data.name, kind=data.kind, licence=data.licence,
                                website=data.website, repository=data.repository, description=data.description,
                                owner_org_id=owner)
    return {"id": s.id, "name": s.name, "kind": s.kind, "licence": s.licence, "website": s.website,
            "repository": s.repository, "owner_org_id": s.owner_org_id}


@router.get("/investments", summary="Investments you may see (published ones for everyone), with US dollars")
def investments(country: Iso3 = None,
                status: Annotated[str | None, Query(pattern="^(draft|published|archived)$")] = None,
                limit: Annotated[int, Query(ge=1, le=500)] = 50, offset: Offset = 0,
                session: Session = db_session, principal: Principal = current_principal) -> dict[str, Any]:
    rows, total = service.list_investments(session, principal, country=country, status=status, limit=limit,
                                           offset=offset)
    rates = money.Rates(session)
    return {"total": total, "limit": limit, "offset": offset,
            "items": [service.investment_detail(session, i, rates) for i in rows]}


@router.post("/investments", status_code=201, summary="Register an investment", openapi_extra=_schema(InvestmentIn))
def investment_create(body: JsonBody, session: Session = db_session,
                      principal: Principal = current_principal) -> dict[str, Any]:
    return service.investment_detail(session, service.create_investment(session, principal, parse(InvestmentIn, body)))


@router.get("/investments/{inv_id}", summary="One investment")
def investment(inv_id: Id, session: Session = db_session, principal: Principal = current_principal) -> dict[str, Any]:
    return service.investment_detail(session, service.get_investment(session, principal, inv_id))


@router.post("/investments/{inv_id}/{decision}", summary="approve (publishes) or reject")
def investment_decide(inv_id: Id, decision: Annotated[str, Path(pattern="^(approve|reject)$")],
                      session: Session = db_session, principal: Principal = current_principal) -> dict[str, Any]:
    return service.investment_detail(session, service.decide_investment(session, principal, inv_id, decision))


@router.post("/rates", summary="Load exchange rates (CSV: currency,year,units_per_usd,source); all or nothing")
async def rates_load(request: Request, session: Session = db_session,
                     principal: Principal = current_principal) -> dict[str, int]:
    from starlette.concurrency import run_in_threadpool

    data = await request.body()
    if len(data) > money.MAX_RATES_BYTES:
        raise PayloadTooLarge(_("The rate table is larger than %(n)s MB; nothing was loaded.",
                                n=money.MAX_RATES_BYTES // 1_000_000))
    return await run_in_threadpool(money.load_rates, session, principal, data)


@router.get("/terms/{list_name}", summary="A managed list: standards, interop or health_focus")
def term_list(list_name: str, session: Session = db_session) -> list[dict[str, Any]]:
    if list_name not in TERM_LISTS:
        from dho.errors import NotFound

        raise NotFound(_("No list %(name)s.", name=list_name[:30]))
    return [{"code": t.code, "en": t.label_en, "fr": t.label_fr, "open_standard": t.open_standard}
            for t in service.terms(session, list_name)]
