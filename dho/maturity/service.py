"""Maturity: frameworks, assessments, answers, the review workflow and scores.

Every write checks permission through the one permission module, validates, writes, and is
recorded in the audit log by the flush hook, in one transaction."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import delete, event, func, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from dho.accounts.permissions import Principal, Target, authorize, can, require
from dho.audit.chain import Change, record
from dho.errors import Conflict, FieldError, Forbidden, NotFound, ValidationFailed
from dho.i18n import _
from dho.jsonutil import canonical_json
from dho.maturity import scoring
from dho.maturity.lint import lint
from dho.maturity.models import (
    CONFIDENCE,
    Answer,
    Assessment,
    Crosswalk,
    Framework,
    Indicator,
    PublishedVersion,
    Response,
    ReviewComment,
)
from dho.reference import service as reference
from dho.reference import subdivisions

FRAMEWORK_DIR = Path(__file__).parent / "frameworks"
DEFAULT_FRAMEWORK = "gdhm-current"
MAX_RATIONALE = 5000
SUBDIVISION = re.compile(r"[A-Z]{2}-[A-Z0-9]{1,3}")  # ISO 3166-2


# ---------------------------------------------------------------- frameworks


def _target(session: Session, iso3: str) -> Target:
    return Target(country_iso3=iso3, region_code=reference.region_of(session, iso3))


def _write_framework(session: Session, doc: dict[str, Any], origin: str) -> tuple[Framework, bool]:
    text = canonical_json(doc)
    checksum = hashlib.sha256(text.encode()).hexdigest()
    fw = session.get(Framework, doc["id"])
    if fw is not None and fw.checksum == checksum:
        return fw, False
    if fw is None:
        fw = Framework(id=doc["id"])
        session.add(fw)
    fw.edition, fw.title_en, fw.title_fr = str(doc.get("edition", "")), doc["title"]["en"], doc["title"]["fr"]
    fw.document, fw.checksum, fw.origin = text, checksum, origin
    session.flush()
    session.execute(delete(Indicator).where(Indicator.framework_id == fw.id))
    rows = []
    for cpos, comp in enumerate(doc["components"], start=1):
        for pos, ind in enumerate(comp["indicators"], start=1):
            rows.append(Indicator(
                framework_id=fw.id, code=str(ind["code"]), component_id=str(comp["id"]), component_position=cpos,
                position=pos, parent_code=ind.get("parent"), core=bool(ind["core"]),
                title_en=ind["title"]["en"], title_fr=ind["title"]["fr"]))
    session.add_all(rows)
    session.flush()
    _structures.pop(fw.id, None)
    return fw, True


def add_framework(session: Session, principal: Principal, doc: Any, origin: str = "uploaded") -> Framework:
    """Add or replace a framework from its document; refused whole if the linter finds an error."""
    from dho.maturity.docchecks import check_document

    authorize(session, principal, "maturity.framework.manage")
    check_document(doc)
    fw, _changed = _write_framework(session, doc, origin)
    return fw


def shipped_documents(directory: Path = FRAMEWORK_DIR) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    frameworks, crosswalks = [], []
    for path in sorted(directory.glob("*.json")):
        if path.name.startswith("dependencies-"):
            continue
        doc = json.loads(path.read_text(encoding="utf-8"))
        (crosswalks if path.name.startswith("crosswalk-") else frameworks).append(doc)
    return frameworks, crosswalks


def load_shipped(session: Session, principal: Principal, directory: Path = FRAMEWORK_DIR) -> list[str]:
    """Load the frameworks and crosswalks shipped with the platform (idempotent)."""
    authorize(session, principal, "maturity.framework.manage")
    frameworks, crosswalks = shipped_documents(directory)
    changed = []
    for doc in frameworks:
        errors = [f for f in lint(doc) if f.level == "error"]
        if errors:
            raise ValidationFailed(_("The framework %(id)s has errors.", id=doc.get("id")),
                                   errors=[FieldError(f.where, f.message) for f in errors])
        _fw, did = _write_framework(session, doc, "shipped")
        if did:
            changed.append(doc["id"])
    for cw in crosswalks:
        existing = session.execute(select(func.count()).select_from(Crosswalk).where(
            Crosswalk.from_framework == cw["from"], Crosswalk.to_framework == cw["to"])).scalar_one()
        if existing == len(cw["maps"]):
            continue
        session.execute(delete(Crosswalk).where(Crosswalk.from_framework == cw["from"],
                                                Crosswalk.to_framework == cw["to"]))
        session.add_all(Crosswalk(from_framework=cw["from"], from_code=str(m["from"]), to_framework=cw["to"],
                                  to_code=m.get("to"), relationship=m.get("relationship", "equivalent"))
                        for m in cw["maps"])
        session.flush()
        record(session, Change("load", "maturity_crosswalk", f"{cw['from']}->{cw['to']}", None,
                               {"maps": len(cw["maps"])}))
        changed.append(cw["id"])
    return changed


def list_frameworks(session: Session) -> list[Framework]:
    return list(session.execute(select(Framework).order_by(Framework.id)).scalars())


def get_framework(session: Session, framework_id: str) -> Framework:
    fw = session.get(Framework, framework_id)
    if fw is None:
        raise NotFound(_("No maturity framework %(id)s.", id=framework_id))
    return fw


def framework_document(fw: Framework) -> dict[str, Any]:
    return json.loads(fw.document)


_structures: dict[str, tuple[str, scoring.Structure]] = {}


def _memo(session: Session, key: tuple[Any, ...], compute: Callable[[], Any]) -> Any:
    """Remember a read for the rest of this session's current work: pages ask for the same
    structure and published answers several times. Any flush (a write) forgets everything."""
    memo = session.info.setdefault("maturity_memo", {})
    if key not in memo:
        memo[key] = compute()
    return memo[key]


@event.listens_for(Session, "after_flush")
def _forget(session: Session, _ctx: Any) -> None:
    session.info.pop("maturity_memo", None)


def structure(session: Session, framework_id: str) -> scoring.Structure:
    return _memo(session, ("structure", framework_id), lambda: _structure(session, framework_id))


def _structure(session: Session, framework_id: str) -> scoring.Structure:
    """The framework's components and indicator codes for scoring (cached by document checksum)."""
    checksum = session.execute(select(Framework.checksum).where(Framework.id == framework_id)).scalar_one_or_none()
    if checksum is None:
        raise NotFound(_("No maturity framework %(id)s.", id=framework_id))
    hit = _structures.get(framework_id)
    if hit and hit[0] == checksum:
        return hit[1]
    fw = get_framework(session, framework_id)
    doc = framework_document(fw)
    st = scoring.Structure(tuple(
        scoring.Component(str(c["id"]), tuple(str(i["code"]) for i in c["indicators"] if i["core"]),
                          tuple(str(i["code"]) for i in c["indicators"] if not i["core"]))
        for c in doc["components"]))
    _structures[fw.id] = (fw.checksum, st)
    return st


