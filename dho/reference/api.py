"""Open API for reference data (public, read-only)."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy.orm import Session

from dho.reference import service
from dho.reference.models import ClassificationCode, Country
from dho.reference.schemas import (
    CodeDetailOut,
    CodeOut,
    CodePage,
    CountryDetailOut,
    CountryOut,
    CountryPage,
    IncomeGroupNameOut,
    MappingOut,
    RegionOut,
    SchemeOut,
    StrategyElementOut,
)
from dho.web.deps import db_session

router = APIRouter(tags=["reference"])

Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]
Text = Annotated[str | None, Query(max_length=100)]
Code = Annotated[str | None, Query(max_length=8, pattern=r"^[A-Za-z]{2,4}$")]


def country_out(c: Country) -> CountryOut:
    return CountryOut.model_validate({**{k: getattr(c, k) for k in CountryOut.model_fields if k != "name_fr"},
                                      "name_fr": service.country_name(c, "fr")})


def code_out(c: ClassificationCode) -> CodeOut:
    return CodeOut(scheme=c.scheme, code=c.code, name=c.name, level=c.level, parent_code=c.parent_code,
                   attributes=json.loads(c.attributes))


@router.get("/regions", response_model=list[RegionOut], summary="WHO regions")
def regions(session: Session = db_session) -> list:
    return service.regions(session)


@router.get("/income-groups", response_model=list[IncomeGroupNameOut], summary="World Bank income groups")
def income_groups(session: Session = db_session) -> list:
    return service.income_group_names(session)


@router.get("/countries", response_model=CountryPage, summary="Search countries and areas")
def countries(
    q: Text = None, region: Code = None, income_group: Code = None, members: bool = False,
    limit: Limit = 50, offset: Offset = 0, session: Session = db_session,
) -> CountryPage:
    rows, total = service.search_countries(session, q=q, region=region and region.upper(),
                                           income=income_group and income_group.upper(),
                                           members_only=members, limit=limit, offset=offset)
    return CountryPage(total=total, limit=limit, offset=offset, items=[country_out(c) for c in rows])


@router.get("/countries/{iso3}", response_model=CountryDetailOut, summary="One country or area")
def country(iso3: str, session: Session = db_session) -> CountryDetailOut:
    c = service.get_country(session, iso3)
    return CountryDetailOut(**country_out(c).model_dump(), income_history=service.income_history(session, c.iso3))


@router.get("/classifications", response_model=list[SchemeOut], summary="Classification schemes")
def schemes(session: Session = db_session) -> list:
    return service.schemes(session)


@router.get("/classifications/{scheme}/codes", response_model=CodePage, summary="Search a classification")
def codes(
    scheme: str, q: Text = None, level: Annotated[str | None, Query(max_length=40)] = None,
    parent: Annotated[str | None, Query(max_length=16)] = None,
    limit: Limit = 500, offset: Offset = 0, session: Session = db_session,
) -> CodePage:
    rows, total = service.search_codes(session, scheme, q=q, level=level, parent=parent, limit=limit, offset=offset)
    return CodePage(total=total, limit=limit, offset=offset, items=[code_out(c) for c in rows])


@router.get("/classifications/{scheme}/codes/{code}", response_model=CodeDetailOut,
            summary="One code with its parent, children and its 2018 -> 2023 mapping")
def code(scheme: str, code: str, session: Session = db_session) -> CodeDetailOut:
    d = service.get_code(session, scheme, code)
    return CodeDetailOut(
        **code_out(d.code).model_dump(),
        parent=code_out(d.parent) if d.parent else None,
        children=[code_out(c) for c in d.children],
        maps_to=[MappingOut(from_scheme=m.from_scheme, from_code=m.from_code, to_scheme=m.to_scheme,
                            to_code=m.to_code, to_name=t.name if t else None, relationship=m.relationship,
                            comment=m.comment) for m, t in d.maps_to],
        maps_from=[MappingOut(from_scheme=m.from_scheme, from_code=m.from_code, to_scheme=m.to_scheme,
                              to_code=m.to_code, to_name=d.code.name, relationship=m.relationship,
                              comment=m.comment) for m, _f in d.maps_from],
    )


@router.get("/strategy", response_model=list[StrategyElementOut], summary="Structure of the global strategy")
def strategy(session: Session = db_session) -> list:
    return service.strategy_elements(session)
