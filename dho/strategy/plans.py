"""Action plans: a country's, the Secretariat's or a partner's plan for one cycle, its activities
(owner organisation, exact money, dates, milestones, progress, updates) and what each activity links to.

Every write goes through ``authorize`` with the plan's target (country, region, organisation), so a
focal point edits only its own country's plans and a partner only its organisation's. Plans are
public to read: they state commitments and progress, not personal data. A reviewed plan is frozen;
its next cycle is edited instead. Red/amber/green comes from ``dho.strategy.rag`` (never stored)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, Strict, StringConstraints, model_validator
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from dho.accounts.models import Organisation
from dho.accounts.permissions import Principal, Target, authorize, can
from dho.atlas import money
from dho.atlas.models import Implementation, ImplementationOrg, Investment
from dho.errors import Conflict, FieldError, NotFound, Unauthenticated, ValidationFailed
from dho.i18n import _
from dho.reference import service as reference
from dho.strategy import rag
from dho.strategy.models import (
    ACTIVITY_STATUSES,
    LINK_KINDS,
    PLAN_OWNERS,
    PLAN_STATUSES,
    ActionPlan,
    Activity,
    ActivityLink,
    ActivityUpdate,
    Milestone,
    NationalStrategy,
)

MAX_ACTIVITIES = 500
MAX_MILESTONES = 50
MAX_LINKS = 100
OBJECTIVES = ("SO1", "SO2", "SO3", "SO4")
ANNEX_PATTERN = re.compile(r"^SO[1-4]\.(MS|SEC|PAR)\.[SML][0-9]+$")
INDICATOR_PATTERN = re.compile(r"^[A-Z0-9_.-]{2,40}$")
ID_PATTERN = re.compile(r"^[1-9][0-9]{0,8}$")
EARLIEST = dt.date(2000, 1, 1)
LATEST = dt.date(2100, 12, 31)

# ---------------------------------------------------------------- input models (unknown fields refused)

Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300,
                                         pattern=r"^[^\x00-\x1f\x7f]+$")]
Text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=10_000,
                                        pattern=r"^[^\x00-\x08\x0b\x0c\x0e-\x1f]*$")]
Amount = Annotated[str, StringConstraints(max_length=30)] | Annotated[int, Strict()]
Ref = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class PlanIn(_Strict):
    title: Title
    owner_kind: Annotated[str, Field(json_schema_extra={"enum": list(PLAN_OWNERS)})]
    country_iso3: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] | None = None
    organisation_id: Annotated[int, Field(ge=1, le=2_147_483_647)] | None = None
    cycle: Annotated[int, Field(ge=2000, le=2100)]
    starts_on: dt.date
    ends_on: dt.date
    currency: Annotated[str, StringConstraints(max_length=3)] = "USD"

    @model_validator(mode="after")
    def _consistent(self) -> PlanIn:
        if self.owner_kind not in PLAN_OWNERS:
            raise ValueError(_("the owner must be one of: %(choices)s", choices=", ".join(PLAN_OWNERS)))
        if self.ends_on < self.starts_on:
            raise ValueError(_("the plan ends before it starts"))
        if self.owner_kind == "country" and (not self.country_iso3 or self.organisation_id):
            raise ValueError(_("a country's plan names its country and no organisation"))
        if self.owner_kind == "partner" and (not self.organisation_id or self.country_iso3):
            raise ValueError(_("a partner's plan names its organisation and no country"))
        if self.owner_kind == "secretariat" and (self.country_iso3 or self.organisation_id):
            raise ValueError(_("the Secretariat's plan names no country and no organisation"))
        return self


class MilestoneIn(_Strict):
    title: Title
    due_on: dt.date
    done_on: dt.date | None = None


class LinkIn(_Strict):
    kind: Annotated[str, Field(json_schema_extra={"enum": list(LINK_KINDS)})]
    ref: Ref


class ActivityIn(_Strict):
    title: Title
    description: Text = ""
    owner_org_id: Annotated[int, Field(ge=1, le=2_147_483_647)] | None = None
    budget: Amount | None = None
    spent: Amount = "0"
    currency: Annotated[str, StringConstraints(max_length=3)] = "USD"
    starts_on: dt.date
    due_on: dt.date
    done_on: dt.date | None = None
    status: Annotated[str, Field(json_schema_extra={"enum": list(ACTIVITY_STATUSES)})] = "not_started"
    progress: Annotated[int, Field(ge=0, le=100)] = 0
    position: Annotated[int, Field(ge=0, le=100_000)] = 0
    milestones: Annotated[list[MilestoneIn], Field(max_length=MAX_MILESTONES)] = []
    links: Annotated[list[LinkIn], Field(max_length=MAX_LINKS)] = []

    @model_validator(mode="after")
    def _consistent(self) -> ActivityIn:
        if self.due_on < self.starts_on:
            raise ValueError(_("the due date %(due)s is before the start date %(start)s",
                               due=self.due_on.isoformat(), start=self.starts_on.isoformat()))
        if self.status not in ACTIVITY_STATUSES:
            raise ValueError(_("the status must be one of: %(choices)s", choices=", ".join(ACTIVITY_STATUSES)))
        if self.done_on is not None and self.status != "done":
            raise ValueError(_("only a done activity has a completion date"))
        return self


class UpdateIn(_Strict):
    on_date: dt.date
    progress: Annotated[int, Field(ge=0, le=100)]
    spent: Amount | None = None
    status: Annotated[str, Field(json_schema_extra={"enum": list(ACTIVITY_STATUSES)})] | None = None
    note: Text = ""


class ReviewIn(_Strict):
    reviewed_on: dt.date
    summary: Text = ""


# ---------------------------------------------------------------- helpers


def today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def plan_target(session: Session, plan: ActionPlan | PlanIn) -> Target:
    return Target(country_iso3=plan.country_iso3, region_code=reference.region_of(session, plan.country_iso3),
                  organisation_id=plan.organisation_id)


def signed_in(principal: Principal) -> None:
    if not principal.is_authenticated:
        raise Unauthenticated(_("Sign in to do this."))


def flush(session: Session) -> None:
    try:
        session.flush()
    except StaleDataError:
        session.rollback()
        raise Conflict(_("Someone else saved this plan meanwhile; reload it and apply your change again.")) from None


def check_version(current: int, expected: int | None) -> None:
    if expected is not None and expected != current:
        raise Conflict(_("Someone else saved this record meanwhile (now version %(v)s); reload it and apply your "
                         "change again.", v=current))


def _date_range(when: dt.date, field: str, errors: list[FieldError]) -> None:
    if not EARLIEST <= when <= LATEST:
        errors.append(FieldError(field, _("%(date)s is outside 2000-2100", date=when.isoformat())))


def _amount(value: Any, field: str, errors: list[FieldError]) -> Decimal | None:
    try:
        return money.parse_amount(value, field, allow_zero=True)
    except ValidationFailed as exc:
        errors.extend(exc.errors)
        return None


def may_edit(session: Session, principal: Principal, plan: ActionPlan) -> bool:
    return principal.is_authenticated and can(principal, "plan.edit", plan_target(session, plan))


def may_review(session: Session, principal: Principal, plan: ActionPlan) -> bool:
    return principal.is_authenticated and can(principal, "plan.review", plan_target(session, plan))


# ---------------------------------------------------------------- plans


def create_plan(session: Session, principal: Principal, data: PlanIn) -> ActionPlan:
    signed_in(principal)
    authorize(session, principal, "plan.edit", plan_target(session, data))
    errors: list[FieldError] = []
    if data.country_iso3:
        try:
            reference.get_country(session, data.country_iso3)
        except NotFound:
            errors.append(FieldError("country_iso3", _("%(code)s is not a known country code", code=data.country_iso3)))
    if data.organisation_id and session.get(Organisation, data.organisation_id) is None:
        errors.append(FieldError("organisation_id", _("no organisation %(id)s in the master list",
                                                      id=data.organisation_id)))
    try:
        currency = money.check_currency(data.currency)
    except ValidationFailed as exc:
        errors.extend(exc.errors)
        currency = "USD"
    _date_range(data.starts_on, "starts_on", errors)
    _date_range(data.ends_on, "ends_on", errors)
    if errors:
        raise ValidationFailed(_("The plan is not valid; nothing was saved."), errors=errors)
    same = plan_for_cycle(session, data.owner_kind, data.country_iso3, data.organisation_id, data.cycle)
    if same:
        raise Conflict(_("This owner has a plan for the %(cycle)s cycle already (plan %(id)s).",
                         cycle=data.cycle, id=same))
    strategy_id = session.scalar(select(NationalStrategy.id).where(
        NationalStrategy.country_iso3 == data.country_iso3, NationalStrategy.superseded_by_id.is_(None))
        .order_by(NationalStrategy.id.desc()).limit(1)) if data.country_iso3 else None
    plan = ActionPlan(title=data.title, owner_kind=data.owner_kind, country_iso3=data.country_iso3,
                      organisation_id=data.organisation_id, strategy_id=strategy_id, cycle=data.cycle,
                      starts_on=data.starts_on, ends_on=data.ends_on, currency=currency, status="active")
    session.add(plan)
    session.flush()
    return plan


def plan_for_cycle(session: Session, owner_kind: str, country_iso3: str | None, organisation_id: int | None,
                   cycle: int) -> int | None:
    """The id of the owner's plan for that cycle, if there is one (one plan per owner and cycle)."""
    return session.scalar(select(ActionPlan.id).where(
        ActionPlan.owner_kind == owner_kind, ActionPlan.cycle == cycle,
        ActionPlan.country_iso3.is_(None) if country_iso3 is None else ActionPlan.country_iso3 == country_iso3,
        ActionPlan.organisation_id.is_(None) if organisation_id is None
        else ActionPlan.organisation_id == organisation_id).limit(1))


