"""Errors: RFC 9457 problem+json on the API, friendly pages in the browser."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from dho import i18n
from dho.accounts.permissions import ANONYMOUS
from dho.errors import DomainError, FieldError
from dho.validation import field_errors, message_for

log = logging.getLogger("dho.web")

PROBLEM_BASE = "/problems/"
# i18n._ marks the titles for extraction and returns them unchanged at import (the default locale);
# problem() translates them for pages in the language of the request. API titles stay in English.
TITLES = {
    400: i18n._("Bad request"), 401: i18n._("Sign-in required"), 403: i18n._("Not allowed"),
    404: i18n._("Not found"), 405: i18n._("Method not allowed"), 409: i18n._("Conflicting change"),
    413: i18n._("Request too large"), 415: i18n._("Unsupported media type"),
    422: i18n._("Some values are not valid"), 429: i18n._("Too many attempts"),
    500: i18n._("Something went wrong on our side"),
}
SLUGS = {400: "bad-request", 401: "unauthenticated", 403: "forbidden", 404: "not-found", 405: "method-not-allowed",
         409: "conflict", 413: "payload-too-large", 415: "unsupported-media-type", 422: "validation-failed",
         429: "rate-limited", 500: "internal-error"}


def wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/") or request.url.path == "/api"


def problem(request: Request, status: int, slug: str, title: str, detail: str,
            errors: list[FieldError] | None = None, headers: dict[str, str] | None = None) -> Response:
    if wants_json(request):
        body: dict[str, Any] = {"type": PROBLEM_BASE + slug, "title": title, "status": status, "detail": detail,
                                "instance": request.url.path}
        if errors:
            body["errors"] = [{"field": e.field, "message": e.message} for e in errors]
        return JSONResponse(body, status_code=status, media_type="application/problem+json", headers=headers)
    from dho.web.templating import render

    if not hasattr(request.state, "principal"):
        request.state.principal = ANONYMOUS
    response = render(request, "error.html", {
        "status": status, "title": i18n._(title), "detail": detail, "errors": errors or []}, status_code=status)
    if headers:
        response.headers.update(headers)
    return response


def install(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def domain_error(request: Request, exc: DomainError) -> Response:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 and wants_json(request) else None
        if exc.status == 401 and not wants_json(request):
            from urllib.parse import quote

            from fastapi.responses import RedirectResponse

            if request.method == "GET":
                return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)
        return problem(request, exc.status, exc.type_slug, exc.title, exc.detail, exc.errors, headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        errors = []
        for err in exc.errors():
            loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path")]
            if err.get("type") == "json_invalid":
                errors.append(FieldError("body", i18n._("is not valid JSON")))
                continue
            errors.append(FieldError(".".join(loc) or "body", message_for(err)))
        return problem(request, 422, "validation-failed", TITLES[422], i18n._("Some values are not valid."), errors)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        status = exc.status_code
        detail = exc.detail if isinstance(exc.detail, str) else TITLES.get(status, i18n._("Error"))
        if status == 404 and detail == "Not Found":
            detail = i18n._("There is no page at this address.")
        return problem(request, status, SLUGS.get(status, "error"), TITLES.get(status, "Error"), detail,
                       headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem(request, 500, "internal-error", TITLES[500],
                       i18n._("The error was logged. Please try again later."))


__all__ = ["field_errors", "install", "problem"]