def indicator_codes(session: Session, framework_id: str) -> list[str]:
    st = structure(session, framework_id)
    return [*st.core_codes, *st.sub_codes]


def crosswalk(session: Session, from_framework: str, to_framework: str) -> dict[str, str | None]:
    return {m.from_code: m.to_code for m in session.execute(select(Crosswalk).where(
        Crosswalk.from_framework == from_framework, Crosswalk.to_framework == to_framework)).scalars()}


# ---------------------------------------------------------------- assessments


def get_assessment(session: Session, assessment_id: int) -> Assessment:
    a = session.get(Assessment, assessment_id)
    if a is None:
        raise NotFound(_("No assessment %(id)s.", id=assessment_id))
    return a


def may_read(session: Session, principal: Principal, a: Assessment) -> bool:
    return a.published_version > 0 or can(principal, "unpublished.read", _target(session, a.country_iso3))


def read_assessment(session: Session, principal: Principal, assessment_id: int) -> Assessment:
    a = get_assessment(session, assessment_id)
    if not may_read(session, principal, a):
        raise NotFound(_("No assessment %(id)s.", id=assessment_id))  # unpublished: invisible
    return a


def read_working(session: Session, principal: Principal, assessment_id: int) -> Assessment:
    """An assessment's working data (current answers, respondents, disagreements) is not public,
    even after a version was published."""
    a = get_assessment(session, assessment_id)
    if not can(principal, "unpublished.read", _target(session, a.country_iso3)):
        if a.published_version > 0 and principal.is_authenticated:
            raise Forbidden(_("Only the country's team and its reviewers see the working answers."))
        raise NotFound(_("No assessment %(id)s.", id=assessment_id))
    return a


