"""Shell pages: home, sign-in and out, language, one's own account and tokens, health, API docs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from dho import __version__, i18n
from dho.accounts import service as accounts
from dho.accounts.models import Organisation, User
from dho.accounts.permissions import Principal
from dho.accounts.schemas import UserOut
from dho.db import current_revision_of_connection
from dho.errors import DomainError, RateLimited, Unauthenticated
from dho.reference import service as reference
from dho.reference.models import ClassificationCode, Country
from dho.web.deps import LANG_COOKIE, SESSION_COOKIE, cookie_secure, current_principal, db_session
from dho.web.params import Id
from dho.web.templating import render

router = APIRouter(include_in_schema=False)
api = APIRouter(tags=["platform"])


def safe_next(target: str | None) -> str:
    """Only same-site paths: no scheme, no host, no protocol-relative or backslash tricks."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target or "\n" in target:
        return "/"
    return target[:500]


@router.get("/", response_class=HTMLResponse)
def home(request: Request, session: Session = db_session, principal: Principal = current_principal) -> Response:
    stats = {
        "members": session.execute(select(func.count()).select_from(Country).where(Country.who_member)).scalar_one(),
        "areas": session.execute(select(func.count()).select_from(Country)).scalar_one(),
        "codes": session.execute(select(func.count()).select_from(ClassificationCode)).scalar_one(),
        "organisations": session.execute(select(func.count()).select_from(Organisation)).scalar_one(),
    }
    return render(request, "home.html", {"stats": stats, "release": reference.latest_release(session)})


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str | None = None, principal: Principal = current_principal) -> Response:
    return render(request, "login.html", {"next": safe_next(next), "email": "", "error": None})


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    email: Annotated[str, Form(max_length=254)] = "",
    password: Annotated[str, Form(max_length=256)] = "",
    next: Annotated[str, Form(max_length=500)] = "/",
    session: Session = db_session,
    principal: Principal = current_principal,
) -> Response:
    ip = request.client.host if request.client else None
    try:
        user = accounts.authenticate(session, email, password, ip)
    except (Unauthenticated, RateLimited) as exc:
        return render(request, "login.html", {"next": safe_next(next), "email": email, "error": exc.detail},
                      status_code=exc.status)
    # A new session identifier at every sign-in; any session the browser brought is ended.
    accounts.end_session(session, request.cookies.get(SESSION_COOKIE))
    new = accounts.start_session(session, user, ip=ip, user_agent=request.headers.get("user-agent"))
    response = RedirectResponse(safe_next(next), status_code=303)
    secure = cookie_secure(request)
    response.set_cookie(SESSION_COOKIE, new.cookie_value, httponly=True, samesite="lax", secure=secure,
                        max_age=int(new.record.expires_at.timestamp() - new.record.created_at.timestamp()))
    if user.locale:
        response.set_cookie(LANG_COOKIE, user.locale, httponly=True, samesite="lax", secure=secure, max_age=365 * 86400)
    return response


@router.post("/logout")
def logout(request: Request, session: Session = db_session) -> Response:
    accounts.end_session(session, request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.post("/language")
def language(
    request: Request,
    lang: Annotated[str, Form(max_length=8)],
    next: Annotated[str, Form(max_length=500)] = "/",
    session: Session = db_session,
    principal: Principal = current_principal,
) -> Response:
    lang = lang if lang in i18n.LOCALES else i18n.DEFAULT
    if principal.user_id is not None:
        accounts.set_locale(session, principal, principal.user_id, lang)
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(LANG_COOKIE, lang, httponly=True, samesite="lax", secure=cookie_secure(request),
                        max_age=365 * 86400)
    return response


def _require_login(principal: Principal) -> int:
    if principal.user_id is None:
        raise Unauthenticated(i18n._("Sign in to see your account."))
    return principal.user_id


@router.get("/account", response_class=HTMLResponse)
def account(request: Request, session: Session = db_session, principal: Principal = current_principal) -> Response:
    user_id = _require_login(principal)
    user = accounts.get_user(session, user_id)
    return render(request, "account.html", {
        "account": user, "tokens": accounts.list_tokens(session, principal, user_id), "new_token": None,
        "errors": {}, "organisation": session.get(Organisation, user.organisation_id) if user.organisation_id else None,
    })


@router.post("/account/tokens", response_class=HTMLResponse)
def account_token_create(
    request: Request,
    name: Annotated[str, Form(max_length=200)] = "",
    scopes: Annotated[list[str] | None, Form()] = None,
    days: Annotated[str, Form(max_length=4)] = "90",
    session: Session = db_session,
    principal: Principal = current_principal,
) -> Response:
    user_id = _require_login(principal)
    errors: dict[str, str] = {}
    new_token = None
    try:
        _token, new_token = accounts.create_token(session, principal, {
            "name": name, "scopes": scopes or [], "days": int(days) if days.isdigit() else -1})
    except DomainError as exc:
        session.rollback()
        errors = {e.field.split(".")[0]: e.message for e in exc.errors} or {"name": exc.detail}
    user = accounts.get_user(session, user_id)
    return render(request, "account.html", {
        "account": user, "tokens": accounts.list_tokens(session, principal, user_id), "new_token": new_token,
        "errors": errors,
        "organisation": session.get(Organisation, user.organisation_id) if user.organisation_id else None,
    }, status_code=422 if errors else 200)


@router.post("/account/tokens/{token_id}/revoke")
def account_token_revoke(token_id: Id, session: Session = db_session,
                         principal: Principal = current_principal) -> Response:
    _require_login(principal)
    accounts.revoke_token(session, principal, token_id)
    return RedirectResponse("/account#tokens", status_code=303)


@router.post("/account/password", response_class=HTMLResponse)
def account_password(
    request: Request,
    current_password: Annotated[str, Form(max_length=256)] = "",
    new_password: Annotated[str, Form(max_length=256)] = "",
    session: Session = db_session,
    principal: Principal = current_principal,
) -> Response:
    user_id = _require_login(principal)
    accounts.set_password(session, principal, user_id, new_password, current_password)
    response = RedirectResponse("/login?changed=1", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("/api/docs", response_class=HTMLResponse)
def api_docs(request: Request, principal: Principal = current_principal) -> Response:
    return render(request, "api_docs.html", {"has_swagger": request.app.state.htmx})


@router.get("/problems/{slug}", response_class=HTMLResponse)
def problem_type(request: Request, slug: str, principal: Principal = current_principal) -> Response:
    return render(request, "problem_type.html", {"slug": slug[:60]})


@api.get("/health", summary="Liveness and database check")
def health(request: Request, session: Session = db_session) -> dict[str, object]:
    session.execute(text("SELECT 1"))
    return {"status": "ok", "version": __version__, "database": session.get_bind().dialect.name,
            "schema_revision": current_revision_of_connection(session.connection())}


@api.get("/me", response_model=UserOut, summary="The signed-in user or token owner")
def me(session: Session = db_session, principal: Principal = current_principal) -> User:
    if principal.user_id is None:
        raise Unauthenticated(i18n._("No credentials were sent."))
    return accounts.get_user(session, principal.user_id)