def get_plan(session: Session, plan_id: int) -> ActionPlan:
    plan = session.get(ActionPlan, plan_id)
    if plan is None:
        raise NotFound(_("No action plan %(id)s.", id=plan_id))
    return plan


def editable_plan(session: Session, principal: Principal, plan_id: int, expected_version: int | None = None
                  ) -> ActionPlan:
    """The plan, if the principal may edit it and it is still open (401, 404, 403 or 409 otherwise)."""
    signed_in(principal)
    plan = get_plan(session, plan_id)
    authorize(session, principal, "plan.edit", plan_target(session, plan))
    if plan.status == "reviewed":
        raise Conflict(_("This plan was reviewed and is frozen; edit the plan of its next cycle."))
    check_version(plan.version, expected_version)
    return plan


def update_plan(session: Session, principal: Principal, plan_id: int, title: str, starts_on: dt.date,
                ends_on: dt.date, expected_version: int | None) -> ActionPlan:
    plan = editable_plan(session, principal, plan_id, expected_version)
    errors: list[FieldError] = []
    title = (title or "").strip()
    if not title or len(title) > 300:
        errors.append(FieldError("title", _("is required (at most 300 characters)")))
    if ends_on < starts_on:
        errors.append(FieldError("ends_on", _("the plan ends before it starts")))
    if errors:
        raise ValidationFailed(_("The plan is not valid; nothing was saved."), errors=errors)
    plan.title, plan.starts_on, plan.ends_on = title, starts_on, ends_on
    flush(session)
    return plan