def create_assessment(session: Session, principal: Principal, country_iso3: str, year: int,
                      framework_id: str = DEFAULT_FRAMEWORK, subdivision: str = "") -> Assessment:
    country = reference.get_country(session, country_iso3)
    authorize(session, principal, "country_data.edit", _target(session, country.iso3))
    get_framework(session, framework_id)
    subdivision = (subdivision or "").strip().upper()
    if subdivision and (not SUBDIVISION.fullmatch(subdivision) or not subdivisions.known(subdivision, country.iso2)):
        raise ValidationFailed(_("The subnational unit is not valid."), errors=[FieldError(
            "subdivision", _("use an ISO 3166-2 code of a subdivision of this country, such as %(example)s",
                             example=subdivisions.example(country.iso2)))])
    if not 2000 <= year <= 2100:
        raise ValidationFailed(_("The year is out of range."), errors=[FieldError("year", _("use 2000-2100"))])
    if session.execute(select(Assessment.id).where(
            Assessment.country_iso3 == country.iso3, Assessment.subdivision == subdivision,
            Assessment.year == year, Assessment.framework_id == framework_id)).first():
        raise Conflict(_("This country (or subnational unit) already has an assessment for this year and "
                         "framework."))
    a = Assessment(country_iso3=country.iso3, subdivision=subdivision, year=year, framework_id=framework_id,
                   status="draft", published_version=0)
    session.add(a)
    session.flush()
    return a


@dataclass
class AnswerIn:
    code: str
    phase: int | None  # None means "not available"
    rationale: str
    confidence: str = "medium"


def _check_answer(session: Session, a: Assessment, data: AnswerIn) -> None:
    errors = []
    if data.code not in indicator_codes(session, a.framework_id):
        errors.append(FieldError("code", _("unknown indicator %(code)s in this framework", code=data.code)))
    if data.phase is not None and (isinstance(data.phase, bool) or not isinstance(data.phase, int)
                                   or not 1 <= data.phase <= 5):
        errors.append(FieldError("phase", _("must be a phase from 1 to 5, or not available")))
    if not isinstance(data.rationale, str) or not data.rationale.strip():
        errors.append(FieldError("rationale", _("is required")))
    elif len(data.rationale) > MAX_RATIONALE:
        errors.append(FieldError("rationale", _("is too long (at most %(n)s characters)", n=MAX_RATIONALE)))
    if data.confidence not in CONFIDENCE:
        errors.append(FieldError("confidence", _("must be one of: %(choices)s", choices=", ".join(CONFIDENCE))))
    if errors:
        raise ValidationFailed(_("The answer is not valid; nothing was saved."), errors=errors)


def _editable(a: Assessment) -> None:
    if a.status not in ("draft", "returned"):
        raise Conflict(_("This assessment is %(status)s; answers can change only in a draft or a returned "
                         "assessment.", status=a.status))


def save_response(session: Session, principal: Principal, assessment_id: int, data: AnswerIn,
                  expected_version: int | None = None) -> Response:
    """A respondent's own answer. ``expected_version`` is the version the respondent edited (None for
    a first answer); a stale version is refused, never silently overwritten."""
    a = get_assessment(session, assessment_id)
    authorize(session, principal, "maturity.respond", _target(session, a.country_iso3))
    if principal.user_id is None:
        raise Forbidden(_("Only a signed-in respondent can answer."))
    _editable(a)
    _check_answer(session, a, data)
    r = session.execute(select(Response).where(
        Response.assessment_id == a.id, Response.respondent_id == principal.user_id,
        Response.indicator_code == data.code)).scalar_one_or_none()
    if r is None:
        if expected_version not in (None, 0):
            raise Conflict(_("This answer was deleted meanwhile; reload the page."))
        r = Response(assessment_id=a.id, respondent_id=principal.user_id, indicator_code=data.code)
        session.add(r)
    elif expected_version != r.version:
        raise Conflict(_("You changed this answer elsewhere meanwhile (now version %(v)s); reload it.", v=r.version))
    r.phase, r.not_available = data.phase, data.phase is None
    r.rationale, r.confidence = data.rationale.strip(), data.confidence
    _flush_or_conflict(session)
    return r


