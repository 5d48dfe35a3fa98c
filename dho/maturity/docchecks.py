"""Checks on a framework document before the linter and the database see it: whole numbers only
(canonical JSON stores decimals as text), integer bands of a sane width (the linter walks them value
by value), the shapes the linter expects, an id fit for an address, and values that fit their
database columns. Used by every way in: the admin page, the API and shipped files."""

from __future__ import annotations

import re
from typing import Any

from dho.errors import FieldError, ValidationFailed
from dho.i18n import _
from dho.maturity.lint import Finding, lint

FRAMEWORK_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
# The database columns a framework document fills (see models.Framework and models.Indicator).
LIMITS = {"edition": 20, "title": 200, "code": 16, "component": 16}
MAX_BAND_SPAN = 100_000  # integer bands are checked value by value: a range of a billion would hang the linter


def no_constant(name: str) -> Any:
    """For ``json.loads(parse_constant=...)``: NaN and Infinity are not JSON numbers."""
    raise ValueError(f"{name} is not a JSON number")


def _first_decimal(value: Any, where: str = "framework") -> str | None:
    """Where the document holds a number with decimals (stored documents keep whole numbers only:
    canonical JSON writes a decimal as text, which the linter then refuses)."""
    if isinstance(value, float):
        return where
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        found = _first_decimal(item, f"{where}.{key}")
        if found:
            return found
    return None


def _limits(doc: dict[str, Any]) -> list[FieldError]:
    """What the linter leaves to the database: the id's form and the lengths of stored columns."""
    out = []
    try:
        decimal_at = _first_decimal(doc)
    except RecursionError:
        return [FieldError("document", _("is nested too deeply"))]
    if decimal_at:
        out.append(FieldError(decimal_at[:80], _("use whole numbers: decimals are not kept in a framework document")))
    fid = doc.get("id")
    if isinstance(fid, str) and not FRAMEWORK_ID.match(fid):
        out.append(FieldError("framework", _("the id must be 1 to 64 letters, digits, dots, hyphens or "
                                             "underscores, starting with a letter or digit")))
    if len(str(doc.get("edition") or "")) > LIMITS["edition"]:
        out.append(FieldError("framework", _("the edition is longer than %(n)s characters", n=LIMITS["edition"])))
    title = doc.get("title") or {}
    if any(len(str(title.get(lang, ""))) > LIMITS["title"] for lang in ("en", "fr")):
        out.append(FieldError("framework", _("the title is longer than %(n)s characters", n=LIMITS["title"])))
    for comp in doc.get("components") or []:
        if len(str(comp.get("id", ""))) > LIMITS["component"]:
            out.append(FieldError(f"component {str(comp.get('id'))[:20]}…", _(
                "the id is longer than %(n)s characters", n=LIMITS["component"])))
        for ind in comp.get("indicators") or []:
            if len(str(ind.get("code", ""))) > LIMITS["code"]:
                out.append(FieldError(f"indicator {str(ind.get('code'))[:20]}…", _(
                    "the code is longer than %(n)s characters", n=LIMITS["code"])))
    return out


def _band_spans(doc: dict[str, Any]) -> list[FieldError]:
    """Integer bands whose range the linter would walk value by value for too long."""
    out = []

    def span(pair: Any) -> float:
        lo, hi = pair
        return hi - lo if all(isinstance(v, int | float) and not isinstance(v, bool) for v in pair) else 0

    for comp in doc.get("components") or []:
        for ind in (comp.get("indicators") or []) if isinstance(comp, dict) else []:
            bands = ind.get("bands") if isinstance(ind, dict) else None
            if not isinstance(bands, dict) or not bands.get("integer"):
                continue
            phases = bands.get("phases") if isinstance(bands.get("phases"), dict) else {}
            pairs = [bands.get("range"),
                     *([b.get("min"), b.get("max")] for b in phases.values() if isinstance(b, dict))]
            if any(isinstance(p, list) and len(p) == 2 and span(p) > MAX_BAND_SPAN for p in pairs):
                out.append(FieldError(f"indicator {str(ind.get('code'))[:20]}", _(
                    "integer bands may span at most %(n)s values", n=MAX_BAND_SPAN)))
    return out


def check_document(doc: Any) -> list[Finding]:
    """Refuse a document with errors (ValidationFailed naming each); return the linter's warnings."""
    if not isinstance(doc, dict):
        raise ValidationFailed(_("The framework must be a JSON object with an id, a title and components; "
                                 "nothing was saved."), errors=[FieldError("document", _("is not a JSON object"))])
    try:
        spans = _band_spans(doc)
        findings = [] if spans else lint(doc)
    except (AttributeError, KeyError, TypeError, ValueError, OverflowError, RecursionError):
        raise ValidationFailed(_("The framework's structure is malformed; nothing was saved."), errors=[FieldError(
            "document", _("a component, indicator or band is not written as the format expects"))]) from None
    errors = spans or [FieldError(f.where, f.message) for f in findings if f.level == "error"]
    if not errors:
        errors = _limits(doc)
    if errors:
        raise ValidationFailed(_("The framework has errors; nothing was saved."), errors=errors)
    return [f for f in findings if f.level != "error"]