@dataclass
class PlanFilters:
    owner: str | None = None  # country, secretariat, partner
    country: str | None = None
    status: str | None = None
    organisation_id: int | None = None
    cycle: int | None = None


def list_plans(session: Session, filters: PlanFilters, limit: int = 100, offset: int = 0
               ) -> tuple[list[ActionPlan], int]:
    stmt = select(ActionPlan)
    if filters.owner in PLAN_OWNERS:
        stmt = stmt.where(ActionPlan.owner_kind == filters.owner)
    if filters.country:
        stmt = stmt.where(ActionPlan.country_iso3 == filters.country.upper())
    if filters.status in PLAN_STATUSES:
        stmt = stmt.where(ActionPlan.status == filters.status)
    if filters.organisation_id:
        stmt = stmt.where(ActionPlan.organisation_id == filters.organisation_id)
    if filters.cycle:
        stmt = stmt.where(ActionPlan.cycle == filters.cycle)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.execute(stmt.order_by(ActionPlan.owner_kind, ActionPlan.country_iso3, ActionPlan.organisation_id,
                                         ActionPlan.cycle.desc(), ActionPlan.id).limit(limit).offset(offset)).scalars()
    return list(rows), total


# ---------------------------------------------------------------- links


def _annex_known(ref: str) -> bool:
    """An annex action id of the strategy catalogue; its pattern while the catalogue is not there."""
    try:
        from dho.strategy import catalogue  # type: ignore[attr-defined]
    except ImportError:
        return bool(ANNEX_PATTERN.fullmatch(ref))
    lookup = getattr(catalogue, "annex_action", None)
    if lookup is None:
        return bool(ANNEX_PATTERN.fullmatch(ref))
    try:
        return lookup(ref) is not None
    except (LookupError, NotFound, ValueError):
        return False