def save_answer(session: Session, principal: Principal, assessment_id: int, data: AnswerIn,
                expected_version: int | None = None) -> Answer:
    """The country's consolidated answer (focal point), with the same optimistic locking."""
    a = get_assessment(session, assessment_id)
    authorize(session, principal, "country_data.edit", _target(session, a.country_iso3))
    _editable(a)
    _check_answer(session, a, data)
    ans = session.execute(select(Answer).where(Answer.assessment_id == a.id,
                                               Answer.indicator_code == data.code)).scalar_one_or_none()
    if ans is None:
        if expected_version not in (None, 0):
            raise Conflict(_("This answer was deleted meanwhile; reload the page."))
        ans = Answer(assessment_id=a.id, indicator_code=data.code)
        session.add(ans)
    elif expected_version != ans.version:
        raise Conflict(_("Someone else saved this answer meanwhile (now version %(v)s); reload it and apply your "
                         "change again.", v=ans.version))
    ans.phase, ans.not_available = data.phase, data.phase is None
    ans.rationale, ans.confidence = data.rationale.strip(), data.confidence
    _flush_or_conflict(session)
    return ans


def _flush_or_conflict(session: Session) -> None:
    try:
        session.flush()
    except StaleDataError:
        session.rollback()
        raise Conflict(_("Someone else saved this meanwhile; reload and try again.")) from None


@dataclass
class Disagreement:
    code: str
    phases: dict[str, int | None]  # respondent e-mail -> phase (None: not available)


def disagreements(session: Session, principal: Principal, assessment_id: int) -> list[Disagreement]:
    from dho.accounts.models import User

    a = read_working(session, principal, assessment_id)
    rows = session.execute(select(Response.indicator_code, User.email, Response.phase)
                           .join(User, User.id == Response.respondent_id)
                           .where(Response.assessment_id == a.id)).all()
    by_code: dict[str, dict[str, int | None]] = {}
    for code, email, phase in rows:
        by_code.setdefault(code, {})[email] = phase
    order = {c: i for i, c in enumerate(indicator_codes(session, a.framework_id))}
    return [Disagreement(code, phases) for code, phases in sorted(by_code.items(), key=lambda p: order.get(p[0], 999))
            if len(set(phases.values())) > 1]


def consolidate(session: Session, principal: Principal, assessment_id: int) -> dict[str, list[str]]:
    """Copy the respondents' answer (with their evidence) into the country's answer wherever they
    all agree and the country has no answer yet. Disagreements are left for the focal point and
    stay visible."""
    from dho.maturity import evidence

    a = get_assessment(session, assessment_id)
    authorize(session, principal, "country_data.edit", _target(session, a.country_iso3))
    _editable(a)
    existing = {ans.indicator_code for ans in session.execute(
        select(Answer).where(Answer.assessment_id == a.id)).scalars()}
    responses: dict[str, list[Response]] = {}
    for r in session.execute(select(Response).where(Response.assessment_id == a.id)
                             .order_by(Response.id)).scalars():
        responses.setdefault(r.indicator_code, []).append(r)
    copied, disputed = [], []
    for code, rs in responses.items():
        if code in existing:
            continue
        if len({r.phase for r in rs}) > 1:
            disputed.append(code)
            continue
        rationale = "\n\n".join(dict.fromkeys(r.rationale for r in rs))[:MAX_RATIONALE]
        confidence = min((r.confidence for r in rs), key=CONFIDENCE.index)
        session.add(Answer(assessment_id=a.id, indicator_code=code, phase=rs[0].phase,
                           not_available=rs[0].phase is None, rationale=rationale, confidence=confidence))
        evidence.copy_to_country(session, a.id, code, [r.respondent_id for r in rs])
        copied.append(code)
    session.flush()
    return {"copied": sorted(copied), "disputed": sorted(disputed)}


def answers(session: Session, principal: Principal, assessment_id: int) -> list[Answer]:
    """The current (working) answers: for the country's team and reviewers only. Everyone else
    reads the published versions."""
    a = read_working(session, principal, assessment_id)
    return list(session.execute(select(Answer).where(Answer.assessment_id == a.id)).scalars())


# ---------------------------------------------------------------- workflow

TRANSITIONS = {
    # action: (from statuses, to status, permission)
    "submit": (("draft", "returned"), "submitted", "country_data.edit"),
    "start_review": (("submitted",), "in_review", "review"),
    "return": (("in_review",), "returned", "review"),
    "accept": (("in_review",), "reviewed", "review"),
    "approve": (("reviewed",), "approved", "country_data.approve"),
    "publish": (("approved",), "published", "publish"),
    "reopen": (("published",), "draft", "country_data.edit"),
}


