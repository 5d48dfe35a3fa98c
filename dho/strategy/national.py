"""National strategy registry and network memberships: the service behind the pages, API and demo.

A country has at most one *current* strategy (``superseded_by_id`` empty); replacing it by a new one
keeps the old row readable and points it at its successor. Every status change appends a dated
StrategyEvent, so the status a country had on any date can be read back from the history.
Writes check ``strategy.national.edit`` against the country (and its WHO region), validate every
field before anything is written, and use the row's version for optimistic locking. Reads are public.

Memberships of collaborations (e.g. the Global Digital Health Partnership, ``gdhp``) are dated
join/leave records; only platform-wide editors (admin, Secretariat) change them."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator
from sqlalchemy import case, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from dho import i18n, linkcheck
from dho.accounts.permissions import Principal, Target, authorize
from dho.errors import Conflict, FieldError, NotFound, Unauthenticated, ValidationFailed
from dho.i18n import _
from dho.reference import service as reference
from dho.reference.models import Country
from dho.strategy.models import (
    STRATEGY_STATUSES,
    NationalStrategy,
    Partnership,
    StrategyComponent,
    StrategyDocument,
    StrategyEvent,
    StrategyObjective,
)

COMPONENTS = tuple(f"NSC{i}" for i in range(1, 10))
OBJECTIVES = ("SO1", "SO2", "SO3", "SO4")
COVERAGES = ("full", "partial")
# A country "has a national digital-health strategy" when its current strategy is in one of these.
WITH_STRATEGY = ("approved", "costed_plan_approved", "implementing", "evaluated")
# A costed plan is approved at this status and every later one.
WITH_COSTED_PLAN = ("costed_plan_approved", "implementing", "evaluated")
NETWORKS = {"gdhp": i18n._("Global Digital Health Partnership")}
MIN_YEAR, MAX_YEAR = 1990, 2100
MAX_DOCUMENTS = 30

STATUS_LABELS = {
    "none": i18n._("No strategy"), "drafting": i18n._("Being drafted"), "approved": i18n._("Approved"),
    "costed_plan_approved": i18n._("Costed plan approved"), "implementing": i18n._("Being implemented"),
    "evaluated": i18n._("Evaluated"),
}

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300,
                                        pattern=r"^[^\x00-\x1f\x7f]+$")]
Line = Annotated[str, StringConstraints(strip_whitespace=True, max_length=300, pattern=r"^[^\x00-\x1f\x7f]*$")]
Text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=10_000,
                                        pattern=r"^[^\x00-\x08\x0b\x0c\x0e-\x1f]*$")]
Note = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000,
                                        pattern=r"^[^\x00-\x08\x0b\x0c\x0e-\x1f]*$")]
Year = Annotated[int, Field(ge=MIN_YEAR, le=MAX_YEAR)]
Iso3 = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]


def _sane_date(value: dt.date | None) -> dt.date | None:
    if value is not None and not (MIN_YEAR <= value.year <= MAX_YEAR):
        raise ValueError(_("must be a date between %(a)s and %(b)s", a=MIN_YEAR, b=MAX_YEAR))
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class DocumentIn(_Strict):
    """A document of the strategy: a web address, or the SHA-256 of a file in the evidence store."""

    title: Name
    url: Annotated[str, StringConstraints(max_length=500)] | None = None
    file_sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")] | None = None
    language: Annotated[str, StringConstraints(pattern=r"^[a-z]{2}(-[A-Z]{2})?$")] | None = None
    published_on: dt.date | None = None

    _dates = field_validator("published_on")(_sane_date)

    @field_validator("url")
    @classmethod
    def _web_address(cls, value: str | None) -> str | None:
        """http(s) only, no credentials, no spaces: checked here so that its error comes with the others."""
        if value is None or value == "":
            return None
        try:
            return linkcheck.validate_url(value, "url", max_length=500)
        except ValidationFailed as exc:
            raise ValueError(exc.errors[0].message if exc.errors else exc.detail) from None

    @model_validator(mode="after")
    def _one_source(self) -> DocumentIn:
        if bool(self.url) == bool(self.file_sha256):
            raise ValueError(_("give either a web address or a stored file's SHA-256, not both or neither"))
        return self


class NationalStrategyIn(_Strict):
    """A country's strategy as the editor sends it. ``version`` is the version edited (optimistic
    locking); ``replaces_current`` starts a new strategy and keeps the current one as superseded."""

    title: Name
    status: Annotated[str, StringConstraints(max_length=24)]
    period_start: Year | None = None
    period_end: Year | None = None
    approved_on: dt.date | None = None
    costed_plan_on: dt.date | None = None
    governance_body: Line = ""
    next_cycle_year: Year | None = None
    notes: Text = ""
    components: Annotated[dict[Annotated[str, StringConstraints(max_length=40)],
                               Annotated[str, StringConstraints(max_length=8)]], Field(max_length=9)] = {}
    objectives: Annotated[list[Annotated[str, StringConstraints(max_length=8)]], Field(max_length=4)] = []
    documents: Annotated[list[DocumentIn], Field(max_length=MAX_DOCUMENTS)] = []
    status_date: dt.date | None = None
    status_note: Note = ""
    replaces_current: bool = False
    version: Annotated[int, Field(ge=1, le=2_147_483_647)] | None = None

    _dates = field_validator("approved_on", "costed_plan_on", "status_date")(_sane_date)

    @field_validator("status")
    @classmethod
    def _status(cls, value: str) -> str:
        if value not in STRATEGY_STATUSES:
            raise ValueError(_("must be one of: %(choices)s", choices=", ".join(STRATEGY_STATUSES)))
        return value

    @field_validator("components")
    @classmethod
    def _components(cls, value: dict[str, str]) -> dict[str, str]:
        for code, coverage in value.items():
            if code not in COMPONENTS:
                raise ValueError(_("%(code)s is not a national-strategy component (NSC1 to NSC9)", code=code[:40]))
            if coverage not in COVERAGES:
                raise ValueError(_("the coverage of %(code)s must be full or partial", code=code))
        return value

    @field_validator("objectives")
    @classmethod
    def _objectives(cls, value: list[str]) -> list[str]:
        for code in value:
            if code not in OBJECTIVES:
                raise ValueError(_("%(code)s is not a strategic objective (SO1 to SO4)", code=code[:8]))
        return list(dict.fromkeys(value))

    @model_validator(mode="after")
    def _in_order(self) -> NationalStrategyIn:
        if self.period_start and self.period_end and self.period_end < self.period_start:
            raise ValueError(_("the period ends (%(end)s) before it starts (%(start)s)",
                               end=self.period_end, start=self.period_start))
        return self


class StatusEventIn(_Strict):
    """A status change on its own: the new status, when it happened, and why."""

    status: Annotated[str, StringConstraints(max_length=24)]
    on_date: dt.date | None = None
    note: Note = ""
    version: Annotated[int, Field(ge=1, le=2_147_483_647)] | None = None

    _dates = field_validator("on_date")(_sane_date)

    @field_validator("status")
    @classmethod
    def _status(cls, value: str) -> str:
        if value not in STRATEGY_STATUSES:
            raise ValueError(_("must be one of: %(choices)s", choices=", ".join(STRATEGY_STATUSES)))
        return value


class PartnershipIn(_Strict):
    network: Annotated[str, StringConstraints(pattern=r"^[a-z0-9_\-]{2,16}$")]
    country_iso3: Iso3
    joined_on: dt.date
    left_on: dt.date | None = None

    _dates = field_validator("joined_on", "left_on")(_sane_date)

    @model_validator(mode="after")
    def _in_order(self) -> PartnershipIn:
        if self.left_on and self.left_on < self.joined_on:
            raise ValueError(_("the membership ends before it starts"))
        return self


# ---------------------------------------------------------------- helpers


def today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def _signed_in(principal: Principal) -> None:
    if not principal.is_authenticated:
        raise Unauthenticated(_("Sign in to do this."))


def country_target(session: Session, iso3: str) -> Target:
    return Target(country_iso3=iso3, region_code=reference.region_of(session, iso3))


def _country(session: Session, iso3: str) -> Country:
    return reference.get_country(session, (iso3 or "").upper())


def _flush(session: Session) -> None:
    try:
        session.flush()
    except StaleDataError:
        session.rollback()
        raise Conflict(_("Someone else saved this strategy meanwhile; reload it and apply your change again.")) \
            from None


def current(session: Session, iso3: str) -> NationalStrategy | None:
    """The country's current strategy (the one no other strategy replaced), if any."""
    return session.execute(select(NationalStrategy).where(
        NationalStrategy.country_iso3 == iso3.upper(), NationalStrategy.superseded_by_id.is_(None))
        .order_by(NationalStrategy.id.desc()).limit(1)).scalar_one_or_none()


