"""The annual review of an action plan: freeze it as a snapshot, open the next cycle, carry forward.

The snapshot is the plan as it stood on the review date (its activities with their RAG computed at
that date, milestones, links and money per currency), written as canonical JSON and hashed with
SHA-256, so anyone holding the JSON can check it is the one reviewed. The plan turns "reviewed"
(frozen); a new plan for the next cycle points back to it (``previous_id``) and receives every
activity that is neither done nor cancelled (``carried_from_id``), with its links and the
milestones not done yet. Reviewing a plan a second time is refused."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from dho.accounts.permissions import Principal, authorize
from dho.errors import Conflict, FieldError, ValidationFailed
from dho.i18n import _
from dho.jsonutil import canonical_json
from dho.strategy import plans
from dho.strategy.models import ActionPlan, Activity, ActivityLink, Milestone, PlanReview

SNAPSHOT_FORMAT = "dho.plan-review/1"
UNFINISHED = ("not_started", "in_progress")


def snapshot(session: Session, plan: ActionPlan, on: dt.date) -> dict[str, Any]:
    """The plan as it stood on ``on``: every value a reader needs to check the review's figures."""
    views = plans.activity_views(session, plan, on)
    detail = plans.plan_dict(session, plan, views, on)
    for key in ("version", "next_id", "status"):
        detail.pop(key, None)
    for a in detail["activities"]:
        a.pop("version", None)
        a.pop("position", None)
    return {"format": SNAPSHOT_FORMAT, "reviewed_on": on.isoformat(), "plan": detail}


def _next_dates(plan: ActionPlan) -> tuple[dt.date, dt.date]:
    """The next cycle runs as long as this one did, starting the day after it ends."""
    length = plan.ends_on - plan.starts_on
    start = plan.ends_on + dt.timedelta(days=1)
    return start, start + length


def _next_title(plan: ActionPlan) -> str:
    old, new = str(plan.cycle), str(plan.cycle + 1)
    return plan.title.replace(old, new) if old in plan.title else f"{plan.title} ({new})"[:300]


def review_plan(session: Session, principal: Principal, plan_id: int, data: plans.ReviewIn,
                expected_version: int | None = None) -> PlanReview:
    plans.signed_in(principal)
    plan = plans.get_plan(session, plan_id)
    authorize(session, principal, "plan.review", plans.plan_target(session, plan))
    if plan.status == "reviewed":
        done = session.scalar(select(PlanReview.reviewed_on).where(PlanReview.plan_id == plan.id))
        raise Conflict(_("This plan was reviewed already (on %(date)s); its next cycle is open.",
                         date=done.isoformat() if done else "?"))
    plans.check_version(plan.version, expected_version)
    if data.reviewed_on < plan.starts_on or data.reviewed_on > plans.today() + dt.timedelta(days=1):
        raise ValidationFailed(_("The review date is not valid; nothing was saved."), errors=[FieldError(
            "reviewed_on", _("must fall between the plan's start and today"))])
    clash = plans.plan_for_cycle(session, plan.owner_kind, plan.country_iso3, plan.organisation_id, plan.cycle + 1)
    if clash:
        raise Conflict(_("A plan for the %(cycle)s cycle exists already (plan %(id)s); nothing was saved.",
                         cycle=plan.cycle + 1, id=clash))

    snap = snapshot(session, plan, data.reviewed_on)
    text = canonical_json(snap)
    starts, ends = _next_dates(plan)
    nxt = ActionPlan(title=_next_title(plan), owner_kind=plan.owner_kind, country_iso3=plan.country_iso3,
                     organisation_id=plan.organisation_id, strategy_id=plan.strategy_id, cycle=plan.cycle + 1,
                     starts_on=starts, ends_on=ends, currency=plan.currency, status="active", previous_id=plan.id)
    session.add(nxt)
    session.flush()
    carry_forward(session, plan, nxt)
    review = PlanReview(plan_id=plan.id, reviewed_on=data.reviewed_on, by=principal.actor.label, summary=data.summary,
                        snapshot=text, snapshot_sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
                        next_plan_id=nxt.id)
    session.add(review)
    plan.status = "reviewed"
    plans.flush(session)
    return review


def carry_forward(session: Session, old: ActionPlan, new: ActionPlan) -> list[Activity]:
    """Copy the unfinished activities of ``old`` into ``new`` with their links and open milestones."""
    out = []
    for a in session.execute(select(Activity).where(Activity.plan_id == old.id, Activity.status.in_(UNFINISHED))
                             .order_by(Activity.position, Activity.id)).scalars().all():
        copy = Activity(plan_id=new.id, title=a.title, description=a.description, owner_org_id=a.owner_org_id,
                        budget=a.budget, spent=a.spent, currency=a.currency, starts_on=a.starts_on, due_on=a.due_on,
                        status=a.status, progress=a.progress, last_update_on=a.last_update_on, carried_from_id=a.id,
                        position=a.position)
        session.add(copy)
        session.flush()
        session.add_all(ActivityLink(activity_id=copy.id, kind=link.kind, ref=link.ref) for link in session.execute(
            select(ActivityLink).where(ActivityLink.activity_id == a.id)).scalars())
        session.add_all(Milestone(activity_id=copy.id, title=m.title, due_on=m.due_on) for m in session.execute(
            select(Milestone).where(Milestone.activity_id == a.id, Milestone.done_on.is_(None))).scalars())
        out.append(copy)
    session.flush()
    return out


def review_of(session: Session, plan_id: int) -> PlanReview | None:
    return session.execute(select(PlanReview).where(PlanReview.plan_id == plan_id)).scalars().first()


def verify(review: PlanReview) -> bool:
    """Whether the stored snapshot still hashes to the recorded SHA-256."""
    return hashlib.sha256(review.snapshot.encode("utf-8")).hexdigest() == review.snapshot_sha256
