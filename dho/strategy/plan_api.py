"""Action plans JSON API (mounted under /api): plans, activities, updates, links, milestones, the annual
review and its snapshot. RAG comes computed with every activity (``?on=YYYY-MM-DD`` for another day)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query
from fastapi.responses import Response
from sqlalchemy.orm import Session

from dho.accounts.permissions import Principal
from dho.errors import NotFound
from dho.i18n import _
from dho.strategy import plans, review
from dho.strategy.models import LINK_KINDS, Activity
from dho.validation import parse
from dho.web.deps import current_principal, db_session
from dho.web.params import Id, Offset

api = APIRouter(prefix="/plans", tags=["action plans"])
JsonBody = Annotated[Any, Body()]
Version = Annotated[int | None, Query(ge=1, le=2_147_483_647)]
OnDate = Annotated[dt.date | None, Query(description="compute RAG at this date (default today)")]


def _schema(model: type) -> dict[str, Any]:
    return {"requestBody": {"content": {"application/json": {"schema": model.model_json_schema()}}}}


def _activity_of(session: Session, plan_id: int, activity_id: int) -> Activity:
    act = session.get(Activity, activity_id)
    if act is None or act.plan_id != plan_id:
        raise NotFound(_("No activity %(id)s in plan %(plan)s.", id=activity_id, plan=plan_id))
    return act


def _activity_out(session: Session, act: Activity) -> dict[str, Any]:
    plan = plans.get_plan(session, act.plan_id)
    view = next(v for v in plans.activity_views(session, plan) if v.activity.id == act.id)
    return plans.activity_dict(view)


@api.get("", summary="Action plans (filter by owner kind, country, status, cycle)")
def plan_list(owner: Annotated[str | None, Query(pattern="^(country|secretariat|partner)$")] = None,
              country: Annotated[str | None, Query(pattern=r"^[A-Za-z]{3}$")] = None,
              status: Annotated[str | None, Query(pattern="^(active|reviewed)$")] = None,
              organisation: Annotated[int | None, Query(ge=1, le=2_147_483_647)] = None,
              cycle: Annotated[int | None, Query(ge=2000, le=2100)] = None,
              limit: Annotated[int, Query(ge=1, le=500)] = 100, offset: Offset = 0,
              session: Session = db_session) -> dict[str, Any]:
    rows, total = plans.list_plans(session, plans.PlanFilters(owner, country, status, organisation, cycle),
                                   limit, offset)
    items = []
    for p in rows:
        views = plans.activity_views(session, p)
        d = plans.plan_dict(session, p, views)
        d["activity_count"] = len(d.pop("activities"))
        items.append(d)
    return {"total": total, "limit": limit, "offset": offset, "items": items}


@api.post("", status_code=201, summary="Create a plan (a country's, the Secretariat's or a partner's)",
          openapi_extra=_schema(plans.PlanIn))
def plan_create(body: JsonBody, session: Session = db_session,
                principal: Principal = current_principal) -> dict[str, Any]:
    plans.signed_in(principal)
    plan = plans.create_plan(session, principal, parse(plans.PlanIn, body))
    return plans.plan_dict(session, plan)


@api.get("/{plan_id}", summary="One plan with its activities and their computed RAG")
def plan_get(plan_id: Id, on: OnDate = None, session: Session = db_session) -> dict[str, Any]:
    return plans.plan_dict(session, plans.get_plan(session, plan_id), on=on)


class _PlanChange(plans._Strict):
    title: plans.Title
    starts_on: dt.date
    ends_on: dt.date


@api.put("/{plan_id}", summary="Change a plan's title or dates (send the version you edited)",
         openapi_extra=_schema(_PlanChange))
def plan_update(plan_id: Id, body: JsonBody, version: Version = None, session: Session = db_session,
                principal: Principal = current_principal) -> dict[str, Any]:
    plans.signed_in(principal)
    data = parse(_PlanChange, body)
    plan = plans.update_plan(session, principal, plan_id, data.title, data.starts_on, data.ends_on, version)
    return plans.plan_dict(session, plan)


@api.post("/{plan_id}/activities", status_code=201, summary="Add an activity",
          openapi_extra=_schema(plans.ActivityIn))
def activity_create(plan_id: Id, body: JsonBody, session: Session = db_session,
                    principal: Principal = current_principal) -> dict[str, Any]:
    plans.signed_in(principal)
    act = plans.create_activity(session, principal, plan_id, parse(plans.ActivityIn, body))
    return _activity_out(session, act)


@api.get("/{plan_id}/activities/{activity_id}", summary="One activity with its RAG, milestones and links")
def activity_get(plan_id: Id, activity_id: Id, session: Session = db_session) -> dict[str, Any]:
    return _activity_out(session, _activity_of(session, plan_id, activity_id))


@api.put("/{plan_id}/activities/{activity_id}", summary="Replace an activity (milestones and links included; "
         "send the version you edited)", openapi_extra=_schema(plans.ActivityIn))
def activity_update(plan_id: Id, activity_id: Id, body: JsonBody, version: Version = None,
                    session: Session = db_session, principal: Principal = current_principal) -> dict[str, Any]:
    plans.signed_in(principal)
    _activity_of(session, plan_id, activity_id)
    act = plans.update_activity(session, principal, activity_id, parse(plans.ActivityIn, body), version)
    return _activity_out(session, act)


@api.delete("/{plan_id}/activities/{activity_id}", status_code=204, summary="Delete an activity")
def activity_delete(plan_id: Id, activity_id: Id, version: Version = None, session: Session = db_session,
                    principal: Principal = current_principal) -> Response:
    plans.signed_in(principal)
    _activity_of(session, plan_id, activity_id)
    plans.delete_activity(session, principal, activity_id, version)
    return Response(status_code=204)


@api.get("/{plan_id}/activities/{activity_id}/updates", summary="An activity's progress reports, latest first")
def update_list(plan_id: Id, activity_id: Id, session: Session = db_session) -> list[dict[str, Any]]:
    _activity_of(session, plan_id, activity_id)
    return [{"id": u.id, "on_date": u.on_date.isoformat(), "by": u.by, "progress": u.progress,
             "spent": None if u.spent is None else str(u.spent), "note": u.note}
            for u in plans.updates_of(session, activity_id, 500)]


@api.post("/{plan_id}/activities/{activity_id}/updates", status_code=201, summary="Report progress",
          openapi_extra=_schema(plans.UpdateIn))
def update_create(plan_id: Id, activity_id: Id, body: JsonBody, session: Session = db_session,
                  principal: Principal = current_principal) -> dict[str, Any]:
    plans.signed_in(principal)
    _activity_of(session, plan_id, activity_id)
    plans.post_update(session, principal, activity_id, parse(plans.UpdateIn, body))
    return _activity_out(session, _activity_of(session, plan_id, activity_id))


@api.post("/{plan_id}/activities/{activity_id}/links", status_code=201, summary="Link an activity to a gap, "
          "priority, objective, annex action, investment, implementation or indicator",
          openapi_extra=_schema(plans.LinkIn))
def link_create(plan_id: Id, activity_id: Id, body: JsonBody, session: Session = db_session,
                principal: Principal = current_principal) -> dict[str, Any]:
    plans.signed_in(principal)
    _activity_of(session, plan_id, activity_id)
    plans.add_link(session, principal, activity_id, parse(plans.LinkIn, body))
    return _activity_out(session, _activity_of(session, plan_id, activity_id))


@api.delete("/{plan_id}/activities/{activity_id}/links/{kind}/{ref}", status_code=204, summary="Remove a link")
def link_delete(plan_id: Id, activity_id: Id, kind: Annotated[str, Path(pattern="^(" + "|".join(LINK_KINDS) + ")$")],
                ref: Annotated[str, Path(max_length=40)], session: Session = db_session,
                principal: Principal = current_principal) -> Response:
    plans.signed_in(principal)
    _activity_of(session, plan_id, activity_id)
    plans.remove_link(session, principal, activity_id, kind, ref)
    return Response(status_code=204)


@api.post("/{plan_id}/activities/{activity_id}/milestones", status_code=201, summary="Add a milestone",
          openapi_extra=_schema(plans.MilestoneIn))
def milestone_create(plan_id: Id, activity_id: Id, body: JsonBody, session: Session = db_session,
                     principal: Principal = current_principal) -> dict[str, Any]:
    plans.signed_in(principal)
    _activity_of(session, plan_id, activity_id)
    plans.add_milestone(session, principal, activity_id, parse(plans.MilestoneIn, body))
    return _activity_out(session, _activity_of(session, plan_id, activity_id))


@api.post("/{plan_id}/review", status_code=201, summary="Close the annual review: snapshot, next cycle, carry "
          "unfinished activities forward (send the plan's version)", openapi_extra=_schema(plans.ReviewIn))
def review_create(plan_id: Id, body: JsonBody, version: Version = None, session: Session = db_session,
                  principal: Principal = current_principal) -> dict[str, Any]:
    plans.signed_in(principal)
    r = review.review_plan(session, principal, plan_id, parse(plans.ReviewIn, body), version)
    return _review_out(r)


def _review_out(r: Any) -> dict[str, Any]:
    return {"id": r.id, "plan_id": r.plan_id, "reviewed_on": r.reviewed_on.isoformat(), "by": r.by,
            "summary": r.summary, "snapshot_sha256": r.snapshot_sha256, "next_plan_id": r.next_plan_id,
            "snapshot_url": f"/api/plans/{r.plan_id}/snapshot.json", "verified": review.verify(r)}


@api.get("/{plan_id}/review", summary="The plan's annual review (404 while it is not reviewed)")
def review_get(plan_id: Id, session: Session = db_session) -> dict[str, Any]:
    plans.get_plan(session, plan_id)
    r = review.review_of(session, plan_id)
    if r is None:
        raise NotFound(_("Plan %(id)s has not been reviewed yet.", id=plan_id))
    return _review_out(r)


@api.get("/{plan_id}/snapshot.json", summary="The review's snapshot, byte for byte as hashed")
def snapshot_download(plan_id: Id, session: Session = db_session) -> Response:
    plans.get_plan(session, plan_id)
    r = review.review_of(session, plan_id)
    if r is None:
        raise NotFound(_("Plan %(id)s has not been reviewed yet.", id=plan_id))
    return Response(r.snapshot.encode("utf-8"), media_type="application/json", headers={
        "Content-Disposition": f'attachment; filename="plan-{plan_id}-review-snapshot.json"',
        "X-Snapshot-SHA256": r.snapshot_sha256})
