"""Subnational units in the engine, on the hand-built data of conftest.build (which already has one
published subnational assessment, KE-01, phase 1 in 2024) plus what each test adds: a unit's records
give it values of its own and never move a national, regional, income-group or world figure."""

from __future__ import annotations

import datetime as dt
import itertools

from dho.accounts.permissions import CLI_OPERATOR
from dho.db import Database
from dho.indicators import engine
from tests.indicators.conftest import TODAY, add_definition, publish_assessment

D = dt.date
YEARS = range(2018, 2027)
_SERIAL = itertools.count(1)


def _define(db: Database) -> None:
    with db.session() as s:
        s.info["actor"] = CLI_OPERATOR.actor
        add_definition(s, "U_PHASE", "last(assessments.overall_phase)", unit="phase", geo_aggregation="median")
        add_definition(s, "U_ASSESSED", "count(assessments)", geo_aggregation="sum")
        add_definition(s, "U_COUNTRIES", "countries(assessments)", geo_aggregation="sum")
        add_definition(s, "U_ANSWERS", "count(answers where phase <= 2)", geo_aggregation="sum")
        add_definition(s, "U_SUB_ONLY", 'count(assessments where unit != "")', geo_aggregation="sum")
        add_definition(s, "U_DOUBLE", "#{U_PHASE} * 2", unit="number", geo_aggregation="median")
        add_definition(s, "U_IMPL", "count(implementations)", geo_aggregation="sum")
        add_definition(s, "U_OPEN_PCT", "count(implementations where open_standard)", "count(implementations)")
        add_definition(s, "U_NAIROBI", 'count(implementations where unit == "KE-30")', geo_aggregation="sum")
        add_definition(s, "U_STRAT", 'count(strategies where status == "approved")', geo_aggregation="sum")
        add_definition(s, "U_PER_MS", "count(assessments)", "count(member_states)", unit="percent")


CODES = ["U_PHASE", "U_ASSESSED", "U_COUNTRIES", "U_ANSWERS", "U_SUB_ONLY", "U_DOUBLE", "U_IMPL", "U_OPEN_PCT",
         "U_NAIROBI", "U_STRAT", "U_PER_MS"]


def _compute(db: Database) -> engine.Results:
    with db.session() as s:
        return engine.compute(s, codes=CODES, years=YEARS, today=TODAY)


def _publish(db: Database, iso3: str, year: int, phase: int, subdivision: str = "") -> int:
    with db.session() as s:
        s.info["actor"] = CLI_OPERATOR.actor
        return publish_assessment(s, iso3, year, phase, subdivision)


def _implementation(db: Database, iso3: str, areas: list[tuple[str, str, dt.date]], *, start: dt.date,
                    standard: bool = False, status: str = "published") -> int:
    from dho.accounts.models import Organisation
    from dho.atlas.models import Coverage, Implementation, ImplementationTerm, Term

    with db.session() as s:
        s.info["actor"] = CLI_OPERATOR.actor
        org = Organisation(name=f"Org {iso3} {next(_SERIAL)}", kind="donor")
        s.add(org)
        s.flush()
        impl = Implementation(name=f"{iso3} system {start}", country_iso3=iso3, stage="deploying", start_date=start,
                              openness="open_source", owner_org_id=org.id, status=status, approval="approved")
        s.add(impl)
        s.flush()
        for code, name, as_of in areas:
            s.add(Coverage(implementation_id=impl.id, area_code=code, area_name=name, as_of=as_of, persons=1000))
        if standard:
            term = s.query(Term).filter(Term.list == "standards", Term.open_standard.is_(True)).first()
            assert term is not None
            s.add(ImplementationTerm(implementation_id=impl.id, list="standards", code=term.code))
        return impl.id


def _national_values(r: engine.Results) -> dict[tuple[str, str, str], engine.Value]:
    return {(code, g, p): v for code in CODES for g in r.geos(code) if not r.is_unit(g) for p, v in r.series(code, g)}