def transition(session: Session, principal: Principal, assessment_id: int, action: str,
               comment: str | None = None) -> Assessment:
    if action not in TRANSITIONS:
        raise ValidationFailed(_("Unknown action."), errors=[FieldError("action", action[:40])])
    a = get_assessment(session, assessment_id)
    sources, target_status, permission = TRANSITIONS[action]
    authorize(session, principal, permission, _target(session, a.country_iso3))
    if a.status not in sources:
        raise Conflict(_("This assessment is %(status)s; it cannot be %(action)s now.",
                         status=a.status, action=action))
    if action == "submit":
        st = structure(session, a.framework_id)
        have = {ans.indicator_code for ans in session.execute(
            select(Answer).where(Answer.assessment_id == a.id)).scalars()}
        missing = [c for c in st.core_codes if c not in have]
        if missing:
            raise ValidationFailed(_("Every core indicator needs the country's answer (a phase or not available) "
                                     "before submission."),
                                   errors=[FieldError(f"indicator {c}", _("has no answer")) for c in missing])
    if action == "return" and not (comment and comment.strip()) and not session.execute(
            select(ReviewComment.id).where(ReviewComment.assessment_id == a.id)).first():
        raise ValidationFailed(_("Say what should change: add a comment before returning."),
                               errors=[FieldError("comment", _("is required"))])
    if comment and comment.strip():
        session.add(ReviewComment(assessment_id=a.id, author_id=principal.user_id, body=comment.strip()[:5000]))
    a.status = target_status
    if action == "publish":
        from dho.maturity import evidence

        a.published_version += 1
        snapshot = {"answers": {
            ans.indicator_code: {"phase": ans.phase, "not_available": ans.not_available,
                                 "rationale": ans.rationale, "confidence": ans.confidence}
            for ans in session.execute(select(Answer).where(Answer.assessment_id == a.id)).scalars()},
            "evidence": evidence.snapshot(session, a.id),
            "framework": a.framework_id, "country": a.country_iso3, "year": a.year,
            "structure": [{"id": c.id, "core": list(c.core), "sub": list(c.sub)}
                          for c in structure(session, a.framework_id).components]}
        session.add(PublishedVersion(assessment_id=a.id, number=a.published_version, published_by=principal.actor.label,
                                     snapshot=canonical_json(snapshot)))
    session.flush()
    return a


def comment(session: Session, principal: Principal, assessment_id: int, body: str,
            indicator_code: str | None = None) -> ReviewComment:
    a = get_assessment(session, assessment_id)
    authorize(session, principal, "review", _target(session, a.country_iso3))
    if a.status != "in_review":
        raise Conflict(_("Comments are made while the assessment is in review."))
    if not body or not body.strip():
        raise ValidationFailed(_("The comment is empty."), errors=[FieldError("body", _("is required"))])
    if indicator_code is not None and indicator_code not in indicator_codes(session, a.framework_id):
        raise ValidationFailed(_("Unknown indicator."), errors=[FieldError("indicator_code", indicator_code[:16])])
    c = ReviewComment(assessment_id=a.id, indicator_code=indicator_code, author_id=principal.user_id,
                      body=body.strip()[:5000])
    session.add(c)
    session.flush()
    return c


def published_versions(session: Session, assessment_id: int) -> list[PublishedVersion]:
    return list(session.execute(select(PublishedVersion).where(PublishedVersion.assessment_id == assessment_id)
                                .order_by(PublishedVersion.number)).scalars())


def snapshot_structure(snap: dict[str, Any], fallback: scoring.Structure) -> scoring.Structure:
    """The framework structure frozen with a published version, so that its scores never change
    when a framework file is replaced later."""
    frozen = snap.get("structure")
    if not frozen:
        return fallback
    return scoring.Structure(tuple(scoring.Component(c["id"], tuple(c["core"]), tuple(c["sub"])) for c in frozen))


def published_answers(session: Session, assessment_id: int, number: int | None = None
                      ) -> dict[str, int | None] | None:
    stmt = select(PublishedVersion).where(PublishedVersion.assessment_id == assessment_id)
    stmt = stmt.where(PublishedVersion.number == number) if number else \
        stmt.order_by(PublishedVersion.number.desc()).limit(1)
    pv = session.execute(stmt).scalars().first()
    if pv is None:
        return None
    snap = json.loads(pv.snapshot)
    return {code: v["phase"] for code, v in snap["answers"].items()}


