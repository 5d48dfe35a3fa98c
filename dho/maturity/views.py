"""Maturity pages: overview, country profile, assessment page with questionnaire and workflow."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from dho import i18n
from dho.accounts.permissions import Principal, can
from dho.errors import DomainError, FieldError, ValidationFailed
from dho.maturity import charts, evidence, service
from dho.maturity.service import AnswerIn
from dho.reference import service as reference
from dho.reference import subdivisions
from dho.reference.loader import fold
from dho.web.deps import content_disposition, current_principal, db_session, form_data, upload_form
from dho.web.params import Id
from dho.web.templating import render

router = APIRouter(include_in_schema=False)
RuleQ = Annotated[str, Query(pattern="^(gdhm|nearest)$")]


def _doc_texts(session: Session, framework_id: str) -> dict[str, Any]:
    """Component and indicator texts in the user's language, from the framework document."""
    locale = i18n.get_locale()
    doc = service.framework_document(service.get_framework(session, framework_id))

    def t(d: dict[str, str] | None) -> str:
        return (d or {}).get(locale) or (d or {}).get("en", "")

    comps = []
    for c in doc["components"]:
        comps.append({"id": str(c["id"]), "title": t(c["title"]), "indicators": [
            {"code": str(i["code"]), "core": i["core"], "parent": i.get("parent"), "title": t(i["title"]),
             "question": t(i.get("question")), "official": i.get("label_official", ""),
             "descriptors": {int(p): t(d) for p, d in i["descriptors"].items()}}
            for i in c["indicators"]]})
    return {"title": t(doc["title"]), "components": comps,
            "phase_names": {int(p): t(n) for p, n in (doc.get("phase_names") or {}).items()}}


@router.get("/maturity", response_class=HTMLResponse)
def overview(request: Request, rule: RuleQ = "nearest", session: Session = db_session,
             principal: Principal = current_principal) -> Response:
    locale = i18n.get_locale()
    rows = []
    latest = service.latest_published(session)
    countries = reference.countries_by_code(session, latest)
    for iso3, pub in latest.items():
        c = countries[iso3]
        rows.append({"iso3": iso3, "name": reference.country_name(c, locale), "region": c.who_region,
                     "year": pub.year, "score": pub.score(rule)})
    rows.sort(key=lambda r: fold(r["name"]))
    regions = {r.code: reference.localized(r, "name", locale) for r in reference.regions(session)}
    return render(request, "maturity_overview.html", {
        "rows": rows, "rule": rule, "regions": regions,
        "by_region": service.aggregates(session, group="region", rule=rule),
        "world": service.aggregates(session, group="world", rule=rule),
        "by_income": service.aggregates(session, group="income", rule=rule),
        "income_names": {g.code: reference.localized(g, "name", locale) for g in reference.income_group_names(session)},
        "texts": _doc_texts(session, service.DEFAULT_FRAMEWORK),
    })


@router.get("/maturity/countries/{iso3}", response_class=HTMLResponse)
def country_profile(request: Request, iso3: str, rule: RuleQ = "nearest", session: Session = db_session,
                    principal: Principal = current_principal) -> Response:
    locale = i18n.get_locale()
    country = reference.get_country(session, iso3)
    texts = _doc_texts(session, service.DEFAULT_FRAMEWORK)
    bench = service.benchmarks(session, country.iso3, rule=rule)
    assessments, _total = service.list_assessments(session, principal, country=country.iso3)
    radar = None
    if bench.get("latest") is not None:
        axes = [c["title"] for c in texts["components"]]

        def values(fig: Any) -> list[float | None]:
            if fig is None:
                return [None] * len(axes)
            comps = fig.components
            return [None if comps[c["id"]].score is None else float(comps[c["id"]].score)
                    for c in texts["components"]]

        own = bench["latest"]
        series = [(i18n._("World"), "world", values(bench["world"])),
                  (i18n._("Region"), "region", values(bench["region"])),
                  (reference.country_name(country, locale), "country",
                   [None if own.components[c["id"]].score is None else float(own.components[c["id"]].score)
                    for c in texts["components"]])]
        radar = charts.radar(axes, series, title=i18n._("Component scores, %(country)s %(year)s",
                                                         country=reference.country_name(country, locale),
                                                         year=bench["year"]))
    from dho.maturity import gaps

    prio = gaps.priorities(session, country.iso3)
    subnational = service.subnational_latest(session, country.iso3)
    return render(request, "maturity_country.html", {
        "priorities": prio["gaps"][:10], "priorities_total": len(prio["gaps"]),
        "country": country, "name": reference.country_name(country, locale), "rule": rule, "b": bench,
        "subnational": [(code, subdivisions.name(code) or "", pub, pub.score(rule))
                        for code, pub in subnational.items()],
        "subdivision_options": subdivisions.of_country(country.iso2),
        "texts": texts, "radar": radar, "assessments": assessments,
        "may_create": can(principal, "country_data.edit", service._target(session, country.iso3)),
    })


