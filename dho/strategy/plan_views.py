"""Action plan pages: the list of plans, each plan as a table, a Gantt-style timeline and a board,
each activity with its updates, milestones and links, and the forms that change them, including
the annual review. Every page works without JavaScript; a form with errors is shown again with
the errors beside its fields and nothing saved. The JSON API lives in ``plan_api`` (``api`` here)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from dho import i18n
from dho.accounts.models import Organisation
from dho.accounts.permissions import Principal
from dho.atlas.models import Implementation, Investment
from dho.errors import Conflict, FieldError, NotFound, ValidationFailed
from dho.i18n import _
from dho.reference import service as reference
from dho.reference.models import Country
from dho.strategy import plan_timeline, plans, review
from dho.strategy.models import ACTIVITY_STATUSES, LINK_KINDS, ActionPlan, Activity, Milestone
from dho.strategy.plan_api import api
from dho.validation import parse
from dho.web.deps import current_principal, db_session
from dho.web.params import Id, Offset
from dho.web.templating import render

__all__ = ["api", "router"]

router = APIRouter(include_in_schema=False)
PAGE = 50

OWNER_LABELS = {"country": i18n._("Country"), "secretariat": i18n._("WHO Secretariat"),
                "partner": i18n._("Partner")}
PLAN_STATUS_LABELS = {"active": i18n._("Active"), "reviewed": i18n._("Reviewed")}
STATUS_LABELS = {"not_started": i18n._("Not started"), "in_progress": i18n._("In progress"),
                 "done": i18n._("Done"), "cancelled": i18n._("Cancelled")}
LINK_LABELS = {"gap": i18n._("Maturity gap"), "priority": i18n._("National priority"),
               "objective": i18n._("Global objective"), "annex_action": i18n._("Annex action"),
               "investment": i18n._("Investment"), "implementation": i18n._("Implementation"),
               "indicator": i18n._("Indicator")}
OBJECTIVE_LABELS = {"SO1": i18n._("SO1: commitment and collaboration"),
                    "SO2": i18n._("SO2: enabling environment"),
                    "SO3": i18n._("SO3: people-centred health systems"),
                    "SO4": i18n._("SO4: monitoring and research")}


def _labels(mapping: dict[str, str]) -> dict[str, str]:
    return {k: i18n._(v) for k, v in mapping.items()}


def _done(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


async def _form(request: Request) -> dict[str, str]:
    form = await request.form()
    out: dict[str, str] = {}
    for key, value in form.multi_items():
        if isinstance(value, str) and key[:100] not in out:
            out[key[:100]] = value[:20_000]
    return out


def _version(values: dict[str, str]) -> int | None:
    raw = (values.get("version") or "").strip()
    return int(raw) if raw.isdigit() and len(raw) < 10 else None


def _errors_by_field(exc: ValidationFailed, known: set[str]) -> tuple[dict[str, str], list[str]]:
    errors: dict[str, str] = {}
    general: list[str] = []
    for e in exc.errors:
        key = e.field.split("[")[0].split(".")[0]
        if key in known:
            errors[key] = f"{errors[key]}; {e.message}" if key in errors else e.message
        else:
            general.append(e.message if e.field in ("body", "") else f"{e.field}: {e.message}")
    return errors, general


def _nothing_saved(detail: str) -> str:
    return detail if "nothing was saved" in detail else f"{detail} {_('Nothing was saved.')}"


def _org_options(session: Session) -> list[tuple[str, str]]:
    rows = session.execute(select(Organisation.id, Organisation.name, Organisation.acronym)
                           .order_by(Organisation.name)).all()
    return [(str(i), f"{n} ({a})" if a else n) for i, n, a in rows]


def _annex(ref: str) -> tuple[str, str]:
    """(label, address) of an annex action, from the strategy catalogue when it is there."""
    try:
        from dho.strategy import catalogue
    except ImportError:
        return ref, "/strategy"
    return catalogue.label(ref, i18n.get_locale()), catalogue.link(ref)


def _common(session: Session) -> dict[str, Any]:
    return {"status_labels": _labels(STATUS_LABELS), "owner_labels": _labels(OWNER_LABELS),
            "plan_status_labels": _labels(PLAN_STATUS_LABELS), "link_labels": _labels(LINK_LABELS),
            "state_labels": plan_timeline.state_labels(), "reason_labels": plan_timeline.reason_labels(),
            "colours": plan_timeline.COLOURS, "swatch": plan_timeline.swatch,
            "objective_labels": _labels(OBJECTIVE_LABELS), "annex": _annex}


# ---------------------------------------------------------------- the list


@router.get("/plans", response_class=HTMLResponse)
def plan_list(request: Request,
              owner: Annotated[str | None, Query(pattern="^(country|secretariat|partner)?$")] = None,
              country: Annotated[str | None, Query(pattern=r"^([A-Za-z]{3})?$")] = None,
              status: Annotated[str | None, Query(pattern="^(active|reviewed)?$")] = None,
              offset: Offset = 0, session: Session = db_session,
              principal: Principal = current_principal) -> Response:
    filters = plans.PlanFilters(owner or None, (country or "").upper() or None, status or None)
    rows, total = plans.list_plans(session, filters, PAGE, offset)
    items = []
    for p in rows:
        views = plans.activity_views(session, p)
        items.append({"plan": p, "owner": plans.owner_label(session, p), "counts": plans.rag_counts(views),
                      "n": len(views)})
    with_plans = {c for c in session.execute(select(ActionPlan.country_iso3).distinct()).scalars() if c}
    locale = i18n.get_locale()
    countries = sorted(((c.iso3, reference.country_name(c, locale)) for c in session.execute(
        select(Country).where(Country.iso3.in_(with_plans))).scalars()), key=lambda x: x[1])
    return render(request, "strategy/plans.html", {
        **_common(session), "items": items, "total": total, "offset": offset, "limit": PAGE,
        "filters": filters, "countries": countries,
        "may_create": principal.is_authenticated and any(
            g.role in ("admin", "country_focal_point", "partner", "secretariat") for g in principal.grants),
    })


# ---------------------------------------------------------------- a new plan


def _plan_form(request: Request, session: Session, principal: Principal, values: dict[str, str],
               errors: dict[str, str], general: list[str], status_code: int = 200) -> Response:
    own_countries = sorted({g.country_iso3 for g in principal.grants if g.country_iso3})
    admin = any(g.role == "admin" for g in principal.grants)
    locale = i18n.get_locale()
    stmt = select(Country).where(Country.retired.is_(False))
    if not admin:
        stmt = stmt.where(Country.iso3.in_(own_countries))
    countries = sorted(((c.iso3, reference.country_name(c, locale)) for c in session.execute(stmt).scalars()),
                       key=lambda x: x[1])
    return render(request, "strategy/plan_form.html", {
        **_common(session), "values": values, "errors": errors, "general": general, "countries": countries,
        "orgs": _org_options(session)}, status_code=status_code)


@router.get("/plans/new", response_class=HTMLResponse)
def plan_new(request: Request, session: Session = db_session, principal: Principal = current_principal) -> Response:
    plans.signed_in(principal)
    year = plans.today().year
    g = next(iter(principal.grants), None)
    kind = "partner" if g and g.role == "partner" else ("secretariat" if g and g.role == "secretariat" else "country")
    values = {"owner_kind": kind, "country_iso3": (g.country_iso3 or "") if g else "",
              "organisation_id": str(g.organisation_id or "") if g else "", "cycle": str(year),
              "starts_on": f"{year}-01-01", "ends_on": f"{year}-12-31", "currency": "USD",
              "title": _("Digital health action plan %(year)s", year=year)}
    return _plan_form(request, session, principal, values, {}, [])


@router.post("/plans/new")
async def plan_create(request: Request, session: Session = db_session,
                      principal: Principal = current_principal) -> Response:
    plans.signed_in(principal)
    values = await _form(request)
    kind = values.get("owner_kind", "")
    org = values.get("organisation_id", "")
    body = {"title": values.get("title", ""), "owner_kind": kind,
            "country_iso3": (values.get("country_iso3") or "").upper() or None if kind == "country" else None,
            "organisation_id": int(org) if kind == "partner" and org.isdigit() and len(org) < 10 else None,
            "cycle": int(values["cycle"]) if (values.get("cycle") or "").isdigit() and len(values["cycle"]) == 4
            else 0, "starts_on": values.get("starts_on") or None, "ends_on": values.get("ends_on") or None,
            "currency": (values.get("currency") or "USD").strip().upper()[:3]}
    try:
        plan = plans.create_plan(session, principal, parse(plans.PlanIn, body))
    except ValidationFailed as exc:
        session.rollback()
        errors, general = _errors_by_field(exc, set(body))
        return _plan_form(request, session, principal, values, errors, [_nothing_saved(exc.detail), *general], 422)
    except Conflict as exc:
        session.rollback()
        return _plan_form(request, session, principal, values, {}, [exc.detail], 409)
    return _done(f"/plans/{plan.id}?done=created")


# ---------------------------------------------------------------- one plan


def _plan_context(request: Request, session: Session, principal: Principal, plan: ActionPlan,
                  view: str, board: str) -> dict[str, Any]:
    rev = review.review_of(session, plan.id)
    today = rev.reviewed_on if rev else plans.today()  # a reviewed plan is shown as it stood at its review
    views = plans.activity_views(session, plan, today)
    columns: list[tuple[str, str, list[plans.ActivityView]]]
    if board == "status":
        columns = [(s, i18n._(STATUS_LABELS[s]), [v for v in views if v.activity.status == s])
                   for s in ACTIVITY_STATUSES]
    else:
        labels = plan_timeline.state_labels()
        columns = [(s, labels[s], [v for v in views if v.rag == s])
                   for s in ("red", "amber", "green", "not_started", "done", "cancelled")]
    title = _("Timeline of %(plan)s", plan=plan.title)
    return {
        **_common(session), "plan": plan, "views": views, "owner": plans.owner_label(session, plan),
        "counts": plans.rag_counts(views), "money": plans.money_totals(views), "today": today,
        "view": view, "board": board, "columns": columns,
        "timeline": plan_timeline.timeline_svg(views, plan.starts_on, plan.ends_on, today,
                                               link_base=f"/plans/{plan.id}", title=title,
                                               marker=_("Review") if rev else _("Today")) if view == "timeline"
        else None,
        "legend": plan_timeline.legend_items(), "timeline_title": title,
        "may_edit": plans.may_edit(session, principal, plan) and plan.status == "active",
        "may_review": plans.may_review(session, principal, plan) and plan.status == "active",
        "review": rev, "review_ok": review.verify(rev) if rev else None,
        "previous": session.get(ActionPlan, plan.previous_id) if plan.previous_id else None,
        "next": session.get(ActionPlan, next_id) if (next_id := plans.next_plan_id(session, plan)) else None,
        "done": request.query_params.get("done", "")[:20],
    }


@router.get("/plans/{plan_id}", response_class=HTMLResponse)
def plan_page(request: Request, plan_id: Id, view: Annotated[str, Query(pattern="^(table|timeline|board)$")] = "table",
              board: Annotated[str, Query(pattern="^(rag|status)$")] = "rag", session: Session = db_session,
              principal: Principal = current_principal) -> Response:
    plan = plans.get_plan(session, plan_id)
    ctx = _plan_context(request, session, principal, plan, view, board)
    ctx.update(review_values={"reviewed_on": plans.today().isoformat(), "summary": ""}, review_errors={},
               review_general=[])
    return render(request, "strategy/plan.html", ctx)


@router.post("/plans/{plan_id}/review")
async def plan_review(request: Request, plan_id: Id, session: Session = db_session,
                      principal: Principal = current_principal) -> Response:
    plans.signed_in(principal)
    values = await _form(request)
    body = {"reviewed_on": values.get("reviewed_on") or None, "summary": values.get("summary", "")}
    try:
        review.review_plan(session, principal, plan_id, parse(plans.ReviewIn, body), _version(values))
    except (ValidationFailed, Conflict) as exc:
        session.rollback()
        plan = plans.get_plan(session, plan_id)
        ctx = _plan_context(request, session, principal, plan, "table", "rag")
        errors, general = _errors_by_field(exc, {"reviewed_on", "summary"})
        ctx.update(review_values=values, review_errors=errors, review_general=[exc.detail, *general])
        return render(request, "strategy/plan.html", ctx, status_code=exc.status)
    return _done(f"/plans/{plan_id}?done=reviewed")


# ---------------------------------------------------------------- activities: the form


ACTIVITY_FIELDS = {"title", "description", "owner_org_id", "budget", "spent", "currency", "starts_on", "due_on",
                   "done_on", "status", "progress", "position"}


def _activity_form(request: Request, session: Session, plan: ActionPlan, act: Activity | None,
                   values: dict[str, str], errors: dict[str, str], general: list[str],
                   status_code: int = 200) -> Response:
    return render(request, "strategy/plan_activity_form.html", {
        **_common(session), "plan": plan, "act": act, "values": values, "errors": errors, "general": general,
        "orgs": _org_options(session), "statuses": [(s, i18n._(STATUS_LABELS[s])) for s in ACTIVITY_STATUSES],
    }, status_code=status_code)


def _activity_body(values: dict[str, str]) -> dict[str, Any]:
    org = (values.get("owner_org_id") or "").strip()
    progress = (values.get("progress") or "0").strip()
    return {"title": values.get("title", ""), "description": values.get("description", ""),
            "owner_org_id": int(org) if org.isdigit() and len(org) < 10 else None,
            "budget": (values.get("budget") or "").strip()[:30] or None,
            "spent": (values.get("spent") or "").strip()[:30] or "0",
            "currency": (values.get("currency") or "USD").strip().upper()[:3],
            "starts_on": values.get("starts_on") or None, "due_on": values.get("due_on") or None,
            "done_on": values.get("done_on") or None, "status": values.get("status") or "not_started",
            "progress": int(progress) if progress.isdigit() and len(progress) < 4 else progress[:10]}


def _activity_of(session: Session, plan_id: int, activity_id: int) -> Activity:
    act = session.get(Activity, activity_id)
    if act is None or act.plan_id != plan_id:
        raise NotFound(_("No activity %(id)s in plan %(plan)s.", id=activity_id, plan=plan_id))
    return act


@router.get("/plans/{plan_id}/activities/new", response_class=HTMLResponse)
def activity_new(request: Request, plan_id: Id, session: Session = db_session,
                 principal: Principal = current_principal) -> Response:
    plan = plans.editable_plan(session, principal, plan_id)
    start = max(plan.starts_on, plans.today())
    values = {"currency": plan.currency, "starts_on": start.isoformat(),
              "due_on": min(plan.ends_on, start + dt.timedelta(days=90)).isoformat(), "status": "not_started",
              "progress": "0", "spent": "0"}
    return _activity_form(request, session, plan, None, values, {}, [])


@router.post("/plans/{plan_id}/activities/new")
async def activity_create(request: Request, plan_id: Id, session: Session = db_session,
                          principal: Principal = current_principal) -> Response:
    plans.editable_plan(session, principal, plan_id)
    values = await _form(request)
    try:
        act = plans.create_activity(session, principal, plan_id, parse(plans.ActivityIn, _activity_body(values)))
    except ValidationFailed as exc:
        session.rollback()
        errors, general = _errors_by_field(exc, ACTIVITY_FIELDS)
        return _activity_form(request, session, plans.get_plan(session, plan_id), None, values, errors,
                              [_nothing_saved(exc.detail), *general], 422)
    return _done(f"/plans/{plan_id}/activities/{act.id}?done=created")


@router.get("/plans/{plan_id}/activities/{activity_id}/edit", response_class=HTMLResponse)
def activity_edit(request: Request, plan_id: Id, activity_id: Id, session: Session = db_session,
                  principal: Principal = current_principal) -> Response:
    act = _activity_of(session, plan_id, activity_id)
    plan, act = plans.editable_activity(session, principal, act.id)
    values = {"title": act.title, "description": act.description, "owner_org_id": str(act.owner_org_id or ""),
              "budget": "" if act.budget is None else str(act.budget), "spent": str(act.spent or 0),
              "currency": act.currency, "starts_on": act.starts_on.isoformat(), "due_on": act.due_on.isoformat(),
              "done_on": act.done_on.isoformat() if act.done_on else "", "status": act.status,
              "progress": str(act.progress), "version": str(act.version)}
    return _activity_form(request, session, plan, act, values, {}, [])


@router.post("/plans/{plan_id}/activities/{activity_id}/edit")
async def activity_update(request: Request, plan_id: Id, activity_id: Id, session: Session = db_session,
                          principal: Principal = current_principal) -> Response:
    act = _activity_of(session, plan_id, activity_id)
    plans.editable_activity(session, principal, act.id)
    values = await _form(request)
    try:
        plans.update_activity(session, principal, activity_id, parse(plans.ActivityIn, _activity_body(values)),
                              _version(values), replace_children=False)
    except ValidationFailed as exc:
        session.rollback()
        errors, general = _errors_by_field(exc, ACTIVITY_FIELDS)
        return _activity_form(request, session, plans.get_plan(session, plan_id), _activity_of(
            session, plan_id, activity_id), values, errors, [_nothing_saved(exc.detail), *general], 422)
    except Conflict as exc:
        session.rollback()
        return _activity_form(request, session, plans.get_plan(session, plan_id), _activity_of(
            session, plan_id, activity_id), values, {}, [exc.detail], 409)
    return _done(f"/plans/{plan_id}/activities/{activity_id}?done=saved")


@router.post("/plans/{plan_id}/activities/{activity_id}/delete")
async def activity_delete(request: Request, plan_id: Id, activity_id: Id, session: Session = db_session,
                          principal: Principal = current_principal) -> Response:
    _activity_of(session, plan_id, activity_id)
    values = await _form(request)
    plans.delete_activity(session, principal, activity_id, _version(values))
    return _done(f"/plans/{plan_id}?done=deleted")


# ---------------------------------------------------------------- one activity


def _activity_page(request: Request, session: Session, principal: Principal, plan: ActionPlan, act: Activity,
                   forms: dict[str, Any] | None = None, status_code: int = 200) -> Response:
    view = next(v for v in plans.activity_views(session, plan) if v.activity.id == act.id)
    carried = session.get(Activity, act.carried_from_id) if act.carried_from_id else None
    may_edit = plans.may_edit(session, principal, plan) and plan.status == "active"
    gap_codes: list[str] = []
    if may_edit and plan.country_iso3:
        from dho.maturity import gaps

        gap_codes = [g.code for g in gaps.priorities(session, plan.country_iso3)["gaps"]]
    names: dict[tuple[str, str], str] = {}  # titles of published atlas records only; others by number
    for kind, model, col in (("investment", Investment, Investment.title),
                             ("implementation", Implementation, Implementation.name)):
        ids = [int(link.ref) for link in view.links if link.kind == kind and link.ref.isdigit()]
        if ids:
            names.update({(kind, str(i)): n for i, n in session.execute(
                select(model.id, col).where(model.id.in_(ids), model.status == "published")).all()})
    ctx = {
        **_common(session), "plan": plan, "act": act, "v": view, "carried": carried, "ref_names": names,
        "updates": plans.updates_of(session, act.id), "may_edit": may_edit, "owner": plans.owner_label(session, plan),
        "today": plans.today(), "link_kinds": [(k, i18n._(LINK_LABELS[k])) for k in LINK_KINDS],
        "statuses": [(s, i18n._(STATUS_LABELS[s])) for s in ACTIVITY_STATUSES],
        "suggest": {"investment": plans.search_refs(session, plan, "investment", limit=60) if may_edit else [],
                    "implementation": plans.search_refs(session, plan, "implementation", limit=60)
                    if may_edit else [], "gap": gap_codes},
        "update_values": {"on_date": plans.today().isoformat(), "progress": str(act.progress)},
        "update_errors": {}, "update_general": [], "link_values": {}, "link_errors": {}, "link_general": [],
        "milestone_values": {}, "milestone_errors": {}, "milestone_general": [],
        "done": request.query_params.get("done", "")[:20],
    }
    ctx.update(forms or {})
    return render(request, "strategy/plan_activity.html", ctx, status_code=status_code)


@router.get("/plans/{plan_id}/activities/{activity_id}", response_class=HTMLResponse)
def activity_page(request: Request, plan_id: Id, activity_id: Id, session: Session = db_session,
                  principal: Principal = current_principal) -> Response:
    act = _activity_of(session, plan_id, activity_id)
    return _activity_page(request, session, principal, plans.get_plan(session, plan_id), act)


async def _activity_write(request: Request, session: Session, principal: Principal, plan_id: int, activity_id: int,
                          form: str, fields: set[str], write: Any) -> Response:
    """Run one of the activity page's small forms; on bad input show the page again with the errors."""
    _activity_of(session, plan_id, activity_id)
    plans.signed_in(principal)
    values = await _form(request)
    try:
        write(values)
    except (ValidationFailed, Conflict) as exc:
        session.rollback()
        errors, general = _errors_by_field(exc, fields) if isinstance(exc, ValidationFailed) else ({}, [])
        return _activity_page(request, session, principal, plans.get_plan(session, plan_id),
                              _activity_of(session, plan_id, activity_id),
                              {f"{form}_values": values, f"{form}_errors": errors,
                               f"{form}_general": [_nothing_saved(exc.detail), *general]}, exc.status)
    return _done(f"/plans/{plan_id}/activities/{activity_id}?done={form}#{form}")