def _maturity_codes(session: Session) -> set[str]:
    from dho.maturity import service as maturity

    return set(maturity.indicator_codes(session, maturity.DEFAULT_FRAMEWORK))


def check_links(session: Session, plan: ActionPlan, links: Iterable[LinkIn], prefix: str = "links"
                ) -> list[tuple[str, str]]:
    """The links as (kind, ref), each target checked to exist and, for atlas records, to belong to
    the plan's country (or, for a partner's plan, to the partner). Raises with every bad link."""
    errors: list[FieldError] = []
    out: list[tuple[str, str]] = []
    codes: set[str] | None = None
    for n, link in enumerate(links, start=1):
        where, kind, ref = f"{prefix}[{n}]", link.kind, link.ref
        ok = True
        if kind not in LINK_KINDS:
            errors.append(FieldError(where, _("unknown kind of link %(kind)s", kind=kind[:20])))
            continue
        if kind in ("gap", "priority"):
            codes = codes if codes is not None else _maturity_codes(session)
            ok = ref in codes
            if not ok:
                errors.append(FieldError(where, _("%(ref)s is not an indicator of the maturity framework", ref=ref)))
        elif kind == "objective":
            ok = ref in OBJECTIVES
            if not ok:
                errors.append(FieldError(where, _("%(ref)s is not a strategic objective (SO1 to SO4)", ref=ref)))
        elif kind == "annex_action":
            ok = _annex_known(ref)
            if not ok:
                errors.append(FieldError(where, _("%(ref)s is not an action of the strategy's annex", ref=ref)))
        elif kind == "indicator":
            ok = bool(INDICATOR_PATTERN.fullmatch(ref))
            if not ok:
                errors.append(FieldError(where, _("%(ref)s is not an indicator code", ref=ref)))
        elif kind == "investment":
            ok = _investment_fits(session, plan, ref)
            if not ok:
                errors.append(FieldError(where, _("no investment %(ref)s for this plan's owner", ref=ref)))
        elif kind == "implementation":
            ok = _implementation_fits(session, plan, ref)
            if not ok:
                errors.append(FieldError(where, _("no implementation %(ref)s for this plan's owner", ref=ref)))
        if ok and (kind, ref) not in out:
            out.append((kind, ref))
    if errors:
        raise ValidationFailed(_("A link points at something unknown; nothing was saved."), errors=errors)
    return out


def _investment_fits(session: Session, plan: ActionPlan, ref: str) -> bool:
    inv = session.get(Investment, int(ref)) if ID_PATTERN.fullmatch(ref) else None
    if inv is None:
        return False
    if plan.owner_kind == "country":
        return inv.country_iso3 == plan.country_iso3
    if plan.owner_kind == "partner":
        return plan.organisation_id in (inv.funder_org_id, inv.owner_org_id, inv.recipient_org_id)
    return True


def _implementation_fits(session: Session, plan: ActionPlan, ref: str) -> bool:
    impl = session.get(Implementation, int(ref)) if ID_PATTERN.fullmatch(ref) else None
    if impl is None or impl.merged_into_id is not None:
        return False
    if plan.owner_kind == "country":
        return impl.country_iso3 == plan.country_iso3
    if plan.owner_kind == "partner":
        return impl.owner_org_id == plan.organisation_id or session.execute(select(ImplementationOrg).where(
            ImplementationOrg.implementation_id == impl.id,
            ImplementationOrg.organisation_id == plan.organisation_id)).first() is not None
    return True


# ---------------------------------------------------------------- activities


@dataclass
class CheckedActivity:
    budget: Decimal | None
    spent: Decimal
    currency: str
    links: list[tuple[str, str]]