@router.post("/maturity/countries/{iso3}/assessments")
def assessment_create(iso3: str, form: dict = form_data, session: Session = db_session,
                      principal: Principal = current_principal) -> Response:
    year = form.get("year", "")
    a = service.create_assessment(session, principal, iso3.upper()[:3], int(year) if year.isdigit() else 0,
                                  subdivision=form.get("subdivision", "")[:16])
    return RedirectResponse(f"/maturity/assessments/{a.id}", status_code=303)


def _assessment_context(session: Session, principal: Principal, a: Any, rule: str, mode: str = "") -> dict[str, Any]:
    """What the assessment page shows. ``mode`` "mine" is a respondent's own questionnaire; "country"
    the country's consolidated answer (focal point); the default picks what the user may do."""
    from sqlalchemy import select

    from dho.accounts.models import User
    from dho.maturity.models import Evidence, Response, ReviewComment

    target = service._target(session, a.country_iso3)
    readable_unpublished = can(principal, "unpublished.read", target)
    editable = a.status in ("draft", "returned")
    may_edit_country = editable and can(principal, "country_data.edit", target)
    may_respond = editable and principal.user_id is not None and can(principal, "maturity.respond", target)
    mode = "mine" if may_respond and (mode == "mine" or not may_edit_country) else "country"
    evidence: dict[str, list[Any]] = {}
    responses: dict[str, list[dict[str, Any]]] = {}
    if readable_unpublished:
        items = list(session.execute(select(Evidence).where(Evidence.assessment_id == a.id)
                                     .order_by(Evidence.id)).scalars())
        if mode == "mine":
            answers = {r.indicator_code: r for r in session.execute(select(Response).where(
                Response.assessment_id == a.id, Response.respondent_id == principal.user_id)).scalars()}
            evidence = _group([e for e in items if e.respondent_id == principal.user_id])
        else:
            answers = {x.indicator_code: x for x in service.answers(session, principal, a.id)}
            evidence = _group([e for e in items if e.respondent_id is None])
            theirs = _group([e for e in items if e.respondent_id is not None])
            for r, email in session.execute(select(Response, User.email).join(User, User.id == Response.respondent_id)
                                            .where(Response.assessment_id == a.id).order_by(User.email)).all():
                responses.setdefault(r.indicator_code, []).append({
                    "who": email, "phase": r.phase, "rationale": r.rationale, "confidence": r.confidence,
                    "evidence": [e for e in theirs.get(r.indicator_code, []) if e.respondent_id == r.respondent_id]})
    else:
        versions = service.published_versions(session, a.id)
        snap = json.loads(versions[-1].snapshot) if versions else {}
        answers = {code: SimpleNamespace(version=0, **v) for code, v in snap.get("answers", {}).items()}
        evidence = {code: [SimpleNamespace(id=None, **i) for i in items]
                    for code, items in snap.get("evidence", {}).items()}
    comments = list(session.execute(select(ReviewComment).where(ReviewComment.assessment_id == a.id)
                                    .order_by(ReviewComment.id)).scalars()) if readable_unpublished else []
    actions = [act for act, (sources, _to, perm) in service.TRANSITIONS.items()
               if a.status in sources and can(principal, perm, target)]
    return {
        "a": a, "answers": answers, "rule": rule, "score": service.score(session, principal, a.id, rule),
        "texts": _doc_texts(session, a.framework_id), "comments": comments, "mode": mode,
        "evidence": evidence, "responses": responses,
        "disagreements": service.disagreements(session, principal, a.id) if readable_unpublished else [],
        "may_answer": may_edit_country if mode == "country" else may_respond,
        "may_switch": may_edit_country and may_respond,
        "may_check_links": can(principal, "country_data.edit", target),
        "may_review": a.status == "in_review" and can(principal, "review", target),
        "actions": actions, "versions": service.published_versions(session, a.id),
        "country_name": reference.country_name(reference.get_country(session, a.country_iso3), i18n.get_locale()),
    }


