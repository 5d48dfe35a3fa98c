"""Request-scoped dependencies: the database session, the principal, the CSRF check."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterator
from dataclasses import dataclass

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from dho import i18n
from dho.accounts import service as accounts
from dho.accounts.permissions import ANONYMOUS, Principal
from dho.config import get_settings
from dho.errors import Forbidden, Unauthenticated

SESSION_COOKIE = "dho_session"
CSRF_COOKIE = "dho_csrf"
LANG_COOKIE = "dho_lang"
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}


def _session_dep(request: Request) -> Iterator[Session]:
    with request.app.state.db.session() as session:
        yield session


db_session = Depends(_session_dep, scope="function")


@dataclass(frozen=True)
class SignedInUser:
    """What pages show of the signed-in user; plain values, usable after the session closes."""

    id: int
    email: str
    display_name: str


def resolve_principal(request: Request, session: Session) -> Principal:
    """Bearer token, else session cookie, else the public. Cached on the request."""
    cached = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    principal = ANONYMOUS
    request.state.csrf_token = None
    request.state.user = None
    auth = request.headers.get("authorization")
    if auth:
        scheme, _, value = auth.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise Unauthenticated(i18n._("Use 'Authorization: Bearer <token>'."))
        principal = accounts.authenticate_token(session, value.strip())
        request.state.via_token = True
    else:
        loaded = accounts.load_session(session, request.cookies.get(SESSION_COOKIE))
        if loaded is not None:
            record, user = loaded
            principal = accounts.principal_for(user, via="session")
            request.state.csrf_token = record.csrf_token
            request.state.user = SignedInUser(user.id, user.email, user.display_name)
    request.state.principal = principal
    return principal


def _principal_dep(request: Request, session: Session = db_session) -> Principal:
    return resolve_principal(request, session)


current_principal = Depends(_principal_dep, scope="function")


def anonymous_csrf(request: Request) -> str:
    """For forms shown before sign-in: an HMAC of a random cookie (signed double submit)."""
    raw = request.cookies.get(CSRF_COOKIE)
    if not raw or len(raw) > 100:
        raw = getattr(request.state, "new_csrf_cookie", None) or secrets.token_urlsafe(24)
        request.state.new_csrf_cookie = raw
    return _sign(raw)


def _sign(raw: str) -> str:
    key = get_settings().secret_key.encode()
    return hmac.new(key, raw.encode(), hashlib.sha256).hexdigest()


def csrf_token_for(request: Request) -> str:
    token = getattr(request.state, "csrf_token", None)
    return token or anonymous_csrf(request)


async def csrf_protect(request: Request) -> None:
    """Every unsafe request that relies on a cookie must carry the matching CSRF token, in the
    ``csrf_token`` form field or the ``X-CSRF-Token`` header. Token-authenticated API calls carry
    no cookie and need none."""
    if request.method not in UNSAFE or request.headers.get("authorization"):
        return
    if request.url.path.startswith("/api/") and not request.cookies:
        return  # no cookie, no ambient credential to abuse; the permission check answers 401
    sent = request.headers.get("x-csrf-token")
    if sent is None and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        value = form.get("csrf_token")
        sent = value if isinstance(value, str) else None
    if not sent:
        raise Forbidden(i18n._("The form's security token is missing. Reload the page and try again."))
    session_cookie = request.cookies.get(SESSION_COOKIE)
    if session_cookie:
        db = request.app.state.db
        with db.sessions() as session:
            loaded = accounts.load_session(session, session_cookie)
        if loaded is not None:
            if not hmac.compare_digest(sent, loaded[0].csrf_token):
                raise Forbidden(i18n._(
                    "The form's security token is wrong or expired. Reload the page and try again."))
            return
    raw = request.cookies.get(CSRF_COOKIE)
    if not raw or not hmac.compare_digest(sent, _sign(raw)):
        raise Forbidden(i18n._(
            "The form's security token is wrong or expired. Reload the page and try again."))


def cookie_secure(request: Request) -> bool:
    if request.url.scheme == "https":
        return True
    host = (request.url.hostname or "").lower()
    return get_settings().cookie_secure and host not in LOOPBACK


async def _form_data(request: Request) -> dict[str, str]:
    """The submitted form as plain strings (files are not accepted here), each capped in size."""
    form = await request.form()
    out: dict[str, str] = {}
    for key, value in form.multi_items():
        if isinstance(value, str) and key not in out:
            out[key[:100]] = value[:5000]
    return out


form_data = Depends(_form_data)


@dataclass(frozen=True)
class UploadedFile:
    filename: str
    content_type: str
    data: bytes


async def _upload_form(request: Request) -> tuple[dict[str, str], UploadedFile | None]:
    """A multipart form with at most one file (field ``file``), read up to the upload limit plus
    one byte so that an oversized file is recognised, never read whole."""
    form = await request.form(max_files=1, max_fields=50)
    fields: dict[str, str] = {}
    upload = None
    for key, value in form.multi_items():
        if isinstance(value, str):
            if key not in fields:
                fields[key[:100]] = value[:5000]
        elif key == "file" and upload is None and (value.filename or value.size):
            data = await value.read(get_settings().max_upload_bytes + 1)
            upload = UploadedFile(value.filename or "", value.content_type or "", data)
    return fields, upload


upload_form = Depends(_upload_form)


def content_disposition(filename: str, disposition: str = "attachment") -> str:
    """A Content-Disposition header for any file name (RFC 6266: an ASCII fallback and the UTF-8 name)."""
    from urllib.parse import quote

    fallback = "".join(ch if 32 <= ord(ch) < 127 and ch not in '"\\%' else "_" for ch in filename) or "file"
    return f"{disposition}; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"
