"""Gap analysis and priorities for one country. docs/maturity-scoring.md states the formula.

For each core indicator of the country's latest published assessment:
- target: the country's own target for the next year if it set one, else the next phase (5 stays 5);
  "not available" counts as phase 0, so its gap to phase 1 shows;
- gap = target - phase (only gaps above 0 are listed);
- priority = gap x component weight (the country's, default 1) x (1 + 0.5 x the number of other
  indicators with a gap that depend on it), so prerequisites such as standards before
  interoperability rise in the list. Ties keep the framework's order.
With each gap: what the next phase requires (its descriptor) and peers that reached it (countries
whose latest published answer is at or above that phase), with their own rationale."""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from dho import i18n
from dho.accounts.permissions import Principal, authorize
from dho.errors import FieldError, ValidationFailed
from dho.i18n import _
from dho.maturity import service
from dho.maturity.models import Assessment, ComponentWeight, PublishedVersion, Target
from dho.reference import service as reference

DEPENDENCY_BONUS = Decimal("0.5")
MAX_PEERS = 5


def dependencies(framework_id: str, directory: Path = service.FRAMEWORK_DIR) -> list[tuple[str, str]]:
    path = directory / f"dependencies-{framework_id}.json"
    if not path.is_file():
        return []
    doc = json.loads(path.read_text(encoding="utf-8"))
    return [(str(p["before"]), str(p["after"])) for p in doc["pairs"]]


@dataclass
class Peer:
    iso3: str
    name: str
    year: int
    phase: int
    rationale: str


@dataclass
class Gap:
    code: str
    component_id: str
    title: str
    phase: int | None
    target: int
    gap: int
    weight: Decimal
    dependents: list[str]
    priority: Decimal
    next_requirement: str
    peers: list[Peer] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"indicator": self.code, "component": self.component_id, "title": self.title, "phase": self.phase,
                "target": self.target, "gap": self.gap, "component_weight": str(self.weight),
                "blocks": self.dependents, "priority": str(self.priority),
                "next_phase_requires": self.next_requirement,
                "peers": [{"country": p.iso3, "year": p.year, "phase": p.phase, "rationale": p.rationale}
                          for p in self.peers]}


def weights(session: Session, iso3: str, framework_id: str) -> dict[str, Decimal]:
    return {w.component_id: Decimal(w.weight) for w in session.execute(select(ComponentWeight).where(
        ComponentWeight.country_iso3 == iso3, ComponentWeight.framework_id == framework_id)).scalars()}


def targets(session: Session, iso3: str, framework_id: str, year: int) -> dict[str, int]:
    return {t.indicator_code: t.phase for t in session.execute(select(Target).where(
        Target.country_iso3 == iso3, Target.framework_id == framework_id, Target.year == year)).scalars()}


def set_target(session: Session, principal: Principal, iso3: str, code: str, year: int, phase: int,
               framework_id: str = service.DEFAULT_FRAMEWORK) -> Target:
    country = reference.get_country(session, iso3)
    authorize(session, principal, "country_data.edit", service._target(session, country.iso3))
    errors = []
    if code not in service.structure(session, framework_id).core_codes:
        errors.append(FieldError("indicator", _("unknown core indicator %(code)s", code=code[:16])))
    if isinstance(phase, bool) or not isinstance(phase, int) or not 1 <= phase <= 5:
        errors.append(FieldError("phase", _("must be a phase from 1 to 5, or not available")))
    if not isinstance(year, int) or not 2000 <= year <= 2100:
        errors.append(FieldError("year", _("the year must be a number from 2000 to 2100")))
    if errors:
        raise ValidationFailed(_("The target is not valid; nothing was saved."), errors=errors)
    t = session.execute(select(Target).where(Target.country_iso3 == country.iso3, Target.framework_id == framework_id,
                                             Target.indicator_code == code, Target.year == year)).scalar_one_or_none()
    if t is None:
        t = Target(country_iso3=country.iso3, framework_id=framework_id, indicator_code=code, year=year)
        session.add(t)
    t.phase = phase
    session.flush()
    return t


def set_weight(session: Session, principal: Principal, iso3: str, component_id: str, weight: str,
               framework_id: str = service.DEFAULT_FRAMEWORK) -> ComponentWeight:
    country = reference.get_country(session, iso3)
    authorize(session, principal, "country_data.edit", service._target(session, country.iso3))
    try:
        value = Decimal(str(weight))
    except InvalidOperation:
        value = Decimal(-1)
    components = {c.id for c in service.structure(session, framework_id).components}
    if component_id not in components or not value.is_finite() or not (Decimal(0) <= value <= Decimal(10)):
        raise ValidationFailed(_("The weight is not valid; nothing was saved."),
                               errors=[FieldError("weight", _("a number from 0 to 10 for a component of the "
                                                              "framework"))])
    w = session.execute(select(ComponentWeight).where(
        ComponentWeight.country_iso3 == country.iso3, ComponentWeight.framework_id == framework_id,
        ComponentWeight.component_id == component_id)).scalar_one_or_none()
    if w is None:
        w = ComponentWeight(country_iso3=country.iso3, framework_id=framework_id, component_id=component_id)
        session.add(w)
    w.weight = str(value.normalize())
    session.flush()
    return w


