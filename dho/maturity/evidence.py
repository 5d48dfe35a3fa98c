"""Evidence behind an answer: uploaded documents (checked, stored once by SHA-256), links (with the
result of their last check) and legal references.

Evidence belongs to one answer: a respondent's own (``respondent_id`` set) or the country's
consolidated one. It changes only while the assessment is editable, by whoever may change that
answer; a published version freezes the list of the country's evidence with its checksums."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dho import linkcheck
from dho.accounts.permissions import Principal, authorize, can
from dho.config import get_settings
from dho.errors import FieldError, Forbidden, NotFound, ValidationFailed
from dho.i18n import _
from dho.maturity import service
from dho.maturity.models import EVIDENCE_KINDS, Assessment, Evidence, EvidenceFile, PublishedVersion
from dho.uploads import CheckedFile, check_upload

MAX_ITEMS_PER_ANSWER = 30
MAX_TITLE = 300
MAX_CITATION = 2000
MAX_URL = 2000


@dataclass
class EvidenceIn:
    kind: str
    title: str = ""
    url: str = ""
    citation: str = ""


def _validate(data: EvidenceIn, file: CheckedFile | None) -> EvidenceIn:
    errors = []
    if data.kind not in EVIDENCE_KINDS:
        raise ValidationFailed(_("The evidence is not valid; nothing was saved."),
                               errors=[FieldError("kind", _("must be one of: %(choices)s",
                                                            choices=", ".join(EVIDENCE_KINDS)))])
    url = (data.url or "").strip()
    citation = (data.citation or "").strip()
    title = (data.title or "").strip() or (file.filename if file else "")
    if data.kind == "legal" and not title:
        title = (data.citation or "").strip()[:MAX_TITLE]
    if data.kind == "link" and not title:
        title = (data.url or "").strip()[:MAX_TITLE]
    if not title and data.kind != "link":
        errors.append(FieldError("title", _("is required")))
    elif len(title) > MAX_TITLE:
        errors.append(FieldError("title", _("is too long (at most %(n)s characters)", n=MAX_TITLE)))
    if data.kind == "link" and not url:
        errors.append(FieldError("url", _("is required")))
    if data.kind == "document" and file is None:
        errors.append(FieldError("file", _("is required")))
    if data.kind != "document" and file is not None:
        errors.append(FieldError("file", _("only a document evidence item takes a file")))
    if data.kind == "legal" and not citation:
        errors.append(FieldError("citation", _("is required")))
    if len(citation) > MAX_CITATION:
        errors.append(FieldError("citation", _("is too long (at most %(n)s characters)", n=MAX_CITATION)))
    if errors:
        raise ValidationFailed(_("The evidence is not valid; nothing was saved."), errors=errors)
    if data.kind == "link" or url:
        url = linkcheck.validate_url(url)
    return EvidenceIn(data.kind, title, url, citation)


def _authorize_answer(session: Session, principal: Principal, a: Assessment, respondent_id: int | None) -> None:
    target = service._target(session, a.country_iso3)
    if respondent_id is None:
        authorize(session, principal, "country_data.edit", target)
    else:
        authorize(session, principal, "maturity.respond", target)
        if principal.user_id != respondent_id:
            raise Forbidden(_("Only the respondent changes the evidence of their own answer."))


def add(session: Session, principal: Principal, assessment_id: int, code: str, data: EvidenceIn,
        file: CheckedFile | None = None, *, own: bool = False) -> Evidence:
    """Add an evidence item to the country's answer, or with ``own`` to the principal's own answer."""
    a = service.get_assessment(session, assessment_id)
    respondent_id = principal.user_id if own else None
    if own and respondent_id is None:
        raise Forbidden(_("Only a signed-in respondent can answer."))
    _authorize_answer(session, principal, a, respondent_id)
    service._editable(a)
    if code not in service.indicator_codes(session, a.framework_id):
        raise ValidationFailed(_("Unknown indicator."), errors=[FieldError("code", code[:16])])
    clean = _validate(data, file)
    count = session.scalar(select(func.count()).select_from(Evidence).where(
        Evidence.assessment_id == a.id, Evidence.indicator_code == code,
        Evidence.respondent_id.is_(None) if respondent_id is None else Evidence.respondent_id == respondent_id))
    if (count or 0) >= MAX_ITEMS_PER_ANSWER:
        raise ValidationFailed(_("An answer holds at most %(n)s evidence items.", n=MAX_ITEMS_PER_ANSWER),
                               errors=[FieldError("evidence", _("too many items"))])
    item = Evidence(assessment_id=a.id, indicator_code=code, respondent_id=respondent_id, kind=clean.kind,
                    title=clean.title, url=clean.url or None, citation=clean.citation or None,
                    created_by=principal.user_id)
    if file is not None:
        if session.get(EvidenceFile, file.sha256) is None:
            session.add(EvidenceFile(sha256=file.sha256, size=file.size, media_type=file.media_type,
                                     content=file.content))
            session.flush()  # the file row first: the item refers to it
        item.file_sha256, item.filename, item.media_type, item.size = (file.sha256, file.filename, file.media_type,
                                                                       file.size)
    session.add(item)
    session.flush()
    return item


def upload(filename: str, declared_type: str, data: bytes) -> CheckedFile:
    return check_upload(filename, declared_type, data, max_bytes=get_settings().max_upload_bytes)


def remove(session: Session, principal: Principal, evidence_id: int) -> None:
    item = session.get(Evidence, evidence_id)
    if item is None:
        raise NotFound(_("No evidence item %(id)s.", id=evidence_id))
    a = service.get_assessment(session, item.assessment_id)
    if not can(principal, "unpublished.read", service._target(session, a.country_iso3)):
        raise NotFound(_("No evidence item %(id)s.", id=evidence_id))
    _authorize_answer(session, principal, a, item.respondent_id)
    service._editable(a)
    session.delete(item)
    session.flush()


def for_assessment(session: Session, principal: Principal, assessment_id: int) -> list[Evidence]:
    """Every evidence item of the working answers (the country's and the respondents')."""
    a = service.read_working(session, principal, assessment_id)
    return list(session.execute(select(Evidence).where(Evidence.assessment_id == a.id)
                                .order_by(Evidence.indicator_code, Evidence.id)).scalars())


def as_dict(item: Evidence) -> dict[str, Any]:
    return {"id": item.id, "indicator_code": item.indicator_code, "kind": item.kind, "title": item.title,
            "url": item.url, "citation": item.citation, "sha256": item.file_sha256, "filename": item.filename,
            "media_type": item.media_type, "size": item.size, "respondent_id": item.respondent_id,
            "link_status": item.link_status, "link_ok": item.link_ok,
            "link_checked_at": item.link_checked_at.isoformat() if item.link_checked_at else None}


def snapshot(session: Session, assessment_id: int) -> dict[str, list[dict[str, Any]]]:
    """The country's evidence per indicator, as frozen into a published version."""
    out: dict[str, list[dict[str, Any]]] = {}
    for item in session.execute(select(Evidence).where(Evidence.assessment_id == assessment_id,
                                                       Evidence.respondent_id.is_(None))
                                .order_by(Evidence.id)).scalars():
        d = as_dict(item)
        del d["id"], d["respondent_id"], d["indicator_code"]
        out.setdefault(item.indicator_code, []).append(d)
    return out