@router.post("/plans/{plan_id}/activities/{activity_id}/updates")
async def update_create(request: Request, plan_id: Id, activity_id: Id, session: Session = db_session,
                        principal: Principal = current_principal) -> Response:
    def write(values: dict[str, str]) -> None:
        progress = (values.get("progress") or "").strip()
        body = {"on_date": values.get("on_date") or None,
                "progress": int(progress) if progress.isdigit() and len(progress) < 4 else progress[:10],
                "spent": (values.get("spent") or "").strip()[:30] or None,
                "status": values.get("status") or None, "note": values.get("note", "")}
        plans.post_update(session, principal, activity_id, parse(plans.UpdateIn, body))

    return await _activity_write(request, session, principal, plan_id, activity_id, "update",
                                 {"on_date", "progress", "spent", "status", "note"}, write)


@router.post("/plans/{plan_id}/activities/{activity_id}/links")
async def link_create(request: Request, plan_id: Id, activity_id: Id, session: Session = db_session,
                      principal: Principal = current_principal) -> Response:
    def write(values: dict[str, str]) -> None:
        ref = (values.get("ref") or "").strip().lstrip("#")
        if not ref:
            raise ValidationFailed(_("The link is not valid; nothing was saved."),
                                   errors=[FieldError("ref", _("is required"))])
        plans.add_link(session, principal, activity_id, parse(plans.LinkIn, {"kind": values.get("kind", ""),
                                                                              "ref": ref[:40]}))

    return await _activity_write(request, session, principal, plan_id, activity_id, "link",
                                 {"kind", "ref", "link"}, write)


