"""Maturity: frameworks (versioned documents), assessments, answers, reviews, published versions."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from dho.db import Base, UTCDateTime, utcnow

STATUSES = ("draft", "submitted", "in_review", "returned", "reviewed", "approved", "published")
CONFIDENCE = ("low", "medium", "high")
EVIDENCE_KINDS = ("document", "link", "legal")


class Framework(Base):
    """A maturity framework edition. ``document`` is the whole framework file (canonical JSON):
    components, indicators, phase descriptors in English and French, numeric bands."""

    __tablename__ = "maturity_framework"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    edition: Mapped[str] = mapped_column(String(20))
    title_en: Mapped[str] = mapped_column(String(200))
    title_fr: Mapped[str] = mapped_column(String(200))
    document: Mapped[str] = mapped_column(Text)
    checksum: Mapped[str] = mapped_column(String(64))
    origin: Mapped[str] = mapped_column(String(16))  # shipped or uploaded
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Indicator(Base):
    """One indicator of a framework, derived from its document (the document is what is audited)."""

    __tablename__ = "maturity_indicator"
    __audited__ = False

    framework_id: Mapped[str] = mapped_column(ForeignKey("maturity_framework.id", ondelete="CASCADE"),
                                              primary_key=True)
    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    component_id: Mapped[str] = mapped_column(String(16))
    component_position: Mapped[int] = mapped_column(Integer)
    position: Mapped[int] = mapped_column(Integer)
    parent_code: Mapped[str | None] = mapped_column(String(16))
    core: Mapped[bool] = mapped_column(Boolean)
    title_en: Mapped[str] = mapped_column(Text)
    title_fr: Mapped[str] = mapped_column(Text)


class Crosswalk(Base):
    __tablename__ = "maturity_crosswalk"
    __audited__ = False
    __table_args__ = (UniqueConstraint("from_framework", "from_code", "to_framework"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    from_framework: Mapped[str] = mapped_column(ForeignKey("maturity_framework.id", ondelete="CASCADE"))
    from_code: Mapped[str] = mapped_column(String(16))
    to_framework: Mapped[str] = mapped_column(ForeignKey("maturity_framework.id", ondelete="CASCADE"))
    to_code: Mapped[str | None] = mapped_column(String(16))
    relationship: Mapped[str] = mapped_column(String(40))  # FHIR ConceptMap terms


class Assessment(Base):
    """One country's (or subnational unit's) assessment for a year with one framework."""

    __tablename__ = "maturity_assessment"
    __table_args__ = (UniqueConstraint("country_iso3", "subdivision", "year", "framework_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    country_iso3: Mapped[str] = mapped_column(ForeignKey("ref_country.iso3"), index=True)
    subdivision: Mapped[str] = mapped_column(String(16), default="")  # "" = national; else ISO 3166-2
    year: Mapped[int] = mapped_column(Integer, index=True)
    framework_id: Mapped[str] = mapped_column(ForeignKey("maturity_framework.id"))
    status: Mapped[str] = mapped_column(String(16), default="draft")
    published_version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class _AnswerColumns:
    """What every answer holds, a respondent's or the country's: a phase or "not available", a
    rationale, a confidence, and a version counter for optimistic locking."""

    indicator_code: Mapped[str] = mapped_column(String(16))
    phase: Mapped[int | None] = mapped_column(Integer)  # None with not_available
    not_available: Mapped[bool] = mapped_column(Boolean, default=False)
    rationale: Mapped[str] = mapped_column(Text)
    confidence: Mapped[str] = mapped_column(String(8), default="medium")
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    @declared_attr.directive
    def __mapper_args__(cls) -> dict[str, Any]:
        return {"version_id_col": cls.version}


class Response(_AnswerColumns, Base):
    """One respondent's answer to one indicator (several respondents may answer)."""

    __tablename__ = "maturity_response"
    __table_args__ = (UniqueConstraint("assessment_id", "respondent_id", "indicator_code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    assessment_id: Mapped[int] = mapped_column(ForeignKey("maturity_assessment.id", ondelete="CASCADE"), index=True)
    respondent_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))