# ---------------------------------------------------------------- scores


def score(session: Session, principal: Principal, assessment_id: int, rule: str = scoring.DEFAULT_RULE,
          published_only: bool = False) -> scoring.AssessmentScore:
    a = read_assessment(session, principal, assessment_id)
    if published_only or not can(principal, "unpublished.read", _target(session, a.country_iso3)):
        versions = published_versions(session, a.id)
        if versions:
            snap = json.loads(versions[-1].snapshot)
            values = {code: v["phase"] for code, v in snap["answers"].items()}
            return scoring.score_assessment(snapshot_structure(snap, structure(session, a.framework_id)), values,
                                            rule)
        values = {}
    else:
        values = {ans.indicator_code: ans.phase for ans in session.execute(
            select(Answer).where(Answer.assessment_id == a.id)).scalars()}
    return scoring.score_assessment(structure(session, a.framework_id), values, rule)


def published_scores(session: Session, *, country: str | None = None, year: int | None = None,
                     framework_id: str = DEFAULT_FRAMEWORK, rule: str = scoring.DEFAULT_RULE
                     ) -> dict[str, scoring.AssessmentScore]:
    """Scores of the latest published version of every national assessment, keyed ``ISO3:YEAR``.
    Published data is public: no permission is needed."""
    if rule not in scoring.RULES:
        raise ValidationFailed(_("Unknown phase rule."), errors=[FieldError("rule", _("use gdhm or nearest"))])
    stmt = select(Assessment, PublishedVersion).join(
        PublishedVersion, (PublishedVersion.assessment_id == Assessment.id)
        & (PublishedVersion.number == Assessment.published_version)).where(
        Assessment.published_version > 0, Assessment.subdivision == "", Assessment.framework_id == framework_id)
    if country:
        stmt = stmt.where(Assessment.country_iso3 == country.upper())
    if year:
        stmt = stmt.where(Assessment.year == year)
    st = structure(session, framework_id)
    out = {}
    for a, pv in session.execute(stmt.order_by(Assessment.country_iso3, Assessment.year)).all():
        snap = json.loads(pv.snapshot)
        values = {code: v["phase"] for code, v in snap["answers"].items()}
        out[f"{a.country_iso3}:{a.year}"] = scoring.score_assessment(snapshot_structure(snap, st), values, rule)
    return out


def list_assessments(session: Session, principal: Principal, *, country: str | None = None,
                     year: int | None = None, status: str | None = None, limit: int = 100,
                     offset: int = 0) -> tuple[list[Assessment], int]:
    stmt = select(Assessment)
    if country:
        stmt = stmt.where(Assessment.country_iso3 == country.upper())
    if year:
        stmt = stmt.where(Assessment.year == year)
    if status:
        stmt = stmt.where(Assessment.status == status)
    rows = [a for a in session.execute(stmt.order_by(Assessment.country_iso3, Assessment.year.desc())).scalars()
            if may_read(session, principal, a)]
    return rows[offset:offset + limit], len(rows)


def require_read_unpublished(session: Session, principal: Principal, iso3: str) -> None:
    require(principal, "unpublished.read", _target(session, iso3))


def codes_in_order(items: Iterable[str], session: Session, framework_id: str) -> list[str]:
    order = {c: i for i, c in enumerate(indicator_codes(session, framework_id))}
    return sorted(items, key=lambda c: order.get(c, 999))


# ---------------------------------------------------------------- aggregates and benchmarks

GROUPS = ("region", "income", "world")
METHODS = ("mean_of_countries", "pooled")


@dataclass(frozen=True)
class Published:
    """A country's published answers with the framework structure frozen at publication."""

    year: int
    values: dict[str, int | None]
    structure: scoring.Structure

    def score(self, rule: str) -> scoring.AssessmentScore:
        return scoring.score_assessment(self.structure, self.values, rule)


def latest_published(session: Session, *, year: int | None = None, framework_id: str = DEFAULT_FRAMEWORK
                     ) -> dict[str, Published]:
    """Per country, its latest published national assessment (in ``year`` if given, else the most
    recent year)."""
    return _memo(session, ("latest", year, framework_id), lambda: _latest_published(session, year, framework_id))