def copy_to_country(session: Session, assessment_id: int, code: str, respondent_ids: list[int]) -> int:
    """On consolidation, the agreeing respondents' evidence joins the country's answer (once each)."""
    have = {(e.kind, e.file_sha256, e.url, e.citation) for e in session.execute(select(Evidence).where(
        Evidence.assessment_id == assessment_id, Evidence.indicator_code == code,
        Evidence.respondent_id.is_(None))).scalars()}
    n = 0
    for e in session.execute(select(Evidence).where(
            Evidence.assessment_id == assessment_id, Evidence.indicator_code == code,
            Evidence.respondent_id.in_(respondent_ids)).order_by(Evidence.id)).scalars().all():
        key = (e.kind, e.file_sha256, e.url, e.citation)
        if key in have:
            continue
        have.add(key)
        session.add(Evidence(assessment_id=assessment_id, indicator_code=code, respondent_id=None, kind=e.kind,
                             title=e.title, url=e.url, citation=e.citation, file_sha256=e.file_sha256,
                             filename=e.filename, media_type=e.media_type, size=e.size,
                             link_checked_at=e.link_checked_at, link_status=e.link_status, link_ok=e.link_ok,
                             created_by=e.created_by))
        n += 1
    return n


def file_for(session: Session, principal: Principal, assessment_id: int, sha256: str
             ) -> tuple[EvidenceFile, str]:
    """An evidence document's bytes and name, for whoever may see it: the country's team and
    reviewers for working evidence; everyone for a document in a published version."""
    a = service.read_assessment(session, principal, assessment_id)
    not_found = NotFound(_("No such document in this assessment."))
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise not_found
    name = None
    if can(principal, "unpublished.read", service._target(session, a.country_iso3)):
        name = session.scalar(select(Evidence.filename).where(Evidence.assessment_id == a.id,
                                                              Evidence.file_sha256 == sha256).limit(1))
    if name is None:
        for pv in session.execute(select(PublishedVersion).where(PublishedVersion.assessment_id == a.id)
                                  .order_by(PublishedVersion.number.desc())).scalars():
            for items in json.loads(pv.snapshot).get("evidence", {}).values():
                name = next((i["filename"] for i in items if i.get("sha256") == sha256), None)
                if name:
                    break
            if name:
                break
    blob = session.get(EvidenceFile, sha256) if name else None
    if blob is None or name is None:
        raise not_found
    return blob, name


def check_links(session: Session, principal: Principal, assessment_id: int | None = None,
                *, limit: int = 500) -> list[Evidence]:
    """Check the links of evidence items (the oldest checks first) and record each result."""
    stmt = select(Evidence).where(Evidence.url.is_not(None))
    if assessment_id is not None:
        a = service.get_assessment(session, assessment_id)
        authorize(session, principal, "country_data.edit", service._target(session, a.country_iso3))
        stmt = stmt.where(Evidence.assessment_id == a.id)
    else:
        authorize(session, principal, "maturity.framework.manage", None)
    items = list(session.execute(stmt.order_by(Evidence.link_checked_at.is_not(None), Evidence.link_checked_at,
                                               Evidence.id).limit(limit)).scalars())
    settings = get_settings()
    for item in items:
        result = linkcheck.check(item.url or "", allow_private=settings.link_check_allow_private)
        item.link_checked_at, item.link_status, item.link_ok = result.checked_at, result.status, result.ok
    session.flush()
    return items
