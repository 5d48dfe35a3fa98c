"""Narrative sections of the progress reports: read them, and write one with a permission check and
optimistic locking (the version the writer last saw must still be the stored one).

A narrative is stored per scope (global, region, country), scope code, year, section and language.
Everything else in a report is computed; these texts are the only part people type."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from dho import i18n
from dho.accounts.permissions import Principal, Target, authorize
from dho.errors import Conflict, FieldError, NotFound, PayloadTooLarge, ValidationFailed
from dho.i18n import LOCALES
from dho.reference import service as reference
from dho.reports.models import SCOPES, ReportNarrative

SECTIONS = ("intro", "SO1", "SO2", "SO3", "SO4", "outlook")
MAX_TEXT = 10_000  # characters


def section_title(section: str) -> str:
    if section == "intro":
        return i18n._("Introduction")
    if section == "outlook":
        return i18n._("Outlook")
    return i18n._("Strategic objective %(code)s", code=section[2:])


@dataclass(frozen=True)
class Scope:
    """A checked report scope: global, a WHO region or a country."""

    kind: str
    code: str  # "" for global

    def target(self, session: Session) -> Target:
        if self.kind == "country":
            return Target(country_iso3=self.code, region_code=reference.region_of(session, self.code))
        if self.kind == "region":
            return Target(region_code=self.code)
        return Target()


def check_scope(session: Session, kind: str, code: str | None) -> Scope:
    """The scope, with its code checked against the reference data (404 when unknown)."""
    if kind not in SCOPES:
        raise NotFound(i18n._("No report scope %(scope)s: use global, region or country.", scope=kind[:20]))
    raw = (code or "").strip().upper()[:8]
    if kind == "global":
        return Scope("global", "")
    if kind == "region":
        if raw not in {r.code for r in reference.regions(session)}:
            raise NotFound(i18n._("No WHO region %(code)s.", code=raw))
        return Scope("region", raw)
    country = reference.get_country(session, raw)
    return Scope("country", country.iso3)


def check_year(raw: object) -> int:
    try:
        year = int(str(raw).strip())
    except (TypeError, ValueError):
        year = 0
    if not 2000 <= year <= 2100:
        raise ValidationFailed(i18n._("The year is not valid."), errors=[FieldError("year", i18n._("use 2000-2100"))])
    return year


def check_lang(raw: str | None) -> str:
    lang = (raw or "en").strip().lower()
    if lang not in LOCALES:
        raise ValidationFailed(i18n._("The language is not available."), errors=[
            FieldError("lang", i18n._("use one of %(list)s", list=", ".join(LOCALES)))])
    return lang


def check_section(raw: str) -> str:
    if raw not in SECTIONS:
        raise NotFound(i18n._("No report section %(section)s.", section=raw[:20]))
    return raw


def texts(session: Session, scope: Scope, year: int, lang: str) -> dict[str, ReportNarrative]:
    """The stored narratives of one report, by section."""
    rows = session.execute(select(ReportNarrative).where(
        ReportNarrative.scope == scope.kind, ReportNarrative.scope_code == scope.code, ReportNarrative.year == year,
        ReportNarrative.language == lang)).scalars()
    return {r.section: r for r in rows}


def save(session: Session, principal: Principal, scope: Scope, year: int, section: str, lang: str, text: str,
         version: int | None) -> ReportNarrative:
    """Write one narrative. ``version`` is the version the writer saw (0 or None for a new section);
    a different stored version is a 409 and nothing is written."""
    authorize(session, principal, "reports.narrative", scope.target(session))
    section = check_section(section)
    lang = check_lang(lang)
    if not isinstance(text, str):
        raise ValidationFailed(i18n._("The text is missing."), errors=[FieldError("text", i18n._("required"))])
    text = text.replace("\r\n", "\n").strip()
    if len(text) > MAX_TEXT:
        raise PayloadTooLarge(i18n._("The text is too long: at most %(n)s characters.", n=MAX_TEXT),
                              errors=[FieldError("text", i18n._("%(n)s characters; the limit is %(max)s",
                                                                n=len(text), max=MAX_TEXT))])
    if "\x00" in text:
        raise ValidationFailed(i18n._("The text contains a character that is not allowed."),
                               errors=[FieldError("text", i18n._("remove the NUL character"))])
    row = texts(session, scope, year, lang).get(section)
    seen = version or 0
    if row is None:
        if seen != 0:
            raise Conflict(i18n._("This section was deleted or never saved; reload the page."))
        row = ReportNarrative(scope=scope.kind, scope_code=scope.code, year=year, section=section, language=lang,
                              text=text, updated_by=principal.email or principal.via)
        session.add(row)
    else:
        if row.version != seen:
            raise Conflict(i18n._("Someone else changed this section since you opened it (version %(now)s, you "
                                  "edited version %(seen)s). Reload the page to see their text.",
                                  now=row.version, seen=seen))
        row.text = text
        row.updated_by = principal.email or principal.via
    try:
        session.flush()
    except (StaleDataError, IntegrityError) as exc:
        session.rollback()
        raise Conflict(i18n._("Someone else saved this section at the same time; reload the page.")) from exc
    return row