def _group(items: list[Any]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for e in items:
        out.setdefault(e.indicator_code, []).append(e)
    return out


ModeQ = Annotated[str, Query(pattern="^(mine|country)$")]


@router.get("/maturity/assessments/{assessment_id}", response_class=HTMLResponse)
def assessment(request: Request, assessment_id: Id, rule: RuleQ = "nearest", mode: ModeQ = "",
               session: Session = db_session, principal: Principal = current_principal) -> Response:
    a = service.read_assessment(session, principal, assessment_id)
    return render(request, "maturity_assessment.html", {**_assessment_context(session, principal, a, rule, mode),
                                                        "errors": {}})


def _back(assessment_id: int, mode: str, code: str, saved: str = "1") -> RedirectResponse:
    mine = "&mode=mine" if mode == "mine" else ""
    return RedirectResponse(f"/maturity/assessments/{assessment_id}?saved={saved}{mine}#i-{code}", status_code=303)


def _form_error(request: Request, session: Session, principal: Principal, assessment_id: int, mode: str,
                code: str, exc: DomainError) -> Response:
    """Show the page again with the error next to the indicator (nothing was saved)."""
    session.rollback()
    if exc.status in (401, 403, 404, 413):
        raise exc
    a = service.read_assessment(session, principal, assessment_id)
    ctx = _assessment_context(session, principal, a, "nearest", mode)
    detail = exc.detail + (" " + "; ".join(f"{e.field}: {e.message}" for e in exc.errors) if exc.errors else "")
    return render(request, "maturity_assessment.html", {**ctx, "errors": {code: detail}}, status_code=exc.status)


@router.post("/maturity/assessments/{assessment_id}/answers/{code}", response_class=HTMLResponse)
def answer_save(request: Request, assessment_id: Id, code: str, form: dict = form_data,
                session: Session = db_session, principal: Principal = current_principal) -> Response:
    code = code[:16]
    mode = "mine" if form.get("mode") == "mine" else "country"
    raw = form.get("phase", "")
    phase = None if raw == "na" else (int(raw) if raw in {"1", "2", "3", "4", "5"} else -1)
    version = form.get("version", "")
    try:
        if phase == -1:
            raise ValidationFailed(i18n._("Choose a phase or not available."),
                                   errors=[FieldError("phase", i18n._("is required"))])
        data = AnswerIn(code, phase, form.get("rationale", ""), form.get("confidence", "medium"))
        expected = int(version) if version.isdigit() and version != "0" else None
        save = service.save_response if mode == "mine" else service.save_answer
        save(session, principal, assessment_id, data, expected)
        return _back(assessment_id, mode, code, code)
    except DomainError as exc:
        return _form_error(request, session, principal, assessment_id, mode, code, exc)


@router.post("/maturity/assessments/{assessment_id}/evidence", response_class=HTMLResponse)
def evidence_add(request: Request, assessment_id: Id, upload: tuple = upload_form, session: Session = db_session,
                 principal: Principal = current_principal) -> Response:
    form, file = upload
    code = form.get("code", "")[:16]
    mode = "mine" if form.get("mode") == "mine" else "country"
    try:
        checked = evidence.upload(file.filename, file.content_type, file.data) if file is not None else None
        evidence.add(session, principal, assessment_id, code,
                     evidence.EvidenceIn(form.get("kind", ""), form.get("title", ""), form.get("url", ""),
                                         form.get("citation", "")), checked, own=mode == "mine")
        return _back(assessment_id, mode, code, code)
    except DomainError as exc:
        return _form_error(request, session, principal, assessment_id, mode, code, exc)


@router.post("/maturity/evidence/{evidence_id}/delete")
def evidence_delete(evidence_id: Id, form: dict = form_data, session: Session = db_session,
                    principal: Principal = current_principal) -> Response:
    from dho.maturity.models import Evidence

    item = session.get(Evidence, evidence_id)
    where = (item.assessment_id, item.indicator_code, item.respondent_id) if item else None
    evidence.remove(session, principal, evidence_id)
    assert where is not None  # remove() raised NotFound otherwise
    return _back(where[0], "mine" if where[2] is not None else "country", where[1])


@router.get("/maturity/assessments/{assessment_id}/files/{sha256}")
def evidence_file(assessment_id: Id, sha256: str, session: Session = db_session,
                  principal: Principal = current_principal) -> Response:
    blob, name = evidence.file_for(session, principal, assessment_id, sha256[:64])
    return Response(blob.content, media_type=blob.media_type, headers={
        "Content-Disposition": content_disposition(name),
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Cache-Control": "private, max-age=3600", "ETag": f'"{blob.sha256}"'})


@router.post("/maturity/assessments/{assessment_id}/check-links")
def check_links(assessment_id: Id, session: Session = db_session, principal: Principal = current_principal
                ) -> Response:
    evidence.check_links(session, principal, assessment_id)
    return RedirectResponse(f"/maturity/assessments/{assessment_id}?saved=links#evidence", status_code=303)


@router.post("/maturity/assessments/{assessment_id}/transitions")
def transition(assessment_id: Id, form: dict = form_data, session: Session = db_session,
               principal: Principal = current_principal) -> Response:
    service.transition(session, principal, assessment_id, form.get("action", "")[:20], form.get("comment") or None)
    return RedirectResponse(f"/maturity/assessments/{assessment_id}?saved=1", status_code=303)


@router.post("/maturity/assessments/{assessment_id}/comments")
def comment(assessment_id: Id, form: dict = form_data, session: Session = db_session,
            principal: Principal = current_principal) -> Response:
    service.comment(session, principal, assessment_id, form.get("body", ""), form.get("indicator_code") or None)
    return RedirectResponse(f"/maturity/assessments/{assessment_id}#comments", status_code=303)


@router.post("/maturity/assessments/{assessment_id}/consolidate")
def consolidate(assessment_id: Id, session: Session = db_session, principal: Principal = current_principal
                ) -> Response:
    service.consolidate(session, principal, assessment_id)
    return RedirectResponse(f"/maturity/assessments/{assessment_id}?saved=1", status_code=303)
