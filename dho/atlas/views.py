"""Atlas pages: the list of implementations, each record's page, and the forms partners use to
register implementations and investments, with the focal point's approve and reject buttons.

Every page works without JavaScript. Writes go through the atlas service (which checks the
permissions); a form with errors is shown again with the errors beside its fields and nothing saved."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dho import i18n
from dho.accounts.models import Organisation
from dho.accounts.permissions import Principal, authorize, can, can_somewhere, require_somewhere
from dho.atlas import money, service
from dho.atlas.models import (
    INVESTMENT_KINDS,
    OPENNESS,
    OWNERSHIP,
    STAGES,
    TERM_LISTS,
    Classification,
    Coverage,
    Implementation,
    ImplementationOrg,
    ImplementationSolution,
    ImplementationTerm,
    Investment,
    InvestmentTarget,
    Solution,
    StageEvent,
    Term,
)
from dho.atlas.schemas import ImplementationIn, InvestmentIn
from dho.audit import service as audit
from dho.errors import Conflict, FieldError, ValidationFailed
from dho.i18n import _
from dho.reference import service as reference
from dho.reference.models import ClassificationCode, Country
from dho.validation import parse
from dho.web.deps import current_principal, db_session
from dho.web.formdata import form_lists
from dho.web.params import Id, Offset
from dho.web.templating import render

router = APIRouter(include_in_schema=False)
PAGE = 50
Iso3Q = Annotated[str | None, Query(pattern=r"^[A-Za-z]{3}$|^$")]
Short = Annotated[str | None, Query(max_length=100)]
MAX_CODES = 60

# Labels (marked for translation; translated when a page is rendered).
STAGE_LABELS = {
    "opportunity": i18n._("Opportunity and ideation"), "preparation": i18n._("Preparation and scoping"),
    "analysis_design": i18n._("Analysis and design"), "implementation_planning": i18n._("Implementation planning"),
    "development": i18n._("Developing or adapting the solution"),
    "piloting": i18n._("Piloting and evidence generation"), "packaging_advocacy": i18n._("Packaging and advocacy"),
    "deploying": i18n._("Deploying"), "scaling_up": i18n._("Scaling up"),
    "handed_over": i18n._("Handed over or complete"),
}
STATUS_LABELS = {"draft": i18n._("Draft"), "published": i18n._("Published"), "archived": i18n._("Archived")}
APPROVAL_LABELS = {"pending": i18n._("Waiting for the country's approval"), "approved": i18n._("Approved"),
                   "rejected": i18n._("Rejected by the country")}
OPENNESS_LABELS = {"open_source": i18n._("Open source"), "proprietary": i18n._("Proprietary"),
                   "mixed": i18n._("Mixed"), "unknown": i18n._("Unknown")}
OWNERSHIP_LABELS = {"none": i18n._("Not owned by the government"), "partial": i18n._("Partial"),
                    "full": i18n._("Full")}
KIND_LABELS = {"grant": i18n._("Grant"), "loan": i18n._("Loan"), "domestic_budget": i18n._("Domestic budget"),
               "private": i18n._("Private"), "in_kind": i18n._("In kind (valued)")}
TARGET_LABELS = {"implementation": i18n._("Implementation"), "intervention": i18n._("Digital health intervention"),
                 "component": i18n._("Maturity component"), "priority": i18n._("National priority (indicator)")}
SCHEME_LABELS = {"cdisah2023-dhi": i18n._("Digital health interventions"),
                 "cdisah2023-hsc": i18n._("Health system challenges"),
                 "cdisah2023-sat": i18n._("Services and application types")}
# The form's code fields: field name -> scheme.
CODE_FIELDS = {"dhi": "cdisah2023-dhi", "hsc": "cdisah2023-hsc", "sat": "cdisah2023-sat", "dhi2018": "cdhi2018-dhi"}
CURRENCY_HINTS = ("USD", "EUR", "GBP", "CHF", "KES", "XOF", "GHS", "RWF", "PKR", "BDT", "IDR", "PHP", "BRL")


def labels(mapping: dict[str, str]) -> dict[str, str]:
    return {k: i18n._(v) for k, v in mapping.items()}


# ---------------------------------------------------------------- shared look-ups


def _country_options(session: Session, only: set[str] | None = None) -> list[tuple[str, str]]:
    locale = i18n.get_locale()
    stmt = select(Country).where(Country.retired.is_(False))
    if only is not None:
        stmt = stmt.where(Country.iso3.in_(only))
    return sorted(((c.iso3, reference.country_name(c, locale)) for c in session.execute(stmt).scalars()),
                  key=lambda x: x[1])


def _org_options(session: Session) -> list[tuple[int, str]]:
    rows = session.execute(select(Organisation.id, Organisation.name, Organisation.acronym)
                           .order_by(Organisation.name)).all()
    return [(i, f"{n} ({a})" if a else n) for i, n, a in rows]


def _terms(session: Session) -> dict[str, list[tuple[str, str]]]:
    """The managed lists (standards, interop, health focus) in the user's language, in one query."""
    fr = i18n.get_locale() == "fr"
    out: dict[str, list[tuple[str, str]]] = {ln: [] for ln in TERM_LISTS}
    for t in session.execute(select(Term).where(Term.list.in_(TERM_LISTS), Term.retired.is_(False))
                             .order_by(Term.list, Term.position)).scalars():
        out[t.list].append((t.code, t.label_fr if fr else t.label_en))
    return out


