"""The engine on hand-built data: every expected number below is worked out by hand from conftest.build."""

from __future__ import annotations

import datetime as dt

import pytest

from dho.accounts.permissions import CLI_OPERATOR
from dho.db import Database
from dho.indicators import engine
from tests.indicators.conftest import TODAY, add_definition, member_count

ACTIVE = '["approved", "costed_plan_approved", "implementing", "evaluated"]'
OFFICIAL = 'role == "government_official" and completed'


def _define(db: Database) -> None:
    with db.session() as s:
        s.info["actor"] = CLI_OPERATOR.actor
        add_definition(s, "T_STRAT", f"countries(strategies where status in {ACTIVE})", geo_aggregation="sum")
        add_definition(s, "T_AFR_PCT", 'countries(strategies where status == "approved" and region == "AFR")',
                       'count(member_states where region == "AFR")', decimals=2)
        add_definition(s, "T_FLOW", f"count(participants where {OFFICIAL})", time_aggregation="sum")
        add_definition(s, "T_FY", f"count(participants where {OFFICIAL})", time_aggregation="sum",
                       period_type="financial_year", fy_start_month=7)
        add_definition(s, "T_STOCK", f"count(participants where {OFFICIAL})")
        add_definition(s, "T_F", f'count(participants where {OFFICIAL} and gender == "female")')
        add_definition(s, "T_F_PCT", "#{T_F}", "#{T_STOCK}", decimals=1)
        add_definition(s, "T_MED", "#{T_F_PCT}", geo_aggregation="median")
        add_definition(s, "T_GDHP", 'countries(partnerships where network == "gdhp")')
        add_definition(s, "T_PHASE", "last(assessments.overall_phase)", unit="phase", geo_aggregation="median")
        add_definition(s, "T_RECENT", "countries(assessments where year >= @year - 2)")


CODES = ["T_STRAT", "T_AFR_PCT", "T_FLOW", "T_FY", "T_STOCK", "T_F", "T_F_PCT", "T_MED", "T_GDHP", "T_PHASE",
         "T_RECENT"]


@pytest.fixture
def results(built: Database) -> engine.Results:
    _define(built)
    with built.session() as s:
        return engine.compute(s, codes=CODES, years=range(2018, 2027), period_types=["quarter", "month"],
                              today=TODAY)


def v(r: engine.Results, code: str, geo: str, period: str) -> float | None:
    found = r.value(code, geo, period)
    assert found is not None, (code, geo, period)
    return found.value


def test_stock_of_strategy_status_follows_the_dated_history(results):
    # FRA approved 2018-01 until 2023-05; KEN approved 2021-06; UGA approved 2024-02 (no history: approval date)
    assert [v(results, "T_STRAT", "WORLD", str(y)) for y in range(2018, 2027)] == [1, 1, 1, 2, 2, 1, 2, 2, 2]
    assert v(results, "T_STRAT", "AFR", "2024") == 2 and v(results, "T_STRAT", "EUR", "2022") == 1
    assert v(results, "T_STRAT", "EUR", "2024") == 0
    assert v(results, "T_STRAT", "KEN", "2021Q1") == 0 and v(results, "T_STRAT", "KEN", "2021Q2") == 1
    assert results.value("T_STRAT", "WORLD", "2024").reporting == 2


def test_pooled_percent_over_member_states(results, built):
    with built.session() as s:
        afr = member_count(s, "AFR")
    assert v(results, "T_AFR_PCT", "WORLD", "2024") == pytest.approx(2 / afr * 100)
    assert v(results, "T_AFR_PCT", "AFR", "2022") == pytest.approx(1 / afr * 100)
    assert v(results, "T_AFR_PCT", "EUR", "2024") is None  # no AFR member states in Europe: 0/0 is no value
    assert results.value("T_AFR_PCT", "WORLD", "2024").denominator == afr
    assert v(results, "T_AFR_PCT", "KEN", "2024") == 100.0


def test_flow_counts_by_year_quarter_month_and_financial_year(results):
    assert v(results, "T_FLOW", "WORLD", "2024") == 3 and v(results, "T_FLOW", "WORLD", "2025") == 1
    assert v(results, "T_FLOW", "WORLD", "2024Q1") == 3 and v(results, "T_FLOW", "WORLD", "2024Q2") == 0
    assert v(results, "T_FLOW", "WORLD", "2025-07") == 1 and v(results, "T_FLOW", "FRA", "2025Q3") == 1
    # July-June financial years: FY2024 = Jul 2023-Jun 2024; FY2026 = Jul 2025-Jun 2026
    assert [v(results, "T_FY", "WORLD", f"FY{y}") for y in (2024, 2025, 2026)] == [3, 0, 1]


def test_stock_references_and_medians(results):
    assert v(results, "T_STOCK", "WORLD", "2024") == 3 and v(results, "T_STOCK", "WORLD", "2025") == 4
    assert v(results, "T_F", "WORLD", "2025") == 2
    assert v(results, "T_F_PCT", "WORLD", "2025") == 50.0  # 2 women of 4 officials
    assert v(results, "T_F_PCT", "KEN", "2025") == 50.0 and v(results, "T_F_PCT", "UGA", "2025") == 100.0
    assert v(results, "T_F_PCT", "FRA", "2025") == 0.0
    assert v(results, "T_F_PCT", "AFR", "2025") == pytest.approx(200 / 3)  # (1 + 1) / (2 + 1)
    assert v(results, "T_MED", "WORLD", "2025") == 50.0  # median of 50, 100 and 0
    assert results.value("T_MED", "WORLD", "2025").reporting == 3
    assert v(results, "T_F_PCT", "WORLD", "2023") is None


