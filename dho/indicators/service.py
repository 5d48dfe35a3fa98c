"""Indicator definitions and targets: list, read with versions, create, edit (a new version; earlier
ones kept), set targets (in the definition's unit). Every write checks ``indicators.manage``,
validates fully before writing anything, and is audited by the flush hook; the data-epoch hook
then invalidates cached results."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from dho.accounts.permissions import Principal, authorize
from dho.errors import FieldError, NotFound, ValidationFailed
from dho.i18n import _
from dho.indicators import engine
from dho.indicators.models import IndicatorDefinition, IndicatorTarget
from dho.indicators.spec import UNITS, Spec, SpecError, check_references, parse_spec, period_errors

CODE = re.compile(r"^[A-Z][A-Z0-9_]{1,39}$")
GEO = re.compile(r"^(WORLD|[A-Z]{3}|[A-Z]{3,4})$")
OBJECTIVES = ("SO1", "SO2", "SO3", "SO4")
TEXT_FIELDS = {"name_en": 300, "name_fr": 300, "description_en": 4000, "description_fr": 4000}
ALLOWED = {"code", "objective", "spec", *TEXT_FIELDS}
MAX_TARGET = Decimal("1e14")


def _fail(errors: list[tuple[str, str]] | list[FieldError], detail: str | None = None) -> ValidationFailed:
    fe = [e if isinstance(e, FieldError) else FieldError(e[0], e[1]) for e in errors]
    return ValidationFailed(detail or _("The indicator definition is not valid."), errors=fe)


def list_definitions(session: Session, locale: str | None = None) -> list[engine.Definition]:
    return engine.definitions(session, locale)


def get_row(session: Session, code: str) -> IndicatorDefinition:
    row = session.execute(select(IndicatorDefinition).where(
        IndicatorDefinition.code == str(code).upper()[:40], IndicatorDefinition.current.is_(True))).scalars().first()
    if row is None:
        raise NotFound(_("No indicator %(code)s.", code=code))
    return row


def get(session: Session, code: str, locale: str | None = None) -> engine.Definition:
    from dho.i18n import get_locale

    row = get_row(session, code)
    spec = parse_spec(row.spec)
    return engine.definition_of(row, spec, locale or get_locale(), targets(session, row.code))


def versions(session: Session, code: str) -> list[IndicatorDefinition]:
    rows = list(session.execute(select(IndicatorDefinition).where(IndicatorDefinition.code == str(code).upper())
                                .order_by(IndicatorDefinition.version.desc())).scalars())
    if not rows:
        raise NotFound(_("No indicator %(code)s.", code=code))
    return rows


def targets(session: Session, code: str) -> dict[tuple[str, str], float]:
    return {(t.geo, t.period): float(t.value) for t in session.execute(
        select(IndicatorTarget).where(IndicatorTarget.code == code)).scalars()}


def _current_specs(session: Session, skip: str | None = None) -> dict[str, Spec]:
    out = {}
    for row in engine.current_definitions(session):
        if row.code == skip:
            continue
        try:
            out[row.code] = parse_spec(row.spec)
        except SpecError:
            continue
    return out


def _clean(data: Mapping[str, Any], *, code_required: bool) -> tuple[dict[str, Any], Spec]:
    if not isinstance(data, Mapping):
        raise _fail([("body", _("Send a JSON object."))])
    errors: list[tuple[str, str]] = [(k, _("unknown field")) for k in data if k not in ALLOWED]
    out: dict[str, Any] = {}
    if code_required:
        code = data.get("code")
        if not isinstance(code, str) or not CODE.match(code):
            errors.append(("code", _("use 2 to 40 capital letters, digits or _ , starting with a letter")))
        else:
            out["code"] = code
    objective = data.get("objective")
    if objective in ("", None):
        out["objective"] = None
    elif objective not in OBJECTIVES:
        errors.append(("objective", _("use SO1, SO2, SO3, SO4 or leave empty")))
    else:
        out["objective"] = objective
    for name, limit in TEXT_FIELDS.items():
        value = data.get(name, "")
        if not isinstance(value, str):
            errors.append((name, _("must be text")))
            continue
        value = value.strip()
        if len(value) > limit:
            errors.append((name, _("at most %(n)s characters", n=limit)))
        if name.startswith("name") and not value:
            errors.append((name, _("required")))
        if any(ord(ch) < 32 and ch not in "\n\t" for ch in value):
            errors.append((name, _("control characters are not allowed")))
        out[name] = value
    spec = None
    try:
        spec = parse_spec(data.get("spec"))
    except SpecError as exc:
        errors.extend((f"spec.{f}" if not f.startswith("spec") else f, m) for f, m in exc.errors)
    if errors or spec is None:
        raise _fail(errors)
    return out, spec


def create(session: Session, principal: Principal, data: Mapping[str, Any], *, shipped: bool = False
           ) -> IndicatorDefinition:
    """Add a new indicator (version 1)."""
    authorize(session, principal, "indicators.manage")
    clean, spec = _clean(data, code_required=True)
    if session.execute(select(IndicatorDefinition.id).where(IndicatorDefinition.code == clean["code"])).first():
        raise _fail([("code", _("an indicator with this code exists; edit it instead"))])
    try:
        check_references(clean["code"], spec, _current_specs(session))
    except SpecError as exc:
        raise _fail([(f"spec.{f}", m) for f, m in exc.errors]) from None
    row = IndicatorDefinition(code=clean["code"], version=1, current=True, objective=clean["objective"],
                              name_en=clean["name_en"], name_fr=clean["name_fr"],
                              description_en=clean["description_en"], description_fr=clean["description_fr"],
                              spec=spec.canonical(), shipped=shipped, created_by=principal.actor.label)
    session.add(row)
    session.flush()
    return row


def edit(session: Session, principal: Principal, code: str, data: Mapping[str, Any]) -> IndicatorDefinition:
    """Save a new version of an indicator; the earlier versions stay (no longer current)."""
    authorize(session, principal, "indicators.manage")
    old = get_row(session, code)
    if isinstance(data, Mapping) and "code" in data and data["code"] != old.code:
        raise _fail([("code", _("the code of an indicator cannot change"))])
    clean, spec = _clean({k: v for k, v in data.items() if k != "code"} if isinstance(data, Mapping) else data,
                         code_required=False)
    try:
        check_references(old.code, spec, _current_specs(session, skip=old.code))
    except SpecError as exc:
        raise _fail([(f"spec.{f}", m) for f, m in exc.errors]) from None
    wrong = _targets_in_other_unit(session, old.code, spec)
    if wrong:
        raise _fail([("spec.unit", _("targets of this indicator are in %(unit)s; change or remove them first",
                                     unit=wrong))])
    old.current = False
    session.flush()
    row = IndicatorDefinition(code=old.code, version=old.version + 1, current=True, objective=clean["objective"],
                              name_en=clean["name_en"], name_fr=clean["name_fr"],
                              description_en=clean["description_en"], description_fr=clean["description_fr"],
                              spec=spec.canonical(), shipped=old.shipped, created_by=principal.actor.label)
    session.add(row)
    session.flush()
    return row


def _targets_in_other_unit(session: Session, code: str, spec: Spec) -> str | None:
    for unit, in session.execute(select(IndicatorTarget.unit).where(IndicatorTarget.code == code)):
        if unit != spec.unit:
            return unit
    return None


def set_target(session: Session, principal: Principal, code: str, data: Mapping[str, Any]) -> IndicatorTarget:
    """Set (or replace) the target of an indicator for a geography and period. The unit must be the
    definition's: a target of 80 "percent" on a "number" indicator is refused, not converted."""
    authorize(session, principal, "indicators.manage")
    row = get_row(session, code)
    spec = parse_spec(row.spec)
    if not isinstance(data, Mapping):
        raise _fail([("body", _("Send a JSON object."))], _("The target is not valid."))
    errors: list[tuple[str, str]] = [(k, _("unknown field")) for k in data if k not in ("geo", "period", "value",
                                                                                           "unit")]
    geo = data.get("geo", "WORLD")
    if not isinstance(geo, str) or not GEO.match(geo):
        errors.append(("geo", _("use WORLD, a WHO region code, an income group code or an ISO3 country code")))
    period = data.get("period")
    if not isinstance(period, str):
        errors.append(("period", _("required, e.g. 2027")))
    else:
        errors.extend(("period", m) for m in period_errors(period, spec))
    unit = data.get("unit")
    if unit not in UNITS:
        errors.append(("unit", _("use one of %(units)s", units=", ".join(UNITS))))
    elif unit != spec.unit:
        errors.append(("unit", _("this indicator is measured in %(unit)s, not %(given)s", unit=spec.unit, given=unit)))
    raw = data.get("value")
    value = None
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        errors.append(("value", _("a number is required")))
    else:
        try:
            value = Decimal(str(raw))
            if not value.is_finite() or abs(value) > MAX_TARGET:
                raise InvalidOperation
        except InvalidOperation:
            errors.append(("value", _("a number is required")))
            value = None
    if value is not None and value < 0:
        errors.append(("value", _("a target cannot be negative")))
    if value is not None and unit == spec.unit == "phase" and not Decimal(1) <= value <= Decimal(5):
        errors.append(("value", _("a phase is between 1 and 5")))
    if errors or value is None:
        raise _fail(errors, _("The target is not valid."))
    target = session.execute(select(IndicatorTarget).where(
        IndicatorTarget.code == row.code, IndicatorTarget.geo == geo, IndicatorTarget.period == period)
    ).scalars().first()
    if target is None:
        target = IndicatorTarget(code=row.code, geo=geo, period=period, value=value, unit=unit,
                                 set_by=principal.actor.label)
        session.add(target)
    else:
        target.value, target.unit, target.set_by = value, unit, principal.actor.label
    session.flush()
    return target


def definition_json(row: IndicatorDefinition) -> dict[str, Any]:
    return {"code": row.code, "version": row.version, "current": row.current, "objective": row.objective,
            "name_en": row.name_en, "name_fr": row.name_fr, "description_en": row.description_en,
            "description_fr": row.description_fr, "spec": json.loads(row.spec), "shipped": row.shipped,
            "created_by": row.created_by, "created_at": row.created_at.isoformat() if row.created_at else None}