def _code_names(session: Session, pairs: set[tuple[str, str]]) -> dict[tuple[str, str], str]:
    if not pairs:
        return {}
    schemes = {s for s, _c in pairs}
    codes = {c for _s, c in pairs}
    rows = session.execute(select(ClassificationCode.scheme, ClassificationCode.code, ClassificationCode.name)
                           .where(ClassificationCode.scheme.in_(schemes), ClassificationCode.code.in_(codes))).all()
    return {(s, c): n for s, c, n in rows if (s, c) in pairs}


def _components(session: Session) -> list[tuple[str, str]]:
    from dho.maturity import service as maturity

    doc = maturity.framework_document(maturity.get_framework(session, maturity.DEFAULT_FRAMEWORK))
    locale = i18n.get_locale()
    out = []
    for c in doc.get("components") or []:
        title = c.get("title")
        if isinstance(title, dict):
            title = title.get(locale) or title.get("en") or ""
        out.append((str(c["id"]), str(title or "")))
    return out


def _nothing_saved(detail: str) -> str:
    return detail if "nothing was saved" in detail else f"{detail} {_('Nothing was saved.')}"


def _done(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)



def _date(values: dict[str, str], name: str, errors: dict[str, str], required: bool = False) -> dt.date | None:
    raw = (values.get(name) or "").strip()
    if not raw:
        if required:
            errors[name] = _("is required")
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        errors[name] = _("is not a date (use YYYY-MM-DD)")
        return None


def _int(values: dict[str, str], name: str, errors: dict[str, str]) -> int | None:
    raw = (values.get(name) or "").strip().replace(" ", "").replace(",", "")
    if not raw:
        return None
    if not raw.isdigit() or len(raw) > 12:
        errors[name] = _("must be a whole number of zero or more")
        return None
    return int(raw)


def _ids(raw: list[str]) -> list[int]:
    return list(dict.fromkeys(int(v) for v in raw if v.isdigit() and 0 < len(v) < 10))


def _tokens(raw: str) -> list[str]:
    return [t for t in re.split(r"[\s,;]+", raw.strip()) if t][:MAX_CODES]


def _place_errors(errors: dict[str, str], general: list[str], found: list[FieldError],
                  where: dict[str, str]) -> None:
    """Put the service's and the schema's field errors beside the form's fields (``where`` maps an
    error's field, or its prefix before ``[``/``.``, to a form field)."""
    for e in found:
        key = where.get(e.field) or where.get(".".join(e.field.split(".")[:2])) or \
            where.get(re.split(r"[\[.]", e.field)[0])
        if key:
            errors[key] = f"{errors[key]}; {e.message}" if key in errors else e.message
        else:
            general.append(e.message if e.field in ("body", "") else f"{e.field}: {e.message}")


# ---------------------------------------------------------------- the atlas home


