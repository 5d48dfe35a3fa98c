"""API for maturity frameworks, assessments, answers, workflow, scores, aggregates and benchmarks."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Body, Form, Path, Query, Request, UploadFile
from fastapi.responses import PlainTextResponse, Response
from pydantic import Field, StringConstraints
from sqlalchemy.orm import Session

from dho.accounts.permissions import Principal
from dho.errors import PayloadTooLarge
from dho.i18n import _
from dho.maturity import scoring, service, transfer
from dho.maturity.lint import lint
from dho.maturity.schemas import (
    AnswerBody,
    AnswerOut,
    AssessmentIn,
    AssessmentOut,
    CommentIn,
    FrameworkOut,
    StrictJson,
    TransitionIn,
)
from dho.maturity.service import AnswerIn
from dho.validation import parse
from dho.web.deps import current_principal, db_session
from dho.web.params import Id, Offset

router = APIRouter(prefix="/maturity", tags=["maturity"])
JsonBody = Annotated[Any, Body()]
Rule = Annotated[str, Query(pattern="^(gdhm|nearest)$")]
Iso3 = Annotated[str | None, Query(pattern=r"^[A-Za-z]{3}$")]
Year = Annotated[int | None, Query(ge=2000, le=2100)]
CodePath = Annotated[str, Path(pattern=r"^[0-9]{1,3}[a-z]?$")]


def _schema(model: type) -> dict[str, Any]:
    return {"requestBody": {"content": {"application/json": {"schema": model.model_json_schema()}}}}


@router.get("/frameworks", response_model=list[FrameworkOut], summary="Maturity frameworks")
def frameworks(session: Session = db_session) -> Any:
    return service.list_frameworks(session)


@router.get("/frameworks/{framework_id}", summary="A framework's whole document")
def framework(framework_id: Annotated[str, Path(max_length=64)], session: Session = db_session) -> Any:
    return service.framework_document(service.get_framework(session, framework_id))


@router.get("/frameworks/{framework_id}/lint", summary="The linter's findings for a framework")
def framework_lint(framework_id: Annotated[str, Path(max_length=64)], session: Session = db_session) -> Any:
    doc = service.framework_document(service.get_framework(session, framework_id))
    return [{"level": f.level, "where": f.where, "message": f.message} for f in lint(doc)]


@router.post("/frameworks", response_model=FrameworkOut, status_code=201, summary="Add or replace a framework")
def framework_add(body: JsonBody, session: Session = db_session, principal: Principal = current_principal) -> Any:
    return service.add_framework(session, principal, body)


@router.get("/assessments", summary="Assessments you may see (published ones for everyone)")
def assessments(country: Iso3 = None, year: Year = None,
                status: Annotated[str | None, Query(max_length=16)] = None,
                limit: Annotated[int, Query(ge=1, le=500)] = 100, offset: Offset = 0,
                session: Session = db_session, principal: Principal = current_principal) -> dict[str, Any]:
    rows, total = service.list_assessments(session, principal, country=country, year=year, status=status,
                                           limit=limit, offset=offset)
    return {"total": total, "limit": limit, "offset": offset,
            "items": [AssessmentOut.model_validate(a).model_dump(mode="json") for a in rows]}


@router.post("/assessments", response_model=AssessmentOut, status_code=201, summary="Start an assessment",
             openapi_extra=_schema(AssessmentIn))
def assessment_create(body: JsonBody, session: Session = db_session,
                      principal: Principal = current_principal) -> Any:
    data = parse(AssessmentIn, body)
    return service.create_assessment(session, principal, data.country_iso3, data.year, data.framework_id,
                                     data.subdivision)


@router.get("/assessments/{assessment_id}", summary="An assessment with its answers")
def assessment(assessment_id: Id, session: Session = db_session,
               principal: Principal = current_principal) -> dict[str, Any]:
    a = service.read_assessment(session, principal, assessment_id)
    body = AssessmentOut.model_validate(a).model_dump(mode="json")
    if service.can(principal, "unpublished.read", service._target(session, a.country_iso3)):
        body["answers"] = [AnswerOut.model_validate(x).model_dump() for x in service.answers(session, principal, a.id)]
    else:
        pv = service.published_versions(session, a.id)
        snap = json.loads(pv[-1].snapshot)["answers"] if pv else {}
        body["answers"] = [{"indicator_code": code, **v} for code, v in snap.items()]
    body["published_versions"] = [{"number": v.number, "published_at": v.published_at.isoformat(),
                                   "published_by": v.published_by}
                                  for v in service.published_versions(session, a.id)]
    return body


@router.put("/assessments/{assessment_id}/answers/{code}", response_model=AnswerOut,
            summary="Set the country's answer (focal point)", openapi_extra=_schema(AnswerBody))
def answer_put(assessment_id: Id, code: CodePath, body: JsonBody, session: Session = db_session,
               principal: Principal = current_principal) -> Any:
    return _save(service.save_answer, session, principal, assessment_id, code, body)


def _save(save: Any, session: Session, principal: Principal, assessment_id: int, code: str, body: Any) -> Any:
    data = parse(AnswerBody, body)
    return save(session, principal, assessment_id, AnswerIn(code, data.phase, data.rationale, data.confidence),
                data.version)


@router.put("/assessments/{assessment_id}/responses/{code}", response_model=AnswerOut,
            summary="Set your own answer as a respondent", openapi_extra=_schema(AnswerBody))
def response_put(assessment_id: Id, code: CodePath, body: JsonBody, session: Session = db_session,
                 principal: Principal = current_principal) -> Any:
    return _save(service.save_response, session, principal, assessment_id, code, body)


@router.get("/assessments/{assessment_id}/disagreements", summary="Indicators where respondents differ")
def disagreements(assessment_id: Id, session: Session = db_session,
                  principal: Principal = current_principal) -> list[dict[str, Any]]:
    return [{"indicator_code": d.code, "phases": d.phases}
            for d in service.disagreements(session, principal, assessment_id)]


@router.post("/assessments/{assessment_id}/consolidate", summary="Copy agreed respondent answers")
def consolidate(assessment_id: Id, session: Session = db_session,
                principal: Principal = current_principal) -> dict[str, list[str]]:
    return service.consolidate(session, principal, assessment_id)


@router.post("/assessments/{assessment_id}/transitions", response_model=AssessmentOut,
             summary="Move the assessment through its workflow", openapi_extra=_schema(TransitionIn))
def transition(assessment_id: Id, body: JsonBody, session: Session = db_session,
               principal: Principal = current_principal) -> Any:
    data = parse(TransitionIn, body)
    return service.transition(session, principal, assessment_id, data.action, data.comment)


@router.post("/assessments/{assessment_id}/comments", status_code=201, summary="A reviewer's comment",
             openapi_extra=_schema(CommentIn))
def comment(assessment_id: Id, body: JsonBody, session: Session = db_session,
            principal: Principal = current_principal) -> dict[str, Any]:
    data = parse(CommentIn, body)
    c = service.comment(session, principal, assessment_id, data.body, data.indicator_code)
    return {"id": c.id, "indicator_code": c.indicator_code, "body": c.body}


@router.get("/assessments/{assessment_id}/score", summary="Scores and phases of one assessment")
def assessment_score(assessment_id: Id, rule: Rule = "nearest", session: Session = db_session,
                     principal: Principal = current_principal) -> dict[str, Any]:
    s = service.score(session, principal, assessment_id, rule)
    return _score_body(s)


def _score_body(s: scoring.AssessmentScore) -> dict[str, Any]:
    body: dict[str, Any] = s.as_dict()
    body["rule"] = s.rule
    body["completeness"] = {"core_answered": s.overall.answered, "core_total": s.overall.total,
                            "sub_answered": s.sub_answered, "sub_total": s.sub_total}
    body["indicators"] = s.indicators
    return body


@router.get("/scores", summary="Published scores keyed ISO3:YEAR (as `dho maturity score --json`)")
def scores(country: Iso3 = None, year: Year = None, rule: Rule = "nearest",
           framework: Annotated[str, Query(max_length=64)] = "gdhm-current",
           session: Session = db_session) -> dict[str, Any]:
    return {k: v.as_dict() for k, v in service.published_scores(
        session, country=country, year=year, framework_id=framework, rule=rule).items()}


@router.get("/aggregates", summary="Regional, income-group or world figures from published assessments")
def aggregates(group: Annotated[str, Query(pattern="^(region|income|world)$")] = "region", year: Year = None,
               rule: Rule = "nearest", method: Annotated[str, Query(pattern="^(mean_of_countries|pooled)$")] =
               "mean_of_countries", session: Session = db_session) -> list[dict[str, Any]]:
    return [g.as_dict() for g in service.aggregates(session, group=group, year=year, rule=rule, method=method)]


@router.get("/countries/{iso3}/benchmarks", summary="A country against the world, its region, income group "
                                                    "and peers in the same phase, with its trend")
def country_benchmarks(iso3: Annotated[str, Path(pattern=r"^[A-Za-z]{3}$")], rule: Rule = "nearest",
                       session: Session = db_session) -> dict[str, Any]:
    b = service.benchmarks(session, iso3.upper(), rule=rule)
    out: dict[str, Any] = {"country": b["country"], "rule": rule}
    if b.get("latest") is not None:
        out["year"] = b["year"]
        out["latest"] = _score_body(b["latest"])
        for key in ("world", "region", "income", "same_phase"):
            out[key] = b[key].as_dict() if b[key] is not None else None
    else:
        out["latest"] = None
    out["trend"] = [{"year": t["year"], "framework": t["framework"], "unmapped": t["unmapped"],
                     **t["score"].as_dict()} for t in b["trend"]]
    return out


@router.post("/import", summary="Import assessments (GDHM CSV or XLSX, or JSON body); any error imports nothing")
async def import_(request: Request,
                  format: Annotated[str, Query(pattern="^(gdhm-csv|xlsx|json)$")] = "gdhm-csv",
                  published: bool = False, principal: Principal = current_principal) -> dict[str, int]:
    from dho.accounts.permissions import require_somewhere

    # Who may import at all is known before the body is read: a stranger's file is never parsed.
    require_somewhere(principal, "maturity.import_published" if published else "country_data.edit")
    data = await request.body()
    if len(data) > transfer.MAX_BYTES:
        raise PayloadTooLarge(_("The file is larger than %(n)s MB.", n=transfer.MAX_BYTES // 1_000_000))
    db = request.app.state.db

    def work() -> dict[str, int]:
        with db.session() as session:
            return transfer.import_file(session, principal, data, format, published)

    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(work)


@router.get("/export", summary="Export assessments in the GDHM layout (CSV or XLSX) or as JSON")
def export(format: Annotated[str, Query(pattern="^(gdhm-csv|xlsx|json)$")] = "gdhm-csv", country: Iso3 = None,
           year: Year = None, session: Session = db_session, principal: Principal = current_principal) -> Response:
    if format == "json":
        return Response(json.dumps(transfer.export_json(session, principal, country=country, year=year),
                                   ensure_ascii=False), media_type="application/json")
    if format == "xlsx":
        from dho.maturity import xlsx

        return Response(transfer.export_xlsx(session, principal, country=country, year=year),
                        media_type=xlsx.MEDIA_TYPE,
                        headers={"Content-Disposition": 'attachment; filename="gdhm.xlsx"'})
    return PlainTextResponse(transfer.export_gdhm_csv(session, principal, country=country, year=year),
                             media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": 'attachment; filename="gdhm.csv"'})


@router.get("/countries/{iso3}/priorities", summary="The country's gaps, highest priority first (JSON or CSV)")
def priorities(iso3: Annotated[str, Path(pattern=r"^[A-Za-z]{3}$")],
               format: Annotated[str, Query(pattern="^(json|csv)$")] = "json",
               session: Session = db_session) -> Any:
    from dho.maturity import gaps

    result = gaps.priorities(session, iso3.upper())
    if format == "csv":
        name = f"priorities-{iso3.upper()}.csv"
        return PlainTextResponse(gaps.priorities_csv(result), media_type="text/csv; charset=utf-8",
                                 headers={"Content-Disposition": f'attachment; filename="{name}"'})
    return {"country": result["country"], "year": result["year"], "gaps": [g.as_dict() for g in result["gaps"]]}


class TargetIn(StrictJson):
    year: int = Field(ge=2000, le=2100)
    phase: int = Field(ge=1, le=5)


class WeightIn(StrictJson):
    weight: Annotated[str, StringConstraints(pattern=r"^\d{1,2}(\.\d{1,2})?$")]


@router.put("/countries/{iso3}/targets/{code}", summary="Set a target phase for an indicator and year",
            openapi_extra=_schema(TargetIn))
def target_put(iso3: Annotated[str, Path(pattern=r"^[A-Za-z]{3}$")], code: CodePath, body: JsonBody,
               session: Session = db_session, principal: Principal = current_principal) -> dict[str, Any]:
    from dho.maturity import gaps

    data = parse(TargetIn, body)
    t = gaps.set_target(session, principal, iso3.upper(), code, data.year, data.phase)
    return {"country": t.country_iso3, "indicator": t.indicator_code, "year": t.year, "phase": t.phase}


@router.put("/countries/{iso3}/weights/{component}", summary="Set how much a component weighs in priorities",
            openapi_extra=_schema(WeightIn))
def weight_put(iso3: Annotated[str, Path(pattern=r"^[A-Za-z]{3}$")],
               component: Annotated[str, Path(pattern=r"^[0-9]{1,2}$")], body: JsonBody,
               session: Session = db_session, principal: Principal = current_principal) -> dict[str, Any]:
    from dho.maturity import gaps

    data = parse(WeightIn, body)
    w = gaps.set_weight(session, principal, iso3.upper(), component, data.weight)
    return {"country": w.country_iso3, "component": w.component_id, "weight": w.weight}


# ---------------------------------------------------------------- evidence

Sha256Path = Annotated[str, Path(pattern=r"^[0-9a-f]{64}$")]


@router.get("/assessments/{assessment_id}/evidence", summary="Evidence of the working answers (country's team)")
def evidence_list(assessment_id: Id, session: Session = db_session,
                  principal: Principal = current_principal) -> list[dict[str, Any]]:
    from dho.maturity import evidence

    return [evidence.as_dict(e) for e in evidence.for_assessment(session, principal, assessment_id)]


@router.post("/assessments/{assessment_id}/evidence", status_code=201,
             summary="Add evidence to an answer: a document (multipart file), a link or a legal reference")
async def evidence_add(assessment_id: Id, code: Annotated[str, Form(pattern=r"^[0-9]{1,3}[a-z]?$")],
                       kind: Annotated[str, Form(pattern="^(document|link|legal)$")],
                       title: Annotated[str, Form(max_length=300)] = "",
                       url: Annotated[str, Form(max_length=2000)] = "",
                       citation: Annotated[str, Form(max_length=2000)] = "",
                       own: Annotated[bool, Form(description="on your own respondent answer")] = False,
                       file: UploadFile | None = None, session: Session = db_session,
                       principal: Principal = current_principal) -> dict[str, Any]:
    from starlette.concurrency import run_in_threadpool

    from dho.config import get_settings
    from dho.maturity import evidence

    checked = None
    if file is not None and (file.filename or file.size):
        data = await file.read(get_settings().max_upload_bytes + 1)
        checked = evidence.upload(file.filename or "", file.content_type or "", data)

    def work() -> dict[str, Any]:
        item = evidence.add(session, principal, assessment_id, code,
                            evidence.EvidenceIn(kind, title, url, citation), checked, own=own)
        return evidence.as_dict(item)

    return await run_in_threadpool(work)


@router.delete("/evidence/{evidence_id}", status_code=204, summary="Remove an evidence item (editable assessments)")
def evidence_delete(evidence_id: Id, session: Session = db_session,
                    principal: Principal = current_principal) -> Response:
    from dho.maturity import evidence

    evidence.remove(session, principal, evidence_id)
    return Response(status_code=204)


@router.get("/assessments/{assessment_id}/files/{sha256}", summary="An evidence document's bytes",
            response_class=Response)
def evidence_file(assessment_id: Id, sha256: Sha256Path, session: Session = db_session,
                  principal: Principal = current_principal) -> Response:
    from dho.maturity import evidence
    from dho.web.deps import content_disposition

    blob, name = evidence.file_for(session, principal, assessment_id, sha256)
    return Response(blob.content, media_type=blob.media_type, headers={
        "Content-Disposition": content_disposition(name), "Content-Security-Policy": "default-src 'none'; sandbox",
        "ETag": f'"{blob.sha256}"'})


@router.post("/assessments/{assessment_id}/check-links", summary="Check the evidence links now and record results")
def evidence_check_links(assessment_id: Id, session: Session = db_session,
                         principal: Principal = current_principal) -> list[dict[str, Any]]:
    from dho.maturity import evidence

    return [evidence.as_dict(e) for e in evidence.check_links(session, principal, assessment_id)]