def _check_activity(session: Session, plan: ActionPlan, data: ActivityIn) -> CheckedActivity:
    errors: list[FieldError] = []
    if data.owner_org_id is not None and session.get(Organisation, data.owner_org_id) is None:
        errors.append(FieldError("owner_org_id", _("no organisation %(id)s in the master list", id=data.owner_org_id)))
    budget = _amount(data.budget, "budget", errors) if data.budget not in (None, "") else None
    spent = _amount(data.spent if data.spent != "" else "0", "spent", errors)
    try:
        currency = money.check_currency(data.currency)
    except ValidationFailed as exc:
        errors.extend(exc.errors)
        currency = "USD"
    for name in ("starts_on", "due_on", "done_on"):
        when = getattr(data, name)
        if when is not None:
            _date_range(when, name, errors)
    if data.done_on is not None and data.done_on < data.starts_on:
        errors.append(FieldError("done_on", _("is before the start date")))
    for n, m in enumerate(data.milestones, start=1):
        _date_range(m.due_on, f"milestones[{n}]", errors)
    try:
        links = check_links(session, plan, data.links)
    except ValidationFailed as exc:
        errors.extend(exc.errors)
        links = []
    if errors:
        raise ValidationFailed(_("The activity is not valid; nothing was saved."), errors=errors)
    return CheckedActivity(budget, spent or Decimal(0), currency, links)


def create_activity(session: Session, principal: Principal, plan_id: int, data: ActivityIn) -> Activity:
    plan = editable_plan(session, principal, plan_id)
    checked = _check_activity(session, plan, data)
    count = session.scalar(select(func.count()).select_from(Activity).where(Activity.plan_id == plan.id)) or 0
    if count >= MAX_ACTIVITIES:
        raise ValidationFailed(_("A plan holds at most %(n)s activities; nothing was saved.", n=MAX_ACTIVITIES))
    act = Activity(plan_id=plan.id, title=data.title, description=data.description, owner_org_id=data.owner_org_id,
                   budget=checked.budget, spent=checked.spent, currency=checked.currency, starts_on=data.starts_on,
                   due_on=data.due_on, done_on=data.done_on, status=data.status, progress=data.progress,
                   position=data.position or count + 1)
    if data.status == "done":
        act.progress = 100
        act.done_on = data.done_on or today()
    session.add(act)
    session.flush()
    session.add_all(Milestone(activity_id=act.id, title=m.title, due_on=m.due_on, done_on=m.done_on)
                    for m in data.milestones)
    session.add_all(ActivityLink(activity_id=act.id, kind=k, ref=r) for k, r in checked.links)
    session.flush()
    return act


def get_activity(session: Session, activity_id: int) -> Activity:
    act = session.get(Activity, activity_id)
    if act is None:
        raise NotFound(_("No activity %(id)s.", id=activity_id))
    return act


def editable_activity(session: Session, principal: Principal, activity_id: int, expected_version: int | None = None
                      ) -> tuple[ActionPlan, Activity]:
    signed_in(principal)
    act = get_activity(session, activity_id)
    plan = editable_plan(session, principal, act.plan_id)
    check_version(act.version, expected_version)
    return plan, act


def update_activity(session: Session, principal: Principal, activity_id: int, data: ActivityIn,
                    expected_version: int | None = None, *, replace_children: bool = True) -> Activity:
    """Change an activity. ``replace_children``: the milestones and links sent replace the stored ones
    (the API's PUT); the page's form edits the activity's own fields only."""
    plan, act = editable_activity(session, principal, activity_id, expected_version)
    checked = _check_activity(session, plan, data)
    act.title, act.description, act.owner_org_id = data.title, data.description, data.owner_org_id
    act.budget, act.spent, act.currency = checked.budget, checked.spent, checked.currency
    act.starts_on, act.due_on, act.status, act.progress = data.starts_on, data.due_on, data.status, data.progress
    act.done_on = data.done_on if data.status == "done" else None
    if data.status == "done":
        act.progress, act.done_on = 100, data.done_on or act.done_on or today()
    if data.position:
        act.position = data.position
    flush(session)
    if replace_children:
        for model in (Milestone, ActivityLink):  # one by one, so that the audit log records them
            for row in session.execute(select(model).where(model.activity_id == act.id)).scalars():
                session.delete(row)
        session.flush()
        session.add_all(Milestone(activity_id=act.id, title=m.title, due_on=m.due_on, done_on=m.done_on)
                        for m in data.milestones)
        session.add_all(ActivityLink(activity_id=act.id, kind=k, ref=r) for k, r in checked.links)
        session.flush()
    return act