def _completeness_many(session: Session, rows: list[Implementation]) -> dict[int, float]:
    """The completeness score of a page of records in a few queries (same fields as the service's)."""
    ids = [r.id for r in rows]
    if not ids:
        return {}
    have: dict[str, set[int]] = {}
    for key, model in (("organisations", ImplementationOrg), ("classifications", Classification),
                       ("coverage", Coverage), ("solutions", ImplementationSolution), ("stage_history", StageEvent)):
        have[key] = set(session.execute(select(model.implementation_id).where(model.implementation_id.in_(ids))
                                        .distinct()).scalars())
    for list_name in ("standards", "health_focus"):
        have[list_name] = set(session.execute(select(ImplementationTerm.implementation_id).where(
            ImplementationTerm.implementation_id.in_(ids), ImplementationTerm.list == list_name).distinct()).scalars())
    out = {}
    for r in rows:
        detail = {"description": r.description, "start_date": r.start_date, "licence": r.licence,
                  **{k: r.id in v for k, v in have.items()}}
        out[r.id] = service.completeness(detail)
    return out


@router.get("/atlas", response_class=HTMLResponse)
def atlas_home(request: Request, country: Iso3Q = None, q: Short = None,
               stage: Annotated[str | None, Query(max_length=32)] = None,
               status: Annotated[str | None, Query(pattern=r"^(draft|published|archived)?$")] = None,
               offset: Offset = 0, session: Session = db_session,
               principal: Principal = current_principal) -> Response:
    may_see_drafts = can_somewhere(principal, "unpublished.read") and principal.is_authenticated
    visible = service.visible_to(principal, Implementation)
    stmt = select(Implementation).where(Implementation.merged_into_id.is_(None), visible)
    if country:
        stmt = stmt.where(Implementation.country_iso3 == country.upper())
    if stage in STAGES:
        stmt = stmt.where(Implementation.stage == stage)
    if status and may_see_drafts:
        stmt = stmt.where(Implementation.status == status)
    if q and q.strip():
        stmt = stmt.where(func.lower(Implementation.name).contains(q.strip().lower(), autoescape=True))
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = list(session.execute(stmt.order_by(Implementation.country_iso3, Implementation.name)
                                .limit(PAGE).offset(offset)).scalars())
    owners = dict(session.execute(select(Organisation.id, Organisation.name).where(
        Organisation.id.in_({r.owner_org_id for r in rows}))).all()) if rows else {}
    with_records = set(session.execute(select(Implementation.country_iso3).where(visible).distinct()).scalars())
    countries = _country_options(session, with_records)
    scores = _completeness_many(session, rows)
    today = service.utcnow_date()
    return render(request, "atlas_home.html", {
        "rows": [{"r": r, "owner": owners.get(r.owner_org_id, ""), "completeness": scores.get(r.id, 0.0),
                  "stale": service.is_stale(r, today)} for r in rows],
        "total": total, "offset": offset, "limit": PAGE, "countries": countries,
        "country_names": dict(countries), "stages": STAGES, "stage_labels": labels(STAGE_LABELS),
        "status_labels": labels(STATUS_LABELS), "approval_labels": labels(APPROVAL_LABELS),
        "may_see_drafts": may_see_drafts,
        "may_register": principal.is_authenticated and can_somewhere(principal, "partner_data.edit"),
        "filters": {"country": (country or "").upper(), "q": q or "", "stage": stage if stage in STAGES else "",
                    "status": status or ""},
    })


# ---------------------------------------------------------------- an implementation's page


def _investments_for(session: Session, principal: Principal, impl_id: int) -> list[dict[str, Any]]:
    rows = list(session.execute(select(Investment)
                                .join(InvestmentTarget, InvestmentTarget.investment_id == Investment.id)
                                .where(InvestmentTarget.kind == "implementation", InvestmentTarget.ref == str(impl_id),
                                       service.visible_to(principal, Investment))
                                .order_by(Investment.committed_on)).scalars())
    if not rows:
        return []
    rates = money.Rates(session)
    names = dict(session.execute(select(Organisation.id, Organisation.name).where(
        Organisation.id.in_({i.funder_org_id for i in rows}))).all())
    out = []
    for inv in rows:
        conv = rates.convert(inv.amount, inv.currency, inv.committed_on.year)
        out.append({"inv": inv, "funder": names.get(inv.funder_org_id, ""), "usd": conv.usd})
    return out


