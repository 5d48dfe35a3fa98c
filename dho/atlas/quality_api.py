"""Atlas data quality over JSON: likely duplicates, merging them, stale records and completeness."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from sqlalchemy.orm import Session

from dho.accounts.permissions import Principal
from dho.atlas import dedupe, merge
from dho.web.deps import current_principal, db_session
from dho.web.params import Id

router = APIRouter(prefix="/atlas", tags=["atlas"])
Iso3 = Annotated[str | None, Query(pattern=r"^[A-Za-z]{3}$")]
Entity = Annotated[str, Query(pattern="^(implementation|organisation)$")]


@router.get("/duplicates", summary="Likely duplicate records, with scores and reasons (implementations: those you "
            "may read; the public sees published ones)")
def duplicates(country: Iso3 = None, entity: Entity = "implementation",
               threshold: Annotated[float, Query(ge=0.5, le=1.0)] = dedupe.DEFAULT_THRESHOLD,
               limit: Annotated[int, Query(ge=1, le=1000)] = 200,
               session: Session = db_session, principal: Principal = current_principal) -> dict[str, Any]:
    return dedupe.duplicates(session, principal, entity=entity, country=country, threshold=threshold, limit=limit)


@router.post("/implementations/{keep_id}/merge/{merged_id}",
             summary="Merge implementation merged_id into keep_id (the country's focal point, the secretariat)")
def merge_implementations(keep_id: Id, merged_id: Id, session: Session = db_session,
                          principal: Principal = current_principal) -> dict[str, Any]:
    return merge.record_dict(merge.merge_implementations(session, principal, keep_id, merged_id))


@router.post("/organisations/{keep_id}/merge/{merged_id}",
             summary="Merge organisation merged_id into keep_id: every reference moves, the duplicate is deleted")
def merge_organisations(keep_id: Id, merged_id: Id, session: Session = db_session,
                        principal: Principal = current_principal) -> dict[str, Any]:
    return merge.record_dict(merge.merge_organisations(session, principal, keep_id, merged_id))


@router.get("/stale", summary="Records you may edit that were not updated for a year, by owner organisation")
def stale(country: Iso3 = None, session: Session = db_session,
          principal: Principal = current_principal) -> dict[str, Any]:
    groups = merge.stale_records(session, principal, country=country)
    return {"total": sum(len(g["records"]) for g in groups), "organisations": groups}


@router.get("/completeness", summary="Mean completeness of the implementations per country")
def completeness(country: Iso3 = None, session: Session = db_session,
                 principal: Principal = current_principal) -> dict[str, Any]:
    return {"countries": merge.completeness_by_country(session, principal, country=country)}
