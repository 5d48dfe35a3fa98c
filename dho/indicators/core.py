"""The shipped core set of indicator definitions (data/core.json), loaded idempotently at bootstrap.

A definition is added only when no definition with its code exists, so an admin's later edits
(new versions) are never overwritten by a restart; shipped targets are added the same way."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from dho.accounts.permissions import Principal, authorize
from dho.indicators import epoch, service
from dho.indicators.models import DataEpoch, IndicatorDefinition, IndicatorTarget
from dho.indicators.spec import parse_spec, references

CORE_FILE = Path(__file__).parent / "data" / "core.json"
FIELDS = ("code", "objective", "name_en", "name_fr", "description_en", "description_fr", "spec")


def shipped_definitions(path: Path = CORE_FILE) -> list[dict[str, Any]]:
    doc = json.loads(path.read_text(encoding="utf-8"))
    return list(doc["definitions"])


def _in_reference_order(defs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by_code = {d["code"]: d for d in defs}
    done: list[str] = []

    def visit(code: str) -> None:
        if code in done or code not in by_code:
            return
        for ref in sorted(references(parse_spec(by_code[code]["spec"]))):
            visit(ref)
        done.append(code)

    for d in defs:
        visit(d["code"])
    return [by_code[c] for c in done]


def load_shipped(session: Session, principal: Principal, path: Path = CORE_FILE) -> list[str]:
    """Add the shipped definitions the database does not have yet; return their codes."""
    authorize(session, principal, "indicators.manage")
    if session.get(DataEpoch, 1) is None:
        session.add(DataEpoch(id=1, epoch=0))
        session.flush()
    existing = set(session.execute(select(IndicatorDefinition.code)).scalars())
    added = []
    for d in _in_reference_order(shipped_definitions(path)):
        if d["code"] in existing:
            continue
        service.create(session, principal, {k: d.get(k) for k in FIELDS}, shipped=True)
        added.append(d["code"])
        for t in d.get("targets", []):
            have = session.execute(select(IndicatorTarget.id).where(
                IndicatorTarget.code == d["code"], IndicatorTarget.geo == t["geo"],
                IndicatorTarget.period == t["period"])).first()
            if not have:
                service.set_target(session, principal, d["code"], {**t, "unit": d["spec"]["unit"]})
    if added:
        epoch.bump(session)
    return added