@router.get("/atlas/implementations/new", response_class=HTMLResponse)
def implementation_new(request: Request, country: Iso3Q = None, session: Session = db_session,
                       principal: Principal = current_principal) -> Response:
    _may_register(principal)
    values = {"country_iso3": (country or "").upper(), "owner_org_id": str(service.default_owner(principal) or ""),
              "stage": "opportunity", "openness": "unknown", "government_ownership": "none",
              "stage_date": service.utcnow_date().isoformat()}
    return _implementation_form(request, session, principal, None, values, {}, {}, [])


def _may_register(principal: Principal) -> None:
    """Offer the forms to whoever may edit some organisation's or country's records (401 or 403 otherwise)."""
    require_somewhere(principal, "partner_data.edit")


@router.get("/atlas/implementations/{impl_id}", response_class=HTMLResponse)
def implementation_page(request: Request, impl_id: Id, tab: Annotated[str, Query(max_length=20)] = "overview",
                        session: Session = db_session, principal: Principal = current_principal) -> Response:
    impl = service.get_implementation(session, principal, impl_id)
    detail = service.implementation_detail(session, principal, impl)
    target = service.target_for(session, impl.country_iso3, impl.owner_org_id)
    may_edit = principal.is_authenticated and can(principal, "partner_data.edit", target)
    may_approve = principal.is_authenticated and can(principal, "country_data.approve", target)
    may_history = may_edit or can(principal, "audit.read")
    tab = "history" if tab == "history" and may_history else "overview"
    pairs = {(c["scheme"], c["code"]) for c in detail["classifications"]}
    pairs |= {(c["original_scheme"], c["original_code"]) for c in detail["classifications"] if c["original_code"]}
    country = reference.get_country(session, impl.country_iso3)
    return render(request, "atlas_implementation.html", {
        "d": detail, "impl": impl, "country_name": reference.country_name(country, i18n.get_locale()),
        "code_names": _code_names(session, pairs), "scheme_labels": labels(SCHEME_LABELS),
        "terms": {ln: dict(v) for ln, v in _terms(session).items()}, "stage_labels": labels(STAGE_LABELS),
        "status_labels": labels(STATUS_LABELS), "approval_labels": labels(APPROVAL_LABELS),
        "openness_labels": labels(OPENNESS_LABELS), "ownership_labels": labels(OWNERSHIP_LABELS),
        "may_edit": may_edit, "may_approve": may_approve, "may_history": may_history, "tab": tab,
        "history": audit.history_rows(session, "atlas_implementation", str(impl.id)) if tab == "history" else [],
        "investments": _investments_for(session, principal, impl.id), "kind_labels": labels(KIND_LABELS),
        "done": request.query_params.get("done", "")[:20],
    })


@router.post("/atlas/implementations/{impl_id}/decision")
async def implementation_decision(request: Request, impl_id: Id, session: Session = db_session,
                                  principal: Principal = current_principal) -> Response:
    form = await request.form()
    decision = str(form.get("decision") or "")[:20]
    if decision not in ("approve", "reject", "archive"):
        raise ValidationFailed(_("Unknown decision."), errors=[FieldError("decision", decision or "''")])
    service.decide(session, principal, impl_id, decision)
    return _done(f"/atlas/implementations/{impl_id}?done={decision}")


# ---------------------------------------------------------------- the implementation form


def _values_from_detail(d: dict[str, Any]) -> tuple[dict[str, str], dict[str, list[str]]]:
    values = {k: "" if d.get(k) is None else str(d[k]) for k in (
        "name", "country_iso3", "description", "stage", "start_date", "end_date", "openness", "licence",
        "government_ownership", "owner_org_id", "version")}
    entered = [e["on_date"] for e in d["stage_history"] if e["stage"] == d["stage"]]
    values["stage_date"] = entered[0] if entered else ""
    buckets: dict[str, list[str]] = {k: [] for k in CODE_FIELDS}
    for c in d["classifications"]:
        if c["original_scheme"] == "cdhi2018-dhi":
            buckets["dhi2018"].append(c["original_code"])
        elif c["original_scheme"]:
            continue  # other 2018 originals are kept as they are (see _kept_originals)
        else:
            buckets[{v: k for k, v in CODE_FIELDS.items()}[c["scheme"]]].append(c["code"])
    for k, v in buckets.items():
        values[k] = " ".join(dict.fromkeys(v))
    contact = (d.get("contacts") or [{}])[0]
    values.update({"contact_name": contact.get("name") or "", "contact_email": contact.get("email") or "",
                   "contact_role": contact.get("role") or ""})
    multi = {
        "implementers": [str(o["organisation_id"]) for o in d["organisations"] if o["role"] == "implementer"],
        "funders": [str(o["organisation_id"]) for o in d["organisations"] if o["role"] == "funder"],
        "solutions": [str(s["id"]) for s in d["solutions"]],
        **{ln: list(d[ln]) for ln in TERM_LISTS},
    }
    return values, multi