def delete_activity(session: Session, principal: Principal, activity_id: int, expected_version: int | None = None
                    ) -> None:
    _plan, act = editable_activity(session, principal, activity_id, expected_version)
    carried = session.execute(select(Activity.id).where(Activity.carried_from_id == act.id)).first()
    if carried:
        raise Conflict(_("This activity was carried forward into activity %(id)s; it cannot be deleted.",
                         id=carried[0]))
    for model in (Milestone, ActivityLink, ActivityUpdate):
        for row in session.execute(select(model).where(model.activity_id == act.id)).scalars():
            session.delete(row)
    session.flush()
    session.delete(act)
    flush(session)


def post_update(session: Session, principal: Principal, activity_id: int, data: UpdateIn) -> ActivityUpdate:
    """A progress report: it sets the activity's progress (and spending, and status if given) and
    dates its latest update, which the "no update" rule reads."""
    _plan, act = editable_activity(session, principal, activity_id)
    errors: list[FieldError] = []
    if data.on_date > today() + dt.timedelta(days=1):
        errors.append(FieldError("on_date", _("is in the future")))
    if data.on_date < act.starts_on - dt.timedelta(days=366):
        errors.append(FieldError("on_date", _("is long before the activity starts")))
    spent = _amount(data.spent, "spent", errors) if data.spent not in (None, "") else None
    if errors:
        raise ValidationFailed(_("The update is not valid; nothing was saved."), errors=errors)
    upd = ActivityUpdate(activity_id=act.id, on_date=data.on_date, by=principal.actor.label, progress=data.progress,
                         spent=spent, note=data.note)
    session.add(upd)
    act.progress = data.progress
    if spent is not None:
        act.spent = spent
    status = data.status or act.status
    if status == "not_started" and data.progress > 0:
        status = "in_progress"
    if data.progress == 100 and status in ("not_started", "in_progress") and data.status is None:
        status = "done"
    act.status = status
    if status == "done":
        act.progress, act.done_on = 100, act.done_on or data.on_date
    else:
        act.done_on = None
    if act.last_update_on is None or data.on_date > act.last_update_on:
        act.last_update_on = data.on_date
    flush(session)
    return upd


def add_link(session: Session, principal: Principal, activity_id: int, link: LinkIn) -> ActivityLink:
    plan, act = editable_activity(session, principal, activity_id)
    ((kind, ref),) = check_links(session, plan, [link], prefix="link")
    if session.get(ActivityLink, (act.id, kind, ref)) is not None:
        raise Conflict(_("This activity has that link already."))
    row = ActivityLink(activity_id=act.id, kind=kind, ref=ref)
    session.add(row)
    session.flush()
    return row


def remove_link(session: Session, principal: Principal, activity_id: int, kind: str, ref: str) -> None:
    _plan, act = editable_activity(session, principal, activity_id)
    row = session.get(ActivityLink, (act.id, kind[:16], ref[:40]))
    if row is None:
        raise NotFound(_("This activity has no such link."))
    session.delete(row)
    session.flush()


def add_milestone(session: Session, principal: Principal, activity_id: int, data: MilestoneIn) -> Milestone:
    _plan, act = editable_activity(session, principal, activity_id)
    errors: list[FieldError] = []
    _date_range(data.due_on, "due_on", errors)
    count = session.scalar(select(func.count()).select_from(Milestone).where(Milestone.activity_id == act.id)) or 0
    if count >= MAX_MILESTONES:
        errors.append(FieldError("milestones", _("at most %(n)s milestones per activity", n=MAX_MILESTONES)))
    if errors:
        raise ValidationFailed(_("The milestone is not valid; nothing was saved."), errors=errors)
    m = Milestone(activity_id=act.id, title=data.title, due_on=data.due_on, done_on=data.done_on)
    session.add(m)
    session.flush()
    return m


