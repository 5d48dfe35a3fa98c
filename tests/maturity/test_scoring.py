"""The scoring formulas against hand-computed cases."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dho.maturity.scoring import (
    Component,
    Structure,
    UnknownRule,
    aggregate_mean_of_countries,
    aggregate_pooled_component,
    phase_gdhm,
    phase_nearest,
    score_assessment,
)

TWO = Structure((Component("1", ("1", "2"), ("2a",)), Component("2", ("3", "4", "5"))))


@pytest.mark.parametrize(("score", "gdhm", "nearest"), [
    (1.0, 1, 1), (1.04, 1, 1), (1.05, 2, 1), (1.5, 2, 2), (2.5, 3, 2), (3.5, 4, 4), (2.51, 3, 3),
    (0.0, 1, 1), (4.96, 5, 5), (5.0, 5, 5), (2.04, 2, 2), (2.06, 3, 2),
])
def test_phase_rules(score, gdhm, nearest):
    assert phase_gdhm(score) == gdhm
    assert phase_nearest(Fraction(str(score))) == nearest


def test_gdhm_reproduces_binary_rounding():
    # 2.25 is exact in binary: half-even gives 2.2 -> ceil 3; 2.35 is stored a hair below: 2.3 -> 3
    assert phase_gdhm(2.25) == 3 and round(2.25, 1) == 2.2
    assert phase_gdhm(2.0) == 2


def test_component_and_overall_hand_computed():
    answers = {"1": 2, "2": 3, "2a": 5, "3": 1, "4": None, "5": 2}
    s = score_assessment(TWO, answers, "nearest")
    # component 1: (2+3)/2 = 2.5 ; component 2: (1+2)/2 = 1.5 (4 not available) ; overall (2.5+1.5)/2 = 2
    assert s.components["1"].score == Fraction(5, 2) and s.components["1"].phase == 2
    assert s.components["2"].score == Fraction(3, 2) and s.components["2"].phase == 2
    assert s.overall.score == 2 and s.overall.phase == 2
    assert (s.overall.answered, s.overall.total) == (4, 5)
    assert (s.sub_answered, s.sub_total) == (1, 1)  # the sub-indicator is shown, never averaged
    assert s.missing == ("4",)
    g = score_assessment(TWO, answers, "gdhm")
    assert g.components["1"].phase == 3 and g.components["2"].phase == 2 and g.overall.phase == 2


def test_upward_bias_of_gdhm_on_a_real_shape():
    # components 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.33.. -> overall 1.0476 -> gdhm phase 1 (1.0), nearest 1
    comps = tuple(Component(str(i), (f"{i}a", f"{i}b", f"{i}c")) for i in range(1, 8))
    answers = {f"{i}{x}": 1 for i in range(1, 8) for x in "abc"}
    answers["7a"] = 2
    s = score_assessment(Structure(comps), answers, "gdhm")
    assert s.overall.phase == 1
    answers["6a"] = 2  # overall 1.095 -> 1.1 -> phase 2 under gdhm, 1 when rounded to nearest
    assert score_assessment(Structure(comps), answers, "gdhm").overall.phase == 2
    assert score_assessment(Structure(comps), answers, "nearest").overall.phase == 1


def test_nothing_available():
    s = score_assessment(TWO, {"1": None}, "nearest")
    assert s.overall.score is None and s.overall.phase is None
    assert s.as_dict() == {"overall": {"score": None, "phase": None},
                           "components": {"1": {"score": None, "phase": None}, "2": {"score": None, "phase": None}}}


def test_unknown_rule():
    with pytest.raises(UnknownRule):
        score_assessment(TWO, {}, "ceiling")


def test_mean_of_countries_versus_pooled():
    # country A answered both core indicators of the component (1 and 1), B only one (5)
    answers = {"AAA": {"1": 1, "2": 1}, "BBB": {"1": 5, "2": None}}
    comp = Structure((Component("1", ("1", "2")),))
    per_country = {iso3: score_assessment(comp, a, "nearest").components["1"] for iso3, a in answers.items()}
    ours = aggregate_mean_of_countries(per_country, "nearest")
    pooled = aggregate_pooled_component(answers, ("1", "2"), "nearest")
    assert ours.score == 3 and ours.n == 2 and ours.countries == ("AAA", "BBB")  # (1 + 5) / 2
    assert pooled.score == Fraction(7, 3)  # (1 + 1 + 5) / 3: A weighs twice
    assert (ours.phase, pooled.phase) == (3, 2)


@given(st.lists(st.integers(min_value=1, max_value=5), min_size=1, max_size=30))
def test_phases_stay_in_range_and_gdhm_never_below_nearest(values):
    score = Fraction(sum(values), len(values))
    n, g = phase_nearest(score), phase_gdhm(float(score))
    assert 1 <= n <= 5 and 1 <= g <= 5
    assert g >= n  # the ceiling never rounds below the nearest phase