def _check_version(strategy: NationalStrategy, expected: int | None) -> None:
    if expected is not None and expected != strategy.version:
        raise Conflict(_("Someone else saved this strategy meanwhile (now version %(v)s); reload it and apply "
                         "your change again.", v=strategy.version))


def _check_documents(session: Session, docs: list[DocumentIn]) -> None:
    from dho.maturity.models import EvidenceFile  # the evidence store holds the files (read only here)

    errors: list[FieldError] = []
    for n, d in enumerate(docs):
        if d.file_sha256 and session.get(EvidenceFile, d.file_sha256) is None:
            errors.append(FieldError(f"documents.{n}.file_sha256", _("no stored file has this SHA-256")))
    if errors:
        raise ValidationFailed(_("The strategy is not valid; nothing was saved."), errors=errors)


def _last_event(session: Session, strategy_id: int) -> StrategyEvent | None:
    return session.execute(select(StrategyEvent).where(StrategyEvent.strategy_id == strategy_id)
                           .order_by(StrategyEvent.on_date.desc(), StrategyEvent.id.desc()).limit(1)
                           ).scalar_one_or_none()


def _event_date(session: Session, strategy: NationalStrategy | None, on_date: dt.date | None,
                field: str) -> dt.date:
    """The date of a status change: given or today, not in the future, not before the last one."""
    when = on_date or today()
    if when > today():
        raise ValidationFailed(_("The status change is not valid; nothing was saved."),
                               errors=[FieldError(field, _("is in the future"))])
    last = _last_event(session, strategy.id) if strategy is not None and strategy.id else None
    if last is not None and when < last.on_date:
        raise ValidationFailed(_("The status change is not valid; nothing was saved."), errors=[FieldError(
            field, _("is before the last recorded change (%(date)s); the history is kept in date order",
                     date=last.on_date.isoformat()))])
    return when


