"""API shapes for maturity."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from dho.accounts.schemas import StrictIn

Code = Annotated[str, StringConstraints(pattern=r"^[0-9]{1,3}[a-z]?$")]


class StrictJson(StrictIn):
    """JSON bodies are taken as typed: "3" is not a phase."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, strict=True)


class FrameworkOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    edition: str
    title_en: str
    title_fr: str
    origin: str
    checksum: str


class AssessmentIn(StrictJson):
    country_iso3: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
    year: int = Field(ge=2000, le=2100)
    framework_id: Annotated[str, StringConstraints(max_length=64)] = "gdhm-current"
    subdivision: Annotated[str, StringConstraints(pattern=r"^([A-Z]{2}-[A-Z0-9]{1,3})?$")] = ""


class AssessmentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    country_iso3: str
    subdivision: str
    year: int
    framework_id: str
    status: str
    published_version: int
    version: int
    updated_at: dt.datetime


class AnswerBody(StrictJson):
    phase: int | None = Field(ge=1, le=5, description="1-5, or null for not available")
    rationale: Annotated[str, StringConstraints(min_length=1, max_length=5000)]
    confidence: Literal["low", "medium", "high"] = "medium"
    version: int | None = Field(default=None, ge=0, le=2_147_483_647,
                                description="The version you edited (omit for a first answer)")


class AnswerOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    indicator_code: str
    phase: int | None
    not_available: bool
    rationale: str
    confidence: str
    version: int


class TransitionIn(StrictJson):
    action: Literal["submit", "start_review", "return", "accept", "approve", "publish", "reopen"]
    comment: Annotated[str | None, StringConstraints(max_length=5000)] = None


class CommentIn(StrictJson):
    body: Annotated[str, StringConstraints(min_length=1, max_length=5000)]
    indicator_code: Code | None = None
