"""Hand-built data for engine tests: a few strategies, trainings, partnerships and assessments whose
indicator values are worked out by hand in the tests."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import func, select

from dho.accounts.permissions import CLI_OPERATOR
from dho.db import Database

D = dt.date
TODAY = D(2026, 6, 30)


def add_definition(session, code: str, numerator: str, denominator: str | None = None, **spec) -> None:
    from dho.indicators import service

    unit = spec.pop("unit", "percent" if denominator else "number")
    body = {"numerator": numerator, "unit": unit, "factor": {"percent": 100, "per1000": 1000}.get(unit, 1), **spec}
    if denominator:
        body["denominator"] = denominator
    service.create(session, CLI_OPERATOR, {"code": code, "name_en": code, "name_fr": code, "spec": body})


def member_count(session, region: str | None = None) -> int:
    from dho.reference.models import Country

    stmt = select(func.count()).select_from(Country).where(Country.who_member.is_(True), Country.retired.is_(False))
    if region:
        stmt = stmt.where(Country.who_region == region)
    return session.execute(stmt).scalar_one()


def build(session) -> None:
    from dho.strategy.models import NationalStrategy, Partnership, StrategyEvent, Training, TrainingParticipant

    session.info["actor"] = CLI_OPERATOR.actor
    ken = NationalStrategy(country_iso3="KEN", title="Kenya DH strategy", status="approved", approved_on=D(2021, 6, 1))
    uga = NationalStrategy(country_iso3="UGA", title="Uganda DH strategy", status="approved", approved_on=D(2024, 2, 1))
    fra = NationalStrategy(country_iso3="FRA", title="France DH strategy", status="none")
    session.add_all([ken, uga, fra])
    session.flush()
    session.add_all([
        StrategyEvent(strategy_id=ken.id, status="drafting", on_date=D(2019, 3, 1)),
        StrategyEvent(strategy_id=ken.id, status="approved", on_date=D(2021, 6, 1)),
        StrategyEvent(strategy_id=fra.id, status="approved", on_date=D(2018, 1, 1)),
        StrategyEvent(strategy_id=fra.id, status="none", on_date=D(2023, 5, 1)),
    ])
    t1 = Training(title="Course A", starts_on=D(2024, 3, 4), ends_on=D(2024, 3, 10))
    t2 = Training(title="Course B", starts_on=D(2025, 7, 1), ends_on=D(2025, 7, 5))
    session.add_all([t1, t2])
    session.flush()
    official = "government_official"
    session.add_all([
        TrainingParticipant(training_id=t1.id, country_iso3="KEN", role=official, gender="female"),
        TrainingParticipant(training_id=t1.id, country_iso3="KEN", role=official, gender="male"),
        TrainingParticipant(training_id=t1.id, country_iso3="UGA", role=official, gender="female"),
        TrainingParticipant(training_id=t1.id, country_iso3="KEN", role="health_worker", gender="female"),
        TrainingParticipant(training_id=t2.id, country_iso3="FRA", role=official, gender="male"),
        TrainingParticipant(training_id=t2.id, country_iso3="FRA", role=official, gender="female", completed=False),
        Partnership(network="gdhp", country_iso3="KEN", joined_on=D(2020, 1, 1), left_on=D(2022, 6, 30)),
    ])
    def published(iso3: str, year: int, phase: int, subdivision: str = "") -> None:
        publish_assessment(session, iso3, year, phase, subdivision)

    published("KEN", 2024, 3)
    published("KEN", 2024, 1, subdivision="KE-01")  # subnational: never in national figures
    published("UGA", 2020, 2)
    session.flush()


@pytest.fixture
def built(db: Database) -> Database:
    with db.session() as session:
        build(session)
    return db


def publish_assessment(session, iso3: str, year: int, phase: int, subdivision: str = "") -> int:
    """A published assessment answering every core indicator at ``phase`` (subdivision: a subnational unit)."""
    from dho.maturity import service as maturity
    from dho.maturity.models import Assessment, PublishedVersion

    core = maturity.structure(session, maturity.DEFAULT_FRAMEWORK).core_codes
    a = Assessment(country_iso3=iso3, subdivision=subdivision, year=year, framework_id=maturity.DEFAULT_FRAMEWORK,
                   status="published", published_version=1)
    session.add(a)
    session.flush()
    snap = {"answers": {c: {"phase": phase, "not_available": False} for c in core}}
    session.add(PublishedVersion(assessment_id=a.id, number=1, published_by="test", snapshot=json.dumps(snap)))
    return a.id