def _latest_published(session: Session, year: int | None, framework_id: str) -> dict[str, Published]:
    stmt = select(Assessment, PublishedVersion).join(
        PublishedVersion, (PublishedVersion.assessment_id == Assessment.id)
        & (PublishedVersion.number == Assessment.published_version)).where(
        Assessment.published_version > 0, Assessment.subdivision == "", Assessment.framework_id == framework_id)
    if year:
        stmt = stmt.where(Assessment.year == year)
    st = structure(session, framework_id)
    out: dict[str, Published] = {}
    for a, pv in session.execute(stmt.order_by(Assessment.country_iso3, Assessment.year)).all():
        snap = json.loads(pv.snapshot)
        out[a.country_iso3] = Published(a.year, {code: v["phase"] for code, v in snap["answers"].items()},
                                        snapshot_structure(snap, st))
    return out


@dataclass(frozen=True)
class UnitPublished(Published):
    assessment_id: int = 0


def subnational_latest(session: Session, iso3: str, framework_id: str = DEFAULT_FRAMEWORK
                       ) -> dict[str, UnitPublished]:
    """Per subnational unit of a country, its latest published assessment."""
    stmt = select(Assessment, PublishedVersion).join(
        PublishedVersion, (PublishedVersion.assessment_id == Assessment.id)
        & (PublishedVersion.number == Assessment.published_version)).where(
        Assessment.country_iso3 == iso3, Assessment.published_version > 0, Assessment.subdivision != "",
        Assessment.framework_id == framework_id)
    st = structure(session, framework_id)
    out: dict[str, UnitPublished] = {}
    for a, pv in session.execute(stmt.order_by(Assessment.subdivision, Assessment.year)).all():
        snap = json.loads(pv.snapshot)
        out[a.subdivision] = UnitPublished(a.year, {code: v["phase"] for code, v in snap["answers"].items()},
                                           snapshot_structure(snap, st), a.id)
    return out


def group_of(session: Session, iso3: str, group: str, year: int) -> str | None:
    if group == "world":
        return "WORLD"
    if group == "region":
        return reference.region_of(session, iso3)
    # the World Bank group of the assessment's year (fiscal year = calendar year), else the latest known
    fy = min(year, 2025)
    return reference.income_group_in(session, iso3, fy)


@dataclass
class GroupFigures:
    key: str
    overall: scoring.Aggregate
    components: dict[str, scoring.Aggregate]

    def as_dict(self) -> dict[str, Any]:
        return {"group": self.key, "overall": self.overall.as_dict(),
                "components": {cid: agg.as_dict() for cid, agg in self.components.items()}}


def aggregates(session: Session, *, group: str = "region", year: int | None = None,
               rule: str = scoring.DEFAULT_RULE, method: str = "mean_of_countries",
               framework_id: str = DEFAULT_FRAMEWORK) -> list[GroupFigures]:
    """Group figures from published assessments only, with n and the countries behind each."""
    return _memo(session, ("aggregates", group, year, rule, method, framework_id),
                 lambda: _aggregates(session, group, year, rule, method, framework_id))


def scored_latest(session: Session, rule: str, framework_id: str = DEFAULT_FRAMEWORK
                  ) -> dict[str, scoring.AssessmentScore]:
    return _memo(session, ("scored", rule, framework_id), lambda: {
        iso3: pub.score(rule) for iso3, pub in latest_published(session, framework_id=framework_id).items()})


