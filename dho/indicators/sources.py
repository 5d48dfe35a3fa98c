"""The platform data indicators can count: a catalogue of sources (their fields and how their records
sit in time) and the loader that reads them from the database into plain records.

Every record has a country (ISO3, or "" for records that belong to no country, such as the
Secretariat's action-plan activities: they count only for the world), a ``start`` date and an
optional ``end`` date, a few fields, and what the drill-down shows (kind, id, label, link).

* Over time a record counts in a period either as a *stock* (it exists at the end of the period:
  start <= end of period < end) or as a *flow* (its start date falls within the period); the
  definition's time aggregation picks which (``last``, ``mean``, ``max`` = stock; ``sum`` = flow).
* Every record also carries ``member`` (the country is a WHO Member State), ``region``, ``country``
  and ``unit``.

Subnational units (ISO 3166-2 codes such as "PK-PB") have records of their own where the data have
them: published subnational maturity assessments (and their answers), and one extra implementation
record per area an implementation covers. A unit record's ``Record.country`` is the unit code (so the
engine keeps it apart from the nation: national figures are national), its ``country`` field the
parent's ISO3 and its ``unit`` field the unit code (national records: ""). ``CountryInfo.units``
maps each unit to its country.

The loader reads columns, not ORM objects, so a few hundred thousand records load in seconds."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from dho.reference import subdivisions

STR, NUM, BOOL = "str", "num", "bool"


@dataclass(frozen=True)
class Field:
    type: str
    values: tuple[str, ...] = ()  # allowed values of a text field (empty: any)
    dynamic: bool = False  # depends on the date a value is computed for (e.g. red/amber/green)


@dataclass(frozen=True)
class Source:
    name: str
    description: str
    fields: dict[str, Field]
    tables: tuple[str, ...]  # the tables it reads (a change to them bumps the data epoch)


COMMON = {"member": Field(BOOL), "region": Field(STR), "country": Field(STR), "unit": Field(STR)}
STRATEGY_STATUSES = ("none", "drafting", "approved", "costed_plan_approved", "implementing", "evaluated")
RAG = ("done", "cancelled", "red", "amber", "green", "not_started")

SOURCES: dict[str, Source] = {s.name: s for s in (
    Source("member_states", "WHO Member States (always present)", {}, ("ref_country",)),
    Source("countries", "Every country and area of the reference list", {}, ("ref_country",)),
    Source("strategies", "A country's national digital-health strategy status over time (from its dated "
           "status history)", {
               "status": Field(STR, STRATEGY_STATUSES), "costed_plan": Field(BOOL), "components": Field(NUM),
               "objectives": Field(NUM)},
           ("strategy_national", "strategy_national_event", "strategy_national_component",
            "strategy_national_objective")),
    Source("assessments", "Published maturity assessments, national and subnational (from the assessment's year)", {
        "year": Field(NUM), "overall_phase": Field(NUM), "overall_score": Field(NUM), "framework": Field(STR)},
        ("maturity_assessment", "maturity_published_version", "maturity_framework")),
    Source("answers", "Answers of published maturity assessments, one per indicator", {
        "year": Field(NUM), "indicator": Field(STR), "phase": Field(NUM), "framework": Field(STR)},
        ("maturity_assessment", "maturity_published_version")),
    Source("implementations", "Published atlas implementations (from their start date), also for each "
           "subnational area they cover", {
               "stage": Field(STR), "openness": Field(STR), "open_standard": Field(BOOL), "standards": Field(NUM),
               "government_ownership": Field(STR), "approval": Field(STR)},
           ("atlas_implementation", "atlas_implementation_term", "atlas_term", "atlas_coverage")),
    Source("investments", "Published atlas investments in US dollars (from their commitment date)", {
        "usd": Field(NUM), "kind": Field(STR), "approval": Field(STR), "year": Field(NUM)},
        ("atlas_investment", "atlas_fx_rate")),
    Source("investment_targets", "What investments fund, with their share in US dollars", {
        "usd": Field(NUM), "kind": Field(STR, ("implementation", "intervention", "component", "priority")),
        "ref": Field(STR), "gap_phase": Field(NUM), "top_gap": Field(BOOL), "approval": Field(STR)},
        ("atlas_investment", "atlas_investment_target", "atlas_fx_rate")),
    Source("activities", "Action-plan activities (from their start date; red/amber/green as of the period end)", {
        "status": Field(STR, ("not_started", "in_progress", "done", "cancelled")),
        "rag": Field(STR, RAG, dynamic=True), "owner": Field(STR, ("country", "secretariat", "partner")),
        "progress": Field(NUM), "budget": Field(NUM)},
        ("strategy_activity", "strategy_plan", "strategy_milestone", "strategy_activity_update")),
    Source("trainings", "Trainings, by host country (on their end date)", {
        "topic": Field(STR), "mode": Field(STR), "participants": Field(NUM)},
        ("strategy_training", "strategy_training_participant")),
    Source("participants", "People trained, by their own country (on the training's end date)", {
        "role": Field(STR, ("government_official", "health_worker", "academic", "partner_staff", "other")),
        "gender": Field(STR, ("female", "male", "other", "undisclosed")), "completed": Field(BOOL),
        "topic": Field(STR), "mode": Field(STR)},
        ("strategy_training", "strategy_training_participant")),
    Source("gdhcn", "Participants onboarded to the trust network (GDHCN), from the day they were registered", {
        "domain": Field(STR)}, ("trust_participant",)),
    Source("partnerships", "Memberships of collaborations such as the GDHP (joined to left)", {
        "network": Field(STR)}, ("strategy_partnership",)),
)}
WATCHED_TABLES = frozenset(t for s in SOURCES.values() for t in s.tables) | {"ref_income_group"}
UNIT_SOURCES = frozenset({"assessments", "answers", "implementations"})  # the sources with subnational records
UNIT_CODE = re.compile(r"^[A-Z]{2}-[A-Z0-9]{1,3}$")  # ISO 3166-2


def fields_of(source: str) -> dict[str, Field]:
    return {**COMMON, **SOURCES[source].fields}


class Record:
    """One thing an indicator can count."""

    __slots__ = ("country", "end", "fields", "id", "kind", "label", "link", "start")

    def __init__(self, country: str, start: dt.date | None, end: dt.date | None, fields: dict[str, Any],
                 kind: str, id: Any, label: str, link: str | None):
        self.country, self.start, self.end, self.fields = country, start, end, fields
        self.kind, self.id, self.label, self.link = kind, id, label, link

    def canonical(self) -> str:
        """One line naming the record and its facts (fields keep a fixed order per source)."""
        facts = "|".join(f"{k}={_plain(v)}" for k, v in self.fields.items() if not callable(v))
        return f"{self.kind}|{self.id}|{self.country}|{self.start}|{self.end}|{facts}"


def _plain(v: Any) -> str:
    if isinstance(v, float):
        return repr(int(v)) if v.is_integer() else repr(v)
    if isinstance(v, Decimal):
        return format(v.normalize(), "f")
    return repr(v)


@dataclass
class CountryInfo:
    member: dict[str, bool] = field(default_factory=dict)
    region: dict[str, str | None] = field(default_factory=dict)
    name: dict[str, str] = field(default_factory=dict)
    income: dict[tuple[str, int], str] = field(default_factory=dict)
    income_latest: dict[str, str | None] = field(default_factory=dict)
    iso2: dict[str, str] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)  # subnational unit (ISO 3166-2) -> its country's ISO3
    unit_name: dict[str, str] = field(default_factory=dict)  # from coverage rows' area names, when known

    def unit_of(self, code: str, iso3: str) -> str | None:
        """The unit code when ``code`` is a well-formed ISO 3166-2 code of the country ``iso3`` (its
        prefix is the country's alpha-2 code), registering it; None otherwise."""
        code = (code or "").strip().upper()
        if not UNIT_CODE.match(code) or self.iso2.get(code[:2]) != iso3:
            return None
        self.units.setdefault(code, iso3)
        return code if self.units[code] == iso3 else None

    def income_in(self, iso3: str, year: int) -> str | None:
        """The World Bank group of that fiscal year, else the closest earlier one, else the latest known."""
        for y in range(year, year - 30, -1):
            found = self.income.get((iso3, y))
            if found:
                return found
        for y in range(year + 1, year + 10):
            found = self.income.get((iso3, y))
            if found:
                return found
        return self.income_latest.get(iso3)


def load_countries(session: Session) -> CountryInfo:
    from dho.reference.models import Country, IncomeGroup

    info = CountryInfo()
    for iso3, iso2, name, member, region, retired, wb in session.execute(select(
            Country.iso3, Country.iso2, Country.name, Country.who_member, Country.who_region, Country.retired,
            Country.wb_income_group)):
        if retired:
            continue
        info.member[iso3] = bool(member)
        info.region[iso3] = region
        info.name[iso3] = name
        info.income_latest[iso3] = wb
        if iso2:
            info.iso2[iso2] = iso3
    for iso3, fy, group in session.execute(select(IncomeGroup.iso3, IncomeGroup.fiscal_year,
                                                  IncomeGroup.income_group)):
        info.income[(iso3, fy)] = group
    return info


def _date(value: Any) -> dt.date | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    return value


# ---------------------------------------------------------------- loaders, one per source


def _member_states(session: Session, info: CountryInfo, *, members_only: bool = True) -> list[Record]:
    return [Record(iso3, None, None, {}, "country", iso3, info.name[iso3], f"/countries/{iso3}")
            for iso3 in sorted(info.member) if info.member[iso3] or not members_only]


def _strategies(session: Session, info: CountryInfo) -> list[Record]:
    from dho.strategy.models import NationalStrategy, StrategyComponent, StrategyEvent, StrategyObjective

    comps: dict[int, int] = defaultdict(int)
    for sid, _c in session.execute(select(StrategyComponent.strategy_id, StrategyComponent.component)):
        comps[sid] += 1
    objs: dict[int, int] = defaultdict(int)
    for sid, _o in session.execute(select(StrategyObjective.strategy_id, StrategyObjective.objective)):
        objs[sid] += 1
    strategies = {row.id: row for row in session.execute(select(
        NationalStrategy.id, NationalStrategy.country_iso3, NationalStrategy.title, NationalStrategy.status,
        NationalStrategy.approved_on, NationalStrategy.costed_plan_on, NationalStrategy.created_at))}
    events: dict[str, list[tuple[dt.date, int, int, str]]] = defaultdict(list)
    seen: set[int] = set()
    for ev in session.execute(select(StrategyEvent.id, StrategyEvent.strategy_id, StrategyEvent.status,
                                     StrategyEvent.on_date)):
        s = strategies.get(ev.strategy_id)
        if s is None:
            continue
        events[s.country_iso3].append((ev.on_date, ev.id, ev.strategy_id, ev.status))
        seen.add(ev.strategy_id)
    for s in strategies.values():  # a strategy without history counts from its approval (or creation) date
        if s.id not in seen:
            events[s.country_iso3].append((s.approved_on or _date(s.created_at), 0, s.id, s.status))
    out = []
    for iso3, evs in events.items():
        evs.sort()
        for i, (on, eid, sid, status) in enumerate(evs):
            end = evs[i + 1][0] if i + 1 < len(evs) else None
            if end is not None and end <= on:
                continue  # a later event the same day replaces this one
            s = strategies[sid]
            costed = status == "costed_plan_approved" or (
                s.costed_plan_on is not None and status in ("implementing", "evaluated"))
            out.append(Record(iso3, on, end, {"status": status, "costed_plan": costed, "components": comps[sid],
                                              "objectives": objs[sid]},
                              "strategy", f"{sid}:{eid}", s.title, f"/strategy/national/{iso3}"))
    return out


def _assessments(session: Session, info: CountryInfo) -> tuple[list[Record], list[Record]]:
    from dho.maturity import scoring
    from dho.maturity import service as maturity
    from dho.maturity.models import Assessment, PublishedVersion

    rows = session.execute(select(
        Assessment.id, Assessment.country_iso3, Assessment.subdivision, Assessment.year, Assessment.framework_id,
        PublishedVersion.id, PublishedVersion.snapshot).join(
        PublishedVersion, (PublishedVersion.assessment_id == Assessment.id)
        & (PublishedVersion.number == Assessment.published_version)).where(Assessment.published_version > 0)).all()
    structures: dict[str, scoring.Structure] = {}
    assessments, answers = [], []
    for aid, iso3, subdivision, year, fw, pv_id, snapshot in rows:
        geo = iso3
        if subdivision:  # a subnational assessment counts for its unit only, never for the nation
            geo = info.unit_of(subdivision, iso3)
            if geo is None:
                continue
        if fw not in structures:
            structures[fw] = maturity.structure(session, fw)
        key = (pv_id, hash(snapshot), structures[fw])
        hit = _SCORED.get(key)
        if hit is None:
            # a published version is frozen: its score is computed once per process
            snap = json.loads(snapshot)
            values = {code: v.get("phase") for code, v in snap["answers"].items()}
            score = scoring.score_assessment(maturity.snapshot_structure(snap, structures[fw]), values)
            overall = None if score.overall.score is None else float(score.overall.score)
            if len(_SCORED) > 200_000:
                _SCORED.clear()
            hit = _SCORED[key] = (values, score.overall.phase, overall)
        values, phase, overall = hit
        start = dt.date(year, 1, 1)
        link = f"/maturity/assessments/{aid}"
        label = f"{geo} {year}"
        assessments.append(Record(geo, start, None, {
            "year": year, "overall_phase": phase, "overall_score": overall, "framework": fw},
            "assessment", aid, label, link))
        for code, phase in sorted(values.items()):
            answers.append(Record(geo, start, None, {"year": year, "indicator": code, "phase": phase,
                                                     "framework": fw},
                                  "answer", f"{aid}:{code}", f"{label} · {code}", link))
    return assessments, answers


_SCORED: dict[tuple[Any, ...], tuple[dict[str, int | None], int | None, float | None]] = {}


def _implementations(session: Session, info: CountryInfo) -> list[Record]:
    from dho.atlas.models import Coverage, Implementation, ImplementationTerm, Term

    open_codes = {code for code, in session.execute(select(Term.code).where(
        Term.list == "standards", Term.open_standard.is_(True)))}
    standards: dict[int, list[str]] = defaultdict(list)
    for iid, code in session.execute(select(ImplementationTerm.implementation_id, ImplementationTerm.code).where(
            ImplementationTerm.list == "standards")):
        standards[iid].append(code)
    areas: dict[int, dict[str, str]] = defaultdict(dict)  # implementation -> area code -> latest known name
    for iid, code, name in session.execute(select(Coverage.implementation_id, Coverage.area_code, Coverage.area_name)
                                           .where(Coverage.area_code != "").order_by(Coverage.as_of, Coverage.id)):
        mine = areas[iid]
        if name or code not in mine:
            mine[code] = name or ""
    out = []
    for r in session.execute(select(
            Implementation.id, Implementation.name, Implementation.country_iso3, Implementation.stage,
            Implementation.openness, Implementation.government_ownership, Implementation.approval,
            Implementation.start_date, Implementation.end_date, Implementation.created_at).where(
            Implementation.status == "published", Implementation.merged_into_id.is_(None))):
        used = standards.get(r.id, [])
        start = r.start_date or _date(r.created_at)
        facts = {"stage": r.stage, "openness": r.openness, "open_standard": any(c in open_codes for c in used),
                 "standards": len(used), "government_ownership": r.government_ownership, "approval": r.approval}
        link = f"/atlas/implementations/{r.id}"
        out.append(Record(r.country_iso3, start, r.end_date, facts, "implementation", r.id, r.name, link))
        for code, name in sorted(areas.get(r.id, {}).items()):
            # the same implementation once more for each area it covers (the nation counts it once)
            unit = info.unit_of(code, r.country_iso3)
            if unit is None:
                continue
            if name:
                info.unit_name[unit] = name
            out.append(Record(unit, start, r.end_date, dict(facts), "implementation", r.id,
                              f"{r.name} · {name or unit}", link))
    return out


def _latest_phases(answers: list[Record], info: CountryInfo) -> dict[str, list[tuple[int, dict[str, int | None]]]]:
    """Per country, the phases of its published national assessments by year (units left out)."""
    by_country: dict[str, dict[int, dict[str, int | None]]] = defaultdict(dict)
    for a in answers:
        if a.country in info.units:
            continue
        by_country[a.country].setdefault(a.fields["year"], {})[a.fields["indicator"]] = a.fields["phase"]
    return {iso3: sorted(years.items()) for iso3, years in by_country.items()}


def _investments(session: Session, info: CountryInfo, answers: list[Record]) -> tuple[list[Record], list[Record]]:
    from dho.atlas.models import Investment, InvestmentTarget
    from dho.atlas.money import Rates

    rates = Rates(session)
    phases = _latest_phases(answers, info)
    targets: dict[int, list[Any]] = defaultdict(list)
    for t in session.execute(select(InvestmentTarget.investment_id, InvestmentTarget.id, InvestmentTarget.kind,
                                    InvestmentTarget.ref, InvestmentTarget.share)):
        targets[t.investment_id].append(t)
    invs, tgts = [], []
    for r in session.execute(select(
            Investment.id, Investment.title, Investment.country_iso3, Investment.amount, Investment.currency,
            Investment.kind, Investment.committed_on, Investment.period_end, Investment.approval).where(
            Investment.status == "published")):
        usd = rates.convert(Decimal(r.amount), r.currency, r.committed_on.year).usd
        link = f"/atlas/investments/{r.id}"
        end = dt.date(r.period_end + 1, 1, 1) if r.period_end else None
        invs.append(Record(r.country_iso3, r.committed_on, end, {
            "usd": None if usd is None else float(usd), "kind": r.kind, "approval": r.approval,
            "year": r.committed_on.year}, "investment", r.id, r.title, link))
        mine = targets.get(r.id, [])
        for t in mine:
            share = Decimal(t.share) if t.share is not None else Decimal(1) / len(mine)
            gap = None
            if t.kind == "priority":
                known = [vals for year, vals in phases.get(r.country_iso3, []) if year <= r.committed_on.year]
                if known:
                    gap = known[-1].get(t.ref)
            tgts.append(Record(r.country_iso3, r.committed_on, end, {
                "usd": None if usd is None else float(usd * share), "kind": t.kind, "ref": t.ref,
                "gap_phase": gap, "top_gap": gap is not None and gap <= 2, "approval": r.approval},
                "investment_target", t.id, f"{r.title} → {t.kind} {t.ref}", link))
    return invs, tgts


def _activities(session: Session, info: CountryInfo) -> list[Record]:
    from dho.strategy.models import ActionPlan, Activity, ActivityUpdate, Milestone

    latest: dict[int, dt.date] = {}
    for aid, on in session.execute(select(ActivityUpdate.activity_id, ActivityUpdate.on_date)):
        if aid not in latest or on > latest[aid]:
            latest[aid] = on
    stones: dict[int, list[Any]] = defaultdict(list)
    for m in session.execute(select(Milestone.activity_id, Milestone.due_on, Milestone.done_on)):
        stones[m.activity_id].append(m)
    plans = {p.id: p for p in session.execute(select(ActionPlan.id, ActionPlan.owner_kind, ActionPlan.country_iso3))}
    out = []
    for a in session.execute(select(
            Activity.id, Activity.plan_id, Activity.title, Activity.status, Activity.starts_on, Activity.due_on,
            Activity.progress, Activity.budget, Activity.spent, Activity.last_update_on, Activity.currency)):
        plan = plans.get(a.plan_id)
        if plan is None:
            continue
        iso3 = plan.country_iso3 if plan.owner_kind == "country" and plan.country_iso3 else ""
        out.append(Record(iso3, a.starts_on, None, {
            "status": a.status, "owner": plan.owner_kind, "progress": a.progress,
            "budget": None if a.budget is None else float(a.budget), "rag": _rag_of(a, latest.get(a.id),
                                                                                    stones.get(a.id, []))},
            "activity", a.id, a.title, f"/strategy/plans/{a.plan_id}#activity-{a.id}"))
    return out


def _rag_of(a: Any, latest: dt.date | None, milestones: list[Any]) -> Callable[[dt.date], str]:
    """A function of the as-of date (red/amber/green depends on the day it is judged)."""
    memo: dict[dt.date, str] = {}

    def at(day: dt.date) -> str:
        if day not in memo:
            from dho.strategy.rag import rag_status

            memo[day] = rag_status(a, today=day, latest_update=latest if latest and latest <= day else None,
                                   milestones=milestones)
        return memo[day]
    return at


def _trainings(session: Session, info: CountryInfo) -> tuple[list[Record], list[Record]]:
    from dho.strategy.models import Training, TrainingParticipant

    trainings = {t.id: t for t in session.execute(select(
        Training.id, Training.title, Training.topic, Training.mode, Training.host_country_iso3, Training.ends_on))}
    counts: dict[int, int] = defaultdict(int)
    people = []
    for p in session.execute(select(TrainingParticipant.id, TrainingParticipant.training_id,
                                    TrainingParticipant.country_iso3, TrainingParticipant.role,
                                    TrainingParticipant.gender, TrainingParticipant.completed)):
        t = trainings.get(p.training_id)
        if t is None:
            continue
        counts[t.id] += 1
        people.append(Record(p.country_iso3, t.ends_on, None, {
            "role": p.role, "gender": p.gender, "completed": bool(p.completed), "topic": t.topic, "mode": t.mode},
            "participant", p.id, f"{t.title} · {p.role} · {p.gender}", f"/strategy/trainings/{t.id}"))
    events = [Record(t.host_country_iso3 or "", t.ends_on, None, {
        "topic": t.topic, "mode": t.mode, "participants": counts[t.id]}, "training", t.id, t.title,
        f"/strategy/trainings/{t.id}") for t in trainings.values()]
    return events, people


def _gdhcn(session: Session, info: CountryInfo) -> list[Record]:
    from dho.trust.models import Participant

    first: dict[tuple[str, str], Any] = {}
    for p in session.execute(select(Participant.id, Participant.domain, Participant.country, Participant.name,
                                    Participant.created_at)):
        code = (p.country or "").upper()
        iso3 = info.iso2.get(code) or (code if code in info.member else None)
        if iso3 is None:
            continue
        key = (iso3, p.domain)
        if key not in first or p.created_at < first[key].created_at:
            first[key] = p
    return [Record(iso3, _date(p.created_at), None, {"domain": domain}, "gdhcn", p.id, p.name or iso3,
                   f"/trust?country={iso3}") for (iso3, domain), p in sorted(first.items())]


def _partnerships(session: Session, info: CountryInfo) -> list[Record]:
    from dho.strategy.models import Partnership

    return [Record(p.country_iso3, p.joined_on, p.left_on, {"network": p.network}, "partnership", p.id,
                   f"{p.network.upper()} · {p.country_iso3}", f"/strategy/national/{p.country_iso3}")
            for p in session.execute(select(Partnership.id, Partnership.network, Partnership.country_iso3,
                                            Partnership.joined_on, Partnership.left_on))]


def load(session: Session, info: CountryInfo, needed: set[str]) -> dict[str, list[Record]]:
    """Read the sources named in ``needed``, adding ``member``, ``region``, ``country`` and ``unit`` to every
    record (a unit's record takes its country's membership and region)."""
    out: dict[str, list[Record]] = {}
    if "member_states" in needed:
        out["member_states"] = _member_states(session, info)
    if "countries" in needed:
        out["countries"] = _member_states(session, info, members_only=False)
    if "strategies" in needed:
        out["strategies"] = _strategies(session, info)
    if needed & {"assessments", "answers", "investment_targets"}:
        out["assessments"], out["answers"] = _assessments(session, info)
    if needed & {"investments", "investment_targets"}:
        out["investments"], out["investment_targets"] = _investments(session, info, out["answers"])
    if "implementations" in needed:
        out["implementations"] = _implementations(session, info)
    if "activities" in needed:
        out["activities"] = _activities(session, info)
    if needed & {"trainings", "participants"}:
        out["trainings"], out["participants"] = _trainings(session, info)
    if "gdhcn" in needed:
        out["gdhcn"] = _gdhcn(session, info)
    if "partnerships" in needed:
        out["partnerships"] = _partnerships(session, info)
    units, member, region = info.units, info.member, info.region
    for records in out.values():
        for r in records:
            c, f = r.country, r.fields
            parent = units.get(c) if units else None
            if parent is None:
                f["member"] = member.get(c, False)
                f["region"] = region.get(c) or ""
                f["country"] = c
                f["unit"] = ""
            else:
                f["member"] = member.get(parent, False)
                f["region"] = region.get(parent) or ""
                f["country"] = parent
                f["unit"] = c
    if units and len(info.unit_name) < len(units):
        _unit_names(session, info)
    return {k: v for k, v in out.items() if k in needed}


def _unit_names(session: Session, info: CountryInfo) -> None:
    """Names of the units from the coverage rows of published implementations (the latest name given),
    else their ISO 3166-2 short names."""
    from dho.atlas.models import Coverage, Implementation

    missing = sorted(u for u in info.units if u not in info.unit_name)
    for i in range(0, len(missing), 500):
        for code, name in session.execute(select(Coverage.area_code, Coverage.area_name).join(
                Implementation, Implementation.id == Coverage.implementation_id).where(
                Coverage.area_code.in_(missing[i:i + 500]), Coverage.area_name != "",
                Implementation.status == "published").order_by(Coverage.as_of, Coverage.id)):
            info.unit_name[code] = name
    for code in missing:  # no coverage row names it: the ISO 3166-2 short name
        if code not in info.unit_name and (iso := subdivisions.name(code)):
            info.unit_name[code] = iso