IMPL_WHERE = {
    "name": "name", "country_iso3": "country_iso3", "description": "description", "stage": "stage",
    "start_date": "start_date", "end_date": "end_date", "openness": "openness", "licence": "licence",
    "government_ownership": "government_ownership", "owner_org_id": "owner_org_id", "solutions": "solutions",
    "standards": "standards", "interop": "interop", "health_focus": "health_focus", "coverage": "coverage",
    "contacts": "contact_name", "stage_history": "stage_date", "dates": "start_date",
}


def _build_implementation(session: Session, values: dict[str, str], multi: dict[str, list[str]],
                          existing: dict[str, Any] | None, errors: dict[str, str], default_owner: int | None = None
                          ) -> tuple[dict[str, Any], dict[str, str]]:
    """The JSON body for ImplementationIn from the form, and where each list item came from (so the
    service's errors land beside the right field)."""
    where = dict(IMPL_WHERE)
    start = _date(values, "start_date", errors)
    end = _date(values, "end_date", errors)
    if start and end and end < start:
        errors["end_date"] = _("is before the start date")
    stage_date = _date(values, "stage_date", errors)
    stage = values.get("stage", "")
    history = [{"stage": e["stage"], "on_date": e["on_date"], "note": e["note"]}
               for e in (existing or {}).get("stage_history", [])]
    if stage in STAGES and stage_date:
        history = [e for e in history if e["stage"] != stage]
        history.append({"stage": stage, "on_date": stage_date.isoformat(), "note": ""})
    classifications: list[dict[str, str]] = []
    for fname, scheme in CODE_FIELDS.items():
        for code in _tokens(values.get(fname, "")):
            classifications.append({"scheme": scheme, "code": code[:16]})
            where[f"classifications[{len(classifications)}]"] = fname
    for c in (existing or {}).get("classifications", []):  # 2018 originals the form does not show
        if c["original_scheme"] and c["original_scheme"] != "cdhi2018-dhi":
            item = {"scheme": c["original_scheme"], "code": c["original_code"]}
            if item not in classifications:
                classifications.append(item)
    orgs: list[dict[str, Any]] = []
    for role, fname in (("implementer", "implementers"), ("funder", "funders")):
        for oid in _ids(multi.get(fname, [])):
            orgs.append({"organisation_id": oid, "role": role})
            where[f"organisations[{len(orgs)}]"] = fname
    coverage = [{k: v for k, v in c.items()} for c in (existing or {}).get("coverage", [])]
    cov_fields = ("cov_area_code", "cov_area_name", "cov_as_of", "cov_persons", "cov_health_workers",
                  "cov_facilities")
    if any((values.get(f) or "").strip() for f in cov_fields):
        as_of = _date(values, "cov_as_of", errors, required=True)
        row = {"area_code": (values.get("cov_area_code") or "").strip().upper(),
               "area_name": (values.get("cov_area_name") or "").strip(),
               "as_of": as_of.isoformat() if as_of else None,
               "persons": _int(values, "cov_persons", errors), "health_workers": _int(values, "cov_health_workers",
                                                                                      errors),
               "facilities": _int(values, "cov_facilities", errors)}
        coverage.append(row)
    contacts = list((existing or {}).get("contacts", [])[1:])
    if (values.get("contact_name") or "").strip() or (values.get("contact_email") or "").strip():
        contacts.insert(0, {"name": (values.get("contact_name") or "").strip(),
                            "email": (values.get("contact_email") or "").strip() or None,
                            "role": (values.get("contact_role") or "").strip()})
    owner = (values.get("owner_org_id") or "").strip() or str(default_owner or "")
    if not owner:
        errors["owner_org_id"] = _("is required")
    body = {
        "name": values.get("name", ""), "country_iso3": (values.get("country_iso3") or "").upper(),
        "description": values.get("description", ""), "stage": stage, "stage_history": history,
        "start_date": start.isoformat() if start else None, "end_date": end.isoformat() if end else None,
        "openness": values.get("openness") or "unknown", "licence": (values.get("licence") or "").strip() or None,
        "government_ownership": values.get("government_ownership") or "none",
        "owner_org_id": int(owner) if owner.isdigit() and len(owner) < 10 else 0,
        "organisations": orgs, "solutions": _ids(multi.get("solutions", [])), "classifications": classifications,
        **{ln: [c[:40] for c in multi.get(ln, [])] for ln in TERM_LISTS},
        "coverage": coverage, "contacts": contacts,
    }
    for i, _c in enumerate(coverage):
        where[f"coverage.{i}"] = "coverage"
    if coverage and any((values.get(f) or "").strip() for f in cov_fields):  # the form's row is the last one
        for f in ("area_code", "area_name", "as_of", "persons", "health_workers", "facilities"):
            where[f"coverage.{len(coverage) - 1}.{f}"] = f"cov_{f}"
    if contacts and (values.get("contact_name") or values.get("contact_email")):
        where.update({"contacts.0.name": "contact_name", "contacts.0.email": "contact_email",
                      "contacts.0.role": "contact_role"})
    return body, where