def _aggregates(session: Session, group: str, year: int | None, rule: str, method: str,
                framework_id: str) -> list[GroupFigures]:
    if group not in GROUPS or method not in METHODS or rule not in scoring.RULES:
        raise ValidationFailed(_("Unknown group, method or rule."), errors=[
            FieldError(k, v) for k, v, allowed in (("group", group, GROUPS), ("method", method, METHODS),
                                                   ("rule", rule, scoring.RULES)) if v not in allowed])
    st = structure(session, framework_id)
    members: dict[str, dict[str, Published]] = {}
    for iso3, pub in latest_published(session, year=year, framework_id=framework_id).items():
        key = group_of(session, iso3, group, pub.year)
        if key:
            members.setdefault(key, {})[iso3] = pub
    out = []
    for key in sorted(members):
        answers = {iso3: pub.values for iso3, pub in members[key].items()}
        scored = scored_latest(session, rule, framework_id) if year is None else {}
        per_country = {iso3: scored.get(iso3) or pub.score(rule) for iso3, pub in members[key].items()}
        if method == "pooled":
            comps = {c.id: scoring.aggregate_pooled_component(answers, c.core, rule) for c in st.components}
            available = {cid: scoring.Score(a.score, a.phase, rule, a.n, len(answers))
                         for cid, a in comps.items()}
            values = [s.score for s in available.values() if s.score is not None]
            value = scoring.mean(values, rule)  # type: ignore[arg-type]
            overall = scoring.Aggregate("pooled", value, scoring.phase_of(value, rule), rule, len(answers),
                                        tuple(sorted(answers)))
        else:
            comps = {c.id: scoring.aggregate_mean_of_countries(
                {iso3: s.components[c.id] for iso3, s in per_country.items()}, rule) for c in st.components}
            overall = scoring.aggregate_mean_of_countries({iso3: s.overall for iso3, s in per_country.items()},
                                                          rule)
        out.append(GroupFigures(key, overall, comps))
    return out


@dataclass
class Benchmark:
    label: str
    figures: GroupFigures | None


def benchmarks(session: Session, iso3: str, *, rule: str = scoring.DEFAULT_RULE,
               framework_id: str = DEFAULT_FRAMEWORK) -> dict[str, Any]:
    """A country's latest published scores beside the world, its WHO region, its income group
    (for the assessment's year) and the countries in the same overall phase; and its trend."""
    country = reference.get_country(session, iso3)
    latest = latest_published(session, framework_id=framework_id)
    if country.iso3 not in latest:
        return {"country": country.iso3, "latest": None, "trend": trend(session, country.iso3, rule=rule,
                                                                         framework_id=framework_id)}
    year = latest[country.iso3].year
    st = structure(session, framework_id)
    own = latest[country.iso3].score(rule)
    by = {g: {f.key: f for f in aggregates(session, group=g, rule=rule, framework_id=framework_id)}
          for g in GROUPS}
    same_phase = dict(scored_latest(session, rule, framework_id))
    same_phase = {i: s for i, s in same_phase.items() if s.overall.phase == own.overall.phase}
    peers = GroupFigures(
        f"phase {own.overall.phase}",
        scoring.aggregate_mean_of_countries({i: s.overall for i, s in same_phase.items()}, rule),
        {c.id: scoring.aggregate_mean_of_countries({i: s.components[c.id] for i, s in same_phase.items()}, rule)
         for c in st.components})
    return {
        "country": country.iso3, "year": year, "rule": rule, "latest": own,
        "world": by["world"].get("WORLD"), "region": by["region"].get(country.who_region or ""),
        "income": by["income"].get(group_of(session, country.iso3, "income", year) or ""),
        "same_phase": peers, "trend": trend(session, country.iso3, rule=rule, framework_id=framework_id),
    }


def trend(session: Session, iso3: str, *, rule: str = scoring.DEFAULT_RULE,
          framework_id: str = DEFAULT_FRAMEWORK) -> list[dict[str, Any]]:
    """Published scores by year. Assessments made with an earlier edition are carried into
    ``framework_id`` through the crosswalk; indicators with no counterpart are listed as unmapped."""
    st = structure(session, framework_id)
    rows = []
    stmt = select(Assessment, PublishedVersion).join(
        PublishedVersion, (PublishedVersion.assessment_id == Assessment.id)
        & (PublishedVersion.number == Assessment.published_version)).where(
        Assessment.country_iso3 == iso3.upper(), Assessment.published_version > 0, Assessment.subdivision == "")
    for a, pv in session.execute(stmt.order_by(Assessment.year)).all():
        snap = json.loads(pv.snapshot)
        values = {code: v["phase"] for code, v in snap["answers"].items()}
        unmapped: list[str] = []
        frozen = snapshot_structure(snap, st) if a.framework_id == framework_id else st
        if a.framework_id != framework_id:
            walk = crosswalk(session, a.framework_id, framework_id)
            carried: dict[str, int | None] = {}
            for code, phase in values.items():
                target = walk.get(code)
                if target is None:
                    unmapped.append(code)
                elif target in st.core_codes and target not in carried:
                    carried[target] = phase
            values = carried
        s = scoring.score_assessment(frozen, values, rule)
        rows.append({"year": a.year, "framework": a.framework_id, "score": s, "unmapped": sorted(unmapped)})
    return rows