def complete_milestone(session: Session, principal: Principal, milestone_id: int, on: dt.date | None) -> Milestone:
    m = session.get(Milestone, milestone_id)
    if m is None:
        raise NotFound(_("No milestone %(id)s.", id=milestone_id))
    editable_activity(session, principal, m.activity_id)
    m.done_on = on
    session.flush()
    return m


# ---------------------------------------------------------------- reading


@dataclass
class ActivityView:
    """An activity with its computed state, as pages, the API and the review read it."""

    activity: Activity
    milestones: list[Milestone]
    links: list[ActivityLink]
    latest_update: dt.date | None
    updates: int
    rag: str
    reasons: list[str]
    owner_name: str | None


def activity_views(session: Session, plan: ActionPlan, on: dt.date | None = None) -> list[ActivityView]:
    """The plan's activities in order, with milestones, links and RAG at ``on`` (today by default), in
    four queries whatever the number of activities."""
    on = on or today()
    acts = list(session.execute(select(Activity).where(Activity.plan_id == plan.id)
                                .order_by(Activity.position, Activity.id)).scalars())
    ids = [a.id for a in acts]
    miles: dict[int, list[Milestone]] = {}
    links: dict[int, list[ActivityLink]] = {}
    latest: dict[int, tuple[dt.date, int]] = {}
    if ids:
        for m in session.execute(select(Milestone).where(Milestone.activity_id.in_(ids))
                                 .order_by(Milestone.due_on, Milestone.id)).scalars():
            miles.setdefault(m.activity_id, []).append(m)
        for link in session.execute(select(ActivityLink).where(ActivityLink.activity_id.in_(ids))
                                    .order_by(ActivityLink.kind, ActivityLink.ref)).scalars():
            links.setdefault(link.activity_id, []).append(link)
        for aid, last, n in session.execute(select(ActivityUpdate.activity_id, func.max(ActivityUpdate.on_date),
                                                   func.count()).where(ActivityUpdate.activity_id.in_(ids),
                                                                       ActivityUpdate.on_date <= on)
                                            .group_by(ActivityUpdate.activity_id)).all():
            latest[aid] = (last, n)
    owner_ids = {a.owner_org_id for a in acts if a.owner_org_id}
    names = dict(session.execute(select(Organisation.id, func.coalesce(Organisation.acronym, Organisation.name))
                                 .where(Organisation.id.in_(owner_ids))).all()) if owner_ids else {}
    out = []
    for a in acts:
        last, n = latest.get(a.id, (None, 0))
        known = [d for d in (last, a.last_update_on) if d is not None and d <= on]
        last = max(known) if known else None
        state, reasons = rag.evaluate(a, today=on, latest_update=last, milestones=miles.get(a.id, []))
        out.append(ActivityView(a, miles.get(a.id, []), links.get(a.id, []), last, n, state, reasons,
                                names.get(a.owner_org_id)))
    return out


def rag_counts(views: Iterable[ActivityView]) -> dict[str, int]:
    counts = dict.fromkeys(rag.RAG_STATES, 0)
    for v in views:
        counts[v.rag] += 1
    return counts


def money_totals(views: Iterable[ActivityView]) -> list[dict[str, Any]]:
    """Budget and spending per currency (amounts in different currencies are never added together)."""
    by: dict[str, dict[str, Decimal]] = {}
    for v in views:
        a = v.activity
        if a.status == "cancelled":
            continue
        t = by.setdefault(a.currency, {"budget": Decimal(0), "spent": Decimal(0)})
        t["budget"] += Decimal(a.budget or 0)
        t["spent"] += Decimal(a.spent or 0)
    return [{"currency": c, "budget": t["budget"], "spent": t["spent"]} for c, t in sorted(by.items())]


def owner_label(session: Session, plan: ActionPlan) -> str:
    if plan.owner_kind == "country" and plan.country_iso3:
        from dho import i18n

        return reference.country_name(reference.get_country(session, plan.country_iso3), i18n.get_locale())
    if plan.owner_kind == "partner" and plan.organisation_id:
        org = session.get(Organisation, plan.organisation_id)
        return org.name if org else str(plan.organisation_id)
    return _("WHO Secretariat")