def _implementation_form(request: Request, session: Session, principal: Principal, impl: Implementation | None,
                         values: dict[str, str], multi: dict[str, list[str]], errors: dict[str, str],
                         general: list[str], status_code: int = 200) -> Response:
    return render(request, "atlas_implementation_form.html", {
        "impl": impl, "values": values, "multi": multi, "errors": errors, "general": general,
        "countries": _country_options(session), "orgs": _org_options(session),
        "solutions": [(s.id, s.name) for s in session.execute(select(Solution).order_by(Solution.name)).scalars()],
        "terms": _terms(session), "stages": [(s, i18n._(STAGE_LABELS[s])) for s in STAGES],
        "openness": [(o, i18n._(OPENNESS_LABELS[o])) for o in OPENNESS],
        "ownership": [(o, i18n._(OWNERSHIP_LABELS[o])) for o in OWNERSHIP],
    }, status_code=status_code)


async def _save_implementation(request: Request, session: Session, principal: Principal,
                               impl: Implementation | None) -> Response:
    values, multi = form_lists(await request.form(), max_repeats=200, max_item=100)
    existing = service.implementation_detail(session, principal, impl) if impl else None
    errors: dict[str, str] = {}
    general: list[str] = []
    body, where = _build_implementation(session, values, multi, existing, errors, service.default_owner(principal))
    try:
        if errors:
            raise ValidationFailed(_("The implementation is not valid; nothing was saved."))
        data = parse(ImplementationIn, body)
        if impl is None:
            saved = service.create_implementation(session, principal, data)
        else:
            version = values.get("version", "")
            saved = service.update_implementation(session, principal, impl.id, data,
                                                  int(version) if version.isdigit() else None)
    except ValidationFailed as exc:
        session.rollback()
        _place_errors(errors, general, exc.errors, where)
        if "end_date is before start_date" in general:
            general.remove("end_date is before start_date")
            errors["end_date"] = _("is before the start date")
        return _implementation_form(request, session, principal, impl, values, multi, errors,
                                    [_nothing_saved(exc.detail), *general], 422)
    except Conflict as exc:
        session.rollback()
        return _implementation_form(request, session, principal, impl, values, multi, errors, [exc.detail], 409)
    return _done(f"/atlas/implementations/{saved.id}?done=saved")


@router.post("/atlas/implementations/new")
async def implementation_create(request: Request, session: Session = db_session,
                                principal: Principal = current_principal) -> Response:
    _may_register(principal)
    return await _save_implementation(request, session, principal, None)


def _editable(session: Session, principal: Principal, impl_id: int) -> Implementation:
    impl = service.get_implementation(session, principal, impl_id)
    authorize(session, principal, "partner_data.edit", service.target_for(session, impl.country_iso3,
                                                                          impl.owner_org_id))
    return impl