# ---------------------------------------------------------------- writes


def save(session: Session, principal: Principal, iso3: str, data: NationalStrategyIn) -> NationalStrategy:
    """Record or update a country's current strategy (or start a new one that replaces it)."""
    _signed_in(principal)
    country = _country(session, iso3)
    authorize(session, principal, "strategy.national.edit", country_target(session, country.iso3))
    existing = current(session, country.iso3)
    if existing is not None:
        _check_version(existing, data.version)
    _check_documents(session, data.documents)
    fresh = existing is None or data.replaces_current
    status_changed = fresh or existing is None or existing.status != data.status
    when = _event_date(session, None if fresh else existing, data.status_date, "status_date") \
        if status_changed else None
    if fresh:
        strategy = NationalStrategy(country_iso3=country.iso3, title=data.title, status=data.status)
        session.add(strategy)
    else:
        assert existing is not None
        strategy = existing
    for key in ("title", "status", "period_start", "period_end", "approved_on", "costed_plan_on",
                "governance_body", "next_cycle_year", "notes"):
        setattr(strategy, key, getattr(data, key))
    _flush(session)
    if fresh and existing is not None:
        existing.superseded_by_id = strategy.id
        _flush(session)
    if status_changed and when is not None:
        session.add(StrategyEvent(strategy_id=strategy.id, status=data.status, on_date=when,
                                  by=principal.actor.label, note=data.status_note))
    _replace_children(session, strategy, data)
    _flush(session)
    return strategy