@router.post("/plans/{plan_id}/activities/{activity_id}/links/remove")
async def link_remove(request: Request, plan_id: Id, activity_id: Id, session: Session = db_session,
                      principal: Principal = current_principal) -> Response:
    def write(values: dict[str, str]) -> None:
        plans.remove_link(session, principal, activity_id, values.get("kind", ""), values.get("ref", ""))

    return await _activity_write(request, session, principal, plan_id, activity_id, "link", set(), write)


@router.post("/plans/{plan_id}/activities/{activity_id}/milestones")
async def milestone_create(request: Request, plan_id: Id, activity_id: Id, session: Session = db_session,
                           principal: Principal = current_principal) -> Response:
    def write(values: dict[str, str]) -> None:
        plans.add_milestone(session, principal, activity_id, parse(plans.MilestoneIn, {
            "title": values.get("title", ""), "due_on": values.get("due_on") or None}))

    return await _activity_write(request, session, principal, plan_id, activity_id, "milestone",
                                 {"title", "due_on"}, write)


@router.post("/plans/{plan_id}/activities/{activity_id}/milestones/{milestone_id}/done")
async def milestone_done(request: Request, plan_id: Id, activity_id: Id, milestone_id: Id,
                         session: Session = db_session, principal: Principal = current_principal) -> Response:
    def write(values: dict[str, str]) -> None:
        m = session.get(Milestone, milestone_id)
        if m is None or m.activity_id != activity_id:
            raise NotFound(_("No milestone %(id)s.", id=milestone_id))
        undo = values.get("undo") == "1"
        plans.complete_milestone(session, principal, milestone_id, None if undo else plans.today())

    return await _activity_write(request, session, principal, plan_id, activity_id, "milestone", set(), write)