def test_a_subnational_assessment_gives_its_unit_a_value_and_moves_no_other_figure(built):
    _define(built)
    before = _compute(built)
    world_rows = _drill(built, "U_ASSESSED", "WORLD", "2024")
    assert before.value("U_PHASE", "KE-01", "2024").value == 1.0  # the unit of conftest.build
    assert before.value("U_PHASE", "KEN", "2024").value == 3.0  # its country keeps its national phase
    assert before.value("U_PHASE", "UG-C", "2024") is None
    _publish(built, "UGA", 2023, 5, subdivision="UG-C")  # Central region of Uganda, phase 5
    after = _compute(built)
    assert after is not before and after.snapshot != before.snapshot  # the data changed...
    assert _national_values(after) == _national_values(before)  # ...and no national or group figure did
    assert after.value("U_PHASE", "UGA", "2024").value == 2.0 and after.value("U_PHASE", "AFR", "2024").value == 2.5
    assert after.value("U_ASSESSED", "WORLD", "2024").value == 2.0  # KEN 2024 and UGA 2020: national only
    assert after.value("U_ASSESSED", "WORLD", "2024").reporting == 2
    assert _drill(built, "U_ASSESSED", "WORLD", "2024") == world_rows  # nor the records behind them
    # the new unit has values of its own, from 2023 on
    assert after.value("U_PHASE", "UG-C", "2022").value is None
    assert [after.value("U_PHASE", "UG-C", str(y)).value for y in (2023, 2024)] == [5.0, 5.0]
    assert after.value("U_ASSESSED", "UG-C", "2024").value == 1.0
    assert after.value("U_ANSWERS", "UG-C", "2024").value == 0.0  # phase 5 answers: none at 2 or below
    assert after.value("U_ANSWERS", "KE-01", "2024").value > 0  # KE-01 answered phase 1 throughout...
    assert after.value("U_ANSWERS", "KEN", "2024").value == 0.0  # ...which Kenya's phase 3 answers never show
    assert after.value("U_DOUBLE", "UG-C", "2024").value == 10.0  # a reference works for units too
    assert after.units_of("U_PHASE", "UGA", "2024") == {"UG-C": after.value("U_PHASE", "UG-C", "2024")}
    assert set(after.units_of("U_PHASE", "KEN", "2024")) == {"KE-01"}


def test_what_a_unit_has_no_value_for(built):
    _define(built)
    r = _compute(built)
    assert r.value("U_PHASE", "KE-01", "2024") is not None
    # a unit is not a country, has no strategies, and is not a Member State: no value rather than a zero
    for code in ("U_COUNTRIES", "U_STRAT", "U_PER_MS"):
        assert r.value(code, "KE-01", "2024") is None, code
        assert r.units_of(code, "KEN", "2024") == {}, code
    # and the sources without unit records never invent units
    assert r.units_of("U_IMPL", "KEN", "2024") == {}
    assert r.value("U_STRAT", "KEN", "2024").value == 1.0


def test_an_implementation_covering_areas_counts_for_each_unit_and_once_for_the_nation(built):
    _define(built)
    before = _compute(built)
    assert before.value("U_IMPL", "KEN", "2025").value == 0.0
    iid = _implementation(built, "KEN", [
        ("KE-30", "Nairobi", D(2023, 1, 1)), ("KE-30", "Nairobi City", D(2024, 6, 1)),  # two counts, one area
        ("KE-28", "Mombasa", D(2024, 6, 1)), ("", "", D(2024, 6, 1)),  # an area, and the whole country
        ("UG-C", "Central", D(2024, 6, 1))], start=D(2024, 3, 1), standard=True)  # not an area of Kenya: left out
    _implementation(built, "KEN", [("KE-28", "Mombasa", D(2024, 6, 1))], start=D(2024, 5, 1))
    _implementation(built, "KEN", [("KE-17", "Kisumu", D(2024, 6, 1))], start=D(2024, 5, 1), status="draft")
    r = _compute(built)
    assert r.value("U_IMPL", "KEN", "2025").value == 2.0  # each published implementation once
    assert r.value("U_IMPL", "KEN", "2023").value == 0.0
    assert r.value("U_IMPL", "AFR", "2025").value == 2.0 and r.value("U_IMPL", "WORLD", "2025").value == 2.0
    assert r.value("U_IMPL", "WORLD", "2025").reporting == 1
    assert r.value("U_IMPL", "KE-30", "2025").value == 1.0 and r.value("U_IMPL", "KE-28", "2025").value == 2.0
    assert r.value("U_IMPL", "KE-17", "2025") is None  # a draft counts nowhere
    assert r.value("U_IMPL", "UG-C", "2025") is None  # a code of another country is not a unit of Kenya
    assert r.unit_parent("UG-C") is None
    assert r.value("U_OPEN_PCT", "KE-30", "2025").value == 100.0
    assert r.value("U_OPEN_PCT", "KE-28", "2025").value == 50.0
    assert r.value("U_OPEN_PCT", "KEN", "2025").value == 50.0 and r.value("U_OPEN_PCT", "WORLD", "2025").value == 50.0
    assert r.unit_name("KE-30") == "Nairobi City" and r.unit_name("KE-28") == "Mombasa"  # the latest name
    assert r.unit_name("KE-01") == "Baringo"  # no coverage row names it: its ISO 3166-2 name
    assert set(r.units_of("U_IMPL", "KEN", "2025")) == {"KE-28", "KE-30"}
    # drill-down: the unit's records, and the nation's (the implementation once)
    unit_rows = _drill(built, "U_IMPL", "KE-30", "2025")
    assert [(x["country"], x["link"]) for x in unit_rows] == [("KE-30", f"/atlas/implementations/{iid}")]
    assert "Nairobi City" in unit_rows[0]["label"]
    national = _drill(built, "U_IMPL", "KEN", "2025")
    assert sorted(x["country"] for x in national) == ["KEN", "KEN"] and len({x["id"] for x in national}) == 2
    assert len(_drill(built, "U_IMPL", "WORLD", "2025")) == 2


