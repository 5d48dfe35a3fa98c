"""Pages and JSON API of the national strategy registry, capacity building and network memberships.

Pages: /strategy/national (every Member State with its status, filters, counts per status),
/strategy/national/{ISO3} (the strategy, its components, documents, history, earlier strategies and,
for those allowed, the edit and status-change forms), /strategy/trainings and /strategy/trainings/{id}
(totals by gender and role, the new-training form, participants one by one or from a CSV file).
Every page works without JavaScript; a form with errors comes back with the errors beside its
fields and nothing saved. The API under /api/strategy/... calls the same service functions."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from dho import i18n
from dho.accounts.models import Organisation
from dho.accounts.permissions import Principal, can, can_somewhere
from dho.errors import Conflict, DomainError, FieldError, PayloadTooLarge, ValidationFailed
from dho.i18n import _
from dho.reference import service as reference
from dho.reference.models import Country
from dho.strategy import national, training
from dho.strategy.models import GENDERS, PARTICIPANT_ROLES, STRATEGY_STATUSES
from dho.validation import parse
from dho.web.deps import current_principal, db_session, upload_form
from dho.web.formdata import form_lists
from dho.web.params import Id
from dho.web.templating import render

router = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/strategy", tags=["strategy"])
JsonBody = Annotated[Any, Body()]
RegionQ = Annotated[str | None, Query(pattern=r"^[A-Z]{2,8}$|^$")]
StatusQ = Annotated[str | None, Query(pattern=r"^[a-z_]{1,24}$|^$")]
YearQ = Annotated[int | None, Query(ge=1990, le=2100)]


def labels(mapping: dict[str, str]) -> dict[str, str]:
    return {k: i18n._(v) for k, v in mapping.items()}


def _schema(model: type) -> dict[str, Any]:
    return {"requestBody": {"content": {"application/json": {"schema": model.model_json_schema()}}}}


def _elements(session: Session, kind: str) -> list[tuple[str, str]]:
    fr = i18n.get_locale() == "fr"
    return [(e.id, e.title_fr if fr and e.title_fr else e.title_en)
            for e in reference.strategy_elements(session) if e.kind == kind]


def _country_options(session: Session) -> list[tuple[str, str]]:
    locale = i18n.get_locale()
    rows = session.execute(select(Country).where(Country.retired.is_(False))).scalars()
    return sorted(((c.iso3, reference.country_name(c, locale)) for c in rows), key=lambda x: x[1])


def _org_options(session: Session) -> list[tuple[int, str]]:
    rows = session.execute(select(Organisation.id, Organisation.name).order_by(Organisation.name)).all()
    return [(int(i), str(n)) for i, n in rows]



def _nothing_saved(detail: str) -> str:
    return detail if "nothing was saved" in detail.lower() else f"{detail} {_('Nothing was saved.')}"


def _done(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _place(errors: dict[str, str], general: list[str], found: list[FieldError], where: dict[str, str]) -> None:
    for e in found:
        key = where.get(e.field) or where.get(e.field.split(".")[0])
        if key:
            errors[key] = f"{errors[key]}; {e.message}" if key in errors else e.message
        else:
            general.append(e.message if e.field in ("body", "") else f"{e.field}: {e.message}")


# ================================================================ API: national strategies


@api.get("/national", summary="Every Member State with its strategy status (?status=&region=) and counts")
def api_registry(status: StatusQ = None, region: RegionQ = None,
                 session: Session = db_session) -> dict[str, Any]:
    rows, counts = national.registry(session, region=region or None, status=status or None)
    return {"counts": counts, "total": len(rows), "items": [
        {"country_iso3": r.iso3, "country": r.name, "who_region": r.region, "status": r.status,
         "title": r.strategy.title if r.strategy else None,
         "period_start": r.strategy.period_start if r.strategy else None,
         "period_end": r.strategy.period_end if r.strategy else None,
         "approved_on": r.strategy.approved_on.isoformat() if r.strategy and r.strategy.approved_on else None,
         "components": r.components, "components_full": r.full_components} for r in rows]}


def _iso3(iso3: str) -> str:
    if len(iso3) != 3 or not iso3.isascii() or not iso3.isalpha():
        raise ValidationFailed(_("Not a country code."), errors=[FieldError("iso3", _("must be three letters"))])
    return iso3.upper()


@api.get("/national/{iso3}", summary="A country's current strategy, its history and earlier strategies")
def api_country(iso3: str, session: Session = db_session) -> dict[str, Any]:
    return national.country_record(session, _iso3(iso3))


@api.put("/national/{iso3}", summary="Record or update a country's strategy (send the version you edited)",
         openapi_extra=_schema(national.NationalStrategyIn))
def api_save(iso3: str, body: JsonBody, session: Session = db_session,
             principal: Principal = current_principal) -> dict[str, Any]:
    code = _iso3(iso3)
    national._signed_in(principal)
    national.save(session, principal, code, parse(national.NationalStrategyIn, body))
    return national.country_record(session, code)


@api.post("/national/{iso3}/events", status_code=201, summary="Record a status change (status, on_date, note)",
          openapi_extra=_schema(national.StatusEventIn))
def api_event(iso3: str, body: JsonBody, session: Session = db_session,
              principal: Principal = current_principal) -> dict[str, Any]:
    code = _iso3(iso3)
    national._signed_in(principal)
    national.record_event(session, principal, code, parse(national.StatusEventIn, body))
    return national.country_record(session, code)


# ================================================================ API: trainings


@api.get("/trainings", summary="Trainings with their participant counts, and totals by role and gender")
def api_trainings(year: YearQ = None, country: Annotated[str | None, Query(pattern=r"^[A-Za-z]{3}$")] = None,
                  session: Session = db_session) -> dict[str, Any]:
    rows = training.list_trainings(session, year=year, country=country)
    counts = training.participant_counts(session)
    return {"totals": training.totals(session, year=year), "total": len(rows),
            "items": [training.training_dict(session, t, counts) for t in rows]}


@api.post("/trainings", status_code=201, summary="Record a training", openapi_extra=_schema(training.TrainingIn))
def api_training_create(body: JsonBody, session: Session = db_session,
                        principal: Principal = current_principal) -> dict[str, Any]:
    training._signed_in(principal)
    t = training.create_training(session, principal, parse(training.TrainingIn, body))
    return training.training_dict(session, t)


@api.get("/trainings/{training_id}", summary="One training, its totals and participants by country")
def api_training(training_id: Id, session: Session = db_session) -> dict[str, Any]:
    t = training.get_training(session, training_id)
    return {**training.training_dict(session, t), "totals": training.totals(session, training_id=t.id),
            "by_country": dict(training.by_country(session, t.id))}


@api.post("/trainings/{training_id}/participants", status_code=201,
          summary="Add participants: a JSON list of {country_iso3, role, gender, completed}, or a CSV file "
                  "(text/csv) with those columns; all or nothing")
async def api_participants(request: Request, training_id: Id, session: Session = db_session,
                           principal: Principal = current_principal) -> dict[str, Any]:
    from starlette.concurrency import run_in_threadpool

    training._signed_in(principal)
    data = await request.body()
    if len(data) > training.MAX_CSV_BYTES:
        raise PayloadTooLarge(_("The request is larger than %(n)s MB; nothing was saved.",
                                n=training.MAX_CSV_BYTES / 1_000_000))
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind in ("text/csv", "text/plain", "application/csv"):
        added = await run_in_threadpool(training.import_csv, session, principal, training_id, data)
    else:
        import json

        try:
            items = json.loads(data)
        except (ValueError, RecursionError):
            raise ValidationFailed(_("The body is not valid JSON; nothing was saved."),
                                   errors=[FieldError("body", _("is not valid JSON"))]) from None
        if isinstance(items, dict) and set(items) == {"participants"}:
            items = items["participants"]
        if not isinstance(items, list):
            raise ValidationFailed(_("Send a list of participants; nothing was saved."),
                                   errors=[FieldError("body", _("must be a list"))])
        if len(items) > training.MAX_ROWS:
            raise PayloadTooLarge(_("At most %(n)s participants at once; nothing was saved.", n=training.MAX_ROWS))
        rows = [parse(training.ParticipantIn, item) for item in items]
        added = await run_in_threadpool(training.add_participants, session, principal, training_id, rows)
    t = training.get_training(session, training_id)
    return {"added": added, **training.training_dict(session, t)}


# ================================================================ API: partnerships


@api.get("/partnerships", summary="Memberships of networks such as the Global Digital Health Partnership (gdhp)")
def api_partnerships(network: Annotated[str | None, Query(pattern=r"^[a-z0-9_\-]{2,16}$")] = None,
                     on: Annotated[dt.date | None, Query()] = None,
                     country: Annotated[str | None, Query(pattern=r"^[A-Za-z]{3}$")] = None,
                     session: Session = db_session) -> dict[str, Any]:
    rows = national.partnerships(session, network, on, country)
    return {"total": len(rows), "items": [national.partnership_dict(p) for p in rows]}


@api.post("/partnerships", status_code=201, summary="Record a country joining a network (admin, Secretariat)",
          openapi_extra=_schema(national.PartnershipIn))
def api_partnership_create(body: JsonBody, session: Session = db_session,
                           principal: Principal = current_principal) -> dict[str, Any]:
    national._signed_in(principal)
    return national.partnership_dict(national.add_partnership(session, principal, parse(national.PartnershipIn, body)))


@api.post("/partnerships/{partnership_id}/leave", summary="Record the date a country left a network")
def api_partnership_leave(partnership_id: Id, body: JsonBody, session: Session = db_session,
                          principal: Principal = current_principal) -> dict[str, Any]:
    national._signed_in(principal)
    if not isinstance(body, dict) or not isinstance(body.get("left_on"), str):
        raise ValidationFailed(_("Send the date the country left."), errors=[FieldError("left_on", _("is required"))])
    try:
        left_on = dt.date.fromisoformat(body["left_on"][:10])
    except ValueError:
        raise ValidationFailed(_("Send the date the country left."), errors=[
            FieldError("left_on", _("is not a date (use YYYY-MM-DD)"))]) from None
    return national.partnership_dict(national.end_partnership(session, principal, partnership_id, left_on))


# ================================================================ pages: the registry


@router.get("/strategy/national", response_class=HTMLResponse)
def registry_page(request: Request, region: RegionQ = None, status: StatusQ = None,
                  session: Session = db_session, principal: Principal = current_principal) -> Response:
    status = status if status in STRATEGY_STATUSES else None
    rows, counts = national.registry(session, region=region or None, status=status, locale=i18n.get_locale())
    with_strategy = sum(counts.get(s, 0) for s in national.WITH_STRATEGY)
    members = {m.country_iso3 for m in national.partnerships(session, "gdhp", national.today())}
    return render(request, "strategy/national_list.html", {
        "rows": rows, "counts": counts, "with_strategy": with_strategy, "shown": sum(counts.values()),
        "regions": reference.regions(session), "statuses": STRATEGY_STATUSES,
        "status_labels": labels(national.STATUS_LABELS), "gdhp": members,
        "filters": {"region": region or "", "status": status or ""},
    })


def _country_context(session: Session, principal: Principal, iso3: str) -> dict[str, Any]:
    record = national.country_record(session, iso3)
    country = reference.get_country(session, iso3)
    target = national.country_target(session, country.iso3)
    return {
        "r": record, "s": record["strategy"], "country_name": reference.country_name(country, i18n.get_locale()),
        "components": _elements(session, "national_strategy_component"),
        "objectives": _elements(session, "strategic_objective"),
        "status_labels": labels(national.STATUS_LABELS), "statuses": STRATEGY_STATUSES,
        "status_options": [(k, i18n._(national.STATUS_LABELS[k])) for k in STRATEGY_STATUSES],
        "may_edit": principal.is_authenticated and can(principal, "strategy.national.edit", target),
        "memberships": national.partnerships(session, country=country.iso3),
        "networks": labels(national.NETWORKS),
    }


def _values_from(s: dict[str, Any] | None) -> tuple[dict[str, str], dict[str, list[str]]]:
    if s is None:
        return {"status": "drafting"}, {"objectives": []}
    values = {k: "" if s.get(k) is None else str(s[k]) for k in (
        "title", "status", "period_start", "period_end", "approved_on", "costed_plan_on", "governance_body",
        "next_cycle_year", "notes", "version")}
    for code, coverage in s["components"].items():
        values[f"comp_{code}"] = coverage
    return values, {"objectives": list(s["objectives"]), "doc_keep": [str(d["id"]) for d in s["documents"]]}


@router.get("/strategy/national/{iso3}", response_class=HTMLResponse)
def country_page(request: Request, iso3: str, session: Session = db_session,
                 principal: Principal = current_principal) -> Response:
    ctx = _country_context(session, principal, _iso3(iso3))
    values, multi = _values_from(ctx["s"])
    return render(request, "strategy/national_country.html", {
        **ctx, "values": values, "multi": multi, "errors": {}, "general": [], "event_errors": {},
        "event_values": {"on_date": national.today().isoformat()},
        "done": request.query_params.get("done", "")[:20]})


STRATEGY_WHERE = {k: k for k in ("title", "status", "period_start", "period_end", "approved_on", "costed_plan_on",
                                 "governance_body", "next_cycle_year", "notes", "status_date", "status_note",
                                 "objectives")}
STRATEGY_WHERE["components"] = "components"


def _int_or_none(values: dict[str, str], name: str, errors: dict[str, str]) -> int | None:
    raw = (values.get(name) or "").strip()
    if not raw:
        return None
    if not raw.isdigit() or len(raw) > 4:
        errors[name] = _("must be a year")
        return None
    return int(raw)


def _date_or_none(values: dict[str, str], name: str, errors: dict[str, str]) -> str | None:
    raw = (values.get(name) or "").strip()
    if not raw:
        return None
    try:
        return dt.date.fromisoformat(raw).isoformat()
    except ValueError:
        errors[name] = _("is not a date (use YYYY-MM-DD)")
        return None


def _strategy_body(values: dict[str, str], multi: dict[str, list[str]], existing: dict[str, Any] | None,
                   errors: dict[str, str], where: dict[str, str]) -> dict[str, Any]:
    keep = set(multi.get("doc_keep", []))
    docs = [{k: d[k] for k in ("title", "url", "file_sha256", "language", "published_on")}
            for d in (existing or {}).get("documents", []) if str(d["id"]) in keep]
    if (values.get("doc_title") or "").strip() or (values.get("doc_url") or "").strip():
        where.update({f"documents.{len(docs)}": "doc_url", f"documents.{len(docs)}.title": "doc_title",
                      f"documents.{len(docs)}.url": "doc_url", f"documents.{len(docs)}.language": "doc_language",
                      f"documents.{len(docs)}.published_on": "doc_published_on"})
        docs.append({"title": values.get("doc_title", ""), "url": (values.get("doc_url") or "").strip() or None,
                     "language": (values.get("doc_language") or "").strip() or None,
                     "published_on": _date_or_none(values, "doc_published_on", errors)})
    components = {c: values[f"comp_{c}"] for c in national.COMPONENTS if values.get(f"comp_{c}")}
    version = values.get("version", "")
    start, end = _int_or_none(values, "period_start", errors), _int_or_none(values, "period_end", errors)
    if start and end and end < start:
        errors["period_end"] = _("is before the first year")
    return {
        "title": values.get("title", ""), "status": values.get("status", ""),
        "period_start": start, "period_end": end,
        "approved_on": _date_or_none(values, "approved_on", errors),
        "costed_plan_on": _date_or_none(values, "costed_plan_on", errors),
        "governance_body": values.get("governance_body", ""),
        "next_cycle_year": _int_or_none(values, "next_cycle_year", errors), "notes": values.get("notes", ""),
        "components": components, "objectives": [o[:8] for o in multi.get("objectives", [])][:4],
        "documents": docs, "status_date": _date_or_none(values, "status_date", errors),
        "status_note": values.get("status_note", ""), "replaces_current": values.get("replaces_current") == "1",
        "version": int(version) if version.isdigit() and len(version) < 10 else None,
    }


@router.post("/strategy/national/{iso3}")
async def country_save(request: Request, iso3: str, session: Session = db_session,
                       principal: Principal = current_principal) -> Response:
    code = _iso3(iso3)
    national._signed_in(principal)
    reference.get_country(session, code)
    from dho.accounts.permissions import require

    require(principal, "strategy.national.edit", national.country_target(session, code))
    values, multi = form_lists(await request.form(), max_repeats=50, max_item=300)
    existing = national.country_record(session, code)["strategy"]
    errors: dict[str, str] = {}
    general: list[str] = []
    where = dict(STRATEGY_WHERE)
    body = _strategy_body(values, multi, existing, errors, where)
    try:
        try:
            data = parse(national.NationalStrategyIn, body)
        except ValidationFailed as exc:
            if not errors:
                raise
            # Show the schema's errors together with the form's own (the period order is already there).
            _place(errors, general, [e for e in exc.errors if e.field != "body"], where)
            data = None
        if errors or data is None:
            raise ValidationFailed(_("The strategy is not valid; nothing was saved."))
        national.save(session, principal, code, data)
    except (ValidationFailed, Conflict) as exc:
        session.rollback()
        _place(errors, general, exc.errors, where)
        ctx = _country_context(session, principal, code)
        detail = _nothing_saved(exc.detail)
        return render(request, "strategy/national_country.html", {
            **ctx, "values": values, "multi": multi, "errors": errors, "general": [detail, *general],
            "event_errors": {}, "event_values": {"on_date": national.today().isoformat()}, "done": ""},
            status_code=exc.status)
    return _done(f"/strategy/national/{code}?done=saved")


@router.post("/strategy/national/{iso3}/events")
async def country_event(request: Request, iso3: str, session: Session = db_session,
                        principal: Principal = current_principal) -> Response:
    code = _iso3(iso3)
    values, _multi = form_lists(await request.form(), max_repeats=50, max_item=300)
    errors: dict[str, str] = {}
    general: list[str] = []
    version = values.get("version", "")
    body = {"status": values.get("new_status", ""), "on_date": _date_or_none(values, "on_date", errors),
            "note": values.get("note", ""), "version": int(version) if version.isdigit() and len(version) < 10
            else None}
    try:
        if errors:
            raise ValidationFailed(_("The status change is not valid; nothing was saved."))
        national.record_event(session, principal, code, parse(national.StatusEventIn, body))
    except (ValidationFailed, Conflict) as exc:
        session.rollback()
        _place(errors, general, exc.errors, {"status": "new_status", "on_date": "on_date", "note": "note"})
        ctx = _country_context(session, principal, code)
        form_values, multi = _values_from(ctx["s"])
        return render(request, "strategy/national_country.html", {
            **ctx, "values": form_values, "multi": multi, "errors": {}, "general": [],
            "event_errors": errors, "event_general": [_nothing_saved(exc.detail), *general],
            "event_values": values, "done": ""},
            status_code=exc.status)
    return _done(f"/strategy/national/{code}?done=event")


# ================================================================ pages: trainings


def _training_lists(session: Session) -> dict[str, Any]:
    return {"topics": [(t, i18n._(training.TOPIC_LABELS[t])) for t in training.TOPICS],
            "modes": [(m, i18n._(training.MODE_LABELS[m])) for m in training.MODES],
            "countries": _country_options(session), "orgs": _org_options(session),
            "role_labels": labels(training.ROLE_LABELS), "gender_labels": labels(training.GENDER_LABELS),
            "topic_labels": labels(training.TOPIC_LABELS), "mode_labels": labels(training.MODE_LABELS),
            "roles": PARTICIPANT_ROLES, "genders": GENDERS,
            "role_options": [(r, i18n._(training.ROLE_LABELS[r])) for r in PARTICIPANT_ROLES],
            "gender_options": [(g, i18n._(training.GENDER_LABELS[g])) for g in GENDERS]}


def _trainings_page(request: Request, session: Session, principal: Principal, year: int | None,
                    values: dict[str, str], errors: dict[str, str], general: list[str],
                    status_code: int = 200) -> Response:
    rows = training.list_trainings(session, year=year)
    counts = training.participant_counts(session)
    names = dict(_country_options(session))
    years = sorted({t.ends_on.year for t in training.list_trainings(session)}, reverse=True)
    return render(request, "strategy/training_list.html", {
        "rows": [training.training_dict(session, t, counts) for t in rows], "totals": training.totals(session,
                                                                                                      year=year),
        "country_names": names, "year": year, "years": years, "values": values, "errors": errors,
        "general": general, "may_record": principal.is_authenticated and can_somewhere(principal, "training.record"),
        **_training_lists(session)}, status_code=status_code)


@router.get("/strategy/trainings", response_class=HTMLResponse)
def trainings_page(request: Request, year: YearQ = None, session: Session = db_session,
                   principal: Principal = current_principal) -> Response:
    today = national.today().isoformat()
    return _trainings_page(request, session, principal, year, {"starts_on": today, "ends_on": today,
                                                               "mode": "in_person", "topic": "digital_health"}, {}, [])


@router.post("/strategy/trainings")
async def training_create(request: Request, session: Session = db_session,
                          principal: Principal = current_principal) -> Response:
    training._signed_in(principal)
    from dho.accounts.permissions import require_somewhere

    require_somewhere(principal, "training.record")
    values, _multi = form_lists(await request.form(), max_repeats=50, max_item=300)
    errors: dict[str, str] = {}
    general: list[str] = []
    org = values.get("organiser_org_id", "")
    body = {"title": values.get("title", ""), "topic": values.get("topic", ""), "mode": values.get("mode", ""),
            "organiser_org_id": int(org) if org.isdigit() and len(org) < 10 else 0,
            "host_country_iso3": (values.get("host_country_iso3") or "").strip().upper() or None,
            "starts_on": _date_or_none(values, "starts_on", errors),
            "ends_on": _date_or_none(values, "ends_on", errors)}
    try:
        if errors:
            raise ValidationFailed(_("The training is not valid; nothing was saved."))
        t = training.create_training(session, principal, parse(training.TrainingIn, body))
    except (ValidationFailed, Conflict) as exc:
        session.rollback()
        where = {k: k for k in body}
        _place(errors, general, exc.errors, where)
        return _trainings_page(request, session, principal, None, values, errors,
                               [_nothing_saved(exc.detail), *general], exc.status)
    return _done(f"/strategy/trainings/{t.id}?done=created")


def _training_page(request: Request, session: Session, principal: Principal, training_id: int,
                   values: dict[str, str], errors: dict[str, str], general: list[str],
                   status_code: int = 200) -> Response:
    t = training.get_training(session, training_id)
    names = dict(_country_options(session))
    return render(request, "strategy/training_detail.html", {
        "t": training.training_dict(session, t), "totals": training.totals(session, training_id=t.id),
        "by_country": training.by_country(session, t.id), "country_names": names,
        "may_record": principal.is_authenticated and can(principal, "training.record",
                                                         training.target_for(session, t)),
        "values": values, "errors": errors, "general": general, "done": request.query_params.get("done", "")[:20],
        "max_rows": training.MAX_ROWS, "max_mb": training.MAX_CSV_BYTES / 1_000_000, **_training_lists(session)},
        status_code=status_code)


@router.get("/strategy/trainings/{training_id}", response_class=HTMLResponse)
def training_page(request: Request, training_id: Id, session: Session = db_session,
                  principal: Principal = current_principal) -> Response:
    return _training_page(request, session, principal, training_id,
                          {"role": "government_official", "gender": "", "completed": "1"}, {}, [])


@router.post("/strategy/trainings/{training_id}/participants")
async def participant_add(request: Request, training_id: Id, session: Session = db_session,
                          principal: Principal = current_principal) -> Response:
    values, _multi = form_lists(await request.form(), max_repeats=50, max_item=300)
    errors: dict[str, str] = {}
    general: list[str] = []
    body = {"country_iso3": (values.get("country_iso3") or "").strip().upper(), "role": values.get("role", ""),
            "gender": values.get("gender", ""), "completed": values.get("completed") == "1"}
    try:
        training.add_participants(session, principal, training_id, [parse(training.ParticipantIn, body)])
    except (ValidationFailed, Conflict) as exc:
        session.rollback()
        for e in exc.errors:
            field = e.field.split(",")[-1].strip().removeprefix("column ")
            if field in body:
                errors[field] = e.message
            else:
                general.append(f"{e.field}: {e.message}")
        return _training_page(request, session, principal, training_id, values, errors,
                              [_nothing_saved(exc.detail), *general],
                              exc.status)
    return _done(f"/strategy/trainings/{training_id}?done=added")


@router.post("/strategy/trainings/{training_id}/upload")
async def participant_upload(request: Request, training_id: Id, upload: Any = upload_form,
                             session: Session = db_session, principal: Principal = current_principal) -> Response:
    _fields, file = upload
    try:
        if file is None or not file.data:
            raise ValidationFailed(_("Choose a CSV file; nothing was saved."),
                                   errors=[FieldError("file", _("is required"))])
        if not file.filename.lower().endswith((".csv", ".txt")):
            raise ValidationFailed(_("The file was refused; nothing was saved."),
                                   errors=[FieldError("file", _("must be a .csv file"))])
        added = training.import_csv(session, principal, training_id, file.data)
    except (ValidationFailed, Conflict, PayloadTooLarge) as exc:
        session.rollback()
        general = [_nothing_saved(exc.detail), *(f"{e.field}: {e.message}" for e in exc.errors)]
        return _training_page(request, session, principal, training_id, {}, {}, general, exc.status)
    except DomainError:
        session.rollback()
        raise
    return _done(f"/strategy/trainings/{training_id}?done=uploaded&n={added}")
