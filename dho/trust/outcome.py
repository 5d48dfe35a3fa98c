"""Verification outcomes: every failure has a stable code, a pipeline stage and a message in English
and French. Modules register their codes with :func:`define` at import time; ``docs/trust-errors.md``
lists every registered code (a test keeps the two in step)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Code:
    code: str
    stage: str
    en: str
    fr: str


CODES: dict[str, Code] = {}


def define(code: str, stage: str, en: str, fr: str) -> Code:
    """Register an error code. Codes are UPPER_SNAKE, unique, and never change meaning once shipped."""
    existing = CODES.get(code)
    if existing is not None and existing != Code(code, stage, en, fr):
        raise ValueError(f"error code {code} defined twice with different meanings")
    CODES[code] = Code(code, stage, en, fr)
    return CODES[code]


@dataclass(frozen=True)
class Failure:
    code: str
    stage: str
    detail: str = ""

    def message(self, locale: str = "en") -> str:
        c = CODES[self.code]
        text = c.fr if locale.startswith("fr") else c.en
        return f"{text} ({self.detail})" if self.detail else text

    def as_dict(self, locale: str = "en") -> dict[str, Any]:
        return {"code": self.code, "stage": self.stage, "message": self.message(locale),
                "message_en": self.message("en"), "message_fr": self.message("fr"), "detail": self.detail}


class Fail(Exception):
    """Raised inside a pipeline step; the pipeline's entry point catches it and returns the Failure.
    Never escapes a public ``verify`` function."""

    def __init__(self, code: str, detail: str = ""):
        c = CODES[code]
        super().__init__(f"{code}: {detail}")
        self.failure = Failure(code, c.stage, detail)


@dataclass
class Verdict:
    """What a verifier says about one input. ``valid`` only when every stage passed."""

    valid: bool
    failure: Failure | None = None
    stages: list[str] = field(default_factory=list)  # stages that passed, in order
    data: dict[str, Any] = field(default_factory=dict)  # decoded content for display (payload, kid, issuer...)
    warnings: list[str] = field(default_factory=list)

    def as_dict(self, locale: str = "en") -> dict[str, Any]:
        out: dict[str, Any] = {"valid": self.valid, "stages_passed": list(self.stages)}
        if self.failure:
            out["error"] = self.failure.as_dict(locale)
        out.update({k: v for k, v in self.data.items() if k not in out})
        if self.warnings:
            out["warnings"] = list(self.warnings)
        return out
