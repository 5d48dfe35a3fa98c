"""The application factory: one FastAPI app serving the HTML pages and the JSON API."""

from __future__ import annotations

import json
import os
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import unquote

from fastapi import Depends, FastAPI, Request
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dho import __version__, i18n
from dho.accounts.schemas import CONTROL
from dho.config import get_settings
from dho.db import Database, import_all_models
from dho.web import errors
from dho.web.deps import CSRF_COOKIE, LANG_COOKIE, cookie_secure, csrf_protect

WEB_DIR = Path(__file__).resolve().parent
ASSETS_DIR = Path(os.environ.get("DHO_ASSETS_DIR", WEB_DIR.parent.parent / "node_modules"))

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
       "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'")


class RequestGuard:
    """Refuse, before any application code runs: addresses with control characters (a NUL byte
    would reach PostgreSQL, which rejects it) and bodies over the configured size, whether or not
    a Content-Length is sent (a streamed body of unknown length is read here up to the limit)."""

    def __init__(self, app: ASGIApp, max_bytes: int, upload_bytes: int = 0):
        self.app = app
        self.max_bytes = max_bytes
        self.upload_bytes = max(upload_bytes, max_bytes)

    def limit(self, path: str) -> int:
        """File uploads (paths ending in ``/evidence``) may be larger than other requests: the
        file's own limit plus room for the form's other fields."""
        return self.upload_bytes + 65_536 if path.endswith(("/evidence", "/trust/verify")) else self.max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        query = unquote(scope.get("query_string", b"").decode("latin-1"))
        if CONTROL.search(scope.get("path", "")) or CONTROL.search(query):
            await _refuse(send, 400, "bad-request", "Bad request",
                          "The address contains control characters.")
            return
        headers = dict(scope.get("headers", []))
        max_bytes = self.limit(scope.get("path", ""))
        length = headers.get(b"content-length")
        if length is not None:
            if not length.isdigit() or int(length) > max_bytes:
                await _refuse(send, 413, "payload-too-large", "Request too large",
                              "The request body is larger than the server accepts.")
                return
            await self.app(scope, receive, send)  # the server delivers no more than declared
            return
        if b"transfer-encoding" not in headers:
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body = message.get("body", b"")
            size += len(body)
            if size > max_bytes:
                await _refuse(send, 413, "payload-too-large", "Request too large",
                              "The request body is larger than the server accepts.")
                return
            chunks.append(body)
            if not message.get("more_body", False):
                break
        whole = b"".join(chunks)
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": whole, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


async def _refuse(send: Send, status: int, slug: str, title: str, detail: str) -> None:
    body = json.dumps({"type": f"/problems/{slug}", "title": title, "status": status, "detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/problem+json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", CSP.encode()),
    (b"cross-origin-opener-policy", b"same-origin"),
]


class Shell:
    """Per request: choose the language; on the response add security headers and any new CSRF
    cookie. A plain ASGI middleware (no extra task or stream per request)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        lang = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE) \
            or i18n.negotiate(request.headers.get("accept-language")) or get_settings().default_locale
        token = i18n.set_locale(lang if lang in i18n.LOCALES else i18n.DEFAULT)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS:
                    if name.decode() not in headers:
                        headers.raw.append((name, value))
                if "text/html" in headers.get("content-type", ""):
                    headers.setdefault("cache-control", "no-store")
                    headers.setdefault("vary", "Cookie, Accept-Language")
                new_csrf = scope.get("state", {}).get("new_csrf_cookie")
                if new_csrf:
                    cookie = SimpleCookie()
                    cookie[CSRF_COOKIE] = new_csrf
                    morsel = cookie[CSRF_COOKIE]
                    morsel.update({"httponly": True, "samesite": "lax", "max-age": "86400", "path": "/"})
                    if cookie_secure(request):
                        morsel["secure"] = True
                    headers.append("set-cookie", morsel.OutputString())
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            i18n.reset_locale(token)


def create_app(database_url: str | None = None, *, db: Database | None = None) -> FastAPI:
    settings = get_settings()
    import_all_models()
    app = FastAPI(
        title="Digital Health Observatory API",
        version=__version__,
        description="Open API of the Digital Health Observatory. Read endpoints serve published data to "
                    "everyone; writes need an API token (`Authorization: Bearer dho_...`). Errors are "
                    "RFC 9457 problem+json documents with a stable `type`.",
        docs_url=None, redoc_url=None, openapi_url="/api/openapi.json",
        dependencies=[Depends(csrf_protect)],
    )
    app.state.db = db or Database(database_url or settings.database_url)
    errors.install(app)
    app.add_middleware(Shell)
    app.add_middleware(RequestGuard, max_bytes=settings.max_request_bytes, upload_bytes=settings.max_upload_bytes)

    app.mount("/static", StaticFiles(directory=WEB_DIR / "static"), name="static")
    for prefix, folder in (("/vendor/htmx", ASSETS_DIR / "htmx.org" / "dist"),
                           ("/vendor/swagger-ui", ASSETS_DIR / "swagger-ui-dist")):
        if folder.is_dir():
            app.mount(prefix, StaticFiles(directory=folder), name=prefix.strip("/").replace("/", "-"))
    app.state.htmx = (ASSETS_DIR / "htmx.org" / "dist" / "htmx.min.js").is_file()

    from dho.accounts import api as accounts_api
    from dho.accounts import views as accounts_views
    from dho.atlas import api as atlas_api
    from dho.atlas import coordination_api as atlas_coordination_api
    from dho.atlas import coordination_views as atlas_coordination_views
    from dho.atlas import quality_api as atlas_quality_api
    from dho.atlas import quality_views as atlas_quality_views
    from dho.atlas import transfer_api as atlas_transfer_api
    from dho.atlas import views as atlas_views
    from dho.audit import api as audit_api
    from dho.audit import views as audit_views
    from dho.indicators import views as indicator_views
    from dho.maturity import api as maturity_api
    from dho.maturity import map_views
    from dho.maturity import settings_views as maturity_settings_views
    from dho.maturity import views as maturity_views
    from dho.reference import api as reference_api
    from dho.reference import views as reference_views
    from dho.reports import views as report_views
    from dho.strategy import catalogue_views, national_views, plan_views
    from dho.trust import api as trust_api
    from dho.trust import verify_api as trust_verify_api
    from dho.trust import views as trust_views
    from dho.web import pages

    for router in (pages.router, reference_views.router, accounts_views.router, audit_views.router,
                   maturity_views.router, maturity_settings_views.router, map_views.router,
                   atlas_coordination_views.router, atlas_quality_views.router, atlas_views.router,
                   trust_views.router, catalogue_views.router, national_views.router, plan_views.router,
                   indicator_views.router, report_views.router):
        app.include_router(router)
    for router in (pages.api, reference_api.router, accounts_api.router, audit_api.router, maturity_api.router,
                   atlas_api.router, atlas_quality_api.router, atlas_transfer_api.router,
                   atlas_coordination_api.router, trust_verify_api.router, trust_api.router,
                   catalogue_views.api, national_views.api, plan_views.api, indicator_views.api, report_views.api):
        app.include_router(router, prefix="/api")
    return app