@router.get("/atlas/implementations/{impl_id}/edit", response_class=HTMLResponse)
def implementation_edit(request: Request, impl_id: Id, session: Session = db_session,
                        principal: Principal = current_principal) -> Response:
    impl = _editable(session, principal, impl_id)
    values, multi = _values_from_detail(service.implementation_detail(session, principal, impl))
    return _implementation_form(request, session, principal, impl, values, multi, {}, [])


@router.post("/atlas/implementations/{impl_id}/edit")
async def implementation_update(request: Request, impl_id: Id, session: Session = db_session,
                                principal: Principal = current_principal) -> Response:
    impl = _editable(session, principal, impl_id)
    return await _save_implementation(request, session, principal, impl)


# ---------------------------------------------------------------- investments


@router.get("/atlas/investments/new", response_class=HTMLResponse)
def investment_new(request: Request, country: Iso3Q = None,
                   implementation: Annotated[int | None, Query(ge=1, le=2_147_483_647)] = None,
                   session: Session = db_session, principal: Principal = current_principal) -> Response:
    _may_register(principal)
    own = service.default_owner(principal)
    values = {"country_iso3": (country or "").upper(), "funder_org_id": str(own or ""),
              "owner_org_id": str(own or ""), "currency": "USD", "kind": "grant",
              "committed_on": service.utcnow_date().isoformat(), "period_start": str(service.utcnow_date().year),
              "period_end": str(service.utcnow_date().year + 2), "implementations": ""}
    if implementation:
        impl = session.get(Implementation, implementation)
        if impl is not None and service.may_read(session, principal, impl):
            values["implementations"] = str(impl.id)
            values["country_iso3"] = impl.country_iso3
            values["title"] = impl.name
    return _investment_form(request, session, values, {"components": []}, {}, [])


def _investment_form(request: Request, session: Session, values: dict[str, str], multi: dict[str, list[str]],
                     errors: dict[str, str], general: list[str], status_code: int = 200) -> Response:
    return render(request, "atlas_investment_form.html", {
        "values": values, "multi": multi, "errors": errors, "general": general,
        "countries": _country_options(session), "orgs": _org_options(session),
        "kinds": [(k, i18n._(KIND_LABELS[k])) for k in INVESTMENT_KINDS], "components": _components(session),
        "currency_hints": CURRENCY_HINTS,
    }, status_code=status_code)


INV_WHERE = {"title": "title", "funder_org_id": "funder_org_id", "recipient_org_id": "recipient_org_id",
             "country_iso3": "country_iso3", "amount": "amount", "currency": "currency", "kind": "kind",
             "committed_on": "committed_on", "period_start": "period_start", "period_end": "period_end",
             "owner_org_id": "owner_org_id", "disbursements": "disb_amount", "targets": "implementations"}