class Answer(_AnswerColumns, Base):
    """The country's consolidated answer to one indicator, set by its focal point."""

    __tablename__ = "maturity_answer"
    __table_args__ = (UniqueConstraint("assessment_id", "indicator_code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    assessment_id: Mapped[int] = mapped_column(ForeignKey("maturity_assessment.id", ondelete="CASCADE"), index=True)


class ReviewComment(Base):
    __tablename__ = "maturity_review_comment"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    assessment_id: Mapped[int] = mapped_column(ForeignKey("maturity_assessment.id", ondelete="CASCADE"), index=True)
    indicator_code: Mapped[str | None] = mapped_column(String(16))  # None: about the whole assessment
    author_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class PublishedVersion(Base):
    """A frozen copy of a published assessment: its answers and the rule-independent facts."""

    __tablename__ = "maturity_published_version"
    __table_args__ = (UniqueConstraint("assessment_id", "number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    assessment_id: Mapped[int] = mapped_column(ForeignKey("maturity_assessment.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    published_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    published_by: Mapped[str] = mapped_column(String(254))
    snapshot: Mapped[str] = mapped_column(Text)  # canonical JSON: {"answers": {code: {phase, not_available, ...}}}


class Target(Base):
    """A country's own target phase for an indicator in a year (default: the next phase)."""

    __tablename__ = "maturity_target"
    __table_args__ = (UniqueConstraint("country_iso3", "framework_id", "indicator_code", "year"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    country_iso3: Mapped[str] = mapped_column(ForeignKey("ref_country.iso3"), index=True)
    framework_id: Mapped[str] = mapped_column(ForeignKey("maturity_framework.id"))
    indicator_code: Mapped[str] = mapped_column(String(16))
    year: Mapped[int] = mapped_column(Integer)
    phase: Mapped[int] = mapped_column(Integer)


class ComponentWeight(Base):
    """How much a country weighs a component when ranking its gaps (default 1)."""

    __tablename__ = "maturity_component_weight"
    __table_args__ = (UniqueConstraint("country_iso3", "framework_id", "component_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    country_iso3: Mapped[str] = mapped_column(ForeignKey("ref_country.iso3"), index=True)
    framework_id: Mapped[str] = mapped_column(ForeignKey("maturity_framework.id"))
    component_id: Mapped[str] = mapped_column(String(16))
    weight: Mapped[str] = mapped_column(String(12))  # a decimal number as text, 0-10


class EvidenceFile(Base):
    """An uploaded document's bytes, stored once per content (SHA-256). The evidence item that
    points here is what is audited; the bytes are too large for the log, their checksum is in it."""

    __tablename__ = "maturity_evidence_file"
    __audited__ = False

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(Integer)
    media_type: Mapped[str] = mapped_column(String(120))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Evidence(Base):
    """One piece of evidence behind an answer: an uploaded document, a link (with the result of its
    last check) or a legal reference. ``respondent_id`` is set on a respondent's own answer and
    empty on the country's consolidated answer."""

    __tablename__ = "maturity_evidence"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    assessment_id: Mapped[int] = mapped_column(ForeignKey("maturity_assessment.id", ondelete="CASCADE"), index=True)
    indicator_code: Mapped[str] = mapped_column(String(16))
    respondent_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    kind: Mapped[str] = mapped_column(String(12))
    title: Mapped[str] = mapped_column(String(300))
    url: Mapped[str | None] = mapped_column(String(2000))
    citation: Mapped[str | None] = mapped_column(Text)  # a legal reference: instrument, article, date
    file_sha256: Mapped[str | None] = mapped_column(ForeignKey("maturity_evidence_file.sha256"))
    filename: Mapped[str | None] = mapped_column(String(200))
    media_type: Mapped[str | None] = mapped_column(String(120))
    size: Mapped[int | None] = mapped_column(Integer)
    link_checked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    link_status: Mapped[str | None] = mapped_column(String(120))  # "200", "404", "timeout", ...
    link_ok: Mapped[bool | None] = mapped_column(Boolean)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