def _peer_rationales(session: Session, framework_id: str) -> dict[str, tuple[int, dict[str, Any]]]:
    """Latest published answers with rationale, per country."""
    stmt = select(Assessment, PublishedVersion).join(
        PublishedVersion, (PublishedVersion.assessment_id == Assessment.id)
        & (PublishedVersion.number == Assessment.published_version)).where(
        Assessment.published_version > 0, Assessment.subdivision == "", Assessment.framework_id == framework_id)
    out: dict[str, tuple[int, dict[str, Any]]] = {}
    for a, pv in session.execute(stmt.order_by(Assessment.country_iso3, Assessment.year)).all():
        out[a.country_iso3] = (a.year, json.loads(pv.snapshot)["answers"])
    return out


def priorities(session: Session, iso3: str, framework_id: str = service.DEFAULT_FRAMEWORK) -> dict[str, Any]:
    """The country's gaps, highest priority first, from its latest published assessment."""
    country = reference.get_country(session, iso3)
    latest = service.latest_published(session, framework_id=framework_id)
    if country.iso3 not in latest:
        return {"country": country.iso3, "year": None, "gaps": []}
    pub = latest[country.iso3]
    locale = i18n.get_locale()
    doc = service.framework_document(service.get_framework(session, framework_id))
    texts = {str(i["code"]): (str(c["id"]), i) for c in doc["components"] for i in c["indicators"]}
    own_targets = targets(session, country.iso3, framework_id, pub.year + 1)
    own_weights = weights(session, country.iso3, framework_id)
    peers_all = _peer_rationales(session, framework_id)
    others = reference.countries_by_code(session, [p for p in peers_all if p != country.iso3])
    raw: dict[str, tuple[int | None, int]] = {}
    for code in pub.structure.core_codes:
        phase = pub.values.get(code)
        current = phase or 0
        target = own_targets.get(code, min(5, current + 1))
        if target > current:
            raw[code] = (phase, target)
    deps = dependencies(framework_id)
    gaps = []
    for order, (code, (phase, target)) in enumerate(raw.items()):
        cid, ind = texts[code]
        blocks = sorted({after for before, after in deps if before == code and after in raw})
        weight = own_weights.get(cid, Decimal(1))
        priority = Decimal(target - (phase or 0)) * weight * (1 + DEPENDENCY_BONUS * len(blocks))
        next_phase = str(min(5, (phase or 0) + 1))
        requirement = ind["descriptors"][next_phase].get(locale) or ind["descriptors"][next_phase]["en"]
        peers = []
        region = country.who_region
        for other_iso3, (year, answers) in sorted(
                peers_all.items(), key=lambda p: (others.get(p[0]) is None or others[p[0]].who_region != region, p[0])):
            if other_iso3 == country.iso3 or other_iso3 not in others:
                continue
            ans = answers.get(code) or {}
            if ans.get("phase") is not None and ans["phase"] >= int(next_phase):
                peers.append(Peer(other_iso3, reference.country_name(others[other_iso3], locale), year, ans["phase"],
                                  ans.get("rationale", "")))
            if len(peers) >= MAX_PEERS:
                break
        gaps.append((-priority, order, Gap(code, cid, ind["title"].get(locale) or ind["title"]["en"], phase, target,
                                           target - (phase or 0), weight, blocks, priority, requirement, peers)))
    gaps.sort(key=lambda g: (g[0], g[1]))
    return {"country": country.iso3, "year": pub.year, "gaps": [g[2] for g in gaps]}


def priorities_csv(result: dict[str, Any]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["rank", "indicator", "component", "title", "phase", "target", "gap", "component_weight", "blocks",
                "priority", "next_phase_requires", "peers"])
    for rank, g in enumerate(result["gaps"], start=1):
        w.writerow([rank, g.code, g.component_id, g.title, "NA" if g.phase is None else g.phase, g.target, g.gap,
                    g.weight, " ".join(g.dependents), g.priority, g.next_requirement,
                    " ".join(f"{p.iso3}:{p.phase}" for p in g.peers)])
    return buf.getvalue()


# ---------------------------------------------------------------- the settings page: targets and weights together

WEIGHT_TEXT = re.compile(r"^\d{1,2}(?:[.,]\d{1,2})?$")


@dataclass(frozen=True)
class CountryLatest:
    """A country's latest published national assessment: its framework, year and phases."""

    framework_id: str
    year: int | None
    phases: dict[str, int | None]


def country_latest(session: Session, iso3: str, framework_id: str | None = None) -> CountryLatest:
    """The framework, year and published phases of the country's latest published national
    assessment (with ``framework_id`` if given). With none published: the default framework and no
    phases."""
    stmt = select(Assessment.framework_id, Assessment.year, PublishedVersion.snapshot).join(
        PublishedVersion, (PublishedVersion.assessment_id == Assessment.id)
        & (PublishedVersion.number == Assessment.published_version)).where(
        Assessment.country_iso3 == iso3, Assessment.published_version > 0, Assessment.subdivision == "")
    if framework_id is not None:
        stmt = stmt.where(Assessment.framework_id == framework_id)
    row = session.execute(stmt.order_by(Assessment.year.desc()).limit(1)).first()
    if row is None:
        return CountryLatest(framework_id or service.DEFAULT_FRAMEWORK, None, {})
    answers = json.loads(row.snapshot)["answers"]
    return CountryLatest(row.framework_id, row.year, {code: v.get("phase") for code, v in answers.items()})


