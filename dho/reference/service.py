"""Reference data: loading a release (idempotent, diff-based, audited) and reading it."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from babel import Locale
from sqlalchemy import delete, func, insert, or_, select
from sqlalchemy.orm import Session

from dho.accounts.permissions import Principal, authorize
from dho.audit.chain import Change, append
from dho.db import utcnow
from dho.errors import NotFound
from dho.i18n import _
from dho.reference import loader
from dho.reference.models import (
    ClassificationCode,
    ClassificationMap,
    ClassificationScheme,
    Country,
    IncomeGroup,
    IncomeGroupName,
    ReferenceRelease,
    StrategyElement,
    WhoRegion,
)

# table model, key columns, what happens to rows missing from a new release
_TABLES: list[tuple[type, tuple[str, ...], str]] = [
    (WhoRegion, ("code",), "keep"),
    (IncomeGroupName, ("code",), "keep"),
    (Country, ("iso3",), "retire"),
    (IncomeGroup, ("iso3", "fiscal_year"), "delete"),
    (ClassificationScheme, ("id",), "keep"),
    (ClassificationCode, ("scheme", "code"), "retire"),
    (ClassificationMap, ("from_scheme", "from_code", "to_scheme", "to_code"), "delete"),
    (StrategyElement, ("id",), "delete"),
]


@dataclass
class LoadSummary:
    checksum: str
    unchanged: bool
    counts: dict[str, dict[str, int]]

    def as_dict(self) -> dict[str, Any]:
        return {"checksum": self.checksum, "unchanged": self.unchanged, "counts": self.counts}


def _rows_for(release: loader.Release, model: type) -> list[dict[str, Any]]:
    return {
        WhoRegion: release.regions, IncomeGroupName: release.income_names, Country: release.countries,
        IncomeGroup: release.income, ClassificationScheme: release.schemes,
        ClassificationCode: release.codes, ClassificationMap: release.maps, StrategyElement: release.strategy,
    }[model]


def _columns(model: type, rows: list[dict[str, Any]]) -> list[str]:
    return list(rows[0].keys()) if rows else []


def load(session: Session, principal: Principal, directory: Path | None = None) -> LoadSummary:
    """Apply a reference release. Rows are matched by their natural keys: new ones are added,
    changed ones updated, missing ones retired (countries, codes) or removed (maps, income years).
    User data refers to reference rows by key and is never touched. Loading the same release
    twice writes nothing."""
    authorize(session, principal, "reference.load")
    release = loader.read_release(directory or loader.DATA_DIR)
    counts: dict[str, dict[str, int]] = {}
    changes: list[Change] = []
    for model, keys, missing_policy in _TABLES:
        rows = _rows_for(release, model)
        cols = _columns(model, rows)
        existing = {
            tuple(getattr(obj, k) for k in keys): obj for obj in session.execute(select(model)).scalars()
        }
        was_empty = not existing
        added = updated = retired = 0
        new_rows = []
        seen = set()
        for row in rows:
            key = tuple(row[k] for k in keys)
            seen.add(key)
            obj = existing.get(key)
            if obj is None:
                new_rows.append(row)
                added += 1
                if not was_empty:
                    changes.append(Change("create", model.__tablename__, "/".join(map(str, key)), None, row))
                continue
            before = {c: getattr(obj, c) for c in cols if getattr(obj, c) != row[c]}
            if before:
                for c in before:
                    setattr(obj, c, row[c])
                updated += 1
                changes.append(Change("update", model.__tablename__, "/".join(map(str, key)),
                                      before, {c: row[c] for c in before}))
        for key, obj in existing.items():
            if key in seen:
                continue
            if missing_policy == "retire" and not obj.retired:
                obj.retired = True
                retired += 1
                changes.append(Change("retire", model.__tablename__, "/".join(map(str, key)),
                                      {"retired": False}, {"retired": True}))
            elif missing_policy == "delete":
                session.delete(obj)
                retired += 1
                changes.append(Change("delete", model.__tablename__, "/".join(map(str, key)),
                                      {k: getattr(obj, k) for k in keys}, None))
        session.flush()
        if new_rows:
            session.execute(insert(model), new_rows)
        counts[model.__tablename__] = {"added": added, "updated": updated, "removed": retired}
        if was_empty and added:
            changes.append(Change("load", model.__tablename__, "*", None, {"rows": added}))

    _SMALL_CACHE.clear()
    unchanged = not changes
    if not unchanged:
        summary = {"checksum": release.checksum, "counts": counts}
        session.add(ReferenceRelease(checksum=release.checksum, loaded_at=utcnow(),
                                     summary=json.dumps(summary, sort_keys=True)))
        changes.append(Change("load", "ref_release", release.checksum[:16], None, summary))
        session.flush()
        append(session.connection(), principal.actor, changes)
    return LoadSummary(release.checksum, unchanged, counts)


# ---------------------------------------------------------------- reading


def localized(obj: Any, field: str, locale: str) -> str:
    value = getattr(obj, f"{field}_{locale}", None)
    return value or getattr(obj, f"{field}_en")


@lru_cache(maxsize=8)
def _territories(locale: str) -> dict[str, str]:
    try:
        return dict(Locale.parse(locale).territories)
    except (ValueError, LookupError):
        return {}


def country_name(country: Country, locale: str = "en") -> str:
    """The country's name in the user's language: in French the official WHO/UN short name where
    it is shipped (country_names_fr.json), else the CLDR name; in other languages CLDR; in English
    the WHO name."""
    if locale == "fr" and country.name_fr:
        return country.name_fr
    if locale != "en" and country.iso2:
        name = _territories(locale).get(country.iso2)
        if name:
            return name
    return country.name


@dataclass(frozen=True)
class NamedCode:
    """A region or income group as plain values (safe to cache and share between requests)."""

    code: str
    name_en: str
    name_fr: str
    office: str = ""


_SMALL_CACHE: dict[tuple[str, str], tuple[float, list[NamedCode]]] = {}
_SMALL_CACHE_SECONDS = 60.0


def _cached(session: Session, key: str, load: Callable[[], list[NamedCode]]) -> list[NamedCode]:
    """Tiny lists that change only with a reference release: cached per database for a minute
    (cleared at once by a load in this process)."""
    cache_key = (str(session.get_bind().url), key)
    hit = _SMALL_CACHE.get(cache_key)
    now = time.monotonic()
    if hit is not None and now - hit[0] < _SMALL_CACHE_SECONDS:
        return hit[1]
    value = load()
    _SMALL_CACHE[cache_key] = (now, value)
    return value


def regions(session: Session) -> list[NamedCode]:
    return _cached(session, "regions", lambda: [
        NamedCode(r.code, r.name_en, r.name_fr, r.office)
        for r in session.execute(select(WhoRegion).order_by(WhoRegion.code)).scalars()])


def income_group_names(session: Session) -> list[NamedCode]:
    order = {"LIC": 0, "LMC": 1, "UMC": 2, "HIC": 3}

    def load() -> list[NamedCode]:
        rows = [NamedCode(r.code, r.name_en, r.name_fr) for r in session.execute(select(IncomeGroupName)).scalars()]
        return sorted(rows, key=lambda r: order.get(r.code, 9))

    return _cached(session, "income_groups", load)


def get_country(session: Session, iso3: str) -> Country:
    country = session.get(Country, iso3.upper()) if iso3 and len(iso3) == 3 else None
    if country is None:
        raise NotFound(_("No country or area with code %(code)r.", code=iso3))
    return country


def _lookup(session: Session, key: str, load: Callable[[], dict[Any, Any]]) -> dict[Any, Any]:
    """Whole small tables as maps, cached like the region list (a minute; cleared by a load)."""
    cache_key = (str(session.get_bind().url), key)
    hit = _SMALL_CACHE.get(cache_key)
    now = time.monotonic()
    if hit is not None and now - hit[0] < _SMALL_CACHE_SECONDS:
        return hit[1]  # type: ignore[return-value]
    value = load()
    _SMALL_CACHE[cache_key] = (now, value)  # type: ignore[assignment]
    return value


def region_of(session: Session, iso3: str | None) -> str | None:
    if not iso3:
        return None
    return _lookup(session, "region_of", lambda: dict(session.execute(
        select(Country.iso3, Country.who_region)).all())).get(iso3)


def income_history(session: Session, iso3: str) -> list[IncomeGroup]:
    return list(session.execute(
        select(IncomeGroup).where(IncomeGroup.iso3 == iso3).order_by(IncomeGroup.fiscal_year)
    ).scalars())


def income_group_in(session: Session, iso3: str, fiscal_year: int) -> str | None:
    table = _lookup(session, "income_groups_by_year", lambda: {
        (r.iso3, r.fiscal_year): r.income_group for r in session.execute(
            select(IncomeGroup.iso3, IncomeGroup.fiscal_year, IncomeGroup.income_group)).all()})
    return table.get((iso3, fiscal_year))


def search_countries(
    session: Session, *, q: str | None = None, region: str | None = None, income: str | None = None,
    members_only: bool = False, limit: int = 50, offset: int = 0,
) -> tuple[list[Country], int]:
    stmt = select(Country).where(Country.retired.is_(False))
    if q:
        folded = loader.fold(q.strip()).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        stmt = stmt.where(Country.search_text.like(f"%{folded}%", escape="\\"))
    if region:
        stmt = stmt.where(Country.who_region == region)
    if income:
        stmt = stmt.where(Country.wb_income_group == income)
    if members_only:
        stmt = stmt.where(Country.who_member.is_(True))
    total = session.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
    rows = session.execute(stmt.order_by(Country.name).limit(limit).offset(offset)).scalars().all()
    return list(rows), total


def schemes(session: Session) -> list[ClassificationScheme]:
    return list(session.execute(select(ClassificationScheme).order_by(ClassificationScheme.position)).scalars())


def get_scheme(session: Session, scheme: str) -> ClassificationScheme:
    obj = session.get(ClassificationScheme, scheme)
    if obj is None:
        raise NotFound(_("No classification %(scheme)r.", scheme=scheme))
    return obj


def search_codes(
    session: Session, scheme: str, *, q: str | None = None, level: str | None = None,
    parent: str | None = None, limit: int = 500, offset: int = 0,
) -> tuple[list[ClassificationCode], int]:
    get_scheme(session, scheme)
    stmt = select(ClassificationCode).where(ClassificationCode.scheme == scheme,
                                            ClassificationCode.retired.is_(False))
    if q:
        like = f"%{q.strip().lower()}%"
        stmt = stmt.where(or_(func.lower(ClassificationCode.name).like(like), ClassificationCode.code == q.strip()))
    if level:
        stmt = stmt.where(ClassificationCode.level == level)
    if parent:
        stmt = stmt.where(ClassificationCode.parent_code == parent)
    total = session.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
    rows = session.execute(stmt.order_by(ClassificationCode.sort_key).limit(limit).offset(offset)).scalars()
    return list(rows), total


@dataclass
class CodeDetail:
    code: ClassificationCode
    parent: ClassificationCode | None
    children: list[ClassificationCode]
    maps_to: list[tuple[ClassificationMap, ClassificationCode | None]]
    maps_from: list[tuple[ClassificationMap, ClassificationCode]]

    @property
    def attributes(self) -> dict[str, Any]:
        return json.loads(self.code.attributes)


def get_code(session: Session, scheme: str, code: str) -> CodeDetail:
    obj = session.get(ClassificationCode, (scheme, code))
    if obj is None:
        raise NotFound(_("No code %(code)r in classification %(scheme)r.", code=code, scheme=scheme))
    parent = session.get(ClassificationCode, (scheme, obj.parent_code)) if obj.parent_code else None
    children = list(session.execute(
        select(ClassificationCode).where(ClassificationCode.scheme == scheme, ClassificationCode.parent_code == code)
        .order_by(ClassificationCode.sort_key)
    ).scalars())
    maps_to = [
        (m, session.get(ClassificationCode, (m.to_scheme, m.to_code)) if m.to_code else None)
        for m in session.execute(select(ClassificationMap).where(
            ClassificationMap.from_scheme == scheme, ClassificationMap.from_code == code)).scalars()
    ]
    maps_from = [
        (m, session.get(ClassificationCode, (m.from_scheme, m.from_code)))
        for m in session.execute(select(ClassificationMap).where(
            ClassificationMap.to_scheme == scheme, ClassificationMap.to_code == code)).scalars()
    ]
    return CodeDetail(obj, parent, children, maps_to, maps_from)


def strategy_elements(session: Session) -> list[StrategyElement]:
    return list(session.execute(select(StrategyElement).order_by(StrategyElement.position)).scalars())


def latest_release(session: Session) -> ReferenceRelease | None:
    return session.execute(select(ReferenceRelease).order_by(ReferenceRelease.id.desc()).limit(1)).scalar_one_or_none()


def clear_all(session: Session) -> None:
    """Remove every reference row (used only when restoring an archive into an empty database)."""
    for model, _k, _p in reversed(_TABLES):
        session.execute(delete(model))


def code_counts(session: Session) -> dict[str, int]:
    return dict(session.execute(  # type: ignore[arg-type]
        select(ClassificationCode.scheme, func.count()).where(ClassificationCode.retired.is_(False))
        .group_by(ClassificationCode.scheme)).all())


def root_codes(session: Session) -> dict[str, list[ClassificationCode]]:
    out: dict[str, list[ClassificationCode]] = {}
    for c in session.execute(select(ClassificationCode).where(
            ClassificationCode.parent_code.is_(None), ClassificationCode.retired.is_(False))
            .order_by(ClassificationCode.scheme, ClassificationCode.sort_key)).scalars():
        out.setdefault(c.scheme, []).append(c)
    return out


def countries_by_code(session: Session, codes: Iterable[str]) -> dict[str, Country]:
    wanted = list(codes)
    if not wanted:
        return {}
    return {c.iso3: c for c in session.execute(select(Country).where(Country.iso3.in_(wanted))).scalars()}
