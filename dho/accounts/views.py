"""Pages for organisations and, for administrators, users and their roles."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from dho import i18n
from dho.accounts import service
from dho.accounts.models import ORGANISATION_KINDS, ROLES
from dho.accounts.permissions import Principal, can, require, require_somewhere
from dho.audit import service as audit
from dho.errors import DomainError
from dho.reference import service as reference
from dho.web.deps import current_principal, db_session, form_data
from dho.web.params import Id, Offset
from dho.web.templating import render

router = APIRouter(include_in_schema=False)
PAGE = 50
Text = Annotated[str | None, Query(max_length=100)]
FORM_FIELDS = ("name", "acronym", "kind", "country_iso3", "website")


def kind_label(kind: str) -> str:
    return {
        "ministry": i18n._("Ministry"), "public_agency": i18n._("Public agency"), "who_office": i18n._("WHO office"),
        "multilateral": i18n._("Multilateral organisation"), "donor": i18n._("Donor"),
        "development_bank": i18n._("Development bank"), "ngo": i18n._("NGO"), "academic": i18n._("Academic"),
        "vendor": i18n._("Vendor"), "other": i18n._("Other"),
    }.get(kind, kind)


def _country_options(session: Session) -> list[tuple[str, str]]:
    rows, _t = reference.search_countries(session, limit=1000)
    locale = i18n.get_locale()
    return sorted(((c.iso3, reference.country_name(c, locale)) for c in rows), key=lambda p: p[1])


def _errors(exc: DomainError) -> dict[str, str]:
    out = {e.field.split(".")[0]: e.message for e in exc.errors}
    return out or {"_form": exc.detail}


def _clean(data: dict[str, str]) -> dict[str, object]:
    return {k: (v.strip() or None) if k in ("acronym", "country_iso3", "website") else v for k, v in data.items()}


@router.get("/organisations", response_class=HTMLResponse)
def organisations(
    request: Request, q: Text = None, country: Annotated[str | None, Query(max_length=3)] = None,
    kind: Annotated[str | None, Query(max_length=32)] = None, offset: Offset = 0,
    session: Session = db_session, principal: Principal = current_principal,
) -> Response:
    rows, total = service.search_organisations(session, q=q, country=country or None, kind=kind or None,
                                               limit=PAGE, offset=offset)
    return render(request, "organisations.html", {
        "rows": rows, "total": total, "offset": offset, "limit": PAGE, "q": q or "", "country": country or "",
        "kind": kind or "", "kinds": [(k, kind_label(k)) for k in ORGANISATION_KINDS], "kind_label": kind_label,
        "countries": _country_options(session),
    }, block_name="results")


@router.get("/organisations/new", response_class=HTMLResponse)
def organisation_new(request: Request, session: Session = db_session,
                     principal: Principal = current_principal) -> Response:
    require_somewhere(principal, "organisation.create")
    return render(request, "organisation_form.html", {
        "org": None, "values": {}, "errors": {}, "kinds": [(k, kind_label(k)) for k in ORGANISATION_KINDS],
        "countries": _country_options(session)})


@router.post("/organisations/new", response_class=HTMLResponse)
def organisation_create(request: Request, form: dict = form_data, session: Session = db_session,
                        principal: Principal = current_principal) -> Response:
    values = {k: v for k, v in form.items() if k in FORM_FIELDS}
    try:
        org = service.create_organisation(session, principal, _clean(values))
        return RedirectResponse(f"/organisations/{org.id}?saved=1", status_code=303)
    except DomainError as exc:
        session.rollback()
        if exc.status in (401, 403):
            raise
        return render(request, "organisation_form.html", {
            "org": None, "values": values, "errors": _errors(exc),
            "kinds": [(k, kind_label(k)) for k in ORGANISATION_KINDS], "countries": _country_options(session),
        }, status_code=exc.status)


@router.get("/organisations/{org_id}", response_class=HTMLResponse)
def organisation(request: Request, org_id: Id, tab: Annotated[str, Query(max_length=20)] = "overview",
                 session: Session = db_session, principal: Principal = current_principal) -> Response:
    org = service.get_organisation(session, org_id)
    target = service.target_for_organisation(session, org)
    country = reference.get_country(session, org.country_iso3) if org.country_iso3 else None
    return render(request, "organisation.html", {
        "org": org, "kind_label": kind_label, "tab": "history" if tab == "history" else "overview",
        "country_name": reference.country_name(country, i18n.get_locale()) if country else None,
        "may_edit": can(principal, "organisation.update", target),
        "may_delete": can(principal, "organisation.delete", target),
        "history": audit.history_rows(session, "organisation", str(org.id)) if tab == "history" else [],
    })


@router.get("/organisations/{org_id}/edit", response_class=HTMLResponse)
def organisation_edit(request: Request, org_id: Id, session: Session = db_session,
                      principal: Principal = current_principal) -> Response:
    org = service.get_organisation(session, org_id)
    require(principal, "organisation.update", service.target_for_organisation(session, org))
    values = {k: getattr(org, k) or "" for k in FORM_FIELDS}
    values["version"] = str(org.version)
    return render(request, "organisation_form.html", {
        "org": org, "values": values, "errors": {}, "kinds": [(k, kind_label(k)) for k in ORGANISATION_KINDS],
        "countries": _country_options(session)})


@router.post("/organisations/{org_id}/edit", response_class=HTMLResponse)
def organisation_update(request: Request, org_id: Id, form: dict = form_data, session: Session = db_session,
                        principal: Principal = current_principal) -> Response:
    values = {k: v for k, v in form.items() if k in FORM_FIELDS or k == "version"}
    try:
        data = _clean({k: v for k, v in values.items() if k != "version"})
        data["version"] = int(values["version"]) if values.get("version", "").isdigit() else -1
        service.update_organisation(session, principal, org_id, data)
        return RedirectResponse(f"/organisations/{org_id}?saved=1", status_code=303)
    except DomainError as exc:
        session.rollback()
        if exc.status in (401, 403, 404):
            raise
        org = service.get_organisation(session, org_id)
        return render(request, "organisation_form.html", {
            "org": org, "values": values, "errors": _errors(exc),
            "kinds": [(k, kind_label(k)) for k in ORGANISATION_KINDS], "countries": _country_options(session),
        }, status_code=exc.status)


@router.post("/organisations/{org_id}/delete")
def organisation_delete(org_id: Id, session: Session = db_session,
                        principal: Principal = current_principal) -> Response:
    service.delete_organisation(session, principal, org_id)
    return RedirectResponse("/organisations?deleted=1", status_code=303)


# ---------------------------------------------------------------- users (administrators)


def _user_page(request: Request, session: Session, principal: Principal, user_id: int, *,
               errors: dict[str, str] | None = None, tab: str = "overview", status: int = 200) -> Response:
    require(principal, "user.read")
    user = service.get_user(session, user_id)
    orgs, _t = service.search_organisations(session, limit=2000)
    return render(request, "user.html", {
        "account": user, "tab": tab, "errors": errors or {}, "roles": [(r, r) for r in ROLES],
        "regions": [(r.code, reference.localized(r, "name", i18n.get_locale())) for r in reference.regions(session)],
        "countries": _country_options(session), "orgs": [(o.id, o.name) for o in orgs],
        "org_names": {o.id: o.name for o in orgs},
        "history": audit.history_rows(session, "user_account", str(user.id)) if tab == "history" else [],
        "may_manage": can(principal, "user.manage"),
    }, status_code=status)


@router.get("/admin/users", response_class=HTMLResponse)
def users(request: Request, q: Text = None, offset: Offset = 0,
          session: Session = db_session, principal: Principal = current_principal) -> Response:
    rows, total = service.list_users(session, principal, q=q, limit=PAGE, offset=offset)
    orgs, _t = service.search_organisations(session, limit=2000)
    return render(request, "users.html", {
        "rows": rows, "total": total, "q": q or "", "offset": offset, "limit": PAGE, "errors": {}, "values": {},
        "orgs": [(o.id, o.name) for o in orgs], "may_manage": can(principal, "user.manage"),
    })


@router.post("/admin/users", response_class=HTMLResponse)
def user_create(request: Request, form: dict = form_data, session: Session = db_session,
                principal: Principal = current_principal) -> Response:
    values = {k: form.get(k, "")[:300] for k in ("email", "display_name", "password", "organisation_id")}
    try:
        org = values["organisation_id"]
        user = service.create_user(session, principal, {
            "email": values["email"], "display_name": values["display_name"],
            "password": values["password"] or None, "organisation_id": int(org) if org.isdigit() else None})
        return RedirectResponse(f"/admin/users/{user.id}?saved=1", status_code=303)
    except DomainError as exc:
        session.rollback()
        if exc.status in (401, 403):
            raise
        rows, total = service.list_users(session, principal, limit=PAGE)
        orgs, _t = service.search_organisations(session, limit=2000)
        values.pop("password")
        return render(request, "users.html", {
            "rows": rows, "total": total, "q": "", "offset": 0, "limit": PAGE, "errors": _errors(exc),
            "values": values, "orgs": [(o.id, o.name) for o in orgs], "may_manage": True,
        }, status_code=exc.status)


@router.get("/admin/users/{user_id}", response_class=HTMLResponse)
def user(request: Request, user_id: Id, tab: Annotated[str, Query(max_length=20)] = "overview",
         session: Session = db_session, principal: Principal = current_principal) -> Response:
    return _user_page(request, session, principal, user_id, tab="history" if tab == "history" else "overview")


@router.post("/admin/users/{user_id}/grants", response_class=HTMLResponse)
def user_grant(request: Request, user_id: Id, form: dict = form_data, session: Session = db_session,
               principal: Principal = current_principal) -> Response:
    values = {k: form.get(k, "").strip()[:40] for k in ("role", "country_iso3", "region_code", "organisation_id")}
    try:
        service.grant_role(session, principal, user_id, {
            "role": values["role"], "country_iso3": values["country_iso3"] or None,
            "region_code": values["region_code"] or None,
            "organisation_id": int(values["organisation_id"]) if values["organisation_id"].isdigit() else None})
        return RedirectResponse(f"/admin/users/{user_id}?saved=1", status_code=303)
    except DomainError as exc:
        session.rollback()
        if exc.status in (401, 403, 404):
            raise
        return _user_page(request, session, principal, user_id, errors=_errors(exc), status=exc.status)


@router.post("/admin/users/{user_id}/grants/{grant_id}/revoke")
def user_revoke(user_id: Id, grant_id: Id, session: Session = db_session,
                principal: Principal = current_principal) -> Response:
    service.revoke_role(session, principal, grant_id)
    return RedirectResponse(f"/admin/users/{user_id}?saved=1", status_code=303)


@router.post("/admin/users/{user_id}/active")
def user_active(user_id: Id, form: dict = form_data, session: Session = db_session,
                principal: Principal = current_principal) -> Response:
    service.set_active(session, principal, user_id, form.get("active") == "1")
    return RedirectResponse(f"/admin/users/{user_id}?saved=1", status_code=303)