def weight_text(value: Decimal) -> str:
    """A weight as plain decimal text (10, not 1E+1)."""
    return format(value.normalize(), "f")


def _parse_weight(raw: Any) -> Decimal | None:
    """None when the text is not a decimal number from 0 to 10 with at most two decimals."""
    text = str(raw).strip()
    if not WEIGHT_TEXT.match(text):
        return None
    value = Decimal(text.replace(",", "."))
    return value if Decimal(0) <= value <= Decimal(10) else None


def save_settings(session: Session, principal: Principal, iso3: str, year: Any,
                  own_targets: dict[str, Any], own_weights: dict[str, Any],
                  framework_id: str = service.DEFAULT_FRAMEWORK) -> int:
    """Save a country's targets for one year and its component weights, all or nothing.

    ``own_targets`` maps core indicator codes to a phase (1-5, at least the latest published phase:
    a target below where the country is would mean nothing) or to "" / None for the default (the
    next phase); ``own_weights`` maps component ids to a number from 0 to 10 ("," or "." as the
    decimal sign) or to "" / None for the default (1). Every value is checked before anything is
    written; only values that change are written. Returns the number of rows written or removed."""
    country = reference.get_country(session, iso3)
    authorize(session, principal, "country_data.edit", service._target(session, country.iso3))
    service.get_framework(session, framework_id)
    st = service.structure(session, framework_id)
    components = {c.id for c in st.components}
    current = country_latest(session, country.iso3, framework_id).phases
    errors: list[FieldError] = []
    plain = isinstance(year, int) or (isinstance(year, str) and re.fullmatch(r"[0-9]{1,4}", year.strip()))
    the_year = int(year) if plain else 0
    if isinstance(year, bool) or not 2000 <= the_year <= 2100:
        errors.append(FieldError("year", _("the year must be a number from 2000 to 2100")))
    phases: dict[str, int | None] = {}
    for code, raw in own_targets.items():
        field_name = f"target-{str(code)[:16]}"
        if code not in st.core_codes:
            errors.append(FieldError(field_name, _("unknown core indicator %(code)s", code=str(code)[:16])))
            continue
        text = "" if raw is None else str(raw).strip()
        if text == "":
            phases[code] = None
            continue
        if isinstance(raw, bool) or text not in {"1", "2", "3", "4", "5"}:
            errors.append(FieldError(field_name, _("must be a phase from 1 to 5, or empty for the default")))
            continue
        phase, now = int(text), current.get(code)
        if now is not None and phase < now:
            errors.append(FieldError(field_name, _(
                "is below the current phase %(phase)s: a target must be at least where the country is now",
                phase=now)))
            continue
        phases[code] = phase
    values: dict[str, Decimal | None] = {}
    for cid, raw in own_weights.items():
        field_name = f"weight-{str(cid)[:16]}"
        if cid not in components:
            errors.append(FieldError(field_name, _("unknown component %(id)s", id=str(cid)[:16])))
            continue
        if raw is None or str(raw).strip() == "":
            values[cid] = None
            continue
        value = _parse_weight(raw)
        if value is None:
            errors.append(FieldError(field_name, _("must be a number from 0 to 10, with at most two decimals")))
            continue
        values[cid] = value
    if errors:
        raise ValidationFailed(_("The targets and weights are not valid; nothing was saved."), errors=errors)
    written = 0
    rows = {t.indicator_code: t for t in session.execute(select(Target).where(
        Target.country_iso3 == country.iso3, Target.framework_id == framework_id, Target.year == the_year)).scalars()}
    for code, phase in phases.items():
        row = rows.get(code)
        if phase is None:
            if row is not None:
                session.delete(row)
                written += 1
        elif row is None:
            session.add(Target(country_iso3=country.iso3, framework_id=framework_id, indicator_code=code,
                               year=the_year, phase=phase))
            written += 1
        elif row.phase != phase:
            row.phase = phase
            written += 1
    stored = {w.component_id: w for w in session.execute(select(ComponentWeight).where(
        ComponentWeight.country_iso3 == country.iso3, ComponentWeight.framework_id == framework_id)).scalars()}
    for cid, value in values.items():
        row = stored.get(cid)
        if value is None:
            if row is not None:
                session.delete(row)
                written += 1
        elif row is None:
            if value != Decimal(1):  # the default needs no row
                session.add(ComponentWeight(country_iso3=country.iso3, framework_id=framework_id, component_id=cid,
                                            weight=weight_text(value)))
                written += 1
        elif Decimal(row.weight) != value:
            row.weight = weight_text(value)
            written += 1
    session.flush()
    return written