def activity_dict(v: ActivityView) -> dict[str, Any]:
    a = v.activity
    return {
        "id": a.id, "plan_id": a.plan_id, "title": a.title, "description": a.description,
        "owner_org_id": a.owner_org_id, "owner": v.owner_name,
        "budget": None if a.budget is None else str(Decimal(a.budget).quantize(money.CENT)),
        "spent": str(Decimal(a.spent or 0).quantize(money.CENT)), "currency": a.currency,
        "starts_on": a.starts_on.isoformat(), "due_on": a.due_on.isoformat(),
        "done_on": a.done_on.isoformat() if a.done_on else None, "status": a.status, "progress": a.progress,
        "last_update_on": v.latest_update.isoformat() if v.latest_update else None, "updates": v.updates,
        "carried_from_id": a.carried_from_id, "position": a.position, "version": a.version,
        "rag": v.rag, "rag_reasons": v.reasons,
        "milestones": [{"id": m.id, "title": m.title, "due_on": m.due_on.isoformat(),
                        "done_on": m.done_on.isoformat() if m.done_on else None} for m in v.milestones],
        "links": [{"kind": link.kind, "ref": link.ref} for link in v.links],
    }


def plan_dict(session: Session, plan: ActionPlan, views: list[ActivityView] | None = None,
              on: dt.date | None = None) -> dict[str, Any]:
    views = views if views is not None else activity_views(session, plan, on)
    return {
        "id": plan.id, "title": plan.title, "owner_kind": plan.owner_kind, "owner": owner_label(session, plan),
        "country_iso3": plan.country_iso3, "organisation_id": plan.organisation_id, "cycle": plan.cycle,
        "starts_on": plan.starts_on.isoformat(), "ends_on": plan.ends_on.isoformat(), "currency": plan.currency,
        "status": plan.status, "previous_id": plan.previous_id, "strategy_id": plan.strategy_id,
        "version": plan.version,
        "next_id": next_plan_id(session, plan),
        "rag_on": (on or today()).isoformat(), "rag_counts": rag_counts(views),
        "money": [{"currency": t["currency"], "budget": str(t["budget"]), "spent": str(t["spent"])}
                  for t in money_totals(views)],
        "activities": [activity_dict(v) for v in views],
    }


def next_plan_id(session: Session, plan: ActionPlan) -> int | None:
    return session.scalar(select(ActionPlan.id).where(ActionPlan.previous_id == plan.id).limit(1))


def updates_of(session: Session, activity_id: int, limit: int = 50) -> list[ActivityUpdate]:
    return list(session.execute(select(ActivityUpdate).where(ActivityUpdate.activity_id == activity_id)
                                .order_by(ActivityUpdate.on_date.desc(), ActivityUpdate.id.desc())
                                .limit(limit)).scalars())


def search_refs(session: Session, plan: ActionPlan, kind: str, q: str = "", limit: int = 30) -> list[tuple[str, str]]:
    """Candidate link targets for a form's choices: (ref, label)."""
    if kind == "investment":
        stmt = select(Investment.id, Investment.title)
        if plan.owner_kind == "country":
            stmt = stmt.where(Investment.country_iso3 == plan.country_iso3)
        elif plan.owner_kind == "partner":
            stmt = stmt.where(or_(Investment.funder_org_id == plan.organisation_id,
                                  Investment.owner_org_id == plan.organisation_id))
        if q:
            stmt = stmt.where(func.lower(Investment.title).contains(q.lower()[:100], autoescape=True))
        return [(str(i), t) for i, t in session.execute(stmt.order_by(Investment.id).limit(limit)).all()]
    if kind == "implementation":
        stmt = select(Implementation.id, Implementation.name).where(Implementation.merged_into_id.is_(None))
        if plan.owner_kind == "country":
            stmt = stmt.where(Implementation.country_iso3 == plan.country_iso3)
        elif plan.owner_kind == "partner":
            stmt = stmt.where(Implementation.owner_org_id == plan.organisation_id)
        if q:
            stmt = stmt.where(func.lower(Implementation.name).contains(q.lower()[:100], autoescape=True))
        return [(str(i), n) for i, n in session.execute(stmt.order_by(Implementation.name).limit(limit)).all()]
    return []