def _replace_children(session: Session, strategy: NationalStrategy, data: NationalStrategyIn) -> None:
    # Components and objectives are part of the strategy (not audited separately): replaced in bulk.
    session.execute(delete(StrategyComponent).where(StrategyComponent.strategy_id == strategy.id))
    session.execute(delete(StrategyObjective).where(StrategyObjective.strategy_id == strategy.id))
    session.add_all(StrategyComponent(strategy_id=strategy.id, component=c, coverage=v)
                    for c, v in sorted(data.components.items()))
    session.add_all(StrategyObjective(strategy_id=strategy.id, objective=o) for o in data.objectives)
    wanted = [(d.title, d.url, d.file_sha256, d.language, d.published_on) for d in data.documents]
    kept = []
    for doc in session.execute(select(StrategyDocument).where(StrategyDocument.strategy_id == strategy.id)
                               .order_by(StrategyDocument.id)).scalars():
        key = (doc.title, doc.url, doc.file_sha256, doc.language, doc.published_on)
        if key in wanted and key not in kept:
            kept.append(key)
        else:
            session.delete(doc)  # one by one, so that the audit log records it
    session.add_all(StrategyDocument(strategy_id=strategy.id, title=t, url=u, file_sha256=f, language=lang,
                                     published_on=p) for t, u, f, lang, p in wanted if (t, u, f, lang, p) not in kept)


def record_event(session: Session, principal: Principal, iso3: str, data: StatusEventIn) -> NationalStrategy:
    """Change the current strategy's status, with the date it happened and a note."""
    _signed_in(principal)
    country = _country(session, iso3)
    authorize(session, principal, "strategy.national.edit", country_target(session, country.iso3))
    strategy = current(session, country.iso3)
    if strategy is None:
        raise NotFound(_("%(country)s has no strategy recorded yet; record it first.", country=country.name))
    _check_version(strategy, data.version)
    when = _event_date(session, strategy, data.on_date, "on_date")
    strategy.status = data.status
    if data.status == "approved" and strategy.approved_on is None:
        strategy.approved_on = when
    if data.status == "costed_plan_approved" and strategy.costed_plan_on is None:
        strategy.costed_plan_on = when
    strategy.updated_at = dt.datetime.now(dt.UTC)
    _flush(session)
    session.add(StrategyEvent(strategy_id=strategy.id, status=data.status, on_date=when, by=principal.actor.label,
                              note=data.note))
    _flush(session)
    return strategy


# ---------------------------------------------------------------- reads


def detail(session: Session, strategy: NationalStrategy) -> dict[str, Any]:
    """A strategy as plain values: its fields, components, objectives, documents and dated history."""
    comps = session.execute(select(StrategyComponent).where(StrategyComponent.strategy_id == strategy.id)
                            ).scalars()
    objs = session.execute(select(StrategyObjective.objective).where(StrategyObjective.strategy_id == strategy.id)
                           ).scalars()
    docs = session.execute(select(StrategyDocument).where(StrategyDocument.strategy_id == strategy.id)
                           .order_by(StrategyDocument.id)).scalars()
    events = session.execute(select(StrategyEvent).where(StrategyEvent.strategy_id == strategy.id)
                             .order_by(StrategyEvent.on_date, StrategyEvent.id)).scalars()
    return {
        "id": strategy.id, "country_iso3": strategy.country_iso3, "title": strategy.title, "status": strategy.status,
        "period_start": strategy.period_start, "period_end": strategy.period_end,
        "approved_on": _iso(strategy.approved_on), "costed_plan_on": _iso(strategy.costed_plan_on),
        "governance_body": strategy.governance_body, "next_cycle_year": strategy.next_cycle_year,
        "notes": strategy.notes, "superseded_by_id": strategy.superseded_by_id, "version": strategy.version,
        "updated_at": strategy.updated_at.isoformat() if strategy.updated_at else None,
        "components": {c.component: c.coverage for c in sorted(comps, key=lambda c: COMPONENTS.index(c.component)
                                                                 if c.component in COMPONENTS else 99)},
        "objectives": sorted(objs),
        "documents": [{"id": d.id, "title": d.title, "url": d.url, "file_sha256": d.file_sha256,
                       "language": d.language, "published_on": _iso(d.published_on)} for d in docs],
        "events": [{"status": e.status, "on_date": e.on_date.isoformat(), "by": e.by, "note": e.note}
                   for e in events],
    }