@router.post("/atlas/investments/new")
async def investment_create(request: Request, session: Session = db_session,
                            principal: Principal = current_principal) -> Response:
    _may_register(principal)
    values, multi = form_lists(await request.form(), max_repeats=200, max_item=100)
    errors: dict[str, str] = {}
    general: list[str] = []
    where = dict(INV_WHERE)
    committed = _date(values, "committed_on", errors, required=True)
    disb_date = _date(values, "disb_date", errors)
    targets: list[dict[str, str]] = []
    for fname, kind in (("implementations", "implementation"), ("interventions", "intervention"),
                        ("priorities", "priority")):
        for ref in _tokens(values.get(fname, "")):
            targets.append({"kind": kind, "ref": ref.lstrip("#")[:40]})
            where[f"targets[{len(targets)}]"] = fname
    for ref in multi.get("components", [])[:20]:
        targets.append({"kind": "component", "ref": ref[:40]})
        where[f"targets[{len(targets)}]"] = "components"
    disbursements = []
    if (values.get("disb_amount") or "").strip():
        if disb_date is None and "disb_date" not in errors:
            errors["disb_date"] = _("is required")
        disbursements.append({"on_date": disb_date.isoformat() if disb_date else None,
                              "amount": values["disb_amount"].strip()[:30]})
    if committed and disb_date and disb_date < committed:
        errors["disb_date"] = _("is before the commitment")

    def year(name: str) -> int:
        raw = (values.get(name) or "").strip()
        if not (raw.isdigit() and len(raw) == 4):
            errors[name] = _("must be a year")
            return 0
        return int(raw)

    period_start, period_end = year("period_start"), year("period_end")
    if period_start and period_end and period_end < period_start:
        errors["period_end"] = _("is before the start of the period")

    def org(name: str) -> int | None:
        raw = values.get(name) or ""
        return int(raw) if raw.isdigit() and len(raw) < 10 else None

    if org("funder_org_id") is None:
        errors["funder_org_id"] = _("is required")
    body = {"title": values.get("title", ""), "funder_org_id": org("funder_org_id") or 0,
            "recipient_org_id": org("recipient_org_id"), "country_iso3": (values.get("country_iso3") or "").upper(),
            "amount": (values.get("amount") or "").strip()[:30], "currency": (values.get("currency") or "")
            .strip().upper()[:3] if len((values.get("currency") or "").strip()) <= 3 else "???",
            "kind": values.get("kind", ""), "committed_on": committed.isoformat() if committed else None,
            "period_start": period_start, "period_end": period_end, "owner_org_id": org("owner_org_id"),
            "disbursements": disbursements, "targets": targets}
    try:
        if errors:
            raise ValidationFailed(_("The investment is not valid; nothing was saved."))
        inv = service.create_investment(session, principal, parse(InvestmentIn, body))
    except ValidationFailed as exc:
        session.rollback()
        _place_errors(errors, general, exc.errors, where)
        return _investment_form(request, session, values, multi, errors, [_nothing_saved(exc.detail), *general], 422)
    except Conflict as exc:
        session.rollback()
        return _investment_form(request, session, values, multi, errors, [exc.detail], 409)
    return _done(f"/atlas/investments/{inv.id}?done=saved")


@router.get("/atlas/investments/{inv_id}", response_class=HTMLResponse)
def investment_page(request: Request, inv_id: Id, session: Session = db_session,
                    principal: Principal = current_principal) -> Response:
    inv = service.get_investment(session, principal, inv_id)
    detail = service.investment_detail(session, inv)
    for x in detail["disbursements"]:
        x["amount_dec"] = Decimal(x["amount"])
    target = service.target_for(session, inv.country_iso3, inv.owner_org_id)
    impl_ids = [int(t["ref"]) for t in detail["targets"] if t["kind"] == "implementation" and t["ref"].isdigit()]
    impls = {i.id: i for i in session.execute(select(Implementation).where(Implementation.id.in_(impl_ids))).scalars()
             if service.may_read(session, principal, i)} if impl_ids else {}
    codes = {("cdisah2023-dhi", t["ref"]) for t in detail["targets"] if t["kind"] == "intervention"}
    country = reference.get_country(session, inv.country_iso3)
    owner = session.get(Organisation, inv.owner_org_id)
    return render(request, "atlas_investment.html", {
        "d": detail, "inv": inv, "country_name": reference.country_name(country, i18n.get_locale()),
        "owner": owner.name if owner else "", "impls": impls, "code_names": _code_names(session, codes),
        "components": dict(_components(session)), "kind_labels": labels(KIND_LABELS),
        "target_labels": labels(TARGET_LABELS), "status_labels": labels(STATUS_LABELS),
        "approval_labels": labels(APPROVAL_LABELS),
        "may_approve": principal.is_authenticated and can(principal, "country_data.approve", target),
        "may_edit": principal.is_authenticated and can(principal, "partner_data.edit", target),
        "disbursed": sum((x["amount_dec"] for x in detail["disbursements"]), Decimal(0)),
        "usd": None if detail["usd"] is None else Decimal(detail["usd"]),
        "rate": None if detail["usd_rate"] is None else format(Decimal(detail["usd_rate"]).normalize(), "f"),
        "done": request.query_params.get("done", "")[:20],
    })


@router.post("/atlas/investments/{inv_id}/decision")
async def investment_decision(request: Request, inv_id: Annotated[int, Path(ge=1, le=2_147_483_647)],
                              session: Session = db_session, principal: Principal = current_principal) -> Response:
    form = await request.form()
    decision = str(form.get("decision") or "")[:20]
    if decision not in ("approve", "reject"):
        raise ValidationFailed(_("Unknown decision."), errors=[FieldError("decision", decision or "''")])
    service.decide_investment(session, principal, inv_id, decision)
    return _done(f"/atlas/investments/{inv_id}?done={decision}")