def test_filter_on_the_unit_field(built):
    _define(built)
    _implementation(built, "KEN", [("KE-30", "Nairobi City", D(2024, 6, 1))], start=D(2024, 3, 1))
    r = _compute(built)
    assert r.value("U_SUB_ONLY", "KEN", "2024").value == 0.0 and r.value("U_SUB_ONLY", "WORLD", "2024").value == 0.0
    assert r.value("U_SUB_ONLY", "KE-01", "2024").value == 1.0
    assert r.value("U_NAIROBI", "KE-30", "2025").value == 1.0
    assert r.value("U_NAIROBI", "KEN", "2025").value == 0.0  # the national record has unit ""
    rows = _drill(built, "U_SUB_ONLY", "KE-01", "2024")
    assert [(x["country"], x["kind"], x["label"]) for x in rows] == [("KE-01", "assessment", "KE-01 2024")]


def test_units_stay_out_of_country_lists_and_groups(built):
    _define(built)
    _implementation(built, "KEN", [("KE-30", "Nairobi City", D(2024, 6, 1))], start=D(2024, 3, 1))
    r = _compute(built)
    for code in ("U_PHASE", "U_IMPL"):
        countries = r.by_country(code, "2025")
        assert "KEN" in countries and not any("-" in g for g in countries)
    geos = r.geos("U_IMPL")
    assert geos[0] == "WORLD" and geos[-1] == "KE-30" and geos.index("KEN") < geos.index("KE-30")
    assert r.is_unit("KE-30") and not r.is_unit("KEN") and r.unit_parent("KE-30") == "KEN"
    state = r._state
    assert state is not None
    from dho.indicators import periods as P

    p = P.parse("2025")
    members = engine._members_of(state, "WORLD", p)
    assert "KEN" in members and not any("-" in m for m in members)
    assert engine._members_of(state, "AFR", p) <= members


def test_unknown_or_mismatched_geographies_have_no_records(built):
    _define(built)
    _compute(built)
    assert _drill(built, "U_PHASE", "ZZ-99", "2024") == []  # no such unit
    assert _drill(built, "U_STRAT", "KE-01", "2024") == []  # a unit, but the indicator has no unit values
    assert _drill(built, "U_PHASE", "KE-01", "2024")[0]["country"] == "KE-01"
    assert _drill(built, "U_PHASE", "XYZ", "2024") == []


def test_a_new_coverage_row_is_seen_at_once(built):
    _define(built)
    iid = _implementation(built, "KEN", [], start=D(2024, 3, 1))
    first = _compute(built)
    assert first.units_of("U_IMPL", "KEN", "2025") == {}
    from dho.atlas.models import Coverage

    with built.session() as s:
        s.info["actor"] = CLI_OPERATOR.actor
        s.add(Coverage(implementation_id=iid, area_code="KE-30", area_name="Nairobi City", as_of=D(2024, 6, 1)))
    again = _compute(built)  # the coverage table is watched: the epoch moved, the cache is not reused
    assert again is not first and again.epoch > first.epoch
    assert again.units_of("U_IMPL", "KEN", "2025")["KE-30"].value == 1.0


def _drill(db: Database, code: str, geo: str, period: str) -> list[dict]:
    with db.session() as s:
        return engine.records(s, code, geo, period)