def _iso(value: dt.date | None) -> str | None:
    return value.isoformat() if value else None


def country_record(session: Session, iso3: str) -> dict[str, Any]:
    """What the registry holds for one country: its current strategy (or none) and earlier ones."""
    country = _country(session, iso3)
    rows = list(session.execute(select(NationalStrategy).where(NationalStrategy.country_iso3 == country.iso3)
                                .order_by(NationalStrategy.id.desc())).scalars())
    now = next((s for s in rows if s.superseded_by_id is None), None)
    return {
        "country_iso3": country.iso3, "country": country.name, "who_region": country.who_region,
        "member_state": country.who_member, "status": now.status if now else "none",
        "strategy": detail(session, now) if now else None,
        "earlier": [detail(session, s) for s in rows if s is not now],
    }


@dataclass
class RegistryRow:
    iso3: str
    name: str
    region: str | None
    status: str
    strategy: NationalStrategy | None
    components: int
    full_components: int


def registry(session: Session, *, region: str | None = None, status: str | None = None,
             locale: str = "en") -> tuple[list[RegistryRow], dict[str, int]]:
    """Every Member State (and any other area with a record) with its current status, filtered by
    WHO region and status; the counts per status are over the region's countries (before the status
    filter), so they always add up to the number of countries shown without it."""
    countries = session.execute(select(Country).where(Country.retired.is_(False))).scalars().all()
    strategies = {s.country_iso3: s for s in session.execute(
        select(NationalStrategy).where(NationalStrategy.superseded_by_id.is_(None))
        .order_by(NationalStrategy.id)).scalars()}
    comp_counts: dict[int, tuple[int, int]] = {}
    for sid, total, full in session.execute(
            select(StrategyComponent.strategy_id, func.count(),
                   func.sum(case((StrategyComponent.coverage == "full", 1), else_=0)))
            .group_by(StrategyComponent.strategy_id)).all():
        comp_counts[sid] = (int(total), int(full or 0))
    rows: list[RegistryRow] = []
    for c in countries:
        s = strategies.get(c.iso3)
        if not c.who_member and s is None:
            continue
        if region and c.who_region != region:
            continue
        total, full = comp_counts.get(s.id, (0, 0)) if s else (0, 0)
        rows.append(RegistryRow(c.iso3, reference.country_name(c, locale), c.who_region, s.status if s else "none",
                                s, total, full))
    counts = {k: 0 for k in STRATEGY_STATUSES}
    for r in rows:
        counts[r.status] = counts.get(r.status, 0) + 1
    if status:
        rows = [r for r in rows if r.status == status]
    rows.sort(key=lambda r: r.name)
    return rows, counts


def statuses_on(session: Session, on_date: dt.date) -> dict[str, str]:
    """Each country's status on a date, read from the history: the last change on or before that
    date of the strategy that was current then (a later strategy replaces an earlier one)."""
    rows = session.execute(
        select(NationalStrategy.country_iso3, NationalStrategy.id, StrategyEvent.status, StrategyEvent.on_date,
               StrategyEvent.id)
        .join(StrategyEvent, StrategyEvent.strategy_id == NationalStrategy.id)
        .where(StrategyEvent.on_date <= on_date)
        .order_by(StrategyEvent.on_date, StrategyEvent.id)).all()
    out: dict[str, str] = {}
    for iso3, _sid, status, _d, _eid in rows:
        out[iso3] = status
    return out