def test_memberships_end_and_assessments_stay_national(results):
    assert [v(results, "T_GDHP", "WORLD", str(y)) for y in (2019, 2020, 2021, 2022, 2023)] == [0, 1, 1, 0, 0]
    assert v(results, "T_PHASE", "KEN", "2024") == 3.0  # the KE-01 assessment (phase 1) is left out
    assert v(results, "T_PHASE", "AFR", "2024") == 2.5  # median of KEN 3 and UGA 2
    assert v(results, "T_PHASE", "AFR", "2019") is None
    assert [v(results, "T_RECENT", "WORLD", str(y)) for y in (2019, 2020, 2022, 2023, 2024, 2026)] == [0, 1, 1, 0, 1, 1]


def test_drill_down_lists_the_records_behind_a_number(results, built):
    with built.session() as s:
        engine.compute(s, codes=["T_STRAT"], today=TODAY)
        rows = engine.records(s, "T_STRAT", "AFR", "2024")
    assert {(r["country"], r["link"]) for r in rows} == {("KEN", "/strategy/national/KEN"),
                                                           ("UGA", "/strategy/national/UGA")}
    with built.session() as s:
        rows = engine.records(s, "T_F_PCT", "WORLD", "2025")
    assert rows == []  # references have no records of their own: the referenced indicators do


def test_cache_is_reused_then_invalidated_by_a_change_seen_across_processes(built):
    _define(built)
    with built.session() as s:
        first = engine.compute(s, codes=["T_STOCK"], today=TODAY)
        again = engine.compute(s, codes=["T_STOCK"], today=TODAY)
    assert again is first
    other = Database(built.url)  # another process: its own engine and connections
    try:
        from dho.strategy.models import Training, TrainingParticipant

        with other.session() as s:
            s.info["actor"] = CLI_OPERATOR.actor
            t = Training(title="Course C", starts_on=dt.date(2026, 1, 5), ends_on=dt.date(2026, 1, 6))
            s.add(t)
            s.flush()
            s.add(TrainingParticipant(training_id=t.id, country_iso3="UGA", role="government_official",
                                      gender="male"))
    finally:
        other.dispose()
    with built.session() as s:
        after = engine.compute(s, codes=["T_STOCK"], today=TODAY)
    assert after is not first and after.epoch > first.epoch and after.snapshot != first.snapshot
    assert after.value("T_STOCK", "WORLD", "2026").value == first.value("T_STOCK", "WORLD", "2026").value + 1


def test_a_rolled_back_change_leaves_the_cache_valid(built):
    _define(built)
    with built.session() as s:
        first = engine.compute(s, codes=["T_STRAT"], today=TODAY)
    assert first.value("T_STRAT", "WORLD", "2024").value == 2
    from dho.strategy.models import NationalStrategy

    with built.sessions() as s:
        s.info["actor"] = CLI_OPERATOR.actor
        s.add(NationalStrategy(country_iso3="TZA", title="x", status="approved", approved_on=dt.date(2020, 1, 1)))
        s.flush()
        inside = engine.compute(s, codes=["T_STRAT"], today=TODAY)  # sees its own change, is not cached
        assert inside.value("T_STRAT", "WORLD", "2024").value == 3
        s.rollback()
    with built.session() as s:
        assert engine.compute(s, codes=["T_STRAT"], today=TODAY).value("T_STRAT", "WORLD", "2024").value == 2


def test_the_same_data_gives_the_same_snapshot(built):
    _define(built)
    with built.session() as s:
        a = engine.compute(s, codes=CODES, today=TODAY)
    engine.clear_cache()
    with built.session() as s:
        b = engine.compute(s, codes=CODES, today=TODAY)
    assert a is not b and a.snapshot == b.snapshot and len(a.snapshot) == 64


def test_format_value_follows_the_locale(built):
    with built.session() as s:
        defs = {d.code: d for d in engine.definitions(s, "fr")}
    d = defs["NDHS_APPROVED_PCT"]
    assert engine.format_value(d, 66.4948, "en") == "66.5%"
    assert engine.format_value(d, 66.4948, "fr").replace("\u202f", " ").replace("\xa0", " ") == "66,5 %"
    assert engine.format_value(defs["INVESTMENT_USD"], 1234567, "en") == "$1,234,567"
    # French puts the currency after the amount, as its own pattern says
    assert engine.format_value(defs["INVESTMENT_USD"], 1234567, "fr").replace("\u202f", " ").replace(
        "\xa0", " ") == "1 234 567 $US"
    assert engine.format_value(d, None, "en") == "—"
    assert d.name.startswith("Part des") and d.description.startswith("États Membres")
    # the method in words, in the reader's language
    assert d.method.startswith("Numérateur") and "le nombre d'enregistrements member_states" in d.method
