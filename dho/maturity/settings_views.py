"""Maturity settings pages: a country's targets and component weights (which rank its priorities),
and the frameworks: their list, each one rendered readably with its linter findings and crosswalks,
and the administrators' upload form."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections import defaultdict
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import or_, select
from sqlalchemy.orm import Session
from starlette.datastructures import UploadFile

from dho import i18n
from dho.accounts.permissions import Principal, authorize, can
from dho.errors import DomainError, FieldError, PayloadTooLarge, ValidationFailed
from dho.i18n import _
from dho.maturity import gaps, service
from dho.maturity.docchecks import check_document, no_constant
from dho.maturity.lint import Finding, lint
from dho.maturity.models import Crosswalk, Framework, Indicator
from dho.reference import service as reference
from dho.web.deps import current_principal, db_session, form_data
from dho.web.templating import render

router = APIRouter(include_in_schema=False)
Iso3Path = Annotated[str, Path(pattern=r"^[A-Za-z]{3}$")]
FrameworkPath = Annotated[str, Path(max_length=64)]
YearQ = Annotated[int | None, Query(ge=2000, le=2100)]

MAX_FRAMEWORK_BYTES = 1_000_000
YEARS_AHEAD = 6


def _text(value: Any, locale: str) -> str:
    if isinstance(value, dict):
        return str(value.get(locale) or value.get("en") or "")
    return "" if value is None else str(value)


def framework_texts(doc: dict[str, Any], locale: str) -> dict[str, Any]:
    """A framework document in the user's language, ready for a page: components, indicators with
    their parent, descriptors and numeric bands."""
    comps = []
    for c in doc.get("components") or []:
        inds = []
        for i in c.get("indicators") or []:
            bands = i.get("bands") if isinstance(i.get("bands"), dict) else None
            band_rows = []
            if bands and isinstance(bands.get("phases"), dict):
                for p, b in sorted(bands["phases"].items(), key=lambda kv: str(kv[0])):
                    b = b if isinstance(b, dict) else {}
                    band_rows.append({"phase": str(p), "min": b.get("min"), "max": b.get("max")})
            inds.append({
                "code": str(i.get("code", "")), "core": i.get("core") is True, "parent": i.get("parent"),
                "title": _text(i.get("title"), locale), "question": _text(i.get("question"), locale),
                "official": str(i.get("label_official") or ""),
                "descriptors": [(int(p), _text(d, locale)) for p, d in sorted(
                    (i.get("descriptors") or {}).items(), key=lambda kv: str(kv[0])) if str(p).isdigit()],
                "bands": {"measure": _text(bands.get("measure"), locale), "unit": str(bands.get("unit") or ""),
                          "range": bands.get("range"), "phases": band_rows} if bands else None,
            })
        comps.append({"id": str(c.get("id", "")), "title": _text(c.get("title"), locale), "indicators": inds})
    phase_names = doc.get("phase_names") if isinstance(doc.get("phase_names"), dict) else {}
    return {
        "id": str(doc.get("id", "")), "edition": str(doc.get("edition") or ""),
        "title": _text(doc.get("title"), locale),
        "description": _text(doc.get("description"), locale), "source": _text(doc.get("source"), locale),
        "phase_names": {int(p): _text(n, locale) for p, n in phase_names.items() if str(p).isdigit()},
        "components": comps,
        "core": sum(1 for c in comps for i in c["indicators"] if i["core"]),
        "sub": sum(1 for c in comps for i in c["indicators"] if not i["core"]),
    }


# ---------------------------------------------------------------- targets and component weights


def _targets_context(session: Session, principal: Principal, iso3: str, year: int | None) -> dict[str, Any]:
    locale = i18n.get_locale()
    country = reference.get_country(session, iso3)
    latest = gaps.country_latest(session, country.iso3)
    fw = latest.framework_id
    texts = framework_texts(service.framework_document(service.get_framework(session, fw)), locale)
    this_year = dt.datetime.now(dt.UTC).year
    priorities_year = latest.year + 1 if latest.year else this_year + 1
    year = year or priorities_year
    first = min(priorities_year, this_year)
    years = sorted({*range(first, max(priorities_year, this_year) + YEARS_AHEAD), year})
    own_targets = gaps.targets(session, country.iso3, fw, year)
    own_weights = gaps.weights(session, country.iso3, fw)
    components = []
    for c in texts["components"]:
        weight = own_weights.get(c["id"])
        rows = []
        for ind in c["indicators"]:
            if not ind["core"]:
                continue
            now = latest.phases.get(ind["code"])
            own = own_targets.get(ind["code"])
            choices = [p for p in range(1, 6) if now is None or p >= now or p == own]
            rows.append({"code": ind["code"], "title": ind["title"], "now": now, "default": min(5, (now or 0) + 1),
                         "own": own, "choices": choices})
        components.append({"id": c["id"], "title": c["title"], "indicators": rows,
                           "weight": i18n.fmt_number(weight if weight is not None else Decimal(1)),
                           "weight_value": weight if weight is not None else Decimal(1)})
    return {
        "country": country, "name": reference.country_name(country, locale), "framework": texts,
        "framework_id": fw, "published_year": latest.year, "priorities_year": priorities_year, "year": year,
        "years": years, "components": components, "values": {}, "errors": {}, "form_errors": [],
        "may_edit": can(principal, "country_data.edit", service._target(session, country.iso3)),
    }


@router.get("/maturity/countries/{iso3}/targets", response_class=HTMLResponse)
def targets(request: Request, iso3: Iso3Path, year: YearQ = None, session: Session = db_session,
            principal: Principal = current_principal) -> Response:
    return render(request, "maturity_targets.html", _targets_context(session, principal, iso3, year))


@router.post("/maturity/countries/{iso3}/targets", response_class=HTMLResponse)
def targets_save(request: Request, iso3: Iso3Path, form: dict = form_data, session: Session = db_session,
                 principal: Principal = current_principal) -> Response:
    own_targets = {k.removeprefix("target-"): v for k, v in form.items() if k.startswith("target-")}
    own_weights = {k.removeprefix("weight-"): v for k, v in form.items() if k.startswith("weight-")}
    raw_year = form.get("year", "")
    try:
        framework_id = gaps.country_latest(session, iso3.upper()).framework_id
        gaps.save_settings(session, principal, iso3.upper(), raw_year, own_targets, own_weights, framework_id)
        year = int(raw_year)
        return RedirectResponse(f"/maturity/countries/{iso3.upper()}/targets?year={year}&saved=1", status_code=303)
    except DomainError as exc:
        session.rollback()
        if exc.status in (401, 403, 404):
            raise
        year = int(raw_year) if re.fullmatch(r"[0-9]{4}", raw_year) and 2000 <= int(raw_year) <= 2100 else None
        ctx = _targets_context(session, principal, iso3, year)
        known = {f"target-{i['code']}" for c in ctx["components"] for i in c["indicators"]} | \
                {f"weight-{c['id']}" for c in ctx["components"]}
        ctx["errors"] = {e.field: e.message for e in exc.errors if e.field in known}
        ctx["form_errors"] = [exc.detail, *(f"{e.field}: {e.message}" for e in exc.errors if e.field not in known)]
        ctx["values"] = {k: v for k, v in form.items() if k in known}
        return render(request, "maturity_targets.html", ctx, status_code=exc.status)


# ---------------------------------------------------------------- frameworks


def upload_framework(session: Session, principal: Principal, data: bytes | None) -> tuple[Framework, list[Finding]]:
    """Add a new framework from an uploaded JSON document. Refused whole, with the reason, when the
    user may not manage frameworks, the document is too large, not UTF-8 JSON, not an object, has
    linter errors or takes an id already in use (a new edition gets its own id). Returns the
    framework and the linter's warnings."""
    authorize(session, principal, "maturity.framework.manage")
    if not data or not data.strip():
        raise ValidationFailed(_("Choose a file or paste the framework's JSON; nothing was saved."),
                               errors=[FieldError("document", _("is required"))])
    if len(data) > MAX_FRAMEWORK_BYTES:
        raise PayloadTooLarge(_("The framework is larger than %(n)s MB; nothing was saved.",
                                n=MAX_FRAMEWORK_BYTES // 1_000_000))
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationFailed(_("The framework is not UTF-8 text; nothing was saved."),
                               errors=[FieldError("document", _("is not UTF-8 text"))]) from None
    try:
        doc = json.loads(text, parse_constant=no_constant)
    except json.JSONDecodeError as exc:
        raise ValidationFailed(_("The framework is not valid JSON; nothing was saved."), errors=[FieldError(
            "document", _("line %(line)s, column %(col)s: %(error)s", line=exc.lineno, col=exc.colno,
                          error=exc.msg))]) from None
    except (ValueError, RecursionError) as exc:
        message = str(exc) if isinstance(exc, ValueError) else _("is nested too deeply")
        raise ValidationFailed(_("The framework is not valid JSON; nothing was saved."),
                               errors=[FieldError("document", message)]) from None
    if not isinstance(doc, dict):
        raise ValidationFailed(_("The framework must be a JSON object with an id, a title and components; "
                                 "nothing was saved."), errors=[FieldError("document", _("is not a JSON object"))])
    findings = check_document(doc)
    if session.get(Framework, doc["id"]) is not None:
        raise ValidationFailed(_("A framework with the id %(id)s exists already; nothing was saved.", id=doc["id"]),
                               errors=[FieldError("id", _("a new edition needs an id of its own"))])
    fw = service.add_framework(session, principal, doc)
    return fw, [f for f in findings if f.level != "error"]


def _framework_rows(session: Session) -> list[dict[str, Any]]:
    locale = i18n.get_locale()
    rows = []
    for fw in service.list_frameworks(session):
        doc = service.framework_document(fw)
        texts = framework_texts(doc, locale)
        findings = lint(doc)
        rows.append({"id": fw.id, "edition": fw.edition, "title": texts["title"], "origin": fw.origin,
                     "components": len(texts["components"]), "core": texts["core"], "sub": texts["sub"],
                     "errors": sum(1 for f in findings if f.level == "error"),
                     "warnings": sum(1 for f in findings if f.level != "error")})
    return rows


def _frameworks_page(request: Request, session: Session, principal: Principal, *,
                     errors: list[FieldError] | None = None, detail: str = "", document: str = "",
                     status: int = 200) -> Response:
    return render(request, "maturity_frameworks.html", {
        "rows": _framework_rows(session), "may_manage": can(principal, "maturity.framework.manage"),
        "errors": errors or [], "detail": detail, "document": document, "max_mb": MAX_FRAMEWORK_BYTES // 1_000_000,
    }, status_code=status)


@router.get("/maturity/frameworks", response_class=HTMLResponse)
def frameworks(request: Request, session: Session = db_session, principal: Principal = current_principal) -> Response:
    return _frameworks_page(request, session, principal)


async def _upload(request: Request) -> tuple[bytes | None, str]:
    """The uploaded document: the file if one was chosen, else the pasted text (and that text, to
    show it again beside the errors). At most one byte over the limit is read from a file."""
    form = await request.form()
    file, pasted = form.get("file"), form.get("document")
    if isinstance(file, UploadFile) and file.filename:
        return await file.read(MAX_FRAMEWORK_BYTES + 1), ""
    if isinstance(pasted, str) and pasted.strip():
        return pasted.encode(), pasted if len(pasted) <= MAX_FRAMEWORK_BYTES else ""
    return None, ""


@router.post("/maturity/frameworks", response_class=HTMLResponse)
def framework_upload(request: Request, upload: tuple[bytes | None, str] = Depends(_upload),
                     session: Session = db_session, principal: Principal = current_principal) -> Response:
    data, pasted = upload
    try:
        fw, _warnings = upload_framework(session, principal, data)
        return RedirectResponse(f"/maturity/frameworks/{fw.id}?saved=1", status_code=303)
    except DomainError as exc:
        session.rollback()
        if exc.status in (401, 403):
            raise
        return _frameworks_page(request, session, principal, errors=exc.errors, detail=exc.detail, document=pasted,
                                status=exc.status)


RELATIONSHIPS = {
    "equivalent": _("equivalent"),
    "source-is-narrower-than-target": _("narrower: part of it"),
    "source-is-broader-than-target": _("broader: covers more"),
    "related-to": _("related"),
    "not-related-to": _("no counterpart"),
}


def _crosswalks(session: Session, framework_id: str) -> list[dict[str, Any]]:
    """The crosswalks from and to a framework, each with its maps in the source's order, the source
    indicators it does not carry over and the target indicators nothing maps to."""
    locale = i18n.get_locale()
    maps = list(session.execute(select(Crosswalk).where(or_(
        Crosswalk.from_framework == framework_id, Crosswalk.to_framework == framework_id)).order_by(
        Crosswalk.from_framework, Crosswalk.to_framework, Crosswalk.id)).scalars())
    if not maps:
        return []
    pairs: dict[tuple[str, str], list[Crosswalk]] = defaultdict(list)
    for m in maps:
        pairs[(m.from_framework, m.to_framework)].append(m)
    ids = {fid for pair in pairs for fid in pair}
    indicators: dict[str, list[Indicator]] = defaultdict(list)
    for ind in session.execute(select(Indicator).where(Indicator.framework_id.in_(ids)).order_by(
            Indicator.framework_id, Indicator.component_position, Indicator.position)).scalars():
        indicators[ind.framework_id].append(ind)

    def title(ind: Indicator | None) -> str:
        if ind is None:
            return ""
        return (ind.title_fr if locale == "fr" else "") or ind.title_en

    out = []
    for (src, dst), rows in pairs.items():
        src_inds = {i.code: i for i in indicators[src]}
        dst_inds = {i.code: i for i in indicators[dst]}
        order = {code: n for n, code in enumerate(src_inds)}
        rows.sort(key=lambda m: (order.get(m.from_code, len(order)), m.id))
        mapped = {m.from_code for m in rows if m.to_code}
        reached = {m.to_code for m in rows if m.to_code}
        out.append({
            "from": src, "to": dst, "direction": "from" if src == framework_id else "to",
            "maps": [{"from": m.from_code, "from_title": title(src_inds.get(m.from_code)), "to": m.to_code,
                      "to_title": title(dst_inds.get(m.to_code or "")),
                      "relationship_key": m.relationship,
                      "relationship": i18n._(RELATIONSHIPS[m.relationship]) if m.relationship in RELATIONSHIPS
                      else m.relationship} for m in rows],
            "unmapped": [(i.code, title(i), i.core) for i in indicators[src] if i.code not in mapped],
            "unreached": [(i.code, title(i), i.core) for i in indicators[dst] if i.code not in reached],
        })
    return out


@router.get("/maturity/frameworks/{framework_id}", response_class=HTMLResponse)
def framework(request: Request, framework_id: FrameworkPath, session: Session = db_session,
              principal: Principal = current_principal) -> Response:
    fw = service.get_framework(session, framework_id)
    doc = service.framework_document(fw)
    texts = framework_texts(doc, i18n.get_locale())
    return render(request, "maturity_framework.html", {
        "fw": fw, "texts": texts, "findings": lint(doc), "crosswalks": _crosswalks(session, fw.id),
    })