def countries_with_strategy(session: Session, on_date: dt.date | None = None) -> list[str]:
    """Member States whose strategy is approved or further along (today, or on a date)."""
    members = set(session.execute(select(Country.iso3).where(Country.who_member.is_(True))).scalars())
    if on_date is None:
        rows, _counts = registry(session)
        return sorted(r.iso3 for r in rows if r.status in WITH_STRATEGY and r.iso3 in members)
    return sorted(iso3 for iso3, st in statuses_on(session, on_date).items() if st in WITH_STRATEGY
                  and iso3 in members)


# ---------------------------------------------------------------- partnerships


def _network_target() -> Target:
    """Memberships are platform-wide records: no country in the target, so only admin and the
    Secretariat pass ``strategy.national.edit``."""
    return Target()


def add_partnership(session: Session, principal: Principal, data: PartnershipIn) -> Partnership:
    _signed_in(principal)
    authorize(session, principal, "strategy.national.edit", _network_target())
    try:
        country = _country(session, data.country_iso3)
    except NotFound:
        raise ValidationFailed(_("The membership is not valid; nothing was saved."), errors=[FieldError(
            "country_iso3", _("%(code)s is not a known country code", code=data.country_iso3))]) from None
    open_now = session.execute(select(Partnership).where(
        Partnership.network == data.network, Partnership.country_iso3 == country.iso3,
        Partnership.joined_on <= (data.left_on or dt.date(MAX_YEAR, 12, 31)),
        (Partnership.left_on.is_(None)) | (Partnership.left_on >= data.joined_on))).scalars().first()
    if open_now is not None:
        raise Conflict(_("%(country)s is already a member of %(network)s from %(date)s; record its leaving first.",
                         country=country.name, network=data.network, date=open_now.joined_on.isoformat()))
    row = Partnership(network=data.network, country_iso3=country.iso3, joined_on=data.joined_on,
                      left_on=data.left_on)
    session.add(row)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise Conflict(_("This membership is already recorded.")) from None
    return row


def end_partnership(session: Session, principal: Principal, partnership_id: int, left_on: dt.date) -> Partnership:
    _signed_in(principal)
    authorize(session, principal, "strategy.national.edit", _network_target())
    row = session.get(Partnership, partnership_id)
    if row is None:
        raise NotFound(_("No membership %(id)s.", id=partnership_id))
    if row.left_on is not None:
        raise Conflict(_("This membership already ended on %(date)s.", date=row.left_on.isoformat()))
    if left_on < row.joined_on or not MIN_YEAR <= left_on.year <= MAX_YEAR:
        raise ValidationFailed(_("The membership is not valid; nothing was saved."),
                               errors=[FieldError("left_on", _("is before the date the country joined"))])
    row.left_on = left_on
    session.flush()
    return row


def partnerships(session: Session, network: str | None = None, on_date: dt.date | None = None,
                 country: str | None = None) -> list[Partnership]:
    """Memberships, optionally of one network, of one country, or in force on a date."""
    stmt = select(Partnership)
    if network:
        stmt = stmt.where(Partnership.network == network)
    if country:
        stmt = stmt.where(Partnership.country_iso3 == country.upper())
    if on_date:
        stmt = stmt.where(Partnership.joined_on <= on_date,
                          (Partnership.left_on.is_(None)) | (Partnership.left_on > on_date))
    return list(session.execute(stmt.order_by(Partnership.network, Partnership.country_iso3,
                                              Partnership.joined_on)).scalars())


def partnership_dict(p: Partnership) -> dict[str, Any]:
    return {"id": p.id, "network": p.network, "country_iso3": p.country_iso3, "joined_on": p.joined_on.isoformat(),
            "left_on": _iso(p.left_on)}
